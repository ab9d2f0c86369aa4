/*
 * op_misc.c - the layers without parameters: activations (ReLU, SiLU,
 * LeakyReLU, sigmoid), max/average/global-average pooling, nearest
 * upsampling (all oneDNN primitives in the producer's layout), and residual
 * add, channel concat and dropout.
 *
 * Add and dropout are element-wise loops over the buffer, whatever its
 * layout (blocked padding is zero and stays zero). Concat backward slices
 * the gradient with sub-memory views; when a slice does not fall on a
 * channel block the output is kept plain so every slice works.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

/* --- a one-primitive op (eltwise, pooling, resampling) -------------------- */

typedef struct prim_st {
    dnnl_primitive_t fwd, bwd;
    nn_arg src, dst, ws;
    nn_arg b_src, b_ddst, b_dsrc, b_ws;
    float *wsbuf;
    float *mask;  /* dropout */
    nn_arg *in;   /* add / concat: one per input */
    nn_arg *gin;  /* add: gradient to each input's layout */
    nn_reorder *slice; /* concat backward */
    int nin;
} prim_st;

static void prim_free(void *p)
{
    prim_st *st = p;
    if (st->fwd)
        dnnl_primitive_destroy(st->fwd);
    if (st->bwd)
        dnnl_primitive_destroy(st->bwd);
    nn_arg *args[] = {&st->src,  &st->dst,    &st->ws,    &st->b_src,
                      &st->b_ddst, &st->b_dsrc, &st->b_ws};
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++)
        nn_arg_free(args[i]);
    for (int i = 0; i < st->nin; i++) {
        if (st->in)
            nn_arg_free(&st->in[i]);
        if (st->gin)
            nn_arg_free(&st->gin[i]);
        if (st->slice)
            nn_reorder_free(&st->slice[i]);
    }
    free(st->in);
    free(st->gin);
    free(st->slice);
    free(st->wsbuf);
    free(st->mask);
    free(st);
}

static prim_st *prim_new(nn_pnode *p, err *e)
{
    prim_st *st = calloc(1, sizeof *st);
    if (!st)
        err_set(e, ERR_INTERNAL, "out of memory");
    p->st = st;
    return st;
}

/* Creates fwd (and, for training, bwd) from op descriptors already set up. */
static int make_prims(nn_plan *pl, prim_st *st, const void *fd, const void *bd,
                      dnnl_primitive_desc_t *fpd_out, dnnl_primitive_desc_t *bpd_out, err *e)
{
    NN_CHECK(dnnl_primitive_desc_create(fpd_out, fd, NULL, nn_engine(), NULL), "forward");
    dnnl_status_t rc = dnnl_primitive_create(&st->fwd, *fpd_out);
    if (rc != dnnl_success)
        return nn_dnnl_err(e, rc, "forward primitive");
    if (!pl->train || !bd)
        return 0;
    NN_CHECK(dnnl_primitive_desc_create(bpd_out, bd, NULL, nn_engine(), *fpd_out), "backward");
    rc = dnnl_primitive_create(&st->bwd, *bpd_out);
    if (rc != dnnl_success)
        return nn_dnnl_err(e, rc, "backward primitive");
    return 0;
}

/* --- activations ------------------------------------------------------------ */

static dnnl_alg_kind_t elt_alg(const nn_node *nd, float *alpha)
{
    *alpha = 0;
    switch (nd->op) {
    case OP_RELU: return dnnl_eltwise_relu;
    case OP_LEAKY_RELU: *alpha = nd->alpha; return dnnl_eltwise_relu;
    case OP_SILU: *alpha = 1; return dnnl_eltwise_swish;
    default: return dnnl_eltwise_logistic;
    }
}

static int elt_build(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    prim_st *st = prim_new(p, e);
    if (!st)
        return -1;
    p->md = pl->pn[nd->in[0]].md;
    float alpha;
    dnnl_alg_kind_t alg = elt_alg(nd, &alpha);
    dnnl_eltwise_desc_t fd, bd;
    NN_CHECK(dnnl_eltwise_forward_desc_init(
                 &fd, pl->train ? dnnl_forward_training : dnnl_forward_inference, alg, &p->md,
                 alpha, 0),
             "eltwise descriptor");
    NN_CHECK(dnnl_eltwise_backward_desc_init(&bd, alg, &p->md, &p->md, alpha, 0),
             "eltwise backward descriptor");
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
    int r = make_prims(pl, st, &fd, &bd, &fpd, &bpd, e);
    if (fpd)
        dnnl_primitive_desc_destroy(fpd);
    if (bpd)
        dnnl_primitive_desc_destroy(bpd);
    if (r < 0)
        return -1;
    if (nn_arg_init(&st->src, DNNL_ARG_SRC, &p->md, NULL, false, e) < 0 ||
        nn_arg_init(&st->dst, DNNL_ARG_DST, &p->md, NULL, true, e) < 0 ||
        nn_arg_init(&st->b_ddst, DNNL_ARG_DIFF_DST, &p->md, NULL, false, e) < 0 ||
        nn_arg_init(&st->b_dsrc, DNNL_ARG_DIFF_SRC, &p->md, NULL, true, e) < 0)
        return -1;
    return 0;
}

