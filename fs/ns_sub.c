/* ns_sub.c — the repo mounts of a namespace or Hub mount: one struct
 * mount_state per repo directory (per name@rev), opened on first use below
 * it, with its own node table in its own inode range (ns_i.h), reader,
 * write path and branch poller, sharing the session's Hub client,
 * identity and caches.  Opened mounts live until unmount. */
#include "ns_i.h"

#include "log.h"
#include "ops_write.h"
#include "reader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read-ahead threads per repo mount: many repos may be open at once. */
#define NS_SUB_READERS 2

struct ns_sub *ns_sub_of(fuse_ino_t ino)
{
    fuse_ino_t slot = ino >> NS_SLOT_SHIFT;
    if (slot == 0 || slot > NS_MAX_SUBS)
        return NULL;
    pthread_mutex_lock(&ns.lock);
    struct ns_sub *s = ns.subs[slot];
    pthread_mutex_unlock(&ns.lock);
    return s;
}

/* Frees what the sub owns, never what it borrows from ns.tmpl. */
static void sub_free(struct ns_sub *s)
{
    s->ms.hub = NULL;
    s->ms.meta = NULL;
    s->ms.blocks = NULL;
    s->ms.hf = NULL;
    memset(&s->ms.ident, 0, sizeof s->ms.ident);
    ms_destroy(&s->ms);
    free(s);
}

/* Resolves the repo and revision (network) before taking a slot, so a
 * lookup of a name that does not exist uses none. */
static int sub_make(const struct ns_node *n, struct ns_sub **out)
{
    const struct mount_state *t = ns.tmpl;
    struct ns_sub *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    ms_init(&s->ms);
    s->ms.opt = t->opt;
    s->ms.src = n->src;
    snprintf(s->ms.endpoint, sizeof s->ms.endpoint, "%s", t->endpoint);
    s->ms.ident = t->ident; /* shallow: freed with ns.tmpl */
    s->ms.hub = t->hub;
    s->ms.meta = t->meta;
    s->ms.blocks = t->blocks;
    s->ms.hf = t->hf;
    s->ms.se = t->se;
    s->ms.uid = t->uid;
    s->ms.gid = t->gid;
    int ret = ms_repo_open(&s->ms, NS_SUB_READERS);
    if (ret == 0) {
        pthread_mutex_lock(&ns.lock);
        if (ns.n_subs < NS_MAX_SUBS)
            s->slot = ++ns.n_subs; /* never reused: inode numbers stay unique */
        pthread_mutex_unlock(&ns.lock);
        if (!s->slot) {
            hm_warn("namespace: more than %d repos opened; remount to open others",
                    NS_MAX_SUBS);
            ret = -ENFILE;
        }
    }
    if (ret == 0)
        ret = node_table_new_at(&s->ms.nodes, n->ino, (fuse_ino_t)s->slot * NS_SLOT_BASE);
    if (ret == 0 && (ret = reader_start(s->ms.reader)) < 0)
        hm_warn("namespace: cannot start read-ahead for %s", n->src.repo_id);
    if (ret == 0 && (ret = hm_write_init(&s->ms)) < 0)
        hm_warn("namespace: no write path for %s: %s", n->src.repo_id, strerror(-ret));
    if (ret == 0) {
        if ((ret = hm_write_start(&s->ms)) < 0)
            hm_warn("namespace: cannot start the commit worker for %s", n->src.repo_id);
        else
            s->writes_started = true;
    }
    if (ret == 0 && (ret = poller_start(&s->ms)) < 0)
        hm_warn("namespace: cannot start the poller for %s", n->src.repo_id);
    if (ret < 0) {
        if (s->ms.hooks.ctx)
            (void)hm_write_stop(&s->ms);
        sub_free(s);
        return ret;
    }
    *out = s;
    return 0;
}

int ns_sub_open(fuse_ino_t ino, struct ns_sub **out)
{
    pthread_mutex_lock(&ns.lock);
    struct ns_node *n = ns_node_get(ino);
    if (!n || n->kind != NS_REPO) {
        pthread_mutex_unlock(&ns.lock);
        return -ENOENT;
    }
    while (n->opening)
        pthread_cond_wait(&ns.cv, &ns.lock);
    if (n->sub) {
        *out = n->sub;
        pthread_mutex_unlock(&ns.lock);
        return 0;
    }
    n->opening = true;
    struct ns_node copy = *n; /* nodes never move or change identity */
    pthread_mutex_unlock(&ns.lock);

    struct ns_sub *s = NULL;
    int ret = sub_make(&copy, &s);
    if (ret == -ENXIO)
        ret = -ENOENT; /* no such revision: no such directory */

    pthread_mutex_lock(&ns.lock);
    n->opening = false;
    if (ret == 0) {
        n->sub = s;
        ns.subs[s->slot] = s;
        *out = s;
    }
    pthread_cond_broadcast(&ns.cv);
    pthread_mutex_unlock(&ns.lock);
    return ret;
}

void ns_subs_session_end(void)
{
    for (unsigned i = 1; i <= ns.n_subs; i++) {
        struct ns_sub *s = ns.subs[i];
        if (!s)
            continue;
        poller_stop(&s->ms);
        s->ms.se = NULL;
    }
}

int ns_subs_free(void)
{
    int first = 0;
    bool timed_out = false;
    for (unsigned i = 1; i <= ns.n_subs; i++) {
        struct ns_sub *s = ns.subs[i];
        if (!s || !s->writes_started)
            continue;
        int r = hm_write_stop(&s->ms);
        if (r == -ETIMEDOUT)
            timed_out = true;
        if (r < 0 && first == 0)
            first = r;
    }
    if (timed_out)
        return -ETIMEDOUT;
    for (unsigned i = 1; i <= ns.n_subs; i++) {
        if (ns.subs[i])
            sub_free(ns.subs[i]);
        ns.subs[i] = NULL;
    }
    return first;
}
