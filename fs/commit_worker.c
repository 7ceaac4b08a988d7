/* commit_worker.c — the commit pipeline of one mounted branch (see
 * commit_worker.h for the policy: when, what, rebase, exactly-once). */
#include "commit_worker.h"

#include "blocks.h"
#include "commit_meta.h"
#include "journal.h"
#include "log.h"
#include "staging.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PATHS_INFO_BATCH 500 /* the Hub refuses larger paths-info requests (413) */
#define COMMIT_RESENDS 3     /* transient failures of the commit call, per attempt */

struct commit_worker {
    struct commit_worker_config cfg; /* strings below are our copies */
    char branch[256];
    char repo_key[300];
    char *summary;

    pthread_mutex_t mu; /* protects everything below */
    pthread_cond_t wake; /* the thread waits here */
    pthread_cond_t done; /* flush / idle waiters wait here */
    pthread_t thread;
    bool stop, exited;
    char head[HUB_SHA1_HEX]; /* when cfg.hooks.head_get is NULL */
    int64_t last_activity;   /* monotonic ms */
    uint64_t flush_req, flush_done;
    int flush_result;
    bool running;
    unsigned held; /* commit_worker_hold depth */
    uint64_t kick_req, kick_done; /* schedule looked at again after kick_done kicks */
    uint64_t attempt_bytes;
    int64_t retry_at; /* monotonic ms, 0 = none */
    unsigned backoff;
    int n_commits;
    char last_commit[HUB_SHA1_HEX];
    int64_t last_commit_time;
    int last_error;
    int64_t last_error_time;
    struct hub_progress progress; /* uploads of the running attempt (atomics, no mu) */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The schedule's clocks: injected ones (tests) or the system's. */
static int64_t sched_now(const struct commit_worker *w)
{
    return w->cfg.now_ms ? w->cfg.now_ms(w->cfg.clock_ctx) : mono_ms();
}

static int64_t sched_wall(const struct commit_worker *w)
{
    return w->cfg.wall_ms ? w->cfg.wall_ms(w->cfg.clock_ctx) : wall_ms();
}

/* Absolute CLOCK_MONOTONIC deadline for pthread_cond_timedwait (the conds
 * are created with that clock). */
static struct timespec deadline_in(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

static void get_head(struct commit_worker *w, char out[HUB_SHA1_HEX])
{
    if (w->cfg.hooks.head_get) {
        w->cfg.hooks.head_get(w->cfg.hooks.ctx, out);
        return;
    }
    pthread_mutex_lock(&w->mu);
    memcpy(out, w->head, HUB_SHA1_HEX);
    pthread_mutex_unlock(&w->mu);
}

/* ---- one attempt ------------------------------------------------------------------- */

struct attempt_op {
    struct hub_commit_op op;
    struct pending_entry *e;
    bool satisfied; /* already true at the parent: not sent */
    bool hashed;
    char sha256[HUB_SHA256_HEX];
    char oid[HUB_SHA1_HEX];
};

/* Entries of `paths` at `commit`, in chunks the Hub accepts. */
static int paths_info_all(struct commit_worker *w, const char *commit, const char **paths,
                          size_t n, struct hub_entries *out)
{
    for (size_t i = 0; i < n; i += PATHS_INFO_BATCH) {
        size_t k = n - i < PATHS_INFO_BATCH ? n - i : PATHS_INFO_BATCH;
        int r = w->cfg.hub.paths_info(w->cfg.hub.ctx, &w->cfg.src, commit, paths + i, k, out);
        if (r < 0)
            return r;
    }
    return 0;
}

static const struct hub_entry *entries_find(const struct hub_entries *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].path, path) == 0)
            return &l->v[i];
    return NULL;
}

static bool at_or_under(const char *path, const char *dir)
{
    size_t dl = strlen(dir);
    return strncmp(path, dir, dl) == 0 && (path[dl] == '\0' || path[dl] == '/');
}

/* Does the Hub's entry already hold what this add would write? */
static bool add_matches(struct attempt_op *a, const struct hub_entry *he)
{
    if (!he || he->is_dir)
        return false;
    if (!a->op.local_file)
        return he->is_lfs && strcmp(he->sha256, a->op.sha256) == 0;
    if (!a->hashed) {
        uint64_t size;
        if (staging_hash_file(a->op.local_file, a->sha256, a->oid, &size) < 0)
            return false;
        a->hashed = true;
    }
    return he->is_lfs ? strcmp(he->sha256, a->sha256) == 0 : strcmp(he->oid, a->oid) == 0;
}

