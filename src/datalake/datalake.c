/*
 * datalake.c - datalakes, ingest, items, search, bulk operations; see
 * datalake.h.
 */
#include "datalake/datalake.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "files/files.h"
#include "image/image.h"

const char datalake_schema_v10[] =
    "CREATE TABLE datalake (id {{ID}}, org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, description TEXT, created_at BIGINT NOT NULL, UNIQUE (org_id, name));"
    "CREATE TABLE data (id {{ID}},"
    " datalake_id BIGINT NOT NULL REFERENCES datalake(id) ON DELETE CASCADE,"
    " sha256 TEXT NOT NULL, filename TEXT NOT NULL, size BIGINT NOT NULL, format TEXT NOT NULL,"
    " width INTEGER NOT NULL, height INTEGER NOT NULL, channels INTEGER NOT NULL, source TEXT,"
    " uploader BIGINT, created_at BIGINT NOT NULL, orientation INTEGER, camera_make TEXT,"
    " camera_model TEXT, taken_at BIGINT, latitude DOUBLE PRECISION, longitude DOUBLE PRECISION,"
    " altitude DOUBLE PRECISION, focal_length DOUBLE PRECISION, exif {{JSON}}, meta {{JSON}},"
    " phash BIGINT, dhash BIGINT, thumb_sha256 TEXT, UNIQUE (datalake_id, sha256));"
    "CREATE INDEX data_created ON data (datalake_id, created_at, id);"
    "CREATE INDEX data_filename ON data (datalake_id, filename, id);"
    "CREATE INDEX data_size ON data (datalake_id, size, id);"
    "CREATE INDEX data_width ON data (datalake_id, width, id);"
    "CREATE INDEX data_height ON data (datalake_id, height, id);"
    "CREATE TABLE tag (id {{ID}}, datalake_id BIGINT NOT NULL REFERENCES datalake(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, UNIQUE (datalake_id, name));"
    "CREATE TABLE data_tag (tag_id BIGINT NOT NULL REFERENCES tag(id) ON DELETE CASCADE,"
    " data_id BIGINT NOT NULL REFERENCES data(id) ON DELETE CASCADE, PRIMARY KEY (tag_id, data_id));"
    "CREATE INDEX data_tag_data ON data_tag (data_id);"
    "CREATE TABLE datalake_meta_key (datalake_id BIGINT NOT NULL REFERENCES datalake(id) ON DELETE CASCADE,"
    " key TEXT NOT NULL, PRIMARY KEY (datalake_id, key));";

static bool is_pg(db_conn *c) { return db_conn_driver(c) == DB_POSTGRES; }

static void ts(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    if (db_col_null(s, col)) {
        jw_null(w);
        return;
    }
    char buf[32];
    time_fmt_iso(db_col_i64(s, col), buf, sizeof buf);
    jw_str(w, buf);
}

static void opt_dbl(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    if (db_col_null(s, col))
        jw_null(w);
    else
        jw_dbl(w, db_col_dbl(s, col));
}

static void raw_json(jw *w, const char *k, db_stmt *s, int col, const char *dflt)
{
    jw_key(w, k);
    const char *v = db_col_text(s, col);
    if (v)
        jw_raw(w, v, db_col_len(s, col));
    else
        jw_raw(w, dflt, strlen(dflt));
}

/* --- datalakes ------------------------------------------------------------------ */

int datalake_create(db_conn *c, int64_t org, const char *name, const char *description,
                    int64_t *id, err *e)
{
    if (name_check("datalake name", name, 64, e))
        return -1;
    if (db_one_i64(c, e, id,
                   "INSERT INTO datalake (org_id, name, description, created_at)"
                   " VALUES ($1, $2, $3, $4) RETURNING id",
                   DBI(org), DBT(name), DBT(description), DBI(time_now_ms())) != 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT, "a datalake named '%s' already exists", name);
        return -1;
    }
    return 0;
}

int datalake_check(db_conn *c, int64_t org, int64_t id, err *e)
{
    int64_t x;
    if (db_one_i64(c, e, &x, "SELECT id FROM datalake WHERE id = $1 AND org_id = $2", DBI(id),
                   DBI(org)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "datalake %lld does not exist in this organization",
                    (long long)id);
        return -1;
    }
    return 0;
}

int datalake_find(db_conn *c, int64_t org, const char *name, int64_t *id, err *e)
{
    if (db_one_i64(c, e, id, "SELECT id FROM datalake WHERE org_id = $1 AND name = $2", DBI(org),
                   DBT(name)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "no datalake named '%.64s'", name);
        return -1;
    }
    return 0;
}

#define LAKE_COLS                                                                                  \
    "l.id, l.name, l.description, l.created_at,"                                                   \
    " (SELECT COUNT(*) FROM data d WHERE d.datalake_id = l.id),"                                   \
    " (SELECT COALESCE(SUM(d.size), 0) FROM data d WHERE d.datalake_id = l.id)"

static void write_lake(jw *w, db_stmt *s)
{
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kstr(w, "name", db_col_text(s, 1));
    jw_kstr(w, "description", db_col_text(s, 2));
    ts(w, "created_at", s, 3);
    jw_kint(w, "count", db_col_i64(s, 4));
    jw_kint(w, "bytes", db_col_i64(s, 5));
    jw_obj_end(w);
}

int datalake_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT " LAKE_COLS " FROM datalake l WHERE l.id = $1 AND l.org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        write_lake(w, s);
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "datalake %lld does not exist in this organization",
                       (long long)id);
    return rc < 0 ? -1 : 0;
}

int datalake_list(db_conn *c, int64_t org, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT " LAKE_COLS " FROM datalake l WHERE l.org_id = $1 ORDER BY l.name",
                          DBI(org));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW)
        write_lake(w, s);
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int datalake_update(db_conn *c, int64_t org, int64_t id, const char *name,
                    const char *description, err *e)
{
    if (name && name_check("datalake name", name, 64, e))
        return -1;
    int64_t n = db_run(c, e,
                       "UPDATE datalake SET name = COALESCE($1, name), description = COALESCE($2, description)"
                       " WHERE id = $3 AND org_id = $4",
                       DBT(name), DBT(description), DBI(id), DBI(org));
    if (n < 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT, "a datalake named '%s' already exists", name);
        return -1;
    }
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "datalake %lld does not exist in this organization",
                       (long long)id);
    return 0;
}

int datalake_delete(db_conn *c, int64_t org, int64_t id, err *e)
{
    int64_t n = db_run(c, e, "DELETE FROM datalake WHERE id = $1 AND org_id = $2", DBI(id), DBI(org));
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "datalake %lld does not exist in this organization",
                       (long long)id);
    return 0;
}

/* --- ingest ---------------------------------------------------------------------- */

void datalake_item_free(datalake_item *it)
{
    free(it->exif_json);
    it->exif_json = NULL;
}

int datalake_has(db_conn *c, int64_t lake, const char *sha, int64_t *data_id, err *e)
{
    int rc = db_one_i64(c, e, data_id, "SELECT id FROM data WHERE datalake_id = $1 AND sha256 = $2",
                        DBI(lake), DBT(sha));
    if (rc != 0 && e->code == ERR_NOT_FOUND) {
        *data_id = 0;
        return 0;
    }
    return rc;
}

