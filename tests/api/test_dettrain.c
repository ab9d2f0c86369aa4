/*
 * API tests of detection training launched from experiments: a tiny
 * synthetic detection dataset (`cvops demo synth-detect`, 64x64 images of 2
 * classes) imported as COCO through the normal import path into detection
 * versions train/val/test; a launch without any detector parameter (the
 * version's task decides) trains src/detect's nano detector, logs the loss
 * terms and mAP on val per epoch, stores checkpoints, model.safetensors and
 * model.json, and its final evaluation on test as an experiment evaluation
 * that the evaluation pages show; cancel and resume; refusals; `cvops
 * predict` on the trained detector (boxes, --draw, --score).
 *
 * Trainings are a few steps of 8 images at 64x64: they check the plumbing,
 * not the learning (tests/unit/test_det_train.c checks that).
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "base/buf.h"

static int64_t jint(json_t *j, const char *k) { return json_integer_value(json_object_get(j, k)); }
static const char *jstr(json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }

TestSuite(dettrain, .timeout = 300);

static int cli(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cli(char **out, const char *fmt, ...)
{
    char args[4096], cmd[5000], log[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(log, sizeof log, "/tmp/cvops-dettrain-%d.log", (int)getpid());
    snprintf(cmd, sizeof cmd, "CVOPS_SERVER='%s' CVOPS_TOKEN='%s' '%s' %s >%s 2>&1 </dev/null",
             getenv("CVOPS_TEST_URL"), api_admin_token(), getenv("CVOPS_TEST_BIN"), args, log);
    int st = system(cmd);
    FILE *f = fopen(log, "r");
    sbuf b = SBUF_INIT;
    char buf[4096];
    size_t n;
    while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
        sbuf_put(&b, buf, n);
    if (f)
        fclose(f);
    unlink(log);
    *out = strdup(sbuf_cstr(&b));
    sbuf_free(&b);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *get_json(const char *fmt, int64_t id)
{
    char path[200];
    snprintf(path, sizeof path, fmt, (long long)id);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s: %s", path, r->body.p);
    json_t *j = json_incref(r->json);
    api_free(r);
    return j;
}

typedef struct fixture {
    char dir[64];
    int64_t train, val, test; /* dataset versions */
    int64_t project;
} fixture;

static int64_t version_id(const char *ds, const char *name)
{
    char *out;
    int rc = cli(&out, "dataset versions %s --json", ds);
    cr_assert_eq(rc, 0, "%s", out);
    json_t *j = json_loads(out, 0, NULL);
    cr_assert_not_null(j, "%s", out);
    json_t *items = json_is_array(j) ? j : json_object_get(j, "items");
    int64_t id = 0;
    size_t i;
    json_t *v;
    json_array_foreach(items, i, v) if (strcmp(jstr(v, "name"), name) == 0) id = jint(v, "id");
    cr_assert_gt(id, 0, "no version %s in %s", name, out);
    json_decref(j);
    free(out);
    return id;
}

/* The synthetic set, imported into versions train, val and test (task
 * detection) of a new dataset, and a project. */
static void setup(fixture *f)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/cvops-dettrain-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    char *out;
    int rc = cli(&out,
                 "demo synth-detect --n 16 --val 8 --test 8 --seed 3 --size 64 --classes 2 "
                 "--min-side 20 --max-side 40 --max-objects 2 --no-photos --threads 1 %s/set",
                 f->dir);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    char lake[80], ds[80];
    snprintf(lake, sizeof lake, "%s", api_unique("detlake"));
    snprintf(ds, sizeof ds, "%s", api_unique("detds"));
    cr_assert_eq(cli(&out, "datalake create %s", lake), 0, "%s", out);
    free(out);
    cr_assert_eq(cli(&out, "dataset create %s --datalake %s", ds, lake), 0, "%s", out);
    free(out);
    static const char *const splits[] = {"train", "val", "test"};
    for (int i = 0; i < 3; i++) {
        rc = cli(&out, "dataset version --dataset %s %s --task detection", ds, splits[i]);
        cr_assert_eq(rc, 0, "%s", out);
        free(out);
        rc = cli(&out, "dataset import -D %s -V %s -f coco --images %s/set/%s/images %s/set/%s/annotations.json",
                 ds, splits[i], f->dir, splits[i], f->dir, splits[i]);
        cr_assert_eq(rc, 0, "%s", out);
        free(out);
    }
    f->train = version_id(ds, "train");
    f->val = version_id(ds, "val");
    f->test = version_id(ds, "test");
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("detproj"));
    api_resp *r = api_admin("POST", "/api/v1/projects", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    f->project = jint(r->json, "id");
    api_free(r);
}

