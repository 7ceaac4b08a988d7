/* hex.c — validation of the hex ids a server sends (commit shas, git
 * oids, LFS sha256).  They become cache keys, file names and URL parts,
 * so anything but exactly the expected number of hex digits is refused. */
#include "hub_i.h"

#include <errno.h>

int hub_hex_copy(char *dst, const char *s, size_t n, size_t want)
{
    dst[0] = '\0';
    if (!s || n != want)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return -EINVAL;
        dst[i] = c;
    }
    dst[n] = '\0';
    return 0;
}
