/*
 * serve.c - what a platform needs to run a detector checkpoint: opening a
 * file only if it is a detector (the checkpoint metadata says so), and
 * predicting on an encoded image straight from its bytes, boxes in the
 * original image's pixels.
 *
 * Decoding: a JPEG is decoded at the smallest DCT-scaled size whose longest
 * side still covers the network input (shrink-on-load, as the classifier
 * path does), the letterbox resamples it, and the boxes are scaled back by
 * original / decoded size, then clipped to the image.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "detect/detect_impl.h"
#include "image/image.h"

det_predictor *det_predictor_load(const char *path, int max_sessions, err *e)
{
    char *extra = NULL;
    nn_model *m = nn_model_load(path, &extra, e);
    if (!m) return NULL;
    json_t *j = extra ? json_loads(extra, 0, NULL) : NULL;
    json_t *d = json_object_get(j, "detector");
    const char *fmt = json_string_value(json_object_get(d, "format"));
    bool ok = fmt && strcmp(fmt, DET_FORMAT) == 0;
    char got[64] = "";
    if (!ok && fmt) snprintf(got, sizeof got, "%.40s", fmt);
    json_decref(j);
    free(extra);
    if (!ok) {
        nn_model_free(m);
        if (got[0])
            err_set(e, ERR_UNSUPPORTED, "the checkpoint is a detector of format '%s'; this build "
                                        "reads %s", got, DET_FORMAT);
        else
            err_set(e, ERR_UNSUPPORTED, "not a detector checkpoint (its metadata has no "
                                        "\"detector\" entry)");
        return NULL;
    }
    return det_predictor_new(m, max_sessions, e);
}

int det_predictor_classes(const det_predictor *p)
{
    int c = nn_model_classes(det_predictor_model(p));
    return c / 3 - 4;
}

const char *det_predictor_label(const det_predictor *p, int k)
{
    if (k < 0 || k >= det_predictor_classes(p)) return NULL;
    return nn_model_label(det_predictor_model(p), k);
}

int det_predict_encoded(det_predictor *p, const void *bytes, size_t n, const det_predict_opts *o,
                        uint64_t max_pixels, det_box **out, int *nout, int *img_w, int *img_h,
                        err *e)
{
    *out = NULL;
    *nout = 0;
    image_limits lim = {.max_pixels = max_pixels};
    image_info info;
    if (image_probe_ex(bytes, n, &lim, &info, e) != 0) return -1;
    int ic, ih, iw;
    nn_model_input(det_predictor_model(p), &ic, &ih, &iw);
    int side = o && o->size > 0 ? o->size : (ih > iw ? ih : iw);
    image_decode_opts d = {.channels = 3, .target_side = (uint32_t)side, .limits = &lim};
    image_pixels px;
    if (image_decode(bytes, n, &d, &px, e) != 0) return -1;
    nn_image img = {(int)px.width, (int)px.height, 3, px.stride, px.data};
    int rc = det_predict(p, &img, o, out, nout, e);
    if (rc == 0) {
        double sx = (double)info.width / px.width, sy = (double)info.height / px.height;
        float W = (float)info.width, H = (float)info.height;
        int k = 0;
        for (int i = 0; i < *nout; i++) {
            det_box *b = &(*out)[k];
            *b = (*out)[i];
            float x1 = (float)(b->x * sx), y1 = (float)(b->y * sy);
            float x2 = (float)((b->x + b->w) * sx), y2 = (float)((b->y + b->h) * sy);
            x1 = x1 < 0 ? 0 : x1 > W ? W : x1;
            y1 = y1 < 0 ? 0 : y1 > H ? H : y1;
            x2 = x2 < 0 ? 0 : x2 > W ? W : x2;
            y2 = y2 < 0 ? 0 : y2 > H ? H : y2;
            b->x = x1;
            b->y = y1;
            b->w = x2 - x1;
            b->h = y2 - y1;
            /* a box in the letterbox padding clips to nothing: dropped */
            if (b->w > 1e-3f && b->h > 1e-3f)
                k++;
        }
        *nout = k;
    }
    *img_w = (int)info.width;
    *img_h = (int)info.height;
    image_pixels_free(&px);
    return rc;
}
