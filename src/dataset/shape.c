/*
 * shape.c - shapes: reading them from request documents, checking them
 * against their image and label, their compact storage, writing them back
 * as JSON, and the multi-row inserter the bulk paths share.
 *
 * Storage of one shape row
 *   x, y, w, h  the box (BOX) or the enclosing box of the points; columns,
 *               so statistics and histograms are plain SQL
 *   geom        POLYGON / POLYLINE / POINT: x,y pairs; KEYPOINTS: x,y,v
 *               triplets; as native (little-endian) doubles, so a COCO
 *               coordinate comes back bit for bit
 *   aux         POLYGON with several rings: int32 points per ring;
 *               MASK: uint32 height, width, form (0: uncompressed counts
 *               follow as uint32; 1: the compressed COCO string follows)
 *
 * Messages name the shape the way the caller located it ("shapes[2]",
 * "annotations[7].shapes[2]", "annotation 17") followed by what is wrong:
 *   shapes[2]: box x+w = 700 exceeds image width 640
 *   shapes[0]: unknown label 'dgo'; the version's labels are: cat, dog
 *   shapes[1]: polygon with 2 points; a polygon needs at least 3
 *   shapes[4]: label 'person' has 17 keypoints; got 15
 */
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "dataset/internal.h"

/* Slack for boxes at the image border: coordinates computed from pixel
 * edges often overshoot by a rounding error. */
#define BORDER_EPS 0.5

static const char *const kind_names[] = {NULL,       "class",    "box",       "polygon",
                                         "polyline", "point",    "keypoints", "mask"};

const char *ds_kind_name(int kind)
{
    return kind >= DS_CLASS && kind <= DS_MASK ? kind_names[kind] : "unknown";
}

int ds_kind_parse(const char *s)
{
    for (int k = DS_CLASS; k <= DS_MASK; k++)
        if (strcmp(s, kind_names[k]) == 0)
            return k;
    return 0;
}

void ds_shape_init(ds_shape *s)
{
    memset(s, 0, sizeof *s);
    s->score = NAN;
    s->area = NAN;
}

/* The box of a COCO RLE mask (column-major runs, zeros first), from the
 * counts or the compressed string (decoded as COCO's rleFrString does). */
static void mask_bbox(ds_shape *s)
{
    int64_t h = s->mh, pos = 0, x0 = INT64_MAX, y0 = INT64_MAX, x1 = -1, y1 = -1;
    int64_t prev2 = 0, prev1 = 0;
    const char *p = s->rle_str;
    for (int64_t i = 0; h > 0; i++) {
        int64_t n;
        if (s->rle) {
            if (i >= s->nrle)
                break;
            n = s->rle[i];
        } else {
            if (!p || !*p)
                break;
            int64_t x = 0;
            int k = 0, more = 1;
            while (more && *p) {
                int64_t c = *p - 48;
                x |= (c & 0x1f) << (5 * k);
                more = (int)(c & 0x20);
                p++;
                k++;
                if (!more && (c & 0x10))
                    x |= (int64_t)(-1) * ((int64_t)1 << (5 * k));
            }
            if (i > 2)
                x += prev2;
            prev2 = prev1;
            prev1 = x;
            n = x;
        }
        if (n < 0)
            break;
        if ((i & 1) && n > 0) {
            int64_t a = pos, b = pos + n - 1;
            int64_t ca = a / h, cb = b / h;
            x0 = ca < x0 ? ca : x0;
            x1 = cb > x1 ? cb : x1;
            int64_t ya = ca == cb ? a % h : 0, yb = ca == cb ? b % h : h - 1;
            y0 = ya < y0 ? ya : y0;
            y1 = yb > y1 ? yb : y1;
        }
        pos += n;
    }
    if (x1 < 0)
        return;
    s->x = (double)x0;
    s->y = (double)y0;
    s->w = (double)(x1 - x0 + 1);
    s->h = (double)(y1 - y0 + 1);
}

