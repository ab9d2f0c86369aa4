/*
 * experiment_api.c - HTTP handlers for projects, experiments (the table,
 * the record, status, parameters, datasets) and comparisons. Thin: parse,
 * call experiment.h, write JSON. The logging endpoints are in
 * tracking_api.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "experiment/experiment.h"
#include "webhook/webhook.h"

/* --- projects ------------------------------------------------------------- */

static int project_reply(http_req *r, db_conn *c, int status, int64_t id)
{
    err e;
    jw w;
    http_json_begin(r, status, &w);
    if (exp_project_write(c, r->who.org_id, id, &w, &e))
        return http_fail_err(r, &e);
    return 0;
}

static int projects_list(http_req *r)
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
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = exp_project_list(c, r->who.org_id, http_query(r, "q"), limit, cursor, &w, &next, &e);
    jw_key(&w, "next_cursor");
    if (next)
        jw_int(&w, next);
    else
        jw_null(&w);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int projects_create(http_req *r)
{
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int64_t id;
    int rc = exp_project_create(c, r->who.org_id, r->who.user_id, r->json, &id, &e);
    if (rc == 0)
        project_reply(r, c, 201, id);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int projects_get(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    project_reply(r, c, 200, id);
    db_put(c);
    return 0;
}

static int projects_update(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = exp_project_update(c, r->who.org_id, id, r->json, &e);
    if (rc == 0)
        project_reply(r, c, 200, id);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int projects_delete(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = exp_project_delete(c, r->who.org_id, id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    http_send(r, 204, "application/json", "", 0);
    return 0;
}

static int projects_keys(http_req *r)
{
    return app_reply_by_id(r, exp_project_keys);
}

static int members_do(http_req *r, bool add)
{
    int64_t id, user;
    if (http_param_id(r, "id", &id) || http_param_id(r, "user_id", &user))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = add ? exp_project_member_add(c, r->who.org_id, id, user, &e)
                 : exp_project_member_remove(c, r->who.org_id, id, user, &e);
    if (rc == 0)
        project_reply(r, c, 200, id);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int members_add(http_req *r) { return members_do(r, true); }
static int members_remove(http_req *r) { return members_do(r, false); }

/* --- experiments ------------------------------------------------------------- */

static int exp_reply(http_req *r, db_conn *c, int status, int64_t id)
{
    err e;
    jw w;
    http_json_begin(r, status, &w);
    if (exp_write(c, r->who.org_id, id, &w, &e))
        return http_fail_err(r, &e);
    return 0;
}

static int experiments_list(http_req *r)
{
    int64_t project, limit;
    if (http_param_id(r, "id", &project) || http_query_i64(r, "limit", 50, 1, 500, &limit))
        return 0;
    exp_list_query q = {
        .project = project,
        .status = http_query(r, "status"),
        .tag = http_query(r, "tag"),
        .q = http_query(r, "q"),
        .order_by = http_query(r, "order_by"),
        .params = http_query(r, "params"),
        .metrics = http_query(r, "metrics"),
        .limit = limit,
        .cursor = http_query(r, "cursor"),
    };
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int64_t one;
    int rc = db_one_i64(c, &e, &one, "SELECT 1 FROM project WHERE id = $1 AND org_id = $2",
                        DBI(project), DBI(r->who.org_id));
    if (rc && e.code == ERR_NOT_FOUND)
        err_set(&e, ERR_NOT_FOUND, "project %lld does not exist in this organization",
                (long long)project);
    if (rc == 0)
        rc = exp_list(c, r->who.org_id, &q, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int experiments_create(http_req *r)
{
    int64_t project;
    if (http_param_id(r, "id", &project))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int64_t id;
    int rc = exp_create(c, r->who.org_id, r->who.user_id, project, r->json, &id, &e);
    if (rc == 0)
        exp_reply(r, c, 201, id);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int experiments_get(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    exp_reply(r, c, 200, id);
    db_put(c);
    return 0;
}

static int experiments_update(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = exp_update(c, r->who.org_id, id, r->json, &e);
    if (rc == 0)
        exp_reply(r, c, 200, id);
    /* a status change is announced to webhooks (experiment.status) */
    const char *status = json_string_value(json_object_get(r->json, "status"));
    if (rc == 0 && status) {
        char payload[200];
        int n = 0;
        err we;
        snprintf(payload, sizeof payload, "{\"experiment_id\":%lld,\"status\":\"%s\"}",
                 (long long)id, status);
        if (webhook_emit(c, r->who.org_id, "experiment.status", payload, &n, &we) == 0 && n)
            jobs_runner_poke(APP(r)->jobs);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int experiments_delete(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = exp_delete(c, r->who.org_id, id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    http_send(r, 204, "application/json", "", 0);
    return 0;
}

static int params_set(http_req *r)
{
    static const char *const fields[] = {"params", NULL};
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    err e;
    json_t *params = NULL;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_obj(r->json, "params", JV_REQUIRED, &params, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = exp_params_set(c, r->who.org_id, id, params, &e);
    if (rc == 0)
        exp_reply(r, c, 200, id);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int dataset_set(http_req *r)
{
    static const char *const fields[] = {"dataset_version_id", NULL};
    int64_t id, version = 0;
    if (http_param_id(r, "id", &id))
        return 0;
    err e;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_i64(r->json, "dataset_version_id", JV_REQUIRED, 1, INT64_MAX, &version, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = exp_dataset_set(c, r->who.org_id, id, http_param(r, "alias"), version, &e);
    if (rc == 0)
        exp_reply(r, c, 200, id);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int dataset_remove(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = exp_dataset_remove(c, r->who.org_id, id, http_param(r, "alias"), &e);
    if (rc == 0)
        exp_reply(r, c, 200, id);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

/* --- comparison ---------------------------------------------------------------- */

static int compare_run(http_req *r, const int64_t *ids, size_t n, const char *const *metrics,
                       size_t nm, int64_t points)
{
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = exp_compare(c, r->who.org_id, ids, n, metrics, nm, (size_t)points, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

/* GET ...?ids=1,2,3&metrics=loss,acc&points=1000 */
static int compare_get(http_req *r)
{
    int64_t points;
    if (http_query_i64(r, "points", 1000, 2, EXP_VIEW_MAX, &points))
        return 0;
    const char *ids_q = http_query(r, "ids");
    if (!ids_q || !*ids_q)
        return http_fail(r, ERR_INVALID, "give the experiments to compare: ?ids=12,13,14");
    int64_t ids[EXP_COMPARE_MAX];
    size_t n = 0;
    char *copy = arena_strdup(r->arena, ids_q);
    for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        err e;
        if (n == EXP_COMPARE_MAX)
            return http_fail(r, ERR_INVALID, "compare at most %d experiments at once",
                             EXP_COMPARE_MAX);
        if (parse_i64("experiment id", t, 1, INT64_MAX, &ids[n++], &e) != 0)
            return http_fail(r, ERR_INVALID, "ids: %s", e.msg);
    }
    const char *metrics[64];
    size_t nm = 0;
    const char *mq = http_query(r, "metrics");
    if (mq && *mq) {
        char *mc = arena_strdup(r->arena, mq);
        for (char *save = NULL, *t = strtok_r(mc, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (nm == ARRAY_LEN(metrics))
                return http_fail(r, ERR_INVALID, "compare at most %zu metrics at once",
                                 ARRAY_LEN(metrics));
            metrics[nm++] = t;
        }
    }
    return compare_run(r, ids, n, metrics, nm, points);
}

/* POST {"experiments": [ids], "metrics": [names], "points": N} */
static int compare_post(http_req *r)
{
    static const char *const fields[] = {"experiments", "metrics", "points", NULL};
    err e;
    json_t *ids_j = NULL, *m_j = NULL;
    int64_t points = 1000;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_arr(r->json, "experiments", JV_REQUIRED, EXP_COMPARE_MAX, &ids_j, &e) ||
        jv_arr(r->json, "metrics", JV_OPTIONAL, 64, &m_j, &e) ||
        jv_i64(r->json, "points", JV_OPTIONAL, 2, EXP_VIEW_MAX, &points, &e))
        return http_fail_err(r, &e);
    int64_t ids[EXP_COMPARE_MAX];
    const char *metrics[64];
    size_t n = json_array_size(ids_j), nm = json_array_size(m_j);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(ids_j, i);
        if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return http_fail(r, ERR_INVALID, "experiments[%zu] must be an experiment id", i);
        ids[i] = json_integer_value(v);
    }
    for (size_t i = 0; i < nm; i++) {
        metrics[i] = json_string_value(json_array_get(m_j, i));
        if (!metrics[i])
            return http_fail(r, ERR_INVALID, "metrics[%zu] must be a metric name", i);
    }
    return compare_run(r, ids, n, metrics, nm, points);
}

#define PROJECT_SCHEMA                                                                             \
    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"name\":{\"type\":"      \
    "\"string\"},\"description\":{\"type\":\"string\"},\"experiments\":{\"type\":\"integer\"},"    \
    "\"members\":{\"type\":\"array\"}}}"
#define EXPERIMENT_SCHEMA                                                                          \
    "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"project_id\":{\"type\":" \
    "\"integer\"},\"name\":{\"type\":\"string\"},\"status\":{\"type\":\"string\",\"enum\":["       \
    "\"created\",\"queued\",\"running\",\"succeeded\",\"failed\",\"canceled\"]},\"tags\":{"        \
    "\"type\":\"array\"},\"params\":{\"type\":\"object\"},\"datasets\":{\"type\":\"object\"},"     \
    "\"metrics\":{\"type\":\"array\"},\"base_model_version_id\":{\"type\":\"integer\"}}}"
#define EXPERIMENT_BODY                                                                            \
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},\"description\":{"        \
    "\"type\":\"string\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"          \
    "\"params\":{\"type\":\"object\"},\"status\":{\"type\":\"string\"},\"command\":{\"type\":"     \
    "\"string\"},\"host\":{\"type\":\"string\"},\"datasets\":{\"type\":\"object\"},"               \
    "\"base_model_version_id\":{\"type\":\"integer\"}}}"

const http_route experiment_routes[] = {
    {HTTP_GET, "/api/v1/projects", projects_list, PERM_READ, BODY_NONE, NULL,
     "List projects, newest first (?q=name substring&limit=&cursor=)", "experiments", NULL, NULL,
     0},
    {HTTP_POST, "/api/v1/projects", projects_create, PERM_WRITE, BODY_JSON, NULL,
     "Create a project {name, description, members: [user ids]}", "experiments",
     "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\"},"
     "\"description\":{\"type\":\"string\"},\"members\":{\"type\":\"array\"}}}",
     PROJECT_SCHEMA, 0},
    {HTTP_GET, "/api/v1/projects/{id}", projects_get, PERM_READ, BODY_NONE, NULL,
     "One project with its members", "experiments", NULL, PROJECT_SCHEMA, 0},
    {HTTP_GET, "/api/v1/projects/{id}/keys", projects_keys, PERM_READ, BODY_NONE, NULL,
     "Parameter names, metric names and tags of the project's newest 1,000 experiments (the "
     "experiment table's column and filter choices)",
     "experiments", NULL, NULL, 0},
    {HTTP_PATCH, "/api/v1/projects/{id}", projects_update, PERM_WRITE, BODY_JSON, NULL,
     "Rename a project or change its description", "experiments", NULL, PROJECT_SCHEMA, 0},
    {HTTP_DELETE, "/api/v1/projects/{id}", projects_delete, PERM_WRITE, BODY_NONE, NULL,
     "Delete a project and all its experiments", "experiments", NULL, NULL, 0},
    {HTTP_PUT, "/api/v1/projects/{id}/members/{user_id}", members_add, PERM_WRITE, BODY_NONE,
     NULL, "Add a member of the organization to the project", "experiments", NULL,
     PROJECT_SCHEMA, 0},
    {HTTP_DELETE, "/api/v1/projects/{id}/members/{user_id}", members_remove, PERM_WRITE,
     BODY_NONE, NULL, "Remove a member from the project", "experiments", NULL, PROJECT_SCHEMA, 0},
    {HTTP_GET, "/api/v1/projects/{id}/experiments", experiments_list, PERM_READ, BODY_NONE, NULL,
     "The experiment table: ?status=&tag=&q=&order_by=(-)created|name|status|updated|started|"
     "finished|param:KEY|metric:NAME&params=k1,k2&metrics=m1,m2&limit=&cursor=",
     "experiments", NULL, NULL, 0},
    {HTTP_POST, "/api/v1/projects/{id}/experiments", experiments_create, PERM_WRITE, BODY_JSON,
     NULL, "Create an experiment in the project", "experiments", EXPERIMENT_BODY,
     EXPERIMENT_SCHEMA, 0},
    /* before /experiments/{id}: "compare" is not an id */
    {HTTP_GET, "/api/v1/experiments/compare", compare_get, PERM_READ, BODY_NONE, NULL,
     "Compare experiments: parameter differences and metrics aligned by step "
     "(?ids=1,2&metrics=loss,acc&points=1000)",
     "experiments", NULL, NULL, 0},
    {HTTP_POST, "/api/v1/experiments/compare", compare_post, PERM_READ, BODY_JSON, NULL,
     "Compare experiments {experiments: [ids], metrics: [names], points: N}", "experiments",
     NULL, NULL, 0},
    {HTTP_GET, "/api/v1/experiments/{id}", experiments_get, PERM_READ, BODY_NONE, NULL,
     "One experiment: status, times, tags, params, datasets, latest metrics", "experiments",
     NULL, EXPERIMENT_SCHEMA, 0, .quick = true},
    {HTTP_PATCH, "/api/v1/experiments/{id}", experiments_update, PERM_WRITE, BODY_JSON, NULL,
     "Change an experiment: name, description, tags, status (stamps its time), command, host, "
     "base_model_version_id",
     "experiments", EXPERIMENT_BODY, EXPERIMENT_SCHEMA, 0},
    {HTTP_DELETE, "/api/v1/experiments/{id}", experiments_delete, PERM_WRITE, BODY_NONE, NULL,
     "Delete an experiment with its metrics, logs and artifact list", "experiments", NULL, NULL,
     0},
    {HTTP_POST, "/api/v1/experiments/{id}/params", params_set, PERM_WRITE, BODY_JSON, NULL,
     "Set parameters {params: {key: value}} (merged; null removes a key)", "experiments",
     "{\"type\":\"object\",\"required\":[\"params\"],\"properties\":{\"params\":{\"type\":"
     "\"object\"}}}",
     EXPERIMENT_SCHEMA, 0},
    {HTTP_PUT, "/api/v1/experiments/{id}/datasets/{alias}", dataset_set, PERM_WRITE, BODY_JSON,
     NULL, "Attach a dataset version under an alias (train, val, test, ...)", "experiments",
     "{\"type\":\"object\",\"required\":[\"dataset_version_id\"],\"properties\":{"
     "\"dataset_version_id\":{\"type\":\"integer\"}}}",
     EXPERIMENT_SCHEMA, 0},
    {HTTP_DELETE, "/api/v1/experiments/{id}/datasets/{alias}", dataset_remove, PERM_WRITE,
     BODY_NONE, NULL, "Detach a dataset alias", "experiments", NULL, EXPERIMENT_SCHEMA, 0},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