/* Marks the operations that `parent` already satisfies: deletes of paths it
 * does not have; when `unsure` (an earlier attempt may have landed), adds
 * whose content is already there. */
static int check_satisfied(struct commit_worker *w, const char *parent, struct attempt_op *a,
                           size_t n, bool unsure)
{
    struct hub_entries got = {0};
    const char **paths = calloc(n ? n : 1, sizeof(*paths));
    size_t np = 0;
    int ret = 0;
    if (!paths)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (a[i].op.kind != HUB_OP_ADD || unsure)
            paths[np++] = a[i].op.path;
    if (np)
        ret = paths_info_all(w, parent, paths, np, &got);
    if (ret < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        a[i].satisfied = false;
        if (a[i].op.kind == HUB_OP_ADD)
            continue;
        const struct hub_entry *he = entries_find(&got, a[i].op.path);
        bool present = he && (a[i].op.kind == HUB_OP_DELETE_FOLDER) == he->is_dir;
        a[i].satisfied = !present;
    }
    for (size_t i = 0; unsure && i < n; i++) {
        if (a[i].op.kind != HUB_OP_ADD)
            continue;
        /* Below a delete that still has to run, the add must be sent again
         * after it, whatever the parent holds now. */
        bool below_live_delete = false;
        for (size_t k = 0; k < n && !below_live_delete; k++)
            below_live_delete = a[k].op.kind != HUB_OP_ADD && !a[k].satisfied &&
                                at_or_under(a[i].op.path, a[k].op.path);
        a[i].satisfied = !below_live_delete && add_matches(&a[i], entries_find(&got, a[i].op.path));
    }
out:
    hub_entries_free(&got);
    free(paths);
    return ret;
}

/* 412: somebody else committed.  Log the paths both of us changed. */
static void log_conflicts(struct commit_worker *w, const char *old_parent, const char *new_parent,
                          const struct attempt_op *a, size_t n)
{
    struct hub_entries before = {0}, after = {0};
    const char **paths = calloc(n ? n : 1, sizeof(*paths));
    if (!paths)
        return;
    for (size_t i = 0; i < n; i++)
        paths[i] = a[i].op.path;
    if (paths_info_all(w, old_parent, paths, n, &before) == 0 &&
        paths_info_all(w, new_parent, paths, n, &after) == 0) {
        for (size_t i = 0; i < n; i++) {
            const struct hub_entry *x = entries_find(&before, paths[i]);
            const struct hub_entry *y = entries_find(&after, paths[i]);
            bool same = (!x && !y) || (x && y && x->is_dir == y->is_dir &&
                                       (x->is_dir || strcmp(x->oid, y->oid) == 0));
            if (!same)
                hm_warn("commit: %s was also changed on the Hub by someone else; the local "
                        "change is applied on top (last writer wins)",
                        paths[i]);
        }
    }
    hub_entries_free(&before);
    hub_entries_free(&after);
    free(paths);
}

static void make_summary(struct commit_worker *w, size_t n_sent, char *out, size_t cap)
{
    if (w->summary)
        snprintf(out, cap, "%s", w->summary);
    else
        snprintf(out, cap, "hubmount: update %zu file%s", n_sent, n_sent == 1 ? "" : "s");
}

/* One committed file's staged bytes moving into the block cache. */
struct import_job {
    struct commit_worker *w;
    const char *path, *stg;
    const char *key; /* cache key, or NULL: not kept */
};

static void import_one(const struct import_job *j)
{
    if (j->key) {
        int ir = blocks_import_file(j->w->cfg.blocks, j->key, j->stg);
        if (ir < 0 && ir != -ENOENT)
            hm_debug("commit: %s not kept in the cache: %s", j->path, strerror(-ir));
    }
    (void)staging_remove(j->w->cfg.staging, j->stg);
}

struct import_half {
    const struct import_job *v;
    size_t n;
};

static void *import_thread(void *arg)
{
    const struct import_half *h = arg;
    for (size_t i = 0; i < h->n; i++)
        import_one(&h->v[i]);
    return NULL;
}

