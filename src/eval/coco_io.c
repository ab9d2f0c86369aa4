/*
 * coco_io.c - streaming COCO readers; see coco_io.h.
 *
 * One yajl parser drives a small stack machine. Each open container gets a
 * frame holding its role (what it is in the COCO schema: the images list,
 * an annotation, a bbox, a polygon, ...), its current key or index, so an
 * error can name its place ("results[17].bbox"). Scalars are routed by the
 * role of the frame they sit in and the current key. Anything unknown is
 * skipped (its frames get the SKIP role) but still counts against the
 * depth limit.
 *
 * An annotation is gathered into a reusable builder (growable buffers for
 * box, keypoints, polygon coordinates and counts) and handed to
 * eval_coco_add_gt/dt when its object closes; the buffers are kept for the
 * next one, so the steady state allocates only what the handle stores.
 */
#include "eval/coco_io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/buf.h"
#include "eval/coco_int.h"
#include "eval/rle.h"

/* --- numbers ------------------------------------------------------------- */

static const double pow10_tab[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int eval_parse_double(const char *s, size_t n, double *out)
{
    /* Clinger's fast path: up to 15 significant digits and a power of ten
     * within 10^22 are both exact doubles, so one multiply/divide rounds
     * correctly. Everything else goes to strtod. */
    size_t i = 0;
    bool neg = false;
    if (i < n && s[i] == '-') neg = true, i++;
    uint64_t mant = 0;
    int digits = 0, exp10 = 0;
    bool ok = i < n;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (digits || s[i] != '0') {
            mant = mant * 10 + (uint64_t)(s[i] - '0');
            digits++;
        }
        i++;
    }
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (digits || s[i] != '0') {
                mant = mant * 10 + (uint64_t)(s[i] - '0');
                digits++;
            }
            exp10--;
            i++;
        }
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-')) eneg = s[i] == '-', i++;
        int ev = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (ev < 100000) ev = ev * 10 + (s[i] - '0');
            i++;
        }
        exp10 += eneg ? -ev : ev;
    }
    if (ok && i == n && digits <= 15 && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mant;
        v = exp10 < 0 ? v / pow10_tab[-exp10] : v * pow10_tab[exp10];
        *out = neg ? -v : v;
        return 0;
    }
    char tmp[128];
    char *buf = n < sizeof tmp ? tmp : malloc(n + 1);
    if (!buf) return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    bool good = end == buf + n && isfinite(v);
    if (buf != tmp) free(buf);
    if (!good) return -1;
    *out = v;
    return 0;
}

int eval_parse_int64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && s[i] == '-') neg = true, i++;
    if (i == n) return -1;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* --- growable arrays --------------------------------------------------------- */

typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;
typedef struct uvec {
    uint32_t *v;
    size_t n, cap;
} uvec;

static int dvec_push(dvec *a, double x)
{
    if (a->n == a->cap) {
        size_t c = a->cap ? a->cap * 2 : 16;
        double *p = realloc(a->v, c * sizeof *p);
        if (!p) return -1;
        a->v = p;
        a->cap = c;
    }
    a->v[a->n++] = x;
    return 0;
}

static int uvec_push(uvec *a, uint32_t x)
{
    if (a->n == a->cap) {
        size_t c = a->cap ? a->cap * 2 : 16;
        uint32_t *p = realloc(a->v, c * sizeof *p);
        if (!p) return -1;
        a->v = p;
        a->cap = c;
    }
    a->v[a->n++] = x;
    return 0;
}

/* --- parser state ---------------------------------------------------------- */

typedef enum {
    R_SKIP,
    R_GT_ROOT,
    R_IMAGES,
    R_IMAGE,
    R_CATS,
    R_CAT,
    R_CAT_SIGMAS,
    R_ANNS,
    R_ANN,
    R_DT_ROOT,
    R_BBOX,
    R_KP,
    R_SEG,      /* segmentation: polygons array or RLE object (decided on open) */
    R_SEG_POLY, /* one polygon */
    R_RLE,      /* {counts, size} */
    R_RLE_COUNTS,
    R_RLE_SIZE,
} role;

typedef struct frame {
    role r;
    bool is_obj;
    size_t idx;    /* arrays: index of the current element */
    char key[48];  /* objects: current key (truncated for messages) */
    size_t keylen; /* real length */
    int kc;        /* the key as a K_ code */
    bool whole;    /* closing: errors are about the container, not an element */
} frame;

enum {
    K_OTHER,
    K_ID,
    K_IMAGE_ID,
    K_CATEGORY_ID,
    K_SCORE,
    K_BBOX,
    K_AREA,
    K_ISCROWD,
    K_SEGMENTATION,
    K_KEYPOINTS,
    K_NUM_KEYPOINTS,
    K_WIDTH,
    K_HEIGHT,
    K_NAME,
    K_SIGMAS,
    K_COUNTS,
    K_SIZE,
    K_IMAGES,
    K_ANNOTATIONS,
    K_CATEGORIES
};

