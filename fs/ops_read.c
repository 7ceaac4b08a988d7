/* ops_read.c — the read-side FUSE handlers: lookup, getattr, readdir(plus),
 * open/read/release, statfs and the user.hub.* extended attributes.
 *
 * Metadata comes from the commit's tree (fs/tree.c: SQLite, then the Hub);
 * content from fs/reader.c.  Nothing here writes: opens that want to write
 * are refused (EROFS/EACCES) or handed to the write path's hook. */
#include "ops.h"

#include "log.h"
#include "meta.h"
#include "mount_state.h"
#include "reader.h"
#include "status.h"
#include "tree.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

/* st_blksize: stdio and Python buffer this much per read; 128 KiB keeps a
 * small read small while cp/cat (which use at least 128 KiB) stay fast. */
#define HM_BLKSIZE (128 * 1024)

/* Handles still open when the session ends (a signal stopped the loop with
 * files open) are freed by hm_ops_read_cleanup(). */
struct tracked {
    struct tracked *prev, *next;
    void (*free)(struct tracked *t);
};
static pthread_mutex_t open_fhs_lock = PTHREAD_MUTEX_INITIALIZER; /* protects open_fhs */
static struct tracked *open_fhs;

static void fh_track(struct tracked *t, void (*free_fn)(struct tracked *))
{
    pthread_mutex_lock(&open_fhs_lock);
    t->free = free_fn;
    t->prev = NULL;
    t->next = open_fhs;
    if (open_fhs)
        open_fhs->prev = t;
    open_fhs = t;
    pthread_mutex_unlock(&open_fhs_lock);
}

static void fh_untrack(struct tracked *t)
{
    pthread_mutex_lock(&open_fhs_lock);
    if (t->prev)
        t->prev->next = t->next;
    else if (open_fhs == t)
        open_fhs = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
    pthread_mutex_unlock(&open_fhs_lock);
}

void hm_ops_read_cleanup(void)
{
    pthread_mutex_lock(&open_fhs_lock);
    while (open_fhs) {
        struct tracked *t = open_fhs;
        open_fhs = t->next;
        t->free(t);
    }
    pthread_mutex_unlock(&open_fhs_lock);
}

struct hm_read_fh {
    struct hm_fh base; /* kind HM_FH_READ */
    struct tracked tr;
    struct reader_file *rf;
};

static void read_fh_free(struct tracked *t)
{
    struct hm_read_fh *fh = (struct hm_read_fh *)((char *)t - offsetof(struct hm_read_fh, tr));
    reader_file_free(fh->rf);
    free(fh);
}

struct dir_item {
    char *name;
    bool local;
    struct hub_entry e; /* remote: e.path = NULL */
    struct node_local l;
};

struct hm_dir_fh {
    struct hm_fh base; /* kind HM_FH_DIR */
    struct tracked tr;
    char *path;
    char commit[HUB_SHA1_HEX];
    struct dir_item *v;
    size_t n, cap;
};

