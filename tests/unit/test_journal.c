/* test_journal.c — the pending-operation journal and the local overlay:
 * state changes, rename of pending files, durability across reopen and
 * across kill -9 of a writer, overlay get/put/list/rename/delete. */
#include "journal.h"
#include "tap.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPO "model/acme/tiny"
#define COMMIT "abcdefabcdefabcdefabcdefabcdefabcdefabcd"

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int64_t add_op(struct meta_db *db, const char *branch, enum hub_op_kind kind,
                      const char *path, const char *staging, uint64_t size)
{
    struct journal_op op;
    memset(&op, 0, sizeof(op));
    op.kind = kind;
    op.path = (char *)path;
    op.staging = (char *)staging;
    op.size = size;
    int64_t id = -1;
    if (journal_add(db, REPO, branch, &op, &id) != 0)
        return -1;
    return id;
}

static const struct journal_op *find(const struct journal_ops *ops, int64_t id)
{
    for (size_t i = 0; i < ops->n; i++)
        if (ops->v[i].id == id)
            return &ops->v[i];
    return NULL;
}

static int path_of(struct meta_db *db, int64_t id, char *buf, size_t size)
{
    struct journal_op op;
    int rc = journal_get(db, id, &op);
    if (rc == 0)
        snprintf(buf, size, "%s", op.path);
    journal_op_clear(&op);
    return rc;
}

