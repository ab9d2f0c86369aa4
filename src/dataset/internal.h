/*
 * internal.h - what the files of src/dataset/ share: small hash maps, the
 * in-memory shape and its compact storage, the multi-row inserter, and
 * helpers for versions and JSON output. Not for use outside src/dataset/.
 */
#ifndef CVOPS_DATASET_INTERNAL_H
#define CVOPS_DATASET_INTERNAL_H

#include <math.h>
#include <stdio.h>

#include "base/arena.h"
#include "base/util.h"
#include "dataset/dataset.h"

/* --- maps ------------------------------------------------------------------------- */

/* int64 key -> int64 value, open addressing (key 0 kept aside). */
typedef struct ds_imap {
    int64_t *keys, *vals;
    size_t cap, n;
    bool has_zero;
    int64_t zero_val;
} ds_imap;
int ds_imap_put(ds_imap *m, int64_t key, int64_t val); /* -1: out of memory */
bool ds_imap_get(const ds_imap *m, int64_t key, int64_t *val);
void ds_imap_free(ds_imap *m);

/* string key -> int64 value; keys are copied into the map's arena. */
typedef struct ds_smap {
    const char **keys;
    int64_t *vals;
    size_t cap, n;
    arena *mem;
} ds_smap;
int ds_smap_put(ds_smap *m, const char *key, int64_t val);
bool ds_smap_get(const ds_smap *m, const char *key, int64_t *val);
void ds_smap_free(ds_smap *m);

/* --- versions ------------------------------------------------------------------------- */

typedef struct ds_version {
    int64_t id, dataset, lake;
    bool locked;
    char name[DATASET_NAME_MAX + 1], dataset_name[DATASET_NAME_MAX + 1];
    char task[16];
} ds_version;

/* Loads a version of org (ERR_NOT_FOUND otherwise). */
int ds_version_get(db_conn *c, int64_t org, int64_t id, ds_version *v, err *e);
/* The version of an asset of org. */
int ds_asset_version(db_conn *c, int64_t org, int64_t asset, int64_t *version, err *e);
bool ds_is_pg(db_conn *c);
bool ds_task_valid(const char *t);

/* --- labels ---------------------------------------------------------------------------- */

typedef struct ds_label {
    int64_t id;
    const char *name;
    int nkeypoints;
} ds_label;

/* The labels of a version, by name and by id (arena-owned names). */
typedef struct ds_labels {
    ds_label *items;
    size_t n;
    ds_smap by_name; /* -> index */
    ds_imap by_id;   /* -> index + 1 */
    arena *mem;
} ds_labels;
int ds_labels_load(db_conn *c, int64_t version, ds_labels *l, err *e);
void ds_labels_free(ds_labels *l);
/* "cat, dog, person" (at most 10 names) for messages. */
void ds_labels_names(const ds_labels *l, char *out, size_t n);

/* --- shapes ------------------------------------------------------------------------------ */

typedef enum ds_kind {
    DS_CLASS = 1,
    DS_BOX,
    DS_POLYGON,
    DS_POLYLINE,
    DS_POINT,
    DS_KEYPOINTS,
    DS_MASK,
} ds_kind; /* the same numbers as fmt_shape_kind */

const char *ds_kind_name(int kind);
int ds_kind_parse(const char *s);

/* One shape, in memory. Pointers are borrowed. */
typedef struct ds_shape {
    int kind;
    int64_t label_id;
    double x, y, w, h;      /* BOX: the box; others: the enclosing box (0s if none) */
    const double *pts;      /* POLYGON/POLYLINE/POINT: x,y pairs; KEYPOINTS: x,y,v triplets */
    int npts;               /* number of doubles in pts */
    const int32_t *rings;   /* POLYGON: points per ring, NULL for one ring */
    int nrings;
    const uint32_t *rle;    /* MASK: uncompressed counts, or */
    int nrle;
    const char *rle_str;    /* the compressed COCO string */
    int mh, mw;             /* MASK: its size */
    double score, area;     /* NaN when absent */
    bool iscrowd;
    const char *text;       /* NULL when absent */
    const char *attrs;      /* JSON object text or NULL */
} ds_shape;

void ds_shape_init(ds_shape *s);
/* Computes the enclosing box of point-based shapes into x, y, w, h. */
void ds_shape_bbox(ds_shape *s);
/* Checks a shape against its image and label; the message starts with
 * `where` ("shapes[3]", "annotation 17"). nkeypoints: the label's. */
int ds_shape_check(const ds_shape *s, const char *where, int img_w, int img_h,
                   const char *label_name, int nkeypoints, err *e);
