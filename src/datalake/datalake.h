/*
 * datalake.h - the datalake: where every image enters the platform once.
 *
 * An organization has datalakes; a datalake holds data items, one per
 * distinct image content (SHA-256): the original blob, a 256 px thumbnail
 * blob, what the probe read (format, displayed width and height, channels),
 * typed EXIF fields (orientation, camera, date taken, GPS, focal length)
 * plus the whole EXIF as JSON, custom metadata (a bounded JSON object),
 * perceptual hashes, source, uploader, time, and tags.
 *
 * Ingest is split in two so the slow part runs outside any transaction:
 *   datalake_prepare()  on the spooled upload: probe (refusals happen here,
 *                       before anything is stored), EXIF, one decode at
 *                       thumbnail size giving both the thumbnail and the
 *                       perceptual hashes; stores the blobs.
 *   datalake_insert()   one row + tags, or, when the datalake already has
 *                       the content, the existing item with the new tags
 *                       added (reported as a duplicate).
 * A refused file leaves nothing behind: its spooled bytes are dropped and no
 * row is written.
 *
 * Search uses the query language (src/query): datalake_schema() describes
 * the fields; listings are keyset-paginated in any of the sort orders.
 */
#ifndef CVOPS_DATALAKE_DATALAKE_H
#define CVOPS_DATALAKE_DATALAKE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "query/query.h"
#include "store/blob.h"
#include "store/db.h"

#define DATALAKE_META_MAX 16384   /* bytes of custom metadata JSON per item */
#define DATALAKE_TAGS_MAX 64      /* tags per upload or bulk request */
#define DATALAKE_TAG_LEN 128
#define DATALAKE_FILENAME_MAX 512
#define DATALAKE_SOURCE_MAX 256
#define DATALAKE_IDS_MAX 10000    /* ids per bulk request */

typedef struct datalake_limits {
    uint64_t max_pixels; /* 0: 100 megapixels */
} datalake_limits;

/* What datalake_prepare learned about one file. */
typedef struct datalake_item {
    char sha[65];
    int64_t size;
    char format[8];
    uint32_t width, height, channels;
    int orientation;
    char make[64], model[64];
    int64_t taken_at; /* ms; 0 if unknown */
    bool has_gps, has_altitude;
    double latitude, longitude, altitude, focal_length;
    char *exif_json; /* owned */
    uint64_t phash, dhash;
    char thumb_sha[65];
    bool duplicate_content; /* filled by insert */
} datalake_item;

void datalake_item_free(datalake_item *it);

/* --- datalakes -------------------------------------------------------------- */
int datalake_create(db_conn *c, int64_t org, const char *name, const char *description,
                    int64_t *id, err *e);
/* The id of a datalake of org (ERR_NOT_FOUND otherwise). */
int datalake_check(db_conn *c, int64_t org, int64_t id, err *e);
int datalake_find(db_conn *c, int64_t org, const char *name, int64_t *id, err *e);
int datalake_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
int datalake_list(db_conn *c, int64_t org, jw *w, err *e);
int datalake_update(db_conn *c, int64_t org, int64_t id, const char *name,
                    const char *description, err *e);
int datalake_delete(db_conn *c, int64_t org, int64_t id, err *e);

/* --- ingest -------------------------------------------------------------------- */

/* True if the datalake has this content; its id in *data_id. */
int datalake_has(db_conn *c, int64_t lake, const char *sha, int64_t *data_id, err *e);
/* Probes, reads EXIF, makes the thumbnail and hashes of the file spooled by
 * w (not yet committed), then commits w and stores the thumbnail. On a
 * refusal (not an image, truncated, too many pixels) w is aborted, nothing
 * is stored, and e says why. w is consumed either way. */
int datalake_prepare(blob_store *bs, blob_writer *w, const datalake_limits *lim,
                     datalake_item *it, err *e);
/* Inserts the item (or finds the existing one) and adds tags. tags may be
 * NULL. meta: a JSON object text or NULL. Runs in its own transaction. */
int datalake_insert(db_conn *c, int64_t org, int64_t lake, datalake_item *it, const char *filename,
                    const char *source, const char *meta, const char *const *tags, int ntags,
                    int64_t uploader, int64_t *data_id, bool *duplicate, err *e);

/* --- items ------------------------------------------------------------------ */
/* One item as JSON (ERR_NOT_FOUND if not in org). */
int datalake_data_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
/* Blob names of an item: original + thumbnail, for serving. */
int datalake_data_blobs(db_conn *c, int64_t org, int64_t id, char sha[65], char thumb[65],
                        char format[8], char *filename, size_t fn_size, int64_t *size, err *e);
int datalake_data_update(db_conn *c, int64_t org, int64_t id, json_t *patch, err *e);

/* --- search ----------------------------------------------------------------- */
const query_schema *datalake_schema(void);

typedef struct datalake_page {
    const char *q;        /* query text, may be NULL */
    const char *order_by; /* created|filename|size|width|height, '-' prefix for descending;
                             default -created */
    const char *cursor;   /* from a previous page */
    int64_t limit;
} datalake_page;

/* Writes {"items": [...], "next_cursor": ...}. */
int datalake_search(db_conn *c, int64_t lake, const datalake_page *p, jw *w, err *e);
int datalake_count(db_conn *c, int64_t lake, const char *q, int64_t *count, err *e);
int datalake_similar(db_conn *c, int64_t org, int64_t id, int max_distance, int64_t limit, jw *w,
                     err *e);

/* --- bulk ------------------------------------------------------------------ */
/* Selection: explicit ids (JSON array) or a query. */
typedef struct datalake_sel {
    json_t *ids;   /* array of integers, or NULL */
    const char *q; /* query, or NULL (with ids NULL: refused, never "everything") */
} datalake_sel;
int datalake_tag(db_conn *c, int64_t lake, const datalake_sel *sel, const char *const *add,
                 int nadd, const char *const *remove, int nremove, int64_t *changed, err *e);
int datalake_delete_data(db_conn *c, int64_t lake, const datalake_sel *sel, int64_t *deleted,
                         err *e);
int datalake_lookup(db_conn *c, int64_t lake, json_t *shas, jw *w, err *e);
int datalake_tags(db_conn *c, int64_t lake, jw *w, err *e);
int datalake_stats(db_conn *c, int64_t lake, jw *w, err *e);
int datalake_autocomplete(db_conn *c, int64_t lake, const char *q, size_t cursor, jw *w, err *e);

extern const char datalake_schema_v10[];

#endif
