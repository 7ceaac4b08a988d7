/* overlay.c — the local overlay of a branch (include/journal.h): attributes
 * set by chmod/chown/utimens, mkdir-only directories and local pending
 * files, one synchronous=FULL transaction per call.  Locking as in
 * meta_i.h. */
#include "journal.h"
#include "meta_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OV_COLUMNS "path, fields, mode, uid, gid, mtime_sec, mtime_nsec, is_dir, is_local_pending"

/* A path range "p itself or below": p, or "p/" <= path < "p0" ('0' is the
 * byte after '/'), so the primary key index answers it. */
#define OV_SUBTREE(n) "(path = ?" #n " OR (path >= ?" #n " || '/' AND path < ?" #n " || '0'))"

void overlay_entry_clear(struct overlay_entry *e)
{
    if (e) {
        free(e->path);
        e->path = NULL;
    }
}

void overlay_entries_free(struct overlay_entries *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++)
        overlay_entry_clear(&list->v[i]);
    free(list->v);
    list->v = NULL;
    list->n = list->cap = 0;
}

static int read_entry(sqlite3_stmt *st, struct overlay_entry *e)
{
    int rc = 0;
    memset(e, 0, sizeof(*e));
    e->path = meta_col_strdup(st, 0, &rc);
    if (!e->path)
        return -ENOMEM;
    e->fields = (unsigned)sqlite3_column_int(st, 1);
    e->mode = (uint32_t)sqlite3_column_int64(st, 2);
    e->uid = (uint32_t)sqlite3_column_int64(st, 3);
    e->gid = (uint32_t)sqlite3_column_int64(st, 4);
    e->mtime_sec = sqlite3_column_int64(st, 5);
    e->mtime_nsec = sqlite3_column_int(st, 6);
    e->is_dir = sqlite3_column_int(st, 7) != 0;
    e->is_local_pending = sqlite3_column_int(st, 8) != 0;
    return 0;
}

static bool keys_ok(const struct meta_db *db, const char *repo_key, const char *branch)
{
    return db && repo_key && branch;
}

