/*
 * API tests of dataset splits, statistics, and import/export: stratified
 * splits (ratios, stratification, multi-label, determinism), stats, COCO
 * round trips (import -> export -> import gives the same export),
 * all-or-nothing imports with a report of every problem and its location,
 * --skip-invalid, malformed inputs, modes, images shipped in an archive,
 * exports with images.
 */
#include <archive.h>
#include <archive_entry.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dataset/archive.h"
#include "test_dataset_util.h"

static void init(void)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0, "%s", e.msg);
}

TestSuite(dataset_io, .init = init);

/* A version on the shared lake with its first n items as assets. */
static int64_t shared_version(int n, int64_t *assets)
{
    int64_t ids[SHARED_MAX];
    int64_t lake = shared_lake(ids);
    int64_t ds = new_dataset(NULL, lake), v = new_version(ds, "v", "classification");
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "{\"data_ids\":[");
    for (int i = 0; i < n; i++)
        sbuf_printf(&b, "%s%lld", i ? "," : "", (long long)ids[i]);
    sbuf_puts(&b, "]}");
    api_resp *r = req(NULL, "POST", b.p, "/api/v1/dataset-versions/%lld/assets", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    sbuf_free(&b);
    list_assets(v, n, assets);
    return v;
}

/* --- splits ---------------------------------------------------------------------------- */

/* The assets tagged t, as a sorted id list in a string. */
static char *tagged(int64_t v, const char *t)
{
    char q[64];
    snprintf(q, sizeof q, "tag%%3D%s", t);
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/assets?limit=1000&q=%s",
                      (long long)v, q);
    cr_assert_eq(r->status, 200);
    sbuf s = SBUF_INIT;
    json_t *items = json_object_get(r->json, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        sbuf_printf(&s, "%lld,", (long long)jint(json_array_get(items, i), "id"));
    api_free(r);
    char *out = strdup(sbuf_cstr(&s));
    sbuf_free(&s);
    return out;
}

Test(dataset_io, stratified_splits)
{
    enum { N = 300 };
    int64_t assets[N];
    int64_t v = shared_version(N, assets);
    new_label(v, "{\"name\":\"rare\"}");
    new_label(v, "{\"name\":\"common\"}");
    new_label(v, "{\"name\":\"most\"}");
    /* rare: 20 assets; common: 100; most: 200 (overlapping common: multi-label);
     * the last 30 have no label */
    sbuf d = SBUF_INIT;
    sbuf_puts(&d, "{\"annotations\":[");
    int nr = 0, nc = 0, nm = 0;
    for (int i = 0; i < N - 30; i++) {
        sbuf_printf(&d, "%s{\"asset_id\":%lld,\"shapes\":[", i ? "," : "", (long long)assets[i]);
        bool first = true;
        if (i % 13 == 0 && nr < 20) {
            sbuf_puts(&d, "{\"kind\":\"class\",\"label\":\"rare\"}");
            first = false;
            nr++;
        }
        if (i % 27 < 10 && nc < 100) {
            sbuf_printf(&d, "%s{\"kind\":\"class\",\"label\":\"common\"}", first ? "" : ",");
            first = false;
            nc++;
        }
        if (i % 4 != 3 && nm < 200) {
            sbuf_printf(&d, "%s{\"kind\":\"class\",\"label\":\"most\"}", first ? "" : ",");
            nm++;
        }
        sbuf_puts(&d, "]}");
    }
    sbuf_puts(&d, "]}");
    api_resp *r = req(NULL, "POST", d.p, "/api/v1/dataset-versions/%lld/annotations", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    sbuf_free(&d);
    r = req(NULL, "POST", "{\"ratios\":{\"train\":0.7,\"val\":0.2,\"test\":0.1},\"seed\":42}",
            "/api/v1/dataset-versions/%lld/split", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "assets"), N);
    json_t *labels = json_object_get(r->json, "labels");
    int64_t tot[3] = {jint(labels, "rare"), jint(labels, "common"), jint(labels, "most")};
    cr_assert_eq(tot[0], nr);
    cr_assert_eq(tot[1], nc);
    cr_assert_eq(tot[2], nm);
    json_t *splits = json_object_get(r->json, "splits");
    cr_assert_eq(json_array_size(splits), 3);
    const char *names[] = {"rare", "common", "most"};
    double ratios[] = {0.7, 0.2, 0.1};
    int64_t sum = 0;
    for (size_t j = 0; j < 3; j++) {
        json_t *s = json_array_get(splits, j);
        int64_t n = jint(s, "assets");
        sum += n;
        /* ratios respected */
        cr_assert_leq(fabs((double)n - ratios[j] * N), 3, "%s has %lld assets", jstr(s, "name"), (long long)n);
        /* stratified: each label's share of the split is close to the ratio */
        for (int l = 0; l < 3; l++) {
            int64_t k = jint(json_object_get(s, "labels"), names[l]);
            cr_assert_leq(fabs((double)k - ratios[j] * (double)tot[l]), 1.5 + 0.02 * (double)tot[l],
                          "split %s, label %s: %lld of %lld", jstr(s, "name"), names[l], (long long)k,
                          (long long)tot[l]);
        }
        /* stored as tags */
        char q[40];
        snprintf(q, sizeof q, "tag = %s", jstr(s, "name"));
        cr_assert_eq(count_assets(v, q), n);
    }
    cr_assert_eq(sum, N);
    api_free(r);
    cr_assert_eq(count_assets(v, "tag = train and tag = val"), 0, "one split per asset");
    /* deterministic for a seed; another seed gives another split */
    char *t1 = tagged(v, "val");
    cr_assert_eq(st(req(NULL, "POST", "{\"ratios\":{\"train\":0.7,\"val\":0.2,\"test\":0.1},\"seed\":42}",
                        "/api/v1/dataset-versions/%lld/split", (long long)v)),
                 200);
    char *t2 = tagged(v, "val");
    cr_assert_str_eq(t1, t2);
    cr_assert_eq(st(req(NULL, "POST", "{\"ratios\":{\"train\":0.7,\"val\":0.2,\"test\":0.1},\"seed\":7}",
                        "/api/v1/dataset-versions/%lld/split", (long long)v)),
                 200);
    char *t3 = tagged(v, "val");
    cr_assert_str_neq(t1, t3);
    free(t1);
    free(t2);
    free(t3);
    /* any names; a query limits the assets split (other tags stay) */
    r = req(NULL, "POST", "{\"ratios\":{\"a\":1,\"b\":1},\"q\":\"label = rare\"}",
            "/api/v1/dataset-versions/%lld/split", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(json_array_get(json_object_get(r->json, "splits"), 0), "assets"), 10);
    api_free(r);
    cr_assert_eq(count_assets(v, "tag = a"), 10);
    cr_assert_eq(count_assets(v, "tag = train or tag = val or tag = test"), N);
    /* bad requests */
    r = req(NULL, "POST", "{\"ratios\":{\"train\":0}}", "/api/v1/dataset-versions/%lld/split", (long long)v);
    cr_assert_eq(r->status, 400);
    cr_assert_str_eq(api_error_message(r), "the ratio of split 'train' must be a positive number");
    api_free(r);
    r = req(NULL, "POST", "{\"ratios\":{\"train\":\"x\"}}", "/api/v1/dataset-versions/%lld/split", (long long)v);
    cr_assert_eq(r->status, 400);
    api_free(r);
    /* statistics per split */
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/stats", (long long)v);
    cr_assert_eq(r->status, 200);
    json_t *ss = json_object_get(r->json, "splits");
    bool seen = false;
    for (size_t i = 0; i < json_array_size(ss); i++)
        if (strcmp(jstr(json_array_get(ss, i), "name"), "a") == 0) {
            seen = true;
            json_t *l0 = json_array_get(json_object_get(json_array_get(ss, i), "labels"), 0);
            cr_assert_str_eq(jstr(l0, "name"), "rare");
            cr_assert_eq(jint(l0, "images"), 10);
        }
    cr_assert(seen);
    api_free(r);
}

