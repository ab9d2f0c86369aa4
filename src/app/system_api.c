/*
 * system_api.c - health, the OpenAPI document, Prometheus metrics, and the
 * diagnostic job kind `system.sleep`.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "base/version.h"

static int health(http_req *r)
{
    app *a = APP(r);
    jw w;
    const char *deep = http_query(r, "deep");
    bool ok = true;
    char detail[300] = "";
    if (deep && strcmp(deep, "1") == 0) {
        err e;
        db_conn *c = db_get(a->db, &e);
        int64_t one = 0;
        if (!c || db_one_i64(c, &e, &one, "SELECT 1") != 0) {
            ok = false;
            snprintf(detail, sizeof detail, "database: %s", e.msg);
        }
        db_put(c);
    }
    http_json_begin(r, ok ? 200 : 503, &w);
    jw_obj(&w);
    jw_kstr(&w, "status", ok ? "ok" : "unavailable");
    jw_kstr(&w, "version", CVOPS_VERSION);
    jw_kstr(&w, "database", db_driver_name(a->db));
    jw_kstr(&w, "blobs", blob_driver_name(a->blobs));
    if (!ok)
        jw_kstr(&w, "detail", detail);
    jw_obj_end(&w);
    return 0;
}

static int openapi(http_req *r)
{
    app *a = APP(r);
    http_send(r, 200, "application/json", a->openapi, strlen(a->openapi));
    return 0;
}

static int metrics(http_req *r)
{
    app *a = APP(r);
    sbuf out = SBUF_INIT;
    http_server_metrics(a->http, &out);
    err e;
    db_conn *c = db_get(a->db, &e);
    if (c) {
        jobs_metrics(c, &out, &e);
        db_put(c);
    }
    sbuf_printf(&out, "# HELP cvops_jobs_running_here Jobs running in this process.\n"
                      "# TYPE cvops_jobs_running_here gauge\ncvops_jobs_running_here %d\n",
                jobs_runner_busy(a->jobs));
    http_send(r, 200, "text/plain; version=0.0.4", out.p ? out.p : "", out.len);
    sbuf_free(&out);
    return 0;
}

const http_route system_routes[] = {
    {HTTP_GET, "/api/v1/health", health, PERM_PUBLIC, BODY_NONE, NULL,
     "Liveness; with ?deep=1 also checks the database", "system", NULL,
     "{\"type\":\"object\",\"properties\":{\"status\":{\"type\":\"string\"},\"version\":{\"type\":\"string\"}}}", 0, .quick = true},
    {HTTP_GET, "/api/v1/openapi.json", openapi, PERM_AUTH, BODY_NONE, NULL,
     "This API's OpenAPI 3 description", "system", NULL, NULL, 0},
    {HTTP_GET, "/metrics", metrics, PERM_AUTH, BODY_NONE, NULL,
     "Prometheus metrics: requests by route and status, latency, jobs by state", "system", NULL,
     NULL, 0},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};

/* --- OpenAPI ---------------------------------------------------------------- */

static const char *method_lower(http_method m)
{
    switch (m) {
    case HTTP_GET: return "get";
    case HTTP_POST: return "post";
    case HTTP_PUT: return "put";
    case HTTP_PATCH: return "patch";
    case HTTP_DELETE: return "delete";
    default: return "head";
    }
}

