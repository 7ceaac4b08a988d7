/* options.c — parsing and documenting hubmount's command line.
 * The table is built with offsetof so adding an option is one line here
 * and one line in the help text below. */
#include "options.h"

#include "hfcache.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    KEY_RO,
    KEY_DISCARD,
    KEY_MAX_READ,
    KEY_MAX_THREADS,
    KEY_TOKEN,
};

#define HM_OPT(t, field, v) {t, offsetof(struct hm_options, field), v}

static const struct fuse_opt hm_opt_table[] = {
    HM_OPT("endpoint=%s", endpoint, 0),
    HM_OPT("token_file=%s", token_file, 0),
    HM_OPT("cache_dir=%s", cache_dir, 0),
    HM_OPT("cache_size=%s", cache_size_str, 0),
    HM_OPT("poll=%d", poll, 0),
    HM_OPT("commit_delay=%d", commit_delay, 0),
    HM_OPT("commit_window=%d", commit_window, 0),
    HM_OPT("commit_message=%s", commit_message, 0),
    HM_OPT("progress=%d", progress, 0),
    HM_OPT("log_file=%s", log_file, 0),
    HM_OPT("log_level=%s", log_level_str, 0),
    HM_OPT("offline", offline, 1),
    HM_OPT("hf_cache=%s", hf_cache, 0),
    HM_OPT("no_hf_cache", no_hf_cache, 1),
    HM_OPT("durable_close", durable_close, 1),
    FUSE_OPT_KEY("ro", KEY_RO),
    FUSE_OPT_KEY("max_read=", KEY_MAX_READ),
    FUSE_OPT_KEY("max_threads=", KEY_MAX_THREADS),
    FUSE_OPT_KEY("token=", KEY_TOKEN),
    /* fstab / mount(8) noise that must not reach libfuse */
    FUSE_OPT_KEY("_netdev", KEY_DISCARD),
    FUSE_OPT_KEY("noauto", KEY_DISCARD),
    FUSE_OPT_KEY("nofail", KEY_DISCARD),
    FUSE_OPT_KEY("auto", KEY_DISCARD),
    FUSE_OPT_KEY("user", KEY_DISCARD),
    FUSE_OPT_KEY("users", KEY_DISCARD),
    FUSE_OPT_KEY("nouser", KEY_DISCARD),
    FUSE_OPT_KEY("defaults", KEY_DISCARD),
    FUSE_OPT_KEY("comment=", KEY_DISCARD),
    FUSE_OPT_END,
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    struct hm_options *o = data;
    (void)outargs;
    switch (key) {
    case KEY_RO:
        o->ro = 1;
        return 1; /* the kernel mount is read-only too */
    case KEY_DISCARD:
        return 0;
    case KEY_MAX_READ: {
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(arg + strlen("max_read="), &end, 10);
        if (errno || !end || *end || v < 4096 || v > (1ul << 30)) {
            fprintf(stderr, "hubmount: bad max_read: %s\n", arg);
            return -1;
        }
        o->max_read_given = true;
        o->max_read = (unsigned)v;
        return 1;
    }
    case KEY_MAX_THREADS:
        o->max_threads_given = true;
        return 1;
    case KEY_TOKEN:
        /* argv is world-readable in /proc: refuse rather than leak. */
        fprintf(stderr, "hubmount: the token= option is not supported (argv is visible to "
                        "every user); use HF_TOKEN or -o token_file=FILE\n");
        return -1;
    case FUSE_OPT_KEY_OPT:
        if (strncmp(arg, "x-systemd.", 10) == 0 || strncmp(arg, "x-", 2) == 0)
            return 0;
        return 1;
    case FUSE_OPT_KEY_NONOPT:
        if (!o->source) {
            o->source = strdup(arg);
            return o->source ? 0 : -1;
        }
        return 1; /* the mount point, for fuse_parse_cmdline */
    default:
        return 1;
    }
}

int hm_options_parse(struct fuse_args *args, struct hm_options *o)
{
    memset(o, 0, sizeof *o);
    o->poll = HM_DEFAULT_POLL;
    o->commit_delay = HM_DEFAULT_COMMIT_DELAY;
    o->commit_window = HM_DEFAULT_COMMIT_WINDOW;
    o->progress = HM_DEFAULT_PROGRESS;
    o->max_read = HM_MAX_READ;
    if (fuse_opt_parse(args, o, hm_opt_table, opt_proc) == -1)
        return -EINVAL;
    return 0;
}

