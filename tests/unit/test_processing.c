/*
 * Unit tests for src/processing without a server: the line protocol,
 * shapes moved by affine maps and clipped, pixel operations, parameter and
 * manifest checks, worker labels, and the command executor (exit codes,
 * signals, timeout and grace, stop, memory limit, output lines, the clean
 * environment, nothing of the process group left).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "image_gen.h"
#include "testutil.h"
#include "processing/internal.h"

/* --- the line protocol ------------------------------------------------------------ */

Test(proto, lines)
{
    proto_msg m;
    proto_parse("plain text", &m);
    cr_assert_eq(m.kind, PROTO_TEXT);
    cr_assert_str_eq(m.text, "plain text");
    proto_parse("::log  hello world", &m);
    cr_assert_eq(m.kind, PROTO_LOG);
    cr_assert_str_eq(m.text, "hello world");
    proto_parse("::progress 0.25 a quarter", &m);
    cr_assert_eq(m.kind, PROTO_PROGRESS);
    cr_assert_float_eq(m.progress, 0.25, 1e-12);
    cr_assert_str_eq(m.text, "a quarter");
    proto_parse("::progress 40%", &m);
    cr_assert_eq(m.kind, PROTO_PROGRESS);
    cr_assert_float_eq(m.progress, 0.4, 1e-12);
    cr_assert_str_eq(m.text, "");
    const char *bad[] = {"::progress", "::progress 1.5", "::progress x", "::progress -0.1",
                         "::output", "::output {nope", "::result [1]", "::frobnicate", "::output data"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        proto_parse(bad[i], &m);
        cr_assert_eq(m.kind, PROTO_BAD, "%s", bad[i]);
        cr_assert_gt(strlen(m.error), 10);
        proto_msg_free(&m);
    }
    proto_parse("::output {\"type\":\"data\",\"local\":\"a.png\"}", &m);
    cr_assert_eq(m.kind, PROTO_OUTPUT);
    cr_assert_str_eq(json_string_value(json_object_get(m.doc, "local")), "a.png");
    proto_msg_free(&m);
    proto_parse("::output data out/b.jpg cat  dog", &m);
    cr_assert_eq(m.kind, PROTO_OUTPUT);
    cr_assert_str_eq(json_string_value(json_object_get(m.doc, "type")), "data");
    cr_assert_str_eq(json_string_value(json_object_get(m.doc, "local")), "out/b.jpg");
    cr_assert_eq(json_array_size(json_object_get(m.doc, "tags")), 2);
    proto_msg_free(&m);
    proto_parse("::result {\"acc\": 0.9}", &m);
    cr_assert_eq(m.kind, PROTO_RESULT);
    proto_msg_free(&m);
    proto_parse(":: not a command", &m);
    cr_assert_eq(m.kind, PROTO_BAD);
    proto_parse("::logger x", &m);
    cr_assert_eq(m.kind, PROTO_BAD, "a command is a whole word");
}

/* --- geometry ------------------------------------------------------------------------- */

static json_t *shape(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    cr_assert_not_null(j, "%s", je.text);
    return j;
}

static double num(json_t *a, size_t i) { return json_number_value(json_array_get(a, i)); }

Test(geom, affine_algebra)
{
    geom_affine m = geom_mul(geom_rotate_about(30, 10, 20), geom_translate(5, -3));
    geom_affine inv;
    cr_assert_eq(geom_invert(m, &inv), 0);
    double x, y, bx, by;
    geom_apply(m, 7, 9, &x, &y);
    geom_apply(inv, x, y, &bx, &by);
    cr_assert_float_eq(bx, 7, 1e-9);
    cr_assert_float_eq(by, 9, 1e-9);
    geom_apply(geom_rotate_about(90, 0, 0), 1, 0, &x, &y);
    cr_assert_float_eq(x, 0, 1e-12);
    cr_assert_float_eq(y, 1, 1e-12);
    cr_assert_neq(geom_invert(geom_scale(0, 1), &inv), 0);
}

