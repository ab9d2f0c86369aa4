/*
 * Fuzz target: a predictions file as `cvops evaluation predictions` streams
 * it (evaluation_stream, src/cli/evaluation_stream.c), as COCO results (the
 * first byte's low bit clear) or the API's items, with small request limits
 * from the second byte. Any input must either be refused with a message and
 * nothing sent, or give request bodies that are JSON within their limits;
 * for COCO results every result lands exactly once, each image in one
 * request only, and whenever the in-memory conversion (evaluation_coco_items)
 * accepts the same text, the items are the same.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/evaluation_coco.h"
#include "cli/evaluation_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct got {
    json_t *items;
    size_t bodies, max_images, max_shapes;
} got;

static int take(void *ctx, const char *body, size_t len, size_t images, size_t shapes,
                size_t total)
{
    got *g = ctx;
    if (strlen(body) != len || images == 0 || images > g->max_images || images > total)
        abort();
    if (shapes > g->max_shapes && images != 1)
        abort();
    json_t *b = json_loadb(body, len, 0, NULL);
    json_t *items = json_object_get(b, "predictions");
    if (!json_is_array(items) || json_array_size(items) != images)
        abort();
    json_array_extend(g->items, items);
    json_decref(b);
    g->bodies++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool coco = !(data[0] & 1);
    got g = {json_array(), 0, 1 + (data[1] & 7), 1 + (data[1] >> 3)};
    data += 2;
    size -= 2;
    int fd = memfd_create("fuzz", 0);
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    ev_stream_opts o = {.coco = coco,
                        .mode = "replace",
                        .max_images = g.max_images,
                        .max_shapes = g.max_shapes,
                        .send = take,
                        .send_ctx = &g};
    char why[300];
    int rc = evaluation_stream_fd(fd, &o, why, sizeof why);
    close(fd);
    if (rc != 0) {
        if (rc != -1 || !why[0] || g.bodies)
            abort();
        json_decref(g.items);
        return 0;
    }
    if (coco) {
        json_t *doc = json_loadb((const char *)data, size, 0, NULL);
        char w2[200];
        json_t *want = doc ? evaluation_coco_items(doc, w2, sizeof w2) : NULL;
        if (want && json_array_size(want) != json_array_size(g.items))
            abort();
        /* same asset ids in the same order, same shape counts */
        for (size_t i = 0; want && i < json_array_size(want); i++) {
            json_t *a = json_array_get(want, i), *b = json_array_get(g.items, i);
            if (json_integer_value(json_object_get(a, "asset_id")) !=
                    json_integer_value(json_object_get(b, "asset_id")) ||
                json_array_size(json_object_get(a, "shapes")) !=
                    json_array_size(json_object_get(b, "shapes")))
                abort();
        }
        json_decref(want);
        json_decref(doc);
        /* each image in one item, so in one request */
        json_t *seen = json_object();
        for (size_t i = 0; i < json_array_size(g.items); i++) {
            char key[32];
            snprintf(key, sizeof key, "%lld",
                     (long long)json_integer_value(json_object_get(json_array_get(g.items, i), "asset_id")));
            if (json_object_get(seen, key))
                abort();
            json_object_set_new(seen, key, json_true());
        }
        json_decref(seen);
    }
    json_decref(g.items);
    return 0;
}
