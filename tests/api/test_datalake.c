/*
 * API tests of the datalake: ingest (every format, every refusal, EXIF,
 * duplicates), originals and thumbnails, the query language through the API,
 * keyset pages, bulk tags and deletes, similar images, stats, autocomplete,
 * isolation, and the CLI upload (including a re-run after an interruption).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../unit/image_gen.h"
#include "api.h"
#include "base/util.h"

static void init(void)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0, "%s", e.msg);
}

TestSuite(datalake, .init = init);

static int64_t new_lake(const char *token)
{
    char body[120];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("lake"));
    api_resp *r = api_tok(token, "POST", "/api/v1/datalakes", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t id = json_integer_value(json_object_get(r->json, "id"));
    api_free(r);
    return id;
}

static api_resp *upload(int64_t lake, const tbytes *img, const char *query)
{
    char path[600];
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data%s%s", (long long)lake,
             query ? "?" : "", query ? query : "");
    api_opts o = {.token = api_admin_token(), .body = img->p, .body_len = img->n,
                  .content_type = "application/octet-stream"};
    if (img->n == 0)
        o.body = "";
    return api_do("POST", path, &o);
}

static int64_t count(int64_t lake, const char *q)
{
    char path[600];
    char *eq = curl_escape_q(q);
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data/count?q=%s", (long long)lake, eq);
    free(eq);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "count(%s): %s", q, r->body.p);
    int64_t n = json_integer_value(json_object_get(r->json, "count"));
    api_free(r);
    return n;
}

static json_t *search(int64_t lake, const char *q, const char *extra)
{
    char path[1200];
    char *eq = curl_escape_q(q);
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data?q=%s%s", (long long)lake, eq,
             extra ? extra : "");
    free(eq);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "search(%s): %s", q, r->body.p);
    json_t *j = json_incref(r->json);
    api_free(r);
    return j;
}

static const char *jstr(json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }
static int64_t jint(json_t *j, const char *k) { return json_integer_value(json_object_get(j, k)); }

Test(datalake, upload_reads_the_image_and_serves_original_and_thumbnail)
{
    int64_t lake = new_lake(api_admin_token());
    tbytes jpg = t_photo_jpeg(640, 480, 1, 90);
    api_resp *r = upload(lake, &jpg, "filename=a%20b.jpg&tag=night&tag=street&source=cam1&meta=%7B%22weather%22%3A%22rain%22%2C%22alt%22%3A120%7D");
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    json_t *it = r->json;
    cr_assert_str_eq(jstr(it, "format"), "jpeg");
    cr_assert_eq(jint(it, "width"), 640);
    cr_assert_eq(jint(it, "height"), 480);
    cr_assert_eq(jint(it, "channels"), 3);
    cr_assert_str_eq(jstr(it, "filename"), "a b.jpg");
    cr_assert_str_eq(jstr(it, "source"), "cam1");
    cr_assert(json_is_false(json_object_get(it, "duplicate")));
    cr_assert_str_eq(jstr(json_object_get(it, "meta"), "weather"), "rain");
    json_t *tags = json_object_get(it, "tags");
    cr_assert_eq(json_array_size(tags), 2);
    cr_assert_str_eq(json_string_value(json_array_get(tags, 0)), "night");
    char sha[65];
    sha256_hex(jpg.p, jpg.n, sha);
    cr_assert_str_eq(jstr(it, "sha256"), sha);
    int64_t id = jint(it, "id");
    api_free(r);

    char path[120];
    snprintf(path, sizeof path, "/api/v1/data/%lld/original", (long long)id);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(r->body.len, jpg.n);
    cr_assert_eq(memcmp(r->body.p, jpg.p, jpg.n), 0);
    char *ct = api_header(r, "Content-Type");
    cr_assert_str_eq(ct, "image/jpeg");
    free(ct);
    api_free(r);

    snprintf(path, sizeof path, "/api/v1/data/%lld/thumbnail", (long long)id);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200);
    image_info info;
    err e;
    cr_assert_eq(image_probe(r->body.p, r->body.len, &info, &e), 0, "%s", e.msg);
    cr_assert_eq(info.format, IMAGE_JPEG);
    cr_assert_eq(info.width, 256);
    cr_assert_eq(info.height, 192);
    char *etag = api_header(r, "ETag");
    cr_assert_not_null(etag);
    api_free(r);
    /* a browser that has it asks again with its ETag: 304, no body */
    char inm[200];
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    const char *h304[] = {inm, NULL};
    api_opts o = {.token = api_admin_token(), .headers = h304};
    r = api_do("GET", path, &o);
    cr_assert_eq(r->status, 304);
    cr_assert_eq(r->body.len, 0);
    api_free(r);
    free(etag);

    /* the original: a byte range, the name to save it under, a download */
    snprintf(path, sizeof path, "/api/v1/data/%lld/original", (long long)id);
    const char *hr[] = {"Range: bytes=100-199", NULL};
    o = (api_opts){.token = api_admin_token(), .headers = hr};
    r = api_do("GET", path, &o);
    cr_assert_eq(r->status, 206);
    cr_assert_eq(r->body.len, 100);
    cr_assert_eq(memcmp(r->body.p, jpg.p + 100, 100), 0);
    char *cr = api_header(r, "Content-Range");
    char want[64];
    snprintf(want, sizeof want, "bytes 100-199/%zu", jpg.n);
    cr_assert_str_eq(cr, want);
    free(cr);
    char *cd = api_header(r, "Content-Disposition");
    cr_assert_str_eq(cd, "inline; filename=\"a b.jpg\"");
    free(cd);
    api_free(r);
    const char *bad_range[] = {"Range: bytes=99999999-", NULL};
    o.headers = bad_range;
    r = api_do("GET", path, &o);
    cr_assert_eq(r->status, 416);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/data/%lld/original?download=1", (long long)id);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(r->body.len, jpg.n);
    cd = api_header(r, "Content-Disposition");
    cr_assert_not_null(cd);
    cr_assert(strncmp(cd, "attachment", 10) == 0, "%s", cd);
    cr_assert_not_null(strstr(cd, "a b.jpg"), "%s", cd);
    free(cd);
    api_free(r);
    tb_free(&jpg);
}

