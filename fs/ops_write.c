/* ops_write.c — the write path's file handlers (create, mknod, open for
 * writing, write, flush, release, fsync, setattr) and the hooks through
 * which the read path sees local state (lookup, readdir merge, attributes
 * of committed files).  Namespace changes live in ops_write_ns.c; the
 * commit pipeline in commit_worker.c.
 *
 * Durability contract: when close(2) returns 0, the file's content is in a
 * staging file and its pending operation is in the journal (SQLite WAL), so
 * it survives kill -9 of the daemon and reaches the Hub with the next
 * commit.  Like close(2) on a local file system, it does not wait for the
 * disk: a power loss before the commit may lose it (pending_open drops a
 * journaled file whose staged bytes did not all reach the disk).  fsync(2)
 * flushes the file and waits for the commit, returning its result;
 * -o durable_close flushes at every close (one flush of the staging file
 * and one of the WAL per close: rsync -a of 1,000 small files took 1.3x as
 * long in a side-by-side run, more on slower disks). */
#include "ops_write.h"

#include "journal.h"
#include "log.h"
#include "meta.h"
#include "reader.h"
#include "status.h"
#include "tree.h"
#include "write_i.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Writeback of a file being written is started every this many bytes. */
#define HM_WRITEBACK_STEP ((uint64_t)8 << 20)

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

/* ---- wfile table ------------------------------------------------------------------- */

struct wfile *hw_wfile_by_ino(struct hm_write *hw, fuse_ino_t ino)
{
    for (struct wfile *wf = hw->wfiles; wf; wf = wf->next)
        if (wf->ino == ino)
            return wf;
    return NULL;
}

struct wfile *hw_wfile_by_path(struct hm_write *hw, const char *path)
{
    for (struct wfile *wf = hw->wfiles; wf; wf = wf->next)
        if (!wf->unlinked && strcmp(wf->path, path) == 0)
            return wf;
    return NULL;
}

static void wfile_unlink_from_table(struct hm_write *hw, struct wfile *wf)
{
    for (struct wfile **pp = &hw->wfiles; *pp; pp = &(*pp)->next) {
        if (*pp == wf) {
            *pp = wf->next;
            return;
        }
    }
}

static void wfile_free(struct wfile *wf)
{
    if (!wf)
        return;
    if (wf->fd >= 0)
        close(wf->fd);
    free(wf->path);
    free(wf);
}

static void wfile_local(const struct wfile *wf, struct node_local *l)
{
    memset(l, 0, sizeof(*l));
    l->size = wf->size;
    l->perm = wf->perm;
    l->mtime = wf->mtime;
}

/* ---- the mount's view of a path ------------------------------------------------- */

static bool overlay_is_dir(struct hm_write *hw, const char *path, struct overlay_entry *row)
{
    struct overlay_entry e;
    memset(&e, 0, sizeof(e));
    if (overlay_get(hw->ms->meta, hw->ms->repo_key, hw->ms->revision, path, &e) < 0)
        return false;
    bool d = e.is_dir;
    if (row)
        *row = e;
    else
        overlay_entry_clear(&e);
    return d;
}

/* Remote entry of path at the mount's commit: 0, -ENOENT, or -errno. */
static int remote_entry(struct hm_write *hw, const char *path, struct hub_entry *e)
{
    char commit[HUB_SHA1_HEX];
    ms_commit_get(hw->ms, commit, NULL);
    memset(e, 0, sizeof(*e));
    int r = tree_entry(hw->ms, commit, path, e);
    if (r == -ENOTDIR)
        r = -ENOENT;
    return r;
}

int hw_resolve(struct hm_write *hw, const char *path, int *kind, bool *remote_here,
               struct hub_entry *out)
{
    *kind = 0;
    *remote_here = false;
    if (out)
        memset(out, 0, sizeof(*out));
    if (!*path) {
        *kind = 2;
        *remote_here = true;
        return 0;
    }
    pthread_mutex_lock(&hw->mu);
    bool open_file = hw_wfile_by_path(hw, path) != NULL;
    pthread_mutex_unlock(&hw->mu);

    enum pending_state ps = pending_stat(hw->pending, path, NULL);
    struct hub_entry e;
    int r = remote_entry(hw, path, &e);
    if (r < 0 && r != -ENOENT)
        return r;
    bool exists = r == 0;
    bool hidden = ps == PENDING_DELETED || pending_under_deleted_folder(hw->pending, path);
    *remote_here = exists && !hidden;

    if (open_file || ps == PENDING_FILE)
        *kind = 1;
    else if (ps == PENDING_DIR)
        *kind = 2;
    else if (*remote_here)
        *kind = e.is_dir ? 2 : 1;
    else if (overlay_is_dir(hw, path, NULL))
        *kind = 2;
    /* Pending files below a path where the commit has a FILE: that file was
     * deleted here (nothing could be created below it otherwise), although
     * pending_stat reports the directory.  Not remote: renaming or removing
     * the directory must not treat the file as a folder of the commit. */
    if (*remote_here && *kind == 2 && !e.is_dir)
        *remote_here = false;
    if (*remote_here && out)
        *out = e;
    else if (exists)
        meta_entry_clear(&e);
    return 0;
}

/* ---- hooks for the read path ----------------------------------------------------- */

static void overlay_attrs(struct hm_write *hw, const char *path, mode_t *perm, int64_t *mtime)
{
    struct overlay_entry o;
    memset(&o, 0, sizeof(o));
    if (overlay_get(hw->ms->meta, hw->ms->repo_key, hw->ms->revision, path, &o) < 0)
        return;
    if ((o.fields & OVERLAY_MODE) && perm)
        *perm = o.mode & 07777;
    if ((o.fields & OVERLAY_MTIME) && mtime)
        *mtime = o.mtime_sec;
    overlay_entry_clear(&o);
}

static int hook_lookup(void *ctx, const char *path, struct node_local *out)
{
    struct hm_write *hw = ctx;
    memset(out, 0, sizeof(*out));
    if (!*path)
        return -EAGAIN;
    pthread_mutex_lock(&hw->mu);
    struct wfile *wf = hw_wfile_by_path(hw, path);
    if (wf)
        wfile_local(wf, out);
    pthread_mutex_unlock(&hw->mu);
    if (wf)
        return 0;

    struct pending_entry pe;
    memset(&pe, 0, sizeof(pe));
    enum pending_state ps = pending_stat(hw->pending, path, &pe);
    if (ps == PENDING_FILE) {
        out->size = pe.size;
        out->mtime = pe.created_at;
        pending_entry_clear(&pe);
        overlay_attrs(hw, path, &out->perm, &out->mtime);
        return 0;
    }
    struct hub_entry e;
    if (ps == PENDING_DIR) {
        /* a directory that exists on the Hub stays a remote node (its
         * remote children must be listed); only a new one is local */
        if (!pending_under_deleted_folder(hw->pending, path) && remote_entry(hw, path, &e) == 0) {
            bool d = e.is_dir;
            meta_entry_clear(&e);
            if (d)
                return -EAGAIN;
        }
        out->is_dir = true;
        overlay_attrs(hw, path, &out->perm, &out->mtime);
        return 0;
    }
    struct overlay_entry row;
    memset(&row, 0, sizeof(row));
    bool local_dir = overlay_is_dir(hw, path, &row);
    if (local_dir) {
        out->is_dir = true;
        if (row.fields & OVERLAY_MODE)
            out->perm = row.mode & 07777;
        if (row.fields & OVERLAY_MTIME)
            out->mtime = row.mtime_sec;
    }
    overlay_entry_clear(&row);
    if (ps == PENDING_DELETED)
        return local_dir ? 0 : -ENOENT;
    if (!local_dir)
        return -EAGAIN;
    if (!pending_under_deleted_folder(hw->pending, path) && remote_entry(hw, path, &e) == 0) {
        meta_entry_clear(&e);
        return -EAGAIN; /* the Hub has it now: a remote directory with local attributes */
    }
    return 0;
}

