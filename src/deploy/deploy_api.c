/*
 * deploy_api.c - the HTTP side of deployments: CRUD, predictions reported
 * by models served elsewhere (monitor mode), the dashboard series, the
 * predictions list, review and submission, alerts.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "app/app.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "datalake/datalake.h"
#include "deploy/deploy.h"
#include "deploy/drift.h"
#include "deploy/pipeline.h"
#include "image/image.h"
#include "query/query.h"
#include "webhook/webhook.h"

static void emit(http_req *r, db_conn *c, const char *event, const char *payload)
{
    int n = 0;
    err e;
    if (webhook_emit(c, r->who.org_id, event, payload, &n, &e) == 0 && n)
        jobs_runner_poke(APP(r)->jobs);
}

static int dep_reply(http_req *r, db_conn *c, int rc, int status, int64_t id, err *e)
{
    if (rc == 0) {
        jw w;
        http_json_begin(r, status, &w);
        rc = deploy_write(c, r->who.org_id, id, &w, e);
    }
    db_put(c);
    return rc ? http_fail_err(r, e) : 0;
}

static int deps_list(http_req *r)
{
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = deploy_list(c, r->who.org_id, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int deps_create(http_req *r)
{
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int64_t id = 0;
    int rc = deploy_create(c, r->who.org_id, r->who.user_id, r->json, &id, &e);
    return dep_reply(r, c, rc, 201, id, &e);
}

static int deps_get(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    return dep_reply(r, c, 0, 200, id, &e);
}

static int deps_update(http_req *r)
{
    int64_t id, old = 0, now = 0;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = deploy_update(c, r->who.org_id, id, r->json, &old, &now, &e);
    if (rc == 0 && old != now) {
        char payload[160];
        snprintf(payload, sizeof payload,
                 "{\"deployment_id\":%lld,\"from_version_id\":%lld,\"to_version_id\":%lld}",
                 (long long)id, (long long)old, (long long)now);
        emit(r, c, "deployment.model_changed", payload);
    }
    return dep_reply(r, c, rc, 200, id, &e);
}

static int deps_delete(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = deploy_delete(c, r->who.org_id, id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    return app_reply_deleted(r, id);
}

/* --- reported predictions (monitor mode) ------------------------------------ */

/* The reported image is kept in memory up to PRED_MEM_MAX bytes: most are
 * small and most are not sampled into the datalake, so they never touch the
 * blob store (a temporary file per report cost a third of the ingest). A
 * larger one, or one that is sampled, goes through a blob writer. */
#define PRED_MEM_MAX (8u << 20)

typedef struct {
    sbuf mem;
    blob_writer *w; /* set once the image outgrew mem */
    int files;
} pred_up;

static void pred_cleanup(void *p)
{
    pred_up *u = p;
    if (u->w)
        blob_writer_abort(u->w);
    sbuf_free(&u->mem);
}

static int pred_part(http_req *r, const http_part *p, bool begin)
{
    pred_up *u = r->ctx;
    if (!u) {
        u = arena_zalloc(r->arena, sizeof *u);
        r->ctx = u;
        http_on_cleanup(r, pred_cleanup, u);
    }
    if (!begin)
        return 0;
    if (u->files++)
        return http_fail(r, ERR_INVALID, "send one image per prediction (field 'image')"), -1;
    (void)p;
    return 0;
}

static int pred_data(http_req *r, const char *data, size_t n)
{
    pred_up *u = r->ctx;
    err e;
    if (!u || !u->files)
        return http_fail(r, ERR_INTERNAL, "upload data outside a file"), -1;
    if (!u->w && u->mem.len + n <= PRED_MEM_MAX) {
        sbuf_put(&u->mem, data, n);
        return 0;
    }
    if (!u->w) {
        u->w = blob_writer_new(APP(r)->blobs, &e);
        if (!u->w || blob_writer_write(u->w, u->mem.p, u->mem.len, &e))
            return http_fail_err(r, &e), -1;
        sbuf_free(&u->mem);
    }
    if (blob_writer_write(u->w, data, n, &e))
        return http_fail_err(r, &e), -1;
    return 0;
}

/* A form field or, for raw bodies, a query argument. */
static const char *field(http_req *r, const char *name)
{
    const char *v = http_form(r, name);
    return v ? v : http_query(r, name);
}

