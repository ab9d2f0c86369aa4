/*
 * synth.c - the synthetic detection dataset: shapes and glyphs on textured
 * and photographic backgrounds, with exact boxes.
 *
 * An image is a pure function of (options, background photos, seed,
 * index): every random number comes from one xoshiro256** stream seeded
 * with nn_sample_seed(seed, 0x5e7, index), so images can be made in any
 * order, on any number of threads, and come out byte for byte the same.
 *
 *   background  half the time a random crop of a photo (Debian's darknet
 *               samples: a dog, horses, a giraffe, a painting...), zoomed,
 *               maybe mirrored and tinted; otherwise procedural: a colour
 *               gradient under multi-octave value noise, sometimes with
 *               stripes or a checkerboard. Then a few thin distractor
 *               lines that belong to no class.
 *   objects     1-8 of the classes below, sizes log-uniform in
 *               [min_side, max_side], stretched up to 1.25:1, rotated
 *               (glyphs by at most 25 degrees), filled with a solid colour,
 *               a gradient or stripes, sometimes outlined; colours are
 *               redrawn until they stand out from the background under
 *               them. Anti-aliased by 4x4 supersampling.
 *   occlusion   objects may overlap: a placement is refused when it would
 *               hide more than 40% of an object already there.
 *   boxes       from pixels: a pixel belongs to the topmost object covering
 *               at least half of it, and an object's box is the extent of
 *               its pixels: exact, tight, and what one sees.
 *   finish      mild Gaussian noise; the writer encodes JPEG (quality 90).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "detect/detect_impl.h"
#include "formats/formats.h"
#include "image/image.h"

const char *const det_synth_class_names[DET_SYNTH_CLASSES] = {
    "circle", "triangle", "square", "star", "cross", "ring", "letter-A", "digit-5"};

#define MAX_PHOTOS 64

struct det_synth {
    det_synth_opts o;
    int nphotos;
    image_pixels photo[MAX_PHOTOS];
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_photos(det_synth *s, const char *dir, err *e)
{
    DIR *d = opendir(dir);
    if (!d) return 0; /* no photos: procedural backgrounds only */
    char *names[MAX_PHOTOS];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < MAX_PHOTOS) {
        size_t l = strlen(de->d_name);
        if (l > 4 && (strcasecmp(de->d_name + l - 4, ".jpg") == 0 ||
                      (l > 5 && strcasecmp(de->d_name + l - 5, ".jpeg") == 0)))
            names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str); /* a fixed order: determinism */
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        uint8_t *buf = NULL;
        long len = 0;
        if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && len < (64 << 20) &&
            fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len)) &&
            fread(buf, 1, (size_t)len, f) == (size_t)len) {
            image_decode_opts op = {.channels = 3, .target_side = 1024};
            err de2;
            if (image_decode(buf, (size_t)len, &op, &s->photo[s->nphotos], &de2) == 0) s->nphotos++;
        }
        if (f) fclose(f);
        free(buf);
        free(names[i]);
    }
    (void)e;
    return rc;
}

det_synth *det_synth_new(const det_synth_opts *o, err *e)
{
    det_synth *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    det_synth_opts d = o ? *o : (det_synth_opts){0};
    if (!d.w) d.w = 320;
    if (!d.h) d.h = 320;
    if (!d.classes) d.classes = DET_SYNTH_CLASSES;
    if (!d.min_objects) d.min_objects = 1;
    if (!d.max_objects) d.max_objects = 8;
    if (!(d.min_side > 0)) d.min_side = 16;
    if (!(d.max_side > 0)) d.max_side = 112;
    if (!d.quality) d.quality = 90;
    if (!o || !o->photos_dir) d.photos_dir = "/usr/share/darknet/data";
    const char *bad = NULL;
    char why[160];
    int side = d.w < d.h ? d.w : d.h;
    if (d.w < 32 || d.h < 32 || d.w > 4096 || d.h > 4096)
        snprintf(why, sizeof why, "image size %dx%d: sides must be 32 to 4096 px", d.w, d.h),
            bad = why;
    else if (d.classes < 1 || d.classes > DET_SYNTH_CLASSES)
        snprintf(why, sizeof why, "%d classes: use 1 to %d", d.classes, DET_SYNTH_CLASSES),
            bad = why;
    else if (d.min_objects < 0 || d.max_objects < d.min_objects || d.max_objects > 64)
        snprintf(why, sizeof why,
                 "objects per image %d to %d: the range must be within 0 to 64, min <= max",
                 d.min_objects, d.max_objects),
            bad = why;
    else if (d.min_side < 4 || d.max_side < d.min_side || d.max_side > (float)side)
        snprintf(why, sizeof why,
                 "object sides %g to %g px: the range must be within 4 px and the image side "
                 "(%d px), min <= max",
                 (double)d.min_side, (double)d.max_side, side),
            bad = why;
    else if (d.quality < 1 || d.quality > 100)
        snprintf(why, sizeof why, "JPEG quality %d: use 1 to 100", d.quality), bad = why;
    if (bad) {
        free(s);
        err_set(e, ERR_INVALID, "synthetic images: %s", bad);
        return NULL;
    }
    s->o = d;
    if (d.photos_dir[0] && load_photos(s, d.photos_dir, e) < 0) {
        det_synth_free(s);
        return NULL;
    }
    return s;
}