char *app_openapi(const http_server *s)
{
    json_t *doc = json_pack("{s:s, s:{s:s, s:s, s:s}}", "openapi", "3.0.3", "info", "title",
                            "cvops API", "version", CVOPS_VERSION, "description",
                            "The REST API of cvops. Errors are {\"error\": {\"code\", \"message\"}}.");
    json_t *paths = json_object();
    int n = http_server_route_count(s);
    for (int i = 0; i < n; i++) {
        const http_route *rt = http_server_route(s, i);
        json_t *item = json_object_get(paths, rt->pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, rt->pattern, item);
        }
        json_t *op = json_object();
        json_object_set_new(op, "summary", json_string(rt->summary ? rt->summary : ""));
        json_object_set_new(op, "tags", json_pack("[s]", rt->tag ? rt->tag : "misc"));
        char opid[160];
        snprintf(opid, sizeof opid, "%s %s", method_lower(rt->method), rt->pattern);
        json_object_set_new(op, "operationId", json_string(opid));
        json_t *params = json_array();
        for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p + 1, '{')) {
            const char *end = strchr(p, '}');
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(end - p - 1), p + 1);
            bool is_id = strcmp(name, "id") == 0 || (strlen(name) > 3 && strcmp(name + strlen(name) - 3, "_id") == 0);
            json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", name, "in",
                                                    "path", "required", 1, "schema", "type",
                                                    is_id ? "integer" : "string"));
        }
        json_object_set_new(op, "parameters", params);
        if (rt->body == BODY_JSON) {
            json_t *schema = rt->request ? json_loads(rt->request, 0, NULL) : NULL;
            if (!schema)
                schema = json_pack("{s:s}", "type", "object");
            json_object_set_new(op, "requestBody",
                                json_pack("{s:b, s:{s:{s:o}}}", "required", 1, "content",
                                          "application/json", "schema", schema));
        } else if (rt->body == BODY_STREAM) {
            json_object_set_new(op, "requestBody",
                                json_pack("{s:b, s:{s:{s:{s:s, s:s}}}}", "required", 1, "content",
                                          "application/octet-stream", "schema", "type", "string",
                                          "format", "binary"));
        }
        json_t *ok_schema = rt->response ? json_loads(rt->response, 0, NULL) : NULL;
        json_t *ok = json_pack("{s:s}", "description", "success");
        if (ok_schema)
            json_object_set_new(ok, "content",
                                json_pack("{s:{s:o}}", "application/json", "schema", ok_schema));
        json_object_set_new(op, "responses",
                            json_pack("{s:o, s:{s:s, s:{s:{s:{s:s}}}}}", "200", ok, "default",
                                      "description", "error", "content", "application/json",
                                      "schema", "$ref", "#/components/schemas/Error"));
        if (rt->perm == PERM_PUBLIC)
            json_object_set_new(op, "security", json_array());
        else
            json_object_set_new(op, "x-cvops-permission", json_string(auth_perm_name(rt->perm)));
        json_object_set_new(item, method_lower(rt->method), op);
    }
    json_object_set_new(doc, "paths", paths);
    json_object_set_new(
        doc, "components",
        json_pack("{s:{s:{s:s, s:s}, s:{s:s, s:s, s:s}}, s:{s:{s:s, s:{s:{s:s, s:{s:{s:s}, s:{s:s}}}}}}}",
                  "securitySchemes", "bearer", "type", "http", "scheme", "bearer", "session",
                  "type", "apiKey", "in", "cookie", "name", "cvops_session", "schemas", "Error",
                  "type", "object", "properties", "error", "type", "object", "properties", "code",
                  "type", "string", "message", "type", "string"));
    json_object_set_new(doc, "security", json_pack("[{s:[]},{s:[]}]", "bearer", "session"));
    char *out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return out;
}

/* --- system.sleep -------------------------------------------------------------- */

/* A diagnostic job: sleeps `ms` milliseconds in `steps` steps (logging
 * each when `log_steps`); fails its first `fail_times` attempts (retryably
 * if `retryable`); first holds a write transaction open for `hold_write_ms`
 * (what a long import does: on SQLite it blocks every other writer, the
 * lease renewal included).
 * Used to test the queue end to end and to measure it. */
static int sleep_job(job_ctx *j, err *e)
{
    json_t *p = job_payload(j);
    int64_t ms = 0, steps = 10, fail_times = 0, hold = 0;
    bool retryable = true, log_steps = false;
    if (jv_bool(p, "log_steps", JV_OPTIONAL, &log_steps, e) ||
        jv_i64(p, "ms", JV_OPTIONAL, 0, 3600000, &ms, e) ||
        jv_i64(p, "steps", JV_OPTIONAL, 1, 10000, &steps, e) ||
        jv_i64(p, "fail_times", JV_OPTIONAL, 0, 100, &fail_times, e) ||
        jv_bool(p, "retryable", JV_OPTIONAL, &retryable, e) ||
        jv_i64(p, "hold_write_ms", JV_OPTIONAL, 0, 60000, &hold, e))
        return -1;
    if (hold > 0) {
        db_conn *c = db_get(job_db(j), e);
        if (!c)
            return -1;
        if (db_begin(c, e)) {
            db_put(c);
            return -1;
        }
        struct timespec ts = {hold / 1000, (hold % 1000) * 1000000};
        nanosleep(&ts, NULL);
        int rc = db_commit(c, e);
        db_put(c);
        if (rc)
            return -1;
    }
    if (job_attempt(j) <= fail_times)
        return err_set(e, retryable ? ERR_UNAVAILABLE : ERR_INVALID,
                       "planned failure %d of %lld", job_attempt(j), (long long)fail_times);
    for (int64_t i = 0; i < steps; i++) {
        if (job_should_stop(j))
            return err_set(e, ERR_UNAVAILABLE, "stopped at step %lld", (long long)i);
        int64_t ns = ms * 1000000 / steps;
        struct timespec ts = {ns / 1000000000, ns % 1000000000};
        nanosleep(&ts, NULL);
        job_progress(j, (double)(i + 1) / (double)steps, "step %lld of %lld", (long long)(i + 1),
                     (long long)steps);
        if (log_steps)
            job_log(j, "step %lld of %lld done", (long long)(i + 1), (long long)steps);
    }
    job_set_result(j, json_pack("{s:I, s:I}", "slept_ms", (json_int_t)ms, "attempt",
                                (json_int_t)job_attempt(j)));
    return 0;
}

const job_kind system_job_kinds[] = {
    {"system.sleep", sleep_job, "sleep for a while (diagnostics and tests)", true, 0},
    {NULL, NULL, NULL, false, 0},
};
