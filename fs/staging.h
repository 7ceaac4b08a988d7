/* staging.h — write staging files on local disk.
 *
 * A file opened for writing is backed by one staging file under
 * <cache_dir>/staging/ (directory 0700, files 0600, unique names).  Its
 * content is built copy-on-write: the remote bytes are streamed in first
 * (fixed-size chunks, never the whole file in memory) unless the open
 * truncates.  After close the staging file is what the commit worker
 * uploads, so it must survive a daemon crash: its path is recorded in the
 * journal and the file is fsync'ed before the journal row is written.
 *
 * All functions return 0 (or a byte count) or a negative errno. */
#ifndef HUBMOUNT_FS_STAGING_H
#define HUBMOUNT_FS_STAGING_H

#include "hub.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Size of one copy-on-write / hashing chunk. */
#define STAGING_CHUNK (1024u * 1024u)

struct staging;

/* Creates <cache_dir>/staging (0700) if needed. */
int staging_open(const char *cache_dir, struct staging **out) __attribute__((warn_unused_result));
void staging_free(struct staging *st);
const char *staging_dir(const struct staging *st);

/* A new empty staging file, opened O_RDWR|O_CLOEXEC, mode 0600.  Its full
 * path is copied into path_out (path_cap bytes, PATH_MAX is enough). */
int staging_create(struct staging *st, char *path_out, size_t path_cap, int *fd_out)
    __attribute__((warn_unused_result));

/* Opens an existing staging file (a pending file reopened for writing or
 * read back after close).  flags: O_RDONLY or O_RDWR. */
int staging_reopen(const struct staging *st, const char *path, int flags, int *fd_out)
    __attribute__((warn_unused_result));

/* Where copy-on-write content comes from: fills buf with up to len bytes at
 * offset, returns the count (short only at end of file) or -errno. */
typedef ssize_t (*staging_fetch_fn)(void *ctx, uint64_t offset, void *buf, size_t len);

/* Streams `size` bytes from fetch into fd starting at offset 0.  -EIO if the
 * source ends early; the file is left at exactly `size` bytes on success. */
int staging_fill(int fd, uint64_t size, staging_fetch_fn fetch, void *ctx)
    __attribute__((warn_unused_result));

/* A fetch function reading a remote file through hub_ops->read_range. */
struct staging_remote {
    const struct hub_ops *ops;
    const struct hub_source *src;
    const char *commit;
    const char *path;
};
ssize_t staging_fetch_remote(void *ctx, uint64_t offset, void *buf, size_t len);

/* A new staging file holding a copy of an existing local file (reflink
 * when the filesystem supports it).  Used when a file that the commit
 * worker is uploading is opened for writing again. */
int staging_clone(struct staging *st, const char *src_path, char *path_out, size_t path_cap,
                  int *fd_out) __attribute__((warn_unused_result));
/* The same from an open descriptor (the path may be gone: after a commit
 * the block cache takes the staged file over by renaming it). */
int staging_clone_fd(struct staging *st, int src_fd, char *path_out, size_t path_cap,
                     int *fd_out) __attribute__((warn_unused_result));

/* Full-length positional I/O (loops over short transfers, retries EINTR).
 * pwrite returns len or -errno (-ENOSPC when the local disk is full);
 * pread returns the count read (short only at EOF) or -errno. */
ssize_t staging_pwrite(int fd, const void *buf, size_t len, uint64_t offset);
ssize_t staging_pread(int fd, void *buf, size_t len, uint64_t offset);
int staging_truncate(int fd, uint64_t size) __attribute__((warn_unused_result));
int staging_sync(int fd) __attribute__((warn_unused_result));
/* Size of the staging file, or -errno. */
int staging_size(int fd, uint64_t *size_out) __attribute__((warn_unused_result));

/* Removes a staging file (only files inside this staging directory; any
 * other path is refused with -EINVAL so a corrupt journal cannot delete
 * user files).  A missing file is not an error. */
int staging_remove(const struct staging *st, const char *path);

/* Hashes a file in one streaming pass: LFS oid (sha256 of the bytes) and
 * git blob oid (sha1 of "blob <size>\0" + bytes).  Either output may be
 * NULL. */
int staging_hash_file(const char *path, char sha256_hex[HUB_SHA256_HEX],
                      char git_sha1_hex[HUB_SHA1_HEX], uint64_t *size_out)
    __attribute__((warn_unused_result));

/* git blob oid of the LFS pointer text for (sha256, size): the oid the
 * Hub lists for an LFS file. */
int staging_lfs_pointer_oid(const char *sha256_hex, uint64_t size,
                            char git_sha1_hex[HUB_SHA1_HEX]) __attribute__((warn_unused_result));

#endif
