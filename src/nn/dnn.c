/*
 * dnn.c - process setup and the thin layer over oneDNN's C API that the
 * ops share: memory descriptors, memory objects, reorders and "arguments"
 * that reorder themselves when a primitive wants another layout than the
 * buffer has.
 *
 * Threads: oneDNN runs on OpenMP and reads omp_get_max_threads() when a
 * primitive executes; that value is per thread, so sessions call
 * nn_apply_threads() (omp_set_num_threads) on entry, which makes any
 * thread (an HTTP worker, a job thread) use the configured count.
 *
 * OpenBLAS keeps its own pthread pool, whose threads spin after a call:
 * next to OpenMP's that is twice as many busy threads as cores, and the
 * oneDNN primitive after a GEMM ran at a fraction of its speed. So OpenBLAS
 * is set to one thread and nn_sgemm splits large GEMMs over OpenMP threads
 * itself (each calls OpenBLAS on a block of rows).
 */
#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/nn_impl.h"

/* OpenBLAS (cblas.h of the pthread flavour declares it; we only need this). */
void openblas_set_num_threads(int num_threads);

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t g_engine;
static int g_threads = 1;

int nn_init(int threads, err *e)
{
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (threads > 256)
        threads = 256;
    pthread_mutex_lock(&g_lock);
    if (!g_engine) {
        dnnl_status_t st = dnnl_engine_create(&g_engine, dnnl_cpu, 0);
        if (st != dnnl_success) {
            pthread_mutex_unlock(&g_lock);
            return nn_dnnl_err(e, st, "creating the oneDNN CPU engine");
        }
    }
    g_threads = threads;
    pthread_mutex_unlock(&g_lock);
    omp_set_num_threads(threads);
    openblas_set_num_threads(1); /* parallelism comes from OpenMP: see above */
    return 0;
}

void nn_sgemm(bool ta, bool tb, int M, int N, int K, const float *A, int lda, const float *B,
              int ldb, float beta, float *C, int ldc)
{
    enum CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
    int nt = omp_get_max_threads();
    if (nt <= 1 || (double)M * N * K < 4e6 || M < 2 * nt) {
        cblas_sgemm(CblasRowMajor, TA, TB, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#pragma omp parallel
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        int m0 = (int)((int64_t)M * t / n), m1 = (int)((int64_t)M * (t + 1) / n);
        /* rows m0..m1 of C: rows of A, or columns of a transposed A */
        const float *a = ta ? A + m0 : A + (size_t)m0 * (size_t)lda;
        if (m1 > m0)
            cblas_sgemm(CblasRowMajor, TA, TB, m1 - m0, N, K, 1.0f, a, lda, B, ldb, beta,
                        C + (size_t)m0 * (size_t)ldc, ldc);
    }
}

int nn_threads(void) { return g_threads; }

void nn_apply_threads(int n)
{
    if (n <= 0)
        n = g_threads;
    if (omp_get_max_threads() != n)
        omp_set_num_threads(n);
}

void nn_shutdown(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_engine)
        dnnl_engine_destroy(g_engine);
    g_engine = NULL;
    pthread_mutex_unlock(&g_lock);
}

dnnl_engine_t nn_engine(void)
{
    if (!g_engine)
        nn_init(g_threads, NULL); /* a caller that forgot nn_init still works */
    return g_engine;
}

void *nn_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0)
        bytes = 64;
    bytes = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, bytes) != 0)
        return NULL;
    memset(p, 0, bytes);
    return p;
}

int nn_dnnl_err(err *e, dnnl_status_t st, const char *what)
{
    const char *why;
    switch (st) {
    case dnnl_out_of_memory: return err_set(e, ERR_INTERNAL, "%s: out of memory", what);
    case dnnl_invalid_arguments: why = "invalid arguments"; break;
    case dnnl_unimplemented: why = "no implementation for these shapes/layouts"; break;
    case dnnl_runtime_error: why = "runtime error"; break;
    default: why = "failure"; break;
    }
    return err_set(e, ERR_INTERNAL, "%s: oneDNN %s (status %d)", what, why, (int)st);
}

/* --- memory descriptors ------------------------------------------------- */

static const dnnl_format_tag_t plain_tags[] = {dnnl_format_tag_undef, dnnl_a, dnnl_ab,
                                               dnnl_abc, dnnl_abcd, dnnl_abcde};

void nn_md_plain(dnnl_memory_desc_t *md, int n, int c, int h, int w)
{
    dnnl_dims_t d = {n, c, h, w};
    dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, dnnl_nchw);
}

void nn_md_any(dnnl_memory_desc_t *md, int n, int c, int h, int w)
{
    dnnl_dims_t d = {n, c, h, w};
    dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, dnnl_format_tag_any);
}

