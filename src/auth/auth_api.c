/*
 * auth_api.c - the HTTP side of auth: the authentication hook every request
 * goes through, and the endpoints for login, the current user,
 * organizations, members, and API tokens.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app/app.h"
#include "auth/auth.h"
#include "base/jsonv.h"
#include "base/util.h"

#define SESSION_COOKIE "cvops_session"

static const char *bearer(http_req *r)
{
    const char *h = http_header(r, "Authorization");
    if (!h)
        return NULL;
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return "";
    h += 7;
    while (*h == ' ')
        h++;
    return h;
}

/* --- job-scoped tokens ---------------------------------------------------------
 *
 * The routes a job's token may call, and which grant each needs: the job's
 * own run (progress, log, files, outputs), reading its inputs, and for a
 * training launched from an experiment, tracking that experiment. A route
 * names the kind of its {id}; "data" and "asset" are reached through the
 * datalake or dataset version that holds them. Everything else answers 403,
 * and so does a listed route on a resource no grant names. */

enum { SCOPE_DIRECT, SCOPE_DATA, SCOPE_ASSET, SCOPE_ANY_OF_KIND };

typedef struct scoped_route {
    int method;
    const char *pattern;
    const char *kind; /* the grant kind of {id} */
    int how;
    int access;
} scoped_route;

