/*
 * export.c - the dataset.export job: a version (or the assets matching a
 * query) written in an interchange format, with or without the images,
 * into a blob the organization can download (GET /api/v1/files/{sha256}).
 *
 * Bounded memory whatever the size: assets are read in keyset pages of
 * 1000 (twice: the writers take every image before the shapes), shapes a
 * page of assets at a time, and the formats library streams its output
 * into a temporary directory; that directory (or the single file of a
 * COCO/CSV export without images) is then packed as tar/tar.gz/zip and
 * streamed into the blob store.
 *
 * File names in the export are the datalake items' names; two assets with
 * the same name get the content hash's first 8 digits as a prefix.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/jsonv.h"
#include "dataset/archive.h"
#include "dataset/internal.h"
#include "files/files.h"
#include "formats/formats.h"


#define PAGE 1000

typedef struct exporter {
    job_ctx *job;
    const dataset_env *env;
    db_conn *c;
    int64_t org, version;
    const char *q;
    bool images;
    bool keep_ids;     /* COCO: the labels' source category ids */
    ds_imap cat_out;   /* with keep_ids: label id -> category id written */
    fmt_writer *w;
    const char *out_dir;
    query_sql qs;
    sbuf page_sql;
    ds_smap names;     /* file names used so far */
    ds_imap name_of;   /* asset id -> offset of its file name in name_buf */
    sbuf name_buf;
    int64_t nassets, nshapes, total;
    /* shapes the format cannot hold (COCO: classes, polylines, points), by
     * kind, with the writer's reason for the first one */
    int64_t skipped[DS_MASK + 1];
    char skip_why[DS_MASK + 1][160];
} exporter;

/* One page of assets, in id order after `after`. */
typedef struct page_row {
    int64_t id;
    int w, h;
    char name[520], sha[65], split[16];
} page_row;

