/*
 * label.c - a version's labels: name (unique in the version), color,
 * group (COCO's supercategory) and, for keypoint labels, the vertex names
 * and skeleton edges (pairs of 1-based vertex numbers, as COCO writes them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "dataset/internal.h"

#define KEYPOINTS_MAX 256

int ds_labels_load(db_conn *c, int64_t version, ds_labels *l, err *e)
{
    memset(l, 0, sizeof *l);
    l->mem = arena_new(16 * 1024);
    if (!l->mem)
        return err_set(e, ERR_INTERNAL, "out of memory");
    db_stmt *s = db_query(c, e,
                          "SELECT id, name, nkeypoints FROM label WHERE version_id = $1 ORDER BY id",
                          DBI(version));
    if (!s)
        return -1;
    size_t cap = 0;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        if (l->n == cap) {
            cap = cap ? cap * 2 : 32;
            ds_label *x = realloc(l->items, cap * sizeof *x);
            if (!x) {
                rc = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            l->items = x;
        }
        ds_label *lab = &l->items[l->n];
        lab->id = db_col_i64(s, 0);
        lab->name = arena_strdup(l->mem, db_col_text(s, 1));
        lab->nkeypoints = (int)db_col_i64(s, 2);
        if (!lab->name || ds_smap_put(&l->by_name, lab->name, (int64_t)l->n) ||
            ds_imap_put(&l->by_id, lab->id, (int64_t)l->n + 1)) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            break;
        }
        l->n++;
    }
    db_done(s);
    if (rc < 0) {
        ds_labels_free(l);
        return -1;
    }
    return 0;
}

void ds_labels_free(ds_labels *l)
{
    free(l->items);
    ds_smap_free(&l->by_name);
    ds_imap_free(&l->by_id);
    arena_free(l->mem);
    memset(l, 0, sizeof *l);
}

void ds_labels_names(const ds_labels *l, char *out, size_t n)
{
    if (l->n == 0) {
        snprintf(out, n, "the version has no labels yet; create them first");
        return;
    }
    size_t k = (size_t)snprintf(out, n, "the version's labels are: ");
    for (size_t i = 0; i < l->n && i < 10 && k < n; i++)
        k += (size_t)snprintf(out + k, n - k, "%s%s", i ? ", " : "", l->items[i].name);
    if (l->n > 10 && k < n)
        snprintf(out + k, n - k, ", ... (%zu in all)", l->n);
}

/* --- definitions ------------------------------------------------------------------------------ */

typedef struct label_def {
    const char *name, *color, *group;
    char *keypoints, *skeleton; /* JSON text, malloc'd */
    int nkeypoints;
    bool has_keypoints, has_color, has_group;
} label_def;

static void def_free(label_def *d)
{
    free(d->keypoints);
    free(d->skeleton);
}

/* A stable pleasant color for a name when none is given. */
static void default_color(const char *name, char out[8])
{
    static const char *const palette[] = {"#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4",
                                          "#42d4f4", "#f032e6", "#bfef45", "#fabed4", "#469990",
                                          "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000",
                                          "#000075"};
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    snprintf(out, 8, "%s", palette[h % ARRAY_LEN(palette)]);
}

static int color_check(const char *c, err *e)
{
    if (strlen(c) != 7 || c[0] != '#')
        return err_set(e, ERR_INVALID, "field 'color' must be #rrggbb, got '%.20s'", c);
    for (int i = 1; i < 7; i++)
        if (!strchr("0123456789abcdefABCDEF", c[i]))
            return err_set(e, ERR_INVALID, "field 'color' must be #rrggbb, got '%.20s'", c);
    return 0;
}

