/*
 * loader.c - the detection data loader: background threads, bounded
 * prefetch, batches of (images, boxes) that depend only on the
 * configuration.
 *
 * The design is nn's loader (src/nn/data.c): `prefetch` batch slots, batch
 * k of an epoch always in slot k % prefetch, workers claim batch numbers
 * in order, the consumer takes them in order, an epoch start bumps a
 * generation so late work of the previous epoch is dropped. What differs:
 * a sample is an image plus a variable number of boxes, and a mosaic needs
 * three more samples, drawn from the sample's own seed (so a sample looks
 * the same whatever worker builds it, and whatever the worker count).
 *
 * Letterbox mode (evaluation): no randomness, each image fitted into the
 * output; the batch keeps each image's map and size so predictions can go
 * back to image pixels.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_impl.h"

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_OUT };

typedef struct slot {
    det_batch b;
    int box_cap;
    int state;
    int64_t idx;
} slot;

struct det_loader {
    det_loader_cfg cfg;
    det_fetch_fn fetch;
    void *ud;
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot *slots;
    int nslots;
    int64_t *perm;
    int64_t epoch, nbatches, next_claim, next_out;
    float mosaic;
    uint64_t gen;
    bool active, shutdown, failed;
    err error;
};

uint8_t *det_sample_image(det_sample *s, int w, int h, int c)
{
    if (w < 1 || h < 1 || c < 1 || c > 4 || w > NN_MAX_DIM || h > NN_MAX_DIM) return NULL;
    size_t need = (size_t)w * (size_t)h * (size_t)c;
    if (need > s->cap) {
        uint8_t *p = realloc(s->buf, need);
        if (!p) return NULL;
        s->buf = p;
        s->cap = need;
    }
    s->img = (nn_image){w, h, c, (size_t)w * (size_t)c, s->buf};
    return s->buf;
}

det_box *det_sample_boxes(det_sample *s, int n)
{
    if (n < 0 || n > DET_MAX_BOXES) return NULL;
    if (n > s->box_cap) {
        det_box *p = realloc(s->boxes, (size_t)n * sizeof *p);
        if (!p) return NULL;
        s->boxes = p;
        s->box_cap = n;
    }
    s->n = n;
    return s->boxes;
}

static int64_t batch_count(const det_loader_cfg *c)
{
    if (c->drop_last && c->count >= c->batch) return c->count / c->batch;
    return (c->count + c->batch - 1) / c->batch;
}

typedef struct wstate {
    det_sample smp[4];
    uint8_t *img;
    det_box *boxes;
    int box_cap;
} wstate;

static void wstate_free(wstate *w)
{
    for (int i = 0; i < 4; i++) {
        free(w->smp[i].buf);
        free(w->smp[i].boxes);
    }
    free(w->img);
    free(w->boxes);
}

static int fetch_one(det_loader *l, int64_t idx, det_sample *s, err *e)
{
    memset(&s->img, 0, sizeof s->img);
    s->n = 0;
    if (l->fetch(l->ud, idx, s, e) < 0) return err_prefix(e, "sample %lld", (long long)idx);
    if (!s->img.data || s->img.w < 1 || s->img.h < 1)
        return err_set(e, ERR_INTERNAL, "sample %lld: the fetch callback gave no image",
                       (long long)idx);
    if (s->n < 0 || s->n > s->box_cap)
        return err_set(e, ERR_INTERNAL,
                       "sample %lld: boxes must be stored through det_sample_boxes()",
                       (long long)idx);
    return 0;
}

static int put_boxes(slot *sl, int at, const det_box *b, int n)
{
    if (at + n > sl->box_cap) {
        int nc = sl->box_cap ? sl->box_cap : 256;
        while (nc < at + n)
            nc *= 2;
        det_box *p = realloc(sl->b.boxes, (size_t)nc * sizeof *p);
        if (!p) return -1;
        sl->b.boxes = p;
        sl->box_cap = nc;
    }
    memcpy(sl->b.boxes + at, b, (size_t)n * sizeof *b);
    return 0;
}

static int fill(det_loader *l, slot *sl, int64_t k, int64_t epoch, float mosaic, wstate *w, err *e)
{
    const det_loader_cfg *c = &l->cfg;
    int W = c->aug.out_w, H = c->aug.out_h;
    int64_t first = k * c->batch;
    int n = (int)((first + c->batch <= c->count) ? c->batch : c->count - first);
    size_t plane = (size_t)W * (size_t)H;
    sl->b.n = n;
    sl->b.x->n = n;
    int nb = 0;
    det_aug aug = c->aug;
    aug.mosaic = mosaic;
    for (int i = 0; i < n; i++) {
        int64_t idx = l->perm ? l->perm[first + i] : first + i;
        uint64_t seed = nn_sample_seed(c->seed, epoch, idx);
        int got = 0;
        if (c->letterbox) {
            if (fetch_one(l, idx, &w->smp[0], e) < 0) return -1;
            det_sample *s = &w->smp[0];
            det_lb *lb = &sl->b.lb[i];
            det_lb_fit(s->img.w, s->img.h, W, H, false, lb);
            if (det_lb_apply(&s->img, lb, w->img, e) < 0)
                return err_prefix(e, "sample %lld", (long long)idx);
            sl->b.img_w[i] = s->img.w;
            sl->b.img_h[i] = s->img.h;
            if (s->n > w->box_cap) {
                det_box *p = realloc(w->boxes, (size_t)s->n * sizeof *p);
                if (!p) return err_set(e, ERR_INTERNAL, "out of memory");
                w->boxes = p;
                w->box_cap = s->n;
            }
            for (int j = 0; j < s->n; j++) {
                det_box b = s->boxes[j];
                b.x = b.x * lb->scale + lb->pad_x;
                b.y = b.y * lb->scale + lb->pad_y;
                b.w *= lb->scale;
                b.h *= lb->scale;
                w->boxes[got++] = b;
            }
        } else {
            /* the mosaic partners come from the sample's own seed */
            nn_rng r;
            nn_rng_seed(&r, seed ^ 0x6d6f73616963ull);
            int64_t ids[4] = {idx, 0, 0, 0};
            int ns = mosaic > 0 && c->count > 1 ? 4 : 1;
            for (int j = 1; j < 4; j++)
                ids[j] = (int64_t)(nn_rng_next(&r) % (uint64_t)c->count);
            /* draw the mosaic coin the way det_augment will, to skip three
             * fetches when it says no */
            nn_rng_seed(&r, seed);
            if (ns == 4 && !(nn_rng_uniform(&r) < mosaic)) ns = 1;
            det_src src[4];
            int total = 0;
            for (int j = 0; j < ns; j++) {
                if (fetch_one(l, ids[j], &w->smp[j], e) < 0) return -1;
                src[j] = (det_src){w->smp[j].img, w->smp[j].boxes, w->smp[j].n};
                total += w->smp[j].n;
            }
            if (total > w->box_cap) {
                det_box *p = realloc(w->boxes, (size_t)total * sizeof *p);
                if (!p) return err_set(e, ERR_INTERNAL, "out of memory");
                w->boxes = p;
                w->box_cap = total;
            }
            if (det_augment(&aug, src, ns, seed, w->img, w->boxes, total, &got, e) < 0)
                return err_prefix(e, "sample %lld", (long long)idx);
        }
        /* to the batch tensor: CHW floats in [0, 1] */
        float *x = sl->b.x->data + plane * 3 * (size_t)i;
        for (size_t p = 0; p < plane; p++) {
            x[p] = w->img[3 * p] * (1.0f / 255);
            x[plane + p] = w->img[3 * p + 1] * (1.0f / 255);
            x[2 * plane + p] = w->img[3 * p + 2] * (1.0f / 255);
        }
        sl->b.first[i] = nb;
        if (put_boxes(sl, nb, w->boxes, got) < 0) return err_set(e, ERR_INTERNAL, "out of memory");
        nb += got;
        sl->b.index[i] = idx;
    }
    sl->b.first[n] = nb;
    return 0;
}

