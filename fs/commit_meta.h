/* commit_meta.h — after our own commit: the new commit's directory
 * listings, derived from the parent's cached listings plus what the commit
 * did, so the mount can switch to it without listing the repo again.
 *
 * Only listings that can be derived exactly are written: a directory the
 * commit touched is written when its parent-commit listing is cached (or
 * it is new), using `fresh` — paths-info at the new commit for every added
 * path and every touched directory — for the entries that changed; an
 * untouched directory in `carry` is copied as is.  Everything else is
 * listed lazily from the Hub as before. */
#ifndef HUBMOUNT_FS_COMMIT_META_H
#define HUBMOUNT_FS_COMMIT_META_H

#include "hub.h"

#include <stddef.h>

struct meta_db;

/* The directories a commit touches: every ancestor ("" included) of every
 * operation's path, excluding the operation paths themselves.  Appends
 * malloc'd strings (no duplicates). */
int commit_meta_touched_dirs(const struct hub_commit_op *ops, size_t n_ops, char ***dirs,
                             size_t *n_dirs) __attribute__((warn_unused_result));
void commit_meta_free_dirs(char **dirs, size_t n);

/* Writes what it can (see above); returns how many listings it wrote, or
 * -errno on a database error. */
int commit_meta_derive(struct meta_db *db, const char *repo_key, const char *parent,
                       const char *commit, const struct hub_commit_op *ops, size_t n_ops,
                       const struct hub_entries *fresh, char *const *carry, size_t n_carry);

#endif
