/*
 * coco_write.c - the COCO writer: OUT/annotations.json, images under
 * OUT/images/<file_name>.
 *
 * The JSON is streamed through a 1 MiB buffer in the order the records
 * arrive: "categories", then "images", then "annotations", so memory does
 * not grow with the number of annotations. What the writer guarantees
 * (docs/formats.md):
 *   - annotation ids 1..N in the order written; category ids 1..K in the
 *     order written, or the given ids with keep_category_ids (then id 0 or
 *     below is refused: COCO ids start at 1);
 *   - bbox consistent with the segmentation: a given bbox is kept when it
 *     is within FMT_BOX_TOLERANCE px of the extent of the polygon or mask on
 *     every side, otherwise that extent replaces it; with no bbox given, the
 *     extent of the polygon, the mask or the labelled keypoints is the bbox;
 *   - area: the given one (COCO's own areas are mask pixel counts, which a
 *     polygon's shoelace area only approximates), else the polygon's
 *     shoelace area, the RLE's pixel count, or w*h of the box;
 *   - iscrowd, score, attributes kept; num_keypoints recounted;
 *   - numbers printed so that they read back to the same doubles.
 * Kinds COCO cannot hold (CLASS, POLYLINE, POINT) are refused with
 * ERR_UNSUPPORTED so the caller can skip them and say so.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/version.h"
#include "formats/internal.h"

typedef struct coco_w {
    fmt_out out;
    char path[4096];
    int64_t next_ann;
    bool first;
} coco_w;

static int cw_open(fmt_writer *w, err *e)
{
    coco_w *cw = calloc(1, sizeof *cw);
    if (!cw)
        return err_set(e, ERR_INTERNAL, "out of memory");
    cw->out.fd = -1;
    w->impl = cw;
    snprintf(cw->path, sizeof cw->path, "%s/annotations.json", w->dir);
    if (w->opts.sink) {
        cw->out.path = cw->path;
        cw->out.sink = w->opts.sink;
        cw->out.sink_ctx = w->opts.sink_ctx;
    } else if (fmt_out_open(&cw->out, cw->path, e) < 0) {
        return -1;
    }
    sbuf_puts(&cw->out.b, "{\"info\":{\"description\":\"exported by cvops\",\"version\":\"" CVOPS_VERSION
                          "\"},\"licenses\":[],\n\"categories\":[");
    cw->first = true;
    cw->next_ann = 1;
    return 0;
}

static void sep(coco_w *cw)
{
    if (!cw->first)
        sbuf_puts(&cw->out.b, ",\n");
    else
        sbuf_putc(&cw->out.b, '\n');
    cw->first = false;
}

static void put_str(sbuf *b, const char *s) { sbuf_json_str(b, s, strlen(s)); }

static int cw_category(fmt_writer *w, fmt_wcat *c, const fmt_category *in, err *e)
{
    coco_w *cw = w->impl;
    if (w->opts.keep_category_ids) {
        if (in->id <= 0)
            return err_set(e, ERR_INVALID,
                           "category '%s' has id %lld, which COCO cannot hold (ids start at 1); "
                           "export without keeping the category ids",
                           in->name, (long long)in->id);
        c->out = in->id;
    } else {
        c->out = w->ncats; /* 1..K: ncats already counts this one */
    }
    sbuf *b = &cw->out.b;
    sep(cw);
    sbuf_puts(b, "{\"id\":");
    sbuf_put_i64(b, c->out);
    sbuf_puts(b, ",\"name\":");
    put_str(b, in->name);
    if (in->supercategory) {
        sbuf_puts(b, ",\"supercategory\":");
        put_str(b, in->supercategory);
    }
    if (in->nkeypoints > 0) {
        sbuf_puts(b, ",\"keypoints\":[");
        for (int i = 0; i < in->nkeypoints; i++) {
            if (i)
                sbuf_putc(b, ',');
            put_str(b, in->keypoints && in->keypoints[i] ? in->keypoints[i] : "");
        }
        sbuf_puts(b, "],\"skeleton\":[");
        for (int i = 0; i < in->nskeleton; i++) {
            sbuf_printf(b, "%s[%d,%d]", i ? "," : "", in->skeleton[2 * i],
                        in->skeleton[2 * i + 1]);
        }
        sbuf_putc(b, ']');
    }
    sbuf_putc(b, '}');
    return fmt_out_flush(&cw->out, false, e);
}

static int cw_images_begin(fmt_writer *w, err *e)
{
    coco_w *cw = w->impl;
    sbuf_puts(&cw->out.b, "],\n\"images\":[");
    cw->first = true;
    return 0;
}

