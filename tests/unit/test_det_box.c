/*
 * Unit tests for the detector's box geometry (src/detect): IoU and its
 * GIoU / CIoU variants (hand-computed values, finite-difference gradients),
 * decoding of the head output, class-aware NMS and the task-aligned
 * assignment on hand-worked cases, and the loss gradient.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect.h"
#include "detect/detect_impl.h"

/* --- IoU ------------------------------------------------------------------------ */

Test(det_box, iou_hand_values)
{
    det_box a = {0, 0, 10, 10, 0, 1}, b = {5, 5, 10, 10, 0, 1};
    cr_assert_float_eq(det_iou(&a, &b), 25.0f / 175.0f, 1e-6);
    cr_assert_float_eq(det_iou(&a, &a), 1.0f, 1e-6);
    det_box touch = {10, 0, 10, 10, 0, 1}, empty = {2, 2, 0, 5, 0, 1};
    cr_assert_eq(det_iou(&a, &touch), 0.0f);
    cr_assert_eq(det_iou(&a, &empty), 0.0f);

    /* x1, y1, x2, y2 */
    double p[4] = {0, 0, 2, 2}, q[4] = {1, 0, 3, 2};
    cr_assert_float_eq(det_iou_xyxy(DET_IOU_IOU, p, q, NULL), 1.0 / 3, 1e-6);
    /* same aspect ratio: v = 0; centres 1 apart, enclosing box 3 x 2 */
    cr_assert_float_eq(det_iou_xyxy(DET_IOU_CIOU, p, q, NULL), 1.0 / 3 - 1.0 / 13, 1e-6);
    /* enclosing box 3 x 2 = 6, union 6: GIoU = IoU */
    cr_assert_float_eq(det_iou_xyxy(DET_IOU_GIOU, p, q, NULL), 1.0 / 3, 1e-6);
    double r[4] = {0, 0, 1, 1}, s[4] = {2, 0, 3, 1};
    /* disjoint: GIoU = 0 - (3 - 2) / 3 */
    cr_assert_float_eq(det_iou_xyxy(DET_IOU_GIOU, r, s, NULL), -1.0 / 3, 1e-6);
    cr_assert_float_eq(det_iou_xyxy(DET_IOU_CIOU, p, p, NULL), 1.0, 1e-6);
    /* CIoU with different aspect ratios: v = 4/pi^2 (atan(2/1) - atan(1/1))^2 */
    double t[4] = {0, 0, 2, 1}, u[4] = {0, 0, 1, 1};
    double v = 4 / (M_PI * M_PI) * pow(atan(2.0) - atan(1.0), 2);
    double iou = 0.5, alpha = v / (v - iou + 1);
    double rho2 = 0.25, c2 = 4 + 1;
    cr_assert_float_eq(det_iou_xyxy(DET_IOU_CIOU, t, u, NULL), iou - rho2 / c2 - alpha * v, 1e-6);
}

Test(det_box, iou_family_gradients_match_finite_differences)
{
    /* overlapping, contained, disjoint; no ties between coordinates */
    const double cases[][2][4] = {{{1.0, 2.0, 7.3, 6.1}, {2.2, 1.1, 9.4, 8.7}},
                                  {{3.1, 3.3, 5.2, 6.4}, {1.0, 0.5, 9.0, 8.0}},
                                  {{0.0, 0.2, 2.1, 3.3}, {4.0, 1.0, 6.5, 2.2}},
                                  {{2.0, 1.0, 14.5, 3.0}, {1.5, 0.0, 4.0, 9.0}}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int k = 0; k < 3; k++) {
            double g[4], a[4];
            memcpy(a, cases[c][0], sizeof a);
            det_iou_xyxy((det_iou_kind)k, a, cases[c][1], g);
            for (int j = 0; j < 4; j++) {
                double h = 1e-6, keep = a[j];
                a[j] = keep + h;
                double fp = det_iou_xyxy((det_iou_kind)k, a, cases[c][1], NULL);
                a[j] = keep - h;
                double fm = det_iou_xyxy((det_iou_kind)k, a, cases[c][1], NULL);
                a[j] = keep;
                double fd = (fp - fm) / (2 * h);
                /* CIoU's alpha is a constant in the gradient by design */
                if (k == DET_IOU_CIOU) continue;
                cr_assert(fabs(fd - g[j]) < 1e-5, "case %zu kind %d coord %d: %g vs %g", c, k, j,
                          g[j], fd);
            }
        }
}

