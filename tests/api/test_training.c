/*
 * API tests of training launched from experiments and of serving its
 * model: the Fashion-MNIST sample job (a small one per test), a tiny
 * training through POST /experiments/{id}/launch with its metrics, logs,
 * confusion matrices, checkpoints and final evaluation; cancel and resume
 * from the checkpoint's epoch; refusals; then publishing to the registry,
 * a serving deployment, POST /deployments/{id}/predict (classes, latency,
 * concurrent requests, the shadow's output added after the answer), and
 * `cvops predict --checkpoint`.
 *
 * Trainings are kept tiny (96 training images of 28x28, a narrow CNN) so
 * the suite stays within seconds, also under ASan.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "base/buf.h"

static int64_t jint(json_t *j, const char *k) { return json_integer_value(json_object_get(j, k)); }
static const char *jstr(json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }

TestSuite(training, .timeout = 240);

typedef struct sample {
    int64_t version, experiment, project;
} sample;

/* A small Fashion-MNIST sample: its own dataset, project and experiment. */
static sample make_sample(int train, int val, int test)
{
    char *ds = strdup(api_unique("fm-"));
    char *pr = strdup(api_unique("gs-"));
    char body[300];
    snprintf(body, sizeof body,
             "{\"dataset\":\"%s\",\"project\":\"%s\",\"train\":%d,\"val\":%d,\"test\":%d}", ds, pr,
             train, val, test);
    api_resp *r = api_admin("POST", "/api/v1/samples/fashion-mnist", body);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(r->json, "job_id");
    api_free(r);
    json_t *j = api_wait_job(api_admin_token(), job, 120);
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "sample job: %s", jstr(j, "error"));
    json_t *res = json_object_get(j, "result");
    sample s = {jint(res, "version_id"), jint(res, "experiment_id"), jint(res, "project_id")};
    cr_assert_eq(jint(res, "images"), train + val + test);
    json_decref(j);
    free(ds);
    free(pr);
    return s;
}

static api_resp *launch(int64_t exp, const char *body)
{
    char path[80];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/launch", (long long)exp);
    return api_admin("POST", path, body);
}

static json_t *training(int64_t exp)
{
    char path[80];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/training", (long long)exp);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *cur = json_incref(json_object_get(r->json, "current"));
    api_free(r);
    return cur;
}

/* Launches and waits for the run's job; returns the run. */
static json_t *train(int64_t exp, const char *body, const char *want_state)
{
    api_resp *r = launch(exp, body);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(json_object_get(r->json, "current"), "job_id");
    cr_assert_gt(job, 0);
    const char *st = jstr(json_object_get(r->json, "current"), "state");
    /* a run that fails at once (a refused resume) may have failed before the answer */
    cr_assert(strcmp(st, "queued") == 0 || strcmp(st, "running") == 0 ||
                  strcmp(st, want_state) == 0,
              "state %s", st);
    api_free(r);
    json_t *j = api_wait_job(api_admin_token(), job, 200);
    json_t *run = training(exp);
    cr_assert_str_eq(jstr(run, "state"), want_state, "run: %s; job: %s", jstr(run, "message"),
                     jstr(j, "error"));
    json_decref(j);
    return run;
}

static const char *TINY = "\"architecture\":\"cnn\",\"depth\":2,\"width\":0.25,\"batch_size\":16,"
                          "\"loader_workers\":1";

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

/* --- refusals ------------------------------------------------------------- */

