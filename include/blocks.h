/* blocks.h — the on-disk content cache.
 *
 * Content is keyed by its hash (LFS sha256, or git blob sha1 for regular
 * files), so identical bytes in different revisions, repos and mounts are
 * stored once.  Each object is a sparse file plus a map of which fixed-size
 * blocks (BLOCKS_SIZE) are present.  The cache is bounded (max_bytes) and
 * evicts least-recently-used whole objects.  A fully present object is
 * verified against its hash once; a mismatch evicts it and reports -EIO.
 * Files are 0600 in 0700 directories.  Thread-safe. */
#ifndef HUBMOUNT_BLOCKS_H
#define HUBMOUNT_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BLOCKS_SIZE (256u * 1024u)

struct blocks;

enum blocks_hash { BLOCKS_GIT_SHA1, BLOCKS_SHA256 };

int blocks_open(const char *dir, uint64_t max_bytes, struct blocks **out)
    __attribute__((warn_unused_result));
void blocks_close(struct blocks *bc);

/* Copy cached bytes of object `key` (size file_size) from offset into buf.
 * Returns the number of contiguous bytes available from `offset` (0 if the
 * block at offset is missing; never more than len). */
ssize_t blocks_get(struct blocks *bc, const char *key, uint64_t file_size,
                   uint64_t offset, void *buf, size_t len);

/* A read-only descriptor on the data file of object `key` (size file_size)
 * when every byte of [offset, offset+len) (clamped to the size) is cached,
 * for a caller that preads them itself, many times through one open file
 * (the kernel's read-ahead is per open file); the caller closes it.  An
 * eviction unlinks the file, so the descriptor keeps the bytes it was
 * opened for.  -ENOENT when some of the range is not cached (nothing
 * opened), other -errno on failure. */
int blocks_open_range(struct blocks *bc, const char *key, uint64_t file_size, uint64_t offset,
                      size_t len) __attribute__((warn_unused_result));

/* Store bytes; offset must be block-aligned and len a whole number of blocks
 * except for the object's last block.  Returns 0 or -errno (-ENOSPC...). */
int blocks_put(struct blocks *bc, const char *key, uint64_t file_size, uint64_t offset,
               const void *buf, size_t len);

/* First missing block index at or after block `from`, or -1 if all present
 * up to the end of the object. */
int64_t blocks_first_missing(struct blocks *bc, const char *key, uint64_t file_size,
                             uint64_t from_block);

/* When every block is present: hash the object and compare to key.
 * 0 ok (remembered), -EAGAIN not complete yet, -EIO mismatch (evicted). */
int blocks_verify(struct blocks *bc, const char *key, uint64_t file_size,
                  enum blocks_hash kind);

/* The caller hashed the complete object itself while it arrived and it
 * matched key: remember it as verified, as blocks_verify would, without
 * reading it again.  0, or -EAGAIN if it is not complete (any more). */
int blocks_mark_verified(struct blocks *bc, const char *key, uint64_t file_size);

/* Move/copy a complete local file into the cache under key (after a commit,
 * staged bytes become cache content without a re-download). */
int blocks_import_file(struct blocks *bc, const char *key, const char *path);

int blocks_evict(struct blocks *bc, const char *key);
uint64_t blocks_bytes_used(struct blocks *bc);

#endif
