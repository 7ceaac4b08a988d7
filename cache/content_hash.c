/* content_hash.c — content_hash_fd (content_hash.h): one streaming EVP
 * digest of a file for every place that checks content against its key. */
#include "content_hash.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define HASH_CHUNK (1024u * 1024u)

/* The whole file through ctx; *short_file when it ends early. */
static int digest_fd(EVP_MD_CTX *ctx, int fd, uint64_t size, char *buf, bool *short_file)
{
    for (uint64_t off = 0; off < size;) {
        size_t want = size - off < HASH_CHUNK ? (size_t)(size - off) : HASH_CHUNK;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0) {
            *short_file = true;
            return 0;
        }
        if (!EVP_DigestUpdate(ctx, buf, (size_t)n))
            return -EIO;
        off += (uint64_t)n;
    }
    return 0;
}

int content_hash_fd(int fd, uint64_t size, enum blocks_hash kind, char *hex, size_t hex_size,
                    bool *short_file)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int rc = 0;
    *short_file = false;
    char *buf = malloc(HASH_CHUNK);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!buf || !ctx) {
        rc = -ENOMEM;
        goto out;
    }
    if (!EVP_DigestInit_ex(ctx, kind == BLOCKS_GIT_SHA1 ? EVP_sha1() : EVP_sha256(), NULL)) {
        rc = -EIO;
        goto out;
    }
    if (kind == BLOCKS_GIT_SHA1) {
        char hdr[48];
        int n = snprintf(hdr, sizeof(hdr), "blob %llu", (unsigned long long)size);
        /* +1: git hashes the NUL that ends the header */
        if (n < 0 || (size_t)n >= sizeof(hdr) || !EVP_DigestUpdate(ctx, hdr, (size_t)n + 1)) {
            rc = -EIO;
            goto out;
        }
    }
    rc = digest_fd(ctx, fd, size, buf, short_file);
    if (rc || *short_file)
        goto out;
    if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || (size_t)mdlen * 2 + 1 > hex_size) {
        rc = -EIO;
        goto out;
    }
    for (unsigned int i = 0; i < mdlen; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[2 * mdlen] = '\0';
out:
    EVP_MD_CTX_free(ctx);
    free(buf);
    return rc;
}
