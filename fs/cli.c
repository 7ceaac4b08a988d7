/* cli.c — the status and sync commands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

static int cli_status(const char *mnt)
{
    char buf[4096];
    ssize_t n = getxattr(mnt, "user.hub.status", buf, sizeof(buf) - 1);
    if (n < 0) {
        if (errno == ENODATA || errno == ENOTSUP)
            fprintf(stderr, "hubmount: %s is not a writable hubmount branch mount\n", mnt);
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
        (void)cli_status(mnt);
        return 1;
    }
    return 0;
}

int hm_cli(const char *command, const char *mountpoint)
{
    if (strcmp(command, "status") == 0)
        return cli_status(mountpoint);
    if (strcmp(command, "sync") == 0)
        return cli_sync(mountpoint);
    fprintf(stderr, "hubmount: unknown command %s\n", command);
    return 1;
}
