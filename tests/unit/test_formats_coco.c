/*
 * Unit tests for src/formats, COCO: what the reader delivers and in which
 * order, every check with its exact location, keep_going, the writer's
 * guarantees (ids, bbox, area), round trips, RLE and numbers.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"
#include "formats/internal.h"
#include "base/util.h"
#include "formats_util.h"

/* COCO's own order: images, annotations, then categories. */
#define SAMPLE t_coco_sample()

static const char *write_sample(const char *doc)
{
    static char path[256];
    const char *dir = t_tmpdir();
    snprintf(path, sizeof path, "%s/in.json", dir);
    t_write(dir, "in.json", doc);
    return path;
}

Test(formats_coco, delivers_categories_then_images_then_shapes)
{
    tds d;
    tds_read_ok(FMT_COCO, write_sample(SAMPLE), NULL, &d);
    cr_assert_eq(d.ncats, 3);
    cr_assert_eq(d.nimgs, 2);
    cr_assert_eq(d.nshapes, 5);
    cr_assert_str_eq(d.cats[0].name, "car");
    cr_assert_str_eq(d.cats[0].super, "vehicle");
    cr_assert_null(d.cats[1].super);
    cr_assert_eq(d.cats[2].nkp, 3);
    cr_assert_str_eq(d.cats[2].kpn[1], "l_eye");
    cr_assert_eq(d.cats[2].nskel, 2);
    cr_assert_eq(d.cats[2].skel[3], 3);
    cr_assert_eq(d.imgs[1].id, 11);
    cr_assert_str_eq(d.imgs[1].file_name, "sub/b.jpg");
    cr_assert_eq(d.imgs[0].w, 640);

    const fmt_shape *s = &d.shapes[0].s;
    cr_assert_eq(s->kind, FMT_BOX);
    cr_assert(s->has_bbox);
    cr_assert_eq(s->bbox[0], 10.5);
    cr_assert_eq(s->bbox[3], 50.25);
    cr_assert_eq(s->area, 5025);
    cr_assert(isnan(s->score));

    s = &d.shapes[1].s;
    cr_assert_eq(s->kind, FMT_POLYGON);
    cr_assert_eq(s->npoints, 7);
    cr_assert_eq(s->nrings, 2);
    cr_assert_eq(s->ring_sizes[0], 3);
    cr_assert_eq(s->ring_sizes[1], 4);
    cr_assert_eq(s->points[6], 20);
    cr_assert(isnan(s->area));
    cr_assert_str_eq(s->attributes, "{\"occluded\":true,\"note\":\"x\"}");

    s = &d.shapes[2].s;
    cr_assert_eq(s->kind, FMT_MASK_RLE);
    cr_assert(s->iscrowd);
    cr_assert_eq(s->nrle, 4);
    cr_assert_eq(s->rle_h, 3);
    cr_assert_eq(s->rle_w, 4);

    s = &d.shapes[3].s;
    cr_assert_eq(s->kind, FMT_MASK_RLE);
    cr_assert_str_eq(s->rle_string, "2313");
    cr_assert_eq(s->score, 0.75);

    s = &d.shapes[4].s;
    cr_assert_eq(s->kind, FMT_KEYPOINTS);
    cr_assert_eq(s->nkp, 3);
    cr_assert_eq(s->kp[6], 130.5);
    tds_free(&d);
}

Test(formats_coco, reads_from_memory)
{
    tds d = {0};
    fmt_read_cb cb = tds_cb(&d);
    fmt_report rep = {0};
    err e;
    cr_assert_eq(fmt_read_mem(FMT_COCO, SAMPLE, strlen(SAMPLE), NULL, &cb, &rep, &e), 0, "%s",
                 e.msg);
    cr_assert_eq(rep.shapes, 5);
    cr_assert_eq(rep.images, 2);
    cr_assert_eq(rep.categories, 3);
    fmt_report_free(&rep);
    tds_free(&d);
    cr_assert_eq(fmt_read_mem(FMT_YOLO, "x", 1, NULL, &cb, &rep, &e), -1);
    cr_assert_eq(e.code, ERR_UNSUPPORTED);
}

/* --- every check, with its location ----------------------------------------------------- */

#define IMG "{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 100, \"height\": 80}"
#define CAT "{\"id\": 1, \"name\": \"a\"}"
#define DOC(anns) "{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": [" anns "]}"
#define ANN(rest) "{\"id\": 1, \"image_id\": 1, \"category_id\": 1, " rest "}"

typedef struct bad_case {
    const char *doc;
    const char *where;
    const char *msg;
} bad_case;

