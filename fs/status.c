/* status.c — formatting `hubmount status` (see status.h).  The JSON is
 * built with jansson so strings (repo names, error messages) are escaped
 * correctly. */
#include "status.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fmt_time(int64_t t, char *out, size_t cap)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!t || !gmtime_r(&tt, &tm) || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "-");
}

static const char *repo_name(const struct mount_state *ms)
{
    if (ms->src.repo_id[0])
        return ms->src.repo_id;
    return ms->opt && ms->opt->source ? ms->opt->source : "";
}

static const char *mode_name(const struct mount_state *ms, const struct commit_worker_status *cw)
{
    if (ms->opt && ms->opt->offline)
        return "offline";
    return cw ? "read-write" : "read-only";
}

static int format_text(struct mount_state *ms, const struct commit_worker_status *cw,
                       const char *head, char *buf, size_t cap)
{
    static const struct commit_worker_status none;
    const struct commit_worker_status *st = cw ? cw : &none;
    char t1[32], t2[32], t3[32], up[160] = "";
    fmt_time(st->last_commit_time, t1, sizeof(t1));
    fmt_time(st->last_error_time, t2, sizeof(t2));
    fmt_time(st->pending.oldest, t3, sizeof(t3));
    if (st->upload_total)
        snprintf(up, sizeof(up), "uploading: %llu of %llu bytes (%d%%), %u of %u file(s)\n",
                 (unsigned long long)st->upload_sent, (unsigned long long)st->upload_total,
                 (int)(st->upload_sent * 100 / st->upload_total), st->upload_files_done,
                 st->upload_files);
    int n = snprintf(buf, cap,
                     "repo: %s%s%s\n"
                     "head: %s\n"
                     "mode: %s\n"
                     "pending: %zu operation(s), %zu file(s), %llu bytes (oldest %s)\n"
                     "failed: %zu\n"
                     "committing: %s (%llu bytes in this attempt)\n"
                     "%s"
                     "commits: %d since mount, last %s at %s\n"
                     "last error: %s%s%s\n",
                     repo_name(ms), ms->revision[0] ? "@" : "", ms->revision, head,
                     mode_name(ms, cw), st->pending.n_ops,
                     st->pending.n_files, (unsigned long long)st->pending.bytes, t3,
                     st->pending.n_failed, st->committing ? "yes" : "no",
                     (unsigned long long)st->attempt_bytes, up, st->n_commits,
                     st->last_commit[0] ? st->last_commit : "-", t1,
                     st->last_error ? strerror(st->last_error) : "none",
                     st->last_error ? " at " : "", st->last_error ? t2 : "");
    return n < 0 || (size_t)n >= cap ? -ERANGE : 0;
}

/* An ISO time string, or JSON null for "never". */
static json_t *jtime(int64_t t)
{
    char s[32];
    if (!t)
        return json_null();
    fmt_time(t, s, sizeof(s));
    return json_string(s);
}

static int format_json(struct mount_state *ms, const struct commit_worker_status *cw,
                       const char *head, char *buf, size_t cap)
{
    static const struct commit_worker_status none;
    const struct commit_worker_status *st = cw ? cw : &none;
    int rc = -ENOMEM;
    char *text = NULL;
    json_t *upload = st->upload_total
                         ? json_pack("{s:I, s:I, s:I, s:I}", "bytes_total",
                                     (json_int_t)st->upload_total, "bytes_sent",
                                     (json_int_t)st->upload_sent, "files_total",
                                     (json_int_t)st->upload_files, "files_done",
                                     (json_int_t)st->upload_files_done)
                         : json_null();
    json_t *last_commit = st->last_commit[0]
                              ? json_pack("{s:s, s:o}", "id", st->last_commit, "time",
                                          jtime(st->last_commit_time))
                              : json_null();
    json_t *last_error = st->last_error
                             ? json_pack("{s:i, s:s, s:o}", "errno", st->last_error, "message",
                                         strerror(st->last_error), "time",
                                         jtime(st->last_error_time))
                             : json_null();
    json_t *pending = json_pack("{s:I, s:I, s:I, s:I, s:o}", "operations",
                                (json_int_t)st->pending.n_ops, "files",
                                (json_int_t)st->pending.n_files, "bytes",
                                (json_int_t)st->pending.bytes, "failed",
                                (json_int_t)st->pending.n_failed, "oldest",
                                jtime(st->pending.oldest));
    json_t *root = NULL;
    if (upload && last_commit && last_error && pending)
        root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:O, s:b, s:I, s:O, s:i, s:O, s:O}",
                         "repo", repo_name(ms), "type", hub_repo_type_plural(ms->src.type),
                         "revision", ms->revision, "head", head, "mode", mode_name(ms, cw),
                         "writable", cw != NULL, "pending", pending, "committing",
                         st->committing, "attempt_bytes", (json_int_t)st->attempt_bytes,
                         "upload", upload, "commits_since_mount", st->n_commits, "last_commit",
                         last_commit, "last_error", last_error);
    if (root && (text = json_dumps(root, JSON_COMPACT))) {
        size_t len = strlen(text);
        if (len + 1 < cap) {
            memcpy(buf, text, len);
            buf[len] = '\n';
            buf[len + 1] = '\0';
            rc = 0;
        } else {
            buf[0] = '\0';
            rc = -ERANGE;
        }
    }
    free(text);
    json_decref(root);
    json_decref(upload);
    json_decref(last_commit);
    json_decref(last_error);
    json_decref(pending);
    return rc;
}

int hm_status_format(struct mount_state *ms, const struct commit_worker_status *cw, bool json,
                     char *buf, size_t cap)
{
    char head[HUB_SHA1_HEX];
    ms_commit_get(ms, head, NULL);
    if (!head[0])
        snprintf(head, sizeof(head), "-");
    return json ? format_json(ms, cw, head, buf, cap) : format_text(ms, cw, head, buf, cap);
}
