/*
 * evaluation.c - the evaluation module's tables, evaluations (create, read,
 * list, delete), the bulk prediction upload and the submission of a run.
 * See evaluation.h for the model.
 *
 * Organization scoping: every evaluation row carries its org_id (copied
 * from its experiment), so lookups filter on it directly; another
 * organization's ids answer "not found" the same way unknown ids do.
 *
 * Status. `status` is what the last evaluate request came to: created (no
 * run yet), queued, running, succeeded, failed. A run whose job was
 * canceled or failed outside the handler (a worker lost for good) leaves
 * queued/running behind; readers and the next submit look at the job's
 * state and treat such an evaluation as failed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "evaluation/internal.h"
#include "experiment/experiment.h"

const char evaluation_schema_v40[] =
    "CREATE TABLE evaluation (id {{ID}}, org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " experiment_id BIGINT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,"
    " version_id BIGINT NOT NULL REFERENCES dataset_version(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', task TEXT NOT NULL,"
    " iou_type TEXT NOT NULL, metric_prefix TEXT NOT NULL, status TEXT NOT NULL, job_id BIGINT,"
    " params {{JSON}}, summary {{JSON}}, error TEXT, predictions BIGINT NOT NULL DEFAULT 0,"
    " predicted_assets BIGINT NOT NULL DEFAULT 0, created_by BIGINT, created_at BIGINT NOT NULL,"
    " predictions_at BIGINT, evaluated_at BIGINT, UNIQUE (experiment_id, name));"
    "CREATE INDEX evaluation_org ON evaluation (org_id, id);"
    "CREATE INDEX evaluation_version ON evaluation (version_id);"
    "CREATE TABLE evaluation_prediction (id {{ID}},"
    " evaluation_id BIGINT NOT NULL REFERENCES evaluation(id) ON DELETE CASCADE,"
    " asset_id BIGINT NOT NULL REFERENCES asset(id) ON DELETE CASCADE,"
    " label_id BIGINT NOT NULL REFERENCES label(id) ON DELETE CASCADE, kind INTEGER NOT NULL,"
    " x DOUBLE PRECISION NOT NULL, y DOUBLE PRECISION NOT NULL, w DOUBLE PRECISION NOT NULL,"
    " h DOUBLE PRECISION NOT NULL, geom {{BLOB}}, aux {{BLOB}}, score DOUBLE PRECISION);"
    "CREATE INDEX evaluation_prediction_asset ON evaluation_prediction (evaluation_id, asset_id, score);"
    "CREATE INDEX evaluation_prediction_label ON evaluation_prediction (label_id);"
    "CREATE TABLE evaluation_class (evaluation_id BIGINT NOT NULL REFERENCES evaluation(id)"
    " ON DELETE CASCADE, k INTEGER NOT NULL, label_id BIGINT, name TEXT NOT NULL,"
    " metrics {{JSON}} NOT NULL, pr50 {{BLOB}}, pr {{BLOB}}, sc50 {{BLOB}},"
    " PRIMARY KEY (evaluation_id, k));"
    "CREATE TABLE evaluation_image (evaluation_id BIGINT NOT NULL REFERENCES evaluation(id)"
    " ON DELETE CASCADE, asset_id BIGINT NOT NULL, tp INTEGER NOT NULL, fp INTEGER NOT NULL,"
    " fn INTEGER NOT NULL, n_gt INTEGER NOT NULL, n_pred INTEGER NOT NULL, errors INTEGER NOT NULL,"
    " min_iou DOUBLE PRECISION, mean_iou DOUBLE PRECISION, max_fp_score DOUBLE PRECISION,"
    " worst_error TEXT, matches {{BLOB}}, PRIMARY KEY (evaluation_id, asset_id));"
    "CREATE INDEX evaluation_image_errors ON evaluation_image (evaluation_id, errors, asset_id);"
    "CREATE TABLE evaluation_image_label (evaluation_id BIGINT NOT NULL REFERENCES evaluation(id)"
    " ON DELETE CASCADE, label_id BIGINT NOT NULL, asset_id BIGINT NOT NULL,"
    " PRIMARY KEY (evaluation_id, label_id, asset_id));"
    "CREATE TABLE evaluation_cell (evaluation_id BIGINT NOT NULL REFERENCES evaluation(id)"
    " ON DELETE CASCADE, row_k INTEGER NOT NULL, col_k INTEGER NOT NULL, count BIGINT NOT NULL,"
    " nassets BIGINT NOT NULL, assets {{BLOB}}, PRIMARY KEY (evaluation_id, row_k, col_k));";

/* --- rows -------------------------------------------------------------------------------- */

