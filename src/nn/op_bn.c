/*
 * op_bn.c - batch normalisation over N, H, W per channel.
 *
 * Our own kernels rather than oneDNN's: oneDNN's batch norm synchronises
 * its threads with spinning barriers, and on a machine shared with other
 * processes (2 cores, a busy CI runner) a descheduled thread makes the
 * other spin: we measured 100-280 ms instead of 2 ms for one layer. These
 * loops only use OpenMP work-sharing, so they degrade gracefully. They are
 * memory-bound anyway: one pass for the statistics, one to normalise.
 *
 * Layouts: plain nchw and channel-blocked nChw8c / nChw16c (what the
 * convolutions produce) are read in place; anything else is reordered to
 * nchw. Padded channels of a blocked layout are written as zeros.
 *
 * Training: batch statistics (sums in double), running mean and unbiased
 * variance updated with PyTorch's rule r = (1 - momentum) r + momentum b.
 * Evaluation: running statistics. When the only consumer is a ReLU,
 * training plans fuse it (the ReLU node aliases this output; the backward
 * masks the gradient with y > 0). Inference plans usually never run this:
 * the convolution before folds it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

typedef struct bn_st {
    int N, C, B, CB;
    size_t HW;
    bool plain_io;       /* the input layout is not one we read: reorder */
    nn_arg src, gin;     /* input -> nchw, nchw gradient -> input layout */
    float *tmp_dx;       /* plain input gradient when reordering */
    float *mean, *var;   /* batch statistics (C) */
    float *k1, *k2, *k3; /* per padded channel (CB * B): scale/shift or gradient terms */
    double *part;        /* N * CB * B * 2 partial sums */
    int relu;            /* fused ReLU node, 0 when none */
} bn_st;

static void bn_free(void *p)
{
    bn_st *st = p;
    nn_arg_free(&st->src);
    nn_arg_free(&st->gin);
    free(st->tmp_dx);
    free(st->mean);
    free(st->var);
    free(st->k1);
    free(st->k2);
    free(st->k3);
    free(st->part);
    free(st);
}

/* Channel block of a dense nchw / nChw8c / nChw16c layout, or 0. */
static int block_of(const dnnl_memory_desc_t *md)
{
    static const struct {
        dnnl_format_tag_t tag;
        int b;
    } t[] = {{dnnl_nchw, 1}, {dnnl_nChw8c, 8}, {dnnl_nChw16c, 16}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        dnnl_memory_desc_t d;
        if (dnnl_memory_desc_init_by_tag(&d, 4, md->dims, dnnl_f32, t[i].tag) == dnnl_success &&
            nn_md_eq(&d, md))
            return t[i].b;
    }
    return 0;
}

static int bn_build(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_model *m = s->m;
    nn_node *nd = &m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    nn_pnode *pi = &pl->pn[nd->in[0]];
    bn_st *st = calloc(1, sizeof *st);
    if (!st)
        return err_set(e, ERR_INTERNAL, "out of memory");
    p->st = st;
    st->B = block_of(&pi->md);
    if (st->B == 0) {
        st->B = 1;
        st->plain_io = true;
        nn_md_plain(&p->md, p->n, p->c, p->h, p->w);
        if (nn_arg_init(&st->src, DNNL_ARG_SRC, &p->md, &pi->md, false, e) < 0)
            return -1;
        if (pl->train && pi->need_grad &&
            (nn_arg_init(&st->gin, DNNL_ARG_DST, &p->md, &pi->md, true, e) < 0 ||
             !(st->tmp_dx = nn_alloc(nn_md_size(&p->md)))))
            return err_set(e, ERR_INTERNAL, "out of memory");
    } else {
        p->md = pi->md;
    }
    st->N = p->n;
    st->C = p->c;
    st->CB = (p->c + st->B - 1) / st->B;
    st->HW = (size_t)p->h * (size_t)p->w;
    size_t cp = (size_t)st->CB * (size_t)st->B;
    st->mean = nn_alloc((size_t)st->C * sizeof(float));
    st->var = nn_alloc((size_t)st->C * sizeof(float));
    st->k1 = nn_alloc(cp * sizeof(float));
    st->k2 = nn_alloc(cp * sizeof(float));
    st->k3 = nn_alloc(cp * sizeof(float));
    st->part = nn_alloc((size_t)st->N * cp * 2 * sizeof(double));
    if (!st->mean || !st->var || !st->k1 || !st->k2 || !st->k3 || !st->part)
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (pl->train) {
        int j = nn_sole_consumer(m, i);
        if (j > 0 && m->nodes[j].op == OP_RELU) {
            st->relu = j;
            pl->pn[j].fused_into = i;
        }
    }
    return 0;
}

/* Per (n, channel block): sums of a and of a*(b - center) over H*W, per
 * lane, into part[(n*CB + cb)*B*2 + {0..B-1, B..2B-1}]. With b == NULL:
 * sums of a and a*a. With mask (fused ReLU): a counts only where mask > 0.
 * Float partial sums over short runs, accumulated in double. */
