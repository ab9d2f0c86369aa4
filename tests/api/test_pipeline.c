/*
 * API tests of a deployment's pipeline: configuration and its refusals,
 * and the whole loop end to end on generated data: train a tiny classifier
 * (horizontal vs vertical stripes), publish, deploy, predict on 100 new
 * images, review 30 with scripted corrections (the true class; the reviewer's
 * call, always against the model's, for 6 ambiguous checkerboards), submit; the
 * feedback loop adds them to the dataset version as accepted annotations;
 * continuous training starts from the champion and finishes a short
 * experiment; continuous deployment makes it the shadow; new predictions
 * carry shadow outputs. Then a run by hand with the "champion" policy and
 * an impossible margin leaves the new version a candidate with the reason.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_dataset_util.h"

static void init(void)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0, "%s", e.msg);
}
TestSuite(pipeline, .init = init, .timeout = 300);

/* A 24x24 gray PNG: stripes along rows (cls 0, "h") or columns (cls 1, "v"),
 * or a checkerboard (2: neither, ambiguous), random phase and noise from
 * the seed. */
static tbytes stripes(int cls, uint64_t seed)
{
    enum { W = 24 };
    uint8_t px[W * W];
    uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    int phase = (int)(t_rand(&s) % 6);
    for (int y = 0; y < W; y++)
        for (int x = 0; x < W; x++) {
            int k = cls == 0 ? y : cls == 1 ? x : x / 3 + y / 3 * 3; /* 2: a checkerboard */
            int v = ((k + phase) / 3) % 2 ? 200 : 60;
            v += (int)(t_rand(&s) % 41) - 20;
            px[y * W + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    return t_encode(px, W, W, 1, ".png", 0);
}

static const char *const CLS[2] = {"h", "v"};

/* Uploads n images (class i % 2) named <prefix><i>.png; ids[i]. */
static void upload_stripes(int64_t lake, int n, const char *prefix, uint64_t seed, int64_t *ids)
{
    sbuf body = SBUF_INIT;
    for (int i = 0; i < n; i++) {
        tbytes b = stripes(i % 2, seed + (uint64_t)i);
        sbuf_printf(&body, "--BB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s%d.png\"\r\n\r\n",
                    prefix, i);
        sbuf_put(&body, b.p, b.n);
        sbuf_puts(&body, "\r\n");
        tb_free(&b);
    }
    sbuf_puts(&body, "--BB--\r\n");
    char path[120];
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data/batch", (long long)lake);
    api_opts o = {.token = api_admin_token(), .body = body.p, .body_len = body.len,
                  .content_type = "multipart/form-data; boundary=BB"};
    api_resp *r = api_do("POST", path, &o);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *res = json_object_get(r->json, "results");
    for (int i = 0; i < n; i++)
        ids[i] = 0;
    for (size_t k = 0; k < json_array_size(res); k++) {
        json_t *x = json_array_get(res, k);
        int i = atoi(jstr(x, "filename") + strlen(prefix));
        if (strcmp(jstr(x, "status"), "created") == 0 && i >= 0 && i < n)
            ids[i] = jint(x, "id");
    }
    for (int i = 0; i < n; i++)
        cr_assert_gt(ids[i], 0, "%s%d.png was not stored: %s", prefix, i, r->body.p);
    api_free(r);
    sbuf_free(&body);
}

static json_t *get_json(const char *fmt, int64_t id)
{
    api_resp *r = req(NULL, "GET", NULL, fmt, (long long)id);
    cr_assert_eq(r->status, 200, "%s: %s", fmt, r->body.p);
    json_t *j = json_incref(r->json);
    api_free(r);
    return j;
}

typedef struct world {
    int64_t lake, version, project, experiment, champion, deployment;
} world;

static const char *TINY = "\"architecture\":\"cnn\",\"depth\":2,\"width\":0.25,\"batch_size\":16,"
                          "\"loader_workers\":1,\"lr\":0.005";

/* 64 annotated images (48 train, 8 val, 8 test), a tiny classifier trained
 * on them and published, a serving deployment storing every image in the
 * same datalake. */
static world make_world(void)
{
    world w = {0};
    enum { N = 64 };
    int64_t data[N];
    w.lake = new_lake();
    upload_stripes(w.lake, N, "train", 1000, data);
    int64_t ds = new_dataset(NULL, w.lake);
    w.version = new_version(ds, "v1", "classification");
    new_label(w.version, "{\"name\":\"h\"}");
    new_label(w.version, "{\"name\":\"v\"}");
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "{\"data_ids\":[");
    for (int i = 0; i < N; i++)
        sbuf_printf(&b, "%s%lld", i ? "," : "", (long long)data[i]);
    sbuf_puts(&b, "]}");
    cr_assert_eq(st(req(NULL, "POST", b.p, "/api/v1/dataset-versions/%lld/assets", (long long)w.version)), 200);
    b.len = 0;
    sbuf_puts(&b, "{\"mode\":\"replace\",\"annotations\":[");
    for (int i = 0; i < N; i++)
        sbuf_printf(&b, "%s{\"data_id\":%lld,\"status\":\"accepted\",\"shapes\":[{\"kind\":\"class\",\"label\":\"%s\"}]}",
                    i ? "," : "", (long long)data[i], CLS[i % 2]);
    sbuf_puts(&b, "]}");
    api_resp *r = req(NULL, "POST", b.p, "/api/v1/dataset-versions/%lld/annotations", (long long)w.version);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    /* splits by tag: the assets are in data id order */
    int64_t assets[N];
    list_assets(w.version, N, assets);
    const char *split[3] = {"train", "val", "test"};
    int from[4] = {0, 48, 56, 64};
    for (int s = 0; s < 3; s++) {
        b.len = 0;
        sbuf_printf(&b, "{\"add\":[\"%s\"],\"ids\":[", split[s]);
        for (int i = from[s]; i < from[s + 1]; i++)
            sbuf_printf(&b, "%s%lld", i > from[s] ? "," : "", (long long)assets[i]);
        sbuf_puts(&b, "]}");
        r = req(NULL, "POST", b.p, "/api/v1/dataset-versions/%lld/tags", (long long)w.version);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        api_free(r);
    }
    sbuf_free(&b);

    char body[600];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("ct-"));
    r = api_admin("POST", "/api/v1/projects", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    w.project = jint(r->json, "id");
    api_free(r);
    snprintf(body, sizeof body, "{\"name\":\"first\",\"datasets\":{\"train\":%lld}}", (long long)w.version);
    r = req(NULL, "POST", body, "/api/v1/projects/%lld/experiments", (long long)w.project);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    w.experiment = jint(r->json, "id");
    api_free(r);
    snprintf(body, sizeof body, "{%s,\"epochs\":3}", TINY);
    r = req(NULL, "POST", body, "/api/v1/experiments/%lld/launch", (long long)w.experiment);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(json_object_get(r->json, "current"), "job_id");
    api_free(r);
    json_t *j = api_wait_job(api_admin_token(), job, 200);
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "%s", jstr(j, "error"));
    json_decref(j);
    snprintf(body, sizeof body, "{\"model\":\"%s\"}", api_unique("stripes-"));
    r = req(NULL, "POST", body, "/api/v1/experiments/%lld/publish", (long long)w.experiment);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    w.champion = jint(r->json, "id");
    api_free(r);
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"mode\":\"serve\",\"champion_version_id\":%lld,\"datalake_id\":%lld,"
             "\"sample_rate\":1}",
             api_unique("loop-"), (long long)w.champion, (long long)w.lake);
    r = api_admin("POST", "/api/v1/deployments", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    w.deployment = jint(r->json, "id");
    api_free(r);
    return w;
}

