/* ns_sub.c — the repo mounts of a namespace or Hub mount: one struct
 * mount_state per repo directory (per name@rev), opened on first use below
 * it, with its own node table in its own inode range (ns_i.h), reader,
 * write path and branch poller, sharing the session's Hub client,
 * identity and caches.
 *
 * A repo mount that stays idle is closed by the closer thread and its slot
 * reused: idle = no request holds it, the kernel has forgotten every inode
 * of it but the repo directory (which is this layer's), no file or
 * directory handle is open, and `hubmount status` would say nothing is
 * pending or committing.  So a file manager that walked through hundreds
 * of repos does not keep their threads once the kernel lets go of them,
 * and a change not yet on the Hub keeps its mount (and commit worker)
 * until it lands. */
#include "ns_i.h"

#include "log.h"
#include "ops_write.h"
#include "reader.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Read-ahead threads per repo mount: many repos may be open at once. */
#define NS_SUB_READERS 2
/* How often the closer looks for idle repo mounts, and how long one must
 * stay idle (no request at all) before it is closed: a lookup of a missing
 * name below a repo leaves nothing referenced, and closing at once would
 * make the next such lookup reopen it (threads, one repo info request). */
#define NS_CLOSER_PERIOD_MS 1000
#define NS_IDLE_GRACE_S 2.0

void ns_sub_hold_locked(struct ns_sub *s, bool request)
{
    s->busy++;
    if (request)
        s->gen++;
}

struct ns_sub *ns_sub_get(fuse_ino_t ino, bool request)
{
    fuse_ino_t slot = ino >> NS_SLOT_SHIFT;
    if (slot == 0 || slot > NS_MAX_SUBS)
        return NULL;
    pthread_mutex_lock(&ns.lock);
    struct ns_sub *s = ns.subs[slot];
    if (s)
        ns_sub_hold_locked(s, request);
    pthread_mutex_unlock(&ns.lock);
    return s;
}

void ns_sub_put(struct ns_sub *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&ns.lock);
    s->busy--;
    pthread_mutex_unlock(&ns.lock);
}

int ns_subs_stats(char *buf, size_t cap)
{
    pthread_mutex_lock(&ns.lock);
    int n = snprintf(buf, cap, "open: %u\nopened: %llu\nclosed: %llu\n", ns.n_open,
                     (unsigned long long)ns.n_opened, (unsigned long long)ns.n_closed);
    pthread_mutex_unlock(&ns.lock);
    return n < 0 || (size_t)n >= cap ? -ERANGE : 0;
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

/* A slot for a new repo mount and the first inode of its table: a closed
 * slot first (numbering on where its last table stopped), else a new one.
 * 0 when all are taken.  Caller holds ns.lock. */
static unsigned slot_take(fuse_ino_t *first)
{
    unsigned slot = 0;
    if (ns.n_free)
        slot = ns.free_slots[--ns.n_free];
    else if (ns.n_subs < NS_MAX_SUBS)
        slot = ++ns.n_subs;
    if (slot)
        *first = ns.slot_next[slot] ? ns.slot_next[slot] : (fuse_ino_t)slot * NS_SLOT_BASE;
    return slot;
}

/* A slot whose table stopped at inode `next` may be used again.  Each
 * slot has 2^40 numbers; one that used half of them is retired rather than
 * risk running into the next slot's range.  Caller holds ns.lock. */
static void slot_give_back(unsigned slot, fuse_ino_t next)
{
    fuse_ino_t base = (fuse_ino_t)slot * NS_SLOT_BASE;
    if (next < base || next - base >= NS_SLOT_BASE / 2) {
        hm_warn("namespace: inode range %u used up; not reused", slot);
        return;
    }
    ns.slot_next[slot] = next;
    ns.free_slots[ns.n_free++] = slot;
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
    s->dir_ino = n->ino;
    snprintf(s->ms.endpoint, sizeof s->ms.endpoint, "%s", t->endpoint);
    s->ms.ident = t->ident; /* shallow: freed with ns.tmpl */
    s->ms.hub = t->hub;
    s->ms.meta = t->meta;
    s->ms.blocks = t->blocks;
    s->ms.hf = t->hf;
    s->ms.se = t->se;
    s->ms.uid = t->uid;
    s->ms.gid = t->gid;
    fuse_ino_t first = 0;
    int ret = ms_repo_open(&s->ms, NS_SUB_READERS);
    if (ret == 0) {
        pthread_mutex_lock(&ns.lock);
        s->slot = slot_take(&first);
        pthread_mutex_unlock(&ns.lock);
        if (!s->slot) {
            hm_warn("namespace: more than %d repos open; close some or remount", NS_MAX_SUBS);
            ret = -ENFILE;
        }
    }
    if (ret == 0)
        ret = node_table_new_at(&s->ms.nodes, n->ino, first);
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
        if (s->slot) {
            /* nothing of the slot reached the kernel: its numbering is as it was */
            pthread_mutex_lock(&ns.lock);
            slot_give_back(s->slot, first);
            pthread_mutex_unlock(&ns.lock);
        }
        sub_free(s);
        return ret;
    }
    *out = s;
    return 0;
}

