/*
 * nn.c - `cvops nn`: developer commands for the training engine, local
 * and without a server: print a built-in architecture, train on IDX files
 * (Fashion-MNIST by default), evaluate a checkpoint, and measure speed.
 *
 *   cvops nn arch resnet --size 64 --classes 10
 *   cvops nn train --arch cnn --epochs 8 --out fm.safetensors
 *   cvops nn eval fm.safetensors
 *   cvops nn bench --arch resnet --size 64 --batch 64
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "base/util.h"
#include "cli/cli.h"
#include "nn/nn.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"

static const char *const fmnist_labels[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                              "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

/* Opens DIR/{prefix}-images-idx3-ubyte[.gz] and the labels. */
static nn_idx *open_idx(const char *dir, const char *prefix, err *e)
{
    char im[1024], lb[1024];
    const char *ext[2] = {".gz", ""};
    for (int k = 0; k < 2; k++) {
        snprintf(im, sizeof im, "%s/%s-images-idx3-ubyte%s", dir, prefix, ext[k]);
        snprintf(lb, sizeof lb, "%s/%s-labels-idx1-ubyte%s", dir, prefix, ext[k]);
        FILE *f = fopen(im, "rb");
        if (f) {
            fclose(f);
            return nn_idx_open(im, lb, e);
        }
    }
    err_set(e, ERR_NOT_FOUND, "no %s-images-idx3-ubyte[.gz] in %s", prefix, dir);
    return NULL;
}

static char *read_text(const char *path, err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(e, ERR_NOT_FOUND, "cannot open %s", path);
        return NULL;
    }
    sbuf b = SBUF_INIT;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0 && b.len <= NN_MAX_ARCH_BYTES)
        sbuf_put(&b, tmp, n);
    fclose(f);
    return sbuf_detach(&b, NULL);
}

/* The architecture: a file (ends in .json) or a built-in family. */
static char *arch_text(const char *arch, const nn_arch_opts *o, err *e)
{
    size_t n = strlen(arch);
    if (n > 5 && strcmp(arch + n - 5, ".json") == 0)
        return read_text(arch, e);
    sbuf b = SBUF_INIT;
    if (nn_arch_builtin(arch, o, &b, e) < 0) {
        sbuf_free(&b);
        return NULL;
    }
    return sbuf_detach(&b, NULL);
}

/* --- arch ------------------------------------------------------------------ */

static int64_t a_inc = 3, a_size = 224, a_classes = 10, a_depth = 0;
static double a_width = 1, a_dropout = 0;
static const char *a_stem = NULL, *a_act = NULL;

#define ARCH_OPTS                                                                                 \
    {"channels", 0, OPT_INT, &a_inc, "N", "input channels (1 grayscale, 3 RGB)"},                 \
        {"size", 0, OPT_INT, &a_size, "PX", "input height and width"},                            \
        {"classes", 0, OPT_INT, &a_classes, "N", "output classes"},                               \
        {"width", 0, OPT_DBL, &a_width, "X", "width multiplier"},                                 \
        {"depth", 0, OPT_INT, &a_depth, "N", "depth (resnet 10/18/34, cnn stages, ...)"},         \
        {"stem", 0, OPT_STR, &a_stem, "KIND", "resnet/mobilenet stem: imagenet or small"},        \
        {"act", 0, OPT_STR, &a_act, "NAME", "relu, silu or leaky_relu"},                          \
        {"dropout", 0, OPT_DBL, &a_dropout, "P", "dropout before the classifier"}

static nn_arch_opts arch_opts(void)
{
    nn_arch_opts o = {.in_c = (int)a_inc,
                      .in_h = (int)a_size,
                      .in_w = (int)a_size,
                      .classes = (int)a_classes,
                      .width = (float)a_width,
                      .depth = (int)a_depth,
                      .stem = a_stem,
                      .act = a_act,
                      .dropout = (float)a_dropout};
    return o;
}

