/*
 * box.c - box geometry: IoU and its GIoU / CIoU variants with their
 * gradients, the cells of the output grid, decoding, and NMS.
 *
 * The IoU-family functions work in double: the loss sums thousands of
 * them and the finite-difference tests compare their gradients to 1e-6.
 * Where a min/max ties, the subgradient of the first box is taken (the
 * convention of autograd for torch.min/max is the same kind of choice).
 */
#include <stdlib.h>
#include <string.h>

#include "detect/detect_impl.h"

float det_iou(const det_box *a, const det_box *b)
{
    float ix = fminf(a->x + a->w, b->x + b->w) - fmaxf(a->x, b->x);
    float iy = fminf(a->y + a->h, b->y + b->h) - fmaxf(a->y, b->y);
    if (ix <= 0 || iy <= 0) return 0;
    float inter = ix * iy;
    float u = a->w * a->h + b->w * b->h - inter;
    return u > 0 ? inter / u : 0;
}

#define EPS 1e-9

double det_iou_xyxy(det_iou_kind k, const double a[4], const double b[4], double grad[4])
{
    double wa = a[2] - a[0], ha = a[3] - a[1], wb = b[2] - b[0], hb = b[3] - b[1];
    double ix0 = a[0] > b[0] ? a[0] : b[0], ix1 = a[2] < b[2] ? a[2] : b[2];
    double iy0 = a[1] > b[1] ? a[1] : b[1], iy1 = a[3] < b[3] ? a[3] : b[3];
    double iw = ix1 - ix0, ih = iy1 - iy0;
    bool overlap = iw > 0 && ih > 0;
    double inter = overlap ? iw * ih : 0;
    double uni = wa * ha + wb * hb - inter + EPS;
    double iou = inter / uni;
    /* d inter, d union with respect to a[0..3] */
    double di[4] = {0, 0, 0, 0}, du[4];
    if (overlap) {
        if (a[0] >= b[0]) di[0] = -ih;
        if (a[2] <= b[2]) di[2] = ih;
        if (a[1] >= b[1]) di[1] = -iw;
        if (a[3] <= b[3]) di[3] = iw;
    }
    double da[4] = {-ha, -wa, ha, wa}; /* d (wa * ha) */
    double g[4];
    for (int j = 0; j < 4; j++) {
        du[j] = da[j] - di[j];
        g[j] = (di[j] * uni - inter * du[j]) / (uni * uni);
    }
    double r = iou;
    if (k != DET_IOU_IOU) {
        /* the enclosing box */
        double cx0 = a[0] < b[0] ? a[0] : b[0], cx1 = a[2] > b[2] ? a[2] : b[2];
        double cy0 = a[1] < b[1] ? a[1] : b[1], cy1 = a[3] > b[3] ? a[3] : b[3];
        double cw = cx1 - cx0, ch = cy1 - cy0;
        double dcw[4] = {a[0] <= b[0] ? -1 : 0, 0, a[2] >= b[2] ? 1 : 0, 0};
        double dch[4] = {0, a[1] <= b[1] ? -1 : 0, 0, a[3] >= b[3] ? 1 : 0};
        if (k == DET_IOU_GIOU) {
            double c = cw * ch + EPS;
            r = iou - (c - uni) / c;
            for (int j = 0; j < 4; j++) {
                double dc = dcw[j] * ch + cw * dch[j];
                g[j] += (du[j] * c - uni * dc) / (c * c);
            }
        } else { /* CIoU (Zheng et al. 2020) */
            double c2 = cw * cw + ch * ch + EPS;
            double dx = (a[0] + a[2] - b[0] - b[2]) * 0.5, dy = (a[1] + a[3] - b[1] - b[3]) * 0.5;
            double rho2 = dx * dx + dy * dy;
            const double kv = 4.0 / (M_PI * M_PI);
            double ta = atan(wa / (ha + EPS)), tb = atan(wb / (hb + EPS));
            double v = kv * (tb - ta) * (tb - ta);
            double alpha = v / (v - iou + (1 + EPS)); /* a constant in the gradient */
            r = iou - rho2 / c2 - alpha * v;
            double drho[4] = {dx, dy, dx, dy};
            double q = wa * wa + (ha + EPS) * (ha + EPS);
            double dta_dw = (ha + EPS) / q, dta_dh = -wa / q;
            double dv_dta = -2 * kv * (tb - ta);
            double dv[4] = {-dv_dta * dta_dw, -dv_dta * dta_dh, dv_dta * dta_dw, dv_dta * dta_dh};
            for (int j = 0; j < 4; j++) {
                double dc2 = 2 * cw * dcw[j] + 2 * ch * dch[j];
                g[j] -= (drho[j] * c2 - rho2 * dc2) / (c2 * c2);
                g[j] -= alpha * dv[j];
            }
        }
    }
    if (grad) memcpy(grad, g, sizeof g);
    return r;
}

/* --- cells -------------------------------------------------------------------- */

