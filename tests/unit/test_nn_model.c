/*
 * Unit tests for src/nn models: architecture JSON errors, built-in
 * families, a tiny network that must overfit a handful of images, the
 * safetensors round trip, optimizer state resume, schedules, EMA, and the
 * thread-safe predictor.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/nn.h"
#include "nn/nn_impl.h"

/* One compute thread: Criterion runs tests in parallel, and on a busy
 * machine every OpenMP region of a tiny network would wait for a
 * descheduled second thread. Tests of thread-count independence use 2. */
static void setup(void)
{
    err e;
    cr_assert_eq(nn_init(1, &e), 0);
}

static void setup2(void)
{
    err e;
    cr_assert_eq(nn_init(2, &e), 0);
}

static const char *tiny_arch =
    "{\"format\":\"cvops-nn/1\",\"input\":{\"channels\":1,\"height\":8,\"width\":8},"
    "\"nodes\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"out\":8,\"kernel\":3,\"bias\":false},"
    "{\"name\":\"b1\",\"op\":\"bn\"},{\"name\":\"r1\",\"op\":\"relu\"},"
    "{\"name\":\"c2\",\"op\":\"conv\",\"out\":16,\"kernel\":3,\"stride\":2,\"bias\":false},"
    "{\"name\":\"b2\",\"op\":\"bn\"},{\"name\":\"r2\",\"op\":\"silu\"},"
    "{\"name\":\"c3\",\"op\":\"conv\",\"out\":16,\"kernel\":3,\"bias\":false},"
    "{\"name\":\"b3\",\"op\":\"bn\"},"
    "{\"name\":\"sum\",\"op\":\"add\",\"inputs\":[\"b3\",\"r2\"]},"
    "{\"name\":\"r3\",\"op\":\"relu\"},"
    "{\"name\":\"gap\",\"op\":\"gap\"},"
    "{\"name\":\"fc\",\"op\":\"linear\",\"out\":4}]}";

/* Eight 8x8 images of 4 classes: a bright quadrant per class plus noise. */
static nn_tensor *toy_data(int *labels)
{
    nn_tensor *x = nn_tensor_new(8, 1, 8, 8);
    nn_rng r;
    nn_rng_seed(&r, 3);
    for (int i = 0; i < 8; i++) {
        labels[i] = i % 4;
        int qy = (i % 4) / 2, qx = (i % 4) % 2;
        for (int y = 0; y < 8; y++)
            for (int xx = 0; xx < 8; xx++)
                *nn_tensor_at(x, i, 0, y, xx) = (y / 4 == qy && xx / 4 == qx ? 1.5f : -0.5f) +
                                                0.3f * (float)nn_rng_normal(&r);
    }
    return x;
}

Test(nn_model, rejects_bad_architectures, .init = setup)
{
    err e;
    const char *bad[] = {
        "{\"nodes\":[]}",
        "{\"nodes\":[{\"name\":\"a\",\"op\":\"nope\"}]}",
        "{\"nodes\":[{\"name\":\"a\",\"op\":\"conv\"}]}",
        "{\"nodes\":[{\"name\":\"a\",\"op\":\"relu\",\"input\":\"b\"}]}",
        "{\"nodes\":[{\"name\":\"a\",\"op\":\"relu\"},{\"name\":\"a\",\"op\":\"relu\"}]}",
        "{\"nodes\":[{\"name\":\"a\",\"op\":\"add\",\"inputs\":[\"input\"]}]}",
        "{\"input\":{\"channels\":3,\"height\":4,\"width\":4},"
        "\"nodes\":[{\"name\":\"a\",\"op\":\"conv\",\"out\":4,\"kernel\":7,\"pad\":0}]}",
        "{\"input\":{\"channels\":3},\"nodes\":[{\"name\":\"a\",\"op\":\"conv\",\"out\":4,"
        "\"groups\":2}]}",
        "{\"format\":\"other/2\",\"nodes\":[{\"name\":\"a\",\"op\":\"relu\"}]}",
        "not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nn_model *m = nn_model_new(bad[i], 1, &e);
        cr_expect_null(m, "accepted: %s", bad[i]);
        cr_expect_neq(e.msg[0], 0);
        nn_model_free(m);
    }
}

Test(nn_model, builtin_families_build_and_run_any_size, .init = setup)
{
    err e;
    const char *fam[] = {"cnn", "resnet", "mobilenet"};
    int sizes[] = {32, 45};
    for (size_t f = 0; f < 3; f++) {
        sbuf b = SBUF_INIT;
        nn_arch_opts o = {.in_c = 1, .in_h = 32, .in_w = 32, .classes = 5, .width = 0.25f,
                          .depth = f == 1 ? 10 : 1, .stem = "small", .dropout = 0.1f};
        cr_assert_eq(nn_arch_builtin(fam[f], &o, &b, &e), 0, "%s", e.msg);
        nn_model *m = nn_model_new(sbuf_cstr(&b), 1, &e);
        cr_assert_not_null(m, "%s: %s", fam[f], e.msg);
        cr_assert_eq(nn_model_classes(m), 5);
        nn_session *s = nn_session_new(m, &e);
        for (int k = 0; k < 2; k++) {
            nn_tensor *x = nn_tensor_new(2, 1, sizes[k], sizes[k] + 3);
            const nn_tensor *y = nn_forward(s, x, k == 0, &e);
            cr_assert_not_null(y, "%s at %d: %s", fam[f], sizes[k], e.msg);
            cr_assert_eq(y->n, 2);
            cr_assert_eq(y->c, 5);
            nn_tensor_free(x);
        }
        nn_session_free(s);
        nn_model_free(m);
        sbuf_free(&b);
    }
    sbuf b = SBUF_INIT;
    cr_assert_eq(nn_arch_builtin("vgg", NULL, &b, &e), -1);
    cr_assert_eq(e.code, ERR_NOT_FOUND);
    sbuf_free(&b);
}

