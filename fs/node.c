/* node.c — the inode table (see node.h for the model and the locking).
 *
 * Two chained hash maps over the same nodes: ino -> node (every live node)
 * and path -> node (only "hashed" nodes, i.e. the one each path names now).
 * Both grow by doubling; nodes never move, only their chain links change. */
#include "node.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
    fuse_ino_t ino;
    char *path;
    enum node_kind kind;
    bool is_dir;
    bool hashed;
    struct hub_entry entry; /* entry.path unused (NULL) */
    char commit[HUB_SHA1_HEX];
    struct node_local local;
    uint64_t nlookup;
    uint32_t opens;
    uint64_t switched; /* table stamp of the last node_set_local/remote */
    struct node *ino_next;
    struct node *path_next;
};

struct node_table {
    pthread_mutex_t lock; /* protects everything below and every node */
    struct node **by_ino;
    size_t ino_cap; /* power of two */
    struct node **by_path;
    size_t path_cap; /* power of two */
    size_t n_nodes;
    size_t n_hashed;
    fuse_ino_t next_ino;
    fuse_ino_t root_ino; /* FUSE_ROOT_ID, or the repo directory of a namespace mount */
    uint64_t stamp;      /* counts in-place switches (node_stamp) */
    char own_commit[HUB_SHA1_HEX]; /* the last commit this mount made (node_set_own_commit) */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static size_t ino_slot(const struct node_table *t, fuse_ino_t ino)
{
    uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 17) & (t->ino_cap - 1);
}

static size_t path_slot(const struct node_table *t, const char *path)
{
    return (size_t)hash_str(path) & (t->path_cap - 1);
}

static struct node *find_ino(struct node_table *t, fuse_ino_t ino)
{
    for (struct node *n = t->by_ino[ino_slot(t, ino)]; n; n = n->ino_next)
        if (n->ino == ino)
            return n;
    return NULL;
}

static struct node *find_path(struct node_table *t, const char *path)
{
    for (struct node *n = t->by_path[path_slot(t, path)]; n; n = n->path_next)
        if (strcmp(n->path, path) == 0)
            return n;
    return NULL;
}

/* Doubling keeps chains short; a failed allocation just keeps the old
 * (longer-chained) map, which is still correct. */
static void grow_ino(struct node_table *t)
{
    if (t->n_nodes < t->ino_cap)
        return;
    size_t cap = t->ino_cap * 2;
    struct node **v = calloc(cap, sizeof *v);
    if (!v)
        return;
    struct node **old = t->by_ino;
    size_t old_cap = t->ino_cap;
    t->by_ino = v;
    t->ino_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        struct node *n = old[i];
        while (n) {
            struct node *next = n->ino_next;
            size_t s = ino_slot(t, n->ino);
            n->ino_next = v[s];
            v[s] = n;
            n = next;
        }
    }
    free(old);
}

static void grow_path(struct node_table *t)
{
    if (t->n_hashed < t->path_cap)
        return;
    size_t cap = t->path_cap * 2;
    struct node **v = calloc(cap, sizeof *v);
    if (!v)
        return;
    struct node **old = t->by_path;
    size_t old_cap = t->path_cap;
    t->by_path = v;
    t->path_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        struct node *n = old[i];
        while (n) {
            struct node *next = n->path_next;
            size_t s = path_slot(t, n->path);
            n->path_next = v[s];
            v[s] = n;
            n = next;
        }
    }
    free(old);
}

static void path_insert(struct node_table *t, struct node *n)
{
    size_t s = path_slot(t, n->path);
    n->path_next = t->by_path[s];
    t->by_path[s] = n;
    n->hashed = true;
    t->n_hashed++;
    grow_path(t);
}

static void path_remove(struct node_table *t, struct node *n)
{
    if (!n->hashed)
        return;
    struct node **pp = &t->by_path[path_slot(t, n->path)];
    while (*pp && *pp != n)
        pp = &(*pp)->path_next;
    if (*pp)
        *pp = n->path_next;
    n->path_next = NULL;
    n->hashed = false;
    t->n_hashed--;
}

static void ino_remove(struct node_table *t, struct node *n)
{
    struct node **pp = &t->by_ino[ino_slot(t, n->ino)];
    while (*pp && *pp != n)
        pp = &(*pp)->ino_next;
    if (*pp)
        *pp = n->ino_next;
    n->ino_next = NULL;
    t->n_nodes--;
}

