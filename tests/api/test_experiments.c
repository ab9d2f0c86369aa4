/*
 * API tests: experiment tracking. Projects, experiments (status and its
 * times, tags, params, datasets, the table with filters, sorting and
 * keyset pages), metric batches (both shapes, every kind of malformed
 * batch, all-or-nothing, concurrent group commit, last write wins),
 * series views (raw pages, min/max and LTTB downsampling), comparison
 * alignment, logs of every kind, text output with long polling, artifacts,
 * organization isolation and roles.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "base/util.h"
#include "cvops/client.h"

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }
static int64_t jint(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

/* A request with the admin token and a printf-formatted path. */
__attribute__((format(printf, 3, 4))) static api_resp *req(const char *method, const char *body,
                                                           const char *fmt, ...)
{
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return api_admin(method, path, body);
}

static int64_t mk_project(const char *token)
{
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"description\":\"tests\"}", api_unique("proj-"));
    api_resp *r = api_tok(token, "POST", "/api/v1/projects", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t id = jint(r->json, "id");
    api_free(r);
    return id;
}

static int64_t mk_exp(int64_t project, const char *body)
{
    api_resp *r = req("POST", body ? body : "{}", "/api/v1/projects/%lld/experiments",
                      (long long)project);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t id = jint(r->json, "id");
    api_free(r);
    return id;
}

static void post_points(int64_t exp, const char *body, long want_status, const char *want_msg)
{
    api_resp *r = req("POST", body, "/api/v1/experiments/%lld/points", (long long)exp);
    cr_assert_eq(r->status, want_status, "%s -> %s", body, r->body.p);
    if (want_msg)
        cr_assert_not_null(strstr(api_error_message(r), want_msg), "%s\n got: %s\n want: %s", body,
                           api_error_message(r), want_msg);
    api_free(r);
}

/* A token for a user in a new organization of their own. */
static char *other_org_token(void)
{
    char *tok = api_user("member", NULL);
    char body[300];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("org-"));
    api_resp *r = api_tok(tok, "POST", "/api/v1/orgs", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t org = jint(r->json, "id");
    api_free(r);
    r = api_tok(tok, "GET", "/api/v1/me", NULL);
    char name[80];
    snprintf(name, sizeof name, "%s", jstr(json_object_get(r->json, "user"), "username"));
    api_free(r);
    snprintf(body, sizeof body,
             "{\"username\":\"%s\",\"password\":\"password-%s\",\"org_id\":%lld,\"token_name\":\"x\"}",
             name, name, (long long)org);
    api_opts o = {.body = body};
    r = api_do("POST", "/api/v1/auth/login", &o);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    char *otok = strdup(jstr(r->json, "token"));
    api_free(r);
    free(tok);
    return otok;
}

/* --- projects and experiments ---------------------------------------------- */