Test(nn_model, resnet18_has_the_reference_parameter_count, .init = setup)
{
    /* torchvision's resnet18 with 1000 classes has 11,689,512 parameters */
    err e;
    sbuf b = SBUF_INIT;
    nn_arch_opts o = {.in_c = 3, .in_h = 64, .in_w = 64, .classes = 1000};
    cr_assert_eq(nn_arch_builtin("resnet", &o, &b, &e), 0);
    nn_model *m = nn_model_new(sbuf_cstr(&b), 1, &e);
    cr_assert_not_null(m, "%s", e.msg);
    cr_assert_eq(nn_model_param_count(m), 11689512);
    nn_model_free(m);
    sbuf_free(&b);
}

static double train_steps(nn_model *m, nn_optim_kind kind, int steps, double *acc)
{
    err e;
    int labels[8];
    nn_tensor *x = toy_data(labels);
    nn_session *s = nn_session_new(m, &e);
    nn_optim_cfg oc = {.kind = kind, .momentum = 0.9f, .nesterov = true, .weight_decay = 1e-4f,
                       .clip_norm = 5.0f};
    nn_optim *o = nn_optim_new(m, &oc, &e);
    cr_assert_not_null(o);
    nn_tensor *dy = nn_tensor_new(8, 4, 1, 1);
    nn_sched sc = {.kind = NN_SCHED_COSINE, .lr = kind == NN_SGD ? 0.1f : 0.01f, .warmup = 5,
                   .total = steps};
    double loss = 0;
    for (int i = 0; i < steps; i++) {
        const nn_tensor *y = nn_forward(s, x, true, &e);
        cr_assert_not_null(y, "%s", e.msg);
        cr_assert_eq(nn_loss_softmax_ce(y, labels, 0, dy, &loss, &e), 0);
        cr_assert_eq(nn_backward(s, dy, &e), 0, "%s", e.msg);
        cr_assert_eq(nn_optim_step(o, nn_lr_at(&sc, i), NULL, &e), 0, "%s", e.msg);
    }
    /* evaluation mode (running statistics, fused conv+bn) must agree */
    const nn_tensor *y = nn_forward(s, x, false, &e);
    int pred[8], ok = 0;
    nn_argmax(y, pred);
    for (int i = 0; i < 8; i++)
        ok += pred[i] == labels[i];
    *acc = ok / 8.0;
    nn_tensor_free(dy);
    nn_tensor_free(x);
    nn_optim_free(o);
    nn_session_free(s);
    return loss;
}

Test(nn_model, tiny_network_overfits_with_sgd_and_adamw, .init = setup)
{
    err e;
    for (int k = 0; k < 2; k++) {
        nn_model *m = nn_model_new(tiny_arch, 42, &e);
        cr_assert_not_null(m, "%s", e.msg);
        double acc;
        double loss = train_steps(m, k ? NN_ADAMW : NN_SGD, 80, &acc);
        cr_expect_lt(loss, 0.05, "%s: final loss %f", k ? "adamw" : "sgd", loss);
        cr_expect_eq(acc, 1.0, "%s: eval accuracy %f", k ? "adamw" : "sgd", acc);
        nn_model_free(m);
    }
}

Test(nn_model, save_load_round_trip_gives_identical_outputs, .init = setup)
{
    err e;
    nn_model *m = nn_model_new(tiny_arch, 7, &e);
    double acc;
    train_steps(m, NN_ADAMW, 20, &acc); /* moves weights, running stats and layouts */
    const char *labels[4] = {"north-west", "north-east", "south-west", "south-east"};
    cr_assert_eq(nn_model_set_labels(m, labels, 4, &e), 0);
    char path[] = "/tmp/nn_test_ckptXXXXXX";
    int fd = mkstemp(path);
    close(fd);
    cr_assert_eq(nn_model_save(m, path, "{\"note\":\"hi\"}", &e), 0, "%s", e.msg);
    char *extra = NULL;
    nn_model *m2 = nn_model_load(path, &extra, &e);
    cr_assert_not_null(m2, "%s", e.msg);
    cr_assert_str_eq(extra, "{\"note\":\"hi\"}");
    cr_assert_str_eq(nn_model_label(m2, 3), "south-east");
    cr_assert_str_eq(nn_model_arch(m2), nn_model_arch(m));

    int lb[8];
    nn_tensor *x = toy_data(lb);
    nn_session *s1 = nn_session_new(m, &e), *s2 = nn_session_new(m2, &e);
    const nn_tensor *y1 = nn_forward(s1, x, false, &e);
    nn_tensor *c1 = nn_tensor_new(y1->n, y1->c, 1, 1);
    memcpy(c1->data, y1->data, nn_tensor_numel(y1) * sizeof(float));
    const nn_tensor *y2 = nn_forward(s2, x, false, &e);
    cr_assert_not_null(y2, "%s", e.msg);
    for (size_t i = 0; i < nn_tensor_numel(c1); i++)
        cr_assert_eq(c1->data[i], y2->data[i], "output %zu: %g vs %g", i, c1->data[i],
                     y2->data[i]);

    /* a truncated file is refused with a clear error, not a crash */
    FILE *f = fopen(path, "r+");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    cr_assert_eq(truncate(path, size - 100), 0);
    nn_model *m3 = nn_model_load(path, NULL, &e);
    cr_assert_null(m3);
    cr_assert_eq(e.code, ERR_UNPROCESSABLE, "%s", e.msg);
    unlink(path);
    free(extra);
    nn_tensor_free(c1);
    nn_tensor_free(x);
    nn_session_free(s1);
    nn_session_free(s2);
    nn_model_free(m);
    nn_model_free(m2);
}

