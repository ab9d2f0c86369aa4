/*
 * bench/thumbnail.c - helper for bench/thumbnail.sh.
 *
 *   thumbnail gen DIR N          writes N photo-like 1920x1080 JPEGs (libvips,
 *                                quality 85): gradients, soft shapes, noise
 *   thumbnail run DIR THREADS PATH
 *                                thumbnails every .jpg file in DIR (read into memory
 *                                first) with THREADS threads; PATH is "fast"
 *                                (turbojpeg DCT scaling) or "general" (libvips);
 *                                prints "images seconds"
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "base/util.h"
#include "image/image.h"

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int gen(const char *dir, int n)
{
    const int w = 1920, h = 1080;
    uint8_t *px = malloc((size_t)w * h * 3);
    if (!px)
        return 1;
    for (int k = 0; k < n; k++) {
        uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1);
        int a[3], b[3];
        for (int c = 0; c < 3; c++)
            a[c] = (int)(xorshift(&s) % 256), b[c] = (int)(xorshift(&s) % 256);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double t = ((double)x / w + (double)y / h) / 2;
                uint8_t *p = px + ((size_t)y * w + x) * 3;
                for (int c = 0; c < 3; c++) {
                    int v = (int)(a[c] + (b[c] - a[c]) * t) + (int)(xorshift(&s) % 25) - 12;
                    p[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
        for (int e = 0; e < 40; e++) {
            int cx = (int)(xorshift(&s) % w), cy = (int)(xorshift(&s) % h);
            int r = 20 + (int)(xorshift(&s) % 200);
            uint8_t col[3] = {(uint8_t)xorshift(&s), (uint8_t)xorshift(&s), (uint8_t)xorshift(&s)};
            for (int y = cy - r < 0 ? 0 : cy - r; y < h && y <= cy + r; y++)
                for (int x = cx - r < 0 ? 0 : cx - r; x < w && x <= cx + r; x++) {
                    double d = ((double)(x - cx) * (x - cx) + (double)(y - cy) * (y - cy)) / r / r;
                    if (d >= 1)
                        continue;
                    uint8_t *p = px + ((size_t)y * w + x) * 3;
                    for (int c = 0; c < 3; c++)
                        p[c] = (uint8_t)(p[c] * d + col[c] * (1 - d));
                }
        }
        VipsImage *img = vips_image_new_from_memory(px, (size_t)w * h * 3, w, h, 3,
                                                    VIPS_FORMAT_UCHAR);
        char path[4096];
        snprintf(path, sizeof path, "%s/img%03d.jpg", dir, k);
        if (!img || vips_jpegsave(img, path, "Q", 85, "strip", TRUE, NULL)) {
            fprintf(stderr, "gen: %s\n", vips_error_buffer());
            return 1;
        }
        g_object_unref(img);
    }
    free(px);
    return 0;
}

typedef struct file {
    uint8_t *p;
    size_t n;
} file;

static file *files;
static int nfiles;
static atomic_int next_file;
static image_path path;
static atomic_int failures;

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        int i = atomic_fetch_add(&next_file, 1);
        if (i >= nfiles)
            break;
        image_thumb t;
        err e;
        image_thumb_opts o = {.path = path};
        if (image_thumbnail(files[i].p, files[i].n, &o, &t, &e)) {
            fprintf(stderr, "thumbnail: %s\n", e.msg);
            atomic_fetch_add(&failures, 1);
            continue;
        }
        image_thumb_free(&t);
    }
    image_thread_done();
    return NULL;
}

static int run(const char *dir, int threads)
{
    DIR *d = opendir(dir);
    if (!d)
        return 1;
    struct dirent *de;
    files = calloc(10000, sizeof *files);
    while ((de = readdir(d)) && nfiles < 10000) {
        size_t l = strlen(de->d_name);
        if (l < 4 || strcmp(de->d_name + l - 4, ".jpg"))
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        FILE *f = fopen(p, "rb");
        if (!f)
            return 1;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        files[nfiles].p = malloc((size_t)n);
        files[nfiles].n = fread(files[nfiles].p, 1, (size_t)n, f);
        fclose(f);
        nfiles++;
    }
    closedir(d);
    err e;
    if (image_lib_init(&e)) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    pthread_t tid[64];
    if (threads < 1 || threads > 64)
        threads = 1;
    int64_t t0 = time_mono_ns();
    for (int k = 0; k < threads; k++)
        pthread_create(&tid[k], NULL, worker, NULL);
    for (int k = 0; k < threads; k++)
        pthread_join(tid[k], NULL);
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    printf("%d %.3f\n", nfiles, secs);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (VIPS_INIT(argv[0]))
        return 1;
    if (argc == 4 && !strcmp(argv[1], "gen"))
        return gen(argv[2], atoi(argv[3]));
    if (argc == 5 && !strcmp(argv[1], "run")) {
        path = !strcmp(argv[4], "general") ? IMAGE_PATH_GENERAL : IMAGE_PATH_AUTO;
        return run(argv[2], atoi(argv[3]));
    }
    fprintf(stderr, "usage: thumbnail gen DIR N | thumbnail run DIR THREADS fast|general\n");
    return 2;
}
