/*
 * Fuzz target: a COCO results file as `cvops evaluation predictions --coco`
 * reads it (evaluation_coco_items, src/cli/evaluation_coco.c). Any input
 * must either be refused with a message or give items that account for
 * every result exactly once: integer asset ids, each once, each shape with
 * a kind, a label id and a score.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/evaluation_coco.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *doc = json_loadb((const char *)data, size, 0, &je);
    if (!doc)
        return 0;
    char why[200] = "";
    json_t *items = evaluation_coco_items(doc, why, sizeof why);
    if (!items) {
        if (!why[0])
            abort();
        json_decref(doc);
        return 0;
    }
    size_t total = 0;
    json_t *seen = json_object();
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i), *id = json_object_get(it, "asset_id");
        json_t *shapes = json_object_get(it, "shapes");
        if (!json_is_integer(id) || !json_is_array(shapes) || json_array_size(shapes) == 0)
            abort();
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(id));
        if (json_object_get(seen, key))
            abort();
        json_object_set_new(seen, key, json_true());
        for (size_t k = 0; k < json_array_size(shapes); k++) {
            json_t *s = json_array_get(shapes, k);
            if (!json_is_string(json_object_get(s, "kind")) ||
                !json_is_integer(json_object_get(s, "label_id")) ||
                !json_is_number(json_object_get(s, "score")))
                abort();
        }
        total += json_array_size(shapes);
    }
    if (total != json_array_size(doc))
        abort();
    json_decref(seen);
    json_decref(items);
    json_decref(doc);
    return 0;
}
