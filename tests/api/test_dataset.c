/*
 * API tests of datasets: versions, fork and lock (409 on every write to a
 * locked version), assets by ids and by query, asset queries, labels with
 * skeletons, annotations with every validation error, revisions and the
 * stale-save conflict, the datalake delete refused for locked versions,
 * organization isolation and roles.
 */
#include "test_dataset_util.h"

static void init(void)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0, "%s", e.msg);
}

TestSuite(dataset, .init = init);

/* A version with n 64x48 items, labels cat and dog, and a keypoint label. */
typedef struct fixture {
    int64_t lake, ds, v, cat, dog, person;
    int64_t data[8], assets[8];
} fixture;

static void setup(fixture *f, int n)
{
    f->lake = new_lake();
    upload_images(f->lake, n, 64, 48, "img", (uint64_t)f->lake, f->data);
    f->ds = new_dataset(NULL, f->lake);
    f->v = new_version(f->ds, "v1", "detection");
    add_all(f->v, n, f->assets);
    f->cat = new_label(f->v, "{\"name\":\"cat\",\"color\":\"#ff0000\",\"group\":\"animal\"}");
    f->dog = new_label(f->v, "{\"name\":\"dog\",\"group\":\"animal\"}");
    f->person = new_label(f->v, "{\"name\":\"person\",\"keypoints\":[\"head\",\"left\",\"right\"],"
                                "\"skeleton\":[[1,2],[1,3]]}");
}

Test(dataset, datasets_and_versions)
{
    int64_t lake = new_lake();
    int64_t ds = new_dataset(NULL, lake);
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/datasets/%lld", (long long)ds);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(jint(r->json, "datalake_id"), lake);
    char name[128];
    snprintf(name, sizeof name, "%s", jstr(r->json, "name"));
    api_free(r);
    /* the name is unique in the organization */
    char body[300];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    r = api_admin("POST", "/api/v1/datasets", body);
    cr_assert_eq(r->status, 409);
    cr_assert_not_null(strstr(api_error_message(r), "already exists"));
    api_free(r);
    /* default datalake when none is named */
    r = api_admin("POST", "/api/v1/datasets", "{\"name\":\"ds-default-lake\"}");
    cr_assert(r->status == 201 || r->status == 409, "%s", r->body.p);
    if (r->status == 201)
        cr_assert_str_eq(jstr(r->json, "datalake"), "default");
    api_free(r);
    r = api_admin("POST", "/api/v1/datasets", "{\"name\":\"x\",\"datalake\":\"no-such-lake\"}");
    cr_assert_eq(r->status, 404);
    api_free(r);
    /* versions */
    int64_t v1 = new_version(ds, "v1", "classification");
    r = req(NULL, "POST", "{\"name\":\"v1\"}", "/api/v1/datasets/%lld/versions", (long long)ds);
    cr_assert_eq(r->status, 409);
    api_free(r);
    r = req(NULL, "POST", "{\"name\":\"v2\",\"task\":\"boxes\"}", "/api/v1/datasets/%lld/versions",
            (long long)ds);
    cr_assert_eq(r->status, 400);
    cr_assert_str_eq(api_error_message(r),
                     "task 'boxes' is not one of classification, detection, segmentation, keypoints, multi");
    api_free(r);
    r = req(NULL, "PATCH", "{\"description\":\"first\",\"task\":\"multi\"}",
            "/api/v1/dataset-versions/%lld", (long long)v1);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_str_eq(jstr(r->json, "task"), "multi");
    cr_assert_str_eq(jstr(r->json, "description"), "first");
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/datasets/%lld/versions", (long long)ds);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1);
    api_free(r);
    r = req(NULL, "PATCH", "{\"name\":\"renamed\"}", "/api/v1/datasets/%lld", (long long)ds);
    cr_assert_eq(r->status, 200);
    cr_assert_str_eq(jstr(r->json, "name"), "renamed");
    cr_assert_eq(jint(r->json, "versions"), 1);
    api_free(r);
    cr_assert_eq(st(req(NULL, "DELETE", NULL, "/api/v1/dataset-versions/%lld", (long long)v1)), 200);
    cr_assert_eq(st(req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld", (long long)v1)), 404);
    cr_assert_eq(st(req(NULL, "DELETE", NULL, "/api/v1/datasets/%lld", (long long)ds)), 200);
    cr_assert_eq(st(req(NULL, "GET", NULL, "/api/v1/datasets/%lld", (long long)ds)), 404);
}

Test(dataset, assets_by_ids_and_by_query)
{
    int64_t lake = new_lake(), data[6];
    upload_images(lake, 4, 64, 48, "a", 1, data);
    upload_images(lake, 2, 32, 32, "b", 2, data + 4);
    char body[300];
    snprintf(body, sizeof body, "{\"add\":[\"night\"],\"ids\":[%lld,%lld]}", (long long)data[0],
             (long long)data[4]);
    cr_assert_eq(st(req(NULL, "POST", body, "/api/v1/datalakes/%lld/tags", (long long)lake)), 200);
    int64_t ds = new_dataset(NULL, lake), v = new_version(ds, "v1", "detection");
    /* by ids */
    snprintf(body, sizeof body, "{\"data_ids\":[%lld,%lld,%lld]}", (long long)data[0],
             (long long)data[1], (long long)data[1]);
    api_resp *r = req(NULL, "POST", body, "/api/v1/dataset-versions/%lld/assets", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "added"), 2);
    api_free(r);
    /* ids of another datalake are refused, and nothing is added */
    int64_t other = new_lake(), odata[1];
    upload_images(other, 1, 16, 16, "o", 3, odata);
    snprintf(body, sizeof body, "{\"data_ids\":[%lld,%lld]}", (long long)data[2], (long long)odata[0]);
    r = req(NULL, "POST", body, "/api/v1/dataset-versions/%lld/assets", (long long)v);
    cr_assert_eq(r->status, 404, "%s", r->body.p);
    cr_assert_not_null(strstr(api_error_message(r), "1 of the 2 data ids are not items"));
    api_free(r);
    cr_assert_eq(count_assets(v, ""), 2);
    /* by a datalake query */
    r = req(NULL, "POST", "{\"q\":\"width = 32 or tag = night\"}", "/api/v1/dataset-versions/%lld/assets",
            (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "added"), 2);
    cr_assert_eq(jint(r->json, "already_there"), 1);
    api_free(r);
    r = req(NULL, "POST", "{\"q\":\"widht > 3\"}", "/api/v1/dataset-versions/%lld/assets", (long long)v);
    cr_assert_eq(r->status, 400);
    cr_assert_str_eq(api_error_message(r), "unknown field 'widht' at column 1; did you mean 'width'?");
    api_free(r);
    r = req(NULL, "POST", "{}", "/api/v1/dataset-versions/%lld/assets", (long long)v);
    cr_assert_eq(r->status, 400);
    api_free(r);
    cr_assert_eq(count_assets(v, ""), 4);
    /* asset queries: data fields, tags of the datalake and of the version */
    cr_assert_eq(count_assets(v, "data.width = 32"), 2);
    cr_assert_eq(count_assets(v, "width = 64 and data.tag = night"), 1);
    cr_assert_eq(count_assets(v, "data.filename ~ \"a*\""), 2);
    cr_assert_eq(count_assets(v, "annotated"), 0);
    cr_assert_eq(count_assets(v, "status = null"), 4);
    r = req(NULL, "POST", "{\"add\":[\"train\"],\"q\":\"data.width = 32\"}",
            "/api/v1/dataset-versions/%lld/tags", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "changed"), 2);
    api_free(r);
    cr_assert_eq(count_assets(v, "tag = train"), 2);
    cr_assert_eq(count_assets(v, "tag != train"), 2);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/tags", (long long)v);
    cr_assert_eq(jint(json_array_get(json_object_get(r->json, "items"), 0), "count"), 2);
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/assets/count?q=data.nope%%3D1", (long long)v);
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "unknown field 'data.nope'") ||
                       strstr(api_error_message(r), "unknown field 'data'"), "%s", api_error_message(r));
    api_free(r);
    /* keyset pages, in two orders */
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/assets?limit=3&order_by=-filename", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 3);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "filename"), "b1.bmp");
    char cur[32];
    snprintf(cur, sizeof cur, "%s", jstr(r->json, "next_cursor"));
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/assets?limit=3&order_by=-filename&cursor=%s",
            (long long)v, cur);
    items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 1);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "filename"), "a0.bmp");
    cr_assert(json_is_null(json_object_get(r->json, "next_cursor")));
    api_free(r);
    /* remove by query: the datalake keeps its items */
    r = req(NULL, "POST", "{\"q\":\"tag = train\"}", "/api/v1/dataset-versions/%lld/assets/delete",
            (long long)v);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(jint(r->json, "removed"), 2);
    api_free(r);
    cr_assert_eq(count_assets(v, ""), 2);
    r = req(NULL, "GET", NULL, "/api/v1/datalakes/%lld/data/count", (long long)lake);
    cr_assert_eq(jint(r->json, "count"), 6);
    api_free(r);
}

