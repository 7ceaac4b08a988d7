/* ops_write_ns.c — namespace changes on a writable branch mount: mkdir,
 * rmdir, unlink, rename; symlink and link are refused.
 *
 * Each handler checks permission first (EROFS on read-only mounts, EACCES
 * when the token may not write: before anything changes), decides from the
 * mount's view (local overlay + pending changes + the current commit),
 * records the change in the journal, then fixes the inode table.
 *
 * How they reach the Hub:
 *   unlink      deletedFile (a never-committed file just disappears)
 *   rmdir       deletedFolder when the Hub has the folder, else local only
 *   mkdir       local only (overlay) until a file lands below it
 *   rename      pending file: local only (rsync's temp names never commit);
 *               committed LFS file: add reusing its sha256 + delete (no
 *               upload); committed regular file: its bytes are staged again
 *               + delete; folder: all of that for its content + one
 *               deletedFolder, held together so one commit carries it
 *   symlink, link: EPERM — a Hub repo stores regular files only. */
#include "journal.h"
#include "log.h"
#include "meta.h"
#include "tree.h"
#include "write_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Permission + path; replies the error itself and returns false on failure. */
static bool begin(fuse_req_t req, fuse_ino_t parent, const char *name, struct hm_write **hw_out,
                  char **path)
{
    struct mount_state *ms = fuse_req_userdata(req);
    struct hm_write *hw = ms->hooks.ctx;
    int e = ms_write_errno(ms);
    if (e || !hw) {
        fuse_reply_err(req, e ? e : EROFS);
        return false;
    }
    int r = hw_child_path(ms, parent, name, path);
    if (r < 0) {
        free(*path);
        *path = NULL;
        fuse_reply_err(req, -r);
        return false;
    }
    *hw_out = hw;
    return true;
}

static bool at_or_under(const char *path, const char *dir)
{
    size_t dl = strlen(dir);
    return strncmp(path, dir, dl) == 0 && (path[dl] == '\0' || path[dl] == '/');
}

int hw_dir_nonempty(struct hm_write *hw, const char *path, bool *nonempty);

struct any_child {
    bool found;
};

static int note_child(void *arg, const char *name, const struct node_local *l)
{
    (void)name;
    struct any_child *a = arg;
    if (l)
        a->found = true;
    return 0;
}

int hw_dir_nonempty(struct hm_write *hw, const char *path, bool *nonempty)
{
    struct mount_state *ms = hw->ms;
    *nonempty = false;
    /* local children: pending files, open files, local directories */
    struct any_child a = {0};
    int r = ms->hooks.list ? ms->hooks.list(hw, path, note_child, &a) : 0;
    if (r < 0)
        return r;
    if (a.found) {
        *nonempty = true;
        return 0;
    }
    /* remote children that are not deleted locally */
    if (pending_under_deleted_folder(hw->pending, path))
        return 0;
    char commit[HUB_SHA1_HEX];
    ms_commit_get(ms, commit, NULL);
    /* Only a folder of the commit has remote children.  `path` may be a
     * committed FILE deleted here and replaced by a local directory: listing
     * it as a folder asks the Hub for a tree it answers with the file
     * itself (EIO for rmdir of that directory). */
    struct hub_entry self;
    r = tree_entry(ms, commit, path, &self);
    if (r == -ENOENT || r == -ENOTDIR)
        return 0;
    if (r < 0)
        return r;
    bool folder = self.is_dir;
    meta_entry_clear(&self);
    if (!folder)
        return 0;
    struct hub_entries l;
    r = tree_list(ms, commit, path, &l);
    if (r == -ENOENT || r == -ENOTDIR)
        return 0;
    if (r < 0)
        return r;
    for (size_t i = 0; i < l.n && !*nonempty && r == 0; i++) {
        if (pending_stat(hw->pending, l.v[i].path, NULL) != PENDING_DELETED) {
            *nonempty = true;
            continue;
        }
        /* deleted here, but a directory may have been made at its name: the
         * list hook leaves a directory where the commit has an entry to the
         * read path, so it was not among the local children above */
        int kind = 0;
        bool remote_here;
        r = hw_resolve(hw, l.v[i].path, &kind, &remote_here, NULL);
        if (r == 0 && kind)
            *nonempty = true;
    }
    hub_entries_free(&l);
    return r;
}

