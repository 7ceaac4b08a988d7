/* identity.c — whoami-v2 JSON -> struct hub_identity, and the pure
 * "may this token commit to that repo?" decision made at mount time
 * (the server stays the authority; this only lets us fail early). */
#include "hub_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void hub_identity_free(struct hub_identity *id)
{
    if (!id)
        return;
    free(id->orgs);
    for (size_t i = 0; i < id->n_fg_write; i++)
        free(id->fg_write[i]);
    free(id->fg_write);
    id->orgs = NULL;
    id->n_orgs = 0;
    id->fg_write = NULL;
    id->n_fg_write = 0;
}

static void copy_str(char *dst, size_t size, const json_t *v)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    size_t n = strlen(s);
    if (n >= size)
        n = size - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static bool has_repo_write(const json_t *perms)
{
    size_t i;
    const json_t *p;
    json_array_foreach(perms, i, p)
    {
        if (json_is_string(p) && strcmp(json_string_value(p), "repo.write") == 0)
            return true;
    }
    return false;
}

static int parse_fine_grained(const json_t *fg, struct hub_identity *out)
{
    const json_t *gated = json_object_get(fg, "canReadGatedRepos");
    out->can_read_gated = json_is_true(gated);
    const json_t *scoped = json_object_get(fg, "scoped");
    if (!json_is_array(scoped))
        return 0;
    size_t n = json_array_size(scoped);
    if (n == 0)
        return 0;
    out->fg_write = calloc(n, sizeof(*out->fg_write));
    if (!out->fg_write)
        return -ENOMEM;
    size_t i;
    const json_t *s;
    json_array_foreach(scoped, i, s)
    {
        const json_t *entity = json_object_get(s, "entity");
        const json_t *name = json_object_get(entity, "name");
        if (!json_is_string(name) || !has_repo_write(json_object_get(s, "permissions")))
            continue;
        char *dup = strdup(json_string_value(name));
        if (!dup)
            return -ENOMEM;
        out->fg_write[out->n_fg_write++] = dup;
    }
    return 0;
}

int hub_identity_parse(const char *json, size_t len, struct hub_identity *out)
{
    int rc = -EIO;
    memset(out, 0, sizeof(*out));
    out->can_read_gated = true;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!json_is_object(root))
        goto out;
    const json_t *name = json_object_get(root, "name");
    if (!json_is_string(name))
        goto out;
    copy_str(out->name, sizeof(out->name), name);

    const json_t *orgs = json_object_get(root, "orgs");
    if (json_is_array(orgs) && json_array_size(orgs) > 0) {
        out->orgs = calloc(json_array_size(orgs), sizeof(*out->orgs));
        if (!out->orgs) {
            rc = -ENOMEM;
            goto out;
        }
        size_t i;
        const json_t *o;
        json_array_foreach(orgs, i, o)
        {
            const json_t *oname = json_object_get(o, "name");
            if (!json_is_string(oname))
                continue;
            struct hub_org_role *r = &out->orgs[out->n_orgs++];
            copy_str(r->name, sizeof(r->name), oname);
            copy_str(r->role, sizeof(r->role), json_object_get(o, "roleInOrg"));
        }
    }

    const json_t *tok = json_object_get(json_object_get(root, "auth"), "accessToken");
    copy_str(out->token_role, sizeof(out->token_role), json_object_get(tok, "role"));
    if (strcmp(out->token_role, "fineGrained") == 0) {
        out->can_read_gated = false;
        const json_t *fg = json_object_get(tok, "fineGrained");
        if (json_is_object(fg) && (rc = parse_fine_grained(fg, out)))
            goto out;
    }
    rc = 0;
out:
    json_decref(root);
    if (rc)
        hub_identity_free(out);
    return rc;
}

static bool role_can_write(const char *role)
{
    /* contributor may write to repos they created: unknown here, let the
     * server decide. */
    return strcmp(role, "write") == 0 || strcmp(role, "admin") == 0 ||
           strcmp(role, "contributor") == 0;
}

/* 1: the user may write in this namespace (own, or org role allows it),
 * 0: the org role forbids it, -1: not a namespace whoami told us about. */
static int namespace_permits(const struct hub_identity *id, const char *ns, size_t ns_len)
{
    if (strlen(id->name) == ns_len && strncasecmp(id->name, ns, ns_len) == 0)
        return 1;
    for (size_t i = 0; i < id->n_orgs; i++) {
        const struct hub_org_role *o = &id->orgs[i];
        if (strlen(o->name) == ns_len && strncasecmp(o->name, ns, ns_len) == 0)
            return role_can_write(o->role) ? 1 : 0;
    }
    return -1;
}

bool hub_identity_can_write(const struct hub_identity *id, const char *repo_id)
{
    if (!id || id->anonymous || !repo_id)
        return false;
    const char *slash = strchr(repo_id, '/');
    if (!slash)
        return false;
    size_t ns_len = (size_t)(slash - repo_id);
    int ns_ok = namespace_permits(id, repo_id, ns_len);

    if (strcmp(id->token_role, "read") == 0)
        return false;
    if (strcmp(id->token_role, "fineGrained") == 0) {
        /* the token scope AND the user's own rights must both allow it;
         * a scope on a namespace whoami did not list: the server decides */
        if (ns_ok == 0)
            return false;
        for (size_t i = 0; i < id->n_fg_write; i++) {
            const char *e = id->fg_write[i];
            if (strcasecmp(e, repo_id) == 0 ||
                (strlen(e) == ns_len && strncasecmp(e, repo_id, ns_len) == 0))
                return true;
        }
        return false;
    }
    /* write (and app roles we do not model): namespace rights decide */
    return ns_ok == 1;
}
