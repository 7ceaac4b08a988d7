/* journal.c — the pending-operation journal (include/journal.h): each call
 * is one synchronous=FULL transaction on the metadata connection, so what it
 * records survives kill -9 and power loss.  Locking as in meta_i.h. */
#include "journal.h"
#include "journal_i.h"
#include "meta_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define J_COLUMNS                                                                        \
    "id, kind, path, staging, size, sha256, created_at, state, error, attempts, commit_id," \
    " repo_key, branch"

void journal_op_clear(struct journal_op *op)
{
    if (!op)
        return;
    free(op->path);
    free(op->staging);
    free(op->repo_key);
    free(op->branch);
    op->path = op->staging = op->repo_key = op->branch = NULL;
}

void journal_ops_free(struct journal_ops *ops)
{
    if (!ops)
        return;
    for (size_t i = 0; i < ops->n; i++)
        journal_op_clear(&ops->v[i]);
    free(ops->v);
    ops->v = NULL;
    ops->n = ops->cap = 0;
}

static int read_op(sqlite3_stmt *st, struct journal_op *op)
{
    int rc = 0;
    memset(op, 0, sizeof(*op));
    op->id = sqlite3_column_int64(st, 0);
    op->kind = (enum hub_op_kind)sqlite3_column_int(st, 1);
    op->path = meta_col_strdup(st, 2, &rc);
    op->staging = meta_col_strdup(st, 3, &rc);
    op->size = (uint64_t)sqlite3_column_int64(st, 4);
    meta_col_copy(st, 5, op->sha256, sizeof(op->sha256));
    op->created_at = sqlite3_column_int64(st, 6);
    op->state = (enum journal_state)sqlite3_column_int(st, 7);
    op->error = sqlite3_column_int(st, 8);
    op->attempts = sqlite3_column_int(st, 9);
    meta_col_copy(st, 10, op->commit, sizeof(op->commit));
    op->repo_key = meta_col_strdup(st, 11, &rc);
    op->branch = meta_col_strdup(st, 12, &rc);
    if (rc == 0 && (!op->path || !op->repo_key || !op->branch))
        rc = -ENOMEM;
    if (rc)
        journal_op_clear(op);
    return rc;
}

static bool kind_valid(enum hub_op_kind k)
{
    return k == HUB_OP_ADD || k == HUB_OP_DELETE_FILE || k == HUB_OP_DELETE_FOLDER;
}

void journal_bind_insert(sqlite3_stmt *st, const char *repo_key, const char *branch,
                         const struct journal_op *op)
{
    META_BIND_TEXTS(st, 1, repo_key, branch);
    sqlite3_bind_int(st, 3, (int)op->kind);
    META_BIND_TEXTS(st, 4, op->path, op->staging); /* no staging file: NULL */
    sqlite3_bind_int64(st, 6, (sqlite3_int64)op->size);
    meta_bind_text(st, 7, op->sha256);
    sqlite3_bind_int64(st, 8, op->created_at ? op->created_at : (int64_t)time(NULL));
}

int journal_add(struct meta_db *db, const char *repo_key, const char *branch,
                const struct journal_op *op, int64_t *id)
{
    if (!db || !repo_key || !branch || !op || !op->path || !*op->path ||
        !kind_valid(op->kind) || op->size > INT64_MAX)
        return -EINVAL;
    int rc;
    sqlite3_stmt *st = meta_write_stmt(db, true, MS_J_ADD, JOURNAL_INSERT_SQL, &rc);
    if (!st)
        return rc;
    journal_bind_insert(st, repo_key, branch, op);
    return meta_write_run(db, true, st, id, NULL);
}

/* meta_each_row callback: appends the row to the journal_ops `arg`. */
static int push_op(sqlite3_stmt *st, void *arg)
{
    struct journal_ops *out = arg;
    struct journal_op *v = meta_grow(out->v, out->n, &out->cap, sizeof(*v));
    if (!v)
        return -ENOMEM;
    out->v = v;
    int rc = read_op(st, &v[out->n]);
    out->n += rc == 0;
    return rc;
}

int journal_list_pending(struct meta_db *db, const char *repo_key, const char *branch,
                         struct journal_ops *out)
{
    if (!db || !out)
        return -EINVAL;
    size_t n0 = out->n;
    sqlite3_stmt *st = meta_stmt_lock(db, MS_J_LIST,
                                      "SELECT " J_COLUMNS " FROM journal WHERE state != 2"
                                      " AND (?1 IS NULL OR repo_key = ?1)"
                                      " AND (?2 IS NULL OR branch = ?2) ORDER BY id");
    if (!st)
        return -EIO;
    META_BIND_TEXTS(st, 1, repo_key, branch); /* NULL: any */
    int rc = meta_each_row(st, push_op, out);
    meta_stmt_unlock(db, st);
    if (rc)
        while (out->n > n0)
            journal_op_clear(&out->v[--out->n]);
    return rc;
}