static int cw_image(fmt_writer *w, fmt_wimg *im, const fmt_image *in, err *e)
{
    coco_w *cw = w->impl;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "images/%s", im->file_name);
    im->target = fmt_writer_claim(w, tmp, im->id);
    if (!im->target)
        return err_set(e, ERR_INTERNAL, "out of memory");
    sbuf *b = &cw->out.b;
    sep(cw);
    sbuf_puts(b, "{\"id\":");
    sbuf_put_i64(b, im->id);
    sbuf_puts(b, ",\"file_name\":");
    put_str(b, im->target + 7);
    if (im->width > 0 && im->height > 0) {
        sbuf_printf(b, ",\"width\":%d,\"height\":%d", im->width, im->height);
    }
    sbuf_putc(b, '}');
    return fmt_out_flush(&cw->out, false, e);
}

static int cw_shapes_begin(fmt_writer *w, err *e)
{
    coco_w *cw = w->impl;
    sbuf_puts(&cw->out.b, "],\n\"annotations\":[");
    cw->first = true;
    return 0;
}

static void put_box(sbuf *b, const double *v)
{
    sbuf_putc(b, '[');
    fmt_put_dbls(b, v, 4);
    sbuf_putc(b, ']');
}

/* The extent of the shape's geometry (polygon, mask, labelled keypoints). */
static bool geom_box(const fmt_shape *s, const uint32_t *cnt, int ncnt, double gb[4])
{
    if (s->npoints > 0)
        return fmt_points_bbox(s->points, s->npoints, gb);
    if (cnt)
        return fmt_rle_bbox(cnt, ncnt, s->rle_h, s->rle_w, gb);
    if (s->nkp > 0) {
        double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
        for (int i = 0; i < s->nkp; i++) {
            if (s->kp[3 * i + 2] <= 0)
                continue;
            double x = s->kp[3 * i], y = s->kp[3 * i + 1];
            x0 = x < x0 ? x : x0;
            y0 = y < y0 ? y : y0;
            x1 = x > x1 ? x : x1;
            y1 = y > y1 ? y : y1;
        }
        if (x0 > x1)
            return false;
        gb[0] = x0;
        gb[1] = y0;
        gb[2] = x1 - x0;
        gb[3] = y1 - y0;
        return true;
    }
    return false;
}

