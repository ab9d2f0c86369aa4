/*
 * test_dataset_util.h - helpers shared by the dataset API tests: datalake
 * items made of small generated BMPs (uploaded in multipart batches),
 * datasets, versions, labels, annotations, uploads and jobs.
 * Everything is static: the header is included by each test file.
 */
#ifndef CVOPS_TEST_DATASET_UTIL_H
#define CVOPS_TEST_DATASET_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "../unit/image_gen.h"
#include "api.h"
#include "base/util.h"

static inline const char *jstr(json_t *j, const char *k)
{
    return json_string_value(json_object_get(j, k));
}
static inline int64_t jint(json_t *j, const char *k) { return json_integer_value(json_object_get(j, k)); }

/* A request with a printf-formatted path and an optional body (admin token). */
static inline api_resp *req(const char *tok, const char *method, const char *body, const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));
static inline api_resp *req(const char *tok, const char *method, const char *body, const char *fmt,
                            ...)
{
    char path[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return api_tok(tok ? tok : api_admin_token(), method, path, body);
}

/* The status of a request, freeing it. */
static inline long st(api_resp *r)
{
    long s = r->status;
    api_free(r);
    return s;
}

static inline int64_t new_lake(void)
{
    char body[120];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("dslake"));
    api_resp *r = api_admin("POST", "/api/v1/datalakes", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t id = jint(r->json, "id");
    api_free(r);
    return id;
}

/* n distinct w x h BMPs named <prefix><i>.bmp, uploaded in batches of up
 * to 1000; fills ids[i] with the item ids. */
static inline void upload_images(int64_t lake, int n, int w, int h, const char *prefix, uint64_t seed,
                                 int64_t *ids)
{
    for (int start = 0; start < n; start += 500) {
        int end = start + 500 < n ? start + 500 : n;
        sbuf body = SBUF_INIT;
        for (int i = start; i < end; i++) {
            uint8_t *px = malloc((size_t)w * h * 3);
            uint64_t s = seed * 1000003 + (uint64_t)i * 7919 + 1;
            for (int k = 0; k < w * h * 3; k++)
                px[k] = (uint8_t)(t_rand(&s) & 0xff);
            tbytes b = t_bmp(px, w, h, 24, false);
            sbuf_printf(&body,
                        "--BB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s%d.bmp\"\r\n\r\n",
                        prefix, i);
            sbuf_put(&body, b.p, b.n);
            sbuf_puts(&body, "\r\n");
            tb_free(&b);
            free(px);
        }
        sbuf_puts(&body, "--BB--\r\n");
        char path[120];
        snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data/batch", (long long)lake);
        api_opts o = {.token = api_admin_token(), .body = body.p, .body_len = body.len,
                      .content_type = "multipart/form-data; boundary=BB"};
        api_resp *r = api_do("POST", path, &o);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        /* by file name: the batch endpoint may report a spurious empty part
         * (a multipart boundary split across reads) next to the real one */
        json_t *res = json_object_get(r->json, "results");
        for (int i = start; i < end; i++)
            ids[i] = 0;
        for (size_t k = 0; k < json_array_size(res); k++) {
            json_t *x = json_array_get(res, k);
            int i = atoi(jstr(x, "filename") + strlen(prefix));
            if (strcmp(jstr(x, "status"), "created") == 0 && i >= start && i < end)
                ids[i] = jint(x, "id");
        }
        for (int i = start; i < end; i++)
            cr_assert_gt(ids[i], 0, "%s%d.bmp was not stored: %s", prefix, i, r->body.p);
        api_free(r);
        sbuf_free(&body);
    }
}

static inline int64_t new_dataset(const char *tok, int64_t lake)
{
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"datalake_id\":%lld}", api_unique("ds"),
             (long long)lake);
    api_resp *r = api_tok(tok ? tok : api_admin_token(), "POST", "/api/v1/datasets", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t id = jint(r->json, "id");
    api_free(r);
    return id;
}

static inline int64_t new_version(int64_t ds, const char *name, const char *task)
{
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"task\":\"%s\"}", name, task);
    api_resp *r = req(NULL, "POST", body, "/api/v1/datasets/%lld/versions", (long long)ds);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t id = jint(r->json, "id");
    api_free(r);
    return id;
}

static inline int64_t new_label(int64_t version, const char *def)
{
    api_resp *r = req(NULL, "POST", def, "/api/v1/dataset-versions/%lld/labels", (long long)version);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t id = jint(r->json, "id");
    api_free(r);
    return id;
}

