/* progress.c — upload progress of hub_commit (see struct hub_progress in
 * hub.h): which progress a thread reports into, and the periodic log line.
 * The counters are atomics because up to 4 upload threads add to them
 * while `hubmount status` reads them. */
#include "commit_i.h"
#include "http.h"
#include "log.h"

#include <time.h>

static _Thread_local struct hub_progress *bound;

void hub_progress_bind(struct hub_progress *p)
{
    bound = p;
}

struct hub_progress *hub_progress_bound(void)
{
    return bound;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mib(uint64_t b)
{
    return (double)b / (1024.0 * 1024.0);
}

static void log_line(struct hub_progress *p, const char *what)
{
    uint64_t total = atomic_load(&p->total), sent = atomic_load(&p->sent);
    if (sent > total)
        sent = total;
    double secs = (double)(now_ms() - p->start_ms) / 1000.0;
    hm_info("upload %s: %.1f of %.1f MiB (%d%%), %u of %u file(s), %.1f MiB/s", what, mib(sent),
            mib(total), total ? (int)(sent * 100 / total) : 100, atomic_load(&p->files_done),
            atomic_load(&p->files), secs > 0 ? mib(sent) / secs : 0.0);
}

void hub_progress_begin(struct hub_progress *p, unsigned files, uint64_t total)
{
    if (!p)
        return;
    atomic_store(&p->sent, 0);
    atomic_store(&p->files_done, 0);
    atomic_store(&p->files, files);
    p->start_ms = now_ms();
    atomic_store(&p->last_log_ms, p->start_ms);
    atomic_store(&p->total, total);
}

void hub_progress_file_done(struct hub_progress *p)
{
    if (p)
        atomic_fetch_add(&p->files_done, 1);
}

void hub_progress_end(struct hub_progress *p, int rc)
{
    if (!p)
        return;
    /* a closing line only for uploads long enough to have had progress lines */
    if (rc == 0 && p->interval_s && now_ms() - p->start_ms >= (int64_t)p->interval_s * 1000)
        log_line(p, "done");
    atomic_store(&p->total, 0);
}

void hub_progress_tick(struct hub_progress *p)
{
    if (!p || !p->interval_s)
        return;
    int64_t now = now_ms(), last = atomic_load(&p->last_log_ms);
    if (now - last < (int64_t)p->interval_s * 1000)
        return;
    /* one thread of the upload pool logs; the others see the new time */
    if (atomic_compare_exchange_strong(&p->last_log_ms, &last, now))
        log_line(p, "progress");
}
