/*
 * API tests of deployments in monitor mode: reported predictions (images,
 * outputs, refusals, duplicates), rollup metrics (counts, latency
 * percentiles, labels, scores), review and submission, alerts, and their
 * webhook events.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../unit/image_gen.h"
#include "api.h"
#include "base/util.h"

static const char *jstr(json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }
static int64_t jint(json_t *j, const char *k) { return json_integer_value(json_object_get(j, k)); }
static double jnum(json_t *j, const char *k) { return json_number_value(json_object_get(j, k)); }

/* Runs the cvops CLI against the test server: its output and exit status. */
static const char *cli(int *status, const char *args)
{
    static char out[65536];
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "'%s' %s --server '%s' --token '%s' 2>&1", getenv("CVOPS_TEST_BIN"),
             args, getenv("CVOPS_TEST_URL"), api_admin_token());
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return out;
}

static void init(void)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0, "%s", e.msg);
}
TestSuite(deploy, .init = init);

static int64_t new_deployment(const char *extra)
{
    char body[300];
    snprintf(body, sizeof body, "{\"name\":\"%s\"%s}", api_unique("dep-"), extra ? extra : "");
    api_resp *r = api_admin("POST", "/api/v1/deployments", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t id = jint(r->json, "id");
    api_free(r);
    return id;
}

/* Reports one prediction: a generated image (seed) + fields. */
static api_resp *report(int64_t dep, uint64_t seed, const char *predictions, double latency,
                        const char *shadow)
{
    tbytes img = t_photo_jpeg(64, 48, seed, 80);
    sbuf b = SBUF_INIT;
    sbuf_printf(&b, "--cvopsB\r\nContent-Disposition: form-data; name=\"predictions\"\r\n\r\n%s\r\n", predictions);
    sbuf_printf(&b, "--cvopsB\r\nContent-Disposition: form-data; name=\"latency_ms\"\r\n\r\n%g\r\n", latency);
    if (shadow)
        sbuf_printf(&b, "--cvopsB\r\nContent-Disposition: form-data; name=\"shadow\"\r\n\r\n%s\r\n", shadow);
    sbuf_puts(&b, "--cvopsB\r\nContent-Disposition: form-data; name=\"image\"; filename=\"cam.jpg\"\r\n\r\n");
    sbuf_put(&b, img.p, img.n);
    sbuf_puts(&b, "\r\n--cvopsB--\r\n");
    char path[100];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/predictions", (long long)dep);
    api_opts o = {.token = api_admin_token(), .body = b.p, .body_len = b.len,
                  .content_type = "multipart/form-data; boundary=cvopsB"};
    api_resp *r = api_do("POST", path, &o);
    sbuf_free(&b);
    tb_free(&img);
    return r;
}

Test(deploy, create_is_checked)
{
    const char *bad[] = {"{\"name\":\"x\",\"mode\":\"yolo\"}", "{\"name\":\"x\",\"mode\":\"serve\"}",
                         "{\"name\":\"x\",\"champion_version_id\":999999}",
                         "{\"name\":\"x\",\"sample_rate\":2}", "{\"mode\":\"monitor\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        api_resp *r = api_admin("POST", "/api/v1/deployments", bad[i]);
        cr_assert_eq(r->status, 400, "%s -> %ld %s", bad[i], r->status, r->body.p);
        api_free(r);
    }
}

Test(deploy, reported_predictions_and_refusals)
{
    int64_t dep = new_deployment(",\"sample_rate\":1,\"min_score\":0.3");
    api_resp *r = report(dep, 1, "{\"boxes\":[{\"x\":1,\"y\":2,\"w\":10,\"h\":5,\"label\":\"car\",\"score\":0.9},"
                                 "{\"x\":0,\"y\":0,\"w\":3,\"h\":3,\"label\":\"dog\",\"score\":0.1}]}", 12.5, NULL);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    cr_assert(json_is_true(json_object_get(r->json, "image_stored")));
    cr_assert_str_eq(jstr(r->json, "top_label"), "car");
    cr_assert_eq(jint(r->json, "objects"), 1, "the box under min_score is dropped");
    cr_assert_str_eq(jstr(r->json, "status"), "to_review");
    json_t *f = json_object_get(r->json, "features");
    cr_assert_eq(jint(f, "width"), 64);
    cr_assert_gt(jnum(f, "brightness"), 0);
    cr_assert_not_null(json_object_get(r->json, "data_id"));
    /* the sampled image is in the datalake, byte for byte, under the digest recorded */
    tbytes sent = t_photo_jpeg(64, 48, 1, 80);
    char sha[65], opath[100];
    sha256_hex(sent.p, sent.n, sha);
    cr_assert_str_eq(jstr(r->json, "sha256"), sha);
    snprintf(opath, sizeof opath, "/api/v1/data/%lld/original", (long long)jint(r->json, "data_id"));
    api_free(r);
    r = api_admin("GET", opath, NULL);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(r->body.len, sent.n);
    cr_assert_eq(memcmp(r->body.p, sent.p, sent.n), 0);
    tb_free(&sent);
    api_free(r);
    r = report(dep, 1, "{\"classes\":[{\"label\":\"car\",\"score\":0.8}]}", 5, NULL);
    cr_assert_eq(r->status, 409, "the same image twice: %s", r->body.p);
    api_free(r);
    const char *bad[] = {"{\"boxes\":[{\"x\":1,\"y\":2,\"w\":-1,\"h\":5,\"label\":\"car\"}]}",
                         "{\"classes\":[{\"label\":\"car\",\"score\":1.5}]}", "{\"bogus\":[]}",
                         "[1,2]", "{nope"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = report(dep, 100 + i, bad[i], 1, NULL);
        cr_assert_eq(r->status, 400, "%s -> %ld %s", bad[i], r->status, r->body.p);
        api_free(r);
    }
    /* not an image */
    char path[100];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/predictions?predictions=%%7B%%7D", (long long)dep);
    api_opts o = {.token = api_admin_token(), .body = "plain text", .content_type = "application/octet-stream"};
    r = api_do("POST", path, &o);
    cr_assert(r->status == 415 || r->status == 422, "%ld %s", r->status, r->body.p);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/deployments/%lld", (long long)dep);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(jint(r->json, "predictions"), 1, "refused reports store nothing");
    api_free(r);
}

Test(deploy, rollup_metrics_are_exact)
{
    int64_t dep = new_deployment(",\"sample_rate\":0");
    /* 10 predictions: latencies 1..10 ms x 10, labels a (7) b (3), scores .95 */
    for (int i = 0; i < 10; i++) {
        char pred[200];
        snprintf(pred, sizeof pred, "{\"classes\":[{\"label\":\"%s\",\"score\":0.95}]}", i < 7 ? "a" : "b");
        api_resp *r = report(dep, 1000 + (uint64_t)i, pred, (i + 1) * 10.0,
                             i < 4 ? "{\"classes\":[{\"label\":\"a\",\"score\":0.5}]}" : NULL);
        cr_assert_eq(r->status, 201, "%s", r->body.p);
        cr_assert(json_is_false(json_object_get(r->json, "image_stored")), "sample_rate 0");
        api_free(r);
    }
    char path[200];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/metrics?resolution=hour", (long long)dep);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *t = json_object_get(r->json, "totals");
    cr_assert_eq(jint(t, "count"), 10);
    cr_assert_float_eq(jnum(t, "latency_mean"), 55.0, 1e-9);
    /* p50 of 10..100 falls in the 50 ms bucket (20, 50]: interpolated there */
    double p50 = jnum(t, "latency_p50");
    cr_assert(p50 > 20 && p50 <= 50, "p50 %g", p50);
    double p99 = jnum(t, "latency_p99");
    cr_assert(p99 > 50 && p99 <= 100, "p99 %g", p99);
    /* champion/shadow agreed on 'a' for the 4 with a shadow (all 'a') */
    cr_assert_float_eq(jnum(t, "agreement"), 1.0, 1e-9);
    json_t *hist = json_object_get(t, "score_histogram");
    cr_assert_eq(json_integer_value(json_array_get(hist, 9)), 10);
    json_t *labels = json_object_get(r->json, "labels");
    cr_assert_str_eq(jstr(json_array_get(labels, 0), "label"), "a");
    cr_assert_eq(jint(json_array_get(labels, 0), "count"), 7);
    cr_assert_eq(jint(json_array_get(labels, 1), "count"), 3);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/metrics?resolution=week", (long long)dep);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 400);
    api_free(r);
}

Test(deploy, review_submit_and_events)
{
    api_resp *r = api_admin("POST", "/api/v1/webhooks",
                            "{\"url\":\"https://hooks.example/x\",\"secret\":\"0123456789abcdef\",\"events\":\"*\"}");
    int64_t hook = jint(r->json, "id");
    api_free(r);
    int64_t dep = new_deployment(",\"sample_rate\":0");
    r = report(dep, 2001, "{\"classes\":[{\"label\":\"cat\",\"score\":0.6}]}", 3, NULL);
    int64_t pred = jint(r->json, "id");
    api_free(r);
    char path[160];
    snprintf(path, sizeof path, "/api/v1/predictions/%lld/review", (long long)pred);
    r = api_admin("PUT", path, "{\"output\":{\"classes\":[{\"label\":\"dog\"}]}}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_str_eq(jstr(r->json, "status"), "reviewed");
    cr_assert_str_eq(jstr(json_array_get(json_object_get(json_object_get(r->json, "review"), "classes"), 0), "label"), "dog");
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/predictions?status=reviewed", (long long)dep);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/submit", (long long)dep);
    r = api_admin("POST", path, NULL);
    cr_assert_eq(jint(r->json, "submitted"), 1);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/predictions/%lld/review", (long long)pred);
    r = api_admin("PUT", path, "{\"output\":{\"classes\":[{\"label\":\"cat\"}]}}");
    cr_assert_eq(r->status, 409, "a submitted review is final");
    api_free(r);
    /* labelers review, viewers cannot */
    char *viewer = api_user("viewer", NULL);
    r = api_tok(viewer, "PUT", path, "{\"output\":{}}");
    cr_assert_eq(r->status, 403);
    api_free(r);
    free(viewer);
    /* a champion change and the submission produced webhook deliveries */
    snprintf(path, sizeof path, "/api/v1/webhooks/%lld/deliveries", (long long)hook);
    r = api_admin("GET", path, NULL);
    cr_assert_not_null(strstr(r->body.p, "review.submitted"), "%s", r->body.p);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/webhooks/%lld", (long long)hook);
    r = api_admin("DELETE", path, NULL);
    api_free(r);
}

static int count_deliveries(int64_t hook, const char *event)
{
    char path[100];
    snprintf(path, sizeof path, "/api/v1/webhooks/%lld/deliveries?limit=100", (long long)hook);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *items = json_is_array(r->json) ? r->json : json_object_get(r->json, "items");
    int n = 0;
    for (size_t i = 0; i < json_array_size(items); i++)
        n += strcmp(jstr(json_array_get(items, i), "event"), event) == 0;
    api_free(r);
    return n;
}

/* Alerts: a latency rule fires on slow predictions; a score rule fires once
 * (one alert.fired delivery however often it is checked while firing),
 * clears when the metric comes back, and fires again on the next breach.
 * The only test that makes alerts fire: webhooks see every alert of the
 * organization, so the deliveries counted here are all its own. */
Test(deploy, alert_fires_once_clears_and_fires_again)
{
    /* a latency rule: checked before any prediction it is ok, then fires */
    int64_t slow = new_deployment(",\"sample_rate\":0");
    char path[160];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/alerts", (long long)slow);
    api_resp *r = api_admin("POST", path, "{\"name\":\"slow\",\"metric\":\"latency_p99\",\"op\":\">\",\"threshold\":500,\"window_minutes\":5}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    r = api_admin("POST", path, "{\"name\":\"x\",\"metric\":\"vibes\",\"threshold\":1}");
    cr_assert_eq(r->status, 400);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/alerts/check", (long long)slow);
    r = api_admin("POST", path, NULL);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "items"), 0), "state"), "ok");
    api_free(r);
    for (int i = 0; i < 3; i++) {
        api_resp *p = report(slow, 3000 + (uint64_t)i, "{\"classes\":[{\"label\":\"a\"}]}", 2000, NULL);
        api_free(p);
    }
    r = api_admin("POST", path, NULL);
    json_t *a = json_array_get(json_object_get(r->json, "items"), 0);
    cr_assert_str_eq(jstr(a, "state"), "firing");
    cr_assert_gt(jnum(a, "last_value"), 500);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/deployments/%lld", (long long)slow);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(jint(r->json, "alerts_firing"), 1);
    api_free(r);

    /* the hook exists from here on: the latency alert above fired before it */
    r = api_admin("POST", "/api/v1/webhooks",
                  "{\"url\":\"https://hooks.example/alerts\",\"secret\":\"0123456789abcdef\",\"events\":[\"alert.fired\"]}");
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t hook = jint(r->json, "id");
    api_free(r);
    int64_t dep = new_deployment(",\"sample_rate\":0");
    char check[160];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/alerts", (long long)dep);
    r = api_admin("POST", path, "{\"name\":\"unsure\",\"metric\":\"score_mean\",\"op\":\"<\",\"threshold\":0.5,\"window_minutes\":5}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    snprintf(check, sizeof check, "/api/v1/deployments/%lld/alerts/check", (long long)dep);

    r = report(dep, 4001, "{\"classes\":[{\"label\":\"a\",\"score\":0.1}]}", 5, NULL);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    api_free(r);
    for (int i = 0; i < 3; i++) { /* checked three times while firing */
        r = api_admin("POST", check, NULL);
        a = json_array_get(json_object_get(r->json, "items"), 0);
        cr_assert_str_eq(jstr(a, "state"), "firing", "%s", r->body.p);
        cr_assert_float_eq(jnum(a, "last_value"), 0.1, 1e-9);
        api_free(r);
    }
    cr_assert_eq(count_deliveries(hook, "alert.fired"), 1, "fired once, not once per check");

    /* two confident predictions: the mean is (0.1 + 0.9 + 0.9) / 3 > 0.5 */
    for (int i = 0; i < 2; i++) {
        r = report(dep, 4002 + (uint64_t)i, "{\"classes\":[{\"label\":\"a\",\"score\":0.9}]}", 5, NULL);
        api_free(r);
    }
    r = api_admin("POST", check, NULL);
    a = json_array_get(json_object_get(r->json, "items"), 0);
    cr_assert_str_eq(jstr(a, "state"), "ok", "%s", r->body.p);
    cr_assert_float_eq(jnum(a, "last_value"), 1.9 / 3, 1e-9);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/deployments/%lld", (long long)dep);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(jint(r->json, "alerts_firing"), 0);
    api_free(r);
    cr_assert_eq(count_deliveries(hook, "alert.fired"), 1, "clearing is not a firing");

    /* a new breach fires again */
    for (int i = 0; i < 4; i++) {
        r = report(dep, 4010 + (uint64_t)i, "{\"classes\":[{\"label\":\"a\",\"score\":0.05}]}", 5, NULL);
        api_free(r);
    }
    r = api_admin("POST", check, NULL);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "items"), 0), "state"), "firing");
    api_free(r);
    cr_assert_eq(count_deliveries(hook, "alert.fired"), 2);
    snprintf(path, sizeof path, "/api/v1/webhooks/%lld", (long long)hook);
    r = api_admin("DELETE", path, NULL);
    api_free(r);
}