static void teardown(fixture *f)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    cr_assert_eq(system(cmd), 0);
}

/* A new experiment of the project with the three versions attached. */
static int64_t experiment(const fixture *f)
{
    char path[120], body[200];
    snprintf(path, sizeof path, "/api/v1/projects/%lld/experiments", (long long)f->project);
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("det"));
    api_resp *r = api_admin("POST", path, body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t e = jint(r->json, "id");
    api_free(r);
    const int64_t vs[] = {f->train, f->val, f->test};
    static const char *const aliases[] = {"train", "val", "test"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/api/v1/experiments/%lld/datasets/%s", (long long)e, aliases[i]);
        snprintf(body, sizeof body, "{\"dataset_version_id\":%lld}", (long long)vs[i]);
        r = api_admin("PUT", path, body);
        cr_assert(r->status == 200 || r->status == 201, "%s", r->body.p);
        api_free(r);
    }
    return e;
}

static api_resp *launch(int64_t exp, const char *body)
{
    char path[80];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/launch", (long long)exp);
    return api_admin("POST", path, body);
}

/* A launch refused with 400 and a message holding needle. */
static void launch_refused(int64_t exp, const char *body, const char *needle)
{
    api_resp *r = launch(exp, body);
    cr_assert_eq(r->status, 400, "%s: %s", body, r->body.p);
    cr_assert_not_null(strstr(api_error_message(r), needle), "%s: %s", body, r->body.p);
    api_free(r);
}

static json_t *training(int64_t exp)
{
    json_t *j = get_json("/api/v1/experiments/%lld/training", exp);
    json_t *cur = json_incref(json_object_get(j, "current"));
    json_decref(j);
    return cur;
}

static json_t *train(int64_t exp, const char *body, const char *want_state)
{
    api_resp *r = launch(exp, body);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(json_object_get(r->json, "current"), "job_id");
    api_free(r);
    json_t *j = api_wait_job(api_admin_token(), job, 240);
    json_t *run = training(exp);
    cr_assert_str_eq(jstr(run, "state"), want_state, "run: %s; job: %s", jstr(run, "message"),
                     jstr(j, "error"));
    json_decref(j);
    return run;
}

static json_t *metric(json_t *metrics, const char *name)
{
    size_t i;
    json_t *m;
    json_array_foreach(metrics, i, m) if (strcmp(jstr(m, "name"), name) == 0) return m;
    return NULL;
}

static bool has_artifact(int64_t exp, const char *path)
{
    json_t *a = get_json("/api/v1/experiments/%lld/artifacts", exp);
    bool found = false;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(a, "items"), i, x) found |= strcmp(jstr(x, "path"), path) == 0;
    json_decref(a);
    return found;
}

static bool output_has(int64_t exp, const char *needle)
{
    json_t *o = get_json("/api/v1/experiments/%lld/output?limit=1000", exp);
    bool found = false;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(o, "items"), i, x) found |= strstr(jstr(x, "line"), needle) != NULL;
    json_decref(o);
    return found;
}

static const char *TINY = "\"epochs\":2,\"batch_size\":8,\"input_size\":64,\"loader_workers\":1,"
                          "\"warmup_steps\":1";

