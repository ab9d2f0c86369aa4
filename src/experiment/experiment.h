/*
 * experiment.h - experiment tracking: projects, experiments, their
 * parameters, metric series, logs, text output and artifacts.
 *
 * Model
 *   project      name, description, members (the team list; access itself
 *                follows the organization's roles)
 *   experiment   in a project: name, description, tags, status with its
 *                timestamps (created, queued, running, succeeded, failed,
 *                canceled), command and host, parameters, dataset versions
 *                under aliases, a base model version
 *   series       one metric of an experiment ("loss"): points (step, value,
 *                time), its latest point and extremes kept on the row
 *   log          any other named record: value, bar, table, heatmap,
 *                confusion matrix, image, label map, optionally per step
 *   output       the run's text output, numbered lines
 *   artifact     a file (path -> blob) of any size
 *
 * Metric storage. Points are stored in chunks: one row per up to
 * TS_CHUNK_MAX points of a series, encoded by tseries (11 bytes a point),
 * not one row per point. A 10,000-point batch is a handful of row writes,
 * and reading a 1,000,000-point series is ~1,000 rows, which is what keeps
 * both the logging floor and the 100 ms chart floor on SQLite and
 * PostgreSQL alike. New points that continue the series fill its last
 * ("tail") chunk, which is rewritten; full chunks are never touched again;
 * points that go back in steps start chunks of their own. A step logged
 * twice keeps its last value (last write wins, resolved when reading);
 * the series row remembers whether its chunks are already in strict step
 * order so the common case reads without sorting.
 *
 * Group commit. Batches go through a committer (one thread per process):
 * requests that arrive while a transaction is being written are written
 * together in the next one, each inside its own savepoint, so one failing
 * batch changes nothing and does not fail its neighbours.
 *
 * Foreign references to modules that do not exist yet are plain ids with
 * no foreign key: experiment.base_model_version_id (the registry) and
 * experiment_dataset.dataset_version_id (datasets). Those modules add the
 * constraints in their own migrations.
 *
 * Every function takes the caller's organization and treats another
 * organization's project or experiment as absent (ERR_NOT_FOUND).
 */
#ifndef CVOPS_EXPERIMENT_EXPERIMENT_H
#define CVOPS_EXPERIMENT_EXPERIMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/db.h"
#include "tseries/tseries.h"

/* --- limits ------------------------------------------------------------- */
#define EXP_NAME_MAX 200            /* project, experiment, log, alias names */
#define EXP_DESC_MAX 10000
#define EXP_TAG_MAX 64
#define EXP_TAGS_MAX 100            /* per experiment */
#define EXP_PARAMS_MAX 1000         /* per experiment */
#define EXP_PARAM_KEY_MAX 250
#define EXP_PARAM_VALUE_MAX 8192    /* serialized JSON */
#define EXP_METRIC_NAME_MAX 200
#define EXP_BATCH_MAX 10000         /* points per batch request */
#define EXP_BATCH_SERIES_MAX 1000   /* different metrics per batch */
#define EXP_BATCH_BODY_MAX (16 << 20)
#define EXP_LOG_DATA_MAX (1 << 20)  /* serialized data of one log */
#define EXP_OUTPUT_LINE_MAX 8192
#define EXP_OUTPUT_BATCH_MAX 10000  /* lines per append */
#define EXP_ARTIFACT_PATH_MAX 1024
#define EXP_VIEW_MAX 10000          /* points of a downsampled view */
#define EXP_RAW_PAGE_MAX 100000     /* points of one raw page */
#define EXP_COMPARE_MAX 50          /* experiments in one comparison */
#define EXP_LIST_COLUMNS_MAX 20     /* params= / metrics= columns of a listing */
#define EXP_KEYS_SCAN 1000          /* newest experiments a project's keys come from */
#define EXP_KEYS_MAX 1000           /* names of each kind in a project's keys */
#define EXP_LOG_NAMES_MAX 1000      /* log names in one page of their summary */

bool exp_status_valid(const char *s);
bool exp_status_final(const char *s); /* succeeded, failed, canceled */

/* --- projects ----------------------------------------------------------- */
int exp_project_create(db_conn *c, int64_t org, int64_t user, json_t *body, int64_t *id, err *e);
int exp_project_update(db_conn *c, int64_t org, int64_t id, json_t *body, err *e);
int exp_project_delete(db_conn *c, int64_t org, int64_t id, err *e);
int exp_project_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
/* Newest first; q: substring of the name. */
int exp_project_list(db_conn *c, int64_t org, const char *q, int64_t limit, int64_t cursor, jw *w,
                     int64_t *next, err *e);
/* The names the experiment table can show or filter by: {"params": [...],
 * "metrics": [...], "tags": [...], "experiments", "scanned", "truncated"},
 * from the project's EXP_KEYS_SCAN newest experiments (a bounded query
 * whatever the project's size), at most EXP_KEYS_MAX of each, sorted. */
