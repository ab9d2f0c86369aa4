/*
 * db_pg.c - the PostgreSQL driver (libpq).
 *
 * Statements are prepared server-side once per connection (PQprepare) and
 * executed with text parameters; results come back whole in text form.
 * Parameter types are inferred by the server from context, which is why the
 * portable SQL in this code base never leaves a `$N` without one (no bare
 * `SELECT $1`). A lost connection marks the db_conn broken so the pool
 * replaces it instead of handing it out again.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "store/db_impl.h"

typedef struct {
    db_conn base;
    PGconn *h;
} pg_conn;

typedef struct {
    char name[24];
    int nparams;
    char **vals;
    int *lens;
    int *fmts;
    PGresult *res;
    int row, nrows;
    bool executed;
    int64_t changes;
    unsigned char *blob; /* decoded bytea of the last db_col_blob */
    size_t blob_cap;
} pg_stmt;

static PGconn *H(db_conn *c) { return ((pg_conn *)c)->h; }

static void quiet_notices(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static int pg_connect(db *d, db_conn **out, err *e)
{
    pg_conn *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(e, ERR_INTERNAL, "out of memory");
    c->h = PQconnectdb(d->target);
    if (PQstatus(c->h) != CONNECTION_OK) {
        const char *m = PQerrorMessage(c->h);
        char msg[300];
        snprintf(msg, sizeof msg, "%s", m);
        size_t l = strlen(msg);
        while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
            msg[--l] = 0;
        err_set(e, ERR_UNAVAILABLE, "cannot connect to PostgreSQL: %s", msg);
        PQfinish(c->h);
        free(c);
        return -1;
    }
    PQsetNoticeProcessor(c->h, quiet_notices, NULL);
    PGresult *r = PQexec(c->h, "SET client_min_messages = warning");
    PQclear(r);
    *out = &c->base;
    return 0;
}

static void pg_disconnect(db_conn *c)
{
    PQfinish(H(c));
    free(c);
}

/* Maps a failed result to an err; marks the connection broken if lost. */
static int pg_error(db_conn *c, PGresult *r, err *e)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *prim = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!prim)
        prim = PQerrorMessage(H(c));
    if (PQstatus(H(c)) != CONNECTION_OK) {
        c->broken = true;
        return err_set(e, ERR_UNAVAILABLE, "lost the connection to PostgreSQL: %s", prim);
    }
    if (state && strcmp(state, "23505") == 0) {
        c->last_unique = true;
        return err_set(e, ERR_CONFLICT, "%s", prim);
    }
    if (state && strncmp(state, "23", 2) == 0)
        return err_set(e, ERR_CONFLICT, "%s", prim);
    if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
                  strcmp(state, "55P03") == 0))
        return err_set(e, ERR_UNAVAILABLE, "%s; try again", prim);
    if (state && strncmp(state, "22", 2) == 0)
        return err_set(e, ERR_INVALID, "%s", prim);
    return err_set(e, ERR_INTERNAL, "PostgreSQL error %s: %s", state ? state : "?", prim);
}

static int pg_exec(db_conn *c, const char *sql, err *e)
{
    PGresult *r = PQexec(H(c), sql);
    ExecStatusType st = PQresultStatus(r);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_error(c, r, e);
    PQclear(r);
    return rc;
}

static int pg_prepare(db_stmt *s, err *e)
{
    pg_stmt *q = calloc(1, sizeof *q);
    if (!q)
        return err_set(e, ERR_INTERNAL, "out of memory");
    snprintf(q->name, sizeof q->name, "s%u", ++s->c->stmt_seq);
    q->nparams = db_count_params(s->sql);
    if (q->nparams) {
        q->vals = calloc((size_t)q->nparams, sizeof *q->vals);
        q->lens = calloc((size_t)q->nparams, sizeof *q->lens);
        q->fmts = calloc((size_t)q->nparams, sizeof *q->fmts);
    }
    PGresult *r = PQprepare(H(s->c), q->name, s->sql, 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pg_error(s->c, r, e);
        err_prefix(e, "%.120s: ", s->sql);
        PQclear(r);
        free(q->vals);
        free(q->lens);
        free(q->fmts);
        free(q);
        return -1;
    }
    PQclear(r);
    s->drv = q;
    return 0;
}

static void pg_clear(db_stmt *s)
{
    pg_stmt *q = s->drv;
    for (int i = 0; i < q->nparams; i++) {
        free(q->vals[i]);
        q->vals[i] = NULL;
        q->lens[i] = 0;
        q->fmts[i] = 0;
    }
    if (q->res)
        PQclear(q->res);
    q->res = NULL;
    q->executed = false;
    q->row = -1;
    q->nrows = 0;
    q->changes = 0;
}

