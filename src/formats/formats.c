/*
 * formats.c - the parts of formats.h every format shares: names, the
 * problem report, the reading context, and the writer front end.
 *
 * The writer front end enforces the contract once for all formats:
 * categories, then images, then shapes grouped by image; unique category
 * and image ids; safe relative file names; one target path per image. It
 * keeps a small record per category and per image (id, names, size, target
 * path: about 100 bytes an image), which the layouts that write one file
 * per image (YOLO, VOC) need when an image's shapes end, and calls the
 * format's ops. Memory is O(images), never O(shapes).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/internal.h"

const char *fmt_format_name(fmt_format f)
{
    switch (f) {
    case FMT_COCO: return "coco";
    case FMT_YOLO: return "yolo";
    case FMT_VOC: return "voc";
    case FMT_FOLDER: return "folder";
    case FMT_CSV: return "csv";
    }
    return "unknown";
}

int fmt_format_parse(const char *s, fmt_format *out, err *e)
{
    static const struct {
        const char *name;
        fmt_format f;
    } names[] = {{"coco", FMT_COCO},     {"yolo", FMT_YOLO},     {"ultralytics", FMT_YOLO},
                 {"voc", FMT_VOC},       {"pascal-voc", FMT_VOC}, {"pascal_voc", FMT_VOC},
                 {"folder", FMT_FOLDER}, {"csv", FMT_CSV}};
    for (size_t i = 0; s && i < sizeof names / sizeof *names; i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].f;
            return 0;
        }
    return err_set(e, ERR_INVALID, "unknown format '%s'; use coco, yolo, voc, folder or csv",
                   s ? s : "");
}

/* --- report ---------------------------------------------------------------------- */

static void report_vadd(fmt_report *r, bool warning, const char *where, const char *fmt,
                        va_list ap)
{
    if (warning)
        r->warnings++;
    else
        r->total++;
    int max = r->max > 0 ? r->max : 1000;
    if (r->n >= max)
        return;
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 16;
        if (cap > max)
            cap = max;
        fmt_problem *p = realloc(r->items, (size_t)cap * sizeof *p);
        if (!p)
            return; /* counted, not kept */
        r->items = p;
        r->cap = cap;
    }
    fmt_problem *p = &r->items[r->n++];
    snprintf(p->where, sizeof p->where, "%s", where ? where : "");
    vsnprintf(p->message, sizeof p->message, fmt, ap);
    p->warning = warning;
}

void fmt_report_add(fmt_report *r, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_vadd(r, false, where, fmt, ap);
    va_end(ap);
}

void fmt_report_warn(fmt_report *r, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_vadd(r, true, where, fmt, ap);
    va_end(ap);
}

void fmt_report_free(fmt_report *r)
{
    free(r->items);
    int max = r->max;
    memset(r, 0, sizeof *r);
    r->max = max; /* ready to be used again */
}

/* --- reading context ------------------------------------------------------------------ */

static int rd_verror(fmt_rd *rd, err_code code, bool fatal, const char *where, const char *fmt,
                     va_list ap)
{
    if (rd->pipe)
        return fmt_pipe_error(rd, code, fatal, where, fmt, ap);
    char msg[300];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return fmt_rd_error_now(rd, code, fatal, where, msg);
}

int fmt_rd_error_now(fmt_rd *rd, err_code code, bool fatal, const char *where, const char *msg)
{
    fmt_report_add(rd->rep, where, "%s", msg);
    if (!fatal && rd->opts->keep_going)
        return 0;
    if (!rd->failed) {
        if (where && *where)
            err_set(rd->e, code, "%s: %s", where, msg);
        else
            err_set(rd->e, code, "%s", msg);
    }
    rd->failed = true;
    return -1;
}

int fmt_rd_error(fmt_rd *rd, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = rd_verror(rd, ERR_INVALID, false, where, fmt, ap);
    va_end(ap);
    return rc;
}

int fmt_rd_fatal(fmt_rd *rd, err_code code, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = rd_verror(rd, code, true, where, fmt, ap);
    va_end(ap);
    return rc;
}

