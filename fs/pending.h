/* pending.h — the pending changes of one mounted branch: an in-memory
 * index of the durable journal (include/journal.h).
 *
 * The journal is the truth (it survives kill -9); this index answers the
 * questions the fs layer asks on every lookup and readdir ("is this path a
 * pending file? deleted locally? a directory only because pending files
 * live below it?") without SQLite scans, and hands the commit worker its
 * batches.  Every mutation writes the journal first (one transaction) and then updates memory, so memory never claims more than
 * the disk holds.
 *
 * At most one current entry per path among {ADD, DELETE_FILE}, and at most
 * one DELETE_FOLDER per path.  A newer operation on a path supersedes the
 * older one: its journal row is dropped (and its staging file removed),
 * unless the commit worker holds it in an attempt ("inflight"); then the
 * worker settles it when the attempt ends (pending_batch_end).  Replaying
 * the journal after a restart applies the same rule in id order.
 *
 * Locking: one mutex per index, held across the journal write of a
 * mutation (so two mutations of one path cannot reorder between disk and
 * memory).  Lock order: pending -> meta (SQLite's own leaf lock).  Nothing
 * here calls the Hub or fs/ node functions.
 *
 * Functions return 0 or a negative errno. */
#ifndef HUBMOUNT_FS_PENDING_H
#define HUBMOUNT_FS_PENDING_H

#include "hub.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct meta_db;
struct staging;

struct pending_entry {
    int64_t id;                  /* journal row */
    enum hub_op_kind kind;
    char *path;
    char *staging;               /* ADD from a local file; NULL when reusing an LFS object */
    uint64_t size;               /* ADD */
    char sha256[HUB_SHA256_HEX]; /* ADD reusing an LFS object ("" otherwise) */
    int64_t created_at;          /* unix seconds */
    bool inflight;               /* taken into a commit attempt */
    bool unsure;                 /* was COMMITTING when the journal was loaded: the
                                    attempt's outcome is unknown (check the head) */
    int error;                   /* positive errno of the last failed attempt, 0 if none */
};
void pending_entry_clear(struct pending_entry *e);
void pending_entries_free(struct pending_entry *v, size_t n);

struct pending;

/* Loads (and compacts) the branch's journal. */
int pending_open(struct meta_db *db, struct staging *st, const char *repo_key,
                 const char *branch, struct pending **out) __attribute__((warn_unused_result));
void pending_free(struct pending *p);
/* Whether mutations wait for the journal to reach the disk (synchronous=FULL,
 * survives a power loss) or only for the WAL write (survives kill -9).
 * Default: true.  The write path follows -o durable_close. */
void pending_set_durable(struct pending *p, bool durable);

/* ---- questions of the fs layer ---------------------------------------------- */

enum pending_state {
    PENDING_UNKNOWN = 0, /* nothing local: ask the commit's tree */
    PENDING_FILE,        /* a pending add (copied to *out when out != NULL) */
    PENDING_DIR,         /* pending adds live below it: a directory */
    PENDING_DELETED,     /* deleted locally (the path, or a folder above it) */
};
enum pending_state pending_stat(struct pending *p, const char *path, struct pending_entry *out);

/* The local children of `dir` ("" = root): fn(arg, name, state, entry)
 * with state FILE (entry set), DIR (entry NULL) or DELETED (entry NULL) for
 * each name; names below a deleted folder that are not re-created are not
 * reported (the caller hides the folder's remote content by asking
 * pending_stat(dir)).  Stops at and returns fn's first error. */
int pending_list(struct pending *p, const char *dir,
                 int (*fn)(void *arg, const char *name, enum pending_state state,
                           const struct pending_entry *e),
                 void *arg);

/* True when `path` or a folder above it has a pending DELETE_FOLDER. */
bool pending_under_deleted_folder(struct pending *p, const char *path);
/* Error of the last failed commit attempt touching `path` (a pending add
 * or delete at it), as a positive errno; 0 if none. */
int pending_error(struct pending *p, const char *path);

/* ---- mutations (in the journal before they return) ----------------------------- */

/* A closed file: ADD path from `staging` (its final content), size bytes. */
int pending_add_file(struct pending *p, const char *path, const char *staging, uint64_t size)
    __attribute__((warn_unused_result));
/* ADD path reusing an LFS object already on the Hub (rename of a committed
 * LFS file: no upload). */
int pending_add_reuse(struct pending *p, const char *path, const char *sha256, uint64_t size)
    __attribute__((warn_unused_result));
/* unlink/rmdir/rmtree: drops pending adds at path (folder: below path) and
 * records a delete when the remote commit has something there
 * (remote_exists) or an attempt in flight might put something there. */
int pending_delete(struct pending *p, const char *path, bool folder, bool remote_exists)
    __attribute__((warn_unused_result));
/* rename of pending files: every pending add at old_path (and below it)
 * moves to new_path.  *moved = how many.  -EBUSY if one of them is in a
 * commit attempt right now (the caller waits for the worker and retries).
 * Deletes are not moved: they name remote paths. */
int pending_rename(struct pending *p, const char *old_path, const char *new_path, size_t *moved)
    __attribute__((warn_unused_result));

/* ---- the commit worker --------------------------------------------------------- */

/* Copies of every entry not already in flight, oldest first, now marked
 * inflight (memory) and COMMITTING (journal).  *n = 0 when nothing waits. */
int pending_take(struct pending *p, struct pending_entry **out, size_t *n)
    __attribute__((warn_unused_result));
/* An attempt ended.  err == 0: the rows are DONE in `commit` and leave the
 * index (the caller disposes of their staging files).  err < 0: rows that
 * are still current become FAILED (kept, retried, reported by
 * pending_error); rows superseded meanwhile are dropped with their staging
 * files.  `ids` may be a subset of what pending_take returned. */
int pending_batch_end(struct pending *p, const int64_t *ids, size_t n, int err,
                      const char *commit);

struct pending_stats {
    size_t n_ops;       /* current entries */
    size_t n_files;     /* of which adds */
    uint64_t bytes;     /* sum of add sizes */
    size_t n_failed;
    int last_error;     /* positive errno, 0 if none */
    int64_t oldest;     /* created_at of the oldest entry, 0 if none */
    size_t n_inflight;
};
void pending_get_stats(struct pending *p, struct pending_stats *out);
/* Bumped by every mutation (the worker's "something changed" signal). */
uint64_t pending_generation(struct pending *p);

#endif
