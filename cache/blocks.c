/* blocks.c — the content cache API (include/blocks.h): get/put of block
 * ranges, completeness, verification, import of committed files, eviction.
 * Layout, map format and locking rules are described in blocks_i.h. */
#include "blocks_i.h"
#include "content_hash.h"
#include "dirs_i.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOUCH_INTERVAL_S 60 /* how stale the on-disk LRU time may get */

static int64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int blocks_open(const char *dir, uint64_t max_bytes, struct blocks **out)
{
    *out = NULL;
    if (!dir || !*dir)
        return -EINVAL;
    struct blocks *bc = calloc(1, sizeof(*bc));
    if (!bc)
        return -ENOMEM;
    bc->max_bytes = max_bytes;
    int n = snprintf(bc->objdir, sizeof(bc->objdir), "%s/objects", dir);
    if (n < 0 || (size_t)n >= sizeof(bc->objdir) - 200) { /* room for "/ab/<key>.map.tmp" */
        free(bc);
        return -ENAMETOOLONG;
    }
    if (pthread_mutex_init(&bc->mu, NULL) != 0) {
        free(bc);
        return -ENOMEM;
    }
    int rc = cache_mkdir_private(dir);
    if (rc == 0)
        rc = cache_mkdir_private(bc->objdir);
    if (rc == 0)
        rc = blocks_scan(bc);
    if (rc == 0 && bc->used > bc->max_bytes)
        (void)blocks_make_room(bc, 0, NULL); /* max_bytes shrank since last time */
    if (rc) {
        hm_error("blocks: cannot open cache %s: %s", dir, strerror(-rc));
        blocks_close(bc);
        return rc;
    }
    hm_debug("blocks: %zu objects, %llu bytes in %s", bc->count,
             (unsigned long long)bc->used, dir);
    *out = bc;
    return 0;
}

void blocks_close(struct blocks *bc)
{
    if (!bc)
        return;
    blocks_index_free(bc);
    pthread_mutex_destroy(&bc->mu);
    free(bc);
}

/* pread (write false) or pwrite of the whole range, again after EINTR and
 * short counts. */