int journal_get(struct meta_db *db, int64_t id, struct journal_op *out)
{
    if (!db || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    /* shares MS_J_LIST's shape but not its statement */
    sqlite3_stmt *st =
        meta_stmt_lock(db, MS_J_GET, "SELECT " J_COLUMNS " FROM journal WHERE id = ?1");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    int rc = meta_step_row(st);
    rc = rc > 0 ? read_op(st, out) : rc == 0 ? -ENOENT : rc;
    meta_stmt_unlock(db, st);
    return rc;
}

/* Runs statement `id` once per operation id, binding the id as ?1 and, when
 * given, text ?2 or int ?2; one durable transaction for the batch. */
static int for_ids(struct meta_db *db, enum meta_stmt_id sid, const char *sql,
                   const int64_t *ids, size_t n, const char *text2, const int *int2)
{
    if (!db || (!ids && n))
        return -EINVAL;
    if (n == 0)
        return 0;
    int rc;
    sqlite3_stmt *st = meta_write_stmt(db, true, sid, sql, &rc);
    if (!st)
        return rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_bind_int64(st, 1, ids[i]);
        if (text2)
            meta_bind_text(st, 2, text2);
        if (int2)
            sqlite3_bind_int(st, 2, *int2);
        rc = meta_run(st);
    }
    return meta_write_end(db, true, rc);
}

int journal_mark_committing(struct meta_db *db, const int64_t *ids, size_t n)
{
    return for_ids(db, MS_J_SET_COMMITTING,
                   "UPDATE journal SET state = 1, attempts = attempts + 1 WHERE id = ?1", ids, n,
                   NULL, NULL);
}

int journal_mark_done(struct meta_db *db, const int64_t *ids, size_t n, const char *commit)
{
    if (!commit)
        return -EINVAL;
    return for_ids(db, MS_J_SET_DONE,
                   "UPDATE journal SET state = 2, error = 0, commit_id = ?2 WHERE id = ?1", ids,
                   n, commit, NULL);
}

int journal_mark_failed(struct meta_db *db, const int64_t *ids, size_t n, int err)
{
    int e = err < 0 ? -err : err; /* stored positive, whatever the caller passed */
    if (e == 0)
        e = EIO;
    return for_ids(db, MS_J_SET_FAILED, "UPDATE journal SET state = 3, error = ?2 WHERE id = ?1",
                   ids, n, NULL, &e);
}

int journal_mark_pending(struct meta_db *db, const int64_t *ids, size_t n)
{
    return for_ids(db, MS_J_SET_PENDING, "UPDATE journal SET state = 0 WHERE id = ?1", ids, n,
                   NULL, NULL);
}

int journal_remove(struct meta_db *db, const int64_t *ids, size_t n)
{
    return for_ids(db, MS_J_REMOVE, "DELETE FROM journal WHERE id = ?1", ids, n, NULL, NULL);
}

int journal_prune_done(struct meta_db *db, int64_t before)
{
    if (!db)
        return -EINVAL;
    int rc; /* not durable: losing a prune costs nothing */
    sqlite3_stmt *st = meta_write_stmt(
        db, false, MS_J_PRUNE, "DELETE FROM journal WHERE state = 2 AND created_at < ?1", &rc);
    if (!st)
        return rc;
    sqlite3_bind_int64(st, 1, before);
    return meta_write_run(db, false, st, NULL, NULL);
}

int journal_replace_path(struct meta_db *db, const char *repo_key, const char *branch,
                         const char *old_path, const char *new_path, int *changed)
{
    if (!db || !repo_key || !branch || !old_path || !*old_path || !new_path || !*new_path)
        return -EINVAL;
    if (changed)
        *changed = 0;
    int rc;
    /* old_path itself, or below it: "old/" <= path < "old0" ('0' follows
     * '/' in byte order), which the path text compares by. */
    sqlite3_stmt *st =
        meta_write_stmt(db, true, MS_J_RENAME,
                        "UPDATE journal SET path = ?4 || substr(path, length(?3) + 1)"
                        " WHERE repo_key = ?1 AND branch = ?2 AND state = 0"
                        " AND (path = ?3 OR (path >= ?3 || '/' AND path < ?3 || '0'))",
                        &rc);
    if (!st)
        return rc;
    META_BIND_TEXTS(st, 1, repo_key, branch, old_path, new_path);
    return meta_write_run(db, true, st, NULL, changed);
}
