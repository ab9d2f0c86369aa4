/*
 * nn_impl.h - what the files of src/nn share and nobody else sees: the
 * model graph, parameters, per-shape plans and the oneDNN glue.
 *
 * Model: nodes in topological order (every input names an earlier node),
 * each with attributes and pointers to its parameters. Parameters live in
 * one array on the model; each has a storage layout (a oneDNN memory
 * descriptor). It starts plain (PyTorch order) and a training session may
 * switch it once to the blocked layout its convolution prefers; every
 * per-parameter buffer (value, gradient, optimizer moments, EMA) follows.
 *
 * Plan: for one input shape and mode (train/eval), per node: the output
 * layout and buffer, the gradient buffer, and the op's primitives. Layouts
 * are whatever the producing primitive chose ("any"); a consumer that wants
 * another layout gets a reorder in its own state (nn_arg), so reorders sit
 * only where layouts really change.
 */
#ifndef CVOPS_NN_NN_IMPL_H
#define CVOPS_NN_NN_IMPL_H

#include <dnnl.h>
#include <pthread.h>

#include "nn/nn.h"

/* for values only OpenMP clauses read (clang builds go without OpenMP) */
#define NN_UNUSED __attribute__((unused))

typedef enum {
    OP_INPUT,
    OP_CONV,
    OP_BN,
    OP_RELU,
    OP_SILU,
    OP_LEAKY_RELU,
    OP_SIGMOID,
    OP_MAXPOOL,
    OP_AVGPOOL,
    OP_GAP,
    OP_LINEAR,
    OP_DROPOUT,
    OP_ADD,
    OP_CONCAT,
    OP_UPSAMPLE,
    OP__COUNT
} nn_op_kind;

enum { PB_DATA, PB_GRAD, PB_M1, PB_M2, PB_EMA, PB__COUNT };

typedef struct nn_param {
    char name[NN_NAME_MAX + 16];
    int ndim;
    int64_t shape[4];        /* logical shape, PyTorch order */
    size_t numel;
    int groups;              /* conv weights: goihw storage when > 1 */
    dnnl_memory_desc_t md;   /* storage layout of every buffer below */
    size_t bytes;            /* dnnl_memory_desc_get_size(md) */
    float *buf[PB__COUNT];   /* value, gradient, optimizer moments, EMA */
    uint64_t version;        /* bumped on every change of the value */
    bool trainable;          /* false: running statistics */
    bool decay;              /* weight decay applies */
    bool adopted;            /* layout already chosen by a training plan */
} nn_param;

typedef struct nn_node {
    char name[NN_NAME_MAX];
    nn_op_kind op;
    int nin;
    int in[NN_MAX_INPUTS];
    /* attributes */
    int out;                         /* conv: out channels; linear: features */
    int kh, kw, sh, sw, ph, pw, dh, dw; /* dilation dh/dw as in PyTorch (1 = none) */
    int groups;
    bool bias;
    bool include_pad;                /* avgpool */
    float alpha;                     /* leaky_relu slope */
    float p;                         /* dropout */
    float eps, momentum;             /* bn */
    int scale;                       /* upsample */
    char init[16];                   /* "kaiming", "xavier", "zeros" */
    /* nominal output shape (for the architecture's input size) */
    int c, h, w;
    int nconsumers;
    nn_param *wt, *bs, *rmean, *rvar; /* bn: wt = gamma, bs = beta */
} nn_node;

/* Inference weights derived from parameters (derived.c). */
typedef struct nn_derived {
    int node, bn;          /* conv node, folded batch-norm node (0: none) */
    int kind;              /* 0: direct, in layout md; > 0: nn_wino_kind (< 0: -tile, backward) */
    dnnl_memory_desc_t md;
    uint64_t key[5];       /* parameter versions it was computed from */
    float *w, *b;          /* weights; bias (folded or copied), NULL when none */
    int refs;
} nn_derived;

struct nn_model {
    char *arch;                /* JSON text */
    int in_c, in_h, in_w;
    float mean[4], std[4];
    int nnodes;
    nn_node *nodes;
    int nparams;
    nn_param *params;
    const char **param_names;  /* for nn_model_param_names */
    int nlabels;
    char **labels;
    uint64_t layout_gen;       /* bumped when any parameter changes layout */
    pthread_mutex_t dlock;     /* guards dv */
    nn_derived **dv;
    int ndv, capdv;
};

/* --- shapes and graph (graph.c) --------------------------------------- */

/* Output c/h/w of node i given its inputs' shapes in c[], h[], w[] (indexed
 * by node). */
int nn_node_shape(const nn_model *m, int i, int *c, int *h, int *w, err *e);
nn_param *nn_model_param(const nn_model *m, const char *name);
/* The only node that consumes node i (once), or -1. */
int nn_sole_consumer(const nn_model *m, int i);
const char *nn_op_name(nn_op_kind k);
/* Reads a parameter's value into plain layout (dst: numel floats) or
 * writes it back, reordering from/to the storage layout. */
