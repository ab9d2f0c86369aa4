/*
 * Unit tests for the COCO metrics through the in-memory API: hand-computed
 * cases (the reasoning is in the comments) and properties (perfect
 * detections, none, order independence, duplicates, categories without
 * ground truth, thread-count determinism).
 *
 * Note on "1.0": the reference's precision is tp / (fp + tp + eps), so a
 * single true positive has precision 1/(1+2.2e-16) = 1 - 2.2e-16; values
 * are compared with a 1e-12 tolerance.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "eval/rle.h"

#define TOL 1e-12

static eval_coco *mk(eval_iou_type t, int nimg, int ncat)
{
    eval_coco *ev = eval_coco_new(t);
    err e;
    for (int i = 1; i <= nimg; i++)
        cr_assert_eq(eval_coco_add_image(ev, i, 640, 480, &e), 0);
    for (int c = 1; c <= ncat; c++)
        cr_assert_eq(eval_coco_add_category(ev, c, "c", &e), 0);
    return ev;
}

static void gt(eval_coco *ev, int64_t id, int64_t img, int64_t cat, double x, double y, double w,
               double h, bool crowd)
{
    err e;
    eval_ann a = {.id = id,
                  .image_id = img,
                  .category_id = cat,
                  .has_bbox = true,
                  .bbox = {x, y, w, h},
                  .area = w * h,
                  .iscrowd = crowd};
    cr_assert_eq(eval_coco_add_gt(ev, &a, &e), 0, "%s", e.msg);
}

static void dt(eval_coco *ev, int64_t img, int64_t cat, double x, double y, double w, double h,
               double score)
{
    err e;
    eval_ann a = {.image_id = img,
                  .category_id = cat,
                  .has_bbox = true,
                  .bbox = {x, y, w, h},
                  .area = -1,
                  .score = score};
    cr_assert_eq(eval_coco_add_dt(ev, &a, &e), 0, "%s", e.msg);
}

static const double *run(eval_coco *ev)
{
    err e;
    cr_assert_eq(eval_coco_run(ev, NULL, &e), 0, "%s", e.msg);
    int n;
    const double *s = eval_coco_stats(ev, &n);
    cr_assert_eq(n, eval_coco_type(ev) == EVAL_KEYPOINTS ? 10 : 12);
    return s;
}

Test(eval_coco, thresholds_are_numpy_linspace)
{
    eval_params p;
    eval_params_init(&p, EVAL_BBOX);
    /* numpy.linspace(.5, .95, 10): i*((0.95-0.5)/9) + 0.5, last set to 0.95.
     * The 9th is 0.8999999999999999, not 0.9; .5 and .75 are exact, which
     * is what lets the reference's summary find them with ==. */
    cr_assert_eq(p.n_iou, 10);
    cr_assert_eq(p.iou_thrs[0], 0.5);
    cr_assert_eq(p.iou_thrs[5], 0.75);
    cr_assert_eq(p.iou_thrs[8], 0.8999999999999999);
    cr_assert_eq(p.iou_thrs[9], 0.95);
    /* recall points i*0.01: 7*0.01 = 0.07000000000000001 */
    cr_assert_eq(p.n_rec, 101);
    cr_assert_eq(p.rec_thrs[7], 0.07000000000000001);
    cr_assert_eq(p.rec_thrs[100], 1.0);
    cr_assert_eq(p.area_rng[1][1], 1024);
    cr_assert_eq(p.area_rng[3][1], 1e10);
}

Test(eval_coco, perfect_detections_give_one)
{
    eval_coco *ev = mk(EVAL_BBOX, 3, 2);
    /* one small (20x20=400), one medium (50x50=2500), one large (200x100) box */
    gt(ev, 1, 1, 1, 10, 10, 20, 20, false);
    gt(ev, 2, 2, 1, 100, 100, 50, 50, false);
    gt(ev, 3, 3, 2, 0, 0, 200, 100, false);
    dt(ev, 1, 1, 10, 10, 20, 20, 0.9);
    dt(ev, 2, 1, 100, 100, 50, 50, 0.8);
    dt(ev, 3, 2, 0, 0, 200, 100, 0.7);
    const double *s = run(ev);
    for (int i = 0; i < 12; i++) {
        /* AR@1 is 1 too: one object per image and category */
        cr_assert_float_eq(s[i], 1.0, TOL, "stat %d = %.17g", i, s[i]);
    }
    eval_coco_free(ev);
}

Test(eval_coco, no_detections_give_zero_and_undefined_give_minus_one)
{
    eval_coco *ev = mk(EVAL_BBOX, 2, 2);
    gt(ev, 1, 1, 1, 10, 10, 20, 20, false); /* small only */
    const double *s = run(ev);
    /* category 1 has ground truth: precision and recall are 0, not -1 */
    cr_assert_eq(s[0], 0);
    cr_assert_eq(s[1], 0);
    cr_assert_eq(s[3], 0);
    cr_assert_eq(s[8], 0);
    /* no medium or large ground truth anywhere: undefined -> -1 */
    cr_assert_eq(s[4], -1);
    cr_assert_eq(s[5], -1);
    cr_assert_eq(s[10], -1);
    cr_assert_eq(s[11], -1);
    /* category 2 has no ground truth: -1 everywhere for it */
    eval_cat_result r;
    eval_coco_category_result(ev, 1, &r);
    cr_assert_eq(r.ap, -1);
    cr_assert_eq(r.ar100, -1);
    eval_coco_free(ev);
}

