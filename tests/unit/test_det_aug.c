/*
 * Unit tests for the detection augmentation and letterbox (src/detect):
 * boxes must stay on the same pixels as their objects.
 *
 * The method is "draw, then check": source images get solid rectangles,
 * each of its own colour and class, on a plain background; after the
 * transform, the pixels of each colour (the ones that kept the exact colour,
 * away from resampled edges) must fill the output box of that class, to
 * within 2 px on every side, and an object that lost its box must show
 * little of itself. HSV jitter changes colours, not places: with the same
 * seed it must give the same boxes as without it.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect.h"
#include "detect/detect_impl.h"

#define SRC_W 200
#define SRC_H 150
#define OBJ_PER_SRC 3
#define TOL 2.0 /* px: the resampling footprint at the edges */

static const uint8_t colours[4 * OBJ_PER_SRC][3] = {
    {255, 0, 0},   {0, 255, 0},   {0, 0, 255},   {255, 255, 0}, {255, 0, 255}, {0, 255, 255},
    {255, 128, 0}, {128, 0, 255}, {0, 128, 255}, {255, 0, 128}, {128, 255, 0}, {0, 255, 128}};

typedef struct scene {
    uint8_t px[4][SRC_W * SRC_H * 3];
    det_box boxes[4][OBJ_PER_SRC];
    det_src src[4];
} scene;

/* Three non-touching rectangles per source on a dark background that
 * differs per source; class = global object index = colour index. Some
 * objects touch the image border on purpose. */
static void make_scene(scene *s)
{
    static const float rects[4][OBJ_PER_SRC][4] = {
        {{10, 10, 50, 40}, {90, 30, 30, 80}, {150, 100, 50, 50}},
        {{0, 0, 40, 60}, {70, 70, 60, 30}, {140, 20, 36, 36}},
        {{20, 90, 70, 40}, {110, 10, 50, 50}, {170, 80, 30, 70}},
        {{30, 20, 40, 40}, {100, 60, 24, 60}, {150, 5, 45, 30}}};
    for (int k = 0; k < 4; k++) {
        uint8_t bg = (uint8_t)(30 + 10 * k);
        memset(s->px[k], bg, sizeof s->px[k]);
        for (int j = 0; j < OBJ_PER_SRC; j++) {
            const float *r = rects[k][j];
            int id = k * OBJ_PER_SRC + j;
            for (int y = (int)r[1]; y < (int)(r[1] + r[3]); y++)
                for (int x = (int)r[0]; x < (int)(r[0] + r[2]); x++)
                    memcpy(s->px[k] + ((size_t)y * SRC_W + (size_t)x) * 3, colours[id], 3);
            s->boxes[k][j] = (det_box){r[0], r[1], r[2], r[3], id, 1};
        }
        s->src[k] = (det_src){{SRC_W, SRC_H, 3, SRC_W * 3, s->px[k]}, s->boxes[k], OBJ_PER_SRC};
    }
}

static bool is_colour(const uint8_t *p, const uint8_t c[3])
{
    for (int i = 0; i < 3; i++)
        if (abs((int)p[i] - (int)c[i]) > 12) return false;
    return true;
}

/* Checks every box of out against the pixels of dst (w x h RGB); src_scale
 * is the linear scale the sources went through (to know how large an
 * object without a box was). Returns the number of boxes checked. */