static struct mount_state *MS(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* The Hub client answers -ENETDOWN for every request of an offline mount
 * (-o offline, HF_HUB_OFFLINE=1).  What the caches cannot answer offline is
 * missing for a name (ENOENT) and unreadable for content (EIO). */
static int offline_errno(int ret, int instead)
{
    return ret == -ENETDOWN ? -instead : ret;
}

/* ---- attributes ------------------------------------------------------------ */

void hm_stat_fill(struct mount_state *ms, const struct node_info *ni, struct stat *st)
{
    char commit[HUB_SHA1_HEX];
    int64_t date;
    ms_commit_get(ms, commit, &date);
    bool w = ms_writable(ms);
    bool dir = ni->is_dir;
    uint64_t size = 0;
    int64_t mtime = date;
    mode_t perm = dir ? (w ? 0755 : 0555) : (w ? 0644 : 0444);
    if (ni->kind == NODE_LOCAL) {
        size = dir ? 0 : ni->local.size;
        if (ni->local.mtime)
            mtime = ni->local.mtime;
        if (ni->local.perm)
            perm = ni->local.perm & 07777;
    } else {
        size = dir ? 0 : ni->entry.size;
        if (ni->entry.mtime)
            mtime = ni->entry.mtime;
        if (ms->hooks.attrs && ni->path)
            ms->hooks.attrs(ms->hooks.ctx, ni->path, &perm, &mtime);
    }
    memset(st, 0, sizeof *st);
    st->st_ino = ni->ino;
    st->st_mode = (dir ? S_IFDIR : S_IFREG) | perm;
    st->st_nlink = dir ? 2 : 1;
    st->st_uid = ms->uid;
    st->st_gid = ms->gid;
    st->st_size = (off_t)size;
    st->st_blksize = HM_BLKSIZE;
    st->st_blocks = (blkcnt_t)((size + 511) / 512);
    st->st_mtim.tv_sec = mtime;
    st->st_ctim.tv_sec = mtime;
    st->st_atim.tv_sec = mtime;
}

int hm_entry_fill(struct mount_state *ms, fuse_ino_t ino, struct fuse_entry_param *e)
{
    struct node_info ni;
    int ret = node_get(ms->nodes, ino, &ni);
    if (ret < 0)
        return ret;
    memset(e, 0, sizeof *e);
    e->ino = ino;
    e->generation = 0;
    e->entry_timeout = ms->entry_timeout;
    e->attr_timeout = ms->attr_timeout;
    hm_stat_fill(ms, &ni, &e->attr);
    node_info_clear(&ni);
    return 0;
}

/* ---- lookup ------------------------------------------------------------------ */

int hm_lookup_path(struct mount_state *ms, const char *path, struct fuse_entry_param *e)
{
    fuse_ino_t ino = 0;
    int ret;
    memset(e, 0, sizeof *e);
    /* what we read below may be outdated by a write path switch meanwhile */
    uint64_t since = node_stamp(ms->nodes);
    if (ms->hooks.lookup) {
        struct node_local l;
        ret = ms->hooks.lookup(ms->hooks.ctx, path, &l);
        if (ret == 0) {
            ret = node_ref_local_since(ms->nodes, path, &l, 1, since, &ino);
            goto found;
        }
        if (ret != -EAGAIN)
            goto miss;
    }
    char commit[HUB_SHA1_HEX];
    ms_commit_get(ms, commit, NULL);
    struct hub_entry ent;
    ret = tree_entry(ms, commit, path, &ent);
    if (ret < 0)
        goto miss;
    ret = node_ref_remote_since(ms->nodes, path, &ent, commit, 1, since, &ino);
    meta_entry_clear(&ent);
found:
    if (ret < 0)
        return ret;
    ret = hm_entry_fill(ms, ino, e);
    if (ret < 0)
        node_forget(ms->nodes, ino, 1);
    return ret;
miss:
    if (ret == -ENOTDIR)
        ret = -ENOENT;
    ret = offline_errno(ret, ENOENT);
    if (ret == -ENOENT) {
        e->ino = 0; /* negative entry: the kernel caches the absence */
        e->entry_timeout = ms->entry_timeout;
    }
    return ret;
}

static void hm_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct mount_state *ms = MS(req);
    struct node_info pi;
    struct fuse_entry_param e;
    int ret = node_get(ms->nodes, parent, &pi);
    if (ret < 0) {
        fuse_reply_err(req, -ret);
        return;
    }
    char *path = NULL;
    if (!pi.is_dir) {
        ret = -ENOTDIR;
        goto out;
    }
    if (strlen(name) > NAME_MAX) {
        ret = -ENAMETOOLONG;
        goto out;
    }
    path = node_path_join(pi.path, name);
    if (!path) {
        ret = -ENOMEM;
        goto out;
    }
    ret = hm_lookup_path(ms, path, &e);
out:
    free(path);
    node_info_clear(&pi);
    if (ret == 0 || (ret == -ENOENT && e.entry_timeout > 0))
        fuse_reply_entry(req, &e);
    else
        fuse_reply_err(req, -ret);
}

static void hm_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    node_forget(MS(req)->nodes, ino, nlookup);
    fuse_reply_none(req);
}

