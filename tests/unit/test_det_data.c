/*
 * Unit tests for the detector's data path (src/detect): the synthetic set
 * written as JPEG + COCO reads back through the COCO reader with the boxes
 * it was generated with; bad dataset files are refused with the reason;
 * the loader's batches do not depend on the number of workers.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "detect/detect.h"
#include "testutil.h"

static void setup(void)
{
    err e;
    cr_assert_eq(nn_init(1, &e), 0);
}

static det_synth *small_synth(void)
{
    det_synth_opts so = {.w = 96, .h = 64, .classes = 5, .max_side = 40, .photos_dir = ""};
    err e;
    det_synth *s = det_synth_new(&so, &e);
    cr_assert(s, "%s", e.msg);
    return s;
}

Test(det_data, synthetic_set_round_trips_through_coco, .init = setup)
{
    det_synth *s = small_synth();
    char dir[512], js[600], im[600];
    snprintf(dir, sizeof dir, "%s/synth", test_tmpdir());
    err e;
    cr_assert_eq(det_synth_write(s, 9, 6, dir, "x_", 2, &e), 0, "%s", e.msg);
    snprintf(js, sizeof js, "%s/annotations.json", dir);
    snprintf(im, sizeof im, "%s/images", dir);
    det_dataset *d = det_dataset_open_coco(js, im, &e);
    cr_assert(d, "%s", e.msg);
    cr_assert_eq(det_dataset_count(d), 6);
    const char *const *names;
    cr_assert_eq(det_dataset_classes(d, &names), 5);
    cr_assert_str_eq(names[0], det_synth_class_names[0]);
    cr_assert_str_eq(names[4], det_synth_class_names[4]);
    uint8_t rgb[96 * 64 * 3];
    det_box want[64];
    for (int64_t i = 0; i < 6; i++) {
        int nw;
        cr_assert_eq(det_synth_image(s, 9, i, rgb, want, 64, &nw, &e), 0);
        int64_t id;
        const char *file;
        int w, h, n;
        const det_box *got;
        det_dataset_image(d, i, &id, &file, &w, &h, &got, &n);
        cr_assert_eq(w, 96);
        cr_assert_eq(h, 64);
        cr_assert_eq(n, nw, "image %lld: %d boxes, generated %d", (long long)i, n, nw);
        for (int j = 0; j < n; j++) {
            cr_assert_eq(got[j].cls, want[j].cls);
            cr_assert(fabsf(got[j].x - want[j].x) < 0.01f && fabsf(got[j].w - want[j].w) < 0.01f &&
                          fabsf(got[j].y - want[j].y) < 0.01f &&
                          fabsf(got[j].h - want[j].h) < 0.01f,
                      "image %lld box %d moved", (long long)i, j);
        }
        /* the fetch decodes the JPEG: close to the generated pixels */
        det_sample smp = {0};
        cr_assert_eq(det_dataset_fetch(d, i, &smp, &e), 0, "%s", e.msg);
        cr_assert_eq(smp.img.w, 96);
        cr_assert_eq(smp.n, nw);
        double diff = 0;
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 96 * 3; x++)
                diff += fabs((double)smp.img.data[(size_t)y * smp.img.stride + (size_t)x] -
                             rgb[y * 96 * 3 + x]);
        cr_assert(diff / (96 * 64 * 3) < 12, "mean JPEG error %.1f", diff / (96 * 64 * 3));
        free(smp.buf);
        free(smp.boxes);
    }
    det_dataset_free(d);
    det_synth_free(s);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