Test(nn_model, optimizer_state_resume_continues_identically, .init = setup)
{
    /* run 6 steps straight vs 3 + save/load (model and optimizer) + 3 */
    err e;
    int labels[8];
    nn_tensor *x = toy_data(labels);
    nn_tensor *dy = nn_tensor_new(8, 4, 1, 1);
    nn_optim_cfg oc = {.kind = NN_ADAMW, .weight_decay = 0.01f};
    float out[2][32];
    char mp[] = "/tmp/nn_test_mXXXXXX", op[] = "/tmp/nn_test_oXXXXXX";
    close(mkstemp(mp));
    close(mkstemp(op));
    for (int run = 0; run < 2; run++) {
        nn_model *m = nn_model_new(tiny_arch, 5, &e);
        nn_session *s = nn_session_new(m, &e);
        nn_optim *o = nn_optim_new(m, &oc, &e);
        for (int i = 0; i < 6; i++) {
            if (run == 1 && i == 3) {
                cr_assert_eq(nn_model_save(m, mp, NULL, &e), 0, "%s", e.msg);
                cr_assert_eq(nn_optim_save(o, op, &e), 0, "%s", e.msg);
                nn_optim_free(o);
                nn_session_free(s);
                nn_model_free(m);
                m = nn_model_load(mp, NULL, &e);
                cr_assert_not_null(m, "%s", e.msg);
                s = nn_session_new(m, &e);
                o = nn_optim_new(m, &oc, &e);
                cr_assert_eq(nn_optim_load(o, op, &e), 0, "%s", e.msg);
                cr_assert_eq(nn_optim_steps(o), 3);
            }
            const nn_tensor *y = nn_forward(s, x, true, &e);
            double l;
            nn_loss_softmax_ce(y, labels, 0, dy, &l, &e);
            nn_backward(s, dy, &e);
            nn_optim_step(o, 0.01f, NULL, &e);
        }
        const nn_tensor *y = nn_forward(s, x, false, &e);
        memcpy(out[run], y->data, 32 * sizeof(float));
        nn_optim_free(o);
        nn_session_free(s);
        nn_model_free(m);
    }
    for (int i = 0; i < 32; i++)
        cr_expect_float_eq(out[0][i], out[1][i], 1e-5f, "output %d: %g vs %g", i, out[0][i],
                           out[1][i]);
    nn_optim_cfg sgd = {.kind = NN_SGD, .momentum = 0.9f};
    nn_model *m = nn_model_new(tiny_arch, 5, &e);
    nn_optim *o = nn_optim_new(m, &sgd, &e);
    cr_assert_eq(nn_optim_load(o, op, &e), -1);
    cr_assert_eq(e.code, ERR_CONFLICT);
    nn_optim_free(o);
    nn_model_free(m);
    unlink(mp);
    unlink(op);
    nn_tensor_free(x);
    nn_tensor_free(dy);
}

Test(nn_model, schedules)
{
    nn_sched c = {.kind = NN_SCHED_COSINE, .lr = 1, .warmup = 10, .total = 110, .min_lr = 0.1f};
    cr_assert_float_eq(nn_lr_at(&c, 0), 0, 1e-6);
    cr_assert_float_eq(nn_lr_at(&c, 5), 0.5, 1e-6);
    cr_assert_float_eq(nn_lr_at(&c, 10), 1, 1e-6);
    cr_assert_float_eq(nn_lr_at(&c, 60), 0.55, 1e-6);
    cr_assert_float_eq(nn_lr_at(&c, 110), 0.1, 1e-6);
    cr_assert_float_eq(nn_lr_at(&c, 500), 0.1, 1e-6);
    nn_sched s = {.kind = NN_SCHED_STEP, .lr = 1, .step_size = 30, .gamma = 0.1f};
    cr_assert_float_eq(nn_lr_at(&s, 29), 1, 1e-6);
    cr_assert_float_eq(nn_lr_at(&s, 30), 0.1, 1e-6);
    cr_assert_float_eq(nn_lr_at(&s, 65), 0.01, 1e-7);
}

Test(nn_model, sgd_and_adamw_match_their_definitions, .init = setup)
{
    /* one linear layer, hand-computed updates */
    err e;
    const char *arch = "{\"input\":{\"channels\":2,\"height\":1,\"width\":1},"
                       "\"nodes\":[{\"name\":\"fc\",\"op\":\"linear\",\"out\":1,"
                       "\"bias\":false}]}";
    for (int k = 0; k < 2; k++) {
        nn_model *m = nn_model_new(arch, 1, &e);
        float w0[2] = {0.5f, -1.0f};
        nn_model_param_set(m, "fc.weight", w0, 2, &e);
        nn_session *s = nn_session_new(m, &e);
        nn_optim_cfg oc = k ? (nn_optim_cfg){.kind = NN_ADAMW, .weight_decay = 0.1f}
                            : (nn_optim_cfg){.kind = NN_SGD, .momentum = 0.9f,
                                             .nesterov = true, .weight_decay = 0.1f};
        nn_optim *o = nn_optim_new(m, &oc, &e);
        nn_tensor *x = nn_tensor_new(1, 2, 1, 1), *dy = nn_tensor_new(1, 1, 1, 1);
        x->data[0] = 1;
        x->data[1] = 2;
        dy->data[0] = 1; /* dL/dw = x */
        double w[2] = {0.5, -1.0}, mb[2] = {0, 0}, v[2] = {0, 0};
        for (int t = 1; t <= 3; t++) {
            nn_forward(s, x, true, &e);
            nn_backward(s, dy, &e);
            nn_optim_step(o, 0.1f, NULL, &e);
            for (int j = 0; j < 2; j++) {
                double g = x->data[j];
                if (k == 0) {
                    g += 0.1 * w[j];
                    mb[j] = 0.9 * mb[j] + g;
                    w[j] -= 0.1 * (g + 0.9 * mb[j]);
                } else {
                    w[j] *= 1 - 0.1 * 0.1;
                    mb[j] = 0.9 * mb[j] + 0.1 * g;
                    v[j] = 0.999 * v[j] + 0.001 * g * g;
                    double mh = mb[j] / (1 - pow(0.9, t)), vh = v[j] / (1 - pow(0.999, t));
                    w[j] -= 0.1 * mh / (sqrt(vh) + 1e-8);
                }
            }
        }
        float got[2];
        nn_model_param_get(m, "fc.weight", got, 2, &e);
        for (int j = 0; j < 2; j++)
            cr_expect_float_eq(got[j], w[j], 1e-5, "%s w[%d]: %g vs %g", k ? "adamw" : "sgd", j,
                               got[j], w[j]);
        nn_tensor_free(x);
        nn_tensor_free(dy);
        nn_optim_free(o);
        nn_session_free(s);
        nn_model_free(m);
    }
}

