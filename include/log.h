/* log.h — the one logging function of hubmount.
 *
 * Messages go to a replaceable sink: stderr in the foreground, syslog when
 * daemonized, or a file (-o log_file=).  The level is checked before any
 * formatting.  Never pass a token to these functions. */
#ifndef HUBMOUNT_LOG_H
#define HUBMOUNT_LOG_H

enum hm_log_level { HM_LOG_ERROR = 0, HM_LOG_WARN = 1, HM_LOG_INFO = 2, HM_LOG_DEBUG = 3 };

enum hm_log_sink { HM_LOG_STDERR, HM_LOG_SYSLOG, HM_LOG_FILE };

/* Returns 0 or -errno (file could not be opened). */
int hm_log_init(enum hm_log_sink sink, enum hm_log_level level, const char *file_path);
void hm_log_close(void);
int hm_log_enabled(enum hm_log_level level);
void hm_log(enum hm_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define hm_error(...) hm_log(HM_LOG_ERROR, __VA_ARGS__)
#define hm_warn(...) hm_log(HM_LOG_WARN, __VA_ARGS__)
#define hm_info(...) hm_log(HM_LOG_INFO, __VA_ARGS__)
#define hm_debug(...)                                                          \
    do {                                                                       \
        if (hm_log_enabled(HM_LOG_DEBUG))                                      \
            hm_log(HM_LOG_DEBUG, __VA_ARGS__);                                 \
    } while (0)

#endif
