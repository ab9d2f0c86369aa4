/*
 * op_linear.c - fully connected layer y = x W^T + b on OpenBLAS sgemm.
 *
 * The input is flattened in NCHW order (a blocked producer is reordered to
 * plain first), so the weights have PyTorch's (out, C*H*W) layout and stay
 * plain. The output is N x out x 1 x 1, plain.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/nn_impl.h"

typedef struct lin_st {
    nn_arg in;      /* producer layout -> plain */
    nn_arg gin;     /* plain gradient -> producer layout */
    float *gplain;  /* plain input gradient when the producer is blocked */
} lin_st;

static void lin_free(void *p)
{
    lin_st *st = p;
    nn_arg_free(&st->in);
    nn_arg_free(&st->gin);
    free(st->gplain);
    free(st);
}

static int lin_build(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    nn_pnode *pi = &pl->pn[nd->in[0]];
    int64_t in = (int64_t)pi->c * pi->h * pi->w;
    if (in != nd->wt->shape[1])
        return err_set(e, ERR_INVALID,
                       "linear layer takes %lld features but gets %dx%dx%d = %lld; use an "
                       "input of %dx%d or a gap node before it",
                       (long long)nd->wt->shape[1], pi->c, pi->h, pi->w, (long long)in,
                       s->m->in_h, s->m->in_w);
    lin_st *st = calloc(1, sizeof *st);
    if (!st)
        return err_set(e, ERR_INTERNAL, "out of memory");
    p->st = st;
    nn_md_plain(&p->md, p->n, p->c, 1, 1);
    dnnl_memory_desc_t plain;
    nn_md_plain(&plain, pi->n, pi->c, pi->h, pi->w);
    if (nn_arg_init(&st->in, DNNL_ARG_SRC, &plain, &pi->md, false, e) < 0)
        return -1;
    if (pl->train && pi->need_grad) {
        if (nn_arg_init(&st->gin, DNNL_ARG_DST, &plain, &pi->md, true, e) < 0)
            return -1;
        if (st->gin.differ && !(st->gplain = nn_alloc(nn_md_size(&plain))))
            return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return 0;
}

static int lin_fwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    lin_st *st = p->st;
    const float *x = pl->pn[nd->in[0]].out;
    if (st->in.differ) {
        if (nn_reorder_run(s->stream, &st->in.ro, (void *)x, st->in.tmp, e) < 0)
            return -1;
        dnnl_stream_wait(s->stream);
        x = st->in.tmp;
    }
    int n = p->n, f = nd->out, d = (int)nd->wt->shape[1];
    float *y = p->out;
    float beta = 0.0f;
    if (nd->bias) {
        const float *b = nd->bs->buf[PB_DATA];
        for (int r = 0; r < n; r++)
            memcpy(y + (size_t)r * f, b, (size_t)f * sizeof(float));
        beta = 1.0f;
    }
    nn_sgemm(false, true, n, f, d, x, d, nd->wt->buf[PB_DATA], d, beta, y, f);
    return 0;
}

static int lin_bwd(nn_session *s, nn_plan *pl, int i, err *e)
{
    nn_node *nd = &s->m->nodes[i];
    nn_pnode *p = &pl->pn[i];
    lin_st *st = p->st;
    int a = nd->in[0];
    int n = p->n, f = nd->out, d = (int)nd->wt->shape[1];
    const float *dy = p->diff;
    const float *x = st->in.differ ? st->in.tmp : pl->pn[a].out;
    /* dW = dy^T x, db = column sums of dy */
    nn_sgemm(true, false, f, d, n, dy, f, x, d, 0.0f, nd->wt->buf[PB_GRAD], d);
    if (nd->bias) {
        float *db = nd->bs->buf[PB_GRAD];
        memset(db, 0, (size_t)f * sizeof(float));
        for (int r = 0; r < n; r++)
            for (int k = 0; k < f; k++)
                db[k] += dy[(size_t)r * f + k];
    }
    bool acc;
    float *t = nn_grad_target(pl, a, &acc);
    if (!t)
        return 0;
    float *dx = st->gin.differ ? st->gplain : t;
    nn_sgemm(false, false, n, d, f, dy, f, nd->wt->buf[PB_DATA], d, 0.0f, dx, d);
    if (st->gin.differ && nn_reorder_run(s->stream, &st->gin.ro, dx, t, e) < 0)
        return -1;
    dnnl_stream_wait(s->stream);
    nn_grad_commit(pl, a, acc);
    return 0;
}

const nn_op_impl nn_op_linear = {lin_build, lin_fwd, lin_bwd, lin_free};
