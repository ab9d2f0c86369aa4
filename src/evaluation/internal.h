/*
 * internal.h - what the files of src/evaluation/ share: the evaluation row,
 * the match record stored per image, and small helpers. Not for use outside
 * src/evaluation/.
 *
 * Predictions reuse the datasets module's shape code (dataset/internal.h):
 * the same JSON reading, checks with the same messages, the same compact
 * storage and the same JSON writing, so a prediction and an annotation of
 * the same geometry are stored and shown alike.
 */
#ifndef CVOPS_EVALUATION_INTERNAL_H
#define CVOPS_EVALUATION_INTERNAL_H

#include "dataset/internal.h"
#include "evaluation/evaluation.h"

typedef struct ev_row {
    int64_t id, org, experiment, version, job;
    char name[EVAL_NAME_MAX + 1];
    char task[16];   /* detection, segmentation, keypoints, classification */
    char iou_type[16]; /* bbox, segm, keypoints, "" for classification */
    char status[16];
    char prefix[EVAL_PREFIX_MAX + 1];
    bool evaluated;
} ev_row;

/* Loads an evaluation of org (ERR_NOT_FOUND otherwise). */
int ev_get(db_conn *c, int64_t org, int64_t id, ev_row *r, err *e);
/* ERR_CONFLICT while a run is queued or running (its job still live). */
int ev_idle(db_conn *c, const ev_row *r, err *e);
bool ev_is_cls(const ev_row *r);

/* One stored match row of an image (little-endian, EV_MATCH_SIZE bytes):
 *   int64 prediction id (-1: none), int64 ground-truth shape id (-1: none),
 *   float64 IoU, float32 score, uint8 kind, uint8 error, 2 bytes zero. */
enum { EV_TP = 0, EV_FP, EV_IGNORED, EV_FN, EV_GT }; /* EV_GT: a ground truth used, not a FN */
#define EV_MATCH_SIZE 32
typedef struct ev_match {
    int64_t pred, gt;
    double iou;
    float score;
    uint8_t kind, error;
} ev_match;
void ev_match_put(unsigned char *p, const ev_match *m);
void ev_match_get(const unsigned char *p, ev_match *m);
const char *ev_kind_name(int kind);

#endif
