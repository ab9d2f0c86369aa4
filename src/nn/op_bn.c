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
 * masks the gradient with y > 0), and when the ReLU's only consumer is a
 * max pooling, that too: the normalise pass writes the pooled output and
 * the argmax of each window (a byte) instead of the full-size activation,
 * and the backward pass works from those (sums over the pooled positions,
 * one dense pass for dx, then a scatter of the pooled gradient). The
 * stage-1 activations of small-image CNNs and ResNet stems are the largest
 * tensors of those networks; this avoids writing and reading them twice.
 * Inference plans usually never run this: the convolution before folds
 * batch norm.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

typedef struct bn_st {
    int N, C, B, CB;
    size_t HW;
    int W_;              /* input width (H = HW / W_) */
    bool plain_io;       /* the input layout is not one we read: reorder */
    nn_arg src, gin;     /* input -> nchw, nchw gradient -> input layout */
    float *tmp_dx;       /* plain input gradient when reordering */
    float *mean, *var;   /* batch statistics (C) */
    float *k1, *k2, *k3; /* per padded channel (CB * B): scale/shift or gradient terms */
    float *meanp;        /* batch mean per padded channel (zero in the padding) */
    double *part;        /* N * CB * B * 2 partial sums */
    int relu;            /* fused ReLU node, 0 when none */
    int pool;            /* fused max pooling node after the ReLU, 0 when none */
    int OH, OW, kh, kw, sh, sw, ph, pw;
    uint8_t *argmax;     /* per pooled element: window index of the max */
    float *fk1, *fk2;    /* forward scale/shift (the backward recomputes the ReLU mask) */
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
    free(st->meanp);
    free(st->part);
    free(st->argmax);
    free(st->fk1);
    free(st->fk2);
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
    st->W_ = p->w;
    size_t cp = (size_t)st->CB * (size_t)st->B;
    st->mean = nn_alloc((size_t)st->C * sizeof(float));
    st->var = nn_alloc((size_t)st->C * sizeof(float));
    st->k1 = nn_alloc(cp * sizeof(float));
    st->k2 = nn_alloc(cp * sizeof(float));
    st->k3 = nn_alloc(cp * sizeof(float));
    st->meanp = nn_alloc(cp * sizeof(float));
    st->part = nn_alloc((size_t)st->N * cp * 2 * sizeof(double));
    if (!st->mean || !st->var || !st->k1 || !st->k2 || !st->k3 || !st->meanp || !st->part)
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (pl->train) {
        int j = nn_sole_consumer(m, i);
        if (j > 0 && m->nodes[j].op == OP_RELU) {
            st->relu = j;
            pl->pn[j].fused_into = i;
            int q = nn_sole_consumer(m, j);
            const nn_node *pn = q > 0 ? &m->nodes[q] : NULL;
            if (pn && pn->op == OP_MAXPOOL && st->B >= 8 && !st->plain_io &&
                pn->kh * pn->kw <= 255) {
                const nn_pnode *pq = &pl->pn[q];
                st->pool = q;
                st->OH = pq->h;
                st->OW = pq->w;
                st->kh = pn->kh;
                st->kw = pn->kw;
                st->sh = pn->sh;
                st->sw = pn->sw;
                st->ph = pn->ph;
                st->pw = pn->pw;
                dnnl_dims_t d = {pq->n, pq->c, pq->h, pq->w};
                dnnl_memory_desc_init_by_tag(&p->md, 4, d, dnnl_f32,
                                             st->B == 8 ? dnnl_nChw8c : dnnl_nChw16c);
                st->argmax = nn_alloc((size_t)st->N * cp * (size_t)st->OH * (size_t)st->OW);
                st->fk1 = nn_alloc(cp * sizeof(float));
                st->fk2 = nn_alloc(cp * sizeof(float));
                if (!st->argmax || !st->fk1 || !st->fk2)
                    return err_set(e, ERR_INTERNAL, "out of memory");
                pl->pn[q].fused_into = i;
            }
        }
    }
    return 0;
}

/* The kernels work on 8-float vectors (GCC vector extensions): a channel
 * block of nChw8c is one vector, of nChw16c two, and plain nchw runs along
 * H*W eight at a time. Each is compiled twice, for AVX2+FMA and for the
 * baseline, and picked at load time (target_clones). */
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));
#define CLONES __attribute__((target_clones("arch=haswell", "default")))

typedef int v8i __attribute__((vector_size(32)));
#define ld8(p) (*(const v8u *)(p))
#define st8(p, v) (*(v8u *)(p) = (v))
#define keep_if(cond, v) ((v8)((v8i)(cond) & (v8i)(v))) /* v where cond, else 0 */

