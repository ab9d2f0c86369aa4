/*
 * evaluation_api.c - the HTTP side of evaluations: thin handlers that parse
 * the request, call evaluation.h and write JSON; the route table and the
 * job kind (evaluation.run).
 *
 * Permissions: reading needs PERM_READ, everything else PERM_WRITE.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "evaluation/evaluation.h"

typedef int (*id_writer)(db_conn *c, int64_t org, int64_t id, jw *w, err *e);

static int read_by_id(http_req *r, id_writer fn)
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
    int rc = fn(c, r->who.org_id, id, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int create(http_req *r)
{
    int64_t exp, id;
    if (http_param_id(r, "id", &exp))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = evaluation_create(c, r->who.org_id, exp, r->json, r->who.user_id, &id, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 201, &w);
        rc = evaluation_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int list(http_req *r)
{
    int64_t exp;
    if (http_param_id(r, "id", &exp))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = evaluation_list(c, r->who.org_id, exp, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int get(http_req *r) { return read_by_id(r, evaluation_write); }

static int del(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = evaluation_delete(c, r->who.org_id, id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "deleted", id);
    jw_obj_end(&w);
    return 0;
}

static int predictions_put(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    if (!r->json)
        return http_fail(r, ERR_INVALID,
                         "send {\"predictions\": [{\"asset_id\", \"shapes\": [...]}]} as the body");
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int64_t assets, shapes;
    int rc = evaluation_predictions_put(c, r->who.org_id, id, r->json, &assets, &shapes, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 200, &w);
        jw_obj(&w);
        jw_kint(&w, "assets", assets);
        jw_kint(&w, "predictions", shapes);
        jw_key(&w, "evaluation");
        rc = evaluation_write(c, r->who.org_id, id, &w, &e);
        jw_obj_end(&w);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int predictions_clear(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int64_t n;
    int rc = evaluation_predictions_clear(c, r->who.org_id, id, &n, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "removed", n);
    jw_obj_end(&w);
    return 0;
}

static int evaluate(http_req *r)
{
    int64_t id, job;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = evaluation_submit(c, r->who.org_id, id, r->json, r->who.user_id, &job, &e);
    if (rc == 0) {
        if (APP(r)->jobs)
            jobs_runner_poke(APP(r)->jobs);
        jw w;
        http_json_begin(r, 202, &w);
        rc = jobs_write(c, r->who.org_id, job, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int pr_curves(http_req *r)
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
    int rc = evaluation_pr_write(c, r->who.org_id, id, http_query(r, "label"), &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int confusion(http_req *r) { return read_by_id(r, evaluation_confusion_write); }

static int small_int(http_req *r, const char *name, int *out)
{
    const char *s = http_param(r, name);
    char *end;
    long v = s ? strtol(s, &end, 10) : -1;
    if (!s || !*s || *end || v < 0 || v > 1000000)
        return http_fail(r, ERR_NOT_FOUND, "%s '%.20s' is not a row or column index", name,
                         s ? s : ""),
               -1;
    *out = (int)v;
    return 0;
}

static int cell(http_req *r)
{
    int64_t id, limit, offset = 0;
    int row, col;
    if (http_param_id(r, "id", &id) || small_int(r, "row", &row) || small_int(r, "col", &col))
        return 0;
    if (http_query_i64(r, "limit", 100, 1, EVAL_PAGE_MAX, &limit))
        return 0;
    const char *cur = http_query(r, "cursor");
    if (cur) {
        char *end;
        long long v = strtoll(cur, &end, 10);
        if (!*cur || *end || v < 0)
            return http_fail(r, ERR_INVALID,
                             "cursor '%.40s' is not valid; pass the next_cursor of the previous page",
                             cur);
        offset = v;
    }
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = evaluation_cell_write(c, r->who.org_id, id, row, col, limit, offset, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int flag(http_req *r, const char *name, int *out)
{
    const char *s = http_query(r, name);
    *out = -1;
    if (!s || !*s)
        return 0;
    if (!strcmp(s, "1") || !strcmp(s, "true"))
        *out = 1;
    else if (!strcmp(s, "0") || !strcmp(s, "false"))
        *out = 0;
    else
        return http_fail(r, ERR_INVALID, "%s must be 1, 0, true or false, got '%.20s'", name, s),
               -1;
    return 0;
}

static int number(http_req *r, const char *name, double *out)
{
    const char *s = http_query(r, name);
    *out = NAN;
    if (!s || !*s)
        return 0;
    char *end;
    double v = strtod(s, &end);
    if (*end || !isfinite(v))
        return http_fail(r, ERR_INVALID, "%s must be a number, got '%.20s'", name, s), -1;
    *out = v;
    return 0;
}

static int images(http_req *r)
{
    int64_t id;
    evaluation_image_query q = {0};
    if (http_param_id(r, "id", &id) || flag(r, "has_fp", &q.has_fp) ||
        flag(r, "has_fn", &q.has_fn) || number(r, "iou_below", &q.iou_below) ||
        number(r, "min_score", &q.min_score) || number(r, "max_score", &q.max_score) ||
        http_query_i64(r, "limit", 100, 1, EVAL_PAGE_MAX, &q.limit))
        return 0;
    q.label = http_query(r, "label");
    if (q.label && !*q.label)
        q.label = NULL;
    q.order_by = http_query(r, "order_by");
    q.cursor = http_query(r, "cursor");
    if (q.cursor && !*q.cursor)
        q.cursor = NULL;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = evaluation_images_write(c, r->who.org_id, id, &q, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int image(http_req *r)
{
    int64_t id, asset;
    if (http_param_id(r, "id", &id) || http_param_id(r, "asset_id", &asset))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = evaluation_image_write(c, r->who.org_id, id, asset, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

/* --- the job ------------------------------------------------------------------------------ */