Test(dataset, labels_with_skeletons)
{
    fixture f;
    setup(&f, 1);
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/labels/%lld", (long long)f.person);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(json_array_size(json_object_get(r->json, "keypoints")), 3);
    cr_assert_eq(json_array_size(json_object_get(r->json, "skeleton")), 2);
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/labels/%lld", (long long)f.cat);
    cr_assert_str_eq(jstr(r->json, "color"), "#ff0000");
    cr_assert_str_eq(jstr(r->json, "group"), "animal");
    api_free(r);
    struct {
        const char *def, *msg;
    } bad[] = {
        {"{\"name\":\"cat\"}", "the version already has a label named 'cat'"},
        {"{\"name\":\"x\",\"color\":\"red\"}", "field 'color' must be #rrggbb, got 'red'"},
        {"{\"name\":\"x\",\"keypoints\":[\"a\",\"b\"],\"skeleton\":[[1,3]]}",
         "skeleton[0] = [1, 3]: vertices are numbered 1 to 2 (the keypoints), and an edge joins two different ones"},
        {"{\"name\":\"x\",\"keypoints\":[\"a\",\"a\"]}", "keypoints[1]: the vertex name 'a' is used twice"},
        {"{\"name\":\"x\",\"skeleton\":[[1,2]]}", "a 'skeleton' needs the 'keypoints' (vertex names) it joins"},
        {"{\"name\":\"\"}", "label name must not be empty"},
        {"{\"name\":\"x\",\"shape\":1}", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = req(NULL, "POST", bad[i].def, "/api/v1/dataset-versions/%lld/labels", (long long)f.v);
        cr_assert(r->status == 400 || r->status == 409, "%s: %ld", bad[i].def, r->status);
        if (bad[i].msg)
            cr_assert_str_eq(api_error_message(r), bad[i].msg);
        api_free(r);
    }
    /* in use: not deleted, keypoint count not changed */
    cr_assert_eq(st(annotate(NULL, f.assets[0],
                             "{\"shapes\":[{\"kind\":\"keypoints\",\"label\":\"person\",\"keypoints\":[1,1,2,2,2,2,3,3,1]}]}")),
                 200);
    r = req(NULL, "DELETE", NULL, "/api/v1/labels/%lld", (long long)f.person);
    cr_assert_eq(r->status, 409);
    char want[200];
    snprintf(want, sizeof want,
             "label %lld is used by 1 shape; delete or relabel them before deleting the label",
             (long long)f.person);
    cr_assert_str_eq(api_error_message(r), want);
    api_free(r);
    r = req(NULL, "PATCH", "{\"keypoints\":[\"a\",\"b\"]}", "/api/v1/labels/%lld", (long long)f.person);
    cr_assert_eq(r->status, 409);
    api_free(r);
    r = req(NULL, "PATCH", "{\"name\":\"human\",\"color\":\"#00ff00\"}", "/api/v1/labels/%lld", (long long)f.person);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_str_eq(jstr(r->json, "name"), "human");
    cr_assert_eq(jint(r->json, "objects"), 1);
    api_free(r);
    cr_assert_eq(st(req(NULL, "DELETE", NULL, "/api/v1/labels/%lld", (long long)f.dog)), 200);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/labels", (long long)f.v);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 2);
    api_free(r);
}

Test(dataset, annotations_and_every_validation_error)
{
    fixture f;
    setup(&f, 2);
    int64_t a = f.assets[0];
    api_resp *r = annotate(NULL, a,
                           "{\"status\":\"accepted\",\"duration_ms\":1500,\"shapes\":["
                           "{\"kind\":\"box\",\"label\":\"cat\",\"box\":[1.5,2,30,20],\"score\":0.75,"
                           "\"text\":\"a cat\",\"attributes\":{\"occluded\":true,\"z\":1}},"
                           "{\"kind\":\"polygon\",\"label\":\"dog\",\"rings\":[[1,1,10,1,10,10],[20,20,30,20,30,30,20,30]]},"
                           "{\"kind\":\"polygon\",\"label\":\"dog\",\"points\":[0,0,5,0,5,5]},"
                           "{\"kind\":\"polyline\",\"label\":\"dog\",\"points\":[0,0,63,47]},"
                           "{\"kind\":\"point\",\"label\":\"cat\",\"point\":[3,4]},"
                           "{\"kind\":\"keypoints\",\"label\":\"person\",\"keypoints\":[10,10,2,12,12,1,0,0,0]},"
                           "{\"kind\":\"mask\",\"label\":\"cat\",\"rle\":{\"size\":[48,64],\"counts\":[100,20,2952]}},"
                           "{\"kind\":\"class\",\"label\":\"cat\"}]}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "revision"), 1);
    cr_assert_str_eq(jstr(r->json, "status"), "accepted");
    cr_assert_eq(jint(r->json, "duration_ms"), 1500);
    json_t *shapes = json_object_get(r->json, "shapes");
    cr_assert_eq(json_array_size(shapes), 8);
    json_t *box = json_array_get(shapes, 0);
    cr_assert_str_eq(jstr(box, "kind"), "box");
    cr_assert_eq(json_real_value(json_array_get(json_object_get(box, "box"), 0)), 1.5);
    cr_assert_eq(json_real_value(json_object_get(box, "score")), 0.75);
    cr_assert_str_eq(jstr(box, "text"), "a cat");
    cr_assert(json_is_true(json_object_get(json_object_get(box, "attributes"), "occluded")));
    json_t *poly = json_array_get(shapes, 1);
    cr_assert_eq(json_array_size(json_object_get(poly, "rings")), 2);
    cr_assert_eq(json_array_size(json_array_get(json_object_get(poly, "rings"), 1)), 8);
    json_t *mask = json_array_get(shapes, 6);
    cr_assert_eq(json_array_size(json_object_get(json_object_get(mask, "rle"), "counts")), 3);
    /* the mask's box: pixels 100..119 in column-major order, h = 48 */
    json_t *mb = json_object_get(mask, "bbox");
    cr_assert_eq(json_integer_value(json_array_get(mb, 0)), 2);
    cr_assert_eq(json_integer_value(json_array_get(mb, 1)), 4);
    api_free(r);
    /* every validation error, with its exact message; nothing changes */
    struct {
        const char *doc, *msg;
    } bad[] = {
        {"{\"shapes\":[{\"kind\":\"box\",\"label\":\"cta\",\"box\":[0,0,1,1]}]}",
         "shapes[0]: unknown label 'cta'; the version's labels are: cat, dog, person"},
        {"{\"shapes\":[{\"kind\":\"box\",\"label\":\"cat\",\"box\":[0,0,1,1]},{\"kind\":\"polygon\",\"label\":\"dog\",\"points\":[0,0,5,5]}]}",
         "shapes[1]: polygon with 2 points; a polygon needs at least 3"},
        {"{\"shapes\":[{\"kind\":\"polygon\",\"label\":\"dog\",\"rings\":[[0,0,5,5,5,0],[1,1]]}]}",
         "shapes[0]: polygon ring 1 has 1 point; a polygon needs at least 3"},
        {"{\"shapes\":[{\"kind\":\"box\",\"label\":\"cat\",\"box\":[40,0,30,10]}]}",
         "shapes[0]: box x+w = 70 exceeds image width 64"},
        {"{\"shapes\":[{\"kind\":\"box\",\"label\":\"cat\",\"box\":[0,40,30,10]}]}",
         "shapes[0]: box y+h = 50 exceeds image height 48"},
        {"{\"shapes\":[{\"kind\":\"box\",\"label\":\"cat\",\"box\":[-3,0,30,10]}]}",
         "shapes[0]: box x = -3 is left of the image (x must be >= 0)"},
        {"{\"shapes\":[{\"kind\":\"box\",\"label\":\"cat\",\"box\":[0,0,0,10]}]}",
         "shapes[0]: box width and height must be positive, got 0 x 10"},
        {"{\"shapes\":[{\"kind\":\"box\",\"label\":\"cat\",\"box\":[0,0,10]}]}",
         "shapes[0]: 'box' has 3 numbers; expected 4"},
        {"{\"shapes\":[{\"kind\":\"keypoints\",\"label\":\"person\",\"keypoints\":[1,1,2,2,2,2]}]}",
         "shapes[0]: label 'person' has 3 keypoints; got 2"},
        {"{\"shapes\":[{\"kind\":\"keypoints\",\"label\":\"cat\",\"keypoints\":[1,1,2]}]}",
         "shapes[0]: label 'cat' has no keypoints; keypoints need a label with a skeleton"},
        {"{\"shapes\":[{\"kind\":\"keypoints\",\"label\":\"person\",\"keypoints\":[1,1,5,2,2,2,3,3,2]}]}",
         "shapes[0]: keypoint 0 has visibility 5; use 0 (not labelled), 1 (hidden) or 2 (visible)"},
        {"{\"shapes\":[{\"kind\":\"mask\",\"label\":\"cat\",\"rle\":{\"size\":[48,64],\"counts\":[10,20]}}]}",
         "shapes[0]: mask counts add up to 30 pixels; the mask has 64 x 48 = 3072"},
        {"{\"shapes\":[{\"kind\":\"mask\",\"label\":\"cat\",\"rle\":{\"size\":[10,10],\"counts\":[100]}}]}",
         "shapes[0]: mask size 10x10 differs from the image 64x48"},
        {"{\"shapes\":[{\"kind\":\"circle\",\"label\":\"cat\"}]}",
         "shapes[0]: kind 'circle' is not one of class, box, polygon, polyline, point, keypoints, mask"},
        {"{\"shapes\":[{\"kind\":\"box\",\"label\":\"cat\"}]}", "shapes[0]: a box needs 'box': [x, y, w, h]"},
        {"{\"shapes\":[{\"kind\":\"box\",\"box\":[0,0,1,1]}]}",
         "shapes[0]: give the shape's 'label' (a name) or 'label_id'"},
        {"{\"shapes\":[{\"kind\":\"box\",\"label\":\"cat\",\"box\":[0,0,1,1],\"colour\":1}]}",
         "shapes[0]: unknown field 'colour'"},
        {"{\"shapes\":[{\"kind\":\"polyline\",\"label\":\"cat\",\"points\":[0,0]}]}",
         "shapes[0]: polyline with 1 point; a polyline needs at least 2"},
        {"{\"shapes\":[],\"status\":\"done\"}",
         "status 'done' is not one of pending, accepted, rejected, skipped"},
        {"{\"status\":\"pending\"}", "field 'shapes' is required (an empty array for none)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = annotate(NULL, a, bad[i].doc);
        cr_assert_eq(r->status, 400, "%s: %s", bad[i].doc, r->body.p);
        if (strstr(bad[i].msg, "unknown field"))
            cr_assert_not_null(strstr(api_error_message(r), "colour"), "%s", api_error_message(r));
        else
            cr_assert_str_eq(api_error_message(r), bad[i].msg);
        api_free(r);
    }
    r = req(NULL, "GET", NULL, "/api/v1/assets/%lld/annotation", (long long)a);
    cr_assert_eq(jint(r->json, "revision"), 1, "a refused save changes nothing");
    cr_assert_eq(json_array_size(json_object_get(r->json, "shapes")), 8);
    api_free(r);
    /* by label id, and the asset view */
    char doc[200];
    snprintf(doc, sizeof doc, "{\"shapes\":[{\"kind\":\"class\",\"label_id\":%lld}]}", (long long)f.dog);
    cr_assert_eq(st(annotate(NULL, f.assets[1], doc)), 200);
    r = req(NULL, "GET", NULL, "/api/v1/assets/%lld", (long long)f.assets[1]);
    cr_assert_eq(r->status, 200);
    cr_assert_str_eq(jstr(json_object_get(r->json, "annotation"), "status"), "pending");
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "shapes"), 0), "label"), "dog");
    api_free(r);
    cr_assert_eq(count_assets(f.v, "label = dog"), 2);
    cr_assert_eq(count_assets(f.v, "label = person and status = accepted"), 1);
    cr_assert_eq(count_assets(f.v, "objects >= 8"), 1);
    cr_assert_eq(count_assets(f.v, "author = admin"), 2);
    /* delete keeps the revision */
    cr_assert_eq(st(req(NULL, "DELETE", NULL, "/api/v1/assets/%lld/annotation", (long long)f.assets[1])), 200);
    cr_assert_eq(count_assets(f.v, "annotated"), 1);
    r = req(NULL, "GET", NULL, "/api/v1/assets/%lld/annotation/revisions", (long long)f.assets[1]);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1);
    api_free(r);
    r = annotate(NULL, f.assets[1], "{\"shapes\":[]}");
    cr_assert_eq(jint(r->json, "revision"), 2, "numbering goes on after a delete");
    api_free(r);
}

