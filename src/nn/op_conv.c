/*
 * op_conv.c - 2-D convolution (stride, padding, dilation, groups, so also
 * depthwise) on oneDNN, forward, backward-data and backward-weights.
 *
 * Layouts: source, weights and destination are created "any" and oneDNN
 * picks its blocked formats (nChw8c / OIhw8i8o on AVX2). The first training
 * plan moves the weights' storage to the chosen format once (so the
 * forward and backward-weights passes need no reorder each step); the
 * input is reordered only when the producer's layout differs.
 *
 * Inference plans fuse what follows a convolution when each link has a
 * single consumer: batch normalisation is folded into the weights and a
 * bias, a residual add becomes a "sum" post-op (the other addend is copied
 * into the destination first) and an activation becomes an eltwise
 * post-op. The fused nodes alias the convolution's output.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

typedef struct conv_st {
    dnnl_primitive_t fwd, bwd_d, bwd_w;
    nn_arg f_src, f_w, f_b, f_dst;
    nn_arg d_ddst, d_w, d_dsrc;
    nn_arg w_src, w_ddst, w_dw, w_db;
    /* inference fusion */
    int bn, add, act;         /* fused node indices, 0 when none */
    int add_other;            /* the other addend of a fused add */
    nn_arg add_in;            /* reorders the other addend into the output layout */
    nn_model *m;
    const nn_derived *dw;     /* inference weights (folded, in the primitive's layout) */
    dnnl_memory_desc_t bias_md;
    bool has_bias;
    /* GEMM (training, small maps) */
    nn_cgemm *cg;
    /* Winograd (inference, 3x3 stride 1) */
    nn_wino *wino;
    /* Winograd in training: forward, and backward-data as the convolution
     * of the output gradient with the flipped, transposed weights */
    nn_wino *twf, *twb;
    const nn_derived *dwf, *dwb;
    int act_code;
    float act_alpha;
} conv_st;

static void conv_free(void *p)
{
    conv_st *st = p;
    if (st->fwd)
        dnnl_primitive_destroy(st->fwd);
    if (st->bwd_d)
        dnnl_primitive_destroy(st->bwd_d);
    if (st->bwd_w)
        dnnl_primitive_destroy(st->bwd_w);
    nn_arg *args[] = {&st->f_src, &st->f_w,    &st->f_b,    &st->f_dst, &st->d_ddst,
                      &st->d_w,   &st->d_dsrc, &st->w_src, &st->w_ddst, &st->w_dw,
                      &st->w_db,  &st->add_in};
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++)
        nn_arg_free(args[i]);
    nn_derived_put(st->m, st->dw);
    nn_derived_put(st->m, st->dwf);
    nn_derived_put(st->m, st->dwb);
    nn_wino_free(st->wino);
    nn_wino_free(st->twf);
    nn_wino_free(st->twb);
    nn_cgemm_free(st->cg);
    free(st);
}

static dnnl_alg_kind_t act_alg(nn_op_kind k, float *alpha)
{
    *alpha = 0;
    switch (k) {
    case OP_RELU: return dnnl_eltwise_relu;
    case OP_LEAKY_RELU: return dnnl_eltwise_relu; /* alpha set by caller */
    case OP_SILU: *alpha = 1; return dnnl_eltwise_swish;
    case OP_SIGMOID: return dnnl_eltwise_logistic;
    default: return dnnl_alg_kind_undef;
    }
}

/* Finds what an inference plan can fuse after conv node i. */
static void find_fusion(const nn_model *m, int i, conv_st *st)
{
    int cur = i;
    int j = nn_sole_consumer(m, cur);
    if (j > 0 && m->nodes[j].op == OP_BN) {
        st->bn = j;
        cur = j;
        j = nn_sole_consumer(m, cur);
    }
    if (j > 0 && m->nodes[j].op == OP_ADD && m->nodes[j].nin == 2) {
        const nn_node *a = &m->nodes[j];
        int other = a->in[0] == cur ? a->in[1] : a->in[0];
        /* the other addend must be ready before this convolution runs */
        if (other < i && other != cur) {
            st->add = j;
            st->add_other = other;
            cur = j;
            j = nn_sole_consumer(m, cur);
        }
    }
    if (j > 0) {
        float al;
        if (act_alg(m->nodes[j].op, &al) != dnnl_alg_kind_undef)
            st->act = j;
    }
}

