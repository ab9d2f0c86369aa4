/*
 * conv_gemm.c - training convolutions on small feature maps as one large
 * GEMM each (im2col + OpenBLAS sgemm).
 *
 * On a 2x2 or 4x4 map (the last stages of a ResNet on 64 px images) there
 * is little spatial work per image, and oneDNN's kernels spend their time
 * on per-image overheads (its backward-weights pass even falls back to a
 * per-image GEMM). Gathering the whole batch into one matrix turns each
 * pass into a single well-shaped GEMM:
 *
 *   X  = im2col(x)        P x Q, P = N*OH*OW, Q = C*kh*kw (c, ky, kx order)
 *   y  = X W^T (+ b)      P x K; W is K x Q, the plain oihw weights
 *   dW = dY^T X           K x Q
 *   dX = dY W             P x Q, scattered back (col2im)
 *
 * (nn_sgemm: OpenBLAS on row blocks, one per OpenMP thread.)
 * Activations stay in the channel-blocked layout (nChw8c) the rest of the
 * network uses; X is kept from the forward pass for the backward one.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

struct nn_cgemm {
    int N, C, H, W, K, OH, OW, kh, kw, sh, sw, ph, pw, dh, dw;
    int CB, KB;
    int64_t P, Q;
    float *X, *Y, *D; /* im2col, P x K output / gradient, P x Q input gradient */
};

nn_cgemm *nn_cgemm_new(int N, int C, int H, int W, int K, int OH, int OW, const nn_node *nd,
                       bool need_dx, err *e)
{
    nn_cgemm *g = calloc(1, sizeof *g);
    if (!g) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    *g = (nn_cgemm){.N = N, .C = C, .H = H, .W = W, .K = K, .OH = OH, .OW = OW, .kh = nd->kh,
                    .kw = nd->kw, .sh = nd->sh, .sw = nd->sw, .ph = nd->ph, .pw = nd->pw,
                    .dh = nd->dh, .dw = nd->dw};
    g->CB = (C + 7) / 8;
    g->KB = (K + 7) / 8;
    g->P = (int64_t)N * OH * OW;
    g->Q = (int64_t)C * nd->kh * nd->kw;
    g->X = nn_alloc((size_t)g->P * (size_t)g->Q * sizeof(float));
    g->Y = nn_alloc((size_t)g->P * (size_t)K * sizeof(float));
    if (need_dx)
        g->D = nn_alloc((size_t)g->P * (size_t)g->Q * sizeof(float));
    if (!g->X || !g->Y || (need_dx && !g->D)) {
        err_set(e, ERR_INTERNAL, "out of memory for a GEMM convolution");
        nn_cgemm_free(g);
        return NULL;
    }
    return g;
}

void nn_cgemm_free(nn_cgemm *g)
{
    if (!g)
        return;
    free(g->X);
    free(g->Y);
    free(g->D);
    free(g);
}

static inline size_t blk(const nn_cgemm *g, int n, int c, int y, int x, int H, int W, int CB)
{
    (void)g;
    return ((((size_t)n * (size_t)CB + (size_t)(c / 8)) * (size_t)H + (size_t)y) * (size_t)W +
            (size_t)x) * 8 + (size_t)(c % 8);
}

