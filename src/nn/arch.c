/*
 * arch.c - the built-in architecture families, written as the same JSON
 * graphs a user could write by hand (so they are checkpointed, shown and
 * edited like any other).
 *
 *   cnn        stages of two conv3x3-BN-activation, max pooling between
 *              stages, global average pooling, a linear classifier. Widths
 *              32, 64, 128, ... times `width`. For small images.
 *   resnet     ResNet v1 with basic blocks (He et al. 2015): depth 10, 18
 *              or 34; stem "imagenet" (7x7/2 conv + 3x3/2 max pool) or
 *              "small" (3x3/1 conv); projection shortcuts (1x1 conv + BN)
 *              where the shape changes. Widths 64..512 times `width`.
 *   mobilenet  MobileNetV2-like inverted residual blocks (1x1 expand,
 *              3x3 depthwise, 1x1 linear projection, residual when shapes
 *              match); `width` scales channels, `depth` the blocks per
 *              stage; the activation is ReLU unless `act` says otherwise.
 *
 * The downsampling branch of a block is written before the main branch,
 * so an inference plan can fuse the residual add into the last conv.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/nn_impl.h"

typedef struct gen {
    jw w;
    char prev[NN_NAME_MAX];
    const char *act;
} gen;

static void node_begin(gen *g, const char *name, const char *op, const char *input)
{
    jw_obj(&g->w);
    jw_kstr(&g->w, "name", name);
    jw_kstr(&g->w, "op", op);
    if (input)
        jw_kstr(&g->w, "input", input);
    snprintf(g->prev, sizeof g->prev, "%s", name);
}

static void conv(gen *g, const char *name, const char *input, int out, int k, int stride,
                 int groups)
{
    node_begin(g, name, "conv", input);
    jw_kint(&g->w, "out", out);
    jw_kint(&g->w, "kernel", k);
    if (stride != 1)
        jw_kint(&g->w, "stride", stride);
    jw_kint(&g->w, "pad", (k - 1) / 2);
    if (groups != 1)
        jw_kint(&g->w, "groups", groups);
    jw_kbool(&g->w, "bias", false);
    jw_obj_end(&g->w);
}

static void simple(gen *g, const char *name, const char *op)
{
    node_begin(g, name, op, NULL);
    jw_obj_end(&g->w);
}

/* conv + bn (+ activation) */
static void cba(gen *g, const char *base, const char *input, int out, int k, int stride,
                int groups, bool act)
{
    char n[NN_NAME_MAX];
    snprintf(n, sizeof n, "%s", base);
    conv(g, n, input, out, k, stride, groups);
    snprintf(n, sizeof n, "%s_bn", base);
    simple(g, n, "bn");
    if (act) {
        snprintf(n, sizeof n, "%s_act", base);
        simple(g, n, g->act);
    }
}

static void head(gen *g, int classes, float dropout)
{
    simple(g, "gap", "gap");
    if (dropout > 0) {
        node_begin(g, "drop", "dropout", NULL);
        jw_kdbl(&g->w, "p", dropout);
        jw_obj_end(&g->w);
    }
    node_begin(g, "fc", "linear", NULL);
    jw_kint(&g->w, "out", classes);
    jw_obj_end(&g->w);
}

static int scaled(int c, float width)
{
    int v = (int)lroundf((float)c * width);
    v = (v + 4) / 8 * 8; /* multiples of 8: whole channel blocks */
    return v < 8 ? 8 : v;
}

static void gen_cnn(gen *g, const nn_arch_opts *o)
{
    int stages = o->depth > 0 ? o->depth : 3;
    char n[NN_NAME_MAX];
    for (int s = 0; s < stages; s++) {
        int c = scaled(32 << s, o->width);
        for (int j = 0; j < 2; j++) {
            snprintf(n, sizeof n, "s%d_c%d", s + 1, j + 1);
            cba(g, n, NULL, c, 3, 1, 1, true);
        }
        if (s + 1 < stages) {
            snprintf(n, sizeof n, "s%d_pool", s + 1);
            node_begin(g, n, "maxpool", NULL);
            jw_kint(&g->w, "kernel", 2);
            jw_obj_end(&g->w);
        }
    }
}

