/*
 * asset.c - a version's assets: references to datalake items (added by ids
 * or by a datalake query, removed by ids or an asset query), their
 * version-scoped tags, listings with keyset pages, and the query-language
 * schema of assets.
 *
 * The asset schema is the version's own fields (tag, label, status,
 * objects, ...) plus every field of the datalake under `data.` (data.width,
 * data.tag, data.meta.weather, ...): the datalake's fields are written over
 * the table named `data`, which the asset queries join under that name, so
 * their SQL is reused as it is.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datalake/datalake.h"
#include "dataset/internal.h"

/* --- query schema -------------------------------------------------------------------- */

static const query_field own_fields[] = {
    {"id", QUERY_INT, "a.id", NULL, NULL, NULL, "the asset's id"},
    {"data_id", QUERY_INT, "a.data_id", NULL, NULL, NULL, "the datalake item's id"},
    {"added", QUERY_TIME, "a.created_at", NULL, NULL, NULL, "when the asset was added"},
    {"tag", QUERY_TAG, "EXISTS (SELECT 1 FROM asset_tag t WHERE t.asset_id = a.id AND {})",
     "t.name", NULL, NULL, "asset tag of this version (splits are tags): tag = train"},
    {"label", QUERY_TAG,
     "EXISTS (SELECT 1 FROM shape s JOIN label l ON l.id = s.label_id WHERE s.asset_id = a.id AND {})",
     "l.name", NULL, NULL, "assets with a shape of this label: label = cat"},
    {"status", QUERY_TEXT, "an.status", NULL, NULL, NULL,
     "annotation status: pending, accepted, rejected, skipped; status = null: not annotated"},
    {"annotated", QUERY_BOOL, "(an.asset_id IS NOT NULL)", NULL, NULL, NULL,
     "the asset has an annotation"},
    {"objects", QUERY_INT, "COALESCE(an.shape_count, 0)", NULL, NULL, NULL,
     "number of shapes in the annotation"},
    {"revision", QUERY_INT, "an.revision", NULL, NULL, NULL, "annotation revision"},
    {"updated", QUERY_TIME, "an.updated_at", NULL, NULL, NULL, "when the annotation was saved"},
    {"author", QUERY_TEXT, "(SELECT u.username FROM app_user u WHERE u.id = an.author)", NULL,
     NULL, NULL, "who saved the annotation: author = alice"},
    {"filename", QUERY_TEXT, "data.filename", NULL, NULL, NULL, "the image's file name"},
    {"width", QUERY_INT, "data.width", NULL, NULL, NULL, "image width in pixels"},
    {"height", QUERY_INT, "data.height", NULL, NULL, NULL, "image height in pixels"},
};

#define MAX_FIELDS 64
static query_field all_fields[MAX_FIELDS];
static char data_names[MAX_FIELDS][48];
static query_schema asset_schema;
static pthread_once_t schema_once = PTHREAD_ONCE_INIT;

static void schema_build(void)
{
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_LEN(own_fields); i++)
        all_fields[n++] = own_fields[i];
    const query_schema *d = datalake_schema();
    for (size_t i = 0; i < d->nfields && n < MAX_FIELDS; i++) {
        snprintf(data_names[n], sizeof data_names[n], "data.%s", d->fields[i].name);
        all_fields[n] = d->fields[i];
        all_fields[n].name = data_names[n];
        n++;
    }
    asset_schema.fields = all_fields;
    asset_schema.nfields = n;
}

const query_schema *dataset_asset_schema(void)
{
    pthread_once(&schema_once, schema_build);
    return &asset_schema;
}

db_val ds_qparam(const query_param *p)
{
    switch (p->type) {
    case QUERY_P_INT: return DBI(p->i);
    case QUERY_P_FLOAT: return DBD(p->f);
    case QUERY_P_TEXT: return DBTN(p->s, p->len);
    default: return DBNULL;
    }
}

int ds_query_sql(db_conn *c, const char *q, int first, query_sql *out, err *e)
{
    const char *text = q ? q : "";
    if (query_to_sql(text, strlen(text), dataset_asset_schema(), NULL,
                     ds_is_pg(c) ? QUERY_POSTGRES : QUERY_SQLITE, first, out, e) != 0) {
        if (e->code == ERR_NONE)
            e->code = ERR_INVALID;
        return -1;
    }
    return 0;
}

