/* pending.c — the in-memory index of a branch's journal (see pending.h).
 *
 * The index is a plain array scanned linearly: it holds what is waiting
 * for the next commit (thousands of entries at most between two commits),
 * and every scan is a few string compares per entry. */
#include "pending.h"

#include "journal.h"
#include "log.h"
#include "staging.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct pending {
    pthread_mutex_t mu; /* protects everything below (see pending.h) */
    struct meta_db *db;
    struct staging *st;
    char *repo_key, *branch;
    struct pending_entry *v; /* current entries, unordered */
    size_t n, cap;
    uint64_t generation;
    bool durable; /* mutations flush the WAL (pending_set_durable) */
};

/* What a mutation drops: journal rows to delete and staging files to
 * remove once the journal no longer names them. */
struct drops {
    int64_t *ids;
    char **staging;
    size_t n, cap;
};

void pending_entry_clear(struct pending_entry *e)
{
    if (!e)
        return;
    free(e->path);
    free(e->staging);
    e->path = e->staging = NULL;
}

void pending_entries_free(struct pending_entry *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        pending_entry_clear(&v[i]);
    free(v);
}

static int entry_copy(struct pending_entry *dst, const struct pending_entry *src)
{
    *dst = *src;
    dst->path = strdup(src->path);
    dst->staging = src->staging ? strdup(src->staging) : NULL;
    if (!dst->path || (src->staging && !dst->staging)) {
        pending_entry_clear(dst);
        return -ENOMEM;
    }
    return 0;
}

/* path == dir or below it ("" is above everything). */
static bool at_or_under(const char *path, const char *dir)
{
    size_t dl = strlen(dir);
    if (dl == 0)
        return true;
    return strncmp(path, dir, dl) == 0 && (path[dl] == '\0' || path[dl] == '/');
}

static bool strictly_under(const char *path, const char *dir)
{
    size_t dl = strlen(dir);
    if (dl == 0)
        return path[0] != '\0';
    return strncmp(path, dir, dl) == 0 && path[dl] == '/';
}

static bool is_file_kind(enum hub_op_kind k)
{
    return k == HUB_OP_ADD || k == HUB_OP_DELETE_FILE;
}

static ssize_t find_file(const struct pending *p, const char *path)
{
    for (size_t i = 0; i < p->n; i++)
        if (is_file_kind(p->v[i].kind) && strcmp(p->v[i].path, path) == 0)
            return (ssize_t)i;
    return -1;
}

static ssize_t find_id(const struct pending *p, int64_t id)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].id == id)
            return (ssize_t)i;
    return -1;
}

static int drops_push(struct drops *d, int64_t id, const char *staging)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        int64_t *ids = realloc(d->ids, cap * sizeof(*ids));
        if (!ids)
            return -ENOMEM;
        d->ids = ids;
        char **stg = realloc(d->staging, cap * sizeof(*stg));
        if (!stg)
            return -ENOMEM;
        d->staging = stg;
        d->cap = cap;
    }
    d->staging[d->n] = NULL;
    if (staging && !(d->staging[d->n] = strdup(staging)))
        return -ENOMEM;
    d->ids[d->n++] = id;
    return 0;
}

static void drops_free(struct drops *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->staging[i]);
    free(d->ids);
    free(d->staging);
    memset(d, 0, sizeof(*d));
}

/* Staging files of dropped rows go only after the journal forgot them: a
 * crash in between leaves an unreferenced file, never a row without one. */
static void drops_remove_files(struct pending *p, const struct drops *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->staging[i])
            (void)staging_remove(p->st, d->staging[i]);
}

static void remove_at(struct pending *p, size_t i)
{
    pending_entry_clear(&p->v[i]);
    p->v[i] = p->v[--p->n];
}

static int push_entry(struct pending *p, struct pending_entry *e)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct pending_entry *v = realloc(p->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = *e; /* takes ownership of the strings */
    return 0;
}

/* Entries that an operation of `kind` at `path` supersedes: the file entry
 * at path; for a folder delete everything below path and an older folder
 * delete of path itself. */
static bool superseded_by(const struct pending_entry *e, enum hub_op_kind kind, const char *path)
{
    if (kind == HUB_OP_DELETE_FOLDER)
        return strictly_under(e->path, path) ||
               (e->kind == HUB_OP_DELETE_FOLDER && strcmp(e->path, path) == 0);
    return is_file_kind(e->kind) && strcmp(e->path, path) == 0;
}