Test(dataset, revisions_and_stale_saves)
{
    fixture f;
    setup(&f, 1);
    int64_t a = f.assets[0];
    api_resp *r = annotate(NULL, a, "{\"base_revision\":0,\"shapes\":[{\"kind\":\"class\",\"label\":\"cat\"}]}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    /* two people loaded revision 1; the first save wins, the second is told */
    int64_t uid;
    char *lab = api_user("labeler", &uid);
    r = annotate(lab, a, "{\"base_revision\":1,\"status\":\"accepted\",\"shapes\":[{\"kind\":\"class\",\"label\":\"dog\"}]}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "revision"), 2);
    api_free(r);
    r = annotate(NULL, a, "{\"base_revision\":1,\"shapes\":[]}");
    cr_assert_eq(r->status, 409);
    cr_assert_not_null(strstr(api_error_message(r),
                              "the annotation of asset"), "%s", api_error_message(r));
    cr_assert_not_null(strstr(api_error_message(r), "was saved by someone else meanwhile (revision 2 by "));
    cr_assert_not_null(strstr(api_error_message(r), "you based yours on revision 1); reload it"));
    api_free(r);
    r = annotate(NULL, a, "{\"base_revision\":2,\"shapes\":[{\"kind\":\"class\",\"label\":\"person\"}]}");
    cr_assert_eq(r->status, 200);
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/assets/%lld/annotation/revisions", (long long)a);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(jint(r->json, "current_revision"), 3);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 2);
    json_t *r2 = json_array_get(items, 0);
    cr_assert_eq(jint(r2, "revision"), 2);
    cr_assert_str_eq(jstr(r2, "status"), "accepted");
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r2, "shapes"), 0), "label"), "dog");
    json_t *r1 = json_array_get(items, 1);
    cr_assert_str_eq(jstr(r1, "author"), "admin");
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r1, "shapes"), 0), "label"), "cat");
    api_free(r);
    free(lab);
}

