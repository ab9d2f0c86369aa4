/*
 * shapemap.c - moving annotations with their pixels: affine maps, clipping to
 * the image, and the rules for what is left of a shape.
 *
 *   class       unchanged
 *   box         its four corners mapped, the enclosing box taken (a rotated
 *               box becomes the box around it, so it still covers the
 *               object), clipped to the image; dropped when less than
 *               min_visibility of its mapped area is inside
 *   polygon     every ring mapped and clipped (Sutherland-Hodgman); rings
 *               with fewer than 3 points go; dropped below min_visibility
 *   polyline    mapped and clipped (Liang-Barsky); the longest piece inside
 *               is kept
 *   point       mapped; dropped outside
 *   keypoints   mapped; a vertex outside becomes (0, 0, 0): not labelled
 *   mask        dropped (counted): RLE masks are not transformed
 *
 * Shapes come as the API lists them and leave as the API takes them
 * (label by name; score, text, attributes and iscrowd kept; ids, bbox and
 * area left for the server to recompute).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "processing/internal.h"

geom_affine geom_identity(void) { return (geom_affine){1, 0, 0, 0, 1, 0}; }

geom_affine geom_mul(geom_affine o, geom_affine i)
{
    return (geom_affine){o.a * i.a + o.b * i.d,        o.a * i.b + o.b * i.e,
                         o.a * i.c + o.b * i.f + o.c,  o.d * i.a + o.e * i.d,
                         o.d * i.b + o.e * i.e,        o.d * i.c + o.e * i.f + o.f};
}

geom_affine geom_translate(double tx, double ty) { return (geom_affine){1, 0, tx, 0, 1, ty}; }

geom_affine geom_scale(double sx, double sy) { return (geom_affine){sx, 0, 0, 0, sy, 0}; }

geom_affine geom_rotate_about(double degrees, double cx, double cy)
{
    double r = degrees * M_PI / 180, c = cos(r), s = sin(r);
    geom_affine rot = {c, -s, 0, s, c, 0};
    return geom_mul(geom_translate(cx, cy), geom_mul(rot, geom_translate(-cx, -cy)));
}

int geom_invert(geom_affine m, geom_affine *out)
{
    double det = m.a * m.e - m.b * m.d;
    if (fabs(det) < 1e-12)
        return -1;
    double ia = m.e / det, ib = -m.b / det, id = -m.d / det, ie = m.a / det;
    *out = (geom_affine){ia, ib, -(ia * m.c + ib * m.f), id, ie, -(id * m.c + ie * m.f)};
    return 0;
}

void geom_apply(geom_affine m, double x, double y, double *ox, double *oy)
{
    *ox = m.a * x + m.b * y + m.c;
    *oy = m.d * x + m.e * y + m.f;
}

double geom_polygon_area(const double *p, int n)
{
    double a = 0;
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        a += p[2 * i] * p[2 * j + 1] - p[2 * j] * p[2 * i + 1];
    }
    return fabs(a) / 2;
}

/* One edge of the clip rectangle: inside test and intersection. */
static int clip_edge(const double *in, int n, double *out, int edge, double lim)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        const double *a = in + 2 * i, *b = in + 2 * ((i + 1) % n);
        int axis = edge & 1; /* 0: x, 1: y */
        bool lower = edge < 2; /* edges 0,1: >= 0; 2,3: <= lim */
        double va = a[axis], vb = b[axis];
        bool ina = lower ? va >= 0 : va <= lim, inb = lower ? vb >= 0 : vb <= lim;
        double bound = lower ? 0 : lim;
        if (ina)
            out[2 * k] = a[0], out[2 * k + 1] = a[1], k++;
        if (ina != inb) {
            double t = (bound - va) / (vb - va);
            out[2 * k] = a[0] + t * (b[0] - a[0]);
            out[2 * k + 1] = a[1] + t * (b[1] - a[1]);
            out[2 * k + axis] = bound;
            k++;
        }
    }
    return k;
}

int geom_clip_polygon(const double *pts, int n, double w, double h, double *out)
{
    size_t cap = (size_t)(2 * n + 8) * 2;
    double *a = malloc(cap * sizeof *a), *b = malloc(cap * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return 0;
    }
    memcpy(a, pts, (size_t)n * 2 * sizeof *a);
    int k = n;
    const double lims[4] = {0, 0, w, h};
    for (int edge = 0; edge < 4 && k > 0; edge++) {
        k = clip_edge(a, k, b, edge, lims[edge]);
        double *t = a;
        a = b;
        b = t;
    }
    memcpy(out, a, (size_t)k * 2 * sizeof *out);
    free(a);
    free(b);
    return k;
}