int main(void)
{
    char tmpl[] = "/tmp/test_journal.XXXXXX";
    char *root = mkdtemp(tmpl);
    if (!root)
        return 1;
    char dbpath[512];
    snprintf(dbpath, sizeof(dbpath), "%s/meta.db", root);
    struct meta_db *db = NULL;
    CHECK(meta_open(dbpath, &db) == 0);

    /* add + list */
    int64_t a = add_op(db, "main", HUB_OP_ADD, "weights/model.bin", "/stage/1", 1000);
    int64_t d = add_op(db, "main", HUB_OP_DELETE_FILE, "old.txt", NULL, 0);
    struct journal_op lfs;
    memset(&lfs, 0, sizeof(lfs));
    lfs.kind = HUB_OP_ADD;
    lfs.path = "renamed.safetensors";
    lfs.size = 5000000000ull;
    memset(lfs.sha256, 'e', 64);
    lfs.created_at = 1234;
    int64_t l = -1;
    CHECK(journal_add(db, REPO, "main", &lfs, &l) == 0);
    int64_t other = add_op(db, "dev", HUB_OP_DELETE_FOLDER, "ckpt-1", NULL, 0);
    CHECK(a > 0 && d > a && l > d && other > l);
    lfs.kind = (enum hub_op_kind)42;
    CHECK(journal_add(db, REPO, "main", &lfs, NULL) == -EINVAL);

    struct journal_ops ops = {0};
    CHECK(journal_list_pending(db, REPO, "main", &ops) == 0);
    CHECK(ops.n == 3);
    if (ops.n == 3) {
        CHECK(ops.v[0].id == a && ops.v[1].id == d && ops.v[2].id == l);
        CHECK_STR(ops.v[0].path, "weights/model.bin");
        CHECK_STR(ops.v[0].staging, "/stage/1");
        CHECK_STR(ops.v[0].repo_key, REPO);
        CHECK_STR(ops.v[0].branch, "main");
        CHECK(ops.v[0].size == 1000 && ops.v[0].kind == HUB_OP_ADD);
        CHECK(ops.v[0].state == JOURNAL_PENDING && ops.v[0].attempts == 0);
        CHECK(ops.v[0].created_at > 1600000000);
        CHECK(ops.v[1].kind == HUB_OP_DELETE_FILE && ops.v[1].staging == NULL);
        CHECK(ops.v[2].size == 5000000000ull && ops.v[2].created_at == 1234);
        CHECK(strlen(ops.v[2].sha256) == 64 && ops.v[2].sha256[0] == 'e');
    }
    journal_ops_free(&ops);
    CHECK(journal_list_pending(db, NULL, NULL, &ops) == 0 && ops.n == 4);
    const struct journal_op *o = find(&ops, other);
    CHECK(o && o->kind == HUB_OP_DELETE_FOLDER && strcmp(o->branch, "dev") == 0);
    journal_ops_free(&ops);

    /* state changes */
    int64_t batch[2] = {a, d};
    CHECK(journal_mark_committing(db, batch, 2) == 0);
    CHECK(journal_mark_failed(db, &d, 1, -EACCES) == 0);
    CHECK(journal_mark_done(db, &a, 1, COMMIT) == 0);
    CHECK(journal_list_pending(db, REPO, "main", &ops) == 0 && ops.n == 2);
    o = find(&ops, d);
    CHECK(o && o->state == JOURNAL_FAILED && o->error == EACCES && o->attempts == 1);
    CHECK(find(&ops, a) == NULL);
    journal_ops_free(&ops);
    struct journal_op got;
    CHECK(journal_get(db, a, &got) == 0);
    CHECK(got.state == JOURNAL_DONE && strcmp(got.commit, COMMIT) == 0 && got.attempts == 1);
    journal_op_clear(&got);
    CHECK(journal_get(db, 999999, &got) == -ENOENT);
    CHECK(journal_mark_committing(db, &d, 1) == 0); /* retry */
    CHECK(journal_get(db, d, &got) == 0 && got.attempts == 2 && got.state == JOURNAL_COMMITTING);
    journal_op_clear(&got);
    CHECK(journal_mark_pending(db, &d, 1) == 0);
    CHECK(journal_get(db, d, &got) == 0 && got.state == JOURNAL_PENDING);
    journal_op_clear(&got);

    /* rename of pending files (rsync's temp file, a folder) */
    int64_t t = add_op(db, "main", HUB_OP_ADD, "data/.x.bin.Ab12", "/stage/2", 5);
    int64_t f1 = add_op(db, "main", HUB_OP_ADD, "dir/a", "/stage/3", 1);
    int64_t f2 = add_op(db, "main", HUB_OP_ADD, "dir/sub/b", "/stage/4", 2);
    int64_t f3 = add_op(db, "main", HUB_OP_ADD, "dirx/c", "/stage/5", 3);
    int64_t f4 = add_op(db, "main", HUB_OP_ADD, "dir/busy", "/stage/6", 4);
    CHECK(journal_mark_committing(db, &f4, 1) == 0); /* in flight: not renamed */
    int changed = -1;
    CHECK(journal_replace_path(db, REPO, "main", "data/.x.bin.Ab12", "data/x.bin", &changed) ==
          0);
    CHECK(changed == 1);
    char p[256];
    CHECK(path_of(db, t, p, sizeof(p)) == 0);
    CHECK_STR(p, "data/x.bin");
    CHECK(journal_replace_path(db, REPO, "main", "dir", "moved", &changed) == 0);
    CHECK(changed == 2);
    CHECK(path_of(db, f1, p, sizeof(p)) == 0);
    CHECK_STR(p, "moved/a");
    CHECK(path_of(db, f2, p, sizeof(p)) == 0);
    CHECK_STR(p, "moved/sub/b");
    CHECK(path_of(db, f3, p, sizeof(p)) == 0);
    CHECK_STR(p, "dirx/c");
    CHECK(path_of(db, f4, p, sizeof(p)) == 0);
    CHECK_STR(p, "dir/busy");
    CHECK(journal_replace_path(db, REPO, "dev", "moved", "x", &changed) == 0 && changed == 0);
    CHECK(journal_replace_path(db, REPO, "main", "", "x", &changed) == -EINVAL);

    /* remove + prune */
    CHECK(journal_remove(db, &f3, 1) == 0);
    CHECK(journal_get(db, f3, &got) == -ENOENT);
    CHECK(journal_prune_done(db, 0) == 0);
    CHECK(journal_get(db, a, &got) == 0);
    journal_op_clear(&got);
    CHECK(journal_prune_done(db, INT64_MAX) == 0);
    CHECK(journal_get(db, a, &got) == -ENOENT);

    /* overlay */
    struct overlay_entry e;
    CHECK(overlay_get(db, REPO, "main", "newdir", &e) == -ENOENT);
    struct overlay_entry put = {.path = "newdir", .fields = OVERLAY_MODE, .mode = 0750,
                                .is_dir = true};
    CHECK(overlay_put(db, REPO, "main", &put) == 0);
    put = (struct overlay_entry){.path = "newdir/f.txt",
                                 .fields = OVERLAY_MODE | OVERLAY_OWNER | OVERLAY_MTIME,
                                 .mode = 0640, .uid = 1000, .gid = 1001,
                                 .mtime_sec = 1700000000, .mtime_nsec = 123456789,
                                 .is_local_pending = true};
    CHECK(overlay_put(db, REPO, "main", &put) == 0);
    put = (struct overlay_entry){.path = "newdir/sub", .is_dir = true};
    CHECK(overlay_put(db, REPO, "main", &put) == 0);
    put = (struct overlay_entry){.path = "newdir/sub/deep", .is_dir = true};
    CHECK(overlay_put(db, REPO, "main", &put) == 0);
    put = (struct overlay_entry){.path = "newdirx", .is_dir = true};
    CHECK(overlay_put(db, REPO, "main", &put) == 0);
    put = (struct overlay_entry){.path = "top.txt", .fields = OVERLAY_MODE, .mode = 0600};
    CHECK(overlay_put(db, REPO, "dev", &put) == 0); /* other branch */

    CHECK(overlay_get(db, REPO, "main", "newdir/f.txt", &e) == 0);
    CHECK_STR(e.path, "newdir/f.txt");
    CHECK(e.fields == (OVERLAY_MODE | OVERLAY_OWNER | OVERLAY_MTIME) && e.mode == 0640);
    CHECK(e.uid == 1000 && e.gid == 1001 && e.mtime_sec == 1700000000 &&
          e.mtime_nsec == 123456789 && e.is_local_pending && !e.is_dir);
    overlay_entry_clear(&e);

    struct overlay_entries list = {0};
    CHECK(overlay_list_dir(db, REPO, "main", "", &list) == 0 && list.n == 2);
    if (list.n == 2) {
        CHECK_STR(list.v[0].path, "newdir");
        CHECK_STR(list.v[1].path, "newdirx");
        CHECK(list.v[0].is_dir && list.v[0].mode == 0750);
    }
    overlay_entries_free(&list);
    CHECK(overlay_list_dir(db, REPO, "main", "newdir", &list) == 0 && list.n == 2);
    overlay_entries_free(&list);

    /* chmod again replaces the row */
    put = (struct overlay_entry){.path = "newdir", .fields = OVERLAY_MODE, .mode = 0700,
                                 .is_dir = true};
    CHECK(overlay_put(db, REPO, "main", &put) == 0);
    CHECK(overlay_get(db, REPO, "main", "newdir", &e) == 0 && e.mode == 0700);
    overlay_entry_clear(&e);

    /* directory rename moves the subtree, not the neighbour "newdirx" */
    CHECK(overlay_rename(db, REPO, "main", "newdir", "a/renamed") == 0);
    CHECK(overlay_get(db, REPO, "main", "newdir", &e) == -ENOENT);
    CHECK(overlay_get(db, REPO, "main", "a/renamed/sub/deep", &e) == 0 && e.is_dir);
    overlay_entry_clear(&e);
    CHECK(overlay_list_dir(db, REPO, "main", "a", &list) == 0 && list.n == 1);
    overlay_entries_free(&list);
    CHECK(overlay_list_dir(db, REPO, "main", "a/renamed", &list) == 0 && list.n == 2);
    overlay_entries_free(&list);
    CHECK(overlay_list_dir(db, REPO, "main", "a/renamed/sub", &list) == 0 && list.n == 1);
    overlay_entries_free(&list);
    CHECK(overlay_get(db, REPO, "main", "newdirx", &e) == 0);
    overlay_entry_clear(&e);

    /* delete: one row, then a subtree */
    CHECK(overlay_delete(db, REPO, "main", "a/renamed/f.txt", false) == 0);
    CHECK(overlay_get(db, REPO, "main", "a/renamed/f.txt", &e) == -ENOENT);
    CHECK(overlay_delete(db, REPO, "main", "nothing", false) == 0);
    CHECK(overlay_delete(db, REPO, "main", "a/renamed", false) == 0);
    CHECK(overlay_get(db, REPO, "main", "a/renamed/sub", &e) == 0); /* not recursive */
    overlay_entry_clear(&e);

    /* durability: reopen */
    meta_close(db);
    db = NULL;
    CHECK(meta_open(dbpath, &db) == 0);
    CHECK(journal_list_pending(db, REPO, "main", &ops) == 0);
    CHECK(ops.n == 6); /* d, l, t, f1, f2, f4 */
    CHECK(find(&ops, t) && strcmp(find(&ops, t)->path, "data/x.bin") == 0);
    CHECK(find(&ops, f4) && find(&ops, f4)->state == JOURNAL_COMMITTING);
    journal_ops_free(&ops);
    CHECK(overlay_get(db, REPO, "main", "a/renamed/sub/deep", &e) == 0);
    overlay_entry_clear(&e);
    CHECK(overlay_delete(db, REPO, "main", "a/renamed", true) == 0);
    CHECK(overlay_get(db, REPO, "main", "a/renamed/sub/deep", &e) == -ENOENT);
    CHECK(overlay_get(db, REPO, "dev", "top.txt", &e) == 0);
    overlay_entry_clear(&e);

    /* durability: a writer killed with SIGKILL right after journal_add */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct meta_db *cdb = NULL;
        if (meta_open(dbpath, &cdb) != 0)
            _exit(2);
        if (add_op(cdb, "main", HUB_OP_ADD, "killed.bin", "/stage/k", 9) < 0)
            _exit(3);
        struct overlay_entry ke = {.path = "killed.bin", .is_local_pending = true};
        if (overlay_put(cdb, REPO, "main", &ke) != 0)
            _exit(4);
        raise(SIGKILL);
        _exit(5);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    meta_close(db);
    db = NULL;
    CHECK(meta_open(dbpath, &db) == 0);
    CHECK(journal_list_pending(db, REPO, "main", &ops) == 0 && ops.n == 7);
    if (ops.n == 7)
        CHECK_STR(ops.v[6].path, "killed.bin");
    journal_ops_free(&ops);
    CHECK(overlay_get(db, REPO, "main", "killed.bin", &e) == 0 && e.is_local_pending);
    overlay_entry_clear(&e);

    meta_close(db);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return tap_done();
}
