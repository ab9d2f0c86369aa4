/*
 * train.c - the training loop: loaders, forward, softmax cross-entropy,
 * backward, optimizer step with a scheduled learning rate, EMA, and an
 * evaluation after each epoch. What the CLI's `cvops nn train` and the
 * platform's training jobs run.
 *
 * The progress callback sees running statistics every `log_every` steps
 * and the epoch's validation numbers at its end; returning non-zero stops
 * the run cleanly (the model keeps what it has learnt so far). With an EMA
 * the evaluation uses the averaged weights, and the model ends with them.
 *
 * auto_threads: on a machine shared with other processes, a descheduled
 * OpenMP thread stalls every parallel region of the other, and one thread
 * can be twice as fast as two (measured on the 2-core CI machine under
 * load). Each epoch times 7 steps with each count and keeps the faster.
 */
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "nn/nn_impl.h"

static void default_aug(const nn_model *m, nn_aug *a)
{
    if (a->out_w == 0 || a->out_h == 0) {
        a->out_w = m->in_w;
        a->out_h = m->in_h;
    }
    if (a->out_c == 0)
        a->out_c = m->in_c;
    if (a->std[0] == 0) {
        memcpy(a->mean, m->mean, sizeof a->mean);
        memcpy(a->std, m->std, sizeof a->std);
    }
}

static double median7(double *v, int n)
{
    for (int i = 1; i < n; i++) /* insertion sort: n <= 8 */
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n ? v[n / 2] : 0;
}

/* Accuracy and mean loss of the model on a loader's epoch. */
static int evaluate(nn_session *s, nn_loader *l, nn_tensor **dy, double *loss, double *acc,
                    err *e)
{
    if (nn_loader_start(l, 0, e) < 0)
        return -1;
    double sum = 0;
    int64_t correct = 0, total = 0;
    nn_batch *b;
    int rc;
    int *pred = NULL;
    while ((rc = nn_loader_next(l, &b, e)) == 1) {
        const nn_tensor *y = nn_forward(s, b->x, false, e);
        double bl;
        if (!y || nn_loss_softmax_ce(y, b->labels, 0, NULL, &bl, e) < 0) {
            nn_loader_release(l, b);
            free(pred);
            return -1;
        }
        int *np = realloc(pred, (size_t)b->n * sizeof *pred);
        if (!np) {
            nn_loader_release(l, b);
            free(pred);
            return err_set(e, ERR_INTERNAL, "out of memory");
        }
        pred = np;
        nn_argmax(y, pred);
        for (int i = 0; i < b->n; i++)
            correct += pred[i] == b->labels[i];
        sum += bl * b->n;
        total += b->n;
        nn_loader_release(l, b);
    }
    free(pred);
    (void)dy;
    if (rc < 0)
        return -1;
    *loss = total ? sum / (double)total : 0;
    *acc = total ? (double)correct / (double)total : 0;
    return 0;
}