void hw_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct hm_write *hw;
    char *path = NULL;
    if (!begin(req, parent, name, &hw, &path))
        return;
    struct mount_state *ms = hw->ms;
    int kind;
    bool remote_here;
    int r = hw_resolve(hw, path, &kind, &remote_here, NULL);
    if (r == 0 && kind)
        r = -EEXIST;
    if (r < 0)
        goto out;
    struct overlay_entry o = {.path = path, .is_dir = true};
    mode_t perm = mode & 07777;
    if (perm && perm != HM_DEFAULT_DIR_PERM) {
        o.fields |= OVERLAY_MODE;
        o.mode = perm;
    }
    /* durable: an empty directory survives a remount until a file lands */
    r = overlay_put(ms->meta, ms->repo_key, ms->revision, &o);
    if (r < 0)
        goto out;
    struct node_local l = {.is_dir = true, .perm = o.fields & OVERLAY_MODE ? perm : 0,
                           .mtime = (int64_t)time(NULL)};
    fuse_ino_t ino = 0;
    r = node_ref_local(ms->nodes, path, &l, 1, &ino);
    if (r < 0)
        goto out;
    struct fuse_entry_param e;
    r = hm_entry_fill(ms, ino, &e);
    if (r < 0) {
        node_forget(ms->nodes, ino, 1);
        goto out;
    }
    free(path);
    fuse_reply_entry(req, &e);
    return;
out:
    free(path);
    fuse_reply_err(req, -r);
}

/* POSIX keeps a directory until rmdir, but the Hub has no empty folders: a
 * committed folder whose last entry is deleted or moved away would vanish
 * at the next commit, under a program about to write into it.  An overlay
 * directory row (what mkdir leaves) keeps the parent of `path` in the view;
 * rmdir removes it.  synchronous=NORMAL like renames: a power loss may take
 * it back, a crash of the daemon does not. */
static void keep_parent_dir(struct hm_write *hw, const char *path)
{
    struct mount_state *ms = hw->ms;
    const char *slash = strrchr(path, '/');
    if (!slash)
        return; /* the root always exists */
    char *parent = strndup(path, (size_t)(slash - path));
    if (!parent)
        return;
    struct overlay_entry o;
    memset(&o, 0, sizeof(o));
    int r = overlay_get(ms->meta, ms->repo_key, ms->revision, parent, &o);
    if (r == 0 && o.is_dir)
        goto out;
    if (r < 0 && r != -ENOENT)
        goto out;
    /* keep the attributes a chmod/utimens left on the row */
    char *keep = o.path;
    o.path = parent;
    o.is_dir = true;
    r = overlay_put_attrs(ms->meta, ms->repo_key, ms->revision, &o);
    o.path = keep;
    if (r < 0)
        hm_warn("%s: directory not kept after its last entry: %s", parent, strerror(-r));
out:
    overlay_entry_clear(&o);
    free(parent);
}

static void unhash_path(struct hm_write *hw, const char *path)
{
    fuse_ino_t ino = node_find(hw->ms->nodes, path);
    if (ino)
        node_unhash(hw->ms->nodes, ino);
}

/* rmdir of an empty directory of the view (no reply). */
static int remove_empty_dir(struct hm_write *hw, const char *path, bool remote_here)
{
    struct mount_state *ms = hw->ms;
    int r = 0;
    /* An empty remote folder here means all its files are deleted locally:
     * one deletedFolder replaces their deletedFile operations. */
    if (remote_here)
        r = pending_delete(hw->pending, path, true, true);
    if (r == 0)
        r = overlay_delete(ms->meta, ms->repo_key, ms->revision, path, true);
    return r;
}

