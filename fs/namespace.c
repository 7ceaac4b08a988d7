/* namespace.c — the directories above the repos of a namespace mount
 * (`hubmount acme MNT`: models/ datasets/ spaces/, each listing acme's
 * repos) or of the Hub mount (`hubmount hub MNT`: models/ETC/<namespace>/
 * <repo>), and the dispatch of every FUSE request to the layer that owns
 * its inode: these directories here, everything at or below a repo
 * directory to that repo's mount (fs/ns_sub.c) through the unchanged repo
 * handlers (read path, write path, noise rules).
 *
 * A repo directory is listed from the namespace's listing (no request per
 * repo) and becomes a repo mount on the first request below it.  A name
 * `repo@rev` (rev percent-encoded: `repo@refs%2Fpr%2F1`) is a mount of that
 * revision; it resolves on lookup and is never listed.  mkdir of a repo
 * directory creates a private repo; rmdir and rename of one are EPERM.
 * docs/namespace.md has the whole design. */
#include "namespace.h"

#include "log.h"
#include "noise.h"
#include "ns_i.h"
#include "ops.h"
#include "route.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

struct ns_state ns;

static int64_t ns_started; /* mtime of the namespace's own directories */

static const char *const type_dirs[] = {"models", "datasets", "spaces"};
static const enum hub_repo_type type_of_dir[] = {HUB_REPO_MODEL, HUB_REPO_DATASET, HUB_REPO_SPACE};

/* ---- sources ------------------------------------------------------------------ */

/* A namespace name as the Hub allows it (hub_source_parse checks names). */
static bool valid_owner(const char *owner)
{
    char text[300];
    struct hub_source src;
    int n = snprintf(text, sizeof text, "%s/x", owner);
    return n > 0 && (size_t)n < sizeof text && hub_source_parse(text, &src) == 0;
}

bool hm_ns_source(const char *source)
{
    if (!source)
        return false;
    size_t n = strlen(source);
    if (strcmp(source, "hub") == 0)
        return true;
    /* "acme" or "acme/" (the trailing slash names a namespace called hub) */
    char owner[100];
    if (n == 0 || n >= sizeof owner)
        return false;
    memcpy(owner, source, n + 1);
    if (owner[n - 1] == '/')
        owner[--n] = '\0';
    return n > 0 && !strchr(owner, '/') && valid_owner(owner);
}

/* ---- the node table ----------------------------------------------------------------- */

static size_t key_slot(fuse_ino_t parent, const char *name)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)parent;
    for (const char *s = name; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h & (ns.hash_cap - 1);
}

struct ns_node *ns_node_get(fuse_ino_t ino)
{
    if (ino == 0 || ino > ns.n_nodes)
        return NULL;
    return ns.nodes[ino - 1];
}

/* Caller holds ns.lock. */
static struct ns_node *ns_child_find(fuse_ino_t parent, const char *name)
{
    for (struct ns_node *n = ns.hash[key_slot(parent, name)]; n; n = n->hash_next)
        if (n->parent == parent && strcmp(n->name, name) == 0)
            return n;
    return NULL;
}

/* The node (parent, name), made from *proto if new.  Caller holds ns.lock.
 * Nodes are never freed before unmount: there is one per name the kernel
 * was ever given, and their inode numbers must never be reused. */
static struct ns_node *node_add(fuse_ino_t parent, const char *name, const struct ns_node *proto)
{
    struct ns_node *n = ns_child_find(parent, name);
    if (n)
        return n;
    if (ns.n_nodes + 1 >= NS_SLOT_BASE)
        return NULL;
    if (ns.n_nodes == ns.cap_nodes) {
        size_t cap = ns.cap_nodes ? ns.cap_nodes * 2 : 256;
        struct ns_node **v = realloc(ns.nodes, cap * sizeof *v);
        if (!v)
            return NULL;
        ns.nodes = v;
        ns.cap_nodes = cap;
    }
    if (ns.n_nodes >= ns.hash_cap) { /* keep chains short: rehash at load 1 */
        size_t cap = ns.hash_cap * 2;
        struct ns_node **h = calloc(cap, sizeof *h);
        if (!h)
            return NULL;
        free(ns.hash);
        ns.hash = h;
        ns.hash_cap = cap;
        for (size_t i = 0; i < ns.n_nodes; i++) {
            struct ns_node *m = ns.nodes[i];
            size_t s = key_slot(m->parent, m->name);
            m->hash_next = h[s];
            h[s] = m;
        }
    }
    n = malloc(sizeof *n);
    if (!n)
        return NULL;
    *n = *proto;
    n->parent = parent;
    snprintf(n->name, sizeof n->name, "%s", name);
    n->ino = (fuse_ino_t)ns.n_nodes + 1;
    n->nlookup = 0;
    n->sub = NULL;
    n->opening = false;
    ns.nodes[ns.n_nodes++] = n;
    size_t s = key_slot(parent, name);
    n->hash_next = ns.hash[s];
    ns.hash[s] = n;
    return n;
}

