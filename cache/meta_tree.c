/* meta_tree.c — the read side of the metadata cache: revision -> commit,
 * directory listings and negative entries of immutable commits
 * (include/meta.h).  Every function takes db->mu once (see meta_i.h). */
#include "meta.h"
#include "meta_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The interned id of (repo_key, commit); -ENOENT when unknown and !create. */
static int snap_id(struct meta_db *db, const char *repo_key, const char *commit, bool create,
                   int64_t *id)
{
    sqlite3_stmt *st =
        meta_stmt(db, MS_SNAP_GET, "SELECT id FROM snaps WHERE repo_key=?1 AND commit_id=?2");
    if (!st)
        return -EIO;
    META_BIND_TEXTS(st, 1, repo_key, commit);
    int rc = meta_step_row(st);
    if (rc > 0)
        *id = sqlite3_column_int64(st, 0);
    rc = rc > 0 ? 0 : rc == 0 ? -ENOENT : rc;
    meta_stmt_done(st);
    if (rc != -ENOENT || !create)
        return rc;

    st = meta_stmt(db, MS_SNAP_ADD, "INSERT INTO snaps(repo_key, commit_id) VALUES(?1, ?2)");
    if (!st)
        return -EIO;
    META_BIND_TEXTS(st, 1, repo_key, commit);
    rc = meta_step_done(st);
    if (rc == 0)
        *id = sqlite3_last_insert_rowid(db->db);
    meta_stmt_done(st);
    return rc;
}

/* Statement `id` with ?1 = snap and ?2 = the first text_len bytes of text
 * (-1: all), bound without copy; NULL when it cannot be prepared. */
static sqlite3_stmt *snap_stmt(struct meta_db *db, enum meta_stmt_id id, const char *sql,
                               int64_t snap, const char *text, int text_len)
{
    sqlite3_stmt *st = meta_stmt(db, id, sql);
    if (st) {
        sqlite3_bind_int64(st, 1, snap);
        sqlite3_bind_text(st, 2, text, text_len, SQLITE_STATIC);
    }
    return st;
}

/* Runs snap_stmt's statement once: for a query, 1 a row, 0 none, or -errno
 * (meta_step_row); for a change, 0 or -errno (meta_step_done). */
static int snap_run(struct meta_db *db, enum meta_stmt_id id, const char *sql, int64_t snap,
                    const char *text, int text_len)
{
    sqlite3_stmt *st = snap_stmt(db, id, sql, snap, text, text_len);
    if (!st)
        return -EIO;
    int rc = sqlite3_stmt_readonly(st) ? meta_step_row(st) : meta_step_done(st);
    meta_stmt_done(st);
    return rc;
}

/* 1 if `dir` of the snap was listed, 0 if not, or -errno. */
static int dir_listed(struct meta_db *db, int64_t snap, const char *dir, int dir_len)
{
    return snap_run(db, MS_DIR_LISTED, "SELECT 1 FROM dirs WHERE snap=?1 AND dir=?2", snap, dir,
                    dir_len);
}

/* Columns is_dir, size, oid, is_lfs, sha256, mtime (1-6) of an entries row
 * into e (not the path). */
static void read_entry_cols(sqlite3_stmt *st, struct hub_entry *e)
{
    e->is_dir = sqlite3_column_int(st, 1) != 0;
    e->size = (uint64_t)sqlite3_column_int64(st, 2);
    meta_col_copy(st, 3, e->oid, sizeof(e->oid));
    e->is_lfs = sqlite3_column_int(st, 4) != 0;
    meta_col_copy(st, 5, e->sha256, sizeof(e->sha256));
    e->mtime = sqlite3_column_int64(st, 6);
}

/* meta_each_row callback: appends a copy of the row (columns: path, is_dir,
 * size, oid, is_lfs, sha256, mtime) to the hub_entries `arg`. */
static int push_row(sqlite3_stmt *st, void *arg)
{
    struct hub_entry e;
    memset(&e, 0, sizeof(e));
    e.path = (char *)sqlite3_column_text(st, 0); /* copied by hub_entries_push */
    if (!e.path)
        return -ENOMEM;
    read_entry_cols(st, &e);
    return hub_entries_push(arg, &e);
}

