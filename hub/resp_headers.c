/* resp_headers.c — one response header line -> the fields of struct
 * hub_http_resp that the Hub client acts on (X-Error-*, X-Repo-Commit,
 * ETag, X-Linked-*, Content-Range, Retry-After, RateLimit, Location,
 * Link).  Kept apart from http.c so it can be fuzzed without a network:
 * every byte here comes from the server. */
#include "http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINK_MAX ((size_t)1 << 20) /* all Link values of one response together */

static void set_field(char *dst, size_t size, const char *v, size_t n)
{
    if (n >= size)
        n = size - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static void strip_quotes_weak(char *s)
{
    /* ETag normalisation used by clients: drop W/, strip quotes */
    size_t n = strlen(s);
    size_t st = 0;
    if (n >= 2 && (s[0] == 'W' || s[0] == 'w') && s[1] == '/')
        st = 2;
    if (s[st] == '"')
        st++;
    size_t e = n;
    if (e > st && s[e - 1] == '"')
        e--;
    memmove(s, s + st, e - st);
    s[e - st] = '\0';
}

void hub_http_clear_headers(struct hub_http_resp *r)
{
    r->error_code[0] = r->error_message[0] = r->repo_commit[0] = '\0';
    r->etag[0] = r->linked_etag[0] = r->content_range[0] = '\0';
    r->retry_after[0] = r->ratelimit[0] = '\0';
    r->linked_size = -1;
    free(r->link);
    free(r->location);
    r->link = r->location = NULL;
}

void hub_http_header_line(struct hub_http_resp *r, const char *data, size_t n)
{
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        hub_http_clear_headers(r); /* a new response (after 1xx) starts over */
        return;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon)
        return;
    size_t nl = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vl = n - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
#define IS(name) (nl == sizeof(name) - 1 && strncasecmp(data, name, nl) == 0)
    if (IS("x-error-code")) {
        set_field(r->error_code, sizeof(r->error_code), v, vl);
    } else if (IS("x-error-message")) {
        set_field(r->error_message, sizeof(r->error_message), v, vl);
        /* it is logged: no terminal escapes from the server */
        for (char *p = r->error_message; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
    } else if (IS("x-repo-commit")) {
        set_field(r->repo_commit, sizeof(r->repo_commit), v, vl);
    } else if (IS("etag")) {
        set_field(r->etag, sizeof(r->etag), v, vl);
        strip_quotes_weak(r->etag);
    } else if (IS("x-linked-etag")) {
        set_field(r->linked_etag, sizeof(r->linked_etag), v, vl);
        strip_quotes_weak(r->linked_etag);
    } else if (IS("x-linked-size")) {
        char tmp[32];
        set_field(tmp, sizeof(tmp), v, vl);
        char *e;
        errno = 0;
        long long s = strtoll(tmp, &e, 10);
        r->linked_size = (errno || e == tmp || *e || s < 0) ? -1 : s;
    } else if (IS("content-range")) {
        set_field(r->content_range, sizeof(r->content_range), v, vl);
    } else if (IS("retry-after")) {
        set_field(r->retry_after, sizeof(r->retry_after), v, vl);
    } else if (IS("ratelimit")) {
        set_field(r->ratelimit, sizeof(r->ratelimit), v, vl);
    } else if (IS("location")) {
        free(r->location);
        r->location = strndup(v, vl);
    } else if (IS("link")) {
        /* several Link headers are one comma-separated list */
        size_t old = r->link ? strlen(r->link) : 0;
        if (old + vl < LINK_MAX) {
            char *nlk = realloc(r->link, old + vl + 3);
            if (nlk) {
                if (old) {
                    memcpy(nlk + old, ", ", 2);
                    old += 2;
                }
                memcpy(nlk + old, v, vl);
                nlk[old + vl] = '\0';
                r->link = nlk;
            }
        }
    }
#undef IS
}