Test(training, launch_is_checked)
{
    sample s = make_sample(24, 8, 0);
    const char *bad[] = {"{\"epochs\":0}", "{\"optimizer\":\"adam\"}", "{\"bogus\":1}",
                         "{\"augmentation\":{\"hflip\":\"yes\"}}", "{\"channels\":2}",
                         "{\"architecture\":\"vgg\"}", "{\"architecture\":{\"format\":\"x\"}}", "[1]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        api_resp *r = launch(s.experiment, bad[i]);
        cr_assert_eq(r->status, 400, "%s -> %ld %s", bad[i], r->status, r->body.p);
        api_free(r);
    }
    /* nothing to resume, nothing to cancel */
    api_resp *r = launch(s.experiment, "{\"resume\":true}");
    cr_assert_eq(r->status, 409, "%s", r->body.p);
    api_free(r);
    char path[100];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/cancel", (long long)s.experiment);
    r = api_admin("POST", path, NULL);
    cr_assert_eq(r->status, 409, "%s", r->body.p);
    api_free(r);
    /* an experiment without a train dataset */
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("bare-"));
    snprintf(path, sizeof path, "/api/v1/projects/%lld/experiments", (long long)s.project);
    r = api_admin("POST", path, body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t bare = jint(r->json, "id");
    api_free(r);
    r = launch(bare, "{}");
    cr_assert_eq(r->status, 422, "%s", r->body.p);
    cr_assert(strstr(api_error_message(r), "'train'"), "%s", api_error_message(r));
    api_free(r);
    /* a missing experiment, a viewer */
    r = launch(999999999, "{}");
    cr_assert_eq(r->status, 404);
    api_free(r);
    char *viewer = api_user("viewer", NULL);
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/launch", (long long)s.experiment);
    r = api_tok(viewer, "POST", path, "{}");
    cr_assert_eq(r->status, 403, "%s", r->body.p);
    api_free(r);
    free(viewer);
    /* a finished run cannot be launched again; a queued one neither */
    json_t *run = train(s.experiment, "{\"epochs\":1,\"architecture\":\"cnn\",\"depth\":1,"
                                      "\"width\":0.25,\"batch_size\":8}",
                        "succeeded");
    json_decref(run);
    r = launch(s.experiment, "{}");
    cr_assert_eq(r->status, 409, "%s", r->body.p);
    cr_assert(strstr(api_error_message(r), "succeeded"), "%s", api_error_message(r));
    api_free(r);
}

/* --- a run: metrics, logs, checkpoints, evaluation; then serving ----------- */

typedef struct pred_arg {
    int64_t dep;
    const char *img;
    size_t n;
    int ok;
} pred_arg;

static api_resp *predict(int64_t dep, const void *img, size_t n, const char *query)
{
    char path[200];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/predict%s", (long long)dep,
             query ? query : "");
    api_opts o = {.token = api_admin_token(), .body = img, .body_len = n,
                  .content_type = "application/octet-stream"};
    return api_do("POST", path, &o);
}

static void *pred_thread(void *p)
{
    pred_arg *a = p;
    for (int i = 0; i < 4; i++) {
        api_resp *r = predict(a->dep, a->img, a->n, NULL);
        if (r->status == 200 && json_array_size(json_object_get(r->json, "classes")) == 5)
            a->ok++;
        api_free(r);
    }
    return NULL;
}

