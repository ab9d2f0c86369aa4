/*
 * detect.h - object detection on top of the nn engine: a single-stage,
 * anchor-free detector of the YOLO family, its training and inference, and
 * a synthetic detection dataset generator. A library: no HTTP, no
 * database, nothing printed. docs/detection.md has the long version.
 *
 * The pieces:
 *
 *   det_arch        the network as an nn architecture (JSON): a CSP
 *                   backbone (C2f blocks, SPPF), an FPN/PAN neck and a
 *                   decoupled head per level (box regression | classes),
 *                   in sizes "nano" and "small". nn models have one output,
 *                   so the heads of strides 16 and 32 are upsampled
 *                   (nearest) to the stride-8 grid and concatenated: cell
 *                   (i, j) of level l sits at (i*u, j*u), u = 1, 2, 4 (the
 *                   other copies get no gradient: the backward of nearest
 *                   upsampling sums them, so the gradient stays exact).
 *   det_head        that output layout (classes, strides) and its decoding
 *                   into boxes: ltrb distances exp(r) * stride from each
 *                   cell's centre, class scores sigmoid(z).
 *   det_assign      task-aligned assignment (TOOD / YOLOv8): candidates are
 *                   cells whose centre is inside a box, ranked by
 *                   score^alpha * IoU^beta, top k per box, a cell claimed
 *                   by several boxes keeps the one it overlaps most.
 *   det_loss        CIoU (or GIoU) box loss and BCE (or quality focal)
 *                   classification loss against the aligned soft targets;
 *                   the gradient with respect to the network's output.
 *   det_nms         class-aware greedy non-maximum suppression.
 *   det_letterbox   fitting an image into the network input keeping its
 *                   aspect ratio, and the way back to image pixels.
 *   det_augment     mosaic, random scale and translation, horizontal flip,
 *                   HSV jitter, moving the boxes with the pixels.
 *   det_loader      background threads: fetch callback -> augmentation ->
 *                   batches of (tensor, boxes), deterministic per seed.
 *   det_train_run   the training loop (AdamW/SGD, warmup + cosine, EMA,
 *                   mAP on a validation set after each epoch through
 *                   src/eval, checkpoints, resume, cancel).
 *   det_predictor   inference from any number of threads: letterbox,
 *                   forward, decode, NMS, boxes in image pixels.
 *   det_synth       the synthetic dataset: shapes and glyphs on textured and
 *                   photographic backgrounds with exact boxes,
 *                   deterministic from a seed.
 *
 * Coordinates: boxes are x, y, w, h in pixels (top-left corner), as COCO.
 * Every function returns 0 / -1 (or NULL) and fills an err.
 */
#ifndef CVOPS_DETECT_DETECT_H
#define CVOPS_DETECT_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "nn/nn.h"

/* --- limits ------------------------------------------------------------- */

#define DET_MAX_CLASSES 1000
#define DET_MAX_BOXES 1000 /* ground-truth boxes per image (more are an error) */
#define DET_LEVELS 3
#define DET_STRIDE 32     /* input sides must be multiples of this */
#define DET_MAX_SIDE 2048 /* network input side */
#define DET_FORMAT "cvops-det/1"

/* --- boxes ---------------------------------------------------------------- */

typedef struct det_box {
    float x, y, w, h; /* pixels, top-left corner */
    int cls;          /* 0-based class */
    float score;      /* predictions; 1 for ground truth */
} det_box;

/* Intersection over union of two x, y, w, h boxes (0 when either is empty). */
float det_iou(const det_box *a, const det_box *b);

/* --- architecture --------------------------------------------------------- */

typedef struct det_arch_opts {
    const char *size; /* "nano" (default) or "small" */
    int classes;      /* required, 1..DET_MAX_CLASSES */
    int in_w, in_h;   /* nominal input (default 320 x 320), multiples of 32 */
    const char *act;  /* "silu" (default), "relu", "leaky_relu" */
} det_arch_opts;

/* Writes the architecture JSON (see the top of this file). */
int det_arch(const det_arch_opts *o, sbuf *out, err *e);

/* The layout of a detector's output: 3 * (4 + classes) channels on the
 * stride-8 grid. */
typedef struct det_head {
    int classes;
    int nlevels;
    int strides[DET_LEVELS]; /* 8, 16, 32 */
} det_head;

/* Reads the layout from a model's output channels (3 * (4 + K)); fails for
 * models that are not detectors of this family. */
int det_head_of(const nn_model *m, det_head *h, err *e);

