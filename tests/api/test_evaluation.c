/*
 * API tests of evaluations: a small generated detection dataset with known
 * true positives, false positives (background, localization,
 * classification, below the score threshold) and misses; the summary
 * checked against `cvops eval coco` run on the same data written as COCO
 * files; per-image filters, orders and pages; confusion cells and their
 * images; one image's detail; the metrics logged on the experiment; upload
 * errors that change nothing; a classification evaluation, and a failed run
 * that leaves the previous results; segmentation (polygons, rings, masks, a
 * crowd mask, a box as its rectangle) and keypoints (custom sigmas, a
 * ground truth without labelled keypoints) evaluations equal to `cvops eval
 * coco --iou segm|keypoints` on the same data; organization isolation and
 * roles.
 */
#include <math.h>
#include <sys/wait.h>

#include "test_dataset_util.h"

static void init(void)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0, "%s", e.msg);
}

TestSuite(evaluation, .init = init);

#define N_IMG 6

typedef struct fixture {
    int64_t lake, ds, v, cat, dog, bird, exp, ev;
    int64_t data[N_IMG], assets[N_IMG];
} fixture;

static int64_t new_experiment(void)
{
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("evproj"));
    api_resp *r = api_admin("POST", "/api/v1/projects", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t p = jint(r->json, "id");
    api_free(r);
    r = req(NULL, "POST", "{\"name\":\"run\"}", "/api/v1/projects/%lld/experiments", (long long)p);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t x = jint(r->json, "id");
    api_free(r);
    return x;
}

static void setup(fixture *f, const char *task)
{
    f->lake = new_lake();
    upload_images(f->lake, N_IMG, 64, 48, "ev", (uint64_t)f->lake, f->data);
    f->ds = new_dataset(NULL, f->lake);
    f->v = new_version(f->ds, "v1", task);
    add_all(f->v, N_IMG, f->assets);
    f->cat = new_label(f->v, "{\"name\":\"cat\"}");
    f->dog = new_label(f->v, "{\"name\":\"dog\"}");
    f->bird = new_label(f->v, "{\"name\":\"bird\"}");
    f->exp = new_experiment();
    char body[200];
    snprintf(body, sizeof body, "{\"dataset_version_id\":%lld,\"name\":\"test\"}", (long long)f->v);
    api_resp *r = req(NULL, "POST", body, "/api/v1/experiments/%lld/evaluations", (long long)f->exp);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    cr_assert_str_eq(jstr(r->json, "task"), task);
    cr_assert_str_eq(jstr(r->json, "status"), "created");
    f->ev = jint(r->json, "id");
    api_free(r);
}

static json_t *wait_eval(int64_t ev, const char *body, const char *want)
{
    api_resp *r = req(NULL, "POST", body, "/api/v1/evaluations/%lld/evaluate", (long long)ev);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(r->json, "id");
    api_free(r);
    json_t *j = api_wait_job(api_admin_token(), job, 60);
    cr_assert_str_eq(jstr(j, "state"), want, "job: %s", jstr(j, "error"));
    return j;
}

static json_t *get_json(const char *fmt, int64_t id, const char *extra)
{
    char path[512];
    snprintf(path, sizeof path, fmt, (long long)id);
    if (extra)
        strncat(path, extra, sizeof path - strlen(path) - 1);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s: %s", path, r->body.p);
    json_t *j = json_incref(r->json);
    api_free(r);
    return j;
}

/* The asset ids of an images page, in order, as indexes into f->assets. */
static int page_idx(const fixture *f, json_t *page, int *out)
{
    json_t *items = json_object_get(page, "items");
    int n = (int)json_array_size(items);
    for (int i = 0; i < n; i++) {
        int64_t a = jint(json_array_get(items, i), "asset_id");
        out[i] = -1;
        for (int k = 0; k < N_IMG; k++)
            if (f->assets[k] == a)
                out[i] = k;
    }
    return n;
}

static void expect_images(const fixture *f, const char *query, const int *want, int nwant)
{
    json_t *p = get_json("/api/v1/evaluations/%lld/images", f->ev, query);
    int got[N_IMG];
    int n = page_idx(f, p, got);
    cr_assert_eq(n, nwant, "%s: %d images", query, n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "%s: item %d is image %d, want %d", query, i, got[i], want[i]);
    cr_assert_eq(jint(p, "total"), nwant, "%s", query);
    json_decref(p);
}

/* Boxes: x, y, w, h. Ground truth (cat=c, dog=d):
 *   img0: c [0,0,20,20], d [30,10,20,20]
 *   img1: c [10,10,30,30]
 *   img2: d [5,5,20,20]
 *   img3: nothing
 *   img4: c [0,0,10,10], annotation rejected (left out by default)
 *   img5: c [40,20,20,20]
 * Predictions:
 *   img0: c [0,0,20,20] .9 TP (IoU 1); d [30,10,20,18] .8 TP (IoU .9);
 *         c [40,30,10,10] .6 FP background
 *   img1: c [10,10,30,14] .7 FP localization (IoU .4667) -> the cat a FN
 *   img2: c [5,5,20,20] .95 FP classification -> the dog a FN
 *   img3: d [0,0,10,10] .4 below the score threshold (.5)
 *   img5: nothing -> a missed FN */
static const double GT[][6] = {
    /* image, label (0 cat, 1 dog), box */
    {0, 0, 0, 0, 20, 20}, {0, 1, 30, 10, 20, 20}, {1, 0, 10, 10, 30, 30},
    {2, 1, 5, 5, 20, 20},  {4, 0, 0, 0, 10, 10},   {5, 0, 40, 20, 20, 20},
};
static const double DT[][7] = {
    /* image, label, box, score */
    {0, 0, 0, 0, 20, 20, .9},  {0, 1, 30, 10, 20, 18, .8}, {0, 0, 40, 30, 10, 10, .6},
    {1, 0, 10, 10, 30, 14, .7}, {2, 0, 5, 5, 20, 20, .95},  {3, 1, 0, 0, 10, 10, .4},
};
#define NGT (sizeof GT / sizeof *GT)
#define NDT (sizeof DT / sizeof *DT)

static void annotate_detection(const fixture *f)
{
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "{\"annotations\":[");
    for (int i = 0; i < N_IMG; i++) {
        sbuf_printf(&b, "%s{\"asset_id\":%lld,\"status\":\"%s\",\"shapes\":[", i ? "," : "",
                    (long long)f->assets[i], i == 4 ? "rejected" : "accepted");
        int k = 0;
        for (size_t g = 0; g < NGT; g++)
            if ((int)GT[g][0] == i)
                sbuf_printf(&b, "%s{\"kind\":\"box\",\"label\":\"%s\",\"box\":[%g,%g,%g,%g]}",
                            k++ ? "," : "", GT[g][1] ? "dog" : "cat", GT[g][2], GT[g][3], GT[g][4],
                            GT[g][5]);
        sbuf_puts(&b, "]}");
    }
    sbuf_puts(&b, "]}");
    api_resp *r = req(NULL, "POST", sbuf_cstr(&b), "/api/v1/dataset-versions/%lld/annotations",
                      (long long)f->v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    sbuf_free(&b);
}

static void predict_detection(const fixture *f)
{
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "{\"predictions\":[");
    int first = 1;
    for (int i = 0; i < N_IMG; i++) {
        int k = 0;
        for (size_t d = 0; d < NDT; d++) {
            if ((int)DT[d][0] != i)
                continue;
            if (k == 0)
                sbuf_printf(&b, "%s{\"asset_id\":%lld,\"shapes\":[", first ? "" : ",",
                            (long long)f->assets[i]);
            first = 0;
            sbuf_printf(&b, "%s{\"kind\":\"box\",\"label\":\"%s\",\"box\":[%g,%g,%g,%g],\"score\":%g}",
                        k++ ? "," : "", DT[d][1] ? "dog" : "cat", DT[d][2], DT[d][3], DT[d][4],
                        DT[d][5], DT[d][6]);
        }
        if (k)
            sbuf_puts(&b, "]}");
    }
    sbuf_puts(&b, "]}");
    api_resp *r = req(NULL, "POST", sbuf_cstr(&b), "/api/v1/evaluations/%lld/predictions",
                      (long long)f->ev);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "predictions"), (int64_t)NDT);
    cr_assert_eq(jint(json_object_get(r->json, "evaluation"), "predictions"), (int64_t)NDT);
    api_free(r);
    sbuf_free(&b);
}