/* Parses one shape of a request document; label names resolve through l.
 * Memory for the geometry comes from a. */
int ds_shape_from_json(json_t *j, const ds_labels *l, arena *a, const char *where, ds_shape *s,
                       err *e);
/* Writes a stored shape row (columns as DS_SHAPE_COLS, from col) as JSON. */
void ds_shape_write_row(jw *w, db_stmt *st, int col);

/* Stored columns, in this order, for reading shapes back. */
#define DS_SHAPE_COLS(p)                                                                          \
    p "id, " p "kind, l.name, " p "label_id, " p "x, " p "y, " p "w, " p "h, " p "geom, " p        \
      "aux, " p "score, " p "text, " p "attrs, " p "iscrowd, " p "area"
#define DS_SHAPE_NCOLS 15

/* Geometry blobs of a shape (see shape.c for the encoding). aux is
 * written into buf; returns its length (0: NULL). */
size_t ds_shape_aux(const ds_shape *s, sbuf *buf);

/* --- multi-row inserts ---------------------------------------------------------------------- */

/* Collects rows and inserts them ROWS at a time with one multi-row INSERT
 * (prepared once per size); values are copied at add time. */
typedef struct ds_bulk {
    db_conn *c;
    const char *head;  /* "INSERT INTO shape (a, b, c) VALUES " */
    const char *tail;  /* "" or " ON CONFLICT ..." */
    int ncols, rows_max;
    db_val *vals;      /* rows_max * ncols */
    int nvals;
    arena *mem;        /* copies of text and blob values of the pending rows */
    sbuf sql;          /* the INSERT text for sql_rows rows */
    int sql_rows;
    int64_t rows;      /* inserted so far */
} ds_bulk;
int ds_bulk_init(ds_bulk *b, db_conn *c, const char *head, const char *tail, int ncols,
                 int rows_max, err *e);
/* Adds one value of the current row (in column order); a row is complete
 * after ncols values, and full batches are written at once. */
int ds_bulk_val(ds_bulk *b, db_val v, err *e);
int ds_bulk_flush(ds_bulk *b, err *e);
void ds_bulk_free(ds_bulk *b);

/* Shape rows: (asset_id, version_id, label_id, kind, x, y, w, h, geom, aux,
 * score, text, attrs, iscrowd, area). */
int ds_shapes_bulk_init(ds_bulk *b, db_conn *c, err *e);
/* The same for a writer that rolls its whole transaction back when
 * anything fails: a failed flush may leave some of its rows written. */
int ds_shapes_bulk_init_whole_tx(ds_bulk *b, db_conn *c, err *e);
int ds_shapes_bulk_add(ds_bulk *b, int64_t asset, int64_t version, const ds_shape *s, err *e);

/* Moves the asset's current annotation (row + shapes) into the revision
 * tables; with drop_shapes the current shapes are deleted. */
int ds_annotation_archive(db_conn *c, int64_t asset, bool drop_shapes, err *e);
/* Next revision number for an asset (1 + the highest current or archived). */
int ds_annotation_next_rev(db_conn *c, int64_t asset, int64_t *rev, err *e);
bool ds_status_valid(const char *s);

/* --- asset selections ------------------------------------------------------------------------ */

/* SQL for "assets chosen by ids or by an asset query": a fragment over
 * the tables of DS_ASSET_FROM (asset a, data, annotation an; the datalake's
 * query fields name the table `data`), with parameters from `first`.
 * ids NULL and q NULL is refused: a selection is never implicit. */
#define DS_ASSET_FROM                                                                              \
    " FROM asset a JOIN data ON data.id = a.data_id LEFT JOIN annotation an ON an.asset_id = a.id"
typedef struct ds_sel {
    char *ids_json;
    int ids_param;
    query_sql qs;
    bool has_q;
    int next;
} ds_sel;
int ds_sel_build(db_conn *c, json_t *ids, const char *q, int first, sbuf *where, ds_sel *s,
                 err *e);
void ds_sel_bind(db_stmt *st, ds_sel *s, int first);
void ds_sel_free(ds_sel *s);
int ds_query_sql(db_conn *c, const char *q, int first, query_sql *out, err *e);
db_val ds_qparam(const query_param *p);

/* --- output ---------------------------------------------------------------------------------- */
void ds_ts(jw *w, const char *k, db_stmt *s, int col);
void ds_opt_int(jw *w, const char *k, db_stmt *s, int col);
void ds_raw_json(jw *w, const char *k, db_stmt *s, int col, const char *dflt);

#endif
