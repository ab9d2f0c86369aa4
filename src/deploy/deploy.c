/*
 * deploy.c - deployments, predictions, rollups, alerts, review; see deploy.h.
 */
#include "deploy/deploy.h"

#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "deploy/drift.h"
#include "image/image.h"
#include "query/query.h"

/* Latency histogram bounds (ms); the last bucket is everything above. */
static const double lat_bounds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
#define NLAT 14 /* 13 bounds + overflow */
#define NSCORE 10

const char deploy_schema_v51[] =
    "CREATE TABLE deployment (id {{ID}}, org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', mode TEXT NOT NULL,"
    " champion_version_id BIGINT REFERENCES model_version(id), shadow_version_id BIGINT REFERENCES model_version(id),"
    " datalake_id BIGINT REFERENCES datalake(id), sample_rate DOUBLE PRECISION NOT NULL DEFAULT 1,"
    " min_score DOUBLE PRECISION NOT NULL DEFAULT 0, created_by BIGINT, created_at BIGINT NOT NULL,"
    " UNIQUE (org_id, name));"
    "CREATE TABLE prediction (id {{ID}},"
    " deployment_id BIGINT NOT NULL REFERENCES deployment(id) ON DELETE CASCADE,"
    " sha256 TEXT NOT NULL, dedup_key TEXT, data_id BIGINT, champion_version_id BIGINT,"
    " shadow_version_id BIGINT, output {{JSON}} NOT NULL, shadow_output {{JSON}}, top_label TEXT,"
    " top_score DOUBLE PRECISION, objects INTEGER NOT NULL, latency_ms DOUBLE PRECISION NOT NULL,"
    " at BIGINT NOT NULL, source TEXT, error INTEGER NOT NULL DEFAULT 0, features {{JSON}},"
    " status TEXT NOT NULL, review {{JSON}}, reviewed_by BIGINT, reviewed_at BIGINT, submitted_at BIGINT,"
    " UNIQUE (deployment_id, dedup_key));"
    "CREATE INDEX prediction_dep ON prediction (deployment_id, id);"
    "CREATE INDEX prediction_status ON prediction (deployment_id, status, id);"
    "CREATE TABLE deployment_rollup ("
    " deployment_id BIGINT NOT NULL REFERENCES deployment(id) ON DELETE CASCADE, res TEXT NOT NULL,"
    " bucket BIGINT NOT NULL, n BIGINT NOT NULL, errors BIGINT NOT NULL, objects BIGINT NOT NULL,"
    " latency_sum DOUBLE PRECISION NOT NULL, score_sum DOUBLE PRECISION NOT NULL,"
    " shadow_n BIGINT NOT NULL, agree BIGINT NOT NULL,"
    " l0 BIGINT NOT NULL, l1 BIGINT NOT NULL, l2 BIGINT NOT NULL, l3 BIGINT NOT NULL,"
    " l4 BIGINT NOT NULL, l5 BIGINT NOT NULL, l6 BIGINT NOT NULL, l7 BIGINT NOT NULL,"
    " l8 BIGINT NOT NULL, l9 BIGINT NOT NULL, l10 BIGINT NOT NULL, l11 BIGINT NOT NULL,"
    " l12 BIGINT NOT NULL, l13 BIGINT NOT NULL,"
    " s0 BIGINT NOT NULL, s1 BIGINT NOT NULL, s2 BIGINT NOT NULL, s3 BIGINT NOT NULL,"
    " s4 BIGINT NOT NULL, s5 BIGINT NOT NULL, s6 BIGINT NOT NULL, s7 BIGINT NOT NULL,"
    " s8 BIGINT NOT NULL, s9 BIGINT NOT NULL,"
    " PRIMARY KEY (deployment_id, res, bucket));"
    "CREATE TABLE deployment_rollup_label ("
    " deployment_id BIGINT NOT NULL REFERENCES deployment(id) ON DELETE CASCADE, res TEXT NOT NULL,"
    " bucket BIGINT NOT NULL, label TEXT NOT NULL, n BIGINT NOT NULL,"
    " PRIMARY KEY (deployment_id, res, bucket, label));"
    "CREATE TABLE deployment_alert (id {{ID}},"
    " deployment_id BIGINT NOT NULL REFERENCES deployment(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, metric TEXT NOT NULL, op TEXT NOT NULL, threshold DOUBLE PRECISION NOT NULL,"
    " window_minutes INTEGER NOT NULL, state TEXT NOT NULL, since BIGINT, last_value DOUBLE PRECISION,"
    " created_at BIGINT NOT NULL);";

static const struct {
    const char *name;
    int64_t ms;
} resolutions[] = {{"minute", 60000}, {"hour", 3600000}, {"day", 86400000}};

static void ts(jw *w, const char *k, int64_t ms)
{
    char b[32];
    time_fmt_iso(ms, b, sizeof b);
    jw_kstr(w, k, b);
}

static int not_found(err *e, int64_t id)
{
    return err_set(e, ERR_NOT_FOUND, "deployment %lld does not exist in this organization",
                   (long long)id);
}

/* A model version of org, or ERR_INVALID naming the field. */
static int check_version(db_conn *c, int64_t org, const char *field, int64_t v, err *e)
{
    int64_t x;
    if (db_one_i64(c, e, &x,
                   "SELECT v.id FROM model_version v JOIN model m ON m.id = v.model_id"
                   " WHERE v.id = $1 AND m.org_id = $2",
                   DBI(v), DBI(org)))
        return err_set(e, ERR_INVALID, "%s: model version %lld does not exist in this organization",
                       field, (long long)v);
    return 0;
}

int deploy_create(db_conn *c, int64_t org, int64_t user, json_t *body, int64_t *id, err *e)
{
    static const char *const fields[] = {"name", "description", "mode", "champion_version_id",
                                         "shadow_version_id", "datalake_id", "sample_rate",
                                         "min_score", NULL};
    const char *name = NULL, *desc = NULL, *mode = "monitor";
    int64_t champ = 0, shadow = 0, lake = 0;
    double rate = 1, min_score = 0;
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_str(body, "name", JV_REQUIRED, 128, &name, e) ||
        jv_str(body, "description", JV_OPTIONAL, 10000, &desc, e) ||
        jv_str(body, "mode", JV_OPTIONAL, 16, &mode, e) ||
        jv_i64(body, "champion_version_id", JV_OPTIONAL, 1, INT64_MAX, &champ, e) ||
        jv_i64(body, "shadow_version_id", JV_OPTIONAL, 1, INT64_MAX, &shadow, e) ||
        jv_i64(body, "datalake_id", JV_OPTIONAL, 1, INT64_MAX, &lake, e) ||
        jv_dbl(body, "sample_rate", JV_OPTIONAL, 0, 1, &rate, e) ||
        jv_dbl(body, "min_score", JV_OPTIONAL, 0, 1, &min_score, e) ||
        name_check("deployment name", name, 128, e))
        return -1;
    if (strcmp(mode, "serve") != 0 && strcmp(mode, "monitor") != 0)
        return err_set(e, ERR_INVALID, "mode must be 'serve' (cvops runs the model) or 'monitor' "
                                       "(predictions made elsewhere are reported)");
    if (strcmp(mode, "serve") == 0 && !champ)
        return err_set(e, ERR_INVALID, "a serving deployment needs a champion_version_id");
    if ((champ && check_version(c, org, "champion_version_id", champ, e)) ||
        (shadow && check_version(c, org, "shadow_version_id", shadow, e)))
        return -1;
    if (lake) {
        int64_t x;
        if (db_one_i64(c, e, &x, "SELECT id FROM datalake WHERE id = $1 AND org_id = $2", DBI(lake), DBI(org)))
            return err_set(e, ERR_INVALID, "datalake_id: datalake %lld does not exist in this organization",
                           (long long)lake);
    } else {
        /* the organization's datalake named "default", created when missing */
        db_stmt *s = db_query(c, e, "SELECT id FROM datalake WHERE org_id = $1 AND name = 'default'", DBI(org));
        if (!s)
            return -1;
        if (db_step(s, e) == DB_ROW)
            lake = db_col_i64(s, 0);
        db_done(s);
        if (!lake && db_one_i64(c, e, &lake,
                                "INSERT INTO datalake (org_id, name, description, created_at)"
                                " VALUES ($1, 'default', '', $2) RETURNING id",
                                DBI(org), DBI(time_now_ms())))
            return -1;
    }
    int rc = db_one_i64(c, e, id,
                        "INSERT INTO deployment (org_id, name, description, mode, champion_version_id,"
                        " shadow_version_id, datalake_id, sample_rate, min_score, created_by, created_at)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                        DBI(org), DBT(name), DBT(desc ? desc : ""), DBT(mode),
                        champ ? DBI(champ) : DBNULL, shadow ? DBI(shadow) : DBNULL, DBI(lake),
                        DBD(rate), DBD(min_score), DBI(user), DBI(time_now_ms()));
    if (rc && db_err_is_unique(c))
        err_set(e, ERR_CONFLICT, "a deployment named '%s' already exists", name);
    return rc;
}