Test(datalake, same_content_twice_is_stored_once_and_merges_tags)
{
    int64_t lake = new_lake(api_admin_token());
    tbytes jpg = t_photo_jpeg(320, 240, 2, 85);
    api_resp *r = upload(lake, &jpg, "tag=a");
    cr_assert_eq(r->status, 201);
    int64_t id = jint(r->json, "id");
    api_free(r);
    r = upload(lake, &jpg, "tag=b&filename=other.jpg");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert(json_is_true(json_object_get(r->json, "duplicate")));
    cr_assert_eq(jint(r->json, "id"), id);
    cr_assert_eq(json_array_size(json_object_get(r->json, "tags")), 2);
    api_free(r);
    cr_assert_eq(count(lake, ""), 1);
    tb_free(&jpg);
}

/* Every refusal: a clear reason, and nothing stored. */
Test(datalake, refusals_store_nothing)
{
    int64_t lake = new_lake(api_admin_token());
    tbytes good = t_photo_jpeg(200, 100, 3, 80);
    struct {
        const char *what;
        tbytes img;
        long status;
        const char *says;
    } cases[8];
    int n = 0;
    cases[n++] = (__typeof__(cases[0])){"empty", {NULL, 0}, 400, "empty"};
    tbytes txt = {(uint8_t *)strdup("%PDF-1.4 this is not an image"), 29};
    cases[n++] = (__typeof__(cases[0])){"pdf", txt, 415, "not an image"};
    tbytes trunc = {malloc(good.n / 3), good.n / 3};
    memcpy(trunc.p, good.p, trunc.n);
    cases[n++] = (__typeof__(cases[0])){"truncated jpeg", trunc, 422, ""};
    cases[n++] = (__typeof__(cases[0])){"bomb", t_png_header_only(30000, 30000, 8, 2), 413, "pixels"};
    cases[n++] = (__typeof__(cases[0])){"zero size", t_png_header_only(0, 10, 8, 2), 422, ""};
    for (int i = 0; i < n; i++) {
        api_resp *r = upload(lake, &cases[i].img, "tag=never");
        cr_assert_eq(r->status, cases[i].status, "%s: %ld %s", cases[i].what, r->status, r->body.p);
        cr_assert_not_null(strstr(api_error_message(r), cases[i].says), "%s: %s", cases[i].what,
                           api_error_message(r));
        api_free(r);
        tb_free(&cases[i].img);
    }
    cr_assert_eq(count(lake, ""), 0, "nothing of a rejected file may remain");
    api_resp *r = api_admin("GET", "/api/v1/datalakes", NULL);
    cr_assert_null(strstr(r->body.p, "\"never\""));
    api_free(r);
    char path[80];
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/tags", (long long)lake);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 0, "no tag may be created");
    api_free(r);
    tb_free(&good);
}