Test(det_data, bad_dataset_files_are_refused_with_the_reason, .init = setup)
{
    char js[600];
    err e;
    snprintf(js, sizeof js, "%s/missing.json", test_tmpdir());
    cr_assert_null(det_dataset_open_coco(js, test_tmpdir(), &e));
    cr_assert(e.msg[0]);
    snprintf(js, sizeof js, "%s/broken.json", test_tmpdir());
    write_text(js, "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 10");
    cr_assert_null(det_dataset_open_coco(js, test_tmpdir(), &e));
    cr_assert(e.msg[0]);
    /* an annotation of an image that does not exist */
    write_text(js, "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 10, "
                   "\"height\": 10}], \"categories\": [{\"id\": 1, \"name\": \"a\"}], "
                   "\"annotations\": [{\"id\": 1, \"image_id\": 7, \"category_id\": 1, "
                   "\"bbox\": [1, 1, 2, 2]}]}");
    det_dataset *d = det_dataset_open_coco(js, test_tmpdir(), &e);
    cr_assert_null(d, "a box of image 7, which is not in the file, is accepted");
    cr_assert(strstr(e.msg, "7"), "%s", e.msg);
    /* an image without a width: its boxes cannot be checked, training needs
     * the size (found by fuzz_det_coco: a box at x = 500 was accepted) */
    write_text(js, "{\"images\": [{\"id\": 4, \"file_name\": \"a.jpg\", \"height\": 10}],"
                   " \"categories\": [{\"id\": 1, \"name\": \"a\"}], \"annotations\": [{\"id\": 1,"
                   " \"image_id\": 4, \"category_id\": 1, \"bbox\": [500, 1, 2, 2]}]}");
    cr_assert_null(det_dataset_open_coco(js, test_tmpdir(), &e), "an image without a width is accepted");
    cr_assert(strstr(e.msg, "broken.json: image 4 'a.jpg' has no width"), "%s", e.msg);
    /* images out of id order: each keeps its own boxes */
    write_text(js, "{\"images\": [{\"id\": 9, \"file_name\": \"a.jpg\", \"width\": 50, "
                   "\"height\": 50}, {\"id\": 2, \"file_name\": \"b.jpg\", \"width\": 50, "
                   "\"height\": 50}], \"categories\": [{\"id\": 5, \"name\": \"b\"}, "
                   "{\"id\": 1, \"name\": \"a\"}], \"annotations\": ["
                   "{\"id\": 1, \"image_id\": 2, \"category_id\": 1, \"bbox\": [1, 1, 2, 2]},"
                   "{\"id\": 2, \"image_id\": 9, \"category_id\": 5, \"bbox\": [3, 3, 4, 4]},"
                   "{\"id\": 3, \"image_id\": 9, \"category_id\": 1, \"bbox\": [5, 5, 6, 6]}]}");
    d = det_dataset_open_coco(js, test_tmpdir(), &e);
    cr_assert(d, "%s", e.msg);
    {
        int64_t id;
        const char *file;
        int w, h, n;
        const det_box *b;
        det_dataset_image(d, 0, &id, &file, &w, &h, &b, &n);
        cr_assert_eq(id, 9);
        cr_assert_eq(n, 2, "image 9 has 2 boxes, got %d", n);
        cr_assert_float_eq(b[0].x, 3, 1e-6);
        cr_assert_eq(b[0].cls, 1, "category 5 is the second class");
        cr_assert_eq(b[1].cls, 0);
        det_dataset_image(d, 1, &id, &file, &w, &h, &b, &n);
        cr_assert_eq(id, 2);
        cr_assert_eq(n, 1);
        cr_assert_float_eq(b[0].x, 1, 1e-6);
    }
    det_dataset_free(d);
    /* the same image id twice */
    write_text(js, "{\"images\": [{\"id\": 3, \"file_name\": \"a.jpg\", \"width\": 50, "
                   "\"height\": 50}, {\"id\": 3, \"file_name\": \"b.jpg\", \"width\": 50, "
                   "\"height\": 50}], \"categories\": [{\"id\": 1, \"name\": \"a\"}], "
                   "\"annotations\": []}");
    cr_assert_null(det_dataset_open_coco(js, test_tmpdir(), &e));
    cr_assert(strstr(e.msg, "3"), "%s", e.msg);
    /* a missing image file: fetch says which */
    write_text(js, "{\"images\": [{\"id\": 1, \"file_name\": \"nothere.jpg\", \"width\": 10, "
                   "\"height\": 10}], \"categories\": [{\"id\": 1, \"name\": \"a\"}], "
                   "\"annotations\": []}");
    d = det_dataset_open_coco(js, test_tmpdir(), &e);
    cr_assert(d, "%s", e.msg);
    det_sample smp = {0};
    cr_assert_eq(det_dataset_fetch(d, 0, &smp, &e), -1);
    cr_assert(strstr(e.msg, "nothere.jpg"), "%s", e.msg);
    free(smp.buf);
    free(smp.boxes);
    det_dataset_free(d);
}