#define R_ AUTH_ACCESS_READ
#define W_ AUTH_ACCESS_WRITE
static const scoped_route scoped_routes[] = {
    {HTTP_GET, "/api/v1/processing-runs/{id}", "job", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/processing-runs/{id}/outputs", "job", SCOPE_DIRECT, R_},
    {HTTP_POST, "/api/v1/processing-runs/{id}/outputs", "job", SCOPE_DIRECT, W_},
    {HTTP_POST, "/api/v1/processing-runs/{id}/progress", "job", SCOPE_DIRECT, W_},
    {HTTP_POST, "/api/v1/processing-runs/{id}/log", "job", SCOPE_DIRECT, W_},
    {HTTP_PUT, "/api/v1/processing-runs/{id}/files", "job", SCOPE_DIRECT, W_},
    {HTTP_GET, "/api/v1/jobs/{id}", "job", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/datalakes/{id}", "datalake", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/datalakes/{id}/data", "datalake", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/datalakes/{id}/data/count", "datalake", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/datalakes/{id}/tags", "datalake", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/datalakes/{id}/stats", "datalake", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/data/{id}", "data", SCOPE_DATA, R_},
    {HTTP_GET, "/api/v1/data/{id}/original", "data", SCOPE_DATA, R_},
    {HTTP_GET, "/api/v1/data/{id}/thumbnail", "data", SCOPE_DATA, R_},
    {HTTP_GET, "/api/v1/dataset-versions/{id}", "dataset-version", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/dataset-versions/{id}/assets", "dataset-version", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/dataset-versions/{id}/assets/count", "dataset-version", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/dataset-versions/{id}/labels", "dataset-version", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/dataset-versions/{id}/tags", "dataset-version", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/dataset-versions/{id}/stats", "dataset-version", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/assets/{id}", "asset", SCOPE_ASSET, R_},
    {HTTP_GET, "/api/v1/assets/{id}/annotation", "asset", SCOPE_ASSET, R_},
    {HTTP_GET, "/api/v1/model-versions/{id}", "model-version", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/model-versions/{id}/file", "model-version", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/experiments/{id}", "experiment", SCOPE_DIRECT, R_},
    {HTTP_PATCH, "/api/v1/experiments/{id}", "experiment", SCOPE_DIRECT, W_},
    {HTTP_POST, "/api/v1/experiments/{id}/params", "experiment", SCOPE_DIRECT, W_},
    {HTTP_GET, "/api/v1/experiments/{id}/points", "experiment", SCOPE_DIRECT, R_},
    {HTTP_POST, "/api/v1/experiments/{id}/points", "experiment", SCOPE_DIRECT, W_},
    {HTTP_GET, "/api/v1/experiments/{id}/metrics", "experiment", SCOPE_DIRECT, R_},
    {HTTP_GET, "/api/v1/experiments/{id}/logs", "experiment", SCOPE_DIRECT, R_},
    {HTTP_POST, "/api/v1/experiments/{id}/logs", "experiment", SCOPE_DIRECT, W_},
    {HTTP_GET, "/api/v1/experiments/{id}/output", "experiment", SCOPE_DIRECT, R_},
    {HTTP_POST, "/api/v1/experiments/{id}/output", "experiment", SCOPE_DIRECT, W_},
    {HTTP_GET, "/api/v1/experiments/{id}/artifacts", "experiment", SCOPE_DIRECT, R_},
    {HTTP_PUT, "/api/v1/experiments/{id}/artifacts", "experiment", SCOPE_DIRECT, W_},
    {HTTP_GET, "/api/v1/experiments/{id}/artifacts/file", "experiment", SCOPE_DIRECT, R_},
    /* images logged by a training (log_image uploads the file first) */
    {HTTP_PUT, "/api/v1/files", "experiment", SCOPE_ANY_OF_KIND, W_},
};
#undef R_
#undef W_

static void scope_describe(const auth_identity *id, char *out, size_t n)
{
    size_t k = 0;
    out[0] = 0;
    for (int i = 0; i < id->ngrants && k < n; i++) {
        if (strcmp(id->grants[i].kind, "job") == 0)
            continue;
        int w = snprintf(out + k, n - k, "%s%s %lld", k ? ", " : "", id->grants[i].kind,
                         (long long)id->grants[i].id);
        if (w < 0)
            break;
        k += (size_t)w;
    }
    if (!out[0])
        snprintf(out, n, "none");
}

/* The datalake or dataset version a data item / asset belongs to lets a
 * job token reach it. */
static bool scope_data_ok(db_conn *c, const auth_identity *id, int64_t data_id)
{
    err e;
    int64_t lake = 0;
    if (db_one_i64(c, &e, &lake,
                   "SELECT d.datalake_id FROM data d JOIN datalake l ON l.id = d.datalake_id"
                   " WHERE d.id = $1 AND l.org_id = $2",
                   DBI(data_id), DBI(id->org_id)) != 0)
        return false;
    if (auth_scope_allows(id, "datalake", lake, AUTH_ACCESS_READ))
        return true;
    for (int i = 0; i < id->ngrants; i++) {
        if (strcmp(id->grants[i].kind, "dataset-version") != 0)
            continue;
        int64_t n = 0;
        if (db_one_i64(c, &e, &n,
                       "SELECT COUNT(*) FROM asset WHERE version_id = $1 AND data_id = $2",
                       DBI(id->grants[i].id), DBI(data_id)) == 0 && n > 0)
            return true;
    }
    return false;
}

static bool scope_asset_ok(db_conn *c, const auth_identity *id, int64_t asset_id)
{
    err e;
    int64_t version = 0;
    if (db_one_i64(c, &e, &version, "SELECT version_id FROM asset WHERE id = $1", DBI(asset_id)))
        return false;
    return auth_scope_allows(id, "dataset-version", version, AUTH_ACCESS_READ);
}

static int scope_check(http_req *r, const auth_identity *id, err *e)
{
    char what[200];
    scope_describe(id, what, sizeof what);
    const scoped_route *sr = NULL;
    for (size_t i = 0; i < sizeof scoped_routes / sizeof *scoped_routes && r->route; i++)
        if ((int)r->method == scoped_routes[i].method &&
            strcmp(r->route->pattern, scoped_routes[i].pattern) == 0)
            sr = &scoped_routes[i];
    if (!sr)
        return err_set(e, ERR_FORBIDDEN,
                       "this token belongs to job %lld and may only reach its run "
                       "(/api/v1/processing-runs/%lld/...) and its inputs (%s); %s %s is outside "
                       "its scope",
                       (long long)id->scope_job, (long long)id->scope_job, what, r->method_name,
                       r->route ? r->route->pattern : r->path);
    if (sr->how == SCOPE_ANY_OF_KIND) {
        if (auth_scope_has_kind(id, sr->kind, sr->access))
            return 0;
        return err_set(e, ERR_FORBIDDEN, "this token of job %lld has no %s it may write to; "
                                         "%s %s is outside its scope",
                       (long long)id->scope_job, sr->kind, r->method_name, r->route->pattern);
    }
    const char *idtext = http_param(r, "id");
    int64_t ref = 0;
    err pe;
    if (!idtext || parse_i64("id", idtext, 1, INT64_MAX, &ref, &pe) != 0)
        return err_set(e, ERR_NOT_FOUND, "no such resource");
    bool ok;
    if (sr->how == SCOPE_DIRECT) {
        ok = auth_scope_allows(id, sr->kind, ref, sr->access);
    } else {
        db_conn *c = db_get(APP(r)->db, e);
        if (!c)
            return -1;
        ok = sr->how == SCOPE_DATA ? scope_data_ok(c, id, ref) : scope_asset_ok(c, id, ref);
        db_put(c);
    }
    if (!ok)
        return err_set(e, ERR_FORBIDDEN,
                       "%s %lld is not among the inputs and outputs of job %lld, which this "
                       "token is limited to (%s%s)",
                       sr->kind, (long long)ref, (long long)id->scope_job, what,
                       sr->access == AUTH_ACCESS_WRITE ? "; writable: its run and experiment" : "");
    return 0;
}

int auth_http_hook(http_req *r, int perm, err *e)
{
    app *a = APP(r);
    auth_identity id;
    const char *tok = bearer(r);
    const char *cookie = http_cookie(r, SESSION_COOKIE);
    if (tok) {
        if (!*tok)
            return err_set(e, ERR_UNAUTHORIZED,
                           "the Authorization header must be 'Bearer <token>'");
        if (auth_resolve_token(a->db, a->auth, tok, &id, e) != 0)
            return -1;
    } else if (cookie) {
        if (auth_resolve_session(a->db, a->auth, cookie, &id, e) != 0)
            return -1;
        if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
            const char *csrf = http_header(r, "X-CSRF-Token");
            size_t n = strlen(id.csrf);
            if (!csrf || strlen(csrf) != n || !ct_equal(csrf, id.csrf, n))
                return err_set(e, ERR_FORBIDDEN,
                               "missing or wrong X-CSRF-Token header; send the csrf_token "
                               "returned by login or GET /api/v1/me");
        }
    } else {
        return err_set(e, ERR_UNAUTHORIZED,
                       "this endpoint needs authentication: send 'Authorization: Bearer <token>' "
                       "(create a token with 'cvops tokens create') or log in");
    }
    if (id.scope_job && scope_check(r, &id, e) != 0)
        return -1;
    if (!auth_role_allows(id.role, (auth_perm)perm))
        return err_set(e, ERR_FORBIDDEN,
                       "your role '%s' does not allow this; it needs the '%s' permission (%s)",
                       auth_role_name(id.role), auth_perm_name((auth_perm)perm),
                       perm == PERM_ADMIN ? "admin"
                       : perm == PERM_WRITE ? "member or admin"
                       : perm == PERM_ANNOTATE ? "labeler, member or admin"
                                                : "any role");
    r->who.user_id = id.user_id;
    r->who.org_id = id.org_id;
    r->who.role = id.role;
    r->who.token_id = id.token_id;
    r->who.session_id = id.session_id;
    r->who.username = arena_strdup(r->arena, id.username);
    if (id.session_id)
        r->who.csrf = arena_strdup(r->arena, id.csrf);
    return 0;
}