static int elt_fwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_pnode *p = &pl->pn[i];
    prim_st *st = p->st;
    nn_call c[2] = {{&st->src, pl->pn[s->m->nodes[i].in[0]].out, 0, false, false},
                    {&st->dst, p->out, 0, true, false}};
    return nn_execute(s->stream, st->fwd, c, 2, e);
}

static int elt_bwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_pnode *p = &pl->pn[i];
    prim_st *st = p->st;
    int a = s->m->nodes[i].in[0];
    bool acc;
    float *t = nn_grad_target(pl, a, &acc);
    if (!t)
        return 0;
    nn_call c[3] = {{&st->src, pl->pn[a].out, 0, false, false},
                    {&st->b_ddst, p->diff, 0, false, false},
                    {&st->b_dsrc, t, 0, true, false}};
    if (nn_execute(s->stream, st->bwd, c, 3, e) < 0)
        return -1;
    nn_grad_commit(pl, a, acc);
    return 0;
}

const nn_op_impl nn_op_eltwise = {elt_build, elt_fwd, elt_bwd, prim_free};

/* --- pooling -------------------------------------------------------------------- */

static int pool_build(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    nn_pnode *pi = &pl->pn[nd->in[0]];
    prim_st *st = prim_new(p, e);
    if (!st)
        return -1;
    dnnl_alg_kind_t alg;
    dnnl_dims_t k, str, pad_l, pad_r, dil = {0, 0};
    if (nd->op == OP_GAP) {
        alg = dnnl_pooling_avg_exclude_padding;
        k[0] = pi->h;
        k[1] = pi->w;
        str[0] = str[1] = 1;
        pad_l[0] = pad_l[1] = pad_r[0] = pad_r[1] = 0;
    } else {
        alg = nd->op == OP_MAXPOOL ? dnnl_pooling_max
              : nd->include_pad    ? dnnl_pooling_avg_include_padding
                                   : dnnl_pooling_avg_exclude_padding;
        k[0] = nd->kh;
        k[1] = nd->kw;
        str[0] = nd->sh;
        str[1] = nd->sw;
        pad_l[0] = nd->ph;
        pad_l[1] = nd->pw;
        pad_r[0] = (p->h - 1) * nd->sh + nd->kh - pi->h - nd->ph;
        pad_r[1] = (p->w - 1) * nd->sw + nd->kw - pi->w - nd->pw;
    }
    dnnl_memory_desc_t dst_any;
    nn_md_any(&dst_any, p->n, p->c, p->h, p->w);
    dnnl_pooling_v2_desc_t fd, bd;
    NN_CHECK(dnnl_pooling_v2_forward_desc_init(
                 &fd, pl->train ? dnnl_forward_training : dnnl_forward_inference, alg, &pi->md,
                 &dst_any, str, k, dil, pad_l, pad_r),
             "pooling descriptor");
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
    int r = 0;
    NN_CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, nn_engine(), NULL), "pooling forward");
    p->md = *nn_pd_md(fpd, dnnl_query_dst_md, 0);
    dnnl_status_t rc = dnnl_primitive_create(&st->fwd, fpd);
    if (rc != dnnl_success)
        r = nn_dnnl_err(e, rc, "pooling forward primitive");
    const dnnl_memory_desc_t *wmd = nn_pd_md(fpd, dnnl_query_workspace_md, 0);
    bool has_ws = pl->train && wmd && wmd->ndims > 0;
    if (!r && has_ws) {
        if (!(st->wsbuf = nn_alloc(nn_md_size(wmd))))
            r = err_set(e, ERR_INTERNAL, "out of memory");
        else
            r = nn_arg_init(&st->ws, DNNL_ARG_WORKSPACE, wmd, NULL, true, e);
    }
    if (!r && pl->train) {
        rc = dnnl_pooling_v2_backward_desc_init(&bd, alg, &pi->md, &p->md, str, k, dil, pad_l,
                                                pad_r);
        if (rc == dnnl_success)
            rc = dnnl_primitive_desc_create(&bpd, &bd, NULL, nn_engine(), fpd);
        if (rc == dnnl_success)
            rc = dnnl_primitive_create(&st->bwd, bpd);
        if (rc != dnnl_success)
            r = nn_dnnl_err(e, rc, "pooling backward");
    }
    if (!r)
        r = nn_arg_init(&st->src, DNNL_ARG_SRC, &pi->md, NULL, false, e) ||
            nn_arg_init(&st->dst, DNNL_ARG_DST, &p->md, NULL, true, e) ||
            nn_arg_init(&st->b_ddst, DNNL_ARG_DIFF_DST, &p->md, NULL, false, e) ||
            nn_arg_init(&st->b_dsrc, DNNL_ARG_DIFF_SRC, &pi->md, NULL, true, e);
    dnnl_primitive_desc_destroy(fpd);
    if (bpd)
        dnnl_primitive_desc_destroy(bpd);
    return r ? -1 : 0;
}