struct list_item {
    char *name;
    enum pending_state st;
    struct node_local l;
};

struct list_acc {
    struct list_item *v;
    size_t n, cap;
};

static int acc_push(struct list_acc *a, const char *name, enum pending_state st,
                    const struct node_local *l)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        struct list_item *v = realloc(a->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    struct list_item *it = &a->v[a->n];
    memset(it, 0, sizeof(*it));
    it->name = strdup(name);
    if (!it->name)
        return -ENOMEM;
    it->st = st;
    if (l)
        it->l = *l;
    a->n++;
    return 0;
}

static int collect_pending(void *arg, const char *name, enum pending_state st,
                           const struct pending_entry *e)
{
    struct node_local l;
    memset(&l, 0, sizeof(l));
    if (e) {
        l.size = e->size;
        l.mtime = e->created_at;
    }
    l.is_dir = st == PENDING_DIR;
    return acc_push(arg, name, st, &l);
}

static int hook_list(void *ctx, const char *dir,
                     int (*add)(void *arg, const char *name, const struct node_local *l),
                     void *arg)
{
    struct hm_write *hw = ctx;
    struct list_acc acc = {0};
    struct overlay_entries ov = {0};
    int ret = pending_list(hw->pending, dir, collect_pending, &acc);
    size_t dl = strlen(dir);
    /* files being written (not closed yet) */
    pthread_mutex_lock(&hw->mu);
    for (struct wfile *wf = hw->wfiles; wf && ret == 0; wf = wf->next) {
        if (wf->unlinked)
            continue;
        const char *slash = strrchr(wf->path, '/');
        size_t pl = slash ? (size_t)(slash - wf->path) : 0;
        if (pl != dl || strncmp(wf->path, dir, dl) != 0)
            continue;
        struct node_local l;
        wfile_local(wf, &l);
        ret = acc_push(&acc, slash ? slash + 1 : wf->path, PENDING_FILE, &l);
    }
    pthread_mutex_unlock(&hw->mu);
    if (ret == 0)
        ret = overlay_list_dir(hw->ms->meta, hw->ms->repo_key, hw->ms->revision, dir, &ov);

    /* deletions first, so names re-created locally win */
    for (size_t i = 0; i < acc.n && ret == 0; i++) {
        if (acc.v[i].st != PENDING_DELETED)
            continue;
        char *p = node_path_join(dir, acc.v[i].name);
        if (!p) {
            ret = -ENOMEM;
            break;
        }
        if (!overlay_is_dir(hw, p, NULL))
            ret = add(arg, acc.v[i].name, NULL);
        free(p);
    }
    for (size_t i = 0; i < acc.n && ret == 0; i++) {
        struct list_item *it = &acc.v[i];
        if (it->st == PENDING_DELETED)
            continue;
        char *p = node_path_join(dir, it->name);
        if (!p) {
            ret = -ENOMEM;
            break;
        }
        if (it->st == PENDING_DIR) {
            /* remote directories are listed by the read path already */
            struct hub_entry e;
            bool remote_dir = false;
            if (!pending_under_deleted_folder(hw->pending, p) && remote_entry(hw, p, &e) == 0) {
                remote_dir = e.is_dir;
                meta_entry_clear(&e);
            }
            if (!remote_dir) {
                overlay_attrs(hw, p, &it->l.perm, &it->l.mtime);
                ret = add(arg, it->name, &it->l);
            }
        } else {
            overlay_attrs(hw, p, &it->l.perm, &it->l.mtime);
            ret = add(arg, it->name, &it->l);
        }
        free(p);
    }
    /* directories made by mkdir that the Hub does not have as a folder (a
     * FILE of the commit at that name was deleted here: the directory made
     * in its place is ours to list, the read path would show the file) */
    for (size_t i = 0; i < ov.n && ret == 0; i++) {
        struct overlay_entry *o = &ov.v[i];
        if (!o->is_dir)
            continue;
        struct hub_entry e;
        if (!pending_under_deleted_folder(hw->pending, o->path) &&
            remote_entry(hw, o->path, &e) == 0) {
            bool folder = e.is_dir;
            meta_entry_clear(&e);
            if (folder)
                continue;
        }
        struct node_local l = {.is_dir = true};
        if (o->fields & OVERLAY_MODE)
            l.perm = o->mode & 07777;
        if (o->fields & OVERLAY_MTIME)
            l.mtime = o->mtime_sec;
        ret = add(arg, tree_basename(o->path), &l);
    }
    for (size_t i = 0; i < acc.n; i++)
        free(acc.v[i].name);
    free(acc.v);
    overlay_entries_free(&ov);
    return ret;
}

static void hook_attrs(void *ctx, const char *path, mode_t *perm, int64_t *mtime)
{
    overlay_attrs(ctx, path, perm, mtime);
}

void hw_node_refresh(struct hm_write *hw, const char *path)
{
    fuse_ino_t ino = node_find(hw->ms->nodes, path);
    if (!ino)
        return;
    uint64_t since = node_stamp(hw->ms->nodes);
    struct node_local l;
    int r = hook_lookup(hw, path, &l);
    if (r == 0) {
        (void)node_set_local(hw->ms->nodes, ino, &l);
        return;
    }
    if (r != -EAGAIN)
        return;
    /* Nothing local any more (e.g. a file opened for writing but left
     * unchanged while its pending content was committed, which the worker
     * skipped because it was open): the node shows the commit's file now,
     * unless a writer switched it meanwhile. */
    struct node_info ni;
    if (node_get(hw->ms->nodes, ino, &ni) < 0)
        return;
    bool local_file = ni.kind == NODE_LOCAL && !ni.is_dir;
    uint64_t local_size = ni.local.size;
    node_info_clear(&ni);
    struct hub_entry e;
    char commit[HUB_SHA1_HEX];
    ms_commit_get(hw->ms, commit, NULL);
    /* Only at our own commit with the same size is the content the same
     * (as in node_ref_remote_since); otherwise the node stays as it is and
     * the next lookup of the name gives it a new node. */
    if (local_file && node_is_own_commit(hw->ms->nodes, commit) &&
        tree_entry(hw->ms, commit, path, &e) == 0) {
        if (!e.is_dir && e.size == local_size)
            (void)node_set_remote_since(hw->ms->nodes, ino, &e, commit, since);
        meta_entry_clear(&e);
    }
}

void hw_reuse_note(struct hm_write *hw, const struct hub_entry *e, const char *path,
                   const char *commit)
{
    struct reuse_src *r = calloc(1, sizeof(*r));
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return; /* only read-your-writes of the renamed file suffers */
    }
    memcpy(r->sha256, e->sha256, sizeof(r->sha256));
    r->size = e->size;
    snprintf(r->commit, sizeof(r->commit), "%s", commit);
    pthread_mutex_lock(&hw->mu);
    r->next = hw->reuse;
    hw->reuse = r;
    pthread_mutex_unlock(&hw->mu);
}