static int io_all(int fd, char *p, size_t len, off_t off, bool write)
{
    while (len > 0) {
        ssize_t n = write ? pwrite(fd, p, len, off) : pread(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO; /* end of file: data files are sized at creation, short = damaged */
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

int blocks_read_all(int fd, void *buf, size_t len, off_t off)
{
    return io_all(fd, buf, len, off, false);
}

int blocks_write_all(int fd, const void *buf, size_t len, off_t off)
{
    return io_all(fd, (char *)buf, len, off, true); /* not written through */
}

/* Opens a file of object o (suffix "" data, ".map" map); with mu held. */
static int open_obj(struct blocks *bc, const struct bobj *o, const char *suffix, int flags)
{
    char path[4200];
    int rc = blocks_path(bc, o->key, suffix, path, sizeof(path));
    if (rc)
        return rc;
    int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
    return fd < 0 ? -errno : fd;
}

void blocks_touch_on_disk(struct blocks *bc, struct bobj *o)
{
    int64_t now = now_s();
    if (now - o->touched_on_disk < TOUCH_INTERVAL_S)
        return;
    char path[4200];
    if (blocks_path(bc, o->key, ".map", path, sizeof(path)) == 0 &&
        utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW) == 0)
        o->touched_on_disk = now;
}

ssize_t blocks_get(struct blocks *bc, const char *key, uint64_t file_size, uint64_t offset,
                   void *buf, size_t len)
{
    if (!bc || !key || (!buf && len) || !blocks_key_valid(key))
        return -EINVAL;
    if (len == 0 || offset >= file_size)
        return 0;
    pthread_mutex_lock(&bc->mu);
    struct bobj *o = blocks_find(bc, key);
    if (!o || o->size != file_size) {
        pthread_mutex_unlock(&bc->mu);
        return 0;
    }
    uint64_t want_end = file_size - offset < len ? file_size : offset + len;
    uint64_t b = offset / BLOCKS_SIZE;
    uint64_t end = b * BLOCKS_SIZE; /* end of the contiguous present run */
    while (end < want_end && bobj_has(o, b)) {
        end += bobj_block_len(o, b);
        b++;
    }
    if (end <= offset) {
        pthread_mutex_unlock(&bc->mu);
        return 0;
    }
    size_t avail = (size_t)((end < want_end ? end : want_end) - offset);
    blocks_touch(bc, o);
    blocks_touch_on_disk(bc, o);
    int fd = open_obj(bc, o, "", O_RDONLY);
    if (fd < 0) {
        if (fd == -ENOENT) /* evicted by another process sharing the dir */
            blocks_remove(bc, o);
        pthread_mutex_unlock(&bc->mu);
        return fd == -ENOENT ? 0 : fd;
    }
    o->users++;
    pthread_mutex_unlock(&bc->mu);

    int rc = blocks_read_all(fd, buf, avail, (off_t)offset);
    close(fd);

    pthread_mutex_lock(&bc->mu);
    blocks_release(bc, o);
    pthread_mutex_unlock(&bc->mu);
    return rc ? rc : (ssize_t)avail;
}

/* Finds or creates the object with files on disk; with mu held. */
static int get_or_create(struct blocks *bc, const char *key, uint64_t size, struct bobj **out)
{
    struct bobj *o = blocks_find(bc, key);
    if (o) {
        char path[4200];
        if (o->size != size)
            return -EINVAL;
        if (blocks_path(bc, key, ".map", path, sizeof(path)) == 0 && access(path, F_OK) == 0) {
            *out = o;
            return 0;
        }
        /* evicted by another process sharing the dir: start afresh */
        blocks_remove(bc, o);
    }
    o = bobj_new(key, size);
    if (!o)
        return -ENOMEM;
    int rc = blocks_mkdir_for(bc, key);
    int fd = -1;
    if (rc == 0) {
        fd = open_obj(bc, o, "", O_RDWR | O_CREAT | O_TRUNC);
        rc = fd < 0 ? fd : 0;
    }
    if (rc == 0 && ftruncate(fd, (off_t)size) != 0) /* sparse: holes cost nothing */
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        rc = blocks_map_write(bc, o);
    if (rc == 0) {
        o->touched_on_disk = now_s();
        rc = blocks_insert(bc, o);
    }
    if (rc) {
        char path[4200];
        if (blocks_path(bc, key, "", path, sizeof(path)) == 0)
            unlink(path);
        if (blocks_path(bc, key, ".map", path, sizeof(path)) == 0)
            unlink(path);
        bobj_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

int blocks_put(struct blocks *bc, const char *key, uint64_t file_size, uint64_t offset,
               const void *buf, size_t len)
{
    if (!bc || !key || (!buf && len) || !blocks_key_valid(key))
        return -EINVAL;
    if (offset % BLOCKS_SIZE || offset > file_size || len > file_size - offset ||
        (len % BLOCKS_SIZE && offset + len != file_size))
        return -EINVAL;
    if (file_size > (uint64_t)INT64_MAX)
        return -EFBIG;

    pthread_mutex_lock(&bc->mu);
    struct bobj *o = NULL;
    int rc = get_or_create(bc, key, file_size, &o);
    if (rc || len == 0) {
        pthread_mutex_unlock(&bc->mu);
        return rc;
    }
    uint64_t first = offset / BLOCKS_SIZE, last = (offset + len - 1) / BLOCKS_SIZE;
    uint64_t need = 0;
    for (uint64_t i = first; i <= last; i++)
        if (!bobj_has(o, i))
            need += bobj_block_len(o, i);
    if (need == 0) { /* all there already: nothing to write */
        blocks_touch(bc, o);
        pthread_mutex_unlock(&bc->mu);
        return 0;
    }
    rc = blocks_make_room(bc, need, o);
    int fd = -1, mfd = -1;
    if (rc == 0) {
        fd = open_obj(bc, o, "", O_WRONLY);
        rc = fd < 0 ? fd : 0;
    }
    if (rc == 0) {
        mfd = open_obj(bc, o, ".map", O_WRONLY);
        rc = mfd < 0 ? mfd : 0;
    }
    if (rc) {
        pthread_mutex_unlock(&bc->mu);
        goto out_close;
    }
    bc->used += need; /* reserved, so concurrent puts cannot overshoot */
    o->users++;
    pthread_mutex_unlock(&bc->mu);

    rc = blocks_write_all(fd, buf, len, (off_t)offset);

    pthread_mutex_lock(&bc->mu);
    bc->used -= need;
    if (rc == 0 && !o->doomed) {
        for (uint64_t i = first; i <= last; i++) {
            if (!bobj_has(o, i)) {
                o->bits[i >> 3] |= (uint8_t)(1u << (i & 7));
                o->npresent++;
                o->bytes += bobj_block_len(o, i);
                bc->used += bobj_block_len(o, i);
            }
        }
        /* data before map: a map bit never promises bytes not yet written */
        rc = blocks_map_store_bits(mfd, o, first, last);
        o->touched_on_disk = now_s();
        blocks_touch(bc, o);
    }
    blocks_release(bc, o);
    pthread_mutex_unlock(&bc->mu);
out_close:
    if (fd >= 0)
        close(fd);
    if (mfd >= 0)
        close(mfd);
    if (rc && rc != -ENOSPC)
        hm_warn("blocks: put %s at %llu: %s", key, (unsigned long long)offset, strerror(-rc));
    return rc;
}

int64_t blocks_first_missing(struct blocks *bc, const char *key, uint64_t file_size,
                             uint64_t from_block)
{
    uint64_t nblocks = file_size / BLOCKS_SIZE + (file_size % BLOCKS_SIZE != 0);
    if (from_block >= nblocks)
        return -1;
    if (!bc || !key || !blocks_key_valid(key))
        return (int64_t)from_block;
    pthread_mutex_lock(&bc->mu);
    int64_t res = -1;
    struct bobj *o = blocks_find(bc, key);
    if (!o || o->size != file_size) {
        res = (int64_t)from_block;
    } else {
        for (uint64_t i = from_block; i < nblocks; i++) {
            if ((i & 7) == 0 && i + 8 <= nblocks && o->bits[i >> 3] == 0xff) {
                i += 7; /* a whole byte present */
                continue;
            }
            if (!bobj_has(o, i)) {
                res = (int64_t)i;
                break;
            }
        }
    }
    pthread_mutex_unlock(&bc->mu);
    return res;
}

/* Marks o verified, in memory and in its map file (best effort: a lost
 * flag costs one more verification after a restart); with mu held. */
static void set_verified(struct blocks *bc, struct bobj *o)
{
    o->verified = true;
    int mfd = open_obj(bc, o, ".map", O_WRONLY);
    if (mfd >= 0) {
        if (blocks_map_store_verified(mfd, true) != 0)
            hm_warn("blocks: cannot record verification of %s", o->key);
        close(mfd);
    }
}

int blocks_verify(struct blocks *bc, const char *key, uint64_t file_size, enum blocks_hash kind)
{
    if (!bc || !key || !blocks_key_valid(key))
        return -EINVAL;
    pthread_mutex_lock(&bc->mu);
    struct bobj *o = blocks_find(bc, key);
    if (!o || o->size != file_size || o->npresent < o->nblocks) {
        pthread_mutex_unlock(&bc->mu);
        return -EAGAIN;
    }
    if (o->verified) {
        pthread_mutex_unlock(&bc->mu);
        return 0;
    }
    int fd = open_obj(bc, o, "", O_RDONLY);
    if (fd < 0) {
        if (fd == -ENOENT) /* evicted by another process sharing the dir */
            blocks_remove(bc, o);
        pthread_mutex_unlock(&bc->mu);
        return fd == -ENOENT ? -EAGAIN : fd;
    }
    o->users++;
    pthread_mutex_unlock(&bc->mu);

    char hex[2 * EVP_MAX_MD_SIZE + 1];
    bool short_file = false;
    int rc = content_hash_fd(fd, file_size, kind, hex, sizeof(hex), &short_file);
    if (rc == 0 && short_file)
        rc = -EIO; /* the data file is sized at creation: short = damaged */
    close(fd);

    pthread_mutex_lock(&bc->mu);
    if (rc == 0 && strcmp(hex, key) != 0) {
        hm_warn("blocks: %s failed verification (content hashes to %s): evicted", key, hex);
        rc = -EIO;
        if (!o->doomed)
            blocks_remove(bc, o);
    } else if (rc == 0 && !o->doomed && !o->verified) {
        set_verified(bc, o);
    }
    blocks_release(bc, o);
    pthread_mutex_unlock(&bc->mu);
    return rc;
}

int blocks_mark_verified(struct blocks *bc, const char *key, uint64_t file_size)
{
    if (!bc || !key || !blocks_key_valid(key))
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&bc->mu);
    struct bobj *o = blocks_find(bc, key);
    if (!o || o->size != file_size || o->npresent < o->nblocks || o->doomed) {
        rc = -EAGAIN;
    } else if (!o->verified) {
        set_verified(bc, o);
    }
    pthread_mutex_unlock(&bc->mu);
    return rc;
}

/* Copies src into a new file dst (0600), for imports across filesystems. */
static int copy_file(int sfd, const char *dst, uint64_t size)
{
    int dfd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (dfd < 0)
        return -errno;
    int rc = 0;
    uint64_t done = 0;
    while (done < size) {
        size_t want = size - done < (1u << 30) ? (size_t)(size - done) : (1u << 30);
        ssize_t n = copy_file_range(sfd, NULL, dfd, NULL, want, 0);
        if (n > 0) {
            done += (uint64_t)n;
            continue;
        }
        if (n == 0) {
            rc = -EIO; /* source shrank under us */
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) {
            rc = -errno;
            break;
        }
        /* no kernel copy between these files: plain read/write */
        char buf[1 << 16];
        while (done < size) {
            ssize_t r = pread(sfd, buf, sizeof(buf), (off_t)done);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                rc = r < 0 ? -errno : -EIO;
                break;
            }
            rc = blocks_write_all(dfd, buf, (size_t)r, (off_t)done);
            if (rc)
                break;
            done += (uint64_t)r;
        }
        break;
    }
    if (close(dfd) != 0 && rc == 0)
        rc = -errno;
    if (rc)
        unlink(dst);
    return rc;
}

/* The source file is consumed on success: renamed into the cache when it is
 * on the same filesystem (no copy), else copied and then unlinked.  The
 * caller guarantees nobody writes to it any more and that its content
 * hashes to `key`, so the object is marked verified without re-reading. */
int blocks_import_file(struct blocks *bc, const char *key, const char *path)
{
    if (!bc || !key || !path || !blocks_key_valid(key))
        return -EINVAL;
    int sfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (sfd < 0)
        return -errno;
    struct stat st;
    int frc = fstat(sfd, &st) != 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
    if (frc) {
        close(sfd);
        return frc;
    }
    uint64_t size = (uint64_t)st.st_size;

    static unsigned long seq;
    char tmp[4300], data[4200];
    pthread_mutex_lock(&bc->mu);
    struct bobj *old = blocks_find(bc, key);
    if (old)
        blocks_remove(bc, old); /* ours is complete and verified: it wins */
    int rc = blocks_make_room(bc, size, NULL);
    if (rc == 0)
        rc = blocks_mkdir_for(bc, key);
    if (rc == 0)
        rc = blocks_path(bc, key, "", data, sizeof(data));
    if (rc == 0) {
        int n = snprintf(tmp, sizeof(tmp), "%s/%.2s/.import-%d-%lu", bc->objdir, key,
                         (int)getpid(), ++seq);
        rc = n < 0 || (size_t)n >= sizeof(tmp) ? -ENAMETOOLONG : 0;
    }
    if (rc == 0)
        bc->used += size; /* reserved while the bytes move in */
    pthread_mutex_unlock(&bc->mu);
    if (rc) {
        close(sfd);
        return rc;
    }

    bool renamed = false;
    if (rename(path, tmp) == 0) {
        renamed = true;
        if (chmod(tmp, 0600) != 0)
            rc = -errno;
    } else if (errno == EXDEV) {
        rc = copy_file(sfd, tmp, size);
    } else {
        rc = -errno;
    }
    close(sfd);

    struct bobj *o = NULL;
    if (rc == 0) {
        o = bobj_new(key, size);
        if (!o)
            rc = -ENOMEM;
    }
    pthread_mutex_lock(&bc->mu);
    bc->used -= size;
    if (rc == 0) {
        memset(o->bits, 0xff, (size_t)((o->nblocks + 7) / 8));
        if (o->nblocks % 8)
            o->bits[o->nblocks / 8] = (uint8_t)((1u << (o->nblocks % 8)) - 1);
        o->npresent = o->nblocks;
        o->bytes = size;
        o->verified = true;
        o->touched_on_disk = now_s();
        struct bobj *raced = blocks_find(bc, key); /* a put while we copied */
        if (raced)
            blocks_remove(bc, raced);
        rc = blocks_map_write(bc, o);
        if (rc == 0 && rename(tmp, data) != 0)
            rc = -errno;
        if (rc == 0)
            rc = blocks_insert(bc, o);
    }
    if (rc && !blocks_find(bc, key)) {
        /* the map we may have written names nothing now; under the lock and
         * only then, so the map of a put or import of the same key that
         * succeeded meanwhile stays */
        char mpath[4300];
        if (blocks_path(bc, key, ".map", mpath, sizeof(mpath)) == 0)
            unlink(mpath);
    }
    pthread_mutex_unlock(&bc->mu);
    if (rc) {
        bobj_free(o);
        if (renamed && rename(tmp, path) != 0) /* give the caller its file back */
            hm_warn("blocks: import of %s failed and %s is lost: %s", key, path,
                    strerror(errno));
        unlink(tmp);
        hm_warn("blocks: import %s: %s", key, strerror(-rc));
        return rc;
    }
    if (!renamed && unlink(path) != 0)
        hm_warn("blocks: imported %s but cannot remove %s: %s", key, path, strerror(errno));
    return 0;
}

int blocks_evict(struct blocks *bc, const char *key)
{
    if (!bc || !key || !blocks_key_valid(key))
        return -EINVAL;
    pthread_mutex_lock(&bc->mu);
    struct bobj *o = blocks_find(bc, key);
    if (o)
        blocks_remove(bc, o);
    pthread_mutex_unlock(&bc->mu);
    return o ? 0 : -ENOENT;
}

uint64_t blocks_bytes_used(struct blocks *bc)
{
    if (!bc)
        return 0;
    pthread_mutex_lock(&bc->mu);
    uint64_t used = bc->used;
    pthread_mutex_unlock(&bc->mu);
    return used;
}
