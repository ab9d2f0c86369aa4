/*
 * db.h - one SQL interface, two drivers: SQLite (embedded default) and
 * PostgreSQL (scale-out).
 *
 * Design
 * - A `db` is an opened database: its URL, its driver and a pool of
 *   connections. A `db_conn` is used by one thread at a time: take one with
 *   db_get(), give it back with db_put(). SQLite connections run in WAL mode
 *   with a busy timeout; PostgreSQL connections are kept open and reused.
 * - SQL is written once for both drivers. Parameters are `$1, $2, ...` in
 *   both (the SQLite driver maps them to its own indexes). Portable habits:
 *   ids are BIGINT, times are BIGINT milliseconds since the epoch, flags
 *   are INTEGER 0/1, JSON is stored as text (SQLite) / jsonb (PostgreSQL).
 *   Schema text can use the placeholders {{ID}}, {{JSON}} and {{BLOB}} which
 *   db_exec_schema() expands per driver; everything else must be common SQL.
 * - Statements are prepared once per connection and cached by SQL text, so
 *   callers pass literal SQL and never manage statement lifetimes.
 * - Bound values are copied: the caller may free them right after binding.
 *
 * Typical use:
 *     db_stmt *s = db_query(c, e, "SELECT id, name FROM org WHERE id = $1", DBI(id));
 *     if (!s) return -1;
 *     while ((rc = db_step(s, e)) == DB_ROW) { ... db_col_i64(s, 0) ... }
 *     db_done(s);
 *     if (rc < 0) return -1;
 */
#ifndef CVOPS_STORE_DB_H
#define CVOPS_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct db db;
typedef struct db_conn db_conn;
typedef struct db_stmt db_stmt;

typedef enum { DB_SQLITE, DB_POSTGRES } db_driver_kind;

typedef struct db_options {
    int pool_size;       /* max connections; default 16 */
    int busy_timeout_ms; /* SQLite busy timeout; default 10000 */
    /* SQLite: bytes of the file its connections read through mmap (0: none,
     * every page by pread). A mapping pays off for large read-only scans, and
     * costs where writes are frequent: each write by another connection makes
     * the next transaction unmap it (TLB shootdowns on every core of the
     * process) and fault its pages in again. Ignored by PostgreSQL. */
    long long mmap_bytes;
} db_options;

/* True when a second db_open of the same URL reaches the same data (not an
 * in-memory SQLite database, which is one per connection). */
bool db_url_shareable(const char *url);

/* "sqlite:PATH", "sqlite::memory:" or "postgres://..." / "postgresql://...". */
int db_open(const char *url, const db_options *opt, db **out, err *e);
void db_close(db *d);
db_driver_kind db_driver(const db *d);
const char *db_driver_name(const db *d);

/* Waits for a free connection (opening one if the pool is not full). */
db_conn *db_get(db *d, err *e);
/* Returns a connection to the pool; an open transaction is rolled back. */
void db_put(db_conn *c);
db_driver_kind db_conn_driver(const db_conn *c);

/* Runs one or more statements without parameters (DDL, PRAGMAs). */
int db_exec(db_conn *c, const char *sql, err *e);
/* Like db_exec, after expanding {{ID}}, {{JSON}}, {{BLOB}} for the driver. */
int db_exec_schema(db_conn *c, const char *sql, err *e);

/* Transactions. db_begin takes the write lock at once on SQLite
 * (BEGIN IMMEDIATE), so two writers never deadlock on an upgrade. Inside
 * an open transaction, db_begin opens a savepoint: the matching
 * db_commit releases it and db_rollback undoes only what followed it, so
 * functions that write in their own transaction compose into a larger one
 * (nothing is durable before the outermost commit). db_put rolls back
 * everything still open. */
int db_begin(db_conn *c, err *e);
int db_commit(db_conn *c, err *e);
void db_rollback(db_conn *c);
bool db_in_tx(const db_conn *c);

/* --- values ------------------------------------------------------------ */
typedef enum { DBV_NULL, DBV_I64, DBV_DBL, DBV_TEXT, DBV_BLOB } db_val_type;
typedef struct db_val {
    db_val_type t;
    int64_t i;
    double d;
    const char *s; /* text or blob bytes; text with n == SIZE_MAX uses strlen */
    size_t n;
} db_val;

