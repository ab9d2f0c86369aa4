/*
 * project.c - projects (the folders experiments live in) and their member
 * lists, and the helpers the module's files share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "experiment/experiment_impl.h"

/* --- shared helpers -------------------------------------------------------- */

void exp_jw_time(jw *w, const char *key, db_stmt *s, int col)
{
    jw_key(w, key);
    if (db_col_null(s, col)) {
        jw_null(w);
        return;
    }
    char ts[32];
    time_fmt_iso(db_col_i64(s, col), ts, sizeof ts);
    jw_str(w, ts);
}

void exp_jw_id(jw *w, const char *key, db_stmt *s, int col)
{
    jw_key(w, key);
    if (db_col_null(s, col))
        jw_null(w);
    else
        jw_int(w, db_col_i64(s, col));
}

void exp_jw_json(jw *w, const char *key, db_stmt *s, int col)
{
    if (key)
        jw_key(w, key);
    const char *v = db_col_text(s, col);
    if (!v)
        jw_null(w);
    else
        jw_raw(w, v, db_col_len(s, col));
}

char *exp_like_pattern(const char *q)
{
    size_t n = strlen(q);
    char *p = malloc(2 * n + 3), *o = p;
    if (!p)
        return NULL;
    *o++ = '%';
    for (size_t i = 0; i < n; i++) {
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\')
            *o++ = '\\';
        *o++ = q[i];
    }
    *o++ = '%';
    *o = 0;
    return p;
}

int exp_text_check(const char *what, const char *s, size_t max, err *e)
{
    size_t n = strlen(s);
    if (n > max)
        return err_set(e, ERR_INVALID, "%s is %zu bytes long; the limit is %zu", what, n, max);
    if (!utf8_valid(s, n))
        return err_set(e, ERR_INVALID, "%s is not valid UTF-8", what);
    return 0;
}

int exp_lock(db_conn *c, int64_t org, int64_t id, err *e)
{
    int64_t one;
    const char *sql = db_conn_driver(c) == DB_POSTGRES
                          ? "SELECT 1 FROM experiment WHERE id = $1 AND org_id = $2 FOR UPDATE"
                          : "SELECT 1 FROM experiment WHERE id = $1 AND org_id = $2";
    if (db_one_i64(c, e, &one, sql, DBI(id), DBI(org)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "experiment %lld does not exist in this organization",
                    (long long)id);
        return -1;
    }
    return 0;
}

/* --- projects -------------------------------------------------------------- */

static int project_exists(db_conn *c, int64_t org, int64_t id, err *e)
{
    int64_t one;
    if (db_one_i64(c, e, &one, "SELECT 1 FROM project WHERE id = $1 AND org_id = $2", DBI(id),
                   DBI(org)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "project %lld does not exist in this organization",
                    (long long)id);
        return -1;
    }
    return 0;
}

static int name_taken(db_conn *c, const char *name, err *e)
{
    if (db_err_is_unique(c))
        return err_set(e, ERR_CONFLICT,
                       "a project named '%.200s' already exists in this organization; choose "
                       "another name",
                       name);
    return -1;
}

int exp_project_create(db_conn *c, int64_t org, int64_t user, json_t *body, int64_t *id, err *e)
{
    static const char *const fields[] = {"name", "description", "members", NULL};
    const char *name = NULL, *desc = "";
    json_t *members = NULL;
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_str(body, "name", JV_REQUIRED, EXP_NAME_MAX, &name, e) ||
        name_check("project name", name, EXP_NAME_MAX, e) ||
        jv_str(body, "description", JV_OPTIONAL, EXP_DESC_MAX, &desc, e) ||
        exp_text_check("description", desc, EXP_DESC_MAX, e) ||
        jv_arr(body, "members", JV_OPTIONAL, 1000, &members, e))
        return -1;
    for (size_t i = 0; i < json_array_size(members); i++)
        if (!json_is_integer(json_array_get(members, i)))
            return err_set(e, ERR_INVALID, "members[%zu] must be a user id (a whole number)", i);
    if (db_begin(c, e) != 0)
        return -1;
    int64_t now = time_now_ms();
    if (db_one_i64(c, e, id,
                   "INSERT INTO project (org_id, name, description, created_by, created_at,"
                   " updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                   DBI(org), DBT(name), DBT(desc), user ? DBI(user) : DBNULL, DBI(now)) != 0) {
        name_taken(c, name, e);
        db_rollback(c);
        return -1;
    }
    for (size_t i = 0; i < json_array_size(members); i++)
        if (exp_project_member_add(c, org, *id, json_integer_value(json_array_get(members, i)),
                                   e) != 0) {
            err_prefix(e, "members[%zu]: ", i);
            db_rollback(c);
            return -1;
        }
    return db_commit(c, e);
}

