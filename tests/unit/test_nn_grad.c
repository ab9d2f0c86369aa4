/*
 * Finite-difference gradient checks for every layer and loss of src/nn.
 *
 * A layer's backward-data path is checked through the weights of a
 * convolution placed before it: d(loss)/d(conv weight) is only right when
 * the gradient flowing back through the layer is. The loss is sum(out * R)
 * for a fixed random R, evaluated in double; central differences with a
 * small step; float32 forward passes, so the tolerance is relative.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "nn/nn_impl.h"

static void fill(float *d, size_t n, uint64_t seed, float lo, float hi)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        d[i] = lo + (hi - lo) * nn_rng_uniform(&r);
}

static double loss_of(nn_session *s, const nn_tensor *x, const nn_tensor *R)
{
    err e;
    nn_session_seed(s, 7); /* the same dropout mask every time */
    const nn_tensor *y = nn_forward(s, x, true, &e);
    cr_assert_not_null(y, "forward: %s", e.msg);
    double l = 0;
    for (size_t i = 0; i < nn_tensor_numel(y); i++)
        l += (double)y->data[i] * R->data[i];
    return l;
}

/* Checks up to `per` entries of every trainable parameter; returns how many
 * were checked. */
static int gradcheck_t(int threads, const char *nodes_json, int n, int c, int h, int w, float eps,
                       double rtol, double atol)
{
    err e;
    cr_assert_eq(nn_init(threads, &e), 0);
    char arch[8192];
    snprintf(arch, sizeof arch,
             "{\"format\":\"cvops-nn/1\",\"input\":{\"channels\":%d,\"height\":%d,\"width\":%d},"
             "\"nodes\":[%s]}",
             c, h, w, nodes_json);
    nn_model *m = nn_model_new(arch, 1234, &e);
    cr_assert_not_null(m, "model: %s", e.msg);
    nn_session *s = nn_session_new(m, &e);
    cr_assert_not_null(s);
    nn_tensor *x = nn_tensor_new(n, c, h, w);
    fill(x->data, nn_tensor_numel(x), 99, -1, 1);
    nn_session_seed(s, 7);
    const nn_tensor *y = nn_forward(s, x, true, &e);
    cr_assert_not_null(y, "forward: %s", e.msg);
    nn_tensor *R = nn_tensor_new(y->n, y->c, y->h, y->w);
    fill(R->data, nn_tensor_numel(R), 5, -1, 1);
    cr_assert_eq(nn_backward(s, R, &e), 0, "backward: %s", e.msg);

    int checked = 0;
    for (int pi = 0; pi < m->nparams; pi++) {
        nn_param *p = &m->params[pi];
        if (!p->trainable)
            continue;
        float *g = malloc(p->numel * sizeof(float));
        float *v = malloc(p->numel * sizeof(float));
        cr_assert_eq(nn_param_to_plain(p, PB_GRAD, g, &e), 0);
        cr_assert_eq(nn_param_to_plain(p, PB_DATA, v, &e), 0);
        nn_rng r;
        nn_rng_seed(&r, (uint64_t)pi);
        int per = p->numel < 10 ? (int)p->numel : 10;
        for (int t = 0; t < per; t++) {
            size_t k = per == (int)p->numel ? (size_t)t : nn_rng_next(&r) % p->numel;
            float v0 = v[k];
            v[k] = v0 + eps;
            cr_assert_eq(nn_param_from_plain(p, PB_DATA, v, &e), 0);
            double lp = loss_of(s, x, R);
            v[k] = v0 - eps;
            cr_assert_eq(nn_param_from_plain(p, PB_DATA, v, &e), 0);
            double lm = loss_of(s, x, R);
            v[k] = v0;
            cr_assert_eq(nn_param_from_plain(p, PB_DATA, v, &e), 0);
            double num = (lp - lm) / (2.0 * eps);
            double ana = g[k];
            double tol = atol + rtol * fmax(fabs(num), fabs(ana));
            cr_expect(fabs(num - ana) <= tol, "%s[%zu]: analytic %.6g numeric %.6g", p->name, k,
                      ana, num);
            checked++;
        }
        free(g);
        free(v);
    }
    nn_tensor_free(R);
    nn_tensor_free(x);
    nn_session_free(s);
    nn_model_free(m);
    cr_assert_gt(checked, 0);
    return checked;
}

/* one thread (see test_nn_model.c), except where the test says otherwise */
#define gradcheck(...) gradcheck_t(1, __VA_ARGS__)

#define PRE "{\"name\":\"pre\",\"op\":\"conv\",\"out\":8,\"kernel\":1,\"bias\":true},"

Test(nn_grad, conv_plain)
{
    cr_assert_gt(gradcheck("{\"name\":\"c\",\"op\":\"conv\",\"out\":5,\"kernel\":3,\"bias\":true}",
                           2, 3, 6, 6, 1e-2f, 1e-2, 1e-3),
                 0);
}