Test(experiments, projects_members_and_experiment_lifecycle)
{
    int64_t uid;
    char *member = api_user("member", &uid);
    int64_t p = mk_project(api_admin_token());
    api_resp *r = req("PUT", NULL, "/api/v1/projects/%lld/members/%lld", (long long)p, (long long)uid);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(json_array_size(json_object_get(r->json, "members")), 1);
    api_free(r);
    r = req("PUT", NULL, "/api/v1/projects/%lld/members/999999", (long long)p);
    cr_assert_eq(r->status, 404);
    api_free(r);
    r = req("PATCH", "{\"description\":\"changed\"}", "/api/v1/projects/%lld", (long long)p);
    cr_assert_str_eq(jstr(r->json, "description"), "changed");
    api_free(r);
    r = req("POST", "{\"name\":\"\"}", "/api/v1/projects");
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "project name must not be empty"));
    api_free(r);

    int64_t e = mk_exp(p, "{\"name\":\"baseline\",\"tags\":[\"resnet\",\"resnet\",\"aug\"],"
                          "\"params\":{\"lr\":0.01,\"opt\":\"adam\",\"layers\":[1,2]},"
                          "\"datasets\":{\"train\":11,\"val\":12},\"command\":\"python train.py\","
                          "\"host\":\"gpu-1\"}");
    r = req("GET", NULL, "/api/v1/experiments/%lld", (long long)e);
    cr_assert_eq(r->status, 200);
    cr_assert_str_eq(jstr(r->json, "status"), "created");
    cr_assert_eq(json_array_size(json_object_get(r->json, "tags")), 2, "duplicate tags dropped");
    cr_assert_eq(json_real_value(json_object_get(json_object_get(r->json, "params"), "lr")), 0.01);
    cr_assert_eq(jint(json_object_get(r->json, "datasets"), "val"), 12);
    cr_assert(json_is_null(json_object_get(r->json, "started_at")));
    api_free(r);
    /* same name in the project: 409 */
    r = req("POST", "{\"name\":\"baseline\"}", "/api/v1/projects/%lld/experiments", (long long)p);
    cr_assert_eq(r->status, 409);
    api_free(r);
    /* a generated name */
    int64_t e2 = mk_exp(p, NULL);
    r = req("GET", NULL, "/api/v1/experiments/%lld", (long long)e2);
    cr_assert(str_has_prefix(jstr(r->json, "name"), "run-"), "%s", jstr(r->json, "name"));
    api_free(r);

    /* status: running stamps started_at, succeeded stamps finished_at, no restart */
    r = req("PATCH", "{\"status\":\"running\"}", "/api/v1/experiments/%lld", (long long)e);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert(json_is_string(json_object_get(r->json, "started_at")));
    api_free(r);
    r = req("PATCH", "{\"status\":\"bogus\"}", "/api/v1/experiments/%lld", (long long)e);
    cr_assert_eq(r->status, 400);
    api_free(r);
    r = req("PATCH", "{\"status\":\"succeeded\"}", "/api/v1/experiments/%lld", (long long)e);
    cr_assert(json_is_string(json_object_get(r->json, "finished_at")));
    api_free(r);
    r = req("PATCH", "{\"status\":\"running\"}", "/api/v1/experiments/%lld", (long long)e);
    cr_assert_eq(r->status, 409);
    cr_assert_not_null(strstr(api_error_message(r), "already finished"));
    api_free(r);

    /* params merge; null removes; bad values refused */
    r = req("POST", "{\"params\":{\"lr\":0.02,\"opt\":null,\"epochs\":10}}",
            "/api/v1/experiments/%lld/params", (long long)e);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *params = json_object_get(r->json, "params");
    cr_assert_eq(json_real_value(json_object_get(params, "lr")), 0.02);
    cr_assert_null(json_object_get(params, "opt"));
    cr_assert_eq(jint(params, "epochs"), 10);
    api_free(r);
    r = req("POST", "{\"params\":{\"\":1}}", "/api/v1/experiments/%lld/params", (long long)e);
    cr_assert_eq(r->status, 400);
    api_free(r);
    /* dataset aliases */
    r = req("PUT", "{\"dataset_version_id\":44}", "/api/v1/experiments/%lld/datasets/test",
            (long long)e);
    cr_assert_eq(jint(json_object_get(r->json, "datasets"), "test"), 44);
    api_free(r);
    r = req("PUT", "{\"dataset_version_id\":44}", "/api/v1/experiments/%lld/datasets/b%%20d",
            (long long)e);
    cr_assert_eq(r->status, 400);
    api_free(r);
    r = req("DELETE", NULL, "/api/v1/experiments/%lld/datasets/train", (long long)e);
    cr_assert_null(json_object_get(json_object_get(r->json, "datasets"), "train"));
    api_free(r);

    /* a member may write, a viewer may only read */
    char *viewer = api_user("viewer", NULL);
    char path[120];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld", (long long)e2);
    r = api_tok(viewer, "GET", path, NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
    r = api_tok(viewer, "PATCH", path, "{\"description\":\"x\"}");
    cr_assert_eq(r->status, 403);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/points", (long long)e2);
    r = api_tok(viewer, "POST", path, "{\"points\":[]}");
    cr_assert_eq(r->status, 403);
    api_free(r);
    r = api_tok(member, "POST", path, "{\"points\":[{\"name\":\"a\",\"step\":1,\"value\":2}]}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);

    r = req("DELETE", NULL, "/api/v1/experiments/%lld", (long long)e2);
    cr_assert_eq(r->status, 204);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld", (long long)e2);
    cr_assert_eq(r->status, 404);
    api_free(r);
    r = req("DELETE", NULL, "/api/v1/projects/%lld", (long long)p);
    cr_assert_eq(r->status, 204);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld", (long long)e);
    cr_assert_eq(r->status, 404, "deleting the project deletes its experiments");
    api_free(r);
    free(viewer);
    free(member);
}

Test(experiments, table_filters_sorts_and_pages)
{
    int64_t p = mk_project(api_admin_token());
    int64_t ids[7];
    for (int i = 0; i < 7; i++) {
        char body[300];
        /* lr: 6, 5, 4, (none), 2, 1, 0; tag "odd" on odd i; 0 and 1 running */
        if (i == 3)
            snprintf(body, sizeof body, "{\"name\":\"run-%d\",\"tags\":[\"odd\"]}", i);
        else
            snprintf(body, sizeof body,
                     "{\"name\":\"run-%d\",\"tags\":[%s],\"params\":{\"lr\":%d},\"status\":\"%s\"}",
                     i, i % 2 ? "\"odd\"" : "", 6 - i, i < 2 ? "running" : "created");
        ids[i] = mk_exp(p, body);
        snprintf(body, sizeof body, "{\"points\":[{\"name\":\"loss\",\"step\":1,\"value\":%d}]}", 10 - i);
        if (i != 5)
            post_points(ids[i], body, 200, NULL);
    }
    /* newest first, pages of 3 */
    api_resp *r = req("GET", NULL, "/api/v1/projects/%lld/experiments?limit=3", (long long)p);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 3);
    cr_assert_eq(jint(json_array_get(items, 0), "id"), ids[6]);
    char cursor[200];
    snprintf(cursor, sizeof cursor, "%s", jstr(r->json, "next_cursor"));
    api_free(r);
    char *ec = curl_easy_escape(NULL, cursor, 0);
    r = req("GET", NULL, "/api/v1/projects/%lld/experiments?limit=3&cursor=%s", (long long)p, ec);
    curl_free(ec);
    items = json_object_get(r->json, "items");
    cr_assert_eq(jint(json_array_get(items, 0), "id"), ids[3]);
    api_free(r);

    /* sort by a parameter ascending, missing last; walk every page of 2 */
    int64_t order[7];
    int got = 0;
    cursor[0] = 0;
    for (int page = 0; page < 10; page++) {
        ec = curl_easy_escape(NULL, cursor, 0);
        r = req("GET", NULL,
                "/api/v1/projects/%lld/experiments?limit=2&order_by=param:lr&params=lr&metrics=loss%s%s",
                (long long)p, cursor[0] ? "&cursor=" : "", cursor[0] ? ec : "");
        curl_free(ec);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        items = json_object_get(r->json, "items");
        for (size_t i = 0; i < json_array_size(items); i++)
            order[got++] = jint(json_array_get(items, i), "id");
        json_t *nc = json_object_get(r->json, "next_cursor");
        if (json_is_null(nc)) {
            api_free(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", json_string_value(nc));
        api_free(r);
    }
    cr_assert_eq(got, 7);
    int64_t want[] = {ids[6], ids[5], ids[4], ids[2], ids[1], ids[0], ids[3]};
    for (int i = 0; i < 7; i++)
        cr_assert_eq(order[i], want[i], "position %d", i);
    /* the chosen columns */
    r = req("GET", NULL, "/api/v1/projects/%lld/experiments?order_by=-metric:loss&params=lr&metrics=loss,acc",
            (long long)p);
    items = json_object_get(r->json, "items");
    json_t *first = json_array_get(items, 0);
    cr_assert_eq(jint(first, "id"), ids[0], "highest loss first: %s", r->body.p);
    cr_assert_eq(jint(json_object_get(first, "params"), "lr"), 6);
    cr_assert_eq(jint(json_object_get(json_object_get(first, "metrics"), "loss"), "last"), 10);
    cr_assert(json_is_null(json_object_get(json_object_get(first, "metrics"), "acc")));
    cr_assert_eq(jint(json_array_get(items, 6), "id"), ids[5], "no loss: last");
    api_free(r);
    /* filters */
    r = req("GET", NULL, "/api/v1/projects/%lld/experiments?tag=odd&status=created", (long long)p);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 2); /* 3 and 5 */
    api_free(r);
    r = req("GET", NULL, "/api/v1/projects/%lld/experiments?q=RUN-4", (long long)p);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1);
    api_free(r);
    r = req("GET", NULL, "/api/v1/projects/%lld/experiments?order_by=size", (long long)p);
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "param:NAME"));
    api_free(r);
    r = req("GET", NULL, "/api/v1/projects/%lld/experiments?cursor=garbage", (long long)p);
    cr_assert_eq(r->status, 400);
    api_free(r);
    r = req("GET", NULL, "/api/v1/projects/%lld/experiments?status=done", (long long)p);
    cr_assert_eq(r->status, 400);
    api_free(r);
}

/* --- metric batches ---------------------------------------------------------- */

Test(experiments, malformed_batches_change_nothing)
{
    int64_t p = mk_project(api_admin_token());
    int64_t e = mk_exp(p, NULL);
    post_points(e, "{\"points\":[{\"name\":\"loss\",\"step\":1,\"value\":1}]}", 200, NULL);
    /* each bad batch carries a good point first: none of it may be stored */
    post_points(e, "{\"points\":[{\"name\":\"loss\",\"step\":2,\"value\":1},{\"name\":\"loss\",\"step\":\"3\",\"value\":1}]}",
                400, "points[1].step must be a whole number, got a string");
    post_points(e, "{\"points\":[{\"name\":\"loss\",\"step\":2,\"value\":1},{\"name\":\"loss\",\"step\":3,\"value\":NaN}]}",
                400, "NaN");
    post_points(e, "{\"points\":[{\"name\":\"loss\",\"step\":2,\"value\":1},{\"name\":\"loss\",\"step\":3,\"value\":\"0.5\"}]}",
                400, "points[1].value must be a finite number, got a string");
    post_points(e, "{\"points\":[{\"name\":\"loss\",\"step\":2,\"value\":1},{\"name\":\"loss\",\"value\":1}]}",
                400, "points[1] has no 'step'");
    post_points(e, "{\"points\":[{\"name\":\"loss\",\"step\":2,\"value\":1}],\"extra\":1}", 400,
                "unknown field 'extra'");
    post_points(e, "{\"points\":[{\"name\":\"loss\",\"step\":2,\"value\":1}", 400, "ends early");
    post_points(e, "not json", 400, "not valid JSON");
    post_points(e, "", 400, "the batch is empty");
    /* too many points */
    sbuf big = SBUF_INIT;
    sbuf_puts(&big, "{\"series\":[{\"name\":\"loss\",\"steps\":[");
    for (int i = 0; i < 10001; i++)
        sbuf_printf(&big, "%s%d", i ? "," : "", i + 100);
    sbuf_puts(&big, "],\"values\":[");
    for (int i = 0; i < 10001; i++)
        sbuf_printf(&big, "%s0.5", i ? "," : "");
    sbuf_puts(&big, "]}]}");
    api_resp *r = req("POST", sbuf_cstr(&big), "/api/v1/experiments/%lld/points", (long long)e);
    cr_assert_eq(r->status, 413, "%s", r->body.p);
    cr_assert_not_null(strstr(api_error_message(r), "at most 10000 points"));
    api_free(r);
    sbuf_free(&big);
    /* unknown experiment, wrong content type */
    post_points(999999999, "{\"points\":[]}", 404, "does not exist");
    api_opts o = {.token = api_admin_token(), .body = "{\"points\":[]}", .content_type = "text/csv"};
    char path[100];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/points", (long long)e);
    r = api_do("POST", path, &o);
    cr_assert_eq(r->status, 415, "%s", r->body.p);
    api_free(r);

    r = req("GET", NULL, "/api/v1/experiments/%lld/points?name=loss", (long long)e);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "total"), 1, "only the first good batch: %s", r->body.p);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/points?name=nothing", (long long)e);
    cr_assert_eq(r->status, 404);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/points", (long long)e);
    cr_assert_eq(r->status, 400);
    api_free(r);
}

