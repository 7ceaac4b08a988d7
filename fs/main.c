/* main.c — hubmount SOURCE MOUNTPOINT [-o options]
 *
 * Order matters: everything that can fail because of the user's input or
 * the Hub (options, cache dir, token, repo, revision) is checked while we
 * are still attached to the terminal, so the user sees one clear line and
 * an exit code; only then do we mount, daemonize and start threads (fork
 * in fuse_daemonize would lose them).  Cleanup unwinds through numbered
 * labels in reverse order of setup. */
#include "cli.h"
#include "fuse_ll.h"
#include "log.h"
#include "mount_state.h"
#include "namespace.h"
#include "noise.h"
#include "ops.h"
#include "options.h"
#include "ops_write.h"
#include "reader.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s SOURCE MOUNTPOINT [options]\n"
            "\n"
            "Mount a Hugging Face Hub repository as a directory.\n"
            "SOURCE is [datasets/|spaces/]namespace/name[@revision]; the revision is a\n"
            "branch (default main), a tag, a full or short commit sha, or refs/pr/N.\n"
            "Tag and commit mounts are read-only; branch mounts follow the branch.\n"
            "SOURCE may also be a namespace (acme: models/, datasets/, spaces/ list its\n"
            "repos) or hub (models/NAMESPACE/REPO for any namespace); a directory\n"
            "REPO@REV (REV percent-encoded, e.g. REPO@refs%%2Fpr%%2F1) is that revision.\n"
            "\n"
            "       %s status [--json] MOUNTPOINT   pending changes, uploads, last commit,\n"
            "                                        last error (--json: one JSON object)\n"
            "       %s sync MOUNTPOINT     commit pending changes now (exit 1 on failure)\n"
            "\n",
            prog, prog, prog);
}

/* fsname shown by mount(8)/df: "hubmount:SOURCE" with fuse_opt's escapes. */
static int add_fsname(struct fuse_args *args, const char *source)
{
    char buf[600];
    size_t n = 0;
    const char *pre = "-ofsname=hubmount:";
    size_t plen = strlen(pre);
    if (plen >= sizeof buf)
        return -1;
    memcpy(buf, pre, plen);
    n = plen;
    for (const char *s = source; *s; s++) {
        if (n + 3 >= sizeof buf)
            return 0; /* absurdly long: keep libfuse's default name */
        if (*s == ',' || *s == '\\')
            buf[n++] = '\\';
        buf[n++] = *s;
    }
    buf[n] = '\0';
    return fuse_opt_add_arg(args, buf);
}