/* The reference: the same data as COCO files through `cvops eval coco`. */
static json_t *reference(const fixture *f)
{
    char dir[] = "/tmp/cvops-evtest-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char gtp[128], dtp[128];
    snprintf(gtp, sizeof gtp, "%s/gt.json", dir);
    snprintf(dtp, sizeof dtp, "%s/dt.json", dir);
    FILE *g = fopen(gtp, "w");
    fprintf(g, "{\"images\":[");
    for (int i = 0; i < N_IMG; i++)
        fprintf(g, "%s{\"id\":%lld,\"width\":64,\"height\":48}", i ? "," : "",
                (long long)f->assets[i]);
    fprintf(g, "],\"categories\":[{\"id\":%lld,\"name\":\"cat\"},{\"id\":%lld,\"name\":\"dog\"},"
               "{\"id\":%lld,\"name\":\"bird\"}],\"annotations\":[",
            (long long)f->cat, (long long)f->dog, (long long)f->bird);
    int n = 0;
    for (size_t k = 0; k < NGT; k++) {
        if ((int)GT[k][0] == 4)
            continue; /* rejected */
        fprintf(g, "%s{\"id\":%d,\"image_id\":%lld,\"category_id\":%lld,\"bbox\":[%g,%g,%g,%g],"
                   "\"area\":%g,\"iscrowd\":0}",
                n ? "," : "", n + 1, (long long)f->assets[(int)GT[k][0]],
                (long long)(GT[k][1] ? f->dog : f->cat), GT[k][2], GT[k][3], GT[k][4], GT[k][5],
                GT[k][4] * GT[k][5]);
        n++;
    }
    fprintf(g, "]}");
    fclose(g);
    FILE *d = fopen(dtp, "w");
    fprintf(d, "[");
    for (size_t k = 0; k < NDT; k++)
        fprintf(d, "%s{\"image_id\":%lld,\"category_id\":%lld,\"bbox\":[%g,%g,%g,%g],\"score\":%g}",
                k ? "," : "", (long long)f->assets[(int)DT[k][0]],
                (long long)(DT[k][1] ? f->dog : f->cat), DT[k][2], DT[k][3], DT[k][4], DT[k][5],
                DT[k][6]);
    fprintf(d, "]");
    fclose(d);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' eval coco --gt %s --dt %s --json", getenv("CVOPS_TEST_BIN"), gtp,
             dtp);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    sbuf out = SBUF_INIT;
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, p)) > 0)
        sbuf_put(&out, buf, k);
    cr_assert_eq(pclose(p), 0, "%s", sbuf_cstr(&out));
    json_error_t je;
    json_t *j = json_loads(sbuf_cstr(&out), 0, &je);
    cr_assert_not_null(j, "%s", sbuf_cstr(&out));
    sbuf_free(&out);
    unlink(gtp);
    unlink(dtp);
    rmdir(dir);
    return j;
}