Test(dataset_io, stats)
{
    int64_t assets[6];
    int64_t v = shared_version(6, assets);
    new_label(v, "{\"name\":\"car\"}");
    new_label(v, "{\"name\":\"bus\"}");
    char doc[400];
    /* boxes: 2x2 (tiny, square), 8x2 (wide), 1x6 (tall) */
    snprintf(doc, sizeof doc,
             "{\"status\":\"accepted\",\"shapes\":[{\"kind\":\"box\",\"label\":\"car\",\"box\":[0,0,2,2]},"
             "{\"kind\":\"box\",\"label\":\"car\",\"box\":[0,0,8,2]},{\"kind\":\"box\",\"label\":\"bus\",\"box\":[0,0,1,6]}]}");
    cr_assert_eq(st(annotate(NULL, assets[0], doc)), 200);
    cr_assert_eq(st(annotate(NULL, assets[1], "{\"status\":\"rejected\",\"shapes\":[{\"kind\":\"box\",\"label\":\"car\",\"box\":[1,1,4,4]}]}")), 200);
    cr_assert_eq(st(annotate(NULL, assets[2], "{\"status\":\"skipped\",\"shapes\":[]}")), 200);
    cr_assert_eq(st(annotate(NULL, assets[3], "{\"shapes\":[{\"kind\":\"polygon\",\"label\":\"bus\",\"points\":[0,0,4,0,4,4]}]}")), 200);
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/stats", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *j = r->json;
    cr_assert_eq(jint(j, "assets"), 6);
    cr_assert_eq(jint(j, "annotated"), 4);
    cr_assert_eq(jint(j, "objects"), 5);
    json_t *stt = json_object_get(j, "status");
    cr_assert_eq(jint(stt, "accepted"), 1);
    cr_assert_eq(jint(stt, "rejected"), 1);
    cr_assert_eq(jint(stt, "skipped"), 1);
    cr_assert_eq(jint(stt, "pending"), 1);
    cr_assert_eq(jint(stt, "none"), 2);
    json_t *labs = json_object_get(j, "labels");
    cr_assert_str_eq(jstr(json_array_get(labs, 0), "name"), "car");
    cr_assert_eq(jint(json_array_get(labs, 0), "objects"), 3);
    cr_assert_eq(jint(json_array_get(labs, 0), "images"), 2);
    cr_assert_eq(jint(json_array_get(labs, 1), "objects"), 2);
    cr_assert_eq(jint(json_array_get(labs, 1), "images"), 2);
    cr_assert_eq(jint(json_object_get(j, "kinds"), "box"), 4);
    cr_assert_eq(jint(json_object_get(j, "kinds"), "polygon"), 1);
    json_t *sizes = json_object_get(j, "box_sizes");
    cr_assert_str_eq(jstr(json_array_get(sizes, 0), "bucket"), "<8");
    cr_assert_eq(jint(json_array_get(sizes, 0), "count"), 5);
    json_t *asp = json_object_get(j, "box_aspects");
    int64_t square = 0, wide = 0, tall = 0;
    for (size_t i = 0; i < json_array_size(asp); i++) {
        json_t *b = json_array_get(asp, i);
        if (strcmp(jstr(b, "bucket"), "4:5-5:4") == 0)
            square = jint(b, "count");
        if (strcmp(jstr(b, "bucket"), "2:1-4:1") == 0)
            wide = jint(b, "count");
        if (strcmp(jstr(b, "bucket"), "<1:4") == 0)
            tall = jint(b, "count");
    }
    cr_assert_eq(square, 3);
    cr_assert_eq(wide, 1);
    cr_assert_eq(tall, 1);
    api_free(r);
}

/* --- import and export ----------------------------------------------------------------------- */

/* A COCO export in comparable form: ids replaced by names, sorted. */
static char *canonical(const char *text, size_t n)
{
    json_error_t je;
    json_t *doc = json_loadb(text, n, 0, &je);
    cr_assert_not_null(doc, "export is not JSON: %s", je.text);
    json_t *cats = json_object_get(doc, "categories"), *imgs = json_object_get(doc, "images"),
           *anns = json_object_get(doc, "annotations");
    json_t *catname = json_object(), *imgname = json_object();
    size_t i;
    json_t *x;
    json_t *out_cats = json_array(), *out_imgs = json_array(), *out_anns = json_array();
    json_array_foreach(cats, i, x)
    {
        char k[32];
        snprintf(k, sizeof k, "%lld", (long long)jint(x, "id"));
        json_object_set(catname, k, json_object_get(x, "name"));
        json_t *c = json_deep_copy(x);
        json_object_del(c, "id");
        json_array_append_new(out_cats, c);
    }
    json_array_foreach(imgs, i, x)
    {
        char k[32];
        snprintf(k, sizeof k, "%lld", (long long)jint(x, "id"));
        json_object_set(imgname, k, json_object_get(x, "file_name"));
        json_t *c = json_deep_copy(x);
        json_object_del(c, "id");
        json_array_append_new(out_imgs, c);
    }
    json_array_foreach(anns, i, x)
    {
        char k[32];
        json_t *c = json_deep_copy(x);
        snprintf(k, sizeof k, "%lld", (long long)jint(x, "image_id"));
        json_object_set(c, "image_id", json_object_get(imgname, k));
        snprintf(k, sizeof k, "%lld", (long long)jint(x, "category_id"));
        json_object_set(c, "category_id", json_object_get(catname, k));
        json_object_del(c, "id");
        json_array_append_new(out_anns, c);
    }
    /* sort each list by its serialisation */
    json_t *lists[] = {out_cats, out_imgs, out_anns};
    sbuf out = SBUF_INIT;
    for (int l = 0; l < 3; l++) {
        size_t m = json_array_size(lists[l]);
        char **s = calloc(m + 1, sizeof *s);
        for (size_t k = 0; k < m; k++)
            s[k] = json_dumps(json_array_get(lists[l], k), JSON_COMPACT | JSON_SORT_KEYS);
        for (size_t a = 1; a < m; a++)
            for (size_t b = a; b > 0 && strcmp(s[b - 1], s[b]) > 0; b--) {
                char *t = s[b];
                s[b] = s[b - 1];
                s[b - 1] = t;
            }
        for (size_t k = 0; k < m; k++) {
            sbuf_printf(&out, "%s\n", s[k]);
            free(s[k]);
        }
        sbuf_puts(&out, "--\n");
        free(s);
        json_decref(lists[l]);
    }
    json_decref(catname);
    json_decref(imgname);
    json_decref(doc);
    char *r = strdup(sbuf_cstr(&out));
    sbuf_free(&out);
    return r;
}

/* Four 64x48 items named p0.bmp..p3.bmp in a fresh lake, a dataset on it. */
typedef struct io_fixture {
    int64_t lake, ds, data[4];
    char sha[4][65];
} io_fixture;

static void io_setup(io_fixture *f)
{
    f->lake = new_lake();
    upload_images(f->lake, 4, 64, 48, "p", (uint64_t)f->lake, f->data);
    for (int i = 0; i < 4; i++) {
        api_resp *r = req(NULL, "GET", NULL, "/api/v1/data/%lld", (long long)f->data[i]);
        snprintf(f->sha[i], sizeof f->sha[i], "%s", jstr(r->json, "sha256"));
        api_free(r);
    }
    f->ds = new_dataset(NULL, f->lake);
}

static const char coco_ok[] =
    "{\"images\":[{\"id\":1,\"file_name\":\"p0.bmp\",\"width\":64,\"height\":48},"
    "{\"id\":2,\"file_name\":\"train/p1.bmp\",\"width\":64,\"height\":48},{\"id\":3,\"file_name\":\"p2.bmp\",\"width\":64,\"height\":48}],"
    "\"categories\":[{\"id\":7,\"name\":\"cat\",\"supercategory\":\"animal\"},{\"id\":9,\"name\":\"dog\"},"
    "{\"id\":11,\"name\":\"person\",\"keypoints\":[\"head\",\"hand\"],\"skeleton\":[[1,2]]}],"
    "\"annotations\":["
    "{\"id\":1,\"image_id\":1,\"category_id\":7,\"bbox\":[1.25,2,10,20],\"area\":200,\"iscrowd\":0,\"segmentation\":[]},"
    "{\"id\":2,\"image_id\":1,\"category_id\":9,\"bbox\":[0,0,30,30],\"area\":450.5,\"iscrowd\":0,"
    "\"segmentation\":[[0,0,30,0,30,30],[40,40,50,40,50,45]]},"
    "{\"id\":3,\"image_id\":2,\"category_id\":11,\"bbox\":[1,1,5,5],\"keypoints\":[1,1,2,6,6,1],\"num_keypoints\":2},"
    "{\"id\":4,\"image_id\":2,\"category_id\":7,\"segmentation\":{\"size\":[48,64],\"counts\":[10,5,3057]},\"iscrowd\":1,\"area\":5,\"bbox\":[0,10,1,5]},"
    "{\"id\":5,\"image_id\":3,\"category_id\":9,\"bbox\":[60,40,4,8],\"area\":32,\"iscrowd\":0,\"score\":0.5}]}";