static void truncate_entries(struct hub_entries *list, size_t n)
{
    while (list->n > n) {
        list->n--;
        free(list->v[list->n].path);
        list->v[list->n].path = NULL;
    }
}

static bool bad_args(const void *a, const void *b, const void *c)
{
    return !a || !b || !c;
}

/* revision -> commit ------------------------------------------------------ */

int meta_revision_get(struct meta_db *db, const char *repo_key, const char *revision,
                      char commit[HUB_SHA1_HEX], int64_t *commit_date, int64_t *learned_at)
{
    if (bad_args(db, repo_key, revision) || !commit)
        return -EINVAL;
    sqlite3_stmt *st = meta_stmt_lock(db, MS_REV_GET,
                                      "SELECT commit_id, commit_date, learned_at FROM revisions"
                                      " WHERE repo_key=?1 AND revision=?2");
    if (!st)
        return -EIO;
    META_BIND_TEXTS(st, 1, repo_key, revision);
    int rc = meta_step_row(st);
    if (rc > 0) {
        meta_col_copy(st, 0, commit, HUB_SHA1_HEX);
        if (commit_date)
            *commit_date = sqlite3_column_int64(st, 1);
        if (learned_at)
            *learned_at = sqlite3_column_int64(st, 2);
    }
    rc = rc > 0 ? 0 : rc == 0 ? -ENOENT : rc;
    meta_stmt_unlock(db, st);
    return rc;
}

int meta_revision_put(struct meta_db *db, const char *repo_key, const char *revision,
                      const char *commit, int64_t commit_date, int64_t learned_at)
{
    if (bad_args(db, repo_key, revision) || !commit)
        return -EINVAL;
    sqlite3_stmt *st = meta_stmt_lock(db, MS_REV_PUT,
                                      "INSERT OR REPLACE INTO revisions"
                                      "(repo_key, revision, commit_id, commit_date, learned_at)"
                                      " VALUES(?1, ?2, ?3, ?4, ?5)");
    if (!st)
        return -EIO;
    META_BIND_TEXTS(st, 1, repo_key, revision, commit);
    sqlite3_bind_int64(st, 4, commit_date);
    sqlite3_bind_int64(st, 5, learned_at);
    int rc = meta_step_done(st);
    meta_stmt_unlock(db, st);
    return rc;
}

/* listings ------------------------------------------------------------------ */

int meta_dir_get(struct meta_db *db, const char *repo_key, const char *commit,
                 const char *dir, struct hub_entries *out)
{
    if (bad_args(db, repo_key, commit) || !dir || !out)
        return -EINVAL;
    size_t n0 = out->n;
    int64_t snap = 0;
    pthread_mutex_lock(&db->mu);
    int rc = snap_id(db, repo_key, commit, false, &snap);
    if (rc)
        goto out;
    rc = dir_listed(db, snap, dir, -1);
    if (rc <= 0) {
        rc = rc == 0 ? -ENOENT : rc;
        goto out;
    }
    sqlite3_stmt *st = snap_stmt(db, MS_DIR_ENTRIES,
                                 "SELECT path, is_dir, size, oid, is_lfs, sha256, mtime"
                                 " FROM entries WHERE snap=?1 AND parent=?2 ORDER BY path",
                                 snap, dir, -1);
    rc = st ? meta_each_row(st, push_row, out) : -EIO;
    meta_stmt_done(st);
out:
    pthread_mutex_unlock(&db->mu);
    if (rc)
        truncate_entries(out, n0);
    return rc;
}

static int entry_put(struct meta_db *db, int64_t snap, const struct hub_entry *e)
{
    sqlite3_stmt *st = meta_stmt(db, MS_ENTRY_PUT,
                                 "INSERT OR REPLACE INTO entries"
                                 "(snap, path, parent, is_dir, size, oid, is_lfs, sha256, mtime)"
                                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, snap);
    meta_bind_text(st, 2, e->path);
    /* The parent comes from the path, not from the caller's `dir`: a
     * recursive listing stored under "" still files every entry under its
     * real directory. */
    meta_bind_parent(st, 3, e->path);
    sqlite3_bind_int(st, 4, e->is_dir);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)e->size);
    meta_bind_text(st, 6, e->oid);
    sqlite3_bind_int(st, 7, e->is_lfs);
    meta_bind_text(st, 8, e->sha256);
    sqlite3_bind_int64(st, 9, e->mtime);
    int rc = meta_step_done(st);
    meta_stmt_done(st);
    return rc;
}

