/* test_node.c — the inode table (fs/node.c): identity rules, reference
 * counts, unhashing, renames of subtrees, local <-> remote switches. */
#include "../../fs/node.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct hub_entry file_entry(const char *oid, uint64_t size)
{
    struct hub_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.oid, sizeof e.oid, "%s", oid);
    e.size = size;
    return e;
}

static struct hub_entry dir_entry(void)
{
    struct hub_entry e;
    memset(&e, 0, sizeof e);
    e.is_dir = true;
    return e;
}

int main(void)
{
    struct node_table *t;
    struct node_info ni;
    fuse_ino_t a = 0, b = 0, c = 0, d = 0, x = 0;
    CHECK(node_table_new(&t) == 0);

    CHECK(node_get(t, FUSE_ROOT_ID, &ni) == 0);
    CHECK(ni.is_dir && strcmp(ni.path, "") == 0);
    node_info_clear(&ni);
    CHECK(node_find(t, "") == FUSE_ROOT_ID);
    CHECK(node_get(t, 999, &ni) == -ESTALE);

    /* same identity -> same inode, lookups add up */
    struct hub_entry e1 = file_entry("1111111111111111111111111111111111111111", 10);
    CHECK(node_ref_remote(t, "f.txt", &e1, "c1", 1, &a) == 0);
    CHECK(a > FUSE_ROOT_ID);
    CHECK(node_ref_remote(t, "f.txt", &e1, "c2", 1, &b) == 0);
    CHECK(a == b);
    CHECK(node_get(t, a, &ni) == 0);
    CHECK(ni.nlookup == 2 && strcmp(ni.commit, "c2") == 0 && ni.entry.size == 10);
    CHECK(ni.entry.path == NULL);
    node_info_clear(&ni);

    /* new content -> new inode; the old one lives on, unhashed */
    struct hub_entry e2 = file_entry("2222222222222222222222222222222222222222", 20);
    CHECK(node_ref_remote(t, "f.txt", &e2, "c3", 1, &c) == 0);
    CHECK(c != a);
    CHECK(node_find(t, "f.txt") == c);
    CHECK(node_get(t, a, &ni) == 0);
    CHECK(!ni.hashed && ni.entry.size == 10);
    node_info_clear(&ni);
    node_forget(t, a, 2);
    CHECK(node_get(t, a, &ni) == -ESTALE);

    /* refresh-only (lookups 0) never creates */
    CHECK(node_ref_remote(t, "other.txt", &e1, "c3", 0, &x) == 0);
    CHECK(x == 0 && node_find(t, "other.txt") == 0);
    /* ... and unhashes a node of another identity */
    CHECK(node_ref_remote(t, "f.txt", &e1, "c4", 0, &x) == 0);
    CHECK(x == 0 && node_find(t, "f.txt") == 0);
    CHECK(node_get(t, c, &ni) == 0); /* still referenced by the kernel */
    node_info_clear(&ni);

    /* open handles keep a forgotten node alive */
    CHECK(node_open(t, c) == 0);
    node_forget(t, c, 1);
    CHECK(node_get(t, c, &ni) == 0);
    node_info_clear(&ni);
    node_close(t, c);
    CHECK(node_get(t, c, &ni) == -ESTALE);

    /* directories are stable per path */
    struct hub_entry de = dir_entry();
    CHECK(node_ref_remote(t, "dir", &de, "c1", 1, &d) == 0);
    snprintf(de.oid, sizeof de.oid, "%s", "3333333333333333333333333333333333333333");
    CHECK(node_ref_remote(t, "dir", &de, "c2", 1, &x) == 0);
    CHECK(x == d);
    CHECK(node_ref_remote(t, "dir/sub", &de, "c2", 1, &x) == 0);
    CHECK(node_ref_remote(t, "dir/sub/g.bin", &e1, "c2", 1, &b) == 0);
    CHECK(node_ref_remote(t, "dirx", &e1, "c2", 1, &a) == 0);

    struct node_dir_ref *dirs;
    size_t nd;
    CHECK(node_list_dirs(t, &dirs, &nd) == 0);
    CHECK(nd == 3); /* root, dir, dir/sub */
    node_dir_refs_free(dirs, nd);

    /* rename of a subtree moves every descendant, not the look-alike */
    CHECK(node_rename(t, d, "moved") == 0);
    CHECK(node_find(t, "moved") == d);
    CHECK(node_find(t, "moved/sub/g.bin") == b);
    CHECK(node_find(t, "dir/sub/g.bin") == 0);
    CHECK(node_find(t, "dirx") == a);
    CHECK(node_rename(t, FUSE_ROOT_ID, "x") == -EBUSY);

    /* local <-> remote in place */
    struct node_local l = {.is_dir = false, .size = 5, .perm = 0600, .mtime = 42, .tag = 7};
    CHECK(node_set_local(t, b, &l) == 0);
    CHECK(node_get(t, b, &ni) == 0);
    CHECK(ni.kind == NODE_LOCAL && ni.local.size == 5 && ni.local.tag == 7);
    node_info_clear(&ni);
    CHECK(node_ref_local(t, "moved/sub/g.bin", &l, 1, &x) == 0);
    CHECK(x == b);
    CHECK(node_set_remote(t, b, &e2, "c9") == 0);
    CHECK(node_get(t, b, &ni) == 0);
    CHECK(ni.kind == NODE_REMOTE && ni.entry.size == 20 && ni.hashed);
    node_info_clear(&ni);
    node_unhash(t, b);
    CHECK(node_find(t, "moved/sub/g.bin") == 0);

    /* A lookup that read a path's state before the write path switched its
     * node in place (open for writing, commit settled) keeps the node: no
     * new inode with the old attributes (test_faults.py load test). */
    {
        fuse_ino_t w = 0, y = 0;
        struct hub_entry ew = file_entry("0123", 100);
        CHECK(node_ref_remote(t, "w.bin", &ew, "c1", 1, &w) == 0);
        uint64_t since = node_stamp(t);
        struct node_local lw = {.size = 0};
        CHECK(node_set_local(t, w, &lw) == 0); /* the open for writing */
        CHECK(node_stamp(t) > since);
        /* the racing lookup read the remote state: kept local, same inode */
        CHECK(node_ref_remote_since(t, "w.bin", &ew, "c1", 1, since, &y) == 0);
        CHECK(y == w);
        CHECK(node_get(t, w, &ni) == 0);
        CHECK(ni.kind == NODE_LOCAL && ni.nlookup == 2 && ni.hashed);
        node_info_clear(&ni);
        /* a lookup that read stale local attributes does not overwrite newer ones */
        since = node_stamp(t);
        struct node_local big = {.size = 5000};
        CHECK(node_set_local(t, w, &big) == 0); /* a write */
        struct node_local stale = {.size = 0};
        CHECK(node_ref_local_since(t, "w.bin", &stale, 1, since, &y) == 0);
        CHECK(y == w);
        CHECK(node_get(t, w, &ni) == 0);
        CHECK(ni.local.size == 5000);
        node_info_clear(&ni);
        /* a lookup that started after the switch refreshes as before */
        since = node_stamp(t);
        CHECK(node_ref_local_since(t, "w.bin", &stale, 1, since, &y) == 0);
        CHECK(y == w);
        CHECK(node_get(t, w, &ni) == 0);
        CHECK(ni.local.size == 0 && ni.nlookup == 4);
        node_info_clear(&ni);
        node_forget(t, w, 4);
    }

    /* getattr's refresh of a local node (node_set_local_since) never sets
     * back to local a node our commit made remote after it read the state */
    {
        fuse_ino_t md = 0;
        struct node_local ld = {.is_dir = true};
        CHECK(node_ref_local(t, "made", &ld, 1, &md) == 0);
        uint64_t since = node_stamp(t);
        struct hub_entry ed = {.path = "made", .is_dir = true};
        CHECK(node_set_remote(t, md, &ed, "c2") == 0); /* the commit settled */
        CHECK(node_set_local_since(t, md, &ld, since) == -EAGAIN);
        CHECK(node_get(t, md, &ni) == 0);
        CHECK(ni.kind == NODE_REMOTE);
        node_info_clear(&ni);
        /* still local and unswitched: the refresh applies */
        struct node_local lf = {.size = 3};
        fuse_ino_t f = 0;
        CHECK(node_ref_local(t, "made/f", &lf, 1, &f) == 0);
        since = node_stamp(t);
        struct node_local lf2 = {.size = 9};
        CHECK(node_set_local_since(t, f, &lf2, since) == 0);
        CHECK(node_get(t, f, &ni) == 0);
        CHECK(ni.kind == NODE_LOCAL && ni.local.size == 9);
        node_info_clear(&ni);
        /* switched after `since` (a write stored newer attributes): kept */
        struct node_local lf3 = {.size = 12};
        CHECK(node_set_local(t, f, &lf3) == 0);
        CHECK(node_set_local_since(t, f, &lf2, since) == -EAGAIN);
        CHECK(node_get(t, f, &ni) == 0);
        CHECK(ni.local.size == 12);
        node_info_clear(&ni);
        CHECK(node_set_local_since(t, 999999, &lf2, since) == -ESTALE);
        node_forget(t, f, 1);
        node_forget(t, md, 1);
    }

    /* the commit worker's switch of a committed file back to remote
     * (node_set_remote_since) never undoes a writer's open that came after
     * it checked for local state: the node keeps the writer's size */
    {
        struct node_local lw = {.size = 100};
        fuse_ino_t w = 0;
        CHECK(node_ref_local(t, "w/f000.bin", &lw, 1, &w) == 0);
        uint64_t since = node_stamp(t);
        struct hub_entry committed = {.path = "w/f000.bin", .size = 100};
        struct node_local writing = {.size = 300000};
        CHECK(node_set_local(t, w, &writing) == 0); /* open + writes of a new version */
        CHECK(node_set_remote_since(t, w, &committed, "c3", since) == -EAGAIN);
        CHECK(node_get(t, w, &ni) == 0);
        CHECK(ni.kind == NODE_LOCAL && ni.local.size == 300000);
        node_info_clear(&ni);
        /* nothing happened to the node since the stamp: it becomes remote */
        since = node_stamp(t);
        CHECK(node_set_remote_since(t, w, &committed, "c3", since) == 0);
        CHECK(node_get(t, w, &ni) == 0);
        CHECK(ni.kind == NODE_REMOTE && ni.entry.size == 100);
        node_info_clear(&ni);
        CHECK(node_set_remote_since(t, 999999, &committed, "c3", since) == -ESTALE);
        node_forget(t, w, 1);
    }

    /* a lookup that finds no local state for a local file node (its content
     * was just committed; the worker has not switched it yet) switches it
     * to the committed entry in place, keeping its inode, when the entry is
     * read at this mount's own last commit and the sizes agree; at another
     * commit (another client's) or with another size it gets a new node */
    {
        node_set_own_commit(t, "c4");
        CHECK(node_is_own_commit(t, "c4") && !node_is_own_commit(t, "c5"));
        struct node_local lp = {.size = 5000};
        fuse_ino_t p = 0, q = 0;
        CHECK(node_ref_local(t, "w/f015.bin", &lp, 1, &p) == 0);
        uint64_t since = node_stamp(t);
        struct hub_entry committed = {.path = "w/f015.bin", .size = 5000};
        CHECK(node_ref_remote_since(t, "w/f015.bin", &committed, "c4", 1, since, &q) == 0);
        CHECK(q == p);
        CHECK(node_get(t, p, &ni) == 0);
        CHECK(ni.kind == NODE_REMOTE && ni.entry.size == 5000 && ni.nlookup == 2 && ni.hashed);
        node_info_clear(&ni);
        node_forget(t, p, 2);

        struct hub_entry others[2] = {{.path = "w/f016.bin", .size = 7000},  /* other size */
                                      {.path = "w/f016.bin", .size = 10}};   /* other commit */
        const char *at[2] = {"c4", "c5"};
        for (int k = 0; k < 2; k++) {
            fuse_ino_t r = 0, s = 0;
            struct node_local lr = {.size = 10};
            CHECK(node_ref_local(t, "w/f016.bin", &lr, 1, &r) == 0);
            CHECK(node_ref_remote_since(t, "w/f016.bin", &others[k], at[k], 1, node_stamp(t),
                                        &s) == 0);
            CHECK(s != r);
            CHECK(node_get(t, s, &ni) == 0);
            CHECK(ni.kind == NODE_REMOTE && ni.entry.size == others[k].size);
            node_info_clear(&ni);
            node_forget(t, s, 1);
            node_forget(t, r, 1);
        }
    }

    /* helpers */
    char parent[64];
    const char *name;
    CHECK(node_path_split("a/b/c", parent, sizeof parent, &name) == 0);
    CHECK_STR(parent, "a/b");
    CHECK_STR(name, "c");
    CHECK(node_path_split("top", parent, sizeof parent, &name) == 0);
    CHECK_STR(parent, "");
    CHECK(node_path_split("abc/d", parent, 3, &name) == -ENAMETOOLONG);
    char *j = node_path_join("", "x");
    CHECK_STR(j, "x");
    free(j);
    j = node_path_join("a/b", "x");
    CHECK_STR(j, "a/b/x");
    free(j);

    node_table_free(t);
    return tap_done();
}
