/*
 * jobs.c - the job queue and its workers; see jobs.h for the design.
 */
#include "jobs/jobs.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

const char jobs_schema_v1[] =
    "CREATE TABLE job (id {{ID}}, org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " kind TEXT NOT NULL, payload {{JSON}} NOT NULL, state TEXT NOT NULL,"
    " progress DOUBLE PRECISION NOT NULL DEFAULT 0, message TEXT, result {{JSON}}, error TEXT,"
    " attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL DEFAULT 3,"
    " run_after BIGINT NOT NULL, lease_until BIGINT, worker TEXT,"
    " cancel_requested INTEGER NOT NULL DEFAULT 0, created_by BIGINT,"
    " created_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT);"
    "CREATE INDEX job_queue ON job (state, run_after);"
    "CREATE INDEX job_org ON job (org_id, id);"
    "CREATE TABLE job_log (job_id BIGINT NOT NULL REFERENCES job(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL, at BIGINT NOT NULL, line TEXT NOT NULL, PRIMARY KEY (job_id, seq));";

const char jobs_schema_v61[] =
    "ALTER TABLE job ADD COLUMN requires TEXT;"
    "CREATE TABLE job_require (job_id BIGINT NOT NULL REFERENCES job(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, min_value DOUBLE PRECISION, text_value TEXT,"
    " PRIMARY KEY (job_id, name));";

static const char *const states[] = {"queued", "running", "succeeded", "failed", "canceled"};

bool jobs_state_valid(const char *s)
{
    for (size_t i = 0; i < ARRAY_LEN(states); i++)
        if (strcmp(s, states[i]) == 0)
            return true;
    return false;
}

/* --- labels and requirements ---------------------------------------------- */

static bool label_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > JOBS_LABEL_NAME_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* "16G" -> 17179869184; false if not a number. */
static bool label_number(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v))
        return false;
    double mul = 1;
    if (*end) {
        switch (*end) {
        case 'k': case 'K': mul = 1024.0; break;
        case 'm': case 'M': mul = 1024.0 * 1024; break;
        case 'g': case 'G': mul = 1024.0 * 1024 * 1024; break;
        case 't': case 'T': mul = 1024.0 * 1024 * 1024 * 1024; break;
        default: return false;
        }
        end++;
        if (*end == 'i' || *end == 'B')
            end++;
        if (*end == 'B')
            end++;
        if (*end)
            return false;
    }
    *out = v * mul;
    return true;
}

int jobs_labels_parse(const char *text, jobs_label *out, int max, int *n, err *e)
{
    *n = 0;
    if (!text)
        return 0;
    if (strlen(text) > JOBS_REQUIRES_MAX)
        return err_set(e, ERR_TOO_LARGE, "a label list must be at most %d bytes", JOBS_REQUIRES_MAX);
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *stop = end;
        while (stop > p && stop[-1] == ' ')
            stop--;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        size_t nlen = (size_t)((eq ? eq : stop) - p);
        if (!label_name_ok(p, nlen))
            return err_set(e, ERR_INVALID,
                           "label '%.*s' is not valid: a name is 1 to %d characters a-z, 0-9, "
                           "'_', '.' or '-' starting with a letter, optionally '=value' "
                           "(e.g. gpu, docker, mem=16G)",
                           (int)(stop - p) > 80 ? 80 : (int)(stop - p), p, JOBS_LABEL_NAME_MAX);
        if (*n >= max)
            return err_set(e, ERR_TOO_LARGE, "at most %d labels", max);
        jobs_label *l = &out[*n];
        memset(l, 0, sizeof *l);
        memcpy(l->name, p, nlen);
        for (int i = 0; i < *n; i++)
            if (strcmp(out[i].name, l->name) == 0)
                return err_set(e, ERR_INVALID, "label '%s' is given twice", l->name);
        if (eq) {
            size_t vlen = (size_t)(stop - eq - 1);
            if (vlen == 0 || vlen > JOBS_LABEL_VALUE_MAX)
                return err_set(e, ERR_INVALID, "label '%s': the value after '=' must be 1 to %d "
                                               "characters", l->name, JOBS_LABEL_VALUE_MAX);
            char v[JOBS_LABEL_VALUE_MAX + 1];
            memcpy(v, eq + 1, vlen);
            v[vlen] = 0;
            for (size_t i = 0; i < vlen; i++)
                if ((unsigned char)v[i] <= ' ' || v[i] == '\'' || v[i] == '"')
                    return err_set(e, ERR_INVALID, "label '%s': the value must not contain "
                                                   "spaces or quotes", l->name);
            if (label_number(v, &l->num))
                l->has_num = true;
            else
                snprintf(l->text, sizeof l->text, "%s", v);
        }
        (*n)++;
        p = end;
    }
    return 0;
}