static int weights_md(const nn_node *nd, int ic, dnnl_memory_desc_t *md)
{
    if (nd->groups > 1) {
        dnnl_dims_t d = {nd->groups, nd->out / nd->groups, ic / nd->groups, nd->kh, nd->kw};
        return dnnl_memory_desc_init_by_tag(md, 5, d, dnnl_f32, dnnl_format_tag_any);
    }
    dnnl_dims_t d = {nd->out, ic, nd->kh, nd->kw};
    return dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, dnnl_format_tag_any);
}

/* The training path through conv_gemm.c, for maps of at most
 * NN_GEMM_CONV_MAX_PX outputs and kernels larger than 1x1. The weights are
 * used in their plain layout (the storage layout stays plain unless
 * another plan chose otherwise). Measured (one thread, CPU time, ResNet-18
 * at 64 px, batch 64): 2x2 maps took half oneDNN's time, 4x4 maps about
 * the same, 1x1 kernels longer. */
#define NN_GEMM_CONV_MAX_PX 8

static int gemm_build(nn_plan *pl, int i, nn_node *nd, conv_st *st, err *e)
{
    nn_pnode *p = &pl->pn[i];
    nn_pnode *pi = &pl->pn[nd->in[0]];
    st->cg = nn_cgemm_new(p->n, pi->c, pi->h, pi->w, nd->out, p->h, p->w, nd, pi->need_grad, e);
    if (!st->cg)
        return -1;
    dnnl_memory_desc_t xin, plain;
    dnnl_dims_t d = {pi->n, pi->c, pi->h, pi->w}, o = {p->n, p->c, p->h, p->w};
    dnnl_memory_desc_init_by_tag(&xin, 4, d, dnnl_f32, dnnl_nChw8c);
    dnnl_memory_desc_init_by_tag(&p->md, 4, o, dnnl_f32, dnnl_nChw8c);
    nn_param_plain_md(nd->wt, &plain);
    if (nn_arg_init(&st->f_src, DNNL_ARG_SRC, &xin, &pi->md, false, e) < 0 ||
        nn_arg_init(&st->f_w, DNNL_ARG_WEIGHTS, &plain, &nd->wt->md, false, e) < 0 ||
        nn_arg_init(&st->w_dw, DNNL_ARG_DIFF_WEIGHTS, &plain, &nd->wt->md, true, e) < 0 ||
        (pi->need_grad &&
         nn_arg_init(&st->d_dsrc, DNNL_ARG_DIFF_SRC, &xin, &pi->md, true, e) < 0))
        return -1;
    return 0;
}

/* Input of an argument: the user buffer, or its reordered copy. */
static const float *arg_in(dnnl_stream_t stream, nn_arg *a, const float *ptr, uint64_t version,
                           err *e)
{
    if (!a->differ)
        return ptr;
    if (!(version && a->seen_valid && a->seen_version == version)) {
        if (nn_reorder_run(stream, &a->ro, (void *)ptr, a->tmp, e) < 0)
            return NULL;
        dnnl_stream_wait(stream);
        a->seen_version = version;
        a->seen_valid = version != 0;
    }
    return a->tmp;
}

static int gemm_fwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    conv_st *st = pl->pn[i].st;
    const float *x = arg_in(s->stream, &st->f_src, pl->pn[nd->in[0]].out, 0, e);
    const float *w = x ? arg_in(s->stream, &st->f_w, nd->wt->buf[PB_DATA], nd->wt->version, e)
                       : NULL;
    if (!w)
        return -1;
    nn_cgemm_fwd(st->cg, x, w, nd->bias ? nd->bs->buf[PB_DATA] : NULL, pl->pn[i].out);
    return 0;
}

