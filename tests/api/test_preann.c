/*
 * API tests of pre-annotation (POST /api/v1/dataset-versions/{id}/pre-annotate
 * and the built-in processing pre-annotate behind it).
 *
 * The detector is built here so that its answer is known: a nano detector
 * at 64 x 64 whose class biases make class 0 ("widget") score
 * sigmoid(3) = 0.9526 on every cell and class 1 ("ghost") sigmoid(-4) =
 * 0.018, box convolutions at zero (each cell predicts a box of two strides
 * around its centre). With score_threshold 0.25 every image gets
 * max_detections "widget" boxes scoring 0.9526, and "ghost" never shows.
 * It is saved with the detector metadata a trained checkpoint carries.
 */
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_known_detector.h"

static void init(void)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0, "%s", e.msg);
}

TestSuite(preann, .init = init);

/* An experiment whose artifact model.safetensors is the detector (or none). */
static int64_t experiment_with_detector(bool with_ckpt)
{
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("preann-proj-"));
    api_resp *r = req(NULL, "POST", body, "/api/v1/projects");
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t p = jint(r->json, "id");
    api_free(r);
    r = req(NULL, "POST", "{}", "/api/v1/projects/%lld/experiments", (long long)p);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t exp = jint(r->json, "id");
    api_free(r);
    if (with_ckpt) {
        size_t n;
        char *b = known_detector(&n);
        char path[200];
        snprintf(path, sizeof path, "/api/v1/experiments/%lld/artifacts?path=model.safetensors",
                 (long long)exp);
        api_opts o = {.token = api_admin_token(), .body = b, .body_len = n,
                      .content_type = "application/octet-stream"};
        r = api_do("PUT", path, &o);
        cr_assert(r->status == 201 || r->status == 200, "%s", r->body.p);
        api_free(r);
        free(b);
    }
    return exp;
}

/* A detection version of n grey 200 x 150 scenes with the label "obj";
 * assets[] gets their ids in order. */
static int64_t scenes(int n, int64_t *assets)
{
    int64_t lake = new_lake();
    int64_t ds = new_dataset(NULL, lake);
    int64_t v = new_version(ds, "v1", "detection");
    new_label(v, "{\"name\":\"obj\"}");
    for (int i = 0; i < n; i++) {
        uint8_t *px = grey_scene(200, 150, (uint64_t)i + 11);
        tbytes png = t_encode(px, 200, 150, 3, ".png", 0);
        char name[32];
        snprintf(name, sizeof name, "scene%d.png", i);
        int64_t id = put_image(lake, &png, name);
        tb_free(&png);
        free(px);
        char body[100];
        snprintf(body, sizeof body, "{\"data_ids\":[%lld]}", (long long)id);
        api_resp *r = req(NULL, "POST", body, "/api/v1/dataset-versions/%lld/assets", (long long)v);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        api_free(r);
    }
    list_assets(v, n, assets);
    return v;
}

static json_t *annotation_of(int64_t asset, char **raw)
{
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/assets/%lld/annotation", (long long)asset);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *j = json_incref(r->json);
    if (raw)
        *raw = strdup(r->body.p);
    api_free(r);
    return j;
}

static int64_t pre_annotate(int64_t v, const char *body, long want, api_resp **out)
{
    api_resp *r = req(NULL, "POST", body, "/api/v1/dataset-versions/%lld/pre-annotate", (long long)v);
    cr_assert_eq(r->status, want, "%s -> %ld: %s", body, (long)r->status, r->body.p);
    int64_t id = jint(r->json, "id");
    if (out)
        *out = r;
    else
        api_free(r);
    return id;
}

