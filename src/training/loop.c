/*
 * loop.c - the training loop of a platform run.
 *
 * It is the engine's loop (nn_train_run) taken apart for what a platform
 * run needs and the engine's loop does not give: starting at an epoch and
 * step with a restored optimizer (resume), a checkpoint after every epoch,
 * a confusion matrix of every validation, per-step metrics into the
 * experiment, and a stop that is checked after every step. It is built
 * from the engine's public pieces only (session, optimizer, schedule, EMA,
 * loaders), so the engine can change underneath.
 *
 * Determinism: the loader shuffles from (seed, epoch) and augments from
 * (seed, epoch, index), so a resumed run sees the same batches the
 * uninterrupted run would have seen from that epoch on.
 *
 * Checkpoints, after each epoch:
 *   checkpoints/last.safetensors        the weights (not the EMA)
 *   checkpoints/last.optim.safetensors  the optimizer state
 *   checkpoints/best.safetensors        the weights that scored best on
 *                                       val (the EMA's when there is one),
 *                                       or the last ones without val
 * The header's "extra" metadata carries run_id, epoch (epochs done), step
 * and best_val_acc: what a resume needs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "training/internal.h"

void train_softmax(const nn_tensor *logits, float *probs)
{
    int k = logits->c * logits->h * logits->w;
    for (int i = 0; i < logits->n; i++) {
        const float *x = logits->data + (size_t)i * (size_t)k;
        float *p = probs + (size_t)i * (size_t)k;
        float mx = x[0];
        for (int j = 1; j < k; j++)
            mx = x[j] > mx ? x[j] : mx;
        double sum = 0;
        for (int j = 0; j < k; j++) {
            p[j] = expf(x[j] - mx);
            sum += p[j];
        }
        for (int j = 0; j < k; j++)
            p[j] = (float)(p[j] / sum);
    }
}

/* Mean loss, accuracy and the confusion matrix (K x K, rows: actual) of
 * the model on a loader's epoch. */
static int evaluate(nn_session *s, nn_loader *l, int k, uint64_t *conf, double *loss, double *acc,
                    err *e)
{
    if (nn_loader_start(l, 0, e) < 0)
        return -1;
    memset(conf, 0, (size_t)k * (size_t)k * sizeof *conf);
    double sum = 0;
    int64_t correct = 0, total = 0;
    int *pred = NULL;
    nn_batch *b;
    int rc;
    while ((rc = nn_loader_next(l, &b, e)) == 1) {
        const nn_tensor *y = nn_forward(s, b->x, false, e);
        double bl;
        int *np = y ? realloc(pred, (size_t)b->n * sizeof *pred) : NULL;
        if (!y || !np || nn_loss_softmax_ce(y, b->labels, 0, NULL, &bl, e) < 0) {
            if (y && !np)
                err_set(e, ERR_INTERNAL, "out of memory");
            nn_loader_release(l, b);
            free(np ? np : pred);
            return -1;
        }
        pred = np;
        nn_argmax(y, pred);
        for (int i = 0; i < b->n; i++) {
            correct += pred[i] == b->labels[i];
            if (b->labels[i] >= 0 && b->labels[i] < k && pred[i] >= 0 && pred[i] < k)
                conf[(size_t)b->labels[i] * (size_t)k + (size_t)pred[i]]++;
        }
        sum += bl * b->n;
        total += b->n;
        nn_loader_release(l, b);
    }
    free(pred);
    if (rc < 0)
        return -1;
    *loss = total ? sum / (double)total : 0;
    *acc = total ? (double)correct / (double)total : 0;
    return 0;
}

static void log_confusion(train_ctx *t, const char *name, int64_t step, const uint64_t *conf)
{
    int k = t->data.nclasses;
    json_t *labels = json_array(), *rows = json_array();
    for (int i = 0; i < k; i++) {
        json_array_append_new(labels, json_string(t->data.classes[i]));
        json_t *row = json_array();
        for (int j = 0; j < k; j++)
            json_array_append_new(row, json_integer((json_int_t)conf[(size_t)i * (size_t)k + (size_t)j]));
        json_array_append_new(rows, row);
    }
    json_t *body = json_pack("{s:s, s:s, s:I, s:{s:o, s:o}}", "name", name, "kind",
                             "confusion_matrix", "step", (json_int_t)step, "data", "labels",
                             labels, "matrix", rows);
    err e;
    if (tlog_record(&t->log, body, &e) != 0)
        job_log(t->job, "could not log %s: %s", name, e.msg);
}

