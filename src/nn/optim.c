/*
 * optim.c - optimizers (SGD with momentum / Nesterov, AdamW), gradient
 * clipping by global norm, learning-rate schedules, and an exponential
 * moving average of the weights.
 *
 * Updates are element-wise, so they run on the parameters' storage layout
 * directly (blocked or plain: the padding of a blocked layout is zero in
 * weights, gradients and moments, and stays zero). The moments and the EMA
 * live in the parameter (buf[PB_M1], buf[PB_M2], buf[PB_EMA]) so that a
 * change of layout moves them too.
 *
 * SGD follows PyTorch: g += wd * w; b = mu b + g; step = nesterov ? g + mu
 * b : b. AdamW follows Loshchilov & Hutter: w -= lr wd w, then the Adam
 * step with bias correction.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

struct nn_optim {
    nn_model *m;
    nn_optim_cfg cfg;
    int64_t t;
};

nn_optim *nn_optim_new(nn_model *m, const nn_optim_cfg *cfg, err *e)
{
    nn_optim_cfg c = *cfg;
    if (c.kind != NN_SGD && c.kind != NN_ADAMW) {
        err_set(e, ERR_INVALID, "unknown optimizer");
        return NULL;
    }
    if (c.beta1 == 0 && c.beta2 == 0) {
        c.beta1 = 0.9f;
        c.beta2 = 0.999f;
    }
    if (c.eps == 0)
        c.eps = 1e-8f;
    if (!(c.momentum >= 0 && c.momentum < 1) || !(c.beta1 >= 0 && c.beta1 < 1) ||
        !(c.beta2 >= 0 && c.beta2 < 1) || !(c.weight_decay >= 0) || !(c.clip_norm >= 0)) {
        err_set(e, ERR_INVALID,
                "optimizer settings out of range: momentum and betas in [0, 1), weight decay "
                "and clip norm >= 0");
        return NULL;
    }
    nn_optim *o = calloc(1, sizeof *o);
    if (!o) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    o->m = m;
    o->cfg = c;
    return o;
}

void nn_optim_free(nn_optim *o) { free(o); }

int64_t nn_optim_steps(const nn_optim *o) { return o->t; }
nn_model *nn_optim_model(const nn_optim *o) { return o->m; }
nn_optim_kind nn_optim_kind_of(const nn_optim *o) { return o->cfg.kind; }
void nn_optim_set_steps(nn_optim *o, int64_t t) { o->t = t < 0 ? 0 : t; }

static int ensure(nn_param *p, int which, err *e)
{
    if (!p->buf[which] && !(p->buf[which] = nn_alloc(p->bytes)))
        return err_set(e, ERR_INTERNAL, "out of memory for the optimizer state of %s", p->name);
    return 0;
}

/* All parameters are updated inside one parallel region (a work-shared
 * loop per parameter, no barrier between them): a ResNet has ~60
 * parameter tensors, and one region each costs a thread wake-up each. */
int nn_optim_step(nn_optim *o, float lr, double *grad_norm, err *e)
{
    nn_model *m = o->m;
    const nn_optim_cfg *c = &o->cfg;
    size_t total = 0;
    for (int i = 0; i < m->nparams; i++) {
        nn_param *p = &m->params[i];
        if (!p->trainable || !p->buf[PB_GRAD])
            continue;
        total += p->bytes / sizeof(float);
        if ((c->kind == NN_ADAMW || c->momentum > 0) && ensure(p, PB_M1, e) < 0)
            return -1;
        if (c->kind == NN_ADAMW && ensure(p, PB_M2, e) < 0)
            return -1;
    }
    NN_UNUSED bool par = total > 65536;
    double ss = 0;
#pragma omp parallel if (par) reduction(+ : ss)
    for (int i = 0; i < m->nparams; i++) {
        nn_param *p = &m->params[i];
        if (!p->trainable || !p->buf[PB_GRAD])
            continue;
        const float *g = p->buf[PB_GRAD];
        size_t n = p->bytes / sizeof(float);
#pragma omp for schedule(static) nowait
        for (size_t k = 0; k < n; k++)
            ss += (double)g[k] * g[k];
    }
    double norm = sqrt(ss);
    if (grad_norm)
        *grad_norm = norm;
    if (!isfinite(norm))
        return err_set(e, ERR_UNPROCESSABLE,
                       "the gradient is not finite (the loss diverged): lower the learning rate "
                       "or clip gradients");
    float gs = 1.0f;
    if (c->clip_norm > 0 && norm > c->clip_norm)
        gs = (float)(c->clip_norm / (norm + 1e-6));
    o->t++;
    double bc1 = 1.0 - pow(c->beta1, (double)o->t), bc2 = 1.0 - pow(c->beta2, (double)o->t);
    float mu = c->momentum, b1 = c->beta1, b2 = c->beta2, eps = c->eps;
    float step = (float)(lr / bc1), rb2 = (float)(1.0 / sqrt(bc2));
    bool nest = c->nesterov, adam = c->kind == NN_ADAMW;
#pragma omp parallel if (par)
    for (int i = 0; i < m->nparams; i++) {
        nn_param *p = &m->params[i];
        if (!p->trainable || !p->buf[PB_GRAD])
            continue;
        float *w = p->buf[PB_DATA], *g = p->buf[PB_GRAD];
        float *m1 = p->buf[PB_M1], *m2 = p->buf[PB_M2];
        size_t n = p->bytes / sizeof(float);
        float wd = p->decay ? c->weight_decay : 0.0f;
        if (!adam) {
#pragma omp for schedule(static) nowait
            for (size_t k = 0; k < n; k++) {
                float gk = g[k] * gs + wd * w[k];
                if (mu > 0) {
                    m1[k] = mu * m1[k] + gk;
                    gk = nest ? gk + mu * m1[k] : m1[k];
                }
                w[k] -= lr * gk;
            }
        } else {
            float decay = 1.0f - lr * wd;
#pragma omp for schedule(static) nowait
            for (size_t k = 0; k < n; k++) {
                float gk = g[k] * gs;
                m1[k] = b1 * m1[k] + (1 - b1) * gk;
                m2[k] = b2 * m2[k] + (1 - b2) * gk * gk;
                w[k] = w[k] * decay - step * m1[k] / (sqrtf(m2[k]) * rb2 + eps);
            }
        }
    }
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].trainable && m->params[i].buf[PB_GRAD])
            m->params[i].version++;
    return 0;
}

