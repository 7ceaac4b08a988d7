/* fuse_ll.h — the one place fs/ picks the libfuse API level.
 * Every fs/ file includes this instead of <fuse_lowlevel.h> so all of them
 * agree on FUSE_USE_VERSION (3.14: fuse_loop_cfg_*, max_threads). */
#ifndef HUBMOUNT_FS_FUSE_LL_H
#define HUBMOUNT_FS_FUSE_LL_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>

#endif