static const char *const tasks[] = {"detection", "segmentation", "keypoints", "classification"};
static const char *const iou_types[] = {"bbox", "segm", "keypoints", ""};

bool ev_is_cls(const ev_row *r) { return strcmp(r->task, "classification") == 0; }

int ev_get(db_conn *c, int64_t org, int64_t id, ev_row *r, err *e)
{
    memset(r, 0, sizeof *r);
    db_stmt *s = db_query(c, e,
                          "SELECT id, org_id, experiment_id, version_id, COALESCE(job_id, 0), name,"
                          " task, iou_type, status, metric_prefix, evaluated_at FROM evaluation"
                          " WHERE id = $1 AND org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        r->id = db_col_i64(s, 0);
        r->org = db_col_i64(s, 1);
        r->experiment = db_col_i64(s, 2);
        r->version = db_col_i64(s, 3);
        r->job = db_col_i64(s, 4);
        snprintf(r->name, sizeof r->name, "%s", db_col_text(s, 5));
        snprintf(r->task, sizeof r->task, "%s", db_col_text(s, 6));
        snprintf(r->iou_type, sizeof r->iou_type, "%s", db_col_text(s, 7));
        snprintf(r->status, sizeof r->status, "%s", db_col_text(s, 8));
        snprintf(r->prefix, sizeof r->prefix, "%s", db_col_text(s, 9));
        r->evaluated = !db_col_null(s, 10);
    }
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "evaluation %lld does not exist in this organization",
                       (long long)id);
    return rc < 0 ? -1 : 0;
}

static bool in_progress(const char *status)
{
    return strcmp(status, "queued") == 0 || strcmp(status, "running") == 0;
}