int hw_reuse_open(struct hm_write *hw, const char *sha256, uint64_t size,
                  struct reader_file **out)
{
    char path[PATH_MAX], commit[HUB_SHA1_HEX];
    bool found = false;
    pthread_mutex_lock(&hw->mu);
    for (struct reuse_src *r = hw->reuse; r && !found; r = r->next) {
        if (r->size == size && strcmp(r->sha256, sha256) == 0) {
            snprintf(path, sizeof(path), "%s", r->path);
            memcpy(commit, r->commit, sizeof(commit));
            found = true;
        }
    }
    pthread_mutex_unlock(&hw->mu);
    if (!found)
        return -EIO;
    struct hub_entry e;
    memset(&e, 0, sizeof(e));
    e.size = size;
    e.is_lfs = true;
    memcpy(e.sha256, sha256, sizeof(e.sha256));
    if (staging_lfs_pointer_oid(sha256, size, e.oid) < 0)
        return -EIO;
    return reader_file_new(hw->ms->reader, path, commit, &e, out);
}

/* ---- open / read / write / close -------------------------------------------------- */

struct reader_fetch {
    struct reader_file *rf;
};

static ssize_t fetch_reader(void *ctx, uint64_t offset, void *buf, size_t len)
{
    struct reader_fetch *f = ctx;
    return reader_read(f->rf, offset, len, buf);
}

/* Streams `size` bytes of a committed file into fd through the reader (the
 * block cache first, then range requests). */
static int fill_from_remote(struct hm_write *hw, int fd, const char *path, const char *commit,
                            const struct hub_entry *e, uint64_t size)
{
    struct reader_fetch f = {0};
    int r = reader_file_new(hw->ms->reader, path, commit, e, &f.rf);
    if (r < 0)
        return r;
    r = staging_fill(fd, size, fetch_reader, &f);
    reader_file_free(f.rf);
    return r;
}

int hw_copy_remote(struct hm_write *hw, const char *path, const struct hub_entry *e,
                   const char *commit, const char *new_path)
{
    char sp[PATH_MAX];
    int fd = -1;
    int r = staging_create(hw->staging, sp, sizeof(sp), &fd);
    if (r < 0)
        return r;
    /* flushed whatever -o durable_close says: the rename journals this
     * copy's ADD with the DELETE of the source, and a power loss that kept
     * both rows but not these bytes would drop the ADD (pending_open) and
     * commit the DELETE: the file would be gone from the Hub */
    r = fill_from_remote(hw, fd, path, commit, e, e->size);
    if (r == 0)
        r = staging_sync(fd);
    close(fd);
    if (r == 0)
        r = pending_add_file(hw->pending, new_path, sp, e->size);
    if (r < 0)
        (void)staging_remove(hw->staging, sp);
    return r;
}

/* A new wfile for `path` with the content the open asks for: empty
 * (truncate), a copy of the pending file, or the committed content. */
static int wfile_prepare(struct hm_write *hw, fuse_ino_t ino, const char *path, bool truncate,
                         struct wfile **out)
{
    struct wfile *wf = calloc(1, sizeof(*wf));
    struct pending_entry pe;
    memset(&pe, 0, sizeof(pe));
    int r;
    if (!wf)
        return -ENOMEM;
    wf->fd = -1;
    wf->ino = ino;
    wf->mtime = now_s();
    wf->path = strdup(path);
    if (!wf->path) {
        r = -ENOMEM;
        goto fail;
    }
    overlay_attrs(hw, path, &wf->perm, NULL);
    if (pending_stat(hw->pending, path, &pe) == PENDING_FILE && !truncate) {
        if (pe.staging) {
            r = staging_clone(hw->staging, pe.staging, wf->staging, sizeof(wf->staging), &wf->fd);
            if (r < 0)
                goto fail;
            wf->size = pe.size;
        } else {
            /* a rename's reuse of a committed LFS object: copy its bytes */
            struct reader_fetch f = {0};
            r = hw_reuse_open(hw, pe.sha256, pe.size, &f.rf);
            if (r == 0)
                r = staging_create(hw->staging, wf->staging, sizeof(wf->staging), &wf->fd);
            if (r == 0)
                r = staging_fill(wf->fd, pe.size, fetch_reader, &f);
            if (f.rf)
                reader_file_free(f.rf);
            if (r < 0)
                goto fail;
            wf->size = pe.size;
        }
        goto done;
    }
    r = staging_create(hw->staging, wf->staging, sizeof(wf->staging), &wf->fd);
    if (r < 0)
        goto fail;
    if (pending_stat(hw->pending, path, NULL) == PENDING_FILE) {
        wf->dirty = true; /* truncating a pending file */
        goto done;
    }
    char commit[HUB_SHA1_HEX];
    ms_commit_get(hw->ms, commit, NULL);
    struct hub_entry e;
    memset(&e, 0, sizeof(e));
    r = tree_entry(hw->ms, commit, path, &e);
    if (r == 0 && !pending_under_deleted_folder(hw->pending, path)) {
        if (e.is_dir) {
            meta_entry_clear(&e);
            r = -EISDIR;
            goto fail;
        }
        wf->had_remote = true;
        wf->base = e;
        free(wf->base.path);
        wf->base.path = NULL;
        memcpy(wf->base_commit, commit, sizeof(wf->base_commit));
        if (truncate) {
            wf->dirty = true;
        } else {
            r = fill_from_remote(hw, wf->fd, path, commit, &e, e.size);
            if (r < 0)
                goto fail;
            wf->size = e.size;
        }
    } else {
        if (r == 0)
            meta_entry_clear(&e);
        wf->dirty = true; /* nothing there: a new, empty file */
    }
    r = 0;
done:
    pending_entry_clear(&pe);
    *out = wf;
    return 0;
fail:
    pending_entry_clear(&pe);
    if (wf->fd >= 0) {
        close(wf->fd);
        wf->fd = -1;
        (void)staging_remove(hw->staging, wf->staging);
    }
    wfile_free(wf);
    return r;
}

int hw_journal_locked(struct hm_write *hw, struct wfile *wf, bool sync)
{
    if (!wf->dirty || wf->unlinked)
        return 0;
    int r = sync || hw->durable_close || wf->extended ? staging_sync(wf->fd) : 0;
    if (r == 0)
        r = pending_add_file(hw->pending, wf->path, wf->staging, wf->size);
    if (r < 0) {
        /* a full local disk is the caller's to handle (ENOSPC from close) */
        if (r == -ENOSPC || r == -EDQUOT)
            hm_warn("write: cannot record %s for commit: %s", wf->path, strerror(-r));
        else
            hm_error("write: cannot record %s for commit: %s", wf->path, strerror(-r));
        return r;
    }
    wf->dirty = false;
    wf->journaled = true;
    return 0;
}

/* Before writing into a journaled staging file: take a private copy. */
static int wfile_unshare_locked(struct hm_write *hw, struct wfile *wf)
{
    if (!wf->journaled)
        return 0;
    char np[PATH_MAX];
    int nfd = -1;
    int r = staging_clone_fd(hw->staging, wf->fd, np, sizeof(np), &nfd);
    if (r < 0)
        return r;
    close(wf->fd);
    wf->fd = nfd;
    memcpy(wf->staging, np, sizeof(np));
    wf->journaled = false;
    return 0;
}

