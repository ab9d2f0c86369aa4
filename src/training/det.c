/*
 * det.c - a detection run: the detector of src/detect/ trained on the
 * experiment's dataset versions (boxes of the train split, mAP on val),
 * with what a platform run has: metrics, checkpoints as artifacts, cancel,
 * resume, and the final evaluation on test stored as an experiment
 * evaluation (src/evaluation/), so the evaluation pages show it.
 *
 * The loop is src/detect's det_train_run; this file gives it the data
 * (train_data_det_fetch), a local checkpoint directory, and a progress
 * callback that logs the loss terms, uploads the checkpoints after each
 * epoch and stops the loop when the job is asked to stop.
 *
 * Artifacts, after each finished epoch:
 *   checkpoints/last.safetensors        the weights to use (the EMA's)
 *   checkpoints/best.safetensors        the best val mAP@0.5:0.95 so far
 *   checkpoints/state.safetensors       the raw weights (resume)
 *   checkpoints/last.optim.safetensors  the optimizer state (resume)
 *   checkpoints/state.json              epochs done, step, time, best mAP
 * and at the end model.safetensors (the best weights) and model.json (what
 * a deployment needs: task, architecture, format, labels, input size,
 * thresholds).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "evaluation/evaluation.h"
#include "training/internal.h"

#define DET_EVAL_CONF 0.001f /* predictions stored for the final evaluation */
#define DET_EVAL_MAX_DET 100
#define DET_EVAL_CHUNK 200 /* assets per predictions upload */