/* The state of the evaluation's job ("" if none). */
static int job_state(db_conn *c, int64_t job, char *out, size_t n, err *e)
{
    out[0] = 0;
    if (!job)
        return 0;
    db_stmt *s = db_query(c, e, "SELECT state FROM job WHERE id = $1", DBI(job));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        snprintf(out, n, "%s", db_col_text(s, 0));
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int ev_idle(db_conn *c, const ev_row *r, err *e)
{
    if (!in_progress(r->status))
        return 0;
    char st[16];
    if (job_state(c, r->job, st, sizeof st, e))
        return -1;
    if (strcmp(st, "queued") == 0 || strcmp(st, "running") == 0)
        return err_set(e, ERR_CONFLICT,
                       "evaluation '%s' is being evaluated (job %lld is %s); wait for it to finish "
                       "or cancel the job",
                       r->name, (long long)r->job, st);
    return 0;
}

/* --- create, read, list, delete --------------------------------------------------------- */

static int version_task(db_conn *c, int64_t org, int64_t version, char *task, size_t n, err *e)
{
    ds_version v;
    if (ds_version_get(c, org, version, &v, e))
        return -1;
    snprintf(task, n, "%s", v.task);
    return 0;
}

int evaluation_create(db_conn *c, int64_t org, int64_t experiment, json_t *body, int64_t user,
                      int64_t *id, err *e)
{
    static const char *const fields[] = {"name", "description", "dataset_version_id", "task",
                                         "metric_prefix", NULL};
    const char *name = NULL, *desc = "", *task = NULL, *prefix = "eval/";
    int64_t version = 0;
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_str(body, "name", JV_OPTIONAL, EVAL_NAME_MAX, &name, e) ||
        jv_str(body, "description", JV_OPTIONAL, EVAL_DESC_MAX, &desc, e) ||
        jv_i64(body, "dataset_version_id", JV_REQUIRED, 1, INT64_MAX, &version, e) ||
        jv_str(body, "task", JV_OPTIONAL, 32, &task, e) ||
        jv_str(body, "metric_prefix", JV_OPTIONAL, EVAL_PREFIX_MAX, &prefix, e))
        return -1;
    if (name && name_check("evaluation name", name, EVAL_NAME_MAX, e))
        return -1;
    /* the prefix starts the names of the metrics a run logs: they must be
     * valid metric names, checked here rather than after a run */
    char probe[EVAL_PREFIX_MAX + 8];
    snprintf(probe, sizeof probe, "%smAP", prefix);
    err ne;
    if (name_check("metric name", probe, EXP_METRIC_NAME_MAX, &ne))
        return err_set(e, ERR_INVALID,
                       "field 'metric_prefix' starts the name of each metric a run logs "
                       "(as in eval/mAP), and with it %s; use e.g. \"eval/val/\"",
                       ne.msg);
    if (exp_check(c, org, experiment, e))
        return -1;
    char vtask[16];
    if (version_task(c, org, version, vtask, sizeof vtask, e)) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "dataset version %lld does not exist in this organization",
                    (long long)version);
        return -1;
    }
    if (!task)
        task = strcmp(vtask, "multi") == 0 ? "detection" : vtask;
    int t = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(task, tasks[i]) == 0)
            t = i;
    if (t < 0)
        return err_set(e, ERR_INVALID,
                       "task '%.32s' is not one of detection, segmentation, keypoints, "
                       "classification",
                       task);
    char gen[40];
    if (!name) {
        int64_t n = 0;
        if (db_one_i64(c, e, &n, "SELECT COUNT(*) FROM evaluation WHERE experiment_id = $1",
                       DBI(experiment)))
            return -1;
        snprintf(gen, sizeof gen, "eval-%lld", (long long)n + 1);
        name = gen;
    }
    int64_t now = time_now_ms();
    if (db_one_i64(c, e, id,
                   "INSERT INTO evaluation (org_id, experiment_id, version_id, name, description,"
                   " task, iou_type, metric_prefix, status, created_by, created_at)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'created', $9, $10) RETURNING id",
                   DBI(org), DBI(experiment), DBI(version), DBT(name), DBT(desc), DBT(tasks[t]),
                   DBT(iou_types[t]), DBT(prefix), user ? DBI(user) : DBNULL, DBI(now))) {
        if (db_err_is_unique(c))
            return err_set(e, ERR_CONFLICT,
                           "experiment %lld already has an evaluation named '%s'; choose another "
                           "name",
                           (long long)experiment, name);
        return -1;
    }
    return 0;
}

#define EV_COLS                                                                                    \
    "e.id, e.experiment_id, e.version_id, e.name, e.description, e.task, e.iou_type,"             \
    " e.metric_prefix, e.status, e.job_id, e.params, e.summary, e.error, e.predictions,"          \
    " e.predicted_assets, e.created_at, e.predictions_at, e.evaluated_at, j.state, j.error,"      \
    " d.name, v.name, j.progress"
#define EV_FROM                                                                                    \
    " FROM evaluation e LEFT JOIN job j ON j.id = e.job_id"                                        \
    " JOIN dataset_version v ON v.id = e.version_id JOIN dataset d ON d.id = v.dataset_id"

