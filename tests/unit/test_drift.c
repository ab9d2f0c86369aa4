/*
 * Unit tests of the drift statistics (src/deploy/drift.c): the two-sample
 * Kolmogorov-Smirnov statistic and p-value against values computed by
 * hand, and the percentile of a value in a sorted reference.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "deploy/drift.h"

#define N(a) (sizeof(a) / sizeof *(a))

Test(drift, ks_by_hand)
{
    /* F_a - F_b at 2, 3, 4: 0.5 - 0, 0.75 - 0.25, 1 - 0.5: D = 0.5 */
    double a[] = {4, 2, 3, 1}, b[] = {6, 3, 5, 4};
    cr_assert_float_eq(drift_ks(a, N(a), b, N(b)), 0.5, 1e-12);
    /* the same sample: 0; disjoint samples: 1 */
    double c[] = {1, 2, 3}, d[] = {3, 2, 1};
    cr_assert_float_eq(drift_ks(c, N(c), d, N(d)), 0, 1e-12);
    double f[] = {10, 11}, g[] = {1, 2, 3};
    cr_assert_float_eq(drift_ks(f, N(f), g, N(g)), 1, 1e-12);
    /* ties step together: at 1, 2/3 vs 1/3; at 2, 1 vs 1: D = 1/3 */
    double h[] = {1, 1, 2}, k[] = {1, 2, 2};
    cr_assert_float_eq(drift_ks(h, N(h), k, N(k)), 1.0 / 3, 1e-12);
    /* unequal sizes: a = {0}, b = {0, 1, 2, 3}: at 0, 1 vs 1/4: D = 3/4 */
    double m[] = {0}, n[] = {3, 2, 1, 0};
    cr_assert_float_eq(drift_ks(m, N(m), n, N(n)), 0.75, 1e-12);
    /* an empty sample says nothing */
    cr_assert_float_eq(drift_ks(m, 0, n, N(n)), 0, 1e-12);
}

Test(drift, ks_pvalue_by_hand)
{
    /* n = m = 100, D = 0.2: ne = 50, lambda = (sqrt 50 + 0.12 + 0.11 / sqrt 50) 0.2
     * = 1.44133; Q = 2 (e^-2L^2 - e^-8L^2 + ...) = 0.031377 */
    cr_assert_float_eq(drift_ks_pvalue(0.2, 100, 100), 0.031377, 1e-5);
    /* n = m = 4, D = 0.5: ne = 2, lambda = 0.80780, Q = 0.534416 */
    cr_assert_float_eq(drift_ks_pvalue(0.5, 4, 4), 0.534416, 1e-5);
    cr_assert_float_eq(drift_ks_pvalue(0, 10, 10), 1, 1e-12);
    cr_assert_float_eq(drift_ks_pvalue(0.3, 0, 10), 1, 1e-12);
    cr_assert_lt(drift_ks_pvalue(1, 1000, 1000), 1e-12);
}

Test(drift, percentile)
{
    double s[] = {1, 2, 3, 4};
    cr_assert_float_eq(drift_percentile(s, 4, 0.5), 0, 1e-12);
    cr_assert_float_eq(drift_percentile(s, 4, 2.5), 50, 1e-12);
    cr_assert_float_eq(drift_percentile(s, 4, 3), 50, 1e-12); /* values below, not at */
    cr_assert_float_eq(drift_percentile(s, 4, 9), 100, 1e-12);
    cr_assert_float_eq(drift_percentile(s, 0, 9), 0, 1e-12);
}
