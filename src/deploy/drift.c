/*
 * drift.c - drift statistics and outlier scores of a deployment; see
 * drift.h.
 *
 * The embedding is the champion's own: a classifier's architecture without
 * the last linear layer (and the dropout before it), so its output is what
 * the classifier's head sees; a detector's without its head, with a global
 * average pool on the neck's last output. Either is rebuilt through the
 * public nn API with the trained parameters copied by name. Images are
 * prepared the same way for the reference and for production (decode near
 * the input size, plain resize, the model's normalisation).
 */
#include "deploy/drift.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/util.h"
#include "deploy/deploy.h"
#include "deploy/serve_models.h"
#include "image/image.h"
#include "nn/nn.h"
#include "training/training.h"

const char deploy_schema_v53[] =
    "CREATE TABLE drift_reference (id {{ID}},"
    " deployment_id BIGINT NOT NULL REFERENCES deployment(id) ON DELETE CASCADE,"
    " dataset_version_id BIGINT NOT NULL, model_version_id BIGINT NOT NULL, assets BIGINT NOT NULL,"
    " images BIGINT NOT NULL, dim INTEGER NOT NULL, data {{JSON}} NOT NULL, embeddings {{BLOB}},"
    " built_at BIGINT NOT NULL);"
    "CREATE INDEX drift_reference_dep ON drift_reference (deployment_id, id);"
    "CREATE TABLE prediction_drift (prediction_id BIGINT PRIMARY KEY REFERENCES prediction(id) ON DELETE CASCADE,"
    " deployment_id BIGINT NOT NULL, reference_id BIGINT NOT NULL, knn_distance DOUBLE PRECISION,"
    " outlier_pct DOUBLE PRECISION, outlier INTEGER NOT NULL, out_of_range INTEGER NOT NULL);"
    "CREATE INDEX prediction_drift_dep ON prediction_drift (deployment_id, outlier, prediction_id);";

/* --- statistics -------------------------------------------------------------- */

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double drift_ks(double *a, size_t na, double *b, size_t nb)
{
    if (!na || !nb)
        return 0;
    qsort(a, na, sizeof *a, cmp_dbl);
    qsort(b, nb, sizeof *b, cmp_dbl);
    size_t i = 0, j = 0;
    double d = 0;
    while (i < na && j < nb) {
        double v = a[i] < b[j] ? a[i] : b[j];
        while (i < na && a[i] <= v)
            i++;
        while (j < nb && b[j] <= v)
            j++;
        double diff = fabs((double)i / (double)na - (double)j / (double)nb);
        if (diff > d)
            d = diff;
    }
    return d;
}

