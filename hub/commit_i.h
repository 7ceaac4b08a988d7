/* commit_i.h — state shared by the steps of hub_commit (hub-internal):
 * prepare (hash + sample) -> preupload -> LFS batch/upload -> NDJSON. */
#ifndef HUBMOUNT_HUB_COMMIT_I_H
#define HUBMOUNT_HUB_COMMIT_I_H

#include "hub_i.h"

#define HUB_SAMPLE_BYTES 512
/* The Hub refuses regular (non-LFS) files of 10 MiB and more in a commit:
 * such files are always LFS, identified by their sha256 alone. */
#define HUB_REGULAR_MAX ((uint64_t)10 << 20)

/* One HUB_OP_ADD whose content comes from a local staging file. */
struct commit_file {
    struct hub_commit_op *op;
    uint64_t size;
    char sha256[HUB_SHA256_HEX];
    char git_oid[HUB_SHA1_HEX];             /* git blob sha1, to spot unchanged files; "" for
                                               files of HUB_REGULAR_MAX bytes and more */
    char sample_b64[4 * ((HUB_SAMPLE_BYTES + 2) / 3) + 1];
    bool lfs;   /* preupload said uploadMode "lfs" */
    bool skip;  /* ignored by .gitignore, or already identical on the Hub */
    bool identical; /* skipped because the parent holds the same content (not ignored) */
    json_t *upload; /* LFS batch actions.upload (owned ref), NULL: nothing to upload */
    json_t *verify; /* LFS batch actions.verify (owned ref) or NULL */
};

/* Stream the file once: size, sha256, git oid (below HUB_REGULAR_MAX), base64
 * of the first 512 bytes. */
int hub_commit_hash_file(const char *path, struct commit_file *cf)
    __attribute__((warn_unused_result));

/* POST .../preupload in batches: sets lfs / skip of every file. */
int hub_commit_preupload(struct hub_client *hc, const struct hub_source *src,
                         const char *branch, struct commit_file *files, size_t n)
    __attribute__((warn_unused_result));

/* LFS batch for the lfs files, then their uploads (basic or multipart,
 * up to 4 parts in parallel, the parts of one file too). */
int hub_commit_lfs(struct hub_client *hc, const struct hub_source *src, const char *branch,
                   struct commit_file *files, size_t n) __attribute__((warn_unused_result));

/* Upload progress (progress.c): the progress bound to the calling thread
 * (hub_progress_bind), and its life through one round of uploads.  All
 * accept NULL. */
struct hub_progress *hub_progress_bound(void);
void hub_progress_begin(struct hub_progress *p, unsigned files, uint64_t total);
void hub_progress_file_done(struct hub_progress *p);
void hub_progress_end(struct hub_progress *p, int rc);

/* ---- parsers of the server's answers (pure; fuzzed in tests/fuzz) ---- */

/* /preupload answer {"files": [{path, uploadMode, shouldIgnore, oid}]}:
 * sets lfs / skip of the matching files.  -EIO without a "files" array. */
int hub_preupload_apply(const json_t *res, struct commit_file *files, size_t n)
    __attribute__((warn_unused_result));

/* LFS batch answer {"objects": [{oid, actions: {upload, verify}} | {oid,
 * error}]}: takes references to the actions of the matching files (which
 * the caller releases); an object refused with "error" fails the batch
 * with that errno (never 0). */
int hub_lfs_batch_apply(const json_t *res, struct commit_file **batch_files, size_t n)
    __attribute__((warn_unused_result));

/* One part of a multipart upload: PUT [off, off+len) of the file to url
 * (which points into the batch answer). */
struct hub_lfs_part {
    unsigned long num; /* 1-based */
    const char *url;
    uint64_t off, len;
};
/* Multipart header {"chunk_size": "N", "1": url, ..., "K": url} for a
 * file of `size` bytes -> K parts in order, covering [0, size) exactly.
 * *parts is malloc'd.  -EIO when the header does not describe that. */
int hub_lfs_parts_plan(const json_t *header, uint64_t size, struct hub_lfs_part **parts,
                       size_t *n_parts) __attribute__((warn_unused_result));

/* Commit answer {"commitOid": "<40 hex>", ...} -> out.  -EIO otherwise. */
int hub_commit_answer_parse(const json_t *res, char out[HUB_SHA1_HEX])
    __attribute__((warn_unused_result));

/* Append `s` as a JSON string literal (quotes included). */
int hub_buf_json_string(struct hub_buf *b, const char *s) __attribute__((warn_unused_result));

#endif