Test(datalake, every_format_and_exif)
{
    int64_t lake = new_lake(api_admin_token());
    uint8_t *px = t_photo(120, 80, 4);
    const char *fmts[] = {".png", ".webp", ".tif", NULL};
    const char *names[] = {"png", "webp", "tiff"};
    for (int i = 0; fmts[i]; i++) {
        tbytes b = t_encode(px, 120, 80, 3, fmts[i], 0);
        api_resp *r = upload(lake, &b, NULL);
        cr_assert_eq(r->status, 201, "%s: %s", fmts[i], r->body.p);
        cr_assert_str_eq(jstr(r->json, "format"), names[i]);
        cr_assert_eq(jint(r->json, "width"), 120);
        api_free(r);
        tb_free(&b);
    }
    tbytes bmp = t_bmp(px, 120, 80, 24, false);
    api_resp *r = upload(lake, &bmp, NULL);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    cr_assert_str_eq(jstr(r->json, "format"), "bmp");
    api_free(r);
    tb_free(&bmp);
    /* orientation 6: displayed size is turned; camera fields are typed */
    tbytes jpg = t_photo_jpeg(120, 80, 5, 85);
    t_tiffbuf ex = t_camera_exif(true, 6);
    tbytes withexif = t_jpeg_with_exif(&jpg, ex.p, ex.n);
    r = upload(lake, &withexif, NULL);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "width"), 80);
    cr_assert_eq(jint(r->json, "height"), 120);
    json_t *cam = json_object_get(r->json, "camera");
    cr_assert_eq(jint(cam, "orientation"), 6);
    cr_assert_str_neq(jstr(cam, "make") ? jstr(cam, "make") : "", "");
    int64_t id = jint(r->json, "id");
    api_free(r);
    char q[200];
    snprintf(q, sizeof q, "orientation = 6 and exif.make = \"%s\"", jstr(cam, "make") ? "x" : "x");
    (void)q;
    cr_assert_eq(count(lake, "orientation = 6"), 1);
    char path[80];
    snprintf(path, sizeof path, "/api/v1/data/%lld/thumbnail", (long long)id);
    r = api_admin("GET", path, NULL);
    image_info info;
    err e;
    cr_assert_eq(image_probe(r->body.p, r->body.len, &info, &e), 0);
    cr_assert_eq(info.width, 80, "the thumbnail is turned as displayed");
    cr_assert_eq(info.height, 120);
    api_free(r);
    tb_free(&jpg);
    tb_free(&withexif);
    free(px);
}