int deploy_update(db_conn *c, int64_t org, int64_t id, json_t *body, int64_t *old_champion,
                  int64_t *new_champion, err *e)
{
    static const char *const fields[] = {"description", "champion_version_id", "shadow_version_id",
                                         "sample_rate", "min_score", NULL};
    const char *desc = NULL;
    int64_t champ = 0, shadow = 0;
    double rate = -1, min_score = -1;
    json_t *sv = json_object_get(body, "shadow_version_id");
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_str(body, "description", JV_OPTIONAL, 10000, &desc, e) ||
        jv_i64(body, "champion_version_id", JV_OPTIONAL, 1, INT64_MAX, &champ, e) ||
        jv_i64(body, "shadow_version_id", JV_OPTIONAL, 1, INT64_MAX, &shadow, e) ||
        jv_dbl(body, "sample_rate", JV_OPTIONAL, 0, 1, &rate, e) ||
        jv_dbl(body, "min_score", JV_OPTIONAL, 0, 1, &min_score, e))
        return -1;
    if ((champ && check_version(c, org, "champion_version_id", champ, e)) ||
        (shadow && check_version(c, org, "shadow_version_id", shadow, e)))
        return -1;
    int64_t old = 0;
    db_stmt *s = db_query(c, e, "SELECT champion_version_id FROM deployment WHERE id = $1 AND org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW && !db_col_null(s, 0))
        old = db_col_i64(s, 0);
    db_done(s);
    if (rc != DB_ROW)
        return rc < 0 ? -1 : not_found(e, id);
    if (db_run(c, e,
               "UPDATE deployment SET description = COALESCE($1, description),"
               " champion_version_id = COALESCE($2, champion_version_id),"
               " shadow_version_id = CASE WHEN $3 = 1 THEN $4 ELSE shadow_version_id END,"
               " sample_rate = CASE WHEN $5 < 0 THEN sample_rate ELSE $5 END,"
               " min_score = CASE WHEN $6 < 0 THEN min_score ELSE $6 END WHERE id = $7",
               DBT(desc), champ ? DBI(champ) : DBNULL, DBI(sv ? 1 : 0), shadow ? DBI(shadow) : DBNULL,
               DBD(rate), DBD(min_score), DBI(id)) < 0)
        return -1;
    *old_champion = old;
    *new_champion = champ ? champ : old;
    return 0;
}

int deploy_delete(db_conn *c, int64_t org, int64_t id, err *e)
{
    int64_t n = db_run(c, e, "DELETE FROM deployment WHERE id = $1 AND org_id = $2", DBI(id), DBI(org));
    if (n < 0)
        return -1;
    return n ? 0 : not_found(e, id);
}

#define DEP_COLS                                                                                   \
    "d.id, d.name, d.description, d.mode, d.champion_version_id, d.shadow_version_id,"            \
    " d.datalake_id, d.sample_rate, d.min_score, d.created_at,"                                    \
    " (SELECT COUNT(*) FROM prediction p WHERE p.deployment_id = d.id),"                          \
    " (SELECT COUNT(*) FROM deployment_alert a WHERE a.deployment_id = d.id AND a.state = 'firing')"

static void opt_int(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    if (db_col_null(s, col))
        jw_null(w);
    else
        jw_int(w, db_col_i64(s, col));
}

static void write_dep(jw *w, db_stmt *s)
{
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kstr(w, "name", db_col_text(s, 1));
    jw_kstr(w, "description", db_col_text(s, 2));
    jw_kstr(w, "mode", db_col_text(s, 3));
    opt_int(w, "champion_version_id", s, 4);
    opt_int(w, "shadow_version_id", s, 5);
    opt_int(w, "datalake_id", s, 6);
    jw_kdbl(w, "sample_rate", db_col_dbl(s, 7));
    jw_kdbl(w, "min_score", db_col_dbl(s, 8));
    ts(w, "created_at", db_col_i64(s, 9));
    jw_kint(w, "predictions", db_col_i64(s, 10));
    jw_kint(w, "alerts_firing", db_col_i64(s, 11));
    jw_obj_end(w);
}

int deploy_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT " DEP_COLS " FROM deployment d WHERE d.id = $1 AND d.org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        write_dep(w, s);
    db_done(s);
    return rc == DB_ROW ? 0 : rc < 0 ? -1 : not_found(e, id);
}

int deploy_list(db_conn *c, int64_t org, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT " DEP_COLS " FROM deployment d WHERE d.org_id = $1 ORDER BY d.name",
                          DBI(org));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW)
        write_dep(w, s);
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int deploy_get_info(db_conn *c, int64_t org, int64_t id, deploy_info *out, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT id, org_id, datalake_id, champion_version_id, shadow_version_id, mode,"
                          " sample_rate, min_score FROM deployment WHERE id = $1 AND org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        memset(out, 0, sizeof *out);
        out->id = db_col_i64(s, 0);
        out->org = db_col_i64(s, 1);
        out->datalake_id = db_col_null(s, 2) ? 0 : db_col_i64(s, 2);
        out->champion = db_col_null(s, 3) ? 0 : db_col_i64(s, 3);
        out->shadow = db_col_null(s, 4) ? 0 : db_col_i64(s, 4);
        snprintf(out->mode, sizeof out->mode, "%s", db_col_text(s, 5));
        out->sample_rate = db_col_dbl(s, 6);
        out->min_score = db_col_dbl(s, 7);
    }
    db_done(s);
    return rc == DB_ROW ? 0 : rc < 0 ? -1 : not_found(e, id);
}

/* --- outputs and features --------------------------------------------------- */

static int check_label(json_t *o, const char *where, size_t i, const char **label, double *score,
                       err *e)
{
    json_t *l = json_object_get(o, "label"), *sc = json_object_get(o, "score");
    if (!json_is_string(l) || json_string_length(l) == 0 || json_string_length(l) > 256)
        return err_set(e, ERR_INVALID, "%s[%zu].label must be a label name", where, i);
    *label = json_string_value(l);
    *score = 1;
    if (sc) {
        if (!json_is_number(sc) || !isfinite(json_number_value(sc)) || json_number_value(sc) < 0 ||
            json_number_value(sc) > 1)
            return err_set(e, ERR_INVALID, "%s[%zu].score must be a number between 0 and 1", where, i);
        *score = json_number_value(sc);
    }
    return 0;
}