static api_resp *predict(int64_t dep, const tbytes *img)
{
    char path[120];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/predict", (long long)dep);
    api_opts o = {.token = api_admin_token(), .body = img->p, .body_len = img->n,
                  .content_type = "application/octet-stream"};
    return api_do("POST", path, &o);
}

static api_resp *put_pipeline(int64_t dep, const char *body)
{
    return req(NULL, "PUT", body, "/api/v1/deployments/%lld/pipeline", (long long)dep);
}

/* Polls the newest pipeline run until it leaves training/published. */
static json_t *wait_run(int64_t dep, double timeout_s)
{
    for (int i = 0; i < (int)(timeout_s * 10); i++) {
        json_t *runs = get_json("/api/v1/deployments/%lld/pipeline/runs", dep);
        json_t *run = json_array_get(json_object_get(runs, "items"), 0);
        const char *s = run ? jstr(run, "state") : "";
        if (run && strcmp(s, "training") != 0 && strcmp(s, "published") != 0) {
            json_incref(run);
            json_decref(runs);
            return run;
        }
        json_decref(runs);
        usleep(100000);
    }
    cr_assert_fail("the pipeline run did not finish within %g s", timeout_s);
    return NULL;
}

/* Runs `cvops ARGS --server URL --token T`; its stdout (static) and exit status. */
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

