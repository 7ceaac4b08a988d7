/* mount_state.c — start-up checks (token, repo, revision) and the shared
 * state of one mount: which commit it shows, whether it may write. */
#include "mount_state.h"

#include "blocks.h"
#include "hfcache.h"
#include "log.h"
#include "meta.h"
#include "reader.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void ms_init(struct mount_state *ms)
{
    memset(ms, 0, sizeof *ms);
    pthread_mutex_init(&ms->commit_lock, NULL);
    pthread_mutex_init(&ms->switch_lock, NULL);
    pthread_mutex_init(&ms->poll_lock, NULL);
    pthread_cond_init(&ms->poll_cv, NULL);
}

void ms_destroy(struct mount_state *ms)
{
    reader_free(ms->reader);
    hfcache_free(ms->hf);
    ms->hf = NULL;
    node_table_free(ms->nodes);
    if (ms->blocks)
        blocks_close(ms->blocks);
    if (ms->meta)
        meta_close(ms->meta);
    hub_client_free(ms->hub);
    hub_identity_free(&ms->ident);
    pthread_cond_destroy(&ms->poll_cv);
    pthread_mutex_destroy(&ms->poll_lock);
    pthread_mutex_destroy(&ms->switch_lock);
    pthread_mutex_destroy(&ms->commit_lock);
    ms->reader = NULL;
    ms->nodes = NULL;
    ms->blocks = NULL;
    ms->meta = NULL;
    ms->hub = NULL;
}

void ms_commit_get(struct mount_state *ms, char out[HUB_SHA1_HEX], int64_t *date)
{
    pthread_mutex_lock(&ms->commit_lock);
    memcpy(out, ms->commit, HUB_SHA1_HEX);
    if (date)
        *date = ms->commit_date;
    pthread_mutex_unlock(&ms->commit_lock);
}

void ms_commit_set(struct mount_state *ms, const char *commit, int64_t date)
{
    pthread_mutex_lock(&ms->commit_lock);
    snprintf(ms->commit, sizeof ms->commit, "%s", commit);
    ms->commit_date = date;
    pthread_mutex_unlock(&ms->commit_lock);
}

bool ms_writable(const struct mount_state *ms)
{
    return !ms->read_only && ms->can_write;
}

int ms_write_errno(const struct mount_state *ms)
{
    if (ms->read_only)
        return EROFS;
    if (!ms->can_write)
        return EACCES;
    return 0;
}

