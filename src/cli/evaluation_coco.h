/*
 * evaluation_coco.h - a COCO results array ([{"image_id", "category_id",
 * "score", "bbox" | "segmentation" | "keypoints"}]) turned into the items of
 * POST /api/v1/evaluations/{id}/predictions, in memory. `cvops evaluation
 * predictions --coco` streams the file instead (evaluation_stream.h) and
 * must give the same items: this is the reference its tests, its fuzz
 * target and bench/evaluation_upload.c compare with. Pure JSON work (no
 * network): the fuzz target fuzz/fuzz_evaluation_coco.c and
 * tests/unit/test_evaluation_coco.c call it.
 */
#ifndef CVOPS_CLI_EVALUATION_COCO_H
#define CVOPS_CLI_EVALUATION_COCO_H

#include <jansson.h>
#include <stddef.h>

/* Groups the results by image_id into [{"asset_id", "shapes": [...]}], in
 * first-seen order, each result becoming a shape: "keypoints" -> keypoints,
 * a "segmentation" array -> polygon (its rings), an object -> mask (RLE),
 * else "bbox" -> box; "category_id" becomes "label_id". Geometry is passed on
 * as is (the server checks it). NULL with a message naming the result
 * ("results[3]: ...") in why when results is not an array or a result lacks
 * an integer image_id / category_id, a numeric score, or any geometry.
 * Consumes results: each result converted is replaced by null (what it
 * shares with its shape stays), which keeps the peak memory of a large file
 * down. */
json_t *evaluation_coco_items(json_t *results, char *why, size_t wn);

#endif