void ds_shape_bbox(ds_shape *s)
{
    if (s->kind == DS_MASK) {
        mask_bbox(s);
        return;
    }
    if (s->kind == DS_BOX || s->kind == DS_CLASS)
        return;
    int step = s->kind == DS_KEYPOINTS ? 3 : 2;
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (int i = 0; i + 1 < s->npts; i += step) {
        if (step == 3 && s->pts[i + 2] <= 0)
            continue; /* keypoint not labelled */
        double x = s->pts[i], y = s->pts[i + 1];
        x0 = x < x0 ? x : x0;
        y0 = y < y0 ? y : y0;
        x1 = x > x1 ? x : x1;
        y1 = y > y1 ? y : y1;
    }
    if (x0 > x1) {
        s->x = s->y = s->w = s->h = 0;
        return;
    }
    s->x = x0;
    s->y = y0;
    s->w = x1 - x0;
    s->h = y1 - y0;
}

/* --- checks -------------------------------------------------------------------------------- */

int ds_shape_check(const ds_shape *s, const char *where, int img_w, int img_h,
                   const char *label_name, int nkeypoints, err *e)
{
    switch (s->kind) {
    case DS_CLASS:
        return 0;
    case DS_BOX:
        if (!isfinite(s->x) || !isfinite(s->y) || !isfinite(s->w) || !isfinite(s->h))
            return err_set(e, ERR_INVALID, "%s: box coordinates must be finite numbers", where);
        if (s->w <= 0 || s->h <= 0)
            return err_set(e, ERR_INVALID, "%s: box width and height must be positive, got %g x %g",
                           where, s->w, s->h);
        if (s->x < -BORDER_EPS)
            return err_set(e, ERR_INVALID, "%s: box x = %g is left of the image (x must be >= 0)",
                           where, s->x);
        if (s->y < -BORDER_EPS)
            return err_set(e, ERR_INVALID, "%s: box y = %g is above the image (y must be >= 0)",
                           where, s->y);
        if (img_w > 0 && s->x + s->w > img_w + BORDER_EPS)
            return err_set(e, ERR_INVALID, "%s: box x+w = %g exceeds image width %d", where,
                           s->x + s->w, img_w);
        if (img_h > 0 && s->y + s->h > img_h + BORDER_EPS)
            return err_set(e, ERR_INVALID, "%s: box y+h = %g exceeds image height %d", where,
                           s->y + s->h, img_h);
        return 0;
    case DS_POLYGON: {
        if (s->npts % 2)
            return err_set(e, ERR_INVALID, "%s: polygon coordinates must come in x, y pairs", where);
        int nr = s->rings ? s->nrings : 1;
        for (int r = 0; r < nr; r++) {
            int n = s->rings ? s->rings[r] : s->npts / 2;
            if (n < 3) {
                if (nr == 1)
                    return err_set(e, ERR_INVALID,
                                   "%s: polygon with %d point%s; a polygon needs at least 3", where,
                                   n, n == 1 ? "" : "s");
                return err_set(e, ERR_INVALID,
                               "%s: polygon ring %d has %d point%s; a polygon needs at least 3",
                               where, r, n, n == 1 ? "" : "s");
            }
        }
        break;
    }
    case DS_POLYLINE:
        if (s->npts % 2)
            return err_set(e, ERR_INVALID, "%s: polyline coordinates must come in x, y pairs",
                           where);
        if (s->npts / 2 < 2)
            return err_set(e, ERR_INVALID,
                           "%s: polyline with %d point; a polyline needs at least 2", where,
                           s->npts / 2);
        break;
    case DS_POINT:
        if (s->npts != 2)
            return err_set(e, ERR_INVALID, "%s: a point is [x, y]; got %d numbers", where, s->npts);
        break;
    case DS_KEYPOINTS:
        if (nkeypoints <= 0)
            return err_set(e, ERR_INVALID,
                           "%s: label '%s' has no keypoints; keypoints need a label with a "
                           "skeleton",
                           where, label_name);
        if (s->npts % 3)
            return err_set(e, ERR_INVALID, "%s: keypoints come as x, y, visibility triplets; got %d numbers",
                           where, s->npts);
        if (s->npts / 3 != nkeypoints)
            return err_set(e, ERR_INVALID, "%s: label '%s' has %d keypoints; got %d", where,
                           label_name, nkeypoints, s->npts / 3);
        for (int i = 2; i < s->npts; i += 3)
            if (s->pts[i] != 0 && s->pts[i] != 1 && s->pts[i] != 2)
                return err_set(e, ERR_INVALID,
                               "%s: keypoint %d has visibility %g; use 0 (not labelled), 1 "
                               "(hidden) or 2 (visible)",
                               where, i / 3, s->pts[i]);
        break;
    case DS_MASK: {
        if (s->mh <= 0 || s->mw <= 0)
            return err_set(e, ERR_INVALID, "%s: mask size must be positive", where);
        if (img_w > 0 && img_h > 0 && (s->mh != img_h || s->mw != img_w))
            return err_set(e, ERR_INVALID, "%s: mask size %dx%d differs from the image %dx%d",
                           where, s->mw, s->mh, img_w, img_h);
        if (s->rle) {
            uint64_t sum = 0;
            for (int i = 0; i < s->nrle; i++)
                sum += s->rle[i];
            if (sum != (uint64_t)s->mh * (uint64_t)s->mw)
                return err_set(e, ERR_INVALID,
                               "%s: mask counts add up to %llu pixels; the mask has %d x %d = %llu",
                               where, (unsigned long long)sum, s->mw, s->mh,
                               (unsigned long long)s->mh * (unsigned long long)s->mw);
        } else if (!s->rle_str || !*s->rle_str) {
            return err_set(e, ERR_INVALID, "%s: mask has no counts", where);
        }
        return 0;
    }
    default:
        return err_set(e, ERR_INVALID, "%s: unknown shape kind", where);
    }
    for (int i = 0; i < s->npts; i++)
        if (!isfinite(s->pts[i]))
            return err_set(e, ERR_INVALID, "%s: coordinates must be finite numbers", where);
    return 0;
}

