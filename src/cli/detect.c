/*
 * detect.c - `cvops detect` (developer commands for the object detector,
 * local and without a server) and `cvops demo synth-detect` (the
 * synthetic detection dataset).
 *
 *   cvops demo synth-detect --n 3000 --val 500 --seed 1 data/shapes
 *   cvops detect arch --size nano --classes 8
 *   cvops detect train --data data/shapes --out det.safetensors
 *   cvops detect predict det.safetensors photo.jpg --draw out.jpg
 *   cvops detect eval det.safetensors --data data/shapes/val
 *   cvops detect bench --size nano --batch 16
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "base/util.h"
#include "cli/cli.h"
#include "detect/detect.h"
#include "eval/eval.h"
#include "image/image.h"

static int fail(const err *e)
{
    fprintf(stderr, "error: %s\n", e->msg);
    return e->code == ERR_NOT_FOUND ? EXIT_NOTFOUND : EXIT_FAIL;
}

/* --- demo synth-detect ------------------------------------------------------------ */

static int write_file(const char *path, const void *data, size_t n, err *e)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(data, 1, n, f) == n;
    if (f && fclose(f) != 0) ok = false;
    if (!ok) return err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* A 4 x 4 montage of the first images with their boxes drawn. */
static int synth_preview(const det_synth *s, const det_synth_opts *o, uint64_t seed,
                         const char *path, err *e)
{
    int W = o->w, H = o->h, g = 4;
    size_t stride = (size_t)W * (size_t)g * 3;
    uint8_t *m = calloc((size_t)H * (size_t)g, stride);
    uint8_t *rgb = malloc((size_t)W * (size_t)H * 3);
    det_box boxes[64];
    int rc = 0;
    if (!m || !rgb) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (int i = 0; i < g * g && rc == 0; i++) {
        int nb;
        if ((rc = det_synth_image(s, seed, i, rgb, boxes, 64, &nb, e)) < 0) break;
        det_draw(rgb, W, H, (size_t)W * 3, boxes, nb, det_synth_class_names, DET_SYNTH_CLASSES);
        for (int y = 0; y < H; y++)
            memcpy(m + ((size_t)(i / g) * (size_t)H + (size_t)y) * stride +
                       (size_t)(i % g) * (size_t)W * 3,
                   rgb + (size_t)y * (size_t)W * 3, (size_t)W * 3);
    }
    if (rc == 0) {
        image_pixels px = {m, (uint32_t)(W * g), (uint32_t)(H * g), 3, stride};
        uint8_t *jpg;
        size_t len;
        if ((rc = image_encode_jpeg(&px, 90, &jpg, &len, e)) == 0) {
            rc = write_file(path, jpg, len, e);
            free(jpg);
        }
    }
out:
    free(m);
    free(rgb);
    return rc;
}