bool jobs_labels_satisfy(const jobs_label *have, int nhave, const jobs_label *req, int nreq)
{
    for (int i = 0; i < nreq; i++) {
        bool ok = false;
        for (int k = 0; k < nhave && !ok; k++) {
            if (strcmp(have[k].name, req[i].name) != 0)
                continue;
            if (req[i].has_num)
                ok = have[k].has_num && have[k].num >= req[i].num;
            else if (req[i].text[0])
                ok = strcmp(have[k].text, req[i].text) == 0;
            else
                ok = true;
        }
        if (!ok)
            return false;
    }
    return true;
}

static void labels_format(const jobs_label *l, int n, char *out, size_t size)
{
    size_t k = 0;
    out[0] = 0;
    for (int i = 0; i < n && k < size; i++) {
        int w;
        if (l[i].has_num)
            w = snprintf(out + k, size - k, "%s%s=%.15g", i ? "," : "", l[i].name, l[i].num);
        else if (l[i].text[0])
            w = snprintf(out + k, size - k, "%s%s=%s", i ? "," : "", l[i].name, l[i].text);
        else
            w = snprintf(out + k, size - k, "%s%s", i ? "," : "", l[i].name);
        if (w < 0)
            break;
        k += (size_t)w;
    }
}

int jobs_set_requires(db_conn *c, int64_t job_id, const char *requires, err *e)
{
    jobs_label req[JOBS_LABELS_MAX];
    int n = 0;
    if (jobs_labels_parse(requires, req, JOBS_LABELS_MAX, &n, e))
        return err_prefix(e, "requires: ");
    if (n == 0)
        return 0;
    for (int i = 0; i < n; i++)
        if (db_run(c, e,
                   "INSERT INTO job_require (job_id, name, min_value, text_value) VALUES ($1, $2, $3, $4)",
                   DBI(job_id), DBT(req[i].name), req[i].has_num ? DBD(req[i].num) : DBNULL,
                   DBT(req[i].text[0] ? req[i].text : NULL)) < 0)
            return -1;
    char text[JOBS_REQUIRES_MAX + 64];
    snprintf(text, sizeof text, "%s", requires);
    char msg[JOBS_REQUIRES_MAX + 100];
    snprintf(msg, sizeof msg, "waiting for a worker with labels %s", text);
    return db_run(c, e, "UPDATE job SET requires = $1, message = $2 WHERE id = $3 AND state = 'queued'",
                  DBT(text), DBT(msg), DBI(job_id)) < 0 ? -1 : 0;
}

/* --- queue operations ---------------------------------------------------- */

int jobs_submit(db_conn *c, int64_t org_id, const char *kind, const char *payload_json,
                int64_t created_by, int max_attempts, int64_t *job_id, err *e)
{
    if (max_attempts <= 0)
        max_attempts = 3;
    int64_t now = time_now_ms();
    return db_one_i64(c, e, job_id,
                      "INSERT INTO job (org_id, kind, payload, state, max_attempts, run_after,"
                      " created_by, created_at) VALUES ($1, $2, $3, 'queued', $4, $5, $6, $5)"
                      " RETURNING id",
                      DBI(org_id), DBT(kind), DBT(payload_json ? payload_json : "{}"),
                      DBI(max_attempts), DBI(now), created_by ? DBI(created_by) : DBNULL);
}

static int job_state(db_conn *c, int64_t org_id, int64_t id, char *state, size_t n, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT state FROM job WHERE id = $1 AND org_id = $2", DBI(id),
                          DBI(org_id));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        snprintf(state, n, "%s", db_col_text(s, 0));
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "job %lld does not exist in this organization",
                       (long long)id);
    return rc < 0 ? -1 : 0;
}

int jobs_cancel(db_conn *c, int64_t org_id, int64_t id, err *e)
{
    int64_t now = time_now_ms();
    int64_t n = db_run(c, e,
                       "UPDATE job SET state = 'canceled', finished_at = $1, message = 'canceled"
                       " before it started' WHERE id = $2 AND org_id = $3 AND state = 'queued'",
                       DBI(now), DBI(id), DBI(org_id));
    if (n < 0)
        return -1;
    if (n == 1)
        return 0;
    n = db_run(c, e,
               "UPDATE job SET cancel_requested = 1 WHERE id = $1 AND org_id = $2 AND state = 'running'",
               DBI(id), DBI(org_id));
    if (n < 0)
        return -1;
    if (n == 1)
        return 0;
    char st[16];
    if (job_state(c, org_id, id, st, sizeof st, e))
        return -1;
    return err_set(e, ERR_CONFLICT, "job %lld has already finished (%s); nothing to cancel",
                   (long long)id, st);
}

