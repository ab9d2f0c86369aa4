/*
 * wino.c - Winograd convolution for inference: 3x3 kernels, stride 1,
 * F(4x4, 3x3) or F(2x2, 3x3) (Lavin & Gray 2015).
 *
 * oneDNN 2.6 has Winograd kernels only for AVX-512; on AVX2 machines its
 * direct 3x3 convolution is the best it has. Winograd F(4x4, 3x3) needs
 * 36 multiplications per 16 outputs instead of 144, which is what batch-1
 * inference of a ResNet needs to reach its latency goal.
 *
 * For a chunk of output tiles (m x m outputs, alpha = m + 2):
 *   V[xi][t][c] = (B^T d B)[xi]                    input transform
 *   M[xi][t][k] = sum_c V[xi][t][c] U[xi][c][k]    alpha^2 GEMMs
 *   y = A^T M A + bias (+ residual) (activation)   output transform
 * all in AVX2 (GCC vector extensions and intrinsics) inside one OpenMP
 * region; where the CPU has AVX-512, the GEMMs run a 12 x 32 kernel over
 * two panels at once instead. U = G g G^T is computed once per weight
 * version and stored packed in panels of 16 output channels, so the GEMM
 * kernel (6 x 16 register tile, 12 accumulators) streams it without
 * repacking: with
 * batch-1 maps of 16 tiles, oneDNN's matmul spent most of its time
 * packing. Tiles are processed in chunks whose V and M fit in the cache
 * (and bound the memory whatever the batch). Source and destination are
 * nChw8c; C and K multiples of 8.
 *
 * Accuracy: F(4x4) in float32 is a few 1e-6 relative off the direct
 * convolution (tests compare the two, for inference and for the training
 * passes that use F(4x4), see op_conv.c).
 * F(2x2) inference weights are stored as half floats (F16C) unless
 * nn_set_half_weights(false): those layers (few tiles, many channels)
 * wait on memory for U, and the outputs move by ~4e-4 of their largest
 * value. F(4x4) keeps float32: its output transform multiplies U's
 * rounding error by up to 64, and half floats moved outputs by 6e-3.
 */
#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

struct nn_wino {
    int m, a;            /* output tile size, input tile size (m + 2) */
    int N, C, H, W, K, OH, OW, ph, pw;
    int Kp;              /* K rounded up to 16 (GEMM panels) */
    int th, tw;          /* tiles per image */
    bool half;           /* U stored as IEEE half floats (inference) */
    int64_t T, Tc;       /* tiles in all, per chunk */
    const void *U;       /* [xi][Kp/16][C][16] packed transformed weights (derived.c) */
    float *V;            /* [xi][Tc][C], nbuf of them */
    float *M;            /* [xi][Tc][Kp], nbuf of them */
    int nbuf;            /* threads that can work on chunks of their own */
};

static bool g_wino_on = true, g_half_on = true;
void nn_set_winograd(bool on) { g_wino_on = on; }
void nn_set_half_weights(bool on) { g_half_on = on; }

bool nn_wino_half_usable(void)
{
    static int ok = -1;
    if (ok < 0) {
        /* CPUID leaf 1, ECX bit 29 (clang 14's __builtin_cpu_supports does not
         * know "f16c", and the fuzzers are built with clang) */
        unsigned a, b, c, d;
        ok = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
    }
    return g_half_on && ok && nn_wino_usable();
}

