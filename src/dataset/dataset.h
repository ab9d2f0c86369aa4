/*
 * dataset.h - datasets: versioned, annotated subsets of a datalake.
 *
 * The model
 *   dataset     a name unique in the organization, bound to one datalake
 *   version     of a dataset: name, description, task type, parent (when
 *               forked), locked flag. A locked version refuses every write
 *               with ERR_CONFLICT and a message naming the lock.
 *   asset       a reference from a version to a datalake item (no copy);
 *               version-scoped asset tags (splits are tags)
 *   label       per version: name, color, group (COCO supercategory), and
 *               for keypoint labels the vertex names and skeleton edges
 *   annotation  one current annotation per asset: status, author,
 *               duration, revision number and its shapes. Saving moves the
 *               previous revision (row and shapes) to the revision tables,
 *               so earlier revisions stay readable for audit. A save that
 *               names a stale base_revision is refused (ERR_CONFLICT).
 *   shape       class, box, polygon (rings), polyline, point, keypoints,
 *               mask (COCO RLE); geometry is stored compactly: the
 *               enclosing box as four columns, the points as a blob of
 *               doubles, ring sizes / RLE counts as a second blob. No JSON
 *               DOM is built per shape on the bulk paths.
 *
 * Deleting a dataset or a version deletes its assets and annotations,
 * never datalake data. The datalake refuses to delete an item a locked
 * version uses (datalake_delete_data).
 *
 * Writes run in one transaction each and change nothing when they fail.
 * Long operations (import, export) are jobs: dataset_job_kinds.
 *
 * Functions take the caller's organization and answer ERR_NOT_FOUND for
 * another organization's ids. JSON is written with the jw writer; request
 * documents are read from jansson values.
 */
#ifndef CVOPS_DATASET_DATASET_H
#define CVOPS_DATASET_DATASET_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "jobs/jobs.h"
#include "query/query.h"
#include "store/blob.h"
#include "store/db.h"

#define DATASET_NAME_MAX 128
#define DATASET_DESC_MAX 4000
#define DATASET_IDS_MAX 100000      /* ids per add/remove request */
#define DATASET_BULK_MAX 20000      /* annotations per bulk request */
#define DATASET_SHAPES_MAX 10000    /* shapes per annotation */
#define DATASET_POINTS_MAX 100000   /* coordinates per shape */
#define DATASET_LABELS_MAX 10000    /* labels per version */
#define DATASET_TAGS_MAX 64         /* tags per request */
#define DATASET_SPLITS_MAX 16

/* --- datasets ------------------------------------------------------------------- */

/* lake: the datalake's id (0: the one named "default", created if missing). */
int dataset_create(db_conn *c, int64_t org, const char *name, const char *description,
                   int64_t lake, int64_t user, int64_t *id, err *e);
int dataset_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
int dataset_list(db_conn *c, int64_t org, jw *w, err *e);
int dataset_update(db_conn *c, int64_t org, int64_t id, const char *name, const char *description,
                   err *e);
/* Refused (ERR_CONFLICT) while one of its versions is locked. */
int dataset_delete(db_conn *c, int64_t org, int64_t id, err *e);
int dataset_find(db_conn *c, int64_t org, const char *name, int64_t *id, err *e);

/* --- versions ------------------------------------------------------------------- */

/* task: classification, detection, segmentation, keypoints, multi (NULL: multi). */
int dataset_version_create(db_conn *c, int64_t org, int64_t dataset, const char *name,
                           const char *description, const char *task, int64_t user, int64_t *id,
                           err *e);
int dataset_version_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
int dataset_version_list(db_conn *c, int64_t org, int64_t dataset, jw *w, err *e);
int dataset_version_update(db_conn *c, int64_t org, int64_t id, const char *name,
                           const char *description, const char *task, err *e);
int dataset_version_delete(db_conn *c, int64_t org, int64_t id, err *e);
int dataset_version_find(db_conn *c, int64_t org, int64_t dataset, const char *name, int64_t *id,
                         err *e);

typedef struct dataset_fork_opts {
    const char *name, *description, *task; /* task NULL: the parent's */
    bool labels;      /* copy labels (implied by annotations) */
    bool annotations; /* copy current annotations and shapes */
    bool tags;        /* copy asset tags */
    const char *q;    /* only the assets matching this asset query (NULL: all) */
} dataset_fork_opts;
int dataset_version_fork(db_conn *c, int64_t org, int64_t id, const dataset_fork_opts *o,
                         int64_t user, int64_t *new_id, err *e);
int dataset_version_lock(db_conn *c, int64_t org, int64_t id, bool lock, int64_t user, err *e);

/* --- assets ------------------------------------------------------------------------- */

const query_schema *dataset_asset_schema(void);

/* Adds datalake items to a version: by ids (a JSON array) or by a datalake
 * query (q; "" for every item of the dataset's datalake). */
int dataset_assets_add(db_conn *c, int64_t org, int64_t version, json_t *data_ids, const char *q,
                       int64_t *added, int64_t *existing, err *e);
/* Removes assets (their annotations with them): by asset ids or an asset query. */
int dataset_assets_remove(db_conn *c, int64_t org, int64_t version, json_t *ids, const char *q,
                          int64_t *removed, err *e);

typedef struct dataset_asset_page {
    const char *q;
    const char *order_by; /* id (default), -id, filename, -filename, added, -added */
    const char *cursor;
    int64_t limit;
    bool with_shapes;     /* include each asset's current shapes */
} dataset_asset_page;
int dataset_assets_list(db_conn *c, int64_t org, int64_t version, const dataset_asset_page *p,
                        jw *w, err *e);