static void det_path(const train_ctx *t, const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", t->det_dir, name);
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* --- the model ------------------------------------------------------------------- */

static int fetch_ckpt(train_ctx *t, const char *artifact, const char *name, err *e)
{
    char f[1300];
    det_path(t, name, f, sizeof f);
    return tlog_artifact_fetch(&t->log, artifact, f, e);
}

/* The run id the checkpoint at path was written by (-1: unknown). */
static int64_t ckpt_run(const char *path)
{
    char *extra = NULL;
    err e;
    nn_model *m = nn_model_load(path, &extra, &e);
    nn_model_free(m);
    json_t *x = extra ? json_loads(extra, 0, NULL) : NULL;
    free(extra);
    json_t *r = json_object_get(json_object_get(x, "train"), "run_id");
    int64_t id = json_is_integer(r) ? json_integer_value(r) : -1;
    json_decref(x);
    return id;
}

int train_det_prepare(train_ctx *t, err *e)
{
    training_cfg *cfg = &t->cfg;
    snprintf(t->det_dir, sizeof t->det_dir, "%s-det", t->tmp_prefix);
    if (mkdir(t->det_dir, 0700) != 0 && errno != EEXIST)
        return err_set(e, ERR_IO, "cannot create %s: %s", t->det_dir, strerror(errno));
    cfg->channels = 3;
    if (!cfg->input_size) {
        int s = (t->data.max_side + 31) / 32 * 32;
        cfg->input_size = s < 64 ? 64 : s > 640 ? 640 : s;
    }
    if (cfg->input_size % 32 != 0)
        return err_set(e, ERR_INVALID,
                       "input_size %d is not a multiple of the detector's stride 32; launch "
                       "with input_size %d",
                       cfg->input_size, (cfg->input_size / 32 + 1) * 32);
    bool want = cfg->resume || job_attempt(t->job) > 1;
    if (want) {
        err fe;
        char last[1300];
        det_path(t, "last.safetensors", last, sizeof last);
        bool have = fetch_ckpt(t, "checkpoints/last.safetensors", "last.safetensors", &fe) == 0 &&
                    fetch_ckpt(t, "checkpoints/state.safetensors", "state.safetensors", &fe) == 0 &&
                    fetch_ckpt(t, "checkpoints/last.optim.safetensors", "optim.safetensors", &fe) ==
                        0 &&
                    fetch_ckpt(t, "checkpoints/state.json", "state.json", &fe) == 0;
        if (have && !cfg->resume && ckpt_run(last) != t->log.run)
            have = false; /* a takeover: only this run's own checkpoints */
        if (!have && cfg->resume)
            return err_set(e, ERR_UNPROCESSABLE,
                           "there is no complete detector checkpoint to resume from "
                           "(checkpoints/last.safetensors, state.safetensors, "
                           "last.optim.safetensors, state.json); launch without resume");
        if (have) {
            fetch_ckpt(t, "checkpoints/best.safetensors", "best.safetensors", &fe);
            nn_model *m = nn_model_load(last, NULL, e);
            if (!m)
                return err_prefix(e, "the last checkpoint: ");
            det_head h;
            if (det_head_of(m, &h, e) != 0) {
                nn_model_free(m);
                return err_prefix(e, "the last checkpoint is not a detector: ");
            }
            if (h.classes != t->data.nclasses) {
                nn_model_free(m);
                return err_set(e, ERR_UNPROCESSABLE,
                               "the last checkpoint has %d classes but the train dataset now has "
                               "%d; launch without resume",
                               h.classes, t->data.nclasses);
            }
            char sj[1300];
            det_path(t, "state.json", sj, sizeof sj);
            json_t *st = json_load_file(sj, 0, NULL);
            t->start_epoch = (int)json_integer_value(json_object_get(st, "epochs_done"));
            t->start_step = json_integer_value(json_object_get(st, "step"));
            t->start_seconds = json_number_value(json_object_get(st, "elapsed_s"));
            json_t *bm = json_object_get(st, "best_map");
            t->best_val_acc = json_is_number(bm) ? json_number_value(bm) : -1;
            json_decref(st);
            int c, hh, w;
            nn_model_input(m, &c, &hh, &w);
            cfg->input_size = hh;
            t->model = m;
            tlog_output(&t->log, "resuming the detector from the checkpoint of epoch %d (step %lld)",
                        t->start_epoch, (long long)t->start_step);
            return 0;
        }
    }
    det_arch_opts o = {.size = strcmp(cfg->arch, "detector-small") == 0 ? "small" : "nano",
                       .classes = t->data.nclasses,
                       .in_w = cfg->input_size,
                       .in_h = cfg->input_size,
                       .act = cfg->act[0] && strcmp(cfg->act, "relu") != 0 ? cfg->act : "silu"};
    t->model = det_model_new(&o, (const char *const *)t->data.classes, (uint64_t)cfg->seed, e);
    if (!t->model)
        return err_prefix(e, "the detector: ");
    return 0;
}

/* --- the loop -------------------------------------------------------------------------- */

typedef struct det_cb {
    train_ctx *t;
    err upload_err;
    bool failed;
} det_cb;

static int upload_ckpts(train_ctx *t, bool best, err *e)
{
    static const char *const files[][2] = {
        {"last.safetensors", "checkpoints/last.safetensors"},
        {"state.safetensors", "checkpoints/state.safetensors"},
        {"optim.safetensors", "checkpoints/last.optim.safetensors"},
        {"state.json", "checkpoints/state.json"},
    };
    char f[1300];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        det_path(t, files[i][0], f, sizeof f);
        if (tlog_artifact_file(&t->log, f, files[i][1], NULL, NULL, e) != 0)
            return -1;
    }
    det_path(t, "best.safetensors", f, sizeof f);
    if (best && file_exists(f) &&
        tlog_artifact_file(&t->log, f, "checkpoints/best.safetensors", NULL, NULL, e) != 0)
        return -1;
    return 0;
}

