/*
 * experiment.c - experiments: creation, status and its timestamps, tags,
 * parameters, dataset aliases, the full record, and the experiment table
 * (filters, sort by any column including parameters and latest metrics,
 * keyset pagination).
 *
 * Tags are kept twice: as a JSON array on the experiment row (the listing
 * shows them without a join) and as experiment_tag rows (the tag filter is
 * an index lookup). Both are written in the same transaction.
 *
 * Parameters are rows (experiment_param: name, JSON value, and the value
 * as a number when it is one), so the table can sort by a parameter and
 * show chosen parameters as columns with one indexed join each.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "experiment/experiment_impl.h"

const char exp_schema_v1[] =
    "CREATE TABLE project (id {{ID}}, org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', created_by BIGINT,"
    " created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, UNIQUE (org_id, name));"
    "CREATE TABLE project_member ("
    " project_id BIGINT NOT NULL REFERENCES project(id) ON DELETE CASCADE,"
    " user_id BIGINT NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,"
    " added_at BIGINT NOT NULL, PRIMARY KEY (project_id, user_id));"
    "CREATE INDEX project_member_user ON project_member (user_id);"
    /* base_model_version_id: the registry's model_version, no FK yet */
    "CREATE TABLE experiment (id {{ID}},"
    " org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " project_id BIGINT NOT NULL REFERENCES project(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,"
    " tags {{JSON}} NOT NULL, command TEXT, host TEXT, base_model_version_id BIGINT,"
    " output_lines BIGINT NOT NULL DEFAULT 0, created_by BIGINT, created_at BIGINT NOT NULL,"
    " updated_at BIGINT NOT NULL, queued_at BIGINT, started_at BIGINT, finished_at BIGINT,"
    " UNIQUE (project_id, name));"
    "CREATE INDEX experiment_project ON experiment (project_id, id);"
    "CREATE INDEX experiment_org ON experiment (org_id, id);"
    "CREATE TABLE experiment_tag ("
    " experiment_id BIGINT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,"
    " tag TEXT NOT NULL, PRIMARY KEY (experiment_id, tag));"
    "CREATE INDEX experiment_tag_tag ON experiment_tag (tag, experiment_id);"
    "CREATE TABLE experiment_param ("
    " experiment_id BIGINT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, value {{JSON}} NOT NULL, num DOUBLE PRECISION,"
    " PRIMARY KEY (experiment_id, name));"
    /* dataset_version_id: the datasets module's version, no FK yet */
    "CREATE TABLE experiment_dataset ("
    " experiment_id BIGINT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,"
    " alias TEXT NOT NULL, dataset_version_id BIGINT NOT NULL, attached_at BIGINT NOT NULL,"
    " PRIMARY KEY (experiment_id, alias));"
    "CREATE INDEX experiment_dataset_version ON experiment_dataset (dataset_version_id);"
    "CREATE TABLE metric_series (id {{ID}},"
    " experiment_id BIGINT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, npoints BIGINT NOT NULL DEFAULT 0, step_min BIGINT, step_max BIGINT,"
    " value_min DOUBLE PRECISION, value_max DOUBLE PRECISION, last_step BIGINT,"
    " last_value DOUBLE PRECISION, last_time BIGINT, chunks INTEGER NOT NULL DEFAULT 0,"
    " tail_n INTEGER NOT NULL DEFAULT 0, ordered INTEGER NOT NULL DEFAULT 1,"
    " UNIQUE (experiment_id, name));"
    "CREATE TABLE metric_chunk ("
    " series_id BIGINT NOT NULL REFERENCES metric_series(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL, n INTEGER NOT NULL, step_min BIGINT NOT NULL,"
    " step_max BIGINT NOT NULL, data {{BLOB}} NOT NULL, PRIMARY KEY (series_id, seq));"
    "CREATE TABLE experiment_log (id {{ID}},"
    " experiment_id BIGINT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, kind TEXT NOT NULL, step BIGINT NOT NULL, data {{JSON}} NOT NULL,"
    " sha256 TEXT, created_at BIGINT NOT NULL, UNIQUE (experiment_id, name, step));"
    "CREATE TABLE experiment_output ("
    " experiment_id BIGINT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,"
    " seq BIGINT NOT NULL, at BIGINT NOT NULL, line TEXT NOT NULL,"
    " PRIMARY KEY (experiment_id, seq));"
    "CREATE TABLE artifact ("
    " experiment_id BIGINT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,"
    " path TEXT NOT NULL, sha256 TEXT NOT NULL, size BIGINT NOT NULL,"
    " created_at BIGINT NOT NULL, PRIMARY KEY (experiment_id, path));";

static const char *const statuses[] = {"created",   "queued", "running",
                                       "succeeded", "failed", "canceled"};

bool exp_status_valid(const char *s)
{
    for (size_t i = 0; i < ARRAY_LEN(statuses); i++)
        if (strcmp(s, statuses[i]) == 0)
            return true;
    return false;
}

bool exp_status_final(const char *s)
{
    return strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "canceled") == 0;
}