int deploy_output_check(json_t *output, double min_score, char **out, char *top_label,
                        size_t top_size, int *objects, double *top_score, err *e)
{
    if (!json_is_object(output))
        return err_set(e, ERR_INVALID,
                       "predictions must be an object {\"classes\": [...], \"boxes\": [...]}");
    static const char *const fields[] = {"classes", "boxes", NULL};
    if (jv_only(output, fields, e))
        return err_prefix(e, "predictions: ");
    json_t *classes = json_object_get(output, "classes"), *boxes = json_object_get(output, "boxes");
    if ((classes && (!json_is_array(classes) || json_array_size(classes) > DEPLOY_CLASSES_MAX)) ||
        (boxes && (!json_is_array(boxes) || json_array_size(boxes) > DEPLOY_BOXES_MAX)))
        return err_set(e, ERR_INVALID, "predictions.classes and .boxes must be arrays (at most %d items)",
                       DEPLOY_BOXES_MAX);
    json_t *nc = json_array(), *nb = json_array();
    top_label[0] = 0;
    *top_score = 0;
    *objects = 0;
    size_t i;
    json_t *v;
    json_array_foreach(classes, i, v)
    {
        const char *label;
        double score;
        if (!json_is_object(v) || check_label(v, "classes", i, &label, &score, e))
            goto bad;
        json_array_append_new(nc, json_pack("{s:s, s:f}", "label", label, "score", score));
        if (score > *top_score || !top_label[0]) {
            *top_score = score;
            snprintf(top_label, top_size, "%s", label);
        }
    }
    json_array_foreach(boxes, i, v)
    {
        const char *label;
        double score, b[4];
        static const char *k[] = {"x", "y", "w", "h"};
        if (!json_is_object(v) || check_label(v, "boxes", i, &label, &score, e))
            goto bad;
        for (int q = 0; q < 4; q++) {
            json_t *x = json_object_get(v, k[q]);
            if (!json_is_number(x) || !isfinite(json_number_value(x))) {
                err_set(e, ERR_INVALID, "boxes[%zu].%s must be a number (pixels)", i, k[q]);
                goto bad;
            }
            b[q] = json_number_value(x);
        }
        if (b[2] < 0 || b[3] < 0) {
            err_set(e, ERR_INVALID, "boxes[%zu] has a negative width or height", i);
            goto bad;
        }
        if (score < min_score)
            continue;
        json_array_append_new(nb, json_pack("{s:f, s:f, s:f, s:f, s:s, s:f}", "x", b[0], "y", b[1],
                                            "w", b[2], "h", b[3], "label", label, "score", score));
        (*objects)++;
        if (json_array_size(classes) == 0 && (score > *top_score || !top_label[0])) {
            *top_score = score;
            snprintf(top_label, top_size, "%s", label);
        }
    }
    json_t *norm = json_pack("{s:o, s:o}", "classes", nc, "boxes", nb);
    *out = json_dumps(norm, JSON_COMPACT);
    json_decref(norm);
    return 0;
bad:
    json_decref(nc);
    json_decref(nb);
    return -1;
}

int deploy_features_of(const void *image, size_t n, deploy_features *f, err *e)
{
    image_decode_opts o = {.channels = 1, .target_side = 128};
    image_pixels px;
    if (image_decode(image, n, &o, &px, e))
        return -1;
    image_info info;
    if (image_probe(image, n, &info, e)) {
        image_pixels_free(&px);
        return -1;
    }
    double sum = 0, sq = 0, lap = 0;
    size_t cnt = (size_t)px.width * px.height, lc = 0;
    for (uint32_t y = 0; y < px.height; y++)
        for (uint32_t x = 0; x < px.width; x++) {
            double v = px.data[(size_t)y * px.stride + x];
            sum += v;
            sq += v * v;
            if (x > 0 && y > 0 && x + 1 < px.width && y + 1 < px.height) {
                const uint8_t *p = px.data + (size_t)y * px.stride + x;
                lap += fabs(4.0 * p[0] - p[-1] - p[1] - p[-(ptrdiff_t)px.stride] - p[px.stride]);
                lc++;
            }
        }
    f->brightness = sum / (double)cnt;
    f->contrast = sqrt(fmax(0, sq / (double)cnt - f->brightness * f->brightness));
    f->sharpness = lc ? lap / (double)lc : 0;
    f->width = (int)info.width;
    f->height = (int)info.height;
    image_pixels_free(&px);
    return 0;
}

/* --- recording ------------------------------------------------------------ */

static int lat_bucket(double ms)
{
    int b = 0;
    while (b < NLAT - 1 && ms > lat_bounds[b])
        b++;
    return b;
}

/* INSERT ... ON CONFLICT DO UPDATE adding one prediction to a bucket. */
static char rollup_text[4096];
static void build_rollup(void)
{
    sbuf s = SBUF_INIT;
    sbuf_puts(&s, "INSERT INTO deployment_rollup (deployment_id, res, bucket, n, errors, objects,"
                  " latency_sum, score_sum, shadow_n, agree");
    for (int i = 0; i < NLAT; i++)
        sbuf_printf(&s, ", l%d", i);
    for (int i = 0; i < NSCORE; i++)
        sbuf_printf(&s, ", s%d", i);
    sbuf_puts(&s, ") VALUES ($1, $2, $3, 1, $4, $5, $6, $7, 0, 0");
    /* $8: latency bucket, $9: score bucket */
    for (int i = 0; i < NLAT; i++)
        sbuf_printf(&s, ", CASE WHEN $8 = %d THEN 1 ELSE 0 END", i);
    for (int i = 0; i < NSCORE; i++)
        sbuf_printf(&s, ", CASE WHEN $9 = %d THEN 1 ELSE 0 END", i);
    sbuf_puts(&s, ") ON CONFLICT (deployment_id, res, bucket) DO UPDATE SET n = deployment_rollup.n + 1,"
                  " errors = deployment_rollup.errors + excluded.errors,"
                  " objects = deployment_rollup.objects + excluded.objects,"
                  " latency_sum = deployment_rollup.latency_sum + excluded.latency_sum,"
                  " score_sum = deployment_rollup.score_sum + excluded.score_sum");
    for (int i = 0; i < NLAT; i++)
        sbuf_printf(&s, ", l%d = deployment_rollup.l%d + excluded.l%d", i, i, i);
    for (int i = 0; i < NSCORE; i++)
        sbuf_printf(&s, ", s%d = deployment_rollup.s%d + excluded.s%d", i, i, i);
    snprintf(rollup_text, sizeof rollup_text, "%s", sbuf_cstr(&s));
    sbuf_free(&s);
}

/* The labels a prediction adds to the label distribution: a classifier's
 * top class; a detector's every box (a label once per box), so the
 * distribution counts objects, like objects per image. Labels past
 * LABELS_MAX distinct ones (in a single image) are not counted. */
#define LABELS_MAX 64
typedef struct {
    char label[260];
    int64_t n;
} label_count;

static void label_add(label_count *l, int *n, const char *label)
{
    if (!label || !label[0])
        return;
    for (int k = 0; k < *n; k++)
        if (strcmp(l[k].label, label) == 0) {
            l[k].n++;
            return;
        }
    if (*n == LABELS_MAX)
        return;
    snprintf(l[*n].label, sizeof l[*n].label, "%s", label);
    l[(*n)++].n = 1;
}

static int labels_of(const deploy_prediction *p, label_count *l)
{
    int n = 0;
    json_t *j = p->output ? json_loads(p->output, 0, NULL) : NULL;
    json_t *boxes = json_object_get(j, "boxes");
    if (json_array_size(json_object_get(j, "classes")) || !json_array_size(boxes)) {
        label_add(l, &n, p->top_label); /* the top class (or nothing) */
    }
    size_t i;
    json_t *v;
    json_array_foreach(boxes, i, v)
        label_add(l, &n, json_string_value(json_object_get(v, "label")));
    json_decref(j);
    return n;
}

