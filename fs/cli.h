/* cli.h — `hubmount status MOUNTPOINT` and `hubmount sync MOUNTPOINT`:
 * talk to a running mount through the filesystem itself, so no socket
 * or pid file is needed.
 *
 *   status  prints getxattr(MOUNTPOINT, "user.hub.status"): pending files,
 *           bytes, whether a commit is running, the last commit, the last
 *           error.
 *   sync    getxattr(MOUNTPOINT, "user.hub.sync"): the daemon commits
 *           everything pending now and answers with the commit's result
 *           (no directory lock is held meanwhile, unlike fsync of the
 *           directory); exit 0 on success, 1 with the error otherwise. */
#ifndef HUBMOUNT_FS_CLI_H
#define HUBMOUNT_FS_CLI_H

/* Runs the command; returns the process exit code. */
int hm_cli(const char *command, const char *mountpoint);

#endif
