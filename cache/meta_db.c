/* meta_db.c — opening the metadata database: file and directory modes, the
 * connection settings and the versioned schema.  The helpers the other
 * cache/meta_*.c, journal*.c and overlay.c files share (statement cache,
 * transactions, errno mapping) are in meta_sql.c.
 *
 * Settings and why:
 * - WAL: readers never block the single writer, and a commit is one append.
 * - synchronous=NORMAL by default: in WAL mode a committed transaction is in
 *   the WAL file before COMMIT returns, so it survives kill -9 of the daemon;
 *   only an OS crash / power loss can lose the last transactions, which is
 *   fine for a cache that can be re-fetched.  Journal and overlay writes are
 *   user data that exists nowhere else, so those transactions switch to
 *   synchronous=FULL (one fsync of the WAL per close(2)/chmod — cheap next to
 *   the network round trip the commit will cost anyway).
 * - busy_timeout: another process (a second mount on the same cache dir, the
 *   status command) may hold the write lock for a moment.
 * - One connection behind a mutex (meta_i.h): the daemon's metadata traffic
 *   is small and cache hits are microseconds, so a pool would buy little and
 *   cost a lot of reasoning about transactions. */
#include "meta.h"
#include "meta_i.h"
#include "dirs_i.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define META_BUSY_TIMEOUT_MS 5000

/* Schema: schema[i] upgrades user_version i to i+1.  Never edit a released
 * step; append a new one.
 *
 * Listings are stored per "snap" (repo_key, commit) interned to an integer:
 * a big dataset has millions of entries and repeating a 40-hex commit and
 * the repo key in every row and index would double the file. */
static const char *const schema[] = {
    /* 0 -> 1 */
    "CREATE TABLE revisions("
    "  repo_key TEXT NOT NULL, revision TEXT NOT NULL,"
    "  commit_id TEXT NOT NULL, commit_date INTEGER NOT NULL, learned_at INTEGER NOT NULL,"
    "  PRIMARY KEY(repo_key, revision)) WITHOUT ROWID;"
    "CREATE TABLE snaps("
    "  id INTEGER PRIMARY KEY, repo_key TEXT NOT NULL, commit_id TEXT NOT NULL,"
    "  UNIQUE(repo_key, commit_id));"
    "CREATE TABLE dirs("
    "  snap INTEGER NOT NULL REFERENCES snaps(id), dir TEXT NOT NULL,"
    "  PRIMARY KEY(snap, dir)) WITHOUT ROWID;"
    "CREATE TABLE entries("
    "  snap INTEGER NOT NULL REFERENCES snaps(id), path TEXT NOT NULL,"
    "  parent TEXT NOT NULL, is_dir INTEGER NOT NULL, size INTEGER NOT NULL,"
    "  oid TEXT NOT NULL, is_lfs INTEGER NOT NULL, sha256 TEXT NOT NULL,"
    "  mtime INTEGER NOT NULL,"
    "  PRIMARY KEY(snap, path)) WITHOUT ROWID;"
    "CREATE INDEX entries_by_parent ON entries(snap, parent);"
    "CREATE TABLE negatives("
    "  snap INTEGER NOT NULL REFERENCES snaps(id), path TEXT NOT NULL,"
    "  PRIMARY KEY(snap, path)) WITHOUT ROWID;"
    /* write side (include/journal.h) */
    "CREATE TABLE journal("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  repo_key TEXT NOT NULL, branch TEXT NOT NULL, kind INTEGER NOT NULL,"
    "  path TEXT NOT NULL, staging TEXT, size INTEGER NOT NULL DEFAULT 0,"
    "  sha256 TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL,"
    "  state INTEGER NOT NULL DEFAULT 0, error INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0, commit_id TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX journal_by_branch ON journal(repo_key, branch, state);"
    "CREATE TABLE overlay("
    "  repo_key TEXT NOT NULL, branch TEXT NOT NULL, path TEXT NOT NULL,"
    "  parent TEXT NOT NULL, fields INTEGER NOT NULL, mode INTEGER NOT NULL,"
    "  uid INTEGER NOT NULL, gid INTEGER NOT NULL,"
    "  mtime_sec INTEGER NOT NULL, mtime_nsec INTEGER NOT NULL,"
    "  is_dir INTEGER NOT NULL, is_local_pending INTEGER NOT NULL,"
    "  PRIMARY KEY(repo_key, branch, path)) WITHOUT ROWID;"
    "CREATE INDEX overlay_by_parent ON overlay(repo_key, branch, parent);",
};
#define SCHEMA_VERSION ((int)(sizeof(schema) / sizeof(schema[0])))