bool nn_wino_usable(void)
{
    static int ok = -1;
    if (ok < 0) {
        __builtin_cpu_init();
        ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return g_wino_on && ok;
}

int nn_wino_kind(const nn_wino *w) { return w->m | (w->half ? NN_WINO_HALF : 0); }

void nn_wino_free(nn_wino *w)
{
    if (!w)
        return;
    free(w->V);
    free(w->M);
    free(w);
}

nn_wino *nn_wino_new(int m, int N, int C, int H, int W, int K, int OH, int OW, int ph, int pw,
                     bool half, err *e)
{
    nn_wino *w = calloc(1, sizeof *w);
    if (!w) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    *w = (nn_wino){.m = m, .a = m + 2, .N = N, .C = C, .H = H, .W = W, .K = K, .OH = OH,
                   .OW = OW, .ph = ph, .pw = pw, .half = half};
    w->th = (OH + m - 1) / m;
    w->tw = (OW + m - 1) / m;
    w->T = (int64_t)N * w->th * w->tw;
    w->Kp = (K + 15) / 16 * 16;
    int A = w->a * w->a;
    /* V and M of a chunk within ~2 MB, at least 16 tiles */
    int64_t tc = (int64_t)(2 << 20) / ((int64_t)A * (C + w->Kp) * 4);
    if (tc < 16)
        tc = 16;
    w->Tc = w->T < tc ? w->T : tc;
    /* with enough chunks, each thread takes whole chunks (no barriers):
     * one set of buffers per thread */
    int64_t chunks = (w->T + w->Tc - 1) / w->Tc;
    int nt = omp_get_max_threads();
    w->nbuf = nt > 1 && chunks >= 2 * nt ? nt : 1;
    w->V = nn_alloc((size_t)w->nbuf * (size_t)A * (size_t)w->Tc * (size_t)C * sizeof(float));
    w->M = nn_alloc((size_t)w->nbuf * (size_t)A * (size_t)w->Tc * (size_t)w->Kp * sizeof(float));
    if (!w->V || !w->M) {
        err_set(e, ERR_INTERNAL, "out of memory for Winograd buffers");
        nn_wino_free(w);
        return NULL;
    }
    return w;
}

size_t nn_wino_weights_size(int kind, int C, int K)
{
    int m = kind & ~NN_WINO_HALF;
    return (size_t)(m + 2) * (size_t)(m + 2) * (size_t)C * (size_t)((K + 15) / 16 * 16) *
           (kind & NN_WINO_HALF ? sizeof(uint16_t) : sizeof(float));
}

__attribute__((target("f16c"))) static uint16_t to_half(float f)
{
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
}

/* U[xi][c][k] = (G g G^T)[xi] for the plain K x C x 3 x 3 weights, packed
 * as [xi][k / 16][c][k % 16] (padding columns zero), in float or half. */
void nn_wino_transform(int kind, int C, int K, const float *wt, void *Uout)
{
    static const double G4[6][3] = {{0.25, 0, 0},
                                    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                    {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                    {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                    {0, 0, 1}};
    static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    bool half = kind & NN_WINO_HALF;
    int m = kind & ~NN_WINO_HALF;
    int a = m + 2, Kp = (K + 15) / 16 * 16;
    const double(*G)[3] = m == 4 ? G4 : G2;
    float *Uf = Uout;
    uint16_t *Uh = Uout;
    memset(Uout, 0, nn_wino_weights_size(kind, C, K));
#pragma omp parallel for schedule(static) if (K * C > 4096)
    for (int k = 0; k < K; k++) {
        for (int c = 0; c < C; c++) {
            const float *g = wt + ((size_t)k * (size_t)C + (size_t)c) * 9;
            double t[6][3];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < 3; j++)
                    t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
            for (int i = 0; i < a; i++)
                for (int j = 0; j < a; j++) {
                    double u = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
                    /* packed: [xi][k / 16][c][k % 16] */
                    size_t xi = (size_t)(i * a + j);
                    size_t at = ((xi * (size_t)(Kp / 16) + (size_t)(k / 16)) * (size_t)C +
                                 (size_t)c) * 16 + (size_t)(k % 16);
                    if (half)
                        Uh[at] = to_half((float)u);
                    else
                        Uf[at] = (float)u;
                }
        }
    }
}

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline v8 ld(const float *p) { return *(const v8u *)p; }
AVX2 static inline void st(float *p, v8 v) { *(v8u *)p = v; }

#define INLINE __attribute__((always_inline)) inline

/* 1-D input transforms B^T d over `a` vectors with stride s. */
AVX2 static INLINE void bt4(v8 *d, int s)
{
    v8 d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
    d[0] = 4 * d0 - 5 * d2 + d4;
    d[s] = -4 * d1 - 4 * d2 + d3 + d4;
    d[2 * s] = 4 * d1 - 4 * d2 - d3 + d4;
    d[3 * s] = -2 * d1 - d2 + 2 * d3 + d4;
    d[4 * s] = 2 * d1 - d2 - 2 * d3 + d4;
    d[5 * s] = 4 * d1 - 5 * d3 + d5;
}

AVX2 static INLINE void bt2(v8 *d, int s)
{
    v8 d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s];
    d[0] = d0 - d2;
    d[s] = d1 + d2;
    d[2 * s] = d2 - d1;
    d[3 * s] = d1 - d3;
}

/* Work items [lo, hi) of a chunk's input transform: (tile, channel block).
 * `a` is a constant in each caller, so the loops unroll and the tile stays
 * in registers as far as they go. */
AVX2 static INLINE void input_tf(const nn_wino *w, const int a, float *V, const float *src,
                                 int64_t t0, int64_t lo, int64_t hi)
{
    int m = a - 2, CB = w->C / 8, H = w->H, W = w->W;
    int64_t Tc = w->Tc;
    size_t C = (size_t)w->C;
    for (int64_t it = lo; it < hi; it++) {
        int64_t tl = it / CB;
        int cb = (int)(it % CB);
        v8 d[36];
        int64_t t = t0 + tl;
        int n = (int)(t / (w->th * w->tw)), r = (int)(t % (w->th * w->tw));
        int y0 = (r / w->tw) * m - w->ph, x0 = (r % w->tw) * m - w->pw;
        const float *base = src + ((size_t)n * (size_t)CB + (size_t)cb) * (size_t)H * (size_t)W * 8;
        if (y0 >= 0 && x0 >= 0 && y0 + a <= H && x0 + a <= W) { /* inside: no bounds tests */
            const float *p = base + ((size_t)y0 * (size_t)W + (size_t)x0) * 8;
#pragma GCC unroll 6
            for (int i = 0; i < a; i++)
#pragma GCC unroll 6
                for (int j = 0; j < a; j++)
                    d[i * a + j] = ld(p + ((size_t)i * (size_t)W + (size_t)j) * 8);
        } else {
#pragma GCC unroll 6
            for (int i = 0; i < a; i++) {
                int y = y0 + i;
#pragma GCC unroll 6
                for (int j = 0; j < a; j++) {
                    int x = x0 + j;
                    d[i * a + j] = (y >= 0 && y < H && x >= 0 && x < W)
                                       ? ld(base + ((size_t)y * (size_t)W + (size_t)x) * 8)
                                       : (v8){0};
                }
            }
        }
#pragma GCC unroll 6
        for (int j = 0; j < a; j++) /* columns */
            a == 6 ? bt4(d + j, a) : bt2(d + j, a);
#pragma GCC unroll 6
        for (int i = 0; i < a; i++) /* rows */
            a == 6 ? bt4(d + i * a, 1) : bt2(d + i * a, 1);
#pragma GCC unroll 36
        for (int xi = 0; xi < a * a; xi++)
            st(V + ((size_t)xi * (size_t)Tc + (size_t)tl) * C + (size_t)cb * 8, d[xi]);
    }
}

AVX2 static void input_transform(const nn_wino *w, float *V, const float *src, int64_t t0,
                                 int64_t lo, int64_t hi)
{
    if (w->a == 6)
        input_tf(w, 6, V, src, t0, lo, hi);
    else
        input_tf(w, 4, V, src, t0, lo, hi);
}

AVX2 static inline v8 sigm(v8 x)
{
    v8 r;
    for (int l = 0; l < 8; l++)
        r[l] = 1.0f / (1.0f + expf(-x[l]));
    return r;
}

/* A chunk's output transform for tiles [0, nt) and 8-channel blocks
 * [kb0, kb1). */
AVX2 static INLINE void output_tf(const nn_wino *w, const int a, const float *M, float *dst,
                                  const float *res, const float *bias, int act, float alpha,
                                  int64_t t0, int64_t nt, int kb0, int kb1)
{
    int m = a - 2, KB = w->K / 8, OH = w->OH, OW = w->OW;
    int64_t Tc = w->Tc;
    size_t K = (size_t)w->Kp;
    for (int64_t tl = 0; tl < nt; tl++) {
        int64_t tt = t0 + tl;
        int n = (int)(tt / (w->th * w->tw)), rr = (int)(tt % (w->th * w->tw));
        int y0 = (rr / w->tw) * m, x0 = (rr % w->tw) * m;
        for (int kb = kb0; kb < kb1; kb++) {
            v8 q[36], o[16];
#pragma GCC unroll 36
            for (int xi = 0; xi < a * a; xi++)
                q[xi] = ld(M + ((size_t)xi * (size_t)Tc + (size_t)tl) * K + (size_t)kb * 8);
            /* A^T q A: columns then rows */
            v8 t[4][6];
#pragma GCC unroll 6
            for (int j = 0; j < a; j++) {
                if (a == 6) {
                    v8 m0 = q[j], m1 = q[6 + j], m2 = q[12 + j], m3 = q[18 + j], m4 = q[24 + j],
                       m5 = q[30 + j];
                    t[0][j] = m0 + m1 + m2 + m3 + m4;
                    t[1][j] = m1 - m2 + 2 * m3 - 2 * m4;
                    t[2][j] = m1 + m2 + 4 * m3 + 4 * m4;
                    t[3][j] = m1 - m2 + 8 * m3 - 8 * m4 + m5;
                } else {
                    v8 m0 = q[j], m1 = q[4 + j], m2 = q[8 + j], m3 = q[12 + j];
                    t[0][j] = m0 + m1 + m2;
                    t[1][j] = m1 - m2 - m3;
                }
            }
            v8 b = bias ? ld(bias + (size_t)kb * 8) : (v8){0};
#pragma GCC unroll 4
            for (int i = 0; i < m; i++) {
                v8 *r = t[i];
                if (a == 6) {
                    o[i * 4 + 0] = r[0] + r[1] + r[2] + r[3] + r[4] + b;
                    o[i * 4 + 1] = r[1] - r[2] + 2 * r[3] - 2 * r[4] + b;
                    o[i * 4 + 2] = r[1] + r[2] + 4 * r[3] + 4 * r[4] + b;
                    o[i * 4 + 3] = r[1] - r[2] + 8 * r[3] - 8 * r[4] + r[5] + b;
                } else {
                    o[i * 4 + 0] = r[0] + r[1] + r[2] + b;
                    o[i * 4 + 1] = r[1] - r[2] - r[3] + b;
                }
            }
            size_t plane = ((size_t)n * (size_t)KB + (size_t)kb) * (size_t)OH * (size_t)OW * 8;
            for (int i = 0; i < m && y0 + i < OH; i++) {
                for (int j = 0; j < m && x0 + j < OW; j++) {
                    size_t off = plane + ((size_t)(y0 + i) * (size_t)OW + (size_t)(x0 + j)) * 8;
                    v8 v = o[i * 4 + j];
                    if (res)
                        v += ld(res + off);
                    if (act == 1) { /* relu / leaky relu: max(v, alpha v), alpha in [0, 1] */
                        v = __builtin_ia32_maxps256(v, v * alpha);
                    } else if (act == 2) { /* silu */
                        v = v * sigm(v);
                    } else if (act == 3) {
                        v = sigm(v);
                    }
                    st(dst + off, v);
                }
            }
        }
    }
}

AVX2 static void output_transform(const nn_wino *w, const float *M, float *dst, const float *res,
                                  const float *bias, int act, float alpha, int64_t t0, int64_t nt,
                                  int kb0, int kb1)
{
    if (w->a == 6)
        output_tf(w, 6, M, dst, res, bias, act, alpha, t0, nt, kb0, kb1);
    else
        output_tf(w, 4, M, dst, res, bias, act, alpha, t0, nt, kb0, kb1);
}

/* C[r][0..15] (+)= sum_k A[r][k] B[k][0..15] for ROWS rows, k < nk; B is
 * a packed panel (nk x 16) of floats (_f) or half floats (_h), A and C
 * row-major with strides lda, ldc; acc_in adds to what C holds. While it
 * runs, pf (when not NULL) is prefetched, one line of pfs bytes per k. */
#define LOADF(B, k, h) _mm256_load_ps((const float *)(B) + (size_t)(k) * 16 + (h))
#define LOADH(B, k, h)                                                                            \
    _mm256_cvtph_ps(_mm_load_si128((const __m128i *)((const uint16_t *)(B) + (size_t)(k) * 16 + (h))))
#define GEMM_KERNEL(ROWS, SUF, LOAD)                                                              \
    __attribute__((target("avx2,fma,f16c"))) static void kern##ROWS##SUF(                         \
        const float *A, size_t lda, const void *B, int nk, float *C, size_t ldc, bool acc_in,     \
        const char *pf, size_t pfs)                                                               \
    {                                                                                             \
        __m256 acc[ROWS][2];                                                                      \
        _Pragma("GCC unroll 6") for (int r = 0; r < ROWS; r++) {                                  \
            acc[r][0] = acc_in ? _mm256_loadu_ps(C + (size_t)r * ldc) : _mm256_setzero_ps();      \
            acc[r][1] = acc_in ? _mm256_loadu_ps(C + (size_t)r * ldc + 8) : _mm256_setzero_ps();  \
        }                                                                                         \
        for (int k = 0; k < nk; k++) {                                                            \
            __m256 b0 = LOAD(B, k, 0);                                                            \
            __m256 b1 = LOAD(B, k, 8);                                                            \
            if (pf)                                                                               \
                _mm_prefetch(pf + (size_t)k * pfs, _MM_HINT_T0);                                  \
            _Pragma("GCC unroll 6") for (int r = 0; r < ROWS; r++) {                              \
                __m256 av = _mm256_broadcast_ss(A + (size_t)r * lda + (size_t)k);                 \
                acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);                                   \
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);                                   \
            }                                                                                     \
        }                                                                                         \
        _Pragma("GCC unroll 6") for (int r = 0; r < ROWS; r++) {                                  \
            _mm256_storeu_ps(C + (size_t)r * ldc, acc[r][0]);                                     \
            _mm256_storeu_ps(C + (size_t)r * ldc + 8, acc[r][1]);                                 \
        }                                                                                         \
    }
