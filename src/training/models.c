/*
 * models.c - classifiers of registry model versions for inference, loaded
 * once per process through the registry's model cache
 * (registry/model_cache.h: which file, sharing, eviction), each an
 * nn_predictor with TRAIN_MODEL_SESSIONS sessions so that many requests
 * run at once; and the prediction of one encoded image.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "image/image.h"
#include "registry/model_cache.h"
#include "training/training.h"

/* training_model is the cache's entry: the handle callers hold */
static void *open_predictor(const char *path, int sessions, err *e)
{
    return nn_predictor_open(path, sessions, e);
}

static void close_predictor(void *p) { nn_predictor_free(p); }

static reg_model_cache cache = REG_MODEL_CACHE_INIT("models", open_predictor, close_predictor);

static int sink_file(void *ctx, const void *p, size_t n)
{
    return fwrite(p, 1, n, ctx) == n ? 0 : -1;
}

int training_model_fetch(db_conn *c, blob_store *bs, int64_t org, int64_t version,
                         const char *path, err *e)
{
    char sha[65];
    if (reg_version_checkpoint(c, org, version, sha, e) != 0)
        return -1;
    FILE *f = fopen(path, "wb");
    if (!f)
        return err_set(e, ERR_IO, "cannot create %s", path);
    int rc = blob_read(bs, sha, 0, -1, sink_file, f, e);
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(e, ERR_IO, "cannot write %s", path);
    if (rc)
        unlink(path);
    return rc;
}

int training_model_acquire(db_conn *c, blob_store *bs, const char *spool_dir, int64_t org,
                           int64_t version, training_model **out, err *e)
{
    reg_model *m;
    if (reg_model_acquire(&cache, c, bs, spool_dir, org, version, TRAIN_MODEL_SESSIONS, &m, e))
        return -1;
    *out = (training_model *)m;
    if (!m) /* the checkpoint opened as ERR_UNSUPPORTED: another kind of model */
        return err_set(e, ERR_UNPROCESSABLE, "model version %lld is not a classifier",
                       (long long)version);
    return 0;
}

void training_model_release(training_model *m) { reg_model_release(&cache, (reg_model *)m); }

nn_predictor *training_model_predictor(training_model *m) { return reg_model_get((reg_model *)m); }

void training_models_clear(void) { reg_model_cache_clear(&cache); }

int training_predict_image(nn_predictor *p, const void *bytes, size_t n, int k,
                           training_class *out, int *nout, err *e)
{
    const nn_model *m = nn_predictor_model(p);
    int c, h, w;
    nn_model_input(m, &c, &h, &w);
    image_info info;
    if (image_probe(bytes, n, &info, e) != 0)
        return -1;
    int side = h > w ? h : w;
    image_decode_opts o = {.channels = (uint8_t)(c == 1 ? 1 : 3)};
    uint32_t lo = info.width < info.height ? info.width : info.height;
    uint32_t hi = info.width < info.height ? info.height : info.width;
    if (lo > (uint32_t)side && lo > 0) {
        double t = (double)side * (double)hi / (double)lo + 0.999;
        o.target_side = (uint32_t)(t > 16384 ? 16384 : t);
    }
    image_pixels px;
    if (image_decode(bytes, n, &o, &px, e) != 0)
        return -1;
    nn_image img = {(int)px.width, (int)px.height, px.channels, px.stride, px.data};
    if (k < 1)
        k = 1;
    if (k > 8)
        k = 8;
    int classes = nn_model_classes(m);
    if (k > classes)
        k = classes;
    nn_topk top;
    int rc = nn_predict(p, &img, 1, k, &top, e);
    image_pixels_free(&px);
    if (rc != 0)
        return -1;
    *nout = top.k;
    for (int i = 0; i < top.k; i++) {
        out[i].score = top.score[i];
        out[i].label = nn_model_label(m, top.cls[i]);
        if (!out[i].label) {
            snprintf(out[i].fallback, sizeof out[i].fallback, "class %d", top.cls[i]);
            out[i].label = out[i].fallback;
        }
    }
    return 0;
}
