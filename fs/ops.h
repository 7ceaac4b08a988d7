/* ops.h — the FUSE low-level handlers of hubmount and the helpers the
 * write path reuses.
 *
 * main.c builds one struct fuse_lowlevel_ops: hm_ops_read_fill() installs
 * every read-side handler; the write path (fs/ops_write.c) then installs
 * its own (write, create, mkdir, unlink, rename, setattr, flush, fsync,
 * ...) with hm_ops_write_fill() and hooks itself into the read handlers
 * through mount_state.hooks (open for writing, local nodes, readdir
 * merge).  Every fi->fh points at a struct starting with struct hm_fh so
 * the shared handlers (read, release) can tell whose handle it is.
 *
 * Handler pattern: a helper does the work and returns 0 or -errno; the
 * handler replies exactly once. */
#ifndef HUBMOUNT_FS_OPS_H
#define HUBMOUNT_FS_OPS_H

#include "fuse_ll.h"
#include "node.h"

#include <sys/stat.h>

struct mount_state;

enum hm_fh_kind { HM_FH_READ = 1, HM_FH_DIR = 2, HM_FH_WRITE = 3 };

/* First member of every struct fi->fh points at. */
struct hm_fh {
    enum hm_fh_kind kind;
    fuse_ino_t ino;
};

void hm_ops_read_fill(struct fuse_lowlevel_ops *ops);
/* After the session ended: free read handles the kernel never released
 * (the loop stopped by a signal with files open).  Before reader_free. */
void hm_ops_read_cleanup(void);

/* struct stat of a node as this mount shows it (mode from the mount's
 * writability or the local overlay, owner = mounting user, mtime = entry
 * time or the commit date, st_blocks = ceil(size / 512)). */
void hm_stat_fill(struct mount_state *ms, const struct node_info *ni, struct stat *st);

/* Resolve `path` (local overlay first, then the current commit) to a node
 * and fill *e for fuse_reply_entry/fuse_reply_create; adds one lookup to
 * the node.  Returns 0, -ENOENT (e->ino = 0, cacheable negative entry) or
 * another -errno. */
int hm_lookup_path(struct mount_state *ms, const char *path, struct fuse_entry_param *e)
    __attribute__((warn_unused_result));

/* Answer a getxattr/listxattr request with `len` bytes of `val`: the length
 * for a size query (size 0), ERANGE when `size` is too small. */
void hm_reply_xattr(fuse_req_t req, const void *val, size_t len, size_t size);

/* Fill *e for a node the caller has already referenced (node_ref_*). */
int hm_entry_fill(struct mount_state *ms, fuse_ino_t ino, struct fuse_entry_param *e)
    __attribute__((warn_unused_result));

#endif
