/*
 * coco_io.h - reading COCO ground-truth and results files into an
 * eval_coco handle, streaming (yajl): no document tree is built, memory is
 * what the handle keeps plus one annotation being parsed.
 *
 * Ground truth: the usual COCO object with "images" (id, width, height),
 * "categories" (id, name, optional "sigmas" for keypoints) and
 * "annotations" (id, image_id, category_id, bbox, area, iscrowd,
 * segmentation as polygons / RLE with list or string counts, keypoints,
 * num_keypoints). Sections may come in any order; unknown keys are skipped.
 * Missing area, iscrowd or num_keypoints are derived (area from the mask or
 * box, iscrowd 0, num_keypoints = labelled keypoints) where the reference
 * would fail.
 *
 * Results: a JSON array of {image_id, category_id, score, and bbox |
 * segmentation | keypoints}. As in the reference, any "id", "area" or
 * "iscrowd" in a result is ignored, and the first result decides the kind:
 * with a bbox the area is its w*h, else the mask area, else the keypoints'
 * extent; every result must have a bbox if and only if the first has one.
 *
 * Errors name the place: "results[17].bbox: expected 4 numbers, got 3",
 * "annotations[3].segmentation.counts: counts string is truncated...",
 * "invalid JSON at byte 1234 (results[17].score): ...". Limits: nesting
 * depth EVAL_IO_MAX_DEPTH, strings EVAL_IO_MAX_STRING bytes.
 */
#ifndef CVOPS_EVAL_COCO_IO_H
#define CVOPS_EVAL_COCO_IO_H

#include <stddef.h>

#include "base/err.h"
#include "eval/eval.h"

#define EVAL_IO_MAX_DEPTH 32
#define EVAL_IO_MAX_STRING (64u << 20)

int eval_coco_load_gt_file(eval_coco *ev, const char *path, err *e);
int eval_coco_load_dt_file(eval_coco *ev, const char *path, err *e);
int eval_coco_load_gt_mem(eval_coco *ev, const char *buf, size_t n, err *e);
int eval_coco_load_dt_mem(eval_coco *ev, const char *buf, size_t n, err *e);

/* Number parsing shared with the classification reader: a JSON number
 * token (no leading '+', no NaN) to a double; exact (correctly rounded). */
int eval_parse_double(const char *s, size_t n, double *out);
/* A JSON integer token to int64; -1 when it has a fraction/exponent or
 * does not fit. */
int eval_parse_int64(const char *s, size_t n, int64_t *out);

#endif
