/*
 * Unit tests of what serving and pre-annotation need from src/detect
 * (serve.c) and of the pre-annotation request (src/processing/preann.c):
 * only checkpoints that say they are detectors open as detectors; encoded
 * images give boxes in their own pixels (the same picture at twice the size
 * gives boxes twice as large), clipped to the image; bad bytes are an error,
 * not a crash; the request is refused with a message naming the problem.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect/detect.h"
#include "image/image.h"
#include "image_gen.h"
#include "processing/processing.h"

static void init(void)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0, "%s", e.msg);
    cr_assert_eq(nn_init(1, &e), 0, "%s", e.msg);
}

TestSuite(det_serve, .init = init);

/* A nano detector at 64x64: class 0 ("widget") scores sigmoid(3) on every
 * cell, class 1 sigmoid(-4); saved with `extra` as metadata. */
static void save_detector(const char *path, const char *extra)
{
    err e;
    det_arch_opts o = {.size = "nano", .classes = 2, .in_w = 64, .in_h = 64};
    const char *labels[2] = {"widget", "ghost"};
    nn_model *m = det_model_new(&o, labels, 1, &e);
    cr_assert_not_null(m, "%s", e.msg);
    const float bias[2] = {3, -4};
    for (int l = 0; l < DET_LEVELS; l++) {
        char nm[32];
        snprintf(nm, sizeof nm, "head%d.cls.bias", l);
        cr_assert_eq(nn_model_param_set(m, nm, bias, 2, &e), 0, "%s", e.msg);
    }
    cr_assert_eq(nn_model_save(m, path, extra, &e), 0, "%s", e.msg);
    nn_model_free(m);
}

static det_predictor *open_detector(void)
{
    char path[] = "/tmp/cvops-detserve-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    save_detector(path, "{\"detector\":{\"format\":\"" DET_FORMAT "\"}}");
    err e;
    det_predictor *p = det_predictor_load(path, 2, &e);
    unlink(path);
    cr_assert_not_null(p, "%s", e.msg);
    return p;
}

Test(det_serve, only_detector_checkpoints_open)
{
    char path[] = "/tmp/cvops-detserve-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    err e;
    save_detector(path, NULL);
    cr_assert_null(det_predictor_load(path, 1, &e));
    cr_assert_eq(e.code, ERR_UNSUPPORTED);
    cr_assert_not_null(strstr(e.msg, "not a detector checkpoint"), "%s", e.msg);
    save_detector(path, "{\"detector\":{\"format\":\"cvops-det/9\"}}");
    cr_assert_null(det_predictor_load(path, 1, &e));
    cr_assert_eq(e.code, ERR_UNSUPPORTED);
    cr_assert_not_null(strstr(e.msg, "cvops-det/9"), "%s", e.msg);
    save_detector(path, "{\"detector\":{\"format\":\"" DET_FORMAT "\"}}");
    det_predictor *p = det_predictor_load(path, 1, &e);
    cr_assert_not_null(p, "%s", e.msg);
    cr_assert_eq(det_predictor_classes(p), 2);
    cr_assert_str_eq(det_predictor_label(p, 0), "widget");
    cr_assert_null(det_predictor_label(p, 2));
    det_predictor_free(p);
    FILE *f = fopen(path, "wb");
    fputs("not a checkpoint", f);
    fclose(f);
    cr_assert_null(det_predictor_load(path, 1, &e));
    cr_assert_neq(e.code, ERR_UNSUPPORTED, "a broken file is not 'another kind of model'");
    unlink(path);
}

static void check_inside(const det_box *b, int n, int w, int h)
{
    for (int i = 0; i < n; i++)
        cr_assert(b[i].x >= 0 && b[i].y >= 0 && b[i].w > 0 && b[i].h > 0 &&
                      b[i].x + b[i].w <= w + 1e-3 && b[i].y + b[i].h <= h + 1e-3,
                  "box %d: %g %g %g %g in %dx%d", i, b[i].x, b[i].y, b[i].w, b[i].h, w, h);
}