typedef struct reader {
    eval_coco *ev;
    bool gt;
    int *first_bbox; /* out: -1 no result, else whether results[0] had a bbox */
    err *e;
    bool failed;
    frame st[EVAL_IO_MAX_DEPTH + 1];
    int depth; /* number of open frames */
    size_t ann_index;
    bool first_dt_seen, first_dt_bbox;

    /* current image / category */
    int64_t id;
    bool has_id;
    double width, height;
    bool has_w, has_h;
    sbuf name;
    dvec sigmas;
    bool has_sigmas;

    /* current annotation */
    eval_ann a;
    bool has_img, has_cat, has_score, has_area, has_crowd, has_numkp;
    dvec bbox, kp, xy;
    uvec plen, counts;
    sbuf str;
    int seg; /* 0 none, 1 polygons, 2 rle */
    bool rle_str, rle_list;
    dvec size;
} reader;

static int key_code(const unsigned char *k, size_t n)
{
    /* called for every key of a file: compare lengths first, bytes second */
    static const struct {
        unsigned char len;
        char s[14];
        int code;
    } keys[] = {
        {2, "id", K_ID},
        {4, "bbox", K_BBOX},
        {4, "area", K_AREA},
        {4, "name", K_NAME},
        {4, "size", K_SIZE},
        {5, "score", K_SCORE},
        {5, "width", K_WIDTH},
        {6, "height", K_HEIGHT},
        {6, "sigmas", K_SIGMAS},
        {6, "counts", K_COUNTS},
        {6, "images", K_IMAGES},
        {7, "iscrowd", K_ISCROWD},
        {8, "image_id", K_IMAGE_ID},
        {9, "keypoints", K_KEYPOINTS},
        {10, "categories", K_CATEGORIES},
        {11, "category_id", K_CATEGORY_ID},
        {11, "annotations", K_ANNOTATIONS},
        {12, "segmentation", K_SEGMENTATION},
        {13, "num_keypoints", K_NUM_KEYPOINTS},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].len == n && memcmp(keys[i].s, k, n) == 0) return keys[i].code;
    return K_OTHER;
}

/* The JSON path of the current position, e.g. results[17].bbox */
static void path_of(const reader *rd, char *out, size_t n)
{
    size_t p = 0;
    out[0] = 0;
    const char *root = rd->gt ? "" : "results";
    p += (size_t)snprintf(out + p, n - p, "%s", root);
    for (int i = 0; i < rd->depth && p < n; i++) {
        const frame *f = &rd->st[i];
        if (f->is_obj) {
            if (f->keylen == 0) continue;
            p += (size_t)snprintf(out + p, n - p, "%s%.*s%s", p ? "." : "", (int)strlen(f->key),
                                  f->key, f->keylen > strlen(f->key) ? "..." : "");
        } else if (!f->whole) {
            p += (size_t)snprintf(out + p, n - p, "[%zu]", f->idx);
        }
    }
    if (out[0] == 0) snprintf(out, n, "(top level)");
}

static int fail(reader *rd, const char *fmt, const char *detail)
{
    char path[256];
    path_of(rd, path, sizeof path);
    if (!rd->failed) err_set(rd->e, ERR_INVALID, "%s: %s%s", path, fmt, detail ? detail : "");
    rd->failed = true;
    return 0; /* stops yajl */
}

static frame *top(reader *rd)
{
    return rd->depth ? &rd->st[rd->depth - 1] : NULL;
}

static int cur_key(reader *rd)
{
    frame *f = top(rd);
    if (!f || !f->is_obj) return K_OTHER;
    return f->kc;
}

static void reset_ann(reader *rd)
{
    memset(&rd->a, 0, sizeof rd->a);
    rd->a.area = -1;
    rd->a.num_keypoints = -1;
    rd->has_img = rd->has_cat = rd->has_score = rd->has_area = rd->has_crowd = false;
    rd->has_numkp = rd->has_id = false;
    rd->bbox.n = rd->kp.n = rd->xy.n = rd->plen.n = rd->counts.n = rd->size.n = 0;
    sbuf_reset(&rd->str);
    rd->seg = 0;
    rd->rle_str = rd->rle_list = false;
}

static void reset_item(reader *rd)
{
    rd->has_id = rd->has_w = rd->has_h = rd->has_sigmas = false;
    rd->width = rd->height = 0;
    sbuf_reset(&rd->name);
    rd->sigmas.n = 0;
}

