/* buf.c — capped growable buffer used for URLs, JSON and response bodies. */
#include "buf.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUB_BUF_DEFAULT_MAX ((size_t)64 << 20)

static int buf_reserve(struct hub_buf *b, size_t extra)
{
    size_t max = b->max ? b->max : HUB_BUF_DEFAULT_MAX;
    if (extra > max || b->len > max - extra)
        return -EFBIG;
    size_t need = b->len + extra + 1; /* + NUL */
    if (need <= b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    char *np = realloc(b->p, ncap);
    if (!np)
        return -ENOMEM;
    b->p = np;
    b->cap = ncap;
    return 0;
}

int hub_buf_append(struct hub_buf *b, const void *data, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int hub_buf_puts(struct hub_buf *b, const char *s)
{
    return hub_buf_append(b, s, strlen(s));
}

int hub_buf_printf(struct hub_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int hub_buf_escape(struct hub_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n == 0)
        return hub_buf_append(b, "", 0);
    if (n > INT_MAX / 3)
        return -EFBIG;
    /* The handle argument of curl_easy_escape is unused by libcurl. */
    char *esc = curl_easy_escape(NULL, s, (int)n);
    if (!esc)
        return -ENOMEM;
    int rc = hub_buf_puts(b, esc);
    curl_free(esc);
    return rc;
}

void hub_buf_reset(struct hub_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

void hub_buf_free(struct hub_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *hub_buf_steal(struct hub_buf *b)
{
    char *p = b->p;
    if (!p)
        p = calloc(1, 1);
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}