int exp_project_keys(db_conn *c, int64_t org, int64_t project, jw *w, err *e);
/* The user must be a member of the organization. */
int exp_project_member_add(db_conn *c, int64_t org, int64_t project, int64_t user, err *e);
int exp_project_member_remove(db_conn *c, int64_t org, int64_t project, int64_t user, err *e);

/* --- experiments -------------------------------------------------------- */
/* body: name, description, tags, params, status, command, host, datasets
 * {alias: version id}, base_model_version_id. */
int exp_create(db_conn *c, int64_t org, int64_t user, int64_t project, json_t *body, int64_t *id,
               err *e);
/* body: name, description, tags (replace), status, command, host,
 * base_model_version_id. Moving to a status stamps its time; a finished
 * experiment cannot be started again. */
int exp_update(db_conn *c, int64_t org, int64_t id, json_t *body, err *e);
int exp_delete(db_conn *c, int64_t org, int64_t id, err *e);
/* 0 if the experiment exists in org; ERR_NOT_FOUND otherwise. */
int exp_check(db_conn *c, int64_t org, int64_t id, err *e);
/* The experiment with params, tags, datasets and its metrics' latest values. */
int exp_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
/* Merges parameters ({key: JSON value}); null removes a key. */
int exp_params_set(db_conn *c, int64_t org, int64_t id, json_t *params, err *e);
int exp_dataset_set(db_conn *c, int64_t org, int64_t id, const char *alias, int64_t version,
                    err *e);
int exp_dataset_remove(db_conn *c, int64_t org, int64_t id, const char *alias, err *e);
/* For the platform's trainer (src/training): the experiment's status
 * (at least 16 bytes), its parameters as one object (new reference) and
 * its dataset versions by alias ({alias: version id}, new reference). */
int exp_run_info(db_conn *c, int64_t org, int64_t id, char *status, size_t status_size,
                 json_t **params, json_t **datasets, err *e);
/* Moves an experiment to queued for a platform training run: from created,
 * or, resuming, from canceled or failed (its end time is cleared: the only
 * way a finished experiment runs again; a succeeded one stays finished).
 * ERR_CONFLICT naming the status otherwise. Opens no transaction of its
 * own, so it joins the caller's. */
int exp_queue_run(db_conn *c, int64_t org, int64_t id, err *e);

typedef struct exp_list_query {
    int64_t project;
    const char *status;   /* one status, or NULL */
    const char *tag;      /* experiments carrying this tag, or NULL */
    const char *q;        /* substring of the name, or NULL */
    const char *order_by; /* created (default), name, status, updated, started, finished,
                             param:KEY, metric:NAME; '-' in front for descending.
                             Default: -created */
    const char *params;   /* comma-separated parameter keys to return as columns */
    const char *metrics;  /* comma-separated metric names: their latest values */
    int64_t limit;
    const char *cursor;   /* next_cursor of the previous page */
} exp_list_query;

/* One page: {"items": [...], "next_cursor": "..." | null}. Keyset
 * pagination on (sort key, id), stable under inserts. */
int exp_list(db_conn *c, int64_t org, const exp_list_query *q, jw *w, err *e);

/* --- metric points ------------------------------------------------------ */
typedef struct exp_batch_series {
    char *name;
    size_t len;
    uint32_t count; /* points of this series in the batch */
} exp_batch_series;

typedef struct exp_batch_point {
    uint32_t series; /* index into exp_batch.series */
    ts_point p;
} exp_batch_point;

typedef struct exp_batch {
    exp_batch_series *series;
    size_t nseries;
    exp_batch_point *points; /* in the order they were sent */
    size_t npoints;
} exp_batch;

/* The streaming batch parser (points_parse.c): feed the body in pieces,
 * then finish. The batch belongs to the parser. Errors name the offending
 * element ("points[12].value must be a finite number, got \"x\""); more
 * than max_points points is ERR_TOO_LARGE. */
typedef struct exp_points_parser exp_points_parser;
exp_points_parser *exp_points_parser_new(int64_t now_ms, size_t max_points);
int exp_points_parser_feed(exp_points_parser *p, const char *data, size_t n, err *e);
int exp_points_parser_finish(exp_points_parser *p, const exp_batch **out, err *e);
void exp_points_parser_free(exp_points_parser *p);

/* Writes a batch into an open transaction (all of it or, on error,
 * whatever the caller rolls back), after checking that the experiment
 * belongs to org (ERR_NOT_FOUND otherwise). */
int exp_points_apply(db_conn *c, int64_t org, int64_t experiment, const exp_batch *b, err *e);

/* The group committer. exp_points_commit() blocks until the batch is
 * durable (or failed); with gc NULL it writes in its own transaction. */