/* Collects the rows `kind`/`path` supersedes.  In-flight ones are not
 * dropped from the journal here (the worker settles them); *inflight_add
 * tells whether one of them is an add that may reach the Hub. */
static int collect_superseded(struct pending *p, enum hub_op_kind kind, const char *path,
                              struct drops *d, bool *inflight_add)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct pending_entry *e = &p->v[i];
        if (!superseded_by(e, kind, path))
            continue;
        if (e->inflight) {
            if (e->kind == HUB_OP_ADD && inflight_add)
                *inflight_add = true;
            continue;
        }
        int ret = drops_push(d, e->id, e->staging);
        if (ret < 0)
            return ret;
    }
    return 0;
}

static void forget_superseded(struct pending *p, enum hub_op_kind kind, const char *path)
{
    for (size_t i = 0; i < p->n;) {
        if (superseded_by(&p->v[i], kind, path))
            remove_at(p, i);
        else
            i++;
    }
}

/* ---- loading ------------------------------------------------------------------------- */

/* Is the staging file of a journaled ADD whole?  Close journals a file
 * without waiting for the disk, so after a power loss a row may name a
 * staging file whose bytes never got there: file systems that allocate on
 * writeback (ext4, xfs, btrfs) then show it shorter than it was, or not at
 * all.  Its size was fixed when it was journaled (a journaled staging file
 * is never written again: writers take a copy), so any other size means
 * the content is not what was closed, and committing it would put a
 * damaged file on the Hub. */
static bool staging_whole(const struct journal_op *op)
{
    struct stat sb;
    if (op->kind != HUB_OP_ADD || !op->staging)
        return true;
    if (stat(op->staging, &sb) != 0) {
        if (errno != ENOENT) {
            /* cannot tell: keep it, the commit reports what reading it gives */
            hm_warn("write: cannot check the staged content of %s (%s): %s", op->path,
                    op->staging, strerror(errno));
            return true;
        }
        if (op->state == JOURNAL_COMMITTING)
            /* moved into the block cache after a commit whose end the
             * journal did not record: that commit most likely holds it */
            hm_warn("write: %s was being committed when hubmount stopped and its staged "
                    "content is gone (moved to the cache after the commit): not sent again",
                    op->path);
        else
            hm_error("write: %s was closed but its staged content %s is gone: not committed",
                     op->path, op->staging);
        return false;
    }
    if ((uint64_t)sb.st_size != op->size) {
        hm_error("write: %s was closed with %" PRIu64 " bytes but only %lld reached the disk "
                 "before the system stopped: not committed",
                 op->path, op->size, (long long)sb.st_size);
        return false;
    }
    return true;
}

int pending_open(struct meta_db *db, struct staging *st, const char *repo_key,
                 const char *branch, struct pending **out)
{
    struct journal_ops ops = {0};
    struct drops d = {0};
    struct pending *p = calloc(1, sizeof(*p));
    int ret;
    if (!p)
        return -ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    p->durable = true;
    p->db = db;
    p->st = st;
    p->repo_key = strdup(repo_key);
    p->branch = strdup(branch);
    if (!p->repo_key || !p->branch) {
        ret = -ENOMEM;
        goto out;
    }
    ret = journal_list_pending(db, repo_key, branch, &ops);
    if (ret < 0)
        goto out;
    /* Replay in id order: the same supersede rule as live mutations. */
    for (size_t i = 0; i < ops.n; i++) {
        struct journal_op *op = &ops.v[i];
        if (!staging_whole(op)) {
            ret = drops_push(&d, op->id, op->staging);
            if (ret < 0)
                goto out;
            continue;
        }
        ret = collect_superseded(p, op->kind, op->path, &d, NULL);
        if (ret < 0)
            goto out;
        forget_superseded(p, op->kind, op->path);
        struct pending_entry e = {
            .id = op->id,
            .kind = op->kind,
            .path = op->path,
            .staging = op->staging,
            .size = op->size,
            .created_at = op->created_at,
            .unsure = op->state == JOURNAL_COMMITTING,
            .error = op->state == JOURNAL_FAILED ? op->error : 0,
        };
        memcpy(e.sha256, op->sha256, sizeof(e.sha256));
        ret = push_entry(p, &e);
        if (ret < 0)
            goto out;
        op->path = op->staging = NULL; /* now owned by the index */
    }
    if (d.n) {
        hm_info("write: journal of %s@%s: %zu superseded or damaged operation(s) dropped",
                repo_key, branch, d.n);
        ret = journal_apply(db, repo_key, branch, NULL, 0, NULL, d.ids, d.n);
        if (ret < 0)
            goto out;
        drops_remove_files(p, &d);
    }
    if (p->n)
        hm_info("write: %zu pending operation(s) of %s@%s resumed from the journal", p->n,
                repo_key, branch);
    *out = p;
    p = NULL;
out:
    journal_ops_free(&ops);
    drops_free(&d);
    pending_free(p);
    return ret;
}