/* Each import creates the cache's map file, and creating files is what
 * costs (an inode allocation; on ext4 without a journal after mass deletes,
 * up to a millisecond): a commit of many small files imports them on two
 * threads, before `hubmount sync` returns. */
#define IMPORT_SPLIT_MIN 64

static int job_key_cmp(const void *pa, const void *pb)
{
    const struct import_job *a = *(const struct import_job *const *)pa;
    const struct import_job *b = *(const struct import_job *const *)pb;
    return strcmp(a->key, b->key);
}

/* Files of identical content share one cache key: the cache needs one of
 * them, and importing a key twice would only replace the first object by
 * the second (a map file more each) — on two threads, the two imports of
 * one key would also race in the cache.  The others' staged files are just
 * removed. */
static int import_drop_duplicates(struct import_job *jobs, size_t n)
{
    struct import_job **by_key = calloc(n ? n : 1, sizeof(*by_key));
    size_t nk = 0;
    if (!by_key)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (jobs[i].key)
            by_key[nk++] = &jobs[i];
    qsort(by_key, nk, sizeof(*by_key), job_key_cmp);
    for (size_t i = 1; i < nk; i++)
        if (strcmp(by_key[i - 1]->key, by_key[i]->key) == 0)
            by_key[i - 1]->key = NULL; /* the last of a run keeps it */
    free(by_key);
    return 0;
}

static void import_all(struct import_job *jobs, size_t n)
{
    if (n == 0)
        return;
    /* without the duplicates dropped, one thread does it all (one key twice
     * is then imported twice, one after the other, as before) */
    bool may_split = import_drop_duplicates(jobs, n) == 0;
    struct import_half other = {.v = jobs + n / 2, .n = n - n / 2};
    pthread_t th;
    bool split = may_split && n >= IMPORT_SPLIT_MIN &&
                 pthread_create(&th, NULL, import_thread, &other) == 0;
    size_t mine = split ? n / 2 : n;
    for (size_t i = 0; i < mine; i++)
        import_one(&jobs[i]);
    if (split)
        pthread_join(th, NULL);
}

/* Tells the fs layer which paths are plain entries of `commit` now: the
 * directories the commit touched that exist there (dirs), or the files it
 * added (after their bytes are in the cache). */
static void settle(struct commit_worker *w, const char *commit, const struct hub_entries *fresh,
                   const struct attempt_op *a, size_t n, bool dirs)
{
    if (!w->cfg.hooks.settled)
        return;
    struct hub_entries out = {0};
    for (size_t i = 0; i < fresh->n; i++) {
        const struct hub_entry *e = &fresh->v[i];
        bool want = dirs && e->is_dir;
        for (size_t k = 0; !dirs && !e->is_dir && !want && k < n; k++)
            want = a[k].op.kind == HUB_OP_ADD && strcmp(a[k].op.path, e->path) == 0;
        if (want && hub_entries_push(&out, e) < 0)
            break;
    }
    if (out.n || !dirs)
        w->cfg.hooks.settled(w->cfg.hooks.ctx, commit, &out);
    hub_entries_free(&out);
}

