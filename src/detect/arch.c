/*
 * arch.c - the detector's network, written as an nn architecture (JSON).
 *
 * YOLOv8's layout (Ultralytics, 2023) with plain convolutions:
 *
 *   backbone  conv 3x3/2 (P1), conv 3x3/2 (P2), C2f, conv/2 (P3), C2f,
 *             conv/2 (P4), C2f, conv/2 (P5), C2f, SPPF
 *   neck      FPN top-down (upsample, concat, C2f) to P3, then PAN
 *             bottom-up (conv/2, concat, C2f) to P4 and P5
 *   head      per level, decoupled: two conv 3x3 + a 1x1 to 4 box values,
 *             two conv 3x3 + a 1x1 to K class logits
 *
 * C2f splits the output of one 1x1 convolution into two halves; nn has no
 * split, so the halves are two 1x1 convolutions of the same input (the same
 * function, the same cost). nn models have a single output: each level's
 * head output (4 + K channels) is upsampled (nearest) to the stride-8 grid
 * and the three are concatenated, 3 * (4 + K) channels. The loss reads
 * level l's cell (i, j) at (i * 2^l, j * 2^l); the other copies get zero
 * gradient, and the backward of nearest upsampling sums them, so the
 * gradient is exact. The waste is small (the head outputs have few
 * channels); nn with several outputs would remove it.
 *
 * Sizes (width, depth multipliers as YOLOv8): nano 0.25 / 0.33,
 * small 0.5 / 0.33.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "detect/detect.h"

typedef struct gen {
    jw w;
    const char *act;
} gen;

static void node(gen *g, const char *name, const char *op, const char *input)
{
    jw_obj(&g->w);
    jw_kstr(&g->w, "name", name);
    jw_kstr(&g->w, "op", op);
    if (input) jw_kstr(&g->w, "input", input);
}

static void inputs(gen *g, const char *const *in, int n)
{
    jw_key(&g->w, "inputs");
    jw_arr(&g->w);
    for (int i = 0; i < n; i++)
        jw_str(&g->w, in[i]);
    jw_arr_end(&g->w);
}

/* conv + bn + activation; out receives the activation's name */
static void cbs(gen *g, const char *name, const char *input, int c, int k, int stride,
                char out[NN_NAME_MAX])
{
    char n[NN_NAME_MAX];
    node(g, name, "conv", input);
    jw_kint(&g->w, "out", c);
    jw_kint(&g->w, "kernel", k);
    if (stride != 1) jw_kint(&g->w, "stride", stride);
    jw_kbool(&g->w, "bias", false);
    jw_obj_end(&g->w);
    snprintf(n, sizeof n, "%s_bn", name);
    node(g, n, "bn", NULL);
    jw_kdbl(&g->w, "eps", 1e-3);
    jw_kdbl(&g->w, "momentum", 0.03);
    jw_obj_end(&g->w);
    snprintf(out, NN_NAME_MAX, "%s_act", name);
    node(g, out, g->act, NULL);
    if (strcmp(g->act, "leaky_relu") == 0) jw_kdbl(&g->w, "alpha", 0.1);
    jw_obj_end(&g->w);
}

/* C2f: a = 1x1(x), b = 1x1(x), n bottlenecks on b (3x3, 3x3, + b when
 * shortcut), 1x1 over concat(a, b, m1, ..., mn). */
