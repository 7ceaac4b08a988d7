/* ns_list.c — the repos of one author, as the namespace layer lists them:
 * GET /api/{models,datasets,spaces}?author=NS (every page) kept in memory
 * for ns.ttl seconds, fetched by one thread while the others wait.
 *
 * Listing a namespace asks nothing per repo: a repo directory's attributes
 * come from its listing entry (private, lastModified). */
#include "ns_i.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

double ns_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Caller holds ns.lock. */
static struct ns_listing *listing_find(enum hub_repo_type type, const char *owner, bool create)
{
    for (struct ns_listing *l = ns.listings; l; l = l->next)
        if (l->type == type && strcasecmp(l->owner, owner) == 0)
            return l;
    if (!create)
        return NULL;
    struct ns_listing *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->type = type;
    snprintf(l->owner, sizeof l->owner, "%s", owner);
    l->next = ns.listings;
    ns.listings = l;
    return l;
}

static bool fresh(const struct ns_listing *l)
{
    return l->loaded && ns_now() - l->fetched < ns.ttl;
}

static int list_copy(const struct hub_repo_list *from, struct hub_repo_list *to)
{
    memset(to, 0, sizeof *to);
    if (!from->n)
        return 0;
    to->v = malloc(from->n * sizeof *to->v);
    if (!to->v)
        return -ENOMEM;
    memcpy(to->v, from->v, from->n * sizeof *to->v);
    to->n = to->cap = from->n;
    return 0;
}

int ns_list_get(enum hub_repo_type type, const char *owner, struct hub_repo_list *out)
{
    int ret = 0;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&ns.lock);
    struct ns_listing *l = listing_find(type, owner, true);
    if (!l) {
        pthread_mutex_unlock(&ns.lock);
        return -ENOMEM;
    }
    while (l->loading)
        pthread_cond_wait(&ns.cv, &ns.lock);
    if (fresh(l) || (l->loaded && ns.tmpl->opt->offline)) {
        ret = list_copy(&l->list, out);
        pthread_mutex_unlock(&ns.lock);
        return ret;
    }
    l->loading = true;
    pthread_mutex_unlock(&ns.lock);

    struct hub_repo_list got;
    memset(&got, 0, sizeof got);
    ret = hub_list_repos(ns.tmpl->hub, type, owner, &got);
    if (ret < 0)
        hm_info("namespace: cannot list %s of %s: %s", hub_repo_type_plural(type), owner,
                strerror(-ret));

    pthread_mutex_lock(&ns.lock);
    l->loading = false;
    if (ret == 0) {
        hub_repo_list_free(&l->list);
        l->list = got;
        l->loaded = true;
        l->fetched = ns_now();
        ret = list_copy(&l->list, out);
    } else if (l->loaded) {
        /* The Hub failed: an older listing beats an error in a file manager. */
        ret = list_copy(&l->list, out);
    }
    pthread_cond_broadcast(&ns.cv);
    pthread_mutex_unlock(&ns.lock);
    return ret;
}

/* "ns/name" -> name */
static const char *repo_name(const char *id)
{
    const char *s = strchr(id, '/');
    return s ? s + 1 : id;
}

int ns_list_find(enum hub_repo_type type, const char *owner, const char *name,
                 struct hub_repo_item *item)
{
    int ret = -EAGAIN;
    pthread_mutex_lock(&ns.lock);
    struct ns_listing *l = listing_find(type, owner, false);
    if (l && fresh(l)) {
        ret = 0;
        for (size_t i = 0; i < l->list.n; i++) {
            if (strcmp(repo_name(l->list.v[i].id), name) == 0) {
                *item = l->list.v[i];
                ret = 1;
                break;
            }
        }
    }
    pthread_mutex_unlock(&ns.lock);
    return ret;
}

void ns_list_note(enum hub_repo_type type, const char *owner, const struct hub_repo_item *item)
{
    pthread_mutex_lock(&ns.lock);
    struct ns_listing *l = listing_find(type, owner, false);
    if (l && l->loaded) {
        struct hub_repo_list *v = &l->list;
        if (v->n == v->cap) {
            size_t cap = v->cap ? v->cap * 2 : 16;
            struct hub_repo_item *nv = realloc(v->v, cap * sizeof *nv);
            if (!nv) {
                l->loaded = false; /* refetch rather than show a stale list */
                pthread_mutex_unlock(&ns.lock);
                return;
            }
            v->v = nv;
            v->cap = cap;
        }
        v->v[v->n++] = *item;
    }
    pthread_mutex_unlock(&ns.lock);
}

void ns_list_free_all(void)
{
    while (ns.listings) {
        struct ns_listing *l = ns.listings;
        ns.listings = l->next;
        hub_repo_list_free(&l->list);
        free(l);
    }
}