/* Everything after the Hub holds our operations at `commit`. */
static void after_commit(struct commit_worker *w, const char *old_head, const char *parent,
                         const char *commit, bool committed, struct attempt_op *a, size_t n,
                         const int64_t *ids, size_t n_ids)
{
    struct hub_entries fresh = {0};
    struct hub_commit_op *sent = NULL;
    char **touched = NULL, **carry = NULL;
    size_t n_touched = 0, n_carry = 0, n_sent = 0;
    const char **paths = NULL;

    /* paths-info at the new commit: the added files and every directory the
     * commit touched (their new tree oids, or their absence). */
    sent = calloc(n ? n : 1, sizeof(*sent));
    if (sent) {
        for (size_t i = 0; i < n; i++)
            if (!a[i].satisfied || a[i].op.kind == HUB_OP_ADD)
                sent[n_sent++] = a[i].op;
    }
    if (sent && commit_meta_touched_dirs(sent, n_sent, &touched, &n_touched) == 0) {
        paths = calloc(n + n_touched + 1, sizeof(*paths));
        if (paths) {
            size_t np = 0;
            for (size_t i = 0; i < n; i++)
                if (a[i].op.kind == HUB_OP_ADD)
                    paths[np++] = a[i].op.path;
            for (size_t i = 0; i < n_touched; i++)
                if (*touched[i])
                    paths[np++] = touched[i];
            paths[np++] = ".gitattributes"; /* the Hub may add LFS patterns to it */
            if (paths_info_all(w, commit, paths, np, &fresh) < 0) {
                hub_entries_free(&fresh);
                memset(&fresh, 0, sizeof(fresh));
            }
        }
    }
    if (committed && w->cfg.db && fresh.n) {
        if (w->cfg.hooks.visited_dirs &&
            w->cfg.hooks.visited_dirs(w->cfg.hooks.ctx, &carry, &n_carry) < 0) {
            carry = NULL;
            n_carry = 0;
        }
        int r = commit_meta_derive(w->cfg.db, w->repo_key, parent, commit, sent, n_sent, &fresh,
                                   carry, n_carry);
        if (r < 0)
            hm_warn("commit: cannot cache listings of %.12s: %s", commit, strerror(-r));
        else
            hm_debug("commit: %d listing(s) of %.12s derived without the Hub", r, commit);
    }

    if (strcmp(old_head, commit) != 0) {
        if (w->cfg.hooks.publish)
            w->cfg.hooks.publish(w->cfg.hooks.ctx, old_head, parent, commit, wall_ms() / 1000);
        if (!w->cfg.hooks.head_get) {
            pthread_mutex_lock(&w->mu);
            snprintf(w->head, sizeof(w->head), "%s", commit);
            pthread_mutex_unlock(&w->mu);
        }
    }

    /* Directories made here are local nodes that list only local rows:
     * once these rows leave the pending index below, such a node would list
     * nothing of what the commit put in it.  The mount shows the commit now,
     * so they become remote nodes first (and list it from the commit). */
    settle(w, commit, &fresh, a, n, true);

    int r = pending_batch_end(w->cfg.pending, ids, n_ids, 0, commit);
    /* DONE rows only tell which commit carried what: keep an hour of them */
    if (r == 0 && w->cfg.db)
        (void)journal_prune_done(w->cfg.db, wall_ms() / 1000 - 3600);
    if (r < 0)
        hm_error("commit: %.12s is on the Hub but the journal could not record it (%s); "
                 "the next start will find it there and not commit again",
                 commit, strerror(-r));

    /* Staged bytes become cache content (no re-download); the file is
     * moved, so open handles keep reading it through their descriptors. */
    struct import_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
    size_t n_jobs = 0;
    for (size_t i = 0; i < n; i++) {
        const char *stg = a[i].op.local_file;
        if (a[i].op.kind != HUB_OP_ADD || !stg)
            continue;
        const struct hub_entry *he = entries_find(&fresh, a[i].op.path);
        const char *key = NULL;
        if (w->cfg.blocks && he && !he->is_dir)
            key = he->is_lfs && he->sha256[0] ? he->sha256 : he->oid;
        struct import_job one = {.w = w, .path = a[i].op.path, .stg = stg, .key = key};
        if (jobs)
            jobs[n_jobs++] = one;
        else
            import_one(&one);
    }
    import_all(jobs, n_jobs);
    free(jobs);

    settle(w, commit, &fresh, a, n, false);

    pthread_mutex_lock(&w->mu);
    if (committed) {
        w->n_commits++;
        snprintf(w->last_commit, sizeof(w->last_commit), "%s", commit);
        w->last_commit_time = wall_ms() / 1000;
    }
    w->last_error = 0;
    pthread_mutex_unlock(&w->mu);

    for (size_t i = 0; carry && i < n_carry; i++)
        free(carry[i]);
    free(carry);
    commit_meta_free_dirs(touched, n_touched);
    free(paths);
    free(sent);
    hub_entries_free(&fresh);
}

static int op_rank(enum hub_op_kind k)
{
    return k == HUB_OP_DELETE_FOLDER ? 0 : k == HUB_OP_DELETE_FILE ? 1 : 2;
}