/* Role of a container opened in the current position. */
static role child_role(reader *rd, bool is_obj)
{
    frame *f = top(rd);
    if (!f) return rd->gt ? (is_obj ? R_GT_ROOT : R_SKIP) : (is_obj ? R_SKIP : R_DT_ROOT);
    int k = cur_key(rd);
    switch (f->r) {
    case R_GT_ROOT:
        if (is_obj) return R_SKIP;
        if (k == K_IMAGES) return R_IMAGES;
        if (k == K_ANNOTATIONS) return R_ANNS;
        if (k == K_CATEGORIES) return R_CATS;
        return R_SKIP;
    case R_IMAGES:
        return is_obj ? R_IMAGE : R_SKIP;
    case R_CATS:
        return is_obj ? R_CAT : R_SKIP;
    case R_ANNS:
    case R_DT_ROOT:
        return is_obj ? R_ANN : R_SKIP;
    case R_CAT:
        return k == K_SIGMAS && !is_obj ? R_CAT_SIGMAS : R_SKIP;
    case R_ANN:
        if (k == K_BBOX && !is_obj) return R_BBOX;
        if (k == K_KEYPOINTS && !is_obj) return R_KP;
        if (k == K_SEGMENTATION) return is_obj ? R_RLE : R_SEG;
        return R_SKIP;
    case R_SEG:
        return is_obj ? R_SKIP : R_SEG_POLY;
    case R_RLE:
        if (k == K_COUNTS && !is_obj) return R_RLE_COUNTS;
        if (k == K_SIZE && !is_obj) return R_RLE_SIZE;
        return R_SKIP;
    default:
        return R_SKIP;
    }
}

/* Checks a container's type where the schema fixes it. */
static int check_open(reader *rd, role r, bool is_obj)
{
    frame *f = top(rd);
    if (!f) {
        if (rd->gt && !is_obj)
            return fail(rd, "expected the COCO ground-truth object {\"images\": ...}", NULL);
        if (!rd->gt && is_obj) return fail(rd, "expected a JSON array of results", NULL);
        return 1;
    }
    int k = cur_key(rd);
    if (r == R_SKIP) {
        const char *msg = NULL;
        if (f->r == R_GT_ROOT && (k == K_IMAGES || k == K_ANNOTATIONS || k == K_CATEGORIES))
            msg = "expected an array";
        else if ((f->r == R_IMAGES || f->r == R_CATS || f->r == R_ANNS || f->r == R_DT_ROOT))
            msg = "expected an object";
        else if (f->r == R_ANN && (k == K_BBOX || k == K_KEYPOINTS))
            msg = "expected an array of numbers";
        else if (f->r == R_ANN &&
                 (k == K_ID || k == K_IMAGE_ID || k == K_CATEGORY_ID || k == K_SCORE ||
                  k == K_AREA || k == K_ISCROWD || k == K_NUM_KEYPOINTS))
            msg = "expected a number";
        else if (f->r == R_SEG)
            msg = "expected a polygon (array of numbers)";
        else if (f->r == R_RLE && (k == K_COUNTS || k == K_SIZE))
            msg = k == K_SIZE ? "expected [height, width]" : "expected a string or an array";
        else if (f->r == R_IMAGE && (k == K_ID || k == K_WIDTH || k == K_HEIGHT))
            msg = "expected a number";
        else if (f->r == R_CAT && (k == K_ID || k == K_SIGMAS || k == K_NAME))
            msg = k == K_SIGMAS ? "expected an array of numbers" : "expected a scalar";
        else if (f->r == R_BBOX || f->r == R_KP || f->r == R_SEG_POLY || f->r == R_RLE_COUNTS ||
                 f->r == R_RLE_SIZE || f->r == R_CAT_SIGMAS)
            msg = "expected a number";
        if (msg) return fail(rd, msg, NULL);
    }
    return 1;
}

static int on_open(reader *rd, bool is_obj)
{
    if (rd->depth >= EVAL_IO_MAX_DEPTH) return fail(rd, "nesting deeper than the limit", NULL);
    role r = child_role(rd, is_obj);
    if (!check_open(rd, r, is_obj)) return 0;
    if (r == R_ANN) {
        reset_ann(rd);
        rd->ann_index = top(rd)->idx;
    } else if (r == R_IMAGE || r == R_CAT) {
        reset_item(rd);
    } else if (r == R_SEG) {
        if (rd->seg) return fail(rd, "segmentation given twice", NULL);
        rd->seg = 1;
    } else if (r == R_RLE) {
        if (rd->seg) return fail(rd, "segmentation given twice", NULL);
        rd->seg = 2;
    } else if (r == R_SEG_POLY) {
        if (uvec_push(&rd->plen, 0)) return fail(rd, "out of memory", NULL);
    } else if (r == R_BBOX) {
        if (rd->a.has_bbox || rd->bbox.n) return fail(rd, "bbox given twice", NULL);
    }
    frame *f = &rd->st[rd->depth++];
    f->r = r;
    f->is_obj = is_obj;
    f->idx = 0;
    f->key[0] = 0;
    f->keylen = 0;
    f->kc = K_OTHER;
    f->whole = false;
    return 1;
}

static int finish_ann(reader *rd);
static int finish_item(reader *rd, role r);

