/* reader.c — content reads: block cache, shared range fetches, read-ahead.
 *
 * A "fetch" is one HTTP range request for a run of whole cache blocks of
 * one content hash.  Every fetch that is queued or running sits in the
 * in-flight list, so a reader that needs a block someone is already
 * fetching waits for that fetch and copies out of its buffer instead of
 * asking the Hub again.  Read-ahead fetches are queued for the worker
 * threads; a reader that needs a queued (not yet started) fetch runs it
 * itself rather than waiting behind the queue.
 *
 * Verification streams: every content key being read has one running hash
 * (struct hstream) fed in file order, by the thread that completed the
 * fetch at the hash position (straight from its buffer) and, for bytes
 * that arrived out of order, from the block cache.  So a cold sequential
 * read hashes alongside the transfer instead of re-reading the whole file
 * when its last block lands.  A read that reaches EOF of a complete object
 * waits for the verdict, so a reader of the whole file still sees EIO when
 * the bytes do not match.
 *
 * Locking: reader.lock protects the in-flight list, the queue, every
 * fetch's state and the robj flags; reader_file.lock protects one handle's
 * access-pattern state.  Order: reader_file.lock is never held while taking
 * reader.lock.  reader.lock may be held while calling blocks_* (the block
 * cache has its own internal leaf lock); it is never held during a Hub
 * request. */
#include "reader.h"

#include "hfcache.h"
#include "log.h"

#include <errno.h>
#include <malloc.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BS ((uint64_t)BLOCKS_SIZE)
#define SEQ_SLACK (4u * 1024u * 1024u) /* out-of-order tolerance of async reads */
#define HASH_CHUNK (1024u * 1024u)     /* catch-up reads from the block cache */
/* Idle fetch buffers kept for the next fetch.  Each fetch used to malloc
 * its buffer: fresh pages that the kernel zeroes on first touch (page
 * faults were 4-10% of the daemon's CPU time in profiles of a cold
 * sequential read), and the allocator's arenas held up to twice the
 * buffers in flight (peak RSS ~80-120 MiB for a 256-512 MiB cold read
 * against ~60 MiB with the pool). */
#define POOL_BUFS (READER_WORKERS + 2)
#define POOL_IDLE_S 5 /* idle buffers go back to the system after this quiet */
#define POOL_BUF_SIZE (READER_CHUNK > READER_MAX_SYNC ? READER_CHUNK : READER_MAX_SYNC)

enum hs_verdict { HS_OPEN = 0, HS_MATCH, HS_MISMATCH, HS_GAVE_UP };

/* The running hash of one content key (see the top comment).  Shared by
 * every handle on that key; a mismatch unlists it so new handles start a
 * fresh one (the bad bytes are evicted) while the old handles keep
 * answering EIO. */
struct hstream {
    struct hstream *next; /* reader.streams, while listed */
    bool listed;
    unsigned refs; /* robjs (reader.lock) */
    char key[HUB_SHA256_HEX];
    enum blocks_hash kind;
    uint64_t size;
    uint64_t pos;         /* bytes hashed (reader.lock; written by the busy thread) */
    bool busy;            /* one thread hashes at a time (reader.lock) */
    enum hs_verdict verdict; /* reader.lock */
    EVP_MD_CTX *ctx;      /* only the busy thread touches it */
};

/* What one handle reads; shared (refcounted) with the fetches it started. */
struct robj {
    unsigned refs; /* reader.lock */
    char key[HUB_SHA256_HEX];
    enum blocks_hash kind;
    uint64_t size;
    char *path;
    char commit[HUB_SHA1_HEX];
    struct hstream *hs;
    bool bad; /* reader.lock: failed verification, never serve it */
    int hf_fd; /* verified blob of the Hugging Face cache (fs/hfcache.h), or -1 */
};