/* A new detector: the architecture built and initialised (box and class
 * convolutions start at zero, class biases at the prior log(0.01/0.99)),
 * labels set. */
nn_model *det_model_new(const det_arch_opts *o, const char *const *labels, uint64_t seed, err *e);

/* --- decoding and NMS --------------------------------------------------------- */

/* Candidate boxes of image b of the head output y (input pixels): every cell
 * whose best class probability is at least conf, with that class (or, with
 * multi_label, every class at least conf). *out is malloc'd (free it). */
int det_decode(const det_head *h, const nn_tensor *y, int b, float conf, bool multi_label,
               det_box **out, int *n, err *e);

/* Greedy NMS, per class (class_agnostic: across classes): sorts boxes by
 * descending score (ties keep their order), drops every box overlapping a
 * kept one of the same class by more than iou_thr, keeps at most max_det
 * (0: all). Works in place; returns the number kept (-1 when out of memory). */
int det_nms(det_box *boxes, int n, float iou_thr, int max_det, bool class_agnostic);

/* --- letterbox ----------------------------------------------------------------- */

/* The map from image pixels to network input pixels: x_in = x * scale + pad_x. */
typedef struct det_lb {
    float scale, pad_x, pad_y;
    int out_w, out_h;
} det_lb;

/* Fits a w x h image into out_w x out_h, aspect kept, centred. With rect,
 * out_w x out_h is only the bound: the result is the scaled image padded to
 * the next multiple of 32 on each side. */
void det_lb_fit(int w, int h, int out_w, int out_h, bool rect, det_lb *lb);
/* Resamples src (grey, RGB or RGBA) into dst (lb->out_h x out_w x 3 RGB,
 * padding grey 114), bilinear, area-averaged when shrinking. */
int det_lb_apply(const nn_image *src, const det_lb *lb, uint8_t *dst, err *e);
/* Boxes from input pixels back to image pixels, clipped to w x h. */
void det_lb_unmap(const det_lb *lb, int w, int h, det_box *boxes, int n);

/* --- augmentation ---------------------------------------------------------------- */

typedef struct det_aug {
    int out_w, out_h;          /* output (multiples of 32) */
    float mosaic;              /* probability of a 2x2 mosaic of 4 samples */
    float scale;               /* zoom uniform in [1 - scale, 1 + scale] */
    float translate;           /* shift uniform in +-translate x the output size */
    float hflip;               /* probability */
    float hsv_h, hsv_s, hsv_v; /* gains: hue +-h (fraction of the circle), s and v x [1-g, 1+g] */
    float min_side;            /* boxes narrower or lower than this after the transform are
                                  dropped (default 2 px) */
    float min_visible;         /* and those keeping less than this fraction of their
                                  transformed area inside the output (default 0.1) */
} det_aug;

/* Default training augmentation for an input size (mosaic 1, scale 0.5,
 * translate 0.1, flip 0.5, HSV 0.015 / 0.7 / 0.4). */
void det_aug_default(det_aug *a, int w, int h);

typedef struct det_src {
    nn_image img;
    const det_box *boxes;
    int n;
} det_src;

/* Augments into dst (out_h x out_w x 3 RGB) and out (at most max_out boxes,
 * in output pixels; *nout receives the count). nsrc is 1, or 4 for a
 * mosaic (the mosaic happens with probability a->mosaic when 4 are given).
 * Without randomness (scale = translate = 0, no flip, no HSV, mosaic 0)
 * the image is fitted and centred like a letterbox. Same seed, same result. */
int det_augment(const det_aug *a, const det_src *src, int nsrc, uint64_t seed, uint8_t *dst,
                det_box *out, int max_out, int *nout, err *e);

/* --- data loading -------------------------------------------------------------------- */

/* A sample as the fetch callback fills it: a decoded image (pixels in a
 * buffer from det_sample_image(), or memory of the callback's own that stays
 * valid) and its boxes, always in the array det_sample_boxes() gives. */
typedef struct det_sample {
    nn_image img;
    det_box *boxes;
    int n;
    /* owned by the loader */
    uint8_t *buf;
    size_t cap;
    int box_cap;
} det_sample;
uint8_t *det_sample_image(det_sample *s, int w, int h, int c);
det_box *det_sample_boxes(det_sample *s, int n);

/* Must be thread-safe: called from loader threads at once. */
typedef int (*det_fetch_fn)(void *ud, int64_t index, det_sample *out, err *e);

