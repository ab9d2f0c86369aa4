/*
 * augment.c - detection augmentation that moves the boxes with the pixels.
 *
 * As in YOLOv5/v8, in this order:
 *
 *   1. mosaic (probability `mosaic`, 4 samples): a canvas of twice the
 *      output size, a random centre in its middle half, the four images
 *      (each fitted to the output size, aspect kept) meeting at that
 *      centre, each cropped to its quadrant; or one image fitted and
 *      centred on a canvas of the output size;
 *   2. a random zoom around the canvas centre (1 +- scale) and a random
 *      shift (+- translate x the output size), the output window taken
 *      at the canvas centre;
 *   3. a horizontal flip (probability hflip);
 *   4. HSV jitter: hue shifted by +-hsv_h of the circle, saturation and
 *      value multiplied by 1 +- hsv_s, 1 +- hsv_v.
 *
 * Steps 1-3 compose, per source image, into one axis-aligned map
 * out = a * src + b per axis (det_blit), so each pixel is sampled once and
 * a box maps to an exact box: clipped to the image's crop, mapped, clipped
 * to the output; dropped when narrower or lower than min_side, when less
 * than min_visible of its mapped area remains, or when thinner than 1:20.
 * Rotation and shear are left out on purpose: they would make boxes of
 * rotated boxes, larger than the objects.
 *
 * Every random number comes from one xoshiro256** stream seeded with
 * `seed`, drawn in a fixed order whatever is used, so the same seed gives
 * the same result.
 */
#include <stdlib.h>
#include <string.h>

#include "detect/detect_impl.h"

void det_aug_default(det_aug *a, int w, int h)
{
    *a = (det_aug){.out_w = w,
                   .out_h = h,
                   .mosaic = 1.0f,
                   .scale = 0.5f,
                   .translate = 0.1f,
                   .hflip = 0.5f,
                   .hsv_h = 0.015f,
                   .hsv_s = 0.7f,
                   .hsv_v = 0.4f,
                   .min_side = 2.0f,
                   .min_visible = 0.1f};
}

static double uni(nn_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * nn_rng_uniform(r);
}

void det_rgb_to_hsv(float r, float g, float b, float *h, float *s, float *v)
{
    float mx = fmaxf(r, fmaxf(g, b)), mn = fminf(r, fminf(g, b)), d = mx - mn;
    *v = mx;
    *s = mx > 0 ? d / mx : 0;
    if (d <= 0) {
        *h = 0;
        return;
    }
    float hh;
    if (mx == r)
        hh = (g - b) / d;
    else if (mx == g)
        hh = 2 + (b - r) / d;
    else
        hh = 4 + (r - g) / d;
    hh *= 60;
    if (hh < 0) hh += 360;
    *h = hh;
}

void det_hsv_to_rgb(float h, float s, float v, float *r, float *g, float *b)
{
    float c = v * s, hp = h / 60.0f;
    float x = c * (1 - fabsf(fmodf(hp, 2.0f) - 1));
    float m = v - c, rr = 0, gg = 0, bb = 0;
    int i = (int)hp;
    switch (i % 6) {
    case 0:
        rr = c;
        gg = x;
        break;
    case 1:
        rr = x;
        gg = c;
        break;
    case 2:
        gg = c;
        bb = x;
        break;
    case 3:
        gg = x;
        bb = c;
        break;
    case 4:
        rr = x;
        bb = c;
        break;
    default:
        rr = c;
        bb = x;
        break;
    }
    *r = rr + m;
    *g = gg + m;
    *b = bb + m;
}

static void hsv_jitter(uint8_t *p, size_t npix, float dh, float gs, float gv)
{
    if (dh == 0 && gs == 1 && gv == 1) return;
    float shift = dh * 360.0f;
    for (size_t i = 0; i < npix; i++, p += 3) {
        float h, s, v, r, g, b;
        det_rgb_to_hsv(p[0], p[1], p[2], &h, &s, &v);
        h += shift;
        if (h < 0) h += 360;
        if (h >= 360) h -= 360;
        s = fminf(s * gs, 1.0f);
        v = fminf(v * gv, 255.0f);
        det_hsv_to_rgb(h, s, v, &r, &g, &b);
        p[0] = (uint8_t)(r + 0.5f);
        p[1] = (uint8_t)(g + 0.5f);
        p[2] = (uint8_t)(b + 0.5f);
    }
}

typedef struct tile {
    const det_src *s;
    float crop[4]; /* source pixels shown */
    double map[4]; /* out = map[0] * x + map[1], map[2] * y + map[3] */
} tile;

