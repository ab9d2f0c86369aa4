/*
 * results.c - reading an evaluation's stored results: PR curves per label,
 * the confusion matrix and the images of one cell, the per-image listing
 * (filters, keyset pages in several orders) and one image with its ground
 * truth, predictions and matches for drawing.
 *
 * Everything here reads what the last successful run stored (run.c); no
 * request recomputes anything. An evaluation that never succeeded answers
 * 409 with what to do.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/eval.h"
#include "evaluation/internal.h"

static int need_results(const ev_row *r, err *e)
{
    if (r->evaluated)
        return 0;
    return err_set(e, ERR_CONFLICT,
                   "evaluation '%s' has no results yet; upload predictions and run it (POST "
                   "/api/v1/evaluations/%lld/evaluate)",
                   r->name, (long long)r->id);
}

static int load(db_conn *c, int64_t org, int64_t id, ev_row *r, err *e)
{
    return ev_get(c, org, id, r, e) || need_results(r, e) ? -1 : 0;
}

static void doubles_blob(jw *w, const char *key, db_stmt *s, int col)
{
    jw_key(w, key);
    size_t n = 0;
    const unsigned char *p = db_col_blob(s, col, &n);
    if (!p) {
        jw_null(w);
        return;
    }
    jw_arr(w);
    for (size_t i = 0; i + 8 <= n; i += 8) {
        double v;
        memcpy(&v, p + i, 8);
        jw_dbl(w, v);
    }
    jw_arr_end(w);
}

static const char *in_list(db_conn *c)
{
    return db_conn_driver(c) == DB_POSTGRES
               ? "(SELECT (jsonb_array_elements_text($%d::jsonb))::bigint)"
               : "(SELECT value FROM json_each($%d))";
}

/* --- PR curves ---------------------------------------------------------------------------- */

int evaluation_pr_write(db_conn *c, int64_t org, int64_t id, const char *label, jw *w, err *e)
{
    ev_row r;
    if (load(c, org, id, &r, e))
        return -1;
    db_stmt *s = label ? db_query(c, e,
                                  "SELECT k, label_id, name, metrics, pr50, pr, sc50 FROM"
                                  " evaluation_class WHERE evaluation_id = $1 AND name = $2"
                                  " ORDER BY k",
                                  DBI(id), DBT(label))
                       : db_query(c, e,
                                  "SELECT k, label_id, name, metrics, pr50, pr, sc50 FROM"
                                  " evaluation_class WHERE evaluation_id = $1 ORDER BY k",
                                  DBI(id));
    if (!s)
        return -1;
    jw_obj(w);
    jw_kstr(w, "task", r.task);
    jw_key(w, "recall");
    jw_arr(w);
    if (!ev_is_cls(&r))
        for (int i = 0; i <= 100; i++)
            jw_dbl(w, i / 100.0);
    jw_arr_end(w);
    jw_key(w, "labels");
    jw_arr(w);
    int rc, n = 0;
    while ((rc = db_step(s, e)) == DB_ROW) {
        n++;
        jw_obj(w);
        jw_kstr(w, "label", db_col_text(s, 2));
        jw_kint(w, "label_id", db_col_i64(s, 1));
        ds_raw_json(w, "metrics", s, 3, "{}");
        doubles_blob(w, "precision50", s, 4);
        doubles_blob(w, "precision", s, 5);
        doubles_blob(w, "scores50", s, 6);
        jw_obj_end(w);
    }
    db_done(s);
    jw_arr_end(w);
    jw_obj_end(w);
    if (rc < 0)
        return -1;
    if (label && n == 0)
        return err_set(e, ERR_NOT_FOUND, "evaluation '%s' has no label '%.128s'", r.name, label);
    return 0;
}

/* --- confusion ---------------------------------------------------------------------------- */