int det_cells_init(det_cells *c, const det_head *h, int gh, int gw, err *e)
{
    memset(c, 0, sizeof *c);
    int n = 0;
    for (int l = 0; l < h->nlevels; l++) {
        int u = h->strides[l] / h->strides[0];
        if (gh % u || gw % u)
            return err_set(e, ERR_INVALID,
                           "output grid %dx%d is not a multiple of %d: the input sides must "
                           "be multiples of %d",
                           gh, gw, u, DET_STRIDE);
        n += (gh / u) * (gw / u);
    }
    c->n = n;
    c->gh = gh;
    c->gw = gw;
    c->xy = malloc((size_t)n * 2 * sizeof *c->xy);
    c->level = malloc((size_t)n * sizeof *c->level);
    c->gy = malloc((size_t)n * sizeof *c->gy);
    c->gx = malloc((size_t)n * sizeof *c->gx);
    c->stride = malloc((size_t)n * sizeof *c->stride);
    if (!c->xy || !c->level || !c->gy || !c->gx || !c->stride) {
        det_cells_free(c);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    int k = 0;
    for (int l = 0; l < h->nlevels; l++) {
        int u = h->strides[l] / h->strides[0];
        float s = (float)h->strides[l];
        for (int i = 0; i < gh / u; i++)
            for (int j = 0; j < gw / u; j++, k++) {
                c->xy[2 * k] = ((float)j + 0.5f) * s;
                c->xy[2 * k + 1] = ((float)i + 0.5f) * s;
                c->level[k] = l;
                c->gy[k] = i * u;
                c->gx[k] = j * u;
                c->stride[k] = s;
            }
    }
    return 0;
}

void det_cells_free(det_cells *c)
{
    free(c->xy);
    free(c->level);
    free(c->gy);
    free(c->gx);
    free(c->stride);
    memset(c, 0, sizeof *c);
}

/* --- decoding --------------------------------------------------------------------- */

typedef struct boxvec {
    det_box *v;
    int n, cap;
} boxvec;

static int push(boxvec *bv, const det_box *b)
{
    if (bv->n == bv->cap) {
        int nc = bv->cap ? bv->cap * 2 : 256;
        det_box *nv = realloc(bv->v, (size_t)nc * sizeof *nv);
        if (!nv) return -1;
        bv->v = nv;
        bv->cap = nc;
    }
    bv->v[bv->n++] = *b;
    return 0;
}

int det_decode(const det_head *h, const nn_tensor *y, int b, float conf, bool multi_label,
               det_box **out, int *n, err *e)
{
    *out = NULL;
    *n = 0;
    if (y->c != h->nlevels * (4 + h->classes))
        return err_set(e, ERR_INVALID, "output has %d channels, expected %d", y->c,
                       h->nlevels * (4 + h->classes));
    det_cells c;
    if (det_cells_init(&c, h, y->h, y->w, e) < 0) return -1;
    boxvec bv = {0};
    /* sigmoid(z) >= conf  <=>  z >= logit(conf) */
    float zmin = conf <= 0 ? -INFINITY : conf >= 1 ? INFINITY : logf(conf / (1 - conf));
    int K = h->classes;
    for (int k = 0; k < c.n; k++) {
        int base = c.level[k] * (4 + K) + 4;
        int best = -1;
        float bz = -INFINITY, bx[4];
        bool have_box = false;
        for (int j = 0; j < K; j++) {
            float z = *nn_tensor_at(y, b, base + j, c.gy[k], c.gx[k]);
            if (z < zmin) continue;
            if (multi_label) {
                if (!have_box) {
                    det_cell_box(&c, h, y, b, k, bx);
                    have_box = true;
                }
                det_box d = {bx[0], bx[1], bx[2] - bx[0], bx[3] - bx[1], j, det_sigmoid(z)};
                if (push(&bv, &d) < 0) goto oom;
            } else if (z > bz) {
                best = j;
                bz = z;
            }
        }
        if (best >= 0) {
            det_cell_box(&c, h, y, b, k, bx);
            det_box d = {bx[0], bx[1], bx[2] - bx[0], bx[3] - bx[1], best, det_sigmoid(bz)};
            if (push(&bv, &d) < 0) goto oom;
        }
    }
    det_cells_free(&c);
    *out = bv.v;
    *n = bv.n;
    return 0;
oom:
    free(bv.v);
    det_cells_free(&c);
    return err_set(e, ERR_INTERNAL, "out of memory");
}

/* --- NMS ---------------------------------------------------------------------------- */

typedef struct nms_item {
    det_box b;
    int i;
} nms_item;

/* descending score, then input order: qsort with the index as a second key
 * is stable by construction */
static int cmp_item(const void *pa, const void *pb)
{
    const nms_item *a = pa, *b = pb;
    if (a->b.score != b->b.score) return a->b.score > b->b.score ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

int det_nms(det_box *boxes, int n, float iou_thr, int max_det, bool class_agnostic)
{
    if (n <= 0) return 0;
    nms_item *it = malloc((size_t)n * sizeof *it);
    if (!it) return -1;
    for (int i = 0; i < n; i++)
        it[i] = (nms_item){boxes[i], i};
    qsort(it, (size_t)n, sizeof *it, cmp_item);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        const det_box *b = &it[i].b;
        bool keep = true;
        for (int j = 0; j < kept; j++) {
            if (!class_agnostic && boxes[j].cls != b->cls) continue;
            if (det_iou(&boxes[j], b) > iou_thr) {
                keep = false;
                break;
            }
        }
        if (keep) {
            boxes[kept++] = *b;
            if (max_det > 0 && kept == max_det) break;
        }
    }
    free(it);
    return kept;
}