void nn_cgemm_fwd(nn_cgemm *g, const float *x, const float *w, const float *bias, float *y)
{
    int OH = g->OH, OW = g->OW, K = g->K;
    int64_t Q = g->Q;
    NN_UNUSED bool par = g->P * Q > 32768;
    /* im2col */
#pragma omp parallel for schedule(static) if (par)
    for (int64_t p = 0; p < g->P; p++) {
        int n = (int)(p / (OH * OW)), r = (int)(p % (OH * OW));
        int oy = r / OW, ox = r % OW;
        float *row = g->X + (size_t)p * (size_t)Q;
        for (int c = 0; c < g->C; c++)
            for (int ky = 0; ky < g->kh; ky++) {
                int iy = oy * g->sh - g->ph + ky * g->dh;
                for (int kx = 0; kx < g->kw; kx++) {
                    int ix = ox * g->sw - g->pw + kx * g->dw;
                    *row++ = (iy >= 0 && iy < g->H && ix >= 0 && ix < g->W)
                                 ? x[blk(g, n, c, iy, ix, g->H, g->W, g->CB)]
                                 : 0.0f;
                }
            }
    }
    float beta = 0;
    if (bias) {
        for (int64_t p = 0; p < g->P; p++)
            memcpy(g->Y + (size_t)p * (size_t)K, bias, (size_t)K * sizeof(float));
        beta = 1;
    }
    nn_sgemm(false, true, (int)g->P, K, (int)Q, g->X, (int)Q, w, (int)Q, beta, g->Y, K);
    /* scatter to nChw8c (padded lanes stay zero: written as zero here) */
#pragma omp parallel for schedule(static) if (par)
    for (int64_t p = 0; p < g->P; p++) {
        int n = (int)(p / (OH * OW)), r = (int)(p % (OH * OW));
        int oy = r / OW, ox = r % OW;
        const float *row = g->Y + (size_t)p * (size_t)K;
        for (int kb = 0; kb < g->KB; kb++) {
            float *o = y + blk(g, n, kb * 8, oy, ox, OH, OW, g->KB);
            for (int l = 0; l < 8; l++)
                o[l] = kb * 8 + l < K ? row[kb * 8 + l] : 0.0f;
        }
    }
}

void nn_cgemm_bwd(nn_cgemm *g, const float *dy, const float *w, float *dw, float *db, float *dx)
{
    int OH = g->OH, OW = g->OW, K = g->K;
    int64_t Q = g->Q;
    NN_UNUSED bool par = g->P * Q > 32768;
    /* gather dY (nChw8c) into P x K */
#pragma omp parallel for schedule(static) if (par)
    for (int64_t p = 0; p < g->P; p++) {
        int n = (int)(p / (OH * OW)), r = (int)(p % (OH * OW));
        int oy = r / OW, ox = r % OW;
        float *row = g->Y + (size_t)p * (size_t)K;
        for (int kb = 0; kb < g->KB; kb++) {
            const float *s = dy + blk(g, n, kb * 8, oy, ox, OH, OW, g->KB);
            for (int l = 0; l < 8 && kb * 8 + l < K; l++)
                row[kb * 8 + l] = s[l];
        }
    }
    nn_sgemm(true, false, K, (int)Q, (int)g->P, g->Y, K, g->X, (int)Q, 0.0f, dw, (int)Q);
    if (db) {
        memset(db, 0, (size_t)K * sizeof(float));
        for (int64_t p = 0; p < g->P; p++)
            for (int k = 0; k < K; k++)
                db[k] += g->Y[(size_t)p * (size_t)K + (size_t)k];
    }
    if (!dx)
        return;
    nn_sgemm(false, false, (int)g->P, (int)Q, K, g->Y, K, w, (int)Q, 0.0f, g->D, (int)Q);
    /* col2im, one image per iteration (no two threads touch the same pixels) */
    size_t img = (size_t)g->CB * (size_t)g->H * (size_t)g->W * 8;
#pragma omp parallel for schedule(static) if (par)
    for (int n = 0; n < g->N; n++) {
        memset(dx + (size_t)n * img, 0, img * sizeof(float));
        for (int r = 0; r < OH * OW; r++) {
            int oy = r / OW, ox = r % OW;
            const float *row = g->D + ((size_t)n * (size_t)(OH * OW) + (size_t)r) * (size_t)Q;
            for (int c = 0; c < g->C; c++)
                for (int ky = 0; ky < g->kh; ky++) {
                    int iy = oy * g->sh - g->ph + ky * g->dh;
                    for (int kx = 0; kx < g->kw; kx++, row++) {
                        int ix = ox * g->sw - g->pw + kx * g->dw;
                        if (iy >= 0 && iy < g->H && ix >= 0 && ix < g->W)
                            dx[blk(g, n, c, iy, ix, g->H, g->W, g->CB)] += *row;
                    }
                }
        }
    }
}