Test(geom, boxes_follow_flips_and_rotations)
{
    geom_stats st = {0};
    json_t *b = shape("{\"id\":3,\"kind\":\"box\",\"label\":\"cat\",\"label_id\":9,\"box\":[10,20,30,40],"
                      "\"score\":0.5,\"attributes\":{\"a\":1}}");
    /* a left-right flip of a 100-wide image */
    json_t *o = geom_shape_map(b, (geom_affine){-1, 0, 100, 0, 1, 0}, 100, 80, 0.3, &st);
    json_t *box = json_object_get(o, "box");
    cr_assert_float_eq(num(box, 0), 60, 1e-9);
    cr_assert_float_eq(num(box, 1), 20, 1e-9);
    cr_assert_float_eq(num(box, 2), 30, 1e-9);
    cr_assert_null(json_object_get(o, "id"), "ids are the server's");
    cr_assert_null(json_object_get(o, "label_id"));
    cr_assert_str_eq(json_string_value(json_object_get(o, "label")), "cat");
    cr_assert_float_eq(json_number_value(json_object_get(o, "score")), 0.5, 1e-12);
    cr_assert_not_null(json_object_get(o, "attributes"));
    json_decref(o);
    /* 90 degrees about the centre of a 100x100 image, (x, y) -> (100 - y, x):
     * corners (10,20) (40,60) go to (80,10) (40,40) */
    o = geom_shape_map(b, geom_rotate_about(90, 50, 50), 100, 100, 0.3, &st);
    box = json_object_get(o, "box");
    cr_assert_float_eq(num(box, 0), 40, 1e-9);
    cr_assert_float_eq(num(box, 1), 10, 1e-9);
    cr_assert_float_eq(num(box, 2), 40, 1e-9);
    cr_assert_float_eq(num(box, 3), 30, 1e-9);
    json_decref(o);
    /* 45 degrees: the enclosing box of the rotated one */
    o = geom_shape_map(b, geom_rotate_about(45, 25, 40), 200, 200, 0.3, &st);
    box = json_object_get(o, "box");
    double s = (30 + 40) / sqrt(2);
    cr_assert_float_eq(num(box, 2), s, 1e-3);
    cr_assert_float_eq(num(box, 3), s, 1e-3);
    json_decref(o);
    /* mostly outside: dropped under min_visibility, clipped above it */
    cr_assert_null(geom_shape_map(b, geom_translate(-35, 0), 100, 100, 0.3, &st));
    o = geom_shape_map(b, geom_translate(-25, 0), 100, 100, 0.3, &st);
    box = json_object_get(o, "box");
    cr_assert_float_eq(num(box, 0), 0, 1e-9);
    cr_assert_float_eq(num(box, 2), 15, 1e-9);
    json_decref(o);
    cr_assert_eq(st.dropped, 1);
    json_decref(b);
}

Test(geom, polygons_lines_points_keypoints_masks)
{
    geom_stats st = {0};
    /* a square half outside on the left: clipped to the image edge */
    json_t *p = shape("{\"kind\":\"polygon\",\"label\":\"x\",\"rings\":[[-10,10,10,10,10,30,-10,30]]}");
    json_t *o = geom_shape_map(p, geom_identity(), 100, 100, 0.3, &st);
    json_t *ring = json_array_get(json_object_get(o, "rings"), 0);
    double pts[64];
    int n = (int)json_array_size(ring) / 2;
    for (int i = 0; i < 2 * n; i++)
        pts[i] = num(ring, (size_t)i);
    cr_assert_float_eq(geom_polygon_area(pts, n), 200, 1e-9);
    for (int i = 0; i < n; i++)
        cr_assert_geq(pts[2 * i], 0);
    json_decref(o);
    cr_assert_null(geom_shape_map(p, geom_identity(), 100, 100, 0.6, &st), "half is below 0.6");
    json_decref(p);
    /* "points" (one ring) is accepted too */
    p = shape("{\"kind\":\"polygon\",\"label\":\"x\",\"points\":[0,0,10,0,0,10]}");
    o = geom_shape_map(p, geom_scale(2, 2), 100, 100, 0.3, &st);
    cr_assert_float_eq(num(json_array_get(json_object_get(o, "rings"), 0), 2), 20, 1e-9);
    json_decref(o);
    json_decref(p);
    /* a polyline crossing out and back: the longest piece inside */
    p = shape("{\"kind\":\"polyline\",\"label\":\"x\",\"points\":[10,10,50,10,50,-40,90,-40,90,5]}");
    o = geom_shape_map(p, geom_identity(), 100, 100, 0, &st);
    json_t *pl = json_object_get(o, "points");
    cr_assert_eq(json_array_size(pl), 6, "10,10 50,10 50,0");
    cr_assert_float_eq(num(pl, 5), 0, 1e-9);
    json_decref(o);
    json_decref(p);
    p = shape("{\"kind\":\"point\",\"label\":\"x\",\"point\":[5,5]}");
    cr_assert_null(geom_shape_map(p, geom_translate(-10, 0), 100, 100, 0, &st));
    o = geom_shape_map(p, geom_translate(10, 0), 100, 100, 0, &st);
    cr_assert_float_eq(num(json_object_get(o, "point"), 0), 15, 1e-9);
    json_decref(o);
    json_decref(p);
    p = shape("{\"kind\":\"keypoints\",\"label\":\"x\",\"keypoints\":[5,5,2,50,50,1,0,0,0]}");
    o = geom_shape_map(p, geom_translate(-20, -20), 100, 100, 0, &st);
    json_t *kp = json_object_get(o, "keypoints");
    cr_assert_float_eq(num(kp, 2), 0, 1e-9, "outside: not labelled");
    cr_assert_float_eq(num(kp, 3), 30, 1e-9);
    cr_assert_float_eq(num(kp, 5), 1, 1e-9);
    json_decref(o);
    json_decref(p);
    p = shape("{\"kind\":\"mask\",\"label\":\"x\",\"rle\":{\"size\":[2,2],\"counts\":[4]}}");
    st = (geom_stats){0};
    cr_assert_null(geom_shape_map(p, geom_identity(), 2, 2, 0, &st));
    cr_assert_eq(st.masks_dropped, 1);
    json_decref(p);
    p = shape("{\"kind\":\"class\",\"label\":\"cat\",\"text\":\"t\"}");
    o = geom_shape_map(p, geom_rotate_about(33, 1, 1), 10, 10, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(o, "label")), "cat");
    json_decref(o);
    json_decref(p);
}