void det_synth_free(det_synth *s)
{
    if (!s) return;
    for (int i = 0; i < s->nphotos; i++)
        image_pixels_free(&s->photo[i]);
    free(s);
}

/* --- randomness ------------------------------------------------------------------ */

static float U(nn_rng *r, float lo, float hi)
{
    return lo + (hi - lo) * nn_rng_uniform(r);
}
static int I(nn_rng *r, int n)
{
    return (int)(nn_rng_next(r) % (uint64_t)n);
}

/* value noise: a hashed lattice, smoothly interpolated */
static float lattice(uint32_t seed, int x, int y)
{
    uint32_t h = seed ^ (uint32_t)x * 0x27d4eb2dU ^ (uint32_t)y * 0x165667b1U;
    h ^= h >> 15;
    h *= 0x2c1b3c6dU;
    h ^= h >> 12;
    h *= 0x297a2d39U;
    h ^= h >> 15;
    return (float)(h & 0xffffff) / (float)0x1000000;
}

static float vnoise(uint32_t seed, float x, float y)
{
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    float fx = x - (float)x0, fy = y - (float)y0;
    fx = fx * fx * (3 - 2 * fx);
    fy = fy * fy * (3 - 2 * fy);
    float a = lattice(seed, x0, y0), b = lattice(seed, x0 + 1, y0);
    float c = lattice(seed, x0, y0 + 1), d = lattice(seed, x0 + 1, y0 + 1);
    return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy;
}

static void rand_color(nn_rng *r, float out[3], float smin, float vmin)
{
    det_hsv_to_rgb(U(r, 0, 360), U(r, smin, 1), U(r, vmin, 255), &out[0], &out[1], &out[2]);
}

/* --- backgrounds -------------------------------------------------------------------- */

