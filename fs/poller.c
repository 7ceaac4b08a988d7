/* poller.c — follow a moving branch: probe its head every `poll` seconds
 * (one cheap repo-info request) and, when it moved, switch the mount to the
 * new commit and tell the kernel which names changed.
 *
 * Only directories the kernel knows (directory nodes in the table) are
 * compared, each by its listing at the old and the new commit; nothing is
 * walked that nobody looked at.  Changed or deleted files are unhashed
 * from the inode table, so the next lookup makes a new inode for the new
 * content while open handles keep the old inode and the old bytes. */
#include "log.h"
#include "meta.h"
#include "mount_state.h"
#include "tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum change { CH_ADDED, CH_REMOVED, CH_CHANGED };

struct diff {
    fuse_ino_t dir_ino;
    char *name; /* points into path */
    char *path;
    enum change what;
    bool was_dir;
    bool now_dir;
    char new_oid[HUB_SHA1_HEX]; /* "" when removed */
};

struct diffs {
    struct diff *v;
    size_t n, cap;
};

static void diffs_free(struct diffs *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].path);
    free(d->v);
}

static int diffs_add(struct diffs *d, fuse_ino_t dir, const char *path, enum change what,
                     bool was_dir, const struct hub_entry *now)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 32;
        struct diff *v = realloc(d->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        d->v = v;
        d->cap = cap;
    }
    struct diff *x = &d->v[d->n];
    x->path = strdup(path);
    if (!x->path)
        return -ENOMEM;
    x->name = (char *)tree_basename(x->path);
    x->dir_ino = dir;
    x->what = what;
    x->was_dir = was_dir;
    x->now_dir = now ? now->is_dir : false;
    snprintf(x->new_oid, sizeof x->new_oid, "%s", now ? now->oid : "");
    d->n++;
    return 0;
}

static const struct hub_entry *find_entry(const struct hub_entries *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].path, path) == 0)
            return &l->v[i];
    return NULL;
}

/* Differences of one directory level between two listings. */
static int diff_dir(fuse_ino_t dir, const struct hub_entries *a, const struct hub_entries *b,
                    struct diffs *out)
{
    int ret = 0;
    for (size_t i = 0; i < a->n && ret == 0; i++) {
        const struct hub_entry *o = &a->v[i];
        const struct hub_entry *n = find_entry(b, o->path);
        if (!n)
            ret = diffs_add(out, dir, o->path, CH_REMOVED, o->is_dir, NULL);
        else if (n->is_dir != o->is_dir || (!o->is_dir && strcmp(n->oid, o->oid) != 0))
            ret = diffs_add(out, dir, o->path, CH_CHANGED, o->is_dir, n);
    }
    for (size_t i = 0; i < b->n && ret == 0; i++)
        if (!find_entry(a, b->v[i].path))
            ret = diffs_add(out, dir, b->v[i].path, CH_ADDED, false, &b->v[i]);
    return ret;
}

