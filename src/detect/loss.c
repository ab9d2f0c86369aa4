/*
 * loss.c - the detector's training loss and its gradient.
 *
 * For a batch, image by image: decode every cell's box and class
 * probabilities, assign targets (assign.c), then
 *
 *   cls = sum over cells and classes of BCE(z, target) / S
 *   box = sum over positive cells of weight * (1 - CIoU(box, gt)) / S
 *   total = box_gain * box + cls_gain * cls
 *
 * with S = max(1, sum of the targets' weights over the batch), as YOLOv8
 * normalises (a batch with more objects does not take bigger steps). The
 * quality focal variant (Li et al., "Generalized Focal Loss", 2020)
 * multiplies each BCE term by |sigmoid(z) - target|^gamma, which with hard
 * targets is the focal loss without alpha.
 *
 * Boxes are ltrb distances d = exp(r) * stride from the cell centre, so
 * d loss / d r = d loss / d d * d; a raw value beyond the clamp gets no
 * gradient. dy is zero except at the cells' positions in the grid.
 */
#include <stdlib.h>
#include <string.h>

#include "detect/detect_impl.h"

void det_loss_cfg_default(det_loss_cfg *c)
{
    *c = (det_loss_cfg){.iou = DET_IOU_CIOU,
                        .cls = DET_CLS_BCE,
                        .gamma = 2.0f,
                        .box_gain = 7.5f,
                        .cls_gain = 0.5f,
                        .topk = 10,
                        .alpha = 0.5f,
                        .beta = 6.0f};
}

/* BCE with logits, stable; *g receives d/dz */
static inline double bce(float z, float t, float *g, float sig)
{
    *g = sig - t;
    return (double)(fmaxf(z, 0) - z * t + log1pf(expf(-fabsf(z))));
}

int det_loss_targets(const det_loss_cfg *c, const det_head *h, const nn_tensor *y,
                     const det_box *boxes, const int *first, det_target *tgt, double *S,
                     int *positives, err *e)
{
    int K = h->classes, N = y->n;
    if (y->c != h->nlevels * (4 + K))
        return err_set(e, ERR_INVALID, "output has %d channels, expected %d", y->c,
                       h->nlevels * (4 + K));
    det_cells cl;
    if (det_cells_init(&cl, h, y->h, y->w, e) < 0) return -1;
    int A = cl.n;
    float *pred = malloc((size_t)A * 4 * sizeof *pred);
    float *prob = malloc((size_t)A * (size_t)K * sizeof *prob);
    int rc = 0;
    if (!pred || !prob) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    *S = 0;
    *positives = 0;
    for (int b = 0; b < N && rc == 0; b++) {
        for (int a = 0; a < A; a++) {
            det_cell_box(&cl, h, y, b, a, pred + 4 * a);
            int base = cl.level[a] * (4 + K) + 4;
            for (int j = 0; j < K; j++)
                prob[(size_t)a * (size_t)K + (size_t)j] =
                    det_sigmoid(*nn_tensor_at(y, b, base + j, cl.gy[a], cl.gx[a]));
        }
        det_target *t = tgt + (size_t)b * (size_t)A;
        if (det_assign(c, A, K, cl.xy, pred, prob, boxes + first[b], first[b + 1] - first[b], t,
                       e) < 0) {
            rc = err_prefix(e, "image %d of the batch", b);
            break;
        }
        for (int a = 0; a < A; a++)
            if (t[a].gt >= 0) {
                *S += t[a].weight;
                (*positives)++;
            }
    }
    if (*S < 1) *S = 1;
out:
    free(pred);
    free(prob);
    det_cells_free(&cl);
    return rc;
}

