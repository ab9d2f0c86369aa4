/*
 * db.c - the driver-independent half of the SQL interface: URL parsing, the
 * connection pool, the per-connection statement cache, convenience calls and
 * schema migrations. See db.h for the contract.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "store/db_impl.h"

int db_open(const char *url, const db_options *opt, db **out, err *e)
{
    db *d = calloc(1, sizeof *d);
    if (!d)
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (str_has_prefix(url, "sqlite:")) {
        d->kind = DB_SQLITE;
        d->ops = &db_sqlite_ops;
        d->target = strdup(url + 7);
        if (!d->target[0]) {
            free(d->target);
            free(d);
            return err_set(e, ERR_INVALID,
                           "database URL 'sqlite:' has no path; use sqlite:PATH, e.g. "
                           "sqlite:./data/cvops.db");
        }
    } else if (str_has_prefix(url, "postgres://") || str_has_prefix(url, "postgresql://")) {
        d->kind = DB_POSTGRES;
        d->ops = &db_pg_ops;
        d->target = strdup(url);
    } else {
        free(d);
        return err_set(e, ERR_INVALID,
                       "database URL '%.200s' is not understood; use sqlite:PATH or "
                       "postgres://USER:PASSWORD@HOST:PORT/DBNAME",
                       url);
    }
    d->opt.pool_size = opt && opt->pool_size > 0 ? opt->pool_size : 16;
    d->opt.busy_timeout_ms = opt && opt->busy_timeout_ms > 0 ? opt->busy_timeout_ms : 10000;
    d->opt.mmap_bytes = opt && opt->mmap_bytes > 0 ? opt->mmap_bytes : 0;
    if (d->kind == DB_SQLITE && strcmp(d->target, ":memory:") == 0)
        d->opt.pool_size = 1; /* each :memory: connection is its own database */
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    pthread_mutex_init(&d->gate_mu, NULL);
    pthread_cond_init(&d->gate_cv, NULL);
    /* Open one connection now so a bad URL fails at start, not at first use. */
    db_conn *c = db_get(d, e);
    if (!c) {
        db_close(d);
        return -1;
    }
    db_put(c);
    *out = d;
    return 0;
}

bool db_url_shareable(const char *url)
{
    return !(str_has_prefix(url, "sqlite:") && strstr(url, ":memory:"));
}

static void conn_close(db_conn *c)
{
    for (int i = 0; i < DB_STMT_CACHE; i++) {
        db_stmt *s = c->cache[i];
        if (s) {
            c->d->ops->finalize(s);
            free(s->sql);
            free(s);
        }
    }
    c->d->ops->disconnect(c);
}

void db_close(db *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    while (d->free_list) {
        db_conn *c = d->free_list;
        d->free_list = c->next_free;
        conn_close(c);
    }
    pthread_mutex_unlock(&d->mu);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->gate_mu);
    pthread_cond_destroy(&d->gate_cv);
    free(d->target);
    free(d);
}

db_driver_kind db_driver(const db *d) { return d->kind; }
const char *db_driver_name(const db *d) { return d->kind == DB_SQLITE ? "sqlite" : "postgres"; }
db_driver_kind db_conn_driver(const db_conn *c) { return c->d->kind; }

/* Every 100 ms at most, with d->mu held: pooled connections nobody holds
 * release what they kept open longer than that (the SQLite driver's kept
 * read transactions, which would otherwise stop checkpoints from completing).
 * db_put runs it; in `cvops serve` the job runner's heartbeat gives back a
 * connection every few seconds even when nothing else does. */
#define IDLE_SWEEP_MS 100

static void idle_sweep(db *d)
{
    if (!d->ops->idle)
        return;
    int64_t now = time_mono_ns() / 1000000;
    if (now - d->idle_swept_ms < IDLE_SWEEP_MS)
        return;
    d->idle_swept_ms = now;
    for (db_conn *c = d->free_list; c; c = c->next_free)
        d->ops->idle(c, IDLE_SWEEP_MS);
}

db_conn *db_get(db *d, err *e)
{
    pthread_mutex_lock(&d->mu);
    for (;;) {
        if (d->free_list) {
            db_conn *c = d->free_list;
            d->free_list = c->next_free;
            pthread_mutex_unlock(&d->mu);
            return c;
        }
        if (d->open_count < d->opt.pool_size)
            break;
        pthread_cond_wait(&d->cv, &d->mu);
    }
    d->open_count++;
    pthread_mutex_unlock(&d->mu);
    db_conn *c = NULL;
    if (d->ops->connect(d, &c, e) != 0) {
        pthread_mutex_lock(&d->mu);
        d->open_count--;
        pthread_cond_signal(&d->cv);
        pthread_mutex_unlock(&d->mu);
        return NULL;
    }
    c->d = d;
    return c;
}

