/*
 * evaluation_stream.h - the request bodies of `cvops evaluation predictions`
 * made from the file without holding it: bounded memory for any file size.
 *
 * Pass 1 reads the file in blocks with a streaming parser (yajl) and keeps,
 * per COCO result, 40 bytes (its image, category, score and where its
 * geometry's text lies in the file) or, per API item, where the item lies
 * and its number of shapes; every result is checked there, so a bad file
 * fails before anything is sent. Pass 2 groups the results by image in
 * first-seen order (an image's predictions all go in one request: "replace"
 * replaces an image's predictions per request) and writes each request body
 * in turn, copying the geometry's text from the file (read in order, in
 * 1 MiB blocks). Memory: those records, the image index and one request
 * body - not the file, and no JSON tree.
 *
 * The bodies are {"predictions": [items], "mode": MODE}, the items those of
 * evaluation_coco_items (same grouping, same shapes; tests compare them),
 * or, without coco, the file's own items ([{"asset_id" or "data_id",
 * "shapes"}], bare or under "predictions") copied as they are.
 */
#ifndef CVOPS_CLI_EVALUATION_STREAM_H
#define CVOPS_CLI_EVALUATION_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ev_stream_opts {
    bool coco;                 /* a COCO results array, else the API's items */
    const char *mode;          /* "replace" or "append" */
    size_t max_images;         /* per request (an image is never split) */
    size_t max_shapes;         /* per request, unless one image has more */
    /* --coco: image / category ids to asset / label ids (NULL: kept). 0, or
     * -1 with a message in why; i = the result's index in the file. */
    int (*remap)(void *ctx, size_t i, int64_t *image_id, int64_t *category_id, char *why,
                 size_t wn);
    void *remap_ctx;
    /* One request body (NUL-terminated) with its number of images and
     * shapes, and the file's number of images; 0 goes on, anything else
     * stops and is returned. */
    int (*send)(void *ctx, const char *body, size_t len, size_t images, size_t shapes,
                size_t total_images);
    void *send_ctx;
} ev_stream_opts;

/* 0 when every body was sent; -1 when the file cannot be used (why: what and
 * where, e.g. "results[3]: needs an integer image_id (an asset id)" or
 * "invalid JSON at byte 1234: ..."), nothing sent then; else the value a
 * send returned. */
int evaluation_stream(const char *path, const ev_stream_opts *o, char *why, size_t wn);
/* The same on an open file (read from its start with pread/read; the fuzz
 * target passes a memfd). */
int evaluation_stream_fd(int fd, const ev_stream_opts *o, char *why, size_t wn);

#endif