/* --- from JSON ----------------------------------------------------------------------------- */

static int num_array(json_t *a, const char *where, const char *field, int min, int max,
                     double *out, int *n, err *e)
{
    if (!json_is_array(a))
        return err_set(e, ERR_INVALID, "%s: '%s' must be an array of numbers", where, field);
    size_t len = json_array_size(a);
    if ((int)len < min || len > (size_t)max)
        return err_set(e, ERR_INVALID, "%s: '%s' has %zu numbers; expected %s%d", where, field,
                       len, min == max ? "" : "at most ", min == max ? min : max);
    for (size_t i = 0; i < len; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_number(v))
            return err_set(e, ERR_INVALID, "%s: %s[%zu] must be a number", where, field, i);
        out[i] = json_number_value(v);
    }
    *n = (int)len;
    return 0;
}

static int parse_rle(json_t *j, const char *where, arena *a, ds_shape *s, err *e)
{
    json_t *size = json_object_get(j, "size"), *counts = json_object_get(j, "counts");
    if (!json_is_object(j) || !json_is_array(size) || json_array_size(size) != 2 ||
        !json_is_integer(json_array_get(size, 0)) || !json_is_integer(json_array_get(size, 1)))
        return err_set(e, ERR_INVALID, "%s: 'rle' must be {\"size\": [height, width], \"counts\": ...}",
                       where);
    json_int_t h = json_integer_value(json_array_get(size, 0)),
               w = json_integer_value(json_array_get(size, 1));
    if (h <= 0 || w <= 0 || h > 1000000 || w > 1000000)
        return err_set(e, ERR_INVALID, "%s: rle size must be positive", where);
    s->mh = (int)h;
    s->mw = (int)w;
    if (json_is_string(counts)) {
        s->rle_str = arena_strdup(a, json_string_value(counts));
        return s->rle_str ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
    }
    if (!json_is_array(counts) || json_array_size(counts) > (size_t)DATASET_POINTS_MAX * 10)
        return err_set(e, ERR_INVALID, "%s: rle counts must be an array of whole numbers or a string",
                       where);
    size_t n = json_array_size(counts);
    uint32_t *c = arena_alloc(a, (n ? n : 1) * sizeof *c);
    if (!c)
        return err_set(e, ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(counts, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
            return err_set(e, ERR_INVALID, "%s: rle counts[%zu] must be a whole number >= 0", where, i);
        c[i] = (uint32_t)json_integer_value(v);
    }
    s->rle = c;
    s->nrle = (int)n;
    return 0;
}

static const char *const shape_fields[] = {"kind",   "label",   "label_id",  "box",   "rings",
                                           "points", "point",   "keypoints", "rle",   "score",
                                           "text",   "attributes", "iscrowd", "area", "id",
                                           NULL};

int ds_shape_from_json(json_t *j, const ds_labels *l, arena *a, const char *where, ds_shape *s,
                       err *e)
{
    ds_shape_init(s);
    if (!json_is_object(j))
        return err_set(e, ERR_INVALID, "%s: a shape must be an object", where);
    if (jv_only(j, shape_fields, e))
        return err_prefix(e, "%s: ", where);
    const char *kind = NULL, *label = NULL, *text = NULL;
    int64_t label_id = 0;
    if (jv_str(j, "kind", JV_REQUIRED, 32, &kind, e) || jv_str(j, "label", JV_OPTIONAL, 256, &label, e) ||
        jv_i64(j, "label_id", JV_OPTIONAL, 1, INT64_MAX, &label_id, e) ||
        jv_str(j, "text", JV_OPTIONAL, 4000, &text, e) ||
        jv_dbl(j, "score", JV_OPTIONAL, -1e300, 1e300, &s->score, e) ||
        jv_dbl(j, "area", JV_OPTIONAL, 0, 1e300, &s->area, e) ||
        jv_bool(j, "iscrowd", JV_OPTIONAL, &s->iscrowd, e))
        return err_prefix(e, "%s: ", where);
    s->kind = ds_kind_parse(kind);
    if (!s->kind)
        return err_set(e, ERR_INVALID,
                       "%s: kind '%.32s' is not one of class, box, polygon, polyline, point, "
                       "keypoints, mask",
                       where, kind);
    /* the label */
    int64_t idx = -1;
    if (label) {
        if (!ds_smap_get(&l->by_name, label, &idx)) {
            char names[400];
            ds_labels_names(l, names, sizeof names);
            return err_set(e, ERR_INVALID, "%s: unknown label '%.128s'; %s", where, label, names);
        }
    } else if (label_id) {
        int64_t k;
        if (!ds_imap_get(&l->by_id, label_id, &k))
            return err_set(e, ERR_INVALID, "%s: unknown label_id %lld; it is not a label of this version",
                           where, (long long)label_id);
        idx = k - 1;
    } else {
        return err_set(e, ERR_INVALID, "%s: give the shape's 'label' (a name) or 'label_id'", where);
    }
    const ds_label *lab = &l->items[idx];
    s->label_id = lab->id;
    if (text)
        s->text = arena_strdup(a, text);
    json_t *attrs = json_object_get(j, "attributes");
    if (attrs && !json_is_null(attrs)) {
        if (!json_is_object(attrs))
            return err_set(e, ERR_INVALID, "%s: 'attributes' must be an object of key/value pairs", where);
        char *t = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
        if (!t)
            return err_set(e, ERR_INTERNAL, "out of memory");
        if (strlen(t) > 4096) {
            free(t);
            return err_set(e, ERR_INVALID, "%s: 'attributes' is larger than 4096 bytes", where);
        }
        s->attrs = arena_strdup(a, t);
        free(t);
    }
    /* the geometry */
    json_t *g;
    double *pts;
    int n = 0;
    switch (s->kind) {
    case DS_CLASS:
        break;
    case DS_BOX: {
        double b[4];
        g = json_object_get(j, "box");
        if (!g)
            return err_set(e, ERR_INVALID, "%s: a box needs 'box': [x, y, w, h]", where);
        if (num_array(g, where, "box", 4, 4, b, &n, e))
            return -1;
        s->x = b[0];
        s->y = b[1];
        s->w = b[2];
        s->h = b[3];
        break;
    }
    case DS_POLYGON: {
        json_t *rings = json_object_get(j, "rings"), *flat = json_object_get(j, "points");
        if (!rings && !flat)
            return err_set(e, ERR_INVALID,
                           "%s: a polygon needs 'points': [x0, y0, x1, y1, ...] or 'rings': [[...], ...]",
                           where);
        if (flat) {
            size_t len = json_array_size(flat);
            pts = arena_alloc(a, (len ? len : 1) * sizeof *pts);
            if (!pts)
                return err_set(e, ERR_INTERNAL, "out of memory");
            if (num_array(flat, where, "points", 0, DATASET_POINTS_MAX, pts, &n, e))
                return -1;
            s->pts = pts;
            s->npts = n;
            break;
        }
        if (!json_is_array(rings) || json_array_size(rings) == 0 || json_array_size(rings) > 1000)
            return err_set(e, ERR_INVALID, "%s: 'rings' must be an array of 1 to 1000 rings", where);
        size_t total = 0, nr = json_array_size(rings);
        for (size_t r = 0; r < nr; r++)
            total += json_array_size(json_array_get(rings, r));
        if (total > DATASET_POINTS_MAX)
            return err_set(e, ERR_INVALID, "%s: the polygon has more than %d coordinates", where,
                           DATASET_POINTS_MAX);
        pts = arena_alloc(a, (total ? total : 1) * sizeof *pts);
        int32_t *rs = arena_alloc(a, nr * sizeof *rs);
        if (!pts || !rs)
            return err_set(e, ERR_INTERNAL, "out of memory");
        size_t off = 0;
        for (size_t r = 0; r < nr; r++) {
            char f[32];
            snprintf(f, sizeof f, "rings[%zu]", r);
            if (num_array(json_array_get(rings, r), where, f, 0, DATASET_POINTS_MAX, pts + off, &n, e))
                return -1;
            if (n % 2)
                return err_set(e, ERR_INVALID, "%s: polygon coordinates must come in x, y pairs", where);
            rs[r] = n / 2;
            off += (size_t)n;
        }
        s->pts = pts;
        s->npts = (int)off;
        if (nr > 1) {
            s->rings = rs;
            s->nrings = (int)nr;
        }
        break;
    }
    case DS_POLYLINE:
    case DS_POINT:
    case DS_KEYPOINTS: {
        const char *field = s->kind == DS_POLYLINE ? "points" : s->kind == DS_POINT ? "point" : "keypoints";
        g = json_object_get(j, field);
        if (!g && s->kind == DS_POINT)
            g = json_object_get(j, field = "points");
        if (!g)
            return err_set(e, ERR_INVALID, "%s: a %s needs '%s'", where, ds_kind_name(s->kind),
                           s->kind == DS_POINT ? "point': [x, y]" : field);
        size_t len = json_array_size(g);
        pts = arena_alloc(a, (len ? len : 1) * sizeof *pts);
        if (!pts)
            return err_set(e, ERR_INTERNAL, "out of memory");
        if (num_array(g, where, field, 0, DATASET_POINTS_MAX, pts, &n, e))
            return -1;
        s->pts = pts;
        s->npts = n;
        break;
    }
    case DS_MASK:
        g = json_object_get(j, "rle");
        if (!g)
            return err_set(e, ERR_INVALID, "%s: a mask needs 'rle': {\"size\": [h, w], \"counts\": ...}",
                           where);
        if (parse_rle(g, where, a, s, e))
            return -1;
        break;
    }
    ds_shape_bbox(s);
    return 0;
}

/* --- storage ------------------------------------------------------------------------------- */

size_t ds_shape_aux(const ds_shape *s, sbuf *buf)
{
    sbuf_reset(buf);
    if (s->kind == DS_POLYGON && s->rings && s->nrings > 1) {
        sbuf_put(buf, s->rings, (size_t)s->nrings * sizeof *s->rings);
    } else if (s->kind == DS_MASK) {
        uint32_t head[3] = {(uint32_t)s->mh, (uint32_t)s->mw, s->rle ? 0u : 1u};
        sbuf_put(buf, head, sizeof head);
        if (s->rle)
            sbuf_put(buf, s->rle, (size_t)s->nrle * sizeof *s->rle);
        else if (s->rle_str)
            sbuf_put(buf, s->rle_str, strlen(s->rle_str));
    }
    return buf->len;
}

static void doubles(jw *w, const unsigned char *p, size_t n)
{
    jw_arr(w);
    for (size_t i = 0; i < n; i++) {
        double d;
        memcpy(&d, p + i * sizeof d, sizeof d);
        jw_dbl(w, d);
    }
    jw_arr_end(w);
}

void ds_shape_write_row(jw *w, db_stmt *st, int col)
{
    int kind = (int)db_col_i64(st, col + 1);
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(st, col));
    jw_kstr(w, "kind", ds_kind_name(kind));
    jw_kstr(w, "label", db_col_text(st, col + 2));
    jw_kint(w, "label_id", db_col_i64(st, col + 3));
    double x = db_col_dbl(st, col + 4), y = db_col_dbl(st, col + 5), bw = db_col_dbl(st, col + 6),
           bh = db_col_dbl(st, col + 7);
    size_t glen = 0, alen = 0;
    const unsigned char *geom = db_col_blob(st, col + 8, &glen);
    size_t np = geom ? glen / sizeof(double) : 0;
    /* copy aux: the geometry blob's buffer may be reused by the driver */
    const unsigned char *auxp = db_col_blob(st, col + 9, &alen);
    unsigned char auxbuf[64];
    unsigned char *aux = NULL;
    if (auxp && alen) {
        aux = alen <= sizeof auxbuf ? auxbuf : malloc(alen);
        if (aux)
            memcpy(aux, auxp, alen);
    }
    geom = db_col_blob(st, col + 8, &glen);
    switch (kind) {
    case DS_BOX:
        jw_key(w, "box");
        jw_arr(w);
        jw_dbl(w, x);
        jw_dbl(w, y);
        jw_dbl(w, bw);
        jw_dbl(w, bh);
        jw_arr_end(w);
        break;
    case DS_POLYGON: {
        jw_key(w, "rings");
        jw_arr(w);
        if (aux && alen >= sizeof(int32_t)) {
            size_t off = 0;
            for (size_t r = 0; r < alen / sizeof(int32_t); r++) {
                int32_t k;
                memcpy(&k, aux + r * sizeof k, sizeof k);
                size_t cnt = (size_t)k * 2;
                if (off + cnt > np)
                    cnt = np - off;
                doubles(w, geom + off * sizeof(double), cnt);
                off += cnt;
            }
        } else {
            doubles(w, geom, np);
        }
        jw_arr_end(w);
        break;
    }
    case DS_POLYLINE:
        jw_key(w, "points");
        doubles(w, geom, np);
        break;
    case DS_POINT:
        jw_key(w, "point");
        doubles(w, geom, np);
        break;
    case DS_KEYPOINTS:
        jw_key(w, "keypoints");
        doubles(w, geom, np);
        break;
    case DS_MASK:
        jw_key(w, "rle");
        jw_obj(w);
        if (aux && alen >= 12) {
            uint32_t head[3];
            memcpy(head, aux, sizeof head);
            jw_key(w, "size");
            jw_arr(w);
            jw_int(w, head[0]);
            jw_int(w, head[1]);
            jw_arr_end(w);
            jw_key(w, "counts");
            if (head[2] == 1) {
                jw_strn(w, (const char *)aux + 12, alen - 12);
            } else {
                jw_arr(w);
                for (size_t i = 12; i + 4 <= alen; i += 4) {
                    uint32_t v;
                    memcpy(&v, aux + i, 4);
                    jw_int(w, v);
                }
                jw_arr_end(w);
            }
        }
        jw_obj_end(w);
        break;
    default:
        break;
    }
    if (kind != DS_BOX && kind != DS_CLASS) {
        jw_key(w, "bbox");
        jw_arr(w);
        jw_dbl(w, x);
        jw_dbl(w, y);
        jw_dbl(w, bw);
        jw_dbl(w, bh);
        jw_arr_end(w);
    }
    if (!db_col_null(st, col + 10))
        jw_kdbl(w, "score", db_col_dbl(st, col + 10));
    if (!db_col_null(st, col + 11))
        jw_kstr(w, "text", db_col_text(st, col + 11));
    if (!db_col_null(st, col + 12))
        ds_raw_json(w, "attributes", st, col + 12, "{}");
    if (db_col_i64(st, col + 13))
        jw_kbool(w, "iscrowd", true);
    if (!db_col_null(st, col + 14))
        jw_kdbl(w, "area", db_col_dbl(st, col + 14));
    jw_obj_end(w);
    if (aux && aux != auxbuf)
        free(aux);
}