/* ---- attributes ------------------------------------------------------------------------ */

static bool can_create_in(const char *owner)
{
    const struct mount_state *t = ns.tmpl;
    if (t->opt->ro || t->opt->offline || t->ident.anonymous)
        return false;
    char id[300];
    snprintf(id, sizeof id, "%s/x", owner);
    return hub_identity_can_write(&t->ident, id);
}

/* Caller holds ns.lock (reads n). */
static void node_stat(const struct ns_node *n, struct stat *st)
{
    const struct mount_state *t = ns.tmpl;
    mode_t perm = 0555;
    int64_t mtime = n->mtime ? n->mtime : ns_started;
    if (n->kind == NS_OWNER || (n->kind == NS_TYPE && !ns.hub_mode))
        perm = can_create_in(n->kind == NS_OWNER ? n->owner : ns.owner) ? 0755 : 0555;
    if (n->kind == NS_REPO) {
        if (!n->sub && n->was_open) {
            /* closed while idle: as it was when open, not as if never opened */
            perm = n->closed_perm;
            if (n->closed_date)
                mtime = n->closed_date;
        } else if (n->sub) {
            perm = ms_writable(&n->sub->ms) ? 0755 : 0555;
            int64_t date = 0;
            char commit[HUB_SHA1_HEX];
            ms_commit_get(&n->sub->ms, commit, &date);
            if (date)
                mtime = date;
        } else if (!n->src.revision[0] && !t->opt->ro && !t->ident.anonymous &&
                   hub_identity_can_write(&t->ident, n->src.repo_id)) {
            perm = 0755;
        }
    }
    memset(st, 0, sizeof *st);
    st->st_ino = n->ino;
    st->st_mode = S_IFDIR | perm;
    st->st_nlink = 2;
    st->st_uid = t->uid;
    st->st_gid = t->gid;
    st->st_blksize = 4096;
    st->st_mtim.tv_sec = mtime;
    st->st_ctim.tv_sec = mtime;
    st->st_atim.tv_sec = mtime;
}

/* How long the kernel may trust a name of this layer. */
static double node_timeout(const struct ns_node *n)
{
    return n->kind == NS_REPO || n->kind == NS_OWNER ? ns.ttl : 3600.0;
}

/* Adds one lookup and fills *e.  Caller holds ns.lock. */
static void node_entry(struct ns_node *n, struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    n->nlookup++;
    e->ino = n->ino;
    e->entry_timeout = node_timeout(n);
    e->attr_timeout = node_timeout(n);
    node_stat(n, &e->attr);
}

/* ---- forwarding to repo mounts ------------------------------------------------------- */

/* Which repo mount handles requests about `ino`: 1 and *sub for a repo
 * mount (opening a repo directory's mount when `open` says so), 0 for an
 * inode of this layer (*node set), or -errno.  *sub is held for the
 * request: FORWARD drops the hold, other paths call ns_sub_put. */
static int route(fuse_ino_t ino, bool open, struct ns_sub **sub, struct ns_node *node)
{
    *sub = NULL;
    if (ino >= NS_SLOT_BASE) {
        *sub = ns_sub_get(ino, true);
        return *sub ? 1 : -ESTALE;
    }
    pthread_mutex_lock(&ns.lock);
    struct ns_node *n = ns_node_get(ino);
    if (!n) {
        pthread_mutex_unlock(&ns.lock);
        return -ESTALE;
    }
    *node = *n;
    if (n->sub) {
        ns_sub_hold_locked(n->sub, true);
        *sub = n->sub;
    }
    pthread_mutex_unlock(&ns.lock);
    if (*sub)
        return 1;
    if (node->kind == NS_REPO && open) {
        int ret = ns_sub_open(ino, sub);
        return ret < 0 ? ret : 1;
    }
    return 0;
}

/* Runs one repo handler with that repo's mount_state as the request's,
 * then drops the request's hold on the repo mount (route, file_sub). */
#define FORWARD(sub, call)                                                                         \
    do {                                                                                           \
        hm_route_set(&(sub)->ms);                                                                  \
        call;                                                                                      \
        hm_route_set(NULL);                                                                        \
        ns_sub_put(sub);                                                                           \
    } while (0)

/* ---- lookup ------------------------------------------------------------------------------ */

/* repo[@rev] -> a source of `type` for `owner`; -ENOENT if not a valid one. */
static int repo_source(enum hub_repo_type type, const char *owner, const char *name,
                       struct hub_source *src)
{
    const char *at = strchr(name, '@');
    size_t base = at ? (size_t)(at - name) : strlen(name);
    char text[700];
    char *rev = NULL;
    int ret = -ENOENT;
    if (at) {
        int len = 0;
        rev = curl_easy_unescape(NULL, at + 1, 0, &len);
        if (!rev || len <= 0 || (size_t)len != strlen(rev) || strchr(rev, '@'))
            goto out;
    }
    const char *pre = type == HUB_REPO_DATASET ? "datasets/" : type == HUB_REPO_SPACE ? "spaces/" : "";
    int n = snprintf(text, sizeof text, "%s%s/%.*s%s%s", pre, owner, (int)base, name,
                     rev ? "@" : "", rev ? rev : "");
    if (n < 0 || (size_t)n >= sizeof text)
        goto out;
    if (hub_source_parse(text, src) == 0)
        ret = 0;
out:
    curl_free(rev);
    return ret;
}

