/*
 * run.c - training runs: one row per launch of an experiment, its stored
 * configuration, its job and its live progress; launching, canceling and
 * reading them; moving a run and its experiment between states.
 *
 *   run state    queued -> running -> succeeded | failed | canceled
 *                running -> queued (its worker stopped; the job is taken
 *                up again and resumes from the last checkpoint)
 *
 * The experiment's status follows its current run's state. Status changes
 * are announced to webhooks (experiment.status), as a PATCH of the status
 * would be.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "experiment/experiment.h"
#include "training/internal.h"
#include "webhook/webhook.h"

const char training_schema_v35[] =
    "CREATE TABLE training_run (id {{ID}},"
    " org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " experiment_id BIGINT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,"
    " job_id BIGINT, state TEXT NOT NULL, config {{JSON}} NOT NULL, resume INTEGER NOT NULL,"
    " start_epoch INTEGER NOT NULL DEFAULT 0, epoch INTEGER NOT NULL DEFAULT 0,"
    " epochs INTEGER NOT NULL, step BIGINT NOT NULL DEFAULT 0,"
    " steps_total BIGINT NOT NULL DEFAULT 0, loss DOUBLE PRECISION,"
    " images_per_s DOUBLE PRECISION, val_acc DOUBLE PRECISION, best_val_acc DOUBLE PRECISION,"
    " train_images BIGINT, val_images BIGINT, test_images BIGINT, classes INTEGER,"
    " eval_split TEXT, eval_accuracy DOUBLE PRECISION, message TEXT, created_by BIGINT,"
    " created_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT,"
    " updated_at BIGINT NOT NULL);"
    "CREATE INDEX training_run_experiment ON training_run (experiment_id, id);";

static bool final_state(const char *s)
{
    return strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "canceled") == 0;
}

/* The latest run of an experiment: 0 in *run when there is none. */
static int latest_run(db_conn *c, int64_t experiment, int64_t *run, int64_t *job, char *state,
                      size_t n, json_t **config, err *e)
{
    *run = 0;
    if (config)
        *config = NULL;
    db_stmt *s = db_query(c, e,
                          "SELECT id, job_id, state, config FROM training_run"
                          " WHERE experiment_id = $1 ORDER BY id DESC LIMIT 1",
                          DBI(experiment));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        *run = db_col_i64(s, 0);
        *job = db_col_null(s, 1) ? 0 : db_col_i64(s, 1);
        snprintf(state, n, "%s", db_col_text(s, 2));
        if (config)
            *config = json_loads(db_col_text(s, 3), 0, NULL);
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

static void emit_status(db_conn *c, int64_t org, int64_t experiment, const char *status, int *hooks)
{
    char payload[200];
    int n = 0;
    err e;
    snprintf(payload, sizeof payload, "{\"experiment_id\":%lld,\"status\":\"%s\"}",
             (long long)experiment, status);
    if (webhook_emit(c, org, "experiment.status", payload, &n, &e) == 0 && hooks)
        *hooks += n;
}

int training_launch(db_conn *c, int64_t org, int64_t user, int64_t experiment, json_t *body,
                    int64_t *run_id, int64_t *job_id, err *e)
{
    char status[16] = "";
    json_t *params = NULL, *datasets = NULL, *prev = NULL;
    training_cfg cfg;
    training_cfg_init(&cfg);
    int rc = -1;
    if (exp_run_info(c, org, experiment, status, sizeof status, &params, &datasets, e) != 0)
        goto out;
    if (body && !json_is_object(body)) {
        err_set(e, ERR_INVALID, "the launch body must be an object of training parameters");
        goto out;
    }
    bool resume = json_is_true(json_object_get(body, "resume"));
    if (strcmp(status, "queued") == 0 || strcmp(status, "running") == 0) {
        err_set(e, ERR_CONFLICT,
                "experiment %lld is already %s; cancel it first (POST "
                "/api/v1/experiments/%lld/cancel)",
                (long long)experiment, status, (long long)experiment);
        goto out;
    }
    if (strcmp(status, "succeeded") == 0) {
        err_set(e, ERR_CONFLICT,
                "experiment %lld has already succeeded; create a new experiment to train again",
                (long long)experiment);
        goto out;
    }
    if (resume) {
        int64_t prun = 0, pjob = 0;
        char pstate[16];
        if (latest_run(c, experiment, &prun, &pjob, pstate, sizeof pstate, &prev, e) != 0)
            goto out;
        if (!prun || !prev) {
            err_set(e, ERR_CONFLICT,
                    "experiment %lld was never trained on the platform: there is nothing to "
                    "resume; launch it without resume",
                    (long long)experiment);
            goto out;
        }
        char sha[65];
        int64_t size;
        if (exp_artifact_get(c, org, experiment, "checkpoints/last.safetensors", sha, &size, e) != 0) {
            if (e->code == ERR_NOT_FOUND)
                err_set(e, ERR_CONFLICT,
                        "experiment %lld has no checkpoint to resume from (its last run ended "
                        "before finishing an epoch); launch it without resume",
                        (long long)experiment);
            goto out;
        }
        if (training_cfg_apply(&cfg, prev, e) != 0) {
            err_prefix(e, "the previous run's configuration: ");
            goto out;
        }
    } else if (training_cfg_apply_params(&cfg, params, e) != 0) {
        goto out;
    }
    if (training_cfg_apply(&cfg, body, e) != 0)
        goto out;
    cfg.resume = resume;
    training_cfg_resolve(&cfg);
    json_t *tv = json_object_get(datasets, "train");
    if (!json_is_integer(tv) && json_object_size(datasets) != 1) {
        err_set(e, ERR_UNPROCESSABLE,
                "experiment %lld has no dataset version under the alias 'train'; attach one "
                "first (PUT /api/v1/experiments/%lld/datasets/train {\"dataset_version_id\": N})",
                (long long)experiment, (long long)experiment);
        goto out;
    }
    if (cfg.base_model) { /* the base model's weights must exist before a job waits for them */
        int64_t x;
        if (db_one_i64(c, e, &x,
                       "SELECT f.version_id FROM model_file f JOIN model_version v ON v.id = f.version_id"
                       " JOIN model m ON m.id = v.model_id WHERE f.version_id = $1 AND m.org_id = $2"
                       " AND f.path LIKE '%.safetensors' LIMIT 1",
                       DBI(cfg.base_model), DBI(org)) != 0) {
            err_set(e, ERR_INVALID,
                    "field 'base_model_version_id': model version %lld does not exist in this "
                    "organization or has no cvops checkpoint (.safetensors)",
                    (long long)cfg.base_model);
            goto out;
        }
    }
    if (!cfg.task[0] && json_is_integer(tv)) { /* the task of the train version decides */
        char vtask[16] = "";
        db_stmt *ts = db_query(c, e, "SELECT task FROM dataset_version WHERE id = $1",
                               DBI(json_integer_value(tv)));
        if (!ts)
            goto out;
        if (db_step(ts, e) == DB_ROW)
            snprintf(vtask, sizeof vtask, "%s", db_col_text(ts, 0));
        db_done(ts);
        if (strcmp(vtask, "detection") == 0)
            snprintf(cfg.task, sizeof cfg.task, "detection");
    }
    if (training_cfg_is_detection(&cfg)) {
        snprintf(cfg.task, sizeof cfg.task, "detection");
        if (strcmp(cfg.arch, "cnn") == 0) {
            snprintf(cfg.arch, sizeof cfg.arch, "detector-nano");
        } else if (strncmp(cfg.arch, "detector-", 9) != 0) {
            err_set(e, ERR_INVALID,
                    "architecture '%s' is a classifier but the task is detection; use "
                    "detector-nano or detector-small",
                    cfg.arch);
            goto out;
        }
        if (cfg.input_size % 32 != 0) {
            err_set(e, ERR_INVALID,
                    "field 'input_size' is %d but a detector's input must be a multiple of its "
                    "stride 32 (e.g. %d)",
                    cfg.input_size, (cfg.input_size / 32 + 1) * 32);
            goto out;
        }
        if (cfg.base_model) {
            err_set(e, ERR_INVALID,
                    "field 'base_model_version_id': starting from a model version's weights is "
                    "supported for classifiers only; leave it out for a detection run");
            goto out;
        }
    } else if (cfg.val_input_size) {
        err_set(e, ERR_INVALID,
                "field 'val_input_size' is for detectors (task detection); a classifier "
                "validates at its input_size");
        goto out;
    }
    if (cfg.arch_json) { /* a custom graph must at least parse and build */
        nn_model *m = nn_model_new(cfg.arch_json, 1, e);
        if (!m) {
            err_prefix(e, "architecture: ");
            e->code = ERR_INVALID;
            goto out;
        }
        nn_model_free(m);
    }
    /* the parameters first (their own transaction): a failure after this
     * leaves the experiment's parameters showing what was asked */
    json_t *p = training_cfg_params(&cfg);
    int prc = exp_params_set(c, org, experiment, p, e);
    json_decref(p);
    if (prc != 0)
        goto out;
    json_t *cj = training_cfg_json(&cfg);
    char *ctext = json_dumps(cj, JSON_COMPACT);
    json_decref(cj);
    if (db_begin(c, e) != 0) {
        free(ctext);
        goto out;
    }
    int64_t now = time_now_ms();
    char payload[128];
    if (exp_queue_run(c, org, experiment, e) != 0 ||
        db_one_i64(c, e, run_id,
                   "INSERT INTO training_run (org_id, experiment_id, state, config, resume, epochs,"
                   " created_by, created_at, updated_at) VALUES ($1, $2, 'queued', $3, $4, $5, $6,"
                   " $7, $7) RETURNING id",
                   DBI(org), DBI(experiment), DBT(ctext), DBI(resume ? 1 : 0), DBI(cfg.epochs),
                   DBI(user), DBI(now)) != 0)
        goto rollback;
    snprintf(payload, sizeof payload, "{\"run_id\":%lld,\"experiment_id\":%lld}",
             (long long)*run_id, (long long)experiment);
    if (jobs_submit(c, org, "training.run", payload, user, TRAIN_JOB_ATTEMPTS, job_id, e) != 0 ||
        db_run(c, e, "UPDATE training_run SET job_id = $1 WHERE id = $2", DBI(*job_id),
               DBI(*run_id)) < 0)
        goto rollback;
    emit_status(c, org, experiment, "queued", NULL);
    if (db_commit(c, e) != 0)
        goto done_text;
    rc = 0;
    goto done_text;
rollback:
    db_rollback(c);
done_text:
    free(ctext);
out:
    training_cfg_free(&cfg);
    json_decref(params);
    json_decref(datasets);
    json_decref(prev);
    return rc;
}

int training_run_state(db_conn *c, int64_t run, const char *state, const char *message, err *e)
{
    int64_t org = 0, experiment = 0;
    db_stmt *s = db_query(c, e, "SELECT org_id, experiment_id FROM training_run WHERE id = $1",
                          DBI(run));
    if (!s)
        return -1;
    if (db_step(s, e) == DB_ROW) {
        org = db_col_i64(s, 0);
        experiment = db_col_i64(s, 1);
    }
    db_done(s);
    if (!org)
        return err_set(e, ERR_NOT_FOUND, "training run %lld is gone", (long long)run);
    int64_t now = time_now_ms();
    bool fin = final_state(state);
    if (db_run(c, e,
               "UPDATE training_run SET state = $1, message = COALESCE($2, message),"
               " started_at = CASE WHEN $1 = 'running' THEN COALESCE(started_at, $3) ELSE started_at END,"
               " finished_at = CASE WHEN $4 = 1 THEN $3 ELSE NULL END, updated_at = $3"
               " WHERE id = $5",
               DBT(state), DBT(message), DBI(now), DBI(fin ? 1 : 0), DBI(run)) < 0)
        return -1;
    json_t *b = json_pack("{s:s}", "status", state);
    int rc = exp_update(c, org, experiment, b, e);
    json_decref(b);
    if (rc == 0)
        emit_status(c, org, experiment, state, NULL);
    return rc;
}

int training_cancel(db_conn *c, int64_t org, int64_t experiment, err *e)
{
    if (exp_check(c, org, experiment, e) != 0)
        return -1;
    int64_t run = 0, job = 0;
    char state[16] = "";
    if (latest_run(c, experiment, &run, &job, state, sizeof state, NULL, e) != 0)
        return -1;
    if (!run || final_state(state) || !job)
        return err_set(e, ERR_CONFLICT, "experiment %lld has no training queued or running",
                       (long long)experiment);
    if (jobs_cancel(c, org, job, e) != 0)
        return -1;
    /* a queued job is canceled at once and will never run: end the run here */
    int64_t queued = 0;
    if (db_one_i64(c, e, &queued, "SELECT COUNT(*) FROM job WHERE id = $1 AND state = 'canceled'",
                   DBI(job)) != 0)
        return -1;
    if (queued)
        return training_run_state(c, run, "canceled", "canceled before it started", e);
    return 0;
}

static void opt_dbl(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    if (db_col_null(s, col))
        jw_null(w);
    else
        jw_dbl(w, db_col_dbl(s, col));
}

static void opt_int(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    if (db_col_null(s, col))
        jw_null(w);
    else
        jw_int(w, db_col_i64(s, col));
}

static void opt_time(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    if (db_col_null(s, col)) {
        jw_null(w);
        return;
    }
    char b[32];
    time_fmt_iso(db_col_i64(s, col), b, sizeof b);
    jw_str(w, b);
}

#define RUN_COLS                                                                                   \
    "id, job_id, state, config, resume, start_epoch, epoch, epochs, step, steps_total, loss,"     \
    " images_per_s, val_acc, best_val_acc, train_images, val_images, test_images, classes,"       \
    " eval_split, eval_accuracy, message, created_at, started_at, finished_at, updated_at"

static void write_run(jw *w, db_stmt *s)
{
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(s, 0));
    opt_int(w, "job_id", s, 1);
    jw_kstr(w, "state", db_col_text(s, 2));
    jw_key(w, "config");
    jw_raw(w, db_col_text(s, 3), db_col_len(s, 3));
    jw_kbool(w, "resume", db_col_i64(s, 4) != 0);
    jw_kint(w, "start_epoch", db_col_i64(s, 5));
    jw_kint(w, "epoch", db_col_i64(s, 6));
    jw_kint(w, "epochs", db_col_i64(s, 7));
    jw_kint(w, "step", db_col_i64(s, 8));
    jw_kint(w, "steps_total", db_col_i64(s, 9));
    opt_dbl(w, "loss", s, 10);
    opt_dbl(w, "images_per_s", s, 11);
    opt_dbl(w, "val_acc", s, 12);
    opt_dbl(w, "best_val_acc", s, 13);
    opt_int(w, "train_images", s, 14);
    opt_int(w, "val_images", s, 15);
    opt_int(w, "test_images", s, 16);
    opt_int(w, "classes", s, 17);
    jw_kstr(w, "eval_split", db_col_text(s, 18));
    opt_dbl(w, "eval_accuracy", s, 19);
    jw_kstr(w, "message", db_col_text(s, 20));
    opt_time(w, "created_at", s, 21);
    opt_time(w, "started_at", s, 22);
    opt_time(w, "finished_at", s, 23);
    opt_time(w, "updated_at", s, 24);
    jw_obj_end(w);
}