static void *closer_main(void *arg);

int ns_sub_open(fuse_ino_t ino, struct ns_sub **out)
{
    pthread_mutex_lock(&ns.lock);
    struct ns_node *n = ns_node_get(ino);
    if (!n || n->kind != NS_REPO) {
        pthread_mutex_unlock(&ns.lock);
        return -ENOENT;
    }
    while (n->opening || n->closing)
        pthread_cond_wait(&ns.cv, &ns.lock);
    if (n->sub) {
        ns_sub_hold_locked(n->sub, true);
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
        ns.n_open++;
        ns.n_opened++;
        ns_sub_hold_locked(s, true);
        *out = s;
        /* Started here, on a FUSE thread: after daemonizing (fork keeps no threads). */
        if (!ns.closer_running && !ns.closer_stop) {
            int e = pthread_create(&ns.closer, NULL, closer_main, NULL);
            if (e == 0)
                ns.closer_running = true;
            else
                hm_warn("namespace: no closer thread (%s): repo mounts stay open",
                        strerror(e));
        }
    }
    pthread_cond_broadcast(&ns.cv);
    pthread_mutex_unlock(&ns.lock);
    return ret;
}

/* ---- closing idle repo mounts ---------------------------------------------------- */

/* Does `hubmount status` of this mount say nothing is pending or being
 * committed?  A mount without a write path has nothing to lose. */
static bool writes_idle(struct mount_state *ms)
{
    if (!ms->hooks.status)
        return true;
    char buf[4096];
    if (ms->hooks.status(ms->hooks.ctx, "status.json", buf, sizeof buf) < 0)
        return false;
    json_t *root = json_loads(buf, 0, NULL);
    json_t *pending = root ? json_object_get(root, "pending") : NULL;
    json_t *ops = pending ? json_object_get(pending, "operations") : NULL;
    bool idle = json_is_integer(ops) && json_integer_value(ops) == 0 &&
                json_is_false(json_object_get(root, "committing"));
    json_decref(root);
    return idle;
}

/* Idle as the kernel and the write path see it.  Without a hold: only
 * requests add references, handles or pending work, and the caller
 * detects any request since by s->gen. */
static bool sub_idle(struct ns_sub *s)
{
    if (node_count(s->ms.nodes) != 1) /* the root (the repo directory) only */
        return false;
    struct node_info ni;
    if (node_get(s->ms.nodes, s->dir_ino, &ni) < 0)
        return false;
    uint32_t opens = ni.opens; /* an open handle on the repo directory itself */
    node_info_clear(&ni);
    return opens == 0 && writes_idle(&s->ms);
}

/* Closes s if it is still idle and no request held it since generation
 * `gen`.  Called by the closer thread only (the only one that frees a
 * repo mount before unmount, so s stays valid here).
 *
 * The poller is stopped BEFORE the mount is detached, while requests still
 * reach it: it may be inside a kernel invalidation that waits for the
 * repo directory's lock, held by a lookup there; were that lookup waiting
 * for this close, neither would finish.  If the close is called off, the
 * poller is started again. */
