/*
 * assign.c - task-aligned label assignment (Feng et al., "TOOD", 2021, as
 * YOLOv8 uses it).
 *
 * For each ground-truth box g of class c, the candidates are the cells
 * whose centre lies strictly inside g (a box too small to contain any
 * centre takes the nearest stride-8 cell instead, so no object goes
 * unlearnt). Each candidate a gets the alignment metric
 *
 *     t(g, a) = score(a, c)^alpha * IoU(box(a), g)^beta
 *
 * from the network's current predictions (no gradient flows through the
 * assignment), and the topk candidates with the largest t become positives
 * of g (ties: the lower cell index). A cell chosen by several boxes keeps
 * the box its prediction overlaps most (the first on equal IoU). Then the
 * targets are normalised per box so the best-aligned cell of g gets the
 * best IoU any of g's cells reaches:
 *
 *     weight(a) = t(g, a) * max_a' IoU(a', g) / max_a' t(g, a')
 *
 * weight is the soft class target of the cell (0 for the other classes and
 * for background cells) and the weight of its box loss. Prediction quality
 * thus becomes the score the network learns to give, which is what NMS and
 * the mAP ranking want.
 */
#include <stdlib.h>
#include <string.h>

#include "detect/detect_impl.h"

typedef struct cand {
    int a;
    float t;
} cand;

static int by_metric(const void *pa, const void *pb)
{
    const cand *x = pa, *y = pb;
    if (x->t != y->t) return x->t > y->t ? -1 : 1;
    return (x->a > y->a) - (x->a < y->a);
}

static float iou_xyxy(const float *p, const det_box *g)
{
    float ix = fminf(p[2], g->x + g->w) - fmaxf(p[0], g->x);
    float iy = fminf(p[3], g->y + g->h) - fmaxf(p[1], g->y);
    if (ix <= 0 || iy <= 0) return 0;
    float inter = ix * iy;
    float u = (p[2] - p[0]) * (p[3] - p[1]) + g->w * g->h - inter;
    return u > 0 ? inter / u : 0;
}

int det_assign(const det_loss_cfg *c, int ncells, int classes, const float *anchors,
               const float *pred, const float *scores, const det_box *gts, int ngt, det_target *tgt,
               err *e)
{
    for (int a = 0; a < ncells; a++)
        tgt[a] = (det_target){-1, 0};
    if (ngt == 0) return 0;
    int topk = c->topk > 0 ? c->topk : 10;
    float *best_iou = malloc((size_t)ncells * sizeof *best_iou);
    float *metric = malloc((size_t)ncells * sizeof *metric);
    cand *cs = malloc((size_t)ncells * sizeof *cs);
    float *gmax_t = calloc((size_t)ngt, sizeof *gmax_t);
    float *gmax_iou = calloc((size_t)ngt, sizeof *gmax_iou);
    if (!best_iou || !metric || !cs || !gmax_t || !gmax_iou) {
        free(best_iou);
        free(metric);
        free(cs);
        free(gmax_t);
        free(gmax_iou);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (int g = 0; g < ngt; g++) {
        const det_box *b = &gts[g];
        if (b->cls < 0 || b->cls >= classes) {
            free(best_iou);
            free(metric);
            free(cs);
            free(gmax_t);
            free(gmax_iou);
            return err_set(e, ERR_INVALID, "box %d has class %d; the detector has %d classes", g,
                           b->cls, classes);
        }
        float x1 = b->x, y1 = b->y, x2 = b->x + b->w, y2 = b->y + b->h;
        int nc = 0;
        for (int a = 0; a < ncells; a++) {
            float ax = anchors[2 * a], ay = anchors[2 * a + 1];
            if (ax - x1 > 1e-9f && ay - y1 > 1e-9f && x2 - ax > 1e-9f && y2 - ay > 1e-9f)
                cs[nc++].a = a;
        }
        if (nc == 0 && b->w > 0 && b->h > 0) {
            /* no cell centre inside: the nearest cell (the first ones are
             * the finest level) */
            float cx = x1 + b->w / 2, cy = y1 + b->h / 2, bd = INFINITY;
            int ba = -1;
            for (int a = 0; a < ncells; a++) {
                float dx = anchors[2 * a] - cx, dy = anchors[2 * a + 1] - cy;
                float d = dx * dx + dy * dy;
                if (d < bd) {
                    bd = d;
                    ba = a;
                }
            }
            if (ba >= 0) cs[nc++].a = ba;
        }
        for (int i = 0; i < nc; i++) {
            int a = cs[i].a;
            float iou = iou_xyxy(pred + 4 * a, b);
            float s = scores[(size_t)a * (size_t)classes + (size_t)b->cls];
            cs[i].t = powf(s, c->alpha) * powf(iou, c->beta);
        }
        qsort(cs, (size_t)nc, sizeof *cs, by_metric);
        int k = nc < topk ? nc : topk;
        for (int i = 0; i < k; i++) {
            int a = cs[i].a;
            float iou = iou_xyxy(pred + 4 * a, b);
            if (tgt[a].gt < 0 || iou > best_iou[a]) {
                tgt[a].gt = g;
                best_iou[a] = iou;
                metric[a] = cs[i].t;
            }
        }
    }
    for (int a = 0; a < ncells; a++) {
        int g = tgt[a].gt;
        if (g < 0) continue;
        if (metric[a] > gmax_t[g]) gmax_t[g] = metric[a];
        if (best_iou[a] > gmax_iou[g]) gmax_iou[g] = best_iou[a];
    }
    for (int a = 0; a < ncells; a++) {
        int g = tgt[a].gt;
        if (g >= 0) tgt[a].weight = metric[a] * gmax_iou[g] / (gmax_t[g] + 1e-9f);
    }
    free(best_iou);
    free(metric);
    free(cs);
    free(gmax_t);
    free(gmax_iou);
    return 0;
}
