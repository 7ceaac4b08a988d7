/* mount_state.h — everything one mount knows: which repo and revision,
 * which commit it shows now, who we are, and the shared services (Hub
 * client, metadata and content caches, inode table, reader).
 *
 * One struct mount_state per process; FUSE handlers reach it through
 * fuse_req_userdata().  Fields above the "mutable" line are set before the
 * session starts and never change.  The current commit changes when the
 * branch poller sees the branch move (or when the write path commits): read
 * it with ms_commit_get(), which copies it under commit_lock.
 *
 * Lock order: see fs/node.h (switch_lock -> commit_lock -> node table ->
 * reader). */
#ifndef HUBMOUNT_FS_MOUNT_STATE_H
#define HUBMOUNT_FS_MOUNT_STATE_H

#include "fuse_ll.h"
#include "hub.h"
#include "node.h"
#include "options.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct meta_db;
struct blocks;
struct reader;
struct hfcache;

/* Hooks the write path installs (fs/ops_write.c) so the read path's
 * handlers see local state.  All may be NULL (read-only build or mount).
 * They are called WITHOUT any fs/ lock held. */
struct hm_fh;

struct hm_write_hooks {
    void *ctx;
    /* open(2) of a LOCAL node (any flags), or with write access / O_TRUNC
     * on a writable mount after the read path has ruled out EROFS/EACCES.
     * Must reply to req exactly once (fuse_reply_open or fuse_reply_err);
     * fi->fh must point at a struct whose first member is struct hm_fh
     * with kind HM_FH_WRITE (fs/ops.h). */
    void (*open)(void *ctx, fuse_req_t req, const struct node_info *ni,
                 struct fuse_file_info *fi);
    /* read / release of an HM_FH_WRITE handle (the read path's handlers
     * dispatch here); must reply exactly once. */
    void (*read)(void *ctx, fuse_req_t req, struct hm_fh *fh, size_t size, off_t off);
    void (*release)(void *ctx, fuse_req_t req, struct hm_fh *fh);
    /* Local knowledge about `path`: 0 and *out when it exists locally
     * (staged/pending file, local dir), -ENOENT when it was deleted locally
     * (hide the commit's entry), -EAGAIN when nothing is known locally. */
    int (*lookup)(void *ctx, const char *path, struct node_local *out);
    /* The local children of directory `dir`: add(arg, name, attrs) for
     * each one that exists locally, add(arg, name, NULL) for each one
     * deleted locally.  Stop and return add's error if it fails. */
    int (*list)(void *ctx, const char *dir,
                int (*add)(void *arg, const char *name, const struct node_local *l),
                void *arg);
    /* The mount now shows `new_commit` (the branch moved). */
    void (*commit_changed)(void *ctx, const char *old_commit, const char *new_commit);
    /* Attributes set locally (chmod, utimens) on a REMOTE node's path:
     * overwrite *perm / *mtime when the overlay has them (added by the
     * write path so cp -a / rsync -a see their times after the commit). */
    void (*attrs)(void *ctx, const char *path, mode_t *perm, int64_t *mtime);
    /* Text of the user.hub.status / user.hub.sync attributes (`hubmount
     * status`, `hubmount sync`; what = "status" or "sync"): 0 or -errno;
     * added by the write path. */
    int (*status)(void *ctx, const char *what, char *buf, size_t cap);
};

struct mount_state {
    struct hm_options *opt;
    struct hub_source src;
    char repo_key[300];   /* "model/ns/name" (meta.h) */
    char revision[256];   /* as mounted ("main" when none was given) */
    char endpoint[512];   /* no trailing '/' */
    bool is_branch;       /* the revision moves: poll it */
    bool read_only;       /* tag / commit sha / -o ro: EROFS */
    bool can_write;       /* the token may commit here (whoami) */
    struct hub_identity ident;
    struct hub_client *hub;
    struct meta_db *meta;
    struct blocks *blocks;
    struct node_table *nodes;
    struct reader *reader;
    struct hfcache *hf;   /* Hugging Face cache to reuse (fs/hfcache.h), may be NULL */
    struct fuse_session *se;
    uid_t uid;
    gid_t gid;
    double entry_timeout; /* seconds the kernel may trust a name */
    double attr_timeout;  /* ... and attributes */
    struct hm_write_hooks hooks;
    bool gated;           /* content may need a grant (metadata never does) */

    /* ---- mutable ---- */
    pthread_mutex_t commit_lock; /* protects commit, commit_date, content_ok */
    char commit[HUB_SHA1_HEX];
    int64_t commit_date;
    bool content_ok;      /* gated repo: one content request has succeeded */

    /* Held by the poller while it switches commits, and by the write path
     * while it publishes its own commit, so the two never interleave. */
    pthread_mutex_t switch_lock;

    /* branch poller (fs/poller.c) */
    pthread_t poll_thread;
    bool poll_running;
    pthread_mutex_t poll_lock; /* protects poll_stop; poll_cv waits on it */
    pthread_cond_t poll_cv;
    bool poll_stop;
};

/* Zero + locks.  ms_destroy frees what ms owns (not opt). */
void ms_init(struct mount_state *ms);
void ms_destroy(struct mount_state *ms);

void ms_commit_get(struct mount_state *ms, char out[HUB_SHA1_HEX], int64_t *date);
void ms_commit_set(struct mount_state *ms, const char *commit, int64_t date);

/* May a handler change things here?  false => EROFS (read_only) or
 * EACCES (!can_write); see ms_write_errno(). */
bool ms_writable(const struct mount_state *ms);
/* 0 if writes may proceed, else EROFS or EACCES (positive). */
int ms_write_errno(const struct mount_state *ms);

/* Opens the caches under ms->opt->cache_dir (0700) and the inode table.
 * Set ms->opt first.  Prints one line to stderr on failure. */
int ms_open_caches(struct mount_state *ms) __attribute__((warn_unused_result));
/* Start-up, after ms_open_caches: token, identity, repo and revision
 * checks, then the reader.  Prints one line to stderr and returns an enum
 * hm_exit code on failure (0 on success).  Called BEFORE daemonizing. */
int ms_connect(struct mount_state *ms, struct hm_options *opt, const char *source);
/* The two halves of ms_connect, for namespace mounts (fs/namespace.c),
 * whose repos share one Hub client and identity and open lazily.
 * ms_connect_hub: endpoint, token, Hub client, whoami; prints one line and
 * returns an enum hm_exit code.  ms_repo_open: with ms->src, opt, hub,
 * ident, meta and blocks set, resolves the revision and makes the reader
 * (reader_workers 0 = default); prints nothing and returns 0, -ENOENT (no
 * such repo, or invisible), -ENXIO (no such revision), -ENETDOWN (offline
 * and not cached) or another -errno. */
int ms_connect_hub(struct mount_state *ms, struct hm_options *opt);
int ms_repo_open(struct mount_state *ms, unsigned reader_workers)
    __attribute__((warn_unused_result));

/* Branch poller (fs/poller.c): started after daemonizing. */
int poller_start(struct mount_state *ms) __attribute__((warn_unused_result));
void poller_stop(struct mount_state *ms);
/* Switch the mount to `commit` (the branch moved): lists the visited
 * directories at the new commit, publishes it, and invalidates the kernel's
 * names and inodes that changed.  Used by the poller and by the write path
 * after its own commit. */
int poller_switch(struct mount_state *ms, const char *commit, int64_t date);

/* Raise the kernel read-ahead window of the mount (fs/readahead.c);
 * best effort, root only.  Call after mounting, before the loop. */
void hm_tune_readahead(const char *mountpoint, unsigned kb);

#endif