Test(nn_model, clipping_and_ema, .init = setup)
{
    err e;
    const char *arch = "{\"input\":{\"channels\":2,\"height\":1,\"width\":1},"
                       "\"nodes\":[{\"name\":\"fc\",\"op\":\"linear\",\"out\":1,"
                       "\"bias\":false}]}";
    nn_model *m = nn_model_new(arch, 1, &e);
    float w0[2] = {0, 0};
    nn_model_param_set(m, "fc.weight", w0, 2, &e);
    nn_session *s = nn_session_new(m, &e);
    nn_optim_cfg oc = {.kind = NN_SGD, .clip_norm = 1.0f};
    nn_optim *o = nn_optim_new(m, &oc, &e);
    nn_ema *ema = nn_ema_new(m, 0.5f, &e);
    nn_tensor *x = nn_tensor_new(1, 2, 1, 1), *dy = nn_tensor_new(1, 1, 1, 1);
    x->data[0] = 3;
    x->data[1] = 4; /* gradient norm 5, clipped to 1 */
    dy->data[0] = 1;
    nn_forward(s, x, true, &e);
    nn_backward(s, dy, &e);
    double norm;
    nn_optim_step(o, 1.0f, &norm, &e);
    cr_assert_float_eq(norm, 5.0, 1e-6);
    float w[2];
    nn_model_param_get(m, "fc.weight", w, 2, &e);
    cr_assert_float_eq(w[0], -0.6f, 1e-5);
    cr_assert_float_eq(w[1], -0.8f, 1e-5);
    nn_ema_update(ema); /* d = min(0.5, 2/11): avg = 2/11*0 + 9/11*w */
    nn_ema_swap(ema);
    nn_model_param_get(m, "fc.weight", w, 2, &e);
    cr_assert_float_eq(w[0], -0.6f * 9 / 11, 1e-5);
    nn_ema_swap(ema);
    nn_model_param_get(m, "fc.weight", w, 2, &e);
    cr_assert_float_eq(w[0], -0.6f, 1e-5);
    /* a NaN gradient is refused, the weights stay */
    x->data[0] = NAN;
    nn_forward(s, x, true, &e);
    nn_backward(s, dy, &e);
    cr_assert_eq(nn_optim_step(o, 1.0f, NULL, &e), -1);
    nn_model_param_get(m, "fc.weight", w, 2, &e);
    cr_assert_float_eq(w[0], -0.6f, 1e-5);
    nn_tensor_free(x);
    nn_tensor_free(dy);
    nn_ema_free(ema);
    nn_optim_free(o);
    nn_session_free(s);
    nn_model_free(m);
}

/* --- predictor from several threads ---------------------------------------- */

typedef struct pred_job {
    nn_predictor *p;
    const nn_image *img;
    int expect_cls;
    float expect_score;
    int bad;
} pred_job;

static void *pred_thread(void *arg)
{
    pred_job *j = arg;
    err e;
    for (int i = 0; i < 20; i++) {
        nn_topk t[1];
        if (nn_predict(j->p, j->img, 1, 3, t, &e) < 0 || t[0].cls[0] != j->expect_cls ||
            t[0].score[0] != j->expect_score)
            j->bad++;
    }
    return NULL;
}

Test(nn_model, predictor_is_safe_from_several_threads, .init = setup2)
{
    err e;
    nn_model *m = nn_model_new(tiny_arch, 9, &e);
    double acc;
    train_steps(m, NN_ADAMW, 40, &acc);
    nn_predictor *p = nn_predictor_new(m, 2, &e);
    cr_assert_not_null(p);
    /* 16x16 grey images (resized to the model's 8x8) */
    uint8_t px[4][256];
    nn_image img[4];
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < 256; i++)
            px[k][i] = (uint8_t)((i * (k + 3) * 37) % 256);
        img[k] = (nn_image){16, 16, 1, 16, px[k]};
    }
    nn_topk ref[4];
    cr_assert_eq(nn_predict(p, img, 4, 3, ref, &e), 0, "%s", e.msg);
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(ref[k].k, 3);
        cr_assert_geq(ref[k].score[0], ref[k].score[1]);
        cr_assert_geq(ref[k].score[1], ref[k].score[2]);
    }
    /* batch-1 results are the reference for the threads */
    pred_job jobs[4];
    pthread_t th[4];
    for (int k = 0; k < 4; k++) {
        nn_topk t1[1];
        cr_assert_eq(nn_predict(p, &img[k], 1, 3, t1, &e), 0);
        cr_assert_eq(t1[0].cls[0], ref[k].cls[0]);
        jobs[k] = (pred_job){p, &img[k], t1[0].cls[0], t1[0].score[0], 0};
        pthread_create(&th[k], NULL, pred_thread, &jobs[k]);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        cr_expect_eq(jobs[k].bad, 0, "thread %d: %d wrong results", k, jobs[k].bad);
    }
    nn_predictor_free(p);
}