static int lookup_repo(const struct ns_node *parent, enum hub_repo_type type, const char *owner,
                       const char *name, struct fuse_entry_param *e)
{
    struct ns_node proto;
    memset(&proto, 0, sizeof proto);
    pthread_mutex_lock(&ns.lock);
    struct ns_node *n = ns_child_find(parent->ino, name);
    /* A mount closed while idle resolved once: like an open one, no request. */
    if (n && (n->sub || n->listed || n->was_open)) {
        node_entry(n, e);
        pthread_mutex_unlock(&ns.lock);
        return 0;
    }
    pthread_mutex_unlock(&ns.lock);

    proto.kind = NS_REPO;
    proto.type = type;
    snprintf(proto.owner, sizeof proto.owner, "%s", owner);
    if (repo_source(type, owner, name, &proto.src) < 0)
        return -ENOENT;
    /* Listed: the listing says all a directory entry needs. */
    bool listed = false;
    if (!proto.src.revision[0]) {
        struct hub_repo_item item;
        if (ns_list_find(type, owner, name, &item) == 1) {
            listed = true;
            proto.listed = true;
            proto.mtime = item.last_modified;
            proto.is_private = item.is_private;
        }
    }
    pthread_mutex_lock(&ns.lock);
    n = node_add(parent->ino, name, &proto);
    fuse_ino_t ino = n ? n->ino : 0;
    if (n && listed)
        n->listed = true;
    pthread_mutex_unlock(&ns.lock);
    if (!n)
        return -ENOMEM;
    if (!listed) {
        /* Not listed (or name@rev): it exists if it opens. */
        struct ns_sub *sub;
        int ret = ns_sub_open(ino, &sub);
        if (ret < 0)
            return ret == -ENOENT || ret == -EACCES ? -ENOENT : ret;
        ns_sub_put(sub);
    }
    pthread_mutex_lock(&ns.lock);
    node_entry(n, e);
    pthread_mutex_unlock(&ns.lock);
    return 0;
}

static int lookup_here(const struct ns_node *parent, const char *name, struct fuse_entry_param *e)
{
    struct ns_node proto;
    memset(&proto, 0, sizeof proto);
    if (strlen(name) > NAME_MAX)
        return -ENAMETOOLONG;
    if (hm_noise_name(name))
        return -ENOENT;
    switch (parent->kind) {
    case NS_ROOT:
        for (size_t i = 0; i < 3; i++) {
            if (strcmp(name, type_dirs[i]) != 0)
                continue;
            proto.kind = NS_TYPE;
            proto.type = type_of_dir[i];
            break;
        }
        if (proto.kind != NS_TYPE)
            return -ENOENT;
        break;
    case NS_TYPE:
        if (!ns.hub_mode)
            return lookup_repo(parent, parent->type, ns.owner, name, e);
        /* Hub mount: any namespace resolves; listing it asks the Hub. */
        if (!valid_owner(name))
            return -ENOENT;
        proto.kind = NS_OWNER;
        proto.type = parent->type;
        snprintf(proto.owner, sizeof proto.owner, "%s", name);
        break;
    case NS_OWNER:
        return lookup_repo(parent, parent->type, parent->owner, name, e);
    case NS_REPO:
        return -EIO; /* routed to the repo mount, never here */
    }
    pthread_mutex_lock(&ns.lock);
    struct ns_node *n = node_add(parent->ino, name, &proto);
    if (n)
        node_entry(n, e);
    pthread_mutex_unlock(&ns.lock);
    return n ? 0 : -ENOMEM;
}

static void ns_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct ns_sub *sub;
    struct ns_node pn;
    struct fuse_entry_param e;
    int r = route(parent, true, &sub, &pn);
    if (r == 1) {
        FORWARD(sub, ns.inner.lookup(req, parent, name));
        return;
    }
    if (r == 0)
        r = lookup_here(&pn, name, &e);
    if (r == -ENOENT) {
        memset(&e, 0, sizeof e);
        e.entry_timeout = ns.ttl; /* the kernel keeps the absence */
        fuse_reply_entry(req, &e);
    } else if (r < 0) {
        fuse_reply_err(req, -r);
    } else {
        fuse_reply_entry(req, &e);
    }
}

static void ns_forget_one(fuse_ino_t ino, uint64_t nlookup)
{
    if (ino >= NS_SLOT_BASE) {
        /* A forget adds nothing: it does not restart the mount's idle time. */
        struct ns_sub *sub = ns_sub_get(ino, false);
        if (sub)
            node_forget(sub->ms.nodes, ino, nlookup);
        ns_sub_put(sub);
        return;
    }
    pthread_mutex_lock(&ns.lock);
    struct ns_node *n = ns_node_get(ino);
    if (n)
        n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
    pthread_mutex_unlock(&ns.lock);
}

