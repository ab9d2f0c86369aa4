/*
 * nn.h - the neural-network engine: train and run image classifiers on the
 * CPU with oneDNN (convolutions, pooling, activations), OpenBLAS (fully
 * connected layers, convolutions on tiny maps) and our own kernels (batch
 * normalisation, Winograd convolutions, element-wise layers).
 *
 * The pieces, from the bottom up:
 *
 *   nn_init       process setup: one oneDNN engine, the thread count of
 *                 OpenMP (oneDNN, our loops; OpenBLAS runs one thread per
 *                 OpenMP thread). Call once, from main.
 *   nn_tensor     a plain NCHW float32 buffer; what crosses the API.
 *   nn_model      an architecture (a graph of named nodes, described as JSON,
 *                 see docs/nn.md) plus its parameters. Built-in families
 *                 (small CNN, ResNet-like, MobileNet-like) are generated as
 *                 the same JSON by nn_arch_builtin().
 *   nn_session    runs a model: forward and backward passes. It caches a
 *                 "plan" per input shape (oneDNN primitives, buffers in
 *                 blocked layouts) so every step after the first only
 *                 executes. A session is used by one thread at a time.
 *   losses        softmax cross-entropy (label smoothing), binary
 *                 cross-entropy with logits, sigmoid focal loss.
 *   nn_optim      SGD (momentum, Nesterov) and AdamW, weight decay,
 *                 global-norm clipping; nn_lr_at() for warmup + cosine/step
 *                 schedules; nn_ema for an exponential moving average.
 *   checkpoints   safetensors files; the architecture and labels travel in
 *                 the header's __metadata__.
 *   augmentation  deterministic (seeded per sample) crop, flip, rotation,
 *                 colour jitter and normalisation from uint8 images.
 *   nn_loader     background threads that fetch samples through a callback,
 *                 augment them and hand out ready batches.
 *   nn_train_run  the training loop the CLI and the platform's jobs use.
 *   nn_predictor  inference: load once, predict from any number of threads.
 *
 * Errors are values (base/err.h); nothing here prints or exits. Memory is
 * bounded by the model and the batch shape: a session keeps at most
 * NN_MAX_PLANS plans, the loader at most `prefetch` batches.
 */
#ifndef CVOPS_NN_NN_H
#define CVOPS_NN_NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

/* --- limits ------------------------------------------------------------- */

#define NN_NAME_MAX 64            /* node names, bytes including the NUL */
#define NN_MAX_NODES 2048         /* nodes in one architecture */
#define NN_MAX_INPUTS 8           /* inputs of one add/concat node */
#define NN_MAX_PLANS 4            /* input shapes cached per session */
#define NN_MAX_CLASSES 100000
#define NN_MAX_DIM 16384          /* any spatial size or channel count */
#define NN_MAX_ARCH_BYTES (1 << 20)
#define NN_MAX_HEADER_BYTES (64 << 20) /* safetensors JSON header */

/* --- process setup ------------------------------------------------------ */

/* Creates the oneDNN CPU engine and sets the number of compute threads
 * (OpenMP, used by oneDNN and our kernels; OpenBLAS is set to one thread and
 * large GEMMs are split over the OpenMP threads). threads <= 0 means one per
 * core. Calling again only changes the thread count. */
int nn_init(int threads, err *e);
int nn_threads(void);
/* Inference convolutions (3x3, stride 1) use our Winograd kernels where
 * the CPU has AVX2 (default on); off makes them oneDNN's direct ones. */
void nn_set_winograd(bool on);
/* Their F(2x2) layers (small maps: the last ResNet stage at batch 1) keep
 * the transformed weights as half floats (F16C; products and sums stay
 * float32): half the memory traffic that bounds those layers, for outputs
 * ~4e-4 of their largest value off the float32 ones. F(4x4) layers keep
 * float32. Default on; off keeps float32 everywhere. Sessions built
 * afterwards follow the setting. */
void nn_set_half_weights(bool on);
/* Where the CPU has AVX-512, the Winograd GEMMs use it (default on); off
 * keeps them on AVX2 (tests and benchmarks compare the two). */
void nn_set_avx512(bool on);
/* Releases the engine (tests, tools; the process may also just exit). */
void nn_shutdown(void);

/* --- tensors ------------------------------------------------------------ */

