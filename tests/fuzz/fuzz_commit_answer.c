/* fuzz_commit_answer.c — commit answer -> new commit id.  Invariant: an
 * accepted id is exactly 40 lowercase hex digits (it becomes a cache key,
 * a URL part and the next parentCommit). */
#include "../../hub/commit_i.h"
#include "fuzz.h"

FUZZ_INIT_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *res = json_loadb((const char *)data, size, JSON_ALLOW_NUL, &err);
    char out[HUB_SHA1_HEX];
    memset(out, 'x', sizeof(out));
    int rc = hub_commit_answer_parse(res, out);
    if (rc == 0)
        FUZZ_ASSERT(fuzz_is_hex(out, HUB_SHA1_HEX - 1));
    else
        FUZZ_ASSERT(rc < 0);
    json_decref(res);
    return 0;
}