Test(evaluation, detection_end_to_end)
{
    fixture f;
    setup(&f, "detection");
    annotate_detection(&f);
    predict_detection(&f);
    /* results before a run: 409 saying what to do */
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/evaluations/%lld/confusion", (long long)f.ev);
    cr_assert_eq(r->status, 409);
    cr_assert_not_null(strstr(api_error_message(r), "has no results yet"));
    api_free(r);
    json_decref(wait_eval(f.ev, NULL, "succeeded"));

    /* the summary equals the reference's numbers */
    json_t *ev = get_json("/api/v1/evaluations/%lld", f.ev, NULL);
    cr_assert_str_eq(jstr(ev, "status"), "succeeded");
    cr_assert_eq(json_is_true(json_object_get(ev, "stale")), 0);
    json_t *sum = json_object_get(ev, "summary");
    json_t *ref = reference(&f);
    json_t *st1 = json_object_get(sum, "stats"), *st2 = json_object_get(ref, "stats");
    cr_assert_eq(json_array_size(st1), 12);
    for (size_t i = 0; i < 12; i++) {
        double a = json_number_value(json_array_get(st1, i)),
               b = json_number_value(json_array_get(st2, i));
        cr_assert(fabs(a - b) < 1e-12, "stat %zu: %.17g vs the reference %.17g", i, a, b);
    }
    cr_assert_eq(jint(sum, "images"), N_IMG);
    cr_assert_eq(jint(sum, "ground_truths"), 5);
    cr_assert_eq(jint(sum, "predictions"), 6);
    json_t *det = json_object_get(sum, "detail"), *errs = json_object_get(det, "errors");
    cr_assert_eq(jint(det, "tp"), 2);
    cr_assert_eq(jint(det, "fp"), 3);
    cr_assert_eq(jint(det, "fn"), 3);
    cr_assert_eq(jint(errs, "background"), 1);
    cr_assert_eq(jint(errs, "localization"), 1);
    cr_assert_eq(jint(errs, "classification"), 1);
    cr_assert_eq(jint(errs, "missed"), 1);
    double map = json_number_value(json_array_get(st1, 0));
    json_decref(ref);
    json_decref(ev);

    /* the numbers are metrics of the experiment */
    json_t *m = get_json("/api/v1/experiments/%lld/metrics", f.exp, NULL);
    json_t *items = json_is_array(m) ? m : json_object_get(m, "items");
    bool found = false;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        if (strcmp(jstr(it, "name"), "eval/mAP") == 0) {
            found = true;
            cr_assert(fabs(json_number_value(json_object_get(it, "last")) - map) < 1e-12, "%s",
                      json_dumps(it, 0));
        }
    }
    cr_assert(found, "eval/mAP is not a metric of the experiment: %s", json_dumps(m, 0));
    json_decref(m);

    /* PR curves: 101 points per label; cat's AP50 is its curve's mean */
    json_t *pr = get_json("/api/v1/evaluations/%lld/pr-curves", f.ev, NULL);
    json_t *labels = json_object_get(pr, "labels");
    cr_assert_eq(json_array_size(labels), 3);
    cr_assert_eq(json_array_size(json_object_get(pr, "recall")), 101);
    json_t *cat = json_array_get(labels, 0);
    cr_assert_str_eq(jstr(cat, "label"), "cat");
    json_t *p50 = json_object_get(cat, "precision50");
    cr_assert_eq(json_array_size(p50), 101);
    double s = 0;
    for (size_t i = 0; i < 101; i++)
        s += json_number_value(json_array_get(p50, i));
    double ap50 = json_number_value(json_object_get(json_object_get(cat, "metrics"), "AP50"));
    cr_assert(fabs(s / 101 - ap50) < 1e-12, "%g vs %g", s / 101, ap50);
    cr_assert_eq(jint(json_object_get(cat, "metrics"), "tp"), 1);
    json_decref(pr);
    pr = get_json("/api/v1/evaluations/%lld/pr-curves", f.ev, "?label=dog");
    cr_assert_eq(json_array_size(json_object_get(pr, "labels")), 1);
    json_decref(pr);

    /* confusion matrix: cat, dog, bird, background */
    json_t *cm = get_json("/api/v1/evaluations/%lld/confusion", f.ev, NULL);
    json_t *mx = json_object_get(cm, "matrix");
    cr_assert_eq(json_array_size(mx), 4);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(cm, "labels"), 3)),
                     "background");
    static const int want[4][4] = {{1, 0, 0, 2}, {1, 1, 0, 0}, {0, 0, 0, 0}, {2, 0, 0, 0}};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            cr_assert_eq(json_integer_value(json_array_get(json_array_get(mx, i), j)), want[i][j],
                         "cell %d/%d", i, j);
    json_decref(cm);
    /* a cell's images: cats missed (row cat, column background) are img1 and img5 */
    json_t *cell = get_json("/api/v1/evaluations/%lld/confusion/0/3", f.ev, NULL);
    cr_assert_eq(jint(cell, "count"), 2);
    cr_assert_str_eq(jstr(cell, "row_label"), "cat");
    cr_assert_str_eq(jstr(cell, "col_label"), "background");
    json_t *ci = json_object_get(cell, "items");
    cr_assert_eq(json_array_size(ci), 2);
    cr_assert_eq(jint(json_array_get(ci, 0), "asset_id"), f.assets[1]);
    cr_assert_eq(jint(json_array_get(ci, 1), "asset_id"), f.assets[5]);
    cr_assert_eq(jint(json_array_get(ci, 0), "data_id"), f.data[1]);
    json_decref(cell);
    cell = get_json("/api/v1/evaluations/%lld/confusion/3/0", f.ev, "?limit=1");
    cr_assert_eq(json_array_size(json_object_get(cell, "items")), 1);
    cr_assert_str_eq(jstr(cell, "next_cursor"), "1");
    json_decref(cell);
    cr_assert_eq(st(req(NULL, "GET", NULL, "/api/v1/evaluations/%lld/confusion/4/0", (long long)f.ev)),
                 404);

    /* per-image filters and orders */
    int worst[] = {1, 2, 0, 5, 3, 4};
    expect_images(&f, "", worst, 6);
    expect_images(&f, "?has_fp=1", (int[]){1, 2, 0}, 3);
    expect_images(&f, "?has_fn=true&order_by=asset", (int[]){1, 2, 5}, 3);
    expect_images(&f, "?has_fp=0&has_fn=0&order_by=asset", (int[]){3, 4}, 2);
    expect_images(&f, "?iou_below=0.95", (int[]){0}, 1);
    expect_images(&f, "?label=dog&order_by=asset", (int[]){0, 2}, 2);
    expect_images(&f, "?min_score=0.3&max_score=0.5", (int[]){3}, 1);
    expect_images(&f, "?order_by=score", (int[]){2, 1, 0, 3, 4, 5}, 6);
    /* keyset pages give the same order */
    char q[200] = "?limit=2";
    int seen = 0;
    for (int pg = 0; pg < 4; pg++) {
        json_t *p = get_json("/api/v1/evaluations/%lld/images", f.ev, q);
        int got[N_IMG];
        int n = page_idx(&f, p, got);
        for (int i = 0; i < n; i++)
            cr_assert_eq(got[i], worst[seen + i], "page %d item %d", pg, i);
        seen += n;
        const char *next = jstr(p, "next_cursor");
        if (!next) {
            json_decref(p);
            break;
        }
        char *esc = curl_escape_q(next);
        snprintf(q, sizeof q, "?limit=2&cursor=%s", esc);
        free(esc);
        json_decref(p);
    }
    cr_assert_eq(seen, 6);
    r = req(NULL, "GET", NULL, "/api/v1/evaluations/%lld/images?order_by=best", (long long)f.ev);
    cr_assert_eq(r->status, 400);
    cr_assert_str_eq(api_error_message(r),
                     "order_by 'best' is not one of worst, fp, fn, iou, score, asset");
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/evaluations/%lld/images?label=cow", (long long)f.ev);
    cr_assert_eq(r->status, 400);
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/evaluations/%lld/images?has_fp=maybe", (long long)f.ev);
    cr_assert_eq(r->status, 400);
    api_free(r);

    /* one image: ground truth, predictions and the matches joining them */
    char path[160];
    snprintf(path, sizeof path, "/api/v1/evaluations/%%lld/images/%lld", (long long)f.assets[0]);
    json_t *im = get_json(path, f.ev, NULL);
    cr_assert_eq(jint(im, "tp"), 2);
    cr_assert_eq(jint(im, "fp"), 1);
    cr_assert_eq(jint(im, "width"), 64);
    cr_assert_eq(json_array_size(json_object_get(im, "ground_truth")), 2);
    cr_assert_eq(json_array_size(json_object_get(im, "predictions")), 3);
    json_t *ms = json_object_get(im, "matches");
    cr_assert_eq(json_array_size(ms), 3);
    cr_assert_str_eq(jstr(json_array_get(ms, 0), "kind"), "tp");
    cr_assert_str_eq(jstr(json_array_get(ms, 2), "kind"), "fp");
    cr_assert_str_eq(jstr(json_array_get(ms, 2), "error"), "background");
    cr_assert_eq(jint(json_array_get(ms, 0), "prediction_id"),
                 jint(json_array_get(json_object_get(im, "predictions"), 0), "id"));
    json_decref(im);
    snprintf(path, sizeof path, "/api/v1/evaluations/%%lld/images/%lld", (long long)f.assets[3]);
    im = get_json(path, f.ev, NULL);
    cr_assert_eq(json_array_size(json_object_get(im, "matches")), 0);
    cr_assert_eq(json_array_size(json_object_get(im, "predictions")), 1); /* below the threshold */
    json_decref(im);
    cr_assert_eq(st(req(NULL, "GET", NULL, "/api/v1/evaluations/%lld/images/999999999",
                        (long long)f.ev)),
                 404);

    /* changing predictions makes the results stale; the old ones stay */
    char body[300];
    snprintf(body, sizeof body,
             "{\"mode\":\"append\",\"predictions\":[{\"asset_id\":%lld,\"shapes\":[{\"kind\":\"box\","
             "\"label\":\"cat\",\"box\":[40,20,20,20],\"score\":0.99}]}]}",
             (long long)f.assets[5]);
    cr_assert_eq(st(req(NULL, "POST", body, "/api/v1/evaluations/%lld/predictions", (long long)f.ev)),
                 200);
    ev = get_json("/api/v1/evaluations/%lld", f.ev, NULL);
    cr_assert(json_is_true(json_object_get(ev, "stale")));
    cr_assert_eq(jint(ev, "predictions"), 7);
    json_decref(ev);
    /* evaluate again: the new TP is counted, results replaced */
    json_decref(wait_eval(f.ev, "{\"ground_truth\":\"accepted\",\"iou_thr\":0.5}", "succeeded"));
    expect_images(&f, "?has_fn=1&order_by=asset", (int[]){1, 2}, 2);
}