Test(eval_coco, category_without_ground_truth_is_minus_one_and_left_out_of_the_mean)
{
    eval_coco *ev = mk(EVAL_BBOX, 1, 2);
    gt(ev, 1, 1, 1, 0, 0, 100, 100, false);
    dt(ev, 1, 1, 0, 0, 100, 100, 0.9);
    dt(ev, 1, 2, 300, 300, 50, 50, 0.95); /* category 2: detections, no ground truth */
    const double *s = run(ev);
    eval_cat_result r2;
    eval_coco_category_result(ev, 1, &r2);
    cr_assert_eq(r2.ap, -1);
    cr_assert_eq(r2.n_dt, 1);
    /* the mean is over category 1 alone: 1, not 0.5 */
    cr_assert_float_eq(s[0], 1.0, TOL);
    const double *prec = eval_coco_precision(ev);
    /* precision[t=0][r=0][k=1][a=0][m=2] = index ((0*101+0)*2+1)*4*3 + 2 */
    cr_assert_eq(prec[(size_t)1 * 4 * 3 + 2], -1);
    eval_coco_free(ev);
}

Test(eval_coco, duplicate_detection_lowers_precision_by_the_expected_amount)
{
    /* Two ground truths; detections by score: d1 = g1 (TP), d2 = copy of g1
     * (FP, g1 taken), d3 = g2 (TP), at every IoU threshold.
     * tp = [1,1,2], fp = [0,1,1], recall = [.5,.5,1], precision = [1,.5,2/3];
     * interpolated (max to the right) = [1, 2/3, 2/3]. Recall points
     * 0..0.50 (51 of them) land on index 0 -> 1; 0.51..1 (50) on index 2
     * -> 2/3. AP = (51 + 50*2/3) / 101 = 0.8349834983... Without d2: 1. */
    eval_coco *ev = mk(EVAL_BBOX, 1, 1);
    gt(ev, 1, 1, 1, 0, 0, 100, 100, false);
    gt(ev, 2, 1, 1, 200, 200, 100, 100, false);
    dt(ev, 1, 1, 0, 0, 100, 100, 0.9);
    dt(ev, 1, 1, 0, 0, 100, 100, 0.8);
    dt(ev, 1, 1, 200, 200, 100, 100, 0.7);
    const double *s = run(ev);
    double want = (51.0 + 50.0 * 2.0 / 3.0) / 101.0;
    cr_assert_float_eq(s[0], want, TOL, "AP %.17g, want %.17g", s[0], want);
    cr_assert_float_eq(s[1], want, TOL);
    /* recall is unaffected: both objects found */
    cr_assert_float_eq(s[8], 1.0, TOL);
    eval_coco_free(ev);
}

Test(eval_coco, crowd_regions_absorb_detections)
{
    /* g1 regular at (0,0,50,50); g2 a crowd region (200,200,200,200).
     * d1 (score .9) is a 20x20 box inside the crowd: plain IoU would be
     * 400/40000 = 0.01, crowd IoU = I/area(d) = 1 -> matched to an ignored
     * ground truth -> ignored. d2 (score .8) = g1 -> TP. AP = 1.
     * Without the crowd flag d1 is a FP ahead of the TP: precision [0, .5],
     * recall [0, 1], interpolated [.5, .5] -> AP = .5. */
    for (int crowd = 0; crowd <= 1; crowd++) {
        eval_coco *ev = mk(EVAL_BBOX, 1, 1);
        gt(ev, 1, 1, 1, 0, 0, 50, 50, false);
        gt(ev, 2, 1, 1, 200, 200, 200, 200, crowd);
        dt(ev, 1, 1, 250, 250, 20, 20, 0.9);
        dt(ev, 1, 1, 0, 0, 50, 50, 0.8);
        const double *s = run(ev);
        if (crowd) {
            cr_assert_float_eq(s[0], 1.0, TOL);
        } else {
            /* g2 is regular and never matched: recall 1/2 at most; d1 FP first */
            cr_assert_lt(s[0], 0.5 + TOL);
        }
        eval_coco_free(ev);
    }
}

Test(eval_coco, crowd_only_image_alone)
{
    /* one crowd region matched by two detections: both ignored, the
     * category has no regular ground truth -> -1 */
    eval_coco *ev = mk(EVAL_BBOX, 1, 1);
    gt(ev, 1, 1, 1, 0, 0, 100, 100, true);
    dt(ev, 1, 1, 10, 10, 20, 20, 0.9);
    dt(ev, 1, 1, 30, 30, 20, 20, 0.8);
    const double *s = run(ev);
    cr_assert_eq(s[0], -1);
    eval_coco_free(ev);
}

Test(eval_coco, ties_keep_insertion_order)
{
    /* One ground truth, two detections with the same score: dA exact, dB
     * with IoU 0.6 (box 60 wide inside 100: I = 6000, U = 10000).
     * dA inserted first: TP then FP at every threshold -> AP 1.
     * dB first: at t = .5,.55,.6 dB is the TP (AP_t = 1); at the 7 others
     * dB is a FP ahead of dA: precision [0, .5] -> AP_t = .5.
     * AP = (3*1 + 7*.5)/10 = 0.65. */
    for (int order = 0; order < 2; order++) {
        eval_coco *ev = mk(EVAL_BBOX, 1, 1);
        gt(ev, 1, 1, 1, 0, 0, 100, 100, false);
        if (order == 0) {
            dt(ev, 1, 1, 0, 0, 100, 100, 0.5);
            dt(ev, 1, 1, 0, 0, 60, 100, 0.5);
        } else {
            dt(ev, 1, 1, 0, 0, 60, 100, 0.5);
            dt(ev, 1, 1, 0, 0, 100, 100, 0.5);
        }
        const double *s = run(ev);
        cr_assert_float_eq(s[0], order == 0 ? 1.0 : 0.65, TOL, "order %d: %.17g", order, s[0]);
        eval_coco_free(ev);
    }
}

