/*
 * tseries.c - chunk encoding, ordering and downsampling of metric series;
 * see tseries.h.
 */
#include "tseries/tseries.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TS_FORMAT 1

/* --- encoding ------------------------------------------------------------ */

static inline uint64_t zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t unzigzag(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

static inline unsigned char *put_varint(unsigned char *o, uint64_t v)
{
    while (v >= 0x80) {
        *o++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *o++ = (unsigned char)v;
    return o;
}

/* Reads a varint at *p (< end); NULL on truncation or overlong input. */
static inline const unsigned char *get_varint(const unsigned char *p, const unsigned char *end,
                                              uint64_t *v)
{
    if (p < end && *p < 0x80) { /* the usual case: a small delta */
        *v = *p;
        return p + 1;
    }
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return NULL;
        unsigned char b = *p++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return p;
        }
    }
    return NULL;
}

size_t ts_encode_bound(size_t n) { return 1 + 10 + n * (10 + 8 + 10); }

size_t ts_encode(const ts_point *p, size_t n, unsigned char *out)
{
    unsigned char *o = out;
    *o++ = TS_FORMAT;
    o = put_varint(o, n);
    int64_t ps = 0, pt = 0;
    for (size_t i = 0; i < n; i++) {
        /* deltas in unsigned arithmetic: defined for any pair of int64 */
        o = put_varint(o, zigzag((int64_t)((uint64_t)p[i].step - (uint64_t)ps)));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(o, &p[i].value, 8);
        o += 8;
#else
        uint64_t bits;
        memcpy(&bits, &p[i].value, 8);
        for (int k = 0; k < 8; k++)
            *o++ = (unsigned char)(bits >> (8 * k));
#endif
        o = put_varint(o, zigzag((int64_t)((uint64_t)p[i].time - (uint64_t)pt)));
        ps = p[i].step;
        pt = p[i].time;
    }
    return (size_t)(o - out);
}

int ts_decode_count(const unsigned char *in, size_t len, size_t *n, err *e)
{
    uint64_t c;
    if (len < 2 || in[0] != TS_FORMAT || !get_varint(in + 1, in + len, &c) ||
        c > (uint64_t)len) /* every point takes at least 10 bytes */
        return err_set(e, ERR_INTERNAL, "a stored metric chunk is corrupt (bad header)");
    *n = (size_t)c;
    return 0;
}

int ts_decode(const unsigned char *in, size_t len, ts_point *out, size_t cap, size_t *n, err *e)
{
    size_t count;
    if (ts_decode_count(in, len, &count, e) != 0)
        return -1;
    if (count > cap)
        return err_set(e, ERR_INTERNAL, "a stored metric chunk holds more points than announced");
    const unsigned char *p = in + 1, *end = in + len;
    uint64_t skip;
    p = get_varint(p, end, &skip);
    uint64_t ps = 0, pt = 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t d;
        if (!(p = get_varint(p, end, &d)))
            goto corrupt;
        ps += (uint64_t)unzigzag(d);
        if (end - p < 8)
            goto corrupt;
        uint64_t bits = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        memcpy(&bits, p, 8);
#else
        for (int k = 0; k < 8; k++)
            bits |= (uint64_t)p[k] << (8 * k);
#endif
        p += 8;
        if (!(p = get_varint(p, end, &d)))
            goto corrupt;
        pt += (uint64_t)unzigzag(d);
        out[i].step = (int64_t)ps;
        memcpy(&out[i].value, &bits, 8);
        out[i].time = (int64_t)pt;
    }
    if (p != end)
        goto corrupt;
    *n = count;
    return 0;
corrupt:
    return err_set(e, ERR_INTERNAL, "a stored metric chunk is corrupt (truncated points)");
}

/* --- ordering ------------------------------------------------------------ */

int ts_is_strictly_sorted(const ts_point *p, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (p[i].step <= p[i - 1].step)
            return 0;
    return 1;
}

static int is_sorted(const ts_point *p, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (p[i].step < p[i - 1].step)
            return 0;
    return 1;
}

/* Bottom-up merge sort, stable. */
static void merge_sort(ts_point *a, ts_point *tmp, size_t n)
{
    ts_point *src = a, *dst = tmp;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = src[j].step < src[i].step ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        ts_point *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

int ts_sort(ts_point *p, size_t n, ts_point *tmp)
{
    if (is_sorted(p, n))
        return 0;
    ts_point *own = NULL;
    if (!tmp && !(tmp = own = malloc(n * sizeof *tmp)))
        return -1;
    merge_sort(p, tmp, n);
    free(own);
    return 0;
}

long ts_sort_dedupe(ts_point *p, size_t n, ts_point *tmp)
{
    if (ts_is_strictly_sorted(p, n))
        return (long)n;
    if (ts_sort(p, n, tmp) != 0)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && p[k - 1].step == p[i].step)
            p[k - 1] = p[i]; /* the later one wins */
        else
            p[k++] = p[i];
    }
    return (long)k;
}

/* --- downsampling --------------------------------------------------------- */