void pending_set_durable(struct pending *p, bool durable)
{
    pthread_mutex_lock(&p->mu);
    p->durable = durable;
    pthread_mutex_unlock(&p->mu);
}

void pending_free(struct pending *p)
{
    if (!p)
        return;
    pending_entries_free(p->v, p->n);
    free(p->repo_key);
    free(p->branch);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* ---- questions ----------------------------------------------------------------------- */

static bool under_deleted_folder_locked(const struct pending *p, const char *path)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].kind == HUB_OP_DELETE_FOLDER && at_or_under(path, p->v[i].path))
            return true;
    return false;
}

bool pending_under_deleted_folder(struct pending *p, const char *path)
{
    pthread_mutex_lock(&p->mu);
    bool r = under_deleted_folder_locked(p, path);
    pthread_mutex_unlock(&p->mu);
    return r;
}

enum pending_state pending_stat(struct pending *p, const char *path, struct pending_entry *out)
{
    enum pending_state s = PENDING_UNKNOWN;
    pthread_mutex_lock(&p->mu);
    ssize_t i = find_file(p, path);
    if (i >= 0 && p->v[i].kind == HUB_OP_ADD) {
        s = PENDING_FILE;
        if (out && entry_copy(out, &p->v[i]) < 0)
            s = PENDING_UNKNOWN; /* ENOMEM: let the caller fall back to the tree */
        goto out;
    }
    for (size_t k = 0; k < p->n; k++) {
        if (p->v[k].kind == HUB_OP_ADD && strictly_under(p->v[k].path, path)) {
            s = PENDING_DIR;
            goto out;
        }
    }
    if (i >= 0 || under_deleted_folder_locked(p, path))
        s = PENDING_DELETED;
out:
    pthread_mutex_unlock(&p->mu);
    return s;
}

int pending_list(struct pending *p, const char *dir,
                 int (*fn)(void *arg, const char *name, enum pending_state state,
                           const struct pending_entry *e),
                 void *arg)
{
    int ret = 0;
    size_t dl = strlen(dir);
    char name[4096];
    pthread_mutex_lock(&p->mu);
    /* Deletions first, so a re-created name reported later wins. */
    for (int pass = 0; pass < 2 && ret == 0; pass++) {
        for (size_t i = 0; i < p->n && ret == 0; i++) {
            const struct pending_entry *e = &p->v[i];
            bool is_add = e->kind == HUB_OP_ADD;
            if (is_add != (pass == 1) || !strictly_under(e->path, dir))
                continue;
            const char *rest = e->path + (dl ? dl + 1 : 0);
            const char *slash = strchr(rest, '/');
            if (!is_add) {
                if (!slash)
                    ret = fn(arg, rest, PENDING_DELETED, NULL);
                continue;
            }
            if (!slash) {
                ret = fn(arg, rest, PENDING_FILE, e);
                continue;
            }
            size_t len = (size_t)(slash - rest);
            if (len >= sizeof(name))
                continue;
            memcpy(name, rest, len);
            name[len] = '\0';
            ret = fn(arg, name, PENDING_DIR, NULL); /* callers tolerate repeats */
        }
    }
    pthread_mutex_unlock(&p->mu);
    return ret;
}

int pending_error(struct pending *p, const char *path)
{
    int err = 0;
    pthread_mutex_lock(&p->mu);
    ssize_t i = find_file(p, path);
    if (i >= 0)
        err = p->v[i].error;
    pthread_mutex_unlock(&p->mu);
    return err;
}

/* ---- mutations ------------------------------------------------------------------------ */

/* Records `op` superseding whatever it replaces, as one transaction, then
 * mirrors it in memory.  record == false: only drop (nothing to record). */
