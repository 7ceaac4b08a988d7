/* tree.h — the commit's tree as the fs layer asks for it: one entry or one
 * directory level at a commit, from the SQLite cache when it has it, else
 * from the Hub (and then stored, since everything keyed by a commit sha is
 * immutable).
 *
 * A directory level is listed at most once per commit per process even when
 * many threads ask at once (single flight).  Missing paths are answered
 * from the parent's listing (or cached as negative entries), so a warm
 * mount asks the Hub nothing. */
#ifndef HUBMOUNT_FS_TREE_H
#define HUBMOUNT_FS_TREE_H

#include "hub.h"

struct mount_state;

/* One entry of `commit`: 0 and *out (free with meta_entry_clear), -ENOENT,
 * -ENOTDIR (a parent is a file) or another -errno.  The root ("") is a
 * directory. */
int tree_entry(struct mount_state *ms, const char *commit, const char *path,
               struct hub_entry *out) __attribute__((warn_unused_result));

/* One directory level ("" = root) of `commit`; -ENOENT if no such dir. */
int tree_list(struct mount_state *ms, const char *commit, const char *dir,
              struct hub_entries *out) __attribute__((warn_unused_result));

/* Last component of an entry path. */
const char *tree_basename(const char *path);

#endif
