/*
 * Unit tests for the metric batch parser: both shapes, pieces split at
 * every byte, the exact error messages, the limits.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "experiment/experiment.h"

static int parse(const char *doc, size_t split, size_t max, exp_points_parser **out,
                 const exp_batch **b, err *e)
{
    exp_points_parser *p = exp_points_parser_new(777, max);
    *out = p;
    size_t n = strlen(doc);
    if (split > n)
        split = n;
    if (exp_points_parser_feed(p, doc, split, e) != 0 ||
        exp_points_parser_feed(p, doc + split, n - split, e) != 0)
        return -1;
    return exp_points_parser_finish(p, b, e);
}

static void expect_error(const char *doc, const char *want)
{
    exp_points_parser *p;
    const exp_batch *b;
    err e;
    cr_assert_eq(parse(doc, 0, 100, &p, &b, &e), -1, "accepted: %s", doc);
    cr_assert_not_null(strstr(e.msg, want), "for %s\n  got:  %s\n  want: %s", doc, e.msg, want);
    exp_points_parser_free(p);
}

Test(points_parse, both_shapes_split_anywhere)
{
    const char *doc = "{\"points\": [{\"name\": \"loss\", \"step\": 3, \"value\": 0.25, \"time\": 100},"
                      " {\"value\": -1e-3, \"step\": 4, \"name\": \"acc\"}],"
                      " \"series\": [{\"values\": [1, 2.5], \"name\": \"loss\", \"steps\": [5, 6],"
                      " \"times\": [7, null]}, {\"name\": \"lr\", \"steps\": [], \"values\": []}]}";
    size_t n = strlen(doc);
    for (size_t split = 0; split <= n; split++) {
        exp_points_parser *p;
        const exp_batch *b;
        err e;
        cr_assert_eq(parse(doc, split, 100, &p, &b, &e), 0, "split %zu: %s", split, e.msg);
        cr_assert_eq(b->npoints, 4);
        cr_assert_eq(b->nseries, 3);
        cr_assert_str_eq(b->series[0].name, "loss");
        cr_assert_eq(b->series[0].count, 3);
        cr_assert_str_eq(b->series[1].name, "acc");
        cr_assert_eq(b->series[2].count, 0);
        cr_assert_eq(b->points[0].p.step, 3);
        cr_assert_eq(b->points[0].p.value, 0.25);
        cr_assert_eq(b->points[0].p.time, 100);
        cr_assert_eq(b->points[1].series, 1);
        cr_assert_eq(b->points[1].p.time, 777, "no time: the batch's arrival");
        cr_assert_eq(b->points[1].p.value, -1e-3);
        cr_assert_eq(b->points[2].series, 0);
        cr_assert_eq(b->points[2].p.step, 5);
        cr_assert_eq(b->points[2].p.time, 7);
        cr_assert_eq(b->points[3].p.value, 2.5);
        exp_points_parser_free(p);
    }
}

Test(points_parse, errors_name_the_element)
{
    expect_error("{\"points\": [{\"name\": \"a\", \"step\": \"1\", \"value\": 1}]}",
                 "points[0].step must be a whole number, got a string");
    expect_error("{\"points\": [{\"name\": \"a\", \"step\": 1, \"value\": 1}, {\"name\": \"a\", \"step\": -1, \"value\": 1}]}",
                 "points[1].step must be a whole number between 0 and 9007199254740992, got -1");
    expect_error("{\"points\": [{\"name\": \"a\", \"step\": 1, \"value\": NaN}]}",
                 "NaN at byte 46: metric values must be finite");
    expect_error("{\"points\": [{\"name\": \"a\", \"step\": 1, \"value\": -Infinity}]}",
                 "-Inf");
    expect_error("{\"points\": [{\"name\": \"a\", \"step\": 1, \"value\": 1e400}]}",
                 "points[0].value must be a finite number, got 1e400");
    expect_error("{\"points\": [{\"name\": \"a\", \"step\": 1, \"value\": true}]}",
                 "points[0].value must be a finite number, got true");
    expect_error("{\"points\": [{\"name\": 5, \"step\": 1, \"value\": 1}]}",
                 "points[0].name must be a string, got a number");
    expect_error("{\"points\": [{\"name\": \"a\", \"step\": 1}]}", "points[0] has no 'value'");
    expect_error("{\"points\": [{\"name\": \"a\", \"step\": 1, \"value\": 1, \"unit\": \"s\"}]}",
                 "points[0] has an unknown field 'unit'");
    expect_error("{\"points\": [{\"name\": \"a\", \"name\": \"b\", \"step\": 1, \"value\": 1}]}",
                 "points[0] has the field 'name' twice");
    expect_error("{\"points\": [{\"name\": \"\", \"step\": 1, \"value\": 1}]}",
                 "points[0].name: metric name must not be empty");
    expect_error("{\"points\": 3}", "field 'points' must be an array of points, got a number");
    expect_error("{\"points\": [[1]]}", "points[0] must be an object");
    expect_error("{\"series\": [{\"name\": \"a\", \"steps\": [1, 2], \"values\": [1, \"x\"]}]}",
                 "series[0].values[1] must be a finite number, got a string");
    expect_error("{\"series\": [{\"name\": \"a\", \"steps\": [1, 2], \"values\": [1]}]}",
                 "series[0] has 2 steps but 1 values");
    expect_error("{\"series\": [{\"name\": \"a\", \"steps\": [1], \"values\": [1], \"times\": [1, 2]}]}",
                 "series[0] has 1 steps but 2 times");
    expect_error("{\"series\": [{\"steps\": [1], \"values\": [1]}]}", "series[0] has no 'name'");
    expect_error("{\"foo\": []}", "unknown field 'foo'");
    expect_error("{\"points\": [], \"points\": []}", "field 'points' appears twice");
    expect_error("[]", "must be a JSON object");
    expect_error("", "the batch is empty");
    expect_error("{\"points\": [", "ends early");
    expect_error("{\"points\": []} {}", "not valid JSON");
    expect_error("{\"points\": [{\"name\": \"a\xff\", \"step\": 1, \"value\": 1}]}", "not valid JSON");
}

Test(points_parse, packed_columns)
{
    /* steps [1, 2] int64 LE, values [0.5, -2] float64 LE, base64:
     *   python3 -c "import base64, struct; print(base64.b64encode(struct.pack('<2q', 1, 2)))" */
    const char *doc = "{\"series\": [{\"name\": \"loss\", \"steps\": \"AQAAAAAAAAACAAAAAAAAAA==\","
                      " \"values\": \"AAAAAAAA4D8AAAAAAAAAwA==\", \"times\": [5, 6]}]}";
    exp_points_parser *p;
    const exp_batch *b;
    err e;
    cr_assert_eq(parse(doc, 37, 100, &p, &b, &e), 0, "%s", e.msg);
    cr_assert_eq(b->npoints, 2);
    cr_assert_eq(b->points[0].p.step, 1);
    cr_assert_eq(b->points[1].p.step, 2);
    cr_assert_eq(b->points[0].p.value, 0.5);
    cr_assert_eq(b->points[1].p.value, -2);
    cr_assert_eq(b->points[1].p.time, 6);
    exp_points_parser_free(p);
    /* NaN as float64 (0x7ff8000000000000), a negative step, bad base64, bad length */
    expect_error("{\"series\": [{\"name\": \"a\", \"steps\": [1], \"values\": \"AAAAAAAA+H8=\"}]}",
                 "series[0].values[0] must be a finite number, got nan");
    expect_error("{\"series\": [{\"name\": \"a\", \"steps\": \"//////////8=\", \"values\": [1]}]}",
                 "series[0].steps[0] must be a whole number between 0 and 9007199254740992, got -1");
    expect_error("{\"series\": [{\"name\": \"a\", \"steps\": \"AQAAAAAA!AA=\", \"values\": [1]}]}",
                 "is not valid base64");
    expect_error("{\"series\": [{\"name\": \"a\", \"steps\": \"AQAA\", \"values\": [1]}]}",
                 "a packed column is base64 of 8-byte little-endian numbers");
    expect_error("{\"series\": [{\"name\": \"a\", \"steps\": \"AQAAAAAAAAA=\", \"values\": [1, 2]}]}",
                 "has 1 steps but 2 values");
}