/* GET .../predictions?q=... : the number of predictions matched, or -status. */
static int pq_count(int64_t dep, const char *q, const char *extra)
{
    char *eq = curl_escape_q(q);
    char path[1200];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/predictions?q=%s%s", (long long)dep, eq,
             extra ? extra : "");
    free(eq);
    api_resp *r = api_admin("GET", path, NULL);
    int n = r->status == 200 ? (int)json_array_size(json_object_get(r->json, "items")) : -(int)r->status;
    api_free(r);
    return n;
}

Test(deploy, predictions_query_language)
{
    int64_t dep = new_deployment(",\"sample_rate\":1");
    /* 1: a detector output, top box car, a dog box too; the shadow agrees (car) */
    api_resp *r = report(dep, 7001,
                         "{\"boxes\":[{\"x\":1,\"y\":2,\"w\":10,\"h\":5,\"label\":\"car\",\"score\":0.9},"
                         "{\"x\":0,\"y\":0,\"w\":3,\"h\":3,\"label\":\"dog\",\"score\":0.4}]}",
                         10, "{\"boxes\":[{\"x\":1,\"y\":2,\"w\":10,\"h\":5,\"label\":\"car\",\"score\":0.8}]}");
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    api_free(r);
    /* 2: a class cat .6, slow; the shadow says dog */
    r = report(dep, 7002, "{\"classes\":[{\"label\":\"cat\",\"score\":0.6}]}", 200,
               "{\"classes\":[{\"label\":\"dog\",\"score\":0.7},{\"label\":\"cat\",\"score\":0.2}]}");
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    api_free(r);
    /* 3: bird .2, no shadow */
    r = report(dep, 7003, "{\"classes\":[{\"label\":\"bird\",\"score\":0.2}]}", 50, NULL);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    api_free(r);
    char tag[80];
    snprintf(tag, sizeof tag, "tag = \"deployment-%lld\"", (long long)dep);
    struct {
        const char *q;
        int n;
    } cases[] = {
        {"", 3},
        {"label = \"dog\"", 1},             /* any box's label, not only the top */
        {"label = \"car\" and label = \"dog\"", 1},
        {"label in (\"cat\", \"bird\")", 2},
        {"label ~ \"c*\"", 2},
        {"not label = \"dog\"", 2},
        {"score >= 0.5 and latency < 100", 1},
        {"score < 0.5", 1},
        {"latency > 20", 2},
        {"objects >= 1", 1},
        {"status = \"to_review\"", 3},
        {"status = \"reviewed\"", 0},
        {"created > \"2000-01-01\" and time < \"2999-01-01\"", 3},
        {"created < \"2000-01-01\"", 0},
        {"shadow", 2},
        {"agree", 1},
        {"shadow and not agree", 1},
        {"shadow_label = \"dog\"", 1},
        {"outlier", 0},
        {"not outlier", 3},
        {"out_of_range = false", 0}, /* not scored yet: unknown, not false */
        {"error", 0},
        {tag, 3},
        {"tag = \"nope\"", 0},
        {"exists meta", 0},
        {"(label = \"cat\" or label = \"bird\") and score > 0.5", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        cr_expect_eq(pq_count(dep, cases[i].q, NULL), cases[i].n, "%s -> %d, expected %d", cases[i].q,
                     pq_count(dep, cases[i].q, NULL), cases[i].n);
    /* the old filters still apply, together with q */
    cr_expect_eq(pq_count(dep, "label ~ \"*\"", "&min_score=0.5"), 2);
    cr_expect_eq(pq_count(dep, "latency > 20", "&label=cat"), 1);
    cr_expect_eq(pq_count(dep, "", "&status=to_review&limit=2"), 2);
    /* errors: 400 with the language's message and position */
    const char *bad[] = {"labl = \"x\"", "score = \"high\"", "label = ", "created > \"yesterday\"",
                         "(status = \"x\"", "latency >> 3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *eq = curl_escape_q(bad[i]);
        char path[400];
        snprintf(path, sizeof path, "/api/v1/deployments/%lld/predictions?q=%s", (long long)dep, eq);
        free(eq);
        r = api_admin("GET", path, NULL);
        cr_expect_eq(r->status, 400, "%s -> %ld %s", bad[i], r->status, r->body.p);
        cr_expect(api_error_message(r) && strstr(api_error_message(r), "column"), "%s -> %s", bad[i],
                  r->body.p);
        api_free(r);
    }
    /* the CLI passes --query */
    int st;
    char args[200];
    snprintf(args, sizeof args, "deployment predictions %lld --json --query 'label = \"dog\"'",
             (long long)dep);
    const char *text = cli(&st, args);
    cr_assert_eq(st, 0, "%s", text);
    json_t *cj = json_loads(text, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(cj, "items")), 1, "%s", text);
    json_decref(cj);
    snprintf(args, sizeof args, "deployment predictions %lld --query 'labl = 1'", (long long)dep);
    text = cli(&st, args);
    cr_assert_neq(st, 0, "%s", text);
    cr_assert(strstr(text, "column 1"), "%s", text);
    /* autocomplete: fields, then values */
    char path[300];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/predictions/autocomplete?q=sta", (long long)dep);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_expect(strstr(r->body.p, "\"status\""), "%s", r->body.p);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/predictions/autocomplete?q=status%%20%%3D%%20",
             (long long)dep);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_expect(strstr(r->body.p, "to_review"), "%s", r->body.p);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/predictions/autocomplete?q=label%%20%%3D%%20",
             (long long)dep);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_expect(strstr(r->body.p, "\\\"bird\\\""), "%s", r->body.p);
    api_free(r);
}