Test(dataset_io, coco_round_trip)
{
    io_fixture f;
    io_setup(&f);
    int64_t v1 = new_version(f.ds, "v1", "multi"), v2 = new_version(f.ds, "v2", "multi");
    json_t *j = import_file(v1, coco_ok, strlen(coco_ok), "coco", NULL);
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "%s", jstr(j, "error"));
    json_t *res = json_object_get(j, "result");
    cr_assert_eq(jint(res, "images"), 3);
    cr_assert_eq(jint(res, "shapes"), 5);
    cr_assert_eq(jint(res, "problems_total"), 0);
    json_decref(j);
    cr_assert_eq(count_assets(v1, ""), 3);
    cr_assert_eq(count_assets(v1, "status = accepted"), 3);
    cr_assert_eq(count_assets(v1, "label = person and data.filename = \"p1.bmp\""), 1);
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/labels", (long long)v1);
    json_t *labs = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(labs), 3);
    cr_assert_str_eq(jstr(json_array_get(labs, 0), "group"), "animal");
    cr_assert_eq(json_array_size(json_object_get(json_array_get(labs, 2), "keypoints")), 2);
    api_free(r);
    /* the multi-ring polygon, the mask and the keypoints came through */
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/assets?shapes=1&q=data.filename%%3D%%22p0.bmp%%22",
            (long long)v1);
    json_t *shapes = json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "shapes");
    cr_assert_eq(json_array_size(shapes), 2);
    cr_assert_eq(json_array_size(json_object_get(json_array_get(shapes, 1), "rings")), 2);
    cr_assert_eq(json_real_value(json_object_get(json_array_get(shapes, 1), "area")), 450.5);
    api_free(r);
    /* export, import the export elsewhere, export again: the same */
    char name[200];
    sbuf e1 = export_file(v1, "{\"format\":\"coco\"}", name, sizeof name);
    cr_assert_not_null(strstr(name, ".json"), "%s", name);
    j = import_file(v2, e1.p, e1.len, "coco", NULL);
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "%s", jstr(j, "error"));
    json_decref(j);
    sbuf e2 = export_file(v2, "{\"format\":\"coco\"}", NULL, 0);
    char *c1 = canonical(e1.p, e1.len), *c2 = canonical(e2.p, e2.len);
    cr_assert_str_eq(c1, c2);
    cr_assert_not_null(strstr(c1, "[[0,0,30,0,30,30],[40,40,50,40,50,45]]"), "%s", c1);
    cr_assert_not_null(strstr(c1, "\"bbox\":[1.25,2,10,20]"), "%s", c1);
    free(c1);
    free(c2);
    sbuf_free(&e1);
    sbuf_free(&e2);
    /* an export of part of the version, with the images, as an archive */
    sbuf t = export_file(v1, "{\"format\":\"coco\",\"images\":true,\"q\":\"label = dog\"}", name, sizeof name);
    cr_assert_not_null(strstr(name, ".tar"), "%s", name);
    struct archive *a = archive_read_new();
    archive_read_support_format_all(a);
    cr_assert_eq(archive_read_open_memory(a, t.p, t.len), ARCHIVE_OK);
    struct archive_entry *ent;
    int images = 0, jsons = 0;
    while (archive_read_next_header(a, &ent) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(ent);
        if (strstr(p, ".bmp")) {
            images++;
            cr_assert_eq(archive_entry_size(ent), 54 + 64 * 48 * 3);
        }
        if (strstr(p, ".json"))
            jsons++;
    }
    archive_read_free(a);
    cr_assert_eq(images, 2);
    cr_assert_eq(jsons, 1);
    sbuf_free(&t);
}

/* keep_category_ids: the COCO export writes the category ids of the imported file (7, 9, 11)
 * instead of 1..3, on categories and annotations alike; labels created otherwise get ids after
 * the largest; other formats refuse the option. */
Test(dataset_io, coco_export_keeps_the_source_category_ids)
{
    io_fixture f;
    io_setup(&f);
    int64_t v1 = new_version(f.ds, "v1", "multi");
    json_t *j = import_file(v1, coco_ok, strlen(coco_ok), "coco", NULL);
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "%s", jstr(j, "error"));
    json_decref(j);
    sbuf plain = export_file(v1, "{\"format\":\"coco\"}", NULL, 0);
    sbuf kept = export_file(v1, "{\"format\":\"coco\",\"keep_category_ids\":true}", NULL, 0);
    json_t *a = json_loadb(plain.p, plain.len, 0, NULL), *b = json_loadb(kept.p, kept.len, 0, NULL);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    json_t *ca = json_object_get(a, "categories"), *cb = json_object_get(b, "categories");
    cr_assert_eq(json_array_size(cb), 3);
    static const char *const names[] = {"cat", "dog", "person"};
    static const int ids[] = {7, 9, 11};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(jint(json_array_get(ca, i), "id"), (int64_t)i + 1);
        cr_assert_str_eq(jstr(json_array_get(cb, i), "name"), names[i]);
        cr_assert_eq(jint(json_array_get(cb, i), "id"), ids[i]);
    }
    /* every annotation names its category by the kept id */
    json_t *anns = json_object_get(b, "annotations");
    json_t *plain_anns = json_object_get(a, "annotations");
    cr_assert_eq(json_array_size(anns), 5);
    for (size_t i = 0; i < json_array_size(anns); i++) {
        int64_t k = jint(json_array_get(plain_anns, i), "category_id");
        cr_assert_eq(jint(json_array_get(anns, i), "category_id"), ids[k - 1]);
    }
    json_decref(a);
    json_decref(b);
    sbuf_free(&plain);
    sbuf_free(&kept);
    /* a label made by hand has no source id: it comes after the largest */
    new_label(v1, "{\"name\":\"zebra\"}");
    kept = export_file(v1, "{\"format\":\"coco\",\"keep_category_ids\":true}", NULL, 0);
    b = json_loadb(kept.p, kept.len, 0, NULL);
    cb = json_object_get(b, "categories");
    cr_assert_eq(json_array_size(cb), 4);
    cr_assert_str_eq(jstr(json_array_get(cb, 3), "name"), "zebra");
    cr_assert_eq(jint(json_array_get(cb, 3), "id"), 12);
    json_decref(b);
    sbuf_free(&kept);
    /* a fork keeps them */
    api_resp *r = req(NULL, "POST", "{\"name\":\"v1-fork\"}", "/api/v1/dataset-versions/%lld/fork",
                      (long long)v1);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t v2 = jint(r->json, "id");
    api_free(r);
    kept = export_file(v2, "{\"format\":\"coco\",\"keep_category_ids\":true}", NULL, 0);
    cr_assert_not_null(strstr(kept.p, "\"id\":11,"), "%.*s", (int)kept.len, kept.p);
    sbuf_free(&kept);
    /* only COCO has category ids to keep */
    r = req(NULL, "POST", "{\"format\":\"yolo\",\"keep_category_ids\":true}",
            "/api/v1/dataset-versions/%lld/export", (long long)v1);
    cr_assert_eq(r->status, 400, "%s", r->body.p);
    cr_assert_not_null(strstr(r->body.p, "keep_category_ids is for COCO"), "%s", r->body.p);
    api_free(r);
    r = req(NULL, "POST", "{\"format\":\"coco\",\"keep_category_ids\":\"yes\"}",
            "/api/v1/dataset-versions/%lld/export", (long long)v1);
    cr_assert_eq(r->status, 400, "%s", r->body.p);
    cr_assert_not_null(strstr(r->body.p, "keep_category_ids"), "%s", r->body.p);
    api_free(r);
}

