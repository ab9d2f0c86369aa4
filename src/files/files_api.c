/*
 * files_api.c - uploading and downloading files (blobs) over HTTP, and the
 * helper every feature uses to serve a blob: ranges, ETag, zero-copy from
 * the file store, chunked reads from S3.
 */
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/util.h"
#include "files/files.h"

typedef struct {
    blob_writer *w;
} upload_state;

static void upload_cleanup(void *p)
{
    upload_state *u = p;
    if (u->w)
        blob_writer_abort(u->w);
}

static int upload_data(http_req *r, const char *data, size_t n)
{
    upload_state *u = r->ctx;
    err e;
    if (!u) {
        u = arena_zalloc(r->arena, sizeof *u);
        r->ctx = u;
        http_on_cleanup(r, upload_cleanup, u);
        u->w = blob_writer_new(APP(r)->blobs, &e);
        if (!u->w)
            return http_fail_err(r, &e), -1;
    }
    if (blob_writer_write(u->w, data, n, &e) != 0)
        return http_fail_err(r, &e), -1;
    return 0;
}

static int upload(http_req *r)
{
    upload_state *u = r->ctx;
    if (!u || !u->w || blob_writer_size(u->w) == 0)
        return http_fail(r, ERR_INVALID, "the upload is empty; send the file's bytes as the body");
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
    int rc = files_ref(c, r->who.org_id, ref.sha, ref.size, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w2;
    http_json_begin(r, 201, &w2);
    jw_obj(&w2);
    jw_kstr(&w2, "sha256", ref.sha);
    jw_kint(&w2, "size", ref.size);
    jw_kbool(&w2, "existed", ref.existed);
    jw_obj_end(&w2);
    return 0;
}

typedef struct {
    blob_store *bs;
    char sha[65];
    int64_t base; /* offset of the first byte of the response in the blob */
} s3_reader;

struct copy_ctx {
    char *buf;
    size_t got, max;
};

static int copy_sink(void *p, const void *data, size_t n)
{
    struct copy_ctx *c = p;
    size_t k = n > c->max - c->got ? c->max - c->got : n;
    memcpy(c->buf + c->got, data, k);
    c->got += k;
    return c->got >= c->max;
}

static ssize_t s3_read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    s3_reader *rd = cls;
    struct copy_ctx cc = {buf, 0, max};
    err e;
    if (blob_read(rd->bs, rd->sha, rd->base + (int64_t)pos, (int64_t)max, copy_sink, &cc, &e) != 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (cc.got == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)cc.got;
}

int app_send_blob(http_req *r, const char *sha, int64_t size, const char *type,
                  const char *filename)
{
    app *a = APP(r);
    char etag[70];
    snprintf(etag, sizeof etag, "\"%s\"", sha);
    http_set_header(r, "ETag", etag);
    http_set_header(r, "Cache-Control", "private, max-age=31536000, immutable");
    http_set_header(r, "Accept-Ranges", "bytes");
    if (filename) {
        /* a name made safe for the header: printable ASCII, no quotes */
        char safe[200];
        size_t k = 0;
        for (const char *p = filename; *p && k < sizeof safe - 1; p++)
            safe[k++] = (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ? *p : '_';
        safe[k] = 0;
        char cd[260];
        snprintf(cd, sizeof cd, "attachment; filename=\"%s\"", safe);
        http_set_header(r, "Content-Disposition", cd);
    }
    const char *inm = http_header(r, "If-None-Match");
    if (inm && strcmp(inm, etag) == 0) {
        http_send(r, 304, type, "", 0);
        return 0;
    }
    int64_t off, len;
    int pr = http_range(r, size, &off, &len);
    if (pr < 0)
        return 0;
    int status = pr == 1 ? 206 : 200;
    err e;
    int fd;
    int64_t actual;
    if (blob_open_fd(a->blobs, sha, &fd, &actual, &e) == 0) {
        http_send_fd(r, status, fd, off, len, type);
        return 0;
    }
    if (e.code != ERR_UNSUPPORTED)
        return http_fail_err(r, &e);
    s3_reader *rd = calloc(1, sizeof *rd);
    rd->bs = a->blobs;
    snprintf(rd->sha, sizeof rd->sha, "%s", sha);
    rd->base = off;
    struct MHD_Response *resp =
        MHD_create_response_from_callback((uint64_t)len, 1 << 20, s3_read_cb, rd, free);
    if (!resp) {
        free(rd);
        return http_fail(r, ERR_INTERNAL, "cannot create the response");
    }
    r->content_type = type;
    http_send_mhd(r, status, resp);
    return 0;
}

static int download(http_req *r)
{
    const char *sha = http_param(r, "sha256");
    err e;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t size;
    int rc = files_check(c, r->who.org_id, sha, &size, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    return app_send_blob(r, sha, size, "application/octet-stream", http_query(r, "filename"));
}

const http_route files_routes[] = {
    {HTTP_PUT, "/api/v1/files", upload, PERM_WRITE, BODY_STREAM, upload_data,
     "Upload a file as the raw body (streamed; optional X-Content-SHA256 is verified); returns its SHA-256",
     "files", NULL,
     "{\"type\":\"object\",\"properties\":{\"sha256\":{\"type\":\"string\"},\"size\":{\"type\":\"integer\"},\"existed\":{\"type\":\"boolean\"}}}",
     0},
    {HTTP_GET, "/api/v1/files/{sha256}", download, PERM_READ, BODY_NONE, NULL,
     "Download a file this organization uploaded (Range requests, ETag; ?filename= for a download name)",
     "files", NULL, NULL, 0},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
