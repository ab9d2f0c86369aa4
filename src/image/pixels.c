/*
 * pixels.c - the operations every decode path ends with: resampling,
 * orientation, channel conversion.
 *
 * Resampling is separable. For each axis we precompute, for every output
 * position, the run of input positions it covers and their weights:
 *   shrinking  area average: output pixel i covers the input interval
 *              [i*s, (i+1)*s) with s = in/out; whole pixels weigh 1, the
 *              two partial ones at the ends weigh their overlap; weights
 *              are normalised to sum to 1. This is the box filter of
 *              "resize by averaging" and does not alias like point
 *              sampling does. After a DCT-scaled decode the remaining
 *              factor is below 2, where a box is as good as anything.
 *   enlarging  bilinear interpolation between the two nearest centres.
 * Weights are 14-bit fixed point summing exactly to 1 << 14, so a pass
 * accumulates in 32-bit integers (255 << 14 fits with room) and a flat
 * image stays exactly flat; the loops are written so the compiler can
 * vectorise them.
 *
 * The horizontal pass runs first into a buffer of in_h x out_w pixels,
 * then the vertical pass; memory is bounded by that buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "image/internal.h"

int px_alloc(image_pixels *p, uint32_t w, uint32_t h, uint8_t ch, err *e)
{
    memset(p, 0, sizeof *p);
    size_t stride = (size_t)w * ch;
    if (w == 0 || h == 0 || stride / ch != w || (stride && (size_t)h > SIZE_MAX / stride))
        return err_set(e, ERR_INTERNAL, "invalid pixel buffer size %ux%ux%u", w, h, ch);
    p->data = malloc(stride * h);
    if (!p->data)
        return err_set(e, ERR_INTERNAL, "out of memory for a %ux%u image", w, h);
    p->width = w;
    p->height = h;
    p->channels = ch;
    p->stride = stride;
    return 0;
}

void image_pixels_free(image_pixels *p)
{
    if (!p)
        return;
    free(p->data);
    memset(p, 0, sizeof *p);
}

void px_replace(image_pixels *p, image_pixels *tmp)
{
    free(p->data);
    *p = *tmp;
    memset(tmp, 0, sizeof *tmp);
}

void px_fit(uint32_t w, uint32_t h, uint32_t side, uint32_t *ow, uint32_t *oh)
{
    if (w <= side && h <= side) {
        *ow = w;
        *oh = h;
    } else if (w >= h) {
        *ow = side;
        *oh = (uint32_t)(((uint64_t)h * side + w / 2) / w);
    } else {
        *oh = side;
        *ow = (uint32_t)(((uint64_t)w * side + h / 2) / h);
    }
    if (*ow == 0)
        *ow = 1;
    if (*oh == 0)
        *oh = 1;
}

#define WBITS 14
#define WONE (1 << WBITS)

/* Contributions of input positions to each output position on one axis. */
typedef struct axis {
    uint32_t *start; /* first input index */
    uint32_t *count; /* number of taps */
    uint32_t *off;   /* offset of the first weight in w */
    int32_t *w;      /* WBITS fixed-point weights, each run summing to 1 << WBITS */
} axis;

static void axis_free(axis *a)
{
    free(a->start);
    free(a->count);
    free(a->off);
    free(a->w);
}