/* --- pixels -------------------------------------------------------------------------------- */

Test(pixels, warp_crop_resize_and_encode)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0);
    image_pixels src;
    cr_assert_eq(pix_alloc(&src, 8, 6, &e), 0);
    for (uint32_t i = 0; i < 8 * 6 * 3; i++)
        src.data[i] = (uint8_t)(i * 7);
    image_pixels out;
    const uint8_t fill[3] = {1, 2, 3};
    cr_assert_eq(pix_warp(&src, geom_identity(), 8, 6, fill, &out, &e), 0);
    cr_assert_eq(memcmp(out.data, src.data, 8 * 6 * 3), 0, "identity is exact");
    image_pixels_free(&out);
    /* a flip: pixel (0, y) of the output is pixel (7, y) of the input */
    cr_assert_eq(pix_warp(&src, (geom_affine){-1, 0, 8, 0, 1, 0}, 8, 6, fill, &out, &e), 0);
    cr_assert_eq(memcmp(out.data + 3 * out.stride, src.data + 3 * src.stride + 7 * 3, 3), 0);
    image_pixels_free(&out);
    /* outside is filled */
    cr_assert_eq(pix_warp(&src, geom_translate(100, 0), 8, 6, fill, &out, &e), 0);
    cr_assert_eq(memcmp(out.data, fill, 3), 0);
    image_pixels_free(&out);
    cr_assert_eq(pix_crop(&src, 2, 1, 3, 2, &out, &e), 0);
    cr_assert_eq(memcmp(out.data, src.data + src.stride + 6, 9), 0);
    image_pixels_free(&out);
    /* halving averages 2x2 blocks */
    cr_assert_eq(pix_resize(&src, 4, 3, &out, &e), 0);
    int want = (src.data[0] + src.data[3] + src.data[src.stride] + src.data[src.stride + 3] + 2) / 4;
    cr_assert_leq(abs(out.data[0] - want), 1);
    image_pixels_free(&out);
    for (int f = 0; f < 3; f++) {
        const char *fmt = f == 0 ? "png" : f == 1 ? "jpeg" : "webp";
        uint8_t *enc;
        size_t len;
        cr_assert_eq(pix_encode(&src, fmt, 95, &enc, &len, &e), 0, "%s: %s", fmt, e.msg);
        image_info info;
        cr_assert_eq(image_probe(enc, len, &info, &e), 0);
        cr_assert_str_eq(image_format_name(info.format), fmt);
        cr_assert_eq(info.width, 8);
        if (f == 0) {
            image_pixels back;
            cr_assert_eq(image_decode(enc, len, NULL, &back, &e), 0);
            for (uint32_t y = 0; y < 6; y++)
                cr_assert_eq(memcmp(back.data + y * back.stride, src.data + y * src.stride, 24), 0,
                             "png is lossless");
            image_pixels_free(&back);
        }
        free(enc);
    }
    uint8_t *none;
    size_t nlen;
    cr_assert_neq(pix_encode(&src, "gif", 90, &none, &nlen, &e), 0);
    /* colour factors of 1 change nothing; blur keeps a flat image flat */
    image_pixels flat;
    cr_assert_eq(pix_alloc(&flat, 9, 9, &e), 0);
    memset(flat.data, 77, 9 * 9 * 3);
    pix_color(&flat, 1, 1, 1);
    cr_assert_eq(pix_blur(&flat, 1.5, &e), 0);
    for (int i = 0; i < 9 * 9 * 3; i++)
        cr_assert_eq(flat.data[i], 77);
    image_pixels_free(&flat);
    image_pixels_free(&src);
}