static void c2f(gen *g, const char *name, const char *input, int c, int n, bool shortcut,
                char out[NN_NAME_MAX])
{
    int h = c / 2;
    char nm[NN_NAME_MAX], cat[NN_MAX_INPUTS][NN_NAME_MAX], y[NN_NAME_MAX], t[NN_NAME_MAX];
    const char *ins[NN_MAX_INPUTS];
    snprintf(nm, sizeof nm, "%s.a", name);
    cbs(g, nm, input, h, 1, 1, cat[0]);
    snprintf(nm, sizeof nm, "%s.b", name);
    cbs(g, nm, input, h, 1, 1, cat[1]);
    snprintf(y, sizeof y, "%s", cat[1]);
    for (int i = 0; i < n; i++) {
        snprintf(nm, sizeof nm, "%s.m%d.c1", name, i);
        cbs(g, nm, y, h, 3, 1, t);
        snprintf(nm, sizeof nm, "%s.m%d.c2", name, i);
        cbs(g, nm, t, h, 3, 1, t);
        if (shortcut) {
            snprintf(nm, sizeof nm, "%s.m%d.add", name, i);
            node(g, nm, "add", NULL);
            const char *two[2] = {t, y};
            inputs(g, two, 2);
            jw_obj_end(&g->w);
            snprintf(t, sizeof t, "%s", nm);
        }
        snprintf(cat[2 + i], sizeof cat[2 + i], "%s", t);
        snprintf(y, sizeof y, "%s", t);
    }
    for (int i = 0; i < n + 2; i++)
        ins[i] = cat[i];
    snprintf(nm, sizeof nm, "%s.cat", name);
    node(g, nm, "concat", NULL);
    inputs(g, ins, n + 2);
    jw_obj_end(&g->w);
    char nm2[NN_NAME_MAX];
    snprintf(nm2, sizeof nm2, "%s.out", name);
    cbs(g, nm2, nm, c, 1, 1, out);
}

static void concat2(gen *g, const char *name, const char *a, const char *b)
{
    node(g, name, "concat", NULL);
    const char *two[2] = {a, b};
    inputs(g, two, 2);
    jw_obj_end(&g->w);
}

static int chan(int c, float width)
{
    int v = (int)lroundf((float)c * width);
    v = (v + 4) / 8 * 8;
    return v < 8 ? 8 : v;
}

static int reps(int n, float depth)
{
    int v = (int)lroundf((float)n * depth);
    return v < 1 ? 1 : v;
}