static void hm_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    struct mount_state *ms = MS(req);
    for (size_t i = 0; i < count; i++)
        node_forget(ms->nodes, forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

static void hm_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct mount_state *ms = MS(req);
    struct node_info ni;
    (void)fi;
    /* A node's content never changes (new content = new node), so its
     * attributes need no Hub request. */
    uint64_t since = node_stamp(ms->nodes);
    int ret = node_get(ms->nodes, ino, &ni);
    if (ret < 0) {
        fuse_reply_err(req, -ret);
        return;
    }
    /* A local node's attributes follow writes: ask the write path for them
     * now.  The node may hold an older answer (a lookup or READDIRPLUS that
     * read them before a write and stored them after it), and the kernel
     * takes a getattr reply as the file's size.  Not for an unhashed node
     * (unlinked, or replaced by a rename): its path names another file now,
     * and writes through its open handles keep the node's own copy current. */
    if (ni.kind == NODE_LOCAL && ni.hashed && ms->hooks.lookup && ni.path) {
        struct node_local fresh;
        if (ms->hooks.lookup(ms->hooks.ctx, ni.path, &fresh) == 0 &&
            fresh.is_dir == ni.is_dir) {
            ni.local = fresh;
            /* not if our commit made it remote meanwhile: a directory made
             * here, set back to local after the rows it listed were
             * committed, would list nothing until the kernel forgot it */
            (void)node_set_local_since(ms->nodes, ino, &fresh, since);
        }
    }
    struct stat st;
    hm_stat_fill(ms, &ni, &st);
    node_info_clear(&ni);
    fuse_reply_attr(req, &st, ms->attr_timeout);
}

/* ---- directories ------------------------------------------------------------------ */

static void dir_fh_free(struct hm_dir_fh *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].name);
    free(d->v);
    free(d->path);
    free(d);
}

static void dir_fh_free_tracked(struct tracked *t)
{
    dir_fh_free((struct hm_dir_fh *)((char *)t - offsetof(struct hm_dir_fh, tr)));
}

static struct dir_item *dir_find(struct hm_dir_fh *d, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].name, name) == 0)
            return &d->v[i];
    return NULL;
}

static int dir_push(struct hm_dir_fh *d, const char *name, struct dir_item **out)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 32;
        struct dir_item *v = realloc(d->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        d->v = v;
        d->cap = cap;
    }
    struct dir_item *it = &d->v[d->n];
    memset(it, 0, sizeof *it);
    it->name = strdup(name);
    if (!it->name)
        return -ENOMEM;
    d->n++;
    *out = it;
    return 0;
}

/* Overlay callback: local entries replace remote ones, NULL hides them. */
static int dir_add_local(void *arg, const char *name, const struct node_local *l)
{
    struct hm_dir_fh *d = arg;
    struct dir_item *it = dir_find(d, name);
    if (!l) {
        if (it) {
            free(it->name);
            *it = d->v[--d->n];
        }
        return 0;
    }
    if (!it) {
        int ret = dir_push(d, name, &it);
        if (ret < 0)
            return ret;
    }
    it->local = true;
    it->l = *l;
    return 0;
}

static void dir_items_clear(struct hm_dir_fh *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].name);
    d->n = 0;
}

static int dir_load_once(struct mount_state *ms, const struct node_info *ni,
                         struct hm_dir_fh *d)
{
    int ret = 0;
    ms_commit_get(ms, d->commit, NULL);
    bool remote = ni->kind == NODE_REMOTE, was_local = false;
    if (!remote && ms->hooks.lookup) {
        /* A directory made here stays a local node after the commit that
         * put files in it when the commit worker could not read the new
         * commit's entries (paths-info failed for good); the write path
         * no longer calls it local then, and its files are the commit's. */
        struct node_local l;
        remote = was_local = ms->hooks.lookup(ms->hooks.ctx, ni->path, &l) == -EAGAIN;
    }
    if (remote) {
        struct hub_entries list;
        ret = tree_list(ms, d->commit, ni->path, &list);
        if (ret == 0) {
            for (size_t i = 0; i < list.n && ret == 0; i++) {
                struct dir_item *it;
                const char *name = tree_basename(list.v[i].path);
                if (!name[0])
                    continue;
                ret = dir_push(d, name, &it);
                if (ret == 0) {
                    it->e = list.v[i];
                    it->e.path = NULL;
                }
            }
            hub_entries_free(&list);
        } else if ((ret == -ENOENT || was_local) && ms->hooks.list) {
            ret = 0; /* may still exist locally (a local node lists as before) */
        }
    }
    if (ret == 0 && ms->hooks.list)
        ret = ms->hooks.list(ms->hooks.ctx, ni->path, dir_add_local, d);
    return ret;
}