size_t ts_minmax(const ts_point *in, size_t n, size_t max_out, ts_point *out)
{
    if (n <= max_out || max_out < 4) {
        size_t k = n <= max_out ? n : max_out;
        if (k == n) {
            memcpy(out, in, n * sizeof *out);
            return n;
        }
        /* too little room for buckets: first and last */
        out[0] = in[0];
        if (k > 1)
            out[1] = in[n - 1];
        return k;
    }
    /* first point, (max_out - 2) / 2 buckets of min + max, last point */
    size_t nb = (max_out - 2) / 2, k = 0;
    out[k++] = in[0];
    size_t inner = n - 2; /* points 1 .. n-2 go into buckets */
    for (size_t b = 0; b < nb; b++) {
        size_t lo = 1 + b * inner / nb, hi = 1 + (b + 1) * inner / nb;
        if (lo >= hi)
            continue;
        size_t imin = lo, imax = lo;
        for (size_t i = lo + 1; i < hi; i++) {
            if (in[i].value < in[imin].value)
                imin = i;
            if (in[i].value > in[imax].value)
                imax = i;
        }
        if (imin == imax) {
            out[k++] = in[imin];
        } else if (imin < imax) {
            out[k++] = in[imin];
            out[k++] = in[imax];
        } else {
            out[k++] = in[imax];
            out[k++] = in[imin];
        }
    }
    out[k++] = in[n - 1];
    return k;
}

size_t ts_lttb(const ts_point *in, size_t n, size_t max_out, ts_point *out)
{
    if (n <= max_out || max_out < 3) {
        size_t k = n <= max_out ? n : max_out;
        if (k == n) {
            memcpy(out, in, n * sizeof *out);
            return n;
        }
        out[0] = in[0];
        if (k > 1)
            out[1] = in[n - 1];
        return k;
    }
    /* Buckets over points 1 .. n-2; the first and last points are kept.
     * For each bucket choose the point forming the largest triangle with
     * the point chosen in the previous bucket and the average of the next
     * bucket. */
    double every = (double)(n - 2) / (double)(max_out - 2);
    size_t a = 0, k = 0;
    out[k++] = in[0];
    for (size_t b = 0; b < max_out - 2; b++) {
        size_t lo = (size_t)floor((double)b * every) + 1;
        size_t hi = (size_t)floor((double)(b + 1) * every) + 1;
        if (hi > n - 1)
            hi = n - 1;
        size_t nlo = hi, nhi = (size_t)floor((double)(b + 2) * every) + 1;
        if (nhi > n)
            nhi = n;
        if (nlo >= nhi) { /* last bucket: the next "bucket" is the last point */
            nlo = n - 1;
            nhi = n;
        }
        double ax = 0, ay = 0;
        for (size_t i = nlo; i < nhi; i++) {
            ax += (double)in[i].step;
            ay += in[i].value;
        }
        ax /= (double)(nhi - nlo);
        ay /= (double)(nhi - nlo);
        double px = (double)in[a].step, py = in[a].value;
        double best = -1;
        size_t pick = lo;
        for (size_t i = lo; i < hi; i++) {
            double area = fabs((px - ax) * (in[i].value - py) - (px - (double)in[i].step) * (ay - py));
            if (area > best) {
                best = area;
                pick = i;
            }
        }
        if (lo < hi) {
            out[k++] = in[pick];
            a = pick;
        }
    }
    out[k++] = in[n - 1];
    return k;
}

size_t ts_bucket_of(int64_t step, int64_t lo, int64_t hi, size_t nb)
{
    if (hi <= lo || nb <= 1)
        return 0;
    unsigned __int128 range = (unsigned __int128)((uint64_t)hi - (uint64_t)lo) + 1;
    unsigned __int128 off = (uint64_t)step - (uint64_t)lo;
    size_t b = (size_t)(off * nb / range);
    return b < nb ? b : nb - 1;
}

int64_t ts_bucket_start(int64_t lo, int64_t hi, size_t nb, size_t i)
{
    if (hi <= lo || nb <= 1)
        return lo;
    unsigned __int128 range = (unsigned __int128)((uint64_t)hi - (uint64_t)lo) + 1;
    unsigned __int128 x = (i * range + nb - 1) / nb; /* ceil(i * range / nb) */
    return (int64_t)((uint64_t)lo + (uint64_t)x);
}

void ts_buckets(const ts_point *in, size_t n, int64_t lo, int64_t hi, size_t nb, ts_bucket *out)
{
    for (size_t i = 0; i < n; i++) {
        if (in[i].step < lo || in[i].step > hi)
            continue;
        ts_bucket *b = &out[ts_bucket_of(in[i].step, lo, hi, nb)];
        double v = in[i].value;
        if (b->count == 0) {
            b->min = b->max = v;
        } else {
            if (v < b->min)
                b->min = v;
            if (v > b->max)
                b->max = v;
        }
        b->count++;
        b->sum += v;
        if (b->count == 1 || in[i].step >= b->last_step) {
            b->last = v;
            b->last_step = in[i].step;
        }
    }
}
