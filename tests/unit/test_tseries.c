/*
 * Unit tests for src/tseries: the chunk encoding, ordering with
 * last-write-wins, and the downsampling algorithms on hand-checked cases.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tseries/tseries.h"

static ts_point P(int64_t step, double value) { return (ts_point){step, value, 1000 + step}; }

Test(tseries, codec_roundtrip_and_size)
{
    enum { N = 3000 };
    ts_point *p = malloc(N * sizeof *p), *q = malloc(N * sizeof *q);
    for (int i = 0; i < N; i++)
        p[i] = (ts_point){i, sin(i) * 1e3, 1700000000000LL + i * 7};
    p[5].step = -40; /* steps may go backwards in a chunk */
    p[6].step = INT64_MAX;
    p[7].step = INT64_MIN;
    p[8].value = -0.0;
    p[9].time = 0;
    unsigned char *buf = malloc(ts_encode_bound(N));
    size_t len = ts_encode(p, N, buf);
    cr_assert_leq(len, ts_encode_bound(N));
    cr_assert_lt(len, (size_t)N * 12, "steps +1 and times +7 should take 11 bytes a point: %zu", len);
    size_t n = 0, cnt = 0;
    err e;
    cr_assert_eq(ts_decode_count(buf, len, &cnt, &e), 0);
    cr_assert_eq(cnt, N);
    cr_assert_eq(ts_decode(buf, len, q, N, &n, &e), 0, "%s", e.msg);
    cr_assert_eq(n, N);
    cr_assert_eq(memcmp(p, q, N * sizeof *p), 0);
    cr_assert(signbit(q[8].value));
    /* every truncation is refused, never read past the end */
    for (size_t cut = 0; cut < 40; cut++) {
        unsigned char *t = malloc(len - cut - 1);
        memcpy(t, buf, len - cut - 1);
        cr_assert_eq(ts_decode(t, len - cut - 1, q, N, &n, &e), -1, "cut %zu", cut);
        free(t);
    }
    cr_assert_eq(ts_decode(buf, len, q, N - 1, &n, &e), -1, "room for fewer points than stored");
    buf[0] = 9;
    cr_assert_eq(ts_decode(buf, len, q, N, &n, &e), -1, "unknown format version");
    free(buf);
    free(p);
    free(q);
}

Test(tseries, sort_dedupe_keeps_the_last_logged_point_of_a_step)
{
    ts_point p[] = {P(3, 1), P(1, 2), P(3, 3), P(2, 4), P(1, 5)};
    long n = ts_sort_dedupe(p, 5, NULL);
    cr_assert_eq(n, 3);
    cr_assert_eq(p[0].step, 1);
    cr_assert_eq(p[0].value, 5);
    cr_assert_eq(p[1].step, 2);
    cr_assert_eq(p[1].value, 4);
    cr_assert_eq(p[2].step, 3);
    cr_assert_eq(p[2].value, 3);
    ts_point s[] = {P(1, 1), P(2, 2)};
    cr_assert_eq(ts_sort_dedupe(s, 2, NULL), 2);
    cr_assert(ts_is_strictly_sorted(s, 2));
    ts_point d[] = {P(1, 1), P(1, 2)};
    cr_assert_not(ts_is_strictly_sorted(d, 2));
}

Test(tseries, minmax_hand_checked)
{
    double v[] = {5, 1, 9, 3, 3, 7, 0, 2, 8, 4};
    ts_point in[10], out[10];
    for (int i = 0; i < 10; i++)
        in[i] = P(i, v[i]);
    /* 6 points: first, 2 buckets of points 1-4 and 5-8 (min and max in step
     * order), last */
    size_t n = ts_minmax(in, 10, 6, out);
    int64_t want[] = {0, 1, 2, 6, 8, 9};
    cr_assert_eq(n, 6);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(out[i].step, want[i], "point %d: step %lld", i, (long long)out[i].step);
    /* fewer points than asked: unchanged */
    cr_assert_eq(ts_minmax(in, 10, 10, out), 10);
    cr_assert_eq(memcmp(in, out, sizeof in), 0);
}