static int check_boxes(const uint8_t *dst, int w, int h, const det_box *out, int n, int nobj,
                       const char *what)
{
    int seen[4 * OBJ_PER_SRC] = {0};
    for (int i = 0; i < n; i++) {
        cr_assert(out[i].cls >= 0 && out[i].cls < nobj, "%s: box %d has class %d", what, i,
                  out[i].cls);
        cr_assert_eq(seen[out[i].cls], 0, "%s: two boxes for object %d", what, out[i].cls);
        seen[out[i].cls] = 1;
    }
    for (int id = 0; id < nobj; id++) {
        /* bounding box of the pixel centres showing the object's colour */
        double x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9;
        int count = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                if (is_colour(dst + ((size_t)y * (size_t)w + (size_t)x) * 3, colours[id])) {
                    x0 = fmin(x0, x);
                    y0 = fmin(y0, y);
                    x1 = fmax(x1, x + 1);
                    y1 = fmax(y1, y + 1);
                    count++;
                }
        const det_box *b = NULL;
        for (int i = 0; i < n; i++)
            if (out[i].cls == id) b = &out[i];
        if (!b) {
            /* dropped: at most a sliver of it may show */
            cr_assert(count == 0 || x1 - x0 <= 2 + TOL || y1 - y0 <= 2 + TOL || count <= 400,
                      "%s: object %d shows %d px (%.0f,%.0f)-(%.0f,%.0f) but has no box", what, id,
                      count, x0, y0, x1, y1);
            continue;
        }
        cr_assert(count > 0, "%s: box %d (%.1f %.1f %.1f %.1f) shows none of its object", what, id,
                  b->x, b->y, b->w, b->h);
        cr_assert(fabs(x0 - b->x) <= TOL && fabs(y0 - b->y) <= TOL &&
                      fabs(x1 - (b->x + b->w)) <= TOL && fabs(y1 - (b->y + b->h)) <= TOL,
                  "%s: object %d: box (%.1f,%.1f)-(%.1f,%.1f) but its pixels span "
                  "(%.0f,%.0f)-(%.0f,%.0f)",
                  what, id, b->x, b->y, b->x + b->w, b->y + b->h, x0, y0, x1, y1);
        /* and the box is filled by the object (no other content inside) */
        int inside = 0, match = 0;
        for (int y = (int)ceil(b->y + TOL); y < (int)floor(b->y + b->h - TOL); y++)
            for (int x = (int)ceil(b->x + TOL); x < (int)floor(b->x + b->w - TOL); x++) {
                inside++;
                match += is_colour(dst + ((size_t)y * (size_t)w + (size_t)x) * 3, colours[id]);
            }
        cr_assert_eq(match, inside, "%s: object %d: %d of %d pixels inside its box are not its",
                     what, id, inside - match, inside);
    }
    return n;
}

typedef struct aug_case {
    const char *name;
    det_aug a;
    int nsrc;
} aug_case;

static void run_case(const aug_case *c, scene *s, int seeds, int *total_boxes)
{
    int W = c->a.out_w, H = c->a.out_h;
    uint8_t *dst = malloc((size_t)W * (size_t)H * 3), *dst2 = malloc((size_t)W * (size_t)H * 3);
    cr_assert(dst && dst2);
    det_box out[64], out2[64];
    for (int seed = 1; seed <= seeds; seed++) {
        int n, n2;
        err e;
        char what[96];
        snprintf(what, sizeof what, "%s, seed %d", c->name, seed);
        cr_assert_eq(det_augment(&c->a, s->src, c->nsrc, (uint64_t)seed, dst, out, 64, &n, &e), 0,
                     "%s: %s", what, e.msg);
        *total_boxes += check_boxes(dst, W, H, out, n, c->nsrc * OBJ_PER_SRC, what);
        /* same seed, same result */
        cr_assert_eq(det_augment(&c->a, s->src, c->nsrc, (uint64_t)seed, dst2, out2, 64, &n2, &e),
                     0);
        cr_assert_eq(n2, n);
        cr_assert(memcmp(out, out2, (size_t)n * sizeof *out) == 0, "%s: not deterministic", what);
        cr_assert(memcmp(dst, dst2, (size_t)W * (size_t)H * 3) == 0, "%s: not deterministic", what);
        /* HSV jitter on top: the same boxes, other colours */
        det_aug hsv = c->a;
        hsv.hsv_h = 0.015f;
        hsv.hsv_s = 0.7f;
        hsv.hsv_v = 0.4f;
        cr_assert_eq(det_augment(&hsv, s->src, c->nsrc, (uint64_t)seed, dst2, out2, 64, &n2, &e),
                     0);
        cr_assert_eq(n2, n, "%s + HSV: %d boxes, %d without", what, n2, n);
        cr_assert(memcmp(out, out2, (size_t)n * sizeof *out) == 0, "%s + HSV: boxes moved", what);
        cr_assert(memcmp(dst, dst2, (size_t)W * (size_t)H * 3) != 0, "%s + HSV: no change", what);
    }
    free(dst);
    free(dst2);
}