Test(experiments, out_of_order_steps_last_write_wins_and_pages)
{
    int64_t p = mk_project(api_admin_token());
    int64_t e = mk_exp(p, NULL);
    /* 3000 points in 3 batches, the middle one going backwards and
     * rewriting steps already logged */
    sbuf b = SBUF_INIT;
    for (int batch = 0; batch < 3; batch++) {
        sbuf_reset(&b);
        sbuf_puts(&b, "{\"series\":[{\"name\":\"acc\",\"steps\":[");
        for (int i = 0; i < 1000; i++) {
            int step = batch == 1 ? 1999 - i : batch * 1000 + i; /* batch 1: 1999..1000 */
            sbuf_printf(&b, "%s%d", i ? "," : "", step);
        }
        sbuf_puts(&b, "],\"values\":[");
        for (int i = 0; i < 1000; i++)
            sbuf_printf(&b, "%s%d", i ? "," : "", batch);
        sbuf_puts(&b, "]}]}");
        post_points(e, sbuf_cstr(&b), 200, NULL);
    }
    /* step 500 again, twice in one batch: the later one wins */
    post_points(e, "{\"points\":[{\"name\":\"acc\",\"step\":500,\"value\":7},{\"name\":\"acc\",\"step\":500,\"value\":8}]}",
                200, NULL);
    api_resp *r = req("GET", NULL, "/api/v1/experiments/%lld/points?name=acc&limit=100000",
                      (long long)e);
    cr_assert_eq(jint(r->json, "total"), 3000, "%s", r->body.p);
    json_t *steps = json_object_get(r->json, "steps"), *vals = json_object_get(r->json, "values");
    for (int i = 0; i < 3000; i++)
        cr_assert_eq(json_integer_value(json_array_get(steps, i)), i);
    cr_assert_eq(json_number_value(json_array_get(vals, 500)), 8);
    cr_assert_eq(json_number_value(json_array_get(vals, 1500)), 1);
    cr_assert_eq(json_number_value(json_array_get(vals, 2500)), 2);
    api_free(r);
    /* raw pages with from/next_from */
    r = req("GET", NULL, "/api/v1/experiments/%lld/points?name=acc&from=990&limit=20", (long long)e);
    cr_assert_eq(json_array_size(json_object_get(r->json, "steps")), 20);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(r->json, "steps"), 0)), 990);
    cr_assert_eq(jint(r->json, "next_from"), 1010);
    cr_assert_eq(jint(r->json, "total"), 2010, "steps 990..2999");
    api_free(r);
    /* the series summary: latest is the highest step */
    r = req("GET", NULL, "/api/v1/experiments/%lld/metrics", (long long)e);
    json_t *m = json_array_get(json_object_get(r->json, "items"), 0);
    cr_assert_str_eq(jstr(m, "name"), "acc");
    cr_assert_eq(jint(m, "last_step"), 2999);
    cr_assert_eq(json_number_value(json_object_get(m, "last")), 2);
    cr_assert_eq(jint(m, "count"), 3002, "points logged, rewrites included");
    api_free(r);
    sbuf_free(&b);
}

Test(experiments, downsampled_views_keep_extremes)
{
    int64_t p = mk_project(api_admin_token());
    int64_t e = mk_exp(p, NULL);
    /* 50,000 points of a smooth curve with one spike up and one down, in
     * batches that arrive out of order */
    sbuf b = SBUF_INIT;
    static const int order[] = {4, 2, 0, 3, 1};
    for (int k = 0; k < 5; k++) {
        int batch = order[k];
        sbuf_reset(&b);
        sbuf_puts(&b, "{\"series\":[{\"name\":\"loss\",\"steps\":[");
        for (int i = 0; i < 10000; i++)
            sbuf_printf(&b, "%s%d", i ? "," : "", batch * 10000 + i);
        sbuf_puts(&b, "],\"values\":[");
        for (int i = 0; i < 10000; i++) {
            int s = batch * 10000 + i;
            double v = s == 31337 ? 1000 : s == 7777 ? -1000 : sin(s / 500.0);
            sbuf_printf(&b, "%s%.6f", i ? "," : "", v);
        }
        sbuf_puts(&b, "]}]}");
        post_points(e, sbuf_cstr(&b), 200, NULL);
    }
    const char *methods[] = {"minmax", "lttb"};
    for (int m = 0; m < 2; m++) {
        api_resp *r = req("GET", NULL, "/api/v1/experiments/%lld/points?name=loss&points=500&method=%s",
                          (long long)e, methods[m]);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        cr_assert_eq(jint(r->json, "total"), 50000);
        cr_assert(json_is_true(json_object_get(r->json, "downsampled")));
        cr_assert_str_eq(jstr(r->json, "method"), methods[m]);
        json_t *steps = json_object_get(r->json, "steps"), *vals = json_object_get(r->json, "values");
        size_t n = json_array_size(steps);
        cr_assert_leq(n, 500);
        cr_assert_geq(n, 400, "%s: %zu points", methods[m], n);
        bool hi = false, lo = false;
        for (size_t i = 0; i < n; i++) {
            double v = json_number_value(json_array_get(vals, i));
            hi |= v == 1000 && json_integer_value(json_array_get(steps, i)) == 31337;
            lo |= v == -1000 && json_integer_value(json_array_get(steps, i)) == 7777;
            if (i)
                cr_assert_gt(json_integer_value(json_array_get(steps, i)),
                             json_integer_value(json_array_get(steps, i - 1)));
        }
        cr_assert(hi && lo, "%s kept both spikes", methods[m]);
        cr_assert_eq(json_integer_value(json_array_get(steps, 0)), 0);
        cr_assert_eq(json_integer_value(json_array_get(steps, n - 1)), 49999);
        api_free(r);
    }
    /* out of order batches read back in order */
    api_resp *raw = req("GET", NULL, "/api/v1/experiments/%lld/points?name=loss&limit=100000",
                        (long long)e);
    json_t *rs = json_object_get(raw->json, "steps");
    cr_assert_eq(json_array_size(rs), 50000);
    for (int i = 0; i < 50000; i++)
        cr_assert_eq(json_integer_value(json_array_get(rs, (size_t)i)), i);
    api_free(raw);
    /* a step range, and fewer points than asked: raw */
    api_resp *r = req("GET", NULL, "/api/v1/experiments/%lld/points?name=loss&from=100&to=199&points=500",
                      (long long)e);
    cr_assert(json_is_false(json_object_get(r->json, "downsampled")));
    cr_assert_eq(json_array_size(json_object_get(r->json, "steps")), 100);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/points?name=loss&points=500&method=mean",
            (long long)e);
    cr_assert_eq(r->status, 400);
    api_free(r);
    sbuf_free(&b);
}