Test(dataset, bulk_annotations)
{
    /* 1000 annotations (2000 shapes) in one request on SQLite; fewer on
     * PostgreSQL+S3, where making the datalake items is slow */
    int N = SHARED_N;
    int64_t *data = malloc(SHARED_MAX * sizeof *data), *assets = malloc(SHARED_MAX * sizeof *assets);
    int64_t lake = shared_lake(data);
    int64_t ds = new_dataset(NULL, lake), v = new_version(ds, "v1", "detection");
    add_all(v, N, assets);
    new_label(v, "{\"name\":\"a\"}");
    new_label(v, "{\"name\":\"b\"}");
    sbuf doc = SBUF_INIT;
    sbuf_puts(&doc, "{\"annotations\":[");
    for (int i = 0; i < N; i++)
        sbuf_printf(&doc, "%s{\"asset_id\":%lld,\"status\":\"accepted\",\"shapes\":[{\"kind\":\"box\",\"label\":\"a\",\"box\":[0,0,4,4]},{\"kind\":\"box\",\"label\":\"%s\",\"box\":[%d,1,2,2]}]}",
                    i ? "," : "", (long long)assets[i], i % 3 ? "a" : "b", i % 5);
    sbuf_puts(&doc, "]}");
    api_resp *r = req(NULL, "POST", doc.p, "/api/v1/dataset-versions/%lld/annotations", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "saved"), N);
    cr_assert_eq(jint(r->json, "shapes"), 2 * N);
    api_free(r);
    cr_assert_eq(count_assets(v, "annotated and status = accepted"), N);
    cr_assert_eq(count_assets(v, "label = b"), (N + 2) / 3);
    /* merge adds; a bad item anywhere refuses the whole request */
    sbuf_reset(&doc);
    sbuf_printf(&doc,
                "{\"mode\":\"merge\",\"annotations\":[{\"asset_id\":%lld,\"shapes\":[{\"kind\":\"box\",\"label\":\"b\",\"box\":[0,0,1,1]}]},"
                "{\"data_id\":%lld,\"shapes\":[{\"kind\":\"box\",\"label\":\"b\",\"box\":[0,0,1,9]}]},"
                "{\"asset_id\":%lld,\"shapes\":[]}]}",
                (long long)assets[0], (long long)data[1], (long long)assets[0]);
    r = req(NULL, "POST", doc.p, "/api/v1/dataset-versions/%lld/annotations", (long long)v);
    cr_assert_eq(r->status, 400);
    cr_assert_str_eq(api_error_message(r),
                     "annotations[1].shapes[0]: box y+h = 9 exceeds image height 8 (and 1 more problem; nothing was saved)");
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/assets/%lld/annotation", (long long)assets[0]);
    cr_assert_eq(jint(r->json, "revision"), 1);
    api_free(r);
    sbuf_reset(&doc);
    sbuf_printf(&doc,
                "{\"mode\":\"merge\",\"annotations\":[{\"asset_id\":%lld,\"base_revision\":1,\"shapes\":[{\"kind\":\"box\",\"label\":\"b\",\"box\":[0,0,1,1]}]}]}",
                (long long)assets[0]);
    r = req(NULL, "POST", doc.p, "/api/v1/dataset-versions/%lld/annotations", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/assets/%lld/annotation", (long long)assets[0]);
    cr_assert_eq(jint(r->json, "revision"), 2);
    cr_assert_eq(json_array_size(json_object_get(r->json, "shapes")), 3);
    api_free(r);
    r = req(NULL, "POST", doc.p, "/api/v1/dataset-versions/%lld/annotations", (long long)v);
    cr_assert_eq(r->status, 409, "a stale base_revision in a bulk request");
    api_free(r);
    sbuf_free(&doc);
    free(data);
    free(assets);
}