int deploy_record(db_conn *c, const deploy_info *d, const deploy_prediction *p, int64_t *id,
                  err *e)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, build_rollup);
    char feat[256] = "null";
    if (p->features)
        snprintf(feat, sizeof feat,
                 "{\"brightness\":%.3f,\"contrast\":%.3f,\"sharpness\":%.3f,\"width\":%d,\"height\":%d}",
                 p->features->brightness, p->features->contrast, p->features->sharpness,
                 p->features->width, p->features->height);
    bool monitor = strcmp(d->mode, "monitor") == 0;
    if (db_begin(c, e))
        return -1;
    if (db_one_i64(c, e, id,
                   "INSERT INTO prediction (deployment_id, sha256, dedup_key, data_id, champion_version_id,"
                   " shadow_version_id, output, shadow_output, top_label, top_score, objects, latency_ms,"
                   " at, source, error, features, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
                   " $10, $11, $12, $13, $14, $15, $16, 'to_review') RETURNING id",
                   DBI(d->id), DBT(p->sha), monitor ? DBT(p->sha) : DBNULL,
                   p->data_id ? DBI(p->data_id) : DBNULL, d->champion ? DBI(d->champion) : DBNULL,
                   d->shadow ? DBI(d->shadow) : DBNULL, DBT(p->output), DBT(p->shadow_output),
                   DBT(p->top_label && p->top_label[0] ? p->top_label : NULL),
                   p->top_label && p->top_label[0] ? DBD(p->top_score) : DBNULL, DBI(p->objects),
                   DBD(p->latency_ms), DBI(p->at_ms), DBT(p->source), DBI(p->error ? 1 : 0),
                   DBT(feat))) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT,
                    "this deployment already has a prediction for this image (sha256 %.16s...)",
                    p->sha);
        goto fail;
    }
    int score_b = (int)(p->top_score * NSCORE);
    if (score_b >= NSCORE)
        score_b = NSCORE - 1;
    if (score_b < 0)
        score_b = 0;
    label_count labs[LABELS_MAX];
    int nlab = labels_of(p, labs);
    for (size_t r = 0; r < sizeof resolutions / sizeof *resolutions; r++) {
        int64_t bucket = p->at_ms - p->at_ms % resolutions[r].ms;
        if (db_run(c, e, rollup_text, DBI(d->id), DBT(resolutions[r].name), DBI(bucket),
                   DBI(p->error ? 1 : 0), DBI(p->objects), DBD(p->latency_ms), DBD(p->top_score),
                   DBI(lat_bucket(p->latency_ms)), DBI(score_b)) < 0)
            goto fail;
        for (int k = 0; k < nlab; k++)
            if (db_run(c, e,
                       "INSERT INTO deployment_rollup_label (deployment_id, res, bucket, label, n)"
                       " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (deployment_id, res, bucket, label)"
                       " DO UPDATE SET n = deployment_rollup_label.n + excluded.n",
                       DBI(d->id), DBT(resolutions[r].name), DBI(bucket), DBT(labs[k].label),
                       DBI(labs[k].n)) < 0)
                goto fail;
    }
    if (p->shadow_output && deploy_record_shadow(c, *id, p->shadow_output, NULL, e))
        goto fail;
    return db_commit(c, e);
fail:
    db_rollback(c);
    return -1;
}

static void top_of(const char *output, char *label, size_t n)
{
    label[0] = 0;
    json_t *j = json_loads(output, 0, NULL);
    json_t *cls = json_object_get(j, "classes"), *boxes = json_object_get(j, "boxes");
    json_t *arr = json_array_size(cls) ? cls : boxes;
    double best = -1;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        double s = json_number_value(json_object_get(v, "score"));
        if (s > best) {
            best = s;
            snprintf(label, n, "%s", json_string_value(json_object_get(v, "label")));
        }
    }
    json_decref(j);
}

int deploy_record_shadow(db_conn *c, int64_t prediction, const char *shadow_output,
                         const char *top_label, err *e)
{
    char champ_top[260] = "", shadow_top[260] = "";
    int64_t dep = 0, at = 0;
    db_stmt *s = db_query(c, e, "SELECT deployment_id, at, output FROM prediction WHERE id = $1",
                          DBI(prediction));
    if (!s)
        return -1;
    if (db_step(s, e) == DB_ROW) {
        dep = db_col_i64(s, 0);
        at = db_col_i64(s, 1);
        top_of(db_col_text(s, 2), champ_top, sizeof champ_top);
    }
    db_done(s);
    if (!dep)
        return err_set(e, ERR_NOT_FOUND, "prediction %lld is gone", (long long)prediction);
    if (top_label)
        snprintf(shadow_top, sizeof shadow_top, "%s", top_label);
    else
        top_of(shadow_output, shadow_top, sizeof shadow_top);
    if (db_run(c, e, "UPDATE prediction SET shadow_output = $1 WHERE id = $2", DBT(shadow_output),
               DBI(prediction)) < 0)
        return -1;
    int agree = strcmp(champ_top, shadow_top) == 0;
    for (size_t r = 0; r < sizeof resolutions / sizeof *resolutions; r++) {
        int64_t bucket = at - at % resolutions[r].ms;
        if (db_run(c, e,
                   "UPDATE deployment_rollup SET shadow_n = shadow_n + 1, agree = agree + $1"
                   " WHERE deployment_id = $2 AND res = $3 AND bucket = $4",
                   DBI(agree), DBI(dep), DBT(resolutions[r].name), DBI(bucket)) < 0)
            return -1;
    }
    return 0;
}

/* --- dashboards ------------------------------------------------------------- */

/* The q-quantile of a latency histogram (ms), interpolated in its bucket. */
static double quantile(const int64_t *h, int64_t n, double q)
{
    if (n <= 0)
        return NAN;
    double target = q * (double)n, cum = 0;
    for (int b = 0; b < NLAT; b++) {
        if (cum + (double)h[b] >= target && h[b] > 0) {
            double lo = b == 0 ? 0 : lat_bounds[b - 1];
            double hi = b < NLAT - 1 ? lat_bounds[b] : lat_bounds[NLAT - 2] * 2;
            return lo + (hi - lo) * ((target - cum) / (double)h[b]);
        }
        cum += (double)h[b];
    }
    return lat_bounds[NLAT - 2] * 2;
}

static int res_ms(const char *res, int64_t *ms, err *e)
{
    for (size_t r = 0; r < sizeof resolutions / sizeof *resolutions; r++)
        if (res && strcmp(res, resolutions[r].name) == 0) {
            *ms = resolutions[r].ms;
            return 0;
        }
    return err_set(e, ERR_INVALID, "resolution must be minute, hour or day");
}