static int run_attempt(struct commit_worker *w)
{
    struct pending_entry *v = NULL;
    size_t n = 0, n_ok = 0, n_bad = 0, n_ops = 0;
    struct attempt_op *a = NULL;
    struct hub_commit_op *send = NULL;
    int64_t *ok_ids = NULL, *bad_ids = NULL;
    char old_head[HUB_SHA1_HEX], parent[HUB_SHA1_HEX], commit[HUB_SHA1_HEX];
    int ret = pending_take(w->cfg.pending, &v, &n);
    if (ret < 0 || n == 0)
        return ret;

    a = calloc(n, sizeof(*a));
    send = calloc(n, sizeof(*send));
    ok_ids = calloc(n, sizeof(*ok_ids));
    bad_ids = calloc(n, sizeof(*bad_ids));
    if (!a || !send || !ok_ids || !bad_ids) {
        ret = -ENOMEM;
        goto fail_all;
    }
    bool unsure = false;
    uint64_t bytes = 0;
    /* deletes before adds: a folder deleted and re-created in one batch */
    for (int rank = 0; rank < 3; rank++) {
        for (size_t i = 0; i < n; i++) {
            struct pending_entry *e = &v[i];
            if (op_rank(e->kind) != rank)
                continue;
            if (e->kind == HUB_OP_ADD && e->staging) {
                struct stat sb;
                if (stat(e->staging, &sb) != 0) {
                    hm_error("commit: staged copy of %s is missing (%s); it cannot be "
                             "committed",
                             e->path, e->staging);
                    bad_ids[n_bad++] = e->id;
                    continue;
                }
                bytes += (uint64_t)sb.st_size;
            }
            struct attempt_op *x = &a[n_ops++];
            x->e = e;
            x->op.kind = e->kind;
            x->op.path = e->path;
            x->op.local_file = e->kind == HUB_OP_ADD ? e->staging : NULL;
            x->op.size = e->size;
            if (e->kind == HUB_OP_ADD && !e->staging)
                memcpy(x->op.sha256, e->sha256, HUB_SHA256_HEX);
            unsure |= e->unsure;
            ok_ids[n_ok++] = e->id;
        }
    }
    if (n_bad)
        (void)pending_batch_end(w->cfg.pending, bad_ids, n_bad, -EIO, NULL);

    pthread_mutex_lock(&w->mu);
    w->attempt_bytes = bytes;
    pthread_mutex_unlock(&w->mu);

    get_head(w, old_head);
    memcpy(parent, old_head, sizeof(parent));
    int max_rebase = w->cfg.max_rebase > 0 ? w->cfg.max_rebase : 5;
    int rebases = 0;
    int resends = 0;
    for (;;) {
        ret = check_satisfied(w, parent, a, n_ops, unsure);
        if (ret < 0)
            goto fail;
        size_t n_send = 0;
        for (size_t i = 0; i < n_ops; i++)
            if (!a[i].satisfied)
                send[n_send++] = a[i].op;
        if (n_send == 0) {
            /* Nothing left to send (all already on the Hub, or only deletes
             * of paths that are gone). */
            if (n_ops)
                hm_info("commit: %zu pending operation(s) already on the Hub at %.12s", n_ops,
                        parent);
            after_commit(w, old_head, parent, parent, false, a, n_ops, ok_ids, n_ok);
            ret = 0;
            goto out;
        }
        char summary[256];
        make_summary(w, n_send, summary, sizeof(summary));
        hm_info("commit: sending %zu operation(s) (%llu staged bytes) on %s, parent %.12s",
                n_send, (unsigned long long)bytes, w->branch, parent);
        memset(commit, 0, sizeof(commit));
        ret = w->cfg.hub.commit(w->cfg.hub.ctx, &w->cfg.src, w->branch, parent, summary, send,
                                n_send, commit);
        /* hub_commit fills in the sha256 of local files it uploaded */
        for (size_t i = 0, k = 0; i < n_ops; i++)
            if (!a[i].satisfied)
                a[i].op = send[k++];
        if (ret == 0) {
            size_t n_add = 0;
            for (size_t i = 0; i < n_send; i++)
                n_add += send[i].kind == HUB_OP_ADD;
            /* the one line per commit: id, files, bytes */
            hm_info("commit: %s on %s: %zu file(s) added or changed, %zu deleted, %llu bytes",
                    commit, w->branch, n_add, n_send - n_add, (unsigned long long)bytes);
            /* operations satisfied before sending count as carried too */
            for (size_t i = 0; i < n_ops; i++)
                a[i].satisfied = false;
            after_commit(w, old_head, parent, commit, true, a, n_ops, ok_ids, n_ok);
            goto out;
        }
        if (ret == -ESTALE && rebases < max_rebase) {
            struct hub_repo_info info;
            int r = w->cfg.hub.repo_info(w->cfg.hub.ctx, &w->cfg.src, w->branch, &info);
            if (r < 0) {
                ret = r;
                goto fail;
            }
            rebases++;
            hm_info("commit: %s moved to %.12s since %.12s; rebasing (%d/%d)", w->branch,
                    info.sha, parent, rebases, max_rebase);
            log_conflicts(w, parent, info.sha, a, n_ops);
            memcpy(parent, info.sha, sizeof(parent));
            continue;
        }
        if ((ret == -EIO || ret == -ETIMEDOUT || ret == -EAGAIN) && resends < COMMIT_RESENDS) {
            /* A reset, a 5xx or a 429 on the commit call.  The answer may
             * have been lost after the Hub applied it: never replay
             * blindly, look at the branch first.  If it did not move, send
             * again (same parent: should the first one still land, the
             * Hub answers 412 and the rebase finds our operations there)
             * after a short pause, so that fsync does not fail on a
             * transient fault. */
            resends++;
            unsure = true;
            struct hub_repo_info info;
            if (w->cfg.hub.repo_info(w->cfg.hub.ctx, &w->cfg.src, w->branch, &info) == 0 &&
                strcmp(info.sha, parent) != 0) {
                hm_warn("commit: no answer from the Hub but %s moved to %.12s; checking "
                        "whether our operations are there",
                        w->branch, info.sha);
                memcpy(parent, info.sha, sizeof(parent));
                continue;
            }
            unsigned lo = w->cfg.retry_min_ms ? w->cfg.retry_min_ms : 2000;
            unsigned pause = (lo / 2) << (resends - 1);
            hm_warn("commit: %s on %s; sending again in %u ms (%d/%d)", strerror(-ret),
                    w->branch, pause, resends, COMMIT_RESENDS);
            struct timespec ts = {.tv_sec = pause / 1000, .tv_nsec = (long)(pause % 1000) * 1000000};
            while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
            continue;
        }
        goto fail;
    }
fail:
    hm_error("commit: %zu operation(s) on %s not committed: %s (kept, will retry)", n_ok,
             w->branch, strerror(-ret));
    (void)pending_batch_end(w->cfg.pending, ok_ids, n_ok, ret, NULL);
    goto out;
fail_all:
    for (size_t i = 0; i < n; i++)
        if (ok_ids)
            ok_ids[i] = v[i].id;
    if (ok_ids)
        (void)pending_batch_end(w->cfg.pending, ok_ids, n, ret, NULL);
out:
    if (ret == 0 && n_bad)
        ret = -EIO; /* fsync of everything cannot claim success */
    pthread_mutex_lock(&w->mu);
    w->attempt_bytes = 0;
    pthread_mutex_unlock(&w->mu);
    free(a);
    free(send);
    free(ok_ids);
    free(bad_ids);
    pending_entries_free(v, n);
    return ret;
}

