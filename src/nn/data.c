/*
 * data.c - the data loader (background threads, bounded prefetch) and the
 * IDX file source (MNIST / Fashion-MNIST).
 *
 * The loader owns `prefetch` batch slots. Batch k of an epoch always goes
 * to slot k % prefetch; a worker claims the next batch number, waits until
 * its slot is free, fills it (fetch callback, then nn_augment per sample
 * with a seed from (run seed, epoch, sample index)), and marks it ready.
 * The consumer takes batches strictly in order. So the batches, their
 * order and their pixels depend only on the configuration, never on the
 * number of workers or on timing; and memory is prefetch batches.
 *
 * Starting an epoch bumps a generation number: a worker still filling a
 * batch of the previous epoch drops it when done.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nn/nn_impl.h"

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_OUT };

typedef struct slot {
    nn_batch b;
    int state;
    int64_t idx;
} slot;

struct nn_loader {
    nn_loader_cfg cfg;
    nn_fetch_fn fetch;
    void *ud;
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* any state change */
    slot *slots;
    int nslots;
    int64_t *perm;
    int64_t epoch, nbatches, next_claim, next_out;
    uint64_t gen;
    bool active, shutdown, failed;
    err error;
};

uint8_t *nn_sample_image(nn_sample *s, int w, int h, int c)
{
    if (w < 1 || h < 1 || c < 1 || c > 4 || w > NN_MAX_DIM || h > NN_MAX_DIM)
        return NULL;
    size_t need = (size_t)w * (size_t)h * (size_t)c;
    if (need > s->cap) {
        uint8_t *p = realloc(s->buf, need);
        if (!p)
            return NULL;
        s->buf = p;
        s->cap = need;
    }
    s->img.w = w;
    s->img.h = h;
    s->img.c = c;
    s->img.stride = (size_t)w * (size_t)c;
    s->img.data = s->buf;
    return s->buf;
}

static int64_t batch_count(const nn_loader_cfg *c)
{
    if (c->drop_last && c->count >= c->batch)
        return c->count / c->batch;
    return (c->count + c->batch - 1) / c->batch;
}

static int fill(nn_loader *l, slot *sl, int64_t k, int64_t epoch, nn_sample *smp, err *e)
{
    const nn_loader_cfg *c = &l->cfg;
    int64_t first = k * c->batch;
    int n = (int)((first + c->batch <= c->count) ? c->batch : c->count - first);
    size_t per = (size_t)c->aug.out_c * (size_t)c->aug.out_h * (size_t)c->aug.out_w;
    sl->b.n = n;
    sl->b.x->n = n;
    for (int i = 0; i < n; i++) {
        int64_t idx = l->perm ? l->perm[first + i] : first + i;
        memset(&smp->img, 0, sizeof smp->img);
        smp->label = -1;
        if (l->fetch(l->ud, idx, smp, e) < 0)
            return err_prefix(e, "sample %lld", (long long)idx);
        if (nn_augment(&c->aug, &smp->img, nn_sample_seed(c->seed, epoch, idx),
                       sl->b.x->data + per * (size_t)i, e) < 0)
            return err_prefix(e, "sample %lld", (long long)idx);
        sl->b.labels[i] = smp->label;
        sl->b.index[i] = idx;
    }
    return 0;
}

