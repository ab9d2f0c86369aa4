/*
 * aug.c - the random number generator and data augmentation.
 *
 * Every random choice for a sample comes from an nn_rng seeded with
 * nn_sample_seed(run seed, epoch, index), so a sample looks the same
 * whatever thread prepares it and however many threads there are. The
 * draws happen in a fixed order whether or not a transform is enabled.
 *
 * Geometry (random resized crop, translation, flips, rotation) is composed
 * into one map from output to source coordinates and sampled once,
 * bilinearly, with zero outside the image; for strong downscaling several
 * samples per output pixel are averaged (no aliasing on big photos). Then
 * channel conversion, colour jitter on [0,1] values, and normalisation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

/* --- xoshiro256** ------------------------------------------------------------ */

void nn_rng_seed(nn_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = nn_splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nn_rng_next(nn_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

float nn_rng_uniform(nn_rng *r) { return (float)(nn_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

double nn_rng_normal(nn_rng *r)
{
    /* Box-Muller; u1 in (0, 1] */
    double u1 = ((double)(nn_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = (double)(nn_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t nn_sample_seed(uint64_t seed, int64_t epoch, int64_t i)
{
    uint64_t x = seed ^ 0x6a09e667f3bcc909ULL;
    uint64_t a = nn_splitmix64(&x);
    x = a ^ ((uint64_t)epoch * 0xbb67ae8584caa73bULL);
    uint64_t b = nn_splitmix64(&x);
    x = b ^ ((uint64_t)i * 0x3c6ef372fe94f82bULL);
    return nn_splitmix64(&x);
}

/* --- sampling ----------------------------------------------------------------------- */

/* Bilinear sample of channel ch at (x, y) in pixel coordinates (pixel
 * centres at integers); 0 outside. */
static inline float sample(const nn_image *im, int ch, float x, float y)
{
    if (x <= -1.0f || y <= -1.0f || x >= (float)im->w || y >= (float)im->h)
        return 0.0f;
    float fx = floorf(x), fy = floorf(y);
    int x0 = (int)fx, y0 = (int)fy;
    float ax = x - fx, ay = y - fy;
    float v00 = 0, v01 = 0, v10 = 0, v11 = 0;
    const uint8_t *d = im->data;
    size_t st = im->stride;
    int c = im->c;
    bool in_x0 = x0 >= 0, in_x1 = x0 + 1 < im->w, in_y0 = y0 >= 0, in_y1 = y0 + 1 < im->h;
    if (in_y0) {
        const uint8_t *row = d + (size_t)y0 * st;
        if (in_x0)
            v00 = row[x0 * c + ch];
        if (in_x1)
            v01 = row[(x0 + 1) * c + ch];
    }
    if (in_y1) {
        const uint8_t *row = d + (size_t)(y0 + 1) * st;
        if (in_x0)
            v10 = row[x0 * c + ch];
        if (in_x1)
            v11 = row[(x0 + 1) * c + ch];
    }
    return (v00 * (1 - ax) + v01 * ax) * (1 - ay) + (v10 * (1 - ax) + v11 * ax) * ay;
}

int nn_augment(const nn_aug *a, const nn_image *src, uint64_t seed, float *dst, err *e)
{
    int ow = a->out_w, oh = a->out_h, oc = a->out_c;
    if (ow < 1 || oh < 1 || ow > NN_MAX_DIM || oh > NN_MAX_DIM || (oc != 1 && oc != 3))
        return err_set(e, ERR_INVALID, "augmentation output must be 1 or 3 channels of 1-%d px",
                       NN_MAX_DIM);
    if (!src->data || src->w < 1 || src->h < 1 || src->c < 1 || src->c > 4 ||
        src->stride < (size_t)src->w * (size_t)src->c)
        return err_set(e, ERR_INVALID, "image of %dx%dx%d is not valid", src->w, src->h, src->c);
    nn_rng r;
    nn_rng_seed(&r, seed);
    float u[12];
    for (int i = 0; i < 12; i++)
        u[i] = nn_rng_uniform(&r);

    /* crop rectangle in source pixels */
    float W = (float)src->w, H = (float)src->h;
    float cx0 = 0, cy0 = 0, cw = W, ch = H;
    if (a->scale_min > 0) {
        nn_rng cr;
        nn_rng_seed(&cr, seed ^ 0xc0ffee);
        float smax = a->scale_max > 0 ? a->scale_max : 1.0f;
        float rmin = a->ratio_min > 0 ? a->ratio_min : 3.0f / 4.0f;
        float rmax = a->ratio_max > 0 ? a->ratio_max : 4.0f / 3.0f;
        bool ok = false;
        for (int t = 0; t < 10 && !ok; t++) {
            float area = W * H * (a->scale_min + (smax - a->scale_min) * nn_rng_uniform(&cr));
            float lr = logf(rmin) + (logf(rmax) - logf(rmin)) * nn_rng_uniform(&cr);
            float ratio = expf(lr);
            float w = sqrtf(area * ratio), h = sqrtf(area / ratio);
            float px = nn_rng_uniform(&cr), py = nn_rng_uniform(&cr);
            if (w <= W && h <= H && w >= 1 && h >= 1) {
                cw = w;
                ch = h;
                cx0 = (W - w) * px;
                cy0 = (H - h) * py;
                ok = true;
            }
        }
    }
    bool hf = a->hflip && u[0] < 0.5f, vf = a->vflip && u[1] < 0.5f;
    float theta = a->rotate_deg * (2 * u[2] - 1) * (float)(M_PI / 180.0);
    float tx = a->pad * (2 * u[3] - 1), ty = a->pad * (2 * u[4] - 1);
    float bri = 1 + a->brightness * (2 * u[5] - 1);
    float con = 1 + a->contrast * (2 * u[6] - 1);
    float sat = 1 + a->saturation * (2 * u[7] - 1);

    /* output (u, v) -> source (x, y): x = ox + axx*u + axy*v, y = oy + ayx*u + ayy*v */
    float sx = cw / (float)ow, sy = ch / (float)oh;
    float cs = cosf(theta), sn = sinf(theta);
    float fx = hf ? -1.0f : 1.0f, fy = vf ? -1.0f : 1.0f;
    /* offsets from the crop centre, in source pixels, of output pixel (u, v) */
    /* du = fx*(u + 0.5 - ow/2 - tx)*sx, dv = fy*(v + 0.5 - oh/2 - ty)*sy */
    float axx = cs * fx * sx, axy = -sn * fy * sy;
    float ayx = sn * fx * sx, ayy = cs * fy * sy;
    float u0 = 0.5f - (float)ow / 2 - tx, v0 = 0.5f - (float)oh / 2 - ty;
    float ccx = cx0 + cw / 2 - 0.5f, ccy = cy0 + ch / 2 - 0.5f;
    float ox = ccx + axx * u0 + axy * v0, oy = ccy + ayx * u0 + ayy * v0;
    int ss = (int)ceilf(fmaxf(sx, sy) - 0.01f); /* supersampling for downscaling */
    if (ss < 1)
        ss = 1;
    if (ss > 4)
        ss = 4;

    size_t plane = (size_t)ow * (size_t)oh;
    int sc = src->c >= 3 ? 3 : 1; /* source colour channels used */
    for (int v = 0; v < oh; v++) {
        for (int uu = 0; uu < ow; uu++) {
            float acc[3] = {0, 0, 0};
            for (int j = 0; j < ss; j++) {
                for (int i = 0; i < ss; i++) {
                    float du = (float)uu + ((float)i + 0.5f) / (float)ss - 0.5f;
                    float dv = (float)v + ((float)j + 0.5f) / (float)ss - 0.5f;
                    float x = ox + axx * du + axy * dv, y = oy + ayx * du + ayy * dv;
                    for (int k = 0; k < sc; k++)
                        acc[k] += sample(src, k, x, y);
                }
            }
            float norm = 1.0f / (255.0f * (float)(ss * ss));
            size_t o = (size_t)v * (size_t)ow + (size_t)uu;
            if (oc == 1) {
                float g = sc == 3 ? 0.299f * acc[0] + 0.587f * acc[1] + 0.114f * acc[2] : acc[0];
                dst[o] = g * norm;
            } else {
                for (int k = 0; k < 3; k++)
                    dst[(size_t)k * plane + o] = acc[sc == 3 ? k : 0] * norm;
            }
        }
    }

    /* colour jitter: brightness, contrast (around the mean grey), saturation */
    if (a->brightness > 0 || a->contrast > 0 || a->saturation > 0) {
        double mean = 0;
        for (size_t o = 0; o < plane; o++) {
            float g = oc == 3 ? 0.299f * dst[o] + 0.587f * dst[plane + o] +
                                    0.114f * dst[2 * plane + o]
                              : dst[o];
            mean += g;
        }
        float mg = (float)(mean / (double)plane) * bri;
        for (size_t o = 0; o < plane; o++) {
            float px[3];
            for (int k = 0; k < oc; k++)
                px[k] = dst[(size_t)k * plane + o] * bri;
            for (int k = 0; k < oc; k++)
                px[k] = (px[k] - mg) * con + mg;
            if (oc == 3) {
                float g = 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2];
                for (int k = 0; k < 3; k++)
                    px[k] = g + (px[k] - g) * sat;
            }
            for (int k = 0; k < oc; k++)
                dst[(size_t)k * plane + o] = px[k] < 0 ? 0 : px[k] > 1 ? 1 : px[k];
        }
    }
    for (int k = 0; k < oc; k++) {
        float m = a->mean[k], s = a->std[k] > 0 ? a->std[k] : 1.0f;
        float *d = dst + (size_t)k * plane;
        for (size_t o = 0; o < plane; o++)
            d[o] = (d[o] - m) / s;
    }
    return 0;
}