Test(datalake, multipart_single_and_batch)
{
    int64_t lake = new_lake(api_admin_token());
    tbytes a = t_photo_jpeg(64, 64, 10, 80), b = t_photo_jpeg(64, 48, 11, 80);
    sbuf body = SBUF_INIT;
    sbuf_puts(&body, "--BB\r\nContent-Disposition: form-data; name=\"tag\"\r\n\r\nmp\r\n");
    sbuf_puts(&body, "--BB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n");
    sbuf_put(&body, a.p, a.n);
    sbuf_puts(&body, "\r\n--BB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.jpg\"\r\n\r\n");
    sbuf_put(&body, b.p, b.n);
    sbuf_puts(&body, "\r\n--BB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.txt\"\r\n\r\nnot an image");
    sbuf_puts(&body, "\r\n--BB--\r\n");
    char path[120];
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data/batch", (long long)lake);
    api_opts o = {.token = api_admin_token(), .body = body.p, .body_len = body.len,
                  .content_type = "multipart/form-data; boundary=BB"};
    api_resp *r = api_do("POST", path, &o);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "created"), 2);
    cr_assert_eq(jint(r->json, "rejected"), 1);
    json_t *res = json_object_get(r->json, "results");
    cr_assert_str_eq(jstr(json_array_get(res, 0), "filename"), "a.jpg");
    cr_assert_str_eq(jstr(json_array_get(res, 2), "status"), "rejected");
    cr_assert_not_null(strstr(jstr(json_object_get(json_array_get(res, 2), "error"), "message"), "not an image"));
    api_free(r);
    cr_assert_eq(count(lake, "tag = \"mp\""), 2, "form fields after... before the files apply");
    /* the single endpoint refuses several files */
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data", (long long)lake);
    r = api_do("POST", path, &o);
    cr_assert_eq(r->status, 400, "%s", r->body.p);
    cr_assert_not_null(strstr(api_error_message(r), "batch"));
    api_free(r);
    sbuf_free(&body);
    tb_free(&a);
    tb_free(&b);
}

/* Seeds a lake with n images: tags by i%3, meta by i%2, widths vary. */
static int64_t seeded_lake(int n)
{
    int64_t lake = new_lake(api_admin_token());
    for (int i = 0; i < n; i++) {
        tbytes j = t_photo_jpeg(100 + 10 * i, 60, 100 + (uint64_t)i, 70);
        char q[300];
        snprintf(q, sizeof q, "filename=img%02d.jpg&tag=%s&meta=%%7B%%22weather%%22%%3A%%22%s%%22%%2C%%22n%%22%%3A%d%%7D",
                 i, i % 3 == 0 ? "night" : i % 3 == 1 ? "day" : "dusk", i % 2 ? "rain" : "sun", i);
        api_resp *r = upload(lake, &j, q);
        cr_assert_eq(r->status, 201, "%s", r->body.p);
        api_free(r);
        tb_free(&j);
    }
    return lake;
}

Test(datalake, query_language_through_the_api)
{
    int64_t lake = seeded_lake(12);
    cr_assert_eq(count(lake, ""), 12);
    cr_assert_eq(count(lake, "tag = \"night\""), 4);
    cr_assert_eq(count(lake, "tag in (\"night\", \"day\")"), 8);
    cr_assert_eq(count(lake, "not tag = \"night\""), 8);
    cr_assert_eq(count(lake, "meta.weather = \"rain\""), 6);
    cr_assert_eq(count(lake, "meta.n >= 10"), 2);
    cr_assert_eq(count(lake, "width >= 200"), 2);
    cr_assert_eq(count(lake, "tag = \"night\" and meta.weather = \"sun\" and width >= 130"), 1);
    cr_assert_eq(count(lake, "filename ~ \"img0*\""), 10);
    cr_assert_eq(count(lake, "(tag = \"day\" or tag = \"dusk\") and meta.n < 4"), 2);
    cr_assert_eq(count(lake, "created > \"2020-01-01\""), 12);
    cr_assert_eq(count(lake, "format = \"jpeg\" and channels = 3"), 12);
    /* a required tag drives the count (datalake_count): anywhere in the top-level and, with
     * other tags, an unknown tag, and only this lake's tag of that name */
    cr_assert_eq(count(lake, "meta.weather = \"rain\" and tag = \"night\""), 2);
    cr_assert_eq(count(lake, "tag = \"night\" and tag = \"day\""), 0);
    cr_assert_eq(count(lake, "tag = \"night\" and not tag = \"day\" and meta.n >= 6"), 2);
    cr_assert_eq(count(lake, "tag = \"nosuch\" and width > 0"), 0);
    int64_t other = seeded_lake(3);
    cr_assert_eq(count(other, "tag = \"night\""), 1);
    cr_assert_eq(count(lake, "tag = \"night\""), 4);
    /* errors point at the column */
    char path[300];
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data?q=width%%20%%3E%%3D%%20", (long long)lake);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "column"), "%s", api_error_message(r));
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data?q=widht%%3E1", (long long)lake);
    r = api_admin("GET", path, NULL);
    cr_assert_not_null(strstr(api_error_message(r), "did you mean 'width'"));
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data?order_by=colour", (long long)lake);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 400);
    api_free(r);
}

