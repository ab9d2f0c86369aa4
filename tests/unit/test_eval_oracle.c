/*
 * Cross-check of the COCO metrics against tests/eval/coco_oracle.py, an
 * independent numpy re-implementation of the reference COCOeval: random
 * synthetic cases (tests/eval/gen_coco.py; ties, crowds, duplicates, all
 * area ranges, empty images) are evaluated by both, and every summary
 * number and every entry of the precision, recall and scores arrays must
 * agree to 1e-12. Skipped when python3 with numpy is not installed.
 *
 * Run from the repository root (make check-unit does).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/coco_io.h"
#include "eval/eval.h"

static const char *python(void)
{
    static const char *cands[] = {"/usr/bin/python3", "python3"};
    for (size_t i = 0; i < 2; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1", cands[i]);
        if (system(cmd) == 0) return cands[i];
    }
    return NULL;
}

static void compare_arrays(json_t *ref, const double *got, size_t n, const char *what)
{
    cr_assert(json_is_array(ref), "%s missing in oracle output", what);
    cr_assert_eq(json_array_size(ref), n, "%s: size %zu vs %zu", what, json_array_size(ref), n);
    for (size_t i = 0; i < n; i++) {
        double r = json_number_value(json_array_get(ref, i));
        cr_assert(fabs(r - got[i]) <= 1e-12, "%s[%zu]: oracle %.17g, engine %.17g", what, i, r,
                  got[i]);
    }
}

static void cross_check(int seed, const char *kind, const char *extra, int threads)
{
    const char *py = python();
    if (!py) cr_skip_test("python3 with numpy not available");
    if (access("tests/eval/coco_oracle.py", R_OK) != 0)
        cr_skip_test("run from the repository root");
    char dir[] = "/tmp/cvops-eval-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s tests/eval/gen_coco.py --seed %d --kind %s %s %s", py, seed, kind,
             extra, dir);
    cr_assert_eq(system(cmd), 0, "generator failed: %s", cmd);
    snprintf(cmd, sizeof cmd, "%s tests/eval/coco_oracle.py %s/gt.json %s/dt.json %s %s/ref.json",
             py, dir, dir, kind, dir);
    cr_assert_eq(system(cmd), 0, "oracle failed: %s", cmd);

    eval_iou_type t;
    cr_assert_eq(eval_iou_type_parse(kind, &t), 0);
    eval_coco *ev = eval_coco_new(t);
    err e;
    char path[512];
    snprintf(path, sizeof path, "%s/gt.json", dir);
    cr_assert_eq(eval_coco_load_gt_file(ev, path, &e), 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/dt.json", dir);
    cr_assert_eq(eval_coco_load_dt_file(ev, path, &e), 0, "%s", e.msg);
    eval_params p;
    eval_params_init(&p, t);
    p.threads = threads;
    cr_assert_eq(eval_coco_run(ev, &p, &e), 0, "%s", e.msg);

    snprintf(path, sizeof path, "%s/ref.json", dir);
    json_error_t je;
    json_t *ref = json_load_file(path, 0, &je);
    cr_assert_not_null(ref, "%s", je.text);
    int ns;
    const double *stats = eval_coco_stats(ev, &ns);
    compare_arrays(json_object_get(ref, "stats"), stats, (size_t)ns, "stats");
    size_t K = eval_coco_num_categories(ev);
    size_t np = (size_t)p.n_iou * p.n_rec * K * p.n_area * p.n_maxdets;
    size_t nr = (size_t)p.n_iou * K * p.n_area * p.n_maxdets;
    compare_arrays(json_object_get(ref, "precision"), eval_coco_precision(ev), np, "precision");
    compare_arrays(json_object_get(ref, "recall"), eval_coco_recall(ev), nr, "recall");
    compare_arrays(json_object_get(ref, "scores"), eval_coco_scores(ev), np, "scores");
    /* the case must not be degenerate: some AP defined and strictly inside (0, 1) */
    cr_assert(stats[0] > 0.05 && stats[0] < 0.95, "degenerate case: AP = %g", stats[0]);
    json_decref(ref);
    eval_coco_free(ev);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(eval_oracle, bbox_random_cases_match_reference, .timeout = 120)
{
    cross_check(1, "bbox", "--images 60 --cats 5", 1);
    cross_check(2, "bbox", "--images 80 --cats 3 --score-decimals 1", 2);   /* many ties */
    cross_check(3, "bbox", "--images 40 --cats 7 --dets-per-image 120", 2); /* > maxDets */
}

Test(eval_oracle, bbox_few_gts_many_categories, .timeout = 120)
{
    /* categories without ground truth (-1 entries), images without anything */
    cross_check(4, "bbox", "--images 30 --cats 20 --gt-per-image 1.5", 2);
}

Test(eval_oracle, bbox_large_case_parallel_paths_match_reference, .timeout = 240)
{
    /* 24,000 detections, 12,000 per category: the parallel resolve and the
     * 11-bit radix sort of accumulate, on 2 threads */
    cross_check(9, "bbox", "--images 400 --cats 2 --dets-per-image 60", 2);
}

Test(eval_oracle, keypoints_random_cases_match_reference, .timeout = 120)
{
    cross_check(5, "keypoints", "--images 80 --dets-per-image 25", 1);
    cross_check(6, "keypoints", "--images 60 --dets-per-image 30 --score-decimals 1", 2);
}