double drift_ks_pvalue(double d, size_t na, size_t nb)
{
    if (d <= 0 || !na || !nb)
        return 1;
    double ne = (double)na * (double)nb / (double)(na + nb), s = sqrt(ne);
    double lambda = (s + 0.12 + 0.11 / s) * d;
    double sum = 0, sign = 1;
    for (int j = 1; j <= 100; j++) {
        double term = exp(-2.0 * j * j * lambda * lambda);
        sum += sign * term;
        sign = -sign;
        if (term < 1e-12)
            break;
    }
    double p = 2 * sum;
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

double drift_percentile(const double *sorted, size_t n, double v)
{
    if (!n)
        return 0;
    size_t lo = 0, hi = n; /* the first index with sorted[i] >= v */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (sorted[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 100.0 * (double)lo / (double)n;
}

/* --- the embedding ------------------------------------------------------------ */

typedef struct embedder {
    nn_model *m;
    nn_session *s;
    nn_aug aug;
    int c, h, w;
    nn_tensor *x;
} embedder;

static void embedder_free(embedder *x)
{
    if (x->s)
        nn_session_free(x->s);
    if (x->m)
        nn_model_free(x->m);
    if (x->x)
        nn_tensor_free(x->x);
    memset(x, 0, sizeof *x);
}

/* The first node of a detector's head (src/detect names them head0.*,
 * head1.*...), or n when there is none. */
static size_t head_start(json_t *nodes)
{
    size_t n = json_array_size(nodes);
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_object_get(json_array_get(nodes, i), "name"));
        if (name && strncmp(name, "head", 4) == 0 && name[4] >= '0' && name[4] <= '9')
            return i;
    }
    return n;
}

static int embedder_init(embedder *x, const nn_model *full, err *e)
{
    memset(x, 0, sizeof *x);
    json_t *arch = json_loads(nn_model_arch(full), 0, NULL);
    json_t *nodes = json_object_get(arch, "nodes");
    size_t n = json_array_size(nodes), head = head_start(nodes);
    const char *op = n ? json_string_value(json_object_get(json_array_get(nodes, n - 1), "op")) : NULL;
    if (head > 0 && head < n) {
        /* a detector: its neck's deepest output (the last node before the
         * head, stride 32), averaged over the image */
        while (json_array_size(nodes) > head)
            json_array_remove(nodes, head);
        json_array_append_new(nodes, json_pack("{s:s, s:s}", "name", "drift_embedding", "op", "gap"));
    } else if (!op || strcmp(op, "linear") != 0) {
        json_decref(arch);
        return err_set(e, ERR_UNPROCESSABLE,
                       "the model neither ends with a linear layer nor has a detector's head, so "
                       "it has no embedding for outlier scores");
    } else {
        json_array_remove(nodes, --n);
        while (n > 1 && (op = json_string_value(json_object_get(json_array_get(nodes, n - 1), "op"))) &&
               strcmp(op, "dropout") == 0)
            json_array_remove(nodes, --n);
    }
    char *text = json_dumps(arch, JSON_COMPACT);
    json_decref(arch);
    x->m = text ? nn_model_new(text, 1, e) : NULL;
    free(text);
    if (!x->m)
        return err_prefix(e, "the embedding model: ");
    const char **names = NULL;
    int count = 0;
    nn_model_param_names(x->m, &names, &count);
    for (int i = 0; i < count; i++) {
        size_t k = nn_model_param_numel(full, names[i]);
        float *buf = k ? malloc(k * sizeof *buf) : NULL;
        int rc = !buf ? err_set(e, ERR_INTERNAL, "parameter %s of the embedding", names[i])
                      : nn_model_param_get(full, names[i], buf, k, e) ||
                            nn_model_param_set(x->m, names[i], buf, k, e);
        free(buf);
        if (rc) {
            embedder_free(x);
            return -1;
        }
    }
    x->s = nn_session_new(x->m, e);
    if (!x->s) {
        embedder_free(x);
        return -1;
    }
    nn_session_set_threads(x->s, 1);
    nn_model_input(full, &x->c, &x->h, &x->w);
    x->aug = (nn_aug){.out_w = x->w, .out_h = x->h, .out_c = x->c};
    nn_model_norm(full, x->aug.mean, x->aug.std);
    x->x = nn_tensor_new(1, x->c, x->h, x->w);
    if (!x->x) {
        embedder_free(x);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return 0;
}

/* The embedding of an encoded image into out (malloc'd, *dim floats). */
static int embed(embedder *x, const void *bytes, size_t n, float **out, size_t *dim, err *e)
{
    image_info info;
    if (image_probe(bytes, n, &info, e))
        return -1;
    int side = x->h > x->w ? x->h : x->w;
    image_decode_opts o = {.channels = (uint8_t)(x->c == 1 ? 1 : 3)};
    uint32_t lo = info.width < info.height ? info.width : info.height;
    uint32_t hi = info.width < info.height ? info.height : info.width;
    if (lo > (uint32_t)side && lo > 0) {
        double t = (double)side * (double)hi / (double)lo + 0.999;
        o.target_side = (uint32_t)(t > 16384 ? 16384 : t);
    }
    image_pixels px;
    if (image_decode(bytes, n, &o, &px, e))
        return -1;
    nn_image img = {(int)px.width, (int)px.height, px.channels, px.stride, px.data};
    int rc = nn_augment(&x->aug, &img, 0, x->x->data, e);
    image_pixels_free(&px);
    if (rc)
        return -1;
    const nn_tensor *y = nn_forward(x->s, x->x, false, e);
    if (!y)
        return -1;
    *dim = nn_tensor_numel(y);
    *out = malloc(*dim * sizeof **out);
    if (!*out)
        return err_set(e, ERR_INTERNAL, "out of memory");
    memcpy(*out, y->data, *dim * sizeof **out);
    return 0;
}

/* Mean distance to the k nearest rows of emb (skipping row `self`). */
static double knn(const float *emb, size_t rows, size_t dim, const float *v, size_t self)
{
    double best[DRIFT_K];
    int nb = 0;
    for (size_t i = 0; i < rows; i++) {
        if (i == self)
            continue;
        const float *r = emb + i * dim;
        double d = 0;
        for (size_t j = 0; j < dim; j++) {
            double t = (double)r[j] - (double)v[j];
            d += t * t;
        }
        d = sqrt(d);
        if (nb < DRIFT_K) {
            best[nb++] = d;
        } else {
            int worst = 0;
            for (int k = 1; k < DRIFT_K; k++)
                if (best[k] > best[worst])
                    worst = k;
            if (d < best[worst])
                best[worst] = d;
        }
    }
    double s = 0;
    for (int k = 0; k < nb; k++)
        s += best[k];
    return nb ? s / nb : 0;
}

/* --- the champion's network ------------------------------------------------------- */

/* The champion loaded for its embedding: a detector (shared with serving)
 * or a classifier. */
typedef struct champ {
    deploy_det *det;
    training_model *tm;
    const nn_model *m;
} champ;

static int champ_acquire(db_conn *c, blob_store *bs, const char *spool, int64_t org, int64_t version,
                         champ *h, err *e)
{
    memset(h, 0, sizeof *h);
    if (deploy_det_acquire(c, bs, spool, org, version, 0, &h->det, e))
        return -1;
    if (h->det) {
        h->m = det_predictor_model(deploy_det_predictor(h->det));
        return 0;
    }
    if (training_model_acquire(c, bs, spool, org, version, &h->tm, e))
        return -1;
    h->m = nn_predictor_model(training_model_predictor(h->tm));
    return 0;
}

static void champ_release(champ *h)
{
    if (h->det)
        deploy_det_release(h->det);
    if (h->tm)
        training_model_release(h->tm);
    memset(h, 0, sizeof *h);
}

/* --- the reference -------------------------------------------------------------- */

#define NFEAT 6
static const char *const feat_names[NFEAT] = {"brightness", "contrast", "sharpness",
                                              "width",      "height",   "aspect"};

typedef struct reference {
    int64_t id, version, model, images;
    int64_t built_at;
    size_t dim;
    double *feat[NFEAT];   /* images values each */
    double lo[NFEAT], hi[NFEAT];
    double *knn_sorted;    /* images */
    float *emb;            /* images x dim */
    json_t *labels;        /* {label: count} */
    char why[300];         /* dim 0: why there are no embeddings */
} reference;

static void ref_free(reference *r)
{
    for (int i = 0; i < NFEAT; i++)
        free(r->feat[i]);
    free(r->knn_sorted);
    free(r->emb);
    json_decref(r->labels);
    memset(r, 0, sizeof *r);
}

static void feats_of(const deploy_features *f, double out[NFEAT])
{
    out[0] = f->brightness;
    out[1] = f->contrast;
    out[2] = f->sharpness;
    out[3] = f->width;
    out[4] = f->height;
    out[5] = f->height > 0 ? (double)f->width / (double)f->height : 0;
}

static int sink_buf(void *ctx, const void *p, size_t n)
{
    sbuf_put(ctx, p, n);
    return 0;
}

/* The training dataset version: the champion's lineage (alias train, or
 * its only dataset), else the pipeline's train version. */
static int train_version(db_conn *c, int64_t dep, int64_t champion, int64_t *version, err *e)
{
    *version = 0;
    db_stmt *s = db_query(c, e, "SELECT lineage FROM model_version WHERE id = $1", DBI(champion));
    if (!s)
        return -1;
    if (db_step(s, e) == DB_ROW) {
        json_t *l = json_loads(db_col_text(s, 0), 0, NULL);
        json_t *ds = json_object_get(l, "datasets");
        json_t *t = json_object_get(ds, "train");
        if (!t && json_object_size(ds) == 1) {
            void *it = json_object_iter(ds);
            t = json_object_iter_value(it);
        }
        if (json_is_integer(t))
            *version = json_integer_value(t);
        json_decref(l);
    }
    db_done(s);
    if (*version)
        return 0;
    s = db_query(c, e, "SELECT datasets FROM deployment_pipeline WHERE deployment_id = $1", DBI(dep));
    if (!s)
        return -1;
    if (db_step(s, e) == DB_ROW) {
        json_t *ds = json_loads(db_col_text(s, 0), 0, NULL);
        *version = json_integer_value(json_object_get(ds, "train"));
        json_decref(ds);
    }
    db_done(s);
    if (!*version)
        return err_set(e, ERR_UNPROCESSABLE,
                       "no training dataset version is known for deployment %lld (the champion "
                       "was not published from an experiment with datasets, and there is no "
                       "pipeline): give ?dataset_version_id=",
                       (long long)dep);
    return 0;
}

static int ref_load(db_conn *c, int64_t dep, int64_t version, int64_t model, int64_t assets,
                    reference *r, bool *found, err *e)
{
    *found = false;
    db_stmt *s = db_query(c, e,
                          "SELECT id, images, dim, data, embeddings, built_at FROM drift_reference"
                          " WHERE deployment_id = $1 AND dataset_version_id = $2 AND model_version_id = $3"
                          " AND assets = $4 ORDER BY id DESC LIMIT 1",
                          DBI(dep), DBI(version), DBI(model), DBI(assets));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        memset(r, 0, sizeof *r);
        r->id = db_col_i64(s, 0);
        r->images = db_col_i64(s, 1);
        r->dim = (size_t)db_col_i64(s, 2);
        r->version = version;
        r->model = model;
        r->built_at = db_col_i64(s, 5);
        json_t *d = json_loads(db_col_text(s, 3), 0, NULL);
        size_t blen = 0;
        const void *b = db_col_blob(s, 4, &blen);
        size_t n = (size_t)r->images;
        bool ok = d && blen == n * r->dim * sizeof(float);
        for (int i = 0; ok && i < NFEAT; i++) {
            json_t *a = json_object_get(d, feat_names[i]);
            r->feat[i] = malloc((n ? n : 1) * sizeof(double));
            ok = json_array_size(a) == n;
            for (size_t k = 0; ok && k < n; k++)
                r->feat[i][k] = json_number_value(json_array_get(a, k));
            r->lo[i] = json_number_value(json_array_get(json_object_get(d, "lo"), (size_t)i));
            r->hi[i] = json_number_value(json_array_get(json_object_get(d, "hi"), (size_t)i));
        }
        json_t *kn = json_object_get(d, "knn");
        r->knn_sorted = malloc((n ? n : 1) * sizeof(double));
        for (size_t k = 0; ok && k < n; k++)
            r->knn_sorted[k] = json_number_value(json_array_get(kn, k));
        r->emb = blen ? malloc(blen) : NULL;
        if (ok && blen)
            memcpy(r->emb, b, blen);
        r->labels = json_incref(json_object_get(d, "labels"));
        snprintf(r->why, sizeof r->why, "%s",
                 json_string_value(json_object_get(d, "why")) ? json_string_value(json_object_get(d, "why")) : "");
        json_decref(d);
        *found = ok;
        if (!ok)
            ref_free(r);
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

static int ref_build(db_conn *c, blob_store *bs, const nn_model *p, int64_t dep, int64_t version,
                     int64_t model, int64_t assets, reference *r, err *e)
{
    memset(r, 0, sizeof *r);
    r->version = version;
    r->model = model;
    int64_t tagged = 0;
    if (db_one_i64(c, e, &tagged,
                   "SELECT COUNT(*) FROM asset_tag WHERE version_id = $1 AND name = 'train'", DBI(version)))
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT d.sha256, (SELECT l.name FROM shape sh JOIN label l ON l.id = sh.label_id"
                          " WHERE sh.asset_id = a.id AND sh.kind = 1 ORDER BY sh.id LIMIT 1)"
                          " FROM asset a JOIN data d ON d.id = a.data_id WHERE a.version_id = $1"
                          " AND ($2 = 0 OR EXISTS (SELECT 1 FROM asset_tag g WHERE g.asset_id = a.id"
                          " AND g.name = 'train')) ORDER BY a.id LIMIT 1000",
                          DBI(version), DBI(tagged ? 1 : 0));
    if (!s)
        return -1;
    json_t *shas = json_array();
    r->labels = json_object();
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        json_array_append_new(shas, json_string(db_col_text(s, 0)));
        const char *l = db_col_text(s, 1);
        if (l)
            json_object_set_new(r->labels, l,
                                json_integer(json_integer_value(json_object_get(r->labels, l)) + 1));
    }
    db_done(s);
    if (rc < 0) {
        json_decref(shas);
        return -1;
    }
    size_t n = json_array_size(shas);
    if (n < 2) {
        json_decref(shas);
        return err_set(e, ERR_UNPROCESSABLE,
                       "dataset version %lld has %zu image(s): a drift reference needs at least 2",
                       (long long)version, n);
    }
    embedder x;
    bool have_x = false;
    if (p) {
        err xe;
        if (embedder_init(&x, p, &xe) == 0)
            have_x = true;
        else
            snprintf(r->why, sizeof r->why, "%s", xe.msg);
    }
    for (int i = 0; i < NFEAT; i++) {
        r->feat[i] = malloc(n * sizeof(double));
        r->lo[i] = INFINITY;
        r->hi[i] = -INFINITY;
    }
    sbuf img = SBUF_INIT;
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        img.len = 0;
        const char *sha = json_string_value(json_array_get(shas, i));
        deploy_features f;
        float *v = NULL;
        size_t dim = 0;
        if (blob_read(bs, sha, 0, -1, sink_buf, &img, e) || deploy_features_of(img.p, img.len, &f, e) ||
            (have_x && embed(&x, img.p, img.len, &v, &dim, e))) {
            rc = err_prefix(e, "reference image %.12s: ", sha);
            break;
        }
        if (!have_x) {
            /* features only */
        } else if (!r->emb) {
            r->dim = dim;
            r->emb = malloc(n * dim * sizeof(float));
        }
        if (have_x && dim != r->dim) {
            free(v);
            rc = err_set(e, ERR_INTERNAL, "embeddings of different sizes");
            break;
        }
        if (have_x)
            memcpy(r->emb + i * dim, v, dim * sizeof(float));
        free(v);
        double fv[NFEAT];
        feats_of(&f, fv);
        for (int k = 0; k < NFEAT; k++) {
            r->feat[k][i] = fv[k];
            r->lo[k] = fmin(r->lo[k], fv[k]);
            r->hi[k] = fmax(r->hi[k], fv[k]);
        }
    }
    sbuf_free(&img);
    if (have_x)
        embedder_free(&x);
    json_decref(shas);
    if (rc) {
        ref_free(r);
        return -1;
    }
    r->images = (int64_t)n;
    r->knn_sorted = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        r->knn_sorted[i] = r->dim ? knn(r->emb, n, r->dim, r->emb + i * r->dim, i) : 0;
    qsort(r->knn_sorted, n, sizeof(double), cmp_dbl);
    /* stored: features in image order (the KS sorts its own copies) */
    json_t *d = json_object(), *lo = json_array(), *hi = json_array(), *kn = json_array();
    for (int k = 0; k < NFEAT; k++) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, json_real(r->feat[k][i]));
        json_object_set_new(d, feat_names[k], a);
        json_array_append_new(lo, json_real(r->lo[k]));
        json_array_append_new(hi, json_real(r->hi[k]));
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(kn, json_real(r->knn_sorted[i]));
    json_object_set_new(d, "lo", lo);
    json_object_set_new(d, "hi", hi);
    json_object_set_new(d, "knn", kn);
    json_object_set(d, "labels", r->labels);
    json_object_set_new(d, "why", json_string(r->why));
    char *text = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    r->built_at = time_now_ms();
    rc = db_one_i64(c, e, &r->id,
                    "INSERT INTO drift_reference (deployment_id, dataset_version_id, model_version_id,"
                    " assets, images, dim, data, embeddings, built_at) VALUES ($1, $2, $3, $4, $5, $6,"
                    " $7, $8, $9) RETURNING id",
                    DBI(dep), DBI(version), DBI(model), DBI(assets), DBI(r->images), DBI((int64_t)r->dim),
                    DBT(text), r->dim ? DBB(r->emb, n * r->dim * sizeof(float)) : DBNULL,
                    DBI(r->built_at));
    free(text);
    if (rc)
        ref_free(r);
    return rc;
}

