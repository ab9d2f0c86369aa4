/*
 * registry.c - models, versions, files, aliases, lineage; see registry.h.
 */
#include "registry/registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "experiment/experiment.h"
#include "files/files.h"

const char registry_schema_v50[] =
    "CREATE TABLE model (id {{ID}}, org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', task_type TEXT,"
    " tags {{JSON}} NOT NULL, created_by BIGINT, created_at BIGINT NOT NULL, UNIQUE (org_id, name));"
    "CREATE TABLE model_version (id {{ID}},"
    " model_id BIGINT NOT NULL REFERENCES model(id) ON DELETE CASCADE, version INTEGER NOT NULL,"
    " framework TEXT NOT NULL, labels {{JSON}} NOT NULL, params {{JSON}} NOT NULL,"
    " description TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, status_reason TEXT,"
    " source_experiment_id BIGINT, lineage {{JSON}} NOT NULL, created_by BIGINT,"
    " created_at BIGINT NOT NULL, UNIQUE (model_id, version));"
    "CREATE INDEX model_version_experiment ON model_version (source_experiment_id);"
    "CREATE TABLE model_file (version_id BIGINT NOT NULL REFERENCES model_version(id) ON DELETE CASCADE,"
    " path TEXT NOT NULL, sha256 TEXT NOT NULL, size BIGINT NOT NULL, PRIMARY KEY (version_id, path));"
    "CREATE TABLE model_alias (model_id BIGINT NOT NULL REFERENCES model(id) ON DELETE CASCADE,"
    " alias TEXT NOT NULL, version_id BIGINT NOT NULL REFERENCES model_version(id) ON DELETE CASCADE,"
    " updated_by BIGINT, updated_at BIGINT NOT NULL, PRIMARY KEY (model_id, alias));"
    "CREATE TABLE model_alias_log (id {{ID}},"
    " model_id BIGINT NOT NULL REFERENCES model(id) ON DELETE CASCADE, alias TEXT NOT NULL,"
    " from_version_id BIGINT, to_version_id BIGINT, by_user BIGINT, at BIGINT NOT NULL);";

static const char *const frameworks[] = {"cvops", "onnx", "pytorch", "tensorflow", "other", NULL};
static const char *const statuses[] = {"ready", "candidate", "archived", NULL};
static const char *const tasks[] = {"classification", "detection", "segmentation", "keypoints",
                                    "other", NULL};

static bool in_list(const char *const *l, const char *s)
{
    for (; *l; l++)
        if (strcmp(*l, s) == 0)
            return true;
    return false;
}

static void ts(jw *w, const char *k, int64_t ms)
{
    char buf[32];
    time_fmt_iso(ms, buf, sizeof buf);
    jw_kstr(w, k, buf);
}

static void raw(jw *w, const char *k, const char *json)
{
    jw_key(w, k);
    jw_raw(w, json ? json : "null", strlen(json ? json : "null"));
}

static int not_found_model(err *e, int64_t id)
{
    return err_set(e, ERR_NOT_FOUND, "model %lld does not exist in this organization", (long long)id);
}

static int check_model(db_conn *c, int64_t org, int64_t id, err *e)
{
    int64_t x;
    if (db_one_i64(c, e, &x, "SELECT id FROM model WHERE id = $1 AND org_id = $2", DBI(id), DBI(org))) {
        if (e->code == ERR_NOT_FOUND)
            not_found_model(e, id);
        return -1;
    }
    return 0;
}

/* tags: an array of short strings, as JSON text. */
static int tags_json(json_t *body, char **out, err *e)
{
    json_t *t = json_object_get(body, "tags");
    *out = NULL;
    if (!t)
        return 0;
    if (!json_is_array(t) || json_array_size(t) > 100)
        return err_set(e, ERR_INVALID, "field 'tags' must be an array of at most 100 strings");
    for (size_t i = 0; i < json_array_size(t); i++) {
        const char *s = json_string_value(json_array_get(t, i));
        if (!s || name_check("tag", s, 64, e))
            return err_set(e, ERR_INVALID, "tags[%zu] must be a name of 1 to 64 characters", i);
    }
    *out = json_dumps(t, JSON_COMPACT);
    return 0;
}