static void bg_photo(const det_synth *s, nn_rng *r, uint8_t *rgb)
{
    int W = s->o.w, H = s->o.h;
    const image_pixels *p = &s->photo[I(r, s->nphotos)];
    nn_image src = {(int)p->width, (int)p->height, 3, p->stride, p->data};
    /* a crop of W x H times z, z in [0.35, 1] of the largest that fits */
    float zmax = fminf((float)src.w / (float)W, (float)src.h / (float)H);
    float z = zmax * U(r, 0.35f, 1.0f);
    float cw = (float)W * z, ch = (float)H * z;
    float cx = U(r, 0, (float)src.w - cw), cy = U(r, 0, (float)src.h - ch);
    bool flip = nn_rng_uniform(r) < 0.5f;
    float crop[4] = {cx, cy, cx + cw, cy + ch};
    double map[4] = {1.0 / z, -cx / z, 1.0 / z, -cy / z};
    if (flip) {
        map[0] = -map[0];
        map[1] = W - map[1];
    }
    memset(rgb, 114, (size_t)W * (size_t)H * 3);
    det_blit(&src, crop, map, rgb, W, H, NULL);
    /* tint and brightness */
    float tint[3], gain = U(r, 0.6f, 1.25f), mixw = U(r, 0, 0.3f);
    rand_color(r, tint, 0.2f, 100);
    for (size_t i = 0; i < (size_t)W * (size_t)H * 3; i++) {
        float v = ((float)rgb[i] * (1 - mixw) + tint[i % 3] * mixw) * gain;
        rgb[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
    }
}

static void bg_procedural(const det_synth *s, nn_rng *r, uint8_t *rgb)
{
    int W = s->o.w, H = s->o.h;
    float c0[3], c1[3], c2[3];
    rand_color(r, c0, 0, 20);
    rand_color(r, c1, 0, 20);
    rand_color(r, c2, 0, 20);
    float ang = U(r, 0, 2 * (float)M_PI), ca = cosf(ang), sa = sinf(ang);
    float freq = U(r, 2, 12) / (float)W; /* noise lattice cells per pixel */
    float namp = U(r, 0.2f, 1.0f);
    uint32_t nseed = (uint32_t)nn_rng_next(r);
    int pattern = I(r, 4); /* 0, 1: none, 2: stripes, 3: checker */
    float period = U(r, 6, 40), pang = U(r, 0, (float)M_PI), pc = cosf(pang), ps = sinf(pang);
    float pamp = U(r, 0.1f, 0.4f);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float t =
                (((float)x - W / 2.0f) * ca + ((float)y - H / 2.0f) * sa) / (float)(W > H ? W : H) +
                0.5f;
            t = fminf(fmaxf(t, 0), 1);
            float n = 0, amp = 0.5f, f = freq;
            for (int o = 0; o < 4; o++) {
                n += amp * vnoise(nseed + (uint32_t)o * 7919u, (float)x * f, (float)y * f);
                amp *= 0.5f;
                f *= 2;
            }
            n = (n / 0.9375f - 0.5f) * namp;
            float pv = 0;
            if (pattern >= 2) {
                float u = ((float)x * pc + (float)y * ps) / period;
                if (pattern == 2) {
                    pv = sinf(u * 2 * (float)M_PI) > 0 ? pamp : -pamp;
                } else {
                    float v = (-(float)x * ps + (float)y * pc) / period;
                    pv = ((int)floorf(u) + (int)floorf(v)) & 1 ? pamp : -pamp;
                }
            }
            uint8_t *p = rgb + ((size_t)y * (size_t)W + (size_t)x) * 3;
            for (int k = 0; k < 3; k++) {
                float base = c0[k] + (c1[k] - c0[k]) * t;
                float v = base + (c2[k] - base) * (n + 0.5f * namp) * 0.8f + pv * 80;
                p[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
            }
        }
}

/* --- objects -------------------------------------------------------------------------- */

typedef struct obj {
    int cls;
    float cx, cy, hx, hy, cs, sn; /* centre, half sizes, rotation */
    int x0, y0, x1, y1;           /* pixel rectangle that may be covered */
    float poly[20][2];
    int npoly;
    float seg[16][4];
    int nseg;
    float stroke2; /* glyph stroke radius squared (local units) */
} obj;

static bool in_poly(const float (*p)[2], int n, float u, float v)
{
    bool in = false;
    for (int i = 0, j = n - 1; i < n; j = i++)
        if ((p[i][1] > v) != (p[j][1] > v) &&
            u < (p[j][0] - p[i][0]) * (v - p[i][1]) / (p[j][1] - p[i][1]) + p[i][0])
            in = !in;
    return in;
}

/* Is the image point (x, y) inside the object? Local coordinates u, v are
 * in [-1, 1] across the object's unrotated box. */
static bool inside(const obj *o, float x, float y)
{
    float dx = x - o->cx, dy = y - o->cy;
    float u = (dx * o->cs + dy * o->sn) / o->hx, v = (-dx * o->sn + dy * o->cs) / o->hy;
    if (u < -1 || u > 1 || v < -1 || v > 1) return false;
    float r2 = u * u + v * v;
    switch (o->cls) {
    case 0:
        return r2 <= 1;
    case 5:
        return r2 <= 1 && r2 >= 0.52f * 0.52f;
    case 2:
        return true;
    case 4:
        return (fabsf(u) <= 0.3f) || (fabsf(v) <= 0.3f);
    case 1:
    case 3:
        return in_poly((const float(*)[2])o->poly, o->npoly, u, v);
    default:
        for (int i = 0; i < o->nseg; i++)
            if (det_seg_dist2(u, v, o->seg[i]) <= o->stroke2) return true;
        return false;
    }
}

static void obj_init(obj *o, int cls, float cx, float cy, float side, float stretch, float ang)
{
    memset(o, 0, sizeof *o);
    o->cls = cls;
    o->cx = cx;
    o->cy = cy;
    float sq = sqrtf(stretch);
    o->hx = side / 2 * sq;
    o->hy = side / 2 / sq;
    if (cls >= 6) { /* glyphs are taller than wide: 4 x 6 grid */
        o->hx *= 0.75f;
        o->hy *= 1.0f;
    }
    o->cs = cosf(ang);
    o->sn = sinf(ang);
    if (cls == 1) {
        o->npoly = 3;
        float t[3][2] = {{0, -1}, {1, 0.85f}, {-1, 0.85f}};
        memcpy(o->poly, t, sizeof t);
    } else if (cls == 3) {
        o->npoly = 10;
        for (int i = 0; i < 10; i++) {
            float a = (float)i * (float)M_PI / 5 - (float)M_PI / 2, rr = i % 2 ? 0.45f : 1.0f;
            o->poly[i][0] = rr * cosf(a);
            o->poly[i][1] = rr * sinf(a);
        }
    } else if (cls >= 6) {
        float g[16][4];
        o->nseg = det_glyph_segments(cls == 6 ? 'A' : '5', g, 16);
        /* grid x in [0, 4], y in [0, 6] -> [-1, 1] with a margin for the stroke */
        for (int i = 0; i < o->nseg; i++)
            for (int k = 0; k < 2; k++) {
                o->seg[i][2 * k] = (g[i][2 * k] - 2) / 2.6f;
                o->seg[i][2 * k + 1] = (g[i][2 * k + 1] - 3) / 3.6f;
            }
        o->stroke2 = 0.22f * 0.22f;
    }
    float ex = fabsf(o->hx * o->cs) + fabsf(o->hy * o->sn);
    float ey = fabsf(o->hx * o->sn) + fabsf(o->hy * o->cs);
    o->x0 = (int)floorf(cx - ex) - 1;
    o->x1 = (int)ceilf(cx + ex) + 1;
    o->y0 = (int)floorf(cy - ey) - 1;
    o->y1 = (int)ceilf(cy + ey) + 1;
}

/* Coverage (0..16) of the object over its rectangle clipped to the image. */
static void coverage(const obj *o, int W, int H, uint8_t *cov, int *rx0, int *ry0, int *rw, int *rh)
{
    int x0 = o->x0 < 0 ? 0 : o->x0, y0 = o->y0 < 0 ? 0 : o->y0;
    int x1 = o->x1 > W ? W : o->x1, y1 = o->y1 > H ? H : o->y1;
    *rx0 = x0;
    *ry0 = y0;
    *rw = x1 > x0 ? x1 - x0 : 0;
    *rh = y1 > y0 ? y1 - y0 : 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            int c = 0;
            for (int sy = 0; sy < 4; sy++)
                for (int sx = 0; sx < 4; sx++)
                    c += inside(o, (float)x + 0.125f + 0.25f * (float)sx,
                                (float)y + 0.125f + 0.25f * (float)sy);
            cov[(size_t)(y - y0) * (size_t)*rw + (size_t)(x - x0)] = (uint8_t)c;
        }
}

