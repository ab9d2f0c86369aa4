/*
 * jobs_api.c - the HTTP side of jobs: list, show, submit (diagnostic kinds),
 * cancel, retry, and the log (with long polling).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "base/jsonv.h"
#include "base/util.h"

static int job_reply(http_req *r, db_conn *c, int status, int64_t id)
{
    err e;
    jw w;
    http_json_begin(r, status, &w);
    if (jobs_write(c, r->who.org_id, id, &w, &e))
        return http_fail_err(r, &e);
    return 0;
}

static int jobs_get(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    job_reply(r, c, 200, id);
    db_put(c);
    return 0;
}

static int jobs_index(http_req *r)
{
    int64_t limit, cursor;
    if (http_query_i64(r, "limit", 50, 1, 1000, &limit) ||
        http_query_i64(r, "cursor", 0, 0, INT64_MAX, &cursor))
        return 0;
    const char *state = http_query(r, "state");
    const char *kind = http_query(r, "kind");
    if (state && *state && !jobs_state_valid(state))
        return http_fail(r, ERR_INVALID,
                         "state '%.40s' is not one of queued, running, succeeded, failed, canceled",
                         state);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    int64_t next = 0;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = jobs_list(c, r->who.org_id, state, kind, limit, cursor, &w, &next, &e);
    jw_key(&w, "next_cursor");
    if (next)
        jw_int(&w, next);
    else
        jw_null(&w);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int jobs_create(http_req *r)
{
    static const char *const fields[] = {"kind", "payload", "max_attempts", "requires", NULL};
    err e;
    const char *kind = NULL, *requires = NULL;
    json_t *payload = NULL;
    int64_t max_attempts = 3;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_str(r->json, "kind", JV_REQUIRED, 64, &kind, &e) ||
        jv_obj(r->json, "payload", JV_OPTIONAL, &payload, &e) ||
        jv_i64(r->json, "max_attempts", JV_OPTIONAL, 1, 20, &max_attempts, &e) ||
        jv_str(r->json, "requires", JV_OPTIONAL, JOBS_REQUIRES_MAX, &requires, &e))
        return http_fail_err(r, &e);
    jobs_label req[JOBS_LABELS_MAX];
    int nreq = 0;
    if (jobs_labels_parse(requires, req, JOBS_LABELS_MAX, &nreq, &e)) {
        err_prefix(&e, "requires: ");
        return http_fail_err(r, &e);
    }
    const job_kind *k = NULL;
    for (const job_kind *x = app_job_kinds(); x->name; x++)
        if (strcmp(x->name, kind) == 0)
            k = x;
    if (!k || !k->user_creatable)
        return http_fail(r, ERR_INVALID,
                         "job kind '%.64s' cannot be submitted directly; jobs are started by the "
                         "endpoints of the feature they belong to",
                         kind);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    char *pj = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    int64_t id;
    int rc = db_begin(c, &e);
    if (rc == 0)
        rc = jobs_submit(c, r->who.org_id, kind, pj ? pj : "{}", r->who.user_id,
                         (int)max_attempts, &id, &e);
    if (rc == 0)
        rc = jobs_set_requires(c, id, requires, &e);
    if (rc == 0)
        rc = db_commit(c, &e);
    else if (db_in_tx(c))
        db_rollback(c);
    free(pj);
    if (rc == 0) {
        jobs_runner_poke(APP(r)->jobs);
        job_reply(r, c, 202, id);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int jobs_do(http_req *r, int (*op)(db_conn *, int64_t, int64_t, err *))
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = op(c, r->who.org_id, id, &e);
    if (rc == 0) {
        jobs_runner_poke(APP(r)->jobs);
        job_reply(r, c, 200, id);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int jobs_cancel_h(http_req *r)
{
    int rc = jobs_do(r, jobs_cancel);
    /* a queued job is canceled at once: announce it like a worker would */
    if (!r->failed && r->out.p && strstr(r->out.p, "\"state\":\"canceled\"")) {
        int64_t id;
        if (http_param_id(r, "id", &id) == 0) {
            const char *k = strstr(r->out.p, "\"kind\":\"");
            char kind[64] = "";
            if (k)
                sscanf(k + 8, "%63[^\"]", kind);
            app_job_ended(APP(r), r->who.org_id, id, kind, "canceled");
        }
    }
    return rc;
}
static int jobs_retry_h(http_req *r) { return jobs_do(r, jobs_retry); }