Test(eval_coco, equal_iou_prefers_the_last_ground_truth)
{
    /* Two identical ground truths g1 (id 1), g2 (id 2): a detection has the
     * same IoU with both and takes the later one (the reference replaces the
     * best on >=). Observable through the detail matches. */
    eval_coco *ev = mk(EVAL_BBOX, 1, 1);
    gt(ev, 1, 1, 1, 0, 0, 100, 100, false);
    gt(ev, 2, 1, 1, 0, 0, 100, 100, false);
    dt(ev, 1, 1, 0, 0, 100, 100, 0.9);
    eval_detail d;
    err e;
    cr_assert_eq(eval_coco_detail(ev, NULL, &d, &e), 0, "%s", e.msg);
    cr_assert_eq(d.nmatches, 2);
    cr_assert_eq(d.matches[0].kind, EVAL_MATCH_TP);
    cr_assert_eq(d.matches[0].gt_id, 2);
    cr_assert_eq(d.matches[1].kind, EVAL_MATCH_FN);
    cr_assert_eq(d.matches[1].gt_id, 1);
    eval_detail_free(&d);
    eval_coco_free(ev);
}

Test(eval_coco, area_ranges_and_unmatched_detections_outside_them)
{
    /* g1 small (20x20 = 400). d1 matches it; d2 is a large unmatched box
     * (200x200) scoring higher. For "small": d2 is unmatched and outside the
     * range -> ignored -> AP_small = 1. For "all": d2 is a FP ahead of the
     * TP -> precision [0, .5] -> AP = .5. "large": no ground truth -> -1. */
    eval_coco *ev = mk(EVAL_BBOX, 1, 1);
    gt(ev, 1, 1, 1, 10, 10, 20, 20, false);
    dt(ev, 1, 1, 300, 200, 200, 200, 0.9);
    dt(ev, 1, 1, 10, 10, 20, 20, 0.8);
    const double *s = run(ev);
    cr_assert_float_eq(s[0], 0.5, TOL);
    cr_assert_float_eq(s[3], 1.0, TOL);
    cr_assert_eq(s[5], -1);
    eval_coco_free(ev);
}

Test(eval_coco, max_dets_limits_recall)
{
    /* three objects in one image, three exact detections: AR@1 = 1/3,
     * AR@10 = AR@100 = 1 */
    eval_coco *ev = mk(EVAL_BBOX, 1, 1);
    for (int i = 0; i < 3; i++) {
        gt(ev, i + 1, 1, 1, i * 100, 0, 50, 50, false);
        dt(ev, 1, 1, i * 100, 0, 50, 50, 0.9 - i * 0.1);
    }
    const double *s = run(ev);
    cr_assert_float_eq(s[6], 1.0 / 3, TOL);
    cr_assert_float_eq(s[7], 1.0, TOL);
    cr_assert_float_eq(s[8], 1.0, TOL);
    eval_coco_free(ev);
}

Test(eval_coco, ground_truth_id_zero_never_makes_a_true_positive)
{
    /* The reference records the matched ground-truth id in a zero-filled
     * array and tests it for truth: a match to id 0 counts as a FP. */
    eval_coco *ev = mk(EVAL_BBOX, 1, 1);
    gt(ev, 0, 1, 1, 0, 0, 100, 100, false);
    dt(ev, 1, 1, 0, 0, 100, 100, 0.9);
    const double *s = run(ev);
    cr_assert_eq(s[0], 0);
    eval_coco_free(ev);
}

/* A deterministic random case (LCG), inserted in a permuted order. */
static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 33;
}