/* The experiment's evaluation, waited for until its run ends. */
static json_t *final_evaluation(int64_t exp)
{
    for (int i = 0; i < 600; i++) {
        json_t *l = get_json("/api/v1/experiments/%lld/evaluations", exp);
        json_t *items = json_object_get(l, "items");
        cr_assert_eq(json_array_size(items), 1, "evaluations: %s", json_dumps(l, 0));
        json_t *ev = json_incref(json_array_get(items, 0));
        json_decref(l);
        const char *st = jstr(ev, "status");
        if (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0)
            return ev;
        json_decref(ev);
        usleep(100000);
    }
    cr_assert_fail("the final evaluation did not finish");
    return NULL;
}

Test(dettrain, launch_trains_logs_and_evaluates)
{
    fixture f;
    setup(&f);
    int64_t exp = experiment(&f);

    /* a detector input must be a multiple of the stride */
    launch_refused(exp, "{\"input_size\":70}", "multiple of its stride 32");
    launch_refused(exp, "{\"architecture\":\"resnet\"}", "detector-nano");
    api_resp *r;

    char body[400];
    snprintf(body, sizeof body, "{%s,\"log_every\":1,\"threads\":1}", TINY);
    json_t *run = train(exp, body, "succeeded");
    json_t *cfg = json_object_get(run, "config");
    cr_assert_str_eq(jstr(cfg, "task"), "detection");
    cr_assert_str_eq(jstr(cfg, "architecture"), "detector-nano");
    cr_assert_eq(jint(cfg, "input_size"), 64);
    cr_assert_eq(jint(run, "epoch"), 2);
    cr_assert_eq(jint(run, "train_images"), 16);
    cr_assert_eq(jint(run, "val_images"), 8);
    cr_assert_eq(jint(run, "test_images"), 8);
    cr_assert_eq(jint(run, "classes"), 2);
    cr_assert_str_eq(jstr(run, "eval_split"), "test");
    json_decref(run);

    /* metrics: the loss terms per step, mAP on val per epoch */
    json_t *m = get_json("/api/v1/experiments/%lld/metrics", exp);
    json_t *items = json_object_get(m, "items") ? json_object_get(m, "items") : m;
    static const char *const per_step[] = {"train/loss", "train/box_loss", "train/cls_loss", "lr"};
    for (int i = 0; i < 4; i++) {
        json_t *s = metric(items, per_step[i]);
        cr_assert_not_null(s, "no %s", per_step[i]);
        cr_assert_eq(jint(s, "count"), 4, "%s: %lld points", per_step[i], (long long)jint(s, "count"));
    }
    static const char *const per_epoch[] = {"val/mAP", "val/mAP50", "train/epoch_loss",
                                            "train/epoch_box_loss"};
    for (int i = 0; i < 4; i++) {
        json_t *s = metric(items, per_epoch[i]);
        cr_assert_not_null(s, "no %s", per_epoch[i]);
        cr_assert_eq(jint(s, "count"), 2, "%s: %lld points", per_epoch[i], (long long)jint(s, "count"));
        cr_assert_eq(jint(s, "last_step"), 2);
    }
    json_decref(m);
    static const char *const arts[] = {"checkpoints/last.safetensors", "checkpoints/state.safetensors",
                                       "checkpoints/last.optim.safetensors", "checkpoints/state.json",
                                       "checkpoints/best.safetensors", "model.safetensors", "model.json"};
    for (int i = 0; i < 7; i++)
        cr_assert(has_artifact(exp, arts[i]), "no artifact %s", arts[i]);
    cr_assert(output_has(exp, "val mAP"));
    cr_assert(output_has(exp, "1 thread(s)"), "threads: 1 is the training session's");

    /* model.json says what a deployment needs */
    char path[200];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/artifacts/file?path=model.json",
             (long long)exp);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    {
        json_t *mj = json_loads(r->body.p, 0, NULL);
        cr_assert_not_null(mj, "%s", r->body.p);
        cr_assert_str_eq(jstr(mj, "task"), "detection");
        cr_assert_str_eq(jstr(mj, "architecture"), "detector-nano");
        cr_assert_eq(json_array_size(json_object_get(mj, "labels")), 2);
        cr_assert_eq(jint(mj, "input_size"), 64);
        json_decref(mj);
    }
    api_free(r);

    /* the final evaluation: an evaluation of the experiment on test */
    json_t *ev = final_evaluation(exp);
    cr_assert_str_eq(jstr(ev, "status"), "succeeded", "%s", json_dumps(ev, 0));
    cr_assert_str_eq(jstr(ev, "task"), "detection");
    cr_assert_eq(jint(ev, "dataset_version_id"), f.test);
    json_t *full = get_json("/api/v1/evaluations/%lld", jint(ev, "id"));
    json_t *sum = json_object_get(full, "summary");
    cr_assert_eq(jint(sum, "images"), 8, "%s", json_dumps(full, 0));
    cr_assert_eq(json_array_size(json_object_get(sum, "stats")), 12);
    double map = json_number_value(json_array_get(json_object_get(sum, "stats"), 0));
    cr_assert(map >= 0 && map <= 1, "mAP %g", map);
    json_decref(full);
    json_decref(ev);

    /* publishing carries the detector: the checkpoint, model.json and the parameters */
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/publish", (long long)exp);
    snprintf(body, sizeof body, "{\"model\":\"%s\"}", api_unique("detmodel"));
    r = api_admin("POST", path, body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    json_t *files = json_object_get(r->json, "files");
    bool ckpt = false, desc = false;
    size_t i;
    json_t *x;
    json_array_foreach(files, i, x)
    {
        ckpt |= strcmp(jstr(x, "path"), "model.safetensors") == 0;
        desc |= strcmp(jstr(x, "path"), "model.json") == 0;
    }
    cr_assert(ckpt && desc, "%s", r->body.p);
    json_t *labels = json_object_get(r->json, "labels");
    cr_assert_eq(json_array_size(labels), 2, "%s", r->body.p);
    json_t *params = json_object_get(json_object_get(r->json, "lineage"), "params");
    cr_assert_str_eq(jstr(params, "task"), "detection", "%s", r->body.p);
    cr_assert_str_eq(jstr(params, "architecture"), "detector-nano", "%s", r->body.p);
    int64_t version = jint(r->json, "id");
    api_free(r);

    /* the published version serves: a deployment answers its boxes in the image's pixels */
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"mode\":\"serve\",\"champion_version_id\":%lld}",
             api_unique("detdeploy"), (long long)version);
    r = api_admin("POST", "/api/v1/deployments", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t dep = jint(r->json, "id");
    api_free(r);
    {
        char img[200];
        snprintf(img, sizeof img, "%s/set/test/images/test_000002.jpg", f.dir);
        FILE *fi = fopen(img, "rb");
        cr_assert_not_null(fi, "%s", img);
        static unsigned char bytes[1 << 20];
        size_t n = fread(bytes, 1, sizeof bytes, fi);
        fclose(fi);
        snprintf(path, sizeof path, "/api/v1/deployments/%lld/predict?score=0.001", (long long)dep);
        api_opts o = {.token = api_admin_token(), .body = bytes, .body_len = n,
                      .content_type = "application/octet-stream"};
        r = api_do("POST", path, &o);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        json_t *boxes = json_object_get(r->json, "boxes");
        cr_assert_gt(json_array_size(boxes), 0, "%s", r->body.p);
        json_t *b = json_array_get(boxes, 0);
        double bx0 = json_number_value(json_object_get(b, "x")), bw0 = json_number_value(json_object_get(b, "w"));
        cr_assert(bx0 >= 0 && bw0 > 0 && bx0 + bw0 <= 64.01, "%s", r->body.p);
        const char *lab = jstr(b, "label");
        cr_assert(lab && (strcmp(lab, "circle") == 0 || strcmp(lab, "triangle") == 0), "%s", r->body.p);
        api_free(r);

        /* drift of a detector: the embedding is its neck's deepest output, averaged; the report
         * builds the reference from the training version, then a new prediction is scored at
         * arrival (the image was not stored: only the request had it) */
        snprintf(path, sizeof path, "/api/v1/deployments/%lld/drift", (long long)dep);
        r = api_admin("GET", path, NULL);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        json_t *ol = json_object_get(r->json, "outliers");
        cr_assert(json_is_true(json_object_get(ol, "available")), "%s", r->body.p);
        cr_assert_gt(jint(json_object_get(r->json, "reference"), "images"), 1, "%s", r->body.p);
        api_free(r);
        snprintf(path, sizeof path, "/api/v1/deployments/%lld/predict", (long long)dep);
        r = api_do("POST", path, &o);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        int64_t pid = jint(r->json, "prediction_id");
        api_free(r);
        json_t *dr = NULL;
        for (int t = 0; t < 300 && !json_is_object(dr); t++) {
            snprintf(path, sizeof path, "/api/v1/predictions/%lld", (long long)pid);
            r = api_admin("GET", path, NULL);
            cr_assert_eq(r->status, 200, "%s", r->body.p);
            dr = json_deep_copy(json_object_get(r->json, "drift"));
            api_free(r);
            if (!json_is_object(dr)) {
                json_decref(dr);
                dr = NULL;
                usleep(50000);
            }
        }
        cr_assert(json_is_object(dr), "prediction %lld was not scored at arrival", (long long)pid);
        double pct = json_number_value(json_object_get(dr, "outlier_pct"));
        cr_assert(json_is_number(json_object_get(dr, "outlier_pct")) && pct >= 0 && pct <= 100,
                  "%s", json_dumps(dr, 0));
        json_decref(dr);
    }

    /* cvops predict EXPERIMENT IMAGE: boxes in image pixels, thresholds, --draw */
    char *out;
    int rc = cli(&out, "predict %lld %s/set/test/images/test_000001.jpg --score 0.001 --max-det 5 "
                       "--draw %s/drawn.jpg",
                 (long long)exp, f.dir, f.dir);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_not_null(strstr(out, "test_000001.jpg  5 box(es) (64x64"), "%s", out);
    cr_assert(strstr(out, "circle") || strstr(out, "triangle"), "%s", out);
    free(out);
    char drawn[120];
    snprintf(drawn, sizeof drawn, "%s/drawn.jpg", f.dir);
    FILE *df = fopen(drawn, "rb");
    cr_assert_not_null(df, "--draw wrote no %s", drawn);
    unsigned char magic[2] = {0};
    cr_assert_eq(fread(magic, 1, 2, df), 2);
    fclose(df);
    cr_assert(magic[0] == 0xFF && magic[1] == 0xD8, "not a JPEG");
    /* a score threshold no sigmoid reaches: no box; JSON boxes carry x y w h */
    rc = cli(&out, "predict --experiment %lld %s/set/test/images/test_000001.jpg --score 1 --json",
             (long long)exp, f.dir);
    cr_assert_eq(rc, 0, "%s", out);
    json_t *pj = json_loads(out, 0, NULL);
    cr_assert_not_null(pj, "%s", out);
    cr_assert_eq(json_array_size(json_object_get(pj, "boxes")), 0, "%s", out);
    cr_assert_eq(jint(pj, "width"), 64);
    json_decref(pj);
    free(out);
    rc = cli(&out, "predict --experiment %lld %s/set/test/images/test_000002.jpg --score 0.001 --json",
             (long long)exp, f.dir);
    cr_assert_eq(rc, 0, "%s", out);
    pj = json_loads(out, 0, NULL);
    cr_assert_not_null(pj, "%s", out);
    json_t *b0 = json_array_get(json_object_get(pj, "boxes"), 0);
    cr_assert_not_null(b0, "%s", out);
    double bx = json_number_value(json_object_get(b0, "x")), bw = json_number_value(json_object_get(b0, "w"));
    cr_assert(bx >= 0 && bw > 0 && bx + bw <= 64.01, "%s", out);
    json_decref(pj);
    free(out);
    /* bad thresholds and a model that is neither a file nor an id */
    rc = cli(&out, "predict %lld %s/set/test/images/test_000001.jpg --score 2", (long long)exp, f.dir);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert_not_null(strstr(out, "--score must be in [0, 1]"), "%s", out);
    free(out);
    rc = cli(&out, "predict no-such-model.safetensors %s/set/test/images/test_000001.jpg", f.dir);
    cr_assert_eq(rc, 2, "%s", out);
    cr_assert_not_null(strstr(out, "neither a checkpoint file nor an experiment id"), "%s", out);
    free(out);
    teardown(&f);
}

