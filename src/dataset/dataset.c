/*
 * dataset.c - the dataset module's tables, datasets, versions (create,
 * list, rename, delete, fork, lock) and the write guard every change to a
 * version goes through. See dataset.h for the model.
 *
 * Organization scoping: a version has no org column of its own; every
 * lookup joins its dataset and filters on dataset.org_id, so another
 * organization's ids answer "not found" the same way unknown ids do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datalake/datalake.h"
#include "dataset/internal.h"

const char dataset_schema_v20[] =
    "CREATE TABLE dataset (id {{ID}}, org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " datalake_id BIGINT NOT NULL REFERENCES datalake(id) ON DELETE CASCADE, name TEXT NOT NULL,"
    " description TEXT, created_by BIGINT, created_at BIGINT NOT NULL, UNIQUE (org_id, name));"
    "CREATE INDEX dataset_datalake ON dataset (datalake_id);"
    "CREATE TABLE dataset_version (id {{ID}},"
    " dataset_id BIGINT NOT NULL REFERENCES dataset(id) ON DELETE CASCADE, name TEXT NOT NULL,"
    " description TEXT, task TEXT NOT NULL,"
    " parent_id BIGINT REFERENCES dataset_version(id) ON DELETE SET NULL,"
    " locked INTEGER NOT NULL DEFAULT 0, locked_by BIGINT, locked_at BIGINT, created_by BIGINT,"
    " created_at BIGINT NOT NULL, UNIQUE (dataset_id, name));"
    "CREATE INDEX dataset_version_parent ON dataset_version (parent_id);"
    "CREATE TABLE asset (id {{ID}},"
    " version_id BIGINT NOT NULL REFERENCES dataset_version(id) ON DELETE CASCADE,"
    " data_id BIGINT NOT NULL REFERENCES data(id) ON DELETE CASCADE, created_at BIGINT NOT NULL,"
    " UNIQUE (version_id, data_id));"
    "CREATE INDEX asset_data ON asset (data_id);"
    "CREATE INDEX asset_version ON asset (version_id, id);"
    "CREATE TABLE asset_tag (asset_id BIGINT NOT NULL REFERENCES asset(id) ON DELETE CASCADE,"
    " version_id BIGINT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (asset_id, name));"
    "CREATE INDEX asset_tag_version ON asset_tag (version_id, name);"
    "CREATE TABLE label (id {{ID}},"
    " version_id BIGINT NOT NULL REFERENCES dataset_version(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, color TEXT, grp TEXT, keypoints {{JSON}}, skeleton {{JSON}},"
    " nkeypoints INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, UNIQUE (version_id, name));"
    "CREATE TABLE annotation (asset_id BIGINT PRIMARY KEY REFERENCES asset(id) ON DELETE CASCADE,"
    " version_id BIGINT NOT NULL, status TEXT NOT NULL, author BIGINT,"
    " duration_ms BIGINT NOT NULL DEFAULT 0, revision INTEGER NOT NULL,"
    " shape_count INTEGER NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
    "CREATE INDEX annotation_version ON annotation (version_id, status);"
    "CREATE TABLE shape (id {{ID}}, asset_id BIGINT NOT NULL REFERENCES asset(id) ON DELETE CASCADE,"
    " label_id BIGINT NOT NULL REFERENCES label(id), kind INTEGER NOT NULL,"
    " x DOUBLE PRECISION NOT NULL, y DOUBLE PRECISION NOT NULL, w DOUBLE PRECISION NOT NULL,"
    " h DOUBLE PRECISION NOT NULL, geom {{BLOB}}, aux {{BLOB}}, score DOUBLE PRECISION, text TEXT,"
    " attrs {{JSON}}, iscrowd INTEGER NOT NULL DEFAULT 0, area DOUBLE PRECISION);"
    "CREATE INDEX shape_asset ON shape (asset_id);"
    "CREATE INDEX shape_label ON shape (label_id);"
    "CREATE TABLE annotation_revision (asset_id BIGINT NOT NULL REFERENCES asset(id) ON DELETE CASCADE,"
    " revision INTEGER NOT NULL, status TEXT NOT NULL, author BIGINT, duration_ms BIGINT NOT NULL,"
    " shape_count INTEGER NOT NULL, saved_at BIGINT NOT NULL, archived_at BIGINT NOT NULL,"
    " PRIMARY KEY (asset_id, revision));"
    "CREATE TABLE shape_revision (asset_id BIGINT NOT NULL REFERENCES asset(id) ON DELETE CASCADE,"
    " revision INTEGER NOT NULL, id BIGINT NOT NULL, label_id BIGINT NOT NULL, kind INTEGER NOT NULL,"
    " x DOUBLE PRECISION NOT NULL, y DOUBLE PRECISION NOT NULL, w DOUBLE PRECISION NOT NULL,"
    " h DOUBLE PRECISION NOT NULL, geom {{BLOB}}, aux {{BLOB}}, score DOUBLE PRECISION, text TEXT,"
    " attrs {{JSON}}, iscrowd INTEGER NOT NULL DEFAULT 0, area DOUBLE PRECISION);"
    "CREATE INDEX shape_revision_asset ON shape_revision (asset_id, revision);";

const char dataset_schema_v24[] = "ALTER TABLE label ADD COLUMN source_id BIGINT;";

bool ds_is_pg(db_conn *c) { return db_conn_driver(c) == DB_POSTGRES; }

static const char *const tasks[] = {"classification", "detection", "segmentation", "keypoints",
                                    "multi"};

bool ds_task_valid(const char *t)
{
    for (size_t i = 0; i < ARRAY_LEN(tasks); i++)
        if (strcmp(t, tasks[i]) == 0)
            return true;
    return false;
}

static int task_check(const char *t, err *e)
{
    if (!t || ds_task_valid(t))
        return 0;
    return err_set(e, ERR_INVALID,
                   "task '%.40s' is not one of classification, detection, segmentation, "
                   "keypoints, multi",
                   t);
}

/* --- output helpers ------------------------------------------------------------------- */

