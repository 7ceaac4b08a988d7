/* noise.h — names that file managers and other desktops create on every
 * filesystem they touch (trash folders, Finder/Windows/KDE metadata).
 * They never reach a commit: creating one fails with EPERM (so a file
 * manager offers a permanent delete instead of a move to trash), and a
 * lookup of one is answered from the metadata cache alone, never from the
 * network.  See docs/namespace.md, "File-manager noise". */
#ifndef HUBMOUNT_FS_NOISE_H
#define HUBMOUNT_FS_NOISE_H

#include "fuse_ll.h"

#include <stdbool.h>

/* .Trash, .Trash-*, .DS_Store, ._*, Thumbs.db, desktop.ini, .directory,
 * .hidden (case-insensitive where the platform that makes them is). */
bool hm_noise_name(const char *name);

/* Wraps lookup, create, mknod, mkdir, symlink, link and rename of ops
 * (the handlers of one repo mount) with the noise rules.  Call once, after
 * every other handler is installed. */
void hm_noise_wrap(struct fuse_lowlevel_ops *ops);

#endif
