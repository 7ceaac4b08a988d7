/* readahead.c — raise the kernel's read-ahead for our mount.
 *
 * The kernel gives a FUSE mount the block-device default (128 KiB), so a
 * sequential reader sends 128 KiB requests whatever max_read allows; with
 * a larger window it sends max_read-sized requests and keeps several in
 * flight, which roughly doubles cold throughput.  The knob is
 * /sys/class/bdi/MAJ:MIN/read_ahead_kb (root only).  MAJ:MIN is read from
 * /proc/self/mountinfo, not stat(2): stat of our own mount point would
 * wait for a FUSE reply before the session loop runs. */
#include "log.h"
#include "mount_state.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

void hm_tune_readahead(const char *mountpoint, unsigned kb)
{
    char want[PATH_MAX], dev[64] = "";
    if (!realpath(mountpoint, want))
        return;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        /* id parent MAJ:MIN root mountpoint ... */
        char *save = NULL, *tok[5];
        int n = 0;
        for (char *t = strtok_r(line, " ", &save); t && n < 5; t = strtok_r(NULL, " ", &save))
            tok[n++] = t;
        if (n < 5)
            continue;
        unescape(tok[4]);
        if (strcmp(tok[4], want) == 0) /* the last match is the top mount */
            snprintf(dev, sizeof dev, "%s", tok[2]);
    }
    free(line);
    fclose(f);
    if (!dev[0])
        return;
    char path[128];
    snprintf(path, sizeof path, "/sys/class/bdi/%s/read_ahead_kb", dev);
    FILE *ra = fopen(path, "we");
    if (!ra) {
        hm_debug("read-ahead stays at the default (%s: %s)", path, strerror(errno));
        return;
    }
    fprintf(ra, "%u\n", kb);
    if (fclose(ra) != 0)
        hm_debug("cannot set %s: %s", path, strerror(errno));
}
