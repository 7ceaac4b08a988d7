/* fuzz_headers.c — raw response header lines as libcurl hands them over
 * (status lines, ETag, X-Linked-Size, X-Error-*, Link, Location,
 * Content-Range, Retry-After, RateLimit), then the value parsers on what
 * was kept.  Invariants: every field stays NUL-terminated in its array;
 * a parsed Content-Range is ordered; a wait is -1 or 1..86400 s. */
#include "../../hub/http.h"
#include "fuzz.h"

#include <errno.h>

FUZZ_INIT_LOGS()

static void check_range(const char *s)
{
    int64_t st = 0, en = 0, total = 0;
    if (hub_parse_content_range(s, &st, &en, &total) == 0) {
        FUZZ_ASSERT(st >= 0 || (st == -1 && en == -1 && total >= 0));
        FUZZ_ASSERT(st <= en);
        FUZZ_ASSERT(total >= -1);
    }
}

static void check_wait(const char *ra, const char *rl)
{
    long w = hub_retry_after_seconds(ra, rl);
    FUZZ_ASSERT(w == -1 || (w >= 1 && w <= 86400));
}

#define TERMINATED(f) FUZZ_ASSERT(memchr((f), '\0', sizeof(f)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hub_http_resp r;
    memset(&r, 0, sizeof(r));
    hub_http_clear_headers(&r);
    /* one header line per '\n', the '\n' kept as libcurl does */
    size_t pos = 0;
    while (pos < size) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t n = nl ? (size_t)(nl - (data + pos)) + 1 : size - pos;
        /* a copy of exactly n bytes: ASan sees any read past the line */
        char *line = malloc(n ? n : 1);
        if (!line)
            abort();
        memcpy(line, data + pos, n);
        hub_http_header_line(&r, line, n);
        free(line);
        pos += n;
    }
    TERMINATED(r.error_code);
    TERMINATED(r.error_message);
    TERMINATED(r.repo_commit);
    TERMINATED(r.etag);
    TERMINATED(r.linked_etag);
    TERMINATED(r.content_range);
    TERMINATED(r.retry_after);
    TERMINATED(r.ratelimit);
    FUZZ_ASSERT(r.linked_size >= -1);
    for (const char *p = r.error_message; *p; p++)
        FUZZ_ASSERT((unsigned char)*p >= 0x20 && *p != 0x7f);
    check_range(r.content_range);
    check_wait(r.retry_after[0] ? r.retry_after : NULL, r.ratelimit[0] ? r.ratelimit : NULL);
    char *url = NULL;
    if (hub_link_find(r.link, "next", &url) == 0)
        FUZZ_ASSERT(url != NULL);
    free(url);
    (void)hub_http_errno(&r, HUB_REQ_META);

    /* the whole input as one value too */
    char *s = fuzz_strndup(data, size);
    check_range(s);
    check_wait(s, NULL);
    check_wait(NULL, s);
    free(s);
    hub_http_resp_free(&r);
    return 0;
}