Test(tseries, minmax_never_loses_extremes)
{
    enum { N = 100000 };
    ts_point *in = malloc(N * sizeof *in), *out = malloc(2000 * sizeof *out);
    unsigned s = 7;
    for (int i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        in[i] = P(i, (double)(s >> 8) / 1e6);
    }
    in[54321].value = -1e9;
    in[777].value = 1e9;
    size_t n = ts_minmax(in, N, 2000, out);
    cr_assert_leq(n, 2000);
    cr_assert_geq(n, 1900);
    bool has_min = false, has_max = false;
    for (size_t i = 0; i < n; i++) {
        has_min |= out[i].value == -1e9 && out[i].step == 54321;
        has_max |= out[i].value == 1e9 && out[i].step == 777;
        if (i)
            cr_assert_gt(out[i].step, out[i - 1].step, "output stays in step order");
    }
    cr_assert(has_min && has_max);
    cr_assert_eq(out[0].step, 0);
    cr_assert_eq(out[n - 1].step, N - 1);
    free(in);
    free(out);
}

Test(tseries, lttb_hand_checked)
{
    /* 5 points into 3: one bucket (points 1-3); the next "bucket" is the
     * last point (4, 0); the triangle with (0, 0) is largest for |y| max */
    ts_point in[8], out[8];
    double a[] = {0, 10, 0, -12, 0};
    for (int i = 0; i < 5; i++)
        in[i] = P(i, a[i]);
    size_t n = ts_lttb(in, 5, 3, out);
    cr_assert_eq(n, 3);
    cr_assert_eq(out[0].step, 0);
    cr_assert_eq(out[1].step, 3);
    cr_assert_eq(out[1].value, -12);
    cr_assert_eq(out[2].step, 4);
    /* 8 points into 4: buckets {1,2,3} and {4,5,6}. Bucket 1 against (0,0)
     * and the mean (5, 16/3) of the next: areas 1/3, 43/3, 6 -> point 2.
     * Bucket 2 against (2,5) and (7,0): areas 0, 35, 15 -> point 5. */
    double b[] = {0, 1, 5, 2, 3, 9, 4, 0};
    for (int i = 0; i < 8; i++)
        in[i] = P(i, b[i]);
    n = ts_lttb(in, 8, 4, out);
    int64_t want[] = {0, 2, 5, 7};
    cr_assert_eq(n, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(out[i].step, want[i], "point %d: step %lld", i, (long long)out[i].step);
}

Test(tseries, lttb_large_input_bounds)
{
    enum { N = 1000000 };
    ts_point *in = malloc(N * sizeof *in), *out = malloc(2000 * sizeof *out);
    for (int i = 0; i < N; i++)
        in[i] = P(i * 2, cos(i / 1000.0));
    size_t n = ts_lttb(in, N, 2000, out);
    cr_assert_eq(n, 2000);
    cr_assert_eq(out[0].step, 0);
    cr_assert_eq(out[n - 1].step, (N - 1) * 2);
    for (size_t i = 1; i < n; i++)
        cr_assert_gt(out[i].step, out[i - 1].step);
    free(in);
    free(out);
}

Test(tseries, step_buckets_align)
{
    /* [0, 9] in 3 buckets: steps 0-3, 4-6, 7-9 */
    cr_assert_eq(ts_bucket_of(3, 0, 9, 3), 0);
    cr_assert_eq(ts_bucket_of(4, 0, 9, 3), 1);
    cr_assert_eq(ts_bucket_of(6, 0, 9, 3), 1);
    cr_assert_eq(ts_bucket_of(7, 0, 9, 3), 2);
    cr_assert_eq(ts_bucket_of(9, 0, 9, 3), 2);
    cr_assert_eq(ts_bucket_start(0, 9, 3, 1), 4);
    cr_assert_eq(ts_bucket_start(0, 9, 3, 2), 7);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(ts_bucket_of(ts_bucket_start(0, 9, 3, i), 0, 9, 3), i);
    /* huge ranges do not overflow */
    cr_assert_eq(ts_bucket_of(INT64_MAX, 0, INT64_MAX, 1000), 999);
    ts_point in[10];
    for (int i = 0; i < 10; i++)
        in[i] = P(i, i);
    ts_bucket b[3];
    memset(b, 0, sizeof b);
    ts_buckets(in, 10, 0, 9, 3, b);
    cr_assert_eq(b[0].count, 4);
    cr_assert_eq(b[0].min, 0);
    cr_assert_eq(b[0].max, 3);
    cr_assert_eq(b[1].sum, 15);
    cr_assert_eq(b[2].last, 9);
    cr_assert_eq(b[2].last_step, 9);
}
