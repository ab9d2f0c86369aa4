/*
 * rle.c - COCO run-length masks; see rle.h for the format and semantics.
 *
 * Everything here works on counts without ever expanding a mask, except
 * rle_from_mask/rle_to_mask whose job that is. Two masks are combined by
 * walking both count lists at once (rle_walk), which is O(m1 + m2).
 *
 * The polygon rasteriser streams the upsampled boundary points instead of
 * storing them: only the column crossings are kept, so memory is bounded by
 * the number of crossings (at most one per column per edge), not by the
 * perimeter.
 */
#include "eval/rle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void rle_free(rle *r)
{
    free(r->cnts);
    r->cnts = NULL;
    r->m = 0;
    r->h = r->w = 0;
}

static int check_size(uint32_t h, uint32_t w, err *e)
{
    if (h > RLE_MAX_SIDE || w > RLE_MAX_SIDE || (uint64_t)h * w > RLE_MAX_PIXELS)
        return err_set(e, ERR_INVALID, "mask size %ux%u is above the limit (%u per side)", h, w,
                       RLE_MAX_SIDE);
    return 0;
}

/* Takes ownership of cnts (may be NULL when m == 0). */
static void rle_take(rle *out, uint32_t h, uint32_t w, uint32_t *cnts, size_t m)
{
    out->h = h;
    out->w = w;
    out->m = m;
    out->cnts = cnts;
}

int rle_from_mask(rle *out, const uint8_t *mask, uint32_t h, uint32_t w, err *e)
{
    if (check_size(h, w, e)) return -1;
    size_t n = (size_t)h * w;
    /* worst case: alternating pixels, n + 1 runs */
    uint32_t *c = malloc((n + 1) * sizeof *c);
    if (!c) return err_set(e, ERR_INTERNAL, "out of memory encoding a %ux%u mask", h, w);
    size_t m = 0;
    uint32_t run = 0;
    uint8_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t v = mask[i] != 0;
        if (v != cur) {
            c[m++] = run;
            run = 0;
            cur = v;
        }
        run++;
    }
    c[m++] = run;
    uint32_t *shrunk = realloc(c, m * sizeof *c);
    rle_take(out, h, w, shrunk ? shrunk : c, m);
    return 0;
}

void rle_to_mask(const rle *r, uint8_t *mask)
{
    uint8_t v = 0;
    for (size_t j = 0; j < r->m; j++) {
        memset(mask, v, r->cnts[j]);
        mask += r->cnts[j];
        v = !v;
    }
}

int rle_from_counts(rle *out, const uint32_t *cnts, size_t m, uint32_t h, uint32_t w, err *e)
{
    if (check_size(h, w, e)) return -1;
    uint64_t sum = 0;
    for (size_t i = 0; i < m; i++)
        sum += cnts[i];
    if (sum != (uint64_t)h * w)
        return err_set(e, ERR_INVALID, "counts add up to %llu, expected height*width = %llu",
                       (unsigned long long)sum, (unsigned long long)h * w);
    uint32_t *c = NULL;
    if (m) {
        c = malloc(m * sizeof *c);
        if (!c) return err_set(e, ERR_INTERNAL, "out of memory");
        memcpy(c, cnts, m * sizeof *c);
    }
    rle_take(out, h, w, c, m);
    return 0;
}

/* --- compressed string form --------------------------------------------- */

/*
 * Decodes the string into c (NULL: only check). Every count takes at least
 * one character, so c needs n entries. Returns the number of counts or -1.
 */