static void live_unmark(int64_t dep);

/* --- the report --------------------------------------------------------------------- */

typedef struct window_row {
    int64_t id;
    double f[NFEAT];
    bool has_f;
    char label[257];
    char sha[65];
    bool scored, outlier, oor;
    double pct;
} window_row;

static bool feats_from_json(const char *text, double out[NFEAT])
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    if (!j)
        return false;
    deploy_features f = {
        .brightness = json_number_value(json_object_get(j, "brightness")),
        .contrast = json_number_value(json_object_get(j, "contrast")),
        .sharpness = json_number_value(json_object_get(j, "sharpness")),
        .width = (int)json_integer_value(json_object_get(j, "width")),
        .height = (int)json_integer_value(json_object_get(j, "height")),
    };
    json_decref(j);
    feats_of(&f, out);
    return true;
}

static int score_new(db_conn *c, blob_store *bs, const nn_model *p, int64_t dep, const reference *r,
                     const drift_query *q, window_row *rows, size_t n, err *e)
{
    embedder x;
    bool have_x = false;
    sbuf img = SBUF_INIT;
    int scored = 0, rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        window_row *w = &rows[i];
        if (w->scored)
            continue;
        if (scored >= DRIFT_SCORE_MAX)
            break;
        bool oor = false;
        for (int k = 0; w->has_f && k < NFEAT; k++)
            oor |= w->f[k] < r->lo[k] || w->f[k] > r->hi[k];
        double dist = NAN, pct = NAN;
        bool outlier = false;
        if (w->sha[0] && r->dim && p) {
            if (!have_x) {
                if (embedder_init(&x, p, e)) {
                    rc = -1;
                    break;
                }
                have_x = true;
            }
            float *v = NULL;
            size_t dim = 0;
            img.len = 0;
            err ie;
            if (blob_read(bs, w->sha, 0, -1, sink_buf, &img, &ie) == 0 &&
                embed(&x, img.p, img.len, &v, &dim, &ie) == 0 && dim == r->dim) {
                dist = knn(r->emb, (size_t)r->images, r->dim, v, (size_t)-1);
                pct = drift_percentile(r->knn_sorted, (size_t)r->images, dist);
                outlier = pct >= q->outlier_pct;
            }
            free(v);
        }
        if (db_run(c, e,
                   "INSERT INTO prediction_drift (prediction_id, deployment_id, reference_id, knn_distance,"
                   " outlier_pct, outlier, out_of_range) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                   " ON CONFLICT (prediction_id) DO NOTHING",
                   DBI(w->id), DBI(dep), DBI(r->id), isfinite(dist) ? DBD(dist) : DBNULL,
                   isfinite(pct) ? DBD(pct) : DBNULL, DBI(outlier ? 1 : 0), DBI(oor ? 1 : 0)) < 0) {
            rc = -1;
            break;
        }
        w->scored = true;
        w->outlier = outlier;
        w->oor = oor;
        w->pct = pct;
        scored++;
    }
    sbuf_free(&img);
    if (have_x)
        embedder_free(&x);
    return rc;
}

