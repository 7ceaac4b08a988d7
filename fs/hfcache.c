/* hfcache.c — serving content from the standard Hugging Face cache (see
 * hfcache.h): locating blobs/<key>, verifying it, remembering verdicts. */
#include "hfcache.h"

#include "../cache/content_hash.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HF_MEMO 1024                 /* verdicts remembered (a ring) */

/* One verdict; a blob that changed on disk has another identity. */
struct hf_verdict {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    bool good;
};

struct hfcache {
    char *dir;
    pthread_mutex_t mu; /* protects memo, n_memo, next */
    struct hf_verdict memo[HF_MEMO];
    size_t n_memo, next;
};

int hfcache_new(const char *hub_dir, struct hfcache **out)
{
    struct hfcache *hc = calloc(1, sizeof(*hc));
    if (!hc)
        return -ENOMEM;
    hc->dir = strdup(hub_dir);
    if (!hc->dir) {
        free(hc);
        return -ENOMEM;
    }
    pthread_mutex_init(&hc->mu, NULL);
    *out = hc;
    return 0;
}

void hfcache_free(struct hfcache *hc)
{
    if (!hc)
        return;
    pthread_mutex_destroy(&hc->mu);
    free(hc->dir);
    free(hc);
}

static int join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s%s", a, b);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int hfcache_default_dir(char *out, size_t cap)
{
    const char *v;
    if ((v = getenv("HF_HUB_CACHE")) && *v)
        return join(out, cap, v, "");
    if ((v = getenv("HUGGINGFACE_HUB_CACHE")) && *v) /* the older name */
        return join(out, cap, v, "");
    if ((v = getenv("HF_HOME")) && *v)
        return join(out, cap, v, "/hub");
    if ((v = getenv("XDG_CACHE_HOME")) && *v)
        return join(out, cap, v, "/huggingface/hub");
    if ((v = getenv("HOME")) && *v)
        return join(out, cap, v, "/.cache/huggingface/hub");
    return -ENOENT;
}

int hfcache_repo_folder(enum hub_repo_type type, const char *repo_id, char *out, size_t cap)
{
    const char *t = type == HUB_REPO_DATASET ? "datasets" : type == HUB_REPO_SPACE ? "spaces"
                                                                                 : "models";
    size_t n = (size_t)snprintf(out, cap, "%s--", t);
    if (n >= cap)
        return -ENAMETOOLONG;
    for (const char *s = repo_id; *s; s++) {
        const char *piece = *s == '/' ? "--" : NULL;
        size_t len = piece ? 2 : 1;
        if (n + len >= cap)
            return -ENAMETOOLONG;
        if (piece)
            memcpy(out + n, piece, 2);
        else
            out[n] = *s;
        n += len;
    }
    out[n] = '\0';
    return 0;
}

static bool same_file(const struct hf_verdict *v, const struct stat *st)
{
    return v->dev == st->st_dev && v->ino == st->st_ino && v->size == st->st_size &&
           v->mtime.tv_sec == st->st_mtim.tv_sec && v->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           v->ctime.tv_sec == st->st_ctim.tv_sec && v->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* 1 good, 0 bad, -1 unknown. */
static int memo_get(struct hfcache *hc, const struct stat *st)
{
    int res = -1;
    pthread_mutex_lock(&hc->mu);
    for (size_t i = 0; i < hc->n_memo; i++) {
        if (same_file(&hc->memo[i], st)) {
            res = hc->memo[i].good ? 1 : 0;
            break;
        }
    }
    pthread_mutex_unlock(&hc->mu);
    return res;
}

static void memo_put(struct hfcache *hc, const struct stat *st, bool good)
{
    struct hf_verdict v = {.dev = st->st_dev, .ino = st->st_ino, .size = st->st_size,
                           .mtime = st->st_mtim, .ctime = st->st_ctim, .good = good};
    pthread_mutex_lock(&hc->mu);
    hc->memo[hc->next] = v;
    hc->next = (hc->next + 1) % HF_MEMO;
    if (hc->n_memo < HF_MEMO)
        hc->n_memo++;
    pthread_mutex_unlock(&hc->mu);
}

/* Does the whole file hash to key?  1 yes, 0 no (also when the file is
 * shorter than size: it shrank under us), -errno on a read error. */
static int hash_matches(int fd, uint64_t size, enum blocks_hash kind, const char *key)
{
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    bool short_file = false;
    int rc = content_hash_fd(fd, size, kind, hex, sizeof(hex), &short_file);
    if (rc || short_file)
        return rc;
    return strcmp(hex, key) == 0 ? 1 : 0;
}

int hfcache_open(struct hfcache *hc, enum hub_repo_type type, const char *repo_id,
                 const char *key, enum blocks_hash kind, uint64_t size)
{
    char folder[600], path[PATH_MAX];
    if (!hc || !key || !*key || strchr(key, '/'))
        return -ENOENT;
    int rc = hfcache_repo_folder(type, repo_id, folder, sizeof(folder));
    if (rc)
        return rc;
    int n = snprintf(path, sizeof(path), "%s/%s/blobs/%s", hc->dir, folder, key);
    if (n < 0 || (size_t)n >= sizeof(path))
        return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -ENOENT;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
        close(fd);
        return -ENOENT;
    }
    int known = memo_get(hc, &st);
    if (known < 0) {
        int m = hash_matches(fd, size, kind, key);
        if (m < 0) { /* unreadable now: maybe later */
            close(fd);
            return -ENOENT;
        }
        known = m;
        memo_put(hc, &st, m == 1);
        if (m == 1)
            hm_debug("hf cache: serving %s from %s", key, path);
        else
            hm_warn("hf cache: %s does not match its name; downloading instead", path);
    }
    if (known != 1) {
        close(fd);
        return -ENOENT;
    }
    return fd;
}