int training_write(db_conn *c, int64_t org, int64_t experiment, jw *w, err *e)
{
    if (exp_check(c, org, experiment, e) != 0)
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT " RUN_COLS " FROM training_run WHERE experiment_id = $1"
                          " ORDER BY id DESC LIMIT 100",
                          DBI(experiment));
    if (!s)
        return -1;
    jw_obj(w);
    jw_kint(w, "experiment_id", experiment);
    jw_key(w, "runs");
    jw_arr(w);
    int rc, n = 0;
    while ((rc = db_step(s, e)) == DB_ROW) {
        write_run(w, s);
        n++;
    }
    jw_arr_end(w);
    db_done(s);
    if (rc < 0)
        return -1;
    /* the current run again, on its own, for clients that want one object */
    jw_key(w, "current");
    if (n == 0) {
        jw_null(w);
    } else {
        s = db_query(c, e,
                     "SELECT " RUN_COLS " FROM training_run WHERE experiment_id = $1"
                     " ORDER BY id DESC LIMIT 1",
                     DBI(experiment));
        if (!s)
            return -1;
        if ((rc = db_step(s, e)) == DB_ROW)
            write_run(w, s);
        else
            jw_null(w);
        db_done(s);
        if (rc < 0)
            return -1;
    }
    jw_obj_end(w);
    return 0;
}