int deploy_drift(db_conn *c, blob_store *bs, const char *spool, int64_t org, int64_t dep,
                 const drift_query *q, jw *w, err *e)
{
    deploy_info d;
    if (deploy_get_info(c, org, dep, &d, e))
        return -1;
    int64_t version = q->version, assets = 0;
    if (!version && train_version(c, dep, d.champion, &version, e))
        return -1;
    if (db_one_i64(c, e, &assets,
                   "SELECT COUNT(*) FROM asset a JOIN dataset_version v ON v.id = a.version_id"
                   " JOIN dataset s ON s.id = v.dataset_id WHERE a.version_id = $1 AND s.org_id = $2",
                   DBI(version), DBI(org)))
        return -1;
    /* the champion's embedding when it is a cvops classifier or detector; else
     * features only */
    champ ch = {0};
    char why[300] = "the deployment has no champion model version";
    if (d.champion) {
        err me;
        if (champ_acquire(c, bs, spool, org, d.champion, &ch, &me))
            snprintf(why, sizeof why, "the champion cannot be run here: %s", me.msg);
    }
    const nn_model *p = ch.m;
    reference r;
    bool found = false;
    int rc = ref_load(c, dep, version, d.champion, assets, &r, &found, e);
    if (rc == 0 && !found)
        rc = ref_build(c, bs, p, dep, version, d.champion, assets, &r, e);
    if (rc) {
        champ_release(&ch);
        return -1;
    }
    live_unmark(dep); /* scores at arrival may start */
    if (!r.dim && r.why[0])
        snprintf(why, sizeof why, "%s", r.why);
    /* the window */
    db_stmt *s = db_query(c, e,
                          "SELECT p.id, p.features, p.top_label, dt.sha256, pd.outlier, pd.out_of_range,"
                          " pd.outlier_pct, pd.prediction_id FROM prediction p"
                          " LEFT JOIN data dt ON dt.id = p.data_id"
                          " LEFT JOIN prediction_drift pd ON pd.prediction_id = p.id"
                          " WHERE p.deployment_id = $1 AND p.at >= $2 AND p.at < $3"
                          " ORDER BY p.id DESC LIMIT $4",
                          DBI(dep), DBI(q->from), DBI(q->to > 0 ? q->to : INT64_MAX), DBI(q->limit));
    window_row *rows = NULL;
    size_t n = 0, cap = 0;
    while (s && (rc = db_step(s, e)) == DB_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            rows = realloc(rows, cap * sizeof *rows);
        }
        window_row *x = &rows[n++];
        memset(x, 0, sizeof *x);
        x->id = db_col_i64(s, 0);
        x->has_f = feats_from_json(db_col_text(s, 1), x->f);
        snprintf(x->label, sizeof x->label, "%s", db_col_text(s, 2) ? db_col_text(s, 2) : "");
        if (db_col_text(s, 3))
            snprintf(x->sha, sizeof x->sha, "%s", db_col_text(s, 3));
        x->scored = !db_col_null(s, 7);
        x->outlier = x->scored && db_col_i64(s, 4) != 0;
        x->oor = x->scored && db_col_i64(s, 5) != 0;
        x->pct = db_col_null(s, 6) ? NAN : db_col_dbl(s, 6);
    }
    if (s)
        db_done(s);
    rc = !s || rc < 0 ? -1 : 0;
    if (rc == 0)
        rc = score_new(c, bs, p, dep, &r, q, rows, n, e);
    champ_release(&ch);
    if (rc) {
        free(rows);
        ref_free(&r);
        return -1;
    }
    size_t ref_n = (size_t)r.images;
    jw_obj(w);
    jw_kint(w, "deployment_id", dep);
    jw_key(w, "reference");
    jw_obj(w);
    jw_kint(w, "dataset_version_id", r.version);
    jw_kint(w, "model_version_id", r.model);
    jw_kint(w, "images", r.images);
    jw_kint(w, "built_at", r.built_at);
    jw_obj_end(w);
    jw_key(w, "window");
    jw_obj(w);
    jw_kint(w, "from", q->from);
    jw_key(w, "to");
    q->to > 0 ? jw_int(w, q->to) : jw_null(w);
    jw_kint(w, "predictions", (int64_t)n);
    jw_obj_end(w);
    /* features */
    double *a = malloc((ref_n ? ref_n : 1) * sizeof *a), *b = malloc((n ? n : 1) * sizeof *b);
    jw_key(w, "features");
    jw_obj(w);
    for (int k = 0; k < NFEAT; k++) {
        size_t nb = 0;
        double sa = 0, sb = 0;
        for (size_t i = 0; i < ref_n; i++)
            sa += a[i] = r.feat[k][i];
        for (size_t i = 0; i < n; i++)
            if (rows[i].has_f)
                sb += b[nb++] = rows[i].f[k];
        double ks = drift_ks(a, ref_n, b, nb);
        jw_key(w, feat_names[k]);
        jw_obj(w);
        jw_kdbl(w, "ks", ks);
        jw_kdbl(w, "p_value", drift_ks_pvalue(ks, ref_n, nb));
        jw_kdbl(w, "reference_mean", ref_n ? sa / (double)ref_n : NAN);
        jw_kdbl(w, "production_mean", nb ? sb / (double)nb : NAN);
        jw_kint(w, "production_n", (int64_t)nb);
        jw_obj_end(w);
    }
    jw_obj_end(w);
    free(a);
    free(b);
    /* labels: reference classes vs predicted top labels, in the model's order */
    json_t *order = json_array(), *prod = json_object();
    int64_t ref_total = 0, prod_total = 0;
    for (size_t i = 0; i < n; i++)
        if (rows[i].label[0]) {
            json_object_set_new(prod, rows[i].label,
                                json_integer(json_integer_value(json_object_get(prod, rows[i].label)) + 1));
            prod_total++;
        }
    const char *key;
    json_t *val;
    json_object_foreach(r.labels, key, val)
    {
        ref_total += json_integer_value(val);
        json_array_append_new(order, json_string(key));
    }
    json_object_foreach(prod, key, val) if (!json_object_get(r.labels, key))
        json_array_append_new(order, json_string(key));
    double cr = 0, cp = 0, ks = 0;
    jw_key(w, "labels");
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    size_t li;
    json_t *lv;
    json_array_foreach(order, li, lv)
    {
        const char *l = json_string_value(lv);
        double fr = ref_total ? (double)json_integer_value(json_object_get(r.labels, l)) / (double)ref_total : 0;
        double fp = prod_total ? (double)json_integer_value(json_object_get(prod, l)) / (double)prod_total : 0;
        cr += fr;
        cp += fp;
        ks = fmax(ks, fabs(cr - cp));
        jw_obj(w);
        jw_kstr(w, "label", l);
        jw_kdbl(w, "reference", fr);
        jw_kdbl(w, "production", fp);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    if (!ref_total || !prod_total)
        ks = 0;
    jw_kdbl(w, "ks", ks);
    jw_kdbl(w, "p_value", drift_ks_pvalue(ks, (size_t)ref_total, (size_t)prod_total));
    jw_obj_end(w);
    json_decref(order);
    json_decref(prod);
    /* outliers */
    int64_t scored = 0, outliers = 0, oor = 0, unscorable = 0, pending = 0;
    for (size_t i = 0; i < n; i++) {
        if (!rows[i].scored) {
            pending++;
            continue;
        }
        if (isfinite(rows[i].pct)) {
            scored++;
            outliers += rows[i].outlier;
        } else {
            unscorable++;
        }
        oor += rows[i].oor;
    }
    jw_key(w, "outliers");
    jw_obj(w);
    jw_kbool(w, "available", r.dim > 0);
    if (!r.dim)
        jw_kstr(w, "reason", why);
    jw_kdbl(w, "percentile", q->outlier_pct);
    jw_kint(w, "scored", scored);
    jw_kint(w, "outliers", outliers);
    jw_kdbl(w, "rate", scored ? (double)outliers / (double)scored : 0);
    jw_kint(w, "without_image", unscorable);
    jw_kint(w, "not_yet_scored", pending);
    jw_kint(w, "out_of_range", oor);
    jw_obj_end(w);
    jw_obj_end(w);
    free(rows);
    ref_free(&r);
    return 0;
}