int exp_project_update(db_conn *c, int64_t org, int64_t id, json_t *body, err *e)
{
    static const char *const fields[] = {"name", "description", NULL};
    const char *name = NULL, *desc = NULL;
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_str(body, "name", JV_OPTIONAL, EXP_NAME_MAX, &name, e) ||
        (name && name_check("project name", name, EXP_NAME_MAX, e)) ||
        jv_str(body, "description", JV_OPTIONAL, EXP_DESC_MAX, &desc, e) ||
        (desc && exp_text_check("description", desc, EXP_DESC_MAX, e)))
        return -1;
    if (project_exists(c, org, id, e) != 0)
        return -1;
    int64_t n = db_run(c, e,
                       "UPDATE project SET name = COALESCE($1, name),"
                       " description = COALESCE($2, description), updated_at = $3"
                       " WHERE id = $4 AND org_id = $5",
                       DBT(name), DBT(desc), DBI(time_now_ms()), DBI(id), DBI(org));
    if (n < 0)
        return name_taken(c, name, e);
    return 0;
}

int exp_project_delete(db_conn *c, int64_t org, int64_t id, err *e)
{
    int64_t n = db_run(c, e, "DELETE FROM project WHERE id = $1 AND org_id = $2", DBI(id),
                       DBI(org));
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "project %lld does not exist in this organization",
                       (long long)id);
    return 0;
}

#define PROJECT_COLS                                                                               \
    "p.id, p.name, p.description, p.created_by, p.created_at, p.updated_at,"                     \
    " (SELECT COUNT(*) FROM experiment x WHERE x.project_id = p.id)"

static void write_project_row(jw *w, db_stmt *s)
{
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kstr(w, "name", db_col_text(s, 1));
    jw_kstr(w, "description", db_col_text(s, 2));
    exp_jw_id(w, "created_by", s, 3);
    exp_jw_time(w, "created_at", s, 4);
    exp_jw_time(w, "updated_at", s, 5);
    jw_kint(w, "experiments", db_col_i64(s, 6));
}

int exp_project_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT " PROJECT_COLS " FROM project p WHERE p.id = $1 AND p.org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        jw_obj(w);
        write_project_row(w, s);
    }
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "project %lld does not exist in this organization",
                       (long long)id);
    if (rc < 0)
        return -1;
    s = db_query(c, e,
                 "SELECT u.id, u.username, u.display_name, m.added_at FROM project_member m"
                 " JOIN app_user u ON u.id = m.user_id WHERE m.project_id = $1 ORDER BY u.username",
                 DBI(id));
    if (!s)
        return -1;
    jw_key(w, "members");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kint(w, "id", db_col_i64(s, 0));
        jw_kstr(w, "username", db_col_text(s, 1));
        jw_kstr(w, "display_name", db_col_text(s, 2));
        exp_jw_time(w, "added_at", s, 3);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int exp_project_list(db_conn *c, int64_t org, const char *q, int64_t limit, int64_t cursor, jw *w,
                     int64_t *next, err *e)
{
    char *pat = exp_like_pattern(q ? q : "");
    if (!pat)
        return err_set(e, ERR_INTERNAL, "out of memory");
    db_stmt *s = db_query(c, e,
                          "SELECT " PROJECT_COLS " FROM project p WHERE p.org_id = $1 AND p.id < $2"
                          " AND lower(p.name) LIKE lower($3) ESCAPE '\\' ORDER BY p.id DESC LIMIT $4",
                          DBI(org), DBI(cursor > 0 ? cursor : INT64_MAX), DBT(pat), DBI(limit + 1));
    free(pat);
    if (!s)
        return -1;
    int rc, n = 0;
    int64_t last = 0;
    *next = 0;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        if (n == limit) {
            *next = last;
            break;
        }
        last = db_col_i64(s, 0);
        jw_obj(w);
        write_project_row(w, s);
        jw_obj_end(w);
        n++;
    }
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int exp_project_member_add(db_conn *c, int64_t org, int64_t project, int64_t user, err *e)
{
    if (project_exists(c, org, project, e) != 0)
        return -1;
    int64_t one;
    if (db_one_i64(c, e, &one, "SELECT 1 FROM membership WHERE org_id = $1 AND user_id = $2",
                   DBI(org), DBI(user)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND,
                    "user %lld is not a member of this organization; add them to the "
                    "organization first",
                    (long long)user);
        return -1;
    }
    return db_run(c, e,
                  "INSERT INTO project_member (project_id, user_id, added_at) VALUES ($1, $2, $3)"
                  " ON CONFLICT DO NOTHING",
                  DBI(project), DBI(user), DBI(time_now_ms())) < 0
               ? -1
               : 0;
}

int exp_project_member_remove(db_conn *c, int64_t org, int64_t project, int64_t user, err *e)
{
    if (project_exists(c, org, project, e) != 0)
        return -1;
    int64_t n = db_run(c, e, "DELETE FROM project_member WHERE project_id = $1 AND user_id = $2",
                       DBI(project), DBI(user));
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "user %lld is not a member of project %lld",
                       (long long)user, (long long)project);
    return 0;
}