static bool wants_write(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

static void reply_open_fh(fuse_req_t req, struct hm_write *hw, struct hm_write_fh *fh,
                          struct fuse_file_info *fi);

static void hook_open(void *ctx, fuse_req_t req, const struct node_info *ni,
                      struct fuse_file_info *fi)
{
    struct hm_write *hw = ctx;
    struct hm_write_fh *fh = calloc(1, sizeof(*fh));
    int r = 0;
    if (!fh) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    fh->base.kind = HM_FH_WRITE;
    fh->base.ino = ni->ino;
    fh->rfd = -1;
    if (ni->is_dir) {
        r = -EISDIR;
        goto fail;
    }
    if (wants_write(fi->flags)) {
        bool trunc = (fi->flags & O_TRUNC) != 0;
        pthread_mutex_lock(&hw->mu);
        struct wfile *wf = hw_wfile_by_ino(hw, ni->ino);
        if (wf) {
            wf->handles++;
            wf->writers++;
        }
        pthread_mutex_unlock(&hw->mu);
        if (!wf) {
            /* copy-on-write outside the lock: it may download */
            struct wfile *nw = NULL;
            r = wfile_prepare(hw, ni->ino, ni->path, trunc, &nw);
            if (r < 0)
                goto fail;
            pthread_mutex_lock(&hw->mu);
            wf = hw_wfile_by_ino(hw, ni->ino);
            if (wf) { /* another open won the race: share its state */
                wf->handles++;
                wf->writers++;
            } else {
                wf = nw;
                nw = NULL;
                wf->handles = wf->writers = 1;
                wf->next = hw->wfiles;
                hw->wfiles = wf;
                trunc = false; /* prepared truncated already */
                /* The node turns local in the same critical section that
                 * makes the file visible to hook_lookup: a lookup sees
                 * either both or neither (see node_ref_local_since). */
                struct node_local l0;
                wfile_local(wf, &l0);
                (void)node_set_local(hw->ms->nodes, ni->ino, &l0);
            }
            pthread_mutex_unlock(&hw->mu);
            if (nw) {
                (void)staging_remove(hw->staging, nw->staging);
                wfile_free(nw);
            }
        }
        if (trunc) {
            pthread_mutex_lock(&hw->mu);
            r = wfile_unshare_locked(hw, wf);
            if (r == 0)
                r = staging_truncate(wf->fd, 0);
            if (r == 0) {
                wf->size = 0;
                wf->dirty = true;
                wf->mtime = now_s();
            }
            pthread_mutex_unlock(&hw->mu);
        }
        fh->wf = wf;
        fh->writable = true;
        pthread_mutex_lock(&hw->mu);
        struct node_local l;
        wfile_local(wf, &l);
        (void)node_set_local(hw->ms->nodes, ni->ino, &l);
        pthread_mutex_unlock(&hw->mu);
        if (r < 0)
            goto fail_release;
        reply_open_fh(req, hw, fh, fi);
        return;
    }
    /* read-only open of a local node */
    pthread_mutex_lock(&hw->mu);
    struct wfile *wf = hw_wfile_by_ino(hw, ni->ino);
    if (wf) {
        wf->handles++;
        fh->wf = wf;
    }
    pthread_mutex_unlock(&hw->mu);
    if (!fh->wf) {
        struct pending_entry pe;
        memset(&pe, 0, sizeof(pe));
        enum pending_state ps = pending_stat(hw->pending, ni->path, &pe);
        if (ps == PENDING_FILE && pe.staging)
            r = staging_reopen(hw->staging, pe.staging, O_RDONLY, &fh->rfd);
        else if (ps == PENDING_FILE)
            r = hw_reuse_open(hw, pe.sha256, pe.size, &fh->rf) == 0 ? 0 : -EAGAIN;
        else
            r = -EAGAIN;
        pending_entry_clear(&pe);
        if (r < 0) {
            /* committed meanwhile (or a reused LFS object): read the
             * commit's content */
            char commit[HUB_SHA1_HEX];
            struct hub_entry e;
            ms_commit_get(hw->ms, commit, NULL);
            r = tree_entry(hw->ms, commit, ni->path, &e);
            if (r == 0) {
                r = e.is_dir ? -EISDIR
                             : reader_file_new(hw->ms->reader, ni->path, commit, &e, &fh->rf);
                meta_entry_clear(&e);
            }
            if (r < 0)
                goto fail;
        }
    }
    reply_open_fh(req, hw, fh, fi);
    return;
fail_release:
    pthread_mutex_lock(&hw->mu);
    fh->wf->handles--;
    fh->wf->writers--;
    pthread_mutex_unlock(&hw->mu);
fail:
    if (fh->rfd >= 0)
        close(fh->rfd);
    if (fh->rf)
        reader_file_free(fh->rf);
    free(fh);
    fuse_reply_err(req, -r);
}

static void fh_drop(struct hm_write *hw, struct hm_write_fh *fh, bool reply_err_ok);

/* Handles the kernel may never release (the session ends with files
 * open, e.g. SIGTERM) are freed by hm_write_stop. */
static void fh_track(struct hm_write *hw, struct hm_write_fh *fh)
{
    pthread_mutex_lock(&hw->mu);
    fh->prev = NULL;
    fh->next = hw->fhs;
    if (hw->fhs)
        hw->fhs->prev = fh;
    hw->fhs = fh;
    pthread_mutex_unlock(&hw->mu);
}

static void fh_untrack_locked(struct hm_write *hw, struct hm_write_fh *fh)
{
    if (fh->prev)
        fh->prev->next = fh->next;
    else if (hw->fhs == fh)
        hw->fhs = fh->next;
    if (fh->next)
        fh->next->prev = fh->prev;
    fh->prev = fh->next = NULL;
}

static void reply_open_fh(fuse_req_t req, struct hm_write *hw, struct hm_write_fh *fh,
                          struct fuse_file_info *fi)
{
    if (node_open(hw->ms->nodes, fh->base.ino) < 0) {
        fh_drop(hw, fh, false);
        fuse_reply_err(req, ESTALE);
        return;
    }
    fi->fh = (uintptr_t)fh;
    fi->keep_cache = 0; /* local content changes: never trust old pages */
    fi->direct_io = 0;
    fh_track(hw, fh);
    if (fuse_reply_open(req, fi) != 0) {
        node_close(hw->ms->nodes, fh->base.ino);
        fh_drop(hw, fh, false);
    }
}

/* Drops one handle; the last handle of a wfile journals what is unsaved
 * and releases the staging file if the journal does not own it. */
static void fh_drop(struct hm_write *hw, struct hm_write_fh *fh, bool notify)
{
    struct wfile *wf = fh->wf;
    struct wfile *gone = NULL;
    bool was_written = false;
    pthread_mutex_lock(&hw->mu);
    fh_untrack_locked(hw, fh);
    pthread_mutex_unlock(&hw->mu);
    if (wf) {
        pthread_mutex_lock(&hw->mu);
        wf->handles--;
        if (fh->writable)
            wf->writers--;
        if (wf->handles == 0) {
            if (wf->dirty && !wf->unlinked && hw_journal_locked(hw, wf, false) == 0)
                was_written = true;
            was_written |= wf->journaled;
            if (!wf->journaled)
                (void)staging_remove(hw->staging, wf->staging);
            wfile_unlink_from_table(hw, wf);
            gone = wf;
        }
        pthread_mutex_unlock(&hw->mu);
    }
    if (gone) {
        if (!was_written && !gone->unlinked && gone->had_remote &&
            pending_stat(hw->pending, gone->path, NULL) == PENDING_UNKNOWN) {
            /* opened for writing, nothing changed: the committed content stays */
            (void)node_set_remote(hw->ms->nodes, gone->ino, &gone->base, gone->base_commit);
        } else if (!gone->unlinked) {
            hw_node_refresh(hw, gone->path);
        }
        if (was_written && notify && hw->worker)
            commit_worker_notify(hw->worker);
        wfile_free(gone);
    }
    if (fh->rfd >= 0)
        close(fh->rfd);
    if (fh->rf)
        reader_file_free(fh->rf);
    free(fh);
}

static void hook_read(void *ctx, fuse_req_t req, struct hm_fh *base, size_t size, off_t off)
{
    struct hm_write *hw = ctx;
    struct hm_write_fh *fh = (struct hm_write_fh *)base;
    if (off < 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    ssize_t n;
    if (fh->wf) {
        pthread_mutex_lock(&hw->mu);
        n = staging_pread(fh->wf->fd, buf, size, (uint64_t)off);
        pthread_mutex_unlock(&hw->mu);
    } else if (fh->rfd >= 0) {
        n = staging_pread(fh->rfd, buf, size, (uint64_t)off);
    } else if (fh->rf) {
        n = reader_read(fh->rf, (uint64_t)off, size, buf);
    } else {
        n = -EBADF;
    }
    if (n < 0)
        fuse_reply_err(req, (int)-n);
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

static void hook_release(void *ctx, fuse_req_t req, struct hm_fh *base)
{
    struct hm_write *hw = ctx;
    fuse_ino_t ino = base->ino;
    fh_drop(hw, (struct hm_write_fh *)base, true);
    node_close(hw->ms->nodes, ino);
    fuse_reply_err(req, 0);
}

static struct hm_write_fh *write_fh(struct fuse_file_info *fi)
{
    struct hm_fh *base = fi ? (struct hm_fh *)(uintptr_t)fi->fh : NULL;
    if (!base || base->kind != HM_FH_WRITE)
        return NULL;
    return (struct hm_write_fh *)base;
}

static void hw_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    struct hm_write *hw = HW(req);
    struct hm_write_fh *fh = write_fh(fi);
    if (!fh || !fh->wf || !fh->writable) {
        fuse_reply_err(req, EBADF);
        return;
    }
    if (off < 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    struct wfile *wf = fh->wf;
    struct node_local l;
    bool grew = false;
    pthread_mutex_lock(&hw->mu);
    ssize_t n = wfile_unshare_locked(hw, wf);
    if (n == 0)
        n = staging_pwrite(wf->fd, buf, size, (uint64_t)off);
    if (n > 0 && (uint64_t)off + (uint64_t)n >= wf->wb_upto + HM_WRITEBACK_STEP) {
        /* a large file goes to disk anyway (fsync, durable_close, or the
         * kernel's writeback while the commit reads it): start writing it
         * now, while the writer is still going, so that little is left
         * (without waiting: SYNC_FILE_RANGE_WRITE only queues the pages) */
        uint64_t end = (uint64_t)off + (uint64_t)n;
        (void)sync_file_range(wf->fd, (off64_t)wf->wb_upto, (off64_t)(end - wf->wb_upto),
                              SYNC_FILE_RANGE_WRITE);
        wf->wb_upto = end;
    }
    if (n >= 0) {
        if ((uint64_t)off + (uint64_t)n > wf->size) {
            wf->size = (uint64_t)off + (uint64_t)n;
            grew = true;
        }
        wf->dirty = true;
        int64_t t = now_s();
        grew |= t != wf->mtime;
        wf->mtime = t;
    } else if (n == -ENOSPC || n == -EDQUOT) {
        wf->error = (int)-n; /* close reports it too */
    }
    wfile_local(wf, &l);
    pthread_mutex_unlock(&hw->mu);
    if (n < 0) {
        fuse_reply_err(req, (int)-n);
        return;
    }
    if (grew)
        (void)node_set_local(hw->ms->nodes, ino, &l);
    if (hw->worker)
        commit_worker_touch(hw->worker);
    fuse_reply_write(req, (size_t)n);
}

static void hw_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct hm_write *hw = HW(req);
    struct hm_write_fh *fh = write_fh(fi);
    (void)ino;
    if (!fh || !fh->wf || !hw) {
        fuse_reply_err(req, 0);
        return;
    }
    struct wfile *wf = fh->wf;
    char *path = NULL;
    pthread_mutex_lock(&hw->mu);
    int r = wf->error ? -wf->error : 0;
    bool journaled_now = false;
    if (r == 0 && wf->dirty && !wf->unlinked) {
        r = hw_journal_locked(hw, wf, false);
        journaled_now = r == 0;
    }
    if (!wf->unlinked)
        path = strdup(wf->path);
    pthread_mutex_unlock(&hw->mu);
    if (journaled_now && hw->worker)
        commit_worker_notify(hw->worker);
    /* A failure only the commit could reveal (403, quota...) comes back at
     * the next close of the file it concerns. */
    if (r == 0 && path && !fh->error_reported) {
        int pe = pending_error(hw->pending, path);
        if (pe) {
            r = -pe;
            fh->error_reported = true; /* once per handle, as for fsync */
        }
    }
    free(path);
    fuse_reply_err(req, -r);
}

/* After a commit attempt, what fsync reports for `path`. */
static int path_result(struct hm_write *hw, const char *path, int flush_result)
{
    int pe = pending_error(hw->pending, path);
    if (pe)
        return -pe;
    if (flush_result < 0 && pending_stat(hw->pending, path, NULL) != PENDING_UNKNOWN)
        return flush_result;
    return 0;
}

static void hw_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct hm_write *hw = HW(req);
    struct hm_write_fh *fh = write_fh(fi);
    (void)datasync;
    if (!fh || !hw) {
        fuse_reply_err(req, 0);
        return;
    }
    int r = 0;
    char *path = NULL;
    if (fh->wf) {
        pthread_mutex_lock(&hw->mu);
        if (fh->wf->error)
            r = -fh->wf->error;
        else if (fh->wf->dirty && !fh->wf->unlinked)
            r = hw_journal_locked(hw, fh->wf, true);
        if (!fh->wf->unlinked)
            path = strdup(fh->wf->path);
        pthread_mutex_unlock(&hw->mu);
    } else {
        struct node_info ni;
        if (node_get(hw->ms->nodes, ino, &ni) == 0) {
            path = strdup(ni.path);
            node_info_clear(&ni);
        }
    }
    if (r == 0 && hw->worker) {
        int fr = commit_worker_flush(hw->worker, HM_WRITE_FSYNC_TIMEOUT_MS);
        r = path ? path_result(hw, path, fr) : fr;
        fh->error_reported = r < 0;
    }
    free(path);
    fuse_reply_err(req, -r);
}

static void hw_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    struct hm_write *hw = HW(req);
    (void)ino;
    (void)datasync;
    (void)fi;
    /* Commit now, but do not wait: the kernel holds this directory's lock
     * for the whole request, and publishing a commit may need it.  Waiting
     * for the result is `hubmount sync` (user.hub.sync, no lock held). */
    if (hw && hw->worker)
        commit_worker_request_flush(hw->worker);
    fuse_reply_err(req, 0);
}

