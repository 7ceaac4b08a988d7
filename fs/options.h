/* options.h — the command line of hubmount: one struct, one fuse_opt table.
 *
 * hm_options_parse() consumes hubmount's own -o options and the SOURCE
 * argument, drops fstab-only noise (_netdev, noauto, x-systemd.*, ...) and
 * leaves libfuse's options (and the mount point) in `args` for
 * fuse_parse_cmdline() / fuse_session_new(). */
#ifndef HUBMOUNT_FS_OPTIONS_H
#define HUBMOUNT_FS_OPTIONS_H

#include "fuse_ll.h"

#include <stdbool.h>
#include <stdint.h>

/* Process exit codes (also listed by --help). */
enum hm_exit {
    HM_EXIT_OK = 0,
    HM_EXIT_USAGE = 1,        /* bad arguments, local errors (cache dir, mount) */
    HM_EXIT_BAD_TOKEN = 2,    /* the Hub rejected the token */
    HM_EXIT_NO_REPO = 3,      /* repository not found or not accessible */
    HM_EXIT_NO_REVISION = 4,  /* revision not found */
    HM_EXIT_NETWORK = 5,      /* Hub unreachable / server errors after retries */
};

struct hm_options {
    char *source;         /* positional SOURCE */
    char *endpoint;       /* -o endpoint= (else HF_ENDPOINT, else huggingface.co) */
    char *token_file;     /* -o token_file= */
    char *cache_dir;      /* -o cache_dir= (absolute after hm_options_finish) */
    char *cache_size_str; /* -o cache_size= as given */
    uint64_t cache_size;  /* bytes */
    int poll;             /* seconds between branch-head probes, 0 = off */
    int ro;               /* -o ro */
    int commit_delay;     /* quiet seconds before a batched commit */
    int commit_window;    /* longest wait before a commit, seconds */
    char *commit_message; /* summary of batched commits, NULL = default */
    int progress;         /* seconds between upload progress log lines, 0 = none */
    char *log_file;       /* -o log_file= */
    char *log_level_str;  /* -o log_level= as given */
    int log_level;        /* enum hm_log_level after hm_options_finish */
    int offline;          /* serve from the caches only (-o offline, HF_HUB_OFFLINE=1) */
    char *hf_cache;       /* -o hf_cache=DIR: the Hugging Face hub cache to reuse */
    int no_hf_cache;      /* -o no_hf_cache */
    int durable_close;    /* -o durable_close: fsync staging + journal at every close */
    bool max_read_given;    /* user passed max_read= (else we pass 1 MiB) */
    unsigned max_read;      /* what the kernel is told (init must repeat it) */
    bool max_threads_given; /* user passed max_threads= (else HM_DEFAULT_MAX_THREADS) */
};

#define HM_DEFAULT_CACHE_SIZE "10G"
#define HM_DEFAULT_POLL 30
#define HM_DEFAULT_COMMIT_DELAY 5
#define HM_DEFAULT_COMMIT_WINDOW 60
#define HM_DEFAULT_PROGRESS 10
#define HM_DEFAULT_MAX_THREADS 64
#define HM_MAX_READ (1024u * 1024u)

/* Parses and removes hubmount's options from args.  Prints one line to
 * stderr and returns -EINVAL on a bad value. */
int hm_options_parse(struct fuse_args *args, struct hm_options *o)
    __attribute__((warn_unused_result));
/* Defaults that depend on the environment (cache dir, HF_HUB_OFFLINE, the
 * Hugging Face cache) and value checks; after it cache_dir is absolute,
 * cache_size and log_level set, and hf_cache is the folder to reuse or
 * NULL.  `debug` is -d (log level debug unless log_level= says more). */
int hm_options_finish(struct hm_options *o) __attribute__((warn_unused_result));
/* hubmount's option list with defaults and the exit codes (after libfuse's). */
void hm_options_help(void);
/* "10G" -> bytes; K/M/G/T suffixes (powers of 1024). -EINVAL on garbage. */
int hm_parse_size(const char *text, uint64_t *out) __attribute__((warn_unused_result));
void hm_options_free(struct hm_options *o);

#endif
