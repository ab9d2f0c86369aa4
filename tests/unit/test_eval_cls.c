/*
 * Unit tests for the classification metrics (src/eval/cls) and their file
 * formats. Expected values are computed by hand in the comments.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "eval/cls.h"

#define TOL 1e-12

static eval_cls *three_classes(void)
{
    eval_cls *c = eval_cls_new();
    err e;
    cr_assert_eq(eval_cls_add_class(c, "a", &e), 0);
    cr_assert_eq(eval_cls_add_class(c, "b", &e), 0);
    cr_assert_eq(eval_cls_add_class(c, "c", &e), 0);
    return c;
}

Test(eval_cls, labels_only_hand_computed)
{
    /* labels [a,a,b,b,c], predictions [a,b,b,b,a]
     * confusion (rows = label): a: [1,1,0]  b: [0,2,0]  c: [1,0,0]
     * accuracy 3/5. a: tp 1, predicted 2, support 2 -> P .5 R .5 F1 .5
     * b: tp 2, predicted 3, support 2 -> P 2/3, R 1, F1 = 2*(2/3)/(5/3) = .8
     * c: tp 0, predicted 0, support 1 -> 0, 0, 0
     * macro: P (.5+2/3+0)/3, R (.5+1+0)/3 = .5, F1 (.5+.8)/3
     * weighted (2,2,1)/5: P (1+4/3)/5, R (1+2)/5 = .6, F1 (1+1.6)/5 = .52 */
    eval_cls *c = three_classes();
    err e;
    int lab[] = {0, 0, 1, 1, 2}, pred[] = {0, 1, 1, 1, 0};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(eval_cls_add(c, lab[i], pred[i], NULL, &e), 0);
    eval_cls_result r;
    cr_assert_eq(eval_cls_compute(c, NULL, &r, &e), 0, "%s", e.msg);
    cr_assert_float_eq(r.accuracy, 0.6, TOL);
    uint64_t want[9] = {1, 1, 0, 0, 2, 0, 1, 0, 0};
    cr_assert_arr_eq(r.confusion, want, sizeof want);
    cr_assert_float_eq(r.per_class[1].precision, 2.0 / 3, TOL);
    cr_assert_float_eq(r.per_class[1].f1, 0.8, TOL);
    cr_assert_eq(r.per_class[2].f1, 0);
    cr_assert_float_eq(r.macro_precision, (0.5 + 2.0 / 3) / 3, TOL);
    cr_assert_float_eq(r.macro_recall, 0.5, TOL);
    cr_assert_float_eq(r.macro_f1, 1.3 / 3, TOL);
    cr_assert_float_eq(r.weighted_precision, (1 + 4.0 / 3) / 5, TOL);
    cr_assert_float_eq(r.weighted_recall, 0.6, TOL);
    cr_assert_float_eq(r.weighted_f1, 0.52, TOL);
    cr_assert_float_eq(r.micro_f1, 0.6, TOL);
    cr_assert_eq(r.top_k_accuracy, -1);
    cr_assert_eq(r.ece, -1);
    eval_cls_result_free(&r);
    eval_cls_free(c);
}

Test(eval_cls, scores_auc_ap_topk_ece)
{
    /* scores (a, b, c) per item, label:
     *   i0 a: (.9, .05, .05)  pred a, conf .9
     *   i1 a: (.4, .5, .1)    pred b, conf .5
     *   i2 b: (.4, .6, 0)     pred b, conf .6
     *   i3 b: (.2, .7, .1)    pred b, conf .7
     *   i4 c: (.1, .3, .6)    pred c, conf .6
     * AUC(a): positives {.9, .4}, negatives {.4, .2, .1}: pairs won
     *   .9: 3; .4: tie with .4 (1/2) + 2 -> 5.5 of 6 = 11/12.
     * AP(a): by score: .9 (pos) -> R .5 P 1; tie group .4 (pos+neg) ->
     *   R 1, P 2/3; then nothing new: AP = .5*1 + .5*2/3 = 5/6.
     * top-1 accuracy = 4/5 (i1 wrong); top-2: i1's label a (.4) has one
     *   higher score (.5) -> inside the top 2: 5/5.
     * ECE with 2 bins (0,.5] and (.5,1]: bin 1 has i1 (conf .5, wrong);
     *   bin 2 has i0 .9, i2 .6, i3 .7, i4 .6, all right: mean conf .7,
     *   accuracy 1. ECE = 1/5*|0-.5| + 4/5*|1-.7| = .1 + .24 = .34 */
    eval_cls *c = three_classes();
    err e;
    double s[5][3] = {{.9, .05, .05}, {.4, .5, .1}, {.4, .6, 0}, {.2, .7, .1}, {.1, .3, .6}};
    int lab[] = {0, 0, 1, 1, 2};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(eval_cls_add(c, lab[i], -1, s[i], &e), 0, "%s", e.msg);
    eval_cls_opts o = {.top_k = 2, .ece_bins = 2};
    eval_cls_result r;
    cr_assert_eq(eval_cls_compute(c, &o, &r, &e), 0, "%s", e.msg);
    cr_assert_float_eq(r.accuracy, 0.8, TOL);
    cr_assert_float_eq(r.top_k_accuracy, 1.0, TOL);
    cr_assert_float_eq(r.per_class[0].auc, 11.0 / 12, TOL);
    cr_assert_float_eq(r.per_class[0].ap, 5.0 / 6, TOL);
    /* c: one positive with the top score .6 -> AUC 1, AP 1 */
    cr_assert_float_eq(r.per_class[2].auc, 1.0, TOL);
    cr_assert_float_eq(r.per_class[2].ap, 1.0, TOL);
    cr_assert_float_eq(r.ece, 0.34, TOL);
    eval_cls_result_free(&r);
    o.top_k = 1;
    cr_assert_eq(eval_cls_compute(c, &o, &r, &e), 0);
    cr_assert_float_eq(r.top_k_accuracy, 0.8, TOL);
    eval_cls_result_free(&r);
    eval_cls_free(c);
}

