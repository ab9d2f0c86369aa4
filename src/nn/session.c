/*
 * session.c - running a model: plans per input shape, the forward pass,
 * the backward pass and gradient accumulation where a node feeds several
 * others (residual connections).
 *
 * A plan is built the first time a shape (N, C, H, W, train/eval) is seen
 * and kept (at most NN_MAX_PLANS, least recently used goes first): the
 * primitives are created once, the buffers allocated once, and each later
 * step only executes. A plan is rebuilt when a parameter changed layout
 * since it was made (model->layout_gen).
 *
 * Backward runs the nodes in reverse order. A node's gradient is complete
 * when all of its consumers (all later in the order) have run. The first
 * consumer writes it, the others add to it (through the plan scratch
 * buffer), tracked by diff_set.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/util.h"
#include "nn/nn_impl.h"

static const nn_op_impl *impl_of(nn_op_kind k)
{
    switch (k) {
    case OP_CONV: return &nn_op_conv;
    case OP_BN: return &nn_op_bn;
    case OP_RELU:
    case OP_SILU:
    case OP_LEAKY_RELU:
    case OP_SIGMOID: return &nn_op_eltwise;
    case OP_MAXPOOL:
    case OP_AVGPOOL:
    case OP_GAP: return &nn_op_pool;
    case OP_LINEAR: return &nn_op_linear;
    case OP_DROPOUT: return &nn_op_dropout;
    case OP_ADD: return &nn_op_add;
    case OP_CONCAT: return &nn_op_concat;
    case OP_UPSAMPLE: return &nn_op_upsample;
    default: return NULL;
    }
}

static void plan_free(const nn_model *m, nn_plan *pl)
{
    if (!pl)
        return;
    if (pl->pn) {
        for (int i = 0; i < m->nnodes; i++) {
            nn_pnode *p = &pl->pn[i];
            const nn_op_impl *op = impl_of(m->nodes[i].op);
            if (op && p->st)
                op->free(p->st);
            if (!p->alias) {
                free(p->out);
                free(p->diff);
            }
        }
    }
    free(pl->pn);
    nn_reorder_free(&pl->out_ro);
    free(pl->out_buf);
    free(pl->scratch);
    free(pl);
}

static nn_plan *plan_build(nn_session *s, const nn_tensor *x, bool train, err *e)
{
    nn_model *m = s->m;
    nn_plan *pl = calloc(1, sizeof *pl);
    int *c = calloc((size_t)m->nnodes, sizeof *c);
    int *h = calloc((size_t)m->nnodes, sizeof *h);
    int *w = calloc((size_t)m->nnodes, sizeof *w);
    if (!pl || !c || !h || !w || !(pl->pn = calloc((size_t)m->nnodes, sizeof *pl->pn))) {
        err_set(e, ERR_INTERNAL, "out of memory for a plan");
        goto fail;
    }
    pl->n = x->n;
    pl->c = x->c;
    pl->h = x->h;
    pl->w = x->w;
    pl->train = train;
    c[0] = x->c;
    h[0] = x->h;
    w[0] = x->w;
    for (int i = 1; i < m->nnodes; i++)
        if (nn_node_shape(m, i, c, h, w, e) < 0)
            goto fail;

    /* the input */
    nn_pnode *p0 = &pl->pn[0];
    p0->n = x->n;
    p0->c = x->c;
    p0->h = x->h;
    p0->w = x->w;
    nn_md_plain(&p0->md, x->n, x->c, x->h, x->w);
    p0->bytes = nn_md_size(&p0->md);
    if (!(p0->out = nn_alloc(p0->bytes))) {
        err_set(e, ERR_INTERNAL, "out of memory for the input");
        goto fail;
    }

    for (int i = 1; i < m->nnodes; i++) { /* shapes first: an op may look ahead */
        pl->pn[i].n = x->n;
        pl->pn[i].c = c[i];
        pl->pn[i].h = h[i];
        pl->pn[i].w = w[i];
    }
    for (int i = 1; i < m->nnodes; i++) {
        nn_node *nd = &m->nodes[i];
        nn_pnode *p = &pl->pn[i];
        if (train) {
            p->need_grad = nd->wt && nd->wt->trainable;
            for (int j = 0; j < nd->nin; j++)
                p->need_grad |= pl->pn[nd->in[j]].need_grad;
            if (p->need_grad && nd->wt && !nd->wt->buf[PB_GRAD]) {
                nn_param *ps[2] = {nd->wt, nd->bs};
                for (int k = 0; k < 2; k++)
                    if (ps[k] && !ps[k]->buf[PB_GRAD] &&
                        !(ps[k]->buf[PB_GRAD] = nn_alloc(ps[k]->bytes))) {
                        err_set(e, ERR_INTERNAL, "out of memory for gradients");
                        goto fail;
                    }
            }
        }
        if (p->fused_into > 0) { /* computed by an earlier node's primitive */
            nn_pnode *hd = &pl->pn[p->fused_into];
            p->md = hd->md;
            p->bytes = hd->bytes;
            p->out = hd->out;
            p->diff = hd->diff;
            p->alias = true;
            continue;
        }
        if (impl_of(nd->op)->build(s, pl, i, e) < 0) {
            err_prefix(e, "node '%s' (%s, input %dx%dx%dx%d)", nd->name, nn_op_name(nd->op),
                       x->n, c[nd->in[0]], h[nd->in[0]], w[nd->in[0]]);
            goto fail;
        }
        if (!p->alias) {
            p->bytes = nn_md_size(&p->md);
            p->out = nn_alloc(p->bytes);
            if (train && p->need_grad)
                p->diff = nn_alloc(p->bytes);
            if (!p->out || (train && p->need_grad && !p->diff)) {
                err_set(e, ERR_INTERNAL, "out of memory for node '%s' (%zu bytes)", nd->name,
                        p->bytes);
                goto fail;
            }
            if (p->bytes > pl->scratch_bytes)
                pl->scratch_bytes = p->bytes;
        }
    }
    if (train && !(pl->scratch = nn_alloc(pl->scratch_bytes))) {
        err_set(e, ERR_INTERNAL, "out of memory for the gradient scratch");
        goto fail;
    }

    /* the output, in plain layout */
    nn_pnode *po = &pl->pn[m->nnodes - 1];
    pl->out.n = po->n;
    pl->out.c = po->c;
    pl->out.h = po->h;
    pl->out.w = po->w;
    dnnl_memory_desc_t plain;
    nn_md_plain(&plain, po->n, po->c, po->h, po->w);
    pl->out_plain = nn_md_same_bytes(&plain, &po->md);
    if (!pl->out_plain) {
        if (nn_reorder_init(&pl->out_ro, &po->md, &plain, false, e) < 0)
            goto fail;
        if (!(pl->out_buf = nn_alloc(nn_md_size(&plain)))) {
            err_set(e, ERR_INTERNAL, "out of memory for the output");
            goto fail;
        }
    }
    pl->layout_gen = m->layout_gen;
    free(c);
    free(h);
    free(w);
    return pl;