static eval_coco *random_case(uint64_t seed, uint64_t perm_seed, int threads)
{
    enum { NI = 12, NC = 3, NG = 60, ND = 150 };
    static struct {
        int64_t img, cat;
        double b[4];
        bool crowd;
    } g[NG];
    static struct {
        int64_t img, cat;
        double b[4], s;
    } d[ND];
    uint64_t st = seed;
    for (int i = 0; i < NG; i++) {
        g[i].img = 1 + (int64_t)(lcg(&st) % NI);
        g[i].cat = 1 + (int64_t)(lcg(&st) % NC);
        double sz = 5 + (double)(lcg(&st) % 150);
        g[i].b[0] = (double)(lcg(&st) % 400);
        g[i].b[1] = (double)(lcg(&st) % 300);
        g[i].b[2] = sz;
        g[i].b[3] = sz * (0.5 + (double)(lcg(&st) % 100) / 100);
        g[i].crowd = lcg(&st) % 25 == 0;
    }
    for (int i = 0; i < ND; i++) {
        int k = (int)(lcg(&st) % NG);
        d[i].img = g[k].img;
        d[i].cat = lcg(&st) % 8 ? g[k].cat : 1 + (int64_t)(lcg(&st) % NC);
        for (int j = 0; j < 4; j++)
            d[i].b[j] = g[k].b[j] * (0.85 + (double)(lcg(&st) % 300) / 1000);
        d[i].s = (double)(i * 7919 % ND) / ND; /* distinct scores */
    }
    eval_coco *ev = eval_coco_new(EVAL_BBOX);
    err e;
    int order_i[NI];
    for (int i = 0; i < NI; i++)
        order_i[i] = i;
    uint64_t ps = perm_seed;
    for (int i = NI - 1; perm_seed && i > 0; i--) {
        int j = (int)(lcg(&ps) % (uint64_t)(i + 1));
        int t = order_i[i];
        order_i[i] = order_i[j];
        order_i[j] = t;
    }
    for (int i = 0; i < NI; i++)
        eval_coco_add_image(ev, order_i[i] + 1, 640, 480, &e);
    for (int c = NC; c >= 1; c--)
        eval_coco_add_category(ev, c, "c", &e);
    int og[NG], od[ND];
    for (int i = 0; i < NG; i++)
        og[i] = i;
    for (int i = 0; i < ND; i++)
        od[i] = i;
    for (int i = NG - 1; perm_seed && i > 0; i--) {
        int j = (int)(lcg(&ps) % (uint64_t)(i + 1)), t = og[i];
        og[i] = og[j];
        og[j] = t;
    }
    for (int i = ND - 1; perm_seed && i > 0; i--) {
        int j = (int)(lcg(&ps) % (uint64_t)(i + 1)), t = od[i];
        od[i] = od[j];
        od[j] = t;
    }
    for (int i = 0; i < NG; i++) {
        int k = og[i];
        eval_ann a = {.id = k + 1,
                      .image_id = g[k].img,
                      .category_id = g[k].cat,
                      .has_bbox = true,
                      .area = g[k].b[2] * g[k].b[3],
                      .iscrowd = g[k].crowd};
        memcpy(a.bbox, g[k].b, sizeof a.bbox);
        cr_assert_eq(eval_coco_add_gt(ev, &a, &e), 0, "%s", e.msg);
    }
    for (int i = 0; i < ND; i++) {
        int k = od[i];
        eval_ann a = {.image_id = d[k].img,
                      .category_id = d[k].cat,
                      .has_bbox = true,
                      .area = -1,
                      .score = d[k].s};
        memcpy(a.bbox, d[k].b, sizeof a.bbox);
        cr_assert_eq(eval_coco_add_dt(ev, &a, &e), 0, "%s", e.msg);
    }
    eval_params p;
    eval_params_init(&p, EVAL_BBOX);
    p.threads = threads;
    cr_assert_eq(eval_coco_run(ev, &p, &e), 0, "%s", e.msg);
    return ev;
}

Test(eval_coco, input_order_does_not_change_results)
{
    eval_coco *a = random_case(42, 0, 1);
    const double *sa = eval_coco_stats(a, NULL);
    cr_assert(sa[0] > 0.05 && sa[0] < 0.95, "the case should not be trivial: %g", sa[0]);
    size_t np = (size_t)10 * 101 * 3 * 4 * 3;
    for (uint64_t perm = 1; perm <= 3; perm++) {
        eval_coco *b = random_case(42, perm, 1);
        /* exactly equal, not just close: the same operations in the same order */
        cr_assert_arr_eq(eval_coco_stats(b, NULL), sa, 12 * sizeof(double));
        cr_assert_arr_eq(eval_coco_precision(b), eval_coco_precision(a), np * sizeof(double));
        cr_assert_arr_eq(eval_coco_scores(b), eval_coco_scores(a), np * sizeof(double));
        eval_coco_free(b);
    }
    eval_coco_free(a);
}

Test(eval_coco, results_do_not_depend_on_thread_count)
{
    eval_coco *a = random_case(7, 0, 1), *b = random_case(7, 0, 2), *c = random_case(7, 0, 4);
    size_t np = (size_t)10 * 101 * 3 * 4 * 3;
    cr_assert_arr_eq(eval_coco_precision(a), eval_coco_precision(b), np * sizeof(double));
    cr_assert_arr_eq(eval_coco_precision(a), eval_coco_precision(c), np * sizeof(double));
    cr_assert_arr_eq(eval_coco_recall(a), eval_coco_recall(c), np / 101 * sizeof(double));
    eval_coco_free(a);
    eval_coco_free(b);
    eval_coco_free(c);
}

/* A case big enough for the parallel paths (more than 20,000 detections:
 * the parallel resolve and radix sort; more than 2,048 detections in a
 * category: accumulate's 11-bit radix): 320 images, 2 categories, 100
 * detections per image with 2-decimal scores (many ties), inserted in
 * image order or shuffled. */