static int on_close(reader *rd)
{
    frame *f = top(rd);
    role r = f->r;
    int rc = 1;
    if (f->is_obj) { /* errors about the whole object name the object */
        f->key[0] = 0;
        f->keylen = 0;
        f->kc = K_OTHER;
    } else {
        f->whole = true;
    }
    if (r == R_ANN) {
        rc = finish_ann(rd);
    } else if (r == R_IMAGE || r == R_CAT) {
        rc = finish_item(rd, r);
    } else if (r == R_BBOX) {
        if (rd->bbox.n != 4) {
            char d[48];
            snprintf(d, sizeof d, ", got %zu", rd->bbox.n);
            return fail(rd, "expected 4 numbers [x, y, width, height]", d);
        }
        rd->a.has_bbox = true;
        memcpy(rd->a.bbox, rd->bbox.v, sizeof rd->a.bbox);
    } else if (r == R_KP) {
        if (rd->kp.n % 3) {
            char d[64];
            snprintf(d, sizeof d, ", got %zu numbers", rd->kp.n);
            return fail(rd, "expected x, y, v triplets", d);
        }
    } else if (r == R_RLE_SIZE) {
        if (rd->size.n != 2) return fail(rd, "expected [height, width]", NULL);
    } else if (r == R_RLE_COUNTS) {
        rd->rle_list = true;
    }
    if (!rc) return 0;
    rd->depth--;
    /* the value just closed was an element of an array: advance the index */
    frame *p = top(rd);
    if (p && !p->is_obj) p->idx++;
    return 1;
}

/* A scalar was consumed in the current container. */
static void after_scalar(reader *rd)
{
    frame *f = top(rd);
    if (f && !f->is_obj) f->idx++;
}

static int want_number(reader *rd, const char *what)
{
    return fail(rd, what, NULL);
}

static int on_number(void *ctx, const char *s, size_t n)
{
    reader *rd = ctx;
    frame *f = top(rd);
    if (!f) return fail(rd, rd->gt ? "expected an object" : "expected an array", NULL);
    double v;
    int k = cur_key(rd);
    switch (f->r) {
    case R_BBOX:
    case R_KP:
    case R_SEG_POLY:
    case R_RLE_SIZE:
    case R_CAT_SIGMAS: {
        if (eval_parse_double(s, n, &v)) return fail(rd, "number out of range", NULL);
        dvec *d = f->r == R_BBOX       ? &rd->bbox
                  : f->r == R_KP       ? &rd->kp
                  : f->r == R_SEG_POLY ? &rd->xy
                  : f->r == R_RLE_SIZE ? &rd->size
                                       : &rd->sigmas;
        if (f->r == R_BBOX && d->n >= 4)
            return fail(rd, "expected 4 numbers [x, y, width, height]", ", got more");
        if (f->r == R_RLE_SIZE && d->n >= 2) return fail(rd, "expected [height, width]", NULL);
        if (dvec_push(d, v)) return fail(rd, "out of memory", NULL);
        if (f->r == R_SEG_POLY) rd->plen.v[rd->plen.n - 1]++;
        break;
    }
    case R_RLE_COUNTS: {
        int64_t c;
        if (eval_parse_int64(s, n, &c) || c < 0 || c > (int64_t)UINT32_MAX)
            return fail(rd, "expected a run length (whole number >= 0)", NULL);
        if (uvec_push(&rd->counts, (uint32_t)c)) return fail(rd, "out of memory", NULL);
        break;
    }
    case R_ANN: {
        if (k == K_ID || k == K_IMAGE_ID || k == K_CATEGORY_ID) {
            int64_t id;
            if (eval_parse_int64(s, n, &id)) return want_number(rd, "expected a whole number id");
            if (k == K_ID)
                rd->a.id = id, rd->has_id = true;
            else if (k == K_IMAGE_ID)
                rd->a.image_id = id, rd->has_img = true;
            else
                rd->a.category_id = id, rd->has_cat = true;
        } else if (k == K_SCORE || k == K_AREA || k == K_ISCROWD || k == K_NUM_KEYPOINTS) {
            if (eval_parse_double(s, n, &v)) return fail(rd, "number out of range", NULL);
            if (k == K_SCORE)
                rd->a.score = v, rd->has_score = true;
            else if (k == K_AREA) {
                if (v < 0) return fail(rd, "must be >= 0", NULL);
                rd->a.area = v, rd->has_area = true;
            } else if (k == K_ISCROWD)
                rd->a.iscrowd = v != 0, rd->has_crowd = true;
            else {
                if (v < 0 || v > 1e6 || v != floor(v))
                    return fail(rd, "expected a whole number >= 0", NULL);
                rd->a.num_keypoints = (int)v, rd->has_numkp = true;
            }
        } else if (k == K_BBOX || k == K_KEYPOINTS) {
            return fail(rd, "expected an array of numbers", NULL);
        } else if (k == K_SEGMENTATION) {
            return fail(rd, "expected polygons or an RLE object", NULL);
        }
        break;
    }
    case R_IMAGE:
        if (k == K_ID) {
            if (eval_parse_int64(s, n, &rd->id))
                return fail(rd, "expected a whole number id", NULL);
            rd->has_id = true;
        } else if (k == K_WIDTH || k == K_HEIGHT) {
            if (eval_parse_double(s, n, &v) || v < 0 || v > RLE_MAX_SIDE || v != floor(v))
                return fail(rd, "expected a whole number of pixels", NULL);
            if (k == K_WIDTH)
                rd->width = v, rd->has_w = true;
            else
                rd->height = v, rd->has_h = true;
        }
        break;
    case R_CAT:
        if (k == K_ID) {
            if (eval_parse_int64(s, n, &rd->id))
                return fail(rd, "expected a whole number id", NULL);
            rd->has_id = true;
        } else if (k == K_NAME) {
            sbuf_put(&rd->name, s, n);
        }
        break;
    case R_GT_ROOT:
        if (k == K_IMAGES || k == K_ANNOTATIONS || k == K_CATEGORIES)
            return fail(rd, "expected an array", NULL);
        break;
    case R_RLE:
        if (k == K_COUNTS) return fail(rd, "expected a string or an array", NULL);
        if (k == K_SIZE) return fail(rd, "expected [height, width]", NULL);
        break;
    case R_SEG:
        return fail(rd, "expected a polygon (array of numbers)", NULL);
    case R_IMAGES:
    case R_CATS:
    case R_ANNS:
    case R_DT_ROOT:
        return fail(rd, "expected an object", NULL);
    case R_SKIP:
        break;
    }
    after_scalar(rd);
    return 1;
}

