/*
 * imgops.c - the pixel operations of the image built-ins, on 8-bit RGB
 * buffers (image_pixels with 3 channels): affine warps with bilinear
 * sampling, crops, resizing (area average down, bilinear up), colour
 * jitter, Gaussian noise and blur, and encoding (JPEG through the image
 * engine, PNG and WebP through libvips).
 *
 * Coordinates follow the annotations: (0, 0) is the top-left corner of the
 * top-left pixel and pixel (i, j) covers [i, i+1) x [j, j+1), so its centre
 * is (i + 0.5, j + 0.5). A warp maps each output pixel centre through the
 * inverse transform and samples the input there; the same forward transform
 * moves the shapes (shapemap.c), so boxes stay on their objects.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "processing/internal.h"

uint64_t proc_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

double proc_uniform(uint64_t *s) { return (double)(proc_rand(s) >> 11) / 9007199254740992.0; }

double proc_gauss(uint64_t *s)
{
    double u = proc_uniform(s), v = proc_uniform(s);
    if (u < 1e-300)
        u = 1e-300;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

int pix_alloc(image_pixels *p, uint32_t w, uint32_t h, err *e)
{
    memset(p, 0, sizeof *p);
    if (w == 0 || h == 0 || (uint64_t)w * h > 400000000ull)
        return err_set(e, ERR_INVALID, "image size %ux%u is out of range", w, h);
    p->data = malloc((size_t)w * h * 3);
    if (!p->data)
        return err_set(e, ERR_INTERNAL, "out of memory for a %ux%u image", w, h);
    p->width = w;
    p->height = h;
    p->channels = 3;
    p->stride = (size_t)w * 3;
    return 0;
}

static inline uint8_t clamp8(double v)
{
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5);
}

int pix_warp(const image_pixels *src, geom_affine inv, uint32_t w, uint32_t h,
            const uint8_t fill[3], image_pixels *out, err *e)
{
    if (pix_alloc(out, w, h, e))
        return -1;
    int sw = (int)src->width, sh = (int)src->height;
    for (uint32_t y = 0; y < h; y++) {
        uint8_t *o = out->data + (size_t)y * out->stride;
        for (uint32_t x = 0; x < w; x++, o += 3) {
            double sx, sy;
            geom_apply(inv, x + 0.5, y + 0.5, &sx, &sy);
            sx -= 0.5;
            sy -= 0.5;
            if (sx < -0.5 || sy < -0.5 || sx > sw - 0.5 || sy > sh - 0.5) {
                o[0] = fill[0];
                o[1] = fill[1];
                o[2] = fill[2];
                continue;
            }
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            double fx = sx - x0, fy = sy - y0;
            int x1 = x0 + 1, y1 = y0 + 1;
            if (x0 < 0)
                x0 = 0;
            if (y0 < 0)
                y0 = 0;
            if (x1 >= sw)
                x1 = sw - 1;
            if (y1 >= sh)
                y1 = sh - 1;
            const uint8_t *p00 = src->data + (size_t)y0 * src->stride + (size_t)x0 * 3;
            const uint8_t *p01 = src->data + (size_t)y0 * src->stride + (size_t)x1 * 3;
            const uint8_t *p10 = src->data + (size_t)y1 * src->stride + (size_t)x0 * 3;
            const uint8_t *p11 = src->data + (size_t)y1 * src->stride + (size_t)x1 * 3;
            for (int c = 0; c < 3; c++) {
                double top = p00[c] + (p01[c] - p00[c]) * fx;
                double bot = p10[c] + (p11[c] - p10[c]) * fx;
                o[c] = clamp8(top + (bot - top) * fy);
            }
        }
    }
    return 0;
}

int pix_crop(const image_pixels *src, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
            image_pixels *out, err *e)
{
    if (x + w > src->width || y + h > src->height)
        return err_set(e, ERR_INTERNAL, "crop outside the image");
    if (pix_alloc(out, w, h, e))
        return -1;
    for (uint32_t r = 0; r < h; r++)
        memcpy(out->data + (size_t)r * out->stride,
               src->data + (size_t)(y + r) * src->stride + (size_t)x * 3, (size_t)w * 3);
    return 0;
}

int pix_resize(const image_pixels *src, uint32_t w, uint32_t h, image_pixels *out, err *e)
{
    if (w >= src->width && h >= src->height) {
        geom_affine inv = geom_scale((double)src->width / w, (double)src->height / h);
        static const uint8_t black[3] = {0, 0, 0};
        return pix_warp(src, inv, w, h, black, out, e);
    }
    if (pix_alloc(out, w, h, e))
        return -1;
    /* area average: each output pixel is the mean of the input area it
     * covers, with fractional weights at the edges */
    double sx = (double)src->width / w, sy = (double)src->height / h;
    double *acc = calloc((size_t)w * 3, sizeof *acc);
    if (!acc)
        return err_set(e, ERR_INTERNAL, "out of memory");
    for (uint32_t oy = 0; oy < h; oy++) {
        memset(acc, 0, (size_t)w * 3 * sizeof *acc);
        double y0 = oy * sy, y1 = (oy + 1) * sy;
        for (uint32_t iy = (uint32_t)y0; iy < src->height && iy < y1; iy++) {
            double wy = fmin(y1, iy + 1.0) - fmax(y0, (double)iy);
            if (wy <= 0)
                continue;
            const uint8_t *row = src->data + (size_t)iy * src->stride;
            for (uint32_t ox = 0; ox < w; ox++) {
                double x0 = ox * sx, x1 = (ox + 1) * sx;
                for (uint32_t ix = (uint32_t)x0; ix < src->width && ix < x1; ix++) {
                    double wx = fmin(x1, ix + 1.0) - fmax(x0, (double)ix);
                    if (wx <= 0)
                        continue;
                    double wgt = wx * wy;
                    for (int c = 0; c < 3; c++)
                        acc[ox * 3 + c] += row[ix * 3 + c] * wgt;
                }
            }
        }
        uint8_t *o = out->data + (size_t)oy * out->stride;
        double norm = 1.0 / (sx * sy);
        for (uint32_t i = 0; i < w * 3; i++)
            o[i] = clamp8(acc[i] * norm);
    }
    free(acc);
    return 0;
}