typedef struct mem_set {
    uint8_t px[8][96 * 64 * 3];
    det_box boxes[8][64];
    int n[8];
} mem_set;

static int mem_fetch(void *ud, int64_t index, det_sample *out, err *e)
{
    mem_set *m = ud;
    out->img = (nn_image){96, 64, 3, 96 * 3, m->px[index]};
    det_box *b = det_sample_boxes(out, m->n[index]);
    if (!b && m->n[index]) return err_set(e, ERR_INTERNAL, "out of memory");
    memcpy(b, m->boxes[index], (size_t)m->n[index] * sizeof *b);
    out->n = m->n[index];
    return 0;
}

Test(det_data, loader_batches_do_not_depend_on_workers, .init = setup)
{
    det_synth *s = small_synth();
    mem_set *m = malloc(sizeof *m);
    err e;
    for (int i = 0; i < 8; i++)
        cr_assert_eq(det_synth_image(s, 2, i, m->px[i], m->boxes[i], 64, &m->n[i], &e), 0);
    det_synth_free(s);
    nn_tensor *first[4] = {0};
    det_box *fb[4] = {0};
    int fnb[4] = {0};
    for (int workers = 1; workers <= 3; workers += 2) {
        det_loader_cfg c = {.count = 8, .batch = 3, .shuffle = true, .seed = 4, .workers = workers};
        det_aug_default(&c.aug, 64, 64);
        det_loader *l = det_loader_new(&c, mem_fetch, m, &e);
        cr_assert(l, "%s", e.msg);
        cr_assert_eq(det_loader_batches(l), 3);
        cr_assert_eq(det_loader_start(l, 1, 1.0f, &e), 0);
        det_batch *b;
        int k = 0, r;
        while ((r = det_loader_next(l, &b, &e)) == 1) {
            cr_assert(k < 3);
            cr_assert_eq(b->x->h, 64);
            cr_assert_eq(b->x->w, 64);
            int nb = b->first[b->n];
            if (workers == 1) {
                first[k] = nn_tensor_new(b->x->n, 3, 64, 64);
                memcpy(first[k]->data, b->x->data, nn_tensor_numel(b->x) * sizeof(float));
                fb[k] = malloc((size_t)(nb + 1) * sizeof *fb[k]);
                memcpy(fb[k], b->boxes, (size_t)nb * sizeof *fb[k]);
                fnb[k] = nb;
            } else {
                cr_assert_eq(b->x->n, first[k]->n);
                cr_assert(
                    memcmp(first[k]->data, b->x->data, nn_tensor_numel(b->x) * sizeof(float)) == 0,
                    "batch %d differs with %d workers", k, workers);
                cr_assert_eq(nb, fnb[k]);
                cr_assert(memcmp(fb[k], b->boxes, (size_t)nb * sizeof *fb[k]) == 0);
            }
            for (int i = 0; i < nb; i++)
                cr_assert(b->boxes[i].x >= 0 && b->boxes[i].x + b->boxes[i].w <= 64.001f,
                          "batch %d box %d outside the input", k, i);
            det_loader_release(l, b);
            k++;
        }
        cr_assert_eq(r, 0, "%s", e.msg);
        cr_assert_eq(k, 3);
        det_loader_free(l);
    }
    for (int k = 0; k < 3; k++) {
        nn_tensor_free(first[k]);
        free(fb[k]);
    }
    free(m);
}
