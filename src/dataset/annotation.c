/*
 * annotation.c - one current annotation per asset, its revisions, and the
 * bulk endpoint.
 *
 * A save is one transaction: the write guard (locked versions refuse), the
 * conflict check (a stale base_revision answers ERR_CONFLICT saying who
 * saved meanwhile), parsing and checking every shape against the image and
 * the labels, moving the previous revision (row + shapes) into the
 * revision tables, then the new row and shapes. Any failure rolls back, so
 * a refused save changes nothing.
 *
 * The bulk endpoint checks every annotation of the request before writing
 * any, reports the first problem with its location and how many others
 * there are, and writes the rows and shapes with multi-row inserts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "dataset/internal.h"

static const char *const statuses[] = {"pending", "accepted", "rejected", "skipped"};

bool ds_status_valid(const char *s)
{
    for (size_t i = 0; i < ARRAY_LEN(statuses); i++)
        if (strcmp(s, statuses[i]) == 0)
            return true;
    return false;
}

static int status_check(const char *s, const char *where, err *e)
{
    if (!s || ds_status_valid(s))
        return 0;
    return err_set(e, ERR_INVALID, "%s%sstatus '%.40s' is not one of pending, accepted, rejected, skipped",
                   where ? where : "", where ? ": " : "", s);
}

int ds_annotation_archive(db_conn *c, int64_t asset, bool drop_shapes, err *e)
{
    if (db_run(c, e,
               "INSERT INTO annotation_revision (asset_id, revision, status, author, duration_ms,"
               " shape_count, saved_at, archived_at) SELECT asset_id, revision, status, author,"
               " duration_ms, shape_count, updated_at, $2 FROM annotation WHERE asset_id = $1",
               DBI(asset), DBI(time_now_ms())) < 0 ||
        db_run(c, e,
               "INSERT INTO shape_revision (asset_id, revision, id, label_id, kind, x, y, w, h, geom,"
               " aux, score, text, attrs, iscrowd, area) SELECT s.asset_id, an.revision, s.id,"
               " s.label_id, s.kind, s.x, s.y, s.w, s.h, s.geom, s.aux, s.score, s.text, s.attrs,"
               " s.iscrowd, s.area FROM shape s JOIN annotation an ON an.asset_id = s.asset_id"
               " WHERE s.asset_id = $1 ORDER BY s.id",
               DBI(asset)) < 0)
        return -1;
    if (drop_shapes && db_run(c, e, "DELETE FROM shape WHERE asset_id = $1", DBI(asset)) < 0)
        return -1;
    return 0;
}

int ds_annotation_next_rev(db_conn *c, int64_t asset, int64_t *rev, err *e)
{
    int64_t hist = 0, cur = 0;
    if (db_one_i64(c, e, &hist,
                   "SELECT COALESCE(MAX(revision), 0) FROM annotation_revision WHERE asset_id = $1",
                   DBI(asset)))
        return -1;
    if (db_one_i64(c, e, &cur, "SELECT revision FROM annotation WHERE asset_id = $1", DBI(asset)) &&
        e->code != ERR_NOT_FOUND)
        return -1;
    *rev = (hist > cur ? hist : cur) + 1;
    return 0;
}

/* --- reading ---------------------------------------------------------------------------------- */