typedef struct det_loader_cfg {
    int64_t count;
    int batch;
    bool shuffle;
    bool drop_last;
    uint64_t seed;
    det_aug aug;    /* random augmentation (train) */
    bool letterbox; /* no augmentation: letterbox only (evaluation) */
    int workers;    /* default 1 */
    int prefetch;   /* default 2 */
} det_loader_cfg;

typedef struct det_batch {
    nn_tensor *x; /* n x 3 x H x W, pixel / 255 */
    int n;
    int64_t *index;     /* sample indices */
    det_box *boxes;     /* all boxes, image after image, in input pixels */
    int *first;         /* boxes of image i: [first[i], first[i+1]) */
    det_lb *lb;         /* letterbox mode: the map of each image */
    int *img_w, *img_h; /* letterbox mode: original sizes */
} det_batch;

typedef struct det_loader det_loader;
det_loader *det_loader_new(const det_loader_cfg *cfg, det_fetch_fn fetch, void *ud, err *e);
void det_loader_free(det_loader *l);
/* Starts an epoch (stopping the previous one); the mosaic probability can
 * change per epoch (turned off for the last ones). */
int det_loader_start(det_loader *l, int64_t epoch, float mosaic, err *e);
/* 1 and *b, 0 at the end of the epoch, -1 on a fetch error. */
int det_loader_next(det_loader *l, det_batch **b, err *e);
void det_loader_release(det_loader *l, det_batch *b);
int64_t det_loader_batches(const det_loader *l);

/* --- assignment and loss ----------------------------------------------------------------- */

typedef enum { DET_IOU_CIOU = 0, DET_IOU_GIOU, DET_IOU_IOU } det_iou_kind;
typedef enum { DET_CLS_BCE = 0, DET_CLS_FOCAL } det_cls_kind;

typedef struct det_loss_cfg {
    det_iou_kind iou;  /* box loss 1 - CIoU (default) or 1 - GIoU */
    det_cls_kind cls;  /* BCE (default) or quality focal loss (gamma) */
    float gamma;       /* focal (default 2) */
    float box_gain;    /* default 7.5 */
    float cls_gain;    /* default 0.5 */
    int topk;          /* assignment: candidates per box (default 10) */
    float alpha, beta; /* assignment metric score^alpha * IoU^beta (0.5, 6) */
} det_loss_cfg;

void det_loss_cfg_default(det_loss_cfg *c);

/* What the assignment gives each cell of one image. */
typedef struct det_target {
    int gt;       /* index of the assigned box, -1 for background */
    float weight; /* normalised alignment: the class target and the box weight */
} det_target;

/* Task-aligned assignment for one image. pred: the decoded boxes of every
 * cell (x1, y1, x2, y2, input pixels), scores: sigmoid class probabilities
 * (cells x K); anchors: cell centres (x, y); gts: boxes in input pixels.
 * Fills tgt[cells]. Deterministic (ties go to the lower cell index). */
int det_assign(const det_loss_cfg *c, int ncells, int classes, const float *anchors,
               const float *pred, const float *scores, const det_box *gts, int ngt, det_target *tgt,
               err *e);

typedef struct det_loss_out {
    double total, box, cls; /* total = box_gain * box + cls_gain * cls */
    int positives;          /* cells assigned to a box */
} det_loss_out;

/* Loss of a batch: decodes y (the network's output), assigns targets image
 * by image, and writes dy (same shape as y) when not NULL. */
int det_loss(const det_loss_cfg *c, const det_head *h, const nn_tensor *y, const det_box *boxes,
             const int *first, nn_tensor *dy, det_loss_out *out, err *e);

/* IoU-family loss terms of two x1, y1, x2, y2 boxes: returns the IoU,
 * GIoU or CIoU (CIoU's alpha treated as a constant, as in the reference
 * implementations) and, when grad is not NULL, its gradient with respect to
 * the first box. */
double det_iou_xyxy(det_iou_kind k, const double a[4], const double b[4], double grad[4]);

/* --- training ------------------------------------------------------------------------------ */

typedef struct det_metrics {
    double map, map50, map75; /* COCO AP @[.5:.95], @.5, @.75 */
    double ar100;
    int images;
} det_metrics;

typedef struct det_train_stats {
    int64_t epoch, step, steps_total; /* epoch is 0-based */
    int epochs;
    double loss, box_loss, cls_loss; /* means over the epoch so far */
    double lr;
    double images_per_s;
    double elapsed_s; /* training time, this run and those resumed */
    int threads;
    bool mosaic;  /* this epoch used mosaic */
    bool has_val; /* val holds this epoch's validation */
    det_metrics val;
    double val_s; /* seconds the validation took */
} det_train_stats;

