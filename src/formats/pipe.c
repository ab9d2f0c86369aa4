/*
 * pipe.c - a reader's records, warnings and errors delivered on a second
 * thread (fmt_read_opts.pipeline).
 *
 * Reading a large COCO file is two kinds of work: tokenizing and checking
 * the JSON (the reader), and what the consumer does with each record (the
 * importer matches image names in the database, checks each shape against
 * its image and label and spools it), about a third of the reader's. With
 * a pipe the reader runs on the calling thread and the consumer's callbacks
 * on a thread of their own, so the two overlap on two cores.
 *
 * What the consumer sees does not change: the same calls, in the same
 * order, never two at once. The reader copies each event (a record with its
 * arrays, or a problem with its text already formatted) into batches of
 * about 256 KB; the consumer thread runs the batches in order. While the
 * pipe is open only the consumer thread touches the report, rd->e and
 * rd->failed; the reader learns that it must stop from `stopped` (the
 * consumer refused a record, or ran an error that ends the read) and from
 * its own errors, whose outcome it knows without waiting (fatal, or
 * keep_going off). Once the report keeps no more problems (it is full, and
 * stays full), problems are sent as counts, without formatting them.
 *
 * Only the COCO reader opens a pipe, around its categories, images and
 * annotations (fmt_coco_read); the other readers call back directly.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "formats/internal.h"

#define BATCH_BYTES (256u << 10)
#define MAX_BATCHES 64 /* 16 MB in flight: the consumer's slow stretches (a batch of image
                          names matched in the database) do not stop the reader */

enum { EV_SHAPE = 1, EV_CATEGORY, EV_IMAGE, EV_WARN, EV_ERROR, EV_WARN_COUNT, EV_ERROR_COUNT };

typedef struct ev_hdr {
    uint32_t type;
    uint32_t code;   /* EV_ERROR: the err_code, should it stop the read */
    uint64_t size;   /* bytes of this event, header included, a multiple of 8 */
    uint32_t fatal;  /* EV_ERROR: the read ends here whatever keep_going says */
    uint32_t where_len, msg_len; /* EV_WARN, EV_ERROR: texts after the header, NUL-ended */
    uint32_t pad;
} ev_hdr;

/* A shape's arrays as offsets from the start of its event (0: absent). */
typedef struct ev_shape {
    fmt_shape s;
    uint64_t points, ring_sizes, kp, rle_counts, rle_string, attributes;
} ev_shape;

typedef struct ev_category {
    fmt_category c;
    uint64_t name, supercategory, keypoints, skeleton; /* keypoints: nkeypoints offsets */
} ev_category;

typedef struct ev_image {
    fmt_image im;
    uint64_t file_name, path, split;
} ev_image;

typedef struct batch {
    struct batch *next;
    char *p;
    size_t len, cap;
} batch;

struct fmt_pipe {
    fmt_rd *rd;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv_work; /* consumer: a batch is queued, or the reader is done */
    pthread_cond_t cv_free; /* reader: a batch came back */
    batch *q_head, *q_tail; /* full batches, oldest first */
    batch *free_list;
    int nbatches;
    bool done;
    atomic_bool stopped;     /* the consumer stopped: the reader should too */
    atomic_bool report_full; /* the report keeps no more problems */
    batch *cur;              /* the reader's batch being filled */
    double cpu_s;            /* the consumer thread's CPU time */
};

static size_t g_batch_bytes = BATCH_BYTES;
static int g_max_batches = MAX_BATCHES;

void fmt_pipe_tune(size_t batch_bytes, int max_batches)
{
    g_batch_bytes = batch_bytes ? batch_bytes : BATCH_BYTES;
    g_max_batches = max_batches > 0 ? max_batches : MAX_BATCHES;
}

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

static void note_report(fmt_pipe *p)
{
    const fmt_report *r = p->rd->rep;
    if (r->n >= (r->max > 0 ? r->max : 1000))
        atomic_store(&p->report_full, true);
}

