/*
 * serve_models.h - detector checkpoints of registry model versions, loaded
 * once per process for the predict endpoint (serve_models.c).
 */
#ifndef CVOPS_DEPLOY_SERVE_MODELS_H
#define CVOPS_DEPLOY_SERVE_MODELS_H

#include "base/err.h"
#include "detect/detect.h"
#include "store/blob.h"
#include "store/db.h"

typedef struct deploy_det deploy_det;

/* The detector of a model version, shared: 0 with *out set (release it),
 * or 0 with *out NULL when the version's checkpoint is not a detector (or
 * cannot be read as one: the classifier path then reports why), remembered
 * per (version, file) so later requests go straight to the classifier;
 * -1 only when the process cannot take another model now. sessions: the
 * concurrent forward passes of a detector loaded now (one thread each;
 * <= 0: one per core). */
int deploy_det_acquire(db_conn *c, blob_store *bs, const char *spool_dir, int64_t org,
                       int64_t version, int sessions, deploy_det **out, err *e);
void deploy_det_release(deploy_det *d);
det_predictor *deploy_det_predictor(deploy_det *d);
/* Frees what nobody holds (shutdown). */
void deploy_dets_clear(void);

#endif
