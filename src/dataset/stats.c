/*
 * stats.c - a version's statistics: counts, annotation statuses, per label
 * objects and images, per split (asset tag) the same, shape kinds, and
 * histograms of box sizes and aspect ratios.
 *
 * One pass over the version's shapes, a page of assets at a time in asset
 * order (shapes are stored grouped by asset, so the pass reads the table
 * nearly in order), aggregated here: with a million shapes, five GROUP BY
 * queries through the label index cost five random walks over the table.
 * Memory: the counters (labels x tags, tags capped at STATS_TAGS_MAX) and
 * one page.
 */
#include <stdlib.h>
#include <string.h>

#include "dataset/internal.h"

#define STATS_PAGE 2000
#define STATS_TAGS_MAX 32

static const char *const sizes[] = {"<8",     "8-16",    "16-32",   "32-64",
                                    "64-128", "128-256", "256-512", ">=512"};
static const char *const aspects[] = {"<1:4",    "1:4-1:2", "1:2-4:5", "4:5-5:4",
                                      "5:4-2:1", "2:1-4:1", ">4:1"};
static const char *const coco[] = {"small", "medium", "large"};

typedef struct stats_acc {
    size_t nl;               /* labels */
    int64_t *objects, *images;
    int ntags;
    char *tag_names[STATS_TAGS_MAX];
    int64_t *tobj, *timg;    /* ntags x nl */
    int64_t kinds[DS_MASK + 1];
    int64_t size[8], aspect[7], cocos[3];
    /* the asset being summed */
    int64_t asset;
    int cur_tags[STATS_TAGS_MAX], ncur_tags;
    int *cur_labels;         /* labels seen on the current asset */
    int64_t *cur_count;      /* per label, reset through cur_labels */
    int ncur;
} stats_acc;

static void flush_asset(stats_acc *a)
{
    for (int i = 0; i < a->ncur; i++) {
        int l = a->cur_labels[i];
        int64_t n = a->cur_count[l];
        a->objects[l] += n;
        a->images[l]++;
        for (int t = 0; t < a->ncur_tags; t++) {
            a->tobj[(size_t)a->cur_tags[t] * a->nl + (size_t)l] += n;
            a->timg[(size_t)a->cur_tags[t] * a->nl + (size_t)l]++;
        }
        a->cur_count[l] = 0;
    }
    a->ncur = 0;
}

static void add_box(stats_acc *a, double w, double h)
{
    if (!(w > 0 && h > 0))
        return;
    double area = w * h;
    static const double sq[] = {64, 256, 1024, 4096, 16384, 65536, 262144};
    int k = 0;
    while (k < 7 && area >= sq[k])
        k++;
    a->size[k]++;
    double r = w / h;
    a->aspect[r < 0.25 ? 0 : r < 0.5 ? 1 : r < 0.8 ? 2 : r <= 1.25 ? 3 : r <= 2 ? 4 : r <= 4 ? 5 : 6]++;
    a->cocos[area < 1024 ? 0 : area < 9216 ? 1 : 2]++;
}

/* The tags of the page's assets: tags[i] of asset ids[i] (indexes into
 * a->tag_names, the first STATS_TAGS_MAX names in name order). */
static int page_tags(db_conn *c, int64_t version, int64_t first, int64_t last, stats_acc *a,
                     ds_imap *tag_of, ds_smap *tag_ix, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT asset_id, name FROM asset_tag WHERE version_id = $1 AND"
                          " asset_id >= $2 AND asset_id <= $3 ORDER BY asset_id",
                          DBI(version), DBI(first), DBI(last));
    if (!s)
        return -1;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        int64_t t;
        if (!ds_smap_get(tag_ix, db_col_text(s, 1), &t))
            continue;
        /* a bit set of tags per asset (STATS_TAGS_MAX <= 64) */
        int64_t bits = 0;
        ds_imap_get(tag_of, db_col_i64(s, 0), &bits);
        ds_imap_put(tag_of, db_col_i64(s, 0), bits | (int64_t)(1ULL << t));
    }
    db_done(s);
    (void)a;
    return rc < 0 ? -1 : 0;
}