/* A dense NCHW float32 tensor that owns its data (64-byte aligned). */
typedef struct nn_tensor {
    int n, c, h, w;
    float *data;
} nn_tensor;

nn_tensor *nn_tensor_new(int n, int c, int h, int w); /* zeroed; NULL if out of memory */
void nn_tensor_free(nn_tensor *t);
static inline size_t nn_tensor_numel(const nn_tensor *t)
{
    return (size_t)t->n * (size_t)t->c * (size_t)t->h * (size_t)t->w;
}
static inline float *nn_tensor_at(const nn_tensor *t, int n, int c, int h, int w)
{
    return t->data + (((size_t)n * (size_t)t->c + (size_t)c) * (size_t)t->h + (size_t)h) *
                         (size_t)t->w + (size_t)w;
}

/* --- architectures and models ------------------------------------------- */

/* Knobs of the built-in families. Zero fields take the defaults noted. */
typedef struct nn_arch_opts {
    int in_c, in_h, in_w;  /* input (default 3 x 224 x 224); any size works at run time */
    int classes;           /* default 10 */
    float width;           /* width multiplier (default 1) */
    int depth;             /* resnet: 10, 18 (default), 34; cnn: stages (default 3);
                              mobilenet: blocks per stage multiplier x4 (default 4) */
    const char *stem;      /* resnet: "imagenet" (7x7/2 + maxpool, default) or "small"
                              (3x3/1, for 28-64 px inputs) */
    const char *act;       /* "relu" (default), "silu", "leaky_relu" */
    float dropout;         /* before the classifier (default 0) */
    float mean[4], std[4]; /* input normalisation recorded in the architecture
                              (default 0.5 / 0.25 for every channel) */
} nn_arch_opts;

/* Writes the JSON architecture of a built-in family: "cnn", "resnet",
 * "mobilenet". */
int nn_arch_builtin(const char *family, const nn_arch_opts *o, sbuf *out, err *e);

typedef struct nn_model nn_model;

/* Builds a model from an architecture (JSON text, see docs/nn.md) and
 * initialises its parameters (Kaiming for convolutions, Xavier-uniform for
 * linear layers unless the node says otherwise) from `seed`. */
nn_model *nn_model_new(const char *arch_json, uint64_t seed, err *e);
void nn_model_free(nn_model *m);
const char *nn_model_arch(const nn_model *m); /* the architecture, as JSON */
void nn_model_input(const nn_model *m, int *c, int *h, int *w);
/* Sets the input size the architecture declares (and its JSON, so a saved
 * model keeps it): the default size of predictions. Parameters and plans
 * are untouched, any size already works at run time. */
int nn_model_set_input_size(nn_model *m, int h, int w, err *e);
int nn_model_classes(const nn_model *m);      /* channels of the output node */
/* Normalisation the model expects: x = (pixel/255 - mean[c]) / std[c]. */
void nn_model_norm(const nn_model *m, float mean[4], float std[4]);
size_t nn_model_param_count(const nn_model *m); /* trainable scalars */
/* Class names (optional); copied. */
int nn_model_set_labels(nn_model *m, const char *const *labels, int n, err *e);
const char *nn_model_label(const nn_model *m, int i); /* NULL when unnamed */

/* Parameters by name ("<node>.weight", "<node>.bias", "<node>.running_mean",
 * "<node>.running_var"), read and written in the plain PyTorch layout
 * (out, in/groups, kh, kw). n is the number of floats. */
int nn_model_param_names(const nn_model *m, const char ***names, int *count);
size_t nn_model_param_numel(const nn_model *m, const char *name); /* 0: no such parameter */
int nn_model_param_get(const nn_model *m, const char *name, float *out, size_t n, err *e);
int nn_model_param_set(nn_model *m, const char *name, const float *in, size_t n, err *e);

/* --- checkpoints (safetensors) ------------------------------------------ */

/* Saves parameters and running statistics as F32 tensors in the plain
 * layout; __metadata__ holds "format", "arch" (the JSON), "labels" (a JSON
 * array) and, if given, "extra" (any JSON text). Written to a temporary
 * file and renamed, so a reader never sees half a file. */
int nn_model_save(const nn_model *m, const char *path, const char *extra_json, err *e);
/* Loads a model saved by nn_model_save; *extra_json (if not NULL) receives
 * a malloc'd copy of the "extra" metadata or NULL. */