/* --- NMS ------------------------------------------------------------------------- */

static det_box nms_input[] = {
    {0, 0, 10, 10, 0, 0.9f},   /* A */
    {1, 0, 10, 10, 0, 0.8f},   /* B: IoU(A) = 90/110 = 0.82, same class */
    {1, 0, 10, 10, 1, 0.7f},   /* C: as B, other class */
    {5, 0, 10, 10, 0, 0.6f},   /* D: IoU(A) = 50/150 = 0.33 */
    {20, 20, 10, 10, 0, 0.95f} /* E: alone */
};
#define NNMS ((int)(sizeof nms_input / sizeof nms_input[0]))

static void expect_scores(const det_box *b, int n, const float *want, int nwant)
{
    cr_assert_eq(n, nwant, "kept %d boxes, expected %d", n, nwant);
    for (int i = 0; i < n; i++)
        cr_assert_float_eq(b[i].score, want[i], 1e-6, "box %d: score %g, expected %g", i,
                           b[i].score, want[i]);
}

Test(det_box, nms_hand_worked)
{
    det_box b[NNMS];
    memcpy(b, nms_input, sizeof b);
    /* class-aware at 0.5: E, A, (B suppressed by A), C (other class), D */
    expect_scores(b, det_nms(b, NNMS, 0.5f, 0, false), (float[]){0.95f, 0.9f, 0.7f, 0.6f}, 4);
    memcpy(b, nms_input, sizeof b);
    /* class-agnostic: C goes too */
    expect_scores(b, det_nms(b, NNMS, 0.5f, 0, true), (float[]){0.95f, 0.9f, 0.6f}, 3);
    memcpy(b, nms_input, sizeof b);
    /* at 0.3, D (0.33 with A) goes */
    expect_scores(b, det_nms(b, NNMS, 0.3f, 0, false), (float[]){0.95f, 0.9f, 0.7f}, 3);
    memcpy(b, nms_input, sizeof b);
    /* at 0.34 it stays */
    expect_scores(b, det_nms(b, NNMS, 0.34f, 0, false), (float[]){0.95f, 0.9f, 0.7f, 0.6f}, 4);
    memcpy(b, nms_input, sizeof b);
    /* max_det */
    expect_scores(b, det_nms(b, NNMS, 0.5f, 2, false), (float[]){0.95f, 0.9f}, 2);
    /* a suppressed box does not suppress: B would remove D (IoU 60/140 = 0.43 > 0.4),
     * but B itself is gone (A), so D is only compared with A (0.33) */
    memcpy(b, nms_input, sizeof b);
    expect_scores(b, det_nms(b, NNMS, 0.4f, 0, false), (float[]){0.95f, 0.9f, 0.7f, 0.6f}, 4);
    cr_assert_eq(det_nms(b, 0, 0.5f, 0, false), 0);
}

Test(det_box, nms_ties_keep_input_order)
{
    det_box b[3] = {{0, 0, 10, 10, 0, 0.5f}, {1, 1, 10, 10, 0, 0.5f}, {50, 0, 10, 10, 2, 0.5f}};
    int n = det_nms(b, 3, 0.5f, 0, false);
    cr_assert_eq(n, 2);
    cr_assert_float_eq(b[0].x, 0, 1e-6, "the first of equal scores wins");
    cr_assert_float_eq(b[1].x, 50, 1e-6);
}

/* --- decoding --------------------------------------------------------------------- */

