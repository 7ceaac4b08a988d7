/* fuse_ll.h — the one place fs/ picks the libfuse API level.
 * Every fs/ file includes this instead of <fuse_lowlevel.h> so all of them
 * agree on FUSE_USE_VERSION (3.14: fuse_loop_cfg_*, max_threads). */
#ifndef HUBMOUNT_FS_FUSE_LL_H
#define HUBMOUNT_FS_FUSE_LL_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>

/* A namespace mount (fs/namespace.c) serves many repos from one session.
 * The handlers of fs/ find the mount_state of the repo a request is about
 * with fuse_req_userdata(), which fs/ redefines here: while the namespace
 * layer forwards a request to a repo's handler it is that repo's state
 * (fs/route.c), otherwise the session's userdata as libfuse has it.  So the
 * read and write handlers serve one repo or many without knowing which. */
void *hm_req_userdata(fuse_req_t req);
#define fuse_req_userdata(req) hm_req_userdata(req)

#endif
