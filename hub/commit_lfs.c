/* commit_lfs.c — LFS objects of a commit: one batch request says which
 * objects the Hub lacks and how to send them ("basic": one PUT of the
 * whole file; "multipart": one PUT per chunk_size part, ETags collected,
 * then a completion POST), then up to 4 parts (of one file or of several)
 * are uploaded in parallel.  Upload URLs are pre-signed: the http layer
 * sends no token to their origin. */
#include "commit_i.h"
#include "http.h"
#include "log.h"
#include "url.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define LFS_BATCH 256
#define LFS_PARALLEL 4
#define LFS_MEDIA "application/vnd.git-lfs+json"
#define LFS_MAX_PARTS 100000
#define LFS_ETAG_MAX 160

int hub_lfs_batch_apply(const json_t *res, struct commit_file **batch_files, size_t n)
{
    const json_t *robjs = json_object_get(res, "objects");
    if (!json_is_array(robjs))
        return -EIO;
    size_t k;
    const json_t *ro;
    json_array_foreach(robjs, k, ro)
    {
        const char *oid = json_string_value(json_object_get(ro, "oid"));
        if (!oid)
            continue;
        const json_t *err = json_object_get(ro, "error");
        if (err) {
            json_int_t code = json_integer_value(json_object_get(err, "code"));
            const char *msg = json_string_value(json_object_get(err, "message"));
            hm_warn("hub: LFS object refused (%lld): %.200s", (long long)code, msg ? msg : "");
            /* a "refusal" with a success code must still fail the commit */
            int e = hub_errno(code >= 400 && code < 600 ? (long)code : 500, NULL, msg,
                              HUB_REQ_WRITE, true);
            return -(e ? e : EIO);
        }
        const json_t *actions = json_object_get(ro, "actions");
        json_t *up = json_object_get(actions, "upload");
        json_t *ver = json_object_get(actions, "verify");
        for (size_t i = 0; i < n; i++) {
            if (strcasecmp(batch_files[i]->sha256, oid) != 0)
                continue;
            if (json_is_object(up) && !batch_files[i]->upload)
                batch_files[i]->upload = json_incref(up);
            if (json_is_object(ver) && !batch_files[i]->verify)
                batch_files[i]->verify = json_incref(ver);
        }
    }
    return 0;
}

static int batch_request(struct hub_client *hc, const char *url, const char *branch,
                         struct commit_file **batch_files, size_t n)
{
    int rc = -ENOMEM;
    char *body = NULL;
    json_t *objs = json_array(), *res = NULL;
    json_t *root = json_pack("{s:s, s:[s,s], s:s, s:{s:s}}", "operation", "upload", "transfers",
                             "basic", "multipart", "hash_algo", "sha256", "ref", "name", branch);
    struct hub_http_resp resp;
    bool have_resp = false;
    if (!root || !objs)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s, s:I}", "oid", batch_files[i]->sha256, "size",
                              (json_int_t)batch_files[i]->size);
        if (!o || json_array_append_new(objs, o))
            goto out;
    }
    if (json_object_set(root, "objects", objs) || !(body = json_dumps(root, JSON_COMPACT)))
        goto out;
    struct hub_http_req req = {
        .method = "POST", .url = url, .content_type = LFS_MEDIA, .accept = LFS_MEDIA,
        .auth = true, .retry = true, .kind = HUB_REQ_WRITE, .body = body, .body_len = strlen(body),
    };
    rc = hub_http_do(hc, &req, &resp);
    have_resp = true;
    if (rc || (rc = hub_http_errno(&resp, HUB_REQ_WRITE)))
        goto out;
    res = hub_http_json(&resp);
    rc = hub_lfs_batch_apply(res, batch_files, n);
out:
    if (have_resp)
        hub_http_resp_free(&resp);
    json_decref(res);
    json_decref(objs);
    json_decref(root);
    free(body);
    return rc;
}

/* PUT [off, off+len) of the file to a pre-signed URL; *etag gets the
 * answer's ETag when asked for. */