static void lane_sums(const bn_st *st, const float *a, const float *b, const float *center,
                      const float *mask)
{
    int B = st->B, CB = st->CB;
    size_t HW = st->HW;
    double *part = st->part;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < st->N; n++) {
        for (int cb = 0; cb < CB; cb++) {
            size_t base = ((size_t)n * (size_t)CB + (size_t)cb) * HW * (size_t)B;
            double s1[16] = {0}, s2[16] = {0};
            if (B == 1) {
                float c0 = center ? center[cb] : 0.0f;
                float f1[8] = {0}, f2[8] = {0};
                size_t k = 0;
                for (; k + 8 <= HW; k += 8) {
                    for (int l = 0; l < 8; l++) {
                        float av = a[base + k + (size_t)l];
                        if (mask && !(mask[base + k + (size_t)l] > 0))
                            av = 0;
                        float bv = b ? b[base + k + (size_t)l] - c0 : av;
                        f1[l] += av;
                        f2[l] += av * bv;
                    }
                    if ((k & 1023) == 1016) {
                        for (int l = 0; l < 8; l++) {
                            s1[0] += f1[l];
                            s2[0] += f2[l];
                            f1[l] = f2[l] = 0;
                        }
                    }
                }
                for (; k < HW; k++) {
                    float av = a[base + k];
                    if (mask && !(mask[base + k] > 0))
                        av = 0;
                    float bv = b ? b[base + k] - c0 : av;
                    f1[0] += av;
                    f2[0] += av * bv;
                }
                for (int l = 0; l < 8; l++) {
                    s1[0] += f1[l];
                    s2[0] += f2[l];
                }
            } else {
                float f1[16] = {0}, f2[16] = {0};
                float c0[16] = {0};
                if (center)
                    for (int l = 0; l < B && cb * B + l < st->C; l++)
                        c0[l] = center[cb * B + l];
                for (size_t k = 0; k < HW; k++) {
                    const float *pa = a + base + k * (size_t)B;
                    const float *pb = b ? b + base + k * (size_t)B : NULL;
                    const float *pm = mask ? mask + base + k * (size_t)B : NULL;
                    for (int l = 0; l < B; l++) {
                        float av = pa[l];
                        if (pm && !(pm[l] > 0))
                            av = 0;
                        float bv = pb ? pb[l] - c0[l] : av;
                        f1[l] += av;
                        f2[l] += av * bv;
                    }
                    if ((k & 127) == 127) {
                        for (int l = 0; l < B; l++) {
                            s1[l] += f1[l];
                            s2[l] += f2[l];
                            f1[l] = f2[l] = 0;
                        }
                    }
                }
                for (int l = 0; l < B; l++) {
                    s1[l] += f1[l];
                    s2[l] += f2[l];
                }
            }
            double *o = part + ((size_t)n * (size_t)CB + (size_t)cb) * (size_t)B * 2;
            for (int l = 0; l < B; l++) {
                o[l] = s1[l];
                o[B + l] = s2[l];
            }
        }
    }
}

/* Channel totals of lane_sums: t1[c], t2[c] for c < C. */
static void reduce(const bn_st *st, double *t1, double *t2)
{
    int B = st->B, CB = st->CB;
    for (int c = 0; c < st->C; c++)
        t1[c] = t2[c] = 0;
    for (int n = 0; n < st->N; n++)
        for (int cb = 0; cb < CB; cb++) {
            const double *o = st->part + ((size_t)n * (size_t)CB + (size_t)cb) * (size_t)B * 2;
            for (int l = 0; l < B && cb * B + l < st->C; l++) {
                t1[cb * B + l] += o[l];
                t2[cb * B + l] += o[B + l];
            }
        }
}

/* y = k1[c] * x + k2[c] (then max(y, 0) when relu). */
static void affine(const bn_st *st, const float *x, float *y, bool relu)
{
    int B = st->B, CB = st->CB;
    size_t HW = st->HW;
    const float *k1 = st->k1, *k2 = st->k2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < st->N; n++) {
        for (int cb = 0; cb < CB; cb++) {
            size_t base = ((size_t)n * (size_t)CB + (size_t)cb) * HW * (size_t)B;
            if (B == 1) {
                float a = k1[cb], b = k2[cb];
                for (size_t k = 0; k < HW; k++) {
                    float v = a * x[base + k] + b;
                    y[base + k] = relu && v < 0 ? 0 : v;
                }
            } else {
                const float *a = k1 + cb * B, *b = k2 + cb * B;
                for (size_t k = 0; k < HW; k++) {
                    const float *px = x + base + k * (size_t)B;
                    float *py = y + base + k * (size_t)B;
                    for (int l = 0; l < B; l++) {
                        float v = a[l] * px[l] + b[l];
                        py[l] = relu && v < 0 ? 0 : v;
                    }
                }
            }
        }
    }
}