static int save_checkpoints(train_ctx *t, nn_optim *o, nn_ema *ema, int epochs_done, int64_t step,
                            bool best, double val_acc, err *e)
{
    char extra[512], last[1200], opt[1200];
    snprintf(extra, sizeof extra,
             "{\"run_id\":%lld,\"experiment_id\":%lld,\"epoch\":%d,\"step\":%lld,"
             "\"val_acc\":%.6f,\"best_val_acc\":%.6f,\"train_seconds\":%.3f}",
             (long long)t->log.run, (long long)t->log.experiment, epochs_done, (long long)step,
             val_acc, best ? val_acc : t->best_val_acc, t->train_seconds);
    snprintf(last, sizeof last, "%s-last.safetensors", t->tmp_prefix);
    snprintf(opt, sizeof opt, "%s-last.optim.safetensors", t->tmp_prefix);
    char sha[65];
    int64_t size;
    int rc = -1;
    if (nn_model_save(t->model, last, extra, e) != 0 ||
        tlog_artifact_file(&t->log, last, "checkpoints/last.safetensors", sha, &size, e) != 0 ||
        nn_optim_save(o, opt, e) != 0 ||
        tlog_artifact_file(&t->log, opt, "checkpoints/last.optim.safetensors", NULL, NULL, e) != 0)
        goto out;
    if (best) {
        snprintf(t->best_file, sizeof t->best_file, "%s-best.safetensors", t->tmp_prefix);
        if (ema) {
            nn_ema_swap(ema);
            int sr = nn_model_save(t->model, t->best_file, extra, e);
            nn_ema_swap(ema);
            if (sr != 0 || tlog_artifact_file(&t->log, t->best_file, "checkpoints/best.safetensors",
                                              NULL, NULL, e) != 0)
                goto out;
        } else {
            if (rename(last, t->best_file) != 0) {
                err_set(e, ERR_IO, "cannot keep the best checkpoint");
                goto out;
            }
            if (tlog_artifact_ref(&t->log, sha, size, "checkpoints/best.safetensors", e) != 0)
                goto out;
        }
    }
    rc = 0;
out:
    unlink(last);
    unlink(opt);
    if (rc != 0)
        err_prefix(e, "saving the checkpoint of epoch %d: ", epochs_done);
    return rc;
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    return n ? v[n / 2] : 0;
}