/* ---- create / mknod ---------------------------------------------------------------- */

int hw_child_path(struct mount_state *ms, fuse_ino_t parent, const char *name, char **out)
{
    struct node_info pi;
    *out = NULL;
    if (strlen(name) > NAME_MAX)
        return -ENAMETOOLONG;
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/'))
        return -EINVAL;
    int r = node_get(ms->nodes, parent, &pi);
    if (r < 0)
        return r;
    if (!pi.is_dir) {
        node_info_clear(&pi);
        return -ENOTDIR;
    }
    *out = node_path_join(pi.path, name);
    node_info_clear(&pi);
    if (!*out)
        return -ENOMEM;
    /* The Hub refuses these; say so at once instead of at commit time. */
    if (strcmp(name, ".git") == 0)
        return -EINVAL;
    return 0;
}

static int create_common(struct hm_write *hw, fuse_ino_t parent, const char *name, mode_t mode,
                         bool keep_open, struct wfile **wf_out, fuse_ino_t *ino_out,
                         char **path_out)
{
    struct mount_state *ms = hw->ms;
    char *path = NULL;
    struct wfile *wf = NULL;
    int kind;
    bool remote_here;
    int r = ms_write_errno(ms);
    if (r)
        return -r;
    r = hw_child_path(ms, parent, name, &path);
    if (r < 0)
        goto fail;
    r = hw_resolve(hw, path, &kind, &remote_here, NULL);
    if (r < 0)
        goto fail;
    if (kind == 2) {
        r = -EISDIR;
        goto fail;
    }
    wf = calloc(1, sizeof(*wf));
    if (!wf) {
        r = -ENOMEM;
        goto fail;
    }
    wf->fd = -1;
    wf->path = strdup(path);
    if (!wf->path) {
        r = -ENOMEM;
        goto fail;
    }
    r = staging_create(hw->staging, wf->staging, sizeof(wf->staging), &wf->fd);
    if (r < 0)
        goto fail;
    wf->dirty = true;
    wf->mtime = now_s();
    mode_t perm = mode & 07777;
    if (perm && perm != HM_DEFAULT_FILE_PERM) {
        wf->perm = perm;
        /* synchronous=NORMAL: the row is in the WAL ahead of the journal row
         * that close(2) writes, so it is as durable as the file itself from
         * then on (and before close nothing is) */
        struct overlay_entry o = {.path = path, .fields = OVERLAY_MODE, .mode = perm};
        r = overlay_put_attrs(ms->meta, ms->repo_key, ms->revision, &o);
        if (r < 0)
            goto fail;
    } else {
        /* a row left by an earlier file of that name (an fsync'ing write:
         * only when there is one) */
        struct overlay_entry old;
        memset(&old, 0, sizeof(old));
        if (overlay_get(ms->meta, ms->repo_key, ms->revision, path, &old) == 0 && !old.is_dir)
            (void)overlay_delete(ms->meta, ms->repo_key, ms->revision, path, false);
        overlay_entry_clear(&old);
    }
    if (!keep_open) {
        /* mknod: an empty file, recorded at once */
        r = hw_journal_locked(hw, wf, false);
        if (r < 0)
            goto fail;
    }
    struct node_local l;
    wfile_local(wf, &l);
    fuse_ino_t ino = 0;
    r = node_ref_local(ms->nodes, path, &l, 1, &ino);
    if (r < 0)
        goto fail;
    wf->ino = ino;
    *ino_out = ino;
    *wf_out = wf;
    *path_out = path;
    return 0;
fail:
    if (wf) {
        if (wf->fd >= 0 && !wf->journaled)
            (void)staging_remove(hw->staging, wf->staging);
        wfile_free(wf);
    }
    free(path);
    return r;
}

