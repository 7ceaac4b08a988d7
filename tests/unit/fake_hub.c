/* fake_hub.c — the in-memory Hub of fake_hub.h. */
#include "fake_hub.h"

#include "../../fs/staging.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct fake_snapshot *head_snap(struct fake_hub *fh)
{
    return fh->snaps[fh->n_snaps - 1];
}

static struct fake_snapshot *find_snap(struct fake_hub *fh, const char *sha)
{
    if (!sha || !*sha)
        return head_snap(fh);
    for (size_t i = 0; i < fh->n_snaps; i++)
        if (strcmp(fh->snaps[i]->sha, sha) == 0)
            return fh->snaps[i];
    return NULL;
}

static struct fake_file *snap_find(struct fake_snapshot *s, const char *path)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->files[i].path, path) == 0)
            return &s->files[i];
    return NULL;
}

static void snap_remove_at(struct fake_snapshot *s, size_t i)
{
    free(s->files[i].data);
    s->files[i] = s->files[s->n - 1];
    s->n--;
}

/* Starts a new snapshot as a deep copy of head (caller holds mu). */
static struct fake_snapshot *snap_begin(struct fake_hub *fh)
{
    struct fake_snapshot *cur = head_snap(fh);
    struct fake_snapshot *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    *s = *cur;
    for (size_t i = 0; i < s->n; i++)
        if (cur->files[i].data)
            s->files[i].data = strdup(cur->files[i].data);
    snprintf(s->sha, sizeof(s->sha), "%040zx", (size_t)0xc0ffee00u + fh->n_snaps);
    return s;
}

static void snap_free(struct fake_snapshot *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->files[i].data);
    free(s);
}

static void snap_put(struct fake_snapshot *s, const struct fake_file *f)
{
    struct fake_file *old = snap_find(s, f->path);
    if (old) {
        free(old->data);
        *old = *f;
        return;
    }
    if (s->n < FAKE_MAX_FILES)
        s->files[s->n++] = *f;
}

static void regular_file(struct fake_file *f, const char *path, const char *content)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "%s", path);
    f->size = strlen(content);
    f->data = strdup(content);
    /* hash through a temp file: the same code the worker uses */
    char tmp[] = "/tmp/hm-fake-XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0)
        abort();
    if (staging_pwrite(fd, content, f->size, 0) < 0 ||
        staging_hash_file(tmp, f->sha256, f->oid, NULL) < 0)
        abort();
    close(fd);
    unlink(tmp);
}

void fake_hub_init(struct fake_hub *fh)
{
    memset(fh, 0, sizeof(*fh));
    pthread_mutex_init(&fh->mu, NULL);
    snprintf(fh->src.repo_id, sizeof(fh->src.repo_id), "acme/tiny");
    fh->src.type = HUB_REPO_MODEL;
    fh->lfs_threshold = 1024;
    struct fake_snapshot *s = calloc(1, sizeof(*s));
    if (!s)
        abort();
    snprintf(s->sha, sizeof(s->sha), "%040x", 0xc0ffee00u);
    struct fake_file ga;
    regular_file(&ga, ".gitattributes", "*.bin filter=lfs diff=lfs merge=lfs -text\n");
    snap_put(s, &ga);
    fh->snaps[fh->n_snaps++] = s;
}

void fake_hub_free(struct fake_hub *fh)
{
    for (size_t i = 0; i < fh->n_snaps; i++)
        snap_free(fh->snaps[i]);
    pthread_mutex_destroy(&fh->mu);
}

const char *fake_hub_head(struct fake_hub *fh)
{
    return head_snap(fh)->sha;
}

static void push_snap(struct fake_hub *fh, struct fake_snapshot *s, const char *parent,
                      const char *summary, bool by_us)
{
    if (fh->n_snaps >= FAKE_MAX_COMMITS || fh->n_commits >= FAKE_MAX_COMMITS)
        abort();
    fh->snaps[fh->n_snaps++] = s;
    struct fake_commit_rec *rec = &fh->commits[fh->n_commits++];
    snprintf(rec->parent, sizeof(rec->parent), "%s", parent);
    snprintf(rec->summary, sizeof(rec->summary), "%s", summary);
    rec->by_us = by_us;
}