/* The remote listing is of the commit read first, the local changes are
 * read after it.  A commit of ours landing in between switches the mount
 * to the new commit, turns directories made here into remote nodes, and
 * then drops the pending rows it carried: the old commit's tree (or, for a
 * directory still seen as local, no tree at all) with the new pending set
 * would show a file deleted here as present again and miss a file created
 * here.  So list again, with the node read afresh, when the commit moved
 * or this directory's node changed kind meanwhile (other nodes switch at
 * every write: they don't matter here); after a few moves (a busy branch
 * polled often) the last listing is as good as any. */
static int dir_load(struct mount_state *ms, fuse_ino_t ino, struct hm_dir_fh *d)
{
    for (int tries = 0;; tries++) {
        struct node_info ni;
        int ret = node_get(ms->nodes, ino, &ni);
        if (ret < 0)
            return ret;
        dir_items_clear(d);
        ret = dir_load_once(ms, &ni, d);
        enum node_kind kind = ni.kind;
        node_info_clear(&ni);
        if (ret < 0 || tries == 4)
            return ret;
        char now[HUB_SHA1_HEX];
        ms_commit_get(ms, now, NULL);
        bool moved = strcmp(now, d->commit) != 0;
        if (!moved) {
            int gr = node_get(ms->nodes, ino, &ni);
            moved = gr < 0 || ni.kind != kind;
            node_info_clear(&ni);
        }
        if (!moved)
            return 0;
    }
}

static void hm_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct mount_state *ms = MS(req);
    struct node_info ni;
    struct hm_dir_fh *d = NULL;
    int ret = node_get(ms->nodes, ino, &ni);
    if (ret < 0) {
        fuse_reply_err(req, -ret);
        return;
    }
    if (!ni.is_dir) {
        ret = -ENOTDIR;
        goto out;
    }
    d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(ni.path))) {
        ret = -ENOMEM;
        goto out;
    }
    d->base.kind = HM_FH_DIR;
    d->base.ino = ino;
    ret = offline_errno(dir_load(ms, ino, d), EIO);
    if (ret < 0)
        goto out;
    ret = node_open(ms->nodes, ino);
    if (ret < 0)
        goto out;
    fi->fh = (uintptr_t)d;
    /* A mount that cannot write changes its listings only when the branch
     * moves, and the poller then invalidates each changed directory: let
     * the kernel keep listings across opens.  Warm `ls -lR` then asks us
     * nothing per directory, and (no READDIRPLUS refreshing every entry)
     * the kernel keeps its cached "no ACL" answers too.  The write path's
     * overlay can change listings without the kernel knowing, so writable
     * mounts list afresh at every open. */
    if (!ms_writable(ms)) {
        fi->cache_readdir = 1;
        fi->keep_cache = 1;
    }
    fh_track(&d->tr, dir_fh_free_tracked);
    if (fuse_reply_open(req, fi) != 0) { /* interrupted: no releasedir will come */
        fh_untrack(&d->tr);
        node_close(ms->nodes, ino);
        dir_fh_free(d);
    }
    node_info_clear(&ni);
    return;
out:
    dir_fh_free(d);
    node_info_clear(&ni);
    fuse_reply_err(req, -ret);
}

/* d_ino for plain readdir: the node's inode if the kernel knows one, else
 * a stable value outside the counter's range (0 would mean "deleted"). */