nn_model *nn_model_load(const char *path, char **extra_json, err *e);

/* --- sessions: forward and backward ------------------------------------- */

typedef struct nn_session nn_session;

/* The model is borrowed and must outlive the session. A training session
 * may change the memory layout of the parameters (to the one the
 * convolutions prefer); other sessions only read them. */
nn_session *nn_session_new(nn_model *m, err *e);
void nn_session_free(nn_session *s);

/* Runs the model on x (N x C x H x W, already normalised). train selects
 * batch statistics and dropout (and keeps what the backward pass needs).
 * The result is owned by the session and valid until the next call. */
const nn_tensor *nn_forward(nn_session *s, const nn_tensor *x, bool train, err *e);
/* Backward pass of the last training forward: dy is the gradient of the
 * loss with respect to its output. Overwrites every parameter gradient. */
int nn_backward(nn_session *s, const nn_tensor *dy, err *e);
/* Seeds the dropout masks of this session. */
void nn_session_seed(nn_session *s, uint64_t seed);
/* Compute threads of this session (0: nn_init's count). Changing it drops
 * the session's plans (rebuilt on the next pass). */
void nn_session_set_threads(nn_session *s, int threads);
int nn_session_threads(const nn_session *s);
/* Times every node of every pass from now on (waits after each node, so a
 * little slower); nn_session_profile_report writes a table, slowest first. */
int nn_session_profile(nn_session *s, bool on, err *e);
void nn_session_profile_report(const nn_session *s, sbuf *out);

/* --- losses --------------------------------------------------------------
 * logits: N x K (x 1 x 1). All return the mean loss over the batch in *loss
 * and, when dlogits is not NULL (same shape as logits), its gradient. */

/* labels[i] in [0, K). smoothing in [0, 1): targets (1-s)*onehot + s/K. */
int nn_loss_softmax_ce(const nn_tensor *logits, const int *labels, float smoothing,
                       nn_tensor *dlogits, double *loss, err *e);
/* targets: N x K values in [0, 1]. Mean over N of the sum over K. */
int nn_loss_bce_logits(const nn_tensor *logits, const float *targets, nn_tensor *dlogits,
                       double *loss, err *e);
/* Sigmoid focal loss (Lin et al. 2017): -a_t (1-p_t)^gamma log(p_t), summed
 * over K, mean over N. alpha < 0 disables the class weighting. */
int nn_loss_focal(const nn_tensor *logits, const float *targets, float alpha, float gamma,
                  nn_tensor *dlogits, double *loss, err *e);
/* Index of the largest logit of each row into pred[N]. */
void nn_argmax(const nn_tensor *logits, int *pred);

/* --- optimisation ------------------------------------------------------- */

typedef enum { NN_SGD, NN_ADAMW } nn_optim_kind;

typedef struct nn_optim_cfg {
    nn_optim_kind kind;
    float momentum;      /* SGD (e.g. 0.9) */
    bool nesterov;       /* SGD */
    float beta1, beta2;  /* AdamW (default 0.9, 0.999) */
    float eps;           /* AdamW (default 1e-8) */
    float weight_decay;  /* SGD: L2 added to the gradient; AdamW: decoupled. Applied
                            to weights only, not to biases and normalisation */
    float clip_norm;     /* > 0: scale gradients so their global L2 norm is at most this */
} nn_optim_cfg;

typedef struct nn_optim nn_optim;

nn_optim *nn_optim_new(nn_model *m, const nn_optim_cfg *cfg, err *e);
void nn_optim_free(nn_optim *o);
/* One update with learning rate lr from the gradients of the last backward.
 * *grad_norm (if not NULL) receives the norm before clipping. */
int nn_optim_step(nn_optim *o, float lr, double *grad_norm, err *e);
int64_t nn_optim_steps(const nn_optim *o);
/* Optimizer state (moments, step count) as a second safetensors file. */
int nn_optim_save(const nn_optim *o, const char *path, err *e);
int nn_optim_load(nn_optim *o, const char *path, err *e);

typedef enum { NN_SCHED_CONST, NN_SCHED_COSINE, NN_SCHED_STEP } nn_sched_kind;

