/*
 * formats_util.h - helpers for the format tests: a consumer that keeps deep
 * copies of every record (tds), writing a tds through a writer, comparing
 * two, small files and fake image files made in the test. Everything is
 * static inline: included by several test files.
 */
#ifndef CVOPS_TEST_FORMATS_UTIL_H
#define CVOPS_TEST_FORMATS_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/formats.h"
#include "testutil.h"

typedef struct tcat {
    int64_t id;
    char *name, *super;
    int nkp, nskel;
    char **kpn;
    int *skel;
} tcat;

typedef struct timg {
    int64_t id;
    char *file_name, *path, *split;
    int w, h;
} timg;

typedef struct tshape {
    fmt_shape s; /* pointers inside point to the copies below */
} tshape;

typedef struct tds {
    tcat *cats;
    int ncats;
    timg *imgs;
    int nimgs;
    tshape *shapes;
    int nshapes;
    int order_errors; /* records delivered out of categories-images-shapes order */
    int stage;
} tds;

/* A small COCO document of every shape kind, in COCO's own key order
 * (images, annotations, then categories). */
static inline const char *t_coco_sample(void)
{
    return
    "{\"info\": {\"year\": 2017}, \"licenses\": [],\n"
    " \"images\": [\n"
    "  {\"id\": 10, \"file_name\": \"a.jpg\", \"width\": 640, \"height\": 480},\n"
    "  {\"id\": 11, \"file_name\": \"sub/b.jpg\", \"width\": 4, \"height\": 3}\n"
    " ],\n"
    " \"annotations\": [\n"
    "  {\"id\": 1, \"image_id\": 10, \"category_id\": 3, \"bbox\": [10.5, 20, 100, 50.25],"
    "   \"area\": 5025, \"iscrowd\": 0, \"segmentation\": []},\n"
    "  {\"id\": 2, \"image_id\": 10, \"category_id\": 3, \"bbox\": [0, 0, 30, 30],"
    "   \"segmentation\": [[0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 30, 20, 30]],"
    "   \"iscrowd\": 0, \"attributes\": {\"occluded\": true, \"note\": \"x\"}},\n"
    "  {\"id\": 3, \"image_id\": 11, \"category_id\": 7, \"iscrowd\": 1,"
    "   \"segmentation\": {\"size\": [3, 4], \"counts\": [2, 3, 1, 6]}, \"bbox\": [0, 0, 4, 3]},\n"
    "  {\"id\": 4, \"image_id\": 11, \"category_id\": 7, \"iscrowd\": 0,"
    "   \"segmentation\": {\"size\": [3, 4], \"counts\": \"2313\"}, \"score\": 0.75},\n"
    "  {\"id\": 5, \"image_id\": 10, \"category_id\": 9, \"bbox\": [100, 100, 50, 80],"
    "   \"keypoints\": [110, 120, 2, 0, 0, 0, 130.5, 140, 1], \"num_keypoints\": 2}\n"
    " ],\n"
    " \"categories\": [\n"
    "  {\"id\": 3, \"name\": \"car\", \"supercategory\": \"vehicle\"},\n"
    "  {\"id\": 7, \"name\": \"road\"},\n"
    "  {\"id\": 9, \"name\": \"person\", \"keypoints\": [\"nose\", \"l_eye\", \"r_eye\"],"
    "   \"skeleton\": [[1, 2], [1, 3]]}\n"
    " ]}\n";
}

static inline char *t_dup(const char *s) { return s ? strdup(s) : NULL; }

/* test_tmpdir() returns one static buffer: keep up to 64 at once */
static inline const char *t_tmpdir(void)
{
    static char dirs[64][64];
    static int next;
    char *d = dirs[next++ % 64];
    snprintf(d, sizeof dirs[0], "%s", test_tmpdir());
    return d;
}

static inline void *t_memdup(const void *p, size_t n)
{
    if (!p || !n)
        return NULL;
    void *q = malloc(n);
    memcpy(q, p, n);
    return q;
}

