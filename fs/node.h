/* node.h — the inode table of one mount: what a kernel inode number means.
 *
 * This header is the contract between the read path (fs/ops_read.c), the
 * write path (fs/ops_write.c and its commit worker) and the branch poller
 * (fs/poller.c).
 *
 * A node is one name of the mounted tree as the kernel knows it: a repo
 * path ("" for the root, no leading '/') plus EITHER
 *
 *   REMOTE  a tree entry of a commit (size, git oid, LFS sha256).  A remote
 *           FILE node is immutable: when its path gets other content (the
 *           branch moved, or the write path committed a new version through
 *           node_ref_remote) a NEW node with a new inode number takes over
 *           the path and the old node is "unhashed": it stays valid for the
 *           open handles and page cache that belong to the old content until
 *           the kernel forgets it.  Remote DIRECTORY nodes are stable per
 *           path (a shell's cwd survives a commit).
 *   LOCAL   something that exists only on this machine: a staged or pending
 *           file, or a local-only directory of the write overlay.  The write
 *           path owns the meaning of struct node_local; the read path only
 *           turns it into a struct stat.
 *
 * A node keeps its inode number for its whole life: node_set_local() and
 * node_set_remote() switch a node between the two kinds in place (a file
 * opened for writing becomes LOCAL; after its commit it becomes REMOTE
 * again with the committed entry), so the kernel's dentry stays valid.
 *
 * Inode numbers are never reused within a mount (64-bit counter, root = 1),
 * so the generation number is always 0.
 *
 * Reference counts: nlookup counts the kernel's references (every
 * fuse_reply_entry/fuse_reply_create and every readdirplus entry adds one,
 * forget subtracts); opens counts open file and directory handles.  A node
 * is freed when both are 0 (never the root).  A node that is still hashed
 * but has nlookup == 0 and no opens is freed too: the table is a cache of
 * what the kernel holds, not of the repo (that is the SQLite cache's job).
 *
 * Locking: one mutex per table protects every field of every node and both
 * hash maps.  It is a LEAF lock: the functions below take it themselves and
 * return copies, never pointers into the table; nothing calls the Hub,
 * SQLite, the block cache or fuse_lowlevel_notify_*() while holding it.
 * Lock order of fs/ (outermost first):
 *     poller switch lock (mount_state.switch_lock)
 *       -> mount_state.commit_lock
 *         -> node_table lock
 *           -> reader locks (fs/reader.c; leaf)
 * In practice handlers copy the current commit (commit_lock released) and
 * only then touch the table.
 *
 * All functions return 0 or a negative errno. */
#ifndef HUBMOUNT_FS_NODE_H
#define HUBMOUNT_FS_NODE_H

#include "fuse_ll.h"
#include "hub.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum node_kind { NODE_REMOTE = 0, NODE_LOCAL = 1 };

/* Attributes of a LOCAL node.  The read path reports them as they are. */
struct node_local {
    bool is_dir;
    uint64_t size;
    mode_t perm;   /* permission bits (07777); 0 = the mount's default mode */
    int64_t mtime; /* unix seconds; 0 = the mount's commit date */
    uint64_t tag;  /* opaque to everyone but the write path (e.g. a journal id) */
};

/* A copy of one node's state (node_get). */
struct node_info {
    fuse_ino_t ino;
    char *path; /* malloc'd; "" = root */
    enum node_kind kind;
    bool is_dir;
    bool hashed;               /* the path still names this node */
    struct hub_entry entry;    /* REMOTE: entry.path is NULL, use path */
    char commit[HUB_SHA1_HEX]; /* REMOTE: commit the entry was read at */
    struct node_local local;   /* LOCAL */
    uint64_t nlookup;
    uint32_t opens;
};
void node_info_clear(struct node_info *ni);

struct node_table;

/* A table holding only the root (a remote directory, commit ""). */
int node_table_new(struct node_table **out) __attribute__((warn_unused_result));
/* The same with the root at inode `root_ino` and new nodes numbered from
 * `first_ino` up: a namespace mount gives each repo its own range so one
 * kernel inode space holds many tables (fs/namespace.c). */
int node_table_new_at(struct node_table **out, fuse_ino_t root_ino, fuse_ino_t first_ino)
    __attribute__((warn_unused_result));
void node_table_free(struct node_table *t);

/* Copy of node `ino`; -ESTALE if the kernel names an inode we do not know. */
int node_get(struct node_table *t, fuse_ino_t ino, struct node_info *out)
    __attribute__((warn_unused_result));

/* Inode of the node that `path` names now, 0 if none. */
fuse_ino_t node_find(struct node_table *t, const char *path);