/* Runs one event on the consumer thread, as the direct calls would have. */
static void run_event(fmt_pipe *p, char *ev)
{
    fmt_rd *rd = p->rd;
    ev_hdr *h = (ev_hdr *)ev;
    const char *where = ev + sizeof *h, *msg = where + h->where_len + 1;
    switch (h->type) {
    case EV_SHAPE: {
        ev_shape *es = (ev_shape *)(ev + sizeof *h);
        fmt_shape s = es->s;
        s.points = es->points ? (const double *)(ev + es->points) : NULL;
        s.ring_sizes = es->ring_sizes ? (const int *)(ev + es->ring_sizes) : NULL;
        s.kp = es->kp ? (const double *)(ev + es->kp) : NULL;
        s.rle_counts = es->rle_counts ? (const uint32_t *)(ev + es->rle_counts) : NULL;
        s.rle_string = es->rle_string ? ev + es->rle_string : NULL;
        s.attributes = es->attributes ? ev + es->attributes : NULL;
        if (fmt_rd_shape_now(rd, &s) < 0)
            atomic_store(&p->stopped, true);
        break;
    }
    case EV_CATEGORY: {
        ev_category *ec = (ev_category *)(ev + sizeof *h);
        fmt_category c = ec->c;
        c.name = ec->name ? ev + ec->name : NULL;
        c.supercategory = ec->supercategory ? ev + ec->supercategory : NULL;
        c.skeleton = ec->skeleton ? (const int *)(ev + ec->skeleton) : NULL;
        const char **names = NULL;
        if (ec->keypoints) {
            names = (const char **)(ev + ec->keypoints); /* offsets become pointers in place */
            for (int i = 0; i < c.nkeypoints; i++) {
                uint64_t o;
                memcpy(&o, ev + ec->keypoints + (size_t)i * sizeof o, sizeof o);
                names[i] = ev + o;
            }
        }
        c.keypoints = names;
        if (fmt_rd_category_now(rd, &c) < 0)
            atomic_store(&p->stopped, true);
        break;
    }
    case EV_IMAGE: {
        ev_image *ei = (ev_image *)(ev + sizeof *h);
        fmt_image im = ei->im;
        im.file_name = ei->file_name ? ev + ei->file_name : NULL;
        im.path = ei->path ? ev + ei->path : NULL;
        im.split = ei->split ? ev + ei->split : NULL;
        if (fmt_rd_image_now(rd, &im) < 0)
            atomic_store(&p->stopped, true);
        break;
    }
    case EV_WARN: fmt_report_warn(rd->rep, where, "%s", msg); break;
    case EV_WARN_COUNT: rd->rep->warnings++; break;
    case EV_ERROR_COUNT: rd->rep->total++; break;
    case EV_ERROR:
        if (fmt_rd_error_now(rd, (err_code)h->code, h->fatal, where, msg) < 0)
            atomic_store(&p->stopped, true);
        break;
    default: break;
    }
    note_report(p);
}

static void *consumer_main(void *arg)
{
    fmt_pipe *p = arg;
    double c0 = time_thread_cpu_s();
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->q_head && !p->done)
            pthread_cond_wait(&p->cv_work, &p->mu);
        batch *b = p->q_head;
        if (b) {
            p->q_head = b->next;
            if (!p->q_head)
                p->q_tail = NULL;
        }
        pthread_mutex_unlock(&p->mu);
        if (!b)
            break;
        for (size_t off = 0; off < b->len && !atomic_load(&p->stopped);) {
            ev_hdr *h = (ev_hdr *)(b->p + off);
            run_event(p, b->p + off);
            off += h->size;
        }
        pthread_mutex_lock(&p->mu);
        b->len = 0;
        b->next = p->free_list;
        p->free_list = b;
        pthread_cond_signal(&p->cv_free);
        pthread_mutex_unlock(&p->mu);
    }
    p->cpu_s = time_thread_cpu_s() - c0;
    return NULL;
}