static eval_coco *large_case(uint64_t perm_seed, int threads)
{
    enum { NI = 320, NC = 2, GPI = 6, DPI = 100 };
    static double gb[NI][GPI][4], db[NI][DPI][4], ds[NI][DPI];
    static int gc[NI][GPI], dc[NI][DPI];
    static bool gcrowd[NI][GPI];
    uint64_t st = 99;
    for (int i = 0; i < NI; i++) {
        for (int g = 0; g < GPI; g++) {
            double sz = 4 + (double)(lcg(&st) % 200);
            gb[i][g][0] = (double)(lcg(&st) % 400);
            gb[i][g][1] = (double)(lcg(&st) % 300);
            gb[i][g][2] = sz;
            gb[i][g][3] = sz * (0.5 + (double)(lcg(&st) % 100) / 100);
            gc[i][g] = 1 + (int)(lcg(&st) % NC);
            gcrowd[i][g] = lcg(&st) % 30 == 0;
        }
        for (int d = 0; d < DPI; d++) {
            int g = (int)(lcg(&st) % GPI);
            for (int j = 0; j < 4; j++)
                db[i][d][j] = gb[i][g][j] * (0.8 + (double)(lcg(&st) % 400) / 1000);
            dc[i][d] = lcg(&st) % 4 ? gc[i][g] : 1 + (int)(lcg(&st) % NC);
            ds[i][d] = (double)(lcg(&st) % 101) / 100;
        }
    }
    eval_coco *ev = mk(EVAL_BBOX, NI, NC);
    err e;
    static int order[NI * DPI];
    for (int k = 0; k < NI * DPI; k++)
        order[k] = k;
    uint64_t ps = perm_seed;
    for (int k = NI * DPI - 1; perm_seed && k > 0; k--) {
        int j = (int)(lcg(&ps) % (uint64_t)(k + 1)), t = order[k];
        order[k] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < NI; i++)
        for (int g = 0; g < GPI; g++)
            gt(ev, i * GPI + g + 1, i + 1, gc[i][g], gb[i][g][0], gb[i][g][1], gb[i][g][2],
               gb[i][g][3], gcrowd[i][g]);
    /* shuffled insertion changes the input order only between images (and
     * keeps it within one): equal scores of one image keep their order */
    static int seen[NI];
    memset(seen, 0, sizeof seen);
    if (perm_seed) {
        for (int k = 0; k < NI * DPI; k++) {
            int i = order[k] / DPI, d = seen[i]++;
            dt(ev, i + 1, dc[i][d], db[i][d][0], db[i][d][1], db[i][d][2], db[i][d][3], ds[i][d]);
        }
    } else {
        for (int i = 0; i < NI; i++)
            for (int d = 0; d < DPI; d++)
                dt(ev, i + 1, dc[i][d], db[i][d][0], db[i][d][1], db[i][d][2], db[i][d][3],
                   ds[i][d]);
    }
    eval_params p;
    eval_params_init(&p, EVAL_BBOX);
    p.threads = threads;
    cr_assert_eq(eval_coco_run(ev, &p, &e), 0, "%s", e.msg);
    return ev;
}

Test(eval_coco, large_case_same_for_any_thread_count_and_input_order, .timeout = 60)
{
    eval_coco *a = large_case(0, 1);
    cr_assert_eq(eval_coco_num_dts(a), 32000u);
    const double *sa = eval_coco_stats(a, NULL);
    cr_assert(sa[0] > 0.05 && sa[0] < 0.95, "the case should not be trivial: %g", sa[0]);
    size_t np = (size_t)10 * 101 * 2 * 4 * 3;
    eval_coco *others[] = {large_case(0, 2), large_case(5, 2), large_case(6, 3)};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        eval_coco *b = others[i];
        /* bit for bit: the same operations in the same order */
        cr_assert_arr_eq(eval_coco_stats(b, NULL), sa, 12 * sizeof(double), "case %zu", i);
        cr_assert_arr_eq(eval_coco_precision(b), eval_coco_precision(a), np * sizeof(double));
        cr_assert_arr_eq(eval_coco_scores(b), eval_coco_scores(a), np * sizeof(double));
        cr_assert_arr_eq(eval_coco_recall(b), eval_coco_recall(a), np / 101 * sizeof(double));
        eval_cat_result ra, rb;
        eval_coco_category_result(a, 1, &ra);
        eval_coco_category_result(b, 1, &rb);
        cr_assert_eq(ra.n_dt, rb.n_dt);
        cr_assert_eq(ra.n_gt, rb.n_gt);
        cr_assert_eq(ra.ap, rb.ap);
        eval_coco_free(b);
    }
    eval_coco_free(a);
}

Test(eval_coco, summary_text_is_the_reference_format)
{
    eval_coco *ev = mk(EVAL_BBOX, 1, 1);
    gt(ev, 1, 1, 1, 10, 10, 20, 20, false);
    dt(ev, 1, 1, 10, 10, 20, 20, 0.9);
    run(ev);
    sbuf b = SBUF_INIT;
    eval_coco_summary_text(ev, &b);
    const char *want =
        " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000\n"
        " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 1.000\n"
        " Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 1.000\n"
        " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 1.000\n"
        " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000\n"
        " Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000\n"
        " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 1.000\n"
        " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 1.000\n"
        " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000\n"
        " Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 1.000\n"
        " Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000\n"
        " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000\n";
    cr_assert_str_eq(sbuf_cstr(&b), want);
    sbuf_free(&b);
    eval_coco_free(ev);
}

Test(eval_coco, segm_polygons_and_rle)
{
    /* gt: polygon square (0,0)-(10,10) -> 10 columns x 10 rows = 100 px.
     * d1: the same square as an RLE string -> IoU 1.
     * d2 in image 2: the square shifted 5 columns: I = 50, U = 150 -> 1/3,
     * below every threshold. Image 1: AP 1; image 2 alone: AP 0.
     * Overall: two gts, scores d1 .9 > d2 .8: TP, FP -> recall 1/2 max:
     * precision 1 up to recall .5 (51 points) -> AP = 51/101. */
    eval_coco *ev = mk(EVAL_SEGM, 2, 1);
    err e;
    double sq[] = {0, 0, 0, 10, 10, 10, 10, 0};
    uint32_t plen[] = {8};
    for (int img = 1; img <= 2; img++) {
        eval_ann g = {.id = img,
                      .image_id = img,
                      .category_id = 1,
                      .area = 100,
                      .seg = {.kind = EVAL_SEG_POLY, .xy = sq, .poly_len = plen, .npoly = 1}};
        cr_assert_eq(eval_coco_add_gt(ev, &g, &e), 0, "%s", e.msg);
    }
    for (int img = 1; img <= 2; img++) {
        uint8_t *m = calloc(480 * 640, 1);
        int x0 = img == 1 ? 0 : 5;
        for (int x = x0; x < x0 + 10; x++)
            for (int y = 0; y < 10; y++)
                m[x * 480 + y] = 1; /* column-major, h = 480 */
        rle r = RLE_INIT;
        cr_assert_eq(rle_from_mask(&r, m, 480, 640, &e), 0);
        sbuf s = SBUF_INIT;
        rle_to_string(&r, &s);
        eval_ann d = {
            .image_id = img,
            .category_id = 1,
            .score = img == 1 ? .9 : .8,
            .area = -1,
            .seg = {.kind = EVAL_SEG_STRING, .str = s.p, .len = s.len, .h = 480, .w = 640}};
        cr_assert_eq(eval_coco_add_dt(ev, &d, &e), 0, "%s", e.msg);
        sbuf_free(&s);
        rle_free(&r);
        free(m);
    }
    const double *st = run(ev);
    cr_assert_float_eq(st[0], 51.0 / 101, TOL, "%.17g", st[0]);
    cr_assert_float_eq(st[8], 0.5, TOL);
    eval_coco_free(ev);
}