static void node_free(struct node *n)
{
    free(n->path);
    free(n);
}

/* Frees n if nothing refers to it any more (called with the lock held). */
static void maybe_free(struct node_table *t, struct node *n)
{
    if (n->ino == t->root_ino || n->nlookup > 0 || n->opens > 0)
        return;
    path_remove(t, n);
    ino_remove(t, n);
    node_free(n);
}

static struct node *node_new(struct node_table *t, const char *path)
{
    struct node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->path = strdup(path);
    if (!n->path) {
        free(n);
        return NULL;
    }
    n->ino = t->next_ino++;
    size_t s = ino_slot(t, n->ino);
    n->ino_next = t->by_ino[s];
    t->by_ino[s] = n;
    t->n_nodes++;
    grow_ino(t);
    return n;
}

static void set_remote(struct node *n, const struct hub_entry *e, const char *commit)
{
    n->kind = NODE_REMOTE;
    n->is_dir = e->is_dir;
    n->entry = *e;
    n->entry.path = NULL;
    snprintf(n->commit, sizeof n->commit, "%s", commit ? commit : "");
    memset(&n->local, 0, sizeof n->local);
}

static void set_local(struct node *n, const struct node_local *l)
{
    n->kind = NODE_LOCAL;
    n->is_dir = l->is_dir;
    n->local = *l;
    memset(&n->entry, 0, sizeof n->entry);
    n->entry.is_dir = l->is_dir;
    n->commit[0] = '\0';
}

int node_table_new(struct node_table **out)
{
    return node_table_new_at(out, FUSE_ROOT_ID, FUSE_ROOT_ID + 1);
}

int node_table_new_at(struct node_table **out, fuse_ino_t root_ino, fuse_ino_t first_ino)
{
    struct node_table *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->ino_cap = 1024;
    t->path_cap = 1024;
    t->by_ino = calloc(t->ino_cap, sizeof *t->by_ino);
    t->by_path = calloc(t->path_cap, sizeof *t->by_path);
    t->root_ino = root_ino;
    t->next_ino = root_ino;
    if (!t->by_ino || !t->by_path)
        goto fail;
    pthread_mutex_init(&t->lock, NULL);
    struct node *root = node_new(t, "");
    if (!root) {
        pthread_mutex_destroy(&t->lock);
        goto fail;
    }
    t->next_ino = first_ino;
    struct hub_entry e = {.is_dir = true};
    set_remote(root, &e, "");
    path_insert(t, root);
    *out = t;
    return 0;
fail:
    free(t->by_ino);
    free(t->by_path);
    free(t);
    return -ENOMEM;
}

void node_table_free(struct node_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->ino_cap; i++) {
        struct node *n = t->by_ino[i];
        while (n) {
            struct node *next = n->ino_next;
            node_free(n);
            n = next;
        }
    }
    free(t->by_ino);
    free(t->by_path);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void node_info_clear(struct node_info *ni)
{
    free(ni->path);
    ni->path = NULL;
}

int node_get(struct node_table *t, fuse_ino_t ino, struct node_info *out)
{
    int ret = 0;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&t->lock);
    struct node *n = find_ino(t, ino);
    if (!n) {
        ret = -ESTALE;
        goto out;
    }
    out->path = strdup(n->path);
    if (!out->path) {
        ret = -ENOMEM;
        goto out;
    }
    out->ino = n->ino;
    out->kind = n->kind;
    out->is_dir = n->is_dir;
    out->hashed = n->hashed;
    out->entry = n->entry;
    memcpy(out->commit, n->commit, sizeof out->commit);
    out->local = n->local;
    out->nlookup = n->nlookup;
    out->opens = n->opens;
out:
    pthread_mutex_unlock(&t->lock);
    return ret;
}

fuse_ino_t node_find(struct node_table *t, const char *path)
{
    pthread_mutex_lock(&t->lock);
    struct node *n = find_path(t, path);
    fuse_ino_t ino = n ? n->ino : 0;
    pthread_mutex_unlock(&t->lock);
    return ino;
}

/* Same identity: the kernel may keep using the existing inode. */
static bool same_remote(const struct node *n, const struct hub_entry *e)
{
    if (n->kind != NODE_REMOTE || n->is_dir != e->is_dir)
        return false;
    return n->is_dir || strcmp(n->entry.oid, e->oid) == 0;
}