/* Strings, booleans and null: only a few places accept them. */
static int on_other(reader *rd, const char *what, const unsigned char *s, size_t n, int bval)
{
    frame *f = top(rd);
    if (!f) return fail(rd, rd->gt ? "expected an object" : "expected an array", NULL);
    int k = cur_key(rd);
    bool is_str = s != NULL, is_bool = bval >= 0;
    switch (f->r) {
    case R_SKIP:
    case R_GT_ROOT:
        if (f->r == R_GT_ROOT && (k == K_IMAGES || k == K_ANNOTATIONS || k == K_CATEGORIES))
            return fail(rd, "expected an array, got ", what);
        break;
    case R_IMAGE:
        if (k == K_ID || k == K_WIDTH || k == K_HEIGHT)
            return fail(rd, "expected a number, got ", what);
        break;
    case R_CAT:
        if (k == K_NAME && is_str) {
            sbuf_put(&rd->name, s, n);
            break;
        }
        if (k == K_ID || k == K_NAME || k == K_SIGMAS) return fail(rd, "unexpected ", what);
        break;
    case R_ANN:
        if (k == K_ISCROWD && is_bool) { /* accept true/false too */
            rd->a.iscrowd = bval, rd->has_crowd = true;
            break;
        }
        if (k == K_ID || k == K_IMAGE_ID || k == K_CATEGORY_ID || k == K_SCORE || k == K_AREA ||
            k == K_ISCROWD || k == K_NUM_KEYPOINTS)
            return fail(rd, "expected a number, got ", what);
        if (k == K_BBOX || k == K_KEYPOINTS)
            return fail(rd, "expected an array of numbers, got ", what);
        if (k == K_SEGMENTATION) return fail(rd, "expected polygons or an RLE object, got ", what);
        break;
    case R_RLE:
        if (k == K_COUNTS && is_str) {
            if (rd->rle_str || rd->rle_list) return fail(rd, "counts given twice", NULL);
            if (n > EVAL_IO_MAX_STRING) return fail(rd, "string above the size limit", NULL);
            sbuf_put(&rd->str, s, n);
            if (sbuf_failed(&rd->str)) return fail(rd, "out of memory", NULL);
            rd->rle_str = true;
            break;
        }
        if (k == K_COUNTS || k == K_SIZE) return fail(rd, "unexpected ", what);
        break;
    case R_BBOX:
    case R_KP:
    case R_SEG_POLY:
    case R_RLE_SIZE:
    case R_RLE_COUNTS:
    case R_CAT_SIGMAS:
        return fail(rd, "expected a number, got ", what);
    case R_SEG:
        return fail(rd, "expected a polygon (array of numbers), got ", what);
    case R_IMAGES:
    case R_CATS:
    case R_ANNS:
    case R_DT_ROOT:
        return fail(rd, "expected an object, got ", what);
    }
    after_scalar(rd);
    return 1;
}

static int cb_null(void *ctx)
{
    return on_other(ctx, "null", NULL, 0, -1);
}
static int cb_bool(void *ctx, int b)
{
    return on_other(ctx, b ? "true" : "false", NULL, 0, b);
}
static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
    return on_other(ctx, "a string", s ? s : (const unsigned char *)"", n, -1);
}
static int cb_start_map(void *ctx)
{
    return on_open(ctx, true);
}
static int cb_start_array(void *ctx)
{
    return on_open(ctx, false);
}
static int cb_end(void *ctx)
{
    return on_close(ctx);
}
static int cb_key(void *ctx, const unsigned char *k, size_t n)
{
    reader *rd = ctx;
    frame *f = top(rd);
    size_t c = n < sizeof f->key - 1 ? n : sizeof f->key - 1;
    memcpy(f->key, k, c);
    f->key[c] = 0;
    f->keylen = n;
    f->kc = key_code(k, n);
    return 1;
}