static int bn_fwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    bn_st *st = p->st;
    const float *x = pl->pn[nd->in[0]].out;
    if (st->plain_io) {
        if (nn_reorder_run(s->stream, &st->src.ro, (void *)x, st->src.tmp, e) < 0)
            return -1;
        dnnl_stream_wait(s->stream);
        x = st->src.tmp;
    }
    const float *g = nd->wt->buf[PB_DATA], *b = nd->bs->buf[PB_DATA];
    size_t cp = (size_t)st->CB * (size_t)st->B;
    memset(st->k1, 0, cp * sizeof(float));
    memset(st->k2, 0, cp * sizeof(float));
    if (pl->train) {
        double *t1 = malloc((size_t)st->C * 2 * sizeof(double));
        if (!t1)
            return err_set(e, ERR_INTERNAL, "out of memory");
        double *t2 = t1 + st->C;
        lane_sums(st, x, NULL, NULL, NULL);
        reduce(st, t1, t2);
        double cnt = (double)st->N * (double)st->HW;
        float mo = nd->momentum;
        float unbias = cnt > 1 ? (float)(cnt / (cnt - 1)) : 1.0f;
        float *rm = nd->rmean->buf[PB_DATA], *rv = nd->rvar->buf[PB_DATA];
        for (int c = 0; c < st->C; c++) {
            double mu = t1[c] / cnt, var = t2[c] / cnt - mu * mu;
            if (var < 0)
                var = 0;
            st->mean[c] = (float)mu;
            st->var[c] = (float)var;
            rm[c] = (1 - mo) * rm[c] + mo * (float)mu;
            rv[c] = (1 - mo) * rv[c] + mo * (float)var * unbias;
        }
        free(t1);
        nd->rmean->version++;
        nd->rvar->version++;
    }
    const float *mu = pl->train ? st->mean : nd->rmean->buf[PB_DATA];
    const float *var = pl->train ? st->var : nd->rvar->buf[PB_DATA];
    for (int c = 0; c < st->C; c++) {
        float inv = 1.0f / sqrtf(var[c] + nd->eps);
        st->k1[c] = g[c] * inv;
        st->k2[c] = b[c] - mu[c] * g[c] * inv;
    }
    affine(st, x, p->out, st->relu != 0);
    return 0;
}

static int bn_bwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    bn_st *st = p->st;
    int a = nd->in[0];
    const float *x = st->plain_io ? st->src.tmp : pl->pn[a].out;
    const float *dy = p->diff;
    const float *mask = st->relu ? p->out : NULL;
    double *t1 = malloc((size_t)st->C * 2 * sizeof(double));
    if (!t1)
        return err_set(e, ERR_INTERNAL, "out of memory");
    double *t2 = t1 + st->C;
    /* sums of dy and dy * (x - mean), per channel */
    lane_sums(st, dy, x, st->mean, mask);
    reduce(st, t1, t2);
    const float *g = nd->wt->buf[PB_DATA];
    float *dg = nd->wt->buf[PB_GRAD], *db = nd->bs->buf[PB_GRAD];
    double cnt = (double)st->N * (double)st->HW;
    size_t cp = (size_t)st->CB * (size_t)st->B;
    memset(st->k1, 0, cp * sizeof(float));
    memset(st->k2, 0, cp * sizeof(float));
    memset(st->k3, 0, cp * sizeof(float));
    for (int c = 0; c < st->C; c++) {
        double inv = 1.0 / sqrt((double)st->var[c] + nd->eps);
        dg[c] = (float)(t2[c] * inv);
        db[c] = (float)t1[c];
        /* dx = k1 dy + k2 (x - mean) + k3 */
        st->k1[c] = (float)(g[c] * inv);
        st->k2[c] = (float)(-g[c] * inv * inv * inv * t2[c] / cnt);
        st->k3[c] = (float)(-g[c] * inv * t1[c] / cnt);
    }
    free(t1);
    bool acc;
    float *t = nn_grad_target(pl, a, &acc);
    if (!t)
        return 0;
    float *dx = st->plain_io ? st->tmp_dx : t;
    int B = st->B, CB = st->CB, C = st->C;
    size_t HW = st->HW;
    const float *k1 = st->k1, *k2 = st->k2, *k3 = st->k3, *mean = st->mean;
#pragma omp parallel for collapse(2) schedule(static)
    for (int n = 0; n < st->N; n++) {
        for (int cb = 0; cb < CB; cb++) {
            size_t base = ((size_t)n * (size_t)CB + (size_t)cb) * HW * (size_t)B;
            for (size_t k = 0; k < HW; k++) {
                size_t o = base + k * (size_t)B;
                for (int l = 0; l < B; l++) {
                    int c = cb * B + l;
                    float d = dy[o + (size_t)l];
                    if (mask && !(mask[o + (size_t)l] > 0))
                        d = 0;
                    float mc = c < C ? mean[c] : 0.0f;
                    dx[o + (size_t)l] = k1[c] * d + k2[c] * (x[o + (size_t)l] - mc) + k3[c];
                }
            }
        }
    }
    if (st->plain_io) {
        if (nn_reorder_run(s->stream, &st->gin.ro, dx, t, e) < 0)
            return -1;
        dnnl_stream_wait(s->stream);
    }
    nn_grad_commit(pl, a, acc);
    return 0;
}

const nn_op_impl nn_op_bn = {bn_build, bn_fwd, bn_bwd, bn_free};