#define GEMM_KERNELS(SUF, LOAD)                                                                   \
    GEMM_KERNEL(6, SUF, LOAD)                                                                     \
    GEMM_KERNEL(5, SUF, LOAD)                                                                     \
    GEMM_KERNEL(4, SUF, LOAD)                                                                     \
    GEMM_KERNEL(3, SUF, LOAD)                                                                     \
    GEMM_KERNEL(2, SUF, LOAD)                                                                     \
    GEMM_KERNEL(1, SUF, LOAD)
GEMM_KERNELS(_f, LOADF)
GEMM_KERNELS(_h, LOADH)

typedef void (*kern_fn)(const float *, size_t, const void *, int, float *, size_t, bool,
                        const char *, size_t);
static const kern_fn KERN_F[7] = {NULL, kern1_f, kern2_f, kern3_f, kern4_f, kern5_f, kern6_f};
static const kern_fn KERN_H[7] = {NULL, kern1_h, kern2_h, kern3_h, kern4_h, kern5_h, kern6_h};

/* The same on AVX-512 over two adjacent panels (32 columns: B is the first
 * panel, the second starts bs bytes after it): one zmm of each per k and
 * up to 12 rows, 24 accumulators of the 32 registers. Twice the columns per
 * instruction and twice the rows per loaded B of the AVX2 kernel. */
