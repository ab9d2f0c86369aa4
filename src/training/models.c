/*
 * models.c - registry model versions loaded for inference, once per
 * process.
 *
 * A serving process answers many requests with few models: the first
 * request for a version reads its cvops checkpoint from the blob store into
 * a temporary file, opens an nn_predictor on it (TRAIN_MODEL_SESSIONS
 * sessions, so that many requests run at once) and keeps it in a small
 * table keyed by (version, blob): later requests only take a reference.
 * When the table is full the least recently used version nobody holds is
 * dropped. Loads of the same version by concurrent first requests are
 * serialised by a per-entry "loading" state: one loads, the others wait.
 *
 * Which file: model.safetensors, else checkpoints/best.safetensors, else
 * checkpoints/last.safetensors (what a platform training publishes), else
 * the version's only .safetensors file.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "image/image.h"
#include "registry/registry.h"
#include "training/training.h"

struct training_model {
    int64_t version;
    char sha[65];
    nn_predictor *pred;
    int refs;
    bool loading, failed;
    int64_t used;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t loaded = PTHREAD_COND_INITIALIZER;
static training_model *table[TRAIN_MODEL_CACHE];
static int64_t clock_tick;

static int pick_file(db_conn *c, int64_t org, int64_t version, char sha[65], err *e)
{
    static const char *const paths[] = {"model.safetensors", "checkpoints/best.safetensors",
                                        "checkpoints/last.safetensors"};
    int64_t size;
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        if (reg_version_file(c, org, version, paths[i], sha, &size, e) == 0)
            return 0;
        if (e->code != ERR_NOT_FOUND)
            return -1;
    }
    /* the only .safetensors file that is not an optimizer state */
    db_stmt *s = db_query(c, e,
                          "SELECT f.sha256, f.path FROM model_file f JOIN model_version v"
                          " ON v.id = f.version_id JOIN model m ON m.id = v.model_id"
                          " WHERE f.version_id = $1 AND m.org_id = $2 ORDER BY f.path",
                          DBI(version), DBI(org));
    if (!s)
        return -1;
    int n = 0, rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        const char *p = db_col_text(s, 1);
        size_t len = strlen(p);
        if (len > 12 && strcmp(p + len - 12, ".safetensors") == 0 &&
            (len < 18 || strcmp(p + len - 18, ".optim.safetensors") != 0)) {
            snprintf(sha, 65, "%s", db_col_text(s, 0));
            n++;
        }
    }
    db_done(s);
    if (rc < 0)
        return -1;
    if (n != 1)
        return err_set(e, ERR_UNPROCESSABLE,
                       "model version %lld has no cvops model file (model.safetensors); publish "
                       "an experiment trained on the platform, or upload the checkpoint as "
                       "model.safetensors",
                       (long long)version);
    return 0;
}

static int sink_file(void *ctx, const void *p, size_t n)
{
    return fwrite(p, 1, n, ctx) == n ? 0 : -1;
}

static nn_predictor *load(blob_store *bs, const char *spool, const char *sha, err *e)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/model-%.16s-%llx.safetensors", spool, sha,
             (unsigned long long)(rand_u64() & 0xffffffffULL));
    FILE *f = fopen(path, "wb");
    if (!f) {
        err_set(e, ERR_IO, "cannot create a temporary file in %s", spool);
        return NULL;
    }
    int rc = blob_read(bs, sha, 0, -1, sink_file, f, e);
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(e, ERR_IO, "cannot write %s", path);
    nn_predictor *p = rc == 0 ? nn_predictor_open(path, TRAIN_MODEL_SESSIONS, e) : NULL;
    unlink(path);
    return p;
}

int training_model_fetch(db_conn *c, blob_store *bs, int64_t org, int64_t version,
                         const char *path, err *e)
{
    char sha[65];
    if (pick_file(c, org, version, sha, e) != 0)
        return -1;
    FILE *f = fopen(path, "wb");
    if (!f)
        return err_set(e, ERR_IO, "cannot create %s", path);
    int rc = blob_read(bs, sha, 0, -1, sink_file, f, e);
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(e, ERR_IO, "cannot write %s", path);
    if (rc)
        unlink(path);
    return rc;
}