int reg_model_create(db_conn *c, int64_t org, int64_t user, json_t *body, int64_t *id, err *e)
{
    static const char *const fields[] = {"name", "description", "task_type", "tags", NULL};
    const char *name = NULL, *desc = NULL, *task = NULL;
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_str(body, "name", JV_REQUIRED, 128, &name, e) ||
        jv_str(body, "description", JV_OPTIONAL, 10000, &desc, e) ||
        jv_str(body, "task_type", JV_OPTIONAL, 32, &task, e) || name_check("model name", name, 128, e))
        return -1;
    if (task && !in_list(tasks, task))
        return err_set(e, ERR_INVALID,
                       "task_type '%s' is not one of classification, detection, segmentation, "
                       "keypoints, other",
                       task);
    char *tags;
    if (tags_json(body, &tags, e))
        return -1;
    int rc = db_one_i64(c, e, id,
                        "INSERT INTO model (org_id, name, description, task_type, tags, created_by,"
                        " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                        DBI(org), DBT(name), DBT(desc ? desc : ""), DBT(task), DBT(tags ? tags : "[]"),
                        DBI(user), DBI(time_now_ms()));
    free(tags);
    if (rc && db_err_is_unique(c))
        err_set(e, ERR_CONFLICT, "a model named '%s' already exists; publish a new version of it",
                name);
    return rc;
}

int reg_model_update(db_conn *c, int64_t org, int64_t id, json_t *body, err *e)
{
    static const char *const fields[] = {"name", "description", "task_type", "tags", NULL};
    const char *name = NULL, *desc = NULL, *task = NULL;
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_str(body, "name", JV_OPTIONAL, 128, &name, e) ||
        jv_str(body, "description", JV_OPTIONAL, 10000, &desc, e) ||
        jv_str(body, "task_type", JV_OPTIONAL, 32, &task, e) ||
        (name && name_check("model name", name, 128, e)))
        return -1;
    if (task && !in_list(tasks, task))
        return err_set(e, ERR_INVALID, "task_type '%s' is not a known task type", task);
    char *tags;
    if (tags_json(body, &tags, e))
        return -1;
    int64_t n = db_run(c, e,
                       "UPDATE model SET name = COALESCE($1, name), description = COALESCE($2, description),"
                       " task_type = COALESCE($3, task_type), tags = COALESCE($4, tags)"
                       " WHERE id = $5 AND org_id = $6",
                       DBT(name), DBT(desc), DBT(task), DBT(tags), DBI(id), DBI(org));
    free(tags);
    if (n < 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT, "a model named '%s' already exists", name);
        return -1;
    }
    return n == 0 ? not_found_model(e, id) : 0;
}

int reg_model_delete(db_conn *c, int64_t org, int64_t id, err *e)
{
    int64_t n = db_run(c, e, "DELETE FROM model WHERE id = $1 AND org_id = $2", DBI(id), DBI(org));
    if (n < 0)
        return -1;
    return n == 0 ? not_found_model(e, id) : 0;
}

#define MODEL_COLS                                                                                 \
    "m.id, m.name, m.description, m.task_type, m.tags, m.created_at,"                              \
    " (SELECT COUNT(*) FROM model_version v WHERE v.model_id = m.id),"                              \
    " (SELECT MAX(v.version) FROM model_version v WHERE v.model_id = m.id)"

static void write_model(db_conn *c, jw *w, db_stmt *s)
{
    int64_t id = db_col_i64(s, 0);
    jw_obj(w);
    jw_kint(w, "id", id);
    jw_kstr(w, "name", db_col_text(s, 1));
    jw_kstr(w, "description", db_col_text(s, 2));
    jw_kstr(w, "task_type", db_col_text(s, 3));
    raw(w, "tags", db_col_text(s, 4));
    ts(w, "created_at", db_col_i64(s, 5));
    jw_kint(w, "versions", db_col_i64(s, 6));
    jw_key(w, "latest_version");
    if (db_col_null(s, 7))
        jw_null(w);
    else
        jw_int(w, db_col_i64(s, 7));
    /* aliases: {"champion": 3, ...} */
    err e;
    db_stmt *a = db_query(c, &e,
                          "SELECT a.alias, v.version FROM model_alias a JOIN model_version v"
                          " ON v.id = a.version_id WHERE a.model_id = $1 ORDER BY a.alias",
                          DBI(id));
    jw_key(w, "aliases");
    jw_obj(w);
    while (a && db_step(a, &e) == DB_ROW)
        jw_kint(w, db_col_text(a, 0), db_col_i64(a, 1));
    db_done(a);
    jw_obj_end(w);
    jw_obj_end(w);
}

