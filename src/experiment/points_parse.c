/*
 * points_parse.c - the metric batch parser: a request body of up to
 * EXP_BATCH_MAX points, read as it streams in (yajl callbacks driving a
 * small state machine), into one flat array of points and a table of the
 * series they belong to.
 *
 * Why not jansson: a 10,000-point batch is ~50,000 JSON values; building a
 * tree of them and walking it costs several times the parse itself, and
 * batches are the hot path of training scripts. The state machine accepts
 * exactly two shapes and says precisely what is wrong with anything else:
 *
 *   {"points": [{"name": "loss", "step": 1, "value": 0.5, "time": 1712...}, ...],
 *    "series": [{"name": "loss", "steps": [1, 2], "values": [0.5, 0.4],
 *                "times": [1712..., 1712...]}, ...]}
 *
 * A column of a series may also be a string: base64 of little-endian
 * 8-byte numbers (int64 steps and times, float64 values), which a client
 * holding arrays of numbers produces without formatting any of them.
 *
 * Either key may be absent. `time` / `times` are optional (ms since the
 * epoch; default: when the batch arrived). Steps and times are whole
 * numbers in [0, 2^53]; values are finite numbers.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "base/util.h"
#include "experiment/experiment.h"

enum state {
    S_START,
    S_TOP,
    S_TOP_POINTS, /* after "points": expect [ */
    S_POINTS,     /* in the points array */
    S_POINT,      /* in a point object: key or } */
    S_POINT_VAL,  /* after a key of a point */
    S_TOP_SERIES, /* after "series": expect [ */
    S_SERIES,     /* in the series array */
    S_SER,        /* in a series object: key or } */
    S_SER_VAL,    /* after a key of a series object */
    S_SER_ARR,    /* inside steps/values/times */
    S_END,
};

enum { F_NAME, F_STEP, F_VALUE, F_TIME }; /* point fields; series: name, steps, values, times */

#define NAME_HASH 1024 /* open addressing over series names; EXP_BATCH_SERIES_MAX < this */

struct exp_points_parser {
    yajl_handle h;
    enum state st;
    bool seen_points, seen_series;
    int field;         /* key being read */
    unsigned seen;     /* fields seen in the current object (bit per field) */
    size_t index;      /* position of the current point / series object */
    size_t arr_pos;    /* position inside a steps/values/times array */
    size_t obj_start;  /* series object: its first point in the flat array */
    size_t col[4];     /* series object: items read per column */
    int64_t now;
    size_t max_points;
    err *e;            /* where callbacks put the error */
    bool failed;
    exp_batch b;
    size_t cap;
    size_t fed; /* bytes fed so far */
    uint32_t slot[NAME_HASH]; /* series index + 1, 0 = empty */
    char tmp_name[EXP_METRIC_NAME_MAX + 1];
    size_t tmp_name_len;
};

static const char *const point_fields[] = {"name", "step", "value", "time"};
static const char *const series_fields[] = {"name", "steps", "values", "times"};

