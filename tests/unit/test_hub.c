/* test_hub.c — the pure parts of the Hub client: source parsing, URL
 * building, header parsing, the errno mapping (every row of hub-api.md
 * §14), whoami parsing and the can-write decision, dates, entries. */
#include "../../hub/hub_i.h"
#include "../../hub/url.h"
#include "tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>

static void test_source(void)
{
    struct hub_source s;
    CHECK(hub_source_parse("acme/tiny", &s) == 0);
    CHECK(s.type == HUB_REPO_MODEL);
    CHECK_STR(s.repo_id, "acme/tiny");
    CHECK_STR(s.revision, "");
    CHECK(hub_source_parse("models/acme/tiny@v1.0", &s) == 0);
    CHECK(s.type == HUB_REPO_MODEL);
    CHECK_STR(s.revision, "v1.0");
    CHECK(hub_source_parse("datasets/a/b@refs/pr/1", &s) == 0);
    CHECK(s.type == HUB_REPO_DATASET);
    CHECK_STR(s.repo_id, "a/b");
    CHECK_STR(s.revision, "refs/pr/1");
    CHECK(hub_source_parse("spaces/u/app", &s) == 0);
    CHECK(s.type == HUB_REPO_SPACE);
    CHECK(hub_source_parse("dataset/u/d_1.x", &s) == 0);
    CHECK(s.type == HUB_REPO_DATASET);
    CHECK_STR(s.repo_id, "u/d_1.x");
    /* a namespace called "datasets" with no third segment is a model */
    CHECK(hub_source_parse("datasets/x", &s) == 0);
    CHECK(s.type == HUB_REPO_MODEL);
    CHECK_STR(s.repo_id, "datasets/x");
    CHECK(hub_source_parse("a/b@feature/x", &s) == 0);
    CHECK_STR(s.revision, "feature/x");
    CHECK(hub_source_parse("a/b@0123456789abcdef0123456789abcdef01234567", &s) == 0);

    const char *bad[] = {"", "a", "/a/b", "a/b/c", "a/", "/b", "a//b", "a/b@", "a/b@x y",
                         "a/b@..", "a/b@a..b", "a/b@/x", "a/b@x/", "a/b c", "a/.b", "a/b-",
                         "a/b..c", "datasets/a/b/c", "a/b@x~1", "a/b@x:y", "ns/na$me",
                         "datasets//b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = hub_source_parse(bad[i], &s);
        CHECK(rc == -EINVAL);
        if (rc != -EINVAL)
            printf("# accepted bad source \"%s\"\n", bad[i]);
    }
    CHECK(hub_source_parse(NULL, &s) == -EINVAL);
    char longname[200];
    memset(longname, 'a', sizeof(longname));
    memcpy(longname, "ns/", 3);
    longname[150] = '\0';
    CHECK(hub_source_parse(longname, &s) == -EINVAL);
    CHECK_STR(hub_repo_type_plural(HUB_REPO_MODEL), "models");
    CHECK_STR(hub_repo_type_plural(HUB_REPO_DATASET), "datasets");
    CHECK_STR(hub_repo_type_plural(HUB_REPO_SPACE), "spaces");
}

