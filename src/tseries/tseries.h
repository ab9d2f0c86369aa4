/*
 * tseries.h - metric time series: the compact chunk encoding they are
 * stored in, ordering, and the downsampling used to draw them.
 *
 * An engine: no HTTP, no database. The experiment module stores a series as
 * chunks of up to TS_CHUNK_MAX points; each chunk is one row holding the
 * points encoded by ts_encode(). Reading a series decodes the chunks it
 * needs, orders them (ts_sort_dedupe) and, for display, reduces them:
 *
 *   ts_minmax   per bucket of consecutive points, the lowest and the highest
 *               value (in step order), plus the first and the last point of
 *               the range. Extremes are never lost: a loss spike stays
 *               visible however far one zooms out.
 *   ts_lttb     Largest-Triangle-Three-Buckets (Steinarsson 2013): keeps the
 *               points that preserve the visual shape of the line.
 *   ts_buckets  statistics per bucket of equal step width over a fixed step
 *               range, so that several experiments' series line up bucket
 *               by bucket (comparison view).
 *
 * Chunk encoding (version 1): a version byte, the point count as a varint,
 * then per point the step delta (zigzag varint), the value (8 bytes, IEEE
 * 754 little-endian) and the time delta in ms (zigzag varint). Steps that
 * go up by one and points logged a few ms apart cost 11 bytes a point.
 */
#ifndef CVOPS_TSERIES_TSERIES_H
#define CVOPS_TSERIES_TSERIES_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct ts_point {
    int64_t step;
    double value;
    int64_t time; /* ms since the epoch */
} ts_point;

/* Points per stored chunk. */
#define TS_CHUNK_MAX 1024

/* --- encoding ------------------------------------------------------------ */

/* Bytes ts_encode may write for n points. */
size_t ts_encode_bound(size_t n);
/* Encodes n points into out (ts_encode_bound(n) bytes); returns the length. */
size_t ts_encode(const ts_point *p, size_t n, unsigned char *out);
/* Number of points in an encoded chunk, or -1 (ERR_INTERNAL: corrupt). */
int ts_decode_count(const unsigned char *in, size_t len, size_t *n, err *e);
/* Decodes a chunk, appending its points at out (room for at least
 * ts_decode_count points). Corrupt input is an error, never a crash. */
int ts_decode(const unsigned char *in, size_t len, ts_point *out, size_t cap, size_t *n, err *e);

/* --- ordering ------------------------------------------------------------ */

/* True if steps strictly increase (sorted, no step twice). */
int ts_is_strictly_sorted(const ts_point *p, size_t n);
/* Stable sort by step, then keeps only the last point of each step (the
 * one logged last, given points in the order they were logged). Returns
 * the new count. tmp: scratch room for n points (NULL: allocated). -1 when
 * out of memory. */
long ts_sort_dedupe(ts_point *p, size_t n, ts_point *tmp);
/* Stable sort by step only (duplicates kept). 0, or -1 out of memory. */
int ts_sort(ts_point *p, size_t n, ts_point *tmp);

/* --- downsampling --------------------------------------------------------- */

/* Both write at most max_out points (max_out >= 2 unless n is smaller) into
 * out and return how many; the input must be sorted by step. When
 * n <= max_out the points are copied unchanged. */
size_t ts_minmax(const ts_point *in, size_t n, size_t max_out, ts_point *out);
size_t ts_lttb(const ts_point *in, size_t n, size_t max_out, ts_point *out);

typedef struct ts_bucket {
    int64_t count;
    double min, max, sum, last; /* last: value of the highest step */
    int64_t last_step;
} ts_bucket;

/* Bucket of a step in [lo, hi] split into nb buckets of equal width. */
size_t ts_bucket_of(int64_t step, int64_t lo, int64_t hi, size_t nb);
/* Accumulates sorted points into nb buckets over [lo, hi] (zeroed by the
 * caller); points outside the range are ignored. */
void ts_buckets(const ts_point *in, size_t n, int64_t lo, int64_t hi, size_t nb, ts_bucket *out);
/* First step covered by bucket i. */
int64_t ts_bucket_start(int64_t lo, int64_t hi, size_t nb, size_t i);

#endif