/* Walk every order with small pages: each item exactly once, in order,
 * even when new items arrive meanwhile. */
Test(datalake, keyset_pages_are_complete_and_stable)
{
    int64_t lake = seeded_lake(9);
    const char *orders[] = {"", "&order_by=filename", "&order_by=-width", "&order_by=size", "&order_by=created"};
    for (size_t o = 0; o < sizeof orders / sizeof *orders; o++) {
        char extra[200];
        char cursor[512] = "";
        int seen = 0;
        int64_t ids[64];
        int64_t prev_w = -1;
        for (int page = 0; page < 20; page++) {
            snprintf(extra, sizeof extra, "&limit=2%s%s%s", orders[o], cursor[0] ? "&cursor=" : "", cursor);
            json_t *j = search(lake, "", extra);
            json_t *items = json_object_get(j, "items");
            for (size_t i = 0; i < json_array_size(items); i++) {
                json_t *it = json_array_get(items, i);
                for (int k = 0; k < seen; k++)
                    cr_assert_neq(ids[k], jint(it, "id"), "item seen twice (order %s)", orders[o]);
                ids[seen++] = jint(it, "id");
                if (strstr(orders[o], "-width")) {
                    if (prev_w >= 0)
                        cr_assert_leq(jint(it, "width"), prev_w);
                    prev_w = jint(it, "width");
                }
            }
            if (page == 1 && o == 0) { /* an insert between pages does not disturb the walk */
                tbytes x = t_photo_jpeg(50, 50, 999 + o, 70);
                api_resp *r = upload(lake, &x, NULL);
                api_free(r);
                tb_free(&x);
            }
            json_t *next = json_object_get(j, "next_cursor");
            if (!json_is_string(next)) {
                json_decref(j);
                break;
            }
            snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
            json_decref(j);
        }
        cr_assert(seen == 9 || (o == 0 && seen == 9) || seen == 10, "order %s saw %d", orders[o], seen);
    }
}

Test(datalake, bad_cursor_is_400)
{
    int64_t lake = seeded_lake(1);
    char path[200];
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data?cursor=abcd", (long long)lake);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "cursor"));
    api_free(r);
}

