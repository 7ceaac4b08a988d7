/* test_blocks.c — the content cache: partial block ranges, first_missing,
 * verification (ok and mismatch eviction), LRU eviction under a small
 * max_bytes, import of a local file, persistence, file modes, threads. */
#include "blocks.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BS ((uint64_t)BLOCKS_SIZE)

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static unsigned char *pattern(uint64_t size, unsigned seed)
{
    unsigned char *p = malloc(size ? size : 1);
    if (!p)
        abort();
    for (uint64_t i = 0; i < size; i++)
        p[i] = (unsigned char)((i * 31 + seed + (i >> 12)) & 0xff);
    return p;
}

/* hex digest: git blob sha1 or plain sha256 */
static void digest(const unsigned char *data, uint64_t size, enum blocks_hash kind, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, kind == BLOCKS_GIT_SHA1 ? EVP_sha1() : EVP_sha256(), NULL);
    if (kind == BLOCKS_GIT_SHA1) {
        char hdr[64];
        int len = snprintf(hdr, sizeof(hdr), "blob %llu", (unsigned long long)size);
        EVP_DigestUpdate(ctx, hdr, (size_t)len + 1);
    }
    EVP_DigestUpdate(ctx, data, size);
    EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    for (unsigned int i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (st.st_mode & 0777) : 0;
}

struct thread_arg {
    struct blocks *bc;
    const char *key;
    const unsigned char *data;
    uint64_t size;
    unsigned first, step;
    int errors;
};

static void *worker(void *p)
{
    struct thread_arg *a = p;
    unsigned char *buf = malloc(BS);
    uint64_t nb = (a->size + BS - 1) / BS;
    for (uint64_t b = a->first; b < nb; b += a->step) {
        uint64_t len = b + 1 < nb ? BS : a->size - b * BS;
        if (blocks_put(a->bc, a->key, a->size, b * BS, a->data + b * BS, (size_t)len) != 0)
            a->errors++;
        ssize_t got = blocks_get(a->bc, a->key, a->size, b * BS, buf, (size_t)len);
        if (got != (ssize_t)len || memcmp(buf, a->data + b * BS, (size_t)len) != 0)
            a->errors++;
    }
    free(buf);
    return NULL;
}

