/* tap.h — a minimal TAP producer for the C unit tests.
 * Each CHECK prints "ok N - expr" or "not ok N - expr (file:line)";
 * tap_done() prints the plan and returns the exit status. */
#ifndef HUBMOUNT_TAP_H
#define HUBMOUNT_TAP_H
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define CHECK(expr)                                                            \
    do {                                                                       \
        int ok_ = (expr) ? 1 : 0;                                              \
        tap_n++;                                                               \
        if (!ok_)                                                              \
            tap_failed++;                                                      \
        printf("%sok %d - %s%s%s:%d\n", ok_ ? "" : "not ", tap_n, #expr,     \
               ok_ ? " # " : " # FAILED at ", __FILE__, __LINE__);             \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *a_ = (a), *b_ = (b);                                       \
        int ok_ = a_ && b_ && strcmp(a_, b_) == 0;                             \
        tap_n++;                                                               \
        if (!ok_) {                                                            \
            tap_failed++;                                                      \
            printf("not ok %d - %s == %s (got \"%s\", want \"%s\") # %s:%d\n", \
                   tap_n, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)",     \
                   __FILE__, __LINE__);                                        \
        } else {                                                               \
            printf("ok %d - %s == %s\n", tap_n, #a, #b);                       \
        }                                                                      \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}
#endif