static int nn_arch_cmd(int argc, char **argv)
{
    cli_opt opts[] = {ARCH_OPTS, {0}};
    int n = cli_parse(argc, argv, opts, "cvops nn arch FAMILY [options]",
                      "Print the JSON architecture of a built-in family (cnn, resnet, "
                      "mobilenet).");
    if (n < 0)
        return n == -2 ? EXIT_OK : EXIT_USAGE;
    if (n != 1) {
        fprintf(stderr, "error: name one family: cnn, resnet or mobilenet\n");
        return EXIT_USAGE;
    }
    err e;
    nn_arch_opts o = arch_opts();
    char *t = arch_text(argv[1], &o, &e);
    if (!t) {
        fprintf(stderr, "error: %s\n", e.msg);
        return EXIT_FAIL;
    }
    printf("%s\n", t);
    free(t);
    return EXIT_OK;
}

/* --- train ------------------------------------------------------------------- */

typedef struct progress_ctx {
    bool json;
    int64_t per_epoch;
} progress_ctx;

static int on_progress(void *ud, const nn_train_stats *st, bool epoch_end)
{
    progress_ctx *p = ud;
    if (p->json) {
        printf("{\"epoch\":%lld,\"step\":%lld,\"loss\":%.5f,\"train_acc\":%.5f,\"lr\":%.6g,"
               "\"images_per_s\":%.1f,\"elapsed_s\":%.1f,\"threads\":%d%s",
               (long long)st->epoch + 1, (long long)st->step, st->loss, st->train_acc, st->lr,
               st->images_per_s, st->elapsed_s, st->threads, epoch_end ? "" : "}\n");
        if (epoch_end)
            printf(",\"val_loss\":%.5f,\"val_acc\":%.5f,\"epoch_end\":true}\n", st->val_loss,
                   st->val_acc);
    } else if (epoch_end) {
        printf("epoch %3lld  loss %.4f  train acc %.4f  val loss %.4f  val acc %.4f  "
               "%.0f img/s  %.0f s  %d threads\n",
               (long long)st->epoch + 1, st->loss, st->train_acc, st->val_loss, st->val_acc,
               st->images_per_s, st->elapsed_s, st->threads);
    } else {
        fprintf(stderr, "  step %lld/%lld  loss %.4f  acc %.4f  lr %.4g  %.0f img/s\r",
                (long long)st->step, (long long)st->steps_total, st->loss, st->train_acc, st->lr,
                st->images_per_s);
    }
    fflush(stdout);
    return 0;
}

