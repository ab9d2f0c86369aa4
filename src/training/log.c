/*
 * log.c - what a training run writes to its experiment, through the
 * experiment module: metric points (buffered, written as one batch through
 * the committer every 2 s or 4,000 points, so a step costs a few
 * nanoseconds of logging), log records, output lines and artifacts
 * (streamed from a local file into the blob store).
 *
 * Logging failures other than the last flush are not fatal to a run: a
 * point that could not be written is dropped with a line in the job log,
 * since stopping hours of training for a lost chart point is worse.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "training/internal.h"

#define FLUSH_NS (2000LL * 1000000)
#define FLUSH_POINTS 4000

void tlog_init(tlog *t, const training_env *env, int64_t org, int64_t experiment, int64_t run)
{
    memset(t, 0, sizeof *t);
    t->env = env;
    t->org = org;
    t->experiment = experiment;
    t->run = run;
    t->flushed_ns = time_mono_ns();
}

void tlog_free(tlog *t)
{
    for (int i = 0; i < t->nnames; i++)
        free(t->names[i]);
    free(t->pts);
    t->pts = NULL;
    t->nnames = 0;
    t->n = t->cap = 0;
}

static int series_of(tlog *t, const char *name)
{
    for (int i = 0; i < t->nnames; i++)
        if (strcmp(t->names[i], name) == 0)
            return i;
    if (t->nnames == TLOG_MAX_SERIES)
        return -1;
    t->names[t->nnames] = strdup(name);
    return t->nnames++;
}

int tlog_flush(tlog *t, err *e)
{
    t->flushed_ns = time_mono_ns();
    if (t->n == 0)
        return 0;
    exp_batch_series ser[TLOG_MAX_SERIES];
    for (int i = 0; i < t->nnames; i++)
        ser[i] = (exp_batch_series){t->names[i], strlen(t->names[i]), 0};
    for (size_t i = 0; i < t->n; i++)
        ser[t->pts[i].series].count++;
    exp_batch b = {ser, (size_t)t->nnames, t->pts, t->n};
    int rc = exp_points_commit(t->env->committer, t->env->db, t->org, t->experiment, &b, e);
    t->n = 0;
    return rc;
}

int tlog_metric(tlog *t, const char *name, int64_t step, double value, err *e)
{
    if (value != value || value > 1e300 || value < -1e300)
        return 0; /* NaN/inf cannot be stored (the loss diverged: the output says so) */
    int s = series_of(t, name);
    if (s < 0)
        return err_set(e, ERR_INTERNAL, "too many metric names");
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        exp_batch_point *np = realloc(t->pts, cap * sizeof *np);
        if (!np)
            return err_set(e, ERR_INTERNAL, "out of memory");
        t->pts = np;
        t->cap = cap;
    }
    t->pts[t->n++] = (exp_batch_point){(uint32_t)s, {step, value, time_now_ms()}};
    if (t->n >= FLUSH_POINTS || time_mono_ns() - t->flushed_ns > FLUSH_NS)
        return tlog_flush(t, e);
    return 0;
}

void tlog_output(tlog *t, const char *fmt, ...)
{
    char line[EXP_OUTPUT_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (!utf8_valid(line, strlen(line)))
        for (char *p = line; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
    err e;
    db_conn *c = db_get(t->env->db, &e);
    if (!c)
        return;
    json_t *lines = json_pack("[s]", line);
    int64_t last;
    exp_output_append(c, t->org, t->experiment, lines, &last, &e);
    json_decref(lines);
    db_put(c);
}

int tlog_record(tlog *t, json_t *body, err *e)
{
    db_conn *c = db_get(t->env->db, e);
    int rc = -1;
    if (c) {
        rc = exp_log_put(c, t->org, t->experiment, body, e);
        db_put(c);
    }
    json_decref(body);
    return rc;
}

int tlog_artifact_ref(tlog *t, const char *sha, int64_t size, const char *path, err *e)
{
    db_conn *c = db_get(t->env->db, e);
    if (!c)
        return -1;
    int rc = exp_artifact_put(c, t->org, t->experiment, path, sha, size, e);
    db_put(c);
    return rc;
}

int tlog_artifact_file(tlog *t, const char *file, const char *path, char *sha, int64_t *size,
                       err *e)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, ERR_IO, "cannot read %s back", file);
    blob_writer *w = blob_writer_new(t->env->blobs, e);
    char buf[1 << 16];
    ssize_t r = 0;
    while (w && (r = read(fd, buf, sizeof buf)) > 0)
        if (blob_writer_write(w, buf, (size_t)r, e) != 0) {
            blob_writer_abort(w);
            w = NULL;
        }
    close(fd);
    if (!w)
        return -1;
    if (r < 0) {
        blob_writer_abort(w);
        return err_set(e, ERR_IO, "cannot read %s", file);
    }
    blob_ref ref;
    if (blob_writer_commit(w, NULL, &ref, e) != 0)
        return -1;
    if (sha)
        snprintf(sha, 65, "%s", ref.sha);
    if (size)
        *size = ref.size;
    return tlog_artifact_ref(t, ref.sha, ref.size, path, e);
}

static int sink_fd(void *ctx, const void *p, size_t n)
{
    int fd = *(int *)ctx;
    const char *q = p;
    while (n > 0) {
        ssize_t w = write(fd, q, n);
        if (w <= 0)
            return -1;
        q += w;
        n -= (size_t)w;
    }
    return 0;
}

int tlog_artifact_fetch(tlog *t, const char *path, const char *file, err *e)
{
    char sha[65];
    int64_t size;
    db_conn *c = db_get(t->env->db, e);
    if (!c)
        return -1;
    int rc = exp_artifact_get(c, t->org, t->experiment, path, sha, &size, e);
    db_put(c);
    if (rc != 0)
        return -1;
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_set(e, ERR_IO, "cannot create %s", file);
    rc = blob_read(t->env->blobs, sha, 0, -1, sink_fd, &fd, e);
    if (close(fd) != 0 && rc == 0)
        rc = err_set(e, ERR_IO, "cannot write %s", file);
    if (rc != 0)
        unlink(file);
    return rc;
}

void tlog_run_progress(tlog *t, int epoch, int64_t step, int64_t steps_total, double loss,
                       double images_per_s, double val_acc, double best_val_acc)
{
    err e;
    db_conn *c = db_get(t->env->db, &e);
    if (!c)
        return;
    db_run(c, &e,
           "UPDATE training_run SET epoch = $1, step = $2, steps_total = $3, loss = $4,"
           " images_per_s = $5, val_acc = COALESCE($6, val_acc),"
           " best_val_acc = COALESCE($7, best_val_acc), updated_at = $8 WHERE id = $9",
           DBI(epoch), DBI(step), DBI(steps_total), loss == loss ? DBD(loss) : DBNULL,
           DBD(images_per_s), val_acc >= 0 ? DBD(val_acc) : DBNULL,
           best_val_acc >= 0 ? DBD(best_val_acc) : DBNULL, DBI(time_now_ms()), DBI(t->run));
    db_put(c);
}
