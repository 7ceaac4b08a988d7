/* fake_hub.h — an in-memory Hub behind struct hub_ops, for unit tests of
 * the write path.  One repo, one branch; every commit keeps a full
 * snapshot so lookups at old commits work.  Records each commit's ops and
 * lets a test inject errors, concurrent commits by "someone else" and
 * per-call failures. */
#ifndef HUBMOUNT_FAKE_HUB_H
#define HUBMOUNT_FAKE_HUB_H

#include "hub.h"
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define FAKE_MAX_FILES 512
#define FAKE_MAX_COMMITS 64
#define FAKE_MAX_OPS 512

struct fake_file {
    char path[256];
    uint64_t size;
    bool lfs;
    char sha256[HUB_SHA256_HEX];
    char oid[HUB_SHA1_HEX]; /* git blob oid (of the pointer for LFS) */
    char *data;             /* regular files only (small); NULL for LFS */
};

struct fake_snapshot {
    char sha[HUB_SHA1_HEX];
    struct fake_file files[FAKE_MAX_FILES];
    size_t n;
};

struct fake_op {
    enum hub_op_kind kind;
    char path[256];
    bool had_local_file;
    char sha256[HUB_SHA256_HEX];
    uint64_t size;
};

struct fake_commit_rec {
    char parent[HUB_SHA1_HEX];
    char summary[128];
    struct fake_op ops[FAKE_MAX_OPS];
    size_t n_ops;
    bool by_us;
};

struct fake_hub {
    pthread_mutex_t mu;
    struct hub_source src;
    struct fake_snapshot *snaps[FAKE_MAX_COMMITS]; /* [0] = initial */
    size_t n_snaps;
    struct fake_commit_rec commits[FAKE_MAX_COMMITS]; /* ours and others' */
    size_t n_commits;
    uint64_t lfs_threshold; /* files >= this become LFS */

    /* fault injection */
    int fail_next_commits;  /* how many commit calls fail with fail_errno */
    int fail_errno;         /* negative errno */
    bool fail_after_apply;  /* apply the commit, then report fail_errno (lost response) */
    int concurrent_before_commit; /* commit calls preceded by a foreign commit */
    char concurrent_path[256];
    int n_commit_calls;
    int n_uploads;          /* local files "uploaded" */
    int n_read_calls;
};

void fake_hub_init(struct fake_hub *fh);
void fake_hub_free(struct fake_hub *fh);
struct hub_ops fake_hub_ops(struct fake_hub *fh);
/* Current head sha. */
const char *fake_hub_head(struct fake_hub *fh);
/* A commit by another client: adds/replaces `path` with `content`. */
void fake_hub_foreign_commit(struct fake_hub *fh, const char *path, const char *content);
/* Seed an LFS file (content not stored: reads are not supported). */
void fake_hub_foreign_lfs(struct fake_hub *fh, const char *path, uint64_t size, const char *sha256);
/* File at head, or NULL. */
const struct fake_file *fake_hub_file(struct fake_hub *fh, const char *path);
/* Number of commits made through the ops table (not foreign ones). */
int fake_hub_our_commits(struct fake_hub *fh);

#endif