static int pool_fwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_pnode *p = &pl->pn[i];
    prim_st *st = p->st;
    nn_call c[3] = {{&st->src, pl->pn[s->m->nodes[i].in[0]].out, 0, false, false},
                    {&st->dst, p->out, 0, true, false},
                    {&st->ws, st->wsbuf, 0, true, false}};
    return nn_execute(s->stream, st->fwd, c, st->wsbuf ? 3 : 2, e);
}

static int pool_bwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_pnode *p = &pl->pn[i];
    prim_st *st = p->st;
    int a = s->m->nodes[i].in[0];
    bool acc;
    float *t = nn_grad_target(pl, a, &acc);
    if (!t)
        return 0;
    nn_call c[3] = {{&st->b_ddst, p->diff, 0, false, false},
                    {&st->b_dsrc, t, 0, true, false},
                    {&st->ws, st->wsbuf, 0, false, false}};
    if (nn_execute(s->stream, st->bwd, c, st->wsbuf ? 3 : 2, e) < 0)
        return -1;
    nn_grad_commit(pl, a, acc);
    return 0;
}

const nn_op_impl nn_op_pool = {pool_build, pool_fwd, pool_bwd, prim_free};

/* --- nearest upsampling ------------------------------------------------------- */

static int up_build(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    nn_pnode *pi = &pl->pn[nd->in[0]];
    prim_st *st = prim_new(p, e);
    if (!st)
        return -1;
    dnnl_memory_desc_t dst_any;
    nn_md_any(&dst_any, p->n, p->c, p->h, p->w);
    dnnl_resampling_desc_t fd, bd;
    NN_CHECK(dnnl_resampling_forward_desc_init(
                 &fd, pl->train ? dnnl_forward_training : dnnl_forward_inference,
                 dnnl_resampling_nearest, NULL, &pi->md, &dst_any),
             "resampling descriptor");
    dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
    NN_CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, nn_engine(), NULL), "resampling");
    p->md = *nn_pd_md(fpd, dnnl_query_dst_md, 0);
    int r = 0;
    dnnl_status_t rc = dnnl_primitive_create(&st->fwd, fpd);
    if (rc != dnnl_success)
        r = nn_dnnl_err(e, rc, "resampling primitive");
    if (!r && pl->train) {
        rc = dnnl_resampling_backward_desc_init(&bd, dnnl_resampling_nearest, NULL, &pi->md,
                                                &p->md);
        if (rc == dnnl_success)
            rc = dnnl_primitive_desc_create(&bpd, &bd, NULL, nn_engine(), fpd);
        if (rc == dnnl_success)
            rc = dnnl_primitive_create(&st->bwd, bpd);
        if (rc != dnnl_success)
            r = nn_dnnl_err(e, rc, "resampling backward");
    }
    if (!r)
        r = nn_arg_init(&st->src, DNNL_ARG_SRC, &pi->md, NULL, false, e) ||
            nn_arg_init(&st->dst, DNNL_ARG_DST, &p->md, NULL, true, e) ||
            nn_arg_init(&st->b_ddst, DNNL_ARG_DIFF_DST, &p->md, NULL, false, e) ||
            nn_arg_init(&st->b_dsrc, DNNL_ARG_DIFF_SRC, &pi->md, NULL, true, e);
    dnnl_primitive_desc_destroy(fpd);
    if (bpd)
        dnnl_primitive_desc_destroy(bpd);
    return r ? -1 : 0;
}

const nn_op_impl nn_op_upsample = {up_build, pool_fwd, pool_bwd, prim_free};

/* --- residual add ----------------------------------------------------------------- */