Test(evaluation, upload_errors_change_nothing)
{
    fixture f;
    setup(&f, "detection");
    char body[1200];
    /* an unknown label and a box outside the image, in one request with a valid one */
    snprintf(body, sizeof body,
             "{\"predictions\":[{\"asset_id\":%lld,\"shapes\":[{\"kind\":\"box\",\"label\":\"cat\","
             "\"box\":[0,0,10,10],\"score\":0.5}]},{\"asset_id\":%lld,\"shapes\":[{\"kind\":\"box\","
             "\"label\":\"dgo\",\"box\":[0,0,10,10],\"score\":0.5}]},{\"asset_id\":%lld,\"shapes\":"
             "[{\"kind\":\"box\",\"label\":\"cat\",\"box\":[60,0,10,10],\"score\":0.5}]}]}",
             (long long)f.assets[0], (long long)f.assets[1], (long long)f.assets[2]);
    api_resp *r = req(NULL, "POST", body, "/api/v1/evaluations/%lld/predictions", (long long)f.ev);
    cr_assert_eq(r->status, 400);
    cr_assert_str_eq(api_error_message(r),
                     "predictions[1].shapes[0]: unknown label 'dgo'; the version's labels are: "
                     "cat, dog, bird (and 1 more problem; nothing was saved)",
                     "%s", api_error_message(r));
    api_free(r);
    snprintf(body, sizeof body,
             "{\"predictions\":[{\"asset_id\":%lld,\"shapes\":[{\"kind\":\"box\",\"label\":\"cat\","
             "\"box\":[60,0,10,10],\"score\":0.5}]}]}",
             (long long)f.assets[2]);
    r = req(NULL, "POST", body, "/api/v1/evaluations/%lld/predictions", (long long)f.ev);
    cr_assert_eq(r->status, 400);
    cr_assert_str_eq(api_error_message(r),
                     "predictions[0].shapes[0]: box x+w = 70 exceeds image width 64");
    api_free(r);
    static const struct {
        const char *shape, *msg;
    } bad[] = {
        {"{\"kind\":\"box\",\"label\":\"cat\",\"box\":[0,0,10,10]}",
         "predictions[0].shapes[0]: a prediction needs a 'score'"},
        {"{\"kind\":\"box\",\"label\":\"cat\",\"box\":[0,0,10,10],\"score\":1.5}",
         "predictions[0].shapes[0]: score 1.5 is outside [0, 1]"},
        {"{\"kind\":\"polyline\",\"label\":\"cat\",\"points\":[0,0,10,10],\"score\":0.5}",
         "predictions[0].shapes[0]: a detection evaluation takes box, polygon or mask predictions; "
         "got polyline"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(body, sizeof body, "{\"predictions\":[{\"asset_id\":%lld,\"shapes\":[%s]}]}",
                 (long long)f.assets[0], bad[i].shape);
        r = req(NULL, "POST", body, "/api/v1/evaluations/%lld/predictions", (long long)f.ev);
        cr_assert_eq(r->status, 400, "%s", r->body.p);
        cr_assert_str_eq(api_error_message(r), bad[i].msg);
        api_free(r);
    }
    /* an asset of another version */
    r = req(NULL, "POST", "{\"predictions\":[{\"asset_id\":1,\"shapes\":[]}]}",
            "/api/v1/evaluations/%lld/predictions", (long long)f.ev);
    cr_assert_eq(r->status, 404, "%s", r->body.p);
    api_free(r);
    json_t *ev = get_json("/api/v1/evaluations/%lld", f.ev, NULL);
    cr_assert_eq(jint(ev, "predictions"), 0);
    json_decref(ev);
    /* bad evaluate requests */
    r = req(NULL, "POST", "{\"ground_truth\":\"some\"}", "/api/v1/evaluations/%lld/evaluate",
            (long long)f.ev);
    cr_assert_eq(r->status, 400);
    cr_assert_str_eq(api_error_message(r),
                     "ground_truth 'some' is not one of non_rejected, accepted, all");
    api_free(r);
    r = req(NULL, "POST", "{\"split\":\"test\"}", "/api/v1/evaluations/%lld/evaluate",
            (long long)f.ev);
    cr_assert_eq(r->status, 400);
    api_free(r);
    /* creation errors */
    r = req(NULL, "POST", "{\"dataset_version_id\":999999999}",
            "/api/v1/experiments/%lld/evaluations", (long long)f.exp);
    cr_assert_eq(r->status, 404);
    api_free(r);
    snprintf(body, sizeof body, "{\"dataset_version_id\":%lld,\"task\":\"ocr\"}", (long long)f.v);
    r = req(NULL, "POST", body, "/api/v1/experiments/%lld/evaluations", (long long)f.exp);
    cr_assert_eq(r->status, 400);
    api_free(r);
    snprintf(body, sizeof body, "{\"dataset_version_id\":%lld,\"name\":\"test\"}", (long long)f.v);
    r = req(NULL, "POST", body, "/api/v1/experiments/%lld/evaluations", (long long)f.exp);
    cr_assert_eq(r->status, 409);
    api_free(r);
}

/* Classification: labels cat, dog, bird; one class shape per image. */
Test(evaluation, classification_and_a_failed_run)
{
    fixture f;
    setup(&f, "classification");
    static const int truth[N_IMG] = {0, 0, 1, 1, 2, 2};
    /* scores for cat, dog, bird: 4 of 6 right (img1 says dog, img5 says cat) */
    static const double sc[N_IMG][3] = {{.8, .1, .1}, {.3, .6, .1}, {.2, .7, .1},
                                        {.1, .8, .1}, {.1, .2, .7}, {.5, .1, .4}};
    static const char *const names[] = {"cat", "dog", "bird"};
    sbuf b = SBUF_INIT, p = SBUF_INIT;
    sbuf_puts(&b, "{\"annotations\":[");
    sbuf_puts(&p, "{\"predictions\":[");
    for (int i = 0; i < N_IMG; i++) {
        sbuf_printf(&b, "%s{\"asset_id\":%lld,\"shapes\":[{\"kind\":\"class\",\"label\":\"%s\"}]}",
                    i ? "," : "", (long long)f.assets[i], names[truth[i]]);
        sbuf_printf(&p, "%s{\"asset_id\":%lld,\"shapes\":[", i ? "," : "", (long long)f.assets[i]);
        for (int k = 0; k < 3; k++)
            sbuf_printf(&p, "%s{\"kind\":\"class\",\"label\":\"%s\",\"score\":%g}", k ? "," : "",
                        names[k], sc[i][k]);
        sbuf_puts(&p, "]}");
    }
    sbuf_puts(&b, "]}");
    sbuf_puts(&p, "]}");
    cr_assert_eq(st(req(NULL, "POST", sbuf_cstr(&b), "/api/v1/dataset-versions/%lld/annotations",
                        (long long)f.v)),
                 200);
    api_resp *r = req(NULL, "POST", sbuf_cstr(&p), "/api/v1/evaluations/%lld/predictions",
                      (long long)f.ev);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    sbuf_free(&b);
    sbuf_free(&p);
    json_decref(wait_eval(f.ev, NULL, "succeeded"));
    json_t *ev = get_json("/api/v1/evaluations/%lld", f.ev, NULL);
    json_t *m = json_object_get(json_object_get(ev, "summary"), "metrics");
    cr_assert(fabs(json_number_value(json_object_get(m, "accuracy")) - 4.0 / 6) < 1e-12);
    /* macro F1: cat P 1/2 R 1/2, dog P 2/3 R 1, bird P 1 R 1/2 */
    double f1 = (0.5 + 0.8 + 2.0 / 3) / 3;
    cr_assert(fabs(json_number_value(json_object_get(m, "macro_f1")) - f1) < 1e-12, "%.17g",
              json_number_value(json_object_get(m, "macro_f1")));
    json_t *before = json_deep_copy(json_object_get(ev, "summary"));
    json_decref(ev);
    json_t *cm = get_json("/api/v1/evaluations/%lld/confusion", f.ev, NULL);
    json_t *mx = json_object_get(cm, "matrix");
    cr_assert_eq(json_array_size(mx), 3); /* no background for classification */
    cr_assert_eq(json_integer_value(json_array_get(json_array_get(mx, 0), 1)), 1);
    cr_assert_eq(json_integer_value(json_array_get(json_array_get(mx, 2), 0)), 1);
    json_decref(cm);
    json_t *cell = get_json("/api/v1/evaluations/%lld/confusion/2/0", f.ev, NULL);
    cr_assert_eq(jint(json_array_get(json_object_get(cell, "items"), 0), "asset_id"), f.assets[5]);
    json_decref(cell);
    expect_images(&f, "?has_fp=1&order_by=asset", (int[]){1, 5}, 2);
    json_t *mets = get_json("/api/v1/experiments/%lld/metrics", f.exp, NULL);
    cr_assert_not_null(strstr(json_dumps(mets, 0), "eval/accuracy"));
    json_decref(mets);

    /* img3 loses its predictions: the run fails, the old results stay */
    char body[200];
    snprintf(body, sizeof body, "{\"predictions\":[{\"asset_id\":%lld,\"shapes\":[]}]}",
             (long long)f.assets[3]);
    cr_assert_eq(st(req(NULL, "POST", body, "/api/v1/evaluations/%lld/predictions", (long long)f.ev)),
                 200);
    json_t *j = wait_eval(f.ev, NULL, "failed");
    cr_assert_not_null(strstr(jstr(j, "error"), "1 image with ground truth has no prediction"), "%s",
                       jstr(j, "error"));
    json_decref(j);
    ev = get_json("/api/v1/evaluations/%lld", f.ev, NULL);
    cr_assert_str_eq(jstr(ev, "status"), "failed");
    cr_assert_not_null(strstr(jstr(ev, "error"), "asset"));
    cr_assert(json_equal(json_object_get(ev, "summary"), before));
    json_decref(ev);
    json_decref(before);
    expect_images(&f, "?has_fp=1&order_by=asset", (int[]){1, 5}, 2);
}

/* --- segm and keypoints: the platform's numbers equal the reference's ---------------------- */

/* One shape of a case: image index, label, the geometry as the API takes it
 * (inside a shape object) and as a COCO file gives it (inside an annotation
 * or result), score (< 0: ground truth). */
typedef struct geo_case {
    int img;
    const char *label;
    const char *api, *coco;
    double score;
} geo_case;

/* `cvops eval coco --iou IOU` on COCO files written from the cases; gt_extra
 * is added to each category (sigmas). */
static json_t *reference_of(const fixture *f, const char *iou, const geo_case *c, size_t n,
                            int64_t kp_label, const char *kp_cat_extra)
{
    char dir[] = "/tmp/cvops-evgeo-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char gtp[128], dtp[128];
    snprintf(gtp, sizeof gtp, "%s/gt.json", dir);
    snprintf(dtp, sizeof dtp, "%s/dt.json", dir);
    FILE *g = fopen(gtp, "w"), *d = fopen(dtp, "w");
    cr_assert(g && d);
    fprintf(g, "{\"images\":[");
    for (int i = 0; i < N_IMG; i++)
        fprintf(g, "%s{\"id\":%lld,\"width\":64,\"height\":48}", i ? "," : "",
                (long long)f->assets[i]);
    fprintf(g, "],\"categories\":[{\"id\":%lld,\"name\":\"cat\"},{\"id\":%lld,\"name\":\"dog\"},"
               "{\"id\":%lld,\"name\":\"bird\"}",
            (long long)f->cat, (long long)f->dog, (long long)f->bird);
    if (kp_label)
        fprintf(g, ",{\"id\":%lld,\"name\":\"person\"%s}", (long long)kp_label, kp_cat_extra);
    fprintf(g, "],\"annotations\":[");
    fprintf(d, "[");
    int ng = 0, nd = 0;
    for (size_t k = 0; k < n; k++) {
        const char *l = c[k].label;
        long long cat = strcmp(l, "cat") == 0   ? f->cat
                        : strcmp(l, "dog") == 0 ? f->dog
                        : strcmp(l, "bird") == 0 ? f->bird
                                                 : kp_label;
        if (c[k].score < 0) {
            ng++;
            fprintf(g, "%s{\"id\":%d,\"image_id\":%lld,\"category_id\":%lld,%s}",
                    ng > 1 ? "," : "", ng, (long long)f->assets[c[k].img], cat, c[k].coco);
        } else
            fprintf(d, "%s{\"image_id\":%lld,\"category_id\":%lld,\"score\":%g,%s}",
                    nd++ ? "," : "", (long long)f->assets[c[k].img], cat, c[k].score, c[k].coco);
    }
    fprintf(g, "]}");
    fprintf(d, "]");
    fclose(g);
    fclose(d);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' eval coco --gt %s --dt %s --iou %s --json 2>&1",
             getenv("CVOPS_TEST_BIN"), gtp, dtp, iou);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    sbuf out = SBUF_INIT;
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, p)) > 0)
        sbuf_put(&out, buf, k);
    cr_assert_eq(pclose(p), 0, "%s", sbuf_cstr(&out));
    json_t *j = json_loads(sbuf_cstr(&out), 0, NULL);
    cr_assert_not_null(j, "%s", sbuf_cstr(&out));
    sbuf_free(&out);
    unlink(gtp);
    unlink(dtp);
    rmdir(dir);
    return j;
}