static int synth_cmd(int argc, char **argv)
{
    int64_t n = 1000, nval = 0, ntest = 0, seed = 1, size = 320, classes = DET_SYNTH_CLASSES;
    int64_t threads = 0, min_obj = 1, max_obj = 8, quality = 90;
    double min_side = 16, max_side = 112;
    const char *photos = NULL, *wh = NULL, *preview = NULL;
    bool no_photos = false;
    cli_opt opts[] = {
        {"n", 'n', OPT_INT, &n, "N", "images (the training split with --val/--test; default 1000)"},
        {"val", 0, OPT_INT, &nval, "N", "also a validation split of N images (OUT/val)"},
        {"test", 0, OPT_INT, &ntest, "N", "also a test split of N images (OUT/test)"},
        {"seed", 's', OPT_INT, &seed, "S", "random seed (default 1): same seed, same bytes"},
        {"size", 0, OPT_INT, &size, "PX", "square images of PX pixels (default 320)"},
        {"wh", 0, OPT_STR, &wh, "WxH", "or images of W x H pixels"},
        {"classes", 0, OPT_INT, &classes, "K", "use the first K classes (default 8)"},
        {"min-objects", 0, OPT_INT, &min_obj, "N", "objects per image, at least (default 1)"},
        {"max-objects", 0, OPT_INT, &max_obj, "N", "and at most (default 8)"},
        {"min-side", 0, OPT_DBL, &min_side, "PX", "smallest object side (default 16)"},
        {"max-side", 0, OPT_DBL, &max_side, "PX", "largest object side (default 112)"},
        {"photos", 0, OPT_STR, &photos, "DIR",
         "JPEG backgrounds (default /usr/share/darknet/data)"},
        {"no-photos", 0, OPT_FLAG, &no_photos, NULL, "procedural backgrounds only"},
        {"quality", 0, OPT_INT, &quality, "Q", "JPEG quality (default 90)"},
        {"threads", 't', OPT_INT, &threads, "N", "generator threads (default: all cores)"},
        {"preview", 0, OPT_STR, &preview, "FILE.jpg",
         "only draw the first 16 training images with their boxes, as a 4x4 montage"},
        {0}};
    int np = cli_parse(argc, argv, opts, "cvops demo synth-detect [options] OUT",
                       "Generate a synthetic object detection dataset: shapes and glyphs ("
                       "circle, triangle, square, star, cross, ring, letter-A, digit-5) on "
                       "textured and photographic backgrounds, with exact boxes, as JPEG images "
                       "and a COCO file (OUT/annotations.json, OUT/images/). With --val or "
                       "--test, the splits go to OUT/train, OUT/val, OUT/test, each seeded on "
                       "its own. Import with: cvops dataset import --format coco --images "
                       "OUT/images OUT/annotations.json");
    if (np < 0) return np == -2 ? EXIT_OK : EXIT_USAGE;
    if (np != 1 && !(np == 0 && preview)) {
        fprintf(stderr, "error: name one output directory\n");
        return EXIT_USAGE;
    }
    int w = (int)size, h = (int)size;
    if (wh && sscanf(wh, "%dx%d", &w, &h) != 2) {
        fprintf(stderr, "error: --wh takes WxH, e.g. 480x320\n");
        return EXIT_USAGE;
    }
    if (n < 0 || nval < 0 || ntest < 0 || n > 10000000) {
        fprintf(stderr, "error: image counts must be 0 to 10,000,000\n");
        return EXIT_USAGE;
    }
    det_synth_opts so = {.w = w,
                         .h = h,
                         .classes = (int)classes,
                         .min_objects = (int)min_obj,
                         .max_objects = (int)max_obj,
                         .min_side = (float)min_side,
                         .max_side = (float)max_side,
                         .photos_dir = no_photos ? "" : photos,
                         .quality = (int)quality};
    err e;
    det_synth *s = det_synth_new(&so, &e);
    if (!s) return fail(&e);
    if (preview) {
        uint64_t sd = nval > 0 || ntest > 0 ? (uint64_t)seed * 1000003u : (uint64_t)seed;
        int r = synth_preview(s, &so, sd, preview, &e);
        det_synth_free(s);
        return r < 0 ? fail(&e) : EXIT_OK;
    }
    if (threads <= 0) threads = 2;
    const char *out = argv[1];
    struct {
        const char *name;
        int64_t n;
    } parts[3] = {{"train", n}, {"val", nval}, {"test", ntest}};
    bool split = nval > 0 || ntest > 0;
    int64_t t0 = time_mono_ns();
    int64_t total = 0;
    int rc = EXIT_OK;
    for (int i = 0; i < (split ? 3 : 1); i++) {
        if (parts[i].n == 0) continue;
        char dir[4096];
        if (split)
            snprintf(dir, sizeof dir, "%s/%s", out, parts[i].name);
        else
            snprintf(dir, sizeof dir, "%s", out);
        /* each split its own stream: the val images do not depend on --n */
        uint64_t sd = split ? (uint64_t)seed * 1000003u + (uint64_t)i : (uint64_t)seed;
        char prefix[32];
        snprintf(prefix, sizeof prefix, "%s_", split ? parts[i].name : "img");
        if (det_synth_write(s, sd, parts[i].n, dir, prefix, (int)threads, &e) < 0) {
            rc = fail(&e);
            break;
        }
        printf("%s: %lld images\n", dir, (long long)parts[i].n);
        total += parts[i].n;
    }
    if (rc == EXIT_OK)
        printf("%lld images in %.1f s\n", (long long)total, (double)(time_mono_ns() - t0) / 1e9);
    det_synth_free(s);
    return rc;
}

int cmd_demo(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"synth-detect", synth_cmd, "generate a synthetic object detection dataset (COCO)"},
        {NULL, NULL, NULL}};
    return cli_dispatch("cvops demo", argc, argv, sub);
}

/* --- shared ------------------------------------------------------------------------- */

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A split of a dataset directory: DIR/annotations.json + DIR/images, or
 * DIR/<split>/annotations.json + DIR/<split>/images. */
static det_dataset *open_split(const char *dir, const char *split, bool required, err *e)
{
    char js[4096], im[4096];
    snprintf(js, sizeof js, "%s/%s/annotations.json", dir, split);
    snprintf(im, sizeof im, "%s/%s/images", dir, split);
    if (!is_file(js)) {
        if (strcmp(split, "train") == 0) {
            snprintf(js, sizeof js, "%s/annotations.json", dir);
            snprintf(im, sizeof im, "%s/images", dir);
        }
        if (!is_file(js)) {
            if (required)
                err_set(e, ERR_NOT_FOUND, "no %s/%s/annotations.json (nor %s/annotations.json)",
                        dir, split, dir);
            else
                err_clear(e);
            return NULL;
        }
    }
    return det_dataset_open_coco(js, im, e);
}

static int read_image(const char *path, image_pixels *px, err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, ERR_NOT_FOUND, "cannot open %s: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    long len = 0;
    int rc = 0;
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(buf = malloc((size_t)len)) || fread(buf, 1, (size_t)len, f) != (size_t)len)
        rc = err_set(e, ERR_IO, "cannot read %s", path);
    fclose(f);
    if (rc == 0) {
        image_decode_opts op = {.channels = 3};
        if (image_decode(buf, (size_t)len, &op, px, e) < 0) rc = err_prefix(e, "%s", path);
    }
    free(buf);
    return rc;
}

/* --- arch --------------------------------------------------------------------------- */

static const char *o_size = "nano", *o_act = NULL;
static int64_t o_input = 320, o_classes = 8;