static int progress(void *ud, const det_train_stats *st, bool epoch_end)
{
    det_cb *cb = ud;
    train_ctx *t = cb->t;
    err le;
    t->steps_done = st->step;
    t->last_loss = st->loss;
    t->images_per_s = st->images_per_s;
    t->train_seconds = st->elapsed_s;
    if (!epoch_end) {
        if (tlog_metric(&t->log, "train/loss", st->step, st->loss, &le) ||
            tlog_metric(&t->log, "train/box_loss", st->step, st->box_loss, &le) ||
            tlog_metric(&t->log, "train/cls_loss", st->step, st->cls_loss, &le) ||
            tlog_metric(&t->log, "lr", st->step, st->lr, &le))
            job_log(t->job, "metric points lost: %s", le.msg);
        double done = st->steps_total ? (double)st->step / (double)st->steps_total : 0;
        job_progress(t->job, done > 1 ? 1 : done, "epoch %lld/%d step %lld/%lld loss %.3f",
                     (long long)st->epoch + 1, st->epochs, (long long)st->step,
                     (long long)st->steps_total, st->loss);
        if (job_should_stop(t->job)) {
            t->stopped = true;
            return 1;
        }
        return 0;
    }
    if (t->stopped)
        return 1; /* a cut epoch: no epoch metrics, and the stored checkpoint stays the
                     previous epoch's (a resume does the epoch again) */
    int64_t ep = st->epoch + 1;
    if (tlog_metric(&t->log, "train/epoch_loss", ep, st->loss, &le) ||
        tlog_metric(&t->log, "train/epoch_box_loss", ep, st->box_loss, &le) ||
        tlog_metric(&t->log, "train/epoch_cls_loss", ep, st->cls_loss, &le) ||
        tlog_metric(&t->log, "images_per_s", ep, st->images_per_s, &le) ||
        (st->has_val && (tlog_metric(&t->log, "val/mAP", ep, st->val.map, &le) ||
                         tlog_metric(&t->log, "val/mAP50", ep, st->val.map50, &le) ||
                         tlog_metric(&t->log, "val/mAP75", ep, st->val.map75, &le) ||
                         tlog_metric(&t->log, "val/AR100", ep, st->val.ar100, &le))) ||
        tlog_flush(&t->log, &le))
        job_log(t->job, "metric points lost: %s", le.msg);
    bool best = st->has_val && st->val.map > t->best_val_acc;
    if (best)
        t->best_val_acc = st->val.map;
    if (st->has_val)
        t->last_val_acc = st->val.map;
    if (upload_ckpts(t, best, &cb->upload_err) != 0) {
        err_prefix(&cb->upload_err, "saving the checkpoint of epoch %lld: ", (long long)ep);
        cb->failed = true;
        return 1;
    }
    t->epochs_done = (int)ep;
    if (st->has_val)
        tlog_output(&t->log,
                    "epoch %lld/%d  loss %.4f (box %.4f, cls %.4f)  val mAP %.4f  mAP50 %.4f%s  "
                    "%.1f img/s  %.1f s  %d thread(s)%s",
                    (long long)ep, st->epochs, st->loss, st->box_loss, st->cls_loss, st->val.map,
                    st->val.map50, best ? " (best)" : "", st->images_per_s, st->elapsed_s,
                    st->threads, st->mosaic ? "" : "  no mosaic");
    else
        tlog_output(&t->log, "epoch %lld/%d  loss %.4f (box %.4f, cls %.4f)  %.1f img/s  %.1f s",
                    (long long)ep, st->epochs, st->loss, st->box_loss, st->cls_loss,
                    st->images_per_s, st->elapsed_s);
    tlog_run_progress(&t->log, (int)ep, st->step, st->steps_total, st->loss, st->images_per_s,
                      st->has_val ? st->val.map : -1, t->best_val_acc);
    if (job_should_stop(t->job)) {
        t->stopped = true;
        return 1;
    }
    return 0;
}