Test(datalake, bulk_tags_and_deletes)
{
    int64_t lake = seeded_lake(6);
    char path[120], body[300];
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/tags", (long long)lake);
    api_resp *r = api_admin("POST", path, "{\"add\":[\"wet\"],\"q\":\"meta.weather = \\\"rain\\\"\"}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "changed"), 3);
    api_free(r);
    cr_assert_eq(count(lake, "tag = \"wet\""), 3);
    json_t *j = search(lake, "tag = \"wet\"", "&limit=1");
    int64_t one = jint(json_array_get(json_object_get(j, "items"), 0), "id");
    json_decref(j);
    snprintf(body, sizeof body, "{\"remove\":[\"wet\"],\"ids\":[%lld]}", (long long)one);
    r = api_admin("POST", path, body);
    cr_assert_eq(jint(r->json, "changed"), 1);
    api_free(r);
    cr_assert_eq(count(lake, "tag = \"wet\""), 2);
    /* refusals: no selection, both, bad ids, bad tag */
    const char *bad[] = {"{\"add\":[\"x\"]}", "{\"add\":[\"x\"],\"ids\":[1],\"q\":\"\"}",
                         "{\"add\":[\"x\"],\"ids\":[0]}", "{\"add\":[\"\"],\"q\":\"\"}",
                         "{\"add\":[5],\"q\":\"\"}", "{\"q\":\"\"}", "{\"add\":[\"x\"],\"q\":\"bad ==\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        r = api_admin("POST", path, bad[i]);
        cr_assert_eq(r->status, 400, "%s -> %ld", bad[i], r->status);
        api_free(r);
    }
    cr_assert_eq(count(lake, "tag = \"x\""), 0, "a refused request changes nothing");
    /* tags listing */
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
    /* deletes */
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data/delete", (long long)lake);
    r = api_admin("POST", path, "{\"q\":\"tag = \\\"wet\\\"\"}");
    cr_assert_eq(jint(r->json, "deleted"), 2);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/data/%lld", (long long)one);
    r = api_admin("DELETE", path, NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
    cr_assert_eq(count(lake, ""), 3);
    /* stats */
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/stats", (long long)lake);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(jint(r->json, "count"), 3);
    cr_assert_eq(jint(json_array_get(json_object_get(r->json, "by_format"), 0), "count"), 3);
    api_free(r);
}

Test(datalake, metadata_edits_and_validation)
{
    int64_t lake = new_lake(api_admin_token());
    tbytes j = t_photo_jpeg(64, 64, 77, 80);
    api_resp *r = upload(lake, &j, "meta=%5B1%2C2%5D");
    cr_assert_eq(r->status, 400, "metadata must be an object");
    api_free(r);
    r = upload(lake, &j, "meta=%7Bbroken");
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "not valid JSON"));
    api_free(r);
    cr_assert_eq(count(lake, ""), 0);
    r = upload(lake, &j, NULL);
    int64_t id = jint(r->json, "id");
    api_free(r);
    char path[80];
    snprintf(path, sizeof path, "/api/v1/data/%lld", (long long)id);
    r = api_admin("PATCH", path, "{\"meta\":{\"lane\":3},\"filename\":\"renamed.jpg\"}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_str_eq(jstr(r->json, "filename"), "renamed.jpg");
    api_free(r);
    cr_assert_eq(count(lake, "meta.lane = 3"), 1);
    r = api_admin("PATCH", path, "{\"meta\":\"x\"}");
    cr_assert_eq(r->status, 400);
    api_free(r);
    tb_free(&j);
}

Test(datalake, similar_images_by_perceptual_hash)
{
    int64_t lake = new_lake(api_admin_token());
    uint8_t *px = t_photo(640, 480, 42);
    tbytes hi = t_encode(px, 640, 480, 3, ".jpg[Q=95]", 0);
    tbytes lo = t_encode(px, 640, 480, 3, ".jpg[Q=40]", 0);
    uint8_t *other = t_photo(640, 480, 4242);
    tbytes unrelated = t_encode(other, 640, 480, 3, ".jpg[Q=90]", 0);
    api_resp *r = upload(lake, &hi, NULL);
    int64_t id = jint(r->json, "id");
    api_free(r);
    r = upload(lake, &lo, NULL);
    int64_t near = jint(r->json, "id");
    api_free(r);
    r = upload(lake, &unrelated, NULL);
    int64_t far = jint(r->json, "id");
    api_free(r);
    char path[120];
    snprintf(path, sizeof path, "/api/v1/data/%lld/similar?max_distance=8", (long long)id);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 1, "%s", r->body.p);
    cr_assert_eq(jint(json_array_get(items, 0), "id"), near);
    cr_assert_leq(jint(json_array_get(items, 0), "distance"), 8);
    api_free(r);
    char q[64];
    snprintf(q, sizeof q, "similar(%lld)", (long long)id);
    cr_assert_eq(count(lake, q), 2, "the item itself and its re-encoded copy");
    snprintf(q, sizeof q, "similar(%lld, 64)", (long long)id);
    cr_assert_eq(count(lake, q), 3);
    (void)far;
    free(px);
    free(other);
    tb_free(&hi);
    tb_free(&lo);
    tb_free(&unrelated);
}