int overlay_get(struct meta_db *db, const char *repo_key, const char *branch, const char *path,
                struct overlay_entry *out)
{
    if (!keys_ok(db, repo_key, branch) || !path || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&db->mu);
    int rc = -EIO;
    sqlite3_stmt *st = meta_stmt(db, MS_OV_GET,
                                 "SELECT " OV_COLUMNS " FROM overlay"
                                 " WHERE repo_key = ?1 AND branch = ?2 AND path = ?3");
    if (!st)
        goto out;
    meta_bind_text(st, 1, repo_key);
    meta_bind_text(st, 2, branch);
    meta_bind_text(st, 3, path);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = read_entry(st, out);
    else
        rc = s == SQLITE_DONE ? -ENOENT : meta_errno(s);
    meta_stmt_done(st);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int overlay_put(struct meta_db *db, const char *repo_key, const char *branch,
                const struct overlay_entry *e)
{
    if (!keys_ok(db, repo_key, branch) || !e || !e->path || !*e->path)
        return -EINVAL;
    pthread_mutex_lock(&db->mu);
    int rc = meta_tx_begin(db, true);
    if (rc)
        goto out;
    sqlite3_stmt *st = meta_stmt(db, MS_OV_PUT,
                                 "INSERT OR REPLACE INTO overlay(repo_key, branch, path, parent,"
                                 " fields, mode, uid, gid, mtime_sec, mtime_nsec, is_dir,"
                                 " is_local_pending)"
                                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    if (!st) {
        rc = meta_tx_end(db, true, -EIO);
        goto out;
    }
    meta_bind_text(st, 1, repo_key);
    meta_bind_text(st, 2, branch);
    meta_bind_text(st, 3, e->path);
    meta_bind_parent(st, 4, e->path);
    sqlite3_bind_int(st, 5, (int)e->fields);
    sqlite3_bind_int64(st, 6, e->mode);
    sqlite3_bind_int64(st, 7, e->uid);
    sqlite3_bind_int64(st, 8, e->gid);
    sqlite3_bind_int64(st, 9, e->mtime_sec);
    sqlite3_bind_int(st, 10, e->mtime_nsec);
    sqlite3_bind_int(st, 11, e->is_dir);
    sqlite3_bind_int(st, 12, e->is_local_pending);
    rc = meta_step_done(st);
    meta_stmt_done(st);
    rc = meta_tx_end(db, true, rc);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int overlay_delete(struct meta_db *db, const char *repo_key, const char *branch,
                   const char *path, bool recursive)
{
    if (!keys_ok(db, repo_key, branch) || !path || !*path)
        return -EINVAL;
    pthread_mutex_lock(&db->mu);
    int rc = meta_tx_begin(db, true);
    if (rc)
        goto out;
    sqlite3_stmt *st =
        recursive
            ? meta_stmt(db, MS_OV_DEL_TREE,
                        "DELETE FROM overlay WHERE repo_key = ?1 AND branch = ?2 AND " OV_SUBTREE(3))
            : meta_stmt(db, MS_OV_DEL,
                        "DELETE FROM overlay WHERE repo_key = ?1 AND branch = ?2 AND path = ?3");
    if (!st) {
        rc = meta_tx_end(db, true, -EIO);
        goto out;
    }
    meta_bind_text(st, 1, repo_key);
    meta_bind_text(st, 2, branch);
    meta_bind_text(st, 3, path);
    rc = meta_step_done(st);
    meta_stmt_done(st);
    rc = meta_tx_end(db, true, rc);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int overlay_rename(struct meta_db *db, const char *repo_key, const char *branch,
                   const char *old_path, const char *new_path)
{
    if (!keys_ok(db, repo_key, branch) || !old_path || !*old_path || !new_path || !*new_path)
        return -EINVAL;
    pthread_mutex_lock(&db->mu);
    int rc = meta_tx_begin(db, true);
    if (rc)
        goto out;
    /* The moved root gets new_path's parent; a row below it keeps its place
     * under the moved root.  OR REPLACE: rename(2) replaces the target. */
    sqlite3_stmt *st = meta_stmt(db, MS_OV_RENAME,
                                 "UPDATE OR REPLACE overlay SET"
                                 " path = ?4 || substr(path, length(?3) + 1),"
                                 " parent = CASE WHEN path = ?3 THEN ?5"
                                 "   ELSE ?4 || substr(parent, length(?3) + 1) END"
                                 " WHERE repo_key = ?1 AND branch = ?2 AND " OV_SUBTREE(3));
    if (!st) {
        rc = meta_tx_end(db, true, -EIO);
        goto out;
    }
    meta_bind_text(st, 1, repo_key);
    meta_bind_text(st, 2, branch);
    meta_bind_text(st, 3, old_path);
    meta_bind_text(st, 4, new_path);
    meta_bind_parent(st, 5, new_path);
    rc = meta_step_done(st);
    meta_stmt_done(st);
    rc = meta_tx_end(db, true, rc);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int overlay_list_dir(struct meta_db *db, const char *repo_key, const char *branch,
                     const char *dir, struct overlay_entries *out)
{
    if (!keys_ok(db, repo_key, branch) || !dir || !out)
        return -EINVAL;
    size_t n0 = out->n;
    pthread_mutex_lock(&db->mu);
    int rc = 0;
    sqlite3_stmt *st = meta_stmt(db, MS_OV_LIST,
                                 "SELECT " OV_COLUMNS " FROM overlay"
                                 " WHERE repo_key = ?1 AND branch = ?2 AND parent = ?3"
                                 " ORDER BY path");
    if (!st) {
        rc = -EIO;
        goto out;
    }
    meta_bind_text(st, 1, repo_key);
    meta_bind_text(st, 2, branch);
    meta_bind_text(st, 3, dir);
    for (;;) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            rc = meta_errno(s);
            break;
        }
        if (out->n == out->cap) {
            size_t ncap = out->cap ? out->cap * 2 : 16;
            struct overlay_entry *nv = realloc(out->v, ncap * sizeof(*nv));
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            out->v = nv;
            out->cap = ncap;
        }
        rc = read_entry(st, &out->v[out->n]);
        if (rc)
            break;
        out->n++;
    }
    meta_stmt_done(st);
out:
    pthread_mutex_unlock(&db->mu);
    if (rc)
        while (out->n > n0)
            overlay_entry_clear(&out->v[--out->n]);
    return rc;
}