struct fetch {
    struct fetch *next;  /* in-flight list */
    struct fetch *qnext; /* work queue */
    struct robj *obj;
    uint64_t first, count; /* blocks */
    uint64_t off;          /* = first * BS */
    size_t len;            /* bytes (the last block may be short) */
    bool queued;           /* waiting in the work queue */
    bool background;       /* counted in queued_bytes */
    bool done;
    int err;
    char *buf; /* valid once done && !err */
    unsigned refs;
};

struct reader {
    struct hub_ops hub;
    const struct hub_source *src;
    struct blocks *bc;
    struct hfcache *hf; /* may be NULL */
    unsigned n_workers;
    pthread_t *threads;
    unsigned n_started;

    pthread_mutex_t lock;
    pthread_cond_t done_cv; /* some fetch completed */
    pthread_cond_t work_cv; /* queue non-empty, or stop */
    pthread_cond_t hash_cv; /* a verification stream went idle */
    struct fetch *inflight;
    struct hstream *streams;
    struct fetch *qhead, *qtail;
    char *pool[POOL_BUFS]; /* idle buffers of POOL_BUF_SIZE bytes */
    unsigned n_pool;
    size_t queued_bytes;
    bool stop;
};

struct reader_file {
    struct reader *r;
    struct robj *obj;
    pthread_mutex_t lock; /* the fields below */
    uint64_t run_start;   /* where the current sequential run began */
    uint64_t next_off;    /* end of the furthest read of the run */
    unsigned seq_hits;    /* 0 before the first read */
    uint64_t ra_end; /* read-ahead scheduled up to this offset */
};

/* ---- objects and fetches (reader.lock held) ------------------------------ */

static void hs_unlist(struct reader *r, struct hstream *hs)
{
    if (!hs->listed)
        return;
    for (struct hstream **pp = &r->streams; *pp; pp = &(*pp)->next) {
        if (*pp == hs) {
            *pp = hs->next;
            break;
        }
    }
    hs->next = NULL;
    hs->listed = false;
}

static void hs_put(struct reader *r, struct hstream *hs)
{
    if (--hs->refs > 0)
        return;
    hs_unlist(r, hs);
    EVP_MD_CTX_free(hs->ctx);
    free(hs);
}

static struct hstream *hs_get(struct reader *r, const char *key, enum blocks_hash kind,
                              uint64_t size)
{
    for (struct hstream *hs = r->streams; hs; hs = hs->next) {
        if (hs->size == size && hs->kind == kind && strcmp(hs->key, key) == 0) {
            hs->refs++;
            return hs;
        }
    }
    struct hstream *hs = calloc(1, sizeof *hs);
    if (!hs)
        return NULL;
    hs->ctx = EVP_MD_CTX_new();
    if (!hs->ctx) {
        free(hs);
        return NULL;
    }
    snprintf(hs->key, sizeof hs->key, "%s", key);
    hs->kind = kind;
    hs->size = size;
    hs->refs = 1;
    hs->listed = true;
    hs->next = r->streams;
    r->streams = hs;
    return hs;
}

static void robj_put(struct reader *r, struct robj *o)
{
    if (--o->refs > 0)
        return;
    if (o->hs)
        hs_put(r, o->hs);
    if (o->hf_fd >= 0)
        close(o->hf_fd);
    free(o->path);
    free(o);
}

/* A fetch buffer of at least len bytes (reader.lock held). */
static char *buf_get(struct reader *r, size_t len)
{
    if (len >= BS && len <= POOL_BUF_SIZE) {
        if (r->n_pool > 0)
            return r->pool[--r->n_pool];
        return malloc(POOL_BUF_SIZE);
    }
    return malloc(len ? len : 1);
}

/* Back to the pool, or freed (reader.lock held). */
static void buf_put(struct reader *r, char *buf, size_t len)
{
    if (buf && len >= BS && len <= POOL_BUF_SIZE && r->n_pool < POOL_BUFS)
        r->pool[r->n_pool++] = buf;
    else
        free(buf);
}

/* Drops n references (the executor's and a waiter's at once, say). */
static void fetch_put_n(struct reader *r, struct fetch *fe, unsigned n)
{
    fe->refs -= n;
    if (fe->refs > 0)
        return;
    robj_put(r, fe->obj);
    buf_put(r, fe->buf, fe->len);
    free(fe);
}

