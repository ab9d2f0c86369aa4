/*
 * training_api.c - the HTTP side of platform training: launch, cancel and
 * follow an experiment's training runs; add the Fashion-MNIST sample; and
 * the module's job kinds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/jsonv.h"
#include "training/training.h"

static int reply(http_req *r, db_conn *c, int status, int64_t experiment)
{
    err e;
    jw w;
    http_json_begin(r, status, &w);
    if (training_write(c, r->who.org_id, experiment, &w, &e) != 0)
        return http_fail_err(r, &e);
    return 0;
}

static int launch(http_req *r)
{
    int64_t id, run = 0, job = 0;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = training_launch(c, r->who.org_id, r->who.user_id, id, r->json, &run, &job, &e);
    if (rc == 0) {
        jobs_runner_poke(APP(r)->jobs);
        reply(r, c, 202, id);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int cancel(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = training_cancel(c, r->who.org_id, id, &e);
    if (rc == 0) {
        jobs_runner_poke(APP(r)->jobs);
        reply(r, c, 202, id);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int get(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    reply(r, c, 200, id);
    db_put(c);
    return 0;
}

static int sample(http_req *r)
{
    static const char *const fields[] = {"dataset", "project", "train", "val", "test", NULL};
    training_sample_opts o = {.val = -1, .test = -1};
    err e;
    if (r->json && (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
                    jv_str(r->json, "dataset", JV_OPTIONAL, 128, &o.dataset, &e) ||
                    jv_str(r->json, "project", JV_OPTIONAL, 200, &o.project, &e) ||
                    jv_i64(r->json, "train", JV_OPTIONAL, 1, 60000, &o.train, &e) ||
                    jv_i64(r->json, "val", JV_OPTIONAL, 0, 60000, &o.val, &e) ||
                    jv_i64(r->json, "test", JV_OPTIONAL, 0, 10000, &o.test, &e)))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t job = 0;
    int rc = training_sample_submit(c, r->who.org_id, r->who.user_id, &o, &job, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jobs_runner_poke(APP(r)->jobs);
    jw w;
    http_json_begin(r, 202, &w);
    jw_obj(&w);
    jw_kint(&w, "job_id", job);
    jw_obj_end(&w);
    return 0;
}

static int sample_shapes(http_req *r)
{
    static const char *const fields[] = {"dataset", "project", "images", "size", "seed", NULL};
    training_sample_det_opts o = {0};
    err e;
    if (r->json && (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
                    jv_str(r->json, "dataset", JV_OPTIONAL, 128, &o.dataset, &e) ||
                    jv_str(r->json, "project", JV_OPTIONAL, 200, &o.project, &e) ||
                    jv_i64(r->json, "images", JV_OPTIONAL, 10, 20000, &o.images, &e) ||
                    jv_i64(r->json, "size", JV_OPTIONAL, 64, 1024, &o.size, &e) ||
                    jv_i64(r->json, "seed", JV_OPTIONAL, 0, INT64_MAX, &o.seed, &e)))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t job = 0;
    int rc = training_sample_det_submit(c, r->who.org_id, r->who.user_id, &o, &job, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jobs_runner_poke(APP(r)->jobs);
    jw w;
    http_json_begin(r, 202, &w);
    jw_obj(&w);
    jw_kint(&w, "job_id", job);
    jw_obj_end(&w);
    return 0;
}

/* --- jobs -------------------------------------------------------------------- */

static void poke(void *a) { jobs_runner_poke(((app *)a)->jobs); }

static void env_of(job_ctx *j, training_env *env, char *spool, size_t n)
{
    app *a = job_app(j);
    if (a->cfg.spool_dir)
        snprintf(spool, n, "%s", a->cfg.spool_dir);
    else
        snprintf(spool, n, "%s/tmp", a->cfg.data_dir ? a->cfg.data_dir : ".");
    *env = (training_env){.db = a->db,
                          .blobs = a->blobs,
                          .spool_dir = spool,
                          .committer = a->exp_committer,
                          .app = a,
                          .poke = a->jobs ? poke : NULL};
}

static int run_job(job_ctx *j, err *e)
{
    training_env env;
    char spool[1024];
    env_of(j, &env, spool, sizeof spool);
    return training_job_run(j, &env, e);
}

static int sample_job(job_ctx *j, err *e)
{
    training_env env;
    char spool[1024];
    env_of(j, &env, spool, sizeof spool);
    return training_sample_run(j, &env, e);
}

static int sample_shapes_job(job_ctx *j, err *e)
{
    training_env env;
    char spool[1024];
    env_of(j, &env, spool, sizeof spool);
    return training_sample_det_run(j, &env, e);
}

