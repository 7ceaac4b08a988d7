/* http.c — the one place hubmount performs HTTP (see http.h).
 *
 * Redirects are followed here, not by libcurl, so that the decision to
 * attach the token is taken for every hop with the same rule: the token
 * goes only to the configured endpoint's origin (scheme, host, port).
 * Signed CDN/S3 URLs therefore never see it. */
#include "http.h"
#include "log.h"
#include "url.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HTTP_DEFAULT_MAX_RESPONSE ((size_t)16 << 20)
#define HTTP_MAX_REDIRECTS 5
#define HTTP_BACKOFF_CAP_S 8
#define HTTP_MAX_SERVER_WAIT_S 10 /* longer Retry-After: give up (EAGAIN) */
#define HTTP_CONNECT_TIMEOUT_S 10L
#define HTTP_UPLOAD_BUFFER (512L * 1024L)

/* ---- handle pool -------------------------------------------------------- */

static CURL *pool_get(struct hub_client *hc)
{
    CURL *h = NULL;
    pthread_mutex_lock(&hc->pool_lock);
    if (hc->n_pool > 0)
        h = hc->pool[--hc->n_pool];
    pthread_mutex_unlock(&hc->pool_lock);
    return h ? h : curl_easy_init();
}

static void pool_put(struct hub_client *hc, CURL *h)
{
    pthread_mutex_lock(&hc->pool_lock);
    if (hc->n_pool < HUB_HANDLE_POOL) {
        hc->pool[hc->n_pool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&hc->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- per-hop state ------------------------------------------------------ */

struct hop {
    CURL *h;
    const struct hub_http_req *req;
    struct hub_http_resp *resp;
    bool head;
    /* request body cursor */
    uint64_t body_pos, body_total;
    uint64_t counted; /* body bytes added to req->progress by this hop */
    int sink_err;
    bool too_big;
};

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct hop *c = ud;
    const struct hub_http_req *r = c->req;
    size_t want = size * nitems;
    uint64_t left = c->body_total - c->body_pos;
    if (want > left)
        want = (size_t)left;
    if (want == 0)
        return 0;
    if (!r->body_fd_set) {
        memcpy(buf, (const char *)r->body + c->body_pos, want);
        c->body_pos += want;
        return want;
    }
    for (;;) {
        ssize_t n = pread(r->body_fd, buf, want, (off_t)(r->body_off + c->body_pos));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) /* the staging file shrank under us: abort the upload */
            return CURL_READFUNC_ABORT;
        c->body_pos += (uint64_t)n;
        if (r->progress) {
            atomic_fetch_add(&r->progress->sent, (uint64_t)n);
            c->counted += (uint64_t)n;
            hub_progress_tick(r->progress);
        }
        return (size_t)n;
    }
}

/* libcurl rewinds when it resends on a reused connection that died. */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    struct hop *c = ud;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > c->body_total)
        return CURL_SEEKFUNC_CANTSEEK;
    if (c->req->progress && c->counted >= c->body_pos - (uint64_t)offset &&
        (uint64_t)offset < c->body_pos) { /* these bytes will be sent again */
        atomic_fetch_sub(&c->req->progress->sent, c->body_pos - (uint64_t)offset);
        c->counted -= c->body_pos - (uint64_t)offset;
    }
    c->body_pos = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct hop *c = ud;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 300 && status < 400)
        return n; /* redirect bodies are noise */
    if (status >= 200 && status < 300 && c->req->sink) {
        c->resp->status = status;
        int r = c->req->sink(c->req->sink_ctx, c->resp, data, n);
        if (r < 0) {
            c->sink_err = r;
            return 0;
        }
        if (r == 1) {
            c->resp->sink_done = true;
            return 0;
        }
        return n;
    }
    if (hub_buf_append(&c->resp->body, data, n)) {
        c->too_big = true;
        return 0;
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *ud)
{
    struct hop *c = ud;
    size_t n = size * nitems;
    hub_http_header_line(c->resp, data, n);
    return n;
}

/* ---- one hop ------------------------------------------------------------ */

enum hop_result { HOP_OK, HOP_RETRYABLE, HOP_FATAL };

/* Performs one request on `url` without following redirects.  On a
 * transport failure *err gets the positive errno. */
