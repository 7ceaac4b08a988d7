/* cli.h — `hubmount status [--json] MOUNTPOINT` and `hubmount sync MOUNTPOINT`:
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

#include <stdbool.h>

/* Is argv a command line of these commands (argv[1] status or sync)? */
bool hm_cli_command(int argc, char **argv);
/* Runs the command of argv (as given to main); returns the process exit
 * code.  status --json prints user.hub.status.json: one JSON object. */
int hm_cli(int argc, char **argv);

#endif
