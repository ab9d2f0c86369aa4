/*
 * Unit tests for src/formats, Pascal VOC, class folders and CSV: readers on
 * generated files with exact problem locations, the 1-based VOC corners,
 * attributes, refusals (DOCTYPE, bad XML), writers and round trips.
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

static const char *VOC_A =
    "<annotation>\n"
    "  <folder>VOC2012</folder>\n"
    "  <filename>2007_000027.jpg</filename>\n"
    "  <size><width>486</width><height>500</height><depth>3</depth></size>\n"
    "  <segmented>0</segmented>\n"
    "  <object>\n"
    "    <name>person</name><pose>Frontal</pose><truncated>1</truncated>\n"
    "    <difficult>0</difficult>\n"
    "    <bndbox><xmin>174</xmin><ymin>101</ymin><xmax>349</xmax><ymax>351</ymax></bndbox>\n"
    "    <part><name>head</name><bndbox><xmin>169</xmin><ymin>104</ymin><xmax>209</xmax>"
    "<ymax>146</ymax></bndbox></part>\n"
    "  </object>\n"
    "  <object>\n"
    "    <name>dog</name><pose>Unspecified</pose><difficult>1</difficult><occluded>1</occluded>\n"
    "    <bndbox><xmin>1</xmin><ymin>1</ymin><xmax>486</xmax><ymax>500</ymax></bndbox>\n"
    "  </object>\n"
    "</annotation>\n";

static const char *make_voc(void)
{
    const char *d = t_tmpdir();
    t_write(d, "Annotations/2007_000027.xml", VOC_A);
    t_write(d, "Annotations/2007_000032.xml",
            "<?xml version=\"1.0\"?><annotation><filename>2007_000032.jpg</filename>"
            "<size><width>500</width><height>281</height></size>"
            "<object><name>aeroplane</name><bndbox><xmin>104.5</xmin><ymin>78</ymin>"
            "<xmax>375</xmax><ymax>183</ymax></bndbox></object></annotation>");
    t_jpeg(d, "JPEGImages/2007_000027.jpg", 486, 500);
    t_write(d, "ImageSets/Main/train.txt", "2007_000027\n");
    t_write(d, "ImageSets/Main/val.txt", "2007_000032\n");
    return d;
}

Test(formats_voc, reads_objects_with_one_based_corners)
{
    const char *d = make_voc();
    tds ds;
    tds_read_ok(FMT_VOC, d, NULL, &ds);
    cr_assert_eq(ds.ncats, 3);
    cr_assert_str_eq(ds.cats[0].name, "aeroplane"); /* no labels.txt: byte order */
    cr_assert_str_eq(ds.cats[2].name, "person");
    cr_assert_eq(ds.cats[2].id, 2);
    cr_assert_eq(ds.nimgs, 2);
    cr_assert_str_eq(ds.imgs[0].file_name, "2007_000027.jpg");
    cr_assert_str_eq(ds.imgs[0].path, "JPEGImages/2007_000027.jpg");
    cr_assert_null(ds.imgs[1].path); /* no such image file */
    cr_assert_str_eq(ds.imgs[0].split, "train");
    cr_assert_str_eq(ds.imgs[1].split, "val");
    cr_assert_eq(ds.imgs[1].w, 500);
    cr_assert_eq(ds.nshapes, 3); /* the <part> is not an object */
    const fmt_shape *s = &ds.shapes[0].s;
    cr_assert_eq(s->kind, FMT_BOX);
    cr_assert_eq(s->category_id, 2);
    cr_assert_eq(s->bbox[0], 173);
    cr_assert_eq(s->bbox[1], 100);
    cr_assert_eq(s->bbox[2], 176);
    cr_assert_eq(s->bbox[3], 251);
    cr_assert_str_eq(s->attributes, "{\"truncated\":true,\"pose\":\"Frontal\"}");
    s = &ds.shapes[1].s; /* the whole image */
    cr_assert_eq(s->bbox[0], 0);
    cr_assert_eq(s->bbox[2], 486);
    cr_assert_eq(s->bbox[3], 500);
    cr_assert_str_eq(s->attributes, "{\"difficult\":true,\"occluded\":true}");
    cr_assert_eq(ds.shapes[2].s.bbox[0], 103.5);
    tds_free(&ds);
    fmt_read_opts o = {.split = "val"};
    tds_read_ok(FMT_VOC, d, &o, &ds);
    cr_assert_eq(ds.nimgs, 1);
    tds_free(&ds);
}