static int run_job(job_ctx *j, err *e)
{
    app *a = job_app(j);
    return evaluation_run(j, a->db, e);
}

const job_kind evaluation_job_kinds[] = {
    {"evaluation.run", run_job, "score an evaluation's predictions against the ground truth",
     false, 2},
    {NULL, NULL, NULL, false, 0},
};

/* --- routes ------------------------------------------------------------------------------- */

#define T "evaluations"

const http_route evaluation_routes[] = {
    {HTTP_POST, "/api/v1/experiments/{id}/evaluations", create, PERM_WRITE, BODY_JSON, NULL,
     "Create an evaluation of the experiment on a dataset version (task: detection, "
     "segmentation, keypoints, classification)",
     T,
     "{\"type\":\"object\",\"required\":[\"dataset_version_id\"],\"properties\":{\"name\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},\"dataset_version_id\":{\"type\":\"integer\"},\"task\":{\"type\":\"string\",\"enum\":[\"detection\",\"segmentation\",\"keypoints\",\"classification\"]},\"metric_prefix\":{\"type\":\"string\"}}}"},
    {HTTP_GET, "/api/v1/experiments/{id}/evaluations", list, PERM_READ, BODY_NONE, NULL,
     "The experiment's evaluations, newest first", T},
    {HTTP_GET, "/api/v1/evaluations/{id}", get, PERM_READ, BODY_NONE, NULL,
     "One evaluation: status, counts, parameters and summary metrics", T},
    {HTTP_DELETE, "/api/v1/evaluations/{id}", del, PERM_WRITE, BODY_NONE, NULL,
     "Delete an evaluation with its predictions and results", T},
    {HTTP_POST, "/api/v1/evaluations/{id}/predictions", predictions_put, PERM_WRITE, BODY_JSON,
     NULL,
     "Upload predictions in bulk, all or nothing (mode replace: the named assets' predictions "
     "are replaced; append)",
     T,
     "{\"type\":\"object\",\"required\":[\"predictions\"],\"properties\":{\"mode\":{\"type\":\"string\",\"enum\":[\"replace\",\"append\"]},\"predictions\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"asset_id\":{\"type\":\"integer\"},\"data_id\":{\"type\":\"integer\"},\"shapes\":{\"type\":\"array\"}}}}}}"},
    {HTTP_DELETE, "/api/v1/evaluations/{id}/predictions", predictions_clear, PERM_WRITE,
     BODY_NONE, NULL, "Remove every prediction of the evaluation", T},
    {HTTP_POST, "/api/v1/evaluations/{id}/evaluate", evaluate, PERM_WRITE, BODY_JSON, NULL,
     "Score the predictions against the version's annotations as a job (202)", T,
     "{\"type\":\"object\",\"properties\":{\"ground_truth\":{\"type\":\"string\",\"enum\":[\"non_rejected\",\"accepted\",\"all\"]},\"split\":{\"type\":\"string\"},\"iou_thr\":{\"type\":\"number\"},\"score_thr\":{\"type\":\"number\"},\"bg_thr\":{\"type\":\"number\"}}}"},
    {HTTP_GET, "/api/v1/evaluations/{id}/pr-curves", pr_curves, PERM_READ, BODY_NONE, NULL,
     "Per label: metrics and precision at 101 recall points (IoU 0.5 and 0.5:0.95), ?label=", T},
    {HTTP_GET, "/api/v1/evaluations/{id}/confusion", confusion, PERM_READ, BODY_NONE, NULL,
     "The confusion matrix (rows: ground truth, columns: prediction, background last)", T},
    {HTTP_GET, "/api/v1/evaluations/{id}/confusion/{row}/{col}", cell, PERM_READ, BODY_NONE, NULL,
     "The images in one confusion-matrix cell, by count (?limit=&cursor=)", T},
    {HTTP_GET, "/api/v1/evaluations/{id}/images", images, PERM_READ, BODY_NONE, NULL,
     "Per-image results: ?has_fp=&has_fn=&iou_below=&label=&min_score=&max_score=&order_by="
     "worst|fp|fn|iou|score|asset&limit=&cursor=",
     T},
    {HTTP_GET, "/api/v1/evaluations/{id}/images/{asset_id}", image, PERM_READ, BODY_NONE, NULL,
     "One image: ground truth, predictions and the matches joining them", T},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