/* ---- the thread ----------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
    struct commit_worker *w = arg;
    bool drained = false;
    hub_progress_bind(&w->progress); /* hub_commit reports its uploads there */
    pthread_mutex_lock(&w->mu);
    for (;;) {
        struct pending_stats ps;
        /* kicks up to here are answered by this look at the schedule */
        uint64_t kicks = w->kick_req;
        pthread_mutex_unlock(&w->mu);
        pending_get_stats(w->cfg.pending, &ps);
        pthread_mutex_lock(&w->mu);
        bool waiting = ps.n_ops > ps.n_inflight;
        bool want = false;
        int64_t wait_ms = -1;
        int64_t now = sched_now(w);
        if (w->flush_req > w->flush_done) {
            want = true;
        } else if (w->stop) {
            if (!waiting || drained)
                break;
            want = true;
            drained = true;
        } else if (waiting) {
            if (w->retry_at && now < w->retry_at) {
                wait_ms = w->retry_at - now;
            } else if (w->retry_at) {
                want = true; /* a failed attempt's backoff is over: retry now */
            } else {
                int64_t quiet_left = w->last_activity + (int64_t)w->cfg.delay_ms - now;
                int64_t window_left =
                    ps.oldest * 1000 + (int64_t)w->cfg.window_ms - sched_wall(w);
                int64_t left = quiet_left < window_left ? quiet_left : window_left;
                if (left <= 0)
                    want = true;
                else
                    wait_ms = left;
            }
        }
        if (want && w->held) {
            want = false; /* a rename is being recorded: wait for its unhold */
            wait_ms = -1;
        }
        if (!want) {
            if (w->kick_done < kicks) {
                w->kick_done = kicks;
                pthread_cond_broadcast(&w->done);
            }
            /* a kick that came while the lock was dropped above signalled
             * nobody: look at the schedule again for it instead of waiting */
            if (w->kick_req != kicks)
                continue;
            /* With an injected clock a timed wait only re-reads it: the
             * kick after each step is what wakes the worker. */
            if (wait_ms < 0) {
                pthread_cond_wait(&w->wake, &w->mu);
            } else {
                struct timespec ts = deadline_in(wait_ms);
                pthread_cond_timedwait(&w->wake, &w->mu, &ts);
            }
            continue;
        }
        uint64_t req = w->flush_req;
        w->running = true;
        pthread_mutex_unlock(&w->mu);
        int r = run_attempt(w);
        pthread_mutex_lock(&w->mu);
        w->running = false;
        if (r == 0) {
            w->retry_at = 0;
            w->backoff = 0;
        } else {
            unsigned lo = w->cfg.retry_min_ms ? w->cfg.retry_min_ms : 2000;
            unsigned hi = w->cfg.retry_max_ms ? w->cfg.retry_max_ms : 300000;
            w->backoff = w->backoff ? (w->backoff > hi / 2 ? hi : w->backoff * 2) : lo;
            w->retry_at = sched_now(w) + w->backoff;
            w->last_error = -r;
            w->last_error_time = wall_ms() / 1000;
        }
        if (req > w->flush_done) {
            w->flush_done = req;
            w->flush_result = r;
        } else if (w->flush_req == w->flush_done) {
            w->flush_result = r;
        }
        pthread_cond_broadcast(&w->done);
    }
    w->exited = true;
    w->kick_done = w->kick_req;
    /* nobody will run another attempt: release flush and kick waiters */
    if (w->flush_req > w->flush_done) {
        w->flush_done = w->flush_req;
        w->flush_result = -ESHUTDOWN;
    }
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int commit_worker_start(const struct commit_worker_config *cfg, struct commit_worker **out)
{
    if (!cfg || !cfg->pending || !cfg->staging || !cfg->branch || !cfg->repo_key ||
        !cfg->hub.commit || !cfg->hub.paths_info || !cfg->hub.repo_info)
        return -EINVAL;
    struct commit_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->cfg = *cfg;
    snprintf(w->branch, sizeof(w->branch), "%s", cfg->branch);
    snprintf(w->repo_key, sizeof(w->repo_key), "%s", cfg->repo_key);
    w->cfg.branch = w->branch;
    w->cfg.repo_key = w->repo_key;
    w->cfg.head = NULL;
    if (cfg->summary && *cfg->summary) {
        w->summary = strdup(cfg->summary);
        if (!w->summary) {
            free(w);
            return -ENOMEM;
        }
    }
    w->cfg.summary = w->summary;
    if (cfg->head)
        snprintf(w->head, sizeof(w->head), "%s", cfg->head);
    w->progress.interval_s = cfg->progress_s;
    /* Resumed operations wait one quiet period too: the mount just started. */
    w->last_activity = sched_now(w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_cond_init(&w->done, &ca);
    pthread_condattr_destroy(&ca);
    int r = pthread_create(&w->thread, NULL, worker_main, w);
    if (r != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_cond_destroy(&w->done);
        pthread_mutex_destroy(&w->mu);
        free(w->summary);
        free(w);
        return -r;
    }
    *out = w;
    return 0;
}

int commit_worker_stop(struct commit_worker *w, unsigned drain_ms)
{
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->wake);
    struct timespec ts = deadline_in(drain_ms);
    int rc = 0;
    while (!w->exited && rc == 0)
        rc = pthread_cond_timedwait(&w->done, &w->mu, &ts);
    bool exited = w->exited;
    int result = w->last_error ? -w->last_error : 0;
    pthread_mutex_unlock(&w->mu);
    if (!exited) {
        /* An upload is still running: leave the thread to the process
         * exit; the journal keeps the rows (COMMITTING) for the next
         * mount, which checks the branch before sending them again. */
        hm_warn("commit: pending changes not committed within %u s; they stay in the journal "
                "and are committed by the next mount of this cache",
                drain_ms / 1000);
        pthread_detach(w->thread);
        return -ETIMEDOUT;
    }
    pthread_join(w->thread, NULL);
    struct pending_stats ps;
    pending_get_stats(w->cfg.pending, &ps);
    if (ps.n_ops && result == 0)
        result = -EIO;
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->done);
    pthread_mutex_destroy(&w->mu);
    free(w->summary);
    free(w);
    return result;
}