/* Replace the node that path names by a fresh one (lock held). */
static struct node *take_over(struct node_table *t, struct node *old, const char *path)
{
    struct node *n = node_new(t, path);
    if (!n)
        return NULL;
    if (old) {
        path_remove(t, old);
        maybe_free(t, old);
    }
    path_insert(t, n);
    return n;
}

/* The node `path` names was switched in place after `since`: it holds
 * newer state than the caller read, so it only gets the reference. */
static bool newer_than(const struct node_table *t, const struct node *n, uint64_t since)
{
    return n && n->ino != t->root_ino && n->switched > since;
}

void node_set_own_commit(struct node_table *t, const char *commit)
{
    pthread_mutex_lock(&t->lock);
    snprintf(t->own_commit, sizeof t->own_commit, "%s", commit ? commit : "");
    pthread_mutex_unlock(&t->lock);
}

/* Lock held.  Compares a copy: GCC's -fsanitize builds warn (wrongly) that
 * a string compare with the member reads past a region of size 0. */
static bool own_commit_locked(const struct node_table *t, const char *commit)
{
    char own[HUB_SHA1_HEX];
    memcpy(own, t->own_commit, sizeof own);
    own[sizeof own - 1] = '\0';
    return own[0] && commit && strcmp(own, commit) == 0;
}

bool node_is_own_commit(struct node_table *t, const char *commit)
{
    pthread_mutex_lock(&t->lock);
    bool own = own_commit_locked(t, commit);
    pthread_mutex_unlock(&t->lock);
    return own;
}

uint64_t node_stamp(struct node_table *t)
{
    pthread_mutex_lock(&t->lock);
    uint64_t s = t->stamp;
    pthread_mutex_unlock(&t->lock);
    return s;
}

int node_ref_remote(struct node_table *t, const char *path, const struct hub_entry *e,
                    const char *commit, uint64_t lookups, fuse_ino_t *ino_out)
{
    return node_ref_remote_since(t, path, e, commit, lookups, UINT64_MAX, ino_out);
}

int node_ref_remote_since(struct node_table *t, const char *path, const struct hub_entry *e,
                          const char *commit, uint64_t lookups, uint64_t since,
                          fuse_ino_t *ino_out)
{
    int ret = 0;
    pthread_mutex_lock(&t->lock);
    struct node *n = find_path(t, path);
    if (newer_than(t, n, since)) {
        n->nlookup += lookups;
        *ino_out = n->ino;
        goto out;
    }
    if (n && n->kind == NODE_LOCAL && !n->is_dir && !e->is_dir && n->local.size == e->size &&
        n->ino != t->root_ino && own_commit_locked(t, commit)) {
        /* A local file the write path no longer calls local, read at the
         * commit this mount made, with the entry's size: that commit holds
         * the node's own content, and the commit worker is about to switch
         * it to remote in place (cw_settled).  Switch it in place here: a
         * new node would give the name a new inode while a writer may be
         * opening the old one to write a newer version, and the kernel
         * would then cut reads of the new content to the old size.  At
         * anyone else's commit, or with another size, the content may
         * differ: the node is replaced below, as for any change. */
        set_remote(n, e, commit);
        n->switched = ++t->stamp;
        n->nlookup += lookups;
        *ino_out = n->ino;
        goto out;
    }
    if (!n || !same_remote(n, e)) {
        /* The root is never replaced: it is a directory whatever happens. */
        if (n && n->ino == t->root_ino) {
            ret = -EINVAL;
            goto out;
        }
        if (lookups == 0) { /* refresh only: the old node no longer fits */
            if (n) {
                path_remove(t, n);
                maybe_free(t, n);
            }
            *ino_out = 0;
            goto out;
        }
        n = take_over(t, n, path);
        if (!n) {
            ret = -ENOMEM;
            goto out;
        }
    }
    set_remote(n, e, commit);
    n->nlookup += lookups;
    *ino_out = n->ino;
out:
    pthread_mutex_unlock(&t->lock);
    return ret;
}

int node_ref_local(struct node_table *t, const char *path, const struct node_local *l,
                   uint64_t lookups, fuse_ino_t *ino_out)
{
    return node_ref_local_since(t, path, l, lookups, UINT64_MAX, ino_out);
}