/* --- selections -------------------------------------------------------------------------- */

static int ids_check(json_t *ids, const char *what, err *e)
{
    if (!json_is_array(ids) || json_array_size(ids) == 0)
        return err_set(e, ERR_INVALID, "field '%s' must be a non-empty array of ids", what);
    if (json_array_size(ids) > DATASET_IDS_MAX)
        return err_set(e, ERR_INVALID, "%zu ids given; the limit is %d per request",
                       json_array_size(ids), DATASET_IDS_MAX);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) if (!json_is_integer(v) || json_integer_value(v) <= 0)
        return err_set(e, ERR_INVALID, "%s[%zu] is not an id (a positive whole number)", what, i);
    return 0;
}

static const char *id_list_sql(db_conn *c)
{
    return ds_is_pg(c) ? "(SELECT (jsonb_array_elements_text($%d::jsonb))::bigint)"
                       : "(SELECT value FROM json_each($%d))";
}

int ds_sel_build(db_conn *c, json_t *ids, const char *q, int first, sbuf *where, ds_sel *s,
                 err *e)
{
    memset(s, 0, sizeof *s);
    if (ids) {
        if (ids_check(ids, "ids", e))
            return -1;
        s->ids_json = json_dumps(ids, JSON_COMPACT);
        s->ids_param = first;
        sbuf_puts(where, "a.id IN ");
        sbuf_printf(where, id_list_sql(c), first);
        s->next = first + 1;
        return s->next;
    }
    if (!q)
        return err_set(e, ERR_INVALID,
                       "say which assets: give 'ids' (a list) or 'q' (a query; \"\" for all)");
    if (ds_query_sql(c, q, first, &s->qs, e))
        return -1;
    s->has_q = true;
    sbuf_printf(where, "(%s)", s->qs.where);
    s->next = s->qs.next_index;
    return s->next;
}

void ds_sel_bind(db_stmt *st, ds_sel *s, int first)
{
    if (s->ids_json)
        db_bind(st, s->ids_param, DBT(s->ids_json));
    for (size_t i = 0; s->has_q && i < s->qs.nparams; i++)
        db_bind(st, first + (int)i, ds_qparam(&s->qs.params[i]));
}

void ds_sel_free(ds_sel *s)
{
    free(s->ids_json);
    s->ids_json = NULL;
    if (s->has_q)
        query_sql_free(&s->qs);
    s->has_q = false;
}

/* Runs a statement built from sql with $1..$nfixed fixed values and the
 * selection from $(nfixed+1); *changes gets the rows changed. */
static int run_sel(db_conn *c, const char *sql, const db_val *fixed, int nfixed, ds_sel *sel,
                   int64_t *changes, int64_t *first_col, err *e)
{
    db_stmt *s = db_prepare(c, sql, e);
    if (!s)
        return -1;
    for (int i = 0; i < nfixed; i++)
        db_bind(s, i + 1, fixed[i]);
    ds_sel_bind(s, sel, nfixed + 1);
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW)
        if (first_col)
            *first_col = db_col_i64(s, 0);
    if (rc == DB_DONE && changes)
        *changes = db_changes(s);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

/* --- add and remove ---------------------------------------------------------------------------- */