static int parse_json_field(http_req *r, const char *name, bool required, json_t **out)
{
    const char *text = field(r, name);
    *out = NULL;
    if (!text) {
        if (required)
            http_fail(r, ERR_INVALID,
                      "field '%s' is required: the model's output as JSON {\"classes\": [...], "
                      "\"boxes\": [...]}",
                      name);
        return required ? -1 : 0;
    }
    json_error_t je;
    *out = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!*out) {
        http_fail(r, ERR_INVALID, "field '%s' is not valid JSON: %s (column %d)", name, je.text,
                  je.column);
        return -1;
    }
    return 0;
}

static int predictions_report(http_req *r)
{
    pred_up *u = r->ctx;
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    if (!u || (u->w ? blob_writer_size(u->w) : (int64_t)u->mem.len) == 0)
        return http_fail(r, ERR_INVALID,
                         "send the image: multipart field 'image' (with text fields 'predictions', "
                         "'latency_ms', 'timestamp'), or the raw image with ?predictions=...");
    json_t *out = NULL, *shadow = NULL;
    if (parse_json_field(r, "predictions", true, &out) || parse_json_field(r, "shadow", false, &shadow))
        goto done_json;
    err e;
    double latency = 0;
    int64_t at = time_now_ms();
    const char *lt = field(r, "latency_ms"), *tsv = field(r, "timestamp");
    if (lt) {
        char *end;
        latency = strtod(lt, &end);
        if (*end || !isfinite(latency) || latency < 0 || latency > 3.6e6) {
            http_fail(r, ERR_INVALID, "latency_ms must be a number of milliseconds (0 to 3600000)");
            goto done_json;
        }
    }
    if (tsv && time_parse_iso(tsv, &at) != 0) {
        int64_t v;
        if (parse_i64("timestamp", tsv, 0, INT64_MAX, &v, &e) != 0) {
            http_fail(r, ERR_INVALID, "timestamp must be ISO 8601 (2026-01-01T10:00:00Z) or ms since the epoch");
            goto done_json;
        }
        at = v;
    }
    const char *source = field(r, "source");
    db_conn *c = app_db(r);
    if (!c)
        goto done_json;
    deploy_info d;
    if (deploy_get_info(c, r->who.org_id, id, &d, &e)) {
        db_put(c);
        http_fail_err(r, &e);
        goto done_json;
    }
    if (strcmp(d.mode, "monitor") != 0) {
        db_put(c);
        http_fail(r, ERR_CONFLICT, "deployment %lld serves its own model; send images to "
                                   ".../predict instead", (long long)id);
        goto done_json;
    }
    char *norm = NULL, *snorm = NULL, top[260] = "", stop[260];
    int objects = 0, sobj;
    double top_score = 0, sts;
    if (deploy_output_check(out, d.min_score, &norm, top, sizeof top, &objects, &top_score, &e) ||
        (shadow && deploy_output_check(shadow, d.min_score, &snorm, stop, sizeof stop, &sobj, &sts, &e))) {
        db_put(c);
        free(norm);
        http_fail_err(r, &e);
        goto done_json;
    }
    /* the image: probed, features for drift, stored when sampled */
    blob_writer *w = u->w;
    u->w = NULL;
    bool in_memory = !w; /* small uploads; a spooled one is scored by the drift report */
    char sha[65];
    deploy_features f;
    int rc;
    if (w) {
        blob_writer_digest(w, sha);
        int64_t size = blob_writer_size(w);
        int fd = open(blob_writer_path(w), O_RDONLY | O_CLOEXEC);
        void *map = fd >= 0 ? mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
        if (fd >= 0)
            close(fd);
        rc = map == MAP_FAILED ? err_set(&e, ERR_IO, "cannot read the upload back")
                               : deploy_features_of(map, (size_t)size, &f, &e);
        if (map != MAP_FAILED)
            munmap(map, (size_t)size);
    } else {
        sha256_hex(u->mem.p, u->mem.len, sha);
        rc = deploy_features_of(u->mem.p, u->mem.len, &f, &e);
    }
    int64_t data_id = 0;
    bool stored = false;
    bool sampled = rc == 0 && d.datalake_id &&
                   (double)(rand_u64() % 1000000) / 1e6 < d.sample_rate;
    if (sampled && !w &&
        ((w = blob_writer_new(APP(r)->blobs, &e)) == NULL ||
         blob_writer_write(w, u->mem.p, u->mem.len, &e) != 0))
        rc = -1;
    if (rc == 0 && sampled) {
        datalake_item it;
        datalake_limits lim = {.max_pixels = APP(r)->cfg.max_pixels};
        rc = datalake_prepare(APP(r)->blobs, w, &lim, &it, &e);
        w = NULL;
        if (rc == 0) {
            char tag[64];
            snprintf(tag, sizeof tag, "deployment-%lld", (long long)id);
            const char *tags[1] = {tag};
            bool dup;
            rc = datalake_insert(c, r->who.org_id, d.datalake_id, &it, http_query(r, "filename"),
                                 source ? source : "deployment", NULL, tags, 1, r->who.user_id,
                                 &data_id, &dup, &e);
            datalake_item_free(&it);
            stored = rc == 0;
        }
    }
    if (w)
        blob_writer_abort(w);
    int64_t pid = 0;
    if (rc == 0) {
        deploy_prediction p = {.sha = sha, .data_id = data_id, .output = norm, .shadow_output = snorm,
                               .latency_ms = latency, .at_ms = at, .source = source, .features = &f,
                               .top_label = top, .top_score = top_score, .objects = objects};
        rc = deploy_record(c, &d, &p, &pid, &e);
    }
    if (rc == 0 && in_memory)
        deploy_score_later(APP(r), r->who.org_id, id, pid, u->mem.p, u->mem.len, &f);
    if (rc == 0 && pid % 100 == 0) { /* now and then, evaluate the alert rules */
        int64_t fired[16];
        int nf = 0;
        err ae;
        if (deploy_alerts_check(c, r->who.org_id, id, time_now_ms(), fired, &nf, 16, &ae) == 0)
            for (int i = 0; i < nf; i++) {
                char payload[120];
                snprintf(payload, sizeof payload, "{\"deployment_id\":%lld,\"alert_id\":%lld}",
                         (long long)id, (long long)fired[i]);
                emit(r, c, "alert.fired", payload);
            }
    }
    free(norm);
    free(snorm);
    if (rc) {
        db_put(c);
        http_fail_err(r, &e);
        goto done_json;
    }
    jw jo;
    http_json_begin(r, 201, &jo);
    rc = deploy_prediction_write(c, r->who.org_id, pid, &jo, &e);
    db_put(c);
    if (rc)
        http_fail_err(r, &e);
    else {
        r->out.len--;
        sbuf_printf(&r->out, ",\"image_stored\":%s}", stored ? "true" : "false");
    }
done_json:
    json_decref(out);
    json_decref(shadow);
    return 0;
}

