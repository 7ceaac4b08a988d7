/* commit.c — hub_commit: preupload -> LFS uploads -> one NDJSON commit.
 *
 * The NDJSON body is written to an unlinked temporary file and streamed
 * from there, so memory stays bounded however many inline files there
 * are.  The commit POST is never retried: if its answer is lost
 * (transport error) we cannot tell whether the commit landed, so we
 * return -EIO and the commit pipeline re-reads the branch head before
 * trying again (hub-api.md §8.3, §14). */
#include "commit_i.h"
#include "http.h"
#include "log.h"
#include "url.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define B64_IN_CHUNK ((size_t)48 * 1024) /* a multiple of 3: no padding mid-stream */

/* A repo path we can put in a commit (the Hub refuses the rest anyway). */
static bool valid_path(const char *p)
{
    if (!p || !*p || p[0] == '/' || strlen(p) > 4096)
        return false;
    const char *s = p;
    for (;;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.') ||
            (n == 4 && memcmp(s, ".git", 4) == 0))
            return false;
        if (!e)
            return true;
        s = e + 1;
    }
}

static bool valid_parent(const char *p)
{
    size_t n = strlen(p);
    return n >= 5 && n < HUB_SHA1_HEX && strspn(p, "0123456789abcdef") == n;
}

static int write_all(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n ? 0 : -EIO;
}

static int write_buf(FILE *f, struct hub_buf *b)
{
    int rc = write_all(f, b->p, b->len);
    hub_buf_reset(b);
    return rc;
}

