/*
 * graph.c - architectures as data: parsing the JSON graph, checking it,
 * inferring shapes, creating and initialising the parameters, and the
 * plain-layout views of parameters that checkpoints and tests use.
 *
 * The format (docs/nn.md has the full table):
 *
 *   {"format": "cvops-nn/1", "name": "...",
 *    "input": {"channels": 1, "height": 28, "width": 28, "mean": [0.29], "std": [0.35]},
 *    "nodes": [{"name": "c1", "op": "conv", "out": 32, "kernel": 3, "bias": false},
 *              {"name": "b1", "op": "bn"}, {"name": "r1", "op": "relu"}, ...,
 *              {"name": "sum", "op": "add", "inputs": ["r1", "c3"]}, ...]}
 *
 * A node's input defaults to the node before it ("input" for the first);
 * add and concat take "inputs". Names are unique; an input must name an
 * earlier node, so the order of "nodes" is an execution order and the graph
 * cannot have cycles. The last node is the output.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

static const char *const op_names[OP__COUNT] = {
    [OP_INPUT] = "input",     [OP_CONV] = "conv",         [OP_BN] = "bn",
    [OP_RELU] = "relu",       [OP_SILU] = "silu",         [OP_LEAKY_RELU] = "leaky_relu",
    [OP_SIGMOID] = "sigmoid", [OP_MAXPOOL] = "maxpool",   [OP_AVGPOOL] = "avgpool",
    [OP_GAP] = "gap",         [OP_LINEAR] = "linear",     [OP_DROPOUT] = "dropout",
    [OP_ADD] = "add",         [OP_CONCAT] = "concat",     [OP_UPSAMPLE] = "upsample",
};

const char *nn_op_name(nn_op_kind k) { return k < OP__COUNT ? op_names[k] : "?"; }

uint64_t nn_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* --- JSON helpers --------------------------------------------------------- */

/* An int or a [h, w] pair; absent keeps the defaults. */
static int get_pair(json_t *o, const char *key, int *a, int *b, int lo, int hi, const char *node,
                    err *e)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    json_int_t x, y;
    if (json_is_integer(v)) {
        x = y = json_integer_value(v);
    } else if (json_is_array(v) && json_array_size(v) == 2 &&
               json_is_integer(json_array_get(v, 0)) && json_is_integer(json_array_get(v, 1))) {
        x = json_integer_value(json_array_get(v, 0));
        y = json_integer_value(json_array_get(v, 1));
    } else {
        return err_set(e, ERR_INVALID, "node '%s': \"%s\" must be an integer or [h, w]", node,
                       key);
    }
    if (x < lo || x > hi || y < lo || y > hi)
        return err_set(e, ERR_INVALID, "node '%s': \"%s\" must be in [%d, %d]", node, key, lo,
                       hi);
    *a = (int)x;
    *b = (int)y;
    return 0;
}

static int get_int(json_t *o, const char *key, int *out, int lo, int hi, const char *node, err *e)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return err_set(e, ERR_INVALID, "node '%s': \"%s\" must be an integer in [%d, %d]", node,
                       key, lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_num(json_t *o, const char *key, float *out, double lo, double hi, const char *node,
                   err *e)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
        return err_set(e, ERR_INVALID, "node '%s': \"%s\" must be a number in [%g, %g]", node,
                       key, lo, hi);
    *out = (float)json_number_value(v);
    return 0;
}

static int get_bool(json_t *o, const char *key, bool *out, const char *node, err *e)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return err_set(e, ERR_INVALID, "node '%s': \"%s\" must be true or false", node, key);
    *out = json_is_true(v);
    return 0;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= NN_NAME_MAX)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return false;
    return true;
}

static int find_node(const nn_model *m, int upto, const char *name)
{
    for (int i = 0; i < upto; i++)
        if (strcmp(m->nodes[i].name, name) == 0)
            return i;
    return -1;
}

/* --- shapes ---------------------------------------------------------------- */

static int conv_out(int in, int k, int s, int p, int d)
{
    int span = d * (k - 1) + 1;
    if (in + 2 * p < span)
        return 0;
    return (in + 2 * p - span) / s + 1;
}