int reg_model_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT " MODEL_COLS " FROM model m WHERE m.id = $1 AND m.org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    int64_t mid = rc == DB_ROW ? db_col_i64(s, 0) : 0;
    (void)mid;
    if (rc == DB_ROW) {
        /* write_model runs a query of its own: copy the row first */
        sbuf tmp = SBUF_INIT;
        jw tw;
        jw_init(&tw, &tmp);
        write_model(c, &tw, s);
        db_done(s);
        jw_raw(w, tmp.p, tmp.len);
        sbuf_free(&tmp);
        return 0;
    }
    db_done(s);
    return rc < 0 ? -1 : not_found_model(e, id);
}

int reg_model_list(db_conn *c, int64_t org, const char *q, jw *w, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT " MODEL_COLS " FROM model m WHERE m.org_id = $1"
                          " AND ($2 = '' OR m.name LIKE '%' || $2 || '%') ORDER BY m.name",
                          DBI(org), DBT(q ? q : ""));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW)
        write_model(c, w, s);
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int reg_model_find(db_conn *c, int64_t org, const char *name, int64_t *id, err *e)
{
    if (db_one_i64(c, e, id, "SELECT id FROM model WHERE org_id = $1 AND name = $2", DBI(org),
                   DBT(name))) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "no model named '%.128s'", name);
        return -1;
    }
    return 0;
}

/* --- versions ------------------------------------------------------------- */

static int labels_json(json_t *labels, char **out, err *e)
{
    *out = NULL;
    if (!labels)
        return 0;
    if (!json_is_array(labels) || json_array_size(labels) > 100000)
        return err_set(e, ERR_INVALID, "field 'labels' must be an array of label names");
    for (size_t i = 0; i < json_array_size(labels); i++)
        if (!json_is_string(json_array_get(labels, i)))
            return err_set(e, ERR_INVALID, "labels[%zu] must be a string", i);
    *out = json_dumps(labels, JSON_COMPACT);
    return 0;
}

/* Inserts a version row with the next number; returns its id. */
static int insert_version(db_conn *c, int64_t model, int64_t user, const char *framework,
                          const char *labels, const char *params, const char *desc,
                          const char *status, int64_t exp, const char *lineage, int64_t *id,
                          int *number, err *e)
{
    int64_t next = 0;
    if (db_one_i64(c, e, &next, "SELECT COALESCE(MAX(version), 0) + 1 FROM model_version WHERE model_id = $1",
                   DBI(model)))
        return -1;
    *number = (int)next;
    return db_one_i64(c, e, id,
                      "INSERT INTO model_version (model_id, version, framework, labels, params,"
                      " description, status, source_experiment_id, lineage, created_by, created_at)"
                      " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                      DBI(model), DBI(next), DBT(framework), DBT(labels ? labels : "[]"),
                      DBT(params ? params : "{}"), DBT(desc ? desc : ""), DBT(status),
                      exp ? DBI(exp) : DBNULL, DBT(lineage ? lineage : "{}"), DBI(user),
                      DBI(time_now_ms()));
}

static int add_file(db_conn *c, int64_t org, int64_t version, const char *path, const char *sha,
                    int64_t size, err *e)
{
    if (exp_artifact_path_check(path, e))
        return -1;
    int64_t have;
    if (files_check(c, org, sha, &have, e))
        return err_prefix(e, "file '%.200s': ", path);
    if (size < 0)
        size = have;
    if (db_run(c, e,
               "INSERT INTO model_file (version_id, path, sha256, size) VALUES ($1, $2, $3, $4)"
               " ON CONFLICT (version_id, path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size",
               DBI(version), DBT(path), DBT(sha), DBI(size)) < 0)
        return -1;
    return 0;
}