Test(formats_voc, problems_name_the_file)
{
    struct {
        const char *xml, *where, *msg;
    } cases[] = {
        {"<annotation><filename>a.jpg</filename", "Annotations/x.xml", "line 1, column 28: invalid XML"},
        {"<annotations/>", "Annotations/x.xml", "line 1: the root element is <annotations>"},
        {"<!DOCTYPE lolz [<!ENTITY lol \"lol\">]><annotation/>", "Annotations/x.xml", "a DOCTYPE is not allowed"},
        {"<annotation><filename>a.jpg</filename><size><width>ten</width></size></annotation>",
         "Annotations/x.xml", "line 1: <width> must be a whole number between 0 and 1000000, got 'ten'"},
        {"<annotation><filename>a.jpg</filename><size><width>10</width><height>10</height></size>"
         "<object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>x</xmax><ymax>5</ymax>"
         "</bndbox></object></annotation>",
         "Annotations/x.xml", "<xmax> must be a number, got 'x'"},
        {"<annotation><size><width>10</width><height>10</height></size></annotation>",
         "Annotations/x.xml", "no <filename>"},
        {"<annotation><filename>a.jpg</filename></annotation>", "Annotations/x.xml",
         "no <size> width and height"},
        {"<annotation><filename>a.jpg</filename><size><width>10</width><height>10</height></size>"
         "<object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>30</xmax><ymax>5</ymax>"
         "</bndbox></object></annotation>",
         "Annotations/x.xml: object 1", "'a': the box passes the border of the 10x10 image by 20 px"},
        {"<annotation><filename>a.jpg</filename><size><width>10</width><height>10</height></size>"
         "<object><name>a</name><bndbox><xmin>5</xmin><ymin>1</ymin><xmax>3</xmax><ymax>5</ymax>"
         "</bndbox></object></annotation>",
         "Annotations/x.xml: object 1", "xmax 3 < xmin 5"},
        {"<annotation><filename>a.jpg</filename><size><width>10</width><height>10</height></size>"
         "<object><name>a</name><bndbox><xmin>5</xmin><ymin>1</ymin></bndbox></object></annotation>",
         "Annotations/x.xml: object 1", "no complete <bndbox>"},
        {"<annotation><filename>a.jpg</filename><size><width>10</width><height>10</height></size>"
         "<object><bndbox><xmin>5</xmin></bndbox></object></annotation>",
         "Annotations/x.xml: object 1", "no <name>"},
        {"<annotation><filename>a.jpg</filename><size><width>10</width><height>10</height></size>"
         "<object><name>a</name><difficult>2</difficult></object></annotation>",
         "Annotations/x.xml", "<difficult> must be 0 or 1, got '2'"},
        /* numbers that are not numbers, or not sizes */
        {"<annotation><filename>a.jpg</filename><size><width>10</width><height>10</height></size>"
         "<object><name>a</name><bndbox><xmin>nan</xmin><ymin>1</ymin><xmax>3</xmax><ymax>5</ymax>"
         "</bndbox></object></annotation>",
         "Annotations/x.xml", "<xmin> must be a number, got 'nan'"},
        {"<annotation><filename>a.jpg</filename><size><width>10</width><height>10</height></size>"
         "<object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>inf</xmax><ymax>5</ymax>"
         "</bndbox></object></annotation>",
         "Annotations/x.xml", "<xmax> must be a number, got 'inf'"},
        {"<annotation><filename>a.jpg</filename><size><width>10</width><height>10</height></size>"
         "<object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>1e999</xmax><ymax>5</ymax>"
         "</bndbox></object></annotation>",
         "Annotations/x.xml", "<xmax> must be a number, got '1e999'"},
        {"<annotation><filename>a.jpg</filename><size><width>-5</width><height>10</height></size></annotation>",
         "Annotations/x.xml", "<width> must be a whole number between 0 and 1000000, got '-5'"},
        {"<annotation><filename>a.jpg</filename><size><width>10</width><height>2000000</height></size></annotation>",
         "Annotations/x.xml", "<height> must be a whole number between 0 and 1000000, got '2000000'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *d = t_tmpdir();
        t_write(d, "Annotations/x.xml", cases[i].xml);
        tds ds;
        fmt_report rep = {0};
        err e;
        cr_assert_eq(tds_read(FMT_VOC, d, NULL, &ds, &rep, &e), -1, "case %zu", i);
        t_has_problem(&rep, cases[i].where, cases[i].msg);
        fmt_report_free(&rep);
        tds_free(&ds);
    }
    /* labels.txt decides the categories */
    const char *d = make_voc();
    t_write(d, "labels.txt", "person\ndog\n");
    tds ds;
    fmt_report rep = {0};
    err e;
    fmt_read_opts o = {.keep_going = true};
    cr_assert_eq(tds_read(FMT_VOC, d, &o, &ds, &rep, &e), 0, "%s", e.msg);
    t_has_problem(&rep, "Annotations/2007_000032.xml: object 1", "'aeroplane' is not in labels.txt");
    cr_assert_eq(ds.ncats, 2);
    cr_assert_str_eq(ds.cats[0].name, "person");
    cr_assert_eq(ds.nshapes, 2);
    fmt_report_free(&rep);
    tds_free(&ds);
}

Test(formats_voc, round_trip_is_identical)
{
    const char *d = make_voc();
    tds a, b;
    tds_read_ok(FMT_VOC, d, NULL, &a);
    const char *out = t_tmpdir();
    err e;
    cr_assert_eq(tds_write(&a, FMT_VOC, out, NULL, NULL, &e), 0, "%s", e.msg);
    char *x = t_read(out, "Annotations/2007_000027.xml");
    cr_assert(strstr(x, "<xmin>174</xmin>\n\t\t\t<ymin>101</ymin>\n\t\t\t<xmax>349</xmax>"), "%s", x);
    cr_assert(strstr(x, "<pose>Frontal</pose>\n\t\t<truncated>1</truncated>"), "%s", x);
    cr_assert(strstr(x, "<occluded>1</occluded>"), "%s", x);
    free(x);
    char *l = t_read(out, "labels.txt");
    cr_assert_str_eq(l, "aeroplane\ndog\nperson\n");
    free(l);
    l = t_read(out, "ImageSets/Main/val.txt");
    cr_assert_str_eq(l, "2007_000032\n");
    free(l);
    tds_read_ok(FMT_VOC, out, NULL, &b);
    cr_assert_eq(b.ncats, a.ncats);
    cr_assert_eq(b.nimgs, a.nimgs);
    cr_assert_eq(b.nshapes, a.nshapes);
    for (int i = 0; i < a.nimgs; i++) {
        cr_assert_str_eq(b.imgs[i].file_name, a.imgs[i].file_name);
        cr_assert_str_eq(b.imgs[i].split, a.imgs[i].split);
        cr_assert_eq(b.imgs[i].w, a.imgs[i].w);
    }
    for (int i = 0; i < a.nshapes; i++) {
        for (int k = 0; k < 4; k++)
            cr_assert_eq(b.shapes[i].s.bbox[k], a.shapes[i].s.bbox[k]);
        cr_assert_eq(b.shapes[i].s.category_id, a.shapes[i].s.category_id);
        const char *ax = a.shapes[i].s.attributes, *bx = b.shapes[i].s.attributes;
        cr_assert((!ax && !bx) || (ax && bx && strcmp(ax, bx) == 0), "%s vs %s", ax, bx);
    }
    tds_free(&a);
    tds_free(&b);
}

Test(formats_cross, coco_to_voc_to_coco)
{
    const char *doc =
        "{\"categories\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 2, \"name\": \"b & c\"}],"
        " \"images\": [{\"id\": 1, \"file_name\": \"x/1.jpg\", \"width\": 100, \"height\": 80},"
        "  {\"id\": 2, \"file_name\": \"2.png\", \"width\": 10, \"height\": 10}],"
        " \"annotations\": ["
        "  {\"id\": 1, \"image_id\": 1, \"category_id\": 2, \"bbox\": [0, 0, 100, 80],"
        "   \"attributes\": {\"difficult\": true}},"
        "  {\"id\": 2, \"image_id\": 1, \"category_id\": 1, \"bbox\": [10.5, 20.25, 30, 40.5]},"
        "  {\"id\": 3, \"image_id\": 1, \"category_id\": 1,"
        "   \"segmentation\": [[10, 10, 20, 10, 15, 30]]}]}";
    const char *d = t_tmpdir();
    t_write(d, "c.json", doc);
    char path[300];
    snprintf(path, sizeof path, "%s/c.json", d);
    tds a, b, c;
    tds_read_ok(FMT_COCO, path, NULL, &a);
    const char *v = t_tmpdir();
    err e;
    cr_assert_eq(tds_write(&a, FMT_VOC, v, NULL, NULL, &e), 0, "%s", e.msg);
    tds_read_ok(FMT_VOC, v, NULL, &b);
    cr_assert_eq(b.nshapes, 3);
    cr_assert_str_eq(b.imgs[1].file_name, "x/1.jpg"); /* XML paths in byte order */
    cr_assert_str_eq(b.cats[1].name, "b & c");
    /* the polygon became its box */
    cr_assert_eq(b.shapes[2].s.kind, FMT_BOX);
    cr_assert_eq(b.shapes[2].s.bbox[3], 20);
    const char *c2 = t_tmpdir();
    cr_assert_eq(tds_write(&b, FMT_COCO, c2, NULL, NULL, &e), 0, "%s", e.msg);
    snprintf(path, sizeof path, "%s/annotations.json", c2);
    tds_read_ok(FMT_COCO, path, NULL, &c);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++)
            cr_assert_eq(c.shapes[i].s.bbox[k], a.shapes[i].s.bbox[k]);
    cr_assert_str_eq(c.shapes[0].s.attributes, "{\"difficult\":true}");
    tds_free(&a);
    tds_free(&b);
    tds_free(&c);
}

