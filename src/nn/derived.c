/*
 * derived.c - inference weights derived from a model's parameters, shared
 * by every session of the model.
 *
 * An inference convolution does not use its parameters as stored: batch
 * norm is folded in, and the result is reordered to the primitive's
 * layout or transformed for Winograd (up to 4x the size). Kept per session, a
 * predictor with four sessions on a ResNet-18 held four copies of ~90 MB.
 * Here each (node, kind, parameter versions) is computed once, under the
 * model's lock, and reference-counted; a session whose parameters changed
 * (training, EMA swap, loading) asks again and drops its old reference, and
 * entries nobody uses any more are freed.
 *
 * The check "are my weights still current" reads the parameters' version
 * counters without the lock: parameters must not change while inference
 * sessions run (see nn.h: a training session on the same model is not
 * concurrent with others).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

static void key_of(const nn_model *m, int node, int bn, uint64_t key[5])
{
    const nn_node *nd = &m->nodes[node];
    memset(key, 0, 5 * sizeof *key);
    key[0] = nd->wt->version;
    key[1] = nd->bs ? nd->bs->version : 0;
    if (bn > 0) {
        const nn_node *b = &m->nodes[bn];
        key[2] = b->wt->version;
        key[3] = b->bs->version;
        key[4] = b->rmean->version + (b->rvar->version << 32);
    }
}

static bool same(const nn_derived *d, int node, int bn, int kind, const dnnl_memory_desc_t *md,
                 const uint64_t key[5])
{
    return d->node == node && d->bn == bn && d->kind == kind &&
           memcmp(d->key, key, sizeof d->key) == 0 && (kind != 0 || nn_md_eq(&d->md, md));
}

static void drop(nn_model *m, nn_derived *d)
{
    if (!d || --d->refs > 0)
        return;
    for (int i = 0; i < m->ndv; i++)
        if (m->dv[i] == d) {
            m->dv[i] = m->dv[--m->ndv];
            break;
        }
    free(d->w);
    free(d->b);
    free(d);
}

/* Plain weights (K x C/g x kh x kw) and bias with batch norm folded in:
 * w' = w g/sqrt(v+eps), b' = (b - mean) g/sqrt(v+eps) + beta. */
static int fold(const nn_model *m, int node, int bn, float *w, float *b, err *e)
{
    const nn_node *nd = &m->nodes[node];
    if (nn_param_to_plain(nd->wt, PB_DATA, w, e) < 0)
        return -1;
    const float *cb = nd->bs ? nd->bs->buf[PB_DATA] : NULL;
    if (bn <= 0) {
        if (b && cb)
            memcpy(b, cb, (size_t)nd->out * sizeof(float));
        return 0;
    }
    const nn_node *bnd = &m->nodes[bn];
    const float *g = bnd->wt->buf[PB_DATA], *be = bnd->bs->buf[PB_DATA];
    const float *mu = bnd->rmean->buf[PB_DATA], *var = bnd->rvar->buf[PB_DATA];
    size_t per = nd->wt->numel / (size_t)nd->out;
    for (int o = 0; o < nd->out; o++) {
        float k = g[o] / sqrtf(var[o] + bnd->eps);
        for (size_t j = 0; j < per; j++)
            w[(size_t)o * per + j] *= k;
        b[o] = ((cb ? cb[o] : 0.0f) - mu[o]) * k + be[o];
    }
    return 0;
}

