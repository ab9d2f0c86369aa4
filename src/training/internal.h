/*
 * internal.h - what the files of src/training/ share. Not for use outside
 * the module.
 *
 *   data.c    the splits of a run: items (blob, class) read from the
 *             dataset tables, the loader's fetch callback, the decoded
 *             image cache
 *   log.c     what a run writes to its experiment: buffered metric points
 *             through the committer, logs, output lines, artifacts
 *   loop.c    the training loop (epochs, checkpoints, resume, validation
 *             with a confusion matrix)
 *   job.c     the job: statuses, resume, the final evaluation
 */
#ifndef CVOPS_TRAINING_INTERNAL_H
#define CVOPS_TRAINING_INTERNAL_H

#include <stdatomic.h>

#include "detect/detect.h"
#include "experiment/experiment.h"
#include "training/training.h"

/* --- data ---------------------------------------------------------------- */

typedef struct train_item {
    int64_t asset;
    char sha[65];
    int label;        /* class index (detection: -1) */
    int w, h;         /* as displayed */
    int64_t first;    /* detection: its boxes are split->boxes[first, first + nbox) */
    int nbox;
} train_item;

typedef struct train_img {
    int w, h, c;
    size_t stride;
    uint8_t px[];
} train_img;

struct train_data;

typedef struct train_split {
    const char *name;          /* "train", "val", "test" */
    int64_t version;           /* 0: none */
    bool tagged;               /* the assets tagged with the name (else every asset) */
    train_item *items;
    int64_t n, cap;
    int64_t unlabeled;         /* assets without a class shape (left out) */
    int64_t unknown;           /* assets whose class is not a train label (left out) */
    _Atomic(train_img *) *cache;
    struct train_data *data;
    det_box *boxes;            /* detection: every item's boxes (asset pixels) */
    int64_t nboxes, boxcap;
    int64_t unknown_boxes;     /* detection: boxes whose label the train version lacks */
} train_split;

typedef struct train_data {
    bool detection;            /* set before train_data_load: boxes, not classes */
    blob_store *bs;
    char **classes;            /* the train version's label names, in id order */
    int nclasses;
    train_split train, val, test;
    bool all_gray;             /* every train image has one channel */
    int max_side;              /* largest side among the train images */
    int in_c, in_side;         /* what fetch decodes to */
    _Atomic int64_t cache_bytes;
    int64_t cache_budget;
} train_data;

/* Resolves the aliases (see training.h) and reads the items of each split.
 * ERR_UNPROCESSABLE with a message saying what to fix when there is no
 * train version, no labels, or no labelled train image. */
int train_data_load(db_conn *c, int64_t org, json_t *datasets, blob_store *bs, train_data *d,
                    err *e);
void train_data_input(train_data *d, int channels, int side, int64_t cache_mb);
void train_data_free(train_data *d);
/* An nn_fetch_fn over a train_split. */
int train_data_fetch(void *split, int64_t i, nn_sample *out, err *e);
/* A det_fetch_fn over a train_split of a detection run: the image (RGB,
 * its longest side brought down to the input side when larger) and its
 * boxes in that image's pixels. */
int train_data_det_fetch(void *split, int64_t i, det_sample *out, err *e);

/* Per-channel mean and standard deviation of [0,1] pixels of up to 512
 * train images (evenly spaced). */
int train_data_norm(train_data *d, float mean[4], float std[4], err *e);

/* --- what a run writes --------------------------------------------------- */

#define TLOG_MAX_SERIES 64

typedef struct tlog {
    const training_env *env;
    int64_t org, experiment, run;
    char *names[TLOG_MAX_SERIES];
    int nnames;
    exp_batch_point *pts;
    size_t n, cap;
    int64_t flushed_ns;
    int hooks; /* webhook deliveries queued (poke the runner) */
} tlog;

void tlog_init(tlog *t, const training_env *env, int64_t org, int64_t experiment, int64_t run);
void tlog_free(tlog *t);
/* Buffers a point; writes the buffer when it is 2 s old or large. */
int tlog_metric(tlog *t, const char *name, int64_t step, double value, err *e);
int tlog_flush(tlog *t, err *e);
void tlog_output(tlog *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A log record: body {"name", "kind", "step"?, "data"}; stolen. */
int tlog_record(tlog *t, json_t *body, err *e);
/* Stores a local file as the experiment's artifact `path`; *sha (if not
 * NULL) receives its SHA-256 and *size its size. */
int tlog_artifact_file(tlog *t, const char *file, const char *path, char *sha, int64_t *size,
                       err *e);
/* The same content under another path (no upload). */
int tlog_artifact_ref(tlog *t, const char *sha, int64_t size, const char *path, err *e);
/* Copies artifact `path` of the experiment into a local file: 0, or -1
 * with ERR_NOT_FOUND when there is no such artifact. */
int tlog_artifact_fetch(tlog *t, const char *path, const char *file, err *e);
/* Updates the run's live columns (epoch, step, loss, ...). */
void tlog_run_progress(tlog *t, int epoch, int64_t step, int64_t steps_total, double loss,
                       double images_per_s, double val_acc, double best_val_acc);

/* --- the loop ------------------------------------------------------------ */

typedef struct train_ctx {
    job_ctx *job;
    const training_env *env;
    training_cfg cfg;
    train_data data;
    tlog log;
    nn_model *model;
    char spool[1024];
    char tmp_prefix[1100];          /* spool/train-<run>-<random> */
    int start_epoch;                /* epochs already done (resume) */
    int64_t start_step;
    double start_seconds;           /* training time before this run (resume) */
    double best_val_acc;            /* -1: none yet */
    char optim_file[1200];          /* optimizer state to load, or "" */
    char best_file[1200];           /* the best checkpoint so far, locally, or "" */
    /* results */
    int epochs_done;
    int64_t steps_done;
    bool stopped;                   /* job_should_stop() ended it */
    bool timed_out;                 /* max_seconds ended it */
    double last_val_acc, last_loss, train_seconds, images_per_s;
    /* detection */
    bool detection;
    char det_dir[1200];             /* the detector's checkpoint directory ("" when none) */
    int64_t user;                   /* who launched the run */
    int64_t eval_id;                /* the final evaluation */
} train_ctx;

/* The samples' image loop: item(ctx, i, c, e) for every i in [0, n), on
 * `threads` threads, each with its own database connection (thread k takes
 * k, k + threads, ...). Reports "I of N images" as progress up to 0.9 and
 * stops at the job's cancel or the first failure, whose error it returns. */
typedef int (*sample_item_fn)(void *ctx, int64_t i, db_conn *c, err *e);
int sample_parallel(job_ctx *j, const training_env *env, int threads, int64_t n,
                    sample_item_fn item, void *ctx, err *e);

int train_loop(train_ctx *t, err *e);

/* --- detection (det.c) --------------------------------------------------------- */

/* The detector: new, or resumed from the experiment's checkpoints. */
int train_det_prepare(train_ctx *t, err *e);
/* The loop (src/detect's det_train_run) with metrics, checkpoints as
 * artifacts, cancel. */
int train_det_loop(train_ctx *t, err *e);
/* model.safetensors, model.json and the final evaluation on test (else
 * val) stored as an experiment evaluation. */
int train_det_finish(train_ctx *t, err *e);
void train_det_cleanup(train_ctx *t);

/* Softmax of each row of logits (N x K) into probs. */
void train_softmax(const nn_tensor *logits, float *probs);

#endif
