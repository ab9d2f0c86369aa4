/*
 * predict_api.c - serve mode: POST /api/v1/deployments/{id}/predict runs the
 * deployment's champion model on an image and answers its predictions.
 *
 * The image comes as the raw body (?tag=&source=&metadata=&filename=) or
 * as multipart/form-data (a file field, e.g. "image", and the same text
 * fields; tags repeat or come comma-separated). The answer:
 *
 *   {"prediction_id": 41, "deployment_id": 3, "model_version_id": 7,
 *    "classes": [{"label": "Sneaker", "score": 0.97}, ...],   best first
 *    "boxes": [],                                              x, y, w, h in
 *                                                              pixels, label, score
 *    "latency_ms": 3.2,             decode + inference of the champion
 *    "image": {"sha256", "width", "height"},
 *    "image_stored": true, "data_id": 99,    sampled into the datalake
 *    "shadow": "pending" | null}
 *
 * Models are loaded once per process and shared by concurrent requests: a
 * detector checkpoint (metadata "detector") through deploy_det_acquire
 * (serve_models.c), anything else as a classifier through
 * training_model_acquire; both are predictors with a pool of sessions. A
 * detector answers "boxes" (x, y, w, h in the original image's pixels,
 * label, score; at least the deployment's min_score, else ?score=, default
 * 0.25; ?iou= NMS threshold, default 0.6; ?max_det=, default 100)
 * and "classes": []. Every
 * prediction is recorded (deploy_record: monitoring rollups, review) before
 * the answer. The shadow model runs after the answer has been sent: the
 * request's cleanup, which the HTTP layer calls once the response is out,
 * hands the image to a background thread that predicts with the shadow and
 * adds its output to the prediction (deploy_record_shadow). So the shadow
 * never changes the answer or its latency. That queue is bounded
 * (SHADOW_QUEUE_MAX images); beyond it shadow predictions are skipped and
 * counted in the log, never delaying requests.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/log.h"
#include "base/util.h"
#include "datalake/datalake.h"
#include "deploy/deploy.h"
#include "deploy/drift.h"
#include "deploy/serve_models.h"
#include "image/image.h"
#include "training/training.h"

#define PREDICT_MAX_BODY (64LL << 20)
#define SHADOW_QUEUE_MAX 256
/* Scores at arrival wait only behind a short queue, and at most
 * SCORE_RATE_MAX are taken per second: each costs a forward pass of the
 * champion's backbone, so under heavy traffic the scores are a sample
 * rather than a second model run on every request. */
#define SCORE_QUEUE_MAX 4
#define SCORE_RATE_MAX 5
#define SCORE_IMAGE_MAX (8 << 20)
#define TAGS_MAX 32

/* --- running a model version -------------------------------------------------- */

typedef struct run_opts {
    int k;            /* classes to answer (classifiers) */
    double min_score; /* boxes below it are not answered (detectors) */
    double iou;       /* NMS (detectors) */
    int max_det;
} run_opts;

static void spool_of(app *a, char *spool, size_t n)
{
    if (a->cfg.spool_dir)
        snprintf(spool, n, "%s", a->cfg.spool_dir);
    else
        snprintf(spool, n, "%s/tmp", a->cfg.data_dir ? a->cfg.data_dir : ".");
}

/* The model version's predictions for an image as {"classes", "boxes"}
 * (*out, a new object) and the latency of decode + inference. -1 with
 * *model_failed false: the model could not be had (nothing ran); with
 * *model_failed true: it ran and failed (e says whether the image was the
 * problem). */