int deploy_metrics(db_conn *c, int64_t org, int64_t id, const char *resolution, int64_t from,
                   int64_t to, jw *w, err *e)
{
    int64_t step;
    deploy_info d;
    if (res_ms(resolution, &step, e) || deploy_get_info(c, org, id, &d, e))
        return -1;
    sbuf sql = SBUF_INIT;
    sbuf_puts(&sql, "SELECT bucket, n, errors, objects, latency_sum, score_sum, shadow_n, agree");
    for (int i = 0; i < NLAT; i++)
        sbuf_printf(&sql, ", l%d", i);
    for (int i = 0; i < NSCORE; i++)
        sbuf_printf(&sql, ", s%d", i);
    sbuf_puts(&sql, " FROM deployment_rollup WHERE deployment_id = $1 AND res = $2 AND bucket >= $3"
                    " AND bucket < $4 ORDER BY bucket");
    db_stmt *s = db_query(c, e, sbuf_cstr(&sql), DBI(id), DBT(resolution), DBI(from), DBI(to));
    sbuf_free(&sql);
    if (!s)
        return -1;
    int64_t tot_lat[NLAT] = {0}, tot_score[NSCORE] = {0}, total = 0, errors = 0, objects = 0,
            shadow = 0, agree = 0;
    double lat_sum = 0;
    int rc;
    jw_obj(w);
    jw_kstr(w, "resolution", resolution);
    jw_key(w, "series");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        int64_t h[NLAT], n = db_col_i64(s, 1);
        for (int i = 0; i < NLAT; i++) {
            h[i] = db_col_i64(s, 8 + i);
            tot_lat[i] += h[i];
        }
        for (int i = 0; i < NSCORE; i++)
            tot_score[i] += db_col_i64(s, 8 + NLAT + i);
        total += n;
        errors += db_col_i64(s, 2);
        objects += db_col_i64(s, 3);
        lat_sum += db_col_dbl(s, 4);
        shadow += db_col_i64(s, 6);
        agree += db_col_i64(s, 7);
        jw_obj(w);
        ts(w, "t", db_col_i64(s, 0));
        jw_kint(w, "count", n);
        jw_kint(w, "errors", db_col_i64(s, 2));
        jw_kdbl(w, "latency_mean", n ? db_col_dbl(s, 4) / (double)n : NAN);
        jw_kdbl(w, "latency_p50", quantile(h, n, 0.50));
        jw_kdbl(w, "latency_p95", quantile(h, n, 0.95));
        jw_kdbl(w, "latency_p99", quantile(h, n, 0.99));
        jw_kdbl(w, "objects_per_image", n ? (double)db_col_i64(s, 3) / (double)n : NAN);
        jw_kdbl(w, "score_mean", n ? db_col_dbl(s, 5) / (double)n : NAN);
        jw_kdbl(w, "agreement", db_col_i64(s, 6) ? (double)db_col_i64(s, 7) / (double)db_col_i64(s, 6) : NAN);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    db_done(s);
    if (rc < 0)
        return -1;
    jw_key(w, "totals");
    jw_obj(w);
    jw_kint(w, "count", total);
    jw_kint(w, "errors", errors);
    jw_kdbl(w, "latency_mean", total ? lat_sum / (double)total : NAN);
    jw_kdbl(w, "latency_p50", quantile(tot_lat, total, 0.50));
    jw_kdbl(w, "latency_p95", quantile(tot_lat, total, 0.95));
    jw_kdbl(w, "latency_p99", quantile(tot_lat, total, 0.99));
    jw_kdbl(w, "objects_per_image", total ? (double)objects / (double)total : NAN);
    jw_kdbl(w, "agreement", shadow ? (double)agree / (double)shadow : NAN);
    jw_key(w, "score_histogram");
    jw_arr(w);
    for (int i = 0; i < NSCORE; i++)
        jw_int(w, tot_score[i]);
    jw_arr_end(w);
    jw_obj_end(w);
    /* label distribution over the range */
    s = db_query(c, e,
                 "SELECT label, SUM(n) FROM deployment_rollup_label WHERE deployment_id = $1 AND res = $2"
                 " AND bucket >= $3 AND bucket < $4 GROUP BY label ORDER BY 2 DESC, label LIMIT 100",
                 DBI(id), DBT(resolution), DBI(from), DBI(to));
    if (!s)
        return -1;
    jw_key(w, "labels");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kstr(w, "label", db_col_text(s, 0));
        jw_kint(w, "count", db_col_i64(s, 1));
        jw_obj_end(w);
    }
    jw_arr_end(w);
    db_done(s);
    jw_obj_end(w);
    return rc < 0 ? -1 : 0;
}

/* --- predictions and review ---------------------------------------------- */

#define PRED_COLS                                                                                  \
    "p.id, p.deployment_id, p.sha256, p.data_id, p.champion_version_id, p.shadow_version_id,"     \
    " p.output, p.shadow_output, p.top_label, p.top_score, p.objects, p.latency_ms, p.at,"        \
    " p.source, p.error, p.features, p.status, p.review, p.reviewed_by, p.reviewed_at,"        \
    " (SELECT pd.outlier_pct FROM prediction_drift pd WHERE pd.prediction_id = p.id),"            \
    " (SELECT pd.outlier FROM prediction_drift pd WHERE pd.prediction_id = p.id),"                \
    " (SELECT pd.out_of_range FROM prediction_drift pd WHERE pd.prediction_id = p.id)"

static void raw(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    const char *v = db_col_text(s, col);
    if (v)
        jw_raw(w, v, db_col_len(s, col));
    else
        jw_null(w);
}

static void write_pred(jw *w, db_stmt *s)
{
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kint(w, "deployment_id", db_col_i64(s, 1));
    jw_kstr(w, "sha256", db_col_text(s, 2));
    opt_int(w, "data_id", s, 3);
    opt_int(w, "champion_version_id", s, 4);
    opt_int(w, "shadow_version_id", s, 5);
    raw(w, "output", s, 6);
    raw(w, "shadow_output", s, 7);
    jw_kstr(w, "top_label", db_col_text(s, 8));
    jw_key(w, "top_score");
    if (db_col_null(s, 9))
        jw_null(w);
    else
        jw_dbl(w, db_col_dbl(s, 9));
    jw_kint(w, "objects", db_col_i64(s, 10));
    jw_kdbl(w, "latency_ms", db_col_dbl(s, 11));
    ts(w, "at", db_col_i64(s, 12));
    jw_kstr(w, "source", db_col_text(s, 13));
    jw_kbool(w, "error", db_col_i64(s, 14) != 0);
    raw(w, "features", s, 15);
    jw_kstr(w, "status", db_col_text(s, 16));
    raw(w, "review", s, 17);
    opt_int(w, "reviewed_by", s, 18);
    /* drift scores (drift.h), once GET .../drift has scored the prediction */
    jw_key(w, "drift");
    if (db_col_null(s, 21)) {
        jw_null(w);
    } else {
        jw_obj(w);
        jw_key(w, "outlier_pct");
        db_col_null(s, 20) ? jw_null(w) : jw_dbl(w, db_col_dbl(s, 20));
        jw_kbool(w, "outlier", db_col_i64(s, 21) != 0);
        jw_kbool(w, "out_of_range", db_col_i64(s, 22) != 0);
        jw_obj_end(w);
    }
    jw_obj_end(w);
}

/* --- the query language over predictions (docs/query.md, docs/operations.md) --- */

/* label: the top class (or the top box) and every box's label. A tag-like
 * set per row, so label = "car", label in (...), label ~ "ca*" all test
 * "any of them". */
#define LABEL_SET_LITE                                                                             \
    "EXISTS (SELECT 1 FROM (SELECT p.top_label AS l UNION ALL SELECT json_extract(b.value, '$.label')" \
    " FROM json_each(p.output, '$.boxes') b) x WHERE {})"
#define LABEL_SET_PG                                                                               \
    "EXISTS (SELECT 1 FROM (SELECT p.top_label AS l UNION ALL SELECT b->>'label'"                   \
    " FROM jsonb_array_elements(COALESCE(p.output->'boxes', '[]'::jsonb)) b) x WHERE {})"
#define SHADOW_SET_LITE                                                                            \
    "EXISTS (SELECT 1 FROM (SELECT json_extract(c.value, '$.label') AS l FROM"                     \
    " json_each(p.shadow_output, '$.classes') c UNION ALL SELECT json_extract(b.value, '$.label')"  \
    " FROM json_each(p.shadow_output, '$.boxes') b) x WHERE {})"
#define SHADOW_SET_PG                                                                              \
    "EXISTS (SELECT 1 FROM (SELECT c->>'label' AS l FROM"                                          \
    " jsonb_array_elements(COALESCE(p.shadow_output->'classes', '[]'::jsonb)) c UNION ALL"          \
    " SELECT b->>'label' FROM jsonb_array_elements(COALESCE(p.shadow_output->'boxes', '[]'::jsonb)) b)" \
    " x WHERE {})"