/* Every write to a locked version answers 409 naming the lock. */
Test(dataset, locked_versions_refuse_every_write)
{
    fixture f;
    setup(&f, 2);
    cr_assert_eq(st(annotate(NULL, f.assets[0], "{\"shapes\":[{\"kind\":\"class\",\"label\":\"cat\"}]}")), 200);
    api_resp *r = req(NULL, "POST", NULL, "/api/v1/dataset-versions/%lld/lock", (long long)f.v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert(json_is_true(json_object_get(r->json, "locked")));
    cr_assert_str_eq(jstr(r->json, "locked_by"), "admin");
    api_free(r);
    char fork_name[64], sha[65];
    snprintf(sha, sizeof sha, "%s", upload_file("{}", 2));
    char import_body[200], label_path[80], ann_path[80], bulk[300], sel[120];
    snprintf(import_body, sizeof import_body, "{\"file\":\"%s\",\"format\":\"coco\"}", sha);
    snprintf(label_path, sizeof label_path, "/api/v1/labels/%lld", (long long)f.dog);
    snprintf(ann_path, sizeof ann_path, "/api/v1/assets/%lld/annotation", (long long)f.assets[0]);
    snprintf(bulk, sizeof bulk, "{\"annotations\":[{\"asset_id\":%lld,\"shapes\":[]}]}", (long long)f.assets[1]);
    snprintf(sel, sizeof sel, "{\"data_ids\":[%lld]}", (long long)f.data[0]);
    char vp[80];
    snprintf(vp, sizeof vp, "/api/v1/dataset-versions/%lld", (long long)f.v);
    struct {
        const char *method, *suffix, *body;
        const char *path;
    } writes[] = {
        {"PATCH", "", "{\"description\":\"x\"}", NULL},
        {"DELETE", "", NULL, NULL},
        {"POST", "/assets", "{\"q\":\"\"}", NULL},
        {"POST", "/assets/delete", "{\"q\":\"\"}", NULL},
        {"POST", "/tags", "{\"add\":[\"t\"],\"q\":\"\"}", NULL},
        {"POST", "/labels", "{\"name\":\"new\"}", NULL},
        {"POST", "/annotations", bulk, NULL},
        {"POST", "/split", "{}", NULL},
        {"POST", "/import", import_body, NULL},
        {"PATCH", NULL, "{\"name\":\"x\"}", label_path},
        {"DELETE", NULL, NULL, label_path},
        {"PUT", NULL, "{\"shapes\":[]}", ann_path},
        {"DELETE", NULL, NULL, ann_path},
    };
    for (size_t i = 0; i < sizeof writes / sizeof *writes; i++) {
        char path[200];
        if (writes[i].path)
            snprintf(path, sizeof path, "%s", writes[i].path);
        else
            snprintf(path, sizeof path, "%s%s", vp, writes[i].suffix);
        r = api_admin(writes[i].method, path, writes[i].body);
        cr_assert_eq(r->status, 409, "%s %s: %ld %s", writes[i].method, path, r->status, r->body.p);
        cr_assert_not_null(strstr(api_error_message(r), "' is locked (by admin, "), "%s", api_error_message(r));
        cr_assert_not_null(strstr(api_error_message(r), "unlock it before changing it"));
        api_free(r);
    }
    /* the dataset cannot be deleted either; reads, export and fork work */
    r = req(NULL, "DELETE", NULL, "/api/v1/datasets/%lld", (long long)f.ds);
    cr_assert_eq(r->status, 409);
    cr_assert_not_null(strstr(api_error_message(r), "has a locked version 'v1'"));
    api_free(r);
    cr_assert_eq(count_assets(f.v, "annotated"), 1);
    snprintf(fork_name, sizeof fork_name, "{\"name\":\"v2\"}");
    r = req(NULL, "POST", fork_name, "/api/v1/dataset-versions/%lld/fork", (long long)f.v);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "parent_id"), f.v);
    cr_assert(json_is_false(json_object_get(r->json, "locked")));
    api_free(r);
    /* unlocked: writes work again */
    cr_assert_eq(st(req(NULL, "DELETE", NULL, "/api/v1/dataset-versions/%lld/lock", (long long)f.v)), 200);
    cr_assert_eq(st(annotate(NULL, f.assets[0], "{\"shapes\":[]}")), 200);
}

