/*
 * job.c - the "training.run" job: one launch of an experiment.
 *
 *   1. the run and its configuration; run and experiment -> running
 *   2. the data: splits, classes, input size and channels (from the data
 *      when the configuration leaves them to it)
 *   3. the model: from checkpoints/last.* when resuming (a relaunch with
 *      resume, or this run's own checkpoint when the job was taken over
 *      after its worker died or stopped), else new from the architecture
 *   4. the loop (loop.c)
 *   5. the end: canceled, released (worker stopping: run and experiment
 *      back to queued, the job goes back to the queue), or the final
 *      evaluation on test (else val) with the best weights, model.safetensors,
 *      and succeeded
 *
 * Errors fail the run and the experiment with the message in the output,
 * except retryable ones (database or blob store unreachable) while job
 * attempts remain: the run goes back to queued and resumes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "eval/cls.h"
#include "training/internal.h"

static int set_state(train_ctx *t, const char *state, const char *message)
{
    err e;
    db_conn *c = db_get(t->env->db, &e);
    if (!c)
        return -1;
    int rc = training_run_state(c, t->log.run, state, message, &e);
    db_put(c);
    if (rc != 0)
        job_log(t->job, "could not set the run %s: %s", state, e.msg);
    if (t->env->poke)
        t->env->poke(t->env->app);
    return rc;
}

/* Did a user cancel the job (as opposed to the worker stopping)? */
static bool cancel_requested(train_ctx *t)
{
    err e;
    int64_t v = 0;
    db_conn *c = db_get(t->env->db, &e);
    if (!c)
        return false;
    db_one_i64(c, &e, &v, "SELECT cancel_requested FROM job WHERE id = $1", DBI(job_id(t->job)));
    db_put(c);
    return v != 0;
}

static int load_run(train_ctx *t, int64_t run, int64_t *org, int64_t *experiment, char *state,
                    err *e)
{
    db_conn *c = db_get(t->env->db, e);
    if (!c)
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT org_id, experiment_id, state, config, created_by FROM training_run"
                          " WHERE id = $1",
                          DBI(run));
    int rc = s ? db_step(s, e) : -1;
    json_t *cfg = NULL;
    if (rc == DB_ROW) {
        *org = db_col_i64(s, 0);
        *experiment = db_col_i64(s, 1);
        snprintf(state, 16, "%s", db_col_text(s, 2));
        cfg = json_loads(db_col_text(s, 3), 0, NULL);
        t->user = db_col_null(s, 4) ? 0 : db_col_i64(s, 4);
    }
    db_done(s);
    db_put(c);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "training run %lld is gone (its experiment was deleted)",
                       (long long)run);
    if (rc < 0)
        return -1;
    rc = training_cfg_apply(&t->cfg, cfg, e);
    json_decref(cfg);
    t->detection = training_cfg_is_detection(&t->cfg);
    t->data.detection = t->detection;
    return rc;
}

static int prepare_data(train_ctx *t, err *e)
{
    char status[16];
    json_t *params = NULL, *datasets = NULL;
    db_conn *c = db_get(t->env->db, e);
    if (!c)
        return -1;
    int rc = exp_run_info(c, t->log.org, t->log.experiment, status, sizeof status, &params,
                          &datasets, e);
    if (rc == 0)
        rc = train_data_load(c, t->log.org, datasets, t->env->blobs, &t->data, e);
    json_decref(params);
    json_decref(datasets);
    if (rc == 0 && !t->detection) {
        if (!t->cfg.channels)
            t->cfg.channels = t->data.all_gray ? 1 : 3;
        if (!t->cfg.input_size) {
            int s = t->data.max_side;
            t->cfg.input_size = s < 16 ? 16 : s > 224 ? 224 : s;
        }
    }
    if (rc == 0) {
        db_run(c, e,
               "UPDATE training_run SET train_images = $1, val_images = $2, test_images = $3,"
               " classes = $4 WHERE id = $5",
               DBI(t->data.train.n), DBI(t->data.val.n), DBI(t->data.test.n),
               DBI(t->data.nclasses), DBI(t->log.run));
    }
    db_put(c);
    return rc;
}

