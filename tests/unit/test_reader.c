/* test_reader.c — fs/reader.c against a fake read_range: whole and partial
 * reads, a small random read fetches one block, sequential reads go ahead
 * without fetching anything twice, concurrent readers share fetches,
 * verification failure is EIO (and evicts), fetch errors propagate and
 * a later read recovers; the streamed verification sees bad bytes that
 * arrived through read-ahead or sat in the cache before this handle. */
#include "../../fs/reader.h"
#include "tap.h"

#include <errno.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB (1024u * 1024u)
#define BS ((uint64_t)BLOCKS_SIZE)

struct fake {
    const unsigned char *data;
    uint64_t size;
    atomic_ullong calls, bytes;
    atomic_int fail;    /* next n calls fail with -EIO */
    atomic_int corrupt; /* flip a byte in every answer */
};

static ssize_t fake_read(void *ctx, const struct hub_source *src, const char *commit,
                         const char *path, uint64_t off, void *buf, size_t len)
{
    struct fake *f = ctx;
    (void)src;
    (void)commit;
    (void)path;
    atomic_fetch_add(&f->calls, 1);
    if (atomic_load(&f->fail) > 0) {
        atomic_fetch_sub(&f->fail, 1);
        return -EIO;
    }
    if (off >= f->size)
        return 0;
    size_t n = len;
    if (n > f->size - off)
        n = (size_t)(f->size - off);
    memcpy(buf, f->data + off, n);
    if (atomic_load(&f->corrupt) && n)
        ((unsigned char *)buf)[0] ^= 0xff;
    atomic_fetch_add(&f->bytes, n);
    usleep(1000); /* a little latency so concurrent readers overlap */
    return (ssize_t)n;
}

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
        p[i] = (unsigned char)((i * 131 + seed + (i >> 13)) & 0xff);
    return p;
}

static void sha256_hex(const unsigned char *d, uint64_t n, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(d, n, md, &len, EVP_sha256(), NULL);
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void git_oid_hex(const unsigned char *d, uint64_t n, char *hex)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    char hdr[64];
    int h = snprintf(hdr, sizeof hdr, "blob %llu", (unsigned long long)n);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, hdr, (size_t)h + 1);
    EVP_DigestUpdate(ctx, d, n);
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static struct hub_entry lfs_entry(const unsigned char *d, uint64_t n)
{
    struct hub_entry e;
    memset(&e, 0, sizeof e);
    e.size = n;
    e.is_lfs = true;
    sha256_hex(d, n, e.sha256);
    snprintf(e.oid, sizeof e.oid, "%s", "0000000000000000000000000000000000000000");
    return e;
}

struct par {
    struct reader *r;
    struct hub_entry e;
    const unsigned char *want;
    int ok;
};

static void *par_reader(void *arg)
{
    struct par *p = arg;
    struct reader_file *rf;
    char *buf = malloc(MiB);
    p->ok = buf && reader_file_new(p->r, "w.bin", "c1", &p->e, &rf) == 0;
    for (uint64_t off = 0; p->ok && off < p->e.size; off += MiB) {
        ssize_t n = reader_read(rf, off, MiB, buf);
        size_t want = p->e.size - off < MiB ? (size_t)(p->e.size - off) : MiB;
        if (n != (ssize_t)want || memcmp(buf, p->want + off, want) != 0)
            p->ok = 0;
    }
    if (buf)
        reader_file_free(rf);
    free(buf);
    return NULL;
}