/* --- scores at arrival ---------------------------------------------------------------- */

/* Deployments found without a reference, until when (ms): the request
 * threads ask before they copy an image for the background thread. */
#define LIVE_NONE_MAX 32
#define LIVE_RECHECK_MS 10000
static struct {
    pthread_mutex_t mu;
    struct {
        int64_t dep, until;
    } none[LIVE_NONE_MAX];
} live_none = {PTHREAD_MUTEX_INITIALIZER, {{0, 0}}};

/* The background thread's cache: the last deployment's reference and the
 * embedding of its champion (one thread uses it). */
static struct {
    int64_t dep, ref_id, model;
    reference r;
    bool have_r, tried_x, have_x;
    embedder x;
} live;

bool deploy_drift_live_wanted(int64_t dep)
{
    int64_t now = time_now_ms();
    bool want = true;
    pthread_mutex_lock(&live_none.mu);
    for (int i = 0; i < LIVE_NONE_MAX; i++)
        if (live_none.none[i].dep == dep && live_none.none[i].until > now)
            want = false;
    pthread_mutex_unlock(&live_none.mu);
    return want;
}

static void live_mark_none(int64_t dep)
{
    int64_t now = time_now_ms();
    pthread_mutex_lock(&live_none.mu);
    int slot = 0;
    for (int i = 0; i < LIVE_NONE_MAX; i++) {
        if (live_none.none[i].dep == dep) {
            slot = i;
            break;
        }
        if (live_none.none[i].until < live_none.none[slot].until)
            slot = i;
    }
    live_none.none[slot].dep = dep;
    live_none.none[slot].until = now + LIVE_RECHECK_MS;
    pthread_mutex_unlock(&live_none.mu);
}