void hw_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct hm_write *hw;
    char *path = NULL;
    if (!begin(req, parent, name, &hw, &path))
        return;
    int kind;
    bool remote_here, nonempty = false;
    int r = hw_resolve(hw, path, &kind, &remote_here, NULL);
    if (r == 0 && kind == 0)
        r = -ENOENT;
    if (r == 0 && kind == 1)
        r = -ENOTDIR;
    if (r == 0)
        r = hw_dir_nonempty(hw, path, &nonempty);
    if (r == 0 && nonempty)
        r = -ENOTEMPTY;
    if (r == 0)
        r = remove_empty_dir(hw, path, remote_here);
    if (r == 0) {
        keep_parent_dir(hw, path);
        unhash_path(hw, path);
        if (hw->worker)
            commit_worker_notify(hw->worker);
    }
    free(path);
    fuse_reply_err(req, -r);
}

void hw_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct hm_write *hw;
    char *path = NULL;
    if (!begin(req, parent, name, &hw, &path))
        return;
    struct mount_state *ms = hw->ms;
    int kind;
    bool remote_here;
    int r = hw_resolve(hw, path, &kind, &remote_here, NULL);
    if (r == 0 && kind == 0)
        r = -ENOENT;
    if (r == 0 && kind == 2)
        r = -EISDIR;
    if (r < 0)
        goto out;
    /* a file still open keeps its descriptor; it is just never recorded */
    pthread_mutex_lock(&hw->mu);
    for (struct wfile *wf = hw->wfiles; wf; wf = wf->next)
        if (!wf->unlinked && strcmp(wf->path, path) == 0)
            wf->unlinked = true;
    pthread_mutex_unlock(&hw->mu);
    r = pending_delete(hw->pending, path, false, remote_here);
    if (r == 0)
        (void)overlay_delete(ms->meta, ms->repo_key, ms->revision, path, false);
    if (r == 0) {
        keep_parent_dir(hw, path);
        unhash_path(hw, path);
        if (hw->worker)
            commit_worker_notify(hw->worker);
    }
out:
    free(path);
    fuse_reply_err(req, -r);
}

void hw_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    (void)link;
    (void)parent;
    (void)name;
    struct mount_state *ms = fuse_req_userdata(req);
    int e = ms_write_errno(ms);
    fuse_reply_err(req, e ? e : EPERM);
}

void hw_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino;
    (void)newparent;
    (void)newname;
    struct mount_state *ms = fuse_req_userdata(req);
    int e = ms_write_errno(ms);
    fuse_reply_err(req, e ? e : EPERM);
}

/* ---- rename ---------------------------------------------------------------------------- */

/* Committed file `src` (entry e) moves to `dst`: reuse its LFS object, or
 * stage its bytes again; then delete it. */
static int move_remote_file(struct hm_write *hw, const char *src, const struct hub_entry *e,
                            const char *commit, const char *dst)
{
    int r;
    if (e->is_lfs && e->sha256[0]) {
        r = pending_add_reuse(hw->pending, dst, e->sha256, e->size);
        if (r == 0)
            hw_reuse_note(hw, e, src, commit);
    } else {
        r = hw_copy_remote(hw, src, e, commit, dst);
    }
    return r;
}

static char *rebase_path(const char *path, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to), rest = strlen(path + fl);
    char *p = malloc(tl + rest + 1);
    if (!p)
        return NULL;
    memcpy(p, to, tl);
    memcpy(p + tl, path + fl, rest + 1);
    return p;
}

/* A rename may run while our commit worker lands an attempt (the rename
 * holds the worker: no attempt starts, but one already running goes on).
 * Landing switches the mount's commit first and only then drops the
 * attempt's rows from the pending index.  So a file changed or deleted
 * here, pending when the rename resolved it, may look untouched at the
 * commit read before; reusing that commit's entry would bring its OLD
 * bytes back at the new name.  The commit read before resolving src, if it
 * is no longer the mount's, says that such a landing may have happened. */
static bool commit_moved(struct mount_state *ms, const char *since)
{
    char now[HUB_SHA1_HEX];
    ms_commit_get(ms, now, NULL);
    return strcmp(now, since) != 0;
}

/* src's content has moved away: record the delete of src.  remote: the Hub
 * had src at `commit`, where it was resolved.  Otherwise pending_delete
 * records one only while an attempt holding content of src is in flight;
 * if that attempt landed first, src is on the Hub now, which a moved
 * commit read AFTER pending_delete tells (see commit_moved).  The worker
 * drops a delete of a path the Hub does not have. */
