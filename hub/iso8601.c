/* iso8601.c — Hub dates ("2024-05-01T12:34:56.000Z") to unix seconds. */
#include "hub_i.h"

#include <errno.h>
#include <string.h>

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (no timegm: it
 * depends on nothing but arithmetic and cannot overflow here). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int hub_parse_iso8601(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec = 0;
    if (!s || strlen(s) < 16)
        return -EINVAL;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi))
        return -EINVAL;
    const char *p = s + 16;
    if (*p == ':') {
        if (digits(p + 1, 2, &sec))
            return -EINVAL;
        p += 3;
        if (*p == '.' || *p == ',') {
            p++;
            if (*p < '0' || *p > '9')
                return -EINVAL;
            while (*p >= '0' && *p <= '9')
                p++;
        }
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om = 0;
        int sign = *p == '-' ? -1 : 1;
        if (digits(p + 1, 2, &oh))
            return -EINVAL;
        p += 3;
        if (*p == ':')
            p++;
        if (*p) {
            if (digits(p, 2, &om))
                return -EINVAL;
            p += 2;
        }
        if (oh > 23 || om > 59)
            return -EINVAL;
        off = sign * (oh * 3600 + om * 60);
    } else if (*p) {
        return -EINVAL;
    }
    if (*p)
        return -EINVAL;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    return 0;
}