/* The node for a reply to the kernel.  Reuses the node `path` names if it
 * has the same identity (same kind and type; for remote files also the same
 * oid) and refreshes its state (entry+commit, or local attributes);
 * otherwise creates a new node that replaces it in the path map.  Adds
 * `lookups` to nlookup: 1 when the ino goes into a fuse_reply_entry /
 * fuse_reply_create / readdirplus entry, 0 to only refresh a node (with 0
 * nothing is created: *ino_out is 0 when no node fits, and a node of a
 * different identity is unhashed). */
int node_ref_remote(struct node_table *t, const char *path, const struct hub_entry *e,
                    const char *commit, uint64_t lookups, fuse_ino_t *ino_out)
    __attribute__((warn_unused_result));
int node_ref_local(struct node_table *t, const char *path, const struct node_local *l,
                   uint64_t lookups, fuse_ino_t *ino_out) __attribute__((warn_unused_result));

/* The same for a caller that read the path's state (from the write path's
 * lookup hook or the tree) after node_stamp() returned `since`: a node
 * switched in place (node_set_local/node_set_remote) after that moment
 * holds newer state than the caller's, so it is kept as it is and only
 * gets the reference.  Without this a lookup racing with an open for
 * writing could give the path a new inode with the old attributes. */
uint64_t node_stamp(struct node_table *t);
/* The commit this mount's write path made last (set when it is published),
 * and whether `commit` is it. */
void node_set_own_commit(struct node_table *t, const char *commit);
bool node_is_own_commit(struct node_table *t, const char *commit);
/* A local file node whose size equals the entry's, at the commit this mount
 * made last (node_set_own_commit), is switched to remote in place (same
 * inode) rather than replaced: its local state went away because that
 * commit holds its content (see node_ref_remote_since). */
int node_ref_remote_since(struct node_table *t, const char *path, const struct hub_entry *e,
                          const char *commit, uint64_t lookups, uint64_t since,
                          fuse_ino_t *ino_out) __attribute__((warn_unused_result));
int node_ref_local_since(struct node_table *t, const char *path, const struct node_local *l,
                         uint64_t lookups, uint64_t since, fuse_ino_t *ino_out)
    __attribute__((warn_unused_result));

/* Switch an existing node's kind in place (same inode number). */
int node_set_local(struct node_table *t, fuse_ino_t ino, const struct node_local *l);
int node_set_remote(struct node_table *t, fuse_ino_t ino, const struct hub_entry *e,
                    const char *commit);
/* node_set_local for a caller that read the local state after node_stamp()
 * returned `since`: -EAGAIN (nothing changed) when the node is no longer
 * local or was switched after that moment (e.g. our commit made it remote
 * while the caller asked the write path). */
int node_set_local_since(struct node_table *t, fuse_ino_t ino, const struct node_local *l,
                         uint64_t since);
/* node_set_remote for a caller that found no local state after node_stamp()
 * returned `since`: -EAGAIN (nothing changed) when the node was switched
 * after that moment (e.g. a writer opened the file meanwhile and its writes
 * set the node's size: the committed entry would be stale). */
int node_set_remote_since(struct node_table *t, fuse_ino_t ino, const struct hub_entry *e,
                          const char *commit, uint64_t since);

/* The path no longer names this node (unlink, rmdir, content superseded).
 * The node lives on until forgotten and closed. */
void node_unhash(struct node_table *t, fuse_ino_t ino);

/* Rename: node `ino` (and, for a directory, every node below it) moves to
 * new_path; whatever node new_path named before is unhashed. */
int node_rename(struct node_table *t, fuse_ino_t ino, const char *new_path)
    __attribute__((warn_unused_result));

/* Kernel forget of `n` lookups. */
void node_forget(struct node_table *t, fuse_ino_t ino, uint64_t n);

/* Open handles: node_open fails with -ESTALE for an unknown inode. */
int node_open(struct node_table *t, fuse_ino_t ino) __attribute__((warn_unused_result));
void node_close(struct node_table *t, fuse_ino_t ino);

/* Snapshot of the hashed directory nodes (for the branch poller). */
struct node_dir_ref {
    fuse_ino_t ino;
    char *path;
};
int node_list_dirs(struct node_table *t, struct node_dir_ref **out, size_t *n_out)
    __attribute__((warn_unused_result));
void node_dir_refs_free(struct node_dir_ref *v, size_t n);

/* Number of nodes in the table (tests, statfs). */
size_t node_count(struct node_table *t);
/* The inode number the next new node will get: a namespace mount that
 * closes an idle repo mount starts the next table of that inode range
 * here, so no number is ever handed to the kernel twice (fs/ns_sub.c). */
fuse_ino_t node_next_ino(struct node_table *t);

/* Parent path of `path` into out ("" for a top-level name or the root) and
 * a pointer to its last component.  Returns -ENAMETOOLONG if out is short. */
int node_path_split(const char *path, char *parent, size_t cap, const char **name);
/* "dir/name" (or "name" when dir is ""), malloc'd; NULL on ENOMEM. */
char *node_path_join(const char *dir, const char *name);

#endif