int det_loss_eval(const det_loss_cfg *c, const det_head *h, const nn_tensor *y,
                  const det_box *boxes, const int *first, const det_target *tgt, double S,
                  nn_tensor *dy, det_loss_out *out, err *e)
{
    int K = h->classes, N = y->n;
    if (dy && (dy->n != y->n || dy->c != y->c || dy->h != y->h || dy->w != y->w))
        return err_set(e, ERR_INVALID, "gradient tensor shape differs from the output's");
    det_cells cl;
    if (det_cells_init(&cl, h, y->h, y->w, e) < 0) return -1;
    int A = cl.n;
    if (dy) memset(dy->data, 0, nn_tensor_numel(dy) * sizeof(float));
    double lcls = 0, lbox = 0;
    float gc = (float)(c->cls_gain / S), gb = (float)(c->box_gain / S);
    for (int b = 0; b < N; b++) {
        const det_target *t = tgt + (size_t)b * (size_t)A;
        const det_box *gts = boxes + first[b];
        for (int a = 0; a < A; a++) {
            int base = cl.level[a] * (4 + K);
            int gy = cl.gy[a], gx = cl.gx[a];
            int tc = t[a].gt >= 0 ? gts[t[a].gt].cls : -1;
            for (int j = 0; j < K; j++) {
                float z = *nn_tensor_at(y, b, base + 4 + j, gy, gx);
                float tv = j == tc ? t[a].weight : 0;
                float sig = det_sigmoid(z), g;
                double l = bce(z, tv, &g, sig);
                if (c->cls == DET_CLS_FOCAL) {
                    float u = sig - tv, au = fabsf(u);
                    float m = powf(au, c->gamma);
                    float dm = au > 0 ? c->gamma * powf(au, c->gamma - 1) * (u > 0 ? 1.f : -1.f) *
                                            sig * (1 - sig)
                                      : 0;
                    g = (float)(dm * l) + m * g;
                    l *= m;
                }
                lcls += l;
                if (dy) *nn_tensor_at(dy, b, base + 4 + j, gy, gx) = g * gc;
            }
            if (tc < 0) continue;
            const det_box *gt = &gts[t[a].gt];
            float s = cl.stride[a];
            double d[4], pb[4], gbx[4] = {gt->x, gt->y, gt->x + gt->w, gt->y + gt->h};
            bool clamped[4];
            for (int j = 0; j < 4; j++) {
                float v = *nn_tensor_at(y, b, base + j, gy, gx);
                clamped[j] = v > DET_REG_CLAMP || v < -DET_REG_CLAMP;
                float r = v > DET_REG_CLAMP    ? DET_REG_CLAMP
                          : v < -DET_REG_CLAMP ? -DET_REG_CLAMP
                                               : v;
                d[j] = (double)expf(r) * s;
            }
            double ax = cl.xy[2 * a], ay = cl.xy[2 * a + 1];
            pb[0] = ax - d[0];
            pb[1] = ay - d[1];
            pb[2] = ax + d[2];
            pb[3] = ay + d[3];
            double gi[4];
            double iou = det_iou_xyxy(c->iou, pb, gbx, gi);
            double w = t[a].weight;
            lbox += w * (1 - iou);
            if (dy) {
                static const double sign[4] = {-1, -1, 1, 1};
                for (int j = 0; j < 4; j++)
                    *nn_tensor_at(dy, b, base + j, gy, gx) =
                        clamped[j] ? 0 : (float)(-w * gi[j] * sign[j] * d[j] * gb);
            }
        }
    }
    out->cls = lcls / S;
    out->box = lbox / S;
    out->total = c->box_gain * out->box + c->cls_gain * out->cls;
    det_cells_free(&cl);
    return 0;
}

int det_loss(const det_loss_cfg *c, const det_head *h, const nn_tensor *y, const det_box *boxes,
             const int *first, nn_tensor *dy, det_loss_out *out, err *e)
{
    memset(out, 0, sizeof *out);
    size_t A = 0;
    for (int l = 0; l < h->nlevels; l++) {
        int u = h->strides[l] / h->strides[0];
        A += (size_t)(y->h / u) * (size_t)(y->w / u);
    }
    det_target *tgt = malloc((size_t)y->n * A * sizeof *tgt);
    if (!tgt) return err_set(e, ERR_INTERNAL, "out of memory");
    double S;
    int pos;
    int rc = det_loss_targets(c, h, y, boxes, first, tgt, &S, &pos, e);
    if (rc == 0) rc = det_loss_eval(c, h, y, boxes, first, tgt, S, dy, out, e);
    out->positives = pos;
    free(tgt);
    return rc;
}