static void fetch_put(struct reader *r, struct fetch *fe)
{
    fetch_put_n(r, fe, 1);
}

static struct fetch *find_fetch(struct reader *r, const char *key, uint64_t block)
{
    for (struct fetch *fe = r->inflight; fe; fe = fe->next)
        if (block >= fe->first && block < fe->first + fe->count &&
            strcmp(fe->obj->key, key) == 0)
            return fe;
    return NULL;
}

static struct fetch *fetch_new(struct reader *r, struct robj *o, uint64_t first,
                               uint64_t count)
{
    struct fetch *fe = calloc(1, sizeof *fe);
    if (!fe)
        return NULL;
    fe->obj = o;
    o->refs++;
    fe->first = first;
    fe->count = count;
    fe->off = first * BS;
    uint64_t end = (first + count) * BS;
    if (end > o->size)
        end = o->size;
    fe->len = (size_t)(end - fe->off);
    fe->refs = 1; /* the executor's reference */
    fe->next = r->inflight;
    r->inflight = fe;
    return fe;
}

static void unlink_inflight(struct reader *r, struct fetch *fe)
{
    for (struct fetch **pp = &r->inflight; *pp; pp = &(*pp)->next) {
        if (*pp == fe) {
            *pp = fe->next;
            fe->next = NULL;
            return;
        }
    }
}

static void unlink_queue(struct reader *r, struct fetch *fe)
{
    struct fetch *prev = NULL;
    for (struct fetch *q = r->qhead; q; prev = q, q = q->qnext) {
        if (q != fe)
            continue;
        if (prev)
            prev->qnext = q->qnext;
        else
            r->qhead = q->qnext;
        if (r->qtail == q)
            r->qtail = prev;
        q->qnext = NULL;
        fe->queued = false;
        return;
    }
}

/* ---- running one fetch (reader.lock NOT held) ------------------------------ */

/* ---- verification streams -------------------------------------------------- */

/* Is the block at the hash position in the cache? (reader.lock held) */
static bool hs_cached_at_pos(struct reader *r, const struct hstream *hs)
{
    if (hs->pos >= hs->size)
        return false;
    uint64_t b = hs->pos / BS;
    int64_t fm = blocks_first_missing(r->bc, hs->key, hs->size, b);
    return fm == -1 || (uint64_t)fm > b;
}

/* Every block from the hash position to the end is cached. (reader.lock held) */
static bool hs_rest_cached(struct reader *r, const struct hstream *hs)
{
    return hs->pos < hs->size && blocks_first_missing(r->bc, hs->key, hs->size, hs->pos / BS) == -1;
}

/* Hash len more bytes at hs->pos (the busy thread only). */
static int hs_update(struct hstream *hs, uint64_t pos, const void *data, size_t len)
{
    if (pos == 0) {
        if (!EVP_DigestInit_ex(hs->ctx, hs->kind == BLOCKS_GIT_SHA1 ? EVP_sha1() : EVP_sha256(),
                               NULL))
            return -EIO;
        if (hs->kind == BLOCKS_GIT_SHA1) { /* git hashes "blob SIZE" and its NUL first */
            char hdr[48];
            int n = snprintf(hdr, sizeof hdr, "blob %llu", (unsigned long long)hs->size);
            if (n < 0 || (size_t)n >= sizeof hdr ||
                !EVP_DigestUpdate(hs->ctx, hdr, (size_t)n + 1))
                return -EIO;
        }
    }
    return EVP_DigestUpdate(hs->ctx, data, len) ? 0 : -EIO;
}

/* The digest of the whole content against the key (the busy thread only). */
static enum hs_verdict hs_finish(struct hstream *hs)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    if (!EVP_DigestFinal_ex(hs->ctx, md, &mdlen))
        return HS_GAVE_UP;
    static const char digits[] = "0123456789abcdef";
    for (unsigned int i = 0; i < mdlen; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[2 * mdlen] = '\0';
    return strcmp(hex, hs->key) == 0 ? HS_MATCH : HS_MISMATCH;
}

