/* fuzz_error_body.c — error bodies (JSON shapes of hub-api §11.1, text,
 * HTML) -> the message that is logged and checked by hub_errno.
 * Invariants: bounded, NUL-terminated, no control characters. */
#include "../../hub/hub_i.h"
#include "fuzz.h"

#include <errno.h>

FUZZ_INIT_LOGS()

static void check(const char *msg, size_t cap)
{
    size_t n = strnlen(msg, cap);
    FUZZ_ASSERT(n < cap);
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT((unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a heap copy of exactly `size` bytes: ASan sees any read past it */
    char *body = malloc(size ? size : 1);
    if (!body)
        abort();
    memcpy(body, data, size);
    char big[512], tiny[2];
    int rc = hub_error_body_message(body, size, big, sizeof(big));
    FUZZ_ASSERT(rc == 0 || rc == -ENOENT);
    check(big, sizeof(big));
    if (rc == 0) {
        FUZZ_ASSERT(big[0] != '\0');
        static const long statuses[] = {400, 401, 403, 404, 409, 412, 429, 500};
        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
            int e = hub_errno(statuses[i], NULL, big, HUB_REQ_WRITE, true);
            FUZZ_ASSERT(e > 0);
        }
    }
    rc = hub_error_body_message(body, size, tiny, sizeof(tiny));
    check(tiny, sizeof(tiny));
    free(body);
    return 0;
}
