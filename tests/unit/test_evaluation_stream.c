/*
 * Unit tests for evaluation_stream (src/cli/evaluation_stream.c): the
 * request bodies of `cvops evaluation predictions` made from the file in
 * two streaming passes. The items they carry must be exactly those of the
 * in-memory conversion (evaluation_coco_items) - same grouping by image in
 * first-seen order, same shapes - split into requests without splitting an
 * image; a bad file must fail with a message naming the place before
 * anything is sent.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/evaluation_coco.h"
#include "cli/evaluation_stream.h"

typedef struct sent {
    json_t *bodies; /* the parsed bodies */
    size_t images, shapes;
    int stop_at; /* send returns 7 at this call (0 = never) */
} sent;

static int collect(void *ctx, const char *body, size_t len, size_t images, size_t shapes,
                   size_t total)
{
    sent *s = ctx;
    cr_assert_eq(strlen(body), len);
    json_error_t je;
    json_t *b = json_loads(body, 0, &je);
    cr_assert_not_null(b, "a body is not JSON (%s): %.300s", je.text, body);
    cr_assert_eq(json_array_size(json_object_get(b, "predictions")), images);
    size_t k = 0;
    json_t *it;
    size_t i;
    json_array_foreach(json_object_get(b, "predictions"), i, it) k +=
        json_array_size(json_object_get(it, "shapes"));
    cr_assert_eq(k, shapes);
    cr_assert_geq(total, images);
    json_array_append_new(s->bodies, b);
    s->images += images;
    s->shapes += shapes;
    if (s->stop_at && (int)json_array_size(s->bodies) == s->stop_at) return 7;
    return 0;
}

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/cvops-evstream-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* Streams text; returns the status, the bodies in s. */
static int stream(const char *text, bool coco, size_t max_images, size_t max_shapes, sent *s,
                  char *why, size_t wn)
{
    char *path = write_tmp(text);
    s->bodies = json_array();
    ev_stream_opts o = {.coco = coco,
                        .mode = "replace",
                        .max_images = max_images,
                        .max_shapes = max_shapes,
                        .send = collect,
                        .send_ctx = s};
    int rc = evaluation_stream(path, &o, why, wn);
    unlink(path);
    free(path);
    return rc;
}

/* All the items of the bodies, in order. */
static json_t *all_items(const sent *s)
{
    json_t *all = json_array(), *b;
    size_t i;
    json_array_foreach(s->bodies, i, b)
    {
        cr_assert_str_eq(json_string_value(json_object_get(b, "mode")), "replace");
        json_array_extend(all, json_object_get(b, "predictions"));
    }
    return all;
}

/* The in-memory conversion of the same text. */
static json_t *reference(const char *text)
{
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    cr_assert_not_null(doc, "%s", je.text);
    char why[200] = "";
    json_t *items = evaluation_coco_items(doc, why, sizeof why);
    cr_assert_not_null(items, "%s", why);
    json_decref(doc);
    return items;
}

static const char *const MIXED =
    "[{\"image_id\":7,\"category_id\":1,\"bbox\":[1,2,3,4],\"score\":0.9},"
    " {\"image_id\":3,\"category_id\":2,\"segmentation\":[[0,0,4,0,4,4]],\"score\":0.8},"
    " {\"image_id\":7,\"category_id\":2,\"segmentation\":{\"size\":[4,4],\"counts\":\"04\"},"
    "  \"score\":0.7, \"id\": 5, \"area\": 3.5, \"extra\": {\"bbox\": 1, \"a\": [1, {}]}},"
    " {\"image_id\":3,\"category_id\":1,\"keypoints\":[1,1,2],\"score\":0.6,\"bbox\":[0,0,1,1]},"
    " {\"score\":0.125,\"bbox\":[0,0,1,1],\"image_id\":9,\"category_id\":1}]";

Test(evaluation_stream, coco_items_equal_the_in_memory_conversion)
{
    /* images 7, 3, 7, 3, 9: grouped by image in first-seen order, shapes in
     * file order; keys in any order, unknown keys (also nested ones named
     * like geometry) skipped; keypoints win over a bbox, as in memory */
    sent s = {0};
    char why[300];
    cr_assert_eq(stream(MIXED, true, 5000, 50000, &s, why, sizeof why), 0, "%s", why);
    cr_assert_eq(json_array_size(s.bodies), 1);
    json_t *got = all_items(&s), *want = reference(MIXED);
    cr_assert(json_equal(got, want), "got %s\nwant %s", json_dumps(got, JSON_COMPACT),
              json_dumps(want, JSON_COMPACT));
    cr_assert_eq(s.images, 3);
    cr_assert_eq(s.shapes, 5);
    json_decref(got);
    json_decref(want);
    json_decref(s.bodies);
}

