/*
 * fuzz_coco_results - the streaming results reader (eval_coco_load_dt_mem)
 * followed by a full bbox evaluation and the detail extras, against a fixed
 * small ground truth. Any input must either fail with a message or
 * evaluate to numbers in [-1, 1].
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/coco_io.h"
#include "eval/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char GT[] =
    "{\"images\": [{\"id\": 1, \"width\": 64, \"height\": 48}, {\"id\": 2, \"width\": 32,"
    " \"height\": 32}], \"categories\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 2}],"
    " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 10, 20],"
    " \"area\": 200, \"iscrowd\": 0, \"segmentation\": [[1, 2, 11, 2, 11, 22, 1, 22]]},"
    " {\"id\": 2, \"image_id\": 2, \"category_id\": 2, \"bbox\": [0, 0, 30, 30], \"area\": 900,"
    " \"iscrowd\": 1, \"segmentation\": {\"counts\": [0, 900, 124], \"size\": [32, 32]}}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const eval_iou_type types[] = {EVAL_BBOX, EVAL_SEGM, EVAL_KEYPOINTS};
    for (size_t t = 0; t < 3; t++) {
        eval_coco *ev = eval_coco_new(types[t]);
        err e;
        if (eval_coco_load_gt_mem(ev, GT, sizeof GT - 1, &e) != 0) abort();
        if (eval_coco_load_dt_mem(ev, (const char *)data, size, &e) == 0) {
            eval_params p;
            eval_params_init(&p, types[t]);
            p.threads = 1;
            if (eval_coco_run(ev, &p, &e) == 0) {
                int n;
                const double *s = eval_coco_stats(ev, &n);
                for (int i = 0; i < n; i++)
                    if (!(s[i] == -1 || (s[i] >= 0 && s[i] <= 1))) abort();
                eval_detail d;
                if (eval_coco_detail(ev, NULL, &d, &e) == 0) eval_detail_free(&d);
            }
        }
        eval_coco_free(ev);
    }
    return 0;
}