int nn_param_to_plain(const nn_param *p, int which, float *dst, err *e);
int nn_param_from_plain(nn_param *p, int which, const float *src, err *e);
/* Changes the storage layout of every buffer of p to md. */
int nn_param_relayout(nn_param *p, const dnnl_memory_desc_t *md, err *e);
/* Plain memory descriptor of a parameter (oihw / goihw / ab / a). */
void nn_param_plain_md(const nn_param *p, dnnl_memory_desc_t *md);
uint64_t nn_splitmix64(uint64_t *x);

/* --- optimizer internals (optim.c), for the state file (ckpt.c) -------- */

nn_model *nn_optim_model(const nn_optim *o);
nn_optim_kind nn_optim_kind_of(const nn_optim *o);
void nn_optim_set_steps(nn_optim *o, int64_t t);

/* --- oneDNN glue (dnn.c) ------------------------------------------------ */

dnnl_engine_t nn_engine(void);
/* omp_set_num_threads(n) for the calling thread (n <= 0: nn_init's count) */
void nn_apply_threads(int n);
void *nn_alloc(size_t bytes);  /* 64-byte aligned, zeroed; free with free() */
int nn_dnnl_err(err *e, dnnl_status_t st, const char *what);
#define NN_CHECK(call, what)                                                                      \
    do {                                                                                          \
        dnnl_status_t st_ = (call);                                                               \
        if (st_ != dnnl_success)                                                                  \
            return nn_dnnl_err(e, st_, what);                                                     \
    } while (0)

void nn_md_plain(dnnl_memory_desc_t *md, int n, int c, int h, int w); /* nchw */
void nn_md_any(dnnl_memory_desc_t *md, int n, int c, int h, int w);
void nn_md_vec(dnnl_memory_desc_t *md, int n);                          /* a */
bool nn_md_eq(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b);
bool nn_md_is_plain(const dnnl_memory_desc_t *md);
/* Same element -> byte mapping (e.g. nChw8c and nchw when H = W = 1). */
bool nn_md_same_bytes(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b);
size_t nn_md_size(const dnnl_memory_desc_t *md);
const dnnl_memory_desc_t *nn_pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t q, int i);

/* A memory object bound to a buffer; rebinding only when the pointer changes. */
typedef struct nn_mem {
    dnnl_memory_t m;
    void *ptr;
} nn_mem;
int nn_mem_bind(nn_mem *mm, const dnnl_memory_desc_t *md, void *ptr, err *e);
void nn_mem_free(nn_mem *mm);

/* A reorder between two layouts, optionally accumulating (dst += src). */
typedef struct nn_reorder {
    dnnl_primitive_t p;
    nn_mem src, dst;
    dnnl_memory_desc_t smd, dmd;
    bool accumulate;
} nn_reorder;
int nn_reorder_init(nn_reorder *r, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst,
                    bool accumulate, err *e);
int nn_reorder_run(dnnl_stream_t st, nn_reorder *r, void *src, void *dst, err *e);
void nn_reorder_free(nn_reorder *r);
/* One-shot reorder (creates and destroys the primitive). */
int nn_reorder_once(const dnnl_memory_desc_t *src_md, const void *src,
                    const dnnl_memory_desc_t *dst_md, void *dst, err *e);

/*
 * nn_arg: one primitive argument and the user buffer behind it. `want` is
 * the primitive's layout, `have` the buffer's. When they differ the arg
 * owns a buffer in `want` layout and a reorder: inputs are reordered in
 * before execution (skipped while `version` is unchanged, for weights),
 * outputs out after it (accumulating when asked).
 */
typedef struct nn_arg {
    int arg;
    dnnl_memory_desc_t want, have;
    bool differ;
    float *tmp;
    nn_reorder ro, ro_acc;
    nn_mem mem;
    uint64_t seen_version;
    bool seen_valid;
} nn_arg;
int nn_arg_init(nn_arg *a, int arg, const dnnl_memory_desc_t *want,
                const dnnl_memory_desc_t *have, bool is_output, err *e);
void nn_arg_free(nn_arg *a);

/* Executes a primitive; `in` arguments are prepared from their user
 * buffers, `out` arguments are written back to theirs (accumulating into
 * those flagged in acc[]). version[i] (0 = always) lets an input reorder be
 * skipped when nothing changed. */
typedef struct nn_call {
    nn_arg *a;
    void *ptr;
    uint64_t version;
    bool out, acc;
} nn_call;
int nn_execute(dnnl_stream_t st, dnnl_primitive_t p, nn_call *calls, int n, err *e);

/* Row-major C = op(A) op(B) + beta C on OpenBLAS (one thread), the rows
 * of C split over the OpenMP threads when it is worth it. */
void nn_sgemm(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc);

/* dst[i] += src[i] for n floats (same layout). */
void nn_add_inplace(float *dst, const float *src, size_t n);

/* --- derived inference weights (derived.c) ----------------------------- */

/* The weights of conv `node` (with batch norm `bn` folded, 0: none) for
 * `kind` (0: direct in layout md, 2/4: Winograd, -2/-4: Winograd of the
 * flipped, transposed weights, for backward data); `prev` is the caller's
 * current reference, returned as is when still valid, else released. */
