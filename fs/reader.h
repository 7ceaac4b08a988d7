/* reader.h — file content for the read path: block cache first, then HTTP
 * range requests, with read-ahead for sequential readers.
 *
 * One struct reader per mount owns a few worker threads that run
 * read-ahead fetches.  One struct reader_file per open handle remembers
 * WHICH content it reads (path + commit for the request, content hash for
 * the cache key, size) so a handle keeps reading the version it opened
 * after the branch moves, and tracks the handle's access pattern.
 *
 * Memory is bounded: a fetch buffer exists only while its request runs or
 * a reader copies out of it; at most READER_MAX_QUEUED_BYTES of read-ahead
 * is outstanding and READER_WORKERS requests run in the background, each of
 * at most READER_CHUNK bytes.  Synchronous fetches are at most one read
 * request (max_read) rounded out to whole blocks, one per FUSE thread.
 * With the defaults: 4 x 4 MiB in the background plus 64 threads x 1.25 MiB
 * in the worst case, i.e. under 100 MiB whatever the file size. */
#ifndef HUBMOUNT_FS_READER_H
#define HUBMOUNT_FS_READER_H

#include "blocks.h"
#include "hub.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define READER_WORKERS 4
#define READER_CHUNK (4u * 1024u * 1024u)          /* one background range request */
#define READER_MAX_WINDOW (16u * 1024u * 1024u)    /* read-ahead window cap */
#define READER_MIN_RUN (1024u * 1024u)             /* sequential bytes before read-ahead */
#define READER_MAX_QUEUED_BYTES (32u * 1024u * 1024u)
#define READER_MAX_SYNC (2u * 1024u * 1024u)       /* one synchronous request */

struct reader;
struct reader_file;
struct hfcache;

struct reader_config {
    struct hub_ops hub;           /* read_range is used (a fake in unit tests) */
    const struct hub_source *src; /* must outlive the reader */
    struct blocks *blocks;
    struct hfcache *hf; /* the Hugging Face cache to read verified blobs from (may be NULL) */
    unsigned workers; /* 0 = READER_WORKERS */
};

int reader_new(const struct reader_config *cfg, struct reader **out)
    __attribute__((warn_unused_result));
/* Starts the worker threads; call after fuse_daemonize (fork kills threads). */
int reader_start(struct reader *r) __attribute__((warn_unused_result));
/* Stops the workers (waiting for running requests) and frees everything. */
void reader_free(struct reader *r);

/* A handle on the content of `path` at `commit` described by `e` (size,
 * oid, LFS sha256); copies what it needs. */
int reader_file_new(struct reader *r, const char *path, const char *commit,
                    const struct hub_entry *e, struct reader_file **out)
    __attribute__((warn_unused_result));
void reader_file_free(struct reader_file *f);

/* True when the handle's content is whole in the block cache and verified
 * (in this session or an earlier one).  Only such content may keep the
 * kernel's page cache across opens: pages of content that is still being
 * fetched could be bytes that later fail verification. */
bool reader_file_known_good(struct reader_file *f);

/* Up to len bytes at off into buf: a byte count (0 at or beyond EOF, short
 * only at EOF) or -errno (-EIO when a fully fetched file fails its hash). */
ssize_t reader_read(struct reader_file *f, uint64_t off, size_t len, char *buf)
    __attribute__((warn_unused_result));

#endif