Test(nn_grad, conv_stride_pad_dilation)
{
    gradcheck(PRE "{\"name\":\"c\",\"op\":\"conv\",\"out\":8,\"kernel\":3,\"stride\":2,"
                  "\"pad\":2,\"dilation\":2,\"bias\":false}",
              2, 3, 9, 8, 1e-2f, 1e-2, 1e-3);
}

Test(nn_grad, conv_groups_and_depthwise)
{
    gradcheck(PRE "{\"name\":\"g\",\"op\":\"conv\",\"out\":8,\"kernel\":3,\"groups\":2},"
                  "{\"name\":\"dw\",\"op\":\"conv\",\"out\":8,\"kernel\":3,\"groups\":8,"
                  "\"stride\":2}",
              2, 3, 7, 7, 1e-2f, 1e-2, 1e-3);
}

/* maps of at most 8 outputs go through the im2col + GEMM path in training */
Test(nn_grad, conv_small_maps_gemm)
{
    gradcheck(PRE "{\"name\":\"a\",\"op\":\"conv\",\"out\":5,\"kernel\":3,\"bias\":true},"
                  "{\"name\":\"b\",\"op\":\"conv\",\"out\":8,\"kernel\":3,\"stride\":2,"
                  "\"dilation\":[1,2],\"pad\":[1,2],\"bias\":false},"
                  "{\"name\":\"c\",\"op\":\"conv\",\"out\":3,\"kernel\":[1,2],\"pad\":0}",
              3, 3, 2, 3, 1e-2f, 1e-2, 1e-3);
}

/* 3x3 stride-1 convolutions on >= 8x8 maps run forward and backward-data
 * through Winograd F(4x4) in training (where the CPU has AVX2) */
Test(nn_grad, conv_winograd_training)
{
    gradcheck_t(2, PRE "{\"name\":\"a\",\"op\":\"conv\",\"out\":8,\"kernel\":3,\"bias\":true},"
                       "{\"name\":\"b\",\"op\":\"conv\",\"out\":16,\"kernel\":3,\"pad\":2,"
                       "\"bias\":false},"
                       "{\"name\":\"c\",\"op\":\"conv\",\"out\":4,\"kernel\":1}",
                4, 3, 8, 9, 1e-2f, 1e-2, 2e-3);
}

Test(nn_grad, batchnorm_train)
{
    gradcheck(PRE "{\"name\":\"bn\",\"op\":\"bn\"},"
                  "{\"name\":\"c2\",\"op\":\"conv\",\"out\":4,\"kernel\":1}",
              4, 3, 5, 5, 1e-2f, 2e-2, 2e-3);
}

Test(nn_grad, batchnorm_relu_fused)
{
    gradcheck(PRE "{\"name\":\"bn\",\"op\":\"bn\"},{\"name\":\"r\",\"op\":\"relu\"},"
                  "{\"name\":\"c2\",\"op\":\"conv\",\"out\":4,\"kernel\":1}",
              4, 3, 5, 5, 1e-3f, 3e-2, 3e-3);
}

Test(nn_grad, activations)
{
    gradcheck(PRE "{\"name\":\"a\",\"op\":\"silu\"},"
                  "{\"name\":\"c2\",\"op\":\"conv\",\"out\":8,\"kernel\":1},"
                  "{\"name\":\"b\",\"op\":\"sigmoid\"},"
                  "{\"name\":\"c3\",\"op\":\"conv\",\"out\":8,\"kernel\":1},"
                  "{\"name\":\"l\",\"op\":\"leaky_relu\",\"alpha\":0.1},"
                  "{\"name\":\"c4\",\"op\":\"conv\",\"out\":8,\"kernel\":1},"
                  "{\"name\":\"r\",\"op\":\"relu\"}",
              2, 3, 4, 4, 1e-3f, 3e-2, 3e-3);
}

/* Max pooling is piecewise linear: a step that makes two window values
 * trade places breaks the difference quotient, so the step is small. */
Test(nn_grad, maxpool)
{
    gradcheck(PRE "{\"name\":\"mp\",\"op\":\"maxpool\",\"kernel\":3,\"stride\":2,\"pad\":1},"
                  "{\"name\":\"c2\",\"op\":\"conv\",\"out\":8,\"kernel\":1},"
                  "{\"name\":\"mp2\",\"op\":\"maxpool\",\"kernel\":2}",
              2, 3, 9, 9, 1e-4f, 3e-2, 1e-2);
}

