/* fuzz_repo_info.c — repo info answer (sha, lastModified, private,
 * gated) and the refs answer (branch / tag / PR / convert).  Input:
 * "<revision>\n<json>".  Invariant: an accepted sha is 40 lowercase hex. */
#include "../../hub/hub_i.h"
#include "fuzz.h"

FUZZ_INIT_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *json;
    size_t jn;
    char *rev = fuzz_split(data, size, &json, &jn);
    json_error_t err;
    json_t *root = json_loadb((const char *)json, jn, JSON_ALLOW_NUL, &err);
    struct hub_repo_info info;
    int rc = hub_repo_info_parse(root, &info);
    if (rc == 0)
        FUZZ_ASSERT(fuzz_is_hex(info.sha, HUB_SHA1_HEX - 1));
    else
        FUZZ_ASSERT(rc < 0);
    enum hub_ref_kind k = hub_refs_kind(root, rev);
    FUZZ_ASSERT(k >= HUB_REF_UNKNOWN && k <= HUB_REF_CONVERT);
    (void)hub_refs_kind(root, "main");
    json_decref(root);
    free(rev);
    return 0;
}
