/*
 * eval.h - COCO detection evaluation (bbox, segm, keypoints), the same
 * numbers as the reference COCOeval (pycocotools), plus detection extras.
 *
 * An eval_coco handle holds one ground truth (images, categories,
 * annotations) and one set of detections. Fill it through the C API below
 * (the platform feeds it from its database) or from COCO JSON files with
 * coco_io.h, then call eval_coco_run() and read the results. The handle
 * copies everything it is given; callers keep ownership of their memory.
 *
 *   eval_coco *ev = eval_coco_new(EVAL_BBOX);
 *   eval_coco_add_image(ev, 1, 640, 480, &e);
 *   eval_coco_add_category(ev, 1, "person", &e);
 *   eval_coco_add_gt(ev, &(eval_ann){.id = 1, .image_id = 1, ...}, &e);
 *   eval_coco_add_dt(ev, &(eval_ann){.image_id = 1, .score = .9, ...}, &e);
 *   eval_coco_run(ev, NULL, &e);           // NULL: COCO default parameters
 *   const double *s = eval_coco_stats(ev); // the 12 summary numbers
 *   eval_coco_free(ev);
 *
 * Semantics (all as the reference; docs/eval.md has the long version):
 *   - images and categories are taken in increasing id order;
 *   - per image and category, detections are ordered by descending score,
 *     ties keeping insertion order, and only the first maxDets[-1] count;
 *   - matching is greedy per IoU threshold: each detection takes the
 *     unmatched ground truth with the highest IoU >= threshold (the last one
 *     on equal IoU), preferring regular over ignored ones; crowd regions may
 *     be matched many times and count as ignored;
 *   - a ground truth is ignored when crowd (keypoints: also when it has no
 *     labelled keypoint) or outside the area range; a detection is ignored
 *     when matched to an ignored ground truth, or unmatched and outside the
 *     area range. A ground truth whose id is 0 can never make a true
 *     positive (the reference stores match ids in a zero-filled array);
 *   - precision is interpolated (running max from the right) and sampled at
 *     101 recall points; -1 marks "undefined" (no ground truth);
 *   - the detection area used for range filtering is the bbox w*h when the
 *     detection has a box, else the mask area, else the keypoints' extent;
 *     a ground truth's area is the one given (derived the same way when the
 *     caller passes area < 0).
 *
 * Threads: eval_coco_run() splits work over (image, category) pairs and
 * categories with OpenMP; results do not depend on the thread count.
 */
#ifndef CVOPS_EVAL_EVAL_H
#define CVOPS_EVAL_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

typedef enum { EVAL_BBOX = 0, EVAL_SEGM, EVAL_KEYPOINTS } eval_iou_type;

const char *eval_iou_type_name(eval_iou_type t);            /* "bbox", ... */
int eval_iou_type_parse(const char *s, eval_iou_type *out); /* -1 if unknown */

/* --- parameters ------------------------------------------------------------ */

#define EVAL_MAX_IOU_THRS 16
#define EVAL_MAX_REC_THRS 101
#define EVAL_MAX_AREAS 8
#define EVAL_MAX_MAXDETS 8

typedef struct eval_params {
    int n_iou;
    double iou_thrs[EVAL_MAX_IOU_THRS]; /* 0.50:0.05:0.95 computed like numpy.linspace */
    int n_rec;
    double rec_thrs[EVAL_MAX_REC_THRS]; /* 0:0.01:1 */
    int n_area;
    double area_rng[EVAL_MAX_AREAS][2]; /* inclusive [lo, hi] */
    const char *area_lbl[EVAL_MAX_AREAS];
    int n_maxdets;
    int max_dets[EVAL_MAX_MAXDETS]; /* increasing; the last bounds detections per image+category */
    int threads;                    /* 0: OpenMP's default */
} eval_params;

/* COCO defaults for the type: bbox/segm: 4 areas, maxDets 1/10/100;
 * keypoints: all/medium/large, maxDets 20. */
void eval_params_init(eval_params *p, eval_iou_type type);

/* The 17 COCO person keypoint sigmas (used when a category has none set). */
extern const double eval_coco_kp_sigmas[17];

/* --- input ------------------------------------------------------------------- */