static int page_query(exporter *x, int64_t after, page_row *rows, int *n, err *e)
{
    db_stmt *s = db_prepare(x->c, sbuf_cstr(&x->page_sql), e);
    if (!s)
        return -1;
    db_bind(s, 1, DBI(x->version));
    db_bind(s, 2, DBI(after));
    for (size_t i = 0; i < x->qs.nparams; i++)
        db_bind(s, 3 + (int)i, ds_qparam(&x->qs.params[i]));
    int rc;
    *n = 0;
    while ((rc = db_step(s, e)) == DB_ROW) {
        page_row *r = &rows[*n];
        r->id = db_col_i64(s, 0);
        snprintf(r->name, sizeof r->name, "%s", db_col_text(s, 1));
        r->w = (int)db_col_i64(s, 2);
        r->h = (int)db_col_i64(s, 3);
        snprintf(r->sha, sizeof r->sha, "%s", db_col_text(s, 4));
        const char *sp = db_col_text(s, 5);
        snprintf(r->split, sizeof r->split, "%s", sp ? sp : "");
        (*n)++;
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

typedef struct {
    int fd;
    int err;
} fd_sink;

static int to_fd(void *ctx, const void *p, size_t n)
{
    fd_sink *s = ctx;
    const char *c = p;
    while (n) {
        ssize_t w = write(s->fd, c, n);
        if (w <= 0) {
            s->err = errno;
            return 1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int copy_image(exporter *x, const char *sha, const char *rel, err *e)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", x->out_dir, rel);
    char *sl = strrchr(path, '/');
    *sl = 0;
    if (ds_mkdirs(path) != 0)
        return err_set(e, ERR_IO, "cannot create %s: %s", path, strerror(errno));
    *sl = '/';
    fd_sink s = {open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), 0};
    if (s.fd < 0)
        return err_set(e, ERR_IO, "cannot create %s: %s", path, strerror(errno));
    int rc = blob_read(x->env->blobs, sha, 0, -1, to_fd, &s, e);
    close(s.fd);
    if (rc == 0 && s.err)
        rc = err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(s.err));
    return rc;
}

/* keep_ids: the category id of every label, the one of the file it was
 * imported from; labels without one (created otherwise) get the ids after
 * the largest. Two labels with the same source id are refused. */
static int source_ids(exporter *x, err *e)
{
    db_stmt *s = db_query(x->c, e,
                          "SELECT id, name, source_id FROM label WHERE version_id = $1 ORDER BY id",
                          DBI(x->version));
    if (!s)
        return -1;
    ds_imap seen = {0}; /* source id -> label id */
    int64_t max = 0;
    int rc, bad = 0;
    while ((rc = db_step(s, e)) == DB_ROW) {
        if (db_col_null(s, 2))
            continue;
        int64_t id = db_col_i64(s, 0), src = db_col_i64(s, 2), other;
        if (ds_imap_get(&seen, src, &other)) {
            bad = err_set(e, ERR_CONFLICT,
                          "labels %lld and '%s' both come from category id %lld, which a COCO "
                          "file can hold once; rename or merge them, or export without keeping "
                          "the category ids",
                          (long long)other, db_col_text(s, 1), (long long)src);
            break;
        }
        ds_imap_put(&seen, src, id);
        ds_imap_put(&x->cat_out, id, src);
        if (src > max)
            max = src;
    }
    db_done(s);
    ds_imap_free(&seen);
    if (rc < 0 || bad)
        return -1;
    s = db_query(x->c, e,
                 "SELECT id FROM label WHERE version_id = $1 AND source_id IS NULL ORDER BY id",
                 DBI(x->version));
    if (!s)
        return -1;
    while ((rc = db_step(s, e)) == DB_ROW)
        ds_imap_put(&x->cat_out, db_col_i64(s, 0), ++max);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

static int write_categories(exporter *x, err *e)
{
    if (x->keep_ids && source_ids(x, e))
        return -1;
    db_stmt *s = db_query(x->c, e,
                          "SELECT id, name, grp, keypoints, skeleton FROM label WHERE version_id = $1"
                          " ORDER BY id",
                          DBI(x->version));
    if (!s)
        return -1;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        fmt_category cat = {.id = db_col_i64(s, 0), .name = db_col_text(s, 1),
                            .supercategory = db_col_text(s, 2)};
        if (x->keep_ids)
            ds_imap_get(&x->cat_out, cat.id, &cat.id);
        json_t *kp = db_col_text(s, 3) ? json_loads(db_col_text(s, 3), 0, NULL) : NULL;
        json_t *sk = db_col_text(s, 4) ? json_loads(db_col_text(s, 4), 0, NULL) : NULL;
        const char **names = NULL;
        int *pairs = NULL;
        if (json_is_array(kp) && json_array_size(kp)) {
            names = calloc(json_array_size(kp), sizeof *names);
            for (size_t i = 0; names && i < json_array_size(kp); i++)
                names[i] = json_string_value(json_array_get(kp, i));
            cat.keypoints = names;
            cat.nkeypoints = (int)json_array_size(kp);
            size_t ns = json_array_size(sk);
            pairs = calloc(ns * 2 + 2, sizeof *pairs);
            for (size_t i = 0; pairs && i < ns; i++) {
                pairs[2 * i] = (int)json_integer_value(json_array_get(json_array_get(sk, i), 0));
                pairs[2 * i + 1] = (int)json_integer_value(json_array_get(json_array_get(sk, i), 1));
            }
            cat.skeleton = pairs;
            cat.nskeleton = (int)ns;
        }
        int r = fmt_write_category(x->w, &cat, e);
        free(names);
        free(pairs);
        json_decref(kp);
        json_decref(sk);
        if (r) {
            rc = -1;
            break;
        }
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

static int write_images(exporter *x, err *e)
{
    page_row *rows = malloc(PAGE * sizeof *rows);
    int rc = rows ? 0 : err_set(e, ERR_INTERNAL, "out of memory"), n;
    int64_t after = 0;
    while (rc == 0 && (rc = page_query(x, after, rows, &n, e)) == 0 && n > 0) {
        for (int i = 0; i < n && rc == 0; i++) {
            page_row *r = &rows[i];
            const char *name = r->name;
            char alt[600];
            if (ds_smap_get(&x->names, name, NULL)) {
                snprintf(alt, sizeof alt, "%.8s_%s", r->sha, r->name);
                name = alt;
            }
            ds_smap_put(&x->names, name, r->id);
            ds_imap_put(&x->name_of, r->id, (int64_t)x->name_buf.len);
            sbuf_put(&x->name_buf, name, strlen(name) + 1);
            fmt_image im = {.id = r->id, .file_name = name, .width = r->w, .height = r->h};
            im.split = r->split[0] ? r->split : NULL;
            rc = fmt_write_image(x->w, &im, e);
            x->nassets++;
        }
        after = rows[n - 1].id;
        job_progress(x->job, 0.05 + 0.25 * (double)x->nassets / (double)(x->total ? x->total : 1),
                     "wrote %lld of %lld images", (long long)x->nassets, (long long)x->total);
        if (job_should_stop(x->job))
            rc = err_set(e, ERR_UNAVAILABLE, "stopped");
        if (n < PAGE)
            break;
    }
    free(rows);
    return rc;
}

/* Copies the page's images where the layout puts them (known once the
 * image's shapes were written: class folders depend on them). */
static int copy_images(exporter *x, const page_row *rows, int n, err *e)
{
    for (int i = 0; i < n; i++) {
        int64_t off;
        if (!ds_imap_get(&x->name_of, rows[i].id, &off))
            continue;
        fmt_image im = {.id = rows[i].id, .file_name = x->name_buf.p + off, .width = rows[i].w,
                        .height = rows[i].h};
        im.split = rows[i].split[0] ? rows[i].split : NULL;
        const char *rel = fmt_writer_image_path(x->w, &im);
        if (rel && *rel && copy_image(x, rows[i].sha, rel, e))
            return -1;
    }
    return 0;
}

/* Decodes one stored shape row into s; scratch holds its arrays. */
static void row_shape(db_stmt *st, fmt_shape *s, sbuf *scratch)
{
    memset(s, 0, sizeof *s);
    s->image_id = db_col_i64(st, 0);
    s->kind = (fmt_shape_kind)db_col_i64(st, 1);
    s->category_id = db_col_i64(st, 2);
    s->bbox[0] = db_col_dbl(st, 3);
    s->bbox[1] = db_col_dbl(st, 4);
    s->bbox[2] = db_col_dbl(st, 5);
    s->bbox[3] = db_col_dbl(st, 6);
    s->has_bbox = s->kind != FMT_CLASS && (s->kind == FMT_BOX || s->bbox[2] > 0 || s->bbox[3] > 0);
    s->score = db_col_null(st, 9) ? NAN : db_col_dbl(st, 9);
    s->attributes = db_col_text(st, 10);
    s->iscrowd = db_col_i64(st, 11) != 0;
    s->area = db_col_null(st, 12) ? NAN : db_col_dbl(st, 12);
    size_t glen = 0, alen = 0;
    const void *g = db_col_blob(st, 7, &glen);
    sbuf_reset(scratch);
    /* geometry first (aligned at 0), then aux (aligned at a multiple of 8) */
    if (g && glen)
        sbuf_put(scratch, g, glen);
    size_t goff = 0, aoff = (glen + 7) & ~(size_t)7;
    while (scratch->len < aoff)
        sbuf_putc(scratch, 0);
    const void *a = db_col_blob(st, 8, &alen);
    if (a && alen)
        sbuf_put(scratch, a, alen);
    sbuf_putc(scratch, 0); /* terminates an RLE string */
    const double *pts = (const double *)(scratch->p + goff);
    const unsigned char *aux = (const unsigned char *)scratch->p + aoff;
    int np = (int)(glen / sizeof(double));
    switch (s->kind) {
    case FMT_POLYGON:
        s->points = pts;
        s->npoints = np / 2;
        if (alen >= 8) {
            s->ring_sizes = (const int *)aux;
            s->nrings = (int)(alen / 4);
        }
        break;
    case FMT_POLYLINE:
    case FMT_POINT:
        s->points = pts;
        s->npoints = np / 2;
        break;
    case FMT_KEYPOINTS:
        s->kp = pts;
        s->nkp = np / 3;
        break;
    case FMT_MASK_RLE:
        if (alen >= 12) {
            const uint32_t *h = (const uint32_t *)aux;
            s->rle_h = (int)h[0];
            s->rle_w = (int)h[1];
            if (h[2] == 1) {
                s->rle_string = (const char *)aux + 12;
            } else {
                s->rle_counts = h + 3;
                s->nrle = (int)((alen - 12) / 4);
            }
        }
        break;
    default:
        break;
    }
}

static int write_shapes(exporter *x, err *e)
{
    page_row *rows = malloc(PAGE * sizeof *rows);
    int rc = rows ? 0 : err_set(e, ERR_INTERNAL, "out of memory"), n;
    int64_t after = 0, done = 0;
    sbuf scratch = SBUF_INIT, list = SBUF_INIT;
    const char *sql =
        ds_is_pg(x->c)
            ? "SELECT s.asset_id, s.kind, s.label_id, s.x, s.y, s.w, s.h, s.geom, s.aux, s.score,"
              " s.attrs, s.iscrowd, s.area FROM shape s WHERE s.asset_id IN"
              " (SELECT (jsonb_array_elements_text($1::jsonb))::bigint) ORDER BY s.asset_id, s.id"
            : "SELECT s.asset_id, s.kind, s.label_id, s.x, s.y, s.w, s.h, s.geom, s.aux, s.score,"
              " s.attrs, s.iscrowd, s.area FROM shape s WHERE s.asset_id IN"
              " (SELECT value FROM json_each($1)) ORDER BY s.asset_id, s.id";
    while (rc == 0 && (rc = page_query(x, after, rows, &n, e)) == 0 && n > 0) {
        sbuf_reset(&list);
        sbuf_putc(&list, '[');
        for (int i = 0; i < n; i++)
            sbuf_printf(&list, i ? ",%lld" : "%lld", (long long)rows[i].id);
        sbuf_putc(&list, ']');
        db_stmt *s = db_query(x->c, e, sql, DBT(sbuf_cstr(&list)));
        if (!s) {
            rc = -1;
            break;
        }
        int st;
        while ((st = db_step(s, e)) == DB_ROW) {
            fmt_shape fs;
            row_shape(s, &fs, &scratch);
            if (x->keep_ids)
                ds_imap_get(&x->cat_out, fs.category_id, &fs.category_id);
            if (fmt_write_shape(x->w, &fs, e)) {
                int k = (int)fs.kind;
                if (e->code == ERR_UNSUPPORTED && k >= 1 && k <= DS_MASK) {
                    /* left out and reported: a polyline does not stop a COCO export */
                    if (x->skipped[k]++ == 0) {
                        const char *m = strstr(e->msg, ": ");
                        snprintf(x->skip_why[k], sizeof x->skip_why[k], "%s", m ? m + 2 : e->msg);
                    }
                    err_clear(e);
                    continue;
                }
                st = -1;
                break;
            }
            x->nshapes++;
        }
        db_done(s);
        if (st < 0) {
            rc = -1;
            break;
        }
        if (x->images && copy_images(x, rows, n, e)) {
            rc = -1;
            break;
        }
        done += n;
        after = rows[n - 1].id;
        job_progress(x->job, 0.3 + 0.5 * (double)done / (double)(x->total ? x->total : 1),
                     "wrote the annotations of %lld of %lld images", (long long)done,
                     (long long)x->total);
        if (job_should_stop(x->job))
            rc = err_set(e, ERR_UNAVAILABLE, "stopped");
        if (n < PAGE)
            break;
    }
    sbuf_free(&scratch);
    sbuf_free(&list);
    free(rows);
    return rc;
}

/* Streams a file into the blob store and gives the organization access. */
static int to_blob(void *ctx, const void *p, size_t n, err *e)
{
    return blob_writer_write(ctx, p, n, e);
}

static int store_file(exporter *x, const char *path, blob_ref *ref, err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, ERR_IO, "cannot read %s: %s", path, strerror(errno));
    blob_writer *w = blob_writer_new(x->env->blobs, e);
    if (!w) {
        close(fd);
        return -1;
    }
    char buf[1 << 16];
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = read(fd, buf, sizeof buf)) > 0)
        rc = blob_writer_write(w, buf, (size_t)n, e);
    close(fd);
    if (rc) {
        blob_writer_abort(w);
        return -1;
    }
    if (blob_writer_commit(w, NULL, ref, e))
        return -1;
    return files_ref(x->c, x->org, ref->sha, ref->size, e);
}

/* The single regular file of a directory, if that is all it holds. */
static bool single_file(const char *dir, char *out, size_t n)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    struct dirent *de;
    int count = 0;
    bool reg = false;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        count++;
        reg = de->d_type == DT_REG;
        snprintf(out, n, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    return count == 1 && reg;
}

int dataset_export_run(job_ctx *j, const dataset_env *env, err *e)
{
    json_t *p = job_payload(j);
    int64_t version = 0;
    const char *format = NULL, *archive = NULL, *q = NULL, *split = NULL;
    bool images = false, keep_ids = false;
    if (jv_i64(p, "version_id", JV_REQUIRED, 1, INT64_MAX, &version, e) ||
        jv_str(p, "format", JV_REQUIRED, 16, &format, e) ||
        jv_str(p, "archive", JV_OPTIONAL, 16, &archive, e) ||
        jv_str(p, "q", JV_OPTIONAL, 4096, &q, e) ||
        jv_str(p, "split", JV_OPTIONAL, 64, &split, e) ||
        jv_bool(p, "images", JV_OPTIONAL, &images, e) ||
        jv_bool(p, "keep_category_ids", JV_OPTIONAL, &keep_ids, e))
        return -1;
    fmt_format f;
    if (fmt_format_parse(format, &f, e))
        return -1;
    exporter x = {0};
    blob_writer *direct = NULL; /* COCO streamed into the store */
    json_t *skipped = NULL;
    x.job = j;
    x.env = env;
    x.org = job_org(j);
    x.version = version;
    x.images = images;
    x.keep_ids = keep_ids && f == FMT_COCO;
    char tmp[4096] = "", out_dir[4200], pack[4300];
    int rc = -1;
    bool have_qs = false;
    x.c = db_get(env->db, e);
    if (!x.c)
        return -1;
    ds_version v;
    if (ds_version_get(x.c, x.org, version, &v, e))
        goto out;
    if (ds_query_sql(x.c, q, 3, &x.qs, e))
        goto out;
    have_qs = true;
    sbuf_printf(&x.page_sql,
                "SELECT a.id, data.filename, data.width, data.height, data.sha256,"
                " (SELECT MIN(t.name) FROM asset_tag t WHERE t.asset_id = a.id AND"
                " t.name IN ('train', 'val', 'test'))" DS_ASSET_FROM
                " WHERE a.version_id = $1 AND a.id > $2 AND %s ORDER BY a.id LIMIT %d",
                x.qs.where, PAGE);
    {
        sbuf cnt = SBUF_INIT;
        sbuf_printf(&cnt, "SELECT COUNT(*)" DS_ASSET_FROM " WHERE a.version_id = $1 AND CAST($2 AS BIGINT) >= 0 AND %s",
                    x.qs.where);
        db_stmt *s = db_prepare(x.c, sbuf_cstr(&cnt), e);
        sbuf_free(&cnt);
        if (!s)
            goto out;
        db_bind(s, 1, DBI(version));
        db_bind(s, 2, DBI(0));
        for (size_t i = 0; i < x.qs.nparams; i++)
            db_bind(s, 3 + (int)i, ds_qparam(&x.qs.params[i]));
        if (db_step(s, e) == DB_ROW)
            x.total = db_col_i64(s, 0);
        db_done(s);
    }
    if (ds_tmpdir(env->spool_dir, "export", tmp, sizeof tmp, e))
        goto out;
    snprintf(out_dir, sizeof out_dir, "%s/%s-%s", tmp, v.dataset_name, v.name);
    for (char *c = out_dir + strlen(tmp) + 1; *c; c++)
        if (*c == '/' || *c == ' ')
            *c = '_';
    x.out_dir = out_dir;
    fmt_write_opts wo = {.split = split, .keep_category_ids = x.keep_ids};
    /* a COCO file alone streams straight into the store (no temporary
     * copy to write and read again) */
    if (f == FMT_COCO && !archive && !images) {
        direct = blob_writer_new(env->blobs, e);
        if (!direct)
            goto out;
        wo.sink = to_blob;
        wo.sink_ctx = direct;
    }
    int64_t t0 = time_mono_ns();
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    x.w = fmt_writer_open(f, out_dir, &wo, e);
    if (!x.w)
        goto out;
    if (write_categories(&x, e) || write_images(&x, e) || write_shapes(&x, e)) {
        fmt_writer_abort(x.w);
        goto out;
    }
    if (fmt_writer_close(x.w, e))
        goto out;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    job_log(j, "wrote %lld images and %lld shapes as %s in %.2f s (%.2f s CPU)", (long long)x.nassets,
            (long long)x.nshapes, format, (double)(time_mono_ns() - t0) / 1e9,
            (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9);
    skipped = json_object();
    for (int k = 1; k <= DS_MASK; k++)
        if (x.skipped[k]) {
            job_log(j, "left out %lld %s shape%s: %s", (long long)x.skipped[k], ds_kind_name(k),
                    x.skipped[k] == 1 ? "" : "s", x.skip_why[k]);
            json_object_set_new(skipped, ds_kind_name(k), json_integer((json_int_t)x.skipped[k]));
        }
    /* package */
    char single[4400], name[600];
    const char *kind = archive ? archive : "tar";
    const char *path;
    bool plain = direct || (!archive && !images && single_file(out_dir, single, sizeof single));
    if (direct) {
        path = NULL;
        snprintf(name, sizeof name, "%s-%s-%s.json", v.dataset_name, v.name, format);
    } else if (plain) {
        path = single;
        const char *ext = strrchr(single, '.');
        snprintf(name, sizeof name, "%s-%s-%s%s", v.dataset_name, v.name, format, ext ? ext : "");
    } else {
        snprintf(pack, sizeof pack, "%s/export.%s", tmp, kind);
        job_progress(j, 0.85, "packing the %s archive", kind);
        if (ds_archive_create(out_dir, pack, kind, e))
            goto out;
        path = pack;
        snprintf(name, sizeof name, "%s-%s-%s.%s", v.dataset_name, v.name, format, kind);
    }
    job_progress(j, 0.9, "storing the export");
    blob_ref ref;
    if (direct) {
        blob_writer *w = direct;
        direct = NULL;
        if (blob_writer_commit(w, NULL, &ref, e) || files_ref(x.c, x.org, ref.sha, ref.size, e))
            goto out;
    } else if (store_file(&x, path, &ref, e)) {
        goto out;
    }
    job_set_result(j, json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:b, s:o}", "file", ref.sha, "size",
                                (json_int_t)ref.size, "filename", name, "format", format, "images",
                                (json_int_t)x.nassets, "shapes", (json_int_t)x.nshapes,
                                "with_images", images, "skipped", skipped));
    skipped = NULL;
    job_progress(j, 1, "exported %lld images and %lld shapes", (long long)x.nassets,
                 (long long)x.nshapes);
    rc = 0;
out:
    if (direct)
        blob_writer_abort(direct);
    json_decref(skipped);
    if (tmp[0])
        ds_rmtree(tmp);
    if (have_qs)
        query_sql_free(&x.qs);
    sbuf_free(&x.page_sql);
    ds_smap_free(&x.names);
    ds_imap_free(&x.name_of);
    ds_imap_free(&x.cat_out);
    sbuf_free(&x.name_buf);
    db_put(x.c);
    return rc;
}

