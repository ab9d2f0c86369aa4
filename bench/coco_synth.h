/*
 * coco_synth.h - deterministic synthetic COCO records for the format
 * benchmarks: N images of varied sizes, M annotations spread evenly over
 * them (grouped by image), half boxes and half polygons of 6 to 14 points,
 * coordinates with two decimals like real COCO files. bench/gen_coco.c
 * prints them as JSON (in COCO's own key order: images, annotations,
 * categories); bench/formats.c feeds them to the writer.
 */
#ifndef CVOPS_BENCH_COCO_SYNTH_H
#define CVOPS_BENCH_COCO_SYNTH_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "formats/formats.h"

#define SYNTH_NCATS 80

static inline uint64_t synth_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static inline void synth_image(int64_t i, char name[32], fmt_image *im)
{
    snprintf(name, 32, "%012lld.jpg", (long long)(i + 1));
    im->id = i + 1;
    im->file_name = name;
    im->width = 320 + (int)((i * 37) % 960);
    im->height = 240 + (int)((i * 53) % 720);
    im->path = NULL;
    im->split = NULL;
}

static inline double synth_c(uint64_t *s, double lo, double hi)
{
    /* two decimals */
    double v = lo + (double)(synth_rand(s) % 1000000) / 1000000.0 * (hi - lo);
    return round(v * 100) / 100;
}

/* Annotation k of nann over nimg images; pts must hold 28 doubles, rings 1. */
static inline void synth_shape(int64_t k, int64_t nann, int64_t nimg, double *pts, int *rings,
                               fmt_shape *s)
{
    int64_t per = (nann + nimg - 1) / nimg;
    int64_t img = k / per;
    char nm[32];
    fmt_image im;
    synth_image(img, nm, &im);
    uint64_t st = 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1) + 7;
    for (int i = 0; i < 3; i++)
        synth_rand(&st);
    double bw = synth_c(&st, 4, im.width / 3.0), bh = synth_c(&st, 4, im.height / 3.0);
    double x = synth_c(&st, 0, im.width - bw - 1), y = synth_c(&st, 0, im.height - bh - 1);
    s->id = k + 1;
    s->image_id = img + 1;
    s->category_id = 1 + (int64_t)(synth_rand(&st) % SYNTH_NCATS);
    s->has_bbox = true;
    s->iscrowd = false;
    s->score = NAN;
    s->attributes = NULL;
    s->kp = NULL;
    s->nkp = 0;
    s->rle_counts = NULL;
    s->rle_string = NULL;
    s->nrle = 0;
    if (k % 2 == 0) {
        s->kind = FMT_BOX;
        s->bbox[0] = x, s->bbox[1] = y, s->bbox[2] = bw, s->bbox[3] = bh;
        s->points = NULL;
        s->npoints = 0;
        s->ring_sizes = NULL;
        s->nrings = 0;
        s->area = round(bw * bh * 100) / 100;
        return;
    }
    int n = 6 + (int)(synth_rand(&st) % 9);
    double cx = x + bw / 2, cy = y + bh / 2;
    double x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9;
    for (int i = 0; i < n; i++) {
        double a = 2 * M_PI * i / n;
        double r = 0.6 + 0.4 * (double)(synth_rand(&st) % 1000) / 1000.0;
        double px = round((cx + cos(a) * r * bw / 2) * 100) / 100;
        double py = round((cy + sin(a) * r * bh / 2) * 100) / 100;
        pts[2 * i] = px;
        pts[2 * i + 1] = py;
        x0 = px < x0 ? px : x0;
        y0 = py < y0 ? py : y0;
        x1 = px > x1 ? px : x1;
        y1 = py > y1 ? py : y1;
    }
    rings[0] = n;
    s->kind = FMT_POLYGON;
    s->points = pts;
    s->npoints = n;
    s->ring_sizes = rings;
    s->nrings = 1;
    s->bbox[0] = x0, s->bbox[1] = y0;
    s->bbox[2] = round((x1 - x0) * 100) / 100, s->bbox[3] = round((y1 - y0) * 100) / 100;
    s->area = round(fmt_polygon_area(pts, n, NULL, 0) * 100) / 100;
}

#endif