/* --- class folders and CSV --------------------------------------------------------------- */

Test(formats_folder, reads_and_round_trips)
{
    const char *d = t_tmpdir();
    t_jpeg(d, "zebra/z1.jpg", 20, 10);
    t_jpeg(d, "ant/nested/a1.jpg", 21, 11);
    t_jpeg(d, "ant/a2.PNG.jpg", 22, 12);
    t_write(d, "ant/notes.txt", "x");
    tds a, b;
    tds_read_ok(FMT_FOLDER, d, NULL, &a);
    cr_assert_eq(a.ncats, 2);
    cr_assert_str_eq(a.cats[0].name, "ant");
    cr_assert_eq(a.cats[0].id, 0);
    cr_assert_eq(a.nimgs, 3);
    cr_assert_str_eq(a.imgs[0].file_name, "ant/a2.PNG.jpg");
    cr_assert_str_eq(a.imgs[1].file_name, "ant/nested/a1.jpg");
    cr_assert_eq(a.imgs[1].w, 21);
    cr_assert_eq(a.nshapes, 3);
    cr_assert_eq(a.shapes[2].s.category_id, 1);
    const char *out = t_tmpdir();
    err e;
    fmt_writer *w = fmt_writer_open(FMT_FOLDER, out, NULL, &e);
    for (int i = 0; i < a.ncats; i++) {
        fmt_category c = {a.cats[i].id, a.cats[i].name, NULL, NULL, 0, NULL, 0};
        cr_assert_eq(fmt_write_category(w, &c, &e), 0);
    }
    for (int i = 0; i < a.nimgs; i++) {
        fmt_image im = {a.imgs[i].id, a.imgs[i].file_name, a.imgs[i].w, a.imgs[i].h, NULL, NULL};
        cr_assert_eq(fmt_write_image(w, &im, &e), 0);
    }
    fmt_image extra = {99, "none.jpg", 5, 5, NULL, NULL};
    cr_assert_eq(fmt_write_image(w, &extra, &e), 0);
    for (int i = 0; i < a.nshapes; i++)
        cr_assert_eq(fmt_write_shape(w, &a.shapes[i].s, &e), 0);
    for (int i = 0; i < a.nimgs; i++) {
        fmt_image im = {a.imgs[i].id, a.imgs[i].file_name, 0, 0, NULL, NULL};
        t_jpeg(out, fmt_writer_image_path(w, &im), a.imgs[i].w, a.imgs[i].h);
    }
    cr_assert_null(fmt_writer_image_path(w, &extra)); /* no class: not exported */
    fmt_image im1 = {a.imgs[1].id, NULL, 0, 0, NULL, NULL};
    cr_assert_str_eq(fmt_writer_image_path(w, &im1), "ant/a1.jpg");
    cr_assert_eq(fmt_writer_close(w, &e), 0);
    tds_read_ok(FMT_FOLDER, out, NULL, &b);
    cr_assert_eq(b.nimgs, 3);
    cr_assert_eq(b.ncats, 2);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(b.shapes[i].s.category_id, a.shapes[i].s.category_id);
    tds_free(&a);
    tds_free(&b);
    /* an image outside the class folders */
    t_jpeg(d, "loose.jpg", 5, 5);
    fmt_report rep = {0};
    cr_assert_eq(tds_read(FMT_FOLDER, d, NULL, &a, &rep, &e), -1);
    t_has_problem(&rep, "loose.jpg", "image outside a class folder");
    fmt_report_free(&rep);
    tds_free(&a);
}