static void ns_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    ns_forget_one(ino, nlookup);
    fuse_reply_none(req);
}

static void ns_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    for (size_t i = 0; i < count; i++)
        ns_forget_one(forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

static void ns_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct ns_sub *sub;
    struct ns_node n;
    int r = route(ino, false, &sub, &n);
    if (r == 1) {
        FORWARD(sub, ns.inner.getattr(req, ino, fi));
        return;
    }
    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    struct stat st;
    pthread_mutex_lock(&ns.lock);
    node_stat(&n, &st);
    pthread_mutex_unlock(&ns.lock);
    fuse_reply_attr(req, &st, node_timeout(&n));
}

/* ---- directories of this layer ---------------------------------------------------------------- */

struct ns_dir_fh {
    struct ns_dir_fh *prev, *next; /* open handles, freed at unmount if never released */
    char **names;
    struct hub_repo_item *items; /* repo attributes, or NULL */
    size_t n;
};

/* Handles the kernel never released (a signal ended the session). */
static struct ns_dir_fh *open_dirs; /* protected by ns.lock */

static void dir_track(struct ns_dir_fh *d, bool on)
{
    pthread_mutex_lock(&ns.lock);
    if (on) {
        d->prev = NULL;
        d->next = open_dirs;
        if (open_dirs)
            open_dirs->prev = d;
        open_dirs = d;
    } else {
        if (d->prev)
            d->prev->next = d->next;
        else if (open_dirs == d)
            open_dirs = d->next;
        if (d->next)
            d->next->prev = d->prev;
        d->prev = d->next = NULL;
    }
    pthread_mutex_unlock(&ns.lock);
}

static void dir_fh_free(struct ns_dir_fh *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->names[i]);
    free(d->names);
    free(d->items);
    free(d);
}

static int dir_add(struct ns_dir_fh *d, size_t cap, const char *name)
{
    if (d->n >= cap)
        return -EOVERFLOW;
    d->names[d->n] = strdup(name);
    if (!d->names[d->n])
        return -ENOMEM;
    d->n++;
    return 0;
}

static int dir_load(const struct ns_node *n, struct ns_dir_fh *d)
{
    const struct mount_state *t = ns.tmpl;
    int ret = 0;
    if (n->kind == NS_ROOT) {
        if (!(d->names = calloc(3, sizeof *d->names)))
            return -ENOMEM;
        for (size_t i = 0; i < 3 && ret == 0; i++)
            ret = dir_add(d, 3, type_dirs[i]);
        return ret;
    }
    if (n->kind == NS_TYPE && ns.hub_mode) {
        /* The Hub mount lists the user and their organisations. */
        size_t cap = t->ident.anonymous ? 0 : 1 + t->ident.n_orgs;
        if (cap && !(d->names = calloc(cap, sizeof *d->names)))
            return -ENOMEM;
        if (!t->ident.anonymous && t->ident.name[0])
            ret = dir_add(d, cap, t->ident.name);
        for (size_t i = 0; i < t->ident.n_orgs && ret == 0; i++)
            if (valid_owner(t->ident.orgs[i].name))
                ret = dir_add(d, cap, t->ident.orgs[i].name);
        return ret;
    }
    struct hub_repo_list list;
    ret = ns_list_get(n->type, n->kind == NS_OWNER ? n->owner : ns.owner, &list);
    if (ret < 0)
        return ret;
    if (list.n && (!(d->names = calloc(list.n, sizeof *d->names)) ||
                   !(d->items = calloc(list.n, sizeof *d->items))))
        ret = -ENOMEM;
    for (size_t i = 0; i < list.n && ret == 0; i++) {
        const char *slash = strchr(list.v[i].id, '/');
        d->items[d->n] = list.v[i];
        ret = dir_add(d, list.n, slash ? slash + 1 : list.v[i].id);
    }
    hub_repo_list_free(&list);
    return ret;
}

static void ns_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct ns_sub *sub;
    struct ns_node n;
    int r = route(ino, true, &sub, &n);
    if (r == 1) {
        FORWARD(sub, ns.inner.opendir(req, ino, fi));
        return;
    }
    struct ns_dir_fh *d = NULL;
    if (r == 0) {
        d = calloc(1, sizeof *d);
        r = d ? dir_load(&n, d) : -ENOMEM;
    }
    if (r < 0) {
        dir_fh_free(d);
        fuse_reply_err(req, -r);
        return;
    }
    fi->fh = (uintptr_t)d;
    dir_track(d, true);
    if (fuse_reply_open(req, fi) != 0) { /* interrupted: no releasedir will come */
        dir_track(d, false);
        dir_fh_free(d);
    }
}

/* The node of entry i of d (made from its listing item if new), with one
 * lookup added, into *e.  Caller holds ns.lock. */