/* Starts the import of a COCO file of the fixture's four images (p0..p3.bmp) with n boxes of
 * label 'cat' (image k % 4 + 1 gets box k), and returns the job once it left the queue. */
static int64_t start_long_import(int64_t v, int n)
{
    sbuf doc = SBUF_INIT;
    sbuf_puts(&doc, "{\"images\":[");
    for (int i = 0; i < 4; i++)
        sbuf_printf(&doc, "%s{\"id\":%d,\"file_name\":\"p%d.bmp\",\"width\":64,\"height\":48}",
                    i ? "," : "", i + 1, i);
    sbuf_puts(&doc, "],\"categories\":[{\"id\":7,\"name\":\"cat\"}],\"annotations\":[");
    for (int k = 1; k <= n; k++)
        sbuf_printf(&doc, "%s{\"id\":%d,\"image_id\":%d,\"category_id\":7,\"bbox\":[%d,%d,10,8]}",
                    k > 1 ? "," : "", k, 1 + k % 4, k % 50, k % 40);
    sbuf_puts(&doc, "]}");
    const char *sha = upload_file(doc.p, doc.len);
    sbuf_free(&doc);
    char body[200];
    snprintf(body, sizeof body, "{\"file\":\"%s\",\"format\":\"coco\"}", sha);
    api_resp *r = req(NULL, "POST", body, "/api/v1/dataset-versions/%lld/import", (long long)v);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(r->json, "id");
    api_free(r);
    for (int i = 0; i < 2000; i++) { /* until the job runs */
        r = req(NULL, "GET", NULL, "/api/v1/jobs/%lld", (long long)job);
        bool queued = strcmp(jstr(r->json, "state"), "queued") == 0;
        api_free(r);
        if (!queued)
            break;
        usleep(5000);
    }
    return job;
}

/* On SQLite the import writes without foreign-key checks and checks its labels itself: a label
 * deleted while the file is read fails the import (nothing written) or, deleted before the job
 * looked, is made again; deleted after, it is refused (in use). Whichever happened, every shape
 * of the version has a label: the labels' object counts add up to the version's. */
Test(dataset_io, a_label_deleted_during_an_import_leaves_no_shape_without_a_label)
{
    io_fixture f;
    io_setup(&f);
    int64_t v = new_version(f.ds, "v1", "detection");
    int64_t cat = new_label(v, "{\"name\":\"cat\"}");
    const int n = 40000;
    int64_t job = start_long_import(v, n);
    api_resp *r;
    r = req(NULL, "DELETE", NULL, "/api/v1/labels/%lld", (long long)cat);
    long del = r->status;
    api_free(r);
    json_t *j = api_wait_job(api_admin_token(), job, 120);
    const char *state = jstr(j, "state");
    if (strcmp(state, "failed") == 0) {
        cr_assert_lt(del, 300, "the delete went through");
        cr_assert_not_null(
            strstr(jstr(j, "error"), "label 'cat' was deleted while the file was read"), "%s",
            jstr(j, "error"));
        cr_assert_eq(count_assets(v, ""), 0, "nothing was imported");
    } else {
        cr_assert_str_eq(state, "succeeded", "%s", jstr(j, "error"));
        cr_assert(del < 300 || del == 409, "%ld", del);
    }
    json_decref(j);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/stats", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    int64_t objects = jint(r->json, "objects");
    api_free(r);
    cr_assert(objects == 0 || objects == n, "%lld", (long long)objects);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/labels", (long long)v);
    int64_t sum = 0;
    json_t *items = json_object_get(r->json, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        sum += jint(json_array_get(items, i), "objects");
    api_free(r);
    cr_assert_eq(sum, objects, "shapes without a label: %lld", (long long)(objects - sum));
}

/* The label deleted after the write phase checked it (PostgreSQL): a table lock taken here
 * stops the import at its annotation rows, after the check, and the DELETE comes then. The
 * import keeps the labels it checked locked, so the DELETE waits for its commit and is
 * refused; before, it went through and the import failed on the shapes' foreign key. */
typedef struct {
    int64_t label;
    _Atomic long status;
    char body[300];
} label_delete;

static void *delete_label(void *arg)
{
    label_delete *d = arg;
    api_resp *r = req(NULL, "DELETE", NULL, "/api/v1/labels/%lld", (long long)d->label);
    snprintf(d->body, sizeof d->body, "%s", r->body.p ? r->body.p : "");
    d->status = r->status;
    api_free(r);
    return NULL;
}

static long pg_count(PGconn *pc, const char *sql)
{
    PGresult *res = PQexec(pc, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(pc));
    long n = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

Test(dataset_io, a_label_deleted_after_the_write_phase_checked_it_waits_for_the_import)
{
    if (!api_is_pg())
        cr_skip_test("PostgreSQL only: on SQLite the import holds the only write lock");
    io_fixture f;
    io_setup(&f);
    int64_t v = new_version(f.ds, "v1", "detection");
    int64_t cat = new_label(v, "{\"name\":\"cat\"}");
    PGconn *pc = PQconnectdb(getenv("CVOPS_TEST_DB"));
    cr_assert_eq(PQstatus(pc), CONNECTION_OK, "%s", PQerrorMessage(pc));
    PQclear(PQexec(pc, "BEGIN"));
    PGresult *res = PQexec(pc, "LOCK TABLE annotation IN EXCLUSIVE MODE");
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(pc));
    PQclear(res);
    const int n = 4000;
    int64_t job = start_long_import(v, n);
    PGconn *watch = PQconnectdb(getenv("CVOPS_TEST_DB"));
    cr_assert_eq(PQstatus(watch), CONNECTION_OK, "%s", PQerrorMessage(watch));
    /* the import has read the file (its log says so) and a writer waits for the table; the
     * other tests' writers may wait too, so give this one time to get there as well: its
     * steps before the annotation rows (labels, assets, the check) take milliseconds */
    long waiting = 0;
    bool read_done = false;
    for (int i = 0; i < 600 && !(waiting && read_done); i++) {
        if (!read_done) {
            api_resp *r = req(NULL, "GET", NULL, "/api/v1/jobs/%lld/log", (long long)job);
            read_done = r->body.p && strstr(r->body.p, "\"read ");
            api_free(r);
        }
        waiting = pg_count(watch, "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type ="
                                  " 'Lock' AND query LIKE 'INSERT INTO annotation%'");
        if (!(waiting && read_done))
            usleep(50 * 1000);
    }
    usleep(300 * 1000);
    label_delete d = {.label = cat};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, delete_label, &d), 0);
    usleep(500 * 1000);
    long early = d.status; /* 0 while the DELETE waits */
    PQclear(PQexec(pc, "COMMIT"));
    pthread_join(th, NULL);
    PQfinish(pc);
    PQfinish(watch);
    json_t *j = api_wait_job(api_admin_token(), job, 120);
    cr_assert(waiting && read_done, "the import never reached its annotation rows");
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "%s", jstr(j, "error"));
    json_decref(j);
    cr_assert_eq(early, 0, "the DELETE did not wait for the import: %ld %s", early, d.body);
    cr_assert_eq(d.status, 409, "%s", d.body);
    cr_assert_not_null(strstr(d.body, "is used by 4000 shapes"), "%s", d.body);
    cr_assert_eq(count_assets(v, "label = cat"), 4);
}

/* A fork copies the shapes by ranges of assets of about 50,000 shapes (FORK_SHAPES): 90,000
 * shapes on 4 images take two ranges, the first image to the third and the fourth. Every
 * shape arrives, on the fork's own label, in its order. */
static json_t *image_shapes(int64_t v, int img, api_resp **keep)
{
    *keep = req(NULL, "GET", NULL,
                "/api/v1/dataset-versions/%lld/assets?shapes=1&q=data.filename%%3D%%22p%d.bmp%%22",
                (long long)v, img);
    cr_assert_eq((*keep)->status, 200, "%s", (*keep)->body.p);
    return json_object_get(json_array_get(json_object_get((*keep)->json, "items"), 0), "shapes");
}