Test(det_box, decode_reads_each_level_at_its_cells)
{
    det_head h = {2, 3, {8, 16, 32}};
    /* a 32 x 32 input: a 4 x 4 output grid; level 1 has 2 x 2 cells at even
     * positions, level 2 one cell at (0, 0) */
    nn_tensor *y = nn_tensor_new(1, 3 * 6, 4, 4);
    cr_assert(y);
    for (size_t i = 0; i < nn_tensor_numel(y); i++)
        y->data[i] = -10; /* class logits: nothing; box values: tiny boxes */
    for (int l = 0; l < 3; l++)
        for (int j = 0; j < 4; j++)
            for (int gy = 0; gy < 4; gy++)
                for (int gx = 0; gx < 4; gx++)
                    *nn_tensor_at(y, 0, l * 6 + j, gy, gx) = 0; /* ltrb = 1 stride */
    /* level 0, cell (row 1, col 2), class 1, logit 2 */
    *nn_tensor_at(y, 0, 0 * 6 + 4 + 1, 1, 2) = 2;
    /* level 2, its cell, class 0, logit 0 (p = 0.5), distances 2 strides */
    *nn_tensor_at(y, 0, 2 * 6 + 4 + 0, 0, 0) = 0;
    for (int j = 0; j < 4; j++)
        *nn_tensor_at(y, 0, 2 * 6 + j, 0, 0) = logf(2);
    /* copies from the upsampling that are not cells: must be ignored */
    *nn_tensor_at(y, 0, 1 * 6 + 4 + 0, 1, 1) = 9;
    *nn_tensor_at(y, 0, 2 * 6 + 4 + 1, 3, 2) = 9;
    det_box *b;
    int n;
    err e;
    cr_assert_eq(det_decode(&h, y, 0, 0.25f, false, &b, &n, &e), 0);
    cr_assert_eq(n, 2, "%d boxes", n);
    /* cell order: level 0 first */
    cr_assert_eq(b[0].cls, 1);
    cr_assert_float_eq(b[0].score, 1 / (1 + expf(-2)), 1e-6);
    cr_assert_float_eq(b[0].x, 2.5f * 8 - 8, 1e-4);
    cr_assert_float_eq(b[0].y, 1.5f * 8 - 8, 1e-4);
    cr_assert_float_eq(b[0].w, 16, 1e-4);
    cr_assert_float_eq(b[0].h, 16, 1e-4);
    cr_assert_eq(b[1].cls, 0);
    cr_assert_float_eq(b[1].score, 0.5f, 1e-6);
    cr_assert_float_eq(b[1].x, 16 - 64, 1e-3);
    cr_assert_float_eq(b[1].w, 128, 1e-3);
    free(b);
    cr_assert_eq(det_decode(&h, y, 0, 0.6f, false, &b, &n, &e), 0);
    cr_assert_eq(n, 1);
    free(b);
    nn_tensor_free(y);
    /* the wrong number of channels is an error, not a crash */
    y = nn_tensor_new(1, 10, 4, 4);
    cr_assert_eq(det_decode(&h, y, 0, 0.25f, false, &b, &n, &e), -1);
    cr_assert(strstr(e.msg, "channels"), "%s", e.msg);
    nn_tensor_free(y);
}

/* --- assignment -------------------------------------------------------------------- */

/* 2 x 2 cells of stride 8: centres (4,4) (12,4) (4,12) (12,12) */
static const float anchors[8] = {4, 4, 12, 4, 4, 12, 12, 12};

static det_loss_cfg simple_cfg(int topk)
{
    det_loss_cfg c;
    det_loss_cfg_default(&c);
    c.alpha = 1;
    c.beta = 1;
    c.topk = topk;
    return c;
}

