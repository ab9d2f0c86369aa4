/*
 * evaluation.h - the evaluation platform: predictions of an experiment on a
 * dataset version's assets, scored against the version's annotations by the
 * evaluation engine (src/eval/), with results stored for browsing.
 *
 * The model
 *   evaluation   belongs to an experiment; names a dataset version and a
 *                task (detection -> bbox, segmentation -> segm, keypoints,
 *                classification); a status (created, queued, running,
 *                succeeded, failed), the last job, the summary of the last
 *                successful run and the parameters it ran with
 *   prediction   a shape on an asset of the version, stored in the datasets
 *                module's geometry encoding (box/enclosing box as columns,
 *                points and ring sizes / RLE as blobs) with its score
 *   results      written by one run, all in one transaction, replacing the
 *                previous run's:
 *                  class  per label: AP/AR numbers, and the precision at
 *                         the 101 recall points at IoU 0.5 and averaged over
 *                         0.5:0.95 (area all, maxDets 100), with the score
 *                         at each point (IoU 0.5)
 *                  image  per asset: TP/FP/FN counts at iou_thr/score_thr,
 *                         min/mean IoU of its true positives, the highest
 *                         false-positive score, its worst error type, and
 *                         its match rows (for drawing) as a blob
 *                  cell   per confusion-matrix cell: the count and up to
 *                         EVAL_CELL_ASSETS_MAX assets with their counts
 *                and the summary numbers logged as metrics of the
 *                experiment (eval/mAP, eval/mAP50, ...; step = evaluation id)
 *
 * A failed run changes no result: the previous results stay, the status
 * says failed with the error. Uploads are all or nothing per request.
 *
 * Functions take the caller's organization and answer ERR_NOT_FOUND for
 * another organization's ids. JSON is written with the jw writer.
 */
#ifndef CVOPS_EVALUATION_EVALUATION_H
#define CVOPS_EVALUATION_EVALUATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "jobs/jobs.h"
#include "store/db.h"

#define EVAL_NAME_MAX 128
#define EVAL_DESC_MAX 4000
#define EVAL_PRED_ITEMS_MAX 20000   /* assets per upload request */
#define EVAL_PRED_SHAPES_MAX 100000 /* predictions per upload request */
#define EVAL_CELL_ASSETS_MAX 1000   /* assets kept per confusion cell */
#define EVAL_PAGE_MAX 1000          /* items per page of a listing */
#define EVAL_PREFIX_MAX 64          /* metric name prefix */

/* --- evaluations ------------------------------------------------------------------- */

/* body: {"name", "description", "dataset_version_id", "task", "metric_prefix"};
 * task defaults to the version's (detection when the version is "multi"). */
int evaluation_create(db_conn *c, int64_t org, int64_t experiment, json_t *body, int64_t user,
                      int64_t *id, err *e);
/* The evaluation with its status, counts, parameters and summary. */
int evaluation_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
/* The experiment's evaluations, newest first: {"items": [...]}. */
int evaluation_list(db_conn *c, int64_t org, int64_t experiment, jw *w, err *e);
/* Refused (ERR_CONFLICT) while a run is queued or running. */
int evaluation_delete(db_conn *c, int64_t org, int64_t id, err *e);

/* --- predictions -------------------------------------------------------------------- */

/* doc: {"predictions": [{"asset_id" | "data_id", "shapes": [...]}],
 *       "mode": "replace" (default: the named assets' predictions are
 *       replaced) | "append"}. All or nothing. */
int evaluation_predictions_put(db_conn *c, int64_t org, int64_t id, json_t *doc, int64_t *assets,
                               int64_t *shapes, err *e);
/* Removes every prediction of the evaluation. */
int evaluation_predictions_clear(db_conn *c, int64_t org, int64_t id, int64_t *removed, err *e);

/* --- running ---------------------------------------------------------------------------- */

/* req: {"ground_truth": "non_rejected" (default) | "accepted" | "all",
 *       "split": asset tag, "iou_thr": 0.5, "score_thr": 0.5, "bg_thr": 0.1}.
 * Checks, marks the evaluation queued and submits an evaluation.run job. */
int evaluation_submit(db_conn *c, int64_t org, int64_t id, json_t *req, int64_t user,
                      int64_t *job, err *e);
/* The job (kind "evaluation.run"). */
int evaluation_run(job_ctx *j, db *d, err *e);

/* --- results ------------------------------------------------------------------------------ */

/* {"task", "labels": [{"label", "label_id", metrics..., "recall": [101],
 *  "precision50": [101], "precision": [101], "scores50": [101]}]};
 *  label: only that label (NULL: all). */
int evaluation_pr_write(db_conn *c, int64_t org, int64_t id, const char *label, jw *w, err *e);
/* {"labels": [..., "background"], "matrix": [[...]]} (rows: ground truth). */
int evaluation_confusion_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
/* One cell's assets, by count then asset id: offset pages. */
int evaluation_cell_write(db_conn *c, int64_t org, int64_t id, int row, int col, int64_t limit,
                          int64_t offset, jw *w, err *e);

typedef struct evaluation_image_query {
    int has_fp, has_fn;   /* -1: either; 0: none; 1: at least one */
    double iou_below;     /* NaN: no filter; else min TP IoU < this */
    const char *label;    /* a label name in the ground truth or the predictions */
    double min_score, max_score; /* NaN: open; a prediction scoring within */
    const char *order_by; /* worst (default), fp, fn, iou, asset, errors */
    int64_t limit;
    const char *cursor;
} evaluation_image_query;
/* {"items": [...], "next_cursor"}: keyset pages. */
int evaluation_images_write(db_conn *c, int64_t org, int64_t id, const evaluation_image_query *q,
                            jw *w, err *e);
/* One image: the asset and its image, its counts, the ground truth and the
 * predictions (shapes with ids) and the match rows joining them. */
int evaluation_image_write(db_conn *c, int64_t org, int64_t id, int64_t asset, jw *w, err *e);

extern const char evaluation_schema_v40[];

#endif
