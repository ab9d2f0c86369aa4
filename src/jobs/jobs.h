/*
 * jobs.h - the job queue and the workers that run it.
 *
 * Every long operation (an import, a training, a processing) is a job: a row
 * with a kind, a JSON payload, a state, a progress (0..1 and a message), a
 * log, a result, attempts and a lease. The queue lives in the database, so
 * the same code serves one process on SQLite and many `cvops worker`
 * processes on PostgreSQL:
 *
 *   queued --claim--> running --> succeeded | failed | canceled
 *     ^                  |
 *     +---- retry -------+  (a retryable failure, after a backoff)
 *     +---- lease expiry-+  (the worker died: another one takes it)
 *     +---- release -----+  (the worker is shutting down)
 *
 * Claiming is one UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)
 * on PostgreSQL and the same statement under SQLite's single writer, so a
 * job is only ever running in one place. A running job holds a lease that
 * a heartbeat thread renews; every later write of the job is guarded by the
 * worker's claim token, so a worker that lost its lease (paused, cut off)
 * cannot overwrite what its successor did.
 *
 * Requirements. A job may require worker labels ("gpu", "docker",
 * "mem=16G"): it waits in the queue until a worker whose labels satisfy
 * every requirement claims it. Workers declare labels when they start
 * (`cvops worker --labels gpu,mem=16G`); each also gets `cpus` and `mem`
 * from the machine unless given. The claim query itself checks the
 * requirements (a NOT EXISTS over job_require), so the oldest job a worker
 * can run is the one it takes, on both drivers.
 *
 * A handler (job_fn) runs in a worker thread. It reads its payload, reports
 * progress and log lines, checks job_should_stop() between steps, and
 * returns 0 (succeeded) or -1 with an error: ERR_UNAVAILABLE / ERR_IO mean
 * "try again later" (retried with exponential backoff while attempts
 * remain), anything else fails the job at once.
 */
#ifndef CVOPS_JOBS_JOBS_H
#define CVOPS_JOBS_JOBS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/db.h"

typedef struct job_ctx job_ctx;
typedef struct jobs_runner jobs_runner;

typedef int (*job_fn)(job_ctx *j, err *e);

typedef struct job_kind {
    const char *name;     /* "dataset.import" */
    job_fn run;
    const char *summary;
    bool user_creatable;  /* may be submitted through POST /api/v1/jobs */
    int max_attempts;     /* 0: 3 */
} job_kind;

/* --- the queue (any process) ----------------------------------------------- */

#define JOB_LOG_LINE_MAX 4000
#define JOB_LOG_MAX_LINES 100000

int jobs_submit(db_conn *c, int64_t org_id, const char *kind, const char *payload_json,
                int64_t created_by, int max_attempts, int64_t *job_id, err *e);
/* Queued: canceled at once. Running: asked to stop (the handler sees
 * job_should_stop()). Finished: 409. */
int jobs_cancel(db_conn *c, int64_t org_id, int64_t job_id, err *e);
/* A failed or canceled job runs again with a fresh attempt budget. */
int jobs_retry(db_conn *c, int64_t org_id, int64_t job_id, err *e);
int jobs_write(db_conn *c, int64_t org_id, int64_t job_id, jw *w, err *e);
/* state/kind: NULL for any. Keyset pagination on id, newest first. */
int jobs_list(db_conn *c, int64_t org_id, const char *state, const char *kind, int64_t limit,
              int64_t before_id, jw *w, int64_t *next_cursor, err *e);
/* Log lines with seq > after, at most limit; *finished tells whether the job
 * is done (no more lines will come). */
int jobs_log_read(db_conn *c, int64_t org_id, int64_t job_id, int64_t after, int64_t limit,
                  jw *w, bool *finished, int64_t *last_seq, err *e);
/* Prometheus lines: cvops_jobs{state="..."} N. */
int jobs_metrics(db_conn *c, sbuf *out, err *e);
bool jobs_state_valid(const char *state);

/* --- worker labels and job requirements ------------------------------------- */