int dataset_assets_add(db_conn *c, int64_t org, int64_t version, json_t *data_ids, const char *q,
                       int64_t *added, int64_t *existing, err *e)
{
    *added = *existing = 0;
    if (data_ids && q)
        return err_set(e, ERR_INVALID, "give either 'data_ids' or 'q', not both");
    if (!data_ids && !q)
        return err_set(e, ERR_INVALID,
                       "say which datalake items to add: 'data_ids' (a list) or 'q' (a datalake "
                       "query; \"\" for all)");
    if (data_ids && ids_check(data_ids, "data_ids", e))
        return -1;
    ds_version v;
    if (ds_version_get(c, org, version, &v, e))
        return -1;
    sbuf where = SBUF_INIT, ins = SBUF_INIT, cnt = SBUF_INIT;
    query_sql qs = {0};
    bool has_q = false;
    char *ids_json = NULL;
    int rc = -1;
    /* $1 version, $2 now, $3 lake, then the selection */
    if (data_ids) {
        ids_json = json_dumps(data_ids, JSON_COMPACT);
        sbuf_puts(&where, "data.id IN ");
        sbuf_printf(&where, id_list_sql(c), 4);
    } else {
        if (query_to_sql(q, strlen(q), datalake_schema(), NULL,
                         ds_is_pg(c) ? QUERY_POSTGRES : QUERY_SQLITE, 4, &qs, e) != 0) {
            if (e->code == ERR_NONE)
                e->code = ERR_INVALID;
            goto out;
        }
        has_q = true;
        sbuf_printf(&where, "(%s)", qs.where);
    }
    sbuf_printf(&ins,
                "INSERT INTO asset (version_id, data_id, created_at) SELECT $1, data.id, $2 FROM data"
                " WHERE data.datalake_id = $3 AND %s ORDER BY data.id ON CONFLICT DO NOTHING",
                sbuf_cstr(&where));
    /* the count names $1 and $2 too, so PostgreSQL can type every parameter */
    sbuf_printf(&cnt,
                "SELECT COUNT(*) FROM data WHERE data.datalake_id = $3 AND %s"
                " AND CAST($1 AS BIGINT) > 0 AND CAST($2 AS BIGINT) > 0",
                sbuf_cstr(&where));
    if (db_begin(c, e))
        goto out;
    if (dataset_version_writable(c, org, version, e))
        goto fail;
    for (int pass = 0; pass < 2; pass++) {
        db_stmt *s = db_prepare(c, sbuf_cstr(pass == 0 ? &cnt : &ins), e);
        if (!s)
            goto fail;
        db_bind(s, 1, DBI(version));
        db_bind(s, 2, DBI(time_now_ms()));
        db_bind(s, 3, DBI(v.lake));
        if (ids_json)
            db_bind(s, 4, DBT(ids_json));
        for (size_t i = 0; has_q && i < qs.nparams; i++)
            db_bind(s, 4 + (int)i, ds_qparam(&qs.params[i]));
        int st;
        int64_t matched = 0;
        while ((st = db_step(s, e)) == DB_ROW)
            matched = db_col_i64(s, 0);
        if (st == DB_DONE && pass == 1)
            *added = db_changes(s);
        db_done(s);
        if (st < 0)
            goto fail;
        if (pass == 0) {
            if (data_ids) {
                /* every id must be an item of the dataset's datalake */
                size_t want = 0;
                ds_imap seen = {0};
                size_t i;
                json_t *x;
                json_array_foreach(data_ids, i, x)
                {
                    if (!ds_imap_get(&seen, json_integer_value(x), NULL)) {
                        ds_imap_put(&seen, json_integer_value(x), 1);
                        want++;
                    }
                }
                ds_imap_free(&seen);
                if ((size_t)matched != want) {
                    err_set(e, ERR_NOT_FOUND,
                            "%zu of the %zu data ids are not items of the dataset's datalake;"
                            " add items of datalake %lld only",
                            want - (size_t)matched, want, (long long)v.lake);
                    goto fail;
                }
            }
            *existing = matched;
        }
    }
    *existing -= *added;
    rc = db_commit(c, e);
    goto out;
fail:
    db_rollback(c);
out:
    free(ids_json);
    if (has_q)
        query_sql_free(&qs);
    sbuf_free(&where);
    sbuf_free(&ins);
    sbuf_free(&cnt);
    return rc;
}

int dataset_assets_remove(db_conn *c, int64_t org, int64_t version, json_t *ids, const char *q,
                          int64_t *removed, err *e)
{
    *removed = 0;
    if (ids && q)
        return err_set(e, ERR_INVALID, "give either 'ids' or 'q', not both");
    sbuf where = SBUF_INIT, sql = SBUF_INIT;
    ds_sel sel;
    int rc = -1;
    if (ds_sel_build(c, ids, q, 2, &where, &sel, e) < 0)
        goto out;
    sbuf_printf(&sql,
                "DELETE FROM asset WHERE id IN (SELECT a.id" DS_ASSET_FROM
                " WHERE a.version_id = $1 AND %s)",
                sbuf_cstr(&where));
    if (db_begin(c, e))
        goto out;
    db_val fixed[] = {DBI(version)};
    if (dataset_version_writable(c, org, version, e) ||
        run_sel(c, sbuf_cstr(&sql), fixed, 1, &sel, removed, NULL, e)) {
        db_rollback(c);
        goto out;
    }
    rc = db_commit(c, e);
out:
    ds_sel_free(&sel);
    sbuf_free(&where);
    sbuf_free(&sql);
    return rc;
}

