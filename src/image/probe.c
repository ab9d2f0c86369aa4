/*
 * probe.c - what is this file? Format by content, dimensions and channels
 * from the headers, refusals before any decode.
 *
 * One reader per format, each a straight walk over the structure the
 * format defines (JPEG markers up to SOS, PNG chunks up to IEND, RIFF
 * chunks, the first TIFF IFD, the BMP DIB header). Every length read from
 * the file is checked against the bytes that remain before it is used, with
 * 64-bit arithmetic so that nothing wraps. The walks are bounded by the
 * file length (every step consumes at least a few bytes), so a probe costs
 * microseconds except for the JPEG EOI search described below.
 *
 * Completeness: for PNG, WebP, TIFF and uncompressed BMP the headers say
 * how long the data is, and a shorter file is refused as truncated. A JPEG
 * does not say; we look for the EOI marker backwards from the end (inside
 * the entropy-coded data 0xFF is always stuffed, so FF D9 there is a real
 * marker) within the last IMAGE_EOI_SEARCH bytes, which tolerates data
 * appended after EOI (motion photos, vendor trailers). Without it the
 * file is accepted with needs_verify set; image_verify() then decodes.
 */
#include <stdio.h>
#include <string.h>

#include "image/internal.h"

#define ACCEPTED "accepted formats are JPEG, PNG, WebP, TIFF, BMP"
#define IMAGE_EOI_SEARCH (16u << 20)

const char *image_format_name(image_format f)
{
    switch (f) {
    case IMAGE_JPEG: return "jpeg";
    case IMAGE_PNG: return "png";
    case IMAGE_WEBP: return "webp";
    case IMAGE_TIFF: return "tiff";
    case IMAGE_BMP: return "bmp";
    default: return "unknown";
    }
}

