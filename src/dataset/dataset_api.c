/*
 * dataset_api.c - the HTTP side of datasets: thin handlers that parse the
 * request, call dataset.h, and write JSON; the route table and the job
 * kinds (dataset.import, dataset.export).
 *
 * Permissions: reading needs PERM_READ; annotations (per asset and bulk)
 * PERM_ANNOTATE, so labelers can annotate; everything else PERM_WRITE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "dataset/dataset.h"

/* One pattern for the handlers: a connection, a call, a JSON answer. */
typedef int (*id_writer)(db_conn *c, int64_t org, int64_t id, jw *w, err *e);

static int read_by_id(http_req *r, const char *param, id_writer fn)
{
    int64_t id;
    if (http_param_id(r, param, &id))
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

static void deleted(http_req *r, int64_t id) { app_reply_deleted(r, id); }

static int body_check(http_req *r, const char *const *fields, err *e)
{
    return jv_is_obj(r->json, e) || jv_only(r->json, fields, e);
}

/* --- datasets ---------------------------------------------------------------------------- */

static int ds_list(http_req *r)
{
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = dataset_list(c, r->who.org_id, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int ds_create(http_req *r)
{
    static const char *const fields[] = {"name", "description", "datalake", "datalake_id", NULL};
    err e;
    const char *name = NULL, *desc = NULL, *lake_name = NULL;
    int64_t lake = 0;
    if (body_check(r, fields, &e) || jv_str(r->json, "name", JV_REQUIRED, DATASET_NAME_MAX, &name, &e) ||
        jv_str(r->json, "description", JV_OPTIONAL, DATASET_DESC_MAX, &desc, &e) ||
        jv_str(r->json, "datalake", JV_OPTIONAL, 64, &lake_name, &e) ||
        jv_i64(r->json, "datalake_id", JV_OPTIONAL, 1, INT64_MAX, &lake, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t id;
    int rc = 0;
    if (lake_name && !lake) {
        rc = db_one_i64(c, &e, &lake, "SELECT id FROM datalake WHERE org_id = $1 AND name = $2",
                        DBI(r->who.org_id), DBT(lake_name));
        if (rc && e.code == ERR_NOT_FOUND)
            err_set(&e, ERR_NOT_FOUND, "no datalake named '%s' in this organization", lake_name);
    }
    if (rc == 0)
        rc = dataset_create(c, r->who.org_id, name, desc, lake, r->who.user_id, &id, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 201, &w);
        rc = dataset_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int ds_get(http_req *r) { return read_by_id(r, "id", dataset_write); }

static int ds_update(http_req *r)
{
    static const char *const fields[] = {"name", "description", NULL};
    err e;
    int64_t id;
    const char *name = NULL, *desc = NULL;
    if (http_param_id(r, "id", &id))
        return 0;
    if (body_check(r, fields, &e) || jv_str(r->json, "name", JV_OPTIONAL, DATASET_NAME_MAX, &name, &e) ||
        jv_str(r->json, "description", JV_OPTIONAL, DATASET_DESC_MAX, &desc, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = dataset_update(c, r->who.org_id, id, name, desc, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 200, &w);
        rc = dataset_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int ds_delete(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = dataset_delete(c, r->who.org_id, id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    deleted(r, id);
    return 0;
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
    int rc = dataset_version_list(c, r->who.org_id, id, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int version_create(http_req *r)
{
    static const char *const fields[] = {"name", "description", "task", NULL};
    err e;
    int64_t ds, id;
    const char *name = NULL, *desc = NULL, *task = NULL;
    if (http_param_id(r, "id", &ds))
        return 0;
    if (body_check(r, fields, &e) || jv_str(r->json, "name", JV_REQUIRED, DATASET_NAME_MAX, &name, &e) ||
        jv_str(r->json, "description", JV_OPTIONAL, DATASET_DESC_MAX, &desc, &e) ||
        jv_str(r->json, "task", JV_OPTIONAL, 32, &task, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = dataset_version_create(c, r->who.org_id, ds, name, desc, task, r->who.user_id, &id, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 201, &w);
        rc = dataset_version_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

/* --- versions ----------------------------------------------------------------------------- */

static int version_get(http_req *r) { return read_by_id(r, "id", dataset_version_write); }

static int version_update(http_req *r)
{
    static const char *const fields[] = {"name", "description", "task", NULL};
    err e;
    int64_t id;
    const char *name = NULL, *desc = NULL, *task = NULL;
    if (http_param_id(r, "id", &id))
        return 0;
    if (body_check(r, fields, &e) || jv_str(r->json, "name", JV_OPTIONAL, DATASET_NAME_MAX, &name, &e) ||
        jv_str(r->json, "description", JV_OPTIONAL, DATASET_DESC_MAX, &desc, &e) ||
        jv_str(r->json, "task", JV_OPTIONAL, 32, &task, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = dataset_version_update(c, r->who.org_id, id, name, desc, task, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 200, &w);
        rc = dataset_version_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int version_delete(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = dataset_version_delete(c, r->who.org_id, id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    deleted(r, id);
    return 0;
}

static int version_fork(http_req *r)
{
    static const char *const fields[] = {"name", "description", "task", "labels",
                                         "annotations", "tags", "q", NULL};
    err e;
    int64_t id, nid;
    dataset_fork_opts o = {.labels = true, .annotations = true, .tags = true};
    if (http_param_id(r, "id", &id))
        return 0;
    if (body_check(r, fields, &e) || jv_str(r->json, "name", JV_REQUIRED, DATASET_NAME_MAX, &o.name, &e) ||
        jv_str(r->json, "description", JV_OPTIONAL, DATASET_DESC_MAX, &o.description, &e) ||
        jv_str(r->json, "task", JV_OPTIONAL, 32, &o.task, &e) ||
        jv_bool(r->json, "labels", JV_OPTIONAL, &o.labels, &e) ||
        jv_bool(r->json, "annotations", JV_OPTIONAL, &o.annotations, &e) ||
        jv_bool(r->json, "tags", JV_OPTIONAL, &o.tags, &e) ||
        jv_str(r->json, "q", JV_OPTIONAL, QUERY_DEFAULT_MAX_LEN, &o.q, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = dataset_version_fork(c, r->who.org_id, id, &o, r->who.user_id, &nid, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 201, &w);
        rc = dataset_version_write(c, r->who.org_id, nid, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int version_lock_set(http_req *r, bool lock)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = dataset_version_lock(c, r->who.org_id, id, lock, r->who.user_id, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 200, &w);
        rc = dataset_version_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int version_lock(http_req *r) { return version_lock_set(r, true); }
static int version_unlock(http_req *r) { return version_lock_set(r, false); }

/* --- assets ---------------------------------------------------------------------------------- */

static int read_sel(http_req *r, const char *ids_field, json_t **ids, const char **q, err *e)
{
    *ids = json_object_get(r->json, ids_field);
    json_t *jq = json_object_get(r->json, "q");
    if (jq && !json_is_string(jq))
        return err_set(e, ERR_INVALID, "field 'q' must be a query string");
    *q = json_string_value(jq);
    if (*ids && *q)
        return err_set(e, ERR_INVALID, "give either '%s' or 'q', not both", ids_field);
    return 0;
}

static int assets_add(http_req *r)
{
    static const char *const fields[] = {"data_ids", "q", NULL};
    err e;
    int64_t id, added, existing;
    json_t *ids;
    const char *q;
    if (http_param_id(r, "id", &id))
        return 0;
    if (body_check(r, fields, &e) || read_sel(r, "data_ids", &ids, &q, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = dataset_assets_add(c, r->who.org_id, id, ids, q, &added, &existing, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "added", added);
    jw_kint(&w, "already_there", existing);
    jw_obj_end(&w);
    return 0;
}

static int assets_remove(http_req *r)
{
    static const char *const fields[] = {"ids", "q", NULL};
    err e;
    int64_t id, n;
    json_t *ids;
    const char *q;
    if (http_param_id(r, "id", &id))
        return 0;
    if (body_check(r, fields, &e) || read_sel(r, "ids", &ids, &q, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = dataset_assets_remove(c, r->who.org_id, id, ids, q, &n, &e);
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

static int assets_list(http_req *r)
{
    int64_t id, limit;
    if (http_param_id(r, "id", &id) || http_query_i64(r, "limit", 100, 1, 1000, &limit))
        return 0;
    const char *sh = http_query(r, "shapes");
    dataset_asset_page p = {http_query(r, "q"), http_query(r, "order_by"), http_query(r, "cursor"),
                            limit, sh && strcmp(sh, "1") == 0};
    db_conn *c = app_db_scan(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = dataset_assets_list(c, r->who.org_id, id, &p, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int assets_count(http_req *r)
{
    int64_t id, n = 0;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db_scan(r);
    if (!c)
        return 0;
    err e;
    int rc = dataset_assets_count(c, r->who.org_id, id, http_query(r, "q"), &n, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "count", n);
    jw_obj_end(&w);
    return 0;
}

static int string_list(json_t *arr, const char *field, const char **out, int max, int *n, err *e)
{
    *n = 0;
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return err_set(e, ERR_INVALID, "field '%s' must be an array of tag names", field);
    if ((int)json_array_size(arr) > max)
        return err_set(e, ERR_INVALID, "field '%s' has %zu tags; the limit is %d", field,
                       json_array_size(arr), max);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            return err_set(e, ERR_INVALID, "%s[%zu] must be a string", field, i);
        out[(*n)++] = json_string_value(v);
    }
    return 0;
}

static int tags_bulk(http_req *r)
{
    static const char *const fields[] = {"add", "remove", "ids", "q", NULL};
    err e;
    int64_t id, changed;
    json_t *ids;
    const char *q, *add[DATASET_TAGS_MAX], *rm[DATASET_TAGS_MAX];
    int nadd, nrm;
    if (http_param_id(r, "id", &id))
        return 0;
    if (body_check(r, fields, &e) || read_sel(r, "ids", &ids, &q, &e) ||
        string_list(json_object_get(r->json, "add"), "add", add, DATASET_TAGS_MAX, &nadd, &e) ||
        string_list(json_object_get(r->json, "remove"), "remove", rm, DATASET_TAGS_MAX, &nrm, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = dataset_asset_tag(c, r->who.org_id, id, ids, q, add, nadd, rm, nrm, &changed, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "changed", changed);
    jw_obj_end(&w);
    return 0;
}

static int tags_list(http_req *r) { return read_by_id(r, "id", dataset_asset_tags); }
static int asset_get(http_req *r) { return read_by_id(r, "id", dataset_asset_write); }

static int assets_autocomplete(http_req *r)
{
    int64_t id, cursor;
    if (http_param_id(r, "id", &id))
        return 0;
    const char *q = http_query(r, "q");
    if (!q)
        q = "";
    if (strlen(q) > QUERY_DEFAULT_MAX_LEN)
        return http_fail(r, ERR_INVALID, "the query is longer than %d bytes", QUERY_DEFAULT_MAX_LEN);
    if (http_query_i64(r, "cursor", (int64_t)strlen(q), 0, (int64_t)strlen(q), &cursor))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = dataset_assets_autocomplete(c, r->who.org_id, id, q, (size_t)cursor, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int data_versions(http_req *r) { return read_by_id(r, "id", dataset_versions_of_data); }

/* --- labels ------------------------------------------------------------------------------------ */

static int labels_list(http_req *r) { return read_by_id(r, "id", dataset_labels_list); }

static int label_create(http_req *r)
{
    int64_t version, id;
    if (http_param_id(r, "id", &version))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = dataset_label_create(c, r->who.org_id, version, r->json, &id, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 201, &w);
        rc = dataset_label_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int label_get(http_req *r) { return read_by_id(r, "id", dataset_label_write); }

static int label_update(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = dataset_label_update(c, r->who.org_id, id, r->json, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 200, &w);
        rc = dataset_label_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int label_delete(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = dataset_label_delete(c, r->who.org_id, id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    deleted(r, id);
    return 0;
}

/* --- annotations --------------------------------------------------------------------------------- */

static int annotation_get(http_req *r) { return read_by_id(r, "id", dataset_annotation_write); }
static int revisions_get(http_req *r) { return read_by_id(r, "id", dataset_annotation_revisions); }

static int annotation_put(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = dataset_annotation_save(c, r->who.org_id, id, r->json, r->who.user_id, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 200, &w);
        rc = dataset_annotation_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int annotation_delete(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = dataset_annotation_delete(c, r->who.org_id, id, r->who.user_id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    deleted(r, id);
    return 0;
}

static int annotations_bulk(http_req *r)
{
    int64_t id, saved, shapes;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = dataset_annotations_bulk(c, r->who.org_id, id, r->json, r->who.user_id, &saved,
                                      &shapes, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "saved", saved);
    jw_kint(&w, "shapes", shapes);
    jw_obj_end(&w);
    return 0;
}

/* --- splits, stats ----------------------------------------------------------------------------------- */

static int split(http_req *r)
{
    static const char *const fields[] = {"ratios", "seed", "q", NULL};
    err e;
    int64_t id, seed = 0;
    json_t *ratios = NULL;
    dataset_split_opts o = {0};
    if (http_param_id(r, "id", &id))
        return 0;
    if (body_check(r, fields, &e) || jv_obj(r->json, "ratios", JV_OPTIONAL, &ratios, &e) ||
        jv_i64(r->json, "seed", JV_OPTIONAL, 0, INT64_MAX, &seed, &e) ||
        jv_str(r->json, "q", JV_OPTIONAL, QUERY_DEFAULT_MAX_LEN, &o.q, &e))
        return http_fail_err(r, &e);
    if (!ratios) {
        static const char *const names[] = {"train", "val", "test"};
        static const double dflt[] = {0.8, 0.1, 0.1};
        for (int i = 0; i < 3; i++) {
            o.names[i] = names[i];
            o.ratios[i] = dflt[i];
        }
        o.n = 3;
    } else {
        const char *k;
        json_t *v;
        if (json_object_size(ratios) == 0 || json_object_size(ratios) > DATASET_SPLITS_MAX)
            return http_fail(r, ERR_INVALID, "field 'ratios' must name 1 to %d splits",
                             DATASET_SPLITS_MAX);
        json_object_foreach(ratios, k, v)
        {
            if (!json_is_number(v))
                return http_fail(r, ERR_INVALID, "ratios.%s must be a number", k);
            o.names[o.n] = k;
            o.ratios[o.n++] = json_number_value(v);
        }
    }
    o.seed = (uint64_t)seed;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = dataset_split(c, r->who.org_id, id, &o, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int stats(http_req *r) { return read_by_id(r, "id", dataset_stats); }

/* --- import, export ----------------------------------------------------------------------------------- */

typedef int (*submit_fn)(db_conn *c, int64_t org, int64_t version, json_t *req, int64_t user,
                         int64_t *job, err *e);

static int submit(http_req *r, submit_fn fn)
{
    int64_t id, job;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = fn(c, r->who.org_id, id, r->json, r->who.user_id, &job, &e);
    if (rc == 0) {
        jobs_runner_poke(APP(r)->jobs);
        jw w;
        http_json_begin(r, 202, &w);
        rc = jobs_write(c, r->who.org_id, job, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int import(http_req *r) { return submit(r, dataset_import_submit); }
static int export(http_req *r) { return submit(r, dataset_export_submit); }

/* --- jobs -------------------------------------------------------------------------------------------- */

static void env_of(job_ctx *j, dataset_env *env, char *spool, size_t n)
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
}

static int import_job(job_ctx *j, err *e)
{
    dataset_env env;
    char spool[1024];
    env_of(j, &env, spool, sizeof spool);
    return dataset_import_run(j, &env, e);
}

static int export_job(job_ctx *j, err *e)
{
    dataset_env env;
    char spool[1024];
    env_of(j, &env, spool, sizeof spool);
    return dataset_export_run(j, &env, e);
}

const job_kind dataset_job_kinds[] = {
    {"dataset.import", import_job, "import annotations into a dataset version", false, 1},
    {"dataset.export", export_job, "export a dataset version", false, 3},
    {NULL, NULL, NULL, false, 0},
};

/* --- routes ------------------------------------------------------------------------------------------ */

#define T "datasets"
#define VERSION_SCHEMA "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"dataset_id\":{\"type\":\"integer\"},\"name\":{\"type\":\"string\"},\"task\":{\"type\":\"string\"},\"parent_id\":{\"type\":\"integer\"},\"locked\":{\"type\":\"boolean\"},\"assets\":{\"type\":\"integer\"},\"annotated\":{\"type\":\"integer\"}}}"
#define SHAPES_DOC "{\"type\":\"object\",\"properties\":{\"shapes\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"kind\":{\"type\":\"string\",\"enum\":[\"class\",\"box\",\"polygon\",\"polyline\",\"point\",\"keypoints\",\"mask\"]},\"label\":{\"type\":\"string\"},\"box\":{\"type\":\"array\"},\"rings\":{\"type\":\"array\"},\"points\":{\"type\":\"array\"},\"point\":{\"type\":\"array\"},\"keypoints\":{\"type\":\"array\"},\"rle\":{\"type\":\"object\"},\"score\":{\"type\":\"number\"},\"text\":{\"type\":\"string\"},\"attributes\":{\"type\":\"object\"}}}},\"status\":{\"type\":\"string\",\"enum\":[\"pending\",\"accepted\",\"rejected\",\"skipped\"]},\"duration_ms\":{\"type\":\"integer\"},\"base_revision\":{\"type\":\"integer\"}}}"

const http_route dataset_routes[] = {
    {HTTP_GET, "/api/v1/datasets", ds_list, PERM_READ, BODY_NONE, NULL,
     "The organization's datasets", T},
    {HTTP_POST, "/api/v1/datasets", ds_create, PERM_WRITE, BODY_JSON, NULL,
     "Create a dataset on a datalake (default: 'default')", T,
     "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},\"datalake\":{\"type\":\"string\"},\"datalake_id\":{\"type\":\"integer\"}}}"},
    {HTTP_GET, "/api/v1/datasets/{id}", ds_get, PERM_READ, BODY_NONE, NULL, "One dataset", T, .quick = true},
    {HTTP_PATCH, "/api/v1/datasets/{id}", ds_update, PERM_WRITE, BODY_JSON, NULL,
     "Rename or describe a dataset", T},
    {HTTP_DELETE, "/api/v1/datasets/{id}", ds_delete, PERM_WRITE, BODY_NONE, NULL,
     "Delete a dataset, its versions, assets and annotations (never datalake data); refused while a version is locked",
     T},
    {HTTP_GET, "/api/v1/datasets/{id}/versions", versions_list, PERM_READ, BODY_NONE, NULL,
     "The dataset's versions with counts", T},
    {HTTP_POST, "/api/v1/datasets/{id}/versions", version_create, PERM_WRITE, BODY_JSON, NULL,
     "Create an empty version (task: classification, detection, segmentation, keypoints, multi)", T,
     "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"},\"task\":{\"type\":\"string\"}}}",
     VERSION_SCHEMA},
    {HTTP_GET, "/api/v1/dataset-versions/{id}", version_get, PERM_READ, BODY_NONE, NULL,
     "One version with counts", T, NULL, VERSION_SCHEMA},
    {HTTP_PATCH, "/api/v1/dataset-versions/{id}", version_update, PERM_WRITE, BODY_JSON, NULL,
     "Rename, describe or change the task of a version", T},
    {HTTP_DELETE, "/api/v1/dataset-versions/{id}", version_delete, PERM_WRITE, BODY_NONE, NULL,
     "Delete a version with its assets and annotations (never datalake data)", T},
    {HTTP_POST, "/api/v1/dataset-versions/{id}/fork", version_fork, PERM_WRITE, BODY_JSON, NULL,
     "Fork a version: a new version with its assets, and optionally labels, annotations, tags (?q= filters assets)",
     T,
     "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\"},\"labels\":{\"type\":\"boolean\"},\"annotations\":{\"type\":\"boolean\"},\"tags\":{\"type\":\"boolean\"},\"q\":{\"type\":\"string\"}}}",
     VERSION_SCHEMA},
    {HTTP_POST, "/api/v1/dataset-versions/{id}/lock", version_lock, PERM_WRITE, BODY_NONE, NULL,
     "Lock a version: every write to it answers 409 until unlocked", T},
    {HTTP_DELETE, "/api/v1/dataset-versions/{id}/lock", version_unlock, PERM_WRITE, BODY_NONE, NULL,
     "Unlock a version", T},
    {HTTP_GET, "/api/v1/dataset-versions/{id}/assets", assets_list, PERM_READ, BODY_NONE, NULL,
     "Assets matching ?q= (asset fields, tag, label, status, data.*), keyset pages (?order_by=&limit=&cursor=&shapes=1)",
     T},
    {HTTP_POST, "/api/v1/dataset-versions/{id}/assets", assets_add, PERM_WRITE, BODY_JSON, NULL,
     "Add datalake items by 'data_ids' or by a datalake query 'q'", T,
     "{\"type\":\"object\",\"properties\":{\"data_ids\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}},\"q\":{\"type\":\"string\"}}}"},
    {HTTP_POST, "/api/v1/dataset-versions/{id}/assets/delete", assets_remove, PERM_WRITE, BODY_JSON,
     NULL, "Remove assets (and their annotations) by 'ids' or an asset query 'q'", T},
    {HTTP_GET, "/api/v1/dataset-versions/{id}/assets/count", assets_count, PERM_READ, BODY_NONE,
     NULL, "Count assets matching ?q=", T},
    {HTTP_GET, "/api/v1/dataset-versions/{id}/autocomplete", assets_autocomplete, PERM_READ,
     BODY_NONE, NULL,
     "Suggestions for a partial asset query at byte ?cursor= (fields, operators, tags, labels, statuses)",
     T},
    {HTTP_GET, "/api/v1/data/{id}/dataset-versions", data_versions, PERM_READ, BODY_NONE, NULL,
     "The dataset versions holding a datalake item, with the asset and its annotation status", T},
    {HTTP_POST, "/api/v1/dataset-versions/{id}/tags", tags_bulk, PERM_WRITE, BODY_JSON, NULL,
     "Add and remove version-scoped asset tags on assets chosen by 'ids' or 'q'", T},
    {HTTP_GET, "/api/v1/dataset-versions/{id}/tags", tags_list, PERM_READ, BODY_NONE, NULL,
     "Asset tags with their counts", T},
    {HTTP_GET, "/api/v1/dataset-versions/{id}/labels", labels_list, PERM_READ, BODY_NONE, NULL,
     "The version's labels with object and image counts", T},
    {HTTP_POST, "/api/v1/dataset-versions/{id}/labels", label_create, PERM_WRITE, BODY_JSON, NULL,
     "Create a label (name, color, group; keypoints and skeleton for keypoint labels)", T,
     "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\"},\"color\":{\"type\":\"string\"},\"group\":{\"type\":\"string\"},\"keypoints\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"skeleton\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}}}}"},
    {HTTP_POST, "/api/v1/dataset-versions/{id}/annotations", annotations_bulk, PERM_ANNOTATE,
     BODY_JSON, NULL,
     "Save thousands of annotations at once, all or nothing (mode replace or merge)", T,
     "{\"type\":\"object\",\"required\":[\"annotations\"],\"properties\":{\"mode\":{\"type\":\"string\",\"enum\":[\"replace\",\"merge\"]},\"annotations\":{\"type\":\"array\"}}}"},
    {HTTP_POST, "/api/v1/dataset-versions/{id}/split", split, PERM_WRITE, BODY_JSON, NULL,
     "Stratified split into named ratios (default train/val/test 0.8/0.1/0.1), seeded, stored as asset tags",
     T,
     "{\"type\":\"object\",\"properties\":{\"ratios\":{\"type\":\"object\"},\"seed\":{\"type\":\"integer\"},\"q\":{\"type\":\"string\"}}}"},
    {HTTP_GET, "/api/v1/dataset-versions/{id}/stats", stats, PERM_READ, BODY_NONE, NULL,
     "Counts per label, per split, per status, shape kinds, box size and aspect histograms", T},
    {HTTP_POST, "/api/v1/dataset-versions/{id}/import", import, PERM_WRITE, BODY_JSON, NULL,
     "Import an uploaded file (PUT /api/v1/files) as a job: format coco|yolo|voc|folder|csv, mode replace|keep|merge, skip_invalid",
     T,
     "{\"type\":\"object\",\"required\":[\"file\",\"format\"],\"properties\":{\"file\":{\"type\":\"string\"},\"format\":{\"type\":\"string\"},\"mode\":{\"type\":\"string\"},\"skip_invalid\":{\"type\":\"boolean\"},\"status\":{\"type\":\"string\"},\"split\":{\"type\":\"string\"}}}"},
    {HTTP_POST, "/api/v1/dataset-versions/{id}/export", export, PERM_READ, BODY_JSON, NULL,
     "Export as a job producing a file (the result's 'file', downloadable at /api/v1/files/{sha256})",
     T,
     "{\"type\":\"object\",\"required\":[\"format\"],\"properties\":{\"format\":{\"type\":\"string\"},\"images\":{\"type\":\"boolean\"},\"archive\":{\"type\":\"string\",\"enum\":[\"tar\",\"tar.gz\",\"zip\"]},\"q\":{\"type\":\"string\"},\"split\":{\"type\":\"string\"}}}"},
    {HTTP_GET, "/api/v1/labels/{id}", label_get, PERM_READ, BODY_NONE, NULL, "One label", T},
    {HTTP_PATCH, "/api/v1/labels/{id}", label_update, PERM_WRITE, BODY_JSON, NULL,
     "Change a label's name, color, group, keypoints or skeleton", T},
    {HTTP_DELETE, "/api/v1/labels/{id}", label_delete, PERM_WRITE, BODY_NONE, NULL,
     "Delete a label no shape uses", T},
    {HTTP_GET, "/api/v1/assets/{id}", asset_get, PERM_READ, BODY_NONE, NULL,
     "One asset with its image fields, tags, annotation and shapes", T, .quick = true},
    {HTTP_GET, "/api/v1/assets/{id}/annotation", annotation_get, PERM_READ, BODY_NONE, NULL,
     "The asset's current annotation and its shapes", T, .quick = true},
    {HTTP_PUT, "/api/v1/assets/{id}/annotation", annotation_put, PERM_ANNOTATE, BODY_JSON, NULL,
     "Save the asset's annotation (a new revision); a stale base_revision answers 409", T, SHAPES_DOC},
    {HTTP_DELETE, "/api/v1/assets/{id}/annotation", annotation_delete, PERM_ANNOTATE, BODY_NONE,
     NULL, "Delete the asset's annotation (kept as a revision)", T},
    {HTTP_GET, "/api/v1/assets/{id}/annotation/revisions", revisions_get, PERM_READ, BODY_NONE,
     NULL, "Earlier revisions of the asset's annotation, newest first", T},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