/* --- parameters and manifests ------------------------------------------------------------------- */

static json_t *defs(void)
{
    return shape("[{\"name\":\"n\",\"type\":\"integer\",\"default\":3,\"min\":1,\"max\":9},"
                 "{\"name\":\"x\",\"type\":\"number\",\"min\":0,\"max\":1},"
                 "{\"name\":\"on\",\"type\":\"boolean\",\"default\":false},"
                 "{\"name\":\"mode\",\"type\":\"enum\",\"values\":[\"a\",\"b\"],\"default\":\"a\"},"
                 "{\"name\":\"tags\",\"type\":\"string_list\"},"
                 "{\"name\":\"cfg\",\"type\":\"object\"},"
                 "{\"name\":\"who\",\"type\":\"string\",\"max_length\":4,\"required\":true}]");
}

static void params_fail(const char *given, const char *needle)
{
    json_t *d = defs(), *g = shape(given), *out = NULL;
    err e;
    cr_assert_neq(proc_params_check(d, g, &out, &e), 0, "%s should fail", given);
    cr_assert_not_null(strstr(e.msg, needle), "%s: %s", given, e.msg);
    json_decref(d);
    json_decref(g);
}

Test(params, types_defaults_bounds)
{
    json_t *d = defs(), *out;
    err e;
    json_t *g = shape("{\"who\":\"me\",\"x\":\"0.5\",\"on\":\"yes\",\"tags\":\"a,b,,c\",\"cfg\":\"{\\\"k\\\":1}\"}");
    cr_assert_eq(proc_params_check(d, g, &out, &e), 0, "%s", e.msg);
    cr_assert_eq(json_integer_value(json_object_get(out, "n")), 3, "default");
    cr_assert_float_eq(json_number_value(json_object_get(out, "x")), 0.5, 1e-12, "text to number");
    cr_assert(json_is_true(json_object_get(out, "on")));
    cr_assert_str_eq(json_string_value(json_object_get(out, "mode")), "a");
    cr_assert_eq(json_array_size(json_object_get(out, "tags")), 3);
    cr_assert(json_is_object(json_object_get(out, "cfg")));
    json_decref(out);
    json_decref(g);
    json_decref(d);
    params_fail("{}", "'who' is required");
    params_fail("{\"who\":\"me\",\"n\":10}", "between 1 and 9");
    params_fail("{\"who\":\"me\",\"n\":1.5}", "whole number");
    params_fail("{\"who\":\"me\",\"x\":\"abc\"}", "must be a number");
    params_fail("{\"who\":\"me\",\"on\":\"maybe\"}", "true or false");
    params_fail("{\"who\":\"me\",\"mode\":\"c\"}", "one of a, b");
    params_fail("{\"who\":\"toolong\"}", "at most 4 bytes");
    params_fail("{\"who\":\"me\",\"cfg\":[1]}", "JSON object");
    params_fail("{\"who\":\"me\",\"extra\":1}", "unknown parameter 'extra'");
}