static void *worker(void *arg)
{
    nn_loader *l = arg;
    nn_sample smp = {0};
    err e;
    pthread_mutex_lock(&l->mu);
    while (!l->shutdown) {
        int64_t k = l->next_claim;
        slot *sl = l->nslots ? &l->slots[k % l->nslots] : NULL;
        if (!l->active || l->failed || k >= l->nbatches || sl->state != SLOT_FREE) {
            pthread_cond_wait(&l->cv, &l->mu);
            continue;
        }
        l->next_claim++;
        sl->state = SLOT_FILLING;
        sl->idx = k;
        uint64_t gen = l->gen;
        int64_t epoch = l->epoch;
        pthread_mutex_unlock(&l->mu);
        err_clear(&e);
        int rc = fill(l, sl, k, epoch, &smp, &e);
        pthread_mutex_lock(&l->mu);
        if (gen != l->gen) {
            sl->state = SLOT_FREE; /* an older epoch: drop it */
        } else if (rc < 0) {
            sl->state = SLOT_FREE;
            if (!l->failed) {
                l->failed = true;
                l->error = e;
            }
        } else {
            sl->state = SLOT_READY;
        }
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    free(smp.buf);
    return NULL;
}

void nn_loader_free(nn_loader *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->shutdown = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nthreads; i++)
        pthread_join(l->threads[i], NULL);
    for (int i = 0; i < l->nslots; i++) {
        nn_tensor_free(l->slots[i].b.x);
        free(l->slots[i].b.labels);
        free(l->slots[i].b.index);
    }
    free(l->slots);
    free(l->threads);
    free(l->perm);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

nn_loader *nn_loader_new(const nn_loader_cfg *cfg, nn_fetch_fn fetch, void *ud, err *e)
{
    nn_loader_cfg c = *cfg;
    if (c.workers <= 0)
        c.workers = 1;
    if (c.prefetch <= 0)
        c.prefetch = c.workers + 1;
    if (c.count < 1 || c.batch < 1 || c.batch > 65536 || c.workers > 64 || c.prefetch > 64 ||
        !fetch) {
        err_set(e, ERR_INVALID,
                "loader: need at least one sample, a batch of 1-65536, 1-64 workers and 1-64 "
                "prefetched batches");
        return NULL;
    }
    if ((c.aug.out_c != 1 && c.aug.out_c != 3) || c.aug.out_w < 1 || c.aug.out_h < 1 ||
        c.aug.out_w > NN_MAX_DIM || c.aug.out_h > NN_MAX_DIM) {
        err_set(e, ERR_INVALID, "loader: the output must be 1 or 3 channels of 1-%d px",
                NN_MAX_DIM);
        return NULL;
    }
    nn_loader *l = calloc(1, sizeof *l);
    if (!l) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    l->cfg = c;
    l->fetch = fetch;
    l->ud = ud;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->nbatches = batch_count(&c);
    l->slots = calloc((size_t)c.prefetch, sizeof *l->slots);
    l->threads = calloc((size_t)c.workers, sizeof *l->threads);
    if (c.shuffle)
        l->perm = malloc((size_t)c.count * sizeof *l->perm);
    if (!l->slots || !l->threads || (c.shuffle && !l->perm)) {
        err_set(e, ERR_INTERNAL, "out of memory");
        nn_loader_free(l);
        return NULL;
    }
    l->nslots = c.prefetch;
    for (int i = 0; i < l->nslots; i++) {
        slot *s = &l->slots[i];
        s->b.x = nn_tensor_new(c.batch, c.aug.out_c, c.aug.out_h, c.aug.out_w);
        s->b.labels = calloc((size_t)c.batch, sizeof *s->b.labels);
        s->b.index = calloc((size_t)c.batch, sizeof *s->b.index);
        if (!s->b.x || !s->b.labels || !s->b.index) {
            err_set(e, ERR_INTERNAL, "out of memory for %d prefetched batches", c.prefetch);
            nn_loader_free(l);
            return NULL;
        }
    }
    for (int i = 0; i < c.workers; i++) {
        if (pthread_create(&l->threads[i], NULL, worker, l) != 0) {
            err_set(e, ERR_INTERNAL, "cannot start loader threads");
            nn_loader_free(l);
            return NULL;
        }
        l->nthreads++;
    }
    return l;
}

int nn_loader_start(nn_loader *l, int64_t epoch, err *e)
{
    (void)e;
    pthread_mutex_lock(&l->mu);
    l->gen++;
    l->epoch = epoch;
    l->next_claim = l->next_out = 0;
    l->failed = false;
    for (int i = 0; i < l->nslots; i++)
        if (l->slots[i].state == SLOT_READY)
            l->slots[i].state = SLOT_FREE;
    if (l->perm) {
        for (int64_t i = 0; i < l->cfg.count; i++)
            l->perm[i] = i;
        nn_rng r;
        nn_rng_seed(&r, nn_sample_seed(l->cfg.seed, epoch, -1));
        for (int64_t i = l->cfg.count - 1; i > 0; i--) {
            int64_t j = (int64_t)(nn_rng_next(&r) % (uint64_t)(i + 1));
            int64_t t = l->perm[i];
            l->perm[i] = l->perm[j];
            l->perm[j] = t;
        }
    }
    l->active = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

int nn_loader_next(nn_loader *l, nn_batch **b, err *e)
{
    pthread_mutex_lock(&l->mu);
    if (!l->active) {
        pthread_mutex_unlock(&l->mu);
        return err_set(e, ERR_INVALID, "loader: call nn_loader_start first");
    }
    if (l->next_out >= l->nbatches) {
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    slot *sl = &l->slots[l->next_out % l->nslots];
    while (!l->failed && !(sl->state == SLOT_READY && sl->idx == l->next_out))
        pthread_cond_wait(&l->cv, &l->mu);
    if (l->failed) {
        if (e)
            *e = l->error;
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    sl->state = SLOT_OUT;
    l->next_out++;
    *b = &sl->b;
    pthread_mutex_unlock(&l->mu);
    return 1;
}

void nn_loader_release(nn_loader *l, nn_batch *b)
{
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->nslots; i++)
        if (&l->slots[i].b == b)
            l->slots[i].state = SLOT_FREE;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

int64_t nn_loader_batches(const nn_loader *l) { return l->nbatches; }

/* --- IDX files ------------------------------------------------------------------- */

static int read_all(const char *path, uint8_t **out, size_t *len, size_t max, err *e)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return err_set(e, ERR_NOT_FOUND, "cannot open %s", path);
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    int r = 0;
    while (buf) {
        if (n == cap) {
            if (cap >= max) {
                free(buf);
                gzclose(f);
                return err_set(e, ERR_TOO_LARGE, "%s is larger than %zu bytes", path, max);
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        r = gzread(f, buf + n, (unsigned)(cap - n > (1u << 30) ? (1u << 30) : cap - n));
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    gzclose(f);
    if (!buf)
        return err_set(e, ERR_INTERNAL, "out of memory reading %s", path);
    if (r < 0) {
        free(buf);
        return err_set(e, ERR_IO, "%s: read or decompression error", path);
    }
    *out = buf;
    *len = n;
    return 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

nn_idx *nn_idx_open(const char *images_path, const char *labels_path, err *e)
{
    uint8_t *im = NULL, *lb = NULL;
    size_t imn = 0, lbn = 0;
    const size_t max = (size_t)1 << 31;
    if (read_all(images_path, &im, &imn, max, e) < 0)
        return NULL;
    if (read_all(labels_path, &lb, &lbn, max, e) < 0) {
        free(im);
        return NULL;
    }
    nn_idx *d = NULL;
    if (imn < 16 || be32(im) != 0x00000803) {
        err_set(e, ERR_UNPROCESSABLE, "%s is not an IDX file of 8-bit images", images_path);
        goto out;
    }
    if (lbn < 8 || be32(lb) != 0x00000801) {
        err_set(e, ERR_UNPROCESSABLE, "%s is not an IDX file of 8-bit labels", labels_path);
        goto out;
    }
    uint32_t n = be32(im + 4), h = be32(im + 8), w = be32(im + 12);
    if (h < 1 || w < 1 || h > NN_MAX_DIM || w > NN_MAX_DIM ||
        (uint64_t)n * h * w + 16 != (uint64_t)imn) {
        err_set(e, ERR_UNPROCESSABLE, "%s: %u images of %ux%u do not match its size", images_path,
                n, h, w);
        goto out;
    }
    if (be32(lb + 4) != n || (uint64_t)n + 8 != (uint64_t)lbn) {
        err_set(e, ERR_UNPROCESSABLE, "%s: label count does not match the %u images",
                labels_path, n);
        goto out;
    }
    d = calloc(1, sizeof *d);
    if (!d) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    d->count = n;
    d->h = (int)h;
    d->w = (int)w;
    d->pixels = malloc((size_t)n * h * w);
    d->labels = malloc(n ? n : 1);
    if (!d->pixels || !d->labels) {
        nn_idx_free(d);
        d = NULL;
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    memcpy(d->pixels, im + 16, (size_t)n * h * w);
    memcpy(d->labels, lb + 8, n);
out:
    free(im);
    free(lb);
    return d;
}

void nn_idx_free(nn_idx *d)
{
    if (!d)
        return;
    free(d->pixels);
    free(d->labels);
    free(d);
}

int nn_idx_fetch(void *ud, int64_t index, nn_sample *out, err *e)
{
    const nn_idx *d = ud;
    if (index < 0 || index >= d->count)
        return err_set(e, ERR_INVALID, "sample %lld is outside [0, %lld)", (long long)index,
                       (long long)d->count);
    /* borrowed: the pixels stay valid as long as d */
    out->img.w = d->w;
    out->img.h = d->h;
    out->img.c = 1;
    out->img.stride = (size_t)d->w;
    out->img.data = d->pixels + (size_t)index * (size_t)d->h * (size_t)d->w;
    out->label = d->labels[index];
    return 0;
}
