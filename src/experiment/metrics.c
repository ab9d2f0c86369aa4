/*
 * metrics.c - metric series in chunks: appending a batch, loading a series
 * in step order, views (raw pages and downsampled), the series summary and
 * the comparison of several experiments. See experiment.h for the layout.
 *
 * Appending to a series (inside the caller's transaction):
 *   1. find or create the series row (locked FOR UPDATE on PostgreSQL, so
 *      two replicas appending to one series take turns on its tail chunk);
 *   2. sort the new points by step (stable: arrival order kept per step);
 *   3. if they continue the series' last ("tail") chunk and it has room,
 *      append them to it and rewrite it; the rest (or all of them, when
 *      they go back in steps) go into new chunks of TS_CHUNK_MAX points;
 *   4. update the row: count, extremes, latest point, whether the chunks
 *      are still in strict step order ("ordered").
 *
 * Because chunks are read in the order they were written and each merge
 * keeps older points before newer ones at the same step, a stable sort of
 * all the chunks' points puts every step's points in arrival order, and
 * keeping the last one implements "last write wins" with no updates in
 * place.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "experiment/experiment_impl.h"

typedef struct {
    int64_t id, npoints, step_min, step_max, last_step, last_time;
    double value_min, value_max, last_value;
    int64_t chunks, tail_n;
    bool ordered;
} series_row;

static int series_get(db_conn *c, int64_t experiment, const char *name, series_row *r, bool lock,
                      err *e)
{
    const char *sql =
        lock && db_conn_driver(c) == DB_POSTGRES
            ? "SELECT id, npoints, step_min, step_max, value_min, value_max, last_step, last_value,"
              " last_time, chunks, tail_n, ordered FROM metric_series"
              " WHERE experiment_id = $1 AND name = $2 FOR UPDATE"
            : "SELECT id, npoints, step_min, step_max, value_min, value_max, last_step, last_value,"
              " last_time, chunks, tail_n, ordered FROM metric_series"
              " WHERE experiment_id = $1 AND name = $2";
    db_stmt *s = db_query(c, e, sql, DBI(experiment), DBT(name));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        r->id = db_col_i64(s, 0);
        r->npoints = db_col_i64(s, 1);
        r->step_min = db_col_i64(s, 2);
        r->step_max = db_col_i64(s, 3);
        r->value_min = db_col_dbl(s, 4);
        r->value_max = db_col_dbl(s, 5);
        r->last_step = db_col_i64(s, 6);
        r->last_value = db_col_dbl(s, 7);
        r->last_time = db_col_i64(s, 8);
        r->chunks = db_col_i64(s, 9);
        r->tail_n = db_col_i64(s, 10);
        r->ordered = db_col_i64(s, 11) != 0;
    }
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "experiment %lld has no metric '%.200s'",
                       (long long)experiment, name);
    return rc < 0 ? -1 : 0;
}

/* --- appending ------------------------------------------------------------- */

typedef struct {
    ts_point *buf; /* scratch: merged points */
    size_t cap;
    ts_point *tmp; /* scratch: sorting */
    size_t tmp_cap;
    unsigned char *enc;
    size_t enc_cap;
} scratch;