static int delete_src(struct hm_write *hw, const char *src, bool folder, bool remote,
                      const char *commit)
{
    int r = pending_delete(hw->pending, src, folder, remote);
    if (r == 0 && !remote && commit_moved(hw->ms, commit))
        r = pending_delete(hw->pending, src, folder, true);
    return r;
}

static int rename_file(struct hm_write *hw, const char *src, const char *dst, bool remote_src,
                       const struct hub_entry *se, const char *commit)
{
    struct mount_state *ms = hw->ms;
    size_t moved = 0;
    /* open files follow their name; one being replaced is never recorded */
    pthread_mutex_lock(&hw->mu);
    for (struct wfile *wf = hw->wfiles; wf; wf = wf->next) {
        if (wf->unlinked)
            continue;
        if (strcmp(wf->path, dst) == 0) {
            wf->unlinked = true;
        } else if (strcmp(wf->path, src) == 0) {
            char *np = strdup(dst);
            if (np) {
                free(wf->path);
                wf->path = np;
            }
        }
    }
    pthread_mutex_unlock(&hw->mu);
    int r = pending_rename(hw->pending, src, dst, &moved);
    if (r < 0)
        return r;
    struct hub_entry now_e;
    memset(&now_e, 0, sizeof(now_e));
    char now[HUB_SHA1_HEX];
    ms_commit_get(ms, now, NULL);
    if (moved == 0 && strcmp(now, commit) != 0) {
        /* Nothing pending to move, but src's pending content may have
         * landed since src was resolved (see commit_moved): src is then the
         * new commit's file, not the entry resolved before. */
        int tr = tree_entry(ms, now, src, &now_e);
        if (tr == 0 && !now_e.is_dir) {
            remote_src = true;
            se = &now_e;
            commit = now;
        } else if (tr < 0 && tr != -ENOENT && tr != -ENOTDIR) {
            r = tr;
        }
    }
    if (r == 0 && moved == 0 && remote_src) {
        r = move_remote_file(hw, src, se, commit, dst);
        if (r == 0)
            r = pending_delete(hw->pending, src, false, true);
    } else if (r == 0 && moved) {
        /* the pending content moved away; a committed file there (or one an
         * attempt in flight is landing) goes too */
        r = delete_src(hw, src, false, remote_src, commit);
    }
    meta_entry_clear(&now_e);
    if (r == 0) {
        /* the file's mode/times follow it (rsync sets them on the temp name) */
        int orr = overlay_rename_file_attrs(ms->meta, ms->repo_key, ms->revision, src, dst);
        if (orr < 0)
            hm_warn("rename: attributes of %s not moved: %s", src, strerror(-orr));
    }
    return r;
}

/* Every committed file below folder src at the mount's commit (*at);
 * *busy = an attempt of ours was running when the listing began. */
static int list_below(struct hm_write *hw, const char *src, char at[HUB_SHA1_HEX], bool *busy,
                      struct hub_entries *out)
{
    struct mount_state *ms = hw->ms;
    memset(out, 0, sizeof(*out));
    *busy = false;
    if (hw->worker) {
        struct commit_worker_status st;
        commit_worker_status(hw->worker, &st);
        *busy = st.committing;
    }
    ms_commit_get(ms, at, NULL);
    int r = hub_list_tree(ms->hub, &ms->src, at, src, true, out);
    if (r == -ENOENT || r == -ENOTDIR)
        r = 0; /* no such folder at `at`: src was local, or is gone */
    if (r < 0) {
        hub_entries_free(out);
        memset(out, 0, sizeof(*out));
    }
    return r;
}

/* Keeps, of list_below's entries, the files that rename_dir must move to
 * dst itself (after pending_rename): not deleted here, no pending add at
 * src (one an attempt holds stays there, its copy at dst) nor at dst. */