const char *image_format_mime(image_format f)
{
    switch (f) {
    case IMAGE_JPEG: return "image/jpeg";
    case IMAGE_PNG: return "image/png";
    case IMAGE_WEBP: return "image/webp";
    case IMAGE_TIFF: return "image/tiff";
    case IMAGE_BMP: return "image/bmp";
    default: return "application/octet-stream";
    }
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le24(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16; }
static uint32_t le32(const uint8_t *p) { return le24(p) | (uint32_t)p[3] << 24; }

/* --- JPEG ------------------------------------------------------------------- */

static bool is_sof(uint8_t m)
{
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

static int probe_jpeg(const uint8_t *d, size_t n, image_info *o, err *e)
{
    size_t pos = 2;
    bool have_sof = false;
    for (;;) {
        /* Find the next marker. Bytes other than 0xFF between segments are
         * garbage that libjpeg skips with a warning; we do the same. */
        while (pos < n && d[pos] != 0xFF)
            pos++;
        while (pos < n && d[pos] == 0xFF)
            pos++;
        if (pos >= n)
            return err_set(e, ERR_UNPROCESSABLE,
                           "truncated JPEG: the file ends after %zu bytes, inside the headers "
                           "(before the image data)", n);
        uint8_t m = d[pos++];
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7))
            continue; /* standalone markers */
        if (m == 0xD8 || m == 0xD9)
            return err_set(e, ERR_UNPROCESSABLE,
                           "corrupt JPEG: unexpected %s marker at byte %zu, before the image data",
                           m == 0xD8 ? "SOI" : "EOI", pos - 2);
        if (pos + 2 > n)
            return err_set(e, ERR_UNPROCESSABLE,
                           "truncated JPEG: the file ends after %zu bytes, inside the headers", n);
        size_t len = be16(d + pos);
        if (len < 2)
            return err_set(e, ERR_UNPROCESSABLE,
                           "corrupt JPEG: segment 0xFF%02X at byte %zu has length %zu", m,
                           pos - 2, len);
        if (pos + len > n)
            return err_set(e, ERR_UNPROCESSABLE,
                           "truncated JPEG: segment 0xFF%02X at byte %zu needs %zu bytes, the "
                           "file ends after %zu", m, pos - 2, len, n);
        const uint8_t *s = d + pos + 2;
        size_t sl = len - 2;
        if (m == 0xE1 && sl >= 14 && !o->exif && memcmp(s, "Exif\0\0", 6) == 0) {
            o->exif = s + 6;
            o->exif_len = sl - 6;
        } else if (is_sof(m)) {
            if (have_sof)
                return err_set(e, ERR_UNPROCESSABLE,
                               "corrupt JPEG: a second frame header at byte %zu", pos - 2);
            if (sl < 6)
                return err_set(e, ERR_UNPROCESSABLE, "corrupt JPEG: frame header too short");
            uint8_t ncomp = s[5];
            if (sl != 6 + 3u * ncomp)
                return err_set(e, ERR_UNPROCESSABLE,
                               "corrupt JPEG: frame header length %zu does not match its %u "
                               "components", sl, ncomp);
            if (ncomp != 1 && ncomp != 3 && ncomp != 4)
                return err_set(e, ERR_UNSUPPORTED,
                               "unsupported JPEG: %u colour components (1, 3 or 4 are accepted)",
                               ncomp);
            if (m == 0xC3 || m == 0xC7 || m == 0xCB || m == 0xCF)
                return err_set(e, ERR_UNSUPPORTED, "unsupported JPEG: lossless JPEG (SOF%d)",
                               m - 0xC0);
            o->bit_depth = s[0];
            if (o->bit_depth != 8 && o->bit_depth != 12)
                return err_set(e, ERR_UNPROCESSABLE, "corrupt JPEG: sample precision %u bits",
                               o->bit_depth);
            o->stored_height = be16(s + 1);
            o->stored_width = be16(s + 3);
            if (o->stored_height == 0 && o->stored_width != 0)
                return err_set(e, ERR_UNSUPPORTED,
                               "unsupported JPEG: the height is given by a DNL marker after the "
                               "image data");
            o->channels = ncomp;
            o->cmyk = ncomp == 4;
            o->progressive = m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE;
            have_sof = true;
        } else if (m == 0xDA) {
            if (!have_sof)
                return err_set(e, ERR_UNPROCESSABLE,
                               "corrupt JPEG: image data (SOS) at byte %zu before any frame "
                               "header", pos - 2);
            pos += len;
            break;
        }
        pos += len;
    }
    /* EOI: look backwards for FF D9 in the tail after the first scan. */
    size_t lo = pos;
    if (n - lo > IMAGE_EOI_SEARCH)
        lo = n - IMAGE_EOI_SEARCH;
    bool eoi = false;
    for (size_t i = n; i >= lo + 2; i--) {
        if (d[i - 2] == 0xFF && d[i - 1] == 0xD9) {
            eoi = true;
            break;
        }
    }
    o->needs_verify = !eoi;
    return 0;
}

/* --- PNG -------------------------------------------------------------------- */

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