int main(void)
{
    char dir[] = "/tmp/test_reader.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct blocks *bc;
    CHECK(blocks_open(dir, 512ull * MiB, &bc) == 0);
    struct hub_source src = {.type = HUB_REPO_MODEL};
    snprintf(src.repo_id, sizeof src.repo_id, "acme/x");
    struct fake fk;
    memset(&fk, 0, sizeof fk);
    struct reader_config cfg = {
        .hub = {.ctx = &fk, .read_range = fake_read}, .src = &src, .blocks = bc, .workers = 4,
    };
    struct reader *r;
    CHECK(reader_new(&cfg, &r) == 0);
    CHECK(reader_start(r) == 0);
    struct reader_file *rf;
    char *buf = malloc(4 * MiB);

    /* 1. a small regular file (git oid key): whole, then from the cache */
    unsigned char *small = pattern(1000, 1);
    struct hub_entry se;
    memset(&se, 0, sizeof se);
    se.size = 1000;
    git_oid_hex(small, 1000, se.oid);
    fk.data = small;
    fk.size = 1000;
    CHECK(reader_file_new(r, "a.txt", "c1", &se, &rf) == 0);
    CHECK(!reader_file_known_good(rf));
    CHECK(reader_read(rf, 0, 4096, buf) == 1000);
    CHECK(reader_file_known_good(rf));
    CHECK(memcmp(buf, small, 1000) == 0);
    CHECK(reader_read(rf, 1000, 10, buf) == 0); /* EOF */
    CHECK(reader_read(rf, 5000, 10, buf) == 0);
    CHECK(reader_read(rf, 990, 100, buf) == 10);
    unsigned long long calls = atomic_load(&fk.calls);
    CHECK(calls == 1);
    reader_file_free(rf);
    CHECK(reader_file_new(r, "a.txt", "c2", &se, &rf) == 0); /* same content elsewhere */
    CHECK(reader_read(rf, 100, 200, buf) == 200 && memcmp(buf, small + 100, 200) == 0);
    CHECK(atomic_load(&fk.calls) == calls);
    reader_file_free(rf);

    /* 2. a 4 KiB read in a 20 MiB file fetches one block */
    uint64_t big_n = 20 * MiB + 123;
    unsigned char *big = pattern(big_n, 2);
    struct hub_entry be = lfs_entry(big, big_n);
    fk.data = big;
    fk.size = big_n;
    atomic_store(&fk.bytes, 0);
    CHECK(reader_file_new(r, "w.bin", "c1", &be, &rf) == 0);
    CHECK(reader_read(rf, 13 * MiB + 7, 4096, buf) == 4096);
    CHECK(memcmp(buf, big + 13 * MiB + 7, 4096) == 0);
    CHECK(atomic_load(&fk.bytes) == BS);
    reader_file_free(rf);

    /* 3. sequential 128 KiB reads: read-ahead, nothing fetched twice, verified */
    atomic_store(&fk.bytes, 0);
    atomic_store(&fk.calls, 0);
    CHECK(reader_file_new(r, "w.bin", "c1", &be, &rf) == 0);
    int seq_ok = 1;
    for (uint64_t off = 0; off < big_n; off += 128 * 1024) {
        ssize_t n = reader_read(rf, off, 128 * 1024, buf);
        size_t want = big_n - off < 128 * 1024 ? (size_t)(big_n - off) : 128 * 1024;
        if (n != (ssize_t)want || memcmp(buf, big + off, want) != 0)
            seq_ok = 0;
    }
    CHECK(seq_ok);
    CHECK(atomic_load(&fk.bytes) == big_n - BS); /* the block of step 2 was cached */
    CHECK(atomic_load(&fk.calls) < (big_n / BS) / 2); /* batched range requests */
    CHECK(blocks_first_missing(bc, be.sha256, big_n, 0) == -1);
    reader_file_free(rf);

    /* 4. concurrent readers of a fresh object share every fetch */
    uint64_t par_n = 12 * MiB;
    unsigned char *pd = pattern(par_n, 3);
    struct par ps[4];
    pthread_t th[4];
    fk.data = pd;
    fk.size = par_n;
    atomic_store(&fk.bytes, 0);
    for (int i = 0; i < 4; i++) {
        ps[i] = (struct par){.r = r, .e = lfs_entry(pd, par_n), .want = pd};
        pthread_create(&th[i], NULL, par_reader, &ps[i]);
    }
    int all_ok = 1;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        all_ok &= ps[i].ok;
    }
    CHECK(all_ok);
    CHECK(atomic_load(&fk.bytes) == par_n);

    /* 5. bytes that do not match the hash: EIO once complete, evicted */
    uint64_t bad_n = 3 * BS + 5;
    unsigned char *bd = pattern(bad_n, 4);
    struct hub_entry bde = lfs_entry(bd, bad_n);
    fk.data = bd;
    fk.size = bad_n;
    atomic_store(&fk.corrupt, 1);
    CHECK(reader_file_new(r, "bad.bin", "c1", &bde, &rf) == 0);
    ssize_t got = reader_read(rf, 0, (size_t)bad_n, buf);
    CHECK(got == -EIO);
    CHECK(reader_read(rf, 0, 10, buf) == -EIO); /* this handle never serves it */
    CHECK(blocks_first_missing(bc, bde.sha256, bad_n, 0) == 0);
    reader_file_free(rf);
    atomic_store(&fk.corrupt, 0);
    CHECK(reader_file_new(r, "bad.bin", "c1", &bde, &rf) == 0);
    CHECK(reader_read(rf, 0, (size_t)bad_n, buf) == (ssize_t)bad_n);
    CHECK(memcmp(buf, bd, bad_n) == 0);
    reader_file_free(rf);

    /* 6. a failing fetch is an error; the next read recovers */
    uint64_t e_n = 2 * BS;
    unsigned char *ed = pattern(e_n, 5);
    struct hub_entry ee = lfs_entry(ed, e_n);
    fk.data = ed;
    fk.size = e_n;
    atomic_store(&fk.fail, 1);
    CHECK(reader_file_new(r, "e.bin", "c1", &ee, &rf) == 0);
    CHECK(reader_read(rf, 0, 100, buf) == -EIO);
    CHECK(reader_read(rf, 0, 100, buf) == 100 && memcmp(buf, ed, 100) == 0);
    reader_file_free(rf);

    /* 7. a Hub that returns fewer bytes than the tree promised: EIO, no mix */
    struct hub_entry shorter = lfs_entry(ed, e_n);
    shorter.size = e_n + 10;
    CHECK(reader_file_new(r, "s.bin", "c1", &shorter, &rf) == 0);
    CHECK(reader_read(rf, e_n - 5, 15, buf) == -EIO);
    reader_file_free(rf);

    /* 8. sequential reads with read-ahead over bad bytes: reads answer until
     * the stream has seen every byte (read-ahead may get there before the
     * reader), from then on EIO, certainly at EOF; the object is evicted,
     * and a clean re-read afterwards is right */
    uint64_t q_n = 9 * MiB + 77;
    unsigned char *qd = pattern(q_n, 6);
    struct hub_entry qe = lfs_entry(qd, q_n);
    fk.data = qd;
    fk.size = q_n;
    atomic_store(&fk.corrupt, 1);
    CHECK(reader_file_new(r, "q.bin", "c1", &qe, &rf) == 0);
    int eio_at_end = 0, answered_after_eio = 0, seen_eio = 0;
    for (uint64_t off = 0; off < q_n; off += 128 * 1024) {
        ssize_t n = reader_read(rf, off, 128 * 1024, buf);
        if (seen_eio && n >= 0)
            answered_after_eio++;
        seen_eio |= n == -EIO;
        if (off + 128 * 1024 >= q_n)
            eio_at_end = n == -EIO;
    }
    CHECK(eio_at_end);
    CHECK(answered_after_eio == 0);
    CHECK(!reader_file_known_good(rf));
    CHECK(blocks_first_missing(bc, qe.sha256, q_n, 0) == 0);
    reader_file_free(rf);
    atomic_store(&fk.corrupt, 0);
    CHECK(reader_file_new(r, "q.bin", "c1", &qe, &rf) == 0);
    int q_ok = 1;
    for (uint64_t off = 0; off < q_n; off += MiB) {
        size_t want = q_n - off < MiB ? (size_t)(q_n - off) : MiB;
        if (reader_read(rf, off, MiB, buf) != (ssize_t)want || memcmp(buf, qd + off, want) != 0)
            q_ok = 0;
    }
    CHECK(q_ok);
    CHECK(reader_file_known_good(rf));
    reader_file_free(rf);

    /* 9. bad bytes already in the cache (an earlier session) ahead of a read
     * that fetches the rest: the stream hashes them from the cache -> EIO */
    uint64_t k_n = 6 * BS;
    unsigned char *kd = pattern(k_n, 7);
    struct hub_entry ke = lfs_entry(kd, k_n);
    unsigned char *kbad = malloc(3 * BS);
    CHECK(kbad != NULL);
    memcpy(kbad, kd, 3 * BS);
    kbad[5] ^= 1;
    CHECK(blocks_put(bc, ke.sha256, k_n, 0, kbad, 3 * BS) == 0);
    fk.data = kd;
    fk.size = k_n;
    CHECK(reader_file_new(r, "k.bin", "c1", &ke, &rf) == 0);
    CHECK(reader_read(rf, 3 * BS, 2 * BS, buf) == (ssize_t)(2 * BS));
    CHECK(reader_read(rf, 5 * BS, BS, buf) == -EIO);
    CHECK(blocks_first_missing(bc, ke.sha256, k_n, 0) == 0);
    reader_file_free(rf);
    /* and good bytes in the same position verify */
    CHECK(blocks_put(bc, ke.sha256, k_n, 0, kd, 3 * BS) == 0);
    CHECK(reader_file_new(r, "k.bin", "c1", &ke, &rf) == 0);
    CHECK(reader_read(rf, 3 * BS, 3 * BS, buf) == (ssize_t)(3 * BS));
    CHECK(memcmp(buf, kd + 3 * BS, 3 * BS) == 0);
    CHECK(blocks_verify(bc, ke.sha256, k_n, BLOCKS_SHA256) == 0);
    reader_file_free(rf);

    reader_free(r);
    blocks_close(bc);
    free(kbad);
    free(kd);
    free(qd);
    free(buf);
    free(small);
    free(big);
    free(pd);
    free(bd);
    free(ed);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return tap_done();
}