void db_put(db_conn *c)
{
    if (!c)
        return;
    while (c->in_tx)
        db_rollback(c);
    db *d = c->d;
    if (c->broken) {
        conn_close(c);
        pthread_mutex_lock(&d->mu);
        d->open_count--;
        pthread_cond_signal(&d->cv);
        pthread_mutex_unlock(&d->mu);
        return;
    }
    pthread_mutex_lock(&d->mu);
    c->next_free = d->free_list;
    d->free_list = c;
    idle_sweep(d);
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

int db_exec(db_conn *c, const char *sql, err *e)
{
    c->last_unique = false;
    return c->d->ops->exec(c, sql, e);
}

char *db_schema_expand(db_driver_kind kind, const char *sql)
{
    static const struct {
        const char *ph, *sqlite, *pg;
    } subs[] = {
        {"{{ID}}", "INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
        {"{{JSON}}", "TEXT", "JSONB"},
        {"{{BLOB}}", "BLOB", "BYTEA"},
    };
    size_t cap = strlen(sql) * 2 + 64, len = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (const char *p = sql; *p;) {
        const char *rep = NULL;
        size_t phlen = 0;
        if (p[0] == '{' && p[1] == '{') {
            for (size_t i = 0; i < ARRAY_LEN(subs); i++) {
                size_t l = strlen(subs[i].ph);
                if (strncmp(p, subs[i].ph, l) == 0) {
                    rep = kind == DB_SQLITE ? subs[i].sqlite : subs[i].pg;
                    phlen = l;
                    break;
                }
            }
        }
        size_t add = rep ? strlen(rep) : 1;
        if (len + add + 1 > cap) {
            cap = (cap + add) * 2;
            char *n = realloc(out, cap);
            if (!n) {
                free(out);
                return NULL;
            }
            out = n;
        }
        if (rep) {
            memcpy(out + len, rep, add);
            len += add;
            p += phlen;
        } else {
            out[len++] = *p++;
        }
    }
    out[len] = 0;
    return out;
}

int db_exec_schema(db_conn *c, const char *sql, err *e)
{
    char *x = db_schema_expand(c->d->kind, sql);
    if (!x)
        return err_set(e, ERR_INTERNAL, "out of memory");
    int rc = db_exec(c, x, e);
    free(x);
    return rc;
}

/* The writer gate. SQLite lets one transaction write at a time; a second
 * BEGIN IMMEDIATE finds the lock taken and its busy handler sleeps 1, 2, 5,
 * 10... ms before it tries again, whether or not the lock was freed in
 * between. Writers of this process queue here instead and start the moment
 * the previous one ends (8 clients reporting predictions: the p99 was 36 ms
 * of such sleeps). Other processes (a cvops worker) still meet SQLite's own
 * lock and busy timeout. A writer that cannot pass within the busy timeout
 * goes on to SQLite's lock, so a gate held too long delays, never deadlocks. */
static bool gate_enter(db *d)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += d->opt.busy_timeout_ms / 1000;
    until.tv_nsec += (long)(d->opt.busy_timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    bool got = true;
    pthread_mutex_lock(&d->gate_mu);
    while (d->gate_busy && got)
        got = pthread_cond_timedwait(&d->gate_cv, &d->gate_mu, &until) == 0 || !d->gate_busy;
    if (got)
        d->gate_busy = true;
    pthread_mutex_unlock(&d->gate_mu);
    return got;
}

static void gate_leave(db_conn *c)
{
    if (!c->gated)
        return;
    c->gated = false;
    db *d = c->d;
    pthread_mutex_lock(&d->gate_mu);
    d->gate_busy = false;
    pthread_cond_signal(&d->gate_cv);
    pthread_mutex_unlock(&d->gate_mu);
}

/* A db_begin inside an open transaction opens a savepoint instead, so a
 * function that writes "in one transaction" can be called from a caller
 * that wants several of them in one bigger transaction (a processing
 * writing a new version, its data and its annotations): the inner commit
 * releases the savepoint, the inner rollback undoes only the inner part,
 * and nothing is durable before the outermost commit. */
int db_begin(db_conn *c, err *e)
{
    if (c->in_tx) {
        char sql[48];
        snprintf(sql, sizeof sql, "SAVEPOINT cvops_sp%d", c->tx_depth);
        if (db_exec(c, sql, e) != 0)
            return -1;
        c->tx_depth++;
        return 0;
    }
    if (c->d->kind == DB_SQLITE)
        c->gated = gate_enter(c->d);
    if (db_exec(c, c->d->kind == DB_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN", e) != 0) {
        gate_leave(c);
        return -1;
    }
    c->in_tx = true;
    c->tx_depth = 1;
    return 0;
}

int db_commit(db_conn *c, err *e)
{
    if (c->in_tx && c->tx_depth > 1) {
        char sql[48];
        snprintf(sql, sizeof sql, "RELEASE SAVEPOINT cvops_sp%d", c->tx_depth - 1);
        if (db_exec(c, sql, e) != 0) {
            db_rollback(c);
            return -1;
        }
        c->tx_depth--;
        return 0;
    }
    int rc = db_exec(c, "COMMIT", e);
    if (rc != 0) {
        db_rollback(c);
        return -1;
    }
    c->in_tx = false;
    c->tx_depth = 0;
    gate_leave(c);
    return 0;
}

void db_rollback(db_conn *c)
{
    err ignore;
    if (c->in_tx && c->tx_depth > 1) {
        char sql[96];
        snprintf(sql, sizeof sql, "ROLLBACK TO SAVEPOINT cvops_sp%d; RELEASE SAVEPOINT cvops_sp%d",
                 c->tx_depth - 1, c->tx_depth - 1);
        if (c->d->ops->exec(c, sql, &ignore) == 0) {
            c->tx_depth--;
            return;
        }
    }
    c->d->ops->exec(c, "ROLLBACK", &ignore);
    c->in_tx = false;
    c->tx_depth = 0;
    gate_leave(c);
}

bool db_in_tx(const db_conn *c) { return c->in_tx; }

bool db_err_is_unique(const db_conn *c) { return c->last_unique; }

int db_count_params(const char *sql)
{
    int max = 0;
    char quote = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            continue;
        }
        if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '$' && p[1] >= '1' && p[1] <= '9') {
            int n = 0;
            const char *q = p + 1;
            while (*q >= '0' && *q <= '9')
                n = n * 10 + (*q++ - '0');
            if (n > max)
                max = n;
        }
    }
    return max;
}