static long decode_string(const char *s, size_t n, uint32_t h, uint32_t w, uint32_t *c,
                          uint64_t *area, err *e)
{
    uint64_t fg = 0;
    const uint64_t total = (uint64_t)h * w;
    size_t m = 0, p = 0;
    uint64_t sum = 0;
    uint32_t prev2 = 0, prev1 = 0; /* counts m-2 and m-1 */
    while (p < n) {
        int64_t x;
        unsigned v = (unsigned char)s[p] - 48u;
        if (v < 32) { /* one character: the common case */
            x = (v & 0x10) ? (int64_t)v - 32 : (int64_t)v;
            p++;
        } else {
            x = 0;
            int k = 0;
            for (;;) {
                if (p >= n)
                    return err_set(e, ERR_INVALID, "counts string is truncated at offset %zu", p);
                v = (unsigned char)s[p] - 48u;
                if (v > 63)
                    return err_set(e, ERR_INVALID,
                                   "counts string has an invalid character at offset %zu", p);
                if (k >= 12)
                    return err_set(e, ERR_INVALID, "counts string: number too long at offset %zu",
                                   p);
                x |= (int64_t)(v & 0x1f) << (5 * k);
                p++;
                k++;
                if (!(v & 0x20)) {
                    if (v & 0x10) x |= (int64_t)(~(uint64_t)0 << (5 * k));
                    break;
                }
            }
        }
        if (m > 2) x += prev2;
        if (x < 0 || x > (int64_t)UINT32_MAX)
            return err_set(e, ERR_INVALID, "counts string: run %zu has invalid length %lld", m,
                           (long long)x);
        if (c) c[m] = (uint32_t)x;
        if (m & 1) fg += (uint64_t)x;
        m++;
        prev2 = prev1;
        prev1 = (uint32_t)x;
        sum += (uint64_t)x;
        if (sum > total)
            return err_set(e, ERR_INVALID,
                           "counts add up to more than %llu, expected height*width = %llu",
                           (unsigned long long)sum - x, (unsigned long long)total);
    }
    if (sum != total)
        return err_set(e, ERR_INVALID, "counts add up to %llu, expected height*width = %llu",
                       (unsigned long long)sum, (unsigned long long)total);
    if (area) *area = fg;
    return (long)m;
}

int rle_check_string(const char *s, size_t n, uint32_t h, uint32_t w, err *e)
{
    if (check_size(h, w, e)) return -1;
    return decode_string(s, n, h, w, NULL, NULL, e) < 0 ? -1 : 0;
}

int rle_string_area(const char *s, size_t n, uint32_t h, uint32_t w, uint64_t *area, err *e)
{
    if (check_size(h, w, e)) return -1;
    return decode_string(s, n, h, w, NULL, area, e) < 0 ? -1 : 0;
}

int rle_from_string(rle *out, const char *s, size_t n, uint32_t h, uint32_t w, err *e)
{
    if (check_size(h, w, e)) return -1;
    uint32_t *c = malloc((n ? n : 1) * sizeof *c);
    if (!c) return err_set(e, ERR_INTERNAL, "out of memory");
    long m = decode_string(s, n, h, w, c, NULL, e);
    if (m < 0) {
        free(c);
        return -1;
    }
    rle_take(out, h, w, c, (size_t)m);
    return 0;
}

void rle_to_string(const rle *r, sbuf *out)
{
    for (size_t i = 0; i < r->m; i++) {
        int64_t x = r->cnts[i];
        if (i > 2) x -= r->cnts[i - 2];
        int more = 1;
        while (more) {
            int c = (int)(x & 0x1f);
            x >>= 5; /* arithmetic shift: gcc and clang sign-extend */
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            sbuf_putc(out, (char)(c + 48));
        }
    }
}

/* --- polygons -------------------------------------------------------------- */

typedef struct {
    uint32_t *a;
    size_t n, cap;
    uint32_t h, w;
    bool have_prev;
    int pu, pv;
    bool oom;
} crossings;

static void cross_push(crossings *c, uint32_t v)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        uint32_t *p = realloc(c->a, cap * sizeof *p);
        if (!p) {
            c->oom = true;
            return;
        }
        c->a = p;
        c->cap = cap;
    }
    c->a[c->n++] = v;
}

/* The boundary kept for a step of the walk from (pu, pv) to (u, v) that
 * changes column, if the column whose centre lies between is inside. */
static void cross_step(crossings *c, int pu, int pv, int u, int v)
{
    double xd = (double)(u < pu ? u : u - 1);
    xd = (xd + .5) / 5.0 - .5;
    if (floor(xd) == xd && xd >= 0 && xd <= (double)c->w - 1) {
        double yd = (double)(v < pv ? v : pv);
        yd = (yd + .5) / 5.0 - .5;
        if (yd < 0)
            yd = 0;
        else if (yd > c->h)
            yd = c->h;
        yd = ceil(yd);
        cross_push(c, (uint32_t)((uint64_t)xd * c->h + (uint64_t)yd));
    }
}

/*
 * One upsampled boundary point. When the walk moves to another column, the
 * column whose centre lies between the two points (if any) gets a boundary
 * at the row just below the crossing.
 */