/* Annotates and predicts the cases through the API, runs the evaluation
 * and checks its stats against the reference's, number for number. */
static json_t *run_geo_case(const fixture *f, const geo_case *c, size_t n, size_t nstats,
                            json_t *ref)
{
    sbuf b = SBUF_INIT, p = SBUF_INIT;
    sbuf_puts(&b, "{\"annotations\":[");
    sbuf_puts(&p, "{\"predictions\":[");
    for (int i = 0; i < N_IMG; i++) {
        sbuf_printf(&b, "%s{\"asset_id\":%lld,\"status\":\"accepted\",\"shapes\":[", i ? "," : "",
                    (long long)f->assets[i]);
        sbuf_printf(&p, "%s{\"asset_id\":%lld,\"shapes\":[", i ? "," : "", (long long)f->assets[i]);
        int kg = 0, kd = 0;
        for (size_t k = 0; k < n; k++) {
            if (c[k].img != i)
                continue;
            if (c[k].score < 0)
                sbuf_printf(&b, "%s{\"label\":\"%s\",%s}", kg++ ? "," : "", c[k].label, c[k].api);
            else
                sbuf_printf(&p, "%s{\"label\":\"%s\",\"score\":%g,%s}", kd++ ? "," : "",
                            c[k].label, c[k].score, c[k].api);
        }
        sbuf_puts(&b, "]}");
        sbuf_puts(&p, "]}");
    }
    sbuf_puts(&b, "]}");
    sbuf_puts(&p, "]}");
    api_resp *r = req(NULL, "POST", sbuf_cstr(&b), "/api/v1/dataset-versions/%lld/annotations",
                      (long long)f->v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    r = req(NULL, "POST", sbuf_cstr(&p), "/api/v1/evaluations/%lld/predictions", (long long)f->ev);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    sbuf_free(&b);
    sbuf_free(&p);
    json_decref(wait_eval(f->ev, NULL, "succeeded"));
    json_t *ev = get_json("/api/v1/evaluations/%lld", f->ev, NULL);
    json_t *st1 = json_object_get(json_object_get(ev, "summary"), "stats"),
           *st2 = json_object_get(ref, "stats");
    cr_assert_eq(json_array_size(st1), nstats);
    cr_assert_eq(json_array_size(st2), nstats);
    for (size_t i = 0; i < nstats; i++) {
        double a = json_number_value(json_array_get(st1, i)),
               v = json_number_value(json_array_get(st2, i));
        cr_assert(fabs(a - v) < 1e-12, "stat %zu: %.17g vs the reference %.17g", i, a, v);
    }
    return ev;
}

/* A rectangle mask on the 64x48 images: columns 40..49, rows 5..24, as
 * column-major counts: 40 * 48 + 5 = 1925 zeros, then 10 columns of 20 ones
 * with 28 zeros between them, then 3072 - 1925 - 200 - 252 = 695 zeros. */
#define RECT_COUNTS                                                                                \
    "[1925,20,28,20,28,20,28,20,28,20,28,20,28,20,28,20,28,20,28,20,695]"
/* The left 30 columns: 30 * 48 = 1440 ones, then 34 * 48 = 1632 zeros. */
#define LEFT_COUNTS "[0,1440,1632]"

Test(evaluation, segmentation_matches_the_reference)
{
    fixture f;
    setup(&f, "segmentation");
    /* ground truth: polygons (one of two rings), a mask, a crowd mask;
     * predictions: polygons, a mask equal to its ground truth, a box (taken
     * as its rectangle, as COCO's loadRes does for a result with only a
     * bbox), a detection inside the crowd region (ignored), a wrong label,
     * a background false positive */
    static const geo_case c[] = {
        {0, "cat", "\"kind\":\"polygon\",\"rings\":[[2,2,22,2,22,22,2,22]]",
         "\"segmentation\":[[2,2,22,2,22,22,2,22]]", -1},
        {0, "dog", "\"kind\":\"polygon\",\"rings\":[[30,10,45,10,45,25,30,25],[50,30,60,30,60,40]]",
         "\"segmentation\":[[30,10,45,10,45,25,30,25],[50,30,60,30,60,40]]", -1},
        {1, "cat", "\"kind\":\"mask\",\"rle\":{\"size\":[48,64],\"counts\":" RECT_COUNTS "}",
         "\"segmentation\":{\"size\":[48,64],\"counts\":" RECT_COUNTS "}", -1},
        {2, "dog", "\"kind\":\"polygon\",\"points\":[5,5,25,5,15,25]",
         "\"segmentation\":[[5,5,25,5,15,25]]", -1},
        {3, "cat",
         "\"kind\":\"mask\",\"iscrowd\":true,\"rle\":{\"size\":[48,64],\"counts\":" LEFT_COUNTS "}",
         "\"iscrowd\":1,\"segmentation\":{\"size\":[48,64],\"counts\":" LEFT_COUNTS "}", -1},
        {5, "cat", "\"kind\":\"polygon\",\"points\":[40,20,60,20,60,40,40,40]",
         "\"segmentation\":[[40,20,60,20,60,40,40,40]]", -1},
        {0, "cat", "\"kind\":\"polygon\",\"points\":[2,2,22,2,22,20,2,20]",
         "\"segmentation\":[[2,2,22,2,22,20,2,20]]", .9},
        {0, "dog", "\"kind\":\"box\",\"box\":[30,10,15,15]",
         "\"segmentation\":[[30,10,30,25,45,25,45,10]]", .8},
        {0, "cat", "\"kind\":\"polygon\",\"points\":[40,30,50,30,50,40,40,40]",
         "\"segmentation\":[[40,30,50,30,50,40,40,40]]", .6},
        {1, "cat", "\"kind\":\"mask\",\"rle\":{\"size\":[48,64],\"counts\":" RECT_COUNTS "}",
         "\"segmentation\":{\"size\":[48,64],\"counts\":" RECT_COUNTS "}", .7},
        {2, "cat", "\"kind\":\"polygon\",\"points\":[5,5,25,5,15,25]",
         "\"segmentation\":[[5,5,25,5,15,25]]", .95},
        {3, "cat", "\"kind\":\"polygon\",\"points\":[5,5,20,5,20,20,5,20]",
         "\"segmentation\":[[5,5,20,5,20,20,5,20]]", .5},
        {5, "dog", "\"kind\":\"polygon\",\"points\":[40,20,60,20,60,40,40,40]",
         "\"segmentation\":[[40,20,60,20,60,40,40,40]]", .3},
    };
    size_t n = sizeof c / sizeof *c;
    json_t *ref = reference_of(&f, "segm", c, n, 0, "");
    json_t *ev = run_geo_case(&f, c, n, 12, ref);
    /* and the numbers are not trivial: some AP between 0 and 1 */
    double map = json_number_value(json_array_get(json_object_get(ref, "stats"), 0));
    cr_assert(map > 0 && map < 1, "mAP %g", map);
    json_t *sum = json_object_get(ev, "summary");
    cr_assert_eq(jint(sum, "ground_truths"), 6);
    cr_assert_eq(jint(sum, "predictions"), 7);
    /* img3: the detection inside the crowd region is ignored, not a false
     * positive */
    char path[160];
    snprintf(path, sizeof path, "/api/v1/evaluations/%%lld/images/%lld", (long long)f.assets[3]);
    json_t *img = get_json(path, f.ev, NULL);
    cr_assert_eq(jint(img, "fp"), 0, "%s", json_dumps(img, 0));
    bool ignored = false;
    json_t *ms = json_object_get(img, "matches");
    for (size_t i = 0; i < json_array_size(ms); i++)
        ignored |= strcmp(jstr(json_array_get(ms, i), "kind"), "ignored") == 0;
    cr_assert(ignored, "%s", json_dumps(ms, 0));
    json_decref(img);
    json_decref(ev);
    json_decref(ref);
}

Test(evaluation, keypoints_match_the_reference)
{
    fixture f;
    setup(&f, "keypoints");
    int64_t person = new_label(f.v, "{\"name\":\"person\",\"keypoints\":[\"a\",\"b\",\"c\"]}");
    /* three vertices: not COCO's 17, so every sigma is 0.07 (given to the
     * reference as the category's sigmas). Ground truth with explicit
     * areas; its box is the enclosing box of its labelled keypoints (the
     * reference file says the same). img2's person has no labelled keypoint:
     * COCO ignores it (num_keypoints 0), and the detection on it too. */
    static const geo_case c[] = {
        {0, "person", "\"kind\":\"keypoints\",\"area\":400,\"keypoints\":[10,10,2,20,10,2,15,20,2]",
         "\"area\":400,\"bbox\":[10,10,10,10],\"num_keypoints\":3,"
         "\"keypoints\":[10,10,2,20,10,2,15,20,2]",
         -1},
        {0, "person", "\"kind\":\"keypoints\",\"area\":300,\"keypoints\":[40,10,2,50,10,1,45,20,2]",
         "\"area\":300,\"bbox\":[40,10,10,10],\"num_keypoints\":3,"
         "\"keypoints\":[40,10,2,50,10,1,45,20,2]",
         -1},
        {1, "person", "\"kind\":\"keypoints\",\"area\":500,\"keypoints\":[10,10,2,0,0,0,20,30,2]",
         "\"area\":500,\"bbox\":[10,10,10,20],\"num_keypoints\":2,"
         "\"keypoints\":[10,10,2,0,0,0,20,30,2]",
         -1},
        {2, "person", "\"kind\":\"keypoints\",\"area\":200,\"keypoints\":[0,0,0,0,0,0,0,0,0]",
         "\"area\":200,\"bbox\":[0,0,0,0],\"num_keypoints\":0,\"keypoints\":[0,0,0,0,0,0,0,0,0]",
         -1},
        {0, "person", "\"kind\":\"keypoints\",\"keypoints\":[11,10,1,20,11,1,15,21,1]",
         "\"keypoints\":[11,10,1,20,11,1,15,21,1]", .9},
        {0, "person", "\"kind\":\"keypoints\",\"keypoints\":[41,11,1,49,10,1,45,22,1]",
         "\"keypoints\":[41,11,1,49,10,1,45,22,1]", .8},
        {0, "person", "\"kind\":\"keypoints\",\"keypoints\":[30,30,1,35,35,1,32,40,1]",
         "\"keypoints\":[30,30,1,35,35,1,32,40,1]", .4},
        {1, "person", "\"kind\":\"keypoints\",\"keypoints\":[12,12,1,5,5,1,22,33,1]",
         "\"keypoints\":[12,12,1,5,5,1,22,33,1]", .7},
        {2, "person", "\"kind\":\"keypoints\",\"keypoints\":[5,5,1,10,10,1,7,15,1]",
         "\"keypoints\":[5,5,1,10,10,1,7,15,1]", .6},
        {3, "person", "\"kind\":\"keypoints\",\"keypoints\":[1,1,1,2,2,1,3,3,1]",
         "\"keypoints\":[1,1,1,2,2,1,3,3,1]", .5},
    };
    size_t n = sizeof c / sizeof *c;
    json_t *ref = reference_of(&f, "keypoints", c, n, person, ",\"sigmas\":[0.07,0.07,0.07]");
    json_t *ev = run_geo_case(&f, c, n, 10, ref);
    double map = json_number_value(json_array_get(json_object_get(ref, "stats"), 0));
    cr_assert(map > 0 && map < 1, "mAP %g", map);
    cr_assert_eq(jint(json_object_get(ev, "summary"), "ground_truths"), 4);
    json_decref(ev);
    json_decref(ref);
}

Test(evaluation, metric_prefix_keeps_series_apart)
{
    fixture f;
    setup(&f, "detection");
    annotate_detection(&f);
    predict_detection(&f);
    /* a second evaluation of the same experiment, logging under eval/test/ */
    char body[200];
    snprintf(body, sizeof body,
             "{\"dataset_version_id\":%lld,\"name\":\"second\",\"metric_prefix\":\"eval/test/\"}",
             (long long)f.v);
    api_resp *r = req(NULL, "POST", body, "/api/v1/experiments/%lld/evaluations", (long long)f.exp);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    cr_assert_str_eq(jstr(r->json, "metric_prefix"), "eval/test/");
    fixture g = f;
    g.ev = jint(r->json, "id");
    api_free(r);
    predict_detection(&g);
    json_decref(wait_eval(f.ev, NULL, "succeeded"));
    json_decref(wait_eval(g.ev, NULL, "succeeded"));
    json_t *m = get_json("/api/v1/experiments/%lld/metrics", f.exp, NULL);
    json_t *items = json_is_array(m) ? m : json_object_get(m, "items");
    int plain = 0, test = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        const char *name = jstr(json_array_get(items, i), "name");
        plain += strcmp(name, "eval/mAP") == 0;
        test += strcmp(name, "eval/test/mAP") == 0;
    }
    cr_assert(plain == 1 && test == 1, "%s", json_dumps(m, 0));
    json_decref(m);
    /* a prefix that would make invalid metric names is refused when the
     * evaluation is created, not after a run */
    static const char *const bad[] = {" eval/", "eval\\u0001/", "eval\\u007f"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(body, sizeof body, "{\"dataset_version_id\":%lld,\"metric_prefix\":\"%s\"}",
                 (long long)f.v, bad[i]);
        r = req(NULL, "POST", body, "/api/v1/experiments/%lld/evaluations", (long long)f.exp);
        cr_assert_eq(r->status, 400, "%s: %s", bad[i], r->body.p);
        cr_assert_not_null(strstr(api_error_message(r), "field 'metric_prefix'"), "%s",
                           r->body.p);
        cr_assert_not_null(strstr(api_error_message(r), "metric name"), "%s", r->body.p);
        api_free(r);
    }
}

