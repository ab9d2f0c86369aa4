/*
 * Unit tests for src/formats/pipe.c: with fmt_read_opts.pipeline the COCO
 * reader's callbacks run on a second thread, and the consumer must see
 * exactly what it sees without: the same calls with the same records in the
 * same order, the same report, the same result and error. Each test reads
 * one document both ways and compares a text log of everything delivered.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "formats/formats.h"
#include "formats/internal.h"
#include "formats_util.h"

typedef struct rec {
    sbuf log;
    pthread_t caller;
    int64_t off_thread; /* calls not on the caller's thread */
    atomic_int inside;  /* callbacks running now */
    int overlaps;       /* a callback started while another ran */
    int64_t refuse_at;  /* the shape number (1-based) refused; 0: none */
    int64_t nshapes;
    int slow_every;     /* sleep a little every N shapes (0: never) */
} rec;

static void enter(rec *r)
{
    if (atomic_fetch_add(&r->inside, 1) != 0)
        r->overlaps++;
    if (!pthread_equal(pthread_self(), r->caller))
        r->off_thread++;
}

static void leave(rec *r) { atomic_fetch_sub(&r->inside, 1); }

static void put_dbls(sbuf *b, const char *name, const double *v, int n)
{
    sbuf_printf(b, " %s[%d]", name, v ? n : -1);
    for (int i = 0; v && i < n; i++)
        sbuf_printf(b, " %.17g", v[i]);
}

static int on_cat(void *ctx, const fmt_category *c, err *e)
{
    (void)e;
    rec *r = ctx;
    enter(r);
    sbuf_printf(&r->log, "C %lld %s %s kp", (long long)c->id, c->name,
                c->supercategory ? c->supercategory : "-");
    for (int i = 0; c->keypoints && i < c->nkeypoints; i++)
        sbuf_printf(&r->log, " %s", c->keypoints[i]);
    sbuf_printf(&r->log, " skel");
    for (int i = 0; c->skeleton && i < 2 * c->nskeleton; i++)
        sbuf_printf(&r->log, " %d", c->skeleton[i]);
    sbuf_putc(&r->log, '\n');
    leave(r);
    return 0;
}

static int on_img(void *ctx, const fmt_image *im, err *e)
{
    (void)e;
    rec *r = ctx;
    enter(r);
    sbuf_printf(&r->log, "I %lld %s %dx%d %s %s\n", (long long)im->id, im->file_name, im->width,
                im->height, im->path ? im->path : "-", im->split ? im->split : "-");
    leave(r);
    return 0;
}

static int on_shape(void *ctx, const fmt_shape *s, err *e)
{
    rec *r = ctx;
    enter(r);
    r->nshapes++;
    if (r->slow_every && r->nshapes % r->slow_every == 0)
        usleep(200);
    if (r->refuse_at && r->nshapes == r->refuse_at) {
        leave(r);
        return err_set(e, ERR_CONFLICT, "refused shape %lld", (long long)r->nshapes);
    }
    sbuf *b = &r->log;
    sbuf_printf(b, "S %lld img %lld cat %lld kind %d", (long long)s->id, (long long)s->image_id,
                (long long)s->category_id, (int)s->kind);
    put_dbls(b, "bbox", s->has_bbox ? s->bbox : NULL, 4);
    put_dbls(b, "pts", s->points, 2 * s->npoints);
    sbuf_printf(b, " rings[%d]", s->ring_sizes ? s->nrings : -1);
    for (int i = 0; s->ring_sizes && i < s->nrings; i++)
        sbuf_printf(b, " %d", s->ring_sizes[i]);
    put_dbls(b, "kp", s->kp, 3 * s->nkp);
    sbuf_printf(b, " rle[%d]", s->rle_counts ? s->nrle : -1);
    for (int i = 0; s->rle_counts && i < s->nrle; i++)
        sbuf_printf(b, " %u", s->rle_counts[i]);
    sbuf_printf(b, " rles %s %dx%d area %.17g score %.17g crowd %d attrs %s\n",
                s->rle_string ? s->rle_string : "-", s->rle_h, s->rle_w, s->area, s->score,
                s->iscrowd, s->attributes ? s->attributes : "-");
    leave(r);
    return 0;
}

/* Everything a read produced, as text: the calls, then the report and the
 * result. */