Test(dataset_io, a_fork_of_90000_shapes_copies_them_all_in_order)
{
    io_fixture f;
    io_setup(&f);
    int64_t v = new_version(f.ds, "v1", "detection");
    const int n = 90000;
    json_t *j = api_wait_job(api_admin_token(), start_long_import(v, n), 120);
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "%s", jstr(j, "error"));
    json_decref(j);
    api_resp *r = req(NULL, "POST", "{\"name\":\"copy\"}", "/api/v1/dataset-versions/%lld/fork",
                      (long long)v);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t v2 = jint(r->json, "id");
    cr_assert_eq(jint(r->json, "shapes"), n);
    api_free(r);
    for (int img = 0; img < 4; img++) {
        api_resp *ra, *rb;
        json_t *a = image_shapes(v, img, &ra), *b = image_shapes(v2, img, &rb);
        cr_assert_eq(json_array_size(a), (size_t)n / 4);
        cr_assert_eq(json_array_size(b), (size_t)n / 4);
        for (size_t i = 0; i < json_array_size(a); i++) {
            json_t *x = json_array_get(a, i), *y = json_array_get(b, i);
            cr_assert(json_equal(json_object_get(x, "box"), json_object_get(y, "box")),
                      "p%d.bmp, shape %zu: not the same box", img, i);
            cr_assert_str_eq(jstr(y, "label"), "cat");
            cr_assert_neq(jint(x, "label_id"), jint(y, "label_id"), "the fork has its own label");
        }
        api_free(ra);
        api_free(rb);
    }
}

/* The same for a datalake item: deleted while the file is read, the import fails whole (the
 * image is missing, or the write phase finds the item gone); deleted after, the item's asset
 * goes with it (an unlocked version). Whichever happened, every asset of the version has its
 * datalake item, and the version holds all of the file's shapes or those of the other images. */
Test(dataset_io, a_datalake_item_deleted_during_an_import_leaves_no_asset_without_its_item)
{
    io_fixture f;
    io_setup(&f);
    int64_t v = new_version(f.ds, "v1", "detection");
    const int n = 40000; /* image k % 4 + 1 gets n / 4 of them */
    int64_t job = start_long_import(v, n);
    api_resp *r;
    r = req(NULL, "DELETE", NULL, "/api/v1/data/%lld", (long long)f.data[1]); /* p1.bmp */
    cr_assert_lt(r->status, 300, "an unlocked version does not keep the item: %s", r->body.p);
    api_free(r);
    json_t *j = api_wait_job(api_admin_token(), job, 120);
    const char *state = jstr(j, "state");
    int64_t assets = count_assets(v, "");
    if (strcmp(state, "failed") == 0) {
        const char *msg = jstr(j, "error");
        /* found missing when matched, between matching and reading the sizes, or by the
         * write phase */
        cr_assert(strstr(msg, "no item of datalake") ||
                      strstr(msg, "was deleted while the file was read"),
                  "%s", msg);
        cr_assert_eq(assets, 0, "nothing was imported");
    } else {
        cr_assert_str_eq(state, "succeeded", "%s", jstr(j, "error"));
        cr_assert_eq(assets, 3, "the deleted item's asset went with it");
    }
    json_decref(j);
    /* every asset has its item: one of the three that are left, by file name */
    int64_t found = 0;
    for (int i = 0; i < 4; i++) {
        char q[64];
        snprintf(q, sizeof q, "data.filename = \"p%d.bmp\"", i);
        int64_t k = count_assets(v, q);
        cr_assert(i != 1 || k == 0, "p1.bmp was deleted but has %lld assets", (long long)k);
        found += k;
    }
    cr_assert_eq(found, assets, "%lld assets, %lld with their datalake item", (long long)assets,
                 (long long)found);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/stats", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    int64_t objects = jint(r->json, "objects");
    api_free(r);
    cr_assert(objects == (assets ? n - n / 4 : 0), "%lld objects for %lld assets",
              (long long)objects, (long long)assets);
}

/* Shapes a format cannot hold (COCO: classes, polylines, points) are left out of the export and
 * counted in its result and log; the rest is written. */
Test(dataset_io, export_leaves_out_what_the_format_cannot_hold)
{
    int64_t assets[2];
    int64_t v = shared_version(2, assets);
    new_label(v, "{\"name\":\"cat\"}");
    cr_assert_eq(st(annotate(NULL, assets[0],
                             "{\"shapes\":[{\"kind\":\"box\",\"label\":\"cat\",\"box\":[1,1,4,4]},"
                             "{\"kind\":\"polyline\",\"label\":\"cat\",\"points\":[1,1,5,5,6,1]},"
                             "{\"kind\":\"polyline\",\"label\":\"cat\",\"points\":[0,0,2,2]},"
                             "{\"kind\":\"class\",\"label\":\"cat\"}]}")),
                 200);
    cr_assert_eq(st(annotate(NULL, assets[1], "{\"shapes\":[{\"kind\":\"point\",\"label\":\"cat\",\"point\":[3,3]}]}")),
                 200);
    api_resp *r = req(NULL, "POST", "{\"format\":\"coco\"}", "/api/v1/dataset-versions/%lld/export", (long long)v);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(r->json, "id");
    api_free(r);
    json_t *j = api_wait_job(api_admin_token(), job, 60);
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "%s", jstr(j, "error"));
    json_t *res = json_object_get(j, "result");
    cr_assert_eq(jint(res, "shapes"), 1);
    json_t *sk = json_object_get(res, "skipped");
    cr_assert_eq(jint(sk, "polyline"), 2);
    cr_assert_eq(jint(sk, "class"), 1);
    cr_assert_eq(jint(sk, "point"), 1);
    cr_assert_eq(json_object_size(sk), 3);
    json_decref(j);
    r = req(NULL, "GET", NULL, "/api/v1/jobs/%lld/log", (long long)job);
    cr_assert_not_null(strstr(r->body.p, "left out 2 polyline shapes: COCO has no polylines"), "%s", r->body.p);
    cr_assert_not_null(strstr(r->body.p, "left out 1 class shape: COCO has no image-level class labels"), "%s", r->body.p);
    api_free(r);
    /* nothing left out: an empty object */
    int64_t assets2[1];
    int64_t v2 = shared_version(1, assets2);
    r = req(NULL, "POST", "{\"format\":\"coco\"}", "/api/v1/dataset-versions/%lld/export", (long long)v2);
    job = jint(r->json, "id");
    api_free(r);
    j = api_wait_job(api_admin_token(), job, 60);
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "%s", jstr(j, "error"));
    cr_assert_eq(json_object_size(json_object_get(json_object_get(j, "result"), "skipped")), 0);
    json_decref(j);
}

static json_t *problems_of(json_t *job) { return json_object_get(json_object_get(job, "result"), "problems"); }

/* True if a problem's "where: message" contains every needle: a problem
 * may be found by the formats reader or by the importer, which locate it
 * each in their way. */
static bool has_problem(json_t *job, const char *a, const char *b)
{
    json_t *p = problems_of(job);
    for (size_t i = 0; i < json_array_size(p); i++) {
        char line[800];
        snprintf(line, sizeof line, "%s: %s", jstr(json_array_get(p, i), "where"),
                 jstr(json_array_get(p, i), "message"));
        if (strstr(line, a) && (!b || strstr(line, b)))
            return true;
    }
    return false;
}