fail:
    free(c);
    free(h);
    free(w);
    plan_free(m, pl);
    return NULL;
}

nn_session *nn_session_new(nn_model *m, err *e)
{
    nn_session *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    s->m = m;
    dnnl_status_t st = dnnl_stream_create(&s->stream, nn_engine(), dnnl_stream_default_flags);
    if (st != dnnl_success) {
        nn_dnnl_err(e, st, "creating a stream");
        free(s);
        return NULL;
    }
    nn_rng_seed(&s->rng, 0x5eed);
    return s;
}

void nn_session_free(nn_session *s)
{
    if (!s)
        return;
    for (int i = 0; i < NN_MAX_PLANS; i++)
        plan_free(s->m, s->plans[i]);
    dnnl_stream_destroy(s->stream);
    free(s->prof_fwd);
    free(s->prof_bwd);
    free(s->prof_cpu);
    free(s);
}

void nn_session_seed(nn_session *s, uint64_t seed) { nn_rng_seed(&s->rng, seed); }

void nn_session_set_threads(nn_session *s, int threads)
{
    if (threads < 0)
        threads = 0;
    if (threads == s->threads)
        return;
    /* oneDNN primitives are built for a thread count: drop the plans */
    for (int i = 0; i < NN_MAX_PLANS; i++) {
        plan_free(s->m, s->plans[i]);
        s->plans[i] = NULL;
    }
    s->last = NULL;
    s->threads = threads;
}

