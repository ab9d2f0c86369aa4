/*
 * evaluation.c - `cvops evaluation ...`: evaluations of an experiment from
 * the command line (docs/evaluation.md).
 *
 *   cvops evaluation create EXPERIMENT --version ID [--name N] [--task T]
 *   cvops evaluation list EXPERIMENT
 *   cvops evaluation predictions EVAL FILE [--coco] [--mode replace|append]
 *   cvops evaluation run EVAL [--ground-truth M] [--split S] [--iou-thr X]
 *                             [--score-thr X] [--no-wait]
 *   cvops evaluation show EVAL
 *   cvops evaluation images EVAL [--has-fp] [--has-fn] [--label L]
 *                               [--order-by O] [--limit N]
 *
 * `predictions` sends a JSON file in requests of at most 5,000 images and
 * 50,000 predictions: either the API's own items ([{"asset_id" or
 * "data_id", "shapes": [...]}], bare or under "predictions"), or with
 * --coco a COCO results array ([{"image_id", "category_id", "score",
 * "bbox" | "segmentation" | "keypoints"}]). With --gt GT.json (the COCO
 * file the results refer to, e.g. the version exported by `cvops dataset
 * export`), image ids are matched to the version's assets by file name and
 * category ids to its labels by name; without it, image ids are asset ids
 * and category ids label ids.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/client_cli.h"
#include "cli/evaluation_stream.h"

#define CHUNK_IMAGES 5000
#define CHUNK_SHAPES 50000

static bool valid_id(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

static const cli_col eval_cols[] = {{"id", "ID"},           {"name", "NAME"},
                                    {"dataset", "DATASET"}, {"dataset_version", "VERSION"},
                                    {"task", "TASK"},       {"status", "STATUS"},
                                    {"predictions", "PREDICTIONS"}, {"evaluated_at", "EVALUATED"}};

static int create(int argc, char **argv)
{
    cli_conn c = {0};
    const char *name = NULL, *task = NULL, *prefix = NULL;
    int64_t version = 0;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"version", 'V', OPT_INT, &version, "ID", "the dataset version (required)"},
        {"name", 'n', OPT_STR, &name, "NAME", "a name, unique in the experiment"},
        {"task", 0, OPT_STR, &task, "TASK", "detection, segmentation, keypoints, classification"},
        {"metric-prefix", 0, OPT_STR, &prefix, "P", "prefix of the metrics logged (eval/)"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops evaluation create EXPERIMENT --version ID [--name N] [--task T]",
          "Create an evaluation of an experiment on a dataset version.")
    if (npos != 1 || !valid_id(argv[1]) || version <= 0) {
        fprintf(stderr, "error: give the experiment id and --version; usage: cvops evaluation "
                        "create EXPERIMENT --version ID\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    json_t *body = json_pack("{s:I}", "dataset_version_id", (json_int_t)version);
    if (name)
        json_object_set_new(body, "name", json_string(name));
    if (task)
        json_object_set_new(body, "task", json_string(task));
    if (prefix)
        json_object_set_new(body, "metric_prefix", json_string(prefix));
    char path[96];
    snprintf(path, sizeof path, "/api/v1/experiments/%s/evaluations", argv[1]);
    int rc;
    json_t *j = cli_call(cl, "POST", path, body, &rc);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            cli_print_object(j, eval_cols, 6);
    }
    json_decref(j);
    json_decref(body);
    cvops_client_free(cl);
    return rc;
}

static int list(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops evaluation list EXPERIMENT [--json]", "The experiment's evaluations.")
    if (npos != 1 || !valid_id(argv[1])) {
        fprintf(stderr, "error: give one experiment id\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/experiments/%s/evaluations", argv[1]);
    int rc;
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            cli_print_table(json_object_get(j, "items"), eval_cols, 8);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static void print_summary(json_t *ev)
{
    json_t *s = json_object_get(ev, "summary");
    printf("evaluation %lld '%s': %s, %s\n", (long long)json_integer_value(json_object_get(ev, "id")),
           json_string_value(json_object_get(ev, "name")),
           json_string_value(json_object_get(ev, "task")),
           json_string_value(json_object_get(ev, "status")));
    const char *err = json_string_value(json_object_get(ev, "error"));
    if (err)
        printf("error: %s\n", err);
    if (!json_is_object(s))
        return;
    const char *text = json_string_value(json_object_get(s, "text"));
    if (text)
        fputs(text, stdout);
    json_t *d = json_object_get(s, "detail");
    if (json_is_object(d)) {
        json_t *er = json_object_get(d, "errors");
        printf("at IoU >= %g, score >= %g: %lld TP, %lld FP, %lld FN; errors: classification %lld,"
               " localization %lld, both %lld, duplicate %lld, background %lld, missed %lld\n",
               json_number_value(json_object_get(d, "iou_thr")),
               json_number_value(json_object_get(d, "score_thr")),
               (long long)json_integer_value(json_object_get(d, "tp")),
               (long long)json_integer_value(json_object_get(d, "fp")),
               (long long)json_integer_value(json_object_get(d, "fn")),
               (long long)json_integer_value(json_object_get(er, "classification")),
               (long long)json_integer_value(json_object_get(er, "localization")),
               (long long)json_integer_value(json_object_get(er, "both")),
               (long long)json_integer_value(json_object_get(er, "duplicate")),
               (long long)json_integer_value(json_object_get(er, "background")),
               (long long)json_integer_value(json_object_get(er, "missed")));
    }
    json_t *m = json_object_get(s, "metrics");
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) printf("%-20s %.4f\n", k, json_number_value(v));
}

static int show(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops evaluation show EVAL [--json]",
          "An evaluation's status and summary (the COCO lines, or classification metrics).")
    if (npos != 1 || !valid_id(argv[1])) {
        fprintf(stderr, "error: give one evaluation id\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/evaluations/%s", argv[1]);
    int rc;
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            print_summary(j);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

/* The COCO ids of --gt, as asset and label ids of the evaluation's version. */
typedef struct remap_ctx {
    json_t *img_asset; /* "<image id>": asset id, -1 = a file name used by several assets */
    json_t *cat_label; /* "<category id>": label id */
    const char *gt_path;
    long long version;
} remap_ctx;

