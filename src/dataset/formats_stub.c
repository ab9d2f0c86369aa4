/*
 * formats_stub.c - TEMPORARY stand-in for src/formats/ (the interchange
 * formats library, written on its own branch behind src/formats/formats.h)
 * so that the dataset module links and its import/export tests run before
 * that library is merged.
 *
 * It compiles to nothing as soon as the real library is in the tree (the
 * formats branch adds src/cli/dataset_validate.c and the src/formats sources), so
 * merging the two branches needs no edit; delete this file afterwards.
 *
 * What it does: COCO only, read with a jansson DOM (not streaming: fine
 * for tests, not for the 220 MB benchmark) and written as a stream;
 * every other format answers ERR_UNSUPPORTED.
 */
#if !__has_include("cli/dataset_validate.c") && !__has_include("formats/coco.c") &&             \
    !__has_include("formats/formats.c")

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
/* formats.h has a slash-star inside a comment (-Wcomment); until
 * the formats branch fixes it: */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wcomment"
#include "formats/formats.h"
#pragma GCC diagnostic pop

const char *fmt_format_name(fmt_format f)
{
    static const char *const n[] = {"?", "coco", "yolo", "voc", "folder", "csv"};
    return f >= FMT_COCO && f <= FMT_CSV ? n[f] : "?";
}

int fmt_format_parse(const char *s, fmt_format *out, err *e)
{
    for (int f = FMT_COCO; f <= FMT_CSV; f++)
        if (s && strcmp(s, fmt_format_name((fmt_format)f)) == 0) {
            *out = (fmt_format)f;
            return 0;
        }
    return err_set(e, ERR_INVALID, "format '%.40s' is not one of coco, yolo, voc, folder, csv",
                   s ? s : "");
}

void fmt_report_add(fmt_report *r, const char *where, const char *fmt, ...)
{
    r->total++;
    int max = r->max ? r->max : 1000;
    if (r->n >= max)
        return;
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 16;
        fmt_problem *p = realloc(r->items, (size_t)cap * sizeof *p);
        if (!p)
            return;
        r->items = p;
        r->cap = cap;
    }
    fmt_problem *p = &r->items[r->n++];
    snprintf(p->where, sizeof p->where, "%s", where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof p->message, fmt, ap);
    va_end(ap);
}

void fmt_report_free(fmt_report *r)
{
    free(r->items);
    r->items = NULL;
    r->n = r->cap = 0;
}

static int problem(fmt_report *rep, const fmt_read_opts *o, err *e, const char *where,
                   const char *msg)
{
    fmt_report_add(rep, where, "%s", msg);
    if (o && o->keep_going)
        return 0;
    return err_set(e, ERR_UNPROCESSABLE, "%s: %s", where, msg);
}