/* Per (n, channel block): sums of a and of a*(b - center) over H*W, per
 * lane, into part[(n*CB + cb)*B*2 + {0..B-1, B..2B-1}]. With b == NULL:
 * sums of a and a*a. With mask (fused ReLU): a counts only where mask > 0.
 * Float partial sums over short runs, accumulated in double. */
CLONES static void lane_sums(const bn_st *st, const float *a, const float *b, const float *center,
                             const float *mask)
{
    int B = st->B, CB = st->CB, C = st->C;
    size_t HW = st->HW;
    double *part = st->part;
    NN_UNUSED bool par = (size_t)st->N * (size_t)CB * HW * (size_t)B > 32768;
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int n = 0; n < st->N; n++) {
        for (int cb = 0; cb < CB; cb++) {
            size_t base = ((size_t)n * (size_t)CB + (size_t)cb) * HW * (size_t)B;
            double s1[16] = {0}, s2[16] = {0};
            int nv = B == 16 ? 2 : 1; /* vectors per position */
            size_t step = B == 1 ? 8 : (size_t)B, npos = B == 1 ? HW / 8 : HW;
            v8 c0[2] = {{0}, {0}};
            if (center) {
                for (int l = 0; l < 8 * nv; l++) {
                    int c = B == 1 ? cb : cb * B + l;
                    c0[l / 8][l % 8] = c < C ? center[c] : 0.0f;
                }
            }
            v8 f1[2] = {{0}, {0}}, f2[2] = {{0}, {0}};
            for (size_t k = 0; k < npos; k++) {
                for (int v = 0; v < nv; v++) {
                    size_t o = base + k * step + (size_t)v * 8;
                    v8 av = ld8(a + o);
                    if (mask) {
                        v8 mk = ld8(mask + o);
                        av = keep_if(mk > 0, av);
                    }
                    v8 bv = b ? ld8(b + o) - c0[v] : av;
                    f1[v] += av;
                    f2[v] += av * bv;
                }
                if ((k & 63) == 63) {
                    for (int v = 0; v < nv; v++)
                        for (int l = 0; l < 8; l++) {
                            s1[v * 8 + l] += f1[v][l];
                            s2[v * 8 + l] += f2[v][l];
                        }
                    f1[0] = f1[1] = f2[0] = f2[1] = (v8){0};
                }
            }
            for (int v = 0; v < nv; v++)
                for (int l = 0; l < 8; l++) {
                    s1[v * 8 + l] += f1[v][l];
                    s2[v * 8 + l] += f2[v][l];
                }
            if (B == 1) { /* fold the 8 lanes, then the tail */
                double t1 = 0, t2 = 0;
                for (int l = 0; l < 8; l++) {
                    t1 += s1[l];
                    t2 += s2[l];
                }
                float cc = center ? center[cb] : 0.0f;
                for (size_t k = npos * 8; k < HW; k++) {
                    float av = a[base + k];
                    if (mask && !(mask[base + k] > 0))
                        av = 0;
                    float bv = b ? b[base + k] - cc : av;
                    t1 += av;
                    t2 += (double)av * bv;
                }
                s1[0] = t1;
                s2[0] = t2;
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

/* Per position of a channel block: the coefficient vectors of its lanes. */
static inline void coef(const bn_st *st, const float *k, int cb, v8 out[2])
{
    if (st->B == 1) {
        out[0] = (v8){0} + k[cb];
        return;
    }
    out[0] = ld8(k + cb * st->B);
    out[1] = st->B == 16 ? ld8(k + cb * st->B + 8) : (v8){0};
}

/* y = k1[c] * x + k2[c] (then max(y, 0) when relu). */
CLONES static void affine(const bn_st *st, const float *x, float *y, bool relu)
{
    int B = st->B, CB = st->CB;
    size_t HW = st->HW;
    NN_UNUSED bool par = (size_t)st->N * (size_t)CB * HW * (size_t)B > 32768;
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int n = 0; n < st->N; n++) {
        for (int cb = 0; cb < CB; cb++) {
            size_t base = ((size_t)n * (size_t)CB + (size_t)cb) * HW * (size_t)B;
            size_t total = HW * (size_t)B, k = 0;
            v8 a[2], b[2];
            coef(st, st->k1, cb, a);
            coef(st, st->k2, cb, b);
            int nv = B == 16 ? 2 : 1;
            for (; k + 8 * (size_t)nv <= total; k += 8 * (size_t)nv) {
                for (int v = 0; v < nv; v++) {
                    v8 r = a[v] * ld8(x + base + k + (size_t)v * 8) + b[v];
                    if (relu)
                        r = keep_if(r > 0, r);
                    st8(y + base + k + (size_t)v * 8, r);
                }
            }
            for (; k < total; k++) { /* plain tail */
                float r = a[0][0] * x[base + k] + b[0][0];
                y[base + k] = relu && r < 0 ? 0 : r;
            }
        }
    }
}

/* dx = k1 dy' + k2 (x - mean) + k3, dy' = dy masked by y > 0 when relu. */
CLONES static void bn_dx(const bn_st *st, const float *dy, const float *x, const float *mask,
                         float *dx)
{
    int B = st->B, CB = st->CB;
    size_t HW = st->HW;
    NN_UNUSED bool par = (size_t)st->N * (size_t)CB * HW * (size_t)B > 32768;
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int n = 0; n < st->N; n++) {
        for (int cb = 0; cb < CB; cb++) {
            size_t base = ((size_t)n * (size_t)CB + (size_t)cb) * HW * (size_t)B;
            size_t total = HW * (size_t)B, k = 0;
            v8 a[2], b[2], c[2], mu[2];
            coef(st, st->k1, cb, a);
            coef(st, st->k2, cb, b);
            coef(st, st->k3, cb, c);
            coef(st, st->meanp, cb, mu);
            int nv = B == 16 ? 2 : 1;
            for (; k + 8 * (size_t)nv <= total; k += 8 * (size_t)nv) {
                for (int v = 0; v < nv; v++) {
                    size_t o = base + k + (size_t)v * 8;
                    v8 d = ld8(dy + o);
                    if (mask)
                        d = keep_if(ld8(mask + o) > 0, d);
                    st8(dx + o, a[v] * d + b[v] * (ld8(x + o) - mu[v]) + c[v]);
                }
            }
            for (; k < total; k++) {
                float d = dy[base + k];
                if (mask && !(mask[base + k] > 0))
                    d = 0;
                dx[base + k] = a[0][0] * d + b[0][0] * (x[base + k] - mu[0][0]) + c[0][0];
            }
        }
    }
}

/* Forward of BN + ReLU + max pooling: out[pooled] = max over the window of
 * max(k1 x + k2, 0), and the window index of that max. */
CLONES static void affine_relu_pool(const bn_st *st, const float *x, float *y, uint8_t *am)
{
    int B = st->B, CB = st->CB, H = (int)(st->HW / (size_t)st->W_), W = st->W_;
    int OH = st->OH, OW = st->OW, nv = B / 8;
    NN_UNUSED bool par = (size_t)st->N * (size_t)CB * st->HW * (size_t)B > 32768;
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int n = 0; n < st->N; n++) {
        for (int cb = 0; cb < CB; cb++) {
            size_t ib = ((size_t)n * (size_t)CB + (size_t)cb) * st->HW * (size_t)B;
            size_t ob = ((size_t)n * (size_t)CB + (size_t)cb) * (size_t)OH * (size_t)OW * (size_t)B;
            for (int v = 0; v < nv; v++) {
                v8 a = ld8(st->k1 + cb * B + v * 8), b = ld8(st->k2 + cb * B + v * 8);
                for (int oy = 0; oy < OH; oy++)
                    for (int ox = 0; ox < OW; ox++) {
                        v8 best = (v8){0} - __builtin_inff();
                        v8i idx = (v8i){0};
                        for (int ky = 0; ky < st->kh; ky++) {
                            int iy = oy * st->sh - st->ph + ky;
                            if (iy < 0 || iy >= H)
                                continue;
                            for (int kx = 0; kx < st->kw; kx++) {
                                int ix = ox * st->sw - st->pw + kx;
                                if (ix < 0 || ix >= W)
                                    continue;
                                v8 r = a * ld8(x + ib + ((size_t)iy * (size_t)W + (size_t)ix) *
                                                          (size_t)B + (size_t)v * 8) + b;
                                r = keep_if(r > 0, r);
                                v8i gt = r > best;
                                best = (v8)(((v8i)r & gt) | ((v8i)best & ~gt));
                                idx = (((v8i){0} + (ky * st->kw + kx)) & gt) | (idx & ~gt);
                            }
                        }
                        size_t o = ob + ((size_t)oy * (size_t)OW + (size_t)ox) * (size_t)B +
                                   (size_t)v * 8;
                        st8(y + o, best);
                        for (int l = 0; l < 8; l++)
                            am[o + (size_t)l] = (uint8_t)idx[l];
                    }
            }
        }
    }
}