static int dir_entry(fuse_ino_t dir, const struct ns_node *dn, const struct ns_dir_fh *d, size_t i,
                     struct fuse_entry_param *e)
{
    struct ns_node proto;
    memset(&proto, 0, sizeof proto);
    proto.type = dn->type;
    if (dn->kind == NS_ROOT) {
        proto.kind = NS_TYPE;
        proto.type = type_of_dir[i];
    } else if (dn->kind == NS_TYPE && ns.hub_mode) {
        proto.kind = NS_OWNER;
        snprintf(proto.owner, sizeof proto.owner, "%s", d->names[i]);
    } else {
        proto.kind = NS_REPO;
        snprintf(proto.owner, sizeof proto.owner, "%s", dn->kind == NS_OWNER ? dn->owner : ns.owner);
        if (repo_source(dn->type, proto.owner, d->names[i], &proto.src) < 0)
            return -ENOENT;
        proto.mtime = d->items[i].last_modified;
        proto.is_private = d->items[i].is_private;
        proto.listed = true;
    }
    struct ns_node *n = node_add(dir, d->names[i], &proto);
    if (!n)
        return -ENOMEM;
    if (proto.kind == NS_REPO && !n->listed) { /* looked up before, listed now */
        n->listed = true;
        n->mtime = proto.mtime;
        n->is_private = proto.is_private;
    }
    node_entry(n, e);
    return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi, bool plus)
{
    struct ns_sub *sub;
    struct ns_node dn;
    int r = route(ino, false, &sub, &dn);
    if (r == 1) {
        if (plus)
            FORWARD(sub, ns.inner.readdirplus(req, ino, size, off, fi));
        else
            FORWARD(sub, ns.inner.readdir(req, ino, size, off, fi));
        return;
    }
    struct ns_dir_fh *d = (struct ns_dir_fh *)(uintptr_t)fi->fh;
    if (r < 0 || !d || off < 0) {
        fuse_reply_err(req, r < 0 ? -r : EBADF);
        return;
    }
    char *buf = calloc(1, size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t pos = 0;
    for (uint64_t i = (uint64_t)off; i < d->n + 2; i++) {
        struct fuse_entry_param e;
        memset(&e, 0, sizeof e);
        const char *name = i == 0 ? "." : i == 1 ? ".." : d->names[i - 2];
        e.attr.st_mode = S_IFDIR;
        e.attr.st_ino = i == 0 ? ino : FUSE_ROOT_ID;
        size_t room = size - pos, need;
        if (i >= 2 && plus) {
            need = fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0);
            if (need > room)
                break;
            /* Only entries that fit get a lookup reference. */
            pthread_mutex_lock(&ns.lock);
            int er = dir_entry(ino, &dn, d, i - 2, &e);
            pthread_mutex_unlock(&ns.lock);
            if (er < 0)
                continue; /* a listed name we cannot mount: skip it */
        } else if (i >= 2) {
            /* d_ino is only a hint: a known node's, else a stable number
             * no node of this layer will have */
            pthread_mutex_lock(&ns.lock);
            struct ns_node *known = ns_child_find(ino, name);
            e.attr.st_ino = known ? known->ino : NS_SLOT_BASE - 1 - (fuse_ino_t)i;
            pthread_mutex_unlock(&ns.lock);
        }
        need = plus ? fuse_add_direntry_plus(req, buf + pos, room, name, &e, (off_t)(i + 1))
                    : fuse_add_direntry(req, buf + pos, room, name, &e.attr, (off_t)(i + 1));
        if (need > room)
            break;
        pos += need;
    }
    fuse_reply_buf(req, buf, pos);
    free(buf);
}

static void ns_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, false);
}

static void ns_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, true);
}

static void ns_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct ns_sub *sub;
    struct ns_node n;
    int r = route(ino, false, &sub, &n);
    if (r == 1) {
        FORWARD(sub, ns.inner.releasedir(req, ino, fi));
        return;
    }
    struct ns_dir_fh *d = (struct ns_dir_fh *)(uintptr_t)fi->fh;
    if (d)
        dir_track(d, false);
    dir_fh_free(d);
    fuse_reply_err(req, 0);
}

static void ns_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct ns_sub *sub;
    struct ns_node n;
    int r = route(ino, false, &sub, &n);
    if (r == 1 && ns.inner.fsyncdir) {
        FORWARD(sub, ns.inner.fsyncdir(req, ino, datasync, fi));
    } else {
        ns_sub_put(sub);
        fuse_reply_err(req, r < 0 ? -r : 0); /* nothing of this layer is ever pending */
    }
}

/* ---- repo creation and the things this layer refuses ------------------------------------------- */

