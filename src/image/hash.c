/*
 * hash.c - perceptual hashes (pHash, dHash), written from their
 * definitions.
 *
 * pHash: reduce the picture to 32x32 gray by area averaging (which is also
 * the low-pass filter that makes the hash ignore noise and JPEG artefacts),
 * take the 2-D DCT-II, keep the 8x8 lowest frequencies except the DC term
 * and the first row and column (u, v in 1..8: the DC term only says how
 * bright the picture is and the first row/column are dominated by it), and
 * set one bit per coefficient above the median of the 64. Only the signs
 * relative to the median matter, so the DCT needs no normalisation, and
 * only the 9 lowest frequencies per axis are computed (9x32 cosines).
 *
 * dHash: reduce to 9x8, one bit per horizontal neighbour pair, set when
 * the left pixel is brighter. Cheaper and less robust; useful as a second
 * opinion.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/internal.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* gray -> w x h by area averaging, into out (w*h bytes). */
static bool shrink_gray(const uint8_t *gray, uint32_t w, uint32_t h, size_t stride, uint32_t ow,
                        uint32_t oh, uint8_t *out)
{
    image_pixels src = {(uint8_t *)gray, w, h, 1, stride}, dst;
    err e;
    if (px_resize(&src, ow, oh, &dst, &e))
        return false;
    for (uint32_t y = 0; y < oh; y++)
        memcpy(out + y * ow, dst.data + y * dst.stride, ow);
    image_pixels_free(&dst);
    return true;
}

uint64_t image_phash_gray(const uint8_t *gray, uint32_t w, uint32_t h, size_t stride)
{
    enum { N = 32, K = 8 };
    uint8_t s[N * N];
    if (!shrink_gray(gray, w, h, stride, N, N, s))
        return 0;
    double c[K + 1][N]; /* c[u][x] = cos((2x+1) u pi / 2N) */
    for (int u = 0; u <= K; u++)
        for (int x = 0; x < N; x++)
            c[u][x] = cos((2 * x + 1) * u * M_PI / (2 * N));
    double rows[N][K + 1]; /* DCT along x of every row */
    for (int y = 0; y < N; y++)
        for (int u = 1; u <= K; u++) {
            double acc = 0;
            for (int x = 0; x < N; x++)
                acc += s[y * N + x] * c[u][x];
            rows[y][u] = acc;
        }
    double coef[K * K], sorted[K * K];
    for (int v = 1; v <= K; v++)
        for (int u = 1; u <= K; u++) {
            double acc = 0;
            for (int y = 0; y < N; y++)
                acc += rows[y][u] * c[v][y];
            /* A flat picture has all these at 0 up to rounding noise
             * (~1e-10), which must not decide bits. */
            coef[(v - 1) * K + (u - 1)] = fabs(acc) < 1e-6 ? 0 : acc;
        }
    memcpy(sorted, coef, sizeof coef);
    qsort(sorted, K * K, sizeof *sorted, cmp_double);
    double median = (sorted[K * K / 2 - 1] + sorted[K * K / 2]) / 2;
    uint64_t hash = 0;
    for (int i = 0; i < K * K; i++)
        if (coef[i] > median)
            hash |= 1ull << (63 - i);
    return hash;
}

uint64_t image_dhash_gray(const uint8_t *gray, uint32_t w, uint32_t h, size_t stride)
{
    uint8_t s[9 * 8];
    if (!shrink_gray(gray, w, h, stride, 9, 8, s))
        return 0;
    uint64_t hash = 0;
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            if (s[y * 9 + x] > s[y * 9 + x + 1])
                hash |= 1ull << (63 - (y * 8 + x));
    return hash;
}

int image_hash(const void *data, size_t n, image_hashes *out, err *e)
{
    memset(out, 0, sizeof *out);
    /* Decoding at >= 64 px keeps the area average meaningful for 32x32. */
    image_decode_opts o = {.channels = 1, .target_side = 64};
    image_pixels px;
    if (image_decode(data, n, &o, &px, e))
        return -1;
    out->phash = image_phash_gray(px.data, px.width, px.height, px.stride);
    out->dhash = image_dhash_gray(px.data, px.width, px.height, px.stride);
    image_pixels_free(&px);
    return 0;
}
