/*
 * test_known_detector.h - a detector whose answer is known, for the API
 * tests of pre-annotation and of serving detectors: a nano detector at
 * 64 x 64 whose class biases make class 0 ("widget") score sigmoid(3) =
 * 0.9526 on every cell and class 1 ("ghost") sigmoid(-4) = 0.018, box
 * convolutions at zero (each cell predicts a box of two strides around its
 * centre, whatever the pixels). Saved with the detector metadata a trained
 * checkpoint carries.
 */
#ifndef CVOPS_TEST_KNOWN_DETECTOR_H
#define CVOPS_TEST_KNOWN_DETECTOR_H

#include <unistd.h>

#include "detect/detect.h"
#include "nn/nn.h"
#include "test_processing_util.h"

#define WIDGET_SCORE 0.9526 /* sigmoid(3) */

/* The checkpoint's bytes (malloc'd). */
static inline char *known_detector(size_t *n)
{
    err e;
    cr_assert_eq(nn_init(1, &e), 0, "%s", e.msg);
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
    char path[] = "/tmp/cvops-preann-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(nn_model_save(m, path, "{\"detector\":{\"format\":\"" DET_FORMAT "\"}}", &e), 0,
                 "%s", e.msg);
    nn_model_free(m);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    unlink(path);
    *n = (size_t)len;
    return buf;
}

static inline const char *detector_sha(void)
{
    static char sha[65];
    if (!sha[0]) {
        size_t n;
        char *b = known_detector(&n);
        snprintf(sha, sizeof sha, "%s", upload_file(b, n));
        free(b);
    }
    return sha;
}

static inline int64_t model_version_with(const char *files)
{
    char body[700];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("preann-"));
    api_resp *r = req(NULL, "POST", body, "/api/v1/models");
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t model = jint(r->json, "id");
    api_free(r);
    snprintf(body, sizeof body, "{\"framework\":\"cvops\",\"files\":%s}", files);
    r = req(NULL, "POST", body, "/api/v1/models/%lld/versions", (long long)model);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t id = jint(r->json, "id");
    api_free(r);
    return id;
}

#endif