static int shape_pass(db_conn *c, int64_t version, const ds_labels *labels, stats_acc *a, err *e)
{
    ds_smap tag_ix = {0};
    for (int t = 0; t < a->ntags; t++)
        ds_smap_put(&tag_ix, a->tag_names[t], t);
    int64_t after = 0;
    int rc = 0;
    for (;;) {
        /* the next page of assets */
        int64_t first = 0, last = 0, n = 0;
        db_stmt *s = db_query(c, e,
                              "SELECT MIN(id), MAX(id), COUNT(*) FROM (SELECT id FROM asset WHERE"
                              " version_id = $1 AND id > $2 ORDER BY id LIMIT $3) p",
                              DBI(version), DBI(after), DBI(STATS_PAGE));
        if (!s)
            return -1;
        if (db_step(s, e) == DB_ROW) {
            first = db_col_i64(s, 0);
            last = db_col_i64(s, 1);
            n = db_col_i64(s, 2);
        }
        db_done(s);
        if (n == 0)
            break;
        ds_imap tag_of = {0};
        if (a->ntags && page_tags(c, version, first, last, a, &tag_of, &tag_ix, e)) {
            ds_imap_free(&tag_of);
            rc = -1;
            break;
        }
        s = db_query(c, e,
                     "SELECT s.asset_id, s.label_id, s.kind, s.w, s.h FROM shape s JOIN asset a ON"
                     " a.id = s.asset_id WHERE s.asset_id >= $1 AND s.asset_id <= $2 AND"
                     " a.version_id = $3 ORDER BY s.asset_id",
                     DBI(first), DBI(last), DBI(version));
        if (!s) {
            ds_imap_free(&tag_of);
            rc = -1;
            break;
        }
        int st;
        while ((st = db_step(s, e)) == DB_ROW) {
            int64_t asset = db_col_i64(s, 0), li;
            if (asset != a->asset) {
                flush_asset(a);
                a->asset = asset;
                a->ncur_tags = 0;
                int64_t bits = 0;
                if (ds_imap_get(&tag_of, asset, &bits))
                    for (int t = 0; t < a->ntags; t++)
                        if (bits & (int64_t)(1ULL << t))
                            a->cur_tags[a->ncur_tags++] = t;
            }
            if (!ds_imap_get(&labels->by_id, db_col_i64(s, 1), &li))
                continue;
            int l = (int)(li - 1);
            if (a->cur_count[l]++ == 0)
                a->cur_labels[a->ncur++] = l;
            int kind = (int)db_col_i64(s, 2);
            if (kind >= DS_CLASS && kind <= DS_MASK)
                a->kinds[kind]++;
            add_box(a, db_col_dbl(s, 3), db_col_dbl(s, 4));
        }
        db_done(s);
        ds_imap_free(&tag_of);
        if (st < 0) {
            rc = -1;
            break;
        }
        after = last;
        if (n < STATS_PAGE)
            break;
    }
    flush_asset(a);
    ds_smap_free(&tag_ix);
    return rc;
}