int nn_session_threads(const nn_session *s) { return s->threads > 0 ? s->threads : nn_threads(); }

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int nn_session_profile(nn_session *s, bool on, err *e)
{
    if (on && !s->prof_fwd) {
        s->prof_fwd = calloc((size_t)s->m->nnodes, sizeof(double));
        s->prof_bwd = calloc((size_t)s->m->nnodes, sizeof(double));
        s->prof_cpu = calloc((size_t)s->m->nnodes, sizeof(double));
        if (!s->prof_fwd || !s->prof_bwd || !s->prof_cpu)
            return err_set(e, ERR_INTERNAL, "out of memory");
    }
    s->profile = on;
    return 0;
}

void nn_session_profile_report(const nn_session *s, sbuf *out)
{
    const nn_model *m = s->m;
    if (!s->prof_fwd)
        return;
    int *order = malloc((size_t)m->nnodes * sizeof *order);
    if (!order)
        return;
    double total = 0;
    for (int i = 0; i < m->nnodes; i++) {
        order[i] = i;
        total += s->prof_fwd[i] + s->prof_bwd[i];
    }
    for (int i = 1; i < m->nnodes; i++) /* insertion sort, slowest first */
        for (int j = i; j > 0; j--) {
            int a = order[j - 1], b = order[j];
            if (s->prof_fwd[a] + s->prof_bwd[a] >= s->prof_fwd[b] + s->prof_bwd[b])
                break;
            order[j - 1] = b;
            order[j] = a;
        }
    sbuf_printf(out, "%-24s %-10s %10s %10s %10s %6s\n", "node", "op", "fwd ms", "bwd ms",
                "cpu ms", "share");
    for (int k = 0; k < m->nnodes; k++) {
        int i = order[k];
        double f = s->prof_fwd[i], b = s->prof_bwd[i];
        if (f + b <= 0)
            continue;
        sbuf_printf(out, "%-24s %-10s %10.3f %10.3f %10.3f %5.1f%%\n", m->nodes[i].name,
                    nn_op_name(m->nodes[i].op), f * 1e3, b * 1e3, s->prof_cpu[i] * 1e3,
                    100.0 * (f + b) / (total > 0 ? total : 1));
    }
    sbuf_printf(out, "total %.3f ms over the profiled passes\n", total * 1e3);
    free(order);
}

