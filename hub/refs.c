/* refs.c — what a revision name is (branch, tag, PR, convert ref) from
 * GET /api/{type}s/{id}/refs?include_prs=1, so a tag mount can be made
 * read-only and only branches are polled.  (Added by the fs/ read path.) */
#include "http.h"
#include "log.h"
#include "url.h"

#include <errno.h>
#include <string.h>

static bool listed(const json_t *arr, const char *rev)
{
    size_t i;
    const json_t *it;
    if (!json_is_array(arr))
        return false;
    json_array_foreach(arr, i, it) {
        const char *name = json_string_value(json_object_get(it, "name"));
        const char *ref = json_string_value(json_object_get(it, "ref"));
        if ((name && strcmp(name, rev) == 0) || (ref && strcmp(ref, rev) == 0))
            return true;
    }
    return false;
}

enum hub_ref_kind hub_refs_kind(const json_t *root, const char *rev)
{
    if (listed(json_object_get(root, "branches"), rev))
        return HUB_REF_BRANCH;
    if (listed(json_object_get(root, "tags"), rev))
        return HUB_REF_TAG;
    if (listed(json_object_get(root, "pullRequests"), rev))
        return HUB_REF_PR;
    if (listed(json_object_get(root, "converts"), rev))
        return HUB_REF_CONVERT;
    return HUB_REF_UNKNOWN;
}

int hub_revision_kind(struct hub_client *hc, const struct hub_source *src,
                      const char *revision, enum hub_ref_kind *out)
{
    struct hub_buf url = HUB_BUF_INIT(4096);
    struct hub_http_resp resp;
    json_t *root = NULL;
    *out = HUB_REF_UNKNOWN;
    int rc = hub_url_repo_info(&url, hc->endpoint, src, NULL);
    if (rc || (rc = hub_buf_puts(&url, "/refs?include_prs=1")))
        goto out;
    struct hub_http_req req = {
        .url = url.p, .accept = "application/json", .auth = true, .retry = true,
        .follow = true, .kind = HUB_REQ_META,
    };
    rc = hub_http_do(hc, &req, &resp);
    if (rc == 0 && (rc = hub_http_errno(&resp, HUB_REQ_META)) == 0) {
        root = hub_http_json(&resp);
        if (!root)
            rc = -EIO;
    }
    hub_http_resp_free(&resp);
    if (rc)
        goto out;
    *out = hub_refs_kind(root, revision && *revision ? revision : "main");
out:
    json_decref(root);
    hub_buf_free(&url);
    return rc;
}