static int probe_png(const uint8_t *d, size_t n, image_info *o, err *e)
{
    size_t pos = 8;
    bool have_ihdr = false, have_idat = false, trns = false;
    uint8_t ctype = 0;
    for (;;) {
        if (pos == n)
            return err_set(e, ERR_UNPROCESSABLE,
                           "truncated PNG: the file ends after %zu bytes, before the IEND chunk",
                           n);
        if (n - pos < 12)
            return err_set(e, ERR_UNPROCESSABLE,
                           "truncated PNG: the file ends after %zu bytes, inside a chunk header",
                           n);
        uint32_t len = be32(d + pos);
        const uint8_t *type = d + pos + 4;
        char tname[5];
        for (int i = 0; i < 4; i++)
            tname[i] = (type[i] >= 0x20 && type[i] < 0x7f) ? (char)type[i] : '?';
        tname[4] = 0;
        if (len > 0x7FFFFFFFu)
            return err_set(e, ERR_UNPROCESSABLE, "corrupt PNG: chunk '%s' at byte %zu claims %u bytes",
                           tname, pos, len);
        if ((uint64_t)pos + 12 + len > n)
            return err_set(e, ERR_UNPROCESSABLE,
                           "truncated PNG: chunk '%s' at byte %zu needs %u bytes, the file ends "
                           "after %zu", tname, pos, len + 12, n);
        const uint8_t *c = d + pos + 8;
        if (!have_ihdr) {
            if (memcmp(type, "IHDR", 4) != 0 || len != 13)
                return err_set(e, ERR_UNPROCESSABLE,
                               "corrupt PNG: the first chunk is '%s', not a 13-byte IHDR", tname);
            if (crc32_png(type, 4 + 13) != be32(c + 13))
                return err_set(e, ERR_UNPROCESSABLE, "corrupt PNG: IHDR checksum mismatch");
            o->stored_width = be32(c);
            o->stored_height = be32(c + 4);
            o->bit_depth = c[8];
            ctype = c[9];
            static const uint8_t chans[7] = {1, 0, 3, 1, 2, 0, 4};
            uint8_t bd = o->bit_depth;
            bool pow2 = bd == 1 || bd == 2 || bd == 4 || bd == 8 || bd == 16, ok_depth;
            switch (ctype) {
            case 0: ok_depth = pow2; break;
            case 3: ok_depth = pow2 && bd <= 8; break;
            case 2: case 4: case 6: ok_depth = bd == 8 || bd == 16; break;
            default: ok_depth = false;
            }
            if (!ok_depth || c[10] != 0 || c[11] != 0 || c[12] > 1)
                return err_set(e, ERR_UNPROCESSABLE,
                               "corrupt PNG: invalid IHDR (colour type %u, bit depth %u)", ctype,
                               o->bit_depth);
            if ((int32_t)o->stored_width < 0 || (int32_t)o->stored_height < 0)
                return err_set(e, ERR_UNPROCESSABLE, "corrupt PNG: dimensions above 2^31");
            o->channels = ctype == 3 ? 3 : chans[ctype];
            o->progressive = c[12] == 1;
            have_ihdr = true;
        } else if (!memcmp(type, "IDAT", 4)) {
            have_idat = true;
        } else if (!memcmp(type, "tRNS", 4)) {
            trns = true;
        } else if (!memcmp(type, "acTL", 4)) {
            o->animated = true;
        } else if (!memcmp(type, "eXIf", 4) && !o->exif && len >= 8) {
            size_t skip = (len >= 14 && !memcmp(c, "Exif\0\0", 6)) ? 6 : 0;
            o->exif = c + skip;
            o->exif_len = len - skip;
        } else if (!memcmp(type, "IEND", 4)) {
            break;
        }
        pos += 12 + (size_t)len;
    }
    if (!have_idat)
        return err_set(e, ERR_UNPROCESSABLE, "corrupt PNG: no image data (IDAT chunk)");
    if (trns && (ctype == 0 || ctype == 2 || ctype == 3))
        o->channels++;
    o->has_alpha = o->channels == 2 || o->channels == 4;
    return 0;
}

/* --- WebP --------------------------------------------------------------------- */