/* Feed the stream of o: first [off, off+len) from buf if it covers the
 * hash position, then (with catch_up, or when every remaining block is
 * cached) whatever the block cache holds contiguously from there.  Returns
 * -EIO if this call found the content bad (it is then evicted), else 0.
 * Takes reader.lock; never called with it held. */
static int hs_feed(struct reader *r, struct robj *o, const char *buf, uint64_t off, size_t len,
                   bool catch_up)
{
    struct hstream *hs = o->hs;
    char *tmp = NULL;
    enum hs_verdict verdict = HS_OPEN;
    pthread_mutex_lock(&r->lock);
    bool own = buf && off <= hs->pos && hs->pos < off + len;
    if (hs->verdict != HS_OPEN || hs->busy)
        goto out;
    if (!catch_up && hs_rest_cached(r, hs))
        catch_up = true; /* this fetch completed the object: finish now */
    if (!own && !(catch_up && hs_cached_at_pos(r, hs)))
        goto out;
    hs->busy = true;
    for (;;) {
        uint64_t pos = hs->pos;
        pthread_mutex_unlock(&r->lock);
        size_t n = 0;
        int e = 0;
        if (own) {
            n = (size_t)(off + len - pos);
            e = hs_update(hs, pos, buf + (pos - off), n);
            own = false;
        } else {
            size_t want = hs->size - pos < HASH_CHUNK ? (size_t)(hs->size - pos) : HASH_CHUNK;
            ssize_t got = (tmp || (tmp = malloc(HASH_CHUNK)))
                              ? blocks_get(r->bc, hs->key, hs->size, pos, tmp, want)
                              : -ENOMEM;
            if (got > 0) {
                n = (size_t)got;
                e = hs_update(hs, pos, tmp, n);
            } else if (got < 0) {
                e = (int)got;
            }
        }
        if (e == 0 && n > 0 && pos + n == hs->size)
            verdict = hs_finish(hs);
        else if (e)
            verdict = HS_GAVE_UP;
        pthread_mutex_lock(&r->lock);
        hs->pos = pos + n;
        if (verdict != HS_OPEN || n == 0 || !catch_up || !hs_cached_at_pos(r, hs))
            break;
    }
    hs->busy = false;
    hs->verdict = verdict;
    if (verdict == HS_MISMATCH) {
        /* Evict before anyone can see the verdict, so that a reader told
         * EIO who opens again never finds the bad bytes. */
        (void)blocks_evict(r->bc, o->key);
        hs_unlist(r, hs); /* new handles start afresh */
    }
    pthread_cond_broadcast(&r->hash_cv);
out:
    pthread_mutex_unlock(&r->lock);
    free(tmp);
    if (verdict == HS_MISMATCH) {
        hm_error("content of %s (%s) failed verification: evicted", o->path, o->key);
        return -EIO;
    }
    if (verdict == HS_MATCH)
        (void)blocks_mark_verified(r->bc, o->key, o->size);
    else if (verdict == HS_GAVE_UP)
        hm_warn("cannot verify %s (%s) while reading it", o->path, o->key);
    return 0;
}

/* A read reached EOF: if the whole object is cached, make sure it has been
 * verified (hashing what the stream has not seen yet) and return -EIO if it
 * does not match.  An object verified in an earlier session is not hashed
 * again (blocks_verify remembers). */