static int put_region(struct hub_client *hc, const char *url, int fd, uint64_t off, uint64_t len,
                      char *etag, size_t etag_size, struct hub_progress *progress)
{
    struct hub_http_req req = {
        .method = "PUT", .url = url, .auth = false, .retry = true, .long_transfer = true,
        .kind = HUB_REQ_WRITE, .body_fd_set = true, .body_fd = fd, .body_off = off,
        .body_fd_len = len, .max_response = 1 << 20, .progress = progress,
    };
    struct hub_http_resp resp;
    int rc = hub_http_do(hc, &req, &resp);
    if (rc == 0)
        rc = hub_http_errno(&resp, HUB_REQ_WRITE);
    if (rc == 0 && etag) {
        if (!resp.etag[0]) {
            hm_warn("hub: multipart part answer without ETag");
            rc = -EIO;
        } else {
            snprintf(etag, etag_size, "%s", resp.etag);
        }
    }
    hub_http_resp_free(&resp);
    return rc;
}

static int post_json(struct hub_client *hc, const char *url, json_t *body_json, bool auth)
{
    char *body = json_dumps(body_json, JSON_COMPACT);
    if (!body)
        return -ENOMEM;
    struct hub_http_req req = {
        .method = "POST", .url = url, .content_type = LFS_MEDIA, .accept = LFS_MEDIA,
        .auth = auth, .retry = true, .kind = HUB_REQ_WRITE, .body = body, .body_len = strlen(body),
    };
    struct hub_http_resp resp;
    int rc = hub_http_do(hc, &req, &resp);
    if (rc == 0)
        rc = hub_http_errno(&resp, HUB_REQ_WRITE);
    hub_http_resp_free(&resp);
    free(body);
    return rc;
}

static int cmp_part(const void *a, const void *b)
{
    const struct hub_lfs_part *x = a, *y = b;
    return x->num < y->num ? -1 : x->num > y->num;
}

int hub_lfs_parts_plan(const json_t *header, uint64_t size, struct hub_lfs_part **out,
                       size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    const char *cs = json_string_value(json_object_get(header, "chunk_size"));
    char *e;
    errno = 0;
    unsigned long long chunk = cs && *cs >= '0' && *cs <= '9' ? strtoull(cs, &e, 10) : 0;
    if (!cs || errno || chunk == 0 || *e) {
        hm_warn("hub: multipart upload without a valid chunk_size");
        return -EIO;
    }
    /* written so that a huge chunk_size cannot overflow */
    uint64_t nparts = size / chunk + (size % chunk != 0);
    if (nparts == 0 || nparts > LFS_MAX_PARTS)
        return -EIO;
    struct hub_lfs_part *parts = calloc((size_t)nparts, sizeof(*parts));
    if (!parts)
        return -ENOMEM;
    size_t found = 0;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)header, key, val)
    {
        if (!*key || strspn(key, "0123456789") != strlen(key) || !json_is_string(val))
            continue;
        if (found == nparts) {
            found++; /* more parts than the size allows */
            break;
        }
        errno = 0;
        unsigned long num = strtoul(key, NULL, 10);
        parts[found].num = errno ? 0 : num; /* 0 is never a valid part number */
        parts[found].url = json_string_value(val);
        found++;
    }
    if (found != nparts) {
        hm_warn("hub: multipart: %zu part URLs for %llu parts", found,
                (unsigned long long)nparts);
        free(parts);
        return -EIO;
    }
    qsort(parts, (size_t)nparts, sizeof(*parts), cmp_part);
    for (uint64_t i = 0; i < nparts; i++) {
        if (parts[i].num != i + 1) {
            hm_warn("hub: multipart: part numbers are not 1..%llu", (unsigned long long)nparts);
            free(parts);
            return -EIO;
        }
        parts[i].off = i * chunk;
        parts[i].len = size - parts[i].off < chunk ? size - parts[i].off : chunk;
    }
    *out = parts;
    *n_out = (size_t)nparts;
    return 0;
}

/* One object being uploaded.  A basic upload is one part without ETag; a
 * multipart one has the server's parts.  Its plan, ETags and descriptor
 * exist only while its parts are in flight (the pool's cursor reaches the
 * objects in order), so memory stays bounded by LFS_PARALLEL objects. */