static det_aug plain(int w, int h)
{
    return (det_aug){.out_w = w, .out_h = h, .min_side = 2, .min_visible = 0.1f};
}

Test(det_aug, boxes_stay_on_their_pixels_under_every_augmentation)
{
    scene *s = malloc(sizeof *s);
    cr_assert(s);
    make_scene(s);
    aug_case cases[7];
    int nc = 0;
    cases[nc++] = (aug_case){"none (letterbox)", plain(160, 160), 1};
    aug_case c;
    c = (aug_case){"flip", plain(160, 160), 1};
    c.a.hflip = 1;
    cases[nc++] = c;
    c = (aug_case){"scale", plain(160, 128), 1};
    c.a.scale = 0.5f;
    cases[nc++] = c;
    c = (aug_case){"translate", plain(160, 160), 1};
    c.a.translate = 0.25f;
    cases[nc++] = c;
    c = (aug_case){"mosaic", plain(160, 160), 4};
    c.a.mosaic = 1;
    cases[nc++] = c;
    c = (aug_case){"mosaic + scale + translate + flip", plain(192, 160), 4};
    c.a.mosaic = 1;
    c.a.scale = 0.5f;
    c.a.translate = 0.1f;
    c.a.hflip = 0.5f;
    cases[nc++] = c;
    c = (aug_case){"1 source of 4 (no mosaic) + all", plain(160, 160), 4};
    c.a.mosaic = 0.5f;
    c.a.scale = 0.5f;
    c.a.translate = 0.1f;
    c.a.hflip = 0.5f;
    cases[nc++] = c;
    for (int i = 0; i < nc; i++) {
        int boxes = 0;
        run_case(&cases[i], s, 12, &boxes);
        /* the check must have had something to check */
        cr_assert(boxes >= 12, "%s: only %d boxes over 12 seeds", cases[i].name, boxes);
    }
    free(s);
}

Test(det_aug, flip_mirrors_the_boxes)
{
    scene *s = malloc(sizeof *s);
    cr_assert(s);
    make_scene(s);
    det_aug a = plain(160, 160), f = plain(160, 160);
    f.hflip = 1;
    uint8_t *d1 = malloc(160 * 160 * 3), *d2 = malloc(160 * 160 * 3);
    det_box o1[16], o2[16];
    int n1, n2;
    err e;
    cr_assert_eq(det_augment(&a, s->src, 1, 7, d1, o1, 16, &n1, &e), 0);
    cr_assert_eq(det_augment(&f, s->src, 1, 7, d2, o2, 16, &n2, &e), 0);
    cr_assert_eq(n1, OBJ_PER_SRC);
    cr_assert_eq(n2, n1);
    for (int i = 0; i < n1; i++) {
        cr_assert_eq(o2[i].cls, o1[i].cls);
        cr_assert_float_eq(o2[i].x, 160 - o1[i].x - o1[i].w, 1e-3);
        cr_assert_float_eq(o2[i].y, o1[i].y, 1e-3);
        cr_assert_float_eq(o2[i].w, o1[i].w, 1e-3);
    }
    /* and the pixels are mirrored */
    int diff = 0;
    for (int y = 0; y < 160; y++)
        for (int x = 0; x < 160; x++)
            for (int ch = 0; ch < 3; ch++)
                diff += abs(d1[(y * 160 + x) * 3 + ch] - d2[(y * 160 + 159 - x) * 3 + ch]) > 1;
    cr_assert_eq(diff, 0, "%d mirrored values differ", diff);
    free(d1);
    free(d2);
    free(s);
}