/* --- login / logout / me --------------------------------------------------- */

static int org_name(db_conn *c, int64_t org_id, char *out, size_t n)
{
    err e;
    db_stmt *s = db_query(c, &e, "SELECT name FROM org WHERE id = $1", DBI(org_id));
    if (!s)
        return -1;
    int rc = db_step(s, &e);
    if (rc == DB_ROW)
        snprintf(out, n, "%s", db_col_text(s, 0));
    db_done(s);
    return rc == DB_ROW ? 0 : -1;
}

static int write_me(http_req *r, db_conn *c, int64_t user_id, int64_t org_id, auth_role role,
                    const char *csrf, const char *token, err *e)
{
    jw w;
    char oname[128] = "";
    org_name(c, org_id, oname, sizeof oname);
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "user");
    if (auth_write_user(c, user_id, org_id, &w, e))
        return -1;
    jw_key(&w, "org");
    jw_obj(&w);
    jw_kint(&w, "id", org_id);
    jw_kstr(&w, "name", oname);
    jw_obj_end(&w);
    jw_kstr(&w, "role", auth_role_name(role));
    jw_key(&w, "orgs");
    if (auth_list_orgs(c, user_id, &w, e))
        return -1;
    if (csrf)
        jw_kstr(&w, "csrf_token", csrf);
    if (token)
        jw_kstr(&w, "token", token);
    jw_obj_end(&w);
    return 0;
}

