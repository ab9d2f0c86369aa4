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
    if (rc == 0)
        rc = eval_coco_run(ev, NULL, &e);
    eval_coco_free(ev);
    cr_assert_eq(rc, -1, "expected an error for %s", json);
    return strdup(e.msg);
}

#define EXPECT_DT_ERROR(json, needle)                                                          \
    do {                                                                                       \
        char *m_ = dt_error(json);                                                             \
        cr_assert(strstr(m_, needle), "message '%s' should contain '%s'", m_, needle);         \
        free(m_);                                                                              \
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
    EXPECT_DT_ERROR("[{\"image_id\": 7, \"category_id\": 1, \"bbox\": [0,0,1,1], \"score\": 1e999}]",
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
