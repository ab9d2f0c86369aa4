/*
 * predict.c - `cvops predict`: classes and scores for images, from
 *
 *   --checkpoint FILE   a cvops checkpoint, on this machine (no server)
 *   --experiment ID     an experiment's model (model.safetensors, else
 *                       checkpoints/best.safetensors), downloaded through
 *                       the API and run here
 *   --deployment ID     a serving deployment's predict endpoint (the server
 *                       runs the champion and records the prediction)
 *
 * The model may also be named by position: `cvops predict MODEL IMAGE...`
 * with MODEL a checkpoint file or an experiment id.
 *
 * Classifiers: one line per image: the file, then the best classes with
 * their scores. Detectors (checkpoints whose metadata says "detector",
 * src/detect): a line per image, then one per box: label, score, x y w h
 * in the original image's pixels, best first; --score and --nms are the
 * thresholds, --draw OUT.jpg draws the boxes onto a copy of the image
 * (OUT-2.jpg, OUT-3.jpg... for the following images). --json prints one
 * JSON object per image instead. Exit status 1 when an image could not be
 * read or predicted (the others are still printed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"
#include "cli/client_cli.h"
#include "detect/detect.h"
#include "image/image.h"
#include "nn/nn.h"

#define MAX_IMAGE_FILE (256L << 20)

typedef struct det_opts {
    double score, nms;
    int64_t max_det;
    const char *draw;
} det_opts;

static int read_file(const char *path, sbuf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0 && out->len < (size_t)MAX_IMAGE_FILE)
        sbuf_put(out, buf, n);
    int bad = ferror(f) || sbuf_failed(out);
    fclose(f);
    return bad ? -1 : 0;
}

/* Decodes at the model's input size and channels, predicts the k best. */
static int predict_local(nn_predictor *p, const sbuf *bytes, int k, nn_topk *top, double *ms,
                         err *e)
{
    const nn_model *m = nn_predictor_model(p);
    int c, h, w;
    nn_model_input(m, &c, &h, &w);
    image_info info;
    if (image_probe(bytes->p, bytes->len, &info, e) != 0)
        return -1;
    int side = h > w ? h : w;
    image_decode_opts o = {.channels = (uint8_t)(c == 1 ? 1 : 3)};
    uint32_t lo = info.width < info.height ? info.width : info.height;
    uint32_t hi = info.width < info.height ? info.height : info.width;
    if (lo > (uint32_t)side)
        o.target_side = (uint32_t)((double)side * hi / lo + 0.999);
    int64_t t0 = time_mono_ns();
    image_pixels px;
    if (image_decode(bytes->p, bytes->len, &o, &px, e) != 0)
        return -1;
    nn_image img = {(int)px.width, (int)px.height, px.channels, px.stride, px.data};
    int classes = nn_model_classes(m);
    int rc = nn_predict(p, &img, 1, k < classes ? k : classes, top, e);
    *ms = (double)(time_mono_ns() - t0) / 1e6;
    image_pixels_free(&px);
    return rc;
}

static void print_local(const char *file, const nn_model *m, const nn_topk *top, double ms,
                        bool json)
{
    if (json) {
        json_t *cls = json_array();
        for (int i = 0; i < top->k; i++) {
            const char *l = nn_model_label(m, top->cls[i]);
            char fb[32];
            snprintf(fb, sizeof fb, "class %d", top->cls[i]);
            json_array_append_new(cls, json_pack("{s:s, s:f}", "label", l ? l : fb, "score",
                                                 (double)top->score[i]));
        }
        json_t *o = json_pack("{s:s, s:o, s:f}", "image", file, "classes", cls, "latency_ms", ms);
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
        return;
    }
    printf("%s", file);
    for (int i = 0; i < top->k; i++) {
        const char *l = nn_model_label(m, top->cls[i]);
        if (l)
            printf("  %s %.3f", l, top->score[i]);
        else
            printf("  class %d %.3f", top->cls[i], top->score[i]);
    }
    printf("\n");
}

/* Is the checkpoint's "extra" metadata a detector's (src/detect)? */
static bool is_detector(const char *extra)
{
    json_t *x = extra ? json_loads(extra, 0, NULL) : NULL;
    const char *f = json_string_value(json_object_get(json_object_get(x, "detector"), "format"));
    bool yes = f && strcmp(f, DET_FORMAT) == 0;
    json_decref(x);
    return yes;
}

/* OUT.jpg for the first image, OUT-2.jpg, OUT-3.jpg... for the next ones. */
static void draw_path(const char *draw, int i, char *out, size_t n)
{
    if (i == 0) {
        snprintf(out, n, "%s", draw);
        return;
    }
    const char *dot = strrchr(draw, '.'), *slash = strrchr(draw, '/');
    if (!dot || (slash && dot < slash))
        dot = draw + strlen(draw);
    snprintf(out, n, "%.*s-%d%s", (int)(dot - draw), draw, i + 1, dot);
}