static int write_shapes(db_conn *c, const char *sql, int64_t asset, int64_t rev, jw *w, err *e)
{
    db_stmt *s = rev ? db_query(c, e, sql, DBI(asset), DBI(rev)) : db_query(c, e, sql, DBI(asset));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW)
        ds_shape_write_row(w, s, 0);
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int dataset_annotation_write(db_conn *c, int64_t org, int64_t asset, jw *w, err *e)
{
    int64_t version;
    if (ds_asset_version(c, org, asset, &version, e))
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT an.revision, an.status, an.author, u.username, an.duration_ms,"
                          " an.created_at, an.updated_at, an.shape_count FROM annotation an"
                          " LEFT JOIN app_user u ON u.id = an.author WHERE an.asset_id = $1",
                          DBI(asset));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    jw_obj(w);
    jw_kint(w, "asset_id", asset);
    jw_kint(w, "version_id", version);
    if (rc == DB_ROW) {
        jw_kint(w, "revision", db_col_i64(s, 0));
        jw_kstr(w, "status", db_col_text(s, 1));
        ds_opt_int(w, "author_id", s, 2);
        jw_kstr(w, "author", db_col_text(s, 3));
        jw_kint(w, "duration_ms", db_col_i64(s, 4));
        ds_ts(w, "created_at", s, 5);
        ds_ts(w, "updated_at", s, 6);
        jw_kint(w, "objects", db_col_i64(s, 7));
    } else {
        jw_kint(w, "revision", 0);
        jw_key(w, "status");
        jw_null(w);
    }
    db_done(s);
    if (rc < 0)
        return -1;
    jw_key(w, "shapes");
    rc = write_shapes(c,
                      "SELECT " DS_SHAPE_COLS("s.") " FROM shape s JOIN label l ON l.id = s.label_id"
                      " WHERE s.asset_id = $1 ORDER BY s.id",
                      asset, 0, w, e);
    jw_obj_end(w);
    return rc;
}

int dataset_annotation_revisions(db_conn *c, int64_t org, int64_t asset, jw *w, err *e)
{
    int64_t version, cur = 0;
    if (ds_asset_version(c, org, asset, &version, e))
        return -1;
    if (db_one_i64(c, e, &cur, "SELECT revision FROM annotation WHERE asset_id = $1", DBI(asset)) &&
        e->code != ERR_NOT_FOUND)
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT r.revision, r.status, u.username, r.duration_ms, r.saved_at,"
                          " r.archived_at, r.shape_count FROM annotation_revision r"
                          " LEFT JOIN app_user u ON u.id = r.author WHERE r.asset_id = $1"
                          " ORDER BY r.revision DESC LIMIT 100",
                          DBI(asset));
    if (!s)
        return -1;
    /* collect first: shapes are read with other statements */
    int64_t revs[100];
    int n = 0, rc;
    jw_obj(w);
    jw_kint(w, "asset_id", asset);
    jw_kint(w, "current_revision", cur);
    jw_key(w, "items");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW && n < 100)
        revs[n++] = db_col_i64(s, 0);
    db_done(s);
    if (rc < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        s = db_query(c, e,
                     "SELECT r.revision, r.status, u.username, r.duration_ms, r.saved_at,"
                     " r.archived_at, r.shape_count FROM annotation_revision r"
                     " LEFT JOIN app_user u ON u.id = r.author WHERE r.asset_id = $1 AND r.revision = $2",
                     DBI(asset), DBI(revs[i]));
        if (!s)
            return -1;
        rc = db_step(s, e);
        if (rc == DB_ROW) {
            jw_obj(w);
            jw_kint(w, "revision", db_col_i64(s, 0));
            jw_kstr(w, "status", db_col_text(s, 1));
            jw_kstr(w, "author", db_col_text(s, 2));
            jw_kint(w, "duration_ms", db_col_i64(s, 3));
            ds_ts(w, "saved_at", s, 4);
            ds_ts(w, "replaced_at", s, 5);
            jw_kint(w, "objects", db_col_i64(s, 6));
        }
        db_done(s);
        if (rc < 0)
            return -1;
        if (rc != DB_ROW)
            continue;
        jw_key(w, "shapes");
        if (write_shapes(c,
                         "SELECT " DS_SHAPE_COLS("s.") " FROM shape_revision s LEFT JOIN label l ON"
                         " l.id = s.label_id WHERE s.asset_id = $1 AND s.revision = $2 ORDER BY s.id",
                         asset, revs[i], w, e))
            return -1;
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    return 0;
}