static fuse_ino_t dir_ino_hint(struct mount_state *ms, const char *path)
{
    fuse_ino_t ino = node_find(ms->nodes, path);
    if (ino)
        return ino;
    uint64_t h = 1469598103934665603ull;
    for (const char *s = path; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (fuse_ino_t)(h | (1ull << 63));
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi, bool plus)
{
    struct mount_state *ms = MS(req);
    struct hm_dir_fh *d = (struct hm_dir_fh *)(uintptr_t)fi->fh;
    if (!d || d->base.kind != HM_FH_DIR) {
        fuse_reply_err(req, EBADF);
        return;
    }
    char *buf = calloc(1, size);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    size_t pos = 0;
    int err = 0;
    /* Remote entries read at an older commit than the mount shows now
     * (a commit or a poll landed since opendir) may be outdated: they go
     * without attributes, and the kernel looks each up when it needs it. */
    char cur[HUB_SHA1_HEX];
    ms_commit_get(ms, cur, NULL);
    bool old_commit = strcmp(cur, d->commit) != 0;
    for (uint64_t i = (uint64_t)off; i < d->n + 2; i++) {
        const char *name;
        struct fuse_entry_param e;
        memset(&e, 0, sizeof e);
        char *path = NULL;
        if (i < 2) {
            name = i == 0 ? "." : "..";
            e.attr.st_ino = i == 0 ? ino : FUSE_ROOT_ID;
            e.attr.st_mode = S_IFDIR;
        } else {
            struct dir_item *it = &d->v[i - 2];
            name = it->name;
            path = node_path_join(d->path, name);
            if (!path) {
                err = ENOMEM;
                break;
            }
            e.attr.st_mode = (it->local ? it->l.is_dir : it->e.is_dir) ? S_IFDIR : S_IFREG;
            e.attr.st_ino = dir_ino_hint(ms, path);
        }
        size_t room = size - pos;
        size_t need;
        if (!plus) {
            need = fuse_add_direntry(req, buf + pos, room, name, &e.attr, (off_t)(i + 1));
        } else {
            need = fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0);
            struct dir_item *it = path ? &d->v[i - 2] : NULL;
            /* The listing was read at opendir; a file written since then
             * has other attributes, and the kernel takes READDIRPLUS
             * attributes as the file's size: ask the write path again now.
             * An entry whose local state went away since (committed,
             * deleted) is sent without attributes: the kernel looks it up. */
            bool attrs = true;
            uint64_t since = node_stamp(ms->nodes);
            if (it && need <= room && ms->hooks.lookup) {
                struct node_local fresh;
                int hr = ms->hooks.lookup(ms->hooks.ctx, path, &fresh);
                if (hr == 0) {
                    it->local = true;
                    it->l = fresh;
                } else if (hr != -EAGAIN || it->local) {
                    attrs = false;
                }
            }
            if (it && !it->local && old_commit)
                attrs = false;
            if (need <= room && it && attrs) {
                /* Only entries that fit get a lookup reference. */
                fuse_ino_t cino = 0;
                int r = it->local ? node_ref_local_since(ms->nodes, path, &it->l, 1, since,
                                                         &cino)
                                  : node_ref_remote_since(ms->nodes, path, &it->e, d->commit, 1,
                                                          since, &cino);
                if (r == 0 && hm_entry_fill(ms, cino, &e) < 0) {
                    node_forget(ms->nodes, cino, 1);
                    r = -ESTALE;
                }
                if (r < 0) {
                    free(path);
                    err = -r;
                    break;
                }
            }
            if (need <= room)
                need = fuse_add_direntry_plus(req, buf + pos, room, name, &e, (off_t)(i + 1));
        }
        free(path);
        if (need > room)
            break;
        pos += need;
    }
    if (err && pos == 0)
        fuse_reply_err(req, err);
    else
        fuse_reply_buf(req, buf, pos);
    free(buf);
}

static void hm_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, false);
}

static void hm_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, true);
}

static void hm_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct hm_dir_fh *d = (struct hm_dir_fh *)(uintptr_t)fi->fh;
    if (d)
        fh_untrack(&d->tr);
    dir_fh_free(d);
    node_close(MS(req)->nodes, ino);
    fuse_reply_err(req, 0);
}

/* ---- files ------------------------------------------------------------------------ */