/* The labels in k order; n receives their count. */
static int label_names(db_conn *c, int64_t id, char ***names, int64_t **ids, size_t *n, err *e)
{
    *names = NULL;
    *ids = NULL;
    *n = 0;
    db_stmt *s = db_query(c, e,
                          "SELECT name, label_id FROM evaluation_class WHERE evaluation_id = $1"
                          " ORDER BY k",
                          DBI(id));
    if (!s)
        return -1;
    size_t cap = 0;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 32;
            char **x = realloc(*names, cap * sizeof *x);
            int64_t *y = realloc(*ids, cap * sizeof *y);
            if (x)
                *names = x;
            if (y)
                *ids = y;
            if (!x || !y) {
                rc = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
        }
        (*names)[*n] = strdup(db_col_text(s, 0));
        (*ids)[*n] = db_col_i64(s, 1);
        (*n)++;
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

static void names_free(char **names, int64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(ids);
}

int evaluation_confusion_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e)
{
    ev_row r;
    char **names;
    int64_t *ids;
    size_t k;
    if (load(c, org, id, &r, e) || label_names(c, id, &names, &ids, &k, e))
        return -1;
    size_t side = ev_is_cls(&r) ? k : k + 1;
    uint64_t *m = calloc(side * side + 1, sizeof *m);
    if (!m) {
        names_free(names, ids, k);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    db_stmt *s = db_query(c, e,
                          "SELECT row_k, col_k, count FROM evaluation_cell WHERE evaluation_id = $1",
                          DBI(id));
    int rc = -1;
    if (s) {
        while ((rc = db_step(s, e)) == DB_ROW) {
            size_t rr = (size_t)db_col_i64(s, 0), cc = (size_t)db_col_i64(s, 1);
            if (rr < side && cc < side)
                m[rr * side + cc] = (uint64_t)db_col_i64(s, 2);
        }
        db_done(s);
    }
    if (rc == 0) {
        jw_obj(w);
        jw_kstr(w, "rows", "ground truth");
        jw_kstr(w, "columns", "prediction");
        jw_key(w, "labels");
        jw_arr(w);
        for (size_t i = 0; i < k; i++)
            jw_str(w, names[i]);
        if (side > k)
            jw_str(w, "background");
        jw_arr_end(w);
        jw_key(w, "label_ids");
        jw_arr(w);
        for (size_t i = 0; i < k; i++)
            jw_int(w, ids[i]);
        if (side > k)
            jw_null(w);
        jw_arr_end(w);
        jw_key(w, "matrix");
        jw_arr(w);
        for (size_t i = 0; i < side; i++) {
            jw_arr(w);
            for (size_t j = 0; j < side; j++)
                jw_int(w, (int64_t)m[i * side + j]);
            jw_arr_end(w);
        }
        jw_arr_end(w);
        jw_obj_end(w);
    }
    free(m);
    names_free(names, ids, k);
    return rc < 0 ? -1 : 0;
}

/* Writes {"asset_id", "data_id", "filename", "width", "height"} fields of
 * assets by id (a JSON array text), in the order of `order`. */
typedef struct asset_info {
    int64_t id, data_id, w, h;
    char *filename;
} asset_info;

static int assets_info(db_conn *c, const int64_t *ids, size_t n, asset_info *out, err *e)
{
    sbuf list = SBUF_INIT, sql = SBUF_INIT;
    sbuf_putc(&list, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sbuf_putc(&list, ',');
        sbuf_put_i64(&list, ids[i]);
        out[i] = (asset_info){ids[i], 0, 0, 0, NULL};
    }
    sbuf_putc(&list, ']');
    sbuf_puts(&sql, "SELECT a.id, a.data_id, d.filename, d.width, d.height FROM asset a JOIN data d"
                    " ON d.id = a.data_id WHERE a.id IN ");
    sbuf_printf(&sql, in_list(c), 1);
    db_stmt *s = db_query(c, e, sbuf_cstr(&sql), DBT(sbuf_cstr(&list)));
    int rc = -1;
    if (s) {
        while ((rc = db_step(s, e)) == DB_ROW) {
            int64_t a = db_col_i64(s, 0);
            for (size_t i = 0; i < n; i++)
                if (out[i].id == a && !out[i].filename) {
                    out[i].data_id = db_col_i64(s, 1);
                    out[i].filename = strdup(db_col_text(s, 2));
                    out[i].w = db_col_i64(s, 3);
                    out[i].h = db_col_i64(s, 4);
                }
        }
        db_done(s);
    }
    sbuf_free(&list);
    sbuf_free(&sql);
    return rc < 0 ? -1 : 0;
}

static void asset_fields(jw *w, const asset_info *a)
{
    jw_kint(w, "asset_id", a->id);
    if (a->filename) {
        jw_kint(w, "data_id", a->data_id);
        jw_kstr(w, "filename", a->filename);
        jw_kint(w, "width", a->w);
        jw_kint(w, "height", a->h);
    } else {
        jw_key(w, "data_id");
        jw_null(w); /* the asset was removed from the version since */
    }
}

int evaluation_cell_write(db_conn *c, int64_t org, int64_t id, int row, int col, int64_t limit,
                          int64_t offset, jw *w, err *e)
{
    ev_row r;
    char **names;
    int64_t *ids;
    size_t k;
    if (load(c, org, id, &r, e) || label_names(c, id, &names, &ids, &k, e))
        return -1;
    int side = (int)(ev_is_cls(&r) ? k : k + 1);
    if (row < 0 || col < 0 || row >= side || col >= side) {
        names_free(names, ids, k);
        return err_set(e, ERR_NOT_FOUND,
                       "the confusion matrix of evaluation '%s' has rows and columns 0 to %d; "
                       "there is no cell %d/%d",
                       r.name, side - 1, row, col);
    }
    db_stmt *s = db_query(c, e,
                          "SELECT count, nassets, assets FROM evaluation_cell WHERE evaluation_id"
                          " = $1 AND row_k = $2 AND col_k = $3",
                          DBI(id), DBI(row), DBI(col));
    if (!s) {
        names_free(names, ids, k);
        return -1;
    }
    int64_t count = 0, nassets = 0;
    size_t stored = 0;
    int64_t *aid = NULL, *acount = NULL;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        count = db_col_i64(s, 0);
        nassets = db_col_i64(s, 1);
        size_t len = 0;
        const unsigned char *p = db_col_blob(s, 2, &len);
        stored = p ? len / 16 : 0;
        aid = malloc((stored + 1) * sizeof *aid);
        acount = malloc((stored + 1) * sizeof *acount);
        if (!aid || !acount)
            rc = err_set(e, ERR_INTERNAL, "out of memory");
        for (size_t i = 0; rc == DB_ROW && i < stored; i++) {
            memcpy(&aid[i], p + i * 16, 8);
            memcpy(&acount[i], p + i * 16 + 8, 8);
        }
    }
    db_done(s);
    if (rc >= 0) {
        size_t from = (size_t)offset < stored ? (size_t)offset : stored;
        size_t to = from + (size_t)limit < stored ? from + (size_t)limit : stored;
        asset_info *info = calloc(to - from + 1, sizeof *info);
        if (!info || assets_info(c, aid + from, to - from, info, e)) {
            if (!info)
                err_set(e, ERR_INTERNAL, "out of memory");
            rc = -1;
        } else {
            jw_obj(w);
            jw_kint(w, "row", row);
            jw_kint(w, "col", col);
            jw_kstr(w, "row_label", row < (int)k ? names[row] : "background");
            jw_kstr(w, "col_label", col < (int)k ? names[col] : "background");
            jw_kint(w, "count", count);
            jw_kint(w, "assets", nassets);
            jw_kbool(w, "truncated", (size_t)nassets > stored);
            jw_key(w, "items");
            jw_arr(w);
            for (size_t i = from; i < to; i++) {
                jw_obj(w);
                asset_fields(w, &info[i - from]);
                jw_kint(w, "count", acount[i]);
                jw_obj_end(w);
            }
            jw_arr_end(w);
            jw_key(w, "next_cursor");
            if (to < stored) {
                char cur[24];
                snprintf(cur, sizeof cur, "%zu", to);
                jw_str(w, cur);
            } else {
                jw_null(w);
            }
            jw_obj_end(w);
        }
        for (size_t i = 0; info && i < to - from; i++)
            free(info[i].filename);
        free(info);
    }
    free(aid);
    free(acount);
    names_free(names, ids, k);
    return rc < 0 ? -1 : 0;
}