static int mkdir_repo(const struct ns_node *parent, const char *name, struct fuse_entry_param *e)
{
    const struct mount_state *t = ns.tmpl;
    const char *owner = parent->kind == NS_OWNER ? parent->owner : ns.owner;
    if (hm_noise_name(name))
        return -EPERM;
    if (strchr(name, '@'))
        return -EINVAL; /* revisions are not made by mkdir */
    struct ns_node proto;
    memset(&proto, 0, sizeof proto);
    proto.kind = NS_REPO;
    proto.type = parent->type;
    snprintf(proto.owner, sizeof proto.owner, "%s", owner);
    if (repo_source(parent->type, owner, name, &proto.src) < 0)
        return -EINVAL;
    if (t->opt->ro)
        return -EROFS;
    if (!can_create_in(owner))
        return -EACCES;
    int ret = hub_create_repo(t->hub, parent->type, owner, name, true);
    if (ret < 0)
        return ret;
    hm_info("namespace: created private %s %s", hub_repo_type_plural(parent->type),
            proto.src.repo_id);
    struct hub_repo_item item;
    memset(&item, 0, sizeof item);
    snprintf(item.id, sizeof item.id, "%s", proto.src.repo_id);
    item.is_private = true;
    item.last_modified = (int64_t)time(NULL);
    ns_list_note(parent->type, owner, &item);
    proto.mtime = item.last_modified;
    proto.is_private = true;
    proto.listed = true;
    pthread_mutex_lock(&ns.lock);
    struct ns_node *n = node_add(parent->ino, name, &proto);
    if (n) {
        n->listed = true;
        node_entry(n, e);
    }
    pthread_mutex_unlock(&ns.lock);
    return n ? 0 : -ENOMEM;
}

static void ns_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct ns_sub *sub;
    struct ns_node pn;
    struct fuse_entry_param e;
    int r = route(parent, true, &sub, &pn);
    if (r == 1) {
        FORWARD(sub, ns.inner.mkdir(req, parent, name, mode));
        return;
    }
    if (r == 0) {
        bool repos_here = pn.kind == NS_OWNER || (pn.kind == NS_TYPE && !ns.hub_mode);
        r = repos_here ? mkdir_repo(&pn, name, &e) : -EPERM;
    }
    if (r < 0)
        fuse_reply_err(req, -r);
    else
        fuse_reply_entry(req, &e);
}

static void ns_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct ns_sub *sub;
    struct ns_node pn;
    int r = route(parent, true, &sub, &pn);
    if (r == 1)
        FORWARD(sub, ns.inner.rmdir(req, parent, name));
    else /* a repo is never deleted through the filesystem */
        fuse_reply_err(req, r < 0 ? -r : EPERM);
}

static void ns_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct ns_sub *sub;
    struct ns_node pn;
    int r = route(parent, true, &sub, &pn);
    if (r == 1)
        FORWARD(sub, ns.inner.unlink(req, parent, name));
    else
        fuse_reply_err(req, r < 0 ? -r : EPERM);
}

static void ns_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    struct ns_sub *sub;
    struct ns_node pn;
    int r = route(parent, true, &sub, &pn);
    if (r == 1)
        FORWARD(sub, ns.inner.create(req, parent, name, mode, fi));
    else /* only repo directories live here */
        fuse_reply_err(req, r < 0 ? -r : EPERM);
}

static void ns_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    struct ns_sub *sub;
    struct ns_node pn;
    int r = route(parent, true, &sub, &pn);
    if (r == 1)
        FORWARD(sub, ns.inner.mknod(req, parent, name, mode, rdev));
    else
        fuse_reply_err(req, r < 0 ? -r : EPERM);
}

static void ns_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    struct ns_sub *sub;
    struct ns_node pn;
    int r = route(parent, true, &sub, &pn);
    if (r == 1)
        FORWARD(sub, ns.inner.symlink(req, link, parent, name));
    else
        fuse_reply_err(req, r < 0 ? -r : EPERM);
}

static void ns_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    struct ns_sub *a, *b;
    struct ns_node an, bn;
    int r = route(ino, false, &a, &an);
    int r2 = route(newparent, true, &b, &bn);
    if (r == 1 && r2 == 1 && a == b) {
        FORWARD(a, ns.inner.link(req, ino, newparent, newname));
    } else {
        ns_sub_put(a);
        fuse_reply_err(req, r < 0 ? -r : r2 < 0 ? -r2 : (r == 1 && r2 == 1) ? EXDEV : EPERM);
    }
    ns_sub_put(b);
}

static void ns_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    struct ns_sub *a, *b;
    struct ns_node an, bn;
    b = NULL;
    int r = route(parent, true, &a, &an);
    int r2 = r == 1 ? route(newparent, true, &b, &bn) : r;
    if (r == 1 && r2 == 1 && a == b) {
        FORWARD(a, ns.inner.rename(req, parent, name, newparent, newname, flags));
    } else { /* repo directories do not move; files do not cross repos */
        ns_sub_put(a);
        fuse_reply_err(req, r < 0 ? -r : r2 < 0 ? -r2 : (r == 1 && r2 == 1) ? EXDEV : EPERM);
    }
    ns_sub_put(b);
}

/* ---- requests about one inode ------------------------------------------------------------------- */