#define DET_ARCH_OPTS                                                                              \
    {"size", 0, OPT_STR, &o_size, "NAME", "detector size: nano (default) or small"},               \
        {"input", 0, OPT_INT, &o_input, "PX", "input side, a multiple of 32 (default 320)"},       \
    {                                                                                              \
        "act", 0, OPT_STR, &o_act, "NAME", "silu (default), relu or leaky_relu"                    \
    }

static det_arch_opts arch_opts(int classes)
{
    return (det_arch_opts){.size = o_size,
                           .classes = classes,
                           .in_w = (int)o_input,
                           .in_h = (int)o_input,
                           .act = o_act};
}

static int arch_cmd(int argc, char **argv)
{
    cli_opt opts[] = {
        DET_ARCH_OPTS, {"classes", 0, OPT_INT, &o_classes, "K", "classes (default 8)"}, {0}};
    int n = cli_parse(argc, argv, opts, "cvops detect arch [options]",
                      "Print the detector's architecture (an nn graph, JSON).");
    if (n < 0) return n == -2 ? EXIT_OK : EXIT_USAGE;
    sbuf b = SBUF_INIT;
    err e;
    det_arch_opts ao = arch_opts((int)o_classes);
    if (det_arch(&ao, &b, &e) < 0) {
        sbuf_free(&b);
        return fail(&e);
    }
    printf("%s\n", sbuf_cstr(&b));
    sbuf_free(&b);
    return EXIT_OK;
}

/* --- train --------------------------------------------------------------------------- */

typedef struct progress_ctx {
    bool json;
} progress_ctx;

static int on_progress(void *ud, const det_train_stats *st, bool epoch_end)
{
    progress_ctx *p = ud;
    if (p->json) {
        printf("{\"epoch\":%lld,\"step\":%lld,\"steps_total\":%lld,\"loss\":%.5f,\"box_loss\":%.5f,"
               "\"cls_loss\":%.5f,\"lr\":%.6g,\"images_per_s\":%.2f,\"elapsed_s\":%.1f,"
               "\"threads\":%d,\"mosaic\":%s",
               (long long)st->epoch + 1, (long long)st->step, (long long)st->steps_total, st->loss,
               st->box_loss, st->cls_loss, st->lr, st->images_per_s, st->elapsed_s, st->threads,
               st->mosaic ? "true" : "false");
        if (epoch_end && st->has_val)
            printf(",\"val_map\":%.5f,\"val_map50\":%.5f,\"val_map75\":%.5f,\"val_ar100\":%.5f,"
                   "\"val_s\":%.1f",
                   st->val.map, st->val.map50, st->val.map75, st->val.ar100, st->val_s);
        printf("%s}\n", epoch_end ? ",\"epoch_end\":true" : "");
    } else if (epoch_end) {
        printf("epoch %3lld  loss %.4f (box %.4f cls %.4f)  %s%.1f img/s  %.0f s",
               (long long)st->epoch + 1, st->loss, st->box_loss, st->cls_loss,
               st->mosaic ? "" : "no mosaic  ", st->images_per_s, st->elapsed_s);
        if (st->has_val)
            printf("  val mAP %.4f  mAP50 %.4f (%.0f s)", st->val.map, st->val.map50, st->val_s);
        printf("\n");
    } else {
        fprintf(stderr, "  step %lld/%lld  loss %.4f  box %.4f  cls %.4f  lr %.3g  %.1f img/s\r",
                (long long)st->step, (long long)st->steps_total, st->loss, st->box_loss,
                st->cls_loss, st->lr, st->images_per_s);
    }
    fflush(stdout);
    return 0;
}