static int keep_to_move(struct hm_write *hw, const char *src, const char *dst,
                        struct hub_entries *all)
{
    size_t sl = strlen(src), k = 0;
    for (size_t i = 0; i < all->n; i++) {
        struct hub_entry *x = &all->v[i];
        /* strictly below src: where the commit has a FILE src (deleted here,
         * a directory made in its place), the Hub answers with that file */
        bool keep = !x->is_dir && strncmp(x->path, src, sl) == 0 && x->path[sl] == '/' &&
                    pending_stat(hw->pending, x->path, NULL) == PENDING_UNKNOWN &&
                    !pending_under_deleted_folder(hw->pending, x->path);
        if (keep) {
            char *np = rebase_path(x->path, src, dst);
            if (!np)
                return -ENOMEM;
            /* dst may be a deleted folder of the commit: PENDING_DELETED
             * below it is no add */
            enum pending_state ds = pending_stat(hw->pending, np, NULL);
            keep = ds != PENDING_FILE && ds != PENDING_DIR;
            free(np);
        }
        if (!keep) {
            meta_entry_clear(x);
            continue;
        }
        if (k != i) {
            all->v[k] = *x;
            memset(x, 0, sizeof(*x));
        }
        k++;
    }
    all->n = k;
    return 0;
}

/* True when a folder delete is pending at `path` itself, not only above it:
 * a folder of the commit deleted here (renamed away) and made again. */
static bool deleted_folder_at(struct hm_write *hw, const char *path)
{
    if (!pending_under_deleted_folder(hw->pending, path))
        return false;
    const char *slash = strrchr(path, '/');
    if (!slash)
        return true;
    char *parent = strndup(path, (size_t)(slash - path));
    if (!parent)
        return false;
    bool above = pending_under_deleted_folder(hw->pending, parent);
    free(parent);
    return !above;
}

static int rename_dir(struct hm_write *hw, const char *src, const char *dst, bool remote_src,
                      const char *commit)
{
    struct mount_state *ms = hw->ms;
    struct hub_entries all = {0};
    char at[HUB_SHA1_HEX];
    bool busy = true;
    int r = 0;
    /* committed files: listed before anything changes, so that a Hub error
     * fails the rename with nothing done */
    if (remote_src)
        r = list_below(hw, src, at, &busy, &all);
    else
        memcpy(at, commit, sizeof(at));
    /* then the pending files move (a copy when an attempt holds one), and
     * only then is the listing sorted out: the pending content that moved
     * is seen at dst, also if its attempt has landed meanwhile */
    size_t moved = 0;
    if (r == 0)
        r = pending_rename(hw->pending, src, dst, &moved);
    if (r == 0)
        r = keep_to_move(hw, src, dst, &all);
    /* A listing at a commit that moved before the checks ended may be
     * older than an attempt of ours that landed meanwhile (see
     * commit_moved): a file changed or deleted here then looks untouched
     * in it (its old bytes would come back at dst), and a src local when
     * resolved may have committed files now.  So list again until the
     * mount's commit stays put during a listing and its checks, or no
     * attempt of ours was running when it began (none starts while the
     * rename holds the worker; another client's commit takes no row out).
     * Each round needs a new commit and the running attempt ends: the loop
     * ends. */
    while (r == 0 && busy && commit_moved(ms, at)) {
        hm_debug("rename: the commit moved since %s was listed at %.12s: listing again", src,
                 at);
        hub_entries_free(&all);
        r = list_below(hw, src, at, &busy, &all);
        if (r == 0)
            r = keep_to_move(hw, src, dst, &all);
    }
    for (size_t i = 0; i < all.n && r == 0; i++) {
        const struct hub_entry *x = &all.v[i];
        char *np = rebase_path(x->path, src, dst);
        if (!np) {
            r = -ENOMEM;
            break;
        }
        r = move_remote_file(hw, x->path, x, at, np);
        free(np);
    }
    hub_entries_free(&all);
    if (r < 0)
        return r;
    pthread_mutex_lock(&hw->mu);
    for (struct wfile *wf = hw->wfiles; wf; wf = wf->next) {
        if (wf->unlinked || !at_or_under(wf->path, src))
            continue;
        char *np = rebase_path(wf->path, src, dst);
        if (np) {
            free(wf->path);
            wf->path = np;
        }
    }
    pthread_mutex_unlock(&hw->mu);
    /* a deletedFolder when the Hub has src, or an attempt in flight is
     * putting files there.  Also when src is a folder of the commit that was
     * renamed away and back: resolving finds it hidden (not remote) by the
     * delete recorded then, and a delete of src without remote_exists would
     * drop that one and record none, so the commit's files at src came back. */
    r = delete_src(hw, src, true, remote_src || deleted_folder_at(hw, src), commit);
    if (r == 0) {
        (void)overlay_rename(ms->meta, ms->repo_key, ms->revision, src, dst);
        /* keep dst a directory of the view even if src had no files */
        struct overlay_entry o;
        memset(&o, 0, sizeof(o));
        if (overlay_get(ms->meta, ms->repo_key, ms->revision, dst, &o) == -ENOENT) {
            struct overlay_entry d = {.path = (char *)dst, .is_dir = true};
            r = overlay_put(ms->meta, ms->repo_key, ms->revision, &d);
        } else if (!o.is_dir) {
            char *keep = o.path;
            o.path = (char *)dst;
            o.is_dir = true;
            r = overlay_put(ms->meta, ms->repo_key, ms->revision, &o);
            o.path = keep;
        }
        overlay_entry_clear(&o);
    }
    return r;
}