static int hs_check_at_eof(struct reader *r, struct robj *o)
{
    struct hstream *hs = o->hs;
    int ret = 0;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        if (hs->verdict != HS_OPEN)
            break;
        if (hs->busy) {
            pthread_cond_wait(&r->hash_cv, &r->lock);
            continue;
        }
        if (blocks_first_missing(r->bc, hs->key, hs->size, hs->pos / BS) != -1)
            break; /* not all here: nothing to verify yet */
        uint64_t before = hs->pos;
        pthread_mutex_unlock(&r->lock);
        if (before == 0) {
            /* Nothing hashed in this session: the cache may know it is good. */
            int v = blocks_verify(r->bc, o->key, o->size, o->kind);
            pthread_mutex_lock(&r->lock);
            if (v == 0 && hs->verdict == HS_OPEN && hs->pos == 0 && !hs->busy)
                hs->verdict = HS_MATCH;
            if (v == -EIO) {
                hm_error("content of %s (%s) failed verification: evicted", o->path, o->key);
                if (hs->verdict == HS_OPEN && !hs->busy) {
                    hs->verdict = HS_MISMATCH;
                    hs_unlist(r, hs);
                }
                ret = -EIO;
                break;
            }
            if (v < 0 && v != -EAGAIN)
                break;
            continue;
        }
        ret = hs_feed(r, o, NULL, 0, 0, true);
        pthread_mutex_lock(&r->lock);
        if (ret < 0 || (hs->verdict == HS_OPEN && !hs->busy && hs->pos == before))
            break; /* an error, or no progress (evicted meanwhile) */
    }
    if (hs->verdict == HS_MISMATCH)
        ret = -EIO;
    if (ret < 0)
        o->bad = true;
    pthread_mutex_unlock(&r->lock);
    return ret;
}

static void run_fetch(struct reader *r, struct fetch *fe)
{
    struct robj *o = fe->obj;
    int err = 0;
    pthread_mutex_lock(&r->lock);
    char *buf = buf_get(r, fe->len);
    pthread_mutex_unlock(&r->lock);
    if (!buf) {
        err = -ENOMEM;
        goto done;
    }
    ssize_t n = r->hub.read_range(r->hub.ctx, r->src, o->commit, o->path, fe->off, buf,
                                  fe->len);
    if (n < 0) {
        err = (int)n;
        hm_warn("read %s [%llu+%zu]: %s", o->path, (unsigned long long)fe->off, fe->len,
                strerror(-err));
        goto done;
    }
    if ((size_t)n != fe->len) {
        /* Short before the size the tree promised: the Hub and the tree
         * disagree; never hand out a mix. */
        hm_error("read %s: got %zd of %zu bytes at %llu", o->path, n, fe->len,
                 (unsigned long long)fe->off);
        err = -EIO;
        goto done;
    }
    int put = blocks_put(r->bc, o->key, o->size, fe->off, buf, fe->len);
    if (put < 0)
        hm_debug("cache store of %s failed: %s", o->key, strerror(-put));
done:
    pthread_mutex_lock(&r->lock);
    if (err) {
        buf_put(r, buf, fe->len);
        buf = NULL;
    }
    fe->buf = buf;
    fe->err = err;
    fe->done = true;
    unlink_inflight(r, fe);
    if (fe->background) {
        r->queued_bytes -= fe->len;
        fe->background = false;
    }
    pthread_cond_broadcast(&r->done_cv);
    pthread_mutex_unlock(&r->lock);
}

static void *worker_main(void *arg)
{
    struct reader *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->stop && !r->qhead) {
            if (r->n_pool == 0) {
                pthread_cond_wait(&r->work_cv, &r->lock);
                continue;
            }
            /* The pool serves a run of reads; between runs it would hold
             * up to POOL_BUFS x 4 MiB per mounted repo for good. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += POOL_IDLE_S;
            if (pthread_cond_timedwait(&r->work_cv, &r->lock, &ts) == ETIMEDOUT && !r->qhead &&
                r->n_pool > 0) {
                while (r->n_pool > 0)
                    free(r->pool[--r->n_pool]);
                /* glibc keeps freed 4 MiB chunks in its arenas; give them back */
                malloc_trim(0);
            }
        }
        if (r->stop)
            break;
        struct fetch *fe = r->qhead;
        unlink_queue(r, fe);
        pthread_mutex_unlock(&r->lock);
        run_fetch(r, fe);
        /* The buffer stays ours until fetch_put: hash it now that the
         * readers waiting for it have been woken. */
        if (!fe->err)
            (void)hs_feed(r, fe->obj, fe->buf, fe->off, fe->len, true);
        pthread_mutex_lock(&r->lock);
        fetch_put(r, fe); /* executor reference */
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* ---- the reader ------------------------------------------------------------ */