Test(dataset, fork_with_and_without_annotations)
{
    fixture f;
    setup(&f, 3);
    cr_assert_eq(st(annotate(NULL, f.assets[0],
                             "{\"status\":\"accepted\",\"shapes\":[{\"kind\":\"box\",\"label\":\"cat\",\"box\":[1,1,5,5]},{\"kind\":\"keypoints\",\"label\":\"person\",\"keypoints\":[1,1,2,2,2,2,3,3,2]}]}")),
                 200);
    cr_assert_eq(st(annotate(NULL, f.assets[1], "{\"shapes\":[{\"kind\":\"class\",\"label\":\"dog\"}]}")), 200);
    cr_assert_eq(st(req(NULL, "POST", "{\"add\":[\"train\"],\"q\":\"\"}", "/api/v1/dataset-versions/%lld/tags",
                        (long long)f.v)),
                 200);
    api_resp *r = req(NULL, "POST", "{\"name\":\"full\"}", "/api/v1/dataset-versions/%lld/fork", (long long)f.v);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t full = jint(r->json, "id");
    cr_assert_eq(jint(r->json, "assets"), 3);
    cr_assert_eq(jint(r->json, "annotated"), 2);
    cr_assert_eq(jint(r->json, "labels"), 3);
    cr_assert_eq(jint(r->json, "shapes"), 3);
    api_free(r);
    cr_assert_eq(count_assets(full, "tag = train"), 3);
    cr_assert_eq(count_assets(full, "label = person and status = accepted"), 1);
    r = req(NULL, "POST", "{\"name\":\"bare\",\"labels\":false,\"annotations\":false,\"tags\":false,\"q\":\"label = cat\"}",
            "/api/v1/dataset-versions/%lld/fork", (long long)f.v);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "assets"), 1);
    cr_assert_eq(jint(r->json, "annotated"), 0);
    cr_assert_eq(jint(r->json, "labels"), 0);
    int64_t bare = jint(r->json, "id");
    api_free(r);
    cr_assert_eq(count_assets(bare, "tag = train"), 0);
    r = req(NULL, "POST", "{\"name\":\"labels-only\",\"annotations\":false}", "/api/v1/dataset-versions/%lld/fork",
            (long long)f.v);
    cr_assert_eq(jint(r->json, "labels"), 3);
    cr_assert_eq(jint(r->json, "annotated"), 0);
    api_free(r);
    /* the fork is independent: changing it leaves the parent alone */
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/assets?q=label%%3Dcat", (long long)full);
    int64_t fa = jint(json_array_get(json_object_get(r->json, "items"), 0), "id");
    api_free(r);
    cr_assert_eq(st(annotate(NULL, fa, "{\"shapes\":[]}")), 200);
    cr_assert_eq(count_assets(f.v, "label = cat"), 1);
    cr_assert_eq(count_assets(full, "label = cat"), 0);
    r = req(NULL, "POST", "{\"name\":\"full\"}", "/api/v1/dataset-versions/%lld/fork", (long long)f.v);
    cr_assert_eq(r->status, 409);
    api_free(r);
    /* deleting versions deletes assets and annotations, never datalake data */
    cr_assert_eq(st(req(NULL, "DELETE", NULL, "/api/v1/datasets/%lld", (long long)f.ds)), 200);
    r = req(NULL, "GET", NULL, "/api/v1/datalakes/%lld/data/count", (long long)f.lake);
    cr_assert_eq(jint(r->json, "count"), 3);
    api_free(r);
    cr_assert_eq(st(req(NULL, "GET", NULL, "/api/v1/assets/%lld", (long long)fa)), 404);
}