int train_det_loop(train_ctx *t, err *e)
{
    const training_cfg *cfg = &t->cfg;
    det_train_cfg dc;
    det_train_cfg_default(&dc, t->model);
    int in_c, in_h, in_w;
    nn_model_input(t->model, &in_c, &in_h, &in_w);
    bool sgd = strcmp(cfg->optimizer, "sgd") == 0;
    dc.epochs = cfg->epochs;
    dc.batch = cfg->batch_size;
    dc.optim.kind = sgd ? NN_SGD : NN_ADAMW;
    dc.optim.momentum = (float)cfg->momentum;
    dc.optim.nesterov = cfg->nesterov;
    dc.optim.weight_decay = (float)(cfg->weight_decay >= 0 ? cfg->weight_decay : sgd ? 5e-4 : 0.05);
    if (cfg->clip_norm > 0)
        dc.optim.clip_norm = (float)cfg->clip_norm;
    dc.sched.kind = strcmp(cfg->schedule, "step") == 0       ? NN_SCHED_STEP
                    : strcmp(cfg->schedule, "constant") == 0 ? NN_SCHED_CONST
                                                             : NN_SCHED_COSINE;
    dc.sched.lr = (float)(cfg->lr > 0 ? cfg->lr : sgd ? 0.01 : 0.002);
    int64_t per_epoch = t->data.train.n >= cfg->batch_size ? t->data.train.n / cfg->batch_size : 1;
    int64_t total = per_epoch * cfg->epochs;
    dc.sched.warmup = cfg->warmup_steps > 0 ? cfg->warmup_steps : total / 10 < 100 ? total / 10 : 100;
    if (dc.sched.kind == NN_SCHED_STEP) {
        dc.sched.step_size = per_epoch * (cfg->epochs > 3 ? cfg->epochs / 3 : 1);
        dc.sched.gamma = 0.1f;
    }
    dc.ema_decay = cfg->ema > 0 ? (float)cfg->ema : 0.999f;
    dc.seed = (uint64_t)cfg->seed;
    det_aug_default(&dc.aug, in_w, in_h);
    dc.aug.mosaic = (float)cfg->mosaic;
    dc.close_mosaic = cfg->close_mosaic >= 0 ? cfg->close_mosaic : cfg->epochs * 15 / 100;
    dc.close_mosaic_frac = 0.15f;
    dc.val_size = cfg->val_input_size;
    dc.workers = cfg->loader_workers;
    if (cfg->time_budget > 0) {
        dc.max_seconds = cfg->time_budget;
        dc.sched_by_time = true;
    } else {
        dc.max_seconds = cfg->max_seconds;
    }
    dc.auto_threads = cfg->auto_threads && cfg->threads == 0;
    dc.threads = cfg->threads;
    dc.ckpt_dir = t->det_dir;
    dc.resume = t->start_epoch > 0 || t->start_step > 0;
    char extra[200];
    snprintf(extra, sizeof extra, "{\"run_id\":%lld,\"experiment_id\":%lld}", (long long)t->log.run,
             (long long)t->log.experiment);
    dc.extra_json = extra;
    det_cb cb = {.t = t};
    dc.progress = progress;
    dc.progress_ud = &cb;
    dc.log_every = cfg->log_every;
    det_train_stats fin;
    t->epochs_done = t->start_epoch;
    int rc = det_train_run(t->model, &dc, train_data_det_fetch, &t->data.train, t->data.train.n,
                           t->data.val.n > 0 ? train_data_det_fetch : NULL, &t->data.val,
                           t->data.val.n, &fin, e);
    if (rc != 0)
        return -1;
    if (cb.failed) {
        *e = cb.upload_err;
        return -1;
    }
    if (!t->stopped && dc.max_seconds > 0 && fin.elapsed_s >= dc.max_seconds) {
        t->timed_out = true;
        tlog_output(&t->log, "stopped after %.0f s of training (%s)", fin.elapsed_s,
                    cfg->time_budget > 0 ? "time_budget" : "max_seconds");
    }
    return 0;
}

/* --- the end ---------------------------------------------------------------------------- */

/* The side the model is evaluated and served at. */
static int serve_size(const train_ctx *t)
{
    return t->cfg.val_input_size > 0 ? t->cfg.val_input_size : t->cfg.input_size;
}

/* The local best checkpoint (the last one when no epoch was validated). */
static void best_path(train_ctx *t, char *out, size_t n)
{
    det_path(t, "best.safetensors", out, n);
    if (!file_exists(out)) det_path(t, "last.safetensors", out, n);
}

/* model.safetensors: the best checkpoint itself, or, validated at another
 * size than it trained at, a copy that declares that size as its input (so
 * deployments and pre-annotation predict at the size it was evaluated at). */
static int put_model(train_ctx *t, const char *sha, int64_t size, err *e)
{
    if (serve_size(t) == t->cfg.input_size)
        return tlog_artifact_ref(&t->log, sha, size, "model.safetensors", e);
    char src[1300], dst[1300];
    best_path(t, src, sizeof src);
    det_path(t, "model.safetensors", dst, sizeof dst);
    char *extra = NULL;
    nn_model *m = nn_model_load(src, &extra, e);
    int rc = m && nn_model_set_input_size(m, serve_size(t), serve_size(t), e) == 0 &&
                     nn_model_save(m, dst, extra, e) == 0 &&
                     tlog_artifact_file(&t->log, dst, "model.safetensors", NULL, NULL, e) == 0
                 ? 0
                 : -1;
    unlink(dst);
    free(extra);
    nn_model_free(m);
    return rc;
}

