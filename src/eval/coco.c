/*
 * coco.c - the COCO detection metrics (COCOeval's evaluate, accumulate and
 * summarize), written from the reference algorithm's definition.
 *
 * Pipeline of eval_coco_run():
 *
 *   resolve    images and categories sorted by id; ids mapped to indices;
 *              ground truths (their 64-byte hot part) reordered by (image,
 *              category); detections left in place: records (pair key and
 *              index, score, area) are sorted by (image, category) with a
 *              stable radix sort carrying them, so every pair's detections
 *              are contiguous there and keep their insertion order;
 *   evaluate   per pair, in parallel: detections sorted by descending score
 *              (ties: insertion order = numpy's stable mergesort), cut at
 *              maxDets[-1], IoU/OKS against the pair's ground truths, then
 *              the reference greedy matching for every area range and IoU
 *              threshold. The outcome per detection is two bit sets per area
 *              range (matched, ignored; bit t = threshold t), so nothing of
 *              size T*D*G outlives the pair;
 *   accumulate per category, in parallel: the category's detections in
 *              (score desc, image, rank) order - exactly the reference's
 *              stable sort of the concatenated per-image lists - and for
 *              every (area, maxDets, threshold) the interpolated precision
 *              at the recall points. Only true positives can start the
 *              suffix the interpolation looks at, so only they need a
 *              division; false positives are counted.
 *   summarize  the 12 (10) numbers, means over the defined (> -1) entries.
 *
 * Floating-point: every quantity is computed with the reference's operation
 * order (box IoU, OKS with numpy's pairwise sum, tp/(fp+tp+eps), recall
 * thresholds i*0.01), so thresholds compare the same way.
 */
#include "eval/coco_int.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/util.h"

const double eval_coco_kp_sigmas[17] = {
    .26 / 10.0,  .25 / 10.0, .25 / 10.0, .35 / 10.0, .35 / 10.0, .79 / 10.0,
    .79 / 10.0,  .72 / 10.0, .72 / 10.0, .62 / 10.0, .62 / 10.0, 1.07 / 10.0,
    1.07 / 10.0, .87 / 10.0, .87 / 10.0, .89 / 10.0, .89 / 10.0};

static const double NP_EPS = 2.220446049250313e-16; /* np.spacing(1) */

_Static_assert(sizeof(ann) == 64, "the hot part of an annotation is one cache line");

/* Below this many items a loop runs on one thread: waking a team costs more. */
#define PAR_MIN 20000

const char *eval_iou_type_name(eval_iou_type t)
{
    switch (t) {
    case EVAL_BBOX:
        return "bbox";
    case EVAL_SEGM:
        return "segm";
    case EVAL_KEYPOINTS:
        return "keypoints";
    }
    return "?";
}

int eval_iou_type_parse(const char *s, eval_iou_type *out)
{
    if (strcmp(s, "bbox") == 0)
        *out = EVAL_BBOX;
    else if (strcmp(s, "segm") == 0)
        *out = EVAL_SEGM;
    else if (strcmp(s, "keypoints") == 0)
        *out = EVAL_KEYPOINTS;
    else
        return -1;
    return 0;
}

/* numpy.linspace(start, stop, num): i*step + start, last = stop. */
static void linspace(double *out, double start, double stop, int num)
{
    double step = (stop - start) / (num - 1);
    for (int i = 0; i < num; i++)
        out[i] = (double)i * step + start;
    out[num - 1] = stop;
}

void eval_params_init(eval_params *p, eval_iou_type type)
{
    memset(p, 0, sizeof *p);
    p->n_iou = 10;
    linspace(p->iou_thrs, .5, 0.95, 10);
    p->n_rec = 101;
    linspace(p->rec_thrs, .0, 1.00, 101);
    if (type == EVAL_KEYPOINTS) {
        p->n_area = 3;
        double r[3][2] = {{0, 1e5 * 1e5}, {32 * 32, 96 * 96}, {96 * 96, 1e5 * 1e5}};
        memcpy(p->area_rng, r, sizeof r);
        p->area_lbl[0] = "all";
        p->area_lbl[1] = "medium";
        p->area_lbl[2] = "large";
        p->n_maxdets = 1;
        p->max_dets[0] = 20;
    } else {
        p->n_area = 4;
        double r[4][2] = {{0, 1e5 * 1e5}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, 1e5 * 1e5}};
        memcpy(p->area_rng, r, sizeof r);
        p->area_lbl[0] = "all";
        p->area_lbl[1] = "small";
        p->area_lbl[2] = "medium";
        p->area_lbl[3] = "large";
        p->n_maxdets = 3;
        p->max_dets[0] = 1;
        p->max_dets[1] = 10;
        p->max_dets[2] = 100;
    }
}