int reg_version_create(db_conn *c, int64_t org, int64_t user, int64_t model, json_t *body,
                       int64_t *version_id, err *e)
{
    static const char *const fields[] = {"framework", "labels", "params", "description", "status",
                                         "files", NULL};
    const char *framework = "cvops", *desc = NULL, *status = "ready";
    json_t *params = NULL, *files = NULL;
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_str(body, "framework", JV_OPTIONAL, 32, &framework, e) ||
        jv_str(body, "description", JV_OPTIONAL, 10000, &desc, e) ||
        jv_str(body, "status", JV_OPTIONAL, 32, &status, e) ||
        jv_obj(body, "params", JV_OPTIONAL, &params, e) ||
        jv_arr(body, "files", JV_OPTIONAL, REG_FILES_MAX, &files, e))
        return -1;
    if (!in_list(frameworks, framework))
        return err_set(e, ERR_INVALID, "framework '%s' is not one of cvops, onnx, pytorch, tensorflow, other",
                       framework);
    if (!in_list(statuses, status))
        return err_set(e, ERR_INVALID, "status '%s' is not one of ready, candidate, archived", status);
    char *labels = NULL, *ptext = params ? json_dumps(params, JSON_COMPACT) : NULL;
    int rc = -1;
    if (labels_json(json_object_get(body, "labels"), &labels, e))
        goto out;
    if (check_model(c, org, model, e) || db_begin(c, e))
        goto out;
    int number;
    if (insert_version(c, model, user, framework, labels, ptext, desc, status, 0, NULL, version_id,
                       &number, e))
        goto rollback;
    for (size_t i = 0; i < json_array_size(files); i++) {
        json_t *f = json_array_get(files, i);
        const char *path = NULL, *sha = NULL;
        if (jv_str(f, "path", JV_REQUIRED, EXP_ARTIFACT_PATH_MAX, &path, e) ||
            jv_str(f, "sha256", JV_REQUIRED, 64, &sha, e)) {
            err_prefix(e, "files[%zu]: ", i);
            goto rollback;
        }
        if (add_file(c, org, *version_id, path, sha, -1, e))
            goto rollback;
    }
    rc = db_commit(c, e);
    goto out;
rollback:
    db_rollback(c);
out:
    free(labels);
    free(ptext);
    return rc;
}