static const bad_case BAD[] = {
    {DOC(ANN("\"bbox\": [1, \"2\", 3, 4]")), "annotations[0].bbox[1]",
     "annotation 1: expected a number, got a string"},
    {DOC(ANN("\"bbox\": [1, 2, 3]")), "annotations[0].bbox", "expected 4 numbers"},
    {DOC(ANN("\"bbox\": [1, 2, 3, 4, 5]")), "annotations[0].bbox", "got 5"},
    {DOC(ANN("\"bbox\": [1, 2, -3, 4]")), "annotations[0].bbox", "negative width"},
    {DOC(ANN("\"bbox\": [90, 2, 30, 4]")), "annotations[0].bbox", "passes the border of the 100x80 image by 20"},
    {DOC(ANN("\"bbox\": [1, 2, 1e999, 4]")), "annotations[0].bbox[2]", "too large to be a finite number"},
    {DOC(ANN("\"bbox\": {\"x\": 1}")), "annotations[0].bbox", "expected a list, got an object"},
    {DOC(ANN("\"bbox\": \"1,2,3,4\"")), "annotations[0].bbox", "expected a list, got a string"},
    {DOC(ANN("\"bbox\": [1, 2, 3, 4], \"bbox\": [1, 2, 3, 4]")), "annotations[0].bbox", "appears twice"},
    {DOC(ANN("\"segmentation\": [[1, 2, 3, 4, 5]]")), "annotations[0].segmentation[0]", "polygon 0 has 5 numbers"},
    {DOC(ANN("\"segmentation\": [1, 2, 3, 4, 5, 6]")), "annotations[0].segmentation[0]", "must be a list of polygons"},
    {DOC(ANN("\"segmentation\": [[1, 2, 300, 4, 5, 6]]")), "annotations[0].segmentation", "point (300, 4) is outside the 100x80 image"},
    {DOC(ANN("\"segmentation\": {\"size\": [80, 100], \"counts\": [10, 20]}")), "annotations[0].segmentation.counts", "cover 30 pixels, the 80x100 mask has 8000"},
    {DOC(ANN("\"segmentation\": {\"size\": [80, 100], \"counts\": \"0z\"}")), "annotations[0].segmentation.counts", "invalid RLE: RLE string has character 'z'"},
    {DOC(ANN("\"segmentation\": {\"size\": [80, 100], \"counts\": \"0\\\\\"}")), "annotations[0].segmentation.counts", "invalid RLE"},
    {DOC(ANN("\"segmentation\": {\"size\": [3, 4], \"counts\": [12]}")), "annotations[0].segmentation.size", "not the image's [height 80, width 100]"},
    {DOC(ANN("\"segmentation\": {\"counts\": [12]}")), "annotations[0].segmentation", "no size"},
    {DOC(ANN("\"segmentation\": {\"size\": [80, 100], \"counts\": [-1, 8001]}")), "annotations[0].segmentation.counts[0]", "run length -1 is out of range"},
    {DOC(ANN("\"bbox\": [1, 2, 3, 4], \"keypoints\": [1, 2, 2]")), "annotations[0].keypoints", "category 1 has no keypoints"},
    {DOC(ANN("\"bbox\": [1, 2, 3, 4], \"iscrowd\": 2")), "annotations[0].iscrowd", "iscrowd must be 0 or 1, got 2"},
    {DOC(ANN("\"bbox\": [1, 2, 3, 4], \"area\": -5")), "annotations[0].area", "area is negative"},
    {DOC(ANN("\"bbox\": [1, 2, 3, 4], \"area\": \"big\"")), "annotations[0].area", "expected a number, got a string"},
    {DOC(ANN("\"area\": 5")), "annotations[0]", "annotation has no bbox, segmentation or keypoints"},
    {DOC("{\"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]}"), "annotations[0].id", "annotation has no id"},
    {DOC("{\"id\": 99999999999999999999, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]}"), "annotations[0].id", "expected a whole number, got 99999999999999999999"},
    {DOC("{\"id\": 1.5, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]}"), "annotations[0].id", "expected a whole number, got 1.5"},
    {DOC("{\"id\": 4, \"image_id\": 2, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]}"), "annotations[0].image_id", "annotation 4: image 2 is not in \"images\""},
    {DOC("{\"id\": 4, \"image_id\": 1, \"category_id\": 5, \"bbox\": [1, 2, 3, 4]}"), "annotations[0].category_id", "annotation 4: category 5 is not in \"categories\""},
    {DOC("{\"id\": 4, \"image_id\": 1, \"category_id\": 0, \"bbox\": [1, 2, 3, 4]}"), "annotations[0].category_id", "category_id 0 is not allowed"},
    {DOC(ANN("\"bbox\": [1, 2, 3, 4]") "," ANN("\"bbox\": [1, 2, 3, 4]")), "annotations[1].id", "annotation 1: annotation id 1 appears twice"},
    {DOC("5"), "annotations[0]", "expected an object, got a number"},
    {"{\"images\": [" IMG "], \"categories\": [{\"id\": 0, \"name\": \"bg\"}], \"annotations\": []}", "categories[0].id", "category id 0 is not allowed"},
    {"{\"images\": [" IMG "], \"categories\": [" CAT ", {\"id\": 1, \"name\": \"b\"}], \"annotations\": []}", "categories[1].id", "category id 1 appears twice"},
    {"{\"images\": [" IMG "], \"categories\": [" CAT ", {\"id\": 2, \"name\": \"a\"}], \"annotations\": []}", "categories[1].name", "also the name of categories[0]"},
    {"{\"images\": [" IMG "], \"categories\": [{\"id\": 1, \"name\": \"p\", \"keypoints\": [\"a\"], \"skeleton\": [[1, 2]]}], \"annotations\": []}", "categories[0].skeleton", "vertex 2 is beyond the 1 keypoints"},
    {"{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": -100, \"height\": 80}], \"categories\": [], \"annotations\": []}", "images[0].width", "width must be between 1 and 1000000, got -100"},
    {"{\"images\": [{\"id\": 1, \"width\": 100, \"height\": 80}], \"categories\": [], \"annotations\": []}", "images[0].file_name", "image 1: image has no file_name"},
    {"{\"images\": [" IMG ", " IMG "], \"categories\": [], \"annotations\": []}", "images[1].id", "image id 1 appears twice (first at images[0])"},
    {"{\"images\": [{\"id\": 1, \"file_name\": 7, \"width\": 100, \"height\": 80}], \"categories\": [], \"annotations\": []}", "images[0].file_name", "expected a string, got a number"},
    /* the structure */
    {"{\"images\": {}, \"categories\": [], \"annotations\": []}", "images", "expected a list, got an object"},
    {"{\"images\": [], \"annotations\": []}", "", "no \"categories\" list"},
    {"[{\"image_id\": 1, \"bbox\": [1, 2, 3, 4]}]", "line 1, column 1", "a results file"},
    {"{\"images\": [], \"categories\": [], \"annotations\": [], \"images\": []}", "line 1, column 53", "key \"images\" appears twice"},
    {"{\"images\": [], \"categories\": [],\n \"annotations\": [{\"id\": 1, \"bbox\": [1, 2, 3", "line 2, column 44", "the file ends inside the value of \"annotations\" (truncated?)"},
    {"{\"images\": [], \"categories\": []", "line 1, column 32", "the file ends before the closing '}'"},
    {"{\"images\": [], \"categories\": [],\n\"annotations\": [{\"bbox\": [NaN, 1, 2, 3]}]}", "line 2, column 27", "invalid JSON in \"annotations\""},
    {"{\"images\": [], \"categories\": [], \"annotations\": [{\"bbox\": [Infinity]}]}", "line 1, column 60", "invalid JSON"},
    {"{\"images\": [], \"categories\": [], \"annotations\": [{\"bbox\": [1 2]}]}", "line 1, column 62", "invalid JSON"},
    {"{\"images\": [], \"categories\": [], \"annotations\": []} x", "line 1, column 53", "text after the end"},
    {"", "line 1, column 1", "empty"},
    {"{\"images\": [], \"categories\": [], \"info\": \"\xff\xfe\"}", "line 1, column 43", "invalid JSON in \"info\""},
    {"{\"images\": [], \"categories\": [], \"info\": "
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
     "line 1, column 74", "nesting deeper than 32 levels"},
};

