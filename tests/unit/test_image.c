/*
 * Unit tests for src/image: probe (every format, every refusal), EXIF,
 * decode, thumbnails (size, orientation, both paths), verify, hashes.
 * Images are generated here (see image_gen.h).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <vips/vips.h>

#include "image/image.h"
#include "image_gen.h"

static void probe_ok(const tbytes *b, image_info *info)
{
    err e = {0};
    int rc = image_probe(b->p, b->n, info, &e);
    cr_assert_eq(rc, 0, "probe failed: %s", e.msg);
}

static void probe_fails(const void *p, size_t n, err_code code, const char *needle)
{
    err e = {0};
    image_info info;
    cr_assert_eq(image_probe(p, n, &info, &e), -1, "probe should fail (%s)", needle);
    cr_assert_eq(e.code, code, "code %s, message: %s", err_code_name(e.code), e.msg);
    cr_assert(strstr(e.msg, needle), "message '%s' should contain '%s'", e.msg, needle);
}

/* --- probe: formats --------------------------------------------------------- */

Test(image_probe, jpeg_baseline_progressive_gray)
{
    uint8_t *px = t_photo(320, 200, 1);
    image_info i;
    tbytes b = t_encode(px, 320, 200, 3, ".jpg[Q=85]", 0);
    probe_ok(&b, &i);
    cr_assert_eq(i.format, IMAGE_JPEG);
    cr_assert_eq(i.width, 320);
    cr_assert_eq(i.height, 200);
    cr_assert_eq(i.channels, 3);
    cr_assert_eq(i.bit_depth, 8);
    cr_assert_eq(i.orientation, 1);
    cr_assert(!i.progressive);
    cr_assert(!i.needs_verify);
    cr_assert_str_eq(image_format_mime(i.format), "image/jpeg");
    tb_free(&b);

    b = t_encode(px, 320, 200, 3, ".jpg[interlace]", 0);
    probe_ok(&b, &i);
    cr_assert(i.progressive);
    cr_assert_eq(i.width, 320);
    tb_free(&b);

    uint8_t *g = t_marker(64, 48, 1);
    b = t_encode(g, 64, 48, 1, ".jpg", 0);
    probe_ok(&b, &i);
    cr_assert_eq(i.channels, 1);
    cr_assert_eq(i.height, 48);
    tb_free(&b);
    free(g);
    free(px);
}

Test(image_probe, png_colour_types)
{
    uint8_t *px = t_photo(50, 40, 2);
    image_info i;
    tbytes b = t_encode(px, 50, 40, 3, ".png", 0);
    probe_ok(&b, &i);
    cr_assert_eq(i.format, IMAGE_PNG);
    cr_assert_eq(i.width, 50);
    cr_assert_eq(i.height, 40);
    cr_assert_eq(i.channels, 3);
    cr_assert(!i.has_alpha);
    tb_free(&b);

    uint8_t rgba[50 * 40 * 4];
    for (int k = 0; k < 50 * 40; k++) {
        memcpy(rgba + 4 * k, px + 3 * k, 3);
        rgba[4 * k + 3] = (uint8_t)k;
    }
    b = t_encode(rgba, 50, 40, 4, ".png", 0);
    probe_ok(&b, &i);
    cr_assert_eq(i.channels, 4);
    cr_assert(i.has_alpha);
    tb_free(&b);

    b = t_encode(px, 50, 40, 3, ".png[interlace]", 0);
    probe_ok(&b, &i);
    cr_assert(i.progressive);
    tb_free(&b);

    b = t_png_header_only(7, 9, 16, 0); /* 16-bit gray */
    probe_ok(&b, &i);
    cr_assert_eq(i.channels, 1);
    cr_assert_eq(i.bit_depth, 16);
    cr_assert_eq(i.width, 7);
    tb_free(&b);
    free(px);
}

Test(image_probe, webp_lossy_lossless_alpha)
{
    uint8_t *px = t_photo(90, 60, 3);
    image_info i;
    tbytes v = t_encode(px, 90, 60, 3, ".webp[Q=70]", 0);
    for (int simple = 0; simple < 2; simple++) {
        tbytes b = simple ? t_webp_simple(&v) : v;
        probe_ok(&b, &i);
        cr_assert_eq(i.format, IMAGE_WEBP);
        cr_assert_eq(i.width, 90);
        cr_assert_eq(i.height, 60);
        cr_assert_eq(i.channels, 3);
        cr_assert(!i.lossless);
        if (simple)
            tb_free(&b);
    }
    tb_free(&v);

    v = t_encode(px, 90, 60, 3, ".webp[lossless]", 0);
    for (int simple = 0; simple < 2; simple++) {
        tbytes b = simple ? t_webp_simple(&v) : v;
        probe_ok(&b, &i);
        cr_assert(i.lossless);
        cr_assert_eq(i.width, 90);
        cr_assert_eq(i.height, 60);
        image_thumb th;
        err e = {0};
        cr_assert_eq(image_thumbnail(b.p, b.n, NULL, &th, &e), 0, "%s", e.msg);
        image_thumb_free(&th);
        if (simple)
            tb_free(&b);
    }
    tb_free(&v);
    tbytes b;

    uint8_t rgba[90 * 60 * 4];
    for (int k = 0; k < 90 * 60; k++) {
        memcpy(rgba + 4 * k, px + 3 * k, 3);
        rgba[4 * k + 3] = (uint8_t)(k % 200);
    }
    b = t_encode(rgba, 90, 60, 4, ".webp[Q=70]", 0); /* lossy + alpha: VP8X */
    probe_ok(&b, &i);
    cr_assert(i.has_alpha);
    cr_assert_eq(i.channels, 4);
    cr_assert_eq(i.width, 90);
    cr_assert_eq(i.height, 60);
    tb_free(&b);
    free(px);
}