Test(datalake, autocomplete_suggests_fields_tags_and_keys)
{
    int64_t lake = seeded_lake(3);
    char path[300];
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/autocomplete?q=wi", (long long)lake);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_not_null(strstr(r->body.p, "\"width\""));
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/autocomplete?q=tag%%20%%3D%%20%%22ni", (long long)lake);
    r = api_admin("GET", path, NULL);
    cr_assert_not_null(strstr(r->body.p, "night"), "%s", r->body.p);
    cr_assert_null(strstr(r->body.p, "dusk"));
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/autocomplete?q=meta.we", (long long)lake);
    r = api_admin("GET", path, NULL);
    cr_assert_not_null(strstr(r->body.p, "weather"), "%s", r->body.p);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/autocomplete?q=meta.weather%%20%%3D%%20", (long long)lake);
    r = api_admin("GET", path, NULL);
    cr_assert_not_null(strstr(r->body.p, "rain"), "%s", r->body.p);
    api_free(r);
}

Test(datalake, other_organizations_see_nothing)
{
    int64_t lake = seeded_lake(1);
    json_t *j = search(lake, "", NULL);
    int64_t id = jint(json_array_get(json_object_get(j, "items"), 0), "id");
    json_decref(j);
    char *tok = api_user("member", NULL);
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("dlo"));
    api_resp *r = api_tok(tok, "POST", "/api/v1/orgs", body);
    int64_t org = jint(r->json, "id");
    api_free(r);
    r = api_tok(tok, "GET", "/api/v1/me", NULL);
    char name[80];
    snprintf(name, sizeof name, "%s", jstr(json_object_get(r->json, "user"), "username"));
    api_free(r);
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"password-%s\",\"org_id\":%lld,\"token_name\":\"x\"}", name, name, (long long)org);
    api_opts o = {.body = body};
    r = api_do("POST", "/api/v1/auth/login", &o);
    char otok[128];
    snprintf(otok, sizeof otok, "%s", jstr(r->json, "token"));
    api_free(r);
    const char *paths[] = {"/api/v1/data/%lld", "/api/v1/data/%lld/original", "/api/v1/data/%lld/thumbnail",
                           "/api/v1/data/%lld/similar"};
    for (size_t i = 0; i < 4; i++) {
        char p[120];
        snprintf(p, sizeof p, paths[i], (long long)id);
        r = api_tok(otok, "GET", p, NULL);
        cr_assert_eq(r->status, 404, "%s", p);
        api_free(r);
    }
    char p[120];
    snprintf(p, sizeof p, "/api/v1/datalakes/%lld/data", (long long)lake);
    r = api_tok(otok, "GET", p, NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
    /* viewers cannot upload */
    char *viewer = api_user("viewer", NULL);
    tbytes jpg = t_photo_jpeg(32, 32, 1, 80);
    api_opts up = {.token = viewer, .body = jpg.p, .body_len = jpg.n, .content_type = "image/jpeg"};
    r = api_do("POST", p, &up);
    cr_assert_eq(r->status, 403);
    api_free(r);
    tb_free(&jpg);
    free(viewer);
    free(tok);
}

/* --- CLI upload ------------------------------------------------------------------ */


/* Runs the CLI; interrupt_lake > 0: sends SIGINT as soon as that datalake
 * holds an item (the first upload landed). */