/* val_input_size: validation, the final evaluation and the served model at another side than
 * the training's */
Test(dettrain, val_input_size_validates_evaluates_and_serves_at_its_size)
{
    fixture f;
    setup(&f);
    int64_t exp = experiment(&f);
    launch_refused(exp, "{\"val_input_size\":70}",
                   "'val_input_size' is 70 but a detector's input must be a multiple of its stride "
                   "32 (e.g. 64 or 96)");
    launch_refused(exp,
                   "{\"val_input_size\":96,\"architecture\":\"resnet\","
                   "\"task\":\"classification\"}",
                   "'val_input_size' is for detectors");

    char body[400];
    snprintf(body, sizeof body, "{%s,\"threads\":1,\"val_input_size\":96}", TINY);
    json_t *run = train(exp, body, "succeeded");
    json_t *cfg = json_object_get(run, "config");
    cr_assert_eq(jint(cfg, "input_size"), 64);
    cr_assert_eq(jint(cfg, "val_input_size"), 96);
    json_decref(run);
    cr_assert(output_has(exp, "val mAP"));

    char path[200];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/artifacts/file?path=model.json",
             (long long)exp);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *mj = json_loads(r->body.p, 0, NULL);
    cr_assert_not_null(mj, "%s", r->body.p);
    cr_assert_eq(jint(mj, "input_size"), 96);
    cr_assert_eq(jint(mj, "train_input_size"), 64);
    json_decref(mj);
    api_free(r);
    /* the served model declares 96 in its architecture; the checkpoints keep 64 */
    const char *want[2][2] = {{"model.safetensors", "\\\"height\\\":96"},
                              {"checkpoints/last.safetensors", "\\\"height\\\":64"}};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/api/v1/experiments/%lld/artifacts/file?path=%s",
                 (long long)exp, want[i][0]);
        r = api_admin("GET", path, NULL);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        cr_assert(r->body.len > 8);
        cr_assert_not_null(memmem(r->body.p, r->body.len, want[i][1], strlen(want[i][1])),
                           "%s does not hold %s", want[i][0], want[i][1]);
        api_free(r);
    }
    json_t *ev = final_evaluation(exp);
    cr_assert_str_eq(jstr(ev, "status"), "succeeded", "%s", json_dumps(ev, 0));
    json_t *full = get_json("/api/v1/evaluations/%lld", jint(ev, "id"));
    cr_assert_eq(jint(json_object_get(full, "summary"), "images"), 8, "%s", json_dumps(full, 0));
    json_decref(full);
    json_decref(ev);
    teardown(&f);
}