Test(image_probe, tiff_both_byte_orders_and_decode)
{
    uint8_t px[12 * 8 * 3];
    for (int k = 0; k < 12 * 8; k++)
        px[3 * k] = (uint8_t)(k * 2), px[3 * k + 1] = 100, px[3 * k + 2] = (uint8_t)(255 - k);
    for (int le = 0; le < 2; le++) {
        tbytes b = t_tiff_rgb(le, px, 12, 8, 0);
        image_info i;
        probe_ok(&b, &i);
        cr_assert_eq(i.format, IMAGE_TIFF);
        cr_assert_eq(i.width, 12);
        cr_assert_eq(i.height, 8);
        cr_assert_eq(i.channels, 3);
        cr_assert_eq(i.bit_depth, 8);
        image_pixels out;
        err e = {0};
        cr_assert_eq(image_decode(b.p, b.n, NULL, &out, &e), 0, "%s", e.msg);
        cr_assert_eq(out.width, 12);
        cr_assert_eq(memcmp(out.data, px, sizeof px), 0, "lossless TIFF decodes exactly");
        image_pixels_free(&out);
        tb_free(&b);
    }
    /* and one written by libvips/libtiff */
    uint8_t *ph = t_photo(33, 21, 4);
    tbytes b = t_encode(ph, 33, 21, 3, ".tif", 0);
    image_info i;
    probe_ok(&b, &i);
    cr_assert_eq(i.width, 33);
    cr_assert_eq(i.height, 21);
    tb_free(&b);
    free(ph);
}

Test(image_probe, bmp_variants_and_decode)
{
    uint8_t px[10 * 6 * 4];
    for (int k = 0; k < 10 * 6; k++) {
        px[4 * k] = (uint8_t)(k * 4), px[4 * k + 1] = (uint8_t)(k % 3 * 100);
        px[4 * k + 2] = 7, px[4 * k + 3] = (uint8_t)(k * 4);
    }
    uint8_t rgb[10 * 6 * 3];
    for (int k = 0; k < 10 * 6; k++)
        memcpy(rgb + 3 * k, px + 4 * k, 3);
    struct { int bpp; bool topdown; } v[] = {{24, false}, {24, true}, {8, false}, {32, false}};
    for (size_t t = 0; t < sizeof v / sizeof v[0]; t++) {
        tbytes b = t_bmp(v[t].bpp == 32 ? px : rgb, 10, 6, v[t].bpp, v[t].topdown);
        image_info i;
        probe_ok(&b, &i);
        cr_assert_eq(i.format, IMAGE_BMP);
        cr_assert_eq(i.width, 10);
        cr_assert_eq(i.height, 6, "negative heights are top-down, not negative");
        cr_assert_eq(i.channels, v[t].bpp == 32 ? 4 : 3);
        image_pixels out;
        err e = {0};
        image_decode_opts o = {.channels = 3};
        cr_assert_eq(image_decode(b.p, b.n, &o, &out, &e), 0, "%s", e.msg);
        if (v[t].bpp == 32) {
            /* alpha composited over white */
            for (int k = 0; k < 60; k++) {
                int a = px[4 * k + 3];
                int want = (px[4 * k] * a + 255 * (255 - a) + 127) / 255;
                cr_assert_eq(out.data[3 * k], want, "pixel %d", k);
            }
        } else {
            cr_assert_eq(memcmp(out.data, rgb, sizeof rgb), 0, "bpp %d topdown %d", v[t].bpp,
                         v[t].topdown);
        }
        image_pixels_free(&out);
        tb_free(&b);
    }
}

/* --- probe: refusals ------------------------------------------------------------ */

Test(image_probe, rejects_empty_and_unknown)
{
    probe_fails("", 0, ERR_UNPROCESSABLE, "empty file");
    probe_fails("%PDF-1.7\n", 9, ERR_UNSUPPORTED,
                "not an image: the file starts with bytes 25 50 44 46 (%PDF); accepted formats "
                "are JPEG, PNG, WebP, TIFF, BMP");
    probe_fails("GIF89a\x01\x00\x01\x00", 10, ERR_UNSUPPORTED, "GIF images are not accepted");
    probe_fails("\0\0\0\x18" "ftypheic\0\0\0\0", 16, ERR_UNSUPPORTED, "HEIF/HEIC");
    probe_fails("hi", 2, ERR_UNSUPPORTED, "68 69 (hi)");
    probe_fails("\xFF\xD8", 2, ERR_UNPROCESSABLE, "truncated");
    probe_fails("II+\0\x08\0\0\0", 8, ERR_UNSUPPORTED, "BigTIFF");
}