Test(experiments, comparison_aligns_by_step)
{
    int64_t p = mk_project(api_admin_token());
    int64_t a = mk_exp(p, "{\"params\":{\"lr\":0.1,\"bs\":32,\"opt\":\"sgd\"}}");
    int64_t b = mk_exp(p, "{\"params\":{\"lr\":0.01,\"bs\":32}}");
    post_points(a, "{\"series\":[{\"name\":\"loss\",\"steps\":[0,2,4],\"values\":[1,0.5,0.25]}]}", 200, NULL);
    post_points(b, "{\"series\":[{\"name\":\"loss\",\"steps\":[0,1,2,3],\"values\":[2,1.5,1,0.75]},"
                   "{\"name\":\"acc\",\"steps\":[5],\"values\":[0.9]}]}",
                200, NULL);
    api_resp *r = req("GET", NULL, "/api/v1/experiments/compare?ids=%lld,%lld&metrics=loss", (long long)a,
                      (long long)b);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *params = json_object_get(r->json, "params");
    cr_assert_eq(json_array_size(params), 3);
    json_t *bs = json_array_get(params, 0), *lr = json_array_get(params, 1), *opt = json_array_get(params, 2);
    cr_assert_str_eq(jstr(bs, "name"), "bs");
    cr_assert(json_is_false(json_object_get(bs, "differs")));
    cr_assert(json_is_true(json_object_get(lr, "differs")));
    cr_assert(json_is_true(json_object_get(opt, "differs")));
    cr_assert(json_is_null(json_array_get(json_object_get(opt, "values"), 1)));
    json_t *m = json_array_get(json_object_get(r->json, "metrics"), 0);
    cr_assert_str_eq(jstr(m, "aligned"), "steps");
    json_t *steps = json_object_get(m, "steps");
    cr_assert_eq(json_array_size(steps), 5); /* 0 1 2 3 4 */
    json_t *va = json_object_get(json_array_get(json_object_get(m, "series"), 0), "values");
    json_t *vb = json_object_get(json_array_get(json_object_get(m, "series"), 1), "values");
    cr_assert_eq(json_number_value(json_array_get(va, 2)), 0.5);
    cr_assert(json_is_null(json_array_get(va, 1)));
    cr_assert(json_is_null(json_array_get(vb, 4)));
    cr_assert_eq(json_number_value(json_array_get(vb, 3)), 0.75);
    api_free(r);
    /* buckets when the union is larger than points: 5 steps into 2 buckets */
    char body[200];
    snprintf(body, sizeof body, "{\"experiments\":[%lld,%lld],\"points\":2}", (long long)a, (long long)b);
    r = req("POST", body, "/api/v1/experiments/compare");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *metrics = json_object_get(r->json, "metrics");
    cr_assert_eq(json_array_size(metrics), 2, "acc and loss, every metric of either");
    m = json_array_get(metrics, 1);
    cr_assert_str_eq(jstr(m, "name"), "loss");
    cr_assert_str_eq(jstr(m, "aligned"), "buckets");
    /* steps 0..4 in 2 buckets: 0-2 and 3-4 */
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(m, "steps"), 1)), 3);
    json_t *sa = json_array_get(json_object_get(m, "series"), 0);
    cr_assert_eq(json_number_value(json_array_get(json_object_get(sa, "values"), 0)), 0.75);
    cr_assert_eq(json_number_value(json_array_get(json_object_get(sa, "max"), 0)), 1);
    cr_assert_eq(json_number_value(json_array_get(json_object_get(sa, "min"), 1)), 0.25);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/compare?ids=%lld,99999999", (long long)a);
    cr_assert_eq(r->status, 404);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/compare");
    cr_assert_eq(r->status, 400);
    api_free(r);
}

/* --- group commit --------------------------------------------------------------- */

typedef struct {
    int64_t exp;
    int thread;
    long status[10];
} poster;

static void *post_many(void *arg)
{
    poster *ps = arg;
    CURL *h = curl_easy_init();
    char url[300], auth[300], body[4096];
    snprintf(url, sizeof url, "%s/api/v1/experiments/%lld/points", getenv("CVOPS_TEST_URL"),
             (long long)ps->exp);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", getenv("CVOPS_TEST_TOKEN"));
    struct curl_slist *hdr = curl_slist_append(NULL, auth);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    for (int k = 0; k < 10; k++) {
        /* request 7 of thread 3 is malformed: it must fail alone */
        size_t o = (size_t)snprintf(body, sizeof body, "{\"series\":[{\"name\":\"t%d\",\"steps\":[", ps->thread);
        for (int i = 0; i < 100; i++)
            o += (size_t)snprintf(body + o, sizeof body - o, "%s%d", i ? "," : "", k * 100 + i);
        o += (size_t)snprintf(body + o, sizeof body - o, "],\"values\":[");
        for (int i = 0; i < 100; i++)
            o += (size_t)snprintf(body + o, sizeof body - o, "%s%s", i ? "," : "",
                                  ps->thread == 3 && k == 7 && i == 50 ? "\"x\"" : "1");
        snprintf(body + o, sizeof body - o, "]}]}");
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fwrite);
        FILE *null = fopen("/dev/null", "w");
        curl_easy_setopt(h, CURLOPT_WRITEDATA, null);
        if (curl_easy_perform(h) == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ps->status[k]);
        fclose(null);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return NULL;
}

Test(experiments, concurrent_batches_all_arrive)
{
    int64_t p = mk_project(api_admin_token());
    int64_t e = mk_exp(p, NULL);
    enum { T = 8 };
    pthread_t th[T];
    poster ps[T];
    for (int i = 0; i < T; i++) {
        ps[i] = (poster){.exp = e, .thread = i};
        pthread_create(&th[i], NULL, post_many, &ps[i]);
    }
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < T; i++)
        for (int k = 0; k < 10; k++)
            cr_assert_eq(ps[i].status[k], i == 3 && k == 7 ? 400 : 200, "thread %d request %d: %ld",
                         i, k, ps[i].status[k]);
    api_resp *r = req("GET", NULL, "/api/v1/experiments/%lld/metrics", (long long)e);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), T);
    for (int i = 0; i < T; i++) {
        json_t *m = json_array_get(items, (size_t)i);
        cr_assert_eq(jint(m, "count"), i == 3 ? 900 : 1000, "%s: %lld", jstr(m, "name"),
                     (long long)jint(m, "count"));
    }
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/points?name=t0", (long long)e);
    cr_assert_eq(json_array_size(json_object_get(r->json, "steps")), 1000);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(r->json, "steps"), 999)), 999);
    api_free(r);
}

/* --- logs, output, artifacts --------------------------------------------------- */