/* BT.601 luma of RGB pixels into a new gray buffer. */
static uint8_t *to_gray(const image_pixels *px)
{
    uint8_t *g = malloc((size_t)px->width * px->height);
    if (!g)
        return NULL;
    for (uint32_t y = 0; y < px->height; y++) {
        const uint8_t *row = px->data + (size_t)y * px->stride;
        for (uint32_t x = 0; x < px->width; x++) {
            if (px->channels == 1) {
                g[(size_t)y * px->width + x] = row[x];
            } else {
                const uint8_t *p = row + 3 * x;
                g[(size_t)y * px->width + x] =
                    (uint8_t)((299 * p[0] + 587 * p[1] + 114 * p[2] + 500) / 1000);
            }
        }
    }
    return g;
}

int datalake_prepare(blob_store *bs, blob_writer *w, const datalake_limits *lim,
                     datalake_item *it, err *e)
{
    memset(it, 0, sizeof *it);
    blob_writer_digest(w, it->sha);
    it->size = blob_writer_size(w);
    if (it->size == 0) {
        blob_writer_abort(w);
        return err_set(e, ERR_UNPROCESSABLE, "the file is empty");
    }
    int fd = open(blob_writer_path(w), O_RDONLY | O_CLOEXEC);
    void *map = fd >= 0 ? mmap(NULL, (size_t)it->size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (fd >= 0)
        close(fd);
    if (map == MAP_FAILED) {
        blob_writer_abort(w);
        return err_set(e, ERR_IO, "cannot read the uploaded file back");
    }
    const uint8_t *data = map;
    size_t n = (size_t)it->size;
    image_limits il = {.max_pixels = lim && lim->max_pixels ? lim->max_pixels : 0};
    image_info info;
    image_exif ex = {0};
    image_pixels px = {0};
    uint8_t *jpeg = NULL, *gray = NULL;
    size_t jlen = 0;
    int rc = -1;
    if (image_probe_ex(data, n, &il, &info, e) != 0)
        goto out;
    if (info.needs_verify && image_verify(data, n, &il, &info, e) != 0)
        goto out;
    snprintf(it->format, sizeof it->format, "%s", image_format_name(info.format));
    it->width = info.width;
    it->height = info.height;
    it->channels = info.channels;
    it->orientation = info.orientation;
    if (image_exif_read(data, n, &ex, e) != 0)
        goto out;
    snprintf(it->make, sizeof it->make, "%s", ex.make);
    snprintf(it->model, sizeof it->model, "%s", ex.model);
    int64_t taken;
    if (ex.date_taken[0] && time_parse_iso(ex.date_taken, &taken) == 0)
        it->taken_at = taken;
    it->has_gps = ex.has_gps;
    it->latitude = ex.latitude;
    it->longitude = ex.longitude;
    it->has_altitude = ex.has_altitude;
    it->altitude = ex.altitude;
    it->focal_length = ex.focal_length;
    it->exif_json = ex.json;
    ex.json = NULL;
    /* one decode at thumbnail size gives the thumbnail and the hashes */
    uint32_t longest = info.width > info.height ? info.width : info.height;
    image_decode_opts dopt = {.channels = 3,
                              .target_side = longest > IMAGE_DEFAULT_THUMB_SIDE ? IMAGE_DEFAULT_THUMB_SIDE : 0,
                              .exact = longest > IMAGE_DEFAULT_THUMB_SIDE,
                              .limits = &il};
    if (image_decode(data, n, &dopt, &px, e) != 0) {
        err_prefix(e, "the image cannot be decoded: ");
        if (e->code != ERR_TOO_LARGE)
            e->code = ERR_UNPROCESSABLE;
        goto out;
    }
    if (image_encode_jpeg(&px, IMAGE_DEFAULT_THUMB_QUALITY, &jpeg, &jlen, e) != 0)
        goto out;
    gray = to_gray(&px);
    if (!gray) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    it->phash = image_phash_gray(gray, px.width, px.height, px.width);
    it->dhash = image_dhash_gray(gray, px.width, px.height, px.width);
    blob_ref tref;
    if (blob_put_derived(bs, jpeg, jlen, &tref, e) != 0)
        goto out;
    memcpy(it->thumb_sha, tref.sha, sizeof it->thumb_sha);
    rc = 0;
out:
    munmap(map, n);
    image_exif_free(&ex);
    image_pixels_free(&px);
    free(jpeg);
    free(gray);
    if (rc != 0) {
        blob_writer_abort(w);
        datalake_item_free(it);
        return -1;
    }
    blob_ref ref;
    if (blob_writer_commit(w, NULL, &ref, e) != 0) {
        datalake_item_free(it);
        return -1;
    }
    return 0;
}

/* Adds tags (creating them) to one item. Inside the caller's transaction. */
static int add_tags(db_conn *c, int64_t lake, int64_t data_id, const char *const *tags, int n,
                    err *e)
{
    for (int i = 0; i < n; i++) {
        if (db_run(c, e, "INSERT INTO tag (datalake_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                   DBI(lake), DBT(tags[i])) < 0)
            return -1;
        if (db_run(c, e,
                   "INSERT INTO data_tag (tag_id, data_id) SELECT id, $3 FROM tag"
                   " WHERE datalake_id = $1 AND name = $2 ON CONFLICT DO NOTHING",
                   DBI(lake), DBT(tags[i]), DBI(data_id)) < 0)
            return -1;
    }
    return 0;
}

static int check_tags(const char *const *tags, int n, err *e)
{
    if (n > DATALAKE_TAGS_MAX)
        return err_set(e, ERR_INVALID, "%d tags given; the limit is %d per request", n,
                       DATALAKE_TAGS_MAX);
    for (int i = 0; i < n; i++)
        if (name_check("tag", tags[i], DATALAKE_TAG_LEN, e))
            return -1;
    return 0;
}

/* Validates custom metadata: a JSON object of bounded size. */
static int check_meta(const char *meta, json_t **out, err *e)
{
    *out = NULL;
    if (!meta || !*meta)
        return 0;
    if (strlen(meta) > DATALAKE_META_MAX)
        return err_set(e, ERR_INVALID, "metadata is %zu bytes; the limit is %d", strlen(meta),
                       DATALAKE_META_MAX);
    json_error_t je;
    json_t *j = json_loads(meta, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return err_set(e, ERR_INVALID, "metadata is not valid JSON: %s (column %d)", je.text,
                       je.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return err_set(e, ERR_INVALID, "metadata must be a JSON object like {\"weather\": \"rain\"}");
    }
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        if (!*k || strlen(k) > 128 || !utf8_valid(k, strlen(k))) {
            json_decref(j);
            return err_set(e, ERR_INVALID, "metadata keys must be 1 to 128 bytes of UTF-8");
        }
    }
    *out = j;
    return 0;
}

int datalake_insert(db_conn *c, int64_t org, int64_t lake, datalake_item *it, const char *filename,
                    const char *source, const char *meta, const char *const *tags, int ntags,
                    int64_t uploader, int64_t *data_id, bool *duplicate, err *e)
{
    if (check_tags(tags, ntags, e))
        return -1;
    if (!filename || !*filename)
        filename = it->sha;
    if (name_check("filename", filename, DATALAKE_FILENAME_MAX, e))
        return -1;
    if (source && name_check("source", source, DATALAKE_SOURCE_MAX, e))
        return -1;
    json_t *mj;
    if (check_meta(meta, &mj, e))
        return -1;
    char *meta_text = mj ? json_dumps(mj, JSON_COMPACT) : NULL;
    int rc = -1;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (db_begin(c, e))
            break;
        int64_t id = 0;
        if (datalake_has(c, lake, it->sha, &id, e))
            goto rollback;
        *duplicate = id != 0;
        if (!id) {
            db_stmt *s = db_query(
                c, e,
                "INSERT INTO data (datalake_id, sha256, filename, size, format, width, height,"
                " channels, source, uploader, created_at, orientation, camera_make, camera_model,"
                " taken_at, latitude, longitude, altitude, focal_length, exif, meta, phash, dhash,"
                " thumb_sha256) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
                " $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24) RETURNING id",
                DBI(lake), DBT(it->sha), DBT(filename), DBI(it->size), DBT(it->format),
                DBI(it->width), DBI(it->height), DBI(it->channels), DBT(source),
                uploader ? DBI(uploader) : DBNULL, DBI(time_now_ms()),
                it->orientation ? DBI(it->orientation) : DBNULL, DBT(it->make[0] ? it->make : NULL),
                DBT(it->model[0] ? it->model : NULL), it->taken_at ? DBI(it->taken_at) : DBNULL,
                it->has_gps ? DBD(it->latitude) : DBNULL, it->has_gps ? DBD(it->longitude) : DBNULL,
                it->has_altitude ? DBD(it->altitude) : DBNULL,
                it->focal_length > 0 ? DBD(it->focal_length) : DBNULL,
                DBT(it->exif_json ? it->exif_json : "{}"), DBT(meta_text ? meta_text : "{}"),
                DBI((int64_t)it->phash), DBI((int64_t)it->dhash), DBT(it->thumb_sha));
            if (!s)
                goto rollback;
            int src = db_step(s, e);
            if (src == DB_ROW)
                id = db_col_i64(s, 0);
            while (src == DB_ROW)
                src = db_step(s, e);
            db_done(s);
            if (src < 0) {
                if (db_err_is_unique(c) && attempt == 0) {
                    db_rollback(c); /* a concurrent upload of the same content won */
                    continue;
                }
                goto rollback;
            }
            if (files_ref(c, org, it->sha, it->size, e) || files_ref(c, org, it->thumb_sha, 0, e))
                goto rollback;
            const char *k;
            json_t *v;
            json_object_foreach(mj, k, v)
            {
                if (db_run(c, e,
                           "INSERT INTO datalake_meta_key (datalake_id, key) VALUES ($1, $2)"
                           " ON CONFLICT DO NOTHING",
                           DBI(lake), DBT(k)) < 0)
                    goto rollback;
            }
        }
        if (add_tags(c, lake, id, tags, ntags, e))
            goto rollback;
        if (db_commit(c, e))
            break;
        *data_id = id;
        it->duplicate_content = *duplicate;
        rc = 0;
        break;
    rollback:
        db_rollback(c);
        break;
    }
    free(meta_text);
    json_decref(mj);
    return rc;
}

/* --- items ------------------------------------------------------------------------ */

static const char *tags_sql(db_conn *c)
{
    return is_pg(c) ? "(SELECT string_agg(t.name, chr(31)) FROM data_tag dt JOIN tag t ON t.id = dt.tag_id"
                      " WHERE dt.data_id = data.id)"
                    : "(SELECT group_concat(t.name, char(31)) FROM data_tag dt JOIN tag t ON t.id = dt.tag_id"
                      " WHERE dt.data_id = data.id)";
}

#define DATA_COLS                                                                                  \
    "data.id, data.datalake_id, data.sha256, data.filename, data.size, data.format, data.width,"   \
    " data.height, data.channels, data.source, data.uploader, data.created_at, data.orientation,"  \
    " data.camera_make, data.camera_model, data.taken_at, data.latitude, data.longitude,"          \
    " data.altitude, data.focal_length, data.meta, data.phash, "
/* column 22: tags; 23: exif (detail only) */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void write_tags(jw *w, const char *agg)
{
    jw_key(w, "tags");
    jw_arr(w);
    if (agg && *agg) {
        char *copy = strdup(agg);
        const char *parts[512];
        int n = 0;
        for (char *p = copy, *sep; p && n < 512; p = sep ? sep + 1 : NULL) {
            sep = strchr(p, 31);
            if (sep)
                *sep = 0;
            parts[n++] = p;
        }
        qsort(parts, (size_t)n, sizeof *parts, cmp_str);
        for (int i = 0; i < n; i++)
            jw_str(w, parts[i]);
        free(copy);
    }
    jw_arr_end(w);
}

static void write_item(jw *w, db_stmt *s, bool detail)
{
    jw_obj(w);
    int64_t id = db_col_i64(s, 0);
    jw_kint(w, "id", id);
    jw_kint(w, "datalake_id", db_col_i64(s, 1));
    jw_kstr(w, "sha256", db_col_text(s, 2));
    jw_kstr(w, "filename", db_col_text(s, 3));
    jw_kint(w, "size", db_col_i64(s, 4));
    jw_kstr(w, "format", db_col_text(s, 5));
    jw_kint(w, "width", db_col_i64(s, 6));
    jw_kint(w, "height", db_col_i64(s, 7));
    jw_kint(w, "channels", db_col_i64(s, 8));
    jw_kstr(w, "source", db_col_text(s, 9));
    jw_key(w, "uploader");
    if (db_col_null(s, 10))
        jw_null(w);
    else
        jw_int(w, db_col_i64(s, 10));
    ts(w, "created_at", s, 11);
    jw_key(w, "camera");
    jw_obj(w);
    jw_key(w, "orientation");
    if (db_col_null(s, 12))
        jw_null(w);
    else
        jw_int(w, db_col_i64(s, 12));
    jw_kstr(w, "make", db_col_text(s, 13));
    jw_kstr(w, "model", db_col_text(s, 14));
    ts(w, "taken_at", s, 15);
    opt_dbl(w, "latitude", s, 16);
    opt_dbl(w, "longitude", s, 17);
    opt_dbl(w, "altitude", s, 18);
    opt_dbl(w, "focal_length", s, 19);
    jw_obj_end(w);
    raw_json(w, "meta", s, 20, "{}");
    char ph[17];
    snprintf(ph, sizeof ph, "%016llx", (unsigned long long)db_col_i64(s, 21));
    jw_kstr(w, "phash", ph);
    write_tags(w, db_col_text(s, 22));
    if (detail)
        raw_json(w, "exif", s, 23, "{}");
    char url[80];
    snprintf(url, sizeof url, "/api/v1/data/%lld/thumbnail", (long long)id);
    jw_kstr(w, "thumbnail_url", url);
    snprintf(url, sizeof url, "/api/v1/data/%lld/original", (long long)id);
    jw_kstr(w, "original_url", url);
    jw_obj_end(w);
}

int datalake_data_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e)
{
    sbuf sql = SBUF_INIT;
    sbuf_printf(&sql, "SELECT " DATA_COLS "%s, data.exif FROM data JOIN datalake l ON l.id = data.datalake_id"
                      " WHERE data.id = $1 AND l.org_id = $2",
                tags_sql(c));
    db_stmt *s = db_query(c, e, sbuf_cstr(&sql), DBI(id), DBI(org));
    sbuf_free(&sql);
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        write_item(w, s, true);
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "data %lld does not exist in this organization",
                       (long long)id);
    return rc < 0 ? -1 : 0;
}