int dataset_assets_count(db_conn *c, int64_t org, int64_t version, const char *q, int64_t *n,
                         err *e);
int dataset_asset_write(db_conn *c, int64_t org, int64_t asset, jw *w, err *e);

/* What may come at byte `cursor` of a partial asset query: fields (the
 * version's own and data.*), operators, and values from the version (its
 * asset tags, labels, annotation authors) and its datalake (tags, metadata
 * keys). The answer has the datalake autocomplete's shape. */
int dataset_assets_autocomplete(db_conn *c, int64_t org, int64_t version, const char *q,
                                size_t cursor, jw *w, err *e);

/* The versions holding datalake item `data` (of org), with the asset's id
 * and annotation status: {"items": [...], "next_cursor": null}, at most
 * DATASET_USES_MAX rows, ordered by dataset name and version. */
#define DATASET_USES_MAX 1000
int dataset_versions_of_data(db_conn *c, int64_t org, int64_t data, jw *w, err *e);
int dataset_asset_tag(db_conn *c, int64_t org, int64_t version, json_t *ids, const char *q,
                      const char *const *add, int nadd, const char *const *remove, int nremove,
                      int64_t *changed, err *e);
int dataset_asset_tags(db_conn *c, int64_t org, int64_t version, jw *w, err *e);

/* --- labels ------------------------------------------------------------------------- */

/* def: {"name", "color", "group", "keypoints": [names], "skeleton": [[a, b], ...]}
 * (skeleton vertices are 1-based, as in COCO). */
int dataset_label_create(db_conn *c, int64_t org, int64_t version, json_t *def, int64_t *id,
                         err *e);
int dataset_label_update(db_conn *c, int64_t org, int64_t label, json_t *def, err *e);
/* Refused while shapes use the label. */
int dataset_label_delete(db_conn *c, int64_t org, int64_t label, err *e);
int dataset_label_write(db_conn *c, int64_t org, int64_t label, jw *w, err *e);
int dataset_labels_list(db_conn *c, int64_t org, int64_t version, jw *w, err *e);

/* --- annotations ---------------------------------------------------------------------- */

/* The asset's current annotation ({"revision": 0, "shapes": []} if none). */
int dataset_annotation_write(db_conn *c, int64_t org, int64_t asset, jw *w, err *e);
/* doc: {"shapes": [...], "status", "duration_ms", "base_revision"}. */
int dataset_annotation_save(db_conn *c, int64_t org, int64_t asset, json_t *doc, int64_t user,
                            err *e);
int dataset_annotation_delete(db_conn *c, int64_t org, int64_t asset, int64_t user, err *e);
int dataset_annotation_revisions(db_conn *c, int64_t org, int64_t asset, jw *w, err *e);
/* doc: {"annotations": [{"asset_id" | "data_id", "shapes", "status", "duration_ms",
 * "base_revision"}], "mode": "replace" | "merge"}. All or nothing. */
int dataset_annotations_bulk(db_conn *c, int64_t org, int64_t version, json_t *doc, int64_t user,
                             int64_t *saved, int64_t *shapes, err *e);

/* --- splits and statistics --------------------------------------------------------------- */

typedef struct dataset_split_opts {
    const char *names[DATASET_SPLITS_MAX];
    double ratios[DATASET_SPLITS_MAX];
    int n;
    uint64_t seed;
    const char *q; /* assets to split (NULL: all) */
} dataset_split_opts;
/* Stratified by label (multi-label aware, iterative stratification),
 * deterministic for a seed; stores the splits as asset tags (replacing
 * those tags on the chosen assets) and writes each split's label
 * distribution. */
int dataset_split(db_conn *c, int64_t org, int64_t version, const dataset_split_opts *o, jw *w,
                  err *e);
int dataset_stats(db_conn *c, int64_t org, int64_t version, jw *w, err *e);

/* --- import and export (jobs) --------------------------------------------------------------- */

/* Checks the request and queues a dataset.import / dataset.export job. */
int dataset_import_submit(db_conn *c, int64_t org, int64_t version, json_t *req, int64_t user,
                          int64_t *job, err *e);
int dataset_export_submit(db_conn *c, int64_t org, int64_t version, json_t *req, int64_t user,
                          int64_t *job, err *e);

/* What the jobs need from the application. */
typedef struct dataset_env {
    db *db;
    blob_store *blobs;
    const char *spool_dir; /* temporary files */
    uint64_t max_pixels;   /* images ingested from an import archive */
} dataset_env;
int dataset_import_run(job_ctx *j, const dataset_env *env, err *e);
int dataset_export_run(job_ctx *j, const dataset_env *env, err *e);

/* --- guard used by the datalake ------------------------------------------------------------- */

/* The write guard every write to a version goes through: ERR_NOT_FOUND for
 * another organization's version, ERR_CONFLICT naming the lock when locked.
 * Inside a transaction on PostgreSQL it also takes a share lock on the
 * version row, so a concurrent lock waits for the write to finish. */
int dataset_version_writable(db_conn *c, int64_t org, int64_t version, err *e);

extern const char dataset_schema_v20[];
/* Migration 24: label.source_id, the category id of the file a label was
 * imported from (COCO exports can keep it). */
extern const char dataset_schema_v24[];

#endif