const nn_derived *nn_derived_get(nn_model *m, int node, int bn, int kind,
                                 const dnnl_memory_desc_t *md, const nn_derived *prev, err *e)
{
    uint64_t key[5];
    key_of(m, node, bn, key);
    if (prev && same(prev, node, bn, kind, md, key))
        return prev; /* the usual case: nothing changed, no lock */
    const nn_node *nd = &m->nodes[node];
    pthread_mutex_lock(&m->dlock);
    nn_derived *d = NULL;
    for (int i = 0; i < m->ndv && !d; i++)
        if (same(m->dv[i], node, bn, kind, md, key))
            d = m->dv[i];
    if (d) {
        d->refs++;
    } else {
        float *plain = malloc(nd->wt->numel * sizeof(float));
        d = calloc(1, sizeof *d);
        bool bias = nd->bias || bn > 0;
        int wc = (int)nd->wt->shape[1], wk = nd->out; /* Winograd C and K */
        if (kind < 0) {                                  /* backward data: swapped */
            wc = nd->out;
            wk = (int)nd->wt->shape[1];
        }
        size_t wbytes = kind == 0 ? nn_md_size(md) : nn_wino_weights_size(abs(kind), wc, wk);
        if (d) {
            d->w = nn_alloc(wbytes);
            d->b = bias ? nn_alloc((size_t)nd->out * sizeof(float)) : NULL;
        }
        /* room for one more entry; realloc may grow the array in place, so the
         * capacity follows the call, not a change of address (it did not, and
         * entries were then written past the array) */
        nn_derived **grow = m->dv;
        if (m->ndv == m->capdv) {
            int cap = m->capdv ? m->capdv * 2 : 16;
            grow = realloc(m->dv, (size_t)cap * sizeof *m->dv);
            if (grow) {
                m->dv = grow;
                m->capdv = cap;
            }
        }
        int rc = (!plain || !d || !d->w || (bias && !d->b) || !grow)
                     ? err_set(e, ERR_INTERNAL, "out of memory for inference weights")
                     : fold(m, node, bn, plain, d->b, e);
        if (rc == 0) {
            dnnl_memory_desc_t pmd;
            nn_param_plain_md(nd->wt, &pmd);
            if (kind == 0) {
                rc = nn_reorder_once(&pmd, plain, md, d->w, e);
            } else if (kind > 0) {
                nn_wino_transform(kind, wc, wk, plain, d->w);
            } else { /* w'[c][k][y][x] = w[k][c][2-y][2-x] */
                float *t = malloc(nd->wt->numel * sizeof(float));
                if (!t) {
                    rc = err_set(e, ERR_INTERNAL, "out of memory");
                } else {
                    for (int k = 0; k < wc; k++)
                        for (int c = 0; c < wk; c++)
                            for (int y = 0; y < 3; y++)
                                for (int x = 0; x < 3; x++)
                                    t[(((size_t)c * (size_t)wc + (size_t)k) * 3 + (size_t)y) * 3 +
                                      (size_t)x] =
                                        plain[(((size_t)k * (size_t)wk + (size_t)c) * 3 +
                                               (size_t)(2 - y)) * 3 + (size_t)(2 - x)];
                    nn_wino_transform(-kind, wc, wk, t, d->w);
                    free(t);
                }
            }
        }
        free(plain);
        if (rc < 0) {
            if (d) {
                free(d->w);
                free(d->b);
                free(d);
            }
            pthread_mutex_unlock(&m->dlock);
            return NULL;
        }
        d->node = node;
        d->bn = bn;
        d->kind = kind;
        if (kind == 0)
            d->md = *md;
        memcpy(d->key, key, sizeof key);
        d->refs = 1;
        m->dv[m->ndv++] = d;
    }
    drop(m, (nn_derived *)prev);
    pthread_mutex_unlock(&m->dlock);
    return d;
}

void nn_derived_put(nn_model *m, const nn_derived *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&m->dlock);
    drop(m, (nn_derived *)d);
    pthread_mutex_unlock(&m->dlock);
}

void nn_derived_free_all(nn_model *m)
{
    for (int i = 0; i < m->ndv; i++) {
        free(m->dv[i]->w);
        free(m->dv[i]->b);
        free(m->dv[i]);
    }
    free(m->dv);
    m->dv = NULL;
    m->ndv = m->capdv = 0;
}
