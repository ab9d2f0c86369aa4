/*
 * test_processing_util.h - helpers of the processing API tests: scenes
 * with coloured objects whose pixels can be found again after a transform,
 * uploads of single images, launching a processing and waiting for it,
 * reading images back.
 */
#ifndef CVOPS_TEST_PROCESSING_UTIL_H
#define CVOPS_TEST_PROCESSING_UTIL_H

#include <math.h>

#include "test_dataset_util.h"

/* Uploads one image into a datalake; returns the item id. */
static inline int64_t put_image(int64_t lake, const tbytes *b, const char *filename)
{
    char path[300];
    snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data?filename=%s", (long long)lake, filename);
    api_opts o = {.token = api_admin_token(), .body = b->p, .body_len = b->n,
                  .content_type = "application/octet-stream"};
    api_resp *r = api_do("POST", path, &o);
    cr_assert(r->status == 201 || r->status == 200, "%s", r->body.p);
    int64_t id = jint(r->json, "id");
    api_free(r);
    return id;
}

/* A grey textured background (R = G = B up to small noise). */
static inline uint8_t *grey_scene(int w, int h, uint64_t seed)
{
    uint8_t *px = malloc((size_t)w * h * 3);
    uint64_t s = seed * 7919 + 3;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int v = 60 + (x * 97 / w + y * 61 / h) + (int)(t_rand(&s) % 9);
            uint8_t *p = px + ((size_t)y * w + x) * 3;
            p[0] = p[1] = p[2] = (uint8_t)v;
        }
    return px;
}

static inline void fill_rect(uint8_t *px, int w, int x0, int y0, int bw, int bh, const uint8_t c[3])
{
    for (int y = y0; y < y0 + bh; y++)
        for (int x = x0; x < x0 + bw; x++)
            memcpy(px + ((size_t)y * w + x) * 3, c, 3);
}

/* Magenta-like (R and B well above G) and cyan-like (G and B well above R). */
static inline bool is_magenta(const uint8_t *p) { return p[0] - p[1] > 70 && p[2] - p[1] > 70; }
static inline bool is_cyan(const uint8_t *p) { return p[1] - p[0] > 70 && p[2] - p[0] > 70; }

/* Launches a processing; returns the job id (asserting 202). */
static inline int64_t launch(const char *tok, const char *name, const char *body)
{
    api_resp *r = req(tok, "POST", body, "/api/v1/processings/%s/run", name);
    cr_assert_eq(r->status, 202, "launch %s: %s", name, r->body.p);
    int64_t id = jint(r->json, "id");
    api_free(r);
    return id;
}

/* Waits for a job and asserts its final state; returns the job. */
static inline json_t *wait_state(const char *tok, int64_t job, const char *state, double timeout)
{
    json_t *j = api_wait_job(tok ? tok : api_admin_token(), job, timeout);
    if (strcmp(jstr(j, "state"), state) != 0) {
        api_resp *r = req(tok, "GET", NULL, "/api/v1/jobs/%lld/log", (long long)job);
        char *t = json_dumps(j, JSON_INDENT(1));
        cr_assert_fail("job %lld is %s, expected %s:\n%s\nlog: %s", (long long)job,
                       jstr(j, "state"), state, t, r->body.p);
    }
    return j;
}

/* The id of the dataset-version output in a job's result. */
static inline int64_t output_version(json_t *job)
{
    json_t *outs = json_object_get(json_object_get(job, "result"), "outputs");
    for (size_t i = 0; i < json_array_size(outs); i++) {
        json_t *o = json_array_get(outs, i);
        if (strcmp(jstr(o, "type"), "dataset-version") == 0)
            return jint(o, "id");
    }
    cr_assert_fail("no dataset-version output in %s", json_dumps(job, 0));
    return 0;
}

/* Every asset of a version with its shapes (one page of up to 1000). */
static inline json_t *assets_with_shapes(int64_t version)
{
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/assets?limit=1000&shapes=1",
                      (long long)version);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *items = json_incref(json_object_get(r->json, "items"));
    api_free(r);
    return items;
}

/* The decoded pixels (RGB) of a datalake item. */
static inline image_pixels item_pixels(int64_t data_id)
{
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/data/%lld/original", (long long)data_id);
    cr_assert_eq(r->status, 200);
    image_pixels px;
    err e;
    image_decode_opts o = {.channels = 3};
    cr_assert_eq(image_decode(r->body.p, r->body.len, &o, &px, &e), 0, "%s", e.msg);
    api_free(r);
    return px;
}

static inline json_t *item_json(int64_t data_id)
{
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/data/%lld", (long long)data_id);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *j = json_incref(r->json);
    api_free(r);
    return j;
}

static inline int64_t lake_count(int64_t lake, const char *q)
{
    char *eq = curl_escape_q(q);
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/datalakes/%lld/data/count?q=%s", (long long)lake, eq);
    free(eq);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    int64_t n = jint(r->json, "count");
    api_free(r);
    return n;
}

static inline bool log_has(int64_t job, const char *needle)
{
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/jobs/%lld/log?limit=10000", (long long)job);
    bool found = r->body.p && strstr(r->body.p, needle);
    api_free(r);
    return found;
}

#endif