Test(pipeline, configuration_is_checked)
{
    world w = {0};
    w.lake = new_lake();
    int64_t ds = new_dataset(NULL, w.lake);
    w.version = new_version(ds, "v1", "classification");
    char body[400];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("cfg-"));
    api_resp *r = api_admin("POST", "/api/v1/deployments", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t dep = jint(r->json, "id");
    api_free(r);
    /* no pipeline yet */
    r = req(NULL, "GET", NULL, "/api/v1/deployments/%lld/pipeline", (long long)dep);
    cr_assert_eq(r->status, 404, "%s", r->body.p);
    cr_assert(strstr(api_error_message(r), "PUT"), "%s", api_error_message(r));
    api_free(r);
    /* the deployment's datalake is "default", the version's is another */
    snprintf(body, sizeof body, "{\"datasets\":{\"train\":%lld}}", (long long)w.version);
    r = put_pipeline(dep, body);
    cr_assert_eq(r->status, 400, "%s", r->body.p);
    cr_assert(strstr(api_error_message(r), "datalake"), "%s", api_error_message(r));
    api_free(r);
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"datalake_id\":%lld}", api_unique("cfg-"), (long long)w.lake);
    r = api_admin("POST", "/api/v1/deployments", body);
    dep = jint(r->json, "id");
    api_free(r);
    const char *bad[] = {
        "{}",
        "{\"datasets\":{\"test\":1}}",
        "{\"datasets\":{\"train\":999999999}}",
        "{\"datasets\":{\"train\":%lld},\"policy\":\"yolo\"}",
        "{\"datasets\":{\"train\":%lld},\"metric\":\"loss\"}",
        "{\"datasets\":{\"train\":%lld},\"reviews_to_train\":5}",
        "{\"datasets\":{\"train\":%lld},\"params\":{\"epochs\":0}}",
        "{\"datasets\":{\"train\":%lld},\"feedback_tags\":[\"\"]}",
        "{\"datasets\":{\"train\":%lld},\"color\":1}",
    };
    const char *why[] = {"datasets", "train", "does not exist", "policy", "metric", "project_id",
                         "epochs", "feedback_tags", "color"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(body, sizeof body, bad[i], (long long)w.version);
        r = put_pipeline(dep, body);
        cr_assert_eq(r->status, 400, "%s: %ld %s", body, r->status, r->body.p);
        cr_assert(strstr(api_error_message(r), why[i]), "%s: %s", body, api_error_message(r));
        api_free(r);
    }
    /* a good one, then read back with its defaults */
    snprintf(body, sizeof body, "{\"datasets\":{\"train\":%lld},\"policy\":\"shadow\"}", (long long)w.version);
    r = put_pipeline(dep, body);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "feedback_version_id"), w.version);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(r->json, "feedback_tags"), 0)), "train");
    cr_assert_str_eq(jstr(r->json, "policy"), "shadow");
    cr_assert_str_eq(jstr(r->json, "metric"), "accuracy");
    cr_assert_eq(jint(r->json, "reviews_to_train"), 0);
    api_free(r);
    /* the CLI: set, show, runs */
    char args[300];
    int status;
    snprintf(args, sizeof args,
             "deployment pipeline set %lld --train %lld --policy manual --reviews 0 --feedback-tag fb "
             "--params '{\"epochs\":2}' --json",
             (long long)dep, (long long)w.version);
    const char *out = cli(&status, args);
    cr_assert_eq(status, 0, "%s", out);
    json_t *cj = json_loads(out, 0, NULL);
    cr_assert_not_null(cj, "%s", out);
    cr_assert_str_eq(jstr(cj, "policy"), "manual");
    cr_assert_eq(jint(json_object_get(cj, "params"), "epochs"), 2);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(cj, "feedback_tags"), 0)), "fb");
    json_decref(cj);
    snprintf(args, sizeof args, "deployment pipeline show %lld", (long long)dep);
    out = cli(&status, args);
    cr_assert_eq(status, 0, "%s", out);
    cr_assert(strstr(out, "manual"), "%s", out);
    snprintf(args, sizeof args, "deployment pipeline set %lld --policy yolo --train %lld", (long long)dep,
             (long long)w.version);
    out = cli(&status, args);
    cr_assert_neq(status, 0, "%s", out);
    cr_assert(strstr(out, "policy"), "%s", out);
    snprintf(args, sizeof args, "deployment pipeline runs %lld --json", (long long)dep);
    out = cli(&status, args);
    cr_assert_eq(status, 0, "%s", out);
    cr_assert(strstr(out, "\"items\": []") || strstr(out, "\"items\":[]"), "%s", out);
    /* a run by hand needs a champion and a project */
    r = req(NULL, "POST", NULL, "/api/v1/deployments/%lld/pipeline/runs", (long long)dep);
    cr_assert_eq(r->status, 422, "%s", r->body.p);
    api_free(r);
    /* removed: gone, and a second removal says so */
    cr_assert_eq(st(req(NULL, "DELETE", NULL, "/api/v1/deployments/%lld/pipeline", (long long)dep)), 200);
    cr_assert_eq(st(req(NULL, "GET", NULL, "/api/v1/deployments/%lld/pipeline", (long long)dep)), 404);
    cr_assert_eq(st(req(NULL, "DELETE", NULL, "/api/v1/deployments/%lld/pipeline", (long long)dep)), 404);
}

static int count_deliveries(int64_t hook, const char *event)
{
    json_t *j = get_json("/api/v1/webhooks/%lld/deliveries?limit=100", hook);
    json_t *items = json_is_array(j) ? j : json_object_get(j, "items");
    int n = 0;
    for (size_t i = 0; i < json_array_size(items); i++)
        n += strcmp(jstr(json_array_get(items, i), "event"), event) == 0;
    json_decref(j);
    return n;
}

/* Sets the pipeline's policy, starts a run by hand, waits for its decision;
 * the run's new version. */
static int64_t run_policy(const world *w, const char *policy, const char *want)
{
    char body[800];
    snprintf(body, sizeof body,
             "{\"datasets\":{\"train\":%lld},\"project_id\":%lld,\"params\":{%s,\"epochs\":1},%s}",
             (long long)w->version, (long long)w->project, TINY, policy);
    api_resp *r = put_pipeline(w->deployment, body);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    r = req(NULL, "POST", NULL, "/api/v1/deployments/%lld/pipeline/runs", (long long)w->deployment);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(r->json, "job_id");
    api_free(r);
    json_decref(api_wait_job(api_admin_token(), job, 200));
    json_t *run = wait_run(w->deployment, 60);
    cr_assert_str_eq(jstr(run, "state"), want, "%s", jstr(run, "reason"));
    int64_t v = jint(run, "version_id");
    json_decref(run);
    return v;
}