/* Input position (offset in x) of pooled element o's max, for lane l. */
static inline size_t pool_src(const bn_st *st, size_t ib, int oy, int ox, int w, int l)
{
    int iy = oy * st->sh - st->ph + w / st->kw, ix = ox * st->sw - st->pw + w % st->kw;
    return ib + ((size_t)iy * (size_t)st->W_ + (size_t)ix) * (size_t)st->B + (size_t)l;
}

/* Backward sums of BN + ReLU + pool: per lane, the sums of the gradient
 * that reaches x (the pooled gradient at each window's max, where the
 * ReLU passed) and of it times (x - mean). */
static void pool_sums(const bn_st *st, const float *x, const float *dp)
{
    int B = st->B, CB = st->CB, OH = st->OH, OW = st->OW;
    NN_UNUSED bool par = (size_t)st->N * (size_t)CB * (size_t)OH * (size_t)OW * (size_t)B > 32768;
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int n = 0; n < st->N; n++) {
        for (int cb = 0; cb < CB; cb++) {
            size_t ib = ((size_t)n * (size_t)CB + (size_t)cb) * st->HW * (size_t)B;
            size_t ob = ((size_t)n * (size_t)CB + (size_t)cb) * (size_t)OH * (size_t)OW * (size_t)B;
            double s1[16] = {0}, s2[16] = {0};
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    size_t o = ob + ((size_t)oy * (size_t)OW + (size_t)ox) * (size_t)B;
                    for (int l = 0; l < B; l++) {
                        float xv = x[pool_src(st, ib, oy, ox, st->argmax[o + (size_t)l], l)];
                        int c = cb * B + l;
                        if (!(st->fk1[c] * xv + st->fk2[c] > 0))
                            continue;
                        float d = dp[o + (size_t)l];
                        s1[l] += d;
                        s2[l] += (double)d * (xv - st->meanp[c]);
                    }
                }
            double *out = st->part + ((size_t)n * (size_t)CB + (size_t)cb) * (size_t)B * 2;
            for (int l = 0; l < B; l++) {
                out[l] = s1[l];
                out[B + l] = s2[l];
            }
        }
    }
}

