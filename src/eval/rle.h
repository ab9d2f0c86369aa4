/*
 * rle.h - run-length encoded binary masks, COCO style.
 *
 * A mask of h rows and w columns is read in column-major order (down the
 * first column, then the second, ...) and stored as the lengths of its
 * alternating runs, starting with a run of zeros (which may be empty):
 * counts [3, 2, 5] on a 2x5 mask means 3 background pixels, 2 foreground,
 * 5 background. The counts of a valid rle add up to h*w.
 *
 * Semantics follow the COCO mask API (maskApi.c, written again here from
 * its definition, not copied):
 *
 *   - the compressed string form codes each count as 5-bit groups in
 *     characters '0'..'o' (48 + 6 bits, bit 5 = "more follows", bit 4 of
 *     the last group = sign); from the fourth count on (index > 2) a count
 *     is stored as the difference to the count two places before;
 *   - polygons are rasterised the reference way: coordinates are upsampled
 *     5x and rounded as (int)(5x + 0.5) (C truncation, so negative values
 *     round towards zero), each edge is walked with a DDA, the points where
 *     the walk changes column and lands on a pixel centre give the start of
 *     a foreground run in that column, and the sorted boundaries become the
 *     counts. A pixel is inside when its centre is.
 *   - the bounding box of an rle is built from the first and last pixel of
 *     each foreground run (a run spanning two columns covers the full height).
 *   - IoU of two masks: 0 unless their boxes overlap; -1 when their sizes
 *     differ; for a crowd ground truth the union is the detection's area
 *     alone. The boxes only skip work (a pair whose boxes do not overlap has
 *     no common pixel), so any box containing the foreground gives the same
 *     IoU; only whether a size mismatch reads -1 or 0 depends on them.
 *
 * Ownership: an rle owns its counts (malloc); rle_free() releases them and
 * leaves an empty rle. Functions that produce an rle overwrite *out without
 * freeing it first. Limits: h and w at most RLE_MAX_SIDE, h*w at most
 * RLE_MAX_PIXELS (counts are 32-bit), polygon coordinates within
 * +-RLE_MAX_COORD.
 */
#ifndef CVOPS_EVAL_RLE_H
#define CVOPS_EVAL_RLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define RLE_MAX_SIDE (1u << 20)
#define RLE_MAX_PIXELS 0xFFFFFFFFull
#define RLE_MAX_COORD 1e6

typedef struct rle {
    uint32_t h, w;
    size_t m;       /* number of counts */
    uint32_t *cnts; /* owned */
} rle;

#define RLE_INIT                                                                                   \
    {                                                                                              \
        0, 0, 0, NULL                                                                              \
    }

void rle_free(rle *r);

/* From a column-major mask of h*w bytes (nonzero = foreground). */
int rle_from_mask(rle *out, const uint8_t *mask, uint32_t h, uint32_t w, err *e);
/* Writes h*w bytes (0/1) in column-major order. */
void rle_to_mask(const rle *r, uint8_t *mask);
/* Copies counts, checking they add up to h*w ("uncompressed RLE"). */
int rle_from_counts(rle *out, const uint32_t *cnts, size_t m, uint32_t h, uint32_t w, err *e);
/* Decodes the compressed string form (n bytes, no NUL needed). */
int rle_from_string(rle *out, const char *s, size_t n, uint32_t h, uint32_t w, err *e);
/* Checks a compressed string as rle_from_string would, without keeping it. */
int rle_check_string(const char *s, size_t n, uint32_t h, uint32_t w, err *e);
/* The foreground area of a compressed string, without building the mask. */
int rle_string_area(const char *s, size_t n, uint32_t h, uint32_t w, uint64_t *area, err *e);
/* Appends the compressed string form to out (no NUL counted in out->len). */
void rle_to_string(const rle *r, sbuf *out);
/* Rasterises a polygon of k points (xy has 2k numbers). */
int rle_from_poly(rle *out, const double *xy, size_t k, uint32_t h, uint32_t w, err *e);
/* A box [x, y, width, height] as the polygon of its four corners. */
int rle_from_bbox(rle *out, const double bb[4], uint32_t h, uint32_t w, err *e);
/* Union (or intersection) of n masks of the same size; a size mismatch is
 * an error. n == 0 gives an empty 0x0 rle. */
int rle_merge(const rle *rs, size_t n, bool intersect, rle *out, err *e);

uint64_t rle_area(const rle *r);
void rle_to_bbox(const rle *r, double bb[4]);
/* A box that contains every foreground pixel, in O(1): the columns of the
 * first and last foreground pixel, full height. Good enough for rle_iou's
 * overlap test (which only skips pairs that cannot overlap). */
void rle_to_cover(const rle *r, double bb[4]);
/* IoU of a detection mask with a ground-truth mask (see the top comment). */
double rle_iou(const rle *dt, const double dt_bb[4], const rle *gt, const double gt_bb[4],
               bool gt_crowd);
/* Box IoU, boxes as [x, y, width, height]; crowd: union = detection area. */
double rle_bbox_iou(const double dt[4], const double gt[4], bool gt_crowd);

#endif