int det_arch(const det_arch_opts *o, sbuf *out, err *e)
{
    const char *size = o->size ? o->size : "nano";
    float width, depth;
    if (strcmp(size, "nano") == 0 || strcmp(size, "n") == 0) {
        width = 0.25f;
        depth = 0.33f;
        size = "nano";
    } else if (strcmp(size, "small") == 0 || strcmp(size, "s") == 0) {
        width = 0.5f;
        depth = 0.33f;
        size = "small";
    } else {
        return err_set(e, ERR_INVALID, "unknown detector size '%s' (nano or small)", size);
    }
    if (o->classes < 1 || o->classes > DET_MAX_CLASSES)
        return err_set(e, ERR_INVALID, "a detector needs 1 to %d classes, got %d", DET_MAX_CLASSES,
                       o->classes);
    int iw = o->in_w ? o->in_w : 320, ih = o->in_h ? o->in_h : 320;
    if (iw % DET_STRIDE || ih % DET_STRIDE || iw < DET_STRIDE || ih < DET_STRIDE ||
        iw > DET_MAX_SIDE || ih > DET_MAX_SIDE)
        return err_set(e, ERR_INVALID,
                       "input %dx%d: sides must be multiples of %d between %d and %d", iw, ih,
                       DET_STRIDE, DET_STRIDE, DET_MAX_SIDE);
    const char *act = o->act ? o->act : "silu";
    if (strcmp(act, "silu") && strcmp(act, "relu") && strcmp(act, "leaky_relu"))
        return err_set(e, ERR_INVALID, "unknown activation '%s' (silu, relu, leaky_relu)", act);
    int K = o->classes;
    gen g = {.act = act};
    jw_init(&g.w, out);
    jw_obj(&g.w);
    jw_kstr(&g.w, "format", "cvops-nn/1");
    char name[64];
    snprintf(name, sizeof name, "det-%s", size);
    jw_kstr(&g.w, "name", name);
    jw_key(&g.w, "input");
    jw_obj(&g.w);
    jw_kint(&g.w, "channels", 3);
    jw_kint(&g.w, "height", ih);
    jw_kint(&g.w, "width", iw);
    jw_key(&g.w, "mean");
    jw_arr(&g.w);
    for (int i = 0; i < 3; i++)
        jw_dbl(&g.w, 0);
    jw_arr_end(&g.w);
    jw_key(&g.w, "std");
    jw_arr(&g.w);
    for (int i = 0; i < 3; i++)
        jw_dbl(&g.w, 1);
    jw_arr_end(&g.w);
    jw_obj_end(&g.w);
    jw_key(&g.w, "nodes");
    jw_arr(&g.w);

    char x[NN_NAME_MAX], p3[NN_NAME_MAX], p4[NN_NAME_MAX], p5[NN_NAME_MAX];
    char n4[NN_NAME_MAX], o3[NN_NAME_MAX], o4[NN_NAME_MAX], o5[NN_NAME_MAX];
    /* backbone */
    cbs(&g, "stem", "input", chan(64, width), 3, 2, x);
    cbs(&g, "down2", x, chan(128, width), 3, 2, x);
    c2f(&g, "stage2", x, chan(128, width), reps(3, depth), true, x);
    cbs(&g, "down3", x, chan(256, width), 3, 2, x);
    c2f(&g, "stage3", x, chan(256, width), reps(6, depth), true, p3);
    cbs(&g, "down4", p3, chan(512, width), 3, 2, x);
    c2f(&g, "stage4", x, chan(512, width), reps(6, depth), true, p4);
    cbs(&g, "down5", p4, chan(1024, width), 3, 2, x);
    c2f(&g, "stage5", x, chan(1024, width), reps(3, depth), true, x);
    /* SPPF: three chained 5x5 max pools, concatenated */
    char a[NN_NAME_MAX];
    cbs(&g, "sppf.c1", x, chan(1024, width) / 2, 1, 1, a);
    const char *pools[4] = {a, "sppf.p1", "sppf.p2", "sppf.p3"};
    for (int i = 1; i < 4; i++) {
        node(&g, pools[i], "maxpool", pools[i - 1]);
        jw_kint(&g.w, "kernel", 5);
        jw_kint(&g.w, "stride", 1);
        jw_kint(&g.w, "pad", 2);
        jw_obj_end(&g.w);
    }
    node(&g, "sppf.cat", "concat", NULL);
    inputs(&g, pools, 4);
    jw_obj_end(&g.w);
    cbs(&g, "sppf.c2", "sppf.cat", chan(1024, width), 1, 1, p5);
    /* neck: FPN down to P3, PAN back up */
    node(&g, "up4", "upsample", p5);
    jw_kint(&g.w, "scale", 2);
    jw_obj_end(&g.w);
    concat2(&g, "cat4", "up4", p4);
    c2f(&g, "neck4", "cat4", chan(512, width), reps(3, depth), false, n4);
    node(&g, "up3", "upsample", n4);
    jw_kint(&g.w, "scale", 2);
    jw_obj_end(&g.w);
    concat2(&g, "cat3", "up3", p3);
    c2f(&g, "out3", "cat3", chan(256, width), reps(3, depth), false, o3);
    cbs(&g, "pan4", o3, chan(256, width), 3, 2, x);
    concat2(&g, "pcat4", x, n4);
    c2f(&g, "out4", "pcat4", chan(512, width), reps(3, depth), false, o4);
    cbs(&g, "pan5", o4, chan(512, width), 3, 2, x);
    concat2(&g, "pcat5", x, p5);
    c2f(&g, "out5", "pcat5", chan(1024, width), reps(3, depth), false, o5);
    /* decoupled heads */
    int c3 = chan(256, width);
    int hb = c3 / 2 < 32 ? 32 : c3 / 2;                       /* box branch width */
    int hc = c3 < K ? (K < 128 ? (K + 7) / 8 * 8 : 128) : c3; /* class branch width */
    const char *lv[DET_LEVELS] = {o3, o4, o5};
    char heads[DET_LEVELS][NN_NAME_MAX];
    for (int l = 0; l < DET_LEVELS; l++) {
        char nm[NN_NAME_MAX], t[NN_NAME_MAX], box[NN_NAME_MAX], cls[NN_NAME_MAX];
        snprintf(nm, sizeof nm, "head%d.box0", l);
        cbs(&g, nm, lv[l], hb, 3, 1, t);
        snprintf(nm, sizeof nm, "head%d.box1", l);
        cbs(&g, nm, t, hb, 3, 1, t);
        snprintf(box, sizeof box, "head%d.box", l);
        node(&g, box, "conv", t);
        jw_kint(&g.w, "out", 4);
        jw_kint(&g.w, "kernel", 1);
        jw_kstr(&g.w, "init", "zeros");
        jw_obj_end(&g.w);
        snprintf(nm, sizeof nm, "head%d.cls0", l);
        cbs(&g, nm, lv[l], hc, 3, 1, t);
        snprintf(nm, sizeof nm, "head%d.cls1", l);
        cbs(&g, nm, t, hc, 3, 1, t);
        snprintf(cls, sizeof cls, "head%d.cls", l);
        node(&g, cls, "conv", t);
        jw_kint(&g.w, "out", K);
        jw_kint(&g.w, "kernel", 1);
        jw_kstr(&g.w, "init", "zeros");
        jw_obj_end(&g.w);
        snprintf(heads[l], sizeof heads[l], "head%d.out", l);
        concat2(&g, heads[l], box, cls);
        if (l > 0) {
            snprintf(nm, sizeof nm, "head%d.grid", l);
            node(&g, nm, "upsample", heads[l]);
            jw_kint(&g.w, "scale", 1 << l);
            jw_obj_end(&g.w);
            snprintf(heads[l], sizeof heads[l], "%s", nm);
        }
    }
    const char *hs[DET_LEVELS] = {heads[0], heads[1], heads[2]};
    node(&g, "output", "concat", NULL);
    inputs(&g, hs, DET_LEVELS);
    jw_obj_end(&g.w);
    jw_arr_end(&g.w);
    jw_obj_end(&g.w);
    if (sbuf_failed(out)) return err_set(e, ERR_INTERNAL, "out of memory");
    return 0;
}

