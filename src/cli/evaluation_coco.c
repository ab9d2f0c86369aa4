/*
 * evaluation_coco.c - a COCO results array as prediction items of the API
 * (evaluation_coco.h).
 */
#include "cli/evaluation_coco.h"

#include <stdio.h>

/* Result i as a shape of the API; NULL with a message in why. */
static json_t *coco_shape(json_t *r, size_t i, char *why, size_t wn)
{
    json_t *cat = json_object_get(r, "category_id"), *score = json_object_get(r, "score");
    if (!json_is_integer(cat) || !json_is_number(score)) {
        snprintf(why, wn, "results[%zu]: needs an integer category_id and a numeric score", i);
        return NULL;
    }
    json_t *s = json_pack("{s:O, s:O}", "label_id", cat, "score", score);
    if (!s) {
        snprintf(why, wn, "out of memory");
        return NULL;
    }
    json_t *seg = json_object_get(r, "segmentation"), *kp = json_object_get(r, "keypoints"),
           *bbox = json_object_get(r, "bbox");
    if (json_is_array(kp)) {
        json_object_set_new(s, "kind", json_string("keypoints"));
        json_object_set(s, "keypoints", kp);
    } else if (json_is_array(seg)) {
        json_object_set_new(s, "kind", json_string("polygon"));
        json_object_set(s, "rings", seg);
    } else if (json_is_object(seg)) {
        json_object_set_new(s, "kind", json_string("mask"));
        json_object_set(s, "rle", seg);
    } else if (json_is_array(bbox)) {
        json_object_set_new(s, "kind", json_string("box"));
        json_object_set(s, "box", bbox);
    } else {
        json_decref(s);
        snprintf(why, wn,
                 "results[%zu]: has no bbox, segmentation or keypoints (a COCO result needs one)",
                 i);
        return NULL;
    }
    return s;
}

json_t *evaluation_coco_items(json_t *results, char *why, size_t wn)
{
    if (!json_is_array(results)) {
        snprintf(why, wn, "a COCO results file is a JSON array of results");
        return NULL;
    }
    json_t *items = json_array(), *index = json_object();
    if (!items || !index) {
        snprintf(why, wn, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < json_array_size(results); i++) {
        json_t *r = json_array_get(results, i), *img = json_object_get(r, "image_id");
        if (!json_is_object(r)) {
            snprintf(why, wn, "results[%zu]: a result is an object {\"image_id\", ...}", i);
            goto fail;
        }
        if (!json_is_integer(img)) {
            snprintf(why, wn, "results[%zu]: needs an integer image_id (an asset id)", i);
            goto fail;
        }
        json_t *s = coco_shape(r, i, why, wn);
        if (!s)
            goto fail;
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(img));
        json_t *it = json_object_get(index, key);
        if (!it) {
            it = json_pack("{s:O, s:[]}", "asset_id", img, "shapes");
            if (!it || json_array_append_new(items, it) || json_object_set(index, key, it)) {
                json_decref(s);
                snprintf(why, wn, "out of memory");
                goto fail;
            }
        }
        json_array_append_new(json_object_get(it, "shapes"), s);
    }
    json_decref(index);
    return items;
fail:
    json_decref(index);
    json_decref(items);
    return NULL;
}
