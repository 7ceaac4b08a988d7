/* test_hub_parse.c — the parsers of server answers that tests/fuzz
 * exercises, with the inputs that must keep failing cleanly: error
 * bodies, hex ids, hostile tree paths, LFS batch / multipart / preupload
 * / commit answers, repo info, refs and raw header lines.  Regression
 * checks for what fuzzing and review found live here too. */
#include "../../hub/commit_i.h"
#include "../../hub/http.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static json_t *js(const char *text)
{
    json_error_t err;
    return json_loads(text, JSON_ALLOW_NUL, &err);
}

static void test_error_body(void)
{
    char m[64];
#define MSG(body, want)                                                        \
    do {                                                                       \
        CHECK(hub_error_body_message(body, strlen(body), m, sizeof(m)) == 0);  \
        CHECK_STR(m, want);                                                    \
    } while (0)
    MSG("{\"error\":\"Repository not found\"}", "Repository not found");
    MSG("{\"error\":[\"first\",\"second\"]}", "first");
    MSG("{\"error\":\"invalid_grant\",\"error_description\":\"expired\"}", "expired");
    MSG("{\"errors\":[{\"message\":\"quota exceeded\"}]}", "quota exceeded");
    MSG("Bad gateway\nmore", "Bad gateway");
    MSG("{\"error\":\"line\\none\\u001b[31m\"}", "line one [31m"); /* no escapes in logs */
#undef MSG
    CHECK(hub_error_body_message("<html>502</html>", 16, m, sizeof(m)) == -ENOENT);
    CHECK(hub_error_body_message("{\"x\":1}", 7, m, sizeof(m)) == -ENOENT);
    CHECK(hub_error_body_message("", 0, m, sizeof(m)) == -ENOENT);
    CHECK(hub_error_body_message(NULL, 5, m, sizeof(m)) == -ENOENT);
    /* truncated to the buffer */
    char small[6];
    CHECK(hub_error_body_message("{\"error\":\"abcdefghij\"}", 22, small, sizeof(small)) == 0);
    CHECK_STR(small, "abcde");
    /* jansson refuses "\u0000": the body is shown as text, never cut short */
    const char *nul = "{\"error\":\"ab\\u0000cd\"}";
    CHECK(hub_error_body_message(nul, strlen(nul), m, sizeof(m)) == 0);
    CHECK_STR(m, nul);
    /* a raw NUL byte in a text body ends the message */
    CHECK(hub_error_body_message("ab\0cd", 5, m, sizeof(m)) == 0);
    CHECK_STR(m, "ab");
}

static void test_hex(void)
{
    char d[HUB_SHA1_HEX];
    const char *up = "0123456789ABCDEF0123456789abcdef01234567";
    CHECK(hub_hex_copy(d, up, 40, 40) == 0);
    CHECK_STR(d, "0123456789abcdef0123456789abcdef01234567");
    CHECK(hub_hex_copy(d, up, 39, 40) == -EINVAL && d[0] == '\0');
    CHECK(hub_hex_copy(d, "../../../../../../../../../../../../etc/x", 40, 40) == -EINVAL);
    CHECK(hub_hex_copy(d, NULL, 0, 40) == -EINVAL);
}

static int entries_rc(const char *text)
{
    json_t *j = js(text);
    struct hub_entries l = {0};
    int rc = j ? hub_entries_parse_json(j, &l) : -999;
    hub_entries_free(&l);
    json_decref(j);
    return rc;
}