/* --- saving one ------------------------------------------------------------------------------- */

typedef struct cur_annot {
    bool exists;
    int64_t revision, duration_ms, shape_count, author;
    char status[16], author_name[128], updated[32];
} cur_annot;

static int load_current(db_conn *c, int64_t asset, cur_annot *a, err *e)
{
    memset(a, 0, sizeof *a);
    db_stmt *s = db_query(c, e,
                          "SELECT an.revision, an.status, an.duration_ms, an.shape_count, u.username,"
                          " an.updated_at FROM annotation an LEFT JOIN app_user u ON u.id = an.author"
                          " WHERE an.asset_id = $1",
                          DBI(asset));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        a->exists = true;
        a->revision = db_col_i64(s, 0);
        snprintf(a->status, sizeof a->status, "%s", db_col_text(s, 1));
        a->duration_ms = db_col_i64(s, 2);
        a->shape_count = db_col_i64(s, 3);
        const char *u = db_col_text(s, 4);
        snprintf(a->author_name, sizeof a->author_name, "%s", u ? u : "a removed user");
        time_fmt_iso(db_col_i64(s, 5), a->updated, sizeof a->updated);
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

static int stale(const char *where, int64_t asset, const cur_annot *cur, int64_t base, err *e)
{
    if (!cur->exists)
        return err_set(e, ERR_CONFLICT,
                       "%s%sthe annotation of asset %lld was deleted by someone else meanwhile (you "
                       "based yours on revision %lld); reload it and apply your changes again",
                       where ? where : "", where ? ": " : "", (long long)asset, (long long)base);
    return err_set(e, ERR_CONFLICT,
                   "%s%sthe annotation of asset %lld was saved by someone else meanwhile (revision "
                   "%lld by %s at %s; you based yours on revision %lld); reload it and apply your "
                   "changes again",
                   where ? where : "", where ? ": " : "", (long long)asset, (long long)cur->revision,
                   cur->author_name, cur->updated, (long long)base);
}

static int image_size(db_conn *c, int64_t asset, int *w, int *h, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT data.width, data.height FROM asset a JOIN data ON data.id = a.data_id"
                          " WHERE a.id = $1",
                          DBI(asset));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        *w = (int)db_col_i64(s, 0);
        *h = (int)db_col_i64(s, 1);
    }
    db_done(s);
    return rc == DB_ROW ? 0 : -1;
}

/* Parses and checks the shapes array of a document into out (arena memory). */
static int shapes_read(json_t *arr, const ds_labels *l, arena *a, const char *prefix, int img_w,
                       int img_h, ds_shape **out, int *n, err *e)
{
    *n = 0;
    *out = NULL;
    if (!json_is_array(arr))
        return err_set(e, ERR_INVALID, "%s%sfield 'shapes' must be an array (empty for none)",
                       prefix, *prefix ? ": " : "");
    size_t len = json_array_size(arr);
    if (len > DATASET_SHAPES_MAX)
        return err_set(e, ERR_INVALID, "%s%s%zu shapes given; the limit is %d per annotation",
                       prefix, *prefix ? ": " : "", len, DATASET_SHAPES_MAX);
    ds_shape *sh = arena_alloc(a, (len ? len : 1) * sizeof *sh);
    if (!sh)
        return err_set(e, ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < len; i++) {
        char where[96];
        snprintf(where, sizeof where, "%s%sshapes[%zu]", prefix, *prefix ? "." : "", i);
        if (ds_shape_from_json(json_array_get(arr, i), l, a, where, &sh[i], e))
            return -1;
        int64_t idx;
        ds_imap_get(&l->by_id, sh[i].label_id, &idx);
        const ds_label *lab = &l->items[idx - 1];
        if (ds_shape_check(&sh[i], where, img_w, img_h, lab->name, lab->nkeypoints, e))
            return -1;
    }
    *out = sh;
    *n = (int)len;
    return 0;
}