int main(void)
{
    char tmpl[] = "/tmp/test_blocks.XXXXXX";
    char *root = mkdtemp(tmpl);
    if (!root)
        return 1;
    char dir[512], path[1024];
    snprintf(dir, sizeof(dir), "%s/c1/cache", root); /* parents made too */

    struct blocks *bc = NULL;
    snprintf(path, sizeof(path), "%s/c1", root);
    CHECK(mkdir(path, 0755) == 0);
    CHECK(blocks_open(dir, 64 * BS, &bc) == 0 && bc);
    CHECK(mode_of(dir) == 0700);
    CHECK(mode_of(path) == 0755); /* an existing parent is not ours to change */
    chmod(dir, 0755);
    blocks_close(bc);
    CHECK(blocks_open(dir, 64 * BS, &bc) == 0 && bc);
    CHECK(mode_of(dir) == 0700); /* tightened */
    snprintf(path, sizeof(path), "%s/objects", dir);
    CHECK(mode_of(path) == 0700);
    CHECK(blocks_bytes_used(bc) == 0);

    /* an object of 3.5 blocks, filled out of order */
    uint64_t size = 3 * BS + BS / 2;
    unsigned char *data = pattern(size, 1);
    char key[80];
    digest(data, size, BLOCKS_GIT_SHA1, key);
    unsigned char *buf = malloc(size + BS);
    char src[600];

    CHECK(blocks_get(bc, key, size, 0, buf, 100) == 0);
    CHECK(blocks_first_missing(bc, key, size, 0) == 0);
    CHECK(blocks_verify(bc, key, size, BLOCKS_GIT_SHA1) == -EAGAIN);
    CHECK(blocks_put(bc, key, size, BS, data + BS, BS) == 0);
    CHECK(blocks_bytes_used(bc) == BS);
    CHECK(blocks_get(bc, key, size, 0, buf, 100) == 0);
    CHECK(blocks_get(bc, key, size, BS + 100, buf, size) == (ssize_t)(BS - 100));
    CHECK(memcmp(buf, data + BS + 100, BS - 100) == 0);
    CHECK(blocks_get(bc, key, size, BS + 10, buf, 20) == 20);
    CHECK(memcmp(buf, data + BS + 10, 20) == 0);
    CHECK(blocks_first_missing(bc, key, size, 0) == 0);
    CHECK(blocks_first_missing(bc, key, size, 1) == 2);
    CHECK(blocks_verify(bc, key, size, BLOCKS_GIT_SHA1) == -EAGAIN);
    /* a descriptor only for a range that is wholly cached */
    CHECK(blocks_open_range(bc, key, size, 0, 100) == -ENOENT);
    CHECK(blocks_open_range(bc, key, size, BS - 1, 2) == -ENOENT);
    CHECK(blocks_open_range(bc, key, size + 1, BS, 10) == -ENOENT);
    int rfd = blocks_open_range(bc, key, size, BS + 7, BS - 7);
    CHECK(rfd >= 0);
    if (rfd >= 0) {
        CHECK(pread(rfd, buf, BS - 7, (off_t)(BS + 7)) == (ssize_t)(BS - 7));
        CHECK(memcmp(buf, data + BS + 7, BS - 7) == 0);
        close(rfd);
    }

    /* alignment rules */
    CHECK(blocks_put(bc, key, size, 10, data + 10, BS) == -EINVAL);
    CHECK(blocks_put(bc, key, size, 0, data, BS - 1) == -EINVAL);
    CHECK(blocks_put(bc, key, size, 3 * BS, data + 3 * BS, BS) == -EINVAL); /* past end */
    CHECK(blocks_put(bc, key, size + 1, 0, data, BS) == -EINVAL);          /* other size */
    CHECK(blocks_put(bc, "../../etc", size, 0, data, BS) == -EINVAL);

    /* last partial block, then the rest in one two-block put */
    CHECK(blocks_put(bc, key, size, 3 * BS, data + 3 * BS, BS / 2) == 0);
    CHECK(blocks_first_missing(bc, key, size, 1) == 2);
    CHECK(blocks_get(bc, key, size, 3 * BS, buf, BS) == (ssize_t)(BS / 2));
    CHECK(blocks_put(bc, key, size, 0, data, BS) == 0);
    CHECK(blocks_get(bc, key, size, 0, buf, size + BS) == (ssize_t)(2 * BS));
    CHECK(blocks_put(bc, key, size, 2 * BS, data + 2 * BS, BS + BS / 2) == 0);
    CHECK(blocks_first_missing(bc, key, size, 0) == -1);
    CHECK(blocks_bytes_used(bc) == size);
    memset(buf, 0, size);
    CHECK(blocks_get(bc, key, size, 0, buf, size + BS) == (ssize_t)size);
    CHECK(memcmp(buf, data, size) == 0);
    CHECK(blocks_get(bc, key, size, size, buf, 10) == 0);
    CHECK(blocks_get(bc, key, size, size - 5, buf, 10) == 5);
    CHECK(blocks_put(bc, key, size, BS, data + BS, BS) == 0); /* again: no change */
    CHECK(blocks_bytes_used(bc) == size);

    /* file modes */
    snprintf(path, sizeof(path), "%s/objects/%.2s", dir, key);
    CHECK(mode_of(path) == 0700);
    snprintf(path, sizeof(path), "%s/objects/%.2s/%s", dir, key, key);
    CHECK(mode_of(path) == 0600);
    snprintf(path, sizeof(path), "%s/objects/%.2s/%s.map", dir, key, key);
    CHECK(mode_of(path) == 0600);

    /* verification: ok */
    CHECK(blocks_verify(bc, key, size, BLOCKS_GIT_SHA1) == 0);
    CHECK(blocks_verify(bc, key, size, BLOCKS_GIT_SHA1) == 0);

    /* verification: mismatch evicts */
    const char *liar = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    CHECK(blocks_put(bc, liar, BS, 0, data, BS) == 0);
    CHECK(blocks_bytes_used(bc) == size + BS);
    CHECK(blocks_verify(bc, liar, BS, BLOCKS_SHA256) == -EIO);
    CHECK(blocks_first_missing(bc, liar, BS, 0) == 0);
    CHECK(blocks_get(bc, liar, BS, 0, buf, 10) == 0);
    CHECK(blocks_bytes_used(bc) == size);
    snprintf(path, sizeof(path), "%s/objects/00/%s", dir, liar);
    CHECK(access(path, F_OK) != 0);

    /* sha256 verification ok, and a zero-length object */
    char key256[80];
    digest(data, BS, BLOCKS_SHA256, key256);
    CHECK(blocks_put(bc, key256, BS, 0, data, BS) == 0);
    CHECK(blocks_verify(bc, key256, BS, BLOCKS_SHA256) == 0);
    char key0[80];
    digest(data, 0, BLOCKS_GIT_SHA1, key0);
    CHECK(blocks_put(bc, key0, 0, 0, data, 0) == 0);
    CHECK(blocks_first_missing(bc, key0, 0, 0) == -1);
    CHECK(blocks_verify(bc, key0, 0, BLOCKS_GIT_SHA1) == 0);

    /* persistence: close and reopen; leftovers are cleaned */
    snprintf(path, sizeof(path), "%s/objects/%.2s/.import-1-1", dir, key);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}}; /* an old leftover */
    CHECK(utimensat(AT_FDCWD, path, old, 0) == 0);
    char young[1024];
    snprintf(young, sizeof(young), "%s/objects/%.2s/.import-2-2", dir, key);
    f = fopen(young, "w"); /* maybe another process's import in progress: kept */
    if (f)
        fclose(f);
    uint64_t used_before = blocks_bytes_used(bc);
    blocks_close(bc);
    bc = NULL;
    CHECK(blocks_open(dir, 64 * BS, &bc) == 0);
    CHECK(access(path, F_OK) != 0);
    CHECK(access(young, F_OK) == 0);
    CHECK(blocks_bytes_used(bc) == used_before);
    memset(buf, 0, size);
    CHECK(blocks_get(bc, key, size, 0, buf, size) == (ssize_t)size);
    CHECK(memcmp(buf, data, size) == 0);
    CHECK(blocks_first_missing(bc, key, size, 0) == -1);
    CHECK(blocks_verify(bc, key, size, BLOCKS_GIT_SHA1) == 0);

    /* another process sharing the dir evicted an object: reads as missing,
     * and a put starts the object afresh */
    char kx[80];
    unsigned char *xd = pattern(BS, 77);
    digest(xd, BS, BLOCKS_SHA256, kx);
    CHECK(blocks_put(bc, kx, BS, 0, xd, BS) == 0);
    snprintf(path, sizeof(path), "%s/objects/%.2s/%s", dir, kx, kx);
    unlink(path);
    snprintf(path, sizeof(path), "%s/objects/%.2s/%s.map", dir, kx, kx);
    unlink(path);
    CHECK(blocks_get(bc, kx, BS, 0, buf, BS) == 0);
    CHECK(blocks_bytes_used(bc) == used_before);
    CHECK(blocks_put(bc, kx, BS, 0, xd, BS) == 0);
    snprintf(path, sizeof(path), "%s/objects/%.2s/%s.map", dir, kx, kx);
    unlink(path);
    CHECK(blocks_put(bc, kx, BS, 0, xd, BS) == 0); /* map gone: recreated */
    CHECK(access(path, F_OK) == 0);
    CHECK(blocks_get(bc, kx, BS, 0, buf, BS) == (ssize_t)BS && memcmp(buf, xd, BS) == 0);
    CHECK(blocks_verify(bc, kx, BS, BLOCKS_SHA256) == 0);
    CHECK(blocks_evict(bc, kx) == 0);
    free(xd);

    /* import over a partial object replaces it */
    char kp[80];
    unsigned char *pd = pattern(3 * BS, 55);
    digest(pd, 3 * BS, BLOCKS_SHA256, kp);
    CHECK(blocks_put(bc, kp, 3 * BS, BS, pd + BS, BS) == 0);
    snprintf(src, sizeof(src), "%s/partial.bin", root);
    int pfd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(pfd >= 0 && write(pfd, pd, 3 * BS) == (ssize_t)(3 * BS));
    close(pfd);
    CHECK(blocks_import_file(bc, kp, src) == 0);
    CHECK(blocks_first_missing(bc, kp, 3 * BS, 0) == -1);
    CHECK(blocks_bytes_used(bc) == used_before + 3 * BS);
    CHECK(blocks_evict(bc, kp) == 0);
    free(pd);

    /* evict */
    CHECK(blocks_evict(bc, key256) == 0);
    CHECK(blocks_evict(bc, key256) == -ENOENT);
    CHECK(blocks_bytes_used(bc) == size);

    /* import: a complete local file becomes a verified object */
    uint64_t isize = 2 * BS + 77;
    unsigned char *idata = pattern(isize, 9);
    char ikey[80];
    digest(idata, isize, BLOCKS_SHA256, ikey);
    snprintf(src, sizeof(src), "%s/staged.bin", root);
    int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, idata, isize) == (ssize_t)isize);
    close(fd);
    CHECK(blocks_import_file(bc, ikey, src) == 0);
    CHECK(access(src, F_OK) != 0); /* consumed */
    CHECK(blocks_first_missing(bc, ikey, isize, 0) == -1);
    memset(buf, 0, isize);
    CHECK(blocks_get(bc, ikey, isize, 0, buf, isize) == (ssize_t)isize);
    CHECK(memcmp(buf, idata, isize) == 0);
    CHECK(blocks_verify(bc, ikey, isize, BLOCKS_SHA256) == 0);
    CHECK(blocks_bytes_used(bc) == size + isize);
    snprintf(path, sizeof(path), "%s/objects/%.2s/%s", dir, ikey, ikey);
    CHECK(mode_of(path) == 0600);
    CHECK(blocks_import_file(bc, ikey, src) == -ENOENT);
    blocks_close(bc);
    bc = NULL;
    CHECK(blocks_open(dir, 64 * BS, &bc) == 0);
    CHECK(blocks_first_missing(bc, ikey, isize, 0) == -1);
    CHECK(blocks_bytes_used(bc) == size + isize);
    blocks_close(bc);

    /* LRU eviction under a small bound: room for 3 one-block objects */
    char ldir[512];
    snprintf(ldir, sizeof(ldir), "%s/lru", root);
    CHECK(blocks_open(ldir, 3 * BS, &bc) == 0);
    char k[4][80];
    unsigned char *ld[4];
    for (int i = 0; i < 4; i++) {
        ld[i] = pattern(BS, 100u + (unsigned)i);
        digest(ld[i], BS, BLOCKS_SHA256, k[i]);
    }
    CHECK(blocks_put(bc, k[0], BS, 0, ld[0], BS) == 0);
    CHECK(blocks_put(bc, k[1], BS, 0, ld[1], BS) == 0);
    CHECK(blocks_put(bc, k[2], BS, 0, ld[2], BS) == 0);
    CHECK(blocks_get(bc, k[0], BS, 0, buf, 1) == 1); /* 0 is now the most recent */
    CHECK(blocks_put(bc, k[3], BS, 0, ld[3], BS) == 0);
    CHECK(blocks_bytes_used(bc) == 3 * BS);
    CHECK(blocks_get(bc, k[1], BS, 0, buf, 1) == 0); /* 1 was the LRU */
    CHECK(blocks_get(bc, k[0], BS, 0, buf, 1) == 1);
    CHECK(blocks_get(bc, k[2], BS, 0, buf, 1) == 1);
    CHECK(blocks_get(bc, k[3], BS, 0, buf, 1) == 1);
    /* an object larger than the whole cache cannot be stored */
    unsigned char *huge = pattern(4 * BS, 5);
    CHECK(blocks_put(bc, "abcdef0123456789", 8 * BS, 0, huge, 4 * BS) == -ENOSPC);
    /* an import that does not fit leaves the source in place */
    snprintf(src, sizeof(src), "%s/big.bin", root);
    fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, huge, 4 * BS) == (ssize_t)(4 * BS));
    close(fd);
    CHECK(blocks_import_file(bc, "abcdef0123456789", src) == -ENOSPC);
    CHECK(access(src, F_OK) == 0);
    blocks_close(bc);
    /* reopening with a smaller bound evicts down to it */
    CHECK(blocks_open(ldir, 2 * BS, &bc) == 0);
    CHECK(blocks_bytes_used(bc) <= 2 * BS);
    blocks_close(bc);

    /* threads: 4 writers/readers on one 37-block object */
    char tdir[512];
    snprintf(tdir, sizeof(tdir), "%s/threads", root);
    CHECK(blocks_open(tdir, 1024 * BS, &bc) == 0);
    uint64_t tsize = 37 * BS - 1000;
    unsigned char *tdata = pattern(tsize, 3);
    char tkey[80];
    digest(tdata, tsize, BLOCKS_GIT_SHA1, tkey);
    pthread_t th[4];
    struct thread_arg ta[4];
    for (unsigned i = 0; i < 4; i++) {
        ta[i] = (struct thread_arg){bc, tkey, tdata, tsize, i, 4, 0};
        pthread_create(&th[i], NULL, worker, &ta[i]);
    }
    int terr = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        terr += ta[i].errors;
    }
    CHECK(terr == 0);
    CHECK(blocks_first_missing(bc, tkey, tsize, 0) == -1);
    CHECK(blocks_verify(bc, tkey, tsize, BLOCKS_GIT_SHA1) == 0);
    CHECK(blocks_bytes_used(bc) == tsize);
    blocks_close(bc);

    for (int i = 0; i < 4; i++)
        free(ld[i]);
    free(huge);
    free(tdata);
    free(idata);
    free(data);
    free(buf);
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return tap_done();
}
