/* fuzz_entries.c — tree listing / paths-info JSON -> struct hub_entries.
 * Invariants: every accepted path is relative with no empty, "." or ".."
 * segment; ids are "" or lowercase hex of the exact length; directories
 * have size 0.  A listing of the root that hub_entries_check_listing
 * accepts has no '/' in any name and no name twice. */
#include "../../hub/hub_i.h"
#include "fuzz.h"

FUZZ_INIT_LOGS()

static void check_path(const char *p)
{
    FUZZ_ASSERT(p && *p && p[0] != '/');
    const char *s = p;
    for (;;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        FUZZ_ASSERT(n > 0);
        FUZZ_ASSERT(!(n == 1 && s[0] == '.'));
        FUZZ_ASSERT(!(n == 2 && s[0] == '.' && s[1] == '.'));
        if (!e)
            return;
        s = e + 1;
    }
}

static void run(const uint8_t *data, size_t size, size_t flags)
{
    json_error_t err;
    json_t *root = json_loadb((const char *)data, size, flags, &err);
    struct hub_entries l = {0};
    int rc = hub_entries_parse_json(root, &l);
    FUZZ_ASSERT(rc <= 0);
    for (size_t i = 0; i < l.n; i++) {
        const struct hub_entry *e = &l.v[i];
        check_path(e->path);
        FUZZ_ASSERT(e->oid[0] == '\0' || fuzz_is_hex(e->oid, HUB_SHA1_HEX - 1));
        FUZZ_ASSERT(e->sha256[0] == '\0' || fuzz_is_hex(e->sha256, HUB_SHA256_HEX - 1));
        FUZZ_ASSERT(!e->is_dir || (e->size == 0 && !e->is_lfs));
    }
    if (rc == 0 && hub_entries_check_listing(&l, 0, "", false) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            FUZZ_ASSERT(!strchr(l.v[i].path, '/'));
            for (size_t k = i + 1; k < l.n && k < i + 64; k++)
                FUZZ_ASSERT(strcmp(l.v[i].path, l.v[k].path) != 0);
        }
    }
    if (rc == 0)
        (void)hub_entries_check_listing(&l, 0, "a", true);
    hub_entries_free(&l);
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, 0);              /* what hub_http_json accepts */
    run(data, size, JSON_ALLOW_NUL); /* and "\u0000" inside strings */
    return 0;
}
