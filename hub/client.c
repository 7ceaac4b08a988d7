/* client.c — lifetime of a hub_client: configuration, the token (kept
 * only as a ready-made header line), the handle pool and the CDN URL
 * cache. */
#include "hub_i.h"
#include "log.h"
#include "url.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_ENDPOINT "https://huggingface.co"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct hub_client *hub_client_new(const struct hub_config *cfg)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        hm_error("hub: libcurl initialisation failed");
        return NULL;
    }
    struct hub_client *hc = calloc(1, sizeof(*hc));
    if (!hc)
        return NULL;
    const char *ep = cfg && cfg->endpoint && *cfg->endpoint ? cfg->endpoint : DEFAULT_ENDPOINT;
    size_t n = strlen(ep);
    while (n > 0 && ep[n - 1] == '/')
        n--;
    hc->endpoint = strndup(ep, n);
    if (!hc->endpoint)
        goto fail;
    if (hub_url_origin(hc->endpoint, hc->origin, sizeof(hc->origin))) {
        hm_error("hub: endpoint is not an http(s) URL");
        goto fail;
    }
    if (cfg && cfg->token && *cfg->token) {
        size_t tl = strlen(cfg->token);
        size_t hl = tl + sizeof("Authorization: Bearer ");
        hc->auth_header = malloc(hl);
        if (!hc->auth_header)
            goto fail;
        snprintf(hc->auth_header, hl, "Authorization: Bearer %s", cfg->token);
    }
    hc->timeout_s = cfg && cfg->timeout_s > 0 ? cfg->timeout_s : 30;
    hc->max_retries = cfg && cfg->max_retries > 0 ? cfg->max_retries : 5;
    hc->offline = cfg && cfg->offline;
    pthread_mutex_init(&hc->pool_lock, NULL);
    pthread_mutex_init(&hc->cdn_lock, NULL);
    return hc;
fail:
    free(hc->endpoint);
    free(hc->auth_header);
    free(hc);
    return NULL;
}

void hub_client_free(struct hub_client *hc)
{
    if (!hc)
        return;
    for (size_t i = 0; i < hc->n_pool; i++)
        curl_easy_cleanup(hc->pool[i]);
    for (size_t i = 0; i < HUB_CDN_CACHE; i++) {
        free(hc->cdn[i].key);
        free(hc->cdn[i].url);
    }
    pthread_mutex_destroy(&hc->pool_lock);
    pthread_mutex_destroy(&hc->cdn_lock);
    if (hc->auth_header) /* do not leave the token in freed memory */
        explicit_bzero(hc->auth_header, strlen(hc->auth_header));
    free(hc->auth_header);
    free(hc->endpoint);
    free(hc);
}

bool hub_client_has_token(const struct hub_client *hc)
{
    return hc && hc->auth_header;
}
