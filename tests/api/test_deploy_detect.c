/*
 * API tests of serving a detector: POST /api/v1/deployments/{id}/predict
 * with a detector model version answers boxes in the original image's
 * pixels (the same image at twice the size gives boxes twice as large),
 * label and score, the latency; concurrent requests share the model; the
 * shadow's boxes land on the prediction; rollups count objects per image
 * and labels.
 */
#include <math.h>
#include <pthread.h>

#include "test_known_detector.h"

static void init(void)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0, "%s", e.msg);
}

TestSuite(detserve, .init = init);

static api_resp *predict(int64_t dep, const void *img, size_t n, const char *query)
{
    char path[200];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/predict%s", (long long)dep,
             query ? query : "");
    api_opts o = {.token = api_admin_token(), .body = img, .body_len = n,
                  .content_type = "application/octet-stream"};
    return api_do("POST", path, &o);
}

typedef struct pred_arg {
    int64_t dep;
    const tbytes *img;
    int ok;
} pred_arg;

static void *pred_thread(void *p)
{
    pred_arg *a = p;
    for (int i = 0; i < 3; i++) {
        api_resp *r = predict(a->dep, a->img->p, a->img->n, "?max_det=3");
        if (r->status == 200 && json_array_size(json_object_get(r->json, "boxes")) == 3)
            a->ok++;
        api_free(r);
    }
    return NULL;
}

static double num(json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

Test(detserve, boxes_in_image_pixels_shared_model_shadow_rollups, .timeout = 180)
{
    char files[300];
    snprintf(files, sizeof files, "[{\"path\":\"model.safetensors\",\"sha256\":\"%s\"}]",
             detector_sha());
    int64_t mv = model_version_with(files);
    char body[400];
    snprintf(body, sizeof body,
             "{\"name\":\"%s\",\"mode\":\"serve\",\"champion_version_id\":%lld,"
             "\"shadow_version_id\":%lld,\"sample_rate\":0}",
             api_unique("detserve-"), (long long)mv, (long long)mv);
    api_resp *r = api_admin("POST", "/api/v1/deployments", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t dep = jint(r->json, "id");
    api_free(r);

    uint8_t *px = grey_scene(200, 150, 5);
    tbytes small = t_encode(px, 200, 150, 3, ".png", 0);
    uint8_t *px2 = malloc(400 * 300 * 3);
    for (int y = 0; y < 300; y++)
        for (int x = 0; x < 400; x++)
            memcpy(px2 + ((size_t)y * 400 + x) * 3, px + ((size_t)(y / 2) * 200 + x / 2) * 3, 3);
    tbytes big = t_encode(px2, 400, 300, 3, ".png", 0);
    free(px);
    free(px2);

    r = predict(dep, small.p, small.n, "?max_det=4&tag=t1");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *boxes = json_object_get(r->json, "boxes");
    cr_assert_eq(json_array_size(boxes), 4, "%s", r->body.p);
    cr_assert_eq(json_array_size(json_object_get(r->json, "classes")), 0);
    cr_assert_gt(num(r->json, "latency_ms"), 0);
    cr_assert_eq(jint(json_object_get(r->json, "image"), "width"), 200);
    cr_assert_str_eq(jstr(r->json, "shadow"), "pending");
    int64_t pid = jint(r->json, "prediction_id");
    for (size_t i = 0; i < 4; i++) {
        json_t *b = json_array_get(boxes, i);
        cr_assert_str_eq(jstr(b, "label"), "widget");
        cr_assert(fabs(num(b, "score") - 0.9526) < 2e-3, "%s", r->body.p);
        double x = num(b, "x"), y = num(b, "y"), w = num(b, "w"), h = num(b, "h");
        cr_assert(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 200.01 && y + h <= 150.01,
                  "box %g %g %g %g", x, y, w, h);
    }
    /* the same picture at 400 x 300: the same cells, boxes in its pixels */
    api_resp *r2 = predict(dep, big.p, big.n, "?max_det=4");
    cr_assert_eq(r2->status, 200, "%s", r2->body.p);
    json_t *boxes2 = json_object_get(r2->json, "boxes");
    cr_assert_eq(json_array_size(boxes2), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *a = json_array_get(boxes, i), *b = json_array_get(boxes2, i);
        static const char *k[] = {"x", "y", "w", "h"};
        for (int q = 0; q < 4; q++)
            cr_assert(fabs(2 * num(a, k[q]) - num(b, k[q])) < 0.05, "box %zu %s: %g vs %g\n%s\n%s",
                      i, k[q], num(a, k[q]), num(b, k[q]), r->body.p, r2->body.p);
    }
    api_free(r);
    api_free(r2);

    /* ?score= above every box: none answered; a bad ?score= is refused */
    r = predict(dep, small.p, small.n, "?score=0.96");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(json_array_size(json_object_get(r->json, "boxes")), 0);
    api_free(r);
    r = predict(dep, small.p, small.n, "?score=high");
    cr_assert_eq(r->status, 400, "%s", r->body.p);
    api_free(r);
    r = predict(dep, small.p, small.n, "?iou=60");
    cr_assert_eq(r->status, 400, "%s", r->body.p);
    cr_assert_not_null(strstr(r->body.p, "0.05 to 1"), "%s", r->body.p);
    api_free(r);

    /* the shadow's boxes appear on the prediction, after the answer */
    json_t *shadow = NULL;
    for (int i = 0; i < 200 && !shadow; i++) {
        r = req(NULL, "GET", NULL, "/api/v1/predictions/%lld", (long long)pid);
        json_t *so = json_object_get(r->json, "shadow_output");
        if (json_is_object(so))
            shadow = json_incref(so);
        else
            usleep(50000);
        api_free(r);
    }
    cr_assert_not_null(shadow, "the shadow's output never appeared");
    cr_assert_eq(json_array_size(json_object_get(shadow, "boxes")), 4, "%s", json_dumps(shadow, 0));
    json_decref(shadow);

    /* 8 concurrent clients share the model */
    pthread_t th[8];
    pred_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (pred_arg){dep, &small, 0};
        pthread_create(&th[i], NULL, pred_thread, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(args[i].ok, 3, "thread %d: %d of 3 predictions", i, args[i].ok);
    }

    /* rollups: 2 x 4 + 1 x 0 + 24 x 3 objects over 27 images; labels */
    r = req(NULL, "GET", NULL, "/api/v1/deployments/%lld/metrics?resolution=hour", (long long)dep);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *tot = json_object_get(r->json, "totals");
    cr_assert_eq(jint(tot, "count"), 27, "%s", r->body.p);
    cr_assert(fabs(num(tot, "objects_per_image") - 80.0 / 27) < 1e-6, "%s", r->body.p);
    cr_assert_not_null(strstr(r->body.p, "\"widget\""), "%s", r->body.p);
    api_free(r);
    tb_free(&small);
    tb_free(&big);
}
