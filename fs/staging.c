/* staging.c — write staging files on local disk (see staging.h).
 *
 * Every buffer here is one STAGING_CHUNK at most: staging a 10 GiB file
 * costs the same memory as staging a 10 byte one. */
#include "staging.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Empty staging files made ahead of need by a helper thread.  Creating a
 * file costs an inode allocation (slow on a filesystem with many recent
 * deletions: ext4 skips recently freed inodes one by one) and its directory
 * entry should be on disk before a journal row names the file.  The helper
 * pays both ahead, so create takes a ready file (and a flushing close,
 * -o durable_close or fsync, only has the file's own bytes to write).  It makes files in batches (refilling
 * when half the pool is taken) and fsyncs the directory once per batch
 * (staging_batch_sync): a cache flush costs ~1-3 ms on the VMs we
 * measured, and the former fsync of every file made ahead competed with
 * close's fsyncs for the disk.  A crash may leave up to STAGING_POOL empty
 * files in the staging directory (named like any other staging file;
 * nothing refers to them). */
#define STAGING_POOL 16
#define STAGING_NAME_MAX 16 /* "stg-XXXXXX" */

struct pool_file {
    int fd;
    char name[STAGING_NAME_MAX];
};

struct staging {
    char dir[PATH_MAX];
    size_t dir_len;
    pthread_mutex_t mu; /* protects the fields below */
    pthread_cond_t cv;  /* the helper waits on it for a file to be taken */
    struct pool_file ready[STAGING_POOL];
    size_t n_ready;
    bool started, stop;
    pthread_t helper;
};

int staging_open(const char *cache_dir, struct staging **out)
{
    struct staging *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    int n = snprintf(st->dir, sizeof(st->dir), "%s/staging", cache_dir);
    if (n < 0 || (size_t)n >= sizeof(st->dir) - 32) {
        free(st);
        return -ENAMETOOLONG;
    }
    st->dir_len = (size_t)n;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    if (mkdir(st->dir, 0700) != 0 && errno != EEXIST) {
        int err = errno;
        hm_error("staging: cannot create %s: %s", st->dir, strerror(err));
        staging_free(st);
        return -err;
    }
    /* An existing directory may have been created with a looser umask by
     * an older version or by hand: staged bytes are private data. */
    if (chmod(st->dir, 0700) != 0) {
        int err = errno;
        staging_free(st);
        return -err;
    }
    *out = st;
    return 0;
}

void staging_free(struct staging *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->mu);
    st->stop = true;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    if (st->started)
        pthread_join(st->helper, NULL);
    for (size_t i = 0; i < st->n_ready; i++) { /* made ahead, never used */
        char path[PATH_MAX];
        close(st->ready[i].fd);
        int n = snprintf(path, sizeof(path), "%s/%s", st->dir, st->ready[i].name);
        if (n > 0 && (size_t)n < sizeof(path))
            (void)unlink(path);
    }
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    free(st);
}

const char *staging_dir(const struct staging *st)
{
    return st->dir;
}

static int make_file(const struct staging *st, char *path_out, size_t path_cap, int *fd_out)
{
    char tmpl[PATH_MAX];
    int n = snprintf(tmpl, sizeof(tmpl), "%s/stg-XXXXXX", st->dir);
    if (n < 0 || (size_t)n >= sizeof(tmpl) || (size_t)n >= path_cap)
        return -ENAMETOOLONG;
    /* mkostemp creates the file 0600 with O_EXCL: a unique name that no
     * other user can have pre-created. */
    int fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    memcpy(path_out, tmpl, (size_t)n + 1);
    *fd_out = fd;
    return 0;
}

/* Makes the directory entries of one batch durable with one fsync of the
 * directory (on journaled ext4 it commits the new inodes as well; a
 * flushing close writes a file's own inode). */
static int staging_batch_sync(const struct staging *st)
{
    int dfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    int r = fsync(dfd) != 0 ? -errno : 0;
    close(dfd);
    return r;
}

