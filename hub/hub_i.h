/* hub_i.h — internals shared by the files of hub/ (never included from
 * fs/ or cache/).  Pure helpers are declared here so tests/unit can
 * exercise them without a network. */
#ifndef HUBMOUNT_HUB_I_H
#define HUBMOUNT_HUB_I_H

#include <jansson.h>
#include <pthread.h>
#include <time.h>

#include "buf.h"
#include "hub.h"

/* ---- the client object ------------------------------------------------- */

#define HUB_HANDLE_POOL 16  /* idle curl handles kept for connection reuse */
#define HUB_CDN_CACHE 64    /* signed CDN URLs remembered per (commit, path) */
#define HUB_CDN_TTL_S 60    /* how long such a URL is reused */

struct hub_cdn_entry {
    char *key;       /* resolve URL (encodes type, repo, commit and path) */
    char *url;       /* signed absolute URL it redirected to */
    time_t expires;  /* monotonic seconds */
};

/* Lock order: pool_lock and cdn_lock are leaves; never held together,
 * never held across a network request. */
struct hub_client {
    char *endpoint;    /* no trailing '/' */
    char origin[300];  /* hub_url_origin(endpoint): where the token may go */
    char *auth_header; /* "Authorization: Bearer ..." or NULL; never logged */
    long timeout_s;
    int max_retries;
    bool offline;

    pthread_mutex_t pool_lock; /* protects pool[], n_pool */
    void *pool[HUB_HANDLE_POOL];
    size_t n_pool;

    pthread_mutex_t cdn_lock;  /* protects cdn[], cdn_next */
    struct hub_cdn_entry cdn[HUB_CDN_CACHE];
    size_t cdn_next;
};

/* ---- pure helpers ------------------------------------------------------ */

/* From one or more Link header values (comma-joined), the URL whose rel
 * list contains `rel`.  Returns 0 and a malloc'd *url, -ENOENT if absent,
 * -ENOMEM. */
int hub_link_find(const char *link, const char *rel, char **url)
    __attribute__((warn_unused_result));

/* ISO-8601 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" -> unix seconds. */
int hub_parse_iso8601(const char *s, int64_t *out) __attribute__((warn_unused_result));

/* whoami-v2 body -> identity (out is zeroed first; free with
 * hub_identity_free). */
int hub_identity_parse(const char *json, size_t len, struct hub_identity *out)
    __attribute__((warn_unused_result));

/* One tree/paths-info entry object, or an array of them, appended. */
int hub_entries_parse_json(const json_t *array, struct hub_entries *out)
    __attribute__((warn_unused_result));

/* Entries from index `from` on are a listing of `dir` ("" = root): each
 * must lie below it (directly unless `recursive`) and no path may come
 * twice (e.g. a file and a directory of one name).  -EIO (logged) if not. */
int hub_entries_check_listing(const struct hub_entries *l, size_t from, const char *dir,
                              bool recursive) __attribute__((warn_unused_result));

/* "bytes START-END/TOTAL" or "bytes * /TOTAL" (total -1 if "*"). */
int hub_parse_content_range(const char *s, int64_t *start, int64_t *end, int64_t *total)
    __attribute__((warn_unused_result));

/* Seconds to wait before retrying, from Retry-After / RateLimit "t=N";
 * -1 when the headers say nothing. */
long hub_retry_after_seconds(const char *retry_after, const char *ratelimit);

/* s[0..n) must be exactly `want` hex digits (either case): copies them
 * lowercase + NUL into dst (want + 1 bytes).  -EINVAL otherwise (dst ""). */
int hub_hex_copy(char *dst, const char *s, size_t n, size_t want)
    __attribute__((warn_unused_result));

/* Repo info answer {"sha", "lastModified", "private", "gated"} -> out
 * (zeroed first).  -EIO when sha is not a 40-hex commit id. */
int hub_repo_info_parse(const json_t *root, struct hub_repo_info *out)
    __attribute__((warn_unused_result));

/* Refs answer {"branches": [{name, ref}], "tags", "pullRequests",
 * "converts"} -> what `rev` names (HUB_REF_UNKNOWN if none). */
enum hub_ref_kind hub_refs_kind(const json_t *root, const char *rev);

/* Message of an error body ({"error": "m"}, {"error": ["m", ...]},
 * {"error": code, "error_description": "m"}, {"errors": [{"message": "m"}]},
 * or the first line of a plain-text body; HTML pages are ignored), with
 * control characters blanked, truncated to out_size - 1.  0, or -ENOENT
 * when the body says nothing usable. */
int hub_error_body_message(const char *body, size_t len, char *out, size_t out_size);

#endif