static const char coco_bad[] =
    "{\"images\":[{\"id\":1,\"file_name\":\"p0.bmp\"},{\"id\":2,\"file_name\":\"missing.jpg\"},"
    "{\"id\":3,\"file_name\":\"p2.bmp\",\"width\":640,\"height\":480}],"
    "\"categories\":[{\"id\":1,\"name\":\"cat\"},{\"id\":2,\"name\":\"person\",\"keypoints\":[\"a\",\"b\",\"c\"]}],"
    "\"annotations\":["
    "{\"id\":10,\"image_id\":1,\"category_id\":1,\"bbox\":[1,1,5,5]},"
    "{\"id\":11,\"image_id\":1,\"category_id\":99,\"bbox\":[1,1,5,5]},"
    "{\"id\":12,\"image_id\":1,\"category_id\":1,\"bbox\":[60,1,10,5]},"
    "{\"id\":13,\"image_id\":1,\"category_id\":1,\"segmentation\":[[0,0,5,5]],\"bbox\":[0,0,5,5]},"
    "{\"id\":14,\"image_id\":1,\"category_id\":2,\"keypoints\":[1,1,2,2,2,2],\"bbox\":[1,1,1,1]},"
    "{\"id\":15,\"image_id\":42,\"category_id\":1,\"bbox\":[1,1,5,5]},"
    "{\"id\":16,\"image_id\":2,\"category_id\":1,\"bbox\":[1,1,5,5]},"
    "{\"id\":17,\"image_id\":1,\"category_id\":1,\"bbox\":[1,1,2,2]}]}";

Test(dataset_io, all_or_nothing_with_every_problem_located)
{
    io_fixture f;
    io_setup(&f);
    int64_t v = new_version(f.ds, "v", "multi");
    json_t *j = import_file(v, coco_bad, strlen(coco_bad), "coco", NULL);
    cr_assert_str_eq(jstr(j, "state"), "failed");
    const char *msg = jstr(j, "error");
    cr_assert_not_null(strstr(msg, " problems; nothing was changed: "), "%s", msg);
    json_t *res = json_object_get(j, "result");
    cr_assert(json_is_false(json_object_get(res, "imported")));
    char *all = json_dumps(problems_of(j), JSON_INDENT(1));
    cr_assert_geq(jint(res, "problems_total"), 7, "%s", all);
    /* found by the importer, which alone knows the datalake's images */
    cr_assert(has_problem(j, "annotation 12: box x+w = 70 exceeds image width 64", NULL), "%s", all);
    cr_assert(has_problem(j, "image 2 'missing.jpg': no item of datalake", NULL), "%s", all);
    cr_assert(has_problem(j, "image 3 'p2.bmp': the file says 640x480 but the datalake item", NULL), "%s", all);
    /* found by the reader or the importer */
    cr_assert(has_problem(j, "99", "categor"), "%s", all);
    cr_assert(has_problem(j, "42", "image"), "%s", all);
    cr_assert(has_problem(j, "13", "polygon") || has_problem(j, "13", "3 points"), "%s", all);
    cr_assert(has_problem(j, "14", "keypoints"), "%s", all);
    free(all);
    json_decref(j);
    /* nothing changed */
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld", (long long)v);
    cr_assert_eq(jint(r->json, "assets"), 0);
    cr_assert_eq(jint(r->json, "labels"), 0);
    api_free(r);
    /* --skip-invalid imports the valid part and reports the rest */
    j = import_file(v, coco_bad, strlen(coco_bad), "coco", "\"skip_invalid\":true");
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "%s", jstr(j, "error"));
    res = json_object_get(j, "result");
    cr_assert(json_is_true(json_object_get(res, "imported")));
    cr_assert_geq(jint(res, "problems_total"), 7);
    cr_assert_eq(jint(res, "shapes"), 2);
    json_decref(j);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld", (long long)v);
    cr_assert_eq(jint(r->json, "assets"), 1, "only p0.bmp was valid");
    cr_assert_eq(jint(r->json, "shapes"), 2);
    api_free(r);
}

Test(dataset_io, malformed_inputs)
{
    io_fixture f;
    io_setup(&f);
    int64_t v = new_version(f.ds, "v", "multi");
    struct {
        const char *doc, *expect; /* expect: a word the report must contain */
    } bad[] = {
        {"{\"images\":[{\"id\":1,\"file_name\":\"p0.bmp\"}],\"categories\":[{\"id\":1,\"name\":\"c\"}],"
         "\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[1,1,", NULL},  /* truncated */
        {"{\"images\":[{\"id\":1,\"file_name\":\"p0.bmp\"}],\"categories\":[{\"id\":1,\"name\":\"c\"}],"
         "\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":\"1,1,2,2\"}]}", "bbox"},
        {"{\"images\":[{\"id\":\"one\",\"file_name\":\"p0.bmp\"}],\"categories\":[],\"annotations\":[]}", "images"},
        {"{\"images\":[{\"id\":1,\"file_name\":\"p0.bmp\"}],\"categories\":[{\"id\":1,\"name\":\"c\"}],"
         "\"annotations\":[{\"id\":1,\"image_id\":\"1\",\"category_id\":1,\"bbox\":[1,1,2,2]}]}", "annotation"},
        {"[1,2,3]", NULL},
        {"not json at all", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t n = strlen(bad[i].doc);
        if (n == 0) {
            /* an empty upload is refused at the upload */
            api_opts o = {.token = api_admin_token(), .body = "", .body_len = 0,
                          .content_type = "application/octet-stream"};
            api_resp *r = api_do("PUT", "/api/v1/files", &o);
            cr_assert_eq(r->status, 400);
            api_free(r);
            continue;
        }
        json_t *j = import_file(v, bad[i].doc, n, "coco", NULL);
        cr_assert_str_eq(jstr(j, "state"), "failed", "input %zu imported", i);
        json_t *res = json_object_get(j, "result");
        cr_assert_geq(jint(res, "problems_total"), 1, "input %zu: %s", i, jstr(j, "error"));
        json_t *p0 = json_array_get(problems_of(j), 0);
        cr_assert(jstr(p0, "where") && *jstr(p0, "where") && jstr(p0, "message") && *jstr(p0, "message"));
        if (bad[i].expect) {
            char *all = json_dumps(problems_of(j), 0);
            cr_assert_not_null(strcasestr(all, bad[i].expect), "input %zu: %s", i, all);
            free(all);
        }
        json_decref(j);
    }
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld", (long long)v);
    cr_assert_eq(jint(r->json, "assets"), 0);
    api_free(r);
    /* refused at submission */
    char body[300];
    const char *sha = upload_file("{}", 2);
    snprintf(body, sizeof body, "{\"file\":\"%s\",\"format\":\"pascal\"}", sha);
    r = req(NULL, "POST", body, "/api/v1/dataset-versions/%lld/import", (long long)v);
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "'pascal'"), "%s", api_error_message(r));
    api_free(r);
    snprintf(body, sizeof body, "{\"file\":\"%064d\",\"format\":\"coco\"}", 0);
    r = req(NULL, "POST", body, "/api/v1/dataset-versions/%lld/import", (long long)v);
    cr_assert_eq(r->status, 404);
    api_free(r);
    snprintf(body, sizeof body, "{\"file\":\"%s\",\"format\":\"coco\",\"mode\":\"overwrite\"}", sha);
    r = req(NULL, "POST", body, "/api/v1/dataset-versions/%lld/import", (long long)v);
    cr_assert_eq(r->status, 400);
    cr_assert_str_eq(api_error_message(r), "mode 'overwrite' is not one of replace, keep, merge");
    api_free(r);
}

