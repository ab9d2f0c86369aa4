/*
 * training.h - training launched from experiments, on the platform's own
 * trainer (the nn engine), and the models it produces put to work.
 *
 * A launch turns an experiment into a training run:
 *
 *   POST /experiments/{id}/launch {params}
 *     -> training_run row (state queued) + job "training.run"
 *     -> experiment queued -> running -> succeeded | failed | canceled
 *
 * The job reads the experiment's dataset versions under the aliases train,
 * val and test (an alias missing falls back to the train version; inside a
 * version, the assets tagged with the alias's name are that split, or all
 * assets when the version serves that alias alone), the class of each
 * asset from its current annotation's class shape, and the class list from
 * the train version's labels. Images come from the datalake's blobs and are
 * decoded at the model's input size (DCT-scaled JPEG); decoded images are
 * kept in memory while they fit a budget, so later epochs do not decode.
 *
 * Everything the run produces goes to the experiment: metric points
 * through the experiment module's committer (train/loss, train/acc, lr per
 * step; val/loss, val/acc, train/epoch_loss, train/epoch_acc per epoch),
 * a confusion matrix log per epoch (val/confusion_matrix), output lines,
 * checkpoints as artifacts (checkpoints/last.safetensors with its optimizer
 * state in checkpoints/last.optim.safetensors, checkpoints/best.safetensors,
 * and model.safetensors at the end), and a final evaluation on test (or val)
 * through the evaluation engine (eval/... metrics and logs, and
 * evaluation/<split>.json).
 *
 * Cancel is the job's cancel (POST /experiments/{id}/cancel); the loop
 * checks job_should_stop() after every step. A relaunch with resume: true
 * continues from checkpoints/last.* at the epoch it ended; a job taken over
 * after a worker died (or released at shutdown) resumes the same way.
 *
 * Inference: training_model_acquire() gives a predictor of a registry model
 * version (a cvops checkpoint among its files), loaded once per process and
 * shared by every caller until evicted.
 */
#ifndef CVOPS_TRAINING_TRAINING_H
#define CVOPS_TRAINING_TRAINING_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "jobs/jobs.h"
#include "nn/nn.h"
#include "store/blob.h"
#include "store/db.h"

struct exp_committer;

/* --- limits and defaults ------------------------------------------------- */
#define TRAIN_MAX_EPOCHS 1000
#define TRAIN_MAX_BATCH 4096
#define TRAIN_MAX_INPUT 1024          /* input side in pixels */
#define TRAIN_MAX_CLASSES 10000
#define TRAIN_MAX_ITEMS 5000000       /* images of one split */
#define TRAIN_DEFAULT_CACHE_MB 1024   /* decoded images kept in memory */
#define TRAIN_JOB_ATTEMPTS 3          /* a dead worker's run is taken over (and resumed) */
#define TRAIN_MODEL_SESSIONS 4        /* concurrent inferences per predictor */

/* --- the parameters of a run -------------------------------------------- */

typedef struct training_aug {
    bool hflip, vflip;
    double pad, rotate, crop, brightness, contrast, saturation;
} training_aug;

typedef struct training_cfg {
    char arch[16];        /* cnn, resnet, mobilenet, or custom (arch_json) */
    char *arch_json;      /* custom architecture (owned), NULL for a family */
    int depth;            /* 0: the family's default */
    double width;         /* width multiplier (1) */
    char stem[16];        /* resnet/mobilenet stem; "" = by input size */
    char act[16];         /* relu (default), silu, leaky_relu */
    double dropout;
    int input_size;       /* 0: from the data (largest side, 16..224) */
    int channels;         /* 0: from the data (1 when every image is gray) */
    int epochs, batch_size;
    char optimizer[8];    /* adamw (default), sgd */
    double lr, weight_decay, momentum; /* < 0: the optimizer's default */
    bool nesterov;
    char schedule[12];    /* cosine (default), step, constant */
    int64_t warmup_steps;
    double label_smoothing, ema, clip_norm;
    training_aug aug;
    int64_t seed;
    bool resume;          /* continue from checkpoints/last.* */
    int64_t base_model;   /* registry model version whose weights start the run (0: none) */
    double max_seconds;   /* stop training after this long (0: no limit) */
    double time_budget;   /* train this long with the schedule spread over the time
                             (warmup stays in steps); epochs is then an upper bound */
    int threads;          /* compute threads (0: the process's) */
    bool auto_threads;    /* each epoch, keep N threads or 1, whichever is faster */
    int loader_workers;   /* image decoding threads (2) */
    int log_every;        /* steps between metric points (1) */
    int64_t cache_mb;     /* memory for decoded images */
    /* object detection (architecture detector-nano | detector-small) */
    char task[16];        /* "" (from the train version), classification, detection */
    double score_thr;     /* final predictions: score threshold (0.25) */
    double nms_iou;       /* NMS IoU threshold (0.7) */
    double mosaic;        /* probability of a 4-image mosaic (1) */
    int close_mosaic;     /* last epochs without mosaic (-1: 15% of the epochs) */
    int val_input_size;   /* validate, evaluate and serve at this side (0: input_size) */
} training_cfg;

/* Does the configuration train a detector (task detection or a detector
 * architecture)? */
bool training_cfg_is_detection(const training_cfg *c);

void training_cfg_init(training_cfg *c);
void training_cfg_free(training_cfg *c);
/* Applies the fields of a launch body (or of a stored config) over c;
 * unknown fields and bad values are errors naming the field. */