Test(image_probe, rejects_truncated_files)
{
    uint8_t *px = t_photo(64, 64, 5);
    tbytes j = t_encode(px, 64, 64, 3, ".jpg", 0);
    probe_fails(j.p, 100, ERR_UNPROCESSABLE, "truncated JPEG");
    tbytes p = t_encode(px, 64, 64, 3, ".png", 0);
    probe_fails(p.p, p.n - 20, ERR_UNPROCESSABLE, "truncated PNG");
    probe_fails(p.p, p.n - 12, ERR_UNPROCESSABLE, "before the IEND chunk");
    probe_fails(p.p, 20, ERR_UNPROCESSABLE, "truncated PNG");
    tbytes w = t_encode(px, 64, 64, 3, ".webp", 0);
    probe_fails(w.p, w.n - 1, ERR_UNPROCESSABLE, "truncated WebP");
    tbytes t = t_tiff_rgb(true, px, 20, 20, 0);
    probe_fails(t.p, t.n - 600, ERR_UNPROCESSABLE, "TIFF");
    tbytes b = t_bmp(px, 64, 64, 24, false);
    probe_fails(b.p, b.n - 1, ERR_UNPROCESSABLE, "truncated BMP");
    tb_free(&j), tb_free(&p), tb_free(&w), tb_free(&t), tb_free(&b);
    free(px);
}

Test(image_probe, rejects_corrupt_headers)
{
    tbytes p = t_png_header_only(10, 10, 8, 2);
    p.p[20] ^= 1; /* a dimension byte: the IHDR CRC no longer matches */
    probe_fails(p.p, p.n, ERR_UNPROCESSABLE, "IHDR checksum");
    tb_free(&p);
    p = t_png_header_only(10, 10, 3, 2); /* RGB cannot have 3-bit samples */
    probe_fails(p.p, p.n, ERR_UNPROCESSABLE, "invalid IHDR");
    tb_free(&p);

    uint8_t *px = t_photo(32, 32, 6);
    tbytes j = t_encode(px, 32, 32, 3, ".jpg", 0);
    /* find SOF0 and break its length */
    size_t k = 2;
    while (k + 1 < j.n && !(j.p[k] == 0xFF && j.p[k + 1] == 0xC0))
        k++;
    cr_assert(k + 4 < j.n);
    j.p[k + 3] += 3;
    probe_fails(j.p, j.n, ERR_UNPROCESSABLE, "corrupt JPEG");
    tb_free(&j);

    tbytes w0 = t_encode(px, 32, 32, 3, ".webp", 0), w = t_webp_simple(&w0);
    tb_free(&w0);
    w.p[12 + 8 + 3] = 0; /* VP8 start code */
    probe_fails(w.p, w.n, ERR_UNPROCESSABLE, "corrupt WebP");
    tb_free(&w);

    tbytes t = t_tiff_rgb(false, px, 8, 8, 0);
    t.p[4] = 0x7F; /* IFD offset far outside the file */
    probe_fails(t.p, t.n, ERR_UNPROCESSABLE, "corrupt TIFF");
    tb_free(&t);

    tbytes b = t_bmp(px, 8, 8, 24, false);
    b.p[28] = 13; /* 13 bits per pixel */
    probe_fails(b.p, b.n, ERR_UNPROCESSABLE, "corrupt BMP");
    tb_free(&b);
    free(px);
}

Test(image_probe, rejects_bombs_and_zero_sizes)
{
    tbytes p = t_png_header_only(50000, 50000, 8, 2);
    probe_fails(p.p, p.n, ERR_TOO_LARGE, "2500.0 megapixels, the limit is 100.0 megapixels");
    tb_free(&p);
    p = t_png_header_only(0, 10, 8, 2);
    probe_fails(p.p, p.n, ERR_UNPROCESSABLE, "0x10 pixels");
    tb_free(&p);

    /* a JPEG whose frame header claims 60000 x 60000 */
    uint8_t *px = t_photo(16, 16, 7);
    tbytes j = t_encode(px, 16, 16, 3, ".jpg", 0);
    size_t k = 2;
    while (!(j.p[k] == 0xFF && j.p[k + 1] == 0xC0))
        k++;
    j.p[k + 5] = 0xEA, j.p[k + 6] = 0x60, j.p[k + 7] = 0xEA, j.p[k + 8] = 0x60;
    probe_fails(j.p, j.n, ERR_TOO_LARGE, "60000x60000");
    j.p[k + 7] = 0, j.p[k + 8] = 0;
    probe_fails(j.p, j.n, ERR_UNPROCESSABLE, "0x60000 pixels");
    tb_free(&j);

    /* a caller's own limit */
    tbytes s = t_encode(px, 16, 16, 3, ".png", 0);
    image_limits lim = {255};
    image_info i;
    err e = {0};
    cr_assert_eq(image_probe_ex(s.p, s.n, &lim, &i, &e), -1);
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    lim.max_pixels = 256;
    cr_assert_eq(image_probe_ex(s.p, s.n, &lim, &i, &e), 0);
    tb_free(&s);
    free(px);
}