#define PRED_FIELDS(LABEL_SET, SHADOW_SET)                                                         \
    {"id", QUERY_INT, "p.id", NULL, NULL, NULL, "the prediction's id"},                             \
    {"status", QUERY_TEXT, "p.status", NULL, NULL, NULL, "to_review, reviewed or submitted"},      \
    {"label", QUERY_TAG, LABEL_SET, "x.l", NULL, NULL,                                             \
     "the champion's top class or any box's label: label = \"car\""},                              \
    {"score", QUERY_FLOAT, "p.top_score", NULL, NULL, NULL, "the top score, 0..1: score < 0.5"},   \
    {"created", QUERY_TIME, "p.at", NULL, NULL, NULL, "prediction time; created > \"2026-01-01\""}, \
    {"time", QUERY_TIME, "p.at", NULL, NULL, NULL, "the same as created"},                         \
    {"latency", QUERY_FLOAT, "p.latency_ms", NULL, NULL, NULL, "milliseconds: latency > 100"},     \
    {"objects", QUERY_INT, "p.objects", NULL, NULL, NULL, "boxes kept (detectors)"},               \
    {"source", QUERY_TEXT, "p.source", NULL, NULL, NULL, "where the image came from"},             \
    {"error", QUERY_BOOL, "(p.error <> 0)", NULL, NULL, NULL, "the model failed on the image"},    \
    {"outlier", QUERY_BOOL,                                                                        \
     "((SELECT pd.outlier FROM prediction_drift pd WHERE pd.prediction_id = p.id) <> 0)", NULL,     \
     NULL, NULL, "flagged as an outlier by the drift report"},                                     \
    {"out_of_range", QUERY_BOOL,                                                                   \
     "((SELECT pd.out_of_range FROM prediction_drift pd WHERE pd.prediction_id = p.id) <> 0)",     \
     NULL, NULL, NULL, "an image feature outside the training range"},                             \
    {"outlier_pct", QUERY_FLOAT,                                                                   \
     "(SELECT pd.outlier_pct FROM prediction_drift pd WHERE pd.prediction_id = p.id)", NULL, NULL,  \
     NULL, "outlier percentile, 0..100"},                                                          \
    {"shadow", QUERY_BOOL, "(p.shadow_output IS NOT NULL)", NULL, NULL, NULL,                      \
     "has a shadow model's output"},                                                               \
    {"shadow_label", QUERY_TAG, SHADOW_SET, "x.l", NULL, NULL,                                     \
     "any class or box label of the shadow's output"},                                             \
    {"agree", QUERY_BOOL,                                                                          \
     "(p.shadow_output IS NOT NULL AND p.top_label IS NOT NULL AND " SHADOW_TOP_EQ ")", NULL, NULL, \
     NULL, "the shadow's top label is the champion's"},                                            \
    {"version", QUERY_INT, "p.champion_version_id", NULL, NULL, NULL, "the champion version id"},  \
    {"data_id", QUERY_INT, "p.data_id", NULL, NULL, NULL, "the stored image's datalake item"},     \
    {"sha256", QUERY_TEXT, "p.sha256", NULL, NULL, NULL, "the image's content hash"},              \
    {"reviewed", QUERY_TIME, "p.reviewed_at", NULL, NULL, NULL, "review time"},                    \
    {"reviewed_by", QUERY_INT, "p.reviewed_by", NULL, NULL, NULL, "user id of the reviewer"},      \
    {"submitted", QUERY_TIME, "p.submitted_at", NULL, NULL, NULL, "submission time"},              \
    {"tag", QUERY_TAG,                                                                             \
     "p.data_id IN (SELECT dt.data_id FROM data_tag dt JOIN tag t ON t.id = dt.tag_id WHERE {})",   \
     "t.name", NULL, NULL, "a tag of the stored image: tag = \"night\""},                          \
    {"meta", QUERY_JSON, "(SELECT dm.meta FROM data dm WHERE dm.id = p.data_id)", NULL, NULL, NULL, \
     "the image's metadata: meta.camera = \"gate-2\""},

/* agree: the shadow's top (its best class, else its best box) is the
 * champion's top label, the same rule as the rollups' agreement. */
#define SHADOW_TOP_EQ SHADOW_TOP_EQ_D
#define SHADOW_TOP_EQ_D "p.top_label = (" SHADOW_TOP_SQL ")"

#define SHADOW_TOP_SQL SHADOW_TOP_LITE
#define SHADOW_TOP_LITE                                                                            \
    "SELECT json_extract(v.value, '$.label') FROM (SELECT value, 0 AS k FROM"                      \
    " json_each(p.shadow_output, '$.classes') UNION ALL SELECT value, 1 FROM"                       \
    " json_each(p.shadow_output, '$.boxes')) v ORDER BY v.k, json_extract(v.value, '$.score') DESC" \
    " LIMIT 1"
static const query_field pred_fields_lite[] = {PRED_FIELDS(LABEL_SET_LITE, SHADOW_SET_LITE)};
#undef SHADOW_TOP_SQL
#define SHADOW_TOP_SQL SHADOW_TOP_PG
#define SHADOW_TOP_PG                                                                              \
    "SELECT v.o->>'label' FROM (SELECT o, 0 AS k FROM"                                             \
    " jsonb_array_elements(COALESCE(p.shadow_output->'classes', '[]'::jsonb)) o UNION ALL SELECT o, 1" \
    " FROM jsonb_array_elements(COALESCE(p.shadow_output->'boxes', '[]'::jsonb)) o) v"              \
    " ORDER BY v.k, (v.o->>'score')::float8 DESC LIMIT 1"
static const query_field pred_fields_pg[] = {PRED_FIELDS(LABEL_SET_PG, SHADOW_SET_PG)};

static const query_schema pred_schema_lite = {pred_fields_lite,
                                              sizeof pred_fields_lite / sizeof *pred_fields_lite};
static const query_schema pred_schema_pg = {pred_fields_pg, sizeof pred_fields_pg / sizeof *pred_fields_pg};

const query_schema *deploy_pred_schema(bool postgres)
{
    return postgres ? &pred_schema_pg : &pred_schema_lite;
}

static db_val pred_qparam(const query_param *p)
{
    switch (p->type) {
    case QUERY_P_INT: return DBI(p->i);
    case QUERY_P_FLOAT: return DBD(p->f);
    case QUERY_P_TEXT: return DBTN(p->s, p->len);
    default: return DBNULL;
    }
}

int deploy_predictions(db_conn *c, int64_t org, int64_t id, const deploy_pred_query *q, jw *w,
                       err *e)
{
    deploy_info d;
    if (deploy_get_info(c, org, id, &d, e))
        return -1;
    if (q->status && strcmp(q->status, "to_review") && strcmp(q->status, "reviewed") &&
        strcmp(q->status, "submitted"))
        return err_set(e, ERR_INVALID, "status must be to_review, reviewed or submitted");
    bool pg = db_conn_driver(c) == DB_POSTGRES;
    query_sql qs = {0};
    const char *text = q->q ? q->q : "";
    if (query_to_sql(text, strlen(text), deploy_pred_schema(pg), NULL, pg ? QUERY_POSTGRES : QUERY_SQLITE,
                     12, &qs, e)) {
        if (e->code == ERR_NONE)
            e->code = ERR_INVALID;
        return err_prefix(e, "q: ");
    }
    sbuf sql = SBUF_INIT;
    sbuf_printf(&sql,
                "SELECT " PRED_COLS " FROM prediction p WHERE p.deployment_id = $1"
                " AND p.id < $2 AND ($3 = '' OR p.status = $3) AND ($4 = '' OR p.top_label = $4)"
                " AND COALESCE(p.top_score, 0) >= $5 AND COALESCE(p.top_score, 0) <= $6"
                " AND p.at >= $7 AND p.at < $8 AND ($10 < 0 OR EXISTS (SELECT 1 FROM prediction_drift pd"
                " WHERE pd.prediction_id = p.id AND pd.outlier = $10)) AND ($11 < 0 OR EXISTS"
                " (SELECT 1 FROM prediction_drift pd WHERE pd.prediction_id = p.id"
                " AND pd.out_of_range = $11)) AND (%s) ORDER BY p.id DESC LIMIT $9",
                qs.where);
    db_stmt *s = db_prepare(c, sbuf_cstr(&sql), e);
    sbuf_free(&sql);
    if (!s) {
        query_sql_free(&qs);
        return -1;
    }
    db_val v[] = {DBI(id), DBI(q->before_id > 0 ? q->before_id : INT64_MAX),
                  DBT(q->status ? q->status : ""), DBT(q->label ? q->label : ""),
                  DBD(q->min_score), DBD(q->max_score), DBI(q->from),
                  DBI(q->to > 0 ? q->to : INT64_MAX), DBI(q->limit + 1), DBI(q->outlier),
                  DBI(q->out_of_range)};
    for (int i = 0; i < (int)(sizeof v / sizeof *v); i++)
        db_bind(s, i + 1, v[i]);
    for (size_t i = 0; i < qs.nparams; i++)
        db_bind(s, 12 + (int)i, pred_qparam(&qs.params[i]));
    int rc, n = 0;
    int64_t last = 0;
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        if (n == q->limit)
            break;
        write_pred(w, s);
        last = db_col_i64(s, 0);
        n++;
    }
    jw_arr_end(w);
    jw_key(w, "next_cursor");
    if (rc == DB_ROW)
        jw_int(w, last);
    else
        jw_null(w);
    jw_obj_end(w);
    db_done(s);
    query_sql_free(&qs);
    return rc < 0 ? -1 : 0;
}