int training_model_acquire(db_conn *c, blob_store *bs, const char *spool_dir, int64_t org,
                           int64_t version, training_model **out, err *e)
{
    char sha[65];
    *out = NULL;
    if (pick_file(c, org, version, sha, e) != 0)
        return -1;
    pthread_mutex_lock(&mu);
    training_model *m = NULL;
    for (;;) {
        m = NULL;
        for (int i = 0; i < TRAIN_MODEL_CACHE; i++)
            if (table[i] && table[i]->version == version && strcmp(table[i]->sha, sha) == 0)
                m = table[i];
        if (!m || !m->loading)
            break;
        pthread_cond_wait(&loaded, &mu);
    }
    if (m && !m->failed) {
        m->refs++;
        m->used = ++clock_tick;
        pthread_mutex_unlock(&mu);
        *out = m;
        return 0;
    }
    /* a free slot, or the least recently used entry nobody holds */
    int slot = -1;
    for (int i = 0; i < TRAIN_MODEL_CACHE && slot < 0; i++)
        if (!table[i])
            slot = i;
    for (int i = 0; i < TRAIN_MODEL_CACHE && slot < 0; i++)
        if (table[i]->refs == 0 && !table[i]->loading &&
            (slot < 0 || table[i]->used < table[slot]->used))
            slot = i;
    if (slot < 0) {
        pthread_mutex_unlock(&mu);
        return err_set(e, ERR_UNAVAILABLE,
                       "this process already serves %d models in use; try again in a moment",
                       TRAIN_MODEL_CACHE);
    }
    training_model *old = table[slot];
    m = calloc(1, sizeof *m);
    if (!m) {
        pthread_mutex_unlock(&mu);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    m->version = version;
    snprintf(m->sha, sizeof m->sha, "%s", sha);
    m->loading = true;
    m->refs = 1;
    m->used = ++clock_tick;
    table[slot] = m;
    pthread_mutex_unlock(&mu);
    if (old) {
        nn_predictor_free(old->pred);
        free(old);
    }
    nn_predictor *p = load(bs, spool_dir, sha, e);
    pthread_mutex_lock(&mu);
    m->loading = false;
    if (p) {
        m->pred = p;
    } else {
        m->failed = true;
        m->refs--;
        for (int i = 0; i < TRAIN_MODEL_CACHE; i++)
            if (table[i] == m)
                table[i] = NULL;
    }
    pthread_cond_broadcast(&loaded);
    pthread_mutex_unlock(&mu);
    if (!p) {
        /* waiters saw `failed` under the lock before it was unlinked */
        free(m);
        return err_prefix(e, "model version %lld: ", (long long)version);
    }
    *out = m;
    return 0;
}

void training_model_release(training_model *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&mu);
    m->refs--;
    pthread_mutex_unlock(&mu);
}

nn_predictor *training_model_predictor(training_model *m) { return m->pred; }

void training_models_clear(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < TRAIN_MODEL_CACHE; i++)
        if (table[i] && table[i]->refs == 0 && !table[i]->loading) {
            nn_predictor_free(table[i]->pred);
            free(table[i]);
            table[i] = NULL;
        }
    pthread_mutex_unlock(&mu);
}

int training_predict_image(nn_predictor *p, const void *bytes, size_t n, int k,
                           training_class *out, int *nout, err *e)
{
    const nn_model *m = nn_predictor_model(p);
    int c, h, w;
    nn_model_input(m, &c, &h, &w);
    image_info info;
    if (image_probe(bytes, n, &info, e) != 0)
        return -1;
    int side = h > w ? h : w;
    image_decode_opts o = {.channels = (uint8_t)(c == 1 ? 1 : 3)};
    uint32_t lo = info.width < info.height ? info.width : info.height;
    uint32_t hi = info.width < info.height ? info.height : info.width;
    if (lo > (uint32_t)side && lo > 0) {
        double t = (double)side * (double)hi / (double)lo + 0.999;
        o.target_side = (uint32_t)(t > 16384 ? 16384 : t);
    }
    image_pixels px;
    if (image_decode(bytes, n, &o, &px, e) != 0)
        return -1;
    nn_image img = {(int)px.width, (int)px.height, px.channels, px.stride, px.data};
    if (k < 1)
        k = 1;
    if (k > 8)
        k = 8;
    int classes = nn_model_classes(m);
    if (k > classes)
        k = classes;
    nn_topk top;
    int rc = nn_predict(p, &img, 1, k, &top, e);
    image_pixels_free(&px);
    if (rc != 0)
        return -1;
    *nout = top.k;
    for (int i = 0; i < top.k; i++) {
        out[i].score = top.score[i];
        out[i].label = nn_model_label(m, top.cls[i]);
        if (!out[i].label) {
            snprintf(out[i].fallback, sizeof out[i].fallback, "class %d", top.cls[i]);
            out[i].label = out[i].fallback;
        }
    }
    return 0;
}