Test(eval_coco, keypoints_oks_with_custom_sigmas)
{
    /* One keypoint, sigma .5: variance (2*.5)^2 = 1. Ground-truth area 100.
     * A detection 10 px away: e = 100 / 1 / (100 + eps) / 2 ~ .5,
     * OKS = exp(-.5) = 0.6065: matched at t = .5, .55, .6 only -> AP = .3.
     * A detection on the spot: OKS 1 -> AP 1. */
    for (int far = 0; far <= 1; far++) {
        eval_coco *ev = mk(EVAL_KEYPOINTS, 1, 1);
        err e;
        double sig = 0.5;
        cr_assert_eq(eval_coco_set_sigmas(ev, 1, &sig, 1, &e), 0);
        double gk[3] = {50, 50, 2}, dk[3] = {far ? 60 : 50, 50, 1};
        eval_ann g = {.id = 1,
                      .image_id = 1,
                      .category_id = 1,
                      .has_bbox = true,
                      .bbox = {40, 40, 20, 20},
                      .area = 100,
                      .num_keypoints = -1,
                      .keypoints = gk,
                      .nkeypoints = 1};
        cr_assert_eq(eval_coco_add_gt(ev, &g, &e), 0, "%s", e.msg);
        eval_ann d = {.image_id = 1,
                      .category_id = 1,
                      .score = .9,
                      .area = -1,
                      .keypoints = dk,
                      .nkeypoints = 1};
        cr_assert_eq(eval_coco_add_dt(ev, &d, &e), 0, "%s", e.msg);
        const double *s = run(ev);
        cr_assert_float_eq(s[0], far ? 0.3 : 1.0, TOL, "far %d: %.17g", far, s[0]);
        cr_assert_float_eq(s[1], 1.0, TOL); /* AP at OKS .5 */
        cr_assert_float_eq(s[2], far ? 0.0 : 1.0, TOL);
        eval_coco_free(ev);
    }
}

Test(eval_coco, keypoints_count_must_match_sigmas)
{
    eval_coco *ev = mk(EVAL_KEYPOINTS, 1, 1);
    err e;
    double k5[15] = {0};
    eval_ann d = {
        .image_id = 1, .category_id = 1, .score = .9, .area = -1, .keypoints = k5, .nkeypoints = 5};
    cr_assert_eq(eval_coco_add_dt(ev, &d, &e), 0);
    cr_assert_eq(eval_coco_run(ev, NULL, &e), -1);
    cr_assert(strstr(e.msg, "results[0].keypoints: 5 keypoints, but category 1 has 17"), "%s",
              e.msg);
    eval_coco_free(ev);
}

Test(eval_coco, unknown_ids_are_errors_with_their_place)
{
    eval_coco *ev = mk(EVAL_BBOX, 1, 1);
    err e;
    dt(ev, 1, 1, 0, 0, 10, 10, .5);
    dt(ev, 9, 1, 0, 0, 10, 10, .5);
    cr_assert_eq(eval_coco_run(ev, NULL, &e), -1);
    cr_assert_str_eq(e.msg, "results[1].image_id: 9 is not an image of the ground truth");
    eval_coco_free(ev);
    ev = mk(EVAL_BBOX, 1, 1);
    dt(ev, 1, 5, 0, 0, 10, 10, .5);
    cr_assert_eq(eval_coco_run(ev, NULL, &e), -1);
    cr_assert_str_eq(e.msg, "results[0].category_id: 5 is not a category of the ground truth");
    eval_coco_ignore_unknown_categories(ev, true);
    cr_assert_eq(eval_coco_run(ev, NULL, &e), 0, "%s", e.msg);
    eval_coco_free(ev);
}