/* GET .../log?after=SEQ&limit=N&wait=S: lines after SEQ; with wait, holds the
 * request up to S seconds until a line arrives or the job ends. */
static int jobs_log(http_req *r)
{
    int64_t id, after, limit, wait;
    if (http_param_id(r, "id", &id) || http_query_i64(r, "after", 0, 0, INT64_MAX, &after) ||
        http_query_i64(r, "limit", 1000, 1, 10000, &limit) ||
        http_query_i64(r, "wait", 0, 0, 60, &wait))
        return 0;
    int64_t deadline = time_mono_ns() + wait * 1000000000LL;
    for (;;) {
        db_conn *c = app_db(r);
        if (!c)
            return 0;
        err e;
        jw w;
        bool finished = false;
        int64_t last = after;
        http_json_begin(r, 200, &w);
        jw_obj(&w);
        jw_key(&w, "items");
        int rc = jobs_log_read(c, r->who.org_id, id, after, limit, &w, &finished, &last, &e);
        db_put(c);
        if (rc)
            return http_fail_err(r, &e);
        jw_kint(&w, "next_after", last);
        jw_kbool(&w, "finished", finished);
        jw_obj_end(&w);
        if (last > after || finished || time_mono_ns() >= deadline ||
            http_stopping(r))
            return 0;
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
    }
}

#define JOB_SCHEMA "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"kind\":{\"type\":\"string\"},\"state\":{\"type\":\"string\",\"enum\":[\"queued\",\"running\",\"succeeded\",\"failed\",\"canceled\"]},\"progress\":{\"type\":\"number\"},\"message\":{\"type\":\"string\"},\"error\":{\"type\":\"string\"},\"attempts\":{\"type\":\"integer\"},\"result\":{}}}"

const http_route jobs_routes[] = {
    {HTTP_GET, "/api/v1/jobs", jobs_index, PERM_READ, BODY_NONE, NULL,
     "List jobs, newest first (?state=&kind=&limit=&cursor=)", "jobs", NULL, NULL, 0},
    {HTTP_POST, "/api/v1/jobs", jobs_create, PERM_ADMIN, BODY_JSON, NULL,
     "Submit a diagnostic job (kinds marked user-creatable, e.g. system.sleep)", "jobs",
     "{\"type\":\"object\",\"required\":[\"kind\"],\"properties\":{\"kind\":{\"type\":\"string\"},\"payload\":{\"type\":\"object\"},\"max_attempts\":{\"type\":\"integer\"},\"requires\":{\"type\":\"string\",\"description\":\"worker labels the job needs: gpu,mem=16G\"}}}",
     JOB_SCHEMA, 0},
    {HTTP_GET, "/api/v1/jobs/{id}", jobs_get, PERM_READ, BODY_NONE, NULL,
     "One job with its progress and result", "jobs", NULL, JOB_SCHEMA, 0, .quick = true},
    {HTTP_POST, "/api/v1/jobs/{id}/cancel", jobs_cancel_h, PERM_WRITE, BODY_NONE, NULL,
     "Cancel a queued job, or ask a running one to stop", "jobs", NULL, JOB_SCHEMA, 0},
    {HTTP_POST, "/api/v1/jobs/{id}/retry", jobs_retry_h, PERM_WRITE, BODY_NONE, NULL,
     "Run a failed or canceled job again", "jobs", NULL, JOB_SCHEMA, 0},
    {HTTP_GET, "/api/v1/jobs/{id}/log", jobs_log, PERM_READ, BODY_NONE, NULL,
     "A job's log lines after a sequence number (?after=&limit=&wait= seconds to long-poll)",
     "jobs", NULL, NULL, 0},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
