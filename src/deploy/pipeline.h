/*
 * pipeline.h - the loop that closes a deployment: feedback, continuous
 * training (CT) and continuous deployment (CD).
 *
 *   pipeline   one per deployment (PUT .../pipeline): the dataset versions
 *              it trains on by alias ({"train": 5, "test": 6}), the version
 *              submitted reviews go to (feedback_version_id, default the
 *              train one) with the asset tags they get (["train"]), the
 *              project CT experiments go to, their training parameters, the
 *              number of new submitted reviews that starts CT (0: never),
 *              the CD policy (champion | shadow | manual), the metric
 *              (accuracy | macro_f1) and the margin "champion" needs.
 *   feedback   every submitted prediction once (pipeline_feedback): its
 *              image (a datalake item; predictions whose image was not
 *              sampled are skipped with that reason) becomes an asset of
 *              the feedback version with the review as an accepted
 *              annotation (the top class as a class shape, boxes as boxes;
 *              labels the version lacks are created). A locked feedback
 *              version is forked (labels, annotations, tags) and the
 *              pipeline moves to the fork, with the reason recorded.
 *   run        one CT + CD cycle (pipeline_run): training -> published ->
 *              champion | shadow | candidate | waiting, or failed; with the
 *              experiment, its job, the published version, the evaluation
 *              of both models and the reason of the outcome.
 *
 * CT is started by deploy_pipeline_feedback (called after a submit) when
 * the pending reviews reach the threshold, or by hand. The training job's
 * end (app_job_ended) queues the job "deploy.pipeline_cd", which publishes
 * the experiment as a new version of the champion's model and applies the
 * policy. "champion" evaluates the champion and the new version on the
 * same test images (the "test" dataset version of the pipeline, else the
 * train version's assets tagged test, else val) and promotes only when the
 * new one wins by the margin.
 */
#ifndef CVOPS_DEPLOY_PIPELINE_H
#define CVOPS_DEPLOY_PIPELINE_H

#include <jansson.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "jobs/jobs.h"
#include "store/blob.h"
#include "store/db.h"

#define PIPELINE_FEEDBACK_MAX 10000 /* submitted predictions taken per call */
#define PIPELINE_EVAL_MAX 20000     /* test images of a CD comparison */

/* The request body of PUT .../pipeline, checked without the database
 * (types, enums, tags, training parameters); borrowed from body. */
typedef struct deploy_pipeline_body {
    json_t *datasets, *tags, *params;
    int64_t feedback, project, reviews;
    const char *policy, *metric;
    double margin;
} deploy_pipeline_body;
int deploy_pipeline_parse(json_t *body, deploy_pipeline_body *out, err *e);
/* The dataset shapes of a stored review ({classes, boxes}): the top class
 * (highest score; no score counts as 1) as a class shape, every box as a
 * box; the labels used are set in `labels` (an object). New reference. */
json_t *deploy_pipeline_review_shapes(const char *review, json_t *labels);

int deploy_pipeline_set(db_conn *c, int64_t org, int64_t deployment, json_t *body, err *e);
/* Removes the pipeline (runs and feedback records stay). */
int deploy_pipeline_delete(db_conn *c, int64_t org, int64_t deployment, err *e);
int deploy_pipeline_write(db_conn *c, int64_t org, int64_t deployment, jw *w, err *e);
int deploy_pipeline_runs(db_conn *c, int64_t org, int64_t deployment, jw *w, err *e);

/* Supervised metrics of the champion's and the shadow's outputs against the
 * reviews (reviewed and submitted predictions of [from, to)), by top class:
 * accuracy, macro precision / recall / F1, per class. */
int deploy_supervised(db_conn *c, int64_t org, int64_t deployment, int64_t from, int64_t to, jw *w,
                      err *e);

/* Takes the deployment's submitted predictions not yet fed back into the
 * feedback version; starts CT when the threshold is reached (job queued in
 * *ct_job, 0 if none). No pipeline: nothing, 0. */
int deploy_pipeline_feedback(db_conn *c, int64_t org, int64_t user, int64_t deployment,
                             int64_t *added, int64_t *skipped, int64_t *ct_job, err *e);
/* Starts a CT run now (an experiment launched from the champion). */
int deploy_pipeline_train(db_conn *c, int64_t org, int64_t user, int64_t deployment,
                          int64_t *run, int64_t *job, err *e);
/* A training job ended: queues the CD job of the pipeline run it belongs to. */
int deploy_pipeline_job_ended(db_conn *c, int64_t org, int64_t job, err *e);
/* The CD step of a run (the job "deploy.pipeline_cd"). Events to emit are
 * appended to `events` as [name, payload] pairs. */
int deploy_pipeline_cd(db_conn *c, blob_store *bs, const char *spool, int64_t org, int64_t run,
                       json_t *events, err *e);

extern const char deploy_schema_v52[];

#endif