static int status_check(const char *s, err *e)
{
    if (!exp_status_valid(s))
        return err_set(e, ERR_INVALID,
                       "status '%.40s' is not one of created, queued, running, succeeded, failed, "
                       "canceled",
                       s);
    return 0;
}

/* Stamps the time of entering `status` (queued_at, started_at, finished_at). */
static int stamp(db_conn *c, int64_t id, const char *status, int64_t now, err *e)
{
    const char *sql = NULL;
    if (strcmp(status, "queued") == 0)
        sql = "UPDATE experiment SET queued_at = COALESCE(queued_at, $1) WHERE id = $2";
    else if (strcmp(status, "running") == 0)
        sql = "UPDATE experiment SET started_at = COALESCE(started_at, $1) WHERE id = $2";
    else if (exp_status_final(status))
        sql = "UPDATE experiment SET finished_at = $1 WHERE id = $2";
    if (!sql)
        return 0;
    return db_run(c, e, sql, DBI(now), DBI(id)) < 0 ? -1 : 0;
}

/* Validates a tags array; writes it as canonical JSON (deduplicated, in
 * the order given) into out. */
static int tags_read(json_t *tags, sbuf *out, err *e)
{
    if (!json_is_array(tags))
        return err_set(e, ERR_INVALID, "field 'tags' must be an array of strings");
    if (json_array_size(tags) > EXP_TAGS_MAX)
        return err_set(e, ERR_INVALID, "an experiment has at most %d tags, got %zu", EXP_TAGS_MAX,
                       json_array_size(tags));
    jw w;
    jw_init(&w, out);
    jw_arr(&w);
    for (size_t i = 0; i < json_array_size(tags); i++) {
        json_t *t = json_array_get(tags, i);
        if (!json_is_string(t))
            return err_set(e, ERR_INVALID, "tags[%zu] must be a string", i);
        const char *s = json_string_value(t);
        if (strlen(s) != json_string_length(t) || name_check("tag", s, EXP_TAG_MAX, e) != 0)
            return err_prefix(e, "tags[%zu]: ", i), -1;
        bool dup = false;
        for (size_t k = 0; k < i; k++)
            dup |= strcmp(json_string_value(json_array_get(tags, k)), s) == 0;
        if (!dup)
            jw_str(&w, s);
    }
    jw_arr_end(&w);
    return 0;
}

static int tags_store(db_conn *c, int64_t id, json_t *tags, err *e)
{
    if (db_run(c, e, "DELETE FROM experiment_tag WHERE experiment_id = $1", DBI(id)) < 0)
        return -1;
    for (size_t i = 0; i < json_array_size(tags); i++)
        if (db_run(c, e,
                   "INSERT INTO experiment_tag (experiment_id, tag) VALUES ($1, $2)"
                   " ON CONFLICT DO NOTHING",
                   DBI(id), DBT(json_string_value(json_array_get(tags, i)))) < 0)
            return -1;
    return 0;
}

static int params_store(db_conn *c, int64_t id, json_t *params, err *e)
{
    if (!json_is_object(params))
        return err_set(e, ERR_INVALID,
                       "parameters must be an object like {\"lr\": 0.001, \"optimizer\": \"adam\"}");
    const char *k;
    json_t *v;
    json_object_foreach(params, k, v)
    {
        char what[EXP_PARAM_KEY_MAX + 40];
        snprintf(what, sizeof what, "parameter name '%.60s'", k);
        if (name_check(what, k, EXP_PARAM_KEY_MAX, e) != 0)
            return -1;
        if (json_is_null(v)) {
            if (db_run(c, e, "DELETE FROM experiment_param WHERE experiment_id = $1 AND name = $2",
                       DBI(id), DBT(k)) < 0)
                return -1;
            continue;
        }
        if (json_is_real(v) && !isfinite(json_real_value(v)))
            return err_set(e, ERR_INVALID, "parameter '%.60s' must be a finite number", k);
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            return err_set(e, ERR_INTERNAL, "out of memory");
        size_t n = strlen(text);
        if (n > EXP_PARAM_VALUE_MAX) {
            free(text);
            return err_set(e, ERR_INVALID,
                           "parameter '%.60s' is %zu bytes of JSON; the limit is %d (store large "
                           "configurations as an artifact)",
                           k, n, EXP_PARAM_VALUE_MAX);
        }
        db_val num = json_is_number(v) ? DBD(json_number_value(v)) : DBNULL;
        int64_t rc = db_run(c, e,
                            "INSERT INTO experiment_param (experiment_id, name, value, num)"
                            " VALUES ($1, $2, $3, $4) ON CONFLICT (experiment_id, name) DO UPDATE"
                            " SET value = excluded.value, num = excluded.num",
                            DBI(id), DBT(k), DBT(text), num);
        free(text);
        if (rc < 0)
            return -1;
    }
    int64_t count = 0;
    if (db_one_i64(c, e, &count, "SELECT COUNT(*) FROM experiment_param WHERE experiment_id = $1",
                   DBI(id)) != 0)
        return -1;
    if (count > EXP_PARAMS_MAX)
        return err_set(e, ERR_INVALID,
                       "an experiment has at most %d parameters; this would make %lld",
                       EXP_PARAMS_MAX, (long long)count);
    return 0;
}