/* --- id map (open addressing) ------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static void idmap_free(idmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int idmap_init(idmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    m->keys = malloc(cap * sizeof *m->keys);
    m->vals = malloc(cap * sizeof *m->vals);
    if (!m->keys || !m->vals) {
        idmap_free(m);
        return -1;
    }
    for (size_t i = 0; i < cap; i++)
        m->vals[i] = -1;
    m->cap = cap;
    m->n = 0;
    return 0;
}

/* Returns the existing value, or inserts v and returns -1. */
static int32_t idmap_put(idmap *m, int64_t k, int32_t v)
{
    size_t i = mix64((uint64_t)k) & (m->cap - 1);
    while (m->vals[i] >= 0) {
        if (m->keys[i] == k) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = k;
    m->vals[i] = v;
    m->n++;
    return -1;
}

static int32_t idmap_get(const idmap *m, int64_t k)
{
    size_t i = mix64((uint64_t)k) & (m->cap - 1);
    while (m->vals[i] >= 0) {
        if (m->keys[i] == k) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

/* --- handle --------------------------------------------------------------- */

static void clear_resolved(eval_coco *ev)
{
    idmap_free(&ev->imgmap);
    idmap_free(&ev->catmap);
    free(ev->gidx);
    free(ev->didx);
    free(ev->drec);
    ev->drec = NULL;
    free(ev->pairs);
    ev->gidx = ev->didx = NULL;
    ev->pairs = NULL;
    ev->npairs = 0;
    ev->resolved = false;
}

static void clear_results(eval_coco *ev)
{
    free(ev->acc);
    free(ev->acc_bits);
    free(ev->cat_counts);
    free(ev->acc_start);
    free(ev->npig);
    free(ev->precision);
    free(ev->recall);
    free(ev->scores);
    free(ev->cprec);
    free(ev->cscore);
    free(ev->crec);
    ev->cprec = ev->cscore = ev->crec = NULL;
    ev->acc = NULL;
    ev->acc_bits = NULL;
    ev->cat_counts = NULL;
    ev->acc_start = NULL;
    ev->npig = NULL;
    ev->precision = ev->recall = ev->scores = NULL;
    ev->ran = false;
}

/* Any change to the inputs invalidates the derived state. */
static void touch(eval_coco *ev)
{
    if (ev->resolved) clear_resolved(ev);
    if (ev->ran) clear_results(ev);
}

eval_coco *eval_coco_new(eval_iou_type type)
{
    eval_coco *ev = calloc(1, sizeof *ev);
    if (!ev) return NULL;
    ev->mem = arena_new(1 << 16);
    if (!ev->mem) {
        free(ev);
        return NULL;
    }
    ev->type = type;
    ev->gt_name = "annotations";
    ev->dt_name = "results";
    return ev;
}

void eval_coco_free(eval_coco *ev)
{
    if (!ev) return;
    clear_resolved(ev);
    clear_results(ev);
    free(ev->imgs);
    free(ev->cats);
    free(ev->gts);
    free(ev->dts);
    free(ev->gx);
    free(ev->dx);
    arena_free(ev->mem);
    for (size_t i = 0; i < ev->nmore; i++)
        arena_free(ev->more[i]);
    free(ev->more);
    free(ev);
}

eval_iou_type eval_coco_type(const eval_coco *ev)
{
    return ev->type;
}

void eval_coco_set_names(eval_coco *ev, const char *gt_name, const char *dt_name)
{
    ev->gt_name = gt_name;
    ev->dt_name = dt_name;
}

void eval_coco_ignore_unknown_categories(eval_coco *ev, bool ignore)
{
    touch(ev);
    ev->ignore_unknown_cats = ignore;
}

size_t eval_coco_num_images(const eval_coco *ev)
{
    return ev->nimg;
}
size_t eval_coco_num_categories(const eval_coco *ev)
{
    return ev->ncat;
}
size_t eval_coco_num_gts(const eval_coco *ev)
{
    return ev->ngt;
}
size_t eval_coco_num_dts(const eval_coco *ev)
{
    return ev->ndt;
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return 0;
    size_t c = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, c * size);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

int eval_coco_add_image(eval_coco *ev, int64_t id, uint32_t width, uint32_t height, err *e)
{
    if (width > RLE_MAX_SIDE || height > RLE_MAX_SIDE || (uint64_t)width * height > RLE_MAX_PIXELS)
        return err_set(e, ERR_INVALID, "image %lld: size %ux%u is above the limit", (long long)id,
                       width, height);
    if (ev->nimg >= INT32_MAX - 1) return err_set(e, ERR_TOO_LARGE, "too many images");
    if (grow((void **)&ev->imgs, &ev->capimg, ev->nimg, sizeof *ev->imgs))
        return err_set(e, ERR_INTERNAL, "out of memory");
    touch(ev);
    ev->imgs[ev->nimg++] = (img_rec){id, width, height};
    return 0;
}

int eval_coco_add_category(eval_coco *ev, int64_t id, const char *name, err *e)
{
    if (ev->ncat >= 100000) return err_set(e, ERR_TOO_LARGE, "too many categories (limit 100000)");
    if (grow((void **)&ev->cats, &ev->capcat, ev->ncat, sizeof *ev->cats))
        return err_set(e, ERR_INTERNAL, "out of memory");
    char *nm = arena_strdup(ev->mem, name ? name : "");
    if (!nm) return err_set(e, ERR_INTERNAL, "out of memory");
    touch(ev);
    ev->cats[ev->ncat++] = (cat_rec){id, nm, NULL, 0};
    return 0;
}

int eval_coco_set_sigmas(eval_coco *ev, int64_t category_id, const double *sigmas, size_t n, err *e)
{
    for (size_t i = 0; i < ev->ncat; i++) {
        if (ev->cats[i].id != category_id) continue;
        for (size_t j = 0; j < n; j++)
            if (!isfinite(sigmas[j]) || sigmas[j] <= 0)
                return err_set(e, ERR_INVALID, "category %lld: sigma %zu must be > 0",
                               (long long)category_id, j);
        double *s = arena_alloc(ev->mem, (n ? n : 1) * sizeof *s);
        if (!s) return err_set(e, ERR_INTERNAL, "out of memory");
        memcpy(s, sigmas, n * sizeof *s);
        touch(ev);
        ev->cats[i].sigmas = s;
        ev->cats[i].nsig = n;
        return 0;
    }
    return err_set(e, ERR_NOT_FOUND, "no category with id %lld; add it first",
                   (long long)category_id);
}

/* Checks and copies a segmentation into the arena. */
/* Checks and copies a segmentation; *area receives the mask area of an RLE
 * (-1 for polygons, which need the image size). */
static int copy_seg(eval_coco *ev, const eval_seg *s, eval_seg **out, double *area, err *e)
{
    *out = NULL;
    *area = -1;
    if (s->kind == EVAL_SEG_NONE) return 0;
    eval_seg *c = arena_zalloc(ev->mem, sizeof *c);
    if (!c) return err_set(e, ERR_INTERNAL, "out of memory");
    c->kind = s->kind;
    c->h = s->h;
    c->w = s->w;
    switch (s->kind) {
    case EVAL_SEG_POLY: {
        if (s->npoly == 0) return err_set(e, ERR_INVALID, "segmentation: no polygon");
        size_t total = 0;
        for (size_t i = 0; i < s->npoly; i++) {
            if (s->poly_len[i] < 6 || s->poly_len[i] % 2)
                return err_set(e, ERR_INVALID,
                               "segmentation[%zu]: a polygon needs an even number (>= 6) of "
                               "coordinates, got %u",
                               i, s->poly_len[i]);
            total += s->poly_len[i];
        }
        for (size_t j = 0; j < total; j++)
            if (!isfinite(s->xy[j]) || fabs(s->xy[j]) > RLE_MAX_COORD)
                return err_set(e, ERR_INVALID,
                               "segmentation: coordinate %g is not a number within +-%g", s->xy[j],
                               RLE_MAX_COORD);
        uint32_t *pl = arena_alloc(ev->mem, s->npoly * sizeof *pl);
        double *xy = arena_alloc(ev->mem, total * sizeof *xy);
        if (!pl || !xy) return err_set(e, ERR_INTERNAL, "out of memory");
        memcpy(pl, s->poly_len, s->npoly * sizeof *pl);
        memcpy(xy, s->xy, total * sizeof *xy);
        c->poly_len = pl;
        c->npoly = s->npoly;
        c->xy = xy;
        break;
    }
    case EVAL_SEG_COUNTS: {
        uint64_t sum = 0, fg = 0;
        for (size_t i = 0; i < s->ncounts; i++) {
            sum += s->counts[i];
            if (i & 1) fg += s->counts[i];
        }
        *area = (double)fg;
        if (sum != (uint64_t)s->h * s->w)
            return err_set(e, ERR_INVALID,
                           "segmentation.counts: runs add up to %llu, expected %u*%u = %llu",
                           (unsigned long long)sum, s->h, s->w, (unsigned long long)s->h * s->w);
        if (s->h > RLE_MAX_SIDE || s->w > RLE_MAX_SIDE || (uint64_t)s->h * s->w > RLE_MAX_PIXELS)
            return err_set(e, ERR_INVALID, "segmentation.size %ux%u is above the limit", s->h,
                           s->w);
        uint32_t *cn = arena_alloc(ev->mem, (s->ncounts ? s->ncounts : 1) * sizeof *cn);
        if (!cn) return err_set(e, ERR_INTERNAL, "out of memory");
        if (s->ncounts) memcpy(cn, s->counts, s->ncounts * sizeof *cn);
        c->counts = cn;
        c->ncounts = s->ncounts;
        break;
    }
    case EVAL_SEG_STRING: {
        uint64_t ar;
        if (rle_string_area(s->str, s->len, s->h, s->w, &ar, e)) /* checks it too */
            return err_prefix(e, "segmentation.counts: ");
        *area = (double)ar;
        char *str = arena_strndup(ev->mem, s->len ? s->str : "", s->len);
        if (!str) return err_set(e, ERR_INTERNAL, "out of memory");
        c->str = str;
        c->len = s->len;
        break;
    }
    case EVAL_SEG_NONE:
        break;
    }
    *out = c;
    return 0;
}

/* Grows the hot (64-byte aligned) and cold arrays of one kind to hold at
 * least want entries; n entries are kept. */
static int ann_grow(ann **hot, ann_x **cold, size_t *cap, size_t n, size_t want)
{
    if (want <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < want)
        c *= 2;
    ann *h = aligned_alloc(64, c * sizeof *h);
    ann_x *x = realloc(*cold, c * sizeof *x);
    if (!h || !x) {
        free(h);
        if (x) *cold = x;
        return -1;
    }
    if (n) memcpy(h, *hot, n * sizeof *h);
    free(*hot);
    *hot = h;
    *cold = x;
    *cap = c;
    return 0;
}

int coco_reserve_dts(eval_coco *ev, size_t n)
{
    return ann_grow(&ev->dts, &ev->dx, &ev->capdt, ev->ndt, ev->ndt + n);
}

static int add_ann(eval_coco *ev, const eval_ann *a, bool is_gt, err *e)
{
    ann **arr = is_gt ? &ev->gts : &ev->dts;
    ann_x **xarr = is_gt ? &ev->gx : &ev->dx;
    size_t *n = is_gt ? &ev->ngt : &ev->ndt, *cap = is_gt ? &ev->capgt : &ev->capdt;
    if (*n >= (size_t)INT32_MAX - 1) return err_set(e, ERR_TOO_LARGE, "too many annotations");
    if (a->has_bbox) {
        for (int i = 0; i < 4; i++)
            if (!isfinite(a->bbox[i]))
                return err_set(e, ERR_INVALID, "bbox: coordinates must be finite numbers");
        if (a->bbox[2] < 0 || a->bbox[3] < 0)
            return err_set(e, ERR_INVALID, "bbox: width and height must be >= 0, got %g x %g",
                           a->bbox[2], a->bbox[3]);
    }
    if (!is_gt && !isfinite(a->score))
        return err_set(e, ERR_INVALID, "score: must be a finite number");
    if (!isnan(a->area) && a->area >= 0 && !isfinite(a->area))
        return err_set(e, ERR_INVALID, "area: must be a finite number");
    if (isnan(a->area)) return err_set(e, ERR_INVALID, "area: must be a finite number");
    for (size_t i = 0; i < a->nkeypoints * 3; i++)
        if (!isfinite(a->keypoints[i]))
            return err_set(e, ERR_INVALID, "keypoints: values must be finite numbers");
    if (a->nkeypoints > 10000)
        return err_set(e, ERR_INVALID, "keypoints: %zu keypoints is above the limit of 10000",
                       a->nkeypoints);
    /* what the IoU type needs */
    switch (ev->type) {
    case EVAL_BBOX:
        if (!a->has_bbox && a->seg.kind == EVAL_SEG_NONE && (is_gt || a->nkeypoints == 0))
            return err_set(e, ERR_INVALID, "bbox: missing (needed to evaluate bbox)");
        break;
    case EVAL_SEGM:
        if (a->seg.kind == EVAL_SEG_NONE && !a->has_bbox)
            return err_set(e, ERR_INVALID, "segmentation: missing (needed to evaluate segm)");
        break;
    case EVAL_KEYPOINTS:
        /* a ground truth without keypoints is kept and ignored (num_keypoints 0) */
        if (!is_gt && a->nkeypoints == 0)
            return err_set(e, ERR_INVALID, "keypoints: missing (needed to evaluate keypoints)");
        break;
    }
    if (ann_grow(arr, xarr, cap, *n, *n + 1)) return err_set(e, ERR_INTERNAL, "out of memory");
    ann h;
    memset(&h, 0, sizeof h);
    h.seq = (uint32_t)*n;
    h.img = h.cat = -1;
    h.score = is_gt ? 0 : a->score;
    h.area = a->area;
    h.has_bbox = a->has_bbox;
    if (a->has_bbox) memcpy(h.bbox, a->bbox, sizeof h.bbox);
    h.iscrowd = is_gt && a->iscrowd;
    ann_x x;
    memset(&x, 0, sizeof x);
    x.id = is_gt ? a->id : (int64_t)*n + 1;
    x.image_id = a->image_id;
    x.category_id = a->category_id;
    x.nkp = (uint32_t)a->nkeypoints;
    x.num_kp = a->num_keypoints;
    if (a->nkeypoints) {
        x.kp = arena_alloc(ev->mem, a->nkeypoints * 3 * sizeof *x.kp);
        if (!x.kp) return err_set(e, ERR_INTERNAL, "out of memory");
        memcpy(x.kp, a->keypoints, a->nkeypoints * 3 * sizeof *x.kp);
    }
    if (is_gt && x.num_kp < 0) {
        int c = 0;
        for (size_t i = 0; i < a->nkeypoints; i++)
            c += a->keypoints[3 * i + 2] > 0;
        x.num_kp = c;
    }
    double mask_area;
    if (copy_seg(ev, &a->seg, &x.seg, &mask_area, e)) return -1;
    /* an area to derive from an RLE is known now (its check decoded it):
     * evaluation then needs no mask for an annotation nothing overlaps */
    if (h.area < 0 && mask_area >= 0 && (is_gt || !a->has_bbox)) h.area = mask_area;
    h.has_seg = x.seg != NULL;
    h.has_kp = x.nkp > 0;
    h.zero_id = is_gt && x.id == 0;
    touch(ev);
    (*arr)[*n] = h;
    (*xarr)[*n] = x;
    (*n)++;
    return 0;
}

void coco_truncate(eval_coco *ev, size_t nimg, size_t ncat, size_t ngt, size_t ndt)
{
    /* the arena keeps their bytes until the handle is freed */
    if (nimg < ev->nimg || ncat < ev->ncat || ngt < ev->ngt || ndt < ev->ndt) touch(ev);
    if (nimg < ev->nimg) ev->nimg = nimg;
    if (ncat < ev->ncat) ev->ncat = ncat;
    if (ngt < ev->ngt) ev->ngt = ngt;
    if (ndt < ev->ndt) ev->ndt = ndt;
}

int coco_adopt_dts(eval_coco *dst, eval_coco *src, err *e)
{
    if (src->ndt == 0) return 0;
    if (dst->ndt + src->ndt >= (size_t)INT32_MAX - 1)
        return err_set(e, ERR_TOO_LARGE, "too many annotations");
    arena *na = arena_new(256);
    arena **more = realloc(dst->more, (dst->nmore + 1) * sizeof *more);
    if (more) dst->more = more;
    if (!na || !more || coco_reserve_dts(dst, src->ndt)) {
        arena_free(na);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    touch(dst);
    size_t base = dst->ndt;
    for (size_t i = 0; i < src->ndt; i++) {
        ann h = src->dts[i];
        h.seq += (uint32_t)base;
        h.img = h.cat = -1;
        dst->dts[base + i] = h;
        ann_x x = src->dx[i];
        x.id = (int64_t)(base + i) + 1;
        dst->dx[base + i] = x;
    }
    dst->ndt = base + src->ndt;
    /* the detections point into src's arena: it moves to dst */
    dst->more[dst->nmore++] = src->mem;
    src->mem = na;
    touch(src);
    src->ndt = 0;
    return 0;
}

int eval_coco_add_gt(eval_coco *ev, const eval_ann *a, err *e)
{
    return add_ann(ev, a, true, e);
}
int eval_coco_add_dt(eval_coco *ev, const eval_ann *a, err *e)
{
    return add_ann(ev, a, false, e);
}

/* --- resolve ---------------------------------------------------------------- */

/* bbox and keypoints: the geometry comes from the hot part alone (the
 * first case of coco_geom), no need to build it. */
static inline bool geom_plain(const eval_coco *ev, const ann *a, bool is_gt)
{
    return ev->type != EVAL_SEGM && a->has_bbox && (a->area >= 0 || !is_gt || !a->has_seg);
}

static inline double plain_area(const ann *a)
{
    return a->area >= 0 ? a->area : a->bbox[2] * a->bbox[3];
}


static int cmp_img(const void *a, const void *b)
{
    int64_t x = ((const img_rec *)a)->id, y = ((const img_rec *)b)->id;
    return (x > y) - (x < y);
}

static int cmp_cat(const void *a, const void *b)
{
    int64_t x = ((const cat_rec *)a)->id, y = ((const cat_rec *)b)->id;
    return (x > y) - (x < y);
}

static int eval_nthreads(int want)
{
#ifdef _OPENMP
    return want > 0 ? want : omp_get_max_threads();
#else
    (void)want;
    return 1;
#endif
}

/* Why an annotation with resolved img/cat cannot be evaluated; NULL if it
 * can. *dropped: a detection of an unknown category being ignored. */
static const char *ann_problem(const eval_coco *ev, const ann *a, bool is_gt, bool *dropped)
{
    *dropped = false;
    if (a->img < 0) return "image";
    if (a->cat < 0) {
        if (!is_gt && ev->ignore_unknown_cats) {
            *dropped = true;
            return NULL;
        }
        return "category";
    }
    if (ev->type == EVAL_BBOX && a->has_bbox)
        return NULL; /* nothing else to check: no need for the cold part */
    const ann_x *x = ann_xof(ev, a, is_gt);
    if (ev->type == EVAL_KEYPOINTS) {
        const cat_rec *c = &ev->cats[a->cat];
        size_t nsig = c->sigmas ? c->nsig : 17;
        if (x->nkp != nsig && !(is_gt && x->nkp == 0)) return "keypoints";
    }
    const img_rec *im = &ev->imgs[a->img];
    bool poly = x->seg && x->seg->kind == EVAL_SEG_POLY;
    bool needs_size = ev->type == EVAL_SEGM ? (poly || !x->seg) : (!a->has_bbox && poly);
    if (needs_size && (im->w == 0 || im->h == 0)) return "size";
    return NULL;
}

static int ann_error(const eval_coco *ev, const ann *a, bool is_gt, const char *what, err *e)
{
    const char *name = is_gt ? ev->gt_name : ev->dt_name;
    const ann_x *x = ann_xof(ev, a, is_gt);
    size_t i = a->seq;
    if (strcmp(what, "image") == 0)
        return err_set(e, ERR_INVALID, "%s[%zu].image_id: %lld is not an image of the %s", name, i,
                       (long long)x->image_id, is_gt ? "images list" : "ground truth");
    if (strcmp(what, "category") == 0)
        return err_set(e, ERR_INVALID,
                       "%s[%zu].category_id: %lld is not a category of the ground truth", name, i,
                       (long long)x->category_id);
    if (strcmp(what, "keypoints") == 0) {
        const cat_rec *c = &ev->cats[a->cat];
        return err_set(e, ERR_INVALID,
                       "%s[%zu].keypoints: %u keypoints, but category %lld has %zu sigmas%s", name,
                       i, x->nkp, (long long)c->id, c->sigmas ? c->nsig : 17,
                       c->sigmas ? "" : " (the COCO person default)");
    }
    return err_set(e, ERR_INVALID,
                   "%s[%zu]: image %lld has no width/height, needed to rasterise its polygon", name,
                   i, (long long)ev->imgs[a->img].id);
}

/* Stable LSD radix sort of n words on bits [lo, lo + bits) (11-bit digits),
 * in parallel: every thread counts its slice, the offsets are laid out
 * digit by digit and, within a digit, slice by slice (which keeps the sort
 * stable), then every thread scatters its slice. Returns the sorted array
 * (a or b). */
static uint64_t *radix_words(uint64_t *a, uint64_t *b, size_t n, int lo, int bits, int nth,
                             size_t (*hist)[2048])
{
    uint64_t *src = a, *dst = b;
    for (int shift = lo; shift < lo + bits; shift += 11) {
#pragma omp parallel num_threads(nth)
        {
            int me = 0, team = 1; /* the team may be smaller than asked */
#ifdef _OPENMP
            me = omp_get_thread_num();
            team = omp_get_num_threads();
#endif
            size_t lo_i = n * (size_t)me / (size_t)team, hi_i = n * ((size_t)me + 1) / (size_t)team;
            size_t *h = hist[me];
            memset(h, 0, sizeof hist[0]);
            for (size_t i = lo_i; i < hi_i; i++)
                h[(src[i] >> shift) & 2047]++;
#pragma omp barrier
#pragma omp single
            {
                size_t sum = 0;
                for (int d = 0; d < 2048; d++)
                    for (int t = 0; t < team; t++) {
                        size_t c = hist[t][d];
                        hist[t][d] = sum;
                        sum += c;
                    }
            }
            for (size_t i = lo_i; i < hi_i; i++)
                dst[h[(src[i] >> shift) & 2047]++] = src[i];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    return src;
}

/* The same for detection records (the key in the word's high half). */
static dsrec *radix_recs(dsrec *a, dsrec *b, size_t n, int lo, int bits, int nth,
                         size_t (*hist)[2048])
{
    dsrec *src = a, *dst = b;
    for (int shift = lo; shift < lo + bits; shift += 11) {
#pragma omp parallel num_threads(nth)
        {
            int me = 0, team = 1;
#ifdef _OPENMP
            me = omp_get_thread_num();
            team = omp_get_num_threads();
#endif
            size_t lo_i = n * (size_t)me / (size_t)team, hi_i = n * ((size_t)me + 1) / (size_t)team;
            size_t *h = hist[me];
            memset(h, 0, sizeof hist[0]);
            for (size_t i = lo_i; i < hi_i; i++)
                h[(src[i].w >> shift) & 2047]++;
#pragma omp barrier
#pragma omp single
            {
                size_t sum = 0;
                for (int d = 0; d < 2048; d++)
                    for (int t = 0; t < team; t++) {
                        size_t c = hist[t][d];
                        hist[t][d] = sum;
                        sum += c;
                    }
            }
            for (size_t i = lo_i; i < hi_i; i++)
                dst[h[(src[i].w >> shift) & 2047]++] = src[i];
        }
        dsrec *t = src;
        src = dst;
        dst = t;
    }
    return src;
}

typedef struct keyidx {
    uint64_t key;
    uint32_t idx;
    uint32_t pad;
} keyidx;

static int cmp_keyidx(const void *a, const void *b)
{
    const keyidx *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/*
 * Resolves the ids of n annotations and orders them by (image, category),
 * insertion order within, without moving them: *idx_out gets the kept
 * annotations' positions in that order and *keys_out their pair keys
 * (image * ncat + category), unknown-category detections being dropped.
 * The sort works on packed (key << 32 | position) words: a stable LSD radix
 * over the key bits only, 8 bytes per item where moving the 64-byte
 * annotations (twice) cost more than evaluation's later reads through the
 * index.
 */
static int resolve_anns(eval_coco *ev, ann **arr, size_t n, size_t cap, bool is_gt,
                        uint32_t **idx_out, uint64_t **keys_out, dsrec **recs_out, size_t *nkept,
                        err *e)
{
    ann *as = *arr;
    const uint64_t sentinel = (uint64_t)ev->nimg * ev->ncat; /* sorts after every pair */
    const ann_x *xs = is_gt ? ev->gx : ev->dx;
    int nth = eval_nthreads(ev->p.threads);
    (void)nth;
    long bad_seq = LONG_MAX, nk = 0;
#pragma omp parallel for num_threads(nth) schedule(static) reduction(min : bad_seq) \
    reduction(+ : nk) if (n > PAR_MIN)
    for (long i = 0; i < (long)n; i++) {
        ann *a = &as[i];
        const ann_x *x = &xs[a->seq];
        a->img = idmap_get(&ev->imgmap, x->image_id);
        a->cat = idmap_get(&ev->catmap, x->category_id);
        bool dropped;
        if (ann_problem(ev, a, is_gt, &dropped) && (long)a->seq < bad_seq) bad_seq = (long)a->seq;
        if (dropped) a->cat = -1;
        nk += a->img >= 0 && a->cat >= 0;
    }
    if (bad_seq != LONG_MAX) {
        for (size_t i = 0; i < n; i++)
            if ((long)as[i].seq == bad_seq) {
                bool dropped;
                return ann_error(ev, &as[i], is_gt, ann_problem(ev, &as[i], is_gt, &dropped), e);
            }
        return err_set(e, ERR_INTERNAL, "resolve: lost an annotation");
    }
    uint32_t *idx = malloc((nk ? (size_t)nk : 1) * sizeof *idx);
    uint64_t *keys = malloc((nk ? (size_t)nk : 1) * sizeof *keys);
    if (!idx || !keys) {
        free(idx);
        free(keys);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    /* detections: records (pair key and index, score, area) sorted with
     * their payload, so that evaluation finds a pair's scores and areas in
     * consecutive memory without touching the detections themselves: on a
     * shuffled file that read costs a cache miss per detection, and most
     * pairs (no ground truth) need nothing else */
    dsrec *recs = NULL;
    if (!is_gt) {
        recs = malloc((n ? n : 1) * sizeof *recs);
        if (!recs) {
            free(idx);
            free(keys);
            return err_set(e, ERR_INTERNAL, "out of memory");
        }
#pragma omp parallel for num_threads(nth) schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < (long)n; i++) {
            const ann *a = &as[i];
            uint64_t k = a->img >= 0 && a->cat >= 0
                             ? (uint64_t)a->img * ev->ncat + (uint64_t)a->cat
                             : sentinel;
            recs[i] = (dsrec){(k < ((uint64_t)1 << 32) ? k << 32 : 0) | (uint64_t)i, a->score,
                              /* coco_geom's area: the given (or derived at
                               * load) one, else the box's, else later */
                              a->area >= 0             ? a->area
                              : geom_plain(ev, a, false) ? plain_area(a)
                                                         : NAN};
        }
    }
    if (sentinel < ((uint64_t)1 << 32)) {
        int bits = 0;
        while (bits < 32 && (sentinel >> bits) != 0)
            bits++;
        int nt = n > PAR_MIN ? nth : 1;
        if (nt > 8) nt = 8;
        size_t(*hist)[2048] = malloc((size_t)nt * sizeof *hist);
        uint64_t *wa = NULL, *wb = NULL;
        dsrec *rb = NULL;
        if (is_gt) {
            wa = malloc((n ? n : 1) * sizeof *wa);
            wb = malloc((n ? n : 1) * sizeof *wb);
        } else {
            rb = malloc((n ? n : 1) * sizeof *rb);
        }
        if (!hist || (is_gt ? !wa || !wb : !rb)) {
            free(wa);
            free(wb);
            free(rb);
            free(recs);
            free(hist);
            free(idx);
            free(keys);
            return err_set(e, ERR_INTERNAL, "out of memory");
        }
        if (is_gt) {
            for (size_t i = 0; i < n; i++) {
                const ann *a = &as[i];
                uint64_t k = a->img >= 0 && a->cat >= 0
                                 ? (uint64_t)a->img * ev->ncat + (uint64_t)a->cat
                                 : sentinel;
                wa[i] = k << 32 | (uint64_t)i;
            }
            const uint64_t *w = radix_words(wa, wb, n, 32, bits, nt, hist);
            for (long i = 0; i < nk; i++) {
                idx[i] = (uint32_t)w[i];
                keys[i] = w[i] >> 32;
            }
        } else {
            dsrec *r = radix_recs(recs, rb, n, 32, bits, nt, hist);
            if (r != recs) { /* keep the sorted one */
                rb = recs;
                recs = r;
            }
            for (long i = 0; i < nk; i++) {
                idx[i] = (uint32_t)recs[i].w;
                keys[i] = recs[i].w >> 32;
            }
        }
        free(wa);
        free(wb);
        free(rb);
        free(hist);
    } else { /* more (image, category) pairs than 2^32: rare, a comparison sort */
        keyidx *ki = malloc((nk ? (size_t)nk : 1) * sizeof *ki);
        dsrec *r2 = is_gt ? NULL : malloc((nk ? (size_t)nk : 1) * sizeof *r2);
        if (!ki || (!is_gt && !r2)) {
            free(ki);
            free(r2);
            free(recs);
            free(idx);
            free(keys);
            return err_set(e, ERR_INTERNAL, "out of memory");
        }
        size_t j = 0;
        for (size_t i = 0; i < n; i++)
            if (as[i].img >= 0 && as[i].cat >= 0)
                ki[j++] = (keyidx){(uint64_t)as[i].img * ev->ncat + (uint64_t)as[i].cat,
                                   (uint32_t)i, 0};
        qsort(ki, j, sizeof *ki, cmp_keyidx); /* the index breaks ties: stable */
        for (size_t i = 0; i < j; i++) {
            idx[i] = ki[i].idx;
            keys[i] = ki[i].key;
            if (r2) r2[i] = recs[ki[i].idx];
        }
        free(ki);
        free(recs);
        recs = r2;
    }
    if (!is_gt) { /* the detections stay where they are */
        *idx_out = idx;
        *keys_out = keys;
        *recs_out = recs;
        *nkept = (size_t)nk;
        return 0;
    }
    /* the annotations move once, in a gather: evaluation then reads each
     * pair's annotations from consecutive cache lines (reading them through
     * the index costs a cache miss per annotation on a shuffled file) */
    ann *moved = n ? aligned_alloc(64, cap * sizeof *moved) : NULL; /* same capacity */
    if (n && !moved) {
        free(idx);
        free(keys);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    size_t nks = (size_t)nk;
#pragma omp parallel num_threads(nth) if (n > PAR_MIN)
    {
        /* kept ones in pair order, then the dropped ones in their order */
#pragma omp for schedule(static) nowait
        for (size_t i = 0; i < nks; i++) {
            if (i + 16 < nks) __builtin_prefetch(&as[idx[i + 16]]);
            moved[i] = as[idx[i]];
            idx[i] = (uint32_t)i;
        }
#pragma omp single
        {
            size_t j = nks;
            for (size_t i = 0; i < n && j < n; i++)
                if (as[i].img < 0 || as[i].cat < 0) moved[j++] = as[i];
        }
    }
    if (n) {
        free(as);
        *arr = moved;
    }
    *idx_out = idx;
    *keys_out = keys;
    *nkept = (size_t)nk;
    return 0;
}

int coco_resolve(eval_coco *ev, err *e)
{
    if (ev->resolved) return 0;
    if (ev->nimg) qsort(ev->imgs, ev->nimg, sizeof *ev->imgs, cmp_img);
    if (ev->ncat) qsort(ev->cats, ev->ncat, sizeof *ev->cats, cmp_cat);
    if (idmap_init(&ev->imgmap, ev->nimg) || idmap_init(&ev->catmap, ev->ncat)) {
        clear_resolved(ev);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < ev->nimg; i++)
        if (idmap_put(&ev->imgmap, ev->imgs[i].id, (int32_t)i) >= 0) {
            clear_resolved(ev);
            return err_set(e, ERR_INVALID, "images: id %lld appears more than once",
                           (long long)ev->imgs[i].id);
        }
    for (size_t i = 0; i < ev->ncat; i++)
        if (idmap_put(&ev->catmap, ev->cats[i].id, (int32_t)i) >= 0) {
            clear_resolved(ev);
            return err_set(e, ERR_INVALID, "categories: id %lld appears more than once",
                           (long long)ev->cats[i].id);
        }
    size_t ng = 0, nd = 0;
    uint64_t *gk = NULL, *dk = NULL;
    if (resolve_anns(ev, &ev->gts, ev->ngt, ev->capgt, true, &ev->gidx, &gk, NULL, &ng, e)) {
        clear_resolved(ev);
        return -1;
    }
    if (resolve_anns(ev, &ev->dts, ev->ndt, ev->capdt, false, &ev->didx, &dk, &ev->drec, &nd,
                     e)) {
        free(gk);
        clear_resolved(ev);
        return -1;
    }
    /* pairs: merge the two (img, cat)-sorted key lists; at most ng + nd */
    pair_rec *pairs = malloc((ng + nd + 1) * sizeof *pairs);
    if (!pairs) {
        free(gk);
        free(dk);
        clear_resolved(ev);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    size_t np = 0, gi = 0, di = 0;
    while (gi < ng || di < nd) {
        uint64_t kg = gi < ng ? gk[gi] : UINT64_MAX;
        uint64_t kd = di < nd ? dk[di] : UINT64_MAX;
        uint64_t k = kg < kd ? kg : kd;
        pair_rec pr = {
            (uint32_t)(k / ev->ncat), (uint32_t)(k % ev->ncat), (uint32_t)gi, 0, (uint32_t)di, 0};
        while (gi < ng && gk[gi] == k)
            gi++, pr.ng++;
        while (di < nd && dk[di] == k)
            di++, pr.nd++;
        pairs[np++] = pr;
    }
    free(gk);
    free(dk);
    ev->pairs = pairs;
    ev->npairs = np;
    ev->resolved = true;
    return 0;
}

/* --- geometry ------------------------------------------------------------------ */

void coco_geom_free(geom *g)
{
    rle_free(&g->mask);
}

static int seg_to_rle(const eval_seg *s, const double *bbox, const img_rec *im, rle *out, err *e)
{
    if (!s) /* a box used as a polygon, as the reference's loadRes does */
        return rle_from_bbox(out, bbox, im->h, im->w, e);
    switch (s->kind) {
    case EVAL_SEG_POLY: {
        rle *parts = calloc(s->npoly, sizeof *parts);
        if (!parts) return err_set(e, ERR_INTERNAL, "out of memory");
        const double *xy = s->xy;
        int rc = 0;
        for (size_t i = 0; i < s->npoly && rc == 0; i++) {
            rc = rle_from_poly(&parts[i], xy, s->poly_len[i] / 2, im->h, im->w, e);
            xy += s->poly_len[i];
        }
        if (rc == 0) {
            if (s->npoly == 1) {
                *out = parts[0];
                parts[0] = (rle)RLE_INIT;
            } else {
                rc = rle_merge(parts, s->npoly, false, out, e);
            }
        }
        for (size_t i = 0; i < s->npoly; i++)
            rle_free(&parts[i]);
        free(parts);
        return rc;
    }
    case EVAL_SEG_COUNTS:
        return rle_from_counts(out, s->counts, s->ncounts, s->h, s->w, e);
    case EVAL_SEG_STRING:
        return rle_from_string(out, s->str, s->len, s->h, s->w, e);
    case EVAL_SEG_NONE:
        break;
    }
    return rle_from_bbox(out, bbox, im->h, im->w, e);
}

static void kp_extent(const ann_x *a, double *x0, double *y0, double *x1, double *y1)
{
    *x0 = *y0 = INFINITY;
    *x1 = *y1 = -INFINITY;
    for (uint32_t i = 0; i < a->nkp; i++) {
        double x = a->kp[3 * i], y = a->kp[3 * i + 1];
        *x0 = fmin(*x0, x);
        *x1 = fmax(*x1, x);
        *y0 = fmin(*y0, y);
        *y1 = fmax(*y1, y);
    }
}

int coco_geom(const eval_coco *ev, const ann *a, bool is_gt, bool want_mask, geom *g, err *e)
{
    memset(g, 0, sizeof *g);
    bool segm = ev->type == EVAL_SEGM;
    if (!segm && a->has_bbox && (a->area >= 0 || !is_gt || !a->has_seg)) {
        /* the common case, from the hot part alone: a box, its area given or w*h */
        memcpy(g->bb, a->bbox, sizeof g->bb);
        g->area = a->area >= 0 ? a->area : a->bbox[2] * a->bbox[3];
        return 0;
    }
    const img_rec *im = &ev->imgs[a->img];
    const ann_x *ax = ann_xof(ev, a, is_gt);
    const eval_seg *seg = ax->seg;
    bool area_from_mask = a->area < 0 && seg && (is_gt || !a->has_bbox);
    bool box_from_mask = !segm && !a->has_bbox && seg;
    bool mask_for_iou = segm && (want_mask || !seg); /* a box-only result: cheap */
    if (!mask_for_iou && !box_from_mask && area_from_mask && seg->kind != EVAL_SEG_POLY) {
        /* only the area is needed (no ground truth to compare with): sum the
         * runs without building the mask */
        uint64_t ar = 0;
        if (seg->kind == EVAL_SEG_STRING) {
            if (rle_string_area(seg->str, seg->len, seg->h, seg->w, &ar, e)) return -1;
        } else {
            for (size_t i = 1; i < seg->ncounts; i += 2)
                ar += seg->counts[i];
        }
        g->area = (double)ar;
        return 0;
    }
    if (mask_for_iou || box_from_mask || area_from_mask) {
        if (seg_to_rle(seg, a->bbox, im, &g->mask, e)) return -1;
    }
    if (segm) {
        /* the mask IoU's overlap test needs a box around the mask (not the
         * bbox field); a cover box gives the same IoU in O(1) */
        rle_to_cover(&g->mask, g->bb);
    } else if (a->has_bbox) {
        memcpy(g->bb, a->bbox, sizeof g->bb);
    } else if (seg) {
        rle_to_bbox(&g->mask, g->bb);
    } else if (ax->nkp) {
        double x0, y0, x1, y1;
        kp_extent(ax, &x0, &y0, &x1, &y1);
        g->bb[0] = x0;
        g->bb[1] = y0;
        g->bb[2] = x1 - x0;
        g->bb[3] = y1 - y0;
    }
    if (a->area >= 0) {
        g->area = a->area;
    } else if (!is_gt && a->has_bbox) {
        g->area = a->bbox[2] * a->bbox[3];
    } else if (seg) {
        g->area = (double)rle_area(&g->mask);
    } else if (a->has_bbox) {
        g->area = a->bbox[2] * a->bbox[3];
    } else if (ax->nkp) {
        double x0, y0, x1, y1;
        kp_extent(ax, &x0, &y0, &x1, &y1);
        g->area = (x1 - x0) * (y1 - y0);
    }
    if (!segm && g->mask.cnts) rle_free(&g->mask);
    return 0;
}

/* numpy's pairwise summation (float64 add.reduce on a contiguous array). */
static double np_pairwise_sum(const double *a, size_t n)
{
    if (n < 8) {
        double res = 0.;
        for (size_t i = 0; i < n; i++)
            res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++)
            r[j] = a[j];
        size_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++)
                r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return np_pairwise_sum(a, n2) + np_pairwise_sum(a + n2, n - n2);
}

static double oks(const eval_coco *ev, const ann *dh, const ann *gh, double garea)
{
    const ann_x *d = dt_x(ev, dh), *g = gt_x(ev, gh);
    const cat_rec *c = &ev->cats[gh->cat];
    const double *sig = c->sigmas ? c->sigmas : eval_coco_kp_sigmas;
    size_t k = c->sigmas ? c->nsig : 17;
    if (d->nkp != k || (g->nkp != k && g->nkp != 0)) return 0;
    double ebuf[64], *ev_ = ebuf;
    if (k > 64) {
        ev_ = malloc(k * sizeof *ev_);
        if (!ev_) return 0;
    }
    int k1 = 0;
    for (size_t i = 0; g->nkp && i < k; i++)
        k1 += g->kp[3 * i + 2] > 0;
    double x0 = gh->bbox[0] - gh->bbox[2], x1 = gh->bbox[0] + gh->bbox[2] * 2;
    double y0 = gh->bbox[1] - gh->bbox[3], y1 = gh->bbox[1] + gh->bbox[3] * 2;
    size_t ne = 0;
    for (size_t i = 0; i < k; i++) {
        double xd = d->kp[3 * i], yd = d->kp[3 * i + 1], dx, dy;
        if (k1 > 0) {
            if (!(g->kp[3 * i + 2] > 0)) continue;
            dx = xd - g->kp[3 * i];
            dy = yd - g->kp[3 * i + 1];
        } else {
            dx = fmax(0, x0 - xd) + fmax(0, xd - x1);
            dy = fmax(0, y0 - yd) + fmax(0, yd - y1);
        }
        double var = (sig[i] * 2) * (sig[i] * 2);
        double ee = (dx * dx + dy * dy) / var / (garea + NP_EPS) / 2;
        ev_[ne++] = exp(-ee);
    }
    double r = np_pairwise_sum(ev_, ne) / (double)ne;
    if (ev_ != ebuf) free(ev_);
    return r;
}

double coco_similarity(const eval_coco *ev, const ann *d, const geom *dg, const ann *g,
                       const geom *gg)
{
    switch (ev->type) {
    case EVAL_BBOX:
        return rle_bbox_iou(dg->bb, gg->bb, g->iscrowd);
    case EVAL_SEGM:
        return rle_iou(&dg->mask, dg->bb, &gg->mask, gg->bb, g->iscrowd);
    case EVAL_KEYPOINTS:
        return oks(ev, d, g, gg->area);
    }
    return 0;
}

/* --- evaluate ------------------------------------------------------------------ */

/* One kept detection as accumulate sees it. eval_pair writes it straight
 * into its category's bucket (ev->acc), so that accumulate reads each
 * category's detections sequentially instead of chasing them across the
 * detection arrays. Its outcome per area range a is ev->acc_bits[i * A + a]:
 * bit t set = matched (to a ground truth with a non-zero id) at IoU
 * threshold t, bit 16 + t = ignored at threshold t. */
typedef struct acc_entry {
    double score;
    uint32_t rank;
    uint32_t pad;
} acc_entry;

#define ACC_IG 16 /* the ignored bits' shift in acc_bits */

typedef struct scratch {
    double *iou;
    size_t cap_iou;
    double *dmax; /* per detection: its best IoU with any ground truth */
    size_t cap_dmax;
    geom *gg, *dg;
    size_t cap_g, cap_d;
    uint8_t *gig, *gcrowd, *gtm, *gbase, *gnz;
    uint32_t *gord;
    size_t cap_gx;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->iou);
    free(s->dmax);
    free(s->gg);
    free(s->dg);
    free(s->gig);
    free(s->gcrowd);
    free(s->gtm);
    free(s->gbase);
    free(s->gnz);
    free(s->gord);
    memset(s, 0, sizeof *s);
}

#define GROW(ptr, cap, n)                                                                          \
    do {                                                                                           \
        if ((n) > (cap)) {                                                                         \
            void *np_ = realloc((ptr), (n) * sizeof *(ptr));                                       \
            if (!np_) return -1;                                                                   \
            (ptr) = np_;                                                                           \
            (cap) = (n);                                                                           \
        }                                                                                          \
    } while (0)

static int scratch_reserve(scratch *s, size_t G, size_t D)
{
    GROW(s->iou, s->cap_iou, G * D + 1);
    GROW(s->gg, s->cap_g, G + 1);
    GROW(s->dg, s->cap_d, D + 1);
    GROW(s->dmax, s->cap_dmax, D + 1);
    if (G + 1 > s->cap_gx) {
        size_t c = G + 1;
        uint8_t **b8[] = {&s->gig, &s->gcrowd, &s->gtm, &s->gbase, &s->gnz};
        for (size_t i = 0; i < ARRAY_LEN(b8); i++) {
            uint8_t *q = realloc(*b8[i], c);
            if (!q) return -1;
            *b8[i] = q;
        }
        uint32_t *q = realloc(s->gord, c * sizeof *q);
        if (!q) return -1;
        s->gord = q;
        s->cap_gx = c;
    }
    return 0;
}

static int cmp_drec(const void *a, const void *b)
{
    const dsrec *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    uint32_t i = (uint32_t)x->w, j = (uint32_t)y->w;
    return (i > j) - (i < j);
}

/* Sorts a pair's detection records by score (desc, stable) in place, and
 * its didx with them. The records are in insertion order within the pair,
 * so the index breaks ties like the reference's stable sort. */
static void sort_pair_dts(eval_coco *ev, const pair_rec *pr)
{
    dsrec *r = ev->drec + pr->d0;
    uint32_t n = pr->nd;
    if (n >= 2 && n <= 16) { /* insertion sort: stable, fast for small pairs */
        for (uint32_t i = 1; i < n; i++) {
            dsrec x = r[i];
            uint32_t j = i;
            while (j > 0 && r[j - 1].score < x.score) {
                r[j] = r[j - 1];
                j--;
            }
            r[j] = x;
        }
    } else if (n > 16) {
        qsort(r, n, sizeof *r, cmp_drec); /* total order: the index breaks ties */
    }
    uint32_t *d = ev->didx + pr->d0;
    for (uint32_t i = 0; i < n; i++)
        d[i] = (uint32_t)r[i].w;
}

static int eval_pair(eval_coco *ev, size_t pi, scratch *s, uint64_t *npig_cat, err *e)
{
    const eval_params *p = &ev->p;
    pair_rec *pr = &ev->pairs[pi];
    const int A = p->n_area, T = p->n_iou;
    const uint32_t full = (1u << T) - 1;
    size_t G = pr->ng;
    if (scratch_reserve(s, G, pr->nd)) return err_set(e, ERR_INTERNAL, "out of memory");
    sort_pair_dts(ev, pr);
    size_t maxdet = (size_t)p->max_dets[p->n_maxdets - 1];
    size_t D = pr->nd < maxdet ? pr->nd : maxdet;
    const uint32_t *gi = ev->gidx + pr->g0, *di = ev->didx + pr->d0;
    acc_entry *out = ev->acc + pr->acc;
    uint32_t *ob = ev->acc_bits + (size_t)pr->acc * (size_t)A;
    const dsrec *dr = ev->drec + pr->d0;
    for (size_t d = 0; d < D; d++)
        out[d] = (acc_entry){dr[d].score, (uint32_t)d, 0};

    if (G == 0) {
        /* no ground truth (most pairs): every detection is unmatched, and
         * ignored in the area ranges that exclude it */
        for (size_t d = 0; d < D; d++) {
            double ar = dr[d].area;
            if (isnan(ar)) { /* not from the box alone */
                geom g;
                int rc = coco_geom(ev, &ev->dts[di[d]], false, false, &g, e);
                ar = g.area;
                coco_geom_free(&g);
                if (rc) return rc;
            }
            for (int a = 0; a < A; a++)
                ob[d * A + a] =
                    ar < p->area_rng[a][0] || ar > p->area_rng[a][1] ? full << ACC_IG : 0;
        }
        return 0;
    }
    memset(ob, 0, D * (size_t)A * sizeof *ob);

    int rc = 0;
    size_t ng_built = 0, nd_built = 0;
    for (size_t g = 0; g < G && rc == 0; g++, ng_built++)
        rc = coco_geom(ev, &ev->gts[gi[g]], true, D > 0, &s->gg[g], e);
    for (size_t d = 0; d < D && rc == 0; d++, nd_built++)
        rc = coco_geom(ev, &ev->dts[di[d]], false, G > 0, &s->dg[d], e);
    if (rc == 0 && G && D) {
        for (size_t d = 0; d < D; d++) {
            double mx = -INFINITY;
            for (size_t g = 0; g < G; g++) {
                double v =
                    coco_similarity(ev, &ev->dts[di[d]], &s->dg[d], &ev->gts[gi[g]], &s->gg[g]);
                s->iou[d * G + g] = v;
                mx = v > mx ? v : mx;
            }
            s->dmax[d] = mx;
        }
    }
    if (rc == 0) {
        for (size_t g = 0; g < G; g++) {
            const ann *ga = &ev->gts[gi[g]];
            s->gcrowd[g] = ga->iscrowd;
            s->gbase[g] = ga->iscrowd || (ev->type == EVAL_KEYPOINTS && gt_x(ev, ga)->num_kp == 0);
            s->gnz[g] = !ga->zero_id;
        }
        double thr[EVAL_MAX_IOU_THRS];
        for (int t = 0; t < T; t++) /* fmin(thr, 1 - 1e-10) */
            thr[t] = p->iou_thrs[t] < 1 - 1e-10 ? p->iou_thrs[t] : 1 - 1e-10;
        for (int a = 0; a < A; a++) {
            double lo = p->area_rng[a][0], hi = p->area_rng[a][1];
            /* ground truths: regular first, ignored last (stable) */
            uint32_t npig = 0, n0 = 0;
            for (size_t g = 0; g < G; g++) {
                double ar = s->gg[g].area;
                s->gig[g] = s->gbase[g] || ar < lo || ar > hi;
                npig += !s->gig[g];
            }
            for (size_t g = 0; g < G; g++)
                if (!s->gig[g]) s->gord[n0++] = (uint32_t)g;
            for (size_t g = 0, k = n0; g < G; g++)
                if (s->gig[g]) s->gord[k++] = (uint32_t)g;
            npig_cat[(size_t)pr->cat * A + (size_t)a] += npig;
            if (G && D) {
                for (int t = 0; t < T; t++) {
                    memset(s->gtm, 0, G);
                    for (size_t d = 0; d < D; d++) {
                        double best = thr[t];
                        if (s->dmax[d] < best)
                            continue; /* no IoU reaches the threshold: unmatched */
                        long m = -1;
                        const double *row = &s->iou[d * G];
                        for (size_t k = 0; k < G; k++) {
                            uint32_t g = s->gord[k];
                            if (s->gtm[k] && !s->gcrowd[g]) continue;
                            if (m > -1 && !s->gig[s->gord[m]] && s->gig[g]) break;
                            if (row[g] < best) continue;
                            best = row[g];
                            m = (long)k;
                        }
                        if (m == -1) continue;
                        uint32_t g = s->gord[m];
                        if (s->gig[g]) ob[d * A + a] |= 1u << (ACC_IG + t);
                        if (s->gnz[g]) ob[d * A + a] |= 1u << t;
                        s->gtm[m] = 1;
                    }
                }
            }
            /* unmatched detections outside the area range are ignored */
            for (size_t d = 0; d < D; d++) {
                double ar = s->dg[d].area;
                if (ar < lo || ar > hi) ob[d * A + a] |= (~ob[d * A + a] & full) << ACC_IG;
            }
        }
    }
    for (size_t g = 0; g < ng_built; g++)
        coco_geom_free(&s->gg[g]);
    for (size_t d = 0; d < nd_built; d++)
        coco_geom_free(&s->dg[d]);
    return rc;
}

/* --- accumulate ---------------------------------------------------------------- */

typedef struct acc_key {
    uint64_t key; /* descending score as an unsigned, order-preserving key */
    uint32_t i;
    uint32_t pad;
} acc_key;

#define RADIX_MAXB 11 /* radix digits of up to 11 bits: 6 passes for 64 */
#define RADIX_MAXP 8  /* passes at most (8-bit digits) */

typedef struct acc_scratch {
    double *score;  /* per entry, sorted: score */
    uint8_t *cls;   /* per entry: the first maxDets index that includes it */
    uint32_t *bits; /* [a][i]: the entry's outcome in area range a (acc_bits) */
    acc_key *k1, *k2;
    size_t cap, cap_bits;
    uint32_t (*hist)[1 << RADIX_MAXB]; /* [RADIX_MAXP] */
    /* per (maxDets m, threshold t), list m*T + t: for the j-th TP, the count
     * of FPs before it and its score */
    uint32_t *tp_fp[EVAL_MAX_MAXDETS * EVAL_MAX_IOU_THRS];
    double *tp_score[EVAL_MAX_MAXDETS * EVAL_MAX_IOU_THRS];
    double *sufmax;
    size_t cap_tp;
} acc_scratch;

static void acc_free(acc_scratch *s)
{
    free(s->score);
    free(s->cls);
    free(s->bits);
    free(s->k1);
    free(s->k2);
    free(s->hist);
    for (int t = 0; t < EVAL_MAX_MAXDETS * EVAL_MAX_IOU_THRS; t++) {
        free(s->tp_fp[t]);
        free(s->tp_score[t]);
    }
    free(s->sufmax);
    memset(s, 0, sizeof *s);
}

static int acc_reserve(acc_scratch *s, size_t n, int A, int lists)
{
    if (!s->hist) {
        s->hist = malloc(RADIX_MAXP * sizeof *s->hist);
        if (!s->hist) return -1;
    }
    if (n + 1 > s->cap) {
        size_t c = n + 1;
        double *sc = realloc(s->score, c * sizeof *sc);
        if (!sc) return -1;
        s->score = sc;
        uint8_t *cl = realloc(s->cls, c);
        if (!cl) return -1;
        s->cls = cl;
        acc_key *k = realloc(s->k1, c * sizeof *k);
        if (!k) return -1;
        s->k1 = k;
        k = realloc(s->k2, c * sizeof *k);
        if (!k) return -1;
        s->k2 = k;
        s->cap = c;
    }
    if ((n + 1) * (size_t)A > s->cap_bits) {
        size_t c = (n + 1) * (size_t)A;
        uint32_t *b = realloc(s->bits, c * sizeof *b);
        if (!b) return -1;
        s->bits = b;
        s->cap_bits = c;
    }
    if (n + 2 > s->cap_tp) {
        size_t c = n + 2;
        for (int t = 0; t < lists; t++) {
            uint32_t *a = realloc(s->tp_fp[t], c * sizeof *a);
            if (!a) return -1;
            s->tp_fp[t] = a;
            double *b = realloc(s->tp_score[t], c * sizeof *b);
            if (!b) return -1;
            s->tp_score[t] = b;
        }
        double *m = realloc(s->sufmax, c * sizeof *m);
        if (!m) return -1;
        s->sufmax = m;
        s->cap_tp = c;
    }
    return 0;
}

/* Larger score -> smaller key; equal scores (also -0 and +0) -> equal keys. */
static uint64_t desc_key(double d)
{
    if (d == 0) d = 0; /* -0 -> +0 */
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    u = (u >> 63) ? ~u : (u | 0x8000000000000000ULL); /* ascending order */
    return ~u;
}

/* Stable LSD radix sort of keys: one counting pass for all digits, then a
 * scatter per digit, skipping the digits all keys share. Stability keeps
 * the input order - image order, then rank - for equal scores: the
 * reference's mergesort of the concatenated lists. Small inputs take 8-bit
 * digits (smaller counters to clear), large ones 11-bit (fewer passes). */
static acc_key *radix_sort(acc_key *a, acc_key *b, size_t n, uint32_t (*hist)[1 << RADIX_MAXB])
{
    if (n < 2) return a;
    const int bits = n < 2048 ? 8 : RADIX_MAXB, passes = (64 + bits - 1) / bits;
    const uint64_t mask = ((uint64_t)1 << bits) - 1;
    for (int q = 0; q < passes; q++)
        memset(hist[q], 0, ((size_t)1 << bits) * sizeof hist[q][0]);
    for (size_t i = 0; i < n; i++) {
        uint64_t k = a[i].key;
        for (int q = 0; q < passes; q++)
            hist[q][(k >> (q * bits)) & mask]++;
    }
    for (int q = 0; q < passes; q++) {
        const int shift = q * bits;
        uint32_t *c = hist[q];
        if (c[(a[0].key >> shift) & mask] == n) continue; /* one digit value: no change */
        uint32_t sum = 0;
        for (size_t d = 0; d <= mask; d++) {
            uint32_t x = c[d];
            c[d] = sum;
            sum += x;
        }
        for (size_t i = 0; i < n; i++)
            b[c[(a[i].key >> shift) & mask]++] = a[i];
        acc_key *t = a;
        a = b;
        b = t;
    }
    return a;
}

/* Per-category blocks [k][a][m][t][r] (recall [k][a][m][t]): a category
 * writes one contiguous block; the reference layout [t][r][k][a][m] is
 * produced by one cache-friendly transposition afterwards (writing it
 * directly strides by K*A*M entries and misses the cache on every store). */
static inline size_t cidx(const eval_coco *ev, int k, int a, int m, int t, int r)
{
    const eval_params *p = &ev->p;
    return ((((size_t)k * p->n_area + a) * p->n_maxdets + m) * p->n_iou + t) * p->n_rec + r;
}

static int accumulate_cat(eval_coco *ev, int k, const uint64_t *npig_k, acc_scratch *s,
                          double *cprec, double *cscore, double *crec)
{
    const eval_params *p = &ev->p;
    const int T = p->n_iou, R = p->n_rec, A = p->n_area, M = p->n_maxdets;
    const acc_entry *bucket = ev->acc + ev->acc_start[k];
    const uint32_t *bbits = ev->acc_bits + ev->acc_start[k] * (size_t)A;
    size_t n = ev->acc_start[k + 1] - ev->acc_start[k];
    if (acc_reserve(s, n, A, M * T)) return -1;
    for (size_t i = 0; i < n; i++)
        s->k1[i] = (acc_key){desc_key(bucket[i].score), (uint32_t)i, 0};
    const acc_key *sorted = radix_sort(s->k1, s->k2, n, s->hist);
    /* the maxDets sets are nested (rank < 1 within rank < 10 ...): an entry
     * belongs to every m from its class on */
    size_t nd[EVAL_MAX_MAXDETS] = {0};
    double first_score[EVAL_MAX_MAXDETS] = {0};
    for (size_t i = 0; i < n; i++) {
        uint32_t j = sorted[i].i;
        const acc_entry *x = &bucket[j];
        s->score[i] = x->score;
        for (int a = 0; a < A; a++)
            s->bits[(size_t)a * n + i] = bbits[(size_t)j * A + a];
        int c = 0;
        while (x->rank >= (uint32_t)p->max_dets[c])
            c++;
        s->cls[i] = (uint8_t)c;
        for (int m = c; m < M; m++)
            if (nd[m]++ == 0) first_score[m] = x->score;
    }
    const uint32_t full = (1u << T) - 1;
    for (int a = 0; a < A; a++) {
        uint64_t npig = npig_k[a];
        if (npig == 0) { /* undefined: -1 (also when the category has no pair at all) */
            for (int m = 0; m < M; m++)
                for (int t = 0; t < T; t++) {
                    crec[cidx(ev, k, a, m, t, 0) / R] = -1;
                    double *cp = &cprec[cidx(ev, k, a, m, t, 0)];
                    double *cs = &cscore[cidx(ev, k, a, m, t, 0)];
                    for (int r = 0; r < R; r++)
                        cp[r] = cs[r] = -1;
                }
            continue;
        }
        /* one walk for all maxDets: counters per (m, t). Detections false
         * at every threshold (most of them) are counted per maxDets class:
         * the count before a TP of list m is the sum over classes <= m. */
        uint32_t ntp[EVAL_MAX_MAXDETS][EVAL_MAX_IOU_THRS];
        uint32_t part_fp[EVAL_MAX_MAXDETS][EVAL_MAX_IOU_THRS];
        uint32_t fp_cls[EVAL_MAX_MAXDETS] = {0};
        memset(ntp, 0, sizeof ntp);
        memset(part_fp, 0, sizeof part_fp);
        const uint32_t *ab = s->bits + (size_t)a * n;
        for (size_t i = 0; i < n; i++) {
            uint32_t b = ab[i];
            uint32_t mt = b & full, ig = (b >> ACC_IG) & full;
            uint32_t tpb = mt & ~ig, fpb = ~mt & ~ig & full;
            int c = s->cls[i];
            if (fpb == full) { /* false at every threshold: one counter */
                fp_cls[c]++;
                continue;
            }
            uint32_t any = tpb | fpb;
            while (any) {
                int t = __builtin_ctz(any);
                any &= any - 1;
                if (tpb & (1u << t)) {
                    uint32_t all_fp = 0;
                    for (int m = 0; m < c; m++)
                        all_fp += fp_cls[m];
                    for (int m = c; m < M; m++) {
                        all_fp += fp_cls[m];
                        uint32_t j = ntp[m][t]++;
                        s->tp_fp[m * T + t][j] = all_fp + part_fp[m][t];
                        s->tp_score[m * T + t][j] = s->score[i];
                    }
                } else {
                    for (int m = c; m < M; m++)
                        part_fp[m][t]++;
                }
            }
        }
        for (int m = 0; m < M; m++) {
            for (int t = 0; t < T; t++) {
                const uint32_t *tfp = s->tp_fp[m * T + t];
                const double *tsc = s->tp_score[m * T + t];
                crec[cidx(ev, k, a, m, t, 0) / R] = nd[m] ? (double)ntp[m][t] / (double)npig : 0;
                double *cp = &cprec[cidx(ev, k, a, m, t, 0)],
                       *cs = &cscore[cidx(ev, k, a, m, t, 0)];
                /* precision at the j-th TP, then the running max from the right:
                 * sufmax[j-1] = max precision over TPs j..nt */
                uint32_t nt = ntp[m][t];
                for (uint32_t j = nt; j >= 1; j--) {
                    double tp = (double)j, fp = (double)tfp[j - 1];
                    double pr = tp / (fp + tp + NP_EPS);
                    s->sufmax[j - 1] = j == nt || pr > s->sufmax[j] ? pr : s->sufmax[j];
                }
                for (int r = 0; r < R; r++)
                    cp[r] = cs[r] = 0;
                uint32_t j = 1;
                for (int r = 0; r < R; r++) {
                    double q = 0, ss = 0;
                    double thr = p->rec_thrs[r];
                    if (nd[m] == 0) break; /* searchsorted on an empty array: zeros */
                    if (thr <= 0) {
                        /* index 0: the max over everything, the first score */
                        q = nt ? s->sufmax[0] : 0;
                        ss = first_score[m];
                    } else {
                        /* the first index whose recall reaches thr is a TP */
                        while (j <= nt && (double)j / (double)npig < thr)
                            j++;
                        if (j > nt) break; /* the reference's IndexError: the rest stay 0 */
                        q = s->sufmax[j - 1];
                        ss = tsc[j - 1];
                    }
                    cp[r] = q;
                    cs[r] = ss;
                }
            }
        }
    }
    return 0;
}

/* --- summarize ------------------------------------------------------------------ */

static int find_area(const eval_params *p, const char *lbl)
{
    for (int a = 0; a < p->n_area; a++)
        if (p->area_lbl[a] && strcmp(p->area_lbl[a], lbl) == 0) return a;
    return -1;
}

static int find_maxdet(const eval_params *p, int md)
{
    for (int m = 0; m < p->n_maxdets; m++)
        if (p->max_dets[m] == md) return m;
    return -1;
}

static int find_thr(const eval_params *p, double thr)
{
    for (int t = 0; t < p->n_iou; t++)
        if (p->iou_thrs[t] == thr) return t;
    return -1;
}

/* Mean of the defined entries for one summary line; k < 0 = all categories.
 * thr < 0 = all thresholds. */
static double summarize(const eval_coco *ev, bool ap, double thr, const char *area, int maxdet,
                        int konly)
{
    const eval_params *p = &ev->p;
    int a = find_area(p, area), m = find_maxdet(p, maxdet);
    int t0 = 0, t1 = p->n_iou;
    if (thr >= 0) {
        t0 = find_thr(p, thr);
        t1 = t0 + 1;
    }
    if (a < 0 || m < 0 || t0 < 0) return -1;
    size_t cap = (size_t)(t1 - t0) * (ap ? p->n_rec : 1) * ev->K;
    double *v = malloc((cap ? cap : 1) * sizeof *v);
    if (!v) return -1;
    size_t n = 0;
    int k0 = konly >= 0 ? konly : 0, k1 = konly >= 0 ? konly + 1 : ev->K;
    for (int t = t0; t < t1; t++) {
        if (ap) {
            for (int r = 0; r < p->n_rec; r++)
                for (int k = k0; k < k1; k++) {
                    double x = ev->cprec[cidx(ev, k, a, m, t, r)];
                    if (x > -1) v[n++] = x;
                }
        } else {
            for (int k = k0; k < k1; k++) {
                double x = ev->crec[cidx(ev, k, a, m, t, 0) / p->n_rec];
                if (x > -1) v[n++] = x;
            }
        }
    }
    double r = n ? np_pairwise_sum(v, n) / (double)n : -1;
    free(v);
    return r;
}

typedef struct stat_def {
    bool ap;
    double thr;
    const char *area;
    int maxdet_idx; /* index into max_dets, or -1 for the literal 20 */
} stat_def;

static const stat_def det_stats[12] = {
    {true, -1, "all", 2},    {true, .5, "all", 2},     {true, .75, "all", 2},
    {true, -1, "small", 2},  {true, -1, "medium", 2},  {true, -1, "large", 2},
    {false, -1, "all", 0},   {false, -1, "all", 1},    {false, -1, "all", 2},
    {false, -1, "small", 2}, {false, -1, "medium", 2}, {false, -1, "large", 2},
};
static const stat_def kp_stats[10] = {
    {true, -1, "all", -1},    {true, .5, "all", -1},   {true, .75, "all", -1},
    {true, -1, "medium", -1}, {true, -1, "large", -1}, {false, -1, "all", -1},
    {false, .5, "all", -1},   {false, .75, "all", -1}, {false, -1, "medium", -1},
    {false, -1, "large", -1},
};

static int stat_maxdet(const eval_coco *ev, const stat_def *d)
{
    if (d->maxdet_idx < 0) return 20;
    return d->maxdet_idx < ev->p.n_maxdets ? ev->p.max_dets[d->maxdet_idx] : -1;
}

static void summarize_all(eval_coco *ev)
{
    const stat_def *defs = ev->type == EVAL_KEYPOINTS ? kp_stats : det_stats;
    ev->nstats = ev->type == EVAL_KEYPOINTS ? 10 : 12;
    for (int i = 0; i < ev->nstats; i++)
        ev->stats[i] =
            summarize(ev, defs[i].ap, defs[i].thr, defs[i].area, stat_maxdet(ev, &defs[i]), -1);
}

/* --- run ------------------------------------------------------------------------- */

static int check_params(const eval_params *p, err *e)
{
    if (p->n_iou < 1 || p->n_iou > EVAL_MAX_IOU_THRS || p->n_rec < 1 ||
        p->n_rec > EVAL_MAX_REC_THRS || p->n_area < 1 || p->n_area > EVAL_MAX_AREAS ||
        p->n_maxdets < 1 || p->n_maxdets > EVAL_MAX_MAXDETS)
        return err_set(e, ERR_INVALID, "evaluation parameters: counts out of range");
    for (int m = 0; m < p->n_maxdets; m++)
        if (p->max_dets[m] < 1 || (m && p->max_dets[m] < p->max_dets[m - 1]))
            return err_set(e, ERR_INVALID, "evaluation parameters: maxDets must increase");
    for (int r = 1; r < p->n_rec; r++)
        if (!(p->rec_thrs[r] > p->rec_thrs[r - 1]))
            return err_set(e, ERR_INVALID, "evaluation parameters: recall points must increase");
    return 0;
}

int eval_coco_run(eval_coco *ev, const eval_params *params, err *e)
{
    if (ev->ran) clear_results(ev);
    if (params) {
        if (check_params(params, e)) return -1;
        ev->p = *params;
    } else {
        eval_params_init(&ev->p, ev->type);
    }
    int64_t t0 = time_mono_ns();
    if (coco_resolve(ev, e)) return -1;
    int64_t t1 = time_mono_ns();
    const eval_params *p = &ev->p;
    const int A = p->n_area;
    ev->K = (int)ev->ncat;
    ev->acc_start = calloc((size_t)ev->K + 2, sizeof *ev->acc_start);
    ev->npig = calloc((size_t)(ev->K ? ev->K : 1) * A, sizeof *ev->npig);
    size_t np = (size_t)p->n_iou * p->n_rec * (ev->K ? ev->K : 1) * A * p->n_maxdets;
    size_t nr = (size_t)p->n_iou * (ev->K ? ev->K : 1) * A * p->n_maxdets;
    ev->cprec = malloc(np * sizeof *ev->cprec);
    ev->cscore = malloc(np * sizeof *ev->cscore);
    ev->crec = malloc(nr * sizeof *ev->crec);
    if (!ev->acc_start || !ev->npig || !ev->cprec || !ev->cscore || !ev->crec) {
        clear_results(ev);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    /* category buckets for accumulate: kept detections (at most maxDets[-1]
     * per pair), categories one after another, pairs in image order */
    {
        size_t maxdet = (size_t)p->max_dets[p->n_maxdets - 1];
        for (size_t i = 0; i < ev->npairs; i++) {
            size_t D = ev->pairs[i].nd < maxdet ? ev->pairs[i].nd : maxdet;
            ev->acc_start[ev->pairs[i].cat + 1] += D;
        }
        for (int k = 0; k < ev->K; k++)
            ev->acc_start[k + 1] += ev->acc_start[k];
        size_t *pos = malloc(((size_t)ev->K + 1) * sizeof *pos);
        size_t nacc = ev->acc_start[ev->K] ? ev->acc_start[ev->K] : 1;
        ev->acc = malloc(nacc * sizeof *ev->acc);
        ev->acc_bits = malloc(nacc * (size_t)A * sizeof *ev->acc_bits);
        if (!pos || !ev->acc || !ev->acc_bits) {
            free(pos);
            clear_results(ev);
            return err_set(e, ERR_INTERNAL, "out of memory");
        }
        memcpy(pos, ev->acc_start, ((size_t)ev->K + 1) * sizeof *pos);
        for (size_t i = 0; i < ev->npairs; i++) {
            size_t D = ev->pairs[i].nd < maxdet ? ev->pairs[i].nd : maxdet;
            ev->pairs[i].acc = (uint32_t)pos[ev->pairs[i].cat];
            pos[ev->pairs[i].cat] += D;
        }
        free(pos);
    }

    /* evaluate: pairs in parallel; the first failing pair (lowest index) wins */
    size_t fail_at = SIZE_MAX;
    err first = {0};
    int nthreads = eval_nthreads(p->threads);
    (void)nthreads; /* unused when built without OpenMP */
#pragma omp parallel num_threads(nthreads) if (ev->npairs > PAR_MIN / 16)
    {
        scratch s = {0};
        err le;
        err_clear(&le);
        /* regular ground truths per (category, area range), this thread's */
        uint64_t *npig = calloc((size_t)(ev->K ? ev->K : 1) * A, sizeof *npig);
        if (!npig) {
#pragma omp critical(eval_fail)
            if (fail_at == SIZE_MAX) {
                fail_at = 0;
                err_set(&first, ERR_INTERNAL, "out of memory");
            }
        }
#pragma omp for schedule(dynamic, 64)
        for (size_t i = 0; i < ev->npairs; i++) {
            if (npig && eval_pair(ev, i, &s, npig, &le) != 0) {
#pragma omp critical(eval_fail)
                if (i < fail_at) {
                    fail_at = i;
                    first = le;
                }
            }
        }
        if (npig) {
#pragma omp critical(eval_npig)
            for (size_t i = 0; i < (size_t)(ev->K ? ev->K : 1) * A; i++)
                ev->npig[i] += npig[i];
        }
        free(npig);
        scratch_free(&s);
    }
    if (fail_at != SIZE_MAX) {
        if (e) *e = first;
        clear_results(ev);
        return -1;
    }

    int64_t t2 = time_mono_ns();
    /* accumulate: categories in parallel */
    const uint64_t *npig_k = ev->npig;
    int oom = 0;
    double *cprec = ev->cprec, *cscore = ev->cscore, *crec = ev->crec;
#pragma omp parallel num_threads(nthreads) if (ev->acc_start[ev->K] > PAR_MIN)
    {
        acc_scratch s = {0};
#pragma omp for schedule(dynamic, 1)
        for (int k = 0; k < ev->K; k++)
            if (accumulate_cat(ev, k, npig_k + (size_t)k * A, &s, cprec, cscore, crec)) {
#pragma omp atomic write
                oom = 1;
            }
        acc_free(&s);
    }
    if (oom) {
        clear_results(ev);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    int64_t t3 = time_mono_ns();
    ev->ran = true;
    summarize_all(ev);
    int64_t t4 = time_mono_ns();
    ev->secs[0] = (double)(t1 - t0) / 1e9;
    ev->secs[1] = (double)(t2 - t1) / 1e9;
    ev->secs[2] = (double)(t3 - t2) / 1e9;
    ev->secs[3] = (double)(t4 - t3) / 1e9;
    return 0;
}

void eval_coco_timings(const eval_coco *ev, double out[4])
{
    memcpy(out, ev->secs, sizeof ev->secs);
}

/* --- results ------------------------------------------------------------------------ */

const eval_params *eval_coco_params(const eval_coco *ev)
{
    return ev->ran ? &ev->p : NULL;
}

const double *eval_coco_stats(const eval_coco *ev, int *n)
{
    if (n) *n = ev->ran ? ev->nstats : 0;
    return ev->ran ? ev->stats : NULL;
}

/*
 * The reference layout [t][r][k][a][m] is built from the per-category
 * blocks on first use (most callers only want the summary). Sequential
 * writes; the reads cycle through K*A*M cache lines that stay cached
 * across r. The handle is logically const: this only fills a cache.
 */
static int build_arrays(const eval_coco *cev)
{
    eval_coco *ev = (eval_coco *)cev;
    if (ev->precision) return 0;
    const eval_params *p = &ev->p;
    const int T = p->n_iou, R = p->n_rec, A = p->n_area, M = p->n_maxdets, K = ev->K;
    size_t np = (size_t)T * R * (K ? K : 1) * A * M, nr = (size_t)T * (K ? K : 1) * A * M;
    double *pr = malloc(np * sizeof *pr), *sc = malloc(np * sizeof *sc);
    double *rc = malloc(nr * sizeof *rc);
    if (!pr || !sc || !rc) {
        free(pr);
        free(sc);
        free(rc);
        return -1;
    }
    size_t o = 0;
    for (int t = 0; t < T; t++)
        for (int r = 0; r < R; r++)
            for (int k = 0; k < K; k++)
                for (int a = 0; a < A; a++)
                    for (int m = 0; m < M; m++, o++) {
                        size_t c = cidx(ev, k, a, m, t, r);
                        pr[o] = ev->cprec[c];
                        sc[o] = ev->cscore[c];
                    }
    o = 0;
    for (int t = 0; t < T; t++)
        for (int k = 0; k < K; k++)
            for (int a = 0; a < A; a++)
                for (int m = 0; m < M; m++, o++)
                    rc[o] = ev->crec[cidx(ev, k, a, m, t, 0) / R];
    ev->precision = pr;
    ev->scores = sc;
    ev->recall = rc;
    return 0;
}

const double *eval_coco_precision(const eval_coco *ev)
{
    return ev->ran && build_arrays(ev) == 0 ? ev->precision : NULL;
}

const double *eval_coco_recall(const eval_coco *ev)
{
    return ev->ran && build_arrays(ev) == 0 ? ev->recall : NULL;
}

const double *eval_coco_scores(const eval_coco *ev)
{
    return ev->ran && build_arrays(ev) == 0 ? ev->scores : NULL;
}

int64_t eval_coco_category_id(const eval_coco *ev, size_t k)
{
    return k < ev->ncat ? ev->cats[k].id : -1;
}

const char *eval_coco_category_name(const eval_coco *ev, size_t k)
{
    return k < ev->ncat ? ev->cats[k].name : NULL;
}

int64_t eval_coco_image_id(const eval_coco *ev, size_t i)
{
    return i < ev->nimg ? ev->imgs[i].id : -1;
}

/* Per category: the non-crowd ground truths and the detections, counted
 * for all categories on first use (counting per call made writing the
 * per-category results O(K * annotations)). Logically const, like
 * build_arrays. */
static const uint32_t *cat_counts(const eval_coco *cev)
{
    eval_coco *ev = (eval_coco *)cev;
    if (ev->cat_counts) return ev->cat_counts;
    uint32_t *c = calloc(2 * (ev->ncat ? ev->ncat : 1), sizeof *c);
    if (!c) return NULL;
    for (size_t i = 0; i < ev->ngt; i++)
        if (ev->gts[i].cat >= 0 && (size_t)ev->gts[i].cat < ev->ncat && !ev->gts[i].iscrowd)
            c[2 * (size_t)ev->gts[i].cat]++;
    for (size_t i = 0; i < ev->ndt; i++)
        if (ev->dts[i].cat >= 0 && (size_t)ev->dts[i].cat < ev->ncat)
            c[2 * (size_t)ev->dts[i].cat + 1]++;
    ev->cat_counts = c;
    return c;
}

void eval_coco_category_result(const eval_coco *ev, size_t k, eval_cat_result *out)
{
    memset(out, 0, sizeof *out);
    if (!ev->ran || k >= ev->ncat) return;
    out->category_id = ev->cats[k].id;
    out->name = ev->cats[k].name;
    const uint32_t *cc = cat_counts(ev);
    if (cc) {
        out->n_gt = cc[2 * k];
        out->n_dt = cc[2 * k + 1];
    } else { /* out of memory: count this one */
        for (size_t i = 0; i < ev->ngt; i++)
            if (ev->gts[i].cat == (int32_t)k && !ev->gts[i].iscrowd) out->n_gt++;
        for (size_t i = 0; i < ev->ndt; i++)
            if (ev->dts[i].cat == (int32_t)k) out->n_dt++;
    }
    const eval_params *p = &ev->p;
    bool kp = ev->type == EVAL_KEYPOINTS;
    int mlast = p->max_dets[p->n_maxdets - 1];
    int ki = (int)k;
    out->ap = summarize(ev, true, -1, "all", mlast, ki);
    out->ap50 = summarize(ev, true, .5, "all", mlast, ki);
    out->ap75 = summarize(ev, true, .75, "all", mlast, ki);
    out->ap_small = kp ? -1 : summarize(ev, true, -1, "small", mlast, ki);
    out->ap_medium = summarize(ev, true, -1, "medium", mlast, ki);
    out->ap_large = summarize(ev, true, -1, "large", mlast, ki);
    if (kp) {
        out->ar1 = out->ar10 = -1;
        out->ar100 = summarize(ev, false, -1, "all", 20, ki);
    } else {
        out->ar1 = summarize(ev, false, -1, "all", p->max_dets[0], ki);
        out->ar10 = summarize(ev, false, -1, "all", p->n_maxdets > 1 ? p->max_dets[1] : -1, ki);
        out->ar100 = summarize(ev, false, -1, "all", mlast, ki);
    }
}

static const char *stat_names_det[12] = {"AP",  "AP50", "AP75",  "APs", "APm", "APl",
                                         "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};
static const char *stat_names_kp[10] = {"AP", "AP50", "AP75", "APm", "APl",
                                        "AR", "AR50", "AR75", "ARm", "ARl"};

void eval_coco_summary_text(const eval_coco *ev, sbuf *out)
{
    if (!ev->ran) return;
    const stat_def *defs = ev->type == EVAL_KEYPOINTS ? kp_stats : det_stats;
    const eval_params *p = &ev->p;
    for (int i = 0; i < ev->nstats; i++) {
        const stat_def *d = &defs[i];
        char iou[32];
        if (d->thr < 0)
            snprintf(iou, sizeof iou, "%0.2f:%0.2f", p->iou_thrs[0], p->iou_thrs[p->n_iou - 1]);
        else
            snprintf(iou, sizeof iou, "%0.2f", d->thr);
        sbuf_printf(out, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                    d->ap ? "Average Precision" : "Average Recall", d->ap ? "(AP)" : "(AR)", iou,
                    d->area, stat_maxdet(ev, d), ev->stats[i]);
    }
}

void eval_coco_write_json(const eval_coco *ev, jw *w)
{
    if (!ev->ran) return;
    const char **names = ev->type == EVAL_KEYPOINTS ? stat_names_kp : stat_names_det;
    jw_kstr(w, "iou_type", eval_iou_type_name(ev->type));
    jw_key(w, "stats");
    jw_arr(w);
    for (int i = 0; i < ev->nstats; i++)
        jw_dbl(w, ev->stats[i]);
    jw_arr_end(w);
    jw_key(w, "stat_names");
    jw_arr(w);
    for (int i = 0; i < ev->nstats; i++)
        jw_str(w, names[i]);
    jw_arr_end(w);
    jw_kint(w, "images", (int64_t)ev->nimg);
    jw_kint(w, "ground_truths", (int64_t)ev->ngt);
    jw_kint(w, "detections", (int64_t)ev->ndt);
    jw_key(w, "per_category");
    jw_obj(w);
    for (size_t k = 0; k < ev->ncat; k++) {
        eval_cat_result r;
        eval_coco_category_result(ev, k, &r);
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)r.category_id);
        jw_key(w, key);
        jw_obj(w);
        jw_kstr(w, "name", r.name);
        jw_kint(w, "gt", (int64_t)r.n_gt);
        jw_kint(w, "dt", (int64_t)r.n_dt);
        jw_kdbl(w, "AP", r.ap);
        jw_kdbl(w, "AP50", r.ap50);
        jw_kdbl(w, "AP75", r.ap75);
        if (ev->type != EVAL_KEYPOINTS) jw_kdbl(w, "APs", r.ap_small);
        jw_kdbl(w, "APm", r.ap_medium);
        jw_kdbl(w, "APl", r.ap_large);
        if (ev->type != EVAL_KEYPOINTS) {
            jw_kdbl(w, "AR1", r.ar1);
            jw_kdbl(w, "AR10", r.ar10);
        }
        jw_kdbl(w, ev->type == EVAL_KEYPOINTS ? "AR" : "AR100", r.ar100);
        jw_obj_end(w);
    }
    jw_obj_end(w);
}
