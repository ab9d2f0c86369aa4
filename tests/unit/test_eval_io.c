/*
 * Unit tests for the streaming COCO readers (src/eval/coco_io): a small
 * well-formed pair of files, and malformed input of every kind (wrong
 * types, truncation, NaN, huge numbers, deep nesting, unknown ids), each
 * expected to fail with a message that names the place.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/coco_io.h"
#include "eval/eval.h"

static const char GT[] =
    "{\"info\": {\"year\": 2017, \"nested\": [1, {\"a\": [2]}]},"
    " \"categories\": [{\"id\": 1, \"name\": \"person\", \"keypoints\": [\"nose\"]},"
    "                  {\"id\": 3, \"name\": \"car\"}],"
    " \"annotations\": ["
    "   {\"id\": 1, \"image_id\": 7, \"category_id\": 1, \"bbox\": [0, 0, 10, 10], \"area\": 100,"
    "    \"iscrowd\": 0, \"segmentation\": [[0, 0, 0, 10, 10, 10, 10, 0]]},"
    "   {\"id\": 2, \"image_id\": 7, \"category_id\": 3, \"bbox\": [20, 20, 10, 10],"
    "    \"iscrowd\": 1, \"segmentation\": {\"counts\": [5, 10, 85], \"size\": [10, 10]}}],"
    " \"images\": [{\"id\": 7, \"width\": 64, \"height\": 48, \"file_name\": \"a.jpg\"}]}";

static eval_coco *load_gt(eval_iou_type t)
{
    eval_coco *ev = eval_coco_new(t);
    err e;
    cr_assert_eq(eval_coco_load_gt_mem(ev, GT, sizeof GT - 1, &e), 0, "%s", e.msg);
    return ev;
}

Test(eval_io, reads_a_ground_truth_in_any_section_order)
{
    eval_coco *ev = load_gt(EVAL_BBOX);
    cr_assert_eq(eval_coco_num_images(ev), 1);
    cr_assert_eq(eval_coco_num_categories(ev), 2);
    cr_assert_eq(eval_coco_num_gts(ev), 2);
    err e;
    const char dt[] = "[{\"image_id\": 7, \"category_id\": 1, \"bbox\": [0, 0, 10, 10], "
                      "\"score\": 0.9, \"id\": 55, \"area\": 3}]";
    cr_assert_eq(eval_coco_load_dt_mem(ev, dt, sizeof dt - 1, &e), 0, "%s", e.msg);
    cr_assert_eq(eval_coco_run(ev, NULL, &e), 0, "%s", e.msg);
    eval_cat_result r;
    eval_coco_category_result(ev, 0, &r);
    cr_assert_eq(r.category_id, 1);
    cr_assert_str_eq(r.name, "person");
    cr_assert_float_eq(r.ap, 1.0, 1e-12);
    eval_coco_free(ev);
}

Test(eval_io, segm_ground_truth_polygon_and_crowd_rle)
{
    eval_coco *ev = load_gt(EVAL_SEGM);
    err e;
    /* the crowd RLE (counts 5,10,85 on 10x10) has a different size than the
     * image (48x64), so a detection on it gets IoU -1 there: allowed */
    const char dt[] = "[{\"image_id\": 7, \"category_id\": 1, \"score\": 0.9,"
                      "  \"segmentation\": {\"size\": [48, 64], \"counts\": \"0:0\"}}]";
    /* "0:0": counts 0, 10, 0? -> sums to 10, not 48*64 */
    cr_assert_eq(eval_coco_load_dt_mem(ev, dt, sizeof dt - 1, &e), -1);
    cr_assert(strstr(e.msg, "results[0]: segmentation.counts: counts add up to 10"), "%s", e.msg);
    eval_coco_free(ev);
}

/* Loads results into a fresh handle and returns the error message. */
static char *dt_error(const char *json)
{
    eval_coco *ev = load_gt(EVAL_BBOX);
    err e;
    err_clear(&e);
    int rc = eval_coco_load_dt_mem(ev, json, strlen(json), &e);
    if (rc == 0) rc = eval_coco_run(ev, NULL, &e);
    eval_coco_free(ev);
    cr_assert_eq(rc, -1, "expected an error for %s", json);
    return strdup(e.msg);
}

#define EXPECT_DT_ERROR(json, needle)                                                              \
    do {                                                                                           \
        char *m_ = dt_error(json);                                                                 \
        cr_assert(strstr(m_, needle), "message '%s' should contain '%s'", m_, needle);             \
        free(m_);                                                                                  \
    } while (0)

#define D0 "{\"image_id\": 7, \"category_id\": 1, \"bbox\": [0, 0, 10, 10], \"score\": 0.5}"