static int train_cmd(int argc, char **argv)
{
    const char *data = NULL, *out = NULL, *optim = "adamw", *ckpt = NULL, *cls_loss = "bce";
    const char *iou = "ciou";
    int64_t epochs = 30, batch = 16, threads = 0, workers = 1, seed = 1, warmup = -1;
    int64_t close_mosaic = -1, val_every = 1, max_train = 0, val_input = 0;
    double lr = 0, wd = -1, ema = 0.999, budget = 0, mosaic = 1, scale = 0.5, translate = 0.1;
    double close_frac = 0.15;
    bool json = false, auto_threads = false, resume = false, no_val = false;
    cli_opt opts[] = {
        {"data", 'd', OPT_STR, &data, "DIR",
         "dataset: DIR/train and DIR/val (annotations.json + images/ each), as synth-detect "
         "writes"},
        DET_ARCH_OPTS,
        {"epochs", 'e', OPT_INT, &epochs, "N", "epochs (default 30)"},
        {"batch", 'b', OPT_INT, &batch, "N", "batch size (default 16)"},
        {"optim", 0, OPT_STR, &optim, "NAME", "adamw (default) or sgd"},
        {"lr", 0, OPT_DBL, &lr, "X", "peak learning rate (default 0.002 adamw, 0.01 sgd)"},
        {"wd", 0, OPT_DBL, &wd, "X", "weight decay (default 0.05 adamw, 5e-4 sgd)"},
        {"warmup", 0, OPT_INT, &warmup, "STEPS", "linear warmup (default 100 steps)"},
        {"ema", 0, OPT_DBL, &ema, "DECAY", "EMA of the weights (default 0.999; 0: none)"},
        {"mosaic", 0, OPT_DBL, &mosaic, "P", "mosaic probability (default 1)"},
        {"scale", 0, OPT_DBL, &scale, "X", "random zoom 1 +- X (default 0.5)"},
        {"translate", 0, OPT_DBL, &translate, "X", "random shift +- X of the size (default 0.1)"},
        {"close-mosaic", 0, OPT_INT, &close_mosaic, "N",
         "no mosaic for the last N epochs (default 15% of them)"},
        {"close-mosaic-frac", 0, OPT_DBL, &close_frac, "F",
         "with --time-budget: no mosaic for the last F of it (default 0.15)"},
        {"cls-loss", 0, OPT_STR, &cls_loss, "KIND", "bce (default) or focal"},
        {"iou", 0, OPT_STR, &iou, "KIND", "box loss: ciou (default) or giou"},
        {"time-budget", 0, OPT_DBL, &budget, "S",
         "train for S seconds, the schedule spread over that time"},
        {"val-every", 0, OPT_INT, &val_every, "N", "validate every N epochs (default 1; 0: last)"},
        {"val-input", 0, OPT_INT, &val_input, "PX",
         "validate at PX x PX, a multiple of 32 (default: --input); the model saved by --out "
         "then predicts at PX"},
        {"no-val", 0, OPT_FLAG, &no_val, NULL, "no validation"},
        {"max-train", 0, OPT_INT, &max_train, "N", "use only the first N training images"},
        {"seed", 's', OPT_INT, &seed, "S", "random seed (default 1)"},
        {"threads", 't', OPT_INT, &threads, "N", "compute threads (default: all cores)"},
        {"auto-threads", 0, OPT_FLAG, &auto_threads, NULL,
         "each epoch, keep whichever of N threads or 1 is faster (busy machines)"},
        {"workers", 'w', OPT_INT, &workers, "N", "data loader threads (default 1)"},
        {"ckpt", 0, OPT_STR, &ckpt, "DIR", "checkpoints after each epoch (last, best, state)"},
        {"resume", 0, OPT_FLAG, &resume, NULL, "continue the run saved in --ckpt"},
        {"out", 'o', OPT_STR, &out, "FILE", "save the final model (safetensors)"},
        {"json", 0, OPT_FLAG, &json, NULL, "one JSON object per progress line"},
        {0}};
    int n = cli_parse(argc, argv, opts, "cvops detect train --data DIR [options]",
                      "Train the object detector locally on a COCO dataset directory and "
                      "report mAP on its validation split after each epoch.");
    if (n < 0) return n == -2 ? EXIT_OK : EXIT_USAGE;
    if (!data) {
        fprintf(stderr, "error: --data DIR is required\n");
        return EXIT_USAGE;
    }
    err e;
    int rc = EXIT_FAIL;
    det_dataset *tr = NULL, *va = NULL;
    nn_model *m = NULL;
    if (nn_init((int)threads, &e) < 0 || !(tr = open_split(data, "train", true, &e)))
        return fail(&e);
    if (!no_val && !(va = open_split(data, "val", false, &e)) && e.code != ERR_NONE) {
        det_dataset_free(tr);
        return fail(&e);
    }
    const char *const *names;
    int K = det_dataset_classes(tr, &names);
    det_arch_opts ao = arch_opts(K);
    if (!(m = det_model_new(&ao, names, (uint64_t)seed, &e))) goto out;
    det_train_cfg c;
    det_train_cfg_default(&c, m);
    c.epochs = (int)epochs;
    c.batch = (int)batch;
    c.seed = (uint64_t)seed;
    if (strcmp(optim, "sgd") == 0) {
        c.optim = (nn_optim_cfg){.kind = NN_SGD,
                                 .momentum = 0.937f,
                                 .nesterov = true,
                                 .weight_decay = 5e-4f,
                                 .clip_norm = 10.0f};
        c.sched.lr = 0.01f;
    } else if (strcmp(optim, "adamw") != 0) {
        fprintf(stderr, "error: --optim is adamw or sgd\n");
        rc = EXIT_USAGE;
        goto out;
    }
    if (lr > 0) c.sched.lr = (float)lr;
    c.sched.min_lr = c.sched.lr * 0.01f;
    if (wd >= 0) c.optim.weight_decay = (float)wd;
    if (warmup >= 0) c.sched.warmup = warmup;
    c.ema_decay = (float)ema;
    c.aug.mosaic = (float)mosaic;
    c.aug.scale = (float)scale;
    c.aug.translate = (float)translate;
    c.close_mosaic = close_mosaic >= 0 ? (int)close_mosaic : (int)(epochs * 15 + 99) / 100;
    c.close_mosaic_frac = (float)close_frac;
    c.loss.cls = strcmp(cls_loss, "focal") == 0 ? DET_CLS_FOCAL : DET_CLS_BCE;
    c.loss.iou = strcmp(iou, "giou") == 0 ? DET_IOU_GIOU : DET_IOU_CIOU;
    c.max_seconds = budget;
    c.sched_by_time = budget > 0;
    if (budget > 0 && close_mosaic < 0) c.close_mosaic = 0; /* the time fraction decides */
    c.auto_threads = auto_threads;
    c.workers = (int)workers;
    c.val_every = (int)val_every;
    c.val_size = (int)val_input;
    c.ckpt_dir = ckpt;
    c.resume = resume;
    progress_ctx pc = {json};
    c.progress = on_progress;
    c.progress_ud = &pc;
    int64_t ntrain = det_dataset_count(tr);
    if (max_train > 0 && max_train < ntrain) ntrain = max_train;
    if (!json)
        printf("%s detector, %d classes, %lld training images, %lld validation, %zu parameters, "
               "%d threads\n",
               o_size, K, (long long)ntrain, (long long)(va ? det_dataset_count(va) : 0),
               nn_model_param_count(m), nn_threads());
    det_train_stats st;
    int64_t t0 = time_mono_ns();
    if (det_train_run(m, &c, det_dataset_fetch, tr, ntrain, va ? det_dataset_fetch : NULL, va,
                      va ? det_dataset_count(va) : 0, &st, &e) < 0)
        goto out;
    double wall = (double)(time_mono_ns() - t0) / 1e9;
    if (out && val_input > 0 && nn_model_set_input_size(m, (int)val_input, (int)val_input, &e) < 0)
        goto out;
    if (out && nn_model_save(m, out, "{\"detector\":{\"format\":\"" DET_FORMAT "\"}}", &e) < 0)
        goto out;
    if (json)
        printf("{\"final\":true,\"train_s\":%.1f,\"wall_s\":%.1f,\"epochs\":%lld,\"steps\":%lld,"
               "\"val_map\":%.5f,\"val_map50\":%.5f,\"val_map75\":%.5f,\"peak_rss_mb\":%ld}\n",
               st.elapsed_s, wall, (long long)st.epoch + 1, (long long)st.step, st.val.map,
               st.val.map50, st.val.map75, peak_rss_mb());
    else
        printf("done: %lld steps in %.0f s of training (%.0f s in all); val mAP %.4f, mAP50 "
               "%.4f\n",
               (long long)st.step, st.elapsed_s, wall, st.val.map, st.val.map50);
    rc = EXIT_OK;
out:
    if (rc != EXIT_OK && e.code != ERR_NONE) rc = fail(&e);
    nn_model_free(m);
    det_dataset_free(tr);
    det_dataset_free(va);
    return rc;
}