/* A reference now exists (this process built or loaded it). */
static void live_unmark(int64_t dep)
{
    pthread_mutex_lock(&live_none.mu);
    for (int i = 0; i < LIVE_NONE_MAX; i++)
        if (live_none.none[i].dep == dep)
            live_none.none[i].until = 0;
    pthread_mutex_unlock(&live_none.mu);
}

void deploy_drift_live_clear(void)
{
    if (live.have_r)
        ref_free(&live.r);
    if (live.have_x)
        embedder_free(&live.x);
    memset(&live, 0, sizeof live);
    pthread_mutex_lock(&live_none.mu);
    memset(live_none.none, 0, sizeof live_none.none);
    pthread_mutex_unlock(&live_none.mu);
}

/* The keys of the deployment's newest reference (for that champion, or any
 * when champion is 0); *id 0 when there is none. */
static int newest_ref(db_conn *c, int64_t dep, int64_t champion, int64_t *id, int64_t *version,
                      int64_t *model, int64_t *assets, err *e)
{
    *id = *version = *model = *assets = 0;
    db_stmt *s = db_query(c, e,
                          "SELECT id, dataset_version_id, model_version_id, assets FROM drift_reference"
                          " WHERE deployment_id = $1 AND ($2 = 0 OR model_version_id = $2)"
                          " ORDER BY id DESC LIMIT 1",
                          DBI(dep), DBI(champion));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        *id = db_col_i64(s, 0);
        *version = db_col_i64(s, 1);
        *model = db_col_i64(s, 2);
        *assets = db_col_i64(s, 3);
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

/* The deployment's newest reference for its champion into the cache. 0 with
 * live.have_r false: there is none yet. */
static int live_reference(db_conn *c, int64_t dep, int64_t champion, err *e)
{
    int64_t id = 0, version = 0, model = 0, assets = 0;
    if (newest_ref(c, dep, champion, &id, &version, &model, &assets, e))
        return -1;
    if (live.have_r && (live.dep != dep || live.ref_id != id)) {
        ref_free(&live.r);
        live.have_r = false;
    }
    if (live.dep != dep || live.model != champion) {
        if (live.have_x)
            embedder_free(&live.x);
        live.have_x = live.tried_x = false;
    }
    live.dep = dep;
    live.model = champion;
    if (!id || live.have_r)
        return 0;
    bool found = false;
    if (ref_load(c, dep, version, champion, assets, &live.r, &found, e))
        return -1;
    live.have_r = found;
    live.ref_id = found ? live.r.id : 0;
    return 0;
}

int deploy_drift_score_arrival(db_conn *c, blob_store *bs, const char *spool, int64_t org,
                               int64_t dep, int64_t prediction, const void *bytes, size_t n,
                               const deploy_features *f, err *e)
{
    deploy_info d;
    if (deploy_get_info(c, org, dep, &d, e))
        return -1;
    if (!d.champion) {
        live_mark_none(dep);
        return 0;
    }
    if (live_reference(c, dep, d.champion, e))
        return -1;
    if (!live.have_r) {
        live_mark_none(dep);
        return 0;
    }
    const reference *r = &live.r;
    if (r->dim && !live.tried_x) {
        live.tried_x = true;
        champ ch;
        err me;
        if (champ_acquire(c, bs, spool, org, d.champion, &ch, &me) == 0) {
            live.have_x = embedder_init(&live.x, ch.m, &me) == 0;
            champ_release(&ch);
        }
    }
    double fv[NFEAT];
    feats_of(f, fv);
    bool oor = false;
    for (int k = 0; k < NFEAT; k++)
        oor |= fv[k] < r->lo[k] || fv[k] > r->hi[k];
    double dist = NAN, pct = NAN;
    float *v = NULL;
    size_t dim = 0;
    err ie;
    if (live.have_x && embed(&live.x, bytes, n, &v, &dim, &ie) == 0 && dim == r->dim) {
        dist = knn(r->emb, (size_t)r->images, r->dim, v, (size_t)-1);
        pct = drift_percentile(r->knn_sorted, (size_t)r->images, dist);
    }
    free(v);
    return db_run(c, e,
                  "INSERT INTO prediction_drift (prediction_id, deployment_id, reference_id, knn_distance,"
                  " outlier_pct, outlier, out_of_range) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                  " ON CONFLICT (prediction_id) DO NOTHING",
                  DBI(prediction), DBI(dep), DBI(r->id), isfinite(dist) ? DBD(dist) : DBNULL,
                  isfinite(pct) ? DBD(pct) : DBNULL,
                  DBI(isfinite(pct) && pct >= DRIFT_OUTLIER_PCT ? 1 : 0), DBI(oor ? 1 : 0)) < 0
               ? -1
               : 0;
}

/* --- the alert metric ----------------------------------------------------------------- */

int deploy_drift_feature_ks(db_conn *c, int64_t dep, int64_t from, int64_t to, double *out,
                            bool *any, err *e)
{
    *out = 0;
    *any = false;
    int64_t id, version, model, assets;
    if (newest_ref(c, dep, 0, &id, &version, &model, &assets, e))
        return -1;
    if (!id)
        return 0; /* no reference yet: nothing to compare */
    reference r;
    bool found = false;
    if (ref_load(c, dep, version, model, assets, &r, &found, e))
        return -1;
    if (!found)
        return 0;
    int rc = 0;
    db_stmt *s = db_query(c, e,
                          "SELECT features FROM prediction WHERE deployment_id = $1 AND at >= $2"
                          " AND at < $3 ORDER BY id DESC LIMIT $4",
                          DBI(dep), DBI(from), DBI(to), DBI(DRIFT_WINDOW_MAX));
    double *prod[NFEAT] = {0};
    size_t n = 0, cap = 0;
    while (s && (rc = db_step(s, e)) == DB_ROW) {
        double f[NFEAT];
        if (!feats_from_json(db_col_text(s, 0), f))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            for (int k = 0; k < NFEAT; k++)
                prod[k] = realloc(prod[k], cap * sizeof(double));
        }
        for (int k = 0; k < NFEAT; k++)
            prod[k][n] = f[k];
        n++;
    }
    if (s)
        db_done(s);
    bool ok = s && rc == DB_DONE;
    size_t ref_n = (size_t)r.images;
    double *a = malloc((ref_n ? ref_n : 1) * sizeof *a);
    for (int k = 0; ok && n && k < NFEAT; k++) {
        memcpy(a, r.feat[k], ref_n * sizeof *a);
        double d = drift_ks(a, ref_n, prod[k], n);
        if (d > *out)
            *out = d;
    }
    *any = ok && n > 0 && ref_n > 0;
    free(a);
    for (int k = 0; k < NFEAT; k++)
        free(prod[k]);
    ref_free(&r);
    return ok ? 0 : -1;
}