Test(dataset_io, import_modes_and_matching)
{
    io_fixture f;
    io_setup(&f);
    int64_t v = new_version(f.ds, "v", "detection");
    /* p0 by its name, p1 by its content hash */
    char doc[1200];
    snprintf(doc, sizeof doc,
             "{\"images\":[{\"id\":1,\"file_name\":\"a/b/p0.bmp\",\"width\":64,\"height\":48},"
             "{\"id\":2,\"file_name\":\"%s.png\",\"width\":64,\"height\":48}],"
             "\"categories\":[{\"id\":1,\"name\":\"cat\"}],"
             "\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[1,1,5,5]},"
             "{\"id\":2,\"image_id\":2,\"category_id\":1,\"bbox\":[2,2,5,5]}]}",
             f.sha[1]);
    json_t *j = import_file(v, doc, strlen(doc), "coco", "\"status\":\"pending\"");
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "%s", jstr(j, "error"));
    json_decref(j);
    cr_assert_eq(count_assets(v, "status = pending and objects = 1"), 2);
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/assets?q=data.filename%%3D%%22p1.bmp%%22",
                      (long long)v);
    int64_t a1 = jint(json_array_get(json_object_get(r->json, "items"), 0), "id");
    api_free(r);
    /* keep: existing annotations stay */
    j = import_file(v, doc, strlen(doc), "coco", "\"mode\":\"keep\"");
    cr_assert_str_eq(jstr(j, "state"), "succeeded");
    json_decref(j);
    cr_assert_eq(count_assets(v, "objects = 1 and revision = 1"), 2);
    /* merge: added to them (as a new revision) */
    j = import_file(v, doc, strlen(doc), "coco", "\"mode\":\"merge\"");
    cr_assert_str_eq(jstr(j, "state"), "succeeded");
    json_decref(j);
    cr_assert_eq(count_assets(v, "objects = 2 and revision = 2"), 2);
    /* replace: instead of them; the earlier ones stay as revisions */
    j = import_file(v, doc, strlen(doc), "coco", NULL);
    cr_assert_str_eq(jstr(j, "state"), "succeeded");
    json_decref(j);
    cr_assert_eq(count_assets(v, "objects = 1 and revision = 3 and status = accepted"), 2);
    r = req(NULL, "GET", NULL, "/api/v1/assets/%lld/annotation/revisions", (long long)a1);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 2);
    cr_assert_eq(jint(json_array_get(json_object_get(r->json, "items"), 0), "objects"), 2);
    api_free(r);
}

/* A tar of a directory holding the COCO file and the images. */
static sbuf tar_of(const char *dir)
{
    char out[600];
    snprintf(out, sizeof out, "%s.tar", dir);
    err e;
    cr_assert_eq(ds_archive_create(dir, out, "tar", &e), 0, "%s", e.msg);
    FILE *fp = fopen(out, "rb");
    sbuf b = SBUF_INIT;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        sbuf_put(&b, buf, n);
    fclose(fp);
    unlink(out);
    return b;
}

Test(dataset_io, images_shipped_in_an_archive)
{
    io_fixture f;
    io_setup(&f);
    int64_t v = new_version(f.ds, "v", "detection");
    char dir[256];
    err e;
    cr_assert_eq(ds_tmpdir(NULL, "dsarch", dir, sizeof dir, &e), 0);
    char p[512];
    snprintf(p, sizeof p, "%s/imgs", dir);
    ds_mkdirs(p);
    /* a new image (not in the datalake) and a placeholder naming p3's content */
    uint8_t px[32 * 24 * 3];
    uint64_t s = 12345;
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)t_rand(&s);
    tbytes img = t_bmp(px, 32, 24, 24, false);
    snprintf(p, sizeof p, "%s/imgs/new.bmp", dir);
    FILE *fp = fopen(p, "wb");
    fwrite(img.p, 1, img.n, fp);
    fclose(fp);
    tb_free(&img);
    snprintf(p, sizeof p, "%s/imgs/placeholder.bmp", dir);
    fp = fopen(p, "wb");
    fprintf(fp, "cvops-sha256:%s\n", f.sha[3]);
    fclose(fp);
    const char *doc =
        "{\"images\":[{\"id\":1,\"file_name\":\"imgs/new.bmp\",\"width\":32,\"height\":24},"
        "{\"id\":2,\"file_name\":\"imgs/placeholder.bmp\",\"width\":64,\"height\":48}],\"categories\":[{\"id\":1,\"name\":\"cat\"}],"
        "\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":1,\"bbox\":[1,1,30,20]},"
        "{\"id\":2,\"image_id\":2,\"category_id\":1,\"bbox\":[1,1,60,40]}]}";
    snprintf(p, sizeof p, "%s/annotations.json", dir);
    fp = fopen(p, "wb");
    fputs(doc, fp);
    fclose(fp);
    sbuf tar = tar_of(dir);
    ds_rmtree(dir);
    json_t *j = import_file(v, tar.p, tar.len, "coco", NULL);
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "%s", jstr(j, "error"));
    json_decref(j);
    sbuf_free(&tar);
    cr_assert_eq(count_assets(v, "objects = 1"), 2);
    cr_assert_eq(count_assets(v, "data.filename = \"new.bmp\" and data.width = 32"), 1);
    cr_assert_eq(count_assets(v, "data.filename = \"p3.bmp\""), 1);
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/datalakes/%lld/data/count", (long long)f.lake);
    cr_assert_eq(jint(r->json, "count"), 5, "the new image joined the datalake");
    api_free(r);
}

/* --- the command line ----------------------------------------------------------------------- */

/* Runs `cvops ARGS` (a shell fragment) with the test server and token;
 * returns the exit status, output in *out (caller frees). */