typedef struct nn_sched {
    nn_sched_kind kind;
    float lr;            /* peak learning rate */
    int64_t warmup;      /* steps of linear warmup from warmup_from * lr */
    float warmup_from;   /* default 0 */
    int64_t total;       /* cosine: steps to reach min_lr */
    float min_lr;        /* cosine floor */
    int64_t step_size;   /* step: multiply by gamma every step_size steps */
    float gamma;
} nn_sched;

/* Learning rate at a step (0-based). Pure. */
float nn_lr_at(const nn_sched *s, int64_t step);

/* Exponential moving average of every parameter and running statistic:
 * avg = d * avg + (1 - d) * w, with d = min(decay, (1+t)/(10+t)). */
typedef struct nn_ema nn_ema;
nn_ema *nn_ema_new(nn_model *m, float decay, err *e);
void nn_ema_free(nn_ema *a);
void nn_ema_update(nn_ema *a);
/* Exchanges the model's weights with the averages (call twice to undo). */
void nn_ema_swap(nn_ema *a);

/* --- images and augmentation -------------------------------------------- */

/* A borrowed 8-bit image, interleaved channels (1 gray, 3 RGB, 4 RGBA). */
typedef struct nn_image {
    int w, h, c;
    size_t stride; /* bytes per row */
    const uint8_t *data;
} nn_image;

/* xoshiro256** seeded by splitmix64: small, fast, reproducible everywhere. */
typedef struct nn_rng {
    uint64_t s[4];
} nn_rng;
void nn_rng_seed(nn_rng *r, uint64_t seed);
uint64_t nn_rng_next(nn_rng *r);
float nn_rng_uniform(nn_rng *r);   /* [0, 1) */
double nn_rng_normal(nn_rng *r);   /* mean 0, sd 1 */
/* A seed for sample i of epoch `epoch` under run seed `seed`. */
uint64_t nn_sample_seed(uint64_t seed, int64_t epoch, int64_t i);

typedef struct nn_aug {
    int out_w, out_h, out_c;     /* output size and channels (1 or 3) */
    /* random resized crop: area fraction in [scale_min, scale_max], aspect
     * ratio in [ratio_min, ratio_max] (log-uniform); scale_min == 0 means a
     * plain resize of the whole image (evaluation). */
    float scale_min, scale_max, ratio_min, ratio_max;
    float pad;                   /* random translation up to pad px (output scale) */
    bool hflip, vflip;           /* each with probability 1/2 */
    float rotate_deg;            /* uniform in [-r, r] */
    float brightness, contrast, saturation; /* jitter factors in [1-x, 1+x] */
    float mean[4], std[4];       /* normalisation of [0,1] values */
} nn_aug;

/* One sampling pass (crop, flip, rotation composed into one affine map,
 * bilinear), then jitter and normalisation, into dst (out_c x out_h x out_w
 * floats, CHW). Same seed, same output. */
int nn_augment(const nn_aug *a, const nn_image *src, uint64_t seed, float *dst, err *e);

/* --- data loading ------------------------------------------------------- */

/* A sample as the fetch callback fills it: call nn_sample_image() to get a
 * buffer for the decoded pixels (owned by the loader, reused). */
typedef struct nn_sample {
    nn_image img;
    int label;
    uint8_t *buf;
    size_t cap;
} nn_sample;
uint8_t *nn_sample_image(nn_sample *s, int w, int h, int c); /* NULL if out of memory */

/* Fetches sample `index`: decoded image + label. Called from loader threads,
 * concurrently: must be thread-safe. */
typedef int (*nn_fetch_fn)(void *ud, int64_t index, nn_sample *out, err *e);

typedef struct nn_loader_cfg {
    int64_t count;       /* samples 0..count-1 */
    int batch;
    bool shuffle;        /* a new permutation each epoch, from seed and epoch */
    bool drop_last;
    uint64_t seed;
    nn_aug aug;          /* applied to every sample (seeded per sample) */
    int workers;         /* background threads (default 1) */
    int prefetch;        /* batches ready ahead (default 2) */
} nn_loader_cfg;

typedef struct nn_batch {
    nn_tensor *x;        /* batch x out_c x out_h x out_w */
    int *labels;
    int64_t *index;      /* sample indices */
    int n;               /* samples in this batch (the last may be short) */
} nn_batch;