static int run_model(app *a, db_conn *c, int64_t org, int64_t version, const void *bytes, size_t n,
                     const run_opts *o, json_t **out, double *latency, bool *model_failed, err *e)
{
    char spool[1024];
    spool_of(a, spool, sizeof spool);
    *out = NULL;
    *latency = 0;
    *model_failed = false;
    deploy_det *dm = NULL;
    if (deploy_det_acquire(c, a->blobs, spool, org, version, a->cfg.nn_threads, &dm, e) != 0)
        return -1;
    if (dm) {
        det_predictor *p = deploy_det_predictor(dm);
        det_predict_opts po = {.conf = (float)(o->min_score > 0 ? o->min_score : 0.25),
                               .iou = (float)o->iou,
                               .max_det = o->max_det};
        det_box *b = NULL;
        int nb = 0, w, h;
        int64_t t0 = time_mono_ns();
        int rc = det_predict_encoded(p, bytes, n, &po, a->cfg.max_pixels, &b, &nb, &w, &h, e);
        *latency = (double)(time_mono_ns() - t0) / 1e6;
        json_t *boxes = json_array();
        for (int i = 0; rc == 0 && i < nb; i++) {
            const char *label = det_predictor_label(p, b[i].cls);
            char fb[32];
            if (!label) {
                snprintf(fb, sizeof fb, "class %d", b[i].cls);
                label = fb;
            }
            json_array_append_new(
                boxes, json_pack("{s:f, s:f, s:f, s:f, s:s, s:f}", "x", round(b[i].x * 100) / 100,
                                 "y", round(b[i].y * 100) / 100, "w", round(b[i].w * 100) / 100,
                                 "h", round(b[i].h * 100) / 100, "label", label, "score",
                                 round(b[i].score * 10000) / 10000));
        }
        free(b);
        deploy_det_release(dm);
        *out = json_pack("{s:[], s:o}", "classes", "boxes", boxes);
        *model_failed = rc != 0;
        return rc;
    }
    training_model *m = NULL;
    if (training_model_acquire(c, a->blobs, spool, org, version, &m, e) != 0)
        return -1;
    training_class cls[8];
    int nc = 0;
    int64_t t0 = time_mono_ns();
    int rc = training_predict_image(training_model_predictor(m), bytes, n, o->k, cls, &nc, e);
    *latency = (double)(time_mono_ns() - t0) / 1e6;
    json_t *arr = json_array();
    for (int i = 0; rc == 0 && i < nc; i++)
        json_array_append_new(arr, json_pack("{s:s, s:f}", "label", cls[i].label, "score",
                                             (double)cls[i].score));
    training_model_release(m);
    *out = json_pack("{s:o, s:[]}", "classes", arr, "boxes");
    *model_failed = rc != 0;
    return rc;
}

/* --- the background thread -------------------------------------------------------- */

/* What runs after a prediction was answered: the shadow model (version),
 * and the drift scores at arrival (score; deploy/drift.h). */
typedef struct shadow_task {
    struct shadow_task *next;
    app *a;
    int64_t org, deployment, prediction, version;
    double min_score, iou;
    int max_det;
    bool score;
    deploy_features f;
    size_t n;
    uint8_t bytes[];
} shadow_task;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool started, stopping;
    shadow_task *head, *tail;
    int queued;
    int64_t skipped;
    int64_t score_second; /* the second (ms / 1000) of the scores counted */
    int scores;
} sq = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static void run_score(shadow_task *t, db_conn *c)
{
    char spool[1024];
    spool_of(t->a, spool, sizeof spool);
    err e;
    if (deploy_drift_score_arrival(c, t->a->blobs, spool, t->org, t->deployment, t->prediction,
                                   t->bytes, t->n, &t->f, &e))
        log_warn("drift score of prediction %lld failed: %s", (long long)t->prediction, e.msg);
}