static json_t *num_arr(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        double x = round(v[i] * 1000) / 1000; /* a thousandth of a pixel is enough */
        json_array_append_new(a, json_real(x));
    }
    return a;
}

static int read_nums(json_t *a, double **out)
{
    size_t n = json_array_size(a);
    *out = malloc((n ? n : 1) * sizeof **out);
    if (!*out)
        return -1;
    for (size_t i = 0; i < n; i++)
        (*out)[i] = json_number_value(json_array_get(a, i));
    return (int)n;
}

/* The shape's non-geometric fields, as the API takes them. */
static json_t *base_of(json_t *shape, const char *kind)
{
    json_t *o = json_pack("{s:s}", "kind", kind);
    static const char *const keep[] = {"label", "score", "text", "attributes", "iscrowd"};
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
        json_t *v = json_object_get(shape, keep[i]);
        if (v && !json_is_null(v))
            json_object_set(o, keep[i], v);
    }
    return o;
}

static json_t *map_box(json_t *shape, geom_affine m, double w, double h, double minvis)
{
    json_t *b = json_object_get(shape, "box");
    if (json_array_size(b) != 4)
        return NULL;
    double x = json_number_value(json_array_get(b, 0)), y = json_number_value(json_array_get(b, 1));
    double bw = json_number_value(json_array_get(b, 2)), bh = json_number_value(json_array_get(b, 3));
    double cx[4] = {x, x + bw, x + bw, x}, cy[4] = {y, y, y + bh, y + bh};
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (int i = 0; i < 4; i++) {
        double px, py;
        geom_apply(m, cx[i], cy[i], &px, &py);
        x0 = fmin(x0, px);
        y0 = fmin(y0, py);
        x1 = fmax(x1, px);
        y1 = fmax(y1, py);
    }
    double area = (x1 - x0) * (y1 - y0);
    double cx0 = fmax(x0, 0), cy0 = fmax(y0, 0), cx1 = fmin(x1, w), cy1 = fmin(y1, h);
    if (cx1 - cx0 < 1 || cy1 - cy0 < 1)
        return NULL;
    double kept = (cx1 - cx0) * (cy1 - cy0);
    if (area > 0 && kept / area < minvis)
        return NULL;
    json_t *o = base_of(shape, "box");
    double v[4] = {cx0, cy0, cx1 - cx0, cy1 - cy0};
    json_object_set_new(o, "box", num_arr(v, 4));
    return o;
}

static json_t *map_polygon(json_t *shape, geom_affine m, double w, double h, double minvis)
{
    json_t *rings = json_object_get(shape, "rings");
    json_t *flat = json_object_get(shape, "points");
    json_t *one = NULL;
    if (!rings && flat) {
        one = json_array();
        json_array_append(one, flat);
        rings = one;
    }
    json_t *out_rings = json_array();
    double before = 0, after = 0;
    size_t r;
    json_t *ring;
    json_array_foreach(rings, r, ring)
    {
        double *p;
        int n = read_nums(ring, &p);
        if (n < 0)
            continue;
        n /= 2;
        for (int i = 0; i < n; i++)
            geom_apply(m, p[2 * i], p[2 * i + 1], &p[2 * i], &p[2 * i + 1]);
        before += geom_polygon_area(p, n);
        double *c = malloc((size_t)(2 * n + 8) * 2 * sizeof *c);
        int k = c ? geom_clip_polygon(p, n, w, h, c) : 0;
        if (k >= 3 && geom_polygon_area(c, k) > 0.01) {
            after += geom_polygon_area(c, k);
            json_array_append_new(out_rings, num_arr(c, 2 * k));
        }
        free(c);
        free(p);
    }
    json_decref(one);
    if (json_array_size(out_rings) == 0 || (before > 0 && after / before < minvis)) {
        json_decref(out_rings);
        return NULL;
    }
    json_t *o = base_of(shape, "polygon");
    json_object_set_new(o, "rings", out_rings);
    return o;
}

/* Liang-Barsky: the part of segment a-b inside the image, as t0..t1. */
static bool clip_segment(double ax, double ay, double bx, double by, double w, double h, double *t0,
                         double *t1)
{
    double dx = bx - ax, dy = by - ay;
    double p[4] = {-dx, dx, -dy, dy}, q[4] = {ax, w - ax, ay, h - ay};
    *t0 = 0;
    *t1 = 1;
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0)
                return false;
            continue;
        }
        double t = q[i] / p[i];
        if (p[i] < 0)
            *t0 = fmax(*t0, t);
        else
            *t1 = fmin(*t1, t);
    }
    return *t0 <= *t1;
}