static enum hop_result hop_perform(struct hub_client *hc, CURL *h, const struct hub_http_req *req,
                                   const char *url, const char *method, bool with_body,
                                   bool send_auth, struct hub_http_resp *resp, int *err)
{
    struct hop c = {.h = h, .req = req, .resp = resp};
    struct curl_slist *hdrs = NULL, *tmp;
    enum hop_result res = HOP_FATAL;
    char line[256];
    *err = EIO;

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "hubmount/" HUBMOUNT_VERSION);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    /* libcurl silently resends a request whose reused connection died
     * before an answer; for a commit that could apply it twice (or turn
     * our own success into a 412).  A fresh connection has no such replay. */
    if (!req->retry)
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, hc->timeout_s < HTTP_CONNECT_TIMEOUT_S
                                                    ? hc->timeout_s
                                                    : HTTP_CONNECT_TIMEOUT_S);
    if (req->long_transfer) {
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, hc->timeout_s);
    } else {
        curl_easy_setopt(h, CURLOPT_TIMEOUT, hc->timeout_s);
    }
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &c);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
    /* Content arrives in reads of up to 512 KiB instead of libcurl's 16 KiB:
     * fewer callbacks and copies per byte of a cold sequential read. */
    if (req->kind == HUB_REQ_CONTENT)
        curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024L);

    /* "Expect:" turns off 100-continue: one round trip less per upload. */
    if (!(hdrs = curl_slist_append(NULL, "Expect:")))
        goto oom;
    if (req->accept) {
        snprintf(line, sizeof(line), "Accept: %s", req->accept);
        if (!(tmp = curl_slist_append(hdrs, line)))
            goto oom;
        hdrs = tmp;
    }
    if (req->range) {
        snprintf(line, sizeof(line), "Range: %s", req->range);
        if (!(tmp = curl_slist_append(hdrs, line)))
            goto oom;
        hdrs = tmp;
    }
    if (with_body && req->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
        if (!(tmp = curl_slist_append(hdrs, line)))
            goto oom;
        hdrs = tmp;
    }
    if (send_auth) {
        if (!(tmp = curl_slist_append(hdrs, hc->auth_header)))
            goto oom;
        hdrs = tmp;
    }
    resp->token_sent = send_auth;
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

    if (strcmp(method, "HEAD") == 0) {
        c.head = true;
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        c.body_total = !with_body ? 0 : req->body_fd_set ? req->body_fd_len : req->body_len;
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &c);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, &c);
        /* bodies read from a file (uploads): larger reads, fewer callbacks
         * and sends than libcurl's 64 KiB default */
        if (req->body_fd_set)
            curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, HTTP_UPLOAD_BUFFER);
        if (strcmp(method, "PUT") == 0) {
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)c.body_total);
        } else {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c.body_total);
            if (strcmp(method, "POST") != 0)
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        }
    }

    resp->status = 0;
    hub_http_clear_headers(resp);
    hub_buf_reset(&resp->body);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    if (c.counted && (cc != CURLE_OK || resp->status < 200 || resp->status >= 300))
        atomic_fetch_sub(&req->progress->sent, c.counted); /* not delivered: sent again */

    if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && resp->sink_done)) {
        res = HOP_OK;
        goto out;
    }
    if (c.sink_err) {
        *err = -c.sink_err;
        goto out;
    }
    if (c.too_big) {
        hm_warn("hub: response body over the cap, dropped");
        *err = EIO;
        goto out;
    }
    hm_debug("hub: transport error: %s", curl_easy_strerror(cc));
    resp->status = 0;
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        *err = hub_errno(0, "timeout", NULL, req->kind, send_auth);
        res = HOP_RETRYABLE;
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        /* nothing was sent: safe to retry even a commit */
        *err = hub_errno(0, NULL, NULL, req->kind, send_auth);
        res = HOP_RETRYABLE;
        break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SEND_FAIL_REWIND:
        *err = hub_errno(0, NULL, NULL, req->kind, send_auth);
        res = req->retry ? HOP_RETRYABLE : HOP_FATAL;
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR: {
        /* Verification is never turned off: say why, once per request. */
        char origin[sizeof(hc->origin)];
        if (hub_url_origin(url, origin, sizeof(origin)) != 0)
            snprintf(origin, sizeof(origin), "the server");
        hm_error("hub: TLS certificate of %s is not trusted (%s): refused", origin,
                 curl_easy_strerror(cc));
        *err = hub_errno(0, NULL, NULL, req->kind, send_auth);
        break;
    }
    default:
        *err = hub_errno(0, NULL, NULL, req->kind, send_auth);
        break;
    }
    goto out;
oom:
    *err = ENOMEM;
out:
    curl_slist_free_all(hdrs);
    return res;
}

/* Logs a URL without its query string: signed URLs carry credentials. */
static void log_request(const char *method, const char *url, long status)
{
    if (!hm_log_enabled(HM_LOG_DEBUG))
        return;
    const char *q = strchr(url, '?');
    int n = q ? (int)(q - url) : (int)strlen(url);
    hm_debug("hub: %s %.*s -> %ld", method, n, url, status);
}