const job_kind training_job_kinds[] = {
    {"training.run", run_job, "train an experiment on the platform's trainer", false,
     TRAIN_JOB_ATTEMPTS},
    {"training.sample_shapes", sample_shapes_job,
     "add the shapes detection sample dataset and a ready-to-launch experiment", false, 1},
    {"training.sample_fashion_mnist", sample_job,
     "add the Fashion-MNIST sample dataset and a ready-to-launch experiment", false, 1},
    {NULL, NULL, NULL, false, 0},
};

#define LAUNCH_DOC                                                                                 \
    "{\"type\":\"object\",\"properties\":{"                                                        \
    "\"architecture\":{\"description\":\"cnn, resnet, mobilenet, detector-nano, detector-small, "  \
    "or an architecture object\"},"                                                                \
    "\"task\":{\"type\":\"string\",\"enum\":[\"classification\",\"detection\",\"\"]},"          \
    "\"score_thr\":{\"type\":\"number\"},\"nms_iou\":{\"type\":\"number\"},"                   \
    "\"mosaic\":{\"type\":\"number\"},\"close_mosaic\":{\"type\":\"integer\"},"                 \
    "\"val_input_size\":{\"type\":\"integer\"},"                                                    \
    "\"depth\":{\"type\":\"integer\"},\"width\":{\"type\":\"number\"},"                           \
    "\"stem\":{\"type\":\"string\"},\"activation\":{\"type\":\"string\"},"                        \
    "\"dropout\":{\"type\":\"number\"},\"input_size\":{\"type\":\"integer\"},"                    \
    "\"channels\":{\"type\":\"integer\"},\"epochs\":{\"type\":\"integer\"},"                      \
    "\"batch_size\":{\"type\":\"integer\"},\"optimizer\":{\"type\":\"string\",\"enum\":[\"adamw\",\"sgd\"]}," \
    "\"lr\":{\"type\":\"number\"},\"weight_decay\":{\"type\":\"number\"},"                        \
    "\"momentum\":{\"type\":\"number\"},\"nesterov\":{\"type\":\"boolean\"},"                     \
    "\"schedule\":{\"type\":\"string\",\"enum\":[\"cosine\",\"step\",\"constant\"]},"             \
    "\"warmup_steps\":{\"type\":\"integer\"},\"label_smoothing\":{\"type\":\"number\"},"          \
    "\"ema\":{\"type\":\"number\"},\"clip_norm\":{\"type\":\"number\"},"                          \
    "\"augmentation\":{\"type\":\"object\",\"properties\":{\"hflip\":{\"type\":\"boolean\"},"     \
    "\"vflip\":{\"type\":\"boolean\"},\"pad\":{\"type\":\"number\"},\"rotate\":{\"type\":\"number\"}," \
    "\"crop\":{\"type\":\"number\"},\"brightness\":{\"type\":\"number\"},"                        \
    "\"contrast\":{\"type\":\"number\"},\"saturation\":{\"type\":\"number\"}}},"                  \
    "\"seed\":{\"type\":\"integer\"},\"resume\":{\"type\":\"boolean\"},"                          \
    "\"max_seconds\":{\"type\":\"number\"},\"time_budget\":{\"type\":\"number\"},"                \
    "\"threads\":{\"type\":\"integer\"},"                                                         \
    "\"auto_threads\":{\"type\":\"boolean\"},\"loader_workers\":{\"type\":\"integer\"},"          \
    "\"log_every\":{\"type\":\"integer\"},\"cache_mb\":{\"type\":\"integer\"}}}"

const http_route training_routes[] = {
    {HTTP_POST, "/api/v1/experiments/{id}/launch", launch, PERM_WRITE, BODY_JSON, NULL,
     "Train the experiment on the platform's trainer (its train/val/test dataset versions); "
     "parameters default to the experiment's; resume: true continues from the last checkpoint. "
     "202 with the runs",
     "experiments", LAUNCH_DOC, NULL},
    {HTTP_POST, "/api/v1/experiments/{id}/cancel", cancel, PERM_WRITE, BODY_NONE, NULL,
     "Cancel the experiment's training (queued: at once; running: after its current step)",
     "experiments"},
    {HTTP_GET, "/api/v1/experiments/{id}/training", get, PERM_READ, BODY_NONE, NULL,
     "The experiment's training runs, newest first, and the current one: state, epoch, step, "
     "loss, val accuracy, final evaluation",
     "experiments"},
    {HTTP_POST, "/api/v1/samples/fashion-mnist", sample, PERM_WRITE, BODY_JSON, NULL,
     "Add the Fashion-MNIST sample (dataset, project getting-started, an experiment ready to "
     "launch): {dataset, project, train, val, test} image counts; 202 with the job",
     "experiments"},
    {HTTP_POST, "/api/v1/samples/shapes", sample_shapes, PERM_WRITE, BODY_JSON, NULL,
     "Add the shapes object detection sample (dataset, project getting-started, a detector "
     "experiment ready to launch): {dataset, project, images, size, seed}; 202 with the job",
     "experiments"},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