static int mutate_locked(struct pending *p, const struct journal_op *op, bool record)
{
    struct drops d = {0};
    int64_t id = 0;
    int ret = collect_superseded(p, op->kind, op->path, &d, NULL);
    if (ret < 0)
        goto out;
    ret = journal_apply_ex(p->db, p->repo_key, p->branch, record ? op : NULL, record ? 1 : 0,
                           &id, d.ids, d.n, p->durable);
    if (ret < 0)
        goto out;
    forget_superseded(p, op->kind, op->path);
    if (record) {
        struct pending_entry e = {
            .id = id,
            .kind = op->kind,
            .path = strdup(op->path),
            .staging = op->staging ? strdup(op->staging) : NULL,
            .size = op->size,
            .created_at = op->created_at ? op->created_at : (int64_t)time(NULL),
        };
        memcpy(e.sha256, op->sha256, sizeof(e.sha256));
        if (!e.path || (op->staging && !e.staging) || push_entry(p, &e) < 0) {
            /* The journal has it; only memory is short.  Say so: the
             * next mount replays it. */
            pending_entry_clear(&e);
            ret = -ENOMEM;
        }
    }
    drops_remove_files(p, &d);
    p->generation++;
out:
    drops_free(&d);
    return ret;
}

int pending_add_file(struct pending *p, const char *path, const char *staging, uint64_t size)
{
    if (!path || !*path || !staging)
        return -EINVAL;
    struct journal_op op = {.kind = HUB_OP_ADD, .path = (char *)path,
                            .staging = (char *)staging, .size = size};
    pthread_mutex_lock(&p->mu);
    int ret = mutate_locked(p, &op, true);
    pthread_mutex_unlock(&p->mu);
    return ret;
}

int pending_add_reuse(struct pending *p, const char *path, const char *sha256, uint64_t size)
{
    if (!path || !*path || !sha256 || strlen(sha256) != HUB_SHA256_HEX - 1)
        return -EINVAL;
    struct journal_op op = {.kind = HUB_OP_ADD, .path = (char *)path, .size = size};
    memcpy(op.sha256, sha256, HUB_SHA256_HEX);
    pthread_mutex_lock(&p->mu);
    int ret = mutate_locked(p, &op, true);
    pthread_mutex_unlock(&p->mu);
    return ret;
}

int pending_delete(struct pending *p, const char *path, bool folder, bool remote_exists)
{
    if (!path || !*path)
        return -EINVAL;
    struct journal_op op = {.kind = folder ? HUB_OP_DELETE_FOLDER : HUB_OP_DELETE_FILE,
                            .path = (char *)path};
    struct drops d = {0};
    bool inflight_add = false;
    pthread_mutex_lock(&p->mu);
    int ret = collect_superseded(p, op.kind, path, &d, &inflight_add);
    drops_free(&d);
    if (ret < 0)
        goto out;
    if (!folder) {
        ssize_t i = find_file(p, path);
        if (i >= 0 && p->v[i].kind == HUB_OP_DELETE_FILE) {
            ret = 0; /* already deleted */
            goto out;
        }
    }
    /* An add in flight may land on the Hub: the delete must follow it.  If
     * nothing ends up there, the worker drops the delete before sending. */
    ret = mutate_locked(p, &op, remote_exists || inflight_add);
out:
    pthread_mutex_unlock(&p->mu);
    return ret;
}