int poller_switch(struct mount_state *ms, const char *commit, int64_t date)
{
    char old[HUB_SHA1_HEX];
    struct node_dir_ref *dirs = NULL;
    size_t n_dirs = 0;
    struct diffs d = {0};
    int ret = 0;

    pthread_mutex_lock(&ms->switch_lock);
    ms_commit_get(ms, old, NULL);
    if (strcmp(old, commit) == 0)
        goto unlock;
    ret = node_list_dirs(ms->nodes, &dirs, &n_dirs);
    if (ret < 0)
        goto unlock;
    for (size_t i = 0; i < n_dirs && ret == 0; i++) {
        struct hub_entries a = {0}, b = {0};
        if (meta_dir_get(ms->meta, ms->repo_key, old, dirs[i].path, &a) < 0) {
            hub_entries_free(&a);
            continue; /* never listed: the kernel has no names from it */
        }
        ret = tree_list(ms, commit, dirs[i].path, &b);
        if (ret == -ENOENT) { /* gone: its parent's diff reports it */
            memset(&b, 0, sizeof b);
            ret = 0;
        } else if (ret < 0) {
            hub_entries_free(&a);
            break; /* try the whole switch again at the next poll */
        }
        ret = diff_dir(dirs[i].ino, &a, &b, &d);
        hub_entries_free(&a);
        hub_entries_free(&b);
    }
    if (ret < 0) {
        hm_warn("branch %s moved to %.12s but listing failed (%s); retrying later",
                ms->revision, commit, strerror(-ret));
        goto unlock;
    }
    ms_commit_set(ms, commit, date);
    int put = meta_revision_put(ms->meta, ms->repo_key, ms->revision, commit, date,
                                (int64_t)time(NULL));
    if (put < 0)
        hm_debug("cannot cache revision: %s", strerror(-put));
    if (ms->hooks.commit_changed)
        ms->hooks.commit_changed(ms->hooks.ctx, old, commit);
    hm_info("branch %s moved %.12s -> %.12s (%zu changed names)", ms->revision, old, commit,
            d.n);
unlock:
    pthread_mutex_unlock(&ms->switch_lock);
    node_dir_refs_free(dirs, n_dirs);
    if (ret < 0) {
        diffs_free(&d);
        return ret;
    }

    /* Outside every lock: the kernel may call back into our handlers
     * while it processes an invalidation. */
    for (size_t i = 0; i < d.n; i++) {
        struct diff *x = &d.v[i];
        fuse_ino_t child = node_find(ms->nodes, x->path);
        if (child) {
            struct node_info ni;
            if (node_get(ms->nodes, child, &ni) < 0)
                continue;
            /* Local state (the write path's) wins over the tree; a node that
             * already shows the new content (our own commit) stays. */
            bool skip = ni.kind == NODE_LOCAL ||
                        (x->what != CH_REMOVED && ni.is_dir == x->now_dir &&
                         (ni.is_dir || strcmp(ni.entry.oid, x->new_oid) == 0));
            node_info_clear(&ni);
            if (skip)
                continue;
            node_unhash(ms->nodes, child);
        }
        if (ms->se) {
            int e = fuse_lowlevel_notify_inval_entry(ms->se, x->dir_ino, x->name,
                                                     strlen(x->name));
            if (e < 0 && e != -ENOENT)
                hm_debug("inval_entry %s: %s", x->path, strerror(-e));
        }
    }
    /* The kernel may keep directory listings (cache_readdir on mounts that
     * cannot write); a name it never looked up is not covered by
     * inval_entry, so drop each changed directory's cached listing.  The
     * diffs come grouped by directory. */
    for (size_t i = 0; ms->se && i < d.n; i++) {
        if (i > 0 && d.v[i].dir_ino == d.v[i - 1].dir_ino)
            continue;
        int e = fuse_lowlevel_notify_inval_inode(ms->se, d.v[i].dir_ino, 0, 0);
        if (e < 0 && e != -ENOENT)
            hm_debug("inval_inode of %s's directory: %s", d.v[i].path, strerror(-e));
    }
    diffs_free(&d);
    return 0;
}

static void poll_once(struct mount_state *ms)
{
    struct hub_repo_info info;
    const char *rev = ms->src.revision[0] ? ms->src.revision : NULL;
    int ret = hub_repo_info(ms->hub, &ms->src, rev, &info);
    if (ret < 0) {
        hm_warn("cannot probe %s@%s: %s", ms->src.repo_id, ms->revision, strerror(-ret));
        return;
    }
    char cur[HUB_SHA1_HEX];
    ms_commit_get(ms, cur, NULL);
    if (strcmp(cur, info.sha) != 0)
        (void)poller_switch(ms, info.sha, info.last_modified);
}

static void *poll_main(void *arg)
{
    struct mount_state *ms = arg;
    pthread_mutex_lock(&ms->poll_lock);
    while (!ms->poll_stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += ms->opt->poll;
        while (!ms->poll_stop) {
            if (pthread_cond_timedwait(&ms->poll_cv, &ms->poll_lock, &until) == ETIMEDOUT)
                break;
        }
        if (ms->poll_stop)
            break;
        pthread_mutex_unlock(&ms->poll_lock);
        poll_once(ms);
        pthread_mutex_lock(&ms->poll_lock);
    }
    pthread_mutex_unlock(&ms->poll_lock);
    return NULL;
}

int poller_start(struct mount_state *ms)
{
    if (!ms->is_branch || ms->opt->poll <= 0 || ms->opt->offline)
        return 0;
    int e = pthread_create(&ms->poll_thread, NULL, poll_main, ms);
    if (e)
        return -e;
    ms->poll_running = true;
    return 0;
}

void poller_stop(struct mount_state *ms)
{
    if (!ms->poll_running)
        return;
    pthread_mutex_lock(&ms->poll_lock);
    ms->poll_stop = true;
    pthread_cond_broadcast(&ms->poll_cv);
    pthread_mutex_unlock(&ms->poll_lock);
    pthread_join(ms->poll_thread, NULL);
    ms->poll_running = false;
}