Test(dataset, datalake_delete_refused_while_a_locked_version_uses_the_item)
{
    fixture f;
    setup(&f, 3);
    cr_assert_eq(st(req(NULL, "POST", NULL, "/api/v1/dataset-versions/%lld/lock", (long long)f.v)), 200);
    api_resp *r = req(NULL, "DELETE", NULL, "/api/v1/data/%lld", (long long)f.data[0]);
    cr_assert_eq(r->status, 409, "%s", r->body.p);
    char want[300];
    r->body.p[r->body.len] = 0;
    api_resp *d = req(NULL, "GET", NULL, "/api/v1/datasets/%lld", (long long)f.ds);
    snprintf(want, sizeof want,
             "item %lld ('img0.bmp') is used by the locked dataset version '%s/v1'; unlock the version "
             "(or remove the asset from it) before deleting the item",
             (long long)f.data[0], jstr(d->json, "name"));
    cr_assert_str_eq(api_error_message(r), want);
    api_free(d);
    api_free(r);
    r = req(NULL, "POST", "{\"q\":\"\"}", "/api/v1/datalakes/%lld/data/delete", (long long)f.lake);
    cr_assert_eq(r->status, 409);
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/datalakes/%lld/data/count", (long long)f.lake);
    cr_assert_eq(jint(r->json, "count"), 3, "a refused delete deletes nothing");
    api_free(r);
    /* unlocked: the item goes, and the version loses the asset */
    cr_assert_eq(st(req(NULL, "DELETE", NULL, "/api/v1/dataset-versions/%lld/lock", (long long)f.v)), 200);
    cr_assert_eq(st(req(NULL, "DELETE", NULL, "/api/v1/data/%lld", (long long)f.data[0])), 200);
    cr_assert_eq(count_assets(f.v, ""), 2);
}

/* The item page lists the versions using an image; the version page's search box completes. */
Test(dataset, versions_of_an_item_and_autocomplete)
{
    fixture f;
    setup(&f, 2);
    cr_assert_eq(st(annotate(NULL, f.assets[0],
                             "{\"shapes\":[{\"kind\":\"box\",\"label\":\"cat\",\"box\":[1,2,3,4]}],"
                             "\"status\":\"accepted\"}")),
                 200);
    api_resp *r = req(NULL, "POST", "{\"name\":\"v2\",\"annotations\":false}",
                      "/api/v1/dataset-versions/%lld/fork", (long long)f.v);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t v2 = jint(r->json, "id");
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/data/%lld/dataset-versions", (long long)f.data[0]);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 2);
    json_t *a = json_array_get(items, 0), *b = json_array_get(items, 1);
    cr_assert_eq(jint(a, "version_id"), f.v);
    cr_assert_str_eq(jstr(a, "version"), "v1");
    cr_assert_eq(jint(a, "dataset_id"), f.ds);
    cr_assert_eq(jint(a, "asset_id"), f.assets[0]);
    cr_assert_str_eq(jstr(a, "status"), "accepted");
    cr_assert_eq(jint(a, "objects"), 1);
    cr_assert(json_is_false(json_object_get(a, "locked")));
    cr_assert_eq(jint(b, "version_id"), v2);
    cr_assert(json_is_null(json_object_get(b, "status")), "not annotated in the fork");
    cr_assert(json_is_null(json_object_get(r->json, "next_cursor")));
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/data/%lld/dataset-versions", (long long)999999999);
    cr_assert_eq(r->status, 404);
    cr_assert_str_eq(api_error_message(r), "no datalake item 999999999 in this organization");
    api_free(r);

    /* autocomplete: fields, labels, asset tags, statuses; byte offsets like the datalake's */
    char body[200];
    snprintf(body, sizeof body, "{\"ids\":[%lld],\"add\":[\"train\"]}", (long long)f.assets[1]);
    cr_assert_eq(st(req(NULL, "POST", body, "/api/v1/dataset-versions/%lld/tags", (long long)f.v)), 200);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/autocomplete?q=la", (long long)f.v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "suggestions"), 0), "text"), "label");
    cr_assert_eq(jint(r->json, "replace_from"), 0);
    cr_assert_eq(jint(r->json, "replace_to"), 2);
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/autocomplete?q=label%%20%%3D%%20", (long long)f.v);
    json_t *sg = json_object_get(r->json, "suggestions");
    cr_assert_eq(json_array_size(sg), 3, "%s", r->body.p);
    cr_assert_str_eq(jstr(json_array_get(sg, 0), "text"), "\"cat\"");
    cr_assert_str_eq(jstr(json_array_get(sg, 0), "kind"), "value");
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/autocomplete?q=tag%%20%%3D%%20tr", (long long)f.v);
    sg = json_object_get(r->json, "suggestions");
    cr_assert_eq(json_array_size(sg), 1, "%s", r->body.p);
    cr_assert_str_eq(jstr(json_array_get(sg, 0), "text"), "\"train\"");
    cr_assert_eq(jint(r->json, "replace_from"), 6);
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/autocomplete?q=status%%20%%3D%%20a", (long long)f.v);
    sg = json_object_get(r->json, "suggestions");
    cr_assert_eq(json_array_size(sg), 1, "%s", r->body.p);
    cr_assert_str_eq(jstr(json_array_get(sg, 0), "text"), "accepted");
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/autocomplete?q=data.wi", (long long)f.v);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "suggestions"), 0), "text"), "data.width");
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/autocomplete?q=colour%%20%%3D%%20", (long long)f.v);
    cr_assert_eq(r->status, 400, "an unknown field before the cursor is the query's error");
    api_free(r);
}

