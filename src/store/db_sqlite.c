/*
 * db_sqlite.c - the SQLite driver.
 *
 * Each connection opens the file in WAL mode (readers never block the
 * writer), synchronous=NORMAL (durable at checkpoints, safe against
 * corruption), a busy timeout so a second writer waits instead of failing,
 * and foreign keys on. `$N` parameters are SQLite named parameters; at
 * prepare time we map N to SQLite's own index.
 *
 * Kept read transactions. Outside an explicit transaction each statement
 * would be its own transaction, and in WAL mode starting and ending one
 * takes and drops a read lock on the -shm file: two fcntl calls and SQLite's
 * process-wide VFS mutex, about 4.2 us of a 4.6 us primary-key read here, and
 * twice that when two threads read at once. So a read-only statement that
 * finds no transaction open starts one (BEGIN) and leaves it open when it
 * ends; the next read-only statement on the connection reuses it if nothing
 * was committed since. "Nothing committed" is what SQLite itself checks when
 * a read transaction starts: the WAL-index header (the first 48 bytes of the
 * -shm mapping, written twice by every commit of every process, see "WAL-index
 * format" in SQLite's file-format document) is unchanged. We read it through
 * the VFS's own mapping (xShmMap of region 0), before BEGIN, so the copy we
 * keep is never newer than the snapshot SQLite takes: a commit in between
 * only makes the next statement start afresh.
 * - Writes (a statement that is not read-only, or an exec: BEGIN IMMEDIATE,
 *   migrations) end the kept transaction first and run as before.
 * - While a statement of the connection is still being stepped, nothing is
 *   started or renewed: the nested statement shares the outer one's
 *   snapshot, as it does in autocommit mode.
 * - A kept transaction pins its snapshot, which stops a checkpoint from
 *   copying later commits into the database file, and holds a read mark,
 *   which stops the next writer from starting the WAL over. Readers that end
 *   with their statement leave gaps for both; kept ones do not. So once the
 *   WAL holds more than KEPT_MAX_FRAMES frames (SQLite checkpoints from 1000
 *   on), reads run in autocommit mode again until a writer has started it
 *   over; and db.c ends the kept transactions of idle pooled connections
 *   older than 100 ms when a connection is given back (sq_idle).
 *   With a writer and 32 readers at full speed the WAL file grew to 11.6 MB
 *   in a minute without the frame limit; with it, as before (4 MB).
 * - Without a WAL-index (an in-memory database, a journal mode other than
 *   WAL) statements run in autocommit mode, as before.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "store/db_impl.h"

#define WAL_HDR 48 /* bytes of one copy of the WAL-index header */
#define KEPT_MAX_FRAMES 1000 /* no kept read transactions while the WAL is longer */

typedef struct {
    db_conn base;
    sqlite3 *h;
    /* the kept read transaction (see the top of this file) */
    bool kept;
    int nbusy;                        /* statements stepped, not finished or reset */
    int64_t kept_since_ms;            /* monotonic */
    unsigned char hdr[WAL_HDR];       /* WAL-index header read before it began */
    const volatile unsigned char *shm; /* region 0 of the WAL-index, NULL until mapped */
    sqlite3_stmt *st_begin, *st_commit;
} sq_conn;

typedef struct {
    sqlite3_stmt *st;
    int nmap;
    int *map; /* map[N] = sqlite index of $N, 0 if absent */
    bool stepped;
    bool done;
    bool busy; /* counted in nbusy */
    int64_t changes;
} sq_stmt;

static sqlite3 *H(db_conn *c) { return ((sq_conn *)c)->h; }
static sq_conn *SQ(db_conn *c) { return (sq_conn *)c; }

/* The current WAL-index header into out; false when there is none to trust
 * (no WAL-index, or a commit writing it right now: its two copies differ). */
