/* ops.c — hub_real_ops: the function table the commit pipeline and the
 * caches use, bound to a real hub_client (tests bind a fake instead). */
#include "hub.h"

static int op_repo_info(void *ctx, const struct hub_source *src, const char *revision,
                        struct hub_repo_info *out)
{
    return hub_repo_info(ctx, src, revision, out);
}

static int op_list_tree(void *ctx, const struct hub_source *src, const char *commit,
                        const char *dir, bool recursive, struct hub_entries *out)
{
    return hub_list_tree(ctx, src, commit, dir, recursive, out);
}

static int op_paths_info(void *ctx, const struct hub_source *src, const char *commit,
                         const char *const *paths, size_t n_paths, struct hub_entries *out)
{
    return hub_paths_info(ctx, src, commit, paths, n_paths, out);
}

static ssize_t op_read_range(void *ctx, const struct hub_source *src, const char *commit,
                             const char *path, uint64_t offset, void *buf, size_t len)
{
    return hub_read_range(ctx, src, commit, path, offset, buf, len);
}

static int op_commit(void *ctx, const struct hub_source *src, const char *branch,
                     const char *parent, const char *summary, struct hub_commit_op *ops,
                     size_t n_ops, char out_commit[HUB_SHA1_HEX])
{
    return hub_commit(ctx, src, branch, parent, summary, ops, n_ops, out_commit);
}

struct hub_ops hub_real_ops(struct hub_client *hc)
{
    struct hub_ops o = {
        .ctx = hc,
        .repo_info = op_repo_info,
        .list_tree = op_list_tree,
        .paths_info = op_paths_info,
        .read_range = op_read_range,
        .commit = op_commit,
    };
    return o;
}