static bool wants_write(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/* In a gated repo, content needs a grant the metadata calls cannot reveal:
 * probe one byte so open(2) fails with EACCES instead of the first read.
 * Once a probe succeeded the answer is kept for the mount. */
static int gated_check(struct mount_state *ms, const struct node_info *ni)
{
    if (!ms->gated || ni->entry.size == 0)
        return 0;
    pthread_mutex_lock(&ms->commit_lock);
    bool ok = ms->content_ok;
    pthread_mutex_unlock(&ms->commit_lock);
    if (ok)
        return 0;
    char byte;
    ssize_t n = hub_read_range(ms->hub, &ms->src, ni->commit, ni->path, 0, &byte, 1);
    if (n < 0)
        return (int)n;
    pthread_mutex_lock(&ms->commit_lock);
    ms->content_ok = true;
    pthread_mutex_unlock(&ms->commit_lock);
    return 0;
}

static void hm_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct mount_state *ms = MS(req);
    struct node_info ni;
    struct hm_read_fh *fh = NULL;
    int ret = node_get(ms->nodes, ino, &ni);
    if (ret < 0) {
        fuse_reply_err(req, -ret);
        return;
    }
    if (ni.is_dir) {
        ret = -EISDIR;
        goto out;
    }
    if (wants_write(fi->flags)) {
        int e = ms_write_errno(ms);
        if (e) {
            ret = -e;
            goto out;
        }
    }
    if (wants_write(fi->flags) || ni.kind == NODE_LOCAL) {
        if (!ms->hooks.open) {
            ret = -EROFS; /* no write path in this build */
            goto out;
        }
        ms->hooks.open(ms->hooks.ctx, req, &ni, fi);
        node_info_clear(&ni);
        return;
    }
    ret = offline_errno(gated_check(ms, &ni), EIO);
    if (ret < 0)
        goto out;
    fh = calloc(1, sizeof *fh);
    if (!fh) {
        ret = -ENOMEM;
        goto out;
    }
    fh->base.kind = HM_FH_READ;
    fh->base.ino = ino;
    ret = reader_file_new(ms->reader, ni.path, ni.commit, &ni.entry, &fh->rf);
    if (ret < 0)
        goto out;
    ret = node_open(ms->nodes, ino);
    if (ret < 0)
        goto out;
    fi->fh = (uintptr_t)fh;
    /* The inode's content is immutable (new content = new inode), so its
     * page cache stays valid across opens once the content is known good;
     * before that, an open drops it, so pages of bytes that failed
     * verification (EIO, evicted) are never served again. */
    fi->keep_cache = reader_file_known_good(fh->rf) || ni.entry.size == 0;
    fh_track(&fh->tr, read_fh_free);
    if (fuse_reply_open(req, fi) != 0) {
        fh_untrack(&fh->tr);
        node_close(ms->nodes, ino);
        reader_file_free(fh->rf);
        free(fh);
    }
    node_info_clear(&ni);
    return;
out:
    if (fh)
        reader_file_free(fh->rf);
    free(fh);
    node_info_clear(&ni);
    fuse_reply_err(req, -ret);
}

static void hm_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    struct mount_state *ms = MS(req);
    struct hm_fh *base = (struct hm_fh *)(uintptr_t)fi->fh;
    (void)ino;
    if (!base) {
        fuse_reply_err(req, EBADF);
        return;
    }
    if (base->kind == HM_FH_WRITE && ms->hooks.read) {
        ms->hooks.read(ms->hooks.ctx, req, base, size, off);
        return;
    }
    if (base->kind != HM_FH_READ || off < 0) {
        fuse_reply_err(req, EBADF);
        return;
    }
    struct hm_read_fh *fh = (struct hm_read_fh *)base;
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    ssize_t n = reader_read(fh->rf, (uint64_t)off, size, buf);
    if (n < 0)
        fuse_reply_err(req, -offline_errno((int)n, EIO));
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

static void hm_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct mount_state *ms = MS(req);
    struct hm_fh *base = (struct hm_fh *)(uintptr_t)fi->fh;
    if (base && base->kind == HM_FH_WRITE && ms->hooks.release) {
        ms->hooks.release(ms->hooks.ctx, req, base);
        return;
    }
    if (base && base->kind == HM_FH_READ) {
        struct hm_read_fh *fh = (struct hm_read_fh *)base;
        fh_untrack(&fh->tr);
        reader_file_free(fh->rf);
        free(fh);
        node_close(ms->nodes, ino);
    }
    fuse_reply_err(req, 0);
}