static int gemm_bwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    conv_st *st = p->st;
    int a = nd->in[0];
    const float *w = arg_in(s->stream, &st->f_w, nd->wt->buf[PB_DATA], nd->wt->version, e);
    if (!w)
        return -1;
    bool acc = false;
    float *t = st->cg && pl->pn[a].need_grad ? nn_grad_target(pl, a, &acc) : NULL;
    float *dx = t && st->d_dsrc.differ ? st->d_dsrc.tmp : t;
    float *dw = st->w_dw.differ ? st->w_dw.tmp : nd->wt->buf[PB_GRAD];
    nn_cgemm_bwd(st->cg, p->diff, w, dw, nd->bias ? nd->bs->buf[PB_GRAD] : NULL, dx);
    if (st->w_dw.differ &&
        nn_reorder_run(s->stream, &st->w_dw.ro, dw, nd->wt->buf[PB_GRAD], e) < 0)
        return -1;
    if (t && st->d_dsrc.differ && nn_reorder_run(s->stream, &st->d_dsrc.ro, dx, t, e) < 0)
        return -1;
    dnnl_stream_wait(s->stream);
    if (t)
        nn_grad_commit(pl, a, acc);
    return 0;
}

/* Winograd tile size for an output map, 0 for the direct convolution.
 * Measured on ResNet-18's 3x3 layers at batch 1, one thread, against
 * oneDNN's direct kernel: F(4x4) 0.6-0.8x the time on 56x56, 28x28 and
 * 14x14 maps, but 1.8x on 7x7 (4 tiles cannot amortise weights 4x the
 * direct ones), where F(2x2) is 0.85x. */
static int wino_tile(int n, int oh, int ow)
{
    int64_t t4 = (int64_t)n * ((oh + 3) / 4) * ((ow + 3) / 4);
    int64_t t2 = (int64_t)n * ((oh + 1) / 2) * ((ow + 1) / 2);
    return t4 >= 16 ? 4 : t2 >= 16 ? 2 : 0;
}

/* Training convolutions that also go through Winograd F(4x4): 3x3, stride
 * 1, maps of at least 8x8 (where it beat oneDNN's direct kernels), both
 * sides in nChw8c. The weights change every step, so their transform is
 * redone every step (cheap next to the convolution at these sizes). */
static bool train_wino_ok(const nn_node *nd, const nn_pnode *pi, const nn_pnode *p)
{
    if (!nn_wino_usable() || nd->kh != 3 || nd->kw != 3 || nd->sh != 1 || nd->sw != 1 ||
        nd->dh != 1 || nd->dw != 1 || nd->groups != 1 || pi->c % 8 != 0 || nd->out % 8 != 0 ||
        nd->ph > 2 || nd->pw > 2 || p->h * p->w < 64 || p->h != pi->h + 2 * nd->ph - 2 ||
        p->w != pi->w + 2 * nd->pw - 2 || wino_tile(p->n, p->h, p->w) != 4)
        return false;
    dnnl_memory_desc_t a, b;
    dnnl_dims_t da = {pi->n, pi->c, pi->h, pi->w}, db = {p->n, p->c, p->h, p->w};
    dnnl_memory_desc_init_by_tag(&a, 4, da, dnnl_f32, dnnl_nChw8c);
    dnnl_memory_desc_init_by_tag(&b, 4, db, dnnl_f32, dnnl_nChw8c);
    return nn_md_eq(&a, &pi->md) && nn_md_eq(&b, &p->md);
}