int node_ref_local_since(struct node_table *t, const char *path, const struct node_local *l,
                         uint64_t lookups, uint64_t since, fuse_ino_t *ino_out)
{
    int ret = 0;
    pthread_mutex_lock(&t->lock);
    struct node *n = find_path(t, path);
    if (newer_than(t, n, since)) {
        n->nlookup += lookups;
        *ino_out = n->ino;
        goto out;
    }
    if (!n || n->kind != NODE_LOCAL || n->is_dir != l->is_dir) {
        if (n && n->ino == t->root_ino) {
            ret = -EINVAL;
            goto out;
        }
        if (lookups == 0) {
            if (n) {
                path_remove(t, n);
                maybe_free(t, n);
            }
            *ino_out = 0;
            goto out;
        }
        n = take_over(t, n, path);
        if (!n) {
            ret = -ENOMEM;
            goto out;
        }
    }
    set_local(n, l);
    n->nlookup += lookups;
    *ino_out = n->ino;
out:
    pthread_mutex_unlock(&t->lock);
    return ret;
}

/* node_set_local, or with `guarded` node_set_local_since */
static int switch_to_local(struct node_table *t, fuse_ino_t ino, const struct node_local *l,
                           bool guarded, uint64_t since)
{
    int ret = 0;
    pthread_mutex_lock(&t->lock);
    struct node *n = find_ino(t, ino);
    if (!n)
        ret = -ESTALE;
    else if (n->ino == t->root_ino)
        ret = -EINVAL;
    else if (guarded && (n->kind != NODE_LOCAL || newer_than(t, n, since)))
        ret = -EAGAIN;
    else {
        set_local(n, l);
        n->switched = ++t->stamp;
    }
    pthread_mutex_unlock(&t->lock);
    return ret;
}

int node_set_local(struct node_table *t, fuse_ino_t ino, const struct node_local *l)
{
    return switch_to_local(t, ino, l, false, 0);
}

int node_set_local_since(struct node_table *t, fuse_ino_t ino, const struct node_local *l,
                         uint64_t since)
{
    return switch_to_local(t, ino, l, true, since);
}

/* node_set_remote, or with `guarded` node_set_remote_since */
static int switch_to_remote(struct node_table *t, fuse_ino_t ino, const struct hub_entry *e,
                            const char *commit, bool guarded, uint64_t since)
{
    int ret = 0;
    pthread_mutex_lock(&t->lock);
    struct node *n = find_ino(t, ino);
    if (!n) {
        ret = -ESTALE;
    } else if (guarded && newer_than(t, n, since)) {
        ret = -EAGAIN;
    } else {
        set_remote(n, e, commit);
        n->switched = ++t->stamp;
    }
    pthread_mutex_unlock(&t->lock);
    return ret;
}

int node_set_remote(struct node_table *t, fuse_ino_t ino, const struct hub_entry *e,
                    const char *commit)
{
    return switch_to_remote(t, ino, e, commit, false, 0);
}

int node_set_remote_since(struct node_table *t, fuse_ino_t ino, const struct hub_entry *e,
                          const char *commit, uint64_t since)
{
    return switch_to_remote(t, ino, e, commit, true, since);
}

void node_unhash(struct node_table *t, fuse_ino_t ino)
{
    pthread_mutex_lock(&t->lock);
    struct node *n = find_ino(t, ino);
    if (n && n->ino != t->root_ino) {
        path_remove(t, n);
        maybe_free(t, n);
    }
    pthread_mutex_unlock(&t->lock);
}

/* new_path + (old path's suffix after old_prefix), malloc'd. */
static char *rebase_path(const char *path, size_t old_len, const char *new_prefix)
{
    size_t a = strlen(new_prefix), b = strlen(path + old_len);
    char *p = malloc(a + b + 1);
    if (!p)
        return NULL;
    memcpy(p, new_prefix, a);
    memcpy(p + a, path + old_len, b + 1);
    return p;
}