static int cli(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cli(char **out, const char *fmt, ...)
{
    char args[4096], cmd[5000], log[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(log, sizeof log, "/tmp/cvops-dscli-%d.log", (int)getpid());
    snprintf(cmd, sizeof cmd, "CVOPS_SERVER='%s' CVOPS_TOKEN='%s' '%s' %s >%s 2>&1 </dev/null",
             getenv("CVOPS_TEST_URL"), api_admin_token(), getenv("CVOPS_TEST_BIN"), args, log);
    int st = system(cmd);
    FILE *f = fopen(log, "r");
    sbuf b = SBUF_INIT;
    char buf[4096];
    size_t n;
    while (f && (n = fread(buf, 1, sizeof buf, f)) > 0)
        sbuf_put(&b, buf, n);
    if (f)
        fclose(f);
    unlink(log);
    *out = strdup(sbuf_cstr(&b));
    sbuf_free(&b);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(dataset_io, command_line)
{
    char dir[256], p[600], *out;
    err e;
    cr_assert_eq(ds_tmpdir(NULL, "dscli", dir, sizeof dir, &e), 0);
    snprintf(p, sizeof p, "%s/images", dir);
    ds_mkdirs(p);
    for (int i = 0; i < 2; i++) {
        uint8_t px[16 * 12 * 3];
        uint64_t s = (uint64_t)getpid() * 31 + (uint64_t)i;
        for (size_t k = 0; k < sizeof px; k++)
            px[k] = (uint8_t)t_rand(&s);
        tbytes img = t_bmp(px, 16, 12, 24, false);
        snprintf(p, sizeof p, "%s/images/cli%d.bmp", dir, i);
        FILE *f = fopen(p, "wb");
        fwrite(img.p, 1, img.n, f);
        fclose(f);
        tb_free(&img);
    }
    snprintf(p, sizeof p, "%s/ann.json", dir);
    FILE *f = fopen(p, "w");
    fputs("{\"images\":[{\"id\":1,\"file_name\":\"cli0.bmp\",\"width\":16,\"height\":12},{\"id\":2,\"file_name\":\"cli1.bmp\",\"width\":16,\"height\":12}],"
          "\"categories\":[{\"id\":5,\"name\":\"thing\"}],\"annotations\":["
          "{\"id\":1,\"image_id\":1,\"category_id\":5,\"bbox\":[1,1,4,4]},"
          "{\"id\":2,\"image_id\":2,\"category_id\":5,\"bbox\":[2,2,4,4]}]}",
          f);
    fclose(f);
    char lake[80], ds[80];
    snprintf(lake, sizeof lake, "%s", api_unique("clilake"));
    snprintf(ds, sizeof ds, "%s", api_unique("clids"));
    cr_assert_eq(cli(&out, "datalake create %s", lake), 0, "%s", out);
    free(out);
    /* the dataset and version are created; the images uploaded first */
    int rc = cli(&out, "dataset import --dataset %s --version v1 --datalake %s --format coco --images %s/images %s/ann.json",
                 ds, lake, dir, dir);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_not_null(strstr(out, "imported 2 images and 2 shapes"), "%s", out);
    free(out);
    rc = cli(&out, "dataset stats -D %s -V v1 --json", ds);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_not_null(strstr(out, "\"objects\": 2") ? out : strstr(out, "\"objects\":2"), "%s", out);
    free(out);
    /* a bad file: exit 1, every problem with its location */
    snprintf(p, sizeof p, "%s/bad.json", dir);
    f = fopen(p, "w");
    fputs("{\"images\":[{\"id\":1,\"file_name\":\"cli0.bmp\",\"width\":16,\"height\":12}],\"categories\":[{\"id\":1,\"name\":\"thing\"}],"
          "\"annotations\":[{\"id\":5,\"image_id\":1,\"category_id\":3,\"bbox\":[1,1,4,4]},"
          "{\"id\":6,\"image_id\":1,\"category_id\":1,\"bbox\":[1,1,40,4]}]}",
          f);
    fclose(f);
    rc = cli(&out, "dataset import -D %s -V v1 -f coco %s/bad.json", ds, dir);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert_not_null(strstr(out, "annotation 5"), "%s", out);
    cr_assert_not_null(strstr(out, "categor"), "%s", out);
    cr_assert(strstr(out, "annotation 6") && strstr(out, "16"), "%s", out);
    free(out);
    /* export into a directory, with the images */
    rc = cli(&out, "dataset export -D %s -V v1 --format coco --images %s/out", ds, dir);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    snprintf(p, sizeof p, "%s/out/annotations.json", dir);
    struct stat st;
    cr_assert_eq(stat(p, &st), 0, "%s is missing", p);
    /* the file's category id (5) kept instead of 1 */
    rc = cli(&out, "dataset export -D %s -V v1 --format coco --keep-category-ids %s/kept.json", ds,
             dir);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    snprintf(p, sizeof p, "%s/kept.json", dir);
    f = fopen(p, "r");
    cr_assert_not_null(f, "%s is missing", p);
    char kept[4096];
    size_t kn = fread(kept, 1, sizeof kept - 1, f);
    kept[kn] = 0;
    fclose(f);
    cr_assert_not_null(strstr(kept, "\"category_id\":5"), "%s", kept);
    cr_assert_null(strstr(kept, "\"category_id\":1"), "%s", kept);
    /* lock: the delete is refused with exit 1; unknown names exit 4 */
    cr_assert_eq(cli(&out, "dataset lock -D %s -V v1", ds), 0, "%s", out);
    free(out);
    rc = cli(&out, "dataset delete %s", ds);
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert_not_null(strstr(out, "has a locked version 'v1'"), "%s", out);
    free(out);
    cr_assert_eq(cli(&out, "dataset stats -D %s -V nope", ds), 4, "%s", out);
    free(out);
    ds_rmtree(dir);
}

/* A version's shapes as sorted text lines "file label kind x y w h" (one
 * decimal: YOLO stores normalised coordinates). */
static char *shapes_text(int64_t v)
{
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/assets?limit=1000&shapes=1",
                      (long long)v);
    cr_assert_eq(r->status, 200);
    json_t *items = json_object_get(r->json, "items");
    char **lines = NULL;
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *a = json_array_get(items, i), *sh = json_object_get(a, "shapes");
        for (size_t k = 0; k < json_array_size(sh); k++) {
            json_t *s = json_array_get(sh, k);
            json_t *b = json_object_get(s, "box") ? json_object_get(s, "box") : json_object_get(s, "bbox");
            char line[300];
            snprintf(line, sizeof line, "%s %s %s %.1f %.1f %.1f %.1f", jstr(a, "filename"),
                     jstr(s, "label"), jstr(s, "kind"), json_number_value(json_array_get(b, 0)),
                     json_number_value(json_array_get(b, 1)), json_number_value(json_array_get(b, 2)),
                     json_number_value(json_array_get(b, 3)));
            lines = realloc(lines, (n + 1) * sizeof *lines);
            lines[n++] = strdup(line);
        }
    }
    api_free(r);
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && strcmp(lines[b - 1], lines[b]) > 0; b--) {
            char *t = lines[b];
            lines[b] = lines[b - 1];
            lines[b - 1] = t;
        }
    sbuf out = SBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        sbuf_printf(&out, "%s\n", lines[i]);
        free(lines[i]);
    }
    free(lines);
    char *res = strdup(sbuf_cstr(&out));
    sbuf_free(&out);
    return res;
}

/* Every format: export (with the images) -> import into a new version ->
 * the same shapes. Formats this build lacks are skipped. */
Test(dataset_io, every_format_round_trip)
{
    io_fixture f;
    io_setup(&f);
    static const char *const formats[] = {"coco", "yolo", "voc", "folder", "csv"};
    int done = 0;
    for (size_t fi = 0; fi < sizeof formats / sizeof *formats; fi++) {
        const char *fmt = formats[fi];
        bool classify = strcmp(fmt, "folder") == 0 || strcmp(fmt, "csv") == 0;
        char name[40];
        snprintf(name, sizeof name, "src-%s", fmt);
        int64_t v = new_version(f.ds, name, classify ? "classification" : "detection");
        int64_t assets[4];
        snprintf(name, sizeof name, "{\"data_ids\":[%lld,%lld,%lld]}", (long long)f.data[0],
                 (long long)f.data[1], (long long)f.data[2]);
        api_resp *r = req(NULL, "POST", name, "/api/v1/dataset-versions/%lld/assets", (long long)v);
        cr_assert_eq(r->status, 200);
        api_free(r);
        list_assets(v, 3, assets);
        new_label(v, "{\"name\":\"car\"}");
        new_label(v, "{\"name\":\"bus\"}");
        for (int i = 0; i < 3; i++) {
            char doc[300];
            if (classify)
                snprintf(doc, sizeof doc, "{\"shapes\":[{\"kind\":\"class\",\"label\":\"%s\"}]}", i ? "bus" : "car");
            else
                snprintf(doc, sizeof doc,
                         "{\"shapes\":[{\"kind\":\"box\",\"label\":\"car\",\"box\":[%d,2,20,10]},"
                         "{\"kind\":\"box\",\"label\":\"bus\",\"box\":[4,%d,30,16]}]}",
                         1 + i, 3 + i);
            cr_assert_eq(st(annotate(NULL, assets[i], doc)), 200);
        }
        /* splits, which YOLO and VOC layouts carry */
        static const char *const sp[] = {"train", "val", "test"};
        for (int i = 0; i < 3; i++) {
            char tb[120];
            snprintf(tb, sizeof tb, "{\"add\":[\"%s\"],\"ids\":[%lld]}", sp[i], (long long)assets[i]);
            cr_assert_eq(st(req(NULL, "POST", tb, "/api/v1/dataset-versions/%lld/tags", (long long)v)), 200);
        }
        char body[200];
        snprintf(body, sizeof body, "{\"format\":\"%s\",\"images\":true}", fmt);
        r = req(NULL, "POST", body, "/api/v1/dataset-versions/%lld/export", (long long)v);
        cr_assert_eq(r->status, 202, "%s", r->body.p);
        json_t *j = api_wait_job(api_admin_token(), jint(r->json, "id"), 60);
        api_free(r);
        if (strcmp(jstr(j, "state"), "succeeded") != 0) {
            cr_assert_not_null(strstr(jstr(j, "error"), "not available in this build"), "%s: %s", fmt,
                               jstr(j, "error"));
            json_decref(j);
            continue; /* the formats library is not in this build */
        }
        r = req(NULL, "GET", NULL, "/api/v1/files/%s", jstr(json_object_get(j, "result"), "file"));
        json_decref(j);
        snprintf(name, sizeof name, "dst-%s", fmt);
        int64_t v2 = new_version(f.ds, name, classify ? "classification" : "detection");
        j = import_file(v2, r->body.p, r->body.len, fmt, NULL);
        api_free(r);
        cr_assert_str_eq(jstr(j, "state"), "succeeded", "%s: %s %s", fmt, jstr(j, "error"),
                         json_dumps(json_object_get(j, "result"), 0));
        json_decref(j);
        char *a = shapes_text(v), *b = shapes_text(v2);
        cr_assert_str_eq(a, b, "%s round trip", fmt);
        if (strcmp(fmt, "yolo") == 0 || strcmp(fmt, "voc") == 0)
            for (int i = 0; i < 3; i++) {
                char q[80];
                snprintf(q, sizeof q, "tag = %s and data.filename = \"p%d.bmp\"", sp[i], i);
                cr_assert_eq(count_assets(v2, q), 1, "%s: %s", fmt, q);
            }
        free(a);
        free(b);
        done++;
    }
    cr_assert_geq(done, 1);
}