/* model.json: what a deployment needs to load the detector. */
static int write_model_json(train_ctx *t, err *e)
{
    json_t *labels = json_array();
    for (int i = 0; i < t->data.nclasses; i++)
        json_array_append_new(labels, json_string(t->data.classes[i]));
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:i, s:[i,i,i], s:f, s:f, s:i, s:I}", "task",
                          "detection", "architecture", t->cfg.arch, "format", DET_FORMAT, "file",
                          "model.safetensors", "labels", labels, "input_size", serve_size(t),
                          "strides", 8, 16, 32, "score_thr", t->cfg.score_thr, "nms_iou",
                          t->cfg.nms_iou, "max_det", 300, "run_id", (json_int_t)t->log.run);
    json_object_set_new(j, "train_input_size", json_integer(t->cfg.input_size));
    char f[1300];
    det_path(t, "model.json", f, sizeof f);
    int rc = json_dump_file(j, f, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    json_decref(j);
    if (rc != 0)
        return err_set(e, ERR_IO, "cannot write %s", f);
    rc = tlog_artifact_file(&t->log, f, "model.json", NULL, NULL, e);
    unlink(f);
    return rc;
}

static int upload_predictions(train_ctx *t, db_conn *c, int64_t ev, json_t *items, err *e)
{
    json_t *doc = json_pack("{s:o, s:s}", "predictions", items, "mode", "append");
    int64_t na = 0, ns = 0;
    int rc = evaluation_predictions_put(c, t->log.org, ev, doc, &na, &ns, e);
    json_decref(doc);
    return rc;
}

/* Predicts every image of the split with the best weights, stores the
 * predictions as an evaluation of the experiment and queues its run. */
