/* noise.c — keeps file-manager noise (noise.h) out of commits and off the
 * network, for single-repo mounts and for every repo of a namespace mount.
 *
 * The rules sit in thin wrappers around the repo handlers rather than in
 * them, so the read and write paths stay unaware of desktop conventions. */
#include "noise.h"

#include "meta.h"
#include "mount_state.h"
#include "node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool hm_noise_name(const char *name)
{
    static const char *const exact[] = {".DS_Store", ".directory", ".hidden", ".Trash"};
    static const char *const nocase[] = {"Thumbs.db", "desktop.ini", "ehthumbs.db"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(name, exact[i]) == 0)
            return true;
    for (size_t i = 0; i < sizeof nocase / sizeof nocase[0]; i++)
        if (strcasecmp(name, nocase[i]) == 0)
            return true;
    /* .Trash-1000 (freedesktop per-user trash), ._foo (AppleDouble) */
    return strncmp(name, ".Trash-", 7) == 0 || strncmp(name, "._", 2) == 0;
}

/* The repo handlers being wrapped (one session per process). */
static struct fuse_lowlevel_ops inner;

/* Is `name` in `parent` a committed entry the metadata cache already knows?
 * (A repo may really contain a .DS_Store; if its folder was listed, it is
 * shown.)  Never asks the Hub. */
static bool committed_here(struct mount_state *ms, fuse_ino_t parent, const char *name)
{
    struct node_info pi;
    if (node_get(ms->nodes, parent, &pi) < 0)
        return false;
    bool found = false;
    char *path = pi.is_dir ? node_path_join(pi.path, name) : NULL;
    if (path) {
        char commit[HUB_SHA1_HEX];
        ms_commit_get(ms, commit, NULL);
        struct hub_entry e;
        if (meta_entry_get(ms->meta, ms->repo_key, commit, path, &e) == 0) {
            found = true;
            meta_entry_clear(&e);
        }
    }
    free(path);
    node_info_clear(&pi);
    return found;
}

static void noise_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct mount_state *ms = fuse_req_userdata(req);
    if (!hm_noise_name(name) || committed_here(ms, parent, name)) {
        inner.lookup(req, parent, name);
        return;
    }
    /* A negative entry the kernel keeps: file managers ask again and again. */
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = 0;
    e.entry_timeout = ms->entry_timeout > 0 ? ms->entry_timeout : 1.0;
    fuse_reply_entry(req, &e);
}

static void noise_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                         struct fuse_file_info *fi)
{
    if (hm_noise_name(name))
        fuse_reply_err(req, EPERM);
    else
        inner.create(req, parent, name, mode, fi);
}

static void noise_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                        dev_t rdev)
{
    if (hm_noise_name(name))
        fuse_reply_err(req, EPERM);
    else
        inner.mknod(req, parent, name, mode, rdev);
}

static void noise_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    if (hm_noise_name(name))
        fuse_reply_err(req, EPERM);
    else
        inner.mkdir(req, parent, name, mode);
}

static void noise_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    if (hm_noise_name(name))
        fuse_reply_err(req, EPERM);
    else
        inner.symlink(req, link, parent, name);
}

static void noise_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    if (hm_noise_name(newname))
        fuse_reply_err(req, EPERM);
    else
        inner.link(req, ino, newparent, newname);
}

static void noise_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                         fuse_ino_t newparent, const char *newname, unsigned int flags)
{
    /* Renaming a committed noise file away is fine; making one is not. */
    if (hm_noise_name(newname))
        fuse_reply_err(req, EPERM);
    else
        inner.rename(req, parent, name, newparent, newname, flags);
}

void hm_noise_wrap(struct fuse_lowlevel_ops *ops)
{
    inner = *ops;
    if (ops->lookup)
        ops->lookup = noise_lookup;
    if (ops->create)
        ops->create = noise_create;
    if (ops->mknod)
        ops->mknod = noise_mknod;
    if (ops->mkdir)
        ops->mkdir = noise_mkdir;
    if (ops->symlink)
        ops->symlink = noise_symlink;
    if (ops->link)
        ops->link = noise_link;
    if (ops->rename)
        ops->rename = noise_rename;
}