void commit_worker_hold(struct commit_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->held++;
    pthread_mutex_unlock(&w->mu);
}

void commit_worker_unhold(struct commit_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    if (w->held)
        w->held--;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->mu);
}

void commit_worker_touch(struct commit_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->last_activity = sched_now(w);
    pthread_mutex_unlock(&w->mu);
}

void commit_worker_notify(struct commit_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->last_activity = sched_now(w);
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->mu);
}

int commit_worker_flush(struct commit_worker *w, unsigned timeout_ms)
{
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    if (w->exited) {
        pthread_mutex_unlock(&w->mu);
        return -ESHUTDOWN;
    }
    uint64_t my = ++w->flush_req;
    pthread_cond_broadcast(&w->wake);
    struct timespec ts = deadline_in(timeout_ms);
    int rc = 0;
    while (w->flush_done < my && rc == 0)
        rc = pthread_cond_timedwait(&w->done, &w->mu, &ts);
    int result = w->flush_done >= my ? w->flush_result : -ETIMEDOUT;
    pthread_mutex_unlock(&w->mu);
    return result;
}

void commit_worker_request_flush(struct commit_worker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    if (!w->exited) {
        w->flush_req++;
        pthread_cond_broadcast(&w->wake);
    }
    pthread_mutex_unlock(&w->mu);
}