int hm_parse_size(const char *text, uint64_t *out)
{
    if (!text || !*text)
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || text[0] == '-')
        return -EINVAL;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k': case 'K':
        shift = 10;
        break;
    case 'm': case 'M':
        shift = 20;
        break;
    case 'g': case 'G':
        shift = 30;
        break;
    case 't': case 'T':
        shift = 40;
        break;
    default:
        return -EINVAL;
    }
    if (*end) {
        end++;
        if (*end == 'i' || *end == 'I') /* accept "10GiB"/"10Gi" too */
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (*end)
            return -EINVAL;
    }
    if (shift && v > (UINT64_MAX >> shift))
        return -EINVAL;
    *out = (uint64_t)v << shift;
    return 0;
}

/* $XDG_CACHE_HOME/hubmount, else $HOME/.cache/hubmount. */
static char *default_cache_dir(void)
{
    char buf[PATH_MAX];
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, sizeof buf, "%s/hubmount", xdg);
    else if (home && home[0] == '/')
        n = snprintf(buf, sizeof buf, "%s/.cache/hubmount", home);
    else
        return NULL;
    if (n < 0 || (size_t)n >= sizeof buf)
        return NULL;
    return strdup(buf);
}

/* fuse_daemonize() changes to "/", so a relative cache dir must be made
 * absolute now (the directory may not exist yet: no realpath). */
static int make_absolute(char **path)
{
    if ((*path)[0] == '/')
        return 0;
    char cwd[PATH_MAX], buf[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return -errno;
    int n = snprintf(buf, sizeof buf, "%s/%s", cwd, *path);
    if (n < 0 || (size_t)n >= sizeof buf)
        return -ENAMETOOLONG;
    char *abs = strdup(buf);
    if (!abs)
        return -ENOMEM;
    free(*path);
    *path = abs;
    return 0;
}

/* huggingface_hub's truthy spellings of HF_HUB_OFFLINE. */
static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "on") == 0 ||
                 strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0);
}

static int parse_log_level(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return HM_LOG_WARN;
    return -1;
}

/* The Hugging Face hub cache to reuse: -o hf_cache=DIR, else the default
 * folder when it exists (nothing to reuse otherwise), never with
 * -o no_hf_cache. */