int jobs_retry(db_conn *c, int64_t org_id, int64_t id, err *e)
{
    int64_t now = time_now_ms();
    int64_t n = db_run(c, e,
                       "UPDATE job SET state = 'queued', attempts = 0, run_after = $1, error = NULL,"
                       " message = NULL, progress = 0, cancel_requested = 0, finished_at = NULL,"
                       " lease_until = NULL, worker = NULL"
                       " WHERE id = $2 AND org_id = $3 AND state IN ('failed', 'canceled')",
                       DBI(now), DBI(id), DBI(org_id));
    if (n < 0)
        return -1;
    if (n == 1)
        return 0;
    char st[16];
    if (job_state(c, org_id, id, st, sizeof st, e))
        return -1;
    return err_set(e, ERR_CONFLICT, "job %lld is %s; only failed or canceled jobs can be retried",
                   (long long)id, st);
}

#define JOB_COLS                                                                                   \
    "id, kind, state, progress, message, error, attempts, max_attempts, created_by, created_at,"  \
    " started_at, finished_at, cancel_requested, payload, result, worker, run_after, requires"

static void ts_field(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    if (db_col_null(s, col)) {
        jw_null(w);
        return;
    }
    char ts[32];
    time_fmt_iso(db_col_i64(s, col), ts, sizeof ts);
    jw_str(w, ts);
}

static void json_field(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    const char *v = db_col_text(s, col);
    if (!v)
        jw_null(w);
    else
        jw_raw(w, v, db_col_len(s, col));
}

static void write_job(jw *w, db_stmt *s)
{
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kstr(w, "kind", db_col_text(s, 1));
    jw_kstr(w, "state", db_col_text(s, 2));
    jw_kdbl(w, "progress", db_col_dbl(s, 3));
    jw_kstr(w, "message", db_col_text(s, 4));
    jw_kstr(w, "error", db_col_text(s, 5));
    jw_kint(w, "attempts", db_col_i64(s, 6));
    jw_kint(w, "max_attempts", db_col_i64(s, 7));
    jw_key(w, "created_by");
    if (db_col_null(s, 8))
        jw_null(w);
    else
        jw_int(w, db_col_i64(s, 8));
    ts_field(w, "created_at", s, 9);
    ts_field(w, "started_at", s, 10);
    ts_field(w, "finished_at", s, 11);
    jw_kbool(w, "cancel_requested", db_col_i64(s, 12) != 0);
    json_field(w, "payload", s, 13);
    json_field(w, "result", s, 14);
    jw_kstr(w, "worker", db_col_text(s, 15));
    ts_field(w, "run_after", s, 16);
    jw_kstr(w, "requires", db_col_text(s, 17));
    jw_obj_end(w);
}

int jobs_write(db_conn *c, int64_t org_id, int64_t id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT " JOB_COLS " FROM job WHERE id = $1 AND org_id = $2",
                          DBI(id), DBI(org_id));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        write_job(w, s);
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "job %lld does not exist in this organization",
                       (long long)id);
    return rc < 0 ? -1 : 0;
}

int jobs_list(db_conn *c, int64_t org_id, const char *state, const char *kind, int64_t limit,
              int64_t before_id, jw *w, int64_t *next_cursor, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT " JOB_COLS " FROM job WHERE org_id = $1 AND id < $2"
                          " AND ($3 = '' OR state = $3) AND ($4 = '' OR kind = $4)"
                          " ORDER BY id DESC LIMIT $5",
                          DBI(org_id), DBI(before_id > 0 ? before_id : INT64_MAX),
                          DBT(state ? state : ""), DBT(kind ? kind : ""), DBI(limit + 1));
    if (!s)
        return -1;
    int rc, n = 0;
    int64_t last = 0;
    *next_cursor = 0;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        if (n == limit) {
            *next_cursor = last;
            break;
        }
        last = db_col_i64(s, 0);
        write_job(w, s);
        n++;
    }
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int jobs_log_read(db_conn *c, int64_t org_id, int64_t id, int64_t after, int64_t limit, jw *w,
                  bool *finished, int64_t *last_seq, err *e)
{
    char st[16];
    if (job_state(c, org_id, id, st, sizeof st, e))
        return -1;
    *finished = strcmp(st, "queued") != 0 && strcmp(st, "running") != 0;
    db_stmt *s = db_query(c, e,
                          "SELECT seq, at, line FROM job_log WHERE job_id = $1 AND seq > $2"
                          " ORDER BY seq LIMIT $3",
                          DBI(id), DBI(after), DBI(limit));
    if (!s)
        return -1;
    int rc;
    *last_seq = after;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kint(w, "seq", db_col_i64(s, 0));
        ts_field(w, "at", s, 1);
        jw_kstr(w, "line", db_col_text(s, 2));
        jw_obj_end(w);
        *last_seq = db_col_i64(s, 0);
    }
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int jobs_metrics(db_conn *c, sbuf *out, err *e)
{
    int64_t counts[ARRAY_LEN(states)] = {0};
    db_stmt *s = db_query(c, e, "SELECT state, COUNT(*) FROM job GROUP BY state");
    if (!s)
        return -1;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW)
        for (size_t i = 0; i < ARRAY_LEN(states); i++)
            if (strcmp(db_col_text(s, 0), states[i]) == 0)
                counts[i] = db_col_i64(s, 1);
    db_done(s);
    if (rc < 0)
        return -1;
    sbuf_puts(out, "# HELP cvops_jobs Jobs by state.\n# TYPE cvops_jobs gauge\n");
    for (size_t i = 0; i < ARRAY_LEN(states); i++)
        sbuf_printf(out, "cvops_jobs{state=\"%s\"} %lld\n", states[i], (long long)counts[i]);
    return 0;
}

