/* test_everyday_units.c — the pieces of everyday use that need no mount:
 * the Hugging Face cache lookup and verification (fs/hfcache.c), the
 * options it and offline mode add (fs/options.c), and the status text and
 * JSON (fs/status.c). */
#include "../../fs/hfcache.h"
#include "../../fs/options.h"
#include "../../fs/status.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* sha256("hello\n") and the git blob sha1 of "hello\n" */
#define HELLO_SHA256 "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define HELLO_OID "ce013625030ba8dba906f756967f9e9ca394464a"

static char root[256];

static void put(const char *key, const char *data)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/models--acme--tiny/blobs/%s", root, key);
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(data, f);
        fclose(f);
    }
}

static void test_folder_and_default_dir(void)
{
    char b[300];
    CHECK(hfcache_repo_folder(HUB_REPO_MODEL, "acme/tiny", b, sizeof b) == 0);
    CHECK_STR(b, "models--acme--tiny");
    CHECK(hfcache_repo_folder(HUB_REPO_DATASET, "a/b", b, sizeof b) == 0);
    CHECK_STR(b, "datasets--a--b");
    CHECK(hfcache_repo_folder(HUB_REPO_SPACE, "a/b", b, sizeof b) == 0);
    CHECK_STR(b, "spaces--a--b");
    CHECK(hfcache_repo_folder(HUB_REPO_MODEL, "acme/tiny", b, 10) == -ENAMETOOLONG);

    char d[PATH_MAX];
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HF_HOME");
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    CHECK(hfcache_default_dir(d, sizeof d) == 0);
    CHECK_STR(d, "/home/u/.cache/huggingface/hub");
    setenv("XDG_CACHE_HOME", "/xdg", 1);
    CHECK(hfcache_default_dir(d, sizeof d) == 0);
    CHECK_STR(d, "/xdg/huggingface/hub");
    setenv("HF_HOME", "/hf", 1);
    CHECK(hfcache_default_dir(d, sizeof d) == 0);
    CHECK_STR(d, "/hf/hub");
    setenv("HUGGINGFACE_HUB_CACHE", "/old", 1);
    CHECK(hfcache_default_dir(d, sizeof d) == 0);
    CHECK_STR(d, "/old");
    setenv("HF_HUB_CACHE", "/new", 1);
    CHECK(hfcache_default_dir(d, sizeof d) == 0);
    CHECK_STR(d, "/new");
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    unsetenv("HF_HOME");
    unsetenv("XDG_CACHE_HOME");
}

static void test_open_verifies(void)
{
    char p[PATH_MAX];
    snprintf(root, sizeof root, "/tmp/hm-hfcache-%d", (int)getpid());
    snprintf(p, sizeof p, "%s/models--acme--tiny/blobs", root);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", p);
    CHECK(system(cmd) == 0);
    put(HELLO_SHA256, "hello\n");
    put(HELLO_OID, "hello\n");

    struct hfcache *hc = NULL;
    CHECK(hfcache_new(root, &hc) == 0);
    int fd = hfcache_open(hc, HUB_REPO_MODEL, "acme/tiny", HELLO_SHA256, BLOCKS_SHA256, 6);
    CHECK(fd >= 0);
    char buf[8] = {0};
    CHECK(fd >= 0 && pread(fd, buf, sizeof buf, 0) == 6 && memcmp(buf, "hello\n", 6) == 0);
    if (fd >= 0)
        close(fd);
    /* a regular file's blob is named by its git blob sha1 */
    fd = hfcache_open(hc, HUB_REPO_MODEL, "acme/tiny", HELLO_OID, BLOCKS_GIT_SHA1, 6);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    /* wrong size, other repo, other type, absent, hostile key */
    CHECK(hfcache_open(hc, HUB_REPO_MODEL, "acme/tiny", HELLO_SHA256, BLOCKS_SHA256, 7) ==
          -ENOENT);
    CHECK(hfcache_open(hc, HUB_REPO_MODEL, "acme/other", HELLO_SHA256, BLOCKS_SHA256, 6) ==
          -ENOENT);
    CHECK(hfcache_open(hc, HUB_REPO_DATASET, "acme/tiny", HELLO_SHA256, BLOCKS_SHA256, 6) ==
          -ENOENT);
    CHECK(hfcache_open(hc, HUB_REPO_MODEL, "acme/tiny", HELLO_OID "0", BLOCKS_GIT_SHA1, 6) ==
          -ENOENT);
    CHECK(hfcache_open(hc, HUB_REPO_MODEL, "acme/tiny", "../../x", BLOCKS_SHA256, 6) == -ENOENT);
    /* the bytes do not hash to the name: never served */
    char bad[] = "0000000000000000000000000000000000000000000000000000000000000000";
    put(bad, "hello\n");
    CHECK(hfcache_open(hc, HUB_REPO_MODEL, "acme/tiny", bad, BLOCKS_SHA256, 6) == -ENOENT);
    CHECK(hfcache_open(hc, HUB_REPO_MODEL, "acme/tiny", bad, BLOCKS_SHA256, 6) == -ENOENT);
    /* a blob edited after it was verified is verified again */
    snprintf(p, sizeof p, "%s/models--acme--tiny/blobs/%s", root, HELLO_SHA256);
    put(HELLO_SHA256, "HELLO\n");
    struct timespec t[2] = {{.tv_sec = 1000000, .tv_nsec = 0}, {.tv_sec = 1000000, .tv_nsec = 0}};
    CHECK(utimensat(AT_FDCWD, p, t, 0) == 0);
    CHECK(hfcache_open(hc, HUB_REPO_MODEL, "acme/tiny", HELLO_SHA256, BLOCKS_SHA256, 6) ==
          -ENOENT);
    put(HELLO_SHA256, "hello\n");
    fd = hfcache_open(hc, HUB_REPO_MODEL, "acme/tiny", HELLO_SHA256, BLOCKS_SHA256, 6);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    hfcache_free(hc);
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    CHECK(system(cmd) == 0);
}