static int coco_read(const char *path, const fmt_read_opts *o, const fmt_read_cb *cb,
                     fmt_report *rep, err *e)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc) {
        char where[64];
        snprintf(where, sizeof where, "line %d", je.line);
        fmt_report_add(rep, where, "%s", je.text);
        return err_set(e, ERR_UNPROCESSABLE, "%s: %s", where, je.text);
    }
    int rc = 0;
    if (!json_is_object(doc)) {
        rc = problem(rep, NULL, e, "$", "a COCO file is a JSON object");
        goto out;
    }
    json_t *cats = json_object_get(doc, "categories"), *imgs = json_object_get(doc, "images"),
           *anns = json_object_get(doc, "annotations");
    size_t i;
    json_t *v;
    char where[64];
    json_array_foreach(cats, i, v)
    {
        snprintf(where, sizeof where, "categories[%zu]", i);
        json_t *id = json_object_get(v, "id"), *name = json_object_get(v, "name");
        if (!json_is_integer(id) || !json_is_string(name)) {
            if ((rc = problem(rep, o, e, where, "needs an integer 'id' and a string 'name'")))
                goto out;
            continue;
        }
        fmt_category c = {.id = json_integer_value(id), .name = json_string_value(name)};
        json_t *sc = json_object_get(v, "supercategory");
        c.supercategory = json_is_string(sc) ? json_string_value(sc) : NULL;
        json_t *kp = json_object_get(v, "keypoints"), *sk = json_object_get(v, "skeleton");
        const char *names[256];
        int pairs[1024];
        if (json_is_array(kp) && json_array_size(kp) > 0 && json_array_size(kp) <= 256) {
            for (size_t k = 0; k < json_array_size(kp); k++)
                names[k] = json_string_value(json_array_get(kp, k)) ? json_string_value(json_array_get(kp, k)) : "?";
            c.keypoints = names;
            c.nkeypoints = (int)json_array_size(kp);
            for (size_t k = 0; json_is_array(sk) && k < json_array_size(sk) && k < 512; k++) {
                pairs[2 * k] = (int)json_integer_value(json_array_get(json_array_get(sk, k), 0));
                pairs[2 * k + 1] = (int)json_integer_value(json_array_get(json_array_get(sk, k), 1));
                c.nskeleton = (int)k + 1;
            }
            c.skeleton = pairs;
        }
        if (cb->category && (rc = cb->category(cb->ctx, &c, e)))
            goto out;
        rep->categories++;
    }
    json_array_foreach(imgs, i, v)
    {
        snprintf(where, sizeof where, "images[%zu]", i);
        json_t *id = json_object_get(v, "id"), *fn = json_object_get(v, "file_name");
        if (!json_is_integer(id) || !json_is_string(fn)) {
            if ((rc = problem(rep, o, e, where, "needs an integer 'id' and a string 'file_name'")))
                goto out;
            continue;
        }
        fmt_image im = {json_integer_value(id), json_string_value(fn),
                        (int)json_integer_value(json_object_get(v, "width")),
                        (int)json_integer_value(json_object_get(v, "height"))};
        if (cb->image && (rc = cb->image(cb->ctx, &im, e)))
            goto out;
        rep->images++;
    }
    json_array_foreach(anns, i, v)
    {
        snprintf(where, sizeof where, "annotations[%zu]", i);
        json_t *id = json_object_get(v, "id"), *img = json_object_get(v, "image_id"),
               *cat = json_object_get(v, "category_id"), *bb = json_object_get(v, "bbox"),
               *seg = json_object_get(v, "segmentation"), *kp = json_object_get(v, "keypoints");
        if (!json_is_integer(img) || !json_is_integer(cat)) {
            if ((rc = problem(rep, o, e, where, "needs integer 'image_id' and 'category_id'")))
                goto out;
            continue;
        }
        fmt_shape s = {.id = json_integer_value(id), .image_id = json_integer_value(img),
                       .category_id = json_integer_value(cat), .area = NAN, .score = NAN};
        if (json_is_array(bb) && json_array_size(bb) == 4) {
            for (int k = 0; k < 4; k++) {
                if (!json_is_number(json_array_get(bb, (size_t)k)))
                    goto badbox;
                s.bbox[k] = json_number_value(json_array_get(bb, (size_t)k));
            }
            s.has_bbox = true;
        } else if (bb) {
        badbox:
            if ((rc = problem(rep, o, e, where, "bbox: expected 4 numbers")))
                goto out;
            continue;
        }
        if (json_is_number(json_object_get(v, "area")))
            s.area = json_number_value(json_object_get(v, "area"));
        if (json_is_number(json_object_get(v, "score")))
            s.score = json_number_value(json_object_get(v, "score"));
        s.iscrowd = json_integer_value(json_object_get(v, "iscrowd")) != 0;
        double *pts = NULL;
        int *rings = NULL;
        uint32_t *counts = NULL;
        if (json_is_array(kp) && json_array_size(kp) > 0) {
            s.kind = FMT_KEYPOINTS;
            pts = malloc(json_array_size(kp) * sizeof *pts);
            for (size_t k = 0; k < json_array_size(kp); k++)
                pts[k] = json_number_value(json_array_get(kp, k));
            s.kp = pts;
            s.nkp = (int)(json_array_size(kp) / 3);
        } else if (json_is_array(seg) && json_array_size(seg) > 0) {
            s.kind = FMT_POLYGON;
            size_t total = 0, nr = json_array_size(seg);
            for (size_t r = 0; r < nr; r++)
                total += json_array_size(json_array_get(seg, r));
            pts = malloc((total ? total : 1) * sizeof *pts);
            rings = malloc(nr * sizeof *rings);
            size_t off = 0;
            for (size_t r = 0; r < nr; r++) {
                json_t *ring = json_array_get(seg, r);
                for (size_t k = 0; k < json_array_size(ring); k++)
                    pts[off++] = json_number_value(json_array_get(ring, k));
                rings[r] = (int)(json_array_size(ring) / 2);
            }
            s.points = pts;
            s.npoints = (int)(off / 2);
            if (nr > 1) {
                s.ring_sizes = rings;
                s.nrings = (int)nr;
            }
        } else if (json_is_object(seg)) {
            s.kind = FMT_MASK_RLE;
            json_t *sz = json_object_get(seg, "size"), *cn = json_object_get(seg, "counts");
            s.rle_h = (int)json_integer_value(json_array_get(sz, 0));
            s.rle_w = (int)json_integer_value(json_array_get(sz, 1));
            if (json_is_string(cn)) {
                s.rle_string = json_string_value(cn);
            } else {
                counts = malloc((json_array_size(cn) + 1) * sizeof *counts);
                for (size_t k = 0; k < json_array_size(cn); k++)
                    counts[k] = (uint32_t)json_integer_value(json_array_get(cn, k));
                s.rle_counts = counts;
                s.nrle = (int)json_array_size(cn);
            }
        } else if (s.has_bbox) {
            s.kind = FMT_BOX;
        } else {
            if ((rc = problem(rep, o, e, where, "has no bbox, segmentation or keypoints")))
                goto out;
            continue;
        }
        if (cb->shape)
            rc = cb->shape(cb->ctx, &s, e);
        free(pts);
        free(rings);
        free(counts);
        if (rc)
            goto out;
        rep->shapes++;
    }
