/*
 * datalake_api.c - the HTTP side of the datalake: datalakes, streamed
 * uploads (raw body, multipart, batches), items, originals and thumbnails,
 * search and counts, similar images, bulk tags and deletes, stats,
 * autocomplete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "datalake/datalake.h"
#include "image/image.h"

static int lake_param(http_req *r, db_conn *c, int64_t *lake)
{
    err e;
    if (http_param_id(r, "id", lake))
        return -1;
    if (datalake_check(c, r->who.org_id, *lake, &e)) {
        http_fail_err(r, &e);
        return -1;
    }
    return 0;
}

/* --- datalakes ----------------------------------------------------------------- */

static int lakes_list(http_req *r)
{
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_key(&w, "items");
    int rc = datalake_list(c, r->who.org_id, &w, &e);
    jw_obj_end(&w);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int lakes_create(http_req *r)
{
    static const char *const fields[] = {"name", "description", NULL};
    err e;
    const char *name = NULL, *desc = NULL;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_str(r->json, "name", JV_REQUIRED, 64, &name, &e) ||
        jv_str(r->json, "description", JV_OPTIONAL, 2000, &desc, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t id;
    int rc = datalake_create(c, r->who.org_id, name, desc, &id, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 201, &w);
        rc = datalake_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int lakes_get(http_req *r)
{
    return app_reply_by_id(r, datalake_write);
}

static int lakes_update(http_req *r)
{
    static const char *const fields[] = {"name", "description", NULL};
    err e;
    int64_t id;
    const char *name = NULL, *desc = NULL;
    if (http_param_id(r, "id", &id))
        return 0;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_str(r->json, "name", JV_OPTIONAL, 64, &name, &e) ||
        jv_str(r->json, "description", JV_OPTIONAL, 2000, &desc, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = datalake_update(c, r->who.org_id, id, name, desc, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 200, &w);
        rc = datalake_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int lakes_delete(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int rc = datalake_delete(c, r->who.org_id, id, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    return app_reply_deleted(r, id);
}

/* --- upload -------------------------------------------------------------------- */

typedef struct ingest_file {
    char *filename;
    datalake_item it;
    bool prepared, duplicate_content;
    int64_t existing_id;
    err e;
} ingest_file;

typedef struct {
    blob_writer *w;
    ingest_file *files;
    int n, cap;
    bool batch;
    int64_t lake;
} ingest;

#define BATCH_MAX_FILES 1000

static void ingest_cleanup(void *p)
{
    ingest *g = p;
    if (g->w)
        blob_writer_abort(g->w);
    for (int i = 0; i < g->n; i++)
        datalake_item_free(&g->files[i].it);
    free(g->files);
}

static ingest *ingest_of(http_req *r, bool batch)
{
    ingest *g = r->ctx;
    if (!g) {
        g = arena_zalloc(r->arena, sizeof *g);
        g->batch = batch;
        r->ctx = g;
        http_on_cleanup(r, ingest_cleanup, g);
    }
    return g;
}

static int on_part(http_req *r, const http_part *p, bool begin, bool batch)
{
    ingest *g = ingest_of(r, batch);
    err e;
    if (begin) {
        if (!batch && g->n >= 1)
            return http_fail(r, ERR_INVALID,
                             "this endpoint takes one file; send several to .../data/batch"),
                   -1;
        if (g->n >= BATCH_MAX_FILES)
            return http_fail(r, ERR_TOO_LARGE, "a batch holds at most %d files", BATCH_MAX_FILES),
                   -1;
        if (g->n == g->cap) {
            int cap = g->cap ? g->cap * 2 : 4;
            ingest_file *f = realloc(g->files, (size_t)cap * sizeof *f);
            if (!f)
                return http_fail(r, ERR_INTERNAL, "out of memory"), -1;
            g->files = f;
            g->cap = cap;
        }
        ingest_file *f = &g->files[g->n++];
        memset(f, 0, sizeof *f);
        f->filename = arena_strdup(r->arena, p->filename ? p->filename : "");
        g->w = blob_writer_new(APP(r)->blobs, &e);
        if (!g->w)
            return http_fail_err(r, &e), -1;
        return 0;
    }
    /* end of one file: dedupe on the hash, else probe/thumbnail/store */
    ingest_file *f = &g->files[g->n - 1];
    blob_writer *w = g->w;
    g->w = NULL;
    char sha[65];
    blob_writer_digest(w, sha);
    db_conn *c = app_db(r);
    if (!c) {
        blob_writer_abort(w);
        return -1;
    }
    int64_t lake;
    int rc = http_param_id(r, "id", &lake);
    if (rc == 0 && datalake_check(c, r->who.org_id, lake, &e) != 0) {
        db_put(c);
        blob_writer_abort(w);
        return http_fail_err(r, &e), -1;
    }
    g->lake = lake;
    int64_t existing = 0;
    rc = datalake_has(c, lake, sha, &existing, &e);
    db_put(c);
    if (rc != 0) {
        blob_writer_abort(w);
        return http_fail_err(r, &e), -1;
    }
    if (existing) {
        blob_writer_abort(w); /* the content is stored already */
        f->existing_id = existing;
        f->duplicate_content = true;
        memcpy(f->it.sha, sha, sizeof sha);
        return 0;
    }
    datalake_limits lim = {.max_pixels = APP(r)->cfg.max_pixels};
    if (datalake_prepare(APP(r)->blobs, w, &lim, &f->it, &f->e) == 0)
        f->prepared = true;
    return 0;
}

static int on_part_single(http_req *r, const http_part *p, bool begin)
{
    return on_part(r, p, begin, false);
}

static int on_part_batch(http_req *r, const http_part *p, bool begin)
{
    return on_part(r, p, begin, true);
}

static int on_data(http_req *r, const char *data, size_t n)
{
    ingest *g = r->ctx;
    err e;
    if (!g || !g->w)
        return http_fail(r, ERR_INTERNAL, "upload data outside a file"), -1;
    if (blob_writer_write(g->w, data, n, &e) != 0)
        return http_fail_err(r, &e), -1;
    return 0;
}

/* Upload options from the query string and the form fields. */
typedef struct {
    const char *tags[DATALAKE_TAGS_MAX + 1];
    int ntags;
    const char *source, *meta;
} upload_opts;

static int upload_opts_read(http_req *r, upload_opts *o)
{
    memset(o, 0, sizeof *o);
    int nq = http_query_values(r, "tag", o->tags, DATALAKE_TAGS_MAX + 1);
    int room = nq > DATALAKE_TAGS_MAX ? 0 : DATALAKE_TAGS_MAX + 1 - nq;
    int nf = http_form_values(r, "tag", o->tags + (nq < DATALAKE_TAGS_MAX + 1 ? nq : DATALAKE_TAGS_MAX + 1), room);
    o->ntags = nq + nf;
    if (o->ntags > DATALAKE_TAGS_MAX)
        return http_fail(r, ERR_INVALID, "%d tags given; the limit is %d per upload", o->ntags,
                         DATALAKE_TAGS_MAX),
               -1;
    o->source = http_query(r, "source");
    if (!o->source)
        o->source = http_form(r, "source");
    o->meta = http_query(r, "meta");
    if (!o->meta)
        o->meta = http_form(r, "meta");
    return 0;
}

/* Inserts one prepared (or duplicate) file; writes its result into w. */
static void insert_one(http_req *r, db_conn *c, ingest *g, ingest_file *f, const upload_opts *o,
                       jw *w, int64_t *data_id, bool *dup, err *e)
{
    (void)w;
    *data_id = 0;
    if (!f->prepared && !f->duplicate_content)
        return;
    if (f->duplicate_content) {
        /* same content: only the new tags are added */
        datalake_item tmp = {0};
        memcpy(tmp.sha, f->it.sha, sizeof tmp.sha);
        if (datalake_insert(c, r->who.org_id, g->lake, &tmp, f->filename, o->source, NULL, o->tags,
                            o->ntags, r->who.user_id, data_id, dup, e) != 0)
            *data_id = -1;
        return;
    }
    if (datalake_insert(c, r->who.org_id, g->lake, &f->it, f->filename, o->source, o->meta, o->tags,
                        o->ntags, r->who.user_id, data_id, dup, e) != 0)
        *data_id = -1;
}

static int upload_single(http_req *r)
{
    ingest *g = r->ctx;
    if (!g || g->n == 0)
        return http_fail(r, ERR_INVALID,
                         "the upload is empty; send the image as the body (or as a multipart "
                         "field named 'file')");
    ingest_file *f = &g->files[0];
    if (!f->prepared && !f->duplicate_content)
        return http_fail_err(r, &f->e);
    upload_opts o;
    if (upload_opts_read(r, &o))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    int64_t id;
    bool dup = false;
    jw w;
    insert_one(r, c, g, f, &o, NULL, &id, &dup, &e);
    if (id < 0) {
        db_put(c);
        return http_fail_err(r, &e);
    }
    http_json_begin(r, dup ? 200 : 201, &w);
    int rc = datalake_data_write(c, r->who.org_id, id, &w, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    r->out.len--; /* reopen the object to add "duplicate" */
    sbuf_printf(&r->out, ",\"duplicate\":%s}", dup ? "true" : "false");
    return 0;
}

static int upload_batch(http_req *r)
{
    ingest *g = r->ctx;
    if (!g || g->n == 0)
        return http_fail(r, ERR_INVALID,
                         "the batch is empty; send a multipart/form-data body with one field per "
                         "file");
    upload_opts o;
    if (upload_opts_read(r, &o))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    jw w;
    http_json_begin(r, 200, &w);
    int created = 0, dups = 0, rejected = 0;
    jw_obj(&w);
    jw_key(&w, "results");
    jw_arr(&w);
    for (int i = 0; i < g->n; i++) {
        ingest_file *f = &g->files[i];
        err e = f->e;
        int64_t id = 0;
        bool dup = false;
        insert_one(r, c, g, f, &o, &w, &id, &dup, &e);
        jw_obj(&w);
        jw_kstr(&w, "filename", f->filename);
        if (id > 0) {
            jw_kstr(&w, "status", dup ? "duplicate" : "created");
            jw_kint(&w, "id", id);
            jw_kstr(&w, "sha256", f->it.sha);
            if (dup)
                dups++;
            else
                created++;
        } else {
            jw_kstr(&w, "status", "rejected");
            jw_key(&w, "error");
            jw_obj(&w);
            jw_kstr(&w, "code", err_code_name(e.code));
            jw_kstr(&w, "message", e.msg);
            jw_obj_end(&w);
            rejected++;
        }
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_kint(&w, "created", created);
    jw_kint(&w, "duplicates", dups);
    jw_kint(&w, "rejected", rejected);
    jw_obj_end(&w);
    db_put(c);
    return 0;
}

/* --- search ------------------------------------------------------------------- */

static int data_search(http_req *r)
{
    db_conn *c = app_db_scan(r);
    if (!c)
        return 0;
    int64_t lake, limit;
    if (lake_param(r, c, &lake) || http_query_i64(r, "limit", 100, 1, 1000, &limit)) {
        db_put(c);
        return 0;
    }
    datalake_page p = {http_query(r, "q"), http_query(r, "order_by"), http_query(r, "cursor"), limit};
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = datalake_search(c, lake, &p, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int data_count(http_req *r)
{
    db_conn *c = app_db_scan(r);
    if (!c)
        return 0;
    int64_t lake, n = 0;
    if (lake_param(r, c, &lake)) {
        db_put(c);
        return 0;
    }
    err e;
    int rc = datalake_count(c, lake, http_query(r, "q"), &n, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "count", n);
    jw_obj_end(&w);
    return 0;
}

static int data_lookup(http_req *r)
{
    static const char *const fields[] = {"sha256", NULL};
    err e;
    json_t *shas = NULL;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) ||
        jv_arr(r->json, "sha256", JV_REQUIRED, DATALAKE_IDS_MAX, &shas, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t lake;
    if (lake_param(r, c, &lake)) {
        db_put(c);
        return 0;
    }
    jw w;
    http_json_begin(r, 200, &w);
    int rc = datalake_lookup(c, lake, shas, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int read_selection(http_req *r, datalake_sel *sel, err *e)
{
    sel->ids = json_object_get(r->json, "ids");
    json_t *q = json_object_get(r->json, "q");
    if (q && !json_is_string(q))
        return err_set(e, ERR_INVALID, "field 'q' must be a query string");
    sel->q = json_string_value(q);
    if (sel->ids && sel->q)
        return err_set(e, ERR_INVALID, "give either 'ids' or 'q', not both");
    return 0;
}

static int data_delete_bulk(http_req *r)
{
    static const char *const fields[] = {"ids", "q", NULL};
    err e;
    datalake_sel sel;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) || read_selection(r, &sel, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t lake, n = 0;
    if (lake_param(r, c, &lake)) {
        db_put(c);
        return 0;
    }
    int rc = datalake_delete_data(c, lake, &sel, &n, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    return app_reply_deleted(r, n);
}

static int string_list(json_t *arr, const char *field, const char **out, int max, int *n, err *e)
{
    *n = 0;
    if (!arr)
        return 0;
    if (!json_is_array(arr))
        return err_set(e, ERR_INVALID, "field '%s' must be an array of tag names", field);
    if ((int)json_array_size(arr) > max)
        return err_set(e, ERR_INVALID, "field '%s' has %zu tags; the limit is %d", field,
                       json_array_size(arr), max);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v))
            return err_set(e, ERR_INVALID, "%s[%zu] must be a string", field, i);
        out[(*n)++] = json_string_value(v);
    }
    return 0;
}

static int tags_bulk(http_req *r)
{
    static const char *const fields[] = {"add", "remove", "ids", "q", NULL};
    err e;
    datalake_sel sel;
    const char *add[DATALAKE_TAGS_MAX], *rm[DATALAKE_TAGS_MAX];
    int nadd, nrm;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e) || read_selection(r, &sel, &e) ||
        string_list(json_object_get(r->json, "add"), "add", add, DATALAKE_TAGS_MAX, &nadd, &e) ||
        string_list(json_object_get(r->json, "remove"), "remove", rm, DATALAKE_TAGS_MAX, &nrm, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t lake, changed = 0;
    if (lake_param(r, c, &lake)) {
        db_put(c);
        return 0;
    }
    int rc = datalake_tag(c, lake, &sel, add, nadd, rm, nrm, &changed, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "changed", changed);
    jw_obj_end(&w);
    return 0;
}

typedef int (*lake_writer)(db_conn *c, int64_t lake, jw *w, err *e);

static int lake_read(http_req *r, lake_writer fn)
{
    db_conn *c = app_db_scan(r);
    if (!c)
        return 0;
    int64_t lake;
    if (lake_param(r, c, &lake)) {
        db_put(c);
        return 0;
    }
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = fn(c, lake, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int tags_list(http_req *r) { return lake_read(r, datalake_tags); }
static int stats(http_req *r) { return lake_read(r, datalake_stats); }

static int autocomplete(http_req *r)
{
    const char *q = http_query(r, "q");
    if (!q)
        q = "";
    if (strlen(q) > QUERY_DEFAULT_MAX_LEN)
        return http_fail(r, ERR_INVALID, "the query is longer than %d bytes", QUERY_DEFAULT_MAX_LEN);
    int64_t cursor;
    if (http_query_i64(r, "cursor", (int64_t)strlen(q), 0, (int64_t)strlen(q), &cursor))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int64_t lake;
    if (lake_param(r, c, &lake)) {
        db_put(c);
        return 0;
    }
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = datalake_autocomplete(c, lake, q, (size_t)cursor, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

/* --- items -------------------------------------------------------------------------- */

static int data_get(http_req *r)
{
    return app_reply_by_id(r, datalake_data_write);
}

static int data_patch(http_req *r)
{
    static const char *const fields[] = {"filename", "source", "meta", NULL};
    err e;
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    if (jv_is_obj(r->json, &e) || jv_only(r->json, fields, &e))
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    int rc = datalake_data_update(c, r->who.org_id, id, r->json, &e);
    if (rc == 0) {
        jw w;
        http_json_begin(r, 200, &w);
        rc = datalake_data_write(c, r->who.org_id, id, &w, &e);
    }
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

static int data_delete(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    char sha[65], thumb[65], fmt[8], fn[DATALAKE_FILENAME_MAX + 1];
    int64_t size;
    int rc = datalake_data_blobs(c, r->who.org_id, id, sha, thumb, fmt, fn, sizeof fn, &size, &e);
    int64_t lake = 0, n = 0;
    if (rc == 0)
        rc = db_one_i64(c, &e, &lake, "SELECT datalake_id FROM data WHERE id = $1", DBI(id));
    if (rc == 0) {
        json_t *ids = json_pack("[I]", (json_int_t)id);
        datalake_sel sel = {ids, NULL};
        rc = datalake_delete_data(c, lake, &sel, &n, &e);
        json_decref(ids);
    }
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    return app_reply_deleted(r, n);
}

static int data_original(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    char sha[65], thumb[65], fmt[8], fn[DATALAKE_FILENAME_MAX + 1];
    int64_t size;
    int rc = datalake_data_blobs(c, r->who.org_id, id, sha, thumb, fmt, fn, sizeof fn, &size, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    static const struct {
        const char *f, *mime;
    } mimes[] = {{"jpeg", "image/jpeg"}, {"png", "image/png"}, {"webp", "image/webp"},
                 {"tiff", "image/tiff"}, {"bmp", "image/bmp"}};
    const char *mime = "application/octet-stream";
    for (size_t i = 0; i < sizeof mimes / sizeof *mimes; i++)
        if (strcmp(fmt, mimes[i].f) == 0)
            mime = mimes[i].mime;
    const char *dl = http_query(r, "download");
    if (!(dl && strcmp(dl, "1") == 0)) {
        /* shown inline in the browser, with the right name if saved */
        app_send_blob(r, sha, size, mime, NULL);
        char cd[DATALAKE_FILENAME_MAX + 40];
        size_t k = 0;
        char safe[DATALAKE_FILENAME_MAX + 1];
        for (const char *p = fn; *p && k < sizeof safe - 1; p++)
            safe[k++] = (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ? *p : '_';
        safe[k] = 0;
        snprintf(cd, sizeof cd, "inline; filename=\"%s\"", safe);
        http_set_header(r, "Content-Disposition", cd);
        return 0;
    }
    return app_send_blob(r, sha, size, mime, fn);
}

/* Rebuilds a thumbnail lost in a crash (thumbnails are stored without fsync). */
static int rebuild_thumb(http_req *r, const char *sha, char thumb[65], err *e)
{
    sbuf orig = SBUF_INIT;
    int rc = -1;
    image_thumb t = {0};
    if (blob_get(APP(r)->blobs, sha, 1ull << 31, &orig, e) == 0 &&
        image_thumbnail(orig.p, orig.len, NULL, &t, e) == 0) {
        blob_ref ref;
        if (blob_put_derived(APP(r)->blobs, t.jpeg, t.len, &ref, e) == 0) {
            memcpy(thumb, ref.sha, 65);
            rc = 0;
        }
    }
    image_thumb_free(&t);
    sbuf_free(&orig);
    return rc;
}

static int data_thumbnail(http_req *r)
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    char sha[65], thumb[65], fmt[8], fn[DATALAKE_FILENAME_MAX + 1];
    int64_t size, tsize;
    int rc = datalake_data_blobs(c, r->who.org_id, id, sha, thumb, fmt, fn, sizeof fn, &size, &e);
    db_put(c);
    if (rc)
        return http_fail_err(r, &e);
    if (blob_stat(APP(r)->blobs, thumb, &tsize, &e) != 0) {
        char rebuilt[65];
        if (rebuild_thumb(r, sha, rebuilt, &e) != 0)
            return http_fail_err(r, &e);
        if (strcmp(rebuilt, thumb) != 0)
            return http_fail(r, ERR_INTERNAL, "the rebuilt thumbnail differs from the recorded one");
        blob_stat(APP(r)->blobs, thumb, &tsize, &e);
    }
    return app_send_blob(r, thumb, tsize, "image/jpeg", NULL);
}

static int data_similar(http_req *r)
{
    int64_t id, dist, limit;
    if (http_param_id(r, "id", &id) || http_query_i64(r, "max_distance", 8, 0, 64, &dist) ||
        http_query_i64(r, "limit", 50, 1, 1000, &limit))
        return 0;
    db_conn *c = app_db_scan(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = datalake_similar(c, r->who.org_id, id, (int)dist, limit, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

#define ITEM_SCHEMA "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"sha256\":{\"type\":\"string\"},\"filename\":{\"type\":\"string\"},\"format\":{\"type\":\"string\"},\"width\":{\"type\":\"integer\"},\"height\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"meta\":{\"type\":\"object\"},\"duplicate\":{\"type\":\"boolean\"}}}"
#define SEL_SCHEMA "{\"type\":\"object\",\"properties\":{\"ids\":{\"type\":\"array\",\"items\":{\"type\":\"integer\"}},\"q\":{\"type\":\"string\"}}}"

const http_route datalake_routes[] = {
    {HTTP_GET, "/api/v1/datalakes", lakes_list, PERM_READ, BODY_NONE, NULL,
     "The organization's datalakes with counts and bytes", "datalake"},
    {HTTP_POST, "/api/v1/datalakes", lakes_create, PERM_WRITE, BODY_JSON, NULL,
     "Create a datalake", "datalake",
     "{\"type\":\"object\",\"required\":[\"name\"],\"properties\":{\"name\":{\"type\":\"string\"},\"description\":{\"type\":\"string\"}}}"},
    {HTTP_GET, "/api/v1/datalakes/{id}", lakes_get, PERM_READ, BODY_NONE, NULL, "One datalake",
     "datalake"},
    {HTTP_PATCH, "/api/v1/datalakes/{id}", lakes_update, PERM_WRITE, BODY_JSON, NULL,
     "Rename or describe a datalake", "datalake"},
    {HTTP_DELETE, "/api/v1/datalakes/{id}", lakes_delete, PERM_ADMIN, BODY_NONE, NULL,
     "Delete a datalake and all its items", "datalake"},
    {HTTP_POST, "/api/v1/datalakes/{id}/data", upload_single, PERM_WRITE, BODY_STREAM, on_data,
     "Upload one image (raw body or multipart; ?filename=&tag=&source=&meta=); the same content twice is stored once",
     "datalake", NULL, ITEM_SCHEMA, 1LL << 30, on_part_single},
    {HTTP_POST, "/api/v1/datalakes/{id}/data/batch", upload_batch, PERM_WRITE, BODY_STREAM, on_data,
     "Upload many images in one multipart body; a result per file", "datalake", NULL, NULL,
     8LL << 30, on_part_batch},
    {HTTP_GET, "/api/v1/datalakes/{id}/data", data_search, PERM_READ, BODY_NONE, NULL,
     "Search items with the query language (?q=&order_by=&limit=&cursor=)", "datalake"},
    {HTTP_GET, "/api/v1/datalakes/{id}/data/count", data_count, PERM_READ, BODY_NONE, NULL,
     "Count items matching ?q=", "datalake"},
    {HTTP_POST, "/api/v1/datalakes/{id}/data/lookup", data_lookup, PERM_READ, BODY_JSON, NULL,
     "Which of these SHA-256 the datalake already has", "datalake",
     "{\"type\":\"object\",\"required\":[\"sha256\"],\"properties\":{\"sha256\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}}}}"},
    {HTTP_POST, "/api/v1/datalakes/{id}/data/delete", data_delete_bulk, PERM_WRITE, BODY_JSON,
     NULL, "Delete items by ids or by query", "datalake", SEL_SCHEMA},
    {HTTP_POST, "/api/v1/datalakes/{id}/tags", tags_bulk, PERM_WRITE, BODY_JSON, NULL,
     "Add and remove tags on items chosen by ids or by query", "datalake",
     "{\"type\":\"object\",\"properties\":{\"add\":{\"type\":\"array\"},\"remove\":{\"type\":\"array\"},\"ids\":{\"type\":\"array\"},\"q\":{\"type\":\"string\"}}}"},
    {HTTP_GET, "/api/v1/datalakes/{id}/tags", tags_list, PERM_READ, BODY_NONE, NULL,
     "Tags with their counts", "datalake"},
    {HTTP_GET, "/api/v1/datalakes/{id}/stats", stats, PERM_READ, BODY_NONE, NULL,
     "Count, bytes, by format, by source, by tag, longest-side histogram", "datalake"},
    {HTTP_GET, "/api/v1/datalakes/{id}/autocomplete", autocomplete, PERM_READ, BODY_NONE, NULL,
     "Suggestions for a partial query at ?cursor= (fields, keys, operators, values)", "datalake"},
    {HTTP_GET, "/api/v1/data/{id}", data_get, PERM_READ, BODY_NONE, NULL,
     "One item with EXIF, metadata and tags", "datalake", NULL, ITEM_SCHEMA, .quick = true},
    {HTTP_PATCH, "/api/v1/data/{id}", data_patch, PERM_WRITE, BODY_JSON, NULL,
     "Change an item's filename, source or metadata", "datalake"},
    {HTTP_DELETE, "/api/v1/data/{id}", data_delete, PERM_WRITE, BODY_NONE, NULL, "Delete an item",
     "datalake"},
    {HTTP_GET, "/api/v1/data/{id}/original", data_original, PERM_READ, BODY_NONE, NULL,
     "The original image (Range, ETag; ?download=1 for an attachment)", "datalake"},
    {HTTP_GET, "/api/v1/data/{id}/thumbnail", data_thumbnail, PERM_READ, BODY_NONE, NULL,
     "The 256 px JPEG thumbnail (ETag, long cache)", "datalake"},
    {HTTP_GET, "/api/v1/data/{id}/similar", data_similar, PERM_READ, BODY_NONE, NULL,
     "Near-duplicates by perceptual hash (?max_distance=&limit=)", "datalake"},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