static void foreign_locked(struct fake_hub *fh, const char *path, const char *content)
{
    struct fake_snapshot *s = snap_begin(fh);
    struct fake_file f;
    regular_file(&f, path, content);
    snap_put(s, &f);
    char parent[HUB_SHA1_HEX];
    snprintf(parent, sizeof(parent), "%s", head_snap(fh)->sha);
    push_snap(fh, s, parent, "foreign", false);
}

void fake_hub_foreign_commit(struct fake_hub *fh, const char *path, const char *content)
{
    pthread_mutex_lock(&fh->mu);
    foreign_locked(fh, path, content);
    pthread_mutex_unlock(&fh->mu);
}

void fake_hub_foreign_lfs(struct fake_hub *fh, const char *path, uint64_t size, const char *sha256)
{
    pthread_mutex_lock(&fh->mu);
    struct fake_snapshot *s = snap_begin(fh);
    struct fake_file f;
    memset(&f, 0, sizeof(f));
    snprintf(f.path, sizeof(f.path), "%s", path);
    f.size = size;
    f.lfs = true;
    snprintf(f.sha256, sizeof(f.sha256), "%s", sha256);
    if (staging_lfs_pointer_oid(sha256, size, f.oid) < 0)
        abort();
    snap_put(s, &f);
    char parent[HUB_SHA1_HEX];
    snprintf(parent, sizeof(parent), "%s", head_snap(fh)->sha);
    push_snap(fh, s, parent, "foreign lfs", false);
    pthread_mutex_unlock(&fh->mu);
}

const struct fake_file *fake_hub_file(struct fake_hub *fh, const char *path)
{
    pthread_mutex_lock(&fh->mu);
    const struct fake_file *f = snap_find(head_snap(fh), path);
    pthread_mutex_unlock(&fh->mu);
    return f;
}

int fake_hub_our_commits(struct fake_hub *fh)
{
    int n = 0;
    pthread_mutex_lock(&fh->mu);
    for (size_t i = 0; i < fh->n_commits; i++)
        n += fh->commits[i].by_us;
    pthread_mutex_unlock(&fh->mu);
    return n;
}

/* ---- hub_ops ----------------------------------------------------------- */

static int f_repo_info(void *ctx, const struct hub_source *src, const char *revision,
                       struct hub_repo_info *out)
{
    struct fake_hub *fh = ctx;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&fh->mu);
    snprintf(out->sha, sizeof(out->sha), "%s", head_snap(fh)->sha);
    pthread_mutex_unlock(&fh->mu);
    return 0;
}

static int push_entry(struct hub_entries *out, const struct fake_file *f)
{
    struct hub_entry e;
    memset(&e, 0, sizeof(e));
    e.path = (char *)f->path;
    e.size = f->size;
    e.is_lfs = f->lfs;
    snprintf(e.oid, sizeof(e.oid), "%s", f->oid);
    if (f->lfs)
        snprintf(e.sha256, sizeof(e.sha256), "%s", f->sha256);
    return hub_entries_push(out, &e);
}

static int push_dir(struct hub_entries *out, const char *path, size_t len)
{
    for (size_t i = 0; i < out->n; i++)
        if (out->v[i].is_dir && strlen(out->v[i].path) == len &&
            strncmp(out->v[i].path, path, len) == 0)
            return 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%.*s", (int)len, path);
    struct hub_entry e;
    memset(&e, 0, sizeof(e));
    e.path = buf;
    e.is_dir = true;
    snprintf(e.oid, sizeof(e.oid), "%040d", 7);
    return hub_entries_push(out, &e);
}

