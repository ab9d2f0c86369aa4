/*
 * Fuzz target: what pre-annotation and detector serving read from outside
 * (src/processing/preann.c, src/detect/serve.c). The first byte chooses:
 *   0  the body of POST /api/v1/dataset-versions/{id}/pre-annotate, checked
 *      by proc_preann_request: whatever it accepts names exactly one model
 *      and has its thresholds in range
 *   1  an encoded image predicted by a small detector (made once, nano at
 *      32x32, every cell scoring): whatever the decoder accepts, the boxes
 *      must lie inside the image with a positive size
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detect/detect.h"
#include "image/image.h"
#include "processing/processing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static det_predictor *detector(void)
{
    static det_predictor *p;
    static int tried;
    if (tried) return p;
    tried = 1;
    err e;
    if (image_lib_init(&e) || nn_init(1, &e)) return NULL;
    det_arch_opts o = {.size = "nano", .classes = 1, .in_w = 32, .in_h = 32};
    const char *labels[1] = {"thing"};
    nn_model *m = det_model_new(&o, labels, 1, &e);
    if (!m) return NULL;
    const float bias[1] = {2};
    for (int l = 0; l < DET_LEVELS; l++) {
        char nm[32];
        snprintf(nm, sizeof nm, "head%d.cls.bias", l);
        nn_model_param_set(m, nm, bias, 1, &e);
    }
    char path[] = "/tmp/fuzz-preann-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    close(fd);
    if (nn_model_save(m, path, "{\"detector\":{\"format\":\"" DET_FORMAT "\"}}", &e) == 0)
        p = det_predictor_load(path, 1, &e);
    nn_model_free(m);
    unlink(path);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 20) return 0;
    err e;
    if (data[0] % 2 == 0) {
        json_error_t je;
        json_t *j = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &je);
        if (!j) return 0;
        proc_preann_req r;
        if (proc_preann_request(j, &r, &e) == 0) {
            if (!r.experiment == !r.model_version) abort();
            if (r.score != -1 && !(r.score >= 0 && r.score <= 1)) abort();
            if (r.nms != -1 && !(r.nms >= 0.05 && r.nms <= 1)) abort();
            if (r.max_det < 0 || r.max_det > 1000) abort();
        }
        json_decref(j);
        return 0;
    }
    det_predictor *p = detector();
    if (!p) return 0;
    det_predict_opts o = {.conf = 0.25f, .iou = 0.6f, .max_det = 50};
    det_box *b = NULL;
    int n = 0, w = 0, h = 0;
    if (det_predict_encoded(p, data + 1, size - 1, &o, 1 << 20, &b, &n, &w, &h, &e) == 0) {
        for (int i = 0; i < n; i++)
            if (!(b[i].x >= 0 && b[i].y >= 0 && b[i].w > 0 && b[i].h > 0 &&
                  b[i].x + b[i].w <= w + 1e-3f && b[i].y + b[i].h <= h + 1e-3f))
                abort();
        free(b);
    }
    image_thread_done();
    return 0;
}