static int64_t extra_int(json_t *x, const char *k)
{
    json_t *v = json_object_get(x, k);
    return json_is_integer(v) ? json_integer_value(v) : json_is_real(v) ? (int64_t)json_real_value(v) : -1;
}

/* The model from a registry version's weights (base_model_version_id): its
 * architecture, input and normalisation come with it; its labels must be
 * the train dataset's classes in the same order, since the last layer is
 * kept as it is. */
static int base_model(train_ctx *t, err *e)
{
    char file[1200];
    snprintf(file, sizeof file, "%s-base.safetensors", t->tmp_prefix);
    db_conn *c = db_get(t->env->db, e);
    if (!c)
        return -1;
    int rc = training_model_fetch(c, t->env->blobs, t->log.org, t->cfg.base_model, file, e);
    db_put(c);
    if (rc)
        return err_prefix(e, "base model version %lld: ", (long long)t->cfg.base_model);
    char *extra = NULL;
    nn_model *m = nn_model_load(file, &extra, e);
    unlink(file);
    free(extra);
    if (!m)
        return err_prefix(e, "base model version %lld: ", (long long)t->cfg.base_model);
    int k = nn_model_classes(m);
    bool same = k == t->data.nclasses;
    for (int i = 0; same && i < k; i++) {
        const char *l = nn_model_label(m, i);
        same = l && strcmp(l, t->data.classes[i]) == 0;
    }
    if (!same) {
        nn_model_free(m);
        return err_set(e, ERR_UNPROCESSABLE,
                       "base model version %lld predicts %d classes that are not the train "
                       "dataset's %d classes in the same order; train without a base model or "
                       "use a dataset with the model's labels",
                       (long long)t->cfg.base_model, k, t->data.nclasses);
    }
    t->model = m;
    int ch, h, w;
    nn_model_input(m, &ch, &h, &w);
    t->cfg.channels = ch;
    t->cfg.input_size = h;
    tlog_output(&t->log, "starting from the weights of model version %lld",
                (long long)t->cfg.base_model);
    return 0;
}