void pix_color(image_pixels *p, double brightness, double contrast, double saturation)
{
    double sum = 0;
    for (uint32_t y = 0; y < p->height; y++) {
        const uint8_t *r = p->data + (size_t)y * p->stride;
        for (uint32_t x = 0; x < p->width; x++)
            sum += 0.299 * r[x * 3] + 0.587 * r[x * 3 + 1] + 0.114 * r[x * 3 + 2];
    }
    double mean = sum / ((double)p->width * p->height) * brightness;
    for (uint32_t y = 0; y < p->height; y++) {
        uint8_t *r = p->data + (size_t)y * p->stride;
        for (uint32_t x = 0; x < p->width; x++) {
            double c[3];
            for (int k = 0; k < 3; k++)
                c[k] = r[x * 3 + k] * brightness;
            double g = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
            for (int k = 0; k < 3; k++) {
                double v = g + (c[k] - g) * saturation;
                v = mean + (v - mean) * contrast;
                r[x * 3 + k] = clamp8(v);
            }
        }
    }
}

void pix_noise(image_pixels *p, double sigma, uint64_t *rng)
{
    if (sigma <= 0)
        return;
    for (uint32_t y = 0; y < p->height; y++) {
        uint8_t *r = p->data + (size_t)y * p->stride;
        for (uint32_t i = 0; i < p->width * 3; i++)
            r[i] = clamp8(r[i] + proc_gauss(rng) * sigma);
    }
}

int pix_blur(image_pixels *p, double sigma, err *e)
{
    if (sigma < 0.3)
        return 0;
    int rad = (int)ceil(sigma * 3);
    double *k = malloc(sizeof(double) * (size_t)(2 * rad + 1));
    double *line = malloc(sizeof(double) * 3 * (size_t)(p->width > p->height ? p->width : p->height));
    if (!k || !line) {
        free(k);
        free(line);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    double s = 0;
    for (int i = -rad; i <= rad; i++)
        s += k[i + rad] = exp(-(double)(i * i) / (2 * sigma * sigma));
    for (int i = 0; i <= 2 * rad; i++)
        k[i] /= s;
    int w = (int)p->width, h = (int)p->height;
    for (int y = 0; y < h; y++) { /* horizontal */
        uint8_t *r = p->data + (size_t)y * p->stride;
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                double v = 0;
                for (int i = -rad; i <= rad; i++) {
                    int xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
                    v += r[xx * 3 + c] * k[i + rad];
                }
                line[x * 3 + c] = v;
            }
        for (int x = 0; x < w * 3; x++)
            r[x] = clamp8(line[x]);
    }
    for (int x = 0; x < w; x++) { /* vertical */
        for (int y = 0; y < h; y++)
            for (int c = 0; c < 3; c++) {
                double v = 0;
                for (int i = -rad; i <= rad; i++) {
                    int yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
                    v += p->data[(size_t)yy * p->stride + (size_t)x * 3 + c] * k[i + rad];
                }
                line[y * 3 + c] = v;
            }
        for (int y = 0; y < h; y++)
            for (int c = 0; c < 3; c++)
                p->data[(size_t)y * p->stride + (size_t)x * 3 + c] = clamp8(line[y * 3 + c]);
    }
    free(k);
    free(line);
    return 0;
}

int pix_encode(const image_pixels *p, const char *format, int quality, uint8_t **out, size_t *len,
              err *e)
{
    *out = NULL;
    *len = 0;
    if (strcmp(format, "jpeg") == 0)
        return image_encode_jpeg(p, quality, out, len, e);
    if (strcmp(format, "png") != 0 && strcmp(format, "webp") != 0)
        return err_set(e, ERR_INVALID, "cannot write format '%s'", format);
    if (image_lib_init(e))
        return -1;
    size_t row = (size_t)p->width * p->channels;
    uint8_t *packed = NULL;
    const uint8_t *data = p->data;
    if (p->stride != row) {
        packed = malloc(row * p->height);
        if (!packed)
            return err_set(e, ERR_INTERNAL, "out of memory");
        for (uint32_t y = 0; y < p->height; y++)
            memcpy(packed + y * row, p->data + y * p->stride, row);
        data = packed;
    }
    VipsImage *im = vips_image_new_from_memory(data, row * p->height, (int)p->width,
                                               (int)p->height, p->channels, VIPS_FORMAT_UCHAR);
    if (!im) {
        free(packed);
        return err_set(e, ERR_INTERNAL, "libvips: %s", vips_error_buffer());
    }
    void *buf = NULL;
    size_t n = 0;
    int rc = strcmp(format, "png") == 0
                 ? vips_pngsave_buffer(im, &buf, &n, "compression", 6, NULL)
                 : vips_webpsave_buffer(im, &buf, &n, "Q", quality, NULL);
    g_object_unref(im);
    free(packed);
    if (rc != 0) {
        err_set(e, ERR_INTERNAL, "libvips cannot write %s: %s", format, vips_error_buffer());
        vips_error_clear();
        return -1;
    }
    *out = malloc(n);
    if (!*out) {
        g_free(buf);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    memcpy(*out, buf, n);
    *len = n;
    g_free(buf);
    return 0;
}