/* One attempt: the request and the redirects it leads to. */
static enum hop_result attempt(struct hub_client *hc, CURL *h, const struct hub_http_req *req,
                               struct hub_http_resp *resp, int *err)
{
    const char *method = req->method ? req->method : "GET";
    bool with_body = true;
    char *url = strdup(req->url);
    enum hop_result res = HOP_FATAL;
    *err = ENOMEM;
    if (!url)
        return HOP_FATAL;
    for (int hops = 0;; hops++) {
        char origin[sizeof(hc->origin)];
        bool same = hub_url_origin(url, origin, sizeof(origin)) == 0 &&
                    strcmp(origin, hc->origin) == 0;
        bool send_auth = req->auth && hc->auth_header && same;
        res = hop_perform(hc, h, req, url, method, with_body, send_auth, resp, err);
        log_request(method, url, resp->status);
        if (res != HOP_OK)
            break;
        long st = resp->status;
        bool redirect = st == 301 || st == 302 || st == 303 || st == 307 || st == 308;
        if (!req->follow || !redirect || !resp->location)
            break;
        if (hops >= HTTP_MAX_REDIRECTS) {
            hm_warn("hub: too many redirects");
            *err = EIO;
            res = HOP_FATAL;
            break;
        }
        char *next = NULL;
        int rc = hub_url_join(url, resp->location, &next);
        if (rc) {
            hm_warn("hub: unusable redirect target: refused");
            *err = rc == -ENOMEM ? ENOMEM : EIO; /* a broken server, not a bad argument */
            res = HOP_FATAL;
            break;
        }
        if (strncasecmp(next, "http://", 7) != 0 && strncasecmp(next, "https://", 8) != 0) {
            /* libcurl would refuse it too (CURLOPT_PROTOCOLS_STR), silently */
            hm_warn("hub: redirect to a non-HTTP URL refused");
            free(next);
            *err = EIO;
            res = HOP_FATAL;
            break;
        }
        free(url);
        url = next;
        if (st == 303 || ((st == 301 || st == 302) && strcmp(method, "POST") == 0)) {
            method = "GET";
            with_body = false;
        }
    }
    free(resp->url);
    resp->url = url;
    return res;
}

static bool status_retryable(long st)
{
    return st == 408 || st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

static void sleep_s(long s)
{
    struct timespec ts = {.tv_sec = s, .tv_nsec = 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int hub_http_do(struct hub_client *hc, const struct hub_http_req *req,
                struct hub_http_resp *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->body.max = req->max_response ? req->max_response : HTTP_DEFAULT_MAX_RESPONSE;
    resp->linked_size = -1;
    if (hc->offline)
        return -hub_errno(0, "offline", NULL, req->kind, false);
    CURL *h = pool_get(hc);
    if (!h)
        return -ENOMEM;

    int rc = 0;
    long backoff = 1;
    for (int n = 0;; n++) {
        if (req->sink_reset)
            req->sink_reset(req->sink_ctx);
        resp->sink_done = false;
        int err = 0;
        enum hop_result res = attempt(hc, h, req, resp, &err);
        bool last = n >= hc->max_retries;
        if (res == HOP_FATAL || (res == HOP_RETRYABLE && last)) {
            rc = -err;
            break;
        }
        long wait = backoff;
        if (res == HOP_OK) {
            if (!req->retry || last || !status_retryable(resp->status))
                break;
            long server = hub_retry_after_seconds(resp->retry_after[0] ? resp->retry_after : NULL,
                                                  resp->ratelimit[0] ? resp->ratelimit : NULL);
            if (server > HTTP_MAX_SERVER_WAIT_S) {
                hm_warn("hub: server asks to wait %ld s; giving up for now", server);
                break;
            }
            if (server >= 0)
                wait = server;
        }
        hm_debug("hub: retrying in %ld s (attempt %d)", wait, n + 2);
        sleep_s(wait);
        backoff = backoff * 2 > HTTP_BACKOFF_CAP_S ? HTTP_BACKOFF_CAP_S : backoff * 2;
    }
    /* No X-Error-Message: the body may say why (quota, gating...). */
    if (rc == 0 && resp->status >= 400 && !resp->error_message[0] && resp->body.len)
        hub_error_body_message(resp->body.p, resp->body.len, resp->error_message,
                               sizeof(resp->error_message));
    pool_put(hc, h);
    return rc;
}

int hub_http_errno(const struct hub_http_resp *resp, enum hub_req_kind kind)
{
    return -hub_errno(resp->status, resp->error_code[0] ? resp->error_code : NULL,
                      resp->error_message[0] ? resp->error_message : NULL, kind,
                      resp->token_sent);
}

void hub_http_resp_free(struct hub_http_resp *resp)
{
    hub_buf_free(&resp->body);
    free(resp->link);
    free(resp->location);
    free(resp->url);
    resp->link = resp->location = resp->url = NULL;
}

json_t *hub_http_json(const struct hub_http_resp *resp)
{
    json_error_t jerr;
    if (!resp->body.p)
        return NULL;
    return json_loadb(resp->body.p, resp->body.len, 0, &jerr);
}
