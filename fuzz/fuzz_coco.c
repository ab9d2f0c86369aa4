/*
 * Fuzz target: the COCO reader (src/formats/coco_read.c) on a document in
 * memory: the structural scan, the JSON tokenizer, every record check. The
 * first byte chooses keep_going; the consumer touches every array it is
 * given, so a wrong length or pointer shows up under ASan.
 *
 * Every document is read twice, directly and with the callbacks on a second
 * thread (fmt_read_opts.pipeline): the two reads must deliver the same
 * records (a digest of them), the same report and the same result.
 *
 * It is also a differential test of the tokenizer against yajl: a document
 * yajl refuses must be refused, and a document yajl accepts (valid UTF-8,
 * no \uD800-\uDFFF escapes, which yajl lets through unpaired) must not be
 * called invalid JSON. (yajl is more lenient in three ways, which the
 * comparison leaves out: unpaired surrogate escapes, \v and \f as white
 * space, and UTF-8 it does not check as strictly.)
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "base/util.h"
#include "formats/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static double sink;

typedef struct digest {
    uint64_t h;
} digest;

static void mix(void *ctx, uint64_t v)
{
    digest *d = ctx;
    d->h = (d->h ^ v) * 1099511628211ULL;
}

static int on_cat(void *ctx, const fmt_category *c, err *e)
{
    (void)e;
    mix(ctx, 1000 + (uint64_t)c->id);
    mix(ctx, (uint64_t)c->nkeypoints << 20 | (uint64_t)c->nskeleton);
    for (int i = 0; i < c->nkeypoints; i++)
        sink += c->keypoints[i][0];
    for (int i = 0; i < 2 * c->nskeleton; i++)
        sink += c->skeleton[i];
    return 0;
}

static int on_img(void *ctx, const fmt_image *im, err *e)
{
    (void)e;
    mix(ctx, 2000 + (uint64_t)im->id);
    mix(ctx, (uint64_t)im->width << 32 | (uint32_t)im->height);
    sink += im->file_name[0] + im->width + im->height;
    return 0;
}

static int on_shape(void *ctx, const fmt_shape *s, err *e)
{
    (void)e;
    mix(ctx, 3000 + (uint64_t)s->id);
    mix(ctx, (uint64_t)s->kind << 48 | (uint64_t)s->npoints << 24 | (uint64_t)s->nkp);
    mix(ctx, (uint64_t)s->nrle << 32 | (uint64_t)s->nrings);
    for (int i = 0; i < 2 * s->npoints; i++) {
        uint64_t b;
        memcpy(&b, &s->points[i], sizeof b);
        mix(ctx, b);
    }
    sink += fmt_polygon_area(s->points, s->npoints, s->ring_sizes, s->nrings);
    for (int i = 0; i < 3 * s->nkp; i++)
        sink += s->kp[i];
    sink += (double)fmt_rle_area(s->rle_counts, s->nrle);
    if (s->rle_string) {
        uint32_t *c = NULL;
        err de;
        int n = fmt_rle_decode(s->rle_string, &c, &de);
        if (n >= 0) {
            double bb[4];
            fmt_rle_bbox(c, n, s->rle_h, s->rle_w, bb);
            sink += bb[0];
        }
        free(c);
    }
    if (s->attributes)
        sink += s->attributes[0];
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fmt_read_opts o = {.keep_going = data[0] & 1};
    digest d1 = {0}, d2 = {0};
    fmt_read_cb cb = {&d1, on_cat, on_img, on_shape};
    fmt_report rep = {.max = 20};
    err e;
    const char *doc = (const char *)data + 1;
    size_t n = size - 1;
    int rc = fmt_read_mem(FMT_COCO, doc, n, &o, &cb, &rep, &e);

    /* the same read with the callbacks on a second thread */
    fmt_read_opts op = o;
    op.pipeline = true;
    fmt_read_cb cbp = {&d2, on_cat, on_img, on_shape};
    fmt_report rp = {.max = 20};
    err ep;
    int rcp = fmt_read_mem(FMT_COCO, doc, n, &op, &cbp, &rp, &ep);
    if (rcp != rc || d1.h != d2.h || rp.n != rep.n || rp.total != rep.total ||
        rp.warnings != rep.warnings || rp.categories != rep.categories ||
        rp.images != rep.images || rp.shapes != rep.shapes ||
        (rc && (ep.code != e.code || strcmp(ep.msg, e.msg) != 0)))
        abort(); /* the pipe changed what the consumer saw */
    for (int i = 0; i < rep.n; i++)
        if (strcmp(rp.items[i].where, rep.items[i].where) != 0 ||
            strcmp(rp.items[i].message, rep.items[i].message) != 0 ||
            rp.items[i].warning != rep.items[i].warning)
            abort();
    fmt_report_free(&rp);
    bool called_invalid = false;
    for (int i = 0; i < rep.n; i++)
        called_invalid |= strstr(rep.items[i].message, "invalid JSON") != NULL;

    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    bool yajl_ok = yajl_parse(h, (const unsigned char *)doc, n) == yajl_status_ok &&
                   yajl_complete_parse(h) == yajl_status_ok;
    yajl_free(h);
    bool comparable = utf8_valid(doc, n) && !memmem(doc, n, "\\ud", 3) &&
                      !memmem(doc, n, "\\uD", 3) && !memchr(doc, 0, n) && !memchr(doc, '\v', n) &&
                      !memchr(doc, '\f', n);
    if (!yajl_ok && rc == 0)
        abort(); /* we accepted what yajl refuses */
    if (yajl_ok && comparable && called_invalid)
        abort(); /* we called valid JSON invalid */
    fmt_report_free(&rep);
    return 0;
}