/* --- Winograd inference against oneDNN's direct convolution ---------------- */

/* Outputs through oneDNN's direct convolutions, then through Winograd with
 * float32 and with half-float weights (used by F(2x2) layers only). With
 * f2_layers, the half-float outputs must differ from the float32 ones (the
 * half path ran) by at most 1e-3 of the largest output. */
static void compare_paths(const char *arch, int n, int c, int h, int w, bool f2_layers)
{
    err e;
    nn_model *m = nn_model_new(arch, 3, &e);
    cr_assert_not_null(m, "%s", e.msg);
    nn_tensor *x = nn_tensor_new(n, c, h, w);
    nn_rng r;
    nn_rng_seed(&r, 1);
    for (size_t i = 0; i < nn_tensor_numel(x); i++)
        x->data[i] = (float)nn_rng_normal(&r);
    /* some training so batch norm has non-trivial running statistics */
    nn_session *ts = nn_session_new(m, &e);
    for (int k = 0; k < 3; k++)
        cr_assert_not_null(nn_forward(ts, x, true, &e), "%s", e.msg);
    nn_session_free(ts);
    float *out[3] = {NULL, NULL, NULL};
    size_t cnt = 0;
    for (int mode = 0; mode < 3; mode++) { /* direct, Winograd float32, Winograd half */
        nn_set_winograd(mode > 0);
        nn_set_half_weights(mode == 2);
        nn_session *s = nn_session_new(m, &e);
        const nn_tensor *y = nn_forward(s, x, false, &e);
        cr_assert_not_null(y, "%s", e.msg);
        cnt = nn_tensor_numel(y);
        out[mode] = malloc(cnt * sizeof(float));
        memcpy(out[mode], y->data, cnt * sizeof(float));
        nn_session_free(s);
    }
    nn_set_winograd(true);
    nn_set_half_weights(true);
    double mx = 0, d32 = 0, d16 = 0, dh = 0;
    for (size_t i = 0; i < cnt; i++) {
        mx = fmax(mx, fabs(out[0][i]));
        d32 = fmax(d32, fabs(out[0][i] - out[1][i]));
        d16 = fmax(d16, fabs(out[0][i] - out[2][i]));
        dh = fmax(dh, fabs(out[1][i] - out[2][i]));
    }
    cr_expect_gt(mx, 0);
    cr_expect_lt(d32, 1e-4 * mx + 1e-6, "max |direct - winograd| = %g (max %g)", d32, mx);
    cr_expect_lt(d16, 1e-3 * mx + 1e-6, "max |direct - winograd half| = %g (max %g)", d16, mx);
    if (f2_layers && nn_wino_half_usable())
        cr_expect_gt(dh, 0, "the half-float weights were not used");
    else
        cr_expect_eq(dh, 0, "F(4x4) layers must keep float32 weights (diff %g)", dh);
    for (int k = 0; k < 3; k++)
        free(out[k]);
    nn_tensor_free(x);
    nn_model_free(m);
}

Test(nn_model, winograd_matches_direct_convolution, .init = setup2)
{
    /* F(4x4) on 20x20 and F(2x2) on 6x6 maps, padding 0/1/2, fused BN + add + act */
    compare_paths("{\"input\":{\"channels\":3,\"height\":20,\"width\":19},\"nodes\":["
                  "{\"name\":\"c0\",\"op\":\"conv\",\"out\":16,\"kernel\":3},"
                  "{\"name\":\"c1\",\"op\":\"conv\",\"out\":16,\"kernel\":3,\"bias\":false},"
                  "{\"name\":\"b1\",\"op\":\"bn\"},{\"name\":\"r1\",\"op\":\"relu\"},"
                  "{\"name\":\"c2\",\"op\":\"conv\",\"out\":16,\"kernel\":3,\"bias\":false},"
                  "{\"name\":\"b2\",\"op\":\"bn\"},"
                  "{\"name\":\"s\",\"op\":\"add\",\"inputs\":[\"b2\",\"c0\"]},"
                  "{\"name\":\"l\",\"op\":\"leaky_relu\",\"alpha\":0.2},"
                  "{\"name\":\"c3\",\"op\":\"conv\",\"out\":24,\"kernel\":3,\"pad\":0},"
                  "{\"name\":\"c4\",\"op\":\"conv\",\"out\":8,\"kernel\":3,\"pad\":2},"
                  "{\"name\":\"a4\",\"op\":\"silu\"}]}",
                  3, 3, 20, 19, false);
    compare_paths("{\"input\":{\"channels\":3,\"height\":6,\"width\":7},\"nodes\":["
                  "{\"name\":\"c0\",\"op\":\"conv\",\"out\":8,\"kernel\":1},"
                  "{\"name\":\"c1\",\"op\":\"conv\",\"out\":32,\"kernel\":3,\"bias\":false},"
                  "{\"name\":\"b1\",\"op\":\"bn\"},{\"name\":\"r1\",\"op\":\"relu\"},"
                  "{\"name\":\"c2\",\"op\":\"conv\",\"out\":16,\"kernel\":3},"
                  "{\"name\":\"a2\",\"op\":\"sigmoid\"}]}",
                  2, 3, 6, 7, true);
    /* many tiles: each thread takes whole chunks of tiles */
    compare_paths("{\"input\":{\"channels\":3,\"height\":80,\"width\":80},\"nodes\":["
                  "{\"name\":\"c0\",\"op\":\"conv\",\"out\":16,\"kernel\":3},"
                  "{\"name\":\"c1\",\"op\":\"conv\",\"out\":16,\"kernel\":3},"
                  "{\"name\":\"r1\",\"op\":\"relu\"}]}",
                  8, 3, 80, 80, false);
    /* a few chunks of tiles (2, then 3), shared by the threads chunk after
     * chunk: each takes a range of output channels */
    compare_paths("{\"input\":{\"channels\":3,\"height\":30,\"width\":30},\"nodes\":["
                  "{\"name\":\"c0\",\"op\":\"conv\",\"out\":8,\"kernel\":3},"
                  "{\"name\":\"c1\",\"op\":\"conv\",\"out\":256,\"kernel\":3},"
                  "{\"name\":\"r1\",\"op\":\"relu\"},"
                  "{\"name\":\"c2\",\"op\":\"conv\",\"out\":256,\"kernel\":3},"
                  "{\"name\":\"r2\",\"op\":\"relu\"}]}",
                  1, 3, 30, 30, false);
}