int dataset_export_submit(db_conn *c, int64_t org, int64_t version, json_t *req, int64_t user,
                          int64_t *job, err *e)
{
    static const char *const fields[] = {"format", "images", "archive", "q", "split",
                                         "keep_category_ids", NULL};
    const char *format = NULL, *archive = NULL, *q = NULL, *split = NULL;
    bool images = false, keep_ids = false;
    fmt_format f;
    if (jv_is_obj(req, e) || jv_only(req, fields, e) ||
        jv_str(req, "format", JV_REQUIRED, 16, &format, e) || fmt_format_parse(format, &f, e) ||
        jv_str(req, "archive", JV_OPTIONAL, 16, &archive, e) ||
        jv_str(req, "q", JV_OPTIONAL, 4096, &q, e) || jv_str(req, "split", JV_OPTIONAL, 64, &split, e) ||
        jv_bool(req, "images", JV_OPTIONAL, &images, e) ||
        jv_bool(req, "keep_category_ids", JV_OPTIONAL, &keep_ids, e))
        return -1;
    if (keep_ids && f != FMT_COCO)
        return err_set(e, ERR_INVALID,
                       "keep_category_ids is for COCO exports (the other formats number classes "
                       "from 0 in their own way); leave it out or use format coco");
    if (archive && strcmp(archive, "tar") && strcmp(archive, "tar.gz") && strcmp(archive, "zip"))
        return err_set(e, ERR_INVALID, "archive '%.20s' is not one of tar, tar.gz, zip", archive);
    ds_version v;
    if (ds_version_get(c, org, version, &v, e))
        return -1;
    if (q) { /* refuse a bad query now rather than in the job */
        query_sql qs;
        if (ds_query_sql(c, q, 3, &qs, e))
            return -1;
        query_sql_free(&qs);
    }
    json_t *pl = json_pack("{s:I, s:s, s:b}", "version_id", (json_int_t)version, "format", format,
                           "images", images);
    if (archive)
        json_object_set_new(pl, "archive", json_string(archive));
    if (q)
        json_object_set_new(pl, "q", json_string(q));
    if (split)
        json_object_set_new(pl, "split", json_string(split));
    if (keep_ids)
        json_object_set_new(pl, "keep_category_ids", json_true());
    char *txt = json_dumps(pl, JSON_COMPACT);
    json_decref(pl);
    int rc = jobs_submit(c, org, "dataset.export", txt, user, 3, job, e);
    free(txt);
    return rc;
}