static int final_eval(train_ctx *t, err *e)
{
    train_split *sp = t->data.test.n > 0 ? &t->data.test : t->data.val.n > 0 ? &t->data.val : NULL;
    if (!sp) {
        tlog_output(&t->log, "no test or val images: no final evaluation");
        return 0;
    }
    char best[1300];
    best_path(t, best, sizeof best);
    det_predictor *p = det_predictor_open(best, 1, e);
    if (!p)
        return err_prefix(e, "loading the best checkpoint: ");
    db_conn *c = NULL;
    json_t *items = json_array();
    det_sample smp = {0};
    det_box *boxes = NULL;
    int rc = -1;
    char name[EVAL_NAME_MAX];
    snprintf(name, sizeof name, "training run %lld (%s)", (long long)t->log.run, sp->name);
    json_t *body = json_pack("{s:s, s:I, s:s, s:s}", "name", name, "dataset_version_id",
                             (json_int_t)sp->version, "task", "detection", "description",
                             "the final evaluation of a training run: its best weights on the "
                             "split");
    if (!(c = db_get(t->env->db, e)))
        goto out;
    /* a relaunch that finishes again replaces its evaluation of the same name */
    db_run(c, e,
           "DELETE FROM evaluation WHERE experiment_id = $1 AND name = $2 AND status NOT IN"
           " ('queued', 'running')",
           DBI(t->log.experiment), DBT(name));
    if (evaluation_create(c, t->log.org, t->log.experiment, body, t->user, &t->eval_id, e) != 0)
        goto out;
    db_put(c);
    c = NULL;
    det_predict_opts po = {.conf = DET_EVAL_CONF,
                           .iou = (float)t->cfg.nms_iou,
                           .max_det = DET_EVAL_MAX_DET,
                           .size = t->cfg.val_input_size};
    int64_t npred = 0;
    for (int64_t i = 0; i < sp->n; i++) {
        const train_item *it = &sp->items[i];
        if (train_data_det_fetch(sp, i, &smp, e) != 0)
            goto out;
        int n = 0;
        free(boxes);
        boxes = NULL;
        if (det_predict(p, &smp.img, &po, &boxes, &n, e) != 0)
            goto out;
        double sx = smp.img.w > 0 ? (double)it->w / smp.img.w : 1;
        double sy = smp.img.h > 0 ? (double)it->h / smp.img.h : 1;
        json_t *shapes = json_array();
        for (int k = 0; k < n; k++) {
            const det_box *b = &boxes[k];
            if (b->cls < 0 || b->cls >= t->data.nclasses || b->w <= 0 || b->h <= 0)
                continue;
            json_array_append_new(shapes, json_pack("{s:s, s:s, s:[f,f,f,f], s:f}", "kind", "box",
                                                    "label", t->data.classes[b->cls], "box",
                                                    b->x * sx, b->y * sy, b->w * sx, b->h * sy,
                                                    "score", (double)b->score));
            npred++;
        }
        if (json_array_size(shapes))
            json_array_append_new(items, json_pack("{s:I, s:o}", "asset_id", (json_int_t)it->asset,
                                                   "shapes", shapes));
        else
            json_decref(shapes);
        if (json_array_size(items) >= DET_EVAL_CHUNK || (i == sp->n - 1 && json_array_size(items))) {
            if (!(c = db_get(t->env->db, e)))
                goto out;
            int ur = upload_predictions(t, c, t->eval_id, items, e);
            items = json_array();
            db_put(c);
            c = NULL;
            if (ur != 0)
                goto out;
        }
        if (job_should_stop(t->job)) {
            err_set(e, ERR_UNAVAILABLE, "stopped during the final evaluation");
            goto out;
        }
    }
    if (!(c = db_get(t->env->db, e)))
        goto out;
    json_t *req = json_pack("{s:f, s:f}", "score_thr", t->cfg.score_thr, "iou_thr", 0.5);
    if (sp->tagged)
        json_object_set_new(req, "split", json_string(sp->name));
    int64_t job = 0;
    int sr = evaluation_submit(c, t->log.org, t->eval_id, req, t->user, &job, e);
    json_decref(req);
    if (sr != 0)
        goto out;
    db_run(c, e, "UPDATE training_run SET eval_split = $1 WHERE id = $2", DBT(sp->name),
           DBI(t->log.run));
    tlog_output(&t->log,
                "final evaluation on %s (%lld images, best weights): %lld predictions stored as "
                "evaluation %lld (job %lld computes mAP; see the experiment's evaluations)",
                sp->name, (long long)sp->n, (long long)npred, (long long)t->eval_id,
                (long long)job);
    job_set_result(t->job, json_pack("{s:I, s:i, s:f, s:s, s:I, s:I}", "run_id",
                                     (json_int_t)t->log.run, "epochs", t->epochs_done,
                                     "best_val_map", t->best_val_acc, "eval_split", sp->name,
                                     "evaluation_id", (json_int_t)t->eval_id, "evaluation_job_id",
                                     (json_int_t)job));
    rc = 0;
out:
    if (c)
        db_put(c);
    json_decref(items);
    json_decref(body);
    free(boxes);
    free(smp.buf);
    free(smp.boxes);
    det_predictor_free(p);
    return rc;
}

int train_det_finish(train_ctx *t, err *e)
{
    char sha[65];
    int64_t size;
    db_conn *c = db_get(t->env->db, e);
    if (!c)
        return -1;
    int rc = exp_artifact_get(c, t->log.org, t->log.experiment, "checkpoints/best.safetensors", sha,
                              &size, e);
    if (rc != 0 && e->code == ERR_NOT_FOUND)
        rc = exp_artifact_get(c, t->log.org, t->log.experiment, "checkpoints/last.safetensors", sha,
                              &size, e);
    db_put(c);
    if (rc != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_INTERNAL, "the run finished without a checkpoint");
        return -1;
    }
    if (put_model(t, sha, size, e) != 0 || write_model_json(t, e) != 0)
        return -1;
    if (final_eval(t, e) != 0)
        return err_prefix(e, "final evaluation: ");
    return 0;
}

void train_det_cleanup(train_ctx *t)
{
    if (!t->det_dir[0])
        return;
    static const char *const names[] = {"last.safetensors", "best.safetensors",
                                        "state.safetensors", "optim.safetensors",
                                        "state.json",       "model.json",
                                        "model.safetensors"};
    char f[1300];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        det_path(t, names[i], f, sizeof f);
        unlink(f);
    }
    det_path(t, "state.json.tmp", f, sizeof f);
    unlink(f);
    rmdir(t->det_dir);
}
