/*
 * committer.c - group commit of metric batches.
 *
 * A request thread that has parsed a batch hands it to the committer and
 * waits. The committer thread takes everything queued, opens one
 * transaction, writes each batch inside its own savepoint (a failing batch
 * is rolled back to its savepoint and reported to its request alone), and
 * commits once. While it writes, new batches queue up for the next round,
 * so under load one commit carries many requests, and the per-commit cost
 * (WAL append and sync on SQLite, a round trip and WAL flush on PostgreSQL)
 * is shared. With one request at a time it costs a queue hand-off: tens of
 * microseconds.
 *
 * If the commit itself fails, every batch of that round fails (nothing of
 * them was written) with the database's error.
 *
 * Each waiting request has its own condition variable: the committer wakes
 * the first request of a round and each woken request wakes two more, so
 * the committer never pays for waking a whole round, no broadcast wakes
 * requests whose batches are still queued, and a round of 64 is awake
 * after 6 hops.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "experiment/experiment_impl.h"

#define ROUND_MAX_POINTS 200000 /* points per transaction */

typedef struct item {
    struct item *next;
    int64_t org, experiment;
    const exp_batch *b;
    bool done;
    bool grouped; /* taken into a group of its round */
    int rc;
    err e;
    pthread_cond_t cv; /* its request waits here: one wake-up per request, not a herd */
    struct item *kid[2]; /* the requests it wakes when it is woken */
} item;

struct exp_committer {
    db *d;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;  /* work queued or stopping */
    item *head, *tail;
    bool stopping;
    item **round; /* the current round as an array (the wake-up tree) */
    size_t round_cap;
};

static int apply_one(db_conn *c, item *it)
{
    err *e = &it->e;
    if (db_exec(c, "SAVEPOINT batch", e) != 0)
        return -1;
    if (exp_points_apply(c, it->org, it->experiment, it->b, e) != 0) {
        err ignore;
        db_exec(c, "ROLLBACK TO SAVEPOINT batch", &ignore);
        db_exec(c, "RELEASE SAVEPOINT batch", &ignore);
        return -1;
    }
    return db_exec(c, "RELEASE SAVEPOINT batch", e);
}

/* The batches of several requests for one experiment as one batch: series
 * by name, points in arrival order. 0, or -1 when out of memory. */
static int merge(item **its, size_t n, exp_batch *out)
{
    size_t np = 0, ns = 0;
    for (size_t i = 0; i < n; i++) {
        np += its[i]->b->npoints;
        ns += its[i]->b->nseries;
    }
    memset(out, 0, sizeof *out);
    out->points = malloc((np ? np : 1) * sizeof *out->points);
    out->series = malloc((ns ? ns : 1) * sizeof *out->series);
    uint32_t *map = malloc((ns ? ns : 1) * sizeof *map);
    if (!out->points || !out->series || !map) {
        free(out->points);
        free(out->series);
        free(map);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const exp_batch *b = its[i]->b;
        for (size_t s = 0; s < b->nseries; s++) {
            size_t k = 0; /* few series per round: a scan is fine */
            while (k < out->nseries && (out->series[k].len != b->series[s].len ||
                                        memcmp(out->series[k].name, b->series[s].name,
                                               b->series[s].len) != 0))
                k++;
            if (k == out->nseries) {
                out->series[k] = b->series[s];
                out->series[k].count = 0;
                out->nseries++;
            }
            out->series[k].count += b->series[s].count;
            map[s] = (uint32_t)k;
        }
        for (size_t p = 0; p < b->npoints; p++) {
            out->points[out->npoints] = b->points[p];
            out->points[out->npoints++].series = map[b->points[p].series];
        }
    }
    free(map);
    return 0;
}

/* Writes the items of one experiment: merged into one append per metric
 * (a single-point request then costs a share of one tail-chunk rewrite,
 * not a rewrite of its own); if the merged write fails, each batch again
 * on its own so only the faulty one fails. */