void ds_ts(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    if (db_col_null(s, col)) {
        jw_null(w);
        return;
    }
    char buf[32];
    time_fmt_iso(db_col_i64(s, col), buf, sizeof buf);
    jw_str(w, buf);
}

void ds_opt_int(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    if (db_col_null(s, col))
        jw_null(w);
    else
        jw_int(w, db_col_i64(s, col));
}

void ds_raw_json(jw *w, const char *k, db_stmt *s, int col, const char *dflt)
{
    jw_key(w, k);
    const char *v = db_col_text(s, col);
    if (v)
        jw_raw(w, v, db_col_len(s, col));
    else
        jw_raw(w, dflt, strlen(dflt));
}

/* --- datasets ---------------------------------------------------------------------------- */

static int default_lake(db_conn *c, int64_t org, int64_t *lake, err *e)
{
    if (datalake_find(c, org, "default", lake, e) == 0)
        return 0;
    if (e->code != ERR_NOT_FOUND)
        return -1;
    if (datalake_create(c, org, "default", NULL, lake, e) == 0)
        return 0;
    /* created meanwhile by someone else */
    return datalake_find(c, org, "default", lake, e);
}

int dataset_create(db_conn *c, int64_t org, const char *name, const char *description,
                   int64_t lake, int64_t user, int64_t *id, err *e)
{
    if (name_check("dataset name", name, DATASET_NAME_MAX, e))
        return -1;
    if (lake ? datalake_check(c, org, lake, e) : default_lake(c, org, &lake, e))
        return -1;
    if (db_one_i64(c, e, id,
                   "INSERT INTO dataset (org_id, datalake_id, name, description, created_by, created_at)"
                   " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                   DBI(org), DBI(lake), DBT(name), DBT(description), DBI(user),
                   DBI(time_now_ms())) != 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT, "a dataset named '%s' already exists in this organization",
                    name);
        return -1;
    }
    return 0;
}

#define DATASET_COLS                                                                               \
    "ds.id, ds.name, ds.description, ds.datalake_id, l.name, ds.created_at, ds.created_by,"       \
    " (SELECT COUNT(*) FROM dataset_version v WHERE v.dataset_id = ds.id)"