void fmt_rd_warn(fmt_rd *rd, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (rd->pipe)
        fmt_pipe_warn(rd, where, fmt, ap);
    else
        report_vadd(rd->rep, true, where, fmt, ap);
    va_end(ap);
}

static int consumer_failed(fmt_rd *rd)
{
    if (rd->e->code == ERR_NONE)
        err_set(rd->e, ERR_INTERNAL, "the import stopped (no reason given)");
    rd->failed = true;
    return -1;
}

int fmt_rd_category(fmt_rd *rd, const fmt_category *c)
{
    return rd->pipe ? fmt_pipe_category(rd, c) : fmt_rd_category_now(rd, c);
}

int fmt_rd_category_now(fmt_rd *rd, const fmt_category *c)
{
    if (rd->cb->category && rd->cb->category(rd->cb->ctx, c, rd->e) < 0)
        return consumer_failed(rd);
    rd->rep->categories++;
    return 0;
}

int fmt_rd_image(fmt_rd *rd, const fmt_image *im)
{
    return rd->pipe ? fmt_pipe_image(rd, im) : fmt_rd_image_now(rd, im);
}

int fmt_rd_image_now(fmt_rd *rd, const fmt_image *im)
{
    if (rd->cb->image && rd->cb->image(rd->cb->ctx, im, rd->e) < 0)
        return consumer_failed(rd);
    rd->rep->images++;
    return 0;
}

int fmt_rd_shape(fmt_rd *rd, const fmt_shape *s)
{
    return rd->pipe ? fmt_pipe_shape(rd, s) : fmt_rd_shape_now(rd, s);
}

int fmt_rd_shape_now(fmt_rd *rd, const fmt_shape *s)
{
    if (rd->cb->shape && rd->cb->shape(rd->cb->ctx, s, rd->e) < 0)
        return consumer_failed(rd);
    rd->rep->shapes++;
    return 0;
}

void fmt_shape_init(fmt_shape *s)
{
    memset(s, 0, sizeof *s);
    s->area = NAN;
    s->score = NAN;
}

static int read_common(fmt_format f, const char *path, const void *mem, size_t memlen,
                       const fmt_read_opts *opts, const fmt_read_cb *cb, fmt_report *rep, err *e)
{
    static const fmt_read_opts defaults = {0};
    static const fmt_read_cb none = {0};
    fmt_rd rd = {opts ? opts : &defaults, cb ? cb : &none, rep, e, false, NULL, false};
    err_clear(e);
    if (rd.opts->split && !fmt_split_name_ok(rd.opts->split))
        return err_set(e, ERR_INVALID, "split '%s' is not a name (letters, digits, - and _)",
                       rd.opts->split);
    int rc;
    switch (f) {
    case FMT_COCO: rc = fmt_coco_read(&rd, path, mem, memlen); break;
    case FMT_YOLO: rc = fmt_yolo_read(&rd, path); break;
    case FMT_VOC: rc = fmt_voc_read(&rd, path); break;
    case FMT_FOLDER: rc = fmt_folder_read(&rd, path); break;
    case FMT_CSV: rc = fmt_csv_read(&rd, path); break;
    default: return err_set(e, ERR_INVALID, "unknown format %d", (int)f);
    }
    if (rc < 0 && e->code == ERR_NONE)
        err_set(e, ERR_INVALID, "the input could not be read (see the report)");
    return rc < 0 ? -1 : 0;
}

int fmt_read(fmt_format f, const char *path, const fmt_read_opts *opts, const fmt_read_cb *cb,
             fmt_report *rep, err *e)
{
    if (!path)
        return err_set(e, ERR_INVALID, "no input path");
    return read_common(f, path, NULL, 0, opts, cb, rep, e);
}

int fmt_read_mem(fmt_format f, const void *data, size_t n, const fmt_read_opts *opts,
                 const fmt_read_cb *cb, fmt_report *rep, err *e)
{
    if (f != FMT_COCO)
        return err_set(e, ERR_UNSUPPORTED, "%s is read from a directory, not from memory",
                       fmt_format_name(f));
    return read_common(f, NULL, data ? data : "", n, opts, cb, rep, e);
}

/* --- writer front end ------------------------------------------------------------------ */

bool fmt_split_name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

