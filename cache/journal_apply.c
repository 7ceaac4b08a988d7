/* journal_apply.c — journal_apply (include/journal.h): several journal
 * changes as ONE durable transaction.  The write path needs this for
 * rename (a moved operation is re-inserted with a new id so that replay
 * order stays causal, and the old row goes in the same transaction) and
 * for "record X, drop what X supersedes" without a window in which a crash
 * would keep both or neither. */
#include "journal.h"
#include "meta_i.h"

#include <errno.h>
#include <stddef.h>
#include <time.h>

int journal_apply(struct meta_db *db, const char *repo_key, const char *branch,
                  const struct journal_op *adds, size_t n_add, int64_t *add_ids,
                  const int64_t *remove_ids, size_t n_remove)
{
    return journal_apply_ex(db, repo_key, branch, adds, n_add, add_ids, remove_ids, n_remove,
                            true);
}

int journal_apply_ex(struct meta_db *db, const char *repo_key, const char *branch,
                     const struct journal_op *adds, size_t n_add, int64_t *add_ids,
                     const int64_t *remove_ids, size_t n_remove, bool durable)
{
    if (!db || !repo_key || !branch || (n_add && !adds) || (n_remove && !remove_ids))
        return -EINVAL;
    for (size_t i = 0; i < n_add; i++) {
        const struct journal_op *op = &adds[i];
        if (!op->path || !*op->path || op->size > INT64_MAX ||
            (op->kind != HUB_OP_ADD && op->kind != HUB_OP_DELETE_FILE &&
             op->kind != HUB_OP_DELETE_FOLDER))
            return -EINVAL;
    }
    if (n_add == 0 && n_remove == 0)
        return 0;
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *ins = NULL, *del = NULL;
    int rc = meta_tx_begin(db, durable);
    if (rc)
        goto out;
    /* From the connection's statement cache: rsync -a runs these several
     * times per file, and parsing the SQL each time showed in profiles. */
    if (n_add && !(ins = meta_stmt(db, MS_JA_INSERT,
                                   "INSERT INTO journal(repo_key, branch, kind, path, staging,"
                                   " size, sha256, created_at, state)"
                                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)")))
        rc = -EIO;
    if (rc == 0 && n_remove &&
        !(del = meta_stmt(db, MS_JA_DELETE, "DELETE FROM journal WHERE id = ?1")))
        rc = -EIO;
    for (size_t i = 0; rc == 0 && i < n_remove; i++) {
        sqlite3_bind_int64(del, 1, remove_ids[i]);
        rc = meta_step_done(del);
        sqlite3_reset(del);
    }
    for (size_t i = 0; rc == 0 && i < n_add; i++) {
        const struct journal_op *op = &adds[i];
        meta_bind_text(ins, 1, repo_key);
        meta_bind_text(ins, 2, branch);
        sqlite3_bind_int(ins, 3, (int)op->kind);
        meta_bind_text(ins, 4, op->path);
        if (op->staging)
            meta_bind_text(ins, 5, op->staging);
        else
            sqlite3_bind_null(ins, 5);
        sqlite3_bind_int64(ins, 6, (sqlite3_int64)op->size);
        meta_bind_text(ins, 7, op->sha256);
        sqlite3_bind_int64(ins, 8, op->created_at ? op->created_at : (int64_t)time(NULL));
        rc = meta_step_done(ins);
        if (rc == 0 && add_ids)
            add_ids[i] = sqlite3_last_insert_rowid(db->db);
        sqlite3_reset(ins);
        sqlite3_clear_bindings(ins);
    }
    meta_stmt_done(ins);
    meta_stmt_done(del);
    rc = meta_tx_end(db, durable, rc);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int overlay_put_attrs(struct meta_db *db, const char *repo_key, const char *branch,
                      const struct overlay_entry *e)
{
    if (!db || !repo_key || !branch || !e || !e->path || !*e->path)
        return -EINVAL;
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st = NULL;
    /* synchronous=NORMAL: in WAL mode the transaction survives a crash of the
     * daemon; only a power loss may take the last ones back */
    int rc = meta_tx_begin(db, false);
    if (rc)
        goto out;
    /* the same statement as overlay_put's (overlay.c), from the cache */
    if (!(st = meta_stmt(db, MS_OV_PUT,
                         "INSERT OR REPLACE INTO overlay(repo_key, branch, path, parent,"
                         " fields, mode, uid, gid, mtime_sec, mtime_nsec, is_dir,"
                         " is_local_pending)"
                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"))) {
        rc = meta_tx_end(db, false, -EIO);
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
    rc = meta_tx_end(db, false, rc);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int overlay_rename_file_attrs(struct meta_db *db, const char *repo_key, const char *branch,
                              const char *old_path, const char *new_path)
{
    if (!db || !repo_key || !branch || !old_path || !*old_path || !new_path || !*new_path)
        return -EINVAL;
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *del = NULL, *mv = NULL;
    int rc = meta_tx_begin(db, false);
    if (rc)
        goto out;
    if (!(del = meta_stmt(db, MS_OVA_DELETE,
                          "DELETE FROM overlay WHERE repo_key = ?1 AND branch = ?2 AND path = ?3")) ||
        !(mv = meta_stmt(db, MS_OVA_MOVE,
                         "UPDATE overlay SET path = ?4, parent = ?5"
                         " WHERE repo_key = ?1 AND branch = ?2 AND path = ?3")))
        rc = -EIO;
    if (rc == 0) { /* the rename replaces whatever row the target had */
        meta_bind_text(del, 1, repo_key);
        meta_bind_text(del, 2, branch);
        meta_bind_text(del, 3, new_path);
        rc = meta_step_done(del);
    }
    if (rc == 0) {
        meta_bind_text(mv, 1, repo_key);
        meta_bind_text(mv, 2, branch);
        meta_bind_text(mv, 3, old_path);
        meta_bind_text(mv, 4, new_path);
        meta_bind_parent(mv, 5, new_path);
        rc = meta_step_done(mv);
    }
    meta_stmt_done(del);
    meta_stmt_done(mv);
    rc = meta_tx_end(db, false, rc);
out:
    pthread_mutex_unlock(&db->mu);
    return rc;
}