static void ns_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    struct ns_sub *sub;
    struct ns_node n;
    int r = route(ino, true, &sub, &n);
    if (r == 1)
        FORWARD(sub, ns.inner.setattr(req, ino, attr, to_set, fi));
    else
        fuse_reply_err(req, r < 0 ? -r : EPERM);
}

static void ns_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct ns_sub *sub;
    struct ns_node n;
    int r = route(ino, false, &sub, &n);
    if (r == 1)
        FORWARD(sub, ns.inner.open(req, ino, fi));
    else
        fuse_reply_err(req, r < 0 ? -r : EISDIR);
}

/* Files exist only in repo mounts: these never see this layer's inodes. */
static struct ns_sub *file_sub(fuse_req_t req, fuse_ino_t ino)
{
    struct ns_sub *sub = ino >= NS_SLOT_BASE ? ns_sub_get(ino, true) : NULL;
    if (!sub)
        fuse_reply_err(req, EBADF);
    return sub;
}

static void ns_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    struct ns_sub *sub = file_sub(req, ino);
    if (sub)
        FORWARD(sub, ns.inner.read(req, ino, size, off, fi));
}

static void ns_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    struct ns_sub *sub = file_sub(req, ino);
    if (sub)
        FORWARD(sub, ns.inner.write(req, ino, buf, size, off, fi));
}

static void ns_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct ns_sub *sub = file_sub(req, ino);
    if (sub)
        FORWARD(sub, ns.inner.flush(req, ino, fi));
}

static void ns_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct ns_sub *sub = file_sub(req, ino);
    if (sub)
        FORWARD(sub, ns.inner.release(req, ino, fi));
}

static void ns_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct ns_sub *sub = file_sub(req, ino);
    if (sub)
        FORWARD(sub, ns.inner.fsync(req, ino, datasync, fi));
}

static void ns_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct ns_sub *sub;
    struct ns_node n;
    int r = route(ino, false, &sub, &n);
    if (r == 1)
        FORWARD(sub, ns.inner.statfs(req, ino));
    else
        ns.inner.statfs(req, ino); /* the session's own state answers */
}

#define XA_HUB "user.hub."
#define XA_MOUNTS "user.hub.mounts"

/* user.hub.mounts of the root: how many repo mounts are open, were
 * opened and were closed (tests and curious users watch idle closing). */
static void reply_mounts(fuse_req_t req, size_t size)
{
    char buf[256];
    if (ns_subs_stats(buf, sizeof buf) < 0) {
        fuse_reply_err(req, EIO);
        return;
    }
    hm_reply_xattr(req, buf, strlen(buf), size);
}

static void ns_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    /* ls -l asks security.* and system.* of every entry: no repo mount for that. */
    if (strncmp(name, XA_HUB, sizeof XA_HUB - 1) != 0) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    if (ino == FUSE_ROOT_ID && strcmp(name, XA_MOUNTS) == 0) {
        reply_mounts(req, size);
        return;
    }
    struct ns_sub *sub;
    struct ns_node n;
    int r = route(ino, true, &sub, &n);
    if (r == 1)
        FORWARD(sub, ns.inner.getxattr(req, ino, name, size));
    else
        fuse_reply_err(req, r < 0 ? -r : ENODATA);
}

static void ns_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct ns_sub *sub;
    struct ns_node n;
    /* A repo directory not opened yet lists nothing rather than open it
     * for `ls -l` (which lists the attributes of every entry). */
    int r = route(ino, false, &sub, &n);
    if (r == 1)
        FORWARD(sub, ns.inner.listxattr(req, ino, size));
    else if (r < 0)
        fuse_reply_err(req, -r);
    else if (size == 0)
        fuse_reply_xattr(req, 0);
    else
        fuse_reply_buf(req, NULL, 0);
}

/* ---- set-up ---------------------------------------------------------------------------------- */

static bool known_namespace(const struct hub_identity *id, const char *owner)
{
    if (id->anonymous)
        return false;
    if (strcasecmp(id->name, owner) == 0)
        return true;
    for (size_t i = 0; i < id->n_orgs; i++)
        if (strcasecmp(id->orgs[i].name, owner) == 0)
            return true;
    return false;
}