static inline int tds_cat(void *ctx, const fmt_category *c, err *e)
{
    (void)e;
    tds *d = ctx;
    if (d->stage > 0)
        d->order_errors++;
    d->cats = realloc(d->cats, (size_t)(d->ncats + 1) * sizeof *d->cats);
    tcat *t = &d->cats[d->ncats++];
    t->id = c->id;
    t->name = t_dup(c->name);
    t->super = t_dup(c->supercategory);
    t->nkp = c->nkeypoints;
    t->kpn = NULL;
    if (c->nkeypoints) {
        t->kpn = calloc((size_t)c->nkeypoints, sizeof *t->kpn);
        for (int i = 0; i < c->nkeypoints; i++)
            t->kpn[i] = t_dup(c->keypoints ? c->keypoints[i] : NULL);
    }
    t->nskel = c->nskeleton;
    t->skel = t_memdup(c->skeleton, (size_t)c->nskeleton * 2 * sizeof(int));
    return 0;
}

static inline int tds_img(void *ctx, const fmt_image *im, err *e)
{
    (void)e;
    tds *d = ctx;
    if (d->stage > 1)
        d->order_errors++;
    d->stage = 1;
    if ((d->nimgs & (d->nimgs - 1)) == 0)
        d->imgs = realloc(d->imgs, (size_t)(d->nimgs ? 2 * d->nimgs : 1) * sizeof *d->imgs);
    timg *t = &d->imgs[d->nimgs++];
    t->id = im->id;
    t->file_name = t_dup(im->file_name);
    t->path = t_dup(im->path);
    t->split = t_dup(im->split);
    t->w = im->width;
    t->h = im->height;
    return 0;
}

static inline int tds_shape(void *ctx, const fmt_shape *s, err *e)
{
    (void)e;
    tds *d = ctx;
    d->stage = 2;
    if ((d->nshapes & (d->nshapes - 1)) == 0) /* grow at powers of two */
        d->shapes = realloc(d->shapes, (size_t)(d->nshapes ? 2 * d->nshapes : 1) * sizeof *d->shapes);
    fmt_shape *c = &d->shapes[d->nshapes++].s;
    *c = *s;
    c->points = t_memdup(s->points, (size_t)s->npoints * 2 * sizeof(double));
    c->ring_sizes = t_memdup(s->ring_sizes, (size_t)s->nrings * sizeof(int));
    c->kp = t_memdup(s->kp, (size_t)s->nkp * 3 * sizeof(double));
    c->rle_counts = t_memdup(s->rle_counts, (size_t)s->nrle * sizeof(uint32_t));
    c->rle_string = t_dup(s->rle_string);
    c->attributes = t_dup(s->attributes);
    return 0;
}

static inline fmt_read_cb tds_cb(tds *d)
{
    fmt_read_cb cb = {d, tds_cat, tds_img, tds_shape};
    return cb;
}

static inline void tds_free(tds *d)
{
    for (int i = 0; i < d->ncats; i++) {
        free(d->cats[i].name);
        free(d->cats[i].super);
        for (int k = 0; k < d->cats[i].nkp; k++)
            free(d->cats[i].kpn[k]);
        free(d->cats[i].kpn);
        free(d->cats[i].skel);
    }
    for (int i = 0; i < d->nimgs; i++) {
        free(d->imgs[i].file_name);
        free(d->imgs[i].path);
        free(d->imgs[i].split);
    }
    for (int i = 0; i < d->nshapes; i++) {
        fmt_shape *s = &d->shapes[i].s;
        free((void *)s->points);
        free((void *)s->ring_sizes);
        free((void *)s->kp);
        free((void *)s->rle_counts);
        free((void *)s->rle_string);
        free((void *)s->attributes);
    }
    free(d->cats);
    free(d->imgs);
    free(d->shapes);
    memset(d, 0, sizeof *d);
}

/* Reads path; asserts success unless expect_fail. */
static inline int tds_read(fmt_format f, const char *path, const fmt_read_opts *o, tds *d,
                           fmt_report *rep, err *e)
{
    memset(d, 0, sizeof *d);
    fmt_read_cb cb = tds_cb(d);
    return fmt_read(f, path, o, &cb, rep, e);
}

static inline void report_dump(const fmt_report *rep)
{
    for (int i = 0; i < rep->n; i++)
        fprintf(stderr, "  %s%s: %s\n", rep->items[i].warning ? "(warning) " : "",
                rep->items[i].where, rep->items[i].message);
}