static void run_shadow(shadow_task *t)
{
    err e;
    db_conn *c = db_get(t->a->db, &e);
    if (!c) {
        log_warn("shadow prediction %lld skipped: %s", (long long)t->prediction, e.msg);
        return;
    }
    if (!t->version) {
        run_score(t, c);
        db_put(c);
        return;
    }
    char *norm = NULL, top[260] = "";
    json_t *out = NULL;
    double latency;
    bool failed;
    run_opts ro = {.k = 5, .min_score = t->min_score, .iou = t->iou, .max_det = t->max_det};
    int rc = run_model(t->a, c, t->org, t->version, t->bytes, t->n, &ro, &out, &latency, &failed,
                       &e);
    if (rc == 0) {
        int objects;
        double ts;
        rc = deploy_output_check(out, t->min_score, &norm, top, sizeof top, &objects, &ts, &e);
    }
    json_decref(out);
    if (rc == 0 && db_begin(c, &e) == 0) {
        rc = deploy_record_shadow(c, t->prediction, norm, top, &e);
        if (rc == 0)
            rc = db_commit(c, &e);
        else
            db_rollback(c);
    }
    if (rc != 0)
        log_warn("shadow prediction for prediction %lld (model version %lld) failed: %s",
                 (long long)t->prediction, (long long)t->version, e.msg);
    free(norm);
    if (t->score)
        run_score(t, c);
    db_put(c);
}

static void *shadow_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&sq.mu);
    for (;;) {
        while (!sq.head && !sq.stopping)
            pthread_cond_wait(&sq.cv, &sq.mu);
        if (sq.stopping)
            break;
        shadow_task *t = sq.head;
        sq.head = t->next;
        if (!sq.head)
            sq.tail = NULL;
        sq.queued--;
        pthread_mutex_unlock(&sq.mu);
        run_shadow(t);
        free(t);
        pthread_mutex_lock(&sq.mu);
    }
    /* stopping: what is left is dropped */
    while (sq.head) {
        shadow_task *t = sq.head;
        sq.head = t->next;
        free(t);
    }
    sq.tail = NULL;
    sq.queued = 0;
    pthread_mutex_unlock(&sq.mu);
    image_thread_done();
    return NULL;
}

/* Runs from the request's cleanup, after the response was sent. */
static void shadow_enqueue(shadow_task *t)
{
    pthread_mutex_lock(&sq.mu);
    if (t->score) {
        int64_t second = time_now_ms() / 1000;
        if (second != sq.score_second) {
            sq.score_second = second;
            sq.scores = 0;
        }
        if (sq.queued >= SCORE_QUEUE_MAX || sq.scores >= SCORE_RATE_MAX)
            t->score = false;
        else
            sq.scores++;
    }
    if (!t->score && !t->version) { /* busy: this one goes unscored */
        pthread_mutex_unlock(&sq.mu);
        free(t);
        return;
    }
    if (sq.stopping || sq.queued >= SHADOW_QUEUE_MAX) {
        sq.skipped++;
        int64_t skipped = sq.skipped;
        pthread_mutex_unlock(&sq.mu);
        if (skipped == 1 || skipped % 1000 == 0)
            log_warn("shadow predictions skipped so far: %lld (the shadow model is slower than "
                     "the traffic)",
                     (long long)skipped);
        free(t);
        return;
    }
    if (!sq.started) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old); /* signals stay with the main thread */
        int rc = pthread_create(&sq.thread, NULL, shadow_main, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            pthread_mutex_unlock(&sq.mu);
            free(t);
            return;
        }
        sq.started = true;
    }
    t->next = NULL;
    if (sq.tail)
        sq.tail->next = t;
    else
        sq.head = t;
    sq.tail = t;
    sq.queued++;
    pthread_cond_signal(&sq.cv);
    pthread_mutex_unlock(&sq.mu);
}

void deploy_score_later(app *a, int64_t org, int64_t deployment, int64_t prediction,
                        const void *bytes, size_t n, const deploy_features *f)
{
    if (n > SCORE_IMAGE_MAX || !deploy_drift_live_wanted(deployment))
        return;
    shadow_task *t = malloc(sizeof *t + n);
    if (!t)
        return;
    *t = (shadow_task){.a = a, .org = org, .deployment = deployment, .prediction = prediction,
                       .score = true, .f = *f, .n = n};
    memcpy(t->bytes, bytes, n);
    shadow_enqueue(t);
}