static int reserve(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    void *np = realloc(*p, n * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = n;
    return 0;
}

static int chunk_write(db_conn *c, int64_t series, int64_t seq, const ts_point *p, size_t n,
                       bool update, scratch *sc, err *e)
{
    if (reserve((void **)&sc->enc, &sc->enc_cap, ts_encode_bound(n), 1) != 0)
        return err_set(e, ERR_INTERNAL, "out of memory");
    size_t len = ts_encode(p, n, sc->enc);
    int64_t rc;
    if (update)
        rc = db_run(c, e,
                    "UPDATE metric_chunk SET n = $1, step_min = $2, step_max = $3, data = $4"
                    " WHERE series_id = $5 AND seq = $6",
                    DBI(n), DBI(p[0].step), DBI(p[n - 1].step), DBB(sc->enc, len), DBI(series),
                    DBI(seq));
    else
        rc = db_run(c, e,
                    "INSERT INTO metric_chunk (series_id, seq, n, step_min, step_max, data)"
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    DBI(series), DBI(seq), DBI(n), DBI(p[0].step), DBI(p[n - 1].step),
                    DBB(sc->enc, len));
    return rc < 0 ? -1 : 0;
}

static int load_chunk(db_conn *c, int64_t series, int64_t seq, ts_point *out, size_t cap,
                      size_t *n, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT data FROM metric_chunk WHERE series_id = $1 AND seq = $2",
                          DBI(series), DBI(seq));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        size_t len;
        const void *data = db_col_blob(s, 0, &len);
        rc = data ? ts_decode(data, len, out, cap, n, e)
                  : err_set(e, ERR_INTERNAL, "metric chunk %lld/%lld is unreadable",
                            (long long)series, (long long)seq);
    } else if (rc == DB_DONE) {
        rc = err_set(e, ERR_INTERNAL, "metric chunk %lld/%lld is missing", (long long)series,
                     (long long)seq);
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

/* Appends p[0..n) (sorted by step, stable) to one series. */
static int append_series(db_conn *c, int64_t experiment, const char *name, ts_point *p, size_t n,
                         scratch *sc, err *e)
{
    series_row r;
    if (series_get(c, experiment, name, &r, true, e) != 0) {
        if (e->code != ERR_NOT_FOUND)
            return -1;
        if (db_run(c, e,
                   "INSERT INTO metric_series (experiment_id, name) VALUES ($1, $2)"
                   " ON CONFLICT (experiment_id, name) DO NOTHING",
                   DBI(experiment), DBT(name)) < 0 ||
            series_get(c, experiment, name, &r, true, e) != 0)
            return -1;
    }
    bool strict = ts_is_strictly_sorted(p, n);
    bool ordered = r.ordered && strict && (r.npoints == 0 || p[0].step > r.step_max);

    /* the points to write from the tail chunk on: old tail + new, merged */
    const ts_point *w = p;
    size_t wn = n;
    int64_t seq = r.chunks;
    bool update_tail = false;
    if (r.chunks > 0 && r.tail_n < TS_CHUNK_MAX) {
        size_t tn = (size_t)r.tail_n, got = 0;
        if (reserve((void **)&sc->buf, &sc->cap, tn + n, sizeof *sc->buf) != 0)
            return err_set(e, ERR_INTERNAL, "out of memory");
        if (load_chunk(c, r.id, r.chunks - 1, sc->buf, tn, &got, e) != 0)
            return -1;
        if (got != tn)
            return err_set(e, ERR_INTERNAL, "metric chunk %lld/%lld holds %zu points, not %zu",
                           (long long)r.id, (long long)(r.chunks - 1), got, tn);
        /* Fill the tail only with points that continue it. Points that go
         * back start chunks of their own: each batch then stays a run of
         * chunks with a step range apart from the others, which is what
         * lets reads order out-of-order batches without sorting points. */
        if (tn == 0 || p[0].step >= sc->buf[tn - 1].step) {
            memcpy(sc->buf + tn, p, n * sizeof *p);
            w = sc->buf;
            wn = tn + n;
            seq = r.chunks - 1;
            update_tail = true;
        }
    }
    int64_t tail_n = 0;
    for (size_t off = 0; off < wn; off += TS_CHUNK_MAX) {
        size_t k = wn - off < TS_CHUNK_MAX ? wn - off : TS_CHUNK_MAX;
        if (chunk_write(c, r.id, seq, w + off, k, update_tail, sc, e) != 0)
            return -1;
        update_tail = false;
        tail_n = (int64_t)k;
        seq++;
    }

    /* the row: extremes, latest point (highest step; the last logged at it) */
    double vmin = p[0].value, vmax = p[0].value;
    for (size_t i = 1; i < n; i++) {
        if (p[i].value < vmin)
            vmin = p[i].value;
        if (p[i].value > vmax)
            vmax = p[i].value;
    }
    const ts_point *last = &p[n - 1];
    bool first = r.npoints == 0;
    if (!first) {
        vmin = vmin < r.value_min ? vmin : r.value_min;
        vmax = vmax > r.value_max ? vmax : r.value_max;
    }
    bool newer = first || last->step >= r.last_step;
    return db_run(c, e,
                  "UPDATE metric_series SET npoints = npoints + $1, step_min = $2, step_max = $3,"
                  " value_min = $4, value_max = $5, last_step = $6, last_value = $7,"
                  " last_time = $8, chunks = $9, tail_n = $10, ordered = $11 WHERE id = $12",
                  DBI(n), DBI(first || p[0].step < r.step_min ? p[0].step : r.step_min),
                  DBI(first || last->step > r.step_max ? last->step : r.step_max), DBD(vmin),
                  DBD(vmax), DBI(newer ? last->step : r.last_step),
                  DBD(newer ? last->value : r.last_value),
                  DBI(newer ? last->time : r.last_time), DBI(seq), DBI(tail_n),
                  DBI(ordered ? 1 : 0), DBI(r.id)) < 0
               ? -1
               : 0;
}

int exp_points_apply(db_conn *c, int64_t org, int64_t experiment, const exp_batch *b, err *e)
{
    if (exp_lock(c, org, experiment, e) != 0)
        return -1;
    if (b->npoints == 0)
        return 0;
    /* group by series, keeping arrival order: offsets by counting */
    size_t *off = calloc(b->nseries + 1, sizeof *off);
    ts_point *grouped = malloc(b->npoints * sizeof *grouped);
    scratch sc = {0};
    int rc = -1;
    if (!off || !grouped) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < b->nseries; i++)
        off[i + 1] = off[i] + b->series[i].count;
    size_t *fill = calloc(b->nseries, sizeof *fill);
    if (!fill) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < b->npoints; i++) {
        uint32_t s = b->points[i].series;
        grouped[off[s] + fill[s]++] = b->points[i].p;
    }
    free(fill);
    for (size_t i = 0; i < b->nseries; i++) {
        size_t n = off[i + 1] - off[i];
        if (!n)
            continue;
        ts_point *p = grouped + off[i];
        if (reserve((void **)&sc.tmp, &sc.tmp_cap, n, sizeof *sc.tmp) != 0 ||
            ts_sort(p, n, sc.tmp) != 0) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
        if (append_series(c, experiment, b->series[i].name, p, n, &sc, e) != 0) {
            err_prefix(e, "metric '%.200s': ", b->series[i].name);
            goto out;
        }
    }
    rc = 0;
