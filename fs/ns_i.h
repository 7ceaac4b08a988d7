/* ns_i.h — private to the namespace layer (fs/namespace.c, fs/ns_sub.c,
 * fs/ns_list.c): the directories above the repos of a namespace or Hub
 * mount, the repo mounts below them, and the cached repo listings.
 *
 * Inode numbers.  The namespace layer numbers its own directories from 1
 * (the root) up, below NS_SLOT_BASE.  A repo mount opened in slot k has a
 * node table (fs/node.h) whose root IS the repo directory's namespace
 * inode and whose other nodes are numbered from k * NS_SLOT_BASE up, so
 * the kernel sees one inode space, replies of the repo handlers need no
 * translation, and an inode number says which table knows it.
 *
 * Idle repo mounts are closed (ns_sub.c: the closer thread) and their slot
 * reused.  The repo directory's inode belongs to this layer and outlives
 * the mount, so the kernel may keep it.  Every other inode of the slot was
 * forgotten (the table holds only its root).  A reused slot's table starts
 * numbering where the closed one stopped (ns.slot_next), so even a number
 * the kernel still held by some mistake of counting would never be handed
 * out again: inode numbers stay unique for the life of the mount.
 *
 * Locking: ns.lock protects the node table, every ns_node field, the
 * listings and the slot array; ns.cv (on ns.lock) wakes threads waiting for
 * a repo mount being opened or closed, or a listing being fetched.  It is
 * never held across a Hub request, a FUSE reply or a call into a repo
 * handler; the only lock taken under it is a repo mount's commit_lock
 * (ms_commit_get).  A request holds the repo mount it forwards to
 * (ns_sub_get/ns_sub_open ... ns_sub_put): a held mount is never closed. */
#ifndef HUBMOUNT_FS_NS_I_H
#define HUBMOUNT_FS_NS_I_H

#include "fuse_ll.h"
#include "hub.h"
#include "mount_state.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NS_SLOT_SHIFT 40
#define NS_SLOT_BASE ((fuse_ino_t)1 << NS_SLOT_SHIFT)
#define NS_MAX_SUBS 4096 /* repo mounts one daemon opens (each has threads) */

enum ns_kind {
    NS_ROOT,  /* models/ datasets/ spaces/ */
    NS_TYPE,  /* models/: repos (namespace mount) or namespaces (Hub mount) */
    NS_OWNER, /* models/acme/ of a Hub mount: repos */
    NS_REPO,  /* a repo directory, name or name@rev; a repo mount once used */
};

struct ns_sub;

struct ns_node {
    fuse_ino_t ino;
    fuse_ino_t parent;
    enum ns_kind kind;
    enum hub_repo_type type;
    char owner[100];  /* NS_OWNER, NS_REPO */
    char name[256];   /* last component as the kernel names it */
    struct hub_source src; /* NS_REPO */
    int64_t mtime;
    bool is_private;
    bool listed;           /* NS_REPO known to exist (listing, mkdir): no request to name it */
    uint64_t nlookup;
    struct ns_sub *sub;    /* NS_REPO: the repo mount, once opened */
    bool opening;          /* a thread is opening it (others wait on ns.cv) */
    bool closing;          /* its idle mount is being closed (openers wait on ns.cv) */
    bool was_open;         /* closed once: closed_perm/closed_date are its attributes */
    mode_t closed_perm;
    int64_t closed_date;
    struct ns_node *hash_next; /* by (parent ino, name) */
};

struct ns_sub {
    struct mount_state ms; /* borrows hub, ident, meta, blocks, opt from ns.tmpl */
    unsigned slot;         /* 1..NS_MAX_SUBS */
    fuse_ino_t dir_ino;    /* the repo directory (the table's root) */
    bool writes_started;
    unsigned busy;         /* requests holding it now (ns.lock) */
    uint64_t gen;          /* bumped by every request that holds it (ns.lock) */
    double idle_since;     /* closer thread only: first seen idle at gen idle_gen */
    uint64_t idle_gen;
};

