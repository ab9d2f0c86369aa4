/*
 * op_bn.c - batch normalisation over N, H, W per channel, on oneDNN.
 *
 * Training: batch statistics; the running mean and (unbiased) variance are
 * updated here with PyTorch's rule r = (1 - momentum) r + momentum b.
 * Evaluation: the running statistics. The layout is the producer's (no
 * reorder). When the only consumer is a ReLU, training plans use oneDNN's
 * fused BN+ReLU (one pass less each way; the ReLU node aliases this output
 * and its gradient buffer). Inference plans usually never run this: the
 * convolution before folds it.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

typedef struct bn_st {
    dnnl_primitive_t fwd, bwd;
    nn_arg src, dst, scale, shift, mean, var, ws;
    nn_arg b_src, b_ddst, b_dsrc, b_dscale, b_dshift;
    float *bmean, *bvar, *wsbuf;
    int relu;          /* fused ReLU node, 0 when none */
} bn_st;

static void bn_free(void *p)
{
    bn_st *st = p;
    if (st->fwd)
        dnnl_primitive_destroy(st->fwd);
    if (st->bwd)
        dnnl_primitive_destroy(st->bwd);
    nn_arg *args[] = {&st->src,   &st->dst,    &st->scale,  &st->shift,    &st->mean,
                      &st->var,   &st->ws,     &st->b_src,  &st->b_ddst,   &st->b_dsrc,
                      &st->b_dscale, &st->b_dshift};
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++)
        nn_arg_free(args[i]);
    free(st->bmean);
    free(st->bvar);
    free(st->wsbuf);
    free(st);
}

static int bn_build(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_model *m = s->m;
    nn_node *nd = &m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    nn_pnode *pi = &pl->pn[nd->in[0]];
    bn_st *st = calloc(1, sizeof *st);
    if (!st)
        return err_set(e, ERR_INTERNAL, "out of memory");
    p->st = st;
    p->md = pi->md;
    unsigned flags = dnnl_use_scale | dnnl_use_shift;
    if (!pl->train) {
        flags |= dnnl_use_global_stats;
    } else {
        int j = nn_sole_consumer(m, i);
        if (j > 0 && m->nodes[j].op == OP_RELU) {
            st->relu = j;
            flags |= dnnl_fuse_norm_relu;
        }
    }
    dnnl_batch_normalization_desc_t d;
    NN_CHECK(dnnl_batch_normalization_forward_desc_init(
                 &d, pl->train ? dnnl_forward_training : dnnl_forward_inference, &p->md, nd->eps,
                 flags),
             "batch norm descriptor");
    dnnl_primitive_desc_t pd;
    NN_CHECK(dnnl_primitive_desc_create(&pd, &d, NULL, nn_engine(), NULL), "batch norm forward");
    dnnl_status_t rc = dnnl_primitive_create(&st->fwd, pd);
    dnnl_memory_desc_t vec;
    nn_md_vec(&vec, p->c);
    int r = rc != dnnl_success ? nn_dnnl_err(e, rc, "batch norm forward primitive") : 0;
    if (!r)
        r = nn_arg_init(&st->src, DNNL_ARG_SRC, &p->md, NULL, false, e) ||
            nn_arg_init(&st->dst, DNNL_ARG_DST, &p->md, NULL, true, e) ||
            nn_arg_init(&st->scale, DNNL_ARG_SCALE, &vec, NULL, false, e) ||
            nn_arg_init(&st->shift, DNNL_ARG_SHIFT, &vec, NULL, false, e) ||
            nn_arg_init(&st->mean, DNNL_ARG_MEAN, &vec, NULL, !pl->train ? false : true, e) ||
            nn_arg_init(&st->var, DNNL_ARG_VARIANCE, &vec, NULL, !pl->train ? false : true, e);
    if (!r && st->relu) {
        const dnnl_memory_desc_t *wmd = nn_pd_md(pd, dnnl_query_workspace_md, 0);
        r = nn_arg_init(&st->ws, DNNL_ARG_WORKSPACE, wmd, NULL, true, e);
        if (!r && !(st->wsbuf = nn_alloc(nn_md_size(wmd))))
            r = err_set(e, ERR_INTERNAL, "out of memory");
    }
    if (!r && pl->train) {
        st->bmean = nn_alloc((size_t)p->c * sizeof(float));
        st->bvar = nn_alloc((size_t)p->c * sizeof(float));
        if (!st->bmean || !st->bvar)
            r = err_set(e, ERR_INTERNAL, "out of memory");
    }
    if (!r && pl->train) {
        dnnl_batch_normalization_desc_t bd;
        dnnl_primitive_desc_t bpd;
        unsigned bflags = dnnl_use_scale | dnnl_use_shift | (st->relu ? dnnl_fuse_norm_relu : 0);
        rc = dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &p->md, &p->md,
                                                         nd->eps, bflags);
        if (rc == dnnl_success)
            rc = dnnl_primitive_desc_create(&bpd, &bd, NULL, nn_engine(), pd);
        if (rc != dnnl_success) {
            r = nn_dnnl_err(e, rc, "batch norm backward");
        } else {
            rc = dnnl_primitive_create(&st->bwd, bpd);
            dnnl_primitive_desc_destroy(bpd);
            if (rc != dnnl_success)
                r = nn_dnnl_err(e, rc, "batch norm backward primitive");
        }
        if (!r)
            r = nn_arg_init(&st->b_src, DNNL_ARG_SRC, &p->md, NULL, false, e) ||
                nn_arg_init(&st->b_ddst, DNNL_ARG_DIFF_DST, &p->md, NULL, false, e) ||
                nn_arg_init(&st->b_dsrc, DNNL_ARG_DIFF_SRC, &p->md, NULL, true, e) ||
                nn_arg_init(&st->b_dscale, DNNL_ARG_DIFF_SCALE, &vec, NULL, true, e) ||
                nn_arg_init(&st->b_dshift, DNNL_ARG_DIFF_SHIFT, &vec, NULL, true, e);
    }
    dnnl_primitive_desc_destroy(pd);
    if (r)
        return -1;
    if (st->relu)
        pl->pn[st->relu].fused_into = i;
    return 0;
}