void nn_md_vec(dnnl_memory_desc_t *md, int n)
{
    dnnl_dims_t d = {n};
    dnnl_memory_desc_init_by_tag(md, 1, d, dnnl_f32, dnnl_a);
}

bool nn_md_eq(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b)
{
    return dnnl_memory_desc_equal(a, b) != 0;
}

bool nn_md_is_plain(const dnnl_memory_desc_t *md)
{
    if (md->ndims < 1 || md->ndims > 5)
        return false;
    dnnl_memory_desc_t p;
    if (dnnl_memory_desc_init_by_tag(&p, md->ndims, md->dims, dnnl_f32, plain_tags[md->ndims]) !=
        dnnl_success)
        return false;
    return nn_md_eq(&p, md);
}

size_t nn_md_size(const dnnl_memory_desc_t *md) { return dnnl_memory_desc_get_size(md); }

/* Byte offset (in elements) of a logical index in a blocked layout whose
 * inner blocks name each dimension at most once; -1 if not such a layout. */
static int64_t md_offset(const dnnl_memory_desc_t *md, const int64_t *idx)
{
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int64_t blk[DNNL_MAX_NDIMS];
    for (int d = 0; d < md->ndims; d++)
        blk[d] = 1;
    for (int k = 0; k < b->inner_nblks; k++) {
        if (blk[b->inner_idxs[k]] != 1)
            return -1;
        blk[b->inner_idxs[k]] = b->inner_blks[k];
    }
    int64_t off = md->offset0;
    for (int d = 0; d < md->ndims; d++)
        off += (idx[d] / blk[d]) * b->strides[d];
    int64_t mult = 1;
    for (int k = b->inner_nblks - 1; k >= 0; k--) {
        int d = (int)b->inner_idxs[k];
        off += (idx[d] % blk[d]) * mult;
        mult *= b->inner_blks[k];
    }
    return off;
}

bool nn_md_same_bytes(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b)
{
    if (nn_md_eq(a, b))
        return true;
    if (a->ndims != b->ndims || a->format_kind != dnnl_blocked || b->format_kind != dnnl_blocked ||
        a->data_type != b->data_type || nn_md_size(a) != nn_md_size(b))
        return false;
    int64_t total = 1;
    for (int d = 0; d < a->ndims; d++) {
        if (a->dims[d] != b->dims[d] || a->padded_dims[d] != a->dims[d] ||
            b->padded_dims[d] != b->dims[d])
            return false;
        total *= a->dims[d];
    }
    if (total > (1 << 22))
        return false; /* not worth proving */
    int64_t idx[DNNL_MAX_NDIMS] = {0};
    for (int64_t i = 0; i < total; i++) {
        int64_t oa = md_offset(a, idx), ob = md_offset(b, idx);
        if (oa < 0 || oa != ob)
            return false;
        for (int d = a->ndims - 1; d >= 0; d--) {
            if (++idx[d] < a->dims[d])
                break;
            idx[d] = 0;
        }
    }
    return true;
}

const dnnl_memory_desc_t *nn_pd_md(const_dnnl_primitive_desc_t pd, dnnl_query_t q, int i)
{
    return dnnl_primitive_desc_query_md(pd, q, i);
}

/* --- memory objects ----------------------------------------------------- */

int nn_mem_bind(nn_mem *mm, const dnnl_memory_desc_t *md, void *ptr, err *e)
{
    if (!mm->m) {
        NN_CHECK(dnnl_memory_create(&mm->m, md, nn_engine(), ptr), "creating a memory object");
        mm->ptr = ptr;
        return 0;
    }
    if (mm->ptr != ptr) {
        NN_CHECK(dnnl_memory_set_data_handle(mm->m, ptr), "binding a buffer");
        mm->ptr = ptr;
    }
    return 0;
}

void nn_mem_free(nn_mem *mm)
{
    if (mm->m)
        dnnl_memory_destroy(mm->m);
    mm->m = NULL;
    mm->ptr = NULL;
}

/* --- reorders ----------------------------------------------------------- */

int nn_reorder_init(nn_reorder *r, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst,
                    bool accumulate, err *e)
{
    memset(r, 0, sizeof *r);
    r->smd = *src;
    r->dmd = *dst;
    r->accumulate = accumulate;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (accumulate) {
        NN_CHECK(dnnl_primitive_attr_create(&attr), "reorder attributes");
        NN_CHECK(dnnl_post_ops_create(&po), "reorder post-ops");
        dnnl_post_ops_append_sum(po, 1.0f);
        dnnl_primitive_attr_set_post_ops(attr, po);
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd;
    dnnl_status_t st =
        dnnl_reorder_primitive_desc_create(&pd, src, nn_engine(), dst, nn_engine(), attr);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success)
        return nn_dnnl_err(e, st, "creating a reorder");
    st = dnnl_primitive_create(&r->p, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success)
        return nn_dnnl_err(e, st, "creating a reorder");
    return 0;
}