Test(dettrain, cancel_then_resume)
{
    fixture f;
    setup(&f);
    int64_t exp = experiment(&f);
    api_resp *r = launch(exp, "{\"epochs\":200,\"batch_size\":8,\"input_size\":64,"
                              "\"loader_workers\":1,\"architecture\":\"detector-nano\"}");
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(json_object_get(r->json, "current"), "job_id");
    api_free(r);
    for (int i = 0; i < 1200; i++) {
        json_t *run = training(exp);
        int64_t ep = jint(run, "epoch");
        json_decref(run);
        if (ep >= 1)
            break;
        usleep(100000);
    }
    char path[100];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/cancel", (long long)exp);
    r = api_admin("POST", path, NULL);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    api_free(r);
    json_t *j = api_wait_job(api_admin_token(), job, 120);
    cr_assert_str_eq(jstr(j, "state"), "canceled");
    json_decref(j);
    json_t *run = training(exp);
    cr_assert_str_eq(jstr(run, "state"), "canceled");
    int64_t done = jint(run, "epoch");
    cr_assert(done >= 1 && done < 200, "epochs done at cancel: %lld", (long long)done);
    json_decref(run);
    cr_assert(has_artifact(exp, "checkpoints/state.json"));
    cr_assert(output_has(exp, "canceled at epoch"));

    char body[200];
    snprintf(body, sizeof body, "{\"resume\":true,\"epochs\":%lld}", (long long)done + 1);
    run = train(exp, body, "succeeded");
    cr_assert_eq(jint(run, "start_epoch"), done);
    cr_assert_eq(jint(run, "epoch"), done + 1);
    json_decref(run);
    char needle[100];
    snprintf(needle, sizeof needle, "resuming the detector from the checkpoint of epoch %lld",
             (long long)done);
    cr_assert(output_has(exp, needle), "no '%s' in the output", needle);
    /* val/mAP: one point per epoch across the two runs */
    json_t *m = get_json("/api/v1/experiments/%lld/metrics", exp);
    json_t *items = json_object_get(m, "items") ? json_object_get(m, "items") : m;
    json_t *va = metric(items, "val/mAP");
    cr_assert_not_null(va);
    cr_assert_eq(jint(va, "last_step"), done + 1);
    json_decref(m);
    json_decref(final_evaluation(exp));
    teardown(&f);
}