Test(nn_grad, avgpool_and_gap)
{
    gradcheck(PRE "{\"name\":\"ap\",\"op\":\"avgpool\",\"kernel\":3,\"stride\":1,\"pad\":1},"
                  "{\"name\":\"c3\",\"op\":\"conv\",\"out\":8,\"kernel\":1},"
                  "{\"name\":\"ap2\",\"op\":\"avgpool\",\"kernel\":2,\"include_pad\":false},"
                  "{\"name\":\"gap\",\"op\":\"gap\"}",
              2, 3, 9, 9, 1e-2f, 1e-2, 1e-3);
}

Test(nn_grad, linear_after_blocked_conv)
{
    gradcheck(PRE "{\"name\":\"fc\",\"op\":\"linear\",\"out\":5},"
                  "{\"name\":\"fc2\",\"op\":\"linear\",\"out\":3}",
              3, 2, 3, 3, 1e-2f, 1e-2, 1e-3);
}

Test(nn_grad, dropout)
{
    gradcheck(PRE "{\"name\":\"d\",\"op\":\"dropout\",\"p\":0.3},"
                  "{\"name\":\"c2\",\"op\":\"conv\",\"out\":4,\"kernel\":1}",
              2, 3, 5, 5, 1e-2f, 1e-2, 1e-3);
}

Test(nn_grad, residual_add_concat_upsample)
{
    gradcheck_t(2, PRE "{\"name\":\"a\",\"op\":\"conv\",\"out\":8,\"kernel\":3},"
                  "{\"name\":\"sum\",\"op\":\"add\",\"inputs\":[\"a\",\"pre\"]},"
                  "{\"name\":\"b\",\"op\":\"conv\",\"input\":\"pre\",\"out\":3,\"kernel\":1},"
                  "{\"name\":\"cat\",\"op\":\"concat\",\"inputs\":[\"sum\",\"b\",\"pre\"]},"
                  "{\"name\":\"up\",\"op\":\"upsample\",\"scale\":2},"
                  "{\"name\":\"c2\",\"op\":\"conv\",\"out\":4,\"kernel\":3,\"stride\":2}",
              2, 3, 5, 5, 1e-2f, 1e-2, 1e-3);
}

/* --- losses: against central differences of the loss itself --------------- */

typedef double (*loss_fn)(nn_tensor *x, nn_tensor *dx, const void *tgt);

static double ce_fn(nn_tensor *x, nn_tensor *dx, const void *tgt)
{
    double l;
    err e;
    cr_assert_eq(nn_loss_softmax_ce(x, tgt, 0.1f, dx, &l, &e), 0, "%s", e.msg);
    return l;
}

static double bce_fn(nn_tensor *x, nn_tensor *dx, const void *tgt)
{
    double l;
    err e;
    cr_assert_eq(nn_loss_bce_logits(x, tgt, dx, &l, &e), 0, "%s", e.msg);
    return l;
}

static double focal_fn(nn_tensor *x, nn_tensor *dx, const void *tgt)
{
    double l;
    err e;
    cr_assert_eq(nn_loss_focal(x, tgt, 0.25f, 2.0f, dx, &l, &e), 0, "%s", e.msg);
    return l;
}

static void losscheck(loss_fn f, const void *tgt)
{
    nn_tensor *x = nn_tensor_new(4, 5, 1, 1), *dx = nn_tensor_new(4, 5, 1, 1);
    fill(x->data, 20, 3, -3, 3);
    f(x, dx, tgt);
    for (int i = 0; i < 20; i++) {
        float v0 = x->data[i];
        float h = 1e-2f;
        x->data[i] = v0 + h;
        double lp = f(x, NULL, tgt);
        x->data[i] = v0 - h;
        double lm = f(x, NULL, tgt);
        x->data[i] = v0;
        double num = (lp - lm) / (2.0 * h);
        cr_expect(fabs(num - dx->data[i]) <= 1e-4 + 1e-3 * fabs(num), "logit %d: %g vs %g", i,
                  dx->data[i], num);
    }
    nn_tensor_free(x);
    nn_tensor_free(dx);
}

Test(nn_grad, losses)
{
    int labels[4] = {0, 3, 4, 1};
    losscheck(ce_fn, labels);
    float t[20];
    fill(t, 20, 11, 0, 1);
    t[0] = 0;
    t[1] = 1;
    losscheck(bce_fn, t);
    losscheck(focal_fn, t);
}

Test(nn_grad, loss_values)
{
    /* known values: uniform logits give log K; smoothing does not change that */
    nn_tensor *x = nn_tensor_new(2, 4, 1, 1);
    int labels[2] = {1, 2};
    double l;
    err e;
    cr_assert_eq(nn_loss_softmax_ce(x, labels, 0.2f, NULL, &l, &e), 0);
    cr_assert_float_eq(l, log(4.0), 1e-9);
    float t[8] = {1, 0, 0, 1, 0, 0, 1, 0};
    cr_assert_eq(nn_loss_bce_logits(x, t, NULL, &l, &e), 0);
    cr_assert_float_eq(l, 4 * log(2.0), 1e-9);
    /* gamma 0, alpha < 0: focal loss is BCE */
    double lf;
    x->data[3] = 2.5f;
    cr_assert_eq(nn_loss_bce_logits(x, t, NULL, &l, &e), 0);
    cr_assert_eq(nn_loss_focal(x, t, -1, 0, NULL, &lf, &e), 0);
    cr_assert_float_eq(l, lf, 1e-9);
    labels[0] = 4;
    cr_assert_eq(nn_loss_softmax_ce(x, labels, 0, NULL, &l, &e), -1);
    nn_tensor_free(x);
}