out:
    json_decref(doc);
    return rc;
}

int fmt_read(fmt_format f, const char *path, const fmt_read_opts *opts, const fmt_read_cb *cb,
             fmt_report *rep, err *e)
{
    if (f != FMT_COCO)
        return err_set(e, ERR_UNSUPPORTED, "format '%s' is not available in this build",
                       fmt_format_name(f));
    return coco_read(path, opts, cb, rep, e);
}

/* --- writing ---------------------------------------------------------------------------------- */

struct fmt_writer {
    FILE *f;
    int state; /* 0 categories, 1 images, 2 annotations */
    bool first;
    int64_t next_id;
    char path[4096];
};

fmt_writer *fmt_writer_open(fmt_format f, const char *out_dir, const fmt_write_opts *opts, err *e)
{
    (void)opts;
    if (f != FMT_COCO) {
        err_set(e, ERR_UNSUPPORTED, "format '%s' is not available in this build", fmt_format_name(f));
        return NULL;
    }
    mkdir(out_dir, 0750);
    fmt_writer *w = calloc(1, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s/annotations.json", out_dir);
    w->f = fopen(w->path, "w");
    if (!w->f) {
        err_set(e, ERR_IO, "cannot create %s: %s", w->path, strerror(errno));
        free(w);
        return NULL;
    }
    fputs("{\"categories\":[", w->f);
    w->first = true;
    w->next_id = 1;
    return w;
}

static void put(fmt_writer *w, sbuf *b)
{
    if (!w->first)
        fputc(',', w->f);
    w->first = false;
    fwrite(b->p, 1, b->len, w->f);
}

static void advance(fmt_writer *w, int state)
{
    while (w->state < state) {
        w->state++;
        fputs(w->state == 1 ? "],\"images\":[" : "],\"annotations\":[", w->f);
        w->first = true;
    }
}

int fmt_write_category(fmt_writer *w, const fmt_category *c, err *e)
{
    (void)e;
    sbuf b = SBUF_INIT;
    jw j;
    jw_init(&j, &b);
    jw_obj(&j);
    jw_kint(&j, "id", c->id);
    jw_kstr(&j, "name", c->name);
    jw_kstr(&j, "supercategory", c->supercategory ? c->supercategory : "");
    if (c->keypoints) {
        jw_key(&j, "keypoints");
        jw_arr(&j);
        for (int i = 0; i < c->nkeypoints; i++)
            jw_str(&j, c->keypoints[i]);
        jw_arr_end(&j);
        jw_key(&j, "skeleton");
        jw_arr(&j);
        for (int i = 0; i < c->nskeleton; i++) {
            jw_arr(&j);
            jw_int(&j, c->skeleton[2 * i]);
            jw_int(&j, c->skeleton[2 * i + 1]);
            jw_arr_end(&j);
        }
        jw_arr_end(&j);
    }
    jw_obj_end(&j);
    put(w, &b);
    sbuf_free(&b);
    return 0;
}

int fmt_write_image(fmt_writer *w, const fmt_image *im, err *e)
{
    (void)e;
    advance(w, 1);
    sbuf b = SBUF_INIT;
    jw j;
    jw_init(&j, &b);
    jw_obj(&j);
    jw_kint(&j, "id", im->id);
    jw_kstr(&j, "file_name", im->file_name);
    jw_kint(&j, "width", im->width);
    jw_kint(&j, "height", im->height);
    jw_obj_end(&j);
    put(w, &b);
    sbuf_free(&b);
    return 0;
}

static void nums(jw *j, const double *p, int n)
{
    jw_arr(j);
    for (int i = 0; i < n; i++)
        jw_dbl(j, p[i]);
    jw_arr_end(j);
}

int fmt_write_shape(fmt_writer *w, const fmt_shape *s, err *e)
{
    (void)e;
    advance(w, 2);
    sbuf b = SBUF_INIT;
    jw j;
    jw_init(&j, &b);
    jw_obj(&j);
    jw_kint(&j, "id", w->next_id++);
    jw_kint(&j, "image_id", s->image_id);
    jw_kint(&j, "category_id", s->category_id);
    jw_key(&j, "segmentation");
    if (s->kind == FMT_POLYGON) {
        jw_arr(&j);
        int off = 0, nr = s->ring_sizes ? s->nrings : 1;
        for (int r = 0; r < nr; r++) {
            int k = s->ring_sizes ? s->ring_sizes[r] : s->npoints;
            nums(&j, s->points + 2 * off, 2 * k);
            off += k;
        }
        jw_arr_end(&j);
    } else if (s->kind == FMT_MASK_RLE) {
        jw_obj(&j);
        jw_key(&j, "size");
        jw_arr(&j);
        jw_int(&j, s->rle_h);
        jw_int(&j, s->rle_w);
        jw_arr_end(&j);
        jw_key(&j, "counts");
        if (s->rle_string) {
            jw_str(&j, s->rle_string);
        } else {
            jw_arr(&j);
            for (int i = 0; i < s->nrle; i++)
                jw_int(&j, s->rle_counts[i]);
            jw_arr_end(&j);
        }
        jw_obj_end(&j);
    } else {
        jw_arr(&j);
        jw_arr_end(&j);
    }
    if (s->kind == FMT_KEYPOINTS) {
        jw_key(&j, "keypoints");
        nums(&j, s->kp, 3 * s->nkp);
        int vis = 0;
        for (int i = 0; i < s->nkp; i++)
            vis += s->kp[3 * i + 2] > 0;
        jw_kint(&j, "num_keypoints", vis);
    }
    if (s->has_bbox) {
        jw_key(&j, "bbox");
        nums(&j, s->bbox, 4);
    }
    if (!isnan(s->area))
        jw_kdbl(&j, "area", s->area);
    else if (s->has_bbox)
        jw_kdbl(&j, "area", s->bbox[2] * s->bbox[3]);
    if (!isnan(s->score))
        jw_kdbl(&j, "score", s->score);
    jw_kint(&j, "iscrowd", s->iscrowd ? 1 : 0);
    jw_obj_end(&j);
    put(w, &b);
    sbuf_free(&b);
    return 0;
}

const char *fmt_writer_image_path(fmt_writer *w, const fmt_image *im)
{
    (void)w;
    static __thread char p[600];
    snprintf(p, sizeof p, "images/%s", im->file_name);
    return p;
}

int fmt_writer_close(fmt_writer *w, err *e)
{
    advance(w, 2);
    fputs("]}\n", w->f);
    int rc = fclose(w->f) == 0 ? 0 : err_set(e, ERR_IO, "cannot write %s", w->path);
    free(w);
    return rc;
}

void fmt_writer_abort(fmt_writer *w)
{
    if (!w)
        return;
    fclose(w->f);
    free(w);
}

#endif