static void test_urls(void)
{
    struct hub_source m = {HUB_REPO_MODEL, "acme/tiny", ""};
    struct hub_source d = {HUB_REPO_DATASET, "acme/corpus", ""};
    struct hub_buf b = HUB_BUF_INIT(0);
    const char *ep = "http://127.0.0.1:8080/";

    CHECK(hub_url_whoami(&b, ep) == 0);
    CHECK_STR(b.p, "http://127.0.0.1:8080/api/whoami-v2");
    hub_buf_reset(&b);
    CHECK(hub_url_repo_info(&b, ep, &m, NULL) == 0);
    CHECK_STR(b.p, "http://127.0.0.1:8080/api/models/acme/tiny");
    hub_buf_reset(&b);
    CHECK(hub_url_repo_info(&b, ep, &d, "refs/pr/3") == 0);
    CHECK_STR(b.p, "http://127.0.0.1:8080/api/datasets/acme/corpus/revision/refs%2Fpr%2F3");
    hub_buf_reset(&b);
    CHECK(hub_url_tree(&b, ep, &d, "main", "data/sub dir", false) == 0);
    CHECK_STR(b.p, "http://127.0.0.1:8080/api/datasets/acme/corpus/tree/main/data/sub%20dir"
                   "?recursive=false");
    hub_buf_reset(&b);
    CHECK(hub_url_tree(&b, ep, &m, "feature/x", "", true) == 0);
    CHECK_STR(b.p, "http://127.0.0.1:8080/api/models/acme/tiny/tree/feature%2Fx?recursive=true");
    hub_buf_reset(&b);
    CHECK(hub_url_api_rev(&b, ep, &m, "paths-info", "abc") == 0);
    CHECK_STR(b.p, "http://127.0.0.1:8080/api/models/acme/tiny/paths-info/abc");
    hub_buf_reset(&b);
    CHECK(hub_url_api_rev(&b, ep, &d, "commit", "") == 0);
    CHECK_STR(b.p, "http://127.0.0.1:8080/api/datasets/acme/corpus/commit/main");
    hub_buf_reset(&b);
    CHECK(hub_url_resolve(&b, ep, &m, "refs/pr/1", "dir/a b+c#?.bin") == 0);
    CHECK_STR(b.p, "http://127.0.0.1:8080/acme/tiny/resolve/refs%2Fpr%2F1/dir/a%20b%2Bc%23%3F.bin");
    hub_buf_reset(&b);
    CHECK(hub_url_resolve(&b, ep, &d, "main", "\xc3\xa9t\xc3\xa9.txt") == 0);
    CHECK_STR(b.p, "http://127.0.0.1:8080/datasets/acme/corpus/resolve/main/%C3%A9t%C3%A9.txt");
    hub_buf_reset(&b);
    struct hub_source sp = {HUB_REPO_SPACE, "u/app", ""};
    CHECK(hub_url_resolve(&b, "https://hf.co", &sp, "main", "app.py") == 0);
    CHECK_STR(b.p, "https://hf.co/spaces/u/app/resolve/main/app.py");
    hub_buf_reset(&b);
    CHECK(hub_url_lfs_batch(&b, ep, &m) == 0);
    CHECK_STR(b.p, "http://127.0.0.1:8080/acme/tiny.git/info/lfs/objects/batch");
    hub_buf_reset(&b);
    CHECK(hub_url_lfs_batch(&b, ep, &d) == 0);
    CHECK_STR(b.p, "http://127.0.0.1:8080/datasets/acme/corpus.git/info/lfs/objects/batch");
    hub_buf_free(&b);

    /* capped buffers refuse to grow */
    struct hub_buf small = HUB_BUF_INIT(8);
    CHECK(hub_buf_puts(&small, "12345678") == 0);
    CHECK(hub_buf_puts(&small, "9") == -EFBIG);
    hub_buf_free(&small);

    char o[300];
    CHECK(hub_url_origin("https://HF.co/api/x?y=1", o, sizeof(o)) == 0);
    CHECK_STR(o, "https://hf.co:443");
    CHECK(hub_url_origin("http://127.0.0.1:8080/a", o, sizeof(o)) == 0);
    CHECK_STR(o, "http://127.0.0.1:8080");
    CHECK(hub_url_origin("http://localhost/", o, sizeof(o)) == 0);
    CHECK_STR(o, "http://localhost:80");
    CHECK(hub_url_origin("ftp://x/y", o, sizeof(o)) != 0);
    CHECK(hub_url_origin("/relative", o, sizeof(o)) != 0);

    char *j = NULL;
    CHECK(hub_url_join("http://h:1/a/b/c?q=1", "/new/x", &j) == 0);
    CHECK_STR(j, "http://h:1/new/x");
    free(j);
    CHECK(hub_url_join("http://h:1/a/b", "https://cdn:2/s?sig=1", &j) == 0);
    CHECK_STR(j, "https://cdn:2/s?sig=1");
    free(j);
}