typedef struct exp_committer exp_committer;
exp_committer *exp_committer_start(db *d, err *e);
/* Writes what is queued, then stops the thread. */
void exp_committer_stop(exp_committer *gc);
int exp_points_commit(exp_committer *gc, db *d, int64_t org, int64_t experiment,
                      const exp_batch *b, err *e);

/* --- reading series ------------------------------------------------------ */
typedef enum { EXP_DS_NONE, EXP_DS_MINMAX, EXP_DS_LTTB } exp_downsample;

typedef struct exp_series_query {
    const char *name;
    int64_t from, to;        /* step range, inclusive */
    size_t points;           /* > 0: a view of at most this many points */
    exp_downsample method;   /* with points: minmax (default) or lttb */
    size_t limit;            /* raw pages: points per page */
} exp_series_query;

/* {"name", "total" (points in the range), "steps": [...], "values": [...],
 *  "times": [...], "downsampled": bool, "method", "next_from": step | null
 *  (raw pages: where the next page starts)}. */
int exp_series_write(db_conn *c, int64_t org, int64_t experiment, const exp_series_query *q,
                     jw *w, err *e);
/* The experiment's series: name, count, first/last step, min/max, latest. */
int exp_series_list(db_conn *c, int64_t org, int64_t experiment, jw *w, err *e);
/* Parameter differences and metric series aligned by step (exactly, or
 * in `points` step buckets when the union of steps is larger). */
int exp_compare(db_conn *c, int64_t org, const int64_t *ids, size_t n, const char *const *metrics,
                size_t nmetrics, size_t points, jw *w, err *e);

/* Loads a whole series, ordered by step, one point per step. *out is
 * malloc'd. ERR_NOT_FOUND if the experiment has no such metric. */
int exp_series_load(db_conn *c, int64_t experiment, const char *name, int64_t from, int64_t to,
                    ts_point **out, size_t *n, err *e);

/* --- logs --------------------------------------------------------------- */
/* body: {"name", "kind", "step"?, "data"}; kinds and their data:
 *   value             {"value": number | string}
 *   bar               {"labels": [str], "values": [number]}
 *   table             {"columns": [str], "rows": [[scalar]]}
 *   heatmap           {"rows": [str], "columns": [str], "matrix": [[number]]}
 *   confusion_matrix  {"labels": [str], "matrix": [[number]]}  (rows: actual)
 *   image             {"sha256": file id, "caption"?: str}
 *   label_map         {"labels": {id: str}} or {"labels": [str]}
 * A name keeps one kind; the same (name, step) again replaces the record. */
int exp_log_put(db_conn *c, int64_t org, int64_t experiment, json_t *body, err *e);
/* With a name: in step order, the cursor is a step; else in logging
 * order, the cursor an id. INT64_MIN: from the start. */
int exp_log_list(db_conn *c, int64_t org, int64_t experiment, const char *name, const char *kind,
                 bool with_data, int64_t limit, int64_t cursor, jw *w, err *e);
/* One entry per log name, in name order: {name, kind, count, first_step,
 * last_step} (steps null when the name has no stepped record), keyset
 * pages on the name (cursor: the last name of the previous page). */
int exp_log_names(db_conn *c, int64_t org, int64_t experiment, int64_t limit, const char *cursor,
                  jw *w, err *e);

/* --- text output -------------------------------------------------------- */
/* Appends lines (array of strings); *last gets the number of the last one. */
int exp_output_append(db_conn *c, int64_t org, int64_t experiment, json_t *lines, int64_t *last,
                      err *e);
/* Lines numbered > after (at most limit); after < 0: the last -after
 * lines. *finished once the experiment has a final status. */
int exp_output_read(db_conn *c, int64_t org, int64_t experiment, int64_t after, int64_t limit,
                    jw *w, bool *finished, int64_t *last, err *e);

/* --- artifacts ----------------------------------------------------------- */
/* A relative path of '/'-separated names: no empty, '.' or '..' segment,
 * no leading '/', printable UTF-8, at most EXP_ARTIFACT_PATH_MAX bytes. */
int exp_artifact_path_check(const char *path, err *e);
int exp_artifact_put(db_conn *c, int64_t org, int64_t experiment, const char *path,
                     const char *sha, int64_t size, err *e);
int exp_artifact_get(db_conn *c, int64_t org, int64_t experiment, const char *path,
                     char sha[65], int64_t *size, err *e);
int exp_artifact_delete(db_conn *c, int64_t org, int64_t experiment, const char *path, err *e);
/* In path order after `cursor` (a path), under `prefix`. */
int exp_artifact_list(db_conn *c, int64_t org, int64_t experiment, const char *prefix,
                      int64_t limit, const char *cursor, jw *w, err *e);

extern const char exp_schema_v1[];

#endif