static void write_row(jw *w, db_stmt *s)
{
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kint(w, "experiment_id", db_col_i64(s, 1));
    jw_kint(w, "dataset_version_id", db_col_i64(s, 2));
    jw_kstr(w, "dataset", db_col_text(s, 20));
    jw_kstr(w, "dataset_version", db_col_text(s, 21));
    jw_kstr(w, "name", db_col_text(s, 3));
    jw_kstr(w, "description", db_col_text(s, 4));
    jw_kstr(w, "task", db_col_text(s, 5));
    const char *iou = db_col_text(s, 6);
    jw_kstr(w, "iou_type", iou && *iou ? iou : NULL);
    jw_kstr(w, "metric_prefix", db_col_text(s, 7));
    /* a job that ended outside the handler (canceled, lost) ends the run too */
    const char *status = db_col_text(s, 8), *jstate = db_col_text(s, 18);
    const char *error = db_col_text(s, 12);
    if (in_progress(status) && jstate &&
        (strcmp(jstate, "failed") == 0 || strcmp(jstate, "canceled") == 0)) {
        status = "failed";
        if (!error)
            error = db_col_text(s, 19) ? db_col_text(s, 19) : "the job was canceled";
    }
    jw_kstr(w, "status", status);
    ds_opt_int(w, "job_id", s, 9);
    if (in_progress(status) && !db_col_null(s, 22))
        jw_kdbl(w, "progress", db_col_dbl(s, 22));
    jw_kstr(w, "error", strcmp(status, "failed") == 0 ? error : NULL);
    jw_kint(w, "predictions", db_col_i64(s, 13));
    jw_kint(w, "predicted_assets", db_col_i64(s, 14));
    ds_ts(w, "created_at", s, 15);
    ds_ts(w, "predictions_at", s, 16);
    ds_ts(w, "evaluated_at", s, 17);
    /* results are stale when predictions changed after the run */
    jw_kbool(w, "stale", !db_col_null(s, 17) && !db_col_null(s, 16) &&
                             db_col_i64(s, 16) > db_col_i64(s, 17));
    ds_raw_json(w, "params", s, 10, "null");
    ds_raw_json(w, "summary", s, 11, "null");
    jw_obj_end(w);
}

int evaluation_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT " EV_COLS EV_FROM " WHERE e.id = $1 AND e.org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        write_row(w, s);
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "evaluation %lld does not exist in this organization",
                       (long long)id);
    return rc < 0 ? -1 : 0;
}

int evaluation_list(db_conn *c, int64_t org, int64_t experiment, jw *w, err *e)
{
    if (exp_check(c, org, experiment, e))
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT " EV_COLS EV_FROM
                          " WHERE e.experiment_id = $1 AND e.org_id = $2 ORDER BY e.id DESC",
                          DBI(experiment), DBI(org));
    if (!s)
        return -1;
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW)
        write_row(w, s);
    db_done(s);
    jw_arr_end(w);
    jw_obj_end(w);
    return rc < 0 ? -1 : 0;
}

int evaluation_delete(db_conn *c, int64_t org, int64_t id, err *e)
{
    ev_row r;
    if (db_begin(c, e))
        return -1;
    if (ev_get(c, org, id, &r, e) || ev_idle(c, &r, e) ||
        db_run(c, e, "DELETE FROM evaluation WHERE id = $1", DBI(id)) < 0) {
        db_rollback(c);
        return -1;
    }
    return db_commit(c, e);
}

/* --- predictions --------------------------------------------------------------------------- */

typedef struct pred_asset {
    int64_t id, data_id;
    int w, h;
    bool used;
} pred_asset;

typedef struct pred_item {
    int row;
    ds_shape *shapes;
    int nshapes;
} pred_item;

/* Which shape kinds a task takes. */
static bool kind_allowed(const char *task, int kind)
{
    if (strcmp(task, "classification") == 0)
        return kind == DS_CLASS;
    if (strcmp(task, "keypoints") == 0)
        return kind == DS_KEYPOINTS;
    if (strcmp(task, "segmentation") == 0)
        return kind == DS_POLYGON || kind == DS_MASK || kind == DS_BOX;
    return kind == DS_BOX || kind == DS_POLYGON || kind == DS_MASK;
}

static const char *kinds_text(const char *task)
{
    if (strcmp(task, "classification") == 0)
        return "class";
    if (strcmp(task, "keypoints") == 0)
        return "keypoints";
    return "box, polygon or mask";
}