static int add_build(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    prim_st *st = prim_new(p, e);
    if (!st)
        return -1;
    p->md = pl->pn[nd->in[0]].md;
    st->nin = nd->nin;
    st->in = calloc((size_t)nd->nin, sizeof *st->in);
    st->gin = calloc((size_t)nd->nin, sizeof *st->gin);
    if (!st->in || !st->gin)
        return err_set(e, ERR_INTERNAL, "out of memory");
    for (int j = 0; j < nd->nin; j++) {
        const dnnl_memory_desc_t *h = &pl->pn[nd->in[j]].md;
        if (nn_arg_init(&st->in[j], DNNL_ARG_SRC, &p->md, h, false, e) < 0 ||
            (pl->train && nn_arg_init(&st->gin[j], DNNL_ARG_DST, &p->md, h, true, e) < 0))
            return -1;
    }
    return 0;
}

static int add_fwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    prim_st *st = p->st;
    size_t n = p->bytes / sizeof(float);
    const float *src[NN_MAX_INPUTS];
    for (int j = 0; j < nd->nin; j++) {
        nn_arg *a = &st->in[j];
        src[j] = pl->pn[nd->in[j]].out;
        if (a->differ) {
            if (nn_reorder_run(s->stream, &a->ro, (void *)src[j], a->tmp, e) < 0)
                return -1;
            src[j] = a->tmp;
        }
    }
    float *out = p->out;
    const float *a0 = src[0], *a1 = src[1];
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t k = 0; k < n; k++)
        out[k] = a0[k] + a1[k];
    for (int j = 2; j < nd->nin; j++)
        nn_add_inplace(out, src[j], n);
    return 0;
}

static int add_bwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    prim_st *st = p->st;
    for (int j = 0; j < nd->nin; j++) {
        int a = nd->in[j];
        bool acc;
        float *t = nn_grad_target(pl, a, &acc);
        if (!t)
            continue;
        if (st->gin[j].differ) {
            if (nn_reorder_run(s->stream, &st->gin[j].ro, p->diff, t, e) < 0)
                return -1;
        } else {
            memcpy(t, p->diff, p->bytes);
        }
        nn_grad_commit(pl, a, acc);
    }
    return 0;
}

const nn_op_impl nn_op_add = {add_build, add_fwd, add_bwd, prim_free};

/* --- concat ----------------------------------------------------------------------- */

static int concat_try(nn_session *s, nn_plan *pl, int i, bool plain, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    prim_st *st = p->st;
    dnnl_memory_desc_t srcs[NN_MAX_INPUTS], dst;
    for (int j = 0; j < nd->nin; j++)
        srcs[j] = pl->pn[nd->in[j]].md;
    if (plain)
        nn_md_plain(&dst, p->n, p->c, p->h, p->w);
    else
        nn_md_any(&dst, p->n, p->c, p->h, p->w);
    dnnl_primitive_desc_t pd;
    NN_CHECK(dnnl_concat_primitive_desc_create(&pd, &dst, nd->nin, 1, srcs, NULL, nn_engine()),
             "concat");
    p->md = *nn_pd_md(pd, dnnl_query_dst_md, 0);
    dnnl_status_t rc = dnnl_primitive_create(&st->fwd, pd);
    dnnl_primitive_desc_destroy(pd);
    NN_CHECK(rc, "concat primitive");
    st->nin = nd->nin;
    if (!st->in && !(st->in = calloc((size_t)nd->nin, sizeof *st->in)))
        return err_set(e, ERR_INTERNAL, "out of memory");
    for (int j = 0; j < nd->nin; j++)
        if (nn_arg_init(&st->in[j], DNNL_ARG_MULTIPLE_SRC + j, &srcs[j], NULL, false, e) < 0)
            return -1;
    if (nn_arg_init(&st->dst, DNNL_ARG_DST, &p->md, NULL, true, e) < 0)
        return -1;
    if (!pl->train)
        return 0;
    if (!(st->slice = calloc((size_t)nd->nin, sizeof *st->slice)))
        return err_set(e, ERR_INTERNAL, "out of memory");
    int off = 0;
    for (int j = 0; j < nd->nin; j++) {
        nn_pnode *pj = &pl->pn[nd->in[j]];
        dnnl_memory_desc_t sub;
        dnnl_dims_t dims = {p->n, pj->c, p->h, p->w}, offs = {0, off, 0, 0};
        off += pj->c;
        NN_CHECK(dnnl_memory_desc_init_submemory(&sub, &p->md, dims, offs), "concat slice");
        if (nn_reorder_init(&st->slice[j], &sub, &pj->md, false, e) < 0)
            return -1;
    }
    return 0;
}