/* A larger case: 300 images in a shuffled order, 1 to 9 results each. */
static char *large_text(void)
{
    size_t cap = 1 << 20, n = 0;
    char *t = malloc(cap);
    n += (size_t)snprintf(t + n, cap - n, "[");
    uint64_t st = 12345;
    for (int k = 0; k < 1500; k++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        int img = 1000 + (int)((st >> 33) % 300);
        double score = (double)((st >> 20) % 1000) / 1000 + 0.0005;
        n += (size_t)snprintf(t + n, cap - n,
                              "%s{\"image_id\":%d,\"category_id\":%d,\"score\":%.4f,"
                              "\"bbox\":[%d.5,%d,%d,%d]}",
                              k ? ",\n" : "", img, 1 + k % 3, score, k % 50, k % 40, 5 + k % 9,
                              7 + k % 5);
        cr_assert_lt(n, cap - 200);
    }
    snprintf(t + n, cap - n, "]");
    return t;
}

Test(evaluation_stream, coco_requests_split_between_images_within_limits)
{
    char *text = large_text();
    json_t *want = reference(text);
    for (int lim = 0; lim < 3; lim++) {
        size_t mi = lim == 0 ? 5000 : lim == 1 ? 7 : 50, ms = lim == 0 ? 50000 : lim == 1 ? 40 : 4;
        sent s = {0};
        char why[300];
        cr_assert_eq(stream(text, true, mi, ms, &s, why, sizeof why), 0, "%s", why);
        json_t *got = all_items(&s);
        cr_assert(json_equal(got, want), "limits %zu/%zu: the items differ", mi, ms);
        cr_assert_eq(s.shapes, 1500);
        /* each body within its limits (an image over the shape limit goes
         * alone); an image never in two bodies: equal concatenation with
         * first-seen grouping already implies it */
        json_t *b;
        size_t i;
        json_array_foreach(s.bodies, i, b)
        {
            json_t *items = json_object_get(b, "predictions");
            cr_assert_leq(json_array_size(items), mi);
            size_t k = 0, j;
            json_t *it;
            json_array_foreach(items, j, it) k += json_array_size(json_object_get(it, "shapes"));
            cr_assert(k <= ms || json_array_size(items) == 1, "body %zu: %zu shapes", i, k);
        }
        if (lim > 0) cr_assert_gt(json_array_size(s.bodies), 5);
        json_decref(got);
        json_decref(s.bodies);
    }
    json_decref(want);
    free(text);
}