static void write_dataset(jw *w, db_stmt *s)
{
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kstr(w, "name", db_col_text(s, 1));
    jw_kstr(w, "description", db_col_text(s, 2));
    jw_kint(w, "datalake_id", db_col_i64(s, 3));
    jw_kstr(w, "datalake", db_col_text(s, 4));
    ds_ts(w, "created_at", s, 5);
    ds_opt_int(w, "created_by", s, 6);
    jw_kint(w, "versions", db_col_i64(s, 7));
    jw_obj_end(w);
}

static int not_found_dataset(int64_t id, err *e)
{
    return err_set(e, ERR_NOT_FOUND, "dataset %lld does not exist in this organization",
                   (long long)id);
}

int dataset_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT " DATASET_COLS " FROM dataset ds JOIN datalake l ON l.id = ds.datalake_id"
                          " WHERE ds.id = $1 AND ds.org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        write_dataset(w, s);
    db_done(s);
    if (rc == DB_DONE)
        return not_found_dataset(id, e);
    return rc < 0 ? -1 : 0;
}

int dataset_list(db_conn *c, int64_t org, jw *w, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT " DATASET_COLS " FROM dataset ds JOIN datalake l ON l.id = ds.datalake_id"
                          " WHERE ds.org_id = $1 ORDER BY ds.name",
                          DBI(org));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW)
        write_dataset(w, s);
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int dataset_find(db_conn *c, int64_t org, const char *name, int64_t *id, err *e)
{
    if (db_one_i64(c, e, id, "SELECT id FROM dataset WHERE org_id = $1 AND name = $2", DBI(org),
                   DBT(name)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "no dataset named '%.128s' in this organization", name);
        return -1;
    }
    return 0;
}

int dataset_update(db_conn *c, int64_t org, int64_t id, const char *name, const char *description,
                   err *e)
{
    if (name && name_check("dataset name", name, DATASET_NAME_MAX, e))
        return -1;
    int64_t n = db_run(c, e,
                       "UPDATE dataset SET name = COALESCE($1, name), description = COALESCE($2, description)"
                       " WHERE id = $3 AND org_id = $4",
                       DBT(name), DBT(description), DBI(id), DBI(org));
    if (n < 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT, "a dataset named '%s' already exists in this organization",
                    name);
        return -1;
    }
    return n == 0 ? not_found_dataset(id, e) : 0;
}

/* The first locked version of a dataset, for refusals. */
static int first_locked(db_conn *c, int64_t dataset, char *name, size_t n, err *e)
{
    name[0] = 0;
    db_stmt *s = db_query(c, e,
                          "SELECT name FROM dataset_version WHERE dataset_id = $1 AND locked = 1"
                          " ORDER BY id LIMIT 1",
                          DBI(dataset));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        snprintf(name, n, "%s", db_col_text(s, 0));
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int dataset_delete(db_conn *c, int64_t org, int64_t id, err *e)
{
    if (db_begin(c, e))
        return -1;
    int64_t x;
    char locked[DATASET_NAME_MAX + 1], dsname[DATASET_NAME_MAX + 1] = "";
    db_stmt *s = db_query(c, e, "SELECT name FROM dataset WHERE id = $1 AND org_id = $2", DBI(id),
                          DBI(org));
    if (!s)
        goto fail;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        snprintf(dsname, sizeof dsname, "%s", db_col_text(s, 0));
    db_done(s);
    if (rc < 0)
        goto fail;
    if (rc == DB_DONE) {
        not_found_dataset(id, e);
        goto fail;
    }
    if (first_locked(c, id, locked, sizeof locked, e))
        goto fail;
    if (locked[0]) {
        err_set(e, ERR_CONFLICT,
                "dataset '%s' has a locked version '%s'; unlock it before deleting the dataset",
                dsname, locked);
        goto fail;
    }
    if (db_run(c, e, "DELETE FROM dataset WHERE id = $1", DBI(id)) < 0)
        goto fail;
    (void)x;
    return db_commit(c, e);
fail:
    db_rollback(c);
    return -1;
}

/* --- versions -------------------------------------------------------------------------------- */

int ds_version_get(db_conn *c, int64_t org, int64_t id, ds_version *v, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT v.id, v.dataset_id, ds.datalake_id, v.locked, v.name, ds.name, v.task"
                          " FROM dataset_version v JOIN dataset ds ON ds.id = v.dataset_id"
                          " WHERE v.id = $1 AND ds.org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        v->id = db_col_i64(s, 0);
        v->dataset = db_col_i64(s, 1);
        v->lake = db_col_i64(s, 2);
        v->locked = db_col_i64(s, 3) != 0;
        snprintf(v->name, sizeof v->name, "%s", db_col_text(s, 4));
        snprintf(v->dataset_name, sizeof v->dataset_name, "%s", db_col_text(s, 5));
        snprintf(v->task, sizeof v->task, "%s", db_col_text(s, 6));
    }
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "dataset version %lld does not exist in this organization",
                       (long long)id);
    return rc < 0 ? -1 : 0;
}

