/*
 * logs.c - an experiment's named records other than metric series (value,
 * bar, table, heatmap, confusion matrix, image, label map), and its text
 * output.
 *
 * A record is (name, step) -> kind + JSON data; a record without a step
 * has step -1 in the table (NULL would not be unique). The data of each
 * kind is checked completely before anything is stored, so what the web UI
 * reads back always has the announced shape.
 *
 * Output lines are numbered per experiment from 1. The counter lives on the
 * experiment row and is advanced with UPDATE ... RETURNING, which also
 * serialises concurrent appenders (the row lock on PostgreSQL, the write
 * lock on SQLite).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "experiment/experiment_impl.h"
#include "files/files.h"

#define STEP_MAX 9007199254740992LL

static const char *const kinds[] = {"value", "bar", "table", "heatmap", "confusion_matrix",
                                    "image", "label_map"};

static bool kind_valid(const char *k)
{
    for (size_t i = 0; i < ARRAY_LEN(kinds); i++)
        if (strcmp(k, kinds[i]) == 0)
            return true;
    return false;
}

static int strings(json_t *a, const char *what, size_t min, size_t max, err *e)
{
    if (!json_is_array(a))
        return err_set(e, ERR_INVALID, "data.%s must be an array of strings", what);
    size_t n = json_array_size(a);
    if (n < min || n > max)
        return err_set(e, ERR_INVALID, "data.%s must have between %zu and %zu items, got %zu", what,
                       min, max, n);
    for (size_t i = 0; i < n; i++)
        if (!json_is_string(json_array_get(a, i)))
            return err_set(e, ERR_INVALID, "data.%s[%zu] must be a string", what, i);
    return 0;
}

static int numbers(json_t *a, const char *what, size_t n, err *e)
{
    if (!json_is_array(a))
        return err_set(e, ERR_INVALID, "%s must be an array of numbers", what);
    if (json_array_size(a) != n)
        return err_set(e, ERR_INVALID, "%s has %zu numbers; it must have %zu", what,
                       json_array_size(a), n);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return err_set(e, ERR_INVALID, "%s[%zu] must be a finite number", what, i);
    }
    return 0;
}

static int matrix(json_t *m, size_t rows, size_t cols, err *e)
{
    if (!json_is_array(m) || json_array_size(m) != rows)
        return err_set(e, ERR_INVALID,
                       "data.matrix must be an array of %zu rows (one per row label)", rows);
    char what[48];
    for (size_t i = 0; i < rows; i++) {
        snprintf(what, sizeof what, "data.matrix[%zu]", i);
        if (numbers(json_array_get(m, i), what, cols, e) != 0)
            return -1;
    }
    return 0;
}

static int data_check(const char *kind, json_t *d, err *e)
{
    if (!json_is_object(d))
        return err_set(e, ERR_INVALID, "field 'data' must be an object");
    if (strcmp(kind, "value") == 0) {
        static const char *const f[] = {"value", NULL};
        json_t *v = json_object_get(d, "value");
        if (jv_only(d, f, e) != 0)
            return err_prefix(e, "data: "), -1;
        if (!(json_is_string(v) || (json_is_number(v) && isfinite(json_number_value(v)))))
            return err_set(e, ERR_INVALID, "data.value must be a finite number or a string");
        return 0;
    }
    if (strcmp(kind, "bar") == 0) {
        static const char *const f[] = {"labels", "values", NULL};
        if (jv_only(d, f, e) != 0)
            return err_prefix(e, "data: "), -1;
        json_t *l = json_object_get(d, "labels");
        if (strings(l, "labels", 1, 100000, e) != 0)
            return -1;
        return numbers(json_object_get(d, "values"), "data.values", json_array_size(l), e);
    }
    if (strcmp(kind, "table") == 0) {
        static const char *const f[] = {"columns", "rows", NULL};
        if (jv_only(d, f, e) != 0)
            return err_prefix(e, "data: "), -1;
        json_t *cols = json_object_get(d, "columns"), *rows = json_object_get(d, "rows");
        if (strings(cols, "columns", 1, 1000, e) != 0)
            return -1;
        if (!json_is_array(rows))
            return err_set(e, ERR_INVALID, "data.rows must be an array of rows (arrays)");
        size_t nc = json_array_size(cols);
        for (size_t i = 0; i < json_array_size(rows); i++) {
            json_t *r = json_array_get(rows, i);
            if (!json_is_array(r) || json_array_size(r) != nc)
                return err_set(e, ERR_INVALID, "data.rows[%zu] must be an array of %zu cells", i,
                               nc);
            for (size_t k = 0; k < nc; k++) {
                json_t *x = json_array_get(r, k);
                if (json_is_object(x) || json_is_array(x) ||
                    (json_is_real(x) && !isfinite(json_real_value(x))))
                    return err_set(e, ERR_INVALID,
                                   "data.rows[%zu][%zu] must be a string, number, boolean or null",
                                   i, k);
            }
        }
        return 0;
    }
    if (strcmp(kind, "heatmap") == 0) {
        static const char *const f[] = {"rows", "columns", "matrix", NULL};
        if (jv_only(d, f, e) != 0)
            return err_prefix(e, "data: "), -1;
        json_t *r = json_object_get(d, "rows"), *c = json_object_get(d, "columns");
        if (strings(r, "rows", 1, 10000, e) != 0 || strings(c, "columns", 1, 10000, e) != 0)
            return -1;
        return matrix(json_object_get(d, "matrix"), json_array_size(r), json_array_size(c), e);
    }
    if (strcmp(kind, "confusion_matrix") == 0) {
        static const char *const f[] = {"labels", "matrix", NULL};
        if (jv_only(d, f, e) != 0)
            return err_prefix(e, "data: "), -1;
        json_t *l = json_object_get(d, "labels");
        if (strings(l, "labels", 1, 10000, e) != 0)
            return -1;
        return matrix(json_object_get(d, "matrix"), json_array_size(l), json_array_size(l), e);
    }
    if (strcmp(kind, "image") == 0) {
        static const char *const f[] = {"sha256", "caption", "format", NULL};
        const char *sha = NULL, *cap = NULL, *fmt = NULL;
        if (jv_only(d, f, e) || jv_str(d, "sha256", JV_REQUIRED, 64, &sha, e) ||
            jv_str(d, "caption", JV_OPTIONAL, 1000, &cap, e) ||
            jv_str(d, "format", JV_OPTIONAL, 16, &fmt, e))
            return err_prefix(e, "data: "), -1;
        if (!is_sha256_hex(sha))
            return err_set(e, ERR_INVALID,
                           "data.sha256 must be the id of an uploaded file (64 lowercase hex "
                           "digits); upload the image with PUT /api/v1/files first");
        return 0;
    }
    /* label_map */
    static const char *const f[] = {"labels", NULL};
    if (jv_only(d, f, e) != 0)
        return err_prefix(e, "data: "), -1;
    json_t *l = json_object_get(d, "labels");
    if (json_is_array(l))
        return strings(l, "labels", 1, 100000, e);
    if (!json_is_object(l) || json_object_size(l) == 0)
        return err_set(e, ERR_INVALID,
                       "data.labels must be a list of names or an object like {\"0\": \"cat\"}");
    const char *k;
    json_t *v;
    json_object_foreach(l, k, v) if (!json_is_string(v)) return err_set(
        e, ERR_INVALID, "data.labels.%.40s must be a string (the label's name)", k);
    return 0;
}