Test(evaluation, isolation_and_roles)
{
    fixture f;
    setup(&f, "detection");
    char *viewer = api_user("viewer", NULL);
    cr_assert_eq(st(req(viewer, "GET", NULL, "/api/v1/evaluations/%lld", (long long)f.ev)), 200);
    cr_assert_eq(st(req(viewer, "GET", NULL, "/api/v1/experiments/%lld/evaluations", (long long)f.exp)),
                 200);
    cr_assert_eq(st(req(viewer, "POST", "{\"predictions\":[]}", "/api/v1/evaluations/%lld/predictions",
                        (long long)f.ev)),
                 403);
    cr_assert_eq(st(req(viewer, "POST", NULL, "/api/v1/evaluations/%lld/evaluate", (long long)f.ev)),
                 403);
    cr_assert_eq(st(req(viewer, "DELETE", NULL, "/api/v1/evaluations/%lld", (long long)f.ev)), 403);
    free(viewer);
    /* another organization sees nothing */
    char body[300];
    char *tok = api_user("member", NULL);
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("evorg"));
    api_resp *r = api_tok(tok, "POST", "/api/v1/orgs", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t org = jint(r->json, "id");
    api_free(r);
    r = api_tok(tok, "GET", "/api/v1/me", NULL);
    char name[80];
    snprintf(name, sizeof name, "%s", jstr(json_object_get(r->json, "user"), "username"));
    api_free(r);
    free(tok);
    snprintf(body, sizeof body,
             "{\"username\":\"%s\",\"password\":\"password-%s\",\"org_id\":%lld,\"token_name\":\"x\"}",
             name, name, (long long)org);
    api_opts o = {.body = body};
    r = api_do("POST", "/api/v1/auth/login", &o);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    char *otok = strdup(jstr(r->json, "token"));
    api_free(r);
    static const char *const probes[][3] = {
        {"GET", "/api/v1/evaluations/%lld", NULL},
        {"DELETE", "/api/v1/evaluations/%lld", NULL},
        {"POST", "/api/v1/evaluations/%lld/predictions", "{\"predictions\":[{\"asset_id\":1,\"shapes\":[]}]}"},
        {"DELETE", "/api/v1/evaluations/%lld/predictions", NULL},
        {"POST", "/api/v1/evaluations/%lld/evaluate", NULL},
        {"GET", "/api/v1/evaluations/%lld/pr-curves", NULL},
        {"GET", "/api/v1/evaluations/%lld/confusion", NULL},
        {"GET", "/api/v1/evaluations/%lld/confusion/0/0", NULL},
        {"GET", "/api/v1/evaluations/%lld/images", NULL},
    };
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
        r = req(otok, probes[i][0], probes[i][2], probes[i][1], (long long)f.ev);
        cr_assert_eq(r->status, 404, "%s %s: %ld %s", probes[i][0], probes[i][1], r->status,
                     r->body.p);
        api_free(r);
    }
    snprintf(body, sizeof body, "{\"dataset_version_id\":%lld}", (long long)f.v);
    cr_assert_eq(st(req(otok, "POST", body, "/api/v1/experiments/%lld/evaluations", (long long)f.exp)),
                 404);
    free(otok);
    /* deleting the experiment deletes its evaluations */
    cr_assert_eq(st(req(NULL, "DELETE", NULL, "/api/v1/experiments/%lld", (long long)f.exp)), 204);
    cr_assert_eq(st(req(NULL, "GET", NULL, "/api/v1/evaluations/%lld", (long long)f.ev)), 404);
}