static void *pool_main(void *arg)
{
    struct staging *st = arg;
    pthread_mutex_lock(&st->mu);
    while (!st->stop) {
        size_t want = STAGING_POOL - st->n_ready;
        /* refill when half the pool is used: batches amortize the
         * directory fsync */
        if (st->n_ready > STAGING_POOL / 2) {
            pthread_cond_wait(&st->cv, &st->mu);
            continue;
        }
        pthread_mutex_unlock(&st->mu);
        struct pool_file batch[STAGING_POOL];
        size_t n = 0;
        int r = 0;
        while (n < want) {
            char path[PATH_MAX];
            int fd = -1;
            r = make_file(st, path, sizeof(path), &fd);
            if (r < 0)
                break;
            batch[n].fd = fd;
            snprintf(batch[n].name, sizeof(batch[n].name), "%s", path + st->dir_len + 1);
            n++;
        }
        if (n > 0) {
            int s = staging_batch_sync(st);
            if (s < 0) {
                r = s;
                for (size_t i = 0; i < n; i++) {
                    char path[PATH_MAX];
                    close(batch[i].fd);
                    int k = snprintf(path, sizeof(path), "%s/%s", st->dir, batch[i].name);
                    if (k > 0 && (size_t)k < sizeof(path))
                        (void)unlink(path);
                }
                n = 0;
            }
        }
        pthread_mutex_lock(&st->mu);
        for (size_t i = 0; i < n; i++) /* n <= want: room was kept */
            st->ready[st->n_ready++] = batch[i];
        if (r < 0) {
            /* (a full disk...) creates make their own files meanwhile;
             * try again when the next one is taken */
            hm_debug("staging: cannot make a file ahead: %s", strerror(-r));
            if (!st->stop)
                pthread_cond_wait(&st->cv, &st->mu);
        }
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

int staging_create(struct staging *st, char *path_out, size_t path_cap, int *fd_out)
{
    int fd = -1;
    pthread_mutex_lock(&st->mu);
    /* started on first use, in the process that serves the mount (the
     * daemon forks after opening the staging directory) */
    if (!st->started && !st->stop && pthread_create(&st->helper, NULL, pool_main, st) == 0)
        st->started = true;
    if (st->n_ready > 0) {
        struct pool_file *pf = &st->ready[--st->n_ready];
        int n = snprintf(path_out, path_cap, "%s/%s", st->dir, pf->name);
        if (n > 0 && (size_t)n < path_cap) {
            fd = pf->fd;
        } else {
            st->n_ready++; /* the caller's buffer is too small: leave it */
        }
    }
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    if (fd >= 0) {
        *fd_out = fd;
        return 0;
    }
    return make_file(st, path_out, path_cap, fd_out);
}

/* True if path is a file directly inside the staging directory. */
static int in_staging_dir(const struct staging *st, const char *path)
{
    size_t len = strlen(path);
    if (len <= st->dir_len + 1 || memcmp(path, st->dir, st->dir_len) != 0 ||
        path[st->dir_len] != '/')
        return 0;
    const char *name = path + st->dir_len + 1;
    return strchr(name, '/') == NULL && strcmp(name, "..") != 0 && strcmp(name, ".") != 0;
}

int staging_reopen(const struct staging *st, const char *path, int flags, int *fd_out)
{
    if (!in_staging_dir(st, path))
        return -EINVAL;
    int fd = open(path, (flags & O_ACCMODE) | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    *fd_out = fd;
    return 0;
}

ssize_t staging_pwrite(int fd, const void *buf, size_t len, uint64_t offset)
{
    const char *p = buf;
    size_t done = 0;
    if (offset > (uint64_t)INT64_MAX - len)
        return -EFBIG;
    while (done < len) {
        ssize_t n = pwrite(fd, p + done, len - done, (off_t)(offset + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        done += (size_t)n;
    }
    return (ssize_t)len;
}

ssize_t staging_pread(int fd, void *buf, size_t len, uint64_t offset)
{
    char *p = buf;
    size_t done = 0;
    if (offset > (uint64_t)INT64_MAX)
        return 0;
    while (done < len) {
        ssize_t n = pread(fd, p + done, len - done, (off_t)(offset + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int staging_truncate(int fd, uint64_t size)
{
    if (size > (uint64_t)INT64_MAX)
        return -EFBIG;
    while (ftruncate(fd, (off_t)size) != 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

int staging_sync(int fd)
{
    if (fsync(fd) != 0)
        return -errno;
    return 0;
}

int staging_size(int fd, uint64_t *size_out)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return -errno;
    *size_out = (uint64_t)sb.st_size;
    return 0;
}

int staging_fill(int fd, uint64_t size, staging_fetch_fn fetch, void *ctx)
{
    int ret = 0;
    char *buf = NULL;
    uint64_t off = 0;

    ret = staging_truncate(fd, 0);
    if (ret < 0)
        goto out;
    if (size == 0)
        goto out;
    buf = malloc(STAGING_CHUNK);
    if (!buf) {
        ret = -ENOMEM;
        goto out;
    }
    while (off < size) {
        size_t want = size - off < STAGING_CHUNK ? (size_t)(size - off) : STAGING_CHUNK;
        ssize_t got = fetch(ctx, off, buf, want);
        if (got < 0) {
            ret = (int)got;
            goto out;
        }
        if (got == 0) {
            /* The remote file is shorter than its listed size: staging a
             * truncated copy would silently lose data on commit. */
            ret = -EIO;
            goto out;
        }
        if ((size_t)got > want) {
            ret = -EIO;
            goto out;
        }
        ssize_t w = staging_pwrite(fd, buf, (size_t)got, off);
        if (w < 0) {
            ret = (int)w;
            goto out;
        }
        off += (uint64_t)got;
    }
out:
    free(buf);
    return ret;
}

ssize_t staging_fetch_remote(void *ctx, uint64_t offset, void *buf, size_t len)
{
    const struct staging_remote *r = ctx;
    return r->ops->read_range(r->ops->ctx, r->src, r->commit, r->path, offset, buf, len);
}

/* Copies all of src_fd into dst_fd: reflink, else copy_file_range, else
 * read/write through one chunk. */
static int copy_fd(int src_fd, int dst_fd)
{
    if (ioctl(dst_fd, FICLONE, src_fd) == 0)
        return 0;

    uint64_t size;
    int ret = staging_size(src_fd, &size);
    if (ret < 0)
        return ret;
    uint64_t off = 0;
    while (off < size) {
        size_t want = size - off < (1u << 30) ? (size_t)(size - off) : (1u << 30);
        off_t in = (off_t)off, outo = (off_t)off;
        ssize_t n = copy_file_range(src_fd, &in, dst_fd, &outo, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EXDEV, ENOSYS, EINVAL...: fall back below */
        off += (uint64_t)n;
    }
    if (off == size)
        return 0;

    char *buf = malloc(STAGING_CHUNK);
    if (!buf)
        return -ENOMEM;
    while (off < size) {
        ssize_t n = staging_pread(src_fd, buf, STAGING_CHUNK, off);
        if (n < 0) {
            ret = (int)n;
            break;
        }
        if (n == 0) {
            ret = -EIO;
            break;
        }
        ssize_t w = staging_pwrite(dst_fd, buf, (size_t)n, off);
        if (w < 0) {
            ret = (int)w;
            break;
        }
        off += (uint64_t)n;
    }
    free(buf);
    return ret;
}

int staging_clone(struct staging *st, const char *src_path, char *path_out, size_t path_cap,
                  int *fd_out)
{
    int src_fd = -1, fd = -1, ret;
    ret = staging_reopen(st, src_path, O_RDONLY, &src_fd);
    if (ret < 0)
        goto out;
    ret = staging_create(st, path_out, path_cap, &fd);
    if (ret < 0)
        goto out;
    ret = copy_fd(src_fd, fd);
    if (ret < 0) {
        close(fd);
        fd = -1;
        unlink(path_out);
        goto out;
    }
    *fd_out = fd;
    fd = -1;
out:
    if (src_fd >= 0)
        close(src_fd);
    return ret;
}

int staging_clone_fd(struct staging *st, int src_fd, char *path_out, size_t path_cap,
                     int *fd_out)
{
    int fd = -1;
    int ret = staging_create(st, path_out, path_cap, &fd);
    if (ret < 0)
        return ret;
    ret = copy_fd(src_fd, fd);
    if (ret < 0) {
        close(fd);
        unlink(path_out);
        return ret;
    }
    *fd_out = fd;
    return 0;
}

int staging_remove(const struct staging *st, const char *path)
{
    if (!in_staging_dir(st, path))
        return -EINVAL;
    if (unlink(path) != 0 && errno != ENOENT)
        return -errno;
    return 0;
}

static void hex_encode(const unsigned char *bin, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bin[i] >> 4];
        out[2 * i + 1] = digits[bin[i] & 15];
    }
    out[2 * n] = '\0';
}

int staging_hash_file(const char *path, char sha256_hex[HUB_SHA256_HEX],
                      char git_sha1_hex[HUB_SHA1_HEX], uint64_t *size_out)
{
    int ret = 0, fd = -1;
    char *buf = NULL;
    EVP_MD_CTX *c256 = NULL, *c1 = NULL;
    uint64_t size = 0, off = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ret = -errno;
        goto out;
    }
    ret = staging_size(fd, &size);
    if (ret < 0)
        goto out;
    buf = malloc(STAGING_CHUNK);
    c256 = EVP_MD_CTX_new();
    c1 = EVP_MD_CTX_new();
    if (!buf || !c256 || !c1) {
        ret = -ENOMEM;
        goto out;
    }
    if (!EVP_DigestInit_ex(c256, EVP_sha256(), NULL) || !EVP_DigestInit_ex(c1, EVP_sha1(), NULL)) {
        ret = -EIO;
        goto out;
    }
    char hdr[64];
    int hn = snprintf(hdr, sizeof(hdr), "blob %llu", (unsigned long long)size);
    if (hn < 0 || (size_t)hn >= sizeof(hdr) || !EVP_DigestUpdate(c1, hdr, (size_t)hn + 1)) {
        ret = -EIO;
        goto out;
    }
    while (off < size) {
        ssize_t n = staging_pread(fd, buf, STAGING_CHUNK, off);
        if (n < 0) {
            ret = (int)n;
            goto out;
        }
        if (n == 0) {
            ret = -EIO; /* shrank while hashing */
            goto out;
        }
        if (!EVP_DigestUpdate(c256, buf, (size_t)n) || !EVP_DigestUpdate(c1, buf, (size_t)n)) {
            ret = -EIO;
            goto out;
        }
        off += (uint64_t)n;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_DigestFinal_ex(c256, md, &mdlen) || mdlen != 32) {
        ret = -EIO;
        goto out;
    }
    if (sha256_hex)
        hex_encode(md, mdlen, sha256_hex);
    if (!EVP_DigestFinal_ex(c1, md, &mdlen) || mdlen != 20) {
        ret = -EIO;
        goto out;
    }
    if (git_sha1_hex)
        hex_encode(md, mdlen, git_sha1_hex);
    if (size_out)
        *size_out = size;
out:
    EVP_MD_CTX_free(c256);
    EVP_MD_CTX_free(c1);
    free(buf);
    if (fd >= 0)
        close(fd);
    return ret;
}

int staging_lfs_pointer_oid(const char *sha256_hex, uint64_t size, char git_sha1_hex[HUB_SHA1_HEX])
{
    char ptr[256], blob[300];
    int pn = snprintf(ptr, sizeof(ptr),
                      "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %llu\n",
                      sha256_hex, (unsigned long long)size);
    if (pn < 0 || (size_t)pn >= sizeof(ptr))
        return -EINVAL;
    int hn = snprintf(blob, sizeof(blob), "blob %d", pn);
    if (hn < 0 || (size_t)hn + 1 + (size_t)pn > sizeof(blob))
        return -EINVAL;
    memcpy(blob + hn + 1, ptr, (size_t)pn); /* header keeps its NUL separator */
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(blob, (size_t)hn + 1 + (size_t)pn, md, &mdlen, EVP_sha1(), NULL) ||
        mdlen != 20)
        return -EIO;
    hex_encode(md, mdlen, git_sha1_hex);
    return 0;
}