/* The output of a model's inference pass, copied (n outputs). */
static float *infer_copy(nn_model *m, const nn_tensor *x, size_t *n)
{
    err e;
    nn_session *s = nn_session_new(m, &e);
    cr_assert_not_null(s, "%s", e.msg);
    const nn_tensor *y = nn_forward(s, x, false, &e);
    cr_assert_not_null(y, "%s", e.msg);
    *n = nn_tensor_numel(y);
    float *out = malloc(*n * sizeof(float));
    memcpy(out, y->data, *n * sizeof(float));
    nn_session_free(s);
    return out;
}

/* The AVX-512 GEMM kernels against the AVX2 ones: each output sums the same
 * products in the same order, so the outputs are the same to the bit. The
 * maps give chunks of 1 to 36 tiles (row blocks of 1 to 12 rows), the
 * layers 3, 9 and 18 panels of 16 output channels (a thread's odd panel
 * stays on AVX2) and 144 input channels (two slices of the reduction). */
Test(nn_model, winograd_avx512_gives_the_avx2_outputs, .init = setup2)
{
    if (!nn_wino_avx512_usable())
        cr_skip_test("the CPU has no AVX-512");
    static const int sizes[][3] = {{1, 22, 21}, {1, 7, 7}, {1, 5, 6}, {1, 2, 3}, {3, 9, 10}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char arch[1024];
        snprintf(arch, sizeof arch,
                 "{\"input\":{\"channels\":3,\"height\":%d,\"width\":%d},\"nodes\":["
                 "{\"name\":\"c0\",\"op\":\"conv\",\"out\":48,\"kernel\":1},"
                 "{\"name\":\"c1\",\"op\":\"conv\",\"out\":144,\"kernel\":3},"
                 "{\"name\":\"r1\",\"op\":\"relu\"},"
                 "{\"name\":\"c2\",\"op\":\"conv\",\"out\":288,\"kernel\":3},"
                 "{\"name\":\"c3\",\"op\":\"conv\",\"out\":40,\"kernel\":3}]}",
                 sizes[i][1], sizes[i][2]);
        err e;
        nn_model *m = nn_model_new(arch, 4, &e);
        cr_assert_not_null(m, "%s", e.msg);
        nn_tensor *x = nn_tensor_new(sizes[i][0], 3, sizes[i][1], sizes[i][2]);
        nn_rng r;
        nn_rng_seed(&r, 3);
        for (size_t k = 0; k < nn_tensor_numel(x); k++)
            x->data[k] = (float)nn_rng_normal(&r);
        size_t n2, n5, nd;
        nn_set_avx512(false);
        float *o2 = infer_copy(m, x, &n2);
        nn_set_avx512(true);
        float *o5 = infer_copy(m, x, &n5);
        nn_set_winograd(false);
        float *od = infer_copy(m, x, &nd);
        nn_set_winograd(true);
        cr_assert_eq(n2, n5);
        size_t diff = 0;
        double mx = 0, dd = 0;
        for (size_t k = 0; k < n2; k++) {
            diff += o2[k] != o5[k];
            mx = fmax(mx, fabs(od[k]));
            dd = fmax(dd, fabs(od[k] - o5[k]));
        }
        cr_expect_eq(diff, 0, "%dx%d: %zu of %zu outputs differ", sizes[i][1], sizes[i][2],
                     diff, n2);
        /* and both are the convolution (a kernel that skipped work would
         * agree with itself only by chance, but not with oneDNN) */
        cr_expect_lt(dd, 1e-3 * mx + 1e-6, "%dx%d: max |direct - avx512| = %g (max %g)",
                     sizes[i][1], sizes[i][2], dd, mx);
        free(o2);
        free(o5);
        free(od);
        nn_tensor_free(x);
        nn_model_free(m);
    }
}

/* Training through Winograd (forward, backward data) against oneDNN's
 * direct convolutions: same outputs and gradients, on a map large enough
 * for per-thread chunks. */