/* --- multi-row inserts ----------------------------------------------------------------------- */

int ds_bulk_init(ds_bulk *b, db_conn *c, const char *head, const char *tail, int ncols,
                 int rows_max, err *e)
{
    memset(b, 0, sizeof *b);
    b->c = c;
    b->head = head;
    b->tail = tail ? tail : "";
    b->ncols = ncols;
    /* SQLite looks named parameters ($N) up in a list while parsing, so a
     * statement's preparation grows with the square of its parameters;
     * its inserts are cheap one by one anyway. PostgreSQL pays a round
     * trip per statement: many rows each. */
    if (db_conn_driver(c) == DB_SQLITE && rows_max * ncols > 512)
        rows_max = 512 / ncols > 0 ? 512 / ncols : 1;
    b->rows_max = rows_max;
    b->vals = calloc((size_t)ncols * (size_t)rows_max, sizeof *b->vals);
    b->mem = arena_new(256 * 1024);
    if (!b->vals || !b->mem) {
        ds_bulk_free(b);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return 0;
}

void ds_bulk_free(ds_bulk *b)
{
    free(b->vals);
    arena_free(b->mem);
    sbuf_free(&b->sql);
    b->vals = NULL;
    b->mem = NULL;
}

int ds_bulk_val(ds_bulk *b, db_val v, err *e)
{
    if (v.t == DBV_TEXT || v.t == DBV_BLOB) {
        if (v.t == DBV_TEXT && v.n == (size_t)-1)
            v.n = strlen(v.s);
        char *p = arena_alloc(b->mem, v.n ? v.n : 1);
        if (!p)
            return err_set(e, ERR_INTERNAL, "out of memory");
        memcpy(p, v.s, v.n);
        v.s = p;
    }
    b->vals[b->nvals++] = v;
    if (b->nvals == b->ncols * b->rows_max)
        return ds_bulk_flush(b, e);
    return 0;
}

int ds_bulk_flush(ds_bulk *b, err *e)
{
    int rows = b->nvals / b->ncols;
    if (rows == 0)
        return 0;
    /* the text of a full batch is built once; a last, shorter batch gets its own */
    if (rows != b->sql_rows) {
        sbuf_reset(&b->sql);
        sbuf_puts(&b->sql, b->head);
        int k = 1;
        char num[16];
        for (int r = 0; r < rows; r++) {
            sbuf_puts(&b->sql, r ? ",(" : "(");
            for (int i = 0; i < b->ncols; i++) {
                int n = snprintf(num, sizeof num, i ? ",$%d" : "$%d", k++);
                sbuf_put(&b->sql, num, (size_t)n);
            }
            sbuf_putc(&b->sql, ')');
        }
        sbuf_puts(&b->sql, b->tail);
        if (sbuf_failed(&b->sql))
            return err_set(e, ERR_INTERNAL, "out of memory");
        b->sql_rows = rows;
    }
    db_stmt *s = db_prepare(b->c, sbuf_cstr(&b->sql), e);
    if (!s)
        return -1;
    for (int i = 0; i < rows * b->ncols; i++)
        if (db_bind(s, i + 1, b->vals[i]) != 0) {
            db_done(s);
            return err_set(e, ERR_INTERNAL, "cannot bind a value of a bulk insert");
        }
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW)
        ;
    db_done(s);
    if (rc < 0)
        return -1;
    b->rows += rows;
    b->nvals = 0;
    arena_reset(b->mem);
    return 0;
}