/* The model: resumed from the experiment's last checkpoint, or new. */
static int prepare_model(train_ctx *t, bool resume_any, err *e)
{
    char file[1200];
    snprintf(file, sizeof file, "%s-resume.safetensors", t->tmp_prefix);
    bool want = t->cfg.resume || job_attempt(t->job) > 1;
    if (want) {
        err fe;
        if (tlog_artifact_fetch(&t->log, "checkpoints/last.safetensors", file, &fe) == 0) {
            char *extra = NULL;
            nn_model *m = nn_model_load(file, &extra, e);
            unlink(file);
            if (!m) {
                free(extra);
                return err_prefix(e, "the last checkpoint: ");
            }
            json_t *x = extra ? json_loads(extra, 0, NULL) : NULL;
            free(extra);
            int64_t from_run = extra_int(x, "run_id"), epoch = extra_int(x, "epoch");
            int64_t step = extra_int(x, "step");
            json_t *best = json_object_get(x, "best_val_acc");
            bool usable = epoch >= 0 && step >= 0 && (resume_any || from_run == t->log.run);
            if (usable && nn_model_classes(m) != t->data.nclasses) {
                int had = nn_model_classes(m);
                json_decref(x);
                nn_model_free(m);
                return err_set(e, ERR_UNPROCESSABLE,
                               "the last checkpoint has %d classes but the train dataset now has "
                               "%d; launch without resume",
                               had, t->data.nclasses);
            }
            if (usable) {
                t->model = m;
                t->start_epoch = (int)epoch;
                t->start_step = step;
                json_t *ts = json_object_get(x, "train_seconds");
                t->start_seconds = json_is_number(ts) ? json_number_value(ts) : 0;
                t->best_val_acc = json_is_number(best) && json_number_value(best) >= 0
                                      ? json_number_value(best)
                                      : -1;
                int c, h, w;
                nn_model_input(m, &c, &h, &w);
                t->cfg.channels = c;
                t->cfg.input_size = h;
                snprintf(t->optim_file, sizeof t->optim_file, "%s-resume.optim.safetensors",
                         t->tmp_prefix);
                if (tlog_artifact_fetch(&t->log, "checkpoints/last.optim.safetensors",
                                        t->optim_file, &fe) != 0)
                    t->optim_file[0] = 0; /* weights only: moments start again */
                /* the best checkpoint so far, for the final evaluation */
                snprintf(t->best_file, sizeof t->best_file, "%s-best.safetensors", t->tmp_prefix);
                if (tlog_artifact_fetch(&t->log, "checkpoints/best.safetensors", t->best_file,
                                        &fe) != 0)
                    t->best_file[0] = 0;
                tlog_output(&t->log, "resuming from the checkpoint of epoch %d (step %lld)%s",
                            t->start_epoch, (long long)t->start_step,
                            t->optim_file[0] ? "" : " without optimizer state");
                json_decref(x);
                return 0;
            }
            json_decref(x);
            nn_model_free(m);
        } else if (t->cfg.resume) {
            return err_set(e, ERR_UNPROCESSABLE,
                           "there is no checkpoint to resume from (checkpoints/last.safetensors "
                           "is missing); launch without resume");
        }
    }
    if (t->cfg.base_model)
        return base_model(t, e);
    float mean[4], sd[4];
    if (t->cfg.arch_json) {
        for (int i = 0; i < 4; i++)
            mean[i] = sd[i] = 0;
    } else if (train_data_norm(&t->data, mean, sd, e) != 0) {
        return err_prefix(e, "reading the training images: ");
    }
    char *arch = training_cfg_arch(&t->cfg, t->data.nclasses, mean, sd, e);
    if (!arch)
        return -1;
    t->model = nn_model_new(arch, (uint64_t)t->cfg.seed, e);
    free(arch);
    if (!t->model)
        return err_prefix(e, "architecture: ");
    if (nn_model_set_labels(t->model, (const char *const *)t->data.classes, t->data.nclasses, e))
        return -1;
    int c, h, w;
    nn_model_input(t->model, &c, &h, &w);
    t->cfg.channels = c;
    t->cfg.input_size = h;
    return 0;
}

/* The final evaluation: the best weights on test (else val), through the
 * evaluation engine; metrics eval/..., logs eval/confusion_matrix,
 * eval/per_class, eval/summary, and the artifact evaluation/<split>.json. */
