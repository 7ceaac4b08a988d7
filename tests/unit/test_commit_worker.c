/* test_commit_worker.c — the commit pipeline against an in-memory Hub
 * (fake_hub.c): batching, debounce vs window, 412 rebase, failures kept
 * and retried, restart resume without double commits, LFS reuse on
 * rename, local renames, folder delete + re-create, derived listings,
 * staged bytes of a large commit moved into the block cache.  The schedule
 * (quiet period, window) is checked on a fake clock the test steps: no
 * assertion depends on how fast this machine runs. */
#include "../../fs/commit_worker.h"
#include "../../fs/pending.h"
#include "../../fs/staging.h"
#include "blocks.h"
#include "fake_hub.h"
#include "journal.h"
#include "log.h"
#include "meta.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REPO_KEY "model/acme/tiny"

static char root[PATH_MAX];
static struct meta_db *db;
static struct staging *stg;
static struct pending *pend;
static struct fake_hub fh;
static struct hub_ops ops;
static struct blocks *cache; /* given to workers started while set */

/* The fake clocks of the schedule tests: monotonic ms, and unix ms =
 * fake_wall_base + fake_now.  A base of 0 puts the fake unix time in 1970,
 * so the window (counted from the pending changes' real unix times) cannot
 * end: only the quiet period can trigger a commit. */
static _Atomic int64_t fake_now;
static _Atomic int64_t fake_wall_base;

static int64_t fake_mono_ms(void *ctx)
{
    (void)ctx;
    return atomic_load(&fake_now);
}

static int64_t fake_wall_ms(void *ctx)
{
    (void)ctx;
    return atomic_load(&fake_wall_base) + atomic_load(&fake_now);
}

/* Steps the fake clock and returns once the worker has looked at its
 * schedule at the new time (and finished any commit that started). */
