/* meta.h — the persistent metadata cache (SQLite, WAL, file mode 0600).
 *
 * Everything keyed by a commit sha is immutable and kept forever: the
 * directory listings of a commit never change.  Revision -> commit
 * mappings are mutable (branches move) and carry the time they were
 * learned.  The same database holds the write side: the local overlay
 * (mode/mtime, empty directories) and the journal of pending operations,
 * which must survive kill -9 (every change is one committed transaction).
 *
 * A repo is identified by a "repo key": "<type>/<ns>/<name>", e.g.
 * "model/acme/tiny".  All functions return 0 or a negative errno; the
 * connection is serialized internally, so callers need no lock. */
#ifndef HUBMOUNT_META_H
#define HUBMOUNT_META_H

#include "hub.h"
#include <stdbool.h>
#include <stdint.h>

struct meta_db;

int meta_open(const char *db_path, struct meta_db **out) __attribute__((warn_unused_result));
void meta_close(struct meta_db *db);

/* revision -> commit ------------------------------------------------------ */
int meta_revision_get(struct meta_db *db, const char *repo_key, const char *revision,
                      char commit[HUB_SHA1_HEX], int64_t *commit_date, int64_t *learned_at);
int meta_revision_put(struct meta_db *db, const char *repo_key, const char *revision,
                      const char *commit, int64_t commit_date, int64_t learned_at);

/* immutable directory listings keyed by commit ----------------------------- */
/* -ENOENT if the directory `dir` ("" = root) of commit was never listed. */
int meta_dir_get(struct meta_db *db, const char *repo_key, const char *commit,
                 const char *dir, struct hub_entries *out);
/* Stores the complete listing of one directory level (entries' paths are
 * full repo paths whose parent is `dir`) and marks it listed. */
int meta_dir_put(struct meta_db *db, const char *repo_key, const char *commit,
                 const char *dir, const struct hub_entries *entries);
/* One entry: 0 found, -ENOENT known absent (parent listed, not there, or a
 * negative entry), -EAGAIN unknown (ask the Hub). */
int meta_entry_get(struct meta_db *db, const char *repo_key, const char *commit,
                   const char *path, struct hub_entry *out);
void meta_entry_clear(struct hub_entry *e); /* frees e->path */
int meta_negative_put(struct meta_db *db, const char *repo_key, const char *commit,
                      const char *path);

#endif
