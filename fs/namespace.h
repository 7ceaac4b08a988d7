/* namespace.h — namespace and Hub mounts as main.c sees them
 * (fs/namespace.c; design in docs/namespace.md).
 *
 *   hubmount acme MNT   MNT/{models,datasets,spaces}/<repo>[@rev]/...
 *   hubmount hub MNT    MNT/{models,datasets,spaces}/<namespace>/<repo>[@rev]/...
 *
 * Order in main: hm_ns_connect instead of ms_connect; the repo handlers
 * are filled as for one repo, then hm_ns_wrap puts the namespace layer in
 * front of them; hm_ns_session_end after the session loop, hm_ns_free
 * (commits what is pending in every repo) before ms_destroy. */
#ifndef HUBMOUNT_FS_NAMESPACE_H
#define HUBMOUNT_FS_NAMESPACE_H

#include "fuse_ll.h"

#include <stdbool.h>

struct mount_state;
struct hm_options;

/* Does SOURCE name a namespace ("acme", "acme/") or the Hub ("hub")? */
bool hm_ns_source(const char *source);

/* Token, Hub client and whoami into tmpl (shared by every repo mount);
 * prints one line and returns an enum hm_exit code on failure. */
int hm_ns_connect(struct mount_state *tmpl, struct hm_options *opt, const char *source);

/* *ops holds the repo handlers; afterwards it holds the namespace layer's,
 * which forward to them. */
void hm_ns_wrap(struct fuse_lowlevel_ops *ops);

/* After the session loop: stop the repo mounts' pollers, forget the session. */
void hm_ns_session_end(void);
/* Commit what is pending in every repo mount and free everything: 0, the
 * first -errno, or -ETIMEDOUT (uploads still run: exit without freeing). */
int hm_ns_free(void);

#endif