Test(image_probe, orientation_swaps_dimensions)
{
    uint8_t *px = t_photo(200, 100, 8);
    tbytes j = t_encode(px, 200, 100, 3, ".jpg", 0);
    for (int o = 1; o <= 8; o++) {
        t_tiffbuf x = t_orientation_exif(o % 2, o);
        tbytes b = t_jpeg_with_exif(&j, x.p, x.n);
        image_info i;
        probe_ok(&b, &i);
        cr_assert_eq(i.orientation, o);
        cr_assert_eq(i.stored_width, 200);
        cr_assert_eq(i.width, o >= 5 ? 100 : 200, "orientation %d", o);
        cr_assert_eq(i.height, o >= 5 ? 200 : 100, "orientation %d", o);
        tb_free(&b);
    }
    /* libvips writes the tag itself */
    tbytes v = t_encode(px, 200, 100, 3, ".jpg", 6);
    image_info i;
    probe_ok(&v, &i);
    cr_assert_eq(i.orientation, 6);
    cr_assert_eq(i.width, 100);
    tb_free(&v);
    tb_free(&j);
    free(px);
}

/* --- completeness and verify --------------------------------------------------- */

Test(image_verify, jpeg_eoi_trailing_data_and_truncation)
{
    tbytes j = t_photo_jpeg(320, 240, 9, 90);
    image_info i;
    err e = {0};
    cr_assert_eq(image_verify(j.p, j.n, NULL, &i, &e), 0, "%s", e.msg);

    /* data appended after EOI (motion photos, vendor trailers): fine */
    tbytes t = {malloc(j.n + 5000), j.n + 5000};
    memcpy(t.p, j.p, j.n);
    for (size_t k = j.n; k < t.n; k++)
        t.p[k] = (uint8_t)(k * 7);
    probe_ok(&t, &i);
    cr_assert(!i.needs_verify);
    cr_assert_eq(image_verify(t.p, t.n, NULL, &i, &e), 0, "%s", e.msg);

    /* cut inside the scan: probe accepts but asks for verification */
    size_t cut = j.n * 2 / 3;
    err pe = {0};
    cr_assert_eq(image_probe(j.p, cut, &i, &pe), 0, "%s", pe.msg);
    cr_assert(i.needs_verify);
    cr_assert_eq(image_verify(j.p, cut, NULL, &i, &e), -1);
    cr_assert_eq(e.code, ERR_UNPROCESSABLE);
    cr_assert(strstr(e.msg, "does not decode"), "%s", e.msg);
    /* while the tolerant decoder still makes a thumbnail of what is there */
    image_thumb th;
    cr_assert_eq(image_thumbnail(j.p, cut, NULL, &th, &e), 0, "%s", e.msg);
    image_thumb_free(&th);
    tb_free(&t);
    tb_free(&j);
}

Test(image_verify, png_with_corrupt_pixel_data)
{
    uint8_t *px = t_photo(120, 90, 10);
    tbytes p = t_encode(px, 120, 90, 3, ".png", 0);
    /* find IDAT, scramble the middle of its data, fix the CRC: the
     * structure is intact (probe passes) but inflate fails */
    size_t k = 8;
    while (memcmp(p.p + k + 4, "IDAT", 4))
        k += 12 + ((size_t)p.p[k] << 24 | (size_t)p.p[k + 1] << 16 | p.p[k + 2] << 8 | p.p[k + 3]);
    uint32_t len = (uint32_t)p.p[k] << 24 | p.p[k + 1] << 16 | p.p[k + 2] << 8 | p.p[k + 3];
    for (uint32_t q = len / 3; q < len / 3 + 64; q++)
        p.p[k + 8 + q] ^= 0x5A;
    t_put32(p.p + k + 8 + len, t_crc(p.p + k + 4, 4 + len), false);
    image_info i;
    probe_ok(&p, &i);
    err e = {0};
    cr_assert_eq(image_verify(p.p, p.n, NULL, &i, &e), -1, "corrupt deflate data must fail");
    cr_assert(strstr(e.msg, "png does not decode"), "%s", e.msg);
    tb_free(&p);
    p = t_encode(px, 120, 90, 3, ".png", 0);
    cr_assert_eq(image_verify(p.p, p.n, NULL, &i, &e), 0, "%s", e.msg);
    tb_free(&p);
    free(px);
}

/* --- EXIF ---------------------------------------------------------------------- */

static void check_camera(const image_exif *x, int orientation)
{
    cr_assert_eq(x->orientation, orientation);
    cr_assert_str_eq(x->make, "Canon");
    cr_assert_str_eq(x->model, "EOS 5D", "trailing space trimmed");
    cr_assert_str_eq(x->date_taken, "2021-06-01T12:34:56+02:00");
    cr_assert(x->has_gps);
    cr_assert_float_eq(x->latitude, 48 + 51 / 60.0 + 24 / 3600.0, 1e-9);
    cr_assert_float_eq(x->longitude, 2 + 21 / 60.0 + 3 / 3600.0, 1e-9);
    cr_assert(x->has_altitude);
    cr_assert_float_eq(x->altitude, 35.0, 1e-9);
    cr_assert_float_eq(x->focal_length, 50.0, 1e-9);
    json_error_t je;
    json_t *j = json_loadb(x->json, x->json_len, 0, &je);
    cr_assert_not_null(j, "EXIF JSON must parse: %s\n%s", je.text, x->json);
    cr_assert_str_eq(json_string_value(json_object_get(j, "make")), "Canon", "%s", x->json);
    cr_assert_str_eq(json_string_value(json_object_get(j, "model")), "EOS 5D");
    cr_assert_eq(json_integer_value(json_object_get(j, "orientation")), orientation);
    cr_assert_float_eq(json_number_value(json_object_get(j, "fnumber")), 2.8, 1e-9);
    cr_assert_float_eq(json_number_value(json_object_get(j, "latitude")), x->latitude, 1e-9);
    cr_assert_str_eq(json_string_value(json_object_get(j, "date_taken")),
                     "2021-06-01T12:34:56+02:00");
    cr_assert_not_null(json_object_get(j, "gpslatitude"), "raw GPS tags are kept too");
    json_decref(j);
}