static void hw_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    struct hm_write *hw = HW(req);
    struct wfile *wf = NULL;
    fuse_ino_t ino = 0;
    char *path = NULL;
    if (!hw) {
        fuse_reply_err(req, EROFS);
        return;
    }
    int r = create_common(hw, parent, name, mode, true, &wf, &ino, &path);
    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    struct hm_write_fh *fh = calloc(1, sizeof(*fh));
    struct fuse_entry_param e;
    if (!fh) {
        r = -ENOMEM;
        goto fail;
    }
    fh->base.kind = HM_FH_WRITE;
    fh->base.ino = ino;
    fh->rfd = -1;
    fh->wf = wf;
    fh->writable = true;
    wf->handles = wf->writers = 1;
    r = hm_entry_fill(hw->ms, ino, &e);
    if (r == 0)
        r = node_open(hw->ms->nodes, ino);
    if (r < 0)
        goto fail;
    pthread_mutex_lock(&hw->mu);
    struct wfile *old = hw_wfile_by_path(hw, path);
    if (old && old->ino != ino)
        old->unlinked = true; /* replaced by this create */
    wf->next = hw->wfiles;
    hw->wfiles = wf;
    pthread_mutex_unlock(&hw->mu);
    free(path);
    fi->fh = (uintptr_t)fh;
    fi->keep_cache = 0;
    if (hw->worker)
        commit_worker_touch(hw->worker);
    fh_track(hw, fh);
    if (fuse_reply_create(req, &e, fi) != 0) {
        fh_drop(hw, fh, false);
        node_close(hw->ms->nodes, ino);
        node_forget(hw->ms->nodes, ino, 1);
    }
    return;
fail:
    free(fh);
    (void)staging_remove(hw->staging, wf->staging);
    wfile_free(wf);
    node_forget(hw->ms->nodes, ino, 1);
    free(path);
    fuse_reply_err(req, -r);
}

static void hw_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    struct hm_write *hw = HW(req);
    struct wfile *wf = NULL;
    fuse_ino_t ino = 0;
    char *path = NULL;
    (void)rdev;
    if (!hw) {
        fuse_reply_err(req, EROFS);
        return;
    }
    if (!S_ISREG(mode)) {
        fuse_reply_err(req, EPERM); /* a repo holds regular files only */
        return;
    }
    int r = create_common(hw, parent, name, mode, false, &wf, &ino, &path);
    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    wfile_free(wf); /* journaled: the journal owns the staging file */
    free(path);
    if (hw->worker)
        commit_worker_notify(hw->worker);
    struct fuse_entry_param e;
    r = hm_entry_fill(hw->ms, ino, &e);
    if (r < 0) {
        node_forget(hw->ms->nodes, ino, 1);
        fuse_reply_err(req, -r);
        return;
    }
    fuse_reply_entry(req, &e);
}

/* ---- setattr ------------------------------------------------------------------------- */

/* truncate(2) of a file nobody has open for writing: stage, cut, record. */
static int truncate_closed(struct hm_write *hw, fuse_ino_t ino, const char *path, uint64_t size)
{
    struct wfile *wf = NULL;
    int r = wfile_prepare(hw, ino, path, size == 0, &wf);
    if (r < 0)
        return r;
    r = staging_truncate(wf->fd, size);
    if (r == 0) {
        wf->extended = size > 0;
        wf->size = size;
        wf->dirty = true;
        pthread_mutex_lock(&hw->mu);
        r = hw_journal_locked(hw, wf, false);
        pthread_mutex_unlock(&hw->mu);
    }
    if (r < 0)
        (void)staging_remove(hw->staging, wf->staging);
    wfile_free(wf);
    if (r == 0) {
        hw_node_refresh(hw, path);
        if (hw->worker)
            commit_worker_notify(hw->worker);
    }
    return r;
}

static int set_size(struct hm_write *hw, fuse_ino_t ino, const char *path, uint64_t size)
{
    pthread_mutex_lock(&hw->mu);
    struct wfile *wf = hw_wfile_by_ino(hw, ino);
    int r = 0;
    if (wf) {
        r = wfile_unshare_locked(hw, wf);
        if (r == 0)
            r = staging_truncate(wf->fd, size);
        if (r == 0) {
            wf->extended |= size > 0;
            wf->size = size;
            wf->dirty = true;
            wf->mtime = now_s();
        }
        struct node_local l;
        wfile_local(wf, &l);
        pthread_mutex_unlock(&hw->mu);
        if (r == 0)
            (void)node_set_local(hw->ms->nodes, ino, &l);
        return r;
    }
    pthread_mutex_unlock(&hw->mu);
    return truncate_closed(hw, ino, path, size);
}

