/*
 * train.c - the detector's training loop.
 *
 * Per step: a batch from the loader (mosaic, scale/translate, flip, HSV),
 * forward, det_loss (assignment + CIoU + BCE), backward, an AdamW or SGD
 * step at the scheduled learning rate, an EMA update. Per epoch: the mAP
 * of the EMA weights on the validation source (det_eval_session, through
 * src/eval), a progress callback that may stop the run, checkpoints.
 *
 * Schedules: warmup in steps, then cosine (or step) over the planned steps,
 * or over the time budget with sched_by_time (a busy machine does fewer
 * epochs, not a cut schedule). Mosaic stops for the last close_mosaic
 * epochs, or, with a time budget, for its last close_mosaic_frac: the
 * network ends on images that look like the ones it will see.
 *
 * Checkpoints (ckpt_dir) and resume: see detect.h. The EMA's update count
 * is not in nn's API, so a resumed run restarts the EMA's warm-up ramp
 * from the saved averages (they are kept; only the early-decay ramp
 * repeats, which moves the averages towards the weights a little faster
 * for a few hundred steps).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "detect/detect_impl.h"
#include "eval/eval.h"
#include "nn/nn_impl.h" /* nn_model_param: a parameter's size */

void det_train_cfg_default(det_train_cfg *c, const nn_model *m)
{
    int ic, ih, iw;
    nn_model_input(m, &ic, &ih, &iw);
    memset(c, 0, sizeof *c);
    c->epochs = 100;
    c->batch = 16;
    c->optim = (nn_optim_cfg){.kind = NN_ADAMW,
                              .beta1 = 0.9f,
                              .beta2 = 0.999f,
                              .eps = 1e-8f,
                              .weight_decay = 0.05f,
                              .clip_norm = 10.0f};
    c->sched = (nn_sched){.kind = NN_SCHED_COSINE,
                          .lr = 0.002f,
                          .warmup = 100,
                          .warmup_from = 0.01f,
                          .min_lr = 0.00002f};
    c->ema_decay = 0.999f;
    c->seed = 1;
    det_aug_default(&c->aug, iw, ih);
    c->close_mosaic = 0;
    c->close_mosaic_frac = 0.15f;
    det_loss_cfg_default(&c->loss);
    c->workers = 1;
    c->val_every = 1;
    c->val_conf = 0.001f;
    c->val_iou = 0.7f;
    c->val_max_det = 300;
    c->log_every = 20;
}

/* --- weights from a checkpoint ------------------------------------------------------ */

/* Copies every parameter of the checkpoint at path (loaded and checked by
 * nn_model_load) into m's parameter of the same name: the file must hold a
 * detector of m's architecture. */