static int parse(const char *optstr, struct hm_options *o)
{
    char *argv[] = {"hubmount", "acme/tiny", "/mnt", "-o", (char *)optstr, NULL};
    struct fuse_args args = FUSE_ARGS_INIT(5, argv);
    int r = hm_options_parse(&args, o);
    if (r == 0)
        r = hm_options_finish(o);
    fuse_opt_free_args(&args);
    return r;
}

static void test_options(void)
{
    struct hm_options o;
    setenv("HOME", "/nonexistent-home", 1);
    unsetenv("HF_HUB_OFFLINE");
    CHECK(parse("cache_dir=/tmp/c", &o) == 0);
    CHECK(o.offline == 0 && o.log_level == 2 && o.progress == HM_DEFAULT_PROGRESS);
    CHECK(o.hf_cache == NULL); /* the default HF cache does not exist there */
    hm_options_free(&o);
    CHECK(parse("cache_dir=/tmp/c,log_level=debug,progress=3,hf_cache=/tmp/hf", &o) == 0);
    CHECK(o.log_level == 3 && o.progress == 3);
    CHECK(o.hf_cache && strcmp(o.hf_cache, "/tmp/hf") == 0);
    hm_options_free(&o);
    CHECK(parse("cache_dir=/tmp/c,hf_cache=/tmp/hf,no_hf_cache", &o) == 0);
    CHECK(o.hf_cache == NULL);
    hm_options_free(&o);
    static const char *const on[] = {"1", "ON", "yes", "True"};
    for (size_t i = 0; i < 4; i++) {
        setenv("HF_HUB_OFFLINE", on[i], 1);
        CHECK(parse("cache_dir=/tmp/c", &o) == 0 && o.offline == 1);
        hm_options_free(&o);
    }
    setenv("HF_HUB_OFFLINE", "0", 1);
    CHECK(parse("cache_dir=/tmp/c", &o) == 0 && o.offline == 0);
    hm_options_free(&o);
    unsetenv("HF_HUB_OFFLINE");
    CHECK(parse("cache_dir=/tmp/c,log_level=loud", &o) == -EINVAL);
    hm_options_free(&o);
    CHECK(parse("cache_dir=/tmp/c,progress=-1", &o) == -EINVAL);
    hm_options_free(&o);
}

static void test_status(void)
{
    struct mount_state ms;
    struct hm_options opt;
    memset(&opt, 0, sizeof opt);
    ms_init(&ms);
    ms.opt = &opt;
    CHECK(hub_source_parse("acme/tiny", &ms.src) == 0);
    snprintf(ms.revision, sizeof ms.revision, "main");
    ms_commit_set(&ms, "0123456789012345678901234567890123456789", 0);
    struct commit_worker_status st;
    memset(&st, 0, sizeof st);
    st.pending.n_ops = 2;
    st.pending.n_files = 1;
    st.pending.bytes = 10;
    st.committing = true;
    st.upload_total = 100;
    st.upload_sent = 40;
    st.upload_files = 1;
    st.last_error = EACCES;
    st.last_error_time = 86400;
    char buf[4096];
    CHECK(hm_status_format(&ms, &st, false, buf, sizeof buf) == 0);
    CHECK(strstr(buf, "repo: acme/tiny@main\n") != NULL);
    CHECK(strstr(buf, "mode: read-write\n") != NULL);
    CHECK(strstr(buf, "uploading: 40 of 100 bytes (40%), 0 of 1 file(s)\n") != NULL);
    CHECK(strstr(buf, "last error: Permission denied at 1970-01-02T00:00:00Z") != NULL);
    CHECK(hm_status_format(&ms, &st, false, buf, 20) == -ERANGE);

    CHECK(hm_status_format(&ms, &st, true, buf, sizeof buf) == 0);
    json_error_t err;
    json_t *j = json_loads(buf, 0, &err);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "repo")), "acme/tiny");
    CHECK_STR(json_string_value(json_object_get(j, "type")), "models");
    CHECK(json_is_true(json_object_get(j, "writable")));
    CHECK(json_integer_value(json_object_get(json_object_get(j, "upload"), "bytes_sent")) == 40);
    CHECK(json_integer_value(json_object_get(json_object_get(j, "pending"), "operations")) == 2);
    CHECK(json_integer_value(json_object_get(json_object_get(j, "last_error"), "errno")) ==
          EACCES);
    CHECK(json_is_null(json_object_get(j, "last_commit")));
    json_decref(j);

    /* a mount without a commit worker; offline says so */
    opt.offline = 1;
    CHECK(hm_status_format(&ms, NULL, true, buf, sizeof buf) == 0);
    j = json_loads(buf, 0, &err);
    CHECK(j && json_is_false(json_object_get(j, "writable")));
    CHECK_STR(json_string_value(json_object_get(j, "mode")), "offline");
    CHECK(json_is_null(json_object_get(j, "upload")));
    json_decref(j);
    ms_destroy(&ms);
}

int main(void)
{
    test_folder_and_default_dir();
    test_open_verifies();
    test_options();
    test_status();
    return tap_done();
}