static nn_plan *plan_get(nn_session *s, const nn_tensor *x, bool train, err *e)
{
    int free_slot = -1, lru = 0;
    for (int i = 0; i < NN_MAX_PLANS; i++) {
        nn_plan *pl = s->plans[i];
        if (!pl) {
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        if (pl->layout_gen != s->m->layout_gen) { /* stale: parameters moved */
            if (s->last == pl)
                s->last = NULL;
            plan_free(s->m, pl);
            s->plans[i] = NULL;
            if (free_slot < 0)
                free_slot = i;
            continue;
        }
        if (pl->n == x->n && pl->c == x->c && pl->h == x->h && pl->w == x->w &&
            pl->train == train) {
            pl->used = ++s->tick;
            return pl;
        }
        if (s->plans[lru] == NULL || pl->used < s->plans[lru]->used)
            lru = i;
    }
    int slot = free_slot;
    if (slot < 0) {
        if (s->last == s->plans[lru])
            s->last = NULL;
        plan_free(s->m, s->plans[lru]);
        s->plans[lru] = NULL;
        slot = lru;
    }
    nn_plan *pl = plan_build(s, x, train, e);
    if (!pl)
        return NULL;
    /* building may have changed parameter layouts: drop the other plans */
    for (int i = 0; i < NN_MAX_PLANS; i++)
        if (s->plans[i] && s->plans[i]->layout_gen != s->m->layout_gen) {
            plan_free(s->m, s->plans[i]);
            s->plans[i] = NULL;
        }
    s->plans[slot] = pl;
    pl->used = ++s->tick;
    return pl;
}

const nn_tensor *nn_forward(nn_session *s, const nn_tensor *x, bool train, err *e)
{
    nn_model *m = s->m;
    if (x->n < 1 || x->c != m->in_c || x->h < 1 || x->w < 1 || x->h > NN_MAX_DIM ||
        x->w > NN_MAX_DIM) {
        err_set(e, ERR_INVALID, "input is %dx%dx%dx%d; the model takes N x %d x H x W", x->n,
                x->c, x->h, x->w, m->in_c);
        return NULL;
    }
    nn_apply_threads(s->threads);
    nn_plan *pl = plan_get(s, x, train, e);
    if (!pl)
        return NULL;
    s->last = pl;
    memcpy(pl->pn[0].out, x->data, nn_tensor_numel(x) * sizeof(float));
    for (int i = 1; i < m->nnodes; i++) {
        if (pl->pn[i].fused_into)
            continue;
        int64_t t0 = s->profile ? time_mono_ns() : 0;
        double c0 = s->profile ? cpu_now() : 0;
        if (impl_of(m->nodes[i].op)->fwd(s, pl, i, e) < 0) {
            err_prefix(e, "node '%s'", m->nodes[i].name);
            return NULL;
        }
        if (s->profile) {
            dnnl_stream_wait(s->stream);
            s->prof_fwd[i] += (double)(time_mono_ns() - t0) / 1e9;
            s->prof_cpu[i] += cpu_now() - c0;
        }
    }
    nn_pnode *po = &pl->pn[m->nnodes - 1];
    if (pl->out_plain) {
        pl->out.data = po->out;
    } else {
        if (nn_reorder_run(s->stream, &pl->out_ro, po->out, pl->out_buf, e) < 0)
            return NULL;
        pl->out.data = pl->out_buf;
    }
    dnnl_stream_wait(s->stream);
    return &pl->out;
}

float *nn_grad_target(nn_plan *pl, int j, bool *acc)
{
    nn_pnode *p = &pl->pn[j];
    if (!p->need_grad) {
        *acc = false;
        return NULL;
    }
    *acc = p->diff_set;
    return p->diff_set ? pl->scratch : p->diff;
}

void nn_grad_commit(nn_plan *pl, int j, bool acc)
{
    nn_pnode *p = &pl->pn[j];
    if (!p->need_grad)
        return;
    if (acc)
        nn_add_inplace(p->diff, pl->scratch, p->bytes / sizeof(float));
    p->diff_set = true;
}

int nn_backward(nn_session *s, const nn_tensor *dy, err *e)
{
    nn_model *m = s->m;
    nn_plan *pl = s->last;
    if (!pl || !pl->train)
        return err_set(e, ERR_INVALID, "nn_backward needs a training forward pass first");
    if (dy->n != pl->out.n || dy->c != pl->out.c || dy->h != pl->out.h || dy->w != pl->out.w)
        return err_set(e, ERR_INVALID, "output gradient is %dx%dx%dx%d, the output %dx%dx%dx%d",
                       dy->n, dy->c, dy->h, dy->w, pl->out.n, pl->out.c, pl->out.h, pl->out.w);
    nn_apply_threads(s->threads);
    int last = m->nnodes - 1;
    for (int i = 0; i < m->nnodes; i++)
        pl->pn[i].diff_set = false;
    nn_pnode *po = &pl->pn[last];
    if (!po->need_grad)
        return 0; /* nothing trainable */
    if (pl->out_plain) {
        memcpy(po->diff, dy->data, nn_tensor_numel(dy) * sizeof(float));
    } else {
        dnnl_memory_desc_t plain;
        nn_md_plain(&plain, dy->n, dy->c, dy->h, dy->w);
        if (nn_reorder_once(&plain, dy->data, &po->md, po->diff, e) < 0)
            return -1;
    }
    po->diff_set = true;
    for (int i = last; i >= 1; i--) {
        nn_node *nd = &m->nodes[i];
        nn_pnode *p = &pl->pn[i];
        if (!p->need_grad)
            continue;
        if (p->fused_into) { /* shares the head's gradient buffer */
            if (p->diff_set)
                pl->pn[p->fused_into].diff_set = true;
            continue;
        }
        if (!p->diff_set) { /* no path to the output: no gradient */
            if (nd->wt && nd->wt->buf[PB_GRAD])
                memset(nd->wt->buf[PB_GRAD], 0, nd->wt->bytes);
            if (nd->bs && nd->bs->buf[PB_GRAD])
                memset(nd->bs->buf[PB_GRAD], 0, nd->bs->bytes);
            continue;
        }
        int64_t t0 = s->profile ? time_mono_ns() : 0;
        double c0 = s->profile ? cpu_now() : 0;
        if (impl_of(nd->op)->bwd(s, pl, i, e) < 0) {
            err_prefix(e, "node '%s' (backward)", nd->name);
            return -1;
        }
        if (s->profile) {
            dnnl_stream_wait(s->stream);
            s->prof_bwd[i] += (double)(time_mono_ns() - t0) / 1e9;
            s->prof_cpu[i] += cpu_now() - c0;
        }
    }
    dnnl_stream_wait(s->stream);
    return 0;
}