#define DBI(x) ((db_val){.t = DBV_I64, .i = (int64_t)(x)})
#define DBD(x) ((db_val){.t = DBV_DBL, .d = (double)(x)})
#define DBT(x) db_text_val(x)
#define DBTN(x, len) ((db_val){.t = DBV_TEXT, .s = (x), .n = (len)})
#define DBB(x, len) ((db_val){.t = DBV_BLOB, .s = (const char *)(x), .n = (len)})
#define DBNULL ((db_val){.t = DBV_NULL})
/* NULL pointer gives SQL NULL. */
static inline db_val db_text_val(const char *s)
{
    db_val v = {.t = s ? DBV_TEXT : DBV_NULL, .s = s, .n = (size_t)-1};
    return v;
}

/* --- statements -------------------------------------------------------- */
enum { DB_DONE = 0, DB_ROW = 1 };

/* Prepares (or finds in the connection's cache) and clears bindings. */
db_stmt *db_prepare(db_conn *c, const char *sql, err *e);
int db_bind(db_stmt *s, int idx, db_val v); /* idx is the N of $N */
int db_bind_all(db_stmt *s, const db_val *v, int n); /* $1..$n */
/* DB_ROW, DB_DONE, or -1 with e set. The first call executes. */
int db_step(db_stmt *s, err *e);
/* Ends the use of a statement (required after every db_query/db_prepare). */
void db_done(db_stmt *s);

int db_col_count(db_stmt *s);
bool db_col_null(db_stmt *s, int col);
int64_t db_col_i64(db_stmt *s, int col);
double db_col_dbl(db_stmt *s, int col);
const char *db_col_text(db_stmt *s, int col); /* NULL for SQL NULL; valid until next step */
size_t db_col_len(db_stmt *s, int col);
/* Blob bytes (PostgreSQL bytea is decoded). Valid until the next step. */
const void *db_col_blob(db_stmt *s, int col, size_t *len);
/* Rows changed by the last INSERT/UPDATE/DELETE executed through s. */
int64_t db_changes(db_stmt *s);

/* Prepare + bind + (for db_run) execute to completion. */
db_stmt *db_query_(db_conn *c, err *e, const char *sql, const db_val *v, int n);
int64_t db_run_(db_conn *c, err *e, const char *sql, const db_val *v, int n);
int db_one_i64_(db_conn *c, err *e, int64_t *out, const char *sql, const db_val *v, int n);

#define DB_ARGS_(...) ((const db_val[]){__VA_ARGS__}), \
    (int)(sizeof((const db_val[]){__VA_ARGS__}) / sizeof(db_val))
/* db_query(c, e, sql, args...): a statement ready to step, or NULL. */
#define db_query(c, e, sql, ...) db_query_(c, e, sql, DB_ARGS_(__VA_ARGS__))
/* db_run(c, e, sql, args...): rows changed, or -1. */
#define db_run(c, e, sql, ...) db_run_(c, e, sql, DB_ARGS_(__VA_ARGS__))
/* db_one_i64(c, e, &out, sql, args...): first column of the first row.
 * Returns 0, or -1 with ERR_NOT_FOUND when there is no row. */
#define db_one_i64(c, e, out, sql, ...) db_one_i64_(c, e, out, sql, DB_ARGS_(__VA_ARGS__))

/* True if the last error on this connection was a unique-constraint
 * violation (for "name already exists" messages). */
bool db_err_is_unique(const db_conn *c);

/* --- migrations -------------------------------------------------------- */
typedef struct db_migration {
    int version;      /* 1, 2, 3... strictly increasing */
    const char *name; /* "auth: users, orgs, tokens" */
    const char *sql;  /* schema text with {{ID}}/{{JSON}}/{{BLOB}} */
} db_migration;

/* Applies the migrations not yet recorded in schema_migrations, each in its
 * own transaction, in order. Safe to run from several processes at once
 * (PostgreSQL: advisory lock; SQLite: the write lock). Refuses to run when
 * the database is newer than this program. */
int db_migrate(db *d, const db_migration *m, int n, int *applied, err *e);

#endif
