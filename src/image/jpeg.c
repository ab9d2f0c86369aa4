/*
 * jpeg.c - the JPEG fast path: libturbojpeg decode at a DCT-reduced size,
 * and the JPEG encoder every thumbnail goes through.
 *
 * The IDCT can produce 1/2, 1/4 or 1/8 of the stored size (and a few other
 * eighths) for almost no extra cost over the entropy decoding, which has to
 * happen anyway; a 1920x1080 photo decoded at 1/4 is 16 times less work in
 * the IDCT, colour conversion and upsampling than a full decode. We pick
 * the smallest scale whose longest side still reaches the size the caller
 * wants, and leave the last, small reduction to the area resampler.
 *
 * A handle per call: tjInitDecompress costs a few microseconds against the
 * milliseconds of a decode, and keeps the functions free of thread-local
 * state. libjpeg warnings (a truncated stream, stray bytes) make
 * tjDecompress2 return -1 with TJERR_WARNING after having decoded what it
 * could: we accept that unless `strict` (image_verify) asks otherwise.
 */
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "image/internal.h"

int jpeg_decode(const uint8_t *d, size_t n, uint32_t min_side, uint8_t channels, bool strict,
                image_pixels *out, err *e)
{
    memset(out, 0, sizeof *out);
    tjhandle h = tjInitDecompress();
    if (!h)
        return err_set(e, ERR_INTERNAL, "turbojpeg: cannot create a decompressor");
    int w, hh, subsamp, cs;
    if (tjDecompressHeader3(h, d, (unsigned long)n, &w, &hh, &subsamp, &cs)) {
        err_set(e, ERR_UNPROCESSABLE, "corrupt JPEG: %s", tjGetErrorStr2(h));
        tjDestroy(h);
        return -1;
    }
    int nsf = 0;
    const tjscalingfactor *sf = tjGetScalingFactors(&nsf);
    tjscalingfactor best = {1, 1};
    if (min_side && sf) {
        int best_long = w > hh ? w : hh;
        for (int i = 0; i < nsf; i++) {
            if (sf[i].num > sf[i].denom)
                continue; /* never enlarge in the IDCT */
            int sw = TJSCALED(w, sf[i]), sh = TJSCALED(hh, sf[i]);
            int lng = sw > sh ? sw : sh;
            if (lng >= (int)min_side && lng < best_long) {
                best = sf[i];
                best_long = lng;
            }
        }
    }
    int sw = TJSCALED(w, best), sh = TJSCALED(hh, best);
    if (px_alloc(out, (uint32_t)sw, (uint32_t)sh, channels, e)) {
        tjDestroy(h);
        return -1;
    }
    int flags = strict ? TJFLAG_STOPONWARNING : 0;
    int pf = channels == 1 ? TJPF_GRAY : TJPF_RGB;
    if (tjDecompress2(h, d, (unsigned long)n, out->data, sw, (int)out->stride, sh, pf, flags)) {
        bool warning = tjGetErrorCode(h) == TJERR_WARNING;
        if (strict || !warning) {
            err_set(e, ERR_UNPROCESSABLE, "%s JPEG: %s", warning ? "damaged" : "corrupt",
                    tjGetErrorStr2(h));
            image_pixels_free(out);
            tjDestroy(h);
            return -1;
        }
    }
    tjDestroy(h);
    return 0;
}

int image_encode_jpeg(const image_pixels *px, int quality, uint8_t **out, size_t *len, err *e)
{
    *out = NULL;
    *len = 0;
    if (px->channels != 1 && px->channels != 3)
        return err_set(e, ERR_INTERNAL, "JPEG encoding needs 1 or 3 channels, not %u", px->channels);
    if (quality < 1 || quality > 100)
        quality = IMAGE_DEFAULT_THUMB_QUALITY;
    if (px->width > 65500 || px->height > 65500)
        return err_set(e, ERR_UNPROCESSABLE, "a JPEG cannot be %ux%u pixels", px->width, px->height);
    int ss = px->channels == 1 ? TJSAMP_GRAY : TJSAMP_420;
    unsigned long cap = tjBufSize((int)px->width, (int)px->height, ss);
    if (cap == (unsigned long)-1)
        return err_set(e, ERR_INTERNAL, "turbojpeg: bad size %ux%u", px->width, px->height);
    uint8_t *buf = malloc(cap);
    if (!buf)
        return err_set(e, ERR_INTERNAL, "out of memory for a JPEG of %lu bytes", cap);
    tjhandle h = tjInitCompress();
    if (!h) {
        free(buf);
        return err_set(e, ERR_INTERNAL, "turbojpeg: cannot create a compressor");
    }
    unsigned long sz = cap;
    int pf = px->channels == 1 ? TJPF_GRAY : TJPF_RGB;
    if (tjCompress2(h, px->data, (int)px->width, (int)px->stride, (int)px->height, pf, &buf, &sz,
                    ss, quality, TJFLAG_NOREALLOC)) {
        err_set(e, ERR_INTERNAL, "turbojpeg: %s", tjGetErrorStr2(h));
        tjDestroy(h);
        free(buf);
        return -1;
    }
    tjDestroy(h);
    *out = buf;
    *len = sz;
    return 0;
}
