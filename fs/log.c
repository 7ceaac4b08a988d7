/* log.c — the one logging sink (see include/log.h).
 * A mutex keeps lines from interleaving when FUSE workers log at once. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static enum hm_log_sink log_sink = HM_LOG_STDERR;
static enum hm_log_level log_level = HM_LOG_INFO;
static FILE *log_file;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER; /* guards log_file writes */

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int hm_log_init(enum hm_log_sink sink, enum hm_log_level level, const char *file_path)
{
    hm_log_close();
    log_level = level;
    log_sink = sink;
    if (sink == HM_LOG_FILE) {
        log_file = fopen(file_path, "ae");
        if (!log_file) {
            int err = errno;
            log_sink = HM_LOG_STDERR;
            return -err;
        }
        setvbuf(log_file, NULL, _IOLBF, 0);
    } else if (sink == HM_LOG_SYSLOG) {
        openlog("hubmount", LOG_PID, LOG_DAEMON);
    }
    return 0;
}

void hm_log_close(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_file)
        fclose(log_file);
    log_file = NULL;
    if (log_sink == HM_LOG_SYSLOG)
        closelog();
    log_sink = HM_LOG_STDERR;
    pthread_mutex_unlock(&log_lock);
}

int hm_log_enabled(enum hm_log_level level)
{
    return level <= log_level;
}

void hm_log(enum hm_log_level level, const char *fmt, ...)
{
    if (!hm_log_enabled(level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Messages carry names chosen by the server (paths, error texts): a
     * newline in one must not start a forged log line. */
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';

    if (log_sink == HM_LOG_SYSLOG) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[level], "%s", msg);
        return;
    }
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);

    pthread_mutex_lock(&log_lock);
    FILE *out = log_sink == HM_LOG_FILE && log_file ? log_file : stderr;
    fprintf(out, "%s.%03ld hubmount %s: %s\n", stamp, ts.tv_nsec / 1000000L,
            level_names[level], msg);
    pthread_mutex_unlock(&log_lock);
}