/* The label distribution of a detector counts every box (objects), not only
 * the top box; a classifier counts its top class. */
Test(deploy, detector_label_distribution_counts_boxes)
{
    int64_t dep = new_deployment(",\"sample_rate\":0");
    /* image 1: car .9, car .5, person .7; image 2: person .8; image 3: no box */
    const char *outs[] = {"{\"boxes\":[{\"x\":1,\"y\":1,\"w\":5,\"h\":5,\"label\":\"car\",\"score\":0.9},"
                          "{\"x\":9,\"y\":1,\"w\":5,\"h\":5,\"label\":\"car\",\"score\":0.5},"
                          "{\"x\":1,\"y\":9,\"w\":5,\"h\":5,\"label\":\"person\",\"score\":0.7}]}",
                          "{\"boxes\":[{\"x\":1,\"y\":1,\"w\":5,\"h\":5,\"label\":\"person\",\"score\":0.8}]}",
                          "{\"boxes\":[]}"};
    for (int i = 0; i < 3; i++) {
        api_resp *r = report(dep, 7100 + (uint64_t)i, outs[i], 5, NULL);
        cr_assert_eq(r->status, 201, "%s", r->body.p);
        api_free(r);
    }
    char path[200];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/metrics?resolution=day", (long long)dep);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *labels = json_object_get(r->json, "labels");
    cr_assert_eq(json_array_size(labels), 2, "%s", r->body.p);
    int64_t car = -1, person = -1;
    for (size_t i = 0; i < 2; i++) {
        json_t *l = json_array_get(labels, i);
        if (strcmp(jstr(l, "label"), "car") == 0)
            car = jint(l, "count");
        else if (strcmp(jstr(l, "label"), "person") == 0)
            person = jint(l, "count");
    }
    cr_assert_eq(car, 2, "two car boxes, one of them not the top: %s", r->body.p);
    cr_assert_eq(person, 2, "%s", r->body.p);
    cr_assert_float_eq(jnum(json_object_get(r->json, "totals"), "objects_per_image"), 4.0 / 3, 1e-9, "%s",
                       r->body.p);
    api_free(r);
}

