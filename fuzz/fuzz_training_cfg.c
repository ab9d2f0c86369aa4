/*
 * Fuzz target: a training launch body (POST /experiments/{id}/launch) and
 * experiment parameters as the training module reads them: applied over
 * the defaults, resolved, written back as JSON and as flat parameters.
 * Whatever is accepted must keep the rules the job relies on (a detection
 * run's input a multiple of 32, thresholds in range).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "training/training.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return 0;
    training_cfg c;
    err e;
    training_cfg_init(&c);
    if (training_cfg_apply(&c, doc, &e) == 0) {
        training_cfg_resolve(&c);
        if (training_cfg_is_detection(&c) && c.input_size % 32 != 0)
            abort();
        if (c.score_thr < 0 || c.score_thr > 1 || c.nms_iou <= 0 || c.nms_iou > 1 ||
            c.mosaic < 0 || c.mosaic > 1 || c.close_mosaic < -1)
            abort();
        json_t *j = training_cfg_json(&c), *p = training_cfg_params(&c);
        /* the stored configuration reads back */
        training_cfg c2;
        training_cfg_init(&c2);
        json_object_del(j, "architecture"); /* a custom graph is checked by nn, not here */
        if (training_cfg_apply(&c2, j, &e) != 0)
            abort();
        training_cfg_free(&c2);
        json_decref(j);
        json_decref(p);
    }
    training_cfg_free(&c);
    training_cfg_init(&c);
    training_cfg_apply_params(&c, doc, &e);
    training_cfg_free(&c);
    json_decref(doc);
    return 0;
}
