/* test_namespace_units.c — the pure parts of namespace mounts: the repo
 * listing parser (hub_repo_list_parse), the noise names (fs/noise.c),
 * namespace sources (hm_ns_source) and node tables numbered from a base
 * (node_table_new_at), which is what lets many repos share one inode
 * space. */
#include "../../fs/namespace.h"
#include "../../fs/node.h"
#include "../../fs/noise.h"
#include "hub.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *json, struct hub_repo_list *l)
{
    return hub_repo_list_parse(json, strlen(json), l);
}

static void test_list_parse(void)
{
    struct hub_repo_list l;
    memset(&l, 0, sizeof l);
    CHECK(parse("[{\"_id\":\"1\",\"id\":\"acme/a\",\"private\":true,\"gated\":\"manual\","
                "\"lastModified\":\"2024-01-02T03:04:05.000Z\"},"
                "{\"id\":\"acme/b\",\"gated\":false},"
                "{\"id\":\"legacy-no-namespace\"},{\"id\":42},{\"nothing\":1},7]",
                &l) == 0);
    CHECK(l.n == 2);
    CHECK_STR(l.v[0].id, "acme/a");
    CHECK(l.v[0].is_private && l.v[0].gated);
    CHECK(l.v[0].last_modified == 1704164645);
    CHECK_STR(l.v[1].id, "acme/b");
    CHECK(!l.v[1].is_private && !l.v[1].gated && l.v[1].last_modified == 0);
    /* pages append */
    CHECK(parse("[{\"id\":\"acme/c\",\"lastModified\":\"garbage\"}]", &l) == 0);
    CHECK(l.n == 3 && l.v[2].last_modified == 0);
    CHECK(parse("{\"error\":\"x\"}", &l) == -EIO);
    CHECK(parse("not json", &l) == -EIO);
    CHECK(parse("[]", &l) == 0 && l.n == 3);
    char big[600];
    memset(big, 'a', sizeof big);
    memcpy(big, "[{\"id\":\"", 8);
    memcpy(big + sizeof big - 5, "/\"}]", 5);
    CHECK(parse(big, &l) == 0 && l.n == 3); /* an id longer than we keep: skipped */
    hub_repo_list_free(&l);
    CHECK(l.v == NULL && l.n == 0);
}

static void test_noise(void)
{
    const char *yes[] = {".DS_Store", "._x.jpg", "._", "Thumbs.db", "thumbs.DB", "desktop.ini",
                         "Desktop.ini", ".directory", ".hidden", ".Trash", ".Trash-1000",
                         "ehthumbs.db"};
    const char *no[] = {"DS_Store", ".gitattributes", "README.md", ".Trashy", "_x", ".hiddenx",
                        "Thumbs.db.bak", ".directory2", "desktop", ".git"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        CHECK(hm_noise_name(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        CHECK(!hm_noise_name(no[i]));
}

static void test_sources(void)
{
    CHECK(hm_ns_source("hub"));
    CHECK(hm_ns_source("acme"));
    CHECK(hm_ns_source("hub/"));
    CHECK(hm_ns_source("acme/"));
    CHECK(!hm_ns_source("acme/tiny"));
    CHECK(!hm_ns_source("datasets/acme/tiny"));
    CHECK(!hm_ns_source(""));
    CHECK(!hm_ns_source("/"));
    CHECK(!hm_ns_source("a..b"));
    CHECK(!hm_ns_source("-x"));
    CHECK(!hm_ns_source(NULL));
}

static void test_table_at(void)
{
    const fuse_ino_t base = (fuse_ino_t)3 << 40;
    struct node_table *t;
    CHECK(node_table_new_at(&t, 17, base) == 0);
    struct node_info ni;
    CHECK(node_get(t, 17, &ni) == 0 && ni.is_dir && strcmp(ni.path, "") == 0);
    node_info_clear(&ni);
    CHECK(node_get(t, FUSE_ROOT_ID, &ni) == -ESTALE);
    struct hub_entry e = {.is_dir = false, .size = 3, .oid = "aa"};
    fuse_ino_t a = 0, b = 0;
    CHECK(node_ref_remote(t, "x", &e, "c1", 1, &a) == 0 && a == base);
    CHECK(node_ref_remote(t, "y", &e, "c1", 1, &b) == 0 && b == base + 1);
    /* the root never goes away, whatever its number */
    node_forget(t, 17, 100);
    CHECK(node_find(t, "") == 17);
    CHECK(node_rename(t, 17, "z") == -EBUSY);
    struct hub_entry f = {.is_dir = false, .size = 3, .oid = "bb"};
    fuse_ino_t r = 0;
    CHECK(node_ref_remote(t, "", &f, "c1", 1, &r) == -EINVAL);
    node_forget(t, a, 1);
    CHECK(node_get(t, a, &ni) == -ESTALE);
    node_table_free(t);
}

int main(void)
{
    test_list_parse();
    test_noise();
    test_sources();
    test_table_at();
    return tap_done();
}
