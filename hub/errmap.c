/* errmap.c — THE mapping from Hub responses to errno (hub-api.md §14).
 * Every other module turns remote failures into errno through here, so
 * a change of policy is one edit. */
#include "hub.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static bool code_is(const char *code, const char *want)
{
    return code && strcmp(code, want) == 0;
}

static bool msg_has(const char *msg, const char *needle)
{
    return msg && strcasestr(msg, needle) != NULL;
}

int hub_errno(long status, const char *error_code, const char *error_message,
              enum hub_req_kind kind, bool token_sent)
{
    if (status == 0) { /* transport failure: the caller names the cause */
        if (code_is(error_code, "timeout"))
            return ETIMEDOUT;
        if (code_is(error_code, "offline"))
            return ENETDOWN;
        return EIO;
    }
    if (status >= 200 && status < 400)
        return 0;

    switch (status) {
    case 400:
        return EINVAL;
    case 401:
        /* With a token, 401 can only mean the token itself is bad (a valid
         * token gets 404 for invisible repos). */
        if (token_sent || code_is(error_code, "GatedRepo"))
            return EACCES;
        /* Anonymous: the Hub hides whether the repo exists. Lookups say
         * "no such file"; content of a repo we could list, and writes,
         * need authentication. */
        if (kind == HUB_REQ_META)
            return ENOENT;
        return EACCES;
    case 402:
        return ENOSPC;
    case 403:
        if (msg_has(error_message, "quota") || msg_has(error_message, "storage limit"))
            return ENOSPC;
        return EACCES; /* gated, disabled, read-only token/role, revoked */
    case 404:
    case 410:
        return ENOENT;
    case 409:
        return kind == HUB_REQ_CREATE ? EEXIST : EAGAIN;
    case 412:
        return ESTALE;
    case 413:
        return EFBIG;
    case 416: /* the caller returns EOF itself when offset >= size */
        return EIO;
    case 422:
        return EINVAL;
    case 429:
        return EAGAIN;
    default:
        return EIO; /* 408, 5xx after retries, anything unexpected */
    }
}