static void gen_resnet(gen *g, const nn_arch_opts *o, int *blocks)
{
    bool small = o->stem && strcmp(o->stem, "small") == 0;
    int c = scaled(64, o->width);
    if (small) {
        cba(g, "stem", NULL, c, 3, 1, 1, true);
    } else {
        cba(g, "stem", NULL, c, 7, 2, 1, true);
        node_begin(g, "pool", "maxpool", NULL);
        jw_kint(&g->w, "kernel", 3);
        jw_kint(&g->w, "stride", 2);
        jw_kint(&g->w, "pad", 1);
        jw_obj_end(&g->w);
    }
    int in = c;
    for (int s = 0; s < 4; s++) {
        int out = scaled(64 << s, o->width);
        for (int b = 0; b < blocks[s]; b++) {
            int stride = (s > 0 && b == 0) ? 2 : 1;
            char x[NN_NAME_MAX], sc[NN_NAME_MAX], n[NN_NAME_MAX], last[NN_NAME_MAX];
            snprintf(x, sizeof x, "%s", g->prev);
            snprintf(sc, sizeof sc, "%s", x);
            if (stride != 1 || in != out) {
                snprintf(n, sizeof n, "l%d_%d_down", s + 1, b);
                cba(g, n, x, out, 1, stride, 1, false);
                snprintf(sc, sizeof sc, "%s", g->prev);
            }
            snprintf(n, sizeof n, "l%d_%d_c1", s + 1, b);
            cba(g, n, x, out, 3, stride, 1, true);
            snprintf(n, sizeof n, "l%d_%d_c2", s + 1, b);
            cba(g, n, NULL, out, 3, 1, 1, false);
            snprintf(last, sizeof last, "%s", g->prev);
            snprintf(n, sizeof n, "l%d_%d_add", s + 1, b);
            node_begin(g, n, "add", NULL);
            jw_key(&g->w, "inputs");
            jw_arr(&g->w);
            jw_str(&g->w, last);
            jw_str(&g->w, sc);
            jw_arr_end(&g->w);
            jw_obj_end(&g->w);
            snprintf(n, sizeof n, "l%d_%d_act", s + 1, b);
            simple(g, n, g->act);
            in = out;
        }
    }
}