Test(nn_model, winograd_training_matches_direct, .init = setup2)
{
    err e;
    const char *arch = "{\"input\":{\"channels\":3,\"height\":40,\"width\":40},\"nodes\":["
                       "{\"name\":\"c0\",\"op\":\"conv\",\"out\":16,\"kernel\":3},"
                       "{\"name\":\"c1\",\"op\":\"conv\",\"out\":16,\"kernel\":3},"
                       "{\"name\":\"c2\",\"op\":\"conv\",\"out\":8,\"kernel\":3}]}";
    nn_tensor *x = nn_tensor_new(20, 3, 40, 40); /* 2000 tiles: 5 chunks */
    nn_rng r;
    nn_rng_seed(&r, 2);
    for (size_t i = 0; i < nn_tensor_numel(x); i++)
        x->data[i] = (float)nn_rng_normal(&r);
    nn_tensor *dy = nn_tensor_new(20, 8, 40, 40);
    for (size_t i = 0; i < nn_tensor_numel(dy); i++)
        dy->data[i] = (float)nn_rng_normal(&r);
    float *out[2], *grad[2];
    size_t cnt = nn_tensor_numel(dy), gn = 16 * 16 * 9;
    for (int k = 0; k < 2; k++) {
        nn_set_winograd(k == 1);
        nn_model *m = nn_model_new(arch, 6, &e);
        nn_session *s = nn_session_new(m, &e);
        const nn_tensor *y = nn_forward(s, x, true, &e);
        cr_assert_not_null(y, "%s", e.msg);
        out[k] = malloc(cnt * sizeof(float));
        memcpy(out[k], y->data, cnt * sizeof(float));
        cr_assert_eq(nn_backward(s, dy, &e), 0, "%s", e.msg);
        grad[k] = malloc(gn * sizeof(float));
        cr_assert_eq(nn_param_to_plain(nn_model_param(m, "c1.weight"), PB_GRAD, grad[k], &e), 0);
        nn_session_free(s);
        nn_model_free(m);
    }
    nn_set_winograd(true);
    double mo = 0, dout = 0, mg = 0, dg = 0;
    for (size_t i = 0; i < cnt; i++) {
        mo = fmax(mo, fabs(out[0][i]));
        dout = fmax(dout, fabs(out[0][i] - out[1][i]));
    }
    for (size_t i = 0; i < gn; i++) {
        mg = fmax(mg, fabs(grad[0][i]));
        dg = fmax(dg, fabs(grad[0][i] - grad[1][i]));
    }
    cr_expect_lt(dout, 1e-4 * mo, "outputs differ by %g (max %g)", dout, mo);
    cr_expect_lt(dg, 1e-3 * mg, "c1 gradients differ by %g (max %g)", dg, mg);
    for (int k = 0; k < 2; k++) {
        free(out[k]);
        free(grad[k]);
    }
    nn_tensor_free(x);
    nn_tensor_free(dy);
}

/* --- the training loop ------------------------------------------------------ */

/* 64 images 12x12 of 4 classes: a bright quadrant, in random grey levels */
static int fetch_quadrants(void *ud, int64_t i, nn_sample *s, err *e)
{
    (void)ud;
    uint8_t *p = nn_sample_image(s, 12, 12, 1);
    if (!p)
        return err_set(e, ERR_INTERNAL, "oom");
    nn_rng r;
    nn_rng_seed(&r, (uint64_t)i);
    int cls = (int)(i % 4);
    for (int y = 0; y < 12; y++)
        for (int x = 0; x < 12; x++) {
            bool on = (y / 6) == cls / 2 && (x / 6) == cls % 2;
            p[y * 12 + x] = (uint8_t)((on ? 170 : 30) + (nn_rng_next(&r) % 60));
        }
    s->label = cls;
    return 0;
}

typedef struct prog {
    int calls, epochs;
    double last_lr, first_lr;
    bool stop_after_first_epoch;
} prog;

static int on_prog(void *ud, const nn_train_stats *st, bool epoch_end)
{
    prog *p = ud;
    if (p->calls++ == 0)
        p->first_lr = st->lr;
    p->last_lr = st->lr;
    if (epoch_end)
        p->epochs++;
    return epoch_end && p->stop_after_first_epoch;
}

Test(nn_model, train_run_learns_and_stops_on_request, .init = setup)
{
    err e;
    sbuf b = SBUF_INIT;
    nn_arch_opts o = {.in_c = 1, .in_h = 12, .in_w = 12, .classes = 4, .width = 0.25f,
                      .depth = 2};
    cr_assert_eq(nn_arch_builtin("cnn", &o, &b, &e), 0);
    nn_model *m = nn_model_new(sbuf_cstr(&b), 1, &e);
    prog pg = {0};
    nn_train_cfg cfg = {.epochs = 6, .batch = 16, .optim = {.kind = NN_ADAMW},
                        .sched = {.kind = NN_SCHED_COSINE, .lr = 0.01f, .warmup = 4},
                        .seed = 3, .train_aug = {.hflip = false}, .workers = 2,
                        .progress = on_prog, .progress_ud = &pg, .log_every = 1,
                        .ema_decay = 0.9f, .label_smoothing = 0.05f};
    nn_train_stats st;
    cr_assert_eq(nn_train_run(m, &cfg, fetch_quadrants, NULL, 64, fetch_quadrants, NULL, 32, &st,
                              &e),
                 0, "%s", e.msg);
    cr_expect_geq(st.val_acc, 0.95, "validation accuracy %f", st.val_acc);
    cr_expect_eq(st.step, 6 * 4);
    cr_expect_eq(pg.epochs, 6);
    cr_expect_lt(pg.last_lr, 0.001, "cosine ends low: %f", pg.last_lr);
    /* stop after one epoch through the callback */
    pg = (prog){.stop_after_first_epoch = true};
    cr_assert_eq(nn_train_run(m, &cfg, fetch_quadrants, NULL, 64, NULL, NULL, 0, &st, &e), 0);
    cr_expect_eq(pg.epochs, 1);
    cr_expect_eq(st.step, 4);
    nn_model_free(m);
    sbuf_free(&b);
}

