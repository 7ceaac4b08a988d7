/* entries.c — the growable list of tree entries, and parsing of the
 * entry objects that tree listings and paths-info both return. */
#include "hub_i.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int hub_entries_push(struct hub_entries *list, const struct hub_entry *e)
{
    if (list->n == list->cap) {
        size_t ncap = list->cap ? list->cap * 2 : 64;
        if (ncap > SIZE_MAX / sizeof(*list->v))
            return -ENOMEM;
        struct hub_entry *nv = realloc(list->v, ncap * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        list->v = nv;
        list->cap = ncap;
    }
    char *path = strdup(e->path ? e->path : "");
    if (!path)
        return -ENOMEM;
    list->v[list->n] = *e;
    list->v[list->n].path = path;
    list->n++;
    return 0;
}

void hub_entries_free(struct hub_entries *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++)
        free(list->v[i].path);
    free(list->v);
    list->v = NULL;
    list->n = list->cap = 0;
}

/* An id of the expected kind, or "" (a reader then finds no cache key). */
static void copy_hex(char *dst, size_t size, const json_t *v)
{
    if (!json_is_string(v) ||
        hub_hex_copy(dst, json_string_value(v), json_string_length(v), size - 1))
        dst[0] = '\0';
}

/* A repo path the server may send: relative, no empty, "." or ".."
 * segment, no NUL (JSON can carry "\u0000"), bounded.  Anything else
 * could name a place outside the directory being listed. */
static bool path_ok(const json_t *path)
{
    const char *p = json_string_value(path);
    size_t n = json_string_length(path);
    if (n == 0 || n > 4096 || strlen(p) != n)
        return false;
    const char *s = p;
    for (;;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        if (!e)
            return true;
        s = e + 1;
    }
}

static uint64_t json_size(const json_t *v)
{
    json_int_t i = json_is_integer(v) ? json_integer_value(v) : 0;
    return i > 0 ? (uint64_t)i : 0;
}

static int parse_one(const json_t *o, struct hub_entries *out)
{
    struct hub_entry e;
    memset(&e, 0, sizeof(e));
    const json_t *type = json_object_get(o, "type");
    const json_t *path = json_object_get(o, "path");
    if (!json_is_string(type) || !json_is_string(path)) {
        hm_warn("hub: listing entry without a type or a path: refused");
        return -EIO;
    }
    if (!path_ok(path)) {
        hm_warn("hub: listing with an invalid path (%zu bytes): refused",
                json_string_length(path));
        return -EIO;
    }
    e.path = (char *)json_string_value(path); /* copied by push */
    e.is_dir = strcmp(json_string_value(type), "directory") == 0;
    e.size = e.is_dir ? 0 : json_size(json_object_get(o, "size"));
    copy_hex(e.oid, sizeof(e.oid), json_object_get(o, "oid"));
    const json_t *lfs = json_object_get(o, "lfs");
    if (!e.is_dir && json_is_object(lfs)) {
        e.is_lfs = true;
        copy_hex(e.sha256, sizeof(e.sha256), json_object_get(lfs, "oid"));
        const json_t *lsize = json_object_get(lfs, "size");
        if (json_is_integer(lsize))
            e.size = json_size(lsize);
    }
    const json_t *date = json_object_get(json_object_get(o, "lastCommit"), "date");
    if (json_is_string(date) && hub_parse_iso8601(json_string_value(date), &e.mtime))
        e.mtime = 0;
    return hub_entries_push(out, &e);
}

static int cmp_paths(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A broken or hostile server could file an entry under another directory
 * than the one listed (where it would shadow what that directory holds) or
 * name one path twice: the kernel would then see two inodes for one name.
 * The Hub never does either, so the whole listing is refused. */
int hub_entries_check_listing(const struct hub_entries *l, size_t from, const char *dir,
                              bool recursive)
{
    size_t dl = strlen(dir);
    size_t n = l->n > from ? l->n - from : 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = l->v[from + i].path;
        const char *rest = p;
        if (dl) {
            if (strncmp(p, dir, dl) != 0 || p[dl] != '/') {
                hm_warn("hub: listing of '%s' has an entry outside it: refused", dir);
                return -EIO;
            }
            rest = p + dl + 1;
        }
        if (!recursive && strchr(rest, '/')) {
            hm_warn("hub: listing of '%s' has an entry below a subdirectory: refused", dir);
            return -EIO;
        }
    }
    if (n < 2)
        return 0;
    const char **v = malloc(n * sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        v[i] = l->v[from + i].path;
    qsort(v, n, sizeof(*v), cmp_paths);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(v[i - 1], v[i]) == 0)
            rc = -EIO;
    free(v);
    if (rc)
        hm_warn("hub: listing of '%s' names one path twice: refused", dir);
    return rc;
}

int hub_entries_parse_json(const json_t *array, struct hub_entries *out)
{
    if (json_is_object(array))
        return parse_one(array, out);
    if (!json_is_array(array)) {
        hm_warn("hub: listing is not a JSON list: refused");
        return -EIO;
    }
    size_t i;
    const json_t *o;
    json_array_foreach(array, i, o)
    {
        int rc = parse_one(o, out);
        if (rc)
            return rc;
    }
    return 0;
}