typedef enum {
    EVAL_SEG_NONE = 0,
    EVAL_SEG_POLY,   /* polygons: xy holds all coordinates, poly_len[i] numbers each */
    EVAL_SEG_COUNTS, /* uncompressed RLE: counts[ncounts] for an h x w mask */
    EVAL_SEG_STRING, /* compressed RLE string (COCO "counts" string) of an h x w mask */
} eval_seg_kind;

typedef struct eval_seg {
    eval_seg_kind kind;
    const double *xy;
    const uint32_t *poly_len; /* numbers (not points) per polygon: even, >= 6 */
    size_t npoly;
    const uint32_t *counts;
    size_t ncounts;
    const char *str;
    size_t len;
    uint32_t h, w; /* COUNTS and STRING: the mask size */
} eval_seg;

typedef struct eval_ann {
    int64_t id; /* ground truth: its annotation id; detections: ignored (1, 2, ... in order) */
    int64_t image_id;
    int64_t category_id;
    double score; /* detections */
    bool has_bbox;
    double bbox[4];          /* x, y, width, height */
    double area;             /* ground truth: the annotation's area; < 0: derive (see top) */
    bool iscrowd;            /* ground truth */
    int num_keypoints;       /* ground truth, keypoints: < 0: count the labelled ones */
    const double *keypoints; /* x, y, v triplets */
    size_t nkeypoints;       /* number of triplets */
    eval_seg seg;
} eval_ann;

typedef struct eval_coco eval_coco;

eval_coco *eval_coco_new(eval_iou_type type); /* NULL when out of memory */
void eval_coco_free(eval_coco *ev);
eval_iou_type eval_coco_type(const eval_coco *ev);

/* width/height may be 0 when unknown (then segm cannot rasterise polygons). */
int eval_coco_add_image(eval_coco *ev, int64_t id, uint32_t width, uint32_t height, err *e);
int eval_coco_add_category(eval_coco *ev, int64_t id, const char *name, err *e);
/* Per-category OKS sigmas (keypoints); n must match the keypoints given. */
int eval_coco_set_sigmas(eval_coco *ev, int64_t category_id, const double *sigmas, size_t n,
                         err *e);
/* What the error messages call the annotations: default "annotations" and
 * "results" ("results[17].image_id: ..."). The strings must outlive ev. */
void eval_coco_set_names(eval_coco *ev, const char *gt_name, const char *dt_name);
/* Unknown detection categories are an error by default; with ignore=true
 * they are dropped, as the reference does silently. */
void eval_coco_ignore_unknown_categories(eval_coco *ev, bool ignore);

int eval_coco_add_gt(eval_coco *ev, const eval_ann *a, err *e);
int eval_coco_add_dt(eval_coco *ev, const eval_ann *a, err *e);

size_t eval_coco_num_images(const eval_coco *ev);
size_t eval_coco_num_categories(const eval_coco *ev);
size_t eval_coco_num_gts(const eval_coco *ev);
size_t eval_coco_num_dts(const eval_coco *ev);

/* --- running ---------------------------------------------------------------- */

/* Evaluates (params NULL: defaults for the type). May be called again with
 * other parameters. Fails on unknown ids, inconsistent keypoints, or memory. */
int eval_coco_run(eval_coco *ev, const eval_params *params, err *e);

/* --- results (valid after a successful run, until the next run/free) ------- */

const eval_params *eval_coco_params(const eval_coco *ev);
/* Summary numbers: 12 for bbox/segm, 10 for keypoints, in the reference's
 * order; *n receives the count. -1 where undefined. */
const double *eval_coco_stats(const eval_coco *ev, int *n);
/* Full arrays, indexed as the reference: precision and scores [T][R][K][A][M],
 * recall [T][K][A][M], row-major with M fastest. Built on the first call
 * after a run (the run itself keeps them per category), so that first call
 * must not race with another on the same handle. NULL before a run or when
 * out of memory. */
const double *eval_coco_precision(const eval_coco *ev);
const double *eval_coco_recall(const eval_coco *ev);
const double *eval_coco_scores(const eval_coco *ev);
/* Category k (0-based, increasing id order). */
int64_t eval_coco_category_id(const eval_coco *ev, size_t k);
const char *eval_coco_category_name(const eval_coco *ev, size_t k);
int64_t eval_coco_image_id(const eval_coco *ev, size_t i);

