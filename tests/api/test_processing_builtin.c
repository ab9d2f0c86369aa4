/*
 * API tests of the built-in processings, each on small generated data,
 * checking its outputs: augmented boxes and polygons still cover their
 * objects' pixels; planted near-copies are found and left out; splits are
 * stratified; tiles carry clipped boxes at the right offsets; resized
 * versions have scaled boxes and reuse images that already fit. Also the
 * catalog, parameter checks and the "no outputs on failure" rule.
 */
#include <unistd.h>

#include "nn/nn.h"
#include "test_processing_util.h"

static void init(void)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0, "%s", e.msg);
}

TestSuite(processing, .init = init);

static const uint8_t MAGENTA[3] = {230, 20, 220}, CYAN[3] = {20, 220, 230};

static bool in_triangle(double px, double py, const double t[6])
{
    double d1 = (px - t[2]) * (t[1] - t[3]) - (t[0] - t[2]) * (py - t[3]);
    double d2 = (px - t[4]) * (t[3] - t[5]) - (t[2] - t[4]) * (py - t[5]);
    double d3 = (px - t[0]) * (t[5] - t[1]) - (t[4] - t[0]) * (py - t[1]);
    bool neg = d1 < 0 || d2 < 0 || d3 < 0, pos = d1 > 0 || d2 > 0 || d3 > 0;
    return !(neg && pos);
}

static bool in_rings(json_t *rings, double x, double y)
{
    bool in = false;
    for (size_t r = 0; r < json_array_size(rings); r++) {
        json_t *ring = json_array_get(rings, r);
        size_t n = json_array_size(ring) / 2;
        for (size_t i = 0, j = n - 1; i < n; j = i++) {
            double xi = json_number_value(json_array_get(ring, 2 * i));
            double yi = json_number_value(json_array_get(ring, 2 * i + 1));
            double xj = json_number_value(json_array_get(ring, 2 * j));
            double yj = json_number_value(json_array_get(ring, 2 * j + 1));
            if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi)
                in = !in;
        }
    }
    return in;
}

/* A version of n scenes: a magenta rectangle annotated with a box ("obj")
 * and a cyan triangle annotated with a polygon ("tri"). */
static int64_t scenes(int n, int64_t *lake_out)
{
    int64_t lake = new_lake();
    int64_t ds = new_dataset(NULL, lake);
    int64_t v = new_version(ds, "v1", "detection");
    new_label(v, "{\"name\":\"obj\"}");
    new_label(v, "{\"name\":\"tri\"}");
    for (int i = 0; i < n; i++) {
        int W = 200, H = 150;
        uint8_t *px = grey_scene(W, H, (uint64_t)i + 1);
        int bx = 20 + i * 12, by = 25 + i * 6, bw = 50, bh = 40;
        fill_rect(px, W, bx, by, bw, bh, MAGENTA);
        double tri[6] = {120, 30, 185, 62, 132, 125};
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                if (in_triangle(x + 0.5, y + 0.5, tri))
                    memcpy(px + ((size_t)y * W + x) * 3, CYAN, 3);
        tbytes png = t_encode(px, W, H, 3, ".png", 0);
        char name[32];
        snprintf(name, sizeof name, "scene%d.png", i);
        int64_t id = put_image(lake, &png, name);
        tb_free(&png);
        free(px);
        char body[100];
        snprintf(body, sizeof body, "{\"data_ids\":[%lld]}", (long long)id);
        api_resp *r = req(NULL, "POST", body, "/api/v1/dataset-versions/%lld/assets", (long long)v);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        api_free(r);
        char doc[600];
        snprintf(doc, sizeof doc,
                 "{\"annotations\":[{\"data_id\":%lld,\"shapes\":[{\"kind\":\"box\",\"label\":\"obj\","
                 "\"box\":[%d,%d,%d,%d]},{\"kind\":\"polygon\",\"label\":\"tri\",\"points\":[%g,%g,"
                 "%g,%g,%g,%g]}]}]}",
                 (long long)id, bx, by, bw, bh, tri[0], tri[1], tri[2], tri[3], tri[4], tri[5]);
        r = req(NULL, "POST", doc, "/api/v1/dataset-versions/%lld/annotations", (long long)v);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        api_free(r);
    }
    if (lake_out)
        *lake_out = lake;
    return v;
}

