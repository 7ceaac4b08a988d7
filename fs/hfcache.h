/* hfcache.h — file content already present in the standard Hugging Face
 * cache (the one huggingface_hub, transformers and `hf download` fill).
 *
 * That cache keeps each repo under HUB_DIR/<type>s--<namespace>--<name>/
 * with its content in blobs/<etag>, where the etag is the LFS sha256 for
 * LFS files and the git blob sha1 for regular files: exactly hubmount's
 * content keys.  So before asking the Hub for a file, the reader looks for
 * blobs/<key> of the same repo and, when it is there with the right size
 * and hashes to the key, serves the bytes from it (read-only: nothing is
 * ever written, moved or deleted there).  A blob that does not match is
 * never served: the reader downloads as if it were absent.
 *
 * Verdicts are remembered per (device, inode, size, mtime, ctime) so a
 * blob is hashed once per mount, and again if it changes.  Thread-safe. */
#ifndef HUBMOUNT_FS_HFCACHE_H
#define HUBMOUNT_FS_HFCACHE_H

#include "blocks.h"
#include "hub.h"

#include <stdint.h>

struct hfcache;

/* hub_dir: the cache's hub folder (HF_HUB_CACHE, $HF_HOME/hub, ...).  A
 * folder that does not exist (yet) is fine: lookups then find nothing. */
int hfcache_new(const char *hub_dir, struct hfcache **out) __attribute__((warn_unused_result));
void hfcache_free(struct hfcache *hc);

/* The default hub folder as huggingface_hub computes it: $HF_HUB_CACHE,
 * else $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
 * Writes it into out; -ENOENT when HOME is unset too, -ENAMETOOLONG. */
int hfcache_default_dir(char *out, size_t cap);

/* A read-only descriptor of the verified blob `key` (lowercase hex; a
 * sha256 for BLOCKS_SHA256, a git blob sha1 for BLOCKS_GIT_SHA1) of the
 * repo, whose size must be `size`.  -ENOENT when there is none, it has
 * another size, or it failed verification (logged once). */
int hfcache_open(struct hfcache *hc, enum hub_repo_type type, const char *repo_id,
                 const char *key, enum blocks_hash kind, uint64_t size)
    __attribute__((warn_unused_result));

/* "models--acme--tiny" for (model, "acme/tiny"): huggingface_hub's repo
 * folder name.  0, or -ENAMETOOLONG. */
int hfcache_repo_folder(enum hub_repo_type type, const char *repo_id, char *out, size_t cap);

#endif