int nn_node_shape(const nn_model *m, int i, int *c, int *h, int *w, err *e)
{
    const nn_node *nd = &m->nodes[i];
    int a = nd->nin ? nd->in[0] : -1;
    int ic = a >= 0 ? c[a] : 0, ih = a >= 0 ? h[a] : 0, iw = a >= 0 ? w[a] : 0;
    switch (nd->op) {
    case OP_INPUT:
        return 0; /* set by the caller */
    case OP_CONV:
        if (ic % nd->groups != 0)
            return err_set(e, ERR_INVALID,
                           "node '%s': %d input channels are not divisible by groups=%d",
                           nd->name, ic, nd->groups);
        c[i] = nd->out;
        h[i] = conv_out(ih, nd->kh, nd->sh, nd->ph, nd->dh);
        w[i] = conv_out(iw, nd->kw, nd->sw, nd->pw, nd->dw);
        break;
    case OP_MAXPOOL:
    case OP_AVGPOOL:
        c[i] = ic;
        h[i] = conv_out(ih, nd->kh, nd->sh, nd->ph, 1);
        w[i] = conv_out(iw, nd->kw, nd->sw, nd->pw, 1);
        if (nd->ph * 2 > nd->kh || nd->pw * 2 > nd->kw)
            return err_set(e, ERR_INVALID, "node '%s': padding must be at most half the kernel",
                           nd->name);
        break;
    case OP_GAP:
        c[i] = ic;
        h[i] = w[i] = 1;
        break;
    case OP_LINEAR:
        c[i] = nd->out;
        h[i] = w[i] = 1;
        break;
    case OP_UPSAMPLE:
        c[i] = ic;
        h[i] = ih * nd->scale;
        w[i] = iw * nd->scale;
        break;
    case OP_ADD:
        for (int j = 1; j < nd->nin; j++) {
            int b = nd->in[j];
            if (c[b] != ic || h[b] != ih || w[b] != iw)
                return err_set(e, ERR_INVALID,
                               "node '%s': cannot add '%s' (%dx%dx%d) and '%s' (%dx%dx%d)",
                               nd->name, m->nodes[a].name, ic, ih, iw, m->nodes[b].name, c[b],
                               h[b], w[b]);
        }
        c[i] = ic;
        h[i] = ih;
        w[i] = iw;
        break;
    case OP_CONCAT:
        c[i] = 0;
        for (int j = 0; j < nd->nin; j++) {
            int b = nd->in[j];
            if (h[b] != ih || w[b] != iw)
                return err_set(e, ERR_INVALID,
                               "node '%s': cannot concatenate '%s' (%dx%d) and '%s' (%dx%d)",
                               nd->name, m->nodes[a].name, ih, iw, m->nodes[b].name, h[b], w[b]);
            c[i] += c[b];
        }
        h[i] = ih;
        w[i] = iw;
        break;
    default: /* shape-preserving */
        c[i] = ic;
        h[i] = ih;
        w[i] = iw;
        break;
    }
    if (h[i] < 1 || w[i] < 1)
        return err_set(e, ERR_INVALID,
                       "node '%s': input of %dx%d is too small (output would be empty)",
                       nd->name, ih, iw);
    if (c[i] > NN_MAX_DIM || h[i] > NN_MAX_DIM || w[i] > NN_MAX_DIM)
        return err_set(e, ERR_INVALID, "node '%s': output %dx%dx%d exceeds %d", nd->name, c[i],
                       h[i], w[i], NN_MAX_DIM);
    return 0;
}

/* --- parsing ----------------------------------------------------------------- */