/* Maps the image / category ids of the COCO ground truth the results refer
 * to onto asset and label ids: file names and category names, matched
 * against the evaluation's dataset version. */
static int coco_maps(cvops_client *cl, const char *eval, const char *gt_path, remap_ctx *m)
{
    json_error_t je;
    json_t *gt = json_load_file(gt_path, 0, &je);
    if (!gt) {
        fprintf(stderr, "error: %s: %s (line %d)\n", gt_path, je.text, je.line);
        return EXIT_FAIL;
    }
    int rc;
    char path[256];
    snprintf(path, sizeof path, "/api/v1/evaluations/%s", eval);
    json_t *ev = cli_call(cl, "GET", path, NULL, &rc);
    json_t *img_asset = json_object(), *cat_label = json_object(), *by_name = json_object();
    if (!ev)
        goto out;
    long long v = (long long)json_integer_value(json_object_get(ev, "dataset_version_id"));
    /* the version's assets by file name (a name used twice cannot be matched) */
    char cursor[64] = "";
    for (;;) {
        snprintf(path, sizeof path, "/api/v1/dataset-versions/%lld/assets?limit=1000%s%s", v,
                 cursor[0] ? "&cursor=" : "", cursor);
        json_t *pg = cli_call(cl, "GET", path, NULL, &rc);
        if (!pg)
            goto out;
        json_t *items = json_object_get(pg, "items");
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *a = json_array_get(items, i);
            const char *fn = json_string_value(json_object_get(a, "filename"));
            if (!fn)
                continue;
            json_object_set_new(by_name, fn, json_object_get(by_name, fn)
                                                 ? json_integer(-1)
                                                 : json_integer(json_integer_value(json_object_get(a, "id"))));
        }
        const char *next = json_string_value(json_object_get(pg, "next_cursor"));
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        json_decref(pg);
        if (!cursor[0])
            break;
    }
    json_t *imgs = json_object_get(gt, "images");
    for (size_t i = 0; i < json_array_size(imgs); i++) {
        json_t *im = json_array_get(imgs, i);
        const char *fn = json_string_value(json_object_get(im, "file_name"));
        json_t *a = fn ? json_object_get(by_name, fn) : NULL;
        if (!a) {
            /* "train/a.jpg" finds "a.jpg", as the importer does */
            const char *base = fn ? strrchr(fn, '/') : NULL;
            a = base ? json_object_get(by_name, base + 1) : NULL;
        }
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(json_object_get(im, "id")));
        if (a)
            json_object_set(img_asset, key, a);
    }
    snprintf(path, sizeof path, "/api/v1/dataset-versions/%lld/labels", v);
    json_t *labels = cli_call(cl, "GET", path, NULL, &rc);
    if (!labels)
        goto out;
    json_t *cats = json_object_get(gt, "categories"), *litems = json_object_get(labels, "items");
    for (size_t i = 0; i < json_array_size(cats); i++) {
        json_t *c = json_array_get(cats, i);
        const char *name = json_string_value(json_object_get(c, "name"));
        for (size_t k = 0; name && k < json_array_size(litems); k++) {
            json_t *l = json_array_get(litems, k);
            if (strcmp(json_string_value(json_object_get(l, "name")), name) == 0) {
                char key[32];
                snprintf(key, sizeof key, "%lld",
                         (long long)json_integer_value(json_object_get(c, "id")));
                json_object_set(cat_label, key, json_object_get(l, "id"));
            }
        }
    }
    json_decref(labels);
    m->img_asset = img_asset;
    m->cat_label = cat_label;
    m->gt_path = gt_path;
    m->version = v;
    img_asset = cat_label = NULL;
    rc = EXIT_OK;