int deploy_pred_autocomplete(db_conn *c, int64_t org, int64_t id, const char *q, size_t cursor,
                             jw *w, err *e)
{
    deploy_info d;
    if (deploy_get_info(c, org, id, &d, e))
        return -1;
    bool pg = db_conn_driver(c) == DB_POSTGRES;
    query_completion comp;
    char like[300];
    if (query_complete_json_begin(w, q, cursor, deploy_pred_schema(pg), &comp, like, sizeof like, e))
        return -1;
    query_complete_json_operators(w, &comp);
    int rc = 0;
    if (comp.expect & QUERY_EXPECT_VALUE && comp.field) {
        const char *f = comp.field->name, *sql = NULL;
        if (strcmp(f, "status") == 0) {
            static const char *st[] = {"\"to_review\"", "\"reviewed\"", "\"submitted\""};
            for (size_t i = 0; i < 3; i++)
                query_complete_json_suggest(w, st[i], "value", NULL);
        } else if (strcmp(f, "label") == 0) {
            sql = "SELECT DISTINCT label FROM deployment_rollup_label WHERE deployment_id = $1"
                  " AND res = 'day' AND label LIKE $2 ESCAPE '\\' ORDER BY label LIMIT 50";
        } else if (strcmp(f, "source") == 0) {
            sql = "SELECT DISTINCT source FROM (SELECT source FROM prediction WHERE deployment_id = $1"
                  " ORDER BY id DESC LIMIT 5000) x WHERE source LIKE $2 ESCAPE '\\' ORDER BY source LIMIT 50";
        } else if (strcmp(f, "tag") == 0 && d.datalake_id > 0) {
            sql = "SELECT name FROM tag WHERE datalake_id = (SELECT datalake_id FROM deployment WHERE id = $1)"
                  " AND name LIKE $2 ESCAPE '\\' ORDER BY name LIMIT 50";
        }
        if (sql) {
            db_stmt *s = db_query(c, e, sql, DBI(id), DBT(like));
            if (!s)
                return -1;
            while ((rc = db_step(s, e)) == DB_ROW) {
                const char *v = db_col_text(s, 0);
                if (!v)
                    continue;
                sbuf qv = SBUF_INIT;
                sbuf_putc(&qv, '"');
                for (const char *p = v; *p; p++) {
                    if (*p == '"' || *p == '\\')
                        sbuf_putc(&qv, '\\');
                    sbuf_putc(&qv, *p);
                }
                sbuf_putc(&qv, '"');
                query_complete_json_suggest(w, sbuf_cstr(&qv), "value", NULL);
                sbuf_free(&qv);
            }
            db_done(s);
            rc = rc < 0 ? -1 : 0;
        }
    }
    query_complete_json_end(w, &comp);
    return rc;
}

int deploy_prediction_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT " PRED_COLS " FROM prediction p JOIN deployment d ON d.id = p.deployment_id"
                          " WHERE p.id = $1 AND d.org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        write_pred(w, s);
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "prediction %lld does not exist in this organization",
                       (long long)id);
    return rc < 0 ? -1 : 0;
}

int deploy_review(db_conn *c, int64_t org, int64_t user, int64_t prediction, json_t *review,
                  err *e)
{
    char *norm = NULL, top[260];
    int objects;
    double ts_;
    if (deploy_output_check(review, 0, &norm, top, sizeof top, &objects, &ts_, e))
        return err_prefix(e, "review: ");
    int64_t n = db_run(c, e,
                       "UPDATE prediction SET review = $1, status = 'reviewed', reviewed_by = $2,"
                       " reviewed_at = $3 WHERE id = $4 AND status <> 'submitted' AND deployment_id IN"
                       " (SELECT id FROM deployment WHERE org_id = $5)",
                       DBT(norm), DBI(user), DBI(time_now_ms()), DBI(prediction), DBI(org));
    free(norm);
    if (n < 0)
        return -1;
    if (n == 0) {
        int64_t x;
        if (db_one_i64(c, e, &x,
                       "SELECT p.id FROM prediction p JOIN deployment d ON d.id = p.deployment_id"
                       " WHERE p.id = $1 AND d.org_id = $2",
                       DBI(prediction), DBI(org)) == 0)
            return err_set(e, ERR_CONFLICT, "prediction %lld was already submitted; its review is final",
                           (long long)prediction);
        return err_set(e, ERR_NOT_FOUND, "prediction %lld does not exist in this organization",
                       (long long)prediction);
    }
    return 0;
}

int deploy_submit(db_conn *c, int64_t org, int64_t deployment, json_t *ids, int64_t *n, err *e)
{
    deploy_info d;
    if (deploy_get_info(c, org, deployment, &d, e))
        return -1;
    if (ids) {
        if (!json_is_array(ids) || json_array_size(ids) > 10000)
            return err_set(e, ERR_INVALID, "field 'ids' must be an array of prediction ids");
        for (size_t i = 0; i < json_array_size(ids); i++)
            if (!json_is_integer(json_array_get(ids, i)))
                return err_set(e, ERR_INVALID, "ids[%zu] must be a prediction id", i);
        char *list = json_dumps(ids, JSON_COMPACT);
        *n = db_run(c, e,
                    db_conn_driver(c) == DB_POSTGRES
                        ? "UPDATE prediction SET status = 'submitted', submitted_at = $1 WHERE deployment_id = $2"
                          " AND status = 'reviewed' AND id IN (SELECT (jsonb_array_elements_text($3::jsonb))::bigint)"
                        : "UPDATE prediction SET status = 'submitted', submitted_at = $1 WHERE deployment_id = $2"
                          " AND status = 'reviewed' AND id IN (SELECT value FROM json_each($3))",
                    DBI(time_now_ms()), DBI(deployment), DBT(list));
        free(list);
    } else {
        *n = db_run(c, e,
                    "UPDATE prediction SET status = 'submitted', submitted_at = $1 WHERE deployment_id = $2"
                    " AND status = 'reviewed'",
                    DBI(time_now_ms()), DBI(deployment));
    }
    return *n < 0 ? -1 : 0;
}

/* --- alerts ------------------------------------------------------------------ */

static const char *const alert_metrics[] = {"latency_p99",  "latency_p95",       "error_rate",
                                            "count",        "score_mean",        "outlier_rate",
                                            "out_of_range_rate", "feature_drift", NULL};