Test(formats_csv, reads_quoting_headers_multilabel)
{
    const char *d = t_tmpdir();
    t_jpeg(d, "img/1.jpg", 5, 5);
    t_write(d, "l.csv", "\xEF\xBB\xBF" "filename,label\r\n"
                        "img/1.jpg,cat\r\n"
                        "\"b,2.jpg\",\"say \"\"hi\"\"\"\n"
                        "img/1.jpg,dog\n"
                        "\n"
                        "c.jpg,\n"
                        "img/1.jpg,cat\n");
    char path[300];
    snprintf(path, sizeof path, "%s/l.csv", d);
    tds a;
    fmt_report rep = {0};
    err e;
    cr_assert_eq(tds_read(FMT_CSV, path, NULL, &a, &rep, &e), 0, "%s", e.msg);
    cr_assert_eq(rep.total, 0);
    t_has_problem(&rep, "l.csv:7", "'img/1.jpg' is labelled 'cat' twice");
    cr_assert_eq(a.ncats, 3);
    cr_assert_str_eq(a.cats[0].name, "cat");
    cr_assert_str_eq(a.cats[2].name, "say \"hi\"");
    cr_assert_eq(a.nimgs, 3);
    cr_assert_str_eq(a.imgs[1].file_name, "b,2.jpg");
    cr_assert_str_eq(a.imgs[0].path, "img/1.jpg");
    cr_assert_null(a.imgs[1].path);
    cr_assert_eq(a.nshapes, 3); /* cat + dog on 1.jpg, say "hi" on b,2.jpg */
    cr_assert_eq(a.shapes[0].s.image_id, 1);
    cr_assert_eq(a.shapes[1].s.image_id, 1);
    cr_assert_eq(a.shapes[1].s.category_id, 1);
    fmt_report_free(&rep);
    /* round trip */
    const char *out = t_tmpdir();
    cr_assert_eq(tds_write(&a, FMT_CSV, out, NULL, NULL, &e), 0, "%s", e.msg);
    char *t = t_read(out, "labels.csv");
    cr_assert_str_eq(t, "filename,label\nimg/1.jpg,cat\nimg/1.jpg,dog\n\"b,2.jpg\",\"say \"\"hi\"\"\"\n"
                        "c.jpg,\n");
    free(t);
    tds b;
    snprintf(path, sizeof path, "%s/labels.csv", out);
    tds_read_ok(FMT_CSV, path, NULL, &b);
    cr_assert_eq(b.nimgs, 3);
    cr_assert_eq(b.nshapes, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_str_eq(b.imgs[i].file_name, a.imgs[i].file_name);
        cr_assert_eq(b.shapes[i].s.category_id, a.shapes[i].s.category_id);
    }
    tds_free(&a);
    tds_free(&b);
    /* errors with their line */
    struct {
        const char *csv, *where, *msg;
    } bad[] = {
        {"a.jpg,x\nb.jpg\n", "l.csv:2", "expected 2 columns, got 1"},
        {"a.jpg,\"x\n", "l.csv:1", "a quoted field is not closed"},
        {"a.jpg,x,y,z\n", "l.csv:1", "expected 2 columns (filename,label), got 4"},
        {"filename,label,other\n", "l.csv:1", "the third column must be 'split'"},
        {",x\n", "l.csv:1", "empty or overlong file name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        t_write(d, "l.csv", bad[i].csv);
        snprintf(path, sizeof path, "%s/l.csv", d);
        cr_assert_eq(tds_read(FMT_CSV, path, NULL, &a, &rep, &e), -1, "case %zu", i);
        t_has_problem(&rep, bad[i].where, bad[i].msg);
        fmt_report_free(&rep);
        tds_free(&a);
    }
}