Test(eval_coco, detail_confusion_and_errors)
{
    /* image 1: g1 cat 1 at A, g2 cat 2 at B, g3 cat 1 at C.
     *   d1 cat 1 on A (.9)        -> TP; confusion [1][1]
     *   d2 cat 1 on A again (.85) -> duplicate; confusion: A taken, no other
     *                                overlap -> background column... [bg][1]
     *   d3 cat 1 on B (.8)        -> classification error; confusion [2][1]
     *   d4 cat 1 far away (.7)    -> background; [bg][1]
     *   d5 cat 1 at C shifted to IoU 1/3 (.6) -> localization; [bg][1]
     *   g3 unmatched but aimed at by d5 -> not "missed"; confusion [1][bg]
     *   g2 unmatched, aimed at by d3 -> not missed; confusion: g2 was taken by
     *   d3 in the class-agnostic matching.
     * With iou_thr .5, bg_thr .1. */
    eval_coco *ev = mk(EVAL_BBOX, 1, 2);
    gt(ev, 1, 1, 1, 0, 0, 100, 100, false);
    gt(ev, 2, 1, 2, 200, 0, 100, 100, false);
    gt(ev, 3, 1, 1, 400, 0, 100, 100, false);
    dt(ev, 1, 1, 0, 0, 100, 100, .9);
    dt(ev, 1, 1, 0, 0, 100, 100, .85);
    dt(ev, 1, 1, 200, 0, 100, 100, .8);
    dt(ev, 1, 1, 600, 300, 20, 20, .7);
    dt(ev, 1, 1, 450, 0, 100, 100, .6); /* I = 50*100, U = 15000 -> 1/3 */
    eval_detail d;
    err e;
    eval_detail_opts o;
    eval_detail_opts_init(&o);
    cr_assert_eq(eval_coco_detail(ev, &o, &d, &e), 0, "%s", e.msg);
    cr_assert_eq(d.tp, 1);
    cr_assert_eq(d.dupe, 1);
    cr_assert_eq(d.cls, 1);
    cr_assert_eq(d.bkg, 1);
    cr_assert_eq(d.loc, 1);
    cr_assert_eq(d.both, 0);
    cr_assert_eq(d.missed, 0);
    /* K = 2: rows/cols 0 (cat 1), 1 (cat 2), 2 (background); [gt][dt] */
    uint64_t *cm = d.confusion;
    cr_assert_eq(cm[0 * 3 + 0], 1); /* g1 <- d1 */
    cr_assert_eq(cm[1 * 3 + 0], 1); /* g2 (cat 2) <- d3 (cat 1) */
    cr_assert_eq(cm[2 * 3 + 0], 3); /* d2, d4, d5 on background */
    cr_assert_eq(cm[0 * 3 + 2], 1); /* g3 missed */
    /* matches: 5 detections + FNs for g2 (cat 2, no detection) and g3 */
    cr_assert_eq(d.nmatches, 7);
    cr_assert_eq(d.matches[0].kind, EVAL_MATCH_TP);
    cr_assert_eq(d.matches[0].gt_id, 1);
    cr_assert_float_eq(d.matches[4].iou, 1.0 / 3, 1e-12);
    cr_assert_eq(d.matches[5].kind, EVAL_MATCH_FN);
    cr_assert_eq(d.image_first[1], 7);
    /* each false positive carries its type; the matrix is the sum of its hits */
    cr_assert_eq(d.matches[0].error, EVAL_ERR_NONE);
    cr_assert_eq(d.matches[1].error, EVAL_ERR_DUPLICATE);
    cr_assert_eq(d.matches[2].error, EVAL_ERR_CLASSIFICATION);
    cr_assert_eq(d.matches[3].error, EVAL_ERR_BACKGROUND);
    cr_assert_eq(d.matches[4].error, EVAL_ERR_LOCALIZATION);
    cr_assert_str_eq(eval_error_kind_name(d.matches[4].error), "localization");
    uint64_t sum[9] = {0};
    cr_assert_eq(d.ncm_hits, 6);
    for (size_t i = 0; i < d.ncm_hits; i++) {
        cr_assert_eq(d.cm_hits[i].image, 0);
        sum[d.cm_hits[i].row * 3 + d.cm_hits[i].col]++;
    }
    for (int i = 0; i < 9; i++)
        cr_assert_eq(sum[i], cm[i], "cell %d", i);
    eval_detail_free(&d);
    eval_coco_free(ev);
}

Test(eval_coco, segm_iou_uses_the_mask_boxes_not_the_bbox_field)
{
    /* The reference's mask IoU skips pairs whose boxes do not overlap, with
     * boxes computed from the masks. A ground truth whose "bbox" field is
     * wrong (far from its polygon) must still match a detection on the
     * polygon: IoU 1, AP 1. */
    eval_coco *ev = mk(EVAL_SEGM, 1, 1);
    err e;
    double sq[] = {0, 0, 0, 10, 10, 10, 10, 0};
    uint32_t plen[] = {8};
    eval_ann g = {.id = 1,
                  .image_id = 1,
                  .category_id = 1,
                  .area = 100,
                  .has_bbox = true,
                  .bbox = {300, 300, 5, 5},
                  .seg = {.kind = EVAL_SEG_POLY, .xy = sq, .poly_len = plen, .npoly = 1}};
    cr_assert_eq(eval_coco_add_gt(ev, &g, &e), 0, "%s", e.msg);
    eval_ann d = {.image_id = 1,
                  .category_id = 1,
                  .score = .9,
                  .area = -1,
                  .has_bbox = true,
                  .bbox = {0, 0, 10, 10},
                  .seg = {.kind = EVAL_SEG_POLY, .xy = sq, .poly_len = plen, .npoly = 1}};
    cr_assert_eq(eval_coco_add_dt(ev, &d, &e), 0, "%s", e.msg);
    const double *s = run(ev);
    cr_assert_float_eq(s[0], 1.0, TOL, "%.17g", s[0]);
    eval_coco_free(ev);
}