/* --- images -------------------------------------------------------------------------------------- */

typedef struct order_def {
    const char *name, *key;
    bool desc;
} order_def;

static const order_def orders[] = {
    {"worst", "i.errors", true},
    {"fp", "i.fp", true},
    {"fn", "i.fn", true},
    {"iou", "COALESCE(i.min_iou, 2)", false},
    {"score", "COALESCE(i.max_fp_score, -1)", true},
    {"asset", "i.asset_id", false},
};

int evaluation_images_write(db_conn *c, int64_t org, int64_t id, const evaluation_image_query *q,
                            jw *w, err *e)
{
    ev_row r;
    if (load(c, org, id, &r, e))
        return -1;
    const order_def *od = NULL;
    const char *ob = q->order_by && *q->order_by ? q->order_by : "worst";
    for (size_t i = 0; i < ARRAY_LEN(orders); i++)
        if (strcmp(ob, orders[i].name) == 0)
            od = &orders[i];
    if (!od)
        return err_set(e, ERR_INVALID,
                       "order_by '%.32s' is not one of worst, fp, fn, iou, score, asset", ob);
    int64_t label_id = 0;
    if (q->label) {
        if (db_one_i64(c, e, &label_id,
                       "SELECT label_id FROM evaluation_class WHERE evaluation_id = $1 AND name = $2",
                       DBI(id), DBT(q->label))) {
            if (e->code == ERR_NOT_FOUND)
                err_set(e, ERR_INVALID, "label '%.128s' is not a label of evaluation '%s'",
                        q->label, r.name);
            return -1;
        }
    }
    double cur_v = 0;
    long long cur_a = 0;
    if (q->cursor) {
        char tail;
        if (sscanf(q->cursor, "%lg,%lld%c", &cur_v, &cur_a, &tail) != 2 || !isfinite(cur_v))
            return err_set(e, ERR_INVALID,
                           "cursor '%.40s' is not valid; pass the next_cursor of the previous page",
                           q->cursor);
    }
    db_val v[12];
    int nv = 0;
    sbuf where = SBUF_INIT, sql = SBUF_INIT;
    v[nv++] = DBI(id);
    sbuf_puts(&where, " WHERE i.evaluation_id = $1");
    if (q->has_fp >= 0)
        sbuf_puts(&where, q->has_fp ? " AND i.fp > 0" : " AND i.fp = 0");
    if (q->has_fn >= 0)
        sbuf_puts(&where, q->has_fn ? " AND i.fn > 0" : " AND i.fn = 0");
    if (!isnan(q->iou_below)) {
        v[nv++] = DBD(q->iou_below);
        sbuf_printf(&where, " AND i.min_iou < $%d", nv);
    }
    if (label_id) {
        v[nv++] = DBI(label_id);
        sbuf_printf(&where,
                    " AND EXISTS (SELECT 1 FROM evaluation_image_label l WHERE l.evaluation_id ="
                    " i.evaluation_id AND l.label_id = $%d AND l.asset_id = i.asset_id)",
                    nv);
    }
    if (!isnan(q->min_score) || !isnan(q->max_score)) {
        sbuf_puts(&where, " AND EXISTS (SELECT 1 FROM evaluation_prediction p WHERE"
                          " p.evaluation_id = i.evaluation_id AND p.asset_id = i.asset_id");
        if (!isnan(q->min_score)) {
            v[nv++] = DBD(q->min_score);
            sbuf_printf(&where, " AND p.score >= $%d", nv);
        }
        if (!isnan(q->max_score)) {
            v[nv++] = DBD(q->max_score);
            sbuf_printf(&where, " AND p.score <= $%d", nv);
        }
        sbuf_putc(&where, ')');
    }
    int nfilter = nv;
    int64_t total = -1;
    int rc = 0;
    if (!q->cursor) {
        sbuf_printf(&sql, "SELECT COUNT(*) FROM evaluation_image i%s", sbuf_cstr(&where));
        db_stmt *s = db_query_(c, e, sbuf_cstr(&sql), v, nfilter);
        rc = s ? db_step(s, e) : -1;
        if (rc == DB_ROW)
            total = db_col_i64(s, 0);
        if (s)
            db_done(s);
        sbuf_reset(&sql);
    }
    if (rc >= 0) {
        if (q->cursor) {
            v[nv++] = DBD(cur_v);
            v[nv++] = DBI(cur_a);
            sbuf_printf(&where, " AND (%s %s $%d OR (%s = $%d AND i.asset_id > $%d))", od->key,
                        od->desc ? "<" : ">", nv - 1, od->key, nv - 1, nv);
        }
        sbuf_printf(&sql,
                    "SELECT i.asset_id, a.data_id, d.filename, d.width, d.height, i.tp, i.fp, i.fn,"
                    " i.n_gt, i.n_pred, i.errors, i.min_iou, i.mean_iou, i.max_fp_score,"
                    " i.worst_error, %s FROM evaluation_image i LEFT JOIN asset a ON a.id ="
                    " i.asset_id LEFT JOIN data d ON d.id = a.data_id%s ORDER BY %s%s, i.asset_id"
                    " LIMIT %lld",
                    od->key, sbuf_cstr(&where), od->key, od->desc ? " DESC" : "",
                    (long long)q->limit + 1);
        db_stmt *s = db_query_(c, e, sbuf_cstr(&sql), v, nv);
        if (!s) {
            rc = -1;
        } else {
            jw_obj(w);
            if (total >= 0)
                jw_kint(w, "total", total);
            jw_kstr(w, "order_by", od->name);
            jw_key(w, "items");
            jw_arr(w);
            int64_t n = 0;
            char next[64] = "";
            while ((rc = db_step(s, e)) == DB_ROW) {
                if (n == q->limit) {
                    break;
                }
                n++;
                jw_obj(w);
                jw_kint(w, "asset_id", db_col_i64(s, 0));
                ds_opt_int(w, "data_id", s, 1);
                jw_kstr(w, "filename", db_col_text(s, 2));
                ds_opt_int(w, "width", s, 3);
                ds_opt_int(w, "height", s, 4);
                jw_kint(w, "tp", db_col_i64(s, 5));
                jw_kint(w, "fp", db_col_i64(s, 6));
                jw_kint(w, "fn", db_col_i64(s, 7));
                jw_kint(w, "ground_truths", db_col_i64(s, 8));
                jw_kint(w, "predictions", db_col_i64(s, 9));
                jw_kint(w, "errors", db_col_i64(s, 10));
                jw_key(w, "min_iou");
                db_col_null(s, 11) ? jw_null(w) : jw_dbl(w, db_col_dbl(s, 11));
                jw_key(w, "mean_iou");
                db_col_null(s, 12) ? jw_null(w) : jw_dbl(w, db_col_dbl(s, 12));
                jw_key(w, "max_fp_score");
                db_col_null(s, 13) ? jw_null(w) : jw_dbl(w, db_col_dbl(s, 13));
                jw_kstr(w, "worst_error", db_col_text(s, 14));
                jw_obj_end(w);
                snprintf(next, sizeof next, "%.17g,%lld", db_col_dbl(s, 15),
                         (long long)db_col_i64(s, 0));
            }
            bool more = rc == DB_ROW;
            db_done(s);
            jw_arr_end(w);
            jw_key(w, "next_cursor");
            if (more)
                jw_str(w, next);
            else
                jw_null(w);
            jw_obj_end(w);
        }
    }
    sbuf_free(&where);
    sbuf_free(&sql);
    return rc < 0 ? -1 : 0;
}