static int probe_webp(const uint8_t *d, size_t n, image_info *o, err *e)
{
    uint64_t riff_end = 8 + (uint64_t)le32(d + 4);
    if (riff_end > n)
        return err_set(e, ERR_UNPROCESSABLE,
                       "truncated WebP: the RIFF header says %llu bytes, the file has %zu",
                       (unsigned long long)riff_end, n);
    if (riff_end < 20)
        return err_set(e, ERR_UNPROCESSABLE, "corrupt WebP: RIFF size too small");
    size_t end = (size_t)riff_end, pos = 12;
    bool first = true, vp8x = false, have_frame = false;
    while (pos + 8 <= end) {
        const uint8_t *fourcc = d + pos;
        uint32_t len = le32(d + pos + 4);
        if ((uint64_t)pos + 8 + len > end)
            return err_set(e, ERR_UNPROCESSABLE,
                           "truncated WebP: chunk '%.4s' at byte %zu needs %u bytes past the end "
                           "of the RIFF data", (const char *)fourcc, pos, len);
        const uint8_t *c = d + pos + 8;
        if (!memcmp(fourcc, "VP8 ", 4)) {
            if (len < 10 || c[3] != 0x9d || c[4] != 0x01 || c[5] != 0x2a)
                return err_set(e, ERR_UNPROCESSABLE, "corrupt WebP: bad VP8 frame header");
            if (c[0] & 1)
                return err_set(e, ERR_UNPROCESSABLE, "corrupt WebP: the VP8 frame is not a key frame");
            if (!vp8x) {
                o->stored_width = le16(c + 6) & 0x3FFF;
                o->stored_height = le16(c + 8) & 0x3FFF;
                o->channels = 3;
            }
            have_frame = true;
        } else if (!memcmp(fourcc, "VP8L", 4)) {
            if (len < 5 || c[0] != 0x2f)
                return err_set(e, ERR_UNPROCESSABLE, "corrupt WebP: bad VP8L signature");
            uint32_t b = le32(c + 1);
            if (b >> 29)
                return err_set(e, ERR_UNPROCESSABLE, "corrupt WebP: unknown VP8L version %u", b >> 29);
            if (!vp8x) {
                o->stored_width = (b & 0x3FFF) + 1;
                o->stored_height = ((b >> 14) & 0x3FFF) + 1;
                o->channels = (b >> 28 & 1) ? 4 : 3;
            }
            o->lossless = true;
            have_frame = true;
        } else if (!memcmp(fourcc, "VP8X", 4) && first) {
            if (len < 10)
                return err_set(e, ERR_UNPROCESSABLE, "corrupt WebP: VP8X chunk too short");
            vp8x = true;
            o->stored_width = le24(c + 4) + 1;
            o->stored_height = le24(c + 7) + 1;
            o->channels = (c[0] & 0x10) ? 4 : 3;
            o->animated = (c[0] & 0x02) != 0;
        } else if (!memcmp(fourcc, "ANMF", 4)) {
            have_frame = true;
        } else if (!memcmp(fourcc, "EXIF", 4) && !o->exif && len >= 8) {
            size_t skip = (len >= 14 && !memcmp(c, "Exif\0\0", 6)) ? 6 : 0;
            o->exif = c + skip;
            o->exif_len = len - skip;
        }
        if (first && !vp8x && !have_frame)
            return err_set(e, ERR_UNPROCESSABLE,
                           "corrupt WebP: the first chunk is '%.4s', not VP8, VP8L or VP8X",
                           (const char *)fourcc);
        first = false;
        if (!vp8x)
            break; /* simple format: one image chunk, nothing else to read */
        pos += 8 + (size_t)len + (len & 1);
    }
    if (!have_frame)
        return err_set(e, ERR_UNPROCESSABLE, "corrupt WebP: no image data (VP8/VP8L chunk)");
    o->bit_depth = 8;
    o->has_alpha = o->channels == 4;
    return 0;
}

/* --- TIFF --------------------------------------------------------------------- */

static bool tiff_get(const tiff_rd *t, uint32_t ifd, uint16_t tag, uint32_t *v)
{
    tiff_entry en;
    return tiff_find(t, ifd, tag, &en) && tiff_uint(t, &en, 0, v);
}