out:
    free(off);
    free(grouped);
    free(sc.buf);
    free(sc.tmp);
    free(sc.enc);
    return rc;
}

/* --- loading ------------------------------------------------------------- */

/* Reading: chunks come back in writing order. An "ordered" series is read
 * as is; otherwise see order_points(). */

/* Points of an ordered series with step in [from, to], from the chunks'
 * counts: whole chunks inside the range count n, the (at most two) chunks
 * across its edges are decoded. */
static int range_total(db_conn *c, const series_row *r, int64_t from, int64_t to, int64_t *total,
                       err *e)
{
    if (db_one_i64(c, e, total,
                   "SELECT COALESCE(SUM(n), 0) FROM metric_chunk WHERE series_id = $1"
                   " AND step_min >= $2 AND step_max <= $3",
                   DBI(r->id), DBI(from), DBI(to)) != 0)
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT n, data FROM metric_chunk WHERE series_id = $1 AND step_max >= $2"
                          " AND step_min <= $3 AND (step_min < $2 OR step_max > $3)",
                          DBI(r->id), DBI(from), DBI(to));
    if (!s)
        return -1;
    int rc;
    ts_point buf[TS_CHUNK_MAX];
    while ((rc = db_step(s, e)) == DB_ROW) {
        size_t len, got = 0;
        const void *data = db_col_blob(s, 1, &len);
        if (!data || ts_decode(data, len, buf, TS_CHUNK_MAX, &got, e) != 0) {
            if (!data)
                err_set(e, ERR_INTERNAL, "a metric chunk of series %lld is unreadable",
                        (long long)r->id);
            rc = -1;
            break;
        }
        for (size_t i = 0; i < got; i++)
            *total += buf[i].step >= from && buf[i].step <= to;
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

typedef struct {
    size_t off, n;          /* its points in the loaded array */
    int64_t step_min, step_max;
} chunk_span;

static int span_cmp(const void *a, const void *b)
{
    const chunk_span *x = a, *y = b;
    if (x->step_min != y->step_min)
        return x->step_min < y->step_min ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off; /* then in writing order */
}

static int span_off_cmp(const void *a, const void *b)
{
    const chunk_span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Orders the points of a series whose chunks are not in step order (each
 * chunk is). Chunks sorted by first step fall into groups whose step
 * ranges overlap; groups are apart, so only the points inside a group need
 * sorting, and a group is usually one chunk (batches that arrived out of
 * order) or a few (a tail chunk that spans a gap, steps logged again).
 * Inside a group the points are sorted stably in writing order, so the
 * last point of a step is the one logged last. Returns the count, or -1
 * when out of memory. */
static long order_points(ts_point **pp, size_t len, chunk_span *spans, size_t ns)
{
    ts_point *p = *pp;
    qsort(spans, ns, sizeof *spans, span_cmp);
    ts_point *q = malloc((len ? len : 1) * sizeof *q);
    if (!q)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < ns;) {
        size_t j = i + 1;
        int64_t hi = spans[i].step_max;
        while (j < ns && spans[j].step_min <= hi) {
            if (spans[j].step_max > hi)
                hi = spans[j].step_max;
            j++;
        }
        size_t start = k;
        if (j - i > 1) /* the group's chunks in writing order */
            qsort(spans + i, j - i, sizeof *spans, span_off_cmp);
        for (size_t x = i; x < j; x++) {
            memcpy(q + k, p + spans[x].off, spans[x].n * sizeof *q);
            k += spans[x].n;
        }
        if (j - i > 1 && ts_sort(q + start, k - start, NULL) != 0) {
            free(q);
            return -1;
        }
        i = j;
    }
    free(p);
    *pp = q;
    /* sorted now; a step may still be there twice (logged again) */
    return ts_sort_dedupe(q, len, NULL);
}

/* Loads the points of a series with step in [from, to], in step order, one
 * per step. max > 0: an ordered series may stop after max + 1 points. */
static int load_range(db_conn *c, const series_row *r, int64_t from, int64_t to, size_t max,
                      ts_point **out, size_t *n, err *e)
{
    *out = NULL;
    *n = 0;
    db_stmt *s = db_query(c, e,
                          "SELECT n, data FROM metric_chunk WHERE series_id = $1 AND step_max >= $2"
                          " AND step_min <= $3 ORDER BY seq",
                          DBI(r->id), DBI(from), DBI(to));
    if (!s)
        return -1;
    ts_point *p = NULL;
    chunk_span *spans = NULL;
    size_t cap = 0, len = 0, ns = 0, span_cap = 0;
    /* room for the whole series up front (bounded): growing by doubling
     * would copy a large series several times */
    size_t guess = r->npoints > 0 ? (size_t)r->npoints : 0;
    if (max && guess > max + TS_CHUNK_MAX)
        guess = max + TS_CHUNK_MAX;
    if (guess > ((size_t)1 << 26))
        guess = (size_t)1 << 26;
    if (guess && reserve((void **)&p, &cap, guess, sizeof *p) != 0) {
        db_done(s);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        size_t k = (size_t)db_col_i64(s, 0), got = 0, blen;
        if (reserve((void **)&p, &cap, len + k, sizeof *p) != 0 ||
            reserve((void **)&spans, &span_cap, ns + 1, sizeof *spans) != 0) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            break;
        }
        const void *data = db_col_blob(s, 1, &blen);
        if (!data || ts_decode(data, blen, p + len, k, &got, e) != 0) {
            if (!data)
                err_set(e, ERR_INTERNAL, "a metric chunk of series %lld is unreadable",
                        (long long)r->id);
            rc = -1;
            break;
        }
        /* keep the range only (chunks overlap its edges) */
        size_t keep = len;
        for (size_t i = len; i < len + got; i++)
            if (p[i].step >= from && p[i].step <= to)
                p[keep++] = p[i];
        if (keep > len)
            spans[ns++] = (chunk_span){len, keep - len, p[len].step, p[keep - 1].step};
        len = keep;
        if (r->ordered && max && len > max)
            break;
    }
    db_done(s);
    if (rc < 0) {
        free(p);
        free(spans);
        return -1;
    }
    if (!r->ordered) {
        /* a chunk is sorted by step: its first and last points bound it */
        long k = order_points(&p, len, spans, ns);
        if (k < 0) {
            free(p);
            free(spans);
            return err_set(e, ERR_INTERNAL, "out of memory");
        }
        len = (size_t)k;
    }
    free(spans);
    *out = p;
    *n = len;
    return 0;
}