static char *read_log(const char *doc, bool pipeline, bool keep_going, int64_t refuse_at,
                      int slow_every, rec *out)
{
    rec r = {.caller = pthread_self(), .refuse_at = refuse_at, .slow_every = slow_every};
    fmt_read_cb cb = {&r, on_cat, on_img, on_shape};
    fmt_read_opts o = {.keep_going = keep_going, .pipeline = pipeline};
    fmt_report rep = {0};
    err e;
    int rc = fmt_read_mem(FMT_COCO, doc, strlen(doc), &o, &cb, &rep, &e);
    sbuf_printf(&r.log, "rc %d code %d msg %s\n", rc, (int)e.code, rc ? e.msg : "");
    sbuf_printf(&r.log, "report n %d total %lld warnings %lld cats %lld imgs %lld shapes %lld\n",
                rep.n, (long long)rep.total, (long long)rep.warnings, (long long)rep.categories,
                (long long)rep.images, (long long)rep.shapes);
    for (int i = 0; i < rep.n; i++)
        sbuf_printf(&r.log, "%c %s | %s\n", rep.items[i].warning ? 'w' : 'e', rep.items[i].where,
                    rep.items[i].message);
    if (!pipeline) /* nothing ran on another thread */
        cr_assert_eq(rep.consumer_cpu_s, 0);
    fmt_report_free(&rep);
    if (out)
        *out = r;
    return sbuf_detach(&r.log, NULL);
}

/* Reads doc both ways; the logs must be the same, and with the pipe the
 * callbacks ran off the calling thread, one at a time. Returns the log. */
static char *same_both_ways(const char *doc, bool keep_going, int64_t refuse_at, int slow_every)
{
    rec direct, piped;
    char *a = read_log(doc, false, keep_going, refuse_at, slow_every, &direct);
    char *b = read_log(doc, true, keep_going, refuse_at, slow_every, &piped);
    if (strcmp(a, b) != 0) {
        size_t i = 0;
        while (a[i] && a[i] == b[i])
            i++;
        size_t from = i > 200 ? i - 200 : 0;
        cr_assert_fail("the pipe changed what the consumer saw, at byte %zu:\ndirect: %.400s\n"
                       "piped:  %.400s",
                       i, a + from, b + from);
    }
    cr_assert_eq(direct.off_thread, 0);
    cr_assert_eq(direct.overlaps, 0);
    cr_assert_eq(piped.overlaps, 0, "two callbacks ran at once");
    if (piped.nshapes > 0)
        cr_assert_gt(piped.off_thread, 0, "the pipe ran the callbacks on the calling thread");
    free(b);
    return a;
}

#define SAMPLE t_coco_sample()

/* A file of n annotations over 50 images: polygons of 3 to 40 points (some
 * with a second ring), every third one with a bbox that does not match its
 * polygon (a warning), every 500th with an unknown category (an error) when
 * `errors`. */
static char *big_doc(int n, bool errors)
{
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "{\"images\": [");
    for (int i = 1; i <= 50; i++)
        sbuf_printf(&b, "%s{\"id\": %d, \"file_name\": \"img%d.jpg\", \"width\": 1000, "
                        "\"height\": 800}",
                    i > 1 ? ", " : "", i, i);
    sbuf_puts(&b, "], \"annotations\": [\n");
    for (int i = 1; i <= n; i++) {
        int np = 3 + i % 38, cat = errors && i % 500 == 0 ? 99 : 1 + i % 4;
        double x0 = (i * 37) % 700, y0 = (i * 53) % 500;
        sbuf_printf(&b, "%s{\"id\": %d, \"image_id\": %d, \"category_id\": %d, \"segmentation\": [[",
                    i > 1 ? ",\n" : "", i, 1 + i % 50, cat);
        for (int k = 0; k < np; k++)
            sbuf_printf(&b, "%s%.2f, %.2f", k ? ", " : "", x0 + (k * 7) % 90 + 0.25,
                        y0 + (k * 11) % 70 + 0.5);
        sbuf_puts(&b, "]");
        if (i % 7 == 0)
            sbuf_printf(&b, ", [%.1f, %.1f, %.1f, %.1f, %.1f, %.1f]", x0, y0, x0 + 5, y0,
                        x0 + 5, y0 + 5);
        sbuf_puts(&b, "]");
        if (i % 3 == 0)
            sbuf_printf(&b, ", \"bbox\": [%.1f, %.1f, 10, 10]", x0, y0);
        if (i % 11 == 0 && i % 1000 != 0)
            sbuf_printf(&b, ", \"attributes\": {\"n\": %d, \"t\": \"a\\\"b\"}", i);
        if (i % 1000 == 0) { /* an event larger than a small batch */
            sbuf_puts(&b, ", \"attributes\": {\"long\": \"");
            for (int k = 0; k < 9000; k++)
                sbuf_putc(&b, (char)('a' + k % 26));
            sbuf_puts(&b, "\"}");
        }
        sbuf_printf(&b, ", \"iscrowd\": 0, \"area\": %d}", i);
    }
    sbuf_puts(&b, "],\n \"categories\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 2, \"name\": \"b\"},"
                  " {\"id\": 3, \"name\": \"c\", \"supercategory\": \"s\"},"
                  " {\"id\": 4, \"name\": \"d\", \"keypoints\": [\"p\", \"q\"], "
                  "\"skeleton\": [[1, 2]]}]}");
    return sbuf_detach(&b, NULL);
}