/* --- tags ------------------------------------------------------------------------------------- */

int dataset_asset_tag(db_conn *c, int64_t org, int64_t version, json_t *ids, const char *q,
                      const char *const *add, int nadd, const char *const *remove, int nremove,
                      int64_t *changed, err *e)
{
    *changed = 0;
    if (ids && q)
        return err_set(e, ERR_INVALID, "give either 'ids' or 'q', not both");
    if (nadd + nremove == 0)
        return err_set(e, ERR_INVALID, "give tags to 'add' and/or 'remove'");
    if (nadd > DATASET_TAGS_MAX || nremove > DATASET_TAGS_MAX)
        return err_set(e, ERR_INVALID, "at most %d tags to add and %d to remove per request",
                       DATASET_TAGS_MAX, DATASET_TAGS_MAX);
    for (int i = 0; i < nadd + nremove; i++)
        if (name_check("tag", i < nadd ? add[i] : remove[i - nadd], 128, e))
            return -1;
    sbuf where = SBUF_INIT, add_sql = SBUF_INIT, rm_sql = SBUF_INIT;
    ds_sel sel;
    int rc = -1;
    /* $1 version, $2 tag, selection from $3 */
    if (ds_sel_build(c, ids, q, 3, &where, &sel, e) < 0)
        goto out;
    sbuf_printf(&add_sql,
                "INSERT INTO asset_tag (asset_id, version_id, name) SELECT a.id, $1, $2" DS_ASSET_FROM
                " WHERE a.version_id = $1 AND %s ON CONFLICT DO NOTHING",
                sbuf_cstr(&where));
    sbuf_printf(&rm_sql,
                "DELETE FROM asset_tag WHERE version_id = $1 AND name = $2 AND asset_id IN"
                " (SELECT a.id" DS_ASSET_FROM " WHERE a.version_id = $1 AND %s)",
                sbuf_cstr(&where));
    if (db_begin(c, e))
        goto out;
    if (dataset_version_writable(c, org, version, e))
        goto fail;
    for (int i = 0; i < nadd + nremove; i++) {
        int64_t n = 0;
        db_val fixed[] = {DBI(version), DBT(i < nadd ? add[i] : remove[i - nadd])};
        if (run_sel(c, sbuf_cstr(i < nadd ? &add_sql : &rm_sql), fixed, 2, &sel, &n, NULL, e))
            goto fail;
        *changed += n;
    }
    rc = db_commit(c, e);
    goto out;
fail:
    db_rollback(c);
out:
    ds_sel_free(&sel);
    sbuf_free(&where);
    sbuf_free(&add_sql);
    sbuf_free(&rm_sql);
    return rc;
}

int dataset_asset_tags(db_conn *c, int64_t org, int64_t version, jw *w, err *e)
{
    ds_version v;
    if (ds_version_get(c, org, version, &v, e))
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT name, COUNT(*) FROM asset_tag WHERE version_id = $1 GROUP BY name"
                          " ORDER BY name",
                          DBI(version));
    if (!s)
        return -1;
    int rc;
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kstr(w, "name", db_col_text(s, 0));
        jw_kint(w, "count", db_col_i64(s, 1));
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

/* --- listing ------------------------------------------------------------------------------------ */

static const char *tags_agg(db_conn *c)
{
    return ds_is_pg(c) ? "(SELECT COALESCE(json_agg(t.name ORDER BY t.name), '[]'::json)"
                         " FROM asset_tag t WHERE t.asset_id = a.id)"
                       : "(SELECT json_group_array(name) FROM (SELECT t.name FROM asset_tag t"
                         " WHERE t.asset_id = a.id ORDER BY t.name))";
}

#define ASSET_COLS                                                                                 \
    "a.id, a.data_id, data.filename, data.width, data.height, data.format, data.sha256, %s,"      \
    " a.created_at, an.status, an.revision, an.shape_count, u.username, an.updated_at,"           \
    " an.duration_ms, a.version_id"