static void concat_reset(prim_st *st)
{
    int nin = st->nin;
    if (st->fwd)
        dnnl_primitive_destroy(st->fwd);
    st->fwd = NULL;
    for (int j = 0; j < nin; j++) {
        if (st->in)
            nn_arg_free(&st->in[j]);
        if (st->slice)
            nn_reorder_free(&st->slice[j]);
    }
    free(st->slice);
    st->slice = NULL;
    nn_arg_free(&st->dst);
}

static int concat_build(nn_session *s, nn_plan *pl, int i, err *e)
{
    prim_st *st = prim_new(&pl->pn[i], e);
    if (!st)
        return -1;
    if (concat_try(s, pl, i, false, e) == 0)
        return 0;
    /* a blocked output whose slices are not block-aligned: keep it plain */
    concat_reset(st);
    return concat_try(s, pl, i, true, e);
}

static int concat_fwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    prim_st *st = p->st;
    nn_call c[NN_MAX_INPUTS + 1];
    for (int j = 0; j < nd->nin; j++)
        c[j] = (nn_call){&st->in[j], pl->pn[nd->in[j]].out, 0, false, false};
    c[nd->nin] = (nn_call){&st->dst, p->out, 0, true, false};
    return nn_execute(s->stream, st->fwd, c, nd->nin + 1, e);
}

static int concat_bwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    prim_st *st = p->st;
    for (int j = 0; j < nd->nin; j++) {
        int a = nd->in[j];
        bool acc;
        float *t = nn_grad_target(pl, a, &acc);
        if (!t)
            continue;
        if (nn_reorder_run(s->stream, &st->slice[j], p->diff, t, e) < 0)
            return -1;
        nn_grad_commit(pl, a, acc);
    }
    return 0;
}

const nn_op_impl nn_op_concat = {concat_build, concat_fwd, concat_bwd, prim_free};

/* --- dropout ---------------------------------------------------------------------- */

static int drop_build(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    prim_st *st = prim_new(p, e);
    if (!st)
        return -1;
    p->md = pl->pn[nd->in[0]].md;
    if (pl->train && !(st->mask = nn_alloc(nn_md_size(&p->md))))
        return err_set(e, ERR_INTERNAL, "out of memory");
    return 0;
}

#define DROP_CHUNK 4096

static int drop_fwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    prim_st *st = p->st;
    const float *in = pl->pn[nd->in[0]].out;
    size_t n = p->bytes / sizeof(float);
    if (!pl->train || nd->p <= 0) {
        memcpy(p->out, in, p->bytes);
        if (st->mask)
            for (size_t k = 0; k < n; k++)
                st->mask[k] = 1.0f;
        return 0;
    }
    uint64_t seed = nn_rng_next(&s->rng);
    float keep = 1.0f - nd->p, scale = 1.0f / keep;
    uint32_t thr = (uint32_t)((double)keep * 4294967296.0 > 4294967295.0
                                  ? 4294967295.0
                                  : (double)keep * 4294967296.0);
    size_t chunks = (n + DROP_CHUNK - 1) / DROP_CHUNK;
    float *out = p->out, *mask = st->mask;
    /* one generator per chunk: the same mask whatever the thread count */
#pragma omp parallel for schedule(static) if (chunks > 16)
    for (size_t ch = 0; ch < chunks; ch++) {
        nn_rng r;
        nn_rng_seed(&r, seed ^ (ch * 0x9e3779b97f4a7c15ULL));
        size_t end = (ch + 1) * DROP_CHUNK < n ? (ch + 1) * DROP_CHUNK : n;
        for (size_t k = ch * DROP_CHUNK; k < end; k++) {
            float mk = (uint32_t)(nn_rng_next(&r) >> 32) < thr ? scale : 0.0f;
            mask[k] = mk;
            out[k] = in[k] * mk;
        }
    }
    (void)e;
    return 0;
}

static int drop_bwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_pnode *p = &pl->pn[i];
    prim_st *st = p->st;
    int a = s->m->nodes[i].in[0];
    bool acc;
    float *t = nn_grad_target(pl, a, &acc);
    (void)e;
    if (!t)
        return 0;
    size_t n = p->bytes / sizeof(float);
    const float *d = p->diff, *mk = st->mask;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t k = 0; k < n; k++)
        t[k] = d[k] * mk[k];
    nn_grad_commit(pl, a, acc);
    return 0;
}

const nn_op_impl nn_op_dropout = {drop_build, drop_fwd, drop_bwd, prim_free};