static int def_read(json_t *j, bool create, label_def *d, err *e)
{
    static const char *const fields[] = {"name", "color", "group", "keypoints", "skeleton", NULL};
    memset(d, 0, sizeof *d);
    if (jv_is_obj(j, e) || jv_only(j, fields, e) ||
        jv_str(j, "name", create ? JV_REQUIRED : JV_OPTIONAL, 256, &d->name, e) ||
        jv_str(j, "color", JV_OPTIONAL, 16, &d->color, e) ||
        jv_str(j, "group", JV_OPTIONAL, 256, &d->group, e))
        return -1;
    if (d->name && name_check("label name", d->name, 256, e))
        return -1;
    if (d->color && color_check(d->color, e))
        return -1;
    d->has_color = json_object_get(j, "color") != NULL;
    d->has_group = json_object_get(j, "group") != NULL;
    if (d->group && !*d->group)
        d->group = NULL;
    json_t *kp = json_object_get(j, "keypoints"), *sk = json_object_get(j, "skeleton");
    if (sk && !json_is_null(sk) && (!kp || json_is_null(kp)))
        return err_set(e, ERR_INVALID, "a 'skeleton' needs the 'keypoints' (vertex names) it joins");
    if (kp && !json_is_null(kp)) {
        d->has_keypoints = true;
        if (!json_is_array(kp) || json_array_size(kp) == 0 || json_array_size(kp) > KEYPOINTS_MAX)
            return err_set(e, ERR_INVALID,
                           "field 'keypoints' must be an array of 1 to %d vertex names",
                           KEYPOINTS_MAX);
        size_t i;
        json_t *v;
        json_array_foreach(kp, i, v)
        {
            if (!json_is_string(v) || !json_string_length(v))
                return err_set(e, ERR_INVALID, "keypoints[%zu] must be a non-empty name", i);
            for (size_t k = 0; k < i; k++)
                if (json_equal(json_array_get(kp, k), v))
                    return err_set(e, ERR_INVALID, "keypoints[%zu]: the vertex name '%s' is used twice",
                                   i, json_string_value(v));
        }
        d->nkeypoints = (int)json_array_size(kp);
        d->keypoints = json_dumps(kp, JSON_COMPACT);
        if (sk && !json_is_null(sk)) {
            if (!json_is_array(sk) || json_array_size(sk) > 4096)
                return err_set(e, ERR_INVALID, "field 'skeleton' must be an array of [a, b] vertex pairs");
            json_array_foreach(sk, i, v)
            {
                json_t *a = json_array_get(v, 0), *b = json_array_get(v, 1);
                if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(a) ||
                    !json_is_integer(b))
                    return err_set(e, ERR_INVALID,
                                   "skeleton[%zu] must be a pair of vertex numbers [a, b]", i);
                json_int_t x = json_integer_value(a), y = json_integer_value(b);
                if (x < 1 || y < 1 || x > d->nkeypoints || y > d->nkeypoints || x == y)
                    return err_set(e, ERR_INVALID,
                                   "skeleton[%zu] = [%lld, %lld]: vertices are numbered 1 to %d "
                                   "(the keypoints), and an edge joins two different ones",
                                   i, (long long)x, (long long)y, d->nkeypoints);
            }
            d->skeleton = json_dumps(sk, JSON_COMPACT);
        }
    }
    return 0;
}

int dataset_label_create(db_conn *c, int64_t org, int64_t version, json_t *def, int64_t *id,
                         err *e)
{
    label_def d;
    if (def_read(def, true, &d, e)) {
        def_free(&d);
        return -1;
    }
    char color[8];
    if (d.color)
        snprintf(color, sizeof color, "%s", d.color);
    else
        default_color(d.name, color);
    int rc = -1;
    int64_t n = 0;
    if (db_begin(c, e))
        goto out;
    if (dataset_version_writable(c, org, version, e) ||
        db_one_i64(c, e, &n, "SELECT COUNT(*) FROM label WHERE version_id = $1", DBI(version)))
        goto fail;
    if (n >= DATASET_LABELS_MAX) {
        err_set(e, ERR_INVALID, "the version has %lld labels; the limit is %d", (long long)n,
                DATASET_LABELS_MAX);
        goto fail;
    }
    if (db_one_i64(c, e, id,
                   "INSERT INTO label (version_id, name, color, grp, keypoints, skeleton, nkeypoints,"
                   " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                   DBI(version), DBT(d.name), DBT(color), DBT(d.group), DBT(d.keypoints),
                   DBT(d.skeleton), DBI(d.nkeypoints), DBI(time_now_ms())) != 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT, "the version already has a label named '%s'", d.name);
        goto fail;
    }
    rc = db_commit(c, e);
    goto out;
fail:
    db_rollback(c);
out:
    def_free(&d);
    return rc;
}

static int label_version(db_conn *c, int64_t org, int64_t label, int64_t *version, err *e)
{
    if (db_one_i64(c, e, version,
                   "SELECT l.version_id FROM label l JOIN dataset_version v ON v.id = l.version_id"
                   " JOIN dataset ds ON ds.id = v.dataset_id WHERE l.id = $1 AND ds.org_id = $2",
                   DBI(label), DBI(org)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "label %lld does not exist in this organization",
                    (long long)label);
        return -1;
    }
    return 0;
}