static int parse_node(nn_model *m, int i, json_t *o, err *e)
{
    nn_node *nd = &m->nodes[i];
    if (!json_is_object(o))
        return err_set(e, ERR_INVALID, "nodes[%d] must be an object", i - 1);
    const char *name = json_string_value(json_object_get(o, "name"));
    const char *op = json_string_value(json_object_get(o, "op"));
    if (!name || !name_ok(name) || strcmp(name, "input") == 0)
        return err_set(e, ERR_INVALID,
                       "nodes[%d]: \"name\" must be 1-%d characters of [A-Za-z0-9_.-], not "
                       "\"input\"",
                       i - 1, NN_NAME_MAX - 1);
    if (find_node(m, i, name) >= 0)
        return err_set(e, ERR_INVALID, "node '%s' is defined twice", name);
    strcpy(nd->name, name);
    nd->op = OP__COUNT;
    for (int k = 1; k < OP__COUNT && op; k++)
        if (strcmp(op, op_names[k]) == 0)
            nd->op = (nn_op_kind)k;
    if (nd->op == OP__COUNT)
        return err_set(e, ERR_INVALID,
                       "node '%s': unknown op \"%s\" (conv, bn, relu, silu, leaky_relu, "
                       "sigmoid, maxpool, avgpool, gap, linear, dropout, add, concat, upsample)",
                       name, op ? op : "");

    /* inputs */
    json_t *ins = json_object_get(o, "inputs");
    json_t *in1 = json_object_get(o, "input");
    if (ins) {
        if (!json_is_array(ins) || json_array_size(ins) < 1 ||
            json_array_size(ins) > NN_MAX_INPUTS)
            return err_set(e, ERR_INVALID, "node '%s': \"inputs\" must be 1-%d node names", name,
                           NN_MAX_INPUTS);
        nd->nin = (int)json_array_size(ins);
        for (int j = 0; j < nd->nin; j++) {
            const char *s = json_string_value(json_array_get(ins, (size_t)j));
            int k = s ? find_node(m, i, s) : -1;
            if (k < 0)
                return err_set(e, ERR_INVALID,
                               "node '%s': input \"%s\" is not an earlier node", name,
                               s ? s : "?");
            nd->in[j] = k;
        }
    } else if (in1) {
        const char *s = json_string_value(in1);
        int k = s ? find_node(m, i, s) : -1;
        if (k < 0)
            return err_set(e, ERR_INVALID, "node '%s': input \"%s\" is not an earlier node", name,
                           s ? s : "?");
        nd->nin = 1;
        nd->in[0] = k;
    } else {
        nd->nin = 1;
        nd->in[0] = i - 1;
    }
    bool multi = nd->op == OP_ADD || nd->op == OP_CONCAT;
    if (multi && nd->nin < 2)
        return err_set(e, ERR_INVALID, "node '%s': %s needs at least 2 \"inputs\"", name, op);
    if (!multi && nd->nin != 1)
        return err_set(e, ERR_INVALID, "node '%s': %s takes one input", name, op);

    /* attributes with defaults */
    nd->kh = nd->kw = 3;
    nd->sh = nd->sw = 1;
    nd->dh = nd->dw = 1;
    nd->groups = 1;
    nd->bias = true;
    nd->include_pad = true;
    nd->alpha = 0.01f;
    nd->p = 0.5f;
    nd->eps = 1e-5f;
    nd->momentum = 0.1f;
    nd->scale = 2;
    strcpy(nd->init, "default");
    switch (nd->op) {
    case OP_CONV: {
        nd->out = -1;
        strcpy(nd->init, "kaiming");
        if (get_int(o, "out", &nd->out, 1, NN_MAX_DIM, name, e) < 0 ||
            get_pair(o, "kernel", &nd->kh, &nd->kw, 1, 64, name, e) < 0 ||
            get_pair(o, "stride", &nd->sh, &nd->sw, 1, 64, name, e) < 0 ||
            get_pair(o, "dilation", &nd->dh, &nd->dw, 1, 64, name, e) < 0)
            return -1;
        if (nd->out < 0)
            return err_set(e, ERR_INVALID, "node '%s': conv needs \"out\" (channels)", name);
        nd->ph = nd->dh * (nd->kh - 1) / 2;
        nd->pw = nd->dw * (nd->kw - 1) / 2;
        if (get_pair(o, "pad", &nd->ph, &nd->pw, 0, 256, name, e) < 0 ||
            get_int(o, "groups", &nd->groups, 1, NN_MAX_DIM, name, e) < 0 ||
            get_bool(o, "bias", &nd->bias, name, e) < 0)
            return -1;
        if (nd->out % nd->groups != 0)
            return err_set(e, ERR_INVALID, "node '%s': out=%d is not divisible by groups=%d",
                           name, nd->out, nd->groups);
        break;
    }
    case OP_LINEAR:
        nd->out = -1;
        if (get_int(o, "out", &nd->out, 1, NN_MAX_CLASSES, name, e) < 0 ||
            get_bool(o, "bias", &nd->bias, name, e) < 0)
            return -1;
        if (nd->out < 0)
            return err_set(e, ERR_INVALID, "node '%s': linear needs \"out\" (features)", name);
        break;
    case OP_BN:
        strcpy(nd->init, "ones");
        if (get_num(o, "eps", &nd->eps, 1e-12, 1, name, e) < 0 ||
            get_num(o, "momentum", &nd->momentum, 0, 1, name, e) < 0)
            return -1;
        break;
    case OP_LEAKY_RELU:
        if (get_num(o, "alpha", &nd->alpha, 0, 1, name, e) < 0)
            return -1;
        break;
    case OP_MAXPOOL:
    case OP_AVGPOOL:
        nd->kh = nd->kw = 2;
        nd->ph = nd->pw = 0;
        if (get_pair(o, "kernel", &nd->kh, &nd->kw, 1, 64, name, e) < 0)
            return -1;
        nd->sh = nd->kh;
        nd->sw = nd->kw;
        if (get_pair(o, "stride", &nd->sh, &nd->sw, 1, 64, name, e) < 0 ||
            get_pair(o, "pad", &nd->ph, &nd->pw, 0, 32, name, e) < 0 ||
            get_bool(o, "include_pad", &nd->include_pad, name, e) < 0)
            return -1;
        break;
    case OP_DROPOUT:
        if (get_num(o, "p", &nd->p, 0, 0.99, name, e) < 0)
            return -1;
        break;
    case OP_UPSAMPLE:
        if (get_int(o, "scale", &nd->scale, 1, 16, name, e) < 0)
            return -1;
        break;
    default:
        break;
    }
    json_t *init = json_object_get(o, "init");
    if (init) {
        const char *s = json_string_value(init);
        static const char *const ok[] = {"kaiming", "xavier", "default", "zeros", "ones"};
        bool found = false;
        for (size_t k = 0; s && k < sizeof ok / sizeof ok[0]; k++)
            if (strcmp(s, ok[k]) == 0)
                found = true;
        if (!found)
            return err_set(e, ERR_INVALID,
                           "node '%s': \"init\" must be kaiming, xavier, default, zeros or ones",
                           name);
        strcpy(nd->init, s);
    }
    return 0;
}