static int alias_check(const char *alias, err *e)
{
    if (name_check("dataset alias", alias, 64, e) != 0)
        return -1;
    for (const char *p = alias; *p; p++)
        if (!(*p == '_' || *p == '-' || *p == '.' || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return err_set(e, ERR_INVALID,
                           "dataset alias '%.64s' may contain only letters, digits, '_', '-' "
                           "and '.' (e.g. train, val, test)",
                           alias);
    return 0;
}

static int dataset_store(db_conn *c, int64_t id, const char *alias, int64_t version, err *e)
{
    if (alias_check(alias, e) != 0)
        return -1;
    if (version <= 0)
        return err_set(e, ERR_INVALID, "dataset version id for alias '%s' must be a positive id",
                       alias);
    return db_run(c, e,
                  "INSERT INTO experiment_dataset (experiment_id, alias, dataset_version_id,"
                  " attached_at) VALUES ($1, $2, $3, $4) ON CONFLICT (experiment_id, alias)"
                  " DO UPDATE SET dataset_version_id = excluded.dataset_version_id,"
                  " attached_at = excluded.attached_at",
                  DBI(id), DBT(alias), DBI(version), DBI(time_now_ms())) < 0
               ? -1
               : 0;
}

static int text_field(json_t *body, const char *key, size_t max, const char **out, err *e)
{
    return jv_str(body, key, JV_OPTIONAL, max, out, e) ||
           (*out && exp_text_check(key, *out, max, e));
}

int exp_create(db_conn *c, int64_t org, int64_t user, int64_t project, json_t *body, int64_t *id,
               err *e)
{
    static const char *const fields[] = {"name",    "description", "tags",     "params",
                                         "status",  "command",     "host",     "datasets",
                                         "base_model_version_id",  NULL};
    const char *name = NULL, *desc = "", *status = "created", *command = NULL, *host = NULL;
    json_t *tags = NULL, *params = NULL, *datasets = NULL;
    int64_t base = 0;
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_str(body, "name", JV_OPTIONAL, EXP_NAME_MAX, &name, e) ||
        (name && name_check("experiment name", name, EXP_NAME_MAX, e)) ||
        text_field(body, "description", EXP_DESC_MAX, &desc, e) ||
        jv_str(body, "status", JV_OPTIONAL, 20, &status, e) || status_check(status, e) ||
        text_field(body, "command", 8192, &command, e) ||
        text_field(body, "host", 255, &host, e) ||
        jv_obj(body, "params", JV_OPTIONAL, &params, e) ||
        jv_obj(body, "datasets", JV_OPTIONAL, &datasets, e) ||
        jv_i64(body, "base_model_version_id", JV_OPTIONAL, 1, INT64_MAX, &base, e))
        return -1;
    tags = json_object_get(body, "tags");
    sbuf tagjson = SBUF_INIT;
    if (tags && !json_is_null(tags) ? tags_read(tags, &tagjson, e) != 0 : (sbuf_puts(&tagjson, "[]"), 0)) {
        sbuf_free(&tagjson);
        return -1;
    }
    char auto_name[64];
    if (!name) {
        char ts[32], rnd[8];
        time_fmt_iso(time_now_ms(), ts, sizeof ts);
        rand_token(rnd, sizeof rnd, 3);
        /* "run-20260105-101502-abcde" */
        snprintf(auto_name, sizeof auto_name, "run-%.4s%.2s%.2s-%.2s%.2s%.2s-%s", ts, ts + 5,
                 ts + 8, ts + 11, ts + 14, ts + 17, rnd);
        name = auto_name;
    }
    if (db_begin(c, e) != 0) {
        sbuf_free(&tagjson);
        return -1;
    }
    int64_t one;
    if (db_one_i64(c, e, &one, "SELECT 1 FROM project WHERE id = $1 AND org_id = $2",
                   DBI(project), DBI(org)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "project %lld does not exist in this organization",
                    (long long)project);
        goto fail;
    }
    int64_t now = time_now_ms();
    if (db_one_i64(c, e, id,
                   "INSERT INTO experiment (org_id, project_id, name, description, status, tags,"
                   " command, host, base_model_version_id, created_by, created_at, updated_at)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
                   DBI(org), DBI(project), DBT(name), DBT(desc), DBT(status),
                   DBT(sbuf_cstr(&tagjson)), DBT(command), DBT(host), base ? DBI(base) : DBNULL,
                   user ? DBI(user) : DBNULL, DBI(now)) != 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT,
                    "project %lld already has an experiment named '%.200s'; choose another name "
                    "(or leave it out for a generated one)",
                    (long long)project, name);
        goto fail;
    }
    if (stamp(c, *id, status, now, e) != 0 || (tags && tags_store(c, *id, tags, e) != 0) ||
        (params && params_store(c, *id, params, e) != 0))
        goto fail;
    const char *alias;
    json_t *v;
    json_object_foreach(datasets, alias, v)
    {
        if (!json_is_integer(v)) {
            err_set(e, ERR_INVALID, "datasets.%.64s must be a dataset version id", alias);
            goto fail;
        }
        if (dataset_store(c, *id, alias, json_integer_value(v), e) != 0)
            goto fail;
    }
    sbuf_free(&tagjson);
    return db_commit(c, e);
fail:
    sbuf_free(&tagjson);
    db_rollback(c);
    return -1;
}