static void write_experiment(db_conn *c, item **its, size_t n)
{
    if (n > 1) {
        exp_batch merged;
        if (merge(its, n, &merged) == 0) {
            item all = {.org = its[0]->org, .experiment = its[0]->experiment, .b = &merged};
            int rc = apply_one(c, &all);
            free(merged.points);
            free(merged.series);
            if (rc == 0) {
                for (size_t i = 0; i < n; i++)
                    its[i]->rc = 0;
                return;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        its[i]->rc = apply_one(c, its[i]);
}

static void round_write(exp_committer *gc, item *list)
{
    err e;
    err_clear(&e);
    db_conn *c = db_get(gc->d, &e);
    int ok = c && db_begin(c, &e) == 0;
    size_t n = 0;
    for (item *it = list; it; it = it->next) {
        err_clear(&it->e);
        it->rc = -1;
        it->grouped = false;
        if (!ok)
            it->e = e;
        n++;
    }
    item **group = ok ? malloc(n * sizeof *group) : NULL;
    for (item *it = list; ok && it; it = it->next) {
        if (it->grouped)
            continue;
        size_t k = 0;
        if (!group) { /* out of memory: one by one */
            it->rc = apply_one(c, it);
            continue;
        }
        for (item *x = it; x; x = x->next)
            if (!x->grouped && x->experiment == it->experiment && x->org == it->org) {
                x->grouped = true;
                group[k++] = x;
            }
        write_experiment(c, group, k);
    }
    free(group);
    if (ok && db_commit(c, &e) != 0) {
        for (item *it = list; it; it = it->next)
            if (it->rc == 0) {
                it->rc = -1;
                it->e = e;
            }
    }
    db_put(c);
}

static void *run(void *arg)
{
    exp_committer *gc = arg;
    pthread_mutex_lock(&gc->mu);
    for (;;) {
        while (!gc->head && !gc->stopping)
            pthread_cond_wait(&gc->wake, &gc->mu);
        if (!gc->head && gc->stopping)
            break;
        /* take a round: whole queue, bounded by points */
        item *list = gc->head, *last = list;
        size_t points = list->b->npoints;
        while (last->next && points + last->next->b->npoints <= ROUND_MAX_POINTS) {
            last = last->next;
            points += last->b->npoints;
        }
        gc->head = last->next;
        if (!gc->head)
            gc->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&gc->mu);
        round_write(gc, list);
        /* Wake the round's first request only; each woken request wakes
         * two more (a binary tree: 64 requests are awake after 6 hops; see
         * exp_points_commit). A wake-up costs the waker a system call and
         * often a context switch, and the committer has the next round to
         * write. */
        size_t n = 0;
        for (item *it = list; it; it = it->next)
            n++;
        if (n > gc->round_cap) {
            item **a = realloc(gc->round, n * sizeof *a);
            if (a) {
                gc->round = a;
                gc->round_cap = n;
            }
        }
        pthread_mutex_lock(&gc->mu);
        if (n <= gc->round_cap) {
            size_t i = 0;
            for (item *it = list; it; it = it->next)
                gc->round[i++] = it;
            for (i = 0; i < n; i++) {
                gc->round[i]->kid[0] = 2 * i + 1 < n ? gc->round[2 * i + 1] : NULL;
                gc->round[i]->kid[1] = 2 * i + 2 < n ? gc->round[2 * i + 2] : NULL;
            }
        } else { /* out of memory: a chain along the list */
            for (item *it = list; it; it = it->next)
                it->kid[0] = it->next;
        }
        list->done = true;
        pthread_cond_signal(&list->cv);
    }
    pthread_mutex_unlock(&gc->mu);
    return NULL;
}

exp_committer *exp_committer_start(db *d, err *e)
{
    exp_committer *gc = calloc(1, sizeof *gc);
    if (!gc) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    gc->d = d;
    pthread_mutex_init(&gc->mu, NULL);
    pthread_cond_init(&gc->wake, NULL);
    if (pthread_create(&gc->thread, NULL, run, gc) != 0) {
        pthread_mutex_destroy(&gc->mu);
        pthread_cond_destroy(&gc->wake);
        free(gc);
        err_set(e, ERR_INTERNAL, "cannot start the metric committer thread");
        return NULL;
    }
    return gc;
}

void exp_committer_stop(exp_committer *gc)
{
    if (!gc)
        return;
    pthread_mutex_lock(&gc->mu);
    gc->stopping = true;
    pthread_cond_signal(&gc->wake);
    pthread_mutex_unlock(&gc->mu);
    pthread_join(gc->thread, NULL);
    pthread_mutex_destroy(&gc->mu);
    pthread_cond_destroy(&gc->wake);
    free(gc->round);
    free(gc);
}

int exp_points_commit(exp_committer *gc, db *d, int64_t org, int64_t experiment,
                      const exp_batch *b, err *e)
{
    if (!gc) {
        db_conn *c = db_get(d, e);
        if (!c)
            return -1;
        int rc = db_begin(c, e);
        if (rc == 0 && exp_points_apply(c, org, experiment, b, e) != 0)
            rc = -1;
        if (rc == 0)
            rc = db_commit(c, e);
        db_put(c); /* rolls back an open transaction */
        return rc;
    }
    item it = {.org = org, .experiment = experiment, .b = b};
    pthread_cond_init(&it.cv, NULL);
    pthread_mutex_lock(&gc->mu);
    if (gc->stopping) {
        pthread_mutex_unlock(&gc->mu);
        pthread_cond_destroy(&it.cv);
        return err_set(e, ERR_UNAVAILABLE, "the server is shutting down; send the batch again");
    }
    if (gc->tail)
        gc->tail->next = &it;
    else
        gc->head = &it;
    gc->tail = &it;
    pthread_cond_signal(&gc->wake);
    while (!it.done)
        pthread_cond_wait(&it.cv, &gc->mu);
    /* pass the wake-up on to the requests below this one in the round's
     * tree: they cannot return (and free their items) before their done
     * flag is set, here, under the lock */
    for (int k = 0; k < 2; k++)
        if (it.kid[k]) {
            it.kid[k]->done = true;
            pthread_cond_signal(&it.kid[k]->cv);
        }
    pthread_mutex_unlock(&gc->mu);
    pthread_cond_destroy(&it.cv);
    if (it.rc != 0) {
        *e = it.e;
        if (e->code == ERR_NONE)
            err_set(e, ERR_INTERNAL, "the batch could not be written");
    }
    return it.rc;
}