/* Every strip (or tile) must lie inside the file. */
static int tiff_check_extents(const tiff_rd *t, uint32_t ifd, err *e)
{
    tiff_entry off, cnt;
    bool tiles = false;
    if (!tiff_find(t, ifd, 273, &off) || !tiff_find(t, ifd, 279, &cnt)) {
        if (!tiff_find(t, ifd, 324, &off) || !tiff_find(t, ifd, 325, &cnt))
            return err_set(e, ERR_UNPROCESSABLE,
                           "corrupt TIFF: no strip or tile offsets in the first directory");
        tiles = true;
    }
    if (off.count != cnt.count || off.count == 0)
        return err_set(e, ERR_UNPROCESSABLE,
                       "corrupt TIFF: %u %s offsets but %u byte counts", off.count,
                       tiles ? "tile" : "strip", cnt.count);
    for (uint32_t i = 0; i < off.count; i++) {
        uint32_t o, c;
        if (!tiff_uint(t, &off, i, &o) || !tiff_uint(t, &cnt, i, &c))
            return err_set(e, ERR_UNPROCESSABLE, "corrupt TIFF: bad %s offset table",
                           tiles ? "tile" : "strip");
        if ((uint64_t)o + c > t->n)
            return err_set(e, ERR_UNPROCESSABLE,
                           "truncated TIFF: %s %u needs bytes %u..%llu, the file ends after %zu",
                           tiles ? "tile" : "strip", i, o, (unsigned long long)o + c, t->n);
    }
    return 0;
}

static int probe_tiff(const uint8_t *d, size_t n, image_info *o, err *e)
{
    tiff_rd t;
    uint32_t ifd = tiff_open(&t, d, n);
    if (!ifd)
        return err_set(e, ERR_UNPROCESSABLE, "corrupt TIFF: the first directory is outside the file");
    uint64_t need = (uint64_t)ifd + 2 + 12ull * (d[0] == 'I' ? le16(d + ifd) : be16(d + ifd));
    if (need > n)
        return err_set(e, ERR_UNPROCESSABLE,
                       "truncated TIFF: the first directory needs %llu bytes, the file has %zu",
                       (unsigned long long)need, n);
    uint32_t w = 0, h = 0, spp = 1, bps = 1, photo = 2, extra = 0;
    if (!tiff_get(&t, ifd, 256, &w) || !tiff_get(&t, ifd, 257, &h))
        return err_set(e, ERR_UNPROCESSABLE, "corrupt TIFF: no image width or height");
    tiff_get(&t, ifd, 277, &spp);
    tiff_get(&t, ifd, 258, &bps);
    tiff_get(&t, ifd, 262, &photo);
    tiff_entry en;
    if (tiff_find(&t, ifd, 338, &en))
        extra = en.count;
    if (spp < 1 || spp > 16 || bps < 1 || bps > 64)
        return err_set(e, ERR_UNPROCESSABLE, "corrupt TIFF: %u samples of %u bits", spp, bps);
    if (tiff_check_extents(&t, ifd, e))
        return -1;
    o->stored_width = w;
    o->stored_height = h;
    o->bit_depth = (uint8_t)bps;
    o->cmyk = photo == 5 && spp >= 4;
    o->channels = (uint8_t)(spp > 4 ? 4 : spp);
    o->has_alpha = extra > 0 && !o->cmyk;
    o->exif = d; /* the file is the TIFF structure */
    o->exif_len = n;
    return 0;
}

/* --- BMP ------------------------------------------------------------------------ */