static const yajl_callbacks callbacks = {
    cb_null,      cb_bool, NULL,   NULL,           on_number, cb_string,
    cb_start_map, cb_key,  cb_end, cb_start_array, cb_end,
};

/* --- finishing items ---------------------------------------------------------- */

static int finish_item(reader *rd, role r)
{
    err le;
    err_clear(&le);
    if (!rd->has_id) return fail(rd, "missing id", NULL);
    if (r == R_IMAGE) {
        if (eval_coco_add_image(rd->ev, rd->id, (uint32_t)rd->width, (uint32_t)rd->height, &le))
            return fail(rd, le.msg, NULL);
    } else {
        if (eval_coco_add_category(rd->ev, rd->id, sbuf_cstr(&rd->name), &le))
            return fail(rd, le.msg, NULL);
        if (rd->sigmas.n && eval_coco_set_sigmas(rd->ev, rd->id, rd->sigmas.v, rd->sigmas.n, &le))
            return fail(rd, le.msg, NULL);
    }
    return 1;
}

static int finish_ann(reader *rd)
{
    eval_ann *a = &rd->a;
    if (!rd->has_img) return fail(rd, "missing image_id", NULL);
    if (!rd->has_cat) return fail(rd, "missing category_id", NULL);
    if (!rd->gt && !rd->has_score) return fail(rd, "missing score", NULL);
    if (rd->gt && !rd->has_id) return fail(rd, "missing id", NULL);
    eval_iou_type t = eval_coco_type(rd->ev);
    /* segmentation */
    if (rd->seg == 1) {
        a->seg.kind = EVAL_SEG_POLY;
        a->seg.xy = rd->xy.v;
        a->seg.poly_len = rd->plen.v;
        a->seg.npoly = rd->plen.n;
        if (rd->plen.n == 0) return fail(rd, "segmentation: expected at least one polygon", NULL);
    } else if (rd->seg == 2) {
        if (rd->size.n != 2)
            return fail(rd, "segmentation: RLE needs \"size\": [height, width]", NULL);
        double h = rd->size.v[0], w = rd->size.v[1];
        if (h < 0 || w < 0 || h > RLE_MAX_SIDE || w > RLE_MAX_SIDE || h != floor(h) ||
            w != floor(w))
            return fail(rd, "segmentation.size: expected two whole numbers within the limit", NULL);
        a->seg.h = (uint32_t)h;
        a->seg.w = (uint32_t)w;
        if (rd->rle_str) {
            a->seg.kind = EVAL_SEG_STRING;
            a->seg.str = sbuf_cstr(&rd->str);
            a->seg.len = rd->str.len;
        } else if (rd->rle_list) {
            a->seg.kind = EVAL_SEG_COUNTS;
            a->seg.counts = rd->counts.v;
            a->seg.ncounts = rd->counts.n;
        } else {
            return fail(rd, "segmentation: RLE needs \"counts\"", NULL);
        }
    }
    if (rd->kp.n) {
        a->keypoints = rd->kp.v;
        a->nkeypoints = rd->kp.n / 3;
    }
    if (!rd->gt) {
        /* the first result decides the kind, as the reference's loadRes */
        if (!rd->first_dt_seen) {
            rd->first_dt_seen = true;
            rd->first_dt_bbox = a->has_bbox;
        } else if (a->has_bbox != rd->first_dt_bbox) {
            return fail(rd,
                        a->has_bbox ? "has a bbox but results[0] has none (all results must be "
                                      "of the same kind)"
                                    : "has no bbox but results[0] has one (all results must be "
                                      "of the same kind)",
                        NULL);
        }
        a->area = -1;
        a->iscrowd = false;
    }
    /* keep only what the evaluation needs */
    bool keep_seg = t == EVAL_SEGM || !a->has_bbox || (rd->gt && !rd->has_area);
    if (!keep_seg) a->seg.kind = EVAL_SEG_NONE;
    if (t != EVAL_KEYPOINTS && (a->has_bbox || a->seg.kind != EVAL_SEG_NONE)) {
        a->keypoints = NULL;
        a->nkeypoints = 0;
    }
    err le;
    err_clear(&le);
    int rc = rd->gt ? eval_coco_add_gt(rd->ev, a, &le) : eval_coco_add_dt(rd->ev, a, &le);
    if (rc) return fail(rd, le.msg, NULL);
    return 1;
}

/* --- driver ------------------------------------------------------------------- */

typedef int (*chunk_fn)(void *src, char *buf, size_t cap, size_t *got, err *e);

static void reader_free(reader *rd)
{
    sbuf_free(&rd->name);
    sbuf_free(&rd->str);
    free(rd->sigmas.v);
    free(rd->bbox.v);
    free(rd->kp.v);
    free(rd->xy.v);
    free(rd->size.v);
    free(rd->plen.v);
    free(rd->counts.v);
}

