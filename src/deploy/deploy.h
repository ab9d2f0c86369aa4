/*
 * deploy.h - deployments: a model version in production, the predictions it
 * makes (or that are made elsewhere and reported to it), their monitoring
 * rollups, alerts, and the review of predictions.
 *
 *   deployment   name, mode (serve: cvops runs the champion model behind
 *                POST .../predict; monitor: predictions made elsewhere are
 *                reported to POST .../predictions), champion and optional
 *                shadow model versions, the datalake incoming images go to,
 *                a sampling rate for storing images, a minimum score
 *   prediction   one image seen in production: its SHA-256 (the same image
 *                twice is refused in monitor mode), the datalake item when
 *                it was sampled for storage, the champion's output (classes
 *                and boxes with scores), the shadow's output, latency, time,
 *                source, image features for drift (brightness, contrast,
 *                sharpness, width, height), and the review state
 *                (to_review -> reviewed -> submitted) with the corrected
 *                labels
 *   rollup       per deployment and minute / hour / day: count, errors,
 *                latency histogram (for p50/p95/p99), label counts, score
 *                histogram, objects per image, champion/shadow agreement;
 *                maintained as predictions arrive, so dashboards never scan
 *                predictions
 *   alert        a threshold on a metric over a window; fires the webhook
 *                event alert.fired once and stays "firing" until it clears
 *
 * Outputs are {"classes": [{"label", "score"}], "boxes": [{"x", "y", "w",
 * "h", "label", "score"}]} with boxes in pixels of the original image.
 */
#ifndef CVOPS_DEPLOY_DEPLOY_H
#define CVOPS_DEPLOY_DEPLOY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/db.h"

#define DEPLOY_OUTPUT_MAX (1 << 20) /* bytes of one prediction's JSON */
#define DEPLOY_BOXES_MAX 10000
#define DEPLOY_CLASSES_MAX 10000

int deploy_create(db_conn *c, int64_t org, int64_t user, json_t *body, int64_t *id, err *e);
int deploy_update(db_conn *c, int64_t org, int64_t id, json_t *body, int64_t *old_champion,
                  int64_t *new_champion, err *e);
int deploy_delete(db_conn *c, int64_t org, int64_t id, err *e);
int deploy_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
int deploy_list(db_conn *c, int64_t org, jw *w, err *e);

/* What a deployment needs to take a prediction. */
typedef struct deploy_info {
    int64_t id, org, datalake_id, champion, shadow;
    char mode[16];
    double sample_rate, min_score;
} deploy_info;
int deploy_get_info(db_conn *c, int64_t org, int64_t id, deploy_info *out, err *e);

/* Checks an output document ({classes, boxes}); normalises it into out
 * (compact JSON text, malloc'd), with boxes under min_score dropped. Also
 * gives the top label (or NULL) and the number of objects. */
int deploy_output_check(json_t *output, double min_score, char **out, char *top_label,
                        size_t top_size, int *objects, double *top_score, err *e);

/* Image features used for drift, computed from gray pixels. */
typedef struct deploy_features {
    double brightness, contrast, sharpness; /* mean, stddev, mean |laplacian| of 0..255 gray */
    int width, height;
} deploy_features;
int deploy_features_of(const void *image, size_t n, deploy_features *f, err *e);

typedef struct deploy_prediction {
    const char *sha;            /* of the image bytes */
    int64_t data_id;            /* 0 when the image was not stored */
    const char *output;         /* checked JSON text */
    const char *shadow_output;  /* or NULL */
    double latency_ms;
    int64_t at_ms;
    const char *source;
    const deploy_features *features;
    const char *top_label;
    double top_score;
    int objects;
    bool error;                 /* the model failed on this image */
} deploy_prediction;

/* Stores a prediction and updates the rollups, in one transaction. A
 * second prediction for the same image of a monitor deployment is
 * ERR_CONFLICT. */
int deploy_record(db_conn *c, const deploy_info *d, const deploy_prediction *p, int64_t *id,
                  err *e);
/* Adds the shadow's output to a prediction afterwards (serve mode). */
int deploy_record_shadow(db_conn *c, int64_t prediction, const char *shadow_output,
                         const char *top_label, err *e);

/* Dashboard series from the rollups: resolution minute|hour|day, [from, to). */
int deploy_metrics(db_conn *c, int64_t org, int64_t id, const char *resolution, int64_t from,
                   int64_t to, jw *w, err *e);
/* Predictions, newest first, filtered; keyset on id. */
typedef struct deploy_pred_query {
    const char *q; /* the query language (docs/query.md) over deploy_pred_schema; may be NULL */
    const char *status, *label;
    double min_score, max_score;
    int64_t from, to; /* ms, 0 = open */
    int64_t limit, before_id;
    int outlier, out_of_range; /* drift flags (drift.h): 1, 0, or -1 for either */
} deploy_pred_query;
int deploy_predictions(db_conn *c, int64_t org, int64_t id, const deploy_pred_query *q, jw *w,
                       err *e);
/* The fields of the query language over predictions (status, label, score,
 * created, latency, source, tag, meta, outlier, out_of_range, shadow,
 * agree...), in the SQL of SQLite or PostgreSQL. */
struct query_schema;
const struct query_schema *deploy_pred_schema(bool postgres);
/* Autocomplete of a predictions query at byte offset cursor (the answer of
 * query_complete_json_*, with status, label, source and tag values). */
int deploy_pred_autocomplete(db_conn *c, int64_t org, int64_t id, const char *q, size_t cursor,
                             jw *w, err *e);
int deploy_prediction_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
/* Review: the corrected output ({classes, boxes}); status to reviewed. */
int deploy_review(db_conn *c, int64_t org, int64_t user, int64_t prediction, json_t *review,
                  err *e);
/* Submits reviewed predictions (ids, or all reviewed of the deployment). */
int deploy_submit(db_conn *c, int64_t org, int64_t deployment, json_t *ids, int64_t *n, err *e);

/* Alerts */
int deploy_alert_create(db_conn *c, int64_t org, int64_t deployment, json_t *body, int64_t *id,
                        err *e);
int deploy_alerts(db_conn *c, int64_t org, int64_t deployment, jw *w, err *e);
/* Evaluates a deployment's alert rules on its minute rollups; fills `fired`
 * with alert ids that just started firing (their events are emitted by the
 * caller). */
int deploy_alerts_check(db_conn *c, int64_t org, int64_t deployment, int64_t now_ms,
                        int64_t *fired, int *nfired, int max, err *e);

/* Serve mode (predict_api.c): stops the thread that runs shadow models and
 * drift scores after the answers (what is still queued is dropped). */
void deploy_serve_stop(void);
/* Monitor mode: hands a recorded prediction's image to that thread for its
 * drift scores at arrival (deploy/drift.h); copies the image, or does
 * nothing when the deployment has no reference or the thread is busy. */
struct app;
void deploy_score_later(struct app *a, int64_t org, int64_t deployment, int64_t prediction,
                        const void *image, size_t n, const deploy_features *f);

extern const char deploy_schema_v51[];

#endif