Test(pipeline, feedback_ct_cd_shadow_end_to_end)
{
    api_resp *hr = api_admin("POST", "/api/v1/webhooks",
                             "{\"url\":\"https://hooks.example/cd\",\"secret\":\"0123456789abcdef\","
                             "\"events\":[\"deployment.model_changed\",\"model_version.published\"]}");
    cr_assert_eq(hr->status, 201, "%s", hr->body.p);
    int64_t hook = jint(hr->json, "id");
    api_free(hr);
    world w = make_world();
    char body[800];
    snprintf(body, sizeof body,
             "{\"datasets\":{\"train\":%lld},\"project_id\":%lld,\"params\":{%s,\"epochs\":1},"
             "\"reviews_to_train\":30,\"policy\":\"shadow\",\"feedback_tags\":[\"train\",\"feedback\"]}",
             (long long)w.version, (long long)w.project, TINY);
    api_resp *r = put_pipeline(w.deployment, body);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);

    /* 100 predictions on new images */
    enum { P = 100, R = 30 };
    int64_t pred[P];
    enum { AMBIGUOUS = 6 };
    int truth[P], corrected = 0;
    for (int i = 0; i < P; i++) {
        truth[i] = (i * 7 + 3) % 2;
        tbytes img = stripes(i < AMBIGUOUS ? 2 : truth[i], 50000 + (uint64_t)i);
        r = predict(w.deployment, &img);
        tb_free(&img);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        pred[i] = jint(r->json, "prediction_id");
        cr_assert(json_is_true(json_object_get(r->json, "image_stored")), "%s", r->body.p);
        const char *top = jstr(json_array_get(json_object_get(r->json, "classes"), 0), "label");
        cr_assert_not_null(top);
        /* the reviewer calls a checkerboard the other class than the model did */
        if (i < AMBIGUOUS)
            truth[i] = strcmp(top, "h") == 0 ? 1 : 0;
        if (i < R && strcmp(top, CLS[truth[i]]) != 0)
            corrected++;
        api_free(r);
    }
    cr_assert_geq(corrected, AMBIGUOUS, "scripted corrections: %d", corrected);
    /* review 30: the scripted correction is the true class (the reviewer's call
     * for the ambiguous ones) */
    for (int i = 0; i < R; i++) {
        snprintf(body, sizeof body, "{\"output\":{\"classes\":[{\"label\":\"%s\",\"score\":1}]}}",
                 CLS[truth[i]]);
        r = req(NULL, "PUT", body, "/api/v1/predictions/%lld/review", (long long)pred[i]);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        api_free(r);
    }
    r = req(NULL, "POST", "{}", "/api/v1/deployments/%lld/submit", (long long)w.deployment);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "submitted"), R);
    cr_assert_eq(jint(r->json, "fed_back"), R, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "skipped"), 0);
    int64_t ct_job = jint(r->json, "training_job_id");
    cr_assert_gt(ct_job, 0, "continuous training did not start: %s", r->body.p);
    api_free(r);

    /* supervised metrics: the champion against the 30 reviews; no shadow yet */
    json_t *sv = get_json("/api/v1/deployments/%lld/supervised", w.deployment);
    cr_assert_eq(jint(sv, "reviews"), R);
    json_t *sc = json_object_get(sv, "champion");
    cr_assert_eq(jint(sc, "n"), R);
    cr_assert_float_eq(json_number_value(json_object_get(sc, "accuracy")), (double)(R - corrected) / R, 1e-9,
                       "%s", json_dumps(sv, 0));
    cr_assert_eq(json_array_size(json_object_get(sc, "per_class")), 2);
    cr_assert_eq(jint(json_object_get(sv, "shadow"), "n"), 0);
    json_decref(sv);
    int status;
    char args[100];
    snprintf(args, sizeof args, "deployment supervised %lld", (long long)w.deployment);
    const char *text = cli(&status, args);
    cr_assert_eq(status, 0, "%s", text);
    cr_assert(strstr(text, "30 reviews") && strstr(text, "champion"), "%s", text);

    /* the feedback: 30 more assets, tagged, with the corrected class */
    cr_assert_eq(count_assets(w.version, ""), 64 + R);
    cr_assert_eq(count_assets(w.version, "tag = feedback"), R);
    cr_assert_eq(count_assets(w.version, "tag = train"), 48 + R);
    json_t *pj = get_json("/api/v1/predictions/%lld", pred[0]);
    int64_t data0 = jint(pj, "data_id");
    json_decref(pj);
    cr_assert_gt(data0, 0);
    json_t *vs = get_json("/api/v1/data/%lld/dataset-versions", data0);
    int64_t asset0 = 0;
    size_t k;
    json_t *x;
    json_array_foreach(json_object_get(vs, "items"), k, x) if (jint(x, "version_id") == w.version ||
                                                                jint(x, "dataset_version_id") == w.version)
        asset0 = jint(x, "asset_id");
    json_decref(vs);
    cr_assert_gt(asset0, 0, "the first reviewed image is not an asset of the version");
    json_t *an = get_json("/api/v1/assets/%lld/annotation", asset0);
    cr_assert_str_eq(jstr(an, "status"), "accepted");
    json_t *sh = json_array_get(json_object_get(an, "shapes"), 0);
    cr_assert_str_eq(jstr(sh, "kind"), "class");
    cr_assert_str_eq(jstr(sh, "label"), CLS[truth[0]]); /* the reviewer's call, not the model's */
    json_decref(an);
    json_t *pl = get_json("/api/v1/deployments/%lld/pipeline", w.deployment);
    cr_assert_eq(jint(pl, "fed_back"), R);
    cr_assert_eq(jint(pl, "pending_reviews"), 0);
    json_decref(pl);
    /* a second submit has nothing new to feed */
    r = req(NULL, "POST", "{}", "/api/v1/deployments/%lld/submit", (long long)w.deployment);
    cr_assert_eq(jint(r->json, "fed_back"), 0, "%s", r->body.p);
    api_free(r);

    /* CT: the experiment from the champion's weights; CD: the shadow */
    json_t *j = api_wait_job(api_admin_token(), ct_job, 200);
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "%s", jstr(j, "error"));
    json_decref(j);
    json_t *run = wait_run(w.deployment, 60);
    cr_assert_str_eq(jstr(run, "state"), "shadow", "%s", jstr(run, "reason"));
    cr_assert_eq(jint(run, "reviews"), R);
    cr_assert_eq(jint(run, "base_version_id"), w.champion);
    int64_t exp = jint(run, "experiment_id"), v2 = jint(run, "version_id");
    cr_assert_gt(v2, 0);
    cr_assert_neq(v2, w.champion);
    json_decref(run);
    json_t *ej = get_json("/api/v1/experiments/%lld", exp);
    cr_assert_eq(jint(ej, "project_id"), w.project);
    cr_assert_eq(jint(json_object_get(ej, "params"), "base_model_version_id"), w.champion);
    json_decref(ej);
    json_t *out = get_json("/api/v1/experiments/%lld/output?limit=1000", exp);
    bool from_base = false;
    json_array_foreach(json_object_get(out, "items"), k, x) from_base |=
        strstr(jstr(x, "line"), "starting from the weights of model version") != NULL;
    json_decref(out);
    cr_assert(from_base, "the CT experiment did not start from the champion's weights");
    json_t *tr = get_json("/api/v1/experiments/%lld/training", exp);
    cr_assert_eq(jint(json_object_get(tr, "current"), "train_images"), 48 + R);
    json_decref(tr);
    json_t *dj = get_json("/api/v1/deployments/%lld", w.deployment);
    cr_assert_eq(jint(dj, "shadow_version_id"), v2, "%s", json_dumps(dj, 0));
    cr_assert_eq(jint(dj, "champion_version_id"), w.champion);
    json_decref(dj);

    /* CD announced the new version and the shadow change */
    cr_assert_geq(count_deliveries(hook, "deployment.model_changed"), 1);
    cr_assert_geq(count_deliveries(hook, "model_version.published"), 2, "the first version and CD's");
    cr_assert_eq(st(req(NULL, "DELETE", NULL, "/api/v1/webhooks/%lld", (long long)hook)), 200);

    /* new predictions carry the shadow's output */
    tbytes img = stripes(1, 90001);
    r = predict(w.deployment, &img);
    tb_free(&img);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    int64_t pid = jint(r->json, "prediction_id");
    api_free(r);
    json_t *shadow = NULL;
    for (int i = 0; i < 200 && !shadow; i++) {
        json_t *p = get_json("/api/v1/predictions/%lld", pid);
        json_t *so = json_object_get(p, "shadow_output");
        if (json_is_object(so))
            shadow = json_incref(so);
        else
            usleep(50000);
        json_decref(p);
    }
    cr_assert_not_null(shadow, "the shadow's output never appeared");
    cr_assert_eq(json_array_size(json_object_get(shadow, "classes")), 2);
    json_decref(shadow);
    cr_log_info("pipeline: %d of the 30 reviewed predictions were corrected", corrected);

    /* policy champion with a margin no model can reach: a candidate, with the reason */
    snprintf(body, sizeof body,
             "{\"datasets\":{\"train\":%lld},\"project_id\":%lld,\"params\":{%s,\"epochs\":1},"
             "\"policy\":\"champion\",\"margin\":1}",
             (long long)w.version, (long long)w.project, TINY);
    r = put_pipeline(w.deployment, body);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    r = req(NULL, "POST", NULL, "/api/v1/deployments/%lld/pipeline/runs", (long long)w.deployment);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job2 = jint(r->json, "job_id");
    api_free(r);
    j = api_wait_job(api_admin_token(), job2, 200);
    json_decref(j);
    run = wait_run(w.deployment, 60);
    cr_assert_str_eq(jstr(run, "state"), "candidate", "%s", jstr(run, "reason"));
    cr_assert_eq(jint(run, "test_images"), 8);
    double cv = json_number_value(json_object_get(run, "candidate_value"));
    double chv = json_number_value(json_object_get(run, "champion_value"));
    cr_assert(cv >= 0 && cv <= 1 && chv >= 0 && chv <= 1, "%g %g", cv, chv);
    cr_assert(strstr(jstr(run, "reason"), "does not beat"), "%s", jstr(run, "reason"));
    int64_t v3 = jint(run, "version_id");
    json_decref(run);
    json_t *vj = get_json("/api/v1/model-versions/%lld", v3);
    cr_assert_str_eq(jstr(vj, "status"), "candidate");
    cr_assert(strstr(jstr(vj, "status_reason"), "does not beat"), "%s", jstr(vj, "status_reason"));
    json_decref(vj);
    dj = get_json("/api/v1/deployments/%lld", w.deployment);
    cr_assert_eq(jint(dj, "champion_version_id"), w.champion);
    json_decref(dj);

    /* policy manual: the new version waits for a person */
    int64_t v4 = run_policy(&w, "\"policy\":\"manual\"", "waiting");
    vj = get_json("/api/v1/model-versions/%lld", v4);
    cr_assert_str_eq(jstr(vj, "status"), "candidate");
    cr_assert(strstr(jstr(vj, "status_reason"), "waits for a person"), "%s", jstr(vj, "status_reason"));
    json_decref(vj);

    /* policy champion with a margin every model meets (-1): promoted, alias moved, serving */
    int64_t v5 = run_policy(&w, "\"policy\":\"champion\",\"metric\":\"macro_f1\",\"margin\":-1",
                            "champion");
    dj = get_json("/api/v1/deployments/%lld", w.deployment);
    cr_assert_eq(jint(dj, "champion_version_id"), v5);
    json_decref(dj);
    vj = get_json("/api/v1/model-versions/%lld", v5);
    cr_assert(strstr(json_dumps(json_object_get(vj, "aliases"), 0), "champion"), "%s", json_dumps(vj, 0));
    json_decref(vj);
    img = stripes(0, 90002);
    r = predict(w.deployment, &img);
    tb_free(&img);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "model_version_id"), v5, "%s", r->body.p);
    api_free(r);
}