static int read_shapes(json_t *arr, const ds_labels *labels, arena *a, const char *where,
                       const char *task, const pred_asset *pa, pred_item *it, size_t *total,
                       err *e)
{
    if (!json_is_array(arr))
        return err_set(e, ERR_INVALID, "%s: 'shapes' must be an array of shapes", where);
    size_t n = json_array_size(arr);
    *total += n;
    if (*total > EVAL_PRED_SHAPES_MAX)
        return err_set(e, ERR_TOO_LARGE,
                       "the request has more than %d predictions; send at most %d per request",
                       EVAL_PRED_SHAPES_MAX, EVAL_PRED_SHAPES_MAX);
    it->shapes = n ? arena_alloc(a, n * sizeof *it->shapes) : NULL;
    if (n && !it->shapes)
        return err_set(e, ERR_INTERNAL, "out of memory");
    it->nshapes = (int)n;
    for (size_t k = 0; k < n; k++) {
        char sw[80];
        snprintf(sw, sizeof sw, "%s.shapes[%zu]", where, k);
        ds_shape *s = &it->shapes[k];
        json_t *j = json_array_get(arr, k);
        if (ds_shape_from_json(j, labels, a, sw, s, e))
            return -1;
        if (!kind_allowed(task, s->kind))
            return err_set(e, ERR_INVALID, "%s: a %s evaluation takes %s predictions; got %s", sw,
                           task, kinds_text(task), ds_kind_name(s->kind));
        if (isnan(s->score) && s->kind != DS_CLASS)
            return err_set(e, ERR_INVALID, "%s: a prediction needs a 'score'", sw);
        if (!isnan(s->score) && !(s->score >= 0 && s->score <= 1))
            return err_set(e, ERR_INVALID, "%s: score %g is outside [0, 1]", sw, s->score);
        const char *lname = "";
        int nkp = 0;
        int64_t li;
        if (ds_imap_get(&labels->by_id, s->label_id, &li)) {
            lname = labels->items[li - 1].name;
            nkp = labels->items[li - 1].nkeypoints;
        }
        if (ds_shape_check(s, sw, pa->w, pa->h, lname, nkp, e))
            return -1;
    }
    return 0;
}

#define PRED_INSERT                                                                                \
    "INSERT INTO evaluation_prediction (evaluation_id, asset_id, label_id, kind, x, y, w, h,"     \
    " geom, aux, score) VALUES "

static int pred_add(ds_bulk *b, int64_t ev, int64_t asset, const ds_shape *s, sbuf *aux, err *e)
{
    size_t alen = ds_shape_aux(s, aux);
    db_val v[11] = {
        DBI(ev),
        DBI(asset),
        DBI(s->label_id),
        DBI(s->kind),
        DBD(s->x),
        DBD(s->y),
        DBD(s->w),
        DBD(s->h),
        s->npts ? DBB(s->pts, (size_t)s->npts * sizeof(double)) : DBNULL,
        alen ? DBB(aux->p, alen) : DBNULL,
        isnan(s->score) ? DBNULL : DBD(s->score),
    };
    for (int i = 0; i < 11; i++)
        if (ds_bulk_val(b, v[i], e))
            return -1;
    return 0;
}

static int update_counts(db_conn *c, int64_t id, err *e)
{
    int64_t n = 0, na = 0;
    if (db_one_i64(c, e, &n, "SELECT COUNT(*) FROM evaluation_prediction WHERE evaluation_id = $1",
                   DBI(id)) ||
        db_one_i64(c, e, &na,
                   "SELECT COUNT(*) FROM (SELECT DISTINCT asset_id FROM evaluation_prediction"
                   " WHERE evaluation_id = $1) t",
                   DBI(id)))
        return -1;
    return db_run(c, e,
                  "UPDATE evaluation SET predictions = $1, predicted_assets = $2, predictions_at = $3"
                  " WHERE id = $4",
                  DBI(n), DBI(na), DBI(time_now_ms()), DBI(id)) < 0
               ? -1
               : 0;
}