static int final_eval(train_ctx *t, err *e)
{
    train_split *sp = t->data.test.n > 0 ? &t->data.test : t->data.val.n > 0 ? &t->data.val : NULL;
    if (!sp) {
        tlog_output(&t->log, "no test or val images: no final evaluation");
        return 0;
    }
    nn_predictor *p = NULL;
    if (t->best_file[0]) {
        p = nn_predictor_open(t->best_file, 1, e);
    } else {
        nn_model *copy = NULL;
        char f[1200];
        snprintf(f, sizeof f, "%s-final.safetensors", t->tmp_prefix);
        if (nn_model_save(t->model, f, NULL, e) == 0)
            copy = nn_model_load(f, NULL, e);
        unlink(f);
        p = copy ? nn_predictor_new(copy, 1, e) : NULL;
    }
    if (!p)
        return err_prefix(e, "loading the best checkpoint: ");
    const nn_model *m = nn_predictor_model(p);
    int in_c, in_h, in_w, k = t->data.nclasses;
    nn_model_input(m, &in_c, &in_h, &in_w);
    nn_aug va = {.out_w = in_w, .out_h = in_h, .out_c = in_c};
    nn_model_norm(m, va.mean, va.std);
    nn_loader_cfg lc = {.count = sp->n,
                        .batch = t->cfg.batch_size,
                        .seed = 1,
                        .aug = va,
                        .workers = t->cfg.loader_workers};
    eval_cls *ec = eval_cls_new();
    nn_loader *l = nn_loader_new(&lc, train_data_fetch, sp, e);
    float *probs = malloc((size_t)t->cfg.batch_size * (size_t)k * sizeof *probs);
    double *row = malloc((size_t)k * sizeof *row);
    nn_topk *top = malloc((size_t)t->cfg.batch_size * sizeof *top);
    int rc = -1;
    if (!ec || !l || !probs || !row || !top) {
        if (l)
            err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (int i = 0; i < k; i++) {
        if (eval_cls_add_class(ec, t->data.classes[i], e) != 0)
            goto out;
    }
    if (nn_loader_start(l, 0, e) < 0)
        goto out;
    nn_batch *b;
    int r;
    while ((r = nn_loader_next(l, &b, e)) == 1) {
        int pr = nn_predict_tensor(p, b->x, 1, top, probs, e);
        for (int i = 0; pr == 0 && i < b->n; i++) {
            for (int j = 0; j < k; j++)
                row[j] = probs[(size_t)i * (size_t)k + (size_t)j];
            pr = eval_cls_add(ec, b->labels[i], -1, row, e);
        }
        nn_loader_release(l, b);
        if (pr != 0)
            goto out;
        if (job_should_stop(t->job)) {
            err_set(e, ERR_UNAVAILABLE, "stopped during the final evaluation");
            goto out;
        }
    }
    if (r < 0)
        goto out;
    eval_cls_opts eo;
    eval_cls_opts_init(&eo);
    if (k <= eo.top_k)
        eo.top_k = k > 2 ? k - 1 : 1;
    eval_cls_result res;
    if (eval_cls_compute(ec, &eo, &res, e) != 0)
        goto out;
    int64_t step = t->epochs_done;
    err le;
    if (tlog_metric(&t->log, "eval/accuracy", step, res.accuracy, &le) ||
        (res.top_k_accuracy >= 0 &&
         tlog_metric(&t->log, "eval/top_k_accuracy", step, res.top_k_accuracy, &le)) ||
        tlog_metric(&t->log, "eval/macro_precision", step, res.macro_precision, &le) ||
        tlog_metric(&t->log, "eval/macro_recall", step, res.macro_recall, &le) ||
        tlog_metric(&t->log, "eval/macro_f1", step, res.macro_f1, &le) ||
        (res.ece >= 0 && tlog_metric(&t->log, "eval/ece", step, res.ece, &le)) ||
        (res.macro_auc >= 0 && tlog_metric(&t->log, "eval/macro_auc", step, res.macro_auc, &le)) ||
        tlog_flush(&t->log, &le))
        job_log(t->job, "evaluation metrics lost: %s", le.msg);
    /* the confusion matrix, per class and summary tables */
    json_t *labels = json_array(), *rows = json_array(), *pc = json_array();
    for (size_t i = 0; i < res.k; i++) {
        json_array_append_new(labels, json_string(t->data.classes[i]));
        json_t *rw = json_array();
        for (size_t j = 0; j < res.k; j++)
            json_array_append_new(rw, json_integer((json_int_t)res.confusion[i * res.k + j]));
        json_array_append_new(rows, rw);
        const eval_cls_class *cc = &res.per_class[i];
        json_array_append_new(pc, json_pack("[s, I, f, f, f, f, f]", t->data.classes[i],
                                            (json_int_t)cc->support, cc->precision, cc->recall,
                                            cc->f1, cc->auc, cc->ap));
    }
    json_t *cm = json_pack("{s:s, s:s, s:I, s:{s:o, s:o}}", "name", "eval/confusion_matrix", "kind",
                           "confusion_matrix", "step", (json_int_t)step, "data", "labels", labels,
                           "matrix", rows);
    json_t *tab = json_pack("{s:s, s:s, s:I, s:{s:[s,s,s,s,s,s,s], s:o}}", "name", "eval/per_class",
                            "kind", "table", "step", (json_int_t)step, "data", "columns", "class",
                            "support", "precision", "recall", "f1", "auc", "ap", "rows", pc);
    json_t *sum = json_pack(
        "{s:s, s:s, s:I, s:{s:[s,s], s:[[s,s],[s,I],[s,f],[s,f],[s,f],[s,f],[s,f]]}}", "name",
        "eval/summary", "kind", "table", "step", (json_int_t)step, "data", "columns", "metric",
        "value", "rows", "split", sp->name, "images", (json_int_t)res.n, "accuracy", res.accuracy,
        "top_k_accuracy", res.top_k_accuracy, "macro_f1", res.macro_f1, "ece", res.ece,
        "macro_auc", res.macro_auc);
    if (tlog_record(&t->log, cm, &le) || tlog_record(&t->log, tab, &le) ||
        tlog_record(&t->log, sum, &le))
        job_log(t->job, "evaluation logs lost: %s", le.msg);
    /* the whole result as an artifact */
    sbuf js = SBUF_INIT;
    jw w;
    jw_init(&w, &js);
    jw_obj(&w);
    jw_kstr(&w, "split", sp->name);
    jw_kint(&w, "dataset_version_id", sp->version);
    eval_cls_write_json(ec, &res, &w);
    jw_obj_end(&w);
    char f[1200], path[64];
    snprintf(f, sizeof f, "%s-eval.json", t->tmp_prefix);
    snprintf(path, sizeof path, "evaluation/%s.json", sp->name);
    FILE *fp = fopen(f, "w");
    if (fp) {
        fwrite(js.p, 1, js.len, fp);
        fclose(fp);
        if (tlog_artifact_file(&t->log, f, path, NULL, NULL, &le) != 0)
            job_log(t->job, "could not store %s: %s", path, le.msg);
        unlink(f);
    }
    sbuf_free(&js);
    sbuf text = SBUF_INIT;
    eval_cls_write_text(ec, &res, &text);
    tlog_output(&t->log, "final evaluation on %s (%lld images, best weights):", sp->name,
                (long long)sp->n);
    for (char *line = (char *)sbuf_cstr(&text), *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        tlog_output(&t->log, "  %s", line);
    }
    sbuf_free(&text);
    db_conn *c = db_get(t->env->db, &le);
    if (c) {
        db_run(c, &le, "UPDATE training_run SET eval_split = $1, eval_accuracy = $2 WHERE id = $3",
               DBT(sp->name), DBD(res.accuracy), DBI(t->log.run));
        db_put(c);
    }
    job_set_result(t->job, json_pack("{s:I, s:i, s:f, s:s, s:f}", "run_id", (json_int_t)t->log.run,
                                     "epochs", t->epochs_done, "best_val_acc", t->best_val_acc,
                                     "eval_split", sp->name, "eval_accuracy", res.accuracy));
    eval_cls_result_free(&res);
    rc = 0;
out:
    free(probs);
    free(row);
    free(top);
    nn_loader_free(l);
    eval_cls_free(ec);
    nn_predictor_free(p);
    return rc;
}

static int finish_success(train_ctx *t, err *e)
{
    /* model.safetensors: the best weights, what the registry serves */
    char sha[65];
    int64_t size;
    db_conn *c = db_get(t->env->db, e);
    if (!c)
        return -1;
    int rc = exp_artifact_get(c, t->log.org, t->log.experiment, "checkpoints/best.safetensors", sha,
                              &size, e);
    db_put(c);
    if (rc == 0)
        rc = tlog_artifact_ref(&t->log, sha, size, "model.safetensors", e);
    else if (e->code == ERR_NOT_FOUND)
        rc = err_set(e, ERR_INTERNAL, "the run finished without a checkpoint");
    if (rc != 0)
        return -1;
    if (final_eval(t, e) != 0)
        return err_prefix(e, "final evaluation: ");
    return 0;
}

int training_job_run(job_ctx *j, const training_env *env, err *e)
{
    int64_t run = 0;
    json_t *p = job_payload(j);
    json_t *rv = json_object_get(p, "run_id");
    if (!json_is_integer(rv))
        return err_set(e, ERR_INVALID, "the job has no run_id");
    run = json_integer_value(rv);
    train_ctx *t = calloc(1, sizeof *t);
    if (!t)
        return err_set(e, ERR_INTERNAL, "out of memory");
    t->job = j;
    t->env = env;
    t->best_val_acc = -1;
    training_cfg_init(&t->cfg);
    int64_t org = 0, experiment = 0;
    char state[16] = "";
    int rc = -1;
    snprintf(t->tmp_prefix, sizeof t->tmp_prefix, "%s/train-%lld-%llx", env->spool_dir,
             (long long)run, (unsigned long long)(rand_u64() & 0xffffffffffULL));
    tlog_init(&t->log, env, 0, 0, run);
    int lr = load_run(t, run, &org, &experiment, state, e);
    t->log.org = org;
    t->log.experiment = experiment;
    if (lr != 0) {
        if (org && experiment)
            goto failed;
        goto done;
    }
    if (strcmp(state, "canceled") == 0 || strcmp(state, "succeeded") == 0 ||
        strcmp(state, "failed") == 0) {
        job_log(j, "run %lld is already %s", (long long)run, state);
        rc = 0;
        goto done;
    }
    if (set_state(t, "running", NULL) != 0) {
        err_set(e, ERR_UNAVAILABLE, "could not mark the run running");
        goto done;
    }
    tlog_output(&t->log, "run %lld (job %lld, attempt %d) started on %s", (long long)run,
                (long long)job_id(j), job_attempt(j), "the platform's trainer");
    if (prepare_data(t, e) != 0)
        goto failed;
    train_data_input(&t->data, t->cfg.channels, t->cfg.input_size, t->cfg.cache_mb);
    if ((t->detection ? train_det_prepare(t, e) : prepare_model(t, t->cfg.resume, e)) != 0)
        goto failed;
    train_data_input(&t->data, t->cfg.channels, t->cfg.input_size, t->cfg.cache_mb);
    /* what the data decided is part of the run's record */
    {
        json_t *p2 = json_pack("{s:i, s:i}", "input_size", t->cfg.input_size, "channels",
                               t->cfg.channels);
        if (t->detection) {
            json_object_set_new(p2, "task", json_string("detection"));
            json_object_set_new(p2, "architecture", json_string(t->cfg.arch));
        }
        db_conn *c = db_get(env->db, e);
        if (c) {
            exp_params_set(c, org, experiment, p2, e);
            if (t->detection) {
                /* the label map, for the registry (publishing copies it into the
                 * model version); too many labels for a parameter: model.json has them */
                json_t *labels = json_array();
                for (int i = 0; i < t->data.nclasses; i++)
                    json_array_append_new(labels, json_string(t->data.classes[i]));
                json_t *p3 = json_pack("{s:o}", "labels", labels);
                err le;
                if (exp_params_set(c, org, experiment, p3, &le) != 0)
                    job_log(j, "the label map is not a parameter: %s", le.msg);
                json_decref(p3);
            }
            json_t *cj = training_cfg_json(&t->cfg);
            char *ct = json_dumps(cj, JSON_COMPACT);
            db_run(c, e, "UPDATE training_run SET config = $1, start_epoch = $2 WHERE id = $3",
                   DBT(ct), DBI(t->start_epoch), DBI(run));
            free(ct);
            json_decref(cj);
            db_put(c);
        }
        json_decref(p2);
    }
    tlog_output(&t->log,
                "training %s (%zu parameters, input %dx%dx%d) on %lld images, validating on "
                "%lld, testing on %lld; %d classes; epochs %d..%d, batch %d, %s lr %g",
                t->cfg.arch, nn_model_param_count(t->model), t->cfg.channels, t->cfg.input_size,
                t->cfg.input_size, (long long)t->data.train.n, (long long)t->data.val.n,
                (long long)t->data.test.n, t->data.nclasses, t->start_epoch + 1, t->cfg.epochs,
                t->cfg.batch_size, t->cfg.optimizer,
                t->cfg.lr > 0 ? t->cfg.lr : strcmp(t->cfg.optimizer, "sgd") == 0 ? 0.1 : 0.002);
    train_split *sps[] = {&t->data.train, &t->data.val, &t->data.test};
    for (int i = 0; i < 3; i++)
        if (t->detection && (sps[i]->unlabeled || sps[i]->unknown_boxes))
            tlog_output(&t->log, "%s: %lld image(s) without an annotation (or rejected) were left "
                                 "out, and %lld box(es) with a label the train version lacks",
                        sps[i]->name, (long long)sps[i]->unlabeled,
                        (long long)sps[i]->unknown_boxes);
        else if (!t->detection && (sps[i]->unlabeled || sps[i]->unknown))
            tlog_output(&t->log, "%s: %lld image(s) without a class and %lld with a class the "
                                 "train version lacks were left out",
                        sps[i]->name, (long long)sps[i]->unlabeled, (long long)sps[i]->unknown);
    if (t->start_epoch >= t->cfg.epochs)
        tlog_output(&t->log, "the checkpoint already has %d epochs; nothing left to train "
                             "(resume with more epochs to continue)",
                    t->start_epoch);
    else if ((t->detection ? train_det_loop(t, e) : train_loop(t, e)) != 0)
        goto failed;
    err fe;
    tlog_flush(&t->log, &fe);
    if (t->stopped) {
        if (cancel_requested(t)) {
            tlog_output(&t->log, "canceled at epoch %d, step %lld; relaunch with resume to "
                                 "continue from the checkpoint of epoch %d",
                        t->epochs_done + 1, (long long)t->steps_done, t->epochs_done);
            set_state(t, "canceled", "canceled");
            rc = 0;
        } else {
            tlog_output(&t->log, "the worker is stopping: the run goes back to the queue and "
                                 "resumes from epoch %d",
                        t->epochs_done);
            set_state(t, "queued", "released by its worker; resumes from the last checkpoint");
            err_set(e, ERR_UNAVAILABLE, "released: the worker is stopping");
        }
        goto done;
    }
    if ((t->detection ? train_det_finish(t, e) : finish_success(t, e)) != 0)
        goto failed;
    tlog_flush(&t->log, &fe);
    set_state(t, "succeeded", NULL);
    rc = 0;
    goto done;
failed:
    tlog_flush(&t->log, &fe);
    if (job_should_stop(j) && !cancel_requested(t)) {
        set_state(t, "queued", "released by its worker; resumes from the last checkpoint");
    } else if (job_should_stop(j)) {
        set_state(t, "canceled", "canceled");
        rc = 0;
    } else if ((e->code == ERR_UNAVAILABLE || e->code == ERR_IO) &&
               job_attempt(j) < TRAIN_JOB_ATTEMPTS) {
        tlog_output(&t->log, "error: %s (will retry from the last checkpoint)", e->msg);
        set_state(t, "queued", e->msg);
    } else {
        tlog_output(&t->log, "error: %s", e->msg);
        set_state(t, "failed", e->msg);
        if (e->code == ERR_UNAVAILABLE || e->code == ERR_IO)
            e->code = ERR_INTERNAL; /* no attempts left: do not retry */
    }
done:
    {
        char f[1200];
        if (t->best_file[0])
            unlink(t->best_file);
        if (t->optim_file[0])
            unlink(t->optim_file);
        snprintf(f, sizeof f, "%s-resume.safetensors", t->tmp_prefix);
        unlink(f);
        train_det_cleanup(t);
    }
    tlog_free(&t->log);
    nn_model_free(t->model);
    train_data_free(&t->data);
    training_cfg_free(&t->cfg);
    free(t);
    return rc;
}
