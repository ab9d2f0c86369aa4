/*
 * run.c - the evaluation.run job: ground truth and predictions from the
 * database into the evaluation engine, the engine's results back into the
 * database in one transaction.
 *
 * Phases (each logged with its time):
 *   load    the version's labels (the categories, in id order), its assets
 *           (the images; only those tagged `split` when given), the current
 *           annotations' shapes (status filter: non_rejected, accepted or
 *           all) and the evaluation's predictions in upload order (the
 *           order the reference uses to break score ties)
 *   eval    detection tasks: eval_coco_run (COCO numbers and PR arrays) and
 *           eval_coco_detail (matches, confusion hits, error types) at
 *           iou_thr / score_thr; classification: eval_cls_compute
 *   store   one transaction: the previous results are deleted, the new
 *           ones inserted, the summary written, the summary numbers logged
 *           as experiment metrics. Any failure rolls all of it back, so a
 *           failed run leaves the previous results untouched.
 *
 * Geometry. Shapes come in the datasets module's encoding (see
 * dataset/shape.c) and go to the engine as COCO would give them: bbox
 * evaluations use the box (the enclosing box of polygons and masks); segm
 * uses polygons (rings), RLE masks, and boxes as rectangles; keypoints use
 * the x, y, v triplets with the shape's enclosing box as the object box.
 * Ground-truth areas are the shape's `area` when it has one, else derived
 * (mask area for polygons and masks, w*h for boxes and keypoints).
 * Keypoint labels with 17 vertices use the COCO person sigmas; others a
 * uniform 0.07 (about the mean of those).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/cls.h"
#include "eval/eval.h"
#include "evaluation/internal.h"
#include "experiment/experiment.h"

#define KP_SIGMA_DEFAULT 0.07

static double now_s(void) { return (double)time_mono_ns() / 1e9; }

typedef struct run_params {
    const char *gt_mode; /* non_rejected | accepted | all */
    const char *split;   /* NULL: every asset */
    double iou_thr, score_thr, bg_thr;
} run_params;

/* One image (asset) of the run. */
typedef struct img {
    int64_t asset;
    uint32_t w, h;
    int n_gt, n_gt_all, n_pred;
    size_t gt0, ngt; /* its ground truths in run.gts (contiguous: loaded by asset) */
} img;

typedef struct gt_rec {
    int64_t shape, label;
    bool crowd;
} gt_rec;

typedef struct run {
    db_conn *c;
    ev_row r;
    run_params p;
    ds_labels labels;
    img *imgs;
    size_t nimg;
    ds_imap img_of; /* asset -> index */
    gt_rec *gts;
    size_t ngts, capgts;
    int64_t *pred_ids; /* detection index -> prediction id */
    int64_t *pred_labels;
    double *pred_scores;
    uint32_t *pred_img; /* image index */
    size_t npred, cappred;
    int64_t outside; /* predictions on assets outside the images */
    /* scratch */
    double *dbuf;
    size_t dcap;
    uint32_t *ubuf;
    size_t ucap;
} run;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static void run_free(run *x)
{
    ds_labels_free(&x->labels);
    ds_imap_free(&x->img_of);
    free(x->imgs);
    free(x->gts);
    free(x->pred_ids);
    free(x->pred_labels);
    free(x->pred_scores);
    free(x->pred_img);
    free(x->dbuf);
    free(x->ubuf);
}

/* --- loading ---------------------------------------------------------------------------------- */

static int load_images(run *x, err *e)
{
    db_stmt *s =
        x->p.split
            ? db_query(x->c, e,
                       "SELECT a.id, d.width, d.height FROM asset a JOIN data d ON d.id = a.data_id"
                       " WHERE a.version_id = $1 AND EXISTS (SELECT 1 FROM asset_tag t WHERE"
                       " t.asset_id = a.id AND t.name = $2) ORDER BY a.id",
                       DBI(x->r.version), DBT(x->p.split))
            : db_query(x->c, e,
                       "SELECT a.id, d.width, d.height FROM asset a JOIN data d ON d.id = a.data_id"
                       " WHERE a.version_id = $1 ORDER BY a.id",
                       DBI(x->r.version));
    if (!s)
        return -1;
    size_t cap = 0;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        if (grow((void **)&x->imgs, &cap, x->nimg + 1, sizeof *x->imgs)) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            break;
        }
        img *im = &x->imgs[x->nimg];
        memset(im, 0, sizeof *im);
        im->asset = db_col_i64(s, 0);
        im->w = (uint32_t)db_col_i64(s, 1);
        im->h = (uint32_t)db_col_i64(s, 2);
        if (ds_imap_put(&x->img_of, im->asset, (int64_t)x->nimg)) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            break;
        }
        x->nimg++;
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

/* The geometry of a stored shape row (columns from `col`: kind, x, y, w,
 * h, geom, aux) as an engine annotation. Memory comes from x's scratch
 * buffers, valid until the next call. */