Test(eval_cls, auc_undefined_without_negatives)
{
    eval_cls *c = eval_cls_new();
    err e;
    eval_cls_add_class(c, "x", &e);
    eval_cls_add_class(c, "y", &e);
    double s[2] = {.7, .3};
    cr_assert_eq(eval_cls_add(c, 0, -1, s, &e), 0);
    cr_assert_eq(eval_cls_add(c, 0, -1, s, &e), 0);
    eval_cls_result r;
    cr_assert_eq(eval_cls_compute(c, NULL, &r, &e), 0);
    cr_assert_eq(r.per_class[0].auc, -1); /* all items positive for x */
    cr_assert_eq(r.per_class[1].ap, -1);  /* no positive for y */
    cr_assert_eq(r.macro_auc, -1);
    eval_cls_result_free(&r);
    eval_cls_free(c);
}

Test(eval_cls, csv_files_with_scores_header)
{
    const char gt[] = "id,label\nimg1,cat\nimg2,dog\n\"img,3\",cat\n";
    const char pred[] = "id,cat,dog\nimg2,0.2,0.8\nimg1,0.9,0.1\n\"img,3\",0.3,0.7\n";
    eval_cls *c = eval_cls_new();
    err e;
    cr_assert_eq(eval_cls_load_mem(c, gt, sizeof gt - 1, pred, sizeof pred - 1, &e), 0, "%s",
                 e.msg);
    cr_assert_eq(eval_cls_num_classes(c), 2);
    cr_assert_str_eq(eval_cls_class_name(c, 0), "cat");
    eval_cls_result r;
    cr_assert_eq(eval_cls_compute(c, NULL, &r, &e), 0);
    /* img1 cat->cat, img2 dog->dog, img,3 cat->dog: 2/3 */
    cr_assert_float_eq(r.accuracy, 2.0 / 3, TOL);
    eval_cls_result_free(&r);
    eval_cls_free(c);
}

Test(eval_cls, json_files)
{
    const char gt[] = "[{\"id\": 1, \"label\": \"cat\"}, {\"id\": 2, \"label\": \"dog\"}]";
    const char pred[] = "[{\"id\": 2, \"label\": \"dog\"}, {\"id\": 1, \"label\": \"dog\"}]";
    eval_cls *c = eval_cls_new();
    err e;
    cr_assert_eq(eval_cls_load_mem(c, gt, sizeof gt - 1, pred, sizeof pred - 1, &e), 0, "%s",
                 e.msg);
    eval_cls_result r;
    cr_assert_eq(eval_cls_compute(c, NULL, &r, &e), 0);
    cr_assert_float_eq(r.accuracy, 0.5, TOL);
    eval_cls_result_free(&r);
    eval_cls_free(c);
}

Test(eval_cls, file_errors_name_the_line)
{
    struct {
        const char *gt, *pred, *needle;
    } cases[] = {
        {"a,x\nb,y\n", "a,x\n", "gt:2: no prediction for id 'b'"},
        {"a,x\n", "a,x\nz,x\n", "pred:2: id 'z' is not in the ground truth"},
        {"a,x\n", "a,x\na,y\n", "pred:2: a second prediction for id 'a'"},
        {"a,x\na,y\n", "a,x\n", "gt:2: id 'a' appears twice"},
        {"a,x\n", "id,x,y\na,0.5\n", "pred:2: expected 3 fields, got 2"},
        {"a,x\n", "id,x,y\na,0.5,zz\n", "pred:2: score for 'y' is not a number: 'zz'"},
        {"a,q\n", "id,x,y\na,0.5,0.5\n", "gt:1: label 'q' is not one of the score columns"},
        {"a,x\n", "[{\"id\": \"a\"}]", "pred[0].label: expected a string or an integer"},
        {"a,x\n", "[{\"id\": \"a\", \"scores\": {\"x\": \"hi\"}}]",
         "pred[0].scores.x: expected a number"},
        {"a,x\n", "[{\"id\": \"a\",", "invalid JSON"},
        {"\"a,x\n", "a,x\n", "gt:1: unterminated quoted field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eval_cls *c = eval_cls_new();
        err e;
        err_clear(&e);
        int rc = eval_cls_load_mem(c, cases[i].gt, strlen(cases[i].gt), cases[i].pred,
                                   strlen(cases[i].pred), &e);
        eval_cls_free(c);
        cr_assert_eq(rc, -1, "case %zu should fail", i);
        cr_assert(strstr(e.msg, cases[i].needle), "case %zu: '%s' lacks '%s'", i, e.msg,
                  cases[i].needle);
    }
}
