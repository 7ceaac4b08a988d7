/* write_i.h — private to the write path's fs files (ops_write*.c): the
 * per-mount write state and the table of files open for writing.
 *
 * A file open for writing has ONE struct wfile however many handles share
 * it (keyed by inode): one staging file, one descriptor, the current size.
 * Its content reaches the journal at flush (close(2)) or fsync — not
 * before, so the commit worker never sees a file while it is half
 * written.  After that the staging file belongs to the journal: a later
 * write through a still-open handle first copies it to a new staging file
 * ("journaled" below), so a commit in flight never uploads a file that is
 * changing under it.
 *
 * Locking: hm_write.mu protects the wfile table and every wfile field.  It
 * is taken before the pending index (pending -> meta) and never held across
 * a Hub request, a FUSE reply or a node-table call.  Lock order of fs/:
 * commit_worker.mu and hm_write.mu are independent (neither calls out to
 * the other while held). */
#ifndef HUBMOUNT_FS_WRITE_I_H
#define HUBMOUNT_FS_WRITE_I_H

#include "commit_worker.h"
#include "fuse_ll.h"
#include "mount_state.h"
#include "ops.h"
#include "pending.h"
#include "reader.h"
#include "staging.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* How long close-time waits may block a FUSE thread. */
#define HM_WRITE_FSYNC_TIMEOUT_MS (30u * 60u * 1000u) /* fsync/syncfs: the commit itself */
/* Unmount / SIGTERM: how long the daemon waits for the last commit before
 * exiting anyway (the journal keeps what is left for the next mount). */
#define HM_WRITE_DRAIN_TIMEOUT_MS (10u * 60u * 1000u)

#define HM_DEFAULT_FILE_PERM 0644
#define HM_DEFAULT_DIR_PERM 0755

struct wfile {
    struct wfile *next;
    fuse_ino_t ino;
    char *path;               /* current repo path (renames update it) */
    char staging[PATH_MAX];
    int fd;
    uint64_t size;
    mode_t perm;              /* 0 = default */
    int64_t mtime;
    unsigned handles;         /* open handles sharing it */
    unsigned writers;         /* of which opened for writing */
    bool dirty;               /* content not yet in the journal */
    bool journaled;           /* the staging file now belongs to the journal */
    bool unlinked;            /* its path was unlinked: never journal it */
    bool had_remote;          /* COW base was a remote entry (for switching back) */
    struct hub_entry base;    /* that entry (base.path NULL) */
    char base_commit[HUB_SHA1_HEX];
    int error;                /* sticky write error (e.g. ENOSPC), positive */
    uint64_t wb_upto;         /* writeback to disk started for [0, wb_upto) (see hw_write) */
    bool extended;            /* sized by a truncate: on disk its size may come before its
                                 bytes, so the start-up size check cannot catch a power
                                 loss; journaling it flushes it (hw_journal_locked) */
};

/* Where the bytes of an LFS object reused by a rename can be read until
 * that rename is committed (memory only: after a restart such a file is
 * readable again once its commit lands). */
struct reuse_src {
    struct reuse_src *next;
    char sha256[HUB_SHA256_HEX];
    uint64_t size;
    char *path;
    char commit[HUB_SHA1_HEX];
};

struct hm_write_fh;

struct hm_write {
    struct mount_state *ms;
    struct staging *staging;
    struct pending *pending;
    struct commit_worker *worker;
    pthread_mutex_t mu; /* protects wfiles and every wfile */
    struct wfile *wfiles;
    struct reuse_src *reuse; /* protected by mu */
    struct hm_write_fh *fhs;  /* open handles (protected by mu), see hm_write_fh */
    bool durable_close;       /* -o durable_close: every close flushes to disk */
};

/* Handle behind fi->fh for files handled by the write path. */
struct hm_write_fh {
    struct hm_fh base;  /* kind HM_FH_WRITE */
    struct wfile *wf;   /* shared writable state, or NULL */
    int rfd;            /* read-only handle on a pending file's staging copy, or -1 */
    struct reader_file *rf; /* read-only handle on committed content, or NULL */
    bool writable;
    bool error_reported; /* a commit failure was returned through this handle */
    struct hm_write_fh *prev, *next; /* hm_write.fhs: freed at exit if never released */
};

static inline struct hm_write *HW(fuse_req_t req)
{
    struct mount_state *ms = fuse_req_userdata(req);
    return ms->hooks.ctx;
}

/* ---- shared helpers (ops_write.c) ------------------------------------------- */

/* The mount's view of `path` for the write path: *kind 0 absent, 1 file,
 * 2 directory; *remote_here = the current commit has it and it is not
 * deleted locally; *e = its remote entry when remote_here (clear with
 * meta_entry_clear).  0 or -errno (never -ENOENT: absence is *kind 0). */
int hw_resolve(struct hm_write *hw, const char *path, int *kind, bool *remote_here,
               struct hub_entry *e);
/* Does directory `path` have any child in the mount's view? */
int hw_dir_nonempty(struct hm_write *hw, const char *path, bool *nonempty);
/* Journal a wfile's current content (flush/fsync/last release): record it
 * (the journal row survives kill -9), and with `sync`, -o durable_close or
 * a truncate-sized file (wfile.extended) first fsync the staging file.
 * Caller holds hw->mu. */
int hw_journal_locked(struct hm_write *hw, struct wfile *wf, bool sync);
/* Wfile by inode / by path (caller holds hw->mu). */
struct wfile *hw_wfile_by_ino(struct hm_write *hw, fuse_ino_t ino);
struct wfile *hw_wfile_by_path(struct hm_write *hw, const char *path);
/* Stage the content of a committed regular file at a new path (rename of
 * a non-LFS file: the bytes travel again, they are small). */
int hw_copy_remote(struct hm_write *hw, const char *path, const struct hub_entry *e,
                   const char *commit, const char *new_path);
/* Remember / open the committed source of a reused LFS object. */
void hw_reuse_note(struct hm_write *hw, const struct hub_entry *e, const char *path,
                   const char *commit);
int hw_reuse_open(struct hm_write *hw, const char *sha256, uint64_t size,
                  struct reader_file **out);
/* Refreshes the kernel-visible node of `path` as a local file/dir. */
void hw_node_refresh(struct hm_write *hw, const char *path);

/* ---- namespace handlers (ops_write_ns.c) -------------------------------------- */
void hw_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void hw_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void hw_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void hw_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
               const char *newname, unsigned int flags);
void hw_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void hw_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);

/* Full path of parent/name into *out (malloc'd); validates the name. */
int hw_child_path(struct mount_state *ms, fuse_ino_t parent, const char *name, char **out);

#endif
