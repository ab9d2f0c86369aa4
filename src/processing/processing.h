/*
 * processing.h - processings: named, versioned jobs that run over data.
 *
 * A processing is a definition: what it runs on (its target: a datalake, a
 * dataset version, a model version or an experiment), its parameters with
 * types, defaults and bounds, its default resources (threads, memory,
 * wall-clock timeout, output size) and worker requirements, and either a
 * built-in implementation or a command. The definition is a JSON manifest
 * (docs/processings.md); built-ins are listed by code, custom ones are rows
 * (org, name, version) made from a manifest uploaded by the organization.
 *
 * Launching one checks the target and the parameters and queues a job
 * (kind processing.<builtin> or processing.custom) with a run row that
 * records what was launched. The job's outputs (new data, a new dataset
 * version, tags, annotations, a new model version) are written in one
 * transaction when it succeeds and listed in its result; a failed run
 * writes nothing.
 *
 *   built-ins   run in the worker's process (builtin_*.c) and write their
 *               outputs through the datalake and dataset modules inside one
 *               outer transaction (db savepoints make the modules' own
 *               transactions nest).
 *   custom      a command run by the worker in a fresh directory, in its own
 *               process group, under limits (custom.c, exec.c). It reports
 *               progress and log lines on stdout (the line protocol,
 *               protocol.c) or through the API with a token limited to its
 *               job; it stages outputs (files uploaded through the run, then
 *               output documents) which are committed only if it succeeds.
 *
 * Model-based built-ins (pre-annotation, auto-tagging) plug into the same
 * catalog (catalog.c: an entry with a manifest and a run function) once the
 * inference engine is available.
 */
#ifndef CVOPS_PROCESSING_PROCESSING_H
#define CVOPS_PROCESSING_PROCESSING_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "jobs/jobs.h"
#include "store/blob.h"
#include "store/db.h"

#define PROC_NAME_MAX 64
#define PROC_DESC_MAX 4000
#define PROC_PARAMS_MAX 64
#define PROC_MANIFEST_MAX (256 * 1024) /* bytes of a manifest */
#define PROC_FILES_MAX 64              /* bundled files of a custom processing */
#define PROC_ENV_MAX 32
#define PROC_OUTPUT_DOC_MAX (8 * 1024 * 1024) /* bytes of one output document */
#define PROC_LOG_LINES_MAX 1000               /* lines per log request */

/* Bounds of resources (manifest defaults and launch overrides). */
#define PROC_THREADS_MAX 64
#define PROC_TIMEOUT_MAX (7 * 24 * 3600)
#define PROC_MEMORY_MB_MAX (1024 * 1024)
#define PROC_OUTPUT_MB_MAX (1024 * 1024)

/* What the jobs need from the application. */
typedef struct proc_env {
    db *db;
    blob_store *blobs;
    const char *spool_dir;  /* temporary files and working directories */
    uint64_t max_pixels;    /* images written by a processing */
    const char *api_url;    /* how a command reaches the API ("" if unknown) */
} proc_env;

/* --- the catalog ----------------------------------------------------------------- */

/* Writes {"items": [...]}: the built-ins and the latest version of each
 * custom processing, optionally only those for one target. */
int proc_catalog_list(db_conn *c, int64_t org, const char *target, jw *w, err *e);
/* One processing (version 0: the latest) with the list of its versions. */
int proc_catalog_get(db_conn *c, int64_t org, const char *name, int64_t version, jw *w, err *e);
/* Checks a manifest and stores it as the next version of its name. */
int proc_define(db_conn *c, int64_t org, int64_t user, json_t *manifest, int64_t *version,
                err *e);
/* Archives every version of a custom processing (runs stay readable). */
int proc_archive(db_conn *c, int64_t org, const char *name, err *e);

/* --- runs ------------------------------------------------------------------------ */

/* req: {"on": "dataset-version:12" | {"kind", "id"}, "params": {...},
 * "version": N, "resources": {...}, "requires": "gpu", "query": "..."}.
 * Queues the job; *job gets its id. */
