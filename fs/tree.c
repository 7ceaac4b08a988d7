/* tree.c — entries and directory listings at a commit: SQLite cache first,
 * the Hub second (see tree.h). */
#include "tree.h"

#include "log.h"
#include "meta.h"
#include "mount_state.h"
#include "node.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Single flight: directories being listed right now. */
struct listing {
    struct listing *next;
    char commit[HUB_SHA1_HEX];
    char *dir;
};
static pthread_mutex_t flight_lock = PTHREAD_MUTEX_INITIALIZER; /* protects flights */
static pthread_cond_t flight_cv = PTHREAD_COND_INITIALIZER;
static struct listing *flights;

static struct listing *flight_find(const char *commit, const char *dir)
{
    for (struct listing *l = flights; l; l = l->next)
        if (strcmp(l->commit, commit) == 0 && strcmp(l->dir, dir) == 0)
            return l;
    return NULL;
}

const char *tree_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A failure after the client's retries is worth a log line (the caller
 * only sees an errno); "not there" and offline are answers, not failures. */
static void log_failure(const char *what, const struct mount_state *ms, const char *path,
                        int ret)
{
    if (ret != -ENOENT && ret != -ENETDOWN)
        hm_warn("cannot %s '%s' in %s: %s", what, path, ms->src.repo_id, strerror(-ret));
}

/* List `dir` at `commit` from the Hub and store it (we own the flight). */
static int list_remote(struct mount_state *ms, const char *commit, const char *dir,
                       struct hub_entries *out)
{
    int ret = hub_list_tree(ms->hub, &ms->src, commit, dir, false, out);
    if (ret < 0) {
        log_failure("list", ms, dir, ret);
        return ret;
    }
    /* The Hub gives full paths; keep only direct children (defensive). */
    int put = meta_dir_put(ms->meta, ms->repo_key, commit, dir, out);
    if (put < 0)
        hm_warn("cannot cache listing of '%s': %s", dir, strerror(-put));
    return 0;
}

int tree_list(struct mount_state *ms, const char *commit, const char *dir,
              struct hub_entries *out)
{
    memset(out, 0, sizeof *out);
    int ret = meta_dir_get(ms->meta, ms->repo_key, commit, dir, out);
    if (ret == 0)
        return 0;
    hub_entries_free(out);
    memset(out, 0, sizeof *out);

    pthread_mutex_lock(&flight_lock);
    while (flight_find(commit, dir))
        pthread_cond_wait(&flight_cv, &flight_lock);
    /* Someone may have just stored it. */
    pthread_mutex_unlock(&flight_lock);
    ret = meta_dir_get(ms->meta, ms->repo_key, commit, dir, out);
    if (ret == 0)
        return 0;
    hub_entries_free(out);
    memset(out, 0, sizeof *out);

    struct listing *me = calloc(1, sizeof *me);
    if (!me)
        return -ENOMEM;
    me->dir = strdup(dir);
    if (!me->dir) {
        free(me);
        return -ENOMEM;
    }
    snprintf(me->commit, sizeof me->commit, "%s", commit);
    pthread_mutex_lock(&flight_lock);
    if (flight_find(commit, dir)) {
        /* Lost a race with another lister: wait for it and read its result. */
        pthread_mutex_unlock(&flight_lock);
        free(me->dir);
        free(me);
        return tree_list(ms, commit, dir, out);
    }
    me->next = flights;
    flights = me;
    pthread_mutex_unlock(&flight_lock);

    ret = list_remote(ms, commit, dir, out);
    if (ret < 0) {
        hub_entries_free(out);
        memset(out, 0, sizeof *out);
    }
    if (ret == -ENOENT && dir[0]) {
        /* Remember the absence: lookups below a directory that exists only
         * locally (the write path's mkdir) must not ask the Hub each time. */
        int neg = meta_negative_put(ms->meta, ms->repo_key, commit, dir);
        if (neg < 0)
            hm_debug("cannot cache negative entry: %s", strerror(-neg));
    }

    pthread_mutex_lock(&flight_lock);
    for (struct listing **pp = &flights; *pp; pp = &(*pp)->next) {
        if (*pp == me) {
            *pp = me->next;
            break;
        }
    }
    pthread_cond_broadcast(&flight_cv);
    pthread_mutex_unlock(&flight_lock);
    free(me->dir);
    free(me);
    return ret;
}

/* Ask the Hub for one path (its parent could not be listed). */
static int entry_remote(struct mount_state *ms, const char *commit, const char *path,
                        struct hub_entry *out)
{
    struct hub_entries got = {0};
    const char *paths[1] = {path};
    int ret = hub_paths_info(ms->hub, &ms->src, commit, paths, 1, &got);
    if (ret < 0) {
        log_failure("look up", ms, path, ret);
        goto out;
    }
    ret = -ENOENT;
    for (size_t i = 0; i < got.n; i++) {
        if (strcmp(got.v[i].path, path) != 0)
            continue;
        *out = got.v[i];
        got.v[i].path = NULL; /* moved to out */
        ret = 0;
        break;
    }
    if (ret == -ENOENT) {
        int neg = meta_negative_put(ms->meta, ms->repo_key, commit, path);
        if (neg < 0)
            hm_debug("cannot cache negative entry: %s", strerror(-neg));
    }
out:
    hub_entries_free(&got); /* the moved entry's path is NULL here */
    return ret;
}

int tree_entry(struct mount_state *ms, const char *commit, const char *path,
               struct hub_entry *out)
{
    memset(out, 0, sizeof *out);
    if (path[0] == '\0') {
        out->path = strdup("");
        out->is_dir = true;
        return out->path ? 0 : -ENOMEM;
    }
    int ret = meta_entry_get(ms->meta, ms->repo_key, commit, path, out);
    if (ret != -EAGAIN)
        return ret;

    /* Unknown: list the parent (which answers its siblings too). */
    char parent[PATH_MAX];
    const char *name;
    ret = node_path_split(path, parent, sizeof parent, &name);
    if (ret < 0)
        return ret;
    if (parent[0]) {
        /* a parent known to be absent (or a file) answers without the Hub */
        struct hub_entry known;
        int kr = meta_entry_get(ms->meta, ms->repo_key, commit, parent, &known);
        if (kr == -ENOENT)
            return -ENOENT;
        if (kr == 0) {
            bool dir = known.is_dir;
            meta_entry_clear(&known);
            if (!dir)
                return -ENOTDIR;
        }
    }
    struct hub_entries list;
    ret = tree_list(ms, commit, parent, &list);
    if (ret == 0) {
        ret = -ENOENT;
        for (size_t i = 0; i < list.n; i++) {
            if (strcmp(list.v[i].path, path) != 0)
                continue;
            *out = list.v[i];
            out->path = strdup(path);
            ret = out->path ? 0 : -ENOMEM;
            break;
        }
        hub_entries_free(&list);
        return ret;
    }
    if (ret != -ENOENT && ret != -ENOTDIR)
        return ret;
    /* The parent itself is missing (or a file): so is the child.  Fall back
     * to paths-info only when the parent's own entry is unknown. */
    struct hub_entry pe;
    int pret = parent[0] ? tree_entry(ms, commit, parent, &pe) : 0;
    if (pret == 0) {
        bool dir = parent[0] ? pe.is_dir : true;
        if (parent[0])
            meta_entry_clear(&pe);
        if (!dir)
            return -ENOTDIR;
        return entry_remote(ms, commit, path, out);
    }
    return pret;
}