int reg_publish_experiment(db_conn *c, int64_t org, int64_t user, int64_t exp,
                           const char *model_name, int64_t model_id, json_t *files, json_t *labels,
                           const char *framework, int64_t *version_id, err *e)
{
    if (exp_check(c, org, exp, e))
        return -1;
    if (!framework)
        framework = "cvops";
    if (!in_list(frameworks, framework))
        return err_set(e, ERR_INVALID, "framework '%s' is not one of cvops, onnx, pytorch, tensorflow, other",
                       framework);
    if (files && (!json_is_array(files) || json_array_size(files) > REG_FILES_MAX))
        return err_set(e, ERR_INVALID, "field 'files' must be a list of artifact paths");
    char *ltext = NULL;
    if (labels_json(labels, &ltext, e))
        return -1;
    int rc = -1;
    json_t *lineage = json_object(), *params = json_object(), *datasets = json_object();
    if (db_begin(c, e))
        goto out;
    if (!model_id) {
        if (!model_name || name_check("model name", model_name, 128, e))
            goto rollback_named;
        db_stmt *s = db_query(c, e, "SELECT id FROM model WHERE org_id = $1 AND name = $2", DBI(org),
                              DBT(model_name));
        if (!s)
            goto rollback;
        if (db_step(s, e) == DB_ROW)
            model_id = db_col_i64(s, 0);
        db_done(s);
        if (!model_id && db_one_i64(c, e, &model_id,
                                    "INSERT INTO model (org_id, name, tags, created_by, created_at)"
                                    " VALUES ($1, $2, '[]', $3, $4) RETURNING id",
                                    DBI(org), DBT(model_name), DBI(user), DBI(time_now_ms())))
            goto rollback;
    } else if (check_model(c, org, model_id, e)) {
        goto rollback;
    }
    /* lineage: experiment, project, datasets by alias, parameters */
    db_stmt *s = db_query(c, e, "SELECT project_id, name FROM experiment WHERE id = $1", DBI(exp));
    if (!s)
        goto rollback;
    if (db_step(s, e) == DB_ROW) {
        json_object_set_new(lineage, "experiment_id", json_integer(exp));
        json_object_set_new(lineage, "experiment", json_string(db_col_text(s, 1)));
        json_object_set_new(lineage, "project_id", json_integer(db_col_i64(s, 0)));
    }
    db_done(s);
    s = db_query(c, e, "SELECT name, value FROM experiment_param WHERE experiment_id = $1 ORDER BY name",
                 DBI(exp));
    while (s && db_step(s, e) == DB_ROW)
        json_object_set_new(params, db_col_text(s, 0), json_loads(db_col_text(s, 1), JSON_DECODE_ANY, NULL));
    db_done(s);
    s = db_query(c, e, "SELECT alias, dataset_version_id FROM experiment_dataset WHERE experiment_id = $1",
                 DBI(exp));
    while (s && db_step(s, e) == DB_ROW)
        json_object_set_new(datasets, db_col_text(s, 0), json_integer(db_col_i64(s, 1)));
    db_done(s);
    /* labels: a training run stores the model's label map as the parameter
     * "labels" (detectors); it is the version's when none are given */
    json_t *plabels = json_object_get(params, "labels");
    if (!labels && json_is_array(plabels)) {
        free(ltext);
        ltext = NULL;
        if (labels_json(plabels, &ltext, e))
            goto rollback;
    }
    json_object_set(lineage, "params", params);
    json_object_set(lineage, "datasets", datasets);
    char *ltxt = json_dumps(lineage, JSON_COMPACT), *ptxt = json_dumps(params, JSON_COMPACT);
    int number;
    int irc = insert_version(c, model_id, user, framework, ltext, ptxt, NULL, "ready", exp, ltxt,
                             version_id, &number, e);
    free(ltxt);
    free(ptxt);
    if (irc)
        goto rollback;
    /* files: the chosen artifacts (all when none are named) */
    int64_t nfiles = 0;
    if (files && json_array_size(files)) {
        for (size_t i = 0; i < json_array_size(files); i++) {
            const char *path = json_string_value(json_array_get(files, i));
            char sha[65];
            int64_t size;
            if (!path) {
                err_set(e, ERR_INVALID, "files[%zu] must be an artifact path", i);
                goto rollback;
            }
            if (exp_artifact_get(c, org, exp, path, sha, &size, e) ||
                add_file(c, org, *version_id, path, sha, size, e))
                goto rollback;
            nfiles++;
        }
    } else {
        nfiles = db_run(c, e,
                        "INSERT INTO model_file (version_id, path, sha256, size)"
                        " SELECT $1, path, sha256, size FROM artifact WHERE experiment_id = $2",
                        DBI(*version_id), DBI(exp));
        if (nfiles < 0)
            goto rollback;
    }
    if (nfiles == 0) {
        err_set(e, ERR_INVALID,
                "experiment %lld has no artifacts to publish; upload its checkpoint first",
                (long long)exp);
        goto rollback;
    }
    rc = db_commit(c, e);
    goto out;
rollback_named:
rollback:
    db_rollback(c);
out:
    free(ltext);
    json_decref(lineage);
    json_decref(params);
    json_decref(datasets);
    return rc;
}

#define VERSION_COLS                                                                               \
    "v.id, v.model_id, m.name, v.version, v.framework, v.labels, v.params, v.description,"        \
    " v.status, v.status_reason, v.source_experiment_id, v.lineage, v.created_at"