int main(int argc, char *argv[])
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_cmdline_opts cmd;
    struct hm_options opt;
    struct mount_state ms;
    struct fuse_lowlevel_ops ops;
    struct fuse_session *se = NULL;
    struct fuse_loop_config *loop = NULL;
    int exit_code = HM_EXIT_USAGE;

    /* hubmount status|sync MOUNTPOINT: ask a running mount (fs/cli.c) */
    if (hm_cli_command(argc, argv))
        return hm_cli(argc, argv);
    memset(&cmd, 0, sizeof cmd);
    memset(&ops, 0, sizeof ops);
    ms_init(&ms);
    if (hm_options_parse(&args, &opt) < 0)
        goto out1;
    if (fuse_parse_cmdline(&args, &cmd) != 0)
        goto out1;
    if (cmd.show_help) {
        usage(stdout, argv[0]);
        printf("FUSE options:\n");
        fuse_cmdline_help();
        fuse_lowlevel_help();
        printf("\n");
        hm_options_help();
        exit_code = HM_EXIT_OK;
        goto out1;
    }
    if (cmd.show_version) {
        printf("hubmount %s\n", HUBMOUNT_VERSION);
        printf("libfuse %s\n", fuse_pkgversion());
        fuse_lowlevel_version();
        exit_code = HM_EXIT_OK;
        goto out1;
    }
    if (!opt.source || !cmd.mountpoint) {
        usage(stderr, argv[0]);
        fprintf(stderr, "see '%s --help' for the options\n", argv[0]);
        goto out1;
    }
    if (hm_options_finish(&opt) < 0)
        goto out1;
    enum hm_log_level level = cmd.debug ? HM_LOG_DEBUG : (enum hm_log_level)opt.log_level;
    if (hm_log_init(opt.log_file ? HM_LOG_FILE : HM_LOG_STDERR, level, opt.log_file) < 0) {
        fprintf(stderr, "hubmount: cannot open log file %s\n", opt.log_file);
        goto out1;
    }

    /* 1. caches and the Hub: all before daemonizing */
    ms.opt = &opt;
    if (ms_open_caches(&ms) < 0)
        goto out1;
    bool ns_mode = hm_ns_source(opt.source); /* many repos: fs/namespace.c */
    exit_code = ns_mode ? hm_ns_connect(&ms, &opt, opt.source) : ms_connect(&ms, &opt, opt.source);
    if (exit_code != HM_EXIT_OK)
        goto out1;
    exit_code = HM_EXIT_USAGE;

    if (!opt.max_read_given && fuse_opt_add_arg(&args, "-omax_read=1048576") != 0)
        goto out1;
    if ((ms.read_only || opt.offline) && !opt.ro && fuse_opt_add_arg(&args, "-oro") != 0)
        goto out1;
    /* The kernel checks the modes we report (also done by the POSIX ACL
     * negotiation, when the kernel offers it).  With -o allow_other this is
     * what keeps other local users from writing with the mounting user's
     * token or reading a file chmod'ed 0600. */
    if (fuse_opt_add_arg(&args, "-odefault_permissions") != 0)
        goto out1;
    if (fuse_opt_add_arg(&args, "-osubtype=hubmount") != 0 || add_fsname(&args, opt.source) != 0)
        goto out1;

    /* 2. session */
    hm_ops_read_fill(&ops);
    /* The write path adds its handlers and hooks here (fs/ops_write.c). */
    if (hm_write_init(&ms) < 0)
        goto out1;
    hm_ops_write_fill(&ops);
    hm_noise_wrap(&ops);
    if (ns_mode)
        hm_ns_wrap(&ops);
    se = fuse_session_new(&args, &ops, sizeof ops, &ms);
    if (!se)
        goto out1;
    ms.se = se;
    if (fuse_set_signal_handlers(se) != 0)
        goto out2;
    if (fuse_session_mount(se, cmd.mountpoint) != 0) {
        fprintf(stderr, "hubmount: cannot mount on %s\n", cmd.mountpoint);
        goto out3;
    }

    hm_tune_readahead(cmd.mountpoint, 4 * opt.max_read / 1024);

    /* 3. detach, then threads */
    if (fuse_daemonize(cmd.foreground) != 0)
        goto out4;
    if (!cmd.foreground && !opt.log_file)
        (void)hm_log_init(HM_LOG_SYSLOG, level, NULL);
    if (ms.reader && reader_start(ms.reader) < 0)
        goto out4;
    if (hm_write_start(&ms) < 0) {
        hm_error("cannot start the commit worker");
        goto out4;
    }
    if (poller_start(&ms) < 0) {
        hm_error("cannot start the branch poller");
        goto out4;
    }

    /* 4. serve */
    int ret;
    if (cmd.singlethread) {
        ret = fuse_session_loop(se);
    } else {
        loop = fuse_loop_cfg_create();
        if (!loop)
            goto out5;
        fuse_loop_cfg_set_clone_fd(loop, (unsigned)cmd.clone_fd);
        if (cmd.max_idle_threads != UINT_MAX)
            fuse_loop_cfg_set_idle_threads(loop, cmd.max_idle_threads);
        fuse_loop_cfg_set_max_threads(loop, opt.max_threads_given ? cmd.max_threads
                                                                  : HM_DEFAULT_MAX_THREADS);
        ret = fuse_session_loop_mt(se, loop);
    }
    /* 0: unmounted (fusermount3 -u); >0: the signal that ended the loop
     * (SIGTERM/SIGINT/SIGHUP) — both are a clean exit. */
    exit_code = ret >= 0 ? HM_EXIT_OK : HM_EXIT_USAGE;
    if (ret < 0)
        hm_error("session loop failed: %s", strerror(-ret));
    hm_info("unmounting");

out5:
    poller_stop(&ms);
out4:
    fuse_session_unmount(se);
out3:
    fuse_remove_signal_handlers(se);
out2:
    ms.se = NULL;
    hm_ns_session_end();
    fuse_session_destroy(se);
    hm_ops_read_cleanup();
out1:
    if (loop)
        fuse_loop_cfg_destroy(loop);
    /* Unmounted (or SIGTERM): commit what is pending before exiting. */
    int wr = hm_write_stop(&ms);
    if (wr == -ETIMEDOUT)
        _exit(HM_EXIT_USAGE); /* an upload still runs on the state: do not free it */
    if (wr < 0 && exit_code == HM_EXIT_OK)
        exit_code = HM_EXIT_USAGE;
    wr = hm_ns_free(); /* the same for every repo of a namespace mount */
    if (wr == -ETIMEDOUT)
        _exit(HM_EXIT_USAGE);
    if (wr < 0 && exit_code == HM_EXIT_OK)
        exit_code = HM_EXIT_USAGE;
    ms_destroy(&ms);
    hm_options_free(&opt);
    free(cmd.mountpoint);
    fuse_opt_free_args(&args);
    hm_log_close();
    return exit_code;
}
