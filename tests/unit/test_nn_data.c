/*
 * Unit tests for src/nn data handling: the PRNG, augmentation (exact
 * identity and flips, determinism per seed), the loader (same batches
 * whatever the number of workers, errors surface) and IDX files.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "nn/nn.h"

Test(nn_data, rng_is_reproducible_and_uniform)
{
    nn_rng a, b;
    nn_rng_seed(&a, 42);
    nn_rng_seed(&b, 42);
    double sum = 0, sq = 0;
    for (int i = 0; i < 100000; i++) {
        uint64_t x = nn_rng_next(&a);
        cr_assert_eq(x, nn_rng_next(&b));
        float u = nn_rng_uniform(&a);
        nn_rng_uniform(&b);
        cr_assert(u >= 0 && u < 1);
        sum += u;
        double g = nn_rng_normal(&a);
        nn_rng_normal(&b);
        sq += g * g;
    }
    cr_assert_float_eq(sum / 100000, 0.5, 0.01);
    cr_assert_float_eq(sq / 100000, 1.0, 0.02);
    cr_assert_neq(nn_sample_seed(1, 0, 5), nn_sample_seed(1, 1, 5));
    cr_assert_neq(nn_sample_seed(1, 0, 5), nn_sample_seed(1, 0, 6));
    cr_assert_eq(nn_sample_seed(9, 3, 5), nn_sample_seed(9, 3, 5));
}

static uint8_t pix[3 * 12 * 10];
static nn_image rgb_image(void)
{
    for (int i = 0; i < 3 * 12 * 10; i++)
        pix[i] = (uint8_t)((i * 29) % 251);
    return (nn_image){12, 10, 3, 36, pix};
}

Test(nn_data, identity_resize_and_flip_are_exact)
{
    err e;
    nn_image im = rgb_image();
    nn_aug a = {.out_w = 12, .out_h = 10, .out_c = 3, .mean = {0, 0, 0}, .std = {1, 1, 1}};
    float out[360];
    cr_assert_eq(nn_augment(&a, &im, 1, out, &e), 0, "%s", e.msg);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 10; y++)
            for (int x = 0; x < 12; x++)
                cr_assert_float_eq(out[(c * 10 + y) * 12 + x], pix[y * 36 + x * 3 + c] / 255.0f,
                                   1e-6);
    /* hflip: find a seed that flips (probability 1/2) and one that does not */
    a.hflip = true;
    int flipped = 0, kept = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        cr_assert_eq(nn_augment(&a, &im, seed, out, &e), 0);
        bool f = true, k = true;
        for (int y = 0; y < 10; y++)
            for (int x = 0; x < 12; x++) {
                float v = out[y * 12 + x];
                f &= fabsf(v - pix[y * 36 + (11 - x) * 3] / 255.0f) < 1e-6f;
                k &= fabsf(v - pix[y * 36 + x * 3] / 255.0f) < 1e-6f;
            }
        cr_assert(f || k, "seed %llu: neither flipped nor kept", (unsigned long long)seed);
        flipped += f;
        kept += k;
    }
    cr_assert_gt(flipped, 3);
    cr_assert_gt(kept, 3);
}

