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
 * One line per image: the file, then the best classes with their scores;
 * --json prints one JSON object per image instead. Exit status 1 when an
 * image could not be read or predicted (the others are still printed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"
#include "cli/client_cli.h"
#include "image/image.h"
#include "nn/nn.h"

#define MAX_IMAGE_FILE (256L << 20)

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

static int run_local(const char *model_file, char **images, int n, int k, int64_t threads,
                     bool json)
{
    err e;
    if (nn_init((int)threads, &e) != 0 || image_lib_init(&e) != 0) {
        fprintf(stderr, "error: %s\n", e.msg);
        return EXIT_FAIL;
    }
    nn_predictor *p = nn_predictor_open(model_file, 1, &e);
    if (!p) {
        fprintf(stderr, "error: %s: %s\n", model_file, e.msg);
        return EXIT_FAIL;
    }
    int rc = EXIT_OK;
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
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"checkpoint", 'c', OPT_STR, &checkpoint, "FILE", "a cvops checkpoint (.safetensors), run here"},
        {"experiment", 'e', OPT_INT, &exp, "ID", "an experiment's trained model, downloaded and run here"},
        {"deployment", 'd', OPT_INT, &dep, "ID", "a serving deployment (the server predicts)"},
        {"top", 'k', OPT_INT, &top, "N", "classes to show (1-8, default 5)"},
        {"threads", 't', OPT_INT, &threads, "N", "compute threads for local runs (default: all cores)"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    const char *usage =
        "cvops predict (--checkpoint FILE | --experiment ID | --deployment ID) IMAGE...";
    int npos = cli_parse(argc, argv, opts, usage,
                         "Print the classes and scores a model gives each image.");
    if (npos < 0)
        return npos == -2 ? EXIT_OK : EXIT_USAGE;
    if ((checkpoint != NULL) + (exp > 0) + (dep > 0) != 1) {
        fprintf(stderr, "error: give one of --checkpoint, --experiment or --deployment\n");
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
        return run_local(checkpoint, argv + 1, npos, (int)top, threads, c.json);
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
            rc = run_local(path, argv + 1, npos, (int)top, threads, c.json);
            unlink(path);
        }
    }
    cvops_client_free(cl);
    return rc;
}
