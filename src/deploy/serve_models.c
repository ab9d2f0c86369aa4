/*
 * serve_models.c - detectors of registry model versions for the predict
 * endpoint, loaded once per process and shared by concurrent requests.
 *
 * Threads: a request runs its forward pass on one thread, and a detector
 * has as many sessions as the server's compute threads (--nn-threads, all
 * cores by default; read from the configuration, not nn_threads(), which a
 * job may have changed): concurrent requests fill the cores, the others
 * wait for a session. Splitting one forward over OpenMP threads instead
 * wasted most of the CPU on a loaded machine (spinning teams, one per
 * request: 0.55 s of CPU per 320x320 image against 0.047 s on one thread).
 *
 * The same scheme as the classifiers' table (src/training/models.c): the
 * first request for a version copies its checkpoint from the blob store
 * into a temporary file and opens it; later ones take a reference. A
 * det_predictor is thread-safe (a pool of sessions, see Threads above:
 * each request borrows one for its forward pass, so up to that many run at
 * once and the others wait for a session). Concurrent first requests wait
 * for the one loading. A checkpoint that is not a detector is remembered
 * as such (an entry without predictor), so classifier deployments pay the
 * check once per process. When the table is full the least recently used
 * entry nobody holds goes.
 *
 * Which file: the one the classifier path picks (model.safetensors, else
 * checkpoints/best.safetensors, else checkpoints/last.safetensors, else the
 * version's only .safetensors file that is not an optimizer state).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "deploy/serve_models.h"
#include "registry/registry.h"

struct deploy_det {
    int64_t version;
    char sha[65];
    det_predictor *pred; /* NULL: not a detector */
    int refs;
    bool loading;
    int64_t used;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t loaded = PTHREAD_COND_INITIALIZER;
static deploy_det *table[DEPLOY_DET_CACHE];
static int64_t tick;

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* 1: found, 0: no cvops checkpoint, -1: error */
static int pick_file(db_conn *c, int64_t org, int64_t version, char sha[65], err *e)
{
    static const char *const paths[] = {"model.safetensors", "checkpoints/best.safetensors",
                                        "checkpoints/last.safetensors"};
    int64_t size;
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        if (reg_version_file(c, org, version, paths[i], sha, &size, e) == 0)
            return 1;
        if (e->code != ERR_NOT_FOUND)
            return -1;
    }
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
        if (ends_with(p, ".safetensors") && !ends_with(p, ".optim.safetensors")) {
            snprintf(sha, 65, "%s", db_col_text(s, 0));
            n++;
        }
    }
    db_done(s);
    if (rc < 0)
        return -1;
    return n == 1;
}

static int sink_file(void *ctx, const void *p, size_t n)
{
    return fwrite(p, 1, n, ctx) == n ? 0 : -1;
}

/* NULL when not a detector (*not_det) or unreadable (the classifier path
 * then says why). */
static det_predictor *load(blob_store *bs, const char *spool, const char *sha, int sessions,
                           bool *not_det)
{
    err e;
    err_clear(&e);
    *not_det = false;
    char path[1200];
    snprintf(path, sizeof path, "%s/det-%.16s-%llx.safetensors", spool, sha,
             (unsigned long long)(rand_u64() & 0xffffffffULL));
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    int rc = blob_read(bs, sha, 0, -1, sink_file, f, &e);
    if (fclose(f) != 0)
        rc = -1;
    det_predictor *p = rc == 0 ? det_predictor_load(path, sessions, &e) : NULL;
    unlink(path);
    *not_det = !p && rc == 0 && e.code == ERR_UNSUPPORTED;
    if (p)
        det_predictor_set_threads(p, 1);
    return p;
}

int deploy_det_acquire(db_conn *c, blob_store *bs, const char *spool_dir, int64_t org,
                       int64_t version, int sessions, deploy_det **out, err *e)
{
    if (sessions <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        sessions = n > 0 ? (int)n : 1;
    }
    char sha[65];
    *out = NULL;
    err pe;
    if (pick_file(c, org, version, sha, &pe) != 1)
        return 0; /* the classifier path reports it */
    pthread_mutex_lock(&mu);
    deploy_det *m;
    for (;;) {
        m = NULL;
        for (int i = 0; i < DEPLOY_DET_CACHE; i++)
            if (table[i] && table[i]->version == version && strcmp(table[i]->sha, sha) == 0)
                m = table[i];
        if (!m || !m->loading)
            break;
        pthread_cond_wait(&loaded, &mu);
    }
    if (m) {
        m->used = ++tick;
        if (m->pred) {
            m->refs++;
            *out = m;
        }
        pthread_mutex_unlock(&mu);
        return 0;
    }
    int slot = -1;
    for (int i = 0; i < DEPLOY_DET_CACHE && slot < 0; i++)
        if (!table[i])
            slot = i;
    for (int i = 0; i < DEPLOY_DET_CACHE; i++)
        if (table[i] && table[i]->refs == 0 && !table[i]->loading &&
            (slot < 0 || (table[slot] && table[i]->used < table[slot]->used)))
            slot = i;
    if (slot < 0) {
        pthread_mutex_unlock(&mu);
        return err_set(e, ERR_UNAVAILABLE,
                       "this process already serves %d detectors in use; try again in a moment",
                       DEPLOY_DET_CACHE);
    }
    deploy_det *old = table[slot];
    m = calloc(1, sizeof *m);
    if (!m) {
        pthread_mutex_unlock(&mu);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    m->version = version;
    snprintf(m->sha, sizeof m->sha, "%s", sha);
    m->loading = true;
    m->refs = 1;
    m->used = ++tick;
    table[slot] = m;
    pthread_mutex_unlock(&mu);
    if (old) {
        det_predictor_free(old->pred);
        free(old);
    }
    bool not_det;
    det_predictor *p = load(bs, spool_dir, sha, sessions, &not_det);
    pthread_mutex_lock(&mu);
    m->loading = false;
    m->pred = p;
    bool drop = !p && !not_det;
    if (!p)
        m->refs--; /* not_det: remembered as "not a detector" */
    if (drop)
        for (int i = 0; i < DEPLOY_DET_CACHE; i++)
            if (table[i] == m)
                table[i] = NULL;
    pthread_cond_broadcast(&loaded);
    pthread_mutex_unlock(&mu);
    if (drop)
        free(m); /* waiters only look at the table under the lock */
    if (p)
        *out = m;
    return 0;
}

void deploy_det_release(deploy_det *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&mu);
    d->refs--;
    pthread_mutex_unlock(&mu);
}

det_predictor *deploy_det_predictor(deploy_det *d) { return d->pred; }

void deploy_dets_clear(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < DEPLOY_DET_CACHE; i++)
        if (table[i] && table[i]->refs == 0 && !table[i]->loading) {
            det_predictor_free(table[i]->pred);
            free(table[i]);
            table[i] = NULL;
        }
    pthread_mutex_unlock(&mu);
}