Test(nn_data, augmentation_is_deterministic_per_seed)
{
    err e;
    nn_image im = rgb_image();
    nn_aug a = {.out_w = 8, .out_h = 8, .out_c = 3, .scale_min = 0.3f, .scale_max = 1,
                .hflip = true, .rotate_deg = 15, .pad = 2, .brightness = 0.3f,
                .contrast = 0.3f, .saturation = 0.3f, .mean = {0.5f, 0.5f, 0.5f},
                .std = {0.2f, 0.2f, 0.2f}};
    float o1[192], o2[192], o3[192];
    cr_assert_eq(nn_augment(&a, &im, 77, o1, &e), 0);
    cr_assert_eq(nn_augment(&a, &im, 77, o2, &e), 0);
    cr_assert_eq(nn_augment(&a, &im, 78, o3, &e), 0);
    cr_assert_eq(memcmp(o1, o2, sizeof o1), 0);
    cr_assert_neq(memcmp(o1, o3, sizeof o1), 0);
    for (int i = 0; i < 192; i++)
        cr_assert(o1[i] >= -2.5f - 1e-5f && o1[i] <= 2.5f + 1e-5f, "value %f out of range",
                  o1[i]);
    /* grey output from RGB, RGB from grey */
    a.out_c = 1;
    cr_assert_eq(nn_augment(&a, &im, 1, o1, &e), 0);
    nn_image g = {12, 10, 1, 12, pix};
    a.out_c = 3;
    cr_assert_eq(nn_augment(&a, &g, 1, o1, &e), 0);
    cr_assert_eq(memcmp(o1, o1 + 64, 64 * sizeof(float)), 0, "grey replicated to 3 channels");
    nn_image bad = {0, 10, 3, 36, pix};
    cr_assert_eq(nn_augment(&a, &bad, 1, o1, &e), -1);
}

Test(nn_data, downscaling_averages)
{
    /* a 64x64 checkerboard of 1-pixel squares shrunk to 8x8 is mid-grey */
    err e;
    static uint8_t cb[64 * 64];
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++)
            cb[y * 64 + x] = ((x + y) & 1) ? 255 : 0;
    nn_image im = {64, 64, 1, 64, cb};
    nn_aug a = {.out_w = 8, .out_h = 8, .out_c = 1, .std = {1}};
    float out[64];
    cr_assert_eq(nn_augment(&a, &im, 0, out, &e), 0);
    for (int i = 0; i < 64; i++)
        cr_assert_float_eq(out[i], 0.5f, 0.15f, "pixel %d = %f", i, out[i]);
}

/* --- loader ------------------------------------------------------------------ */

static int fetch_synth(void *ud, int64_t i, nn_sample *s, err *e)
{
    int *fail_at = ud;
    if (fail_at && i == *fail_at)
        return err_set(e, ERR_IO, "blob for sample %lld is missing", (long long)i);
    uint8_t *p = nn_sample_image(s, 6, 5, 1);
    if (!p)
        return err_set(e, ERR_INTERNAL, "oom");
    for (int k = 0; k < 30; k++)
        p[k] = (uint8_t)(i * 7 + k);
    s->label = (int)(i % 3);
    return 0;
}

static void run_epoch(int workers, int prefetch, float *out, int *labels, int64_t *index)
{
    err e;
    nn_loader_cfg c = {.count = 23, .batch = 5, .shuffle = true, .seed = 11,
                       .aug = {.out_w = 6, .out_h = 5, .out_c = 1, .hflip = true,
                               .std = {1}},
                       .workers = workers, .prefetch = prefetch};
    nn_loader *l = nn_loader_new(&c, fetch_synth, NULL, &e);
    cr_assert_not_null(l, "%s", e.msg);
    cr_assert_eq(nn_loader_batches(l), 5);
    for (int ep = 0; ep < 2; ep++) {
        cr_assert_eq(nn_loader_start(l, ep, &e), 0);
        nn_batch *b;
        int k = 0, nb = 0, r;
        while ((r = nn_loader_next(l, &b, &e)) == 1) {
            for (int i = 0; i < b->n; i++, k++) {
                memcpy(out + ((size_t)ep * 23 + (size_t)k) * 30, b->x->data + (size_t)i * 30,
                       30 * sizeof(float));
                labels[ep * 23 + k] = b->labels[i];
                index[ep * 23 + k] = b->index[i];
            }
            nb++;
            nn_loader_release(l, b);
        }
        cr_assert_eq(r, 0);
        cr_assert_eq(nb, 5);
        cr_assert_eq(k, 23);
    }
    nn_loader_free(l);
}