Test(formats_pipe, a_small_file_is_delivered_the_same)
{
    char *log = same_both_ways(SAMPLE, true, 0, 0);
    cr_assert(strstr(log, "S 4 img 11 cat 7 kind 7"), "%s", log);
    cr_assert(strstr(log, "rc 0 code 0"), "%s", log);
    free(log);
}

Test(formats_pipe, many_batches_a_slow_consumer_and_a_full_report)
{
    /* ~12,000 annotations in batches of 4 KB, two at most: the reader
     * waits for the slow consumer all the time, some events are larger
     * than a batch, and 4,000 warnings fill the report (1000 kept), so
     * the later ones are sent as counts */
    fmt_pipe_tune(4096, 2);
    char *doc = big_doc(12000, false);
    char *log = same_both_ways(doc, true, 0, 400);
    fmt_pipe_tune(0, 0);
    cr_assert(strstr(log, "shapes 12000"), "%.300s", strstr(log, "report"));
    cr_assert(strstr(log, "warnings 4000"), "%.300s", strstr(log, "report"));
    cr_assert(strstr(log, "report n 1000"), "%.300s", strstr(log, "report"));
    free(log);
    free(doc);
}

Test(formats_pipe, errors_with_and_without_keep_going)
{
    char *doc = big_doc(3000, true);
    char *log = same_both_ways(doc, true, 0, 0);
    cr_assert(strstr(log, "total 6 "), "%.300s", strstr(log, "report"));
    cr_assert(strstr(log, "annotations[499]"), "%.300s", strstr(log, "report"));
    free(log);
    /* without keep_going the first error ends the read and is the error */
    log = same_both_ways(doc, false, 0, 0);
    cr_assert(strstr(log, "rc -1"), "%.300s", strstr(log, "rc "));
    cr_assert(strstr(log, "msg annotations[499]"), "%.300s", strstr(log, "rc "));
    cr_assert(strstr(log, "shapes 499\n"), "%.300s", strstr(log, "report"));
    free(log);
    free(doc);
}

Test(formats_pipe, a_refusing_consumer_stops_the_read_at_the_same_place)
{
    char *doc = big_doc(5000, false);
    char *log = same_both_ways(doc, true, 2500, 0);
    cr_assert(strstr(log, "rc -1 code"), "%.300s", strstr(log, "rc "));
    cr_assert(strstr(log, "refused shape 2500"), "%.300s", strstr(log, "rc "));
    cr_assert(strstr(log, "shapes 2499\n"), "%.300s", strstr(log, "report"));
    free(log);
    free(doc);
}

Test(formats_pipe, invalid_json_in_the_annotations_is_the_same_fatal_error)
{
    /* a letter in a number two thirds into the file: the structure is
     * sound, so the tokenizer finds it while the pipe is open */
    char *doc = big_doc(4000, false);
    char *p = doc + strlen(doc) * 2 / 3;
    while (*p < '1' || *p > '9')
        p++;
    *p = 'x';
    char *log = same_both_ways(doc, true, 0, 0);
    cr_assert(strstr(log, "rc -1"), "%.300s", strstr(log, "rc "));
    cr_assert(strstr(log, "invalid JSON"), "%.300s", strstr(log, "rc "));
    cr_assert_null(strstr(log, "shapes 4000\n"), "%.300s", strstr(log, "report"));
    free(log);
    free(doc);
}

Test(formats_pipe, bad_images_and_categories_are_reported_the_same)
{
    const char *doc =
        "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 10, \"height\": 10},"
        " {\"id\": 2, \"width\": -3, \"height\": 5}, {\"id\": 1, \"file_name\": \"c.jpg\"}],"
        " \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 1, 2, 2]},"
        " {\"id\": 2, \"image_id\": 2, \"category_id\": 1, \"bbox\": [1, 1, 2, 2]},"
        " {\"id\": 2, \"image_id\": 1, \"category_id\": 0, \"bbox\": [1, 1, 20, 2]}],"
        " \"categories\": [{\"id\": 1, \"name\": \"x\"}, {\"id\": 1, \"name\": \"y\"}, {\"id\": 0}]}";
    char *log = same_both_ways(doc, true, 0, 0);
    cr_assert(strstr(log, "report n "), "%s", log);
    cr_assert_null(strstr(log, "total 0 "), "%s", log);
    free(log);
    log = same_both_ways(doc, false, 0, 0);
    cr_assert(strstr(log, "rc -1"), "%s", log);
    free(log);
}