#define ASSET_JOIN " LEFT JOIN app_user u ON u.id = an.author"

static int write_shapes_of(db_conn *c, int64_t asset, jw *w, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT " DS_SHAPE_COLS("s.") " FROM shape s JOIN label l ON l.id = s.label_id"
                          " WHERE s.asset_id = $1 ORDER BY s.id",
                          DBI(asset));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW)
        ds_shape_write_row(w, s, 0);
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

static int write_asset(db_conn *c, jw *w, db_stmt *s, bool with_shapes, err *e)
{
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kint(w, "version_id", db_col_i64(s, 15));
    jw_kint(w, "data_id", db_col_i64(s, 1));
    jw_kstr(w, "filename", db_col_text(s, 2));
    jw_kint(w, "width", db_col_i64(s, 3));
    jw_kint(w, "height", db_col_i64(s, 4));
    jw_kstr(w, "format", db_col_text(s, 5));
    jw_kstr(w, "sha256", db_col_text(s, 6));
    ds_raw_json(w, "tags", s, 7, "[]");
    ds_ts(w, "added_at", s, 8);
    jw_key(w, "annotation");
    if (db_col_null(s, 9)) {
        jw_null(w);
    } else {
        jw_obj(w);
        jw_kstr(w, "status", db_col_text(s, 9));
        jw_kint(w, "revision", db_col_i64(s, 10));
        jw_kint(w, "objects", db_col_i64(s, 11));
        jw_kstr(w, "author", db_col_text(s, 12));
        ds_ts(w, "updated_at", s, 13);
        jw_kint(w, "duration_ms", db_col_i64(s, 14));
        jw_obj_end(w);
    }
    int rc = 0;
    if (with_shapes) {
        jw_key(w, "shapes");
        rc = write_shapes_of(c, db_col_i64(s, 0), w, e);
    }
    jw_obj_end(w);
    return rc;
}

int dataset_asset_write(db_conn *c, int64_t org, int64_t asset, jw *w, err *e)
{
    int64_t version;
    if (ds_asset_version(c, org, asset, &version, e))
        return -1;
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT " ASSET_COLS DS_ASSET_FROM ASSET_JOIN " WHERE a.id = $1",
             tags_agg(c));
    db_stmt *s = db_query(c, e, sql, DBI(asset));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        rc = write_asset(c, w, s, true, e) ? -1 : DB_ROW;
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "asset %lld does not exist in this organization",
                       (long long)asset);
    return rc < 0 ? -1 : 0;
}

typedef struct {
    const char *name, *col;
    bool desc;
} asset_order;

static const asset_order orders[] = {
    {"id", "a.id", false},           {"-id", "a.id", true},
    {"filename", "data.filename", false}, {"-filename", "data.filename", true},
    {"added", "a.created_at", false},  {"-added", "a.created_at", true},
};