int training_cfg_apply(training_cfg *c, json_t *doc, err *e);
/* Applies an experiment's parameters (flat names, "augmentation.hflip")
 * that are launch fields; others are ignored, bad values are errors. */
int training_cfg_apply_params(training_cfg *c, json_t *params, err *e);
/* Fills what depends on other fields (the optimizer's learning rate and
 * weight decay) once the launch body has been applied. */
void training_cfg_resolve(training_cfg *c);
/* The whole configuration as one JSON object (stored with the run). */
json_t *training_cfg_json(const training_cfg *c);
/* The configuration as flat experiment parameters. */
json_t *training_cfg_params(const training_cfg *c);
/* The architecture to build for `classes` classes, channels and input
 * size resolved, normalised with mean/std. Malloc'd JSON text. */
char *training_cfg_arch(const training_cfg *c, int classes, const float mean[4],
                        const float std[4], err *e);

/* --- runs (rules + storage) ---------------------------------------------- */

/* Checks the experiment (its status, its train dataset), records a run,
 * sets the experiment's parameters and status (queued) and queues the
 * job. A canceled or failed experiment is reopened; a queued or running
 * one is ERR_CONFLICT. */
int training_launch(db_conn *c, int64_t org, int64_t user, int64_t experiment, json_t *body,
                    int64_t *run_id, int64_t *job_id, err *e);
/* Cancels the experiment's current run: at once when its job is queued,
 * else the job is asked to stop after its current step. */
int training_cancel(db_conn *c, int64_t org, int64_t experiment, err *e);
/* {"current": run | null, "runs": [...]} for the experiment. */
int training_write(db_conn *c, int64_t org, int64_t experiment, jw *w, err *e);
/* Moves a run (and its experiment) to a state; for the job. */
int training_run_state(db_conn *c, int64_t run, const char *state, const char *message, err *e);

/* --- the job ------------------------------------------------------------- */

typedef struct training_env {
    db *db;
    blob_store *blobs;
    const char *spool_dir;           /* temporary files (checkpoints) */
    struct exp_committer *committer; /* NULL: metric batches in their own transaction */
    void *app;                       /* for webhook pokes */
    void (*poke)(void *app);         /* wake the job runner (webhook deliveries) */
} training_env;

int training_job_run(job_ctx *j, const training_env *env, err *e);

/* --- sample data: Fashion-MNIST ----------------------------------------- */

#define TRAIN_FMNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct training_sample_opts {
    const char *dataset;    /* "fashion-mnist" */
    const char *project;    /* "getting-started" */
    int64_t train, val, test; /* images per split (2400, 300, 300) */
} training_sample_opts;

/* Queues the job that writes the images into the datalake, creates the
 * dataset version with labels, annotations and splits, and a project with
 * an experiment ready to launch. */
int training_sample_submit(db_conn *c, int64_t org, int64_t user, const training_sample_opts *o,
                           int64_t *job, err *e);
int training_sample_run(job_ctx *j, const training_env *env, err *e);

/* --- sample data: shapes (object detection) ----------------------------- */

typedef struct training_sample_det_opts {
    const char *dataset;  /* "shapes" */
    const char *project;  /* "getting-started" */
    int64_t images;       /* 200 (80% train, 10% val, 10% test) */
    int64_t size;         /* image side, a multiple of 32 (256) */
    int64_t seed;         /* 1 */
} training_sample_det_opts;

/* Queues the job that draws the synthetic detection images (src/detect's
 * generator) into the datalake, creates the dataset version (task
 * detection) with labels, box annotations and splits, and an experiment
 * ready to launch. ERR_CONFLICT when the dataset exists. */
int training_sample_det_submit(db_conn *c, int64_t org, int64_t user,
                               const training_sample_det_opts *o, int64_t *job, err *e);
int training_sample_det_run(job_ctx *j, const training_env *env, err *e);

/* --- models for inference ------------------------------------------------ */

typedef struct training_model training_model;

/* A predictor of a registry model version, loaded from its cvops checkpoint
 * (model.safetensors, else checkpoints/best.safetensors, else
 * checkpoints/last.safetensors) once per process and kept for later callers
 * (registry/model_cache.h: at most REG_MODEL_CACHE_SLOTS versions; the least
 * recently used goes).
 * Release it when done; it stays valid until then. */
int training_model_acquire(db_conn *c, blob_store *bs, const char *spool_dir, int64_t org,
                           int64_t version, training_model **out, err *e);
void training_model_release(training_model *m);
/* Writes the cvops checkpoint of a registry model version (the file
 * training_model_acquire would load) to `path`: the weights a run started
 * from a base model begins with. */
int training_model_fetch(db_conn *c, blob_store *bs, int64_t org, int64_t version,
                         const char *path, err *e);
nn_predictor *training_model_predictor(training_model *m);
/* Drops every cached predictor not in use (tests, shutdown). */
void training_models_clear(void);

typedef struct training_class {
    const char *label; /* borrowed from the model, or `fallback` ("class N") */
    char fallback[24];
    float score;
} training_class;

/* Decodes an encoded image at the model's input size and channels and
 * predicts its k best classes (k <= 8). */
int training_predict_image(nn_predictor *p, const void *bytes, size_t n, int k,
                           training_class *out, int *nout, err *e);

extern const char training_schema_v35[];

#endif
