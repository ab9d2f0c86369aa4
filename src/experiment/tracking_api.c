/*
 * tracking_api.c - HTTP handlers for what a training run logs: metric
 * batches (streamed into the batch parser, written by the group
 * committer), series views, logs, text output (with long polling) and
 * artifacts (streamed into the blob store).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/app.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "experiment/experiment.h"
#include "files/files.h"

/* The experiment of the route, checked against the caller's organization. */
static int experiment_check(http_req *r, int64_t *id, err *e)
{
    const char *v = http_param(r, "id");
    if (!v || parse_i64("id", v, 1, INT64_MAX, id, e) != 0)
        return err_set(e, ERR_NOT_FOUND, "'%.60s' is not a valid id; ids are positive whole numbers",
                       v ? v : "");
    db_conn *c = db_get(APP(r)->db, e);
    if (!c)
        return err_set(e, ERR_UNAVAILABLE, "the database is not reachable: %s", e->msg);
    int rc = exp_check(c, r->who.org_id, *id, e);
    db_put(c);
    return rc;
}

/*
 * Streamed bodies (batches, artifacts) are checked as their first piece
 * arrives, but an error found while the body is still coming is kept, not
 * answered: libmicrohttpd accepts a response only before the body or after
 * all of it, so the rest of the body is read and dropped and the handler
 * answers with the error.
 */

/* --- metric batches --------------------------------------------------------- */

typedef struct {
    exp_points_parser *p;
    int64_t experiment;
    bool failed;
    err e;
} batch_state;

static void batch_cleanup(void *arg)
{
    batch_state *b = arg;
    exp_points_parser_free(b->p);
    b->p = NULL;
}

/* First piece of the body (or the handler, for an empty body): the content
 * type and the id are checked before anything is parsed. */
static batch_state *batch_begin(http_req *r)
{
    batch_state *b = arena_zalloc(r->arena, sizeof *b);
    r->ctx = b;
    const char *ct = http_header(r, "Content-Type");
    if (ct && !str_has_prefix(ct, "application/json")) {
        err_set(&b->e, ERR_UNSUPPORTED,
                "a metric batch is JSON; send Content-Type: application/json (got '%.60s')", ct);
        b->failed = true;
        return b;
    }
    /* the experiment is checked against the organization by the committer,
     * in the transaction that writes the batch: no database work here */
    const char *v = http_param(r, "id");
    if (!v || parse_i64("id", v, 1, INT64_MAX, &b->experiment, &b->e) != 0) {
        err_set(&b->e, ERR_NOT_FOUND, "'%.60s' is not a valid id; ids are positive whole numbers",
                v ? v : "");
        b->failed = true;
        return b;
    }
    b->p = exp_points_parser_new(time_now_ms(), EXP_BATCH_MAX);
    if (!b->p) {
        err_set(&b->e, ERR_INTERNAL, "out of memory");
        b->failed = true;
        return b;
    }
    http_on_cleanup(r, batch_cleanup, b);
    return b;
}

static int points_data(http_req *r, const char *data, size_t n)
{
    batch_state *b = r->ctx ? r->ctx : batch_begin(r);
    if (!b->failed && exp_points_parser_feed(b->p, data, n, &b->e) != 0)
        b->failed = true;
    return 0;
}

static int points_post(http_req *r)
{
    batch_state *b = r->ctx ? r->ctx : batch_begin(r);
    if (b->failed)
        return http_fail_err(r, &b->e);
    err e;
    const exp_batch *batch;
    if (exp_points_parser_finish(b->p, &batch, &e) != 0)
        return http_fail_err(r, &e);
    app *a = APP(r);
    if (exp_points_commit(a->exp_committer, a->db, r->who.org_id, b->experiment, batch, &e) != 0)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "accepted", (int64_t)batch->npoints);
    jw_kint(&w, "metrics", (int64_t)batch->nseries);
    jw_obj_end(&w);
    return 0;
}

