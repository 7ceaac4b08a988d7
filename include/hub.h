/* hub.h — the Hub client as the rest of hubmount sees it.
 *
 * Layering: fs/ and cache/ call into hub/, never the other way round.
 * Every function that talks to the Hub returns 0 (or a byte count) on
 * success and a NEGATIVE errno on failure; the errno always comes from
 * hub_errno(), the single mapping from Hub responses to errno. */
#ifndef HUBMOUNT_HUB_H
#define HUBMOUNT_HUB_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HUB_SHA1_HEX 41   /* 40 hex + NUL: git oids, commit ids */
#define HUB_SHA256_HEX 65 /* 64 hex + NUL: LFS oids */

enum hub_repo_type { HUB_REPO_MODEL = 0, HUB_REPO_DATASET, HUB_REPO_SPACE };

/* What the user asked to mount: [models/|datasets/|spaces/]ns/name[@revision] */
struct hub_source {
    enum hub_repo_type type;
    char repo_id[256];  /* "ns/name" */
    char revision[256]; /* "" means the repo's default branch ("main") */
};

/* Parse a mount source. Returns 0 or -EINVAL. */
int hub_source_parse(const char *text, struct hub_source *out)
    __attribute__((warn_unused_result));
/* "models" / "datasets" / "spaces" */
const char *hub_repo_type_plural(enum hub_repo_type type);

/* ---- errno mapping (hub-api.md §14) -------------------------------- */

enum hub_req_kind {
    HUB_REQ_WHOAMI,  /* token check */
    HUB_REQ_META,    /* repo info, tree, paths-info: lookups */
    HUB_REQ_CONTENT, /* /resolve, CDN range reads */
    HUB_REQ_WRITE,   /* preupload, LFS batch/upload, commit */
    HUB_REQ_CREATE,  /* repo/branch creation */
};

/* THE function mapping (HTTP status, X-Error-Code, X-Error-Message,
 * request kind, whether a token was sent) to a positive errno.
 * status 0 means a transport failure (connection, timeout): EIO/ETIMEDOUT
 * is chosen by the caller passing error_code "timeout" or NULL.
 * Returns 0 for 2xx/3xx. */
int hub_errno(long status, const char *error_code, const char *error_message,
              enum hub_req_kind kind, bool token_sent);

/* ---- identities (whoami-v2) ---------------------------------------- */

struct hub_org_role {
    char name[96];
    char role[16]; /* read | contributor | write | admin */
};

struct hub_identity {
    bool anonymous;       /* no token configured */
    char name[96];        /* username (= personal namespace) */
    char token_role[16];  /* read | write | fineGrained */
    bool can_read_gated;  /* fine-grained canReadGatedRepos (true otherwise) */
    struct hub_org_role *orgs;
    size_t n_orgs;
    /* fine-grained only: entities ("acme" or "acme/repo") with repo.write */
    char **fg_write;
    size_t n_fg_write;
};
void hub_identity_free(struct hub_identity *id);

/* Can this identity commit to repo "ns/name"?  Pure function of whoami:
 * read tokens never; write tokens in their own namespace and in orgs
 * where the role is write/admin (contributor: unknown -> true, the server
 * decides); fine-grained needs repo.write on the namespace or the repo. */
bool hub_identity_can_write(const struct hub_identity *id, const char *repo_id);

/* ---- tree entries --------------------------------------------------- */

struct hub_entry {
    char *path; /* full path from the repo root, no leading '/' */
    bool is_dir;
    uint64_t size;             /* real size (LFS size for LFS files) */
    char oid[HUB_SHA1_HEX];    /* git blob / tree sha1 */
    bool is_lfs;
    char sha256[HUB_SHA256_HEX]; /* LFS oid, "" if not LFS */
    int64_t mtime;             /* last commit date (unix s) if known, else 0 */
};

struct hub_entries {
    struct hub_entry *v;
    size_t n, cap;
};
int hub_entries_push(struct hub_entries *list, const struct hub_entry *e) /* copies path */
    __attribute__((warn_unused_result));
void hub_entries_free(struct hub_entries *list);

