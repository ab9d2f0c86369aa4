/*
 * bmp.c - a BMP decoder, written from the Windows bitmap format description.
 *
 * libvips reads BMP only through ImageMagick, a loader we keep blocked (it
 * is marked untrusted and pulls in a second image stack), so BMP has its own
 * small decoder: palette images of 1, 4 and 8 bits, RLE8 and RLE4, 16 bits
 * (5-5-5 or bit fields), 24 bits, 32 bits (plain, bit fields, alpha).
 * Rows are bottom-up unless the height is negative.
 *
 * probe.c has already checked the header and, for uncompressed data, that
 * every row is inside the file; RLE streams are checked as they are read
 * (a stream that ends early leaves the remaining pixels black, as Windows
 * does; a run that would write outside the image is an error).
 */
#include <string.h>

#include "image/internal.h"

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* A channel described by a bit mask: shift and width, scaled to 8 bits. */
typedef struct mask {
    uint32_t m;
    int shift, bits;
} mask;

static mask mask_make(uint32_t m)
{
    mask k = {m, 0, 0};
    if (!m)
        return k;
    while (!(m >> k.shift & 1))
        k.shift++;
    while (k.shift + k.bits < 32 && (m >> (k.shift + k.bits) & 1))
        k.bits++;
    return k;
}

static uint8_t mask_get(const mask *k, uint32_t v)
{
    if (!k->bits)
        return 0;
    uint32_t x = (v & k->m) >> k->shift;
    uint32_t max = k->bits >= 32 ? 0xFFFFFFFFu : (1u << k->bits) - 1;
    if (k->bits > 8)
        return (uint8_t)(x >> (k->bits - 8));
    return (uint8_t)((x * 255 + max / 2) / max);
}

static int decode_rle(const uint8_t *d, size_t n, size_t pos, uint32_t w, uint32_t h, bool rle4,
                      const uint8_t (*pal)[3], uint32_t npal, bool topdown, image_pixels *out,
                      err *e)
{
    uint32_t x = 0, y = 0; /* y counts rows in file order */
    while (pos + 2 <= n) {
        uint8_t a = d[pos], b = d[pos + 1];
        pos += 2;
        if (a > 0) { /* encoded run of a pixels */
            for (uint32_t i = 0; i < a; i++, x++) {
                if (x >= w || y >= h)
                    return err_set(e, ERR_UNPROCESSABLE, "corrupt BMP: RLE run outside the image");
                uint8_t idx = rle4 ? ((i & 1) ? (b & 15) : (b >> 4)) : b;
                uint32_t row = topdown ? y : h - 1 - y;
                memcpy(out->data + row * out->stride + (size_t)x * 3, pal[idx < npal ? idx : 0], 3);
            }
        } else if (b == 0) { /* end of line */
            x = 0;
            y++;
        } else if (b == 1) { /* end of bitmap */
            return 0;
        } else if (b == 2) { /* delta */
            if (pos + 2 > n)
                break;
            x += d[pos];
            y += d[pos + 1];
            pos += 2;
        } else { /* absolute run of b pixels, padded to 16 bits */
            size_t bytes = rle4 ? (b + 1u) / 2 : b;
            if (pos + bytes > n)
                break;
            for (uint32_t i = 0; i < b; i++, x++) {
                if (x >= w || y >= h)
                    return err_set(e, ERR_UNPROCESSABLE, "corrupt BMP: RLE run outside the image");
                uint8_t v = d[pos + (rle4 ? i / 2 : i)];
                uint8_t idx = rle4 ? ((i & 1) ? (v & 15) : (v >> 4)) : v;
                uint32_t row = topdown ? y : h - 1 - y;
                memcpy(out->data + row * out->stride + (size_t)x * 3, pal[idx < npal ? idx : 0], 3);
            }
            pos += bytes + (bytes & 1);
        }
    }
    return 0; /* stream ended without an end-of-bitmap: keep what we have */
}