Test(experiments, logs_of_every_kind)
{
    int64_t p = mk_project(api_admin_token());
    int64_t e = mk_exp(p, NULL);
    const char *good[] = {
        "{\"name\":\"best\",\"kind\":\"value\",\"data\":{\"value\":0.93}}",
        "{\"name\":\"backbone\",\"kind\":\"value\",\"data\":{\"value\":\"resnet50\"}}",
        "{\"name\":\"per_class\",\"kind\":\"bar\",\"data\":{\"labels\":[\"cat\",\"dog\"],\"values\":[0.9,0.8]}}",
        "{\"name\":\"errors\",\"kind\":\"table\",\"data\":{\"columns\":[\"file\",\"score\"],\"rows\":[[\"a.jpg\",0.1],[\"b.jpg\",null]]}}",
        "{\"name\":\"attn\",\"kind\":\"heatmap\",\"data\":{\"rows\":[\"a\",\"b\"],\"columns\":[\"x\",\"y\",\"z\"],\"matrix\":[[1,2,3],[4,5,6]]}}",
        "{\"name\":\"cm\",\"kind\":\"confusion_matrix\",\"step\":10,\"data\":{\"labels\":[\"cat\",\"dog\"],\"matrix\":[[5,1],[2,7]]}}",
        "{\"name\":\"cm\",\"kind\":\"confusion_matrix\",\"step\":20,\"data\":{\"labels\":[\"cat\",\"dog\"],\"matrix\":[[6,0],[1,8]]}}",
        "{\"name\":\"classes\",\"kind\":\"label_map\",\"data\":{\"labels\":{\"0\":\"cat\",\"1\":\"dog\"}}}",
    };
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        api_resp *r = req("POST", good[i], "/api/v1/experiments/%lld/logs", (long long)e);
        cr_assert_eq(r->status, 201, "%s -> %s", good[i], r->body.p);
        api_free(r);
    }
    const char *bad[][2] = {
        {"{\"name\":\"x\",\"kind\":\"pie\",\"data\":{}}", "is not one of value"},
        {"{\"name\":\"x\",\"kind\":\"bar\",\"data\":{\"labels\":[\"a\"],\"values\":[1,2]}}", "data.values has 2 numbers; it must have 1"},
        {"{\"name\":\"x\",\"kind\":\"table\",\"data\":{\"columns\":[\"a\"],\"rows\":[[1,2]]}}", "data.rows[0] must be an array of 1 cells"},
        {"{\"name\":\"x\",\"kind\":\"heatmap\",\"data\":{\"rows\":[\"a\"],\"columns\":[\"b\"],\"matrix\":[[\"q\"]]}}", "data.matrix[0][0] must be a finite number"},
        {"{\"name\":\"x\",\"kind\":\"confusion_matrix\",\"data\":{\"labels\":[\"a\",\"b\"],\"matrix\":[[1,2]]}}", "2 rows"},
        {"{\"name\":\"x\",\"kind\":\"value\",\"data\":{\"value\":[1]}}", "a finite number or a string"},
        {"{\"name\":\"best\",\"kind\":\"bar\",\"data\":{\"labels\":[\"a\"],\"values\":[1]}}", "is a value"},
        {"{\"name\":\"x\",\"kind\":\"image\",\"data\":{\"sha256\":\"abc\"}}", "upload the image"},
        {"{\"name\":\"x\",\"kind\":\"label_map\",\"data\":{\"labels\":{\"0\":1}}}", "data.labels.0 must be a string"},
        {"{\"name\":\"x\",\"kind\":\"value\",\"step\":-1,\"data\":{\"value\":1}}", "field 'step'"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        api_resp *r = req("POST", bad[i][0], "/api/v1/experiments/%lld/logs", (long long)e);
        cr_assert(r->status == 400 || r->status == 409, "%s -> %ld", bad[i][0], r->status);
        cr_assert_not_null(strstr(api_error_message(r), bad[i][1]), "%s\n got %s", bad[i][0],
                           api_error_message(r));
        api_free(r);
    }
    /* an image: upload a PNG, log it per step; a text file is refused */
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                        'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0};
    api_opts o = {.token = api_admin_token(), .body = png, .body_len = sizeof png,
                  .content_type = "application/octet-stream"};
    api_resp *r = api_do("PUT", "/api/v1/files", &o);
    char sha[65], body[400];
    snprintf(sha, sizeof sha, "%s", jstr(r->json, "sha256"));
    api_free(r);
    snprintf(body, sizeof body, "{\"name\":\"pred\",\"kind\":\"image\",\"step\":3,\"data\":{\"sha256\":\"%s\",\"caption\":\"epoch 3\"}}", sha);
    r = req("POST", body, "/api/v1/experiments/%lld/logs", (long long)e);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    api_free(r);
    o.body = "plain text, not an image";
    o.body_len = 0;
    r = api_do("PUT", "/api/v1/files", &o);
    snprintf(body, sizeof body, "{\"name\":\"pred\",\"kind\":\"image\",\"step\":4,\"data\":{\"sha256\":\"%s\"}}", jstr(r->json, "sha256"));
    api_free(r);
    r = req("POST", body, "/api/v1/experiments/%lld/logs", (long long)e);
    cr_assert_eq(r->status, 422, "%s", r->body.p);
    api_free(r);
    snprintf(body, sizeof body, "{\"name\":\"pred\",\"kind\":\"image\",\"step\":4,\"data\":{\"sha256\":\"%064d\"}}", 0);
    r = req("POST", body, "/api/v1/experiments/%lld/logs", (long long)e);
    cr_assert_eq(r->status, 404, "%s", r->body.p);
    api_free(r);

    /* read back: all, one name in step order, without data */
    r = req("GET", NULL, "/api/v1/experiments/%lld/logs", (long long)e);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), ARRAY_LEN(good) + 1);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/logs?name=cm&limit=1", (long long)e);
    json_t *it = json_array_get(json_object_get(r->json, "items"), 0);
    cr_assert_eq(jint(it, "step"), 10);
    cr_assert_eq(json_integer_value(json_array_get(json_array_get(json_object_get(json_object_get(it, "data"), "matrix"), 1), 1)), 7);
    int64_t next = jint(r->json, "next_cursor");
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/logs?name=cm&limit=1&cursor=%lld", (long long)e, (long long)next);
    cr_assert_eq(jint(json_array_get(json_object_get(r->json, "items"), 0), "step"), 20);
    cr_assert(json_is_null(json_object_get(r->json, "next_cursor")));
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/logs?kind=image&data=0", (long long)e);
    it = json_array_get(json_object_get(r->json, "items"), 0);
    cr_assert_str_eq(jstr(it, "name"), "pred");
    cr_assert_null(json_object_get(it, "data"));
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/logs?kind=image", (long long)e);
    it = json_array_get(json_object_get(r->json, "items"), 0);
    cr_assert_str_eq(jstr(json_object_get(it, "data"), "format"), "png");
    cr_assert_str_eq(jstr(json_object_get(it, "data"), "sha256"), sha);
    api_free(r);
    /* the same (name, step) replaces */
    r = req("POST", "{\"name\":\"best\",\"kind\":\"value\",\"data\":{\"value\":0.95}}",
            "/api/v1/experiments/%lld/logs", (long long)e);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/logs?name=best", (long long)e);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1);
    it = json_array_get(json_object_get(r->json, "items"), 0);
    cr_assert_eq(json_real_value(json_object_get(json_object_get(it, "data"), "value")), 0.95);
    cr_assert(json_is_null(json_object_get(it, "step")));
    api_free(r);
}