/* The inference path through wino.c: same fusions, no oneDNN primitive. */
static int wino_build(nn_session *s, nn_plan *pl, int i, conv_st *st, err *e)
{
    nn_model *m = s->m;
    nn_node *nd = &m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    nn_pnode *pi = &pl->pn[nd->in[0]];
    (void)s;
    int mt = wino_tile(p->n, p->h, p->w);
    st->wino = nn_wino_new(mt, p->n, pi->c, pi->h, pi->w, nd->out, p->h, p->w, nd->ph, nd->pw,
                           nn_wino_half_usable() && mt == 2, e);
    if (!st->wino)
        return -1;
    dnnl_memory_desc_t blk;
    dnnl_dims_t d = {pi->n, pi->c, pi->h, pi->w};
    dnnl_memory_desc_init_by_tag(&blk, 4, d, dnnl_f32, dnnl_nChw8c);
    dnnl_dims_t o = {p->n, p->c, p->h, p->w};
    dnnl_memory_desc_init_by_tag(&p->md, 4, o, dnnl_f32, dnnl_nChw8c);
    if (nn_arg_init(&st->f_src, DNNL_ARG_SRC, &blk, &pi->md, false, e) < 0)
        return -1;
    if (st->add && nn_arg_init(&st->add_in, DNNL_ARG_DST, &p->md, &pl->pn[st->add_other].md,
                               false, e) < 0)
        return -1;
    if (st->act) {
        nn_op_kind k = m->nodes[st->act].op;
        st->act_code = k == OP_SILU ? 2 : k == OP_SIGMOID ? 3 : 1;
        st->act_alpha = k == OP_LEAKY_RELU ? m->nodes[st->act].alpha : 0.0f;
    }
    if (st->bn)
        pl->pn[st->bn].fused_into = i;
    if (st->add)
        pl->pn[st->add].fused_into = i;
    if (st->act)
        pl->pn[st->act].fused_into = i;
    return 0;
}

typedef struct geom {
    dnnl_dims_t strides, dil, pad_l, pad_r;
} geom;

static bool is_ref(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
        return false;
    return strncmp(impl, "ref", 3) == 0;
}

/* A backward primitive descriptor (data: a = diff_src; weights: a = src,
 * w = diff_weights), first with the layouts the tensors already have (no
 * reorders at all), else with whatever oneDNN prefers. */
static dnnl_status_t bwd_pd(bool data, const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *w,
                            const dnnl_memory_desc_t *b, const dnnl_memory_desc_t *d,
                            const dnnl_memory_desc_t *a_any, const dnnl_memory_desc_t *w_any,
                            const dnnl_memory_desc_t *d_any, const geom *g,
                            const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *out)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        const dnnl_memory_desc_t *aa = attempt ? a_any : a, *ww = attempt ? w_any : w;
        const dnnl_memory_desc_t *dd = attempt ? d_any : d;
        dnnl_convolution_desc_t cd;
        dnnl_status_t rc =
            data ? dnnl_dilated_convolution_backward_data_desc_init(
                       &cd, dnnl_convolution_direct, aa, ww, dd, g->strides, g->dil, g->pad_l,
                       g->pad_r)
                 : dnnl_dilated_convolution_backward_weights_desc_init(
                       &cd, dnnl_convolution_direct, aa, ww, b, dd, g->strides, g->dil, g->pad_l,
                       g->pad_r);
        if (rc == dnnl_success)
            rc = dnnl_primitive_desc_create(out, &cd, NULL, nn_engine(), hint);
        if (rc == dnnl_success && attempt == 0 && is_ref(*out)) {
            dnnl_primitive_desc_destroy(*out);
            continue;
        }
        if (rc == dnnl_success || attempt == 1)
            return rc;
    }
    return dnnl_unimplemented;
}