Test(eval_io, malformed_results_name_the_place)
{
    EXPECT_DT_ERROR("{}", "expected a JSON array of results");
    EXPECT_DT_ERROR("[" D0 ", {\"image_id\": 7, \"category_id\": 1, \"bbox\": [1, 2, 3], "
                    "\"score\": 1}]",
                    "results[1].bbox: expected 4 numbers [x, y, width, height], got 3");
    EXPECT_DT_ERROR("[" D0 ", {\"image_id\": 7, \"category_id\": 1, \"bbox\": [1, 2, 3, 4, 5],"
                    " \"score\": 1}]",
                    "results[1].bbox[4]: expected 4 numbers [x, y, width, height], got more");
    EXPECT_DT_ERROR("[{\"image_id\": 7, \"category_id\": 1, \"bbox\": \"0 0 1 1\", \"score\": 1}]",
                    "results[0].bbox: expected an array of numbers, got a string");
    EXPECT_DT_ERROR("[{\"image_id\": 7, \"category_id\": 1, \"bbox\": [0, 0, \"a\", 1], "
                    "\"score\": 1}]",
                    "results[0].bbox[2]: expected a number, got a string");
    EXPECT_DT_ERROR("[{\"image_id\": \"7\", \"category_id\": 1, \"bbox\": [0,0,1,1], "
                    "\"score\": 1}]",
                    "results[0].image_id: expected a number, got a string");
    EXPECT_DT_ERROR("[{\"image_id\": 7.5, \"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": 1}]",
                    "results[0].image_id: expected a whole number id");
    EXPECT_DT_ERROR("[{\"image_id\": 7, \"category_id\": 1, \"bbox\": [0,0,1,1]}]",
                    "results[0]: missing score");
    EXPECT_DT_ERROR("[{\"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": 1}]",
                    "results[0]: missing image_id");
    EXPECT_DT_ERROR("[" D0 ", 3]", "results[1]: expected an object");
    EXPECT_DT_ERROR("[" D0 ", {\"image_id\": 7, \"category_id\": 1, \"bbox\": [0,0,-1,1], "
                    "\"score\": 1}]",
                    "results[1]: bbox: width and height must be >= 0");
    EXPECT_DT_ERROR("[" D0 ", {\"image_id\": 7, \"category_id\": 1, "
                    "\"segmentation\": {\"counts\": \"0\", \"size\": [1, 1]}, \"score\": 1}]",
                    "results[1]: has no bbox but results[0] has one");
}

Test(eval_io, truncated_nan_huge_and_deep_input)
{
    /* truncated in the middle of a result */
    EXPECT_DT_ERROR("[" D0 ", {\"image_id\": 7, \"categ", "invalid JSON");
    EXPECT_DT_ERROR("[" D0 ", {\"image_id\": 7, \"categ", "results[1]");
    /* JSON has no NaN (Python's json.dump writes it anyway) */
    EXPECT_DT_ERROR("[{\"image_id\": 7, \"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": NaN}]",
                    "invalid JSON");
    /* numbers beyond double range */
    EXPECT_DT_ERROR(
        "[{\"image_id\": 7, \"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": 1e999}]",
        "results[0].score: number out of range");
    EXPECT_DT_ERROR("[{\"image_id\": 99999999999999999999, \"category_id\": 1, \"bbox\": [0,0,1,1],"
                    " \"score\": 1}]",
                    "results[0].image_id: expected a whole number id");
    /* deep nesting inside an unknown key is still bounded */
    char deep[512];
    int n = snprintf(deep, sizeof deep, "[{\"extra\": ");
    for (int i = 0; i < 100; i++)
        deep[n++] = '[';
    deep[n] = 0;
    EXPECT_DT_ERROR(deep, "nesting deeper than the limit");
    /* trailing garbage */
    EXPECT_DT_ERROR("[" D0 "] x", "invalid JSON");
    /* empty input */
    EXPECT_DT_ERROR("", "invalid JSON");
}

Test(eval_io, unknown_ids_fail_at_run_with_the_result_index)
{
    EXPECT_DT_ERROR("[" D0 ", {\"image_id\": 8, \"category_id\": 1, \"bbox\": [0,0,1,1], "
                    "\"score\": 1}]",
                    "results[1].image_id: 8 is not an image of the ground truth");
    EXPECT_DT_ERROR("[{\"image_id\": 7, \"category_id\": 2, \"bbox\": [0,0,1,1], \"score\": 1}]",
                    "results[0].category_id: 2 is not a category of the ground truth");
}

