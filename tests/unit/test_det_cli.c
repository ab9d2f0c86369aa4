/*
 * Tests of `cvops demo synth-detect` and `cvops detect` through the binary
 * built next to this test binary (skipped when it has not been built): the
 * generator writes the same bytes for the same seed whatever the thread
 * count, a short training run writes a checkpoint that `detect predict`
 * reads (and draws with), and bad input gets an exit code and a message.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char cvops[PATH_MAX];

static void find_cvops(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) cr_skip_test("no /proc/self/exe");
    self[n] = 0;
    char *slash = strrchr(self, '/');
    *slash = 0;
    snprintf(cvops, sizeof cvops, "%s/cvops", self);
    if (access(cvops, X_OK) != 0) cr_skip_test("%s not built", cvops);
}

/* Runs a shell command; returns the exit status, stdout + stderr in *out. */
static int run(char **out, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap);
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(det_cli, synth_detect_is_deterministic_and_importable, .init = find_cvops)
{
    const char *d = test_tmpdir();
    char *out;
    int rc = run(&out,
                 "%s demo synth-detect --n 6 --seed 5 --size 96 --max-side 48 --no-photos "
                 "--threads 1 %s/a",
                 cvops, d);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = run(&out,
             "%s demo synth-detect --n 6 --seed 5 --size 96 --max-side 48 --no-photos "
             "--threads 3 %s/b",
             cvops, d);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = run(&out, "%s demo synth-detect --n 6 --seed 6 --size 96 --max-side 48 --no-photos %s/c",
             cvops, d);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    cr_assert_eq(run(&out, "diff -r %s/a %s/b", d, d), 0, "same seed, other bytes: %s", out);
    free(out);
    cr_assert_neq(run(&out, "cmp -s %s/a/annotations.json %s/c/annotations.json", d, d), 0);
    free(out);
    /* the COCO file is what the import path expects */
    char path[600];
    snprintf(path, sizeof path, "%s/a/annotations.json", d);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    cr_assert(j, "%s", je.text);
    cr_assert_eq(json_array_size(json_object_get(j, "images")), 6);
    cr_assert_eq(json_array_size(json_object_get(j, "categories")), 8);
    size_t na = json_array_size(json_object_get(j, "annotations"));
    cr_assert(na >= 6, "%zu annotations", na);
    json_t *a0 = json_array_get(json_object_get(j, "annotations"), 0);
    cr_assert_eq(json_array_size(json_object_get(a0, "bbox")), 4);
    json_decref(j);
    snprintf(path, sizeof path, "%s/a/images/img_000001.jpg", d);
    cr_assert_eq(access(path, R_OK), 0, "no %s", path);
}

Test(det_cli, train_then_predict_and_draw, .init = find_cvops)
{
    const char *d = test_tmpdir();
    char *out;
    int rc = run(&out,
                 "%s demo synth-detect --n 8 --val 4 --seed 2 --size 64 --min-side 16 "
                 "--max-side 40 --max-objects 2 --classes 3 --no-photos %s/ds",
                 cvops, d);
    cr_assert_eq(rc, 0, "%s", out);
    free(out);
    rc = run(&out,
             "%s detect train --data %s/ds --input 64 --epochs 2 --batch 4 --threads 1 "
             "--json --out %s/m.safetensors",
             cvops, d, d);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "\"final\":true"), "%s", out);
    cr_assert(strstr(out, "\"val_map50\""), "%s", out);
    free(out);
    rc = run(&out,
             "%s detect predict %s/m.safetensors %s/ds/val/images/val_000001.jpg --conf 0.01 "
             "--threads 1 --json --draw %s/drawn.jpg",
             cvops, d, d, d);
    cr_assert_eq(rc, 0, "%s", out);
    json_error_t je;
    json_t *j = json_loads(strchr(out, '{'), JSON_DISABLE_EOF_CHECK, &je);
    cr_assert(j, "%s: %s", je.text, out);
    cr_assert_eq(json_integer_value(json_object_get(j, "width")), 64);
    cr_assert(json_is_array(json_object_get(j, "detections")));
    json_decref(j);
    free(out);
    char path[600];
    snprintf(path, sizeof path, "%s/drawn.jpg", d);
    cr_assert_eq(access(path, R_OK), 0, "no drawing");
    /* eval on the validation split */
    rc = run(&out, "%s detect eval %s/m.safetensors --data %s/ds --threads 1", cvops, d, d);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "4 images"), "%s", out);
    free(out);
}

Test(det_cli, bad_input_gets_an_exit_code_and_a_reason, .init = find_cvops)
{
    const char *d = test_tmpdir();
    char *out;
    cr_assert_neq(run(&out, "%s demo synth-detect --n 2", cvops), 0);
    cr_assert(strstr(out, "output directory"), "%s", out);
    free(out);
    cr_assert_neq(run(&out, "%s demo synth-detect --n 2 --wh 12 %s/x", cvops, d), 0);
    cr_assert(strstr(out, "WxH"), "%s", out);
    free(out);
    cr_assert_neq(run(&out, "%s demo synth-detect --n 2 --max-side 500 %s/x", cvops, d), 0);
    cr_assert(strstr(out, "error"), "%s", out);
    free(out);
    cr_assert_neq(run(&out, "%s detect train", cvops), 0);
    cr_assert(strstr(out, "--data"), "%s", out);
    free(out);
    cr_assert_neq(run(&out, "%s detect train --data %s/nothing", cvops, d), 0);
    cr_assert(strstr(out, "annotations.json"), "%s", out);
    free(out);
    char path[600];
    snprintf(path, sizeof path, "%s/notamodel.safetensors", d);
    FILE *f = fopen(path, "w");
    fputs("hello", f);
    fclose(f);
    cr_assert_neq(run(&out, "%s detect predict %s %s", cvops, path, path), 0);
    cr_assert(strstr(out, "error"), "%s", out);
    free(out);
    cr_assert_neq(run(&out, "%s detect arch --input 100", cvops), 0);
    cr_assert(strstr(out, "multiples of 32"), "%s", out);
    free(out);
}