/* ---- statfs ------------------------------------------------------------------------- */

static void hm_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct mount_state *ms = MS(req);
    struct statvfs sv;
    (void)ino;
    memset(&sv, 0, sizeof sv);
    /* The Hub has no meaningful free space; report plenty so that tools
     * checking df before copying (and file managers) go ahead. */
    const unsigned long bsize = 4096;
    const fsblkcnt_t blocks = (fsblkcnt_t)(1ull << 50) / bsize; /* 1 PiB */
    sv.f_bsize = bsize;
    sv.f_frsize = bsize;
    sv.f_blocks = blocks;
    sv.f_bfree = blocks;
    sv.f_bavail = blocks;
    sv.f_files = 1u << 30;
    sv.f_ffree = (1u << 30) - node_count(ms->nodes);
    sv.f_favail = sv.f_ffree;
    sv.f_namemax = NAME_MAX;
    fuse_reply_statfs(req, &sv);
}

/* ---- extended attributes ------------------------------------------------------------ */

#define XA_PREFIX "user.hub."

/* {endpoint}/{prefix}{id}/blob|tree/{commit}/{escaped path} */
static int web_url(struct mount_state *ms, const struct node_info *ni, const char *commit,
                   char *out, size_t cap)
{
    const char *pre = ms->src.type == HUB_REPO_DATASET ? "datasets/"
                      : ms->src.type == HUB_REPO_SPACE ? "spaces/"
                                                       : "";
    int n = snprintf(out, cap, "%s/%s%s/%s/%s", ms->endpoint, pre, ms->src.repo_id,
                     ni->is_dir ? "tree" : "blob", commit);
    if (n < 0 || (size_t)n >= cap)
        return -ERANGE;
    size_t len = (size_t)n;
    const char *p = ni->path;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t seg = slash ? (size_t)(slash - p) : strlen(p);
        char *esc = curl_easy_escape(NULL, p, (int)seg);
        if (!esc)
            return -ENOMEM;
        n = snprintf(out + len, cap - len, "/%s", esc);
        curl_free(esc);
        if (n < 0 || (size_t)n >= cap - len)
            return -ERANGE;
        len += (size_t)n;
        p += seg;
        if (*p == '/')
            p++;
    }
    return 0;
}

/* Value of one user.hub.* attribute into out; -ENODATA if it has none. */
static int xattr_value(struct mount_state *ms, const struct node_info *ni, const char *attr,
                       char *out, size_t cap)
{
    if (ni->kind != NODE_REMOTE)
        return -ENODATA;
    char commit[HUB_SHA1_HEX];
    if (ni->commit[0])
        snprintf(commit, sizeof commit, "%s", ni->commit);
    else
        ms_commit_get(ms, commit, NULL);
    int n;
    if (strcmp(attr, "oid") == 0) {
        if (!ni->entry.oid[0])
            return -ENODATA;
        n = snprintf(out, cap, "%s", ni->entry.oid);
    } else if (strcmp(attr, "sha256") == 0) {
        if (ni->is_dir || !ni->entry.is_lfs || !ni->entry.sha256[0])
            return -ENODATA;
        n = snprintf(out, cap, "%s", ni->entry.sha256);
    } else if (strcmp(attr, "size") == 0) {
        if (ni->is_dir)
            return -ENODATA;
        n = snprintf(out, cap, "%" PRIu64, ni->entry.size);
    } else if (strcmp(attr, "commit") == 0) {
        n = snprintf(out, cap, "%s", commit);
    } else if (strcmp(attr, "url") == 0) {
        return web_url(ms, ni, commit, out, cap);
    } else {
        return -ENODATA;
    }
    return n < 0 || (size_t)n >= cap ? -ERANGE : 0;
}

