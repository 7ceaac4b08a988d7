/* fuzz_url.c — URL building from hostile names that did NOT go through
 * hub_source_parse (a repo id, revision or path as a server or a local
 * file could spell them), and redirect resolution (Location against the
 * request URL).  Input: "<repo id>\n<revision>\n<path>\n<location>".
 * Invariants: fuzz_url.h; a joined redirect is absolute http(s) or
 * refused. */
#include "fuzz_url.h"

FUZZ_INIT_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p1, *p2, *p3;
    size_t n1, n2, n3;
    char *repo = fuzz_split(data, size, &p1, &n1);
    char *rev = fuzz_split(p1, n1, &p2, &n2);
    char *path = fuzz_split(p2, n2, &p3, &n3);
    char *location = fuzz_strndup(p3, n3);

    struct hub_source src;
    memset(&src, 0, sizeof(src));
    src.type = (enum hub_repo_type)(size % 3);
    snprintf(src.repo_id, sizeof(src.repo_id), "%s", repo);
    snprintf(src.revision, sizeof(src.revision), "%s", rev);
    fuzz_build_all(&src, src.revision, path);

    /* a redirect: where does it lead, and does the token follow? */
    const char *base = "https://huggingface.co/acme/m/resolve/main/f.bin";
    char *joined = NULL;
    if (hub_url_join(base, location, &joined) == 0) {
        FUZZ_ASSERT(joined != NULL);
        char origin[300];
        if (hub_url_origin(joined, origin, sizeof(origin)) == 0)
            FUZZ_ASSERT(strncmp(origin, "http://", 7) == 0 || strncmp(origin, "https://", 8) == 0);
        free(joined);
    }
    char o[300];
    (void)hub_url_origin(location, o, sizeof(o));
    (void)hub_url_origin(location, o, 8); /* too small: must refuse, not overflow */
    free(location);
    free(path);
    free(rev);
    free(repo);
    return 0;
}