void deploy_serve_stop(void)
{
    pthread_mutex_lock(&sq.mu);
    bool started = sq.started;
    sq.stopping = true;
    pthread_cond_broadcast(&sq.cv);
    pthread_mutex_unlock(&sq.mu);
    if (started)
        pthread_join(sq.thread, NULL);
    pthread_mutex_lock(&sq.mu);
    sq.started = false;
    pthread_mutex_unlock(&sq.mu);
    deploy_drift_live_clear();
    deploy_dets_clear();
}

/* --- the request ----------------------------------------------------------------- */

typedef struct predict_in {
    sbuf img;
    int files;
    shadow_task *shadow; /* handed to the shadow thread once the response is out */
} predict_in;

static void predict_cleanup(void *p)
{
    predict_in *u = p;
    sbuf_free(&u->img);
    if (u->shadow)
        shadow_enqueue(u->shadow);
    u->shadow = NULL;
}

static predict_in *state(http_req *r)
{
    predict_in *u = r->ctx;
    if (!u) {
        u = arena_zalloc(r->arena, sizeof *u);
        r->ctx = u;
        http_on_cleanup(r, predict_cleanup, u);
    }
    return u;
}

static int predict_part(http_req *r, const http_part *p, bool begin)
{
    predict_in *u = state(r);
    (void)p;
    if (begin && u->files++)
        return http_fail(r, ERR_INVALID, "send one image per request (one file field)"), -1;
    return 0;
}

static int predict_data(http_req *r, const char *data, size_t n)
{
    predict_in *u = state(r);
    sbuf_put(&u->img, data, n);
    if (sbuf_failed(&u->img))
        return http_fail(r, ERR_INTERNAL, "out of memory"), -1;
    return 0;
}

static const char *field(http_req *r, const char *name)
{
    const char *v = http_form(r, name);
    return v ? v : http_query(r, name);
}

/* Tags from repeated tag/tags fields (form or query), comma-separated too. */
static int tags_of(http_req *r, char *store, size_t size, const char **tags, int max)
{
    const char *vals[TAGS_MAX];
    int n = 0, nv = 0;
    const char *names[] = {"tag", "tags"};
    size_t used = 0;
    for (int k = 0; k < 2; k++) {
        nv = http_form_values(r, names[k], vals, TAGS_MAX);
        if (nv == 0)
            nv = http_query_values(r, names[k], vals, TAGS_MAX);
        for (int i = 0; i < nv && i < TAGS_MAX; i++)
            for (const char *p = vals[i]; *p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                while (len && *p == ' ')
                    p++, len--;
                while (len && p[len - 1] == ' ')
                    len--;
                if (len && n < max && used + len + 1 <= size) {
                    memcpy(store + used, p, len);
                    store[used + len] = 0;
                    tags[n++] = store + used;
                    used += len + 1;
                }
                p = comma ? comma + 1 : p + strlen(p);
            }
    }
    return n;
}