int meta_dir_put(struct meta_db *db, const char *repo_key, const char *commit,
                 const char *dir, const struct hub_entries *entries)
{
    if (bad_args(db, repo_key, commit) || !dir || !entries)
        return -EINVAL;
    for (size_t i = 0; i < entries->n; i++)
        if (!entries->v[i].path || !*entries->v[i].path || entries->v[i].size > INT64_MAX)
            return -EINVAL;
    int64_t snap = 0;
    int rc = meta_write_begin(db, false);
    if (rc)
        return rc;
    rc = snap_id(db, repo_key, commit, true, &snap);
    for (size_t i = 0; rc == 0 && i < entries->n; i++)
        rc = entry_put(db, snap, &entries->v[i]);
    if (rc == 0)
        rc = snap_run(db, MS_DIR_MARK, "INSERT OR IGNORE INTO dirs(snap, dir) VALUES(?1, ?2)",
                      snap, dir, -1);
    return meta_write_end(db, false, rc);
}

/* 0 when `path` is a negative entry of the snap, -ENOENT if not, or -errno. */
static int negative_get(struct meta_db *db, int64_t snap, const char *path)
{
    int rc = snap_run(db, MS_NEG_GET, "SELECT 1 FROM negatives WHERE snap=?1 AND path=?2", snap,
                      path, -1);
    return rc > 0 ? 0 : rc == 0 ? -ENOENT : rc;
}

int meta_entry_get(struct meta_db *db, const char *repo_key, const char *commit,
                   const char *path, struct hub_entry *out)
{
    if (bad_args(db, repo_key, commit) || !path || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if (*path == '\0') { /* the root always exists and is a directory */
        out->path = strdup("");
        out->is_dir = true;
        return out->path ? 0 : -ENOMEM;
    }
    int64_t snap = 0;
    pthread_mutex_lock(&db->mu);
    int rc = snap_id(db, repo_key, commit, false, &snap);
    if (rc) {
        rc = rc == -ENOENT ? -EAGAIN : rc;
        goto out;
    }
    sqlite3_stmt *st = snap_stmt(db, MS_ENTRY_GET,
                                 "SELECT path, is_dir, size, oid, is_lfs, sha256, mtime"
                                 " FROM entries WHERE snap=?1 AND path=?2",
                                 snap, path, -1);
    if (!st) {
        rc = -EIO;
        goto out;
    }
    rc = meta_step_row(st);
    if (rc > 0) {
        read_entry_cols(st, out);
        out->path = strdup(path);
        rc = out->path ? 0 : -ENOMEM;
        meta_stmt_done(st);
        goto out;
    }
    meta_stmt_done(st);
    if (rc)
        goto out;
    rc = negative_get(db, snap, path);
    if (rc != -ENOENT) /* 0: known absent; other: error */
        rc = rc == 0 ? -ENOENT : rc;
    else {
        int listed = dir_listed(db, snap, path, (int)meta_parent_len(path));
        rc = listed < 0 ? listed : listed ? -ENOENT : -EAGAIN;
    }
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

void meta_entry_clear(struct hub_entry *e)
{
    if (e) {
        free(e->path);
        e->path = NULL;
    }
}

int meta_negative_put(struct meta_db *db, const char *repo_key, const char *commit,
                      const char *path)
{
    if (bad_args(db, repo_key, commit) || !path || !*path)
        return -EINVAL;
    int64_t snap = 0;
    int rc = meta_write_begin(db, false);
    if (rc)
        return rc;
    rc = snap_id(db, repo_key, commit, true, &snap);
    if (rc == 0)
        rc = snap_run(db, MS_NEG_PUT, "INSERT OR IGNORE INTO negatives(snap, path) VALUES(?1, ?2)",
                      snap, path, -1);
    return meta_write_end(db, false, rc);
}
