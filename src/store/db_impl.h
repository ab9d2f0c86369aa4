/*
 * db_impl.h - what db.c shares with the two drivers (db_sqlite.c, db_pg.c).
 * Not for use outside src/store/.
 */
#ifndef CVOPS_STORE_DB_IMPL_H
#define CVOPS_STORE_DB_IMPL_H

#include <pthread.h>

#include "store/db.h"

typedef struct db_ops {
    int (*connect)(db *d, db_conn **out, err *e);
    void (*disconnect)(db_conn *c);
    /* Optional: a pooled connection nobody holds; release what it keeps open
     * (SQLite: a read transaction) if kept for max_ms or more. */
    void (*idle)(db_conn *c, int64_t max_ms);
    int (*exec)(db_conn *c, const char *sql, err *e);
    /* Prepares a new driver statement for sql (already owned by s->sql). */
    int (*prepare)(db_stmt *s, err *e);
    void (*finalize)(db_stmt *s);
    int (*bind)(db_stmt *s, int idx, db_val v);
    void (*clear)(db_stmt *s); /* clears bindings and any pending result */
    int (*step)(db_stmt *s, err *e);
    bool (*col_null)(db_stmt *s, int col);
    int64_t (*col_i64)(db_stmt *s, int col);
    double (*col_dbl)(db_stmt *s, int col);
    const char *(*col_text)(db_stmt *s, int col);
    size_t (*col_len)(db_stmt *s, int col);
    const void *(*col_blob)(db_stmt *s, int col, size_t *len);
    int (*col_count)(db_stmt *s);
    int64_t (*changes)(db_stmt *s);
} db_ops;

struct db {
    db_driver_kind kind;
    const db_ops *ops;
    char *target; /* sqlite path or postgres conninfo */
    db_options opt;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    db_conn *free_list;
    int open_count;
    int64_t idle_swept_ms; /* last sweep of the free list (monotonic) */
    /* SQLite: one writer at a time (see db_begin in db.c) */
    pthread_mutex_t gate_mu;
    pthread_cond_t gate_cv;
    bool gate_busy;
};

#define DB_STMT_CACHE 256

struct db_conn {
    db *d;
    db_conn *next_free;
    bool in_tx;
    int tx_depth;     /* 1: a transaction; more: nested savepoints */
    bool last_unique; /* last error was a unique violation */
    bool broken;      /* connection lost: closed instead of pooled */
    bool gated;       /* this transaction holds its db's writer gate */
    unsigned stmt_seq;  /* for PostgreSQL statement names */
    db_stmt *cache[DB_STMT_CACHE]; /* open hash by SQL text */
    int cache_count;
};

struct db_stmt {
    db_conn *c;
    char *sql;
    uint64_t hash;
    bool in_use;
    bool cached; /* false: finalized by db_done */
    void *drv;   /* driver state */
};

extern const db_ops db_sqlite_ops;
extern const db_ops db_pg_ops;

/* Expands {{ID}} {{JSON}} {{BLOB}}; returns a malloc'd string. */
char *db_schema_expand(db_driver_kind kind, const char *sql);
/* Highest $N in sql (0 if none), skipping string literals. */
int db_count_params(const char *sql);

#endif