static int write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(p, 1, n, f) == n;
    if (f && fclose(f) != 0)
        ok = false;
    return ok ? 0 : -1;
}

/* One image through the detector: printed, and drawn with --draw. */
static int detect_one(det_predictor *p, const char *file, int index, const det_opts *o, bool json)
{
    const nn_model *m = det_predictor_model(p);
    sbuf b = SBUF_INIT;
    err e;
    if (read_file(file, &b) != 0) {
        sbuf_free(&b);
        fprintf(stderr, "error: cannot read %s\n", file);
        return EXIT_FAIL;
    }
    image_decode_opts io = {.channels = 3};
    image_pixels px;
    int rc = image_decode(b.p, b.len, &io, &px, &e);
    sbuf_free(&b);
    if (rc != 0) {
        fprintf(stderr, "error: %s: %s\n", file, e.msg);
        return EXIT_FAIL;
    }
    det_predict_opts po = {.conf = (float)o->score, .iou = (float)o->nms, .max_det = (int)o->max_det};
    nn_image img = {(int)px.width, (int)px.height, 3, px.stride, px.data};
    det_box *bx = NULL;
    int nb = 0;
    int64_t t0 = time_mono_ns();
    if (det_predict(p, &img, &po, &bx, &nb, &e) != 0) {
        image_pixels_free(&px);
        fprintf(stderr, "error: %s: %s\n", file, e.msg);
        return EXIT_FAIL;
    }
    double ms = (double)(time_mono_ns() - t0) / 1e6;
    char drawn[1100] = "";
    if (o->draw) {
        det_head h;
        det_head_of(m, &h, &e);
        const char **labels = calloc((size_t)h.classes, sizeof *labels);
        for (int k = 0; labels && k < h.classes; k++)
            labels[k] = nn_model_label(m, k);
        det_draw(px.data, (int)px.width, (int)px.height, px.stride, bx, nb, labels, h.classes);
        free(labels);
        draw_path(o->draw, index, drawn, sizeof drawn);
        uint8_t *jpg = NULL;
        size_t len = 0;
        if (image_encode_jpeg(&px, 90, &jpg, &len, &e) != 0 || write_bytes(drawn, jpg, len) != 0) {
            fprintf(stderr, "error: cannot write %s%s%s\n", drawn, jpg ? "" : ": ", jpg ? "" : e.msg);
            free(jpg);
            free(bx);
            image_pixels_free(&px);
            return EXIT_FAIL;
        }
        free(jpg);
    }
    if (json) {
        json_t *dets = json_array();
        for (int j = 0; j < nb; j++) {
            const char *l = nn_model_label(m, bx[j].cls);
            json_array_append_new(dets, json_pack("{s:s, s:i, s:f, s:f, s:f, s:f, s:f}", "label",
                                                  l ? l : "?", "class", bx[j].cls, "score",
                                                  (double)bx[j].score, "x", (double)bx[j].x, "y",
                                                  (double)bx[j].y, "w", (double)bx[j].w, "h",
                                                  (double)bx[j].h));
        }
        json_t *out = json_pack("{s:s, s:i, s:i, s:o, s:f}", "image", file, "width", (int)px.width,
                                "height", (int)px.height, "boxes", dets, "latency_ms", ms);
        if (drawn[0])
            json_object_set_new(out, "drawn", json_string(drawn));
        char *s = json_dumps(out, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(out);
    } else {
        printf("%s  %d box(es) (%ux%u, %.1f ms)\n", file, nb, px.width, px.height, ms);
        for (int j = 0; j < nb; j++) {
            const char *l = nn_model_label(m, bx[j].cls);
            printf("  %.1f %.1f %.1f %.1f  %s %.3f\n", bx[j].x, bx[j].y, bx[j].w, bx[j].h,
                   l ? l : "?", bx[j].score);
        }
        if (drawn[0])
            printf("  drawn into %s\n", drawn);
    }
    free(bx);
    image_pixels_free(&px);
    return EXIT_OK;
}

static int run_local(const char *model_file, char **images, int n, int k, int64_t threads,
                     const det_opts *dopt, bool json)
{
    err e;
    if (nn_init((int)threads, &e) != 0 || image_lib_init(&e) != 0) {
        fprintf(stderr, "error: %s\n", e.msg);
        return EXIT_FAIL;
    }
    char *extra = NULL;
    nn_model *model = nn_model_load(model_file, &extra, &e);
    if (!model) {
        fprintf(stderr, "error: %s: %s\n", model_file, e.msg);
        return EXIT_FAIL;
    }
    bool det = is_detector(extra);
    free(extra);
    int rc = EXIT_OK;
    if (det) {
        det_predictor *dp = det_predictor_new(model, 1, &e);
        if (!dp) {
            fprintf(stderr, "error: %s: %s\n", model_file, e.msg);
            return EXIT_FAIL;
        }
        for (int i = 0; i < n; i++)
            if (detect_one(dp, images[i], i, dopt, json) != EXIT_OK)
                rc = EXIT_FAIL;
        det_predictor_free(dp);
        return rc;
    }
    if (dopt->draw) {
        nn_model_free(model);
        fprintf(stderr, "error: %s is a classifier; --draw draws a detector's boxes\n", model_file);
        return EXIT_USAGE;
    }
    nn_predictor *p = nn_predictor_new(model, 1, &e);
    if (!p) {
        fprintf(stderr, "error: %s: %s\n", model_file, e.msg);
        return EXIT_FAIL;
    }
    for (int i = 0; i < n; i++) {
        sbuf b = SBUF_INIT;
        nn_topk top;
        double ms = 0;
        if (read_file(images[i], &b) != 0) {
            fprintf(stderr, "error: cannot read %s\n", images[i]);
            rc = EXIT_FAIL;
        } else if (predict_local(p, &b, k, &top, &ms, &e) != 0) {
            fprintf(stderr, "error: %s: %s\n", images[i], e.msg);
            rc = EXIT_FAIL;
        } else {
            print_local(images[i], nn_predictor_model(p), &top, ms, json);
        }
        sbuf_free(&b);
    }
    nn_predictor_free(p);
    return rc;
}

/* The experiment's model into a temporary file. */
static int fetch_model(cvops_client *cl, int64_t exp, char *path, size_t n)
{
    static const char *const names[] = {"model.safetensors", "checkpoints/best.safetensors",
                                        "checkpoints/last.safetensors"};
    const char *tmp = getenv("TMPDIR");
    snprintf(path, n, "%s/cvops-predict-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        fprintf(stderr, "error: cannot create a temporary file\n");
        return EXIT_FAIL;
    }
    close(fd);
    cvops_code code = CVOPS_E_NOT_FOUND;
    for (size_t i = 0; i < sizeof names / sizeof *names && code == CVOPS_E_NOT_FOUND; i++) {
        FILE *f = fopen(path, "wb");
        if (!f)
            break;
        code = cvops_experiment_download_artifact(cl, exp, names[i], f);
        fclose(f);
    }
    if (code != CVOPS_OK) {
        unlink(path);
        if (code == CVOPS_E_NOT_FOUND) {
            fprintf(stderr,
                    "error: experiment %lld has no model (model.safetensors or "
                    "checkpoints/best.safetensors); train it with cvops experiment launch\n",
                    (long long)exp);
            return EXIT_NOTFOUND;
        }
        return cli_fail(cl, code);
    }
    return EXIT_OK;
}

static int run_deployment(cvops_client *cl, int64_t dep, char **images, int n, int k, bool json)
{
    int rc = EXIT_OK;
    for (int i = 0; i < n; i++) {
        const char *base = strrchr(images[i], '/');
        base = base ? base + 1 : images[i];
        char *esc = cli_escape(base);
        char path[1200];
        snprintf(path, sizeof path, "/api/v1/deployments/%lld/predict?top_k=%d&filename=%s",
                 (long long)dep, k, esc ? esc : "");
        free(esc);
        char *out = NULL;
        cvops_code code =
            cvops_upload_file(cl, "POST", path, images[i], "application/octet-stream", &out);
        if (code != CVOPS_OK) {
            fprintf(stderr, "error: %s: %s\n", images[i], cvops_client_errmsg(cl));
            rc = code == CVOPS_E_CONNECT || code == CVOPS_E_AUTH ? cli_exit_code(code) : EXIT_FAIL;
            if (code == CVOPS_E_CONNECT || code == CVOPS_E_AUTH || code == CVOPS_E_NOT_FOUND)
                break;
            continue;
        }
        json_t *j = json_loads(out, 0, NULL);
        cvops_free(out);
        if (json) {
            json_object_set_new(j, "image", json_string(images[i]));
            char *s = json_dumps(j, JSON_COMPACT);
            printf("%s\n", s);
            free(s);
        } else {
            printf("%s", images[i]);
            size_t x;
            json_t *c;
            json_array_foreach(json_object_get(j, "classes"), x, c)
                printf("  %s %.3f", json_string_value(json_object_get(c, "label")),
                       json_number_value(json_object_get(c, "score")));
            json_array_foreach(json_object_get(j, "boxes"), x, c)
                printf("  %s %.3f [%.0f %.0f %.0f %.0f]",
                       json_string_value(json_object_get(c, "label")),
                       json_number_value(json_object_get(c, "score")),
                       json_number_value(json_object_get(c, "x")),
                       json_number_value(json_object_get(c, "y")),
                       json_number_value(json_object_get(c, "w")),
                       json_number_value(json_object_get(c, "h")));
            printf("  (%.1f ms, prediction %lld)\n",
                   json_number_value(json_object_get(j, "latency_ms")),
                   (long long)json_integer_value(json_object_get(j, "prediction_id")));
        }
        json_decref(j);
    }
    return rc;
}

int cmd_predict(int argc, char **argv)
{
    cli_conn c = {0};
    const char *checkpoint = NULL;
    int64_t exp = 0, dep = 0, top = 5, threads = 0;
    det_opts dopt = {.score = 0.25, .nms = 0.7, .max_det = 300};
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"checkpoint", 'c', OPT_STR, &checkpoint, "FILE", "a cvops checkpoint (.safetensors), run here"},
        {"experiment", 'e', OPT_INT, &exp, "ID", "an experiment's trained model, downloaded and run here"},
        {"deployment", 'd', OPT_INT, &dep, "ID", "a serving deployment (the server predicts)"},
        {"top", 'k', OPT_INT, &top, "N", "classes to show (1-8, default 5)"},
        {"threads", 't', OPT_INT, &threads, "N", "compute threads for local runs (default: all cores)"},
        {"score", 0, OPT_DBL, &dopt.score, "X", "detectors: score threshold (default 0.25)"},
        {"nms", 0, OPT_DBL, &dopt.nms, "X", "detectors: NMS IoU threshold (default 0.7)"},
        {"max-det", 0, OPT_INT, &dopt.max_det, "N", "detectors: boxes per image at most (default 300)"},
        {"draw", 0, OPT_STR, &dopt.draw, "OUT.jpg", "detectors: draw the boxes onto a copy of the image"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    const char *usage =
        "cvops predict (--checkpoint FILE | --experiment ID | --deployment ID | MODEL) IMAGE...";
    int npos = cli_parse(argc, argv, opts, usage,
                         "Print the classes and scores a classifier gives each image, or the "
                         "boxes a detector finds (label, score, x y w h in image pixels). MODEL: "
                         "a checkpoint file or an experiment id.");
    if (npos < 0)
        return npos == -2 ? EXIT_OK : EXIT_USAGE;
    if (!checkpoint && exp <= 0 && dep <= 0 && npos >= 2) {
        /* the model by position: a file, else an experiment id */
        const char *a = argv[1];
        char *end;
        long long id = strtoll(a, &end, 10);
        if (access(a, F_OK) == 0)
            checkpoint = a;
        else if (*a && !*end && id > 0)
            exp = id;
        else {
            fprintf(stderr,
                    "error: '%s' is neither a checkpoint file nor an experiment id; usage: %s\n",
                    a, usage);
            return EXIT_USAGE;
        }
        argv++;
        npos--;
    }
    if ((checkpoint != NULL) + (exp > 0) + (dep > 0) != 1) {
        fprintf(stderr, "error: give one of --checkpoint, --experiment or --deployment\n");
        return EXIT_USAGE;
    }
    if (!(dopt.score >= 0 && dopt.score <= 1) || !(dopt.nms > 0 && dopt.nms <= 1) ||
        dopt.max_det < 1 || dopt.max_det > 100000) {
        fprintf(stderr, "error: --score must be in [0, 1], --nms in (0, 1] and --max-det in "
                        "[1, 100000]\n");
        return EXIT_USAGE;
    }
    if (dep > 0 && dopt.draw) {
        fprintf(stderr, "error: --draw runs the model here: use --checkpoint or --experiment\n");
        return EXIT_USAGE;
    }
    if (npos < 1) {
        fprintf(stderr, "error: name at least one image; usage: %s\n", usage);
        return EXIT_USAGE;
    }
    if (top < 1 || top > 8) {
        fprintf(stderr, "error: --top must be between 1 and 8\n");
        return EXIT_USAGE;
    }
    if (checkpoint)
        return run_local(checkpoint, argv + 1, npos, (int)top, threads, &dopt, c.json);
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int rc;
    if (dep > 0) {
        rc = run_deployment(cl, dep, argv + 1, npos, (int)top, c.json);
    } else {
        char path[512];
        rc = fetch_model(cl, exp, path, sizeof path);
        if (rc == EXIT_OK) {
            rc = run_local(path, argv + 1, npos, (int)top, threads, &dopt, c.json);
            unlink(path);
        }
    }
    cvops_client_free(cl);
    return rc;
}