static int conv_build(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_model *m = s->m;
    nn_node *nd = &m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    int a = nd->in[0];
    nn_pnode *pi = &pl->pn[a];
    conv_st *st = calloc(1, sizeof *st);
    if (!st)
        return err_set(e, ERR_INTERNAL, "out of memory");
    p->st = st;
    st->m = m;

    dnnl_memory_desc_t src_any, w_any, dst_any;
    nn_md_any(&src_any, pi->n, pi->c, pi->h, pi->w);
    nn_md_any(&dst_any, p->n, p->c, p->h, p->w);
    weights_md(nd, pi->c, &w_any);
    nn_md_vec(&st->bias_md, nd->out);
    dnnl_dims_t strides = {nd->sh, nd->sw}, dil = {nd->dh - 1, nd->dw - 1};
    dnnl_dims_t pad_l = {nd->ph, nd->pw};
    /* right padding that gives exactly the output size (floor semantics) */
    dnnl_dims_t pad_r = {(p->h - 1) * nd->sh + (nd->kh - 1) * nd->dh + 1 - pi->h - nd->ph,
                         (p->w - 1) * nd->sw + (nd->kw - 1) * nd->dw + 1 - pi->w - nd->pw};

    if (!pl->train)
        find_fusion(m, i, st);
    st->has_bias = nd->bias || st->bn;

    if (pl->train && nd->groups == 1 && p->h * p->w <= NN_GEMM_CONV_MAX_PX &&
        nd->kh * nd->kw > 1)
        return gemm_build(pl, i, nd, st, e);
    if (!pl->train && nn_wino_usable() && nd->kh == 3 && nd->kw == 3 && nd->sh == 1 &&
        nd->sw == 1 && nd->dh == 1 && nd->dw == 1 && nd->groups == 1 && pi->c % 8 == 0 &&
        nd->out % 8 == 0 && wino_tile(p->n, p->h, p->w))
        return wino_build(s, pl, i, st, e);

    dnnl_primitive_attr_t attr = NULL;
    if (st->add || st->act) {
        dnnl_post_ops_t po;
        NN_CHECK(dnnl_primitive_attr_create(&attr), "conv attributes");
        NN_CHECK(dnnl_post_ops_create(&po), "conv post-ops");
        if (st->add)
            dnnl_post_ops_append_sum(po, 1.0f);
        if (st->act) {
            float alpha;
            dnnl_alg_kind_t alg = act_alg(m->nodes[st->act].op, &alpha);
            if (m->nodes[st->act].op == OP_LEAKY_RELU)
                alpha = m->nodes[st->act].alpha;
            dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, 0.0f);
        }
        dnnl_primitive_attr_set_post_ops(attr, po);
        dnnl_post_ops_destroy(po);
    }

    dnnl_convolution_desc_t cd;
    NN_CHECK(dnnl_dilated_convolution_forward_desc_init(
                 &cd, pl->train ? dnnl_forward_training : dnnl_forward_inference,
                 dnnl_convolution_direct, &src_any, &w_any, st->has_bias ? &st->bias_md : NULL,
                 &dst_any, strides, dil, pad_l, pad_r),
             "convolution forward descriptor");
    dnnl_primitive_desc_t fpd;
    dnnl_status_t rc = dnnl_primitive_desc_create(&fpd, &cd, attr, nn_engine(), NULL);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    NN_CHECK(rc, "convolution forward");
    const dnnl_memory_desc_t *src_md = nn_pd_md(fpd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *w_md = nn_pd_md(fpd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *dst_md = nn_pd_md(fpd, dnnl_query_dst_md, 0);
    p->md = *dst_md;

    /* a training plan settles the weights' storage layout once */
    if (pl->train && !nd->wt->adopted) {
        if (nn_param_relayout(nd->wt, w_md, e) < 0)
            goto fail;
        nd->wt->adopted = true;
        m->layout_gen++;
    }
    rc = dnnl_primitive_create(&st->fwd, fpd);
    if (rc != dnnl_success) {
        nn_dnnl_err(e, rc, "convolution forward primitive");
        goto fail;
    }
    if (nn_arg_init(&st->f_src, DNNL_ARG_SRC, src_md, &pi->md, false, e) < 0 ||
        nn_arg_init(&st->f_dst, DNNL_ARG_DST, dst_md, dst_md, true, e) < 0)
        goto fail;
    /* training: the parameters (reordered when their layout differs);
     * inference: derived weights already in w_md (folded batch norm) */
    if (nn_arg_init(&st->f_w, DNNL_ARG_WEIGHTS, w_md, pl->train ? &nd->wt->md : w_md, false,
                    e) < 0)
        goto fail;
    if (st->has_bias && nn_arg_init(&st->f_b, DNNL_ARG_BIAS, &st->bias_md, NULL, false, e) < 0)
        goto fail;
    if (st->add && nn_arg_init(&st->add_in, DNNL_ARG_DST, dst_md, &pl->pn[st->add_other].md,
                               false, e) < 0)
        goto fail;
    /* mark the fused nodes: the session makes them aliases of this output */
    if (st->bn)
        pl->pn[st->bn].fused_into = i;
    if (st->add)
        pl->pn[st->add].fused_into = i;
    if (st->act)
        pl->pn[st->act].fused_into = i;

    if (pl->train) {
        geom g = {{strides[0], strides[1]}, {dil[0], dil[1]}, {pad_l[0], pad_l[1]},
                  {pad_r[0], pad_r[1]}};
        if (pi->need_grad) {
            dnnl_primitive_desc_t bpd;
            rc = bwd_pd(true, &pi->md, &nd->wt->md, NULL, &p->md, &src_any, &w_any, &dst_any,
                        &g, fpd, &bpd);
            if (rc != dnnl_success) {
                nn_dnnl_err(e, rc, "convolution backward data");
                goto fail;
            }
            rc = dnnl_primitive_create(&st->bwd_d, bpd);
            int r2 = 0;
            if (rc == dnnl_success)
                r2 = nn_arg_init(&st->d_ddst, DNNL_ARG_DIFF_DST,
                                 nn_pd_md(bpd, dnnl_query_diff_dst_md, 0), &p->md, false, e) ||
                     nn_arg_init(&st->d_w, DNNL_ARG_WEIGHTS,
                                 nn_pd_md(bpd, dnnl_query_weights_md, 0), &nd->wt->md, false, e) ||
                     nn_arg_init(&st->d_dsrc, DNNL_ARG_DIFF_SRC,
                                 nn_pd_md(bpd, dnnl_query_diff_src_md, 0), &pi->md, true, e);
            dnnl_primitive_desc_destroy(bpd);
            if (rc != dnnl_success) {
                nn_dnnl_err(e, rc, "convolution backward data primitive");
                goto fail;
            }
            if (r2)
                goto fail;
        }
        dnnl_primitive_desc_t wpd;
        rc = bwd_pd(false, &pi->md, &nd->wt->md, nd->bias ? &st->bias_md : NULL, &p->md, &src_any,
                    &w_any, &dst_any, &g, fpd, &wpd);
        if (rc != dnnl_success) {
            nn_dnnl_err(e, rc, "convolution backward weights");
            goto fail;
        }
        rc = dnnl_primitive_create(&st->bwd_w, wpd);
        int r2 = 0;
        if (rc == dnnl_success)
            r2 = nn_arg_init(&st->w_src, DNNL_ARG_SRC, nn_pd_md(wpd, dnnl_query_src_md, 0),
                             &pi->md, false, e) ||
                 nn_arg_init(&st->w_ddst, DNNL_ARG_DIFF_DST,
                             nn_pd_md(wpd, dnnl_query_diff_dst_md, 0), &p->md, false, e) ||
                 nn_arg_init(&st->w_dw, DNNL_ARG_DIFF_WEIGHTS,
                             nn_pd_md(wpd, dnnl_query_diff_weights_md, 0), &nd->wt->md, true,
                             e) ||
                 (nd->bias && nn_arg_init(&st->w_db, DNNL_ARG_DIFF_BIAS, &st->bias_md, NULL,
                                          true, e));
        dnnl_primitive_desc_destroy(wpd);
        if (rc != dnnl_success) {
            nn_dnnl_err(e, rc, "convolution backward weights primitive");
            goto fail;
        }
        if (r2)
            goto fail;
    }
    if (pl->train && train_wino_ok(nd, pi, p) &&
        !((st->twf = nn_wino_new(4, p->n, pi->c, pi->h, pi->w, nd->out, p->h, p->w, nd->ph,
                                 nd->pw, false, e)) &&
          (!pi->need_grad || (st->twb = nn_wino_new(4, p->n, nd->out, p->h, p->w, pi->c, pi->h,
                                                    pi->w, 2 - nd->ph, 2 - nd->pw, false,
                                                    e)))))
        goto fail;
    dnnl_primitive_desc_destroy(fpd);
    return 0;
fail:
    dnnl_primitive_desc_destroy(fpd);
    return -1;
}

static int wino_fwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_model *m = s->m;
    nn_node *nd = &m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    conv_st *st = p->st;
    const nn_derived *d = nn_derived_get(m, i, st->bn, nn_wino_kind(st->wino), NULL, st->dw, e);
    if (!d)
        return -1;
    st->dw = d;
    const float *src = pl->pn[nd->in[0]].out;
    if (st->f_src.differ) {
        if (nn_reorder_run(s->stream, &st->f_src.ro, (void *)src, st->f_src.tmp, e) < 0)
            return -1;
        src = st->f_src.tmp;
    }
    const float *res = NULL;
    if (st->add) {
        res = pl->pn[st->add_other].out;
        if (st->add_in.differ) {
            if (nn_reorder_run(s->stream, &st->add_in.ro, (void *)res, st->add_in.tmp, e) < 0)
                return -1;
            res = st->add_in.tmp;
        }
    }
    dnnl_stream_wait(s->stream);
    return nn_wino_run(st->wino, d->w, src, p->out, res, d->b, st->act_code, st->act_alpha, e);
}

