/* cli.c — the status and sync commands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

static int cli_status(const char *mnt, bool json)
{
    char buf[4096];
    ssize_t n = getxattr(mnt, json ? "user.hub.status.json" : "user.hub.status", buf,
                         sizeof(buf) - 1);
    if (n < 0) {
        if (errno == ENODATA || errno == ENOTSUP)
            fprintf(stderr, "hubmount: %s is not a hubmount repo mount (in a namespace mount, "
                            "ask a repo directory)\n",
                    mnt);
        else
            fprintf(stderr, "hubmount: %s: %s\n", mnt, strerror(errno));
        return 1;
    }
    buf[n] = '\0';
    fputs(buf, stdout);
    if (n > 0 && buf[n - 1] != '\n')
        fputc('\n', stdout);
    return 0;
}

static int cli_sync(const char *mnt)
{
    /* getxattr, not fsync: the kernel takes no directory lock for it, so the
     * daemon may publish the commit while we wait for it */
    char buf[4096];
    ssize_t n = getxattr(mnt, "user.hub.sync", buf, sizeof(buf) - 1);
    if (n < 0) {
        int err = errno;
        if (err == ENODATA || err == ENOTSUP) {
            fprintf(stderr, "hubmount: %s is not a writable hubmount branch mount\n", mnt);
            return 1;
        }
        fprintf(stderr, "hubmount: sync of %s failed: %s (the changes stay pending)\n", mnt,
                strerror(err));
        (void)cli_status(mnt, false);
        return 1;
    }
    return 0;
}

bool hm_cli_command(int argc, char **argv)
{
    return argc >= 3 && (strcmp(argv[1], "status") == 0 || strcmp(argv[1], "sync") == 0);
}

int hm_cli(int argc, char **argv)
{
    const char *command = argv[1], *mnt = NULL;
    bool json = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 && strcmp(command, "status") == 0) {
            json = true;
        } else if (!mnt && argv[i][0] != '-') {
            mnt = argv[i];
        } else {
            fprintf(stderr, "usage: hubmount status [--json] MOUNTPOINT | hubmount sync "
                            "MOUNTPOINT\n");
            return 1;
        }
    }
    if (!mnt) {
        fprintf(stderr, "hubmount %s: no mount point given\n", command);
        return 1;
    }
    if (strcmp(command, "status") == 0)
        return cli_status(mnt, json);
    return cli_sync(mnt);
}