static void blend(uint8_t *p, const float c[3], int cov)
{
    for (int k = 0; k < 3; k++) {
        float v = ((float)p[k] * (float)(16 - cov) + c[k] * (float)cov) / 16.0f;
        p[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
    }
}

static void line(uint8_t *rgb, int W, int H, float x0, float y0, float x1, float y1, float rad,
                 const float col[3])
{
    float s[4] = {x0, y0, x1, y1};
    int bx0 = (int)fmaxf(0, floorf(fminf(x0, x1) - rad - 1));
    int bx1 = (int)fminf((float)W, ceilf(fmaxf(x0, x1) + rad + 1));
    int by0 = (int)fmaxf(0, floorf(fminf(y0, y1) - rad - 1));
    int by1 = (int)fminf((float)H, ceilf(fmaxf(y0, y1) + rad + 1));
    for (int y = by0; y < by1; y++)
        for (int x = bx0; x < bx1; x++) {
            int c = 0;
            for (int sy = 0; sy < 4; sy++)
                for (int sx = 0; sx < 4; sx++)
                    c += det_seg_dist2((float)x + 0.125f + 0.25f * (float)sx,
                                       (float)y + 0.125f + 0.25f * (float)sy, s) <= rad * rad;
            if (c) blend(rgb + ((size_t)y * (size_t)W + (size_t)x) * 3, col, c);
        }
}

#define MAX_OBJ 64

int det_synth_image(const det_synth *s, uint64_t seed, int64_t index, uint8_t *rgb, det_box *boxes,
                    int max_boxes, int *nboxes, err *e)
{
    const det_synth_opts *o = &s->o;
    int W = o->w, H = o->h;
    *nboxes = 0;
    nn_rng r;
    nn_rng_seed(&r, nn_sample_seed(seed, 0x5e7, index));
    if (s->nphotos > 0 && nn_rng_uniform(&r) < 0.5f)
        bg_photo(s, &r, rgb);
    else
        bg_procedural(s, &r, rgb);
    int nlines = I(&r, 4);
    for (int i = 0; i < nlines; i++) {
        float col[3];
        rand_color(&r, col, 0, 0);
        float x0 = U(&r, 0, (float)W), y0 = U(&r, 0, (float)H);
        float x1 = U(&r, 0, (float)W), y1 = U(&r, 0, (float)H);
        line(rgb, W, H, x0, y0, x1, y1, U(&r, 0.5f, 1.5f), col);
    }

    size_t npix = (size_t)W * (size_t)H;
    int16_t *owner = malloc(npix * sizeof *owner);
    int side_max = (int)ceilf(o->max_side * 1.6f) + 4;
    uint8_t *cov = malloc((size_t)side_max * (size_t)side_max);
    if (!owner || !cov) {
        free(owner);
        free(cov);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < npix; i++)
        owner[i] = -1;
    int full[MAX_OBJ], vis[MAX_OBJ], cls[MAX_OBJ];
    int nobj = 0;
    int want = o->min_objects + I(&r, o->max_objects - o->min_objects + 1);
    for (int k = 0; k < want; k++) {
        for (int attempt = 0; attempt < 20; attempt++) {
            int c = I(&r, o->classes);
            float side = expf(U(&r, logf(o->min_side), logf(o->max_side)));
            float stretch = expf(U(&r, logf(0.8f), logf(1.25f)));
            float ang = c >= 6 ? U(&r, -0.44f, 0.44f) : U(&r, 0, 2 * (float)M_PI);
            float m = side * 0.4f;
            float cx = U(&r, m, (float)W - m), cy = U(&r, m, (float)H - m);
            int fill = I(&r, 10); /* 0-5 solid, 6-7 gradient, 8-9 stripes */
            bool outline = nn_rng_uniform(&r) < 0.3f;
            float c1[3], c2[3];
            float stripe_f = U(&r, 3, 7), stripe_a = U(&r, 0, (float)M_PI);
            obj ob;
            obj_init(&ob, c, cx, cy, side, stretch, ang);
            int rx0, ry0, rw, rh;
            coverage(&ob, W, H, cov, &rx0, &ry0, &rw, &rh);
            /* the background under the object, to pick a colour that stands out */
            double mean[3] = {0, 0, 0};
            int cnt = 0;
            for (int y = 0; y < rh; y++)
                for (int x = 0; x < rw; x++)
                    if (cov[(size_t)y * (size_t)rw + (size_t)x] >= 8) {
                        const uint8_t *p =
                            rgb + ((size_t)(ry0 + y) * (size_t)W + (size_t)(rx0 + x)) * 3;
                        for (int q = 0; q < 3; q++)
                            mean[q] += p[q];
                        cnt++;
                    }
            if (cnt < 12) continue;
            for (int q = 0; q < 3; q++)
                mean[q] /= cnt;
            for (int tries = 0; tries < 12; tries++) {
                rand_color(&r, c1, 0.35f, 40);
                double d = 0;
                for (int q = 0; q < 3; q++)
                    d += (c1[q] - mean[q]) * (c1[q] - mean[q]);
                if (d > 110.0 * 110.0) break;
            }
            for (int q = 0; q < 3; q++)
                c2[q] = fminf(255, fmaxf(0, c1[q] + U(&r, -70, 70)));
            /* occlusion: what would the object hide of the others? */
            int hidden[MAX_OBJ] = {0};
            for (int y = 0; y < rh; y++)
                for (int x = 0; x < rw; x++)
                    if (cov[(size_t)y * (size_t)rw + (size_t)x] >= 8) {
                        int16_t ow = owner[(size_t)(ry0 + y) * (size_t)W + (size_t)(rx0 + x)];
                        if (ow >= 0) hidden[ow]++;
                    }
            bool ok = true;
            for (int j = 0; j < nobj; j++)
                if (vis[j] - hidden[j] < (int)(0.6f * (float)full[j])) ok = false;
            if (!ok) continue;
            /* draw */
            float sc = cosf(stripe_a), ss = sinf(stripe_a);
            for (int y = 0; y < rh; y++)
                for (int x = 0; x < rw; x++) {
                    int cv = cov[(size_t)y * (size_t)rw + (size_t)x];
                    if (!cv) continue;
                    float col[3];
                    float px = (float)(rx0 + x), py = (float)(ry0 + y);
                    float t = 0;
                    if (fill >= 6) {
                        float u = ((px - cx) * sc + (py - cy) * ss) / side;
                        t = fill < 8 ? fminf(fmaxf(u + 0.5f, 0), 1)
                                     : (sinf(u * stripe_f * 2 * (float)M_PI) > 0 ? 1.f : 0.f);
                    }
                    for (int q = 0; q < 3; q++)
                        col[q] = c1[q] + (c2[q] - c1[q]) * t;
                    if (outline && cv < 16) {
                        for (int q = 0; q < 3; q++)
                            col[q] = c1[q] * 0.35f;
                    }
                    size_t pi = (size_t)(ry0 + y) * (size_t)W + (size_t)(rx0 + x);
                    blend(rgb + pi * 3, col, cv);
                    if (cv >= 8) {
                        if (owner[pi] >= 0) vis[owner[pi]]--;
                        owner[pi] = (int16_t)nobj;
                    }
                }
            int own = 0;
            for (int y = 0; y < rh; y++)
                for (int x = 0; x < rw; x++)
                    own += cov[(size_t)y * (size_t)rw + (size_t)x] >= 8;
            full[nobj] = vis[nobj] = own;
            cls[nobj] = c;
            nobj++;
            break;
        }
    }
    /* noise */
    float sigma = U(&r, 0, 5);
    if (sigma > 0.5f)
        for (size_t i = 0; i < npix * 3; i++) {
            float v = (float)rgb[i] + sigma * (float)nn_rng_normal(&r);
            rgb[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
        }
    /* boxes from the pixels each object owns */
    int bx0[MAX_OBJ], by0[MAX_OBJ], bx1[MAX_OBJ], by1[MAX_OBJ], cntp[MAX_OBJ];
    for (int j = 0; j < nobj; j++) {
        bx0[j] = by0[j] = 1 << 30;
        bx1[j] = by1[j] = -1;
        cntp[j] = 0;
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int ow = owner[(size_t)y * (size_t)W + (size_t)x];
            if (ow < 0) continue;
            cntp[ow]++;
            if (x < bx0[ow]) bx0[ow] = x;
            if (x > bx1[ow]) bx1[ow] = x;
            if (y < by0[ow]) by0[ow] = y;
            if (y > by1[ow]) by1[ow] = y;
        }
    int nb = 0;
    for (int j = 0; j < nobj; j++) {
        if (cntp[j] < 12) continue;
        if (nb == max_boxes) {
            free(owner);
            free(cov);
            return err_set(e, ERR_TOO_LARGE, "more than %d boxes", max_boxes);
        }
        boxes[nb++] = (det_box){(float)bx0[j],
                                (float)by0[j],
                                (float)(bx1[j] - bx0[j] + 1),
                                (float)(by1[j] - by0[j] + 1),
                                cls[j],
                                1.0f};
    }
    *nboxes = nb;
    free(owner);
    free(cov);
    return 0;
}

/* --- writing a dataset --------------------------------------------------------------- */

static int mkdirs(const char *path, err *e)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                return err_set(e, ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
            *p = '/';
        }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        return err_set(e, ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    return 0;
}

typedef struct gen_item {
    uint8_t *jpeg;
    size_t len;
    det_box boxes[MAX_OBJ];
    int n;
    int rc;
    err e;
} gen_item;

#define CHUNK 32

static void file_name(char *out, size_t n, const char *prefix, int64_t i)
{
    snprintf(out, n, "%s%06lld.jpg", prefix ? prefix : "", (long long)(i + 1));
}

/* The COCO writer takes every image before the shapes: images are
 * generated and saved chunk by chunk (in parallel), their boxes kept (24
 * bytes each), and the annotations written at the end. */
int det_synth_write(const det_synth *s, uint64_t seed, int64_t n, const char *out_dir,
                    const char *prefix, int threads, err *e)
{
    if (n < 0 || n > 1000000)
        return err_set(e, ERR_INVALID, "image count %lld (0 to 1,000,000)", (long long)n);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/images", out_dir);
    if (mkdirs(dir, e) < 0) return -1;
    int W = s->o.w, H = s->o.h;
    gen_item *items = calloc(CHUNK, sizeof *items);
    int64_t *first = calloc((size_t)n + 1, sizeof *first);
    det_box *all = NULL;
    int64_t nall = 0, cap = 0;
    int rc = 0;
    if (!items || !first) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (threads < 1) threads = 1;
    for (int64_t base = 0; base < n && rc == 0; base += CHUNK) {
        int cnt = (int)(n - base < CHUNK ? n - base : CHUNK);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
        for (int i = 0; i < cnt; i++) {
            gen_item *it = &items[i];
            it->rc = 0;
            uint8_t *rgb = malloc((size_t)W * (size_t)H * 3);
            if (!rgb) {
                it->rc = err_set(&it->e, ERR_INTERNAL, "out of memory");
                continue;
            }
            it->rc = det_synth_image(s, seed, base + i, rgb, it->boxes, MAX_OBJ, &it->n, &it->e);
            if (it->rc == 0) {
                image_pixels px = {rgb, (uint32_t)W, (uint32_t)H, 3, (size_t)W * 3};
                it->rc = image_encode_jpeg(&px, s->o.quality, &it->jpeg, &it->len, &it->e);
            }
            free(rgb);
        }
        for (int i = 0; i < cnt && rc == 0; i++) {
            gen_item *it = &items[i];
            if (it->rc < 0) {
                *e = it->e;
                rc = err_prefix(e, "image %lld", (long long)(base + i));
                break;
            }
            char fname[256], path[4096 + 300];
            file_name(fname, sizeof fname, prefix, base + i);
            snprintf(path, sizeof path, "%s/%s", dir, fname);
            FILE *f = fopen(path, "wb");
            bool ok = f && fwrite(it->jpeg, 1, it->len, f) == it->len;
            if (f && fclose(f) != 0) ok = false;
            if (!ok) {
                rc = err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(errno));
                break;
            }
            if (nall + it->n > cap) {
                int64_t nc = cap ? cap * 2 : 4096;
                det_box *p = realloc(all, (size_t)nc * sizeof *p);
                if (!p) {
                    rc = err_set(e, ERR_INTERNAL, "out of memory");
                    break;
                }
                all = p;
                cap = nc;
            }
            memcpy(all + nall, it->boxes, (size_t)it->n * sizeof *all);
            nall += it->n;
            first[base + i + 1] = nall;
        }
        for (int i = 0; i < cnt; i++) {
            free(items[i].jpeg);
            items[i].jpeg = NULL;
        }
    }
    if (rc == 0) {
        fmt_writer *w = fmt_writer_open(FMT_COCO, out_dir, NULL, e);
        if (!w) {
            rc = -1;
            goto out;
        }
        for (int k = 0; k < s->o.classes && rc == 0; k++) {
            fmt_category c = {.id = k + 1,
                              .name = det_synth_class_names[k],
                              .supercategory = k >= 6 ? "glyph" : "shape"};
            rc = fmt_write_category(w, &c, e);
        }
        char fname[256];
        for (int64_t i = 0; i < n && rc == 0; i++) {
            file_name(fname, sizeof fname, prefix, i);
            fmt_image im = {.id = i + 1, .file_name = fname, .width = W, .height = H};
            rc = fmt_write_image(w, &im, e);
        }
        for (int64_t i = 0; i < n && rc == 0; i++)
            for (int64_t j = first[i]; j < first[i + 1] && rc == 0; j++) {
                const det_box *b = &all[j];
                fmt_shape sh = {.image_id = i + 1,
                                .category_id = b->cls + 1,
                                .kind = FMT_BOX,
                                .bbox = {b->x, b->y, b->w, b->h},
                                .has_bbox = true,
                                .area = (double)b->w * b->h,
                                .score = NAN};
                rc = fmt_write_shape(w, &sh, e);
            }
        if (rc == 0)
            rc = fmt_writer_close(w, e);
        else
            fmt_writer_abort(w);
    }
out:
    free(items);
    free(first);
    free(all);
    return rc;
}