Test(preann, writes_pending_boxes_with_scores_and_never_touches_reviewed, .timeout = 240)
{
    int64_t a[5];
    int64_t v = scenes(5, a);
    /* a[1] accepted, a[2] rejected, a[3] pending with a shape, a[4] left out by the query */
    api_resp *r = annotate(NULL, a[1], "{\"status\":\"accepted\",\"shapes\":[{\"kind\":\"box\","
                                       "\"label\":\"obj\",\"box\":[10,10,30,20]}]}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    r = annotate(NULL, a[2], "{\"status\":\"rejected\",\"shapes\":[]}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    r = annotate(NULL, a[3], "{\"status\":\"pending\",\"shapes\":[{\"kind\":\"box\","
                             "\"label\":\"obj\",\"box\":[50,40,20,20]}]}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    char *acc_before, *rej_before, *pend_before;
    json_decref(annotation_of(a[1], &acc_before));
    json_decref(annotation_of(a[2], &rej_before));
    json_decref(annotation_of(a[3], &pend_before));

    int64_t exp = experiment_with_detector(true);
    char body[400];
    snprintf(body, sizeof body,
             "{\"experiment_id\":%lld,\"query\":\"data.filename != \\\"scene4.png\\\"\","
             "\"score_threshold\":0.25,\"max_detections\":3}",
             (long long)exp);
    api_resp *lr;
    int64_t job = pre_annotate(v, body, 202, &lr);
    cr_assert_gt(job, 0);
    cr_assert_str_eq(jstr(json_object_get(lr->json, "processing"), "name"), "pre-annotate", "%s",
                     lr->body.p);
    api_free(lr);
    json_t *j = wait_state(NULL, job, "succeeded", 180);
    json_t *res = json_object_get(j, "result");
    char *rt = json_dumps(res, 0);
    cr_assert_eq(jint(res, "images"), 4, "%s", rt);
    cr_assert_eq(jint(res, "predicted"), 1, "only a[0] is open: %s", rt);
    cr_assert_eq(jint(res, "annotated"), 1, "%s", rt);
    cr_assert_eq(jint(res, "shapes"), 3, "%s", rt);
    cr_assert_eq(jint(res, "kept_reviewed"), 2, "%s", rt);
    cr_assert_eq(jint(res, "kept_pending"), 1, "%s", rt);
    cr_assert_str_eq(jstr(res, "model_kind"), "detector");
    json_t *created = json_object_get(res, "labels_created");
    cr_assert_eq(json_array_size(created), 1, "%s", rt);
    cr_assert_str_eq(jstr(json_array_get(created, 0), "name"), "widget");
    free(rt);
    json_decref(j);
    cr_assert(log_has(job, "created label 'widget'"));

    /* a[0]: three pending boxes of "widget" with their score, inside the image */
    json_t *an = annotation_of(a[0], NULL);
    cr_assert_str_eq(jstr(an, "status"), "pending");
    json_t *shapes = json_object_get(an, "shapes");
    cr_assert_eq(json_array_size(shapes), 3, "%s", json_dumps(an, 0));
    for (size_t i = 0; i < 3; i++) {
        json_t *s = json_array_get(shapes, i);
        cr_assert_str_eq(jstr(s, "kind"), "box");
        cr_assert_str_eq(jstr(s, "label"), "widget");
        double sc = json_number_value(json_object_get(s, "score"));
        cr_assert(fabs(sc - WIDGET_SCORE) < 2e-3, "score %g", sc);
        json_t *b = json_object_get(s, "box");
        double x = json_number_value(json_array_get(b, 0)), y = json_number_value(json_array_get(b, 1));
        double w = json_number_value(json_array_get(b, 2)), h = json_number_value(json_array_get(b, 3));
        cr_assert(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 200.01 && y + h <= 150.01,
                  "box %g %g %g %g", x, y, w, h);
    }
    json_decref(an);
    /* the others: byte for byte; a[4] (not in the query) still has nothing */
    char *acc_after, *rej_after, *pend_after;
    json_decref(annotation_of(a[1], &acc_after));
    json_decref(annotation_of(a[2], &rej_after));
    json_decref(annotation_of(a[3], &pend_after));
    cr_assert_str_eq(acc_after, acc_before);
    cr_assert_str_eq(rej_after, rej_before);
    cr_assert_str_eq(pend_after, pend_before);
    an = annotation_of(a[4], NULL);
    cr_assert_eq(jint(an, "revision"), 0);
    cr_assert_eq(json_array_size(json_object_get(an, "shapes")), 0);
    json_decref(an);
    cr_assert_eq(count_assets(v, "label = ghost"), 0, "ghost scores 0.018, never written");

    /* a registry model version, replace_pending: a[3] (and a[0]) are replaced,
     * the accepted and rejected ones still untouched; the label exists now */
    char files[300];
    snprintf(files, sizeof files, "[{\"path\":\"weights/det.safetensors\",\"sha256\":\"%s\"}]",
             detector_sha());
    int64_t mv = model_version_with(files);
    snprintf(body, sizeof body,
             "{\"model_version_id\":%lld,\"replace_pending\":true,\"max_detections\":2}",
             (long long)mv);
    j = wait_state(NULL, pre_annotate(v, body, 202, NULL), "succeeded", 180);
    res = json_object_get(j, "result");
    rt = json_dumps(res, 0);
    cr_assert_eq(jint(res, "images"), 5, "%s", rt);
    cr_assert_eq(jint(res, "annotated"), 3, "a[0], a[3], a[4]: %s", rt);
    cr_assert_eq(jint(res, "shapes"), 6, "%s", rt);
    cr_assert_eq(json_array_size(json_object_get(res, "labels_created")), 0, "%s", rt);
    free(rt);
    json_decref(j);
    an = annotation_of(a[3], NULL);
    cr_assert_str_eq(jstr(an, "status"), "pending");
    shapes = json_object_get(an, "shapes");
    cr_assert_eq(json_array_size(shapes), 2);
    cr_assert_str_eq(jstr(json_array_get(shapes, 0), "label"), "widget");
    json_decref(an);
    json_decref(annotation_of(a[1], &pend_after));
    cr_assert_str_eq(pend_after, acc_before, "accepted stays byte for byte");
    free(pend_after);
    json_decref(annotation_of(a[2], &pend_after));
    cr_assert_str_eq(pend_after, rej_before);
    free(pend_after);
    /* the old pending shapes are in the history */
    r = req(NULL, "GET", NULL, "/api/v1/assets/%lld/annotation/revisions", (long long)a[3]);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_not_null(strstr(r->body.p, "\"obj\""), "%s", r->body.p);
    api_free(r);
    free(acc_before);
    free(rej_before);
    free(pend_before);
    free(acc_after);
    free(rej_after);
}

Test(preann, refusals_say_what_is_wrong, .timeout = 120)
{
    int64_t a[1];
    int64_t v = scenes(1, a);
    api_resp *r;
    pre_annotate(v, "{\"experiment_id\":999999}", 404, &r);
    cr_assert_not_null(strstr(api_error_message(r), "experiment 999999 does not exist"), "%s",
                       r->body.p);
    api_free(r);
    pre_annotate(v, "{\"model_version_id\":999999}", 404, &r);
    cr_assert_not_null(strstr(api_error_message(r), "model version 999999 does not exist"), "%s",
                       r->body.p);
    api_free(r);
    pre_annotate(v, "{}", 400, &r);
    cr_assert_not_null(strstr(api_error_message(r), "give the model: experiment_id"), "%s",
                       r->body.p);
    api_free(r);
    pre_annotate(v, "{\"experiment_id\":1,\"model_version_id\":1}", 400, NULL);
    pre_annotate(v, "{\"model_version\":1}", 400, NULL); /* unknown field */
    int64_t exp = experiment_with_detector(false);
    char body[200];
    snprintf(body, sizeof body, "{\"experiment_id\":%lld}", (long long)exp);
    pre_annotate(v, body, 422, &r);
    cr_assert_not_null(strstr(api_error_message(r), "has no checkpoint artifact"), "%s", r->body.p);
    api_free(r);
    char files[300];
    snprintf(files, sizeof files, "[{\"path\":\"model.safetensors\",\"sha256\":\"%s\"}]",
             detector_sha());
    int64_t mv = model_version_with(files);
    snprintf(body, sizeof body, "{\"model_version_id\":%lld,\"score_threshold\":2}", (long long)mv);
    pre_annotate(v, body, 400, NULL);
    pre_annotate(999999, "{\"model_version_id\":1}", 404, NULL);
    /* a locked version: 409, nothing queued */
    r = req(NULL, "POST", NULL, "/api/v1/dataset-versions/%lld/lock", (long long)v);
    cr_assert(r->status == 200 || r->status == 204, "%s", r->body.p);
    api_free(r);
    snprintf(body, sizeof body, "{\"model_version_id\":%lld}", (long long)mv);
    pre_annotate(v, body, 409, &r);
    cr_assert_not_null(strstr(api_error_message(r), "lock"), "%s", r->body.p);
    api_free(r);
    json_t *an = annotation_of(a[0], NULL);
    cr_assert_eq(jint(an, "revision"), 0);
    json_decref(an);
    /* a model version whose file is not a checkpoint: the job fails saying so */
    r = req(NULL, "DELETE", NULL, "/api/v1/dataset-versions/%lld/lock", (long long)v);
    api_free(r);
    snprintf(files, sizeof files, "[{\"path\":\"model.safetensors\",\"sha256\":\"%s\"}]",
             upload_file("not a model at all", 18));
    mv = model_version_with(files);
    snprintf(body, sizeof body, "{\"model_version_id\":%lld}", (long long)mv);
    json_t *j = wait_state(NULL, pre_annotate(v, body, 202, NULL), "failed", 120);
    cr_assert_not_null(strstr(jstr(j, "error"), "cannot be used for pre-annotation"), "%s",
                       jstr(j, "error"));
    json_decref(j);
    an = annotation_of(a[0], NULL);
    cr_assert_eq(jint(an, "revision"), 0, "a failed run writes nothing");
    json_decref(an);
}

/* --- the command line ------------------------------------------------------------------------ */

static int run_cli(const char *const *args, sbuf *out, sbuf *errout)
{
    int o[2], e2[2];
    cr_assert_eq(pipe(o), 0);
    cr_assert_eq(pipe(e2), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(o[1], 1);
        dup2(e2[1], 2);
        close(o[0]);
        close(e2[0]);
        int n = 0;
        while (args[n])
            n++;
        char **argv = calloc((size_t)n + 6, sizeof *argv);
        argv[0] = getenv("CVOPS_TEST_BIN");
        for (int i = 0; i < n; i++)
            argv[i + 1] = (char *)args[i];
        argv[n + 1] = "--server";
        argv[n + 2] = getenv("CVOPS_TEST_URL");
        argv[n + 3] = "--token";
        argv[n + 4] = (char *)api_admin_token();
        execv(argv[0], argv);
        _exit(127);
    }
    close(o[1]);
    close(e2[1]);
    char buf[4096];
    ssize_t k;
    while ((k = read(o[0], buf, sizeof buf)) > 0)
        sbuf_put(out, buf, (size_t)k);
    while ((k = read(e2[0], buf, sizeof buf)) > 0)
        sbuf_put(errout, buf, (size_t)k);
    close(o[0]);
    close(e2[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

Test(preann, cli_waits_for_the_job, .timeout = 180)
{
    int64_t a[2];
    int64_t v = scenes(2, a);
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    char ds[200];
    snprintf(ds, sizeof ds, "%s", jstr(r->json, "dataset"));
    api_free(r);
    char files[300];
    snprintf(files, sizeof files, "[{\"path\":\"model.safetensors\",\"sha256\":\"%s\"}]",
             detector_sha());
    int64_t mv = model_version_with(files);
    r = req(NULL, "GET", NULL, "/api/v1/model-versions/%lld", (long long)mv);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    char model[200];
    snprintf(model, sizeof model, "%s", jstr(r->json, "model"));
    api_free(r);
    sbuf out = SBUF_INIT, eo = SBUF_INIT;
    int rc = run_cli((const char *[]){"dataset", "pre-annotate", "--dataset", ds, "--version", "v1",
                                      "--model", model, "--model-version", "1", "--score", "0.5",
                                      "--max-detections", "2", NULL},
                     &out, &eo);
    cr_assert_eq(rc, 0, "%s\n%s", sbuf_cstr(&out), sbuf_cstr(&eo));
    cr_assert_not_null(strstr(sbuf_cstr(&out), "pre-annotated 2 of 2 images with 4 shapes"), "%s",
                       sbuf_cstr(&out));
    cr_assert_not_null(strstr(sbuf_cstr(&out), "created label 'widget'"), "%s", sbuf_cstr(&out));
    json_t *an = annotation_of(a[1], NULL);
    cr_assert_str_eq(jstr(an, "status"), "pending");
    cr_assert_eq(json_array_size(json_object_get(an, "shapes")), 2);
    json_decref(an);
    sbuf_reset(&out);
    sbuf_reset(&eo);
    rc = run_cli((const char *[]){"dataset", "pre-annotate", "--dataset", ds, "--version", "v1",
                                  "--experiment", "999999", NULL},
                 &out, &eo);
    cr_assert_neq(rc, 0);
    cr_assert_not_null(strstr(sbuf_cstr(&eo), "experiment 999999 does not exist"), "%s",
                       sbuf_cstr(&eo));
    sbuf_reset(&eo);
    rc = run_cli((const char *[]){"dataset", "pre-annotate", "--dataset", ds, "--version", "v1",
                                  NULL},
                 &out, &eo);
    cr_assert_eq(rc, 2, "usage error: %d %s", rc, sbuf_cstr(&eo));
    cr_assert_not_null(strstr(sbuf_cstr(&eo), "--experiment ID, or --model NAME"), "%s",
                       sbuf_cstr(&eo));
    sbuf_free(&out);
    sbuf_free(&eo);
}

/* --- a classifier checkpoint: one class shape, its top-1 ------------------------------------- */

/* Global average pooling then a linear layer scoring "red" as 5 (R - B) and
 * "blue" as 5 (B - R) on the normalised channels (as the autotag test). */
static const char *red_blue_sha(void)
{
    err e;
    cr_assert_eq(nn_init(1, &e), 0, "%s", e.msg);
    const char *arch =
        "{\"format\":\"cvops-nn/1\",\"name\":\"red-blue\",\"input\":{\"channels\":3,\"height\":16,"
        "\"width\":16,\"mean\":[0.5,0.5,0.5],\"std\":[0.25,0.25,0.25]},\"nodes\":["
        "{\"name\":\"gap\",\"op\":\"gap\"},{\"name\":\"fc\",\"op\":\"linear\",\"out\":2}]}";
    nn_model *m = nn_model_new(arch, 1, &e);
    cr_assert_not_null(m, "%s", e.msg);
    const float w[6] = {5, 0, -5, -5, 0, 5}, b[2] = {0, 0};
    cr_assert_eq(nn_model_param_set(m, "fc.weight", w, 6, &e), 0, "%s", e.msg);
    cr_assert_eq(nn_model_param_set(m, "fc.bias", b, 2, &e), 0, "%s", e.msg);
    const char *labels[2] = {"red", "blue"};
    cr_assert_eq(nn_model_set_labels(m, labels, 2, &e), 0, "%s", e.msg);
    char path[] = "/tmp/cvops-preann-cls-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(nn_model_save(m, path, NULL, &e), 0, "%s", e.msg);
    nn_model_free(m);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    unlink(path);
    return upload_file(buf, n);
}

Test(preann, a_classifier_gives_its_top_class, .timeout = 120)
{
    int64_t lake = new_lake();
    int64_t ds = new_dataset(NULL, lake);
    int64_t v = new_version(ds, "v1", "classification");
    const uint8_t colours[3][3] = {{230, 20, 20}, {10, 40, 240}, {128, 128, 128}};
    const char *names[3] = {"red.png", "blue.png", "grey.png"};
    for (int i = 0; i < 3; i++) {
        uint8_t px[24 * 18 * 3];
        for (size_t k = 0; k < sizeof px; k += 3)
            memcpy(px + k, colours[i], 3);
        tbytes png = t_encode(px, 24, 18, 3, ".png", 0);
        put_image(lake, &png, names[i]);
        tb_free(&png);
    }
    api_resp *r = req(NULL, "POST", "{\"q\":\"\"}", "/api/v1/dataset-versions/%lld/assets", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    char files[300];
    snprintf(files, sizeof files, "[{\"path\":\"model.safetensors\",\"sha256\":\"%s\"}]",
             red_blue_sha());
    int64_t mv = model_version_with(files);
    char body[200];
    snprintf(body, sizeof body, "{\"model_version_id\":%lld,\"score_threshold\":0.6}", (long long)mv);
    json_t *j = wait_state(NULL, pre_annotate(v, body, 202, NULL), "succeeded", 60);
    json_t *res = json_object_get(j, "result");
    cr_assert_str_eq(jstr(res, "model_kind"), "classifier");
    cr_assert_eq(jint(res, "annotated"), 2, "grey is 0.5 / 0.5, below 0.6: %s", json_dumps(res, 0));
    json_decref(j);
    cr_assert_eq(count_assets(v, "label = red and data.filename = \"red.png\""), 1);
    cr_assert_eq(count_assets(v, "label = blue and data.filename = \"blue.png\""), 1);
    cr_assert_eq(count_assets(v, "status = pending"), 2);
    json_t *items = assets_with_shapes(v);
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *shapes = json_object_get(json_array_get(items, i), "shapes");
        for (size_t k = 0; k < json_array_size(shapes); k++) {
            json_t *s = json_array_get(shapes, k);
            cr_assert_str_eq(jstr(s, "kind"), "class");
            cr_assert_gt(json_number_value(json_object_get(s, "score")), 0.9);
        }
    }
    json_decref(items);
}