struct hub_repo_info {
    char sha[HUB_SHA1_HEX]; /* commit the revision resolved to */
    int64_t last_modified;  /* unix seconds of that commit */
    bool is_private;
    bool gated;
};

/* ---- commits -------------------------------------------------------- */

enum hub_op_kind { HUB_OP_ADD, HUB_OP_DELETE_FILE, HUB_OP_DELETE_FOLDER };

struct hub_commit_op {
    enum hub_op_kind kind;
    const char *path;       /* repo path */
    /* HUB_OP_ADD: content is either a local file ... */
    const char *local_file; /* staging file, NULL when reusing an LFS object */
    /* ... or an LFS object already on the Hub (rename of a committed file):
     * sha256 + size set, local_file NULL -> no upload. */
    uint64_t size;
    char sha256[HUB_SHA256_HEX]; /* filled in by hub_commit for local files */
};

/* ---- the client -------------------------------------------------------- */

struct hub_config {
    const char *endpoint;   /* "https://huggingface.co" or HF_ENDPOINT */
    const char *token;      /* NULL for anonymous; copied, never logged */
    long timeout_s;         /* per request (0 = default 30) */
    int max_retries;        /* for idempotent requests (0 = default 5) */
    bool offline;           /* refuse every request with -ENETDOWN... see hub.c */
};

struct hub_client;

struct hub_client *hub_client_new(const struct hub_config *cfg);
void hub_client_free(struct hub_client *hc);
bool hub_client_has_token(const struct hub_client *hc);

int hub_whoami(struct hub_client *hc, struct hub_identity *out)
    __attribute__((warn_unused_result));

/* Info of the repo at `revision` (NULL/"" = default branch). */
int hub_repo_info(struct hub_client *hc, const struct hub_source *src,
                  const char *revision, struct hub_repo_info *out)
    __attribute__((warn_unused_result));

/* One directory level ("" = root) at `commit`, all pages appended to out. */
int hub_list_tree(struct hub_client *hc, const struct hub_source *src,
                  const char *commit, const char *dir, bool recursive,
                  struct hub_entries *out) __attribute__((warn_unused_result));

/* Entries for the given paths at `commit`; missing paths are omitted. */
int hub_paths_info(struct hub_client *hc, const struct hub_source *src,
                   const char *commit, const char *const *paths, size_t n_paths,
                   struct hub_entries *out) __attribute__((warn_unused_result));

/* Read up to `len` bytes at `offset` of `path` at `commit` into buf with an
 * HTTP Range GET on /resolve (following a 302 to the CDN WITHOUT the
 * Authorization header; the signed URL may be cached until it expires).
 * Returns bytes read (short only at EOF) or -errno. */
ssize_t hub_read_range(struct hub_client *hc, const struct hub_source *src,
                       const char *commit, const char *path, uint64_t offset,
                       void *buf, size_t len) __attribute__((warn_unused_result));

/* One commit on `branch` with parentCommit = parent (NULL: none):
 * preupload -> LFS batch + basic/multipart uploads -> NDJSON commit.
 * Returns 0 and the new commit id, -ESTALE when parent is stale (412),
 * or another -errno. */
int hub_commit(struct hub_client *hc, const struct hub_source *src,
               const char *branch, const char *parent, const char *summary,
               struct hub_commit_op *ops, size_t n_ops,
               char out_commit[HUB_SHA1_HEX]) __attribute__((warn_unused_result));

/* Upload progress of the LFS uploads of hub_commit, for log lines and
 * `hubmount status`.  The caller owns it (zeroed, interval_s set) and binds
 * it to the thread that calls hub_commit; hub_commit fills it in while its
 * uploads run and sets total back to 0 when they end.  Every
 * interval_s seconds of uploading it logs one progress line (0 = none). */
struct hub_progress {
    _Atomic uint64_t total;   /* bytes the running uploads send; 0 = none running */
    _Atomic uint64_t sent;    /* of those, sent so far (a resent body counts once) */
    _Atomic unsigned files;   /* objects being uploaded */
    _Atomic unsigned files_done;
    unsigned interval_s;
    _Atomic int64_t last_log_ms; /* internal: monotonic time of the last line */
    int64_t start_ms;            /* internal */
};
/* hub_commit calls made by this thread report into p (NULL: none). */
void hub_progress_bind(struct hub_progress *p);