static int set_attrs(struct hm_write *hw, fuse_ino_t ino, const struct node_info *ni,
                     const struct stat *attr, int to_set)
{
    struct mount_state *ms = hw->ms;
    struct overlay_entry o;
    memset(&o, 0, sizeof(o));
    int r = overlay_get(ms->meta, ms->repo_key, ms->revision, ni->path, &o);
    if (r < 0 && r != -ENOENT)
        return r;
    char *keep = o.path;
    o.path = (char *)ni->path;
    struct overlay_entry before = o; /* rsync's fchmod right after create sets the same mode */
    bool had_row = r == 0;
    if (to_set & FUSE_SET_ATTR_MODE) {
        o.fields |= OVERLAY_MODE;
        o.mode = attr->st_mode & 07777;
    }
    if (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
        o.fields |= OVERLAY_OWNER;
        if (to_set & FUSE_SET_ATTR_UID)
            o.uid = attr->st_uid;
        if (to_set & FUSE_SET_ATTR_GID)
            o.gid = attr->st_gid;
    }
    if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
        o.fields |= OVERLAY_MTIME;
        if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            o.mtime_sec = ts.tv_sec;
            o.mtime_nsec = (int32_t)ts.tv_nsec;
        } else {
            o.mtime_sec = attr->st_mtim.tv_sec;
            o.mtime_nsec = (int32_t)attr->st_mtim.tv_nsec;
        }
    }
    if (ni->kind == NODE_LOCAL && ni->is_dir)
        o.is_dir = o.is_dir || pending_stat(hw->pending, ni->path, NULL) != PENDING_DIR;
    bool same = had_row && o.fields == before.fields && o.mode == before.mode &&
                o.uid == before.uid && o.gid == before.gid && o.mtime_sec == before.mtime_sec &&
                o.mtime_nsec == before.mtime_nsec && o.is_dir == before.is_dir;
    r = same ? 0 : overlay_put_attrs(ms->meta, ms->repo_key, ms->revision, &o);
    o.path = keep;
    overlay_entry_clear(&o);
    if (r < 0)
        return r;
    /* local nodes carry their attributes; keep an open file's copy too */
    pthread_mutex_lock(&hw->mu);
    struct wfile *wf = hw_wfile_by_ino(hw, ino);
    if (wf) {
        if (to_set & FUSE_SET_ATTR_MODE)
            wf->perm = attr->st_mode & 07777;
        if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
            wf->mtime = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? now_s() : attr->st_mtim.tv_sec;
    }
    pthread_mutex_unlock(&hw->mu);
    if (ni->kind == NODE_LOCAL) {
        struct node_local l = ni->local;
        if (to_set & FUSE_SET_ATTR_MODE)
            l.perm = attr->st_mode & 07777;
        if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
            l.mtime = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? now_s() : attr->st_mtim.tv_sec;
        (void)node_set_local(ms->nodes, ino, &l);
    }
    return 0;
}

static void hw_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    struct mount_state *ms = fuse_req_userdata(req);
    struct hm_write *hw = ms->hooks.ctx;
    struct node_info ni;
    (void)fi;
    int r = node_get(ms->nodes, ino, &ni);
    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    /* atime alone changes nothing we keep: accept it (touch -a, cp -p) */
    int meaningful = to_set & ~(FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_CTIME);
    if (meaningful) {
        int e = ms_write_errno(ms);
        if (e || !hw) {
            r = -(e ? e : EROFS);
            goto out;
        }
    }
    if (to_set & FUSE_SET_ATTR_SIZE) {
        if (ni.is_dir) {
            r = -EISDIR;
            goto out;
        }
        if (attr->st_size < 0) {
            r = -EINVAL;
            goto out;
        }
        r = set_size(hw, ino, ni.path, (uint64_t)attr->st_size);
        if (r < 0)
            goto out;
    }
    if (meaningful & ~FUSE_SET_ATTR_SIZE) {
        struct node_info cur;
        if (node_get(ms->nodes, ino, &cur) == 0) {
            r = set_attrs(hw, ino, &cur, attr, to_set);
            node_info_clear(&cur);
        }
        if (r < 0)
            goto out;
    }
    node_info_clear(&ni);
    r = node_get(ms->nodes, ino, &ni);
    if (r < 0) {
        fuse_reply_err(req, -r);
        return;
    }
    struct stat st;
    hm_stat_fill(ms, &ni, &st);
    node_info_clear(&ni);
    fuse_reply_attr(req, &st, ms->attr_timeout);
    return;
out:
    node_info_clear(&ni);
    fuse_reply_err(req, -r);
}

/* ---- commit worker hooks ------------------------------------------------------------- */

static void cw_head_get(void *ctx, char out[HUB_SHA1_HEX])
{
    struct hm_write *hw = ctx;
    ms_commit_get(hw->ms, out, NULL);
}

/* Show our own commit.  Only names changed by OTHER clients need the
 * kernel told (ours went through the kernel already), and kernel
 * notifications take directory locks that a waiting fsync may hold: so
 * when the commit sits right on the head the mount showed, just switch the
 * commit (no notification); after a rebase the poller's full switch runs,
 * which is safe because no handler holding a directory lock waits for the
 * worker (fsyncdir does not wait, rename never waits). */
static void cw_publish(void *ctx, const char *old_commit, const char *parent,
                       const char *new_commit, int64_t date)
{
    struct hm_write *hw = ctx;
    struct mount_state *ms = hw->ms;
    bool done = false;
    node_set_own_commit(ms->nodes, new_commit);
    pthread_mutex_lock(&ms->switch_lock);
    char cur[HUB_SHA1_HEX];
    ms_commit_get(ms, cur, NULL);
    if (strcmp(cur, old_commit) == 0 && strcmp(parent, old_commit) == 0) {
        ms_commit_set(ms, new_commit, date);
        int put = meta_revision_put(ms->meta, ms->repo_key, ms->revision, new_commit, date,
                                    (int64_t)time(NULL));
        if (put < 0)
            hm_debug("write: cannot cache revision: %s", strerror(-put));
        done = true;
    } else if (strcmp(cur, new_commit) == 0) {
        done = true; /* the poller saw it first */
    }
    pthread_mutex_unlock(&ms->switch_lock);
    if (done) {
        hm_info("write: %s is now at our commit %.12s", ms->revision, new_commit);
        return;
    }
    int r = poller_switch(ms, new_commit, date);
    if (r < 0) {
        /* the listings could not be read: show the commit anyway, the
         * poller fixes the kernel's view at its next round */
        hm_warn("write: switching to our commit %.12s: %s", new_commit, strerror(-r));
        ms_commit_set(ms, new_commit, date);
    }
}