static bool id_in(const int64_t *ids, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

int pending_rename(struct pending *p, const char *old_path, const char *new_path, size_t *moved)
{
    struct journal_op *adds = NULL;
    char **paths = NULL, **clones = NULL;
    int64_t *new_ids = NULL, *old_ids = NULL;
    bool *was_inflight = NULL;
    struct drops d = {0};
    size_t n = 0, k = 0;
    int ret = 0;
    if (!old_path || !*old_path || !new_path || !*new_path || !moved)
        return -EINVAL;
    *moved = 0;
    size_t ol = strlen(old_path), nl = strlen(new_path);
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].kind == HUB_OP_ADD && at_or_under(p->v[i].path, old_path))
            n++;
    if (n == 0)
        goto out;
    adds = calloc(n, sizeof(*adds));
    paths = calloc(n, sizeof(*paths));
    clones = calloc(n, sizeof(*clones));
    new_ids = calloc(n, sizeof(*new_ids));
    old_ids = calloc(n, sizeof(*old_ids));
    was_inflight = calloc(n, sizeof(*was_inflight));
    if (!adds || !paths || !clones || !new_ids || !old_ids || !was_inflight) {
        ret = -ENOMEM;
        goto out;
    }
    /* Each moved add is re-inserted under its new name (new id, same
     * staging file) and its old row removed, in one transaction.  An add in
     * a commit attempt right now stays where it is (the attempt may land
     * it): the new name gets a copy of its bytes, and the caller's delete
     * of the old name follows it in the next commit. */
    for (size_t i = 0; i < p->n && ret == 0; i++) {
        const struct pending_entry *e = &p->v[i];
        if (e->kind != HUB_OP_ADD || !at_or_under(e->path, old_path))
            continue;
        size_t tail = strlen(e->path + ol);
        paths[k] = malloc(nl + tail + 1);
        if (!paths[k]) {
            ret = -ENOMEM;
            break;
        }
        memcpy(paths[k], new_path, nl);
        memcpy(paths[k] + nl, e->path + ol, tail + 1);
        const char *stg = e->staging;
        if (e->inflight && e->staging) {
            char cp[PATH_MAX];
            int fd = -1;
            ret = staging_clone(p->st, e->staging, cp, sizeof(cp), &fd);
            if (ret == 0) {
                ret = staging_sync(fd);
                close(fd);
                clones[k] = strdup(cp);
                if (!clones[k]) {
                    (void)staging_remove(p->st, cp);
                    ret = -ENOMEM;
                }
            }
            if (ret < 0) {
                free(paths[k]);
                paths[k] = NULL;
                break;
            }
            stg = clones[k];
        }
        adds[k] = (struct journal_op){.kind = HUB_OP_ADD, .path = paths[k],
                                      .staging = (char *)stg, .size = e->size,
                                      .created_at = e->created_at};
        memcpy(adds[k].sha256, e->sha256, sizeof(adds[k].sha256));
        old_ids[k] = e->id;
        was_inflight[k] = e->inflight;
        if (!e->inflight)
            ret = drops_push(&d, e->id, NULL); /* its staging file moves on */
        k++;
    }
    /* A rename replaces its target: a pending file entry (add, or delete
     * of a remote file) at a destination is superseded. */
    for (size_t j = 0; j < k && ret == 0; j++) {
        ssize_t t = find_file(p, paths[j]);
        if (t >= 0 && !id_in(old_ids, k, p->v[t].id) && !p->v[t].inflight)
            ret = drops_push(&d, p->v[t].id, p->v[t].staging);
    }
    if (ret < 0)
        goto out;
    /* WAL-durable (kill -9), not fsync'ed: rsync renames every file it writes */
    ret = journal_apply_ex(p->db, p->repo_key, p->branch, adds, n, new_ids, d.ids, d.n, false);
    if (ret < 0)
        goto out;
    for (size_t j = 0; j < n; j++) {
        ssize_t t = find_file(p, paths[j]);
        if (t >= 0 && !id_in(old_ids, n, p->v[t].id))
            remove_at(p, (size_t)t);
    }
    for (size_t j = 0; j < n; j++) {
        if (was_inflight[j]) {
            ssize_t i = find_id(p, old_ids[j]);
            struct pending_entry e = {
                .id = new_ids[j],
                .kind = HUB_OP_ADD,
                .path = paths[j],
                .staging = clones[j],
                .size = i >= 0 ? p->v[i].size : adds[j].size,
                .created_at = adds[j].created_at,
            };
            memcpy(e.sha256, adds[j].sha256, sizeof(e.sha256));
            if (push_entry(p, &e) == 0) {
                paths[j] = clones[j] = NULL; /* owned by the index now */
            }
            continue;
        }
        ssize_t i = find_id(p, old_ids[j]);
        if (i < 0)
            continue;
        struct pending_entry *e = &p->v[i];
        free(e->path);
        e->path = paths[j];
        paths[j] = NULL;
        e->id = new_ids[j];
        e->error = 0;
        e->unsure = false;
    }
    /* Only the staging files of superseded targets go (moved rows were
     * pushed without one). */
    drops_remove_files(p, &d);
    *moved = n;
    p->generation++;
out:
    if (ret < 0)
        for (size_t j = 0; clones && j < n; j++)
            if (clones[j])
                (void)staging_remove(p->st, clones[j]);
    for (size_t j = 0; paths && j < n; j++) {
        free(paths[j]);
        free(clones[j]);
    }
    free(paths);
    free(clones);
    free(adds);
    free(new_ids);
    free(old_ids);
    free(was_inflight);
    drops_free(&d);
    pthread_mutex_unlock(&p->mu);
    return ret;
}