/* --- one image ---------------------------------------------------------------------------------- */

/* Writes shapes of `table` whose ids are in `list`, skipping ids already
 * written (seen), marking each written. */
static int gt_shapes(db_conn *c, const char *table, const char *list, int64_t *ids, bool *seen,
                     size_t n, jw *w, err *e)
{
    sbuf sql = SBUF_INIT;
    sbuf_printf(&sql,
                "SELECT " DS_SHAPE_COLS("s.") " FROM %s s JOIN label l ON l.id = s.label_id"
                " WHERE s.id IN ",
                table);
    sbuf_printf(&sql, in_list(c), 1);
    sbuf_puts(&sql, strcmp(table, "shape") == 0 ? " ORDER BY s.id" : " ORDER BY s.revision DESC");
    db_stmt *s = db_query(c, e, sbuf_cstr(&sql), DBT(list));
    sbuf_free(&sql);
    if (!s)
        return -1;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        int64_t sid = db_col_i64(s, 0);
        size_t k = 0;
        while (k < n && ids[k] != sid)
            k++;
        if (k == n || seen[k])
            continue;
        seen[k] = true;
        ds_shape_write_row(w, s, 0);
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int evaluation_image_write(db_conn *c, int64_t org, int64_t id, int64_t asset, jw *w, err *e)
{
    ev_row r;
    if (load(c, org, id, &r, e))
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT i.tp, i.fp, i.fn, i.n_gt, i.n_pred, i.errors, i.min_iou,"
                          " i.mean_iou, i.max_fp_score, i.worst_error, i.matches, e.params FROM"
                          " evaluation_image i JOIN evaluation e ON e.id = i.evaluation_id WHERE"
                          " i.evaluation_id = $1 AND i.asset_id = $2",
                          DBI(id), DBI(asset));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_DONE) {
        db_done(s);
        return err_set(e, ERR_NOT_FOUND, "asset %lld is not an image of evaluation '%s'",
                       (long long)asset, r.name);
    }
    if (rc < 0) {
        db_done(s);
        return -1;
    }
    asset_info info;
    ev_match *m = NULL;
    size_t nm = 0;
    int64_t *gids = NULL;
    bool *seen = NULL;
    size_t ng = 0;
    sbuf list = SBUF_INIT;
    size_t blen = 0;
    const unsigned char *blob = db_col_blob(s, 10, &blen);
    nm = blob ? blen / EV_MATCH_SIZE : 0;
    m = malloc((nm + 1) * sizeof *m);
    gids = malloc((nm + 1) * sizeof *gids);
    seen = calloc(nm + 1, sizeof *seen);
    if (!m || !gids || !seen) {
        db_done(s);
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nm; i++) {
        ev_match_get(blob + i * EV_MATCH_SIZE, &m[i]);
        if (m[i].gt < 0)
            continue;
        size_t k = 0;
        while (k < ng && gids[k] != m[i].gt)
            k++;
        if (k == ng)
            gids[ng++] = m[i].gt;
    }
    jw_obj(w);
    jw_kint(w, "evaluation_id", id);
    jw_kint(w, "asset_id", asset);
    jw_kint(w, "tp", db_col_i64(s, 0));
    jw_kint(w, "fp", db_col_i64(s, 1));
    jw_kint(w, "fn", db_col_i64(s, 2));
    jw_kint(w, "ground_truths", db_col_i64(s, 3));
    jw_kint(w, "predictions_total", db_col_i64(s, 4));
    jw_kint(w, "errors", db_col_i64(s, 5));
    jw_key(w, "min_iou");
    db_col_null(s, 6) ? jw_null(w) : jw_dbl(w, db_col_dbl(s, 6));
    jw_key(w, "mean_iou");
    db_col_null(s, 7) ? jw_null(w) : jw_dbl(w, db_col_dbl(s, 7));
    jw_key(w, "max_fp_score");
    db_col_null(s, 8) ? jw_null(w) : jw_dbl(w, db_col_dbl(s, 8));
    jw_kstr(w, "worst_error", db_col_text(s, 9));
    ds_raw_json(w, "params", s, 11, "null");
    db_done(s);
    if (assets_info(c, &asset, 1, &info, e)) {
        rc = -1;
        goto out;
    }
    if (info.filename) {
        jw_kint(w, "data_id", info.data_id);
        jw_kstr(w, "filename", info.filename);
        jw_kint(w, "width", info.w);
        jw_kint(w, "height", info.h);
        free(info.filename);
    } else {
        jw_key(w, "data_id");
        jw_null(w);
    }
    jw_key(w, "matches");
    jw_arr(w);
    for (size_t i = 0; i < nm; i++) {
        jw_obj(w);
        jw_kstr(w, "kind", ev_kind_name(m[i].kind));
        jw_key(w, "prediction_id");
        m[i].pred >= 0 ? jw_int(w, m[i].pred) : jw_null(w);
        jw_key(w, "gt_id");
        m[i].gt >= 0 ? jw_int(w, m[i].gt) : jw_null(w);
        if (m[i].kind == EV_TP || m[i].kind == EV_FP || m[i].kind == EV_IGNORED) {
            jw_kdbl(w, "iou", m[i].iou);
            jw_kdbl(w, "score", m[i].score);
        }
        if (m[i].error)
            jw_kstr(w, "error", eval_error_kind_name((eval_error_kind)m[i].error));
        jw_obj_end(w);
    }
    jw_arr_end(w);
    /* ground truth: the shapes used, current or (if since replaced) archived */
    sbuf_putc(&list, '[');
    for (size_t i = 0; i < ng; i++) {
        if (i)
            sbuf_putc(&list, ',');
        sbuf_put_i64(&list, gids[i]);
    }
    sbuf_putc(&list, ']');
    jw_key(w, "ground_truth");
    jw_arr(w);
    if (ng && (gt_shapes(c, "shape", sbuf_cstr(&list), gids, seen, ng, w, e) ||
               gt_shapes(c, "shape_revision", sbuf_cstr(&list), gids, seen, ng, w, e))) {
        rc = -1;
        goto out;
    }
    jw_arr_end(w);
    jw_key(w, "predictions");
    jw_arr(w);
    s = db_query(c, e,
                 "SELECT p.id, p.kind, l.name, p.label_id, p.x, p.y, p.w, p.h, p.geom, p.aux,"
                 " p.score, NULL, NULL, 0, NULL FROM evaluation_prediction p JOIN label l ON l.id ="
                 " p.label_id WHERE p.evaluation_id = $1 AND p.asset_id = $2 ORDER BY p.id",
                 DBI(id), DBI(asset));
    if (!s) {
        rc = -1;
        goto out;
    }
    while ((rc = db_step(s, e)) == DB_ROW)
        ds_shape_write_row(w, s, 0);
    db_done(s);
    jw_arr_end(w);
    jw_obj_end(w);
out:
    sbuf_free(&list);
    free(m);
    free(gids);
    free(seen);
    return rc < 0 ? -1 : 0;
}
