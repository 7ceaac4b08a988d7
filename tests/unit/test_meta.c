/* test_meta.c — the metadata cache: listing round-trips, the
 * found / -ENOENT / -EAGAIN semantics of meta_entry_get, negatives,
 * revisions, persistence across close/open, file modes. */
#include "meta.h"
#include "tap.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPO "model/acme/tiny"
#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void add(struct hub_entries *l, const char *path, bool is_dir, uint64_t size,
                bool lfs)
{
    struct hub_entry e;
    memset(&e, 0, sizeof(e));
    e.path = (char *)path;
    e.is_dir = is_dir;
    e.size = size;
    snprintf(e.oid, sizeof(e.oid), "%040d", (int)size);
    e.is_lfs = lfs;
    if (lfs)
        snprintf(e.sha256, sizeof(e.sha256), "%064d", 7);
    e.mtime = 1700000000 + (int64_t)size;
    if (hub_entries_push(l, &e) != 0)
        abort();
}

struct thr {
    struct meta_db *db;
    int n, errors;
};

/* Each thread lists its own directory and looks entries up, concurrently
 * with the others: the connection mutex must keep statements apart. */
static void *thr_main(void *p)
{
    struct thr *t = p;
    char dir[32], path[64];
    snprintf(dir, sizeof(dir), "t%d", t->n);
    for (int round = 0; round < 20; round++) {
        struct hub_entries l = {0};
        for (int i = 0; i < 10; i++) {
            snprintf(path, sizeof(path), "%s/f%d-%d", dir, round, i);
            add(&l, path, false, (uint64_t)i, false);
        }
        if (meta_dir_put(t->db, REPO, C2, dir, &l) != 0)
            t->errors++;
        hub_entries_free(&l);
        struct hub_entry e;
        snprintf(path, sizeof(path), "%s/f%d-3", dir, round);
        if (meta_entry_get(t->db, REPO, C2, path, &e) != 0 || e.size != 3)
            t->errors++;
        meta_entry_clear(&e);
        if (meta_revision_put(t->db, REPO, dir, C1, round, round) != 0)
            t->errors++;
    }
    return NULL;
}