/* Reads path, which must have no errors. */
static inline void tds_read_ok(fmt_format f, const char *path, const fmt_read_opts *o, tds *d)
{
    fmt_report rep = {0};
    err e;
    int rc = tds_read(f, path, o, d, &rep, &e);
    if (rc != 0 || rep.total)
        report_dump(&rep);
    cr_assert_eq(rc, 0, "reading %s: %s", path, e.msg);
    cr_assert_eq(rep.total, 0);
    cr_assert_eq(d->order_errors, 0, "records out of order");
    fmt_report_free(&rep);
}

static inline const timg *tds_img_by_id(const tds *d, int64_t id)
{
    for (int i = 0; i < d->nimgs; i++)
        if (d->imgs[i].id == id)
            return &d->imgs[i];
    return NULL;
}

static inline const tcat *tds_cat_by_id(const tds *d, int64_t id)
{
    for (int i = 0; i < d->ncats; i++)
        if (d->cats[i].id == id)
            return &d->cats[i];
    return NULL;
}

/* Writes d through a writer: categories, images, then shapes grouped by
 * image (in image order, keeping their order within an image). Shapes the
 * format refuses (ERR_UNSUPPORTED) are counted in *skipped if given. */
static inline int tds_write(const tds *d, fmt_format f, const char *dir, const fmt_write_opts *o,
                            int *skipped, err *e)
{
    fmt_writer *w = fmt_writer_open(f, dir, o, e);
    if (!w)
        return -1;
    for (int i = 0; i < d->ncats; i++) {
        const tcat *c = &d->cats[i];
        fmt_category fc = {c->id, c->name, c->super, (const char *const *)c->kpn, c->nkp, c->skel,
                           c->nskel};
        if (fmt_write_category(w, &fc, e) < 0)
            goto fail;
    }
    for (int i = 0; i < d->nimgs; i++) {
        const timg *t = &d->imgs[i];
        fmt_image im = {t->id, t->file_name, t->w, t->h, t->path, t->split};
        if (fmt_write_image(w, &im, e) < 0)
            goto fail;
    }
    for (int i = 0; i < d->nimgs; i++)
        for (int k = 0; k < d->nshapes; k++) {
            if (d->shapes[k].s.image_id != d->imgs[i].id)
                continue;
            if (fmt_write_shape(w, &d->shapes[k].s, e) < 0) {
                if (e->code == ERR_UNSUPPORTED && skipped) {
                    (*skipped)++;
                    continue;
                }
                goto fail;
            }
        }
    return fmt_writer_close(w, e);
fail:
    fmt_writer_abort(w);
    return -1;
}

static inline void t_write(const char *dir, const char *rel, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *s = path + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(path, 0755);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static inline char *t_read(const char *dir, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

/* A JPEG that image_probe accepts: SOI, a frame header with the size, a
 * scan header, two bytes of data, EOI. No pixels are ever decoded. */
static inline void t_jpeg(const char *dir, const char *rel, int w, int h)
{
    unsigned char j[] = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, (unsigned char)(h >> 8),
                         (unsigned char)h, (unsigned char)(w >> 8), (unsigned char)w, 0x03,
                         0x01, 0x11, 0x00, 0x02, 0x11, 0x00, 0x03, 0x11, 0x00,
                         0xFF, 0xDA, 0x00, 0x0C, 0x03, 0x01, 0x00, 0x02, 0x11, 0x03, 0x11,
                         0x00, 0x3F, 0x00, 0x12, 0x34, 0xFF, 0xD9};
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *s = path + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(path, 0755);
        *s = '/';
    }
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fwrite(j, 1, sizeof j, f);
    fclose(f);
}

static inline bool t_near(double a, double b, double rel)
{
    double m = fmax(fabs(a), fabs(b));
    return fabs(a - b) <= rel * (m > 1 ? m : 1);
}

/* Asserts the problem list holds one with this location whose message
 * contains `msg`. */
static inline void t_has_problem(const fmt_report *rep, const char *where, const char *msg)
{
    for (int i = 0; i < rep->n; i++)
        if (strcmp(rep->items[i].where, where) == 0 && strstr(rep->items[i].message, msg))
            return;
    report_dump(rep);
    cr_assert_fail("no problem at '%s' containing '%s'", where, msg);
}

#endif