int hm_ns_connect(struct mount_state *tmpl, struct hm_options *opt, const char *source)
{
    memset(&ns, 0, sizeof ns);
    pthread_mutex_init(&ns.lock, NULL);
    pthread_cond_init(&ns.cv, NULL);
    pthread_condattr_t ca; /* the closer waits by the monotonic clock */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ns.closer_cv, &ca);
    pthread_condattr_destroy(&ca);
    ns.tmpl = tmpl;
    ns.hub_mode = strcmp(source, "hub") == 0;
    if (!ns.hub_mode) {
        snprintf(ns.owner, sizeof ns.owner, "%s", source);
        size_t n = strlen(ns.owner);
        if (n && ns.owner[n - 1] == '/')
            ns.owner[n - 1] = '\0';
    }
    ns.ttl = opt->poll > 0 ? opt->poll : 3600.0;
    ns_started = (int64_t)time(NULL);
    int code = ms_connect_hub(tmpl, opt);
    if (code != HM_EXIT_OK)
        return code;
    if (!ns.hub_mode && !opt->offline && !known_namespace(&tmpl->ident, ns.owner)) {
        /* Not the user nor one of their organisations: a namespace with
         * nothing visible is almost always a typo (or not a namespace). */
        int has = hub_namespace_has_repos(tmpl->hub, ns.owner);
        if (has == 0) {
            fprintf(stderr, "hubmount: namespace not found or without visible repos: %s\n",
                    ns.owner);
            return HM_EXIT_NO_REPO;
        }
        if (has < 0) {
            fprintf(stderr, "hubmount: cannot reach %s: %s\n", tmpl->endpoint, strerror(-has));
            return HM_EXIT_NETWORK;
        }
    }
    tmpl->read_only = opt->ro;
    tmpl->entry_timeout = ns.ttl;
    tmpl->attr_timeout = ns.ttl;
    ns.hash_cap = 256;
    ns.hash = calloc(ns.hash_cap, sizeof *ns.hash);
    struct ns_node root;
    memset(&root, 0, sizeof root);
    root.kind = NS_ROOT;
    pthread_mutex_lock(&ns.lock);
    struct ns_node *r = ns.hash ? node_add(0, "", &root) : NULL;
    pthread_mutex_unlock(&ns.lock);
    if (!r || r->ino != FUSE_ROOT_ID) {
        fprintf(stderr, "hubmount: out of memory\n");
        return HM_EXIT_USAGE;
    }
    if (ns.hub_mode)
        hm_info("mounting the Hub (%s)", tmpl->ident.anonymous ? "anonymous" : tmpl->ident.name);
    else
        hm_info("mounting namespace %s", ns.owner);
    return HM_EXIT_OK;
}

void hm_ns_wrap(struct fuse_lowlevel_ops *ops)
{
    ns.inner = *ops;
    struct fuse_lowlevel_ops o = *ops; /* init and anything not listed stay as they are */
    o.lookup = ns_lookup;
    o.forget = ns_forget;
    o.forget_multi = ns_forget_multi;
    o.getattr = ns_getattr;
    o.opendir = ns_opendir;
    o.readdir = ns_readdir;
    o.readdirplus = ns_readdirplus;
    o.releasedir = ns_releasedir;
    o.statfs = ns_statfs;
    o.getxattr = ns_getxattr;
    o.listxattr = ns_listxattr;
    o.open = ns_open;
    o.read = ns_read;
    o.release = ns_release;
    o.mkdir = ops->mkdir ? ns_mkdir : NULL;
    o.rmdir = ops->rmdir ? ns_rmdir : NULL;
    o.unlink = ops->unlink ? ns_unlink : NULL;
    o.create = ops->create ? ns_create : NULL;
    o.mknod = ops->mknod ? ns_mknod : NULL;
    o.symlink = ops->symlink ? ns_symlink : NULL;
    o.link = ops->link ? ns_link : NULL;
    o.rename = ops->rename ? ns_rename : NULL;
    o.setattr = ops->setattr ? ns_setattr : NULL;
    o.write = ops->write ? ns_write : NULL;
    o.flush = ops->flush ? ns_flush : NULL;
    o.fsync = ops->fsync ? ns_fsync : NULL;
    o.fsyncdir = ns_fsyncdir;
    /* Handlers this layer does not know about would get inodes of other
     * tables: leave them out rather than misroute them. */
    o.write_buf = NULL;
    o.fallocate = NULL;
    o.copy_file_range = NULL;
    o.lseek = NULL;
    o.setxattr = NULL;
    o.removexattr = NULL;
    o.access = NULL;
    o.readlink = NULL;
    o.ioctl = NULL;
    o.poll = NULL;
    o.getlk = NULL;
    o.setlk = NULL;
    o.flock = NULL;
    o.bmap = NULL;
    o.retrieve_reply = NULL;
    *ops = o;
}

void hm_ns_session_end(void)
{
    if (ns.tmpl)
        ns_subs_session_end();
}

int hm_ns_free(void)
{
    if (!ns.tmpl)
        return 0;
    int ret = ns_subs_free();
    if (ret == -ETIMEDOUT)
        return ret; /* uploads still run on the repo mounts: leave them */
    ns_list_free_all();
    while (open_dirs) {
        struct ns_dir_fh *d = open_dirs;
        open_dirs = d->next;
        dir_fh_free(d);
    }
    for (size_t i = 0; i < ns.n_nodes; i++)
        free(ns.nodes[i]);
    free(ns.nodes);
    free(ns.hash);
    pthread_cond_destroy(&ns.closer_cv);
    pthread_cond_destroy(&ns.cv);
    pthread_mutex_destroy(&ns.lock);
    ns.tmpl = NULL;
    return ret;
}