int dataset_assets_list(db_conn *c, int64_t org, int64_t version, const dataset_asset_page *p,
                        jw *w, err *e)
{
    const asset_order *o = &orders[0];
    if (p->order_by && *p->order_by) {
        o = NULL;
        for (size_t i = 0; i < ARRAY_LEN(orders); i++)
            if (strcmp(orders[i].name, p->order_by) == 0)
                o = &orders[i];
        if (!o)
            return err_set(e, ERR_INVALID,
                           "order_by '%.40s' is not one of id, filename, added (prefix - for "
                           "descending)",
                           p->order_by);
    }
    int64_t after = 0;
    if (p->cursor && *p->cursor &&
        parse_i64("cursor", p->cursor, 1, INT64_MAX, &after, e))
        return -1;
    ds_version v;
    if (ds_version_get(c, org, version, &v, e))
        return -1;
    sbuf sql = SBUF_INIT;
    query_sql qs;
    if (ds_query_sql(c, p->q, 4, &qs, e))
        return -1;
    /* $1 version, $2 cursor asset id (0: none), $3 limit + 1 */
    sbuf_printf(&sql, "SELECT " ASSET_COLS DS_ASSET_FROM ASSET_JOIN " WHERE a.version_id = $1 AND %s",
                tags_agg(c), qs.where);
    bool is_id = strcmp(o->col, "a.id") == 0;
    if (is_id)
        sbuf_printf(&sql, " AND (CAST($2 AS BIGINT) = 0 OR a.id %s $2) ORDER BY a.id %s LIMIT $3",
                    o->desc ? "<" : ">", o->desc ? "DESC" : "ASC");
    else
        sbuf_printf(&sql,
                    " AND (CAST($2 AS BIGINT) = 0 OR (%s, a.id) %s ((SELECT %s FROM asset a JOIN data ON"
                    " data.id = a.data_id WHERE a.id = $2), $2)) ORDER BY %s %s, a.id %s LIMIT $3",
                    o->col, o->desc ? "<" : ">", o->col, o->col, o->desc ? "DESC" : "ASC",
                    o->desc ? "DESC" : "ASC");
    db_stmt *s = db_prepare(c, sbuf_cstr(&sql), e);
    int rc = -1;
    if (!s)
        goto out;
    db_bind(s, 1, DBI(version));
    db_bind(s, 2, DBI(after));
    db_bind(s, 3, DBI(p->limit + 1));
    for (size_t i = 0; i < qs.nparams; i++)
        db_bind(s, 4 + (int)i, ds_qparam(&qs.params[i]));
    int64_t n = 0, last = 0;
    bool more = false;
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        if (n == p->limit) {
            more = true;
            break;
        }
        if (write_asset(c, w, s, p->with_shapes, e)) {
            rc = -1;
            break;
        }
        last = db_col_i64(s, 0);
        n++;
    }
    db_done(s);
    jw_arr_end(w);
    jw_key(w, "next_cursor");
    if (more) {
        char cur[24];
        snprintf(cur, sizeof cur, "%lld", (long long)last);
        jw_str(w, cur);
    } else {
        jw_null(w);
    }
    jw_obj_end(w);
    rc = rc < 0 ? -1 : 0;
out:
    query_sql_free(&qs);
    sbuf_free(&sql);
    return rc;
}

int dataset_assets_count(db_conn *c, int64_t org, int64_t version, const char *q, int64_t *n,
                         err *e)
{
    ds_version v;
    if (ds_version_get(c, org, version, &v, e))
        return -1;
    query_sql qs;
    if (ds_query_sql(c, q, 2, &qs, e))
        return -1;
    sbuf sql = SBUF_INIT;
    sbuf_printf(&sql, "SELECT COUNT(*)" DS_ASSET_FROM " WHERE a.version_id = $1 AND %s", qs.where);
    db_stmt *s = db_prepare(c, sbuf_cstr(&sql), e);
    int rc = -1;
    if (s) {
        db_bind(s, 1, DBI(version));
        for (size_t i = 0; i < qs.nparams; i++)
            db_bind(s, 2 + (int)i, ds_qparam(&qs.params[i]));
        rc = db_step(s, e);
        if (rc == DB_ROW)
            *n = db_col_i64(s, 0);
        db_done(s);
        rc = rc < 0 ? -1 : 0;
    }
    query_sql_free(&qs);
    sbuf_free(&sql);
    return rc;
}

/* --- autocomplete -------------------------------------------------------------------------- */