int exp_series_load(db_conn *c, int64_t experiment, const char *name, int64_t from, int64_t to,
                    ts_point **out, size_t *n, err *e)
{
    series_row r;
    if (series_get(c, experiment, name, &r, false, e) != 0)
        return -1;
    return load_range(c, &r, from, to, 0, out, n, e);
}

static void write_points(jw *w, const ts_point *p, size_t n)
{
    jw_key(w, "steps");
    jw_arr(w);
    for (size_t i = 0; i < n; i++)
        jw_int(w, p[i].step);
    jw_arr_end(w);
    jw_key(w, "values");
    jw_arr(w);
    for (size_t i = 0; i < n; i++)
        jw_dbl(w, p[i].value);
    jw_arr_end(w);
    jw_key(w, "times");
    jw_arr(w);
    for (size_t i = 0; i < n; i++)
        jw_int(w, p[i].time);
    jw_arr_end(w);
}

int exp_series_write(db_conn *c, int64_t org, int64_t experiment, const exp_series_query *q,
                     jw *w, err *e)
{
    if (exp_check(c, org, experiment, e) != 0)
        return -1;
    series_row r;
    if (series_get(c, experiment, q->name, &r, false, e) != 0)
        return -1;
    size_t limit = q->limit ? q->limit : 10000;
    ts_point *p = NULL;
    size_t n = 0;
    if (load_range(c, &r, q->from, q->to, q->points ? 0 : limit, &p, &n, e) != 0)
        return -1;
    /* an ordered series read for one page stops early: count the rest */
    int64_t total = (int64_t)n;
    if (!q->points && n > limit && r.ordered && range_total(c, &r, q->from, q->to, &total, e) != 0) {
        free(p);
        return -1;
    }
    jw_obj(w);
    jw_kstr(w, "name", q->name);
    jw_kint(w, "total", total);
    if (q->points && n > q->points) {
        ts_point *v = malloc(q->points * sizeof *v);
        if (!v) {
            free(p);
            return err_set(e, ERR_INTERNAL, "out of memory");
        }
        size_t k = q->method == EXP_DS_LTTB ? ts_lttb(p, n, q->points, v)
                                            : ts_minmax(p, n, q->points, v);
        jw_kbool(w, "downsampled", true);
        jw_kstr(w, "method", q->method == EXP_DS_LTTB ? "lttb" : "minmax");
        write_points(w, v, k);
        free(v);
        jw_key(w, "next_from");
        jw_null(w);
    } else {
        size_t k = q->points ? n : (n > limit ? limit : n);
        jw_kbool(w, "downsampled", false);
        jw_key(w, "method");
        jw_null(w);
        write_points(w, p, k);
        jw_key(w, "next_from");
        if (!q->points && n > limit)
            jw_int(w, p[limit].step);
        else
            jw_null(w);
    }
    jw_obj_end(w);
    free(p);
    return 0;
}