void hw_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
               const char *newname, unsigned int flags)
{
    struct hm_write *hw;
    char *src = NULL, *dst = NULL;
    if (flags & ~RENAME_NOREPLACE) {
        fuse_reply_err(req, EINVAL); /* RENAME_EXCHANGE, WHITEOUT: not supported */
        return;
    }
    if (!begin(req, parent, name, &hw, &src))
        return;
    struct mount_state *ms = hw->ms;
    int r = hw_child_path(ms, newparent, newname, &dst);
    int skind = 0, dkind = 0;
    bool sremote = false, dremote = false;
    struct hub_entry se;
    memset(&se, 0, sizeof(se));
    bool held = false;
    if (r < 0)
        goto out;
    if (strcmp(src, dst) == 0)
        goto out;
    if (hw->worker) {
        /* one commit for the whole rename: no attempt starts meanwhile (one
         * already running is not waited for: see pending_rename) */
        commit_worker_hold(hw->worker);
        held = true;
    }
    {
        /* the commit src is resolved at, read before resolving (see commit_moved) */
        char commit[HUB_SHA1_HEX];
        ms_commit_get(ms, commit, NULL);
        meta_entry_clear(&se);
        r = hw_resolve(hw, src, &skind, &sremote, &se);
        if (r == 0 && skind == 0)
            r = -ENOENT;
        if (r == 0 && skind == 2 && at_or_under(dst, src))
            r = -EINVAL; /* into itself */
        if (r == 0)
            r = hw_resolve(hw, dst, &dkind, &dremote, NULL);
        if (r == 0 && dkind && (flags & RENAME_NOREPLACE))
            r = -EEXIST;
        if (r == 0 && skind == 1 && dkind == 2)
            r = -EISDIR;
        if (r == 0 && skind == 2 && dkind == 1)
            r = -ENOTDIR;
        if (r == 0 && skind == 2 && dkind == 2) {
            bool nonempty = false;
            r = hw_dir_nonempty(hw, dst, &nonempty);
            if (r == 0 && nonempty)
                r = -ENOTEMPTY;
            if (r == 0)
                r = remove_empty_dir(hw, dst, dremote);
        }
        if (r < 0)
            goto out;
        r = skind == 1 ? rename_file(hw, src, dst, sremote, &se, commit)
                       : rename_dir(hw, src, dst, sremote, commit);
    }
    if (r < 0)
        goto out;
    keep_parent_dir(hw, src);
    fuse_ino_t ino = node_find(ms->nodes, src);
    if (ino) {
        int nr = node_rename(ms->nodes, ino, dst);
        if (nr < 0)
            hm_debug("rename: inode table: %s", strerror(-nr));
    } else {
        unhash_path(hw, dst);
    }
    hw_node_refresh(hw, dst);
out:
    if (held) {
        commit_worker_unhold(hw->worker);
        if (r == 0)
            commit_worker_notify(hw->worker);
    }
    meta_entry_clear(&se);
    free(src);
    free(dst);
    fuse_reply_err(req, -r);
}