static void cw_settled(void *ctx, const char *new_commit, const struct hub_entries *entries)
{
    struct hm_write *hw = ctx;
    /* local nodes of committed files and of directories that now exist on
     * the Hub become remote again (same inode, same content) */
    for (size_t i = 0; i < entries->n; i++) {
        const struct hub_entry *e = &entries->v[i];
        fuse_ino_t ino = node_find(hw->ms->nodes, e->path);
        if (!ino)
            continue;
        /* A writer may open the file between the checks below and the
         * switch; its open and writes set the node (node_set_local), so
         * the switch is refused when the node changed since this stamp:
         * otherwise getattr would answer the committed size while the new
         * content is being written, and the kernel would cut reads short. */
        /* A refusal caused by something else that touched the node (a
         * getattr refreshing it from the then pending state) is retried
         * while the file is still closed and has no local state. */
        for (int attempt = 0; attempt < 3; attempt++) {
            uint64_t since = node_stamp(hw->ms->nodes);
            pthread_mutex_lock(&hw->mu);
            bool open_w = hw_wfile_by_ino(hw, ino) != NULL;
            pthread_mutex_unlock(&hw->mu);
            struct node_local l;
            if (open_w || hook_lookup(hw, e->path, &l) != -EAGAIN)
                break;
            if (node_set_remote_since(hw->ms->nodes, ino, e, new_commit, since) != -EAGAIN)
                break;
        }
    }
}

static int cw_visited(void *ctx, char ***dirs, size_t *n)
{
    struct hm_write *hw = ctx;
    struct node_dir_ref *refs = NULL;
    size_t nr = 0;
    *dirs = NULL;
    *n = 0;
    int r = node_list_dirs(hw->ms->nodes, &refs, &nr);
    if (r < 0)
        return r;
    char **v = calloc(nr ? nr : 1, sizeof(*v));
    if (!v) {
        node_dir_refs_free(refs, nr);
        return -ENOMEM;
    }
    for (size_t i = 0; i < nr; i++) {
        v[i] = refs[i].path;
        refs[i].path = NULL;
    }
    node_dir_refs_free(refs, nr);
    *dirs = v;
    *n = nr;
    return 0;
}

/* ---- hubmount status ------------------------------------------------------------------ */

static int hook_status(void *ctx, const char *what, char *buf, size_t cap)
{
    struct hm_write *hw = ctx;
    if (strcmp(what, "sync") == 0 && hw->worker) {
        /* hubmount sync: commit now and wait; the failure is the answer */
        int fr = commit_worker_flush(hw->worker, HM_WRITE_FSYNC_TIMEOUT_MS);
        if (fr < 0)
            return fr == -ENODATA || fr == -ERANGE ? -EIO : fr;
    }
    struct commit_worker_status st;
    if (!hw->worker)
        return -ENODATA;
    commit_worker_status(hw->worker, &st);
    return hm_status_format(hw->ms, &st, strcmp(what, "status.json") == 0, buf, cap);
}

/* ---- set-up --------------------------------------------------------------------------- */

int hm_write_init(struct mount_state *ms)
{
    if (ms->read_only || !ms->is_branch)
        return 0; /* tags, commits, -o ro: EROFS from the read path */
    struct hm_write *hw = calloc(1, sizeof(*hw));
    if (!hw)
        return -ENOMEM;
    hw->ms = ms;
    pthread_mutex_init(&hw->mu, NULL);
    hw->durable_close = ms->opt->durable_close != 0;
    int r = staging_open(ms->opt->cache_dir, &hw->staging);
    if (r == 0)
        r = pending_open(ms->meta, hw->staging, ms->repo_key, ms->revision, &hw->pending);
    if (r == 0)
        pending_set_durable(hw->pending, hw->durable_close);
    if (r < 0) {
        fprintf(stderr, "hubmount: cannot open the write journal: %s\n", strerror(-r));
        pending_free(hw->pending);
        staging_free(hw->staging);
        pthread_mutex_destroy(&hw->mu);
        free(hw);
        return r;
    }
    ms->hooks.ctx = hw;
    ms->hooks.open = hook_open;
    ms->hooks.read = hook_read;
    ms->hooks.release = hook_release;
    ms->hooks.lookup = hook_lookup;
    ms->hooks.list = hook_list;
    ms->hooks.attrs = hook_attrs;
    ms->hooks.status = hook_status;
    return 0;
}

int hm_write_start(struct mount_state *ms)
{
    struct hm_write *hw = ms->hooks.ctx;
    if (!hw)
        return 0;
    char head[HUB_SHA1_HEX];
    ms_commit_get(ms, head, NULL);
    struct commit_worker_config cfg = {
        .hub = hub_real_ops(ms->hub),
        .src = ms->src,
        .branch = ms->revision,
        .repo_key = ms->repo_key,
        .db = ms->meta,
        .blocks = ms->blocks,
        .staging = hw->staging,
        .pending = hw->pending,
        .head = head,
        .delay_ms = (unsigned)ms->opt->commit_delay * 1000u,
        .window_ms = (unsigned)ms->opt->commit_window * 1000u,
        .summary = ms->opt->commit_message,
        .progress_s = (unsigned)ms->opt->progress,
        .hooks = {.ctx = hw,
                  .head_get = cw_head_get,
                  .publish = cw_publish,
                  .settled = cw_settled,
                  .visited_dirs = cw_visited},
    };
    return commit_worker_start(&cfg, &hw->worker);
}

int hm_write_stop(struct mount_state *ms)
{
    struct hm_write *hw = ms->hooks.ctx;
    if (!hw)
        return 0;
    int r = 0;
    if (hw->worker) {
        struct commit_worker_status st;
        commit_worker_status(hw->worker, &st);
        if (st.pending.n_ops)
            hm_info("write: committing %zu pending change(s) before exit (at most %u s)",
                    st.pending.n_ops, HM_WRITE_DRAIN_TIMEOUT_MS / 1000);
        r = commit_worker_stop(hw->worker, HM_WRITE_DRAIN_TIMEOUT_MS);
        hw->worker = NULL;
        if (r < 0)
            hm_warn("write: exiting with uncommitted changes (%s); they stay in the journal "
                    "for the next mount",
                    strerror(-r));
    }
    if (r == -ETIMEDOUT)
        return r; /* the worker still uses the state below: leave it to exit() */
    memset(&ms->hooks, 0, sizeof(ms->hooks));
    pthread_mutex_lock(&hw->mu);
    while (hw->fhs) { /* never released: the session ended with them open */
        struct hm_write_fh *fh = hw->fhs;
        fh_untrack_locked(hw, fh);
        if (fh->rfd >= 0)
            close(fh->rfd);
        if (fh->rf)
            reader_file_free(fh->rf);
        free(fh);
    }
    while (hw->wfiles) {
        struct wfile *wf = hw->wfiles;
        hw->wfiles = wf->next;
        if (!wf->journaled)
            (void)staging_remove(hw->staging, wf->staging);
        wfile_free(wf);
    }
    while (hw->reuse) {
        struct reuse_src *x = hw->reuse;
        hw->reuse = x->next;
        free(x->path);
        free(x);
    }
    pthread_mutex_unlock(&hw->mu);
    pending_free(hw->pending);
    staging_free(hw->staging);
    pthread_mutex_destroy(&hw->mu);
    free(hw);
    return r;
}

void hm_ops_write_fill(struct fuse_lowlevel_ops *ops)
{
    ops->create = hw_create;
    ops->mknod = hw_mknod;
    ops->write = hw_write;
    ops->flush = hw_flush;
    ops->fsync = hw_fsync;
    ops->fsyncdir = hw_fsyncdir;
    ops->setattr = hw_setattr;
    ops->mkdir = hw_mkdir;
    ops->rmdir = hw_rmdir;
    ops->unlink = hw_unlink;
    ops->rename = hw_rename;
    ops->symlink = hw_symlink;
    ops->link = hw_link;
}