/* (one test over the table: Criterion's parameterized tests run in a fresh
 * process where the table's string pointers are not valid) */
Test(formats_coco, every_check_has_its_location)
{
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        const bad_case *c = &BAD[i];
        tds d = {0};
        fmt_read_cb cb = tds_cb(&d);
        fmt_report rep = {0};
        err e;
        int rc = fmt_read_mem(FMT_COCO, c->doc, strlen(c->doc), NULL, &cb, &rep, &e);
        cr_assert_eq(rc, -1, "case %zu: expected a failure for %s", i, c->doc);
        cr_assert_geq(rep.total, 1);
        t_has_problem(&rep, c->where, c->msg);
        /* fail fast: the error is the report's first problem, with its location */
        cr_assert(strstr(e.msg, c->msg), "case %zu: e.msg: %s", i, e.msg);
        if (*c->where)
            cr_assert(str_has_prefix(e.msg, c->where), "case %zu: e.msg: %s", i, e.msg);
        fmt_report_free(&rep);
        tds_free(&d);
    }
}

Test(formats_coco, keep_going_skips_bad_records_and_reports_each)
{
    const char *doc =
        "{\"images\": [" IMG ", {\"id\": 2, \"file_name\": \"b.jpg\", \"width\": 0}],"
        " \"categories\": [" CAT ", {\"id\": 0, \"name\": \"bg\"}],"
        " \"annotations\": ["
        ANN("\"bbox\": [1, 2, 3, 4]") ","
        "{\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, \"x\", 3, 4]},"
        "{\"id\": 3, \"image_id\": 2, \"category_id\": 1, \"bbox\": [1, 2, 3, 4]},"
        "{\"id\": 4, \"image_id\": 1, \"category_id\": 0, \"bbox\": [1, 2, 3, 4]},"
        "{\"id\": 5, \"image_id\": 1, \"category_id\": 1, \"bbox\": [1, 2, 3, 4], \"area\": 12}"
        "]}";
    tds d = {0};
    fmt_read_cb cb = tds_cb(&d);
    fmt_report rep = {0};
    err e;
    fmt_read_opts o = {.keep_going = true};
    cr_assert_eq(fmt_read_mem(FMT_COCO, doc, strlen(doc), &o, &cb, &rep, &e), 0, "%s", e.msg);
    cr_assert_eq(d.ncats, 1);
    cr_assert_eq(d.nimgs, 1);
    cr_assert_eq(d.nshapes, 2);
    cr_assert_eq(d.shapes[0].s.id, 1);
    cr_assert_eq(d.shapes[1].s.id, 5);
    cr_assert_eq(rep.total, 5, "errors: %lld", (long long)rep.total);
    t_has_problem(&rep, "categories[1].id", "category id 0 is not allowed");
    t_has_problem(&rep, "images[1].width", "width must be between 1 and");
    t_has_problem(&rep, "annotations[1].bbox[1]", "annotation 2: expected a number");
    t_has_problem(&rep, "annotations[2].image_id", "annotation 3: image 2 is invalid (images[1])");
    t_has_problem(&rep, "annotations[3].category_id", "category_id 0 is not allowed");
    fmt_report_free(&rep);
    tds_free(&d);
}

Test(formats_coco, report_keeps_at_most_max_but_counts_all)
{
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "{\"images\": [" IMG "], \"categories\": [" CAT "], \"annotations\": [");
    for (int i = 0; i < 50; i++)
        sbuf_printf(&b, "%s{\"id\": %d, \"image_id\": 9, \"category_id\": 1, \"bbox\": [1,2,3,4]}",
                    i ? "," : "", i + 1);
    sbuf_puts(&b, "]}");
    fmt_report rep = {.max = 10};
    err e;
    fmt_read_opts o = {.keep_going = true};
    cr_assert_eq(fmt_read_mem(FMT_COCO, b.p, b.len, &o, NULL, &rep, &e), 0);
    cr_assert_eq(rep.n, 10);
    cr_assert_eq(rep.total, 50);
    fmt_report_free(&rep);
    sbuf_free(&b);
}

Test(formats_coco, boxes_just_past_the_border_are_clipped_with_a_warning)
{
    const char *doc = DOC(ANN("\"bbox\": [-0.25, 70, 100.5, 10.5]"));
    tds d = {0};
    fmt_read_cb cb = tds_cb(&d);
    fmt_report rep = {0};
    err e;
    cr_assert_eq(fmt_read_mem(FMT_COCO, doc, strlen(doc), NULL, &cb, &rep, &e), 0, "%s", e.msg);
    cr_assert_eq(rep.total, 0);
    cr_assert_eq(rep.warnings, 1);
    cr_assert(rep.items[0].warning);
    t_has_problem(&rep, "annotations[0].bbox", "clipped");
    const double *bb = d.shapes[0].s.bbox;
    cr_assert_eq(bb[0], 0);
    cr_assert_eq(bb[1], 70);
    cr_assert_eq(bb[2], 100);
    cr_assert_eq(bb[3], 10);
    fmt_report_free(&rep);
    tds_free(&d);
}

Test(formats_coco, warns_when_bbox_and_segmentation_disagree)
{
    const char *doc =
        DOC(ANN("\"bbox\": [0, 0, 50, 50], \"segmentation\": [[10, 10, 20, 10, 20, 20]]"));
    fmt_report rep = {0};
    err e;
    cr_assert_eq(fmt_read_mem(FMT_COCO, doc, strlen(doc), NULL, NULL, &rep, &e), 0, "%s", e.msg);
    cr_assert_eq(rep.warnings, 1);
    t_has_problem(&rep, "annotations[0].bbox", "does not match the polygon's extent [10, 10, 10, 10]");
    fmt_report_free(&rep);
}

