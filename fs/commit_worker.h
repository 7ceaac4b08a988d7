/* commit_worker.h — the thread that turns a branch's pending changes into
 * Hub commits.
 *
 * When: after the mount has been quiet for `delay_ms` (no write, close,
 * unlink, rename... reported through commit_worker_touch/notify), or once
 * the oldest pending change is `window_ms` old, whichever comes first; at
 * once for commit_worker_flush (fsync, syncfs, `hubmount sync`) and when
 * the worker stops (unmount drains).
 *
 * What: everything pending (fs/pending.h) becomes ONE commit on the
 * branch with parentCommit = the head the mount shows:
 *   deletes first (deletedFolder / deletedFile, only for paths the parent
 *   commit still has), then adds (staged files; LFS objects reused by
 *   renames: sha256 + size, no upload).
 * A stale parent (412 -> -ESTALE): the worker reads the branch head again,
 * re-checks its deletes against it and retries (at most max_rebase times).
 * Other clients' unrelated changes are kept (our operations touch only our
 * paths).  A path another client changed too: our version wins (last writer
 * wins), logged as a warning.
 *
 * Exactly once: before sending operations that were in an attempt whose
 * outcome is unknown (a restart found them COMMITTING, or the answer to a
 * commit was lost), the worker compares them with the branch head
 * (paths-info: LFS sha256 / git blob oid of the staged bytes; deleted paths
 * absent) and drops those already there.
 *
 * After success: the rows are DONE, the new commit's directory listings are
 * derived from the parent's cached ones plus our operations (no re-listing,
 * fs/commit_meta.c), the staged bytes move into the block cache, and the
 * hooks let the fs layer show the new commit.  After a failure the
 * operations stay pending (FAILED, with the errno, kept with their staged
 * files), are retried with backoff, and the errno is what flush returns.
 *
 * Locking: `mu` (internal) protects the schedule and flush state; it is
 * never held while calling the Hub, the journal or a hook.  Lock order:
 * commit_worker.mu -> pending -> meta. */
#ifndef HUBMOUNT_FS_COMMIT_WORKER_H
#define HUBMOUNT_FS_COMMIT_WORKER_H

#include "hub.h"
#include "pending.h"

#include <stdbool.h>
#include <stdint.h>

struct meta_db;
struct blocks;
struct staging;

#define COMMIT_DEFAULT_SUMMARY "hubmount: update %zu files"

struct commit_worker_hooks {
    void *ctx;
    /* The commit the mount shows now: parentCommit of the next commit.
     * NULL: the worker keeps the head itself (starting from `head`). */
    void (*head_get)(void *ctx, char out[HUB_SHA1_HEX]);
    /* Our commit `new_commit` (made on `parent`; parent != old_commit after
     * a rebase onto other clients' commits) is the branch head: show it.
     * Called while the committed paths are still in the pending index, so
     * they never disappear in between.  Flush waiters are still waiting:
     * the hook must not block on the kernel (see ops_write.c). */
    void (*publish)(void *ctx, const char *old_commit, const char *parent, const char *new_commit,
                    int64_t date);
    /* Paths that are plain entries of new_commit now (either list may miss
     * some if paths-info failed).  Called twice: first with the directories
     * the commit touched that exist in it, right after publish (the mount
     * shows new_commit, their rows are still pending); then, when the
     * committed paths left the pending index and their bytes are in the
     * block cache, with the files it added. */
    void (*settled)(void *ctx, const char *new_commit, const struct hub_entries *entries);
    /* Directories worth carrying over to the new commit's cache when our
     * commit did not touch them (the fs layer's visited directories).
     * Appends malloc'd paths; may be NULL. */
    int (*visited_dirs)(void *ctx, char ***dirs, size_t *n);
};

