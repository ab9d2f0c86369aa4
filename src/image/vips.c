/*
 * vips.c - the general decode path through libvips, and its process-wide
 * set-up.
 *
 * libvips is initialised once (pthread_once) with settings that suit a
 * server decoding many independent images on many threads:
 *   - no operation cache: every image is new, caching only holds memory;
 *   - concurrency 1: our callers are the parallelism, vips threads inside
 *     each call would only compete with them;
 *   - untrusted loaders blocked (ImageMagick, PDF, ...): probe has already
 *     restricted input to five formats, this is a second fence;
 *   - the "VIPS" log domain silenced (decoder warnings would go to stderr).
 *
 * We turn off vips' own auto-rotation and apply the orientation that probe
 * read ourselves, so both decode paths agree on it by construction.
 * Images are converted to 8-bit sRGB or B_W, and alpha is flattened over
 * white, before the pixels are copied out.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "image/internal.h"

static pthread_once_t vips_once = PTHREAD_ONCE_INIT;
static int vips_init_rc = -1;

/* libvips reports decoder warnings (libpng's, libwebp's, ...) through
 * g_warning, which GLib prints on stderr. A library does not print: the
 * warnings are dropped here, and what matters comes back as errors. */
static void vips_quiet(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer ud)
{
    (void)domain, (void)level, (void)msg, (void)ud;
}

static void vips_setup(void)
{
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO |
                                  G_LOG_LEVEL_DEBUG,
                      vips_quiet, NULL);
    if (vips_init("cvops") != 0)
        return;
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    vips_cache_set_max_files(0);
    vips_concurrency_set(1);
    vips_block_untrusted_set(TRUE);
    vips_init_rc = 0;
}

int image_lib_init(err *e)
{
    pthread_once(&vips_once, vips_setup);
    if (vips_init_rc != 0)
        return err_set(e, ERR_INTERNAL, "libvips could not be initialised: %s", vips_error_buffer());
    return 0;
}

void image_thread_done(void)
{
    if (vips_init_rc == 0)
        vips_thread_shutdown();
}

int vips_fail(err *e, err_code code, const char *what)
{
    char msg[400];
    snprintf(msg, sizeof msg, "%s", vips_error_buffer());
    vips_error_clear();
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
        msg[--l] = 0;
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = ';';
    return err_set(e, code, "%s: %s", what, l ? msg : "libvips failed");
}

int vips_verify(const uint8_t *d, size_t n, err *e)
{
    if (image_lib_init(e))
        return -1;
    /* Sequential access and an average: every row is decoded once and
     * nothing but the current strip is held. */
    VipsImage *img = vips_image_new_from_buffer(d, n, "", "access", VIPS_ACCESS_SEQUENTIAL,
                                                "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
    if (!img)
        return vips_fail(e, ERR_UNPROCESSABLE, "cannot decode the image");
    double avg;
    int rc = vips_avg(img, &avg, NULL);
    g_object_unref(img);
    if (rc)
        return vips_fail(e, ERR_UNPROCESSABLE, "cannot decode the image");
    return 0;
}

int vips_decode(const uint8_t *d, size_t n, uint32_t fit_side, uint8_t channels,
                image_pixels *out, err *e)
{
    memset(out, 0, sizeof *out);
    if (image_lib_init(e))
        return -1;
    VipsImage *img = NULL;
    int rc;
    if (fit_side)
        rc = vips_thumbnail_buffer((void *)d, n, &img, (int)fit_side, "height", (int)fit_side,
                                   "size", VIPS_SIZE_DOWN, "no_rotate", TRUE, NULL);
    else {
        img = vips_image_new_from_buffer(d, n, "", "access", VIPS_ACCESS_SEQUENTIAL, NULL);
        rc = img ? 0 : -1;
    }
    if (rc)
        return vips_fail(e, ERR_UNPROCESSABLE, "cannot decode the image");

    /* The chain of conversions; each step replaces img. */
    VipsImage *t = NULL;
    /* Colour images go to sRGB even when gray is wanted: px_convert then
     * takes BT.601 luma of the gamma-encoded values, as a JPEG's Y channel
     * is, where libvips' B_W would weigh linear light. Both paths must give
     * the same gray for the perceptual hashes to agree. */
    bool gray_src = vips_image_get_bands(img) <= 2 && img->Type != VIPS_INTERPRETATION_CMYK;
    VipsInterpretation want = gray_src ? VIPS_INTERPRETATION_B_W : VIPS_INTERPRETATION_sRGB;
    uint8_t bands = gray_src ? 1 : 3;
    if (vips_colourspace(img, &t, want, NULL))
        goto fail;
    g_object_unref(img);
    img = t;
    if (vips_image_hasalpha(img)) {
        VipsArrayDouble *bg = bands == 1 ? vips_array_double_newv(1, 255.0)
                                            : vips_array_double_newv(3, 255.0, 255.0, 255.0);
        rc = vips_flatten(img, &t, "background", bg, NULL);
        vips_area_unref(VIPS_AREA(bg));
        if (rc)
            goto fail;
        g_object_unref(img);
        img = t;
    }
    if (vips_image_get_bands(img) != bands) {
        if (vips_extract_band(img, &t, 0, "n", (int)bands, NULL))
            goto fail;
        g_object_unref(img);
        img = t;
    }
    if (vips_image_get_format(img) != VIPS_FORMAT_UCHAR) {
        if (vips_cast_uchar(img, &t, NULL))
            goto fail;
        g_object_unref(img);
        img = t;
    }
    size_t size = 0;
    void *mem = vips_image_write_to_memory(img, &size);
    if (!mem)
        goto fail;
    uint32_t w = (uint32_t)vips_image_get_width(img), h = (uint32_t)vips_image_get_height(img);
    g_object_unref(img);
    if (size != (size_t)w * h * bands) {
        g_free(mem);
        return err_set(e, ERR_INTERNAL, "libvips returned %zu bytes for %ux%ux%u", size, w, h,
                       bands);
    }
    if (px_alloc(out, w, h, bands, e)) {
        g_free(mem);
        return -1;
    }
    memcpy(out->data, mem, size);
    g_free(mem);
    if (px_convert(out, channels, e)) {
        image_pixels_free(out);
        return -1;
    }
    return 0;
fail:
    g_object_unref(img);
    return vips_fail(e, ERR_UNPROCESSABLE, "cannot decode the image");
}