/* A w x h gray PNG of bright noise: nothing like the stripes. */
static tbytes odd_image(int w, int h, uint64_t seed)
{
    uint8_t *px = malloc((size_t)w * (size_t)h);
    uint64_t s = seed * 2862933555777941757ULL + 3037000493ULL;
    for (int i = 0; i < w * h; i++)
        px[i] = (uint8_t)(200 + t_rand(&s) % 56);
    tbytes b = t_encode(px, w, h, 1, ".png", 0);
    free(px);
    return b;
}

static int64_t count_preds(int64_t dep, const char *filter)
{
    char path[200];
    snprintf(path, sizeof path, "/api/v1/deployments/%%lld/predictions?limit=1000&%s", filter);
    json_t *j = get_json(path, dep);
    int64_t n = (int64_t)json_array_size(json_object_get(j, "items"));
    json_decref(j);
    return n;
}

Test(pipeline, drift_and_outliers)
{
    world w = make_world();
    enum { M = 20 };
    for (int i = 0; i < 2 * M; i++) {
        tbytes img = i < M ? stripes(i % 2, 70000 + (uint64_t)i) : odd_image(40, 20, (uint64_t)i);
        api_resp *r = predict(w.deployment, &img);
        tb_free(&img);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        api_free(r);
    }
    json_t *d = get_json("/api/v1/deployments/%lld/drift", w.deployment);
    json_t *ref = json_object_get(d, "reference");
    cr_assert_eq(jint(ref, "dataset_version_id"), w.version, "the champion's training version");
    cr_assert_eq(jint(ref, "images"), 48, "the assets tagged train");
    cr_assert_eq(jint(json_object_get(d, "window"), "predictions"), 2 * M);
    json_t *f = json_object_get(d, "features");
    /* widths: the reference is all 24; half of production is 40: D = 0.5 exactly */
    double ksw = json_number_value(json_object_get(json_object_get(f, "width"), "ks"));
    cr_assert_float_eq(ksw, 0.5, 1e-9, "%s", json_dumps(f, 0));
    double ksa = json_number_value(json_object_get(json_object_get(f, "aspect"), "ks"));
    cr_assert_float_eq(ksa, 0.5, 1e-9);
    /* brightness: the noise images are brighter than every stripes image */
    double ksb = json_number_value(json_object_get(json_object_get(f, "brightness"), "ks"));
    cr_assert_geq(ksb, 0.5, "%s", json_dumps(f, 0));
    double pw = json_number_value(json_object_get(json_object_get(f, "width"), "p_value"));
    cr_assert_lt(pw, 0.01);
    /* labels: two, frequencies summing to 1 on each side */
    json_t *labels = json_object_get(d, "labels");
    cr_assert_eq(json_array_size(json_object_get(labels, "items")), 2, "%s", json_dumps(labels, 0));
    double sr = 0, sp = 0;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(labels, "items"), i, x)
    {
        sr += json_number_value(json_object_get(x, "reference"));
        sp += json_number_value(json_object_get(x, "production"));
    }
    cr_assert_float_eq(sr, 1, 1e-9);
    cr_assert_float_eq(sp, 1, 1e-9);
    double ksl = json_number_value(json_object_get(labels, "ks"));
    cr_assert(ksl >= 0 && ksl <= 1);
    /* outliers: every prediction scored (images stored); the noise ones stand out */
    json_t *o = json_object_get(d, "outliers");
    cr_assert_eq(jint(o, "scored"), 2 * M, "%s", json_dumps(o, 0));
    cr_assert_geq(jint(o, "out_of_range"), M, "%s", json_dumps(o, 0));
    int64_t outliers = jint(o, "outliers");
    json_decref(d);
    int64_t odd_out = 0, normal_out = 0;
    json_t *list = get_json("/api/v1/deployments/%lld/predictions?limit=1000&outlier=1", w.deployment);
    json_array_foreach(json_object_get(list, "items"), i, x)
    {
        json_t *dr = json_object_get(x, "drift");
        cr_assert(json_is_true(json_object_get(dr, "outlier")), "%s", json_dumps(x, 0));
        cr_assert_geq(json_number_value(json_object_get(dr, "outlier_pct")), 99);
        int64_t wd = jint(json_object_get(x, "features"), "width");
        odd_out += wd == 40;
        normal_out += wd == 24;
    }
    json_decref(list);
    cr_assert_eq(odd_out + normal_out, outliers);
    cr_log_info("drift: %lld of %d noise images and %lld of %d stripes images flagged outliers",
                (long long)odd_out, M, (long long)normal_out, M);
    cr_assert_geq(odd_out, M / 2, "noise images flagged: %lld of %d", (long long)odd_out, M);
    cr_assert_leq(normal_out, M / 4, "stripes images flagged: %lld of %d", (long long)normal_out, M);
    /* out of range: every noise image (width 40 and brighter than all) */
    cr_assert_geq(count_preds(w.deployment, "out_of_range=1"), M);
    cr_assert_eq(count_preds(w.deployment, "outlier=0") + count_preds(w.deployment, "outlier=1"), 2 * M);
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/deployments/%lld/predictions?outlier=2", (long long)w.deployment);
    cr_assert_eq(r->status, 400, "%s", r->body.p);
    api_free(r);
    int status;
    char args[200];
    snprintf(args, sizeof args, "deployment drift %lld", (long long)w.deployment);
    const char *out = cli(&status, args);
    cr_assert_eq(status, 0, "%s", out);
    cr_assert(strstr(out, "brightness") && strstr(out, "outliers:"), "%s", out);
    /* a second call reuses the reference and the stored scores */
    d = get_json("/api/v1/deployments/%lld/drift", w.deployment);
    cr_assert_eq(jint(json_object_get(d, "outliers"), "outliers"), outliers);
    json_decref(d);
    /* an alert rule on the outlier rate sees the scored window. It is kept
     * from firing (rate > 1 never holds): deploy/alert_* counts every
     * alert.fired of the organization while it runs */
    r = req(NULL, "POST",
            "{\"name\":\"outliers\",\"metric\":\"outlier_rate\",\"op\":\">\",\"threshold\":1,"
            "\"window_minutes\":60}",
            "/api/v1/deployments/%lld/alerts", (long long)w.deployment);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    r = req(NULL, "POST", NULL, "/api/v1/deployments/%lld/alerts/check", (long long)w.deployment);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *al = json_array_get(json_object_get(r->json, "items"), 0);
    cr_assert_str_eq(jstr(al, "state"), "ok", "%s", r->body.p);
    cr_assert_float_eq(json_number_value(json_object_get(al, "last_value")),
                       (double)outliers / (2 * M), 1e-9, "%s", r->body.p);
    api_free(r);
    /* scores at arrival: with a reference built, a new prediction is scored by the
     * background thread without another drift report (one at a time, so none is
     * skipped as busy); a noise image is out of range (width 40, the reference's 24) */
    enum { A = 4 };
    int64_t new_outliers = 0;
    for (int k = 0; k < A; k++) {
        tbytes img = k % 2 ? odd_image(40, 20, 900 + (uint64_t)k) : stripes(k % 4 / 2, 91000 + (uint64_t)k);
        r = predict(w.deployment, &img);
        tb_free(&img);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        int64_t pid = jint(r->json, "prediction_id");
        cr_assert(json_is_null(json_object_get(r->json, "shadow")), "no shadow model: %s", r->body.p);
        api_free(r);
        json_t *dr = NULL, *p = NULL;
        for (int t = 0; t < 300; t++) {
            p = get_json("/api/v1/predictions/%lld", pid);
            dr = json_object_get(p, "drift");
            if (json_is_object(dr))
                break;
            json_decref(p);
            p = NULL;
            usleep(50000);
        }
        cr_assert_not_null(p, "prediction %lld was not scored at arrival within 15 s", (long long)pid);
        if (k % 2)
            cr_assert(json_is_true(json_object_get(dr, "out_of_range")), "%s", json_dumps(p, 0));
        cr_assert(json_is_number(json_object_get(dr, "outlier_pct")), "%s", json_dumps(p, 0));
        new_outliers += json_is_true(json_object_get(dr, "outlier"));
        json_decref(p);
    }
    /* feature_drift: the largest KS D over the features, the same as the report's (kept from
     * firing like the rule above: D > 1 never holds) */
    r = req(NULL, "POST",
            "{\"name\":\"drift\",\"metric\":\"feature_drift\",\"op\":\">\",\"threshold\":1,"
            "\"window_minutes\":60}",
            "/api/v1/deployments/%lld/alerts", (long long)w.deployment);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    d = get_json("/api/v1/deployments/%lld/drift", w.deployment);
    cr_assert_eq(jint(json_object_get(d, "window"), "predictions"), 2 * M + A);
    double ks_max = 0;
    const char *fk;
    json_t *fv;
    json_object_foreach(json_object_get(d, "features"), fk, fv)
        ks_max = fmax(ks_max, json_number_value(json_object_get(fv, "ks")));
    json_decref(d);
    cr_assert_geq(ks_max, 0.5, "the noise images' width alone makes D 0.5");
    r = req(NULL, "POST", NULL, "/api/v1/deployments/%lld/alerts/check", (long long)w.deployment);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    double seen_rate = -1, seen_ks = -1;
    json_array_foreach(json_object_get(r->json, "items"), i, x)
    {
        cr_assert_str_eq(jstr(x, "state"), "ok", "%s", r->body.p);
        if (strcmp(jstr(x, "metric"), "outlier_rate") == 0)
            seen_rate = json_number_value(json_object_get(x, "last_value"));
        else if (strcmp(jstr(x, "metric"), "feature_drift") == 0)
            seen_ks = json_number_value(json_object_get(x, "last_value"));
    }
    cr_assert_float_eq(seen_rate, (double)(outliers + new_outliers) / (2 * M + A), 1e-9, "%s", r->body.p);
    cr_assert_float_eq(seen_ks, ks_max, 1e-9, "%s", r->body.p);
    api_free(r);
    r = req(NULL, "POST", "{\"name\":\"x\",\"metric\":\"ks\",\"threshold\":1}",
            "/api/v1/deployments/%lld/alerts", (long long)w.deployment);
    cr_assert_eq(r->status, 400, "%s", r->body.p);
    cr_assert(strstr(api_error_message(r), "feature_drift"), "%s", r->body.p);
    api_free(r);
}