Test(params, manifests)
{
    proc_def d;
    err e;
    json_t *m = shape("{\"name\":\"ok-1.x\",\"target\":\"datalake\",\"command\":[\"run\"],"
                      "\"requires\":\"gpu, mem=8G\",\"resources\":{\"memory_mb\":100}}");
    cr_assert_eq(proc_manifest_parse(m, false, &d, &e), 0, "%s", e.msg);
    cr_assert_str_eq(d.requires, "gpu, mem=8G");
    cr_assert_eq(d.res.memory_mb, 100);
    cr_assert_eq(d.res.timeout_s, 3600, "defaults");
    cr_assert_eq(d.res.kill_grace_s, 5);
    proc_def_free(&d);
    json_decref(m);
    for (const proc_builtin *b = proc_builtins; b->name; b++) {
        json_t *doc = NULL;
        char *t = strdup(b->manifest);
        for (char *p = t; *p; p++)
            if (*p == '\'')
                *p = '"';
        doc = json_loads(t, 0, NULL);
        free(t);
        cr_assert_not_null(doc, "built-in %s: its manifest is not JSON", b->name);
        cr_assert_eq(proc_manifest_parse(doc, true, &d, &e), 0, "built-in %s: %s", b->name, e.msg);
        cr_assert_str_eq(d.name, b->name);
        proc_def_free(&d);
        json_decref(doc);
    }
}

/* --- worker labels ---------------------------------------------------------------------------------- */