/* Runs `cvops ARGS` against the test server; returns its exit status and
 * stdout (caller frees). */
static int cli(sbuf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cli(sbuf *out, const char *fmt, ...)
{
    char args[1024], cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s --server %s --token %s 2>&1", getenv("CVOPS_TEST_BIN"), args,
             getenv("CVOPS_TEST_URL"), api_admin_token());
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, p)) > 0)
        sbuf_put(out, buf, k);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

Test(evaluation, cli_with_coco_results)
{
    fixture f;
    setup(&f, "detection");
    annotate_detection(&f);
    /* the predictions as a COCO results file: image_id = asset id, category_id = label id */
    char path[] = "/tmp/cvops-evcli-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *d = fdopen(fd, "w");
    fprintf(d, "[");
    for (size_t k = 0; k < NDT; k++)
        fprintf(d, "%s{\"image_id\":%lld,\"category_id\":%lld,\"bbox\":[%g,%g,%g,%g],\"score\":%g}",
                k ? "," : "", (long long)f.assets[(int)DT[k][0]],
                (long long)(DT[k][1] ? f.dog : f.cat), DT[k][2], DT[k][3], DT[k][4], DT[k][5],
                DT[k][6]);
    fprintf(d, "]");
    fclose(d);
    sbuf out = SBUF_INIT;
    int rc = cli(&out, "evaluation predictions %lld %s --coco", (long long)f.ev, path);
    cr_assert_eq(rc, 0, "%s", sbuf_cstr(&out));
    cr_assert_not_null(strstr(sbuf_cstr(&out), "uploaded 6 predictions on 4 images"), "%s",
                       sbuf_cstr(&out));
    sbuf_reset(&out);
    rc = cli(&out, "evaluation run %lld", (long long)f.ev);
    cr_assert_eq(rc, 0, "%s", sbuf_cstr(&out));
    /* the reference's summary lines, byte for byte */
    json_t *ref = reference(&f);
    json_t *ev = get_json("/api/v1/evaluations/%lld", f.ev, NULL);
    const char *text = jstr(json_object_get(ev, "summary"), "text");
    cr_assert_not_null(strstr(sbuf_cstr(&out), text), "%s", sbuf_cstr(&out));
    cr_assert(fabs(json_number_value(json_array_get(json_object_get(ref, "stats"), 0)) -
                   json_number_value(json_array_get(json_object_get(json_object_get(ev, "summary"), "stats"), 0))) < 1e-12);
    json_decref(ev);
    json_decref(ref);
    /* --gt: the results refer to a COCO file of their own ids; images are
     * matched by file name, categories by name */
    char body[200];
    snprintf(body, sizeof body, "{\"dataset_version_id\":%lld,\"name\":\"by-gt\"}", (long long)f.v);
    api_resp *r = req(NULL, "POST", body, "/api/v1/experiments/%lld/evaluations", (long long)f.exp);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t ev2 = jint(r->json, "id");
    api_free(r);
    char gtpath[] = "/tmp/cvops-evgt-XXXXXX";
    int gfd = mkstemp(gtpath);
    cr_assert_geq(gfd, 0);
    FILE *g = fdopen(gfd, "w");
    fprintf(g, "{\"images\":[");
    for (int i = 0; i < N_IMG; i++)
        fprintf(g, "%s{\"id\":%d,\"file_name\":\"train/ev%d.bmp\",\"width\":64,\"height\":48}",
                i ? "," : "", 100 + i, i);
    fprintf(g, "],\"categories\":[{\"id\":7,\"name\":\"cat\"},{\"id\":9,\"name\":\"dog\"}],"
               "\"annotations\":[]}");
    fclose(g);
    d = fopen(path, "w");
    fprintf(d, "[");
    for (size_t k = 0; k < NDT; k++)
        fprintf(d, "%s{\"image_id\":%d,\"category_id\":%d,\"bbox\":[%g,%g,%g,%g],\"score\":%g}",
                k ? "," : "", 100 + (int)DT[k][0], DT[k][1] ? 9 : 7, DT[k][2], DT[k][3], DT[k][4],
                DT[k][5], DT[k][6]);
    fprintf(d, "]");
    fclose(d);
    sbuf_reset(&out);
    rc = cli(&out, "evaluation predictions %lld %s --coco --gt %s", (long long)ev2, path, gtpath);
    cr_assert_eq(rc, 0, "%s", sbuf_cstr(&out));
    sbuf_reset(&out);
    rc = cli(&out, "evaluation run %lld --json", (long long)ev2);
    cr_assert_eq(rc, 0, "%s", sbuf_cstr(&out));
    json_t *e1 = get_json("/api/v1/evaluations/%lld", f.ev, NULL),
           *e2 = get_json("/api/v1/evaluations/%lld", ev2, NULL);
    cr_assert(json_equal(json_object_get(json_object_get(e1, "summary"), "stats"),
                         json_object_get(json_object_get(e2, "summary"), "stats")));
    json_decref(e1);
    json_decref(e2);
    unlink(gtpath);
    sbuf_reset(&out);
    rc = cli(&out, "evaluation images %lld --has-fn --order-by asset", (long long)f.ev);
    cr_assert_eq(rc, 0, "%s", sbuf_cstr(&out));
    cr_assert_not_null(strstr(sbuf_cstr(&out), "localization"), "%s", sbuf_cstr(&out));
    sbuf_reset(&out);
    /* a bad file: a clear message and exit status 1 */
    FILE *b = fopen(path, "w");
    fprintf(b, "[{\"image_id\":1}]");
    fclose(b);
    rc = cli(&out, "evaluation predictions %lld %s --coco", (long long)f.ev, path);
    cr_assert_eq(rc, 1, "%s", sbuf_cstr(&out));
    cr_assert_not_null(strstr(sbuf_cstr(&out), "results[0]: needs an integer category_id and a numeric score"),
                       "%s", sbuf_cstr(&out));
    unlink(path);
    sbuf_free(&out);
}

