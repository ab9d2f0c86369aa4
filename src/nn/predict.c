/*
 * predict.c - inference from any number of threads.
 *
 * A predictor owns a model (read only from here on) and a pool of
 * sessions. Each call borrows a free session, or creates one while fewer
 * than max_sessions exist, or waits for one to come back; a session is
 * used by one thread at a time, so its plans and buffers need no lock.
 * Parameters are shared by all sessions: inference plans never change
 * their layout (only training plans do). Each session's inference plans
 * fuse conv + BN + add + activation (see op_conv.c), and hold per-shape
 * buffers: memory grows with max_sessions x distinct input shapes.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

struct nn_predictor {
    nn_model *m;
    int max, created, nfree;
    nn_session **pool;  /* all sessions */
    nn_session **free;  /* stack of idle ones */
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

nn_predictor *nn_predictor_new(nn_model *m, int max_sessions, err *e)
{
    if (max_sessions <= 0)
        max_sessions = 1;
    if (max_sessions > 256)
        max_sessions = 256;
    nn_predictor *p = calloc(1, sizeof *p);
    if (p) {
        p->pool = calloc((size_t)max_sessions, sizeof *p->pool);
        p->free = calloc((size_t)max_sessions, sizeof *p->free);
    }
    if (!p || !p->pool || !p->free) {
        if (p) {
            free(p->pool);
            free(p->free);
            free(p);
        }
        nn_model_free(m);
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    p->m = m;
    p->max = max_sessions;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return p;
}

nn_predictor *nn_predictor_open(const char *path, int max_sessions, err *e)
{
    nn_model *m = nn_model_load(path, NULL, e);
    if (!m)
        return NULL;
    return nn_predictor_new(m, max_sessions, e);
}

void nn_predictor_free(nn_predictor *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->created; i++)
        nn_session_free(p->pool[i]);
    free(p->pool);
    free(p->free);
    nn_model_free(p->m);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

const nn_model *nn_predictor_model(const nn_predictor *p) { return p->m; }

static nn_session *borrow(nn_predictor *p, err *e)
{
    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0 && p->created >= p->max)
        pthread_cond_wait(&p->cv, &p->mu);
    nn_session *s = NULL;
    if (p->nfree > 0) {
        s = p->free[--p->nfree];
    } else {
        s = nn_session_new(p->m, e);
        if (s)
            p->pool[p->created++] = s;
    }
    pthread_mutex_unlock(&p->mu);
    return s;
}

static void give_back(nn_predictor *p, nn_session *s)
{
    pthread_mutex_lock(&p->mu);
    p->free[p->nfree++] = s;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void topk_row(const float *logit, int k_all, int k, nn_topk *out, float *probs)
{
    double mx = logit[0], sum = 0;
    for (int j = 1; j < k_all; j++)
        mx = logit[j] > mx ? logit[j] : mx;
    for (int j = 0; j < k_all; j++)
        sum += exp(logit[j] - mx);
    out->k = k;
    for (int t = 0; t < k; t++) {
        out->cls[t] = -1;
        out->score[t] = -1;
    }
    for (int j = 0; j < k_all; j++) {
        float pr = (float)(exp(logit[j] - mx) / sum);
        if (probs)
            probs[j] = pr;
        /* insertion into the k best, ties to the lower class */
        int pos = k;
        while (pos > 0 && pr > out->score[pos - 1])
            pos--;
        if (pos < k) {
            for (int t = k - 1; t > pos; t--) {
                out->cls[t] = out->cls[t - 1];
                out->score[t] = out->score[t - 1];
            }
            out->cls[pos] = j;
            out->score[pos] = pr;
        }
    }
}

int nn_predict_tensor(nn_predictor *p, const nn_tensor *x, int k, nn_topk *out, float *probs,
                      err *e)
{
    int classes = nn_model_classes(p->m);
    if (k < 1 || k > 8)
        return err_set(e, ERR_INVALID, "top-k must be in [1, 8]");
    if (k > classes)
        k = classes;
    nn_session *s = borrow(p, e);
    if (!s)
        return -1;
    const nn_tensor *y = nn_forward(s, x, false, e);
    if (y) {
        int kk = y->c * y->h * y->w;
        for (int i = 0; i < y->n; i++)
            topk_row(y->data + (size_t)i * (size_t)kk, kk, k, &out[i],
                     probs ? probs + (size_t)i * (size_t)kk : NULL);
    }
    give_back(p, s);
    return y ? 0 : -1;
}

int nn_predict(nn_predictor *p, const nn_image *imgs, int n, int k, nn_topk *out, err *e)
{
    const nn_model *m = p->m;
    if (n < 1 || n > 4096)
        return err_set(e, ERR_INVALID, "predict takes 1-4096 images at once");
    if (m->in_c != 1 && m->in_c != 3)
        return err_set(e, ERR_UNSUPPORTED, "images can feed models of 1 or 3 channels only");
    nn_tensor *x = nn_tensor_new(n, m->in_c, m->in_h, m->in_w);
    if (!x)
        return err_set(e, ERR_INTERNAL, "out of memory");
    nn_aug a = {.out_w = m->in_w, .out_h = m->in_h, .out_c = m->in_c};
    memcpy(a.mean, m->mean, sizeof a.mean);
    memcpy(a.std, m->std, sizeof a.std);
    size_t per = (size_t)m->in_c * (size_t)m->in_h * (size_t)m->in_w;
    for (int i = 0; i < n; i++) {
        if (nn_augment(&a, &imgs[i], 0, x->data + per * (size_t)i, e) < 0) {
            nn_tensor_free(x);
            return err_prefix(e, "image %d", i);
        }
    }
    int rc = nn_predict_tensor(p, x, k, out, NULL, e);
    nn_tensor_free(x);
    return rc;
}
