/* status.h — the text of `hubmount status` (user.hub.status) and of
 * `hubmount status --json` (user.hub.status.json) for one mount.
 *
 * Text: one "key: value" line per fact (repo, head, mode, pending,
 * failed, committing, uploading while an upload runs, commits, last
 * error).  JSON: one object, documented in docs/hubmount.1 (STATUS). */
#ifndef HUBMOUNT_FS_STATUS_H
#define HUBMOUNT_FS_STATUS_H

#include "commit_worker.h"
#include "mount_state.h"

#include <stdbool.h>
#include <stddef.h>

/* cw is NULL for a mount without a commit worker (read-only, tag,
 * offline).  0, or -ERANGE when it does not fit, -ENOMEM. */
int hm_status_format(struct mount_state *ms, const struct commit_worker_status *cw, bool json,
                     char *buf, size_t cap) __attribute__((warn_unused_result));

#endif