static void advance(struct commit_worker *w, int64_t ms)
{
    atomic_fetch_add(&fake_now, ms);
    CHECK(commit_worker_kick(w, 10000) == 0);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls until our commit count reaches n; returns elapsed ms or -1. */
static int64_t wait_commits(int n, int timeout_ms)
{
    int64_t t0 = now_ms();
    while (now_ms() - t0 < timeout_ms) {
        if (fake_hub_our_commits(&fh) >= n)
            return now_ms() - t0;
        sleep_ms(10);
    }
    return -1;
}

/* Polls until nothing is pending any more. */
static bool wait_idle_pending(int timeout_ms)
{
    int64_t t0 = now_ms();
    while (now_ms() - t0 < timeout_ms) {
        struct pending_stats ps;
        pending_get_stats(pend, &ps);
        if (ps.n_ops == 0)
            return true;
        sleep_ms(10);
    }
    return false;
}

/* A closed file: staging file with `content`, recorded as pending. */
static int stage(const char *path, const char *content, char *stg_path_out)
{
    char p[PATH_MAX];
    int fd;
    int r = staging_create(stg, p, sizeof(p), &fd);
    if (r < 0)
        return r;
    size_t len = strlen(content);
    if (staging_pwrite(fd, content, len, 0) != (ssize_t)len || staging_sync(fd) < 0) {
        close(fd);
        return -EIO;
    }
    close(fd);
    if (stg_path_out)
        snprintf(stg_path_out, PATH_MAX, "%s", p);
    return pending_add_file(pend, path, p, len);
}

static struct commit_worker *start_with(unsigned delay, unsigned window, bool fake_clock)
{
    struct commit_worker_config cfg = {
        .hub = ops,
        .src = fh.src,
        .branch = "main",
        .repo_key = REPO_KEY,
        .db = db,
        .staging = stg,
        .pending = pend,
        .blocks = cache,
        .head = fake_hub_head(&fh),
        .delay_ms = delay,
        .window_ms = window,
        .retry_min_ms = 50,
        .retry_max_ms = 200,
        .now_ms = fake_clock ? fake_mono_ms : NULL,
        .wall_ms = fake_clock ? fake_wall_ms : NULL,
    };
    struct commit_worker *w = NULL;
    if (commit_worker_start(&cfg, &w) < 0)
        return NULL;
    return w;
}

static struct commit_worker *start(unsigned delay, unsigned window)
{
    return start_with(delay, window, false);
}

/* A worker on the fake clocks, at fake time 0 (window disabled, see above). */
static struct commit_worker *start_fake(unsigned delay, unsigned window)
{
    atomic_store(&fake_now, 0);
    atomic_store(&fake_wall_base, 0);
    return start_with(delay, window, true);
}

static const struct fake_commit_rec *last_commit(void)
{
    for (size_t i = fh.n_commits; i-- > 0;)
        if (fh.commits[i].by_us)
            return &fh.commits[i];
    return NULL;
}

static bool file_is(const char *path, const char *content)
{
    const struct fake_file *f = fake_hub_file(&fh, path);
    return f && f->data && strcmp(f->data, content) == 0;
}

static bool exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void reopen_pending(void)
{
    pending_free(pend);
    pend = NULL;
    if (pending_open(db, stg, REPO_KEY, "main", &pend) < 0)
        abort();
}

static void test_batching(void)
{
    struct commit_worker *w = start_fake(200, 10000);
    CHECK(w != NULL);
    char s0[PATH_MAX];
    CHECK(stage("cfg/config.json", "{\"a\": 1}\n", s0) == 0);
    commit_worker_notify(w);
    bool held_back = true;
    for (int i = 1; i < 5; i++) {
        char path[64], body[64];
        snprintf(path, sizeof(path), "cfg/file%d.txt", i);
        snprintf(body, sizeof(body), "content %d\n", i);
        advance(w, 150); /* inside the quiet period of the previous close */
        held_back &= fake_hub_our_commits(&fh) == 0;
        CHECK(stage(path, body, NULL) == 0);
        commit_worker_notify(w);
    }
    CHECK(held_back); /* 600 ms of closes 150 ms apart: never quiet for 200 ms */
    advance(w, 199);
    CHECK(fake_hub_our_commits(&fh) == 0); /* 1 ms of the quiet period left */
    advance(w, 1);
    CHECK(fake_hub_our_commits(&fh) == 1); /* five closes, one commit */
    const struct fake_commit_rec *c = last_commit();
    CHECK(c && c->n_ops == 5);
    CHECK_STR(c ? c->summary : NULL, "hubmount: update 5 files");
    CHECK(file_is("cfg/config.json", "{\"a\": 1}\n"));
    CHECK(file_is("cfg/file4.txt", "content 4\n"));
    struct pending_stats ps;
    pending_get_stats(pend, &ps);
    CHECK(ps.n_ops == 0);
    CHECK(!exists(s0)); /* staging file gone after the commit */
    char head[HUB_SHA1_HEX];
    commit_worker_head(w, head);
    CHECK_STR(head, fake_hub_head(&fh));
    struct commit_worker_status st;
    commit_worker_status(w, &st);
    CHECK(st.n_commits == 1 && st.last_error == 0);
    CHECK(commit_worker_stop(w, 2000) == 0);
}

/* Fake unix time = the second the oldest pending change was made + fake_now
 * (pending changes carry real unix seconds). */
static void window_from_oldest(void)
{
    struct pending_stats ps;
    pending_get_stats(pend, &ps);
    CHECK(ps.oldest > 0);
    atomic_store(&fake_wall_base, ps.oldest * 1000 - atomic_load(&fake_now));
}

static void test_debounce_vs_window(void)
{
    int before = fake_hub_our_commits(&fh);
    /* quiet period 400 ms, window 1.5 s; activity every 100 ms never lets
     * the mount be quiet, so only the window can trigger the commit */
    struct commit_worker *w = start_fake(400, 1500);
    CHECK(w != NULL);
    CHECK(stage("busy.txt", "x\n", NULL) == 0);
    window_from_oldest();
    bool held_back = true;
    for (int t = 0; t < 1400; t += 100) {
        commit_worker_notify(w);
        advance(w, 100);
        held_back &= fake_hub_our_commits(&fh) == before;
    }
    CHECK(held_back); /* 1.4 s of activity, window not over: no commit */
    commit_worker_notify(w);
    advance(w, 100); /* 1.5 s: the window is over, activity or not */
    CHECK(fake_hub_our_commits(&fh) == before + 1);

    /* the quiet period alone: no activity after the close (window off) */
    atomic_store(&fake_wall_base, 0);
    before = fake_hub_our_commits(&fh);
    CHECK(stage("quiet.txt", "q\n", NULL) == 0);
    commit_worker_notify(w);
    advance(w, 399);
    CHECK(fake_hub_our_commits(&fh) == before); /* not before the quiet period */
    advance(w, 1);
    CHECK(fake_hub_our_commits(&fh) == before + 1);
    CHECK(file_is("quiet.txt", "q\n"));
    CHECK(commit_worker_stop(w, 2000) == 0);
}

static void test_rebase(void)
{
    struct commit_worker *w = start(60000, 600000);
    int before = fake_hub_our_commits(&fh);
    /* someone else commits an unrelated file just before ours */
    fh.concurrent_before_commit = 1;
    snprintf(fh.concurrent_path, sizeof(fh.concurrent_path), "theirs.txt");
    CHECK(stage("ours.txt", "ours\n", NULL) == 0);
    CHECK(commit_worker_flush(w, 5000) == 0);
    CHECK(fake_hub_our_commits(&fh) == before + 1);
    CHECK(file_is("ours.txt", "ours\n"));
    CHECK(file_is("theirs.txt", "someone else\n")); /* preserved */

    /* same path changed by both: last writer (us) wins */
    fh.concurrent_before_commit = 1;
    snprintf(fh.concurrent_path, sizeof(fh.concurrent_path), "shared.txt");
    CHECK(stage("shared.txt", "mine\n", NULL) == 0);
    CHECK(commit_worker_flush(w, 5000) == 0);
    CHECK(file_is("shared.txt", "mine\n"));

    /* endless concurrent commits: bounded retries, then the error */
    fh.concurrent_before_commit = 100;
    CHECK(stage("contended.txt", "c\n", NULL) == 0);
    CHECK(commit_worker_flush(w, 5000) == -ESTALE);
    CHECK(pending_error(pend, "contended.txt") == ESTALE);
    fh.concurrent_before_commit = 0;
    CHECK(commit_worker_flush(w, 5000) == 0);
    CHECK(file_is("contended.txt", "c\n"));
    CHECK(commit_worker_stop(w, 2000) == 0);
}

static void test_failure_kept(void)
{
    struct commit_worker *w = start(60000, 600000);
    int before = fake_hub_our_commits(&fh);
    char sp[PATH_MAX];
    fh.fail_next_commits = 1;
    fh.fail_errno = -EACCES; /* token revoked */
    fh.fail_after_apply = false;
    CHECK(stage("denied.txt", "d\n", sp) == 0);
    CHECK(commit_worker_flush(w, 5000) == -EACCES);
    CHECK(pending_error(pend, "denied.txt") == EACCES);
    CHECK(exists(sp)); /* staged bytes kept */
    struct journal_ops jo = {0};
    CHECK(journal_list_pending(db, REPO_KEY, "main", &jo) == 0);
    CHECK(jo.n == 1 && jo.v[0].state == JOURNAL_FAILED && jo.v[0].error == EACCES);
    journal_ops_free(&jo);
    struct commit_worker_status st;
    commit_worker_status(w, &st);
    CHECK(st.last_error == EACCES && st.pending.n_failed == 1);
    /* retried by itself after the backoff */
    CHECK(wait_commits(before + 1, 3000) >= 0);
    CHECK(wait_idle_pending(3000));
    CHECK(file_is("denied.txt", "d\n"));
    CHECK(pending_error(pend, "denied.txt") == 0);
    CHECK(commit_worker_wait_idle(w, 2000) == 0);
    CHECK(!exists(sp));
    CHECK(commit_worker_stop(w, 2000) == 0);
}

static void test_restart_resume(void)
{
    int before = fake_hub_our_commits(&fh);
    /* 1. closed, never committed, daemon killed: the next start commits */
    CHECK(stage("resume/a.txt", "a\n", NULL) == 0);
    reopen_pending(); /* "kill -9" + restart: memory rebuilt from the journal */
    struct commit_worker *w = start(100, 600000);
    CHECK(wait_commits(before + 1, 3000) >= 0);
    CHECK(file_is("resume/a.txt", "a\n"));
    CHECK(commit_worker_stop(w, 2000) == 0);

    /* 2. the commit landed but the daemon died before recording it:
     *    the restart finds it at the head and does not commit again */
    before = fake_hub_our_commits(&fh);
    CHECK(stage("resume/b.txt", "b\n", NULL) == 0);
    CHECK(pending_delete(pend, "resume/a.txt", false, true) == 0);
    struct pending_entry *v = NULL;
    size_t n = 0;
    CHECK(pending_take(pend, &v, &n) == 0 && n == 2); /* rows now COMMITTING */
    struct hub_commit_op cops[2];
    memset(cops, 0, sizeof(cops));
    for (size_t i = 0; i < n && i < 2; i++) {
        cops[i].kind = v[i].kind;
        cops[i].path = v[i].path;
        cops[i].local_file = v[i].staging;
    }
    char out[HUB_SHA1_HEX];
    CHECK(ops.commit(ops.ctx, &fh.src, "main", fake_hub_head(&fh), "by the dead daemon", cops,
                     n, out) == 0);
    pending_entries_free(v, n);
    before = fake_hub_our_commits(&fh);
    reopen_pending();
    w = start(100, 600000);
    CHECK(commit_worker_flush(w, 3000) == 0);
    CHECK(fake_hub_our_commits(&fh) == before); /* exactly once */
    struct pending_stats ps;
    pending_get_stats(pend, &ps);
    CHECK(ps.n_ops == 0);
    char head[HUB_SHA1_HEX];
    commit_worker_head(w, head);
    CHECK_STR(head, fake_hub_head(&fh));
    CHECK(commit_worker_stop(w, 2000) == 0);

    /* 3. the commit's answer is lost (applied, then an error): the worker
     *    sees the branch moved, finds its operations there, and stops */
    w = start(60000, 600000);
    before = fake_hub_our_commits(&fh);
    fh.fail_next_commits = 1;
    fh.fail_errno = -EIO;
    fh.fail_after_apply = true;
    CHECK(stage("resume/c.txt", "c\n", NULL) == 0);
    CHECK(commit_worker_flush(w, 3000) == 0);
    CHECK(fake_hub_our_commits(&fh) == before + 1);
    CHECK(file_is("resume/c.txt", "c\n"));
    fh.fail_after_apply = false;
    CHECK(commit_worker_stop(w, 2000) == 0);
}

static void test_rename_reuse(void)
{
    const char *sha = "3f5a0e2b8c1d4f6a7b9c0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c";
    fake_hub_foreign_lfs(&fh, "w/model.bin", 5000, sha);
    struct commit_worker *w = start(60000, 600000);
    int uploads = fh.n_uploads;
    /* rename of a committed LFS file = add reusing its sha256 + delete */
    CHECK(pending_add_reuse(pend, "w2/model.bin", sha, 5000) == 0);
    CHECK(pending_delete(pend, "w/model.bin", false, true) == 0);
    CHECK(commit_worker_flush(w, 3000) == 0);
    const struct fake_commit_rec *c = last_commit();
    CHECK(c && c->n_ops == 2);
    CHECK(c && c->ops[0].kind == HUB_OP_DELETE_FILE);
    CHECK(c && c->ops[1].kind == HUB_OP_ADD && !c->ops[1].had_local_file);
    CHECK_STR(c ? c->ops[1].sha256 : NULL, sha);
    CHECK(fh.n_uploads == uploads); /* nothing uploaded */
    CHECK(fake_hub_file(&fh, "w/model.bin") == NULL);
    const struct fake_file *f = fake_hub_file(&fh, "w2/model.bin");
    CHECK(f && f->lfs && strcmp(f->sha256, sha) == 0);
    CHECK(commit_worker_stop(w, 2000) == 0);
}

static void test_local_rename_and_folders(void)
{
    struct commit_worker *w = start(60000, 600000);
    /* rsync style: temp name, then rename: only the final name commits */
    CHECK(stage("data/.x.csv.AbC123", "1,2\n", NULL) == 0);
    size_t moved = 0;
    CHECK(pending_rename(pend, "data/.x.csv.AbC123", "data/x.csv", &moved) == 0 && moved == 1);
    CHECK(pending_stat(pend, "data/.x.csv.AbC123", NULL) == PENDING_UNKNOWN);
    CHECK(pending_stat(pend, "data/x.csv", NULL) == PENDING_FILE);
    CHECK(pending_stat(pend, "data", NULL) == PENDING_DIR);
    /* training style: tmp folder renamed */
    CHECK(stage("ckpt/tmp-1/a.bin", "weights-a-0123456789", NULL) == 0);
    CHECK(stage("ckpt/tmp-1/cfg.json", "{}", NULL) == 0);
    CHECK(pending_rename(pend, "ckpt/tmp-1", "ckpt/checkpoint-1", &moved) == 0 && moved == 2);
    CHECK(commit_worker_flush(w, 3000) == 0);
    const struct fake_commit_rec *c = last_commit();
    CHECK(c && c->n_ops == 3);
    bool temp_seen = false;
    for (size_t i = 0; c && i < c->n_ops; i++)
        temp_seen |= strstr(c->ops[i].path, "AbC123") || strstr(c->ops[i].path, "tmp-1");
    CHECK(!temp_seen);
    CHECK(file_is("data/x.csv", "1,2\n"));
    CHECK(file_is("ckpt/checkpoint-1/cfg.json", "{}"));

    /* rmtree of a committed folder, re-created in the same batch */
    CHECK(pending_delete(pend, "ckpt/checkpoint-1", true, true) == 0);
    CHECK(pending_stat(pend, "ckpt/checkpoint-1/cfg.json", NULL) == PENDING_DELETED);
    CHECK(stage("ckpt/checkpoint-1/new.json", "[]", NULL) == 0);
    CHECK(pending_stat(pend, "ckpt/checkpoint-1", NULL) == PENDING_DIR);
    CHECK(commit_worker_flush(w, 3000) == 0);
    CHECK(fake_hub_file(&fh, "ckpt/checkpoint-1/cfg.json") == NULL);
    CHECK(fake_hub_file(&fh, "ckpt/checkpoint-1/a.bin") == NULL);
    CHECK(file_is("ckpt/checkpoint-1/new.json", "[]"));

    /* a pending file unlinked before its commit never reaches the Hub */
    int before = fake_hub_our_commits(&fh);
    char sp[PATH_MAX];
    CHECK(stage("scratch.txt", "s", sp) == 0);
    CHECK(pending_delete(pend, "scratch.txt", false, false) == 0);
    CHECK(!exists(sp));
    CHECK(commit_worker_flush(w, 3000) == 0);
    CHECK(fake_hub_our_commits(&fh) == before);

    /* overwrite of a pending file: the newer content wins, the old staging goes */
    char s1[PATH_MAX];
    CHECK(stage("twice.txt", "one", s1) == 0);
    CHECK(stage("twice.txt", "two", NULL) == 0);
    CHECK(!exists(s1));
    CHECK(commit_worker_flush(w, 3000) == 0);
    CHECK(file_is("twice.txt", "two"));
    CHECK(commit_worker_stop(w, 2000) == 0);
}

static void test_rename_during_attempt(void)
{
    /* a file taken into an attempt is renamed before the attempt ends: the
     * new name gets a copy, the old name is deleted by the next commit */
    char sp[PATH_MAX];
    CHECK(stage("flight/a.txt", "in flight", sp) == 0);
    struct pending_entry *v = NULL;
    size_t n = 0;
    CHECK(pending_take(pend, &v, &n) == 0 && n == 1);
    size_t moved = 0;
    CHECK(pending_rename(pend, "flight/a.txt", "flight/b.txt", &moved) == 0 && moved == 1);
    struct pending_entry pe;
    memset(&pe, 0, sizeof(pe));
    CHECK(pending_stat(pend, "flight/b.txt", &pe) == PENDING_FILE);
    CHECK(pe.staging && strcmp(pe.staging, sp) != 0 && exists(pe.staging));
    pending_entry_clear(&pe);
    CHECK(pending_delete(pend, "flight/a.txt", false, false) == 0);
    CHECK(pending_stat(pend, "flight/a.txt", NULL) == PENDING_DELETED);
    /* the attempt lands a.txt */
    struct hub_commit_op op = {.kind = HUB_OP_ADD, .path = v[0].path, .local_file = v[0].staging};
    char out[HUB_SHA1_HEX];
    CHECK(ops.commit(ops.ctx, &fh.src, "main", fake_hub_head(&fh), "attempt", &op, 1, out) == 0);
    CHECK(pending_batch_end(pend, &v[0].id, 1, 0, out) == 0);
    pending_entries_free(v, n);
    struct commit_worker *w = start(60000, 600000);
    CHECK(commit_worker_flush(w, 3000) == 0);
    CHECK(fake_hub_file(&fh, "flight/a.txt") == NULL);
    CHECK(file_is("flight/b.txt", "in flight"));
    CHECK(commit_worker_stop(w, 2000) == 0);
}

static void test_derived_listings(void)
{
    /* cache the head's root listing and "data", as the read path would */
    const char *head = fake_hub_head(&fh);
    struct hub_entries l = {0};
    CHECK(ops.list_tree(ops.ctx, &fh.src, head, "", false, &l) == 0);
    CHECK(meta_dir_put(db, REPO_KEY, head, "", &l) == 0);
    hub_entries_free(&l);
    CHECK(ops.list_tree(ops.ctx, &fh.src, head, "data", false, &l) == 0);
    CHECK(meta_dir_put(db, REPO_KEY, head, "data", &l) == 0);
    hub_entries_free(&l);

    struct commit_worker *w = start(60000, 600000);
    CHECK(stage("data/y.csv", "3,4\n", NULL) == 0);
    CHECK(stage("newdir/z.txt", "z", NULL) == 0);
    CHECK(pending_delete(pend, "twice.txt", false, true) == 0);
    CHECK(commit_worker_flush(w, 3000) == 0);
    const char *nc = fake_hub_head(&fh);
    CHECK(strcmp(nc, head) != 0);
    /* the new commit's listings are cached and equal the Hub's */
    struct hub_entries got = {0}, want = {0};
    CHECK(meta_dir_get(db, REPO_KEY, nc, "", &got) == 0);
    CHECK(ops.list_tree(ops.ctx, &fh.src, nc, "", false, &want) == 0);
    CHECK(got.n == want.n);
    bool all = got.n == want.n;
    for (size_t i = 0; i < want.n; i++) {
        bool found = false;
        for (size_t k = 0; k < got.n; k++)
            found |= strcmp(got.v[k].path, want.v[i].path) == 0 &&
                     got.v[k].is_dir == want.v[i].is_dir &&
                     (got.v[k].is_dir || strcmp(got.v[k].oid, want.v[i].oid) == 0);
        all &= found;
    }
    CHECK(all);
    hub_entries_free(&got);
    hub_entries_free(&want);
    CHECK(meta_dir_get(db, REPO_KEY, nc, "data", &got) == 0);
    CHECK(got.n == 2); /* x.csv, y.csv */
    hub_entries_free(&got);
    CHECK(meta_dir_get(db, REPO_KEY, nc, "newdir", &got) == 0); /* new dir: known */
    CHECK(got.n == 1);
    hub_entries_free(&got);
    CHECK(commit_worker_stop(w, 2000) == 0);
}

/* A commit of 64 files or more imports their staged bytes on two threads:
 * every file's bytes are in the cache under its oid afterwards, files of
 * identical content are stored once, and no staging file is left. */
static void test_import_many(void)
{
    enum { N = 150, DISTINCT = 100 };
    char dir[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/blocks", root);
    CHECK(blocks_open(dir, 64u << 20, &cache) == 0);
    char(*oid)[HUB_SHA1_HEX] = calloc(N, sizeof(*oid));
    char(*spath)[PATH_MAX] = calloc(N, sizeof(*spath));
    CHECK(cache && oid && spath);
    if (!cache || !oid || !spath)
        goto out;
    uint64_t distinct_bytes = 0;
    bool staged = true;
    for (int i = 0; i < N; i++) {
        char path[64], body[64];
        snprintf(path, sizeof(path), "many/f%03d.txt", i);
        snprintf(body, sizeof(body), "imported content %d\n", i % DISTINCT);
        staged &= stage(path, body, spath[i]) == 0 &&
                  staging_hash_file(spath[i], NULL, oid[i], NULL) == 0;
        if (i < DISTINCT)
            distinct_bytes += strlen(body);
    }
    CHECK(staged);
    struct commit_worker *w = start(60000, 600000);
    CHECK(w != NULL);
    if (!w)
        goto out;
    int before = fake_hub_our_commits(&fh);
    CHECK(commit_worker_flush(w, 10000) == 0);
    CHECK(fake_hub_our_commits(&fh) == before + 1);
    const struct fake_commit_rec *c = last_commit();
    CHECK(c && c->n_ops == N);
    bool all_in_cache = true, none_staged = true;
    for (int i = 0; i < N; i++) {
        char want[64], got[64];
        snprintf(want, sizeof(want), "imported content %d\n", i % DISTINCT);
        size_t len = strlen(want);
        all_in_cache &= blocks_get(cache, oid[i], len, 0, got, len) == (ssize_t)len &&
                        memcmp(got, want, len) == 0;
        none_staged &= !exists(spath[i]);
    }
    CHECK(all_in_cache);
    CHECK(none_staged);
    CHECK(blocks_bytes_used(cache) == distinct_bytes); /* each content once */
    CHECK(commit_worker_stop(w, 2000) == 0);
out:
    free(oid);
    free(spath);
    blocks_close(cache);
    cache = NULL;
}

static void test_drain_on_stop(void)
{
    struct commit_worker *w = start(60000, 600000);
    int before = fake_hub_our_commits(&fh);
    CHECK(stage("drain.txt", "bye", NULL) == 0);
    commit_worker_notify(w);
    CHECK(commit_worker_stop(w, 3000) == 0); /* unmount: committed before exit */
    CHECK(fake_hub_our_commits(&fh) == before + 1);
    CHECK(file_is("drain.txt", "bye"));
}

int main(void)
{
    hm_log_init(HM_LOG_STDERR, HM_LOG_WARN, NULL);
    snprintf(root, sizeof(root), "/tmp/hm-cw-XXXXXX");
    if (!mkdtemp(root))
        return 1;
    char dbp[PATH_MAX + 16];
    snprintf(dbp, sizeof(dbp), "%s/meta.db", root);
    CHECK(meta_open(dbp, &db) == 0);
    CHECK(staging_open(root, &stg) == 0);
    CHECK(pending_open(db, stg, REPO_KEY, "main", &pend) == 0);
    fake_hub_init(&fh);
    ops = fake_hub_ops(&fh);

    test_batching();
    test_debounce_vs_window();
    test_rebase();
    test_failure_kept();
    test_restart_resume();
    test_rename_reuse();
    test_local_rename_and_folders();
    test_rename_during_attempt();
    test_derived_listings();
    test_import_many();
    test_drain_on_stop();

    pending_free(pend);
    staging_free(stg);
    meta_close(db);
    fake_hub_free(&fh);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    if (system(cmd) != 0)
        return 1;
    return tap_done();
}