Test(training, run_logs_everything_then_serves)
{
    sample s = make_sample(96, 32, 32);
    char body[400];
    snprintf(body, sizeof body, "{%s,\"epochs\":2,\"lr\":0.005}", TINY);
    json_t *run = train(s.experiment, body, "succeeded");
    cr_assert_eq(jint(run, "epoch"), 2);
    cr_assert_eq(jint(run, "train_images"), 96);
    cr_assert_eq(jint(run, "val_images"), 32);
    cr_assert_eq(jint(run, "test_images"), 32);
    cr_assert_eq(jint(run, "classes"), 10);
    cr_assert_str_eq(jstr(run, "eval_split"), "test");
    cr_assert(json_is_number(json_object_get(run, "eval_accuracy")));
    int64_t steps = jint(run, "steps_total");
    cr_assert_eq(steps, 12, "96 images, batch 16, 2 epochs: 12 steps, got %lld", (long long)steps);
    json_decref(run);

    /* the experiment: status, parameters (with what the data decided) */
    json_t *e = get_json("/api/v1/experiments/%lld", s.experiment);
    cr_assert_str_eq(jstr(e, "status"), "succeeded");
    json_t *params = json_object_get(e, "params");
    cr_assert_eq(jint(params, "epochs"), 2);
    cr_assert_eq(jint(params, "input_size"), 28);
    cr_assert_eq(jint(params, "channels"), 1);
    cr_assert_str_eq(jstr(params, "architecture"), "cnn");
    json_decref(e);

    /* metrics: per step and per epoch, and the evaluation */
    json_t *m = get_json("/api/v1/experiments/%lld/metrics", s.experiment);
    json_t *items = json_object_get(m, "items") ? json_object_get(m, "items") : m;
    const char *per_step[] = {"train/loss", "train/acc", "lr"};
    for (int i = 0; i < 3; i++) {
        json_t *x = metric(items, per_step[i]);
        cr_assert_not_null(x, "metric %s missing", per_step[i]);
        cr_assert_eq(jint(x, "count"), steps, "%s: %lld points", per_step[i],
                     (long long)jint(x, "count"));
    }
    const char *per_epoch[] = {"val/acc", "val/loss", "train/epoch_loss", "train/epoch_acc"};
    for (int i = 0; i < 4; i++) {
        json_t *x = metric(items, per_epoch[i]);
        cr_assert_not_null(x, "metric %s missing", per_epoch[i]);
        cr_assert_eq(jint(x, "count"), 2, "%s", per_epoch[i]);
    }
    cr_assert_not_null(metric(items, "eval/accuracy"));
    cr_assert_not_null(metric(items, "eval/macro_f1"));
    json_decref(m);

    /* confusion matrices: one per epoch on val (32 images), one final on test */
    json_t *l = get_json("/api/v1/experiments/%lld/logs?name=val/confusion_matrix&data=1",
                         s.experiment);
    json_t *logs = json_object_get(l, "items");
    cr_assert_eq(json_array_size(logs), 2, "%s", json_dumps(l, 0));
    for (size_t i = 0; i < 2; i++) {
        json_t *rec = json_array_get(logs, i);
        cr_assert_eq(jint(rec, "step"), (int64_t)i + 1);
        json_t *d = json_object_get(rec, "data");
        cr_assert_eq(json_array_size(json_object_get(d, "labels")), 10);
        cr_assert_str_eq(json_string_value(json_array_get(json_object_get(d, "labels"), 7)),
                         "Sneaker");
        int64_t total = 0;
        size_t a, b;
        json_t *row, *cell;
        json_array_foreach(json_object_get(d, "matrix"), a, row)
            json_array_foreach(row, b, cell) total += json_integer_value(cell);
        cr_assert_eq(total, 32);
    }
    json_decref(l);
    l = get_json("/api/v1/experiments/%lld/logs?name=eval/confusion_matrix&data=1", s.experiment);
    cr_assert_eq(json_array_size(json_object_get(l, "items")), 1);
    json_decref(l);
    l = get_json("/api/v1/experiments/%lld/logs?name=eval/per_class&data=1", s.experiment);
    cr_assert_eq(json_array_size(json_object_get(l, "items")), 1);
    json_decref(l);

    /* checkpoints and the model as artifacts; the text log */
    const char *arts[] = {"model.safetensors", "checkpoints/best.safetensors",
                          "checkpoints/last.safetensors", "checkpoints/last.optim.safetensors",
                          "evaluation/test.json"};
    for (int i = 0; i < 5; i++)
        cr_assert(has_artifact(s.experiment, arts[i]), "artifact %s missing", arts[i]);
    cr_assert(output_has(s.experiment, "epoch 2/2"));
    cr_assert(output_has(s.experiment, "final evaluation on test"));

    /* publish, deploy with the same version as shadow, predict */
    snprintf(body, sizeof body, "{\"model\":\"%s\"}", api_unique("fm-model-"));
    char path[200];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/publish", (long long)s.experiment);
    api_resp *r = api_admin("POST", path, body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t version = jint(r->json, "id");
    api_free(r);
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"mode\":\"serve\",\"champion_version_id\":%lld,"
             "\"shadow_version_id\":%lld,\"sample_rate\":0}",
             api_unique("serve-"), (long long)version, (long long)version);
    r = api_admin("POST", "/api/v1/deployments", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t dep = jint(r->json, "id");
    api_free(r);

    /* an image of the sample: one of the datalake's originals */
    snprintf(path, sizeof path,
             "/api/v1/dataset-versions/%lld/assets?limit=1&q=tag%%20%%3D%%20test",
             (long long)s.version);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    int64_t data_id = jint(json_array_get(json_object_get(r->json, "items"), 0), "data_id");
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/data/%lld/original", (long long)data_id);
    api_resp *img = api_admin("GET", path, NULL);
    cr_assert_eq(img->status, 200);

    r = predict(dep, img->body.p, img->body.len, "?top_k=3&tag=t1&source=test");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *cls = json_object_get(r->json, "classes");
    cr_assert_eq(json_array_size(cls), 3);
    double s0 = json_number_value(json_object_get(json_array_get(cls, 0), "score"));
    double s1 = json_number_value(json_object_get(json_array_get(cls, 1), "score"));
    cr_assert(s0 >= s1 && s0 > 0 && s0 <= 1, "scores best first: %g %g", s0, s1);
    cr_assert_not_null(jstr(json_array_get(cls, 0), "label"));
    cr_assert(json_is_array(json_object_get(r->json, "boxes")));
    cr_assert_gt(json_number_value(json_object_get(r->json, "latency_ms")), 0);
    cr_assert_eq(jint(json_object_get(r->json, "image"), "width"), 28);
    cr_assert_str_eq(jstr(r->json, "shadow"), "pending");
    int64_t pid = jint(r->json, "prediction_id");
    api_free(r);

    /* the shadow's output appears on the prediction, after the answer */
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
    cr_assert_gt(json_array_size(json_object_get(shadow, "classes")), 0);
    json_decref(shadow);

    /* concurrent requests share the model */
    pthread_t th[4];
    pred_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (pred_arg){dep, img->body.p, img->body.len, 0};
        pthread_create(&th[i], NULL, pred_thread, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(args[i].ok, 4, "thread %d: %d of 4 predictions", i, args[i].ok);
    }
    json_t *dj = get_json("/api/v1/deployments/%lld", dep);
    cr_assert_eq(jint(dj, "predictions"), 17);
    json_decref(dj);

    /* refusals: not an image; a monitor deployment */
    r = predict(dep, "not an image", 12, NULL);
    cr_assert(r->status == 415 || r->status == 422, "%ld %s", r->status, r->body.p);
    api_free(r);
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("mon-"));
    r = api_admin("POST", "/api/v1/deployments", body);
    int64_t mon = jint(r->json, "id");
    api_free(r);
    r = predict(mon, img->body.p, img->body.len, NULL);
    cr_assert_eq(r->status, 409, "%s", r->body.p);
    api_free(r);

    /* cvops predict --checkpoint: the model, locally */
    char dir[] = "/tmp/cvops-train-test-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char mpath[200], ipath[200], cmd[1200];
    snprintf(mpath, sizeof mpath, "%s/model.safetensors", dir);
    snprintf(ipath, sizeof ipath, "%s/shoe.png", dir);
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/artifacts/file?path=model.safetensors",
             (long long)s.experiment);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200);
    FILE *f = fopen(mpath, "wb");
    fwrite(r->body.p, 1, r->body.len, f);
    fclose(f);
    api_free(r);
    f = fopen(ipath, "wb");
    fwrite(img->body.p, 1, img->body.len, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' predict --checkpoint '%s' --top 2 --threads 1 '%s'",
             getenv("CVOPS_TEST_BIN"), mpath, ipath);
    FILE *pp = popen(cmd, "r");
    char line[1000] = "";
    cr_assert_not_null(fgets(line, sizeof line, pp));
    cr_assert_eq(pclose(pp), 0, "%s", line);
    cr_assert(strstr(line, "shoe.png"), "%s", line);
    int nlabels = 0;
    for (int k = 0; k < 10; k++) {
        static const char *names[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
        nlabels += strstr(line, names[k]) != NULL;
    }
    cr_assert_geq(nlabels, 1, "no class name in: %s", line);
    unlink(mpath);
    unlink(ipath);
    rmdir(dir);
    api_free(img);
}