/* Makes the directory holding db_path (and its parents) with mode 0700. */
static int prepare_dir(const char *db_path)
{
    char dir[PATH_MAX];
    size_t len = strlen(db_path);
    if (len >= sizeof(dir))
        return -ENAMETOOLONG;
    memcpy(dir, db_path, len + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0; /* the current directory or "/": not ours to change */
    *slash = '\0';
    return cache_mkdir_private(dir);
}

/* Creates the file 0600 before SQLite does (SQLite would use 0644 & umask);
 * its -wal and -shm files copy the database file's mode. */
static int prepare_file(const char *db_path)
{
    int fd = open(db_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) != 0)
        rc = -errno;
    else if ((st.st_mode & 077) && fchmod(fd, 0600) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

static int exec_sql(struct meta_db *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        hm_error("meta: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return meta_errno(rc);
    }
    return 0;
}

static int get_user_version(struct meta_db *db, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return meta_errno(rc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = 0;
    } else {
        rc = meta_errno(rc);
        if (rc == 0)
            rc = -EIO;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Brings the schema to SCHEMA_VERSION, each step in its own transaction
 * together with its user_version bump.  The version is read inside the
 * write transaction, so two processes opening a new file at once do not
 * both run a step. */
static int migrate(struct meta_db *db)
{
    for (;;) {
        int version = 0;
        int rc = exec_sql(db, "BEGIN IMMEDIATE");
        if (rc)
            return rc;
        rc = get_user_version(db, &version);
        if (rc == 0 && version > SCHEMA_VERSION) {
            hm_error("meta: database schema version %d is newer than this hubmount (%d)",
                     version, SCHEMA_VERSION);
            rc = -EPROTO;
        }
        if (rc == 0 && version == SCHEMA_VERSION)
            return exec_sql(db, "COMMIT");
        if (rc == 0)
            rc = exec_sql(db, schema[version]);
        if (rc == 0) {
            char bump[64];
            snprintf(bump, sizeof(bump), "PRAGMA user_version=%d", version + 1);
            rc = exec_sql(db, bump);
        }
        if (rc == 0)
            rc = exec_sql(db, "COMMIT");
        if (rc) {
            (void)exec_sql(db, "ROLLBACK");
            return rc;
        }
    }
}

int meta_open(const char *db_path, struct meta_db **out)
{
    *out = NULL;
    if (!db_path || !*db_path)
        return -EINVAL;
    int rc = prepare_dir(db_path);
    if (rc == 0)
        rc = prepare_file(db_path);
    if (rc) {
        hm_error("meta: cannot create %s: %s", db_path, strerror(-rc));
        return rc;
    }

    struct meta_db *db = calloc(1, sizeof(*db));
    if (!db)
        return -ENOMEM;
    if (pthread_mutex_init(&db->mu, NULL) != 0) {
        free(db);
        return -ENOMEM;
    }
    /* NOMUTEX: db->mu already serializes every use of the connection. */
    int src = sqlite3_open_v2(db_path, &db->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        hm_error("meta: cannot open %s: %s", db_path,
                 db->db ? sqlite3_errmsg(db->db) : sqlite3_errstr(src));
        rc = meta_errno(src);
        goto fail;
    }
    sqlite3_extended_result_codes(db->db, 1);
    src = sqlite3_busy_timeout(db->db, META_BUSY_TIMEOUT_MS);
    if (src != SQLITE_OK) {
        rc = meta_errno(src);
        goto fail;
    }
    rc = exec_sql(db, "PRAGMA journal_mode=WAL;"
                      "PRAGMA synchronous=NORMAL;"
                      "PRAGMA foreign_keys=OFF;"
                      "PRAGMA temp_store=MEMORY;");
    if (rc)
        goto fail;
    rc = migrate(db);
    if (rc)
        goto fail;
    *out = db;
    return 0;

fail:
    meta_close(db);
    return rc;
}

void meta_close(struct meta_db *db)
{
    if (!db)
        return;
    for (int i = 0; i < MS_COUNT; i++)
        sqlite3_finalize(db->stmts[i]);
    if (db->db && sqlite3_close(db->db) != SQLITE_OK)
        hm_warn("meta: close: %s", sqlite3_errmsg(db->db));
    pthread_mutex_destroy(&db->mu);
    free(db);
}
