/*
 * cvops/client.h - the C client library of the cvops REST API.
 *
 * Modelled on libcurl's easy interface: an opaque handle made with
 * cvops_client_new() and released with cvops_client_free(); every call
 * returns a cvops_code, and cvops_client_errmsg() gives the message the
 * server (or the network) gave for the last failure, ready to show a user.
 *
 * A handle keeps its connection open between calls (HTTP keep-alive). A
 * handle must not be used by two threads at once; make one per thread.
 *
 * JSON goes in and out as text: link your JSON library of choice. Strings
 * returned through `char **` are malloc'd; release them with cvops_free().
 */
#ifndef CVOPS_CLIENT_H
#define CVOPS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cvops_client cvops_client;

typedef enum {
    CVOPS_OK = 0,
    CVOPS_E_INVALID,    /* 400/422: the request was wrong (see the message) */
    CVOPS_E_AUTH,       /* 401: no or bad token */
    CVOPS_E_FORBIDDEN,  /* 403: the role does not allow it */
    CVOPS_E_NOT_FOUND,  /* 404 */
    CVOPS_E_CONFLICT,   /* 409 */
    CVOPS_E_TOO_LARGE,  /* 413 */
    CVOPS_E_SERVER,     /* 5xx or an unexpected answer */
    CVOPS_E_CONNECT,    /* the server could not be reached */
    CVOPS_E_IO,         /* a local file could not be read or written */
    CVOPS_E_NOMEM,
    CVOPS_E_TIMEOUT,    /* a wait ran out of time */
} cvops_code;

/* server_url: "http://127.0.0.1:8080"; token may be NULL (then only public
 * endpoints and login work). Returns NULL only when out of memory. */
cvops_client *cvops_client_new(const char *server_url, const char *token);
void cvops_client_free(cvops_client *c);
/* Replaces the token (after a login). */
cvops_code cvops_client_set_token(cvops_client *c, const char *token);

const char *cvops_client_errmsg(const cvops_client *c);
long cvops_client_status(const cvops_client *c); /* HTTP status of the last call */
const char *cvops_strerror(cvops_code code);
void cvops_free(void *p);

/* Any API call: method, a path under the server ("/api/v1/jobs?limit=5"),
 * an optional JSON body; the JSON answer in *json_out (may be NULL if not
 * wanted). */
cvops_code cvops_call(cvops_client *c, const char *method, const char *path, const char *json_body,
                      char **json_out);
/* Streams a local file as the body of a PUT/POST (Content-Type given). */
cvops_code cvops_upload_file(cvops_client *c, const char *method, const char *path,
                             const char *file, const char *content_type, char **json_out);
/* Writes a GET response body to out. */
cvops_code cvops_download(cvops_client *c, const char *path, FILE *out);

/* Logs in with a password and creates an API token named token_name for
 * this client; the token is set on the handle and returned in *token_out. */
cvops_code cvops_login(cvops_client *c, const char *username, const char *password,
                       int64_t org_id, const char *token_name, char **token_out);

/* Waits for a job to finish (succeeded, failed or canceled), calling
 * progress (if not NULL) whenever it changes. timeout_s <= 0 waits forever.
 * *job_json_out gets the final job. Returns CVOPS_OK when the job ended,
 * whatever its state. */
typedef void (*cvops_progress_fn)(void *ctx, double fraction, const char *message);
cvops_code cvops_job_wait(cvops_client *c, int64_t job_id, double timeout_s,
                          cvops_progress_fn progress, void *ctx, char **job_json_out);

/* --- experiment tracking ------------------------------------------------------ */

/* Projects. cvops_project_ensure finds the project by name or creates it. */
cvops_code cvops_project_create(cvops_client *c, const char *name, const char *description,
                                int64_t *id_out);
cvops_code cvops_project_find(cvops_client *c, const char *name, int64_t *id_out);
cvops_code cvops_project_ensure(cvops_client *c, const char *name, int64_t *id_out);

/* Creates an experiment; body_json holds its fields (name, description,
 * tags, params, status, command, host, datasets), NULL for none. */
cvops_code cvops_experiment_create(cvops_client *c, int64_t project_id, const char *body_json,
                                   int64_t *id_out);
/* created, queued, running, succeeded, failed or canceled. */
cvops_code cvops_experiment_set_status(cvops_client *c, int64_t id, const char *status);
/* params_json: an object {"lr": 0.01, ...}, merged into the experiment's. */
cvops_code cvops_experiment_log_params(cvops_client *c, int64_t id, const char *params_json);
/* Any log: kind is value, bar, table, heatmap, confusion_matrix, image or
 * label_map; data_json its data (see docs/tracking.md); step < 0: none. */