/* --- parameters ---------------------------------------------------------------- */

void nn_param_plain_md(const nn_param *p, dnnl_memory_desc_t *md)
{
    dnnl_dims_t d;
    if (p->ndim == 4 && p->groups > 1) {
        d[0] = p->groups;
        d[1] = p->shape[0] / p->groups;
        d[2] = p->shape[1];
        d[3] = p->shape[2];
        d[4] = p->shape[3];
        dnnl_memory_desc_init_by_tag(md, 5, d, dnnl_f32, dnnl_goihw);
        return;
    }
    static const dnnl_format_tag_t tags[] = {dnnl_format_tag_undef, dnnl_a, dnnl_ab, dnnl_abc,
                                             dnnl_abcd};
    for (int i = 0; i < p->ndim; i++)
        d[i] = p->shape[i];
    dnnl_memory_desc_init_by_tag(md, p->ndim, d, dnnl_f32, tags[p->ndim]);
}

static int add_param(nn_model *m, const nn_node *nd, const char *suffix, int ndim,
                     const int64_t *shape, bool trainable, bool decay, nn_param **out, err *e)
{
    nn_param *p = &m->params[m->nparams++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", nd->name, suffix);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    p->groups = (ndim == 4) ? nd->groups : 1;
    p->trainable = trainable;
    p->decay = decay;
    nn_param_plain_md(p, &p->md);
    p->bytes = nn_md_size(&p->md);
    p->buf[PB_DATA] = nn_alloc(p->bytes);
    if (!p->buf[PB_DATA])
        return err_set(e, ERR_INTERNAL, "out of memory for parameter %s", p->name);
    *out = p;
    return 0;
}

static void init_param(nn_param *p, const char *how, int64_t fan_in, int64_t fan_out,
                       uint64_t seed)
{
    nn_rng r;
    nn_rng_seed(&r, seed);
    float *d = p->buf[PB_DATA];
    if (strcmp(how, "zeros") == 0) {
        memset(d, 0, p->numel * sizeof(float));
    } else if (strcmp(how, "ones") == 0) {
        for (size_t i = 0; i < p->numel; i++)
            d[i] = 1.0f;
    } else if (strcmp(how, "kaiming") == 0) {
        /* He et al. 2015, normal, fan-out mode (as torchvision's ResNets) */
        double sd = sqrt(2.0 / (double)(fan_out > 0 ? fan_out : 1));
        for (size_t i = 0; i < p->numel; i++)
            d[i] = (float)(nn_rng_normal(&r) * sd);
    } else if (strcmp(how, "xavier") == 0) {
        double a = sqrt(6.0 / (double)(fan_in + fan_out));
        for (size_t i = 0; i < p->numel; i++)
            d[i] = (float)((2.0 * nn_rng_uniform(&r) - 1.0) * a);
    } else { /* "default": U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's layer default */
        double a = 1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1));
        for (size_t i = 0; i < p->numel; i++)
            d[i] = (float)((2.0 * nn_rng_uniform(&r) - 1.0) * a);
    }
    p->version++;
}