int bmp_decode(const uint8_t *d, size_t n, const image_info *info, image_pixels *out, err *e)
{
    uint32_t off = le32(d + 10), hsize = le32(d + 14), bpp, comp = 0, nclr = 0;
    bool topdown = false, core = hsize == 12;
    if (core) {
        bpp = le16(d + 24);
    } else {
        topdown = (int32_t)le32(d + 22) < 0;
        bpp = le16(d + 28);
        comp = le32(d + 30);
        nclr = le32(d + 46);
    }
    uint32_t w = info->stored_width, h = info->stored_height;
    uint8_t ch = info->has_alpha ? 4 : 3;
    if (px_alloc(out, w, h, ch, e))
        return -1;
    memset(out->data, 0, out->stride * h);

    /* palette (stored B, G, R, [reserved]) */
    uint8_t pal[256][3];
    uint32_t npal = 0;
    if (bpp <= 8) {
        size_t psize = core ? 3 : 4, ppos = 14 + (size_t)hsize;
        npal = nclr && nclr <= (1u << bpp) ? nclr : 1u << bpp;
        for (uint32_t i = 0; i < npal; i++) {
            size_t p = ppos + i * psize;
            if (p + 3 > off || p + 3 > n) {
                npal = i;
                break;
            }
            pal[i][0] = d[p + 2];
            pal[i][1] = d[p + 1];
            pal[i][2] = d[p];
        }
        if (npal == 0) {
            image_pixels_free(out);
            return err_set(e, ERR_UNPROCESSABLE, "corrupt BMP: a %u-bit image without a palette", bpp);
        }
    }
    if (comp == 1 || comp == 2) {
        if (decode_rle(d, n, off, w, h, comp == 2, (const uint8_t(*)[3])pal, npal, topdown, out, e)) {
            image_pixels_free(out);
            return -1;
        }
        return 0;
    }

    mask mr, mg, mb, ma = {0, 0, 0};
    if (comp == 3 || comp == 6) {
        size_t mpos = 14 + 40;
        if (mpos + 16 > n) {
            image_pixels_free(out);
            return err_set(e, ERR_UNPROCESSABLE, "truncated BMP: no room for the colour masks");
        }
        mr = mask_make(le32(d + mpos));
        mg = mask_make(le32(d + mpos + 4));
        mb = mask_make(le32(d + mpos + 8));
        if (ch == 4)
            ma = mask_make(le32(d + mpos + 12));
    } else if (bpp == 16) {
        mr = mask_make(0x7C00), mg = mask_make(0x03E0), mb = mask_make(0x001F);
    } else {
        mr = mask_make(0xFF0000), mg = mask_make(0xFF00), mb = mask_make(0xFF);
    }
    size_t row = (((size_t)w * bpp + 31) / 32) * 4;
    for (uint32_t y = 0; y < h; y++) {
        const uint8_t *s = d + off + (size_t)(topdown ? y : h - 1 - y) * row;
        uint8_t *o = out->data + (size_t)y * out->stride;
        for (uint32_t x = 0; x < w; x++, o += ch) {
            if (bpp <= 8) {
                uint32_t bit = x * bpp;
                uint8_t idx = (uint8_t)(s[bit / 8] >> (8 - bpp - bit % 8) & ((1u << bpp) - 1));
                memcpy(o, pal[idx < npal ? idx : 0], 3);
            } else if (bpp == 24) {
                o[0] = s[x * 3 + 2];
                o[1] = s[x * 3 + 1];
                o[2] = s[x * 3];
            } else {
                uint32_t v = bpp == 16 ? le16(s + x * 2) : le32(s + (size_t)x * 4);
                o[0] = mask_get(&mr, v);
                o[1] = mask_get(&mg, v);
                o[2] = mask_get(&mb, v);
                if (ch == 4)
                    o[3] = ma.bits ? mask_get(&ma, v) : 255;
            }
        }
    }
    return 0;
}