#define LOADF16(B, k) _mm512_loadu_ps((const float *)(B) + (size_t)(k) * 16)
#define LOADH16(B, k)                                                                             \
    _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)(B) + (size_t)(k) * 16)))
#define GEMM512_KERNEL(ROWS, SUF, LOAD)                                                           \
    __attribute__((target("avx512f"))) static void k512_##ROWS##SUF(                             \
        const float *A, size_t lda, const void *B, size_t bs, int nk, float *C, size_t ldc,       \
        bool acc_in, const char *pf, size_t pfs)                                                  \
    {                                                                                             \
        const char *B1 = (const char *)B + bs;                                                    \
        __m512 acc[ROWS][2];                                                                      \
        _Pragma("GCC unroll 12") for (int r = 0; r < ROWS; r++) {                                 \
            acc[r][0] = acc_in ? _mm512_loadu_ps(C + (size_t)r * ldc) : _mm512_setzero_ps();      \
            acc[r][1] = acc_in ? _mm512_loadu_ps(C + (size_t)r * ldc + 16) : _mm512_setzero_ps(); \
        }                                                                                         \
        for (int k = 0; k < nk; k++) {                                                            \
            __m512 b0 = LOAD(B, k);                                                               \
            __m512 b1 = LOAD(B1, k);                                                              \
            if (pf) {                                                                             \
                _mm_prefetch(pf + (size_t)k * pfs, _MM_HINT_T0);                                  \
                _mm_prefetch(pf + bs + (size_t)k * pfs, _MM_HINT_T0);                             \
            }                                                                                     \
            _Pragma("GCC unroll 12") for (int r = 0; r < ROWS; r++) {                             \
                __m512 av = _mm512_set1_ps(A[(size_t)r * lda + (size_t)k]);                       \
                acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);                                   \
                acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);                                   \
            }                                                                                     \
        }                                                                                         \
        _Pragma("GCC unroll 12") for (int r = 0; r < ROWS; r++) {                                 \
            _mm512_storeu_ps(C + (size_t)r * ldc, acc[r][0]);                                     \
            _mm512_storeu_ps(C + (size_t)r * ldc + 16, acc[r][1]);                                \
        }                                                                                         \
    }
