/*
 * Unit tests for src/eval/rle: encoding, the compressed string form,
 * polygon rasterisation, merge, area, bbox, IoU, and malformed strings.
 * Expected values are worked out by hand in the comments.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/rle.h"

static void assert_counts(const rle *r, const uint32_t *want, size_t n)
{
    cr_assert_eq(r->m, n, "got %zu counts, want %zu", r->m, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(r->cnts[i], want[i], "count %zu: got %u, want %u", i, r->cnts[i], want[i]);
}

Test(eval_rle, encode_is_column_major_starting_with_zeros)
{
    /* 3x3 mask, rows top to bottom:
     *   0 1 0
     *   1 1 0
     *   1 0 0
     * column-major: col0 = 0,1,1  col1 = 1,1,0  col2 = 0,0,0
     * flat: 0 1 1 1 1 0 0 0 0 -> runs: one 0, four 1, four 0 = [1, 4, 4] */
    uint8_t colmajor[9] = {0, 1, 1, 1, 1, 0, 0, 0, 0};
    rle r = RLE_INIT;
    err e;
    cr_assert_eq(rle_from_mask(&r, colmajor, 3, 3, &e), 0);
    assert_counts(&r, (uint32_t[]){1, 4, 4}, 3);
    cr_assert_eq(rle_area(&r), 4);
    /* a mask starting with foreground gets an empty leading zero run */
    uint8_t ones[4] = {1, 1, 0, 1};
    rle r2 = RLE_INIT;
    cr_assert_eq(rle_from_mask(&r2, ones, 2, 2, &e), 0);
    assert_counts(&r2, (uint32_t[]){0, 2, 1, 1}, 4);
    uint8_t back[4];
    rle_to_mask(&r2, back);
    cr_assert_arr_eq(back, ones, 4);
    rle_free(&r);
    rle_free(&r2);
}

Test(eval_rle, random_masks_round_trip_through_counts_and_strings)
{
    srand(7);
    err e;
    for (int it = 0; it < 200; it++) {
        uint32_t h = 1 + (uint32_t)(rand() % 40), w = 1 + (uint32_t)(rand() % 40);
        uint8_t *m = malloc(h * w), *back = malloc(h * w);
        int density = rand() % 100;
        uint64_t ones = 0;
        for (uint32_t i = 0; i < h * w; i++) {
            m[i] = (rand() % 100) < density;
            ones += m[i];
        }
        rle r = RLE_INIT, r2 = RLE_INIT;
        cr_assert_eq(rle_from_mask(&r, m, h, w, &e), 0);
        cr_assert_eq(rle_area(&r), ones);
        sbuf s = SBUF_INIT;
        rle_to_string(&r, &s);
        cr_assert_eq(rle_from_string(&r2, s.p ? s.p : "", s.len, h, w, &e), 0, "%s", e.msg);
        cr_assert_eq(r2.m, r.m);
        cr_assert_arr_eq(r2.cnts, r.cnts, r.m * sizeof *r.cnts);
        rle_to_mask(&r2, back);
        cr_assert_arr_eq(back, m, h * w);
        sbuf_free(&s);
        rle_free(&r);
        rle_free(&r2);
        free(m);
        free(back);
    }
}

Test(eval_rle, string_form_known_values)
{
    /* counts [1, 4, 4]: each < 16 and positive -> one char each, 48 + value:
     * "144" (index 2 is not delta-coded: only indices > 2 are). */
    rle r = {3, 3, 3, (uint32_t[]){1, 4, 4}};
    sbuf s = SBUF_INIT;
    rle_to_string(&r, &s);
    cr_assert_str_eq(sbuf_cstr(&s), "144");
    /* [0, 5, 2, 3] on 1x10: index 3 is stored as 3 - 5 = -2; -2 & 31 = 30
     * (sign bit 0x10 set), and -2 >> 5 = -1 ends the number: char 48+30 = 'N'. */
    sbuf_reset(&s);
    rle r2 = {1, 10, 4, (uint32_t[]){0, 5, 2, 3}};
    rle_to_string(&r2, &s);
    cr_assert_str_eq(sbuf_cstr(&s), "052N");
    /* 100 = 3*32 + 4: low group 4 with the "more" bit (36 -> 'T'), then 3 -> '3' */
    sbuf_reset(&s);
    rle r3 = {10, 10, 1, (uint32_t[]){100}};
    rle_to_string(&r3, &s);
    cr_assert_str_eq(sbuf_cstr(&s), "T3");
    sbuf_free(&s);
    rle d = RLE_INIT;
    err e;
    cr_assert_eq(rle_from_string(&d, "052N", 4, 1, 10, &e), 0, "%s", e.msg);
    uint32_t want[] = {0, 5, 2, 3};
    assert_counts(&d, want, 4);
    rle_free(&d);
}