Test(labels, parse_and_satisfy)
{
    jobs_label have[8], req[8];
    int nh, nr;
    err e;
    cr_assert_eq(jobs_labels_parse("gpu, docker,mem=16G,os=linux", have, 8, &nh, &e), 0, "%s", e.msg);
    cr_assert_eq(nh, 4);
    cr_assert(have[2].has_num);
    cr_assert_float_eq(have[2].num, 16.0 * 1024 * 1024 * 1024, 1);
    cr_assert_str_eq(have[3].text, "linux");
    struct {
        const char *req;
        bool ok;
    } cases[] = {{"", true},           {"gpu", true},          {"gpu,docker", true},
                 {"mem=8G", true},     {"mem=16G", true},      {"mem=17G", false},
                 {"os=linux", true},   {"os=windows", false},  {"tpu", false},
                 {"gpu=1", false},     {"os", true},           {"mem=1024M", true}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cr_assert_eq(jobs_labels_parse(cases[i].req, req, 8, &nr, &e), 0);
        cr_assert_eq(jobs_labels_satisfy(have, nh, req, nr), cases[i].ok, "%s", cases[i].req);
    }
    const char *bad[] = {"GPU", "gpu,gpu", "a=", "=1", "x=has space", "9lives", "mem=\"1\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_neq(jobs_labels_parse(bad[i], req, 8, &nr, &e), 0, "%s", bad[i]);
}

/* --- the executor ------------------------------------------------------------------------------------- */

typedef struct collect {
    sbuf out, err;
    int lines;
    int stop_after_ticks, ticks;
} collect;

static void on_line(void *ctx, bool out, const char *line, size_t n)
{
    collect *c = ctx;
    sbuf *b = out ? &c->out : &c->err;
    sbuf_put(b, line, n);
    sbuf_putc(b, '\n');
    c->lines++;
}

static bool on_stop(void *ctx)
{
    collect *c = ctx;
    return c->stop_after_ticks && ++c->ticks >= c->stop_after_ticks;
}

static int sh(const char *script, int64_t timeout_ms, int64_t mem, collect *c, proc_exec_result *res,
              err *e)
{
    char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", "ONLY=this", NULL};
    proc_exec_opts o = {.argv = argv, .envp = envp, .workdir = test_tmpdir(), .timeout_ms = timeout_ms,
                        .memory_bytes = mem, .kill_grace_ms = 300, .tick_ms = 50};
    proc_exec_cb cb = {.ctx = c, .line = on_line, .should_stop = on_stop};
    return proc_exec(&o, &cb, res, e);
}

Test(exec, exit_codes_lines_and_environment)
{
    collect c = {0};
    proc_exec_result r;
    err e;
    cr_assert_eq(sh("echo one; echo two >&2; printf 'no newline'; env | sort; exit 7", 0, 0, &c, &r, &e), 0);
    cr_assert_eq(r.exit_code, 7);
    cr_assert_eq(r.signal, 0);
    sbuf_putc(&c.out, 0);
    sbuf_putc(&c.err, 0);
    cr_assert_not_null(strstr(c.out.p, "one\n"));
    cr_assert_not_null(strstr(c.out.p, "no newline"));
    cr_assert_str_eq(c.err.p, "two\n");
    cr_assert_not_null(strstr(c.out.p, "ONLY=this"));
    cr_assert_null(strstr(c.out.p, "HOME="), "only the given environment: %s", c.out.p);
    sbuf_free(&c.out);
    sbuf_free(&c.err);
    /* a long line comes in pieces of the log's line size */
    collect d = {0};
    cr_assert_eq(sh("head -c 10000 /dev/zero | tr '\\0' x; echo", 0, 0, &d, &r, &e), 0);
    cr_assert_eq(d.lines, 3, "10000 bytes -> 4000 + 4000 + 2000");
    sbuf_free(&d.out);
    sbuf_free(&d.err);
    /* a signal */
    collect s = {0};
    cr_assert_eq(sh("kill -SEGV $$", 0, 0, &s, &r, &e), 0);
    cr_assert_eq(r.signal, SIGSEGV);
    /* cannot start */
    char *argv[] = {"definitely-not-a-program", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    proc_exec_opts o = {.argv = argv, .envp = envp, .workdir = test_tmpdir()};
    proc_exec_cb cb = {0};
    cr_assert_neq(proc_exec(&o, &cb, &r, &e), 0);
    cr_assert_not_null(strstr(e.msg, "not found in PATH"), "%s", e.msg);
    o.workdir = "/nonexistent/dir";
    argv[0] = "/bin/true";
    cr_assert_neq(proc_exec(&o, &cb, &r, &e), 0);
    cr_assert_not_null(strstr(e.msg, "No such file"), "%s", e.msg);
}

static bool gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && (p[2] == 'Z' || p[2] == 'X');
}

Test(exec, timeout_grace_and_the_whole_group)
{
    collect c = {0};
    proc_exec_result r;
    err e;
    int64_t t0 = time_mono_ns();
    cr_assert_eq(sh("sleep 30 & echo $!; sleep 30", 300, 0, &c, &r, &e), 0);
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    cr_assert(r.timed_out);
    cr_assert(!r.killed, "sleep stops on SIGTERM");
    cr_assert_eq(r.signal, SIGTERM);
    cr_assert_lt(secs, 3);
    sbuf_putc(&c.out, 0);
    pid_t bg = atoi(c.out.p);
    cr_assert_gt(bg, 0);
    for (int i = 0; i < 50 && !gone(bg); i++)
        usleep(20000);
    cr_assert(gone(bg), "the background child %d survived", (int)bg);
    sbuf_free(&c.out);
    /* ignoring SIGTERM: SIGKILL after the grace */
    collect d = {0};
    cr_assert_eq(sh("trap '' TERM; sleep 30", 200, 0, &d, &r, &e), 0);
    cr_assert(r.timed_out);
    cr_assert(r.killed);
    cr_assert_eq(r.signal, SIGKILL);
    /* the main process exits, its child lingers: ended at once */
    collect g = {0};
    t0 = time_mono_ns();
    cr_assert_eq(sh("sleep 30 & echo $!; exit 0", 0, 0, &g, &r, &e), 0);
    cr_assert_eq(r.exit_code, 0);
    cr_assert_lt((double)(time_mono_ns() - t0) / 1e9, 3, "a lingering child must not hold us");
    sbuf_putc(&g.out, 0);
    pid_t lingering = atoi(g.out.p);
    for (int i = 0; i < 50 && !gone(lingering); i++)
        usleep(20000);
    cr_assert(gone(lingering));
    sbuf_free(&g.out);
}

Test(exec, stop_and_memory)
{
    collect c = {.stop_after_ticks = 3};
    proc_exec_result r;
    err e;
    cr_assert_eq(sh("echo started; sleep 30", 0, 0, &c, &r, &e), 0);
    cr_assert(r.stopped);
    cr_assert(!r.timed_out);
    sbuf_free(&c.out);
    collect m = {0};
    /* 64 MB of address space cannot hold a 200 MB allocation */
    cr_assert_eq(sh("exec python3 -c 'b = bytearray(200 << 20)'", 0, 64 << 20, &m, &r, &e), 0);
    cr_assert_neq(r.exit_code, 0);
    sbuf_putc(&m.err, 0);
    cr_assert(m.err.p && (strstr(m.err.p, "MemoryError") || strstr(m.err.p, "memory")), "%s", m.err.p);
    sbuf_free(&m.err);
}