static void test_hostile_entries(void)
{
    CHECK(entries_rc("[{\"type\":\"file\",\"path\":\"a/b\"}]") == 0);
    const char *bad[] = {
        "[{\"type\":\"file\",\"path\":\"../x\"}]",
        "[{\"type\":\"file\",\"path\":\"a/../../x\"}]",
        "[{\"type\":\"file\",\"path\":\"/etc/passwd\"}]",
        "[{\"type\":\"file\",\"path\":\"a//b\"}]",
        "[{\"type\":\"file\",\"path\":\"a/\"}]",
        "[{\"type\":\"file\",\"path\":\"./a\"}]",
        "[{\"type\":\"file\",\"path\":\"..\"}]",
        "[{\"type\":\"file\",\"path\":\"a\\u0000b\"}]",
        "[{\"type\":\"file\",\"path\":\"\"}]",
        "[{\"type\":\"file\",\"path\":7}]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = entries_rc(bad[i]);
        CHECK(rc == -EIO);
        if (rc != -EIO)
            printf("# accepted %s\n", bad[i]);
    }
    /* ids that are not hex of the right length are dropped, not copied */
    json_t *j = js("{\"type\":\"file\",\"path\":\"f\",\"oid\":\"../../x\",\"size\":-5,"
                   "\"lfs\":{\"oid\":\"ABCDEF\",\"size\":10}}");
    struct hub_entries l = {0};
    CHECK(hub_entries_parse_json(j, &l) == 0 && l.n == 1);
    if (l.n == 1) {
        CHECK_STR(l.v[0].oid, "");
        CHECK_STR(l.v[0].sha256, "");
        CHECK(l.v[0].is_lfs && l.v[0].size == 10);
    }
    hub_entries_free(&l);
    json_decref(j);
}

/* A listing of one directory: children only, each once (hostile servers). */
static int listing_rc(const char *text, const char *dir, bool recursive)
{
    json_t *j = js(text);
    struct hub_entries l = {0};
    int rc = j ? hub_entries_parse_json(j, &l) : -999;
    if (rc == 0)
        rc = hub_entries_check_listing(&l, 0, dir, recursive);
    hub_entries_free(&l);
    json_decref(j);
    return rc;
}

static void test_listing_shape(void)
{
    const char *f = "{\"type\":\"file\",\"path\":\"";
    const char *d = "{\"type\":\"directory\",\"path\":\"";
    char buf[512];
    snprintf(buf, sizeof buf, "[%sa/x\"},%sa/y\"}]", f, d);
    CHECK(listing_rc(buf, "a", false) == 0);
    CHECK(listing_rc(buf, "", false) == -EIO);   /* below a subdirectory of the root */
    CHECK(listing_rc(buf, "", true) == 0);       /* fine in a recursive listing */
    CHECK(listing_rc(buf, "b", false) == -EIO);  /* outside the listed directory */
    CHECK(listing_rc(buf, "a/x", true) == -EIO); /* "a/x" is not below itself */
    snprintf(buf, sizeof buf, "[%sab/x\"}]", f);
    CHECK(listing_rc(buf, "a", false) == -EIO);  /* a prefix of the name is not the dir */
    snprintf(buf, sizeof buf, "[%sa/x\"},%sa/z\"},%sa/x\"}]", f, f, f);
    CHECK(listing_rc(buf, "a", false) == -EIO);  /* one name twice */
    snprintf(buf, sizeof buf, "[%sa/x\"},%sa/x\"}]", f, d);
    CHECK(listing_rc(buf, "a", false) == -EIO);  /* a file and a directory of one name */
    CHECK(listing_rc("[]", "a", false) == 0);
}