/* The names the web UI offers as table columns and the log names it lists. */
Test(experiments, project_keys_and_log_names)
{
    int64_t p = mk_project(api_admin_token());
    api_resp *r = req("GET", NULL, "/api/v1/projects/%lld/keys", (long long)p);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(json_array_size(json_object_get(r->json, "params")), 0);
    cr_assert_eq(jint(r->json, "experiments"), 0);
    api_free(r);
    int64_t a = mk_exp(p, "{\"params\":{\"lr\":0.1,\"opt\":\"adam\"},\"tags\":[\"b\",\"a\"]}");
    int64_t b = mk_exp(p, "{\"params\":{\"lr\":0.2,\"depth\":50},\"tags\":[\"a\"]}");
    post_points(a, "{\"points\":[{\"name\":\"loss\",\"step\":1,\"value\":1}]}", 200, NULL);
    post_points(b, "{\"points\":[{\"name\":\"val/acc\",\"step\":1,\"value\":1},"
                   "{\"name\":\"loss\",\"step\":1,\"value\":2}]}",
                200, NULL);
    r = req("GET", NULL, "/api/v1/projects/%lld/keys", (long long)p);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    char *got = json_dumps(r->json, JSON_COMPACT);
    cr_assert_str_eq(got, "{\"params\":[\"depth\",\"lr\",\"opt\"],\"metrics\":[\"loss\",\"val/acc\"],"
                          "\"tags\":[\"a\",\"b\"],\"experiments\":2,\"scanned\":2,"
                          "\"truncated\":false}");
    free(got);
    api_free(r);
    r = req("GET", NULL, "/api/v1/projects/%lld/keys", (long long)p + 100000);
    cr_assert_eq(r->status, 404, "%s", r->body.p);
    api_free(r);

    /* log names: kind, count, step range; pages by name */
    const char *logs[] = {
        "{\"name\":\"cm\",\"kind\":\"confusion_matrix\",\"step\":10,\"data\":{\"labels\":[\"a\"],\"matrix\":[[1]]}}",
        "{\"name\":\"cm\",\"kind\":\"confusion_matrix\",\"step\":30,\"data\":{\"labels\":[\"a\"],\"matrix\":[[2]]}}",
        "{\"name\":\"cm\",\"kind\":\"confusion_matrix\",\"step\":20,\"data\":{\"labels\":[\"a\"],\"matrix\":[[3]]}}",
        "{\"name\":\"best\",\"kind\":\"value\",\"data\":{\"value\":0.9}}",
        "{\"name\":\"errors\",\"kind\":\"table\",\"data\":{\"columns\":[\"f\"],\"rows\":[[\"x\"]]}}",
    };
    for (size_t i = 0; i < ARRAY_LEN(logs); i++) {
        r = req("POST", logs[i], "/api/v1/experiments/%lld/logs", (long long)a);
        cr_assert_eq(r->status, 201, "%s -> %s", logs[i], r->body.p);
        api_free(r);
    }
    r = req("GET", NULL, "/api/v1/experiments/%lld/logs/names?limit=2", (long long)a);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    got = json_dumps(r->json, JSON_COMPACT);
    cr_assert_str_eq(got, "{\"items\":[{\"name\":\"best\",\"kind\":\"value\",\"count\":1,"
                          "\"first_step\":null,\"last_step\":null},{\"name\":\"cm\",\"kind\":"
                          "\"confusion_matrix\",\"count\":3,\"first_step\":10,\"last_step\":30}],"
                          "\"next_cursor\":\"cm\"}");
    free(got);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/logs/names?limit=2&cursor=cm", (long long)a);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 1);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "name"), "errors");
    cr_assert(json_is_null(json_object_get(r->json, "next_cursor")));
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/logs/names", (long long)b);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 0);
    api_free(r);
}

typedef struct {
    int64_t exp;
} appender;

static void *append_later(void *arg)
{
    appender *a = arg;
    usleep(600000);
    CURL *h = curl_easy_init();
    char url[300], auth[300];
    snprintf(url, sizeof url, "%s/api/v1/experiments/%lld/output", getenv("CVOPS_TEST_URL"), (long long)a->exp);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", getenv("CVOPS_TEST_TOKEN"));
    struct curl_slist *hdr = curl_slist_append(NULL, auth);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{\"lines\":[\"epoch 2 done\\n\"]}");
    FILE *null = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_WRITEDATA, null);
    curl_easy_perform(h);
    fclose(null);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return NULL;
}

Test(experiments, output_append_range_tail_and_follow)
{
    int64_t p = mk_project(api_admin_token());
    int64_t e = mk_exp(p, NULL);
    api_resp *r = req("POST", "{\"lines\":[\"starting\",\"epoch 1 done\\n\",\"\\u001b[32mgreen\\u001b[0m\"]}",
                      "/api/v1/experiments/%lld/output", (long long)e);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "last"), 3);
    api_free(r);
    r = req("POST", "{\"lines\":[1]}", "/api/v1/experiments/%lld/output", (long long)e);
    cr_assert_eq(r->status, 400);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/output?after=1&limit=1", (long long)e);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 1);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "line"), "epoch 1 done");
    cr_assert_eq(jint(r->json, "next_after"), 2);
    cr_assert(json_is_false(json_object_get(r->json, "finished")));
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/output?tail=1", (long long)e);
    cr_assert_eq(jint(json_array_get(json_object_get(r->json, "items"), 0), "seq"), 3);
    api_free(r);
    /* follow: a long poll returns when a line arrives, not at its timeout */
    pthread_t th;
    appender a = {e};
    pthread_create(&th, NULL, append_later, &a);
    int64_t t0 = time_mono_ns();
    r = req("GET", NULL, "/api/v1/experiments/%lld/output?after=3&wait=20", (long long)e);
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    pthread_join(th, NULL);
    items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 1, "%s", r->body.p);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "line"), "epoch 2 done");
    cr_assert_lt(secs, 10.0);
    cr_assert_geq(secs, 0.4, "it waited for the line");
    api_free(r);
    /* a finished experiment answers at once */
    r = req("PATCH", "{\"status\":\"failed\"}", "/api/v1/experiments/%lld", (long long)e);
    api_free(r);
    t0 = time_mono_ns();
    r = req("GET", NULL, "/api/v1/experiments/%lld/output?after=4&wait=20", (long long)e);
    cr_assert(json_is_true(json_object_get(r->json, "finished")));
    cr_assert_lt((double)(time_mono_ns() - t0) / 1e9, 5.0);
    api_free(r);
}

Test(experiments, artifacts_roundtrip)
{
    int64_t p = mk_project(api_admin_token());
    int64_t e = mk_exp(p, NULL);
    size_t n = 3 * 1024 * 1024 + 17;
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 31 + (i >> 13));
    char sha[65], path[300];
    sha256_hex(data, n, sha);
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/artifacts?path=ckpt/model%%20final.bin", (long long)e);
    api_opts o = {.token = api_admin_token(), .body = data, .body_len = n,
                  .content_type = "application/octet-stream"};
    api_resp *r = api_do("PUT", path, &o);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    cr_assert_str_eq(jstr(r->json, "sha256"), sha);
    cr_assert_eq(jint(r->json, "size"), (int64_t)n);
    api_free(r);
    /* an empty file and a second one in another directory */
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/artifacts?path=ckpt/EMPTY", (long long)e);
    o.body = "";
    o.body_len = 0;
    api_opts o2 = {.token = api_admin_token(), .headers = (const char *const[]){"Content-Length: 0", NULL}};
    r = api_do("PUT", path, &o2);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "size"), 0);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/artifacts?path=logs/config.yaml", (long long)e);
    o.body = "lr: 0.1\n";
    r = api_do("PUT", path, &o);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    api_free(r);
    /* bad paths */
    const char *bad[] = {"..%2Fx", "a/../b", "%2Fabs", "a//b", ""};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        snprintf(path, sizeof path, "/api/v1/experiments/%lld/artifacts?path=%s", (long long)e, bad[i]);
        o.body = "x";
        r = api_do("PUT", path, &o);
        cr_assert_eq(r->status, 400, "%s -> %s", bad[i], r->body.p);
        api_free(r);
    }
    /* list, with a prefix and pages */
    r = req("GET", NULL, "/api/v1/experiments/%lld/artifacts", (long long)e);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 3);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "path"), "ckpt/EMPTY");
    cr_assert_str_eq(jstr(json_array_get(items, 1), "path"), "ckpt/model final.bin");
    cr_assert_str_eq(jstr(json_array_get(items, 1), "sha256"), sha);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/artifacts?prefix=ckpt/&limit=1", (long long)e);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1);
    cr_assert_str_eq(jstr(r->json, "next_cursor"), "ckpt/EMPTY");
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/artifacts?prefix=ckpt/&cursor=ckpt/EMPTY", (long long)e);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1);
    api_free(r);
    /* download whole and a range */
    r = req("GET", NULL, "/api/v1/experiments/%lld/artifacts/file?path=ckpt/model%%20final.bin", (long long)e);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(r->body.len, n);
    cr_assert_eq(memcmp(r->body.p, data, n), 0);
    char *cd = api_header(r, "Content-Disposition");
    cr_assert_not_null(strstr(cd, "model final.bin"), "%s", cd);
    free(cd);
    api_free(r);
    const char *range[] = {"Range: bytes=1000-1999", NULL};
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/artifacts/file?path=ckpt/model%%20final.bin", (long long)e);
    api_opts o3 = {.token = api_admin_token(), .headers = range};
    r = api_do("GET", path, &o3);
    cr_assert_eq(r->status, 206);
    cr_assert_eq(memcmp(r->body.p, data + 1000, 1000), 0);
    api_free(r);
    /* delete */
    r = req("DELETE", NULL, "/api/v1/experiments/%lld/artifacts?path=logs/config.yaml", (long long)e);
    cr_assert_eq(r->status, 204);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/artifacts/file?path=logs/config.yaml", (long long)e);
    cr_assert_eq(r->status, 404);
    api_free(r);
    free(data);
}