Test(det_serve, boxes_in_the_original_pixels)
{
    det_predictor *p = open_detector();
    uint8_t *px = t_photo(120, 90, 3);
    uint8_t *px2 = malloc(240 * 180 * 3);
    for (int y = 0; y < 180; y++)
        for (int x = 0; x < 240; x++)
            memcpy(px2 + ((size_t)y * 240 + x) * 3, px + ((size_t)(y / 2) * 120 + x / 2) * 3, 3);
    tbytes a = t_encode(px, 120, 90, 3, ".png", 0), b = t_encode(px2, 240, 180, 3, ".jpg", 90);
    det_predict_opts o = {.conf = 0.25f, .iou = 0.6f, .max_det = 5};
    det_box *ba, *bb;
    int na, nb, w, h;
    err e;
    cr_assert_eq(det_predict_encoded(p, a.p, a.n, &o, 0, &ba, &na, &w, &h, &e), 0, "%s", e.msg);
    cr_assert_eq(w, 120);
    cr_assert_eq(h, 90);
    cr_assert_eq(na, 5);
    check_inside(ba, na, 120, 90);
    cr_assert_eq(det_predict_encoded(p, b.p, b.n, &o, 0, &bb, &nb, &w, &h, &e), 0, "%s", e.msg);
    cr_assert_eq(w, 240);
    cr_assert_eq(nb, 5);
    check_inside(bb, nb, 240, 180);
    /* the JPEG is decoded at 3/8 (90 x 68 for 240 x 180: a rounded row),
     * so the two agree to a fraction of a pixel, not exactly */
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(ba[i].cls, 0);
        cr_assert_float_eq(ba[i].score, 0.95257f, 1e-4);
        cr_assert_float_eq(2 * ba[i].x, bb[i].x, 0.5);
        cr_assert_float_eq(2 * ba[i].y, bb[i].y, 0.5);
        cr_assert_float_eq(2 * ba[i].w, bb[i].w, 0.5);
        cr_assert_float_eq(2 * ba[i].h, bb[i].h, 0.5, "%d: %g %g %g %g vs %g %g %g %g", i, ba[i].x, ba[i].y, ba[i].w, ba[i].h, bb[i].x, bb[i].y, bb[i].w, bb[i].h);
    }
    free(ba);
    free(bb);
    /* a box that sticks out is clipped: level-2 cells predict 128-px boxes
     * in the 64-px input, larger than the image */
    o.max_det = 300;
    cr_assert_eq(det_predict_encoded(p, a.p, a.n, &o, 0, &ba, &na, &w, &h, &e), 0, "%s", e.msg);
    cr_assert_gt(na, 5);
    check_inside(ba, na, 120, 90);
    free(ba);
    /* a strip: most of the input is letterbox padding, whose boxes clip to
     * nothing and are dropped (found by fuzz_preann) */
    uint8_t *strip = t_photo(300, 12, 4);
    tbytes sb = t_encode(strip, 300, 12, 3, ".png", 0);
    cr_assert_eq(det_predict_encoded(p, sb.p, sb.n, &o, 0, &ba, &na, &w, &h, &e), 0, "%s", e.msg);
    cr_assert_gt(na, 0);
    check_inside(ba, na, 300, 12);
    free(ba);
    tb_free(&sb);
    free(strip);
    /* not an image; an image over the pixel limit */
    cr_assert_neq(det_predict_encoded(p, "garbage!", 8, &o, 0, &ba, &na, &w, &h, &e), 0);
    cr_assert_null(ba);
    cr_assert_neq(det_predict_encoded(p, b.p, b.n, &o, 1000, &ba, &na, &w, &h, &e), 0);
    cr_assert_eq(e.code, ERR_TOO_LARGE, "%s", e.msg);
    tb_free(&a);
    tb_free(&b);
    free(px);
    free(px2);
    det_predictor_free(p);
}

static int parse(const char *text, proc_preann_req *r, err *e)
{
    json_t *j = json_loads(text, 0, NULL);
    cr_assert_not_null(j, "%s", text);
    int rc = proc_preann_request(j, r, e);
    json_decref(j);
    return rc;
}

Test(det_serve, preann_request_refusals)
{
    proc_preann_req r;
    err e;
    cr_assert_eq(parse("{\"experiment_id\":3,\"score_threshold\":0.5,\"query\":\"\"}", &r, &e), 0,
                 "%s", e.msg);
    cr_assert_eq(r.experiment, 3);
    cr_assert_eq(r.model_version, 0);
    cr_assert_float_eq(r.score, 0.5, 1e-9);
    cr_assert_eq(r.nms, -1);
    cr_assert_null(r.query, "an empty query is no query");
    struct {
        const char *body, *msg;
    } bad[] = {
        {"{}", "give the model"},
        {"{\"experiment_id\":1,\"model_version_id\":2}", "one of them"},
        {"{\"experiment_id\":0}", "experiment_id"},
        {"{\"experiment_id\":\"7\"}", "experiment_id"},
        {"{\"model_version_id\":1,\"score_threshold\":1.5}", "score_threshold"},
        {"{\"model_version_id\":1,\"nms_threshold\":0}", "nms_threshold"},
        {"{\"model_version_id\":1,\"max_detections\":5000}", "max_detections"},
        {"{\"model_version_id\":1,\"replace_pending\":\"yes\"}", "replace_pending"},
        {"{\"model_version_id\":1,\"model\":\"x\"}", "model"},
        {"[1]", "object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_neq(parse(bad[i].body, &r, &e), 0, "%s was accepted", bad[i].body);
        cr_assert_eq(e.code, ERR_INVALID, "%s", bad[i].body);
        cr_assert_not_null(strstr(e.msg, bad[i].msg), "%s: %s", bad[i].body, e.msg);
    }
    cr_assert_neq(proc_preann_request(NULL, &r, &e), 0);
}