static int bn_fwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    bn_st *st = p->st;
    float *mean = pl->train ? st->bmean : nd->rmean->buf[PB_DATA];
    float *var = pl->train ? st->bvar : nd->rvar->buf[PB_DATA];
    nn_call c[7] = {{&st->src, pl->pn[nd->in[0]].out, 0, false, false},
                    {&st->dst, p->out, 0, true, false},
                    {&st->scale, nd->wt->buf[PB_DATA], 0, false, false},
                    {&st->shift, nd->bs->buf[PB_DATA], 0, false, false},
                    {&st->mean, mean, 0, pl->train, false},
                    {&st->var, var, 0, pl->train, false},
                    {&st->ws, st->wsbuf, 0, true, false}};
    if (nn_execute(s->stream, st->fwd, c, st->relu ? 7 : 6, e) < 0)
        return -1;
    if (pl->train) {
        float mo = nd->momentum;
        double cnt = (double)p->n * p->h * p->w;
        float unbias = cnt > 1 ? (float)(cnt / (cnt - 1)) : 1.0f;
        float *rm = nd->rmean->buf[PB_DATA], *rv = nd->rvar->buf[PB_DATA];
        for (int k = 0; k < p->c; k++) {
            rm[k] = (1 - mo) * rm[k] + mo * st->bmean[k];
            rv[k] = (1 - mo) * rv[k] + mo * st->bvar[k] * unbias;
        }
        nd->rmean->version++;
        nd->rvar->version++;
    }
    return 0;
}

static int bn_bwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    bn_st *st = p->st;
    int a = nd->in[0];
    if (st->relu && pl->pn[st->relu].diff_set)
        p->diff_set = true;
    bool acc = false;
    float *t = nn_grad_target(pl, a, &acc);
    if (!t)
        t = pl->scratch; /* the input needs no gradient; computed and dropped */
    nn_call c[10] = {{&st->b_src, pl->pn[a].out, 0, false, false},
                     {&st->mean, st->bmean, 0, false, false},
                     {&st->var, st->bvar, 0, false, false},
                     {&st->b_ddst, p->diff, 0, false, false},
                     {&st->scale, nd->wt->buf[PB_DATA], 0, false, false},
                     {&st->shift, nd->bs->buf[PB_DATA], 0, false, false},
                     {&st->b_dsrc, t, 0, true, false},
                     {&st->b_dscale, nd->wt->buf[PB_GRAD], 0, true, false},
                     {&st->b_dshift, nd->bs->buf[PB_GRAD], 0, true, false},
                     {&st->ws, st->wsbuf, 0, false, false}};
    /* mean/var/ws are outputs in the forward call; here they are inputs */
    if (nn_execute(s->stream, st->bwd, c, st->relu ? 10 : 9, e) < 0)
        return -1;
    nn_grad_commit(pl, a, acc);
    return 0;
}

const nn_op_impl nn_op_bn = {bn_build, bn_fwd, bn_bwd, bn_free};
