/*
 * drift.h - drift of a deployment's production images against its training
 * dataset version, and an outlier score per image.
 *
 *   reference  built once per (deployment, dataset version, champion) and
 *              stored (drift_reference): for up to DRIFT_REF_MAX images of
 *              the training version (the assets tagged train, else all),
 *              their features (brightness, contrast, sharpness, width,
 *              height, aspect), class labels, and the champion's embedding
 *              (a classifier: the input of its last linear layer; a
 *              detector: its neck's deepest output, averaged), with
 *              each image's distance to its k nearest other images.
 *   statistics two-sample Kolmogorov-Smirnov D (and its asymptotic p-value)
 *              per feature between the reference and the predictions of a
 *              time window, and over the label distribution (reference
 *              classes vs predicted top labels, in the model's label order),
 *              with the frequencies per label.
 *   outliers   a prediction whose image was stored gets the distance of its
 *              embedding to its k nearest reference images, as a percentile
 *              of the reference's own k-NN distances; at or above the
 *              outlier percentile (99) it is flagged an outlier. Every
 *              prediction is flagged out_of_range when one of its features
 *              lies outside the reference's range. Scores are stored
 *              (prediction_drift), so the prediction list can filter on them
 *              (?outlier=1, ?out_of_range=1) and alerts can watch the rate.
 */
#ifndef CVOPS_DEPLOY_DRIFT_H
#define CVOPS_DEPLOY_DRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/blob.h"
#include "store/db.h"

#define DRIFT_REF_MAX 1000      /* reference images */
#define DRIFT_WINDOW_MAX 20000  /* predictions compared per request */
#define DRIFT_SCORE_MAX 2000    /* new outlier scores computed per request */
#define DRIFT_K 5               /* nearest neighbours */
#define DRIFT_OUTLIER_PCT 99    /* the default outlier percentile */

/* Two-sample Kolmogorov-Smirnov statistic: the largest distance between
 * the empirical distribution functions of a and b (sorted in place).
 * 0 when either is empty. */
double drift_ks(double *a, size_t na, double *b, size_t nb);
/* Its asymptotic p-value (Stephens' correction of the Kolmogorov
 * distribution); 1 when D is 0 or a sample is empty. */
double drift_ks_pvalue(double d, size_t na, size_t nb);
/* Share (0..100) of the sorted values that are below v. */
double drift_percentile(const double *sorted, size_t n, double v);

typedef struct drift_query {
    int64_t from, to;       /* ms; 0 = open */
    int64_t limit;          /* newest predictions of the window (5000) */
    int64_t version;        /* the reference dataset version (0: the champion's training set) */
    double outlier_pct;     /* flag at or above this percentile (99) */
} drift_query;

int deploy_drift(db_conn *c, blob_store *bs, const char *spool, int64_t org, int64_t deployment,
                 const drift_query *q, jw *w, err *e);

/* Scores at arrival. A prediction is scored (outlier percentile and
 * out_of_range, stored in prediction_drift with the default percentile) by
 * the deployment's background thread soon after it is recorded, against the
 * newest reference built for the champion (GET .../drift builds one), so
 * outlier_rate alerts see new traffic without waiting for a report. When
 * the thread is busy, predictions go unscored; the drift report scores
 * those whose image was stored.
 *
 * deploy_drift_live_wanted: false when the deployment was found without a
 * reference in the last 10 s and no drift report of this process has made
 * one since (the request need not copy its image). */
bool deploy_drift_live_wanted(int64_t deployment);
struct deploy_features;
int deploy_drift_score_arrival(db_conn *c, blob_store *bs, const char *spool, int64_t org,
                               int64_t deployment, int64_t prediction, const void *bytes, size_t n,
                               const struct deploy_features *f, err *e);
/* The alert metric feature_drift: the largest Kolmogorov-Smirnov D over the
 * image features between the deployment's newest reference and its
 * predictions of [from, to) (the newest DRIFT_WINDOW_MAX). *any is false
 * when there is no reference yet or no prediction in the window. */
int deploy_drift_feature_ks(db_conn *c, int64_t deployment, int64_t from, int64_t to,
                            double *out, bool *any, err *e);
/* Frees the background thread's cache (the server stops). */
void deploy_drift_live_clear(void);

extern const char deploy_schema_v53[];

#endif