typedef struct eval_cat_result {
    int64_t category_id;
    const char *name;
    size_t n_gt, n_dt; /* ground truths not crowd / detections, of this category */
    double ap, ap50, ap75, ap_small, ap_medium, ap_large; /* -1: undefined */
    double ar1, ar10, ar100;                              /* keypoints: ar uses maxDets 20 */
} eval_cat_result;
void eval_coco_category_result(const eval_coco *ev, size_t k, eval_cat_result *out);

/* Seconds spent by the last run in its phases: resolve, evaluate,
 * accumulate, summarize. */
void eval_coco_timings(const eval_coco *ev, double out[4]);

/* The reference's 12 (10) summary lines, each ending in '\n'. */
void eval_coco_summary_text(const eval_coco *ev, sbuf *out);
/* {"iou_type":..., "stats":[...], "stat_names":[...], "per_category":{...}} fields,
 * written into the currently open object of w. */
void eval_coco_write_json(const eval_coco *ev, jw *w);

/* --- detection extras ------------------------------------------------------ */

typedef struct eval_detail_opts {
    double iou_thr;   /* default 0.5: a match needs IoU >= this */
    double score_thr; /* default 0.5: detections below are left out */
    double bg_thr;    /* default 0.1: TIDE background threshold */
} eval_detail_opts;

void eval_detail_opts_init(eval_detail_opts *o);

typedef enum {
    EVAL_MATCH_TP = 0,  /* detection matched a ground truth of its category */
    EVAL_MATCH_FP,      /* detection not matched */
    EVAL_MATCH_IGNORED, /* detection matched a crowd region */
    EVAL_MATCH_FN,      /* ground truth not matched (dt = -1) */
} eval_match_kind;

/* The TIDE-style type of a false positive, or MISSED for a false negative
 * that no localization / classification / both error points at. */
typedef enum {
    EVAL_ERR_NONE = 0,
    EVAL_ERR_BACKGROUND,
    EVAL_ERR_DUPLICATE,
    EVAL_ERR_LOCALIZATION,
    EVAL_ERR_CLASSIFICATION,
    EVAL_ERR_BOTH,
    EVAL_ERR_MISSED,
} eval_error_kind;

typedef struct eval_match {
    size_t image;  /* image index (increasing id order) */
    int64_t dt;    /* detection index in insertion order, -1 for FN */
    int64_t gt_id; /* matched ground truth id, -1 if none */
    int64_t category_id;
    double iou; /* IoU with the matched (FN: 0) */
    double score;
    eval_match_kind kind;
    eval_error_kind error; /* FP: its type; FN: MISSED or NONE; else NONE */
} eval_match;

/* One increment of the confusion matrix and the image it came from, so a
 * cell can list its images. */
typedef struct eval_cm_hit {
    size_t image; /* image index */
    uint32_t row, col;
} eval_cm_hit;

typedef struct eval_detail {
    /* Confusion matrix (K+1)x(K+1), rows = ground-truth category, columns =
     * predicted; index K is background. Class-agnostic matching at iou_thr. */
    size_t k;
    uint64_t *confusion;
    /* Per image, same-category COCO matching at iou_thr (area all). Sorted
     * by image, then TP/FP/IGNORED by descending score, then FN. */
    eval_match *matches;
    size_t nmatches;
    size_t *image_first; /* matches of image i: [image_first[i], image_first[i+1]) */
    /* TIDE-style error counts (see docs/eval.md). */
    uint64_t tp, cls, loc, both, dupe, bkg, missed;
    /* Every confusion increment with its image, in image order (the
     * matrix is their sum). */
    eval_cm_hit *cm_hits;
    size_t ncm_hits;
} eval_detail;

/* Computes the extras (needs no prior run). Free with eval_detail_free. */
int eval_coco_detail(eval_coco *ev, const eval_detail_opts *o, eval_detail *out, err *e);
void eval_detail_free(eval_detail *d);
const char *eval_match_kind_name(eval_match_kind k); /* "tp", "fp", "ignored", "fn" */
/* "", "background", "duplicate", "localization", "classification", "both", "missed" */
const char *eval_error_kind_name(eval_error_kind k);
/* Writes {"iou_thr", "score_thr", "labels", "confusion", "errors"} and, with
 * matches, "images": [{"image_id", "matches": [{"dt", "gt_id",
 * "category_id", "iou", "score", "kind"}]}] (images without records left
 * out) as the value of the current key (or array slot) of w. */
void eval_detail_write_json(const eval_coco *ev, const eval_detail *d, const eval_detail_opts *o,
                            bool matches, jw *w);

#endif