const char *fmt_writer_split(fmt_writer *w, const fmt_wimg *im)
{
    if (im && im->split)
        return im->split;
    return w->opts.split ? w->opts.split : "train";
}

const char *fmt_writer_claim(fmt_writer *w, const char *path, int64_t id)
{
    int r = fmt_strmap_put(&w->targets, path, 1, NULL);
    if (r < 0)
        return NULL;
    if (r == 0)
        return arena_strdup(w->a, path);
    /* taken: stem-<id>.ext, then stem-<id>-2.ext, ... */
    const char *base = fmt_basename(path);
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - path) : strlen(path);
    const char *ext = path + stem;
    char tmp[4200];
    for (int k = 1; k < 1000; k++) {
        if (k == 1)
            snprintf(tmp, sizeof tmp, "%.*s-%lld%s", (int)stem, path, (long long)id, ext);
        else
            snprintf(tmp, sizeof tmp, "%.*s-%lld-%d%s", (int)stem, path, (long long)id, k, ext);
        if (fmt_strmap_put(&w->targets, tmp, 1, NULL) == 0)
            return arena_strdup(w->a, tmp);
    }
    return NULL;
}

fmt_writer *fmt_writer_open(fmt_format f, const char *out_dir, const fmt_write_opts *opts, err *e)
{
    const fmt_writer_ops *ops;
    switch (f) {
    case FMT_COCO: ops = &fmt_coco_writer_ops; break;
    case FMT_YOLO: ops = &fmt_yolo_writer_ops; break;
    case FMT_VOC: ops = &fmt_voc_writer_ops; break;
    case FMT_FOLDER: ops = &fmt_folder_writer_ops; break;
    case FMT_CSV: ops = &fmt_csv_writer_ops; break;
    default: err_set(e, ERR_INVALID, "unknown format %d", (int)f); return NULL;
    }
    if (opts && opts->split && !fmt_split_name_ok(opts->split)) {
        err_set(e, ERR_INVALID, "split '%s' is not a name (letters, digits, - and _)", opts->split);
        return NULL;
    }
    if (!out_dir || !*out_dir || strlen(out_dir) > 3000) {
        err_set(e, ERR_INVALID, "the output directory is empty or too long");
        return NULL;
    }
    if (fmt_mkdir_p(out_dir, e) < 0)
        return NULL;
    fmt_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->a = arena_new(1 << 16)) || !(w->dir = strdup(out_dir))) {
        if (w) {
            arena_free(w->a);
            free(w);
        }
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    w->format = f;
    w->ops = ops;
    if (opts)
        w->opts = *opts;
    if (w->opts.split)
        w->opts.split = arena_strdup(w->a, w->opts.split);
    w->cur = -1;
    if (ops->open && ops->open(w, e) < 0) {
        fmt_writer_abort(w);
        return NULL;
    }
    return w;
}

static int to_images(fmt_writer *w, err *e)
{
    if (w->stage == 0) {
        w->stage = 1;
        if (w->ops->images_begin && w->ops->images_begin(w, e) < 0)
            return -1;
    }
    return 0;
}

static int to_shapes(fmt_writer *w, err *e)
{
    if (to_images(w, e) < 0)
        return -1;
    if (w->stage == 1) {
        w->stage = 2;
        if (w->ops->shapes_begin && w->ops->shapes_begin(w, e) < 0)
            return -1;
    }
    return 0;
}