/* Table of the calls above, so the commit pipeline and caches can be
 * unit-tested against a fake Hub.  hub_real_ops() wraps a hub_client. */
struct hub_ops {
    void *ctx;
    int (*repo_info)(void *ctx, const struct hub_source *src, const char *revision,
                     struct hub_repo_info *out);
    int (*list_tree)(void *ctx, const struct hub_source *src, const char *commit,
                     const char *dir, bool recursive, struct hub_entries *out);
    int (*paths_info)(void *ctx, const struct hub_source *src, const char *commit,
                      const char *const *paths, size_t n_paths, struct hub_entries *out);
    ssize_t (*read_range)(void *ctx, const struct hub_source *src, const char *commit,
                          const char *path, uint64_t offset, void *buf, size_t len);
    int (*commit)(void *ctx, const struct hub_source *src, const char *branch,
                  const char *parent, const char *summary, struct hub_commit_op *ops,
                  size_t n_ops, char out_commit[HUB_SHA1_HEX]);
};
struct hub_ops hub_real_ops(struct hub_client *hc);

/* ---- refs ----------------------------------------------------------- */

enum hub_ref_kind {
    HUB_REF_UNKNOWN = 0, /* none of the refs: a commit sha, or nothing */
    HUB_REF_BRANCH,
    HUB_REF_TAG,
    HUB_REF_PR,      /* refs/pr/N */
    HUB_REF_CONVERT, /* refs/convert/... */
};

/* What `revision` names (GET /api/{type}s/{id}/refs?include_prs=1), by
 * short name or full ref.  Used to make tag mounts read-only. */
int hub_revision_kind(struct hub_client *hc, const struct hub_source *src,
                      const char *revision, enum hub_ref_kind *out)
    __attribute__((warn_unused_result));

/* ---- namespaces (namespace and Hub mounts) -------------------------- */

struct hub_repo_item {
    char id[256];          /* "ns/name" as the Hub spells it */
    bool is_private;
    bool gated;
    int64_t last_modified; /* unix seconds, 0 if the answer had none */
};

struct hub_repo_list {
    struct hub_repo_item *v;
    size_t n, cap;
};
void hub_repo_list_free(struct hub_repo_list *l);

/* Every repo of `type` whose author is `author` that the token may see:
 * GET /api/{models,datasets,spaces}?author=..., all pages appended to out
 * (freed on failure). */
int hub_list_repos(struct hub_client *hc, enum hub_repo_type type, const char *author,
                   struct hub_repo_list *out) __attribute__((warn_unused_result));
/* Does `author` have a repo the token may see (one listing request of one
 * entry per repo type, at most three)?  1, 0, or -errno. */
int hub_namespace_has_repos(struct hub_client *hc, const char *author)
    __attribute__((warn_unused_result));
/* One page of that answer (a JSON array) appended to out; entries without
 * an "ns/name" id are skipped.  -EIO if it is not an array.  Pure. */
int hub_repo_list_parse(const char *json, size_t len, struct hub_repo_list *out)
    __attribute__((warn_unused_result));

/* POST /api/repos/create: repo `ns/name` of `type` (spaces get sdk
 * "static").  0, -EEXIST (409), -EACCES (no right to create in ns),
 * -EINVAL (invalid name), or another -errno.  Never retried. */
int hub_create_repo(struct hub_client *hc, enum hub_repo_type type, const char *ns,
                    const char *name, bool is_private) __attribute__((warn_unused_result));

/* Token discovery (issue order): HF_TOKEN -> option token_file ->
 * HUGGING_FACE_HUB_TOKEN -> $HF_TOKEN_PATH -> $HF_HOME/token -> $XDG_CACHE_HOME/huggingface/token
 * -> ~/.cache/huggingface/token.  Returns a malloc'd, trimmed token or NULL. */
char *hub_token_discover(const char *token_file_option);

#endif