/* Monitor mode: one reported prediction of a generated photo; its id. */
static int64_t report(int64_t dep, uint64_t seed, const char *label)
{
    tbytes img = t_photo_jpeg(48, 40, seed, 85);
    sbuf b = SBUF_INIT;
    sbuf_printf(&b, "--cvopsB\r\nContent-Disposition: form-data; name=\"predictions\"\r\n\r\n"
                    "{\"classes\":[{\"label\":\"%s\",\"score\":0.8}]}\r\n", label);
    sbuf_puts(&b, "--cvopsB\r\nContent-Disposition: form-data; name=\"image\"; filename=\"c.jpg\"\r\n\r\n");
    sbuf_put(&b, img.p, img.n);
    sbuf_puts(&b, "\r\n--cvopsB--\r\n");
    char path[100];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/predictions", (long long)dep);
    api_opts o = {.token = api_admin_token(), .body = b.p, .body_len = b.len,
                  .content_type = "multipart/form-data; boundary=cvopsB"};
    api_resp *r = api_do("POST", path, &o);
    sbuf_free(&b);
    tb_free(&img);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t id = jint(r->json, "id");
    api_free(r);
    return id;
}

Test(pipeline, locked_version_is_forked_and_unstored_images_are_skipped)
{
    int64_t lake = new_lake(), ds = new_dataset(NULL, lake), v1 = new_version(ds, "v1", "classification");
    new_label(v1, "{\"name\":\"cat\"}");
    cr_assert_eq(st(req(NULL, "POST", NULL, "/api/v1/dataset-versions/%lld/lock", (long long)v1)), 200);
    char body[300];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"datalake_id\":%lld,\"sample_rate\":1}",
             api_unique("fb-"), (long long)lake);
    api_resp *r = api_admin("POST", "/api/v1/deployments", body);
    int64_t dep = jint(r->json, "id");
    api_free(r);
    snprintf(body, sizeof body, "{\"datasets\":{\"train\":%lld,\"test\":%lld}}", (long long)v1, (long long)v1);
    r = put_pipeline(dep, body);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    int64_t p[3];
    for (int i = 0; i < 3; i++)
        p[i] = report(dep, 300 + (uint64_t)i, "cat");
    /* reviews: one keeps cat, one corrects to dog (a label v1 does not have) */
    const char *rv[2] = {"cat", "dog"};
    for (int i = 0; i < 2; i++) {
        snprintf(body, sizeof body, "{\"output\":{\"classes\":[{\"label\":\"%s\"}]}}", rv[i]);
        cr_assert_eq(st(req(NULL, "PUT", body, "/api/v1/predictions/%lld/review", (long long)p[i])), 200);
    }
    r = req(NULL, "POST", "{}", "/api/v1/deployments/%lld/submit", (long long)dep);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "fed_back"), 2, "%s", r->body.p);
    cr_assert(json_is_null(json_object_get(r->json, "training_job_id")));
    api_free(r);
    /* the locked version is untouched; the pipeline moved to a fork holding the reviews */
    cr_assert_eq(count_assets(v1, ""), 0);
    json_t *pl = get_json("/api/v1/deployments/%lld/pipeline", dep);
    int64_t fork = jint(pl, "feedback_version_id");
    cr_assert_neq(fork, v1);
    cr_assert_eq(jint(json_object_get(pl, "datasets"), "train"), fork);
    cr_assert_eq(jint(json_object_get(pl, "datasets"), "test"), fork);
    cr_assert(strstr(jstr(pl, "note"), "locked"), "%s", jstr(pl, "note"));
    json_decref(pl);
    json_t *fv = get_json("/api/v1/dataset-versions/%lld", fork);
    cr_assert_eq(jint(fv, "parent_id"), v1, "%s", json_dumps(fv, 0));
    json_decref(fv);
    cr_assert_eq(count_assets(fork, ""), 2);
    cr_assert_eq(count_assets(fork, "label = dog"), 1);
    cr_assert_eq(count_assets(fork, "label = cat and tag = train"), 1);
    /* an image that was not stored cannot be fed back: skipped with the reason */
    cr_assert_eq(st(req(NULL, "PATCH", "{\"sample_rate\":0}", "/api/v1/deployments/%lld", (long long)dep)), 200);
    int64_t q = report(dep, 400, "cat");
    cr_assert_eq(st(req(NULL, "PUT", "{\"output\":{\"classes\":[{\"label\":\"cat\"}]}}",
                        "/api/v1/predictions/%lld/review", (long long)q)), 200);
    r = req(NULL, "POST", "{}", "/api/v1/deployments/%lld/submit", (long long)dep);
    cr_assert_eq(jint(r->json, "fed_back"), 0, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "skipped"), 1, "%s", r->body.p);
    api_free(r);
    pl = get_json("/api/v1/deployments/%lld/pipeline", dep);
    cr_assert_eq(jint(pl, "fed_back"), 2);
    cr_assert_eq(jint(pl, "skipped"), 1);
    json_decref(pl);
    cr_assert_eq(count_assets(fork, ""), 2);
    /* drift of a monitor deployment (no model here): features and labels only, against the
     * pipeline's train version */
    json_t *d = get_json("/api/v1/deployments/%lld/drift", dep);
    cr_assert_eq(jint(json_object_get(d, "reference"), "dataset_version_id"), fork);
    cr_assert_eq(jint(json_object_get(d, "reference"), "images"), 2);
    cr_assert_eq(jint(json_object_get(d, "window"), "predictions"), 4);
    json_t *wf = json_object_get(json_object_get(d, "features"), "width");
    cr_assert_float_eq(json_number_value(json_object_get(wf, "ks")), 0, 1e-12, "all 48 wide");
    cr_assert_eq(jint(wf, "production_n"), 4);
    json_t *o = json_object_get(d, "outliers");
    cr_assert(json_is_false(json_object_get(o, "available")), "%s", json_dumps(o, 0));
    cr_assert(strstr(jstr(o, "reason"), "champion"), "%s", jstr(o, "reason"));
    cr_assert_eq(jint(o, "scored"), 0);
    json_decref(d);
}
