/* journal_apply.c — journal_apply (include/journal.h): several journal
 * changes as ONE durable transaction.  The write path needs this for
 * rename (a moved operation is re-inserted with a new id so that replay
 * order stays causal, and the old row goes in the same transaction) and
 * for "record X, drop what X supersedes" without a window in which a crash
 * would keep both or neither. */
#include "journal.h"
#include "journal_i.h"
#include "meta_i.h"

#include <errno.h>
#include <stddef.h>

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
    sqlite3_stmt *ins = NULL, *del = NULL;
    int rc = meta_write_begin(db, durable);
    if (rc)
        return rc;
    /* From the connection's statement cache: rsync -a runs these several
     * times per file, and parsing the SQL each time showed in profiles. */
    if (n_add && !(ins = meta_stmt(db, MS_JA_INSERT, JOURNAL_INSERT_SQL)))
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
        journal_bind_insert(ins, repo_key, branch, &adds[i]);
        rc = meta_step_done(ins);
        if (rc == 0 && add_ids)
            add_ids[i] = sqlite3_last_insert_rowid(db->db);
        meta_stmt_done(ins);
    }
    meta_stmt_done(ins);
    meta_stmt_done(del);
    return meta_write_end(db, durable, rc);
}