static int insert_shapes(db_conn *c, int64_t asset, int64_t version, const ds_shape *sh, int n,
                         err *e)
{
    if (n == 0)
        return 0;
    ds_bulk b;
    if (ds_shapes_bulk_init(&b, c, e))
        return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = ds_shapes_bulk_add(&b, asset, version, &sh[i], e);
    if (rc == 0)
        rc = ds_bulk_flush(&b, e);
    ds_bulk_free(&b);
    return rc;
}

int dataset_annotation_save(db_conn *c, int64_t org, int64_t asset, json_t *doc, int64_t user,
                            err *e)
{
    static const char *const fields[] = {"shapes", "status", "duration_ms", "base_revision", NULL};
    const char *status = NULL;
    int64_t duration = -1, base = -1, version;
    if (jv_is_obj(doc, e) || jv_only(doc, fields, e) ||
        jv_str(doc, "status", JV_OPTIONAL, 16, &status, e) || status_check(status, NULL, e) ||
        jv_i64(doc, "duration_ms", JV_OPTIONAL, 0, INT64_MAX / 4, &duration, e) ||
        jv_i64(doc, "base_revision", JV_OPTIONAL, 0, INT64_MAX, &base, e))
        return -1;
    json_t *shapes = json_object_get(doc, "shapes");
    if (!shapes)
        return err_set(e, ERR_INVALID, "field 'shapes' is required (an empty array for none)");
    if (ds_asset_version(c, org, asset, &version, e))
        return -1;
    arena *a = arena_new(64 * 1024);
    if (!a)
        return err_set(e, ERR_INTERNAL, "out of memory");
    ds_labels labels = {0};
    cur_annot cur;
    int rc = -1;
    if (db_begin(c, e))
        goto out;
    int img_w = 0, img_h = 0;
    ds_shape *sh;
    int n;
    if (dataset_version_writable(c, org, version, e) || load_current(c, asset, &cur, e))
        goto fail;
    if (base >= 0 && base != (cur.exists ? cur.revision : 0)) {
        stale(NULL, asset, &cur, base, e);
        goto fail;
    }
    if (ds_labels_load(c, version, &labels, e) || image_size(c, asset, &img_w, &img_h, e) ||
        shapes_read(shapes, &labels, a, "", img_w, img_h, &sh, &n, e))
        goto fail;
    int64_t rev, now = time_now_ms();
    if (cur.exists) {
        rev = cur.revision + 1;
        if (ds_annotation_archive(c, asset, true, e) ||
            db_run(c, e,
                   "UPDATE annotation SET status = $1, author = $2, duration_ms = $3, revision = $4,"
                   " shape_count = $5, updated_at = $6 WHERE asset_id = $7",
                   DBT(status ? status : cur.status), DBI(user),
                   DBI(duration >= 0 ? duration : cur.duration_ms), DBI(rev), DBI(n), DBI(now),
                   DBI(asset)) < 0)
            goto fail;
    } else {
        if (ds_annotation_next_rev(c, asset, &rev, e) ||
            db_run(c, e,
                   "INSERT INTO annotation (asset_id, version_id, status, author, duration_ms,"
                   " revision, shape_count, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6,"
                   " $7, $8, $8)",
                   DBI(asset), DBI(version), DBT(status ? status : "pending"), DBI(user),
                   DBI(duration >= 0 ? duration : 0), DBI(rev), DBI(n), DBI(now)) < 0)
            goto fail;
    }
    if (insert_shapes(c, asset, version, sh, n, e))
        goto fail;
    rc = db_commit(c, e);
    goto out;
fail:
    db_rollback(c);
out:
    ds_labels_free(&labels);
    arena_free(a);
    return rc;
}