int det_augment(const det_aug *a, const det_src *src, int nsrc, uint64_t seed, uint8_t *dst,
                det_box *out, int max_out, int *nout, err *e)
{
    *nout = 0;
    int W = a->out_w, H = a->out_h;
    if (W < 1 || H < 1) return err_set(e, ERR_INVALID, "augmentation output size %dx%d", W, H);
    if (nsrc != 1 && nsrc != 4)
        return err_set(e, ERR_INVALID, "augmentation takes 1 or 4 images, not %d", nsrc);
    for (int k = 0; k < nsrc; k++) {
        const nn_image *im = &src[k].img;
        if (im->w < 1 || im->h < 1 || (im->c != 1 && im->c != 3 && im->c != 4))
            return err_set(e, ERR_INVALID, "image %d: %dx%d with %d channels", k, im->w, im->h,
                           im->c);
    }
    nn_rng r;
    nn_rng_seed(&r, seed);
    /* every draw happens, in this order, whether used or not */
    double u_mosaic = nn_rng_uniform(&r);
    double u_xc = nn_rng_uniform(&r), u_yc = nn_rng_uniform(&r);
    double sr = uni(&r, 1 - a->scale, 1 + a->scale);
    double tx = uni(&r, -a->translate, a->translate) * W;
    double ty = uni(&r, -a->translate, a->translate) * H;
    bool flip = nn_rng_uniform(&r) < a->hflip;
    float dh = (float)uni(&r, -1, 1) * a->hsv_h;
    float gs = 1 + (float)uni(&r, -1, 1) * a->hsv_s;
    float gv = 1 + (float)uni(&r, -1, 1) * a->hsv_v;

    bool mosaic = nsrc == 4 && a->mosaic > 0 && u_mosaic < a->mosaic;
    tile t[4];
    int nt = mosaic ? 4 : 1;
    double CW = mosaic ? 2.0 * W : W, CH = mosaic ? 2.0 * H : H;
    double xc = mosaic ? 0.5 * W + u_xc * W : 0, yc = mosaic ? 0.5 * H + u_yc * H : 0;
    for (int k = 0; k < nt; k++) {
        const nn_image *im = &src[k].img;
        double rs = fmin((double)W / im->w, (double)H / im->h);
        double tw = im->w * rs, th = im->h * rs;
        double px, py, u0, u1, v0, v1; /* placement and shown canvas rectangle */
        if (!mosaic) {
            px = (W - tw) / 2;
            py = (H - th) / 2;
            u0 = px;
            u1 = px + tw;
            v0 = py;
            v1 = py + th;
        } else {
            px = k % 2 == 0 ? xc - tw : xc;
            py = k < 2 ? yc - th : yc;
            u0 = k % 2 == 0 ? fmax(xc - tw, 0) : xc;
            u1 = k % 2 == 0 ? xc : fmin(xc + tw, CW);
            v0 = k < 2 ? fmax(yc - th, 0) : yc;
            v1 = k < 2 ? yc : fmin(yc + th, CH);
        }
        t[k].s = &src[k];
        t[k].crop[0] = (float)((u0 - px) / rs);
        t[k].crop[1] = (float)((v0 - py) / rs);
        t[k].crop[2] = (float)((u1 - px) / rs);
        t[k].crop[3] = (float)((v1 - py) / rs);
        /* canvas -> output: (c - C/2) * sr + out/2 + shift */
        double ax = rs * sr, bx = (px - CW / 2) * sr + W / 2.0 + tx;
        double ay = rs * sr, by = (py - CH / 2) * sr + H / 2.0 + ty;
        if (flip) {
            ax = -ax;
            bx = W - bx;
        }
        t[k].map[0] = ax;
        t[k].map[1] = bx;
        t[k].map[2] = ay;
        t[k].map[3] = by;
    }
    memset(dst, 114, (size_t)W * (size_t)H * 3);
    for (int k = 0; k < nt; k++)
        if (det_blit(&t[k].s->img, t[k].crop, t[k].map, dst, W, H, NULL) < 0)
            return err_set(e, ERR_INTERNAL, "out of memory");
    hsv_jitter(dst, (size_t)W * (size_t)H, dh, gs, gv);

    float min_side = a->min_side > 0 ? a->min_side : 0;
    int n = 0;
    for (int k = 0; k < nt; k++) {
        const det_src *s = t[k].s;
        const float *cr = t[k].crop;
        const double *m = t[k].map;
        for (int i = 0; i < s->n; i++) {
            const det_box *b = &s->boxes[i];
            double full = (double)b->w * b->h * fabs(m[0] * m[2]);
            double x1 = fmax(b->x, cr[0]), y1 = fmax(b->y, cr[1]);
            double x2 = fmin(b->x + b->w, cr[2]), y2 = fmin(b->y + b->h, cr[3]);
            if (x2 <= x1 || y2 <= y1) continue;
            double X1 = m[0] * x1 + m[1], X2 = m[0] * x2 + m[1];
            double Y1 = m[2] * y1 + m[3], Y2 = m[2] * y2 + m[3];
            if (X1 > X2) {
                double tt = X1;
                X1 = X2;
                X2 = tt;
            }
            X1 = fmax(X1, 0);
            Y1 = fmax(Y1, 0);
            X2 = fmin(X2, W);
            Y2 = fmin(Y2, H);
            double bw = X2 - X1, bh = Y2 - Y1;
            if (bw <= min_side || bh <= min_side) continue;
            if (full > 0 && bw * bh < a->min_visible * full) continue;
            if (bw / bh > 20 || bh / bw > 20) continue;
            if (n == max_out)
                return err_set(e, ERR_TOO_LARGE, "more than %d boxes in one augmented image",
                               max_out);
            out[n++] = (det_box){(float)X1, (float)Y1, (float)bw, (float)bh, b->cls, b->score};
        }
    }
    *nout = n;
    return 0;
}