int exp_series_list(db_conn *c, int64_t org, int64_t experiment, jw *w, err *e)
{
    if (exp_check(c, org, experiment, e) != 0)
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT name, npoints, step_min, step_max, value_min, value_max,"
                          " last_step, last_value, last_time FROM metric_series"
                          " WHERE experiment_id = $1 ORDER BY name",
                          DBI(experiment));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kstr(w, "name", db_col_text(s, 0));
        jw_kint(w, "count", db_col_i64(s, 1));
        if (db_col_i64(s, 1) > 0) {
            jw_kint(w, "first_step", db_col_i64(s, 2));
            jw_kint(w, "last_step", db_col_i64(s, 6));
            jw_kdbl(w, "min", db_col_dbl(s, 4));
            jw_kdbl(w, "max", db_col_dbl(s, 5));
            jw_kdbl(w, "last", db_col_dbl(s, 7));
            jw_kint(w, "last_time", db_col_i64(s, 8));
            jw_kint(w, "max_step", db_col_i64(s, 3));
        }
        jw_obj_end(w);
    }
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

/* --- comparison --------------------------------------------------------------- */

typedef struct {
    int64_t id;
    ts_point *p;
    size_t n;
} cmp_series;

/* A comparison holds every series of a metric in memory only when they
 * might align exactly, and never more than this many points. */