int dataset_label_update(db_conn *c, int64_t org, int64_t label, json_t *def, err *e)
{
    label_def d;
    int64_t version, nk = 0, used = 0;
    if (def_read(def, false, &d, e) || label_version(c, org, label, &version, e)) {
        def_free(&d);
        return -1;
    }
    int rc = -1;
    if (db_begin(c, e))
        goto out;
    if (dataset_version_writable(c, org, version, e))
        goto fail;
    if (d.has_keypoints) {
        if (db_one_i64(c, e, &nk, "SELECT nkeypoints FROM label WHERE id = $1", DBI(label)) ||
            db_one_i64(c, e, &used, "SELECT COUNT(*) FROM shape WHERE label_id = $1 AND kind = $2",
                       DBI(label), DBI(DS_KEYPOINTS)))
            goto fail;
        if (used && nk != d.nkeypoints) {
            err_set(e, ERR_CONFLICT,
                    "label %lld has %lld keypoint shapes with %lld vertices each; it cannot change "
                    "to %d vertices while they exist",
                    (long long)label, (long long)used, (long long)nk, d.nkeypoints);
            goto fail;
        }
    }
    if (db_run(c, e,
               "UPDATE label SET name = COALESCE($1, name), color = CASE WHEN $2 = 1 THEN $3 ELSE color END,"
               " grp = CASE WHEN $4 = 1 THEN $5 ELSE grp END,"
               " keypoints = CASE WHEN $6 = 1 THEN $7 ELSE keypoints END,"
               " skeleton = CASE WHEN $6 = 1 THEN $8 ELSE skeleton END,"
               " nkeypoints = CASE WHEN $6 = 1 THEN $9 ELSE nkeypoints END WHERE id = $10",
               DBT(d.name), DBI(d.has_color && d.color), DBT(d.color), DBI(d.has_group),
               DBT(d.group), DBI(d.has_keypoints), DBT(d.keypoints), DBT(d.skeleton),
               DBI(d.nkeypoints), DBI(label)) < 0) {
        if (db_err_is_unique(c))
            err_set(e, ERR_CONFLICT, "the version already has a label named '%s'", d.name);
        goto fail;
    }
    rc = db_commit(c, e);
    goto out;
fail:
    db_rollback(c);
out:
    def_free(&d);
    return rc;
}

static int label_in_use(int64_t label, int64_t used, err *e)
{
    return err_set(e, ERR_CONFLICT,
                   "label %lld is used by %lld shape%s; delete or relabel them before deleting "
                   "the label",
                   (long long)label, (long long)used, used == 1 ? "" : "s");
}

int dataset_label_delete(db_conn *c, int64_t org, int64_t label, err *e)
{
    int64_t version, used = 0;
    if (label_version(c, org, label, &version, e) || db_begin(c, e))
        return -1;
    if (dataset_version_writable(c, org, version, e) ||
        db_one_i64(c, e, &used, "SELECT COUNT(*) FROM shape WHERE label_id = $1", DBI(label)))
        goto fail;
    if (used) {
        label_in_use(label, used, e);
        goto fail;
    }
    if (db_run(c, e, "DELETE FROM label WHERE id = $1", DBI(label)) < 0) {
        /* PostgreSQL: shapes written since the count (an import holds its labels until its
         * commit, and this DELETE waited for it) */
        if (e->code == ERR_CONFLICT) {
            err ce;
            db_rollback(c);
            if (db_one_i64(c, &ce, &used, "SELECT COUNT(*) FROM shape WHERE label_id = $1",
                           DBI(label)) == 0 &&
                used > 0)
                label_in_use(label, used, e);
            return -1;
        }
        goto fail;
    }
    return db_commit(c, e);
fail:
    db_rollback(c);
    return -1;
}

#define LABEL_COLS                                                                                 \
    "l.id, l.name, l.color, l.grp, l.keypoints, l.skeleton, l.version_id,"                        \
    " (SELECT COUNT(*) FROM shape s WHERE s.label_id = l.id),"                                     \
    " (SELECT COUNT(DISTINCT s.asset_id) FROM shape s WHERE s.label_id = l.id)"

static void write_label(jw *w, db_stmt *s)
{
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kint(w, "version_id", db_col_i64(s, 6));
    jw_kstr(w, "name", db_col_text(s, 1));
    jw_kstr(w, "color", db_col_text(s, 2));
    jw_kstr(w, "group", db_col_text(s, 3));
    ds_raw_json(w, "keypoints", s, 4, "null");
    ds_raw_json(w, "skeleton", s, 5, db_col_null(s, 4) ? "null" : "[]");
    jw_kint(w, "objects", db_col_i64(s, 7));
    jw_kint(w, "images", db_col_i64(s, 8));
    jw_obj_end(w);
}

int dataset_label_write(db_conn *c, int64_t org, int64_t label, jw *w, err *e)
{
    int64_t version;
    if (label_version(c, org, label, &version, e))
        return -1;
    db_stmt *s = db_query(c, e, "SELECT " LABEL_COLS " FROM label l WHERE l.id = $1", DBI(label));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        write_label(w, s);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int dataset_labels_list(db_conn *c, int64_t org, int64_t version, jw *w, err *e)
{
    ds_version v;
    if (ds_version_get(c, org, version, &v, e))
        return -1;
    db_stmt *s = db_query(c, e, "SELECT " LABEL_COLS " FROM label l WHERE l.version_id = $1 ORDER BY l.id",
                          DBI(version));
    if (!s)
        return -1;
    int rc;
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW)
        write_label(w, s);
    jw_arr_end(w);
    jw_obj_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}
