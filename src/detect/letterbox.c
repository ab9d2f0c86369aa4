/*
 * letterbox.c - the one resampler of the module, and the letterbox.
 *
 * Every geometric transform of detection here (letterbox, mosaic tiles,
 * random scale and translation, horizontal flip) is an axis-aligned map
 * out = a * src + b per axis, so resampling is separable and boxes stay
 * exact boxes. det_blit draws the crop of a source image through such a
 * map into a rectangle of the output: a pixel belongs to the tile when its
 * centre maps inside the crop; its value is a bilinear sample when the map
 * enlarges, a box-filter average over the covered source pixels when it
 * shrinks (no aliasing on downscaling). Coordinates are continuous with
 * pixel i spanning [i, i + 1).
 */
#include <stdlib.h>
#include <string.h>

#include "detect/detect_impl.h"

typedef struct taps {
    int n;    /* taps per output pixel */
    int *idx; /* count x n source indices */
    float *w; /* count x n weights */
} taps;

/* Filter taps along one axis for output pixels [o0, o1): source edge
 * coordinate s = (o - b) / a. */
static int make_taps(taps *t, int o0, int o1, double a, double b, int src_len)
{
    int count = o1 - o0;
    double inv = 1.0 / a, span = fabs(inv);
    int n = span <= 1 ? 2 : (int)ceil(span) + 2;
    t->n = n;
    t->idx = malloc((size_t)count * (size_t)n * sizeof *t->idx);
    t->w = malloc((size_t)count * (size_t)n * sizeof *t->w);
    if (!t->idx || !t->w) return -1;
    for (int o = o0; o < o1; o++) {
        int *ix = t->idx + (size_t)(o - o0) * (size_t)n;
        float *wt = t->w + (size_t)(o - o0) * (size_t)n;
        for (int k = 0; k < n; k++) {
            ix[k] = 0;
            wt[k] = 0;
        }
        if (span <= 1) { /* bilinear at the centre */
            double c = ((double)o + 0.5 - b) * inv - 0.5;
            double f = floor(c);
            int i0 = (int)f;
            double fr = c - f;
            int a0 = i0 < 0 ? 0 : i0 >= src_len ? src_len - 1 : i0;
            int a1 = i0 + 1 < 0 ? 0 : i0 + 1 >= src_len ? src_len - 1 : i0 + 1;
            ix[0] = a0;
            wt[0] = (float)(1 - fr);
            ix[1] = a1;
            wt[1] = (float)fr;
        } else { /* box filter over [s0, s1) */
            double s0 = ((double)o - b) * inv, s1 = ((double)o + 1 - b) * inv;
            if (s0 > s1) {
                double tt = s0;
                s0 = s1;
                s1 = tt;
            }
            int first = (int)floor(s0), k = 0;
            double tot = 0;
            for (int i = first; i < s1 && k < n; i++, k++) {
                double lo = i > s0 ? i : s0, hi = i + 1 < s1 ? i + 1 : s1;
                int ci = i < 0 ? 0 : i >= src_len ? src_len - 1 : i;
                ix[k] = ci;
                wt[k] = (float)(hi - lo);
                tot += hi - lo;
            }
            for (int j = 0; j < k; j++)
                wt[j] = (float)(wt[j] / tot);
        }
    }
    return 0;
}

static void free_taps(taps *t)
{
    free(t->idx);
    free(t->w);
}

/* The output pixel range [*o0, *o1) whose centres map inside source
 * [s0, s1) under out = a * src + b, clipped to [0, len). */
static void out_range(double s0, double s1, double a, double b, int len, int *o0, int *o1)
{
    double e0 = a * s0 + b, e1 = a * s1 + b;
    if (e0 > e1) {
        double t = e0;
        e0 = e1;
        e1 = t;
    }
    /* centre o + 0.5 in [e0, e1) */
    int lo = (int)ceil(e0 - 0.5), hi = (int)ceil(e1 - 0.5);
    if (lo < 0) lo = 0;
    if (hi > len) hi = len;
    if (hi < lo) hi = lo;
    *o0 = lo;
    *o1 = hi;
}

