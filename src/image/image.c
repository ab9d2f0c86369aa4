/*
 * image.c - decode, thumbnail and verify: probe, pick a path, then the
 * shared tail (resample, orient, encode).
 *
 *   probe ──> JPEG 8-bit gray/YCbCr ──> jpeg_decode (DCT-scaled)  ─┐
 *        ├──> BMP ──────────────────> bmp_decode                 ─┼─> px_resize ─> px_orient ─> out
 *        └──> everything else ──────> vips_decode (shrink-on-load)─┘
 *
 * The sizes asked from the decoders are in stored orientation; turning the
 * picture does not change its longest side, so the fit is the same.
 */
#include <stdlib.h>
#include <string.h>

#include "image/internal.h"

static bool use_fast_jpeg(const image_info *info, image_path path)
{
    return path == IMAGE_PATH_AUTO && info->format == IMAGE_JPEG && !info->cmyk &&
           info->bit_depth == 8;
}

/* Decodes to ch channels in stored orientation; at least min_side on the
 * longest side when min_side > 0 (vips: exactly min_side). */
static int decode_raw(const uint8_t *d, size_t n, const image_info *info, uint32_t min_side,
                      uint8_t ch, image_path path, image_pixels *out, bool *fast, err *e)
{
    *fast = false;
    if (info->format == IMAGE_BMP) {
        *fast = true;
        if (bmp_decode(d, n, info, out, e))
            return -1;
        if (px_convert(out, ch, e)) {
            image_pixels_free(out);
            return -1;
        }
        return 0;
    }
    if (use_fast_jpeg(info, path)) {
        *fast = true;
        return jpeg_decode(d, n, min_side, ch, false, out, e);
    }
    return vips_decode(d, n, min_side, ch, out, e);
}

/* Resamples *p to w x h if it is not that size already. */
static int resize_to(image_pixels *p, uint32_t w, uint32_t h, err *e)
{
    if (p->width == w && p->height == h)
        return 0;
    image_pixels t;
    if (px_resize(p, w, h, &t, e))
        return -1;
    px_replace(p, &t);
    return 0;
}

static int orient(image_pixels *p, int orientation, err *e)
{
    if (orientation <= 1 || orientation > 8)
        return 0;
    image_pixels t;
    if (px_orient(p, orientation, &t, e))
        return -1;
    px_replace(p, &t);
    return 0;
}

int image_decode(const void *data, size_t n, const image_decode_opts *opts, image_pixels *out,
                 err *e)
{
    static const image_decode_opts defaults = {0};
    const image_decode_opts *o = opts ? opts : &defaults;
    memset(out, 0, sizeof *out);
    uint8_t ch = o->channels ? o->channels : 3;
    if (ch != 1 && ch != 3)
        return err_set(e, ERR_INVALID, "decode: channels must be 1 or 3, not %u", ch);
    image_info info;
    if (image_probe_ex(data, n, o->limits, &info, e))
        return -1;
    bool fast;
    if (decode_raw(data, n, &info, o->target_side, ch, o->path, out, &fast, e))
        return -1;
    if (o->target_side && o->exact) {
        uint32_t lng = info.stored_width > info.stored_height ? info.stored_width
                                                              : info.stored_height;
        uint32_t w, h;
        if (lng == info.stored_width) {
            w = o->target_side;
            h = (uint32_t)(((uint64_t)info.stored_height * w + lng / 2) / lng);
        } else {
            h = o->target_side;
            w = (uint32_t)(((uint64_t)info.stored_width * h + lng / 2) / lng);
        }
        if (resize_to(out, w ? w : 1, h ? h : 1, e))
            goto fail;
    }
    if (!o->no_orient && orient(out, info.orientation, e))
        goto fail;
    return 0;
fail:
    image_pixels_free(out);
    return -1;
}

int image_thumbnail(const void *data, size_t n, const image_thumb_opts *opts, image_thumb *out,
                    err *e)
{
    static const image_thumb_opts defaults = {0};
    const image_thumb_opts *o = opts ? opts : &defaults;
    memset(out, 0, sizeof *out);
    uint32_t side = o->max_side ? o->max_side : IMAGE_DEFAULT_THUMB_SIDE;
    int quality = o->quality ? o->quality : IMAGE_DEFAULT_THUMB_QUALITY;
    if (quality < 1 || quality > 100)
        return err_set(e, ERR_INVALID, "thumbnail: quality must be 1..100, not %d", quality);
    image_info info;
    if (image_probe_ex(data, n, o->limits, &info, e))
        return -1;
    uint8_t ch = (info.channels <= 2 && !info.cmyk) ? 1 : 3;
    image_pixels px;
    bool fast;
    if (decode_raw(data, n, &info, side, ch, o->path, &px, &fast, e))
        return -1;
    uint32_t tw, th;
    px_fit(info.stored_width, info.stored_height, side, &tw, &th);
    if (resize_to(&px, tw, th, e) || orient(&px, info.orientation, e) ||
        image_encode_jpeg(&px, quality, &out->jpeg, &out->len, e)) {
        image_pixels_free(&px);
        return -1;
    }
    out->width = px.width;
    out->height = px.height;
    out->fast_path = fast;
    image_pixels_free(&px);
    return 0;
}

void image_thumb_free(image_thumb *t)
{
    if (!t)
        return;
    free(t->jpeg);
    memset(t, 0, sizeof *t);
}

int image_verify(const void *data, size_t n, const image_limits *lim, image_info *out, err *e)
{
    if (image_probe_ex(data, n, lim, out, e))
        return -1;
    image_pixels px = {0};
    int rc;
    if (out->format == IMAGE_BMP)
        rc = bmp_decode(data, n, out, &px, e);
    else if (use_fast_jpeg(out, IMAGE_PATH_AUTO))
        /* at 1/8 scale libjpeg still entropy-decodes every block */
        rc = jpeg_decode(data, n, 1, 1, true, &px, e);
    else
        rc = vips_verify(data, n, e);
    image_pixels_free(&px);
    if (rc)
        return err_prefix(e, "%s does not decode: ", image_format_name(out->format));
    out->needs_verify = false;
    return 0;
}