/* GET .../points?name=loss[&from=&to=][&points=N&method=minmax|lttb][&limit=] */
static int points_get(http_req *r)
{
    int64_t id, from, to, points, limit;
    if (http_param_id(r, "id", &id) ||
        http_query_i64(r, "from", INT64_MIN, INT64_MIN, INT64_MAX, &from) ||
        http_query_i64(r, "to", INT64_MAX, INT64_MIN, INT64_MAX, &to) ||
        http_query_i64(r, "points", 0, 0, EXP_VIEW_MAX, &points) ||
        http_query_i64(r, "limit", 10000, 1, EXP_RAW_PAGE_MAX, &limit))
        return 0;
    const char *name = http_query(r, "name");
    if (!name || !*name)
        return http_fail(r, ERR_INVALID,
                         "give the metric: ?name=loss (GET .../metrics lists the metrics)");
    if (points == 1)
        return http_fail(r, ERR_INVALID, "points must be 0 (raw) or at least 2");
    const char *m = http_query(r, "method");
    exp_downsample method = EXP_DS_MINMAX;
    if (m && strcmp(m, "lttb") == 0)
        method = EXP_DS_LTTB;
    else if (m && *m && strcmp(m, "minmax") != 0)
        return http_fail(r, ERR_INVALID, "method '%.20s' is not minmax or lttb", m);
    exp_series_query q = {.name = name, .from = from, .to = to, .points = (size_t)points,
                          .method = method, .limit = (size_t)limit};
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = exp_series_write(c, r->who.org_id, id, &q, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int metrics_list(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = exp_series_list(c, r->who.org_id, id, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

/* --- logs -------------------------------------------------------------------- */

/* The image format from its first bytes, or NULL. */
static const char *image_format(const unsigned char *h, size_t n)
{
    if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "png";
    if (n >= 3 && h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff)
        return "jpeg";
    if (n >= 6 && (memcmp(h, "GIF87a", 6) == 0 || memcmp(h, "GIF89a", 6) == 0))
        return "gif";
    if (n >= 12 && memcmp(h, "RIFF", 4) == 0 && memcmp(h + 8, "WEBP", 4) == 0)
        return "webp";
    if (n >= 2 && h[0] == 'B' && h[1] == 'M')
        return "bmp";
    return NULL;
}

struct head {
    unsigned char b[16];
    size_t n;
};

static int head_sink(void *ctx, const void *p, size_t n)
{
    struct head *h = ctx;
    size_t k = n < sizeof h->b - h->n ? n : sizeof h->b - h->n;
    memcpy(h->b + h->n, p, k);
    h->n += k;
    return h->n == sizeof h->b;
}

static int logs_post(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    err e;
    json_t *data = json_object_get(r->json, "data");
    const char *kind = json_string_value(json_object_get(r->json, "kind"));
    const char *sha = json_string_value(json_object_get(data, "sha256"));
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    if (kind && strcmp(kind, "image") == 0 && sha && is_sha256_hex(sha)) {
        /* an image must be one: probe the stored file's first bytes */
        if (exp_check(c, r->who.org_id, id, &e) != 0 ||
            files_check(c, r->who.org_id, sha, NULL, &e) != 0) {
            db_put(c);
            return http_fail_err(r, &e);
        }
        struct head h = {.n = 0};
        if (blob_read(APP(r)->blobs, sha, 0, sizeof h.b, head_sink, &h, &e) != 0) {
            db_put(c);
            return http_fail_err(r, &e);
        }
        const char *fmt = image_format(h.b, h.n);
        if (!fmt) {
            db_put(c);
            return http_fail(r, ERR_UNPROCESSABLE,
                             "file %.16s... is not an image (PNG, JPEG, GIF, WebP or BMP)", sha);
        }
        json_object_set_new(data, "format", json_string(fmt));
    }
    int rc = exp_log_put(c, r->who.org_id, id, r->json, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 201, &w);
    jw_obj(&w);
    jw_kstr(&w, "name", json_string_value(json_object_get(r->json, "name")));
    jw_kstr(&w, "kind", kind);
    jw_obj_end(&w);
    return 0;
}

static int logs_get(http_req *r)
{
    int64_t id, limit, cursor, with_data;
    if (http_param_id(r, "id", &id) || http_query_i64(r, "limit", 50, 1, 500, &limit) ||
        http_query_i64(r, "cursor", INT64_MIN, INT64_MIN, INT64_MAX, &cursor) ||
        http_query_i64(r, "data", 1, 0, 1, &with_data))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = exp_log_list(c, r->who.org_id, id, http_query(r, "name"), http_query(r, "kind"),
                          with_data != 0, limit, cursor, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int log_names_get(http_req *r)
{
    int64_t id, limit;
    if (http_param_id(r, "id", &id) ||
        http_query_i64(r, "limit", EXP_LOG_NAMES_MAX, 1, EXP_LOG_NAMES_MAX, &limit))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = exp_log_names(c, r->who.org_id, id, limit, http_query(r, "cursor"), &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

/* --- text output --------------------------------------------------------------- */

static int output_post(http_req *r)
{
    static const char *const fields[] = {"lines", NULL};
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    err e;
    json_t *lines = NULL;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_arr(r->json, "lines", JV_REQUIRED, EXP_OUTPUT_BATCH_MAX, &lines, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t last = 0;
    int rc = exp_output_append(c, r->who.org_id, id, lines, &last, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "last", last);
    jw_obj_end(&w);
    return 0;
}

/* GET .../output?after=N&limit=&wait=S (long poll) or ?tail=N */
static int output_get(http_req *r)
{
    int64_t id, after, limit, wait, tail;
    if (http_param_id(r, "id", &id) || http_query_i64(r, "after", 0, 0, INT64_MAX, &after) ||
        http_query_i64(r, "limit", 1000, 1, 10000, &limit) ||
        http_query_i64(r, "wait", 0, 0, 60, &wait) ||
        http_query_i64(r, "tail", 0, 0, 10000, &tail))
        return 0;
    if (tail)
        after = -tail;
    int64_t deadline = time_mono_ns() + wait * 1000000000LL;
    for (;;) {
        db_conn *c = app_db(r);
        if (!c)
            return 0;
        err e;
        jw w;
        bool finished = false;
        int64_t last = after;
        http_json_begin(r, 200, &w);
        jw_obj(&w);
        jw_key(&w, "items");
        int rc = exp_output_read(c, r->who.org_id, id, after, limit, &w, &finished, &last, &e);
        db_put(c);
        if (rc)
            return http_fail_err(r, &e);
        jw_kint(&w, "next_after", last);
        jw_kbool(&w, "finished", finished);
        jw_obj_end(&w);
        if (last > (after > 0 ? after : 0) || finished || time_mono_ns() >= deadline ||
            http_stopping(r))
            return 0;
        if (after < 0)
            after = last; /* a tail with nothing yet: wait for what comes next */
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* --- artifacts ----------------------------------------------------------------- */

typedef struct {
    blob_writer *w;
    int64_t experiment;
    const char *path;
    bool failed;
    err e;
} upload_state;

static void upload_cleanup(void *p)
{
    upload_state *u = p;
    if (u->w)
        blob_writer_abort(u->w);
    u->w = NULL;
}

static upload_state *upload_begin(http_req *r)
{
    upload_state *u = arena_zalloc(r->arena, sizeof *u);
    r->ctx = u;
    u->path = http_query(r, "path");
    if (exp_artifact_path_check(u->path, &u->e) != 0 ||
        experiment_check(r, &u->experiment, &u->e) != 0) {
        u->failed = true;
        return u;
    }
    u->w = blob_writer_new(APP(r)->blobs, &u->e);
    if (!u->w) {
        u->failed = true;
        return u;
    }
    http_on_cleanup(r, upload_cleanup, u);
    return u;
}

static int artifact_data(http_req *r, const char *data, size_t n)
{
    upload_state *u = r->ctx ? r->ctx : upload_begin(r);
    if (!u->failed && blob_writer_write(u->w, data, n, &u->e) != 0) {
        u->failed = true;
        blob_writer_abort(u->w);
        u->w = NULL;
    }
    return 0;
}

static int artifact_put(http_req *r)
{
    upload_state *u = r->ctx ? r->ctx : upload_begin(r); /* an empty file: no piece came */
    if (u->failed)
        return http_fail_err(r, &u->e);
    const char *expect = http_header(r, "X-Content-SHA256");
    if (expect && !is_sha256_hex(expect))
        return http_fail(r, ERR_INVALID, "X-Content-SHA256 must be 64 lowercase hex digits");
    err e;
    blob_ref ref;
    blob_writer *w = u->w;
    u->w = NULL; /* commit frees it, whatever happens */
    if (blob_writer_commit(w, expect, &ref, &e) != 0)
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = exp_artifact_put(c, r->who.org_id, u->experiment, u->path, ref.sha, ref.size, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw out;
    http_json_begin(r, 201, &out);
    jw_obj(&out);
    jw_kstr(&out, "path", u->path);
    jw_kstr(&out, "sha256", ref.sha);
    jw_kint(&out, "size", ref.size);
    jw_obj_end(&out);
    return 0;
}

static int artifacts_list(http_req *r)
{
    int64_t id, limit;
    if (http_param_id(r, "id", &id) || http_query_i64(r, "limit", 1000, 1, 10000, &limit))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = exp_artifact_list(c, r->who.org_id, id, http_query(r, "prefix"), limit,
                               http_query(r, "cursor"), &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int artifact_get(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    const char *path = http_query(r, "path");
    err e;
    if (exp_artifact_path_check(path, &e) != 0)
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    char sha[65];
    int64_t size;
    int rc = exp_artifact_get(c, r->who.org_id, id, path, sha, &size, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    const char *slash = strrchr(path, '/');
    return app_send_blob(r, sha, size, "application/octet-stream", slash ? slash + 1 : path);
}

static int artifact_delete(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    const char *path = http_query(r, "path");
    err e;
    if (exp_artifact_path_check(path, &e) != 0)
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = exp_artifact_delete(c, r->who.org_id, id, path, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    http_send(r, 204, "application/json", "", 0);
    return 0;
}

#define BATCH_BODY                                                                                 \
    "{\"type\":\"object\",\"properties\":{\"points\":{\"type\":\"array\",\"items\":{\"type\":"    \
    "\"object\",\"required\":[\"name\",\"step\",\"value\"],\"properties\":{\"name\":{\"type\":"    \
    "\"string\"},\"step\":{\"type\":\"integer\"},\"value\":{\"type\":\"number\"},\"time\":{"       \
    "\"type\":\"integer\"}}}},\"series\":{\"type\":\"array\",\"items\":{\"type\":\"object\","      \
    "\"required\":[\"name\",\"steps\",\"values\"],\"properties\":{\"name\":{\"type\":\"string\"}," \
    "\"steps\":{\"type\":\"array\"},\"values\":{\"type\":\"array\"},\"times\":{\"type\":"          \
    "\"array\"}}}}}}"

const http_route tracking_routes[] = {
    {HTTP_POST, "/api/v1/experiments/{id}/points", points_post, PERM_WRITE, BODY_STREAM,
     points_data,
     "Log metric points in a batch (at most 10,000): {points: [{name, step, value, time?}]} "
     "and/or {series: [{name, steps, values, times?}]}; all or nothing",
     "experiments", BATCH_BODY,
     "{\"type\":\"object\",\"properties\":{\"accepted\":{\"type\":\"integer\"},\"metrics\":{"
     "\"type\":\"integer\"}}}",
     EXP_BATCH_BODY_MAX},
    {HTTP_GET, "/api/v1/experiments/{id}/points", points_get, PERM_READ, BODY_NONE, NULL,
     "One metric's points: ?name=&from=&to= steps; ?points=N&method=minmax|lttb for a "
     "downsampled view, else raw pages of ?limit= (next_from)",
     "experiments", NULL, NULL, 0},
    {HTTP_GET, "/api/v1/experiments/{id}/metrics", metrics_list, PERM_READ, BODY_NONE, NULL,
     "The experiment's metrics with count, extremes and latest point", "experiments", NULL, NULL,
     0},
    {HTTP_POST, "/api/v1/experiments/{id}/logs", logs_post, PERM_WRITE, BODY_JSON, NULL,
     "Log a value, bar, table, heatmap, confusion_matrix, image or label_map {name, kind, "
     "step?, data}",
     "experiments",
     "{\"type\":\"object\",\"required\":[\"name\",\"kind\",\"data\"],\"properties\":{\"name\":{"
     "\"type\":\"string\"},\"kind\":{\"type\":\"string\",\"enum\":[\"value\",\"bar\",\"table\","
     "\"heatmap\",\"confusion_matrix\",\"image\",\"label_map\"]},\"step\":{\"type\":"
     "\"integer\"},\"data\":{\"type\":\"object\"}}}",
     NULL, 0},
    {HTTP_GET, "/api/v1/experiments/{id}/logs", logs_get, PERM_READ, BODY_NONE, NULL,
     "The experiment's logs (?name=&kind=&data=0|1&limit=&cursor=)", "experiments", NULL, NULL,
     0},
    {HTTP_GET, "/api/v1/experiments/{id}/logs/names", log_names_get, PERM_READ, BODY_NONE, NULL,
     "The experiment's log names with kind, record count and step range, in name order "
     "(?limit=&cursor=)",
     "experiments", NULL, NULL, 0},
    {HTTP_POST, "/api/v1/experiments/{id}/output", output_post, PERM_WRITE, BODY_JSON, NULL,
     "Append lines to the run's text output {lines: [...]}", "experiments",
     "{\"type\":\"object\",\"required\":[\"lines\"],\"properties\":{\"lines\":{\"type\":"
     "\"array\",\"items\":{\"type\":\"string\"}}}}",
     NULL, 0},
    {HTTP_GET, "/api/v1/experiments/{id}/output", output_get, PERM_READ, BODY_NONE, NULL,
     "The run's text output: lines after ?after=N (&limit=), ?tail=N for the last lines, "
     "&wait=S to long-poll for new ones",
     "experiments", NULL, NULL, 0},
    {HTTP_PUT, "/api/v1/experiments/{id}/artifacts", artifact_put, PERM_WRITE, BODY_STREAM,
     artifact_data,
     "Upload an artifact as the raw body (?path=dir/file; streamed, any size; optional "
     "X-Content-SHA256 is verified)",
     "experiments", NULL, NULL, 0},
    {HTTP_GET, "/api/v1/experiments/{id}/artifacts", artifacts_list, PERM_READ, BODY_NONE, NULL,
     "List artifacts with size and SHA-256 (?prefix=&limit=&cursor=)", "experiments", NULL,
     NULL, 0},
    {HTTP_GET, "/api/v1/experiments/{id}/artifacts/file", artifact_get, PERM_READ, BODY_NONE,
     NULL, "Download an artifact (?path=; Range requests, ETag)", "experiments", NULL, NULL, 0},
    {HTTP_DELETE, "/api/v1/experiments/{id}/artifacts", artifact_delete, PERM_WRITE, BODY_NONE,
     NULL, "Remove an artifact from the experiment (?path=)", "experiments", NULL, NULL, 0},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
