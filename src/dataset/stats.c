/*
 * stats.c - a version's statistics: counts, annotation statuses, per label
 * objects and images, per split (asset tag) the same, shape kinds, and
 * histograms of box sizes and aspect ratios. All in SQL over the shape
 * columns (the enclosing box of every shape is stored as columns).
 */
#include <string.h>

#include "dataset/internal.h"

/* Writes [{"name", "count"}] from a two-column query with $1 = version. */
static int name_counts(db_conn *c, int64_t version, const char *key, const char *sql, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, sql, DBI(version));
    if (!s)
        return -1;
    int rc;
    jw_key(w, key);
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kstr(w, "name", db_col_text(s, 0));
        jw_kint(w, "count", db_col_i64(s, 1));
        jw_obj_end(w);
    }
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

/* Box sizes: sqrt(w*h) against powers of two (compared as areas). */
#define SIZE_BUCKETS                                                                               \
    "CASE WHEN s.w * s.h < 64 THEN '<8' WHEN s.w * s.h < 256 THEN '8-16'"                         \
    " WHEN s.w * s.h < 1024 THEN '16-32' WHEN s.w * s.h < 4096 THEN '32-64'"                      \
    " WHEN s.w * s.h < 16384 THEN '64-128' WHEN s.w * s.h < 65536 THEN '128-256'"                 \
    " WHEN s.w * s.h < 262144 THEN '256-512' ELSE '>=512' END"
#define ASPECT_BUCKETS                                                                             \
    "CASE WHEN s.w < 0.25 * s.h THEN '<1:4' WHEN s.w < 0.5 * s.h THEN '1:4-1:2'"                  \
    " WHEN s.w < 0.8 * s.h THEN '1:2-4:5' WHEN s.w <= 1.25 * s.h THEN '4:5-5:4'"                  \
    " WHEN s.w <= 2 * s.h THEN '5:4-2:1' WHEN s.w <= 4 * s.h THEN '2:1-4:1' ELSE '>4:1' END"
#define COCO_BUCKETS                                                                               \
    "CASE WHEN s.w * s.h < 1024 THEN 'small' WHEN s.w * s.h < 9216 THEN 'medium' ELSE 'large' END"
#define VERSION_SHAPES                                                                             \
    " FROM label l JOIN shape s ON s.label_id = l.id WHERE l.version_id = $1"

static int histogram(db_conn *c, int64_t version, const char *key, const char *bucket,
                     const char *const *order, size_t norder, jw *w, err *e)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT %s, COUNT(*)" VERSION_SHAPES " AND s.w > 0 AND s.h > 0 GROUP BY 1", bucket);
    db_stmt *s = db_query(c, e, sql, DBI(version));
    if (!s)
        return -1;
    int64_t counts[16] = {0};
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        const char *b = db_col_text(s, 0);
        for (size_t i = 0; i < norder; i++)
            if (strcmp(order[i], b) == 0)
                counts[i] = db_col_i64(s, 1);
    }
    db_done(s);
    if (rc < 0)
        return -1;
    jw_key(w, key);
    jw_arr(w);
    for (size_t i = 0; i < norder; i++) {
        jw_obj(w);
        jw_kstr(w, "bucket", order[i]);
        jw_kint(w, "count", counts[i]);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    return 0;
}

static int label_table(db_conn *c, db_stmt *s, jw *w, err *e, bool grouped_by_first)
{
    int rc;
    const char *cur = NULL;
    char curbuf[256] = "";
    bool open = false;
    while ((rc = db_step(s, e)) == DB_ROW) {
        int o = grouped_by_first ? 1 : 0;
        if (grouped_by_first) {
            const char *g = db_col_text(s, 0);
            if (!cur || strcmp(g, curbuf) != 0) {
                if (open) {
                    jw_arr_end(w);
                    jw_obj_end(w);
                }
                snprintf(curbuf, sizeof curbuf, "%s", g);
                cur = curbuf;
                jw_obj(w);
                jw_kstr(w, "name", g);
                jw_key(w, "labels");
                jw_arr(w);
                open = true;
            }
        }
        jw_obj(w);
        jw_kstr(w, "name", db_col_text(s, o));
        jw_kint(w, "objects", db_col_i64(s, o + 1));
        jw_kint(w, "images", db_col_i64(s, o + 2));
        jw_obj_end(w);
    }
    if (open) {
        jw_arr_end(w);
        jw_obj_end(w);
    }
    (void)c;
    return rc < 0 ? -1 : 0;
}

