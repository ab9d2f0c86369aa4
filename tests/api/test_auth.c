/*
 * API tests: login, sessions and CSRF, API tokens, users and roles,
 * organizations and their isolation.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "base/util.h"

static api_resp *login(const char *user, const char *pw, const char *extra)
{
    char body[400];
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"%s}", user, pw,
             extra ? extra : "");
    api_opts o = {.body = body};
    return api_do("POST", "/api/v1/auth/login", &o);
}

Test(auth, session_cookie_and_csrf)
{
    api_resp *r = login("admin", getenv("CVOPS_TEST_ADMIN_PASSWORD"), NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    char *set = api_header(r, "Set-Cookie");
    cr_assert_not_null(set);
    cr_assert_not_null(strstr(set, "HttpOnly"));
    cr_assert_not_null(strstr(set, "SameSite=Strict"));
    char cookie[200];
    snprintf(cookie, sizeof cookie, "%.*s", (int)strcspn(set, ";"), set);
    char csrf[64];
    snprintf(csrf, sizeof csrf, "%s", json_string_value(json_object_get(r->json, "csrf_token")));
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "role")), "admin");
    free(set);
    api_free(r);

    api_opts get = {.cookie = cookie};
    r = api_do("GET", "/api/v1/me", &get);
    cr_assert_eq(r->status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "csrf_token")), csrf);
    api_free(r);

    /* a write without the CSRF token is refused, with it allowed */
    api_opts w = {.cookie = cookie, .body = "{\"name\":\"from-session\"}"};
    r = api_do("POST", "/api/v1/tokens", &w);
    cr_assert_eq(r->status, 403);
    cr_assert_not_null(strstr(api_error_message(r), "X-CSRF-Token"));
    api_free(r);
    w.csrf = "wrong-token-wrong-token";
    r = api_do("POST", "/api/v1/tokens", &w);
    cr_assert_eq(r->status, 403);
    api_free(r);
    w.csrf = csrf;
    r = api_do("POST", "/api/v1/tokens", &w);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    api_free(r);

    /* logout ends the session */
    api_opts out = {.cookie = cookie, .csrf = csrf};
    r = api_do("POST", "/api/v1/auth/logout", &out);
    cr_assert_eq(r->status, 200);
    api_free(r);
    r = api_do("GET", "/api/v1/me", &get);
    cr_assert_eq(r->status, 401);
    api_free(r);
}

Test(auth, wrong_password_and_unknown_user_look_the_same)
{
    api_resp *a = login("admin", "wrong-password", NULL);
    api_resp *b = login("nobody-at-all", "wrong-password", NULL);
    cr_assert_eq(a->status, 401);
    cr_assert_eq(b->status, 401);
    cr_assert_str_eq(api_error_message(a), api_error_message(b));
    api_free(a);
    api_free(b);
}

/* The token's last_used_at in the listing (malloc'd), waiting up to 5 s
 * for it to be recorded; NULL if it never is. */
static char *last_used(const char *lister, const char *base, int64_t id)
{
    for (int i = 0; i < 100; i++) {
        api_opts o = {.base = base, .token = lister};
        api_resp *r = api_do("GET", "/api/v1/tokens", &o);
        cr_assert_eq(r->status, 200);
        char *found = NULL;
        json_t *items = json_object_get(r->json, "items");
        for (size_t k = 0; k < json_array_size(items); k++) {
            json_t *t = json_array_get(items, k);
            const char *u = json_string_value(json_object_get(t, "last_used_at"));
            if (json_integer_value(json_object_get(t, "id")) == id && u)
                found = strdup(u);
        }
        api_free(r);
        if (found)
            return found;
        usleep(50000);
    }
    return NULL;
}