static int fail(exp_points_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(exp_points_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    p->e->code = ERR_INVALID;
    vsnprintf(p->e->msg, sizeof p->e->msg, fmt, ap);
    va_end(ap);
    p->failed = true;
    return 0; /* stops yajl */
}

/* "points[3]" or "series[1]" */
static const char *where(exp_points_parser *p, char *buf, size_t n)
{
    bool ser = p->st >= S_TOP_SERIES && p->st <= S_SER_ARR;
    snprintf(buf, n, "%s[%zu]", ser ? "series" : "points", p->index);
    return buf;
}

static int grow(exp_points_parser *p, size_t need)
{
    if (need > p->max_points)
        return -1;
    if (need <= p->cap)
        return 0;
    size_t cap = p->cap ? p->cap * 2 : 64; /* most requests are small */
    while (cap < need)
        cap *= 2;
    if (cap > p->max_points)
        cap = p->max_points;
    exp_batch_point *np = realloc(p->b.points, cap * sizeof *np);
    if (!np)
        return -1;
    p->b.points = np;
    p->cap = cap;
    return 0;
}

static int too_many(exp_points_parser *p)
{
    p->e->code = ERR_TOO_LARGE;
    snprintf(p->e->msg, sizeof p->e->msg,
             "the batch has more than %zu points; send at most %zu points per request", p->max_points,
             p->max_points);
    p->failed = true;
    return 0;
}

static uint64_t name_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* The series index of a name, added if new; -1 after fail(). */
static long intern(exp_points_parser *p, const char *s, size_t n)
{
    char w[40];
    if (n > EXP_METRIC_NAME_MAX) {
        fail(p, "%s.name is %zu bytes long; metric names are at most %d bytes", where(p, w, sizeof w),
             n, EXP_METRIC_NAME_MAX);
        return -1;
    }
    uint64_t h = name_hash(s, n);
    size_t i = h % NAME_HASH;
    for (;;) {
        uint32_t k = p->slot[i];
        if (!k)
            break;
        exp_batch_series *bs = &p->b.series[k - 1];
        if (bs->len == n && memcmp(bs->name, s, n) == 0)
            return (long)(k - 1);
        i = (i + 1) % NAME_HASH;
    }
    if (p->b.nseries == EXP_BATCH_SERIES_MAX) {
        fail(p, "the batch names more than %d different metrics; split it into several requests",
             EXP_BATCH_SERIES_MAX);
        return -1;
    }
    if (memchr(s, 0, n)) {
        fail(p, "%s.name contains a NUL character", where(p, w, sizeof w));
        return -1;
    }
    char *copy = malloc(n + 1);
    if (!copy) {
        fail(p, "out of memory");
        return -1;
    }
    memcpy(copy, s, n);
    copy[n] = 0;
    err ne;
    if (name_check("metric name", copy, EXP_METRIC_NAME_MAX, &ne) != 0) {
        free(copy);
        fail(p, "%s.name: %s", where(p, w, sizeof w), ne.msg);
        return -1;
    }
    if (p->b.nseries % 64 == 0) {
        exp_batch_series *ns =
            realloc(p->b.series, (p->b.nseries + 64) * sizeof *ns);
        if (!ns) {
            free(copy);
            fail(p, "out of memory");
            return -1;
        }
        p->b.series = ns;
    }
    exp_batch_series *bs = &p->b.series[p->b.nseries];
    bs->name = copy;
    bs->len = n;
    bs->count = 0;
    p->slot[i] = (uint32_t)++p->b.nseries;
    return (long)(p->b.nseries - 1);
}

/* Something other than the expected value arrived; `got` names it. */
static int unexpected(exp_points_parser *p, const char *got)
{
    char w[40];
    switch (p->st) {
    case S_START:
        return fail(p, "the batch must be a JSON object like {\"points\": [...]}, got %s", got);
    case S_TOP_POINTS:
        return fail(p, "field 'points' must be an array of points, got %s", got);
    case S_TOP_SERIES:
        return fail(p, "field 'series' must be an array of series, got %s", got);
    case S_POINTS:
        return fail(p, "%s must be an object like {\"name\": \"loss\", \"step\": 1, \"value\": 0.5}, got %s",
                    where(p, w, sizeof w), got);
    case S_SERIES:
        return fail(p, "%s must be an object like {\"name\": \"loss\", \"steps\": [...], \"values\": [...]}, got %s",
                    where(p, w, sizeof w), got);
    case S_POINT_VAL:
        if (p->field == F_NAME)
            return fail(p, "%s.name must be a string, got %s", where(p, w, sizeof w), got);
        return fail(p, "%s.%s must be %s, got %s", where(p, w, sizeof w), point_fields[p->field],
                    p->field == F_VALUE ? "a finite number" : "a whole number", got);
    case S_SER_VAL:
        if (p->field == F_NAME)
            return fail(p, "%s.name must be a string, got %s", where(p, w, sizeof w), got);
        return fail(p, "%s.%s must be an array of numbers, got %s", where(p, w, sizeof w),
                    series_fields[p->field], got);
    case S_SER_ARR:
        return fail(p, "%s.%s[%zu] must be %s, got %s", where(p, w, sizeof w),
                    series_fields[p->field], p->arr_pos,
                    p->field == F_VALUE ? "a finite number" : "a whole number", got);
    default:
        return fail(p, "unexpected %s in the batch", got);
    }
}

/* After a value inside an object: back to reading keys. */
static void value_done(exp_points_parser *p)
{
    if (p->st == S_POINT_VAL)
        p->st = S_POINT;
    else if (p->st == S_SER_VAL)
        p->st = S_SER;
}

#define STEP_MAX 9007199254740992LL /* 2^53: exact in a double, safe in JavaScript */

/* Reads a JSON number as a whole number in [0, 2^53]. */
static int whole(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;
    size_t i = 0;
    bool plain = n > 0 && n <= 16;
    for (; plain && i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            plain = false;
        else
            v = v * 10 + (s[i] - '0');
    }
    if (plain) {
        *out = v;
        return v <= STEP_MAX ? 0 : -1;
    }
    char buf[130];
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    double d = strtod(buf, NULL);
    if (!(d >= 0 && d <= (double)STEP_MAX) || d != floor(d))
        return -1;
    *out = (int64_t)d;
    return 0;
}

static int number(const char *s, size_t n, double *out)
{
    char buf[130];
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    double d = strtod(buf, NULL);
    if (!isfinite(d))
        return -1;
    *out = d;
    return 0;
}

static int set_field(exp_points_parser *p, exp_batch_point *bp, int field, const char *s, size_t n,
                     const char *what, size_t pos, bool in_array)
{
    char w[40], at[32] = ""; /* filled on the error path only: this runs per number */
    if (field == F_VALUE) {
        if (number(s, n, &bp->p.value) != 0) {
            if (in_array)
                snprintf(at, sizeof at, "[%zu]", pos);
            return fail(p, "%s.%s%s must be a finite number, got %.*s", where(p, w, sizeof w), what,
                        at, (int)(n > 40 ? 40 : n), s);
        }
    } else {
        int64_t v;
        if (whole(s, n, &v) != 0) {
            if (in_array)
                snprintf(at, sizeof at, "[%zu]", pos);
            return fail(p, "%s.%s%s must be a whole number between 0 and %lld, got %.*s",
                        where(p, w, sizeof w), what, at, STEP_MAX, (int)(n > 40 ? 40 : n), s);
        }
        if (field == F_STEP)
            bp->p.step = v;
        else
            bp->p.time = v;
    }
    return 1;
}

static int on_number(void *ctx, const char *s, size_t n)
{
    exp_points_parser *p = ctx;
    if (p->st == S_POINT_VAL) {
        if (p->field == F_NAME)
            return unexpected(p, "a number");
        if (!set_field(p, &p->b.points[p->b.npoints], p->field, s, n, point_fields[p->field], 0,
                       false))
            return 0;
        value_done(p);
        return 1;
    }
    if (p->st == S_SER_ARR) {
        size_t k = p->col[p->field];
        if (grow(p, p->obj_start + k + 1) != 0)
            return p->obj_start + k + 1 > p->max_points ? too_many(p) : fail(p, "out of memory");
        exp_batch_point *bp = &p->b.points[p->obj_start + k];
        if (k >= p->col[F_STEP] && k >= p->col[F_VALUE] && k >= p->col[F_TIME]) {
            bp->p.time = p->now; /* a new slot */
            bp->p.step = 0;
            bp->p.value = 0;
        }
        if (!s) /* null time */
            bp->p.time = p->now;
        else if (!set_field(p, bp, p->field, s, n, series_fields[p->field], k, true))
            return 0;
        p->col[p->field] = k + 1;
        p->arr_pos = k + 1;
        return 1;
    }
    return unexpected(p, "a number");
}

static int on_null(void *ctx)
{
    exp_points_parser *p = ctx;
    if (p->st == S_SER_ARR && p->field == F_TIME) /* null in times: "now" */
        return on_number(ctx, NULL, 0);
    if ((p->st == S_POINT_VAL || p->st == S_SER_VAL) && p->field == F_TIME) { /* null: "now" */
        value_done(p);
        p->seen &= ~(1u << F_TIME);
        return 1;
    }
    return unexpected(p, "null");
}

static int on_bool(void *ctx, int v)
{
    return unexpected(ctx, v ? "true" : "false");
}

static int b64v(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* A packed column of a series object: base64 (standard alphabet, padded)
 * of little-endian 8-byte numbers, int64 for steps and times, IEEE float64
 * for values. Clients that hold numbers in arrays send them this way: no
 * number formatting on either side. */
static int packed_column(exp_points_parser *p, const unsigned char *s, size_t n)
{
    char w[40];
    const char *col = series_fields[p->field];
    size_t pad = n >= 1 && s[n - 1] == '=' ? (n >= 2 && s[n - 2] == '=' ? 2 : 1) : 0;
    if (n % 4 || (n / 4 * 3 - pad) % 8)
        return fail(p,
                    "%s.%s: a packed column is base64 of 8-byte little-endian numbers; %zu "
                    "characters cannot be that",
                    where(p, w, sizeof w), col, n);
    size_t bytes = n / 4 * 3 - pad, k = bytes / 8;
    if (grow(p, p->obj_start + k) != 0)
        return p->obj_start + k > p->max_points ? too_many(p) : fail(p, "out of memory");
    unsigned char v8[8];
    size_t got = 0, item = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n - pad; i++) {
        int d = b64v(s[i]);
        if (d < 0)
            return fail(p, "%s.%s is not valid base64 (character %zu)", where(p, w, sizeof w),
                        col, i);
        acc = (acc << 6) | (uint32_t)d;
        bits += 6;
        if (bits < 8)
            continue;
        bits -= 8;
        v8[got++] = (unsigned char)(acc >> bits);
        if (got < 8)
            continue;
        got = 0;
        uint64_t u = 0;
        for (int b = 0; b < 8; b++)
            u |= (uint64_t)v8[b] << (8 * b);
        exp_batch_point *bp = &p->b.points[p->obj_start + item];
        if (item >= p->col[F_STEP] && item >= p->col[F_VALUE] && item >= p->col[F_TIME]) {
            bp->p.time = p->now; /* a new slot */
            bp->p.step = 0;
            bp->p.value = 0;
        }
        if (p->field == F_VALUE) {
            double x;
            memcpy(&x, &u, 8);
            if (!isfinite(x))
                return fail(p, "%s.values[%zu] must be a finite number, got %g",
                            where(p, w, sizeof w), item, x);
            bp->p.value = x;
        } else {
            int64_t x = (int64_t)u;
            if (x < 0 || x > STEP_MAX)
                return fail(p, "%s.%s[%zu] must be a whole number between 0 and %lld, got %lld",
                            where(p, w, sizeof w), col, item, STEP_MAX, (long long)x);
            if (p->field == F_STEP)
                bp->p.step = x;
            else
                bp->p.time = x;
        }
        item++;
    }
    p->col[p->field] = k;
    value_done(p);
    return 1;
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
    exp_points_parser *p = ctx;
    if (p->st == S_SER_VAL && p->field != F_NAME)
        return packed_column(p, s, n);
    if ((p->st == S_POINT_VAL || p->st == S_SER_VAL) && p->field == F_NAME) {
        if (p->st == S_POINT_VAL) {
            long k = intern(p, (const char *)s, n);
            if (k < 0)
                return 0;
            p->b.points[p->b.npoints].series = (uint32_t)k;
        } else {
            /* a series object's points are tagged at its end: its arrays
             * may come before its name */
            char w[40];
            if (n > EXP_METRIC_NAME_MAX)
                return fail(p, "%s.name is %zu bytes long; metric names are at most %d bytes",
                            where(p, w, sizeof w), n, EXP_METRIC_NAME_MAX);
            memcpy(p->tmp_name, s, n);
            p->tmp_name_len = n;
        }
        value_done(p);
        return 1;
    }
    return unexpected(p, "a string");
}

static int on_start_map(void *ctx)
{
    exp_points_parser *p = ctx;
    switch (p->st) {
    case S_START:
        p->st = S_TOP;
        return 1;
    case S_POINTS:
        if (grow(p, p->b.npoints + 1) != 0)
            return p->b.npoints + 1 > p->max_points ? too_many(p) : fail(p, "out of memory");
        p->b.points[p->b.npoints] = (exp_batch_point){.p = {.time = p->now}};
        p->seen = 0;
        p->st = S_POINT;
        return 1;
    case S_SERIES:
        p->seen = 0;
        p->obj_start = p->b.npoints;
        memset(p->col, 0, sizeof p->col);
        p->tmp_name_len = 0;
        p->st = S_SER;
        return 1;
    default:
        return unexpected(p, "an object");
    }
}

static int on_key(void *ctx, const unsigned char *k, size_t n)
{
    exp_points_parser *p = ctx;
    char w[40];
    if (p->st == S_TOP) {
        if (n == 6 && memcmp(k, "points", 6) == 0) {
            if (p->seen_points)
                return fail(p, "field 'points' appears twice in the batch");
            p->seen_points = true;
            p->st = S_TOP_POINTS;
            return 1;
        }
        if (n == 6 && memcmp(k, "series", 6) == 0) {
            if (p->seen_series)
                return fail(p, "field 'series' appears twice in the batch");
            p->seen_series = true;
            p->st = S_TOP_SERIES;
            return 1;
        }
        return fail(p, "unknown field '%.*s'; a batch has the fields 'points' and 'series'",
                    (int)(n > 60 ? 60 : n), k);
    }
    const char *const *names = p->st == S_POINT ? point_fields : series_fields;
    if (p->st != S_POINT && p->st != S_SER)
        return fail(p, "unexpected key in the batch");
    for (int f = 0; f < 4; f++)
        if (strlen(names[f]) == n && memcmp(names[f], k, n) == 0) {
            if (p->seen & (1u << f))
                return fail(p, "%s has the field '%s' twice", where(p, w, sizeof w), names[f]);
            p->seen |= 1u << f;
            p->field = f;
            p->st = p->st == S_POINT ? S_POINT_VAL : S_SER_VAL;
            return 1;
        }
    return fail(p, "%s has an unknown field '%.*s'; the fields are %s, %s, %s and %s",
                where(p, w, sizeof w), (int)(n > 60 ? 60 : n), k, names[0], names[1], names[2],
                names[3]);
}

static int on_end_map(void *ctx)
{
    exp_points_parser *p = ctx;
    char w[40];
    if (p->st == S_POINT) {
        for (int f = F_NAME; f <= F_VALUE; f++)
            if (!(p->seen & (1u << f)))
                return fail(p, "%s has no '%s'; every point needs name, step and value",
                            where(p, w, sizeof w), point_fields[f]);
        p->b.series[p->b.points[p->b.npoints].series].count++;
        p->b.npoints++;
        p->index++;
        p->st = S_POINTS;
        return 1;
    }
    if (p->st == S_SER) {
        if (!(p->seen & (1u << F_NAME)))
            return fail(p, "%s has no 'name'", where(p, w, sizeof w));
        if (!(p->seen & (1u << F_STEP)) || !(p->seen & (1u << F_VALUE)))
            return fail(p, "%s needs both 'steps' and 'values'", where(p, w, sizeof w));
        size_t n = p->col[F_STEP];
        if (p->col[F_VALUE] != n)
            return fail(p, "%s has %zu steps but %zu values; give one value per step",
                        where(p, w, sizeof w), n, p->col[F_VALUE]);
        if ((p->seen & (1u << F_TIME)) && p->col[F_TIME] != n)
            return fail(p, "%s has %zu steps but %zu times; give one time per step or none",
                        where(p, w, sizeof w), n, p->col[F_TIME]);
        long k = intern(p, p->tmp_name, p->tmp_name_len);
        if (k < 0)
            return 0;
        for (size_t i = 0; i < n; i++)
            p->b.points[p->obj_start + i].series = (uint32_t)k;
        p->b.series[k].count += (uint32_t)n;
        p->b.npoints = p->obj_start + n;
        p->index++;
        p->st = S_SERIES;
        return 1;
    }
    if (p->st == S_TOP) {
        p->st = S_END;
        return 1;
    }
    return fail(p, "unexpected end of object in the batch");
}

static int on_start_array(void *ctx)
{
    exp_points_parser *p = ctx;
    switch (p->st) {
    case S_TOP_POINTS:
        p->st = S_POINTS;
        p->index = 0;
        return 1;
    case S_TOP_SERIES:
        p->st = S_SERIES;
        p->index = 0;
        return 1;
    case S_SER_VAL:
        if (p->field == F_NAME)
            return unexpected(p, "an array");
        p->st = S_SER_ARR;
        p->arr_pos = 0;
        return 1;
    default:
        return unexpected(p, "an array");
    }
}

static int on_end_array(void *ctx)
{
    exp_points_parser *p = ctx;
    switch (p->st) {
    case S_POINTS:
    case S_SERIES:
        p->st = S_TOP;
        return 1;
    case S_SER_ARR:
        p->st = S_SER;
        return 1;
    default:
        return fail(p, "unexpected end of array in the batch");
    }
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_bool,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_array,
};

exp_points_parser *exp_points_parser_new(int64_t now_ms, size_t max_points)
{
    exp_points_parser *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->h = yajl_alloc(&callbacks, NULL, p);
    if (!p->h) {
        free(p);
        return NULL;
    }
    p->now = now_ms;
    p->max_points = max_points ? max_points : EXP_BATCH_MAX;
    return p;
}

void exp_points_parser_free(exp_points_parser *p)
{
    if (!p)
        return;
    yajl_free(p->h);
    for (size_t i = 0; i < p->b.nseries; i++)
        free(p->b.series[i].name);
    free(p->b.series);
    free(p->b.points);
    free(p);
}

static int check(exp_points_parser *p, yajl_status st, const char *data, size_t n, err *e)
{
    if (p->failed)
        return -1;
    if (st == yajl_status_ok)
        return 0;
    size_t at = yajl_get_bytes_consumed(p->h);
    if (n == 0) /* yajl_complete_parse: the document is cut short */
        return err_set(e, ERR_INVALID,
                       "the batch's JSON ends early (after %zu bytes); send the complete document",
                       p->fed);
    /* yajl stops after the bad token: look around it for NaN / Infinity */
    size_t lo = at > 12 ? at - 12 : 0, hi = at + 4 < n ? at + 4 : n;
    static const char *const nonfinite[] = {"-Infinity", "Infinity", "NaN", "-inf", "inf", "nan"};
    for (size_t i = lo; i < hi; i++)
        for (size_t k = 0; k < sizeof nonfinite / sizeof *nonfinite; k++) {
            size_t l = strlen(nonfinite[k]);
            if (i + l <= n && memcmp(data + i, nonfinite[k], l) == 0)
                return err_set(e, ERR_INVALID,
                               "the batch contains %s at byte %zu: metric values must be finite "
                               "numbers (JSON has no NaN or Infinity); leave such points out",
                               nonfinite[k], p->fed - n + i);
        }
    unsigned char *m = yajl_get_error(p->h, 0, (const unsigned char *)data, n);
    char msg[200];
    snprintf(msg, sizeof msg, "%s", m ? (const char *)m : "syntax error");
    if (m)
        yajl_free_error(p->h, m);
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
        msg[--l] = 0;
    /* yajl's messages are lower-case fragments like "parse error: invalid object key" */
    return err_set(e, ERR_INVALID, "the batch is not valid JSON (%s) at byte %zu", msg,
                   p->fed - n + at);
}

int exp_points_parser_feed(exp_points_parser *p, const char *data, size_t n, err *e)
{
    if (p->failed)
        return -1;
    p->e = e;
    p->fed += n;
    yajl_status st = yajl_parse(p->h, (const unsigned char *)data, n);
    return check(p, st, data, n, e);
}

int exp_points_parser_finish(exp_points_parser *p, const exp_batch **out, err *e)
{
    if (p->failed)
        return -1;
    p->e = e;
    if (p->st == S_START)
        return err_set(e, ERR_INVALID,
                       "the batch is empty; send {\"points\": [{\"name\": \"loss\", \"step\": 1, "
                       "\"value\": 0.5}]}");
    yajl_status st = yajl_complete_parse(p->h);
    if (check(p, st, "", 0, e) != 0)
        return -1;
    if (p->st != S_END)
        return err_set(e, ERR_INVALID, "the batch ends before its JSON object is complete");
    *out = &p->b;
    return 0;
}