/* ---- the commit worker ------------------------------------------------------------- */

static int cmp_entry_id(const void *a, const void *b)
{
    const struct pending_entry *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

int pending_take(struct pending *p, struct pending_entry **out, size_t *n_out)
{
    struct pending_entry *v = NULL;
    int64_t *ids = NULL;
    size_t n = 0;
    int ret = 0;
    *out = NULL;
    *n_out = 0;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n; i++)
        n += !p->v[i].inflight;
    if (n == 0)
        goto out;
    v = calloc(n, sizeof(*v));
    ids = calloc(n, sizeof(*ids));
    if (!v || !ids) {
        ret = -ENOMEM;
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < p->n && ret == 0; i++) {
        if (p->v[i].inflight)
            continue;
        ret = entry_copy(&v[k], &p->v[i]);
        if (ret == 0)
            ids[k++] = p->v[i].id;
    }
    if (ret < 0) {
        n = k;
        goto out;
    }
    ret = journal_mark_committing(p->db, ids, n);
    if (ret < 0)
        goto out;
    for (size_t i = 0; i < p->n; i++)
        p->v[i].inflight = true;
    qsort(v, n, sizeof(*v), cmp_entry_id);
    *out = v;
    *n_out = n;
    v = NULL;
out:
    pthread_mutex_unlock(&p->mu);
    pending_entries_free(v, v ? n : 0);
    free(ids);
    return ret;
}

int pending_batch_end(struct pending *p, const int64_t *ids, size_t n, int err,
                      const char *commit)
{
    int ret = 0;
    struct drops gone = {0};
    int64_t *cur = NULL;
    size_t n_cur = 0;
    if (n == 0)
        return 0;
    pthread_mutex_lock(&p->mu);
    if (err == 0) {
        ret = journal_mark_done(p->db, ids, n, commit ? commit : "");
        if (ret < 0)
            goto out;
        for (size_t j = 0; j < n; j++) {
            ssize_t i = find_id(p, ids[j]);
            if (i >= 0)
                remove_at(p, (size_t)i);
        }
        goto out;
    }
    cur = calloc(n, sizeof(*cur));
    if (!cur) {
        ret = -ENOMEM;
        goto out;
    }
    for (size_t j = 0; j < n && ret == 0; j++) {
        ssize_t i = find_id(p, ids[j]);
        if (i >= 0) {
            cur[n_cur++] = ids[j];
            continue;
        }
        /* superseded while in flight: nobody needs it any more */
        struct journal_op op;
        if (journal_get(p->db, ids[j], &op) == 0) {
            ret = drops_push(&gone, ids[j], op.staging);
            journal_op_clear(&op);
        }
    }
    if (ret < 0)
        goto out;
    ret = journal_mark_failed(p->db, cur, n_cur, err);
    if (ret < 0)
        goto out;
    for (size_t j = 0; j < n_cur; j++) {
        ssize_t i = find_id(p, cur[j]);
        p->v[i].inflight = false;
        p->v[i].unsure = false;
        p->v[i].error = err < 0 ? -err : err;
    }
    if (gone.n && journal_apply(p->db, p->repo_key, p->branch, NULL, 0, NULL, gone.ids,
                                gone.n) == 0)
        drops_remove_files(p, &gone);
out:
    if (ret == 0)
        p->generation++;
    pthread_mutex_unlock(&p->mu);
    drops_free(&gone);
    free(cur);
    return ret;
}

void pending_get_stats(struct pending *p, struct pending_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < p->n; i++) {
        const struct pending_entry *e = &p->v[i];
        out->n_ops++;
        if (e->kind == HUB_OP_ADD) {
            out->n_files++;
            out->bytes += e->size;
        }
        if (e->error) {
            out->n_failed++;
            out->last_error = e->error;
        }
        if (e->inflight)
            out->n_inflight++;
        if (!out->oldest || e->created_at < out->oldest)
            out->oldest = e->created_at;
    }
    pthread_mutex_unlock(&p->mu);
}

uint64_t pending_generation(struct pending *p)
{
    pthread_mutex_lock(&p->mu);
    uint64_t g = p->generation;
    pthread_mutex_unlock(&p->mu);
    return g;
}