int commit_worker_kick(struct commit_worker *w, unsigned timeout_ms)
{
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    uint64_t my = ++w->kick_req;
    pthread_cond_broadcast(&w->wake);
    struct timespec ts = deadline_in(timeout_ms);
    int rc = 0;
    while (w->kick_done < my && !w->exited && rc == 0)
        rc = pthread_cond_timedwait(&w->done, &w->mu, &ts);
    int result = w->kick_done >= my || w->exited ? 0 : -ETIMEDOUT;
    pthread_mutex_unlock(&w->mu);
    return result;
}

int commit_worker_wait_idle(struct commit_worker *w, unsigned timeout_ms)
{
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    struct timespec ts = deadline_in(timeout_ms);
    int rc = 0;
    while (w->running && rc == 0)
        rc = pthread_cond_timedwait(&w->done, &w->mu, &ts);
    int result = w->running ? -ETIMEDOUT : 0;
    pthread_mutex_unlock(&w->mu);
    return result;
}

void commit_worker_status(struct commit_worker *w, struct commit_worker_status *out)
{
    memset(out, 0, sizeof(*out));
    pending_get_stats(w->cfg.pending, &out->pending);
    pthread_mutex_lock(&w->mu);
    out->committing = w->running;
    out->attempt_bytes = w->attempt_bytes;
    out->n_commits = w->n_commits;
    memcpy(out->last_commit, w->last_commit, sizeof(out->last_commit));
    out->last_commit_time = w->last_commit_time;
    out->last_error = w->last_error;
    out->last_error_time = w->last_error_time;
    pthread_mutex_unlock(&w->mu);
    out->upload_total = atomic_load(&w->progress.total);
    out->upload_sent = out->upload_total ? atomic_load(&w->progress.sent) : 0;
    if (out->upload_sent > out->upload_total)
        out->upload_sent = out->upload_total;
    out->upload_files = out->upload_total ? atomic_load(&w->progress.files) : 0;
    out->upload_files_done = out->upload_total ? atomic_load(&w->progress.files_done) : 0;
}

void commit_worker_head(struct commit_worker *w, char out[HUB_SHA1_HEX])
{
    get_head(w, out);
}