Test(eval_io, malformed_ground_truth)
{
    struct {
        const char *json, *needle;
    } cases[] = {
        {"[]", "expected the COCO ground-truth object"},
        {"{\"images\": {}}", "images: expected an array"},
        {"{\"images\": [{\"id\": 1, \"width\": \"big\"}]}",
         "images[0].width: expected a number, got a string"},
        {"{\"images\": [{\"width\": 1}]}", "images[0]: missing id"},
        {"{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, "
         "\"segmentation\": [[1, 2, 3]]}]}",
         "annotations[0]: segmentation[0]: a polygon needs an even number (>= 6)"},
        {"{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, "
         "\"segmentation\": {\"counts\": [1, 2], \"size\": [2, 2]}}]}",
         "annotations[0]: segmentation.counts: runs add up to 3, expected 2*2 = 4"},
        {"{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, "
         "\"segmentation\": {\"counts\": [1, -2], \"size\": [2, 2]}}]}",
         "annotations[0].segmentation.counts[1]: expected a run length"},
        {"{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, "
         "\"segmentation\": 5}]}",
         "annotations[0].segmentation: expected polygons or an RLE object"},
        {"{\"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, "
         "\"keypoints\": [1, 2]}]}",
         "annotations[0].keypoints: expected x, y, v triplets, got 2 numbers"},
        {"{\"images\": [{\"id\": 1}], \"categories\": [{\"id\": 1}], \"annotations\": [{\"id\": 1,"
         " \"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 1, 1], \"area\": -5}]}",
         "annotations[0].area: must be >= 0"},
        {"{\"images\": [{\"id\": 1, \"width\": 2, \"height\": 2}", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eval_coco *ev = eval_coco_new(EVAL_SEGM);
        err e;
        err_clear(&e);
        int rc = eval_coco_load_gt_mem(ev, cases[i].json, strlen(cases[i].json), &e);
        eval_coco_free(ev);
        cr_assert_eq(rc, -1, "case %zu should fail", i);
        cr_assert(strstr(e.msg, cases[i].needle), "case %zu: '%s' lacks '%s'", i, e.msg,
                  cases[i].needle);
    }
}

Test(eval_io, duplicate_ids_fail_at_run)
{
    eval_coco *ev = eval_coco_new(EVAL_BBOX);
    err e;
    const char gt[] = "{\"images\": [{\"id\": 1}, {\"id\": 1}], \"categories\": [], "
                      "\"annotations\": []}";
    cr_assert_eq(eval_coco_load_gt_mem(ev, gt, sizeof gt - 1, &e), 0, "%s", e.msg);
    cr_assert_eq(eval_coco_run(ev, NULL, &e), -1);
    cr_assert_str_eq(e.msg, "images: id 1 appears more than once");
    eval_coco_free(ev);
}

Test(eval_io, file_errors)
{
    eval_coco *ev = eval_coco_new(EVAL_BBOX);
    err e;
    cr_assert_eq(eval_coco_load_gt_file(ev, "/nonexistent/gt.json", &e), -1);
    cr_assert_eq(e.code, ERR_NOT_FOUND);
    cr_assert(strstr(e.msg, "/nonexistent/gt.json: cannot open"), "%s", e.msg);
    eval_coco_free(ev);
}

Test(eval_io, number_parser_is_exact)
{
    double v;
    cr_assert_eq(eval_parse_double("0.1", 3, &v), 0);
    cr_assert_eq(v, 0.1);
    cr_assert_eq(eval_parse_double("-123.456e-2", 11, &v), 0);
    cr_assert_eq(v, -1.23456);
    /* more than 15 digits: the strtod path, still correctly rounded */
    cr_assert_eq(eval_parse_double("0.30000000000000004", 19, &v), 0);
    cr_assert_eq(v, 0.30000000000000004);
    cr_assert_eq(eval_parse_double("1e400", 5, &v), -1);
    int64_t i;
    cr_assert_eq(eval_parse_int64("-9223372036854775808", 20, &i), 0);
    cr_assert_eq(i, INT64_MIN);
    cr_assert_eq(eval_parse_int64("9223372036854775808", 19, &i), -1);
    cr_assert_eq(eval_parse_int64("1.0", 3, &i), -1);
}

/* --- large files: the two-halves parallel reader ------------------------- */

static char *big_gt(size_t *n)
{
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "{\"images\": [");
    for (int i = 1; i <= 1000; i++)
        sbuf_printf(&b, "%s{\"id\": %d, \"width\": 640, \"height\": 480}", i > 1 ? "," : "", i);
    sbuf_puts(&b, "], \"categories\": [{\"id\": 1}, {\"id\": 2}, {\"id\": 3}], \"annotations\": [");
    for (int i = 1; i <= 3000; i++)
        sbuf_printf(&b,
                    "%s{\"id\": %d, \"image_id\": %d, \"category_id\": %d, \"bbox\": [%d, %d, "
                    "%d, %d], \"area\": %d, \"iscrowd\": 0}",
                    i > 1 ? "," : "", i, 1 + i % 1000, 1 + i % 3, i % 300, i % 200, 20 + i % 90,
                    20 + i % 70, (20 + i % 90) * (20 + i % 70));
    sbuf_puts(&b, "]}");
    return sbuf_detach(&b, n);
}

