/*
 * image_gen.h - test images made in the test: pixels from a seeded
 * generator, encoded with libvips (JPEG, PNG, WebP, TIFF) or by hand (BMP,
 * big-endian TIFF, EXIF blobs), so the repository holds no binary fixtures.
 * Everything is static inline: it is included by several test files.
 */
#ifndef CVOPS_TEST_IMAGE_GEN_H
#define CVOPS_TEST_IMAGE_GEN_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "image/image.h"

typedef struct tbytes {
    uint8_t *p;
    size_t n;
} tbytes;

static inline void tb_free(tbytes *b)
{
    free(b->p);
    b->p = NULL;
    b->n = 0;
}

static inline uint64_t t_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Photo-like RGB content: a diagonal gradient, a few dozen soft-edged
 * ellipses of random colours, and pixel noise. Different seeds give
 * unrelated pictures. */
static inline uint8_t *t_photo(int w, int h, uint64_t seed)
{
    uint8_t *px = malloc((size_t)w * h * 3);
    cr_assert_not_null(px);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    int g0[3], g1[3];
    for (int c = 0; c < 3; c++) {
        g0[c] = (int)(t_rand(&s) % 256);
        g1[c] = (int)(t_rand(&s) % 256);
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double t = ((double)x / w + (double)y / h) / 2;
            for (int c = 0; c < 3; c++)
                px[((size_t)y * w + x) * 3 + c] = (uint8_t)(g0[c] + (g1[c] - g0[c]) * t);
        }
    for (int k = 0; k < 24; k++) {
        double cx = (double)(t_rand(&s) % 1000) / 1000 * w, cy = (double)(t_rand(&s) % 1000) / 1000 * h;
        double rx = (0.05 + (double)(t_rand(&s) % 1000) / 4000) * w;
        double ry = (0.05 + (double)(t_rand(&s) % 1000) / 4000) * h;
        uint8_t col[3] = {(uint8_t)t_rand(&s), (uint8_t)t_rand(&s), (uint8_t)t_rand(&s)};
        int x0 = (int)(cx - rx), x1 = (int)(cx + rx), y0 = (int)(cy - ry), y1 = (int)(cy + ry);
        for (int y = y0 < 0 ? 0 : y0; y < h && y <= y1; y++)
            for (int x = x0 < 0 ? 0 : x0; x < w && x <= x1; x++) {
                double dx = (x - cx) / rx, dy = (y - cy) / ry, d = dx * dx + dy * dy;
                if (d >= 1)
                    continue;
                double a = d < 0.8 ? 0.85 : 0.85 * (1 - d) / 0.2;
                uint8_t *p = px + ((size_t)y * w + x) * 3;
                for (int c = 0; c < 3; c++)
                    p[c] = (uint8_t)(p[c] * (1 - a) + col[c] * a);
            }
    }
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        int v = px[i] + (int)(t_rand(&s) % 17) - 8;
        px[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    return px;
}

/* A flat gray image with a solid marker in the top-left corner:
 * w/5 x h/5, pure red (RGB) or black (gray). */
static inline uint8_t *t_marker(int w, int h, int bands)
{
    uint8_t *px = malloc((size_t)w * h * bands);
    cr_assert_not_null(px);
    memset(px, 160, (size_t)w * h * bands);
    for (int y = 0; y < h / 5; y++)
        for (int x = 0; x < w / 5; x++) {
            uint8_t *p = px + ((size_t)y * w + x) * bands;
            if (bands == 1) {
                p[0] = 0;
            } else {
                p[0] = 255;
                p[1] = 0;
                p[2] = 0;
            }
        }
    return px;
}

/* Encodes pixels with libvips. fmt: a vips suffix with options, e.g.
 * ".jpg[Q=90]", ".png", ".webp[lossless]", ".tif". orientation 0: none. */
static inline tbytes t_encode(const uint8_t *px, int w, int h, int bands, const char *fmt,
                              int orientation)
{
    cr_assert_eq(image_lib_init(NULL), 0);
    VipsImage *img = vips_image_new_from_memory_copy(px, (size_t)w * h * bands, w, h, bands,
                                                     VIPS_FORMAT_UCHAR);
    cr_assert_not_null(img, "%s", vips_error_buffer());
    if (bands <= 2)
        img->Type = VIPS_INTERPRETATION_B_W;
    else
        img->Type = VIPS_INTERPRETATION_sRGB;
    if (orientation)
        vips_image_set_int(img, "orientation", orientation);
    void *buf = NULL;
    size_t len = 0;
    /* strip: no metadata of vips' own (it writes a default EXIF block) */
    int rc = vips_image_write_to_buffer(img, fmt, &buf, &len, "strip", orientation == 0, NULL);
    cr_assert_eq(rc, 0, "vips %s: %s", fmt, vips_error_buffer());
    g_object_unref(img);
    tbytes b = {malloc(len), len};
    memcpy(b.p, buf, len);
    g_free(buf);
    return b;
}

static inline tbytes t_photo_jpeg(int w, int h, uint64_t seed, int q)
{
    uint8_t *px = t_photo(w, h, seed);
    char fmt[32];
    snprintf(fmt, sizeof fmt, ".jpg[Q=%d]", q);
    tbytes b = t_encode(px, w, h, 3, fmt, 0);
    free(px);
    return b;
}

/* --- hand-made structures ------------------------------------------------ */

static inline void t_put16(uint8_t *p, uint16_t v, bool le)
{
    if (le) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
    else { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
}
static inline void t_put32(uint8_t *p, uint32_t v, bool le)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(le ? v >> (8 * i) : v >> (8 * (3 - i)));
}

/* One TIFF directory entry. SHORT/LONG/BYTE values in v[], RATIONALs as
 * numerator/denominator pairs in v[], ASCII in s (count includes the NUL). */
typedef struct t_tag {
    uint16_t tag, type;
    uint32_t count;
    uint32_t v[8];
    const char *s;
} t_tag;

typedef struct t_tiffbuf {
    uint8_t p[8192];
    size_t n;
    bool le;
} t_tiffbuf;

/* Appends an IFD (entries sorted by the caller) and its out-of-line
 * values; returns its offset. */
static inline uint32_t t_ifd(t_tiffbuf *b, const t_tag *t, int nt, uint32_t next)
{
    static const unsigned tsz[] = {0, 1, 1, 2, 4, 8};
    b->n = (b->n + 1) & ~(size_t)1;
    uint32_t off = (uint32_t)b->n;
    size_t data = off + 2 + 12 * (size_t)nt + 4;
    t_put16(b->p + off, (uint16_t)nt, b->le);
    for (int i = 0; i < nt; i++) {
        uint8_t *en = b->p + off + 2 + 12 * i;
        t_put16(en, t[i].tag, b->le);
        t_put16(en + 2, t[i].type, b->le);
        t_put32(en + 4, t[i].count, b->le);
        size_t size = tsz[t[i].type] * t[i].count;
        uint8_t *dst = en + 8;
        memset(dst, 0, 4);
        if (size > 4) {
            t_put32(en + 8, (uint32_t)data, b->le);
            dst = b->p + data;
            data += (size + 1) & ~(size_t)1;
        }
        if (t[i].type == 2)
            memcpy(dst, t[i].s, t[i].count);
        for (uint32_t k = 0; t[i].type != 2 && k < t[i].count * (t[i].type == 5 ? 2 : 1); k++) {
            if (t[i].type == 3)
                t_put16(dst + 2 * k, (uint16_t)t[i].v[k], b->le);
            else if (t[i].type == 1)
                dst[k] = (uint8_t)t[i].v[k];
            else
                t_put32(dst + 4 * k, t[i].v[k], b->le);
        }
    }
    t_put32(b->p + off + 2 + 12 * nt, next, b->le);
    b->n = data;
    cr_assert(b->n < sizeof b->p);
    return off;
}

static inline void t_tiff_header(t_tiffbuf *b, bool le)
{
    memset(b, 0, sizeof *b);
    b->le = le;
    memcpy(b->p, le ? "II" : "MM", 2);
    t_put16(b->p + 2, 42, le);
    b->n = 8;
}

/* The camera EXIF used by the EXIF tests: Canon EOS 5D, orientation given,
 * taken 2021-06-01 12:34:56 +02:00, 48deg 51' 24" N, 2deg 21' 3" E, 35 m,
 * focal length 50 mm, f/2.8. */
static inline t_tiffbuf t_camera_exif(bool le, int orientation)
{
    t_tiffbuf b;
    t_tiff_header(&b, le);
    t_tag exif[] = {
        {0x829d, 5, 1, {28, 10}, NULL},                    /* FNumber 2.8 */
        {0x9003, 2, 20, {0}, "2021:06:01 12:34:56"},       /* DateTimeOriginal */
        {0x9011, 2, 7, {0}, "+02:00"},                     /* OffsetTimeOriginal */
        {0x920a, 5, 1, {50, 1}, NULL},                     /* FocalLength */
    };
    uint32_t exif_off = t_ifd(&b, exif, 4, 0);
    t_tag gps[] = {
        {0x0001, 2, 2, {0}, "N"},
        {0x0002, 5, 3, {48, 1, 51, 1, 24, 1}, NULL},
        {0x0003, 2, 2, {0}, "E"},
        {0x0004, 5, 3, {2, 1, 21, 1, 3, 1}, NULL},
        {0x0005, 1, 1, {0}, NULL},
        {0x0006, 5, 1, {35, 1}, NULL},
    };
    uint32_t gps_off = t_ifd(&b, gps, 6, 0);
    t_tag ifd0[] = {
        {0x010f, 2, 6, {0}, "Canon"},
        {0x0110, 2, 8, {0}, "EOS 5D "},
        {0x0112, 3, 1, {(uint32_t)orientation}, NULL},
        {0x8769, 4, 1, {exif_off}, NULL},
        {0x8825, 4, 1, {gps_off}, NULL},
    };
    uint32_t ifd0_off = t_ifd(&b, ifd0, 5, 0);
    t_put32(b.p + 4, ifd0_off, le);
    return b;
}

/* Just an orientation tag. */
static inline t_tiffbuf t_orientation_exif(bool le, int orientation)
{
    t_tiffbuf b;
    t_tiff_header(&b, le);
    t_tag ifd0[] = {{0x0112, 3, 1, {(uint32_t)orientation}, NULL}};
    t_put32(b.p + 4, t_ifd(&b, ifd0, 1, 0), le);
    return b;
}

/* Inserts an APP1 Exif segment right after SOI. */
static inline tbytes t_jpeg_with_exif(const tbytes *jpeg, const uint8_t *tiff, size_t tn)
{
    size_t seg = 2 + 6 + tn;
    tbytes o = {malloc(jpeg->n + 2 + seg), jpeg->n + 2 + seg};
    memcpy(o.p, jpeg->p, 2);
    o.p[2] = 0xFF;
    o.p[3] = 0xE1;
    o.p[4] = (uint8_t)(seg >> 8);
    o.p[5] = (uint8_t)seg;
    memcpy(o.p + 6, "Exif\0\0", 6);
    memcpy(o.p + 12, tiff, tn);
    memcpy(o.p + 12 + tn, jpeg->p + 2, jpeg->n - 2);
    return o;
}

static inline uint32_t t_crc(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

/* Appends a PNG chunk with its CRC at o (which must have room). */
static inline size_t t_png_chunk(uint8_t *o, const char *type, const uint8_t *data, uint32_t len)
{
    t_put32(o, len, false);
    memcpy(o + 4, type, 4);
    if (len)
        memcpy(o + 8, data, len);
    t_put32(o + 8 + len, t_crc(o + 4, 4 + len), false);
    return 12 + (size_t)len;
}

/* A PNG made of a given IHDR and a small (meaningless) IDAT: enough for
 * probe, which never inflates. */
static inline tbytes t_png_header_only(uint32_t w, uint32_t h, uint8_t depth, uint8_t ctype)
{
    tbytes b = {malloc(128), 0};
    memcpy(b.p, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13];
    t_put32(ihdr, w, false);
    t_put32(ihdr + 4, h, false);
    ihdr[8] = depth;
    ihdr[9] = ctype;
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    size_t n = 8;
    n += t_png_chunk(b.p + n, "IHDR", ihdr, 13);
    n += t_png_chunk(b.p + n, "IDAT", (const uint8_t *)"\x78\x9c\x03\x00\x00\x00\x00\x01", 8);
    n += t_png_chunk(b.p + n, "IEND", NULL, 0);
    b.n = n;
    return b;
}

/* Inserts an eXIf chunk after IHDR. */
static inline tbytes t_png_with_exif(const tbytes *png, const uint8_t *tiff, size_t tn)
{
    tbytes o = {malloc(png->n + 12 + tn), 0};
    memcpy(o.p, png->p, 33); /* signature + IHDR */
    size_t n = 33 + t_png_chunk(o.p + 33, "eXIf", tiff, (uint32_t)tn);
    memcpy(o.p + n, png->p + 33, png->n - 33);
    o.n = n + png->n - 33;
    return o;
}

/* The VP8 or VP8L chunk (header included) of a WebP file. */
static inline tbytes t_webp_frame(const tbytes *webp)
{
    size_t pos = 12;
    while (pos + 8 <= webp->n) {
        uint32_t len = (uint32_t)webp->p[pos + 4] | (uint32_t)webp->p[pos + 5] << 8 |
                       (uint32_t)webp->p[pos + 6] << 16 | (uint32_t)webp->p[pos + 7] << 24;
        if (!memcmp(webp->p + pos, "VP8 ", 4) || !memcmp(webp->p + pos, "VP8L", 4)) {
            size_t n = 8 + len + (len & 1);
            tbytes f = {malloc(n), n};
            memcpy(f.p, webp->p + pos, n);
            return f;
        }
        pos += 8 + len + (len & 1);
    }
    cr_assert_fail("no VP8/VP8L chunk");
    return (tbytes){0};
}

/* libvips always writes the extended format (VP8X); this rewraps its
 * frame as the simple format: RIFF + one VP8/VP8L chunk. */
static inline tbytes t_webp_simple(const tbytes *webp)
{
    tbytes f = t_webp_frame(webp);
    tbytes o = {malloc(12 + f.n), 12 + f.n};
    memcpy(o.p, "RIFF", 4);
    t_put32(o.p + 4, (uint32_t)(4 + f.n), true);
    memcpy(o.p + 8, "WEBP", 4);
    memcpy(o.p + 12, f.p, f.n);
    tb_free(&f);
    return o;
}

/* Rewraps the frame of a WebP as extended format with an EXIF chunk. */
static inline tbytes t_webp_with_exif(const tbytes *webp_in, int w, int h, const uint8_t *tiff,
                                      size_t tn)
{
    tbytes fr = t_webp_frame(webp_in), *webp = &(tbytes){NULL, 0};
    webp->p = malloc(12 + fr.n);
    webp->n = 12 + fr.n;
    memcpy(webp->p + 12, fr.p, fr.n);
    tb_free(&fr);
    size_t img = webp->n - 12, ex = 8 + tn + (tn & 1);
    size_t total = 12 + 18 + img + ex;
    tbytes o = {calloc(1, total), total};
    memcpy(o.p, "RIFF", 4);
    t_put32(o.p + 4, (uint32_t)(total - 8), true);
    memcpy(o.p + 8, "WEBPVP8X", 8);
    t_put32(o.p + 16, 10, true);
    o.p[20] = 0x08; /* EXIF present */
    uint32_t wm = (uint32_t)w - 1, hm = (uint32_t)h - 1;
    o.p[24] = (uint8_t)wm, o.p[25] = (uint8_t)(wm >> 8), o.p[26] = (uint8_t)(wm >> 16);
    o.p[27] = (uint8_t)hm, o.p[28] = (uint8_t)(hm >> 8), o.p[29] = (uint8_t)(hm >> 16);
    memcpy(o.p + 30, webp->p + 12, img);
    memcpy(o.p + 30 + img, "EXIF", 4);
    t_put32(o.p + 34 + img, (uint32_t)tn, true);
    memcpy(o.p + 38 + img, tiff, tn);
    tb_free(webp);
    return o;
}

/* An uncompressed RGB TIFF in either byte order: w x h, one strip. */
static inline tbytes t_tiff_rgb(bool le, const uint8_t *px, int w, int h, int orientation)
{
    t_tiffbuf b;
    t_tiff_header(&b, le);
    size_t img = (size_t)w * h * 3;
    cr_assert(img < 4096);
    uint32_t strip = 8;
    memcpy(b.p + 8, px, img);
    b.n = 8 + img;
    t_tag t[] = {
        {256, 3, 1, {(uint32_t)w}, NULL},   {257, 3, 1, {(uint32_t)h}, NULL},
        {258, 3, 3, {8, 8, 8}, NULL},       {259, 3, 1, {1}, NULL},
        {262, 3, 1, {2}, NULL},             {273, 4, 1, {strip}, NULL},
        {274, 3, 1, {(uint32_t)(orientation ? orientation : 1)}, NULL},
        {277, 3, 1, {3}, NULL},             {278, 3, 1, {(uint32_t)h}, NULL},
        {279, 4, 1, {(uint32_t)img}, NULL},
    };
    t_put32(b.p + 4, t_ifd(&b, t, 10, 0), le);
    tbytes o = {malloc(b.n), b.n};
    memcpy(o.p, b.p, b.n);
    return o;
}

/* BMP writer: bpp 24 (BI_RGB), 32 (BI_BITFIELDS with alpha, v4 header),
 * 8 (palette of the first 256 colours seen; the test images use few).
 * topdown writes a negative height. px is RGB (or RGBA for 32). */
static inline tbytes t_bmp(const uint8_t *px, int w, int h, int bpp, bool topdown)
{
    int ch = bpp == 32 ? 4 : 3;
    size_t row = (((size_t)w * bpp + 31) / 32) * 4;
    uint32_t hsize = bpp == 32 ? 108 : 40, pal = bpp == 8 ? 256 * 4 : 0;
    uint32_t off = 14 + hsize + pal;
    size_t total = off + row * h;
    tbytes b = {calloc(1, total), total};
    uint8_t *p = b.p;
    p[0] = 'B', p[1] = 'M';
    t_put32(p + 2, (uint32_t)total, true);
    t_put32(p + 10, off, true);
    t_put32(p + 14, hsize, true);
    t_put32(p + 18, (uint32_t)w, true);
    t_put32(p + 22, (uint32_t)(topdown ? -h : h), true);
    t_put16(p + 26, 1, true);
    t_put16(p + 28, (uint16_t)bpp, true);
    t_put32(p + 30, bpp == 32 ? 3 : 0, true);
    if (bpp == 32) {
        t_put32(p + 54, 0x00FF0000, true);
        t_put32(p + 58, 0x0000FF00, true);
        t_put32(p + 62, 0x000000FF, true);
        t_put32(p + 66, 0xFF000000, true);
    }
    uint8_t palette[256][3];
    int npal = 0;
    for (int y = 0; y < h; y++) {
        uint8_t *r = p + off + (size_t)(topdown ? y : h - 1 - y) * row;
        for (int x = 0; x < w; x++) {
            const uint8_t *s = px + ((size_t)y * w + x) * ch;
            if (bpp == 24) {
                r[x * 3] = s[2], r[x * 3 + 1] = s[1], r[x * 3 + 2] = s[0];
            } else if (bpp == 32) {
                r[x * 4] = s[2], r[x * 4 + 1] = s[1], r[x * 4 + 2] = s[0], r[x * 4 + 3] = s[3];
            } else {
                int i = 0;
                while (i < npal && memcmp(palette[i], s, 3))
                    i++;
                if (i == npal) {
                    cr_assert(npal < 256);
                    memcpy(palette[npal++], s, 3);
                }
                r[x] = (uint8_t)i;
            }
        }
    }
    for (int i = 0; i < npal; i++) {
        uint8_t *q = p + 14 + hsize + 4 * i;
        q[0] = palette[i][2], q[1] = palette[i][1], q[2] = palette[i][0];
    }
    return b;
}

/* Which quadrant of an RGB/gray image holds the marker (the darkest or
 * reddest corner block): 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right. */
static inline int t_marker_corner(const image_pixels *p)
{
    int best = -1;
    double best_score = -1;
    for (int q = 0; q < 4; q++) {
        uint32_t x0 = (q & 1) ? p->width - p->width / 10 - 1 : p->width / 20;
        uint32_t y0 = (q & 2) ? p->height - p->height / 10 - 1 : p->height / 20;
        const uint8_t *s = p->data + y0 * p->stride + (size_t)x0 * p->channels;
        double score = p->channels == 1 ? 255 - s[0] : (double)s[0] - (s[1] + s[2]) / 2.0;
        if (score > best_score) {
            best_score = score;
            best = q;
        }
    }
    return best;
}

#endif
