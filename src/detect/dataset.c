/*
 * dataset.c - a COCO file and its image folder as a training source, for
 * the developer command and the benchmarks (the platform's jobs fetch from
 * the blob store instead, through their own det_fetch_fn).
 *
 * The file is read once through src/formats (streaming); images, their
 * sizes and boxes stay in memory (24 bytes a box), pixels are decoded on
 * fetch. Categories become classes 0..K-1 in increasing id order; boxes of
 * crowd annotations and shapes without a box are left out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_impl.h"
#include "formats/formats.h"
#include "image/image.h"

typedef struct ds_image {
    int64_t id;
    char *file;
    int w, h;
    int64_t first, n; /* boxes */
} ds_image;

struct det_dataset {
    char *dir;
    int ncat;
    int64_t *cat_id;
    char **cat_name;
    int64_t nimg, capimg;
    ds_image *img;
    int64_t nbox, capbox;
    det_box *box;
    int64_t *box_img; /* while reading: the image id of each box */
};

static int on_cat(void *ctx, const fmt_category *c, err *e)
{
    det_dataset *d = ctx;
    if (d->ncat >= DET_MAX_CLASSES)
        return err_set(e, ERR_TOO_LARGE, "more than %d categories", DET_MAX_CLASSES);
    int64_t *ni = realloc(d->cat_id, (size_t)(d->ncat + 1) * sizeof *ni);
    if (ni) d->cat_id = ni;
    char **nn = realloc(d->cat_name, (size_t)(d->ncat + 1) * sizeof *nn);
    if (nn) d->cat_name = nn;
    if (!ni || !nn) return err_set(e, ERR_INTERNAL, "out of memory");
    d->cat_id[d->ncat] = c->id;
    d->cat_name[d->ncat] = strdup(c->name ? c->name : "");
    d->ncat++;
    return 0;
}

static int on_img(void *ctx, const fmt_image *im, err *e)
{
    det_dataset *d = ctx;
    /* the reader delivers an image without a size (with a warning), and its
     * boxes unchecked against it; training needs both */
    if (im->width < 1 || im->height < 1)
        return err_set(e, ERR_INVALID,
                       "image %lld '%.200s' has no %s: training needs each image's size (add "
                       "\"width\" and \"height\" to the image)",
                       (long long)im->id, im->file_name ? im->file_name : "",
                       im->width < 1 ? "width" : "height");
    if (d->nimg == d->capimg) {
        int64_t nc = d->capimg ? d->capimg * 2 : 1024;
        ds_image *p = realloc(d->img, (size_t)nc * sizeof *p);
        if (!p) return err_set(e, ERR_INTERNAL, "out of memory");
        d->img = p;
        d->capimg = nc;
    }
    d->img[d->nimg++] = (ds_image){im->id, strdup(im->file_name), im->width, im->height, 0, 0};
    return 0;
}

static int on_shape(void *ctx, const fmt_shape *s, err *e)
{
    det_dataset *d = ctx;
    if (!s->has_bbox || s->iscrowd || s->bbox[2] <= 0 || s->bbox[3] <= 0) return 0;
    if (d->nbox == d->capbox) {
        int64_t nc = d->capbox ? d->capbox * 2 : 4096;
        det_box *p = realloc(d->box, (size_t)nc * sizeof *p);
        if (p) d->box = p;
        int64_t *q = realloc(d->box_img, (size_t)nc * sizeof *q);
        if (q) d->box_img = q;
        if (!p || !q) return err_set(e, ERR_INTERNAL, "out of memory");
        d->capbox = nc;
    }
    int cls = -1;
    for (int k = 0; k < d->ncat; k++)
        if (d->cat_id[k] == s->category_id) cls = k;
    if (cls < 0)
        return err_set(e, ERR_INVALID, "annotation %lld: unknown category %lld", (long long)s->id,
                       (long long)s->category_id);
    d->box[d->nbox] = (det_box){
        (float)s->bbox[0], (float)s->bbox[1], (float)s->bbox[2], (float)s->bbox[3], cls, 1.0f};
    d->box_img[d->nbox] = s->image_id;
    d->nbox++;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

typedef struct pair {
    int64_t img, i;
} pair;

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->img != y->img) return (x->img > y->img) - (x->img < y->img);
    return (x->i > y->i) - (x->i < y->i);
}

