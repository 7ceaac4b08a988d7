/* dirs.c — private directories for the caches: made with mode 0700 (parents
 * included, like mkdir -p) and tightened to 0700 when they already exist
 * with wider permissions, since cached metadata of a private repo must not
 * be readable by other local users. */
#include "dirs_i.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int mkdir_one(const char *path, bool tighten)
{
    if (mkdir(path, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(path, &st) != 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (tighten && (st.st_mode & 077) && st.st_uid == getuid() && chmod(path, 0700) != 0)
        return -errno;
    return 0;
}

int cache_mkdir_private(const char *path)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0)
        return -EINVAL;
    if (len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    /* parents: created 0700 when missing, left alone when they exist
     * (they may be ~ or /tmp) */
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir_one(buf, false);
        *p = '/';
        if (rc)
            return rc;
    }
    return mkdir_one(buf, true);
}