int exp_log_put(db_conn *c, int64_t org, int64_t experiment, json_t *body, err *e)
{
    static const char *const fields[] = {"name", "kind", "step", "data", NULL};
    const char *name = NULL, *kind = NULL;
    int64_t step = -1;
    json_t *data = NULL;
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_str(body, "name", JV_REQUIRED, EXP_NAME_MAX, &name, e) ||
        name_check("log name", name, EXP_NAME_MAX, e) ||
        jv_str(body, "kind", JV_REQUIRED, 32, &kind, e) ||
        jv_i64(body, "step", JV_OPTIONAL, 0, STEP_MAX, &step, e) ||
        jv_obj(body, "data", JV_REQUIRED, &data, e))
        return -1;
    if (!kind_valid(kind))
        return err_set(e, ERR_INVALID,
                       "kind '%.32s' is not one of value, bar, table, heatmap, confusion_matrix, "
                       "image, label_map",
                       kind);
    if (data_check(kind, data, e) != 0)
        return -1;
    char *text = json_dumps(data, JSON_COMPACT);
    if (!text)
        return err_set(e, ERR_INTERNAL, "out of memory");
    size_t len = strlen(text);
    int rc = -1;
    const char *sha = strcmp(kind, "image") == 0
                          ? json_string_value(json_object_get(data, "sha256"))
                          : NULL;
    if (len > EXP_LOG_DATA_MAX) {
        err_set(e, ERR_TOO_LARGE,
                "the data of log '%.100s' is %zu bytes of JSON; the limit is %d (store larger "
                "tables as an artifact)",
                name, len, EXP_LOG_DATA_MAX);
        goto out;
    }
    if (db_begin(c, e) != 0)
        goto out;
    if (exp_lock(c, org, experiment, e) != 0)
        goto fail;
    if (sha && files_check(c, org, sha, NULL, e) != 0) {
        err_prefix(e, "data.sha256: ");
        goto fail;
    }
    db_stmt *s = db_query(c, e,
                          "SELECT kind FROM experiment_log WHERE experiment_id = $1 AND name = $2"
                          " LIMIT 1",
                          DBI(experiment), DBT(name));
    if (!s)
        goto fail;
    int st = db_step(s, e);
    if (st == DB_ROW && strcmp(db_col_text(s, 0), kind) != 0) {
        err_set(e, ERR_CONFLICT,
                "log '%.100s' of experiment %lld is a %s; log the %s under another name", name,
                (long long)experiment, db_col_text(s, 0), kind);
        st = -1;
    }
    db_done(s);
    if (st < 0)
        goto fail;
    if (db_run(c, e,
               "INSERT INTO experiment_log (experiment_id, name, kind, step, data, sha256,"
               " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
               " ON CONFLICT (experiment_id, name, step) DO UPDATE SET data = excluded.data,"
               " sha256 = excluded.sha256, created_at = excluded.created_at",
               DBI(experiment), DBT(name), DBT(kind), DBI(step), DBTN(text, len), DBT(sha),
               DBI(time_now_ms())) < 0)
        goto fail;
    rc = db_commit(c, e);
    goto out;