static void review_output(int64_t pred, const char *output)
{
    char path[100], body[600];
    snprintf(path, sizeof path, "/api/v1/predictions/%lld/review", (long long)pred);
    snprintf(body, sizeof body, "{\"output\":%s}", output);
    api_resp *r = api_admin("PUT", path, body);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
}

/* Supervised metrics of a detector: the champion's and the shadow's boxes
 * against reviewed boxes (values checkable by hand). */
Test(deploy, supervised_detector_boxes)
{
    int64_t dep = new_deployment(",\"sample_rate\":0");
    /* image 1: champion finds the car exactly and a ghost person; the shadow
     * finds the car only */
    api_resp *r = report(dep, 7201,
                         "{\"boxes\":[{\"x\":0,\"y\":0,\"w\":10,\"h\":10,\"label\":\"car\",\"score\":0.9},"
                         "{\"x\":50,\"y\":50,\"w\":10,\"h\":10,\"label\":\"person\",\"score\":0.8}]}",
                         5, "{\"boxes\":[{\"x\":0,\"y\":0,\"w\":10,\"h\":10,\"label\":\"car\",\"score\":0.6}]}");
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t p1 = jint(r->json, "id");
    api_free(r);
    /* image 2: champion misses the car, the shadow finds it at IoU 0.818 */
    r = report(dep, 7202, "{\"boxes\":[]}", 5,
               "{\"boxes\":[{\"x\":1,\"y\":0,\"w\":10,\"h\":10,\"label\":\"car\",\"score\":0.5}]}");
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t p2 = jint(r->json, "id");
    api_free(r);
    /* image 3: not reviewed, does not count */
    r = report(dep, 7203, "{\"boxes\":[{\"x\":0,\"y\":0,\"w\":9,\"h\":9,\"label\":\"car\",\"score\":0.5}]}", 5,
               NULL);
    api_free(r);
    review_output(p1, "{\"boxes\":[{\"x\":0,\"y\":0,\"w\":10,\"h\":10,\"label\":\"car\"}]}");
    review_output(p2, "{\"boxes\":[{\"x\":0,\"y\":0,\"w\":10,\"h\":10,\"label\":\"car\"}]}");
    char path[120];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/supervised", (long long)dep);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "reviews"), 2);
    json_t *det = json_object_get(r->json, "detection");
    json_t *ch = json_object_get(det, "champion"), *sh = json_object_get(det, "shadow");
    cr_assert_not_null(ch, "%s", r->body.p);
    cr_assert_eq(jint(ch, "images"), 2);
    cr_assert_eq(jint(ch, "tp"), 1, "%s", r->body.p);
    cr_assert_eq(jint(ch, "fp"), 1);
    cr_assert_eq(jint(ch, "fn"), 1);
    cr_assert_float_eq(jnum(ch, "precision"), 0.5, 1e-9);
    cr_assert_float_eq(jnum(ch, "recall"), 0.5, 1e-9);
    /* car: one of two found, first in rank: AP50 = 51/101; person: no truth */
    cr_assert_float_eq(jnum(ch, "map_50"), 51.0 / 101, 1e-9, "%s", r->body.p);
    cr_assert_eq(jint(sh, "tp"), 2, "%s", r->body.p);
    cr_assert_eq(jint(sh, "fp"), 0);
    cr_assert_float_eq(jnum(sh, "precision"), 1.0, 1e-9);
    cr_assert_float_eq(jnum(sh, "recall"), 1.0, 1e-9);
    cr_assert_float_eq(jnum(sh, "map_50"), 1.0, 1e-9);
    /* at IoU >= .85 only the exact box: 7 thresholds at 1, 3 at 51/101 */
    cr_assert_float_eq(jnum(sh, "map_50_95"), (7 + 3 * 51.0 / 101) / 10, 1e-9, "%s", r->body.p);
    api_free(r);
    int st;
    char args[100];
    snprintf(args, sizeof args, "deployment supervised %lld", (long long)dep);
    const char *text = cli(&st, args);
    cr_assert_eq(st, 0, "%s", text);
    cr_assert(strstr(text, "detection: 2 reviewed images") && strstr(text, "MAP50"), "%s", text);
    cr_assert(strstr(text, "0.5050"), "champion mAP50 51/101: %s", text);
}