int dataset_annotation_delete(db_conn *c, int64_t org, int64_t asset, int64_t user, err *e)
{
    (void)user;
    int64_t version;
    cur_annot cur;
    if (ds_asset_version(c, org, asset, &version, e) || db_begin(c, e))
        return -1;
    if (dataset_version_writable(c, org, version, e) || load_current(c, asset, &cur, e))
        goto fail;
    if (!cur.exists) {
        err_set(e, ERR_NOT_FOUND, "asset %lld has no annotation", (long long)asset);
        goto fail;
    }
    if (ds_annotation_archive(c, asset, true, e) ||
        db_run(c, e, "DELETE FROM annotation WHERE asset_id = $1", DBI(asset)) < 0)
        goto fail;
    return db_commit(c, e);
fail:
    db_rollback(c);
    return -1;
}

/* --- bulk ------------------------------------------------------------------------------------- */

typedef struct bulk_item {
    int64_t asset;
    const char *status;
    int64_t duration, base;
    ds_shape *shapes;
    int nshapes;
    int row; /* index into the asset table */
} bulk_item;

typedef struct asset_row {
    int64_t id, data_id;
    int w, h;
    bool annotated, used;
    int64_t revision, shape_count, duration, hist_rev;
    char status[16];
} asset_row;

#define ANNOT_UPSERT                                                                               \
    "INSERT INTO annotation (asset_id, version_id, status, author, duration_ms, revision,"        \
    " shape_count, created_at, updated_at) VALUES "
#define ANNOT_UPSERT_TAIL                                                                          \
    " ON CONFLICT (asset_id) DO UPDATE SET status = excluded.status, author = excluded.author,"    \
    " duration_ms = excluded.duration_ms, revision = excluded.revision,"                           \
    " shape_count = excluded.shape_count, updated_at = excluded.updated_at"