fail:
    db_rollback(c);
out:
    free(text);
    return rc;
}

int exp_log_list(db_conn *c, int64_t org, int64_t experiment, const char *name, const char *kind,
                 bool with_data, int64_t limit, int64_t cursor, jw *w, err *e)
{
    if (exp_check(c, org, experiment, e) != 0)
        return -1;
    if (kind && *kind && !kind_valid(kind))
        return err_set(e, ERR_INVALID,
                       "kind '%.32s' is not one of value, bar, table, heatmap, confusion_matrix, "
                       "image, label_map",
                       kind);
    bool by_name = name && *name;
    /* one name: in step order (the cursor is a step); else in logging order
     * (the cursor is an id) */
    const char *sql =
        by_name ? "SELECT id, name, kind, step, data, created_at FROM experiment_log"
                  " WHERE experiment_id = $1 AND name = $2 AND ($3 = '' OR kind = $3)"
                  " AND step > $4 ORDER BY step LIMIT $5"
                : "SELECT id, name, kind, step, data, created_at FROM experiment_log"
                  " WHERE experiment_id = $1 AND ($2 = '' OR name = $2) AND ($3 = '' OR kind = $3)"
                  " AND id > $4 ORDER BY id LIMIT $5";
    db_stmt *s = db_query(c, e, sql, DBI(experiment), DBT(by_name ? name : ""),
                          DBT(kind ? kind : ""), DBI(cursor != INT64_MIN ? cursor : by_name ? -2 : 0),
                          DBI(limit + 1));
    if (!s)
        return -1;
    int rc, n = 0;
    int64_t last = 0;
    bool more = false;
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        n++;
        last = by_name ? db_col_i64(s, 3) : db_col_i64(s, 0);
        jw_obj(w);
        jw_kint(w, "id", db_col_i64(s, 0));
        jw_kstr(w, "name", db_col_text(s, 1));
        jw_kstr(w, "kind", db_col_text(s, 2));
        jw_key(w, "step");
        if (db_col_i64(s, 3) < 0)
            jw_null(w);
        else
            jw_int(w, db_col_i64(s, 3));
        if (with_data)
            exp_jw_json(w, "data", s, 4);
        exp_jw_time(w, "created_at", s, 5);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "next_cursor");
    if (more)
        jw_int(w, last);
    else
        jw_null(w);
    jw_obj_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