int ds_asset_version(db_conn *c, int64_t org, int64_t asset, int64_t *version, err *e)
{
    if (db_one_i64(c, e, version,
                   "SELECT a.version_id FROM asset a JOIN dataset_version v ON v.id = a.version_id"
                   " JOIN dataset ds ON ds.id = v.dataset_id WHERE a.id = $1 AND ds.org_id = $2",
                   DBI(asset), DBI(org)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "asset %lld does not exist in this organization",
                    (long long)asset);
        return -1;
    }
    return 0;
}

int dataset_version_writable(db_conn *c, int64_t org, int64_t version, err *e)
{
    /* On PostgreSQL, inside a transaction, FOR SHARE makes a concurrent
     * lock (an UPDATE of this row) wait until this write commits. */
    const char *sql =
        ds_is_pg(c) && db_in_tx(c)
            ? "SELECT v.locked, v.name, ds.name, u.username, v.locked_at FROM dataset_version v"
              " JOIN dataset ds ON ds.id = v.dataset_id LEFT JOIN app_user u ON u.id = v.locked_by"
              " WHERE v.id = $1 AND ds.org_id = $2 FOR SHARE OF v"
            : "SELECT v.locked, v.name, ds.name, u.username, v.locked_at FROM dataset_version v"
              " JOIN dataset ds ON ds.id = v.dataset_id LEFT JOIN app_user u ON u.id = v.locked_by"
              " WHERE v.id = $1 AND ds.org_id = $2";
    db_stmt *s = db_query(c, e, sql, DBI(version), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    int out = rc < 0 ? -1 : 0;
    if (rc == DB_DONE) {
        out = err_set(e, ERR_NOT_FOUND, "dataset version %lld does not exist in this organization",
                      (long long)version);
    } else if (rc == DB_ROW && db_col_i64(s, 0)) {
        char when[32] = "";
        if (!db_col_null(s, 4))
            time_fmt_iso(db_col_i64(s, 4), when, sizeof when);
        const char *who = db_col_text(s, 3);
        out = err_set(e, ERR_CONFLICT,
                      "dataset version '%s/%s' is locked (by %s, %s); unlock it before changing it",
                      db_col_text(s, 2), db_col_text(s, 1), who ? who : "a removed user",
                      when[0] ? when : "at an unknown time");
    }
    db_done(s);
    return out;
}

int dataset_version_create(db_conn *c, int64_t org, int64_t dataset, const char *name,
                           const char *description, const char *task, int64_t user, int64_t *id,
                           err *e)
{
    if (name_check("version name", name, DATASET_NAME_MAX, e) || task_check(task, e))
        return -1;
    int64_t x;
    if (db_one_i64(c, e, &x, "SELECT id FROM dataset WHERE id = $1 AND org_id = $2", DBI(dataset),
                   DBI(org)) != 0)
        return e->code == ERR_NOT_FOUND ? not_found_dataset(dataset, e) : -1;
    if (db_one_i64(c, e, id,
                   "INSERT INTO dataset_version (dataset_id, name, description, task, created_by,"
                   " created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                   DBI(dataset), DBT(name), DBT(description), DBT(task ? task : "multi"), DBI(user),
                   DBI(time_now_ms())) != 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT, "the dataset already has a version named '%s'", name);
        return -1;
    }
    return 0;
}