int dataset_annotations_bulk(db_conn *c, int64_t org, int64_t version, json_t *doc, int64_t user,
                             int64_t *saved, int64_t *nshapes, err *e)
{
    static const char *const fields[] = {"annotations", "mode", NULL};
    static const char *const item_fields[] = {"asset_id", "data_id",      "shapes",
                                              "status",   "duration_ms", "base_revision", NULL};
    const char *mode = "replace";
    json_t *items = NULL;
    *saved = *nshapes = 0;
    if (jv_is_obj(doc, e) || jv_only(doc, fields, e) ||
        jv_str(doc, "mode", JV_OPTIONAL, 16, &mode, e) ||
        jv_arr(doc, "annotations", JV_REQUIRED, DATASET_BULK_MAX, &items, e))
        return -1;
    bool merge = strcmp(mode, "merge") == 0;
    if (!merge && strcmp(mode, "replace") != 0)
        return err_set(e, ERR_INVALID, "mode '%.20s' is not one of replace, merge", mode);
    size_t n = json_array_size(items);
    if (n == 0)
        return err_set(e, ERR_INVALID, "field 'annotations' is empty");
    /* the assets named, by asset id and by data id */
    json_t *aids = json_array(), *dids = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        json_t *x = json_object_get(it, "asset_id"), *y = json_object_get(it, "data_id");
        if (json_is_integer(x))
            json_array_append(aids, x);
        if (json_is_integer(y))
            json_array_append(dids, y);
    }
    char *aids_s = json_dumps(aids, JSON_COMPACT), *dids_s = json_dumps(dids, JSON_COMPACT);
    json_decref(aids);
    json_decref(dids);
    arena *a = arena_new(1 << 20);
    bulk_item *bi = calloc(n, sizeof *bi);
    asset_row *rows = NULL;
    size_t nrows = 0, caprows = 0;
    ds_imap by_asset = {0}, by_data = {0};
    ds_labels labels = {0};
    ds_bulk ab = {0}, sb = {0};
    bool ab_ok = false, sb_ok = false;
    int rc = -1;
    char first[600] = "";
    int64_t problems = 0;
    err pe;
    if (!a || !bi || !aids_s || !dids_s) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (db_begin(c, e))
        goto out;
    if (dataset_version_writable(c, org, version, e) || ds_labels_load(c, version, &labels, e))
        goto fail;
    const char *sql =
        ds_is_pg(c)
            ? "SELECT a.id, a.data_id, data.width, data.height, an.revision, an.shape_count,"
              " an.duration_ms, an.status, (SELECT MAX(r.revision) FROM annotation_revision r"
              " WHERE r.asset_id = a.id) FROM asset a JOIN data ON data.id = a.data_id"
              " LEFT JOIN annotation an ON an.asset_id = a.id WHERE a.version_id = $1 AND"
              " (a.id IN (SELECT (jsonb_array_elements_text($2::jsonb))::bigint) OR"
              " a.data_id IN (SELECT (jsonb_array_elements_text($3::jsonb))::bigint))"
            : "SELECT a.id, a.data_id, data.width, data.height, an.revision, an.shape_count,"
              " an.duration_ms, an.status, (SELECT MAX(r.revision) FROM annotation_revision r"
              " WHERE r.asset_id = a.id) FROM asset a JOIN data ON data.id = a.data_id"
              " LEFT JOIN annotation an ON an.asset_id = a.id WHERE a.version_id = $1 AND"
              " (a.id IN (SELECT value FROM json_each($2)) OR a.data_id IN (SELECT value FROM"
              " json_each($3)))";
    db_stmt *s = db_query(c, e, sql, DBI(version), DBT(aids_s), DBT(dids_s));
    if (!s)
        goto fail;
    int st;
    while ((st = db_step(s, e)) == DB_ROW) {
        if (nrows == caprows) {
            caprows = caprows ? caprows * 2 : 256;
            asset_row *r = realloc(rows, caprows * sizeof *r);
            if (!r) {
                st = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            rows = r;
        }
        asset_row *r = &rows[nrows];
        memset(r, 0, sizeof *r);
        r->id = db_col_i64(s, 0);
        r->data_id = db_col_i64(s, 1);
        r->w = (int)db_col_i64(s, 2);
        r->h = (int)db_col_i64(s, 3);
        r->annotated = !db_col_null(s, 4);
        r->revision = db_col_i64(s, 4);
        r->shape_count = db_col_i64(s, 5);
        r->duration = db_col_i64(s, 6);
        if (r->annotated)
            snprintf(r->status, sizeof r->status, "%s", db_col_text(s, 7));
        r->hist_rev = db_col_i64(s, 8);
        ds_imap_put(&by_asset, r->id, (int64_t)nrows);
        ds_imap_put(&by_data, r->data_id, (int64_t)nrows);
        nrows++;
    }
    db_done(s);
    if (st < 0)
        goto fail;
    /* check everything, counting the problems */
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        bulk_item *b = &bi[i];
        char where[48];
        snprintf(where, sizeof where, "annotations[%zu]", i);
        int64_t asset_id = 0, data_id = 0, idx = -1;
        b->duration = -1;
        b->base = -1;
        err_clear(&pe);
        if (!json_is_object(it)) {
            err_set(&pe, ERR_INVALID, "%s: must be an object", where);
        } else if (jv_only(it, item_fields, &pe) ||
                   jv_i64(it, "asset_id", JV_OPTIONAL, 1, INT64_MAX, &asset_id, &pe) ||
                   jv_i64(it, "data_id", JV_OPTIONAL, 1, INT64_MAX, &data_id, &pe) ||
                   jv_str(it, "status", JV_OPTIONAL, 16, &b->status, &pe) ||
                   status_check(b->status, NULL, &pe) ||
                   jv_i64(it, "duration_ms", JV_OPTIONAL, 0, INT64_MAX / 4, &b->duration, &pe) ||
                   jv_i64(it, "base_revision", JV_OPTIONAL, 0, INT64_MAX, &b->base, &pe)) {
            err_prefix(&pe, "%s: ", where);
        } else if (!asset_id == !data_id) {
            err_set(&pe, ERR_INVALID, "%s: give 'asset_id' or 'data_id' (one of them)", where);
        } else if (asset_id ? !ds_imap_get(&by_asset, asset_id, &idx)
                            : !ds_imap_get(&by_data, data_id, &idx)) {
            err_set(&pe, ERR_NOT_FOUND, "%s: %s %lld is not an asset of this version", where,
                    asset_id ? "asset" : "data item", (long long)(asset_id ? asset_id : data_id));
        } else if (rows[idx].used) {
            err_set(&pe, ERR_INVALID, "%s: asset %lld appears twice in the request", where,
                    (long long)rows[idx].id);
        } else {
            asset_row *r = &rows[idx];
            r->used = true;
            b->row = (int)idx;
            b->asset = r->id;
            if (b->base >= 0 && b->base != (r->annotated ? r->revision : 0)) {
                cur_annot cur;
                if (load_current(c, r->id, &cur, e))
                    goto fail;
                stale(where, r->id, &cur, b->base, &pe);
            } else {
                shapes_read(json_object_get(it, "shapes"), &labels, a, where, r->w, r->h,
                            &b->shapes, &b->nshapes, &pe);
            }
        }
        if (pe.code != ERR_NONE) {
            if (problems++ == 0) {
                snprintf(first, sizeof first, "%s", pe.msg);
                *e = pe;
            }
        }
    }
    if (problems) {
        if (problems > 1)
            err_set(e, e->code, "%s (and %lld more problem%s; nothing was saved)", first,
                    (long long)(problems - 1), problems == 2 ? "" : "s");
        goto fail;
    }
    /* write */
    int64_t now = time_now_ms();
    if (ds_bulk_init(&ab, c, ANNOT_UPSERT, ANNOT_UPSERT_TAIL, 9, 200, e))
        goto fail;
    ab_ok = true;
    if (ds_shapes_bulk_init(&sb, c, e))
        goto fail;
    sb_ok = true;
    for (size_t i = 0; i < n; i++) {
        bulk_item *b = &bi[i];
        asset_row *r = &rows[b->row];
        int64_t rev = (r->annotated ? r->revision : r->hist_rev) + 1;
        if (r->annotated && r->hist_rev >= rev)
            rev = r->hist_rev + 1;
        if (r->annotated && ds_annotation_archive(c, r->id, !merge, e))
            goto fail;
        int64_t count = b->nshapes + (merge && r->annotated ? r->shape_count : 0);
        const char *status = b->status ? b->status : r->annotated ? r->status : "pending";
        int64_t dur = b->duration >= 0 ? b->duration : r->annotated ? r->duration : 0;
        db_val v[9] = {DBI(r->id), DBI(version), DBT(status), DBI(user), DBI(dur),
                       DBI(rev),   DBI(count),   DBI(now),    DBI(now)};
        for (int k = 0; k < 9; k++)
            if (ds_bulk_val(&ab, v[k], e))
                goto fail;
        for (int k = 0; k < b->nshapes; k++)
            if (ds_shapes_bulk_add(&sb, r->id, version, &b->shapes[k], e))
                goto fail;
        *nshapes += b->nshapes;
    }
    if (ds_bulk_flush(&ab, e) || ds_bulk_flush(&sb, e))
        goto fail;
    *saved = (int64_t)n;
    rc = db_commit(c, e);
    goto out;
fail:
    db_rollback(c);
    *saved = *nshapes = 0;
out:
    if (ab_ok)
        ds_bulk_free(&ab);
    if (sb_ok)
        ds_bulk_free(&sb);
    ds_labels_free(&labels);
    ds_imap_free(&by_asset);
    ds_imap_free(&by_data);
    free(rows);
    free(bi);
    free(aids_s);
    free(dids_s);
    arena_free(a);
    return rc;
}