/* Queues the reader's current batch. */
static void flush(fmt_pipe *p)
{
    batch *b = p->cur;
    if (!b || !b->len)
        return;
    p->cur = NULL;
    pthread_mutex_lock(&p->mu);
    b->next = NULL;
    if (p->q_tail)
        p->q_tail->next = b;
    else
        p->q_head = b;
    p->q_tail = b;
    pthread_cond_signal(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
}

/* Room for an event of `need` bytes at the end of the current batch; NULL
 * when out of memory. Waits while all batches are with the consumer. */
static char *reserve(fmt_pipe *p, size_t need)
{
    if (p->cur && p->cur->len + need > p->cur->cap)
        flush(p);
    if (!p->cur) {
        pthread_mutex_lock(&p->mu);
        while (!p->free_list && p->nbatches >= g_max_batches)
            pthread_cond_wait(&p->cv_free, &p->mu);
        batch *b = p->free_list;
        if (b)
            p->free_list = b->next;
        else
            p->nbatches++;
        pthread_mutex_unlock(&p->mu);
        if (!b && !(b = calloc(1, sizeof *b))) {
            pthread_mutex_lock(&p->mu);
            p->nbatches--;
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        b->len = 0;
        p->cur = b;
    }
    batch *b = p->cur;
    if (b->len + need > b->cap) { /* a new batch, or one event larger than a batch */
        size_t cap = need > g_batch_bytes ? need : g_batch_bytes;
        char *q = realloc(b->p, cap);
        if (!q)
            return NULL;
        b->p = q;
        b->cap = cap;
    }
    char *ev = b->p + b->len;
    b->len += need;
    return ev;
}

int fmt_pipe_begin(fmt_rd *rd)
{
    fmt_pipe *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->rd = rd;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_free, NULL);
    note_report(p);
    if (pthread_create(&p->th, NULL, consumer_main, p) != 0) {
        pthread_cond_destroy(&p->cv_free);
        pthread_cond_destroy(&p->cv_work);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return -1; /* the caller reads without a pipe */
    }
    rd->pipe = p;
    rd->pipe_failed = false;
    return 0;
}

void fmt_pipe_end(fmt_rd *rd)
{
    fmt_pipe *p = rd->pipe;
    if (!p)
        return;
    flush(p);
    pthread_mutex_lock(&p->mu);
    p->done = true;
    pthread_cond_signal(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    rd->pipe = NULL;
    if (rd->pipe_failed && !rd->failed) {
        /* the reader stopped on an error it could not queue (out of memory) */
        if (rd->e->code == ERR_NONE)
            err_set(rd->e, ERR_INTERNAL, "out of memory");
        rd->failed = true;
    }
    rd->rep->consumer_cpu_s += p->cpu_s;
    if (p->cur) {
        free(p->cur->p);
        free(p->cur);
    }
    for (batch *b = p->free_list, *n; b; b = n) {
        n = b->next;
        free(b->p);
        free(b);
    }
    for (batch *b = p->q_head, *n; b; b = n) { /* none: the consumer ran them all */
        n = b->next;
        free(b->p);
        free(b);
    }
    pthread_cond_destroy(&p->cv_free);
    pthread_cond_destroy(&p->cv_work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

bool fmt_pipe_stopped(const fmt_rd *rd)
{
    return rd->pipe_failed || atomic_load(&rd->pipe->stopped);
}

bool fmt_pipe_report_full(const fmt_rd *rd) { return atomic_load(&rd->pipe->report_full); }

/* The copy of one array into the event; returns its offset. */
static uint64_t put(char *ev, size_t *at, const void *src, size_t n)
{
    if (!src)
        return 0;
    uint64_t off = *at;
    memcpy(ev + off, src, n);
    *at = align8(off + n);
    return off;
}

/* A new event of `need` bytes with its header filled; NULL (and the reader
 * stops) when out of memory. */
static char *ev_begin(fmt_rd *rd, uint32_t type, size_t need)
{
    char *ev = reserve(rd->pipe, need);
    if (!ev) {
        rd->pipe_failed = true;
        return NULL;
    }
    ev_hdr *h = (ev_hdr *)ev;
    memset(h, 0, sizeof *h);
    h->type = type;
    h->size = need;
    return ev;
}

int fmt_pipe_shape(fmt_rd *rd, const fmt_shape *s)
{
    if (fmt_pipe_stopped(rd))
        return -1;
    size_t np = s->points ? (size_t)s->npoints * 2 * sizeof(double) : 0;
    size_t nr = s->ring_sizes ? (size_t)s->nrings * sizeof(int) : 0;
    size_t nk = s->kp ? (size_t)s->nkp * 3 * sizeof(double) : 0;
    size_t nc = s->rle_counts ? (size_t)s->nrle * sizeof(uint32_t) : 0;
    size_t ns = s->rle_string ? strlen(s->rle_string) + 1 : 0;
    size_t na = s->attributes ? strlen(s->attributes) + 1 : 0;
    size_t need = sizeof(ev_hdr) + sizeof(ev_shape) + align8(np) + align8(nr) + align8(nk) +
                  align8(nc) + align8(ns) + align8(na);
    char *ev = ev_begin(rd, EV_SHAPE, need);
    if (!ev)
        return -1;
    ev_shape *es = (ev_shape *)(ev + sizeof(ev_hdr));
    es->s = *s;
    size_t at = sizeof(ev_hdr) + sizeof *es;
    es->points = put(ev, &at, s->points, np);
    es->ring_sizes = put(ev, &at, s->ring_sizes, nr);
    es->kp = put(ev, &at, s->kp, nk);
    es->rle_counts = put(ev, &at, s->rle_counts, nc);
    es->rle_string = put(ev, &at, s->rle_string, ns);
    es->attributes = put(ev, &at, s->attributes, na);
    return 0;
}

static size_t str_bytes(const char *t) { return t ? align8(strlen(t) + 1) : 0; }

static uint64_t put_str(char *ev, size_t *at, const char *t)
{
    return t ? put(ev, at, t, strlen(t) + 1) : 0;
}

int fmt_pipe_category(fmt_rd *rd, const fmt_category *c)
{
    if (fmt_pipe_stopped(rd))
        return -1;
    int nk = c->keypoints ? c->nkeypoints : 0;
    size_t need = sizeof(ev_hdr) + sizeof(ev_category) + str_bytes(c->name) +
                  str_bytes(c->supercategory) + (size_t)nk * sizeof(uint64_t) +
                  (c->skeleton ? align8((size_t)c->nskeleton * 2 * sizeof(int)) : 0);
    for (int i = 0; i < nk; i++)
        need += str_bytes(c->keypoints[i]);
    char *ev = ev_begin(rd, EV_CATEGORY, need);
    if (!ev)
        return -1;
    ev_category *ec = (ev_category *)(ev + sizeof(ev_hdr));
    ec->c = *c;
    size_t at = sizeof(ev_hdr) + sizeof *ec;
    ec->name = put_str(ev, &at, c->name);
    ec->supercategory = put_str(ev, &at, c->supercategory);
    ec->skeleton = c->skeleton ? put(ev, &at, c->skeleton, (size_t)c->nskeleton * 2 * sizeof(int))
                               : 0;
    ec->keypoints = 0;
    if (nk) {
        ec->keypoints = at;
        at += (size_t)nk * sizeof(uint64_t);
        for (int i = 0; i < nk; i++) {
            uint64_t o = put_str(ev, &at, c->keypoints[i] ? c->keypoints[i] : "");
            memcpy(ev + ec->keypoints + (size_t)i * sizeof(uint64_t), &o, sizeof o);
        }
    }
    return 0;
}

int fmt_pipe_image(fmt_rd *rd, const fmt_image *im)
{
    if (fmt_pipe_stopped(rd))
        return -1;
    size_t need = sizeof(ev_hdr) + sizeof(ev_image) + str_bytes(im->file_name) +
                  str_bytes(im->path) + str_bytes(im->split);
    char *ev = ev_begin(rd, EV_IMAGE, need);
    if (!ev)
        return -1;
    ev_image *ei = (ev_image *)(ev + sizeof(ev_hdr));
    ei->im = *im;
    size_t at = sizeof(ev_hdr) + sizeof *ei;
    ei->file_name = put_str(ev, &at, im->file_name);
    ei->path = put_str(ev, &at, im->path);
    ei->split = put_str(ev, &at, im->split);
    return 0;
}

/* A warning or an error with its text formatted (msg may be NULL: a count). */
static int problem(fmt_rd *rd, int type, err_code code, bool fatal, const char *where,
                   const char *msg)
{
    size_t wl = where ? strlen(where) : 0, ml = msg ? strlen(msg) : 0;
    size_t need = align8(sizeof(ev_hdr) + wl + 1 + ml + 1);
    char *ev = ev_begin(rd, (uint32_t)type, need);
    if (!ev)
        return -1;
    ev_hdr *h = (ev_hdr *)ev;
    h->code = (uint32_t)code;
    h->fatal = fatal;
    h->where_len = (uint32_t)wl;
    h->msg_len = (uint32_t)ml;
    char *t = ev + sizeof *h;
    memcpy(t, where ? where : "", wl + 1);
    memcpy(t + wl + 1, msg ? msg : "", ml + 1);
    return 0;
}

int fmt_pipe_error(fmt_rd *rd, err_code code, bool fatal, const char *where, const char *fmt,
                   va_list ap)
{
    bool stops = fatal || !rd->opts->keep_going;
    if (!stops && fmt_pipe_report_full(rd)) {
        if (problem(rd, EV_ERROR_COUNT, code, false, NULL, NULL) < 0)
            return -1;
        return 0;
    }
    char msg[300];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (problem(rd, EV_ERROR, code, fatal, where, msg) < 0 || stops) {
        rd->pipe_failed = true;
        return -1;
    }
    return 0;
}

void fmt_pipe_warn(fmt_rd *rd, const char *where, const char *fmt, va_list ap)
{
    if (fmt_pipe_report_full(rd)) {
        problem(rd, EV_WARN_COUNT, ERR_NONE, false, NULL, NULL);
        return;
    }
    char msg[300];
    vsnprintf(msg, sizeof msg, fmt, ap);
    problem(rd, EV_WARN, ERR_NONE, false, where, msg);
}