Test(image_exif, jpeg_png_webp_both_byte_orders)
{
    uint8_t *px = t_photo(40, 30, 11);
    tbytes j = t_encode(px, 40, 30, 3, ".jpg", 0);
    tbytes p = t_encode(px, 40, 30, 3, ".png", 0);
    tbytes w = t_encode(px, 40, 30, 3, ".webp", 0);
    for (int le = 0; le < 2; le++) {
        t_tiffbuf x = t_camera_exif(le, 3);
        tbytes files[3] = {t_jpeg_with_exif(&j, x.p, x.n), t_png_with_exif(&p, x.p, x.n),
                           t_webp_with_exif(&w, 40, 30, x.p, x.n)};
        for (int f = 0; f < 3; f++) {
            image_info i;
            probe_ok(&files[f], &i);
            cr_assert_eq(i.orientation, 3, "format %d", f);
            image_exif ex;
            err e = {0};
            cr_assert_eq(image_exif_read(files[f].p, files[f].n, &ex, &e), 0, "%s", e.msg);
            check_camera(&ex, 3);
            image_exif_free(&ex);
            tb_free(&files[f]);
        }
    }
    tb_free(&j), tb_free(&p), tb_free(&w);
    free(px);
}

Test(image_exif, none_and_garbage)
{
    uint8_t *px = t_photo(40, 30, 12);
    tbytes j = t_encode(px, 40, 30, 3, ".jpg", 0);
    image_exif ex;
    err e = {0};
    cr_assert_eq(image_exif_read(j.p, j.n, &ex, &e), 0);
    cr_assert_str_eq(ex.json, "{}");
    cr_assert_eq(ex.orientation, 0);
    image_exif_free(&ex);

    /* an EXIF blob whose directory points everywhere */
    uint8_t junk[600];
    uint64_t s = 99;
    for (size_t k = 0; k < sizeof junk; k++)
        junk[k] = (uint8_t)t_rand(&s);
    memcpy(junk, "MM\0*\0\0\0\x08\0\x40", 10);
    tbytes b = t_jpeg_with_exif(&j, junk, sizeof junk);
    image_info i;
    probe_ok(&b, &i);
    cr_assert_eq(image_exif_read(b.p, b.n, &ex, &e), 0, "%s", e.msg);
    json_t *js = json_loadb(ex.json, ex.json_len, 0, NULL);
    cr_assert_not_null(js, "still valid JSON: %s", ex.json);
    cr_assert_leq(json_object_size(js), IMAGE_EXIF_MAX_TAGS);
    json_decref(js);
    image_exif_free(&ex);
    tb_free(&b);
    tb_free(&j);
    free(px);
}

Test(image_exif, tiff_file_ifd0)
{
    uint8_t px[6 * 4 * 3] = {0};
    tbytes t = t_tiff_rgb(false, px, 6, 4, 8);
    image_info i;
    probe_ok(&t, &i);
    cr_assert_eq(i.orientation, 8);
    cr_assert_eq(i.width, 4);
    cr_assert_eq(i.height, 6);
    image_exif ex;
    err e = {0};
    cr_assert_eq(image_exif_read(t.p, t.n, &ex, &e), 0, "%s", e.msg);
    cr_assert_eq(ex.orientation, 8);
    json_t *js = json_loadb(ex.json, ex.json_len, 0, NULL);
    cr_assert_eq(json_integer_value(json_object_get(js, "imagewidth")), 6, "%s", ex.json);
    json_decref(js);
    image_exif_free(&ex);
    tb_free(&t);
}

/* --- thumbnails ------------------------------------------------------------------- */

static void thumb_pixels(const image_thumb *t, image_pixels *out)
{
    err e = {0};
    image_decode_opts o = {.channels = 3};
    cr_assert_eq(image_decode(t->jpeg, t->len, &o, out, &e), 0, "%s", e.msg);
}

