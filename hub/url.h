/* url.h — pure URL building for the Hub API (hub-internal).
 *
 * API paths are /api/{type}s/{repo_id}/... for every type; content paths
 * (resolve, .git) have no prefix for models and "{type}s/" otherwise.
 * Revisions are percent-encoded completely ('/' -> %2F); file paths are
 * encoded per segment, keeping '/'.  Each builder appends to `b`.  Paths with
 * empty, "." or ".." segments and revisions "." / ".." are refused with
 * -EINVAL: libcurl would resolve them to another route of the same origin. */
#ifndef HUBMOUNT_HUB_URL_H
#define HUBMOUNT_HUB_URL_H

#include "buf.h"
#include "hub.h"

int hub_url_whoami(struct hub_buf *b, const char *endpoint) __attribute__((warn_unused_result));
/* {endpoint}/api/{type}s/{id}[/revision/{rev}] (rev NULL/"" = default branch) */
int hub_url_repo_info(struct hub_buf *b, const char *endpoint, const struct hub_source *src,
                      const char *rev) __attribute__((warn_unused_result));
/* {endpoint}/api/{type}s/{id}/tree/{rev}[/{dir}]?recursive=true|false */
int hub_url_tree(struct hub_buf *b, const char *endpoint, const struct hub_source *src,
                 const char *rev, const char *dir, bool recursive)
    __attribute__((warn_unused_result));
/* {endpoint}/api/{type}s/{id}/{op}/{rev}; op = paths-info | preupload | commit */
int hub_url_api_rev(struct hub_buf *b, const char *endpoint, const struct hub_source *src,
                    const char *op, const char *rev) __attribute__((warn_unused_result));
/* {endpoint}/{prefix}{id}/resolve/{rev}/{path} */
int hub_url_resolve(struct hub_buf *b, const char *endpoint, const struct hub_source *src,
                    const char *rev, const char *path) __attribute__((warn_unused_result));
/* {endpoint}/{prefix}{id}.git/info/lfs/objects/batch */
int hub_url_lfs_batch(struct hub_buf *b, const char *endpoint, const struct hub_source *src)
    __attribute__((warn_unused_result));

/* Append path percent-encoded per segment ('/' kept). */
int hub_buf_escape_path(struct hub_buf *b, const char *path) __attribute__((warn_unused_result));

/* "scheme://host:port" of an absolute http(s) URL, lowercase, default port
 * made explicit, so two URLs share an origin iff the strings are equal. */
int hub_url_origin(const char *url, char *out, size_t out_size) __attribute__((warn_unused_result));
/* Resolve `ref` (absolute or relative, e.g. a Location header) against
 * `base`.  *out is malloc'd. */
int hub_url_join(const char *base, const char *ref, char **out) __attribute__((warn_unused_result));

#endif