static int axis_make(uint32_t in, uint32_t out, axis *a, err *e)
{
    memset(a, 0, sizeof *a);
    double s = (double)in / out;
    size_t maxtaps = in > out ? (size_t)s + 3 : 2;
    a->start = malloc(sizeof *a->start * out);
    a->count = malloc(sizeof *a->count * out);
    a->off = malloc(sizeof *a->off * out);
    a->w = malloc(sizeof *a->w * maxtaps * out);
    if (!a->start || !a->count || !a->off || !a->w) {
        axis_free(a);
        return err_set(e, ERR_INTERNAL, "out of memory for resampling");
    }
    double tmp[64];
    double *wd = maxtaps <= 64 ? tmp : malloc(sizeof *wd * maxtaps);
    if (!wd) {
        axis_free(a);
        return err_set(e, ERR_INTERNAL, "out of memory for resampling");
    }
    size_t wpos = 0;
    for (uint32_t i = 0; i < out; i++) {
        uint32_t first, n = 0;
        if (in > out) {
            double lo = i * s, hi = (i + 1) * s;
            first = (uint32_t)lo;
            for (uint32_t j = first; j < in && j < hi && n < maxtaps; j++) {
                double a0 = j > lo ? j : lo, a1 = j + 1 < hi ? j + 1 : hi;
                if (a1 > a0)
                    wd[n++] = a1 - a0;
                else if (n == 0)
                    first++;
            }
        } else {
            double c = (i + 0.5) * s - 0.5;
            if (c < 0)
                c = 0;
            first = (uint32_t)c;
            double f = c - first;
            if (first + 1 >= in) {
                first = in - 1;
                wd[n++] = 1;
            } else {
                wd[n++] = 1 - f;
                wd[n++] = f;
            }
        }
        double sum = 0;
        for (uint32_t k = 0; k < n; k++)
            sum += wd[k];
        /* Integer weights that sum exactly to WONE: the last one takes the rest. */
        int32_t acc = 0;
        for (uint32_t k = 0; k < n; k++) {
            int32_t wk = k + 1 == n ? WONE - acc : (int32_t)(wd[k] / sum * WONE + 0.5);
            a->w[wpos + k] = wk;
            acc += wk;
        }
        a->start[i] = first;
        a->count[i] = n;
        a->off[i] = (uint32_t)wpos;
        wpos += n;
    }
    if (wd != tmp)
        free(wd);
    return 0;
}

