/*
 * image.h - the image engine: probe, EXIF, decode, thumbnails, perceptual
 * hashes. A library: no HTTP, no database, no printing.
 *
 * Every entry point takes the encoded file as a (pointer, length) pair that
 * it only borrows, and starts with image_probe(): the format is recognised
 * by content (never by file name), the dimensions come from the headers
 * without decoding, and everything we refuse is refused there, before a
 * single pixel is decoded:
 *
 *   empty file, unknown format        ERR_UNPROCESSABLE / ERR_UNSUPPORTED
 *   truncated or corrupt header       ERR_UNPROCESSABLE
 *   zero width or height              ERR_UNPROCESSABLE
 *   more pixels than the limit        ERR_TOO_LARGE (decompression bombs;
 *                                     default 100 megapixels)
 *
 * Truncation of the pixel data is checked where it is cheap and certain:
 * PNG chunks are walked to IEND, the RIFF size of a WebP, the strip/tile
 * extents of a TIFF and the pixel array of an uncompressed BMP are compared
 * with the file length. A JPEG without an EOI marker at its end is *not*
 * rejected (cameras and phones append data after EOI, and many slightly
 * damaged JPEGs still decode): info.needs_verify is set and image_verify()
 * decides with a full decode in fail-on-error mode.
 *
 * Decoding takes one of two paths:
 *   fast path     JPEG (8-bit gray or YCbCr) through libturbojpeg, decoded
 *                 directly at 1/2, 1/4 or 1/8 size by the IDCT when a small
 *                 result is wanted; BMP through our own decoder (libvips
 *                 has no BMP loader of its own).
 *   general path  PNG, WebP, TIFF and CMYK/12-bit JPEG through libvips
 *                 (vips_thumbnail_buffer shrinks on load where it can).
 * Both end in the same code: an area-average resampler, the EXIF orientation
 * transform, and turbojpeg for JPEG output, so the two paths give the same
 * geometry and orientation. Alpha is composited over white.
 *
 * Dimensions are reported as displayed: orientations 5-8 (the ones that
 * turn the picture by 90 degrees) swap width and height, and decoded pixels
 * and thumbnails are already turned.
 *
 * Threads: every function may be called from many threads at once. Each
 * call makes its own turbojpeg handle. libvips is initialised once per
 * process (image_lib_init(); the vips paths call it themselves the first
 * time); threads that used the vips path should call image_thread_done()
 * before they exit to release libvips' per-thread buffers.
 *
 * Memory: bounded by the pixel limit. A JPEG decoded at 1/8 size needs
 * 1/64 of the full buffer, but a progressive JPEG keeps all its DCT
 * coefficients (about 2-3 bytes per pixel) whatever the scale.
 */
#ifndef CVOPS_IMAGE_IMAGE_H
#define CVOPS_IMAGE_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* --- formats and limits ------------------------------------------------ */

typedef enum image_format {
    IMAGE_FORMAT_UNKNOWN = 0,
    IMAGE_JPEG,
    IMAGE_PNG,
    IMAGE_WEBP,
    IMAGE_TIFF,
    IMAGE_BMP,
} image_format;

const char *image_format_name(image_format f); /* "jpeg", "png", "webp", "tiff", "bmp" */
const char *image_format_mime(image_format f); /* "image/jpeg", ... */

#define IMAGE_DEFAULT_MAX_PIXELS 100000000ull /* 100 megapixels */
#define IMAGE_DEFAULT_THUMB_SIDE 256
#define IMAGE_DEFAULT_THUMB_QUALITY 80

typedef struct image_limits {
    uint64_t max_pixels; /* width * height above this is refused; 0 = default */
} image_limits;

/* Process-wide set-up of libvips (no operation cache, one vips thread per
 * call since our callers are already parallel, untrusted loaders blocked).
 * Idempotent and thread-safe; call it from main to fail early. */
int image_lib_init(err *e);
/* Releases libvips' per-thread buffers; call at the end of worker threads. */
void image_thread_done(void);

/* --- probe ----------------------------------------------------------------- */

typedef struct image_info {
    image_format format;
    uint32_t width, height;               /* as displayed (after EXIF orientation) */
    uint32_t stored_width, stored_height; /* as encoded */
    uint8_t channels;     /* 1 gray, 2 gray+alpha, 3 colour, 4 colour+alpha or CMYK */
    uint8_t bit_depth;    /* bits per sample: 8 usually, 1..16 */
    uint8_t orientation;  /* EXIF orientation 1..8; 1 when absent or invalid */
    bool has_alpha;
    bool cmyk;            /* JPEG or TIFF with four ink channels */
    bool progressive;     /* progressive JPEG, interlaced PNG */
    bool animated;        /* animated WebP, APNG */
    bool lossless;        /* WebP VP8L */
    bool needs_verify;    /* completeness not provable from headers: see image_verify() */
    const uint8_t *exif;  /* borrowed, inside the file: EXIF as a TIFF structure, or NULL */
    size_t exif_len;
} image_info;

/* Recognises the format and reads the headers. Never decodes pixels. */
int image_probe(const void *data, size_t n, image_info *out, err *e);
int image_probe_ex(const void *data, size_t n, const image_limits *lim, image_info *out, err *e);

/* image_probe + a full decode that fails on any decoder error or
 * truncation (JPEG: the whole entropy-coded stream is decoded, at 1/8 scale
 * since the IDCT size does not change what is read). Slow; meant for
 * uploads where probe said needs_verify, or for a "check" job. */
int image_verify(const void *data, size_t n, const image_limits *lim, image_info *out, err *e);

/* --- EXIF ------------------------------------------------------------------ */