static int finish_hf_cache(struct hm_options *o)
{
    if (o->no_hf_cache) {
        free(o->hf_cache);
        o->hf_cache = NULL;
        return 0;
    }
    if (o->hf_cache)
        return make_absolute(&o->hf_cache);
    char dir[PATH_MAX];
    struct stat st;
    if (hfcache_default_dir(dir, sizeof dir) < 0 || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0;
    o->hf_cache = strdup(dir);
    if (!o->hf_cache)
        return -ENOMEM;
    return make_absolute(&o->hf_cache);
}

int hm_options_finish(struct hm_options *o)
{
    int ret;
    if (env_true("HF_HUB_OFFLINE"))
        o->offline = 1;
    o->log_level = HM_LOG_INFO;
    if (o->log_level_str && (o->log_level = parse_log_level(o->log_level_str)) < 0) {
        fprintf(stderr, "hubmount: bad log_level: %s (error, warn, info or debug)\n",
                o->log_level_str);
        return -EINVAL;
    }
    if (!o->cache_dir) {
        o->cache_dir = default_cache_dir();
        if (!o->cache_dir) {
            fprintf(stderr, "hubmount: cannot find a cache directory: set -o cache_dir= "
                            "or HOME\n");
            return -EINVAL;
        }
    }
    ret = make_absolute(&o->cache_dir);
    if (ret < 0) {
        fprintf(stderr, "hubmount: bad cache_dir: %s\n", strerror(-ret));
        return ret;
    }
    if (o->log_file) {
        ret = make_absolute(&o->log_file);
        if (ret < 0) {
            fprintf(stderr, "hubmount: bad log_file: %s\n", strerror(-ret));
            return ret;
        }
    }
    if (hm_parse_size(o->cache_size_str ? o->cache_size_str : HM_DEFAULT_CACHE_SIZE,
                      &o->cache_size) < 0 || o->cache_size == 0) {
        fprintf(stderr, "hubmount: bad cache_size: %s\n", o->cache_size_str);
        return -EINVAL;
    }
    if (o->poll < 0 || o->commit_delay < 0 || o->commit_window < 0 || o->progress < 0) {
        fprintf(stderr, "hubmount: poll, commit_delay, commit_window and progress must be "
                        ">= 0\n");
        return -EINVAL;
    }
    if (o->commit_window < o->commit_delay)
        o->commit_window = o->commit_delay;
    ret = finish_hf_cache(o);
    if (ret < 0) {
        fprintf(stderr, "hubmount: bad hf_cache: %s\n", strerror(-ret));
        return ret;
    }
    return 0;
}

void hm_options_help(void)
{
    printf("hubmount options:\n"
           "    -o endpoint=URL        Hub base URL (default: $HF_ENDPOINT, else https://huggingface.co)\n"
           "    -o token_file=FILE     read the token from FILE (default: $HF_TOKEN, then\n"
           "                           $HF_TOKEN_PATH, $HF_HOME/token, ~/.cache/huggingface/token;\n"
           "                           none = anonymous). There is no token= option: argv is public.\n"
           "    -o cache_dir=DIR       metadata + content cache (default: $XDG_CACHE_HOME/hubmount\n"
           "                           or ~/.cache/hubmount)\n"
           "    -o cache_size=SIZE     content cache bound, K/M/G/T suffixes (default: %s)\n"
           "    -o poll=SECONDS        branch-head probe interval, 0 = off (default: %d)\n"
           "    -o ro                  read-only mount (tag and commit-sha mounts always are)\n"
           "    -o commit_delay=SEC    quiet time after the last close before a commit (default: %d)\n"
           "    -o commit_window=SEC   longest wait before pending changes are committed (default: %d)\n"
           "    -o commit_message=TEXT summary of batched commits (default: generated)\n"
           "    -o durable_close       close(2) also waits until the file and its pending commit\n"
           "                           are on local disk, so they survive a power loss (default:\n"
           "                           off: a closed file survives a crash of hubmount; fsync(2)\n"
           "                           and `hubmount sync` commit it to the Hub)\n"
           "    -o progress=SEC        log upload progress every SEC seconds, 0 = never (default: %d)\n"
           "    -o log_file=FILE       log to FILE (default: stderr with -f, syslog otherwise)\n"
           "    -o log_level=LEVEL     error, warn, info or debug (default: info; -d: debug)\n"
           "    -o offline             no network: serve only what the caches hold, read-only\n"
           "                           (default: off; HF_HUB_OFFLINE=1 turns it on)\n"
           "    -o hf_cache=DIR        reuse file content of this Hugging Face hub cache, verified\n"
           "                           by hash (default: $HF_HUB_CACHE, $HF_HOME/hub or\n"
           "                           ~/.cache/huggingface/hub when it exists)\n"
           "    -o no_hf_cache         never read from the Hugging Face cache\n"
           "    -o max_read=N          largest read request in bytes (default: %u)\n"
           "    -o max_threads=N       FUSE worker threads (default: %d)\n"
           "    fstab-only options (_netdev, noauto, nofail, auto, user, users, defaults,\n"
           "    comment=, x-systemd.*) are accepted and ignored.\n"
           "\n"
           "exit codes:\n"
           "    0  mounted and later unmounted cleanly (fusermount3 -u, SIGTERM, SIGINT)\n"
           "    1  usage error or local failure (cache directory, mount)\n"
           "    2  invalid token\n"
           "    3  repository not found or not accessible\n"
           "    4  revision not found\n"
           "    5  Hub unreachable or failing (network, 5xx after retries)\n",
           HM_DEFAULT_CACHE_SIZE, HM_DEFAULT_POLL, HM_DEFAULT_COMMIT_DELAY,
           HM_DEFAULT_COMMIT_WINDOW, HM_DEFAULT_PROGRESS, HM_MAX_READ, HM_DEFAULT_MAX_THREADS);
}

void hm_options_free(struct hm_options *o)
{
    free(o->source);
    free(o->endpoint);
    free(o->token_file);
    free(o->cache_dir);
    free(o->cache_size_str);
    free(o->commit_message);
    free(o->log_file);
    free(o->log_level_str);
    free(o->hf_cache);
    memset(o, 0, sizeof *o);
}