int evaluation_predictions_put(db_conn *c, int64_t org, int64_t id, json_t *doc, int64_t *nassets,
                               int64_t *nshapes, err *e)
{
    static const char *const fields[] = {"predictions", "mode", NULL};
    static const char *const item_fields[] = {"asset_id", "data_id", "shapes", NULL};
    const char *mode = "replace";
    json_t *items = NULL;
    *nassets = *nshapes = 0;
    if (jv_is_obj(doc, e) || jv_only(doc, fields, e) ||
        jv_str(doc, "mode", JV_OPTIONAL, 16, &mode, e) ||
        jv_arr(doc, "predictions", JV_REQUIRED, EVAL_PRED_ITEMS_MAX, &items, e))
        return -1;
    bool append = strcmp(mode, "append") == 0;
    if (!append && strcmp(mode, "replace") != 0)
        return err_set(e, ERR_INVALID, "mode '%.20s' is not one of replace, append", mode);
    size_t n = json_array_size(items);
    if (n == 0)
        return err_set(e, ERR_INVALID, "field 'predictions' is empty");
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
    pred_item *pi = calloc(n, sizeof *pi);
    pred_asset *rows = NULL;
    size_t nrows = 0, cap = 0, total = 0;
    ds_imap by_asset = {0}, by_data = {0};
    ds_labels labels = {0};
    ds_bulk b = {0};
    bool b_ok = false;
    sbuf aux = SBUF_INIT, del = SBUF_INIT;
    int rc = -1;
    int64_t problems = 0;
    char first[600] = "";
    ev_row r;
    if (!a || !pi || !aids_s || !dids_s) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (db_begin(c, e))
        goto out;
    if (ev_get(c, org, id, &r, e) || ev_idle(c, &r, e) || ds_labels_load(c, r.version, &labels, e))
        goto fail;
    bool pg = db_conn_driver(c) == DB_POSTGRES;
    db_stmt *s = db_query(
        c, e,
        pg ? "SELECT a.id, a.data_id, data.width, data.height FROM asset a JOIN data ON data.id ="
             " a.data_id WHERE a.version_id = $1 AND (a.id IN (SELECT"
             " (jsonb_array_elements_text($2::jsonb))::bigint) OR a.data_id IN (SELECT"
             " (jsonb_array_elements_text($3::jsonb))::bigint))"
           : "SELECT a.id, a.data_id, data.width, data.height FROM asset a JOIN data ON data.id ="
             " a.data_id WHERE a.version_id = $1 AND (a.id IN (SELECT value FROM json_each($2))"
             " OR a.data_id IN (SELECT value FROM json_each($3)))",
        DBI(r.version), DBT(aids_s), DBT(dids_s));
    if (!s)
        goto fail;
    int st;
    while ((st = db_step(s, e)) == DB_ROW) {
        if (nrows == cap) {
            cap = cap ? cap * 2 : 256;
            pred_asset *x = realloc(rows, cap * sizeof *x);
            if (!x) {
                st = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            rows = x;
        }
        pred_asset *p = &rows[nrows];
        p->id = db_col_i64(s, 0);
        p->data_id = db_col_i64(s, 1);
        p->w = (int)db_col_i64(s, 2);
        p->h = (int)db_col_i64(s, 3);
        p->used = false;
        ds_imap_put(&by_asset, p->id, (int64_t)nrows);
        ds_imap_put(&by_data, p->data_id, (int64_t)nrows);
        nrows++;
    }
    db_done(s);
    if (st < 0)
        goto fail;
    /* check everything before writing anything */
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        char where[48];
        snprintf(where, sizeof where, "predictions[%zu]", i);
        int64_t asset_id = 0, data_id = 0, idx = -1;
        err pe;
        err_clear(&pe);
        if (!json_is_object(it)) {
            err_set(&pe, ERR_INVALID, "%s: must be an object", where);
        } else if (jv_only(it, item_fields, &pe) ||
                   jv_i64(it, "asset_id", JV_OPTIONAL, 1, INT64_MAX, &asset_id, &pe) ||
                   jv_i64(it, "data_id", JV_OPTIONAL, 1, INT64_MAX, &data_id, &pe)) {
            err_prefix(&pe, "%s: ", where);
        } else if (!asset_id == !data_id) {
            err_set(&pe, ERR_INVALID, "%s: give 'asset_id' or 'data_id' (one of them)", where);
        } else if (asset_id ? !ds_imap_get(&by_asset, asset_id, &idx)
                            : !ds_imap_get(&by_data, data_id, &idx)) {
            err_set(&pe, ERR_NOT_FOUND, "%s: %s %lld is not an asset of dataset version %lld",
                    where, asset_id ? "asset" : "data item",
                    (long long)(asset_id ? asset_id : data_id), (long long)r.version);
        } else if (rows[idx].used) {
            err_set(&pe, ERR_INVALID, "%s: asset %lld appears twice in the request", where,
                    (long long)rows[idx].id);
        } else {
            rows[idx].used = true;
            pi[i].row = (int)idx;
            if (read_shapes(json_object_get(it, "shapes"), &labels, a, where, r.task, &rows[idx],
                            &pi[i], &total, &pe) &&
                pe.code == ERR_TOO_LARGE) {
                *e = pe;
                goto fail;
            }
        }
        if (pe.code != ERR_NONE && problems++ == 0) {
            snprintf(first, sizeof first, "%s", pe.msg);
            *e = pe;
        }
    }
    if (problems) {
        if (problems > 1)
            err_set(e, e->code, "%s (and %lld more problem%s; nothing was saved)", first,
                    (long long)(problems - 1), problems == 2 ? "" : "s");
        goto fail;
    }
    /* write */
    if (!append) {
        sbuf_putc(&del, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                sbuf_putc(&del, ',');
            sbuf_put_i64(&del, rows[pi[i].row].id);
        }
        sbuf_putc(&del, ']');
        if (db_run(c, e,
                   pg ? "DELETE FROM evaluation_prediction WHERE evaluation_id = $1 AND asset_id IN"
                        " (SELECT (jsonb_array_elements_text($2::jsonb))::bigint)"
                      : "DELETE FROM evaluation_prediction WHERE evaluation_id = $1 AND asset_id IN"
                        " (SELECT value FROM json_each($2))",
                   DBI(id), DBT(sbuf_cstr(&del))) < 0)
            goto fail;
    }
    if (ds_bulk_init(&b, c, PRED_INSERT, NULL, 11, 256, e))
        goto fail;
    b_ok = true;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < pi[i].nshapes; k++)
            if (pred_add(&b, id, rows[pi[i].row].id, &pi[i].shapes[k], &aux, e))
                goto fail;
    if (ds_bulk_flush(&b, e) || update_counts(c, id, e))
        goto fail;
    *nassets = (int64_t)n;
    *nshapes = (int64_t)total;
    rc = db_commit(c, e);
    goto out;