int dataset_stats(db_conn *c, int64_t org, int64_t version, jw *w, err *e)
{
    ds_version v;
    if (ds_version_get(c, org, version, &v, e))
        return -1;
    int64_t assets = 0, annotated = 0, shapes = 0;
    if (db_one_i64(c, e, &assets, "SELECT COUNT(*) FROM asset WHERE version_id = $1", DBI(version)) ||
        db_one_i64(c, e, &annotated, "SELECT COUNT(*) FROM annotation WHERE version_id = $1",
                   DBI(version)) ||
        db_one_i64(c, e, &shapes,
                   "SELECT COALESCE(SUM(shape_count), 0) FROM annotation WHERE version_id = $1",
                   DBI(version)))
        return -1;
    jw_obj(w);
    jw_kint(w, "version_id", version);
    jw_kint(w, "assets", assets);
    jw_kint(w, "annotated", annotated);
    jw_kint(w, "objects", shapes);
    /* statuses, with the unannotated assets as "none" */
    db_stmt *s = db_query(c, e,
                          "SELECT status, COUNT(*) FROM annotation WHERE version_id = $1 GROUP BY status",
                          DBI(version));
    if (!s)
        return -1;
    static const char *const st_names[] = {"pending", "accepted", "rejected", "skipped"};
    int64_t st[4] = {0};
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW)
        for (int i = 0; i < 4; i++)
            if (strcmp(db_col_text(s, 0), st_names[i]) == 0)
                st[i] = db_col_i64(s, 1);
    db_done(s);
    if (rc < 0)
        return -1;
    jw_key(w, "status");
    jw_obj(w);
    for (int i = 0; i < 4; i++)
        jw_kint(w, st_names[i], st[i]);
    jw_kint(w, "none", assets - annotated);
    jw_obj_end(w);
    /* labels */
    s = db_query(c, e,
                 "SELECT l.name, COUNT(s.id), COUNT(DISTINCT s.asset_id) FROM label l"
                 " LEFT JOIN shape s ON s.label_id = l.id WHERE l.version_id = $1"
                 " GROUP BY l.id, l.name ORDER BY l.id",
                 DBI(version));
    if (!s)
        return -1;
    jw_key(w, "labels");
    jw_arr(w);
    rc = label_table(c, s, w, e, false);
    db_done(s);
    jw_arr_end(w);
    if (rc)
        return -1;
    /* splits (asset tags): assets, then objects and images per label */
    if (name_counts(c, version, "tags",
                    "SELECT name, COUNT(*) FROM asset_tag WHERE version_id = $1 GROUP BY name"
                    " ORDER BY name LIMIT 100",
                    w, e))
        return -1;
    s = db_query(c, e,
                 "SELECT t.name, l.name, COUNT(s.id), COUNT(DISTINCT s.asset_id) FROM asset_tag t"
                 " JOIN shape s ON s.asset_id = t.asset_id JOIN label l ON l.id = s.label_id"
                 " WHERE t.version_id = $1 GROUP BY t.name, l.id, l.name ORDER BY t.name, l.id",
                 DBI(version));
    if (!s)
        return -1;
    jw_key(w, "splits");
    jw_arr(w);
    rc = label_table(c, s, w, e, true);
    db_done(s);
    jw_arr_end(w);
    if (rc)
        return -1;
    /* shape kinds */
    s = db_query(c, e, "SELECT s.kind, COUNT(*)" VERSION_SHAPES " GROUP BY s.kind ORDER BY s.kind",
                 DBI(version));
    if (!s)
        return -1;
    jw_key(w, "kinds");
    jw_obj(w);
    while ((rc = db_step(s, e)) == DB_ROW)
        jw_kint(w, ds_kind_name((int)db_col_i64(s, 0)), db_col_i64(s, 1));
    jw_obj_end(w);
    db_done(s);
    if (rc < 0)
        return -1;
    static const char *const sizes[] = {"<8",      "8-16",    "16-32",   "32-64",
                                        "64-128",  "128-256", "256-512", ">=512"};
    static const char *const aspects[] = {"<1:4",    "1:4-1:2", "1:2-4:5", "4:5-5:4",
                                          "5:4-2:1", "2:1-4:1", ">4:1"};
    static const char *const coco[] = {"small", "medium", "large"};
    if (histogram(c, version, "box_sizes", SIZE_BUCKETS, sizes, ARRAY_LEN(sizes), w, e) ||
        histogram(c, version, "box_aspects", ASPECT_BUCKETS, aspects, ARRAY_LEN(aspects), w, e) ||
        histogram(c, version, "coco_sizes", COCO_BUCKETS, coco, ARRAY_LEN(coco), w, e))
        return -1;
    jw_obj_end(w);
    return 0;
}