/* Creates the parameters of every node; c/h/w are the nominal shapes. */
static int make_params(nn_model *m, const int *c, const int *h, const int *w, uint64_t seed,
                       err *e)
{
    int count = 0;
    for (int i = 0; i < m->nnodes; i++) {
        const nn_node *nd = &m->nodes[i];
        if (nd->op == OP_CONV || nd->op == OP_LINEAR)
            count += nd->bias ? 2 : 1;
        else if (nd->op == OP_BN)
            count += 4;
    }
    m->params = calloc((size_t)(count ? count : 1), sizeof *m->params);
    m->param_names = calloc((size_t)(count ? count : 1), sizeof *m->param_names);
    if (!m->params || !m->param_names)
        return err_set(e, ERR_INTERNAL, "out of memory");
    uint64_t sx = seed;
    for (int i = 0; i < m->nnodes; i++) {
        nn_node *nd = &m->nodes[i];
        int a = nd->in[0];
        if (nd->op == OP_CONV) {
            int64_t sh[4] = {nd->out, c[a] / nd->groups, nd->kh, nd->kw};
            if (add_param(m, nd, "weight", 4, sh, true, true, &nd->wt, e) < 0)
                return -1;
            int64_t fan_in = sh[1] * nd->kh * nd->kw;
            int64_t fan_out = (int64_t)nd->out / nd->groups * nd->kh * nd->kw;
            if (strcmp(nd->init, "kaiming") == 0)
                fan_out = (int64_t)nd->out * nd->kh * nd->kw;
            init_param(nd->wt, nd->init, fan_in, fan_out, nn_splitmix64(&sx));
            if (nd->bias) {
                int64_t bs[1] = {nd->out};
                if (add_param(m, nd, "bias", 1, bs, true, false, &nd->bs, e) < 0)
                    return -1;
                init_param(nd->bs, strcmp(nd->init, "default") == 0 ? "default" : "zeros",
                           fan_in, fan_out, nn_splitmix64(&sx));
            }
        } else if (nd->op == OP_LINEAR) {
            int64_t in = (int64_t)c[a] * h[a] * w[a];
            int64_t sh[2] = {nd->out, in};
            if (add_param(m, nd, "weight", 2, sh, true, true, &nd->wt, e) < 0)
                return -1;
            init_param(nd->wt, nd->init, in, nd->out, nn_splitmix64(&sx));
            if (nd->bias) {
                int64_t bs[1] = {nd->out};
                if (add_param(m, nd, "bias", 1, bs, true, false, &nd->bs, e) < 0)
                    return -1;
                init_param(nd->bs, strcmp(nd->init, "default") == 0 ? "default" : "zeros", in,
                           nd->out, nn_splitmix64(&sx));
            }
        } else if (nd->op == OP_BN) {
            int64_t sh[1] = {c[a]};
            if (add_param(m, nd, "weight", 1, sh, true, false, &nd->wt, e) < 0 ||
                add_param(m, nd, "bias", 1, sh, true, false, &nd->bs, e) < 0 ||
                add_param(m, nd, "running_mean", 1, sh, false, false, &nd->rmean, e) < 0 ||
                add_param(m, nd, "running_var", 1, sh, false, false, &nd->rvar, e) < 0)
                return -1;
            init_param(nd->wt, strcmp(nd->init, "zeros") == 0 ? "zeros" : "ones", 0, 0, 0);
            init_param(nd->bs, "zeros", 0, 0, 0);
            init_param(nd->rmean, "zeros", 0, 0, 0);
            init_param(nd->rvar, "ones", 0, 0, 0);
        }
    }
    for (int i = 0; i < m->nparams; i++)
        m->param_names[i] = m->params[i].name;
    return 0;
}

/* --- the model ---------------------------------------------------------------- */