Test(det_aug, letterbox_without_randomness_is_exact)
{
    scene *s = malloc(sizeof *s);
    cr_assert(s);
    make_scene(s);
    det_aug a = plain(160, 160);
    uint8_t *d = malloc(160 * 160 * 3);
    det_box o[16];
    int n;
    err e;
    cr_assert_eq(det_augment(&a, s->src, 1, 3, d, o, 16, &n, &e), 0);
    /* 200 x 150 fitted into 160 x 160: scale 0.8, 120 px high, 20 px bands */
    cr_assert_eq(n, OBJ_PER_SRC);
    for (int i = 0; i < n; i++) {
        const det_box *b = &s->boxes[0][i];
        cr_assert_float_eq(o[i].x, b->x * 0.8f, 1e-3);
        cr_assert_float_eq(o[i].y, b->y * 0.8f + 20, 1e-3);
        cr_assert_float_eq(o[i].w, b->w * 0.8f, 1e-3);
        cr_assert_float_eq(o[i].h, b->h * 0.8f, 1e-3);
    }
    cr_assert_eq(d[(5 * 160 + 80) * 3], 114, "the padding is grey 114");
    free(d);
    free(s);
}

Test(det_aug, letterbox_round_trip)
{
    scene *s = malloc(sizeof *s);
    cr_assert(s);
    make_scene(s);
    for (int rect = 0; rect < 2; rect++) {
        det_lb lb;
        det_lb_fit(SRC_W, SRC_H, 128, 128, rect, &lb);
        cr_assert_eq(lb.out_w % 32, 0);
        cr_assert_eq(lb.out_h % 32, 0);
        if (rect)
            cr_assert_eq(lb.out_h, 96, "rect: 150 * 0.64 = 96 rounds up to 96, got %d", lb.out_h);
        uint8_t *d = malloc((size_t)lb.out_w * (size_t)lb.out_h * 3);
        err e;
        cr_assert_eq(det_lb_apply(&s->src[0].img, &lb, d, &e), 0);
        det_box mapped[OBJ_PER_SRC], back[OBJ_PER_SRC];
        for (int i = 0; i < OBJ_PER_SRC; i++) {
            det_box b = s->boxes[0][i];
            mapped[i] = (det_box){b.x * lb.scale + lb.pad_x,
                                  b.y * lb.scale + lb.pad_y,
                                  b.w * lb.scale,
                                  b.h * lb.scale,
                                  b.cls,
                                  1};
        }
        check_boxes(d, lb.out_w, lb.out_h, mapped, OBJ_PER_SRC, OBJ_PER_SRC, "letterbox");
        memcpy(back, mapped, sizeof back);
        det_lb_unmap(&lb, SRC_W, SRC_H, back, OBJ_PER_SRC);
        for (int i = 0; i < OBJ_PER_SRC; i++) {
            cr_assert_float_eq(back[i].x, s->boxes[0][i].x, 1e-3);
            cr_assert_float_eq(back[i].y, s->boxes[0][i].y, 1e-3);
            cr_assert_float_eq(back[i].w, s->boxes[0][i].w, 1e-3);
            cr_assert_float_eq(back[i].h, s->boxes[0][i].h, 1e-3);
        }
        free(d);
    }
    free(s);
}

Test(det_aug, bad_input_is_refused)
{
    det_aug a = plain(64, 64);
    uint8_t px[12] = {0}, dst[64 * 64 * 3];
    det_src s = {{2, 2, 2, 4, px}, NULL, 0}; /* 2 channels */
    det_box out[4];
    int n;
    err e;
    cr_assert_eq(det_augment(&a, &s, 1, 1, dst, out, 4, &n, &e), -1);
    cr_assert(strstr(e.msg, "channels"), "%s", e.msg);
    s.img.c = 3;
    cr_assert_eq(det_augment(&a, &s, 2, 1, dst, out, 4, &n, &e), -1);
    cr_assert(strstr(e.msg, "1 or 4"), "%s", e.msg);
    /* more boxes than room */
    det_box many[3] = {{0, 0, 10, 10, 0, 1}, {20, 0, 10, 10, 0, 1}, {40, 0, 10, 10, 0, 1}};
    uint8_t big[64 * 64 * 3] = {0};
    det_src s2 = {{64, 64, 3, 64 * 3, big}, many, 3};
    cr_assert_eq(det_augment(&a, &s2, 1, 1, dst, out, 2, &n, &e), -1);
    cr_assert(strstr(e.msg, "boxes"), "%s", e.msg);
}