int train_loop(train_ctx *t, err *e)
{
    const training_cfg *cfg = &t->cfg;
    nn_model *m = t->model;
    int in_c, in_h, in_w, k = t->data.nclasses;
    nn_model_input(m, &in_c, &in_h, &in_w);
    float mean[4], sd[4];
    nn_model_norm(m, mean, sd);
    nn_aug ta = {.out_w = in_w,
                 .out_h = in_h,
                 .out_c = in_c,
                 .scale_min = (float)cfg->aug.crop,
                 .scale_max = 1,
                 .ratio_min = 0.75f,
                 .ratio_max = 4.0f / 3.0f,
                 .pad = (float)cfg->aug.pad,
                 .hflip = cfg->aug.hflip,
                 .vflip = cfg->aug.vflip,
                 .rotate_deg = (float)cfg->aug.rotate,
                 .brightness = (float)cfg->aug.brightness,
                 .contrast = (float)cfg->aug.contrast,
                 .saturation = (float)cfg->aug.saturation};
    nn_aug va = {.out_w = in_w, .out_h = in_h, .out_c = in_c};
    memcpy(ta.mean, mean, sizeof mean);
    memcpy(ta.std, sd, sizeof sd);
    memcpy(va.mean, mean, sizeof mean);
    memcpy(va.std, sd, sizeof sd);
    int64_t ntrain = t->data.train.n, nval = t->data.val.n;
    nn_loader_cfg lc = {.count = ntrain,
                        .batch = cfg->batch_size,
                        .shuffle = true,
                        .drop_last = ntrain >= cfg->batch_size,
                        .seed = (uint64_t)cfg->seed,
                        .aug = ta,
                        .workers = cfg->loader_workers};
    nn_loader_cfg vc = {.count = nval,
                        .batch = cfg->batch_size,
                        .seed = (uint64_t)cfg->seed,
                        .aug = va,
                        .workers = cfg->loader_workers};
    bool sgd = strcmp(cfg->optimizer, "sgd") == 0;
    nn_optim_cfg oc = {.kind = sgd ? NN_SGD : NN_ADAMW,
                       .momentum = (float)cfg->momentum,
                       .nesterov = cfg->nesterov,
                       .weight_decay = (float)(cfg->weight_decay >= 0 ? cfg->weight_decay
                                               : sgd              ? 5e-4
                                                                  : 0.05),
                       .clip_norm = (float)cfg->clip_norm};
    nn_session *s = NULL;
    nn_optim *o = NULL;
    nn_ema *ema = NULL;
    nn_loader *tl = NULL, *vl = NULL;
    nn_tensor *dy = NULL;
    int *pred = NULL;
    uint64_t *conf = NULL;
    int rc = -1;
    if (!(s = nn_session_new(m, e)) || !(o = nn_optim_new(m, &oc, e)) ||
        !(tl = nn_loader_new(&lc, train_data_fetch, &t->data.train, e)))
        goto out;
    if (nval > 0 && !(vl = nn_loader_new(&vc, train_data_fetch, &t->data.val, e)))
        goto out;
    if (t->optim_file[0] && nn_optim_load(o, t->optim_file, e) != 0) {
        err_prefix(e, "restoring the optimizer state: ");
        goto out;
    }
    if (cfg->ema > 0 && !(ema = nn_ema_new(m, (float)cfg->ema, e)))
        goto out;
    if (cfg->threads > 0)
        nn_session_set_threads(s, cfg->threads);
    nn_session_seed(s, (uint64_t)cfg->seed + (uint64_t)t->start_epoch);
    int64_t per_epoch = nn_loader_batches(tl);
    int64_t steps_total = per_epoch * cfg->epochs;
    nn_sched sched = {.kind = strcmp(cfg->schedule, "step") == 0       ? NN_SCHED_STEP
                              : strcmp(cfg->schedule, "constant") == 0 ? NN_SCHED_CONST
                                                                       : NN_SCHED_COSINE,
                      .lr = (float)(cfg->lr > 0 ? cfg->lr : sgd ? 0.1 : 0.002),
                      .warmup = cfg->warmup_steps,
                      .total = steps_total,
                      .step_size = per_epoch * (cfg->epochs > 3 ? cfg->epochs / 3 : 1),
                      .gamma = 0.1f};
    pred = malloc((size_t)cfg->batch_size * sizeof *pred);
    conf = calloc((size_t)k * (size_t)k, sizeof *conf);
    if (!pred || !conf) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    int64_t step = t->start_step;
    double train_s = t->start_seconds;
    t->epochs_done = t->start_epoch;
    for (int ep = t->start_epoch; ep < cfg->epochs; ep++) {
        if (nn_loader_start(tl, ep, e) < 0)
            goto out;
        double lsum = 0;
        int64_t seen = 0, correct = 0, in_epoch = 0;
        int64_t t_ep = time_mono_ns();
        int probing = cfg->auto_threads && cfg->threads == 0 && nn_threads() > 1 &&
                      per_epoch >= 40;
        int cur = nn_session_threads(s), alt = cur > 1 ? 1 : nn_threads();
        double ta_t[8], tb_t[8];
        int na = 0, nb = 0;
        nn_batch *b;
        int r;
        bool stop = false;
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
            if (nn_loss_softmax_ce(y, b->labels, (float)cfg->label_smoothing, dy, &bl, e) < 0) {
                nn_loader_release(tl, b);
                goto out;
            }
            nn_argmax(y, pred);
            int n = b->n, bc = 0;
            for (int i = 0; i < n; i++)
                bc += pred[i] == b->labels[i];
            nn_loader_release(tl, b);
            if (nn_backward(s, dy, e) < 0)
                goto out;
            double lr;
            if (cfg->time_budget > 0) {
                /* the schedule's position is the share of the time budget spent */
                double f = (train_s + (double)(time_mono_ns() - t_ep) / 1e9) / cfg->time_budget;
                nn_sched ts = sched;
                ts.warmup = 0;
                ts.total = 1000000;
                ts.step_size = sched.step_size > 0 && steps_total > 0
                                   ? (int64_t)(1e6 * (double)sched.step_size / (double)steps_total)
                                   : 0;
                lr = nn_lr_at(&ts, (int64_t)(f > 1 ? 1e6 : f * 1e6));
                if (sched.warmup > 0 && step < sched.warmup)
                    lr *= sched.warmup_from +
                          (1.0 - sched.warmup_from) * (double)step / (double)sched.warmup;
            } else {
                lr = nn_lr_at(&sched, step);
            }
            if (nn_optim_step(o, (float)lr, NULL, e) < 0) {
                err_prefix(e, "epoch %d, step %lld: ", ep + 1, (long long)step + 1);
                goto out;
            }
            if (ema)
                nn_ema_update(ema);
            if (probing) {
                double dt = (double)(time_mono_ns() - t_step) / 1e9;
                if (in_epoch >= 1 && in_epoch <= 7)
                    ta_t[na++] = dt;
                else if (in_epoch >= 9 && in_epoch <= 15)
                    tb_t[nb++] = dt;
                if (in_epoch == 7) {
                    nn_session_set_threads(s, alt);
                } else if (in_epoch == 15) {
                    if (median(tb_t, nb) >= median(ta_t, na))
                        nn_session_set_threads(s, cur);
                    probing = 0;
                }
            }
            in_epoch++;
            step++;
            lsum += bl * n;
            seen += n;
            correct += bc;
            double el = (double)(time_mono_ns() - t_ep) / 1e9;
            t->images_per_s = el > 0 ? (double)seen / el : 0;
            t->last_loss = lsum / (double)seen;
            if (step % cfg->log_every == 0) {
                err le;
                if (tlog_metric(&t->log, "train/loss", step, bl, &le) ||
                    tlog_metric(&t->log, "train/acc", step, (double)bc / n, &le) ||
                    tlog_metric(&t->log, "lr", step, lr, &le))
                    job_log(t->job, "metric points lost: %s", le.msg);
            }
            double done = steps_total ? (double)step / (double)steps_total : 0;
            if (cfg->time_budget > 0 && (train_s + el) / cfg->time_budget > done)
                done = (train_s + el) / cfg->time_budget; /* the budget ends it first */
            job_progress(t->job, done > 1 ? 1 : done,
                         "epoch %d/%d step %lld/%lld loss %.3f", ep + 1, cfg->epochs,
                         (long long)step, (long long)steps_total, t->last_loss);
            if (job_should_stop(t->job)) {
                t->stopped = true;
                stop = true;
                break;
            }
            double limit = cfg->time_budget > 0 ? cfg->time_budget : cfg->max_seconds;
            if (limit > 0 && train_s + el >= limit) {
                t->timed_out = true;
                break;
            }
        }
        if (r < 0)
            goto out;
        t->steps_done = step;
        if (stop)
            break; /* the epoch is not finished: the last checkpoint stays the previous one */
        double ep_s = (double)(time_mono_ns() - t_ep) / 1e9;
        train_s += ep_s;
        t->train_seconds = train_s;
        double vloss = 0, vacc = -1;
        if (vl) {
            if (ema)
                nn_ema_swap(ema);
            int er = evaluate(s, vl, k, conf, &vloss, &vacc, e);
            if (ema)
                nn_ema_swap(ema);
            if (er < 0)
                goto out;
        }
        int64_t epoch_no = ep + 1;
        err le;
        if (tlog_metric(&t->log, "train/epoch_loss", epoch_no, seen ? lsum / (double)seen : 0, &le) ||
            tlog_metric(&t->log, "train/epoch_acc", epoch_no, seen ? (double)correct / (double)seen : 0,
                        &le) ||
            tlog_metric(&t->log, "images_per_s", epoch_no, ep_s > 0 ? (double)seen / ep_s : 0, &le) ||
            (vl && (tlog_metric(&t->log, "val/loss", epoch_no, vloss, &le) ||
                    tlog_metric(&t->log, "val/acc", epoch_no, vacc, &le))) ||
            tlog_flush(&t->log, &le))
            job_log(t->job, "metric points lost: %s", le.msg);
        if (vl)
            log_confusion(t, "val/confusion_matrix", epoch_no, conf);
        bool best = !vl || vacc > t->best_val_acc;
        if (vl && best)
            t->best_val_acc = vacc;
        t->last_val_acc = vacc;
        if (save_checkpoints(t, o, ema, ep + 1, step, best, vacc, e) != 0)
            goto out;
        t->epochs_done = ep + 1;
        if (vl)
            tlog_output(&t->log,
                        "epoch %d/%d  loss %.4f  acc %.4f  val loss %.4f  val acc %.4f%s  "
                        "%.0f img/s  %.1f s  %d thread(s)",
                        ep + 1, cfg->epochs, seen ? lsum / (double)seen : 0,
                        seen ? (double)correct / (double)seen : 0, vloss, vacc,
                        best ? " (best)" : "", ep_s > 0 ? (double)seen / ep_s : 0, ep_s,
                        nn_session_threads(s));
        else
            tlog_output(&t->log, "epoch %d/%d  loss %.4f  acc %.4f  %.0f img/s  %.1f s", ep + 1,
                        cfg->epochs, seen ? lsum / (double)seen : 0,
                        seen ? (double)correct / (double)seen : 0,
                        ep_s > 0 ? (double)seen / ep_s : 0, ep_s);
        tlog_run_progress(&t->log, ep + 1, step, steps_total, t->last_loss, t->images_per_s, vacc,
                          t->best_val_acc);
        if (t->timed_out) {
            tlog_output(&t->log, "stopped after %.0f s of training (%s)", train_s,
                        cfg->time_budget > 0 ? "time_budget" : "max_seconds");
            break;
        }
        if (job_should_stop(t->job)) {
            t->stopped = true;
            break;
        }
    }
    rc = 0;
out:
    nn_ema_free(ema);
    free(pred);
    free(conf);
    nn_tensor_free(dy);
    nn_loader_free(tl);
    nn_loader_free(vl);
    nn_optim_free(o);
    nn_session_free(s);
    return rc;
}