static void sub_close(struct ns_sub *s, uint64_t gen)
{
    bool polled = s->ms.poll_running;
    poller_stop(&s->ms);
    bool idle = sub_idle(s);
    pthread_mutex_lock(&ns.lock);
    struct ns_node *n = ns_node_get(s->dir_ino);
    idle = idle && n && n->sub == s && s->busy == 0 && s->gen == gen;
    if (idle) {
        /* From here on requests about the repo directory see no mount:
         * attributes come from these, anything below waits and reopens. */
        char commit[HUB_SHA1_HEX];
        int64_t date = 0;
        ms_commit_get(&s->ms, commit, &date);
        n->closed_perm = ms_writable(&s->ms) ? 0755 : 0555;
        n->closed_date = date;
        n->was_open = true;
        n->closing = true;
        n->sub = NULL;
        ns.subs[s->slot] = NULL;
        ns.n_open--;
    }
    pthread_mutex_unlock(&ns.lock);
    if (!idle) {
        if (polled) {
            pthread_mutex_lock(&s->ms.poll_lock);
            s->ms.poll_stop = false;
            pthread_mutex_unlock(&s->ms.poll_lock);
            if (poller_start(&s->ms) < 0)
                hm_warn("namespace: cannot restart the poller for %s", s->ms.src.repo_id);
        }
        return;
    }

    /* Nothing refers to s any more: no request holds it, no thread of it
     * is waiting on the kernel, and nothing is pending (the commit worker
     * stops at once). */
    unsigned slot = s->slot;
    fuse_ino_t next = node_next_ino(s->ms.nodes);
    char name[sizeof s->ms.src.repo_id + sizeof s->ms.revision + 2];
    snprintf(name, sizeof name, "%s@%s", s->ms.src.repo_id, s->ms.revision);
    bool freed = true;
    if (s->writes_started) {
        int r = hm_write_stop(&s->ms);
        if (r == -ETIMEDOUT)
            freed = false; /* its worker still runs: leave s and its slot alone */
        else if (r < 0)
            hm_warn("namespace: closing %s: %s", name, strerror(-r));
    }
    if (freed)
        sub_free(s);
    hm_info("namespace: closed idle repo mount %s", name);

    pthread_mutex_lock(&ns.lock);
    n->closing = false;
    ns.n_closed++;
    if (freed)
        slot_give_back(slot, next);
    pthread_cond_broadcast(&ns.cv);
    pthread_mutex_unlock(&ns.lock);
}

/* One pass: a mount idle for NS_IDLE_GRACE_S with no request in between
 * is closed.  Caller holds ns.lock; it is released around each check. */
static void closer_pass(void)
{
    for (unsigned i = 1; i <= ns.n_subs && !ns.closer_stop; i++) {
        struct ns_sub *s = ns.subs[i];
        if (!s)
            continue;
        if (s->busy) {
            s->idle_since = 0;
            continue;
        }
        uint64_t gen = s->gen;
        pthread_mutex_unlock(&ns.lock);
        double now = ns_now();
        if (!sub_idle(s))
            s->idle_since = 0;
        else if (s->idle_since == 0 || s->idle_gen != gen) {
            s->idle_since = now;
            s->idle_gen = gen;
        } else if (now - s->idle_since >= NS_IDLE_GRACE_S) {
            sub_close(s, gen);
        }
        pthread_mutex_lock(&ns.lock);
    }
}

static void *closer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ns.lock);
    while (!ns.closer_stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += NS_CLOSER_PERIOD_MS / 1000;
        until.tv_nsec += (long)(NS_CLOSER_PERIOD_MS % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        (void)pthread_cond_timedwait(&ns.closer_cv, &ns.lock, &until);
        if (!ns.closer_stop)
            closer_pass();
    }
    pthread_mutex_unlock(&ns.lock);
    return NULL;
}

void ns_subs_session_end(void)
{
    pthread_mutex_lock(&ns.lock);
    ns.closer_stop = true;
    bool running = ns.closer_running;
    pthread_cond_broadcast(&ns.closer_cv);
    pthread_mutex_unlock(&ns.lock);
    if (running)
        pthread_join(ns.closer, NULL);
    ns.closer_running = false;
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
