/*
 * Tests of `cvops eval` through the binary built next to this test binary
 * (skipped when it has not been built): the summary format, --json, exit
 * codes and error messages on stderr.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Runs a shell command; returns the exit status, stdout in *out (malloc). */
static int run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(p);
    *out = buf;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char GT[] =
    "{\"images\": [{\"id\": 1, \"width\": 100, \"height\": 100}],"
    " \"categories\": [{\"id\": 1, \"name\": \"a\"}],"
    " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1,"
    " \"bbox\": [0, 0, 10, 10], \"area\": 100, \"iscrowd\": 0},"
    " {\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [50, 50, 40, 40], \"area\": 1600,"
    " \"iscrowd\": 0}]}";
/* d1 on g1 (TP), d2 far away (FP) scoring between: AP small = 1 (d2 is
 * medium-sized and unmatched -> ignored for small), AP medium: g2 missed -> 0 */
static const char DT[] = "[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 10, 10],"
                         " \"score\": 0.9}, {\"image_id\": 1, \"category_id\": 1,"
                         " \"bbox\": [0, 60, 40, 30], \"score\": 0.8}]";

Test(eval_cli, coco_summary_lines_and_json)
{
    find_cvops();
    char dir[] = "/tmp/cvops-eval-cli-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char gt[PATH_MAX], dt[PATH_MAX], cmd[3 * PATH_MAX];
    snprintf(gt, sizeof gt, "%s/gt.json", dir);
    snprintf(dt, sizeof dt, "%s/dt.json", dir);
    write_file(gt, GT);
    write_file(dt, DT);
    char *out;
    snprintf(cmd, sizeof cmd, "%s eval coco --gt %s --dt %s", cvops, gt, dt);
    cr_assert_eq(run(cmd, &out), 0);
    /* 12 lines in the reference's format; the first: precision 1 up to
     * recall .5 (51 of 101 points), then 0 -> 51/101 = 0.505 */
    cr_assert(strstr(out, " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]"
                          " = 0.505\n") == out,
              "%s", out);
    cr_assert(strstr(out, " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]"
                          " = 1.000\n"),
              "%s", out);
    cr_assert(strstr(out, " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]"
                          " = -1.000\n"),
              "%s", out);
    int lines = 0;
    for (char *c = out; *c; c++)
        lines += *c == '\n';
    cr_assert_eq(lines, 12);
    free(out);

    snprintf(cmd, sizeof cmd, "%s eval coco --gt %s --dt %s --json --detail --matches", cvops, gt,
             dt);
    cr_assert_eq(run(cmd, &out), 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    cr_assert_not_null(j, "%s: %s", je.text, out);
    cr_assert_eq(json_array_size(json_object_get(j, "stats")), 12);
    cr_assert(json_is_number(json_object_get(j, "seconds")));
    json_t *c1 = json_object_get(json_object_get(j, "per_category"), "1");
    cr_assert_str_eq(json_string_value(json_object_get(c1, "name")), "a");
    json_t *err_ = json_object_get(json_object_get(j, "detail"), "errors");
    cr_assert_eq(json_integer_value(json_object_get(err_, "tp")), 1);
    cr_assert_eq(json_integer_value(json_object_get(err_, "background")), 1);
    /* one image: d1 TP on g1, d2 FP, g2 FN */
    json_t *imgs = json_object_get(json_object_get(j, "detail"), "images");
    cr_assert_eq(json_array_size(imgs), 1);
    json_t *ms = json_object_get(json_array_get(imgs, 0), "matches");
    cr_assert_eq(json_array_size(ms), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ms, 0), "kind")), "tp");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ms, 2), "kind")), "fn");
    json_decref(j);
    free(out);

    /* malformed results: exit 1, the place on stderr */
    write_file(dt, "[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 10], \"score\": 1}]");
    snprintf(cmd, sizeof cmd, "%s eval coco --gt %s --dt %s 2>&1", cvops, gt, dt);
    cr_assert_eq(run(cmd, &out), 1);
    cr_assert(strstr(out, "results[0].bbox: expected 4 numbers [x, y, width, height], got 3"), "%s",
              out);
    free(out);
    /* missing file: 4; bad usage: 2 */
    snprintf(cmd, sizeof cmd, "%s eval coco --gt %s/none.json --dt %s 2>&1", cvops, dir, dt);
    cr_assert_eq(run(cmd, &out), 4);
    free(out);
    snprintf(cmd, sizeof cmd, "%s eval coco --gt %s --dt %s --iou boxes 2>&1", cvops, gt, dt);
    cr_assert_eq(run(cmd, &out), 2);
    cr_assert(strstr(out, "--iou must be bbox, segm or keypoints"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

Test(eval_cli, classification_table_and_json)
{
    find_cvops();
    char dir[] = "/tmp/cvops-eval-cli-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char gt[PATH_MAX], pred[PATH_MAX], cmd[3 * PATH_MAX];
    snprintf(gt, sizeof gt, "%s/gt.csv", dir);
    snprintf(pred, sizeof pred, "%s/pred.csv", dir);
    write_file(gt, "id,label\na,cat\nb,dog\n");
    write_file(pred, "id,cat,dog\na,0.8,0.2\nb,0.6,0.4\n");
    char *out;
    snprintf(cmd, sizeof cmd, "%s eval classification --gt %s --pred %s --json", cvops, gt, pred);
    cr_assert_eq(run(cmd, &out), 0);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    cr_assert_not_null(j, "%s", je.text);
    /* a right (cat), b wrong (predicted cat): accuracy .5 */
    cr_assert_float_eq(json_number_value(json_object_get(j, "accuracy")), 0.5, 1e-12);
    json_decref(j);
    free(out);
    snprintf(cmd, sizeof cmd, "%s eval classification --gt %s --pred %s", cvops, gt, pred);
    cr_assert_eq(run(cmd, &out), 0);
    cr_assert(strstr(out, "accuracy        0.5000\n"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