#define VERSION_COLS                                                                               \
    "v.id, v.dataset_id, ds.name, v.name, v.description, v.task, v.parent_id, v.locked,"         \
    " u.username, v.locked_at, v.created_by, v.created_at,"                                        \
    " (SELECT COUNT(*) FROM asset a WHERE a.version_id = v.id),"                                  \
    " (SELECT COUNT(*) FROM annotation an WHERE an.version_id = v.id),"                           \
    " (SELECT COUNT(*) FROM label l WHERE l.version_id = v.id),"                                  \
    " (SELECT COALESCE(SUM(an.shape_count), 0) FROM annotation an WHERE an.version_id = v.id)"
#define VERSION_FROM                                                                               \
    " FROM dataset_version v JOIN dataset ds ON ds.id = v.dataset_id"                             \
    " LEFT JOIN app_user u ON u.id = v.locked_by"

static void write_version(jw *w, db_stmt *s)
{
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kint(w, "dataset_id", db_col_i64(s, 1));
    jw_kstr(w, "dataset", db_col_text(s, 2));
    jw_kstr(w, "name", db_col_text(s, 3));
    jw_kstr(w, "description", db_col_text(s, 4));
    jw_kstr(w, "task", db_col_text(s, 5));
    ds_opt_int(w, "parent_id", s, 6);
    jw_kbool(w, "locked", db_col_i64(s, 7) != 0);
    jw_kstr(w, "locked_by", db_col_text(s, 8));
    ds_ts(w, "locked_at", s, 9);
    ds_opt_int(w, "created_by", s, 10);
    ds_ts(w, "created_at", s, 11);
    jw_kint(w, "assets", db_col_i64(s, 12));
    jw_kint(w, "annotated", db_col_i64(s, 13));
    jw_kint(w, "labels", db_col_i64(s, 14));
    jw_kint(w, "shapes", db_col_i64(s, 15));
    jw_obj_end(w);
}

int dataset_version_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT " VERSION_COLS VERSION_FROM " WHERE v.id = $1 AND ds.org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        write_version(w, s);
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "dataset version %lld does not exist in this organization",
                       (long long)id);
    return rc < 0 ? -1 : 0;
}

int dataset_version_list(db_conn *c, int64_t org, int64_t dataset, jw *w, err *e)
{
    int64_t x;
    if (db_one_i64(c, e, &x, "SELECT id FROM dataset WHERE id = $1 AND org_id = $2", DBI(dataset),
                   DBI(org)) != 0)
        return e->code == ERR_NOT_FOUND ? not_found_dataset(dataset, e) : -1;
    db_stmt *s = db_query(c, e, "SELECT " VERSION_COLS VERSION_FROM " WHERE v.dataset_id = $1 ORDER BY v.id",
                          DBI(dataset));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW)
        write_version(w, s);
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int dataset_version_find(db_conn *c, int64_t org, int64_t dataset, const char *name, int64_t *id,
                         err *e)
{
    if (db_one_i64(c, e, id,
                   "SELECT v.id FROM dataset_version v JOIN dataset ds ON ds.id = v.dataset_id"
                   " WHERE ds.id = $1 AND ds.org_id = $2 AND v.name = $3",
                   DBI(dataset), DBI(org), DBT(name)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "the dataset has no version named '%.128s'", name);
        return -1;
    }
    return 0;
}