int node_rename(struct node_table *t, fuse_ino_t ino, const char *new_path)
{
    int ret = 0;
    pthread_mutex_lock(&t->lock);
    struct node *n = find_ino(t, ino);
    if (!n) {
        ret = -ESTALE;
        goto out;
    }
    if (n->ino == t->root_ino) {
        ret = -EBUSY;
        goto out;
    }
    char *old = strdup(n->path);
    char *fresh = strdup(new_path);
    if (!old || !fresh) {
        free(old);
        free(fresh);
        ret = -ENOMEM;
        goto out;
    }
    size_t old_len = strlen(old);
    struct node *victim = find_path(t, new_path);
    if (victim && victim != n) {
        path_remove(t, victim);
        maybe_free(t, victim);
    }
    bool was_hashed = n->hashed;
    path_remove(t, n);
    free(n->path);
    n->path = fresh;
    if (was_hashed)
        path_insert(t, n);
    /* Descendants: collect first (rehashing while walking a chain would
     * visit nodes twice), then move each. */
    if (n->is_dir) {
        for (size_t i = 0; i < t->ino_cap; i++) {
            for (struct node *c = t->by_ino[i]; c; c = c->ino_next) {
                if (c == n || strncmp(c->path, old, old_len) != 0 || c->path[old_len] != '/')
                    continue;
                char *p = rebase_path(c->path, old_len, new_path);
                if (!p) {
                    ret = -ENOMEM;
                    continue;
                }
                bool h = c->hashed;
                path_remove(t, c);
                free(c->path);
                c->path = p;
                if (h) {
                    struct node *v = find_path(t, p);
                    if (v) /* cannot be c: c was just removed */
                        path_remove(t, v);
                    path_insert(t, c);
                }
            }
        }
    }
    free(old);
out:
    pthread_mutex_unlock(&t->lock);
    return ret;
}

void node_forget(struct node_table *t, fuse_ino_t ino, uint64_t count)
{
    pthread_mutex_lock(&t->lock);
    struct node *n = find_ino(t, ino);
    if (n) {
        n->nlookup = count > n->nlookup ? 0 : n->nlookup - count;
        maybe_free(t, n);
    }
    pthread_mutex_unlock(&t->lock);
}

int node_open(struct node_table *t, fuse_ino_t ino)
{
    int ret = 0;
    pthread_mutex_lock(&t->lock);
    struct node *n = find_ino(t, ino);
    if (n)
        n->opens++;
    else
        ret = -ESTALE;
    pthread_mutex_unlock(&t->lock);
    return ret;
}

void node_close(struct node_table *t, fuse_ino_t ino)
{
    pthread_mutex_lock(&t->lock);
    struct node *n = find_ino(t, ino);
    if (n && n->opens > 0) {
        n->opens--;
        maybe_free(t, n);
    }
    pthread_mutex_unlock(&t->lock);
}

int node_list_dirs(struct node_table *t, struct node_dir_ref **out, size_t *n_out)
{
    int ret = 0;
    size_t n = 0, cap = 0;
    struct node_dir_ref *v = NULL;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->ino_cap && ret == 0; i++) {
        for (struct node *c = t->by_ino[i]; c; c = c->ino_next) {
            if (!c->is_dir || !c->hashed)
                continue;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 64;
                struct node_dir_ref *nv = realloc(v, nc * sizeof *nv);
                if (!nv) {
                    ret = -ENOMEM;
                    break;
                }
                v = nv;
                cap = nc;
            }
            v[n].ino = c->ino;
            v[n].path = strdup(c->path);
            if (!v[n].path) {
                ret = -ENOMEM;
                break;
            }
            n++;
        }
    }
    pthread_mutex_unlock(&t->lock);
    if (ret < 0) {
        node_dir_refs_free(v, n);
        return ret;
    }
    *out = v;
    *n_out = n;
    return 0;
}

void node_dir_refs_free(struct node_dir_ref *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].path);
    free(v);
}

size_t node_count(struct node_table *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->n_nodes;
    pthread_mutex_unlock(&t->lock);
    return n;
}

fuse_ino_t node_next_ino(struct node_table *t)
{
    pthread_mutex_lock(&t->lock);
    fuse_ino_t n = t->next_ino;
    pthread_mutex_unlock(&t->lock);
    return n;
}

int node_path_split(const char *path, char *parent, size_t cap, const char **name)
{
    const char *slash = strrchr(path, '/');
    size_t plen = slash ? (size_t)(slash - path) : 0;
    if (plen + 1 > cap)
        return -ENAMETOOLONG;
    memcpy(parent, path, plen);
    parent[plen] = '\0';
    *name = slash ? slash + 1 : path;
    return 0;
}

char *node_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    if (a == 0) {
        memcpy(p, name, b + 1);
        return p;
    }
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}
