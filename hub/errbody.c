/* errbody.c — the message of a Hub error body (hub-api.md §11.1), used
 * when a response carries no X-Error-Message: for the log line, and for
 * the message checks of hub_errno (quota wording).  The text comes from
 * the server, so it is bounded and stripped of control characters before
 * it can reach a log. */
#include "hub_i.h"

#include <errno.h>
#include <string.h>

/* Copy at most out_size-1 bytes of s[0..n), control characters (and
 * anything after a NUL) replaced, so one message is one log line. */
static void copy_clean(char *out, size_t out_size, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < out_size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\0')
            break;
        out[k++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    /* trim trailing blanks, so a message ending in "\n" does not end in ' ' */
    while (k > 0 && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

static const char *json_text(const json_t *v, size_t *n)
{
    if (!json_is_string(v))
        return NULL;
    *n = json_string_length(v);
    return json_string_value(v);
}

/* First string among: v itself, v[0], v[0].message. */
static const char *first_text(const json_t *v, size_t *n)
{
    const char *s = json_text(v, n);
    if (s || !json_is_array(v) || json_array_size(v) == 0)
        return s;
    const json_t *e = json_array_get(v, 0);
    s = json_text(e, n);
    return s ? s : json_text(json_object_get(e, "message"), n);
}

static bool looks_like_html(const char *b, size_t len)
{
    size_t i = 0;
    while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    return i < len && b[i] == '<';
}

int hub_error_body_message(const char *body, size_t len, char *out, size_t out_size)
{
    if (!out || out_size == 0)
        return -EINVAL;
    out[0] = '\0';
    if (!body || len == 0)
        return -ENOENT;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (root) {
        size_t n = 0;
        const char *s = NULL;
        if (json_is_object(root)) {
            const json_t *err = json_object_get(root, "error");
            /* OAuth shape: "error" is a code, the sentence is the description */
            s = json_text(json_object_get(root, "error_description"), &n);
            if (!s)
                s = first_text(err, &n);
            if (!s)
                s = first_text(json_object_get(root, "errors"), &n);
            if (!s)
                s = json_text(json_object_get(root, "message"), &n);
        }
        if (s)
            copy_clean(out, out_size, s, n);
        json_decref(root);
        return out[0] ? 0 : -ENOENT;
    }
    if (looks_like_html(body, len))
        return -ENOENT; /* a proxy's error page says nothing useful */
    const char *nl = memchr(body, '\n', len);
    copy_clean(out, out_size, body, nl ? (size_t)(nl - body) : len);
    return out[0] ? 0 : -ENOENT;
}