static int to_ann(run *x, db_stmt *s, int col, bool is_gt, eval_ann *a, err *e)
{
    int kind = (int)db_col_i64(s, col);
    double bx = db_col_dbl(s, col + 1), by = db_col_dbl(s, col + 2), bw = db_col_dbl(s, col + 3),
           bh = db_col_dbl(s, col + 4);
    size_t glen = 0, alen = 0;
    const unsigned char *geom = db_col_blob(s, col + 5, &glen);
    size_t np = geom ? glen / sizeof(double) : 0;
    if (grow((void **)&x->dbuf, &x->dcap, np + 8, sizeof *x->dbuf))
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (np)
        memcpy(x->dbuf, geom, np * sizeof(double));
    const unsigned char *aux = db_col_blob(s, col + 6, &alen);
    eval_iou_type t = 0;
    eval_iou_type_parse(x->r.iou_type, &t);
    a->has_bbox = t != EVAL_KEYPOINTS || is_gt;
    a->bbox[0] = bx;
    a->bbox[1] = by;
    a->bbox[2] = bw;
    a->bbox[3] = bh;
    bool want_seg = t == EVAL_SEGM || (is_gt && t == EVAL_BBOX);
    if (t == EVAL_SEGM)
        a->has_bbox = false; /* the reference takes a result's box when it has one */
    if (t == EVAL_KEYPOINTS) {
        if (kind != DS_KEYPOINTS)
            return err_set(e, ERR_INVALID, "a keypoints evaluation needs keypoint shapes");
        a->keypoints = x->dbuf;
        a->nkeypoints = np / 3;
        a->num_keypoints = -1;
        return 0;
    }
    if (!want_seg)
        return 0;
    switch (kind) {
    case DS_BOX:
        if (t != EVAL_SEGM)
            return 0;
        x->dbuf[0] = bx, x->dbuf[1] = by, x->dbuf[2] = bx, x->dbuf[3] = by + bh;
        x->dbuf[4] = bx + bw, x->dbuf[5] = by + bh, x->dbuf[6] = bx + bw, x->dbuf[7] = by;
        if (grow((void **)&x->ubuf, &x->ucap, 1, sizeof *x->ubuf))
            return err_set(e, ERR_INTERNAL, "out of memory");
        x->ubuf[0] = 8;
        a->seg = (eval_seg){.kind = EVAL_SEG_POLY, .xy = x->dbuf, .poly_len = x->ubuf, .npoly = 1};
        return 0;
    case DS_POLYGON: {
        size_t nr = aux && alen >= 4 ? alen / 4 : 1;
        if (grow((void **)&x->ubuf, &x->ucap, nr, sizeof *x->ubuf))
            return err_set(e, ERR_INTERNAL, "out of memory");
        if (aux && alen >= 4) {
            for (size_t i = 0; i < nr; i++) {
                int32_t k;
                memcpy(&k, aux + i * 4, 4);
                x->ubuf[i] = (uint32_t)k * 2;
            }
        } else {
            x->ubuf[0] = (uint32_t)np;
        }
        a->seg = (eval_seg){.kind = EVAL_SEG_POLY, .xy = x->dbuf, .poly_len = x->ubuf, .npoly = nr};
        return 0;
    }
    case DS_MASK: {
        if (!aux || alen < 12)
            return err_set(e, ERR_INVALID, "a mask shape has no counts");
        uint32_t head[3];
        memcpy(head, aux, sizeof head);
        if (head[2] == 1) {
            /* the string is copied into ubuf's memory as bytes */
            size_t n = alen - 12;
            if (grow((void **)&x->ubuf, &x->ucap, n / 4 + 2, sizeof *x->ubuf))
                return err_set(e, ERR_INTERNAL, "out of memory");
            memcpy(x->ubuf, aux + 12, n);
            ((char *)x->ubuf)[n] = 0;
            a->seg = (eval_seg){.kind = EVAL_SEG_STRING, .str = (const char *)x->ubuf, .len = n,
                                .h = head[0], .w = head[1]};
        } else {
            size_t n = (alen - 12) / 4;
            if (grow((void **)&x->ubuf, &x->ucap, n + 1, sizeof *x->ubuf))
                return err_set(e, ERR_INTERNAL, "out of memory");
            memcpy(x->ubuf, aux + 12, n * 4);
            a->seg = (eval_seg){.kind = EVAL_SEG_COUNTS, .counts = x->ubuf, .ncounts = n,
                                .h = head[0], .w = head[1]};
        }
        return 0;
    }
    default:
        return 0;
    }
}

#define GT_SQL_HEAD                                                                                \
    "SELECT s.id, s.asset_id, s.label_id, s.iscrowd, s.area, s.kind, s.x, s.y, s.w, s.h, s.geom,"  \
    " s.aux FROM shape s JOIN annotation an ON an.asset_id = s.asset_id WHERE an.version_id = $1"

/* Ground truth of the images, by asset. eng NULL: classification (only
 * collected). */
static int load_gts(run *x, eval_coco *eng, err *e)
{
    const char *sql =
        strcmp(x->p.gt_mode, "accepted") == 0
            ? GT_SQL_HEAD " AND an.status = 'accepted' ORDER BY s.asset_id, s.id"
        : strcmp(x->p.gt_mode, "all") == 0
            ? GT_SQL_HEAD " ORDER BY s.asset_id, s.id"
            : GT_SQL_HEAD " AND an.status <> 'rejected' ORDER BY s.asset_id, s.id";
    db_stmt *s = db_query(x->c, e, sql, DBI(x->r.version));
    if (!s)
        return -1;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        int64_t asset = db_col_i64(s, 1), idx;
        if (!ds_imap_get(&x->img_of, asset, &idx))
            continue; /* outside the split */
        int kind = (int)db_col_i64(s, 5);
        bool cls = ev_is_cls(&x->r);
        if (cls ? kind != DS_CLASS
                : (strcmp(x->r.iou_type, "keypoints") == 0 ? kind != DS_KEYPOINTS
                                                           : kind != DS_BOX && kind != DS_POLYGON &&
                                                                 kind != DS_MASK))
            continue; /* not ground truth of this task */
        img *im = &x->imgs[idx];
        if (grow((void **)&x->gts, &x->capgts, x->ngts + 1, sizeof *x->gts)) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            break;
        }
        if (im->ngt == 0)
            im->gt0 = x->ngts;
        gt_rec *g = &x->gts[x->ngts++];
        g->shape = db_col_i64(s, 0);
        g->label = db_col_i64(s, 2);
        g->crowd = db_col_i64(s, 3) != 0;
        im->ngt++;
        im->n_gt_all++;
        if (!g->crowd)
            im->n_gt++;
        if (!eng)
            continue;
        eval_ann a = {.id = g->shape, .image_id = asset, .category_id = g->label,
                      .iscrowd = g->crowd, .area = -1};
        if (to_ann(x, s, 5, true, &a, e)) {
            err_prefix(e, "ground truth shape %lld: ", (long long)g->shape);
            rc = -1;
            break;
        }
        if (!db_col_null(s, 4))
            a.area = db_col_dbl(s, 4);
        else if (kind == DS_BOX || kind == DS_KEYPOINTS)
            a.area = a.bbox[2] * a.bbox[3];
        if (eval_coco_add_gt(eng, &a, e)) {
            err_prefix(e, "ground truth shape %lld: ", (long long)g->shape);
            rc = -1;
            break;
        }
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

