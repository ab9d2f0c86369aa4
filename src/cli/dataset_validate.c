/*
 * dataset_validate.c - `cvops dataset validate [--format F] PATH`.
 *
 * Runs the format's reader (src/formats) with keep_going, so every problem
 * of the input is listed with its location, not only the first: duplicate
 * annotation ids, category id 0 or undeclared, boxes outside the image,
 * invalid RLE, undeclared images, non-numeric fields, malformed JSON / XML /
 * YAML / label lines. With --images DIR it also checks that each image's
 * file exists under DIR ("missing images"). Nothing is sent anywhere.
 *
 * The format is guessed when --format is not given: a .json file is COCO,
 * a .csv file CSV, a directory with a data.yaml (or train/ val/ class
 * folders) YOLO, with Annotations/ or .xml files VOC, otherwise class
 * folders.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "cli/cli.h"
#include "cli/dataset_validate.h"
#include "formats/formats.h"

typedef struct vctx {
    const char *images;
    fmt_report *rep;
    int64_t missing;
} vctx;

static int check_image(void *ctx, const fmt_image *im, err *e)
{
    (void)e;
    vctx *v = ctx;
    if (!v->images)
        return 0;
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", v->images, im->file_name);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        fmt_report_add(v->rep, im->file_name, "image %lld: no file %s", (long long)im->id, path);
        v->missing++;
    }
    return 0;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcasecmp(s + n - m, suf) == 0;
}

static bool exists(const char *dir, const char *name, bool want_dir)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

static bool has_xml(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    struct dirent *de;
    bool found = false;
    while (!found && (de = readdir(d)))
        found = has_suffix(de->d_name, ".xml");
    closedir(d);
    return found;
}

static fmt_format guess(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (exists(path, "data.yaml", false) || exists(path, "data.yml", false) ||
            exists(path, "dataset.yaml", false))
            return FMT_YOLO;
        if (exists(path, "Annotations", true) || has_xml(path))
            return FMT_VOC;
        if (exists(path, "train", true) || exists(path, "val", true))
            return FMT_YOLO; /* classification splits */
        return FMT_FOLDER;
    }
    if (has_suffix(path, ".csv"))
        return FMT_CSV;
    if (has_suffix(path, ".yaml") || has_suffix(path, ".yml"))
        return FMT_YOLO;
    return FMT_COCO;
}

static const char *noun(fmt_format f)
{
    return f == FMT_COCO || f == FMT_YOLO || f == FMT_VOC ? "annotations" : "labels";
}

int cmd_dataset_validate(int argc, char **argv)
{
    const char *format = NULL, *images = NULL, *split = NULL;
    bool json = false, strict = false;
    int64_t max = 100;
    const cli_opt opts[] = {
        {"format", 'f', OPT_STR, &format, "FORMAT", "coco, yolo, voc, folder or csv (default: guessed)"},
        {"images", 0, OPT_STR, &images, "DIR", "check that every image file exists under DIR"},
        {"split", 0, OPT_STR, &split, "NAME", "YOLO/VOC/CSV: only this split (train, val, test)"},
        {"max", 0, OPT_INT, &max, "N", "list at most N problems (default 100; all are counted)"},
        {"strict", 0, OPT_FLAG, &strict, NULL, "warnings count as errors"},
        {"json", 0, OPT_FLAG, &json, NULL, "print a JSON report"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    int npos = cli_parse(argc, argv, opts,
                         "cvops dataset validate [--format FORMAT] [--images DIR] PATH",
                         "Check an annotation file (COCO JSON, CSV) or dataset directory (YOLO, "
                         "VOC, class\nfolders) and list every problem with its location. Runs "
                         "locally; nothing is uploaded.");
    if (npos < 0)
        return npos == -2 ? EXIT_OK : EXIT_USAGE;
    if (npos != 1) {
        fprintf(stderr, "error: give one file or directory to check; see --help\n");
        return EXIT_USAGE;
    }
    if (max < 0 || max > 1000000) {
        fprintf(stderr, "error: --max must be between 0 and 1000000\n");
        return EXIT_USAGE;
    }
    const char *path = argv[1];
    err e;
    fmt_format f;
    if (format) {
        if (fmt_format_parse(format, &f, &e) < 0) {
            fprintf(stderr, "error: %s\n", e.msg);
            return EXIT_USAGE;
        }
    } else {
        f = guess(path);
    }
    fmt_report rep = {.max = max > 0 ? (int)max : 1};
    vctx v = {images, &rep, 0};
    fmt_read_cb cb = {&v, NULL, check_image, NULL};
    fmt_read_opts o = {.keep_going = true, .split = split};
    int rc = fmt_read(f, path, &o, &cb, &rep, &e);
    bool failed = rc < 0 || rep.total > 0 || (strict && rep.warnings > 0);
    int shown = max > 0 ? rep.n : 0;
    if (json) {
        sbuf b = SBUF_INIT;
        jw w;
        jw_init(&w, &b);
        jw_obj(&w);
        jw_kstr(&w, "format", fmt_format_name(f));
        jw_kstr(&w, "path", path);
        jw_kbool(&w, "valid", !failed);
        jw_kint(&w, "categories", rep.categories);
        jw_kint(&w, "images", rep.images);
        jw_kint(&w, noun(f), rep.shapes);
        jw_kint(&w, "errors", rep.total);
        jw_kint(&w, "warnings", rep.warnings);
        if (images)
            jw_kint(&w, "missing_images", v.missing);
        if (rc < 0)
            jw_kstr(&w, "stopped", e.msg);
        jw_key(&w, "problems");
        jw_arr(&w);
        for (int i = 0; i < shown; i++) {
            jw_obj(&w);
            jw_kstr(&w, "severity", rep.items[i].warning ? "warning" : "error");
            jw_kstr(&w, "where", rep.items[i].where);
            jw_kstr(&w, "message", rep.items[i].message);
            jw_obj_end(&w);
        }
        jw_arr_end(&w);
        jw_kint(&w, "not_shown", rep.total + rep.warnings - shown);
        jw_obj_end(&w);
        printf("%s\n", sbuf_cstr(&b));
        sbuf_free(&b);
    } else {
        for (int i = 0; i < shown; i++)
            printf("%-7s %s%s%s\n", rep.items[i].warning ? "warning" : "error",
                   rep.items[i].where, *rep.items[i].where ? ": " : "", rep.items[i].message);
        int64_t more = rep.total + rep.warnings - shown;
        if (more > 0)
            printf("... and %lld more (--max to see them)\n", (long long)more);
        if (rc < 0 && rep.total == 0)
            printf("error   %s\n", e.msg);
        printf("%s %s: %lld categories, %lld images, %lld %s; %lld error%s, %lld warning%s%s\n",
               fmt_format_name(f), path, (long long)rep.categories, (long long)rep.images,
               (long long)rep.shapes, noun(f), (long long)rep.total, rep.total == 1 ? "" : "s",
               (long long)rep.warnings, rep.warnings == 1 ? "" : "s",
               rc < 0 ? " (stopped: the input could not be read further)" : "");
    }
    fmt_report_free(&rep);
    return failed ? EXIT_FAIL : EXIT_OK;
}