/* --- schedules ------------------------------------------------------------------- */

float nn_lr_at(const nn_sched *s, int64_t step)
{
    double lr = s->lr;
    if (step < 0)
        step = 0;
    if (s->warmup > 0 && step < s->warmup) {
        double f = s->warmup_from + (1.0 - s->warmup_from) * (double)step / (double)s->warmup;
        return (float)(lr * f);
    }
    int64_t t = step - (s->warmup > 0 ? s->warmup : 0);
    switch (s->kind) {
    case NN_SCHED_COSINE: {
        int64_t span = s->total - (s->warmup > 0 ? s->warmup : 0);
        if (span <= 0 || t >= span)
            return s->min_lr;
        double c = 0.5 * (1.0 + cos(M_PI * (double)t / (double)span));
        return (float)(s->min_lr + (lr - s->min_lr) * c);
    }
    case NN_SCHED_STEP:
        if (s->step_size > 0)
            lr *= pow(s->gamma, (double)(t / s->step_size));
        return (float)lr;
    default:
        return (float)lr;
    }
}

/* --- EMA ------------------------------------------------------------------------- */

struct nn_ema {
    nn_model *m;
    float decay;
    int64_t t;
};

nn_ema *nn_ema_new(nn_model *m, float decay, err *e)
{
    if (!(decay > 0 && decay < 1)) {
        err_set(e, ERR_INVALID, "EMA decay must be in (0, 1)");
        return NULL;
    }
    nn_ema *a = calloc(1, sizeof *a);
    if (!a) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    a->m = m;
    a->decay = decay;
    for (int i = 0; i < m->nparams; i++) {
        nn_param *p = &m->params[i];
        free(p->buf[PB_EMA]);
        if (!(p->buf[PB_EMA] = nn_alloc(p->bytes))) {
            err_set(e, ERR_INTERNAL, "out of memory for the EMA");
            nn_ema_free(a);
            return NULL;
        }
        memcpy(p->buf[PB_EMA], p->buf[PB_DATA], p->bytes);
    }
    return a;
}

void nn_ema_free(nn_ema *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->m->nparams; i++) {
        free(a->m->params[i].buf[PB_EMA]);
        a->m->params[i].buf[PB_EMA] = NULL;
    }
    free(a);
}

void nn_ema_update(nn_ema *a)
{
    a->t++;
    float d = (float)(1.0 + (double)a->t) / (float)(10.0 + (double)a->t);
    if (d > a->decay)
        d = a->decay;
#pragma omp parallel
    for (int i = 0; i < a->m->nparams; i++) {
        nn_param *p = &a->m->params[i];
        float *avg = p->buf[PB_EMA];
        const float *w = p->buf[PB_DATA];
        size_t n = p->bytes / sizeof(float);
        if (!avg)
            continue;
#pragma omp for schedule(static) nowait
        for (size_t k = 0; k < n; k++)
            avg[k] = d * avg[k] + (1 - d) * w[k];
    }
}

void nn_ema_swap(nn_ema *a)
{
    for (int i = 0; i < a->m->nparams; i++) {
        nn_param *p = &a->m->params[i];
        if (!p->buf[PB_EMA])
            continue;
        float *t = p->buf[PB_DATA];
        p->buf[PB_DATA] = p->buf[PB_EMA];
        p->buf[PB_EMA] = t;
        p->version++;
    }
}