static int parse_input(nn_model *m, json_t *in, err *e)
{
    m->in_c = 3;
    m->in_h = m->in_w = 224;
    for (int k = 0; k < 4; k++) {
        m->mean[k] = 0.5f;
        m->std[k] = 0.25f;
    }
    if (!in)
        return 0;
    if (!json_is_object(in))
        return err_set(e, ERR_INVALID, "\"input\" must be an object");
    if (get_int(in, "channels", &m->in_c, 1, 4, "input", e) < 0 ||
        get_int(in, "height", &m->in_h, 1, NN_MAX_DIM, "input", e) < 0 ||
        get_int(in, "width", &m->in_w, 1, NN_MAX_DIM, "input", e) < 0)
        return -1;
    const char *keys[2] = {"mean", "std"};
    float *dst[2] = {m->mean, m->std};
    for (int k = 0; k < 2; k++) {
        json_t *a = json_object_get(in, keys[k]);
        if (!a)
            continue;
        if (!json_is_array(a) || json_array_size(a) < 1 || json_array_size(a) > 4)
            return err_set(e, ERR_INVALID, "input: \"%s\" must be an array of 1-4 numbers",
                           keys[k]);
        for (size_t j = 0; j < 4; j++) {
            json_t *v = json_array_get(a, j < json_array_size(a) ? j : json_array_size(a) - 1);
            if (!json_is_number(v))
                return err_set(e, ERR_INVALID, "input: \"%s\" must hold numbers", keys[k]);
            dst[k][j] = (float)json_number_value(v);
        }
        if (k == 1)
            for (int j = 0; j < 4; j++)
                if (!(m->std[j] > 0))
                    return err_set(e, ERR_INVALID, "input: \"std\" values must be > 0");
    }
    return 0;
}

nn_model *nn_model_new(const char *arch_json, uint64_t seed, err *e)
{
    if (!arch_json || strlen(arch_json) > NN_MAX_ARCH_BYTES) {
        err_set(e, ERR_TOO_LARGE, "architecture JSON is missing or above %d bytes",
                NN_MAX_ARCH_BYTES);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loads(arch_json, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        err_set(e, ERR_INVALID, "architecture JSON, line %d: %s", je.line, je.text);
        return NULL;
    }
    nn_model *m = calloc(1, sizeof *m);
    int *c = NULL, *h = NULL, *w = NULL;
    if (!m) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto fail;
    }
    pthread_mutex_init(&m->dlock, NULL);
    json_t *fmt = json_object_get(root, "format");
    if (fmt && (!json_is_string(fmt) || strcmp(json_string_value(fmt), "cvops-nn/1") != 0)) {
        err_set(e, ERR_UNSUPPORTED, "architecture format must be \"cvops-nn/1\"");
        goto fail;
    }
    if (parse_input(m, json_object_get(root, "input"), e) < 0)
        goto fail;
    json_t *nodes = json_object_get(root, "nodes");
    if (!json_is_array(nodes) || json_array_size(nodes) < 1 ||
        json_array_size(nodes) >= NN_MAX_NODES) {
        err_set(e, ERR_INVALID, "\"nodes\" must be an array of 1-%d nodes", NN_MAX_NODES - 1);
        goto fail;
    }
    m->nnodes = (int)json_array_size(nodes) + 1;
    m->nodes = calloc((size_t)m->nnodes, sizeof *m->nodes);
    c = calloc((size_t)m->nnodes, sizeof *c);
    h = calloc((size_t)m->nnodes, sizeof *h);
    w = calloc((size_t)m->nnodes, sizeof *w);
    m->arch = strdup(arch_json);
    if (!m->nodes || !c || !h || !w || !m->arch) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto fail;
    }
    strcpy(m->nodes[0].name, "input");
    m->nodes[0].op = OP_INPUT;
    c[0] = m->in_c;
    h[0] = m->in_h;
    w[0] = m->in_w;
    for (int i = 1; i < m->nnodes; i++) {
        if (parse_node(m, i, json_array_get(nodes, (size_t)i - 1), e) < 0 ||
            nn_node_shape(m, i, c, h, w, e) < 0)
            goto fail;
        nn_node *nd = &m->nodes[i];
        nd->c = c[i];
        nd->h = h[i];
        nd->w = w[i];
        for (int j = 0; j < nd->nin; j++)
            m->nodes[nd->in[j]].nconsumers++;
    }
    m->nodes[0].c = c[0];
    m->nodes[0].h = h[0];
    m->nodes[0].w = w[0];
    if (m->nodes[m->nnodes - 1].op == OP_INPUT) {
        err_set(e, ERR_INVALID, "the architecture has no layers");
        goto fail;
    }
    if (make_params(m, c, h, w, seed, e) < 0)
        goto fail;
    free(c);
    free(h);
    free(w);
    json_decref(root);
    return m;