Test(dataset, organizations_are_isolated)
{
    fixture f;
    setup(&f, 1);
    cr_assert_eq(st(annotate(NULL, f.assets[0], "{\"shapes\":[]}")), 200);
    /* a second organization, created by a member of the first */
    char body[300];
    char *tok = api_user("member", NULL);
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("org"));
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
    struct {
        const char *method, *fmt;
        int64_t id;
        const char *body;
    } probes[] = {
        {"GET", "/api/v1/datasets/%lld", f.ds, NULL},
        {"GET", "/api/v1/datasets/%lld/versions", f.ds, NULL},
        {"DELETE", "/api/v1/datasets/%lld", f.ds, NULL},
        {"GET", "/api/v1/dataset-versions/%lld", f.v, NULL},
        {"GET", "/api/v1/dataset-versions/%lld/assets", f.v, NULL},
        {"GET", "/api/v1/dataset-versions/%lld/stats", f.v, NULL},
        {"POST", "/api/v1/dataset-versions/%lld/fork", f.v, "{\"name\":\"steal\"}"},
        {"POST", "/api/v1/dataset-versions/%lld/lock", f.v, NULL},
        {"POST", "/api/v1/dataset-versions/%lld/labels", f.v, "{\"name\":\"x\"}"},
        {"POST", "/api/v1/dataset-versions/%lld/export", f.v, "{\"format\":\"coco\"}"},
        {"GET", "/api/v1/labels/%lld", f.cat, NULL},
        {"DELETE", "/api/v1/labels/%lld", f.cat, NULL},
        {"GET", "/api/v1/assets/%lld", f.assets[0], NULL},
        {"GET", "/api/v1/assets/%lld/annotation", f.assets[0], NULL},
        {"PUT", "/api/v1/assets/%lld/annotation", f.assets[0], "{\"shapes\":[]}"},
        {"GET", "/api/v1/assets/%lld/annotation/revisions", f.assets[0], NULL},
        {"GET", "/api/v1/dataset-versions/%lld/autocomplete?q=label%%20%%3D%%20", f.v, NULL},
        {"GET", "/api/v1/data/%lld/dataset-versions", f.data[0], NULL},
    };
    for (size_t i = 0; i < sizeof probes / sizeof *probes; i++) {
        r = req(otok, probes[i].method, probes[i].body, probes[i].fmt, (long long)probes[i].id);
        cr_assert_eq(r->status, 404, "%s %s: %ld", probes[i].method, probes[i].fmt, r->status);
        api_free(r);
    }
    /* another organization's datalake cannot back a dataset */
    snprintf(body, sizeof body, "{\"name\":\"x\",\"datalake_id\":%lld}", (long long)f.lake);
    r = api_tok(otok, "POST", "/api/v1/datasets", body);
    cr_assert_eq(r->status, 404);
    api_free(r);
    r = api_tok(otok, "GET", "/api/v1/datasets", NULL);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 0);
    api_free(r);
    free(otok);
}

Test(dataset, roles)
{
    fixture f;
    setup(&f, 1);
    char *viewer = api_user("viewer", NULL), *labeler = api_user("labeler", NULL),
         *member = api_user("member", NULL);
    /* viewers read */
    cr_assert_eq(st(req(viewer, "GET", NULL, "/api/v1/dataset-versions/%lld/assets", (long long)f.v)), 200);
    cr_assert_eq(st(req(viewer, "GET", NULL, "/api/v1/dataset-versions/%lld/stats", (long long)f.v)), 200);
    cr_assert_eq(st(annotate(viewer, f.assets[0], "{\"shapes\":[]}")), 403);
    /* labelers annotate, and nothing else */
    cr_assert_eq(st(annotate(labeler, f.assets[0], "{\"shapes\":[{\"kind\":\"class\",\"label\":\"cat\"}]}")), 200);
    char bulk[200];
    snprintf(bulk, sizeof bulk, "{\"annotations\":[{\"asset_id\":%lld,\"shapes\":[]}]}", (long long)f.assets[0]);
    cr_assert_eq(st(req(labeler, "POST", bulk, "/api/v1/dataset-versions/%lld/annotations", (long long)f.v)), 200);
    cr_assert_eq(st(req(labeler, "POST", "{\"name\":\"x\"}", "/api/v1/dataset-versions/%lld/labels", (long long)f.v)),
                 403);
    cr_assert_eq(st(req(labeler, "POST", "{\"q\":\"\"}", "/api/v1/dataset-versions/%lld/assets", (long long)f.v)), 403);
    cr_assert_eq(st(req(labeler, "POST", NULL, "/api/v1/dataset-versions/%lld/lock", (long long)f.v)), 403);
    cr_assert_eq(st(req(labeler, "POST", "{}", "/api/v1/dataset-versions/%lld/split", (long long)f.v)), 403);
    cr_assert_eq(st(api_tok(labeler, "POST", "/api/v1/datasets", "{\"name\":\"nope\"}")), 403);
    /* members do everything else */
    cr_assert_eq(st(req(member, "POST", "{\"name\":\"x\"}", "/api/v1/dataset-versions/%lld/labels", (long long)f.v)),
                 201);
    cr_assert_eq(st(req(member, "POST", "{\"name\":\"m\"}", "/api/v1/dataset-versions/%lld/fork", (long long)f.v)),
                 201);
    cr_assert_eq(st(req(member, "POST", NULL, "/api/v1/dataset-versions/%lld/lock", (long long)f.v)), 200);
    cr_assert_eq(st(req(member, "DELETE", NULL, "/api/v1/dataset-versions/%lld/lock", (long long)f.v)), 200);
    free(viewer);
    free(labeler);
    free(member);
}