Test(formats_coco, keypoint_checks)
{
    const char *base = "{\"images\": [" IMG "], \"categories\": [{\"id\": 1, \"name\": \"p\","
                       " \"keypoints\": [\"a\", \"b\"]}], \"annotations\": [%s]}";
    struct {
        const char *ann;
        const char *where, *msg;
        bool warning;
    } cases[] = {
        {ANN("\"keypoints\": [1, 2, 2]"), "annotations[0].keypoints", "= 6 numbers, got 3", false},
        {ANN("\"keypoints\": [1, 2, 3, 0, 0, 0]"), "annotations[0].keypoints", "visibility must be 0, 1 or 2, got 3", false},
        {ANN("\"keypoints\": [1, 2, 1, 500, 0, 2]"), "annotations[0].keypoints", "keypoint 2 (500, 0) is outside", false},
        {ANN("\"keypoints\": [1, 2, 1, 0, 0, 0], \"num_keypoints\": 2"), "annotations[0].num_keypoints", "num_keypoints is 2, 1 keypoints are labelled", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char doc[1024];
        snprintf(doc, sizeof doc, base, cases[i].ann);
        fmt_report rep = {0};
        err e;
        int rc = fmt_read_mem(FMT_COCO, doc, strlen(doc), NULL, NULL, &rep, &e);
        cr_assert_eq(rc, cases[i].warning ? 0 : -1, "case %zu", i);
        t_has_problem(&rep, cases[i].where, cases[i].msg);
        fmt_report_free(&rep);
    }
}

static int refuse_second(void *ctx, const fmt_image *im, err *e)
{
    (void)ctx;
    if (im->id == 2)
        return err_set(e, ERR_NOT_FOUND, "no such image %s", im->file_name);
    return 0;
}

Test(formats_coco, consumer_errors_stop_the_read)
{
    fmt_read_cb cb = {NULL, NULL, refuse_second, NULL};
    fmt_report rep = {0};
    err e;
    fmt_read_opts o = {.keep_going = true};
    const char *doc = "{\"images\": [" IMG ", {\"id\": 2, \"file_name\": \"b.jpg\"}],"
                      " \"categories\": [], \"annotations\": []}";
    cr_assert_eq(fmt_read_mem(FMT_COCO, doc, strlen(doc), &o, &cb, &rep, &e), -1);
    cr_assert_eq(e.code, ERR_NOT_FOUND);
    cr_assert_str_eq(e.msg, "no such image b.jpg");
    cr_assert_eq(rep.images, 1);
    fmt_report_free(&rep);
}

Test(formats_coco, max_bytes_and_missing_files)
{
    fmt_report rep = {0};
    err e;
    fmt_read_opts o = {.max_bytes = 10};
    cr_assert_eq(fmt_read(FMT_COCO, write_sample(SAMPLE), &o, NULL, &rep, &e), -1);
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    fmt_report_free(&rep);
    cr_assert_eq(fmt_read(FMT_COCO, "/nonexistent/x.json", NULL, NULL, &rep, &e), -1);
    cr_assert_eq(e.code, ERR_NOT_FOUND);
    fmt_report_free(&rep);
}

/* --- writing ------------------------------------------------------------------------- */

Test(formats_coco, round_trip_is_identical)
{
    tds a, b;
    tds_read_ok(FMT_COCO, write_sample(SAMPLE), NULL, &a);
    const char *out = t_tmpdir();
    err e;
    cr_assert_eq(tds_write(&a, FMT_COCO, out, &(fmt_write_opts){.keep_category_ids = true}, NULL,
                           &e),
                 0, "%s", e.msg);
    char path[256];
    snprintf(path, sizeof path, "%s/annotations.json", out);
    tds_read_ok(FMT_COCO, path, NULL, &b);
    cr_assert_eq(b.ncats, a.ncats);
    for (int i = 0; i < a.ncats; i++) {
        cr_assert_eq(b.cats[i].id, a.cats[i].id);
        cr_assert_str_eq(b.cats[i].name, a.cats[i].name);
        cr_assert_eq(b.cats[i].nkp, a.cats[i].nkp);
        cr_assert_eq(b.cats[i].nskel, a.cats[i].nskel);
        cr_assert_eq(!b.cats[i].super, !a.cats[i].super);
    }
    cr_assert_eq(b.nimgs, a.nimgs);
    for (int i = 0; i < a.nimgs; i++) {
        cr_assert_eq(b.imgs[i].id, a.imgs[i].id);
        cr_assert_str_eq(b.imgs[i].file_name, a.imgs[i].file_name);
        cr_assert_eq(b.imgs[i].w, a.imgs[i].w);
    }
    /* shapes: grouped by image on export, ids renumbered 1..N */
    cr_assert_eq(b.nshapes, a.nshapes);
    int k = 0;
    for (int i = 0; i < a.nimgs; i++)
        for (int j = 0; j < a.nshapes; j++) {
            const fmt_shape *x = &a.shapes[j].s;
            if (x->image_id != a.imgs[i].id)
                continue;
            const fmt_shape *y = &b.shapes[k].s;
            cr_assert_eq(y->id, k + 1);
            k++;
            cr_assert_eq(y->image_id, x->image_id);
            cr_assert_eq(y->category_id, x->category_id);
            cr_assert_eq(y->kind, x->kind, "shape %lld", (long long)x->id);
            cr_assert_eq(y->iscrowd, x->iscrowd);
            cr_assert_eq(y->npoints, x->npoints);
            for (int p = 0; p < 2 * x->npoints; p++)
                cr_assert_eq(y->points[p], x->points[p]);
            cr_assert_eq(y->nrings, x->nrings);
            cr_assert_eq(y->nkp, x->nkp);
            for (int p = 0; p < 3 * x->nkp; p++)
                cr_assert_eq(y->kp[p], x->kp[p]);
            cr_assert_eq(y->nrle, x->nrle);
            if (x->rle_string)
                cr_assert_str_eq(y->rle_string, x->rle_string);
            if (x->has_bbox)
                for (int p = 0; p < 4; p++)
                    cr_assert_eq(y->bbox[p], x->bbox[p]);
            if (!isnan(x->area))
                cr_assert_eq(y->area, x->area);
            cr_assert_eq(isnan(y->score), isnan(x->score));
            if (x->attributes)
                cr_assert_str_eq(y->attributes, x->attributes);
        }
    /* and a second export is byte for byte the same file */
    const char *out2 = t_tmpdir();
    cr_assert_eq(tds_write(&b, FMT_COCO, out2, &(fmt_write_opts){.keep_category_ids = true}, NULL,
                           &e),
                 0, "%s", e.msg);
    char *f1 = t_read(out, "annotations.json"), *f2 = t_read(out2, "annotations.json");
    cr_assert_str_eq(f1, f2);
    free(f1);
    free(f2);
    tds_free(&a);
    tds_free(&b);
}

Test(formats_coco, writer_renumbers_and_computes_bbox_and_area)
{
    const char *out = t_tmpdir();
    err e;
    fmt_writer *w = fmt_writer_open(FMT_COCO, out, NULL, &e);
    cr_assert_not_null(w, "%s", e.msg);
    fmt_category c1 = {40, "dog", NULL, NULL, 0, NULL, 0}, c2 = {7, "cat", NULL, NULL, 0, NULL, 0};
    cr_assert_eq(fmt_write_category(w, &c1, &e), 0);
    cr_assert_eq(fmt_write_category(w, &c2, &e), 0);
    fmt_image im = {5, "x.jpg", 100, 100, NULL, NULL};
    cr_assert_eq(fmt_write_image(w, &im, &e), 0);
    double pts[] = {10, 10, 30, 10, 30, 20, 10, 20};
    fmt_shape s;
    fmt_shape_init(&s);
    s.id = 900;
    s.image_id = 5;
    s.category_id = 7;
    s.kind = FMT_POLYGON;
    s.points = pts;
    s.npoints = 4;
    s.has_bbox = true; /* far from the polygon: replaced by its extent */
    s.bbox[0] = 0, s.bbox[1] = 0, s.bbox[2] = 99, s.bbox[3] = 99;
    cr_assert_eq(fmt_write_shape(w, &s, &e), 0, "%s", e.msg);
    uint32_t cnt[] = {5, 3, 2, 4, 86}; /* 10x10 mask: 7 pixels */
    fmt_shape r;
    fmt_shape_init(&r);
    r.id = 901;
    r.image_id = 5;
    r.category_id = 40;
    r.kind = FMT_MASK_RLE;
    r.rle_counts = cnt;
    r.nrle = 5;
    r.rle_h = 10, r.rle_w = 10;
    r.iscrowd = true;
    cr_assert_eq(fmt_write_shape(w, &r, &e), 0, "%s", e.msg);
    fmt_shape cl;
    fmt_shape_init(&cl);
    cl.image_id = 5;
    cl.category_id = 40;
    cl.kind = FMT_CLASS;
    cr_assert_eq(fmt_write_shape(w, &cl, &e), -1);
    cr_assert_eq(e.code, ERR_UNSUPPORTED);
    const char *p = fmt_writer_image_path(w, &im);
    cr_assert_str_eq(p, "images/x.jpg");
    cr_assert_eq(fmt_writer_close(w, &e), 0, "%s", e.msg);

    char *text = t_read(out, "annotations.json");
    cr_assert(strstr(text, "{\"id\":1,\"name\":\"dog\"}"), "%s", text);
    cr_assert(strstr(text, "{\"id\":2,\"name\":\"cat\"}"));
    cr_assert(strstr(text, "{\"id\":1,\"image_id\":5,\"category_id\":2,\"bbox\":[10,10,20,10],"
                           "\"area\":200,\"segmentation\":[[10,10,30,10,30,20,10,20]],"
                           "\"iscrowd\":0}"),
              "%s", text);
    /* column-major runs: pixels 5..7 (column 0, rows 5-7) and 10..13 (column 1, rows 0-3) */
    cr_assert(strstr(text, "{\"id\":2,\"image_id\":5,\"category_id\":1,\"bbox\":[0,0,2,8],"
                           "\"area\":7,\"segmentation\":{\"size\":[10,10],\"counts\":[5,3,2,4,86]},"
                           "\"iscrowd\":1}"),
              "%s", text);
    free(text);
}

/* With a sink the JSON goes to it, byte for byte what the file would hold;
 * the sink's error stops the writer. */
typedef struct t_sink {
    sbuf b;
    int calls, fail_at;
} t_sink;
static int t_sink_put(void *ctx, const void *p, size_t n, err *e)
{
    t_sink *k = ctx;
    if (++k->calls == k->fail_at)
        return err_set(e, ERR_IO, "the store is full");
    sbuf_put(&k->b, p, n);
    return 0;
}
static int t_write_some(fmt_writer *w, int nimg, err *e)
{
    fmt_category c = {3, "dog", NULL, NULL, 0, NULL, 0};
    if (fmt_write_category(w, &c, e))
        return -1;
    char name[32];
    for (int i = 1; i <= nimg; i++) {
        snprintf(name, sizeof name, "img%06d.jpg", i);
        fmt_image im = {i, name, 640, 480, NULL, NULL};
        if (fmt_write_image(w, &im, e))
            return -1;
    }
    for (int i = 1; i <= nimg; i++) {
        fmt_shape s;
        fmt_shape_init(&s);
        s.image_id = i;
        s.category_id = 3;
        s.kind = FMT_BOX;
        s.has_bbox = true;
        s.bbox[0] = 1.25, s.bbox[1] = 2, s.bbox[2] = 100.0 / 3, s.bbox[3] = 7;
        if (fmt_write_shape(w, &s, e))
            return -1;
    }
    return 0;
}
Test(formats_coco, writer_streams_into_a_sink)
{
    const char *out = t_tmpdir();
    err e;
    fmt_writer *w = fmt_writer_open(FMT_COCO, out, NULL, &e);
    cr_assert_not_null(w, "%s", e.msg);
    cr_assert_eq(t_write_some(w, 20000, &e), 0, "%s", e.msg);
    cr_assert_eq(fmt_writer_close(w, &e), 0, "%s", e.msg);
    char *text = t_read(out, "annotations.json");
    t_sink k = {SBUF_INIT, 0, 0};
    const char *out2 = t_tmpdir();
    w = fmt_writer_open(FMT_COCO, out2, &(fmt_write_opts){.sink = t_sink_put, .sink_ctx = &k}, &e);
    cr_assert_not_null(w, "%s", e.msg);
    cr_assert_eq(t_write_some(w, 20000, &e), 0, "%s", e.msg);
    cr_assert_eq(fmt_writer_close(w, &e), 0, "%s", e.msg);
    cr_assert_gt(k.calls, 1); /* several pieces: over 1 MiB */
    cr_assert_str_eq(sbuf_cstr(&k.b), text);
    cr_assert_null(t_read(out2, "annotations.json"), "no file when there is a sink");
    free(text);
    sbuf_free(&k.b);
    t_sink bad = {SBUF_INIT, 0, 1};
    w = fmt_writer_open(FMT_COCO, out2, &(fmt_write_opts){.sink = t_sink_put, .sink_ctx = &bad},
                        &e);
    cr_assert_not_null(w, "%s", e.msg);
    err_clear(&e);
    cr_assert_eq(t_write_some(w, 20000, &e), -1);
    cr_assert_str_eq(e.msg, "the store is full");
    fmt_writer_abort(w);
    sbuf_free(&bad.b);
}

Test(formats_coco, writer_contract_errors)
{
    const char *out = t_tmpdir();
    err e;
    fmt_writer *w = fmt_writer_open(FMT_COCO, out, &(fmt_write_opts){.keep_category_ids = true},
                                    &e);
    fmt_category c0 = {0, "bg", NULL, NULL, 0, NULL, 0}, c1 = {1, "a", NULL, NULL, 0, NULL, 0};
    cr_assert_eq(fmt_write_category(w, &c0, &e), -1);
    cr_assert(strstr(e.msg, "COCO cannot hold"), "%s", e.msg);
    cr_assert_eq(fmt_write_category(w, &c1, &e), 0);
    cr_assert_eq(fmt_write_category(w, &c1, &e), -1);
    cr_assert_eq(e.code, ERR_CONFLICT);
    fmt_image bad = {1, "../etc/passwd", 10, 10, NULL, NULL};
    cr_assert_eq(fmt_write_image(w, &bad, &e), -1);
    cr_assert(strstr(e.msg, "relative path inside the dataset"));
    fmt_image a = {1, "a.jpg", 10, 10, NULL, NULL}, b = {2, "b.jpg", 10, 10, NULL, NULL};
    cr_assert_eq(fmt_write_image(w, &a, &e), 0);
    cr_assert_eq(fmt_write_image(w, &b, &e), 0);
    cr_assert_eq(fmt_write_category(w, &c1, &e), -1); /* after images */
    fmt_shape s;
    fmt_shape_init(&s);
    s.kind = FMT_BOX;
    s.has_bbox = true;
    s.bbox[2] = s.bbox[3] = 1;
    s.category_id = 1;
    s.image_id = 1;
    cr_assert_eq(fmt_write_shape(w, &s, &e), 0);
    s.image_id = 2;
    cr_assert_eq(fmt_write_shape(w, &s, &e), 0);
    s.image_id = 1; /* image 1 again: not grouped */
    cr_assert_eq(fmt_write_shape(w, &s, &e), -1);
    cr_assert(strstr(e.msg, "grouped") || strstr(e.msg, "together"), "%s", e.msg);
    s.image_id = 3;
    cr_assert_eq(fmt_write_shape(w, &s, &e), -1);
    cr_assert_eq(fmt_write_image(w, &a, &e), -1); /* after shapes */
    fmt_writer_abort(w);
}

Test(formats_coco, duplicate_file_names_get_distinct_targets)
{
    const char *out = t_tmpdir();
    err e;
    fmt_writer *w = fmt_writer_open(FMT_COCO, out, NULL, &e);
    fmt_image a = {1, "a.jpg", 10, 10, NULL, NULL}, b = {2, "a.jpg", 10, 10, NULL, NULL};
    cr_assert_eq(fmt_write_image(w, &a, &e), 0);
    cr_assert_eq(fmt_write_image(w, &b, &e), 0);
    cr_assert_str_eq(fmt_writer_image_path(w, &a), "images/a.jpg");
    cr_assert_str_eq(fmt_writer_image_path(w, &b), "images/a-2.jpg");
    cr_assert_eq(fmt_writer_close(w, &e), 0);
    char *text = t_read(out, "annotations.json");
    cr_assert(strstr(text, "\"file_name\":\"a-2.jpg\""));
    free(text);
}

/* --- geometry, RLE, numbers ----------------------------------------------------------------- */

Test(formats_geom, rle_string_matches_pycocotools)
{
    /* encode/decode round trips (the code is a transcription of
     * pycocotools' rleToString / rleFrString) */
    struct {
        uint32_t c[6];
        int n;
        const char *s;
    } cases[] = {
        {{0, 4}, 2, "04"},
        {{2, 3, 1, 6}, 4, "2313"},
        {{10, 20, 30, 5}, 4, NULL},
        {{100000, 1, 7}, 3, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *s = fmt_rle_encode(cases[i].c, cases[i].n);
        uint32_t *back = NULL;
        err e;
        int n = fmt_rle_decode(s, &back, &e);
        cr_assert_eq(n, cases[i].n, "%s", e.msg);
        for (int k = 0; k < n; k++)
            cr_assert_eq(back[k], cases[i].c[k]);
        if (cases[i].s)
            cr_assert_str_eq(s, cases[i].s);
        free(s);
        free(back);
    }
    uint32_t *c = NULL;
    err e;
    cr_assert_eq(fmt_rle_decode("04<0", &c, &e), 4);
    cr_assert_eq(c[0], 0);
    cr_assert_eq(c[1], 4);
    cr_assert_eq(c[2], 12);
    cr_assert_eq(c[3], 4);
    free(c);
    cr_assert_eq(fmt_rle_decode("0p", &c, &e), -1); /* 'p' is past 'o' */
    cr_assert_eq(fmt_rle_decode("0_", &c, &e), -1); /* continuation at the end */
    cr_assert(strstr(e.msg, "ends inside a count"), "%s", e.msg);
    cr_assert_eq(fmt_rle_decode("R", &c, &e), -1);  /* a negative count */
}

Test(formats_geom, areas_and_boxes)
{
    double sq[] = {0, 0, 4, 0, 4, 4, 0, 4, 10, 10, 12, 10, 12, 13};
    int rings[] = {4, 3};
    cr_assert_eq(fmt_polygon_area(sq, 4, NULL, 0), 16);
    cr_assert_eq(fmt_polygon_area(sq, 7, rings, 2), 16 + 3);
    double bb[4];
    cr_assert(fmt_points_bbox(sq, 7, bb));
    cr_assert_eq(bb[2], 12);
    cr_assert_eq(bb[3], 13);
    uint32_t cnt[] = {2, 3, 1, 6}; /* 3x4 mask */
    cr_assert_eq(fmt_rle_area(cnt, 4), 9);
    cr_assert(fmt_rle_bbox(cnt, 4, 3, 4, bb));
    /* runs 2..4 (col 0 row 2, col 1 rows 0-1) and 6..11: x 0..3, rows 0..2 */
    cr_assert_eq(bb[0], 0);
    cr_assert_eq(bb[1], 0);
    cr_assert_eq(bb[2], 4);
    cr_assert_eq(bb[3], 3);
}

Test(formats_numbers, parse_is_strtod)
{
    const char *cases[] = {"0", "-0", "1", "123.45", "0.1", "1e5", "1E-5", "-2.5e+3",
                           "9007199254740993", "123456789012345678901234567890",
                           "0.30000000000000004", "4.9406564584124654e-324", "1e400",
                           "2.2250738585072011e-308", "179769313486231570000000000000000000000",
                           "0.000000000000000000000000001", ".5", "5.", "+7"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double d;
        cr_assert_eq(fmt_parse_dbl(cases[i], strlen(cases[i]), &d), 0, "%s", cases[i]);
        double ref = strtod(cases[i], NULL);
        cr_assert(d == ref || (isnan(d) && isnan(ref)), "%s: %.17g vs %.17g", cases[i], d, ref);
        cr_assert_eq(signbit(d), signbit(ref), "%s", cases[i]);
    }
    const char *bad[] = {"", "-", "1e", "nan", "inf", "0x10", "1.2.3", "1 ", " 1", "e5", "."};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        double d;
        cr_assert_eq(fmt_parse_dbl(bad[i], strlen(bad[i]), &d), -1, "'%s'", bad[i]);
    }
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        char buf[64];
        int dec = (int)(s % 12);
        double v = (double)(int64_t)(s >> 20) / 1e6;
        snprintf(buf, sizeof buf, "%.*f", dec, v);
        double d;
        cr_assert_eq(fmt_parse_dbl(buf, strlen(buf), &d), 0);
        cr_assert(d == strtod(buf, NULL), "%s", buf);
    }
    int64_t iv;
    cr_assert_eq(fmt_parse_i64("12.0", 4, &iv), 0);
    cr_assert_eq(iv, 12);
    cr_assert_eq(fmt_parse_i64("-9223372036854775808", 20, &iv), 0);
    cr_assert_eq(iv, INT64_MIN);
    cr_assert_eq(fmt_parse_i64("9223372036854775808", 19, &iv), -1);
    cr_assert_eq(fmt_parse_i64("1.5", 3, &iv), -1);
}

