/* fuzz_identity.c — whoami-v2 JSON -> struct hub_identity, then the
 * can-write decision.  Input: "<repo id>\n<json>".  Invariants: strings
 * stay NUL-terminated inside their arrays; everything allocated is freed
 * (LeakSanitizer); a read token never may write. */
#include "../../hub/hub_i.h"
#include "fuzz.h"

FUZZ_INIT_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *json;
    size_t jn;
    char *repo = fuzz_split(data, size, &json, &jn);
    struct hub_identity id;
    int rc = hub_identity_parse((const char *)json, jn, &id);
    if (rc == 0) {
        FUZZ_ASSERT(memchr(id.name, '\0', sizeof(id.name)) != NULL);
        FUZZ_ASSERT(memchr(id.token_role, '\0', sizeof(id.token_role)) != NULL);
        for (size_t i = 0; i < id.n_orgs; i++) {
            FUZZ_ASSERT(memchr(id.orgs[i].name, '\0', sizeof(id.orgs[i].name)) != NULL);
            FUZZ_ASSERT(memchr(id.orgs[i].role, '\0', sizeof(id.orgs[i].role)) != NULL);
        }
        for (size_t i = 0; i < id.n_fg_write; i++)
            FUZZ_ASSERT(id.fg_write[i] != NULL);
        bool w = hub_identity_can_write(&id, repo);
        if (strcmp(id.token_role, "read") == 0)
            FUZZ_ASSERT(!w);
        (void)hub_identity_can_write(&id, NULL);
        hub_identity_free(&id);
    } else {
        FUZZ_ASSERT(rc < 0 && id.orgs == NULL && id.fg_write == NULL);
    }
    free(repo);
    return 0;
}
