/*
 * processing_api.c - the HTTP side of processings: the catalog, defining
 * custom processings, launching, runs, and what a running command sends
 * (progress, log lines, files, outputs) with its job token; plus the job
 * kinds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "image/image.h"
#include "processing/processing.h"

static int name_param(http_req *r, const char **name)
{
    *name = http_param(r, "name");
    if (!*name || !**name || strlen(*name) > PROC_NAME_MAX)
        return http_fail(r, ERR_NOT_FOUND, "no such processing");
    return 0;
}

static int catalog(http_req *r)
{
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = proc_catalog_list(c, r->who.org_id, http_query(r, "target"), &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int show(http_req *r)
{
    const char *name;
    int64_t version;
    if (name_param(r, &name) || http_query_i64(r, "version", 0, 0, INT32_MAX, &version))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = proc_catalog_get(c, r->who.org_id, name, version, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int define(http_req *r)
{
    if (!r->json)
        return http_fail(r, ERR_INVALID, "send the processing's manifest as a JSON object");
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int64_t version = 0;
    int rc = proc_define(c, r->who.org_id, r->who.user_id, r->json, &version, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 201, &w);
        rc = proc_catalog_get(c, r->who.org_id,
                              json_string_value(json_object_get(r->json, "name")), version, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int archive(http_req *r)
{
    const char *name;
    if (name_param(r, &name))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = proc_archive(c, r->who.org_id, name, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    http_send(r, 204, "application/json", "", 0);
    return 0;
}

static int run(http_req *r)
{
    const char *name;
    if (name_param(r, &name))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int64_t job = 0;
    int rc = proc_launch(c, r->who.org_id, r->who.user_id, name, r->json, &job, &e);
    if (rc == 0) {
        jobs_runner_poke(APP(r)->jobs);
        jw w;
        http_json_begin(r, 202, &w);
        rc = proc_run_write(c, r->who.org_id, job, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int pre_annotate(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int64_t job = 0;
    int rc = proc_preannotate_launch(c, r->who.org_id, r->who.user_id, id, r->json, &job, &e);
    if (rc == 0) {
        jobs_runner_poke(APP(r)->jobs);
        jw w;
        http_json_begin(r, 202, &w);
        rc = proc_run_write(c, r->who.org_id, job, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int runs(http_req *r)
{
    int64_t limit, cursor;
    if (http_query_i64(r, "limit", 50, 1, 1000, &limit) ||
        http_query_i64(r, "cursor", 0, 0, INT64_MAX, &cursor))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    int64_t next = 0;
    http_json_begin(r, 200, &w);
    int rc = proc_runs_list(c, r->who.org_id, http_query(r, "processing"), limit, cursor, &w, &next,
                            &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int run_get(http_req *r)
{
    return app_reply_by_id(r, proc_run_write);
}

static int progress(http_req *r)
{
    static const char *const fields[] = {"progress", "message", NULL};
    int64_t id;
    double p = 0;
    const char *msg = NULL;
    err e;
    if (http_param_id(r, "id", &id))
        return 0;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_dbl(r->json, "progress", JV_REQUIRED, 0, 1, &p, &e) ||
        jv_str(r->json, "message", JV_OPTIONAL, 500, &msg, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = proc_report_progress(c, r->who.org_id, id, p, msg, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    http_send(r, 204, "application/json", "", 0);
    return 0;
}

static int log_lines(http_req *r)
{
    static const char *const fields[] = {"lines", NULL};
    int64_t id;
    err e;
    if (http_param_id(r, "id", &id))
        return 0;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = proc_report_log(c, r->who.org_id, id, json_object_get(r->json, "lines"), &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    http_send(r, 204, "application/json", "", 0);
    return 0;
}

/* PUT .../files: the body streamed into the blob store, counted against the
 * run's output limit as it comes. */
typedef struct upload {
    blob_writer *w;
    int64_t job, left;
    bool refused;
} upload;

static void upload_cleanup(void *p)
{
    upload *u = p;
    if (u->w)
        blob_writer_abort(u->w);
}

static int upload_data(http_req *r, const char *data, size_t n)
{
    upload *u = r->ctx;
    err e;
    if (!u) {
        u = arena_zalloc(r->arena, sizeof *u);
        r->ctx = u;
        http_on_cleanup(r, upload_cleanup, u);
        if (http_param_id(r, "id", &u->job))
            return -1;
        db_conn *c = app_db(r);
        if (!c)
            return -1;
        int rc = proc_output_budget(c, r->who.org_id, u->job, &u->left, &e);
        db_put(c);
        if (rc)
            return http_fail_err(r, &e), -1;
        u->w = blob_writer_new(APP(r)->blobs, &e);
        if (!u->w)
            return http_fail_err(r, &e), -1;
    }
    if (blob_writer_size(u->w) + (int64_t)n > u->left) {
        u->refused = true;
        db_conn *c = app_db(r);
        if (c) {
            proc_output_refused(c, u->job);
            db_put(c);
        }
        return http_fail(r, ERR_TOO_LARGE,
                         "this file would take run %lld past its output limit (%lld bytes were "
                         "left; resources.output_mb)",
                         (long long)u->job, (long long)u->left),
               -1;
    }
    if (blob_writer_write(u->w, data, n, &e) != 0)
        return http_fail_err(r, &e), -1;
    return 0;
}