typedef struct det_train_cfg {
    int epochs;
    int batch; /* default 16 */
    nn_optim_cfg optim;
    nn_sched sched;  /* total is filled in when 0 */
    float ema_decay; /* 0: none */
    uint64_t seed;
    det_aug aug;             /* training augmentation (zero: det_aug_default) */
    int close_mosaic;        /* epochs at the end without mosaic (default 0) */
    float close_mosaic_frac; /* with max_seconds: the last fraction of the time budget */
    det_loss_cfg loss;       /* zero: det_loss_cfg_default */
    int workers;
    double max_seconds;      /* time budget (0: none) */
    bool sched_by_time;      /* the schedule runs over the time budget */
    bool auto_threads;       /* as nn_train_cfg */
    int threads;             /* compute threads of the training session (0: the process's) */
    int val_every;           /* epochs between validations (default 1; the last always) */
    float val_conf, val_iou; /* validation thresholds (default 0.001, 0.7) */
    int val_max_det;         /* default 300 */
    int val_size;            /* validation input side (0: the model's input) */
    /* Checkpoints: after each epoch into ckpt_dir (NULL: none):
     *   last.safetensors        the weights to use (the EMA when there is one)
     *   best.safetensors        the best validation mAP so far
     *   state.safetensors       the raw weights, for resuming
     *   optim.safetensors       the optimizer's state
     *   state.json              epoch, step, elapsed time, best mAP
     * resume: continue from ckpt_dir's state (the next epoch). */
    const char *ckpt_dir;
    bool resume;
    const char *extra_json; /* stored in the checkpoints' metadata too (NULL: none) */
    int (*progress)(void *ud, const det_train_stats *st, bool epoch_end);
    void *progress_ud;
    int log_every; /* steps (default 20) */
} det_train_cfg;

/* Default hyper-parameters (AdamW 0.002, wd 0.05, warmup 100 steps, cosine
 * to 1%, EMA 0.999, batch 16, default augmentation for the model's input). */
void det_train_cfg_default(det_train_cfg *c, const nn_model *m);

/* Trains m. The validation source (val_count 0: none) is letterboxed; its
 * boxes are in image pixels. *final receives the last statistics. */
int det_train_run(nn_model *m, const det_train_cfg *cfg, det_fetch_fn train_fetch, void *train_ud,
                  int64_t train_count, det_fetch_fn val_fetch, void *val_ud, int64_t val_count,
                  det_train_stats *final, err *e);

/* mAP of a model on a source, letterboxed to size x size (0: the model's
 * input size; any multiple of DET_STRIDE works, as for det_predict); with
 * eval_out, the COCO evaluation itself is handed over (free it with
 * eval_coco_free) for per-class numbers and details. */
struct eval_coco;
int det_evaluate(nn_model *m, det_fetch_fn fetch, void *ud, int64_t count, int batch, float conf,
                 float iou, int max_det, int size, int workers, det_metrics *out,
                 struct eval_coco **eval_out, err *e);

/* --- inference ------------------------------------------------------------------------------ */

typedef struct det_predictor det_predictor;

typedef struct det_predict_opts {
    float conf;    /* score threshold (default 0.25) */
    float iou;     /* NMS IoU threshold (default 0.7) */
    int max_det;   /* default 300 */
    int size;      /* input side (default: the model's nominal width) */
    bool rect;     /* pad to a multiple of 32 instead of a square */
    bool agnostic; /* class-agnostic NMS */
} det_predict_opts;

/* Takes ownership of m. Thread-safe: each call borrows a session. */
det_predictor *det_predictor_new(nn_model *m, int max_sessions, err *e);
det_predictor *det_predictor_open(const char *path, int max_sessions, err *e);
void det_predictor_free(det_predictor *p);
const nn_model *det_predictor_model(const det_predictor *p);
/* Detections in image pixels, best first; *out is malloc'd (free it). */
int det_predict(det_predictor *p, const nn_image *img, const det_predict_opts *o, det_box **out,
                int *n, err *e);

/* --- drawing ---------------------------------------------------------------------------------- */

/* Draws boxes with their label and score onto an RGB image, in place. */
void det_draw(uint8_t *rgb, int w, int h, size_t stride, const det_box *boxes, int n,
              const char *const *labels, int nlabels);