int det_head_of(const nn_model *m, det_head *h, err *e)
{
    int c = nn_model_classes(m);
    if (c < 3 * 5 || c % 3 || c / 3 - 4 > DET_MAX_CLASSES)
        return err_set(e, ERR_INVALID,
                       "the model's output has %d channels; a detector has 3 x (4 + classes)", c);
    h->classes = c / 3 - 4;
    h->nlevels = DET_LEVELS;
    for (int l = 0; l < DET_LEVELS; l++)
        h->strides[l] = 8 << l;
    return 0;
}

nn_model *det_model_new(const det_arch_opts *o, const char *const *labels, uint64_t seed, err *e)
{
    sbuf b = SBUF_INIT;
    if (det_arch(o, &b, e) < 0) {
        sbuf_free(&b);
        return NULL;
    }
    nn_model *m = nn_model_new(sbuf_cstr(&b), seed, e);
    sbuf_free(&b);
    if (!m) return NULL;
    /* class prior 1%: the loss starts near the background's, not at log 2
     * per cell and class */
    float prior = logf(0.01f / 0.99f);
    float bias[DET_MAX_CLASSES];
    for (int k = 0; k < o->classes; k++)
        bias[k] = prior;
    for (int l = 0; l < DET_LEVELS; l++) {
        char nm[NN_NAME_MAX + 16];
        snprintf(nm, sizeof nm, "head%d.cls.bias", l);
        if (nn_model_param_set(m, nm, bias, (size_t)o->classes, e) < 0) {
            nn_model_free(m);
            return NULL;
        }
    }
    if (labels && nn_model_set_labels(m, labels, o->classes, e) < 0) {
        nn_model_free(m);
        return NULL;
    }
    return m;
}