struct up_file {
    struct commit_file *cf;
    const char *href;
    bool multipart;
    struct hub_lfs_part *parts; /* multipart plan; NULL for basic */
    size_t nparts;
    char (*etags)[LFS_ETAG_MAX];
    size_t done;                /* parts uploaded (pool lock) */
    int fd;
};

/* Parts of all objects, LFS_PARALLEL at a time: the parts of one large
 * file go out in parallel like the files of a commit do (one connection
 * per part is what S3-style multipart is made for).  The thread that
 * uploads an object's last part completes and verifies it. */
struct upload_pool {
    struct hub_client *hc;
    struct up_file *files;
    size_t n;
    struct hub_progress *progress; /* of the thread that called hub_commit, or NULL */
    pthread_mutex_t lock; /* protects cur_file, cur_part, err and every up_file.done */
    size_t cur_file, cur_part;
    int err; /* first failure; stops the others from starting new parts */
};

static void up_file_release(struct up_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    free(f->parts);
    free(f->etags);
    f->parts = NULL;
    f->etags = NULL;
}

/* Opens the object's file and plans its parts (pool lock held: it is the
 * first part taken of it). */
static int up_file_start(struct up_file *f)
{
    const json_t *header = json_object_get(f->cf->upload, "header");
    f->href = json_string_value(json_object_get(f->cf->upload, "href"));
    if (!f->href)
        return -EIO;
    f->multipart = json_is_object(header) && json_object_get(header, "chunk_size");
    if (f->multipart) {
        int rc = hub_lfs_parts_plan(header, f->cf->size, &f->parts, &f->nparts);
        if (rc)
            return rc;
        if (!(f->etags = calloc(f->nparts, sizeof(*f->etags))))
            return -ENOMEM;
    } else {
        f->nparts = 1;
    }
    f->fd = open(f->cf->op->local_file, O_RDONLY | O_CLOEXEC);
    return f->fd < 0 ? -errno : 0;
}

/* All parts are there: complete a multipart upload, verify, done. */
static int up_file_finish(struct upload_pool *p, struct up_file *f)
{
    struct commit_file *cf = f->cf;
    int rc = 0;
    if (f->multipart) {
        json_t *plist = json_array(), *done = NULL;
        for (size_t i = 0; plist && i < f->nparts; i++) {
            json_t *e = json_pack("{s:I, s:s}", "partNumber", (json_int_t)(i + 1), "etag",
                                  f->etags[i]);
            if (!e || json_array_append_new(plist, e)) {
                json_decref(plist);
                plist = NULL;
            }
        }
        done = plist ? json_pack("{s:s, s:O}", "oid", cf->sha256, "parts", plist) : NULL;
        /* the completion URL is signed too; official clients send no token */
        rc = done ? post_json(p->hc, f->href, done, false) : -ENOMEM;
        json_decref(done);
        json_decref(plist);
    }
    if (rc == 0 && cf->verify) {
        const char *vhref = json_string_value(json_object_get(cf->verify, "href"));
        json_t *v = json_pack("{s:s, s:I}", "oid", cf->sha256, "size", (json_int_t)cf->size);
        rc = !v ? -ENOMEM : vhref ? post_json(p->hc, vhref, v, true) : 0;
        json_decref(v);
    }
    if (rc == 0)
        hub_progress_file_done(p->progress);
    return rc;
}

static void pool_fail(struct upload_pool *p, struct up_file *f, int rc)
{
    hm_warn("hub: upload of %s failed: %s", f->cf->op->path, strerror(-rc));
    pthread_mutex_lock(&p->lock);
    if (!p->err)
        p->err = rc;
    pthread_mutex_unlock(&p->lock);
}