/* The statement cache's key: FNV-1a over 8-byte words (SQL text is a few
 * hundred bytes, hashed on every query; bytewise it was a tenth of a
 * primary-key read). */
static uint64_t str_hash(const char *s)
{
    size_t n = strlen(s), i = 0;
    uint64_t h = 1469598103934665603ULL ^ n;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 1099511628211ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static db_stmt *stmt_new(db_conn *c, const char *sql, uint64_t h, bool cached, err *e)
{
    db_stmt *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    s->c = c;
    s->sql = strdup(sql);
    s->hash = h;
    s->cached = cached;
    if (!s->sql || c->d->ops->prepare(s, e) != 0) {
        free(s->sql);
        free(s);
        return NULL;
    }
    return s;
}

static void cache_clear(db_conn *c)
{
    for (int i = 0; i < DB_STMT_CACHE; i++) {
        db_stmt *s = c->cache[i];
        if (s && !s->in_use) {
            c->d->ops->finalize(s);
            free(s->sql);
            free(s);
            c->cache[i] = NULL;
            c->cache_count--;
        }
    }
}

db_stmt *db_prepare(db_conn *c, const char *sql, err *e)
{
    c->last_unique = false;
    uint64_t h = str_hash(sql);
    unsigned slot = (unsigned)(h % DB_STMT_CACHE);
    for (unsigned k = 0; k < DB_STMT_CACHE; k++) {
        unsigned i = (slot + k) % DB_STMT_CACHE;
        db_stmt *s = c->cache[i];
        if (!s)
            break;
        if (s->hash == h && strcmp(s->sql, sql) == 0) {
            if (s->in_use) /* nested use of the same SQL: a private copy */
                return stmt_new(c, sql, h, false, e);
            s->in_use = true;
            c->d->ops->clear(s);
            return s;
        }
    }
    /* Keep the table at most 3/4 full; dynamic SQL (search queries) would
     * otherwise grow it without bound. */
    if (c->cache_count >= DB_STMT_CACHE * 3 / 4)
        cache_clear(c);
    db_stmt *s = stmt_new(c, sql, h, true, e);
    if (!s)
        return NULL;
    unsigned i = slot;
    while (c->cache[i])
        i = (i + 1) % DB_STMT_CACHE;
    c->cache[i] = s;
    c->cache_count++;
    s->in_use = true;
    return s;
}

int db_bind(db_stmt *s, int idx, db_val v)
{
    if (v.t == DBV_TEXT && v.n == (size_t)-1)
        v.n = strlen(v.s);
    return s->c->d->ops->bind(s, idx, v);
}

int db_bind_all(db_stmt *s, const db_val *v, int n)
{
    for (int i = 0; i < n; i++)
        if (db_bind(s, i + 1, v[i]) != 0)
            return -1;
    return 0;
}

int db_step(db_stmt *s, err *e)
{
    s->c->last_unique = false;
    return s->c->d->ops->step(s, e);
}

void db_done(db_stmt *s)
{
    if (!s)
        return;
    const db_ops *ops = s->c->d->ops;
    ops->clear(s);
    if (!s->cached) {
        ops->finalize(s);
        free(s->sql);
        free(s);
        return;
    }
    s->in_use = false;
}

int db_col_count(db_stmt *s) { return s->c->d->ops->col_count(s); }
bool db_col_null(db_stmt *s, int col) { return s->c->d->ops->col_null(s, col); }
int64_t db_col_i64(db_stmt *s, int col) { return s->c->d->ops->col_i64(s, col); }
double db_col_dbl(db_stmt *s, int col) { return s->c->d->ops->col_dbl(s, col); }
const char *db_col_text(db_stmt *s, int col) { return s->c->d->ops->col_text(s, col); }
size_t db_col_len(db_stmt *s, int col) { return s->c->d->ops->col_len(s, col); }
const void *db_col_blob(db_stmt *s, int col, size_t *len)
{
    return s->c->d->ops->col_blob(s, col, len);
}
int64_t db_changes(db_stmt *s) { return s->c->d->ops->changes(s); }

db_stmt *db_query_(db_conn *c, err *e, const char *sql, const db_val *v, int n)
{
    db_stmt *s = db_prepare(c, sql, e);
    if (!s)
        return NULL;
    if (db_bind_all(s, v, n) != 0) {
        err_set(e, ERR_INTERNAL, "cannot bind parameters of: %.200s", sql);
        db_done(s);
        return NULL;
    }
    return s;
}

int64_t db_run_(db_conn *c, err *e, const char *sql, const db_val *v, int n)
{
    db_stmt *s = db_query_(c, e, sql, v, n);
    if (!s)
        return -1;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW)
        ;
    int64_t changes = rc < 0 ? -1 : db_changes(s);
    db_done(s);
    return changes;
}