fail:
    free(c);
    free(h);
    free(w);
    json_decref(root);
    nn_model_free(m);
    return NULL;
}

void nn_model_free(nn_model *m)
{
    if (!m)
        return;
    nn_derived_free_all(m);
    pthread_mutex_destroy(&m->dlock);
    for (int i = 0; i < m->nparams; i++)
        for (int k = 0; k < PB__COUNT; k++)
            free(m->params[i].buf[k]);
    free(m->params);
    free(m->param_names);
    free(m->nodes);
    for (int i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m->arch);
    free(m);
}

const char *nn_model_arch(const nn_model *m) { return m->arch; }

void nn_model_input(const nn_model *m, int *c, int *h, int *w)
{
    *c = m->in_c;
    *h = m->in_h;
    *w = m->in_w;
}

int nn_model_set_input_size(nn_model *m, int h, int w, err *e)
{
    if (h < 1 || w < 1 || h > NN_MAX_DIM || w > NN_MAX_DIM)
        return err_set(e, ERR_INVALID, "input size %dx%d: each side must be 1-%d", w, h,
                       NN_MAX_DIM);
    /* the nominal shapes at the new size; the parameters must not depend on it */
    int n = m->nnodes, rc = 0;
    int *c = calloc((size_t)n, sizeof *c), *hh = calloc((size_t)n, sizeof *hh),
        *ww = calloc((size_t)n, sizeof *ww);
    if (!c || !hh || !ww) rc = err_set(e, ERR_INTERNAL, "out of memory");
    if (rc == 0) {
        c[0] = m->in_c;
        hh[0] = h;
        ww[0] = w;
    }
    for (int i = 1; i < n && rc == 0; i++) {
        const nn_node *nd = &m->nodes[i];
        if (nn_node_shape(m, i, c, hh, ww, e) < 0) {
            rc = err_prefix(e, "input size %dx%d", w, h);
        } else if (c[i] != nd->c ||
                   (nd->op == OP_LINEAR && (hh[nd->in[0]] != m->nodes[nd->in[0]].h ||
                                            ww[nd->in[0]] != m->nodes[nd->in[0]].w))) {
            rc = err_set(e, ERR_INVALID,
                         "input size %dx%d: node %s's parameters depend on the input size", w, h,
                         nd->name);
        }
    }
    char *s = NULL;
    json_t *root = rc == 0 ? json_loads(m->arch, 0, NULL) : NULL;
    json_t *in = json_object_get(root, "input");
    if (root && !in) {
        in = json_object();
        json_object_set_new(root, "input", in);
        json_object_set_new(in, "channels", json_integer(m->in_c));
    }
    if (json_is_object(in)) {
        json_object_set_new(in, "height", json_integer(h));
        json_object_set_new(in, "width", json_integer(w));
        s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    }
    json_decref(root);
    if (rc == 0 && !s) rc = err_set(e, ERR_INTERNAL, "cannot rewrite the architecture's input");
    if (rc == 0) {
        free(m->arch);
        m->arch = s;
        m->in_h = h;
        m->in_w = w;
        for (int i = 0; i < n; i++) {
            m->nodes[i].h = hh[i];
            m->nodes[i].w = ww[i];
        }
    }
    free(c);
    free(hh);
    free(ww);
    return rc;
}

int nn_model_classes(const nn_model *m) { return m->nodes[m->nnodes - 1].c; }

void nn_model_norm(const nn_model *m, float mean[4], float std[4])
{
    memcpy(mean, m->mean, sizeof m->mean);
    memcpy(std, m->std, sizeof m->std);
}

size_t nn_model_param_count(const nn_model *m)
{
    size_t n = 0;
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].trainable)
            n += m->params[i].numel;
    return n;
}

