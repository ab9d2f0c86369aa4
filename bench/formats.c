/*
 * bench/formats.c - helper for bench/formats.sh.
 *
 *   formats read FORMAT PATH      reads with fmt_read, counting records;
 *                                 prints "seconds categories images shapes problems max_rss_kb"
 *   formats write OUTDIR N_IMAGES N_ANNOTATIONS
 *                                 streams the synthetic records of coco_synth.h
 *                                 through the COCO writer; prints "seconds bytes max_rss_kb"
 *   formats synth N_IMAGES N_ANNOTATIONS
 *                                 only generates those records (the part of "write"
 *                                 that is not the writer); prints "seconds"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "base/util.h"
#include "coco_synth.h"
#include "formats/formats.h"

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int count_cb(void *ctx, const void *rec, err *e)
{
    (void)rec;
    (void)e;
    ++*(int64_t *)ctx;
    return 0;
}

int main(int argc, char **argv)
{
    err e;
    if (argc == 4 && strcmp(argv[1], "read") == 0) {
        fmt_format f;
        if (fmt_format_parse(argv[2], &f, &e) < 0) {
            fprintf(stderr, "%s\n", e.msg);
            return 2;
        }
        int64_t n = 0;
        fmt_read_cb cb = {&n, (int (*)(void *, const fmt_category *, err *))count_cb,
                          (int (*)(void *, const fmt_image *, err *))count_cb,
                          (int (*)(void *, const fmt_shape *, err *))count_cb};
        fmt_report rep = {0};
        fmt_read_opts o = {.keep_going = true};
        int64_t t0 = time_mono_ns();
        int rc = fmt_read(f, argv[3], &o, &cb, &rep, &e);
        double s = (double)(time_mono_ns() - t0) / 1e9;
        if (rc < 0)
            fprintf(stderr, "read failed: %s\n", e.msg);
        for (int i = 0; i < rep.n && i < 5; i++)
            fprintf(stderr, "  %s: %s\n", rep.items[i].where, rep.items[i].message);
        printf("%.3f %lld %lld %lld %lld %ld\n", s, (long long)rep.categories,
               (long long)rep.images, (long long)rep.shapes, (long long)rep.total, max_rss_kb());
        fmt_report_free(&rep);
        return rc < 0;
    }
    if (argc == 5 && strcmp(argv[1], "write") == 0) {
        int64_t nimg = atoll(argv[3]), nann = atoll(argv[4]);
        int64_t t0 = time_mono_ns();
        fmt_writer *w = fmt_writer_open(FMT_COCO, argv[2], &(fmt_write_opts){0}, &e);
        if (!w)
            goto fail;
        for (int c = 1; c <= SYNTH_NCATS; c++) {
            char nm[32];
            snprintf(nm, sizeof nm, "class%02d", c);
            fmt_category cat = {c, nm, "thing", NULL, 0, NULL, 0};
            if (fmt_write_category(w, &cat, &e) < 0)
                goto fail;
        }
        for (int64_t i = 0; i < nimg; i++) {
            char nm[32];
            fmt_image im;
            synth_image(i, nm, &im);
            if (fmt_write_image(w, &im, &e) < 0)
                goto fail;
        }
        double pts[32];
        int rings[1];
        for (int64_t k = 0; k < nann; k++) {
            fmt_shape s;
            synth_shape(k, nann, nimg, pts, rings, &s);
            if (fmt_write_shape(w, &s, &e) < 0)
                goto fail;
        }
        if (fmt_writer_close(w, &e) < 0) {
            w = NULL;
            goto fail;
        }
        double s = (double)(time_mono_ns() - t0) / 1e9;
        char path[4096];
        snprintf(path, sizeof path, "%s/annotations.json", argv[2]);
        struct stat st;
        stat(path, &st);
        printf("%.3f %lld %ld\n", s, (long long)st.st_size, max_rss_kb());
        return 0;
    fail:
        fprintf(stderr, "write failed: %s\n", e.msg);
        if (w)
            fmt_writer_abort(w);
        return 1;
    }
    if (argc == 4 && strcmp(argv[1], "synth") == 0) {
        int64_t nimg = atoll(argv[2]), nann = atoll(argv[3]);
        int64_t t0 = time_mono_ns();
        double sum = 0, pts[32];
        int rings[1];
        for (int64_t i = 0; i < nimg; i++) {
            char nm[32];
            fmt_image im;
            synth_image(i, nm, &im);
            sum += im.width;
        }
        for (int64_t k = 0; k < nann; k++) {
            fmt_shape s;
            synth_shape(k, nann, nimg, pts, rings, &s);
            sum += s.bbox[0];
        }
        printf("%.3f %g\n", (double)(time_mono_ns() - t0) / 1e9, sum);
        return 0;
    }
    fprintf(stderr, "usage: formats read FORMAT PATH | formats write OUTDIR N_IMAGES N_ANNS | "
                    "formats synth N_IMAGES N_ANNS\n");
    return 2;
}