Test(evaluation_stream, coco_bad_files_fail_before_anything_is_sent)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"{\"image_id\":1}", "a COCO results file is a JSON array of results"},
        {"5", "a COCO results file is a JSON array of results"},
        {"[{\"image_id\":1,\"category_id\":1,\"score\":1,\"bbox\":[0,0,1,1]}, [1]]",
         "results[1]: a result is an object"},
        {"[3]", "results[0]: a result is an object"},
        {"[{\"category_id\":1,\"score\":0.5,\"bbox\":[0,0,1,1]}]",
         "results[0]: needs an integer image_id (an asset id)"},
        {"[{\"image_id\":1.5,\"category_id\":1,\"score\":0.5,\"bbox\":[0,0,1,1]}]",
         "results[0]: needs an integer image_id"},
        {"[{\"image_id\":\"1\",\"category_id\":1,\"score\":0.5,\"bbox\":[0,0,1,1]}]",
         "results[0]: needs an integer image_id"},
        {"[{\"image_id\":1,\"image_id\":[1],\"category_id\":1,\"score\":0.5,\"bbox\":[0,0,1,1]}]",
         "results[0]: needs an integer image_id"},
        {"[{\"image_id\":1}]", "results[0]: needs an integer category_id and a numeric score"},
        {"[{\"image_id\":1,\"category_id\":1,\"score\":\"high\",\"bbox\":[0,0,1,1]}]",
         "results[0]: needs an integer category_id and a numeric score"},
        {"[{\"image_id\":1,\"category_id\":1,\"score\":0.5,\"bbox\":{}}]",
         "results[0]: has no bbox, segmentation or keypoints"},
        {"[{\"image_id\":1,\"category_id\":1,\"score\":0.5,\"segmentation\":\"x\"}]",
         "results[0]: has no bbox, segmentation or keypoints"},
        /* the error is in the last result: still nothing sent */
        {"[{\"image_id\":1,\"category_id\":1,\"score\":0.5,\"bbox\":[0,0,1,1]},"
         "{\"image_id\":2,\"category_id\":1,\"score\":0.5}]",
         "results[1]: has no bbox, segmentation or keypoints"},
        {"[{\"image_id\":1,\"category_id\":1,\"score\":0.5,\"bbox\":[0,0,1,1]}",
         "invalid JSON at byte"},
        {"[{\"image_id\":1,\"category_id\":1,\"score\":0.5,\"bbox\":[0,0,1,1]}]]",
         "invalid JSON at byte 62"},
        {"", "invalid JSON at byte 0 (the file ends too early)"},
        /* yajl reads these as white space; copied into a body they are not
         * JSON (found by fuzz_evaluation_stream) */
        {"[{\"image_id\":1,\"category_id\":1,\"score\":0.5,\"bbox\":\v[0,0,1,1]}]",
         "invalid JSON at byte 50: a vertical tab (0x0b) is not JSON white space"},
        {"[{\"image_id\":1,\"category_id\":1,\"score\":0.5,\"bbox\":[0,0,1,1]}\f]",
         "invalid JSON at byte 60: a form feed (0x0c)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sent s = {0};
        char why[300];
        int rc = stream(cases[i].text, true, 1, 1, &s, why, sizeof why);
        cr_assert_eq(rc, -1, "case %zu should fail: %s", i, cases[i].text);
        cr_assert_not_null(strstr(why, cases[i].want), "case %zu: got '%s', want '%s'", i, why,
                           cases[i].want);
        cr_assert_eq(json_array_size(s.bodies), 0, "case %zu: something was sent", i);
        json_decref(s.bodies);
    }
}

Test(evaluation_stream, a_failing_request_stops_the_upload)
{
    char *text = large_text();
    sent s = {.stop_at = 2};
    char why[300];
    char *path = write_tmp(text);
    s.bodies = json_array();
    ev_stream_opts o = {.coco = true,
                        .mode = "append",
                        .max_images = 10,
                        .max_shapes = 50000,
                        .send = collect,
                        .send_ctx = &s};
    cr_assert_eq(evaluation_stream(path, &o, why, sizeof why), 7);
    cr_assert_eq(json_array_size(s.bodies), 2);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(s.bodies, 0), "mode")), "append");
    unlink(path);
    free(path);
    free(text);
    json_decref(s.bodies);
}

static int remap_plus(void *ctx, size_t i, int64_t *img, int64_t *cat, char *why, size_t wn)
{
    (void)ctx;
    if (*img == 9) {
        snprintf(why, wn, "results[%zu]: image 9 matches no asset", i);
        return -1;
    }
    *img += 100;
    *cat += 10;
    return 0;
}

Test(evaluation_stream, coco_remap_renames_ids_or_fails_naming_the_result)
{
    const char *text = "[{\"image_id\":1,\"category_id\":2,\"score\":0.5,\"bbox\":[0,0,1,1]},"
                       "{\"image_id\":3,\"category_id\":1,\"score\":0.25,\"bbox\":[0,0,1,1]},"
                       "{\"image_id\":1,\"category_id\":1,\"score\":0.75,\"bbox\":[0,0,2,1]}]";
    char *path = write_tmp(text);
    sent s = {.bodies = json_array()};
    ev_stream_opts o = {.coco = true,
                        .mode = "replace",
                        .max_images = 100,
                        .max_shapes = 100,
                        .remap = remap_plus,
                        .send = collect,
                        .send_ctx = &s};
    char why[300];
    cr_assert_eq(evaluation_stream(path, &o, why, sizeof why), 0, "%s", why);
    json_t *got = all_items(&s);
    json_t *want = json_loads(
        "[{\"asset_id\":101,\"shapes\":[{\"label_id\":12,\"score\":0.5,\"kind\":\"box\","
        "\"box\":[0,0,1,1]},{\"label_id\":11,\"score\":0.75,\"kind\":\"box\",\"box\":[0,0,2,1]}]},"
        "{\"asset_id\":103,\"shapes\":[{\"label_id\":11,\"score\":0.25,\"kind\":\"box\","
        "\"box\":[0,0,1,1]}]}]",
        0, NULL);
    cr_assert(json_equal(got, want), "%s", json_dumps(got, JSON_COMPACT));
    json_decref(got);
    json_decref(want);
    json_decref(s.bodies);
    unlink(path);
    free(path);
    path = write_tmp("[{\"image_id\":1,\"category_id\":2,\"score\":0.5,\"bbox\":[0,0,1,1]},"
                     "{\"image_id\":9,\"category_id\":1,\"score\":0.25,\"bbox\":[0,0,1,1]}]");
    s.bodies = json_array();
    cr_assert_eq(evaluation_stream(path, &o, why, sizeof why), -1);
    cr_assert_str_eq(why, "results[1]: image 9 matches no asset");
    cr_assert_eq(json_array_size(s.bodies), 0);
    json_decref(s.bodies);
    unlink(path);
    free(path);
}