static void cross_point(crossings *c, int u, int v)
{
    if (c->have_prev && u != c->pu) cross_step(c, c->pu, c->pv, u, v);
    c->have_prev = true;
    c->pu = u;
    c->pv = v;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Ascending sort of boundaries: LSD radix (11-bit digits over the bits in
 * use) for the usual few hundred, qsort for tiny arrays. */
static int sort_u32(uint32_t *a, size_t n)
{
    if (n < 64) {
        qsort(a, n, sizeof *a, cmp_u32);
        return 0;
    }
    uint32_t maxv = 0;
    for (size_t i = 0; i < n; i++)
        maxv = a[i] > maxv ? a[i] : maxv;
    uint32_t *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return -1;
    uint32_t *src = a, *dst = tmp;
    for (int shift = 0; shift < 32 && (maxv >> shift); shift += 11) {
        uint32_t cnt[2049] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[((src[i] >> shift) & 2047) + 1]++;
        for (int d = 0; d < 2048; d++)
            cnt[d + 1] += cnt[d];
        for (size_t i = 0; i < n; i++)
            dst[cnt[(src[i] >> shift) & 2047]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
    free(tmp);
    return 0;
}

int rle_from_poly(rle *out, const double *xy, size_t k, uint32_t h, uint32_t w, err *e)
{
    if (check_size(h, w, e)) return -1;
    if (k < 1) return err_set(e, ERR_INVALID, "a polygon needs at least one point");
    for (size_t j = 0; j < 2 * k; j++)
        if (!isfinite(xy[j]) || fabs(xy[j]) > RLE_MAX_COORD)
            return err_set(e, ERR_INVALID, "polygon coordinate %zu (%g) is not within +-%g", j,
                           xy[j], RLE_MAX_COORD);
    crossings c = {.h = h, .w = w};
    for (size_t j = 0; j < k; j++) {
        size_t j1 = (j + 1) % k;
        int xs = (int)(5.0 * xy[2 * j] + .5), ys = (int)(5.0 * xy[2 * j + 1] + .5);
        int xe = (int)(5.0 * xy[2 * j1] + .5), ye = (int)(5.0 * xy[2 * j1 + 1] + .5);
        int dx = abs(xe - xs), dy = abs(ys - ye);
        /* walk from the lower end of the major axis; emit in edge order */
        bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if (flip) {
            int t = xs;
            xs = xe;
            xe = t;
            t = ys;
            ys = ye;
            ye = t;
        }
        if (dx >= dy) {
            /* x-major: every step changes column, but only steps across a
             * pixel centre (lower u = 5k + 2) can keep a boundary, so visit
             * those alone: the same points, a fifth of the work */
            double s = dx ? (double)(ye - ys) / dx : 0;
            cross_point(&c, (flip ? dx : 0) + xs, (int)(ys + s * (flip ? dx : 0) + .5));
            if (dx > 0) {
                /* step d goes from t0 = flip ? dx-d+1 : d-1 to t1 = flip ? dx-d : d;
                 * its lower u is xs + (flip ? dx - d : d - 1) */
                int lo0 = flip ? xs + dx - 1 : xs; /* lower u of step d = 1 */
                /* first d >= 1 with lower u = 2 (mod 5) */
                int r = ((lo0 - 2) % 5 + 5) % 5; /* lower u of step 1, minus 2, mod 5 */
                int first = flip ? 1 + r : 1 + (5 - r) % 5;
                for (int d = first; d <= dx; d += 5) {
                    int ta = flip ? dx - d + 1 : d - 1, tb = flip ? dx - d : d;
                    cross_step(&c, ta + xs, (int)(ys + s * ta + .5), tb + xs,
                               (int)(ys + s * tb + .5));
                }
                int tl = flip ? 0 : dx;
                c.have_prev = true;
                c.pu = tl + xs;
                c.pv = (int)(ys + s * tl + .5);
            }
        } else {
            double s = (double)(xe - xs) / dy;
            for (int d = 0; d <= dy; d++) {
                int t = flip ? dy - d : d;
                cross_point(&c, (int)(xs + s * t + .5), t + ys);
            }
        }
    }
    cross_push(&c, (uint32_t)((uint64_t)h * w));
    if (c.oom) {
        free(c.a);
        return err_set(e, ERR_INTERNAL, "out of memory rasterising a polygon");
    }
    if (sort_u32(c.a, c.n)) {
        free(c.a);
        return err_set(e, ERR_INTERNAL, "out of memory rasterising a polygon");
    }
    /* boundaries -> run lengths; an empty run in the middle merges its
     * neighbours (two boundaries at the same place cancel) */
    uint32_t prev = 0;
    for (size_t j = 0; j < c.n; j++) {
        uint32_t t = c.a[j];
        c.a[j] -= prev;
        prev = t;
    }
    size_t m = 0, j = 0;
    c.a[m++] = c.a[j++];
    while (j < c.n) {
        if (c.a[j] > 0) {
            c.a[m++] = c.a[j++];
        } else {
            j++;
            if (j < c.n) c.a[m - 1] += c.a[j++];
        }
    }
    uint32_t *shrunk = realloc(c.a, m * sizeof *c.a);
    rle_take(out, h, w, shrunk ? shrunk : c.a, m);
    return 0;
}

int rle_from_bbox(rle *out, const double bb[4], uint32_t h, uint32_t w, err *e)
{
    double xs = bb[0], ys = bb[1], xe = bb[0] + bb[2], ye = bb[1] + bb[3];
    double xy[8] = {xs, ys, xs, ye, xe, ye, xe, ys};
    return rle_from_poly(out, xy, 4, h, w, e);
}

/* --- combining masks ----------------------------------------------------- */

/*
 * Walks two masks of the same size run by run, calling back with segments of
 * constant (va, vb). The callback gets the segment length.
 */
typedef struct {
    const rle *r;
    size_t i;      /* index of the next count to load */
    uint32_t left; /* pixels left in the current run */
    int v;
} rle_cursor;

static void cur_init(rle_cursor *c, const rle *r)
{
    c->r = r;
    c->i = 0;
    c->v = 1; /* flipped to 0 by the first load */
    c->left = 0;
}

/* Skips exhausted runs; false at the end of the mask. */
static bool cur_fill(rle_cursor *c)
{
    while (c->left == 0) {
        if (c->i >= c->r->m) return false;
        c->left = c->r->cnts[c->i++];
        c->v = !c->v;
    }
    return true;
}

static void rle_inter_union(const rle *a, const rle *b, uint64_t *inter, uint64_t *uni)
{
    rle_cursor ca, cb;
    cur_init(&ca, a);
    cur_init(&cb, b);
    uint64_t i = 0, u = 0;
    while (cur_fill(&ca) && cur_fill(&cb)) {
        uint32_t c = ca.left < cb.left ? ca.left : cb.left;
        if (ca.v || cb.v) {
            u += c;
            if (ca.v && cb.v) i += c;
        }
        ca.left -= c;
        cb.left -= c;
    }
    *inter = i;
    *uni = u;
}

/* Appends a segment of value v and length n to a canonical count list. */
typedef struct {
    uint32_t *c;
    size_t m, cap;
    int v; /* value of the last run */
    bool oom;
} rle_builder;

static void build_add(rle_builder *b, int v, uint32_t n)
{
    if (n == 0) return;
    if (b->m > 0 && b->v == v) {
        b->c[b->m - 1] += n;
        return;
    }
    if (b->m + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        uint32_t *p = realloc(b->c, cap * sizeof *p);
        if (!p) {
            b->oom = true;
            return;
        }
        b->c = p;
        b->cap = cap;
    }
    if (b->m == 0 && v == 1) b->c[b->m++] = 0; /* masks start with a (possibly empty) zero run */
    b->c[b->m++] = n;
    b->v = v;
}

int rle_merge(const rle *rs, size_t n, bool intersect, rle *out, err *e)
{
    if (n == 0) {
        rle_take(out, 0, 0, NULL, 0);
        return 0;
    }
    for (size_t i = 1; i < n; i++)
        if (rs[i].h != rs[0].h || rs[i].w != rs[0].w)
            return err_set(e, ERR_INVALID, "cannot merge masks of sizes %ux%u and %ux%u", rs[0].h,
                           rs[0].w, rs[i].h, rs[i].w);
    rle acc = RLE_INIT;
    if (rle_from_counts(&acc, rs[0].cnts, rs[0].m, rs[0].h, rs[0].w, e)) return -1;
    for (size_t i = 1; i < n; i++) {
        rle_cursor ca, cb;
        cur_init(&ca, &acc);
        cur_init(&cb, &rs[i]);
        rle_builder b = {0};
        while (cur_fill(&ca) && cur_fill(&cb)) {
            uint32_t c = ca.left < cb.left ? ca.left : cb.left;
            int v = intersect ? (ca.v && cb.v) : (ca.v || cb.v);
            build_add(&b, v, c);
            ca.left -= c;
            cb.left -= c;
        }
        if (b.oom) {
            free(b.c);
            rle_free(&acc);
            return err_set(e, ERR_INTERNAL, "out of memory merging masks");
        }
        uint32_t h = acc.h, w = acc.w;
        rle_free(&acc);
        if (b.m == 0) { /* 0-pixel mask */
            free(b.c);
            b.c = NULL;
        }
        rle_take(&acc, h, w, b.c, b.m);
    }
    *out = acc;
    return 0;
}

uint64_t rle_area(const rle *r)
{
    uint64_t a = 0;
    for (size_t j = 1; j < r->m; j += 2)
        a += r->cnts[j];
    return a;
}

void rle_to_bbox(const rle *r, double bb[4])
{
    size_t m = r->m & ~(size_t)1; /* a trailing zero run adds nothing */
    if (m == 0 || r->h == 0) {
        bb[0] = bb[1] = bb[2] = bb[3] = 0;
        return;
    }
    uint32_t h = r->h;
    uint32_t xs = r->w, ys = h, xe = 0, ye = 0, xp = 0;
    /* 32-bit arithmetic on purpose: an empty run at the start makes t wrap,
     * and the reference's box of such a degenerate mask is what it gives.
     * (col, row) of cc is kept incrementally: a division only when a run
     * crosses a column boundary. */
    uint32_t cc = 0, col = 0, row = 0;
    for (size_t j = 0; j < m; j++) {
        uint32_t c = r->cnts[j];
        cc += c;
        if (cc < c || (j > 0 && cc == 0)) { /* wrapped: fall back to dividing */
            col = cc / h;
            row = cc % h;
        } else {
            row += c;
            if (row >= h) { /* usually less than one more column: no division */
                if (row - h < h) {
                    row -= h;
                    col++;
                } else {
                    col += row / h;
                    row %= h;
                }
            }
        }
        /* even j: first pixel of a foreground run (cc); odd j: its last (cc - 1) */
        uint32_t x = col, y = row;
        if (j % 2) {
            uint32_t t = cc - 1;
            if (cc == 0) { /* t wrapped to 2^32 - 1 */
                y = t % h;
                x = (t - y) / h;
            } else if (row == 0) {
                y = h - 1;
                x = col - 1;
            } else {
                y = row - 1;
            }
        }
        if (j % 2 == 0)
            xp = x;
        else if (xp < x) { /* the run wraps into the next column */
            ys = 0;
            ye = h - 1;
        }
        if (x < xs) xs = x;
        if (x > xe) xe = x;
        if (y < ys) ys = y;
        if (y > ye) ye = y;
    }
    bb[0] = xs;
    bb[2] = (double)xe - xs + 1;
    bb[1] = ys;
    bb[3] = (double)ye - ys + 1;
}

void rle_to_cover(const rle *r, double bb[4])
{
    uint64_t total = (uint64_t)r->h * r->w;
    if (r->m < 2 || r->h == 0 || r->cnts[0] >= total) {
        bb[0] = bb[1] = bb[2] = bb[3] = 0;
        return;
    }
    /* first foreground pixel: after the leading zero run; last: before the
     * trailing zero run (an odd count of runs ends with zeros) */
    uint64_t first = r->cnts[0];
    uint64_t last = total - 1 - (r->m % 2 ? r->cnts[r->m - 1] : 0);
    if (last < first) {
        bb[0] = bb[1] = bb[2] = bb[3] = 0;
        return;
    }
    uint64_t x0 = first / r->h, x1 = last / r->h;
    bb[0] = (double)x0;
    bb[1] = 0;
    bb[2] = (double)(x1 - x0 + 1);
    bb[3] = r->h;
}

double rle_bbox_iou(const double d[4], const double g[4], bool crowd)
{
    double w = fmin(d[2] + d[0], g[2] + g[0]) - fmax(d[0], g[0]);
    if (w <= 0) return 0;
    double h = fmin(d[3] + d[1], g[3] + g[1]) - fmax(d[1], g[1]);
    if (h <= 0) return 0;
    double i = w * h;
    double da = d[2] * d[3], ga = g[2] * g[3];
    double u = crowd ? da : da + ga - i;
    return i / u;
}

double rle_iou(const rle *dt, const double dt_bb[4], const rle *gt, const double gt_bb[4],
               bool gt_crowd)
{
    if (rle_bbox_iou(dt_bb, gt_bb, false) <= 0) return 0;
    if (dt->h != gt->h || dt->w != gt->w) return -1;
    uint64_t i, u;
    rle_inter_union(dt, gt, &i, &u);
    if (i == 0) return 0;
    if (gt_crowd) u = rle_area(dt);
    return (double)i / (double)u;
}