int exp_check(db_conn *c, int64_t org, int64_t id, err *e)
{
    int64_t one;
    if (db_one_i64(c, e, &one, "SELECT 1 FROM experiment WHERE id = $1 AND org_id = $2", DBI(id),
                   DBI(org)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "experiment %lld does not exist in this organization",
                    (long long)id);
        return -1;
    }
    return 0;
}

int exp_update(db_conn *c, int64_t org, int64_t id, json_t *body, err *e)
{
    static const char *const fields[] = {"name",    "description", "tags", "status",
                                         "command", "host", "base_model_version_id", NULL};
    const char *name = NULL, *desc = NULL, *status = NULL, *command = NULL, *host = NULL;
    int64_t base = 0;
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_str(body, "name", JV_OPTIONAL, EXP_NAME_MAX, &name, e) ||
        (name && name_check("experiment name", name, EXP_NAME_MAX, e)) ||
        text_field(body, "description", EXP_DESC_MAX, &desc, e) ||
        jv_str(body, "status", JV_OPTIONAL, 20, &status, e) ||
        (status && status_check(status, e)) ||
        text_field(body, "command", 8192, &command, e) ||
        text_field(body, "host", 255, &host, e) ||
        jv_i64(body, "base_model_version_id", JV_OPTIONAL, 1, INT64_MAX, &base, e))
        return -1;
    json_t *tags = json_object_get(body, "tags");
    sbuf tagjson = SBUF_INIT;
    if (tags && !json_is_null(tags) && tags_read(tags, &tagjson, e) != 0) {
        sbuf_free(&tagjson);
        return -1;
    }
    if (db_begin(c, e) != 0) {
        sbuf_free(&tagjson);
        return -1;
    }
    char cur[16] = "";
    db_stmt *s = db_query(c, e, "SELECT status FROM experiment WHERE id = $1 AND org_id = $2",
                          DBI(id), DBI(org));
    int rc = s ? db_step(s, e) : -1;
    if (rc == DB_ROW)
        snprintf(cur, sizeof cur, "%s", db_col_text(s, 0));
    db_done(s);
    if (rc == DB_DONE)
        err_set(e, ERR_NOT_FOUND, "experiment %lld does not exist in this organization",
                (long long)id);
    if (rc != DB_ROW)
        goto fail;
    if (status && exp_status_final(cur) && strcmp(cur, status) != 0) {
        err_set(e, ERR_CONFLICT,
                "experiment %lld has already finished (%s) and cannot become %s; create a new "
                "experiment to run again",
                (long long)id, cur, status);
        goto fail;
    }
    int64_t now = time_now_ms();
    if (db_run(c, e,
               "UPDATE experiment SET name = COALESCE($1, name),"
               " description = COALESCE($2, description), status = COALESCE($3, status),"
               " command = COALESCE($4, command), host = COALESCE($5, host),"
               " base_model_version_id = COALESCE($6, base_model_version_id),"
               " tags = COALESCE($7, tags), updated_at = $8 WHERE id = $9",
               DBT(name), DBT(desc), DBT(status), DBT(command), DBT(host),
               base ? DBI(base) : DBNULL, tagjson.len ? DBT(sbuf_cstr(&tagjson)) : DBNULL,
               DBI(now), DBI(id)) < 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT,
                    "the project already has an experiment named '%.200s'; choose another name",
                    name);
        goto fail;
    }
    if ((status && strcmp(cur, status) != 0 && stamp(c, id, status, now, e) != 0) ||
        (tagjson.len && tags_store(c, id, tags, e) != 0))
        goto fail;
    sbuf_free(&tagjson);
    return db_commit(c, e);