fail:
    db_rollback(c);
    *nassets = *nshapes = 0;
out:
    if (b_ok)
        ds_bulk_free(&b);
    sbuf_free(&aux);
    sbuf_free(&del);
    ds_labels_free(&labels);
    ds_imap_free(&by_asset);
    ds_imap_free(&by_data);
    free(rows);
    free(pi);
    free(aids_s);
    free(dids_s);
    arena_free(a);
    return rc;
}

int evaluation_predictions_clear(db_conn *c, int64_t org, int64_t id, int64_t *removed, err *e)
{
    ev_row r;
    *removed = 0;
    if (db_begin(c, e))
        return -1;
    if (ev_get(c, org, id, &r, e) || ev_idle(c, &r, e))
        goto fail;
    int64_t n = db_run(c, e, "DELETE FROM evaluation_prediction WHERE evaluation_id = $1", DBI(id));
    if (n < 0 || update_counts(c, id, e))
        goto fail;
    *removed = n;
    return db_commit(c, e);
fail:
    db_rollback(c);
    return -1;
}

/* --- submitting a run ------------------------------------------------------------------------ */

int evaluation_submit(db_conn *c, int64_t org, int64_t id, json_t *req, int64_t user,
                      int64_t *job, err *e)
{
    static const char *const fields[] = {"ground_truth", "split", "iou_thr", "score_thr", "bg_thr",
                                         NULL};
    const char *gt = "non_rejected", *split = NULL;
    double iou_thr = 0.5, score_thr = 0.5, bg_thr = 0.1;
    if (req && (jv_is_obj(req, e) || jv_only(req, fields, e) ||
                jv_str(req, "ground_truth", JV_OPTIONAL, 32, &gt, e) ||
                jv_str(req, "split", JV_OPTIONAL, 64, &split, e) ||
                jv_dbl(req, "iou_thr", JV_OPTIONAL, 0, 1, &iou_thr, e) ||
                jv_dbl(req, "score_thr", JV_OPTIONAL, 0, 1, &score_thr, e) ||
                jv_dbl(req, "bg_thr", JV_OPTIONAL, 0, 1, &bg_thr, e)))
        return -1;
    if (strcmp(gt, "non_rejected") && strcmp(gt, "accepted") && strcmp(gt, "all"))
        return err_set(e, ERR_INVALID,
                       "ground_truth '%.32s' is not one of non_rejected, accepted, all", gt);
    if (bg_thr > iou_thr)
        return err_set(e, ERR_INVALID, "bg_thr %g must not exceed iou_thr %g", bg_thr, iou_thr);
    ev_row r;
    if (db_begin(c, e))
        return -1;
    if (ev_get(c, org, id, &r, e) || ev_idle(c, &r, e))
        goto fail;
    if (split) {
        int64_t n = 0;
        if (db_one_i64(c, e, &n,
                       "SELECT COUNT(*) FROM asset_tag WHERE version_id = $1 AND name = $2",
                       DBI(r.version), DBT(split)))
            goto fail;
        if (n == 0) {
            err_set(e, ERR_INVALID,
                    "split '%.64s': no asset of dataset version %lld has this tag; tag the "
                    "assets (POST .../split or .../tags) or leave 'split' out",
                    split, (long long)r.version);
            goto fail;
        }
    }
    json_t *params = json_pack("{s:s, s:f, s:f, s:f}", "ground_truth", gt, "iou_thr", iou_thr,
                               "score_thr", score_thr, "bg_thr", bg_thr);
    json_object_set_new(params, "split", split ? json_string(split) : json_null());
    json_object_set_new(params, "evaluation_id", json_integer(id));
    char *payload = json_dumps(params, JSON_COMPACT);
    json_decref(params);
    int rc = jobs_submit(c, org, "evaluation.run", payload, user, 2, job, e);
    if (rc == 0)
        rc = db_run(c, e,
                    "UPDATE evaluation SET status = 'queued', job_id = $1, error = NULL"
                    " WHERE id = $2",
                    DBI(*job), DBI(id)) < 0
                 ? -1
                 : 0;
    free(payload);
    if (rc)
        goto fail;
    return db_commit(c, e);
fail:
    db_rollback(c);
    return -1;
}

/* --- match records -------------------------------------------------------------------------- */

void ev_match_put(unsigned char *p, const ev_match *m)
{
    memset(p, 0, EV_MATCH_SIZE);
    memcpy(p, &m->pred, 8);
    memcpy(p + 8, &m->gt, 8);
    memcpy(p + 16, &m->iou, 8);
    memcpy(p + 24, &m->score, 4);
    p[28] = m->kind;
    p[29] = m->error;
}

void ev_match_get(const unsigned char *p, ev_match *m)
{
    memcpy(&m->pred, p, 8);
    memcpy(&m->gt, p + 8, 8);
    memcpy(&m->iou, p + 16, 8);
    memcpy(&m->score, p + 24, 4);
    m->kind = p[28];
    m->error = p[29];
}

const char *ev_kind_name(int kind)
{
    static const char *const names[] = {"tp", "fp", "ignored", "fn", "gt"};
    return kind >= 0 && kind <= EV_GT ? names[kind] : "?";
}
