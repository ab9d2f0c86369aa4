/*
 * Unit tests for `cvops dataset validate` (src/cli/dataset_validate.c),
 * called as a function: what it reports for each kind of problem the issue
 * lists, its exit codes, the JSON report, the format guess.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/dataset_validate.h"
#include "formats_util.h"

/* Runs the command with its stdout and stderr in a string (malloc'ed into *out). */
static int run(char **out, int argc, ...)
{
    char *argv[16];
    va_list ap;
    va_start(ap, argc);
    argv[0] = (char *)"validate";
    for (int i = 1; i < argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    argv[argc] = NULL;
    char path[300];
    snprintf(path, sizeof path, "%s/stdout", t_tmpdir());
    fflush(stdout);
    fflush(stderr);
    int saved = dup(1), saved2 = dup(2);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    close(fd);
    int rc = cmd_dataset_validate(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved, 1);
    dup2(saved2, 2);
    close(saved);
    close(saved2);
    char *slash = strrchr(path, '/');
    *slash = 0;
    *out = t_read(path, "stdout");
    return rc;
}

static const char *BAD_COCO =
    "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 100, \"height\": 80},\n"
    "             {\"id\": 2, \"file_name\": \"b.jpg\", \"width\": 100, \"height\": 80}],\n"
    " \"categories\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 0, \"name\": \"bg\"}],\n"
    " \"annotations\": [\n"
    "  {\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]},\n"
    "  {\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]},\n"
    "  {\"id\": 2, \"image_id\": 1, \"category_id\": 7, \"bbox\": [1, 2, 3, 4]},\n"
    "  {\"id\": 3, \"image_id\": 1, \"category_id\": 1, \"bbox\": [50, 50, 90, 4]},\n"
    "  {\"id\": 4, \"image_id\": 2, \"category_id\": 1, \"segmentation\": {\"size\": [80, 100], \"counts\": \"0a\"}},\n"
    "  {\"id\": 5, \"image_id\": 9, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]},\n"
    "  {\"id\": 6, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, \"2\", 3, 4]}\n"
    " ]}\n";

Test(formats_validate, lists_every_problem_of_a_coco_file)
{
    const char *d = t_tmpdir();
    t_write(d, "bad.json", BAD_COCO);
    t_jpeg(d, "img/a.jpg", 100, 80);
    char file[300], imgs[300];
    snprintf(file, sizeof file, "%s/bad.json", d);
    snprintf(imgs, sizeof imgs, "%s/img", d);
    char *out;
    int rc = run(&out, 6, "--format", "coco", "--images", imgs, file);
    cr_assert_eq(rc, EXIT_FAIL);
    const char *want[] = {
        "error   categories[1].id: category 0: category id 0 is not allowed",
        "error   annotations[1].id: annotation 1: annotation id 1 appears twice",
        "error   annotations[2].category_id: annotation 2: category 7 is not in \"categories\"",
        "error   annotations[3].bbox: annotation 3: bbox [50, 50, 90, 4] passes the border of the "
        "100x80 image by 40 px",
        "error   annotations[4].segmentation.counts: annotation 4: invalid RLE",
        "error   annotations[5].image_id: annotation 5: image 9 is not in \"images\"",
        "error   annotations[6].bbox[1]: annotation 6: expected a number, got a string",
        "error   b.jpg: image 2: no file",
        "coco ", ": 1 categories, 2 images, 1 annotations; 8 errors, 0 warnings\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert(strstr(out, want[i]), "missing '%s' in:\n%s", want[i], out);
    free(out);

    rc = run(&out, 5, "--json", "--max", "2", file);
    cr_assert_eq(rc, EXIT_FAIL);
    cr_assert(strstr(out, "{\"format\":\"coco\",\"path\":"), "%s", out);
    cr_assert(strstr(out, "\"valid\":false,\"categories\":1,\"images\":2,\"annotations\":1,"
                          "\"errors\":7,\"warnings\":0,\"problems\":[{\"severity\":\"error\","
                          "\"where\":\"categories[1].id\""),
              "%s", out);
    cr_assert(strstr(out, "\"not_shown\":5}"), "%s", out);
    free(out);
}

Test(formats_validate, exit_codes_and_guessing)
{
    const char *d = t_tmpdir();
    t_write(d, "ok.json", "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 10, "
                          "\"height\": 10}], \"categories\": [{\"id\": 1, \"name\": \"a\"}], "
                          "\"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, "
                          "\"bbox\": [0, 0, 10.5, 10]}]}");
    char file[300];
    snprintf(file, sizeof file, "%s/ok.json", d);
    char *out;
    cr_assert_eq(run(&out, 2, file), EXIT_OK);
    cr_assert(strstr(out, "warning annotations[0].bbox: annotation 1: bbox [0, 0, 10.5, 10] "
                          "passes the border of the 10x10 image by less than 1 px; clipped"),
              "%s", out);
    free(out);
    cr_assert_eq(run(&out, 3, "--strict", file), EXIT_FAIL);
    free(out);
    cr_assert_eq(run(&out, 4, "--format", "xml", file), EXIT_USAGE);
    cr_assert(strstr(out, "unknown format 'xml'"), "%s", out);
    free(out);
    cr_assert_eq(run(&out, 1), EXIT_USAGE);
    free(out);
    cr_assert_eq(run(&out, 2, "/nonexistent.json"), EXIT_FAIL);
    cr_assert(strstr(out, "cannot open"), "%s", out);
    free(out);
    /* a YOLO directory, guessed */
    t_write(d, "y/data.yaml", "train: images/train\nnames: [a]\n");
    t_jpeg(d, "y/images/train/x.jpg", 64, 32);
    t_write(d, "y/labels/train/x.txt", "0 0.5 0.5 0.5 0.5\n3 0.5 0.5 0.5 0.5\n");
    snprintf(file, sizeof file, "%s/y", d);
    cr_assert_eq(run(&out, 2, file), EXIT_FAIL);
    cr_assert(strstr(out, "error   labels/train/x.txt:2: class 3 is not in data.yaml's names"),
              "%s", out);
    cr_assert(strstr(out, "yolo "), "%s", out);
    free(out);
}