/* --- fused batch norm + ReLU + max pooling (training) ----------------------- */

/* The fused path against the same network computed unfused (a leaky ReLU
 * with slope 0 is the same function but is not fused): outputs and
 * gradients must agree. */
static void fused_vs_unfused(const char *fmt, int n, int h, int w, const char *const *names,
                             int nnames)
{
    err e;
    cr_assert_eq(nn_init(1, &e), 0);
    char a[2048], b[2048];
    snprintf(a, sizeof a, fmt, "relu", "relu");
    snprintf(b, sizeof b, fmt, "leaky_relu", "leaky_relu");
    nn_model *ma = nn_model_new(a, 4, &e), *mb = nn_model_new(b, 4, &e);
    cr_assert(ma && mb, "%s", e.msg);
    nn_session *sa = nn_session_new(ma, &e), *sb = nn_session_new(mb, &e);
    nn_tensor *x = nn_tensor_new(n, 3, h, w);
    fill(x->data, nn_tensor_numel(x), 8, -1, 1);
    const nn_tensor *ya = nn_forward(sa, x, true, &e);
    cr_assert_not_null(ya, "%s", e.msg);
    size_t cnt = nn_tensor_numel(ya);
    nn_tensor *out = nn_tensor_new(ya->n, ya->c, ya->h, ya->w);
    nn_tensor *dy = nn_tensor_new(ya->n, ya->c, ya->h, ya->w);
    memcpy(out->data, ya->data, cnt * sizeof(float));
    fill(dy->data, cnt, 9, -1, 1);
    const nn_tensor *yb = nn_forward(sb, x, true, &e);
    cr_assert_not_null(yb, "%s", e.msg);
    for (size_t i = 0; i < cnt; i++)
        cr_assert_float_eq(out->data[i], yb->data[i], 1e-5f, "output %zu: %g vs %g", i,
                           out->data[i], yb->data[i]);
    cr_assert_eq(nn_backward(sa, dy, &e), 0, "%s", e.msg);
    cr_assert_eq(nn_backward(sb, dy, &e), 0, "%s", e.msg);
    for (int k = 0; k < nnames; k++) {
        nn_param *pa = nn_model_param(ma, names[k]), *pb = nn_model_param(mb, names[k]);
        float *ga = malloc(pa->numel * sizeof(float)), *gb = malloc(pb->numel * sizeof(float));
        nn_param_to_plain(pa, PB_GRAD, ga, &e);
        nn_param_to_plain(pb, PB_GRAD, gb, &e);
        for (size_t i = 0; i < pa->numel; i++)
            cr_assert_float_eq(ga[i], gb[i], 1e-4f, "%s[%zu]: %g vs %g", names[k], i, ga[i],
                               gb[i]);
        free(ga);
        free(gb);
    }
    nn_tensor_free(x);
    nn_tensor_free(dy);
    nn_tensor_free(out);
    nn_session_free(sa);
    nn_session_free(sb);
    nn_model_free(ma);
    nn_model_free(mb);
}

Test(nn_grad, fused_pooling_matches_unfused)
{
    /* overlapping windows with padding, 12 channels (a padded block),
     * a fused block at the very end of the network */
    const char *names[] = {"c.weight", "bn.weight", "bn.bias", "c2.weight", "bn2.weight"};
    fused_vs_unfused(
        "{\"input\":{\"channels\":3,\"height\":11,\"width\":10},\"nodes\":["
        "{\"name\":\"c\",\"op\":\"conv\",\"out\":8,\"kernel\":3,\"bias\":false},"
        "{\"name\":\"bn\",\"op\":\"bn\"},{\"name\":\"r\",\"op\":\"%s\",\"alpha\":0},"
        "{\"name\":\"mp\",\"op\":\"maxpool\",\"kernel\":3,\"stride\":2,\"pad\":1},"
        "{\"name\":\"c2\",\"op\":\"conv\",\"out\":12,\"kernel\":1},"
        "{\"name\":\"bn2\",\"op\":\"bn\"},{\"name\":\"r2\",\"op\":\"%s\",\"alpha\":0},"
        "{\"name\":\"mp2\",\"op\":\"maxpool\",\"kernel\":2}]}",
        4, 11, 10, names, 5);
}