#define COMPARE_IN_MEMORY 2000000

static int write_params_diff(db_conn *c, const int64_t *ids, size_t n, jw *w, err *e)
{
    /* every parameter name of any of the experiments, with each one's value */
    json_t *names = json_object(); /* name -> array of n values (JSON text or null) */
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        db_stmt *s = db_query(c, e,
                              "SELECT name, value FROM experiment_param WHERE experiment_id = $1",
                              DBI(ids[i]));
        if (!s) {
            rc = -1;
            break;
        }
        int st;
        while ((st = db_step(s, e)) == DB_ROW) {
            const char *k = db_col_text(s, 0);
            json_t *vals = json_object_get(names, k);
            if (!vals) {
                vals = json_array();
                for (size_t j = 0; j < n; j++)
                    json_array_append_new(vals, json_null());
                json_object_set_new(names, k, vals);
            }
            json_array_set_new(vals, i, json_stringn(db_col_text(s, 1), db_col_len(s, 1)));
        }
        db_done(s);
        if (st < 0)
            rc = -1;
    }
    if (rc == 0) {
        /* sorted by name, differing ones marked */
        size_t nk = json_object_size(names), k = 0;
        const char **keys = malloc((nk ? nk : 1) * sizeof *keys);
        const char *key;
        json_t *v;
        json_object_foreach(names, key, v) keys[k++] = key;
        for (size_t i = 1; i < nk; i++)
            for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
                const char *t = keys[j];
                keys[j] = keys[j - 1];
                keys[j - 1] = t;
            }
        jw_key(w, "params");
        jw_arr(w);
        for (size_t i = 0; i < nk; i++) {
            json_t *vals = json_object_get(names, keys[i]);
            bool differs = false;
            for (size_t j = 1; j < n; j++) {
                json_t *a = json_array_get(vals, 0), *b = json_array_get(vals, j);
                if (json_is_null(a) != json_is_null(b) ||
                    (!json_is_null(a) && strcmp(json_string_value(a), json_string_value(b)) != 0))
                    differs = true;
            }
            jw_obj(w);
            jw_kstr(w, "name", keys[i]);
            jw_kbool(w, "differs", differs);
            jw_key(w, "values");
            jw_arr(w);
            for (size_t j = 0; j < n; j++) {
                json_t *x = json_array_get(vals, j);
                if (json_is_null(x))
                    jw_null(w);
                else
                    jw_raw(w, json_string_value(x), json_string_length(x));
            }
            jw_arr_end(w);
            jw_obj_end(w);
        }
        jw_arr_end(w);
        free(keys);
    }
    json_decref(names);
    return rc;
}

/* Step buckets of equal width over [lo, hi], nb per experiment in bk;
 * buckets empty for every experiment are left out. */
static void write_buckets(jw *w, const int64_t *ids, size_t n, const ts_bucket *bk, size_t nb,
                          int64_t lo, int64_t hi)
{
    bool *used = calloc(nb, sizeof *used);
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < nb; b++)
            used[b] |= bk[i * nb + b].count > 0;
    jw_kstr(w, "aligned", "buckets");
    jw_key(w, "steps");
    jw_arr(w);
    for (size_t b = 0; b < nb; b++)
        if (used[b])
            jw_int(w, ts_bucket_start(lo, hi, nb, b));
    jw_arr_end(w);
    jw_key(w, "series");
    jw_arr(w);
    static const char *const fields[] = {"values", "min", "max"};
    for (size_t i = 0; i < n; i++) {
        jw_obj(w);
        jw_kint(w, "experiment_id", ids[i]);
        for (int f = 0; f < 3; f++) {
            jw_key(w, fields[f]);
            jw_arr(w);
            for (size_t b = 0; b < nb; b++) {
                if (!used[b])
                    continue;
                const ts_bucket *x = &bk[i * nb + b];
                if (!x->count)
                    jw_null(w);
                else
                    jw_dbl(w, f == 0 ? x->sum / (double)x->count : f == 1 ? x->min : x->max);
            }
            jw_arr_end(w);
        }
        jw_obj_end(w);
    }
    jw_arr_end(w);
    free(used);
}

