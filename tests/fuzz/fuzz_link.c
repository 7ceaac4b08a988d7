/* fuzz_link.c — Link header values (tree pagination).  Input:
 * "<rel>\n<link header value>".  Invariant: a found URL appears in the
 * header between '<' and '>'. */
#include "../../hub/hub_i.h"
#include "fuzz.h"

#include <errno.h>

FUZZ_INIT_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *rest;
    size_t rn;
    char *rel = fuzz_split(data, size, &rest, &rn);
    char *link = fuzz_strndup(rest, rn);
    const char *rels[] = {rel, "next"};
    for (size_t i = 0; i < 2; i++) {
        char *url = NULL;
        int rc = hub_link_find(link, rels[i], &url);
        FUZZ_ASSERT(rc == 0 || rc == -ENOENT || rc == -ENOMEM);
        if (rc == 0) {
            FUZZ_ASSERT(url != NULL);
            size_t ul = strlen(url);
            char *quoted = malloc(ul + 3);
            FUZZ_ASSERT(quoted != NULL);
            quoted[0] = '<';
            memcpy(quoted + 1, url, ul);
            memcpy(quoted + 1 + ul, ">", 2);
            FUZZ_ASSERT(strstr(link, quoted) != NULL);
            free(quoted);
        } else {
            FUZZ_ASSERT(url == NULL);
        }
        free(url);
    }
    char *none = (char *)1;
    FUZZ_ASSERT(hub_link_find(NULL, "next", &none) == -ENOENT && none == NULL);
    free(link);
    free(rel);
    return 0;
}
