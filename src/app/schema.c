/*
 * schema.c - the ordered list of schema migrations of the whole program.
 *
 * Each feature module owns its tables and exports their migration text; this
 * list fixes the order. Never edit a migration that has shipped: add a new
 * one at the end.
 */
#include "app/schema.h"

#include "auth/auth.h"
#include "datalake/datalake.h"
#include "dataset/dataset.h"
#include "evaluation/evaluation.h"
#include "experiment/experiment.h"
#include "files/files.h"
#include "jobs/jobs.h"
#include "processing/processing.h"
#include "deploy/deploy.h"
#include "deploy/drift.h"
#include "deploy/pipeline.h"
#include "registry/registry.h"
#include "training/training.h"
#include "webhook/webhook.h"

const db_migration app_migrations[] = {
    {1, "auth: organizations, users, memberships, tokens, sessions", auth_schema_v1},
    {2, "jobs: queue and logs", jobs_schema_v1},
    {3, "files: organization references to blobs", files_schema_v1},
    {10, "datalake: datalakes, data, tags, metadata keys", datalake_schema_v10},
    {20, "dataset: datasets, versions, assets, tags, labels, annotations, shapes, revisions",
     dataset_schema_v20},
    {24, "dataset: label.source_id (the imported category id, for COCO exports that keep it)",
     dataset_schema_v24},
    {30, "experiments: projects, experiments, metric series, logs, output, artifacts",
     exp_schema_v1},
    {35, "training: runs of experiments on the platform's trainer", training_schema_v35},
    {40, "evaluations: evaluations, predictions, per-class, per-image and confusion results",
     evaluation_schema_v40},
    {50, "registry: models, versions, files, aliases", registry_schema_v50},
    {51, "deployments: predictions, rollups, alerts", deploy_schema_v51},
    {52, "deployments: pipelines (feedback, continuous training and deployment)", deploy_schema_v52},
    {53, "deployments: drift references and per-prediction outlier scores", deploy_schema_v53},
    {60, "processings: definitions, runs, staged outputs and files, reports", proc_schema_v60},
    {61, "jobs: worker requirements (job.requires, job_require)", jobs_schema_v61},
    {62, "auth: job-scoped tokens (api_token.job_id, token_grant)", auth_schema_v62},
    {70, "webhooks: endpoints and deliveries", webhook_schema_v70},
};

const int app_migration_count = (int)(sizeof app_migrations / sizeof app_migrations[0]);