int fmt_write_category(fmt_writer *w, const fmt_category *c, err *e)
{
    if (w->stage != 0)
        return err_set(e, ERR_INVALID, "category %lld comes after images; write every category "
                                       "first",
                       (long long)c->id);
    if (!c->name || !*c->name || strlen(c->name) > FMT_MAX_NAME)
        return err_set(e, ERR_INVALID, "category %lld has an empty or overlong name",
                       (long long)c->id);
    if (c->nkeypoints < 0 || c->nkeypoints > FMT_MAX_KEYPOINTS || c->nskeleton < 0)
        return err_set(e, ERR_INVALID, "category %lld: bad keypoint counts", (long long)c->id);
    for (int i = 0; i < 2 * c->nskeleton; i++)
        if (c->skeleton[i] < 1 || c->skeleton[i] > c->nkeypoints)
            return err_set(e, ERR_INVALID,
                           "category '%s': skeleton vertex %d is not in 1..%d", c->name,
                           c->skeleton[i], c->nkeypoints);
    if (w->ncats >= 1000000)
        return err_set(e, ERR_TOO_LARGE, "more than 1000000 categories");
    int32_t old;
    int r = fmt_i64map_put(&w->cat_ix, c->id, w->ncats, &old);
    if (r < 0)
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (r == 1)
        return err_set(e, ERR_CONFLICT, "category id %lld is written twice", (long long)c->id);
    for (int i = 0; i < w->ncats; i++) /* K is small; names must be unique for name-keyed layouts */
        if (strcmp(w->cats[i].name, c->name) == 0)
            return err_set(e, ERR_CONFLICT, "two categories are named '%s' (ids %lld and %lld)",
                           c->name, (long long)w->cats[i].id, (long long)c->id);
    if (w->ncats == w->capcats) {
        int cap = w->capcats ? w->capcats * 2 : 32;
        fmt_wcat *p = realloc(w->cats, (size_t)cap * sizeof *p);
        if (!p)
            return err_set(e, ERR_INTERNAL, "out of memory");
        w->cats = p;
        w->capcats = cap;
    }
    fmt_wcat *wc = &w->cats[w->ncats];
    wc->id = c->id;
    wc->out = w->ncats;
    wc->name = arena_strdup(w->a, c->name);
    wc->nkeypoints = c->nkeypoints;
    if (!wc->name)
        return err_set(e, ERR_INTERNAL, "out of memory");
    w->ncats++;
    if (w->ops->category && w->ops->category(w, wc, c, e) < 0) {
        w->ncats--;
        return -1;
    }
    return 0;
}

int fmt_write_image(fmt_writer *w, const fmt_image *im, err *e)
{
    if (w->stage == 2)
        return err_set(e, ERR_INVALID, "image %lld comes after shapes; write every image before "
                                       "the shapes",
                       (long long)im->id);
    if (to_images(w, e) < 0)
        return -1;
    if (!fmt_relpath_ok(im->file_name))
        return err_set(e, ERR_INVALID,
                       "image %lld: file name '%s' must be a relative path inside the dataset "
                       "(no '..', no leading '/')",
                       (long long)im->id, im->file_name ? im->file_name : "");
    if (im->width < 0 || im->height < 0 || im->width > FMT_MAX_DIM || im->height > FMT_MAX_DIM)
        return err_set(e, ERR_INVALID, "image %lld: size %dx%d is out of range", (long long)im->id,
                       im->width, im->height);
    if (im->split && !fmt_split_name_ok(im->split))
        return err_set(e, ERR_INVALID, "image %lld: split '%s' is not a name", (long long)im->id,
                       im->split);
    if (w->nimgs >= INT32_MAX - 1)
        return err_set(e, ERR_TOO_LARGE, "too many images");
    int32_t old;
    int r = fmt_i64map_put(&w->img_ix, im->id, (int32_t)w->nimgs, &old);
    if (r < 0)
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (r == 1)
        return err_set(e, ERR_CONFLICT, "image id %lld is written twice", (long long)im->id);
    if (w->nimgs == w->capimgs) {
        size_t cap = w->capimgs ? w->capimgs * 2 : 1024;
        fmt_wimg *p = realloc(w->imgs, cap * sizeof *p);
        if (!p)
            return err_set(e, ERR_INTERNAL, "out of memory");
        w->imgs = p;
        w->capimgs = cap;
    }
    fmt_wimg *wi = &w->imgs[w->nimgs++];
    memset(wi, 0, sizeof *wi);
    wi->id = im->id;
    wi->file_name = arena_strdup(w->a, im->file_name);
    wi->split = im->split ? arena_strdup(w->a, im->split) : NULL;
    wi->width = im->width;
    wi->height = im->height;
    wi->cls = -1;
    if (!wi->file_name)
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (w->ops->image && w->ops->image(w, wi, im, e) < 0)
        return -1;
    return 0;
}

