/*
 * Unit tests of the detector scores of a deployment's supervised metrics
 * (src/deploy/score.c, deploy_det_score): reviewed boxes against a model's
 * boxes through the evaluation engine, on boxes small enough to check by
 * hand.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "deploy/score.h"

static json_t *run(deploy_det_score *s)
{
    jw w;
    sbuf out = SBUF_INIT;
    jw_init(&w, &out);
    err e;
    cr_assert_eq(deploy_det_score_write(s, &w, &e), 0, "%s", e.msg);
    json_t *j = json_loads(sbuf_cstr(&out), 0, NULL);
    cr_assert_not_null(j, "%s", sbuf_cstr(&out));
    sbuf_free(&out);
    return j;
}

static void add(deploy_det_score *s, const char *truth, const char *pred)
{
    json_t *t = json_loads(truth, 0, NULL), *p = json_loads(pred, 0, NULL);
    err e;
    cr_assert_eq(deploy_det_score_add(s, t, p, &e), 0, "%s", e.msg);
    json_decref(t);
    json_decref(p);
}

static double num(json_t *j, const char *k)
{
    json_t *v = json_object_get(j, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

#define BOX(x, y, w, h, l)                                                                         \
    "{\"x\":" #x ",\"y\":" #y ",\"w\":" #w ",\"h\":" #h ",\"label\":\"" l "\"}"
#define SBOX(x, y, w, h, l, s)                                                                     \
    "{\"x\":" #x ",\"y\":" #y ",\"w\":" #w ",\"h\":" #h ",\"label\":\"" l "\",\"score\":" #s "}"

Test(deploy_score, detector_boxes_by_hand)
{
    deploy_det_score *s = deploy_det_score_new();
    cr_assert_not_null(s);
    /* image 1: car found exactly (TP), person missed (FN) and a person box
     * elsewhere (FP) */
    add(s, "[" BOX(0, 0, 10, 10, "car") "," BOX(20, 20, 10, 10, "person") "]",
        "[" SBOX(0, 0, 10, 10, "car", 0.9) "," SBOX(50, 50, 10, 10, "person", 0.8) "]");
    /* image 2: car shifted by 1 px: IoU 90/110 = 0.818, a TP at IoU 0.5..0.8 */
    add(s, "[" BOX(0, 0, 10, 10, "car") "]", "[" SBOX(1, 0, 10, 10, "car", 0.7) "]");
    /* image 3: no object reviewed, a car predicted (FP) */
    add(s, "[]", "[" SBOX(0, 0, 5, 5, "car", 0.3) "]");
    json_t *j = run(s);
    cr_assert_eq(json_integer_value(json_object_get(j, "images")), 3);
    cr_assert_eq(json_integer_value(json_object_get(j, "ground_truths")), 3);
    cr_assert_eq(json_integer_value(json_object_get(j, "detections")), 4);
    cr_assert_eq(json_integer_value(json_object_get(j, "tp")), 2);
    cr_assert_eq(json_integer_value(json_object_get(j, "fp")), 2);
    cr_assert_eq(json_integer_value(json_object_get(j, "fn")), 1);
    cr_assert_float_eq(num(j, "precision"), 0.5, 1e-12);
    cr_assert_float_eq(num(j, "recall"), 2.0 / 3, 1e-12);
    /* AP50: car 1 (both cars ranked above the FP), person 0 */
    cr_assert_float_eq(num(j, "map_50"), 0.5, 1e-9);
    /* car at IoU .85-.95: only the exact box, recall 0.5 at precision 1:
     * 51 of the 101 recall points; 7 thresholds of 10 give AP 1 */
    double car = (7 + 3 * 51.0 / 101) / 10;
    cr_assert_float_eq(num(j, "map_50_95"), car / 2, 1e-9, "%g", num(j, "map_50_95"));
    json_t *pc = json_object_get(j, "per_class");
    cr_assert_eq(json_array_size(pc), 2);
    json_t *c0 = json_array_get(pc, 0), *c1 = json_array_get(pc, 1);
    cr_assert_str_eq(json_string_value(json_object_get(c0, "label")), "car");
    cr_assert_eq(json_integer_value(json_object_get(c0, "support")), 2);
    cr_assert_float_eq(num(c0, "ap_50"), 1.0, 1e-9);
    cr_assert_float_eq(num(c0, "ap"), car, 1e-9);
    cr_assert_str_eq(json_string_value(json_object_get(c1, "label")), "person");
    cr_assert_float_eq(num(c1, "ap_50"), 0.0, 1e-9);
    json_decref(j);
    deploy_det_score_free(s);
}

Test(deploy_score, detector_empty_and_odd_boxes)
{
    /* nothing added: counts 0, scores null */
    deploy_det_score *s = deploy_det_score_new();
    json_t *j = run(s);
    cr_assert_eq(json_integer_value(json_object_get(j, "images")), 0);
    cr_assert(json_is_null(json_object_get(j, "precision")));
    cr_assert(json_is_null(json_object_get(j, "map_50")));
    json_decref(j);
    deploy_det_score_free(s);
    /* boxes without a label or coordinates are left out; NULL arrays are
     * empty images */
    s = deploy_det_score_new();
    add(s, "[{\"x\":1},{\"label\":\"a\",\"x\":0,\"y\":0,\"w\":4}]", "[{\"label\":7}]");
    err e;
    cr_assert_eq(deploy_det_score_add(s, NULL, NULL, &e), 0);
    j = run(s);
    cr_assert_eq(json_integer_value(json_object_get(j, "images")), 2);
    cr_assert_eq(json_integer_value(json_object_get(j, "ground_truths")), 0);
    cr_assert_eq(json_integer_value(json_object_get(j, "detections")), 0);
    cr_assert(json_is_null(json_object_get(j, "recall")));
    json_decref(j);
    deploy_det_score_free(s);
}
