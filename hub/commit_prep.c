/* commit_prep.c — the first two steps of a commit: hash each staging
 * file (sha256 for LFS, git blob sha1 to spot unchanged files, base64
 * sample for the server's LFS decision) and ask /preupload how each file
 * must travel. */
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
#include <sys/stat.h>
#include <unistd.h>

#define HASH_CHUNK ((size_t)1 << 20)
#define PREUPLOAD_BATCH 256

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

int hub_commit_hash_file(const char *path, struct commit_file *cf)
{
    int rc = -EIO;
    unsigned char *buf = NULL;
    EVP_MD_CTX *c256 = EVP_MD_CTX_new(), *c1 = EVP_MD_CTX_new();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        goto out;
    }
    buf = malloc(HASH_CHUNK);
    if (!buf || !c256 || !c1) {
        rc = -ENOMEM;
        goto out;
    }
    /* git hashes "blob <size>\0" + content.  The git oid only serves to
     * spot a regular file that is already on the Hub as it is; files of
     * HUB_REGULAR_MAX bytes and more can only be LFS files, whose sha256
     * does that: no second digest over a large file. */
    bool git = (uint64_t)st.st_size < HUB_REGULAR_MAX;
    char hdr[48];
    int hl = snprintf(hdr, sizeof(hdr), "blob %" PRIu64, (uint64_t)st.st_size);
    if (!EVP_DigestInit_ex(c256, EVP_sha256(), NULL) ||
        (git && (!EVP_DigestInit_ex(c1, EVP_sha1(), NULL) ||
                 !EVP_DigestUpdate(c1, hdr, (size_t)hl + 1))))
        goto out;
    uint64_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, HASH_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto out;
        }
        if (n == 0)
            break;
        if (total == 0) {
            size_t sn = (size_t)n < HUB_SAMPLE_BYTES ? (size_t)n : HUB_SAMPLE_BYTES;
            EVP_EncodeBlock((unsigned char *)cf->sample_b64, buf, (int)sn);
        }
        if (!EVP_DigestUpdate(c256, buf, (size_t)n) ||
            (git && !EVP_DigestUpdate(c1, buf, (size_t)n)))
            goto out;
        total += (uint64_t)n;
    }
    if (total != (uint64_t)st.st_size) { /* changed while we read it */
        rc = -EAGAIN;
        goto out;
    }
    if (total == 0)
        cf->sample_b64[0] = '\0';
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdl;
    if (!EVP_DigestFinal_ex(c256, md, &mdl))
        goto out;
    to_hex(md, mdl, cf->sha256);
    cf->git_oid[0] = '\0'; /* unknown: never equal to the Hub's oid */
    if (git) {
        if (!EVP_DigestFinal_ex(c1, md, &mdl))
            goto out;
        to_hex(md, mdl, cf->git_oid);
    }
    cf->size = total;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    EVP_MD_CTX_free(c256);
    EVP_MD_CTX_free(c1);
    return rc;
}

int hub_buf_json_string(struct hub_buf *b, const char *s)
{
    json_t *j = json_string(s);
    if (!j)
        return -EINVAL; /* not UTF-8 */
    char *enc = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    if (!enc)
        return -ENOMEM;
    int rc = hub_buf_puts(b, enc);
    free(enc);
    return rc;
}

int hub_preupload_apply(const json_t *res, struct commit_file *files, size_t n)
{
    const json_t *rfiles = json_object_get(res, "files");
    if (!json_is_array(rfiles))
        return -EIO;
    size_t k;
    const json_t *rf;
    json_array_foreach(rfiles, k, rf)
    {
        const char *path = json_string_value(json_object_get(rf, "path"));
        const char *mode = json_string_value(json_object_get(rf, "uploadMode"));
        const char *oid = json_string_value(json_object_get(rf, "oid"));
        if (!path)
            continue;
        for (size_t i = 0; i < n; i++) {
            struct commit_file *cf = &files[i];
            if (strcmp(cf->op->path, path) != 0)
                continue;
            /* empty files always go inline: storage refuses empty LFS objects */
            cf->lfs = mode && strcmp(mode, "lfs") == 0 && cf->size > 0;
            bool ignored = json_is_true(json_object_get(rf, "shouldIgnore"));
            if (ignored) {
                hm_warn("hub: %s matches .gitignore, not committed", path);
                cf->skip = true;
            }
            const char *mine = cf->lfs ? cf->sha256 : cf->git_oid;
            if (oid && *mine && strcmp(oid, mine) == 0) {
                cf->skip = true; /* identical content already there */
                cf->identical = !ignored;
            }
        }
    }
    return 0;
}

static int preupload_batch(struct hub_client *hc, const char *url, struct commit_file *files,
                           size_t n)
{
    int rc = -ENOMEM;
    char *body = NULL;
    json_t *root = json_object(), *arr = json_array(), *res = NULL;
    struct hub_http_resp resp;
    bool have_resp = false;
    if (!root || !arr)
        goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_pack("{s:s, s:I, s:s}", "path", files[i].op->path, "size",
                              (json_int_t)files[i].size, "sample", files[i].sample_b64);
        if (!f || json_array_append_new(arr, f))
            goto out;
    }
    if (json_object_set(root, "files", arr) || !(body = json_dumps(root, JSON_COMPACT)))
        goto out;
    struct hub_http_req req = {
        .method = "POST", .url = url, .content_type = "application/json",
        .accept = "application/json", .auth = true, .retry = true, .kind = HUB_REQ_WRITE,
        .body = body, .body_len = strlen(body),
    };
    rc = hub_http_do(hc, &req, &resp);
    have_resp = true;
    if (rc || (rc = hub_http_errno(&resp, HUB_REQ_WRITE)))
        goto out;
    res = hub_http_json(&resp);
    rc = hub_preupload_apply(res, files, n);
out:
    if (have_resp)
        hub_http_resp_free(&resp);
    json_decref(res);
    json_decref(arr);
    json_decref(root);
    free(body);
    return rc;
}

int hub_commit_preupload(struct hub_client *hc, const struct hub_source *src,
                         const char *branch, struct commit_file *files, size_t n)
{
    struct hub_buf url = HUB_BUF_INIT(8192);
    int rc = hub_url_api_rev(&url, hc->endpoint, src, "preupload", branch);
    for (size_t i = 0; rc == 0 && i < n; i += PREUPLOAD_BATCH) {
        size_t k = n - i < PREUPLOAD_BATCH ? n - i : PREUPLOAD_BATCH;
        rc = preupload_batch(hc, url.p, files + i, k);
    }
    hub_buf_free(&url);
    return rc;
}