static void *upload_worker(void *arg)
{
    struct upload_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        if (p->err || p->cur_file >= p->n) {
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        struct up_file *f = &p->files[p->cur_file];
        size_t part = p->cur_part;
        int rc = 0;
        if (part == 0 && (rc = up_file_start(f)) != 0) {
            if (!p->err)
                p->err = rc;
            pthread_mutex_unlock(&p->lock);
            hm_warn("hub: upload of %s failed: %s", f->cf->op->path, strerror(-rc));
            return NULL;
        }
        if (++p->cur_part >= f->nparts) {
            p->cur_file++;
            p->cur_part = 0;
        }
        pthread_mutex_unlock(&p->lock);

        if (f->multipart)
            rc = put_region(p->hc, f->parts[part].url, f->fd, f->parts[part].off,
                            f->parts[part].len, f->etags[part], LFS_ETAG_MAX, p->progress);
        else
            rc = put_region(p->hc, f->href, f->fd, 0, f->cf->size, NULL, 0, p->progress);
        if (rc) {
            pool_fail(p, f, rc);
            return NULL;
        }
        pthread_mutex_lock(&p->lock);
        bool last = ++f->done == f->nparts;
        pthread_mutex_unlock(&p->lock);
        if (last) {
            /* no other thread touches f any more */
            close(f->fd);
            f->fd = -1;
            rc = up_file_finish(p, f);
            up_file_release(f);
            if (rc) {
                pool_fail(p, f, rc);
                return NULL;
            }
        }
    }
}

static int run_uploads(struct hub_client *hc, struct commit_file **jobs, size_t n)
{
    struct upload_pool p = {.hc = hc, .n = n, .progress = hub_progress_bound()};
    uint64_t total = 0, parts = 0;
    if (!(p.files = calloc(n, sizeof(*p.files))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        p.files[i].cf = jobs[i];
        p.files[i].fd = -1;
        total += jobs[i]->size;
        const json_t *header = json_object_get(jobs[i]->upload, "header");
        const char *cs = json_string_value(json_object_get(header, "chunk_size"));
        unsigned long long chunk = cs ? strtoull(cs, NULL, 10) : 0;
        parts += chunk ? jobs[i]->size / chunk + 1 : 1; /* an estimate is enough here */
    }
    hub_progress_begin(p.progress, (unsigned)n, total);
    pthread_t th[LFS_PARALLEL];
    size_t started = 0;
    pthread_mutex_init(&p.lock, NULL);
    size_t want = parts < LFS_PARALLEL ? (size_t)parts : LFS_PARALLEL;
    for (size_t i = 1; i < want; i++) {
        if (pthread_create(&th[started], NULL, upload_worker, &p) != 0)
            break;
        started++;
    }
    upload_worker(&p); /* this thread works too */
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&p.lock);
    for (size_t i = 0; i < n; i++) /* objects left half-done by a failure */
        up_file_release(&p.files[i]);
    free(p.files);
    hub_progress_end(p.progress, p.err);
    return p.err;
}

int hub_commit_lfs(struct hub_client *hc, const struct hub_source *src, const char *branch,
                   struct commit_file *files, size_t n)
{
    struct hub_buf url = HUB_BUF_INIT(8192);
    struct commit_file **batch_files = calloc(n ? n : 1, sizeof(*batch_files));
    size_t nt = 0, nj = 0;
    int rc = batch_files ? hub_url_lfs_batch(&url, hc->endpoint, src) : -ENOMEM;
    if (rc)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (files[i].lfs && !files[i].skip)
            batch_files[nt++] = &files[i];
    for (size_t i = 0; rc == 0 && i < nt; i += LFS_BATCH) {
        size_t k = nt - i < LFS_BATCH ? nt - i : LFS_BATCH;
        rc = batch_request(hc, url.p, branch, batch_files + i, k);
    }
    if (rc)
        goto out;
    /* the same object may back several paths: upload it once */
    for (size_t i = 0; i < nt; i++) {
        bool dup = false;
        for (size_t j = 0; j < nj; j++)
            if (strcmp(batch_files[j]->sha256, batch_files[i]->sha256) == 0)
                dup = true;
        if (batch_files[i]->upload && !dup)
            batch_files[nj++] = batch_files[i];
    }
    rc = nj ? run_uploads(hc, batch_files, nj) : 0;
out:
    free(batch_files);
    hub_buf_free(&url);
    return rc;
}
