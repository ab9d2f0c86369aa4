/*
 * Fuzz target: the COCO reader (src/formats/coco_read.c) on a document in
 * memory: the structural scan, yajl, every record check. The first byte
 * chooses keep_going; the consumer touches every array it is given, so a
 * wrong length or pointer shows up under ASan.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "formats/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double sink;

static int on_cat(void *ctx, const fmt_category *c, err *e)
{
    (void)ctx, (void)e;
    for (int i = 0; i < c->nkeypoints; i++)
        sink += c->keypoints[i][0];
    for (int i = 0; i < 2 * c->nskeleton; i++)
        sink += c->skeleton[i];
    return 0;
}

static int on_img(void *ctx, const fmt_image *im, err *e)
{
    (void)ctx, (void)e;
    sink += im->file_name[0] + im->width + im->height;
    return 0;
}

static int on_shape(void *ctx, const fmt_shape *s, err *e)
{
    (void)ctx, (void)e;
    sink += fmt_polygon_area(s->points, s->npoints, s->ring_sizes, s->nrings);
    for (int i = 0; i < 3 * s->nkp; i++)
        sink += s->kp[i];
    sink += (double)fmt_rle_area(s->rle_counts, s->nrle);
    if (s->rle_string) {
        uint32_t *c = NULL;
        err de;
        int n = fmt_rle_decode(s->rle_string, &c, &de);
        if (n >= 0) {
            double bb[4];
            fmt_rle_bbox(c, n, s->rle_h, s->rle_w, bb);
            sink += bb[0];
        }
        free(c);
    }
    if (s->attributes)
        sink += s->attributes[0];
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fmt_read_opts o = {.keep_going = data[0] & 1};
    fmt_read_cb cb = {NULL, on_cat, on_img, on_shape};
    fmt_report rep = {.max = 20};
    err e;
    fmt_read_mem(FMT_COCO, data + 1, size - 1, &o, &cb, &rep, &e);
    fmt_report_free(&rep);
    return 0;
}
