/* blocks_store.c — the on-disk layout of the content cache: object paths,
 * the map file format, and the scan that rebuilds the index at open.
 *
 * Map file: a fixed header then the bitmap, in host byte order (the cache
 * is private to this machine).  A header that does not match (magic,
 * version, block size, data file size) makes the object a leftover to
 * delete: it is only a cache.
 *
 * Several processes may share one cache directory (two mounts): each keeps
 * its own index from its scan, so the max_bytes bound holds per process and
 * one process's eviction shows up in another as a missing file, which
 * blocks.c treats as "not cached". */
#include "blocks_i.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAP_MAGIC "HMBLKMAP"
#define MAP_VERSION 1u
#define MAP_VERIFIED 1u
#define LEFTOVER_AGE_S 600

struct map_header {
    char magic[8];
    uint32_t version;
    uint32_t block_size;
    uint64_t size;
    uint32_t flags;
    uint32_t reserved;
};
#define MAP_FLAGS_OFFSET offsetof(struct map_header, flags)

bool blocks_key_valid(const char *key)
{
    size_t n = 0;
    for (; key[n]; n++) {
        char c = key[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || n >= BLOCKS_KEY_MAX)
            return false;
    }
    return n >= 8; /* room for the two-character fan-out and then some */
}

int blocks_path(const struct blocks *bc, const char *key, const char *suffix, char *buf,
                size_t size)
{
    int n = snprintf(buf, size, "%s/%.2s/%s%s", bc->objdir, key, key, suffix);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int blocks_mkdir_for(const struct blocks *bc, const char *key)
{
    char path[4200];
    int n = snprintf(path, sizeof(path), "%s/%.2s", bc->objdir, key);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int blocks_map_write(const struct blocks *bc, const struct bobj *o)
{
    char path[4200], tmp[4300];
    int rc = blocks_path(bc, o->key, ".map", path, sizeof(path));
    if (rc)
        return rc;
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    struct map_header h;
    memset(&h, 0, sizeof(h));
    memcpy(h.magic, MAP_MAGIC, sizeof(h.magic));
    h.version = MAP_VERSION;
    h.block_size = BLOCKS_SIZE;
    h.size = o->size;
    h.flags = o->verified ? MAP_VERIFIED : 0;
    rc = blocks_write_all(fd, &h, sizeof(h), 0);
    if (rc == 0)
        rc = blocks_write_all(fd, o->bits, (size_t)((o->nblocks + 7) / 8), sizeof(h));
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

int blocks_map_store_bits(int fd, const struct bobj *o, uint64_t first, uint64_t last)
{
    uint64_t b0 = first / 8, b1 = last / 8;
    return blocks_write_all(fd, o->bits + b0, (size_t)(b1 - b0 + 1),
                     (off_t)(sizeof(struct map_header) + b0));
}

int blocks_map_store_verified(int fd, bool verified)
{
    uint32_t flags = verified ? MAP_VERIFIED : 0;
    return blocks_write_all(fd, &flags, sizeof(flags), (off_t)MAP_FLAGS_OFFSET);
}

/* The read side for callers that pread the bytes themselves: the
 * range is checked against the bitmap, the access counted for the LRU order
 * (the map's mtime at most once a minute, as blocks_get does), and the data
 * file opened.  No pin is needed: eviction unlinks, it never rewrites. */
int blocks_open_range(struct blocks *bc, const char *key, uint64_t file_size, uint64_t offset,
                      size_t len)
{
    if (!bc || !key || !blocks_key_valid(key))
        return -EINVAL;
    if (len == 0 || offset >= file_size)
        return -ENOENT;
    uint64_t end = file_size - offset < len ? file_size : offset + len;
    char path[4200];
    pthread_mutex_lock(&bc->mu);
    struct bobj *o = blocks_find(bc, key);
    int rc = o && o->size == file_size ? 0 : -ENOENT;
    for (uint64_t b = offset / BLOCKS_SIZE; rc == 0 && b * BLOCKS_SIZE < end; b++)
        if (!bobj_has(o, b))
            rc = -ENOENT;
    if (rc == 0)
        rc = blocks_path(bc, key, "", path, sizeof(path));
    if (rc == 0) {
        blocks_touch(bc, o);
        blocks_touch_on_disk(bc, o);
    }
    /* Opened under mu: once mu is dropped the object may be evicted and a
     * new, empty data file created at the same path. */
    int fd = rc;
    if (rc == 0) {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            fd = -errno;
            if (fd == -ENOENT) /* evicted by another process sharing the dir */
                blocks_remove(bc, o);
        }
    }
    pthread_mutex_unlock(&bc->mu);
    return fd;
}

/* Reads one map file into a new object; -EINVAL when it is not a valid map
 * of a data file of `data_size` bytes. */
static int map_load(int dfd, const char *name, const char *key, uint64_t data_size,
                    struct bobj **out)
{
    *out = NULL;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    int rc = 0;
    struct bobj *o = NULL;
    struct map_header h;
    ssize_t r = pread(fd, &h, sizeof(h), 0);
    if (r != (ssize_t)sizeof(h) || memcmp(h.magic, MAP_MAGIC, sizeof(h.magic)) != 0 ||
        h.version != MAP_VERSION || h.block_size != BLOCKS_SIZE || h.size != data_size) {
        rc = -EINVAL;
        goto out;
    }
    o = bobj_new(key, h.size);
    if (!o) {
        rc = -ENOMEM;
        goto out;
    }
    size_t nbytes = (size_t)((o->nblocks + 7) / 8);
    r = nbytes ? pread(fd, o->bits, nbytes, sizeof(h)) : 0;
    if (r != (ssize_t)nbytes) {
        rc = -EINVAL;
        goto out;
    }
    for (uint64_t i = 0; i < o->nblocks; i++) {
        if (bobj_has(o, i)) {
            o->npresent++;
            o->bytes += bobj_block_len(o, i);
        }
    }
    if (o->nblocks % 8) /* stray bits past the end would count as blocks */
        o->bits[nbytes - 1] &= (uint8_t)((1u << (o->nblocks % 8)) - 1);
    o->verified = (h.flags & MAP_VERIFIED) && o->npresent == o->nblocks;
out:
    close(fd);
    if (rc)
        bobj_free(o);
    else
        *out = o;
    return rc;
}

struct scanned {
    struct bobj *o;
    int64_t mtime;
};

static int cmp_scanned(const void *a, const void *b)
{
    int64_t x = ((const struct scanned *)a)->mtime, y = ((const struct scanned *)b)->mtime;
    return x < y ? -1 : x > y;
}

/* Removes a leftover, unless it is young: another hubmount process sharing
 * this cache directory may be in the middle of creating or importing it. */
static void remove_at(int dfd, const char *sub, const char *name)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return;
    if ((int64_t)time(NULL) - (int64_t)st.st_mtim.tv_sec < LEFTOVER_AGE_S)
        return;
    if (unlinkat(dfd, name, 0) == 0)
        hm_info("blocks: removed leftover %s/%s", sub, name);
}

/* Scans one fan-out directory, appending its valid objects to *list. */
static int scan_sub(int dfd, const char *sub, struct scanned **list, size_t *n, size_t *cap)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -errno;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
            continue;
        size_t len = strlen(name);
        char key[BLOCKS_KEY_MAX + 1];
        struct stat st, mst;
        if (len > 4 && strcmp(name + len - 4, ".map") == 0 && len - 4 <= BLOCKS_KEY_MAX) {
            memcpy(key, name, len - 4);
            key[len - 4] = '\0';
            if (!blocks_key_valid(key) || strncmp(key, sub, 2) != 0 ||
                fstatat(dfd, key, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
                fstatat(dfd, name, &mst, AT_SYMLINK_NOFOLLOW) != 0) {
                remove_at(dfd, sub, name);
                continue;
            }
            struct bobj *o = NULL;
            int lrc = map_load(dfd, name, key, (uint64_t)st.st_size, &o);
            if (lrc == -ENOMEM) {
                rc = lrc;
                break;
            }
            if (lrc) {
                remove_at(dfd, sub, name);
                remove_at(dfd, sub, key);
                continue;
            }
            if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 64;
                struct scanned *nl = realloc(*list, nc * sizeof(*nl));
                if (!nl) {
                    bobj_free(o);
                    rc = -ENOMEM;
                    break;
                }
                *list = nl;
                *cap = nc;
            }
            (*list)[*n].o = o;
            (*list)[*n].mtime = (int64_t)mst.st_mtim.tv_sec;
            (*n)++;
            continue;
        }
        if (len <= BLOCKS_KEY_MAX && blocks_key_valid(name)) {
            /* a data file: valid only with its map */
            char mname[BLOCKS_KEY_MAX + 8];
            snprintf(mname, sizeof(mname), "%s.map", name);
            if (fstatat(dfd, mname, &mst, AT_SYMLINK_NOFOLLOW) != 0)
                remove_at(dfd, sub, name);
            continue;
        }
        remove_at(dfd, sub, name); /* temporaries of an interrupted write */
    }
    closedir(d);
    return rc;
}

int blocks_scan(struct blocks *bc)
{
    DIR *top = opendir(bc->objdir);
    if (!top)
        return -errno;
    struct scanned *list = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(top)) != NULL) {
        const char *sub = de->d_name;
        if (strlen(sub) != 2 || !strchr("0123456789abcdef", sub[0]) ||
            !strchr("0123456789abcdef", sub[1]))
            continue;
        int dfd = openat(dirfd(top), sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
            continue;
        rc = scan_sub(dfd, sub, &list, &n, &cap);
    }
    closedir(top);
    if (rc == 0) {
        if (n)
            qsort(list, n, sizeof(*list), cmp_scanned);
        for (size_t i = 0; i < n; i++) {
            if (rc == 0) {
                list[i].o->touched_on_disk = list[i].mtime;
                rc = blocks_insert(bc, list[i].o);
                if (rc == 0)
                    continue;
            }
            bobj_free(list[i].o);
        }
    } else {
        for (size_t i = 0; i < n; i++)
            bobj_free(list[i].o);
    }
    free(list);
    return rc;
}
