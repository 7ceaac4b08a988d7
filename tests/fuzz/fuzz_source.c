/* fuzz_source.c — the mount source ([type/]ns/name[@revision]) and the
 * URLs built from it.  Input: "<source>\n<repo path>".  Invariants: an
 * accepted repo id is ns/name of allowed characters; every URL keeps the
 * endpoint's origin and is not rewritten by libcurl (fuzz_url.h). */
#include "fuzz_url.h"

FUZZ_INIT_LOGS()

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '/';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *rest;
    size_t rn;
    char *text = fuzz_split(data, size, &rest, &rn);
    if (!memchr(data, '\n', size)) { /* no path: the whole input is the source */
        free(text);
        text = fuzz_strndup(data, size);
        rest = (const uint8_t *)"";
        rn = 0;
    }
    char *path = fuzz_strndup(rest, rn);
    struct hub_source src;
    memset(&src, 0x5a, sizeof(src));
    int rc = hub_source_parse(text, &src);
    if (rc == 0) {
        FUZZ_ASSERT(src.type <= HUB_REPO_SPACE);
        FUZZ_ASSERT(memchr(src.repo_id, '\0', sizeof(src.repo_id)) != NULL);
        FUZZ_ASSERT(memchr(src.revision, '\0', sizeof(src.revision)) != NULL);
        const char *slash = strchr(src.repo_id, '/');
        FUZZ_ASSERT(slash && slash != src.repo_id && slash[1] && !strchr(slash + 1, '/'));
        for (const char *p = src.repo_id; *p; p++)
            FUZZ_ASSERT(name_char(*p));
        for (const char *p = src.revision; *p; p++)
            FUZZ_ASSERT((unsigned char)*p > 0x20 && *p != 0x7f);
        fuzz_build_all(&src, src.revision, path);
    } else {
        FUZZ_ASSERT(rc == -22 /* EINVAL */);
    }
    free(path);
    free(text);
    return 0;
}
