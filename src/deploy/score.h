/*
 * score.h - single-label classification scores from (truth, prediction)
 * pairs: accuracy, and per class true/false positives and false negatives
 * for precision, recall and macro F1. Used by continuous deployment (two
 * models on the same test images) and by the supervised metrics of a
 * deployment (champion and shadow against reviews).
 */
#ifndef CVOPS_DEPLOY_SCORE_H
#define CVOPS_DEPLOY_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#include <jansson.h>

typedef struct deploy_score_class {
    char name[257];
    int64_t tp, fp, fn;
} deploy_score_class;

typedef struct deploy_score {
    deploy_score_class *l; /* owned */
    size_t n, cap;
    int64_t right, total;
} deploy_score; /* zero-initialised is empty */

void deploy_score_add(deploy_score *s, const char *truth, const char *pred);
/* "accuracy", "macro_f1", "macro_precision" or "macro_recall" (macro
 * averages over the classes that have a true example); NAN when empty. */
double deploy_score_value(const deploy_score *s, const char *metric);
/* {"n", "accuracy", "macro_precision", "macro_recall", "macro_f1",
 *  "per_class": [{"label", "support", "precision", "recall"}]} */
void deploy_score_write(const deploy_score *s, jw *w);
void deploy_score_free(deploy_score *s);

/* --- detectors -------------------------------------------------------------------
 * Boxes of a model against reviewed boxes, through the COCO evaluation
 * engine (src/eval): per image (one reviewed prediction), the review's
 * boxes are the ground truth and the model's boxes (x, y, w, h, label,
 * score) the detections. Gives mAP@0.5, mAP@0.5:0.95, and precision and
 * recall at IoU 0.5 from the engine's same-category matching (every
 * detection counts: the deployment's min_score already filtered them). */
typedef struct deploy_det_score deploy_det_score;

deploy_det_score *deploy_det_score_new(void); /* NULL when out of memory */
/* Adds one image: truth and pred are JSON arrays of boxes (either may be
 * NULL or empty: an image with no object, or a model that found none). */
int deploy_det_score_add(deploy_det_score *s, const json_t *truth, const json_t *pred,
                         err *e);
/* Runs the evaluation and writes {"images", "ground_truths", "detections",
 * "tp", "fp", "fn", "precision", "recall", "map_50", "map_50_95",
 * "per_class": [{"label", "support", "detections", "ap_50", "ap"}]}
 * (null where undefined: no image, no ground truth). */
int deploy_det_score_write(deploy_det_score *s, jw *w, err *e);
void deploy_det_score_free(deploy_det_score *s);

#endif