Test(evaluation_stream, api_items_are_copied_as_they_are)
{
    /* bare, and under "predictions" after another key; the items' text is
     * sent unchanged, split by images and shapes */
    const char *items = "[{\"asset_id\":1,\"shapes\":[{\"kind\":\"box\",\"box\":[1,2,3,4],"
                        "\"label\":\"cat\",\"score\":0.5},{\"kind\":\"box\",\"box\":[0,0,1,1],"
                        "\"label\":\"dog\",\"score\":0.25}]},"
                        " {\"data_id\":2,\"shapes\":[]},"
                        " {\"asset_id\":3,\"shapes\":[{\"kind\":\"polygon\",\"rings\":[[0,0,1,0,1,1]],"
                        "\"label_id\":4,\"score\":1,\"shapes\":[9,9,9]}]}]";
    char wrapped[1024];
    snprintf(wrapped, sizeof wrapped, "{\"mode\":\"x\",\"n\":[1,{\"predictions\":5}],"
                                      "\"predictions\":%s}", items);
    json_t *want = json_loads(items, 0, NULL);
    for (int w = 0; w < 2; w++) {
        for (int lim = 0; lim < 2; lim++) {
            sent s = {0};
            char why[300];
            int rc = stream(w ? wrapped : items, false, lim ? 2 : 5000, lim ? 2 : 50000, &s, why,
                            sizeof why);
            cr_assert_eq(rc, 0, "%s", why);
            json_t *got = all_items(&s);
            cr_assert(json_equal(got, want), "%s", json_dumps(got, JSON_COMPACT));
            cr_assert_eq(s.shapes, 3); /* the nested "shapes" key is not counted */
            /* limits 2/2: items 1 and 2 (2 + 0 shapes), then item 3 */
            cr_assert_eq(json_array_size(s.bodies), lim ? 2u : 1u);
            json_decref(got);
            json_decref(s.bodies);
        }
    }
    json_decref(want);
}

Test(evaluation_stream, api_items_bad_files)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"5", "expected [{\"asset_id\", \"shapes\"}] or {\"predictions\": [...]}"},
        {"{\"items\":[]}", "expected [{\"asset_id\", \"shapes\"}]"},
        {"{\"predictions\":{}}", "expected [{\"asset_id\", \"shapes\"}]"},
        {"[{\"asset_id\":1,\"shapes\":[]}, 3]", "predictions[1]: an item is an object"},
        {"[{\"asset_id\":1,\"shapes\":[]}", "invalid JSON at byte"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sent s = {0};
        char why[300];
        cr_assert_eq(stream(cases[i].text, false, 10, 10, &s, why, sizeof why), -1, "case %zu",
                     i);
        cr_assert_not_null(strstr(why, cases[i].want), "case %zu: got '%s'", i, why);
        cr_assert_eq(json_array_size(s.bodies), 0);
        json_decref(s.bodies);
    }
}

Test(evaluation_stream, a_missing_file_is_named)
{
    ev_stream_opts o = {.coco = true, .mode = "replace", .max_images = 1, .max_shapes = 1};
    char why[300];
    cr_assert_eq(evaluation_stream("/nonexistent/cvops-results.json", &o, why, sizeof why), -1);
    cr_assert_str_eq(why, "No such file or directory");
}