static void gen_mobilenet(gen *g, const nn_arch_opts *o)
{
    static const int cfg[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    bool small = o->stem && strcmp(o->stem, "small") == 0;
    int depth = o->depth > 0 ? o->depth : 4;
    int c = scaled(32, o->width);
    cba(g, "stem", NULL, c, 3, small ? 1 : 2, 1, true);
    int in = c, idx = 0;
    for (int s = 0; s < 7; s++) {
        int t = cfg[s][0], out = scaled(cfg[s][1], o->width);
        int n = (cfg[s][2] * depth + 3) / 4;
        for (int b = 0; b < n; b++) {
            int stride = b == 0 ? cfg[s][3] : 1;
            if (small && s == 1 && b == 0)
                stride = 1; /* keep resolution on small inputs */
            char x[NN_NAME_MAX], nm[NN_NAME_MAX], last[NN_NAME_MAX];
            snprintf(x, sizeof x, "%s", g->prev);
            int hid = in * t;
            if (t != 1) {
                snprintf(nm, sizeof nm, "b%d_exp", idx);
                cba(g, nm, NULL, hid, 1, 1, 1, true);
            }
            snprintf(nm, sizeof nm, "b%d_dw", idx);
            cba(g, nm, NULL, hid, 3, stride, hid, true);
            snprintf(nm, sizeof nm, "b%d_proj", idx);
            cba(g, nm, NULL, out, 1, 1, 1, false);
            snprintf(last, sizeof last, "%s", g->prev);
            if (stride == 1 && in == out) {
                snprintf(nm, sizeof nm, "b%d_add", idx);
                node_begin(g, nm, "add", NULL);
                jw_key(&g->w, "inputs");
                jw_arr(&g->w);
                jw_str(&g->w, last);
                jw_str(&g->w, x);
                jw_arr_end(&g->w);
                jw_obj_end(&g->w);
            }
            in = out;
            idx++;
        }
    }
    int last_c = o->width > 1 ? scaled(1280, o->width) : 1280;
    cba(g, "head", NULL, last_c, 1, 1, 1, true);
}

int nn_arch_builtin(const char *family, const nn_arch_opts *opts, sbuf *out, err *e)
{
    nn_arch_opts o = opts ? *opts : (nn_arch_opts){0};
    if (o.in_c == 0)
        o.in_c = 3;
    if (o.in_h == 0)
        o.in_h = 224;
    if (o.in_w == 0)
        o.in_w = o.in_h;
    if (o.classes == 0)
        o.classes = 10;
    if (o.width == 0)
        o.width = 1;
    const char *act = o.act ? o.act : "relu";
    if (o.in_c < 1 || o.in_c > 4 || o.in_h < 1 || o.in_w < 1 || o.in_h > NN_MAX_DIM ||
        o.in_w > NN_MAX_DIM)
        return err_set(e, ERR_INVALID, "input must be 1-4 channels of 1-%d px", NN_MAX_DIM);
    if (o.classes < 1 || o.classes > NN_MAX_CLASSES)
        return err_set(e, ERR_INVALID, "classes must be in [1, %d]", NN_MAX_CLASSES);
    if (!(o.width >= 0.125f && o.width <= 8))
        return err_set(e, ERR_INVALID, "width must be in [0.125, 8]");
    if (strcmp(act, "relu") != 0 && strcmp(act, "silu") != 0 && strcmp(act, "leaky_relu") != 0)
        return err_set(e, ERR_INVALID, "act must be relu, silu or leaky_relu");
    if (o.stem && strcmp(o.stem, "small") != 0 && strcmp(o.stem, "imagenet") != 0)
        return err_set(e, ERR_INVALID, "stem must be \"imagenet\" or \"small\"");
    if (!(o.dropout >= 0 && o.dropout < 1))
        return err_set(e, ERR_INVALID, "dropout must be in [0, 1)");
    int blocks[4];
    if (strcmp(family, "resnet") == 0) {
        int d = o.depth ? o.depth : 18;
        static const int b10[4] = {1, 1, 1, 1}, b18[4] = {2, 2, 2, 2}, b34[4] = {3, 4, 6, 3};
        const int *b = d == 10 ? b10 : d == 18 ? b18 : d == 34 ? b34 : NULL;
        if (!b)
            return err_set(e, ERR_INVALID, "resnet depth must be 10, 18 or 34");
        memcpy(blocks, b, sizeof blocks);
    } else if (strcmp(family, "cnn") == 0) {
        if (o.depth < 0 || o.depth > 6)
            return err_set(e, ERR_INVALID, "cnn depth (stages) must be in [1, 6]");
    } else if (strcmp(family, "mobilenet") == 0) {
        if (o.depth < 0 || o.depth > 16)
            return err_set(e, ERR_INVALID, "mobilenet depth must be in [1, 16]");
    } else {
        return err_set(e, ERR_NOT_FOUND,
                       "unknown architecture family \"%s\" (cnn, resnet, mobilenet)", family);
    }

    gen g = {.act = act};
    jw_init(&g.w, out);
    jw_obj(&g.w);
    jw_kstr(&g.w, "format", "cvops-nn/1");
    char name[64];
    if (strcmp(family, "resnet") == 0)
        snprintf(name, sizeof name, "resnet%d", o.depth ? o.depth : 18);
    else
        snprintf(name, sizeof name, "%s", family);
    jw_kstr(&g.w, "name", name);
    jw_key(&g.w, "input");
    jw_obj(&g.w);
    jw_kint(&g.w, "channels", o.in_c);
    jw_kint(&g.w, "height", o.in_h);
    jw_kint(&g.w, "width", o.in_w);
    const char *keys[2] = {"mean", "std"};
    for (int k = 0; k < 2; k++) {
        jw_key(&g.w, keys[k]);
        jw_arr(&g.w);
        for (int c = 0; c < o.in_c; c++) {
            float v = k == 0 ? o.mean[c] : o.std[c];
            if (k == 1 && v <= 0)
                v = 0.25f;
            if (k == 0 && o.std[0] <= 0)
                v = 0.5f;
            jw_dbl(&g.w, v);
        }
        jw_arr_end(&g.w);
    }
    jw_obj_end(&g.w);
    jw_key(&g.w, "nodes");
    jw_arr(&g.w);
    snprintf(g.prev, sizeof g.prev, "input");
    if (strcmp(family, "resnet") == 0)
        gen_resnet(&g, &o, blocks);
    else if (strcmp(family, "cnn") == 0)
        gen_cnn(&g, &o);
    else
        gen_mobilenet(&g, &o);
    head(&g, o.classes, o.dropout);
    jw_arr_end(&g.w);
    jw_obj_end(&g.w);
    if (sbuf_failed(out))
        return err_set(e, ERR_INTERNAL, "out of memory");
    return 0;
}