static void *worker(void *arg)
{
    det_loader *l = arg;
    wstate w = {0};
    err e;
    w.img = malloc((size_t)l->cfg.aug.out_w * (size_t)l->cfg.aug.out_h * 3);
    pthread_mutex_lock(&l->mu);
    if (!w.img) {
        l->failed = true;
        err_set(&l->error, ERR_INTERNAL, "out of memory");
    }
    while (!l->shutdown) {
        int64_t k = l->next_claim;
        slot *sl = &l->slots[k % l->nslots];
        if (!w.img || !l->active || l->failed || k >= l->nbatches || sl->state != SLOT_FREE) {
            pthread_cond_wait(&l->cv, &l->mu);
            continue;
        }
        l->next_claim++;
        sl->state = SLOT_FILLING;
        sl->idx = k;
        uint64_t gen = l->gen;
        int64_t epoch = l->epoch;
        float mosaic = l->mosaic;
        pthread_mutex_unlock(&l->mu);
        err_clear(&e);
        int rc = fill(l, sl, k, epoch, mosaic, &w, &e);
        pthread_mutex_lock(&l->mu);
        if (gen != l->gen) {
            sl->state = SLOT_FREE;
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
    wstate_free(&w);
    return NULL;
}

void det_loader_free(det_loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->shutdown = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nthreads; i++)
        pthread_join(l->threads[i], NULL);
    for (int i = 0; i < l->nslots; i++) {
        det_batch *b = &l->slots[i].b;
        nn_tensor_free(b->x);
        free(b->index);
        free(b->boxes);
        free(b->first);
        free(b->lb);
        free(b->img_w);
        free(b->img_h);
    }
    free(l->slots);
    free(l->threads);
    free(l->perm);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

det_loader *det_loader_new(const det_loader_cfg *cfg, det_fetch_fn fetch, void *ud, err *e)
{
    det_loader_cfg c = *cfg;
    if (c.workers <= 0) c.workers = 1;
    if (c.prefetch <= 0) c.prefetch = c.workers + 1;
    if (c.count < 1 || c.batch < 1 || c.batch > 4096 || c.workers > 64 || c.prefetch > 64 ||
        !fetch) {
        err_set(e, ERR_INVALID,
                "loader: need at least one sample, a batch of 1-4096, 1-64 workers and 1-64 "
                "prefetched batches");
        return NULL;
    }
    int W = c.aug.out_w, H = c.aug.out_h;
    if (W < DET_STRIDE || H < DET_STRIDE || W > DET_MAX_SIDE || H > DET_MAX_SIDE ||
        W % DET_STRIDE || H % DET_STRIDE) {
        err_set(e, ERR_INVALID, "loader: input %dx%d; sides must be multiples of %d up to %d", W, H,
                DET_STRIDE, DET_MAX_SIDE);
        return NULL;
    }
    det_loader *l = calloc(1, sizeof *l);
    if (!l) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    l->cfg = c;
    l->fetch = fetch;
    l->ud = ud;
    l->mosaic = c.aug.mosaic;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->nbatches = batch_count(&c);
    l->slots = calloc((size_t)c.prefetch, sizeof *l->slots);
    l->threads = calloc((size_t)c.workers, sizeof *l->threads);
    if (c.shuffle) l->perm = malloc((size_t)c.count * sizeof *l->perm);
    if (!l->slots || !l->threads || (c.shuffle && !l->perm)) {
        err_set(e, ERR_INTERNAL, "out of memory");
        det_loader_free(l);
        return NULL;
    }
    l->nslots = c.prefetch;
    for (int i = 0; i < l->nslots; i++) {
        det_batch *b = &l->slots[i].b;
        b->x = nn_tensor_new(c.batch, 3, H, W);
        b->index = calloc((size_t)c.batch, sizeof *b->index);
        b->first = calloc((size_t)c.batch + 1, sizeof *b->first);
        b->lb = calloc((size_t)c.batch, sizeof *b->lb);
        b->img_w = calloc((size_t)c.batch, sizeof *b->img_w);
        b->img_h = calloc((size_t)c.batch, sizeof *b->img_h);
        if (!b->x || !b->index || !b->first || !b->lb || !b->img_w || !b->img_h) {
            err_set(e, ERR_INTERNAL, "out of memory for %d prefetched batches", c.prefetch);
            det_loader_free(l);
            return NULL;
        }
    }
    for (int i = 0; i < c.workers; i++) {
        if (pthread_create(&l->threads[i], NULL, worker, l) != 0) {
            err_set(e, ERR_INTERNAL, "cannot start loader threads");
            det_loader_free(l);
            return NULL;
        }
        l->nthreads++;
    }
    return l;
}

int det_loader_start(det_loader *l, int64_t epoch, float mosaic, err *e)
{
    (void)e;
    pthread_mutex_lock(&l->mu);
    /* wait for batches handed out and not released: their slots are in use */
    l->gen++;
    l->epoch = epoch;
    l->mosaic = mosaic;
    l->next_claim = l->next_out = 0;
    l->failed = false;
    for (int i = 0; i < l->nslots; i++)
        if (l->slots[i].state == SLOT_READY) l->slots[i].state = SLOT_FREE;
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

int det_loader_next(det_loader *l, det_batch **b, err *e)
{
    pthread_mutex_lock(&l->mu);
    if (!l->active) {
        pthread_mutex_unlock(&l->mu);
        return err_set(e, ERR_INVALID, "loader: call det_loader_start first");
    }
    if (l->next_out >= l->nbatches) {
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    slot *sl = &l->slots[l->next_out % l->nslots];
    while (!l->failed && !(sl->state == SLOT_READY && sl->idx == l->next_out))
        pthread_cond_wait(&l->cv, &l->mu);
    if (l->failed) {
        if (e) *e = l->error;
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    sl->state = SLOT_OUT;
    l->next_out++;
    *b = &sl->b;
    pthread_mutex_unlock(&l->mu);
    return 1;
}

void det_loader_release(det_loader *l, det_batch *b)
{
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->nslots; i++)
        if (&l->slots[i].b == b) l->slots[i].state = SLOT_FREE;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

int64_t det_loader_batches(const det_loader *l)
{
    return l->nbatches;
}