/* dx = k2 (x - mean) + k3 everywhere, then + k1 dp at each window's max. */
static void pool_dx(const bn_st *st, const float *x, const float *dp, float *dx)
{
    int B = st->B, CB = st->CB, OH = st->OH, OW = st->OW;
    NN_UNUSED bool par = (size_t)st->N * (size_t)CB * st->HW * (size_t)B > 32768;
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int n = 0; n < st->N; n++) {
        for (int cb = 0; cb < CB; cb++) {
            size_t ib = ((size_t)n * (size_t)CB + (size_t)cb) * st->HW * (size_t)B;
            size_t ob = ((size_t)n * (size_t)CB + (size_t)cb) * (size_t)OH * (size_t)OW * (size_t)B;
            for (size_t k = 0; k < st->HW; k++)
                for (int l = 0; l < B; l++) {
                    int c = cb * B + l;
                    size_t o = ib + k * (size_t)B + (size_t)l;
                    dx[o] = st->k2[c] * (x[o] - st->meanp[c]) + st->k3[c];
                }
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    size_t o = ob + ((size_t)oy * (size_t)OW + (size_t)ox) * (size_t)B;
                    for (int l = 0; l < B; l++) {
                        size_t pos = pool_src(st, ib, oy, ox, st->argmax[o + (size_t)l], l);
                        int c = cb * B + l;
                        if (st->fk1[c] * x[pos] + st->fk2[c] > 0)
                            dx[pos] += st->k1[c] * dp[o + (size_t)l];
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
            st->meanp[c] = (float)mu;
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
    if (st->pool) {
        memcpy(st->fk1, st->k1, cp * sizeof(float));
        memcpy(st->fk2, st->k2, cp * sizeof(float));
        affine_relu_pool(st, x, p->out, st->argmax);
    } else {
        affine(st, x, p->out, st->relu != 0);
    }
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
    if (st->pool)
        pool_sums(st, x, dy);
    else
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
    if (st->pool)
        pool_dx(st, x, dy, dx);
    else
        bn_dx(st, dy, x, mask, dx);
    if (st->plain_io) {
        if (nn_reorder_run(s->stream, &st->gin.ro, dx, t, e) < 0)
            return -1;
        dnnl_stream_wait(s->stream);
    }
    nn_grad_commit(pl, a, acc);
    return 0;
}

const nn_op_impl nn_op_bn = {bn_build, bn_fwd, bn_bwd, bn_free};