static int run_ex(eval_coco *ev, bool gt, chunk_fn next, void *src, const char *label, err *e,
                  int *first_bbox)
{
    reader *rd = calloc(1, sizeof *rd);
    if (!rd) return err_set(e, ERR_INTERNAL, "out of memory");
    rd->ev = ev;
    rd->gt = gt;
    rd->e = e;
    rd->first_bbox = first_bbox;
    yajl_handle h = yajl_alloc(&callbacks, NULL, rd);
    if (!h) {
        free(rd);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    /* The strings kept are category names (repaired to valid UTF-8 when
     * written out) and RLE counts (checked character by character); the
     * other strings are skipped: yajl need not validate them (RLE strings
     * of a segm results file are most of its bytes). */
    yajl_config(h, yajl_dont_validate_strings, 1);
    enum { CHUNK = 1 << 16 };
    char *buf = malloc(CHUNK);
    int rc = 0;
    size_t offset = 0;
    if (!buf) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (;;) {
        size_t got = 0;
        if (next(src, buf, CHUNK, &got, e)) {
            rc = -1;
            goto out;
        }
        yajl_status st =
            got ? yajl_parse(h, (const unsigned char *)buf, got) : yajl_complete_parse(h);
        if (st != yajl_status_ok) {
            if (rd->failed) {
                if (label) err_prefix(e, "%s: ", label);
            } else {
                char path[256];
                path_of(rd, path, sizeof path);
                unsigned char *m = yajl_get_error(h, 0, NULL, 0);
                size_t at = offset + (got ? yajl_get_bytes_consumed(h) : 0);
                char msg[160];
                snprintf(msg, sizeof msg, "%s", m ? (const char *)m : "parse error");
                for (char *c = msg; *c; c++)
                    if (*c == '\n') *c = ' ';
                size_t ml = strlen(msg);
                while (ml && msg[ml - 1] == ' ')
                    msg[--ml] = 0;
                err_set(e, ERR_INVALID, "%s%sinvalid JSON %s byte %zu (in %s): %s",
                        label ? label : "", label ? ": " : "", got ? "at" : "ending at", at, path,
                        msg);
                if (m) yajl_free_error(h, m);
            }
            rc = -1;
            goto out;
        }
        if (!got) break;
        offset += got;
    }
out:
    if (first_bbox) *first_bbox = rd->first_dt_seen ? rd->first_dt_bbox : -1;
    free(buf);
    yajl_free(h);
    reader_free(rd);
    free(rd);
    return rc;
}

/* A failed load leaves the handle as it was before. */
static int run(eval_coco *ev, bool gt, chunk_fn next, void *src, const char *label, err *e)
{
    size_t ni = ev->nimg, nc = ev->ncat, ng = ev->ngt, nd = ev->ndt;
    int rc = run_ex(ev, gt, next, src, label, e, NULL);
    if (rc) coco_truncate(ev, ni, nc, ng, nd);
    return rc;
}

typedef struct mem_src {
    const char *p;
    size_t n, off;
} mem_src;

static int mem_next(void *src, char *buf, size_t cap, size_t *got, err *e)
{
    (void)e;
    mem_src *m = src;
    size_t n = m->n - m->off < cap ? m->n - m->off : cap;
    memcpy(buf, m->p + m->off, n);
    m->off += n;
    *got = n;
    return 0;
}

typedef struct file_src {
    FILE *f;
    const char *path;
} file_src;

static int file_next(void *src, char *buf, size_t cap, size_t *got, err *e)
{
    file_src *fs = src;
    *got = fread(buf, 1, cap, fs->f);
    if (*got == 0 && ferror(fs->f))
        return err_set(e, ERR_IO, "%s: read failed: %s", fs->path, strerror(errno));
    return 0;
}

static int load_file(eval_coco *ev, bool gt, const char *path, err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, "%s: cannot open: %s", path,
                       strerror(errno));
    struct stat st;
    if (!gt && fstat(fileno(f), &st) == 0 && st.st_size > 0)
        (void)coco_reserve_dts(ev, (size_t)st.st_size / 48 + 16); /* best effort */
    file_src fs = {f, path};
    int rc = run(ev, gt, file_next, &fs, path, e);
    fclose(f);
    return rc;
}

/*
 * Results files are one long array, and yajl parses at a few hundred MB/s
 * on one core: a large file is read as two halves in parallel. The split is
 * the first "}, {" after the middle; both halves must then parse as
 * complete arrays ("...}]" and "[{..."), which holds only when the comma
 * really separates two top-level results (a comma inside a string or a
 * nested value leaves one half unbalanced). Each half fills its own handle;
 * the second's detections are appended after the first's. On any failure
 * the file is read again sequentially, so errors and their indices are
 * exactly those of the plain reader.
 */