Test(auth, tokens_are_shown_once_and_revocable)
{
    char *tok = api_user("member", NULL);
    api_resp *r = api_tok(tok, "POST", "/api/v1/tokens", "{\"name\":\"ci\",\"expires_in_days\":30}");
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    const char *secret = json_string_value(json_object_get(r->json, "token"));
    cr_assert(strncmp(secret, "cvops_", 6) == 0);
    char second[128];
    snprintf(second, sizeof second, "%s", secret);
    int64_t id = json_integer_value(json_object_get(r->json, "id"));
    api_free(r);

    r = api_tok(tok, "GET", "/api/v1/tokens", NULL);
    cr_assert_eq(r->status, 200);
    cr_assert_null(strstr(r->body.p, second), "a listing must never show a secret");
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 2);
    api_free(r);

    r = api_tok(second, "GET", "/api/v1/me", NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
    /* its use is recorded (within about a second): the listing shows when */
    char *used = last_used(tok, NULL, id);
    cr_assert_not_null(used, "a used token shows last_used_at within 5 s");
    cr_assert(strncmp(used, "20", 2) == 0, "last_used_at is an ISO time: %s", used);
    free(used);
    char path[64];
    snprintf(path, sizeof path, "/api/v1/tokens/%lld", (long long)id);
    /* someone else (even an admin) cannot revoke my token */
    r = api_admin("DELETE", path, NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
    r = api_tok(second, "GET", "/api/v1/me", NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
    r = api_tok(tok, "DELETE", path, NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
    r = api_tok(second, "GET", "/api/v1/me", NULL);
    cr_assert_eq(r->status, 401);
    cr_assert_not_null(strstr(api_error_message(r), "revoked"));
    api_free(r);
    r = api_tok(tok, "GET", "/api/v1/me", NULL);
    cr_assert_eq(r->status, 200, "revoking one token leaves the others");
    api_free(r);
    free(tok);
}

/* One endpoint per permission, called by every role: the role table seen
 * from outside. (The unit test checks every cell of the table itself.) */
Test(auth, roles_matrix)
{
    const char *roles[] = {"viewer", "labeler", "member", "admin"};
    /* expected 2xx for AUTH, READ, WRITE, ADMIN */
    const bool allow[4][4] = {
        {1, 1, 0, 0}, /* viewer */
        {1, 1, 0, 0}, /* labeler */
        {1, 1, 1, 0}, /* member */
        {1, 1, 1, 1}, /* admin */
    };
    /* a finished job to retry (WRITE) */
    api_resp *r = api_admin("POST", "/api/v1/jobs", "{\"kind\":\"system.sleep\",\"payload\":{\"ms\":1,\"fail_times\":5,\"retryable\":false}}");
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = json_integer_value(json_object_get(r->json, "id"));
    api_free(r);
    json_decref(api_wait_job(api_admin_token(), job, 20));
    for (int i = 0; i < 4; i++) {
        char *tok = api_user(roles[i], NULL);
        r = api_tok(tok, "GET", "/api/v1/me", NULL);
        cr_assert_eq(r->status >= 200 && r->status < 300, allow[i][0], "%s AUTH %ld", roles[i], r->status);
        api_free(r);
        r = api_tok(tok, "GET", "/api/v1/users", NULL);
        cr_assert_eq(r->status >= 200 && r->status < 300, allow[i][1], "%s READ %ld", roles[i], r->status);
        api_free(r);
        char path[64];
        snprintf(path, sizeof path, "/api/v1/jobs/%lld/retry", (long long)job);
        r = api_tok(tok, "POST", path, NULL);
        cr_assert_eq(r->status >= 200 && r->status < 300, allow[i][2], "%s WRITE %ld %s", roles[i], r->status, r->body.p);
        if (!allow[i][2]) {
            cr_assert_eq(r->status, 403);
            cr_assert_not_null(strstr(api_error_message(r), roles[i]));
        }
        api_free(r);
        json_decref(api_wait_job(api_admin_token(), job, 20));
        char body[200];
        snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"longenough1\"}", api_unique("r"));
        r = api_tok(tok, "POST", "/api/v1/users", body);
        cr_assert_eq(r->status >= 200 && r->status < 300, allow[i][3], "%s ADMIN %ld", roles[i], r->status);
        api_free(r);
        free(tok);
    }
}

Test(auth, users_lifecycle)
{
    char name[64], body[300];
    snprintf(name, sizeof name, "%s", api_unique("life"));
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"pw-12345678\",\"role\":\"labeler\",\"email\":\"a@b.c\"}", name);
    api_resp *r = api_admin("POST", "/api/v1/users", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t id = json_integer_value(json_object_get(r->json, "id"));
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "role")), "labeler");
    api_free(r);
    /* duplicate */
    r = api_admin("POST", "/api/v1/users", body);
    cr_assert_eq(r->status, 409);
    cr_assert_not_null(strstr(api_error_message(r), "taken"));
    api_free(r);
    /* weak password, bad role, bad username */
    r = api_admin("POST", "/api/v1/users", "{\"username\":\"weakling\",\"password\":\"short\"}");
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "at least 8"));
    api_free(r);
    r = api_admin("POST", "/api/v1/users", "{\"username\":\"x1\",\"password\":\"longenough\",\"role\":\"god\"}");
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "admin, member, labeler, viewer"));
    api_free(r);
    r = api_admin("POST", "/api/v1/users", "{\"username\":\"bad name!\",\"password\":\"longenough\"}");
    cr_assert_eq(r->status, 400);
    api_free(r);
    /* change role, then log in and see it */
    char path[64];
    snprintf(path, sizeof path, "/api/v1/users/%lld", (long long)id);
    r = api_admin("PATCH", path, "{\"role\":\"member\"}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "role")), "member");
    api_free(r);
    r = login(name, "pw-12345678", ",\"token_name\":\"t\"");
    cr_assert_eq(r->status, 200);
    char tok[128];
    snprintf(tok, sizeof tok, "%s", json_string_value(json_object_get(r->json, "token")));
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "role")), "member");
    api_free(r);
    /* password change */
    r = api_tok(tok, "PUT", "/api/v1/me/password", "{\"old_password\":\"nope-nope\",\"new_password\":\"newpass-123\"}");
    cr_assert_eq(r->status, 403);
    api_free(r);
    r = api_tok(tok, "PUT", "/api/v1/me/password", "{\"old_password\":\"pw-12345678\",\"new_password\":\"newpass-123\"}");
    cr_assert_eq(r->status, 200);
    api_free(r);
    r = login(name, "newpass-123", NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
    /* disable: their token stops working */
    r = api_admin("PATCH", path, "{\"disabled\":true}");
    cr_assert_eq(r->status, 200);
    api_free(r);
    r = api_tok(tok, "GET", "/api/v1/me", NULL);
    cr_assert_eq(r->status, 401);
    cr_assert_not_null(strstr(api_error_message(r), "disabled"));
    api_free(r);
    r = api_admin("PATCH", path, "{\"disabled\":false}");
    api_free(r);
    /* remove from the organization: token revoked */
    r = api_admin("DELETE", path, NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
    r = api_tok(tok, "GET", "/api/v1/me", NULL);
    cr_assert_eq(r->status, 401);
    api_free(r);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
}

Test(auth, last_admin_cannot_leave)
{
    /* an organization with a single admin */
    int64_t uid;
    char *tok = api_user("member", &uid);
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("org"));
    api_resp *r = api_tok(tok, "POST", "/api/v1/orgs", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t org = json_integer_value(json_object_get(r->json, "id"));
    api_free(r);
    r = api_tok(tok, "POST", "/api/v1/orgs", body);
    cr_assert_eq(r->status, 409);
    api_free(r);
    /* a session in the new org to act as its admin */
    r = api_tok(tok, "GET", "/api/v1/me", NULL);
    const char *uname = json_string_value(json_object_get(json_object_get(r->json, "user"), "username"));
    char name[80];
    snprintf(name, sizeof name, "%s", uname);
    api_free(r);
    char extra[120];
    snprintf(extra, sizeof extra, ",\"org_id\":%lld,\"token_name\":\"o\"", (long long)org);
    char pw[100];
    snprintf(pw, sizeof pw, "password-%s", name);
    r = login(name, pw, extra);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    char otok[128];
    snprintf(otok, sizeof otok, "%s", json_string_value(json_object_get(r->json, "token")));
    api_free(r);
    char path[64];
    snprintf(path, sizeof path, "/api/v1/users/%lld", (long long)uid);
    r = api_tok(otok, "PATCH", path, "{\"role\":\"viewer\"}");
    cr_assert_eq(r->status, 409);
    cr_assert_not_null(strstr(api_error_message(r), "without an admin"));
    api_free(r);
    r = api_tok(otok, "DELETE", path, NULL);
    cr_assert_eq(r->status, 409);
    api_free(r);
    free(tok);
}

Test(auth, organizations_are_isolated)
{
    /* admin's org has a job; a user of another org cannot see it */
    api_resp *r = api_admin("POST", "/api/v1/jobs", "{\"kind\":\"system.sleep\",\"payload\":{\"ms\":1}}");
    int64_t job = json_integer_value(json_object_get(r->json, "id"));
    api_free(r);
    int64_t uid;
    char *tok = api_user("member", &uid);
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("iso"));
    r = api_tok(tok, "POST", "/api/v1/orgs", body);
    int64_t org = json_integer_value(json_object_get(r->json, "id"));
    api_free(r);
    r = api_tok(tok, "GET", "/api/v1/me", NULL);
    char name[80], pw[100], extra[120];
    snprintf(name, sizeof name, "%s", json_string_value(json_object_get(json_object_get(r->json, "user"), "username")));
    api_free(r);
    snprintf(pw, sizeof pw, "password-%s", name);
    snprintf(extra, sizeof extra, ",\"org_id\":%lld,\"token_name\":\"o\"", (long long)org);
    r = login(name, pw, extra);
    char otok[128];
    snprintf(otok, sizeof otok, "%s", json_string_value(json_object_get(r->json, "token")));
    api_free(r);
    char path[64];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld", (long long)job);
    r = api_tok(otok, "GET", path, NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
    r = api_tok(tok, "GET", path, NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
    r = api_tok(otok, "GET", "/api/v1/jobs", NULL);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 0);
    api_free(r);
    r = api_tok(otok, "GET", "/api/v1/users", NULL);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1);
    api_free(r);
    /* a member of org 1 cannot log into an org they do not belong to */
    char *tok2 = api_user("viewer", NULL);
    r = api_tok(tok2, "GET", "/api/v1/me", NULL);
    char n2[80];
    snprintf(n2, sizeof n2, "%s", json_string_value(json_object_get(json_object_get(r->json, "user"), "username")));
    api_free(r);
    snprintf(pw, sizeof pw, "password-%s", n2);
    r = login(n2, pw, extra);
    cr_assert_eq(r->status, 403);
    api_free(r);
    free(tok);
    free(tok2);
}

