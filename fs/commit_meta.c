/* commit_meta.c — the new commit's listings derived from its parent's
 * (see commit_meta.h).  Exactness argument: the parent commit of our
 * commit is `parent`, so a directory's content differs between the two
 * only where our operations touched it; those entries are taken from
 * paths-info at the new commit (`fresh`), everything else is copied. */
#include "commit_meta.h"

#include "meta.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void commit_meta_free_dirs(char **dirs, size_t n)
{
    for (size_t i = 0; dirs && i < n; i++)
        free(dirs[i]);
    free(dirs);
}

static bool has_dir(char **dirs, size_t n, const char *d, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(dirs[i]) == len && strncmp(dirs[i], d, len) == 0)
            return true;
    return false;
}

int commit_meta_touched_dirs(const struct hub_commit_op *ops, size_t n_ops, char ***dirs_out,
                             size_t *n_out)
{
    char **dirs = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < n_ops; i++) {
        const char *p = ops[i].path;
        /* every prefix ending before a '/', plus "" */
        size_t len = strlen(p);
        for (size_t end = 0;; end++) {
            if (end == 0 || (end < len && p[end] == '/')) {
                size_t dl = end;
                if (!has_dir(dirs, n, p, dl)) {
                    if (n == cap) {
                        size_t nc = cap ? cap * 2 : 16;
                        char **nd = realloc(dirs, nc * sizeof(*nd));
                        if (!nd)
                            goto nomem;
                        dirs = nd;
                        cap = nc;
                    }
                    dirs[n] = strndup(p, dl);
                    if (!dirs[n])
                        goto nomem;
                    n++;
                }
            }
            if (end >= len)
                break;
        }
    }
    *dirs_out = dirs;
    *n_out = n;
    return 0;
nomem:
    commit_meta_free_dirs(dirs, n);
    return -ENOMEM;
}

static bool at_or_under(const char *path, const char *dir)
{
    size_t dl = strlen(dir);
    return strncmp(path, dir, dl) == 0 && (path[dl] == '\0' || path[dl] == '/');
}

static bool deleted_by(const struct hub_commit_op *ops, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++) {
        if (ops[i].kind == HUB_OP_DELETE_FILE && strcmp(ops[i].path, path) == 0)
            return true;
        if (ops[i].kind == HUB_OP_DELETE_FOLDER && at_or_under(path, ops[i].path))
            return true;
    }
    return false;
}

static int cmp_entry_ptr(const void *a, const void *b)
{
    const struct hub_entry *const *x = a, *const *y = b;
    return strcmp((*x)->path, (*y)->path);
}

static const struct hub_entry *fresh_find(const struct hub_entry **sorted, size_t n,
                                          const char *path)
{
    struct hub_entry key = {.path = (char *)path};
    const struct hub_entry *kp = &key;
    const struct hub_entry **hit = bsearch(&kp, sorted, n, sizeof(*sorted), cmp_entry_ptr);
    return hit ? *hit : NULL;
}

/* Parent directory of `path` equals `dir`. */
static bool parent_is(const char *path, const char *dir)
{
    const char *slash = strrchr(path, '/');
    size_t pl = slash ? (size_t)(slash - path) : 0;
    return strlen(dir) == pl && strncmp(path, dir, pl) == 0;
}

/* The parent-commit listing of dir, or an empty one when dir is known not
 * to exist there (new directory).  -EAGAIN: unknown, do not derive. */
static int old_listing(struct meta_db *db, const char *repo_key, const char *parent,
                       const char *dir, struct hub_entries *out)
{
    int r = meta_dir_get(db, repo_key, parent, dir, out);
    if (r != -ENOENT)
        return r;
    if (!*dir)
        return -EAGAIN;
    struct hub_entry e;
    memset(&e, 0, sizeof(e));
    r = meta_entry_get(db, repo_key, parent, dir, &e);
    if (r == 0) {
        meta_entry_clear(&e);
        return -EAGAIN; /* exists but never listed */
    }
    return r == -ENOENT ? 0 : -EAGAIN;
}

int commit_meta_derive(struct meta_db *db, const char *repo_key, const char *parent,
                       const char *commit, const struct hub_commit_op *ops, size_t n_ops,
                       const struct hub_entries *fresh, char *const *carry, size_t n_carry)
{
    char **touched = NULL;
    size_t n_touched = 0;
    const struct hub_entry **sorted = NULL;
    int written = 0;
    int ret = commit_meta_touched_dirs(ops, n_ops, &touched, &n_touched);
    if (ret < 0)
        return ret;
    size_t nf = fresh ? fresh->n : 0;
    sorted = calloc(nf ? nf : 1, sizeof(*sorted));
    if (!sorted) {
        ret = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nf; i++)
        sorted[i] = &fresh->v[i];
    qsort(sorted, nf, sizeof(*sorted), cmp_entry_ptr);

    for (size_t t = 0; t < n_touched; t++) {
        const char *dir = touched[t];
        if (*dir) {
            const struct hub_entry *self = fresh_find(sorted, nf, dir);
            if (!self || !self->is_dir)
                continue; /* gone in the new commit (or unknown): nothing to write */
        }
        struct hub_entries old = {0}, neu = {0};
        int r = old_listing(db, repo_key, parent, dir, &old);
        if (r == -EAGAIN)
            continue;
        if (r < 0) {
            ret = r;
            goto out;
        }
        for (size_t i = 0; i < old.n && r == 0; i++) {
            const struct hub_entry *x = &old.v[i];
            if (fresh_find(sorted, nf, x->path))
                continue; /* replaced below */
            if (deleted_by(ops, n_ops, x->path))
                continue;
            if (x->is_dir && has_dir(touched, n_touched, x->path, strlen(x->path)))
                continue; /* touched but absent from paths-info: gone */
            r = hub_entries_push(&neu, x);
        }
        for (size_t i = 0; i < nf && r == 0; i++)
            if (parent_is(fresh->v[i].path, dir) && fresh->v[i].path[0])
                r = hub_entries_push(&neu, &fresh->v[i]);
        if (r == 0)
            r = meta_dir_put(db, repo_key, commit, dir, &neu);
        hub_entries_free(&old);
        hub_entries_free(&neu);
        if (r < 0) {
            ret = r;
            goto out;
        }
        written++;
    }

    for (size_t c = 0; c < n_carry; c++) {
        const char *dir = carry[c];
        if (has_dir(touched, n_touched, dir, strlen(dir)) || deleted_by(ops, n_ops, dir))
            continue;
        bool below_op = false; /* e.g. the folder an add/delete op names itself */
        for (size_t i = 0; i < n_ops && !below_op; i++)
            below_op = at_or_under(dir, ops[i].path);
        if (below_op)
            continue;
        struct hub_entries same = {0};
        int r = meta_dir_get(db, repo_key, parent, dir, &same);
        if (r == 0)
            r = meta_dir_put(db, repo_key, commit, dir, &same);
        hub_entries_free(&same);
        if (r == 0)
            written++;
        else if (r != -ENOENT) {
            ret = r;
            goto out;
        }
    }
    ret = written;
out:
    free(sorted);
    commit_meta_free_dirs(touched, n_touched);
    return ret;
}