static int f_list_tree(void *ctx, const struct hub_source *src, const char *commit,
                       const char *dir, bool recursive, struct hub_entries *out)
{
    struct fake_hub *fh = ctx;
    int ret = 0;
    size_t dl = strlen(dir);
    pthread_mutex_lock(&fh->mu);
    struct fake_snapshot *s = find_snap(fh, commit);
    if (!s) {
        ret = -ENOENT;
        goto out;
    }
    bool found = dl == 0;
    for (size_t i = 0; i < s->n && ret == 0; i++) {
        const char *p = s->files[i].path;
        if (dl && (strncmp(p, dir, dl) != 0 || p[dl] != '/'))
            continue;
        found = true;
        const char *rest = p + (dl ? dl + 1 : 0);
        const char *slash = strchr(rest, '/');
        if (!slash || recursive)
            ret = push_entry(out, &s->files[i]);
        if (ret == 0 && slash)
            ret = push_dir(out, p, (size_t)(slash - p));
        /* recursive: every intermediate directory */
        for (const char *q = slash; recursive && q && ret == 0; q = strchr(q + 1, '/'))
            ret = push_dir(out, p, (size_t)(q - p));
    }
    if (!found)
        ret = -ENOENT;
out:
    pthread_mutex_unlock(&fh->mu);
    return ret;
}

static int f_paths_info(void *ctx, const struct hub_source *src, const char *commit,
                        const char *const *paths, size_t n_paths, struct hub_entries *out)
{
    struct fake_hub *fh = ctx;
    int ret = 0;
    pthread_mutex_lock(&fh->mu);
    struct fake_snapshot *s = find_snap(fh, commit);
    if (!s) {
        ret = -ENOENT;
        goto out;
    }
    for (size_t k = 0; k < n_paths && ret == 0; k++) {
        struct fake_file *f = snap_find(s, paths[k]);
        if (f) {
            ret = push_entry(out, f);
            continue;
        }
        size_t pl = strlen(paths[k]);
        for (size_t i = 0; i < s->n; i++) {
            if (strncmp(s->files[i].path, paths[k], pl) == 0 && s->files[i].path[pl] == '/') {
                ret = push_dir(out, paths[k], pl);
                break;
            }
        }
    }
out:
    pthread_mutex_unlock(&fh->mu);
    return ret;
}

static ssize_t f_read_range(void *ctx, const struct hub_source *src, const char *commit,
                            const char *path, uint64_t offset, void *buf, size_t len)
{
    struct fake_hub *fh = ctx;
    ssize_t ret;
    pthread_mutex_lock(&fh->mu);
    fh->n_read_calls++;
    struct fake_snapshot *s = find_snap(fh, commit);
    struct fake_file *f = s ? snap_find(s, path) : NULL;
    if (!f || !f->data) {
        ret = f ? -EIO : -ENOENT;
    } else if (offset >= f->size) {
        ret = 0;
    } else {
        size_t n = f->size - offset < len ? (size_t)(f->size - offset) : len;
        memcpy(buf, f->data + offset, n);
        ret = (ssize_t)n;
    }
    pthread_mutex_unlock(&fh->mu);
    return ret;
}

static bool lfs_object_known(struct fake_hub *fh, const char *sha256, uint64_t size)
{
    for (size_t i = 0; i < fh->n_snaps; i++)
        for (size_t k = 0; k < fh->snaps[i]->n; k++)
            if (fh->snaps[i]->files[k].lfs && fh->snaps[i]->files[k].size == size &&
                strcmp(fh->snaps[i]->files[k].sha256, sha256) == 0)
                return true;
    return false;
}

/* Reads a small local file into a NUL-terminated string. */
static char *slurp(const char *path, uint64_t size)
{
    char *data = calloc(1, (size_t)size + 1);
    if (!data)
        abort();
    int fd = open(path, O_RDONLY);
    if (fd < 0 || staging_pread(fd, data, (size_t)size, 0) != (ssize_t)size)
        abort();
    close(fd);
    return data;
}