Test(eval_rle, malformed_strings_are_errors)
{
    rle r = RLE_INIT;
    err e;
    /* 'P' = 48 + 32: the "more" bit with nothing after it */
    cr_assert_eq(rle_from_string(&r, "1P", 2, 1, 10, &e), -1);
    cr_assert(strstr(e.msg, "truncated"), "%s", e.msg);
    /* '!' is below '0' */
    cr_assert_eq(rle_from_string(&r, "1!", 2, 1, 10, &e), -1);
    cr_assert(strstr(e.msg, "invalid character"), "%s", e.msg);
    /* counts add up to 5, mask has 10 pixels */
    cr_assert_eq(rle_from_string(&r, "14", 2, 1, 10, &e), -1);
    cr_assert(strstr(e.msg, "expected height*width = 10"), "%s", e.msg);
    /* more than h*w */
    cr_assert_eq(rle_from_string(&r, "99", 2, 1, 10, &e), -1);
    /* a number longer than 60 bits */
    cr_assert_eq(rle_from_string(&r, "oooooooooooooooo0", 17, 1, 10, &e), -1);
    /* a negative run: 'O' = 48 + 31, the sign bit set and no "more" bit: -1.
     * At index 1 nothing is added (only indices > 2 are deltas): run -1. */
    cr_assert_eq(rle_from_string(&r, "2O", 2, 1, 10, &e), -1);
    cr_assert(strstr(e.msg, "invalid length"), "%s", e.msg);
    /* empty string for an empty mask is fine */
    cr_assert_eq(rle_from_string(&r, "", 0, 0, 0, &e), 0);
    rle_free(&r);
}

Test(eval_rle, polygon_square_on_integer_corners)
{
    /* Square (0,0)-(2,2) in a 4x4 image. Upsampled 5x the x edge runs 0..10;
     * a column boundary is kept where the walk crosses u = 2.5 + 5k, the
     * centre of pixel column k: k = 0 and 1. The top edge gives row
     * ceil((0+.5)/5-.5) = ceil(-.4) = 0, the bottom edge ceil(10.5/5-.5) =
     * ceil(1.6) = 2: rows [0, 2). Mask = columns 0-1, rows 0-1, area 4 = w*h.
     * Column-major: col0 1100, col1 1100, col2 0000, col3 0000
     * -> counts [0, 2, 2, 2, 10]. */
    double xy[] = {0, 0, 0, 2, 2, 2, 2, 0};
    rle r = RLE_INIT;
    err e;
    cr_assert_eq(rle_from_poly(&r, xy, 4, 4, 4, &e), 0);
    assert_counts(&r, (uint32_t[]){0, 2, 2, 2, 10}, 5);
    rle_free(&r);
}

Test(eval_rle, polygon_half_pixel_offset_rounds_like_the_reference)
{
    /* Box [0.5, 0.5, 2, 2]: x runs 0.5..2.5, upsampled (int)(2.5+.5) = 3 to
     * (int)(12.5+.5) = 13. Crossings at u = 7.5 and 12.5 -> columns 1, 2
     * (column 0's centre 0.5 lies on the edge but the walk starts at u = 3,
     * past it). Rows: ceil(3.5/5-.5) = ceil(.2) = 1 and ceil(13.5/5-.5) =
     * ceil(2.2) = 3: rows [1, 3). 4x4 mask, column-major:
     * col0 0000, col1 0110, col2 0110, col3 0000 -> [5, 2, 2, 2, 5]. */
    double bb[4] = {0.5, 0.5, 2, 2};
    rle r = RLE_INIT;
    err e;
    cr_assert_eq(rle_from_bbox(&r, bb, 4, 4, &e), 0);
    assert_counts(&r, (uint32_t[]){5, 2, 2, 2, 5}, 5);
    rle_free(&r);
}

