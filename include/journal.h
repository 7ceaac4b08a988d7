/* journal.h — the durable write side of the metadata database (same file
 * and connection as meta.h).
 *
 * The journal holds the pending operations of a branch: what close(2),
 * unlink(2), rmdir/rmtree and rename(2) decided, waiting for the commit
 * worker to turn them into one Hub commit.  The overlay holds what only
 * this machine knows about a path: mode/owner/mtime set by chmod, chown and
 * utimens, directories made by mkdir that no file has reached yet, and
 * whether the path is a local pending file.
 *
 * Durability: every function is ONE transaction, committed with
 * synchronous=FULL before it returns, so an operation survives kill -9 of
 * the daemon and a power loss alike.  Functions return 0 or -errno.
 *
 * An operation's life: PENDING (journal_add) -> COMMITTING (the worker took
 * it into a commit attempt) -> DONE (journal_mark_done, with the commit id)
 * or FAILED (journal_mark_failed, with the errno; kept for fsync/close and
 * the status command until retried).  After a restart, COMMITTING rows are
 * attempts whose outcome is unknown: the worker compares the branch head
 * before retrying them. */
#ifndef HUBMOUNT_JOURNAL_H
#define HUBMOUNT_JOURNAL_H

#include "hub.h"
#include "meta.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum journal_state {
    JOURNAL_PENDING = 0,
    JOURNAL_COMMITTING = 1,
    JOURNAL_DONE = 2,
    JOURNAL_FAILED = 3,
};

struct journal_op {
    int64_t id;              /* assigned by journal_add, increasing */
    char *repo_key, *branch; /* filled by list/get; journal_add takes them as arguments */
    enum hub_op_kind kind;   /* HUB_OP_ADD / HUB_OP_DELETE_FILE / HUB_OP_DELETE_FOLDER */
    char *path;              /* repo path */
    char *staging;           /* ADD: staging file; NULL when reusing an LFS object */
    uint64_t size;           /* ADD: content size */
    char sha256[HUB_SHA256_HEX]; /* ADD: content sha256 if known, else "" */
    int64_t created_at;      /* unix seconds (journal_add fills it when 0) */
    enum journal_state state;
    int error;               /* FAILED: positive errno */
    int attempts;            /* times taken into a commit attempt */
    char commit[HUB_SHA1_HEX]; /* DONE: the commit that carried it */
};

struct journal_ops {
    struct journal_op *v;
    size_t n, cap;
};
void journal_ops_free(struct journal_ops *ops); /* frees strings, resets to empty */

/* Records an operation as PENDING.  Reads op->kind, path, staging, size,
 * sha256, created_at; writes the new id to *id (may be NULL). */
int journal_add(struct meta_db *db, const char *repo_key, const char *branch,
                const struct journal_op *op, int64_t *id) __attribute__((warn_unused_result));

/* Operations of a branch that are not DONE (PENDING, COMMITTING, FAILED),
 * oldest first, appended to out.  repo_key/branch NULL = every repo/branch
 * (restart resume, status command). */
int journal_list_pending(struct meta_db *db, const char *repo_key, const char *branch,
                         struct journal_ops *out) __attribute__((warn_unused_result));
/* One operation by id; -ENOENT if there is none. */
int journal_get(struct meta_db *db, int64_t id, struct journal_op *out)
    __attribute__((warn_unused_result));
void journal_op_clear(struct journal_op *op);

/* State changes of a batch, all or nothing.  mark_committing also counts an
 * attempt; mark_failed stores a positive errno; mark_pending puts FAILED or
 * COMMITTING operations back in the queue. */
int journal_mark_committing(struct meta_db *db, const int64_t *ids, size_t n);
int journal_mark_done(struct meta_db *db, const int64_t *ids, size_t n, const char *commit);
int journal_mark_failed(struct meta_db *db, const int64_t *ids, size_t n, int err);
int journal_mark_pending(struct meta_db *db, const int64_t *ids, size_t n);
/* Drops operations (a pending file unlinked before it was committed). */
int journal_remove(struct meta_db *db, const int64_t *ids, size_t n);
/* Forgets DONE operations created before `before` (unix seconds). */
int journal_prune_done(struct meta_db *db, int64_t before);

