/* token.c — find the user's Hub token the way huggingface_hub does
 * (minus OIDC/Colab), so a logged-in user needs no option at all.
 * Order: HF_TOKEN -> token_file option -> HUGGING_FACE_HUB_TOKEN ->
 * $HF_TOKEN_PATH -> $HF_HOME/token -> $XDG_CACHE_HOME/huggingface/token ->
 * ~/.cache/huggingface/token.  The token is never logged. */
#include "hub.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOKEN_FILE_MAX 4096

/* Remove CR/LF anywhere, strip surrounding blanks; a token with anything
 * but printable non-space ASCII left is refused (it goes into a header). */
static char *clean_token(const char *raw, size_t n)
{
    char *t = malloc(n + 1);
    if (!t)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (raw[i] != '\r' && raw[i] != '\n')
            t[j++] = raw[i];
    t[j] = '\0';
    size_t s = 0;
    while (t[s] == ' ' || t[s] == '\t')
        s++;
    while (j > s && (t[j - 1] == ' ' || t[j - 1] == '\t'))
        j--;
    memmove(t, t + s, j - s);
    t[j - s] = '\0';
    bool ok = t[0] != '\0';
    for (char *p = t; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            ok = false;
    if (!ok) {
        free(t);
        return NULL;
    }
    return t;
}

static char *from_env(const char *var)
{
    const char *v = getenv(var);
    return v ? clean_token(v, strlen(v)) : NULL;
}

static char *from_file(const char *path)
{
    char buf[TOKEN_FILE_MAX];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t n = 0;
    while (n < sizeof(buf)) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n == sizeof(buf)) {
        hm_warn("token file %s is too large, ignored", path);
        return NULL;
    }
    return clean_token(buf, n);
}

/* Expand a leading "~/" as huggingface_hub does for these variables. */
static char *from_path(const char *path, const char *suffix)
{
    char full[4096];
    const char *home = getenv("HOME");
    int n;
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0') && home)
        n = snprintf(full, sizeof(full), "%s%s%s", home, path + 1, suffix);
    else
        n = snprintf(full, sizeof(full), "%s%s", path, suffix);
    if (n < 0 || (size_t)n >= sizeof(full))
        return NULL;
    return from_file(full);
}

static char *from_env_path(const char *var, const char *suffix)
{
    const char *v = getenv(var);
    return v && *v ? from_path(v, suffix) : NULL;
}

char *hub_token_discover(const char *token_file_option)
{
    char *t;
    if ((t = from_env("HF_TOKEN")))
        return t;
    if (token_file_option && *token_file_option) {
        if ((t = from_path(token_file_option, "")))
            return t;
        hm_warn("token_file %s is unreadable or empty", token_file_option);
    }
    if ((t = from_env("HUGGING_FACE_HUB_TOKEN")))
        return t;
    if ((t = from_env_path("HF_TOKEN_PATH", "")))
        return t;
    if ((t = from_env_path("HF_HOME", "/token")))
        return t;
    if ((t = from_env_path("XDG_CACHE_HOME", "/huggingface/token")))
        return t;
    const char *home = getenv("HOME");
    if (home && *home)
        return from_path(home, "/.cache/huggingface/token");
    return NULL;
}