#define GEMM512_KERNELS(SUF, LOAD)                                                                \
    GEMM512_KERNEL(12, SUF, LOAD)                                                                 \
    GEMM512_KERNEL(11, SUF, LOAD)                                                                 \
    GEMM512_KERNEL(10, SUF, LOAD)                                                                 \
    GEMM512_KERNEL(9, SUF, LOAD)                                                                  \
    GEMM512_KERNEL(8, SUF, LOAD)                                                                  \
    GEMM512_KERNEL(7, SUF, LOAD)                                                                  \
    GEMM512_KERNEL(6, SUF, LOAD)                                                                  \
    GEMM512_KERNEL(5, SUF, LOAD)                                                                  \
    GEMM512_KERNEL(4, SUF, LOAD)                                                                  \
    GEMM512_KERNEL(3, SUF, LOAD)                                                                  \
    GEMM512_KERNEL(2, SUF, LOAD)                                                                  \
    GEMM512_KERNEL(1, SUF, LOAD)
GEMM512_KERNELS(_f, LOADF16)
GEMM512_KERNELS(_h, LOADH16)

typedef void (*kern512_fn)(const float *, size_t, const void *, size_t, int, float *, size_t,
                           bool, const char *, size_t);
#define K512_ROWS 12
static const kern512_fn K512_F[K512_ROWS + 1] = {
    NULL, k512_1_f, k512_2_f, k512_3_f, k512_4_f, k512_5_f, k512_6_f,
    k512_7_f, k512_8_f, k512_9_f, k512_10_f, k512_11_f, k512_12_f};