/* --- dashboards, lists, review ----------------------------------------------- */

static int metrics(http_req *r)
{
    int64_t id, from, to;
    int64_t now = time_now_ms();
    if (http_param_id(r, "id", &id) || http_query_i64(r, "from", now - 86400000, 0, INT64_MAX, &from) ||
        http_query_i64(r, "to", now + 60000, 0, INT64_MAX, &to))
        return 0;
    const char *res = http_query(r, "resolution");
    db_conn *c = app_db_scan(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = deploy_metrics(c, r->who.org_id, id, res ? res : "minute", from, to, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int preds_list(http_req *r)
{
    int64_t id, limit, cursor, from, to;
    if (http_param_id(r, "id", &id) || http_query_i64(r, "limit", 50, 1, 1000, &limit) ||
        http_query_i64(r, "cursor", 0, 0, INT64_MAX, &cursor) ||
        http_query_i64(r, "from", 0, 0, INT64_MAX, &from) || http_query_i64(r, "to", 0, 0, INT64_MAX, &to))
        return 0;
    const char *qtext = http_query(r, "q");
    if (qtext && strlen(qtext) > QUERY_DEFAULT_MAX_LEN)
        return http_fail(r, ERR_INVALID, "q: the query is longer than %d bytes", QUERY_DEFAULT_MAX_LEN);
    deploy_pred_query q = {.q = qtext, .status = http_query(r, "status"), .label = http_query(r, "label"),
                           .min_score = 0, .max_score = 1, .from = from, .to = to, .limit = limit,
                           .before_id = cursor, .outlier = -1, .out_of_range = -1};
    int64_t fl;
    if (http_query(r, "outlier")) {
        if (http_query_i64(r, "outlier", -1, 0, 1, &fl))
            return 0;
        q.outlier = (int)fl;
    }
    if (http_query(r, "out_of_range")) {
        if (http_query_i64(r, "out_of_range", -1, 0, 1, &fl))
            return 0;
        q.out_of_range = (int)fl;
    }
    const char *mn = http_query(r, "min_score"), *mx = http_query(r, "max_score");
    if (mn)
        q.min_score = strtod(mn, NULL);
    if (mx)
        q.max_score = strtod(mx, NULL);
    db_conn *c = app_db_scan(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = deploy_predictions(c, r->who.org_id, id, &q, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int preds_autocomplete(http_req *r)
{
    const char *q = http_query(r, "q");
    if (!q)
        q = "";
    if (strlen(q) > QUERY_DEFAULT_MAX_LEN)
        return http_fail(r, ERR_INVALID, "the query is longer than %d bytes", QUERY_DEFAULT_MAX_LEN);
    int64_t id, cursor;
    if (http_param_id(r, "id", &id) ||
        http_query_i64(r, "cursor", (int64_t)strlen(q), 0, (int64_t)strlen(q), &cursor))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = deploy_pred_autocomplete(c, r->who.org_id, id, q, (size_t)cursor, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int pred_get(http_req *r)
{
    return app_reply_by_id(r, deploy_prediction_write);
}

static int pred_review(http_req *r)
{
    static const char *const fields[] = {"output", NULL};
    int64_t id;
    err e;
    json_t *out = NULL;
    if (http_param_id(r, "id", &id))
        return 0;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_obj(r->json, "output", JV_REQUIRED, &out, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = deploy_review(c, r->who.org_id, r->who.user_id, id, out, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 200, &w);
        rc = deploy_prediction_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int submit(http_req *r)
{
    static const char *const fields[] = {"ids", NULL};
    int64_t id, n = 0;
    err e;
    if (http_param_id(r, "id", &id))
        return 0;
    if (r->json && (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e)))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = deploy_submit(c, r->who.org_id, id, json_object_get(r->json, "ids"), &n, &e);
    int64_t fed = 0, skipped = 0, ct_job = 0;
    err fe;
    int frc = 0;
    /* the feedback loop: submitted reviews into the pipeline's dataset. A
     * failure there does not undo the submission: the reviews stay
     * submitted and not fed back, and the next submit feeds them. */
    if (rc == 0)
        frc = deploy_pipeline_feedback(c, r->who.org_id, r->who.user_id, id, &fed, &skipped,
                                       &ct_job, &fe);
    if (rc == 0 && ct_job)
        jobs_runner_poke(APP(r)->jobs);
    if (rc == 0 && n > 0) {
        char payload[120];
        snprintf(payload, sizeof payload, "{\"deployment_id\":%lld,\"submitted\":%lld}", (long long)id,
                 (long long)n);
        emit(r, c, "review.submitted", payload);
    }
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "submitted", n);
    jw_kint(&w, "fed_back", fed);
    jw_kint(&w, "skipped", skipped);
    if (frc)
        jw_kstr(&w, "feedback_error", fe.msg);
    jw_key(&w, "training_job_id");
    if (ct_job)
        jw_int(&w, ct_job);
    else
        jw_null(&w);
    jw_obj_end(&w);
    return 0;
}

static int drift(http_req *r)
{
    int64_t id, from, to, limit, version;
    if (http_param_id(r, "id", &id) || http_query_i64(r, "from", 0, 0, INT64_MAX, &from) ||
        http_query_i64(r, "to", 0, 0, INT64_MAX, &to) ||
        http_query_i64(r, "limit", 5000, 1, DRIFT_WINDOW_MAX, &limit) ||
        http_query_i64(r, "dataset_version_id", 0, 0, INT64_MAX, &version))
        return 0;
    drift_query q = {.from = from, .to = to, .limit = limit, .version = version,
                     .outlier_pct = DRIFT_OUTLIER_PCT};
    const char *pct = http_query(r, "outlier_percentile");
    if (pct) {
        char *end;
        q.outlier_pct = strtod(pct, &end);
        if (*end || !(q.outlier_pct > 0 && q.outlier_pct <= 100))
            return http_fail(r, ERR_INVALID, "outlier_percentile must be a number in (0, 100]");
    }
    char spool[1024];
    app *a = APP(r);
    if (a->cfg.spool_dir)
        snprintf(spool, sizeof spool, "%s", a->cfg.spool_dir);
    else
        snprintf(spool, sizeof spool, "%s/tmp", a->cfg.data_dir ? a->cfg.data_dir : ".");
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = deploy_drift(c, a->blobs, spool, r->who.org_id, id, &q, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int alerts_list(http_req *r)
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
    int rc = deploy_alerts(c, r->who.org_id, id, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int alerts_create(http_req *r)
{
    int64_t id, aid = 0;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = deploy_alert_create(c, r->who.org_id, id, r->json, &aid, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    return alerts_list(r);
}

static int alerts_check(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int64_t fired[64];
    int nf = 0;
    int rc = deploy_alerts_check(c, r->who.org_id, id, time_now_ms(), fired, &nf, 64, &e);
    for (int i = 0; rc == 0 && i < nf; i++) {
        char payload[120];
        snprintf(payload, sizeof payload, "{\"deployment_id\":%lld,\"alert_id\":%lld}", (long long)id,
                 (long long)fired[i]);
        emit(r, c, "alert.fired", payload);
    }
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    return alerts_list(r);
}

const http_route deploy_routes[] = {
    {HTTP_GET, "/api/v1/deployments", deps_list, PERM_READ, BODY_NONE, NULL,
     "Deployments with prediction counts and firing alerts", "deployments"},
    {HTTP_POST, "/api/v1/deployments", deps_create, PERM_WRITE, BODY_JSON, NULL,
     "Create a deployment: name, mode (serve|monitor), champion_version_id, shadow_version_id, "
     "datalake_id, sample_rate, min_score",
     "deployments"},
    {HTTP_GET, "/api/v1/deployments/{id}", deps_get, PERM_READ, BODY_NONE, NULL, "One deployment",
     "deployments"},
    {HTTP_PATCH, "/api/v1/deployments/{id}", deps_update, PERM_WRITE, BODY_JSON, NULL,
     "Change champion/shadow/sampling (a champion change emits deployment.model_changed)",
     "deployments"},
    {HTTP_DELETE, "/api/v1/deployments/{id}", deps_delete, PERM_ADMIN, BODY_NONE, NULL,
     "Delete a deployment and its predictions", "deployments"},
    {HTTP_POST, "/api/v1/deployments/{id}/predictions", predictions_report, PERM_WRITE, BODY_STREAM,
     pred_data,
     "Report a prediction made elsewhere (monitor mode): multipart image + predictions, "
     "latency_ms, timestamp, shadow, source; the same image twice answers 409",
     "deployments", NULL, NULL, 256LL << 20, pred_part},
    {HTTP_GET, "/api/v1/deployments/{id}/predictions", preds_list, PERM_READ, BODY_NONE, NULL,
     "Predictions newest first: ?q= in the query language (status, label, score, created, latency, "
     "source, tag, meta, outlier, out_of_range, shadow, agree...; docs/operations.md), and the filters "
     "?status=&label=&min_score=&max_score=&from=&to=&outlier=&out_of_range=&limit=&cursor=",
     "deployments"},
    {HTTP_GET, "/api/v1/deployments/{id}/predictions/autocomplete", preds_autocomplete, PERM_READ,
     BODY_NONE, NULL,
     "Autocomplete of a predictions query (?q=&cursor=): expected fields, operators and values",
     "deployments"},
    {HTTP_GET, "/api/v1/deployments/{id}/metrics", metrics, PERM_READ, BODY_NONE, NULL,
     "Dashboard series from rollups (?resolution=minute|hour|day&from=&to= ms): count, errors, "
     "latency p50/p95/p99, objects per image, score, agreement, labels",
     "deployments"},
    {HTTP_GET, "/api/v1/predictions/{id}", pred_get, PERM_READ, BODY_NONE, NULL, "One prediction",
     "deployments", .quick = true},
    {HTTP_PUT, "/api/v1/predictions/{id}/review", pred_review, PERM_ANNOTATE, BODY_JSON, NULL,
     "Review a prediction: the corrected output; status becomes reviewed", "deployments"},
    {HTTP_POST, "/api/v1/deployments/{id}/submit", submit, PERM_ANNOTATE, BODY_JSON, NULL,
     "Submit reviewed predictions (ids, or all reviewed); emits review.submitted", "deployments"},
    {HTTP_GET, "/api/v1/deployments/{id}/drift", drift, PERM_READ, BODY_NONE, NULL,
     "Drift against the training dataset version (?from=&to=&limit=&dataset_version_id="
     "&outlier_percentile=): Kolmogorov-Smirnov per image feature and over the predicted "
     "labels, outlier scores of the window's predictions (stored for ?outlier=1 listings)",
     "deployments"},
    {HTTP_GET, "/api/v1/deployments/{id}/alerts", alerts_list, PERM_READ, BODY_NONE, NULL,
     "Alert rules and their state", "deployments"},
    {HTTP_POST, "/api/v1/deployments/{id}/alerts", alerts_create, PERM_WRITE, BODY_JSON, NULL,
     "Add an alert rule: name, metric (latency_p99, latency_p95, error_rate, count, score_mean), "
     "op, threshold, window_minutes",
     "deployments"},
    {HTTP_POST, "/api/v1/deployments/{id}/alerts/check", alerts_check, PERM_WRITE, BODY_NONE, NULL,
     "Evaluate the alert rules now (also done every 100 predictions); firing emits alert.fired once",
     "deployments"},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