Test(formats_numbers, printing_reads_back_exactly_and_short)
{
    struct {
        double v;
        const char *s;
    } cases[] = {{0, "0"}, {1, "1"}, {-3, "-3"}, {123.45, "123.45"}, {0.1, "0.1"},
                 {0.05, "0.05"}, {1e-7, "9.9999999999999995e-08"}, {0.3, "0.3"},
                 {2.5e15, "2.5e+15"}, {640.0 / 3, "213.33333333333334"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char out[40];
        int n = fmt_dbl_str(cases[i].v, out);
        out[n] = 0;
        cr_assert_eq(strtod(out, NULL), cases[i].v, "%s", out);
        if (i != 6)
            cr_assert_str_eq(out, cases[i].s);
    }
    uint64_t s = 0x243F6A8885A308D3ull;
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double v;
        if (i % 3 == 0)
            v = (double)(s % 100000000) / 100; /* two decimals */
        else if (i % 3 == 1)
            v = (double)(s >> 11) / (double)(1ull << 53) * 1000; /* full precision */
        else {
            uint64_t bits = s & 0x7FEFFFFFFFFFFFFFull;
            memcpy(&v, &bits, sizeof v); /* any finite double */
        }
        char out[40];
        int n = fmt_dbl_str(v, out);
        out[n] = 0;
        cr_assert_eq(strtod(out, NULL), v, "%.17g printed as %s", v, out);
        double back;
        cr_assert_eq(fmt_parse_dbl(out, (size_t)n, &back), 0, "%s", out);
        cr_assert_eq(back, v, "%s", out);
    }
}

