/* api_list.c — namespace-level calls for namespace and Hub mounts:
 * the repos of one author (GET /api/{models,datasets,spaces}?author=NS,
 * every page) and repo creation (POST /api/repos/create), which is what
 * mkdir of a repo directory turns into. */
#include "http.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LIST_PAGE 500        /* huggingface.js never asks for more per page */
#define LIST_MAX_PAGES 10000 /* a server looping on cursors must not hang us */

void hub_repo_list_free(struct hub_repo_list *l)
{
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int list_push(struct hub_repo_list *l, const struct hub_repo_item *it)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct hub_repo_item *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *it;
    return 0;
}

int hub_repo_list_parse(const char *json, size_t len, struct hub_repo_list *out)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    int rc = 0;
    if (!json_is_array(root)) {
        rc = -EIO;
        goto out;
    }
    size_t i;
    json_t *o;
    json_array_foreach(root, i, o) {
        const json_t *id = json_object_get(o, "id");
        struct hub_repo_item it;
        memset(&it, 0, sizeof(it));
        /* An id that is not "ns/name" names nothing we could mount. */
        if (!json_is_string(id) || json_string_length(id) >= sizeof(it.id) ||
            !strchr(json_string_value(id), '/'))
            continue;
        memcpy(it.id, json_string_value(id), json_string_length(id) + 1);
        it.is_private = json_is_true(json_object_get(o, "private"));
        const json_t *gated = json_object_get(o, "gated");
        it.gated = json_is_string(gated) || json_is_true(gated);
        const json_t *lm = json_object_get(o, "lastModified");
        if (!json_is_string(lm) || hub_parse_iso8601(json_string_value(lm), &it.last_modified))
            it.last_modified = 0;
        if ((rc = list_push(out, &it)))
            break;
    }
out:
    json_decref(root);
    return rc;
}

/* All pages (max_pages 0) or the first max_pages pages of `limit` repos. */
static int list_repos(struct hub_client *hc, enum hub_repo_type type, const char *author,
                      int limit, int max_pages, struct hub_repo_list *out)
{
    struct hub_buf first = HUB_BUF_INIT(4096);
    char *url = NULL;
    int rc;
    if ((rc = hub_buf_puts(&first, hc->endpoint)) || (rc = hub_buf_puts(&first, "/api/")) ||
        (rc = hub_buf_puts(&first, hub_repo_type_plural(type))) ||
        (rc = hub_buf_puts(&first, "?author=")) || (rc = hub_buf_escape(&first, author)) ||
        (rc = hub_buf_printf(&first, "&limit=%d", limit)) ||
        (rc = hub_buf_puts(&first, "&expand=private&expand=gated&expand=lastModified")))
        goto out;
    url = hub_buf_steal(&first);
    for (int page = 0;; page++) {
        if (page >= LIST_MAX_PAGES) {
            rc = -EIO;
            break;
        }
        struct hub_http_req req = {
            .url = url, .accept = "application/json", .auth = true, .retry = true,
            .follow = true, .kind = HUB_REQ_META,
        };
        struct hub_http_resp resp;
        rc = hub_http_do(hc, &req, &resp);
        if (rc == 0)
            rc = hub_http_errno(&resp, HUB_REQ_META);
        if (rc == 0)
            rc = hub_repo_list_parse(resp.body.p ? resp.body.p : "", resp.body.len, out);
        char *next = NULL;
        if (rc == 0 && hub_link_find(resp.link, "next", &next) == -ENOMEM)
            rc = -ENOMEM;
        hub_http_resp_free(&resp);
        if (rc || !next || (max_pages && page + 1 >= max_pages)) {
            free(next);
            break;
        }
        if (strcmp(next, url) == 0) { /* the same page again would loop */
            free(next);
            rc = -EIO;
            break;
        }
        /* The token goes only to the endpoint's origin (http.c); a Link to
         * elsewhere is followed without it, like any cross-origin URL. */
        free(url);
        url = next;
    }
out:
    if (rc)
        hub_repo_list_free(out);
    free(url);
    hub_buf_free(&first);
    return rc;
}

int hub_list_repos(struct hub_client *hc, enum hub_repo_type type, const char *author,
                   struct hub_repo_list *out)
{
    return list_repos(hc, type, author, LIST_PAGE, 0, out);
}

int hub_namespace_has_repos(struct hub_client *hc, const char *author)
{
    static const enum hub_repo_type types[] = {HUB_REPO_MODEL, HUB_REPO_DATASET, HUB_REPO_SPACE};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct hub_repo_list l;
        memset(&l, 0, sizeof(l));
        int rc = list_repos(hc, types[i], author, 1, 1, &l);
        size_t n = l.n;
        hub_repo_list_free(&l);
        if (rc)
            return rc;
        if (n)
            return 1;
    }
    return 0;
}

static const char *type_singular(enum hub_repo_type type)
{
    return type == HUB_REPO_DATASET ? "dataset" : type == HUB_REPO_SPACE ? "space" : "model";
}

int hub_create_repo(struct hub_client *hc, enum hub_repo_type type, const char *ns,
                    const char *name, bool is_private)
{
    struct hub_buf url = HUB_BUF_INIT(4096);
    char *body = NULL;
    json_t *root = json_object();
    int rc = -ENOMEM;
    if (!root)
        goto out;
    if (json_object_set_new(root, "name", json_string(name)) ||
        json_object_set_new(root, "organization", json_string(ns)) ||
        json_object_set_new(root, "type", json_string(type_singular(type))) ||
        json_object_set_new(root, "visibility", json_string(is_private ? "private" : "public")) ||
        json_object_set_new(root, "private", json_boolean(is_private)))
        goto out;
    /* Spaces need an SDK; "static" needs no hardware and runs nothing. */
    if (type == HUB_REPO_SPACE && json_object_set_new(root, "sdk", json_string("static")))
        goto out;
    if (!(body = json_dumps(root, JSON_COMPACT)))
        goto out;
    if ((rc = hub_buf_puts(&url, hc->endpoint)) || (rc = hub_buf_puts(&url, "/api/repos/create")))
        goto out;
    /* Not idempotent: never retried blindly (a lost answer after the repo
     * was made would turn into a 409 the caller could not tell apart). */
    struct hub_http_req req = {
        .method = "POST", .url = url.p, .content_type = "application/json",
        .accept = "application/json", .auth = true, .retry = false, .kind = HUB_REQ_CREATE,
        .body = body, .body_len = strlen(body), .max_response = 1 << 20,
    };
    struct hub_http_resp resp;
    rc = hub_http_do(hc, &req, &resp);
    if (rc == 0)
        rc = hub_http_errno(&resp, HUB_REQ_CREATE);
    if (rc && rc != -EEXIST)
        hm_info("hub: cannot create %s %s/%s: status %ld %s", type_singular(type), ns, name,
                resp.status, resp.error_message);
    hub_http_resp_free(&resp);
out:
    free(body);
    json_decref(root);
    hub_buf_free(&url);
    return rc;
}