/* mkdir -p with mode 0700 for each created level. */
static int mkdir_p(const char *dir)
{
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%s", dir);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int ms_open_caches(struct mount_state *ms)
{
    const struct hm_options *o = ms->opt;
    char path[PATH_MAX];
    int ret = mkdir_p(o->cache_dir);
    if (ret < 0) {
        fprintf(stderr, "hubmount: cannot create cache directory %s: %s\n", o->cache_dir,
                strerror(-ret));
        return ret;
    }
    /* The cache may hold private repos' names and bytes. */
    if (chmod(o->cache_dir, 0700) < 0)
        hm_warn("cannot make %s private: %s", o->cache_dir, strerror(errno));
    int n = snprintf(path, sizeof path, "%s/meta.db", o->cache_dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return -ENAMETOOLONG;
    ret = meta_open(path, &ms->meta);
    if (ret < 0) {
        fprintf(stderr, "hubmount: cannot open metadata cache %s: %s\n", path, strerror(-ret));
        return ret;
    }
    n = snprintf(path, sizeof path, "%s/blocks", o->cache_dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return -ENAMETOOLONG;
    ret = blocks_open(path, o->cache_size, &ms->blocks);
    if (ret < 0) {
        fprintf(stderr, "hubmount: cannot open content cache %s: %s\n", path, strerror(-ret));
        return ret;
    }
    if (o->hf_cache) {
        ret = hfcache_new(o->hf_cache, &ms->hf);
        if (ret < 0)
            return ret;
        hm_debug("reusing verified content of the Hugging Face cache %s", o->hf_cache);
    }
    return node_table_new(&ms->nodes);
}

static const char *type_singular(enum hub_repo_type t)
{
    return t == HUB_REPO_DATASET ? "dataset" : t == HUB_REPO_SPACE ? "space" : "model";
}

static const char *type_prefix(enum hub_repo_type t)
{
    return t == HUB_REPO_DATASET ? "datasets/" : t == HUB_REPO_SPACE ? "spaces/" : "";
}

static bool is_hex(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s))
            return false;
    return true;
}

/* A transport-level failure rather than an answer about the repo. */
static bool is_network_errno(int e)
{
    return e == EIO || e == ETIMEDOUT || e == ENETDOWN || e == ECONNREFUSED ||
           e == EHOSTUNREACH || e == ENETUNREACH || e == ECONNRESET || e == EAGAIN;
}

/* Decide read-only / branch from what the revision names. */
static void classify_revision(struct mount_state *ms, const struct hub_repo_info *info)
{
    const char *rev = ms->revision;
    ms->is_branch = true;
    if (!ms->src.revision[0])
        return; /* the default branch: no refs request needed */
    /* A commit sha (full or short) that the revision resolved to itself. */
    if (is_hex(rev, 5, 40) && strncasecmp(info->sha, rev, strlen(rev)) == 0) {
        ms->is_branch = false;
        ms->read_only = true;
        return;
    }
    if (strncmp(rev, "refs/convert/", 13) == 0) {
        ms->read_only = true; /* generated by the Hub, not committable */
        return;
    }
    if (strncmp(rev, "refs/pr/", 8) == 0)
        return; /* a branch of its own: it moves and accepts commits */
    enum hub_ref_kind kind = HUB_REF_UNKNOWN;
    int ret = ms->opt->offline ? -ENETDOWN : hub_revision_kind(ms->hub, &ms->src, rev, &kind);
    if (ret < 0) {
        /* Without the refs we cannot tell a tag from a branch: assume a
         * branch; the Hub refuses commits to a tag anyway. */
        hm_warn("cannot list refs (%s): treating '%s' as a branch", strerror(-ret), rev);
        return;
    }
    if (kind == HUB_REF_TAG) {
        ms->is_branch = false;
        ms->read_only = true;
    }
}

int ms_connect_hub(struct mount_state *ms, struct hm_options *opt)
{
    ms->opt = opt;
    ms->uid = getuid();
    ms->gid = getgid();
    const char *ep = opt->endpoint ? opt->endpoint : getenv("HF_ENDPOINT");
    if (!ep || !*ep)
        ep = "https://huggingface.co";
    int n = snprintf(ms->endpoint, sizeof ms->endpoint, "%s", ep);
    if (n < 0 || (size_t)n >= sizeof ms->endpoint) {
        fprintf(stderr, "hubmount: endpoint URL too long\n");
        return HM_EXIT_USAGE;
    }
    while (n > 0 && ms->endpoint[n - 1] == '/')
        ms->endpoint[--n] = '\0';

    char *token = hub_token_discover(opt->token_file);
    struct hub_config cfg = {
        .endpoint = ms->endpoint,
        .token = token,
        .offline = opt->offline,
    };
    ms->hub = hub_client_new(&cfg);
    if (token) {
        explicit_bzero(token, strlen(token));
        free(token);
    }
    if (!ms->hub) {
        fprintf(stderr, "hubmount: cannot initialise the Hub client\n");
        return HM_EXIT_USAGE;
    }
    if (opt->offline) {
        ms->ident.anonymous = !hub_client_has_token(ms->hub);
        return HM_EXIT_OK;
    }
    int ret = hub_whoami(ms->hub, &ms->ident);
    if (ret == -EACCES || ret == -EPERM) {
        fprintf(stderr, "hubmount: invalid token\n");
        return HM_EXIT_BAD_TOKEN;
    }
    if (ret < 0) {
        fprintf(stderr, "hubmount: cannot reach %s: %s\n", ms->endpoint, strerror(-ret));
        return HM_EXIT_NETWORK;
    }
    return HM_EXIT_OK;
}

int ms_repo_open(struct mount_state *ms, unsigned reader_workers)
{
    const struct hm_options *opt = ms->opt;
    snprintf(ms->repo_key, sizeof ms->repo_key, "%s/%s", type_singular(ms->src.type),
             ms->src.repo_id);
    snprintf(ms->revision, sizeof ms->revision, "%s",
             ms->src.revision[0] ? ms->src.revision : "main");

    struct hub_repo_info info;
    memset(&info, 0, sizeof info);
    if (opt->offline) {
        /* Everything from the caches: the revision must have been seen. */
        int64_t learned = 0;
        if (meta_revision_get(ms->meta, ms->repo_key, ms->revision, info.sha,
                              &info.last_modified, &learned) < 0)
            return -ENETDOWN;
        ms->can_write = false;
    } else {
        const char *rev = ms->src.revision[0] ? ms->src.revision : NULL;
        int ret = hub_repo_info(ms->hub, &ms->src, rev, &info);
        if (ret == -ENOENT || ret == -EACCES) {
            /* Both "no repo" and "no revision" are 404s: ask for the repo
             * itself to tell them apart. */
            struct hub_repo_info probe;
            if (rev && hub_repo_info(ms->hub, &ms->src, NULL, &probe) == 0)
                return -ENXIO;
            return -ENOENT;
        }
        if (ret < 0)
            return is_network_errno(-ret) ? ret : -EIO;
        ms->can_write = !ms->ident.anonymous && hub_identity_can_write(&ms->ident,
                                                                         ms->src.repo_id);
        int put = meta_revision_put(ms->meta, ms->repo_key, ms->revision, info.sha,
                                    info.last_modified, (int64_t)time(NULL));
        if (put < 0)
            hm_warn("cannot cache revision: %s", strerror(-put));
    }
    ms_commit_set(ms, info.sha, info.last_modified);
    ms->gated = info.gated;
    classify_revision(ms, &info);
    if (opt->ro)
        ms->read_only = true;
    if (opt->offline) {
        ms->is_branch = false;
        ms->read_only = true; /* nothing could be committed: EROFS, not a queue */
    }

    /* Immutable content may be cached by the kernel for long; a branch
     * only as long as a poll period (invalidations cover the rest). */
    if (!ms->is_branch || opt->poll == 0) {
        ms->entry_timeout = 3600.0;
        ms->attr_timeout = 3600.0;
    } else {
        ms->entry_timeout = opt->poll;
        ms->attr_timeout = opt->poll;
    }
    struct reader_config rc = {
        .hub = hub_real_ops(ms->hub),
        .src = &ms->src,
        .blocks = ms->blocks,
        .hf = ms->hf,
        .workers = reader_workers,
    };
    if (reader_new(&rc, &ms->reader) < 0)
        return -ENOMEM;
    hm_info("mounting %s%s@%s (commit %.12s, %s%s)", type_prefix(ms->src.type),
            ms->src.repo_id, ms->revision, info.sha, ms_writable(ms) ? "read-write" : "read-only",
            ms->is_branch ? ", branch" : "");
    return 0;
}

int ms_connect(struct mount_state *ms, struct hm_options *opt, const char *source)
{
    if (!source || hub_source_parse(source, &ms->src) != 0) {
        fprintf(stderr, "hubmount: invalid source '%s' (expected "
                        "[datasets/|spaces/]namespace/name[@revision], a namespace, or hub)\n",
                source ? source : "");
        return HM_EXIT_USAGE;
    }
    int code = ms_connect_hub(ms, opt);
    if (code != HM_EXIT_OK)
        return code;
    int ret = ms_repo_open(ms, 0);
    switch (ret) {
    case 0:
        return HM_EXIT_OK;
    case -ENETDOWN:
        if (opt->offline) {
            fprintf(stderr, "hubmount: offline and %s@%s is not in the cache\n",
                    ms->src.repo_id, ms->revision);
            return HM_EXIT_NETWORK;
        }
        break;
    case -ENXIO:
        fprintf(stderr, "hubmount: revision not found: %s\n", ms->src.revision);
        return HM_EXIT_NO_REVISION;
    case -ENOENT:
        fprintf(stderr, "hubmount: repository not found or not accessible: %s%s\n",
                type_prefix(ms->src.type), ms->src.repo_id);
        return HM_EXIT_NO_REPO;
    case -ENOMEM:
        fprintf(stderr, "hubmount: out of memory\n");
        return HM_EXIT_USAGE;
    default:
        break;
    }
    fprintf(stderr, "hubmount: cannot reach %s: %s\n", ms->endpoint, strerror(-ret));
    return HM_EXIT_NETWORK;
}