Test(processing, catalog_lists_builtins_with_parameter_forms)
{
    api_resp *r = api_admin("GET", "/api/v1/processings", NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    const char *want[] = {"augment", "dedup", "split", "tile", "resize", "autotag", "pre-annotate"};
    for (int k = 0; k < 7; k++) {
        bool found = false;
        json_t *items = json_object_get(r->json, "items");
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *p = json_array_get(items, i);
            if (strcmp(jstr(p, "name"), want[k]) == 0) {
                found = true;
                cr_assert(json_is_true(json_object_get(p, "builtin")));
                cr_assert_gt(json_array_size(json_object_get(p, "parameters")), 2);
                cr_assert_not_null(jstr(p, "description"));
            }
        }
        cr_assert(found, "%s is not in the catalog", want[k]);
    }
    api_free(r);
    r = api_admin("GET", "/api/v1/processings?target=datalake", NULL);
    cr_assert_eq(r->status, 200);
    cr_assert_not_null(strstr(r->body.p, "\"dedup\""));
    cr_assert_not_null(strstr(r->body.p, "\"autotag\""));
    cr_assert_null(strstr(r->body.p, "\"augment\""));
    api_free(r);
    r = api_admin("GET", "/api/v1/processings/augment", NULL);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(jint(json_object_get(r->json, "processing"), "version"), 1);
    api_free(r);
    cr_assert_eq(st(api_admin("GET", "/api/v1/processings/nope", NULL)), 404);
    cr_assert_eq(st(api_admin("DELETE", "/api/v1/processings/augment", NULL)), 409);
}