Test(eval_rle, polygon_outside_or_degenerate)
{
    err e;
    rle r = RLE_INIT;
    /* entirely left of the image: no column crossing inside -> empty mask */
    double xy[] = {-50, 0, -40, 0, -40, 10};
    cr_assert_eq(rle_from_poly(&r, xy, 3, 8, 8, &e), 0);
    cr_assert_eq(rle_area(&r), 0);
    assert_counts(&r, (uint32_t[]){64}, 1);
    rle_free(&r);
    /* repeated vertices (zero-length edges) change nothing */
    double sq[] = {0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 0};
    cr_assert_eq(rle_from_poly(&r, sq, 6, 4, 4, &e), 0);
    assert_counts(&r, (uint32_t[]){0, 2, 2, 2, 10}, 5);
    rle_free(&r);
    /* non-finite or absurd coordinates are errors, not undefined behaviour */
    double bad[] = {0, 0, 1e300, 0, 1, 1};
    cr_assert_eq(rle_from_poly(&r, bad, 3, 4, 4, &e), -1);
}

Test(eval_rle, merge_union_and_intersection)
{
    /* two 1x6 masks: A = 011100, B = 000110
     * union 011110 -> [1, 4, 1]; intersection 000100 -> [3, 1, 2] */
    rle ab[2] = {{1, 6, 3, (uint32_t[]){1, 3, 2}}, {1, 6, 3, (uint32_t[]){3, 2, 1}}};
    rle u = RLE_INIT, i = RLE_INIT;
    err e;
    cr_assert_eq(rle_merge(ab, 2, false, &u, &e), 0);
    assert_counts(&u, (uint32_t[]){1, 4, 1}, 3);
    cr_assert_eq(rle_merge(ab, 2, true, &i, &e), 0);
    assert_counts(&i, (uint32_t[]){3, 1, 2}, 3);
    rle_free(&u);
    rle_free(&i);
    rle bad[2] = {{1, 6, 1, (uint32_t[]){6}}, {2, 3, 1, (uint32_t[]){6}}};
    cr_assert_eq(rle_merge(bad, 2, false, &u, &e), -1);
}

Test(eval_rle, bbox_of_runs)
{
    /* 4x3 (h=4, w=3) mask with one run from (x=0, y=2) to (x=1, y=1):
     * flat indices 2..5 -> counts [2, 4, 6]. The run wraps into the next
     * column, so the box covers the full height: x 0..1, y 0..3. */
    rle r = {4, 3, 3, (uint32_t[]){2, 4, 6}};
    double bb[4];
    rle_to_bbox(&r, bb);
    cr_assert(bb[0] == 0 && bb[1] == 0 && bb[2] == 2 && bb[3] == 4, "%g %g %g %g", bb[0], bb[1],
              bb[2], bb[3]);
    /* a single pixel at x=2, y=1: index 2*4+1 = 9 -> [9, 1, 2] */
    rle p = {4, 3, 3, (uint32_t[]){9, 1, 2}};
    rle_to_bbox(&p, bb);
    cr_assert(bb[0] == 2 && bb[1] == 1 && bb[2] == 1 && bb[3] == 1);
    rle z = {4, 3, 1, (uint32_t[]){12}};
    rle_to_bbox(&z, bb);
    cr_assert(bb[0] == 0 && bb[2] == 0);
}

