/* test_staging.c — staging files: permissions, unique names, streamed
 * copy-on-write fill, positional I/O, clone, hashing, path confinement. */
#include "../../fs/staging.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A synthetic remote file: byte i is (i * 7 + 3) & 0xff; counts calls and
 * the largest request so the test can prove chunked streaming. */
struct fake_src {
    uint64_t size;
    uint64_t short_at; /* pretend EOF here (0 = off) */
    int calls;
    size_t max_len;
};

static ssize_t fake_fetch(void *ctx, uint64_t offset, void *buf, size_t len)
{
    struct fake_src *s = ctx;
    uint64_t end = s->short_at ? s->short_at : s->size;
    s->calls++;
    if (len > s->max_len)
        s->max_len = len;
    if (offset >= end)
        return 0;
    size_t n = end - offset < len ? (size_t)(end - offset) : len;
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(((offset + i) * 7 + 3) & 0xff);
    return (ssize_t)n;
}

static int check_content(int fd, uint64_t size)
{
    unsigned char buf[4096];
    uint64_t off = 0;
    while (off < size) {
        ssize_t n = staging_pread(fd, buf, sizeof(buf), off);
        if (n <= 0)
            return 0;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != (unsigned char)(((off + (uint64_t)i) * 7 + 3) & 0xff))
                return 0;
        off += (uint64_t)n;
    }
    return off == size;
}

int main(void)
{
    char root[] = "/tmp/hm-staging-XXXXXX";
    if (!mkdtemp(root))
        return 1;
    struct staging *st = NULL;
    CHECK(staging_open(root, &st) == 0);
    struct stat sb;
    CHECK(stat(staging_dir(st), &sb) == 0 && (sb.st_mode & 0777) == 0700);

    char p1[PATH_MAX], p2[PATH_MAX];
    int fd1 = -1, fd2 = -1;
    CHECK(staging_create(st, p1, sizeof(p1), &fd1) == 0);
    CHECK(staging_create(st, p2, sizeof(p2), &fd2) == 0);
    CHECK(strcmp(p1, p2) != 0);
    CHECK(fstat(fd1, &sb) == 0 && (sb.st_mode & 0777) == 0600);

    /* copy-on-write fill of 3.5 chunks streams in chunk-sized requests */
    struct fake_src src = {.size = 3 * STAGING_CHUNK + STAGING_CHUNK / 2};
    CHECK(staging_fill(fd1, src.size, fake_fetch, &src) == 0);
    CHECK(src.calls == 4);
    CHECK(src.max_len == STAGING_CHUNK);
    uint64_t size = 0;
    CHECK(staging_size(fd1, &size) == 0 && size == src.size);
    CHECK(check_content(fd1, src.size));

    /* a remote that ends early is an error, not a silently short copy */
    struct fake_src shortsrc = {.size = 5000, .short_at = 1000};
    CHECK(staging_fill(fd2, shortsrc.size, fake_fetch, &shortsrc) == -EIO);

    /* positional I/O, truncate */
    CHECK(staging_truncate(fd2, 0) == 0);
    CHECK(staging_pwrite(fd2, "hello world", 11, 0) == 11);
    CHECK(staging_pwrite(fd2, "W", 1, 6) == 1);
    CHECK(staging_pwrite(fd2, "!", 1, 20) == 1); /* hole */
    char rb[32] = {0};
    CHECK(staging_pread(fd2, rb, sizeof(rb), 0) == 21);
    CHECK(memcmp(rb, "hello World", 11) == 0 && rb[15] == 0 && rb[20] == '!');
    CHECK(staging_truncate(fd2, 5) == 0);
    CHECK(staging_pread(fd2, rb, sizeof(rb), 0) == 5);
    CHECK(staging_sync(fd2) == 0);

    /* hashing: "hello" -> known sha256 and git blob oid */
    char sha256[HUB_SHA256_HEX], sha1[HUB_SHA1_HEX];
    CHECK(staging_hash_file(p2, sha256, sha1, &size) == 0);
    CHECK(size == 5);
    CHECK_STR(sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    CHECK_STR(sha1, "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0");

    /* the LFS pointer oid is the git oid of the pointer text; the expected value is
     * `git hash-object --stdin` of "version https://git-lfs.github.com/spec/v1\n
     * oid sha256:2cf24d...9824\nsize 5\n" */
    char ptr_oid[HUB_SHA1_HEX];
    CHECK(staging_lfs_pointer_oid(sha256, 5, ptr_oid) == 0);
    CHECK_STR(ptr_oid, "d1ca116d6733584c13cb8bb50b21d5b5b81ee28f");

    /* clone copies the content into a new, independent staging file */
    char p3[PATH_MAX];
    int fd3 = -1;
    CHECK(staging_clone(st, p1, p3, sizeof(p3), &fd3) == 0);
    CHECK(check_content(fd3, src.size));
    CHECK(staging_pwrite(fd3, "x", 1, 0) == 1);
    CHECK(check_content(fd1, src.size)); /* original untouched */

    /* reopen and remove are confined to the staging directory */
    int fd4 = -1;
    CHECK(staging_reopen(st, "/etc/passwd", O_RDONLY, &fd4) == -EINVAL);
    char evil[PATH_MAX];
    snprintf(evil, sizeof(evil), "%s/../x", staging_dir(st));
    CHECK(staging_remove(st, evil) == -EINVAL);
    CHECK(staging_reopen(st, p2, O_RDONLY, &fd4) == 0);
    close(fd4);

    close(fd1);
    close(fd2);
    close(fd3);
    CHECK(staging_remove(st, p1) == 0);
    CHECK(staging_remove(st, p2) == 0);
    CHECK(staging_remove(st, p3) == 0);
    CHECK(staging_remove(st, p3) == 0); /* already gone: fine */

    /* a burst of creates (files made ahead by the helper, or made at once
     * when it lags): distinct, empty, private; none left behind at free */
    enum { BURST = 40 };
    char (*bp)[PATH_MAX] = calloc(BURST, PATH_MAX);
    bool burst_ok = bp != NULL;
    for (int i = 0; burst_ok && i < BURST; i++) {
        int bfd = -1;
        burst_ok = staging_create(st, bp[i], PATH_MAX, &bfd) == 0 && fstat(bfd, &sb) == 0 &&
                   sb.st_size == 0 && (sb.st_mode & 0777) == 0600 &&
                   staging_pwrite(bfd, "x", 1, 0) == 1;
        for (int k = 0; burst_ok && k < i; k++)
            burst_ok = strcmp(bp[k], bp[i]) != 0;
        if (bfd >= 0)
            close(bfd);
        if (i % 8 == 7)
            usleep(2000); /* let the helper refill now and then */
    }
    CHECK(burst_ok);
    for (int i = 0; bp && i < BURST; i++)
        if (bp[i][0])
            CHECK(staging_remove(st, bp[i]) == 0);
    free(bp);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", staging_dir(st));
    staging_free(st); /* removes the files it made ahead */
    CHECK(rmdir(dir) == 0);
    rmdir(root);
    return tap_done();
}