typedef struct range_src {
    int fd;
    const char *path;
    off_t off, end;
    const char *pre, *post; /* bytes sent before / after the range */
    size_t pre_n, post_n;
    int stage; /* 0 pre, 1 range, 2 post, 3 done */
} range_src;

static int range_next(void *src, char *buf, size_t cap, size_t *got, err *e)
{
    range_src *r = src;
    *got = 0;
    if (r->stage == 0) {
        r->stage = 1;
        if (r->pre_n) {
            memcpy(buf, r->pre, r->pre_n);
            *got = r->pre_n;
            return 0;
        }
    }
    if (r->stage == 1) {
        if (r->off < r->end) {
            size_t want = (size_t)(r->end - r->off) < cap ? (size_t)(r->end - r->off) : cap;
            ssize_t n = pread(r->fd, buf, want, r->off);
            if (n < 0) return err_set(e, ERR_IO, "%s: read failed: %s", r->path, strerror(errno));
            if (n == 0) return err_set(e, ERR_IO, "%s: file shrank while reading", r->path);
            r->off += n;
            *got = (size_t)n;
            return 0;
        }
        r->stage = 2;
    }
    if (r->stage == 2) {
        r->stage = 3;
        if (r->post_n) {
            memcpy(buf, r->post, r->post_n);
            *got = r->post_n;
        }
    }
    return 0;
}

/* Offset of the ',' of the first "}<ws>,<ws>{" at or after from, or -1. */
static off_t find_split(int fd, off_t from, off_t size)
{
    enum { WIN = 1 << 20 };
    char *w = malloc(WIN);
    if (!w) return -1;
    ssize_t n = pread(fd, w, WIN, from);
    off_t found = -1;
    for (ssize_t i = 0; n > 0 && i < n && found < 0; i++) {
        if (w[i] != '}') continue;
        ssize_t j = i + 1;
        while (j < n && (w[j] == ' ' || w[j] == '\n' || w[j] == '\r' || w[j] == '\t'))
            j++;
        if (j >= n || w[j] != ',') continue;
        ssize_t c = j++;
        while (j < n && (w[j] == ' ' || w[j] == '\n' || w[j] == '\r' || w[j] == '\t'))
            j++;
        if (j < n && w[j] == '{' && from + c < size) found = from + c;
    }
    free(w);
    return found;
}

static int load_dt_parallel(eval_coco *ev, const char *path, err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    off_t comma = -1;
    if (fstat(fd, &st) == 0 && st.st_size > (8 << 20))
        comma = find_split(fd, st.st_size / 2, st.st_size);
    if (comma < 0) {
        close(fd);
        return -1;
    }
    /* the first half goes straight into ev, the second into a scratch handle;
     * both reserve for the smallest plausible result (48 bytes): unused
     * reserved memory is never touched, and nothing is moved while growing */
    eval_coco *second = eval_coco_new(eval_coco_type(ev));
    if (second && (coco_reserve_dts(ev, (size_t)comma / 48 + 16) ||
                   coco_reserve_dts(second, (size_t)(st.st_size - comma) / 48 + 16))) {
        eval_coco_free(second);
        second = NULL;
    }
    eval_coco *half[2] = {ev, second};
    int rc[2] = {-1, -1}, fb[2] = {-1, -1};
    err le[2];
    range_src src[2] = {
        {fd, path, 0, comma, NULL, "]", 0, 1, 0},
        {fd, path, comma + 1, st.st_size, "[", NULL, 1, 0, 0},
    };
    if (second) {
#pragma omp parallel for num_threads(2) schedule(static, 1)
        for (int i = 0; i < 2; i++)
            rc[i] = run_ex(half[i], false, range_next, &src[i], path, &le[i], &fb[i]);
    }
    close(fd);
    int out = -1;
    if (rc[0] == 0 && rc[1] == 0 && fb[0] >= 0 && (fb[1] < 0 || fb[1] == fb[0]) &&
        coco_adopt_dts(ev, second, e) == 0)
        out = 0;
    if (out) coco_truncate(ev, ev->nimg, ev->ncat, ev->ngt, 0);
    eval_coco_free(second);
    return out;
}

int eval_coco_load_gt_file(eval_coco *ev, const char *path, err *e)
{
    return load_file(ev, true, path, e);
}

static int io_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int eval_coco_load_dt_file(eval_coco *ev, const char *path, err *e)
{
    /* only into an empty handle: a failed attempt must leave nothing behind */
    if (eval_coco_num_dts(ev) == 0 && io_threads() > 1 && load_dt_parallel(ev, path, e) == 0)
        return 0;
    return load_file(ev, false, path, e);
}

int eval_coco_load_gt_mem(eval_coco *ev, const char *buf, size_t n, err *e)
{
    mem_src m = {buf, n, 0};
    return run(ev, true, mem_next, &m, NULL, e);
}

int eval_coco_load_dt_mem(eval_coco *ev, const char *buf, size_t n, err *e)
{
    mem_src m = {buf, n, 0};
    return run(ev, false, mem_next, &m, NULL, e);
}