#define IMAGE_EXIF_MAX_TAGS 256     /* tags kept in the JSON object */
#define IMAGE_EXIF_MAX_VALUE 256    /* bytes per value in the JSON object */

typedef struct image_exif {
    uint8_t orientation;  /* 1..8, 0 when absent */
    char make[64];        /* "" when absent; trimmed */
    char model[64];
    char date_taken[40];  /* DateTimeOriginal (else DateTime) as ISO 8601:
                             "2021-06-01T12:34:56", "+02:00" appended when the
                             OffsetTimeOriginal tag gives the zone; "" when absent */
    bool has_gps;
    double latitude, longitude; /* signed decimal degrees (S and W negative) */
    bool has_altitude;
    double altitude;      /* metres, negative below sea level */
    double focal_length;  /* mm, 0 when absent */
    /* Owned (free with image_exif_free): a JSON object of every tag found,
     * keys being the EXIF tag names in lower case ("make", "fnumber",
     * "exposuretime", "gpslatitude", ...) plus the decoded "latitude",
     * "longitude", "altitude" and "date_taken". Single numbers are JSON
     * numbers, text is trimmed, anything else is libexif's text form.
     * Bounded: IMAGE_EXIF_MAX_TAGS keys, IMAGE_EXIF_MAX_VALUE bytes each,
     * binary blobs (MakerNote, thumbnails) left out. "{}" when no EXIF. */
    char *json;
    size_t json_len;
} image_exif;

/* EXIF of a whole image file (JPEG APP1, PNG eXIf, WebP EXIF chunk, TIFF
 * IFD0). A file without EXIF is not an error: out gets orientation 0 and
 * json "{}". Fails only if the file is not an image (image_probe's errors)
 * or on out of memory. */
int image_exif_read(const void *data, size_t n, image_exif *out, err *e);
/* The same from an EXIF blob alone: a TIFF structure ("II*\0"/"MM\0*"),
 * optionally preceded by "Exif\0\0". */
int image_exif_parse(const void *blob, size_t n, image_exif *out, err *e);
void image_exif_free(image_exif *x);

/* --- decode ---------------------------------------------------------------- */

typedef enum image_path {
    IMAGE_PATH_AUTO = 0, /* fast path when the format allows it */
    IMAGE_PATH_GENERAL,  /* always libvips (tests, benchmarks); BMP still ours */
} image_path;

typedef struct image_pixels {
    uint8_t *data;   /* owned: malloc'd, rows of stride bytes */
    uint32_t width, height;
    uint8_t channels; /* 1 (gray) or 3 (RGB) */
    size_t stride;    /* bytes per row, >= width * channels */
} image_pixels;

typedef struct image_decode_opts {
    uint8_t channels;     /* 1 gray or 3 RGB; 0 means 3 */
    uint32_t target_side; /* 0: full size. Otherwise the cheapest size whose
                             longest side is >= target_side (DCT scaling,
                             shrink-on-load), never upscaled */
    bool exact;           /* with target_side: resample so the longest side
                             equals target_side (upscaling small images) */
    bool no_orient;       /* keep the stored orientation */
    image_path path;
    const image_limits *limits; /* NULL: defaults */
} image_decode_opts;

/* Decodes to 8-bit gray or RGB, oriented as displayed. opts may be NULL. */
int image_decode(const void *data, size_t n, const image_decode_opts *opts, image_pixels *out,
                 err *e);
void image_pixels_free(image_pixels *p);

/* --- thumbnails -------------------------------------------------------------- */

typedef struct image_thumb_opts {
    uint32_t max_side; /* longest side; 0 = IMAGE_DEFAULT_THUMB_SIDE; smaller
                          images keep their size */
    int quality;       /* JPEG quality 1..100; 0 = IMAGE_DEFAULT_THUMB_QUALITY */
    image_path path;
    const image_limits *limits;
} image_thumb_opts;

typedef struct image_thumb {
    uint8_t *jpeg;   /* owned: malloc'd JPEG file */
    size_t len;
    uint32_t width, height;
    bool fast_path;  /* which path made it (for tests and benchmarks) */
} image_thumb;

/* A JPEG thumbnail, oriented per EXIF. opts may be NULL. */
int image_thumbnail(const void *data, size_t n, const image_thumb_opts *opts, image_thumb *out,
                    err *e);
void image_thumb_free(image_thumb *t);

/* Encodes 8-bit gray/RGB pixels as a baseline JPEG (4:2:0 for colour). */
int image_encode_jpeg(const image_pixels *px, int quality, uint8_t **out, size_t *len, err *e);

/* --- perceptual hashes -------------------------------------------------------- */

/* pHash: the picture as displayed, reduced to 32x32 gray by area averaging,
 * 2-D DCT-II; the 8x8 coefficients at frequencies 1..8 on both axes (the
 * DC term and the first row and column left out) are compared with their
 * median, one bit each, row-major from the most significant bit.
 * dHash: 9x8 gray, one bit per horizontally adjacent pair (left > right).
 * Re-encoding and resizing move a pHash by a few bits; unrelated pictures
 * differ in about half of them. */
typedef struct image_hashes {
    uint64_t phash;
    uint64_t dhash;
} image_hashes;

int image_hash(const void *data, size_t n, image_hashes *out, err *e);
/* The same from gray pixels (w, h >= 1). */
uint64_t image_phash_gray(const uint8_t *gray, uint32_t w, uint32_t h, size_t stride);
uint64_t image_dhash_gray(const uint8_t *gray, uint32_t w, uint32_t h, size_t stride);

static inline int image_hamming(uint64_t a, uint64_t b) { return __builtin_popcountll(a ^ b); }

#endif