/* Values from a one-column query ($1 = id, $2 = LIKE pattern), quoted as query strings. */
static int suggest_rows(db_conn *c, jw *w, const char *sql, int64_t id, const char *like, err *e)
{
    db_stmt *s = db_query(c, e, sql, DBI(id), DBT(like));
    if (!s)
        return -1;
    int rc;
    sbuf q = SBUF_INIT;
    while ((rc = db_step(s, e)) == DB_ROW) {
        const char *v = db_col_text(s, 0);
        if (!v)
            continue;
        sbuf_reset(&q);
        sbuf_json_str(&q, v, strlen(v));
        query_complete_json_suggest(w, sbuf_cstr(&q), "value", NULL);
    }
    sbuf_free(&q);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int dataset_assets_autocomplete(db_conn *c, int64_t org, int64_t version, const char *q,
                                size_t cursor, jw *w, err *e)
{
    ds_version v;
    if (ds_version_get(c, org, version, &v, e))
        return -1;
    query_completion comp;
    char like[300];
    if (query_complete_json_begin(w, q, cursor, dataset_asset_schema(), &comp, like, sizeof like, e))
        return -1;
    int rc = 0;
    if (comp.expect & QUERY_EXPECT_KEY && comp.field && strcmp(comp.field->name, "data.meta") == 0)
        rc = suggest_rows(c, w,
                          "SELECT key FROM datalake_meta_key WHERE datalake_id = $1 AND key LIKE $2"
                          " ESCAPE '\\' ORDER BY key LIMIT 50",
                          v.lake, like, e);
    query_complete_json_operators(w, &comp);
    if (rc == 0 && comp.expect & QUERY_EXPECT_VALUE && comp.field) {
        const char *f = comp.field->name;
        if (strcmp(f, "tag") == 0)
            rc = suggest_rows(c, w,
                              "SELECT DISTINCT name FROM asset_tag WHERE version_id = $1 AND name LIKE $2"
                              " ESCAPE '\\' ORDER BY name LIMIT 50",
                              version, like, e);
        else if (strcmp(f, "label") == 0)
            rc = suggest_rows(c, w,
                              "SELECT name FROM label WHERE version_id = $1 AND name LIKE $2 ESCAPE '\\'"
                              " ORDER BY name LIMIT 50",
                              version, like, e);
        else if (strcmp(f, "author") == 0)
            rc = suggest_rows(c, w,
                              "SELECT DISTINCT u.username FROM annotation an JOIN app_user u ON"
                              " u.id = an.author WHERE an.version_id = $1 AND u.username LIKE $2"
                              " ESCAPE '\\' ORDER BY 1 LIMIT 50",
                              version, like, e);
        else if (strcmp(f, "data.tag") == 0)
            rc = suggest_rows(c, w,
                              "SELECT name FROM tag WHERE datalake_id = $1 AND name LIKE $2 ESCAPE '\\'"
                              " ORDER BY name LIMIT 50",
                              v.lake, like, e);
        else if (strcmp(f, "status") == 0) {
            static const char *const sts[] = {"pending", "accepted", "rejected", "skipped", "null"};
            for (size_t i = 0; i < ARRAY_LEN(sts); i++)
                if (str_has_prefix(sts[i], comp.prefix))
                    query_complete_json_suggest(w, sts[i], "value", NULL);
        }
    }
    query_complete_json_end(w, &comp);
    return rc;
}

/* --- the versions that use a datalake item ---------------------------------------------------- */

int dataset_versions_of_data(db_conn *c, int64_t org, int64_t data, jw *w, err *e)
{
    int64_t one;
    if (db_one_i64(c, e, &one,
                   "SELECT 1 FROM data d JOIN datalake l ON l.id = d.datalake_id"
                   " WHERE d.id = $1 AND l.org_id = $2",
                   DBI(data), DBI(org))) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "no datalake item %lld in this organization", (long long)data);
        return -1;
    }
    db_stmt *s = db_query(c, e,
                          "SELECT ds.id, ds.name, v.id, v.name, v.locked, a.id, an.status,"
                          " COALESCE(an.shape_count, 0) FROM asset a"
                          " JOIN dataset_version v ON v.id = a.version_id"
                          " JOIN dataset ds ON ds.id = v.dataset_id"
                          " LEFT JOIN annotation an ON an.asset_id = a.id"
                          " WHERE a.data_id = $1 AND ds.org_id = $2 ORDER BY ds.name, v.id LIMIT $3",
                          DBI(data), DBI(org), DBI(DATASET_USES_MAX));
    if (!s)
        return -1;
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kint(w, "dataset_id", db_col_i64(s, 0));
        jw_kstr(w, "dataset", db_col_text(s, 1));
        jw_kint(w, "version_id", db_col_i64(s, 2));
        jw_kstr(w, "version", db_col_text(s, 3));
        jw_kbool(w, "locked", db_col_i64(s, 4) != 0);
        jw_kint(w, "asset_id", db_col_i64(s, 5));
        if (db_col_null(s, 6)) {
            jw_key(w, "status");
            jw_null(w);
        } else {
            jw_kstr(w, "status", db_col_text(s, 6));
        }
        jw_kint(w, "objects", db_col_i64(s, 7));
        jw_obj_end(w);
    }
    db_done(s);
    jw_arr_end(w);
    jw_key(w, "next_cursor");
    jw_null(w);
    jw_obj_end(w);
    return rc < 0 ? -1 : 0;
}