typedef struct nn_loader nn_loader;
nn_loader *nn_loader_new(const nn_loader_cfg *cfg, nn_fetch_fn fetch, void *ud, err *e);
void nn_loader_free(nn_loader *l);
/* Starts an epoch (stops the previous one). */
int nn_loader_start(nn_loader *l, int64_t epoch, err *e);
/* The next batch in order: 1 and *b, 0 at the end of the epoch, -1 on a
 * fetch error. The batch stays valid until nn_loader_release. */
int nn_loader_next(nn_loader *l, nn_batch **b, err *e);
void nn_loader_release(nn_loader *l, nn_batch *b);
int64_t nn_loader_batches(const nn_loader *l); /* per epoch */

/* IDX files (MNIST, Fashion-MNIST), gzip-compressed or not, fully loaded. */
typedef struct nn_idx {
    int64_t count;
    int h, w;
    uint8_t *pixels; /* count x h x w */
    uint8_t *labels; /* count */
} nn_idx;
nn_idx *nn_idx_open(const char *images_path, const char *labels_path, err *e);
void nn_idx_free(nn_idx *d);
int nn_idx_fetch(void *idx, int64_t index, nn_sample *out, err *e); /* an nn_fetch_fn */

/* --- the training loop -------------------------------------------------- */

typedef struct nn_train_stats {
    int64_t epoch, step, steps_total;
    double loss;         /* mean over the epoch so far */
    double train_acc;
    double val_loss, val_acc; /* after an epoch, when there is a validation set */
    double lr;
    double images_per_s;
    double elapsed_s;
    int threads;         /* compute threads in use */
} nn_train_stats;

typedef struct nn_train_cfg {
    int epochs;
    int batch;
    nn_optim_cfg optim;
    nn_sched sched;        /* lr, warmup (steps) ...; total is filled in when 0 */
    float label_smoothing;
    float ema_decay;       /* 0: no EMA; else evaluation and the result use the EMA */
    uint64_t seed;
    nn_aug train_aug, val_aug;
    int workers;
    double max_seconds;    /* stop after this much training time (0: no limit) */
    bool sched_by_time;    /* with max_seconds: the cosine/step schedule runs over the
                              time budget instead of the steps (warmup stays in steps),
                              so a slower machine does fewer epochs, not a cut schedule */
    bool auto_threads;     /* at each epoch, time a few steps with nn_init's thread count
                              and with one thread and keep the faster: on a machine shared
                              with other processes one thread often wins */
    /* called after every `log_every` steps and after each epoch (epoch_end);
     * return non-zero to stop */
    int (*progress)(void *ud, const nn_train_stats *st, bool epoch_end);
    void *progress_ud;
    int log_every;
} nn_train_cfg;

/* Trains m on the train source, evaluates on the val source (optional:
 * val_count 0) after every epoch; *final receives the last statistics. */
int nn_train_run(nn_model *m, const nn_train_cfg *cfg, nn_fetch_fn train_fetch, void *train_ud,
                 int64_t train_count, nn_fetch_fn val_fetch, void *val_ud, int64_t val_count,
                 nn_train_stats *final, err *e);

/* --- inference ----------------------------------------------------------- */

/* Holds a model and a pool of sessions; nn_predict may be called from any
 * number of threads at once: each call borrows a session (one per
 * concurrent caller, at most max_sessions, then callers wait). */
typedef struct nn_predictor nn_predictor;

typedef struct nn_topk {
    int cls[8];
    float score[8];       /* softmax probabilities */
    int k;
} nn_topk;

nn_predictor *nn_predictor_new(nn_model *m, int max_sessions, err *e); /* takes ownership of m */
nn_predictor *nn_predictor_open(const char *path, int max_sessions, err *e);
void nn_predictor_free(nn_predictor *p);
const nn_model *nn_predictor_model(const nn_predictor *p);
/* Resizes each image to the model's input size, converts channels,
 * normalises, runs the model and keeps the k (<= 8) best classes. */
int nn_predict(nn_predictor *p, const nn_image *imgs, int n, int k, nn_topk *out, err *e);
/* The same from an already prepared input tensor; probs (N x K) optional. */
int nn_predict_tensor(nn_predictor *p, const nn_tensor *x, int k, nn_topk *out, float *probs,
                      err *e);

#endif