static int cw_shape(fmt_writer *w, fmt_wimg *im, const fmt_wcat *c, const fmt_shape *s, err *e)
{
    coco_w *cw = w->impl;
    switch (s->kind) {
    case FMT_BOX:
    case FMT_POLYGON:
    case FMT_KEYPOINTS:
    case FMT_MASK_RLE: break;
    case FMT_CLASS:
        return err_set(e, ERR_UNSUPPORTED, "shape %lld: COCO has no image-level class labels",
                       (long long)s->id);
    default:
        return err_set(e, ERR_UNSUPPORTED, "shape %lld: COCO has no %s", (long long)s->id,
                       s->kind == FMT_POLYLINE ? "polylines" : "single points");
    }
    if (s->kind == FMT_POLYGON && s->npoints < 3)
        return err_set(e, ERR_INVALID, "shape %lld: a polygon needs at least 3 points",
                       (long long)s->id);
    /* the mask, decoded when it is in the compressed form */
    uint32_t *decoded = NULL;
    const uint32_t *cnt = NULL;
    int ncnt = 0;
    bool has_rle = s->rle_counts || s->rle_string;
    if (has_rle) {
        if (s->rle_h <= 0 || s->rle_w <= 0)
            return err_set(e, ERR_INVALID, "shape %lld: RLE without a size", (long long)s->id);
        if (s->rle_string) {
            ncnt = fmt_rle_decode(s->rle_string, &decoded, e);
            if (ncnt < 0)
                return err_prefix(e, "shape %lld: ", (long long)s->id);
            cnt = decoded;
        } else {
            cnt = s->rle_counts;
            ncnt = s->nrle;
        }
    } else if (s->kind == FMT_MASK_RLE) {
        return err_set(e, ERR_INVALID, "shape %lld: a mask without counts", (long long)s->id);
    }
    double box[4], gb[4];
    bool has_geom = geom_box(s, cnt, ncnt, gb);
    /* keypoints are inside the object, not its outline: they only give a
     * box when there is nothing else */
    bool outline = s->npoints > 0 || cnt;
    if (s->has_bbox) {
        memcpy(box, s->bbox, sizeof box);
        if (has_geom && outline) {
            for (int k = 0; k < 2; k++)
                if (fabs(gb[k] - box[k]) > FMT_BOX_TOLERANCE ||
                    fabs(gb[k] + gb[k + 2] - box[k] - box[k + 2]) > FMT_BOX_TOLERANCE) {
                    memcpy(box, gb, sizeof box);
                    break;
                }
        }
    } else if (has_geom) {
        memcpy(box, gb, sizeof box);
    } else {
        free(decoded);
        return err_set(e, ERR_INVALID, "shape %lld has neither a bbox nor a geometry",
                       (long long)s->id);
    }
    double area = s->area;
    if (!isfinite(area) || area < 0) {
        if (s->npoints >= 3)
            area = fmt_polygon_area(s->points, s->npoints, s->ring_sizes, s->nrings);
        else if (cnt)
            area = (double)fmt_rle_area(cnt, ncnt);
        else
            area = box[2] * box[3];
    }
    if (s->attributes) {
        json_error_t je;
        json_t *j = json_loads(s->attributes, JSON_REJECT_DUPLICATES, &je);
        bool ok = j && json_is_object(j);
        json_decref(j);
        if (!ok) {
            free(decoded);
            return err_set(e, ERR_INVALID, "shape %lld: attributes are not a JSON object",
                           (long long)s->id);
        }
    }
    sbuf *b = &cw->out.b;
    sep(cw);
    sbuf_puts(b, "{\"id\":");
    sbuf_put_i64(b, cw->next_ann++);
    sbuf_puts(b, ",\"image_id\":");
    sbuf_put_i64(b, im->id);
    sbuf_puts(b, ",\"category_id\":");
    sbuf_put_i64(b, c->out);
    sbuf_puts(b, ",\"bbox\":");
    put_box(b, box);
    sbuf_puts(b, ",\"area\":");
    fmt_put_dbl(b, area);
    sbuf_puts(b, ",\"segmentation\":");
    if (s->npoints > 0) {
        int one = s->npoints;
        const int *rs = s->ring_sizes ? s->ring_sizes : &one;
        int nr = s->ring_sizes ? s->nrings : 1;
        sbuf_putc(b, '[');
        int p = 0;
        for (int r = 0; r < nr; r++) {
            sbuf_puts(b, r ? ",[" : "[");
            fmt_put_dbls(b, s->points + 2 * p, 2 * (size_t)rs[r]);
            p += rs[r];
            sbuf_putc(b, ']');
        }
        sbuf_putc(b, ']');
    } else if (has_rle) {
        sbuf_printf(b, "{\"size\":[%d,%d],\"counts\":", s->rle_h, s->rle_w);
        if (s->rle_string) {
            put_str(b, s->rle_string);
        } else {
            sbuf_putc(b, '[');
            for (int i = 0; i < s->nrle; i++) {
                if (i)
                    sbuf_putc(b, ',');
                sbuf_put_i64(b, s->rle_counts[i]);
            }
            sbuf_putc(b, ']');
        }
        sbuf_putc(b, '}');
    } else {
        sbuf_puts(b, "[]");
    }
    free(decoded);
    sbuf_puts(b, s->iscrowd ? ",\"iscrowd\":1" : ",\"iscrowd\":0");
    if (s->kind == FMT_KEYPOINTS && s->nkp > 0) {
        int vis = 0;
        sbuf_puts(b, ",\"keypoints\":[");
        fmt_put_dbls(b, s->kp, 3 * (size_t)s->nkp);
        for (int i = 0; i < s->nkp; i++)
            vis += s->kp[3 * i + 2] > 0;
        sbuf_printf(b, "],\"num_keypoints\":%d", vis);
    }
    if (isfinite(s->score)) {
        sbuf_puts(b, ",\"score\":");
        fmt_put_dbl(b, s->score);
    }
    if (s->attributes) {
        sbuf_puts(b, ",\"attributes\":");
        sbuf_puts(b, s->attributes);
    }
    sbuf_putc(b, '}');
    return fmt_out_flush(&cw->out, false, e);
}

static int cw_close(fmt_writer *w, err *e)
{
    coco_w *cw = w->impl;
    sbuf_puts(&cw->out.b, "]}\n");
    return fmt_out_close(&cw->out, e);
}

static void cw_free(fmt_writer *w)
{
    coco_w *cw = w->impl;
    if (!cw)
        return;
    fmt_out_abort(&cw->out);
    free(cw);
    w->impl = NULL;
}

const fmt_writer_ops fmt_coco_writer_ops = {
    cw_open, cw_category, cw_images_begin, cw_image, cw_shapes_begin, cw_shape, NULL, cw_close,
    cw_free, NULL,
};