cvops_code cvops_experiment_log(cvops_client *c, int64_t id, const char *name, const char *kind,
                                int64_t step, const char *data_json);
cvops_code cvops_experiment_log_value(cvops_client *c, int64_t id, const char *name,
                                      double value);
/* A confusion matrix: n labels, an n x n matrix in row-major order
 * (rows: actual, columns: predicted). */
cvops_code cvops_experiment_log_confusion_matrix(cvops_client *c, int64_t id, const char *name,
                                                 int64_t step, const char *const *labels,
                                                 size_t n, const double *matrix);
/* A table: ncols column names, nrows rows of ncols cells given as text. */
cvops_code cvops_experiment_log_table(cvops_client *c, int64_t id, const char *name,
                                      const char *const *columns, size_t ncols,
                                      const char *const *cells, size_t nrows);
/* Uploads an image file (PNG, JPEG, GIF, WebP, BMP) and logs it. */
cvops_code cvops_experiment_log_image(cvops_client *c, int64_t id, const char *name, int64_t step,
                                      const char *file, const char *caption);
/* Appends lines to the run's text output. */
cvops_code cvops_experiment_output(cvops_client *c, int64_t id, const char *const *lines,
                                   size_t n);
/* Streams a file as an artifact at path (NULL: the file's name). */
cvops_code cvops_experiment_upload_artifact(cvops_client *c, int64_t id, const char *file,
                                            const char *path, char **json_out);
cvops_code cvops_experiment_download_artifact(cvops_client *c, int64_t id, const char *path,
                                              FILE *out);
/* Parameter differences and metrics aligned by step; metrics_csv NULL for
 * all; points: buckets when the union of steps is larger (0: 1000). */
cvops_code cvops_experiment_compare(cvops_client *c, const int64_t *ids, size_t n,
                                    const char *metrics_csv, int points, char **json_out);

/* Buffered metric logging. cvops_metric() appends to memory (no I/O) and
 * sends a batch whenever CVOPS_METRICS_BATCH points are waiting, in the
 * calling thread; cvops_metrics_flush() sends what is left, and
 * cvops_metrics_free() flushes before freeing. A failed send keeps the
 * points for the next flush (up to CVOPS_METRICS_MAX_PENDING). Uses the
 * client handle given at creation: the same threading rule applies. */
#define CVOPS_METRICS_BATCH 10000
#define CVOPS_METRICS_MAX_PENDING 1000000
typedef struct cvops_metrics cvops_metrics;
cvops_metrics *cvops_metrics_new(cvops_client *c, int64_t experiment_id);
/* value must be finite (CVOPS_E_INVALID otherwise); step >= 0. */
cvops_code cvops_metric(cvops_metrics *m, const char *name, double value, int64_t step);
cvops_code cvops_metrics_flush(cvops_metrics *m);
cvops_code cvops_metrics_free(cvops_metrics *m);

/* --- inside a processing ---------------------------------------------------------- */

/* What the worker gives a custom processing's command in its environment
 * (docs/processings.md). The strings point into the environment. */
typedef struct cvops_job_env {
    int64_t job_id;          /* CVOPS_JOB_ID: the job, and the run's id */
    const char *url;         /* CVOPS_URL ("" when the worker has no --api-url) */
    const char *token;       /* CVOPS_TOKEN: limited to this job and its input */
    const char *input_json;  /* CVOPS_INPUT: {"kind", "id", ...} */
    const char *params_json; /* CVOPS_PARAMS */
    const char *workdir;     /* CVOPS_WORKDIR */
} cvops_job_env;

/* Reads the environment; CVOPS_E_INVALID when not run as a processing. */
cvops_code cvops_job_env_read(cvops_job_env *env);
/* A client for the job's API and token (NULL when out of memory). */
cvops_client *cvops_job_client(const cvops_job_env *env);
/* Progress in [0, 1] with a short message; shown on the job. */
cvops_code cvops_job_progress(cvops_client *c, int64_t job_id, double fraction,
                              const char *message);
/* Lines for the job's log. */
cvops_code cvops_job_log(cvops_client *c, int64_t job_id, const char *const *lines, size_t n);
/* Uploads a file for the run's outputs; sha_out gets its SHA-256. Counted
 * against the run's output limit (CVOPS_E_TOO_LARGE past it). */
cvops_code cvops_job_upload(cvops_client *c, int64_t job_id, const char *file, char sha_out[65]);
/* Stages an output document (data, tags, annotations, dataset-version,
 * model-version); written when the run succeeds, dropped otherwise. */
cvops_code cvops_job_output(cvops_client *c, int64_t job_id, const char *doc_json,
                            char **json_out);

#ifdef __cplusplus
}
#endif
#endif
