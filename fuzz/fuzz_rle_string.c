/*
 * fuzz_rle_string - the COCO compressed RLE string decoder (rle_from_string).
 *
 * Input: two bytes for the mask size (h, w in 0..63), then the string.
 * A decoded mask must re-encode to the same string's counts, have a box
 * inside the mask, and an IoU of 1 with itself when not empty.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/rle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint32_t h = data[0] % 64, w = data[1] % 64;
    const char *s = (const char *)data + 2;
    size_t n = size - 2;
    rle r = RLE_INIT;
    err e;
    if (rle_from_string(&r, s, n, h, w, &e) != 0) return 0;
    /* round trip through the string form */
    sbuf out = SBUF_INIT;
    rle_to_string(&r, &out);
    rle r2 = RLE_INIT;
    if (rle_from_string(&r2, out.p ? out.p : "", out.len, h, w, &e) != 0) abort();
    if (r2.m != r.m || (r.m && memcmp(r2.cnts, r.cnts, r.m * sizeof *r.cnts) != 0)) abort();
    /* decode to pixels and back: same area */
    uint8_t *mask = malloc((size_t)h * w + 1);
    rle_to_mask(&r, mask);
    rle r3 = RLE_INIT;
    if (rle_from_mask(&r3, mask, h, w, &e) != 0 || rle_area(&r3) != rle_area(&r)) abort();
    double bb[4];
    rle_to_bbox(&r, bb);
    /* an empty run anywhere but first makes a degenerate box (as the
     * reference); canonical masks have their box inside the mask */
    bool canonical = true;
    for (size_t i = 1; i < r.m; i++)
        canonical &= r.cnts[i] > 0;
    if (canonical && (bb[0] < 0 || bb[1] < 0 || bb[0] + bb[2] > w || bb[1] + bb[3] > h)) abort();
    if (rle_area(&r) > 0 && rle_iou(&r, bb, &r, bb, false) != 1.0) abort();
    rle merged = RLE_INIT;
    rle both[2] = {r, r3};
    if (rle_merge(both, 2, false, &merged, &e) != 0 || rle_area(&merged) != rle_area(&r)) abort();
    rle_free(&merged);
    free(mask);
    sbuf_free(&out);
    rle_free(&r);
    rle_free(&r2);
    rle_free(&r3);
    return 0;
}
