/* fuzz.h — helpers shared by the libFuzzer targets of tests/fuzz.
 *
 * Every target feeds bytes a hostile or broken server could send to one
 * parser of hub/, then checks the invariants the rest of hubmount relies
 * on (ids are hex, paths stay relative, the token's origin never
 * changes...).  A broken invariant aborts, which libFuzzer reports like
 * a crash. */
#ifndef HUBMOUNT_FUZZ_H
#define HUBMOUNT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Logging stays on (debug level, into /dev/null) so that every log call
 * that formats server data is exercised too. */
#define FUZZ_INIT_LOGS()                                                                   \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                                      \
    {                                                                                      \
        (void)argc;                                                                        \
        (void)argv;                                                                        \
        if (hm_log_init(HM_LOG_FILE, HM_LOG_DEBUG, "/dev/null"))                           \
            hm_log_init(HM_LOG_STDERR, HM_LOG_ERROR, NULL);                                \
        return 0;                                                                          \
    }

#define FUZZ_ASSERT(cond)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz invariant broken: %s (%s:%d)\n", #cond, __FILE__,        \
                    __LINE__);                                                             \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* A NUL-terminated copy of data[0..n) (stops at an embedded NUL, as a C
 * string would).  Never NULL: aborts when out of memory. */
static inline char *fuzz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    if (n)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* Splits the input at its first '\n': *head gets a string copy of the part
 * before it ("" if there is none), *rest / *rest_n point at what follows
 * (the whole input if there is no '\n'). */
static inline char *fuzz_split(const uint8_t *data, size_t size, const uint8_t **rest,
                               size_t *rest_n)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl) {
        *rest = data;
        *rest_n = size;
        return fuzz_strndup(data, 0);
    }
    *rest = nl + 1;
    *rest_n = size - (size_t)(nl - data) - 1;
    return fuzz_strndup(data, (size_t)(nl - data));
}

static inline int fuzz_is_hex(const char *s, size_t want)
{
    size_t n = strlen(s);
    if (n != want)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

#endif