static int run_cli(const char *const *args, char *out, size_t n, int64_t interrupt_lake)
{
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        int k = 0;
        while (args[k])
            k++;
        char **argv = calloc((size_t)k + 2, sizeof *argv);
        argv[0] = getenv("CVOPS_TEST_BIN");
        for (int i = 0; i < k; i++)
            argv[i + 1] = (char *)args[i];
        execv(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    if (interrupt_lake > 0) {
        for (int i = 0; i < 3000 && count(interrupt_lake, "") < 1; i++)
            usleep(5000);
        kill(pid, SIGINT);
    }
    size_t got = 0;
    ssize_t r;
    while ((r = read(pfd[0], out + got, n - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = 0;
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

Test(datalake, cli_upload_summary_and_rerun_after_interruption, .timeout = 120)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/cvops-upl.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    for (int i = 0; i < 40; i++) {
        tbytes j = t_photo_jpeg(1280, 720, 5000 + (uint64_t)i, 90);
        char p[128];
        snprintf(p, sizeof p, "%s/img%02d.jpg", dir, i);
        FILE *f = fopen(p, "wb");
        fwrite(j.p, 1, j.n, f);
        fclose(f);
        tb_free(&j);
    }
    char p[128];
    snprintf(p, sizeof p, "%s/readme.txt", dir);
    FILE *f = fopen(p, "w");
    fputs("not an image\n", f);
    fclose(f);
    char lakename[64];
    snprintf(lakename, sizeof lakename, "%s", api_unique("cli"));
    char body[100];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", lakename);
    api_resp *r = api_admin("POST", "/api/v1/datalakes", body);
    int64_t lake = jint(r->json, "id");
    api_free(r);
    const char *url = getenv("CVOPS_TEST_URL"), *tok = api_admin_token();
    char out[16384];
    /* first run, interrupted early */
    const char *args1[] = {"datalake", "upload", dir, "--datalake", lakename, "--server", url,
                           "--token", tok, "--jobs", "1", "--tag", "cli", NULL};
    int rc = run_cli(args1, out, sizeof out, lake);
    int64_t after_first = count(lake, "");
    cr_assert_eq(rc, 130, "an interrupted upload exits with 130: %s", out);
    cr_assert_not_null(strstr(out, "interrupted"), "%s", out);
    cr_assert_gt(after_first, 0);
    cr_assert_lt(after_first, 40, "interrupted after the first upload, not at the end");
    /* second run finishes the job: the first run's images are "already there" */
    const char *args2[] = {"datalake", "upload", dir, "--datalake", lakename, "--server", url,
                           "--token", tok, "--jobs", "3", "--tag", "cli", "--json", NULL};
    rc = run_cli(args2, out, sizeof out, 0);
    cr_assert_eq(rc, 1, "a rejected file makes the exit status 1: %s", out);
    json_t *sum = json_loads(strchr(out, '{'), 0, NULL);
    cr_assert_not_null(sum, "%s", out);
    cr_assert_eq(jint(sum, "files"), 41);
    cr_assert_eq(jint(sum, "rejected"), 1);
    cr_assert_eq(jint(sum, "uploaded") + jint(sum, "duplicates"), 40);
    cr_assert_eq(jint(sum, "duplicates"), after_first, "exactly the first run's uploads are skipped");
    cr_assert_not_null(strstr(jstr(json_array_get(json_object_get(sum, "problems"), 0), "reason"), "not an image"));
    json_decref(sum);
    cr_assert_eq(count(lake, "tag = \"cli\""), 40);
}

/* `cvops serve --sample-data` on a new store fills datalake "default" with
 * the sample photos (Debian's darknet package, installed by install-deps). */
Test(datalake, sample_data_on_first_start, .timeout = 60)
{
    char db[300], blobs[300], dir[200], url[100];
    api_fresh_store(db, sizeof db, blobs, sizeof blobs, dir, sizeof dir);
    const char *tok = "cvops_private_token_for_sample";
    const char *extra[] = {"--sample-data", NULL};
    pid_t srv = api_start_server(db, blobs, dir, tok, extra, url, sizeof url);
    api_opts o = {.base = url, .token = tok};
    /* the photos are tagged "sample" (the Fashion-MNIST sample of the
     * training module lands in the same datalake, tagged fashion-mnist) */
    int64_t n = 0;
    for (int i = 0; i < 200 && n < 7; i++) {
        api_resp *r = api_do("GET", "/api/v1/datalakes", &o);
        json_t *items = json_object_get(r->json, "items");
        if (json_array_size(items) == 1) {
            cr_assert_str_eq(jstr(json_array_get(items, 0), "name"), "default");
            char path[160];
            snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data/count?q=tag%%20%%3D%%20%%22sample%%22",
                     (long long)jint(json_array_get(items, 0), "id"));
            api_resp *c = api_do("GET", path, &o);
            cr_assert_eq(c->status, 200, "%s", c->body.p);
            n = jint(c->json, "count");
            api_free(c);
        }
        api_free(r);
        usleep(100000);
    }
    cr_assert_eq(n, 7, "the 7 sample photos of /usr/share/darknet/data, got %lld", (long long)n);
    kill(srv, SIGTERM);
    int st;
    waitpid(srv, &st, 0);
}
