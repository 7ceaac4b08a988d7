/* source.c — parse what the user asked to mount:
 * [models/|datasets/|spaces/]ns/name[@revision], and repo type names. */
#include "hub.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *prefix;
    enum hub_repo_type type;
} type_prefixes[] = {
    {"models/", HUB_REPO_MODEL},   {"model/", HUB_REPO_MODEL},
    {"datasets/", HUB_REPO_DATASET}, {"dataset/", HUB_REPO_DATASET},
    {"spaces/", HUB_REPO_SPACE},   {"space/", HUB_REPO_SPACE},
};

const char *hub_repo_type_plural(enum hub_repo_type type)
{
    switch (type) {
    case HUB_REPO_DATASET:
        return "datasets";
    case HUB_REPO_SPACE:
        return "spaces";
    case HUB_REPO_MODEL:
    default:
        return "models";
    }
}

/* A namespace or repo name: the Hub allows [A-Za-z0-9._-], at most 96
 * characters, no leading/trailing '.' or '-', no "..". */
static int check_name(const char *s, size_t n)
{
    if (n == 0 || n > 96)
        return -EINVAL;
    if (s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || s[n - 1] == '-')
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            return -EINVAL;
        if (c == '.' && i + 1 < n && s[i + 1] == '.')
            return -EINVAL;
    }
    return 0;
}

/* Revisions go fully percent-encoded into URLs, so only reject what git
 * itself refuses in ref names and what could never be a sha. */
static int check_revision(const char *s, size_t n)
{
    if (n == 0 || n >= sizeof(((struct hub_source *)0)->revision))
        return -EINVAL;
    if (s[0] == '/' || s[n - 1] == '/' || s[n - 1] == '.')
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || strchr("~^:?*[\\", c))
            return -EINVAL;
        if (c == '.' && i + 1 < n && s[i + 1] == '.')
            return -EINVAL;
        if (c == '/' && i + 1 < n && s[i + 1] == '/')
            return -EINVAL;
        if (c == '@' && i + 1 < n && s[i + 1] == '{')
            return -EINVAL;
    }
    return 0;
}

int hub_source_parse(const char *text, struct hub_source *out)
{
    if (!text || !out)
        return -EINVAL;
    struct hub_source src;
    memset(&src, 0, sizeof(src));
    src.type = HUB_REPO_MODEL;

    const char *at = strchr(text, '@');
    size_t id_len = at ? (size_t)(at - text) : strlen(text);
    const char *id = text;

    /* "datasets/x" alone is the model "datasets/x": the prefix only counts
     * when two more segments follow it. */
    for (size_t i = 0; i < sizeof(type_prefixes) / sizeof(type_prefixes[0]); i++) {
        size_t pl = strlen(type_prefixes[i].prefix);
        if (id_len > pl && strncmp(id, type_prefixes[i].prefix, pl) == 0 &&
            memchr(id + pl, '/', id_len - pl)) {
            src.type = type_prefixes[i].type;
            id += pl;
            id_len -= pl;
            break;
        }
    }

    const char *slash = memchr(id, '/', id_len);
    if (!slash)
        return -EINVAL;
    size_t ns_len = (size_t)(slash - id);
    size_t name_len = id_len - ns_len - 1;
    if (check_name(id, ns_len) || check_name(slash + 1, name_len))
        return -EINVAL;
    if (id_len >= sizeof(src.repo_id))
        return -EINVAL;
    memcpy(src.repo_id, id, id_len);
    src.repo_id[id_len] = '\0';

    if (at) {
        size_t rl = strlen(at + 1);
        if (check_revision(at + 1, rl))
            return -EINVAL;
        memcpy(src.revision, at + 1, rl + 1);
    }
    *out = src;
    return 0;
}