static const kern512_fn K512_H[K512_ROWS + 1] = {
    NULL, k512_1_h, k512_2_h, k512_3_h, k512_4_h, k512_5_h, k512_6_h,
    k512_7_h, k512_8_h, k512_9_h, k512_10_h, k512_11_h, k512_12_h};

static bool g_avx512_on = true;
void nn_set_avx512(bool on) { g_avx512_on = on; }

bool nn_wino_avx512_usable(void)
{
    static int ok = -1;
    if (ok < 0) {
        __builtin_cpu_init();
        ok = __builtin_cpu_supports("avx512f");
    }
    return g_avx512_on && ok && nn_wino_usable();
}

/* Input channels per slice of a panel's reduction: every row block of the
 * chunk runs over one slice of U before the next, so U (read from memory
 * once per layer) streams while the FMAs of all rows run, instead of the
 * first row block waiting on memory and the others on the FMA units. */
#define KSLICE 128

/* A chunk's GEMMs M[xi] = V[xi] U[xi] for its first `rows` tiles, on the
 * 16-column panels [p0, p1). */
static void gemms(const nn_wino *w, const float *Vc, float *Mc, int64_t rows, int p0, int p1)
{
    int P = w->Kp / 16, C = w->C, A = w->a * w->a;
    int64_t Tc = w->Tc;
    size_t ldv = (size_t)C, ldm = (size_t)w->Kp, es = w->half ? 2 : 4;
    const kern_fn *kf = w->half ? KERN_H : KERN_F;
    const kern512_fn *kz = w->half ? K512_H : K512_F;
    bool z = nn_wino_avx512_usable();
    /* AVX-512: row blocks of at most 12 rows, of balanced sizes (16 rows are
     * 8 + 8, not 12 + 4) */
    int64_t nb = (rows + K512_ROWS - 1) / K512_ROWS;
    size_t ps = (size_t)C * 16 * es; /* bytes of a panel */
    for (int xi = 0; xi < A; xi++) {
        for (int pn = p0; pn < p1; pn++) {
            const char *U = (const char *)w->U + ((size_t)xi * (size_t)P + (size_t)pn) * ps;
            const float *V = Vc + (size_t)xi * (size_t)Tc * ldv;
            float *M = Mc + (size_t)xi * (size_t)Tc * ldm + (size_t)pn * 16;
            if (z && pn + 1 < p1) { /* panels pn and pn + 1 together */
                for (int k0 = 0; k0 < C; k0 += KSLICE) {
                    int nk = C - k0 < KSLICE ? C - k0 : KSLICE;
                    for (int64_t b = 0; b < nb; b++) {
                        int64_t r = rows * b / nb;
                        int nr = (int)(rows * (b + 1) / nb - r);
                        kz[nr](V + (size_t)r * ldv + (size_t)k0, ldv, U + (size_t)k0 * 16 * es, ps,
                               nk, M + (size_t)r * ldm, ldm, k0 > 0,
                               b > 0              ? NULL
                               : k0 + nk < C      ? U + (size_t)(k0 + nk) * 16 * es
                                                  : U + 2 * ps, /* the next pair */
                               16 * es);
                    }
                }
                pn++;
                continue;
            }
            for (int k0 = 0; k0 < C; k0 += KSLICE) {
                int nk = C - k0 < KSLICE ? C - k0 : KSLICE;
                for (int64_t r = 0; r < rows; r += 6) {
                    int nr = rows - r < 6 ? (int)(rows - r) : 6;
                    /* the first row block fetches the next slice of U (the next
                     * panel's after the last one) while it computes */
                    kf[nr](V + (size_t)r * ldv + (size_t)k0, ldv, U + (size_t)k0 * 16 * es, nk,
                           M + (size_t)r * ldm, ldm, k0 > 0,
                           r == 0 ? U + (size_t)(k0 + nk) * 16 * es : NULL, 16 * es);
                }
            }
        }
    }
}

