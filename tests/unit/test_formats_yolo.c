/*
 * Unit tests for src/formats, YOLO: the data.yaml subset, label lines, the
 * reader on generated datasets (detect, segment, pose, classify) with
 * exact problem locations, the writer, round trips, and COCO -> YOLO ->
 * COCO.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "formats/formats.h"
#include "formats/internal.h"
#include "formats_util.h"

/* --- data.yaml ------------------------------------------------------------------------ */

static int cfg(const char *text, fmt_yolo_cfg *c, err *e)
{
    return fmt_yolo_cfg_parse(text, strlen(text), c, e);
}

Test(formats_yaml, ultralytics_forms)
{
    fmt_yolo_cfg c;
    err e;
    /* the official coco8.yaml shape: comments, mapping names, a download script */
    const char *y1 = "# Ultralytics\n---\npath: ../datasets/coco8 # dataset root dir\n"
                     "train: images/train  # train images\nval: images/val\ntest: # optional\n\n"
                     "# Classes\nnames:\n  0: person\n  1: bicycle\n  2: 'traffic light'\n"
                     "  3: \"a \\\"quoted\\\" name\"\n\n"
                     "download: |\n  from x import y\n\n  # not a key: value\n  y(1)\n";
    cr_assert_eq(cfg(y1, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.nc, 4);
    cr_assert_str_eq(c.names[2], "traffic light");
    cr_assert_str_eq(c.names[3], "a \"quoted\" name");
    cr_assert_str_eq(c.path, "../datasets/coco8");
    cr_assert_eq(c.nsplit_dirs[0], 1);
    cr_assert_str_eq(c.split_dirs[0][0], "images/train");
    cr_assert_eq(c.nsplit_dirs[2], 0);
    fmt_yolo_cfg_free(&c);
    /* flow list over lines, nc, a list of train dirs, pose keys */
    const char *y2 = "train: [images/a, images/b]\nval: val.txt\nnc: 3\n"
                     "names: ['x', y,\n        \"z\"]\nkpt_shape: [4, 3]\nflip_idx: [0, 2, 1, 3]\n"
                     "kpt_names:\n- nose\n- eye\n- ear\n- tail\nskeleton: [[1, 2], [2, 3]]\n";
    cr_assert_eq(cfg(y2, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.nc, 3);
    cr_assert_str_eq(c.names[2], "z");
    cr_assert_eq(c.nsplit_dirs[0], 2);
    cr_assert_str_eq(c.split_dirs[0][1], "images/b");
    cr_assert_eq(c.kpt_n, 4);
    cr_assert_eq(c.kpt_dim, 3);
    cr_assert_str_eq(c.kpt_names[3], "tail");
    cr_assert_eq(c.nskeleton, 2);
    cr_assert_eq(c.skeleton[2], 2);
    fmt_yolo_cfg_free(&c);
    /* block list of names, "- key: value" items elsewhere */
    const char *y3 = "names:\n  - cat\n  - dog\nextra:\n  - a: 1\n    b: 2\n  - c: 3\ntrain: t\n";
    cr_assert_eq(cfg(y3, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.nc, 2);
    cr_assert_str_eq(c.names[1], "dog");
    fmt_yaml *y = c.doc;
    const fmt_ynode *extra = fmt_ynode_get(y->root, "extra");
    cr_assert_eq(extra->kind, FMT_YAML_SEQ);
    cr_assert_eq(extra->n, 2);
    cr_assert_str_eq(fmt_ynode_get(extra->items[0], "b")->s, "2");
    fmt_yolo_cfg_free(&c);
}

Test(formats_yaml, errors_name_the_line)
{
    struct {
        const char *text, *msg;
    } cases[] = {
        {"names:\n\t- a\n", "line 2: a tab in the indentation"},
        {"names: [a, b\n", "line 1: '[' is not closed"},
        {"names: &x [a]\n", "line 1: anchors, aliases and tags are not supported"},
        {"names: [a]\nnames: [b]\n", "line 2: the key \"names\" appears twice"},
        {"names: [a]\n  oops: 1\n", "line 2: unexpected indentation"},
        {"train: x\n", "line 1: data.yaml has no names"},
        {"names: [a, a]\n", "classes 0 and 1 are both named 'a'"},
        {"names: {0: a, 2: b}\n", "names: key '2' must be a class index 0..1"},
        {"names: [a, b]\nnc: 3\n", "line 2: nc is 3 but names has 2 classes"},
        {"names: [a]\nkpt_shape: [17, 4]\n", "kpt_shape must be [number of keypoints, 2 or 3]"},
        {"names: \"unterminated\n", "line 1: a quoted string is not closed"},
        {"- a\n- b\n", "data.yaml must be a mapping"},
        {"names: [a]\nskeleton: [[1, 9]]\nkpt_shape: [3, 2]\n", "skeleton[0] must be a pair"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fmt_yolo_cfg c;
        err e;
        cr_assert_eq(cfg(cases[i].text, &c, &e), -1, "case %zu", i);
        cr_assert(strstr(e.msg, cases[i].msg), "case %zu: %s", i, e.msg);
        fmt_yolo_cfg_free(&c);
    }
}

Test(formats_yolo, label_lines)
{
    fmt_yolo_line l = {0};
    err e;
    const char *box = "3 0.5 0.5 0.25 0.125";
    cr_assert_eq(fmt_yolo_parse_line(box, strlen(box), 5, 0, 0, &l, &e), 1, "%s", e.msg);
    cr_assert_eq(l.cls, 3);
    cr_assert_eq(l.kind, FMT_BOX);
    cr_assert_eq(l.vals[3], 0.125);
    const char *poly = "0 0.1 0.1 0.9 0.1 0.5 0.8\r";
    cr_assert_eq(fmt_yolo_parse_line(poly, strlen(poly), 5, 0, 0, &l, &e), 1);
    cr_assert_eq(l.kind, FMT_POLYGON);
    cr_assert_eq(l.nvals, 6);
    const char *pose = "0 0.5 0.5 0.2 0.2 0.1 0.2 2 0 0 0";
    cr_assert_eq(fmt_yolo_parse_line(pose, strlen(pose), 1, 2, 3, &l, &e), 1);
    cr_assert_eq(l.kind, FMT_KEYPOINTS);
    cr_assert_eq(fmt_yolo_parse_line("", 0, 1, 0, 0, &l, &e), 0);
    cr_assert_eq(fmt_yolo_parse_line("   ", 3, 1, 0, 0, &l, &e), 0);
    struct {
        const char *line;
        int kn;
        const char *msg;
    } bad[] = {
        {"7 0.5 0.5 0.1 0.1", 0, "class 7 is not in data.yaml's names (0..4)"},
        {"-1 0.5 0.5 0.1 0.1", 0, "class -1 is not"},
        {"x 0.5 0.5 0.1 0.1", 0, "the class 'x' is not a whole number"},
        {"1 0.5 0.5 0.1", 0, "expected 4 numbers (a box) or an even count of at least 6"},
        {"1 0.5 0.5 0.1 0.1 0.2", 0, "got 5"},
        {"1 0.5 nan 0.1 0.1", 0, "value 2 'nan' is not a number"},
        {"1 0.5 1e999 0.1 0.1", 0, "value 2 is not finite"},
        {"1 0.5 1.5 0.1 0.1", 0, "value 2 (1.5) is outside [0, 1]"},
        {"1 0.5 0.5 -0.1 0.1", 0, "value 3 (-0.1) is outside [0, 1]"},
        {"1 0.5 0.5 0.1 0.1 0.2 0.2 2", 2, "expected 10 numbers after the class (box + 2 keypoints x 3), got 7"},
        {"1 0.5 0.5 0.1 0.1 0.2 0.2 5 0 0 0", 2, "keypoint 1: visibility must be 0, 1 or 2, got 5"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int r = fmt_yolo_parse_line(bad[i].line, strlen(bad[i].line), 5, bad[i].kn, 3, &l, &e);
        cr_assert_eq(r, -1, "case %zu", i);
        cr_assert(strstr(e.msg, bad[i].msg), "case %zu: %s", i, e.msg);
    }
    free(l.vals);
}

/* --- the reader on a generated dataset ------------------------------------------------------ */

static const char *make_detect(void)
{
    const char *d = t_tmpdir();
    t_write(d, "data.yaml", "path: .\ntrain: images/train\nval: images/val\n"
                            "names:\n  0: car\n  1: person\n");
    t_jpeg(d, "images/train/a.jpg", 640, 480);
    t_jpeg(d, "images/train/sub/b.jpg", 100, 50);
    t_jpeg(d, "images/val/c.jpg", 200, 100);
    t_write(d, "labels/train/a.txt", "0 0.5 0.5 0.25 0.5\n1 0.1 0.1 0.2 0.1 0.2 0.3\n\n");
    t_write(d, "labels/train/sub/b.txt", "1 0.25 0.5 0.5 1\n");
    t_write(d, "labels/train/orphan.txt", "0 0.5 0.5 0.1 0.1\n");
    t_write(d, "images/train/notes.md", "not an image");
    return d;
}

Test(formats_yolo, reads_the_ultralytics_layout)
{
    const char *d = make_detect();
    tds ds;
    fmt_report rep = {0};
    err e;
    cr_assert_eq(tds_read(FMT_YOLO, d, NULL, &ds, &rep, &e), 0, "%s", e.msg);
    cr_assert_eq(rep.total, 0);
    t_has_problem(&rep, "labels/train/orphan.txt", "label file without an image");
    cr_assert_eq(ds.ncats, 2);
    cr_assert_eq(ds.cats[0].id, 0);
    cr_assert_str_eq(ds.cats[1].name, "person");
    cr_assert_eq(ds.nimgs, 3);
    cr_assert_str_eq(ds.imgs[0].file_name, "a.jpg");
    cr_assert_str_eq(ds.imgs[0].path, "images/train/a.jpg");
    cr_assert_str_eq(ds.imgs[0].split, "train");
    cr_assert_eq(ds.imgs[0].w, 640);
    cr_assert_eq(ds.imgs[0].h, 480);
    cr_assert_str_eq(ds.imgs[1].file_name, "sub/b.jpg");
    cr_assert_str_eq(ds.imgs[2].split, "val");
    cr_assert_eq(ds.nshapes, 3);
    const fmt_shape *s = &ds.shapes[0].s;
    cr_assert_eq(s->kind, FMT_BOX);
    cr_assert_eq(s->bbox[0], 240);
    cr_assert_eq(s->bbox[1], 120);
    cr_assert_eq(s->bbox[2], 160);
    cr_assert_eq(s->bbox[3], 240);
    s = &ds.shapes[1].s;
    cr_assert_eq(s->kind, FMT_POLYGON);
    cr_assert_eq(s->npoints, 3);
    cr_assert_eq(s->points[0], 64);
    cr_assert_eq(s->points[5], 144);
    cr_assert_eq(s->category_id, 1);
    s = &ds.shapes[2].s; /* 0.25 0.5 0.5 1 on 100x50: the whole height */
    cr_assert_eq(s->image_id, 2);
    cr_assert_eq(s->bbox[0], 0);
    cr_assert_eq(s->bbox[3], 50);
    fmt_report_free(&rep);
    tds_free(&ds);

    /* one split only */
    fmt_read_opts o = {.split = "val"};
    tds_read_ok(FMT_YOLO, d, &o, &ds);
    cr_assert_eq(ds.nimgs, 1);
    cr_assert_str_eq(ds.imgs[0].file_name, "c.jpg");
    tds_free(&ds);
    /* the yaml file itself as the input */
    char yml[300];
    snprintf(yml, sizeof yml, "%s/data.yaml", d);
    tds_read_ok(FMT_YOLO, yml, NULL, &ds);
    cr_assert_eq(ds.nimgs, 3);
    tds_free(&ds);
}

Test(formats_yolo, problems_name_file_and_line)
{
    const char *d = make_detect();
    t_write(d, "labels/train/a.txt", "0 0.5 0.5 0.25 0.5\n9 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1\n"
                                     "1 0.99 0.5 0.1 0.1\n0 0.5 0.5 0.2 0.2\n");
    t_write(d, "images/val/broken.png", "\x89PNG\r\n\x1a\nshort");
    tds ds;
    fmt_report rep = {0};
    err e;
    cr_assert_eq(tds_read(FMT_YOLO, d, NULL, &ds, &rep, &e), -1);
    cr_assert(str_has_prefix(e.msg, "images/val/broken.png: "), "%s", e.msg);
    fmt_report_free(&rep);
    tds_free(&ds);
    fmt_read_opts o = {.keep_going = true};
    cr_assert_eq(tds_read(FMT_YOLO, d, &o, &ds, &rep, &e), 0, "%s", e.msg);
    if (rep.total != 4)
        report_dump(&rep);
    cr_assert_eq(rep.total, 4);
    t_has_problem(&rep, "images/val/broken.png", "PNG");
    t_has_problem(&rep, "labels/train/a.txt:2", "class 9 is not in data.yaml's names (0..1)");
    t_has_problem(&rep, "labels/train/a.txt:3", "expected 4 numbers");
    t_has_problem(&rep, "labels/train/a.txt:4", "passes the border of the 640x480 image by 25.6 px");
    cr_assert_eq(ds.nimgs, 3);
    cr_assert_eq(ds.nshapes, 3); /* a.txt lines 1 and 5, b.txt */
    fmt_report_free(&rep);
    tds_free(&ds);
}

Test(formats_yolo, stays_inside_the_dataset_directory)
{
    const char *d = make_detect();
    t_write(d, "data.yaml", "path: /etc\ntrain: ../../../../etc\nval: images/val\nnames: [a, b]\n");
    tds ds;
    fmt_report rep = {0};
    err e;
    cr_assert_eq(tds_read(FMT_YOLO, d, NULL, &ds, &rep, &e), -1);
    t_has_problem(&rep, "data.yaml", "path '/etc' is not a directory inside");
    t_has_problem(&rep, "data.yaml: train", "'../../../../etc' is not a directory or list inside");
    fmt_report_free(&rep);
    tds_free(&ds);
    /* Roboflow: "../train/images" means "train/images" */
    const char *r = t_tmpdir();
    t_write(r, "data.yaml", "train: ../train/images\nval: ../train/images\nnc: 1\nnames: ['x']\n");
    t_jpeg(r, "train/images/p.jpg", 10, 10);
    t_write(r, "train/labels/p.txt", "0 0.5 0.5 1 1\n");
    tds_read_ok(FMT_YOLO, r, NULL, &ds);
    cr_assert_eq(ds.nimgs, 1); /* val = train: read once */
    cr_assert_eq(ds.nshapes, 1);
    cr_assert_str_eq(ds.imgs[0].path, "train/images/p.jpg");
    tds_free(&ds);
    /* a .txt list of images */
    t_write(r, "data.yaml", "train: list.txt\nnames: ['x']\n");
    t_write(r, "list.txt", "./train/images/p.jpg\ntrain/images/missing.jpg\n");
    cr_assert_eq(tds_read(FMT_YOLO, r, NULL, &ds, &rep, &e), -1);
    t_has_problem(&rep, "list.txt:2", "image 'train/images/missing.jpg' does not exist");
    fmt_report_free(&rep);
    tds_free(&ds);
}

/* --- writing and round trips --------------------------------------------------------------- */

static void assert_same(const tds *a, const tds *b, double tol)
{
    cr_assert_eq(b->ncats, a->ncats);
    for (int i = 0; i < a->ncats; i++) {
        cr_assert_str_eq(b->cats[i].name, a->cats[i].name);
        cr_assert_eq(b->cats[i].nkp, a->cats[i].nkp);
    }
    cr_assert_eq(b->nimgs, a->nimgs);
    cr_assert_eq(b->nshapes, a->nshapes);
    for (int i = 0; i < a->nimgs; i++) {
        const timg *x = &a->imgs[i], *y = NULL;
        for (int j = 0; j < b->nimgs; j++)
            if (strcmp(b->imgs[j].file_name, x->file_name) == 0)
                y = &b->imgs[j];
        cr_assert_not_null(y, "image %s is missing", x->file_name);
        cr_assert_eq(y->w, x->w);
        cr_assert_eq(y->h, x->h);
        /* the shapes of the image, in order */
        int ka = 0, kb = 0;
        for (;;) {
            while (ka < a->nshapes && a->shapes[ka].s.image_id != x->id)
                ka++;
            while (kb < b->nshapes && b->shapes[kb].s.image_id != y->id)
                kb++;
            if (ka >= a->nshapes || kb >= b->nshapes) {
                cr_assert_eq(ka >= a->nshapes, kb >= b->nshapes, "%s: shape counts", x->file_name);
                break;
            }
            const fmt_shape *p = &a->shapes[ka].s, *q = &b->shapes[kb].s;
            cr_assert_eq(q->kind, p->kind);
            cr_assert_str_eq(tds_cat_by_id(b, q->category_id)->name,
                             tds_cat_by_id(a, p->category_id)->name);
            if (p->kind == FMT_BOX || p->kind == FMT_KEYPOINTS)
                for (int k = 0; k < 4; k++)
                    cr_assert(t_near(q->bbox[k], p->bbox[k], tol), "%s bbox[%d]: %.17g vs %.17g",
                              x->file_name, k, q->bbox[k], p->bbox[k]);
            cr_assert_eq(q->npoints, p->npoints);
            for (int k = 0; k < 2 * p->npoints; k++)
                cr_assert(t_near(q->points[k], p->points[k], tol));
            cr_assert_eq(q->nkp, p->nkp);
            for (int k = 0; k < 3 * p->nkp; k++)
                cr_assert(t_near(q->kp[k], p->kp[k], tol), "kp[%d] %.17g vs %.17g", k, q->kp[k],
                          p->kp[k]);
            ka++, kb++;
        }
    }
}

Test(formats_yolo, round_trip_is_identical)
{
    const char *d = make_detect();
    tds a, b;
    tds_read_ok(FMT_YOLO, d, NULL, &a);
    const char *out = t_tmpdir();
    err e;
    cr_assert_eq(tds_write(&a, FMT_YOLO, out, NULL, NULL, &e), 0, "%s", e.msg);
    /* the caller copies the images where the writer says */
    fmt_writer *w = fmt_writer_open(FMT_YOLO, t_tmpdir(), NULL, &e);
    fmt_image im = {1, "sub/b.jpg", 100, 50, NULL, "val"};
    cr_assert_eq(fmt_write_image(w, &im, &e), 0);
    cr_assert_str_eq(fmt_writer_image_path(w, &im), "images/val/sub/b.jpg");
    fmt_writer_abort(w);
    for (int i = 0; i < a.nimgs; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "images/%s/%s", a.imgs[i].split, a.imgs[i].file_name);
        t_jpeg(out, rel, a.imgs[i].w, a.imgs[i].h);
    }
    char *yaml = t_read(out, "data.yaml");
    cr_assert(strstr(yaml, "train: images/train\nval: images/val\n"), "%s", yaml);
    cr_assert(strstr(yaml, "names:\n  0: \"car\"\n  1: \"person\"\n"), "%s", yaml);
    free(yaml);
    char *lab = t_read(out, "labels/train/a.txt");
    cr_assert_str_eq(lab, "0 0.5 0.5 0.25 0.5\n1 0.1 0.1 0.2 0.1 0.2 0.3\n");
    free(lab);
    lab = t_read(out, "labels/val/c.txt"); /* an image without objects: an empty file */
    cr_assert_str_eq(lab, "");
    free(lab);
    tds_read_ok(FMT_YOLO, out, NULL, &b);
    assert_same(&a, &b, 0);
    tds_free(&a);
    tds_free(&b);
}

Test(formats_yolo, pose_and_classify)
{
    const char *d = t_tmpdir();
    t_write(d, "data.yaml", "train: images/train\nval: images/train\nnames: [person]\n"
                            "kpt_shape: [3, 3]\nkpt_names: [nose, left, right]\n"
                            "skeleton: [[1, 2], [1, 3]]\n");
    t_jpeg(d, "images/train/p.jpg", 200, 100);
    t_write(d, "labels/train/p.txt", "0 0.5 0.5 0.5 0.5 0.5 0.4 2 0.4 0.5 1 0 0 0\n");
    tds a, b;
    tds_read_ok(FMT_YOLO, d, NULL, &a);
    cr_assert_eq(a.cats[0].nkp, 3);
    cr_assert_str_eq(a.cats[0].kpn[2], "right");
    cr_assert_eq(a.cats[0].nskel, 2);
    const fmt_shape *s = &a.shapes[0].s;
    cr_assert_eq(s->kind, FMT_KEYPOINTS);
    cr_assert_eq(s->kp[0], 100);
    cr_assert_eq(s->kp[1], 40);
    cr_assert_eq(s->kp[2], 2);
    cr_assert_eq(s->kp[5], 1);
    /* through COCO and back */
    const char *c = t_tmpdir();
    err e;
    cr_assert_eq(tds_write(&a, FMT_COCO, c, NULL, NULL, &e), 0, "%s", e.msg);
    char path[256];
    snprintf(path, sizeof path, "%s/annotations.json", c);
    tds_read_ok(FMT_COCO, path, NULL, &b);
    assert_same(&a, &b, 0);
    tds_free(&b);
    const char *y = t_tmpdir();
    cr_assert_eq(tds_write(&a, FMT_YOLO, y, NULL, NULL, &e), 0, "%s", e.msg);
    t_jpeg(y, "images/train/p.jpg", 200, 100);
    char *yaml = t_read(y, "data.yaml");
    cr_assert(strstr(yaml, "kpt_shape: [3, 3]\nkpt_names: [\"nose\", \"left\", \"right\"]"), "%s",
              yaml);
    free(yaml);
    tds_read_ok(FMT_YOLO, y, NULL, &b);
    assert_same(&a, &b, 0);
    tds_free(&a);
    tds_free(&b);

    /* classification: train/<class>/img, no data.yaml */
    const char *k = t_tmpdir();
    t_jpeg(k, "train/dog/1.jpg", 30, 20);
    t_jpeg(k, "train/cat/2.jpg", 30, 20);
    t_jpeg(k, "val/cat/3.jpg", 30, 20);
    t_write(k, "train/cat/readme.txt", "ignored");
    tds_read_ok(FMT_YOLO, k, NULL, &a);
    cr_assert_eq(a.ncats, 2);
    cr_assert_str_eq(a.cats[0].name, "cat");
    cr_assert_eq(a.nimgs, 3);
    cr_assert_str_eq(a.imgs[0].file_name, "cat/2.jpg");
    cr_assert_str_eq(a.imgs[0].path, "train/cat/2.jpg");
    cr_assert_str_eq(a.imgs[2].split, "val");
    cr_assert_eq(a.nshapes, 3);
    cr_assert_eq(a.shapes[0].s.kind, FMT_CLASS);
    cr_assert_eq(a.shapes[1].s.category_id, 1);
    const char *k2 = t_tmpdir();
    fmt_writer *w = fmt_writer_open(FMT_YOLO, k2, &(fmt_write_opts){.classify = true}, &e);
    for (int i = 0; i < a.ncats; i++) {
        fmt_category fc = {a.cats[i].id, a.cats[i].name, NULL, NULL, 0, NULL, 0};
        cr_assert_eq(fmt_write_category(w, &fc, &e), 0);
    }
    for (int i = 0; i < a.nimgs; i++) {
        fmt_image im = {a.imgs[i].id, a.imgs[i].file_name, 30, 20, NULL, a.imgs[i].split};
        cr_assert_eq(fmt_write_image(w, &im, &e), 0);
    }
    for (int i = 0; i < a.nshapes; i++)
        cr_assert_eq(fmt_write_shape(w, &a.shapes[i].s, &e), 0, "%s", e.msg);
    for (int i = 0; i < a.nimgs; i++) {
        fmt_image im = {a.imgs[i].id, a.imgs[i].file_name, 30, 20, NULL, a.imgs[i].split};
        const char *p = fmt_writer_image_path(w, &im);
        cr_assert_not_null(p);
        t_jpeg(k2, p, 30, 20);
    }
    fmt_image im0 = {a.imgs[0].id, NULL, 0, 0, NULL, NULL};
    cr_assert_str_eq(fmt_writer_image_path(w, &im0), "train/cat/2.jpg");
    cr_assert_eq(fmt_writer_close(w, &e), 0, "%s", e.msg);
    tds_read_ok(FMT_YOLO, k2, NULL, &b);
    assert_same(&a, &b, 0);
    tds_free(&a);
    tds_free(&b);
}

Test(formats_cross, coco_to_yolo_to_coco_keeps_boxes)
{
    /* random boxes and polygons on odd image sizes */
    const char *dir = t_tmpdir();
    sbuf j = SBUF_INIT;
    sbuf_puts(&j, "{\"categories\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 5, \"name\": \"b\"}],"
                  " \"images\": [");
    int sizes[][2] = {{640, 480}, {333, 517}, {1, 7}, {4000, 3}};
    for (int i = 0; i < 4; i++)
        sbuf_printf(&j, "%s{\"id\": %d, \"file_name\": \"i%d.jpg\", \"width\": %d, \"height\": %d}",
                    i ? "," : "", i + 1, i, sizes[i][0], sizes[i][1]);
    sbuf_puts(&j, "], \"annotations\": [");
    uint64_t s = 12345;
    int n = 0;
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 25; k++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            double W = sizes[i][0], H = sizes[i][1];
            double x = (double)(s % 1000) / 1000 * W / 2, y = (double)((s >> 10) % 1000) / 1000 * H / 2;
            double w = (double)((s >> 20) % 1000) / 1000 * (W - x);
            double h = (double)((s >> 30) % 1000) / 1000 * (H - y);
            sbuf_printf(&j, "%s{\"id\": %d, \"image_id\": %d, \"category_id\": %d, \"bbox\": ",
                        n ? "," : "", n + 1, i + 1, k % 2 ? 5 : 1);
            char b[4][40];
            double v[4] = {x, y, w, h};
            for (int q = 0; q < 4; q++)
                b[q][fmt_dbl_str(v[q], b[q])] = 0;
            sbuf_printf(&j, "[%s, %s, %s, %s]}", b[0], b[1], b[2], b[3]);
            n++;
        }
    sbuf_puts(&j, "]}");
    t_write(dir, "c.json", j.p);
    sbuf_free(&j);
    char path[300];
    snprintf(path, sizeof path, "%s/c.json", dir);
    tds a, b, c;
    tds_read_ok(FMT_COCO, path, NULL, &a);
    const char *y = t_tmpdir();
    err e;
    cr_assert_eq(tds_write(&a, FMT_YOLO, y, NULL, NULL, &e), 0, "%s", e.msg);
    for (int i = 0; i < 4; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "images/train/i%d.jpg", i);
        t_jpeg(y, rel, sizes[i][0], sizes[i][1]);
    }
    tds_read_ok(FMT_YOLO, y, NULL, &b);
    const char *c2 = t_tmpdir();
    cr_assert_eq(tds_write(&b, FMT_COCO, c2, NULL, NULL, &e), 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/annotations.json", c2);
    tds_read_ok(FMT_COCO, path, NULL, &c);
    assert_same(&a, &c, 1e-6);
    /* in fact far closer: the writer picks the normalised values that read
     * back exactly when there is one (a few ulps of the centre otherwise) */
    assert_same(&a, &c, 1e-12);
    tds_free(&a);
    tds_free(&b);
    tds_free(&c);
}