static inline uint8_t clamp_round(int32_t v)
{
    v = (v + WONE / 2) >> WBITS;
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

/* One row, horizontally: out[x] = sum of weighted taps. */
static void resize_row(const uint8_t *in, uint8_t *o, const axis *ax, uint32_t w, uint32_t ch)
{
    if (ch == 3) {
        for (uint32_t x = 0; x < w; x++) {
            const int32_t *wt = ax->w + ax->off[x];
            const uint8_t *p = in + (size_t)ax->start[x] * 3;
            int32_t r = 0, g = 0, b = 0;
            for (uint32_t k = 0; k < ax->count[x]; k++, p += 3) {
                r += wt[k] * p[0];
                g += wt[k] * p[1];
                b += wt[k] * p[2];
            }
            o[3 * x] = clamp_round(r);
            o[3 * x + 1] = clamp_round(g);
            o[3 * x + 2] = clamp_round(b);
        }
        return;
    }
    for (uint32_t x = 0; x < w; x++) {
        const int32_t *wt = ax->w + ax->off[x];
        const uint8_t *p = in + (size_t)ax->start[x] * ch;
        for (uint32_t c = 0; c < ch; c++) {
            int32_t acc = 0;
            for (uint32_t k = 0; k < ax->count[x]; k++)
                acc += wt[k] * p[k * ch + c];
            o[x * ch + c] = clamp_round(acc);
        }
    }
}

int px_resize(const image_pixels *src, uint32_t w, uint32_t h, image_pixels *dst, err *e)
{
    const uint32_t ch = src->channels;
    axis ax, ay;
    image_pixels mid;
    if (axis_make(src->width, w, &ax, e))
        return -1;
    if (axis_make(src->height, h, &ay, e)) {
        axis_free(&ax);
        return -1;
    }
    if (px_alloc(&mid, w, src->height, (uint8_t)ch, e) || px_alloc(dst, w, h, (uint8_t)ch, e)) {
        image_pixels_free(&mid);
        axis_free(&ax);
        axis_free(&ay);
        return -1;
    }
    for (uint32_t y = 0; y < src->height; y++)
        resize_row(src->data + y * src->stride, mid.data + y * mid.stride, &ax, w, ch);
    size_t rowlen = (size_t)w * ch;
    int32_t *acc = malloc(rowlen * sizeof *acc);
    if (!acc) {
        image_pixels_free(&mid);
        image_pixels_free(dst);
        axis_free(&ax);
        axis_free(&ay);
        return err_set(e, ERR_INTERNAL, "out of memory for resampling");
    }
    for (uint32_t y = 0; y < h; y++) {
        const int32_t *wt = ay.w + ay.off[y];
        const uint8_t *row = mid.data + (size_t)ay.start[y] * mid.stride;
        int32_t w0 = wt[0];
        for (size_t i = 0; i < rowlen; i++)
            acc[i] = w0 * row[i];
        for (uint32_t k = 1; k < ay.count[y]; k++) {
            row = mid.data + (size_t)(ay.start[y] + k) * mid.stride;
            int32_t wk = wt[k];
            for (size_t i = 0; i < rowlen; i++)
                acc[i] += wk * row[i];
        }
        uint8_t *o = dst->data + y * dst->stride;
        for (size_t i = 0; i < rowlen; i++)
            o[i] = clamp_round(acc[i]);
    }
    free(acc);
    image_pixels_free(&mid);
    axis_free(&ax);
    axis_free(&ay);
    return 0;
}

int px_orient(const image_pixels *src, int orientation, image_pixels *dst, err *e)
{
    uint32_t W = src->width, H = src->height, ch = src->channels;
    bool swap = orientation >= 5 && orientation <= 8;
    uint32_t ow = swap ? H : W, oh = swap ? W : H;
    if (px_alloc(dst, ow, oh, (uint8_t)ch, e))
        return -1;
    for (uint32_t y = 0; y < oh; y++) {
        uint8_t *o = dst->data + y * dst->stride;
        for (uint32_t x = 0; x < ow; x++) {
            uint32_t sx, sy;
            switch (orientation) {
            case 2: sx = W - 1 - x; sy = y; break;
            case 3: sx = W - 1 - x; sy = H - 1 - y; break;
            case 4: sx = x; sy = H - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = H - 1 - x; break;
            case 7: sx = W - 1 - y; sy = H - 1 - x; break;
            case 8: sx = W - 1 - y; sy = x; break;
            default: sx = x; sy = y; break;
            }
            const uint8_t *p = src->data + sy * src->stride + (size_t)sx * ch;
            for (uint32_t c = 0; c < ch; c++)
                o[x * ch + c] = p[c];
        }
    }
    return 0;
}

int px_convert(image_pixels *p, uint8_t want, err *e)
{
    uint8_t have = p->channels;
    if (have == want)
        return 0;
    if (want != 1 && want != 3)
        return err_set(e, ERR_INTERNAL, "cannot convert to %u channels", want);
    if (have < 1 || have > 4)
        return err_set(e, ERR_INTERNAL, "cannot convert from %u channels", have);
    bool alpha = have == 2 || have == 4;
    /* Output is never wider than input except gray -> RGB: a new buffer then. */
    image_pixels out;
    if (want > have) {
        if (px_alloc(&out, p->width, p->height, want, e))
            return -1;
    } else {
        out = *p;
        out.channels = want;
        out.stride = (size_t)p->width * want;
    }
    for (uint32_t y = 0; y < p->height; y++) {
        const uint8_t *in = p->data + y * p->stride;
        uint8_t *o = out.data + y * out.stride;
        for (uint32_t x = 0; x < p->width; x++) {
            const uint8_t *s = in + (size_t)x * have;
            int r, g, b;
            if (have <= 2)
                r = g = b = s[0];
            else
                r = s[0], g = s[1], b = s[2];
            if (alpha) {
                int a = s[have - 1];
                /* over white: v*a + 255*(255-a), divided by 255 rounded */
                r = (r * a + 255 * (255 - a) + 127) / 255;
                g = (g * a + 255 * (255 - a) + 127) / 255;
                b = (b * a + 255 * (255 - a) + 127) / 255;
            }
            if (want == 1) {
                /* ITU-R BT.601 luma, as JPEG uses */
                o[x] = have <= 2 ? (uint8_t)r
                                 : (uint8_t)((19595 * r + 38470 * g + 7471 * b + 32768) >> 16);
            } else {
                o[x * 3] = (uint8_t)r;
                o[x * 3 + 1] = (uint8_t)g;
                o[x * 3 + 2] = (uint8_t)b;
            }
        }
    }
    if (want > have)
        px_replace(p, &out);
    else
        *p = out;
    return 0;
}
