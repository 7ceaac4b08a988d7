/* fuzz_iso8601.c — dates from the server (lastModified, lastCommit.date).
 * Invariants: no overflow (UBSan); an accepted date is within the range
 * four-digit years allow. */
#include "../../hub/hub_i.h"
#include "fuzz.h"

FUZZ_INIT_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    int64_t t = 0;
    if (hub_parse_iso8601(s, &t) == 0) {
        /* 0000-01-01 minus a day .. 9999-12-31 plus a day */
        FUZZ_ASSERT(t > -62167305600LL && t < 253402387200LL);
    }
    free(s);
    return 0;
}
