/* url.c — build Hub URLs and compare origins (pure; see url.h). */
#include "url.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Appends {endpoint} with any trailing '/' dropped. */
static int put_endpoint(struct hub_buf *b, const char *endpoint)
{
    size_t n = strlen(endpoint);
    while (n > 0 && endpoint[n - 1] == '/')
        n--;
    return hub_buf_append(b, endpoint, n);
}

/* "." and ".." are unreserved, so escaping leaves them as they are, and
 * libcurl then resolves them away: "a/../../x" would send the request
 * (token included) to another repo or route of the same origin.  Empty
 * segments name nothing on the Hub either. */
static bool dot_or_empty(const char *seg, size_t n)
{
    return n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.');
}

int hub_buf_escape_path(struct hub_buf *b, const char *path)
{
    int rc = 0;
    const char *seg = path;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        char tmp[1024];
        if (dot_or_empty(seg, n))
            return -EINVAL;
        if (n >= sizeof(tmp))
            return -ENAMETOOLONG;
        memcpy(tmp, seg, n);
        tmp[n] = '\0';
        if ((rc = hub_buf_escape(b, tmp)))
            return rc;
        if (!end)
            return 0;
        if ((rc = hub_buf_puts(b, "/")))
            return rc;
        seg = end + 1;
    }
}

/* The repo id is "ns/name"; encode both halves in case a caller built the
 * source by hand instead of through hub_source_parse. */
static int put_repo_id(struct hub_buf *b, const char *repo_id)
{
    return hub_buf_escape_path(b, repo_id);
}

static int put_api_repo(struct hub_buf *b, const char *endpoint, const struct hub_source *src)
{
    int rc;
    if ((rc = put_endpoint(b, endpoint)) || (rc = hub_buf_puts(b, "/api/")) ||
        (rc = hub_buf_puts(b, hub_repo_type_plural(src->type))) || (rc = hub_buf_puts(b, "/")))
        return rc;
    return put_repo_id(b, src->repo_id);
}

static int put_content_repo(struct hub_buf *b, const char *endpoint, const struct hub_source *src)
{
    int rc;
    if ((rc = put_endpoint(b, endpoint)) || (rc = hub_buf_puts(b, "/")))
        return rc;
    if (src->type != HUB_REPO_MODEL) {
        if ((rc = hub_buf_puts(b, hub_repo_type_plural(src->type))) || (rc = hub_buf_puts(b, "/")))
            return rc;
    }
    return put_repo_id(b, src->repo_id);
}

static const char *rev_or_main(const char *rev)
{
    return rev && *rev ? rev : "main";
}

/* A revision is one fully escaped segment ('/' -> %2F): only "." and
 * ".." would still be resolved away by libcurl (see dot_or_empty). */
static int put_rev(struct hub_buf *b, const char *rev)
{
    if (dot_or_empty(rev, strlen(rev)))
        return -EINVAL;
    return hub_buf_escape(b, rev);
}

int hub_url_whoami(struct hub_buf *b, const char *endpoint)
{
    int rc = put_endpoint(b, endpoint);
    return rc ? rc : hub_buf_puts(b, "/api/whoami-v2");
}

int hub_url_repo_info(struct hub_buf *b, const char *endpoint, const struct hub_source *src,
                      const char *rev)
{
    int rc = put_api_repo(b, endpoint, src);
    if (rc || !rev || !*rev)
        return rc;
    if ((rc = hub_buf_puts(b, "/revision/")))
        return rc;
    return put_rev(b, rev);
}

int hub_url_tree(struct hub_buf *b, const char *endpoint, const struct hub_source *src,
                 const char *rev, const char *dir, bool recursive)
{
    int rc;
    if ((rc = put_api_repo(b, endpoint, src)) || (rc = hub_buf_puts(b, "/tree/")) ||
        (rc = put_rev(b, rev_or_main(rev))))
        return rc;
    if (dir && *dir) {
        if ((rc = hub_buf_puts(b, "/")) || (rc = hub_buf_escape_path(b, dir)))
            return rc;
    }
    return hub_buf_puts(b, recursive ? "?recursive=true" : "?recursive=false");
}

int hub_url_api_rev(struct hub_buf *b, const char *endpoint, const struct hub_source *src,
                    const char *op, const char *rev)
{
    int rc;
    if ((rc = put_api_repo(b, endpoint, src)) || (rc = hub_buf_puts(b, "/")) ||
        (rc = hub_buf_puts(b, op)) || (rc = hub_buf_puts(b, "/")))
        return rc;
    return put_rev(b, rev_or_main(rev));
}

int hub_url_resolve(struct hub_buf *b, const char *endpoint, const struct hub_source *src,
                    const char *rev, const char *path)
{
    int rc;
    if ((rc = put_content_repo(b, endpoint, src)) || (rc = hub_buf_puts(b, "/resolve/")) ||
        (rc = put_rev(b, rev_or_main(rev))) || (rc = hub_buf_puts(b, "/")))
        return rc;
    return hub_buf_escape_path(b, path);
}

int hub_url_lfs_batch(struct hub_buf *b, const char *endpoint, const struct hub_source *src)
{
    int rc = put_content_repo(b, endpoint, src);
    return rc ? rc : hub_buf_puts(b, ".git/info/lfs/objects/batch");
}

int hub_url_origin(const char *url, char *out, size_t out_size)
{
    int rc = -EINVAL;
    char *scheme = NULL, *host = NULL, *port = NULL;
    CURLU *u = curl_url();
    if (!u)
        return -ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
        goto out;
    int n = snprintf(out, out_size, "%s://%s:%s", scheme, host, port);
    if (n < 0 || (size_t)n >= out_size) {
        rc = -ENAMETOOLONG;
        goto out;
    }
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

int hub_url_join(const char *base, const char *ref, char **out)
{
    int rc = -EINVAL;
    char *joined = NULL;
    CURLU *u = curl_url();
    if (!u)
        return -ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK)
        goto out;
    /* Setting a URL on a handle that holds one resolves it relatively. */
    if (curl_url_set(u, CURLUPART_URL, ref, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_URL, &joined, 0) != CURLUE_OK)
        goto out;
    *out = strdup(joined);
    rc = *out ? 0 : -ENOMEM;
out:
    curl_free(joined);
    curl_url_cleanup(u);
    return rc;
}
