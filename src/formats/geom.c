/*
 * geom.c - areas and boxes of annotation geometry, and COCO's run-length
 * masks.
 *
 * RLE follows pycocotools (maskApi.c) exactly, so that what we compute is
 * what the COCO evaluation computes: runs alternate background/foreground
 * starting with background, in column-major order (down the first column,
 * then the next); the compressed string stores each count, from the
 * fourth on as the difference with the count two before, in 5-bit groups
 * with a continuation bit and a sign bit, each group + 48 as one ASCII
 * character ('0'..'o').
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/internal.h"

double fmt_polygon_area(const double *xy, int npoints, const int *ring_sizes, int nrings)
{
    double total = 0;
    int one = npoints;
    if (!ring_sizes || nrings <= 0) {
        ring_sizes = &one;
        nrings = 1;
    }
    int start = 0;
    for (int r = 0; r < nrings && start < npoints; r++) {
        int n = ring_sizes[r];
        if (n > npoints - start)
            n = npoints - start;
        const double *p = xy + 2 * start;
        double a = 0;
        for (int i = 0; i < n; i++) {
            int j = i + 1 == n ? 0 : i + 1;
            a += p[2 * i] * p[2 * j + 1] - p[2 * j] * p[2 * i + 1];
        }
        total += fabs(a) / 2;
        start += n;
    }
    return total;
}

bool fmt_points_bbox(const double *xy, int npoints, double box[4])
{
    if (npoints <= 0)
        return false;
    double x0 = xy[0], y0 = xy[1], x1 = xy[0], y1 = xy[1];
    for (int i = 1; i < npoints; i++) {
        double x = xy[2 * i], y = xy[2 * i + 1];
        if (x < x0)
            x0 = x;
        if (x > x1)
            x1 = x;
        if (y < y0)
            y0 = y;
        if (y > y1)
            y1 = y;
    }
    box[0] = x0;
    box[1] = y0;
    box[2] = x1 - x0;
    box[3] = y1 - y0;
    return true;
}

int fmt_rle_decode(const char *s, uint32_t **out, err *e)
{
    size_t len = strlen(s);
    /* every count takes at least one character */
    if (len > FMT_MAX_RLE)
        return err_set(e, ERR_TOO_LARGE, "RLE string of %zu characters is above the limit of %d",
                       len, FMT_MAX_RLE);
    uint32_t *c = malloc((len ? len : 1) * sizeof *c);
    if (!c)
        return err_set(e, ERR_INTERNAL, "out of memory decoding an RLE string");
    size_t p = 0;
    int m = 0;
    while (p < len) {
        int64_t x = 0;
        int k = 0;
        bool more = true;
        while (more) {
            if (p >= len) {
                free(c);
                return err_set(e, ERR_INVALID, "RLE string ends inside a count (character %zu)",
                               p);
            }
            int ch = (unsigned char)s[p];
            if (ch < 48 || ch > 48 + 63) {
                free(c);
                return err_set(e, ERR_INVALID,
                               "RLE string has character '%c' at %zu; counts use '0'..'o'",
                               ch >= 0x20 && ch < 0x7f ? ch : '?', p);
            }
            int v = ch - 48;
            if (k >= 12) { /* 60 bits: beyond any count */
                free(c);
                return err_set(e, ERR_INVALID, "RLE string has an oversized count at %zu", p);
            }
            x |= (int64_t)(v & 0x1f) << (5 * k);
            more = v & 0x20;
            p++;
            k++;
            if (!more && (v & 0x10))
                x |= (int64_t)((uint64_t)-1 << (5 * k));
        }
        if (m > 2)
            x += c[m - 2];
        if (x < 0 || x > UINT32_MAX) {
            free(c);
            return err_set(e, ERR_INVALID, "RLE string decodes to count %lld at position %d",
                           (long long)x, m);
        }
        c[m++] = (uint32_t)x;
    }
    *out = c;
    return m;
}

char *fmt_rle_encode(const uint32_t *counts, int n)
{
    char *s = malloc((size_t)(n > 0 ? n : 1) * 7 + 1);
    if (!s)
        return NULL;
    size_t p = 0;
    for (int i = 0; i < n; i++) {
        int64_t x = counts[i];
        if (i > 2)
            x -= counts[i - 2];
        bool more = true;
        while (more) {
            int c = (int)(x & 0x1f);
            x >>= 5; /* arithmetic shift, as pycocotools relies on */
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more)
                c |= 0x20;
            s[p++] = (char)(c + 48);
        }
    }
    s[p] = 0;
    return s;
}

uint64_t fmt_rle_area(const uint32_t *counts, int n)
{
    uint64_t a = 0;
    for (int j = 1; j < n; j += 2)
        a += counts[j];
    return a;
}

bool fmt_rle_bbox(const uint32_t *counts, int n, int h, int w, double box[4])
{
    int m = (n / 2) * 2;
    memset(box, 0, 4 * sizeof *box);
    if (m == 0 || h <= 0 || w <= 0)
        return false;
    uint64_t xs = (uint64_t)w, ys = (uint64_t)h, xe = 0, ye = 0, cc = 0, xp = 0;
    for (int j = 0; j < m; j++) {
        cc += counts[j];
        uint64_t t = cc - (uint64_t)(j % 2);
        uint64_t y = t % (uint64_t)h, x = (t - y) / (uint64_t)h;
        if (j % 2 == 0)
            xp = x;
        else if (xp < x) {
            ys = 0;
            ye = (uint64_t)h - 1;
        }
        if (x < xs)
            xs = x;
        if (x > xe)
            xe = x;
        if (y < ys)
            ys = y;
        if (y > ye)
            ye = y;
    }
    if (xs > xe || ys > ye) /* only from zero-length runs at the very start */
        return false;
    box[0] = (double)xs;
    box[1] = (double)ys;
    box[2] = (double)(xe - xs + 1);
    box[3] = (double)(ye - ys + 1);
    return true;
}