/* Values without a short decimal form (a bbox width computed from a
 * polygon: 123.45 - 67.89) are printed in exact integer arithmetic; the
 * answer must be what the fewest of %.15g, %.16g, %.17g that reads back
 * gives, the definition it replaced. */
Test(formats_numbers, long_values_print_like_the_shortest_g)
{
    static const double p10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    uint64_t s = 0x9E3779B97F4A7C15ull;
    int checked = 0;
    for (int i = 0; i < 300000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        double v;
        if (i % 3 == 0)
            v = (double)(s % 100000) / 100 - (double)((s >> 20) % 100000) / 100;
        else if (i % 3 == 1)
            v = (double)(s >> 11) / (double)(1ull << 53) * p10[(s >> 5) % 10];
        else
            v = ldexp((double)(s >> 11), -(int)(20 + (s >> 3) % 60));
        double a = fabs(v);
        if (a < 1e-4 || a >= 1e15)
            continue;
        bool short_form = false; /* up to 9 decimals: printed by the other path */
        for (int k = 0; k <= 9 && !short_form; k++) {
            double m = a * p10[k];
            short_form = m < 9007199254740992.0 && m == floor(m) && m / p10[k] == a;
        }
        if (short_form)
            continue;
        char want[40], got[41];
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(want, sizeof want, "%.*g", prec, v);
            if (strtod(want, NULL) == v)
                break;
        }
        int n = fmt_dbl_str(v, got);
        got[n] = 0;
        cr_assert_str_eq(got, want, "%.17g", v);
        checked++;
    }
    cr_assert_gt(checked, 150000);
}