static bool wal_header(sq_conn *c, unsigned char out[WAL_HDR])
{
    if (!c->shm) {
        sqlite3_file *f = NULL;
        if (sqlite3_file_control(c->h, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK ||
            !f || !f->pMethods || f->pMethods->iVersion < 2 || !f->pMethods->xShmMap)
            return false;
        volatile void *p = NULL;
        if (f->pMethods->xShmMap(f, 0, 32768, 0, &p) != SQLITE_OK || !p)
            return false;
        c->shm = p;
    }
    unsigned char second[WAL_HDR];
    /* a commit writes the second copy, then the first: read them the other way */
    memcpy(out, (const void *)c->shm, WAL_HDR);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    memcpy(second, (const void *)(c->shm + WAL_HDR), WAL_HDR);
    return out[12] /* isInit */ && memcmp(out, second, WAL_HDR) == 0;
}

static void kept_end(sq_conn *c)
{
    if (!c->kept)
        return;
    c->kept = false;
    if (sqlite3_get_autocommit(c->h)) /* an error already ended it */
        return;
    if (sqlite3_step(c->st_commit) != SQLITE_DONE) {
        sqlite3_reset(c->st_commit);
        sqlite3_exec(c->h, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    sqlite3_reset(c->st_commit);
}

/* Before the first step of st outside an explicit transaction. */
static void kept_before(sq_conn *c, sqlite3_stmt *st)
{
    if (!sqlite3_stmt_readonly(st)) {
        kept_end(c);
        return;
    }
    if (c->kept && sqlite3_get_autocommit(c->h))
        c->kept = false;
    if (c->nbusy > 0 || !c->st_begin)
        return;
    unsigned char now[WAL_HDR];
    bool ok = wal_header(c, now);
    if (ok) {
        uint32_t frames; /* mxFrame: frames in the WAL, native byte order */
        memcpy(&frames, now + 16, sizeof frames);
        ok = frames <= KEPT_MAX_FRAMES;
    }
    if (c->kept) {
        if (ok && memcmp(now, c->hdr, WAL_HDR) == 0)
            return;
        kept_end(c);
    }
    if (!ok || !sqlite3_get_autocommit(c->h))
        return;
    int rc = sqlite3_step(c->st_begin);
    sqlite3_reset(c->st_begin);
    if (rc != SQLITE_DONE)
        return;
    c->kept = true;
    c->kept_since_ms = time_mono_ns() / 1000000;
    memcpy(c->hdr, now, WAL_HDR);
}

static void busy_set(sq_conn *c, sq_stmt *q, bool busy)
{
    if (q->busy != busy) {
        q->busy = busy;
        c->nbusy += busy ? 1 : -1;
    }
}

static int sq_error(db_conn *c, int rc, const char *what, err *e)
{
    sqlite3 *h = H(c);
    int ext = sqlite3_extended_errcode(h);
    const char *msg = sqlite3_errmsg(h);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
        c->last_unique = true;
        return err_set(e, ERR_CONFLICT, "%s", msg);
    }
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return err_set(e, ERR_CONFLICT, "%s", msg);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return err_set(e, ERR_UNAVAILABLE, "the database is busy (%s); try again", msg);
    if ((rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_IOERR)
        return err_set(e, ERR_IO, "database I/O error: %s", msg);
    return err_set(e, ERR_INTERNAL, "%s: %s", what, msg);
}

/* cvops_hamming(a, b): bits that differ between two 64-bit integers (for
 * perceptual-hash distances). PostgreSQL spells it bit_count(int8send(a # b)). */
static void fn_hamming(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    uint64_t x = (uint64_t)sqlite3_value_int64(argv[0]) ^ (uint64_t)sqlite3_value_int64(argv[1]);
    sqlite3_result_int(ctx, __builtin_popcountll(x));
}

/* SQLite's memory statistics take a process-wide mutex on every allocation;
 * with one connection per thread that mutex is the only thing the threads share,
 * and it showed as futex contention under concurrent requests. Turned off once,
 * before the library initialises (a later call is refused and harmless). */
static void sq_global_config(void) { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }

static int sq_connect(db *d, db_conn **out, err *e)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, sq_global_config);
    sq_conn *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(e, ERR_INTERNAL, "out of memory");
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                SQLITE_OPEN_URI;
    int rc = sqlite3_open_v2(d->target, &c->h, flags, NULL);
    if (rc != SQLITE_OK) {
        err_set(e, ERR_UNAVAILABLE, "cannot open SQLite database '%s': %s", d->target,
                c->h ? sqlite3_errmsg(c->h) : sqlite3_errstr(rc));
        sqlite3_close(c->h);
        free(c);
        return -1;
    }
    sqlite3_busy_timeout(c->h, d->opt.busy_timeout_ms);
    sqlite3_create_function(c->h, "cvops_hamming", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                            fn_hamming, NULL, NULL);
    sqlite3_extended_result_codes(c->h, 1);
    char *msg = NULL;
    /* mmap_size only where asked (db_options.mmap_bytes, the server's scan
     * pool): a count over 100,000 scattered rows of a million took 290 ms by
     * pread, 175 ms mapped; but 8 clients reporting predictions did 2,000/s
     * with every connection mapped and 2,400/s with none (see db.h). */
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
             "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; "
             "PRAGMA cache_size=-32768; PRAGMA mmap_size=%lld;",
             d->opt.mmap_bytes);
    rc = sqlite3_exec(c->h, pragmas, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        err_set(e, ERR_UNAVAILABLE, "cannot configure SQLite database '%s': %s", d->target,
                msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        sqlite3_close(c->h);
        free(c);
        return -1;
    }
    if (sqlite3_prepare_v3(c->h, "BEGIN", -1, SQLITE_PREPARE_PERSISTENT, &c->st_begin, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v3(c->h, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &c->st_commit, NULL) !=
            SQLITE_OK) {
        sqlite3_finalize(c->st_begin); /* no kept read transactions: autocommit */
        c->st_begin = NULL;
    }
    *out = &c->base;
    return 0;
}

static void sq_disconnect(db_conn *c)
{
    kept_end(SQ(c));
    sqlite3_finalize(SQ(c)->st_begin);
    sqlite3_finalize(SQ(c)->st_commit);
    sqlite3_close_v2(H(c));
    free(c);
}

/* An idle pooled connection: end a kept read transaction older than max_ms. */
static void sq_idle(db_conn *c, int64_t max_ms)
{
    sq_conn *q = SQ(c);
    if (q->kept && q->nbusy == 0 && time_mono_ns() / 1000000 - q->kept_since_ms >= max_ms)
        kept_end(q);
}

static int sq_exec(db_conn *c, const char *sql, err *e)
{
    kept_end(SQ(c));
    char *msg = NULL;
    int rc = sqlite3_exec(H(c), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        sqlite3_free(msg);
        return sq_error(c, rc, "SQL error", e);
    }
    return 0;
}

static int sq_prepare(db_stmt *s, err *e)
{
    sq_stmt *q = calloc(1, sizeof *q);
    if (!q)
        return err_set(e, ERR_INTERNAL, "out of memory");
    int rc = sqlite3_prepare_v3(H(s->c), s->sql, -1, s->cached ? SQLITE_PREPARE_PERSISTENT : 0,
                                &q->st, NULL);
    if (rc != SQLITE_OK) {
        sq_error(s->c, rc, "cannot prepare statement", e);
        err_prefix(e, "%.120s: ", s->sql);
        free(q);
        return -1;
    }
    int np = sqlite3_bind_parameter_count(q->st);
    q->nmap = db_count_params(s->sql) + 1;
    q->map = calloc((size_t)q->nmap, sizeof *q->map);
    for (int i = 1; i <= np; i++) {
        const char *name = sqlite3_bind_parameter_name(q->st, i);
        if (name && name[0] == '$') {
            int n = atoi(name + 1);
            if (n > 0 && n < q->nmap)
                q->map[n] = i;
        }
    }
    s->drv = q;
    return 0;
}

static void sq_finalize(db_stmt *s)
{
    sq_stmt *q = s->drv;
    if (!q)
        return;
    busy_set(SQ(s->c), q, false);
    sqlite3_finalize(q->st);
    free(q->map);
    free(q);
    s->drv = NULL;
}

static int sq_bind(db_stmt *s, int idx, db_val v)
{
    sq_stmt *q = s->drv;
    if (idx <= 0 || idx >= q->nmap || q->map[idx] == 0)
        return -1;
    int i = q->map[idx], rc;
    switch (v.t) {
    case DBV_NULL: rc = sqlite3_bind_null(q->st, i); break;
    case DBV_I64: rc = sqlite3_bind_int64(q->st, i, v.i); break;
    case DBV_DBL: rc = sqlite3_bind_double(q->st, i, v.d); break;
    case DBV_TEXT: rc = sqlite3_bind_text64(q->st, i, v.s, v.n, SQLITE_TRANSIENT, SQLITE_UTF8); break;
    case DBV_BLOB: rc = sqlite3_bind_blob64(q->st, i, v.s, v.n, SQLITE_TRANSIENT); break;
    default: return -1;
    }
    return rc == SQLITE_OK ? 0 : -1;
}

static void sq_clear(db_stmt *s)
{
    sq_stmt *q = s->drv;
    busy_set(SQ(s->c), q, false);
    sqlite3_reset(q->st);
    sqlite3_clear_bindings(q->st);
    q->stepped = q->done = false;
    q->changes = 0;
}

static int sq_step(db_stmt *s, err *e)
{
    sq_stmt *q = s->drv;
    if (q->done)
        return DB_DONE;
    sq_conn *c = SQ(s->c);
    if (!q->stepped && !s->c->in_tx)
        kept_before(c, q->st);
    int rc = sqlite3_step(q->st);
    q->stepped = true;
    busy_set(c, q, rc == SQLITE_ROW);
    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc == SQLITE_DONE) {
        q->done = true;
        q->changes = sqlite3_changes64(H(s->c));
        return DB_DONE;
    }
    q->done = true;
    return sq_error(s->c, rc, "SQL error", e);
}

static bool sq_col_null(db_stmt *s, int col)
{
    return sqlite3_column_type(((sq_stmt *)s->drv)->st, col) == SQLITE_NULL;
}
static int64_t sq_col_i64(db_stmt *s, int col)
{
    return sqlite3_column_int64(((sq_stmt *)s->drv)->st, col);
}
static double sq_col_dbl(db_stmt *s, int col)
{
    return sqlite3_column_double(((sq_stmt *)s->drv)->st, col);
}
static const char *sq_col_text(db_stmt *s, int col)
{
    return (const char *)sqlite3_column_text(((sq_stmt *)s->drv)->st, col);
}
static size_t sq_col_len(db_stmt *s, int col)
{
    sqlite3_stmt *st = ((sq_stmt *)s->drv)->st;
    sqlite3_column_text(st, col); /* make the length refer to the text form */
    return (size_t)sqlite3_column_bytes(st, col);
}
static const void *sq_col_blob(db_stmt *s, int col, size_t *len)
{
    sqlite3_stmt *st = ((sq_stmt *)s->drv)->st;
    const void *p = sqlite3_column_blob(st, col);
    *len = (size_t)sqlite3_column_bytes(st, col);
    return p;
}
static int sq_col_count(db_stmt *s) { return sqlite3_column_count(((sq_stmt *)s->drv)->st); }
static int64_t sq_changes(db_stmt *s) { return ((sq_stmt *)s->drv)->changes; }

const db_ops db_sqlite_ops = {
    .connect = sq_connect,
    .disconnect = sq_disconnect,
    .idle = sq_idle,
    .exec = sq_exec,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .bind = sq_bind,
    .clear = sq_clear,
    .step = sq_step,
    .col_null = sq_col_null,
    .col_i64 = sq_col_i64,
    .col_dbl = sq_col_dbl,
    .col_text = sq_col_text,
    .col_len = sq_col_len,
    .col_blob = sq_col_blob,
    .col_count = sq_col_count,
    .changes = sq_changes,
};