/* --- predict --------------------------------------------------------------------------- */

static int predict_cmd(int argc, char **argv)
{
    double conf = 0.25, iou = 0.7;
    int64_t size = 0, max_det = 300, threads = 0;
    const char *draw = NULL;
    bool json = false, rect = false, agnostic = false;
    cli_opt opts[] = {
        {"conf", 0, OPT_DBL, &conf, "X", "score threshold (default 0.25)"},
        {"iou", 0, OPT_DBL, &iou, "X", "NMS IoU threshold (default 0.7)"},
        {"max-det", 0, OPT_INT, &max_det, "N", "boxes per image at most (default 300)"},
        {"input", 0, OPT_INT, &size, "PX", "input side (default: the model's)"},
        {"rect", 0, OPT_FLAG, &rect, NULL, "pad to multiples of 32 instead of a square"},
        {"agnostic", 0, OPT_FLAG, &agnostic, NULL, "NMS across classes"},
        {"draw", 0, OPT_STR, &draw, "OUT.jpg", "draw the boxes onto a copy of the image"},
        {"threads", 't', OPT_INT, &threads, "N", "compute threads"},
        {"json", 0, OPT_FLAG, &json, NULL, "one JSON object per image"},
        {0}};
    int n = cli_parse(argc, argv, opts, "cvops detect predict MODEL IMAGE... [options]",
                      "Detect objects: prints label, score and the box (x y w h in image "
                      "pixels), best first.");
    if (n < 0) return n == -2 ? EXIT_OK : EXIT_USAGE;
    if (n < 2) {
        fprintf(stderr, "error: name a model and at least one image\n");
        return EXIT_USAGE;
    }
    if (draw && n != 2) {
        fprintf(stderr, "error: --draw takes one image\n");
        return EXIT_USAGE;
    }
    err e;
    det_predictor *p = NULL;
    if (nn_init((int)threads, &e) < 0 || !(p = det_predictor_open(argv[1], 1, &e))) return fail(&e);
    const nn_model *m = det_predictor_model(p);
    det_predict_opts po = {.conf = (float)conf,
                           .iou = (float)iou,
                           .max_det = (int)max_det,
                           .size = (int)size,
                           .rect = rect,
                           .agnostic = agnostic};
    int rc = EXIT_OK;
    for (int i = 2; i <= n && rc == EXIT_OK; i++) {
        image_pixels px = {0};
        det_box *bx = NULL;
        int nb = 0;
        if (read_image(argv[i], &px, &e) < 0) {
            rc = fail(&e);
            break;
        }
        nn_image img = {(int)px.width, (int)px.height, 3, px.stride, px.data};
        int64_t t0 = time_mono_ns();
        if (det_predict(p, &img, &po, &bx, &nb, &e) < 0) {
            image_pixels_free(&px);
            rc = fail(&e);
            break;
        }
        double ms = (double)(time_mono_ns() - t0) / 1e6;
        if (json) {
            sbuf b = SBUF_INIT;
            jw w;
            jw_init(&w, &b);
            jw_obj(&w);
            jw_kstr(&w, "image", argv[i]);
            jw_kint(&w, "width", px.width);
            jw_kint(&w, "height", px.height);
            jw_kdbl(&w, "ms", ms);
            jw_key(&w, "detections");
            jw_arr(&w);
            for (int j = 0; j < nb; j++) {
                jw_obj(&w);
                jw_kstr(&w, "label", nn_model_label(m, bx[j].cls));
                jw_kint(&w, "class", bx[j].cls);
                jw_kdbl(&w, "score", bx[j].score);
                jw_key(&w, "box");
                jw_arr(&w);
                jw_dbl(&w, bx[j].x);
                jw_dbl(&w, bx[j].y);
                jw_dbl(&w, bx[j].w);
                jw_dbl(&w, bx[j].h);
                jw_arr_end(&w);
                jw_obj_end(&w);
            }
            jw_arr_end(&w);
            jw_obj_end(&w);
            printf("%s\n", sbuf_cstr(&b));
            sbuf_free(&b);
        } else {
            printf("%s: %d objects (%ux%u, %.1f ms)\n", argv[i], nb, px.width, px.height, ms);
            for (int j = 0; j < nb; j++) {
                const char *lb = nn_model_label(m, bx[j].cls);
                printf("  %-12s %.3f  %7.1f %7.1f %7.1f %7.1f\n", lb ? lb : "?", bx[j].score,
                       bx[j].x, bx[j].y, bx[j].w, bx[j].h);
            }
        }
        if (draw) {
            int K = nn_model_classes(m) / 3 - 4;
            const char **labels = calloc((size_t)K, sizeof *labels);
            for (int k = 0; labels && k < K; k++)
                labels[k] = nn_model_label(m, k);
            det_draw(px.data, (int)px.width, (int)px.height, px.stride, bx, nb, labels, K);
            free(labels);
            uint8_t *jpg;
            size_t len;
            if (image_encode_jpeg(&px, 90, &jpg, &len, &e) < 0 ||
                write_file(draw, jpg, len, &e) < 0) {
                rc = fail(&e);
            } else {
                free(jpg);
                if (!json) printf("drew %d boxes into %s\n", nb, draw);
            }
        }
        free(bx);
        image_pixels_free(&px);
    }
    det_predictor_free(p);
    return rc;
}