/* A stroke font for drawing text (digits, capitals, lower case drawn as
 * capitals, a few signs): draws s at (x, y) (top-left), glyph height px. */
void det_draw_text(uint8_t *rgb, int w, int h, size_t stride, int x, int y, int px, const char *s,
                   const uint8_t color[3]);

/* --- datasets on disk ----------------------------------------------------------------------------
 */

/* A COCO file and its image folder loaded for training (boxes in memory,
 * images decoded on fetch). Categories become classes 0..K-1 in id order. */
typedef struct det_dataset det_dataset;
det_dataset *det_dataset_open_coco(const char *json_path, const char *images_dir, err *e);
void det_dataset_free(det_dataset *d);
int64_t det_dataset_count(const det_dataset *d);
int det_dataset_classes(const det_dataset *d, const char *const **names);
int det_dataset_fetch(void *d, int64_t index, det_sample *out, err *e); /* a det_fetch_fn */
/* Image index i: id, file name, size, boxes (borrowed). */
void det_dataset_image(const det_dataset *d, int64_t i, int64_t *id, const char **file, int *w,
                       int *h, const det_box **boxes, int *n);

/* --- the synthetic dataset ---------------------------------------------------------------------
 */

#define DET_SYNTH_CLASSES 8

/* The class names: circle, triangle, square, star, cross, ring, letter-A,
 * digit-5 (the first `classes` of them are used). */
extern const char *const det_synth_class_names[DET_SYNTH_CLASSES];

typedef struct det_synth_opts {
    int w, h;                     /* default 320 x 320 */
    int classes;                  /* 1..DET_SYNTH_CLASSES (default 8) */
    int min_objects, max_objects; /* per image (default 1..8) */
    float min_side, max_side;     /* object size in px (default 16..112) */
    const char *photos_dir;       /* JPEG backgrounds (default /usr/share/darknet/data; NULL or
                                     missing: procedural textures only) */
    int quality;                  /* JPEG quality (default 90) */
} det_synth_opts;

typedef struct det_synth det_synth;

/* Loads the background photos once; then det_synth_image may be called
 * from many threads. */
det_synth *det_synth_new(const det_synth_opts *o, err *e);
void det_synth_free(det_synth *s);
/* Image `index` of the set seeded by `seed`: w x h x 3 RGB pixels into rgb
 * (w * 3 bytes per row) and its boxes (at most max_boxes). A pure function
 * of (options, photos, seed, index). */
int det_synth_image(const det_synth *s, uint64_t seed, int64_t index, uint8_t *rgb, det_box *boxes,
                    int max_boxes, int *nboxes, err *e);

/* Writes n images (JPEG) under out_dir/images/ and out_dir/annotations.json
 * (COCO, through src/formats) with file names <prefix>NNNNNN.jpg;
 * threads > 1 generate in parallel, the bytes do not depend on it. */
int det_synth_write(const det_synth *s, uint64_t seed, int64_t n, const char *out_dir,
                    const char *prefix, int threads, err *e);


/* --- serving: checkpoints from files, encoded images (serve.c) -------------------------------- */

/* Opens a checkpoint only if its metadata says it is a detector
 * ("detector": {"format": "cvops-det/1"}); anything else answers
 * ERR_UNSUPPORTED ("not a detector checkpoint ..."), so a caller can try it
 * as a classifier instead. */
det_predictor *det_predictor_load(const char *path, int max_sessions, err *e);
/* Compute threads of each session (0: nn_init's count), for sessions made
 * from now on and the idle ones; a server running many requests at once
 * gives each one thread and as many sessions as cores. */
void det_predictor_set_threads(det_predictor *p, int threads);
/* The name of class k (NULL when the checkpoint has none). */
const char *det_predictor_label(const det_predictor *p, int k);
int det_predictor_classes(const det_predictor *p);
/* Decodes an encoded image (JPEG, PNG, ... through src/image, oriented as
 * displayed; a JPEG is decoded straight at the smallest DCT-scaled size
 * still covering the network input) and predicts: boxes in the original
 * image's pixels, clipped to it (those left without area dropped);
 * *img_w, *img_h get its size. max_pixels: the decoder's limit (0: its
 * default). Image problems answer
 * ERR_UNSUPPORTED / ERR_UNPROCESSABLE / ERR_TOO_LARGE as the decoder does. */
int det_predict_encoded(det_predictor *p, const void *bytes, size_t n, const det_predict_opts *o,
                        uint64_t max_pixels, det_box **out, int *nout, int *img_w, int *img_h,
                        err *e);

#endif