int dataset_version_update(db_conn *c, int64_t org, int64_t id, const char *name,
                           const char *description, const char *task, err *e)
{
    if ((name && name_check("version name", name, DATASET_NAME_MAX, e)) || task_check(task, e))
        return -1;
    if (db_begin(c, e))
        return -1;
    if (dataset_version_writable(c, org, id, e))
        goto fail;
    if (db_run(c, e,
               "UPDATE dataset_version SET name = COALESCE($1, name),"
               " description = COALESCE($2, description), task = COALESCE($3, task) WHERE id = $4",
               DBT(name), DBT(description), DBT(task), DBI(id)) < 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT, "the dataset already has a version named '%s'", name);
        goto fail;
    }
    return db_commit(c, e);
fail:
    db_rollback(c);
    return -1;
}

int dataset_version_delete(db_conn *c, int64_t org, int64_t id, err *e)
{
    if (db_begin(c, e))
        return -1;
    if (dataset_version_writable(c, org, id, e) ||
        db_run(c, e, "DELETE FROM dataset_version WHERE id = $1", DBI(id)) < 0) {
        db_rollback(c);
        return -1;
    }
    return db_commit(c, e);
}

int dataset_version_lock(db_conn *c, int64_t org, int64_t id, bool lock, int64_t user, err *e)
{
    ds_version v;
    if (ds_version_get(c, org, id, &v, e))
        return -1;
    if (v.locked == lock)
        return 0; /* already so */
    int64_t n = lock ? db_run(c, e,
                              "UPDATE dataset_version SET locked = 1, locked_by = $1, locked_at = $2"
                              " WHERE id = $3",
                              DBI(user), DBI(time_now_ms()), DBI(id))
                     : db_run(c, e,
                              "UPDATE dataset_version SET locked = 0, locked_by = NULL, locked_at = NULL"
                              " WHERE id = $1",
                              DBI(id));
    return n < 0 ? -1 : 0;
}

/* --- fork ----------------------------------------------------------------------------------- */

/* The source version's shapes into the fork (its assets and labels are there already), in
 * asset order, which the indexes give without sorting. An INSERT ... SELECT that reads the
 * table it writes makes SQLite keep the whole result in a temporary table first (the
 * server's memory peaked at 273 MB for a million shapes, 78 MB by ranges), so the copy goes
 * by ranges of assets of about FORK_SHAPES shapes each, cut where the annotations' shape
 * counts add up to that. */
#define FORK_SHAPES 50000