Test(processing, launch_checks_target_and_parameters)
{
    int64_t v = scenes(1, NULL);
    char body[300];
    struct {
        const char *body;
        long status;
        const char *needle;
    } cases[] = {
        {"{\"params\":{}}", 400, "'on' is required"},
        {"{\"on\":\"dataset-version:999999999\"}", 404, NULL},
        {"{\"on\":\"datalake:1\"}", 400, "runs on a dataset-version"},
        {"{\"on\":\"dataset-version:%V\",\"params\":{\"copies\":0}}", 400, "between 1 and 20"},
        {"{\"on\":\"dataset-version:%V\",\"params\":{\"copies\":\"x\"}}", 400, "whole number"},
        {"{\"on\":\"dataset-version:%V\",\"params\":{\"colour\":1}}", 400, "unknown parameter 'colour'"},
        {"{\"on\":\"dataset-version:%V\",\"resources\":{\"timeout_s\":0}}", 400, "timeout_s"},
        {"{\"on\":\"dataset-version:%V\",\"requires\":\"GPU!\"}", 400, "requires"},
        {"{\"on\":\"dataset-version:%V\",\"bogus\":1}", 400, "bogus"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *p = strstr(cases[i].body, "%V");
        if (p)
            snprintf(body, sizeof body, "%.*s%lld%s", (int)(p - cases[i].body), cases[i].body,
                     (long long)v, p + 2);
        else
            snprintf(body, sizeof body, "%s", cases[i].body);
        api_resp *r = req(NULL, "POST", body, "/api/v1/processings/augment/run");
        cr_assert_eq(r->status, cases[i].status, "%s -> %ld %s", body, r->status, r->body.p);
        if (cases[i].needle)
            cr_assert_not_null(strstr(api_error_message(r), cases[i].needle), "%s: %s", body,
                               api_error_message(r));
        api_free(r);
    }
    /* text values (CLI, forms) are converted to the declared types */
    snprintf(body, sizeof body,
             "{\"on\":{\"kind\":\"dataset-version\",\"id\":%lld},\"params\":{\"copies\":\"1\","
             "\"include_originals\":\"false\",\"rotate\":\"0\",\"crop\":\"1\"}}",
             (long long)v);
    int64_t job = launch(NULL, "augment", body);
    json_t *j = wait_state(NULL, job, "succeeded", 60);
    json_decref(j);
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/processing-runs/%lld", (long long)job);
    cr_assert_eq(r->status, 200);
    json_t *params = json_object_get(r->json, "params");
    cr_assert_eq(json_integer_value(json_object_get(params, "copies")), 1);
    cr_assert(json_is_false(json_object_get(params, "include_originals")));
    cr_assert_str_eq(jstr(json_object_get(r->json, "processing"), "name"), "augment");
    api_free(r);
}

Test(processing, augment_moves_boxes_and_polygons_with_the_pixels, .timeout = 120)
{
    int n = 4;
    int64_t v = scenes(n, NULL);
    char body[400];
    snprintf(body, sizeof body,
             "{\"on\":\"dataset-version:%lld\",\"params\":{\"copies\":3,\"rotate\":25,\"crop\":0.7,"
             "\"flip_horizontal\":0.5,\"flip_vertical\":0.3,\"noise\":3,\"blur\":0.8,\"seed\":7,"
             "\"name\":\"augmented\"}}",
             (long long)v);
    int64_t job = launch(NULL, "augment", body);
    json_t *j = wait_state(NULL, job, "succeeded", 90);
    int64_t nv = output_version(j);
    cr_assert_eq(jint(json_object_get(j, "result"), "copies"), 3 * n);
    json_decref(j);
    json_t *assets = assets_with_shapes(nv);
    cr_assert_eq(json_array_size(assets), (size_t)(n + 3 * n), "originals and copies");
    int boxes = 0, polys = 0, rotated_or_flipped = 0;
    for (size_t i = 0; i < json_array_size(assets); i++) {
        json_t *a = json_array_get(assets, i);
        if (!strstr(jstr(a, "filename"), "_aug"))
            continue;
        image_pixels px = item_pixels(jint(a, "data_id"));
        cr_assert_eq(px.width, (uint32_t)jint(a, "width"));
        json_t *meta = json_object_get(item_json(jint(a, "data_id")), "meta");
        json_t *tr = json_object_get(meta, "transform");
        if (json_number_value(json_object_get(tr, "rotate")) != 0 ||
            json_is_true(json_object_get(tr, "flip_horizontal")))
            rotated_or_flipped++;
        int mag = 0, cyan = 0, bx0 = 1 << 30, by0 = 1 << 30, bx1 = -1, by1 = -1;
        for (uint32_t y = 0; y < px.height; y++)
            for (uint32_t x = 0; x < px.width; x++) {
                const uint8_t *p = px.data + y * px.stride + x * 3;
                if (is_magenta(p)) {
                    mag++;
                    bx0 = (int)x < bx0 ? (int)x : bx0;
                    by0 = (int)y < by0 ? (int)y : by0;
                    bx1 = (int)x > bx1 ? (int)x : bx1;
                    by1 = (int)y > by1 ? (int)y : by1;
                }
                if (is_cyan(p))
                    cyan++;
            }
        json_t *shapes = json_object_get(a, "shapes");
        bool had_box = false;
        for (size_t s = 0; s < json_array_size(shapes); s++) {
            json_t *sh = json_array_get(shapes, s);
            if (strcmp(jstr(sh, "kind"), "box") == 0) {
                had_box = true;
                boxes++;
                json_t *b = json_object_get(sh, "box");
                double x = json_number_value(json_array_get(b, 0)), y = json_number_value(json_array_get(b, 1));
                double w = json_number_value(json_array_get(b, 2)), h = json_number_value(json_array_get(b, 3));
                int inside = 0;
                for (uint32_t yy = 0; yy < px.height; yy++)
                    for (uint32_t xx = 0; xx < px.width; xx++)
                        if (is_magenta(px.data + yy * px.stride + xx * 3) && xx + 0.5 >= x - 1 &&
                            xx + 0.5 <= x + w + 1 && yy + 0.5 >= y - 1 && yy + 0.5 <= y + h + 1)
                            inside++;
                cr_assert_gt(mag, 50, "%s: a kept box must show its object", jstr(a, "filename"));
                cr_assert_geq(inside, mag * 95 / 100,
                              "%s: the box [%g %g %g %g] covers %d of the object's %d pixels",
                              jstr(a, "filename"), x, y, w, h, inside, mag);
                /* and it is the object's extent, not the whole image */
                double ix = fmax(0, fmin(x + w, bx1 + 1.0) - fmax(x, bx0));
                double iy = fmax(0, fmin(y + h, by1 + 1.0) - fmax(y, by0));
                double inter = ix * iy, uni = w * h + (bx1 - bx0 + 1.0) * (by1 - by0 + 1.0) - inter;
                cr_assert_gt(inter / uni, 0.8, "%s: box [%g %g %g %g] vs object [%d %d %d %d]",
                             jstr(a, "filename"), x, y, w, h, bx0, by0, bx1, by1);
            } else if (strcmp(jstr(sh, "kind"), "polygon") == 0) {
                polys++;
                json_t *rings = json_object_get(sh, "rings");
                int inside = 0;
                for (uint32_t yy = 0; yy < px.height; yy++)
                    for (uint32_t xx = 0; xx < px.width; xx++)
                        if (is_cyan(px.data + yy * px.stride + xx * 3) &&
                            in_rings(rings, xx + 0.5, yy + 0.5))
                            inside++;
                cr_assert_geq(inside, cyan * 90 / 100, "%s: the polygon covers %d of %d cyan pixels",
                              jstr(a, "filename"), inside, cyan);
            }
        }
        if (!had_box)
            cr_assert_lt(mag, 2000 * 30 / 100 + 50,
                         "%s: the box was dropped although %d object pixels are visible",
                         jstr(a, "filename"), mag);
        image_pixels_free(&px);
    }
    cr_assert_geq(boxes, 6, "most copies keep their box");
    cr_assert_geq(polys, 6);
    cr_assert_gt(rotated_or_flipped, 0);
    json_decref(assets);
    /* the same seed gives the same copies */
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/processing-runs/%lld", (long long)job);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(json_array_size(json_object_get(r->json, "outputs")), 0, "built-ins stage nothing");
    api_free(r);
}

/* Near-copies planted among unrelated photos are grouped with their
 * originals; one per group stays. */
Test(processing, dedup_finds_planted_near_copies, .timeout = 120)
{
    int64_t lake = new_lake();
    int64_t ds = new_dataset(NULL, lake);
    int64_t v = new_version(ds, "v1", "classification");
    int64_t ids[10];
    for (int i = 0; i < 6; i++) {
        tbytes b = t_photo_jpeg(160, 120, (uint64_t)(100 + i), 92);
        char name[32];
        snprintf(name, sizeof name, "photo%d.jpg", i);
        ids[i] = put_image(lake, &b, name);
        tb_free(&b);
    }
    /* copy of photo 0 re-encoded at quality 60 and shrunk; copy of photo 3 brighter */
    uint8_t *p0 = t_photo(160, 120, 100);
    uint8_t *small = malloc(128 * 96 * 3);
    for (int y = 0; y < 96; y++)
        for (int x = 0; x < 128; x++)
            memcpy(small + (y * 128 + x) * 3, p0 + ((y * 120 / 96) * 160 + x * 160 / 128) * 3, 3);
    tbytes c0 = t_encode(small, 128, 96, 3, ".jpg[Q=60]", 0);
    ids[6] = put_image(lake, &c0, "copy_of_0.jpg");
    uint8_t *p3 = t_photo(160, 120, 103);
    for (int k = 0; k < 160 * 120 * 3; k++)
        p3[k] = (uint8_t)(p3[k] * 0.9 + 20);
    tbytes c3 = t_encode(p3, 160, 120, 3, ".png", 0);
    ids[7] = put_image(lake, &c3, "copy_of_3.png");
    tb_free(&c0);
    tb_free(&c3);
    free(p0);
    free(small);
    free(p3);
    api_resp *r = req(NULL, "POST", "{\"q\":\"\"}", "/api/v1/dataset-versions/%lld/assets", (long long)v);
    cr_assert_eq(r->status, 200);
    api_free(r);
    char body[200];
    snprintf(body, sizeof body, "{\"on\":\"dataset-version:%lld\",\"params\":{\"max_distance\":8}}",
             (long long)v);
    json_t *j = wait_state(NULL, launch(NULL, "dedup", body), "succeeded", 60);
    json_t *res = json_object_get(j, "result");
    cr_assert_eq(jint(res, "groups_total"), 2, "%s", json_dumps(res, 0));
    cr_assert_eq(jint(res, "duplicates"), 2);
    json_t *groups = json_object_get(res, "groups");
    for (size_t g = 0; g < 2; g++) {
        json_t *gr = json_array_get(groups, g);
        int64_t kept = jint(json_object_get(gr, "kept"), "data_id");
        int64_t gone = jint(json_array_get(json_object_get(gr, "removed"), 0), "data_id");
        cr_assert((kept == ids[0] && gone == ids[6]) || (kept == ids[3] && gone == ids[7]),
                  "group %zu: kept %lld, removed %lld", g, (long long)kept, (long long)gone);
    }
    int64_t nv = output_version(j);
    json_decref(j);
    cr_assert_eq(count_assets(nv, ""), 6);
    cr_assert_eq(count_assets(v, ""), 8, "the input is unchanged");
    /* on the datalake: the copies are tagged */
    snprintf(body, sizeof body, "{\"on\":\"datalake:%lld\",\"params\":{\"max_distance\":8,\"tag\":\"dup\"}}",
             (long long)lake);
    j = wait_state(NULL, launch(NULL, "dedup", body), "succeeded", 60);
    json_decref(j);
    cr_assert_eq(lake_count(lake, "tag = dup"), 2);
    cr_assert_eq(lake_count(lake, "tag = dup and filename = \"copy_of_0.jpg\""), 1);
}

Test(processing, split_is_stratified_into_a_new_version)
{
    int64_t lake = new_lake();
    int64_t ids[20], assets[20];
    upload_images(lake, 20, 16, 16, "s", (uint64_t)lake, ids);
    int64_t ds = new_dataset(NULL, lake);
    int64_t v = new_version(ds, "v1", "classification");
    add_all(v, 20, assets);
    new_label(v, "{\"name\":\"cat\"}");
    new_label(v, "{\"name\":\"dog\"}");
    sbuf doc = SBUF_INIT;
    sbuf_puts(&doc, "{\"annotations\":[");
    for (int i = 0; i < 20; i++)
        sbuf_printf(&doc, "%s{\"asset_id\":%lld,\"shapes\":[{\"kind\":\"class\",\"label\":\"%s\"}]}",
                    i ? "," : "", (long long)assets[i], i < 12 ? "cat" : "dog");
    sbuf_puts(&doc, "]}");
    api_resp *r = req(NULL, "POST", doc.p, "/api/v1/dataset-versions/%lld/annotations", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    sbuf_free(&doc);
    char body[300];
    snprintf(body, sizeof body,
             "{\"on\":\"dataset-version:%lld\",\"params\":{\"ratios\":{\"train\":0.5,\"test\":0.5},"
             "\"seed\":3,\"new_version\":\"split-v1\"}}",
             (long long)v);
    json_t *j = wait_state(NULL, launch(NULL, "split", body), "succeeded", 60);
    int64_t nv = output_version(j);
    json_decref(j);
    cr_assert_eq(count_assets(nv, "tag = train"), 10);
    cr_assert_eq(count_assets(nv, "tag = test"), 10);
    cr_assert_eq(count_assets(nv, "tag = train and label = cat"), 6);
    cr_assert_eq(count_assets(nv, "tag = train and label = dog"), 4);
    cr_assert_eq(count_assets(v, "tag = train"), 0, "the input is untouched");
}

Test(processing, tile_clips_boxes_to_each_tile)
{
    int64_t lake = new_lake();
    int64_t ds = new_dataset(NULL, lake);
    int64_t v = new_version(ds, "v1", "detection");
    new_label(v, "{\"name\":\"obj\"}");
    uint8_t *px = grey_scene(300, 200, 5);
    fill_rect(px, 300, 100, 50, 60, 40, MAGENTA);
    tbytes png = t_encode(px, 300, 200, 3, ".png", 0);
    free(px);
    int64_t id = put_image(lake, &png, "big.png");
    tb_free(&png);
    char doc[300];
    snprintf(doc, sizeof doc, "{\"data_ids\":[%lld]}", (long long)id);
    cr_assert_eq(st(req(NULL, "POST", doc, "/api/v1/dataset-versions/%lld/assets", (long long)v)), 200);
    snprintf(doc, sizeof doc,
             "{\"annotations\":[{\"data_id\":%lld,\"shapes\":[{\"kind\":\"box\",\"label\":\"obj\","
             "\"box\":[100,50,60,40]},{\"kind\":\"point\",\"label\":\"obj\",\"point\":[250,150]}]}]}",
             (long long)id);
    cr_assert_eq(st(req(NULL, "POST", doc, "/api/v1/dataset-versions/%lld/annotations", (long long)v)), 200);
    char body[300];
    snprintf(body, sizeof body,
             "{\"on\":\"dataset-version:%lld\",\"params\":{\"tile_size\":128,\"overlap\":0.25,"
             "\"format\":\"png\"}}",
             (long long)v);
    json_t *j = wait_state(NULL, launch(NULL, "tile", body), "succeeded", 60);
    int64_t nv = output_version(j);
    cr_assert_eq(jint(json_object_get(j, "result"), "tiles"), 6, "x 0, 96, 172 by y 0, 72");
    json_decref(j);
    json_t *assets = assets_with_shapes(nv);
    cr_assert_eq(json_array_size(assets), 6);
    int checked = 0;
    for (size_t i = 0; i < json_array_size(assets); i++) {
        json_t *a = json_array_get(assets, i);
        cr_assert_eq(jint(a, "width"), 128);
        cr_assert_eq(jint(a, "height"), 128);
        json_t *meta = json_object_get(item_json(jint(a, "data_id")), "meta");
        int tx = (int)jint(meta, "x"), ty = (int)jint(meta, "y");
        cr_assert_eq(jint(meta, "tile_of"), id);
        /* the expected clipped box */
        double x0 = fmax(100 - tx, 0), y0 = fmax(50 - ty, 0);
        double x1 = fmin(160 - tx, 128), y1 = fmin(90 - ty, 128);
        bool want = x1 - x0 >= 1 && y1 - y0 >= 1 && (x1 - x0) * (y1 - y0) / 2400 >= 0.3;
        json_t *box = NULL;
        json_t *shapes = json_object_get(a, "shapes");
        for (size_t s = 0; s < json_array_size(shapes); s++)
            if (strcmp(jstr(json_array_get(shapes, s), "kind"), "box") == 0)
                box = json_object_get(json_array_get(shapes, s), "box");
        cr_assert_eq(box != NULL, want, "tile %d,%d", tx, ty);
        if (box) {
            cr_assert_float_eq(json_number_value(json_array_get(box, 0)), x0, 1e-6);
            cr_assert_float_eq(json_number_value(json_array_get(box, 1)), y0, 1e-6);
            cr_assert_float_eq(json_number_value(json_array_get(box, 2)), x1 - x0, 1e-6);
            cr_assert_float_eq(json_number_value(json_array_get(box, 3)), y1 - y0, 1e-6);
            /* and the tile's pixels agree */
            image_pixels p = item_pixels(jint(a, "data_id"));
            cr_assert(is_magenta(p.data + (size_t)(y0 + 1) * p.stride + (size_t)(x0 + 1) * 3));
            image_pixels_free(&p);
            checked++;
        }
    }
    cr_assert_geq(checked, 2);
    json_decref(assets);
}

Test(processing, resize_scales_boxes_and_reuses_what_fits)
{
    int64_t lake = new_lake();
    int64_t ds = new_dataset(NULL, lake);
    int64_t v = new_version(ds, "v1", "detection");
    new_label(v, "{\"name\":\"obj\"}");
    uint8_t *px = grey_scene(400, 300, 9);
    fill_rect(px, 400, 40, 60, 100, 80, MAGENTA);
    tbytes big = t_encode(px, 400, 300, 3, ".png", 0);
    free(px);
    tbytes small = t_photo_jpeg(100, 80, 4, 90);
    int64_t id_big = put_image(lake, &big, "big.png"), id_small = put_image(lake, &small, "small.jpg");
    tb_free(&big);
    tb_free(&small);
    char doc[400];
    snprintf(doc, sizeof doc, "{\"data_ids\":[%lld,%lld]}", (long long)id_big, (long long)id_small);
    cr_assert_eq(st(req(NULL, "POST", doc, "/api/v1/dataset-versions/%lld/assets", (long long)v)), 200);
    snprintf(doc, sizeof doc,
             "{\"annotations\":[{\"data_id\":%lld,\"shapes\":[{\"kind\":\"box\",\"label\":\"obj\","
             "\"box\":[40,60,100,80]}]},{\"data_id\":%lld,\"shapes\":[{\"kind\":\"box\",\"label\":"
             "\"obj\",\"box\":[10,10,20,20]}]}]}",
             (long long)id_big, (long long)id_small);
    cr_assert_eq(st(req(NULL, "POST", doc, "/api/v1/dataset-versions/%lld/annotations", (long long)v)), 200);
    char body[300];
    snprintf(body, sizeof body, "{\"on\":\"dataset-version:%lld\",\"params\":{\"max_side\":200}}",
             (long long)v);
    json_t *j = wait_state(NULL, launch(NULL, "resize", body), "succeeded", 60);
    cr_assert_eq(jint(json_object_get(j, "result"), "reused"), 1);
    int64_t nv = output_version(j);
    json_decref(j);
    json_t *assets = assets_with_shapes(nv);
    cr_assert_eq(json_array_size(assets), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *a = json_array_get(assets, i);
        json_t *box = json_object_get(json_array_get(json_object_get(a, "shapes"), 0), "box");
        if (jint(a, "data_id") == id_small) {
            cr_assert_float_eq(json_number_value(json_array_get(box, 0)), 10, 1e-9);
            continue;
        }
        cr_assert_eq(jint(a, "width"), 200);
        cr_assert_eq(jint(a, "height"), 150);
        cr_assert_str_eq(jstr(a, "format"), "png", "format keep");
        cr_assert_float_eq(json_number_value(json_array_get(box, 0)), 20, 1e-6);
        cr_assert_float_eq(json_number_value(json_array_get(box, 1)), 30, 1e-6);
        cr_assert_float_eq(json_number_value(json_array_get(box, 2)), 50, 1e-6);
        cr_assert_float_eq(json_number_value(json_array_get(box, 3)), 40, 1e-6);
        image_pixels p = item_pixels(jint(a, "data_id"));
        cr_assert(is_magenta(p.data + 32 * p.stride + 22 * 3));
        cr_assert(!is_magenta(p.data + 28 * p.stride + 18 * 3));
        image_pixels_free(&p);
    }
    json_decref(assets);
}

/* A built-in that fails (here: its new version's name is taken) leaves no
 * new data behind: the datalake items it had prepared are not inserted. */
Test(processing, failed_builtin_writes_nothing)
{
    int64_t lake;
    int64_t v = scenes(2, &lake);
    int64_t before = lake_count(lake, "");
    char body[300];
    snprintf(body, sizeof body,
             "{\"on\":\"dataset-version:%lld\",\"params\":{\"copies\":2,\"name\":\"v1\"}}",
             (long long)v);
    json_t *j = wait_state(NULL, launch(NULL, "augment", body), "failed", 60);
    cr_assert_not_null(strstr(jstr(j, "error"), "already has a version named 'v1'"), "%s",
                       jstr(j, "error"));
    json_decref(j);
    cr_assert_eq(lake_count(lake, ""), before, "no augmented image may stay in the datalake");
}

/* --- autotag -------------------------------------------------------------------------------- */

/* A classifier whose answer is known: global average pooling then a linear
 * layer scoring "red" as 5 * (R - B) and "blue" as 5 * (B - R) on the
 * normalised channels. A saturated red or blue image is its class with a
 * probability near 1; a grey one is 0.5 / 0.5. Saved as a checkpoint,
 * uploaded; returns its sha256 (static storage). */
static const char *red_blue_checkpoint(void)
{
    err e;
    cr_assert_eq(nn_init(1, &e), 0, "%s", e.msg);
    const char *arch =
        "{\"format\":\"cvops-nn/1\",\"name\":\"red-blue\",\"input\":{\"channels\":3,\"height\":16,"
        "\"width\":16,\"mean\":[0.5,0.5,0.5],\"std\":[0.25,0.25,0.25]},\"nodes\":["
        "{\"name\":\"gap\",\"op\":\"gap\"},{\"name\":\"fc\",\"op\":\"linear\",\"out\":2}]}";
    nn_model *m = nn_model_new(arch, 1, &e);
    cr_assert_not_null(m, "%s", e.msg);
    const float w[6] = {5, 0, -5, -5, 0, 5}, b[2] = {0, 0};
    cr_assert_eq(nn_model_param_set(m, "fc.weight", w, 6, &e), 0, "%s", e.msg);
    cr_assert_eq(nn_model_param_set(m, "fc.bias", b, 2, &e), 0, "%s", e.msg);
    const char *labels[2] = {"red", "blue"};
    cr_assert_eq(nn_model_set_labels(m, labels, 2, &e), 0, "%s", e.msg);
    char path[] = "/tmp/cvops-autotag-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_assert_eq(nn_model_save(m, path, NULL, &e), 0, "%s", e.msg);
    nn_model_free(m);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    unlink(path);
    return upload_file(buf, n);
}

/* A model with one version holding these files; returns the version id. */
static int64_t model_version_with(const char *files)
{
    char body[700];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("autotag-"));
    api_resp *r = req(NULL, "POST", body, "/api/v1/models");
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t model = jint(r->json, "id");
    api_free(r);
    snprintf(body, sizeof body, "{\"framework\":\"cvops\",\"files\":%s}", files);
    r = req(NULL, "POST", body, "/api/v1/models/%lld/versions", (long long)model);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t id = jint(r->json, "id");
    api_free(r);
    return id;
}

static int64_t flat_image(int64_t lake, const char *name, uint8_t r, uint8_t g, uint8_t b)
{
    uint8_t px[24 * 18 * 3];
    for (size_t i = 0; i < sizeof px; i += 3) {
        px[i] = r;
        px[i + 1] = g;
        px[i + 2] = b;
    }
    tbytes png = t_encode(px, 24, 18, 3, ".png", 0);
    int64_t id = put_image(lake, &png, name);
    tb_free(&png);
    return id;
}

Test(processing, autotag_tags_the_top_class_above_the_threshold, .timeout = 120)
{
    char files[300];
    snprintf(files, sizeof files, "[{\"path\":\"model.safetensors\",\"sha256\":\"%s\"}]",
             red_blue_checkpoint());
    int64_t mv = model_version_with(files);
    int64_t lake = new_lake();
    flat_image(lake, "red1.png", 230, 20, 20);
    flat_image(lake, "red2.png", 200, 60, 40);
    flat_image(lake, "blue1.png", 10, 40, 240);
    flat_image(lake, "grey.png", 128, 128, 128);
    char body[400];
    snprintf(body, sizeof body,
             "{\"on\":\"datalake:%lld\",\"params\":{\"model_version\":%lld,\"threshold\":0.6,"
             "\"prefix\":\"auto-\"}}",
             (long long)lake, (long long)mv);
    json_t *j = wait_state(NULL, launch(NULL, "autotag", body), "succeeded", 60);
    json_t *res = json_object_get(j, "result");
    cr_assert_eq(jint(res, "images"), 4, "%s", json_dumps(res, 0));
    cr_assert_eq(jint(res, "tagged"), 3);
    cr_assert_eq(jint(res, "below_threshold"), 1, "grey is 0.5 / 0.5");
    json_decref(j);
    cr_assert_eq(lake_count(lake, "tag = auto-red"), 2);
    cr_assert_eq(lake_count(lake, "tag = auto-red and filename ~ \"red*\""), 2);
    cr_assert_eq(lake_count(lake, "tag = auto-blue and filename = \"blue1.png\""), 1);
    cr_assert_eq(lake_count(lake, "tag = null"), 1, "the grey image stays untagged");

    /* on a dataset version: asset tags, only the assets the query picks */
    int64_t ds = new_dataset(NULL, lake);
    int64_t v = new_version(ds, "v1", "classification");
    api_resp *r = req(NULL, "POST", "{\"q\":\"\"}", "/api/v1/dataset-versions/%lld/assets", (long long)v);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    snprintf(body, sizeof body,
             "{\"on\":\"dataset-version:%lld\",\"query\":\"data.filename != \\\"red2.png\\\"\","
             "\"params\":{\"model_version\":%lld,\"threshold\":0.4}}",
             (long long)v, (long long)mv);
    j = wait_state(NULL, launch(NULL, "autotag", body), "succeeded", 60);
    cr_assert_eq(jint(json_object_get(j, "result"), "images"), 3);
    json_decref(j);
    cr_assert_eq(count_assets(v, "data.filename = \"red2.png\" and exists tag"), 0,
                 "red2.png was not picked by the query");
    cr_assert_eq(count_assets(v, "tag = red and data.filename = \"red1.png\""), 1);
    cr_assert_eq(count_assets(v, "tag = blue and data.filename = \"blue1.png\""), 1);
    cr_assert_eq(count_assets(v, "tag in (red, blue)"), 3, "grey's top class (0.5) is above 0.4");
    cr_assert_eq(lake_count(lake, "tag in (red, blue)"), 0, "asset tags, not datalake tags");
}

Test(processing, autotag_refuses_a_version_without_a_checkpoint)
{
    int64_t lake = new_lake();
    flat_image(lake, "red.png", 230, 20, 20);
    char files[300];
    snprintf(files, sizeof files, "[{\"path\":\"model.onnx\",\"sha256\":\"%s\"}]",
             upload_file("not a model", 11));
    int64_t mv = model_version_with(files);
    char body[300];
    snprintf(body, sizeof body, "{\"on\":\"datalake:%lld\",\"params\":{\"model_version\":%lld}}",
             (long long)lake, (long long)mv);
    json_t *j = wait_state(NULL, launch(NULL, "autotag", body), "failed", 60);
    cr_assert_not_null(strstr(jstr(j, "error"), "has no .safetensors file"), "%s", jstr(j, "error"));
    json_decref(j);
    /* a file that is not a checkpoint */
    snprintf(body, sizeof body,
             "{\"on\":\"datalake:%lld\",\"params\":{\"model_version\":%lld,\"file\":\"model.onnx\"}}",
             (long long)lake, (long long)mv);
    j = wait_state(NULL, launch(NULL, "autotag", body), "failed", 60);
    cr_assert_not_null(strstr(jstr(j, "error"), "cannot be used as a classifier"), "%s",
                       jstr(j, "error"));
    json_decref(j);
    /* a version that does not exist; model_version is required */
    snprintf(body, sizeof body, "{\"on\":\"datalake:%lld\",\"params\":{\"model_version\":999999}}",
             (long long)lake);
    j = wait_state(NULL, launch(NULL, "autotag", body), "failed", 60);
    cr_assert_not_null(strstr(jstr(j, "error"), "model version 999999 does not exist"), "%s",
                       jstr(j, "error"));
    json_decref(j);
    snprintf(body, sizeof body, "{\"on\":\"datalake:%lld\"}", (long long)lake);
    api_resp *r = req(NULL, "POST", body, "/api/v1/processings/autotag/run");
    cr_assert_eq(r->status, 400, "%s", r->body.p);
    cr_assert_not_null(strstr(r->body.p, "model_version"), "%s", r->body.p);
    api_free(r);
    cr_assert_eq(lake_count(lake, "exists tag"), 0, "nothing was tagged");
}