Test(points_parse, limits)
{
    /* 101 points with a limit of 100 */
    char doc[8192] = "{\"series\": [{\"name\": \"a\", \"steps\": [";
    for (int i = 0; i < 101; i++)
        sprintf(doc + strlen(doc), "%s%d", i ? "," : "", i);
    strcat(doc, "], \"values\": [");
    for (int i = 0; i < 101; i++)
        sprintf(doc + strlen(doc), "%s1", i ? "," : "");
    strcat(doc, "]}]}");
    exp_points_parser *p;
    const exp_batch *b;
    err e;
    cr_assert_eq(parse(doc, 10, 100, &p, &b, &e), -1);
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    cr_assert_not_null(strstr(e.msg, "at most 100 points"), "%s", e.msg);
    exp_points_parser_free(p);
    cr_assert_eq(parse(doc, 10, 101, &p, &b, &e), 0, "%s", e.msg);
    cr_assert_eq(b->npoints, 101);
    exp_points_parser_free(p);
    /* more than EXP_BATCH_SERIES_MAX names */
    sbuf big = SBUF_INIT;
    sbuf_puts(&big, "{\"points\": [");
    for (int i = 0; i <= EXP_BATCH_SERIES_MAX; i++)
        sbuf_printf(&big, "%s{\"name\": \"m%d\", \"step\": 1, \"value\": 1}", i ? "," : "", i);
    sbuf_puts(&big, "]}");
    cr_assert_eq(parse(sbuf_cstr(&big), 0, 5000, &p, &b, &e), -1);
    cr_assert_not_null(strstr(e.msg, "different metrics"), "%s", e.msg);
    exp_points_parser_free(p);
    sbuf_free(&big);
    /* a long name */
    char name[300];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = 0;
    char d2[600];
    snprintf(d2, sizeof d2, "{\"points\": [{\"name\": \"%s\", \"step\": 1, \"value\": 1}]}", name);
    expect_error(d2, "metric names are at most 200 bytes");
}
