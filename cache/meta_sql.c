/* meta_sql.c — the SQLite helpers every file of the metadata connection
 * shares (meta_i.h): the statement cache, stepping with one SQLite-result ->
 * errno mapping, binding, row loops, and the transactions with the lock
 * around them, so that each public function is its SQL and its parameters. */
#include "meta_i.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int meta_errno(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return 0;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EBUSY;
    case SQLITE_READONLY:
        return -EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return -EACCES;
    case SQLITE_CANTOPEN:
        return -ENOENT;
    case SQLITE_TOOBIG:
        return -E2BIG;
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_CONSTRAINT:
        return -EINVAL;
    default: /* IOERR, CORRUPT, NOTADB, ... */
        return -EIO;
    }
}

sqlite3_stmt *meta_stmt(struct meta_db *db, enum meta_stmt_id id, const char *sql)
{
    if (!db->stmts[id]) {
        int rc = sqlite3_prepare_v3(db->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                    &db->stmts[id], NULL);
        if (rc != SQLITE_OK) {
            hm_error("meta: prepare failed: %s", sqlite3_errmsg(db->db));
            db->stmts[id] = NULL;
            return NULL;
        }
    }
    return db->stmts[id];
}

void meta_stmt_done(sqlite3_stmt *st)
{
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

int meta_step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    hm_warn("meta: step failed: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
    return meta_errno(rc);
}

int meta_run(sqlite3_stmt *st)
{
    int rc = meta_step_done(st);
    meta_stmt_done(st);
    return rc;
}

int meta_step_row(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : meta_errno(rc);
}

int meta_each_row(sqlite3_stmt *st, int (*fn)(sqlite3_stmt *st, void *arg), void *arg)
{
    int rc;
    while ((rc = meta_step_row(st)) > 0) {
        rc = fn(st, arg);
        if (rc)
            break;
    }
    return rc;
}

void *meta_grow(void *v, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return v;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *nv = realloc(v, ncap * elem);
    if (nv)
        *cap = ncap;
    return nv;
}

void meta_bind_texts(sqlite3_stmt *st, int first, const char *const *texts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        meta_bind_text(st, first + (int)i, texts[i]);
}

sqlite3_stmt *meta_stmt_lock(struct meta_db *db, enum meta_stmt_id id, const char *sql)
{
    pthread_mutex_lock(&db->mu);
    sqlite3_stmt *st = meta_stmt(db, id, sql);
    if (!st)
        pthread_mutex_unlock(&db->mu);
    return st;
}

void meta_stmt_unlock(struct meta_db *db, sqlite3_stmt *st)
{
    meta_stmt_done(st);
    pthread_mutex_unlock(&db->mu);
}

/* A statement of the connection itself (BEGIN, COMMIT, ...). */
static int run_simple(struct meta_db *db, enum meta_stmt_id id, const char *sql)
{
    sqlite3_stmt *st = meta_stmt(db, id, sql);
    return st ? meta_run(st) : -EIO;
}

int meta_tx_begin(struct meta_db *db, bool durable)
{
    int rc;
    if (durable) {
        rc = run_simple(db, MS_SYNC_FULL, "PRAGMA synchronous=FULL");
        if (rc)
            return rc;
    }
    /* IMMEDIATE: take the write lock now, so busy_timeout applies here and
     * not as an unretryable SQLITE_BUSY in the middle of the transaction. */
    rc = run_simple(db, MS_BEGIN, "BEGIN IMMEDIATE");
    if (rc && durable)
        (void)run_simple(db, MS_SYNC_NORMAL, "PRAGMA synchronous=NORMAL");
    return rc;
}

int meta_tx_end(struct meta_db *db, bool durable, int rc)
{
    if (rc == 0) {
        rc = run_simple(db, MS_COMMIT, "COMMIT");
        if (rc)
            (void)run_simple(db, MS_ROLLBACK, "ROLLBACK");
    } else {
        (void)run_simple(db, MS_ROLLBACK, "ROLLBACK");
    }
    if (durable)
        (void)run_simple(db, MS_SYNC_NORMAL, "PRAGMA synchronous=NORMAL");
    return rc;
}

int meta_write_begin(struct meta_db *db, bool durable)
{
    pthread_mutex_lock(&db->mu);
    int rc = meta_tx_begin(db, durable);
    if (rc)
        pthread_mutex_unlock(&db->mu);
    return rc;
}

sqlite3_stmt *meta_write_stmt(struct meta_db *db, bool durable, enum meta_stmt_id id,
                              const char *sql, int *rc)
{
    *rc = meta_write_begin(db, durable);
    if (*rc)
        return NULL;
    sqlite3_stmt *st = meta_stmt(db, id, sql);
    if (!st)
        *rc = meta_write_end(db, durable, -EIO);
    return st;
}

int meta_write_end(struct meta_db *db, bool durable, int rc)
{
    rc = meta_tx_end(db, durable, rc);
    pthread_mutex_unlock(&db->mu);
    return rc;
}

int meta_write_run(struct meta_db *db, bool durable, sqlite3_stmt *st, int64_t *rowid,
                   int *changes)
{
    int rc = meta_run(st);
    /* read before COMMIT, which is a statement of the connection too */
    int64_t new_rowid = sqlite3_last_insert_rowid(db->db);
    int n = sqlite3_changes(db->db);
    rc = meta_write_end(db, durable, rc);
    if (rc == 0 && rowid)
        *rowid = new_rowid;
    if (rc == 0 && changes)
        *changes = n;
    return rc;
}

char *meta_col_strdup(sqlite3_stmt *st, int col, int *err)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    if (!t)
        return NULL;
    char *s = strdup((const char *)t);
    if (!s)
        *err = -ENOMEM;
    return s;
}

void meta_col_copy(sqlite3_stmt *st, int col, char *buf, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (size == 0)
        return;
    if (!t || n < 0)
        n = 0;
    if ((size_t)n >= size)
        n = (int)(size - 1);
    if (n > 0)
        memcpy(buf, t, (size_t)n);
    buf[n] = '\0';
}

size_t meta_parent_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) : 0;
}