int datalake_data_blobs(db_conn *c, int64_t org, int64_t id, char sha[65], char thumb[65],
                        char format[8], char *filename, size_t fn_size, int64_t *size, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT data.sha256, data.thumb_sha256, data.format, data.filename, data.size"
                          " FROM data JOIN datalake l ON l.id = data.datalake_id"
                          " WHERE data.id = $1 AND l.org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        snprintf(sha, 65, "%s", db_col_text(s, 0));
        snprintf(thumb, 65, "%s", db_col_text(s, 1) ? db_col_text(s, 1) : "");
        snprintf(format, 8, "%s", db_col_text(s, 2));
        snprintf(filename, fn_size, "%s", db_col_text(s, 3));
        *size = db_col_i64(s, 4);
    }
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "data %lld does not exist in this organization",
                       (long long)id);
    return rc < 0 ? -1 : 0;
}

int datalake_data_update(db_conn *c, int64_t org, int64_t id, json_t *patch, err *e)
{
    const char *filename = NULL, *source = NULL;
    json_t *meta = json_object_get(patch, "meta");
    json_t *fv = json_object_get(patch, "filename"), *sv = json_object_get(patch, "source");
    if (fv && !json_is_string(fv))
        return err_set(e, ERR_INVALID, "field 'filename' must be a string");
    if (sv && !json_is_string(sv) && !json_is_null(sv))
        return err_set(e, ERR_INVALID, "field 'source' must be a string or null");
    filename = json_string_value(fv);
    source = json_string_value(sv);
    if (filename && name_check("filename", filename, DATALAKE_FILENAME_MAX, e))
        return -1;
    if (source && name_check("source", source, DATALAKE_SOURCE_MAX, e))
        return -1;
    char *meta_text = NULL;
    if (meta) {
        if (!json_is_object(meta))
            return err_set(e, ERR_INVALID, "field 'meta' must be a JSON object");
        meta_text = json_dumps(meta, JSON_COMPACT);
        json_t *chk;
        if (check_meta(meta_text, &chk, e)) {
            free(meta_text);
            return -1;
        }
        json_decref(chk);
    }
    int rc = -1;
    if (db_begin(c, e))
        goto out;
    int64_t lake = 0;
    if (db_one_i64(c, e, &lake,
                   "SELECT data.datalake_id FROM data JOIN datalake l ON l.id = data.datalake_id"
                   " WHERE data.id = $1 AND l.org_id = $2",
                   DBI(id), DBI(org)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "data %lld does not exist in this organization",
                    (long long)id);
        db_rollback(c);
        goto out;
    }
    if (db_run(c, e,
               "UPDATE data SET filename = COALESCE($1, filename),"
               " source = CASE WHEN $2 = 1 THEN $3 ELSE source END,"
               " meta = COALESCE($4, meta) WHERE id = $5",
               DBT(filename), DBI(sv ? 1 : 0), DBT(source), DBT(meta_text), DBI(id)) < 0) {
        db_rollback(c);
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v)
    {
        if (db_run(c, e, "INSERT INTO datalake_meta_key (datalake_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                   DBI(lake), DBT(k)) < 0) {
            db_rollback(c);
            goto out;
        }
    }
    rc = db_commit(c, e);
out:
    free(meta_text);
    return rc;
}

/* --- search ----------------------------------------------------------------------- */

/* similar(ID) or similar(ID, MAX_DISTANCE): perceptual-hash neighbours of an
 * item in the same datalake (default distance 8 of 64 bits). */
static int similar_compile(query_emit *em, const query_pred *p, void *ud, err *e)
{
    (void)ud;
    if (p->op != QOP_CALL || p->nvalues < 1 || p->nvalues > 2)
        return err_set(e, ERR_INVALID,
                       "similar takes an item id and an optional distance: similar(123) or "
                       "similar(123, 10), at column %u",
                       p->col);
    for (size_t i = 0; i < p->nvalues; i++)
        if (p->values[i].type != QV_INT || p->values[i].i < 0)
            return err_set(e, ERR_INVALID,
                           "similar(...) takes whole numbers; got something else at column %u",
                           p->values[i].col);
    int64_t dist = p->nvalues == 2 ? p->values[1].i : 8;
    if (dist > 64)
        return err_set(e, ERR_INVALID, "a hash distance is at most 64 (column %u)", p->values[1].col);
    bool pg = query_emit_dialect(em) == QUERY_POSTGRES;
    query_emit_sql(em, pg ? "(bit_count(int8send(data.phash # (SELECT s.phash FROM data s WHERE s.id = "
                          : "(cvops_hamming(data.phash, (SELECT s.phash FROM data s WHERE s.id = ");
    query_emit_int(em, p->values[0].i);
    query_emit_sql(em, pg ? " AND s.datalake_id = data.datalake_id))) <= "
                          : " AND s.datalake_id = data.datalake_id)) <= ");
    query_emit_int(em, dist);
    query_emit_sql(em, ")");
    return 0;
}

static const query_field data_fields[] = {
    {"id", QUERY_INT, "data.id", NULL, NULL, NULL, "the item's id"},
    {"filename", QUERY_TEXT, "data.filename", NULL, NULL, NULL, "file name as uploaded; filename ~ \"*.jpg\""},
    {"size", QUERY_INT, "data.size", NULL, NULL, NULL, "bytes; size < 2MB"},
    {"format", QUERY_TEXT, "data.format", NULL, NULL, NULL, "jpeg, png, webp, tiff, bmp"},
    {"width", QUERY_INT, "data.width", NULL, NULL, NULL, "pixels, as displayed"},
    {"height", QUERY_INT, "data.height", NULL, NULL, NULL, "pixels, as displayed"},
    {"channels", QUERY_INT, "data.channels", NULL, NULL, NULL, "1 gray, 3 colour, 4 with alpha"},
    {"source", QUERY_TEXT, "data.source", NULL, NULL, NULL, "where the image came from"},
    {"created", QUERY_TIME, "data.created_at", NULL, NULL, NULL, "upload time; created > \"2026-01-01\""},
    {"uploader", QUERY_INT, "data.uploader", NULL, NULL, NULL, "user id of the uploader"},
    {"sha256", QUERY_TEXT, "data.sha256", NULL, NULL, NULL, "content hash"},
    {"taken", QUERY_TIME, "data.taken_at", NULL, NULL, NULL, "EXIF date taken"},
    {"camera_make", QUERY_TEXT, "data.camera_make", NULL, NULL, NULL, "EXIF camera make"},
    {"camera_model", QUERY_TEXT, "data.camera_model", NULL, NULL, NULL, "EXIF camera model"},
    {"orientation", QUERY_INT, "data.orientation", NULL, NULL, NULL, "EXIF orientation 1..8"},
    {"latitude", QUERY_FLOAT, "data.latitude", NULL, NULL, NULL, "GPS latitude, degrees"},
    {"longitude", QUERY_FLOAT, "data.longitude", NULL, NULL, NULL, "GPS longitude, degrees"},
    {"altitude", QUERY_FLOAT, "data.altitude", NULL, NULL, NULL, "GPS altitude, metres"},
    {"focal_length", QUERY_FLOAT, "data.focal_length", NULL, NULL, NULL, "EXIF focal length, mm"},
    {"tag", QUERY_TAG,
     "data.id IN (SELECT dt.data_id FROM data_tag dt JOIN tag t ON t.id = dt.tag_id WHERE {})",
     "t.name", NULL, NULL, "tag = \"night\", tag in (\"a\", \"b\")"},
    {"exif", QUERY_JSON, "data.exif", NULL, NULL, NULL, "any EXIF tag: exif.make = \"Canon\""},
    {"meta", QUERY_JSON, "data.meta", NULL, NULL, NULL, "custom metadata: meta.weather = \"rain\""},
    {"similar", QUERY_CUSTOM, NULL, NULL, similar_compile, NULL,
     "near-duplicates of an item: similar(123) or similar(123, 10)"},
};

static const query_schema data_schema = {data_fields, sizeof data_fields / sizeof *data_fields};

/* The same fields with `tag` as a correlated EXISTS: for the windowed page
 * queries, which test a few thousand rows one by one. The IN form above
 * makes the database collect every item of the tag first (100,000 of a
 * million in the benchmark: 107 ms, against 9 ms row by row); counts and
 * the unwindowed pass keep it, where it is the fast plan. */
static query_field data_fields_rows[sizeof data_fields / sizeof *data_fields];
static query_schema data_schema_rows;
static pthread_once_t rows_once = PTHREAD_ONCE_INIT;

static void rows_schema_init(void)
{
    memcpy(data_fields_rows, data_fields, sizeof data_fields);
    for (size_t i = 0; i < sizeof data_fields / sizeof *data_fields; i++)
        if (data_fields_rows[i].type == QUERY_TAG)
            data_fields_rows[i].sql = "EXISTS (SELECT 1 FROM data_tag dt JOIN tag t ON t.id = dt.tag_id"
                                      " WHERE dt.data_id = data.id AND {})";
    data_schema_rows = (query_schema){data_fields_rows, sizeof data_fields / sizeof *data_fields};
}

const query_schema *datalake_schema(void) { return &data_schema; }

static db_val qparam(const query_param *p)
{
    switch (p->type) {
    case QUERY_P_INT: return DBI(p->i);
    case QUERY_P_FLOAT: return DBD(p->f);
    case QUERY_P_TEXT: return DBTN(p->s, p->len);
    default: return DBNULL;
    }
}

/* Compiles q into out (where + params from $first); rows: tags tested row by
 * row (see data_schema_rows). */
static int compile_q_as(db_conn *c, const char *q, int first, bool rows, query_sql *out, err *e)
{
    const char *text = q ? q : "";
    if (rows)
        pthread_once(&rows_once, rows_schema_init);
    if (query_to_sql(text, strlen(text), rows ? &data_schema_rows : &data_schema, NULL,
                     is_pg(c) ? QUERY_POSTGRES : QUERY_SQLITE, first, out, e) != 0) {
        if (e->code == ERR_NONE)
            e->code = ERR_INVALID;
        return -1;
    }
    return 0;
}

static int compile_q(db_conn *c, const char *q, int first, query_sql *out, err *e)
{
    return compile_q_as(c, q, first, false, out, e);
}

typedef struct {
    const char *name, *col;
    bool text;
} order_col;

static const order_col orders[] = {{"created", "data.created_at", false},
                                   {"filename", "data.filename", true},
                                   {"size", "data.size", false},
                                   {"width", "data.width", false},
                                   {"height", "data.height", false}};

static int parse_order(const char *s, const order_col **col, bool *desc, err *e)
{
    *desc = true;
    *col = &orders[0];
    if (!s || !*s)
        return 0;
    *desc = s[0] == '-';
    const char *name = *desc || s[0] == '+' ? s + 1 : s;
    for (size_t i = 0; i < sizeof orders / sizeof *orders; i++)
        if (strcmp(name, orders[i].name) == 0) {
            *col = &orders[i];
            return 0;
        }
    return err_set(e, ERR_INVALID,
                   "order_by '%.40s' is not one of created, filename, size, width, height (prefix "
                   "- for descending)",
                   s);
}

int datalake_search(db_conn *c, int64_t lake, const datalake_page *p, jw *w, err *e)
{
    const order_col *oc;
    bool desc;
    if (parse_order(p->order_by, &oc, &desc, e))
        return -1;
    query_sql qs = {0}, qr = {0}; /* qr: the windows' form of the same query */
    if (compile_q(c, p->q, 2, &qs, e))
        return -1;
    if (compile_q_as(c, p->q, 2, true, &qr, e)) {
        query_sql_free(&qs);
        return -1;
    }
    int next = qs.next_index;
    /* keyset: the cursor is [sort value, id] of the last row, JSON in hex */
    json_t *cur = NULL;
    if (p->cursor && *p->cursor) {
        size_t n = strlen(p->cursor);
        unsigned char *raw = malloc(n / 2 + 1);
        if (n % 2 == 0 && n < 4096 && raw && hex_decode(p->cursor, n, raw) == 0) {
            raw[n / 2] = 0;
            cur = json_loads((char *)raw, 0, NULL);
        }
        free(raw);
        if (!json_is_array(cur) || json_array_size(cur) != 2 ||
            !json_is_integer(json_array_get(cur, 1)) ||
            !(oc->text ? json_is_string(json_array_get(cur, 0))
                       : json_is_integer(json_array_get(cur, 0)))) {
            json_decref(cur);
            query_sql_free(&qs);
            query_sql_free(&qr);
            return err_set(e, ERR_INVALID,
                           "the cursor is not valid for this order; pass the next_cursor of the "
                           "previous page with the same order_by");
        }
    }
    /* Plan: a search is usually wide (most queries match a good share of
     * the datalake), where walking the sort index and filtering until a
     * page is full is fastest; but for a narrow query that walk reads the
     * whole table. So the page is first looked for in growing windows of
     * the sort order (the first W rows after the cursor, filtered): if a
     * window yields a full page, it is exactly the right page. Otherwise
     * the plain query runs and the database picks its own plan (an index
     * on the tag, say). */
    static const int64_t windows[] = {1000, 5000, 25000, 0};
    const char *cmp = desc ? "<" : ">";
    sbuf sql = SBUF_INIT;
    db_stmt *s = NULL;
    int rc = -1, st = DB_DONE;
    char *last_cursor = NULL;
    int sort_col = oc == &orders[0] ? 11 : oc == &orders[1] ? 3 : oc == &orders[2] ? 4
                   : oc == &orders[3] ? 6 : 7;
    sbuf page = SBUF_INIT;
    for (size_t wi = 0; wi < sizeof windows / sizeof *windows; wi++) {
        int64_t win = windows[wi];
        int next2 = next, kv = 0, kid = 0;
        char keyset[300] = "";
        if (cur) {
            kv = next2++;
            kid = next2++;
            snprintf(keyset, sizeof keyset, " AND (%s %s $%d OR (%s = $%d AND data.id %s $%d))",
                     oc->col, cmp, kv, oc->col, kv, cmp, kid);
        }
        int kwin = win ? next2++ : 0;
        int klimit = next2++;
        sbuf_reset(&sql);
        if (win)
            sbuf_printf(&sql,
                        "SELECT " DATA_COLS "%s FROM (SELECT * FROM data WHERE data.datalake_id = $1%s"
                        " ORDER BY %s %s, data.id %s LIMIT $%d) data WHERE (%s)",
                        tags_sql(c), keyset, oc->col, desc ? "DESC" : "ASC", desc ? "DESC" : "ASC",
                        kwin, qr.where);
        else
            sbuf_printf(&sql, "SELECT " DATA_COLS "%s FROM data WHERE data.datalake_id = $1 AND (%s)%s",
                        tags_sql(c), qs.where, keyset);
        sbuf_printf(&sql, " ORDER BY %s %s, data.id %s LIMIT $%d", oc->col, desc ? "DESC" : "ASC",
                    desc ? "DESC" : "ASC", klimit);
        s = db_prepare(c, sbuf_cstr(&sql), e);
        if (!s)
            goto out;
        db_bind(s, 1, DBI(lake));
        for (size_t i = 0; i < qs.nparams; i++)
            db_bind(s, 2 + (int)i, qparam(&qs.params[i]));
        if (cur) {
            json_t *v = json_array_get(cur, 0);
            db_bind(s, kv, oc->text ? DBT(json_string_value(v)) : DBI(json_integer_value(v)));
            db_bind(s, kid, DBI(json_integer_value(json_array_get(cur, 1))));
        }
        if (win)
            db_bind(s, kwin, DBI(win));
        db_bind(s, klimit, DBI(p->limit + 1));
        int n = 0;
        jw pw;
        sbuf_reset(&page);
        jw_init(&pw, &page);
        jw_arr(&pw);
        free(last_cursor);
        last_cursor = NULL;
        while ((st = db_step(s, e)) == DB_ROW) {
            if (n == p->limit)
                break;
            write_item(&pw, s, false);
            n++;
            json_t *k = json_pack("[o, I]",
                                  oc->text ? json_string(db_col_text(s, sort_col))
                                           : json_integer(db_col_i64(s, sort_col)),
                                  (json_int_t)db_col_i64(s, 0));
            char *t = json_dumps(k, JSON_COMPACT);
            json_decref(k);
            free(last_cursor);
            last_cursor = malloc(strlen(t) * 2 + 1);
            hex_encode((unsigned char *)t, strlen(t), last_cursor);
            free(t);
        }
        jw_arr_end(&pw);
        db_done(s);
        s = NULL;
        if (st < 0)
            goto out;
        /* a window that gave a full page (plus one) is exact; so is the last pass */
        if (st == DB_ROW || !win)
            break;
    }
    jw_obj(w);
    jw_key(w, "items");
    jw_raw(w, page.p, page.len);
    jw_key(w, "next_cursor");
    if (st == DB_ROW && last_cursor)
        jw_str(w, last_cursor);
    else
        jw_null(w);
    jw_obj_end(w);
    rc = 0;
out:
    free(last_cursor);
    sbuf_free(&page);
    sbuf_free(&sql);
    query_sql_free(&qs);
    query_sql_free(&qr);
    json_decref(cur);
    return rc;
}

/* A count whose query requires a tag (`tag = "night" and ...`) is driven by
 * that tag: its index rows joined to data, the rest of the query tested on
 * each. Without it the database first collects the tag's items into a
 * temporary list and then probes each (1M items, a tag on 100,000 of them:
 * about 30% more time). CROSS JOIN fixes SQLite's order; PostgreSQL plans
 * it as any join. */
int datalake_count(db_conn *c, int64_t lake, const char *q, int64_t *count, err *e)
{
    const char *text = q ? q : "";
    query *parsed;
    if (query_parse(text, strlen(text), &data_schema, NULL, &parsed, e) != 0) {
        if (e->code == ERR_NONE)
            e->code = ERR_INVALID;
        return -1;
    }
    const char *tag = NULL;
    size_t tag_len = 0;
    bool drive = query_take_tag_eq(parsed, &tag, &tag_len);
    query_sql qs = {0};
    int rc = query_compile(parsed, is_pg(c) ? QUERY_POSTGRES : QUERY_SQLITE, drive ? 3 : 2, &qs, e);
    sbuf sql = SBUF_INIT;
    if (drive)
        sbuf_printf(&sql,
                    "SELECT COUNT(*) FROM data_tag dt CROSS JOIN data WHERE data.id = dt.data_id"
                    " AND dt.tag_id = (SELECT t.id FROM tag t WHERE t.datalake_id = $1 AND t.name = $2)"
                    " AND data.datalake_id = $1 AND (%s)",
                    rc ? "" : qs.where);
    else
        sbuf_printf(&sql, "SELECT COUNT(*) FROM data WHERE data.datalake_id = $1 AND (%s)",
                    rc ? "" : qs.where);
    db_stmt *s = rc ? NULL : db_prepare(c, sbuf_cstr(&sql), e);
    rc = -1;
    if (s) {
        db_bind(s, 1, DBI(lake));
        if (drive)
            db_bind(s, 2, DBTN(tag, tag_len));
        for (size_t i = 0; i < qs.nparams; i++)
            db_bind(s, (drive ? 3 : 2) + (int)i, qparam(&qs.params[i]));
        if (db_step(s, e) == DB_ROW) {
            *count = db_col_i64(s, 0);
            rc = 0;
        }
        db_done(s);
    }
    sbuf_free(&sql);
    query_sql_free(&qs);
    query_free(parsed);
    return rc;
}

int datalake_similar(db_conn *c, int64_t org, int64_t id, int max_distance, int64_t limit, jw *w,
                     err *e)
{
    int64_t lake;
    if (db_one_i64(c, e, &lake,
                   "SELECT data.datalake_id FROM data JOIN datalake l ON l.id = data.datalake_id"
                   " WHERE data.id = $1 AND l.org_id = $2",
                   DBI(id), DBI(org)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "data %lld does not exist in this organization",
                    (long long)id);
        return -1;
    }
    const char *dist = is_pg(c) ? "bit_count(int8send(data.phash # (SELECT phash FROM data WHERE id = $2)))"
                                : "cvops_hamming(data.phash, (SELECT phash FROM data WHERE id = $2))";
    sbuf sql = SBUF_INIT;
    sbuf_printf(&sql,
                "SELECT " DATA_COLS "%s, %s FROM data WHERE data.datalake_id = $1 AND data.id <> $2"
                " AND %s <= $3 ORDER BY %s, data.id LIMIT $4",
                tags_sql(c), dist, dist, dist);
    db_stmt *s = db_query(c, e, sbuf_cstr(&sql), DBI(lake), DBI(id), DBI(max_distance), DBI(limit));
    sbuf_free(&sql);
    if (!s)
        return -1;
    int rc;
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        /* the item, then its distance as one more field */
        sbuf tmp = SBUF_INIT;
        jw iw;
        jw_init(&iw, &tmp);
        write_item(&iw, s, false);
        tmp.len--; /* drop the closing brace */
        sbuf_printf(&tmp, ",\"distance\":%lld}", (long long)db_col_i64(s, 23));
        jw_raw(w, tmp.p, tmp.len);
        sbuf_free(&tmp);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

/* --- bulk ------------------------------------------------------------------------ */

/* Writes the selection as SQL into sql (params from *next) and binds later. */
typedef struct {
    query_sql qs;
    char *ids_json;
    int ids_param;
    bool has_q;
} sel_sql;

static int selection(db_conn *c, const datalake_sel *sel, int first, sbuf *sql, sel_sql *ss,
                     err *e)
{
    memset(ss, 0, sizeof *ss);
    if (sel->ids) {
        if (!json_is_array(sel->ids) || json_array_size(sel->ids) == 0)
            return err_set(e, ERR_INVALID, "field 'ids' must be a non-empty array of item ids");
        if (json_array_size(sel->ids) > DATALAKE_IDS_MAX)
            return err_set(e, ERR_INVALID, "%zu ids given; the limit is %d per request",
                           json_array_size(sel->ids), DATALAKE_IDS_MAX);
        size_t i;
        json_t *v;
        json_array_foreach(sel->ids, i, v) if (!json_is_integer(v) || json_integer_value(v) <= 0)
            return err_set(e, ERR_INVALID, "ids[%zu] is not an item id (a positive whole number)", i);
        ss->ids_json = json_dumps(sel->ids, JSON_COMPACT);
        ss->ids_param = first;
        sbuf_printf(sql, is_pg(c) ? "data.id IN (SELECT (jsonb_array_elements_text($%d::jsonb))::bigint)"
                                  : "data.id IN (SELECT value FROM json_each($%d))",
                    first);
        return first + 1;
    }
    if (!sel->q)
        return err_set(e, ERR_INVALID,
                       "say which items: give 'ids' (a list) or 'q' (a query; \"\" for all)");
    if (compile_q(c, sel->q, first, &ss->qs, e))
        return -1;
    ss->has_q = true;
    sbuf_printf(sql, "(%s)", ss->qs.where);
    return ss->qs.next_index;
}

static void sel_bind(db_stmt *s, sel_sql *ss, int first)
{
    if (ss->ids_json)
        db_bind(s, ss->ids_param, DBT(ss->ids_json));
    for (size_t i = 0; ss->has_q && i < ss->qs.nparams; i++)
        db_bind(s, first + (int)i, qparam(&ss->qs.params[i]));
}

static void sel_free(sel_sql *ss)
{
    free(ss->ids_json);
    if (ss->has_q)
        query_sql_free(&ss->qs);
}

int datalake_tag(db_conn *c, int64_t lake, const datalake_sel *sel, const char *const *add,
                 int nadd, const char *const *remove, int nremove, int64_t *changed, err *e)
{
    if (check_tags(add, nadd, e) || check_tags(remove, nremove, e))
        return -1;
    if (nadd + nremove == 0)
        return err_set(e, ERR_INVALID, "give tags to 'add' and/or 'remove'");
    *changed = 0;
    /* $1 lake, $2 tag name, selection from $3 */
    sbuf add_sql = SBUF_INIT, rm_sql = SBUF_INIT, where = SBUF_INIT;
    sel_sql ss;
    int rc = -1;
    if (selection(c, sel, 3, &where, &ss, e) < 0)
        goto out;
    sbuf_printf(&add_sql,
                "INSERT INTO data_tag (tag_id, data_id) SELECT (SELECT id FROM tag WHERE datalake_id = $1"
                " AND name = $2), data.id FROM data WHERE data.datalake_id = $1 AND %s"
                " ON CONFLICT DO NOTHING",
                sbuf_cstr(&where));
    sbuf_printf(&rm_sql,
                "DELETE FROM data_tag WHERE tag_id = (SELECT id FROM tag WHERE datalake_id = $1 AND name = $2)"
                " AND data_id IN (SELECT data.id FROM data WHERE data.datalake_id = $1 AND %s)",
                sbuf_cstr(&where));
    if (db_begin(c, e))
        goto out;
    for (int pass = 0; pass < 2; pass++) {
        const char *const *names = pass == 0 ? add : remove;
        int n = pass == 0 ? nadd : nremove;
        for (int i = 0; i < n; i++) {
            if (pass == 0 &&
                db_run(c, e, "INSERT INTO tag (datalake_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                       DBI(lake), DBT(names[i])) < 0)
                goto rollback;
            db_stmt *s = db_prepare(c, sbuf_cstr(pass == 0 ? &add_sql : &rm_sql), e);
            if (!s)
                goto rollback;
            db_bind(s, 1, DBI(lake));
            db_bind(s, 2, DBT(names[i]));
            sel_bind(s, &ss, 3);
            int st;
            while ((st = db_step(s, e)) == DB_ROW)
                ;
            if (st == DB_DONE)
                *changed += db_changes(s);
            db_done(s);
            if (st < 0)
                goto rollback;
        }
    }
    rc = db_commit(c, e);
    goto out;
rollback:
    db_rollback(c);
out:
    sel_free(&ss);
    sbuf_free(&add_sql);
    sbuf_free(&rm_sql);
    sbuf_free(&where);
    return rc;
}

int datalake_delete_data(db_conn *c, int64_t lake, const datalake_sel *sel, int64_t *deleted,
                         err *e)
{
    sbuf sql = SBUF_INIT, where = SBUF_INIT;
    sel_sql ss;
    int rc = -1;
    if (selection(c, sel, 2, &where, &ss, e) < 0)
        goto out;
    /* Datasets reference items (src/dataset): an item a locked dataset
     * version uses cannot go; unlocked versions just lose the asset. The
     * check and the delete share a transaction. */
    sbuf_printf(&sql,
                "SELECT data.id, data.filename, ds.name, v.name FROM data JOIN asset a ON"
                " a.data_id = data.id JOIN dataset_version v ON v.id = a.version_id AND v.locked = 1"
                " JOIN dataset ds ON ds.id = v.dataset_id WHERE data.datalake_id = $1 AND %s LIMIT 1",
                sbuf_cstr(&where));
    if (db_begin(c, e))
        goto out;
    db_stmt *s = db_prepare(c, sbuf_cstr(&sql), e);
    if (!s)
        goto rollback;
    db_bind(s, 1, DBI(lake));
    sel_bind(s, &ss, 2);
    int st = db_step(s, e);
    if (st == DB_ROW)
        err_set(e, ERR_CONFLICT,
                "item %lld ('%s') is used by the locked dataset version '%s/%s'; unlock the "
                "version (or remove the asset from it) before deleting the item",
                (long long)db_col_i64(s, 0), db_col_text(s, 1), db_col_text(s, 2),
                db_col_text(s, 3));
    db_done(s);
    if (st != DB_DONE)
        goto rollback;
    sbuf_reset(&sql);
    sbuf_printf(&sql, "DELETE FROM data WHERE data.datalake_id = $1 AND %s", sbuf_cstr(&where));
    s = db_prepare(c, sbuf_cstr(&sql), e);
    if (!s)
        goto rollback;
    db_bind(s, 1, DBI(lake));
    sel_bind(s, &ss, 2);
    while ((st = db_step(s, e)) == DB_ROW)
        ;
    if (st == DB_DONE)
        *deleted = db_changes(s);
    db_done(s);
    if (st != DB_DONE)
        goto rollback;
    rc = db_commit(c, e);
    goto out;
rollback:
    db_rollback(c);
out:
    sel_free(&ss);
    sbuf_free(&sql);
    sbuf_free(&where);
    return rc;
}

int datalake_lookup(db_conn *c, int64_t lake, json_t *shas, jw *w, err *e)
{
    if (!json_is_array(shas) || json_array_size(shas) > DATALAKE_IDS_MAX)
        return err_set(e, ERR_INVALID, "field 'sha256' must be an array of at most %d hashes",
                       DATALAKE_IDS_MAX);
    size_t i;
    json_t *v;
    json_array_foreach(shas, i, v) if (!json_is_string(v) || !is_sha256_hex(json_string_value(v)))
        return err_set(e, ERR_INVALID, "sha256[%zu] is not a SHA-256 in lowercase hex", i);
    char *list = json_dumps(shas, JSON_COMPACT);
    db_stmt *s = db_query(c, e,
                          is_pg(c) ? "SELECT sha256, id FROM data WHERE datalake_id = $1 AND sha256 IN"
                                     " (SELECT jsonb_array_elements_text($2::jsonb))"
                                   : "SELECT sha256, id FROM data WHERE datalake_id = $1 AND sha256 IN"
                                     " (SELECT value FROM json_each($2))",
                          DBI(lake), DBT(list));
    free(list);
    if (!s)
        return -1;
    int rc;
    jw_obj(w);
    jw_key(w, "found");
    jw_obj(w);
    while ((rc = db_step(s, e)) == DB_ROW)
        jw_kint(w, db_col_text(s, 0), db_col_i64(s, 1));
    jw_obj_end(w);
    jw_obj_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int datalake_tags(db_conn *c, int64_t lake, jw *w, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT t.name, (SELECT COUNT(*) FROM data_tag dt WHERE dt.tag_id = t.id)"
                          " FROM tag t WHERE t.datalake_id = $1 ORDER BY t.name",
                          DBI(lake));
    if (!s)
        return -1;
    int rc;
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kstr(w, "name", db_col_text(s, 0));
        jw_kint(w, "count", db_col_i64(s, 1));
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

/* Runs a two-column (label, count) query into an array of {name, count}. */
static int counts(db_conn *c, const char *key, const char *sql, int64_t lake, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, sql, DBI(lake));
    if (!s)
        return -1;
    int rc;
    jw_key(w, key);
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kstr(w, "name", db_col_text(s, 0));
        jw_kint(w, "count", db_col_i64(s, 1));
        jw_obj_end(w);
    }
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int datalake_stats(db_conn *c, int64_t lake, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM data WHERE datalake_id = $1",
                          DBI(lake));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    int64_t count = rc == DB_ROW ? db_col_i64(s, 0) : 0, bytes = rc == DB_ROW ? db_col_i64(s, 1) : 0;
    db_done(s);
    if (rc < 0)
        return -1;
    jw_obj(w);
    jw_kint(w, "count", count);
    jw_kint(w, "bytes", bytes);
    if (counts(c, "by_format",
               "SELECT format, COUNT(*) FROM data WHERE datalake_id = $1 GROUP BY format ORDER BY 2 DESC",
               lake, w, e) ||
        counts(c, "by_source",
               "SELECT COALESCE(source, ''), COUNT(*) FROM data WHERE datalake_id = $1"
               " GROUP BY source ORDER BY 2 DESC LIMIT 50",
               lake, w, e) ||
        counts(c, "by_tag",
               "SELECT t.name, COUNT(*) FROM tag t JOIN data_tag dt ON dt.tag_id = t.id"
               " WHERE t.datalake_id = $1 GROUP BY t.name ORDER BY 2 DESC LIMIT 100",
               lake, w, e) ||
        counts(c, "by_longest_side",
               "SELECT CASE WHEN m < 256 THEN '<256' WHEN m < 512 THEN '256-511' WHEN m < 1024"
               " THEN '512-1023' WHEN m < 2048 THEN '1024-2047' WHEN m < 4096 THEN '2048-4095'"
               " ELSE '>=4096' END, COUNT(*) FROM (SELECT CASE WHEN width > height THEN width"
               " ELSE height END AS m FROM data WHERE datalake_id = $1) x GROUP BY 1 ORDER BY MIN(m)",
               lake, w, e))
        return -1;
    jw_obj_end(w);
    return 0;
}


/* Values from a one-column query with $1 = lake, $2 = prefix pattern, $3 = key. */
static int suggest_rows(db_conn *c, jw *w, const char *sql, int64_t lake, const char *like,
                        const char *key, bool quote, const char *kind, err *e)
{
    db_stmt *s = db_prepare(c, sql, e);
    if (!s)
        return -1;
    db_bind(s, 1, DBI(lake));
    db_bind(s, 2, DBT(like));
    if (key)
        db_bind(s, 3, DBT(key));
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        const char *v = db_col_text(s, 0);
        if (!v)
            continue;
        if (quote) {
            sbuf q = SBUF_INIT;
            sbuf_json_str(&q, v, strlen(v));
            query_complete_json_suggest(w, sbuf_cstr(&q), kind, NULL);
            sbuf_free(&q);
        } else {
            query_complete_json_suggest(w, v, kind, NULL);
        }
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int datalake_autocomplete(db_conn *c, int64_t lake, const char *q, size_t cursor, jw *w, err *e)
{
    query_completion comp;
    char like[300];
    if (query_complete_json_begin(w, q, cursor, &data_schema, &comp, like, sizeof like, e))
        return -1;
    int rc = 0;
    if (comp.expect & QUERY_EXPECT_KEY && comp.field) {
        if (strcmp(comp.field->name, "meta") == 0) {
            rc = suggest_rows(c, w,
                              "SELECT key FROM datalake_meta_key WHERE datalake_id = $1 AND key LIKE $2"
                              " ESCAPE '\\' ORDER BY key LIMIT 50",
                              lake, like, NULL, false, "key", e);
        } else {
            static const char *exif_keys[] = {"make", "model", "lensmodel", "fnumber",
                                              "exposuretime", "isospeedratings", "focallength",
                                              "datetimeoriginal", "software", "flash",
                                              "whitebalance", "latitude", "longitude", "altitude"};
            for (size_t i = 0; i < sizeof exif_keys / sizeof *exif_keys; i++)
                if (str_has_prefix(exif_keys[i], comp.prefix))
                    query_complete_json_suggest(w, exif_keys[i], "key", NULL);
        }
    }
    query_complete_json_operators(w, &comp);
    if (rc == 0 && comp.expect & QUERY_EXPECT_VALUE && comp.field) {
        const char *f = comp.field->name;
        if (strcmp(f, "tag") == 0)
            rc = suggest_rows(c, w,
                              "SELECT name FROM tag WHERE datalake_id = $1 AND name LIKE $2 ESCAPE '\\'"
                              " ORDER BY name LIMIT 50",
                              lake, like, NULL, true, "value", e);
        else if (strcmp(f, "source") == 0)
            rc = suggest_rows(c, w,
                              "SELECT DISTINCT source FROM data WHERE datalake_id = $1 AND source LIKE $2"
                              " ESCAPE '\\' ORDER BY source LIMIT 50",
                              lake, like, NULL, true, "value", e);
        else if (strcmp(f, "format") == 0) {
            static const char *fm[] = {"\"jpeg\"", "\"png\"", "\"webp\"", "\"tiff\"", "\"bmp\""};
            for (size_t i = 0; i < 5; i++)
                query_complete_json_suggest(w, fm[i], "value", NULL);
        } else if (strcmp(f, "meta") == 0 && comp.key[0])
            rc = suggest_rows(c, w,
                              is_pg(c)
                                  ? "SELECT DISTINCT d.meta->>$3 FROM (SELECT meta FROM data WHERE datalake_id = $1"
                                    " ORDER BY id DESC LIMIT 5000) d WHERE jsonb_exists(d.meta, $3)"
                                    " AND d.meta->>$3 LIKE $2 ESCAPE '\\' LIMIT 20"
                                  : "SELECT DISTINCT j.value FROM (SELECT meta FROM data WHERE datalake_id = $1"
                                    " ORDER BY id DESC LIMIT 5000) d, json_each(d.meta) j WHERE j.key = $3"
                                    " AND j.type IN ('text', 'integer', 'real') AND j.value LIKE $2"
                                    " ESCAPE '\\' LIMIT 20",
                              lake, like, comp.key, true, "value", e);
    }
    query_complete_json_end(w, &comp);
    return rc;
}