/* --- the JSON tokenizer ------------------------------------------------------------------ */

Test(formats_json, strict_json)
{
    struct {
        const char *value; /* put in "info" */
        const char *msg;   /* NULL: accepted */
    } cases[] = {
        {"\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\\b\\f\\r\\t\"", NULL},
        {"[1, -0, 0.5, -1.25e-3, 1E+2, 123456789012345678901234567890, true, false, null]", NULL},
        {"{\"a\": {}, \"b\": [], \"\": [[]]}", NULL},
        {"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"", NULL},
        {"01", "unexpected '1' in a number"},
        {"1.", "a digit must follow the decimal point"},
        {"1e", "a digit must follow the exponent"},
        {"-", "a number needs digits"},
        {"+1", "unexpected '+'"},
        {".5", "unexpected '.'"},
        {"NaN", "NaN and Infinity are not JSON"},
        {"-Infinity", "NaN and Infinity are not JSON"},
        {"tru", "unexpected 't'"},
        {"[1,]", "expected a value, got ']'"},
        {"{\"a\": 1,}", "expected a key in quotes after ','"},
        {"{\"a\" 1}", "expected ':' after a key"},
        {"{a: 1}", "expected a key in quotes or '}'"},
        {"[1 2]", "expected ',' or ']'"},
        {"[1}", "expected ',' or ']'"},
        {"\"a\tb\"", "a control character (0x09) in a string"},
        {"\"\\x41\"", "invalid escape \\x"},
        {"\"\\u12G4\"", "\\u must be followed by 4 hex digits"},
        {"\"\\ud83d\"", "unpaired surrogate \\uD83D"},
        {"\"\\ude00\\ud83d\"", "unpaired surrogate \\uDE00"},
        {"\"\xc0\xaf\"", "invalid UTF-8"},         /* overlong '/' */
        {"\"\xed\xa0\x80\"", "invalid UTF-8"},     /* a surrogate in UTF-8 */
        {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"}, /* above U+10FFFF */
        {"\"\xe2\x82\"", "invalid UTF-8"},         /* cut short */
        {"'a'", "unexpected '''"},
        {"[1] // comment", "expected ',' or '}' after the value of \"info\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char doc[512];
        snprintf(doc, sizeof doc, "{\"images\": [], \"categories\": [], \"info\": %s}",
                 cases[i].value);
        fmt_report rep = {0};
        err e;
        int rc = fmt_read_mem(FMT_COCO, doc, strlen(doc), NULL, NULL, &rep, &e);
        if (!cases[i].msg) {
            cr_assert_eq(rc, 0, "case %zu: %s", i, e.msg);
        } else {
            cr_assert_eq(rc, -1, "case %zu accepted", i);
            cr_assert(strstr(e.msg, cases[i].msg), "case %zu: %s", i, e.msg);
            cr_assert(strstr(e.msg, "line 1, column"), "case %zu: %s", i, e.msg);
        }
        fmt_report_free(&rep);
    }
    /* a key is a JSON string too */
    const char *bad_key = "{\"images\": [], \"categories\": [], \"x\xff\": 1}";
    fmt_report rep = {0};
    err e;
    cr_assert_eq(fmt_read_mem(FMT_COCO, bad_key, strlen(bad_key), NULL, NULL, &rep, &e), -1);
    cr_assert(strstr(e.msg, "invalid UTF-8"), "%s", e.msg);
    fmt_report_free(&rep);
}

Test(formats_json, tokens_across_buffer_refills)
{
    /* a 3 MB string (the tokenizer's buffer is 256 KiB and grows), then
     * thousands of annotations whose numbers and strings straddle refills */
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "{\"info\": {\"big\": \"");
    for (int i = 0; i < 3 * 1024 * 1024; i++)
        sbuf_putc(&b, (char)('a' + i % 26));
    sbuf_puts(&b, "\\u00e9\"}, \"images\": [{\"id\": 1, \"file_name\": \"d\\u00e9j\\u00e0.jpg\","
                  " \"width\": 5000, \"height\": 5000}], \"categories\": [{\"id\": 1, \"name\": \"a\"}],"
                  " \"annotations\": [");
    for (int i = 0; i < 40000; i++)
        sbuf_printf(&b, "%s{\"id\": %d, \"image_id\": 1, \"category_id\": 1, \"bbox\": [%d.125, %d.5, "
                        "1e1, 2.5E-1], \"attributes\": {\"k\": \"v%d\"}}",
                    i ? ", " : "", i + 1, i % 4000, i % 3000, i);
    sbuf_puts(&b, "]}");
    const char *d = t_tmpdir();
    t_write(d, "big.json", b.p);
    char path[300];
    snprintf(path, sizeof path, "%s/big.json", d);
    tds ds;
    tds_read_ok(FMT_COCO, path, NULL, &ds);
    cr_assert_str_eq(ds.imgs[0].file_name, "d\xc3\xa9j\xc3\xa0.jpg");
    cr_assert_eq(ds.nshapes, 40000);
    for (int i = 0; i < 40000; i++) {
        const fmt_shape *s = &ds.shapes[i].s;
        cr_assert_eq(s->id, i + 1);
        cr_assert_eq(s->bbox[0], i % 4000 + 0.125);
        cr_assert_eq(s->bbox[1], i % 3000 + 0.5);
        cr_assert_eq(s->bbox[2], 10);
        cr_assert_eq(s->bbox[3], 0.25);
        char want[40];
        snprintf(want, sizeof want, "{\"k\":\"v%d\"}", i);
        cr_assert_str_eq(s->attributes, want);
    }
    tds_free(&ds);
    sbuf_free(&b);
}