/* The shapes sample (make run seeds it): a detection version with boxes and
 * split tags, and an experiment that trains on it as it is. */
Test(dettrain, shapes_sample)
{
    char *ds = strdup(api_unique("shapes-"));
    char *pr = strdup(api_unique("gs-"));
    char body[300];
    snprintf(body, sizeof body, "{\"dataset\":\"%s\",\"project\":\"%s\",\"images\":20,\"size\":64}",
             ds, pr);
    api_resp *r = api_admin("POST", "/api/v1/samples/shapes", body);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(r->json, "job_id");
    api_free(r);
    json_t *j = api_wait_job(api_admin_token(), job, 120);
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "sample job: %s", jstr(j, "error"));
    json_t *res = json_object_get(j, "result");
    int64_t ver = jint(res, "version_id"), exp = jint(res, "experiment_id");
    cr_assert_eq(jint(res, "images"), 20);
    cr_assert_gt(jint(res, "boxes"), 19);
    json_decref(j);
    /* again: the dataset exists, nothing is added */
    r = api_admin("POST", "/api/v1/samples/shapes", body);
    cr_assert_eq(r->status, 409, "%s", r->body.p);
    cr_assert_not_null(strstr(api_error_message(r), "already exists"));
    api_free(r);
    /* bad sizes are refused with the rule */
    r = api_admin("POST", "/api/v1/samples/shapes", "{\"dataset\":\"x-shapes-bad\",\"size\":100}");
    cr_assert_eq(r->status, 400, "%s", r->body.p);
    cr_assert_not_null(strstr(api_error_message(r), "multiple of 32"), "%s", r->body.p);
    api_free(r);
    json_t *v = get_json("/api/v1/dataset-versions/%lld", ver);
    cr_assert_str_eq(jstr(v, "task"), "detection");
    json_decref(v);
    /* its experiment trains as prepared (a shorter run here) */
    json_t *e = get_json("/api/v1/experiments/%lld", exp);
    json_t *params = json_object_get(e, "params");
    cr_assert_str_eq(jstr(params, "architecture"), "detector-nano", "%s", json_dumps(e, 0));
    json_decref(e);
    json_t *run = train(exp, "{\"epochs\":1,\"time_budget\":0,\"batch_size\":8,\"loader_workers\":1}",
                        "succeeded");
    cr_assert_eq(jint(run, "train_images"), 16);
    cr_assert_eq(jint(run, "val_images"), 2);
    cr_assert_eq(jint(run, "test_images"), 2);
    cr_assert_eq(jint(run, "classes"), 6);
    json_decref(run);
    json_t *ev = final_evaluation(exp);
    cr_assert_str_eq(jstr(ev, "status"), "succeeded", "%s", json_dumps(ev, 0));
    json_decref(ev);
    free(ds);
    free(pr);
}