out:
    json_decref(ev);
    json_decref(gt);
    json_decref(img_asset);
    json_decref(cat_label);
    json_decref(by_name);
    return rc;
}

/* evaluation_stream's remap: result i's ids through the maps. */
static int remap_ids(void *ctx, size_t i, int64_t *image_id, int64_t *category_id, char *why,
                     size_t wn)
{
    const remap_ctx *m = ctx;
    char ik[32], ck[32];
    snprintf(ik, sizeof ik, "%lld", (long long)*image_id);
    snprintf(ck, sizeof ck, "%lld", (long long)*category_id);
    json_t *a = json_object_get(m->img_asset, ik), *l = json_object_get(m->cat_label, ck);
    if (!a || json_integer_value(a) < 0) {
        snprintf(why, wn, "results[%zu]: image %s of %s %s in dataset version %lld%s", i, ik,
                 m->gt_path, a ? "has a file name used by several assets" : "matches no asset by file name",
                 m->version, a ? "" : " (add the images to the version first)");
        return -1;
    }
    if (!l) {
        snprintf(why, wn, "results[%zu]: category %s of %s is no label of dataset version %lld", i,
                 ck, m->gt_path, m->version);
        return -1;
    }
    *image_id = json_integer_value(a);
    *category_id = json_integer_value(l);
    return 0;
}

typedef struct send_ctx {
    cvops_client *cl;
    const char *path;
    bool json;
    size_t sent_img, sent_shapes, total_img, done_img;
    int rc;
} send_ctx;

/* evaluation_stream's send: one request. */
static int send_body(void *ctx, const char *body, size_t len, size_t images, size_t shapes,
                     size_t total_images)
{
    (void)len;
    (void)shapes;
    send_ctx *s = ctx;
    s->total_img = total_images;
    char *out = NULL;
    cvops_code code = cvops_call(s->cl, "POST", s->path, body, &out);
    if (code != CVOPS_OK) {
        s->rc = cli_fail(s->cl, code);
        return s->rc;
    }
    json_t *j = json_loads(out ? out : "null", JSON_DECODE_ANY, NULL);
    cvops_free(out);
    s->sent_img += (size_t)json_integer_value(json_object_get(j, "assets"));
    s->sent_shapes += (size_t)json_integer_value(json_object_get(j, "predictions"));
    json_decref(j);
    s->done_img += images;
    if (!s->json)
        cli_progress(NULL, s->total_img ? (double)s->done_img / (double)s->total_img : 1,
                     "uploading predictions");
    return 0;
}

