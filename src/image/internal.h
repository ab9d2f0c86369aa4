/*
 * internal.h - what the files of src/image/ share and nobody else sees:
 * a bounded TIFF/EXIF IFD reader, the pixel operations every decode path
 * ends with (resample, orient, channel conversion), the BMP decoder and the
 * libvips glue.
 */
#ifndef CVOPS_IMAGE_INTERNAL_H
#define CVOPS_IMAGE_INTERNAL_H

#include "image/image.h"

/* --- TIFF structure reader (tiff.c) ---------------------------------------
 * Used for TIFF files and for EXIF blobs, which are TIFF structures. Every
 * read is bounds-checked against the buffer; nothing is allocated. */

enum { TIFF_BYTE = 1, TIFF_ASCII = 2, TIFF_SHORT = 3, TIFF_LONG = 4, TIFF_RATIONAL = 5 };

typedef struct tiff_rd {
    const uint8_t *p;
    size_t n;
    bool le;
} tiff_rd;

typedef struct tiff_entry {
    uint16_t tag, type;
    uint32_t count;
    size_t value_pos; /* where the value is: in the entry when it fits in 4 bytes */
} tiff_entry;

#define TIFF_MAX_ENTRIES 1024 /* entries read per IFD */

/* Checks the 8-byte header; returns the offset of IFD0, or 0 when p is not
 * a TIFF structure. */
uint32_t tiff_open(tiff_rd *t, const uint8_t *p, size_t n);
/* Finds `tag` in the IFD at `ifd`. Returns 1 found, 0 not found. */
int tiff_find(const tiff_rd *t, uint32_t ifd, uint16_t tag, tiff_entry *out);
/* The i-th value of a BYTE/SHORT/LONG entry; false when out of bounds. */
bool tiff_uint(const tiff_rd *t, const tiff_entry *en, uint32_t i, uint32_t *v);
/* Orientation (tag 0x0112) in IFD0 of a TIFF structure; 0 when absent. */
uint8_t tiff_orientation(const uint8_t *p, size_t n);

/* --- pixels (pixels.c) ----------------------------------------------------- */

/* Allocates p->data for w x h x ch (tightly packed). */
int px_alloc(image_pixels *p, uint32_t w, uint32_t h, uint8_t ch, err *e);
/* Area-average resampling (box filter with fractional edges) when
 * shrinking, bilinear when enlarging; each axis on its own. */
int px_resize(const image_pixels *src, uint32_t w, uint32_t h, image_pixels *dst, err *e);
/* Applies an EXIF orientation (1..8): dst is what a viewer would show. */
int px_orient(const image_pixels *src, int orientation, image_pixels *dst, err *e);
/* Size that fits in a side x side box keeping the aspect ratio, never 0. */
void px_fit(uint32_t w, uint32_t h, uint32_t side, uint32_t *ow, uint32_t *oh);
/* Converts 1..4 channel 8-bit pixels (gray, gray+alpha, RGB, RGBA) in
 * place to `want` (1 or 3) channels; alpha is composited over white. */
int px_convert(image_pixels *p, uint8_t want, err *e);
/* Replaces *p with the result of an operation that wrote into *tmp. */
void px_replace(image_pixels *p, image_pixels *tmp);

/* --- decoders (bmp.c, jpeg.c, vips.c) -------------------------------------- */

/* BMP pixel data to 3 or 4 channels (4 when info->has_alpha). */
int bmp_decode(const uint8_t *d, size_t n, const image_info *info, image_pixels *out, err *e);

/* JPEG via turbojpeg at the smallest DCT scale whose longest side is >=
 * min_side (0: full size), to `channels` (1 or 3). strict: fail on any
 * libjpeg warning (truncation, corrupt data). */
int jpeg_decode(const uint8_t *d, size_t n, uint32_t min_side, uint8_t channels, bool strict,
                image_pixels *out, err *e);

/* libvips: decode without auto-rotation to 8-bit `channels` (1 or 3).
 * fit_side > 0: vips_thumbnail_buffer to fit a fit_side square (shrink on
 * load, never enlarging); 0: full size. Tolerant: a damaged file gives
 * what could be decoded. */
int vips_decode(const uint8_t *d, size_t n, uint32_t fit_side, uint8_t channels,
                image_pixels *out, err *e);
/* libvips: decodes every pixel (without keeping them), failing on
 * truncation and decoder errors. */
int vips_verify(const uint8_t *d, size_t n, err *e);
/* Copies libvips' error buffer into e (and clears it). */
int vips_fail(err *e, err_code code, const char *what);

#endif