Test(image_thumb, sizes_and_paths)
{
    tbytes j = t_photo_jpeg(1920, 1080, 13, 85);
    image_thumb t;
    err e = {0};
    cr_assert_eq(image_thumbnail(j.p, j.n, NULL, &t, &e), 0, "%s", e.msg);
    cr_assert(t.fast_path);
    cr_assert_eq(t.width, 256);
    cr_assert_eq(t.height, 144);
    image_info i;
    tbytes tb = {t.jpeg, t.len};
    probe_ok(&tb, &i);
    cr_assert_eq(i.format, IMAGE_JPEG);
    cr_assert_eq(i.width, 256);
    cr_assert_eq(i.height, 144);
    image_thumb_free(&t);

    image_thumb_opts o = {.max_side = 100, .quality = 60, .path = IMAGE_PATH_GENERAL};
    cr_assert_eq(image_thumbnail(j.p, j.n, &o, &t, &e), 0, "%s", e.msg);
    cr_assert(!t.fast_path);
    cr_assert_eq(t.width, 100);
    cr_assert_eq(t.height, 56);
    image_thumb_free(&t);
    tb_free(&j);

    /* portrait PNG through libvips; small images keep their size */
    uint8_t *px = t_photo(300, 500, 14);
    tbytes p = t_encode(px, 300, 500, 3, ".png", 0);
    cr_assert_eq(image_thumbnail(p.p, p.n, NULL, &t, &e), 0, "%s", e.msg);
    cr_assert(!t.fast_path);
    cr_assert_eq(t.width, 154);
    cr_assert_eq(t.height, 256);
    image_thumb_free(&t);
    tb_free(&p);
    tbytes s = t_encode(px, 100, 50, 3, ".webp", 0);
    cr_assert_eq(image_thumbnail(s.p, s.n, NULL, &t, &e), 0, "%s", e.msg);
    cr_assert_eq(t.width, 100);
    cr_assert_eq(t.height, 50);
    image_thumb_free(&t);
    tb_free(&s);
    tbytes b = t_bmp(px, 300, 500, 24, false);
    cr_assert_eq(image_thumbnail(b.p, b.n, NULL, &t, &e), 0, "%s", e.msg);
    cr_assert_eq(t.height, 256);
    image_thumb_free(&t);
    tb_free(&b);
    free(px);

    cr_assert_eq(image_thumbnail("nope", 4, NULL, &t, &e), -1);
    cr_assert_eq(e.code, ERR_UNSUPPORTED);
}

/* The marker drawn in the stored top-left corner must end up where a
 * viewer shows it: checked against the definition of each orientation and
 * against libvips' own vips_autorot. */
Test(image_thumb, orientation_all_eight_both_paths)
{
    static const int want_corner[9] = {-1, 0, 1, 3, 2, 0, 1, 3, 2};
    uint8_t *px = t_marker(400, 240, 3);
    tbytes base = t_encode(px, 400, 240, 3, ".jpg[Q=95]", 0);
    for (int o = 1; o <= 8; o++) {
        t_tiffbuf x = t_orientation_exif(true, o);
        tbytes j = t_jpeg_with_exif(&base, x.p, x.n);

        VipsImage *in = vips_image_new_from_buffer(j.p, j.n, "", NULL), *rot = NULL;
        cr_assert_not_null(in);
        cr_assert_eq(vips_autorot(in, &rot, NULL), 0);
        VipsImage *rgb = NULL;
        cr_assert_eq(vips_extract_band(rot, &rgb, 0, "n", 3, NULL), 0);
        size_t sz;
        void *mem = vips_image_write_to_memory(rgb, &sz);
        image_pixels ref = {mem, (uint32_t)rgb->Xsize, (uint32_t)rgb->Ysize, 3,
                            (size_t)rgb->Xsize * 3};
        cr_assert_eq(t_marker_corner(&ref), want_corner[o], "libvips agrees on orientation %d", o);
        g_free(mem);
        g_object_unref(rgb), g_object_unref(rot), g_object_unref(in);

        for (int path = 0; path < 2; path++) {
            image_thumb t;
            err e = {0};
            image_thumb_opts opts = {.max_side = 100, .path = (image_path)path};
            cr_assert_eq(image_thumbnail(j.p, j.n, &opts, &t, &e), 0, "%s", e.msg);
            cr_assert_eq(t.width, o >= 5 ? 60 : 100, "orientation %d path %d", o, path);
            cr_assert_eq(t.height, o >= 5 ? 100 : 60);
            image_pixels got;
            thumb_pixels(&t, &got);
            cr_assert_eq(t_marker_corner(&got), want_corner[o], "orientation %d path %d", o, path);
            image_pixels_free(&got);
            image_thumb_free(&t);
        }
        tb_free(&j);
    }
    tb_free(&base);
    free(px);
}

Test(image_thumb, png_and_webp_exif_orientation)
{
    uint8_t *px = t_marker(200, 120, 3);
    tbytes p = t_encode(px, 200, 120, 3, ".png", 0);
    tbytes w = t_encode(px, 200, 120, 3, ".webp[lossless]", 0);
    t_tiffbuf x = t_orientation_exif(false, 6);
    tbytes files[2] = {t_png_with_exif(&p, x.p, x.n), t_webp_with_exif(&w, 200, 120, x.p, x.n)};
    for (int f = 0; f < 2; f++) {
        image_thumb t;
        err e = {0};
        cr_assert_eq(image_thumbnail(files[f].p, files[f].n, NULL, &t, &e), 0, "%s", e.msg);
        cr_assert_eq(t.width, 120);
        cr_assert_eq(t.height, 200);
        image_pixels got;
        thumb_pixels(&t, &got);
        cr_assert_eq(t_marker_corner(&got), 1, "orientation 6 puts top-left at top-right");
        image_pixels_free(&got);
        image_thumb_free(&t);
        tb_free(&files[f]);
    }
    tb_free(&p), tb_free(&w);
    free(px);
}

/* Many threads at once, both paths: every result must be byte-identical
 * to the one made alone (no shared state between calls). */
typedef struct thread_job {
    const tbytes *files;
    int nfiles;
    uint8_t *out[8];
    size_t len[8];
    int failures;
} thread_job;