/* tag and meta in a predictions query read the stored image's datalake item
 * (here uploaded first with its metadata, then reported: deduplicated). */
Test(deploy, predictions_query_tags_and_metadata)
{
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("deplake-"));
    api_resp *r = api_admin("POST", "/api/v1/datalakes", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t lake = jint(r->json, "id");
    api_free(r);
    tbytes img = t_photo_jpeg(64, 48, 7301, 80);
    char path[300];
    snprintf(path, sizeof path,
             "/api/v1/datalakes/%lld/data?tag=night&meta=%%7B%%22cam%%22%%3A%%22gate-2%%22%%2C%%22n%%22%%3A3%%7D",
             (long long)lake);
    api_opts o = {.token = api_admin_token(), .body = img.p, .body_len = img.n,
                  .content_type = "application/octet-stream"};
    r = api_do("POST", path, &o);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    api_free(r);
    tb_free(&img);
    char extra[100];
    snprintf(extra, sizeof extra, ",\"sample_rate\":1,\"datalake_id\":%lld", (long long)lake);
    int64_t dep = new_deployment(extra);
    r = report(dep, 7301, "{\"classes\":[{\"label\":\"cat\",\"score\":0.6}]}", 5, NULL);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    api_free(r);
    r = report(dep, 7302, "{\"classes\":[{\"label\":\"cat\",\"score\":0.6}]}", 5, NULL);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    api_free(r);
    cr_expect_eq(pq_count(dep, "", NULL), 2);
    cr_expect_eq(pq_count(dep, "meta.cam = \"gate-2\"", NULL), 1);
    cr_expect_eq(pq_count(dep, "meta.n >= 3", NULL), 1);
    cr_expect_eq(pq_count(dep, "exists meta.cam", NULL), 1);
    cr_expect_eq(pq_count(dep, "tag = \"night\"", NULL), 1);
    cr_expect_eq(pq_count(dep, "not tag = \"night\"", NULL), 1);
    /* autocomplete offers the datalake's tags */
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/predictions/autocomplete?q=tag%%20%%3D%%20n",
             (long long)dep);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_expect(strstr(r->body.p, "night"), "%s", r->body.p);
    api_free(r);
}