static int load_weights(nn_model *m, const char *path, err *e)
{
    nn_model *src = nn_model_load(path, NULL, e);
    if (!src) return -1;
    const char **names;
    int count, rc = 0;
    float *buf = NULL;
    size_t cap = 0;
    nn_model_param_names(src, &names, &count);
    for (int i = 0; i < count && rc == 0; i++) {
        const nn_param *mp = nn_model_param(m, names[i]);
        size_t n = mp ? mp->numel : 0;
        if (n == 0) {
            rc = err_set(e, ERR_UNPROCESSABLE,
                         "%s: parameter %s is not in this detector (another architecture?)", path,
                         names[i]);
            break;
        }
        if (n > cap) {
            float *nb = realloc(buf, n * sizeof *nb);
            if (!nb) {
                rc = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            buf = nb;
            cap = n;
        }
        if (nn_model_param_get(src, names[i], buf, n, e) < 0 ||
            nn_model_param_set(m, names[i], buf, n, e) < 0)
            rc = err_prefix(e, "%s", path);
    }
    free(buf);
    nn_model_free(src);
    return rc;
}

/* --- checkpoints ----------------------------------------------------------------------- */

typedef struct run_state {
    int epochs_done;
    int64_t step;
    double elapsed_s;
    double best_map;
} run_state;

static void path_in(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static int save_state(const char *dir, const run_state *rs, err *e)
{
    char path[4096], tmp[4200];
    path_in(path, sizeof path, dir, "state.json");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return err_set(e, ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    fprintf(f,
            "{\"format\":\"%s-state\",\"epochs_done\":%d,\"step\":%lld,\"elapsed_s\":%.3f,"
            "\"best_map\":%.6f}\n",
            DET_FORMAT, rs->epochs_done, (long long)rs->step, rs->elapsed_s, rs->best_map);
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0)
        return err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

static int load_state(const char *dir, run_state *rs, err *e)
{
    char path[4096];
    path_in(path, sizeof path, dir, "state.json");
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) return err_set(e, ERR_NOT_FOUND, "cannot resume: %s: %s", path, je.text);
    json_t *ed = json_object_get(j, "epochs_done"), *st = json_object_get(j, "step");
    json_t *el = json_object_get(j, "elapsed_s"), *bm = json_object_get(j, "best_map");
    if (!json_is_integer(ed) || !json_is_integer(st) || !json_is_number(el) ||
        !json_is_number(bm) || json_integer_value(ed) < 0 || json_integer_value(ed) > 1000000 ||
        json_integer_value(st) < 0) {
        json_decref(j);
        return err_set(e, ERR_UNPROCESSABLE,
                       "cannot resume: %s is damaged (it needs epochs_done, step, elapsed_s and "
                       "best_map); start a new run in another directory",
                       path);
    }
    rs->epochs_done = (int)json_integer_value(ed);
    rs->step = json_integer_value(st);
    rs->elapsed_s = json_number_value(el);
    rs->best_map = json_number_value(bm);
    json_decref(j);
    return 0;
}

/* The metadata every detector checkpoint carries (and the caller's extra). */
static char *ckpt_extra(const nn_model *m, const det_train_cfg *c)
{
    det_head h;
    err e;
    if (det_head_of(m, &h, &e) < 0) return NULL;
    sbuf b = SBUF_INIT;
    sbuf_printf(&b,
                "{\"detector\":{\"format\":\"%s\",\"classes\":%d,\"strides\":[8,16,32],"
                "\"box\":\"ltrb-exp\",\"input\":\"rgb/255\"}",
                DET_FORMAT, h.classes);
    if (c->extra_json && c->extra_json[0]) sbuf_printf(&b, ",\"train\":%s", c->extra_json);
    sbuf_puts(&b, "}");
    return sbuf_detach(&b, NULL);
}

static int save_ckpt(nn_model *m, nn_optim *o, nn_ema *ema, const det_train_cfg *c,
                     const run_state *rs, bool best, err *e)
{
    char path[4096], bpath[4096];
    char *extra = ckpt_extra(m, c);
    int rc = 0;
    path_in(path, sizeof path, c->ckpt_dir, "state.safetensors");
    if (nn_model_save(m, path, extra, e) < 0) rc = -1;
    path_in(path, sizeof path, c->ckpt_dir, "optim.safetensors");
    if (rc == 0 && nn_optim_save(o, path, e) < 0) rc = -1;
    if (rc == 0) {
        if (ema) nn_ema_swap(ema);
        path_in(path, sizeof path, c->ckpt_dir, "last.safetensors");
        rc = nn_model_save(m, path, extra, e);
        if (rc == 0 && best) {
            path_in(bpath, sizeof bpath, c->ckpt_dir, "best.safetensors");
            rc = nn_model_save(m, bpath, extra, e);
        }
        if (ema) nn_ema_swap(ema);
    }
    if (rc == 0) rc = save_state(c->ckpt_dir, rs, e);
    free(extra);
    return rc;
}

/* --- the loop ---------------------------------------------------------------------------- */

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n ? v[n / 2] : 0;
}

static double lr_at(const det_train_cfg *c, const nn_sched *sched, int64_t step, double elapsed)
{
    if (!(c->sched_by_time && c->max_seconds > 0)) return nn_lr_at(sched, step);
    double f = elapsed / c->max_seconds;
    nn_sched ts = *sched;
    ts.warmup = 0;
    ts.total = 1000000;
    ts.step_size = sched->step_size > 0 && sched->total > 0
                       ? (int64_t)(1e6 * (double)sched->step_size / (double)sched->total)
                       : 0;
    double lr = nn_lr_at(&ts, (int64_t)(f > 1 ? 1e6 : f * 1e6));
    if (sched->warmup > 0 && step < sched->warmup)
        lr *=
            sched->warmup_from + (1.0 - sched->warmup_from) * (double)step / (double)sched->warmup;
    return lr;
}

int det_train_run(nn_model *m, const det_train_cfg *cfg, det_fetch_fn train_fetch, void *train_ud,
                  int64_t train_count, det_fetch_fn val_fetch, void *val_ud, int64_t val_count,
                  det_train_stats *final, err *e)
{
    det_train_cfg c = *cfg;
    det_head h;
    if (det_head_of(m, &h, e) < 0) return -1;
    if (c.epochs < 1 || c.batch < 1 || train_count < 1)
        return err_set(e, ERR_INVALID, "training needs at least one epoch, batch and image");
    int ic, ih, iw;
    nn_model_input(m, &ic, &ih, &iw);
    if (c.aug.out_w == 0 || c.aug.out_h == 0) {
        float mosaic = c.aug.mosaic;
        bool zero = c.aug.scale == 0 && c.aug.translate == 0 && c.aug.hflip == 0 &&
                    c.aug.hsv_s == 0 && mosaic == 0;
        if (zero) {
            det_aug_default(&c.aug, iw, ih);
        } else {
            c.aug.out_w = iw;
            c.aug.out_h = ih;
        }
    }
    if (c.loss.box_gain == 0 && c.loss.cls_gain == 0) det_loss_cfg_default(&c.loss);
    if (c.log_every <= 0) c.log_every = 20;
    if (c.val_conf <= 0) c.val_conf = 0.001f;
    if (c.val_iou <= 0) c.val_iou = 0.7f;
    if (c.val_max_det <= 0) c.val_max_det = 300;
    if (c.val_size != 0 &&
        (c.val_size % DET_STRIDE || c.val_size < DET_STRIDE || c.val_size > DET_MAX_SIDE))
        return err_set(e, ERR_INVALID, "validation input size %d: a multiple of %d up to %d",
                       c.val_size, DET_STRIDE, DET_MAX_SIDE);
    if (c.ckpt_dir && mkdir(c.ckpt_dir, 0755) < 0 && errno != EEXIST)
        return err_set(e, ERR_IO, "cannot create %s: %s", c.ckpt_dir, strerror(errno));

    det_loader_cfg lc = {.count = train_count,
                         .batch = c.batch,
                         .shuffle = true,
                         .drop_last = train_count >= c.batch,
                         .seed = c.seed,
                         .aug = c.aug,
                         .workers = c.workers};
    nn_session *s = NULL;
    nn_optim *opt = NULL;
    nn_ema *ema = NULL;
    det_loader *tl = NULL;
    nn_tensor *dy = NULL;
    int rc = -1;
    det_train_stats st = {0};
    run_state rs = {0, 0, 0, -1};
    char path[4096];

    if (c.resume) {
        if (!c.ckpt_dir) {
            err_set(e, ERR_INVALID, "resuming needs the checkpoint directory");
            goto out;
        }
        if (load_state(c.ckpt_dir, &rs, e) < 0) goto out;
        /* the EMA's averages first (nn_ema_new copies the current weights),
         * then the raw weights */
        if (c.ema_decay > 0) {
            path_in(path, sizeof path, c.ckpt_dir, "last.safetensors");
            if (load_weights(m, path, e) < 0 || !(ema = nn_ema_new(m, c.ema_decay, e))) goto out;
        }
        path_in(path, sizeof path, c.ckpt_dir, "state.safetensors");
        if (load_weights(m, path, e) < 0) goto out;
    } else if (c.ema_decay > 0 && !(ema = nn_ema_new(m, c.ema_decay, e))) {
        goto out;
    }
    if (!(s = nn_session_new(m, e)) || !(opt = nn_optim_new(m, &c.optim, e)) ||
        !(tl = det_loader_new(&lc, train_fetch, train_ud, e)))
        goto out;
    if (c.resume) {
        path_in(path, sizeof path, c.ckpt_dir, "optim.safetensors");
        if (nn_optim_load(opt, path, e) < 0) goto out;
    }
    if (c.threads > 0) nn_session_set_threads(s, c.threads);
    nn_session_seed(s, c.seed);
    nn_sched sched = c.sched;
    int64_t per_epoch = det_loader_batches(tl);
    st.steps_total = per_epoch * c.epochs;
    st.epochs = c.epochs;
    if (sched.total == 0) sched.total = st.steps_total;
    st.step = rs.step;
    double train_s = rs.elapsed_s;
    bool stop = false;
    for (int ep = rs.epochs_done; ep < c.epochs && !stop; ep++) {
        st.epoch = ep;
        st.has_val = false;
        bool late = ep >= c.epochs - c.close_mosaic ||
                    (c.max_seconds > 0 && c.close_mosaic_frac > 0 &&
                     train_s >= (1 - c.close_mosaic_frac) * c.max_seconds);
        float mosaic = late ? 0 : c.aug.mosaic;
        st.mosaic = mosaic > 0;
        if (det_loader_start(tl, ep, mosaic, e) < 0) goto out;
        double lsum = 0, bsum = 0, csum = 0;
        int64_t seen = 0, nb = 0;
        int64_t t_ep = time_mono_ns();
        int probing = c.auto_threads && nn_threads() > 1 && per_epoch >= 40 ? 1 : 0;
        int cur = nn_session_threads(s), alt = cur > 1 ? 1 : nn_threads();
        double ta[8], tb[8];
        int na = 0, nbt = 0;
        int64_t in_epoch = 0;
        det_batch *b;
        int r;
        while ((r = det_loader_next(tl, &b, e)) == 1) {
            int64_t t_step = time_mono_ns();
            const nn_tensor *y = nn_forward(s, b->x, true, e);
            if (!y) {
                det_loader_release(tl, b);
                goto out;
            }
            if (!dy || dy->n != y->n || dy->c != y->c || dy->h != y->h || dy->w != y->w) {
                nn_tensor_free(dy);
                if (!(dy = nn_tensor_new(y->n, y->c, y->h, y->w))) {
                    det_loader_release(tl, b);
                    err_set(e, ERR_INTERNAL, "out of memory");
                    goto out;
                }
            }
            det_loss_out lo;
            int lr_ = det_loss(&c.loss, &h, y, b->boxes, b->first, dy, &lo, e);
            int n = b->n;
            det_loader_release(tl, b);
            if (lr_ < 0 || nn_backward(s, dy, e) < 0) goto out;
            double el = train_s + (double)(time_mono_ns() - t_ep) / 1e9;
            st.lr = lr_at(&c, &sched, st.step, el);
            if (nn_optim_step(opt, (float)st.lr, NULL, e) < 0) {
                err_prefix(e, "epoch %d, step %lld", ep + 1, (long long)st.step);
                goto out;
            }
            if (ema) nn_ema_update(ema);
            if (probing) {
                double dt = (double)(time_mono_ns() - t_step) / 1e9;
                if (in_epoch >= 1 && in_epoch <= 7)
                    ta[na++] = dt;
                else if (in_epoch >= 9 && in_epoch <= 15)
                    tb[nbt++] = dt;
                if (in_epoch == 7) {
                    nn_session_set_threads(s, alt);
                } else if (in_epoch == 15) {
                    if (median(tb, nbt) >= median(ta, na)) nn_session_set_threads(s, cur);
                    probing = 0;
                }
            }
            in_epoch++;
            st.threads = nn_session_threads(s);
            st.step++;
            nb++;
            lsum += lo.total;
            bsum += lo.box;
            csum += lo.cls;
            seen += n;
            st.loss = lsum / (double)nb;
            st.box_loss = bsum / (double)nb;
            st.cls_loss = csum / (double)nb;
            double dt = (double)(time_mono_ns() - t_ep) / 1e9;
            st.images_per_s = dt > 0 ? (double)seen / dt : 0;
            st.elapsed_s = train_s + dt;
            if (c.progress && st.step % c.log_every == 0 && c.progress(c.progress_ud, &st, false)) {
                stop = true;
                break;
            }
            if (c.max_seconds > 0 && st.elapsed_s >= c.max_seconds) {
                stop = true;
                break;
            }
        }
        if (r < 0) goto out;
        train_s += (double)(time_mono_ns() - t_ep) / 1e9;
        st.elapsed_s = train_s;
        bool last = stop || ep == c.epochs - 1;
        /* an epoch cut short by the callback is done again on resume (the
         * time budget's cut is the end of the run): it is not validated (a
         * stop, a cancel or a worker shutting down, should not wait for a
         * pass over the validation set) */
        bool cut =
            stop && in_epoch < per_epoch && !(c.max_seconds > 0 && st.elapsed_s >= c.max_seconds);
        if (val_count > 0 && val_fetch && !cut &&
            (last || (c.val_every > 0 && (ep + 1) % c.val_every == 0))) {
            int64_t t_val = time_mono_ns();
            if (ema) nn_ema_swap(ema);
            int er = det_eval_session(s, m, val_fetch, val_ud, val_count, c.batch, c.val_conf,
                                      c.val_iou, c.val_max_det, c.val_size, c.workers, &st.val,
                                      NULL, e);
            if (ema) nn_ema_swap(ema);
            if (er < 0) {
                err_prefix(e, "validation after epoch %d", ep + 1);
                goto out;
            }
            st.has_val = true;
            st.val_s = (double)(time_mono_ns() - t_val) / 1e9;
        }
        rs.epochs_done = cut ? ep : ep + 1;
        rs.step = st.step;
        rs.elapsed_s = train_s;
        bool best = st.has_val && st.val.map > rs.best_map;
        if (best) rs.best_map = st.val.map;
        if (c.ckpt_dir && save_ckpt(m, opt, ema, &c, &rs, best, e) < 0) goto out;
        if (c.progress && c.progress(c.progress_ud, &st, true)) stop = true;
    }
    rc = 0;
out:
    if (ema) {
        if (rc == 0) nn_ema_swap(ema); /* the model ends with the averaged weights */
        nn_ema_free(ema);
    }
    if (final) *final = st;
    nn_tensor_free(dy);
    det_loader_free(tl);
    nn_optim_free(opt);
    nn_session_free(s);
    return rc;
}