static int load_preds(run *x, eval_coco *eng, err *e)
{
    db_stmt *s = db_query(x->c, e,
                          "SELECT id, asset_id, label_id, score, kind, x, y, w, h, geom, aux FROM"
                          " evaluation_prediction WHERE evaluation_id = $1 ORDER BY id",
                          DBI(x->r.id));
    if (!s)
        return -1;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        int64_t asset = db_col_i64(s, 1), idx;
        if (!ds_imap_get(&x->img_of, asset, &idx)) {
            x->outside++;
            continue;
        }
        x->imgs[idx].n_pred++;
        if (x->npred == x->cappred) {
            size_t nc = x->cappred ? x->cappred * 2 : 1024;
            int64_t *pi = realloc(x->pred_ids, nc * sizeof *pi);
            if (pi)
                x->pred_ids = pi;
            int64_t *pl = realloc(x->pred_labels, nc * sizeof *pl);
            if (pl)
                x->pred_labels = pl;
            double *ps = realloc(x->pred_scores, nc * sizeof *ps);
            if (ps)
                x->pred_scores = ps;
            uint32_t *pm = realloc(x->pred_img, nc * sizeof *pm);
            if (pm)
                x->pred_img = pm;
            if (!pi || !pl || !ps || !pm) {
                rc = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            x->cappred = nc;
        }
        size_t k = x->npred++;
        x->pred_ids[k] = db_col_i64(s, 0);
        x->pred_labels[k] = db_col_i64(s, 2);
        x->pred_scores[k] = db_col_null(s, 3) ? NAN : db_col_dbl(s, 3);
        x->pred_img[k] = (uint32_t)idx;
        if (!eng)
            continue;
        eval_ann a = {.image_id = asset, .category_id = x->pred_labels[k],
                      .score = x->pred_scores[k], .area = -1};
        if (to_ann(x, s, 4, false, &a, e)) {
            err_prefix(e, "prediction %lld: ", (long long)x->pred_ids[k]);
            rc = -1;
            break;
        }
        if (eval_coco_add_dt(eng, &a, e)) {
            err_prefix(e, "prediction %lld: ", (long long)x->pred_ids[k]);
            rc = -1;
            break;
        }
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

/* --- storing ------------------------------------------------------------------------------------ */

typedef struct cell_asset {
    int64_t asset, count;
} cell_asset;

typedef struct cell {
    uint64_t count;
    cell_asset *a;
    size_t n, cap;
} cell;

static int cell_asset_cmp(const void *p, const void *q)
{
    const cell_asset *a = p, *b = q;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return (a->asset > b->asset) - (a->asset < b->asset);
}

static int cell_hit(cell *c, int64_t asset)
{
    c->count++;
    if (c->n && c->a[c->n - 1].asset == asset) {
        c->a[c->n - 1].count++;
        return 0;
    }
    /* hits come image by image, but an image's hits on one cell may be
     * interleaved with other cells': look back among its entries */
    for (size_t i = c->n; i-- > 0 && c->n - i <= 1;)
        if (c->a[i].asset == asset) {
            c->a[i].count++;
            return 0;
        }
    if (grow((void **)&c->a, &c->cap, c->n + 1, sizeof *c->a))
        return -1;
    c->a[c->n++] = (cell_asset){asset, 1};
    return 0;
}

static void cells_free(cell *cells, size_t n)
{
    for (size_t i = 0; cells && i < n; i++)
        free(cells[i].a);
    free(cells);
}

/* Deletes the previous results of the evaluation (inside the transaction). */
static int clear_results(db_conn *c, int64_t id, err *e)
{
    static const char *const sql[] = {
        "DELETE FROM evaluation_class WHERE evaluation_id = $1",
        "DELETE FROM evaluation_image WHERE evaluation_id = $1",
        "DELETE FROM evaluation_image_label WHERE evaluation_id = $1",
        "DELETE FROM evaluation_cell WHERE evaluation_id = $1",
    };
    for (size_t i = 0; i < ARRAY_LEN(sql); i++)
        if (db_run(c, e, sql[i], DBI(id)) < 0)
            return -1;
    return 0;
}

static int store_cells(db_conn *c, int64_t id, cell *cells, size_t side, err *e)
{
    ds_bulk b;
    if (ds_bulk_init(&b, c,
                     "INSERT INTO evaluation_cell (evaluation_id, row_k, col_k, count, nassets,"
                     " assets) VALUES ",
                     NULL, 6, 128, e))
        return -1;
    int rc = 0;
    unsigned char *buf = NULL;
    for (size_t i = 0; i < side * side && rc == 0; i++) {
        cell *cl = &cells[i];
        if (!cl->count)
            continue;
        qsort(cl->a, cl->n, sizeof *cl->a, cell_asset_cmp);
        size_t keep = cl->n < EVAL_CELL_ASSETS_MAX ? cl->n : EVAL_CELL_ASSETS_MAX;
        free(buf);
        buf = malloc(keep * 16 + 1);
        if (!buf) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            break;
        }
        for (size_t k = 0; k < keep; k++) {
            memcpy(buf + k * 16, &cl->a[k].asset, 8);
            memcpy(buf + k * 16 + 8, &cl->a[k].count, 8);
        }
        db_val v[6] = {DBI(id),         DBI(i / side),   DBI(i % side),
                       DBI(cl->count),  DBI(cl->n),      DBB(buf, keep * 16)};
        for (int k = 0; k < 6 && rc == 0; k++)
            rc = ds_bulk_val(&b, v[k], e);
    }
    free(buf);
    if (rc == 0)
        rc = ds_bulk_flush(&b, e);
    ds_bulk_free(&b);
    return rc;
}

typedef struct img_result {
    int tp, fp, fn;
    double min_iou, sum_iou, max_fp;
    int counts[8]; /* by eval_error_kind */
    sbuf matches;
    int64_t labels[64];
    int nlabels;
} img_result;

static void add_label(img_result *ir, int64_t label)
{
    for (int i = 0; i < ir->nlabels; i++)
        if (ir->labels[i] == label)
            return;
    if (ir->nlabels < (int)ARRAY_LEN(ir->labels))
        ir->labels[ir->nlabels++] = label;
}

static const char *worst_error(const img_result *ir)
{
    int best = 0;
    for (int k = 1; k <= EVAL_ERR_MISSED; k++)
        if (ir->counts[k] > ir->counts[best])
            best = k;
    return best ? eval_error_kind_name((eval_error_kind)best) : NULL;
}

typedef struct img_writer {
    ds_bulk img, lab;
    bool img_ok, lab_ok;
} img_writer;

static int img_writer_init(img_writer *iw, db_conn *c, err *e)
{
    memset(iw, 0, sizeof *iw);
    if (ds_bulk_init(&iw->img, c,
                     "INSERT INTO evaluation_image (evaluation_id, asset_id, tp, fp, fn, n_gt,"
                     " n_pred, errors, min_iou, mean_iou, max_fp_score, worst_error, matches)"
                     " VALUES ",
                     NULL, 13, 128, e))
        return -1;
    iw->img_ok = true;
    if (ds_bulk_init(&iw->lab, c,
                     "INSERT INTO evaluation_image_label (evaluation_id, label_id, asset_id)"
                     " VALUES ",
                     NULL, 3, 256, e))
        return -1;
    iw->lab_ok = true;
    return 0;
}

static void img_writer_free(img_writer *iw)
{
    if (iw->img_ok)
        ds_bulk_free(&iw->img);
    if (iw->lab_ok)
        ds_bulk_free(&iw->lab);
}

static int img_write(img_writer *iw, int64_t id, const img *im, img_result *ir, err *e)
{
    const char *we = worst_error(ir);
    db_val v[13] = {
        DBI(id),
        DBI(im->asset),
        DBI(ir->tp),
        DBI(ir->fp),
        DBI(ir->fn),
        DBI(im->n_gt),
        DBI(im->n_pred),
        DBI(ir->fp + ir->fn),
        ir->tp ? DBD(ir->min_iou) : DBNULL,
        ir->tp ? DBD(ir->sum_iou / ir->tp) : DBNULL,
        ir->fp ? DBD(ir->max_fp) : DBNULL,
        DBT(we),
        ir->matches.len ? DBB(ir->matches.p, ir->matches.len) : DBNULL,
    };
    for (int k = 0; k < 13; k++)
        if (ds_bulk_val(&iw->img, v[k], e))
            return -1;
    for (int i = 0; i < ir->nlabels; i++)
        if (ds_bulk_val(&iw->lab, DBI(id), e) || ds_bulk_val(&iw->lab, DBI(ir->labels[i]), e) ||
            ds_bulk_val(&iw->lab, DBI(im->asset), e))
            return -1;
    return 0;
}

static void put_match(img_result *ir, int64_t pred, int64_t gt, double iou, double score,
                      int kind, int error)
{
    unsigned char rec[EV_MATCH_SIZE];
    ev_match m = {pred, gt, iou, (float)score, (uint8_t)kind, (uint8_t)error};
    ev_match_put(rec, &m);
    sbuf_put(&ir->matches, rec, sizeof rec);
}

/* Logs the summary numbers as experiment metrics (step = evaluation id). */
static int log_metrics(run *x, const char *const *names, const double *vals, int n, err *e)
{
    exp_batch_series series[32];
    exp_batch_point points[32];
    char namebuf[32][EVAL_PREFIX_MAX + 40];
    size_t ns = 0;
    int64_t now = time_now_ms();
    for (int i = 0; i < n && ns < 32; i++) {
        if (!isfinite(vals[i]) || vals[i] < 0)
            continue; /* undefined */
        snprintf(namebuf[ns], sizeof namebuf[ns], "%s%s", x->r.prefix, names[i]);
        series[ns] = (exp_batch_series){namebuf[ns], strlen(namebuf[ns]), 1};
        points[ns] = (exp_batch_point){(uint32_t)ns, {x->r.id, vals[i], now}};
        ns++;
    }
    if (!ns)
        return 0;
    exp_batch b = {series, ns, points, ns};
    return exp_points_apply(x->c, x->r.org, x->r.experiment, &b, e);
}

static int finish(run *x, job_ctx *j, const char *summary, err *e)
{
    char params[400];
    if (x->p.split) {
        sbuf sp = SBUF_INIT;
        sbuf_json_str(&sp, x->p.split, strlen(x->p.split));
        snprintf(params, sizeof params,
                 "{\"ground_truth\":\"%s\",\"split\":%s,\"iou_thr\":%.17g,\"score_thr\":%.17g,"
                 "\"bg_thr\":%.17g}",
                 x->p.gt_mode, sbuf_cstr(&sp), x->p.iou_thr, x->p.score_thr, x->p.bg_thr);
        sbuf_free(&sp);
    } else {
        snprintf(params, sizeof params,
                 "{\"ground_truth\":\"%s\",\"split\":null,\"iou_thr\":%.17g,\"score_thr\":%.17g,"
                 "\"bg_thr\":%.17g}",
                 x->p.gt_mode, x->p.iou_thr, x->p.score_thr, x->p.bg_thr);
    }
    if (job_should_stop(j))
        return err_set(e, ERR_UNAVAILABLE, "the job was asked to stop");
    return db_run(x->c, e,
                  "UPDATE evaluation SET status = 'succeeded', summary = $1, params = $2,"
                  " error = NULL, evaluated_at = $3 WHERE id = $4",
                  DBT(summary), DBT(params), DBI(time_now_ms()), DBI(x->r.id)) < 0
               ? -1
               : 0;
}

static double pr_at(const double *a, size_t T, size_t R, size_t K, size_t A, size_t M, size_t t,
                    size_t r, size_t k)
{
    (void)T;
    return a[(((t * R + r) * K + k) * A + 0) * M + (M - 1)];
}

/* --- detection ---------------------------------------------------------------------------------- */

static const char *const det_names[] = {"mAP",       "mAP50",     "mAP75",    "mAP_small",
                                        "mAP_medium", "mAP_large", "AR1",      "AR10",
                                        "AR100",     "AR_small",  "AR_medium", "AR_large"};
static const char *const kp_names[] = {"mAP",  "mAP50", "mAP75",     "mAP_medium", "mAP_large",
                                       "AR20", "AR50",  "AR75", "AR_medium",  "AR_large"};

static int run_detection(run *x, job_ctx *j, err *e)
{
    eval_iou_type t;
    if (eval_iou_type_parse(x->r.iou_type, &t) < 0)
        return err_set(e, ERR_INTERNAL, "evaluation %lld has no IoU type", (long long)x->r.id);
    eval_coco *eng = eval_coco_new(t);
    if (!eng)
        return err_set(e, ERR_INTERNAL, "out of memory");
    eval_coco_set_names(eng, "ground truth", "predictions");
    eval_detail d = {0};
    cell *cells = NULL;
    size_t side = 0;
    img_writer iw = {0};
    img_result ir = {0};
    sbuf sum = SBUF_INIT;
    int rc = -1;
    double t0 = now_s(), t1, t2;
    for (size_t i = 0; i < x->nimg; i++)
        if (eval_coco_add_image(eng, x->imgs[i].asset, x->imgs[i].w, x->imgs[i].h, e))
            goto out;
    for (size_t k = 0; k < x->labels.n; k++) {
        const ds_label *l = &x->labels.items[k];
        if (eval_coco_add_category(eng, l->id, l->name, e))
            goto out;
        if (t == EVAL_KEYPOINTS && l->nkeypoints > 0 && l->nkeypoints != 17) {
            double *sg = malloc((size_t)l->nkeypoints * sizeof *sg);
            if (!sg) {
                err_set(e, ERR_INTERNAL, "out of memory");
                goto out;
            }
            for (int i = 0; i < l->nkeypoints; i++)
                sg[i] = KP_SIGMA_DEFAULT;
            int src = eval_coco_set_sigmas(eng, l->id, sg, (size_t)l->nkeypoints, e);
            free(sg);
            if (src)
                goto out;
        }
    }
    if (load_gts(x, eng, e) || load_preds(x, eng, e))
        goto out;
    t1 = now_s();
    job_log(j, "loaded %zu images, %zu labels, %zu ground truths, %zu predictions in %.2f s%s",
            x->nimg, x->labels.n, x->ngts, x->npred, t1 - t0,
            x->outside ? " (predictions outside the chosen images were left out)" : "");
    job_progress(j, 0.3, "evaluating");
    if (eval_coco_run(eng, NULL, e))
        goto out;
    eval_detail_opts o = {x->p.iou_thr, x->p.score_thr, x->p.bg_thr};
    if (eval_coco_detail(eng, &o, &d, e))
        goto out;
    int nstats = 0;
    const double *stats = eval_coco_stats(eng, &nstats);
    t2 = now_s();
    job_log(j, "evaluated in %.2f s: mAP %.4f, mAP50 %.4f; %llu true positives at IoU %g, score %g",
            t2 - t1, stats[0], stats[1], (unsigned long long)d.tp, o.iou_thr, o.score_thr);
    job_progress(j, 0.6, "storing results");
    if (job_should_stop(j)) {
        err_set(e, ERR_UNAVAILABLE, "the job was asked to stop");
        goto out;
    }

    size_t K = eval_coco_num_categories(eng);
    const eval_params *ep = eval_coco_params(eng);
    size_t T = (size_t)ep->n_iou, R = (size_t)ep->n_rec, A = (size_t)ep->n_area,
           M = (size_t)ep->n_maxdets;
    const double *prec = eval_coco_precision(eng), *scores = eval_coco_scores(eng);
    if (!prec || !scores) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    /* per-class counts at the detail thresholds */
    uint64_t *ctp = calloc(K * 3 + 1, sizeof *ctp);
    if (!ctp) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    ds_imap cat_of = {0};
    for (size_t k = 0; k < K; k++)
        ds_imap_put(&cat_of, eval_coco_category_id(eng, k), (int64_t)k);
    uint64_t fp_total = 0, fn_total = 0;
    for (size_t m = 0; m < d.nmatches; m++) {
        int64_t k;
        if (!ds_imap_get(&cat_of, d.matches[m].category_id, &k))
            continue;
        int kind = d.matches[m].kind;
        if (kind == EVAL_MATCH_TP)
            ctp[k * 3]++;
        else if (kind == EVAL_MATCH_FP)
            ctp[k * 3 + 1]++, fp_total++;
        else if (kind == EVAL_MATCH_FN)
            ctp[k * 3 + 2]++, fn_total++;
    }

    if (db_begin(x->c, e)) {
        free(ctp);
        ds_imap_free(&cat_of);
        goto out;
    }
    if (clear_results(x->c, x->r.id, e))
        goto fail_ctp;
    /* classes */
    {
        ds_bulk b;
        if (ds_bulk_init(&b, x->c,
                         "INSERT INTO evaluation_class (evaluation_id, k, label_id, name, metrics,"
                         " pr50, pr, sc50) VALUES ",
                         NULL, 8, 64, e))
            goto fail_ctp;
        double *c50 = malloc(R * 3 * sizeof *c50);
        int brc = c50 ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
        for (size_t k = 0; k < K && brc == 0; k++) {
            eval_cat_result cr;
            eval_coco_category_result(eng, k, &cr);
            double *cavg = c50 + R, *cs = c50 + 2 * R;
            for (size_t r = 0; r < R; r++) {
                c50[r] = pr_at(prec, T, R, K, A, M, 0, r, k);
                cs[r] = pr_at(scores, T, R, K, A, M, 0, r, k);
                double s = 0;
                int n = 0;
                for (size_t ti = 0; ti < T; ti++) {
                    double v = pr_at(prec, T, R, K, A, M, ti, r, k);
                    if (v > -1)
                        s += v, n++;
                }
                cavg[r] = n ? s / n : -1;
            }
            sbuf mj = SBUF_INIT;
            jw w;
            jw_init(&w, &mj);
            jw_obj(&w);
            jw_kint(&w, "ground_truths", (int64_t)cr.n_gt);
            jw_kint(&w, "predictions", (int64_t)cr.n_dt);
            jw_kdbl(&w, "AP", cr.ap);
            jw_kdbl(&w, "AP50", cr.ap50);
            jw_kdbl(&w, "AP75", cr.ap75);
            jw_kdbl(&w, "AP_small", cr.ap_small);
            jw_kdbl(&w, "AP_medium", cr.ap_medium);
            jw_kdbl(&w, "AP_large", cr.ap_large);
            jw_kdbl(&w, "AR1", cr.ar1);
            jw_kdbl(&w, "AR10", cr.ar10);
            jw_kdbl(&w, "AR100", cr.ar100);
            jw_kint(&w, "tp", (int64_t)ctp[k * 3]);
            jw_kint(&w, "fp", (int64_t)ctp[k * 3 + 1]);
            jw_kint(&w, "fn", (int64_t)ctp[k * 3 + 2]);
            jw_obj_end(&w);
            db_val v[8] = {DBI(x->r.id),
                           DBI(k),
                           DBI(cr.category_id),
                           DBT(cr.name),
                           DBT(sbuf_cstr(&mj)),
                           DBB(c50, R * sizeof(double)),
                           DBB(cavg, R * sizeof(double)),
                           DBB(cs, R * sizeof(double))};
            for (int i = 0; i < 8 && brc == 0; i++)
                brc = ds_bulk_val(&b, v[i], e);
            sbuf_free(&mj);
        }
        free(c50);
        if (brc == 0)
            brc = ds_bulk_flush(&b, e);
        ds_bulk_free(&b);
        if (brc)
            goto fail_ctp;
    }
    /* images and cells */
    side = K + 1;
    cells = calloc(side * side, sizeof *cells);
    if (!cells) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto fail_ctp;
    }
    for (size_t h = 0; h < d.ncm_hits; h++) {
        const eval_cm_hit *hit = &d.cm_hits[h];
        if (cell_hit(&cells[hit->row * side + hit->col], eval_coco_image_id(eng, hit->image))) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto fail_ctp;
        }
    }
    if (store_cells(x->c, x->r.id, cells, side, e) || img_writer_init(&iw, x->c, e))
        goto fail_ctp;
    for (size_t i = 0; i < x->nimg; i++) {
        /* engine images are in increasing id order, as ours */
        const img *im = &x->imgs[i];
        sbuf_reset(&ir.matches);
        ir.tp = ir.fp = ir.fn = 0;
        ir.min_iou = 2;
        ir.sum_iou = 0;
        ir.max_fp = -1;
        ir.nlabels = 0;
        memset(ir.counts, 0, sizeof ir.counts);
        int64_t used[256];
        int nused = 0;
        for (size_t m = d.image_first[i]; m < d.image_first[i + 1]; m++) {
            const eval_match *mt = &d.matches[m];
            int64_t pred = mt->dt >= 0 && (size_t)mt->dt < x->npred ? x->pred_ids[mt->dt] : -1;
            int kind = mt->kind == EVAL_MATCH_TP        ? EV_TP
                       : mt->kind == EVAL_MATCH_FP      ? EV_FP
                       : mt->kind == EVAL_MATCH_IGNORED ? EV_IGNORED
                                                        : EV_FN;
            put_match(&ir, pred, mt->gt_id, mt->iou, mt->score, kind, mt->error);
            if (mt->gt_id >= 0 && nused < (int)ARRAY_LEN(used))
                used[nused++] = mt->gt_id;
            add_label(&ir, mt->category_id);
            if (kind == EV_TP) {
                ir.tp++;
                ir.sum_iou += mt->iou;
                ir.min_iou = fmin(ir.min_iou, mt->iou);
            } else if (kind == EV_FP) {
                ir.fp++;
                ir.max_fp = fmax(ir.max_fp, mt->score);
            } else if (kind == EV_FN) {
                ir.fn++;
            }
            if (mt->error)
                ir.counts[mt->error]++;
        }
        for (size_t g = im->gt0; g < im->gt0 + im->ngt; g++) {
            add_label(&ir, x->gts[g].label);
            bool seen = false;
            for (int u = 0; u < nused && !seen; u++)
                seen = used[u] == x->gts[g].shape;
            if (!seen)
                put_match(&ir, -1, x->gts[g].shape, 0, 0, EV_GT, 0);
        }
        if (sbuf_failed(&ir.matches)) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto fail_ctp;
        }
        if (img_write(&iw, x->r.id, im, &ir, e))
            goto fail_ctp;
    }
    if (ds_bulk_flush(&iw.img, e) || ds_bulk_flush(&iw.lab, e))
        goto fail_ctp;
    /* summary */
    {
        jw w;
        jw_init(&w, &sum);
        jw_obj(&w);
        jw_kstr(&w, "iou_type", x->r.iou_type);
        const char *const *names = t == EVAL_KEYPOINTS ? kp_names : det_names;
        jw_key(&w, "stats");
        jw_arr(&w);
        for (int i = 0; i < nstats; i++)
            jw_dbl(&w, stats[i]);
        jw_arr_end(&w);
        jw_key(&w, "stat_names");
        jw_arr(&w);
        for (int i = 0; i < nstats; i++)
            jw_str(&w, names[i]);
        jw_arr_end(&w);
        sbuf txt = SBUF_INIT;
        eval_coco_summary_text(eng, &txt);
        jw_kstr(&w, "text", sbuf_cstr(&txt));
        sbuf_free(&txt);
        jw_kint(&w, "images", (int64_t)x->nimg);
        jw_kint(&w, "labels", (int64_t)K);
        jw_kint(&w, "ground_truths", (int64_t)eval_coco_num_gts(eng));
        jw_kint(&w, "predictions", (int64_t)eval_coco_num_dts(eng));
        jw_kint(&w, "predictions_outside", x->outside);
        jw_key(&w, "detail");
        jw_obj(&w);
        jw_kdbl(&w, "iou_thr", o.iou_thr);
        jw_kdbl(&w, "score_thr", o.score_thr);
        jw_kdbl(&w, "bg_thr", o.bg_thr);
        jw_kint(&w, "tp", (int64_t)d.tp);
        jw_kint(&w, "fp", (int64_t)fp_total);
        jw_kint(&w, "fn", (int64_t)fn_total);
        jw_key(&w, "errors");
        jw_obj(&w);
        jw_kint(&w, "classification", (int64_t)d.cls);
        jw_kint(&w, "localization", (int64_t)d.loc);
        jw_kint(&w, "both", (int64_t)d.both);
        jw_kint(&w, "duplicate", (int64_t)d.dupe);
        jw_kint(&w, "background", (int64_t)d.bkg);
        jw_kint(&w, "missed", (int64_t)d.missed);
        jw_obj_end(&w);
        jw_obj_end(&w);
        jw_kdbl(&w, "seconds_load", t1 - t0);
        jw_kdbl(&w, "seconds_eval", t2 - t1);
        jw_obj_end(&w);
        if (sbuf_failed(&sum)) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto fail_ctp;
        }
        if (log_metrics(x, names, stats, nstats, e) || finish(x, j, sbuf_cstr(&sum), e))
            goto fail_ctp;
    }
    if (db_commit(x->c, e))
        goto fail_ctp_norollback;
    job_log(j, "stored results for %zu images and %zu confusion hits in %.2f s", x->nimg,
            d.ncm_hits, now_s() - t2);
    rc = 0;
    free(ctp);
    ds_imap_free(&cat_of);
    goto out;