static int predictions(int argc, char **argv)
{
    cli_conn c = {0};
    bool coco = false;
    const char *mode = "replace", *gt = NULL;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"coco", 0, OPT_FLAG, &coco, NULL, "FILE is a COCO results array (image_id = asset id)"},
        {"gt", 0, OPT_STR, &gt, "GT.json",
         "--coco: the COCO file the results refer to (images by file name, categories by name)"},
        {"mode", 'm', OPT_STR, &mode, "MODE", "replace (the images' predictions; default) or append"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops evaluation predictions EVAL FILE [--coco [--gt GT.json]] [--mode replace|append]",
          "Upload predictions from a JSON file, in requests of at most 5,000 images and 50,000\n"
          "predictions (each request is all or nothing). The file is read as a stream (twice):\n"
          "memory stays small for any file size, and a bad file fails before anything is sent.")
    if (npos != 2 || !valid_id(argv[1])) {
        fprintf(stderr, "error: usage: cvops evaluation predictions EVAL FILE [--coco]\n");
        return EXIT_USAGE;
    }
    if (access(argv[2], R_OK) != 0) {
        fprintf(stderr, "error: %s: %s\n", argv[2], strerror(errno));
        return EXIT_FAIL;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    remap_ctx m = {0};
    if (gt && coco) {
        int grc = coco_maps(cl, argv[1], gt, &m);
        if (grc != EXIT_OK) {
            cvops_client_free(cl);
            return grc;
        }
    }
    char path[96];
    snprintf(path, sizeof path, "/api/v1/evaluations/%s/predictions", argv[1]);
    send_ctx sc = {cl, path, c.json, 0, 0, 0, 0, EXIT_OK};
    ev_stream_opts o = {.coco = coco,
                        .mode = mode,
                        .max_images = CHUNK_IMAGES,
                        .max_shapes = CHUNK_SHAPES,
                        .remap = m.img_asset ? remap_ids : NULL,
                        .remap_ctx = &m,
                        .send = send_body,
                        .send_ctx = &sc};
    char why[300];
    int rc = evaluation_stream(argv[2], &o, why, sizeof why);
    cli_progress_done();
    if (rc == -1) {
        fprintf(stderr, "error: %s: %s\n", argv[2], why);
        rc = EXIT_FAIL;
    } else if (rc != 0) {
        rc = sc.rc;
    }
    if (rc == EXIT_OK) {
        if (c.json)
            printf("{\"assets\":%zu,\"predictions\":%zu}\n", sc.sent_img, sc.sent_shapes);
        else
            printf("uploaded %zu predictions on %zu images\n", sc.sent_shapes, sc.sent_img);
    } else if (sc.sent_img) {
        fprintf(stderr, "(%zu predictions on %zu images were uploaded before the failure)\n",
                sc.sent_shapes, sc.sent_img);
    }
    json_decref(m.img_asset);
    json_decref(m.cat_label);
    cvops_client_free(cl);
    return rc;
}

