/*
 * webhook_api.c - the HTTP side of webhooks (admins only), the delivery job,
 * and the job.status event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "webhook/webhook.h"

/* events: "*" or an array of names, as stored: "a,b" */
static int read_events(json_t *doc, int required, char *out, size_t n, bool *given, err *e)
{
    json_t *v = json_object_get(doc, "events");
    *given = v != NULL;
    if (!v) {
        if (required)
            return err_set(e, ERR_INVALID, "field 'events' is required: \"*\" or a list");
        return 0;
    }
    if (json_is_string(v) && strcmp(json_string_value(v), "*") == 0) {
        snprintf(out, n, "*");
        return 0;
    }
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 16)
        return err_set(e, ERR_INVALID, "field 'events' must be \"*\" or a list of 1 to 16 event names");
    size_t k = 0;
    out[0] = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *s = json_string_value(json_array_get(v, i));
        if (!s || strchr(s, ','))
            return err_set(e, ERR_INVALID, "events[%zu] must be an event name", i);
        k += (size_t)snprintf(out + k, n - k, "%s%s", k ? "," : "", s);
        if (k >= n)
            return err_set(e, ERR_INVALID, "too many events");
    }
    return 0;
}

static int hooks_list(http_req *r)
{
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = webhook_list(c, r->who.org_id, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int hooks_create(http_req *r)
{
    static const char *const fields[] = {"url", "secret", "events", "description", NULL};
    err e;
    const char *url = NULL, *secret = NULL, *desc = NULL;
    char events[512];
    bool given;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_str(r->json, "url", JV_REQUIRED, 2000, &url, &e) ||
        jv_str(r->json, "secret", JV_REQUIRED, 256, &secret, &e) ||
        jv_str(r->json, "description", JV_OPTIONAL, 500, &desc, &e) ||
        read_events(r->json, JV_REQUIRED, events, sizeof events, &given, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t id;
    int rc = webhook_create(c, r->who.org_id, r->who.user_id, url, secret, events, desc, &id, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 201, &w);
        rc = webhook_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int hooks_get(http_req *r)
{
    return app_reply_by_id(r, webhook_write);
}

static int hooks_update(http_req *r)
{
    static const char *const fields[] = {"url", "secret", "events", "description", "active", NULL};
    err e;
    int64_t id;
    const char *url = NULL, *secret = NULL, *desc = NULL;
    char events[512];
    bool given, active = true;
    json_t *av = json_object_get(r->json, "active");
    if (http_param_id(r, "id", &id))
        return 0;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_str(r->json, "url", JV_OPTIONAL, 2000, &url, &e) ||
        jv_str(r->json, "secret", JV_OPTIONAL, 256, &secret, &e) ||
        jv_str(r->json, "description", JV_OPTIONAL, 500, &desc, &e) ||
        jv_bool(r->json, "active", JV_OPTIONAL, &active, &e) ||
        read_events(r->json, JV_OPTIONAL, events, sizeof events, &given, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = webhook_update(c, r->who.org_id, id, url, secret, given ? events : NULL, desc,
                            av ? (active ? 1 : 0) : -1, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 200, &w);
        rc = webhook_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int hooks_delete(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = webhook_delete(c, r->who.org_id, id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    return app_reply_deleted(r, id);
}

static int hooks_test(http_req *r)
{
    int64_t id, delivery;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = webhook_ping(c, r->who.org_id, id, &delivery, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jobs_runner_poke(APP(r)->jobs);
    jw w;
    http_json_begin(r, 202, &w);
    jw_obj(&w);
    jw_kint(&w, "delivery_id", delivery);
    jw_obj_end(&w);
    return 0;
}

static int hooks_deliveries(http_req *r)
{
    int64_t id, limit;
    if (http_param_id(r, "id", &id) || http_query_i64(r, "limit", 50, 1, 500, &limit))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = webhook_deliveries(c, r->who.org_id, id, limit, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

const http_route webhook_routes[] = {
    {HTTP_GET, "/api/v1/webhooks", hooks_list, PERM_ADMIN, BODY_NONE, NULL,
     "The organization's webhooks", "webhooks"},
    {HTTP_POST, "/api/v1/webhooks", hooks_create, PERM_ADMIN, BODY_JSON, NULL,
     "Register a webhook: url, secret (for the HMAC-SHA256 signature), events (\"*\" or a list)",
     "webhooks",
     "{\"type\":\"object\",\"required\":[\"url\",\"secret\",\"events\"],\"properties\":{\"url\":{\"type\":\"string\"},\"secret\":{\"type\":\"string\"},\"events\":{},\"description\":{\"type\":\"string\"}}}"},
    {HTTP_GET, "/api/v1/webhooks/{id}", hooks_get, PERM_ADMIN, BODY_NONE, NULL, "One webhook",
     "webhooks", .quick = true},
    {HTTP_PATCH, "/api/v1/webhooks/{id}", hooks_update, PERM_ADMIN, BODY_JSON, NULL,
     "Change a webhook (url, secret, events, description, active)", "webhooks"},
    {HTTP_DELETE, "/api/v1/webhooks/{id}", hooks_delete, PERM_ADMIN, BODY_NONE, NULL,
     "Delete a webhook", "webhooks"},
    {HTTP_POST, "/api/v1/webhooks/{id}/test", hooks_test, PERM_ADMIN, BODY_NONE, NULL,
     "Send a test delivery (event \"ping\")", "webhooks"},
    {HTTP_GET, "/api/v1/webhooks/{id}/deliveries", hooks_deliveries, PERM_ADMIN, BODY_NONE, NULL,
     "The delivery log, newest first: state, attempts, last status or error, duration", "webhooks"},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};

static int deliver_job(job_ctx *j, err *e)
{
    int64_t id;
    if (jv_i64(job_payload(j), "delivery_id", JV_REQUIRED, 1, INT64_MAX, &id, e))
        return -1;
    app *a = job_app(j);
    db_conn *c = db_get(job_db(j), e);
    if (!c)
        return -1;
    int rc = webhook_deliver(c, id, a->cfg.webhooks_allow_private, job_attempt(j), e);
    db_put(c);
    if (rc != 0) {
        job_log(j, "attempt %d: %s", job_attempt(j), e->msg);
        if (e->code == ERR_UNAVAILABLE && job_attempt(j) >= 6) {
            /* the last try: mark the delivery failed for good */
            db_conn *c2 = db_get(job_db(j), e);
            if (c2) {
                err ue;
                db_run(c2, &ue, "UPDATE webhook_delivery SET state = 'failed' WHERE id = $1", DBI(id));
                db_put(c2);
            }
        } else if (e->code != ERR_UNAVAILABLE) {
            db_conn *c2 = db_get(job_db(j), e);
            if (c2) {
                err ue;
                db_run(c2, &ue, "UPDATE webhook_delivery SET state = 'failed' WHERE id = $1", DBI(id));
                db_put(c2);
            }
        }
    }
    return rc;
}

const job_kind webhook_job_kinds[] = {
    {"webhook.deliver", deliver_job, "deliver one webhook event", false, 6},
    {NULL, NULL, NULL, false, 0},
};

void app_job_ended(void *appp, int64_t org, int64_t job, const char *kind, const char *state)
{
    app *a = appp;
    deploy_job_ended(appp, org, job, kind, state); /* continuous deployment */
    if (str_has_prefix(kind, "webhook."))
        return; /* deliveries do not announce themselves */
    err e;
    db_conn *c = db_get(a->db, &e);
    if (!c)
        return;
    char payload[256];
    snprintf(payload, sizeof payload, "{\"job_id\":%lld,\"kind\":\"%s\",\"state\":\"%s\"}",
             (long long)job, kind, state);
    int n;
    webhook_emit(c, org, "job.status", payload, &n, &e);
    db_put(c);
    if (n)
        jobs_runner_poke(a->jobs);
}