static int fork_shapes(db_conn *c, int64_t from, int64_t to, err *e)
{
    size_t n = 0, cap = 0;
    int64_t *cut = NULL, sum = 0, last = 0;
    db_stmt *s = db_query(c, e,
                          "SELECT asset_id, shape_count FROM annotation WHERE version_id = $1"
                          " AND shape_count > 0 ORDER BY asset_id",
                          DBI(from));
    if (!s)
        return -1;
    int st;
    while ((st = db_step(s, e)) == DB_ROW) {
        last = db_col_i64(s, 0);
        sum += db_col_i64(s, 1);
        if (sum < FORK_SHAPES)
            continue;
        if (n == cap) {
            int64_t *x = realloc(cut, (cap = cap ? 2 * cap : 64) * sizeof *x);
            if (!x) {
                st = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            cut = x;
        }
        cut[n++] = last;
        sum = 0;
    }
    db_done(s);
    int rc = st < 0 ? -1 : 0;
    int64_t lo = 0;
    for (size_t i = 0; rc == 0 && i <= n; i++) {
        int64_t hi = i < n ? cut[i] : INT64_MAX;
        if (db_run(c, e,
                   "INSERT INTO shape (asset_id, label_id, kind, x, y, w, h, geom, aux, score,"
                   " text, attrs, iscrowd, area) SELECT na.id, nl.id, s.kind, s.x, s.y, s.w, s.h,"
                   " s.geom, s.aux, s.score, s.text, s.attrs, s.iscrowd, s.area FROM asset oa"
                   " JOIN shape s ON s.asset_id = oa.id"
                   " JOIN asset na ON na.version_id = $1 AND na.data_id = oa.data_id"
                   " JOIN label ol ON ol.id = s.label_id"
                   " JOIN label nl ON nl.version_id = $1 AND nl.name = ol.name"
                   " WHERE oa.version_id = $2 AND oa.id > $3 AND oa.id <= $4"
                   " ORDER BY oa.id, s.id",
                   DBI(to), DBI(from), DBI(lo), DBI(hi)) < 0)
            rc = -1;
        lo = hi;
    }
    free(cut);
    return rc;
}

int dataset_version_fork(db_conn *c, int64_t org, int64_t id, const dataset_fork_opts *o,
                         int64_t user, int64_t *new_id, err *e)
{
    ds_version src;
    if (name_check("version name", o->name, DATASET_NAME_MAX, e) || task_check(o->task, e) ||
        ds_version_get(c, org, id, &src, e))
        return -1;
    bool labels = o->labels || o->annotations;
    sbuf sql = SBUF_INIT, where = SBUF_INIT;
    ds_sel sel = {0};
    int64_t now = time_now_ms();
    /* the asset selection: $1 new version, $2 source version, $3 now, then the query */
    if (ds_sel_build(c, NULL, o->q ? o->q : "", 4, &where, &sel, e) < 0)
        goto out_err;
    sbuf_printf(&sql,
                "INSERT INTO asset (version_id, data_id, created_at) SELECT $1, a.data_id, $3" DS_ASSET_FROM
                " WHERE a.version_id = $2 AND %s ORDER BY a.id",
                sbuf_cstr(&where));
    if (db_begin(c, e))
        goto out_err;
    if (db_one_i64(c, e, new_id,
                   "INSERT INTO dataset_version (dataset_id, name, description, task, parent_id,"
                   " created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                   DBI(src.dataset), DBT(o->name), DBT(o->description),
                   DBT(o->task ? o->task : src.task), DBI(id), DBI(user), DBI(now)) != 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT, "the dataset already has a version named '%s'", o->name);
        goto fail;
    }
    db_stmt *s = db_prepare(c, sbuf_cstr(&sql), e);
    if (!s)
        goto fail;
    db_bind(s, 1, DBI(*new_id));
    db_bind(s, 2, DBI(id));
    db_bind(s, 3, DBI(now));
    ds_sel_bind(s, &sel, 4);
    int st;
    while ((st = db_step(s, e)) == DB_ROW)
        ;
    db_done(s);
    if (st < 0)
        goto fail;
    if (labels &&
        db_run(c, e,
               "INSERT INTO label (version_id, name, color, grp, keypoints, skeleton, nkeypoints,"
               " source_id, created_at) SELECT $1, name, color, grp, keypoints, skeleton,"
               " nkeypoints, source_id, $2 FROM label WHERE version_id = $3 ORDER BY id",
               DBI(*new_id), DBI(now), DBI(id)) < 0)
        goto fail;
    if (o->tags &&
        db_run(c, e,
               "INSERT INTO asset_tag (asset_id, version_id, name) SELECT na.id, $1, t.name"
               " FROM asset_tag t JOIN asset oa ON oa.id = t.asset_id"
               " JOIN asset na ON na.version_id = $1 AND na.data_id = oa.data_id"
               " WHERE t.version_id = $2",
               DBI(*new_id), DBI(id)) < 0)
        goto fail;
    if (o->annotations &&
        (db_run(c, e,
                "INSERT INTO annotation (asset_id, version_id, status, author, duration_ms, revision,"
                " shape_count, created_at, updated_at) SELECT na.id, $1, an.status, an.author,"
                " an.duration_ms, 1, an.shape_count, $2, an.updated_at FROM annotation an"
                " JOIN asset oa ON oa.id = an.asset_id"
                " JOIN asset na ON na.version_id = $1 AND na.data_id = oa.data_id"
                " WHERE an.version_id = $3",
                DBI(*new_id), DBI(now), DBI(id)) < 0 ||
         fork_shapes(c, id, *new_id, e)))
        goto fail;
    if (db_commit(c, e))
        goto out_err;
    ds_sel_free(&sel);
    sbuf_free(&sql);
    sbuf_free(&where);
    return 0;
fail:
    db_rollback(c);
out_err:
    ds_sel_free(&sel);
    sbuf_free(&sql);
    sbuf_free(&where);
    return -1;
}
