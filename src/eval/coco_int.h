/*
 * coco_int.h - private to src/eval: the layout of an eval_coco handle and
 * the geometry helpers shared by coco.c (the reference metrics) and
 * detail.c (confusion matrix, matches, error breakdown). Not a public API.
 */
#ifndef CVOPS_EVAL_COCO_INT_H
#define CVOPS_EVAL_COCO_INT_H

#include "base/arena.h"
#include "eval/eval.h"
#include "eval/rle.h"

/*
 * An annotation is split in two. The hot part is what evaluation reads for
 * every annotation; resolve reorders the ground truths' by (image,
 * category) and it is one 64-byte cache line (the arrays are 64-byte
 * aligned). The cold part stays
 * in insertion order, indexed by seq: ids, keypoints, segmentation.
 */
typedef struct ann {
    double score, area; /* score: detections; area < 0: derive */
    double bbox[4];
    uint32_t seq;     /* insertion index: the cold part, error messages */
    int32_t img, cat; /* indices after resolve (sorted id order); -1 = dropped */
    uint8_t iscrowd, has_bbox;
    uint8_t has_seg : 1, has_kp : 1; /* the cold part has a segmentation / keypoints */
    uint8_t zero_id : 1; /* a ground truth with id 0 (never a true positive) */
} ann;

typedef struct ann_x {
    int64_t id; /* ground truth; detections: seq + 1 */
    int64_t image_id, category_id;
    double *kp;     /* arena, x y v triplets */
    eval_seg *seg;  /* arena, NULL if none */
    uint32_t nkp;   /* keypoint triplets */
    int32_t num_kp; /* ground truth: labelled keypoints (resolved) */
} ann_x;

typedef struct img_rec {
    int64_t id;
    uint32_t w, h;
} img_rec;

typedef struct cat_rec {
    int64_t id;
    char *name;     /* arena */
    double *sigmas; /* arena, NULL: COCO default when 17 keypoints */
    size_t nsig;
} cat_rec;

/* (image, category) pair with its ground truths and detections. */
typedef struct pair_rec {
    uint32_t img, cat;
    uint32_t g0, ng; /* range in gidx */
    uint32_t d0, nd; /* range in didx (sorted by score after evaluation) */
    uint32_t acc;    /* where its kept detections go in acc (set by eval_coco_run) */
} pair_rec;

/* A detection as resolve sorts it and evaluation first reads it: w =
 * (image * ncat + category) << 32 | its index in dts (the high half 0 when
 * the key does not fit); area NAN when it needs the geometry. */
typedef struct dsrec {
    uint64_t w;
    double score, area;
} dsrec;

typedef struct idmap {
    int64_t *keys;
    int32_t *vals;
    size_t cap; /* power of two */
    size_t n;
} idmap;

struct eval_coco {
    eval_iou_type type;
    arena *mem;
    arena **more; /* arenas adopted from other handles (coco_adopt_dts) */
    size_t nmore;
    const char *gt_name, *dt_name;
    bool ignore_unknown_cats;

    img_rec *imgs;
    size_t nimg, capimg;
    cat_rec *cats;
    size_t ncat, capcat;
    ann *gts, *dts;    /* hot, 64-byte aligned */
    ann_x *gx, *dx;    /* cold, by seq */
    size_t ngt, capgt; /* capacity of both gts and gx */
    size_t ndt, capdt;

    /* resolved state (eval_coco_resolve) */
    bool resolved;
    idmap imgmap, catmap;
    /* After resolve the gts array is sorted by (img, cat, seq) so that
     * evaluation walks memory in order; the dts array stays in insertion
     * order (drec holds what most pairs need, in pair order); gidx/didx
     * index them per pair. */
    uint32_t *gidx, *didx;
    dsrec *drec; /* [kept detections] pair order (by score within a pair after evaluation) */
    pair_rec *pairs;
    size_t npairs;

    /* results of the last run */
    bool ran;
    eval_params p;
    int K;
    struct acc_entry *acc;               /* per category (acc_start), image order, then rank */
    uint32_t *acc_bits;                  /* [entry][A] matched / ignored bits (coco.c) */
    uint32_t *cat_counts;                /* [K][2] regular gts, detections; built on first use */
    size_t *acc_start;                   /* [K + 1] */
    uint64_t *npig;                      /* [K][A] regular ground truths */
    double *cprec, *cscore, *crec;       /* [k][a][m][t][r], recall [k][a][m][t] */
    double *precision, *recall, *scores; /* reference layout, built on first use */
    double stats[12];
    int nstats;
    double secs[4]; /* resolve, evaluate, accumulate, summarize */
};

/* The cold part of a ground truth / detection. */
static inline const ann_x *gt_x(const struct eval_coco *ev, const ann *a);
static inline const ann_x *dt_x(const struct eval_coco *ev, const ann *a);

/* Sorts images/categories, maps ids to indices, groups annotations into
 * pairs. Idempotent. */
int coco_resolve(eval_coco *ev, err *e);

/* Moves all detections of src to the end of dst's (renumbered after dst's)
 * and the memory they point into with them; src is left without
 * detections. Used by the parallel results reader. */
int coco_adopt_dts(eval_coco *dst, eval_coco *src, err *e);

/* Drops everything added after the counts given (a failed file load). */
void coco_truncate(eval_coco *ev, size_t nimg, size_t ncat, size_t ngt, size_t ndt);

/* Geometry of one annotation, ready for IoU/OKS. */
typedef struct geom {
    double bb[4];
    double area;
    rle mask; /* segm only */
} geom;

/* Builds the geometry (mask for segm, derived bbox/area); 0 or -1 (memory).
 * want_mask false: nothing will be compared with it, only the area is
 * needed (for segm, the mask is then skipped when possible). */
int coco_geom(const eval_coco *ev, const ann *a, bool is_gt, bool want_mask, geom *g, err *e);
void coco_geom_free(geom *g);
/* IoU (bbox/segm) or OKS (keypoints) of detection d with ground truth g. */
double coco_similarity(const eval_coco *ev, const ann *d, const geom *dg, const ann *g,
                       const geom *gg);

static inline const ann_x *gt_x(const struct eval_coco *ev, const ann *a)
{
    return &ev->gx[a->seq];
}

static inline const ann_x *dt_x(const struct eval_coco *ev, const ann *a)
{
    return &ev->dx[a->seq];
}

static inline const ann_x *ann_xof(const struct eval_coco *ev, const ann *a, bool is_gt)
{
    return is_gt ? gt_x(ev, a) : dt_x(ev, a);
}

/* Makes room for n more detections (hot and cold) without moving them later:
 * a reader that can estimate its count reserves once. */
int coco_reserve_dts(struct eval_coco *ev, size_t n);

#endif