Test(eval_rle, iou_plain_crowd_and_size_mismatch)
{
    /* 1x6: A = 011100 (area 3), B = 000110 (area 2): I = 1, U = 4 -> 0.25;
     * B as a crowd region: I / area(A) = 1/3 */
    rle a = {1, 6, 3, (uint32_t[]){1, 3, 2}}, b = {1, 6, 3, (uint32_t[]){3, 2, 1}};
    double ba[4], bbb[4];
    rle_to_bbox(&a, ba);
    rle_to_bbox(&b, bbb);
    cr_assert_float_eq(rle_iou(&a, ba, &b, bbb, false), 0.25, 1e-15);
    cr_assert_float_eq(rle_iou(&a, ba, &b, bbb, true), 1.0 / 3, 1e-15);
    /* disjoint boxes: 0 without looking at the masks */
    rle c = {1, 6, 2, (uint32_t[]){0, 1, 5}};
    double bc[4];
    rle_to_bbox(&c, bc);
    cr_assert_eq(rle_iou(&c, bc, &b, bbb, false), 0);
    /* overlapping boxes but different mask sizes: -1, as the reference */
    rle d = {2, 6, 3, (uint32_t[]){2, 6, 4}};
    double bd[4];
    rle_to_bbox(&d, bd);
    cr_assert_eq(rle_iou(&d, bd, &a, ba, false), -1);
}

Test(eval_rle, box_iou_known_values)
{
    /* [0,0,10,10] vs [5,0,10,10]: I = 5*10 = 50, U = 100+100-50 = 150 */
    double a[4] = {0, 0, 10, 10}, b[4] = {5, 0, 10, 10};
    cr_assert_float_eq(rle_bbox_iou(a, b, false), 50.0 / 150, 1e-15);
    /* crowd: I / area(detection) = 50/100 */
    cr_assert_float_eq(rle_bbox_iou(a, b, true), 0.5, 1e-15);
    /* touching edges: width 0 -> 0 */
    double c[4] = {10, 0, 5, 5};
    cr_assert_eq(rle_bbox_iou(a, c, false), 0);
}

/* The box exactly as defined (divisions, 32-bit wrap-around), to check the
 * incremental version against, on canonical and degenerate masks. */
static void bbox_by_definition(const rle *r, double bb[4])
{
    size_t m = r->m & ~(size_t)1;
    if (m == 0 || r->h == 0) {
        bb[0] = bb[1] = bb[2] = bb[3] = 0;
        return;
    }
    uint32_t h = r->h, xs = r->w, ys = h, xe = 0, ye = 0, xp = 0, cc = 0;
    for (size_t j = 0; j < m; j++) {
        cc += r->cnts[j];
        uint32_t t = cc - (uint32_t)(j % 2), y = t % h, x = (t - y) / h;
        if (j % 2 == 0)
            xp = x;
        else if (xp < x) {
            ys = 0;
            ye = h - 1;
        }
        xs = x < xs ? x : xs;
        xe = x > xe ? x : xe;
        ys = y < ys ? y : ys;
        ye = y > ye ? y : ye;
    }
    bb[0] = xs;
    bb[2] = (double)xe - xs + 1;
    bb[1] = ys;
    bb[3] = (double)ye - ys + 1;
}

Test(eval_rle, bbox_matches_its_definition_on_random_masks)
{
    srand(11);
    uint32_t c[64];
    for (int it = 0; it < 20000; it++) {
        uint32_t h = 1 + (uint32_t)(rand() % 9), w = 1 + (uint32_t)(rand() % 9);
        size_t m = (size_t)(rand() % 12);
        for (size_t i = 0; i < m; i++)
            c[i] = rand() % 4 == 0 ? 0 : (uint32_t)(rand() % (h * 2 + 1));
        if (it % 50 == 0 && m) /* force a 32-bit wrap-around now and then */
            c[rand() % m] = UINT32_MAX - (uint32_t)(rand() % 5);
        rle r = {h, w, m, c};
        double a[4], b[4];
        rle_to_bbox(&r, a);
        bbox_by_definition(&r, b);
        cr_assert(a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3],
                  "iteration %d: %g %g %g %g vs %g %g %g %g", it, a[0], a[1], a[2], a[3], b[0],
                  b[1], b[2], b[3]);
    }
}

/* The polygon rasterisation written plainly from its definition (every
 * upsampled point, qsort), to check the optimised one against. */