int db_one_i64_(db_conn *c, err *e, int64_t *out, const char *sql, const db_val *v, int n)
{
    db_stmt *s = db_query_(c, e, sql, v, n);
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        *out = db_col_i64(s, 0);
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "no row");
    return rc < 0 ? -1 : 0;
}

/* --- migrations -------------------------------------------------------- */

int db_migrate(db *d, const db_migration *m, int n, int *applied, err *e)
{
    int count = 0;
    db_conn *c = db_get(d, e);
    if (!c)
        return -1;
    int rc = -1;
    if (db_exec(c,
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                e) != 0) {
        /* two processes racing to create it on PostgreSQL: the loser retries */
        if (d->kind != DB_POSTGRES || db_exec(c, "SELECT 1 FROM schema_migrations", e) != 0)
            goto out;
    }
    int64_t have = 0;
    db_one_i64(c, e, &have, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    int know = n ? m[n - 1].version : 0;
    if (have > know) {
        err_set(e, ERR_UNAVAILABLE,
                "the database schema is at version %lld but this cvops knows only up to %d; "
                "run a newer cvops",
                (long long)have, know);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (i > 0 && m[i].version <= m[i - 1].version) {
            err_set(e, ERR_INTERNAL, "migrations out of order at version %d", m[i].version);
            goto out;
        }
        if (db_begin(c, e) != 0)
            goto out;
        if (d->kind == DB_POSTGRES) {
            /* serialise concurrent starters; released at commit */
            if (db_run(c, e, "SELECT pg_advisory_xact_lock(7340001)") < 0) {
                db_rollback(c);
                goto out;
            }
        }
        int64_t exists = 0;
        if (db_one_i64(c, e, &exists, "SELECT COUNT(*) FROM schema_migrations WHERE version = $1",
                       DBI(m[i].version)) != 0) {
            db_rollback(c);
            goto out;
        }
        if (exists) {
            db_rollback(c);
            continue;
        }
        if (db_exec_schema(c, m[i].sql, e) != 0) {
            err_prefix(e, "migration %d (%s): ", m[i].version, m[i].name);
            db_rollback(c);
            goto out;
        }
        if (db_run(c, e, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                   DBI(m[i].version), DBT(m[i].name), DBI(time_now_ms())) < 0) {
            db_rollback(c);
            goto out;
        }
        if (db_commit(c, e) != 0)
            goto out;
        count++;
    }
    rc = 0;
out:
    db_put(c);
    if (applied)
        *applied = count;
    return rc;
}