static json_t *map_polyline(json_t *shape, geom_affine m, double w, double h)
{
    double *p;
    int n = read_nums(json_object_get(shape, "points"), &p);
    if (n < 4) {
        free(p);
        return NULL;
    }
    n /= 2;
    for (int i = 0; i < n; i++)
        geom_apply(m, p[2 * i], p[2 * i + 1], &p[2 * i], &p[2 * i + 1]);
    /* pieces inside; keep the longest */
    double *cur = malloc((size_t)(2 * n + 2) * 2 * sizeof *cur);
    double *best = malloc((size_t)(2 * n + 2) * 2 * sizeof *best);
    int nc = 0, nb = 0;
    double lc = 0, lb = 0;
    for (int i = 0; cur && best && i + 1 < n; i++) {
        double t0, t1;
        double ax = p[2 * i], ay = p[2 * i + 1], bx = p[2 * i + 2], by = p[2 * i + 3];
        if (!clip_segment(ax, ay, bx, by, w, h, &t0, &t1)) {
            if (nc >= 2 && lc > lb) {
                memcpy(best, cur, (size_t)nc * 2 * sizeof *cur);
                nb = nc;
                lb = lc;
            }
            nc = 0;
            lc = 0;
            continue;
        }
        double sx = ax + t0 * (bx - ax), sy = ay + t0 * (by - ay);
        double ex = ax + t1 * (bx - ax), ey = ay + t1 * (by - ay);
        if (nc == 0 || t0 > 0) {
            if (nc >= 2 && lc > lb) {
                memcpy(best, cur, (size_t)nc * 2 * sizeof *cur);
                nb = nc;
                lb = lc;
            }
            nc = 0;
            lc = 0;
            cur[2 * nc] = sx;
            cur[2 * nc + 1] = sy;
            nc++;
        }
        cur[2 * nc] = ex;
        cur[2 * nc + 1] = ey;
        nc++;
        lc += hypot(ex - sx, ey - sy);
        if (t1 < 1) {
            if (lc > lb) {
                memcpy(best, cur, (size_t)nc * 2 * sizeof *cur);
                nb = nc;
                lb = lc;
            }
            nc = 0;
            lc = 0;
        }
    }
    if (nc >= 2 && lc > lb) {
        memcpy(best, cur, (size_t)nc * 2 * sizeof *cur);
        nb = nc;
        lb = lc;
    }
    json_t *o = NULL;
    if (nb >= 2 && lb > 0) {
        o = base_of(shape, "polyline");
        json_object_set_new(o, "points", num_arr(best, 2 * nb));
    }
    free(p);
    free(cur);
    free(best);
    return o;
}

json_t *geom_shape_map(json_t *shape, geom_affine m, double w, double h, double minvis,
                       geom_stats *st)
{
    const char *kind = json_string_value(json_object_get(shape, "kind"));
    json_t *o = NULL;
    if (!kind) {
        o = NULL;
    } else if (strcmp(kind, "class") == 0) {
        o = base_of(shape, "class");
    } else if (strcmp(kind, "box") == 0) {
        o = map_box(shape, m, w, h, minvis);
    } else if (strcmp(kind, "polygon") == 0) {
        o = map_polygon(shape, m, w, h, minvis);
    } else if (strcmp(kind, "polyline") == 0) {
        o = map_polyline(shape, m, w, h);
    } else if (strcmp(kind, "point") == 0) {
        json_t *pt = json_object_get(shape, "point");
        double x, y;
        geom_apply(m, json_number_value(json_array_get(pt, 0)),
                   json_number_value(json_array_get(pt, 1)), &x, &y);
        if (json_array_size(pt) == 2 && x >= 0 && y >= 0 && x <= w && y <= h) {
            o = base_of(shape, "point");
            double v[2] = {x, y};
            json_object_set_new(o, "point", num_arr(v, 2));
        }
    } else if (strcmp(kind, "keypoints") == 0) {
        double *p;
        int n = read_nums(json_object_get(shape, "keypoints"), &p);
        if (n >= 3) {
            int visible = 0;
            for (int i = 0; i + 2 < n; i += 3) {
                if (p[i + 2] <= 0)
                    continue;
                double x, y;
                geom_apply(m, p[i], p[i + 1], &x, &y);
                if (x < 0 || y < 0 || x > w || y > h) {
                    p[i] = p[i + 1] = p[i + 2] = 0;
                } else {
                    p[i] = x;
                    p[i + 1] = y;
                    visible++;
                }
            }
            if (visible) {
                o = base_of(shape, "keypoints");
                json_object_set_new(o, "keypoints", num_arr(p, n));
            }
        }
        free(p);
    } else if (strcmp(kind, "mask") == 0) {
        if (st)
            st->masks_dropped++;
        return NULL;
    }
    if (st) {
        if (o)
            st->kept++;
        else
            st->dropped++;
    }
    return o;
}