static int probe_bmp(const uint8_t *d, size_t n, image_info *o, err *e)
{
    if (n < 26)
        return err_set(e, ERR_UNPROCESSABLE, "truncated BMP: %zu bytes, the headers need at least 26", n);
    uint32_t off = le32(d + 10), hsize = le32(d + 14);
    int64_t w, h;
    uint32_t bpp, comp = 0;
    if (hsize == 12) {
        w = le16(d + 18);
        h = le16(d + 20);
        bpp = le16(d + 24);
    } else if (hsize >= 40 && hsize <= 124) {
        if (n < 14 + (size_t)hsize)
            return err_set(e, ERR_UNPROCESSABLE,
                           "truncated BMP: the %u-byte DIB header does not fit in %zu bytes", hsize, n);
        w = (int32_t)le32(d + 18);
        h = (int32_t)le32(d + 22);
        bpp = le16(d + 28);
        comp = le32(d + 30);
    } else {
        return err_set(e, ERR_UNSUPPORTED, "unsupported BMP: DIB header of %u bytes", hsize);
    }
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return err_set(e, ERR_UNPROCESSABLE, "corrupt BMP: %u bits per pixel", bpp);
    if (comp == 4 || comp == 5)
        return err_set(e, ERR_UNSUPPORTED, "unsupported BMP: embedded %s data",
                       comp == 4 ? "JPEG" : "PNG");
    bool ok = comp == 0 || (comp == 1 && bpp == 8) || (comp == 2 && bpp == 4) ||
              ((comp == 3 || comp == 6) && (bpp == 16 || bpp == 32));
    if (!ok)
        return err_set(e, ERR_UNSUPPORTED, "unsupported BMP: compression %u with %u bits per pixel",
                       comp, bpp);
    if (w < 0)
        return err_set(e, ERR_UNPROCESSABLE, "corrupt BMP: negative width");
    if (h == INT32_MIN)
        return err_set(e, ERR_UNPROCESSABLE, "corrupt BMP: invalid height");
    if (h < 0)
        h = -h; /* top-down */
    if (off >= n || off < 14 + hsize)
        return err_set(e, ERR_UNPROCESSABLE,
                       "corrupt BMP: pixel data offset %u outside the file (%zu bytes)", off, n);
    if (comp == 0 || comp == 3 || comp == 6) {
        uint64_t row = (((uint64_t)w * bpp + 31) / 32) * 4;
        uint64_t need = off + row * (uint64_t)h;
        if (need > n)
            return err_set(e, ERR_UNPROCESSABLE,
                           "truncated BMP: the pixel data needs %llu bytes, the file has %zu",
                           (unsigned long long)need, n);
    }
    bool alpha = false;
    if (bpp == 32 && (comp == 3 || comp == 6)) {
        /* masks follow a 40-byte header, or are part of a v3+ header */
        size_t mpos = 14 + 40;
        if ((comp == 6 || hsize >= 56) && mpos + 16 <= n)
            alpha = le32(d + mpos + 12) != 0;
    }
    o->stored_width = (uint32_t)w;
    o->stored_height = (uint32_t)h;
    o->bit_depth = 8;
    o->channels = alpha ? 4 : 3;
    o->has_alpha = alpha;
    return 0;
}

/* --- recognition ------------------------------------------------------------- */

/* For files we do not take: a name when we know the format. */
static const char *other_format(const uint8_t *d, size_t n)
{
    if (n >= 4 && !memcmp(d, "GIF8", 4)) return "GIF";
    if (n >= 12 && !memcmp(d + 4, "ftyp", 4)) {
        if (!memcmp(d + 8, "avif", 4) || !memcmp(d + 8, "avis", 4)) return "AVIF";
        if (!memcmp(d + 8, "hei", 3) || !memcmp(d + 8, "mif1", 4) || !memcmp(d + 8, "msf1", 4) ||
            !memcmp(d + 8, "hev", 3))
            return "HEIF/HEIC";
    }
    if (n >= 2 && d[0] == 0xFF && d[1] == 0x0A) return "JPEG XL";
    if (n >= 12 && !memcmp(d, "\0\0\0\x0cJXL \r\n\x87\n", 12)) return "JPEG XL";
    if (n >= 12 && !memcmp(d, "\0\0\0\x0cjP  \r\n\x87\n", 12)) return "JPEG 2000";
    if (n >= 4 && !memcmp(d, "8BPS", 4)) return "Photoshop (PSD)";
    if (n >= 4 && !memcmp(d, "\0\0\1\0", 4)) return "ICO";
    if (n >= 4 && (!memcmp(d, "II+\0", 4) || !memcmp(d, "MM\0+", 4))) return "BigTIFF";
    return NULL;
}