Test(det_box, assignment_hand_worked_one_box)
{
    det_box gt = {0, 0, 16, 16, 0, 1}; /* every centre inside */
    /* IoU with the box: 1, 0.5, 0.5, 0.25 */
    float pred[16] = {0, 0, 16, 16, 0, 0, 8, 16, 0, 0, 16, 8, 8, 8, 16, 16};
    float scores[4] = {0.5f, 0.8f, 0.4f, 1.0f};
    /* t = s * IoU = 0.5, 0.4, 0.2, 0.25 */
    det_target tg[4];
    err e;
    det_loss_cfg c = simple_cfg(2);
    cr_assert_eq(det_assign(&c, 4, 1, anchors, pred, scores, &gt, 1, tg, &e), 0);
    /* top 2: cells 0, 1; weight = t * max IoU / max t */
    cr_assert_eq(tg[0].gt, 0);
    cr_assert_eq(tg[1].gt, 0);
    cr_assert_eq(tg[2].gt, -1);
    cr_assert_eq(tg[3].gt, -1);
    cr_assert_float_eq(tg[0].weight, 1.0f, 1e-5);
    cr_assert_float_eq(tg[1].weight, 0.8f, 1e-5);
    cr_assert_float_eq(tg[2].weight, 0.0f, 1e-9);
    c = simple_cfg(3);
    cr_assert_eq(det_assign(&c, 4, 1, anchors, pred, scores, &gt, 1, tg, &e), 0);
    cr_assert_eq(tg[3].gt, 0, "the third best metric is cell 3 (0.25 > 0.2)");
    cr_assert_eq(tg[2].gt, -1);
    cr_assert_float_eq(tg[3].weight, 0.5f, 1e-5);
    /* the default metric s^0.5 * IoU^6 ranks IoU first: cells 0, then 1 and 2
     * (0.8^0.5 * 0.5^6 > 0.4^0.5 * 0.5^6), then 3 */
    det_loss_cfg_default(&c);
    c.topk = 2;
    cr_assert_eq(det_assign(&c, 4, 1, anchors, pred, scores, &gt, 1, tg, &e), 0);
    cr_assert_eq(tg[0].gt, 0);
    cr_assert_eq(tg[1].gt, 0);
    cr_assert_eq(tg[2].gt, -1);
    cr_assert_float_eq(tg[1].weight, sqrtf(0.8f) * powf(0.5f, 6) / sqrtf(0.5f), 1e-5);
    /* no boxes: all background */
    cr_assert_eq(det_assign(&c, 4, 1, anchors, pred, scores, NULL, 0, tg, &e), 0);
    for (int a = 0; a < 4; a++)
        cr_assert_eq(tg[a].gt, -1);
}

Test(det_box, assignment_hand_worked_two_boxes_share_a_cell)
{
    det_box gts[2] = {{0, 0, 16, 16, 0, 1}, {8, 0, 8, 16, 1, 1}}; /* box 1: cells 1 and 3 */
    float pred[16] = {0, 0, 16, 16, 8, 0, 16, 16, 0, 0, 16, 8, 8, 8, 16, 16};
    /* cells x classes */
    float scores[8] = {0.5f, 0.1f, 0.8f, 0.9f, 0.4f, 0.1f, 1.0f, 0.6f};
    det_target tg[4];
    err e;
    det_loss_cfg c = simple_cfg(2);
    cr_assert_eq(det_assign(&c, 4, 2, anchors, pred, scores, gts, 2, tg, &e), 0);
    /* box 0: t = 0.5, 0.4 (0.8 * 0.5), 0.2, 0.25 -> cells 0, 1
     * box 1: t = 0.9 (0.9 * 1), 0.3 (0.6 * 0.5) -> cells 1, 3
     * cell 1 overlaps box 1 more (IoU 1 vs 0.5): box 1 keeps it */
    cr_assert_eq(tg[0].gt, 0);
    cr_assert_eq(tg[1].gt, 1);
    cr_assert_eq(tg[2].gt, -1);
    cr_assert_eq(tg[3].gt, 1);
    cr_assert_float_eq(tg[0].weight, 1.0f, 1e-5);
    cr_assert_float_eq(tg[1].weight, 1.0f, 1e-5);
    cr_assert_float_eq(tg[3].weight, 0.3f / 0.9f, 1e-5);
}

