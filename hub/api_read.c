/* api_read.c — the read-only metadata calls: whoami, repo info, tree
 * listing (all pages), paths-info (in batches). */
#include "http.h"
#include "log.h"
#include "url.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PATHS_INFO_BATCH 500   /* the Hub answers 413 above some count */
#define TREE_MAX_PAGES 100000  /* a server looping on cursors must not hang us */

/* GET url -> parsed JSON (2xx only). */
static int get_json(struct hub_client *hc, const char *url, enum hub_req_kind kind,
                    json_t **out, struct hub_http_resp *resp)
{
    struct hub_http_req req = {
        .url = url, .accept = "application/json", .auth = true, .retry = true,
        .follow = true, .kind = kind,
    };
    int rc = hub_http_do(hc, &req, resp);
    if (rc)
        return rc;
    if ((rc = hub_http_errno(resp, kind)))
        return rc;
    *out = hub_http_json(resp);
    if (!*out) {
        hm_warn("hub: unparsable JSON answer (status %ld)", resp->status);
        return -EIO;
    }
    return 0;
}

int hub_whoami(struct hub_client *hc, struct hub_identity *out)
{
    memset(out, 0, sizeof(*out));
    if (!hc->auth_header) {
        out->anonymous = true;
        out->can_read_gated = true;
        return 0;
    }
    struct hub_buf url = HUB_BUF_INIT(4096);
    struct hub_http_resp resp;
    int rc = hub_url_whoami(&url, hc->endpoint);
    if (rc)
        goto out;
    struct hub_http_req req = {
        .url = url.p, .accept = "application/json", .auth = true, .retry = true,
        .kind = HUB_REQ_WHOAMI, .max_response = 1 << 20,
    };
    if ((rc = hub_http_do(hc, &req, &resp)) == 0 &&
        (rc = hub_http_errno(&resp, HUB_REQ_WHOAMI)) == 0)
        rc = hub_identity_parse(resp.body.p, resp.body.len, out);
    hub_http_resp_free(&resp);
out:
    hub_buf_free(&url);
    return rc;
}

int hub_repo_info_parse(const json_t *root, struct hub_repo_info *out)
{
    memset(out, 0, sizeof(*out));
    const json_t *sha = json_object_get(root, "sha");
    if (!json_is_string(sha) ||
        hub_hex_copy(out->sha, json_string_value(sha), json_string_length(sha), HUB_SHA1_HEX - 1))
        return -EIO;
    const json_t *lm = json_object_get(root, "lastModified");
    if (json_is_string(lm) && hub_parse_iso8601(json_string_value(lm), &out->last_modified))
        out->last_modified = 0;
    out->is_private = json_is_true(json_object_get(root, "private"));
    const json_t *gated = json_object_get(root, "gated");
    out->gated = json_is_string(gated) || json_is_true(gated); /* false | "auto" | "manual" */
    return 0;
}

int hub_repo_info(struct hub_client *hc, const struct hub_source *src, const char *revision,
                  struct hub_repo_info *out)
{
    struct hub_buf url = HUB_BUF_INIT(8192);
    struct hub_http_resp resp;
    json_t *root = NULL;
    memset(out, 0, sizeof(*out));
    int rc = hub_url_repo_info(&url, hc->endpoint, src, revision);
    /* expand keeps the answer small: without it the Hub lists every file */
    if (rc || (rc = hub_buf_puts(&url, "?expand=sha&expand=lastModified&expand=private"
                                       "&expand=gated")))
        goto out;
    rc = get_json(hc, url.p, HUB_REQ_META, &root, &resp);
    hub_http_resp_free(&resp);
    if (rc)
        goto out;
    if ((rc = hub_repo_info_parse(root, out)))
        hm_warn("hub: repo info without a commit sha");
out:
    json_decref(root);
    hub_buf_free(&url);
    return rc;
}

int hub_list_tree(struct hub_client *hc, const struct hub_source *src, const char *commit,
                  const char *dir, bool recursive, struct hub_entries *out)
{
    struct hub_buf first = HUB_BUF_INIT(16384);
    char *url = NULL;
    size_t from = out->n;
    int rc = hub_url_tree(&first, hc->endpoint, src, commit, dir, recursive);
    if (rc)
        goto out;
    url = hub_buf_steal(&first);
    for (int page = 0;; page++) {
        if (page >= TREE_MAX_PAGES) {
            rc = -EIO;
            break;
        }
        struct hub_http_resp resp;
        json_t *arr = NULL;
        rc = get_json(hc, url, HUB_REQ_META, &arr, &resp);
        if (rc == 0)
            rc = hub_entries_parse_json(arr, out);
        json_decref(arr);
        char *next = NULL;
        if (rc == 0 && hub_link_find(resp.link, "next", &next) == -ENOMEM)
            rc = -ENOMEM;
        hub_http_resp_free(&resp);
        if (rc || !next)
            break;
        if (strcmp(next, url) == 0) { /* the same page again would loop */
            free(next);
            rc = -EIO;
            break;
        }
        free(url);
        url = next;
    }
    if (rc == 0)
        rc = hub_entries_check_listing(out, from, dir ? dir : "", recursive);
out:
    free(url);
    hub_buf_free(&first);
    return rc;
}

static int paths_info_batch(struct hub_client *hc, const char *url, const char *const *paths,
                            size_t n, struct hub_entries *out)
{
    int rc = -ENOMEM;
    char *body = NULL;
    json_t *root = json_object(), *arr = json_array(), *res = NULL;
    if (!root || !arr)
        goto out;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(arr, json_string(paths[i])))
            goto out;
    if (json_object_set(root, "paths", arr) || json_object_set_new(root, "expand", json_false()))
        goto out;
    if (!(body = json_dumps(root, JSON_COMPACT)))
        goto out;
    struct hub_http_req req = {
        .method = "POST", .url = url, .content_type = "application/json",
        .accept = "application/json", .auth = true, .retry = true, .kind = HUB_REQ_META,
        .body = body, .body_len = strlen(body),
    };
    struct hub_http_resp resp;
    if ((rc = hub_http_do(hc, &req, &resp)) == 0 &&
        (rc = hub_http_errno(&resp, HUB_REQ_META)) == 0) {
        res = hub_http_json(&resp);
        rc = res ? hub_entries_parse_json(res, out) : -EIO;
    }
    hub_http_resp_free(&resp);
out:
    json_decref(res);
    json_decref(arr);
    json_decref(root);
    free(body);
    return rc;
}

int hub_paths_info(struct hub_client *hc, const struct hub_source *src, const char *commit,
                   const char *const *paths, size_t n_paths, struct hub_entries *out)
{
    struct hub_buf url = HUB_BUF_INIT(8192);
    int rc = hub_url_api_rev(&url, hc->endpoint, src, "paths-info", commit);
    for (size_t i = 0; rc == 0 && i < n_paths; i += PATHS_INFO_BATCH) {
        size_t n = n_paths - i < PATHS_INFO_BATCH ? n_paths - i : PATHS_INFO_BATCH;
        rc = paths_info_batch(hc, url.p, paths + i, n, out);
    }
    hub_buf_free(&url);
    return rc;
}