static int nn_train_cmd(int argc, char **argv)
{
    const char *data = FMNIST_DIR, *arch = "cnn", *out = NULL, *optim = "adamw";
    const char *sched = "cosine";
    int64_t epochs = 10, batch = 128, threads = 0, workers = 1, seed = 1, warmup = 0;
    double lr = 0, wd = -1, momentum = 0.9, smoothing = 0, ema = 0, max_s = 0, clip = 0;
    double pad = 0, rotate = 0, scale_min = 0, budget = 0;
    bool flip = false, nesterov = false, json = false, auto_threads = false;
    a_inc = 1;
    a_size = 28;
    cli_opt opts[] = {
        {"data", 'd', OPT_STR, &data, "DIR", "IDX files (train-*, t10k-*); default Fashion-MNIST"},
        {"arch", 'a', OPT_STR, &arch, "NAME|FILE", "built-in family or a .json architecture"},
        ARCH_OPTS,
        {"epochs", 'e', OPT_INT, &epochs, "N", "epochs (default 10)"},
        {"batch", 'b', OPT_INT, &batch, "N", "batch size (default 128)"},
        {"optim", 0, OPT_STR, &optim, "NAME", "sgd or adamw (default)"},
        {"lr", 0, OPT_DBL, &lr, "X", "peak learning rate (default 0.1 sgd, 0.002 adamw)"},
        {"wd", 0, OPT_DBL, &wd, "X", "weight decay (default 5e-4 sgd, 0.05 adamw)"},
        {"momentum", 0, OPT_DBL, &momentum, "X", "SGD momentum (default 0.9)"},
        {"nesterov", 0, OPT_FLAG, &nesterov, NULL, "Nesterov momentum"},
        {"sched", 0, OPT_STR, &sched, "KIND", "cosine (default), step or const"},
        {"warmup", 0, OPT_INT, &warmup, "STEPS", "linear warmup steps"},
        {"clip", 0, OPT_DBL, &clip, "NORM", "clip gradients to this global norm"},
        {"smoothing", 0, OPT_DBL, &smoothing, "X", "label smoothing"},
        {"ema", 0, OPT_DBL, &ema, "DECAY", "keep an EMA of the weights (e.g. 0.999)"},
        {"flip", 0, OPT_FLAG, &flip, NULL, "random horizontal flips"},
        {"pad", 0, OPT_DBL, &pad, "PX", "random translation up to PX pixels"},
        {"rotate", 0, OPT_DBL, &rotate, "DEG", "random rotation up to DEG degrees"},
        {"crop", 0, OPT_DBL, &scale_min, "S", "random resized crop, area fraction in [S, 1]"},
        {"threads", 't', OPT_INT, &threads, "N", "compute threads (default: all cores)"},
        {"auto-threads", 0, OPT_FLAG, &auto_threads, NULL,
         "each epoch, keep whichever of N threads or 1 thread is faster (busy machines)"},
        {"workers", 0, OPT_INT, &workers, "N", "data loader threads (default 1)"},
        {"seed", 0, OPT_INT, &seed, "N", "random seed (default 1)"},
        {"max-seconds", 0, OPT_DBL, &max_s, "S", "stop training after S seconds"},
        {"time-budget", 0, OPT_DBL, &budget, "S",
         "train for S seconds, the schedule spread over that time (any --epochs)"},
        {"out", 'o', OPT_STR, &out, "FILE", "write the model (safetensors)"},
        {"json", 0, OPT_FLAG, &json, NULL, "one JSON line per log event"},
        {0}};
    int n = cli_parse(argc, argv, opts, "cvops nn train [options]",
                      "Train a classifier on IDX image files on this machine.");
    if (n < 0)
        return n == -2 ? EXIT_OK : EXIT_USAGE;
    err e;
    if (nn_init((int)threads, &e) < 0) {
        fprintf(stderr, "error: %s\n", e.msg);
        return EXIT_FAIL;
    }
    int rc = EXIT_FAIL;
    nn_idx *tr = NULL, *te = NULL;
    nn_model *m = NULL;
    char *at = NULL;
    if (!(tr = open_idx(data, "train", &e)) || !(te = open_idx(data, "t10k", &e)))
        goto out;
    int maxl = 0;
    for (int64_t i = 0; i < tr->count; i++)
        maxl = tr->labels[i] > maxl ? tr->labels[i] : maxl;
    a_classes = maxl + 1;
    if (a_size == 28 && tr->h != 28)
        a_size = tr->h;
    nn_arch_opts ao = arch_opts();
    /* the data's own statistics for normalisation */
    double sum = 0, sq = 0;
    size_t np = (size_t)tr->count * (size_t)tr->h * (size_t)tr->w;
    for (size_t i = 0; i < np; i++) {
        double v = tr->pixels[i] / 255.0;
        sum += v;
        sq += v * v;
    }
    double mean = sum / (double)np, sd = sqrt(sq / (double)np - mean * mean);
    for (int k = 0; k < 4; k++) {
        ao.mean[k] = (float)mean;
        ao.std[k] = (float)sd;
    }
    if (!(at = arch_text(arch, &ao, &e)) || !(m = nn_model_new(at, (uint64_t)seed, &e)))
        goto out;
    if (strcmp(data, FMNIST_DIR) == 0 && a_classes == 10 &&
        nn_model_set_labels(m, fmnist_labels, 10, &e) < 0)
        goto out;
    bool sgd = strcmp(optim, "sgd") == 0;
    if (!sgd && strcmp(optim, "adamw") != 0) {
        fprintf(stderr, "error: --optim must be sgd or adamw\n");
        rc = EXIT_USAGE;
        goto out;
    }
    nn_train_cfg cfg = {.epochs = (int)epochs,
                        .batch = (int)batch,
                        .optim = {.kind = sgd ? NN_SGD : NN_ADAMW,
                                  .momentum = (float)momentum,
                                  .nesterov = nesterov,
                                  .weight_decay = (float)(wd >= 0 ? wd : sgd ? 5e-4 : 0.05),
                                  .clip_norm = (float)clip},
                        .sched = {.kind = strcmp(sched, "step") == 0    ? NN_SCHED_STEP
                                          : strcmp(sched, "const") == 0 ? NN_SCHED_CONST
                                                                        : NN_SCHED_COSINE,
                                  .lr = (float)(lr > 0 ? lr : sgd ? 0.1 : 0.002),
                                  .warmup = warmup},
                        .label_smoothing = (float)smoothing,
                        .ema_decay = (float)ema,
                        .seed = (uint64_t)seed,
                        .train_aug = {.hflip = flip,
                                      .pad = (float)pad,
                                      .rotate_deg = (float)rotate,
                                      .scale_min = (float)scale_min},
                        .workers = (int)workers,
                        .max_seconds = budget > 0 ? budget : max_s,
                        .sched_by_time = budget > 0,
                        .auto_threads = auto_threads,
                        .log_every = 20};
    if (cfg.sched.kind == NN_SCHED_STEP) {
        int64_t per = tr->count / batch;
        cfg.sched.step_size = per * (epochs > 3 ? epochs / 3 : 1);
        cfg.sched.gamma = 0.1f;
    }
    progress_ctx pc = {.json = json};
    cfg.progress = on_progress;
    cfg.progress_ud = &pc;
    if (!json)
        printf("training %s (%zu parameters) on %lld images, testing on %lld, %d threads\n",
               arch, nn_model_param_count(m), (long long)tr->count, (long long)te->count,
               nn_threads());
    nn_train_stats st;
    int64_t t0 = time_mono_ns();
    if (nn_train_run(m, &cfg, nn_idx_fetch, tr, tr->count, nn_idx_fetch, te, te->count, &st,
                     &e) < 0)
        goto out;
    double wall = (double)(time_mono_ns() - t0) / 1e9;
    if (json)
        printf("{\"done\":true,\"test_acc\":%.5f,\"test_loss\":%.5f,\"train_s\":%.1f,"
               "\"wall_s\":%.1f,\"peak_rss_mb\":%ld}\n",
               st.val_acc, st.val_loss, st.elapsed_s, wall, peak_rss_mb());
    else
        printf("test accuracy %.4f  (training %.1f s, wall %.1f s, peak RSS %ld MB)\n",
               st.val_acc, st.elapsed_s, wall, peak_rss_mb());
    if (out) {
        char extra[256];
        snprintf(extra, sizeof extra, "{\"test_acc\":%.5f,\"epochs\":%lld}", st.val_acc,
                 (long long)epochs);
        if (nn_model_save(m, out, extra, &e) < 0)
            goto out;
        if (!json)
            printf("saved %s\n", out);
    }
    rc = EXIT_OK;
out:
    if (rc == EXIT_FAIL)
        fprintf(stderr, "error: %s\n", e.msg);
    free(at);
    nn_model_free(m);
    nn_idx_free(tr);
    nn_idx_free(te);
    return rc;
}