Test(det_box, assignment_ties_small_boxes_and_errors)
{
    det_box gt = {0, 0, 16, 16, 0, 1};
    float pred[16] = {0, 0, 16, 16, 0, 0, 16, 16, 0, 0, 16, 16, 0, 0, 16, 16};
    float scores[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    det_target tg[4];
    err e;
    det_loss_cfg c = simple_cfg(2);
    cr_assert_eq(det_assign(&c, 4, 1, anchors, pred, scores, &gt, 1, tg, &e), 0);
    cr_assert(tg[0].gt == 0 && tg[1].gt == 0 && tg[2].gt < 0 && tg[3].gt < 0,
              "equal metrics: the lower cell indices win");
    /* a box containing no cell centre takes the nearest cell (3) */
    det_box small = {13, 13, 2, 2, 0, 1};
    float pred2[16] = {0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 12, 12, 16, 16};
    cr_assert_eq(det_assign(&c, 4, 1, anchors, pred2, scores, &small, 1, tg, &e), 0);
    cr_assert(tg[0].gt < 0 && tg[1].gt < 0 && tg[2].gt < 0 && tg[3].gt == 0);
    /* IoU 4/16; the only cell: its weight is its IoU */
    cr_assert_float_eq(tg[3].weight, 0.25f, 1e-5);
    det_box bad = {0, 0, 16, 16, 3, 1};
    cr_assert_eq(det_assign(&c, 4, 1, anchors, pred, scores, &bad, 1, tg, &e), -1);
    cr_assert(strstr(e.msg, "class 3"), "%s", e.msg);
}

/* --- loss ------------------------------------------------------------------------------- */

Test(det_box, loss_gradient_matches_finite_differences)
{
    const int K = 2;
    det_head h = {K, 3, {8, 16, 32}};
    nn_tensor *y = nn_tensor_new(2, 3 * (4 + K), 8, 8); /* 64 x 64 input, 2 images */
    nn_tensor *dy = nn_tensor_new(2, 3 * (4 + K), 8, 8);
    cr_assert(y && dy);
    nn_rng r;
    nn_rng_seed(&r, 5);
    for (size_t i = 0; i < nn_tensor_numel(y); i++)
        y->data[i] = (float)(nn_rng_uniform(&r) - 0.5) * 2.0f;
    det_box boxes[3] = {{5, 7, 30, 22, 0, 1}, {30, 20, 28, 40, 1, 1}, {10, 12, 40, 35, 1, 1}};
    int first[3] = {0, 2, 3};
    for (int kind = 0; kind < 2; kind++) {
        det_loss_cfg c;
        det_loss_cfg_default(&c);
        c.iou = DET_IOU_GIOU; /* CIoU treats alpha as constant: not an exact gradient */
        c.cls = kind ? DET_CLS_FOCAL : DET_CLS_BCE;
        det_cells cl;
        err e;
        cr_assert_eq(det_cells_init(&cl, &h, 8, 8, &e), 0);
        det_target *tg = malloc((size_t)2 * (size_t)cl.n * sizeof *tg);
        double S;
        int pos;
        cr_assert_eq(det_loss_targets(&c, &h, y, boxes, first, tg, &S, &pos, &e), 0, "%s", e.msg);
        cr_assert(pos > 0);
        det_loss_out o;
        cr_assert_eq(det_loss_eval(&c, &h, y, boxes, first, tg, S, dy, &o, &e), 0);
        cr_assert(o.box > 0 && o.cls > 0);
        int checked = 0;
        for (size_t i = 0; i < nn_tensor_numel(y); i += 7) {
            float keep = y->data[i];
            double lp, lm;
            y->data[i] = keep + 1e-3f;
            det_loss_eval(&c, &h, y, boxes, first, tg, S, NULL, &o, &e);
            lp = o.total;
            y->data[i] = keep - 1e-3f;
            det_loss_eval(&c, &h, y, boxes, first, tg, S, NULL, &o, &e);
            lm = o.total;
            y->data[i] = keep;
            double fd = (lp - lm) / 2e-3;
            cr_assert(fabs(fd - dy->data[i]) < 2e-3 + 0.02 * fabs(fd),
                      "kind %d, element %zu: dy %g, finite difference %g", kind, i, dy->data[i],
                      fd);
            checked += dy->data[i] != 0;
        }
        cr_assert(checked > 20, "only %d non-zero gradients checked", checked);
        free(tg);
        det_cells_free(&cl);
    }
    nn_tensor_free(y);
    nn_tensor_free(dy);
}