static void histogram(jw *w, const char *key, const char *const *names, const int64_t *counts,
                      size_t n)
{
    jw_key(w, key);
    jw_arr(w);
    for (size_t i = 0; i < n; i++) {
        jw_obj(w);
        jw_kstr(w, "bucket", names[i]);
        jw_kint(w, "count", counts[i]);
        jw_obj_end(w);
    }
    jw_arr_end(w);
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
    static const char *const st_names[] = {"pending", "accepted", "rejected", "skipped"};
    int64_t st[4] = {0};
    db_stmt *s = db_query(c, e,
                          "SELECT status, COUNT(*) FROM annotation WHERE version_id = $1 GROUP BY status",
                          DBI(version));
    if (!s)
        return -1;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW)
        for (int i = 0; i < 4; i++)
            if (strcmp(db_col_text(s, 0), st_names[i]) == 0)
                st[i] = db_col_i64(s, 1);
    db_done(s);
    if (rc < 0)
        return -1;
    /* tags and their asset counts (the first STATS_TAGS_MAX get label tables) */
    s = db_query(c, e,
                 "SELECT name, COUNT(*) FROM asset_tag WHERE version_id = $1 GROUP BY name ORDER BY name"
                 " LIMIT 100",
                 DBI(version));
    if (!s)
        return -1;
    json_t *tags = json_array();
    while ((rc = db_step(s, e)) == DB_ROW)
        json_array_append_new(tags, json_pack("{s:s, s:I}", "name", db_col_text(s, 0), "count",
                                              (json_int_t)db_col_i64(s, 1)));
    db_done(s);
    ds_labels labels = {0};
    stats_acc a = {0};
    if (rc < 0 || ds_labels_load(c, version, &labels, e)) {
        json_decref(tags);
        return -1;
    }
    a.nl = labels.n ? labels.n : 1;
    a.ntags = (int)(json_array_size(tags) < STATS_TAGS_MAX ? json_array_size(tags) : STATS_TAGS_MAX);
    for (int t = 0; t < a.ntags; t++)
        a.tag_names[t] = (char *)json_string_value(json_object_get(json_array_get(tags, (size_t)t), "name"));
    a.objects = calloc(a.nl, sizeof *a.objects);
    a.images = calloc(a.nl, sizeof *a.images);
    a.tobj = calloc((size_t)(a.ntags ? a.ntags : 1) * a.nl, sizeof *a.tobj);
    a.timg = calloc((size_t)(a.ntags ? a.ntags : 1) * a.nl, sizeof *a.timg);
    a.cur_labels = calloc(a.nl, sizeof *a.cur_labels);
    a.cur_count = calloc(a.nl, sizeof *a.cur_count);
    rc = -1;
    if (!a.objects || !a.images || !a.tobj || !a.timg || !a.cur_labels || !a.cur_count) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (shape_pass(c, version, &labels, &a, e))
        goto out;
    jw_obj(w);
    jw_kint(w, "version_id", version);
    jw_kint(w, "assets", assets);
    jw_kint(w, "annotated", annotated);
    jw_kint(w, "objects", shapes);
    jw_key(w, "status");
    jw_obj(w);
    for (int i = 0; i < 4; i++)
        jw_kint(w, st_names[i], st[i]);
    jw_kint(w, "none", assets - annotated);
    jw_obj_end(w);
    jw_key(w, "labels");
    jw_arr(w);
    for (size_t l = 0; l < labels.n; l++) {
        jw_obj(w);
        jw_kstr(w, "name", labels.items[l].name);
        jw_kint(w, "objects", a.objects[l]);
        jw_kint(w, "images", a.images[l]);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "tags");
    char *tt = json_dumps(tags, JSON_COMPACT);
    jw_raw(w, tt, strlen(tt));
    free(tt);
    jw_key(w, "splits");
    jw_arr(w);
    for (int t = 0; t < a.ntags; t++) {
        jw_obj(w);
        jw_kstr(w, "name", a.tag_names[t]);
        jw_key(w, "labels");
        jw_arr(w);
        for (size_t l = 0; l < labels.n; l++) {
            int64_t o = a.tobj[(size_t)t * a.nl + l];
            if (!o)
                continue;
            jw_obj(w);
            jw_kstr(w, "name", labels.items[l].name);
            jw_kint(w, "objects", o);
            jw_kint(w, "images", a.timg[(size_t)t * a.nl + l]);
            jw_obj_end(w);
        }
        jw_arr_end(w);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "kinds");
    jw_obj(w);
    for (int k = DS_CLASS; k <= DS_MASK; k++)
        if (a.kinds[k])
            jw_kint(w, ds_kind_name(k), a.kinds[k]);
    jw_obj_end(w);
    histogram(w, "box_sizes", sizes, a.size, ARRAY_LEN(sizes));
    histogram(w, "box_aspects", aspects, a.aspect, ARRAY_LEN(aspects));
    histogram(w, "coco_sizes", coco, a.cocos, ARRAY_LEN(coco));
    jw_obj_end(w);
    rc = 0;
out:
    free(a.objects);
    free(a.images);
    free(a.tobj);
    free(a.timg);
    free(a.cur_labels);
    free(a.cur_count);
    ds_labels_free(&labels);
    json_decref(tags);
    return rc;
}