fail:
    sbuf_free(&tagjson);
    db_rollback(c);
    return -1;
}

int exp_delete(db_conn *c, int64_t org, int64_t id, err *e)
{
    int64_t n = db_run(c, e, "DELETE FROM experiment WHERE id = $1 AND org_id = $2", DBI(id),
                       DBI(org));
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "experiment %lld does not exist in this organization",
                       (long long)id);
    return 0;
}

int exp_params_set(db_conn *c, int64_t org, int64_t id, json_t *params, err *e)
{
    if (db_begin(c, e) != 0)
        return -1;
    if (exp_lock(c, org, id, e) != 0 || params_store(c, id, params, e) != 0 ||
        db_run(c, e, "UPDATE experiment SET updated_at = $1 WHERE id = $2", DBI(time_now_ms()),
               DBI(id)) < 0) {
        db_rollback(c);
        return -1;
    }
    return db_commit(c, e);
}

int exp_dataset_set(db_conn *c, int64_t org, int64_t id, const char *alias, int64_t version,
                    err *e)
{
    if (exp_check(c, org, id, e) != 0)
        return -1;
    return dataset_store(c, id, alias, version, e);
}

int exp_dataset_remove(db_conn *c, int64_t org, int64_t id, const char *alias, err *e)
{
    if (exp_check(c, org, id, e) != 0)
        return -1;
    int64_t n = db_run(c, e, "DELETE FROM experiment_dataset WHERE experiment_id = $1 AND alias = $2",
                       DBI(id), DBT(alias));
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "experiment %lld has no dataset alias '%.64s'",
                       (long long)id, alias);
    return 0;
}