/* A token's first use is recorded without waiting for the database's
 * writer: while a job holds a write transaction for 4 s, a request with a
 * token never used before (an identity-cache miss) is answered at once, and
 * the use shows in the listing once the writer is free. */
Test(auth, recording_a_token_use_does_not_wait_for_the_writer, .timeout = 60)
{
    char url[100];
    const char *tok = "cvops_private_token_for_token_uses";
    const char *extra[] = {"--workers", "1", NULL};
    pid_t srv = api_private_server(tok, extra, url, sizeof url);
    api_opts o = {.base = url, .token = tok, .body = "{\"name\":\"fresh\"}"};
    api_resp *r = api_do("POST", "/api/v1/tokens", &o);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    char *fresh = strdup(json_string_value(json_object_get(r->json, "token")));
    int64_t id = json_integer_value(json_object_get(r->json, "id"));
    api_free(r);
    o.body = "{\"kind\":\"system.sleep\",\"payload\":{\"hold_write_ms\":4000,\"ms\":10,\"steps\":1}}";
    r = api_do("POST", "/api/v1/jobs", &o);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = json_integer_value(json_object_get(r->json, "id"));
    api_free(r);
    bool running = api_wait_running(url, tok, job, 4.0);
    cr_assert(running, "the job holding the writer did not start");
    usleep(300000); /* the job has taken the writer */
    api_opts f = {.base = url, .token = fresh};
    int64_t t0 = time_mono_ns();
    r = api_do("GET", "/api/v1/me", &f);
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_lt(secs, 2.0, "the first use of a token waited %.2f s for the writer", secs);
    api_free(r);
    char *used = last_used(tok, url, id);
    cr_assert_not_null(used, "the use was never recorded");
    free(used);
    free(fresh);
    kill(srv, SIGTERM);
    int st;
    waitpid(srv, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the server did not exit cleanly");
}
