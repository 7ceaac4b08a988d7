/* read_range.c — hub_read_range: one Range GET through /resolve.
 *
 * LFS files answer with a 302 to a signed CDN URL; the http layer follows
 * it without the token.  That URL is remembered per (commit, path) for a
 * short time so block reads of a big file pay one request, not two; if
 * it fails (expired signature), we go through /resolve again.
 * A server that ignores Range (200 with the whole body) is handled by
 * skipping to the offset while streaming: never return wrong bytes. */
#include "http.h"
#include "log.h"
#include "url.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct range_sink {
    char *buf;
    size_t len;
    uint64_t offset;
    uint64_t skip;   /* bytes still to drop before buf (200 answers) */
    size_t got;
    bool started;
};

static void range_reset(void *ctx)
{
    struct range_sink *s = ctx;
    s->got = 0;
    s->skip = 0;
    s->started = false;
}

static int range_sink(void *ctx, const struct hub_http_resp *resp, const char *data, size_t n)
{
    struct range_sink *s = ctx;
    if (!s->started) {
        s->started = true;
        if (resp->status == 206) {
            int64_t st, en, total;
            if (hub_parse_content_range(resp->content_range, &st, &en, &total) ||
                st != (int64_t)s->offset) {
                hm_warn("hub: range answer starts elsewhere (%s)", resp->content_range);
                return -EIO;
            }
        } else if (resp->status == 200) {
            s->skip = s->offset; /* Range ignored: the body starts at 0 */
        } else {
            return -EIO;
        }
    }
    if (s->skip) {
        size_t d = n < s->skip ? n : (size_t)s->skip;
        s->skip -= d;
        data += d;
        n -= d;
    }
    size_t room = s->len - s->got;
    size_t take = n < room ? n : room;
    memcpy(s->buf + s->got, data, take);
    s->got += take;
    return s->got == s->len ? 1 : 0;
}

static time_t now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static char *cdn_lookup(struct hub_client *hc, const char *key)
{
    char *url = NULL;
    time_t now = now_mono();
    pthread_mutex_lock(&hc->cdn_lock);
    for (size_t i = 0; i < HUB_CDN_CACHE; i++) {
        struct hub_cdn_entry *e = &hc->cdn[i];
        if (e->key && e->expires > now && strcmp(e->key, key) == 0) {
            url = strdup(e->url);
            break;
        }
    }
    pthread_mutex_unlock(&hc->cdn_lock);
    return url;
}

static void cdn_forget(struct hub_client *hc, const char *key)
{
    pthread_mutex_lock(&hc->cdn_lock);
    for (size_t i = 0; i < HUB_CDN_CACHE; i++) {
        struct hub_cdn_entry *e = &hc->cdn[i];
        if (e->key && strcmp(e->key, key) == 0)
            e->expires = 0;
    }
    pthread_mutex_unlock(&hc->cdn_lock);
}

static void cdn_store(struct hub_client *hc, const char *key, const char *url)
{
    char *k = strdup(key), *u = strdup(url);
    if (!k || !u) {
        free(k);
        free(u);
        return;
    }
    pthread_mutex_lock(&hc->cdn_lock);
    size_t slot = hc->cdn_next;
    for (size_t i = 0; i < HUB_CDN_CACHE; i++)
        if (hc->cdn[i].key && strcmp(hc->cdn[i].key, key) == 0)
            slot = i;
    struct hub_cdn_entry *e = &hc->cdn[slot];
    free(e->key);
    free(e->url);
    e->key = k;
    e->url = u;
    e->expires = now_mono() + HUB_CDN_TTL_S;
    if (slot == hc->cdn_next)
        hc->cdn_next = (hc->cdn_next + 1) % HUB_CDN_CACHE;
    pthread_mutex_unlock(&hc->cdn_lock);
}

/* One ranged GET of `url`; on success *final gets the URL that answered
 * (malloc'd) when final is non-NULL. */
static ssize_t ranged_get(struct hub_client *hc, const char *url, uint64_t offset, void *buf,
                          size_t len, char **final)
{
    char range[64];
    snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, offset,
             offset + (uint64_t)len - 1);
    struct range_sink sink = {.buf = buf, .len = len, .offset = offset};
    struct hub_http_req req = {
        .url = url, .range = range, .auth = true, .retry = true, .follow = true,
        .kind = HUB_REQ_CONTENT, .max_response = 64 << 10,
        .sink = range_sink, .sink_reset = range_reset, .sink_ctx = &sink,
    };
    struct hub_http_resp resp;
    ssize_t rc = hub_http_do(hc, &req, &resp);
    if (rc)
        goto out;
    long st = resp.status;
    if (st == 200 || st == 206) {
        if (st == 206 && !sink.started) { /* empty 206: still check where it starts */
            int64_t s, e, t;
            if (hub_parse_content_range(resp.content_range, &s, &e, &t) ||
                s != (int64_t)offset) {
                rc = -EIO;
                goto out;
            }
        }
        rc = (ssize_t)sink.got;
        if (final && resp.url)
            *final = strdup(resp.url);
    } else if (st == 416) {
        int64_t s, e, total;
        if (hub_parse_content_range(resp.content_range, &s, &e, &total) == 0 && total >= 0 &&
            offset >= (uint64_t)total)
            rc = 0; /* reading at or past EOF */
        else
            rc = -hub_errno(st, NULL, NULL, HUB_REQ_CONTENT, resp.token_sent);
    } else {
        rc = hub_http_errno(&resp, HUB_REQ_CONTENT);
        if (rc == 0) /* a redirect we could not follow */
            rc = -EIO;
    }
out:
    hub_http_resp_free(&resp);
    return rc;
}

ssize_t hub_read_range(struct hub_client *hc, const struct hub_source *src, const char *commit,
                       const char *path, uint64_t offset, void *buf, size_t len)
{
    if (len == 0)
        return 0;
    if (len > SSIZE_MAX || offset > UINT64_MAX - len)
        return -EINVAL;
    struct hub_buf key = HUB_BUF_INIT(16384);
    ssize_t rc = hub_url_resolve(&key, hc->endpoint, src, commit, path);
    if (rc)
        goto out;

    char *cdn = cdn_lookup(hc, key.p);
    if (cdn) {
        rc = ranged_get(hc, cdn, offset, buf, len, NULL);
        free(cdn);
        if (rc >= 0)
            goto out;
        hm_debug("hub: cached CDN URL failed (%zd), resolving again", rc);
        cdn_forget(hc, key.p);
    }

    char *final = NULL;
    rc = ranged_get(hc, key.p, offset, buf, len, &final);
    if (rc >= 0 && final) {
        char origin[sizeof(hc->origin)];
        if (hub_url_origin(final, origin, sizeof(origin)) == 0 && strcmp(origin, hc->origin))
            cdn_store(hc, key.p, final);
    }
    free(final);
out:
    hub_buf_free(&key);
    return rc;
}