static int predict(http_req *r)
{
    predict_in *u = state(r);
    int64_t id, k = 5, max_det = 100;
    if (http_param_id(r, "id", &id) || http_query_i64(r, "top_k", 5, 1, 8, &k) ||
        http_query_i64(r, "max_det", 100, 1, 1000, &max_det))
        return 0;
    double score = 0, iou = 0.6;
    const char *sv = http_query(r, "score"), *iv = http_query(r, "iou");
    if (sv) {
        char *end;
        score = strtod(sv, &end);
        if (end == sv || *end || !(score >= 0 && score <= 1))
            return http_fail(r, ERR_INVALID, "?score= must be a number from 0 to 1 (the smallest "
                                             "score of a box answered), not '%.40s'",
                             sv);
    }
    if (iv) {
        char *end;
        iou = strtod(iv, &end);
        if (end == iv || *end || !(iou >= 0.05 && iou <= 1))
            return http_fail(r, ERR_INVALID, "?iou= must be a number from 0.05 to 1 (the overlap "
                                             "above which NMS drops the lower box), not '%.40s'",
                             iv);
    }
    if (u->img.len == 0)
        return http_fail(r, ERR_INVALID,
                         "send the image: the raw body, or multipart/form-data with a file field "
                         "(and text fields tag, source, metadata)");
    const char *meta = field(r, "metadata"), *source = field(r, "source");
    const char *filename = field(r, "filename");
    if (meta) {
        json_t *mj = json_loads(meta, JSON_REJECT_DUPLICATES, NULL);
        bool ok = json_is_object(mj);
        json_decref(mj);
        if (!ok)
            return http_fail(r, ERR_INVALID, "field 'metadata' must be a JSON object");
    }
    char tagstore[2048];
    const char *tags[TAGS_MAX + 1];
    int ntags = tags_of(r, tagstore, sizeof tagstore, tags + 1, TAGS_MAX);
    err e;
    image_info info;
    image_limits lim = {.max_pixels = APP(r)->cfg.max_pixels};
    if (image_probe_ex(u->img.p, u->img.len, &lim, &info, &e) != 0)
        return http_fail_err(r, &e);
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    deploy_info d;
    if (deploy_get_info(c, r->who.org_id, id, &d, &e) != 0) {
        db_put(c);
        return http_fail_err(r, &e);
    }
    if (strcmp(d.mode, "serve") != 0 || !d.champion) {
        db_put(c);
        return http_fail(r, ERR_CONFLICT,
                         "deployment %lld is in monitor mode: its model runs elsewhere; report "
                         "its predictions to POST /api/v1/deployments/%lld/predictions",
                         (long long)id, (long long)id);
    }
    app *a = APP(r);
    json_t *out = NULL;
    double latency = 0;
    bool model_failed = false;
    run_opts ro = {.k = (int)k, .min_score = d.min_score > score ? d.min_score : score,
                   .iou = iou, .max_det = (int)max_det};
    int prc = run_model(a, c, r->who.org_id, d.champion, u->img.p, u->img.len, &ro, &out, &latency,
                        &model_failed, &e);
    if (prc != 0 && !model_failed) {
        json_decref(out);
        db_put(c);
        return http_fail_err(r, &e); /* no model to run: nothing recorded */
    }
    if (prc != 0 && (e.code == ERR_UNPROCESSABLE || e.code == ERR_UNSUPPORTED ||
                     e.code == ERR_TOO_LARGE || e.code == ERR_INVALID)) {
        json_decref(out);
        db_put(c);
        return http_fail_err(r, &e); /* the image, not the model: nothing recorded */
    }
    err model_err = e;
    char *norm = NULL, top[260] = "";
    int objects = 0;
    double top_score = 0;
    int rc = deploy_output_check(out, ro.min_score, &norm, top, sizeof top, &objects, &top_score,
                                 &e);
    json_decref(out);
    char sha[65];
    sha256_hex(u->img.p, u->img.len, sha);
    deploy_features f;
    bool have_f = rc == 0 && deploy_features_of(u->img.p, u->img.len, &f, &e) == 0;
    if (rc == 0 && !have_f)
        rc = -1;
    /* sampled into the datalake */
    int64_t data_id = 0;
    bool stored = false;
    if (rc == 0 && d.datalake_id && (double)(rand_u64() % 1000000) / 1e6 < d.sample_rate) {
        blob_writer *w = blob_writer_new(a->blobs, &e);
        datalake_item it;
        datalake_limits dl = {.max_pixels = a->cfg.max_pixels};
        if (w && blob_writer_write(w, u->img.p, u->img.len, &e) != 0) {
            blob_writer_abort(w);
            w = NULL;
        }
        if (w && datalake_prepare(a->blobs, w, &dl, &it, &e) == 0) {
            char dtag[64];
            snprintf(dtag, sizeof dtag, "deployment-%lld", (long long)id);
            tags[0] = dtag;
            bool dup;
            rc = datalake_insert(c, r->who.org_id, d.datalake_id, &it, filename,
                                 source ? source : "deployment", meta, tags, ntags + 1,
                                 r->who.user_id, &data_id, &dup, &e);
            datalake_item_free(&it);
            stored = rc == 0;
        } else {
            rc = -1;
        }
    }
    int64_t pid = 0;
    if (rc == 0) {
        deploy_prediction p = {.sha = sha, .data_id = data_id, .output = norm,
                               .latency_ms = latency, .at_ms = time_now_ms(), .source = source,
                               .features = &f, .top_label = top, .top_score = top_score,
                               .objects = objects, .error = prc != 0};
        rc = deploy_record(c, &d, &p, &pid, &e);
    }
    db_put(c);
    if (rc != 0) {
        free(norm);
        return http_fail_err(r, &e);
    }
    if (prc != 0) {
        free(norm);
        return http_fail(r, ERR_INTERNAL, "the model failed on this image (recorded as an error): %s",
                         model_err.msg);
    }
    bool want_score = u->img.len <= SCORE_IMAGE_MAX && deploy_drift_live_wanted(id);
    if (d.shadow || want_score) {
        shadow_task *t = malloc(sizeof *t + u->img.len);
        if (t) {
            *t = (shadow_task){.a = a, .org = r->who.org_id, .deployment = id, .prediction = pid,
                               .version = d.shadow, .min_score = ro.min_score, .iou = ro.iou,
                               .max_det = ro.max_det, .score = want_score, .f = f, .n = u->img.len};
            memcpy(t->bytes, u->img.p, u->img.len);
            u->shadow = t;
        }
    }
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "prediction_id", pid);
    jw_kint(&w, "deployment_id", id);
    jw_kint(&w, "model_version_id", d.champion);
    json_t *nj = json_loads(norm, 0, NULL); /* the normalised output, as recorded */
    char *cs = json_dumps(json_object_get(nj, "classes"), JSON_COMPACT);
    char *bs = json_dumps(json_object_get(nj, "boxes"), JSON_COMPACT);
    jw_key(&w, "classes");
    jw_raw(&w, cs ? cs : "[]", cs ? strlen(cs) : 2);
    jw_key(&w, "boxes");
    jw_raw(&w, bs ? bs : "[]", bs ? strlen(bs) : 2);
    free(cs);
    free(bs);
    json_decref(nj);
    jw_kdbl(&w, "latency_ms", latency);
    jw_key(&w, "image");
    jw_obj(&w);
    jw_kstr(&w, "sha256", sha);
    jw_kint(&w, "width", info.width);
    jw_kint(&w, "height", info.height);
    jw_obj_end(&w);
    jw_kbool(&w, "image_stored", stored);
    jw_key(&w, "data_id");
    if (data_id)
        jw_int(&w, data_id);
    else
        jw_null(&w);
    jw_key(&w, "shadow");
    if (u->shadow && u->shadow->version)
        jw_str(&w, "pending");
    else
        jw_null(&w);
    jw_obj_end(&w);
    free(norm);
    return 0;
}

const http_route deploy_predict_routes[] = {
    {HTTP_POST, "/api/v1/deployments/{id}/predict", predict, PERM_WRITE, BODY_STREAM, predict_data,
     "Serve mode: the champion's predictions for an image (raw body, or multipart with tag, "
     "source, metadata fields; ?top_k=1..8 for classifiers, ?score=0..1&iou=0.05..1"
     "&max_det=1..1000 for detectors): classes with scores, boxes (x, y, w, h pixels), "
     "latency_ms; recorded for monitoring; the shadow runs after the answer",
     "deployments", NULL, NULL, PREDICT_MAX_BODY, predict_part},
    {0, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, 0},
};