/* rename(2) of pending files: every PENDING operation of the branch at
 * old_path, or under old_path + "/", moves to new_path (so rsync's
 * temp-then-rename commits only the final name).  *changed (may be NULL)
 * gets the number of operations moved; 0 means nothing pending was there,
 * so the caller needs an add + delete instead.  Pending operations already
 * at new_path are left alone: the caller removes them first (journal_remove),
 * since it owns their staging files. */
int journal_replace_path(struct meta_db *db, const char *repo_key, const char *branch,
                         const char *old_path, const char *new_path, int *changed);

/* Several changes as ONE durable transaction: the rows `remove_ids` are
 * deleted, then `adds` are inserted as PENDING in order (new ids written to
 * add_ids when not NULL; created_at 0 = now).  A rename is expressed as
 * re-inserting the moved operations under their new paths plus removing the
 * old rows, so ids keep following the order in which things happened.
 * Added by the write path (fs/pending.c). */
int journal_apply(struct meta_db *db, const char *repo_key, const char *branch,
                  const struct journal_op *adds, size_t n_add, int64_t *add_ids,
                  const int64_t *remove_ids, size_t n_remove) __attribute__((warn_unused_result));
/* The same; durable == false commits with synchronous=NORMAL (survives
 * kill -9 through the WAL, a power loss may take it back): for renames of
 * pending files, which rsync does once per file. */
int journal_apply_ex(struct meta_db *db, const char *repo_key, const char *branch,
                     const struct journal_op *adds, size_t n_add, int64_t *add_ids,
                     const int64_t *remove_ids, size_t n_remove, bool durable)
    __attribute__((warn_unused_result));

/* ---- local overlay ------------------------------------------------------ */

enum overlay_field {
    OVERLAY_MODE = 1u << 0,  /* mode is set */
    OVERLAY_OWNER = 1u << 1, /* uid and gid are set */
    OVERLAY_MTIME = 1u << 2, /* mtime_sec/mtime_nsec are set */
};

struct overlay_entry {
    char *path;          /* repo path (filled by get/list; read by put) */
    unsigned fields;     /* OVERLAY_* bits: which attributes are meaningful */
    uint32_t mode;       /* permission bits (and type bits if the caller wants) */
    uint32_t uid, gid;
    int64_t mtime_sec;
    int32_t mtime_nsec;
    bool is_dir;           /* a directory made locally (mkdir), kept until a file lands in it */
    bool is_local_pending; /* a file that exists only in the journal so far */
};

struct overlay_entries {
    struct overlay_entry *v;
    size_t n, cap;
};

/* 0 and *out filled, or -ENOENT. */
int overlay_get(struct meta_db *db, const char *repo_key, const char *branch, const char *path,
                struct overlay_entry *out) __attribute__((warn_unused_result));
/* Inserts or replaces the row of e->path. */
int overlay_put(struct meta_db *db, const char *repo_key, const char *branch,
                const struct overlay_entry *e) __attribute__((warn_unused_result));
/* Like overlay_put, but committed with synchronous=NORMAL: the row survives
 * kill -9 of the daemon (WAL), only a power loss may take the last ones
 * back.  For chmod/chown/utimens, which otherwise cost an fsync each
 * (rsync -a does two or three per file).  Added by the write path
 * (cache/journal_apply.c). */
int overlay_put_attrs(struct meta_db *db, const char *repo_key, const char *branch,
                      const struct overlay_entry *e) __attribute__((warn_unused_result));
/* Moves the attribute row of ONE file from old_path to new_path (replacing
 * new_path's row), synchronous=NORMAL like overlay_put_attrs.  Added by the
 * write path for rename of files; directories use overlay_rename. */
int overlay_rename_file_attrs(struct meta_db *db, const char *repo_key, const char *branch,
                              const char *old_path, const char *new_path)
    __attribute__((warn_unused_result));
/* Deletes path (and with `recursive`, everything under path + "/").
 * Deleting a path that has no row is not an error. */
int overlay_delete(struct meta_db *db, const char *repo_key, const char *branch,
                   const char *path, bool recursive);
/* Moves path and everything under path + "/" to new_path. */
int overlay_rename(struct meta_db *db, const char *repo_key, const char *branch,
                   const char *old_path, const char *new_path);
/* The rows whose parent directory is `dir` ("" = root), by path, appended. */
int overlay_list_dir(struct meta_db *db, const char *repo_key, const char *branch,
                     const char *dir, struct overlay_entries *out)
    __attribute__((warn_unused_result));
void overlay_entry_clear(struct overlay_entry *e);
void overlay_entries_free(struct overlay_entries *list);

#endif