const nn_derived *nn_derived_get(nn_model *m, int node, int bn, int kind,
                                 const dnnl_memory_desc_t *md, const nn_derived *prev, err *e);
void nn_derived_put(nn_model *m, const nn_derived *d);
void nn_derived_free_all(nn_model *m);

/* --- Winograd convolution for inference (wino.c) ----------------------- */

typedef struct nn_wino nn_wino;
bool nn_wino_usable(void);      /* AVX2 + FMA present and not switched off */
bool nn_wino_half_usable(void); /* ... and F16C, half weights not switched off */
bool nn_wino_avx512_usable(void); /* its GEMMs on AVX-512: present and not switched off */
/* Weight kinds: the tile m (4: F(4x4, 3x3), 2: F(2x2, 3x3)), | NN_WINO_HALF
 * when U is stored as half floats (inference; training keeps float). */
#define NN_WINO_HALF 16
/* Source and destination nChw8c. */
nn_wino *nn_wino_new(int m, int N, int C, int H, int W, int K, int OH, int OW, int ph, int pw,
                     bool half, err *e);
void nn_wino_free(nn_wino *w);
int nn_wino_kind(const nn_wino *w);
/* Transformed weights U for plain K x C x 3 x 3 weights (packed for the
 * GEMM kernel), and their size in bytes. */
size_t nn_wino_weights_size(int kind, int C, int K);
void nn_wino_transform(int kind, int C, int K, const float *plain, void *U);
/* act: 0 none, 1 relu/leaky (alpha), 2 silu, 3 sigmoid; res and bias optional */
int nn_wino_run(nn_wino *w, const void *U, const float *src, float *dst, const float *res,
                const float *bias, int act, float alpha, err *e);

/* --- training convolutions on small maps as GEMMs (conv_gemm.c) ------- */

typedef struct nn_cgemm nn_cgemm;
nn_cgemm *nn_cgemm_new(int N, int C, int H, int W, int K, int OH, int OW, const nn_node *nd,
                       bool need_dx, err *e);
void nn_cgemm_free(nn_cgemm *g);
/* x, y, dy, dx: nChw8c; w, dw: plain oihw; bias, db optional */
void nn_cgemm_fwd(nn_cgemm *g, const float *x, const float *w, const float *bias, float *y);
void nn_cgemm_bwd(nn_cgemm *g, const float *dy, const float *w, float *dw, float *db, float *dx);

/* --- plans and sessions (session.c) ------------------------------------- */

typedef struct nn_plan nn_plan;
typedef struct nn_pnode {
    int n, c, h, w;
    dnnl_memory_desc_t md; /* layout of out and diff */
    size_t bytes;
    float *out;            /* owned unless alias */
    float *diff;           /* gradient w.r.t. out (training plans) */
    bool alias;            /* out/diff belong to another node (see op fusions) */
    int fused_into;        /* > 0: this node is computed by that node's primitive
                              (eval: conv + bn + add + activation; train: bn + relu) */
    bool need_grad;        /* some parameter or input upstream needs a gradient */
    bool diff_set;         /* diff holds a gradient in this backward pass */
    void *st;              /* op state */
} nn_pnode;

struct nn_plan {
    int n, c, h, w;
    bool train;
    nn_pnode *pn;
    nn_reorder out_ro;     /* output to plain, when needed */
    bool out_plain;
    nn_tensor out;         /* plain view or copy of the output */
    float *out_buf;
    float *scratch;        /* gradient accumulation */
    size_t scratch_bytes;
    uint64_t used;
    uint64_t layout_gen;   /* model->layout_gen when built */
};

struct nn_session {
    nn_model *m;
    dnnl_stream_t stream;
    nn_plan *plans[NN_MAX_PLANS];
    nn_plan *last;         /* plan of the last forward */
    bool last_train;
    uint64_t tick;
    nn_rng rng;            /* dropout */
    int threads;           /* 0: nn_init's count */
    bool profile;
    double *prof_fwd, *prof_bwd; /* seconds per node, when profiling */
    double *prof_cpu;            /* process CPU seconds per node (both passes) */
    int64_t prof_steps;
};

/* Gradient target for input j of a node: the input's diff buffer if no
 * gradient arrived there yet in this pass, else the plan scratch. After
 * writing, nn_grad_commit adds the scratch into the diff when needed. */
float *nn_grad_target(nn_plan *pl, int j, bool *acc);
void nn_grad_commit(nn_plan *pl, int j, bool acc);

/* --- ops (op_*.c) ------------------------------------------------------ */

typedef struct nn_op_impl {
    /* create primitives and set pn[i].md/n/c/h/w (buffers are allocated by
     * the session after build unless the op aliases) */
    int (*build)(nn_session *s, nn_plan *pl, int i, err *e);
    int (*fwd)(nn_session *s, nn_plan *pl, int i, err *e);
    int (*bwd)(nn_session *s, nn_plan *pl, int i, err *e);
    void (*free)(void *st);
} nn_op_impl;

extern const nn_op_impl nn_op_conv, nn_op_bn, nn_op_eltwise, nn_op_pool, nn_op_linear,
    nn_op_dropout, nn_op_add, nn_op_concat, nn_op_upsample;

#endif