/* --- cancel, then resume from the checkpoint's epoch ----------------------- */

Test(training, cancel_then_resume)
{
    sample s = make_sample(64, 16, 16);
    char body[400];
    snprintf(body, sizeof body, "{%s,\"epochs\":200}", TINY);
    api_resp *r = launch(s.experiment, body);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(json_object_get(r->json, "current"), "job_id");
    api_free(r);
    /* a second launch while it runs */
    r = launch(s.experiment, "{}");
    cr_assert_eq(r->status, 409, "%s", r->body.p);
    api_free(r);
    /* wait for the first checkpoint, then cancel */
    for (int i = 0; i < 1200; i++) {
        json_t *run = training(s.experiment);
        int64_t ep = jint(run, "epoch");
        json_decref(run);
        if (ep >= 1)
            break;
        usleep(100000);
    }
    char path[100];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/cancel", (long long)s.experiment);
    r = api_admin("POST", path, NULL);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    api_free(r);
    json_t *j = api_wait_job(api_admin_token(), job, 60);
    cr_assert_str_eq(jstr(j, "state"), "canceled");
    json_decref(j);
    json_t *run = training(s.experiment);
    cr_assert_str_eq(jstr(run, "state"), "canceled");
    int64_t done = jint(run, "epoch");
    cr_assert(done >= 1 && done < 200, "epochs done at cancel: %lld", (long long)done);
    json_decref(run);
    json_t *e = get_json("/api/v1/experiments/%lld", s.experiment);
    cr_assert_str_eq(jstr(e, "status"), "canceled");
    json_decref(e);
    cr_assert(has_artifact(s.experiment, "checkpoints/last.safetensors"));
    cr_assert(output_has(s.experiment, "canceled at epoch"));

    /* resume for one more epoch */
    snprintf(body, sizeof body, "{\"resume\":true,\"epochs\":%lld}", (long long)done + 1);
    run = train(s.experiment, body, "succeeded");
    cr_assert_eq(jint(run, "start_epoch"), done, "resumed at epoch %lld, canceled after %lld",
                 (long long)jint(run, "start_epoch"), (long long)done);
    cr_assert_eq(jint(run, "epoch"), done + 1);
    cr_assert(json_is_true(json_object_get(run, "resume")));
    json_decref(run);
    char needle[80];
    snprintf(needle, sizeof needle, "resuming from the checkpoint of epoch %lld", (long long)done);
    cr_assert(output_has(s.experiment, needle), "no '%s' in the output", needle);
    /* val/acc: one point per epoch, none repeated or missing across the two runs */
    json_t *m = get_json("/api/v1/experiments/%lld/metrics", s.experiment);
    json_t *items = json_object_get(m, "items") ? json_object_get(m, "items") : m;
    json_t *va = metric(items, "val/acc");
    cr_assert_not_null(va);
    cr_assert_eq(jint(va, "count"), done + 1);
    cr_assert_eq(jint(va, "last_step"), done + 1);
    json_decref(m);
    e = get_json("/api/v1/experiments/%lld", s.experiment);
    cr_assert_str_eq(jstr(e, "status"), "succeeded");
    json_decref(e);
}