int reader_new(const struct reader_config *cfg, struct reader **out)
{
    struct reader *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->hub = cfg->hub;
    r->src = cfg->src;
    r->bc = cfg->blocks;
    r->hf = cfg->hf;
    r->n_workers = cfg->workers ? cfg->workers : READER_WORKERS;
    r->threads = calloc(r->n_workers, sizeof *r->threads);
    if (!r->threads) {
        free(r);
        return -ENOMEM;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->done_cv, NULL);
    pthread_cond_init(&r->work_cv, NULL);
    pthread_cond_init(&r->hash_cv, NULL);
    *out = r;
    return 0;
}

int reader_start(struct reader *r)
{
    for (unsigned i = r->n_started; i < r->n_workers; i++) {
        int e = pthread_create(&r->threads[i], NULL, worker_main, r);
        if (e) {
            hm_error("cannot start read-ahead thread: %s", strerror(e));
            return -e;
        }
        r->n_started++;
    }
    return 0;
}

void reader_free(struct reader *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_broadcast(&r->work_cv);
    pthread_mutex_unlock(&r->lock);
    for (unsigned i = 0; i < r->n_started; i++)
        pthread_join(r->threads[i], NULL);
    /* Queued fetches nobody will run: drop the executor references. */
    pthread_mutex_lock(&r->lock);
    while (r->qhead) {
        struct fetch *fe = r->qhead;
        unlink_queue(r, fe);
        unlink_inflight(r, fe);
        fetch_put(r, fe);
    }
    pthread_mutex_unlock(&r->lock);
    pthread_cond_destroy(&r->done_cv);
    pthread_cond_destroy(&r->work_cv);
    pthread_cond_destroy(&r->hash_cv);
    pthread_mutex_destroy(&r->lock);
    while (r->n_pool > 0)
        free(r->pool[--r->n_pool]);
    free(r->threads);
    free(r);
}

int reader_file_new(struct reader *r, const char *path, const char *commit,
                    const struct hub_entry *e, struct reader_file **out)
{
    struct reader_file *f = calloc(1, sizeof *f);
    struct robj *o = calloc(1, sizeof *o);
    if (!f || !o)
        goto nomem;
    o->path = strdup(path);
    if (!o->path)
        goto nomem;
    o->refs = 1;
    o->hf_fd = -1;
    o->size = e->size;
    snprintf(o->commit, sizeof o->commit, "%s", commit);
    if (e->is_lfs && e->sha256[0]) {
        snprintf(o->key, sizeof o->key, "%s", e->sha256);
        o->kind = BLOCKS_SHA256;
    } else {
        snprintf(o->key, sizeof o->key, "%s", e->oid);
        o->kind = BLOCKS_GIT_SHA1;
    }
    /* Content the Hugging Face cache already holds is read from there
     * (verified by hfcache_open) unless our own cache has all of it. */
    if (r->hf && o->size > 0 && r->src &&
        blocks_first_missing(r->bc, o->key, o->size, 0) != -1) {
        int fd = hfcache_open(r->hf, r->src->type, r->src->repo_id, o->key, o->kind, o->size);
        if (fd >= 0)
            o->hf_fd = fd;
    }
    pthread_mutex_lock(&r->lock);
    o->hs = hs_get(r, o->key, o->kind, o->size);
    pthread_mutex_unlock(&r->lock);
    if (!o->hs)
        goto nomem;
    f->r = r;
    f->obj = o;
    pthread_mutex_init(&f->lock, NULL);
    *out = f;
    return 0;
nomem:
    if (o)
        free(o->path);
    free(o);
    free(f);
    return -ENOMEM;
}

void reader_file_free(struct reader_file *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->r->lock);
    robj_put(f->r, f->obj);
    pthread_mutex_unlock(&f->r->lock);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