static void hm_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    struct mount_state *ms = MS(req);
    /* security.*, system.* (ACLs), trusted.*: none, and say so at once. */
    if (strncmp(name, XA_PREFIX, sizeof XA_PREFIX - 1) != 0) {
        fuse_reply_err(req, ENODATA);
        return;
    }
    struct node_info ni;
    int ret = node_get(ms->nodes, ino, &ni);
    if (ret < 0) {
        fuse_reply_err(req, -ret);
        return;
    }
    char val[4096];
    bool status_json = strcmp(name, XA_PREFIX "status.json") == 0;
    bool status = status_json || strcmp(name, XA_PREFIX "status") == 0;
    if ((status || strcmp(name, XA_PREFIX "sync") == 0) &&
        ms->hooks.status) /* hubmount status / sync (fs/cli.c) */
        ret = ms->hooks.status(ms->hooks.ctx, name + sizeof XA_PREFIX - 1, val, sizeof val);
    else if (status) /* a mount without a commit worker: what it shows */
        ret = hm_status_format(ms, NULL, status_json, val, sizeof val);
    else
        ret = xattr_value(ms, &ni, name + sizeof XA_PREFIX - 1, val, sizeof val);
    node_info_clear(&ni);
    if (ret < 0) {
        fuse_reply_err(req, -ret);
        return;
    }
    hm_reply_xattr(req, val, strlen(val), size);
}

void hm_reply_xattr(fuse_req_t req, const void *val, size_t len, size_t size)
{
    if (size == 0)
        fuse_reply_xattr(req, len);
    else if (size < len)
        fuse_reply_err(req, ERANGE);
    else
        fuse_reply_buf(req, val, len);
}

static void hm_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct mount_state *ms = MS(req);
    static const char *const names[] = {"oid", "sha256", "size", "commit", "url"};
    struct node_info ni;
    int ret = node_get(ms->nodes, ino, &ni);
    if (ret < 0) {
        fuse_reply_err(req, -ret);
        return;
    }
    char list[256];
    size_t len = 0;
    char val[4096];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (xattr_value(ms, &ni, names[i], val, sizeof val) < 0)
            continue;
        int n = snprintf(list + len, sizeof list - len, "%s%s", XA_PREFIX, names[i]);
        if (n < 0 || (size_t)n >= sizeof list - len)
            break;
        len += (size_t)n + 1; /* keep the NUL: names are NUL-separated */
    }
    node_info_clear(&ni);
    hm_reply_xattr(req, list, len, size);
}

/* ---- session ------------------------------------------------------------------------ */

static void hm_init(void *userdata, struct fuse_conn_info *conn)
{
    struct mount_state *ms = userdata;
    /* libfuse insists init() repeats the -o max_read= given to the session. */
    conn->max_read = ms->opt->max_read;
    /* Large sequential requests; the kernel reads ahead as far as it may. */
    if (conn->capable & FUSE_CAP_ASYNC_READ)
        conn->want |= FUSE_CAP_ASYNC_READ;
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
        conn->want |= FUSE_CAP_PARALLEL_DIROPS;
    /* `ls -l` asks every file for system.posix_acl_access; with POSIX ACLs
     * on, the kernel caches our ENODATA ("no ACL") per inode instead of
     * asking each time.  This also turns on default_permissions: the
     * kernel checks the modes we report, which say what we allow anyway. */
    if (conn->capable & FUSE_CAP_POSIX_ACL)
        conn->want |= FUSE_CAP_POSIX_ACL;
    /* Our content per inode never changes: no need to drop caches on mtime
     * changes (which a branch commit causes for every file). */
    conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
    conn->max_readahead = conn->max_readahead > HM_MAX_READ * 4 ? conn->max_readahead
                                                                : HM_MAX_READ * 4;
    conn->max_background = 16; /* bounds concurrent reads, hence memory */
    conn->congestion_threshold = 12;
    conn->time_gran = 1000000000; /* whole seconds */
}

void hm_ops_read_fill(struct fuse_lowlevel_ops *ops)
{
    ops->init = hm_init;
    ops->lookup = hm_lookup;
    ops->forget = hm_forget;
    ops->forget_multi = hm_forget_multi;
    ops->getattr = hm_getattr;
    ops->opendir = hm_opendir;
    ops->readdir = hm_readdir;
    ops->readdirplus = hm_readdirplus;
    ops->releasedir = hm_releasedir;
    ops->open = hm_open;
    ops->read = hm_read;
    ops->release = hm_release;
    ops->statfs = hm_statfs;
    ops->getxattr = hm_getxattr;
    ops->listxattr = hm_listxattr;
}