static int run(int argc, char **argv)
{
    cli_conn c = {0};
    const char *gt = NULL, *split = NULL;
    double iou = -1, score = -1;
    bool no_wait = false;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"ground-truth", 'g', OPT_STR, &gt, "M", "non_rejected (default), accepted or all"},
        {"split", 's', OPT_STR, &split, "TAG", "only the assets with this tag (test, val...)"},
        {"iou-thr", 0, OPT_DBL, &iou, "X", "IoU of a match for the per-image results (0.5)"},
        {"score-thr", 0, OPT_DBL, &score, "X", "predictions below are left out of them (0.5)"},
        {"no-wait", 0, OPT_FLAG, &no_wait, NULL, "print the job and return at once"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops evaluation run EVAL [--ground-truth M] [--split TAG] [--iou-thr X] [--score-thr X]",
          "Score the predictions against the version's annotations (a job), wait for it and\n"
          "print the summary. Exit status 1 if the run failed.")
    if (npos != 1 || !valid_id(argv[1])) {
        fprintf(stderr, "error: give one evaluation id\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    json_t *body = json_object();
    if (gt)
        json_object_set_new(body, "ground_truth", json_string(gt));
    if (split)
        json_object_set_new(body, "split", json_string(split));
    if (iou >= 0)
        json_object_set_new(body, "iou_thr", json_real(iou));
    if (score >= 0)
        json_object_set_new(body, "score_thr", json_real(score));
    char path[96];
    snprintf(path, sizeof path, "/api/v1/evaluations/%s/evaluate", argv[1]);
    int rc;
    json_t *job = cli_call(cl, "POST", path, body, &rc);
    json_decref(body);
    if (job && no_wait) {
        cli_print_json(job);
    } else if (job) {
        char *out = NULL;
        cvops_code code = cvops_job_wait(cl, json_integer_value(json_object_get(job, "id")), 0,
                                         c.json ? NULL : cli_progress, NULL, &out);
        cli_progress_done();
        cvops_free(out);
        if (code != CVOPS_OK) {
            rc = cli_fail(cl, code);
        } else {
            snprintf(path, sizeof path, "/api/v1/evaluations/%s", argv[1]);
            json_t *ev = cli_call(cl, "GET", path, NULL, &rc);
            if (ev) {
                if (c.json)
                    cli_print_json(ev);
                else
                    print_summary(ev);
                const char *st = json_string_value(json_object_get(ev, "status"));
                rc = st && strcmp(st, "succeeded") == 0 ? EXIT_OK : EXIT_FAIL;
            }
            json_decref(ev);
        }
    }
    json_decref(job);
    cvops_client_free(cl);
    return rc;
}

static int images(int argc, char **argv)
{
    cli_conn c = {0};
    bool has_fp = false, has_fn = false;
    const char *label = NULL, *order = "worst";
    int64_t limit = 20;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"has-fp", 0, OPT_FLAG, &has_fp, NULL, "only images with a false positive"},
        {"has-fn", 0, OPT_FLAG, &has_fn, NULL, "only images with a missed object"},
        {"label", 'l', OPT_STR, &label, "NAME", "only images with this label"},
        {"order-by", 'o', OPT_STR, &order, "O", "worst, fp, fn, iou, score, asset"},
        {"limit", 'n', OPT_INT, &limit, "N", "how many (20)"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops evaluation images EVAL [--has-fp] [--has-fn] [--label L] [--order-by O]",
          "Per-image results, worst first by default.")
    if (npos != 1 || !valid_id(argv[1])) {
        fprintf(stderr, "error: give one evaluation id\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char *l = cli_escape(label), *o = cli_escape(order);
    char path[512];
    snprintf(path, sizeof path, "/api/v1/evaluations/%s/images?limit=%lld&order_by=%s%s%s%s%s",
             argv[1], (long long)limit, o, has_fp ? "&has_fp=1" : "", has_fn ? "&has_fn=1" : "",
             l ? "&label=" : "", l ? l : "");
    free(l);
    free(o);
    int rc;
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (j) {
        static const cli_col cols[] = {{"asset_id", "ASSET"},   {"filename", "FILE"},
                                       {"tp", "TP"},            {"fp", "FP"},
                                       {"fn", "FN"},            {"min_iou", "MIN IOU"},
                                       {"worst_error", "WORST ERROR"}};
        if (c.json)
            cli_print_json(j);
        else
            cli_print_table(json_object_get(j, "items"), cols, 7);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

int cmd_evaluation(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"create", create, "create an evaluation of an experiment on a dataset version"},
        {"list", list, "an experiment's evaluations"},
        {"predictions", predictions, "upload predictions (the API's items, or COCO results)"},
        {"run", run, "score the predictions (a job) and print the summary"},
        {"show", show, "status and summary"},
        {"images", images, "per-image results, worst first"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops evaluation", argc, argv, sub);
}