/* {"key":"file","value":{"path":...,"encoding":"base64","content":"<b64>"}} */
static int write_inline_file(FILE *out, struct hub_buf *b, const struct commit_file *cf)
{
    int rc;
    if ((rc = hub_buf_puts(b, "{\"key\":\"file\",\"value\":{\"path\":")) ||
        (rc = hub_buf_json_string(b, cf->op->path)) ||
        (rc = hub_buf_puts(b, ",\"encoding\":\"base64\",\"content\":\"")) ||
        (rc = write_buf(out, b)))
        return rc;
    int fd = open(cf->op->local_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    unsigned char *in = malloc(B64_IN_CHUNK);
    unsigned char *enc = malloc(4 * (B64_IN_CHUNK / 3) + 1);
    uint64_t left = cf->size;
    rc = in && enc ? 0 : -ENOMEM;
    while (rc == 0 && left > 0) {
        size_t want = left < B64_IN_CHUNK ? (size_t)left : B64_IN_CHUNK;
        size_t got = 0;
        while (got < want) {
            ssize_t n = read(fd, in + got, want - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        if (got != want) { /* the staging file changed since it was hashed */
            rc = -EAGAIN;
            break;
        }
        int el = EVP_EncodeBlock(enc, in, (int)want);
        rc = write_all(out, enc, (size_t)el);
        left -= want;
    }
    close(fd);
    free(in);
    free(enc);
    return rc ? rc : write_all(out, "\"}}\n", 4);
}

static int write_simple(FILE *out, struct hub_buf *b, const char *key, const char *path)
{
    int rc;
    if ((rc = hub_buf_printf(b, "{\"key\":\"%s\",\"value\":{\"path\":", key)) ||
        (rc = hub_buf_json_string(b, path)) || (rc = hub_buf_puts(b, "}}\n")))
        return rc;
    return write_buf(out, b);
}

static int write_lfs_file(FILE *out, struct hub_buf *b, const char *path, const char *sha256,
                          uint64_t size)
{
    int rc;
    if ((rc = hub_buf_puts(b, "{\"key\":\"lfsFile\",\"value\":{\"path\":")) ||
        (rc = hub_buf_json_string(b, path)) ||
        (rc = hub_buf_printf(b, ",\"algo\":\"sha256\",\"oid\":\"%s\",\"size\":%" PRIu64 "}}\n",
                             sha256, size)))
        return rc;
    return write_buf(out, b);
}

/* Writes the whole NDJSON body; *n_lines counts operation lines. */
static int write_ndjson(FILE *out, const char *parent, const char *summary,
                        struct hub_commit_op *ops, size_t n_ops, struct commit_file *files,
                        size_t *n_lines)
{
    struct hub_buf b = HUB_BUF_INIT(1 << 20);
    int rc;
    size_t fi = 0;
    *n_lines = 0;
    if ((rc = hub_buf_puts(&b, "{\"key\":\"header\",\"value\":{\"summary\":")) ||
        (rc = hub_buf_json_string(&b, summary)) || (rc = hub_buf_puts(&b, ",\"description\":\"\"")))
        goto out;
    if (parent && (rc = hub_buf_printf(&b, ",\"parentCommit\":\"%s\"", parent)))
        goto out;
    if ((rc = hub_buf_puts(&b, "}}\n")) || (rc = write_buf(out, &b)))
        goto out;
    for (size_t i = 0; i < n_ops; i++) {
        struct hub_commit_op *op = &ops[i];
        switch (op->kind) {
        case HUB_OP_ADD:
            if (!op->local_file) {
                rc = write_lfs_file(out, &b, op->path, op->sha256, op->size);
            } else {
                struct commit_file *cf = &files[fi++];
                if (cf->skip)
                    continue;
                rc = cf->lfs ? write_lfs_file(out, &b, op->path, cf->sha256, cf->size)
                             : write_inline_file(out, &b, cf);
            }
            break;
        case HUB_OP_DELETE_FILE:
            rc = write_simple(out, &b, "deletedFile", op->path);
            break;
        case HUB_OP_DELETE_FOLDER:
            rc = write_simple(out, &b, "deletedFolder", op->path);
            break;
        }
        if (rc)
            goto out;
        (*n_lines)++;
    }
    rc = fflush(out) == 0 ? 0 : -EIO;
out:
    hub_buf_free(&b);
    return rc;
}

int hub_commit_answer_parse(const json_t *res, char out[HUB_SHA1_HEX])
{
    const json_t *oid = json_object_get(res, "commitOid");
    /* it becomes a cache key and a URL part: exactly a sha1 in hex */
    char tmp[HUB_SHA1_HEX];
    if (!json_is_string(oid) ||
        hub_hex_copy(tmp, json_string_value(oid), json_string_length(oid), HUB_SHA1_HEX - 1))
        return -EIO;
    memcpy(out, tmp, HUB_SHA1_HEX);
    return 0;
}

static int post_commit(struct hub_client *hc, const struct hub_source *src, const char *branch,
                       FILE *body, char out_commit[HUB_SHA1_HEX])
{
    struct hub_buf url = HUB_BUF_INIT(8192);
    struct hub_http_resp resp;
    json_t *res = NULL;
    long size = ftell(body);
    int rc = size < 0 ? -EIO : hub_url_api_rev(&url, hc->endpoint, src, "commit", branch);
    if (rc) {
        hub_buf_free(&url);
        return rc;
    }
    struct hub_http_req req = {
        .method = "POST", .url = url.p, .content_type = "application/x-ndjson",
        .accept = "application/json", .auth = true, .retry = false, .long_transfer = true,
        .kind = HUB_REQ_WRITE, .body_fd_set = true, .body_fd = fileno(body), .body_off = 0,
        .body_fd_len = (uint64_t)size,
    };
    rc = hub_http_do(hc, &req, &resp);
    if (rc) {
        hm_warn("hub: commit answer lost (%s); the branch head must be checked", strerror(-rc));
        rc = -EIO;
        goto out;
    }
    if ((rc = hub_http_errno(&resp, HUB_REQ_WRITE))) {
        hm_warn("hub: commit refused: %ld %s", resp.status, resp.error_message);
        goto out;
    }
    res = hub_http_json(&resp);
    if ((rc = hub_commit_answer_parse(res, out_commit)))
        hm_warn("hub: commit answer without a valid commitOid");
out:
    json_decref(res);
    hub_http_resp_free(&resp);
    hub_buf_free(&url);
    return rc;
}

/* Does a delete among ops remove `path` (the file itself, or a folder above it)? */
static bool deleted_by(const struct hub_commit_op *ops, size_t n_ops, const char *path)
{
    for (size_t i = 0; i < n_ops; i++) {
        const char *d = ops[i].path;
        size_t dl = strlen(d);
        if (ops[i].kind == HUB_OP_DELETE_FILE && strcmp(d, path) == 0)
            return true;
        if (ops[i].kind == HUB_OP_DELETE_FOLDER && strncmp(path, d, dl) == 0 &&
            path[dl] == '/')
            return true;
    }
    return false;
}

int hub_commit(struct hub_client *hc, const struct hub_source *src, const char *branch,
               const char *parent, const char *summary, struct hub_commit_op *ops, size_t n_ops,
               char out_commit[HUB_SHA1_HEX])
{
    int rc = 0;
    FILE *body = NULL;
    size_t n_files = 0, n_lines = 0;
    struct commit_file *files = NULL;
    if (!branch || !*branch)
        branch = "main";
    if (!summary || !*summary)
        summary = "Update files";
    if (parent && !*parent)
        parent = NULL;
    if (parent && !valid_parent(parent))
        return -EINVAL;
    if (n_ops == 0)
        return -EINVAL;

    for (size_t i = 0; i < n_ops; i++) {
        if (!valid_path(ops[i].path))
            return -EINVAL;
        if (ops[i].kind == HUB_OP_ADD && ops[i].local_file)
            n_files++;
        else if (ops[i].kind == HUB_OP_ADD &&
                 strlen(ops[i].sha256) != HUB_SHA256_HEX - 1) /* LFS reuse needs the oid */
            return -EINVAL;
    }
    files = calloc(n_files ? n_files : 1, sizeof(*files));
    if (!files)
        return -ENOMEM;
    for (size_t i = 0, k = 0; i < n_ops; i++) {
        if (ops[i].kind != HUB_OP_ADD || !ops[i].local_file)
            continue;
        struct commit_file *cf = &files[k++];
        cf->op = &ops[i];
        if ((rc = hub_commit_hash_file(ops[i].local_file, cf))) {
            hm_warn("hub: cannot read staging file for %s: %s", ops[i].path, strerror(-rc));
            goto out;
        }
        memcpy(ops[i].sha256, cf->sha256, HUB_SHA256_HEX);
        ops[i].size = cf->size;
    }
    if (n_files && (rc = hub_commit_preupload(hc, src, branch, files, n_files)))
        goto out;
    /* "Identical" was judged against the parent commit.  A delete in this
     * same commit (a folder deleted and one of its files put back, e.g. a
     * folder renamed away and back) removes that file first: send it. */
    for (size_t k = 0; k < n_files; k++)
        if (files[k].identical && deleted_by(ops, n_ops, files[k].op->path))
            files[k].skip = files[k].identical = false;
    if ((rc = hub_commit_lfs(hc, src, branch, files, n_files)))
        goto out;

    if (!(body = tmpfile())) {
        rc = -errno;
        goto out;
    }
    if ((rc = write_ndjson(body, parent, summary, ops, n_ops, files, &n_lines)))
        goto out;
    if (n_lines == 0) {
        /* everything is already on the Hub as it is: no empty commit; the
         * branch head is the answer */
        struct hub_repo_info info;
        hm_debug("hub: nothing to commit");
        if ((rc = hub_repo_info(hc, src, branch, &info)) == 0)
            memcpy(out_commit, info.sha, HUB_SHA1_HEX);
        goto out;
    }
    rc = post_commit(hc, src, branch, body, out_commit);
out:
    if (body)
        fclose(body);
    for (size_t i = 0; i < n_files; i++) {
        json_decref(files[i].upload);
        json_decref(files[i].verify);
    }
    free(files);
    return rc;
}