fail_ctp:
    db_rollback(x->c);
fail_ctp_norollback:
    free(ctp);
    ds_imap_free(&cat_of);
out:
    img_writer_free(&iw);
    sbuf_free(&ir.matches);
    sbuf_free(&sum);
    cells_free(cells, side * side);
    eval_detail_free(&d);
    eval_coco_free(eng);
    return rc;
}

/* --- classification ------------------------------------------------------------------------------ */

static int run_classification(run *x, job_ctx *j, err *e)
{
    double t0 = now_s();
    if (load_gts(x, NULL, e) || load_preds(x, NULL, e))
        return -1;
    size_t K = x->labels.n;
    eval_cls *ec = eval_cls_new();
    if (!ec)
        return err_set(e, ERR_INTERNAL, "out of memory");
    ds_imap k_of = {0};
    eval_cls_result res = {0};
    bool have_res = false;
    /* predictions by asset: they were loaded in upload order; index them */
    int64_t *first = NULL, *next = NULL;
    size_t *items = NULL; /* image index of each item */
    int *item_pred = NULL, *item_gt = NULL, *item_predk = NULL;
    double *scores = NULL;
    cell *cells = NULL;
    img_writer iw = {0};
    img_result ir = {0};
    sbuf sum = SBUF_INIT;
    int rc = -1;
    for (size_t k = 0; k < K; k++) {
        if (eval_cls_add_class(ec, x->labels.items[k].name, e))
            goto out;
        ds_imap_put(&k_of, x->labels.items[k].id, (int64_t)k);
    }
    first = malloc((x->nimg + 1) * sizeof *first);
    next = malloc((x->npred + 1) * sizeof *next);
    items = malloc((x->nimg + 1) * sizeof *items);
    item_pred = malloc((x->nimg + 1) * sizeof *item_pred);
    item_gt = malloc((x->nimg + 1) * sizeof *item_gt);
    item_predk = malloc((x->nimg + 1) * sizeof *item_predk);
    scores = malloc((K + 1) * sizeof *scores);
    if (!first || !next || !items || !item_pred || !item_gt || !item_predk || !scores) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < x->nimg; i++)
        first[i] = -1;
    bool all_scored = x->npred > 0;
    /* each image's predictions as a chain, in upload order */
    for (size_t p = x->npred; p-- > 0;) {
        all_scored &= !isnan(x->pred_scores[p]);
        next[p] = first[x->pred_img[p]];
        first[x->pred_img[p]] = (int64_t)p;
    }
    size_t nitems = 0, multi = 0, no_gt = 0, no_pred = 0;
    int64_t first_missing = 0;
    for (size_t i = 0; i < x->nimg; i++) {
        const img *im = &x->imgs[i];
        if (im->ngt == 0) {
            no_gt++;
            continue;
        }
        if (im->ngt > 1) {
            multi++;
            continue;
        }
        if (first[i] < 0) {
            if (!no_pred++)
                first_missing = im->asset;
            continue;
        }
        int64_t gk;
        if (!ds_imap_get(&k_of, x->gts[im->gt0].label, &gk))
            continue;
        /* the predicted class: the argmax of the scores (lowest class on
         * ties, as the engine); without scores, the first prediction */
        for (size_t k = 0; k < K; k++)
            scores[k] = 0;
        for (int64_t p = first[i]; p >= 0; p = next[p]) {
            int64_t pk;
            if (ds_imap_get(&k_of, x->pred_labels[p], &pk) && !isnan(x->pred_scores[p]))
                scores[pk] = fmax(scores[pk], x->pred_scores[p]);
        }
        int64_t predk = 0;
        if (all_scored) {
            for (size_t k = 1; k < K; k++)
                if (scores[k] > scores[predk])
                    predk = (int64_t)k;
        } else if (!ds_imap_get(&k_of, x->pred_labels[first[i]], &predk)) {
            continue;
        }
        /* the prediction shown: the best of that class */
        int best = -1;
        for (int64_t p = first[i]; p >= 0; p = next[p]) {
            int64_t pk;
            if (ds_imap_get(&k_of, x->pred_labels[p], &pk) && pk == predk &&
                (best < 0 || x->pred_scores[p] > x->pred_scores[best]))
                best = (int)p;
        }
        if (best < 0)
            best = (int)first[i];
        if (eval_cls_add(ec, (int)gk, all_scored ? -1 : (int)predk, all_scored ? scores : NULL, e))
            goto out;
        items[nitems] = i;
        item_gt[nitems] = (int)gk;
        item_pred[nitems] = best;
        item_predk[nitems] = (int)predk;
        nitems++;
    }
    if (no_pred) {
        err_set(e, ERR_INVALID,
                "%zu image%s with ground truth %s no prediction (the first: asset %lld); upload "
                "a class prediction for each, or evaluate a split without them",
                no_pred, no_pred == 1 ? "" : "s", no_pred == 1 ? "has" : "have",
                (long long)first_missing);
        goto out;
    }
    if (nitems == 0) {
        err_set(e, ERR_INVALID,
                "no image has exactly one class annotation to evaluate against; annotate the "
                "version with class shapes");
        goto out;
    }
    double t1 = now_s();
    job_log(j, "loaded %zu images (%zu items), %zu labels, %zu predictions in %.2f s", x->nimg,
            nitems, K, x->npred, t1 - t0);
    eval_cls_opts o;
    eval_cls_opts_init(&o);
    if (eval_cls_compute(ec, &o, &res, e))
        goto out;
    have_res = true;
    job_log(j, "accuracy %.4f, macro F1 %.4f", res.accuracy, res.macro_f1);
    if (db_begin(x->c, e))
        goto out;
    if (clear_results(x->c, x->r.id, e))
        goto fail;
    {
        ds_bulk b;
        if (ds_bulk_init(&b, x->c,
                         "INSERT INTO evaluation_class (evaluation_id, k, label_id, name, metrics,"
                         " pr50, pr, sc50) VALUES ",
                         NULL, 8, 64, e))
            goto fail;
        int brc = 0;
        for (size_t k = 0; k < K && brc == 0; k++) {
            const eval_cls_class *pc = &res.per_class[k];
            sbuf mj = SBUF_INIT;
            jw w;
            jw_init(&w, &mj);
            jw_obj(&w);
            jw_kint(&w, "support", (int64_t)pc->support);
            jw_kint(&w, "predicted", (int64_t)pc->predicted);
            jw_kint(&w, "tp", (int64_t)pc->tp);
            jw_kdbl(&w, "precision", pc->precision);
            jw_kdbl(&w, "recall", pc->recall);
            jw_kdbl(&w, "f1", pc->f1);
            jw_kdbl(&w, "AUC", pc->auc);
            jw_kdbl(&w, "AP", pc->ap);
            jw_obj_end(&w);
            db_val v[8] = {DBI(x->r.id), DBI(k), DBI(x->labels.items[k].id),
                           DBT(x->labels.items[k].name), DBT(sbuf_cstr(&mj)), DBNULL, DBNULL,
                           DBNULL};
            for (int i = 0; i < 8 && brc == 0; i++)
                brc = ds_bulk_val(&b, v[i], e);
            sbuf_free(&mj);
        }
        if (brc == 0)
            brc = ds_bulk_flush(&b, e);
        ds_bulk_free(&b);
        if (brc)
            goto fail;
    }
    cells = calloc(K * K + 1, sizeof *cells);
    if (!cells || img_writer_init(&iw, x->c, e)) {
        if (!cells)
            err_set(e, ERR_INTERNAL, "out of memory");
        goto fail;
    }
    size_t it = 0;
    for (size_t i = 0; i < x->nimg; i++) {
        const img *im = &x->imgs[i];
        sbuf_reset(&ir.matches);
        ir.tp = ir.fp = ir.fn = 0;
        ir.max_fp = -1;
        ir.nlabels = 0;
        memset(ir.counts, 0, sizeof ir.counts);
        for (size_t g = im->gt0; g < im->gt0 + im->ngt; g++)
            add_label(&ir, x->gts[g].label);
        if (it < nitems && items[it] == i) {
            int p = item_pred[it], gk = item_gt[it], predk = item_predk[it];
            bool ok = predk == gk;
            double sc = isnan(x->pred_scores[p]) ? 0 : x->pred_scores[p];
            add_label(&ir, x->pred_labels[p]);
            put_match(&ir, x->pred_ids[p], x->gts[im->gt0].shape, 0, sc, ok ? EV_TP : EV_FP,
                      ok ? 0 : EVAL_ERR_CLASSIFICATION);
            if (ok) {
                ir.tp = 1;
            } else {
                ir.fp = ir.fn = 1;
                ir.max_fp = sc;
                ir.counts[EVAL_ERR_CLASSIFICATION]++;
            }
            if (cell_hit(&cells[(size_t)gk * K + (size_t)predk], im->asset)) {
                err_set(e, ERR_INTERNAL, "out of memory");
                goto fail;
            }
            it++;
        } else {
            for (size_t g = im->gt0; g < im->gt0 + im->ngt; g++)
                put_match(&ir, -1, x->gts[g].shape, 0, 0, EV_GT, 0);
        }
        ir.min_iou = 2;
        ir.sum_iou = 0;
        if (sbuf_failed(&ir.matches)) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto fail;
        }
        if (img_write(&iw, x->r.id, im, &ir, e))
            goto fail;
    }
    if (ds_bulk_flush(&iw.img, e) || ds_bulk_flush(&iw.lab, e) ||
        store_cells(x->c, x->r.id, cells, K, e))
        goto fail;
    {
        jw w;
        jw_init(&w, &sum);
        jw_obj(&w);
        jw_kint(&w, "images", (int64_t)x->nimg);
        jw_kint(&w, "items", (int64_t)res.n);
        jw_kint(&w, "labels", (int64_t)res.k);
        jw_kint(&w, "predictions", (int64_t)x->npred);
        jw_kint(&w, "predictions_outside", x->outside);
        jw_kint(&w, "skipped_no_ground_truth", (int64_t)no_gt);
        jw_kint(&w, "skipped_multi_label", (int64_t)multi);
        jw_kbool(&w, "has_scores", res.has_scores);
        static const char *const names[] = {"accuracy",        "top_k_accuracy", "macro_precision",
                                            "macro_recall",    "macro_f1",       "micro_f1",
                                            "weighted_precision", "weighted_recall", "weighted_f1",
                                            "ece",             "macro_auc",      "macro_ap"};
        double vals[12] = {res.accuracy,        res.top_k_accuracy,  res.macro_precision,
                           res.macro_recall,    res.macro_f1,        res.micro_f1,
                           res.weighted_precision, res.weighted_recall, res.weighted_f1,
                           res.ece,             res.macro_auc,       res.macro_ap};
        jw_kint(&w, "top_k", res.top_k);
        jw_key(&w, "metrics");
        jw_obj(&w);
        for (int i = 0; i < 12; i++)
            jw_kdbl(&w, names[i], vals[i]);
        jw_obj_end(&w);
        jw_obj_end(&w);
        if (sbuf_failed(&sum)) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto fail;
        }
        if (log_metrics(x, names, vals, 12, e) || finish(x, j, sbuf_cstr(&sum), e))
            goto fail;
    }
    if (db_commit(x->c, e))
        goto out;
    rc = 0;
    goto out;