int main(void)
{
    char tmpl[] = "/tmp/test_meta.XXXXXX";
    char *root = mkdtemp(tmpl);
    if (!root)
        return 1;
    char dbpath[512];
    snprintf(dbpath, sizeof(dbpath), "%s/x/meta/meta.db", root); /* parents made too */

    struct meta_db *db = NULL;
    CHECK(meta_open(dbpath, &db) == 0);
    CHECK(db != NULL);

    struct stat st;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/x/meta", root);
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    snprintf(dir, sizeof(dir), "%s/x", root);
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    CHECK(stat(dbpath, &st) == 0 && (st.st_mode & 0777) == 0600);

    /* revisions */
    char commit[HUB_SHA1_HEX];
    int64_t cd = 0, la = 0;
    CHECK(meta_revision_get(db, REPO, "main", commit, &cd, &la) == -ENOENT);
    CHECK(meta_revision_put(db, REPO, "main", C1, 1000, 2000) == 0);
    CHECK(meta_revision_get(db, REPO, "main", commit, &cd, &la) == 0);
    CHECK_STR(commit, C1);
    CHECK(cd == 1000 && la == 2000);
    CHECK(meta_revision_put(db, REPO, "main", C2, 1001, 2001) == 0); /* branch moved */
    CHECK(meta_revision_get(db, REPO, "main", commit, NULL, NULL) == 0);
    CHECK_STR(commit, C2);
    CHECK(meta_revision_get(db, "model/acme/other", "main", commit, NULL, NULL) == -ENOENT);

    /* root is always a directory, even unknown */
    struct hub_entry e;
    CHECK(meta_entry_get(db, REPO, C1, "", &e) == 0);
    CHECK(e.is_dir && e.path && e.path[0] == '\0');
    meta_entry_clear(&e);
    CHECK(e.path == NULL);

    /* nothing known: -EAGAIN, listing never made: -ENOENT */
    CHECK(meta_entry_get(db, REPO, C1, "config.json", &e) == -EAGAIN);
    struct hub_entries got = {0};
    CHECK(meta_dir_get(db, REPO, C1, "", &got) == -ENOENT);
    CHECK(got.n == 0);

    /* root listing round trip */
    struct hub_entries root_l = {0};
    add(&root_l, "config.json", false, 42, false);
    add(&root_l, "weights", true, 0, false);
    add(&root_l, "model.safetensors", false, 5000000000ull, true);
    CHECK(meta_dir_put(db, REPO, C1, "", &root_l) == 0);
    CHECK(meta_dir_get(db, REPO, C1, "", &got) == 0);
    CHECK(got.n == 3);
    if (got.n == 3) { /* sorted by path */
        CHECK_STR(got.v[0].path, "config.json");
        CHECK_STR(got.v[1].path, "model.safetensors");
        CHECK_STR(got.v[2].path, "weights");
        CHECK(got.v[1].is_lfs && got.v[1].size == 5000000000ull);
        CHECK(strcmp(got.v[1].sha256, root_l.v[2].sha256) == 0);
        CHECK(strcmp(got.v[0].oid, root_l.v[0].oid) == 0);
        CHECK(got.v[0].mtime == 1700000042);
        CHECK(got.v[2].is_dir && !got.v[0].is_dir);
    }
    hub_entries_free(&got);

    /* entry semantics once the root is listed */
    CHECK(meta_entry_get(db, REPO, C1, "config.json", &e) == 0);
    CHECK_STR(e.path, "config.json");
    CHECK(e.size == 42 && !e.is_dir && !e.is_lfs && e.sha256[0] == '\0');
    meta_entry_clear(&e);
    CHECK(meta_entry_get(db, REPO, C1, "weights", &e) == 0 && e.is_dir);
    meta_entry_clear(&e);
    CHECK(meta_entry_get(db, REPO, C1, "missing.txt", &e) == -ENOENT);
    CHECK(meta_entry_get(db, REPO, C1, "weights/a.bin", &e) == -EAGAIN); /* not listed */
    CHECK(meta_entry_get(db, REPO, C2, "config.json", &e) == -EAGAIN);   /* other commit */
    CHECK(meta_dir_get(db, REPO, C1, "weights", &got) == -ENOENT);

    /* a sub-directory listing, and an empty one */
    struct hub_entries sub = {0};
    add(&sub, "weights/a.bin", false, 1, false);
    add(&sub, "weights/b.bin", false, 2, false);
    CHECK(meta_dir_put(db, REPO, C1, "weights", &sub) == 0);
    CHECK(meta_entry_get(db, REPO, C1, "weights/a.bin", &e) == 0 && e.size == 1);
    meta_entry_clear(&e);
    CHECK(meta_entry_get(db, REPO, C1, "weights/c.bin", &e) == -ENOENT);
    CHECK(meta_dir_get(db, REPO, C1, "weights", &got) == 0 && got.n == 2);
    hub_entries_free(&got);
    struct hub_entries empty = {0};
    CHECK(meta_dir_put(db, REPO, C2, "", &empty) == 0);
    CHECK(meta_dir_get(db, REPO, C2, "", &got) == 0 && got.n == 0);
    CHECK(meta_entry_get(db, REPO, C2, "config.json", &e) == -ENOENT);
    /* putting the same listing twice is harmless */
    CHECK(meta_dir_put(db, REPO, C1, "weights", &sub) == 0);
    CHECK(meta_dir_get(db, REPO, C1, "weights", &got) == 0 && got.n == 2);
    hub_entries_free(&got);

    /* negatives: known absent without a listing */
    CHECK(meta_entry_get(db, REPO, C2, "deep/x/y.txt", &e) == -EAGAIN);
    CHECK(meta_negative_put(db, REPO, C2, "deep/x/y.txt") == 0);
    CHECK(meta_entry_get(db, REPO, C2, "deep/x/y.txt", &e) == -ENOENT);
    CHECK(meta_negative_put(db, REPO, C2, "deep/x/y.txt") == 0); /* idempotent */
    CHECK(meta_negative_put(db, REPO, "3333333333333333333333333333333333333333", "n") == 0);
    CHECK(meta_entry_get(db, REPO, "3333333333333333333333333333333333333333", "n", &e) ==
          -ENOENT);

    /* bad arguments */
    CHECK(meta_dir_put(db, NULL, C1, "", &sub) == -EINVAL);
    CHECK(meta_entry_get(db, REPO, C1, NULL, &e) == -EINVAL);

    /* persistence across close/open */
    meta_close(db);
    db = NULL;
    CHECK(meta_open(dbpath, &db) == 0);
    CHECK(meta_revision_get(db, REPO, "main", commit, NULL, NULL) == 0);
    CHECK_STR(commit, C2);
    CHECK(meta_dir_get(db, REPO, C1, "", &got) == 0 && got.n == 3);
    hub_entries_free(&got);
    CHECK(meta_entry_get(db, REPO, C1, "weights/b.bin", &e) == 0 && e.size == 2);
    meta_entry_clear(&e);
    CHECK(meta_entry_get(db, REPO, C2, "deep/x/y.txt", &e) == -ENOENT);
    CHECK(meta_entry_get(db, REPO, C1, "weights/zzz", &e) == -ENOENT);

    /* the -wal and -shm files are private too: after a write both exist (the
     * connection is open in WAL mode) and carry the database file's 0600 */
    CHECK(meta_revision_put(db, REPO, "wal-probe", C1, 1, 1) == 0);
    char wal[600];
    snprintf(wal, sizeof(wal), "%s-wal", dbpath);
    CHECK(stat(wal, &st) == 0 && (st.st_mode & 0777) == 0600);
    snprintf(wal, sizeof(wal), "%s-shm", dbpath);
    CHECK(stat(wal, &st) == 0 && (st.st_mode & 0777) == 0600);

    /* a bigger listing: 5000 entries in one directory */
    struct hub_entries big = {0};
    char name[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "data/shard-%05d.parquet", i);
        add(&big, name, false, (uint64_t)i, false);
    }
    CHECK(meta_dir_put(db, "dataset/acme/big", C1, "data", &big) == 0);
    CHECK(meta_dir_get(db, "dataset/acme/big", C1, "data", &got) == 0 && got.n == 5000);
    if (got.n == 5000)
        CHECK_STR(got.v[4999].path, "data/shard-04999.parquet");
    hub_entries_free(&got);
    CHECK(meta_entry_get(db, "dataset/acme/big", C1, "data/shard-01234.parquet", &e) == 0 &&
          e.size == 1234);
    meta_entry_clear(&e);
    hub_entries_free(&big);

    /* threads sharing the connection */
    pthread_t th[4];
    struct thr ts[4];
    for (int i = 0; i < 4; i++) {
        ts[i] = (struct thr){db, i, 0};
        pthread_create(&th[i], NULL, thr_main, &ts[i]);
    }
    int terr = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        terr += ts[i].errors;
    }
    CHECK(terr == 0);
    CHECK(meta_dir_get(db, REPO, C2, "t2", &got) == 0 && got.n == 200);
    hub_entries_free(&got);

    /* a second connection (another process) sees the same data */
    struct meta_db *db2 = NULL;
    CHECK(meta_open(dbpath, &db2) == 0);
    CHECK(meta_entry_get(db2, REPO, C1, "config.json", &e) == 0);
    meta_entry_clear(&e);
    meta_close(db2);

    /* a file that is not a database */
    char junk[600];
    snprintf(junk, sizeof(junk), "%s/junk.db", root);
    FILE *f = fopen(junk, "w");
    if (f) {
        fputs("this is not an sqlite database, not at all, really not one\n", f);
        fclose(f);
    }
    struct meta_db *bad = NULL;
    CHECK(meta_open(junk, &bad) < 0 && bad == NULL);

    meta_close(db);
    hub_entries_free(&root_l);
    hub_entries_free(&sub);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return tap_done();
}