/* Series of one metric for every experiment, aligned by step. */
static void write_aligned(jw *w, const char *name, cmp_series *cs, size_t n, size_t points)
{
    /* the union of steps (k-way merge of sorted, duplicate-free series) */
    size_t total = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        total += cs[i].n;
        if (cs[i].n) {
            lo = cs[i].p[0].step < lo ? cs[i].p[0].step : lo;
            hi = cs[i].p[cs[i].n - 1].step > hi ? cs[i].p[cs[i].n - 1].step : hi;
        }
    }
    size_t *pos = calloc(n, sizeof *pos);
    int64_t *steps = malloc((total ? total : 1) * sizeof *steps);
    size_t ns = 0;
    for (;;) {
        int64_t m = INT64_MAX;
        bool any = false;
        for (size_t i = 0; i < n; i++)
            if (pos[i] < cs[i].n && cs[i].p[pos[i]].step <= m) {
                m = cs[i].p[pos[i]].step;
                any = true;
            }
        if (!any)
            break;
        steps[ns++] = m;
        for (size_t i = 0; i < n; i++)
            if (pos[i] < cs[i].n && cs[i].p[pos[i]].step == m)
                pos[i]++;
        if (ns > points)
            break; /* too many: buckets */
    }
    jw_obj(w);
    jw_kstr(w, "name", name);
    if (ns <= points) {
        jw_kstr(w, "aligned", "steps");
        jw_key(w, "steps");
        jw_arr(w);
        for (size_t k = 0; k < ns; k++)
            jw_int(w, steps[k]);
        jw_arr_end(w);
        jw_key(w, "series");
        jw_arr(w);
        for (size_t i = 0; i < n; i++) {
            jw_obj(w);
            jw_kint(w, "experiment_id", cs[i].id);
            jw_key(w, "values");
            jw_arr(w);
            size_t j = 0;
            for (size_t k = 0; k < ns; k++) {
                if (j < cs[i].n && cs[i].p[j].step == steps[k])
                    jw_dbl(w, cs[i].p[j++].value);
                else
                    jw_null(w);
            }
            jw_arr_end(w);
            jw_obj_end(w);
        }
        jw_arr_end(w);
    } else {
        size_t nb = points;
        ts_bucket *bk = calloc(n * nb, sizeof *bk);
        int64_t *ids = malloc(n * sizeof *ids);
        for (size_t i = 0; i < n; i++) {
            ts_buckets(cs[i].p, cs[i].n, lo, hi, nb, bk + i * nb);
            ids[i] = cs[i].id;
        }
        write_buckets(w, ids, n, bk, nb, lo, hi);
        free(bk);
        free(ids);
    }
    jw_obj_end(w);
    free(pos);
    free(steps);
}