/* The API's own items through the CLI (streamed from the file, copied as
 * they are): bare and under "predictions"; the evaluation then has the
 * same predictions and the same numbers as when they are POSTed directly. */
Test(evaluation, cli_with_api_items)
{
    fixture f;
    setup(&f, "detection");
    annotate_detection(&f);
    sbuf items = SBUF_INIT;
    sbuf_puts(&items, "[");
    int first = 1;
    for (int i = 0; i < N_IMG; i++) {
        int k = 0;
        for (size_t d = 0; d < NDT; d++) {
            if ((int)DT[d][0] != i)
                continue;
            if (k == 0)
                sbuf_printf(&items, "%s{\"asset_id\":%lld,\"shapes\":[", first ? "" : ",\n",
                            (long long)f.assets[i]);
            first = 0;
            sbuf_printf(&items,
                        "%s{\"kind\":\"box\",\"label\":\"%s\",\"box\":[%g,%g,%g,%g],\"score\":%g}",
                        k++ ? "," : "", DT[d][1] ? "dog" : "cat", DT[d][2], DT[d][3], DT[d][4],
                        DT[d][5], DT[d][6]);
        }
        if (k)
            sbuf_puts(&items, "]}");
    }
    sbuf_puts(&items, "]");
    char path[] = "/tmp/cvops-evitems-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    for (int w = 0; w < 2; w++) {
        FILE *d = fopen(path, "w");
        if (w)
            fprintf(d, "{\"note\":{\"predictions\":1},\"predictions\":%s}", sbuf_cstr(&items));
        else
            fputs(sbuf_cstr(&items), d);
        fclose(d);
        sbuf out = SBUF_INIT;
        int rc = cli(&out, "evaluation predictions %lld %s", (long long)f.ev, path);
        cr_assert_eq(rc, 0, "%s", sbuf_cstr(&out));
        cr_assert_not_null(strstr(sbuf_cstr(&out), "uploaded 6 predictions on 4 images"), "%s",
                           sbuf_cstr(&out));
        json_t *ev = get_json("/api/v1/evaluations/%lld", f.ev, NULL);
        cr_assert_eq(jint(ev, "predictions"), (int64_t)NDT); /* replaced, not added */
        json_decref(ev);
        sbuf_free(&out);
    }
    sbuf out = SBUF_INIT;
    int rc = cli(&out, "evaluation run %lld --json", (long long)f.ev);
    cr_assert_eq(rc, 0, "%s", sbuf_cstr(&out));
    json_t *ref = reference(&f);
    json_t *ev = get_json("/api/v1/evaluations/%lld", f.ev, NULL);
    cr_assert(fabs(json_number_value(json_array_get(json_object_get(ref, "stats"), 0)) -
                   json_number_value(json_array_get(
                       json_object_get(json_object_get(ev, "summary"), "stats"), 0))) < 1e-12);
    json_decref(ev);
    json_decref(ref);
    /* not items: a clear message, nothing sent */
    FILE *d = fopen(path, "w");
    fputs("[{\"asset_id\":1,\"shapes\":[]}, 7]", d);
    fclose(d);
    sbuf_reset(&out);
    rc = cli(&out, "evaluation predictions %lld %s", (long long)f.ev, path);
    cr_assert_eq(rc, 1, "%s", sbuf_cstr(&out));
    cr_assert_not_null(strstr(sbuf_cstr(&out), "predictions[1]: an item is an object"), "%s",
                       sbuf_cstr(&out));
    unlink(path);
    sbuf_free(&out);
    sbuf_free(&items);
}