static int f_commit(void *ctx, const struct hub_source *src, const char *branch,
                    const char *parent, const char *summary, struct hub_commit_op *ops,
                    size_t n_ops, char out_commit[HUB_SHA1_HEX])
{
    struct fake_hub *fh = ctx;
    int ret = 0;
    struct fake_snapshot *s = NULL;
    pthread_mutex_lock(&fh->mu);
    fh->n_commit_calls++;
    if (fh->concurrent_before_commit > 0) {
        fh->concurrent_before_commit--;
        foreign_locked(fh, fh->concurrent_path[0] ? fh->concurrent_path : "other.txt",
                       "someone else\n");
    }
    if (fh->fail_next_commits > 0 && !fh->fail_after_apply) {
        fh->fail_next_commits--;
        ret = fh->fail_errno;
        goto out;
    }
    if (parent && strcmp(parent, head_snap(fh)->sha) != 0) {
        ret = -ESTALE;
        goto out;
    }
    if (n_ops > FAKE_MAX_OPS) {
        ret = -E2BIG;
        goto out;
    }
    s = snap_begin(fh);
    struct fake_commit_rec rec;
    memset(&rec, 0, sizeof(rec));
    for (size_t i = 0; i < n_ops; i++) {
        struct hub_commit_op *op = &ops[i];
        struct fake_op *fo = &rec.ops[rec.n_ops++];
        fo->kind = op->kind;
        snprintf(fo->path, sizeof(fo->path), "%s", op->path);
        if (op->kind == HUB_OP_ADD) {
            struct fake_file f;
            memset(&f, 0, sizeof(f));
            snprintf(f.path, sizeof(f.path), "%s", op->path);
            if (op->local_file) {
                fo->had_local_file = true;
                ret = staging_hash_file(op->local_file, f.sha256, f.oid, &f.size);
                if (ret < 0)
                    goto out;
                snprintf(op->sha256, sizeof(op->sha256), "%s", f.sha256);
                op->size = f.size;
                f.lfs = f.size >= fh->lfs_threshold;
                if (f.lfs) {
                    fh->n_uploads++;
                    if (staging_lfs_pointer_oid(f.sha256, f.size, f.oid) < 0)
                        abort();
                } else {
                    f.data = slurp(op->local_file, f.size);
                }
            } else {
                if (!lfs_object_known(fh, op->sha256, op->size)) {
                    ret = -EINVAL; /* lfsFile whose object is not in storage */
                    goto out;
                }
                f.lfs = true;
                f.size = op->size;
                snprintf(f.sha256, sizeof(f.sha256), "%s", op->sha256);
                if (staging_lfs_pointer_oid(f.sha256, f.size, f.oid) < 0)
                    abort();
            }
            snprintf(fo->sha256, sizeof(fo->sha256), "%s", f.sha256);
            fo->size = f.size;
            snap_put(s, &f);
        } else if (op->kind == HUB_OP_DELETE_FILE) {
            bool found = false;
            for (size_t k = 0; k < s->n; k++) {
                if (strcmp(s->files[k].path, op->path) == 0) {
                    snap_remove_at(s, k);
                    found = true;
                    break;
                }
            }
            if (!found) {
                ret = -ENOENT;
                goto out;
            }
        } else {
            size_t pl = strlen(op->path);
            bool found = false;
            for (size_t k = 0; k < s->n;) {
                if (strncmp(s->files[k].path, op->path, pl) == 0 && s->files[k].path[pl] == '/') {
                    snap_remove_at(s, k);
                    found = true;
                } else {
                    k++;
                }
            }
            if (!found) {
                ret = -ENOENT;
                goto out;
            }
        }
    }
    char par[HUB_SHA1_HEX];
    snprintf(par, sizeof(par), "%s", head_snap(fh)->sha);
    push_snap(fh, s, par, summary, true);
    fh->commits[fh->n_commits - 1].n_ops = rec.n_ops;
    memcpy(fh->commits[fh->n_commits - 1].ops, rec.ops, sizeof(rec.ops));
    snprintf(out_commit, HUB_SHA1_HEX, "%s", s->sha);
    s = NULL;
    if (fh->fail_next_commits > 0 && fh->fail_after_apply) {
        fh->fail_next_commits--;
        ret = fh->fail_errno;
    }
out:
    snap_free(s);
    pthread_mutex_unlock(&fh->mu);
    return ret;
}

struct hub_ops fake_hub_ops(struct fake_hub *fh)
{
    struct hub_ops ops = {
        .ctx = fh,
        .repo_info = f_repo_info,
        .list_tree = f_list_tree,
        .paths_info = f_paths_info,
        .read_range = f_read_range,
        .commit = f_commit,
    };
    return ops;
}