static int cmp_u32_(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static size_t poly_by_definition(const double *xy, size_t k, uint32_t h, uint32_t w, uint32_t *out)
{
    int *x = malloc((k + 1) * sizeof *x), *y = malloc((k + 1) * sizeof *y);
    for (size_t j = 0; j < k; j++) {
        x[j] = (int)(5 * xy[2 * j] + .5);
        y[j] = (int)(5 * xy[2 * j + 1] + .5);
    }
    x[k] = x[0];
    y[k] = y[0];
    size_t m = 0;
    for (size_t j = 0; j < k; j++)
        m += (size_t)(abs(x[j] - x[j + 1]) > abs(y[j] - y[j + 1]) ? abs(x[j] - x[j + 1])
                                                                  : abs(y[j] - y[j + 1])) +
             1;
    int *u = malloc(m * sizeof *u), *v = malloc(m * sizeof *v);
    m = 0;
    for (size_t j = 0; j < k; j++) {
        int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
        int dx = abs(xe - xs), dy = abs(ys - ye), t;
        int flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if (flip) {
            t = xs, xs = xe, xe = t;
            t = ys, ys = ye, ye = t;
        }
        double s = dx >= dy ? (dx ? (double)(ye - ys) / dx : 0) : (double)(xe - xs) / dy;
        if (dx >= dy)
            for (int d = 0; d <= dx; d++) {
                t = flip ? dx - d : d;
                u[m] = t + xs;
                v[m] = (int)(ys + s * t + .5);
                m++;
            }
        else
            for (int d = 0; d <= dy; d++) {
                t = flip ? dy - d : d;
                v[m] = t + ys;
                u[m] = (int)(xs + s * t + .5);
                m++;
            }
    }
    uint32_t *a = malloc((m + 1) * sizeof *a);
    size_t n = 0;
    for (size_t j = 1; j < m; j++) {
        if (u[j] == u[j - 1]) continue;
        double xd = (double)(u[j] < u[j - 1] ? u[j] : u[j] - 1);
        xd = (xd + .5) / 5 - .5;
        if (floor(xd) != xd || xd < 0 || xd > w - 1) continue;
        double yd = (double)(v[j] < v[j - 1] ? v[j] : v[j - 1]);
        yd = (yd + .5) / 5 - .5;
        if (yd < 0)
            yd = 0;
        else if (yd > h)
            yd = h;
        yd = ceil(yd);
        a[n++] = (uint32_t)((int)xd * (int)h + (int)yd);
    }
    a[n++] = h * w;
    qsort(a, n, sizeof *a, cmp_u32_);
    uint32_t p = 0;
    for (size_t j = 0; j < n; j++) {
        uint32_t t = a[j];
        a[j] -= p;
        p = t;
    }
    size_t j = 0, mm = 0;
    out[mm++] = a[j++];
    while (j < n) {
        if (a[j] > 0)
            out[mm++] = a[j++];
        else if (++j < n)
            out[mm - 1] += a[j++];
    }
    free(x);
    free(y);
    free(u);
    free(v);
    free(a);
    return mm;
}

Test(eval_rle, polygons_match_their_definition_on_random_shapes)
{
    srand(5);
    static uint32_t want[1 << 16];
    err e;
    for (int it = 0; it < 3000; it++) {
        uint32_t h = 1 + (uint32_t)(rand() % 60), w = 1 + (uint32_t)(rand() % 60);
        size_t k = 3 + (size_t)(rand() % 6);
        double xy[32];
        for (size_t j = 0; j < 2 * k; j++) {
            /* quarter-pixel grid and random reals, some outside the image */
            double range = (j % 2 ? h : w) * 1.4;
            xy[j] = rand() % 2 ? (rand() % (int)(4 * range)) / 4.0 - range * 0.2
                               : (double)rand() / RAND_MAX * range - range * 0.2;
        }
        rle r = RLE_INIT;
        cr_assert_eq(rle_from_poly(&r, xy, k, h, w, &e), 0, "%s", e.msg);
        size_t n = poly_by_definition(xy, k, h, w, want);
        cr_assert_eq(r.m, n, "iteration %d: %zu counts vs %zu", it, r.m, n);
        cr_assert_arr_eq(r.cnts, want, n * sizeof *want, "iteration %d", it);
        rle_free(&r);
    }
}