int nn_reorder_run(dnnl_stream_t st, nn_reorder *r, void *src, void *dst, err *e)
{
    if (nn_mem_bind(&r->src, &r->smd, src, e) < 0 || nn_mem_bind(&r->dst, &r->dmd, dst, e) < 0)
        return -1;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, r->src.m}, {DNNL_ARG_TO, r->dst.m}};
    NN_CHECK(dnnl_primitive_execute(r->p, st, 2, args), "running a reorder");
    return 0;
}

void nn_reorder_free(nn_reorder *r)
{
    if (r->p)
        dnnl_primitive_destroy(r->p);
    nn_mem_free(&r->src);
    nn_mem_free(&r->dst);
    memset(r, 0, sizeof *r);
}

int nn_reorder_once(const dnnl_memory_desc_t *src_md, const void *src,
                    const dnnl_memory_desc_t *dst_md, void *dst, err *e)
{
    if (nn_md_eq(src_md, dst_md)) {
        memcpy(dst, src, nn_md_size(src_md));
        return 0;
    }
    nn_reorder r;
    dnnl_stream_t st;
    NN_CHECK(dnnl_stream_create(&st, nn_engine(), dnnl_stream_default_flags), "creating a stream");
    int rc = nn_reorder_init(&r, src_md, dst_md, false, e);
    if (rc == 0) {
        rc = nn_reorder_run(st, &r, (void *)src, dst, e);
        dnnl_stream_wait(st);
    }
    nn_reorder_free(&r);
    dnnl_stream_destroy(st);
    return rc;
}

/* --- arguments ---------------------------------------------------------- */

int nn_arg_init(nn_arg *a, int arg, const dnnl_memory_desc_t *want,
                const dnnl_memory_desc_t *have, bool is_output, err *e)
{
    memset(a, 0, sizeof *a);
    a->arg = arg;
    a->want = *want;
    a->have = have ? *have : *want;
    a->differ = !nn_md_same_bytes(&a->want, &a->have);
    if (!a->differ)
        return 0;
    a->tmp = nn_alloc(nn_md_size(want));
    if (!a->tmp)
        return err_set(e, ERR_INTERNAL, "out of memory for a reorder buffer");
    if (is_output)
        return nn_reorder_init(&a->ro, want, &a->have, false, e);
    return nn_reorder_init(&a->ro, &a->have, want, false, e);
}

void nn_arg_free(nn_arg *a)
{
    free(a->tmp);
    nn_reorder_free(&a->ro);
    nn_mem_free(&a->mem);
    memset(a, 0, sizeof *a);
}

#define NN_MAX_CALL_ARGS 16

int nn_execute(dnnl_stream_t st, dnnl_primitive_t p, nn_call *calls, int n, err *e)
{
    dnnl_exec_arg_t args[NN_MAX_CALL_ARGS] = {{0, NULL}};
    if (n > NN_MAX_CALL_ARGS)
        return err_set(e, ERR_INTERNAL, "too many primitive arguments");
    for (int i = 0; i < n; i++) {
        nn_call *c = &calls[i];
        nn_arg *a = c->a;
        void *bind = c->ptr;
        if (a->differ) {
            bind = a->tmp;
            if (!c->out) {
                bool fresh = c->version && a->seen_valid && a->seen_version == c->version;
                if (!fresh) {
                    if (nn_reorder_run(st, &a->ro, c->ptr, a->tmp, e) < 0)
                        return -1;
                    a->seen_version = c->version;
                    a->seen_valid = c->version != 0;
                }
            }
        }
        if (nn_mem_bind(&a->mem, &a->want, bind, e) < 0)
            return -1;
        args[i].arg = a->arg;
        args[i].memory = a->mem.m;
    }
    NN_CHECK(dnnl_primitive_execute(p, st, n, args), "executing a primitive");
    for (int i = 0; i < n; i++) {
        nn_call *c = &calls[i];
        if (c->out && c->a->differ && nn_reorder_run(st, &c->a->ro, c->a->tmp, c->ptr, e) < 0)
            return -1;
    }
    return 0;
}

void nn_add_inplace(float *dst, const float *src, size_t n)
{
    if (n < 65536) {
        for (size_t i = 0; i < n; i++)
            dst[i] += src[i];
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* --- tensors ------------------------------------------------------------- */

nn_tensor *nn_tensor_new(int n, int c, int h, int w)
{
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return NULL;
    nn_tensor *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    t->n = n;
    t->c = c;
    t->h = h;
    t->w = w;
    t->data = nn_alloc(nn_tensor_numel(t) * sizeof(float));
    if (!t->data) {
        free(t);
        return NULL;
    }
    return t;
}

void nn_tensor_free(nn_tensor *t)
{
    if (!t)
        return;
    free(t->data);
    free(t);
}