fail:
    db_rollback(x->c);
out:
    img_writer_free(&iw);
    sbuf_free(&ir.matches);
    sbuf_free(&sum);
    cells_free(cells, K * K + 1);
    if (have_res)
        eval_cls_result_free(&res);
    eval_cls_free(ec);
    ds_imap_free(&k_of);
    free(first);
    free(next);
    free(items);
    free(item_pred);
    free(item_gt);
    free(item_predk);
    free(scores);
    return rc;
}

/* --- the job ---------------------------------------------------------------------------------------- */

int evaluation_run(job_ctx *j, db *d, err *e)
{
    json_t *pl = job_payload(j);
    int64_t id = json_integer_value(json_object_get(pl, "evaluation_id"));
    run x;
    memset(&x, 0, sizeof x);
    x.p.gt_mode = json_string_value(json_object_get(pl, "ground_truth"));
    x.p.split = json_string_value(json_object_get(pl, "split"));
    x.p.iou_thr = json_number_value(json_object_get(pl, "iou_thr"));
    x.p.score_thr = json_number_value(json_object_get(pl, "score_thr"));
    x.p.bg_thr = json_number_value(json_object_get(pl, "bg_thr"));
    if (!x.p.gt_mode)
        x.p.gt_mode = "non_rejected";
    x.c = db_get(d, e);
    if (!x.c)
        return -1;
    int rc = -1;
    if (ev_get(x.c, job_org(j), id, &x.r, e))
        goto out;
    if (x.r.job != job_id(j)) {
        err_set(e, ERR_CONFLICT, "evaluation %lld was submitted again (job %lld); this run is void",
                (long long)id, (long long)x.r.job);
        goto out;
    }
    if (db_run(x.c, e, "UPDATE evaluation SET status = 'running' WHERE id = $1 AND job_id = $2",
               DBI(id), DBI(job_id(j))) < 0)
        goto out;
    job_progress(j, 0.05, "loading ground truth and predictions");
    if (ds_labels_load(x.c, x.r.version, &x.labels, e) || load_images(&x, e))
        goto fail;
    rc = ev_is_cls(&x.r) ? run_classification(&x, j, e) : run_detection(&x, j, e);
    if (rc == 0) {
        job_progress(j, 1, "done");
        json_t *res = json_pack("{s:I}", "evaluation_id", (json_int_t)id);
        job_set_result(j, res);
        goto out;
    }
fail:
    /* the results stay as they were; the status says what happened */
    if (e->code != ERR_UNAVAILABLE && e->code != ERR_IO) {
        err ignore;
        db_run(x.c, &ignore,
               "UPDATE evaluation SET status = 'failed', error = $1 WHERE id = $2 AND job_id = $3",
               DBT(e->msg), DBI(id), DBI(job_id(j)));
    }
    rc = -1;
out:
    db_put(x.c);
    run_free(&x);
    return rc;
}
