/* buf.h — a growable byte buffer with a hard size cap (hub-internal).
 *
 * Every response body, URL and JSON document the Hub client builds lives
 * in one of these, so no buffer can grow without bound: appending past
 * `max` fails with -EFBIG instead. */
#ifndef HUBMOUNT_HUB_BUF_H
#define HUBMOUNT_HUB_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct hub_buf {
    char *p;    /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* 0 = default (64 MiB) */
};

#define HUB_BUF_INIT(maxbytes) {NULL, 0, 0, (maxbytes)}

int hub_buf_append(struct hub_buf *b, const void *data, size_t n)
    __attribute__((warn_unused_result));
int hub_buf_puts(struct hub_buf *b, const char *s) __attribute__((warn_unused_result));
int hub_buf_printf(struct hub_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), warn_unused_result));
/* Append s percent-encoded (everything but unreserved characters). */
int hub_buf_escape(struct hub_buf *b, const char *s) __attribute__((warn_unused_result));
void hub_buf_reset(struct hub_buf *b); /* len = 0, keeps memory */
void hub_buf_free(struct hub_buf *b);
/* Hands the string to the caller (never NULL on success: "" if empty). */
char *hub_buf_steal(struct hub_buf *b);

#endif