static int login(http_req *r)
{
    static const char *const fields[] = {"username", "password", "org_id", "token_name",
                                         "token_expires_days", NULL};
    err e;
    const char *username = NULL, *password = NULL, *token_name = NULL;
    int64_t org_id = 0, days = 0;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_str(r->json, "username", JV_REQUIRED, 64, &username, &e) ||
        jv_str(r->json, "password", JV_REQUIRED, 256, &password, &e) ||
        jv_i64(r->json, "org_id", JV_OPTIONAL, 1, INT64_MAX, &org_id, &e) ||
        jv_str(r->json, "token_name", JV_OPTIONAL, AUTH_NAME_MAX, &token_name, &e) ||
        jv_i64(r->json, "token_expires_days", JV_OPTIONAL, 1, 3650, &days, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    auth_identity id;
    int rc = auth_login(c, username, password, org_id, &id, &e);
    if (rc == 0 && token_name) {
        char token[AUTH_TOKEN_MAX];
        int64_t exp = days ? time_now_ms() + days * 86400000LL : 0;
        rc = auth_token_create(c, id.user_id, id.org_id, token_name, exp, token, sizeof token,
                               NULL, &e);
        if (rc == 0)
            rc = write_me(r, c, id.user_id, id.org_id, id.role, NULL, token, &e);
    } else if (rc == 0) {
        char cookie[64], csrf[48];
        app *a = APP(r);
        rc = auth_session_create(c, id.user_id, id.org_id, a->cfg.session_ttl_ms, cookie,
                                 sizeof cookie, csrf, sizeof csrf, &e);
        if (rc == 0) {
            char hdr[256];
            snprintf(hdr, sizeof hdr, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s",
                     SESSION_COOKIE, cookie, (long long)(a->cfg.session_ttl_ms / 1000),
                     a->cfg.secure_cookies ? "; Secure" : "");
            http_set_header(r, "Set-Cookie", hdr);
            rc = write_me(r, c, id.user_id, id.org_id, id.role, csrf, NULL, &e);
        }
    }
    db_put(c);
    if (rc != 0)
        return http_fail_err(r, &e);
    return 0;
}

static int logout(http_req *r)
{
    err e;
    if (r->who.session_id) {
        db_conn *c = app_db(r);
        if (!c)
            return 0;
        int rc = auth_session_end(c, r->who.session_id, &e);
        db_put(c);
        if (rc)
            return http_fail_err(r, &e);
        auth_cache_clear(APP(r)->auth);
    }
    http_set_header(r, "Set-Cookie", SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kbool(&w, "logged_out", true);
    jw_obj_end(&w);
    return 0;
}

static int me(http_req *r)
{
    err e;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = write_me(r, c, r->who.user_id, r->who.org_id, (auth_role)r->who.role,
                      r->who.session_id ? r->who.csrf : NULL, NULL, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int change_password(http_req *r)
{
    static const char *const fields[] = {"old_password", "new_password", NULL};
    err e;
    const char *old_pw = NULL, *new_pw = NULL;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_str(r->json, "old_password", JV_REQUIRED, 256, &old_pw, &e) ||
        jv_str(r->json, "new_password", JV_REQUIRED, 256, &new_pw, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = auth_password_change(c, r->who.user_id, old_pw, new_pw, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kbool(&w, "changed", true);
    jw_obj_end(&w);
    return 0;
}

/* --- organizations ---------------------------------------------------------- */

static int orgs_list(http_req *r)
{
    err e;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = auth_list_orgs(c, r->who.user_id, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int orgs_create(http_req *r)
{
    static const char *const fields[] = {"name", NULL};
    err e;
    const char *name = NULL;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_str(r->json, "name", JV_REQUIRED, AUTH_NAME_MAX, &name, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t id;
    int rc = auth_org_create(c, name, r->who.user_id, &id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 201, &w);
    jw_obj(&w);
    jw_kint(&w, "id", id);
    jw_kstr(&w, "name", name);
    jw_kstr(&w, "role", "admin");
    jw_obj_end(&w);
    return 0;
}

static int session_org(http_req *r)
{
    static const char *const fields[] = {"org_id", NULL};
    err e;
    int64_t org_id = 0;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_i64(r->json, "org_id", JV_REQUIRED, 1, INT64_MAX, &org_id, &e))
        return http_fail_err(r, &e);
    if (!r->who.session_id)
        return http_fail(r, ERR_INVALID,
                         "an API token belongs to one organization; create a token in the other "
                         "organization instead");
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = auth_session_set_org(c, r->who.session_id, r->who.user_id, org_id, &e);
    if (rc == 0) {
        auth_cache_clear(APP(r)->auth);
        rc = write_me(r, c, r->who.user_id, org_id, auth_role_in(c, r->who.user_id, org_id),
                      r->who.csrf, NULL, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

/* --- members ---------------------------------------------------------------- */

static int users_list(http_req *r)
{
    err e;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = auth_list_members(c, r->who.org_id, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int parse_role(json_t *doc, int required, auth_role *out, err *e)
{
    const char *role = NULL;
    if (jv_str(doc, "role", required, 16, &role, e))
        return -1;
    if (!role)
        return 0;
    *out = auth_role_parse(role);
    if (*out == ROLE_NONE)
        return err_set(e, ERR_INVALID,
                       "field 'role' must be one of admin, member, labeler, viewer; got '%s'", role);
    return 0;
}

static int user_reply(http_req *r, db_conn *c, int status, int64_t uid)
{
    err e;
    jw w;
    http_json_begin(r, status, &w);
    if (auth_write_user(c, uid, r->who.org_id, &w, &e))
        return http_fail_err(r, &e);
    return 0;
}

static int users_create(http_req *r)
{
    static const char *const fields[] = {"username", "password", "role", "display_name", "email",
                                         NULL};
    err e;
    const char *username = NULL, *password = NULL, *dn = NULL, *email = NULL;
    auth_role role = ROLE_MEMBER;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_str(r->json, "username", JV_REQUIRED, AUTH_NAME_MAX, &username, &e) ||
        jv_str(r->json, "password", JV_REQUIRED, 256, &password, &e) ||
        parse_role(r->json, JV_OPTIONAL, &role, &e) ||
        jv_str(r->json, "display_name", JV_OPTIONAL, 128, &dn, &e) ||
        jv_str(r->json, "email", JV_OPTIONAL, 254, &email, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t uid;
    int rc = auth_user_create(c, r->who.org_id, username, password, role, dn, email, &uid, &e);
    if (rc == 0)
        user_reply(r, c, 201, uid);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int members_add(http_req *r)
{
    static const char *const fields[] = {"username", "role", NULL};
    err e;
    const char *username = NULL;
    auth_role role = ROLE_MEMBER;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_str(r->json, "username", JV_REQUIRED, AUTH_NAME_MAX, &username, &e) ||
        parse_role(r->json, JV_OPTIONAL, &role, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t uid;
    int rc = auth_member_add(c, r->who.org_id, username, role, &uid, &e);
    if (rc == 0)
        user_reply(r, c, 201, uid);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int users_get(http_req *r)
{
    int64_t uid;
    if (http_param_id(r, "id", &uid))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    if (auth_role_in(c, uid, r->who.org_id) == ROLE_NONE) {
        db_put(c);
        return http_fail(r, ERR_NOT_FOUND, "user %lld is not a member of this organization",
                         (long long)uid);
    }
    user_reply(r, c, 200, uid);
    db_put(c);
    return 0;
}

static int users_update(http_req *r)
{
    static const char *const fields[] = {"role", "disabled", NULL};
    err e;
    int64_t uid;
    if (http_param_id(r, "id", &uid))
        return 0;
    auth_role role = ROLE_NONE;
    bool disabled = false, has_disabled = json_object_get(r->json, "disabled") != NULL;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        parse_role(r->json, JV_OPTIONAL, &role, &e) ||
        jv_bool(r->json, "disabled", JV_OPTIONAL, &disabled, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = 0;
    if (auth_role_in(c, uid, r->who.org_id) == ROLE_NONE)
        rc = err_set(&e, ERR_NOT_FOUND, "user %lld is not a member of this organization",
                     (long long)uid);
    if (rc == 0 && role != ROLE_NONE)
        rc = auth_member_set_role(c, r->who.org_id, uid, role, &e);
    if (rc == 0 && has_disabled && uid == r->who.user_id && disabled)
        rc = err_set(&e, ERR_CONFLICT, "you cannot disable yourself");
    if (rc == 0 && has_disabled)
        rc = auth_user_set_disabled(c, uid, disabled, &e);
    if (rc == 0) {
        auth_cache_clear(APP(r)->auth);
        user_reply(r, c, 200, uid);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int users_remove(http_req *r)
{
    err e;
    int64_t uid;
    if (http_param_id(r, "id", &uid))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = auth_member_remove(c, r->who.org_id, uid, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    auth_cache_clear(APP(r)->auth);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "removed", uid);
    jw_obj_end(&w);
    return 0;
}

/* --- tokens ------------------------------------------------------------------ */

static int tokens_list(http_req *r)
{
    err e;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = auth_list_tokens(c, r->who.user_id, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int tokens_create(http_req *r)
{
    static const char *const fields[] = {"name", "expires_in_days", NULL};
    err e;
    const char *name = NULL;
    int64_t days = 0;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_str(r->json, "name", JV_REQUIRED, AUTH_NAME_MAX, &name, &e) ||
        jv_i64(r->json, "expires_in_days", JV_OPTIONAL, 1, 3650, &days, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    char token[AUTH_TOKEN_MAX];
    int64_t id;
    int64_t exp = days ? time_now_ms() + days * 86400000LL : 0;
    int rc = auth_token_create(c, r->who.user_id, r->who.org_id, name, exp, token, sizeof token,
                               &id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 201, &w);
    jw_obj(&w);
    jw_kint(&w, "id", id);
    jw_kstr(&w, "name", name);
    jw_kstr(&w, "token", token);
    jw_kint(&w, "org_id", r->who.org_id);
    jw_key(&w, "expires_at");
    if (exp) {
        char ts[32];
        time_fmt_iso(exp, ts, sizeof ts);
        jw_str(&w, ts);
    } else {
        jw_null(&w);
    }
    jw_kstr(&w, "note", "the token is shown only now; store it safely");
    jw_obj_end(&w);
    return 0;
}

static int tokens_revoke(http_req *r)
{
    err e;
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = auth_token_revoke(c, r->who.user_id, id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    auth_cache_clear(APP(r)->auth);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "revoked", id);
    jw_obj_end(&w);
    return 0;
}

#define USER_SCHEMA "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"username\":{\"type\":\"string\"},\"role\":{\"type\":\"string\"}}}"

const http_route auth_routes[] = {
    {HTTP_POST, "/api/v1/auth/login", login, PERM_PUBLIC, BODY_JSON, NULL,
     "Log in with username and password: a session cookie, or an API token when token_name is given",
     "auth",
     "{\"type\":\"object\",\"required\":[\"username\",\"password\"],\"properties\":{\"username\":{\"type\":\"string\"},\"password\":{\"type\":\"string\"},\"org_id\":{\"type\":\"integer\"},\"token_name\":{\"type\":\"string\"},\"token_expires_days\":{\"type\":\"integer\"}}}",
     NULL, 0},
    {HTTP_POST, "/api/v1/auth/logout", logout, PERM_AUTH, BODY_NONE, NULL, "End the web session",
     "auth", NULL, NULL, 0},
    {HTTP_GET, "/api/v1/me", me, PERM_AUTH, BODY_NONE, NULL,
     "The current user, organization, role, memberships (and CSRF token for sessions)", "auth",
     NULL, NULL, 0, .quick = true},
    {HTTP_PUT, "/api/v1/me/password", change_password, PERM_AUTH, BODY_JSON, NULL,
     "Change your password", "auth",
     "{\"type\":\"object\",\"required\":[\"old_password\",\"new_password\"]}", NULL, 0},
    {HTTP_GET, "/api/v1/orgs", orgs_list, PERM_AUTH, BODY_NONE, NULL,
     "Organizations you belong to", "orgs", NULL, NULL, 0},
    {HTTP_POST, "/api/v1/orgs", orgs_create, PERM_AUTH, BODY_JSON, NULL,
     "Create an organization (you become its admin)", "orgs",
     "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\"}}}",
     NULL, 0},
    {HTTP_POST, "/api/v1/session/org", session_org, PERM_AUTH, BODY_JSON, NULL,
     "Switch the web session to another organization", "orgs",
     "{\"type\":\"object\",\"required\":[\"org_id\"]}", NULL, 0},
    {HTTP_GET, "/api/v1/users", users_list, PERM_READ, BODY_NONE, NULL,
     "Members of the organization", "users", NULL, NULL, 0},
    {HTTP_POST, "/api/v1/users", users_create, PERM_ADMIN, BODY_JSON, NULL,
     "Create a user and add them to the organization", "users",
     "{\"type\":\"object\",\"required\":[\"username\",\"password\"],\"properties\":{\"username\":{\"type\":\"string\"},\"password\":{\"type\":\"string\"},\"role\":{\"type\":\"string\",\"enum\":[\"admin\",\"member\",\"labeler\",\"viewer\"]},\"display_name\":{\"type\":\"string\"},\"email\":{\"type\":\"string\"}}}",
     USER_SCHEMA, 0},
    {HTTP_GET, "/api/v1/users/{id}", users_get, PERM_READ, BODY_NONE, NULL, "One member", "users",
     NULL, USER_SCHEMA, 0, .quick = true},
    {HTTP_PATCH, "/api/v1/users/{id}", users_update, PERM_ADMIN, BODY_JSON, NULL,
     "Change a member's role or disable them", "users",
     "{\"type\":\"object\",\"properties\":{\"role\":{\"type\":\"string\"},\"disabled\":{\"type\":\"boolean\"}}}",
     USER_SCHEMA, 0},
    {HTTP_DELETE, "/api/v1/users/{id}", users_remove, PERM_ADMIN, BODY_NONE, NULL,
     "Remove a member from the organization (their tokens for it are revoked)", "users", NULL,
     NULL, 0},
    {HTTP_POST, "/api/v1/members", members_add, PERM_ADMIN, BODY_JSON, NULL,
     "Add an existing user to the organization", "users",
     "{\"type\":\"object\",\"required\":[\"username\"],\"properties\":{\"username\":{\"type\":\"string\"},\"role\":{\"type\":\"string\"}}}",
     USER_SCHEMA, 0},
    {HTTP_GET, "/api/v1/tokens", tokens_list, PERM_AUTH, BODY_NONE, NULL,
     "Your API tokens (never their secrets)", "tokens", NULL, NULL, 0},
    {HTTP_POST, "/api/v1/tokens", tokens_create, PERM_AUTH, BODY_JSON, NULL,
     "Create an API token for this organization; the secret is shown once", "tokens",
     "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\"},\"expires_in_days\":{\"type\":\"integer\"}}}",
     NULL, 0},
    {HTTP_DELETE, "/api/v1/tokens/{id}", tokens_revoke, PERM_AUTH, BODY_NONE, NULL,
     "Revoke one of your tokens", "tokens", NULL, NULL, 0},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