/* --- workers -------------------------------------------------------------- */

struct job_ctx {
    jobs_runner *r;
    int64_t id, org, creator;
    int attempt, max_attempts;
    char kind[64];
    char token[160]; /* claim token: guards every later write */
    json_t *payload;
    json_t *result;
    int64_t log_seq;
    int64_t last_progress_ns;
    _Atomic bool cancel, lost;
};

#define MAX_WORKERS 64

struct jobs_runner {
    db *d;
    void *app;
    const job_kind *kinds;
    jobs_config cfg;
    char name[96];
    char self[24]; /* "/i<random hex>/": in every lease token this runner hands out */
    pthread_t threads[MAX_WORKERS];
    int nthreads;
    pthread_t heartbeat;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic bool stopping;
    bool poked;
    job_ctx *active[MAX_WORKERS];
    _Atomic int busy;
    jobs_label labels[JOBS_LABELS_MAX];
    int nlabels;
    char labels_text[JOBS_LABELS_MAX * 48];
    char *claim_sql; /* the claim statement for these labels */
};

static const job_kind *find_kind(jobs_runner *r, const char *name)
{
    for (const job_kind *k = r->kinds; k && k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

/* The claim statement of a runner: the oldest runnable job whose
 * requirements this worker's labels meet. Each label becomes one condition
 * a requirement row may satisfy (no NULL parameters, so no three-valued
 * surprises); a job with a requirement no label satisfies is skipped. */
static char *claim_sql_build(const jobs_runner *r, bool pg)
{
    sbuf b = {0};
    sbuf_puts(&b, "UPDATE job SET state = 'running', attempts = attempts + 1, lease_until = $1,"
                  " worker = $2, started_at = COALESCE(started_at, $3)");
    if (pg)
        sbuf_puts(&b, ", cancel_requested = cancel_requested");
    sbuf_puts(&b, " WHERE id = (SELECT id FROM job WHERE ((state = 'queued' AND run_after <= $3)"
                  " OR (state = 'running' AND lease_until < $3 AND attempts < max_attempts"
                  " AND worker NOT LIKE $4))"
                  " AND (requires IS NULL OR NOT EXISTS (SELECT 1 FROM job_require r"
                  " WHERE r.job_id = job.id AND NOT (1 = 0");
    for (int i = 0, p = 5; i < r->nlabels; i++) {
        const jobs_label *l = &r->labels[i];
        if (l->has_num) {
            sbuf_printf(&b, " OR (r.name = $%d AND r.text_value IS NULL AND (r.min_value IS NULL"
                            " OR r.min_value <= $%d))", p, p + 1);
            p += 2;
        } else if (l->text[0]) {
            sbuf_printf(&b, " OR (r.name = $%d AND r.min_value IS NULL AND (r.text_value IS NULL"
                            " OR r.text_value = $%d))", p, p + 1);
            p += 2;
        } else {
            sbuf_printf(&b, " OR (r.name = $%d AND r.min_value IS NULL AND r.text_value IS NULL)", p);
            p += 1;
        }
    }
    sbuf_puts(&b, "))) ORDER BY id LIMIT 1");
    if (pg)
        sbuf_puts(&b, " FOR UPDATE SKIP LOCKED");
    sbuf_puts(&b, ") RETURNING id, org_id, kind, payload, attempts, max_attempts, created_by,"
                  " cancel_requested");
    return sbuf_detach(&b, NULL);
}

/* Claims the next runnable job. 1 = claimed, 0 = none, -1 = error. */
static int claim(jobs_runner *r, db_conn *c, int slot, job_ctx *j, err *e)
{
    int64_t now = time_now_ms();
    char token[160];
    snprintf(token, sizeof token, "%s%st%d/%llx", r->name, r->self, slot,
             (unsigned long long)rand_u64());
    /* A lease that expired while this runner still holds the job is not a dead
     * worker: on SQLite a long write transaction (an import) blocks the
     * heartbeat's renewal, and the job must not start a second time here. */
    char mine[40];
    snprintf(mine, sizeof mine, "%%%s%%", r->self);
    db_stmt *s = db_prepare(c, r->claim_sql, e);
    if (!s)
        return -1;
    db_bind(s, 1, DBI(now + r->cfg.lease_ms));
    db_bind(s, 2, DBT(token));
    db_bind(s, 3, DBI(now));
    db_bind(s, 4, DBT(mine));
    for (int i = 0, p = 5; i < r->nlabels; i++) {
        db_bind(s, p++, DBT(r->labels[i].name));
        if (r->labels[i].has_num)
            db_bind(s, p++, DBD(r->labels[i].num));
        else if (r->labels[i].text[0])
            db_bind(s, p++, DBT(r->labels[i].text));
    }
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        memset(j, 0, sizeof *j);
        j->r = r;
        j->id = db_col_i64(s, 0);
        j->org = db_col_i64(s, 1);
        snprintf(j->kind, sizeof j->kind, "%s", db_col_text(s, 2));
        json_error_t je;
        j->payload = json_loads(db_col_text(s, 3), 0, &je);
        if (!json_is_object(j->payload)) {
            json_decref(j->payload);
            j->payload = json_object();
        }
        j->attempt = (int)db_col_i64(s, 4);
        j->max_attempts = (int)db_col_i64(s, 5);
        j->creator = db_col_null(s, 6) ? 0 : db_col_i64(s, 6);
        j->cancel = db_col_i64(s, 7) != 0;
        snprintf(j->token, sizeof j->token, "%s", token);
    }
    /* run the statement to completion so the write commits */
    while (rc == DB_ROW)
        rc = db_step(s, e);
    db_done(s);
    if (rc < 0)
        return -1;
    if (j->id == 0)
        return 0;
    int64_t seq = 0;
    db_one_i64(c, e, &seq, "SELECT COALESCE(MAX(seq), 0) FROM job_log WHERE job_id = $1",
               DBI(j->id));
    j->log_seq = seq;
    return 1;
}

static int64_t backoff_ms(int attempt)
{
    int64_t ms = 1000LL << (attempt < 8 ? attempt : 8); /* 2 s, 4 s, ... */
    if (ms > 300000)
        ms = 300000;
    return ms + (int64_t)(rand_u64() % 1000);
}

static void finish(jobs_runner *r, job_ctx *j, const job_kind *k, int rc, err *e)
{
    err we;
    db_conn *c = db_get(r->d, &we);
    if (!c) {
        log_error("job %lld: cannot record its end: %s", (long long)j->id, we.msg);
        return;
    }
    int64_t now = time_now_ms();
    int64_t n = 0;
    const char *outcome;
    if (atomic_load(&j->lost)) {
        outcome = "lost its lease; the result is dropped";
    } else if (atomic_load(&j->cancel)) {
        outcome = "canceled";
        n = db_run(c, &we,
                   "UPDATE job SET state = 'canceled', finished_at = $1, lease_until = NULL"
                   " WHERE id = $2 AND worker = $3 AND state = 'running'",
                   DBI(now), DBI(j->id), DBT(j->token));
    } else if (rc == 0) {
        outcome = "succeeded";
        char *res = j->result ? json_dumps(j->result, JSON_COMPACT) : NULL;
        n = db_run(c, &we,
                   "UPDATE job SET state = 'succeeded', progress = 1, finished_at = $1,"
                   " lease_until = NULL, result = $2 WHERE id = $3 AND worker = $4 AND state = 'running'",
                   DBI(now), DBT(res), DBI(j->id), DBT(j->token));
        free(res);
    } else if (atomic_load(&r->stopping)) {
        outcome = "released (worker shutting down)";
        n = db_run(c, &we,
                   "UPDATE job SET state = 'queued', attempts = attempts - 1, run_after = $1,"
                   " lease_until = NULL, worker = NULL WHERE id = $2 AND worker = $3 AND state = 'running'",
                   DBI(now), DBI(j->id), DBT(j->token));
    } else if ((e->code == ERR_UNAVAILABLE || e->code == ERR_IO) && j->attempt < j->max_attempts) {
        outcome = "will be retried";
        int64_t delay = backoff_ms(j->attempt);
        n = db_run(c, &we,
                   "UPDATE job SET state = 'queued', run_after = $1, lease_until = NULL, worker = NULL,"
                   " message = $2 WHERE id = $3 AND worker = $4 AND state = 'running'",
                   DBI(now + delay), DBT(e->msg), DBI(j->id), DBT(j->token));
    } else {
        outcome = "failed";
        /* a failed job keeps the result it set (an import's problem report) */
        char *res = j->result ? json_dumps(j->result, JSON_COMPACT) : NULL;
        n = db_run(c, &we,
                   "UPDATE job SET state = 'failed', finished_at = $1, lease_until = NULL, error = $2,"
                   " result = COALESCE($5, result) WHERE id = $3 AND worker = $4 AND state = 'running'",
                   DBI(now), DBT(e->msg[0] ? e->msg : "the job failed"), DBI(j->id), DBT(j->token),
                   DBT(res));
        free(res);
    }
    if (n == 0 && !atomic_load(&j->lost))
        outcome = "lost its claim before finishing; the result is dropped";
    const char *final = NULL;
    if (n == 1 && (strcmp(outcome, "succeeded") == 0 || strcmp(outcome, "failed") == 0 ||
                   strcmp(outcome, "canceled") == 0))
        final = outcome;
    if (n < 0)
        log_error("job %lld: cannot record its end: %s", (long long)j->id, we.msg);
    db_put(c);
    if (rc != 0 && !atomic_load(&j->cancel))
        job_log(j, "attempt %d %s: %s", j->attempt, outcome, e->msg);
    else
        job_log(j, "attempt %d %s", j->attempt, outcome);
    log_info("job %lld (%s) attempt %d %s", (long long)j->id, k ? k->name : j->kind, j->attempt,
             outcome);
    if (final && r->cfg.on_end)
        r->cfg.on_end(r->app, j->org, j->id, j->kind, final);
}

static void wait_for_work(jobs_runner *r)
{
    pthread_mutex_lock(&r->mu);
    if (!r->poked && !atomic_load(&r->stopping)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (int64_t)r->cfg.poll_ms * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    r->poked = false;
    pthread_mutex_unlock(&r->mu);
}

struct worker_arg {
    jobs_runner *r;
    int slot;
};

static void *worker_main(void *p)
{
    struct worker_arg *wa = p;
    jobs_runner *r = wa->r;
    int slot = wa->slot;
    free(wa);
    while (!atomic_load(&r->stopping)) {
        err e;
        err_clear(&e);
        db_conn *c = db_get(r->d, &e);
        if (!c) {
            log_warn("worker: no database connection: %s", e.msg);
            wait_for_work(r);
            continue;
        }
        job_ctx *j = calloc(1, sizeof *j);
        int got = j ? claim(r, c, slot, j, &e) : -1;
        db_put(c);
        if (got <= 0) {
            if (got < 0 && e.code != ERR_UNAVAILABLE)
                log_warn("worker: cannot claim a job: %s", e.msg);
            free(j);
            wait_for_work(r);
            continue;
        }
        pthread_mutex_lock(&r->mu);
        r->active[slot] = j;
        pthread_mutex_unlock(&r->mu);
        atomic_fetch_add(&r->busy, 1);
        const job_kind *k = find_kind(r, j->kind);
        job_log(j, "attempt %d started on %s", j->attempt, r->name);
        int rc;
        err_clear(&e);
        if (!k) {
            rc = err_set(&e, ERR_INVALID, "no worker here knows job kind '%s'", j->kind);
        } else {
            rc = k->run(j, &e);
            if (rc != 0 && e.code == ERR_NONE)
                err_set(&e, ERR_INTERNAL, "the job failed without saying why");
        }
        pthread_mutex_lock(&r->mu);
        r->active[slot] = NULL;
        pthread_mutex_unlock(&r->mu);
        finish(r, j, k, rc, &e);
        atomic_fetch_sub(&r->busy, 1);
        json_decref(j->payload);
        json_decref(j->result);
        free(j);
    }
    return NULL;
}

/* Renews leases of running jobs, picks up cancel requests, and fails jobs
 * whose workers vanished with no attempts left. */
static void *heartbeat_main(void *p)
{
    jobs_runner *r = p;
    int64_t last_reap = 0;
    char mine[40]; /* jobs this runner holds are alive, whatever their lease says */
    snprintf(mine, sizeof mine, "%%%s%%", r->self);
    int tick = r->cfg.lease_ms / 3;
    if (tick < 50)
        tick = 50;
    while (!atomic_load(&r->stopping)) {
        struct timespec ts = {tick / 1000, (long)(tick % 1000) * 1000000};
        /* sleep in short steps so stop is prompt */
        int64_t until = time_mono_ns() + (int64_t)tick * 1000000;
        while (!atomic_load(&r->stopping) && time_mono_ns() < until) {
            struct timespec step = {0, 20 * 1000000};
            nanosleep(&step, NULL);
        }
        (void)ts;
        if (atomic_load(&r->stopping))
            break;
        err e;
        db_conn *c = db_get(r->d, &e);
        if (!c)
            continue;
        int64_t now = time_now_ms();
        pthread_mutex_lock(&r->mu);
        job_ctx *snap[MAX_WORKERS];
        int n = 0;
        for (int i = 0; i < r->nthreads; i++)
            if (r->active[i])
                snap[n++] = r->active[i];
        /* renew while holding mu: a finished job's ctx cannot be freed meanwhile */
        for (int i = 0; i < n; i++) {
            job_ctx *j = snap[i];
            db_stmt *s = db_query(c, &e,
                                  "UPDATE job SET lease_until = $1 WHERE id = $2 AND worker = $3"
                                  " AND state = 'running' RETURNING cancel_requested",
                                  DBI(now + r->cfg.lease_ms), DBI(j->id), DBT(j->token));
            if (!s)
                continue;
            int rc = db_step(s, &e);
            if (rc == DB_ROW) {
                if (db_col_i64(s, 0))
                    atomic_store(&j->cancel, true);
                while (rc == DB_ROW)
                    rc = db_step(s, &e);
            } else if (rc == DB_DONE) {
                atomic_store(&j->lost, true);
            }
            db_done(s);
        }
        pthread_mutex_unlock(&r->mu);
        if (now - last_reap > 5000) {
            last_reap = now;
            db_run(c, &e,
                   "UPDATE job SET state = 'failed', finished_at = $1, lease_until = NULL,"
                   " error = 'the worker running it stopped responding and no attempts are left'"
                   " WHERE state = 'running' AND lease_until < $1 AND attempts >= max_attempts"
                   " AND worker NOT LIKE $2",
                   DBI(now), DBT(mine));
        }
        db_put(c);
    }
    return NULL;
}

/* cpus and mem of this machine, unless the configured labels give them. */
static void machine_labels(jobs_runner *r)
{
    bool has_cpus = false, has_mem = false;
    for (int i = 0; i < r->nlabels; i++) {
        has_cpus |= strcmp(r->labels[i].name, "cpus") == 0;
        has_mem |= strcmp(r->labels[i].name, "mem") == 0;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (!has_cpus && ncpu > 0) {
        jobs_label *l = &r->labels[r->nlabels++];
        memset(l, 0, sizeof *l);
        snprintf(l->name, sizeof l->name, "cpus");
        l->has_num = true;
        l->num = (double)ncpu;
    }
    if (!has_mem && pages > 0 && psize > 0) {
        jobs_label *l = &r->labels[r->nlabels++];
        memset(l, 0, sizeof *l);
        snprintf(l->name, sizeof l->name, "mem");
        l->has_num = true;
        l->num = (double)pages * (double)psize;
    }
}

const char *jobs_runner_labels(const jobs_runner *r) { return r ? r->labels_text : ""; }

jobs_runner *jobs_runner_start(db *d, void *app, const job_kind *kinds, const jobs_config *cfg,
                               err *e)
{
    jobs_runner *r = calloc(1, sizeof *r);
    if (!r) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    r->d = d;
    r->app = app;
    r->kinds = kinds;
    r->cfg = *cfg;
    if (r->cfg.lease_ms <= 0)
        r->cfg.lease_ms = 30000;
    if (r->cfg.poll_ms <= 0)
        r->cfg.poll_ms = 500;
    if (r->cfg.threads > MAX_WORKERS)
        r->cfg.threads = MAX_WORKERS;
    if (cfg->name && *cfg->name) {
        snprintf(r->name, sizeof r->name, "%s", cfg->name);
    } else {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(r->name, sizeof r->name, "%s:%d", host, (int)getpid());
    }
    snprintf(r->self, sizeof r->self, "/i%llx/", (unsigned long long)(rand_u64() & 0xffffffffffffULL));
    if (jobs_labels_parse(cfg->labels, r->labels, JOBS_LABELS_MAX - 2, &r->nlabels, e) != 0) {
        err_prefix(e, "worker labels: ");
        free(r);
        return NULL;
    }
    machine_labels(r);
    labels_format(r->labels, r->nlabels, r->labels_text, sizeof r->labels_text);
    r->cfg.labels = r->labels_text;
    r->claim_sql = claim_sql_build(r, db_driver(d) == DB_POSTGRES);
    if (!r->claim_sql) {
        free(r);
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    for (int i = 0; i < r->cfg.threads; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        wa->r = r;
        wa->slot = i;
        if (pthread_create(&r->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            break;
        }
        r->nthreads++;
    }
    if (r->nthreads > 0)
        pthread_create(&r->heartbeat, NULL, heartbeat_main, r);
    return r;
}

void jobs_runner_poke(jobs_runner *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->poked = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

int jobs_runner_busy(jobs_runner *r) { return r ? atomic_load(&r->busy) : 0; }

void jobs_runner_stop(jobs_runner *r, int grace_ms)
{
    if (!r)
        return;
    atomic_store(&r->stopping, true);
    jobs_runner_poke(r);
    int64_t deadline = time_mono_ns() + (int64_t)grace_ms * 1000000;
    while (atomic_load(&r->busy) > 0 && time_mono_ns() < deadline) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&r->busy) > 0) {
        /* Handlers that did not return in time: put their jobs back and
         * leave the threads behind (the process is exiting). */
        err e;
        db_conn *c = db_get(r->d, &e);
        pthread_mutex_lock(&r->mu);
        for (int i = 0; c && i < r->nthreads; i++) {
            job_ctx *j = r->active[i];
            if (!j)
                continue;
            atomic_store(&j->lost, true);
            db_run(c, &e,
                   "UPDATE job SET state = 'queued', attempts = attempts - 1, run_after = $1,"
                   " lease_until = NULL, worker = NULL WHERE id = $2 AND worker = $3 AND state = 'running'",
                   DBI(time_now_ms()), DBI(j->id), DBT(j->token));
            log_warn("job %lld did not stop in time; put back in the queue", (long long)j->id);
        }
        pthread_mutex_unlock(&r->mu);
        db_put(c);
        return; /* threads are not joined; r is leaked deliberately */
    }
    for (int i = 0; i < r->nthreads; i++)
        pthread_join(r->threads[i], NULL);
    if (r->nthreads > 0)
        pthread_join(r->heartbeat, NULL);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->claim_sql);
    free(r);
}

/* --- inside a handler ----------------------------------------------------- */

int64_t job_id(const job_ctx *j) { return j->id; }
int64_t job_org(const job_ctx *j) { return j->org; }
int64_t job_creator(const job_ctx *j) { return j->creator; }
const char *job_kind_name(const job_ctx *j) { return j->kind; }
int job_attempt(const job_ctx *j) { return j->attempt; }
json_t *job_payload(const job_ctx *j) { return j->payload; }
void *job_app(const job_ctx *j) { return j->r->app; }
db *job_db(const job_ctx *j) { return j->r->d; }

bool job_should_stop(job_ctx *j)
{
    return atomic_load(&j->cancel) || atomic_load(&j->lost) || atomic_load(&j->r->stopping);
}

void job_set_result(job_ctx *j, json_t *result)
{
    json_decref(j->result);
    j->result = result;
}

void job_progress(job_ctx *j, double fraction, const char *fmt, ...)
{
    int64_t now = time_mono_ns();
    if (now - j->last_progress_ns < 250 * 1000000LL && fraction < 1)
        return;
    j->last_progress_ns = now;
    char msg[512] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    if (fraction < 0)
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    err e;
    db_conn *c = db_get(j->r->d, &e);
    if (!c)
        return;
    db_run(c, &e, "UPDATE job SET progress = $1, message = $2 WHERE id = $3 AND worker = $4",
           DBD(fraction), DBT(msg), DBI(j->id), DBT(j->token));
    db_put(c);
}

/* Lines as job_log writes them, in one transaction (a command's output
 * relayed in batches: one commit per batch, not per line). */
void job_log_lines(job_ctx *j, const char *const *lines, int n)
{
    if (n <= 0 || j->log_seq >= JOB_LOG_MAX_LINES)
        return;
    err e;
    db_conn *c = db_get(j->r->d, &e);
    if (!c)
        return;
    bool tx = db_begin(c, &e) == 0;
    for (int i = 0; i < n && j->log_seq < JOB_LOG_MAX_LINES; i++) {
        char line[JOB_LOG_LINE_MAX + 1];
        snprintf(line, sizeof line, "%s", lines[i] ? lines[i] : "");
        if (!utf8_valid(line, strlen(line))) {
            for (char *p = line; *p; p++)
                if ((unsigned char)*p >= 0x80)
                    *p = '?';
        }
        j->log_seq++;
        if (j->log_seq == JOB_LOG_MAX_LINES)
            snprintf(line, sizeof line, "(log truncated at %d lines)", JOB_LOG_MAX_LINES);
        db_run(c, &e, "INSERT INTO job_log (job_id, seq, at, line) VALUES ($1, $2, $3, $4)",
               DBI(j->id), DBI(j->log_seq), DBI(time_now_ms()), DBT(line));
    }
    if (tx && db_commit(c, &e) != 0)
        db_rollback(c);
    db_put(c);
}

void job_log(job_ctx *j, const char *fmt, ...)
{
    if (j->log_seq >= JOB_LOG_MAX_LINES)
        return;
    char line[JOB_LOG_LINE_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (!utf8_valid(line, strlen(line))) {
        for (char *p = line; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
    }
    err e;
    db_conn *c = db_get(j->r->d, &e);
    if (!c)
        return;
    j->log_seq++;
    if (j->log_seq == JOB_LOG_MAX_LINES)
        snprintf(line, sizeof line, "(log truncated at %d lines)", JOB_LOG_MAX_LINES);
    db_run(c, &e, "INSERT INTO job_log (job_id, seq, at, line) VALUES ($1, $2, $3, $4)",
           DBI(j->id), DBI(j->log_seq), DBI(time_now_ms()), DBT(line));
    db_put(c);
}
