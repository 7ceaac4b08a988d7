/* headers.c — parsers for Hub response header values: Link (pagination),
 * Content-Range (range reads), Retry-After / RateLimit (backoff). */
#include "hub_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Does the rel value (quoted or bare, possibly "next last") name `rel`? */
static bool rel_matches(const char *v, size_t n, const char *rel)
{
    size_t rl = strlen(rel);
    size_t i = 0;
    while (i < n) {
        while (i < n && v[i] == ' ')
            i++;
        size_t s = i;
        while (i < n && v[i] != ' ')
            i++;
        if (i - s == rl && strncasecmp(v + s, rel, rl) == 0)
            return true;
    }
    return false;
}

int hub_link_find(const char *link, const char *rel, char **url)
{
    const char *p = link;
    *url = NULL;
    if (!p)
        return -ENOENT;
    for (;;) {
        p = skip_ws(p);
        while (*p == ',')
            p = skip_ws(p + 1);
        if (*p != '<')
            return -ENOENT;
        const char *ustart = p + 1;
        const char *uend = strchr(ustart, '>');
        if (!uend)
            return -ENOENT;
        p = uend + 1;
        bool found = false;
        /* params: ; key=value | ; key="value" ... until ',' or end */
        for (;;) {
            p = skip_ws(p);
            if (*p != ';')
                break;
            p = skip_ws(p + 1);
            const char *k = p;
            while (*p && *p != '=' && *p != ';' && *p != ',' && *p != ' ')
                p++;
            size_t kl = (size_t)(p - k);
            p = skip_ws(p);
            const char *v = p;
            size_t vl = 0;
            if (*p == '=') {
                p = skip_ws(p + 1);
                if (*p == '"') {
                    v = ++p;
                    while (*p && *p != '"')
                        p++;
                    vl = (size_t)(p - v);
                    if (*p == '"')
                        p++;
                } else {
                    v = p;
                    while (*p && *p != ';' && *p != ',' && *p != ' ')
                        p++;
                    vl = (size_t)(p - v);
                }
            }
            if (kl == 3 && strncasecmp(k, "rel", 3) == 0 && rel_matches(v, vl, rel))
                found = true;
        }
        if (found) {
            size_t n = (size_t)(uend - ustart);
            *url = strndup(ustart, n);
            return *url ? 0 : -ENOMEM;
        }
        /* skip anything unparsed up to the next link-value */
        while (*p && *p != ',')
            p++;
        if (!*p)
            return -ENOENT;
    }
}

static int parse_i64(const char *s, const char **end, int64_t *out)
{
    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    char *e;
    long long v = strtoll(s, &e, 10);
    if (errno)
        return -EINVAL;
    *end = e;
    *out = v;
    return 0;
}

int hub_parse_content_range(const char *s, int64_t *start, int64_t *end, int64_t *total)
{
    if (!s)
        return -EINVAL;
    s = skip_ws(s);
    if (strncasecmp(s, "bytes", 5) != 0)
        return -EINVAL;
    s = skip_ws(s + 5);
    const char *e;
    if (*s == '*') {
        *start = *end = -1;
        s++;
    } else {
        if (parse_i64(s, &e, start) || *e != '-' || parse_i64(e + 1, &e, end) || *end < *start)
            return -EINVAL;
        s = e;
    }
    if (*s != '/')
        return -EINVAL;
    s++;
    if (*s == '*') {
        *total = -1;
        s++;
    } else {
        if (parse_i64(s, &e, total))
            return -EINVAL;
        s = e;
    }
    s = skip_ws(s);
    if (*s)
        return -EINVAL;
    if (*start < 0 && *total < 0)
        return -EINVAL;
    return 0;
}

long hub_retry_after_seconds(const char *retry_after, const char *ratelimit)
{
    /* RateLimit: "api";r=0;t=55 — wait until the window resets, +1 s. */
    if (ratelimit) {
        const char *p = ratelimit;
        while ((p = strchr(p, ';')) != NULL) {
            p = skip_ws(p + 1);
            if (p[0] == 't' && p[1] == '=') {
                const char *e;
                int64_t t;
                if (parse_i64(p + 2, &e, &t) == 0 && t >= 0 && t < 86400)
                    return (long)t + 1;
            }
        }
    }
    /* Retry-After: seconds (the HTTP-date form is ignored, as clients do). */
    if (retry_after) {
        const char *e;
        int64_t t;
        const char *p = skip_ws(retry_after);
        if (parse_i64(p, &e, &t) == 0 && *skip_ws(e) == '\0' && t >= 0 && t < 86400)
            return (long)t + 1;
    }
    return -1;
}