static void write_version(db_conn *c, jw *w, db_stmt *s)
{
    int64_t id = db_col_i64(s, 0);
    jw_obj(w);
    jw_kint(w, "id", id);
    jw_kint(w, "model_id", db_col_i64(s, 1));
    jw_kstr(w, "model", db_col_text(s, 2));
    jw_kint(w, "version", db_col_i64(s, 3));
    jw_kstr(w, "framework", db_col_text(s, 4));
    raw(w, "labels", db_col_text(s, 5));
    raw(w, "params", db_col_text(s, 6));
    jw_kstr(w, "description", db_col_text(s, 7));
    jw_kstr(w, "status", db_col_text(s, 8));
    jw_kstr(w, "status_reason", db_col_text(s, 9));
    jw_key(w, "source_experiment_id");
    if (db_col_null(s, 10))
        jw_null(w);
    else
        jw_int(w, db_col_i64(s, 10));
    raw(w, "lineage", db_col_text(s, 11));
    ts(w, "created_at", db_col_i64(s, 12));
    err e;
    jw_key(w, "files");
    jw_arr(w);
    db_stmt *f = db_query(c, &e, "SELECT path, sha256, size FROM model_file WHERE version_id = $1 ORDER BY path",
                          DBI(id));
    while (f && db_step(f, &e) == DB_ROW) {
        jw_obj(w);
        jw_kstr(w, "path", db_col_text(f, 0));
        jw_kstr(w, "sha256", db_col_text(f, 1));
        jw_kint(w, "size", db_col_i64(f, 2));
        jw_obj_end(w);
    }
    db_done(f);
    jw_arr_end(w);
    jw_key(w, "aliases");
    jw_arr(w);
    f = db_query(c, &e, "SELECT alias FROM model_alias WHERE version_id = $1 ORDER BY alias", DBI(id));
    while (f && db_step(f, &e) == DB_ROW)
        jw_str(w, db_col_text(f, 0));
    db_done(f);
    jw_arr_end(w);
    jw_obj_end(w);
}

/* Runs a versions query and writes rows (buffering: write_version queries). */
static int versions_out(db_conn *c, db_stmt *s, jw *w, bool one, err *e)
{
    int64_t ids[1000];
    int n = 0, rc;
    while ((rc = db_step(s, e)) == DB_ROW && n < 1000)
        ids[n++] = db_col_i64(s, 0);
    db_done(s);
    if (rc < 0)
        return -1;
    if (!one)
        jw_arr(w);
    for (int i = 0; i < n; i++) {
        db_stmt *v = db_query(c, e,
                              "SELECT " VERSION_COLS " FROM model_version v JOIN model m ON m.id = v.model_id"
                              " WHERE v.id = $1",
                              DBI(ids[i]));
        if (!v)
            return -1;
        if (db_step(v, e) == DB_ROW) {
            sbuf tmp = SBUF_INIT;
            jw tw;
            jw_init(&tw, &tmp);
            /* copy the row values before nested queries replace them */
            write_version(c, &tw, v);
            jw_raw(w, tmp.p, tmp.len);
            sbuf_free(&tmp);
        }
        db_done(v);
    }
    if (!one)
        jw_arr_end(w);
    return one && n == 0 ? err_set(e, ERR_NOT_FOUND, "no such model version") : 0;
}

int reg_version_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT v.id FROM model_version v JOIN model m ON m.id = v.model_id"
                          " WHERE v.id = $1 AND m.org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    if (versions_out(c, s, w, true, e)) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "model version %lld does not exist in this organization",
                    (long long)id);
        return -1;
    }
    return 0;
}

int reg_version_list(db_conn *c, int64_t org, int64_t model, jw *w, err *e)
{
    if (check_model(c, org, model, e))
        return -1;
    db_stmt *s = db_query(c, e, "SELECT id FROM model_version WHERE model_id = $1 ORDER BY version DESC LIMIT 1000",
                          DBI(model));
    return s ? versions_out(c, s, w, false, e) : -1;
}

static int check_version(db_conn *c, int64_t org, int64_t id, int64_t *model, err *e)
{
    int64_t m;
    if (db_one_i64(c, e, &m,
                   "SELECT v.model_id FROM model_version v JOIN model mo ON mo.id = v.model_id"
                   " WHERE v.id = $1 AND mo.org_id = $2",
                   DBI(id), DBI(org))) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "model version %lld does not exist in this organization",
                    (long long)id);
        return -1;
    }
    if (model)
        *model = m;
    return 0;
}