int nn_model_set_labels(nn_model *m, const char *const *labels, int n, err *e)
{
    if (n < 0 || n > NN_MAX_CLASSES)
        return err_set(e, ERR_INVALID, "too many labels (%d)", n);
    char **l = calloc((size_t)(n ? n : 1), sizeof *l);
    if (!l)
        return err_set(e, ERR_INTERNAL, "out of memory");
    for (int i = 0; i < n; i++) {
        l[i] = strdup(labels[i] ? labels[i] : "");
        if (!l[i]) {
            for (int j = 0; j < i; j++)
                free(l[j]);
            free(l);
            return err_set(e, ERR_INTERNAL, "out of memory");
        }
    }
    for (int i = 0; i < m->nlabels; i++)
        free(m->labels[i]);
    free(m->labels);
    m->labels = l;
    m->nlabels = n;
    return 0;
}

const char *nn_model_label(const nn_model *m, int i)
{
    return i >= 0 && i < m->nlabels ? m->labels[i] : NULL;
}

int nn_sole_consumer(const nn_model *m, int i)
{
    if (m->nodes[i].nconsumers != 1)
        return -1;
    for (int j = i + 1; j < m->nnodes; j++)
        for (int k = 0; k < m->nodes[j].nin; k++)
            if (m->nodes[j].in[k] == i)
                return j;
    return -1;
}

nn_param *nn_model_param(const nn_model *m, const char *name)
{
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return &m->params[i];
    return NULL;
}

int nn_model_param_names(const nn_model *m, const char ***names, int *count)
{
    *names = m->param_names;
    *count = m->nparams;
    return 0;
}

/* --- layouts ---------------------------------------------------------------- */

int nn_param_to_plain(const nn_param *p, int which, float *dst, err *e)
{
    dnnl_memory_desc_t pl;
    nn_param_plain_md(p, &pl);
    if (!p->buf[which])
        return err_set(e, ERR_INTERNAL, "parameter %s has no buffer %d", p->name, which);
    return nn_reorder_once(&p->md, p->buf[which], &pl, dst, e);
}

int nn_param_from_plain(nn_param *p, int which, const float *src, err *e)
{
    dnnl_memory_desc_t pl;
    nn_param_plain_md(p, &pl);
    if (!p->buf[which]) {
        p->buf[which] = nn_alloc(p->bytes);
        if (!p->buf[which])
            return err_set(e, ERR_INTERNAL, "out of memory for %s", p->name);
    }
    if (nn_reorder_once(&pl, src, &p->md, p->buf[which], e) < 0)
        return -1;
    if (which == PB_DATA)
        p->version++;
    return 0;
}

int nn_param_relayout(nn_param *p, const dnnl_memory_desc_t *md, err *e)
{
    if (nn_md_eq(md, &p->md))
        return 0;
    size_t bytes = nn_md_size(md);
    float *nb[PB__COUNT] = {0};
    for (int k = 0; k < PB__COUNT; k++) {
        if (!p->buf[k])
            continue;
        nb[k] = nn_alloc(bytes);
        if (!nb[k] || nn_reorder_once(&p->md, p->buf[k], md, nb[k], e) < 0) {
            for (int j = 0; j <= k; j++)
                free(nb[j]);
            return nb[k] ? -1 : err_set(e, ERR_INTERNAL, "out of memory for %s", p->name);
        }
    }
    for (int k = 0; k < PB__COUNT; k++) {
        free(p->buf[k]);
        p->buf[k] = nb[k];
    }
    p->md = *md;
    p->bytes = bytes;
    p->version++;
    return 0;
}

size_t nn_model_param_numel(const nn_model *m, const char *name)
{
    nn_param *p = nn_model_param(m, name);
    return p ? p->numel : 0;
}

int nn_model_param_get(const nn_model *m, const char *name, float *out, size_t n, err *e)
{
    nn_param *p = nn_model_param(m, name);
    if (!p)
        return err_set(e, ERR_NOT_FOUND, "no parameter named %s", name);
    if (n != p->numel)
        return err_set(e, ERR_INVALID, "parameter %s has %zu values, not %zu", name, p->numel, n);
    return nn_param_to_plain(p, PB_DATA, out, e);
}

int nn_model_param_set(nn_model *m, const char *name, const float *in, size_t n, err *e)
{
    nn_param *p = nn_model_param(m, name);
    if (!p)
        return err_set(e, ERR_NOT_FOUND, "no parameter named %s", name);
    if (n != p->numel)
        return err_set(e, ERR_INVALID, "parameter %s has %zu values, not %zu", name, p->numel, n);
    return nn_param_from_plain(p, PB_DATA, in, e);
}