static void *thumb_thread(void *arg)
{
    thread_job *j = arg;
    for (int round = 0; round < 3; round++)
        for (int f = 0; f < j->nfiles; f++) {
            image_thumb t;
            err e;
            image_thumb_opts o = {.max_side = 64, .path = f % 2 ? IMAGE_PATH_GENERAL : IMAGE_PATH_AUTO};
            if (image_thumbnail(j->files[f].p, j->files[f].n, &o, &t, &e)) {
                j->failures++;
                continue;
            }
            if (round == 0) {
                j->out[f] = t.jpeg;
                j->len[f] = t.len;
            } else {
                if (t.len != j->len[f] || memcmp(t.jpeg, j->out[f], t.len))
                    j->failures++;
                image_thumb_free(&t);
            }
        }
    image_thread_done();
    return NULL;
}

Test(image_thumb, thread_safe)
{
    tbytes files[6];
    for (int f = 0; f < 6; f++) {
        uint8_t *px = t_photo(320 + 16 * f, 200, 30 + (uint64_t)f);
        files[f] = t_encode(px, 320 + 16 * f, 200, 3, f < 4 ? ".jpg" : ".png", 0);
        free(px);
    }
    thread_job alone = {files, 6, {0}, {0}, 0};
    thumb_thread(&alone);
    cr_assert_eq(alone.failures, 0);
    pthread_t tid[4];
    thread_job jobs[4];
    for (int k = 0; k < 4; k++) {
        jobs[k] = (thread_job){files, 6, {0}, {0}, 0};
        cr_assert_eq(pthread_create(&tid[k], NULL, thumb_thread, &jobs[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(tid[k], NULL);
        cr_assert_eq(jobs[k].failures, 0, "thread %d", k);
        for (int f = 0; f < 6; f++) {
            cr_assert_eq(jobs[k].len[f], alone.len[f], "thread %d file %d", k, f);
            cr_assert_eq(memcmp(jobs[k].out[f], alone.out[f], alone.len[f]), 0);
            free(jobs[k].out[f]);
        }
    }
    for (int f = 0; f < 6; f++) {
        free(alone.out[f]);
        tb_free(&files[f]);
    }
}

Test(image_thumb, gray_jpeg_stays_gray)
{
    uint8_t *g = t_marker(640, 480, 1);
    tbytes j = t_encode(g, 640, 480, 1, ".jpg", 0);
    image_thumb t;
    err e = {0};
    cr_assert_eq(image_thumbnail(j.p, j.n, NULL, &t, &e), 0, "%s", e.msg);
    tbytes tb = {t.jpeg, t.len};
    image_info i;
    probe_ok(&tb, &i);
    cr_assert_eq(i.channels, 1);
    cr_assert_eq(i.width, 256);
    cr_assert_eq(i.height, 192);
    image_thumb_free(&t);
    tb_free(&j);
    free(g);
}

/* --- decode ------------------------------------------------------------------- */

Test(image_decode, dct_scaling_exact_gray_and_alpha)
{
    tbytes j = t_photo_jpeg(1920, 1080, 15, 90);
    image_pixels p;
    err e = {0};
    image_decode_opts o = {.channels = 3, .target_side = 256};
    cr_assert_eq(image_decode(j.p, j.n, &o, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.width, 480, "1/4 is the smallest DCT scale with a side >= 256");
    cr_assert_eq(p.height, 270);
    image_pixels_free(&p);
    o.exact = true;
    o.channels = 1;
    cr_assert_eq(image_decode(j.p, j.n, &o, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.width, 256);
    cr_assert_eq(p.height, 144);
    cr_assert_eq(p.channels, 1);
    image_pixels_free(&p);
    o = (image_decode_opts){.channels = 3};
    cr_assert_eq(image_decode(j.p, j.n, &o, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.width, 1920);
    image_pixels_free(&p);
    o.channels = 2;
    cr_assert_eq(image_decode(j.p, j.n, &o, &p, &e), -1);
    cr_assert_eq(e.code, ERR_INVALID);
    tb_free(&j);

    /* transparent PNG pixels become white, opaque ones keep their colour */
    uint8_t rgba[4 * 4 * 4];
    for (int k = 0; k < 16; k++) {
        rgba[4 * k] = 10, rgba[4 * k + 1] = 20, rgba[4 * k + 2] = 30;
        rgba[4 * k + 3] = k < 8 ? 0 : 255;
    }
    tbytes png = t_encode(rgba, 4, 4, 4, ".png", 0);
    o = (image_decode_opts){.channels = 3};
    cr_assert_eq(image_decode(png.p, png.n, &o, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.data[0], 255);
    cr_assert_eq(p.data[2], 255);
    cr_assert_eq(p.data[3 * 15], 10);
    cr_assert_eq(p.data[3 * 15 + 2], 30);
    image_pixels_free(&p);
    tb_free(&png);
}

Test(image_decode, fast_and_general_paths_agree)
{
    tbytes j = t_photo_jpeg(800, 600, 16, 92);
    image_pixels a, b;
    err e = {0};
    image_decode_opts o = {.channels = 3, .target_side = 200, .exact = true};
    cr_assert_eq(image_decode(j.p, j.n, &o, &a, &e), 0, "%s", e.msg);
    o.path = IMAGE_PATH_GENERAL;
    cr_assert_eq(image_decode(j.p, j.n, &o, &b, &e), 0, "%s", e.msg);
    cr_assert_eq(a.width, b.width);
    cr_assert_eq(a.height, b.height);
    double sum = 0;
    for (size_t k = 0; k < (size_t)a.width * a.height * 3; k++)
        sum += fabs((double)a.data[k] - b.data[k]);
    double mae = sum / ((double)a.width * a.height * 3);
    cr_assert_lt(mae, 6.0, "mean absolute difference %.2f", mae);
    image_pixels_free(&a);
    image_pixels_free(&b);
    tb_free(&j);
}

Test(image_decode, cmyk_jpeg_takes_the_general_path)
{
    /* turbojpeg writes a CMYK JPEG (Adobe marker, YCCK) */
    cr_assert_eq(image_lib_init(NULL), 0);
    uint8_t cmyk[32 * 32 * 4];
    for (int k = 0; k < 32 * 32; k++) {
        cmyk[4 * k] = 0, cmyk[4 * k + 1] = 255, cmyk[4 * k + 2] = 255, cmyk[4 * k + 3] = 0;
    }
    VipsImage *img = vips_image_new_from_memory_copy(cmyk, sizeof cmyk, 32, 32, 4, VIPS_FORMAT_UCHAR);
    img->Type = VIPS_INTERPRETATION_CMYK;
    void *buf;
    size_t len;
    cr_assert_eq(vips_jpegsave_buffer(img, &buf, &len, NULL), 0, "%s", vips_error_buffer());
    g_object_unref(img);
    image_info i;
    err e = {0};
    cr_assert_eq(image_probe(buf, len, &i, &e), 0, "%s", e.msg);
    cr_assert(i.cmyk);
    cr_assert_eq(i.channels, 4);
    image_pixels p;
    cr_assert_eq(image_decode(buf, len, NULL, &p, &e), 0, "%s", e.msg);
    cr_assert_eq(p.channels, 3);
    /* C=0 M=100% Y=100% K=0 is red */
    cr_assert_gt(p.data[0], 150, "r=%d g=%d b=%d", p.data[0], p.data[1], p.data[2]);
    cr_assert_lt(p.data[1], 100);
    image_pixels_free(&p);
    g_free(buf);
}

/* --- hashes ------------------------------------------------------------------------ */

Test(image_hash, robust_to_resize_and_recompression)
{
    err e = {0};
    image_hashes h[4], r[4];
    for (int s = 0; s < 4; s++) {
        uint8_t *px = t_photo(640, 480, 100 + (uint64_t)s);
        tbytes a = t_encode(px, 640, 480, 3, ".jpg[Q=92]", 0);
        cr_assert_eq(image_hash(a.p, a.n, &h[s], &e), 0, "%s", e.msg);
        /* a copy at 45% size, recompressed harder, as PNG -> WebP */
        VipsImage *in = vips_image_new_from_buffer(a.p, a.n, "", NULL), *small = NULL;
        cr_assert_eq(vips_resize(in, &small, 0.45, NULL), 0);
        void *buf;
        size_t len;
        cr_assert_eq(vips_webpsave_buffer(small, &buf, &len, "Q", 60, NULL), 0);
        cr_assert_eq(image_hash(buf, len, &r[s], &e), 0, "%s", e.msg);
        g_free(buf);
        g_object_unref(small), g_object_unref(in);
        tb_free(&a);
        free(px);
    }
    int sum = 0, pairs = 0;
    for (int s = 0; s < 4; s++) {
        int d = image_hamming(h[s].phash, r[s].phash);
        cr_assert_leq(d, 6, "seed %d: resized copy at pHash distance %d", s, d);
        cr_assert_leq(image_hamming(h[s].dhash, r[s].dhash), 12);
        for (int t = 0; t < s; t++) {
            int u = image_hamming(h[s].phash, h[t].phash);
            cr_assert_gt(u, 14, "unrelated pictures %d and %d at pHash distance %d", s, t, u);
            sum += u, pairs++;
        }
    }
    cr_assert_gt(sum / pairs, 24, "unrelated pictures: mean distance %d", sum / pairs);
}

Test(image_hash, definition_properties)
{
    uint8_t flat[64 * 64];
    memset(flat, 90, sizeof flat);
    cr_assert_eq(image_phash_gray(flat, 64, 64, 64), 0, "no coefficient is above the median");
    /* half the bits are set for a textured picture (median threshold) */
    uint8_t *px = t_photo(96, 96, 7);
    uint8_t g[96 * 96];
    for (int k = 0; k < 96 * 96; k++)
        g[k] = px[3 * k + 1];
    uint64_t a = image_phash_gray(g, 96, 96, 96);
    int bits = __builtin_popcountll(a);
    cr_assert(bits >= 28 && bits <= 32, "%d bits set", bits);
    /* the negative image flips every coefficient's sign */
    for (int k = 0; k < 96 * 96; k++)
        g[k] = (uint8_t)(255 - g[k]);
    uint64_t b = image_phash_gray(g, 96, 96, 96);
    cr_assert_gt(image_hamming(a, b), 56);
    /* a horizontal ramp: brighter to the left sets every dHash bit */
    uint8_t ramp[90 * 8];
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 90; x++)
            ramp[y * 90 + x] = (uint8_t)(250 - 2 * x);
    cr_assert_eq(image_dhash_gray(ramp, 90, 8, 90), UINT64_MAX);
    cr_assert_eq(image_hamming(0, UINT64_MAX), 64);
    cr_assert_eq(image_hamming(0xF0, 0x0F), 8);
    free(px);
}