bool reader_file_known_good(struct reader_file *f)
{
    struct reader *r = f->r;
    struct robj *o = f->obj;
    if (o->hf_fd >= 0)
        return true; /* verified when the handle was made */
    pthread_mutex_lock(&r->lock);
    enum hs_verdict v = o->hs->verdict;
    pthread_mutex_unlock(&r->lock);
    if (v != HS_OPEN)
        return v == HS_MATCH;
    /* blocks_verify answers at once for content verified before (the flag
     * is kept in the map file); complete but never verified content is
     * hashed here, once. */
    return o->size > 0 && blocks_first_missing(r->bc, o->key, o->size, 0) == -1 &&
           blocks_verify(r->bc, o->key, o->size, o->kind) == 0;
}

/* Update the access pattern with a read of [off, off+len); returns the
 * read-ahead range to schedule in ra_from..ra_to (empty when random). */
static void track_access(struct reader_file *f, uint64_t off, size_t len, uint64_t *ra_from,
                         uint64_t *ra_to)
{
    uint64_t end = off + len, size = f->obj->size;
    *ra_from = *ra_to = 0;
    pthread_mutex_lock(&f->lock);
    bool seq = f->seq_hits > 0 && off + SEQ_SLACK >= f->next_off &&
               off <= f->next_off + SEQ_SLACK;
    if (seq) {
        if (end > f->next_off)
            f->next_off = end;
    } else {
        f->run_start = off;
        f->next_off = end;
        f->ra_end = 0;
    }
    f->seq_hits = 1;
    /* Read ahead as far as the reader has already come sequentially, from
     * READER_MIN_RUN on, up to READER_MAX_WINDOW: one large read (which
     * the kernel splits into several requests) or a 4 KiB probe does not
     * start a stream, a cat of a big file quickly does. */
    uint64_t run = f->next_off - f->run_start;
    uint64_t window = run < READER_MIN_RUN ? 0 : run > READER_MAX_WINDOW ? READER_MAX_WINDOW : run;
    if (window) {
        uint64_t from = f->ra_end > end ? f->ra_end : end;
        uint64_t to = end + window;
        if (to > size)
            to = size;
        /* Schedule in sizeable pieces, not one block per read. */
        uint64_t min_step = window / 4 < BS ? BS : window / 4;
        if (to > from && (to - from >= min_step || to == size)) {
            *ra_from = from;
            *ra_to = to;
            f->ra_end = to;
        }
    }
    pthread_mutex_unlock(&f->lock);
}

/* Neither cached nor being fetched (reader.lock held). */
static bool block_wanted(struct reader *r, struct robj *o, uint64_t block)
{
    return !find_fetch(r, o->key, block) &&
           blocks_first_missing(r->bc, o->key, o->size, block) == (int64_t)block;
}

static void schedule_readahead(struct reader_file *f, uint64_t from, uint64_t to)
{
    struct reader *r = f->r;
    struct robj *o = f->obj;
    uint64_t b = from / BS, end_b = (to + BS - 1) / BS;
    const uint64_t chunk_blocks = READER_CHUNK / BS;
    pthread_mutex_lock(&r->lock);
    while (b < end_b && !r->stop && r->n_started > 0) {
        if (r->queued_bytes >= READER_MAX_QUEUED_BYTES)
            break;
        int64_t fm = blocks_first_missing(r->bc, o->key, o->size, b);
        if (fm < 0 || (uint64_t)fm >= end_b)
            break;
        b = (uint64_t)fm;
        struct fetch *busy = find_fetch(r, o->key, b);
        if (busy) {
            b = busy->first + busy->count;
            continue;
        }
        uint64_t e = b + 1;
        while (e < end_b && e - b < chunk_blocks && block_wanted(r, o, e))
            e++;
        struct fetch *fe = fetch_new(r, o, b, e - b);
        if (!fe)
            break;
        fe->queued = true;
        fe->background = true;
        r->queued_bytes += fe->len;
        if (r->qtail)
            r->qtail->qnext = fe;
        else
            r->qhead = fe;
        r->qtail = fe;
        pthread_cond_signal(&r->work_cv);
        b = e;
    }
    pthread_mutex_unlock(&r->lock);
}