static void rle_dt(eval_coco *ev, int64_t img, int x0, int y0, int side, double score)
{
    /* a square mask as an RLE string on a 480x640 image */
    err e;
    uint8_t *m = calloc(480 * 640, 1);
    for (int x = x0; x < x0 + side; x++)
        for (int y = y0; y < y0 + side; y++)
            m[x * 480 + y] = 1;
    rle r = RLE_INIT;
    cr_assert_eq(rle_from_mask(&r, m, 480, 640, &e), 0);
    sbuf s = SBUF_INIT;
    rle_to_string(&r, &s);
    eval_ann d = {.image_id = img,
                  .category_id = 1,
                  .score = score,
                  .area = -1,
                  .seg = {.kind = EVAL_SEG_STRING, .str = s.p, .len = s.len, .h = 480, .w = 640}};
    cr_assert_eq(eval_coco_add_dt(ev, &d, &e), 0, "%s", e.msg);
    sbuf_free(&s);
    rle_free(&r);
    free(m);
}

Test(eval_coco, segm_area_of_detections_without_ground_truth_decides_ignore)
{
    /* Image 1: a small object (10x10) found exactly (score .9). Image 2 has
     * no ground truth; a 50x50 mask there (area 2500 > 32^2, score .95) is
     * unmatched and outside "small": ignored for APs, so APs = 1; for "all"
     * it is a FP ahead of the TP: precision [0, .5] -> AP = .5. Its area must
     * come from the mask even though nothing is compared with it. */
    eval_coco *ev = mk(EVAL_SEGM, 2, 1);
    err e;
    double sq[] = {0, 0, 0, 10, 10, 10, 10, 0};
    uint32_t plen[] = {8};
    eval_ann g = {.id = 1,
                  .image_id = 1,
                  .category_id = 1,
                  .area = 100,
                  .seg = {.kind = EVAL_SEG_POLY, .xy = sq, .poly_len = plen, .npoly = 1}};
    cr_assert_eq(eval_coco_add_gt(ev, &g, &e), 0, "%s", e.msg);
    rle_dt(ev, 1, 0, 0, 10, .9);
    rle_dt(ev, 2, 100, 100, 50, .95);
    const double *s = run(ev);
    cr_assert_float_eq(s[3], 1.0, TOL, "APs %.17g", s[3]);
    cr_assert_float_eq(s[0], 0.5, TOL, "AP %.17g", s[0]);
    eval_coco_free(ev);
}

Test(eval_coco, missing_ground_truth_area_comes_from_the_mask)
{
    /* bbox evaluation; the ground truth has a 40x40 box but a 10x10 polygon
     * and no "area": its area is the mask's, 100 (small), not 1600. */
    eval_coco *ev = mk(EVAL_BBOX, 1, 1);
    err e;
    double sq[] = {0, 0, 0, 10, 10, 10, 10, 0};
    uint32_t plen[] = {8};
    eval_ann g = {.id = 1,
                  .image_id = 1,
                  .category_id = 1,
                  .area = -1,
                  .has_bbox = true,
                  .bbox = {0, 0, 40, 40},
                  .seg = {.kind = EVAL_SEG_POLY, .xy = sq, .poly_len = plen, .npoly = 1}};
    cr_assert_eq(eval_coco_add_gt(ev, &g, &e), 0, "%s", e.msg);
    dt(ev, 1, 1, 0, 0, 40, 40, .9);
    const double *s = run(ev);
    cr_assert_float_eq(s[3], 1.0, TOL); /* small: defined */
    cr_assert_eq(s[4], -1);             /* medium: no ground truth */
    eval_coco_free(ev);
}

Test(eval_coco, detail_records_crowd_matches_as_ignored_and_respect_thresholds)
{
    /* g1 regular, g2 crowd. d1 (.9) on g1 -> TP; d2 (.8) inside the crowd
     * -> IGNORED (not an error, not background); d3 (.3) on g1 but below
     * the score threshold .5 -> not in the records at all. With score_thr 0
     * d3 appears, as a duplicate FP. */
    eval_coco *ev = mk(EVAL_BBOX, 1, 1);
    gt(ev, 1, 1, 1, 0, 0, 50, 50, false);
    gt(ev, 2, 1, 1, 200, 200, 200, 200, true);
    dt(ev, 1, 1, 0, 0, 50, 50, .9);
    dt(ev, 1, 1, 250, 250, 20, 20, .8);
    dt(ev, 1, 1, 0, 0, 50, 50, .3);
    eval_detail d;
    err e;
    eval_detail_opts o;
    eval_detail_opts_init(&o);
    cr_assert_eq(eval_coco_detail(ev, &o, &d, &e), 0, "%s", e.msg);
    cr_assert_eq(d.nmatches, 2);
    cr_assert_eq(d.matches[0].kind, EVAL_MATCH_TP);
    cr_assert_eq(d.matches[0].dt, 0);
    cr_assert_eq(d.matches[1].kind, EVAL_MATCH_IGNORED);
    cr_assert_eq(d.matches[1].gt_id, 2);
    cr_assert_eq(d.matches[1].dt, 1);
    cr_assert_eq(d.bkg + d.dupe + d.loc + d.cls + d.both + d.missed, 0);
    /* the crowd overlap keeps d2 out of the background column too */
    cr_assert_eq(d.confusion[1 * 2 + 0], 0);
    eval_detail_free(&d);
    o.score_thr = 0;
    cr_assert_eq(eval_coco_detail(ev, &o, &d, &e), 0, "%s", e.msg);
    cr_assert_eq(d.nmatches, 3);
    cr_assert_eq(d.matches[2].kind, EVAL_MATCH_FP);
    cr_assert_eq(d.matches[2].dt, 2);
    cr_assert_eq(d.dupe, 1);
    eval_detail_free(&d);
    eval_coco_free(ev);
}