static void test_link(void)
{
    char *u = NULL;
    CHECK(hub_link_find("<http://h/api/t?cursor=abc>; rel=\"next\"", "next", &u) == 0);
    CHECK_STR(u, "http://h/api/t?cursor=abc");
    free(u);
    CHECK(hub_link_find("<http://h/p1>; rel=\"prev\", <http://h/p3,x>; rel=\"next\"", "next",
                        &u) == 0);
    CHECK_STR(u, "http://h/p3,x");
    free(u);
    CHECK(hub_link_find("<http://h/x>; rel=next", "next", &u) == 0);
    CHECK_STR(u, "http://h/x");
    free(u);
    CHECK(hub_link_find("<http://h/x>; title=\"a;b\"; rel=\"last next\"", "next", &u) == 0);
    CHECK_STR(u, "http://h/x");
    free(u);
    CHECK(hub_link_find("<http://h/tok>; rel=\"xet-auth\"", "next", &u) == -ENOENT);
    CHECK(u == NULL);
    CHECK(hub_link_find(NULL, "next", &u) == -ENOENT);
    CHECK(hub_link_find("", "next", &u) == -ENOENT);
    CHECK(hub_link_find("garbage", "next", &u) == -ENOENT);
    CHECK(hub_link_find("<http://h/x; rel=\"next\"", "next", &u) == -ENOENT);
    CHECK(hub_link_find("<a>; rel=\"xet-auth\", <b>; rel=\"xet-reconstruction-info\", "
                        "<c>; rel=\"next\"", "next", &u) == 0);
    CHECK_STR(u, "c");
    free(u);
}