Test(nn_data, loader_batches_do_not_depend_on_workers)
{
    static float o1[46 * 30], o2[46 * 30];
    int l1[46], l2[46];
    int64_t i1[46], i2[46];
    run_epoch(1, 1, o1, l1, i1);
    run_epoch(4, 3, o2, l2, i2);
    cr_assert_eq(memcmp(o1, o2, sizeof o1), 0);
    cr_assert_eq(memcmp(l1, l2, sizeof l1), 0);
    cr_assert_eq(memcmp(i1, i2, sizeof i1), 0);
    /* each epoch is a permutation, and the two epochs differ */
    int seen[23] = {0};
    for (int k = 0; k < 23; k++) {
        seen[i1[k]]++;
        cr_assert_eq(l1[k], i1[k] % 3);
    }
    for (int k = 0; k < 23; k++)
        cr_assert_eq(seen[k], 1);
    cr_assert_neq(memcmp(i1, i1 + 23, 23 * sizeof(int64_t)), 0);
}

Test(nn_data, loader_reports_fetch_errors)
{
    err e;
    int fail_at = 13;
    nn_loader_cfg c = {.count = 20, .batch = 4,
                       .aug = {.out_w = 6, .out_h = 5, .out_c = 1, .std = {1}},
                       .workers = 2};
    nn_loader *l = nn_loader_new(&c, fetch_synth, &fail_at, &e);
    cr_assert_not_null(l);
    nn_loader_start(l, 0, &e);
    nn_batch *b;
    int r, got = 0;
    while ((r = nn_loader_next(l, &b, &e)) == 1) {
        got++;
        nn_loader_release(l, b);
    }
    cr_assert_eq(r, -1);
    cr_assert_lt(got, 4);
    cr_assert(strstr(e.msg, "sample 13") && strstr(e.msg, "missing"), "%s", e.msg);
    nn_loader_free(l);
}

/* --- IDX ---------------------------------------------------------------------- */

static void write_gz(const char *path, const uint8_t *d, size_t n)
{
    gzFile f = gzopen(path, "wb");
    gzwrite(f, d, (unsigned)n);
    gzclose(f);
}

Test(nn_data, idx_files)
{
    err e;
    uint8_t im[16 + 3 * 4 * 2] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 2};
    for (int i = 0; i < 24; i++)
        im[16 + i] = (uint8_t)i;
    uint8_t lb[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 2, 0, 1};
    char ip[] = "/tmp/nn_idx_iXXXXXX", lp[] = "/tmp/nn_idx_lXXXXXX";
    close(mkstemp(ip));
    close(mkstemp(lp));
    write_gz(ip, im, sizeof im);
    FILE *f = fopen(lp, "wb"); /* uncompressed works too */
    fwrite(lb, 1, sizeof lb, f);
    fclose(f);
    nn_idx *d = nn_idx_open(ip, lp, &e);
    cr_assert_not_null(d, "%s", e.msg);
    cr_assert_eq(d->count, 3);
    cr_assert_eq(d->h, 4);
    cr_assert_eq(d->w, 2);
    nn_sample s = {0};
    cr_assert_eq(nn_idx_fetch(d, 2, &s, &e), 0);
    cr_assert_eq(s.label, 1);
    cr_assert_eq(s.img.data[0], 16);
    cr_assert_eq(nn_idx_fetch(d, 3, &s, &e), -1);
    nn_idx_free(d);
    lb[7] = 4; /* count mismatch */
    f = fopen(lp, "wb");
    fwrite(lb, 1, sizeof lb, f);
    fclose(f);
    cr_assert_null(nn_idx_open(ip, lp, &e));
    cr_assert(strstr(e.msg, "label count"), "%s", e.msg);
    unlink(ip);
    unlink(lp);
}

Test(nn_data, fashion_mnist_is_installed)
{
    err e;
    nn_idx *d = nn_idx_open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                            "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", &e);
    cr_assert_not_null(d, "%s (scripts/install-deps installs dataset-fashion-mnist)", e.msg);
    cr_assert_eq(d->count, 10000);
    cr_assert_eq(d->h, 28);
    int hist[10] = {0};
    for (int64_t i = 0; i < d->count; i++)
        hist[d->labels[i]]++;
    for (int k = 0; k < 10; k++)
        cr_assert_eq(hist[k], 1000);
    nn_idx_free(d);
}