void det_dataset_free(det_dataset *d)
{
    if (!d) return;
    for (int k = 0; k < d->ncat; k++)
        free(d->cat_name[k]);
    for (int64_t i = 0; i < d->nimg; i++)
        free(d->img[i].file);
    free(d->cat_id);
    free(d->cat_name);
    free(d->img);
    free(d->box);
    free(d->box_img);
    free(d->dir);
    free(d);
}

det_dataset *det_dataset_open_coco(const char *json_path, const char *images_dir, err *e)
{
    det_dataset *d = calloc(1, sizeof *d);
    if (!d || !(d->dir = strdup(images_dir))) {
        free(d);
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    fmt_read_cb cb = {d, on_cat, on_img, on_shape};
    fmt_report rep = {0};
    int rc = fmt_read(FMT_COCO, json_path, NULL, &cb, &rep, e);
    fmt_report_free(&rep);
    if (rc < 0) {
        err_prefix(e, "%s", json_path);
        det_dataset_free(d);
        return NULL;
    }
    if (d->ncat == 0 || d->nimg == 0) {
        err_set(e, ERR_UNPROCESSABLE, "%s has no %s", json_path,
                d->ncat == 0 ? "categories" : "images");
        det_dataset_free(d);
        return NULL;
    }
    /* classes in increasing category id order */
    int64_t *ids = malloc((size_t)d->ncat * sizeof *ids);
    int *remap = malloc((size_t)d->ncat * sizeof *remap);
    char **names = malloc((size_t)d->ncat * sizeof *names);
    if (!ids || !remap || !names) {
        free(ids);
        free(remap);
        free(names);
        det_dataset_free(d);
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    memcpy(ids, d->cat_id, (size_t)d->ncat * sizeof *ids);
    qsort(ids, (size_t)d->ncat, sizeof *ids, cmp_i64);
    for (int k = 0; k < d->ncat; k++)
        for (int j = 0; j < d->ncat; j++)
            if (d->cat_id[k] == ids[j]) {
                remap[k] = j;
                names[j] = d->cat_name[k];
            }
    for (int64_t i = 0; i < d->nbox; i++)
        d->box[i].cls = remap[d->box[i].cls];
    memcpy(d->cat_id, ids, (size_t)d->ncat * sizeof *ids);
    memcpy(d->cat_name, names, (size_t)d->ncat * sizeof *names);
    free(ids);
    free(remap);
    free(names);
    /* group boxes by image, images in file order (whatever their ids):
     * image ids sorted for lookup, then (image index, box index) pairs */
    det_box *sorted = malloc((size_t)(d->nbox ? d->nbox : 1) * sizeof *sorted);
    pair *pr = malloc((size_t)(d->nbox ? d->nbox : 1) * sizeof *pr);
    pair *byid = malloc((size_t)d->nimg * sizeof *byid);
    if (!sorted || !pr || !byid) {
        free(sorted);
        free(pr);
        free(byid);
        det_dataset_free(d);
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < d->nimg; i++)
        byid[i] = (pair){d->img[i].id, i};
    qsort(byid, (size_t)d->nimg, sizeof *byid, cmp_pair);
    const char *bad = NULL;
    int64_t bad_id = 0;
    for (int64_t i = 1; i < d->nimg && !bad; i++)
        if (byid[i].img == byid[i - 1].img) {
            bad = "appears twice among the images";
            bad_id = byid[i].img;
        }
    for (int64_t i = 0; i < d->nbox && !bad; i++) {
        pair key = {d->box_img[i], -1};
        int64_t lo = 0, hi = d->nimg; /* first byid >= key */
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if (cmp_pair(&byid[mid], &key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == d->nimg || byid[lo].img != key.img) {
            bad = "has annotations but is not among the images";
            bad_id = key.img;
        } else {
            pr[i] = (pair){byid[lo].i, i};
        }
    }
    free(byid);
    if (bad) {
        err_set(e, ERR_UNPROCESSABLE, "%s: image id %lld %s", json_path, (long long)bad_id, bad);
        free(pr);
        free(sorted);
        det_dataset_free(d);
        return NULL;
    }
    qsort(pr, (size_t)d->nbox, sizeof *pr, cmp_pair);
    int64_t j = 0;
    for (int64_t i = 0; i < d->nimg; i++) {
        ds_image *im = &d->img[i];
        im->first = j;
        while (j < d->nbox && pr[j].img == i)
            j++;
        im->n = j - im->first;
        if (im->n > DET_MAX_BOXES) {
            err_set(e, ERR_TOO_LARGE, "%s: image %lld has %lld boxes (at most %d)", json_path,
                    (long long)im->id, (long long)im->n, DET_MAX_BOXES);
            free(pr);
            free(sorted);
            det_dataset_free(d);
            return NULL;
        }
    }
    for (int64_t i = 0; i < d->nbox; i++)
        sorted[i] = d->box[pr[i].i];
    free(d->box);
    d->box = sorted;
    free(pr);
    free(d->box_img);
    d->box_img = NULL;
    return d;
}

int64_t det_dataset_count(const det_dataset *d)
{
    return d->nimg;
}

int det_dataset_classes(const det_dataset *d, const char *const **names)
{
    if (names) *names = (const char *const *)d->cat_name;
    return d->ncat;
}

void det_dataset_image(const det_dataset *d, int64_t i, int64_t *id, const char **file, int *w,
                       int *h, const det_box **boxes, int *n)
{
    const ds_image *im = &d->img[i];
    if (id) *id = im->id;
    if (file) *file = im->file;
    if (w) *w = im->w;
    if (h) *h = im->h;
    if (boxes) *boxes = d->box + im->first;
    if (n) *n = (int)im->n;
}

int det_dataset_fetch(void *ud, int64_t index, det_sample *out, err *e)
{
    const det_dataset *d = ud;
    if (index < 0 || index >= d->nimg)
        return err_set(e, ERR_INVALID, "image %lld is outside [0, %lld)", (long long)index,
                       (long long)d->nimg);
    const ds_image *im = &d->img[index];
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", d->dir, im->file);
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, ERR_NOT_FOUND, "cannot open %s", path);
    uint8_t *buf = NULL;
    long len = 0;
    int rc = 0;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(buf = malloc((size_t)len)) || fread(buf, 1, (size_t)len, f) != (size_t)len)
        rc = err_set(e, ERR_IO, "cannot read %s", path);
    fclose(f);
    image_pixels px = {0};
    if (rc == 0) {
        image_decode_opts op = {.channels = 3};
        if (image_decode(buf, (size_t)len, &op, &px, e) < 0) rc = err_prefix(e, "%s", path);
    }
    free(buf);
    if (rc < 0) return rc;
    uint8_t *dst = det_sample_image(out, (int)px.width, (int)px.height, 3);
    det_box *b = det_sample_boxes(out, (int)im->n);
    if (!dst || (!b && im->n > 0)) {
        image_pixels_free(&px);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (uint32_t y = 0; y < px.height; y++)
        memcpy(dst + (size_t)y * px.width * 3, px.data + (size_t)y * px.stride,
               (size_t)px.width * 3);
    /* boxes are in the pixels of the image as displayed; when the file's
     * size differs from the annotation's (a resized copy), scale them */
    float sx = im->w > 0 ? (float)px.width / (float)im->w : 1;
    float sy = im->h > 0 ? (float)px.height / (float)im->h : 1;
    for (int64_t i = 0; i < im->n; i++) {
        det_box bb = d->box[im->first + i];
        bb.x *= sx;
        bb.w *= sx;
        bb.y *= sy;
        bb.h *= sy;
        b[i] = bb;
    }
    image_pixels_free(&px);
    return 0;
}