static inline int64_t share(int64_t n, int t, int nt) { return n * t / nt; }

int nn_wino_run(nn_wino *w, const void *U, const float *src, float *dst, const float *res,
                const float *bias, int act, float alpha, err *e)
{
    (void)e;
    w->U = U;
    int64_t chunks = (w->T + w->Tc - 1) / w->Tc;
    int P = w->Kp / 16, KB = w->K / 8, CB = w->C / 8;
    size_t vsz = (size_t)w->a * (size_t)w->a * (size_t)w->Tc * (size_t)w->C;
    size_t msz = (size_t)w->a * (size_t)w->a * (size_t)w->Tc * (size_t)w->Kp;
    if (w->nbuf > 1 && omp_get_max_threads() <= w->nbuf) {
        /* many chunks: each thread takes whole chunks, no barrier at all (on a
         * busy machine every barrier waits for a descheduled thread), and a
         * chunk's V and M stay in that core's cache */
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t c = 0; c < chunks; c++) {
            int t = omp_get_thread_num();
            float *V = w->V + (size_t)t * vsz, *M = w->M + (size_t)t * msz;
            int64_t t0 = c * w->Tc, nt = w->T - t0 < w->Tc ? w->T - t0 : w->Tc;
            input_transform(w, V, src, t0, 0, nt * CB);
            gemms(w, V, M, nt, 0, P);
            output_transform(w, M, dst, res, bias, act, alpha, t0, nt, 0, KB);
        }
        return 0;
    }
    /* few chunks (batch-1 inference): the threads share each chunk's input
     * transform, then each takes a range of output channels for both the
     * GEMMs and the output transform, which so reads M from its own cache */
#pragma omp parallel
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int p0 = (int)share(P, t, n), p1 = (int)share(P, t + 1, n);
        int kb0 = 2 * p0 < KB ? 2 * p0 : KB, kb1 = 2 * p1 < KB ? 2 * p1 : KB;
        for (int64_t t0 = 0; t0 < w->T; t0 += w->Tc) {
            int64_t nt = w->T - t0 < w->Tc ? w->T - t0 : w->Tc;
            if (t0 > 0) {
#pragma omp barrier
            } /* the previous chunk's GEMMs have read V */
            input_transform(w, w->V, src, t0, share(nt * CB, t, n), share(nt * CB, t + 1, n));
#pragma omp barrier
            gemms(w, w->V, w->M, nt, p0, p1);
            output_transform(w, w->M, dst, res, bias, act, alpha, t0, nt, kb0, kb1);
        }
    }
    return 0;
}