static void test_headers(void)
{
    int64_t s, e, t;
    CHECK(hub_parse_content_range("bytes 10-19/100", &s, &e, &t) == 0);
    CHECK(s == 10 && e == 19 && t == 100);
    CHECK(hub_parse_content_range("bytes */100", &s, &e, &t) == 0);
    CHECK(s == -1 && t == 100);
    CHECK(hub_parse_content_range("bytes 0-0/*", &s, &e, &t) == 0);
    CHECK(t == -1);
    CHECK(hub_parse_content_range("bytes 5-4/10", &s, &e, &t) != 0);
    CHECK(hub_parse_content_range("items 0-1/2", &s, &e, &t) != 0);
    CHECK(hub_parse_content_range(NULL, &s, &e, &t) != 0);
    CHECK(hub_retry_after_seconds("3", NULL) == 4);
    CHECK(hub_retry_after_seconds(NULL, "\"api\";r=0;t=7") == 8);
    CHECK(hub_retry_after_seconds("3", "\"api\";r=0;t=7") == 8);
    CHECK(hub_retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", NULL) == -1);
    CHECK(hub_retry_after_seconds(NULL, NULL) == -1);
}

static void test_errno(void)
{
    const enum hub_req_kind M = HUB_REQ_META, C = HUB_REQ_CONTENT, W = HUB_REQ_WRITE,
                            R = HUB_REQ_CREATE, A = HUB_REQ_WHOAMI;
    CHECK(hub_errno(200, NULL, NULL, M, true) == 0);
    CHECK(hub_errno(206, NULL, NULL, C, true) == 0);
    CHECK(hub_errno(302, NULL, NULL, C, true) == 0);
    /* 404 EntryNotFound / RevisionNotFound / RepoNotFound / untagged */
    CHECK(hub_errno(404, "EntryNotFound", NULL, M, true) == ENOENT);
    CHECK(hub_errno(404, "RevisionNotFound", NULL, M, true) == ENOENT);
    CHECK(hub_errno(404, "RepoNotFound", NULL, M, true) == ENOENT);
    CHECK(hub_errno(404, "RepoNotFound", NULL, W, true) == ENOENT);
    CHECK(hub_errno(404, NULL, NULL, C, false) == ENOENT);
    /* 401 anonymous: lookups ENOENT, content/writes EACCES */
    CHECK(hub_errno(401, NULL, "Repository not found", M, false) == ENOENT);
    CHECK(hub_errno(401, NULL, NULL, C, false) == EACCES);
    CHECK(hub_errno(401, NULL, NULL, W, false) == EACCES);
    /* 401 with a token: the token is bad */
    CHECK(hub_errno(401, NULL, "Invalid credentials in Authorization header", M, true) == EACCES);
    CHECK(hub_errno(401, NULL, "Invalid username or password.", A, true) == EACCES);
    /* gated */
    CHECK(hub_errno(401, "GatedRepo", NULL, C, false) == EACCES);
    CHECK(hub_errno(403, "GatedRepo", "awaiting a review", C, true) == EACCES);
    /* disabled, write refused */
    CHECK(hub_errno(403, NULL, "Access to this resource is disabled.", M, true) == EACCES);
    CHECK(hub_errno(403, NULL, "You don't have the rights", W, true) == EACCES);
    /* quota / payment */
    CHECK(hub_errno(402, NULL, NULL, W, true) == ENOSPC);
    CHECK(hub_errno(403, NULL, "Storage quota exceeded", W, true) == ENOSPC);
    /* 409 */
    CHECK(hub_errno(409, NULL, "already exists", R, true) == EEXIST);
    CHECK(hub_errno(409, NULL, "conflicting operation", W, true) == EAGAIN);
    CHECK(hub_errno(412, NULL, "The branch was updated", W, true) == ESTALE);
    CHECK(hub_errno(413, NULL, NULL, W, true) == EFBIG);
    CHECK(hub_errno(416, NULL, NULL, C, true) == EIO);
    CHECK(hub_errno(400, NULL, NULL, W, true) == EINVAL);
    CHECK(hub_errno(422, NULL, NULL, W, true) == EINVAL);
    CHECK(hub_errno(429, NULL, NULL, M, true) == EAGAIN);
    CHECK(hub_errno(408, NULL, NULL, M, true) == EIO);
    CHECK(hub_errno(500, NULL, NULL, M, true) == EIO);
    CHECK(hub_errno(502, NULL, NULL, C, true) == EIO);
    CHECK(hub_errno(503, NULL, NULL, W, true) == EIO);
    CHECK(hub_errno(504, NULL, NULL, W, true) == EIO);
    CHECK(hub_errno(0, NULL, NULL, C, true) == EIO);
    CHECK(hub_errno(0, "timeout", NULL, C, true) == ETIMEDOUT);
    CHECK(hub_errno(0, "offline", NULL, M, false) == ENETDOWN);
    CHECK(hub_errno(418, NULL, NULL, M, false) == EIO);
}

static const char *whoami_write =
    "{\"type\":\"user\",\"id\":\"65a\",\"name\":\"alice\",\"fullname\":\"Alice\","
    "\"orgs\":[{\"type\":\"org\",\"name\":\"acme\",\"roleInOrg\":\"write\"},"
    "{\"type\":\"org\",\"name\":\"readers\",\"roleInOrg\":\"read\"},"
    "{\"type\":\"org\",\"name\":\"contrib\",\"roleInOrg\":\"contributor\"},"
    "{\"type\":\"org\",\"name\":\"bosses\",\"roleInOrg\":\"admin\"}],"
    "\"auth\":{\"type\":\"access_token\",\"accessToken\":{\"displayName\":\"t\","
    "\"role\":\"write\"}}}";

static const char *whoami_read =
    "{\"type\":\"user\",\"name\":\"bob\",\"orgs\":[],"
    "\"auth\":{\"type\":\"access_token\",\"accessToken\":{\"role\":\"read\"}}}";

static const char *whoami_fg =
    "{\"type\":\"user\",\"name\":\"carol\","
    "\"orgs\":[{\"name\":\"acme\",\"roleInOrg\":\"write\"},{\"name\":\"ro\",\"roleInOrg\":\"read\"}],"
    "\"auth\":{\"type\":\"access_token\",\"accessToken\":{\"role\":\"fineGrained\","
    "\"fineGrained\":{\"canReadGatedRepos\":true,\"global\":[\"discussion.write\"],"
    "\"scoped\":[{\"entity\":{\"_id\":\"1\",\"type\":\"org\",\"name\":\"acme\"},"
    "\"permissions\":[\"repo.content.read\",\"repo.write\"]},"
    "{\"entity\":{\"_id\":\"2\",\"type\":\"user\",\"name\":\"carol\"},"
    "\"permissions\":[\"repo.content.read\"]},"
    "{\"entity\":{\"_id\":\"3\",\"type\":\"model\",\"name\":\"other/repo\"},"
    "\"permissions\":[\"repo.write\"]},"
    "{\"entity\":{\"_id\":\"4\",\"type\":\"org\",\"name\":\"ro\"},"
    "\"permissions\":[\"repo.write\"]}]}}}}";

static void test_identity(void)
{
    struct hub_identity id;
    CHECK(hub_identity_parse(whoami_write, strlen(whoami_write), &id) == 0);
    CHECK_STR(id.name, "alice");
    CHECK_STR(id.token_role, "write");
    CHECK(id.n_orgs == 4);
    CHECK_STR(id.orgs[0].name, "acme");
    CHECK_STR(id.orgs[0].role, "write");
    CHECK(id.can_read_gated);
    CHECK(hub_identity_can_write(&id, "alice/x"));
    CHECK(hub_identity_can_write(&id, "Alice/x"));
    CHECK(hub_identity_can_write(&id, "acme/x"));
    CHECK(!hub_identity_can_write(&id, "readers/x"));
    CHECK(hub_identity_can_write(&id, "contrib/x"));
    CHECK(hub_identity_can_write(&id, "bosses/x"));
    CHECK(!hub_identity_can_write(&id, "stranger/x"));
    CHECK(!hub_identity_can_write(&id, "alic/x"));
    CHECK(!hub_identity_can_write(&id, "alicex/x"));
    CHECK(!hub_identity_can_write(&id, "noslash"));
    hub_identity_free(&id);

    CHECK(hub_identity_parse(whoami_read, strlen(whoami_read), &id) == 0);
    CHECK_STR(id.token_role, "read");
    CHECK(!hub_identity_can_write(&id, "bob/x"));
    hub_identity_free(&id);

    CHECK(hub_identity_parse(whoami_fg, strlen(whoami_fg), &id) == 0);
    CHECK_STR(id.token_role, "fineGrained");
    CHECK(id.can_read_gated);
    CHECK(id.n_fg_write == 3);
    CHECK(hub_identity_can_write(&id, "acme/x"));
    CHECK(!hub_identity_can_write(&id, "carol/x")); /* read-only scope on own namespace */
    CHECK(hub_identity_can_write(&id, "other/repo"));
    CHECK(!hub_identity_can_write(&id, "other/repo2"));
    CHECK(!hub_identity_can_write(&id, "ro/x")); /* scope says yes, org role says no */
    hub_identity_free(&id);

    const char *fg_nogated = "{\"name\":\"d\",\"auth\":{\"accessToken\":{\"role\":\"fineGrained\","
                             "\"fineGrained\":{\"canReadGatedRepos\":false,\"scoped\":[]}}}}";
    CHECK(hub_identity_parse(fg_nogated, strlen(fg_nogated), &id) == 0);
    CHECK(!id.can_read_gated);
    CHECK(!hub_identity_can_write(&id, "d/x"));
    hub_identity_free(&id);

    CHECK(hub_identity_parse("{]", 2, &id) != 0);
    CHECK(hub_identity_parse("{\"orgs\":[]}", 11, &id) != 0); /* no name */
    struct hub_identity anon = {.anonymous = true};
    CHECK(!hub_identity_can_write(&anon, "x/y"));
    CHECK(!hub_identity_can_write(NULL, "x/y"));
}

static void test_iso8601(void)
{
    int64_t t;
    CHECK(hub_parse_iso8601("1970-01-01T00:00:00Z", &t) == 0 && t == 0);
    CHECK(hub_parse_iso8601("2024-05-01T12:34:56.000Z", &t) == 0 && t == 1714566896);
    CHECK(hub_parse_iso8601("2022-03-02T23:29:04.000Z", &t) == 0 && t == 1646263744);
    CHECK(hub_parse_iso8601("2024-05-01T14:34:56+02:00", &t) == 0 && t == 1714566896);
    CHECK(hub_parse_iso8601("2024-05-01T07:34:56-0500", &t) == 0 && t == 1714566896);
    CHECK(hub_parse_iso8601("2000-02-29T00:00:00Z", &t) == 0 && t == 951782400);
    CHECK(hub_parse_iso8601("1969-12-31T23:59:59Z", &t) == 0 && t == -1);
    CHECK(hub_parse_iso8601("2024-05-01 12:34:56.123456Z", &t) == 0 && t == 1714566896);
    CHECK(hub_parse_iso8601("2024-13-01T00:00:00Z", &t) != 0);
    CHECK(hub_parse_iso8601("2024-05-01", &t) != 0);
    CHECK(hub_parse_iso8601("2024-05-01T12:34:56Zjunk", &t) != 0);
    CHECK(hub_parse_iso8601("", &t) != 0);
    CHECK(hub_parse_iso8601(NULL, &t) != 0);
}

static void test_entries(void)
{
    const char *js =
        "[{\"type\":\"directory\",\"oid\":\"9c1e0000000000000000000000000000000000aa\",\"size\":0,"
        "\"path\":\"data/train\"},"
        "{\"type\":\"file\",\"oid\":\"4b820000000000000000000000000000000000bb\",\"size\":812,"
        "\"path\":\"data/README.md\",\"lastCommit\":{\"id\":\"x\",\"title\":\"t\","
        "\"date\":\"2024-05-01T12:34:56.000Z\"}},"
        "{\"type\":\"file\",\"oid\":\"d1a00000000000000000000000000000000000cc\",\"size\":734003200,"
        "\"path\":\"data/shard-0.parquet\",\"lfs\":{\"oid\":"
        "\"3f5a000000000000000000000000000000000000000000000000000000000001\","
        "\"size\":734003200,\"pointerSize\":135},\"xetHash\":\"77e1\"}]";
    json_error_t err;
    json_t *arr = json_loads(js, 0, &err);
    struct hub_entries l = {0};
    CHECK(arr != NULL);
    CHECK(hub_entries_parse_json(arr, &l) == 0);
    CHECK(l.n == 3);
    if (l.n == 3) {
        CHECK(l.v[0].is_dir && l.v[0].size == 0);
        CHECK_STR(l.v[0].path, "data/train");
        CHECK(!l.v[1].is_lfs && l.v[1].size == 812 && l.v[1].mtime == 1714566896);
        CHECK_STR(l.v[1].oid, "4b820000000000000000000000000000000000bb");
        CHECK(l.v[2].is_lfs && l.v[2].size == 734003200);
        CHECK_STR(l.v[2].sha256, "3f5a000000000000000000000000000000000000000000000000000000000001");
    }
    json_decref(arr);
    hub_entries_free(&l);
    arr = json_loads("[{\"type\":\"file\"}]", 0, &err);
    CHECK(hub_entries_parse_json(arr, &l) == -EIO);
    json_decref(arr);
    hub_entries_free(&l);
    CHECK(l.n == 0 && l.v == NULL);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void check_token(const char *opt, const char *want)
{
    char *t = hub_token_discover(opt);
    if (want)
        CHECK_STR(t, want);
    else
        CHECK(t == NULL);
    free(t);
}

static void test_token(void)
{
    char dir[] = "/tmp/hubtok.XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    char p[256];
    const char *vars[] = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HOME",
                          "XDG_CACHE_HOME"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    setenv("HOME", dir, 1);
    check_token(NULL, NULL);

    snprintf(p, sizeof(p), "%s/.cache", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/.cache/huggingface", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/.cache/huggingface/token", dir);
    write_file(p, "  hf_home\r\n");
    check_token(NULL, "hf_home");

    snprintf(p, sizeof(p), "%s/xdg", dir);
    mkdir(p, 0700);
    setenv("XDG_CACHE_HOME", p, 1);
    snprintf(p, sizeof(p), "%s/xdg/huggingface", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/xdg/huggingface/token", dir);
    write_file(p, "hf_xdg\n");
    check_token(NULL, "hf_xdg");

    snprintf(p, sizeof(p), "%s/hfhome", dir);
    mkdir(p, 0700);
    setenv("HF_HOME", p, 1);
    snprintf(p, sizeof(p), "%s/hfhome/token", dir);
    write_file(p, "hf_hfhome");
    check_token(NULL, "hf_hfhome");

    snprintf(p, sizeof(p), "%s/explicit", dir);
    write_file(p, "hf_path\n");
    setenv("HF_TOKEN_PATH", p, 1);
    check_token(NULL, "hf_path");
    setenv("HF_TOKEN_PATH", "~/explicit", 1);
    check_token(NULL, "hf_path");

    setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy", 1);
    check_token(NULL, "hf_legacy");

    snprintf(p, sizeof(p), "%s/opt", dir);
    write_file(p, "\nhf_opt \n");
    check_token(p, "hf_opt");
    check_token("/nonexistent/token", "hf_legacy");

    setenv("HF_TOKEN", "", 1); /* empty means "no token here" */
    check_token(p, "hf_opt");
    setenv("HF_TOKEN", " hf_env ", 1);
    check_token(p, "hf_env");
    setenv("HF_TOKEN", "hf_bad token", 1); /* would break the header line */
    check_token(p, "hf_opt");

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    const char *files[] = {".cache/huggingface/token", ".cache/huggingface", ".cache",
                           "xdg/huggingface/token", "xdg/huggingface", "xdg", "hfhome/token",
                           "hfhome", "explicit", "opt"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        remove(p);
    }
    rmdir(dir);
}

int main(void)
{
    test_source();
    test_urls();
    test_link();
    test_headers();
    test_errno();
    test_identity();
    test_iso8601();
    test_entries();
    test_token();
    return tap_done();
}