static int conv_fwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_model *m = s->m;
    nn_node *nd = &m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    conv_st *st = p->st;
    if (st->wino)
        return wino_fwd(s, pl, i, e);
    if (st->cg)
        return gemm_fwd(s, pl, i, e);
    if (st->twf) {
        const nn_derived *d = nn_derived_get(m, i, 0, 4, NULL, st->dwf, e);
        if (!d)
            return -1;
        st->dwf = d;
        return nn_wino_run(st->twf, d->w, pl->pn[nd->in[0]].out, p->out, NULL, d->b, 0, 0, e);
    }
    nn_call c[4];
    int n = 0;
    c[n++] = (nn_call){&st->f_src, pl->pn[nd->in[0]].out, 0, false, false};
    if (!pl->train) { /* shared inference weights, batch norm folded in */
        const nn_derived *d = nn_derived_get(m, i, st->bn, 0, &st->f_w.want, st->dw, e);
        if (!d)
            return -1;
        st->dw = d;
        c[n++] = (nn_call){&st->f_w, d->w, 0, false, false};
        if (st->has_bias)
            c[n++] = (nn_call){&st->f_b, d->b, 0, false, false};
    } else {
        c[n++] = (nn_call){&st->f_w, nd->wt->buf[PB_DATA], nd->wt->version, false, false};
        if (nd->bias)
            c[n++] = (nn_call){&st->f_b, nd->bs->buf[PB_DATA], 0, false, false};
    }
    if (st->add) { /* the sum post-op adds what the destination holds */
        nn_pnode *po = &pl->pn[st->add_other];
        if (st->add_in.differ) {
            if (nn_reorder_run(s->stream, &st->add_in.ro, po->out, p->out, e) < 0)
                return -1;
        } else {
            memcpy(p->out, po->out, p->bytes);
        }
    }
    c[n++] = (nn_call){&st->f_dst, p->out, 0, true, false};
    return nn_execute(s->stream, st->fwd, c, n, e);
}