int exp_run_info(db_conn *c, int64_t org, int64_t id, char *status, size_t status_size,
                 json_t **params, json_t **datasets, err *e)
{
    *params = NULL;
    *datasets = NULL;
    db_stmt *s = db_query(c, e, "SELECT status FROM experiment WHERE id = $1 AND org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        snprintf(status, status_size, "%s", db_col_text(s, 0));
    db_done(s);
    if (rc != DB_ROW)
        return rc < 0 ? -1
                      : err_set(e, ERR_NOT_FOUND, "experiment %lld does not exist in this organization",
                                (long long)id);
    json_t *p = json_object(), *d = json_object();
    s = db_query(c, e, "SELECT name, value FROM experiment_param WHERE experiment_id = $1", DBI(id));
    while (s && (rc = db_step(s, e)) == DB_ROW) {
        json_t *v = json_loads(db_col_text(s, 1), JSON_DECODE_ANY, NULL);
        if (v)
            json_object_set_new(p, db_col_text(s, 0), v);
    }
    db_done(s);
    if (!s || rc < 0)
        goto fail;
    s = db_query(c, e,
                 "SELECT alias, dataset_version_id FROM experiment_dataset WHERE experiment_id = $1",
                 DBI(id));
    while (s && (rc = db_step(s, e)) == DB_ROW)
        json_object_set_new(d, db_col_text(s, 0), json_integer(db_col_i64(s, 1)));
    db_done(s);
    if (!s || rc < 0)
        goto fail;
    *params = p;
    *datasets = d;
    return 0;
fail:
    json_decref(p);
    json_decref(d);
    return -1;
}

int exp_queue_run(db_conn *c, int64_t org, int64_t id, err *e)
{
    int64_t now = time_now_ms();
    int64_t n = db_run(c, e,
                       "UPDATE experiment SET status = 'queued', finished_at = NULL, queued_at = $1,"
                       " updated_at = $1 WHERE id = $2 AND org_id = $3"
                       " AND status IN ('created', 'canceled', 'failed')",
                       DBI(now), DBI(id), DBI(org));
    if (n < 0)
        return -1;
    if (n == 1)
        return 0;
    char status[16] = "";
    json_t *p, *d;
    if (exp_run_info(c, org, id, status, sizeof status, &p, &d, e) != 0)
        return -1;
    json_decref(p);
    json_decref(d);
    if (strcmp(status, "succeeded") == 0)
        return err_set(e, ERR_CONFLICT,
                       "experiment %lld has already succeeded; create a new experiment to train "
                       "again",
                       (long long)id);
    return err_set(e, ERR_CONFLICT,
                   "experiment %lld is %s; wait for it to finish or cancel it first", (long long)id,
                   status);
}

/* --- the full record ----------------------------------------------------------- */

#define EXP_COLS                                                                                   \
    "e.id, e.project_id, e.name, e.description, e.status, e.tags, e.command, e.host,"            \
    " e.created_by, e.created_at, e.updated_at, e.queued_at, e.started_at, e.finished_at,"       \
    " e.base_model_version_id, e.output_lines"
enum { N_EXP_COLS = 16 };

static void write_exp_cols(jw *w, db_stmt *s)
{
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kint(w, "project_id", db_col_i64(s, 1));
    jw_kstr(w, "name", db_col_text(s, 2));
    jw_kstr(w, "description", db_col_text(s, 3));
    jw_kstr(w, "status", db_col_text(s, 4));
    exp_jw_json(w, "tags", s, 5);
    jw_kstr(w, "command", db_col_text(s, 6));
    jw_kstr(w, "host", db_col_text(s, 7));
    exp_jw_id(w, "created_by", s, 8);
    exp_jw_time(w, "created_at", s, 9);
    exp_jw_time(w, "updated_at", s, 10);
    exp_jw_time(w, "queued_at", s, 11);
    exp_jw_time(w, "started_at", s, 12);
    exp_jw_time(w, "finished_at", s, 13);
    exp_jw_id(w, "base_model_version_id", s, 14);
    jw_kint(w, "output_lines", db_col_i64(s, 15));
}

int exp_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT " EXP_COLS " FROM experiment e WHERE e.id = $1 AND e.org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        jw_obj(w);
        write_exp_cols(w, s);
    }
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "experiment %lld does not exist in this organization",
                       (long long)id);
    if (rc < 0)
        return -1;
    s = db_query(c, e, "SELECT name, value FROM experiment_param WHERE experiment_id = $1 ORDER BY name",
                 DBI(id));
    if (!s)
        return -1;
    jw_key(w, "params");
    jw_obj(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_key(w, db_col_text(s, 0));
        exp_jw_json(w, NULL, s, 1);
    }
    jw_obj_end(w);
    db_done(s);
    if (rc < 0)
        return -1;
    s = db_query(c, e,
                 "SELECT alias, dataset_version_id FROM experiment_dataset WHERE experiment_id = $1"
                 " ORDER BY alias",
                 DBI(id));
    if (!s)
        return -1;
    jw_key(w, "datasets");
    jw_obj(w);
    while ((rc = db_step(s, e)) == DB_ROW)
        jw_kint(w, db_col_text(s, 0), db_col_i64(s, 1));
    jw_obj_end(w);
    db_done(s);
    if (rc < 0)
        return -1;
    jw_key(w, "metrics");
    if (exp_series_list(c, org, id, w, e) != 0)
        return -1;
    jw_obj_end(w);
    return 0;
}

/* --- the experiment table -------------------------------------------------------- */

typedef enum { K_INT, K_TEXT, K_DBL } key_type;

typedef struct {
    const char *name;
    const char *expr;
    key_type type;
} sort_key;

static const sort_key sort_keys[] = {
    {"created", "e.id", K_INT},           {"name", "e.name", K_TEXT},
    {"status", "e.status", K_TEXT},       {"updated", "e.updated_at", K_INT},
    {"started", "e.started_at", K_INT},   {"finished", "e.finished_at", K_INT},
};

/* Splits a comma-separated list into at most max names (pointers into
 * a copy the caller frees). */
static int split_list(const char *s, const char *what, char **copy, const char **out, int max,
                      int *n, err *e)
{
    *n = 0;
    *copy = NULL;
    if (!s || !*s)
        return 0;
    *copy = strdup(s);
    if (!*copy)
        return err_set(e, ERR_INTERNAL, "out of memory");
    for (char *save = NULL, *t = strtok_r(*copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == max)
            return err_set(e, ERR_INVALID, "%s names at most %d columns", what, max);
        out[(*n)++] = t;
    }
    return 0;
}