int proc_launch(db_conn *c, int64_t org, int64_t user, const char *name, json_t *req,
                int64_t *job, err *e);
/* ?processing=&state= keyset pages by job id, newest first. */
int proc_runs_list(db_conn *c, int64_t org, const char *name, int64_t limit, int64_t before,
                   jw *w, int64_t *next, err *e);
int proc_run_write(db_conn *c, int64_t org, int64_t job, jw *w, err *e);

/* --- what a running command reports (API side) ------------------------------------ */

/* Progress and log lines are relayed to the job by the worker running it. */
int proc_report_progress(db_conn *c, int64_t org, int64_t job, double fraction,
                         const char *message, err *e);
int proc_report_log(db_conn *c, int64_t org, int64_t job, json_t *lines, err *e);

/* Output accounting: the bytes left for the run's outputs (ERR_CONFLICT if
 * it is not running, ERR_NOT_FOUND if not a custom run of org). */
int proc_output_budget(db_conn *c, int64_t org, int64_t job, int64_t *left, err *e);
/* Records a file uploaded for the run (counted against its output limit;
 * ERR_TOO_LARGE past it). item: the datalake item JSON when the file is an
 * image the datalake accepts (NULL otherwise), note why not. */
int proc_file_add(db_conn *c, int64_t org, int64_t job, const char *sha, int64_t size,
                  const char *filename, const char *item_json, const char *note, err *e);
/* Marks the run as having tried to go past its output limit. */
void proc_output_refused(db_conn *c, int64_t job);
/* Checks and stages an output document; writes the staged output. */
int proc_output_add(db_conn *c, int64_t org, int64_t job, json_t *doc, jw *w, err *e);
int proc_outputs_list(db_conn *c, int64_t org, int64_t job, jw *w, err *e);

/* Spools an upload: on commit, an image the datalake accepts is prepared
 * (probe, thumbnail, hashes) on the way; item_json gets it (malloc'd) or
 * NULL with the reason in note. */
int proc_upload_commit(blob_store *bs, blob_writer *w, uint64_t max_pixels, blob_ref *ref,
                       char **item_json, char *note, size_t note_n, err *e);

/* --- pre-annotation (preann.c) ---------------------------------------------------- */

/* The request of POST .../pre-annotate, checked (no database): exactly one
 * model, thresholds in range, no unknown field. Strings borrow from req;
 * score / nms are -1 and max_det 0 when not given. */
typedef struct proc_preann_req {
    int64_t experiment, model_version, max_det;
    const char *file, *query;
    double score, nms;
    bool replace_pending;
} proc_preann_req;
int proc_preann_request(json_t *req, proc_preann_req *r, err *e);

/* POST /api/v1/dataset-versions/{id}/pre-annotate: checks the request
 * ({"experiment_id" | "model_version_id", "file", "query", "score_threshold",
 * "nms_threshold", "max_detections", "replace_pending"}), the version
 * (ERR_NOT_FOUND, ERR_CONFLICT when locked) and the model (ERR_NOT_FOUND),
 * then launches the built-in processing "pre-annotate" on it. */
int proc_preannotate_launch(db_conn *c, int64_t org, int64_t user, int64_t version, json_t *req,
                            int64_t *job, err *e);
/* The checkpoint a pre-annotation uses: sha256 of the blob and a
 * description of where it comes from. */
int proc_preann_checkpoint(db_conn *c, int64_t org, int64_t experiment, int64_t model_version,
                           const char *file, char sha[65], char *desc, size_t dn, err *e);

/* --- the jobs ------------------------------------------------------------------------ */

/* processing.custom, and one kind per built-in: processing.<name>. */
int proc_custom_run(job_ctx *j, const proc_env *env, err *e);
int proc_builtin_run(job_ctx *j, const proc_env *env, err *e);
/* The names of the built-in job kinds, NULL-terminated ("processing.augment", ...). */
extern const char *const proc_builtin_kinds[];

extern const char proc_schema_v60[];

#endif
