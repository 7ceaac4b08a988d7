/* commit_lfs.c — LFS objects of a commit: one batch request says which
 * objects the Hub lacks and how to send them ("basic": one PUT of the
 * whole file; "multipart": one PUT per chunk_size part, ETags collected,
 * then a completion POST), then up to 4 uploads run in parallel.  Upload
 * URLs are pre-signed: the http layer sends no token to their origin. */
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

int hub_lfs_batch_apply(const json_t *res, struct commit_file **todo, size_t n)
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
            if (strcasecmp(todo[i]->sha256, oid) != 0)
                continue;
            if (json_is_object(up) && !todo[i]->upload)
                todo[i]->upload = json_incref(up);
            if (json_is_object(ver) && !todo[i]->verify)
                todo[i]->verify = json_incref(ver);
        }
    }
    return 0;
}

static int batch_request(struct hub_client *hc, const char *url, const char *branch,
                         struct commit_file **todo, size_t n)
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
        json_t *o = json_pack("{s:s, s:I}", "oid", todo[i]->sha256, "size",
                              (json_int_t)todo[i]->size);
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
    rc = hub_lfs_batch_apply(res, todo, n);
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

static int upload_multipart(struct hub_client *hc, struct commit_file *cf, int fd,
                            const char *href, const json_t *header, struct hub_progress *progress)
{
    json_t *done = NULL, *plist = NULL;
    struct hub_lfs_part *parts = NULL;
    size_t nparts = 0;
    int rc = hub_lfs_parts_plan(header, cf->size, &parts, &nparts);
    if (rc)
        goto out;
    if (!(plist = json_array())) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nparts; i++) {
        char etag[160];
        if ((rc = put_region(hc, parts[i].url, fd, parts[i].off, parts[i].len, etag,
                             sizeof(etag), progress)))
            goto out;
        json_t *p = json_pack("{s:I, s:s}", "partNumber", (json_int_t)(i + 1), "etag", etag);
        if (!p || json_array_append_new(plist, p)) {
            rc = -ENOMEM;
            goto out;
        }
    }
    done = json_pack("{s:s, s:O}", "oid", cf->sha256, "parts", plist);
    if (!done) {
        rc = -ENOMEM;
        goto out;
    }
    /* the completion URL is signed too; official clients send no token */
    rc = post_json(hc, href, done, false);
out:
    json_decref(done);
    json_decref(plist);
    free(parts);
    return rc;
}

static int upload_one(struct hub_client *hc, struct commit_file *cf, struct hub_progress *progress)
{
    const char *href = json_string_value(json_object_get(cf->upload, "href"));
    const json_t *header = json_object_get(cf->upload, "header");
    if (!href)
        return -EIO;
    int fd = open(cf->op->local_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc;
    if (json_is_object(header) && json_object_get(header, "chunk_size"))
        rc = upload_multipart(hc, cf, fd, href, header, progress);
    else
        rc = put_region(hc, href, fd, 0, cf->size, NULL, 0, progress);
    close(fd);
    if (rc == 0 && cf->verify) {
        const char *vhref = json_string_value(json_object_get(cf->verify, "href"));
        json_t *v = json_pack("{s:s, s:I}", "oid", cf->sha256, "size", (json_int_t)cf->size);
        rc = !v ? -ENOMEM : vhref ? post_json(hc, vhref, v, true) : 0;
        json_decref(v);
    }
    if (rc)
        hm_warn("hub: upload of %s failed: %s", cf->op->path, strerror(-rc));
    else
        hub_progress_file_done(progress);
    return rc;
}

struct upload_pool {
    struct hub_client *hc;
    struct commit_file **jobs;
    size_t n;
    struct hub_progress *progress; /* of the thread that called hub_commit, or NULL */
    pthread_mutex_t lock; /* protects next, err */
    size_t next;
    int err; /* first failure; stops the others from starting new jobs */
};

static void *upload_worker(void *arg)
{
    struct upload_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t i = p->err ? p->n : p->next++;
        pthread_mutex_unlock(&p->lock);
        if (i >= p->n)
            return NULL;
        int rc = upload_one(p->hc, p->jobs[i], p->progress);
        if (rc) {
            pthread_mutex_lock(&p->lock);
            if (!p->err)
                p->err = rc;
            pthread_mutex_unlock(&p->lock);
        }
    }
}

static int run_uploads(struct hub_client *hc, struct commit_file **jobs, size_t n)
{
    struct upload_pool p = {.hc = hc, .jobs = jobs, .n = n, .progress = hub_progress_bound()};
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += jobs[i]->size;
    hub_progress_begin(p.progress, (unsigned)n, total);
    pthread_t th[LFS_PARALLEL];
    size_t started = 0;
    pthread_mutex_init(&p.lock, NULL);
    size_t want = n < LFS_PARALLEL ? n : LFS_PARALLEL;
    for (size_t i = 1; i < want; i++) {
        if (pthread_create(&th[started], NULL, upload_worker, &p) != 0)
            break;
        started++;
    }
    upload_worker(&p); /* this thread works too */
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&p.lock);
    hub_progress_end(p.progress, p.err);
    return p.err;
}

int hub_commit_lfs(struct hub_client *hc, const struct hub_source *src, const char *branch,
                   struct commit_file *files, size_t n)
{
    struct hub_buf url = HUB_BUF_INIT(8192);
    struct commit_file **todo = calloc(n ? n : 1, sizeof(*todo));
    size_t nt = 0, nj = 0;
    int rc = todo ? hub_url_lfs_batch(&url, hc->endpoint, src) : -ENOMEM;
    if (rc)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (files[i].lfs && !files[i].skip)
            todo[nt++] = &files[i];
    for (size_t i = 0; rc == 0 && i < nt; i += LFS_BATCH) {
        size_t k = nt - i < LFS_BATCH ? nt - i : LFS_BATCH;
        rc = batch_request(hc, url.p, branch, todo + i, k);
    }
    if (rc)
        goto out;
    /* the same object may back several paths: upload it once */
    for (size_t i = 0; i < nt; i++) {
        bool dup = false;
        for (size_t j = 0; j < nj; j++)
            if (strcmp(todo[j]->sha256, todo[i]->sha256) == 0)
                dup = true;
        if (todo[i]->upload && !dup)
            todo[nj++] = todo[i];
    }
    rc = nj ? run_uploads(hc, todo, nj) : 0;
out:
    free(todo);
    hub_buf_free(&url);
    return rc;
}