/* --- eval ---------------------------------------------------------------------------------- */

static int eval_cmd(int argc, char **argv)
{
    const char *data = NULL, *split = "val";
    double conf = 0.001, iou = 0.7;
    int64_t threads = 0, batch = 16, workers = 1, size = 0;
    bool json = false;
    cli_opt opts[] = {{"data", 'd', OPT_STR, &data, "DIR", "dataset directory (as for train)"},
                      {"split", 0, OPT_STR, &split, "NAME", "which split (default val)"},
                      {"input", 0, OPT_INT, &size, "PX",
                       "letterbox to PX x PX, a multiple of 32 (default: the model's input)"},
                      {"conf", 0, OPT_DBL, &conf, "X", "score threshold (default 0.001)"},
                      {"iou", 0, OPT_DBL, &iou, "X", "NMS IoU threshold (default 0.7)"},
                      {"batch", 'b', OPT_INT, &batch, "N", "batch (default 16)"},
                      {"workers", 'w', OPT_INT, &workers, "N", "loader threads (default 1)"},
                      {"threads", 't', OPT_INT, &threads, "N", "compute threads"},
                      {"json", 0, OPT_FLAG, &json, NULL, "print the evaluation as JSON"},
                      {0}};
    int n = cli_parse(argc, argv, opts, "cvops detect eval MODEL --data DIR [options]",
                      "COCO mAP of a detector on a dataset split (src/eval).");
    if (n < 0) return n == -2 ? EXIT_OK : EXIT_USAGE;
    if (n != 1 || !data) {
        fprintf(stderr, "error: name a model and --data DIR\n");
        return EXIT_USAGE;
    }
    err e;
    det_dataset *d = NULL;
    nn_model *m = NULL;
    eval_coco *ev = NULL;
    int rc = EXIT_FAIL;
    if (nn_init((int)threads, &e) < 0 || !(m = nn_model_load(argv[1], NULL, &e)) ||
        !(d = open_split(data, split, true, &e)))
        goto out;
    det_metrics mt;
    int64_t t0 = time_mono_ns();
    if (det_evaluate(m, det_dataset_fetch, d, det_dataset_count(d), (int)batch, (float)conf,
                     (float)iou, 300, (int)size, (int)workers, &mt, &ev, &e) < 0)
        goto out;
    double s = (double)(time_mono_ns() - t0) / 1e9;
    sbuf b = SBUF_INIT;
    if (json) {
        jw w;
        jw_init(&w, &b);
        jw_obj(&w);
        eval_coco_write_json(ev, &w);
        jw_kdbl(&w, "seconds", s);
        jw_obj_end(&w);
        printf("%s\n", sbuf_cstr(&b));
    } else {
        eval_coco_summary_text(ev, &b);
        printf("%s%d images in %.1f s\n", sbuf_cstr(&b), mt.images, s);
    }
    sbuf_free(&b);
    rc = EXIT_OK;
out:
    if (rc != EXIT_OK) rc = fail(&e);
    eval_coco_free(ev);
    nn_model_free(m);
    det_dataset_free(d);
    return rc;
}