static int conv_bwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    conv_st *st = p->st;
    int a = nd->in[0];
    if (st->cg)
        return gemm_bwd(s, pl, i, e);
    if (st->twb) {
        const nn_derived *d = nn_derived_get(s->m, i, 0, -4, NULL, st->dwb, e);
        if (!d)
            return -1;
        st->dwb = d;
        bool acc;
        float *t = nn_grad_target(pl, a, &acc);
        if (nn_wino_run(st->twb, d->w, p->diff, t, NULL, NULL, 0, 0, e) < 0)
            return -1;
        nn_grad_commit(pl, a, acc);
    } else if (st->bwd_d) {
        bool acc;
        float *t = nn_grad_target(pl, a, &acc);
        nn_call c[3] = {{&st->d_ddst, p->diff, 0, false, false},
                        {&st->d_w, nd->wt->buf[PB_DATA], nd->wt->version, false, false},
                        {&st->d_dsrc, t, 0, true, false}};
        if (nn_execute(s->stream, st->bwd_d, c, 3, e) < 0)
            return -1;
        nn_grad_commit(pl, a, acc);
    }
    nn_call c[4] = {{&st->w_src, pl->pn[a].out, 0, false, false},
                    {&st->w_ddst, p->diff, 0, false, false},
                    {&st->w_dw, nd->wt->buf[PB_GRAD], 0, true, false},
                    {&st->w_db, nd->bias ? nd->bs->buf[PB_GRAD] : NULL, 0, true, false}};
    return nn_execute(s->stream, st->bwd_w, c, nd->bias ? 4 : 3, e);
}

const nn_op_impl nn_op_conv = {conv_build, conv_fwd, conv_bwd, conv_free};