Test(experiments, other_organizations_see_nothing)
{
    int64_t p = mk_project(api_admin_token());
    int64_t e = mk_exp(p, "{\"params\":{\"secret\":1}}");
    post_points(e, "{\"points\":[{\"name\":\"loss\",\"step\":1,\"value\":1}]}", 200, NULL);
    char path[200];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/artifacts?path=a.txt", (long long)e);
    api_opts o = {.token = api_admin_token(), .body = "abc", .content_type = "text/plain"};
    api_resp *r = api_do("PUT", path, &o);
    cr_assert_eq(r->status, 201);
    api_free(r);
    char *tok = other_org_token();
    struct {
        const char *method, *fmt, *body;
    } probes[] = {
        {"GET", "/api/v1/experiments/%lld", NULL},
        {"PATCH", "/api/v1/experiments/%lld", "{\"description\":\"mine\"}"},
        {"DELETE", "/api/v1/experiments/%lld", NULL},
        {"POST", "/api/v1/experiments/%lld/points", "{\"points\":[{\"name\":\"loss\",\"step\":2,\"value\":1}]}"},
        {"GET", "/api/v1/experiments/%lld/points?name=loss", NULL},
        {"GET", "/api/v1/experiments/%lld/metrics", NULL},
        {"POST", "/api/v1/experiments/%lld/params", "{\"params\":{\"x\":1}}"},
        {"POST", "/api/v1/experiments/%lld/logs", "{\"name\":\"v\",\"kind\":\"value\",\"data\":{\"value\":1}}"},
        {"GET", "/api/v1/experiments/%lld/logs", NULL},
        {"GET", "/api/v1/experiments/%lld/logs/names", NULL},
        {"POST", "/api/v1/experiments/%lld/output", "{\"lines\":[\"x\"]}"},
        {"GET", "/api/v1/experiments/%lld/output", NULL},
        {"GET", "/api/v1/experiments/%lld/artifacts", NULL},
        {"GET", "/api/v1/experiments/%lld/artifacts/file?path=a.txt", NULL},
        {"PUT", "/api/v1/experiments/%lld/artifacts?path=b.txt", "zzz"},
        {"GET", "/api/v1/experiments/compare?ids=%lld", NULL},
    };
    for (size_t i = 0; i < ARRAY_LEN(probes); i++) {
        snprintf(path, sizeof path, probes[i].fmt, (long long)e);
        r = api_tok(tok, probes[i].method, path, probes[i].body);
        cr_assert_eq(r->status, 404, "%s %s -> %ld %s", probes[i].method, path, r->status, r->body.p);
        api_free(r);
    }
    snprintf(path, sizeof path, "/api/v1/projects/%lld/keys", (long long)p);
    r = api_tok(tok, "GET", path, NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/projects/%lld/experiments", (long long)p);
    r = api_tok(tok, "GET", path, NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
    r = api_tok(tok, "POST", path, "{}");
    cr_assert_eq(r->status, 404);
    api_free(r);
    r = api_tok(tok, "GET", "/api/v1/projects", NULL);
    for (size_t i = 0; i < json_array_size(json_object_get(r->json, "items")); i++)
        cr_assert_neq(jint(json_array_get(json_object_get(r->json, "items"), i), "id"), p);
    api_free(r);
    /* nothing changed */
    r = req("GET", NULL, "/api/v1/experiments/%lld/points?name=loss", (long long)e);
    cr_assert_eq(jint(r->json, "total"), 1);
    api_free(r);
    free(tok);
}

/* --- the command line ---------------------------------------------------------- */

typedef struct {
    int status;
    sbuf out;
} cli_run;

/* Runs `cvops ARGS...` with the test server and token in the environment,
 * stdin from input; captures stdout (stderr goes to the test log). */
static cli_run cvops_cli(const char *input, const char *const *args)
{
    int in[2], out[2];
    cr_assert_eq(pipe(in), 0);
    cr_assert_eq(pipe(out), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        setenv("CVOPS_SERVER", getenv("CVOPS_TEST_URL"), 1);
        setenv("CVOPS_TOKEN", getenv("CVOPS_TEST_TOKEN"), 1);
        setenv("HOME", "/nonexistent", 1);
        int n = 0;
        while (args[n])
            n++;
        char **argv = calloc((size_t)n + 2, sizeof *argv);
        argv[0] = getenv("CVOPS_TEST_BIN");
        for (int i = 0; i < n; i++)
            argv[i + 1] = (char *)args[i];
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (input) {
        ssize_t w = write(in[1], input, strlen(input));
        (void)w;
    }
    close(in[1]);
    cli_run r = {0, SBUF_INIT};
    char buf[4096];
    ssize_t k;
    while ((k = read(out[0], buf, sizeof buf)) > 0)
        sbuf_put(&r.out, buf, (size_t)k);
    close(out[0]);
    int st;
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return r;
}

Test(experiments, command_line)
{
    char project[64], exp_id[32];
    snprintf(project, sizeof project, "%s", api_unique("cli-"));
    /* create: a new project name is created on the way; prints the id */
    cli_run r = cvops_cli(NULL, (const char *const[]){"experiment", "create", "--project", project,
                                                      "--param", "lr=0.01", "--param", "opt=adam",
                                                      "--tag", "cli", "first", NULL});
    cr_assert_eq(r.status, 0, "%s", sbuf_cstr(&r.out));
    snprintf(exp_id, sizeof exp_id, "%s", sbuf_cstr(&r.out));
    exp_id[strcspn(exp_id, "\n")] = 0;
    sbuf_free(&r.out);
    /* log: metrics, a status, output lines from stdin, points from CSV */
    r = cvops_cli(NULL, (const char *const[]){"experiment", "log", exp_id, "--metric", "loss=0.5",
                                              "--metric", "acc=0.25", "--step", "1", "--status",
                                              "running", NULL});
    cr_assert_eq(r.status, 0);
    sbuf_free(&r.out);
    r = cvops_cli("name,step,value\nloss,2,0.4\nloss,3,0.3\n",
                  (const char *const[]){"experiment", "log", exp_id, "--csv", "-", NULL});
    cr_assert_eq(r.status, 0);
    sbuf_free(&r.out);
    r = cvops_cli("epoch 1\nepoch 2\n", (const char *const[]){"experiment", "log", exp_id, "--output",
                                                              "--status", "succeeded", NULL});
    cr_assert_eq(r.status, 0);
    cr_assert_str_eq(sbuf_cstr(&r.out), "epoch 1\nepoch 2\n", "--output echoes its input");
    sbuf_free(&r.out);
    r = cvops_cli(NULL, (const char *const[]){"experiment", "log", exp_id, "--metric", "loss=NaN", NULL});
    cr_assert_eq(r.status, 2, "a non-finite value is a usage error");
    sbuf_free(&r.out);
    /* show --json */
    r = cvops_cli(NULL, (const char *const[]){"experiment", "show", exp_id, "--json", NULL});
    cr_assert_eq(r.status, 0);
    json_t *j = json_loads(sbuf_cstr(&r.out), 0, NULL);
    cr_assert_str_eq(jstr(j, "status"), "succeeded");
    cr_assert_eq(jint(j, "output_lines"), 2);
    json_t *metrics = json_object_get(j, "metrics");
    cr_assert_str_eq(jstr(json_array_get(metrics, 1), "name"), "loss");
    cr_assert_eq(jint(json_array_get(metrics, 1), "count"), 3);
    cr_assert_eq(json_real_value(json_object_get(json_object_get(j, "params"), "lr")), 0.01);
    json_decref(j);
    sbuf_free(&r.out);
    /* list with columns, compare, output */
    r = cvops_cli(NULL, (const char *const[]){"experiment", "list", "--project", project, "--params",
                                              "lr", "--metrics", "loss", NULL});
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(sbuf_cstr(&r.out), "first"), "%s", sbuf_cstr(&r.out));
    cr_assert_not_null(strstr(sbuf_cstr(&r.out), "0.3"), "the latest loss: %s", sbuf_cstr(&r.out));
    sbuf_free(&r.out);
    r = cvops_cli(NULL, (const char *const[]){"experiment", "compare", exp_id, "--all", NULL});
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(sbuf_cstr(&r.out), "opt"), "%s", sbuf_cstr(&r.out));
    sbuf_free(&r.out);
    r = cvops_cli(NULL, (const char *const[]){"experiment", "output", exp_id, "--tail", "1", NULL});
    cr_assert_str_eq(sbuf_cstr(&r.out), "epoch 2\n");
    sbuf_free(&r.out);
    /* artifacts: a directory up, a file down */
    char dir[] = "/tmp/cvops-cli-art.XXXXXX", path[200];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/sub", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/sub/w.bin", dir);
    FILE *f = fopen(path, "w");
    fputs("weights", f);
    fclose(f);
    r = cvops_cli(NULL, (const char *const[]){"experiment", "artifacts", exp_id, "--upload", dir,
                                              "--as", "run", NULL});
    cr_assert_eq(r.status, 0);
    sbuf_free(&r.out);
    r = cvops_cli(NULL, (const char *const[]){"experiment", "artifacts", exp_id, "--download",
                                              "run/sub/w.bin", "-o", "-", NULL});
    cr_assert_eq(r.status, 0);
    cr_assert_str_eq(sbuf_cstr(&r.out), "weights");
    sbuf_free(&r.out);
    r = cvops_cli(NULL, (const char *const[]){"experiment", "artifacts", exp_id, "--download",
                                              "run/none", "-o", "-", NULL});
    cr_assert_eq(r.status, 4, "not found");
    sbuf_free(&r.out);
    r = cvops_cli(NULL, (const char *const[]){"experiment", "show", "999999999", NULL});
    cr_assert_eq(r.status, 4);
    sbuf_free(&r.out);
    unlink(path);
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
}