static int not_an_image(const uint8_t *d, size_t n, err *e)
{
    const char *name = other_format(d, n);
    if (name)
        return err_set(e, ERR_UNSUPPORTED, "%s images are not accepted; " ACCEPTED, name);
    char hex[16] = "", asc[8] = "";
    size_t k = n < 4 ? n : 4, hp = 0;
    for (size_t i = 0; i < k; i++) {
        hp += (size_t)snprintf(hex + hp, sizeof hex - hp, "%s%02X", i ? " " : "", d[i]);
        asc[i] = (d[i] >= 0x20 && d[i] < 0x7f) ? (char)d[i] : '.';
    }
    asc[k] = 0;
    return err_set(e, ERR_UNSUPPORTED,
                   "not an image: the file starts with bytes %s (%s); " ACCEPTED, hex, asc);
}

static image_format sniff(const uint8_t *d, size_t n)
{
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return IMAGE_JPEG;
    if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return IMAGE_PNG;
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return IMAGE_WEBP;
    if (n >= 4 && (!memcmp(d, "II*\0", 4) || !memcmp(d, "MM\0*", 4))) return IMAGE_TIFF;
    if (n >= 2 && d[0] == 'B' && d[1] == 'M') return IMAGE_BMP;
    return IMAGE_FORMAT_UNKNOWN;
}

int image_probe_ex(const void *data, size_t n, const image_limits *lim, image_info *o, err *e)
{
    const uint8_t *d = data;
    memset(o, 0, sizeof *o);
    if (!d || n == 0)
        return err_set(e, ERR_UNPROCESSABLE, "empty file: an image needs at least a header");
    o->format = sniff(d, n);
    int rc;
    switch (o->format) {
    case IMAGE_JPEG: rc = probe_jpeg(d, n, o, e); break;
    case IMAGE_PNG: rc = probe_png(d, n, o, e); break;
    case IMAGE_WEBP: rc = probe_webp(d, n, o, e); break;
    case IMAGE_TIFF: rc = probe_tiff(d, n, o, e); break;
    case IMAGE_BMP: rc = probe_bmp(d, n, o, e); break;
    default:
        /* A few bytes that start like one of ours but end too soon. */
        if ((n < 3 && d[0] == 0xFF) || (n < 8 && d[0] == 0x89) || (n < 12 && d[0] == 'R'))
            return err_set(e, ERR_UNPROCESSABLE, "truncated image: only %zu bytes", n);
        return not_an_image(d, n, e);
    }
    if (rc) {
        o->format = IMAGE_FORMAT_UNKNOWN;
        return -1;
    }
    const char *fname = image_format_name(o->format);
    if (o->stored_width == 0 || o->stored_height == 0)
        return err_set(e, ERR_UNPROCESSABLE, "invalid %s: the image is %ux%u pixels", fname,
                       o->stored_width, o->stored_height);
    uint64_t max = lim && lim->max_pixels ? lim->max_pixels : IMAGE_DEFAULT_MAX_PIXELS;
    uint64_t px = (uint64_t)o->stored_width * o->stored_height;
    if (px > max)
        return err_set(e, ERR_TOO_LARGE,
                       "image too large: %ux%u is %.1f megapixels, the limit is %.1f megapixels",
                       o->stored_width, o->stored_height, (double)px / 1e6, (double)max / 1e6);
    if (o->exif && !tiff_open(&(tiff_rd){0}, o->exif, o->exif_len)) {
        o->exif = NULL; /* not a TIFF structure: ignore it, it is only metadata */
        o->exif_len = 0;
    }
    o->orientation = o->exif ? tiff_orientation(o->exif, o->exif_len) : 0;
    if (o->orientation == 0)
        o->orientation = 1;
    bool swap = o->orientation >= 5;
    o->width = swap ? o->stored_height : o->stored_width;
    o->height = swap ? o->stored_width : o->stored_height;
    return 0;
}

int image_probe(const void *data, size_t n, image_info *out, err *e)
{
    return image_probe_ex(data, n, NULL, out, e);
}