static void pg_finalize(db_stmt *s)
{
    pg_stmt *q = s->drv;
    if (!q)
        return;
    pg_clear(s);
    if (!s->c->broken) {
        char sql[48];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", q->name);
        PGresult *r = PQexec(H(s->c), sql);
        PQclear(r);
    }
    free(q->vals);
    free(q->lens);
    free(q->fmts);
    free(q->blob);
    free(q);
    s->drv = NULL;
}

static int pg_bind(db_stmt *s, int idx, db_val v)
{
    pg_stmt *q = s->drv;
    if (idx <= 0 || idx > q->nparams)
        return -1;
    int i = idx - 1;
    free(q->vals[i]);
    q->vals[i] = NULL;
    q->fmts[i] = 0;
    char tmp[40];
    switch (v.t) {
    case DBV_NULL:
        return 0;
    case DBV_I64:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v.i);
        q->vals[i] = strdup(tmp);
        break;
    case DBV_DBL:
        snprintf(tmp, sizeof tmp, "%.17g", v.d);
        q->vals[i] = strdup(tmp);
        break;
    case DBV_TEXT:
        /* PostgreSQL text cannot hold NUL: cut there (callers validate text) */
        q->vals[i] = strndup(v.s, v.n);
        break;
    case DBV_BLOB:
        q->vals[i] = malloc(v.n ? v.n : 1);
        if (q->vals[i])
            memcpy(q->vals[i], v.s, v.n);
        q->lens[i] = (int)v.n;
        q->fmts[i] = 1;
        break;
    }
    return q->vals[i] ? 0 : -1;
}

static int pg_step(db_stmt *s, err *e)
{
    pg_stmt *q = s->drv;
    if (!q->executed) {
        q->executed = true;
        q->res = PQexecPrepared(H(s->c), q->name, q->nparams, (const char *const *)q->vals,
                                q->lens, q->fmts, 0);
        ExecStatusType st = PQresultStatus(q->res);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
            int rc = pg_error(s->c, q->res, e);
            PQclear(q->res);
            q->res = NULL;
            return rc;
        }
        q->nrows = st == PGRES_TUPLES_OK ? PQntuples(q->res) : 0;
        const char *ct = PQcmdTuples(q->res);
        q->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
        q->row = -1;
    }
    if (!q->res)
        return DB_DONE;
    if (q->row + 1 < q->nrows) {
        q->row++;
        return DB_ROW;
    }
    return DB_DONE;
}

static pg_stmt *Q(db_stmt *s) { return s->drv; }

static bool pg_col_null(db_stmt *s, int col)
{
    return PQgetisnull(Q(s)->res, Q(s)->row, col);
}
static int64_t pg_col_i64(db_stmt *s, int col)
{
    const char *v = PQgetvalue(Q(s)->res, Q(s)->row, col);
    if (v[0] == 't' && !v[1]) /* boolean results of EXISTS(...) */
        return 1;
    if (v[0] == 'f' && !v[1])
        return 0;
    return strtoll(v, NULL, 10);
}
static double pg_col_dbl(db_stmt *s, int col)
{
    return strtod(PQgetvalue(Q(s)->res, Q(s)->row, col), NULL);
}
static const char *pg_col_text(db_stmt *s, int col)
{
    if (PQgetisnull(Q(s)->res, Q(s)->row, col))
        return NULL;
    return PQgetvalue(Q(s)->res, Q(s)->row, col);
}
static size_t pg_col_len(db_stmt *s, int col)
{
    return (size_t)PQgetlength(Q(s)->res, Q(s)->row, col);
}
static const void *pg_col_blob(db_stmt *s, int col, size_t *len)
{
    pg_stmt *q = Q(s);
    const char *v = PQgetvalue(q->res, q->row, col);
    size_t n = (size_t)PQgetlength(q->res, q->row, col);
    *len = 0;
    if (n < 2 || v[0] != '\\' || v[1] != 'x')
        return NULL;
    size_t out = (n - 2) / 2;
    if (out + 1 > q->blob_cap) {
        unsigned char *b = realloc(q->blob, out + 1);
        if (!b)
            return NULL;
        q->blob = b;
        q->blob_cap = out + 1;
    }
    if (hex_decode(v + 2, n - 2, q->blob) != 0)
        return NULL;
    *len = out;
    return q->blob;
}
static int pg_col_count(db_stmt *s) { return Q(s)->res ? PQnfields(Q(s)->res) : 0; }
static int64_t pg_changes(db_stmt *s) { return Q(s)->changes; }

const db_ops db_pg_ops = {
    .connect = pg_connect,
    .disconnect = pg_disconnect,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .bind = pg_bind,
    .clear = pg_clear,
    .step = pg_step,
    .col_null = pg_col_null,
    .col_i64 = pg_col_i64,
    .col_dbl = pg_col_dbl,
    .col_text = pg_col_text,
    .col_len = pg_col_len,
    .col_blob = pg_col_blob,
    .col_count = pg_col_count,
    .changes = pg_changes,
};
