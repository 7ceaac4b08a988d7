/* overlay.c — the local overlay of a branch (include/journal.h): attributes
 * set by chmod/chown/utimens, mkdir-only directories and local pending
 * files, one transaction per call: synchronous=FULL, but for the
 * *_attrs calls (NORMAL).  Locking as in meta_i.h. */
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

static bool rename_ok(const struct meta_db *db, const char *repo_key, const char *branch,
                      const char *old_path, const char *new_path)
{
    return keys_ok(db, repo_key, branch) && old_path && *old_path && new_path && *new_path;
}

int overlay_get(struct meta_db *db, const char *repo_key, const char *branch, const char *path,
                struct overlay_entry *out)
{
    if (!keys_ok(db, repo_key, branch) || !path || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = meta_stmt_lock(db, MS_OV_GET,
                                      "SELECT " OV_COLUMNS " FROM overlay"
                                      " WHERE repo_key = ?1 AND branch = ?2 AND path = ?3");
    if (!st)
        return -EIO;
    META_BIND_TEXTS(st, 1, repo_key, branch, path);
    int rc = meta_step_row(st);
    rc = rc > 0 ? read_entry(st, out) : rc == 0 ? -ENOENT : rc;
    meta_stmt_unlock(db, st);
    return rc;
}

/* overlay_put and overlay_put_attrs: one statement, two durabilities. */
static int put_entry(struct meta_db *db, const char *repo_key, const char *branch,
                     const struct overlay_entry *e, bool durable)
{
    if (!keys_ok(db, repo_key, branch) || !e || !e->path || !*e->path)
        return -EINVAL;
    int rc;
    sqlite3_stmt *st = meta_write_stmt(db, durable, MS_OV_PUT,
                                       "INSERT OR REPLACE INTO overlay(repo_key, branch, path,"
                                       " parent, fields, mode, uid, gid, mtime_sec, mtime_nsec,"
                                       " is_dir, is_local_pending)"
                                       " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                                       &rc);
    if (!st)
        return rc;
    META_BIND_TEXTS(st, 1, repo_key, branch, e->path);
    meta_bind_parent(st, 4, e->path);
    sqlite3_bind_int(st, 5, (int)e->fields);
    sqlite3_bind_int64(st, 6, e->mode);
    sqlite3_bind_int64(st, 7, e->uid);
    sqlite3_bind_int64(st, 8, e->gid);
    sqlite3_bind_int64(st, 9, e->mtime_sec);
    sqlite3_bind_int(st, 10, e->mtime_nsec);
    sqlite3_bind_int(st, 11, e->is_dir);
    sqlite3_bind_int(st, 12, e->is_local_pending);
    return meta_write_run(db, durable, st, NULL, NULL);
}

int overlay_put(struct meta_db *db, const char *repo_key, const char *branch,
                const struct overlay_entry *e)
{
    return put_entry(db, repo_key, branch, e, true);
}

int overlay_put_attrs(struct meta_db *db, const char *repo_key, const char *branch,
                      const struct overlay_entry *e)
{
    /* synchronous=NORMAL: in WAL mode the transaction survives a crash of the
     * daemon; only a power loss may take the last ones back */
    return put_entry(db, repo_key, branch, e, false);
}

int overlay_delete(struct meta_db *db, const char *repo_key, const char *branch,
                   const char *path, bool recursive)
{
    if (!keys_ok(db, repo_key, branch) || !path || !*path)
        return -EINVAL;
    int rc;
    sqlite3_stmt *st =
        recursive
            ? meta_write_stmt(db, true, MS_OV_DEL_TREE,
                              "DELETE FROM overlay WHERE repo_key = ?1 AND branch = ?2"
                              " AND " OV_SUBTREE(3), &rc)
            : meta_write_stmt(db, true, MS_OV_DEL,
                              "DELETE FROM overlay WHERE repo_key = ?1 AND branch = ?2"
                              " AND path = ?3", &rc);
    if (!st)
        return rc;
    META_BIND_TEXTS(st, 1, repo_key, branch, path);
    return meta_write_run(db, true, st, NULL, NULL);
}

int overlay_rename(struct meta_db *db, const char *repo_key, const char *branch,
                   const char *old_path, const char *new_path)
{
    if (!rename_ok(db, repo_key, branch, old_path, new_path))
        return -EINVAL;
    int rc;
    /* The moved root gets new_path's parent; a row below it keeps its place
     * under the moved root.  OR REPLACE: rename(2) replaces the target. */
    sqlite3_stmt *st = meta_write_stmt(db, true, MS_OV_RENAME,
                                       "UPDATE OR REPLACE overlay SET"
                                       " path = ?4 || substr(path, length(?3) + 1),"
                                       " parent = CASE WHEN path = ?3 THEN ?5"
                                       "   ELSE ?4 || substr(parent, length(?3) + 1) END"
                                       " WHERE repo_key = ?1 AND branch = ?2 AND " OV_SUBTREE(3),
                                       &rc);
    if (!st)
        return rc;
    META_BIND_TEXTS(st, 1, repo_key, branch, old_path, new_path);
    meta_bind_parent(st, 5, new_path);
    return meta_write_run(db, true, st, NULL, NULL);
}

/* A rename of one file row in one NORMAL transaction (see overlay_put_attrs):
 * the target's row goes, the source's row moves. */
int overlay_rename_file_attrs(struct meta_db *db, const char *repo_key, const char *branch,
                              const char *old_path, const char *new_path)
{
    if (!rename_ok(db, repo_key, branch, old_path, new_path))
        return -EINVAL;
    int rc;
    sqlite3_stmt *mv = NULL, *del = meta_write_stmt(
        db, false, MS_OVA_DELETE,
        "DELETE FROM overlay WHERE repo_key = ?1 AND branch = ?2 AND path = ?3", &rc);
    if (!del)
        return rc;
    if (!(mv = meta_stmt(db, MS_OVA_MOVE,
                         "UPDATE overlay SET path = ?4, parent = ?5"
                         " WHERE repo_key = ?1 AND branch = ?2 AND path = ?3")))
        rc = -EIO;
    if (rc == 0) { /* the rename replaces whatever row the target had */
        META_BIND_TEXTS(del, 1, repo_key, branch, new_path);
        rc = meta_step_done(del);
    }
    if (rc == 0) {
        META_BIND_TEXTS(mv, 1, repo_key, branch, old_path, new_path);
        meta_bind_parent(mv, 5, new_path);
        rc = meta_step_done(mv);
    }
    meta_stmt_done(del);
    meta_stmt_done(mv);
    return meta_write_end(db, false, rc);
}

/* meta_each_row callback: appends the row to the overlay_entries `arg`. */
static int push_entry(sqlite3_stmt *st, void *arg)
{
    struct overlay_entries *out = arg;
    struct overlay_entry *v = meta_grow(out->v, out->n, &out->cap, sizeof(*v));
    if (!v)
        return -ENOMEM;
    out->v = v;
    int rc = read_entry(st, &v[out->n]);
    out->n += rc == 0;
    return rc;
}

int overlay_list_dir(struct meta_db *db, const char *repo_key, const char *branch,
                     const char *dir, struct overlay_entries *out)
{
    if (!keys_ok(db, repo_key, branch) || !dir || !out)
        return -EINVAL;
    size_t n0 = out->n;
    sqlite3_stmt *st = meta_stmt_lock(db, MS_OV_LIST,
                                      "SELECT " OV_COLUMNS " FROM overlay"
                                      " WHERE repo_key = ?1 AND branch = ?2 AND parent = ?3"
                                      " ORDER BY path");
    if (!st)
        return -EIO;
    META_BIND_TEXTS(st, 1, repo_key, branch, dir);
    int rc = meta_each_row(st, push_entry, out);
    meta_stmt_unlock(db, st);
    if (rc)
        while (out->n > n0)
            overlay_entry_clear(&out->v[--out->n]);
    return rc;
}