/* The C client's typed log calls (include/cvops/client.h) against the
 * server: a table, a confusion matrix and an image arrive as the REST logs,
 * with the cells, the counts and the uploaded image's digest; a wrong shape
 * is refused with the server's message. */
Test(experiments, c_client_logs_table_matrix_image)
{
    int64_t p = mk_project(api_admin_token());
    int64_t e = mk_exp(p, NULL);
    cvops_client *c = cvops_client_new(getenv("CVOPS_TEST_URL"), api_admin_token());
    cr_assert_not_null(c);

    const char *cols[] = {"file", "score"};
    const char *cells[] = {"a.jpg", "0.5", "b \"q\".jpg", "0.25"};
    cr_assert_eq(cvops_experiment_log_table(c, e, "worst", cols, 2, cells, 2), CVOPS_OK, "%s",
                 cvops_client_errmsg(c));
    const char *labels[] = {"cat", "dog", "bird"};
    const double m[] = {5, 1, 0, 2, 7, 1, 0, 0, 9};
    cr_assert_eq(cvops_experiment_log_confusion_matrix(c, e, "cm", 4, labels, 3, m), CVOPS_OK,
                 "%s", cvops_client_errmsg(c));
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                        'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0};
    char file[] = "/tmp/cvops-api-img-XXXXXX";
    int fd = mkstemp(file);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, png, sizeof png), (ssize_t)sizeof png);
    close(fd);
    cr_assert_eq(cvops_experiment_log_image(c, e, "sample", 2, file, "first"), CVOPS_OK, "%s",
                 cvops_client_errmsg(c));
    /* a text file is not an image: refused, nothing logged */
    FILE *f = fopen(file, "w");
    fputs("not an image", f);
    fclose(f);
    cr_assert_neq(cvops_experiment_log_image(c, e, "sample", 3, file, NULL), CVOPS_OK);
    cr_assert(strlen(cvops_client_errmsg(c)) > 10);
    unlink(file);
    /* a log needs a name: the server's message comes back, nothing is logged */
    cr_assert_eq(cvops_experiment_log_confusion_matrix(c, e, "", 1, labels, 2, m), CVOPS_E_INVALID);
    cr_assert_not_null(strstr(cvops_client_errmsg(c), "name"), "%s", cvops_client_errmsg(c));
    cvops_client_free(c);

    api_resp *r = req("GET", NULL, "/api/v1/experiments/%lld/logs?name=worst", (long long)e);
    json_t *d = json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "data");
    cr_assert_eq(json_array_size(json_object_get(d, "rows")), 2, "%s", r->body.p);
    cr_assert_str_eq(json_string_value(json_array_get(json_array_get(json_object_get(d, "rows"), 1), 0)),
                     "b \"q\".jpg");
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/logs?name=cm", (long long)e);
    json_t *it = json_array_get(json_object_get(r->json, "items"), 0);
    cr_assert_eq(jint(it, "step"), 4);
    d = json_object_get(it, "data");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(d, "labels"), 2)), "bird");
    cr_assert_eq(json_number_value(json_array_get(json_array_get(json_object_get(d, "matrix"), 1), 1)), 7);
    cr_assert_eq(json_number_value(json_array_get(json_array_get(json_object_get(d, "matrix"), 2), 2)), 9);
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/logs?kind=image", (long long)e);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1, "%s", r->body.p);
    it = json_array_get(json_object_get(r->json, "items"), 0);
    cr_assert_eq(jint(it, "step"), 2);
    d = json_object_get(it, "data");
    cr_assert_eq(strlen(jstr(d, "sha256")), 64);
    cr_assert_str_eq(jstr(d, "caption"), "first");
    api_free(r);
    r = req("GET", NULL, "/api/v1/experiments/%lld/logs", (long long)e);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 3, "%s", r->body.p);
    api_free(r);
}