int exp_compare(db_conn *c, int64_t org, const int64_t *ids, size_t n, const char *const *metrics,
                size_t nmetrics, size_t points, jw *w, err *e)
{
    if (n < 1 || n > EXP_COMPARE_MAX)
        return err_set(e, ERR_INVALID, "compare between 1 and %d experiments, got %zu",
                       EXP_COMPARE_MAX, n);
    if (points < 2 || points > EXP_VIEW_MAX)
        return err_set(e, ERR_INVALID, "points must be between 2 and %d", EXP_VIEW_MAX);
    jw_obj(w);
    jw_key(w, "experiments");
    jw_arr(w);
    for (size_t i = 0; i < n; i++) {
        db_stmt *s = db_query(c, e,
                              "SELECT id, project_id, name, status, created_at FROM experiment"
                              " WHERE id = $1 AND org_id = $2",
                              DBI(ids[i]), DBI(org));
        if (!s)
            return -1;
        int rc = db_step(s, e);
        if (rc == DB_ROW) {
            jw_obj(w);
            jw_kint(w, "id", db_col_i64(s, 0));
            jw_kint(w, "project_id", db_col_i64(s, 1));
            jw_kstr(w, "name", db_col_text(s, 2));
            jw_kstr(w, "status", db_col_text(s, 3));
            exp_jw_time(w, "created_at", s, 4);
            jw_obj_end(w);
        }
        db_done(s);
        if (rc == DB_DONE)
            return err_set(e, ERR_NOT_FOUND, "experiment %lld does not exist in this organization",
                           (long long)ids[i]);
        if (rc < 0)
            return -1;
    }
    jw_arr_end(w);
    if (write_params_diff(c, ids, n, w, e) != 0)
        return -1;

    /* the metrics to compare: those asked for, or every metric of any of them */
    json_t *names = json_array();
    if (nmetrics) {
        for (size_t i = 0; i < nmetrics; i++)
            json_array_append_new(names, json_string(metrics[i]));
    } else {
        sbuf sql = SBUF_INIT;
        sbuf_puts(&sql, "SELECT DISTINCT name FROM metric_series WHERE experiment_id IN (");
        for (size_t i = 0; i < n; i++)
            sbuf_printf(&sql, "%s$%zu", i ? ", " : "", i + 1);
        sbuf_puts(&sql, ") ORDER BY name");
        db_stmt *s = db_prepare(c, sbuf_cstr(&sql), e);
        sbuf_free(&sql);
        if (!s) {
            json_decref(names);
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            db_bind(s, (int)i + 1, DBI(ids[i]));
        int rc;
        while ((rc = db_step(s, e)) == DB_ROW && json_array_size(names) < 200)
            json_array_append_new(names, json_string(db_col_text(s, 0)));
        db_done(s);
        if (rc < 0) {
            json_decref(names);
            return -1;
        }
    }
    jw_key(w, "metrics");
    jw_arr(w);
    cmp_series *cs = calloc(n, sizeof *cs);
    int rc = 0;
    for (size_t m = 0; m < json_array_size(names) && rc == 0; m++) {
        const char *name = json_string_value(json_array_get(names, m));
        /* the series' sizes and step ranges from their rows */
        int64_t total = 0, lo = INT64_MAX, hi = INT64_MIN;
        for (size_t i = 0; i < n && rc == 0; i++) {
            series_row r;
            if (series_get(c, ids[i], name, &r, false, e) != 0) {
                rc = e->code == ERR_NOT_FOUND ? 0 : -1;
                continue;
            }
            total += r.npoints;
            if (r.npoints > 0) {
                lo = r.step_min < lo ? r.step_min : lo;
                hi = r.step_max > hi ? r.step_max : hi;
            }
        }
        if (rc)
            break;
        /* more points than n * points means the union of steps is larger
         * than points: buckets, one series in memory at a time */
        if (total > COMPARE_IN_MEMORY || total > (int64_t)(n * points)) {
            ts_bucket *bk = calloc(n * points, sizeof *bk);
            for (size_t i = 0; i < n && rc == 0 && bk; i++) {
                ts_point *p = NULL;
                size_t np = 0;
                if (exp_series_load(c, ids[i], name, lo, hi, &p, &np, e) != 0) {
                    rc = e->code == ERR_NOT_FOUND ? 0 : -1;
                    continue;
                }
                ts_buckets(p, np, lo, hi, points, bk + i * points);
                free(p);
            }
            if (!bk)
                rc = err_set(e, ERR_INTERNAL, "out of memory");
            if (rc == 0) {
                jw_obj(w);
                jw_kstr(w, "name", name);
                write_buckets(w, ids, n, bk, points, lo, hi);
                jw_obj_end(w);
            }
            free(bk);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            cs[i] = (cmp_series){.id = ids[i]};
            if (exp_series_load(c, ids[i], name, INT64_MIN, INT64_MAX, &cs[i].p, &cs[i].n, e) != 0) {
                if (e->code != ERR_NOT_FOUND) {
                    rc = -1;
                    break;
                }
                cs[i].p = NULL;
                cs[i].n = 0;
            }
        }
        if (rc == 0)
            write_aligned(w, name, cs, n, points);
        for (size_t i = 0; i < n; i++) {
            free(cs[i].p);
            cs[i].p = NULL;
        }
    }
    free(cs);
    json_decref(names);
    if (rc)
        return -1;
    jw_arr_end(w);
    jw_obj_end(w);
    return 0;
}