/* The version's n assets, in id order. */
static inline void list_assets(int64_t version, int n, int64_t *assets)
{
    api_resp *r;
    int got = 0;
    char cursor[32] = "";
    for (;;) {
        r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/assets?limit=1000%s%s",
                (long long)version, cursor[0] ? "&cursor=" : "", cursor);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        json_t *items = json_object_get(r->json, "items");
        for (size_t i = 0; i < json_array_size(items) && got < n; i++)
            assets[got++] = jint(json_array_get(items, i), "id");
        const char *next = jstr(r->json, "next_cursor");
        if (!next) {
            api_free(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", next);
        api_free(r);
    }
    cr_assert_eq(got, n);
}

/* Adds every item of the lake; returns the asset ids in data id order. */
static inline void add_all(int64_t version, int n, int64_t *assets)
{
    api_resp *r = req(NULL, "POST", "{\"q\":\"\"}", "/api/v1/dataset-versions/%lld/assets",
                      (long long)version);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    api_free(r);
    list_assets(version, n, assets);
}

static inline int64_t count_assets(int64_t version, const char *q)
{
    char *eq = curl_escape_q(q);
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/dataset-versions/%lld/assets/count?q=%s",
                      (long long)version, eq);
    free(eq);
    cr_assert_eq(r->status, 200, "count(%s): %s", q, r->body.p);
    int64_t n = jint(r->json, "count");
    api_free(r);
    return n;
}

/* PUT /api/v1/assets/{id}/annotation */
static inline api_resp *annotate(const char *tok, int64_t asset, const char *doc)
{
    return req(tok, "PUT", doc, "/api/v1/assets/%lld/annotation", (long long)asset);
}

/* Uploads bytes as a file; returns its sha256 (static storage). */
static inline const char *upload_file(const void *p, size_t n)
{
    static char sha[65];
    api_opts o = {.token = api_admin_token(), .body = p, .body_len = n,
                  .content_type = "application/octet-stream"};
    api_resp *r = api_do("PUT", "/api/v1/files", &o);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    snprintf(sha, sizeof sha, "%s", jstr(r->json, "sha256"));
    api_free(r);
    return sha;
}

/* Starts an import of a file with extra request fields; waits; returns the job. */
static inline json_t *import_file(int64_t version, const void *p, size_t n, const char *format,
                                  const char *extra)
{
    const char *sha = upload_file(p, n);
    char body[400];
    snprintf(body, sizeof body, "{\"file\":\"%s\",\"format\":\"%s\"%s%s}", sha, format,
             extra ? "," : "", extra ? extra : "");
    api_resp *r = req(NULL, "POST", body, "/api/v1/dataset-versions/%lld/import", (long long)version);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(r->json, "id");
    api_free(r);
    return api_wait_job(api_admin_token(), job, 60);
}

/* Exports; waits; returns the file's bytes (caller frees) and its name. */
static inline sbuf export_file(int64_t version, const char *body, char *name, size_t nn)
{
    api_resp *r = req(NULL, "POST", body, "/api/v1/dataset-versions/%lld/export", (long long)version);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t job = jint(r->json, "id");
    api_free(r);
    json_t *j = api_wait_job(api_admin_token(), job, 60);
    cr_assert_str_eq(jstr(j, "state"), "succeeded", "export: %s", jstr(j, "error"));
    json_t *res = json_object_get(j, "result");
    if (name)
        snprintf(name, nn, "%s", jstr(res, "filename"));
    r = req(NULL, "GET", NULL, "/api/v1/files/%s", jstr(res, "file"));
    cr_assert_eq(r->status, 200);
    sbuf out = r->body;
    r->body = (sbuf)SBUF_INIT;
    api_free(r);
    json_decref(j);
    return out;
}

/* The shared lake's size: the bulk test annotates all of it. PostgreSQL
 * runs store every item in the S3 test server, 20-40 ms each, so they use
 * fewer. */
#define SHARED_MAX 1000
#define SHARED_N (api_is_pg() ? 300 : SHARED_MAX)

/* One datalake of SHARED_N 8x8 items per test server, made by the first
 * test that needs it (tests run in separate processes: a file lock next to
 * the server's data directory), so the suite uploads them once. */
static inline int64_t shared_lake(int64_t *ids)
{
    const char *d = getenv("CVOPS_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s.dataset-shared-lake", d ? d : "/tmp/cvops-no-data");
    int fd = d ? open(path, O_RDWR | O_CREAT, 0644) : -1;
    if (fd >= 0)
        flock(fd, LOCK_EX);
    int64_t lake = 0;
    FILE *f = fd >= 0 ? fdopen(dup(fd), "r+") : NULL;
    if (f && fscanf(f, "%lld", (long long *)&lake) == 1) {
        for (int i = 0; i < SHARED_N; i++)
            cr_assert_eq(fscanf(f, "%lld", (long long *)&ids[i]), 1);
    } else {
        lake = new_lake();
        upload_images(lake, SHARED_N, 8, 8, "s", 99, ids);
        if (f) {
            rewind(f);
            fprintf(f, "%lld\n", (long long)lake);
            for (int i = 0; i < SHARED_N; i++)
                fprintf(f, "%lld\n", (long long)ids[i]);
            fflush(f);
        }
    }
    if (f)
        fclose(f);
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
    return lake;
}

#endif