/* 120k results (~9.5 MB, above the parallel reader's threshold); extra adds
 * a string field to each; bad_at >= 0 breaks that result's bbox */
static char *big_dt(size_t *n, const char *extra, long bad_at)
{
    sbuf b = SBUF_INIT;
    sbuf_putc(&b, '[');
    for (long i = 0; i < 120000; i++) {
        long g = 1 + i % 3000;
        sbuf_printf(&b,
                    "%s{\"image_id\": %ld, \"category_id\": %ld, \"bbox\": [%ld, %ld, %ld%s], "
                    "\"score\": 0.%03ld%s}",
                    i ? ",\n" : "", 1 + g % 1000, 1 + g % 3, g % 300 + i % 7, g % 200, 20 + g % 90,
                    i == bad_at ? "" : ", 33", (i * 7919) % 1000, extra);
    }
    sbuf_putc(&b, ']');
    return sbuf_detach(&b, n);
}

static eval_coco *eval_from(const char *gt, size_t gn, const char *dt, size_t dn, bool file, err *e,
                            int *rc)
{
    eval_coco *ev = eval_coco_new(EVAL_BBOX);
    cr_assert_eq(eval_coco_load_gt_mem(ev, gt, gn, e), 0, "%s", e->msg);
    if (file) {
        char path[] = "/tmp/cvops-eval-dt-XXXXXX";
        int fd = mkstemp(path);
        cr_assert(fd >= 0);
        FILE *f = fdopen(fd, "w");
        cr_assert_eq(fwrite(dt, 1, dn, f), dn);
        fclose(f);
        *rc = eval_coco_load_dt_file(ev, path, e);
        unlink(path);
    } else {
        *rc = eval_coco_load_dt_mem(ev, dt, dn, e);
    }
    if (*rc == 0) *rc = eval_coco_run(ev, NULL, e);
    return ev;
}

static void same_as_sequential(const char *extra)
{
    size_t gn, dn;
    char *gt = big_gt(&gn), *dt = big_dt(&dn, extra, -1);
    cr_assert_gt(dn, 8u << 20);
    err e1, e2;
    int rc1, rc2;
    eval_coco *a = eval_from(gt, gn, dt, dn, true, &e1, &rc1);
    eval_coco *b = eval_from(gt, gn, dt, dn, false, &e2, &rc2);
    cr_assert_eq(rc1, 0, "%s", e1.msg);
    cr_assert_eq(rc2, 0, "%s", e2.msg);
    cr_assert_eq(eval_coco_num_dts(a), 120000);
    cr_assert_eq(eval_coco_num_dts(b), 120000);
    size_t np = (size_t)10 * 101 * 3 * 4 * 3;
    cr_assert_arr_eq(eval_coco_stats(a, NULL), eval_coco_stats(b, NULL), 12 * sizeof(double));
    cr_assert_arr_eq(eval_coco_precision(a), eval_coco_precision(b), np * sizeof(double));
    cr_assert_arr_eq(eval_coco_scores(a), eval_coco_scores(b), np * sizeof(double));
    /* detection indices survive: the matches name the same results */
    eval_detail da, db;
    cr_assert_eq(eval_coco_detail(a, NULL, &da, &e1), 0);
    cr_assert_eq(eval_coco_detail(b, NULL, &db, &e2), 0);
    cr_assert_eq(da.nmatches, db.nmatches);
    for (size_t i = 0; i < da.nmatches; i++)
        cr_assert_eq(da.matches[i].dt, db.matches[i].dt, "match %zu", i);
    eval_detail_free(&da);
    eval_detail_free(&db);
    eval_coco_free(a);
    eval_coco_free(b);
    free(gt);
    free(dt);
}

Test(eval_io, large_file_read_in_halves_equals_sequential_read, .timeout = 60)
{
    same_as_sequential("");
}

Test(eval_io, large_file_split_inside_a_string_falls_back, .timeout = 60)
{
    /* every result carries "}, {" inside a string: the split point found
     * first is inside a string, one half does not parse, and the file is
     * read again sequentially */
    same_as_sequential(", \"note\": \"}, {\"");
}

Test(eval_io, large_file_error_in_second_half_has_the_global_index, .timeout = 60)
{
    size_t gn, dn;
    char *gt = big_gt(&gn), *dt = big_dt(&dn, "", 110000);
    err e;
    int rc;
    eval_coco *a = eval_from(gt, gn, dt, dn, true, &e, &rc);
    cr_assert_eq(rc, -1);
    cr_assert(strstr(e.msg, "results[110000].bbox: expected 4 numbers"), "%s", e.msg);
    cr_assert_eq(eval_coco_num_dts(a), 0, "a failed read leaves no detection behind? got %zu",
                 eval_coco_num_dts(a));
    eval_coco_free(a);
    free(gt);
    free(dt);
}