static void test_parts_plan(void)
{
    struct hub_lfs_part *p = NULL;
    size_t n = 0;
    json_t *h = js("{\"chunk_size\":\"4\",\"2\":\"http://x/2\",\"1\":\"http://x/1\","
                   "\"3\":\"http://x/3\"}");
    CHECK(hub_lfs_parts_plan(h, 10, &p, &n) == 0 && n == 3);
    if (n == 3) {
        CHECK(p[0].num == 1 && p[0].off == 0 && p[0].len == 4);
        CHECK_STR(p[0].url, "http://x/1");
        CHECK(p[2].num == 3 && p[2].off == 8 && p[2].len == 2);
    }
    free(p);
    CHECK(hub_lfs_parts_plan(h, 13, &p, &n) == -EIO && p == NULL); /* 4 parts needed */
    CHECK(hub_lfs_parts_plan(h, 8, &p, &n) == -EIO);                /* one too many */
    json_decref(h);
    const char *bad[] = {
        "{\"chunk_size\":\"-1\",\"1\":\"u\"}", /* strtoull would wrap it */
        "{\"chunk_size\":\" 4\",\"1\":\"u\",\"2\":\"u\",\"3\":\"u\"}",
        "{\"chunk_size\":\"0\",\"1\":\"u\"}",
        "{\"chunk_size\":4,\"1\":\"u\"}",
        "{\"chunk_size\":\"4\",\"1\":\"u\",\"1\":\"v\",\"3\":\"w\"}",
        "{\"chunk_size\":\"4\",\"1\":\"u\",\"2\":\"v\",\"99999999999999999999999\":\"w\"}",
        "{\"chunk_size\":\"4\",\"0\":\"u\",\"1\":\"v\",\"2\":\"w\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        h = js(bad[i]);
        CHECK(h && hub_lfs_parts_plan(h, 10, &p, &n) == -EIO && p == NULL);
        json_decref(h);
    }
    /* a chunk_size near 2^64 used to wrap (size + chunk - 1) to 0 parts */
    h = js("{\"chunk_size\":\"18446744073709551615\",\"1\":\"u\"}");
    CHECK(hub_lfs_parts_plan(h, 10, &p, &n) == 0 && n == 1 && p[0].len == 10);
    free(p);
    json_decref(h);
}

static void test_batch_and_preupload(void)
{
    struct hub_commit_op op1 = {.kind = HUB_OP_ADD, .path = "a.bin", .local_file = "/x"};
    struct hub_commit_op op2 = {.kind = HUB_OP_ADD, .path = "b.txt", .local_file = "/y"};
    struct commit_file f[2];
    memset(f, 0, sizeof(f));
    f[0].op = &op1;
    f[0].size = 100;
    memset(f[0].sha256, 'a', 64);
    f[1].op = &op2;
    f[1].size = 5;
    memset(f[1].git_oid, 'b', 40);
    struct commit_file *todo[2] = {&f[0], &f[1]};

    json_t *r = js("{\"files\":[{\"path\":\"a.bin\",\"uploadMode\":\"lfs\"},"
                   "{\"path\":\"b.txt\",\"uploadMode\":\"regular\","
                   "\"oid\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"},{\"path\":3}]}");
    CHECK(hub_preupload_apply(r, f, 2) == 0);
    CHECK(f[0].lfs && !f[0].skip && !f[1].lfs && f[1].skip);
    json_decref(r);
    r = js("{\"files\":{}}");
    CHECK(hub_preupload_apply(r, f, 2) == -EIO);
    CHECK(hub_preupload_apply(NULL, f, 2) == -EIO);
    json_decref(r);

    r = js("{\"objects\":[{\"oid\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
           "\"actions\":{\"upload\":{\"href\":\"http://u\"},\"verify\":{\"href\":\"http://v\"}}}]}");
    CHECK(hub_lfs_batch_apply(r, todo, 1) == 0);
    CHECK(f[0].upload != NULL && f[0].verify != NULL);
    json_decref(r);
    json_decref(f[0].upload);
    json_decref(f[0].verify);
    f[0].upload = f[0].verify = NULL;
    /* a refusal must fail the batch whatever code it carries */
    const char *refusals[] = {"200", "0", "-3", "404", "99999999999"};
    int want[] = {-EIO, -EIO, -EIO, -ENOENT, -EIO};
    for (size_t i = 0; i < 5; i++) {
        char text[200];
        snprintf(text, sizeof(text),
                 "{\"objects\":[{\"oid\":\"x\",\"error\":{\"code\":%s,\"message\":\"m\"}}]}",
                 refusals[i]);
        r = js(text);
        CHECK(hub_lfs_batch_apply(r, todo, 1) == want[i]);
        json_decref(r);
    }
    CHECK(hub_lfs_batch_apply(NULL, todo, 1) == -EIO);
}

