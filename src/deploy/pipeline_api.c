/*
 * pipeline_api.c - the HTTP side of a deployment's pipeline (configuration,
 * runs, a CT run by hand) and the job "deploy.pipeline_cd" that continuous
 * deployment runs in; see pipeline.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "deploy/deploy.h"
#include "deploy/pipeline.h"
#include "webhook/webhook.h"

static int pipe_get(http_req *r)
{
    return app_reply_by_id(r, deploy_pipeline_write);
}

static int pipe_put(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = deploy_pipeline_set(c, r->who.org_id, id, r->json, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 200, &w);
        rc = deploy_pipeline_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int pipe_delete(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = deploy_pipeline_delete(c, r->who.org_id, id, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : app_reply_deleted(r, 1);
}

static int runs_list(http_req *r)
{
    return app_reply_by_id(r, deploy_pipeline_runs);
}

static int runs_start(http_req *r)
{
    int64_t id, run = 0, job = 0;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = deploy_pipeline_train(c, r->who.org_id, r->who.user_id, id, &run, &job, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jobs_runner_poke(APP(r)->jobs);
    jw w;
    http_json_begin(r, 202, &w);
    jw_obj(&w);
    jw_kint(&w, "pipeline_run_id", run);
    jw_kint(&w, "job_id", job);
    jw_obj_end(&w);
    return 0;
}

static int supervised(http_req *r)
{
    int64_t id, from, to;
    if (http_param_id(r, "id", &id) || http_query_i64(r, "from", 0, 0, INT64_MAX, &from) ||
        http_query_i64(r, "to", 0, 0, INT64_MAX, &to))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = deploy_supervised(c, r->who.org_id, id, from, to, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

/* --- the CD job -------------------------------------------------------------------- */

static int cd_job(job_ctx *j, err *e)
{
    app *a = job_app(j);
    json_t *run = json_object_get(job_payload(j), "pipeline_run_id");
    if (!json_is_integer(run))
        return err_set(e, ERR_INVALID, "payload: pipeline_run_id is missing");
    db_conn *c = db_get(a->db, e);
    if (!c)
        return -1;
    char spool[1024];
    if (a->cfg.spool_dir)
        snprintf(spool, sizeof spool, "%s", a->cfg.spool_dir);
    else
        snprintf(spool, sizeof spool, "%s/tmp", a->cfg.data_dir ? a->cfg.data_dir : ".");
    json_t *events = json_array();
    int rc = deploy_pipeline_cd(c, a->blobs, spool, job_org(j), json_integer_value(run), events, e);
    size_t i;
    json_t *ev;
    int hooks = 0;
    json_array_foreach(events, i, ev)
    {
        int n = 0;
        err we;
        if (webhook_emit(c, job_org(j), json_string_value(json_array_get(ev, 0)),
                         json_string_value(json_array_get(ev, 1)), &n, &we) == 0)
            hooks += n;
    }
    json_decref(events);
    db_put(c);
    if (hooks)
        jobs_runner_poke(a->jobs);
    if (rc == 0)
        job_log(j, "pipeline run %lld decided", (long long)json_integer_value(run));
    return rc;
}

const job_kind deploy_job_kinds[] = {
    {"deploy.pipeline_cd", cd_job,
     "continuous deployment: publish a pipeline's experiment and apply the deployment policy",
     false, 3},
    {NULL, NULL, NULL, false, 0},
};

void deploy_job_ended(void *appp, int64_t org, int64_t job, const char *kind, const char *state)
{
    app *a = appp;
    (void)state;
    if (strcmp(kind, "training.run") != 0)
        return;
    err e;
    db_conn *c = db_get(a->db, &e);
    if (!c)
        return;
    int rc = deploy_pipeline_job_ended(c, org, job, &e);
    db_put(c);
    if (rc == 0)
        jobs_runner_poke(a->jobs);
}

const http_route deploy_pipeline_routes[] = {
    {HTTP_GET, "/api/v1/deployments/{id}/pipeline", pipe_get, PERM_READ, BODY_NONE, NULL,
     "The deployment's pipeline: feedback target, continuous training and deployment settings, "
     "pending reviews",
     "deployments"},
    {HTTP_PUT, "/api/v1/deployments/{id}/pipeline", pipe_put, PERM_WRITE, BODY_JSON, NULL,
     "Configure the pipeline: datasets {alias: version}, feedback_version_id, feedback_tags, "
     "project_id, params, reviews_to_train, policy (champion|shadow|manual), metric, margin",
     "deployments"},
    {HTTP_DELETE, "/api/v1/deployments/{id}/pipeline", pipe_delete, PERM_WRITE, BODY_NONE, NULL,
     "Remove the pipeline: no more feedback, training or deployment (its runs stay listed)",
     "deployments"},
    {HTTP_GET, "/api/v1/deployments/{id}/supervised", supervised, PERM_READ, BODY_NONE, NULL,
     "Champion and shadow against the reviews (?from=&to= ms): accuracy, macro precision, "
     "recall, F1 and per class, by top class",
     "deployments"},
    {HTTP_GET, "/api/v1/deployments/{id}/pipeline/runs", runs_list, PERM_READ, BODY_NONE, NULL,
     "Continuous training and deployment runs, newest first", "deployments"},
    {HTTP_POST, "/api/v1/deployments/{id}/pipeline/runs", runs_start, PERM_WRITE, BODY_NONE, NULL,
     "Start a continuous-training run now (an experiment from the champion)", "deployments"},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
