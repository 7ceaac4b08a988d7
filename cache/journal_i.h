/* journal_i.h — private to cache/journal.c and journal_apply.c: the INSERT
 * of one journal row, which journal_add runs alone and journal_apply in a
 * batch, so its SQL and parameters are written once. */
#ifndef HUBMOUNT_JOURNAL_I_H
#define HUBMOUNT_JOURNAL_I_H

#include "journal.h"

#include <sqlite3.h>

#define JOURNAL_INSERT_SQL                                                 \
    "INSERT INTO journal(repo_key, branch, kind, path, staging,"           \
    " size, sha256, created_at, state)"                                    \
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)"

/* Binds op (a new pending row of repo_key/branch) to JOURNAL_INSERT_SQL;
 * created_at 0 means now.  Texts are bound without copy. */
void journal_bind_insert(sqlite3_stmt *st, const char *repo_key, const char *branch,
                         const struct journal_op *op);

#endif
