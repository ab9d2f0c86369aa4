/*
 * Fuzz target: the metric batch parser (src/experiment/points_parse.c), fed
 * the input in two pieces split at a point chosen by the first byte, as the
 * server feeds a streamed body. It must never crash, leak or read out of
 * bounds, and a batch it accepts must be consistent: every point names a
 * series, the series' counts add up, steps are within [0, 2^53], values
 * are finite.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "experiment/experiment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t split = data[0] % (size);
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    if (split > n)
        split = n;
    exp_points_parser *p = exp_points_parser_new(1000, 500);
    err e;
    const exp_batch *b = NULL;
    if (exp_points_parser_feed(p, body, split, &e) == 0 &&
        exp_points_parser_feed(p, body + split, n - split, &e) == 0 &&
        exp_points_parser_finish(p, &b, &e) == 0) {
        size_t total = 0;
        for (size_t i = 0; i < b->nseries; i++)
            total += b->series[i].count;
        if (total != b->npoints || b->npoints > 500)
            abort();
        for (size_t i = 0; i < b->npoints; i++) {
            const exp_batch_point *x = &b->points[i];
            if (x->series >= b->nseries || x->p.step < 0 || x->p.step > (1LL << 53) ||
                !isfinite(x->p.value) || x->p.time < 0)
                abort();
        }
    }
    exp_points_parser_free(p);
    return 0;
}