struct commit_worker_config {
    struct hub_ops hub;
    struct hub_source src;
    const char *branch;
    const char *repo_key;
    struct meta_db *db;       /* listings of new commits (may be NULL) */
    struct blocks *blocks;    /* staged bytes imported after commit (may be NULL) */
    struct staging *staging;
    struct pending *pending;
    const char *head;         /* initial head when hooks.head_get is NULL */
    unsigned delay_ms;        /* quiet period (0 = commit at once) */
    unsigned window_ms;       /* maximum wait of the oldest change */
    unsigned retry_min_ms;    /* first backoff after a failed attempt (0 = 2000) */
    unsigned retry_max_ms;    /* backoff cap (0 = 300000) */
    int max_rebase;           /* 412 retries per attempt (0 = 5) */
    const char *summary;      /* commit title; NULL = COMMIT_DEFAULT_SUMMARY */
    unsigned progress_s;      /* an upload progress log line this often (0 = none) */
    struct commit_worker_hooks hooks;
    /* The clocks of the schedule; NULL = the system's.  Tests inject fake
     * ones to step time instead of sleeping (then commit_worker_kick after
     * each step).  now_ms: monotonic ms (quiet period, backoff); wall_ms:
     * unix ms (the window counts from the pending changes' unix times). */
    int64_t (*now_ms)(void *clock_ctx);
    int64_t (*wall_ms)(void *clock_ctx);
    void *clock_ctx;
};

struct commit_worker;

int commit_worker_start(const struct commit_worker_config *cfg, struct commit_worker **out)
    __attribute__((warn_unused_result));
/* Drains (one last attempt if anything is pending, waiting at most
 * drain_ms), stops the thread, frees.  Returns the result of the drain:
 * 0, or the errno of a failed / unfinished attempt (-ETIMEDOUT; the rows
 * stay in the journal for the next mount).  After a timeout the worker
 * thread is left running detached until the process exits. */
int commit_worker_stop(struct commit_worker *w, unsigned drain_ms);

/* Activity on the mount (a write): postpones the quiet-period commit. */
void commit_worker_touch(struct commit_worker *w);
/* The pending set changed (close, unlink, rename...): touch + wake. */
void commit_worker_notify(struct commit_worker *w);

/* Keep the worker from STARTING an attempt (a running one goes on) while a
 * multi-step change is recorded (a folder rename), so one commit carries
 * all of it.  Calls nest; every hold needs an unhold. */
void commit_worker_hold(struct commit_worker *w);
void commit_worker_unhold(struct commit_worker *w);

/* Commit everything pending now and wait (at most timeout_ms) for the
 * result: 0, the attempt's -errno, or -ETIMEDOUT. */
int commit_worker_flush(struct commit_worker *w, unsigned timeout_ms);
/* Ask for a commit now without waiting for it (fsync of a directory: the
 * kernel holds the directory's lock while the request runs). */
void commit_worker_request_flush(struct commit_worker *w);
/* Make the worker look at its schedule again now (an injected clock moved)
 * and wait, at most timeout_ms, until it has: it is waiting again, and an
 * attempt the new time started has finished.  0 or -ETIMEDOUT. */
int commit_worker_kick(struct commit_worker *w, unsigned timeout_ms);
/* Wait until no attempt is in flight (a rename of a file being committed
 * waits for it).  0 or -ETIMEDOUT. */
int commit_worker_wait_idle(struct commit_worker *w, unsigned timeout_ms);

struct commit_worker_status {
    struct pending_stats pending;
    bool committing;              /* an attempt is running */
    uint64_t attempt_bytes;       /* bytes of staged files in the running attempt */
    int n_commits;                /* successful commits since start */
    char last_commit[HUB_SHA1_HEX];
    int64_t last_commit_time;     /* unix seconds */
    int last_error;               /* positive errno of the last failed attempt, 0 if the last succeeded */
    int64_t last_error_time;
    uint64_t upload_total;        /* LFS bytes being uploaded now (0: no upload running) */
    uint64_t upload_sent;         /* of those, sent so far */
    unsigned upload_files, upload_files_done;
};
void commit_worker_status(struct commit_worker *w, struct commit_worker_status *out);

/* The head the worker committed last (or its initial head). */
void commit_worker_head(struct commit_worker *w, char out[HUB_SHA1_HEX]);

#endif