/* --- eval -------------------------------------------------------------------- */

static int nn_eval_cmd(int argc, char **argv)
{
    const char *data = FMNIST_DIR;
    int64_t threads = 0, batch = 256;
    cli_opt opts[] = {{"data", 'd', OPT_STR, &data, "DIR", "IDX files (t10k-* are used)"},
                      {"batch", 'b', OPT_INT, &batch, "N", "batch size"},
                      {"threads", 't', OPT_INT, &threads, "N", "compute threads"},
                      {0}};
    int n = cli_parse(argc, argv, opts, "cvops nn eval MODEL [options]",
                      "Accuracy of a saved model on the IDX test files.");
    if (n < 0)
        return n == -2 ? EXIT_OK : EXIT_USAGE;
    if (n != 1) {
        fprintf(stderr, "error: name the model file\n");
        return EXIT_USAGE;
    }
    err e;
    nn_idx *te = NULL;
    nn_predictor *p = NULL;
    nn_topk *top = NULL;
    nn_image *imgs = NULL;
    int rc = EXIT_FAIL;
    if (nn_init((int)threads, &e) < 0 || !(p = nn_predictor_open(argv[1], 1, &e)) ||
        !(te = open_idx(data, "t10k", &e)))
        goto out;
    top = calloc((size_t)batch, sizeof *top);
    imgs = calloc((size_t)batch, sizeof *imgs);
    if (!top || !imgs) {
        err_set(&e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    int64_t correct = 0, t0 = time_mono_ns();
    for (int64_t i = 0; i < te->count; i += batch) {
        int k = (int)(te->count - i < batch ? te->count - i : batch);
        for (int j = 0; j < k; j++) {
            nn_sample s = {0};
            nn_idx_fetch(te, i + j, &s, &e);
            imgs[j] = s.img;
        }
        if (nn_predict(p, imgs, k, 1, top, &e) < 0)
            goto out;
        for (int j = 0; j < k; j++)
            correct += top[j].cls[0] == te->labels[i + j];
    }
    double dt = (double)(time_mono_ns() - t0) / 1e9;
    printf("accuracy %.4f on %lld images (%.0f img/s)\n", (double)correct / (double)te->count,
           (long long)te->count, (double)te->count / dt);
    rc = EXIT_OK;
out:
    if (rc != EXIT_OK)
        fprintf(stderr, "error: %s\n", e.msg);
    free(top);
    free(imgs);
    nn_idx_free(te);
    nn_predictor_free(p);
    return rc;
}

/* --- bench ---------------------------------------------------------------------- */

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int nn_bench_cmd(int argc, char **argv)
{
    const char *arch = "resnet";
    int64_t batch = 64, steps = 10, warm = 3, threads = 0, infer_size = 224, infer_runs = 30;
    bool json = false, profile = false, no_wino = false, fp32 = false, no_avx512 = false;
    a_size = 64;
    cli_opt opts[] = {
        {"arch", 'a', OPT_STR, &arch, "NAME|FILE", "built-in family or .json (default resnet)"},
        ARCH_OPTS,
        {"batch", 'b', OPT_INT, &batch, "N", "training batch (default 64)"},
        {"steps", 0, OPT_INT, &steps, "N", "timed steps (default 10, after 3 warm-up)"},
        {"infer-size", 0, OPT_INT, &infer_size, "PX", "batch-1 inference size (default 224; 0 "
                                                      "skips)"},
        {"infer-runs", 0, OPT_INT, &infer_runs, "N", "batch-1 inference runs (default 30)"},
        {"threads", 't', OPT_INT, &threads, "N", "compute threads"},
        {"json", 0, OPT_FLAG, &json, NULL, "print one JSON object"},
        {"profile", 0, OPT_FLAG, &profile, NULL, "time every node (training and inference)"},
        {"no-winograd", 0, OPT_FLAG, &no_wino, NULL, "direct convolutions only (comparison)"},
        {"fp32-weights", 0, OPT_FLAG, &fp32, NULL,
         "float32 Winograd weights in inference (comparison; default half floats)"},
        {"no-avx512", 0, OPT_FLAG, &no_avx512, NULL,
         "Winograd GEMMs on AVX2 even where the CPU has AVX-512 (comparison)"},
        {0}};
    int n = cli_parse(argc, argv, opts, "cvops nn bench [options]",
                      "Training and inference speed on synthetic data: per-step times of SGD "
                      "training, forward passes, and batch-1 inference latency; medians of wall "
                      "time (and, with --json, of process CPU time).");
    if (n < 0)
        return n == -2 ? EXIT_OK : EXIT_USAGE;
    if (steps < 1 || steps > 10000 || batch < 1 || infer_runs < 1 || infer_runs > 10000) {
        fprintf(stderr, "error: steps, batch and runs must be positive (steps <= 10000)\n");
        return EXIT_USAGE;
    }
    err e;
    int rc = EXIT_FAIL;
    nn_model *m = NULL;
    nn_session *s = NULL;
    nn_optim *o = NULL;
    nn_tensor *x = NULL, *dy = NULL, *x1 = NULL;
    int *labels = NULL;
    char *at = NULL;
    sbuf prof = SBUF_INIT;
    double *ts = calloc((size_t)(steps > infer_runs ? steps : infer_runs), sizeof *ts);
    double *cs = calloc((size_t)(steps > infer_runs ? steps : infer_runs), sizeof *cs);
    nn_arch_opts ao = arch_opts();
    nn_set_winograd(!no_wino);
    nn_set_half_weights(!fp32);
    nn_set_avx512(!no_avx512);
    if (!ts || !cs || nn_init((int)threads, &e) < 0 || !(at = arch_text(arch, &ao, &e)) ||
        !(m = nn_model_new(at, 1, &e)) || !(s = nn_session_new(m, &e)))
        goto out;
    nn_optim_cfg oc = {.kind = NN_SGD, .momentum = 0.9f, .weight_decay = 1e-4f};
    int ic, ih, iw;
    nn_model_input(m, &ic, &ih, &iw);
    int classes = nn_model_classes(m);
    if (!(o = nn_optim_new(m, &oc, &e)))
        goto out;
    x = nn_tensor_new((int)batch, ic, ih, iw);
    dy = nn_tensor_new((int)batch, classes, 1, 1);
    labels = calloc((size_t)batch, sizeof *labels);
    if (!x || !dy || !labels) {
        err_set(&e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    nn_rng r;
    nn_rng_seed(&r, 1);
    for (size_t i = 0; i < nn_tensor_numel(x); i++)
        x->data[i] = (float)nn_rng_normal(&r);
    for (int i = 0; i < batch; i++)
        labels[i] = (int)(nn_rng_next(&r) % (uint64_t)classes);
    double loss = 0;
    for (int64_t i = 0; i < warm + steps; i++) {
        int64_t t0 = time_mono_ns();
        double c0 = cpu_s();
        const nn_tensor *y = nn_forward(s, x, true, &e);
        if (!y || nn_loss_softmax_ce(y, labels, 0, dy, &loss, &e) < 0 ||
            nn_backward(s, dy, &e) < 0 || nn_optim_step(o, 0.01f, NULL, &e) < 0)
            goto out;
        if (i >= warm) {
            ts[i - warm] = (double)(time_mono_ns() - t0) / 1e9;
            cs[i - warm] = cpu_s() - c0;
        }
    }
    double train_step = median(ts, (int)steps), train_cpu = median(cs, (int)steps);
    if (profile) { /* a few more steps, timed node by node */
        nn_session_profile(s, true, &e);
        for (int i = 0; i < 3; i++)
            if (!nn_forward(s, x, true, &e) || nn_backward(s, dy, &e) < 0)
                goto out;
        sbuf_printf(&prof, "training, 3 steps:\n");
        nn_session_profile_report(s, &prof);
        nn_session_free(s);
        if (!(s = nn_session_new(m, &e)))
            goto out;
    }
    for (int64_t i = 0; i < warm + steps; i++) {
        int64_t t0 = time_mono_ns();
        double c0 = cpu_s();
        if (!nn_forward(s, x, false, &e))
            goto out;
        if (i >= warm) {
            ts[i - warm] = (double)(time_mono_ns() - t0) / 1e9;
            cs[i - warm] = cpu_s() - c0;
        }
    }
    double fwd = median(ts, (int)steps), fwd_cpu = median(cs, (int)steps);
    double infer = 0, infer_cpu = 0;
    if (infer_size > 0) {
        x1 = nn_tensor_new(1, ic, (int)infer_size, (int)infer_size);
        if (!x1) {
            err_set(&e, ERR_INTERNAL, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < nn_tensor_numel(x1); i++)
            x1->data[i] = (float)nn_rng_normal(&r);
        for (int64_t i = 0; i < 3 + infer_runs; i++) {
            int64_t t0 = time_mono_ns();
            double c0 = cpu_s();
            if (!nn_forward(s, x1, false, &e))
                goto out;
            if (i >= 3) {
                ts[i - 3] = (double)(time_mono_ns() - t0) / 1e9;
                cs[i - 3] = cpu_s() - c0;
            }
        }
        infer = median(ts, (int)infer_runs);
        infer_cpu = median(cs, (int)infer_runs);
        if (profile) {
            nn_session_free(s);
            if (!(s = nn_session_new(m, &e)) || !nn_forward(s, x1, false, &e) ||
                nn_session_profile(s, true, &e) < 0) /* the plan is built before timing */
                goto out;
            for (int i = 0; i < 10; i++)
                if (!nn_forward(s, x1, false, &e))
                    goto out;
            sbuf_printf(&prof, "batch-1 inference, 10 runs:\n");
            nn_session_profile_report(s, &prof);
        }
    }
    if (json)
        printf("{\"arch\":\"%s\",\"size\":%d,\"batch\":%lld,\"threads\":%d,\"params\":%zu,"
               "\"train_step_ms\":%.2f,\"train_img_s\":%.1f,\"fwd_ms\":%.2f,\"fwd_img_s\":%.1f,"
               "\"infer_size\":%lld,\"infer_ms\":%.2f,\"train_cpu_ms\":%.2f,\"fwd_cpu_ms\":%.2f,"
               "\"infer_cpu_ms\":%.2f,\"final_loss\":%.4f,\"peak_rss_mb\":%ld}\n",
               arch, ih, (long long)batch, nn_threads(), nn_model_param_count(m),
               train_step * 1e3, (double)batch / train_step, fwd * 1e3, (double)batch / fwd,
               (long long)infer_size, infer * 1e3, train_cpu * 1e3, fwd_cpu * 1e3,
               infer_cpu * 1e3, loss, peak_rss_mb());
    else
        printf("%s %dx%d, batch %lld, %d threads, %zu parameters\n"
               "  train step   %8.2f ms  %8.1f img/s\n"
               "  forward      %8.2f ms  %8.1f img/s\n"
               "  infer %lldpx  %8.2f ms (batch 1, median of %lld)\n",
               arch, ih, iw, (long long)batch, nn_threads(), nn_model_param_count(m),
               train_step * 1e3, (double)batch / train_step, fwd * 1e3, (double)batch / fwd,
               (long long)infer_size, infer * 1e3, (long long)infer_runs);
    if (profile)
        fputs(sbuf_cstr(&prof), stderr);
    rc = EXIT_OK;
out:
    if (rc != EXIT_OK)
        fprintf(stderr, "error: %s\n", e.msg);
    sbuf_free(&prof);
    free(ts);
    free(cs);
    free(at);
    free(labels);
    nn_tensor_free(x);
    nn_tensor_free(x1);
    nn_tensor_free(dy);
    nn_optim_free(o);
    nn_session_free(s);
    nn_model_free(m);
    return rc;
}

int cmd_nn(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"arch", nn_arch_cmd, "print a built-in architecture as JSON"},
        {"train", nn_train_cmd, "train a classifier on IDX files, locally"},
        {"eval", nn_eval_cmd, "accuracy of a saved model on IDX test files"},
        {"bench", nn_bench_cmd, "training and inference speed on synthetic data"},
        {NULL, NULL, NULL}};
    return cli_dispatch("cvops nn", argc, argv, sub);
}