Test(nn_model, train_run_time_budget_spreads_the_schedule, .init = setup)
{
    err e;
    nn_model *m = nn_model_new(tiny_arch, 1, &e);
    prog pg = {0};
    nn_train_cfg cfg = {.epochs = 100000, .batch = 8, .optim = {.kind = NN_SGD, .momentum = 0.9f},
                        .sched = {.kind = NN_SCHED_COSINE, .lr = 0.05f},
                        .seed = 3, .train_aug = {.out_w = 8, .out_h = 8}, .max_seconds = 2.0,
                        .sched_by_time = true, .progress = on_prog, .progress_ud = &pg,
                        .log_every = 1};
    nn_train_stats st;
    cr_assert_eq(nn_train_run(m, &cfg, fetch_quadrants, NULL, 16, NULL, NULL, 0, &st, &e), 0,
                 "%s", e.msg);
    cr_expect(st.elapsed_s >= 2.0 && st.elapsed_s < 5, "stopped after %f s", st.elapsed_s);
    cr_expect_gt(pg.first_lr, 0.02, "first lr %f", pg.first_lr);
    cr_expect_lt(pg.last_lr, 0.005, "the schedule reached its end: lr %f", pg.last_lr);
    nn_model_free(m);
}

Test(nn_model, train_run_auto_threads_switches_safely, .init = setup2)
{
    /* 45 steps per epoch: steps 1-15 probe 2 threads against 1, then the
     * rest runs on the winner; results stay correct either way */
    err e;
    nn_model *m = nn_model_new(tiny_arch, 1, &e);
    prog pg = {0};
    nn_train_cfg cfg = {.epochs = 2, .batch = 4, .optim = {.kind = NN_ADAMW},
                        .sched = {.kind = NN_SCHED_COSINE, .lr = 0.01f}, .seed = 5,
                        .train_aug = {.out_w = 8, .out_h = 8}, .val_aug = {.out_w = 8, .out_h = 8},
                        .auto_threads = true, .progress = on_prog, .progress_ud = &pg};
    nn_train_stats st;
    cr_assert_eq(nn_train_run(m, &cfg, fetch_quadrants, NULL, 180, fetch_quadrants, NULL, 40, &st,
                              &e),
                 0, "%s", e.msg);
    cr_expect(st.threads == 1 || st.threads == 2, "threads %d", st.threads);
    cr_expect_eq(st.step, 90);
    cr_expect_geq(st.val_acc, 0.9, "validation accuracy %f", st.val_acc);
    nn_model_free(m);
}

Test(nn_model, input_size_is_rewritten_and_saved, .init = setup)
{
    err e;
    nn_model *m = nn_model_new(tiny_arch, 7, &e);
    cr_assert_not_null(m, "%s", e.msg);
    cr_assert_eq(nn_model_set_input_size(m, 16, 12, &e), 0, "%s", e.msg);
    int c, h, w;
    nn_model_input(m, &c, &h, &w);
    cr_assert(c == 1 && h == 16 && w == 12, "%d %d %d", c, h, w);
    cr_assert_eq(m->nodes[1].h, 16); /* c1: 3x3, stride 1, padded */
    cr_assert_eq(m->nodes[4].w, 6);  /* c2: stride 2 */
    char path[] = "/tmp/nn_test_inXXXXXX";
    close(mkstemp(path));
    cr_assert_eq(nn_model_save(m, path, NULL, &e), 0, "%s", e.msg);
    nn_model *m2 = nn_model_load(path, NULL, &e);
    cr_assert_not_null(m2, "%s", e.msg);
    nn_model_input(m2, &c, &h, &w);
    cr_assert(c == 1 && h == 16 && w == 12, "%d %d %d", c, h, w);
    cr_assert_str_eq(nn_model_arch(m2), nn_model_arch(m));
    /* the same parameters: the same outputs on an input of the new size */
    nn_tensor *x = nn_tensor_new(2, 1, 16, 12);
    for (size_t i = 0; i < nn_tensor_numel(x); i++)
        x->data[i] = (float)((i * 37) % 11) / 5.0f - 1.0f;
    nn_session *s1 = nn_session_new(m, &e), *s2 = nn_session_new(m2, &e);
    const nn_tensor *y1 = nn_forward(s1, x, false, &e);
    cr_assert_not_null(y1, "%s", e.msg);
    float keep[8];
    memcpy(keep, y1->data, sizeof keep);
    const nn_tensor *y2 = nn_forward(s2, x, false, &e);
    cr_assert_not_null(y2, "%s", e.msg);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(keep[i], y2->data[i], "output %d: %g vs %g", i, keep[i], y2->data[i]);
    cr_assert_eq(nn_model_set_input_size(m, 0, 12, &e), -1);
    cr_assert_eq(e.code, ERR_INVALID);
    unlink(path);
    nn_session_free(s1);
    nn_session_free(s2);
    nn_tensor_free(x);
    nn_model_free(m);
    nn_model_free(m2);

    /* a linear layer on a flattened map: its weights depend on the size, refused, unchanged */
    const char *flat = "{\"format\":\"cvops-nn/1\",\"input\":{\"channels\":1,\"height\":8,"
                       "\"width\":8},\"nodes\":[{\"name\":\"c1\",\"op\":\"conv\",\"out\":2,"
                       "\"kernel\":3},{\"name\":\"fc\",\"op\":\"linear\",\"out\":3}]}";
    m = nn_model_new(flat, 1, &e);
    cr_assert_not_null(m, "%s", e.msg);
    cr_assert_eq(nn_model_set_input_size(m, 16, 16, &e), -1);
    cr_assert_eq(e.code, ERR_INVALID);
    cr_assert(strstr(e.msg, "node fc's parameters depend on the input size"), "%s", e.msg);
    nn_model_input(m, &c, &h, &w);
    cr_assert(h == 8 && w == 8);
    cr_assert_str_eq(nn_model_arch(m), flat);
    nn_model_free(m);
}
