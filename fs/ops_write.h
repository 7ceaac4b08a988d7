/* ops_write.h — the write path as main.c sees it.
 *
 * hm_write_init() (after ms_connect, before the session): opens the
 * staging area and the branch's journal and installs the hooks through
 * which the read path shows local state.  Tag, commit and -o ro mounts get
 * nothing (the read path answers EROFS).  hm_ops_write_fill() adds the
 * write handlers.  hm_write_start() (after daemonizing) starts the commit
 * worker; hm_write_stop() (after the session ends, unmount or SIGTERM)
 * commits what is pending, waiting at most HM_WRITE_DRAIN_TIMEOUT_MS
 * (fs/write_i.h: 10 minutes), and returns 0 or the -errno of what could
 * not be committed (it stays in the journal for the next mount). */
#ifndef HUBMOUNT_FS_OPS_WRITE_H
#define HUBMOUNT_FS_OPS_WRITE_H

#include "fuse_ll.h"

struct mount_state;

int hm_write_init(struct mount_state *ms) __attribute__((warn_unused_result));
void hm_ops_write_fill(struct fuse_lowlevel_ops *ops);
int hm_write_start(struct mount_state *ms) __attribute__((warn_unused_result));
int hm_write_stop(struct mount_state *ms);

#endif