static void test_commit_and_info(void)
{
    char out[HUB_SHA1_HEX];
    json_t *r = js("{\"commitOid\":\"0123456789ABCDEF0123456789abcdef01234567\"}");
    CHECK(hub_commit_answer_parse(r, out) == 0);
    CHECK_STR(out, "0123456789abcdef0123456789abcdef01234567");
    json_decref(r);
    const char *bad[] = {"{\"commitOid\":\"0123456789abcdef0123456789abcdef0123456\"}",
                         "{\"commitOid\":\"../../../../../../../../../../../../../x\"}",
                         "{\"commitOid\":40}", "{}", "[]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = js(bad[i]);
        CHECK(hub_commit_answer_parse(r, out) == -EIO);
        json_decref(r);
    }
    CHECK(hub_commit_answer_parse(NULL, out) == -EIO);

    struct hub_repo_info info;
    r = js("{\"sha\":\"0123456789abcdef0123456789abcdef01234567\",\"private\":true,"
           "\"gated\":\"auto\",\"lastModified\":\"2024-05-01T12:34:56.000Z\"}");
    CHECK(hub_repo_info_parse(r, &info) == 0);
    CHECK(info.is_private && info.gated && info.last_modified == 1714566896);
    json_decref(r);
    r = js("{\"sha\":\"zz23456789abcdef0123456789abcdef01234567\"}");
    CHECK(hub_repo_info_parse(r, &info) == -EIO);
    json_decref(r);

    r = js("{\"branches\":[{\"name\":\"main\",\"ref\":\"refs/heads/main\"}],"
           "\"tags\":[{\"name\":\"v1\"},7,{\"name\":null}],\"pullRequests\":{},"
           "\"converts\":[{\"ref\":\"refs/convert/parquet\"}]}");
    CHECK(hub_refs_kind(r, "main") == HUB_REF_BRANCH);
    CHECK(hub_refs_kind(r, "refs/heads/main") == HUB_REF_BRANCH);
    CHECK(hub_refs_kind(r, "v1") == HUB_REF_TAG);
    CHECK(hub_refs_kind(r, "refs/convert/parquet") == HUB_REF_CONVERT);
    CHECK(hub_refs_kind(r, "refs/pr/1") == HUB_REF_UNKNOWN);
    json_decref(r);
    CHECK(hub_refs_kind(NULL, "main") == HUB_REF_UNKNOWN);
}

static void line(struct hub_http_resp *r, const char *s)
{
    hub_http_header_line(r, s, strlen(s));
}

static void test_header_lines(void)
{
    struct hub_http_resp r;
    memset(&r, 0, sizeof(r));
    hub_http_clear_headers(&r);
    line(&r, "ETag: W/\"abc\"\r\n");
    CHECK_STR(r.etag, "abc");
    line(&r, "etag: \"\r\n");
    CHECK_STR(r.etag, "");
    line(&r, "X-Linked-Size: 123\r\n");
    CHECK(r.linked_size == 123);
    line(&r, "X-Linked-Size: -4\r\n");
    CHECK(r.linked_size == -1);
    line(&r, "X-Linked-Size: 99999999999999999999999\r\n");
    CHECK(r.linked_size == -1);
    line(&r, "Link: <http://a>; rel=\"next\"\r\n");
    line(&r, "Link: <http://b>; rel=\"last\"\r\n");
    CHECK_STR(r.link, "<http://a>; rel=\"next\", <http://b>; rel=\"last\"");
    line(&r, "X-Error-Message: bad\x1b[2Jthing\r\n");
    CHECK_STR(r.error_message, "bad [2Jthing");
    line(&r, "Location: /x\r\n");
    CHECK_STR(r.location, "/x");
    line(&r, "no colon here\r\n");
    line(&r, ":\r\n");
    line(&r, "HTTP/1.1 200 OK\r\n"); /* a new response starts over */
    CHECK(r.link == NULL && r.location == NULL && r.etag[0] == '\0' && r.linked_size == -1);
    hub_http_resp_free(&r);
}

int main(void)
{
    test_error_body();
    test_hex();
    test_hostile_entries();
    test_listing_shape();
    test_parts_plan();
    test_batch_and_preupload();
    test_commit_and_info();
    test_header_lines();
    return tap_done();
}