#define JOBS_LABELS_MAX 32
#define JOBS_LABEL_NAME_MAX 32
#define JOBS_LABEL_VALUE_MAX 64
#define JOBS_REQUIRES_MAX 512 /* bytes of a requirement list */

/* "gpu", "mem=16G", "os=linux". A value that reads as a number (with an
 * optional K, M, G or T suffix: powers of 1024) is numeric. */
typedef struct jobs_label {
    char name[JOBS_LABEL_NAME_MAX + 1]; /* [a-z0-9_.-], starting with a letter */
    bool has_num;
    double num;
    char text[JOBS_LABEL_VALUE_MAX + 1]; /* a value that is not a number, or "" */
} jobs_label;

/* Parses a comma-separated list ("" and NULL give none). Names repeat at
 * most once. */
int jobs_labels_parse(const char *text, jobs_label *out, int max, int *n, err *e);
/* A requirement is met by the label of the same name: any value when the
 * requirement has none, a value at least as large when it is a number, the
 * same word otherwise. */
bool jobs_labels_satisfy(const jobs_label *have, int nhave, const jobs_label *req, int nreq);
/* Makes a job wait for a worker whose labels satisfy `requires` (the same
 * syntax; NULL or "" for none). Call in the transaction that submits it. */
int jobs_set_requires(db_conn *c, int64_t job_id, const char *requires, err *e);

/* --- the workers ------------------------------------------------------------ */

typedef struct jobs_config {
    int threads;       /* worker threads; 0 = none (API only) */
    int lease_ms;      /* default 30000 */
    int poll_ms;       /* idle polling interval; default 500 */
    const char *name;  /* worker name for the job's `worker` column; default host:pid */
    const char *labels; /* what this worker offers: "gpu,docker,mem=16G" (NULL: none);
                           cpus and mem are added from the machine unless given */
    /* Called after a job reaches succeeded, failed or canceled (optional). */
    void (*on_end)(void *app, int64_t org, int64_t job, const char *kind, const char *state);
} jobs_config;

/* kinds: array ending with a NULL name; app is handed to handlers. */
jobs_runner *jobs_runner_start(db *d, void *app, const job_kind *kinds, const jobs_config *cfg,
                               err *e);
/* Wakes idle workers (a job was just submitted in this process). */
void jobs_runner_poke(jobs_runner *r);
/* Asks running handlers to stop, waits up to grace_ms, puts unfinished jobs
 * back in the queue (not counting the attempt), stops the threads. */
void jobs_runner_stop(jobs_runner *r, int grace_ms);
int jobs_runner_busy(jobs_runner *r); /* jobs running now */
/* The runner's labels as "name=value,..." (for logs and handlers). */
const char *jobs_runner_labels(const jobs_runner *r);

/* --- inside a handler ----------------------------------------------------- */

int64_t job_id(const job_ctx *j);
int64_t job_org(const job_ctx *j);
int64_t job_creator(const job_ctx *j);
const char *job_kind_name(const job_ctx *j);
int job_attempt(const job_ctx *j);        /* 1 for the first run */
json_t *job_payload(const job_ctx *j);    /* borrowed; an object */
void *job_app(const job_ctx *j);
db *job_db(const job_ctx *j);
/* Progress in [0,1] and a short message; written at most every 250 ms. */
void job_progress(job_ctx *j, double fraction, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void job_log(job_ctx *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Several lines at once, in one transaction (same limits as job_log). */
void job_log_lines(job_ctx *j, const char *const *lines, int n);
/* True once the job was canceled, its lease was lost, or the worker is
 * shutting down: the handler should return (its return value is ignored). */
bool job_should_stop(job_ctx *j);
/* The job's result document (stolen reference); kept when the job fails
 * too, e.g. the report of an import's problems. */
void job_set_result(job_ctx *j, json_t *result);

/* Schema (migration text) for the tables this module owns. */
extern const char jobs_schema_v1[];
extern const char jobs_schema_v61[]; /* requirements (job.requires, job_require) */

#endif