/* One author's repos of one type, as the listing API gave them. */
struct ns_listing {
    struct ns_listing *next;
    enum hub_repo_type type;
    char owner[100];
    struct hub_repo_list list;
    bool loaded;
    bool loading;
    double fetched; /* monotonic seconds */
};

struct ns_state {
    struct mount_state *tmpl; /* the session's state: Hub client, identity, caches */
    bool hub_mode;            /* "hub": every namespace; else one owner */
    char owner[100];          /* the namespace of a namespace mount */
    double ttl;               /* seconds a listing (and the kernel's entries) stay fresh */
    struct fuse_lowlevel_ops inner; /* the repo handlers */

    pthread_mutex_t lock;
    pthread_cond_t cv;
    struct ns_node **nodes; /* by ino (index ino - 1) */
    size_t n_nodes, cap_nodes;
    struct ns_node **hash;  /* by (parent, name) */
    size_t hash_cap;
    struct ns_sub *subs[NS_MAX_SUBS + 1]; /* by slot; NULL: free or closing */
    unsigned n_subs;                      /* slots ever used (1..n_subs) */
    fuse_ino_t slot_next[NS_MAX_SUBS + 1]; /* first inode of a reused slot's next table */
    unsigned free_slots[NS_MAX_SUBS];      /* closed slots, reused first */
    unsigned n_free;
    unsigned n_open;                       /* repo mounts open now */
    uint64_t n_opened, n_closed;           /* since mount (user.hub.mounts) */
    pthread_cond_t closer_cv;              /* on lock: wakes the closer to stop */
    pthread_t closer;
    bool closer_running, closer_stop;
    struct ns_listing *listings;
};

extern struct ns_state ns;

/* ---- nodes (namespace.c) ------------------------------------------------ */

/* Node `ino` of the namespace layer, or NULL (caller holds ns.lock). */
struct ns_node *ns_node_get(fuse_ino_t ino);

/* ---- repo mounts (ns_sub.c) ------------------------------------------------ */

/* The repo mount of NS_REPO node `ino`, opened on first use (resolves the
 * revision; one thread opens, the others wait), held for a request.  0 and
 * *out, or -ENOENT (no such repo/revision, or invisible), -ENFILE (too
 * many), -errno. */
int ns_sub_open(fuse_ino_t ino, struct ns_sub **out) __attribute__((warn_unused_result));
/* The repo mount that numbers `ino` (an inode above NS_SLOT_BASE), held,
 * or NULL.  `request`: the hold may add kernel references or work (every
 * request but forget), which restarts the mount's idle time. */
struct ns_sub *ns_sub_get(fuse_ino_t ino, bool request);
/* Hold an attached repo mount for a request (caller holds ns.lock). */
void ns_sub_hold_locked(struct ns_sub *s, bool request);
/* Drop a hold (NULL: nothing). */
void ns_sub_put(struct ns_sub *s);
/* "open: N\nopened: N\nclosed: N\n" (user.hub.mounts of the root): 0 or -ERANGE. */
int ns_subs_stats(char *buf, size_t cap);
/* Stop the closer, every repo mount's poller and forget the session
 * (before it goes). */
void ns_subs_session_end(void);
/* Commit what is pending in every repo mount and free them: 0, the first
 * -errno, or -ETIMEDOUT (then nothing is freed: uploads still run). */
int ns_subs_free(void);

/* ---- listings (ns_list.c) ------------------------------------------------------ */

/* Copy of the repos of `owner` (type), fetched when older than ns.ttl.
 * Free with hub_repo_list_free. */
int ns_list_get(enum hub_repo_type type, const char *owner, struct hub_repo_list *out)
    __attribute__((warn_unused_result));
/* A fresh cached listing has repo `name`: 1 (and *item), 0 not in it,
 * -EAGAIN no fresh listing.  Never fetches. */
int ns_list_find(enum hub_repo_type type, const char *owner, const char *name,
                 struct hub_repo_item *item);
/* Record a repo we just created (so a listing shows it at once). */
void ns_list_note(enum hub_repo_type type, const char *owner, const struct hub_repo_item *item);
void ns_list_free_all(void);

double ns_now(void);

#endif