int nn_train_run(nn_model *m, const nn_train_cfg *cfg, nn_fetch_fn train_fetch, void *train_ud,
                 int64_t train_count, nn_fetch_fn val_fetch, void *val_ud, int64_t val_count,
                 nn_train_stats *final, err *e)
{
    if (cfg->epochs < 1 || cfg->batch < 1 || train_count < 1)
        return err_set(e, ERR_INVALID, "training needs at least one epoch, batch and sample");
    nn_loader_cfg lc = {.count = train_count,
                        .batch = cfg->batch,
                        .shuffle = true,
                        .drop_last = train_count >= cfg->batch,
                        .seed = cfg->seed,
                        .aug = cfg->train_aug,
                        .workers = cfg->workers};
    default_aug(m, &lc.aug);
    nn_loader_cfg vc = {.count = val_count,
                        .batch = cfg->batch,
                        .seed = cfg->seed,
                        .aug = cfg->val_aug,
                        .workers = cfg->workers};
    default_aug(m, &vc.aug);
    nn_session *s = NULL;
    nn_optim *opt = NULL;
    nn_ema *ema = NULL;
    nn_loader *tl = NULL, *vl = NULL;
    nn_tensor *dy = NULL;
    int *pred = NULL;
    int rc = -1;
    nn_train_stats st = {0};
    if (!(s = nn_session_new(m, e)) || !(opt = nn_optim_new(m, &cfg->optim, e)) ||
        !(tl = nn_loader_new(&lc, train_fetch, train_ud, e)))
        goto out;
    if (val_count > 0 && val_fetch && !(vl = nn_loader_new(&vc, val_fetch, val_ud, e)))
        goto out;
    if (cfg->ema_decay > 0 && !(ema = nn_ema_new(m, cfg->ema_decay, e)))
        goto out;
    nn_session_seed(s, cfg->seed);
    st.threads = nn_session_threads(s);
    nn_sched sched = cfg->sched;
    int64_t per_epoch = nn_loader_batches(tl);
    st.steps_total = per_epoch * cfg->epochs;
    if (sched.total == 0)
        sched.total = st.steps_total;
    int log_every = cfg->log_every > 0 ? cfg->log_every : 50;
    pred = malloc((size_t)cfg->batch * sizeof *pred);
    if (!pred) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    int64_t t_start = time_mono_ns();
    double train_s = 0;
    bool stop = false;
    for (int ep = 0; ep < cfg->epochs && !stop; ep++) {
        st.epoch = ep;
        if (nn_loader_start(tl, ep, e) < 0)
            goto out;
        double lsum = 0;
        int64_t seen = 0, correct = 0;
        int64_t t_ep = time_mono_ns();
        nn_batch *b;
        int r;
        /* thread probe: steps 1-7 with the current count, 9-15 with the
         * other (the first step after a switch rebuilds the plans) */
        int probing = cfg->auto_threads && nn_threads() > 1 && per_epoch >= 40 ? 1 : 0;
        int cur = nn_session_threads(s), alt = cur > 1 ? 1 : nn_threads();
        double ta[8], tb[8];
        int na = 0, nb = 0;
        int64_t in_epoch = 0;
        while ((r = nn_loader_next(tl, &b, e)) == 1) {
            int64_t t_step = time_mono_ns();
            const nn_tensor *y = nn_forward(s, b->x, true, e);
            if (!y) {
                nn_loader_release(tl, b);
                goto out;
            }
            if (!dy || dy->n != y->n || dy->c != y->c) {
                nn_tensor_free(dy);
                if (!(dy = nn_tensor_new(y->n, y->c, 1, 1))) {
                    nn_loader_release(tl, b);
                    err_set(e, ERR_INTERNAL, "out of memory");
                    goto out;
                }
            }
            double bl;
            if (nn_loss_softmax_ce(y, b->labels, cfg->label_smoothing, dy, &bl, e) < 0) {
                nn_loader_release(tl, b);
                goto out;
            }
            nn_argmax(y, pred);
            for (int i = 0; i < b->n; i++)
                correct += pred[i] == b->labels[i];
            int n = b->n;
            nn_loader_release(tl, b);
            if (nn_backward(s, dy, e) < 0)
                goto out;
            if (cfg->sched_by_time && cfg->max_seconds > 0) {
                /* the schedule's position is the fraction of the time budget spent */
                double f = (train_s + (double)(time_mono_ns() - t_ep) / 1e9) / cfg->max_seconds;
                nn_sched ts = sched;
                ts.warmup = 0;
                ts.total = 1000000;
                ts.step_size = sched.step_size > 0 && st.steps_total > 0
                                   ? (int64_t)(1e6 * (double)sched.step_size /
                                               (double)st.steps_total)
                                   : 0;
                st.lr = nn_lr_at(&ts, (int64_t)(f > 1 ? 1e6 : f * 1e6));
                if (sched.warmup > 0 && st.step < sched.warmup)
                    st.lr *= sched.warmup_from +
                             (1.0 - sched.warmup_from) * (double)st.step / (double)sched.warmup;
            } else {
                st.lr = nn_lr_at(&sched, st.step);
            }
            if (nn_optim_step(opt, (float)st.lr, NULL, e) < 0) {
                err_prefix(e, "epoch %d, step %lld", ep + 1, (long long)st.step);
                goto out;
            }
            if (ema)
                nn_ema_update(ema);
            if (probing) {
                double dt = (double)(time_mono_ns() - t_step) / 1e9;
                if (in_epoch >= 1 && in_epoch <= 7)
                    ta[na++] = dt;
                else if (in_epoch >= 9 && in_epoch <= 15)
                    tb[nb++] = dt;
                if (in_epoch == 7) {
                    nn_session_set_threads(s, alt);
                } else if (in_epoch == 15) {
                    if (median7(tb, nb) >= median7(ta, na))
                        nn_session_set_threads(s, cur); /* the other count was not faster */
                    probing = 0;
                }
            }
            in_epoch++;
            st.threads = nn_session_threads(s);
            st.step++;
            lsum += bl * n;
            seen += n;
            st.loss = lsum / (double)seen;
            st.train_acc = (double)correct / (double)seen;
            double dt = (double)(time_mono_ns() - t_ep) / 1e9;
            st.images_per_s = dt > 0 ? (double)seen / dt : 0;
            st.elapsed_s = train_s + dt;
            if (cfg->progress && st.step % log_every == 0 &&
                cfg->progress(cfg->progress_ud, &st, false)) {
                stop = true;
                break;
            }
            if (cfg->max_seconds > 0 && st.elapsed_s >= cfg->max_seconds) {
                stop = true;
                break;
            }
        }
        if (r < 0)
            goto out;
        train_s += (double)(time_mono_ns() - t_ep) / 1e9;
        st.elapsed_s = train_s;
        if (vl) {
            if (ema)
                nn_ema_swap(ema);
            int er = evaluate(s, vl, &dy, &st.val_loss, &st.val_acc, e);
            if (ema)
                nn_ema_swap(ema);
            if (er < 0)
                goto out;
        }
        if (cfg->progress && cfg->progress(cfg->progress_ud, &st, true))
            stop = true;
    }
    (void)t_start;
    rc = 0;
out:
    if (ema) {
        if (rc == 0)
            nn_ema_swap(ema); /* the model ends with the averaged weights */
        nn_ema_free(ema);
    }
    if (final)
        *final = st;
    free(pred);
    nn_tensor_free(dy);
    nn_loader_free(tl);
    nn_loader_free(vl);
    nn_optim_free(opt);
    nn_session_free(s);
    return rc;
}
