/* content_hash.h — the digest the Hub names file content by, over an open
 * file: sha256 for LFS objects, the git blob sha1 for regular files.  Used
 * to verify objects of the block cache (cache/blocks.c) and blobs of the
 * Hugging Face cache (fs/hfcache.c). */
#ifndef HUBMOUNT_CACHE_CONTENT_HASH_H
#define HUBMOUNT_CACHE_CONTENT_HASH_H

#include "blocks.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hashes bytes [0, size) of fd (pread, 1 MiB at a time; git's
 * "blob <size>\0" header first for BLOCKS_GIT_SHA1) and writes the
 * lowercase hex digest and a NUL to hex (hex_size >= 65 fits both kinds).
 * When the file ends before `size` bytes, *short_file is set and nothing is
 * written to hex; the caller decides what that means.  0 or -errno (-EIO
 * for a libcrypto failure or a hex buffer too small). */
int content_hash_fd(int fd, uint64_t size, enum blocks_hash kind, char *hex, size_t hex_size,
                    bool *short_file) __attribute__((warn_unused_result));

#endif