int reg_version_update(db_conn *c, int64_t org, int64_t id, json_t *body, err *e)
{
    static const char *const fields[] = {"description", "status", "status_reason", NULL};
    const char *desc = NULL, *status = NULL, *reason = NULL;
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_str(body, "description", JV_OPTIONAL, 10000, &desc, e) ||
        jv_str(body, "status", JV_OPTIONAL, 32, &status, e) ||
        jv_str(body, "status_reason", JV_OPTIONAL, 2000, &reason, e))
        return -1;
    if (status && !in_list(statuses, status))
        return err_set(e, ERR_INVALID, "status '%s' is not one of ready, candidate, archived", status);
    if (check_version(c, org, id, NULL, e))
        return -1;
    return db_run(c, e,
                  "UPDATE model_version SET description = COALESCE($1, description),"
                  " status = COALESCE($2, status), status_reason = COALESCE($3, status_reason)"
                  " WHERE id = $4",
                  DBT(desc), DBT(status), DBT(reason), DBI(id)) < 0
               ? -1
               : 0;
}

int reg_version_file_add(db_conn *c, int64_t org, int64_t id, const char *path, const char *sha,
                         int64_t size, err *e)
{
    if (check_version(c, org, id, NULL, e))
        return -1;
    return add_file(c, org, id, path, sha, size, e);
}

int reg_version_file(db_conn *c, int64_t org, int64_t id, const char *path, char sha[65],
                     int64_t *size, err *e)
{
    if (check_version(c, org, id, NULL, e))
        return -1;
    db_stmt *s = db_query(c, e, "SELECT sha256, size FROM model_file WHERE version_id = $1 AND path = $2",
                          DBI(id), DBT(path));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        snprintf(sha, 65, "%s", db_col_text(s, 0));
        *size = db_col_i64(s, 1);
    }
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "model version %lld has no file '%.200s'", (long long)id, path);
    return rc < 0 ? -1 : 0;
}

int reg_version_resolve(db_conn *c, int64_t org, int64_t model, const char *ref, int64_t *id,
                        err *e)
{
    if (check_model(c, org, model, e))
        return -1;
    int64_t num;
    err ignore;
    if (parse_i64("version", ref, 1, INT32_MAX, &num, &ignore) == 0) {
        if (db_one_i64(c, e, id, "SELECT id FROM model_version WHERE model_id = $1 AND version = $2",
                       DBI(model), DBI(num)) == 0)
            return 0;
        return err_set(e, ERR_NOT_FOUND, "model %lld has no version %lld", (long long)model,
                       (long long)num);
    }
    if (db_one_i64(c, e, id, "SELECT version_id FROM model_alias WHERE model_id = $1 AND alias = $2",
                   DBI(model), DBT(ref)) == 0)
        return 0;
    return err_set(e, ERR_NOT_FOUND, "model %lld has no version or alias '%.64s'", (long long)model, ref);
}

/* --- aliases ------------------------------------------------------------ */