static int finish_current(fmt_writer *w, err *e)
{
    if (w->cur < 0)
        return 0;
    fmt_wimg *im = &w->imgs[w->cur];
    im->state = 2;
    w->cur = -1;
    if (w->ops->image_done)
        return w->ops->image_done(w, im, e);
    return 0;
}

int fmt_write_shape(fmt_writer *w, const fmt_shape *s, err *e)
{
    if (to_shapes(w, e) < 0)
        return -1;
    int32_t ix = fmt_i64map_get(&w->img_ix, s->image_id);
    if (ix < 0)
        return err_set(e, ERR_INVALID, "shape %lld is on image %lld, which was not written",
                       (long long)s->id, (long long)s->image_id);
    fmt_wimg *im = &w->imgs[ix];
    if (ix != w->cur) {
        if (im->state == 2)
            return err_set(e, ERR_INVALID,
                           "shapes of image %lld come in two groups; write each image's shapes "
                           "together",
                           (long long)s->image_id);
        if (finish_current(w, e) < 0)
            return -1;
        w->cur = ix;
        im->state = 1;
    }
    int32_t cx = fmt_i64map_get(&w->cat_ix, s->category_id);
    if (cx < 0)
        return err_set(e, ERR_INVALID, "shape %lld has category %lld, which was not written",
                       (long long)s->id, (long long)s->category_id);
    const fmt_wcat *c = &w->cats[cx];
    for (int i = 0; i < 4 && s->has_bbox; i++)
        if (!isfinite(s->bbox[i]))
            return err_set(e, ERR_INVALID, "shape %lld: bbox is not finite", (long long)s->id);
    if (s->has_bbox && (s->bbox[2] < 0 || s->bbox[3] < 0))
        return err_set(e, ERR_INVALID, "shape %lld: bbox has a negative size", (long long)s->id);
    for (int i = 0; i < 2 * s->npoints; i++)
        if (!isfinite(s->points[i]))
            return err_set(e, ERR_INVALID, "shape %lld: a point is not finite", (long long)s->id);
    for (int i = 0; i < 3 * s->nkp; i++)
        if (!isfinite(s->kp[i]))
            return err_set(e, ERR_INVALID, "shape %lld: a keypoint is not finite",
                           (long long)s->id);
    if (s->ring_sizes) {
        int64_t sum = 0;
        for (int i = 0; i < s->nrings; i++) {
            if (s->ring_sizes[i] < 1)
                return err_set(e, ERR_INVALID, "shape %lld: empty ring", (long long)s->id);
            sum += s->ring_sizes[i];
        }
        if (sum != s->npoints)
            return err_set(e, ERR_INVALID, "shape %lld: ring sizes add up to %lld, not %d points",
                           (long long)s->id, (long long)sum, s->npoints);
    }
    if (s->kind == FMT_KEYPOINTS && s->nkp != c->nkeypoints)
        return err_set(e, ERR_INVALID, "shape %lld: %d keypoints, category '%s' has %d",
                       (long long)s->id, s->nkp, c->name, c->nkeypoints);
    return w->ops->shape(w, im, c, s, e);
}

const char *fmt_writer_image_path(fmt_writer *w, const fmt_image *im)
{
    int32_t ix = fmt_i64map_get(&w->img_ix, im->id);
    if (ix < 0)
        return NULL;
    fmt_wimg *wi = &w->imgs[ix];
    if (!wi->target && w->ops->target)
        wi->target = w->ops->target(w, wi);
    return wi->target;
}

static void writer_free(fmt_writer *w)
{
    if (w->ops->free)
        w->ops->free(w);
    free(w->cats);
    free(w->imgs);
    fmt_i64map_free(&w->cat_ix);
    fmt_i64map_free(&w->img_ix);
    fmt_strmap_free(&w->targets);
    arena_free(w->a);
    free(w->dir);
    free(w);
}

int fmt_writer_close(fmt_writer *w, err *e)
{
    int rc = to_shapes(w, e);
    if (rc == 0)
        rc = finish_current(w, e);
    if (rc == 0 && w->ops->close)
        rc = w->ops->close(w, e);
    writer_free(w);
    return rc;
}

void fmt_writer_abort(fmt_writer *w)
{
    if (w)
        writer_free(w);
}
