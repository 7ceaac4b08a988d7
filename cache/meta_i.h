/* meta_i.h — private to cache/meta_*.c, cache/journal*.c and overlay.c: the
 * connection struct, the prepared-statement cache and small transaction
 * helpers (meta_sql.c).
 *
 * Locking: struct meta_db has ONE SQLite connection and ONE mutex `mu`.
 * `mu` protects the connection and every statement in `stmts`; each public
 * function takes it once at entry (directly, or through meta_stmt_lock /
 * meta_write_begin / meta_write_stmt) and releases it before returning (or
 * through meta_stmt_unlock / meta_write_end), so a public function never
 * calls another public function.  Nothing else is locked while `mu` is held
 * (no lock order to respect). */
#ifndef HUBMOUNT_META_I_H
#define HUBMOUNT_META_I_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One slot per SQL statement in the module; prepared on first use and kept
 * for the life of the connection. */
enum meta_stmt_id {
    MS_BEGIN,
    MS_COMMIT,
    MS_ROLLBACK,
    MS_SYNC_FULL,
    MS_SYNC_NORMAL,
    MS_SNAP_GET,
    MS_SNAP_ADD,
    MS_REV_GET,
    MS_REV_PUT,
    MS_DIR_LISTED,
    MS_DIR_MARK,
    MS_DIR_ENTRIES,
    MS_ENTRY_GET,
    MS_ENTRY_PUT,
    MS_NEG_GET,
    MS_NEG_PUT,
    MS_J_ADD,
    MS_J_LIST,
    MS_J_GET,
    MS_J_SET_COMMITTING,
    MS_J_SET_DONE,
    MS_J_SET_FAILED,
    MS_J_SET_PENDING,
    MS_J_REMOVE,
    MS_J_RENAME,
    MS_J_PRUNE,
    MS_OV_GET,
    MS_OV_PUT,
    MS_OV_DEL,
    MS_OV_DEL_TREE,
    MS_OV_LIST,
    MS_OV_RENAME,
    MS_JA_INSERT,   /* journal_apply.c */
    MS_JA_DELETE,
    MS_OVA_DELETE,
    MS_OVA_MOVE,
    MS_COUNT
};

struct meta_db {
    pthread_mutex_t mu; /* guards db and stmts (see above) */
    sqlite3 *db;
    sqlite3_stmt *stmts[MS_COUNT];
};

/* The cached statement for `id` (prepared from `sql` the first time),
 * ready for binding; NULL on error.  Call with mu held. */
sqlite3_stmt *meta_stmt(struct meta_db *db, enum meta_stmt_id id, const char *sql);
/* Reset and unbind a statement after use, so it keeps no pointer to the
 * caller's strings. */
void meta_stmt_done(sqlite3_stmt *st);
/* SQLite result code -> negative errno. */
int meta_errno(int rc);
/* Step a statement that returns no rows; 0 or -errno.  Does not reset. */
int meta_step_done(sqlite3_stmt *st);
/* meta_step_done, then meta_stmt_done: a statement run once. */
int meta_run(sqlite3_stmt *st);
/* Step for a row, without logging: 1 a row is ready, 0 no (more) rows,
 * -errno. */
int meta_step_row(sqlite3_stmt *st);
/* Calls fn on every row until the rows end (0) or fn or a step fails
 * (that error).  Does not reset. */
int meta_each_row(sqlite3_stmt *st, int (*fn)(sqlite3_stmt *st, void *arg), void *arg);
/* Room for element n of an array of `elem`-byte elements with *cap slots
 * (doubled, 16 at first): the array, maybe moved, or NULL on ENOMEM (then
 * v and *cap are untouched). */
void *meta_grow(void *v, size_t n, size_t *cap, size_t elem);

/* Locks mu and returns the cached statement `id` ready for binding; NULL
 * (mu released) when it cannot be prepared.  meta_stmt_unlock resets the
 * statement and releases mu. */
sqlite3_stmt *meta_stmt_lock(struct meta_db *db, enum meta_stmt_id id, const char *sql);
void meta_stmt_unlock(struct meta_db *db, sqlite3_stmt *st);

/* Transactions.  `durable` switches the connection to synchronous=FULL for
 * this one transaction (journal and overlay writes), see meta_db.c. */
int meta_tx_begin(struct meta_db *db, bool durable);
/* Commits when rc == 0, rolls back otherwise; returns rc, or the commit's
 * error when the commit itself fails. */
int meta_tx_end(struct meta_db *db, bool durable, int rc);
/* The same with mu: meta_write_begin locks mu and begins (on failure mu is
 * released and the error returned); meta_write_end ends the transaction as
 * meta_tx_end does and releases mu. */
int meta_write_begin(struct meta_db *db, bool durable);
int meta_write_end(struct meta_db *db, bool durable, int rc);
/* meta_write_begin, then the cached statement `id` ready for binding.  NULL
 * when either fails: the transaction is then ended, mu released and *rc
 * set; else *rc is 0 and meta_write_end finishes. */
sqlite3_stmt *meta_write_stmt(struct meta_db *db, bool durable, enum meta_stmt_id id,
                              const char *sql, int *rc);
/* The end of a one-statement write: meta_run(st), then meta_write_end.
 * When it all succeeded and they are not NULL, *rowid gets the statement's
 * last inserted rowid and *changes the rows it changed. */
int meta_write_run(struct meta_db *db, bool durable, sqlite3_stmt *st, int64_t *rowid,
                   int *changes);

/* Bind helper: text bound without copy (valid until meta_stmt_done). */
static inline int meta_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    return sqlite3_bind_text(st, idx, s, -1, SQLITE_STATIC);
}
/* meta_bind_text of each text to ?first, ?first+1, ...: META_BIND_TEXTS(st,
 * 1, repo_key, branch, path).  A NULL text binds SQL NULL. */
void meta_bind_texts(sqlite3_stmt *st, int first, const char *const *texts, size_t n);
#define META_BIND_TEXTS(st, first, ...)                                            \
    meta_bind_texts((st), (first), (const char *const[]){__VA_ARGS__},           \
                    sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* strdup of a column (NULL column -> NULL); -ENOMEM via *err. */
char *meta_col_strdup(sqlite3_stmt *st, int col, int *err);
/* Copies a text column into a fixed buffer (truncation impossible for
 * hex ids we wrote ourselves; longer values are cut). */
void meta_col_copy(sqlite3_stmt *st, int col, char *buf, size_t size);

/* Length of the parent directory prefix of a repo path: "a/b/c" -> 3
 * ("a/b"), "a" -> 0 (""), so it can be bound without a copy. */
size_t meta_parent_len(const char *path);
static inline int meta_bind_parent(sqlite3_stmt *st, int idx, const char *path)
{
    return sqlite3_bind_text(st, idx, path, (int)meta_parent_len(path), SQLITE_STATIC);
}

#endif