#define SHAPE_INTO                                                                                 \
    "INTO shape (asset_id, label_id, kind, x, y, w, h, geom, aux, score, text, attrs, iscrowd,"   \
    " area) VALUES "

int ds_shapes_bulk_init(ds_bulk *b, db_conn *c, err *e)
{
    return ds_bulk_init(b, c, "INSERT " SHAPE_INTO, NULL, 14, 256, e);
}

/* A statement that may fail after writing some of its rows makes SQLite
 * keep a statement journal: a copy of every page the statement touches,
 * to undo just that statement. A multi-row INSERT of shapes touches a page
 * of the shape_label index for almost every row (a label's entries sit
 * together, and the rows' labels are mixed), so those copies were about a
 * fifth of the importer's shape rows. With OR FAIL a failed statement
 * keeps the rows it wrote, and with foreign keys off (the importer's
 * transaction) nothing else needs the journal. */
int ds_shapes_bulk_init_whole_tx(ds_bulk *b, db_conn *c, err *e)
{
    return ds_bulk_init(b, c, ds_is_pg(c) ? "INSERT " SHAPE_INTO : "INSERT OR FAIL " SHAPE_INTO,
                        NULL, 14, 256, e);
}

int ds_shapes_bulk_add(ds_bulk *b, int64_t asset, int64_t version, const ds_shape *s, err *e)
{
    (void)version;
    sbuf aux = SBUF_INIT;
    size_t alen = ds_shape_aux(s, &aux);
    db_val v[14] = {
        DBI(asset),
        DBI(s->label_id),
        DBI(s->kind),
        DBD(s->x),
        DBD(s->y),
        DBD(s->w),
        DBD(s->h),
        s->npts ? DBB(s->pts, (size_t)s->npts * sizeof(double)) : DBNULL,
        alen ? DBB(aux.p, alen) : DBNULL,
        isnan(s->score) ? DBNULL : DBD(s->score),
        DBT(s->text),
        DBT(s->attrs),
        DBI(s->iscrowd ? 1 : 0),
        isnan(s->area) ? DBNULL : DBD(s->area),
    };
    int rc = 0;
    for (int i = 0; i < 14 && rc == 0; i++)
        rc = ds_bulk_val(b, v[i], e);
    sbuf_free(&aux);
    return rc;
}