/* --- a time budget: the run stops on time, the schedule spread over it ---- */

Test(training, time_budget_spreads_the_schedule)
{
    sample s = make_sample(64, 8, 0);
    api_resp *r = launch(s.experiment, "{\"time_budget\":-1}");
    cr_assert_eq(r->status, 400, "%s", r->body.p);
    cr_assert(strstr(api_error_message(r), "time_budget"), "%s", api_error_message(r));
    api_free(r);
    char body[400];
    snprintf(body, sizeof body,
             "{%s,\"epochs\":1000,\"time_budget\":2,\"lr\":0.01,\"warmup_steps\":0,"
             "\"schedule\":\"cosine\",\"log_every\":1}",
             TINY);
    json_t *run = train(s.experiment, body, "succeeded");
    int64_t ep = jint(run, "epoch");
    cr_assert(ep >= 1 && ep < 1000, "epochs done in a 2 s budget: %lld", (long long)ep);
    json_decref(run);
    cr_assert(output_has(s.experiment, "(time_budget)"), "no 'stopped after ... (time_budget)'");
    /* the learning rate: the peak at the first step, near the end of the
     * cosine at the last (a step-based schedule over 1000 epochs would
     * still be near the peak) */
    json_t *p = get_json("/api/v1/experiments/%lld/points?name=lr", s.experiment);
    json_t *v = json_object_get(p, "values");
    size_t n = json_array_size(v);
    cr_assert_geq(n, 2, "%lld lr points", (long long)n);
    double first = json_number_value(json_array_get(v, 0));
    double last = json_number_value(json_array_get(v, n - 1));
    cr_assert(first > 0.009 && first <= 0.01, "first lr %g", first);
    cr_assert(last < 0.3 * first, "last lr %g after %zu steps: the schedule did not follow the time",
              last, n);
    json_decref(p);
}

/* --- a resume after the class list changed is refused, saying why -------- */

Test(training, resume_refuses_a_changed_class_list)
{
    sample s = make_sample(32, 8, 0);
    char body[400];
    snprintf(body, sizeof body, "{%s,\"epochs\":500}", TINY);
    api_resp *r = launch(s.experiment, body);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(json_object_get(r->json, "current"), "job_id");
    api_free(r);
    for (int i = 0; i < 1200; i++) {
        json_t *run = training(s.experiment);
        int64_t ep = jint(run, "epoch");
        json_decref(run);
        if (ep >= 1)
            break;
        usleep(100000);
    }
    char path[100];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/cancel", (long long)s.experiment);
    r = api_admin("POST", path, NULL);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    api_free(r);
    json_decref(api_wait_job(api_admin_token(), job, 60));
    /* an eleventh class in the train version */
    snprintf(path, sizeof path, "/api/v1/dataset-versions/%lld/labels", (long long)s.version);
    r = api_admin("POST", path, "{\"name\":\"Hat\"}");
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    api_free(r);
    json_t *run = train(s.experiment, "{\"resume\":true}", "failed");
    const char *msg = jstr(run, "message");
    cr_assert(msg && strstr(msg, "has 10 classes but the train dataset now has 11"), "message: %s",
              msg ? msg : "(none)");
    json_decref(run);
}
