/* http.h — one HTTP exchange with the Hub or its CDN (hub-internal).
 *
 * Owns the policies every request shares: pooled curl handles (kept
 * connections), timeouts, retries with backoff for transient failures of
 * idempotent requests, manual redirects that drop Authorization whenever
 * the origin changes, http/https only, capped response bodies. */
#ifndef HUBMOUNT_HUB_HTTP_H
#define HUBMOUNT_HUB_HTTP_H

#include "hub_i.h"

struct hub_http_resp;
/* Streams a 2xx body somewhere else than the buffer; resp already holds
 * the status and headers.  Returns 0 to go on, 1 for "I have all I need"
 * (transfer stops; still a success), or -errno. */
typedef int (*hub_sink_fn)(void *ctx, const struct hub_http_resp *resp, const char *data,
                           size_t n);
/* Called before each attempt so a retry starts the sink over. */
typedef void (*hub_sink_reset_fn)(void *ctx);

struct hub_http_req {
    const char *method;       /* NULL = "GET"; "HEAD", "POST", "PUT" */
    const char *url;
    const char *content_type; /* of the request body */
    const char *accept;
    const char *range;        /* e.g. "bytes=0-99" */
    bool auth;                /* send the token (only ever to the endpoint's origin) */
    bool retry;               /* idempotent: transient failures are retried */
    bool follow;              /* follow redirects (manually, see http.c) */
    bool long_transfer;       /* large body: low-speed limit instead of total timeout */
    enum hub_req_kind kind;   /* for errno of transport failures */
    /* request body: memory ... */
    const void *body;
    size_t body_len;
    /* ... or a region of an open file (body_fd_set) */
    bool body_fd_set;
    int body_fd;
    uint64_t body_off, body_fd_len;
    size_t max_response;      /* cap of the buffered body; 0 = 16 MiB */
    hub_sink_fn sink;
    hub_sink_reset_fn sink_reset;
    void *sink_ctx;
    struct hub_progress *progress; /* body bytes are counted here (uploads); may be NULL */
};

struct hub_http_resp {
    long status;       /* final status */
    struct hub_buf body;
    bool token_sent;   /* the request that got this answer carried the token */
    bool sink_done;
    char error_code[64];
    char error_message[512];
    char repo_commit[HUB_SHA1_HEX];
    char etag[160];
    char linked_etag[160];
    int64_t linked_size; /* -1: absent */
    char content_range[96];
    char retry_after[32];
    char ratelimit[128];
    char *link;     /* every Link value, comma-joined; NULL if none */
    char *location; /* Location of the final response */
    char *url;      /* URL the final response came from */
};

/* 0 when an HTTP response was received (whatever its status; see
 * hub_http_errno), or -errno when none was (transport failure after
 * retries, offline mode, body over the cap, sink error).
 * resp must be freed with hub_http_resp_free in every case. */
int hub_http_do(struct hub_client *hc, const struct hub_http_req *req,
                struct hub_http_resp *resp) __attribute__((warn_unused_result));
/* Parse one raw header line ("Name: value\r\n", or a status line, which
 * starts the header fields over) into resp.  Never fails: malformed or
 * oversized values are truncated or ignored. */
void hub_http_header_line(struct hub_http_resp *resp, const char *line, size_t n);
/* Reset every header-derived field (frees link and location). */
void hub_http_clear_headers(struct hub_http_resp *resp);

/* Called as upload bytes are counted: logs a progress line when the
 * progress's interval has passed since the last one (commit_lfs.c). */
void hub_progress_tick(struct hub_progress *p);

/* 0 for 2xx/3xx, else -hub_errno(status, X-Error-Code, X-Error-Message...) */
int hub_http_errno(const struct hub_http_resp *resp, enum hub_req_kind kind);
void hub_http_resp_free(struct hub_http_resp *resp);

/* Parse the response body as JSON (NULL on garbage). */
json_t *hub_http_json(const struct hub_http_resp *resp);

#endif
