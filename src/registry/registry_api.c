/*
 * registry_api.c - the HTTP side of the model registry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "files/files.h"
#include "registry/registry.h"
#include "webhook/webhook.h"

typedef int (*reg_writer)(db_conn *c, int64_t org, int64_t id, jw *w, err *e);

/* Writes an object after an operation that succeeded, or fails. */
static int reply(http_req *r, db_conn *c, int rc, int status, reg_writer fn, int64_t id, err *e)
{
    if (rc == 0) {
        jw w;
        http_json_begin(r, status, &w);
        rc = fn(c, r->who.org_id, id, &w, e);
    }
    db_put(c);
    return rc ? http_fail_err(r, e) : 0;
}

static void announce(http_req *r, db_conn *c, int64_t version)
{
    char *payload = reg_version_event(c, version);
    int n = 0;
    err e;
    if (payload && webhook_emit(c, r->who.org_id, "model_version.published", payload, &n, &e) == 0 && n)
        jobs_runner_poke(APP(r)->jobs);
    free(payload);
}

static int models_list(http_req *r)
{
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = reg_model_list(c, r->who.org_id, http_query(r, "q"), &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int models_create(http_req *r)
{
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int64_t id = 0;
    int rc = reg_model_create(c, r->who.org_id, r->who.user_id, r->json, &id, &e);
    return reply(r, c, rc, 201, reg_model_write, id, &e);
}

static int models_get(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    return reply(r, c, 0, 200, reg_model_write, id, &e);
}

static int models_update(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = reg_model_update(c, r->who.org_id, id, r->json, &e);
    return reply(r, c, rc, 200, reg_model_write, id, &e);
}

static int models_delete(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = reg_model_delete(c, r->who.org_id, id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    return app_reply_deleted(r, id);
}

static int versions_list(http_req *r)
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
    int rc = reg_version_list(c, r->who.org_id, id, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int versions_create(http_req *r)
{
    int64_t model;
    if (http_param_id(r, "id", &model))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int64_t id = 0;
    int rc = reg_version_create(c, r->who.org_id, r->who.user_id, model, r->json, &id, &e);
    if (rc == 0)
        announce(r, c, id);
    return reply(r, c, rc, 201, reg_version_write, id, &e);
}

static int version_by_ref(http_req *r)
{
    int64_t model, id = 0;
    if (http_param_id(r, "id", &model))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = reg_version_resolve(c, r->who.org_id, model, http_param(r, "ref"), &id, &e);
    return reply(r, c, rc, 200, reg_version_write, id, &e);
}

static int version_get(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    return reply(r, c, 0, 200, reg_version_write, id, &e);
}

static int version_update(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = reg_version_update(c, r->who.org_id, id, r->json, &e);
    return reply(r, c, rc, 200, reg_version_write, id, &e);
}

/* PUT .../file?path=P : a file of the version, streamed */
typedef struct {
    blob_writer *w;
} file_up;

static void file_up_cleanup(void *p)
{
    file_up *u = p;
    if (u->w)
        blob_writer_abort(u->w);
}

static int file_data(http_req *r, const char *data, size_t n)
{
    file_up *u = r->ctx;
    err e;
    if (!u) {
        u = arena_zalloc(r->arena, sizeof *u);
        r->ctx = u;
        http_on_cleanup(r, file_up_cleanup, u);
        u->w = blob_writer_new(APP(r)->blobs, &e);
        if (!u->w)
            return http_fail_err(r, &e), -1;
    }
    if (blob_writer_write(u->w, data, n, &e))
        return http_fail_err(r, &e), -1;
    return 0;
}

static int file_put(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    const char *path = http_query(r, "path");
    if (!path)
        return http_fail(r, ERR_INVALID, "give the file's path in the version: ?path=model.safetensors");
    file_up *u = r->ctx;
    if (!u || !u->w)
        return http_fail(r, ERR_INVALID, "the upload is empty");
    err e;
    blob_ref ref;
    blob_writer *w = u->w;
    u->w = NULL;
    if (blob_writer_commit(w, NULL, &ref, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = files_ref(c, r->who.org_id, ref.sha, ref.size, &e);
    if (rc == 0)
        rc = reg_version_file_add(c, r->who.org_id, id, path, ref.sha, ref.size, &e);
    return reply(r, c, rc, 200, reg_version_write, id, &e);
}

static int file_get(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    const char *path = http_query(r, "path");
    if (!path)
        return http_fail(r, ERR_INVALID, "give the file's path: ?path=model.safetensors");
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    char sha[65];
    int64_t size;
    int rc = reg_version_file(c, r->who.org_id, id, path, sha, &size, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    const char *base = strrchr(path, '/');
    return app_send_blob(r, sha, size, "application/octet-stream", base ? base + 1 : path);
}

static int alias_put(http_req *r)
{
    static const char *const fields[] = {"version", "version_id", NULL};
    int64_t model, number = 0, vid = 0;
    err e;
    if (http_param_id(r, "id", &model))
        return 0;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_i64(r->json, "version", JV_OPTIONAL, 1, INT32_MAX, &number, &e) ||
        jv_i64(r->json, "version_id", JV_OPTIONAL, 1, INT64_MAX, &vid, &e))
        return http_fail_err(r, &e);
    if (!number == !vid)
        return http_fail(r, ERR_INVALID, "give 'version' (the number) or 'version_id', one of them");
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = 0;
    if (number) {
        char ref[24];
        snprintf(ref, sizeof ref, "%lld", (long long)number);
        rc = reg_version_resolve(c, r->who.org_id, model, ref, &vid, &e);
    }
    if (rc == 0)
        rc = reg_alias_set(c, r->who.org_id, r->who.user_id, model, http_param(r, "alias"), vid, &e);
    return reply(r, c, rc, 200, reg_model_write, model, &e);
}

static int alias_delete(http_req *r)
{
    int64_t model;
    if (http_param_id(r, "id", &model))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = reg_alias_delete(c, r->who.org_id, r->who.user_id, model, http_param(r, "alias"), &e);
    return reply(r, c, rc, 200, reg_model_write, model, &e);
}

static int alias_log(http_req *r)
{
    int64_t model;
    if (http_param_id(r, "id", &model))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = reg_alias_log(c, r->who.org_id, model, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int publish(http_req *r)
{
    static const char *const fields[] = {"model", "model_id", "files", "labels", "framework", NULL};
    int64_t exp, model_id = 0;
    const char *model = NULL, *framework = NULL;
    json_t *files = NULL, *labels = NULL;
    err e;
    if (http_param_id(r, "id", &exp))
        return 0;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_str(r->json, "model", JV_OPTIONAL, 128, &model, &e) ||
        jv_i64(r->json, "model_id", JV_OPTIONAL, 1, INT64_MAX, &model_id, &e) ||
        jv_arr(r->json, "files", JV_OPTIONAL, REG_FILES_MAX, &files, &e) ||
        jv_arr(r->json, "labels", JV_OPTIONAL, 100000, &labels, &e) ||
        jv_str(r->json, "framework", JV_OPTIONAL, 32, &framework, &e))
        return http_fail_err(r, &e);
    if (!model == !model_id)
        return http_fail(r, ERR_INVALID,
                         "name the model: 'model' (created if new) or 'model_id', one of them");
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t vid = 0;
    int rc = reg_publish_experiment(c, r->who.org_id, r->who.user_id, exp, model, model_id, files,
                                    labels, framework, &vid, &e);
    if (rc == 0)
        announce(r, c, vid);
    return reply(r, c, rc, 201, reg_version_write, vid, &e);
}

#define VERSION_SCHEMA "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"model\":{\"type\":\"string\"},\"version\":{\"type\":\"integer\"},\"framework\":{\"type\":\"string\"},\"labels\":{\"type\":\"array\"},\"lineage\":{\"type\":\"object\"},\"files\":{\"type\":\"array\"},\"aliases\":{\"type\":\"array\"}}}"

const http_route registry_routes[] = {
    {HTTP_GET, "/api/v1/models", models_list, PERM_READ, BODY_NONE, NULL,
     "Models with version counts and aliases (?q= name filter)", "registry"},
    {HTTP_POST, "/api/v1/models", models_create, PERM_WRITE, BODY_JSON, NULL,
     "Create a model: name, description, task_type, tags", "registry"},
    {HTTP_GET, "/api/v1/models/{id}", models_get, PERM_READ, BODY_NONE, NULL, "One model", "registry"},
    {HTTP_PATCH, "/api/v1/models/{id}", models_update, PERM_WRITE, BODY_JSON, NULL,
     "Rename or describe a model", "registry"},
    {HTTP_DELETE, "/api/v1/models/{id}", models_delete, PERM_ADMIN, BODY_NONE, NULL,
     "Delete a model and all its versions", "registry"},
    {HTTP_GET, "/api/v1/models/{id}/versions", versions_list, PERM_READ, BODY_NONE, NULL,
     "A model's versions, newest first, with files, labels, lineage, aliases", "registry"},
    {HTTP_POST, "/api/v1/models/{id}/versions", versions_create, PERM_WRITE, BODY_JSON, NULL,
     "A new version from uploaded files: framework, labels, params, files [{path, sha256}]",
     "registry", NULL, VERSION_SCHEMA},
    {HTTP_GET, "/api/v1/models/{id}/versions/{ref}", version_by_ref, PERM_READ, BODY_NONE, NULL,
     "A version by number or alias (\"3\", \"champion\")", "registry", NULL, VERSION_SCHEMA},
    {HTTP_GET, "/api/v1/model-versions/{id}", version_get, PERM_READ, BODY_NONE, NULL,
     "One model version", "registry", NULL, VERSION_SCHEMA},
    {HTTP_PATCH, "/api/v1/model-versions/{id}", version_update, PERM_WRITE, BODY_JSON, NULL,
     "Change a version's description or status (ready, candidate, archived)", "registry"},
    {HTTP_PUT, "/api/v1/model-versions/{id}/file", file_put, PERM_WRITE, BODY_STREAM, file_data,
     "Upload one file of a version (?path=), streamed", "registry"},
    {HTTP_GET, "/api/v1/model-versions/{id}/file", file_get, PERM_READ, BODY_NONE, NULL,
     "Download one file of a version (?path=), with Range", "registry"},
    {HTTP_PUT, "/api/v1/models/{id}/aliases/{alias}", alias_put, PERM_WRITE, BODY_JSON, NULL,
     "Point an alias at a version (atomic, logged): {\"version\": 3}", "registry"},
    {HTTP_DELETE, "/api/v1/models/{id}/aliases/{alias}", alias_delete, PERM_WRITE, BODY_NONE, NULL,
     "Remove an alias (logged)", "registry"},
    {HTTP_GET, "/api/v1/models/{id}/alias-log", alias_log, PERM_READ, BODY_NONE, NULL,
     "Every alias move, newest first", "registry"},
    {HTTP_POST, "/api/v1/experiments/{id}/publish", publish, PERM_WRITE, BODY_JSON, NULL,
     "Publish an experiment as a new model version: its artifacts become the files, its datasets and parameters the lineage",
     "registry", NULL, VERSION_SCHEMA},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