/* From a verified Hugging Face cache blob: len bytes (short only if the
 * blob shrank under us, which reads as EIO rather than as EOF). */
static ssize_t hf_read(int fd, uint64_t off, size_t len, char *buf)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EIO;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t reader_read(struct reader_file *f, uint64_t off, size_t len, char *buf)
{
    struct reader *r = f->r;
    struct robj *o = f->obj;
    if (off >= o->size || len == 0)
        return 0;
    if (len > o->size - off)
        len = (size_t)(o->size - off);
    if (o->hf_fd >= 0)
        return hf_read(o->hf_fd, off, len, buf);

    pthread_mutex_lock(&r->lock);
    bool bad = o->bad || o->hs->verdict == HS_MISMATCH;
    pthread_mutex_unlock(&r->lock);
    if (bad)
        return -EIO;

    uint64_t ra_from, ra_to;
    track_access(f, off, len, &ra_from, &ra_to);
    if (ra_to > ra_from) /* first, so the workers run alongside our own fetch */
        schedule_readahead(f, ra_from, ra_to);

    size_t done = 0;
    int err = 0;
    while (done < len) {
        uint64_t pos = off + done;
        ssize_t n = blocks_get(r->bc, o->key, o->size, pos, buf + done, len - done);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        uint64_t b = pos / BS;
        bool run = false;
        pthread_mutex_lock(&r->lock);
        struct fetch *fe = find_fetch(r, o->key, b);
        if (!fe) {
            /* It may have landed between blocks_get and the lock. */
            n = blocks_get(r->bc, o->key, o->size, pos, buf + done, len - done);
            if (n > 0) {
                pthread_mutex_unlock(&r->lock);
                done += (size_t)n;
                continue;
            }
            uint64_t last = (off + len - 1) / BS;
            uint64_t cap = b + READER_MAX_SYNC / BS - 1;
            if (last > cap)
                last = cap;
            uint64_t e = b + 1;
            while (e <= last && block_wanted(r, o, e))
                e++;
            fe = fetch_new(r, o, b, e - b);
            if (!fe) {
                pthread_mutex_unlock(&r->lock);
                err = -ENOMEM;
                break;
            }
            fe->refs++; /* ours, besides the executor's */
            run = true;
        } else {
            fe->refs++;
            if (fe->queued) { /* do not wait behind the queue: run it here */
                unlink_queue(r, fe);
                if (fe->background) {
                    r->queued_bytes -= fe->len;
                    fe->background = false;
                }
                run = true;
            }
        }
        pthread_mutex_unlock(&r->lock);

        if (run) {
            run_fetch(r, fe);
            pthread_mutex_lock(&r->lock);
        } else {
            pthread_mutex_lock(&r->lock);
            while (!fe->done)
                pthread_cond_wait(&r->done_cv, &r->lock);
        }
        if (fe->err) {
            err = fe->err;
        } else {
            size_t start = (size_t)(pos - fe->off);
            size_t m = fe->len - start;
            if (m > len - done)
                m = len - done;
            memcpy(buf + done, fe->buf + start, m);
            done += m;
        }
        if (run && !err) {
            /* Our own fetch: hash its buffer (and finish the object if it
             * completed it) before the executor reference goes. */
            pthread_mutex_unlock(&r->lock);
            err = hs_feed(r, o, fe->buf, fe->off, fe->len, false);
            pthread_mutex_lock(&r->lock);
        }
        fetch_put_n(r, fe, run ? 2 : 1); /* ours, and the executor's if we ran it */
        pthread_mutex_unlock(&r->lock);
        if (err)
            break;
    }
    if (!err && off + done >= o->size)
        err = hs_check_at_eof(r, o);
    /* A partial answer would look like EOF to the kernel: all or error. */
    return err ? err : (ssize_t)done;
}