/* --- text output ---------------------------------------------------------------- */

int exp_output_append(db_conn *c, int64_t org, int64_t experiment, json_t *lines, int64_t *last,
                      err *e)
{
    if (!json_is_array(lines))
        return err_set(e, ERR_INVALID, "field 'lines' must be an array of strings");
    size_t n = json_array_size(lines);
    if (n > EXP_OUTPUT_BATCH_MAX)
        return err_set(e, ERR_TOO_LARGE, "%zu lines in one request; send at most %d", n,
                       EXP_OUTPUT_BATCH_MAX);
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(lines, i);
        if (!json_is_string(l))
            return err_set(e, ERR_INVALID, "lines[%zu] must be a string", i);
        size_t len = json_string_length(l);
        if (len > EXP_OUTPUT_LINE_MAX)
            return err_set(e, ERR_INVALID,
                           "lines[%zu] is %zu bytes long; the limit is %d (split long lines)", i,
                           len, EXP_OUTPUT_LINE_MAX);
        if (strlen(json_string_value(l)) != len)
            return err_set(e, ERR_INVALID, "lines[%zu] contains a NUL character", i);
    }
    if (db_begin(c, e) != 0)
        return -1;
    if (db_one_i64(c, e, last,
                   "UPDATE experiment SET output_lines = output_lines + $1 WHERE id = $2"
                   " AND org_id = $3 RETURNING output_lines",
                   DBI(n), DBI(experiment), DBI(org)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "experiment %lld does not exist in this organization",
                    (long long)experiment);
        db_rollback(c);
        return -1;
    }
    int64_t seq = *last - (int64_t)n, now = time_now_ms();
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(lines, i);
        size_t len = json_string_length(l);
        const char *t = json_string_value(l);
        if (len && t[len - 1] == '\n') /* a line, not its terminator */
            len--;
        if (db_run(c, e,
                   "INSERT INTO experiment_output (experiment_id, seq, at, line)"
                   " VALUES ($1, $2, $3, $4)",
                   DBI(experiment), DBI(++seq), DBI(now), DBTN(t, len)) < 0) {
            db_rollback(c);
            return -1;
        }
    }
    return db_commit(c, e);
}

int exp_output_read(db_conn *c, int64_t org, int64_t experiment, int64_t after, int64_t limit,
                    jw *w, bool *finished, int64_t *last, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT status, output_lines FROM experiment WHERE id = $1 AND org_id = $2",
                          DBI(experiment), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    int64_t total = 0;
    if (rc == DB_ROW) {
        *finished = exp_status_final(db_col_text(s, 0));
        total = db_col_i64(s, 1);
    }
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "experiment %lld does not exist in this organization",
                       (long long)experiment);
    if (rc < 0)
        return -1;
    if (after < 0) /* the last -after lines */
        after = total + after > 0 ? total + after : 0;
    s = db_query(c, e,
                 "SELECT seq, at, line FROM experiment_output WHERE experiment_id = $1 AND seq > $2"
                 " ORDER BY seq LIMIT $3",
                 DBI(experiment), DBI(after), DBI(limit));
    if (!s)
        return -1;
    *last = after;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kint(w, "seq", db_col_i64(s, 0));
        exp_jw_time(w, "at", s, 1);
        jw_kstr(w, "line", db_col_text(s, 2));
        jw_obj_end(w);
        *last = db_col_i64(s, 0);
    }
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}