static int alias_check(const char *a, err *e)
{
    if (!a || !*a || strlen(a) > 64)
        return err_set(e, ERR_INVALID, "an alias is 1 to 64 characters");
    for (const char *p = a; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            return err_set(e, ERR_INVALID,
                           "alias '%.64s' may only use lowercase letters, digits, - and _", a);
    if (a[0] >= '0' && a[0] <= '9')
        return err_set(e, ERR_INVALID, "alias '%.64s' must not start with a digit (numbers name versions)", a);
    return 0;
}

int reg_alias_set(db_conn *c, int64_t org, int64_t user, int64_t model, const char *alias,
                  int64_t version_id, err *e)
{
    int64_t vm;
    if (alias_check(alias, e) || check_model(c, org, model, e) ||
        check_version(c, org, version_id, &vm, e))
        return -1;
    if (vm != model)
        return err_set(e, ERR_INVALID, "model version %lld belongs to another model",
                       (long long)version_id);
    if (db_begin(c, e))
        return -1;
    int64_t from = 0;
    db_stmt *s = db_query(c, e, "SELECT version_id FROM model_alias WHERE model_id = $1 AND alias = $2",
                          DBI(model), DBT(alias));
    if (!s)
        goto fail;
    if (db_step(s, e) == DB_ROW)
        from = db_col_i64(s, 0);
    db_done(s);
    int64_t now = time_now_ms();
    if (db_run(c, e,
               "INSERT INTO model_alias (model_id, alias, version_id, updated_by, updated_at)"
               " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (model_id, alias) DO UPDATE SET"
               " version_id = excluded.version_id, updated_by = excluded.updated_by,"
               " updated_at = excluded.updated_at",
               DBI(model), DBT(alias), DBI(version_id), DBI(user), DBI(now)) < 0 ||
        db_run(c, e,
               "INSERT INTO model_alias_log (model_id, alias, from_version_id, to_version_id, by_user, at)"
               " VALUES ($1, $2, $3, $4, $5, $6)",
               DBI(model), DBT(alias), from ? DBI(from) : DBNULL, DBI(version_id), DBI(user), DBI(now)) < 0)
        goto fail;
    return db_commit(c, e);
fail:
    db_rollback(c);
    return -1;
}

int reg_alias_delete(db_conn *c, int64_t org, int64_t user, int64_t model, const char *alias,
                     err *e)
{
    if (check_model(c, org, model, e) || db_begin(c, e))
        return -1;
    int64_t from = 0;
    if (db_one_i64(c, e, &from, "SELECT version_id FROM model_alias WHERE model_id = $1 AND alias = $2",
                   DBI(model), DBT(alias))) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "model %lld has no alias '%.64s'", (long long)model, alias);
        goto fail;
    }
    if (db_run(c, e, "DELETE FROM model_alias WHERE model_id = $1 AND alias = $2", DBI(model),
               DBT(alias)) < 0 ||
        db_run(c, e,
               "INSERT INTO model_alias_log (model_id, alias, from_version_id, to_version_id, by_user, at)"
               " VALUES ($1, $2, $3, NULL, $4, $5)",
               DBI(model), DBT(alias), DBI(from), DBI(user), DBI(time_now_ms())) < 0)
        goto fail;
    return db_commit(c, e);
fail:
    db_rollback(c);
    return -1;
}

int reg_alias_log(db_conn *c, int64_t org, int64_t model, jw *w, err *e)
{
    if (check_model(c, org, model, e))
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT l.alias, f.version, t.version, l.by_user, l.at FROM model_alias_log l"
                          " LEFT JOIN model_version f ON f.id = l.from_version_id"
                          " LEFT JOIN model_version t ON t.id = l.to_version_id"
                          " WHERE l.model_id = $1 ORDER BY l.id DESC LIMIT 500",
                          DBI(model));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kstr(w, "alias", db_col_text(s, 0));
        jw_key(w, "from_version");
        if (db_col_null(s, 1))
            jw_null(w);
        else
            jw_int(w, db_col_i64(s, 1));
        jw_key(w, "to_version");
        if (db_col_null(s, 2))
            jw_null(w);
        else
            jw_int(w, db_col_i64(s, 2));
        jw_kint(w, "by_user", db_col_i64(s, 3));
        ts(w, "at", db_col_i64(s, 4));
        jw_obj_end(w);
    }
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

char *reg_version_event(db_conn *c, int64_t version_id)
{
    err e;
    db_stmt *s = db_query(c, &e,
                          "SELECT v.id, v.version, m.id, m.name, v.source_experiment_id FROM model_version v"
                          " JOIN model m ON m.id = v.model_id WHERE v.id = $1",
                          DBI(version_id));
    if (!s)
        return NULL;
    char *out = NULL;
    if (db_step(s, &e) == DB_ROW) {
        json_t *j = json_pack("{s:I, s:I, s:I, s:s}", "model_version_id", (json_int_t)db_col_i64(s, 0),
                              "version", (json_int_t)db_col_i64(s, 1), "model_id",
                              (json_int_t)db_col_i64(s, 2), "model", db_col_text(s, 3));
        if (!db_col_null(s, 4))
            json_object_set_new(j, "experiment_id", json_integer(db_col_i64(s, 4)));
        out = json_dumps(j, JSON_COMPACT);
        json_decref(j);
    }
    db_done(s);
    return out;
}