static int upload_done(http_req *r)
{
    upload *u = r->ctx;
    if (!u || !u->w || blob_writer_size(u->w) == 0)
        return http_fail(r, ERR_INVALID, "the upload is empty; send the file's bytes as the body");
    err e;
    blob_ref ref;
    char *item = NULL, note[300];
    blob_writer *w = u->w;
    u->w = NULL;
    if (proc_upload_commit(APP(r)->blobs, w, APP(r)->cfg.max_pixels, &ref, &item, note, sizeof note,
                           &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c) {
        free(item);
        return 0;
    }
    const char *fn = http_query(r, "filename");
    int rc = proc_file_add(c, r->who.org_id, u->job, ref.sha, ref.size, fn, item, note, &e);
    db_put(c);
    if (rc) {
        free(item);
        return http_fail_err(r, &e);
    }
    jw w2;
    http_json_begin(r, 201, &w2);
    jw_obj(&w2);
    jw_kstr(&w2, "sha256", ref.sha);
    jw_kint(&w2, "size", ref.size);
    jw_kbool(&w2, "image", item != NULL);
    if (!item)
        jw_kstr(&w2, "note", note);
    jw_obj_end(&w2);
    free(item);
    return 0;
}

static int output_add(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    sbuf b = {0};
    jw w;
    jw_init(&w, &b);
    int rc = proc_output_add(c, r->who.org_id, id, r->json, &w, &e);
    db_put(c);
    if (rc) {
        sbuf_free(&b);
        return http_fail_err(r, &e);
    }
    http_send(r, 201, "application/json", b.p, b.len);
    sbuf_free(&b);
    return 0;
}

static int outputs(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = proc_outputs_list(c, r->who.org_id, id, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

/* --- jobs ------------------------------------------------------------------------------- */

static void env_of(job_ctx *j, proc_env *env, char *spool, size_t n)
{
    app *a = job_app(j);
    env->db = a->db;
    env->blobs = a->blobs;
    if (a->cfg.spool_dir)
        snprintf(spool, n, "%s", a->cfg.spool_dir);
    else
        snprintf(spool, n, "%s/tmp", a->cfg.data_dir ? a->cfg.data_dir : ".");
    env->spool_dir = spool;
    env->max_pixels = a->cfg.max_pixels;
    env->api_url = a->api_url;
}

static int custom_job(job_ctx *j, err *e)
{
    proc_env env;
    char spool[1024];
    env_of(j, &env, spool, sizeof spool);
    return proc_custom_run(j, &env, e);
}

static int builtin_job(job_ctx *j, err *e)
{
    proc_env env;
    char spool[1024];
    env_of(j, &env, spool, sizeof spool);
    int rc = proc_builtin_run(j, &env, e);
    image_thread_done();
    return rc;
}

const job_kind processing_job_kinds[] = {
    {"processing.custom", custom_job, "a custom processing: a command run by a worker", false, 2},
    {"processing.augment", builtin_job, "augmented copies of a dataset version", false, 2},
    {"processing.dedup", builtin_job, "near-duplicate removal", false, 2},
    {"processing.split", builtin_job, "stratified split", false, 2},
    {"processing.tile", builtin_job, "tiling of large images", false, 2},
    {"processing.resize", builtin_job, "resize / convert into a new version", false, 2},
    {"processing.autotag", builtin_job, "auto-tagging with a classification model", false, 2},
    {"processing.pre-annotate", builtin_job, "pre-annotation with a detection model", false, 2},
    {NULL, NULL, NULL, false, 0},
};

/* --- routes ------------------------------------------------------------------------------ */

#define T "processings"
#define RUN_SCHEMA                                                                                 \
    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"processing\":{\"type\":" \
    "\"object\"},\"on\":{\"type\":\"object\"},\"params\":{\"type\":\"object\"},\"state\":{\"type\"" \
    ":\"string\"},\"progress\":{\"type\":\"number\"},\"result\":{},\"outputs\":{\"type\":\"array\"}}}"

const http_route processing_routes[] = {
    {HTTP_GET, "/api/v1/processings", catalog, PERM_READ, BODY_NONE, NULL,
     "The catalog: built-in processings and the organization's own (?target=)", T},
    {HTTP_POST, "/api/v1/processings", define, PERM_WRITE, BODY_JSON, NULL,
     "Define a custom processing (or its next version) from a manifest", T,
     "{\"type\":\"object\",\"required\":[\"name\",\"target\",\"command\"],\"properties\":{\"name\":"
     "{\"type\":\"string\"},\"description\":{\"type\":\"string\"},\"target\":{\"type\":\"string\","
     "\"enum\":[\"datalake\",\"dataset-version\",\"model-version\",\"experiment\"]},\"parameters\":"
     "{\"type\":\"array\"},\"resources\":{\"type\":\"object\"},\"requires\":{},\"command\":{},"
     "\"env\":{\"type\":\"object\"},\"files\":{\"type\":\"array\"},\"outputs\":{\"type\":\"array\"}}}"},
    {HTTP_GET, "/api/v1/processings/{name}", show, PERM_READ, BODY_NONE, NULL,
     "One processing with its parameter definitions and versions (?version=)", T},
    {HTTP_DELETE, "/api/v1/processings/{name}", archive, PERM_WRITE, BODY_NONE, NULL,
     "Archive a custom processing (its runs stay)", T},
    {HTTP_POST, "/api/v1/processings/{name}/run", run, PERM_WRITE, BODY_JSON, NULL,
     "Launch a processing: a job with progress and a log; 202 with the run", T,
     "{\"type\":\"object\",\"required\":[\"on\"],\"properties\":{\"on\":{\"description\":"
     "\"dataset-version:12 or {kind, id}\"},\"params\":{\"type\":\"object\"},\"version\":{\"type\":"
     "\"integer\"},\"resources\":{\"type\":\"object\"},\"requires\":{\"type\":\"string\"},\"query\":"
     "{\"type\":\"string\"}}}",
     RUN_SCHEMA},
    {HTTP_GET, "/api/v1/processing-runs", runs, PERM_READ, BODY_NONE, NULL,
     "Runs, newest first (?processing=&limit=&cursor=)", T},
    {HTTP_GET, "/api/v1/processing-runs/{id}", run_get, PERM_READ, BODY_NONE, NULL,
     "One run: what ran on what, its job's state and progress, its outputs", T, NULL, RUN_SCHEMA, .quick = true},
    {HTTP_POST, "/api/v1/processing-runs/{id}/progress", progress, PERM_WRITE, BODY_JSON, NULL,
     "A running command reports its progress {progress, message}", T,
     "{\"type\":\"object\",\"required\":[\"progress\"],\"properties\":{\"progress\":{\"type\":"
     "\"number\"},\"message\":{\"type\":\"string\"}}}"},
    {HTTP_POST, "/api/v1/processing-runs/{id}/log", log_lines, PERM_WRITE, BODY_JSON, NULL,
     "A running command adds lines to its job's log {lines: [...]}", T,
     "{\"type\":\"object\",\"required\":[\"lines\"],\"properties\":{\"lines\":{\"type\":\"array\","
     "\"items\":{\"type\":\"string\"}}}}"},
    {HTTP_PUT, "/api/v1/processing-runs/{id}/files", upload_done, PERM_WRITE, BODY_STREAM,
     upload_data,
     "Upload a file for the run's outputs (raw body, ?filename=); counted against its output "
     "limit, readable only once the run succeeds",
     T},
    {HTTP_POST, "/api/v1/processing-runs/{id}/outputs", output_add, PERM_WRITE, BODY_JSON, NULL,
     "Stage an output (data, tags, annotations, dataset-version, model-version); written when the "
     "run succeeds",
     T},
    {HTTP_GET, "/api/v1/processing-runs/{id}/outputs", outputs, PERM_READ, BODY_NONE, NULL,
     "A run's outputs: staged, or committed with what they became", T},
    {HTTP_POST, "/api/v1/dataset-versions/{id}/pre-annotate", pre_annotate, PERM_WRITE, BODY_JSON,
     NULL,
     "Pre-annotate a version with a trained checkpoint (of an experiment or a model version): "
     "predictions become pending annotations with scores; accepted, rejected and skipped ones are "
     "never touched. 202 with the run (the built-in processing pre-annotate); 409 when locked",
     "datasets",
     "{\"type\":\"object\",\"properties\":{\"experiment_id\":{\"type\":\"integer\"},"
     "\"model_version_id\":{\"type\":\"integer\"},\"file\":{\"type\":\"string\"},\"query\":"
     "{\"type\":\"string\"},\"score_threshold\":{\"type\":\"number\"},\"nms_threshold\":{"
     "\"type\":\"number\"},\"max_detections\":{\"type\":\"integer\"},\"replace_pending\":{"
     "\"type\":\"boolean\"}}}",
     RUN_SCHEMA},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
