/* fuzz_url.h — the URL invariants shared by fuzz_source and fuzz_url:
 * whatever names go into a Hub URL, the URL keeps the endpoint's origin
 * (the token is sent by origin), and libcurl does not rewrite its path
 * (a "." or ".." segment would be resolved away, moving the request to
 * another repo or API route of the same origin, token included). */
#ifndef HUBMOUNT_FUZZ_URL_H
#define HUBMOUNT_FUZZ_URL_H

#include "../../hub/url.h"
#include "fuzz.h"

#include <curl/curl.h>

static const char *const fuzz_endpoints[] = {"https://huggingface.co", "http://127.0.0.1:8080/"};

/* b holds a URL built from endpoint `ep`: check the invariants above. */
static inline void fuzz_check_url(const struct hub_buf *b, const char *ep)
{
    char want[300], got[300];
    FUZZ_ASSERT(hub_url_origin(ep, want, sizeof(want)) == 0);
    FUZZ_ASSERT(b->p != NULL);
    FUZZ_ASSERT(strlen(b->p) == b->len);
    FUZZ_ASSERT(hub_url_origin(b->p, got, sizeof(got)) == 0);
    FUZZ_ASSERT(strcmp(want, got) == 0);
    /* the path libcurl will request is the path we built */
    CURLU *u = curl_url();
    char *path = NULL;
    FUZZ_ASSERT(u && curl_url_set(u, CURLUPART_URL, b->p, 0) == CURLUE_OK);
    FUZZ_ASSERT(curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK);
    const char *built = strstr(b->p, "://");
    built = strchr(built + 3, '/');
    size_t bl = strcspn(built, "?");
    if (strlen(path) != bl || strncmp(path, built, bl) != 0) {
        fprintf(stderr, "built %.*s\ncurl  %s\n", (int)bl, built, path);
        FUZZ_ASSERT(!"libcurl rewrote the path of a built URL");
    }
    curl_free(path);
    curl_url_cleanup(u);
}

/* Build every kind of URL for src/rev/path from each endpoint; a builder
 * may refuse (negative errno) but what it builds must pass the checks. */
static inline void fuzz_build_all(const struct hub_source *src, const char *rev,
                                  const char *path)
{
    for (size_t i = 0; i < sizeof(fuzz_endpoints) / sizeof(fuzz_endpoints[0]); i++) {
        const char *ep = fuzz_endpoints[i];
        struct hub_buf b = HUB_BUF_INIT(1 << 16);
#define TRY(call)                                                                          \
    do {                                                                                   \
        hub_buf_reset(&b);                                                                 \
        int rc_ = (call);                                                                  \
        FUZZ_ASSERT(rc_ <= 0);                                                             \
        if (rc_ == 0)                                                                      \
            fuzz_check_url(&b, ep);                                                        \
    } while (0)
        TRY(hub_url_whoami(&b, ep));
        TRY(hub_url_repo_info(&b, ep, src, rev));
        TRY(hub_url_tree(&b, ep, src, rev, path, false));
        TRY(hub_url_tree(&b, ep, src, rev, NULL, true));
        TRY(hub_url_api_rev(&b, ep, src, "paths-info", rev));
        TRY(hub_url_api_rev(&b, ep, src, "commit", rev));
        TRY(hub_url_resolve(&b, ep, src, rev, path));
        TRY(hub_url_lfs_batch(&b, ep, src));
#undef TRY
        hub_buf_free(&b);
    }
}

#endif