int det_blit(const nn_image *src, const float crop[4], const double map[4], uint8_t *dst, int dw,
             int dh, int rect[4])
{
    int x0, x1, y0, y1;
    out_range(crop[0], crop[2], map[0], map[1], dw, &x0, &x1);
    out_range(crop[1], crop[3], map[2], map[3], dh, &y0, &y1);
    if (rect) {
        rect[0] = x0;
        rect[1] = y0;
        rect[2] = x1;
        rect[3] = y1;
    }
    if (x1 <= x0 || y1 <= y0) return 0;
    taps tx = {0}, ty = {0};
    int nx = x1 - x0;
    float *row = malloc((size_t)nx * 3 * sizeof *row);
    if (make_taps(&tx, x0, x1, map[0], map[1], src->w) < 0 ||
        make_taps(&ty, y0, y1, map[2], map[3], src->h) < 0 || !row) {
        free_taps(&tx);
        free_taps(&ty);
        free(row);
        return -1;
    }
    int c = src->c;
    for (int y = y0; y < y1; y++) {
        const int *iy = ty.idx + (size_t)(y - y0) * (size_t)ty.n;
        const float *wy = ty.w + (size_t)(y - y0) * (size_t)ty.n;
        for (int x = 0; x < nx; x++) {
            const int *ix = tx.idx + (size_t)x * (size_t)tx.n;
            const float *wx = tx.w + (size_t)x * (size_t)tx.n;
            float acc[3] = {0, 0, 0};
            for (int j = 0; j < ty.n; j++) {
                if (wy[j] == 0) continue;
                const uint8_t *sr = src->data + (size_t)iy[j] * src->stride;
                float ra[3] = {0, 0, 0};
                for (int i = 0; i < tx.n; i++) {
                    if (wx[i] == 0) continue;
                    const uint8_t *p = sr + (size_t)ix[i] * (size_t)c;
                    if (c >= 3) {
                        ra[0] += wx[i] * p[0];
                        ra[1] += wx[i] * p[1];
                        ra[2] += wx[i] * p[2];
                    } else {
                        ra[0] += wx[i] * p[0];
                    }
                }
                if (c < 3) ra[1] = ra[2] = ra[0];
                for (int k = 0; k < 3; k++)
                    acc[k] += wy[j] * ra[k];
            }
            for (int k = 0; k < 3; k++)
                row[x * 3 + k] = acc[k];
        }
        uint8_t *d = dst + ((size_t)y * (size_t)dw + (size_t)x0) * 3;
        for (int i = 0; i < nx * 3; i++) {
            float v = row[i] + 0.5f;
            d[i] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        }
    }
    free_taps(&tx);
    free_taps(&ty);
    free(row);
    return 0;
}

/* --- letterbox ------------------------------------------------------------------ */

void det_lb_fit(int w, int h, int out_w, int out_h, bool rect, det_lb *lb)
{
    float s = fminf((float)out_w / (float)w, (float)out_h / (float)h);
    int nw = (int)lroundf((float)w * s), nh = (int)lroundf((float)h * s);
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
    if (rect) {
        out_w = (nw + DET_STRIDE - 1) / DET_STRIDE * DET_STRIDE;
        out_h = (nh + DET_STRIDE - 1) / DET_STRIDE * DET_STRIDE;
    }
    lb->scale = s;
    lb->pad_x = (float)((out_w - nw) / 2);
    lb->pad_y = (float)((out_h - nh) / 2);
    lb->out_w = out_w;
    lb->out_h = out_h;
}

int det_lb_apply(const nn_image *src, const det_lb *lb, uint8_t *dst, err *e)
{
    if (src->c != 1 && src->c != 3 && src->c != 4)
        return err_set(e, ERR_INVALID, "images have 1, 3 or 4 channels, not %d", src->c);
    memset(dst, 114, (size_t)lb->out_w * (size_t)lb->out_h * 3);
    float crop[4] = {0, 0, (float)src->w, (float)src->h};
    double map[4] = {lb->scale, lb->pad_x, lb->scale, lb->pad_y};
    if (det_blit(src, crop, map, dst, lb->out_w, lb->out_h, NULL) < 0)
        return err_set(e, ERR_INTERNAL, "out of memory");
    return 0;
}

void det_lb_unmap(const det_lb *lb, int w, int h, det_box *boxes, int n)
{
    for (int i = 0; i < n; i++) {
        det_box *b = &boxes[i];
        float x1 = (b->x - lb->pad_x) / lb->scale, y1 = (b->y - lb->pad_y) / lb->scale;
        float x2 = (b->x + b->w - lb->pad_x) / lb->scale,
              y2 = (b->y + b->h - lb->pad_y) / lb->scale;
        x1 = fminf(fmaxf(x1, 0), (float)w);
        x2 = fminf(fmaxf(x2, 0), (float)w);
        y1 = fminf(fmaxf(y1, 0), (float)h);
        y2 = fminf(fmaxf(y2, 0), (float)h);
        b->x = x1;
        b->y = y1;
        b->w = x2 - x1;
        b->h = y2 - y1;
    }
}