int deploy_alert_create(db_conn *c, int64_t org, int64_t deployment, json_t *body, int64_t *id,
                        err *e)
{
    static const char *const fields[] = {"name", "metric", "op", "threshold", "window_minutes", NULL};
    const char *name = NULL, *metric = NULL, *op = ">";
    double threshold = 0;
    int64_t window = 5;
    deploy_info d;
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_str(body, "name", JV_REQUIRED, 128, &name, e) ||
        jv_str(body, "metric", JV_REQUIRED, 32, &metric, e) ||
        jv_str(body, "op", JV_OPTIONAL, 2, &op, e) ||
        jv_dbl(body, "threshold", JV_REQUIRED, -1e15, 1e15, &threshold, e) ||
        jv_i64(body, "window_minutes", JV_OPTIONAL, 1, 1440, &window, e))
        return -1;
    bool known = false;
    for (const char *const *m = alert_metrics; *m; m++)
        known |= strcmp(*m, metric) == 0;
    if (!known)
        return err_set(e, ERR_INVALID,
                       "metric '%s' is not one of latency_p99, latency_p95, error_rate, count, score_mean, "
                       "outlier_rate, out_of_range_rate, feature_drift",
                       metric);
    if (strcmp(op, ">") && strcmp(op, "<"))
        return err_set(e, ERR_INVALID, "op must be '>' or '<'");
    if (deploy_get_info(c, org, deployment, &d, e))
        return -1;
    return db_one_i64(c, e, id,
                      "INSERT INTO deployment_alert (deployment_id, name, metric, op, threshold,"
                      " window_minutes, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'ok', $7)"
                      " RETURNING id",
                      DBI(deployment), DBT(name), DBT(metric), DBT(op), DBD(threshold), DBI(window),
                      DBI(time_now_ms()));
}

int deploy_alerts(db_conn *c, int64_t org, int64_t deployment, jw *w, err *e)
{
    deploy_info d;
    if (deploy_get_info(c, org, deployment, &d, e))
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT id, name, metric, op, threshold, window_minutes, state, since, last_value"
                          " FROM deployment_alert WHERE deployment_id = $1 ORDER BY id",
                          DBI(deployment));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kint(w, "id", db_col_i64(s, 0));
        jw_kstr(w, "name", db_col_text(s, 1));
        jw_kstr(w, "metric", db_col_text(s, 2));
        jw_kstr(w, "op", db_col_text(s, 3));
        jw_kdbl(w, "threshold", db_col_dbl(s, 4));
        jw_kint(w, "window_minutes", db_col_i64(s, 5));
        jw_kstr(w, "state", db_col_text(s, 6));
        jw_key(w, "since");
        if (db_col_null(s, 7))
            jw_null(w);
        else {
            char b[32];
            time_fmt_iso(db_col_i64(s, 7), b, sizeof b);
            jw_str(w, b);
        }
        jw_key(w, "last_value");
        if (db_col_null(s, 8))
            jw_null(w);
        else
            jw_dbl(w, db_col_dbl(s, 8));
        jw_obj_end(w);
    }
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

/* One metric over the last `window` minutes of minute rollups. */
static int window_value(db_conn *c, int64_t dep, const char *metric, int64_t from, int64_t to,
                        double *out, bool *any, err *e)
{
    if (strcmp(metric, "feature_drift") == 0)
        return deploy_drift_feature_ks(c, dep, from, to, out, any, e);
    if (strcmp(metric, "outlier_rate") == 0 || strcmp(metric, "out_of_range_rate") == 0) {
        /* from the drift scores (GET .../drift computes them) of the window */
        bool oo = strcmp(metric, "outlier_rate") == 0;
        db_stmt *s = db_query(c, e,
                              oo ? "SELECT COUNT(*), COALESCE(SUM(d.outlier), 0) FROM prediction_drift d"
                                   " JOIN prediction p ON p.id = d.prediction_id WHERE d.deployment_id = $1"
                                   " AND p.at >= $2 AND p.at < $3 AND d.outlier_pct IS NOT NULL"
                                 : "SELECT COUNT(*), COALESCE(SUM(d.out_of_range), 0) FROM prediction_drift d"
                                   " JOIN prediction p ON p.id = d.prediction_id WHERE d.deployment_id = $1"
                                   " AND p.at >= $2 AND p.at < $3",
                              DBI(dep), DBI(from), DBI(to));
        if (!s)
            return -1;
        int rc = db_step(s, e);
        if (rc == DB_ROW) {
            int64_t n = db_col_i64(s, 0);
            *any = n > 0;
            *out = n ? (double)db_col_i64(s, 1) / (double)n : 0;
        }
        db_done(s);
        return rc == DB_ROW ? 0 : -1;
    }
    sbuf sql = SBUF_INIT;
    sbuf_puts(&sql, "SELECT COALESCE(SUM(n), 0), COALESCE(SUM(errors), 0), COALESCE(SUM(score_sum), 0)");
    for (int i = 0; i < NLAT; i++)
        sbuf_printf(&sql, ", COALESCE(SUM(l%d), 0)", i);
    sbuf_puts(&sql, " FROM deployment_rollup WHERE deployment_id = $1 AND res = 'minute' AND bucket >= $2"
                    " AND bucket < $3");
    db_stmt *s = db_query(c, e, sbuf_cstr(&sql), DBI(dep), DBI(from), DBI(to));
    sbuf_free(&sql);
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        int64_t n = db_col_i64(s, 0), h[NLAT];
        for (int i = 0; i < NLAT; i++)
            h[i] = db_col_i64(s, 3 + i);
        *any = n > 0;
        if (strcmp(metric, "count") == 0)
            *out = (double)n;
        else if (strcmp(metric, "error_rate") == 0)
            *out = n ? (double)db_col_i64(s, 1) / (double)n : 0;
        else if (strcmp(metric, "score_mean") == 0)
            *out = n ? db_col_dbl(s, 2) / (double)n : 0;
        else
            *out = quantile(h, n, strcmp(metric, "latency_p95") == 0 ? 0.95 : 0.99);
        if (strcmp(metric, "count") == 0)
            *any = true;
    }
    db_done(s);
    return rc == DB_ROW ? 0 : -1;
}

int deploy_alerts_check(db_conn *c, int64_t org, int64_t deployment, int64_t now_ms,
                        int64_t *fired, int *nfired, int max, err *e)
{
    *nfired = 0;
    deploy_info d;
    if (deploy_get_info(c, org, deployment, &d, e))
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT id, metric, op, threshold, window_minutes, state FROM deployment_alert"
                          " WHERE deployment_id = $1",
                          DBI(deployment));
    if (!s)
        return -1;
    struct {
        int64_t id, window;
        char metric[32], op[4], state[16];
        double threshold;
    } rules[64];
    int n = 0, rc;
    while ((rc = db_step(s, e)) == DB_ROW && n < 64) {
        rules[n].id = db_col_i64(s, 0);
        snprintf(rules[n].metric, sizeof rules[n].metric, "%s", db_col_text(s, 1));
        snprintf(rules[n].op, sizeof rules[n].op, "%s", db_col_text(s, 2));
        rules[n].threshold = db_col_dbl(s, 3);
        rules[n].window = db_col_i64(s, 4);
        snprintf(rules[n].state, sizeof rules[n].state, "%s", db_col_text(s, 5));
        n++;
    }
    db_done(s);
    if (rc < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        int64_t to = now_ms - now_ms % 60000 + 60000, from = to - rules[i].window * 60000;
        double v = 0;
        bool any = false;
        if (window_value(c, deployment, rules[i].metric, from, to, &v, &any, e))
            return -1;
        bool breach = any && (rules[i].op[0] == '>' ? v > rules[i].threshold : v < rules[i].threshold);
        const char *next = breach ? "firing" : "ok";
        if (strcmp(next, rules[i].state) != 0) {
            if (db_run(c, e,
                       "UPDATE deployment_alert SET state = $1, since = $2, last_value = $3 WHERE id = $4"
                       " AND state = $5",
                       DBT(next), DBI(now_ms), DBD(v), DBI(rules[i].id), DBT(rules[i].state)) == 1 &&
                breach && *nfired < max)
                fired[(*nfired)++] = rules[i].id;
        } else {
            db_run(c, e, "UPDATE deployment_alert SET last_value = $1 WHERE id = $2", DBD(v),
                   DBI(rules[i].id));
        }
    }
    return 0;
}
