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
 * Loading and sharing are the registry's model cache (registry/
 * model_cache.h), as for the classifiers (src/training/models.c): a
 * det_predictor is thread-safe (a pool of sessions: each request borrows
 * one for its forward pass, so up to that many run at once and the others
 * wait for a session). A checkpoint that is not a detector is remembered
 * as such, so classifier deployments pay the check once per process.
 */
#include <unistd.h>

#include "deploy/serve_models.h"
#include "registry/model_cache.h"

static void *open_detector(const char *path, int sessions, err *e)
{
    det_predictor *p = det_predictor_load(path, sessions, e);
    if (p)
        det_predictor_set_threads(p, 1);
    return p;
}

static void close_detector(void *p) { det_predictor_free(p); }

static reg_model_cache cache = REG_MODEL_CACHE_INIT("detectors", open_detector, close_detector);

int deploy_det_acquire(db_conn *c, blob_store *bs, const char *spool_dir, int64_t org,
                       int64_t version, int sessions, deploy_det **out, err *e)
{
    if (sessions <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        sessions = n > 0 ? (int)n : 1;
    }
    *out = NULL;
    err le;
    err_clear(&le);
    reg_model *m;
    if (reg_model_acquire(&cache, c, bs, spool_dir, org, version, sessions, &m, &le) != 0) {
        if (le.code == ERR_UNAVAILABLE) /* every slot in use */
            return err_set(e, le.code, "%s", le.msg);
        return 0; /* no checkpoint or unreadable: the classifier path reports why */
    }
    *out = (deploy_det *)m;
    return 0;
}

void deploy_det_release(deploy_det *d) { reg_model_release(&cache, (reg_model *)d); }

det_predictor *deploy_det_predictor(deploy_det *d) { return reg_model_get((reg_model *)d); }

void deploy_dets_clear(void) { reg_model_cache_clear(&cache); }