int exp_list(db_conn *c, int64_t org, const exp_list_query *q, jw *w, err *e)
{
    const char *ob = q->order_by && *q->order_by ? q->order_by : "-created";
    bool desc = ob[0] == '-';
    if (desc || ob[0] == '+')
        ob++;
    sort_key key = {NULL, NULL, K_INT};
    const char *join_name = NULL;
    const char *join = "";
    for (size_t i = 0; i < ARRAY_LEN(sort_keys); i++)
        if (strcmp(ob, sort_keys[i].name) == 0)
            key = sort_keys[i];
    if (!key.name && str_has_prefix(ob, "param:") && ob[6]) {
        key = (sort_key){ob, "sp.num", K_DBL};
        join = " LEFT JOIN experiment_param sp ON sp.experiment_id = e.id AND sp.name = $%d";
        join_name = ob + 6;
    } else if (!key.name && str_has_prefix(ob, "metric:") && ob[7]) {
        key = (sort_key){ob, "sm.last_value", K_DBL};
        join = " LEFT JOIN metric_series sm ON sm.experiment_id = e.id AND sm.name = $%d";
        join_name = ob + 7;
    }
    if (!key.name)
        return err_set(e, ERR_INVALID,
                       "order_by '%.60s' is not one of created, name, status, updated, started, "
                       "finished, param:NAME, metric:NAME (prefix '-' for descending)",
                       ob);
    if (q->status && *q->status && status_check(q->status, e) != 0)
        return -1;

    /* cursor "ID:" + kind + value: i<int>, s<text>, d<double>, z (null) */
    int64_t cid = 0;
    char ckind = 0;
    const char *cval = NULL;
    if (q->cursor && *q->cursor) {
        char *end;
        cid = strtoll(q->cursor, &end, 10);
        if (cid <= 0 || *end != ':' || !strchr("isdz", end[1]) || !end[1])
            return err_set(e, ERR_INVALID,
                           "cursor '%.60s' is not one this listing returned; pass next_cursor "
                           "unchanged (and the same order_by)",
                           q->cursor);
        ckind = end[1];
        cval = end + 2;
        if ((ckind == 'i' && key.type != K_INT) || (ckind == 's' && key.type != K_TEXT) ||
            (ckind == 'd' && key.type != K_DBL))
            return err_set(e, ERR_INVALID, "cursor '%.60s' belongs to another order_by",
                           q->cursor);
    }
    char *pcopy, *mcopy;
    const char *pcols[EXP_LIST_COLUMNS_MAX], *mcols[EXP_LIST_COLUMNS_MAX];
    int np, nm;
    if (split_list(q->params, "params", &pcopy, pcols, EXP_LIST_COLUMNS_MAX, &np, e) != 0) {
        free(pcopy);
        return -1;
    }
    if (split_list(q->metrics, "metrics", &mcopy, mcols, EXP_LIST_COLUMNS_MAX, &nm, e) != 0) {
        free(pcopy);
        free(mcopy);
        return -1;
    }

    /* Parameters are numbered as they appear: $1 org, $2 project, $3 status,
     * $4 tag, $5 name pattern, then the sort join's name, the cursor, the
     * limit and the column names (PostgreSQL needs them contiguous). */
    int pn = 5, p_join = 0, p_cval = 0, p_cid = 0, p_limit, p_cols;
    if (join_name)
        p_join = ++pn;
    if (ckind && ckind != 'z')
        p_cval = ++pn;
    if (ckind)
        p_cid = ++pn;
    p_limit = ++pn;
    p_cols = pn + 1;
    const char *dir = desc ? "DESC" : "ASC", *cmp = desc ? "<" : ">";
    sbuf sql = SBUF_INIT;
    sbuf_puts(&sql, "SELECT page.*");
    for (int i = 0; i < np; i++)
        sbuf_printf(&sql, ", p%d.value", i);
    for (int i = 0; i < nm; i++)
        sbuf_printf(&sql, ", m%d.last_value, m%d.last_step, m%d.value_min, m%d.value_max", i, i,
                    i, i);
    sbuf_printf(&sql, " FROM (SELECT " EXP_COLS ", %s AS sort_key FROM experiment e", key.expr);
    if (join_name)
        sbuf_printf(&sql, join, p_join);
    sbuf_puts(&sql, " WHERE e.org_id = $1 AND e.project_id = $2 AND ($3 = '' OR e.status = $3)"
                    " AND ($4 = '' OR EXISTS (SELECT 1 FROM experiment_tag t"
                    " WHERE t.experiment_id = e.id AND t.tag = $4))"
                    " AND lower(e.name) LIKE lower($5) ESCAPE '\\'");
    if (ckind == 'z')
        sbuf_printf(&sql, " AND %s IS NULL AND e.id %s $%d", key.expr, cmp, p_cid);
    else if (ckind)
        sbuf_printf(&sql, " AND (%s %s $%d OR (%s = $%d AND e.id %s $%d) OR %s IS NULL)", key.expr,
                    cmp, p_cval, key.expr, p_cval, cmp, p_cid, key.expr);
    sbuf_printf(&sql, " ORDER BY (%s IS NULL), %s %s, e.id %s LIMIT $%d) page", key.expr,
                key.expr, dir, dir, p_limit);
    for (int i = 0; i < np; i++)
        sbuf_printf(&sql,
                    " LEFT JOIN experiment_param p%d ON p%d.experiment_id = page.id AND p%d.name = $%d",
                    i, i, i, p_cols + i);
    for (int i = 0; i < nm; i++)
        sbuf_printf(&sql,
                    " LEFT JOIN metric_series m%d ON m%d.experiment_id = page.id AND m%d.name = $%d",
                    i, i, i, p_cols + np + i);
    sbuf_printf(&sql, " ORDER BY (page.sort_key IS NULL), page.sort_key %s, page.id %s", dir, dir);

    char *pat = exp_like_pattern(q->q ? q->q : "");
    db_stmt *s = pat && !sbuf_failed(&sql) ? db_prepare(c, sbuf_cstr(&sql), e) : NULL;
    if (!pat || sbuf_failed(&sql))
        err_set(e, ERR_INTERNAL, "out of memory");
    int rc = -1;
    if (!s)
        goto out;
    db_bind(s, 1, DBI(org));
    db_bind(s, 2, DBI(q->project));
    db_bind(s, 3, DBT(q->status ? q->status : ""));
    db_bind(s, 4, DBT(q->tag ? q->tag : ""));
    db_bind(s, 5, DBT(pat));
    if (p_join)
        db_bind(s, p_join, DBT(join_name));
    if (p_cval) {
        if (ckind == 'i')
            db_bind(s, p_cval, DBI(strtoll(cval, NULL, 10)));
        else if (ckind == 'd')
            db_bind(s, p_cval, DBD(strtod(cval, NULL)));
        else
            db_bind(s, p_cval, DBT(cval));
    }
    if (p_cid)
        db_bind(s, p_cid, DBI(cid));
    db_bind(s, p_limit, DBI(q->limit + 1));
    for (int i = 0; i < np; i++)
        db_bind(s, p_cols + i, DBT(pcols[i]));
    for (int i = 0; i < nm; i++)
        db_bind(s, p_cols + np + i, DBT(mcols[i]));

    int n = 0;
    sbuf cursor = SBUF_INIT;
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        if (n == q->limit)
            break;
        n++;
        jw_obj(w);
        write_exp_cols(w, s);
        int col = N_EXP_COLS + 1;
        if (np) {
            jw_key(w, "params");
            jw_obj(w);
            for (int i = 0; i < np; i++) {
                jw_key(w, pcols[i]);
                exp_jw_json(w, NULL, s, col++);
            }
            jw_obj_end(w);
        }
        if (nm) {
            jw_key(w, "metrics");
            jw_obj(w);
            for (int i = 0; i < nm; i++, col += 4) {
                jw_key(w, mcols[i]);
                if (db_col_null(s, col)) {
                    jw_null(w);
                    continue;
                }
                jw_obj(w);
                jw_kdbl(w, "last", db_col_dbl(s, col));
                jw_kint(w, "step", db_col_i64(s, col + 1));
                jw_kdbl(w, "min", db_col_dbl(s, col + 2));
                jw_kdbl(w, "max", db_col_dbl(s, col + 3));
                jw_obj_end(w);
            }
            jw_obj_end(w);
        }
        jw_obj_end(w);
        /* the cursor of the last row written */
        sbuf_reset(&cursor);
        sbuf_printf(&cursor, "%lld:", (long long)db_col_i64(s, 0));
        int kc = N_EXP_COLS;
        if (db_col_null(s, kc))
            sbuf_putc(&cursor, 'z');
        else if (key.type == K_INT)
            sbuf_printf(&cursor, "i%lld", (long long)db_col_i64(s, kc));
        else if (key.type == K_DBL)
            sbuf_printf(&cursor, "d%.17g", db_col_dbl(s, kc));
        else
            sbuf_printf(&cursor, "s%s", db_col_text(s, kc));
    }
    jw_arr_end(w);
    jw_key(w, "next_cursor");
    if (rc == DB_ROW)
        jw_str(w, sbuf_cstr(&cursor));
    else
        jw_null(w);
    jw_obj_end(w);
    sbuf_free(&cursor);
    db_done(s);
    rc = rc < 0 ? -1 : 0;
out:
    free(pat);
    free(pcopy);
    free(mcopy);
    sbuf_free(&sql);
    return rc;
}