/* --- bench ---------------------------------------------------------------------------------- */

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Process CPU time in seconds: the work done, whatever the machine's load. */
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

/* Deterministic random images and boxes for the benchmark (the PyTorch
 * script makes the same from the same recipe). */
static void bench_batch(nn_tensor *x, det_box *boxes, int *first, int per, int K)
{
    nn_rng r;
    nn_rng_seed(&r, 1);
    for (size_t i = 0; i < nn_tensor_numel(x); i++)
        x->data[i] = nn_rng_uniform(&r);
    int nb = 0;
    for (int b = 0; b < x->n; b++) {
        first[b] = nb;
        for (int j = 0; j < per; j++) {
            float w = 16 + 96 * nn_rng_uniform(&r), h = 16 + 96 * nn_rng_uniform(&r);
            float x0 = ((float)x->w - w) * nn_rng_uniform(&r);
            float y0 = ((float)x->h - h) * nn_rng_uniform(&r);
            boxes[nb++] = (det_box){x0, y0, w, h, (int)(nn_rng_next(&r) % (uint64_t)K), 1};
        }
    }
    first[x->n] = nb;
}

static int bench_cmd(int argc, char **argv)
{
    int64_t batch = 16, steps = 10, warm = 3, threads = 0, infer_runs = 30, per = 6;
    bool json = false, profile = false;
    o_classes = 8;
    cli_opt opts[] = {
        DET_ARCH_OPTS,
        {"classes", 0, OPT_INT, &o_classes, "K", "classes (default 8)"},
        {"batch", 'b', OPT_INT, &batch, "N", "training batch (default 16)"},
        {"steps", 0, OPT_INT, &steps, "N", "timed training steps (default 10, after 3)"},
        {"boxes", 0, OPT_INT, &per, "N", "boxes per image (default 6)"},
        {"infer-runs", 0, OPT_INT, &infer_runs, "N", "batch-1 inference runs (default 30)"},
        {"threads", 't', OPT_INT, &threads, "N", "compute threads"},
        {"profile", 0, OPT_FLAG, &profile, NULL, "time every node"},
        {"json", 0, OPT_FLAG, &json, NULL, "print one JSON object"},
        {0}};
    int n = cli_parse(argc, argv, opts, "cvops detect bench [options]",
                      "Training step (forward, loss with assignment, backward, AdamW step) and "
                      "batch-1 inference (letterbox, forward, decode, NMS) times; medians.");
    if (n < 0) return n == -2 ? EXIT_OK : EXIT_USAGE;
    if (steps < 1 || steps > 10000 || batch < 1 || infer_runs < 1 || per < 0 || per > 100) {
        fprintf(stderr, "error: steps, batch and runs must be positive\n");
        return EXIT_USAGE;
    }
    err e;
    int rc = EXIT_FAIL, K = (int)o_classes;
    nn_model *m = NULL;
    nn_session *s = NULL;
    nn_optim *o = NULL;
    nn_tensor *x = NULL, *dy = NULL;
    det_box *boxes = NULL;
    int *first = NULL;
    det_predictor *p = NULL;
    uint8_t *img = NULL;
    sbuf prof = SBUF_INIT;
    double *ts = calloc((size_t)(steps > infer_runs ? steps : infer_runs), sizeof *ts);
    double *tf = calloc((size_t)(steps > infer_runs ? steps : infer_runs), sizeof *tf);
    double *tc = calloc((size_t)(steps > infer_runs ? steps : infer_runs), sizeof *tc);
    det_arch_opts ao = arch_opts(K);
    if (!ts || !tf || !tc || nn_init((int)threads, &e) < 0 ||
        !(m = det_model_new(&ao, NULL, 1, &e)) || !(s = nn_session_new(m, &e)))
        goto out;
    nn_optim_cfg oc = {
        .kind = NN_ADAMW, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.05f};
    det_head h;
    det_loss_cfg lc;
    det_loss_cfg_default(&lc);
    if (!(o = nn_optim_new(m, &oc, &e)) || det_head_of(m, &h, &e) < 0) goto out;
    int S = (int)o_input;
    x = nn_tensor_new((int)batch, 3, S, S);
    boxes = malloc((size_t)(batch * per + 1) * sizeof *boxes);
    first = malloc((size_t)(batch + 1) * sizeof *first);
    if (!x || !boxes || !first) {
        err_set(&e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    bench_batch(x, boxes, first, (int)per, K);
    det_loss_out lo = {0};
    double loss_ms = 0;
    for (int64_t i = 0; i < warm + steps; i++) {
        int64_t t0 = time_mono_ns();
        double c0 = cpu_s();
        const nn_tensor *y = nn_forward(s, x, true, &e);
        if (!y) goto out;
        if (!dy && !(dy = nn_tensor_new(y->n, y->c, y->h, y->w))) {
            err_set(&e, ERR_INTERNAL, "out of memory");
            goto out;
        }
        int64_t tl = time_mono_ns();
        if (det_loss(&lc, &h, y, boxes, first, dy, &lo, &e) < 0) goto out;
        double lms = (double)(time_mono_ns() - tl) / 1e6;
        if (nn_backward(s, dy, &e) < 0 || nn_optim_step(o, 1e-4f, NULL, &e) < 0) goto out;
        if (i >= warm) {
            ts[i - warm] = (double)(time_mono_ns() - t0) / 1e9;
            tf[i - warm] = lms;
            tc[i - warm] = cpu_s() - c0;
        }
    }
    double train_step = median(ts, (int)steps);
    double train_cpu = median(tc, (int)steps);
    loss_ms = median(tf, (int)steps);
    if (profile) {
        nn_session_profile(s, true, &e);
        for (int i = 0; i < 3; i++) {
            const nn_tensor *y = nn_forward(s, x, true, &e);
            if (!y || nn_backward(s, dy, &e) < 0) goto out;
        }
        sbuf_printf(&prof, "training, 3 steps:\n");
        nn_session_profile_report(s, &prof);
        /* inference (batch 1, fused plan) on a fresh session */
        nn_session *si = nn_session_new(m, &e);
        nn_tensor *x1 = nn_tensor_new(1, 3, S, S);
        bool ok =
            si && x1 && nn_forward(si, x1, false, &e) && nn_session_profile(si, true, &e) == 0;
        for (int i = 0; ok && i < 10; i++)
            ok = nn_forward(si, x1, false, &e) != NULL;
        if (ok) {
            sbuf_printf(&prof, "inference, batch 1, 10 runs:\n");
            nn_session_profile_report(si, &prof);
        }
        nn_tensor_free(x1);
        nn_session_free(si);
        if (!ok) goto out;
    }
    nn_session_free(s);
    s = NULL;
    /* batch-1 inference through the predictor: letterbox, forward, decode, NMS */
    nn_model *m2 = NULL;
    {
        sbuf ab = SBUF_INIT;
        if (det_arch(&ao, &ab, &e) < 0) {
            sbuf_free(&ab);
            goto out;
        }
        m2 = nn_model_new(sbuf_cstr(&ab), 1, &e);
        sbuf_free(&ab);
    }
    if (!m2 || !(p = det_predictor_new(m2, 1, &e))) goto out;
    img = malloc((size_t)S * (size_t)S * 3);
    if (!img) {
        err_set(&e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < (size_t)S * (size_t)S * 3; i++)
        img[i] = (uint8_t)(x->data[i] * 255);
    nn_image im = {S, S, 3, (size_t)S * 3, img};
    det_predict_opts po = {.conf = 0.25f};
    for (int64_t i = 0; i < 3 + infer_runs; i++) {
        det_box *bx;
        int nb;
        int64_t t0 = time_mono_ns();
        double c0 = cpu_s();
        if (det_predict(p, &im, &po, &bx, &nb, &e) < 0) goto out;
        free(bx);
        if (i >= 3) {
            ts[i - 3] = (double)(time_mono_ns() - t0) / 1e9;
            tc[i - 3] = cpu_s() - c0;
        }
    }
    double infer = median(ts, (int)infer_runs);
    double infer_cpu = median(tc, (int)infer_runs);
    if (json)
        printf("{\"size\":\"%s\",\"input\":%d,\"batch\":%lld,\"threads\":%d,\"params\":%zu,"
               "\"train_step_ms\":%.2f,\"train_img_s\":%.2f,\"train_cpu_ms\":%.2f,\"loss_ms\":%.2f,"
               "\"infer_ms\":%.2f,\"infer_cpu_ms\":%.2f,\"final_loss\":%.4f,\"peak_rss_mb\":%ld}\n",
               o_size, S, (long long)batch, nn_threads(), nn_model_param_count(m), train_step * 1e3,
               (double)batch / train_step, train_cpu * 1e3, loss_ms, infer * 1e3, infer_cpu * 1e3,
               lo.total, peak_rss_mb());
    else
        printf("%s detector %dx%d, batch %lld, %d threads, %zu parameters\n"
               "  train step   %8.2f ms  %8.2f img/s  (loss + assignment %.2f ms; CPU %.2f ms)\n"
               "  infer        %8.2f ms  (batch 1, letterbox + forward + NMS, median of %lld; "
               "CPU %.2f ms)\n",
               o_size, S, S, (long long)batch, nn_threads(), nn_model_param_count(m),
               train_step * 1e3, (double)batch / train_step, loss_ms, train_cpu * 1e3, infer * 1e3,
               (long long)infer_runs, infer_cpu * 1e3);
    if (profile) fputs(sbuf_cstr(&prof), stderr);
    rc = EXIT_OK;
out:
    if (rc != EXIT_OK) fprintf(stderr, "error: %s\n", e.msg);
    sbuf_free(&prof);
    free(ts);
    free(tf);
    free(tc);
    free(img);
    free(boxes);
    free(first);
    nn_tensor_free(x);
    nn_tensor_free(dy);
    nn_optim_free(o);
    nn_session_free(s);
    nn_model_free(m);
    det_predictor_free(p);
    return rc;
}

int cmd_detect(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"arch", arch_cmd, "print the detector's architecture (JSON)"},
        {"train", train_cmd, "train a detector on a COCO dataset directory, locally"},
        {"predict", predict_cmd, "detect objects in images (--draw OUT.jpg to see them)"},
        {"eval", eval_cmd, "COCO mAP of a detector on a dataset split"},
        {"bench", bench_cmd, "training and inference speed"},
        {NULL, NULL, NULL}};
    return cli_dispatch("cvops detect", argc, argv, sub);
}
