/*
 * processing.c - runs: launching a processing (a job and its run row), the
 * run listings, what a running command reports through the API, and the
 * outputs of custom runs: staged while the command runs, committed in one
 * transaction when it succeeds, dropped when it does not.
 *
 * Tables (migration 60):
 *   processing         custom definitions (org, name, version, manifest)
 *   processing_run     one per job: what was launched on what, with which
 *                      parameters and resources; its output byte count
 *   processing_file    files uploaded for a run (blobs not yet referenced
 *                      by the organization: unreadable until committed);
 *                      images carry their prepared datalake item
 *   processing_output  output documents: staged, then committed with the id
 *                      of what they became
 *   processing_event   progress and log lines sent through the API, relayed
 *                      into the job by the worker running it (so the job's
 *                      log keeps one writer and one sequence)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "datalake/datalake.h"
#include "dataset/dataset.h"
#include "experiment/experiment.h"
#include "files/files.h"
#include "processing/internal.h"
#include "registry/registry.h"

const char proc_schema_v60[] =
    "CREATE TABLE processing (id {{ID}}, org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, version INTEGER NOT NULL, description TEXT, target TEXT NOT NULL,"
    " manifest {{JSON}} NOT NULL, archived INTEGER NOT NULL DEFAULT 0, created_by BIGINT,"
    " created_at BIGINT NOT NULL, UNIQUE (org_id, name, version));"
    "CREATE TABLE processing_run (job_id BIGINT PRIMARY KEY REFERENCES job(id) ON DELETE CASCADE,"
    " org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE, name TEXT NOT NULL,"
    " version INTEGER NOT NULL, builtin INTEGER NOT NULL, target_kind TEXT NOT NULL,"
    " target_id BIGINT NOT NULL, input {{JSON}} NOT NULL, params {{JSON}} NOT NULL,"
    " resources {{JSON}} NOT NULL, manifest {{JSON}}, query TEXT,"
    " output_bytes BIGINT NOT NULL DEFAULT 0, output_limit BIGINT NOT NULL,"
    " output_refused INTEGER NOT NULL DEFAULT 0, created_by BIGINT, created_at BIGINT NOT NULL);"
    "CREATE INDEX processing_run_org ON processing_run (org_id, job_id);"
    "CREATE INDEX processing_run_name ON processing_run (org_id, name, job_id);"
    "CREATE TABLE processing_file (job_id BIGINT NOT NULL REFERENCES processing_run(job_id)"
    " ON DELETE CASCADE, sha256 TEXT NOT NULL, size BIGINT NOT NULL, filename TEXT, item {{JSON}},"
    " note TEXT, created_at BIGINT NOT NULL, PRIMARY KEY (job_id, sha256));"
    "CREATE TABLE processing_output (id {{ID}}, job_id BIGINT NOT NULL REFERENCES"
    " processing_run(job_id) ON DELETE CASCADE, type TEXT NOT NULL, doc {{JSON}} NOT NULL,"
    " bytes BIGINT NOT NULL, state TEXT NOT NULL, ref_kind TEXT, ref_id BIGINT,"
    " created_at BIGINT NOT NULL);"
    "CREATE INDEX processing_output_job ON processing_output (job_id, id);"
    "CREATE TABLE processing_event (id {{ID}}, job_id BIGINT NOT NULL REFERENCES"
    " processing_run(job_id) ON DELETE CASCADE, progress DOUBLE PRECISION, text TEXT,"
    " created_at BIGINT NOT NULL);"
    "CREATE INDEX processing_event_job ON processing_event (job_id, id);";

/* --- helpers ------------------------------------------------------------------------- */

json_t *proc_json_of(db_conn *c, proc_writer_fn fn, int64_t org, int64_t id, err *e)
{
    sbuf b = {0};
    jw w;
    jw_init(&w, &b);
    if (fn(c, org, id, &w, e) != 0) {
        sbuf_free(&b);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(b.p ? b.p : "", b.len, 0, &je);
    sbuf_free(&b);
    if (!j)
        err_set(e, ERR_INTERNAL, "cannot read back a module's JSON: %s", je.text);
    return j;
}

json_t *proc_item_to_json(const datalake_item *it)
{
    char ph[20], dh[20];
    snprintf(ph, sizeof ph, "%016llx", (unsigned long long)it->phash);
    snprintf(dh, sizeof dh, "%016llx", (unsigned long long)it->dhash);
    json_t *j = json_pack("{s:s, s:I, s:s, s:i, s:i, s:i, s:i, s:s, s:s, s:I, s:s, s:s, s:s}",
                          "sha256", it->sha, "size", (json_int_t)it->size, "format", it->format,
                          "width", (int)it->width, "height", (int)it->height, "channels",
                          (int)it->channels, "orientation", it->orientation, "make", it->make,
                          "model", it->model, "taken_at", (json_int_t)it->taken_at, "phash", ph,
                          "dhash", dh, "thumb", it->thumb_sha);
    if (it->has_gps) {
        json_object_set_new(j, "latitude", json_real(it->latitude));
        json_object_set_new(j, "longitude", json_real(it->longitude));
    }
    if (it->has_altitude)
        json_object_set_new(j, "altitude", json_real(it->altitude));
    if (it->focal_length > 0)
        json_object_set_new(j, "focal_length", json_real(it->focal_length));
    json_object_set_new(j, "exif", json_string(it->exif_json ? it->exif_json : "{}"));
    return j;
}

int proc_item_from_json(json_t *j, datalake_item *it, err *e)
{
    memset(it, 0, sizeof *it);
    const char *sha = json_string_value(json_object_get(j, "sha256"));
    const char *thumb = json_string_value(json_object_get(j, "thumb"));
    const char *fmt = json_string_value(json_object_get(j, "format"));
    if (!sha || !thumb || !fmt || !is_sha256_hex(sha))
        return err_set(e, ERR_INTERNAL, "a staged image lost its description");
    snprintf(it->sha, sizeof it->sha, "%s", sha);
    snprintf(it->thumb_sha, sizeof it->thumb_sha, "%s", thumb);
    snprintf(it->format, sizeof it->format, "%s", fmt);
    it->size = json_integer_value(json_object_get(j, "size"));
    it->width = (uint32_t)json_integer_value(json_object_get(j, "width"));
    it->height = (uint32_t)json_integer_value(json_object_get(j, "height"));
    it->channels = (uint32_t)json_integer_value(json_object_get(j, "channels"));
    it->orientation = (int)json_integer_value(json_object_get(j, "orientation"));
    snprintf(it->make, sizeof it->make, "%s",
             json_string_value(json_object_get(j, "make")) ? json_string_value(json_object_get(j, "make")) : "");
    snprintf(it->model, sizeof it->model, "%s",
             json_string_value(json_object_get(j, "model")) ? json_string_value(json_object_get(j, "model")) : "");
    it->taken_at = json_integer_value(json_object_get(j, "taken_at"));
    it->phash = strtoull(json_string_value(json_object_get(j, "phash")) ? json_string_value(json_object_get(j, "phash")) : "0", NULL, 16);
    it->dhash = strtoull(json_string_value(json_object_get(j, "dhash")) ? json_string_value(json_object_get(j, "dhash")) : "0", NULL, 16);
    json_t *v;
    if ((v = json_object_get(j, "latitude")) != NULL) {
        it->has_gps = true;
        it->latitude = json_number_value(v);
        it->longitude = json_number_value(json_object_get(j, "longitude"));
    }
    if ((v = json_object_get(j, "altitude")) != NULL) {
        it->has_altitude = true;
        it->altitude = json_number_value(v);
    }
    if ((v = json_object_get(j, "focal_length")) != NULL)
        it->focal_length = json_number_value(v);
    const char *ex = json_string_value(json_object_get(j, "exif"));
    it->exif_json = strdup(ex ? ex : "{}");
    return 0;
}

int proc_upload_commit(blob_store *bs, blob_writer *w, uint64_t max_pixels, blob_ref *ref,
                       char **item_json, char *note, size_t note_n, err *e)
{
    *item_json = NULL;
    note[0] = 0;
    size_t hn = 0;
    const unsigned char *head = blob_writer_head(w, &hn);
    image_info info;
    err pe;
    image_limits lim = {.max_pixels = max_pixels};
    if (image_probe_ex(head, hn, &lim, &info, &pe) != 0) {
        snprintf(note, note_n, "not an image the datalake accepts: %s", pe.msg);
        return blob_writer_commit(w, NULL, ref, e);
    }
    datalake_item it;
    datalake_limits dl = {.max_pixels = max_pixels};
    if (datalake_prepare(bs, w, &dl, &it, e) != 0)
        return -1;
    memset(ref, 0, sizeof *ref);
    snprintf(ref->sha, sizeof ref->sha, "%s", it.sha);
    ref->size = it.size;
    json_t *j = proc_item_to_json(&it);
    *item_json = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    datalake_item_free(&it);
    return 0;
}

/* --- targets --------------------------------------------------------------------------- */

static int kind_id(json_t *on, const char **kind, int64_t *id, char *buf, size_t n, err *e)
{
    if (json_is_string(on)) {
        const char *s = json_string_value(on);
        const char *colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= n)
            return err_set(e, ERR_INVALID, "'on' must look like dataset-version:12 (a target kind "
                                           "and an id)");
        memcpy(buf, s, (size_t)(colon - s));
        buf[colon - s] = 0;
        *kind = buf;
        return parse_i64("the id in 'on'", colon + 1, 1, INT64_MAX, id, e);
    }
    if (json_is_object(on)) {
        static const char *const f[] = {"kind", "id", NULL};
        if (jv_only(on, f, e) || jv_str(on, "kind", JV_REQUIRED, 32, kind, e) ||
            jv_i64(on, "id", JV_REQUIRED, 1, INT64_MAX, id, e))
            return err_prefix(e, "on: ");
        return 0;
    }
    return err_set(e, ERR_INVALID, "'on' is required: what to run on, as \"dataset-version:12\" "
                                   "or {\"kind\": \"dataset-version\", \"id\": 12}");
}

static void copy_field(json_t *to, json_t *from, const char *k)
{
    json_t *v = json_object_get(from, k);
    if (v)
        json_object_set(to, k, v);
}

int proc_target_input(db_conn *c, int64_t org, const char *kind, int64_t id, json_t **input,
                      err *e)
{
    *input = NULL;
    json_t *in = json_pack("{s:s, s:I}", "kind", kind, "id", (json_int_t)id);
    json_t *doc = NULL;
    if (strcmp(kind, "datalake") == 0) {
        doc = proc_json_of(c, datalake_write, org, id, e);
        if (!doc)
            goto fail;
        copy_field(in, doc, "name");
        json_object_set_new(in, "datalake_id", json_integer(id));
    } else if (strcmp(kind, "dataset-version") == 0) {
        doc = proc_json_of(c, dataset_version_write, org, id, e);
        if (!doc)
            goto fail;
        int64_t ds = json_integer_value(json_object_get(doc, "dataset_id"));
        json_t *dsd = proc_json_of(c, dataset_write, org, ds, e);
        if (!dsd)
            goto fail;
        copy_field(in, doc, "name");
        copy_field(in, doc, "dataset_id");
        copy_field(in, doc, "dataset");
        copy_field(in, doc, "task");
        copy_field(in, doc, "locked");
        copy_field(in, dsd, "datalake_id");
        json_decref(dsd);
    } else if (strcmp(kind, "model-version") == 0) {
        doc = proc_json_of(c, reg_version_write, org, id, e);
        if (!doc)
            goto fail;
        copy_field(in, doc, "model_id");
        copy_field(in, doc, "model");
        copy_field(in, doc, "version");
        copy_field(in, doc, "labels");
        copy_field(in, doc, "framework");
        copy_field(in, doc, "files");
    } else if (strcmp(kind, "experiment") == 0) {
        doc = proc_json_of(c, exp_write, org, id, e);
        if (!doc)
            goto fail;
        copy_field(in, doc, "name");
        copy_field(in, doc, "project_id");
        copy_field(in, doc, "params");
        copy_field(in, doc, "datasets");
    } else {
        err_set(e, ERR_INVALID, "target kind '%.40s' is not one of datalake, dataset-version, "
                                "model-version, experiment", kind);
        goto fail;
    }
    json_decref(doc);
    *input = in;
    return 0;
fail:
    json_decref(doc);
    json_decref(in);
    return -1;
}

/* --- launching ---------------------------------------------------------------------------- */

int proc_launch(db_conn *c, int64_t org, int64_t user, const char *name, json_t *req, int64_t *job,
                err *e)
{
    static const char *const fields[] = {"on", "params", "version", "resources", "requires",
                                         "query", NULL};
    json_t *empty = NULL;
    if (!req)
        req = empty = json_object();
    const char *kind = NULL, *qtext = NULL, *extra_req = NULL;
    int64_t id = 0, version = 0;
    char kbuf[40];
    proc_def def = {0};
    json_t *input = NULL, *params = NULL, *payload = NULL;
    int rc = -1;
    if (jv_is_obj(req, e) || jv_only(req, fields, e) ||
        jv_i64(req, "version", JV_OPTIONAL, 1, INT32_MAX, &version, e) ||
        jv_str(req, "query", JV_OPTIONAL, 4000, &qtext, e) ||
        jv_str(req, "requires", JV_OPTIONAL, JOBS_REQUIRES_MAX, &extra_req, e) ||
        kind_id(json_object_get(req, "on"), &kind, &id, kbuf, sizeof kbuf, e))
        goto out;
    if (proc_def_load(c, org, name, version, &def, e))
        goto out;
    if (!proc_target_valid(kind)) {
        err_set(e, ERR_INVALID, "target kind '%.40s' is not one of datalake, dataset-version, "
                                "model-version, experiment", kind);
        goto out;
    }
    if (!proc_def_accepts(&def, kind)) {
        err_set(e, ERR_INVALID, "processing '%s' runs on a %s, not on a %s", def.name, def.target,
                kind);
        goto out;
    }
    if (proc_target_input(c, org, kind, id, &input, e))
        goto out;
    if (qtext && *qtext)
        json_object_set_new(input, "query", json_string(qtext));
    if (proc_params_check(def.params, json_object_get(req, "params"), &params, e))
        goto out;
    proc_resources res = def.res;
    if (proc_resources_parse(json_object_get(req, "resources"), &res, e))
        goto out;
    char requires[2 * JOBS_REQUIRES_MAX + 2];
    snprintf(requires, sizeof requires, "%s%s%s", def.requires,
             def.requires[0] && extra_req && *extra_req ? "," : "", extra_req ? extra_req : "");
    jobs_label l[JOBS_LABELS_MAX];
    int nl;
    if (strlen(requires) > JOBS_REQUIRES_MAX) {
        err_set(e, ERR_TOO_LARGE, "requires is longer than %d bytes", JOBS_REQUIRES_MAX);
        goto out;
    }
    if (jobs_labels_parse(requires, l, JOBS_LABELS_MAX, &nl, e)) {
        err_prefix(e, "requires: ");
        goto out;
    }
    char jkind[80];
    snprintf(jkind, sizeof jkind, "processing.%s", def.builtin ? def.name : "custom");
    payload = json_pack("{s:s, s:I, s:{s:s, s:I}, s:O}", "processing", def.name, "version",
                        (json_int_t)def.version, "on", "kind", kind, "id", (json_int_t)id,
                        "params", params);
    char *ptext = json_dumps(payload, JSON_COMPACT);
    char *itext = json_dumps(input, JSON_COMPACT);
    char *prm = json_dumps(params, JSON_COMPACT);
    json_t *rj = proc_resources_json(&res);
    char *rtext = json_dumps(rj, JSON_COMPACT);
    json_decref(rj);
    char *mtext = def.builtin ? NULL : json_dumps(def.doc, JSON_COMPACT);
    if (db_begin(c, e) == 0) {
        if (jobs_submit(c, org, jkind, ptext, user, 2, job, e) == 0 &&
            jobs_set_requires(c, *job, requires, e) == 0 &&
            db_run(c, e,
                   "INSERT INTO processing_run (job_id, org_id, name, version, builtin, target_kind,"
                   " target_id, input, params, resources, manifest, query, output_limit, created_by,"
                   " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                   DBI(*job), DBI(org), DBT(def.name), DBI(def.version), DBI(def.builtin ? 1 : 0),
                   DBT(kind), DBI(id), DBT(itext), DBT(prm), DBT(rtext), DBT(mtext),
                   DBT(qtext && *qtext ? qtext : NULL), DBI(res.output_mb * 1024 * 1024),
                   user ? DBI(user) : DBNULL, DBI(time_now_ms())) == 1)
            rc = db_commit(c, e);
        else
            db_rollback(c);
    }
    free(ptext);
    free(itext);
    free(prm);
    free(rtext);
    free(mtext);
out:
    proc_def_free(&def);
    json_decref(input);
    json_decref(params);
    json_decref(payload);
    json_decref(empty);
    return rc;
}

/* --- runs -------------------------------------------------------------------------------------- */

int proc_run_load(db_conn *c, int64_t job, proc_run *r, err *e)
{
    memset(r, 0, sizeof *r);
    db_stmt *s = db_query(c, e,
                          "SELECT org_id, created_by, name, version, builtin, target_kind, target_id,"
                          " input, params, resources, manifest, query FROM processing_run"
                          " WHERE job_id = $1",
                          DBI(job));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        json_error_t je;
        r->job = job;
        r->org = db_col_i64(s, 0);
        r->user = db_col_null(s, 1) ? 0 : db_col_i64(s, 1);
        snprintf(r->name, sizeof r->name, "%s", db_col_text(s, 2));
        r->version = db_col_i64(s, 3);
        r->builtin = db_col_i64(s, 4) != 0;
        snprintf(r->target_kind, sizeof r->target_kind, "%s", db_col_text(s, 5));
        r->target_id = db_col_i64(s, 6);
        r->input = json_loads(db_col_text(s, 7), 0, &je);
        r->params = json_loads(db_col_text(s, 8), 0, &je);
        json_t *res = json_loads(db_col_text(s, 9), 0, &je);
        r->res = (proc_resources){.threads = 1, .timeout_s = 3600, .kill_grace_s = 5};
        err ig;
        proc_resources_parse(res, &r->res, &ig);
        json_decref(res);
        if (!db_col_null(s, 10))
            r->manifest = json_loads(db_col_text(s, 10), 0, &je);
        if (!db_col_null(s, 11))
            snprintf(r->query, sizeof r->query, "%s", db_col_text(s, 11));
    }
    db_done(s);
    if (rc < 0)
        return -1;
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "job %lld is not a processing run", (long long)job);
    if (!json_is_object(r->params))
        r->params = json_object();
    if (!json_is_object(r->input))
        r->input = json_object();
    return 0;
}

void proc_run_free(proc_run *r)
{
    json_decref(r->input);
    json_decref(r->params);
    json_decref(r->manifest);
    memset(r, 0, sizeof *r);
}

#define RUN_COLS                                                                                   \
    "r.job_id, r.name, r.version, r.builtin, r.target_kind, r.target_id, r.input, r.params,"      \
    " r.resources, r.query, r.output_bytes, r.output_limit, r.created_by, r.created_at, j.state,"  \
    " j.progress, j.message, j.error, j.result, j.started_at, j.finished_at, j.requires, j.kind,"  \
    " j.worker"

static void ts_or_null(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    if (db_col_null(s, col)) {
        jw_null(w);
        return;
    }
    char ts[32];
    time_fmt_iso(db_col_i64(s, col), ts, sizeof ts);
    jw_str(w, ts);
}

static void raw_or_null(jw *w, const char *k, db_stmt *s, int col)
{
    jw_key(w, k);
    const char *v = db_col_text(s, col);
    if (v)
        jw_raw(w, v, db_col_len(s, col));
    else
        jw_null(w);
}

static void write_run(jw *w, db_stmt *s)
{
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kint(w, "job_id", db_col_i64(s, 0));
    jw_key(w, "processing");
    jw_obj(w);
    jw_kstr(w, "name", db_col_text(s, 1));
    jw_kint(w, "version", db_col_i64(s, 2));
    jw_kbool(w, "builtin", db_col_i64(s, 3) != 0);
    jw_obj_end(w);
    jw_key(w, "on");
    jw_obj(w);
    jw_kstr(w, "kind", db_col_text(s, 4));
    jw_kint(w, "id", db_col_i64(s, 5));
    jw_obj_end(w);
    raw_or_null(w, "input", s, 6);
    raw_or_null(w, "params", s, 7);
    raw_or_null(w, "resources", s, 8);
    jw_kstr(w, "query", db_col_text(s, 9));
    jw_kint(w, "output_bytes", db_col_i64(s, 10));
    jw_kint(w, "output_limit", db_col_i64(s, 11));
    jw_key(w, "created_by");
    if (db_col_null(s, 12))
        jw_null(w);
    else
        jw_int(w, db_col_i64(s, 12));
    ts_or_null(w, "created_at", s, 13);
    jw_kstr(w, "state", db_col_text(s, 14));
    jw_kdbl(w, "progress", db_col_dbl(s, 15));
    jw_kstr(w, "message", db_col_text(s, 16));
    jw_kstr(w, "error", db_col_text(s, 17));
    raw_or_null(w, "result", s, 18);
    ts_or_null(w, "started_at", s, 19);
    ts_or_null(w, "finished_at", s, 20);
    jw_kstr(w, "requires", db_col_text(s, 21));
    jw_kstr(w, "job_kind", db_col_text(s, 22));
    jw_kstr(w, "worker", db_col_text(s, 23));
}

int proc_runs_list(db_conn *c, int64_t org, const char *name, int64_t limit, int64_t before,
                   jw *w, int64_t *next, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT " RUN_COLS " FROM processing_run r JOIN job j ON j.id = r.job_id"
                          " WHERE r.org_id = $1 AND r.job_id < $2 AND ($3 = '' OR r.name = $3)"
                          " ORDER BY r.job_id DESC LIMIT $4",
                          DBI(org), DBI(before > 0 ? before : INT64_MAX), DBT(name ? name : ""),
                          DBI(limit + 1));
    if (!s)
        return -1;
    int rc, n = 0;
    int64_t last = 0;
    *next = 0;
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        if (n == limit) {
            *next = last;
            break;
        }
        last = db_col_i64(s, 0);
        write_run(w, s);
        jw_obj_end(w);
        n++;
    }
    jw_arr_end(w);
    jw_key(w, "next_cursor");
    if (*next)
        jw_int(w, *next);
    else
        jw_null(w);
    jw_obj_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int proc_run_write(db_conn *c, int64_t org, int64_t job, jw *w, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT " RUN_COLS " FROM processing_run r JOIN job j ON j.id = r.job_id"
                          " WHERE r.org_id = $1 AND r.job_id = $2",
                          DBI(org), DBI(job));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        write_run(w, s);
    db_done(s);
    if (rc < 0)
        return -1;
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "no processing run %lld in this organization",
                       (long long)job);
    jw_key(w, "outputs");
    if (proc_outputs_list(c, org, job, w, e))
        return -1;
    jw_obj_end(w);
    return 0;
}

/* --- reports from a running command --------------------------------------------------------------- */

/* ERR_NOT_FOUND unless a run of org; ERR_CONFLICT unless running. */
static int run_running(db_conn *c, int64_t org, int64_t job, bool custom_only, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT j.state, r.builtin FROM processing_run r JOIN job j ON j.id = r.job_id"
                          " WHERE r.job_id = $1 AND r.org_id = $2",
                          DBI(job), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    char state[16] = "";
    bool builtin = false;
    if (rc == DB_ROW) {
        snprintf(state, sizeof state, "%s", db_col_text(s, 0));
        builtin = db_col_i64(s, 1) != 0;
    }
    db_done(s);
    if (rc < 0)
        return -1;
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "no processing run %lld in this organization",
                       (long long)job);
    if (custom_only && builtin)
        return err_set(e, ERR_CONFLICT, "run %lld is a built-in processing; only custom runs "
                                        "take reports and outputs", (long long)job);
    if (strcmp(state, "running") != 0)
        return err_set(e, ERR_CONFLICT, "run %lld is %s, not running; reports and outputs are "
                                        "only taken while it runs", (long long)job, state);
    return 0;
}

int proc_report_progress(db_conn *c, int64_t org, int64_t job, double fraction,
                         const char *message, err *e)
{
    if (!isfinite(fraction) || fraction < 0 || fraction > 1)
        return err_set(e, ERR_INVALID, "progress must be a number between 0 and 1");
    if (run_running(c, org, job, true, e))
        return -1;
    return db_run(c, e,
                  "INSERT INTO processing_event (job_id, progress, text, created_at) VALUES ($1, $2, $3, $4)",
                  DBI(job), DBD(fraction), DBT(message ? message : ""), DBI(time_now_ms())) < 0
               ? -1
               : 0;
}

int proc_report_log(db_conn *c, int64_t org, int64_t job, json_t *lines, err *e)
{
    if (!json_is_array(lines) || json_array_size(lines) == 0 ||
        json_array_size(lines) > PROC_LOG_LINES_MAX)
        return err_set(e, ERR_INVALID, "lines must be an array of 1 to %d strings",
                       PROC_LOG_LINES_MAX);
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) if (!json_is_string(l) || json_string_length(l) > JOB_LOG_LINE_MAX) return err_set(
        e, ERR_INVALID, "lines[%zu] must be a string of at most %d bytes", i, JOB_LOG_LINE_MAX);
    if (run_running(c, org, job, true, e) || db_begin(c, e))
        return -1;
    int64_t now = time_now_ms();
    json_array_foreach(lines, i, l)
    {
        if (db_run(c, e,
                   "INSERT INTO processing_event (job_id, progress, text, created_at) VALUES ($1, NULL, $2, $3)",
                   DBI(job), DBT(json_string_value(l)), DBI(now)) < 0) {
            db_rollback(c);
            return -1;
        }
    }
    return db_commit(c, e);
}

/* --- staging outputs --------------------------------------------------------------------------------- */

int proc_output_budget(db_conn *c, int64_t org, int64_t job, int64_t *left, err *e)
{
    if (run_running(c, org, job, true, e))
        return -1;
    return db_one_i64(c, e, left,
                      "SELECT output_limit - output_bytes FROM processing_run WHERE job_id = $1",
                      DBI(job));
}

void proc_output_refused(db_conn *c, int64_t job)
{
    err e;
    db_run(c, &e, "UPDATE processing_run SET output_refused = 1 WHERE job_id = $1", DBI(job));
}

bool proc_output_was_refused(db_conn *c, int64_t job)
{
    err e;
    int64_t n = 0;
    db_one_i64(c, &e, &n, "SELECT output_refused FROM processing_run WHERE job_id = $1", DBI(job));
    return n != 0;
}

int proc_output_count(db_conn *c, int64_t job, int64_t bytes, err *e)
{
    int64_t n = db_run(c, e,
                       "UPDATE processing_run SET output_bytes = output_bytes + $2 WHERE job_id = $1"
                       " AND output_bytes + $2 <= output_limit",
                       DBI(job), DBI(bytes));
    if (n < 0)
        return -1;
    if (n == 0) {
        int64_t limit = 0, used = 0;
        err ig;
        db_one_i64(c, &ig, &limit, "SELECT output_limit FROM processing_run WHERE job_id = $1", DBI(job));
        db_one_i64(c, &ig, &used, "SELECT output_bytes FROM processing_run WHERE job_id = $1", DBI(job));
        proc_output_refused(c, job);
        return err_set(e, ERR_TOO_LARGE,
                       "the outputs of run %lld would exceed its limit of %lld MB (%lld bytes "
                       "registered, %lld more asked; resources.output_mb)",
                       (long long)job, (long long)(limit / (1024 * 1024)), (long long)used,
                       (long long)bytes);
    }
    return 0;
}

int proc_file_add(db_conn *c, int64_t org, int64_t job, const char *sha, int64_t size,
                  const char *filename, const char *item_json, const char *note, err *e)
{
    if (run_running(c, org, job, true, e) || db_begin(c, e))
        return -1;
    int64_t have = 0;
    if (db_one_i64(c, e, &have, "SELECT COUNT(*) FROM processing_file WHERE job_id = $1 AND sha256 = $2",
                   DBI(job), DBT(sha)))
        goto fail;
    if (have == 0) {
        if (proc_output_count(c, job, size, e))
            goto fail;
        if (db_run(c, e,
                   "INSERT INTO processing_file (job_id, sha256, size, filename, item, note, created_at)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                   DBI(job), DBT(sha), DBI(size), DBT(filename && *filename ? filename : NULL),
                   DBT(item_json), DBT(note && *note ? note : NULL), DBI(time_now_ms())) < 0)
            goto fail;
    }
    return db_commit(c, e);
fail:
    db_rollback(c);
    if (e->code == ERR_TOO_LARGE)
        proc_output_refused(c, job);
    return -1;
}

static const char *const out_types[] = {"data", "tags", "annotations", "dataset-version",
                                        "model-version", NULL};

static bool in_list_str(const char *s, const char *const *l)
{
    for (; *l; l++)
        if (strcmp(s, *l) == 0)
            return true;
    return false;
}

static bool str_list_ok(json_t *a, size_t max_items, size_t max_len)
{
    if (!a)
        return true;
    if (!json_is_array(a) || json_array_size(a) > max_items)
        return false;
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) if (!json_is_string(x) || json_string_length(x) == 0 ||
                                    json_string_length(x) > max_len) return false;
    return true;
}

static bool id_list_ok(json_t *a, size_t max_items)
{
    if (!a)
        return true;
    if (!json_is_array(a) || json_array_size(a) > max_items)
        return false;
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) if (!json_is_integer(x) || json_integer_value(x) <= 0) return false;
    return true;
}

static bool sha_list_ok(json_t *a, size_t max_items)
{
    if (!a)
        return true;
    if (!json_is_array(a) || json_array_size(a) > max_items)
        return false;
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) if (!json_is_string(x) || !is_sha256_hex(json_string_value(x))) return false;
    return true;
}

/* A file of the run: its size and, for images, its prepared item. */
static int run_file(db_conn *c, int64_t job, const char *sha, int64_t *size, json_t **item,
                    char *note, size_t nn, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT size, item, note FROM processing_file WHERE job_id = $1 AND sha256 = $2",
                          DBI(job), DBT(sha));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        *size = db_col_i64(s, 0);
        if (item) {
            json_error_t je;
            *item = db_col_null(s, 1) ? NULL : json_loads(db_col_text(s, 1), 0, &je);
        }
        if (note)
            snprintf(note, nn, "%s", db_col_text(s, 2) ? db_col_text(s, 2) : "");
    }
    db_done(s);
    if (rc < 0)
        return -1;
    if (rc == DB_DONE)
        return err_set(e, ERR_INVALID,
                       "no file with sha256 %s was uploaded for run %lld; upload it with PUT "
                       "/api/v1/processing-runs/%lld/files first",
                       sha, (long long)job, (long long)job);
    return 0;
}

/* Checks an output document against its type and the run's input. */
static int output_check(db_conn *c, int64_t job, json_t *run_input, json_t *manifest, json_t *doc,
                        err *e)
{
    const char *type = json_string_value(json_object_get(doc, "type"));
    if (!type || !in_list_str(type, out_types))
        return err_set(e, ERR_INVALID, "an output needs a 'type': data, tags, annotations, "
                                       "dataset-version or model-version");
    json_t *declared = json_object_get(manifest, "outputs");
    if (json_array_size(declared)) {
        bool ok = false;
        size_t i;
        json_t *d;
        json_array_foreach(declared, i, d) if (strcmp(json_string_value(d), type) == 0) ok = true;
        if (!ok)
            return err_set(e, ERR_INVALID, "this processing declares its outputs in its manifest, "
                                           "and '%s' is not among them", type);
    }
    const char *in_kind = json_string_value(json_object_get(run_input, "kind"));
    bool has_lake = json_object_get(run_input, "datalake_id") != NULL;
    bool on_version = in_kind && strcmp(in_kind, "dataset-version") == 0;
    if (strcmp(type, "data") == 0) {
        static const char *const f[] = {"type", "sha256", "filename", "tags", "meta", NULL};
        const char *sha = NULL, *fn = NULL;
        json_t *meta = NULL;
        if (jv_only(doc, f, e) || jv_str(doc, "sha256", JV_REQUIRED, 64, &sha, e) ||
            jv_str(doc, "filename", JV_OPTIONAL, DATALAKE_FILENAME_MAX, &fn, e) ||
            jv_obj(doc, "meta", JV_OPTIONAL, &meta, e))
            return -1;
        if (!has_lake)
            return err_set(e, ERR_INVALID, "data outputs go to the input's datalake; this run's "
                                           "input (%s) has none", in_kind);
        if (!str_list_ok(json_object_get(doc, "tags"), DATALAKE_TAGS_MAX, DATALAKE_TAG_LEN))
            return err_set(e, ERR_INVALID, "tags must be a list of at most %d tags",
                           DATALAKE_TAGS_MAX);
        if (meta && jv_size(meta) > DATALAKE_META_MAX)
            return err_set(e, ERR_TOO_LARGE, "meta must be at most %d bytes", DATALAKE_META_MAX);
        int64_t size;
        json_t *item = NULL;
        char note[300];
        if (run_file(c, job, sha, &size, &item, note, sizeof note, e))
            return -1;
        if (!item)
            return err_set(e, ERR_UNPROCESSABLE, "file %s cannot become a datalake item: %s", sha,
                           note[0] ? note : "not an image");
        json_decref(item);
        return 0;
    }
    if (strcmp(type, "tags") == 0) {
        static const char *const f[] = {"type", "data_ids", "sha256", "add", "remove", NULL};
        if (jv_only(doc, f, e))
            return -1;
        if (!has_lake)
            return err_set(e, ERR_INVALID, "tags are datalake tags; this run's input (%s) has no "
                                           "datalake", in_kind);
        if (!id_list_ok(json_object_get(doc, "data_ids"), DATALAKE_IDS_MAX) ||
            !sha_list_ok(json_object_get(doc, "sha256"), DATALAKE_IDS_MAX))
            return err_set(e, ERR_INVALID, "data_ids must be a list of item ids and sha256 a "
                                           "list of contents (at most %d)", DATALAKE_IDS_MAX);
        if (!str_list_ok(json_object_get(doc, "add"), DATALAKE_TAGS_MAX, DATALAKE_TAG_LEN) ||
            !str_list_ok(json_object_get(doc, "remove"), DATALAKE_TAGS_MAX, DATALAKE_TAG_LEN))
            return err_set(e, ERR_INVALID, "add and remove must be lists of at most %d tags",
                           DATALAKE_TAGS_MAX);
        if (!json_array_size(json_object_get(doc, "add")) &&
            !json_array_size(json_object_get(doc, "remove")))
            return err_set(e, ERR_INVALID, "a tags output needs tags to add or remove");
        return 0;
    }
    if (strcmp(type, "annotations") == 0) {
        static const char *const f[] = {"type", "annotations", "mode", NULL};
        json_t *an = NULL;
        const char *mode = NULL;
        if (jv_only(doc, f, e) || jv_arr(doc, "annotations", JV_REQUIRED, DATASET_BULK_MAX, &an, e) ||
            jv_str(doc, "mode", JV_OPTIONAL, 16, &mode, e))
            return -1;
        if (!on_version)
            return err_set(e, ERR_INVALID, "annotations go to the input dataset version; this "
                                           "run's input is a %s", in_kind);
        return 0;
    }
    if (strcmp(type, "dataset-version") == 0) {
        static const char *const f[] = {"type", "name", "description", "task", "from", "query",
                                        "labels", "data_ids", "sha256", "annotations", "mode",
                                        NULL};
        const char *name = NULL, *from = NULL, *desc = NULL, *task = NULL, *q = NULL, *mode = NULL;
        json_t *labels = NULL, *an = NULL;
        if (jv_only(doc, f, e) || jv_str(doc, "name", JV_REQUIRED, DATASET_NAME_MAX, &name, e) ||
            jv_str(doc, "description", JV_OPTIONAL, DATASET_DESC_MAX, &desc, e) ||
            jv_str(doc, "task", JV_OPTIONAL, 16, &task, e) ||
            jv_str(doc, "from", JV_OPTIONAL, 8, &from, e) ||
            jv_str(doc, "query", JV_OPTIONAL, 4000, &q, e) ||
            jv_str(doc, "mode", JV_OPTIONAL, 16, &mode, e) ||
            jv_arr(doc, "labels", JV_OPTIONAL, DATASET_LABELS_MAX, &labels, e) ||
            jv_arr(doc, "annotations", JV_OPTIONAL, DATASET_BULK_MAX, &an, e))
            return -1;
        if (!on_version)
            return err_set(e, ERR_INVALID, "a new dataset version is made in the input's dataset; "
                                           "this run's input is a %s", in_kind);
        if (from && strcmp(from, "input") != 0 && strcmp(from, "empty") != 0)
            return err_set(e, ERR_INVALID, "from must be 'input' (a fork of the input version) or "
                                           "'empty'");
        if (!id_list_ok(json_object_get(doc, "data_ids"), DATASET_IDS_MAX) ||
            !sha_list_ok(json_object_get(doc, "sha256"), DATASET_IDS_MAX))
            return err_set(e, ERR_INVALID, "data_ids must be a list of item ids and sha256 a "
                                           "list of contents");
        return 0;
    }
    /* model-version */
    static const char *const f[] = {"type", "model", "description", "framework", "labels",
                                    "params", "files", "from_experiment", NULL};
    json_t *files = NULL, *model = json_object_get(doc, "model");
    bool from_exp = false;
    if (jv_only(doc, f, e) || jv_arr(doc, "files", JV_OPTIONAL, REG_FILES_MAX, &files, e) ||
        jv_bool(doc, "from_experiment", JV_OPTIONAL, &from_exp, e))
        return -1;
    if (!json_is_string(model) && !json_is_integer(model))
        return err_set(e, ERR_INVALID, "model must be a model name (created if new) or id");
    if (from_exp && (!in_kind || strcmp(in_kind, "experiment") != 0))
        return err_set(e, ERR_INVALID, "from_experiment needs a run on an experiment");
    if (!from_exp && json_array_size(files) == 0)
        return err_set(e, ERR_INVALID, "a model version needs files: [{\"path\", \"sha256\"}] "
                                       "uploaded for the run, or from_experiment: true");
    size_t i;
    json_t *x;
    json_array_foreach(files, i, x)
    {
        if (from_exp) {
            if (!json_is_string(x))
                return err_set(e, ERR_INVALID, "files[%zu]: with from_experiment, files are "
                                               "artifact paths", i);
            continue;
        }
        const char *path = NULL, *sha = NULL;
        if (!json_is_object(x) || jv_str(x, "path", JV_REQUIRED, 1024, &path, e) ||
            jv_str(x, "sha256", JV_REQUIRED, 64, &sha, e)) {
            if (e->code == ERR_NONE)
                err_set(e, ERR_INVALID, "must be {\"path\", \"sha256\"}");
            return err_prefix(e, "files[%zu]: ", i);
        }
        int64_t size;
        if (run_file(c, job, sha, &size, NULL, NULL, 0, e))
            return err_prefix(e, "files[%zu]: ", i);
    }
    return 0;
}

static void write_output(jw *w, db_stmt *s)
{
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kstr(w, "type", db_col_text(s, 1));
    jw_kstr(w, "state", db_col_text(s, 2));
    jw_kint(w, "bytes", db_col_i64(s, 3));
    jw_key(w, "ref");
    if (db_col_null(s, 4)) {
        jw_null(w);
    } else {
        jw_obj(w);
        jw_kstr(w, "kind", db_col_text(s, 4));
        jw_kint(w, "id", db_col_i64(s, 5));
        jw_obj_end(w);
    }
    ts_or_null(w, "created_at", s, 6);
    jw_obj_end(w);
}

int proc_output_add(db_conn *c, int64_t org, int64_t job, json_t *doc, jw *w, err *e)
{
    if (!json_is_object(doc))
        return err_set(e, ERR_INVALID, "an output must be a JSON object with a 'type'");
    size_t bytes = jv_size(doc);
    if (bytes > PROC_OUTPUT_DOC_MAX)
        return err_set(e, ERR_TOO_LARGE, "an output document must be at most %d bytes",
                       PROC_OUTPUT_DOC_MAX);
    if (run_running(c, org, job, true, e))
        return -1;
    proc_run run;
    if (proc_run_load(c, job, &run, e))
        return -1;
    int rc = output_check(c, job, run.input, run.manifest, doc, e);
    proc_run_free(&run);
    if (rc)
        return -1;
    char *text = json_dumps(doc, JSON_COMPACT);
    if (db_begin(c, e)) {
        free(text);
        return -1;
    }
    int64_t id = 0;
    if (proc_output_count(c, job, (int64_t)bytes, e) ||
        db_one_i64(c, e, &id,
                   "INSERT INTO processing_output (job_id, type, doc, bytes, state, created_at)"
                   " VALUES ($1, $2, $3, $4, 'staged', $5) RETURNING id",
                   DBI(job), DBT(json_string_value(json_object_get(doc, "type"))), DBT(text),
                   DBI((int64_t)bytes), DBI(time_now_ms())) ||
        db_commit(c, e)) {
        db_rollback(c);
        free(text);
        if (e->code == ERR_TOO_LARGE)
            proc_output_refused(c, job);
        return -1;
    }
    free(text);
    if (!w)
        return 0;
    db_stmt *s = db_query(c, e,
                          "SELECT id, type, state, bytes, ref_kind, ref_id, created_at FROM"
                          " processing_output WHERE id = $1",
                          DBI(id));
    if (!s)
        return -1;
    rc = db_step(s, e);
    if (rc == DB_ROW)
        write_output(w, s);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int proc_outputs_list(db_conn *c, int64_t org, int64_t job, jw *w, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT o.id, o.type, o.state, o.bytes, o.ref_kind, o.ref_id, o.created_at"
                          " FROM processing_output o JOIN processing_run r ON r.job_id = o.job_id"
                          " WHERE o.job_id = $1 AND r.org_id = $2 ORDER BY o.id",
                          DBI(job), DBI(org));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW)
        write_output(w, s);
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int proc_staged_drop(db_conn *c, int64_t job, err *e)
{
    if (db_begin(c, e))
        return -1;
    if (db_run(c, e, "DELETE FROM processing_output WHERE job_id = $1 AND state = 'staged'", DBI(job)) < 0 ||
        db_run(c, e, "DELETE FROM processing_file WHERE job_id = $1", DBI(job)) < 0 ||
        db_run(c, e, "DELETE FROM processing_event WHERE job_id = $1", DBI(job)) < 0 ||
        db_run(c, e, "UPDATE processing_run SET output_bytes = 0, output_refused = 0 WHERE job_id = $1",
               DBI(job)) < 0) {
        db_rollback(c);
        return -1;
    }
    return db_commit(c, e);
}

/* --- committing the outputs of a custom run ---------------------------------------------------------- */

typedef struct committer {
    db_conn *c;
    const proc_env *env;
    const proc_run *run;
    int64_t lake, version;
    json_t *by_sha;  /* sha256 -> data id of this run's new items */
    json_t *outputs; /* the result list */
    char source[160];
} committer;

static int64_t sha_id(committer *m, const char *sha, err *e)
{
    json_t *v = json_object_get(m->by_sha, sha);
    if (v)
        return json_integer_value(v);
    int64_t id = 0;
    if (datalake_has(m->c, m->lake, sha, &id, e))
        return -1;
    if (!id) {
        err_set(e, ERR_INVALID, "no item of the datalake has the content %s (list it as a data "
                                "output first)", sha);
        return -1;
    }
    return id;
}

/* data_ids + sha256 -> one array of data ids */
static json_t *ids_of(committer *m, json_t *doc, err *e)
{
    json_t *ids = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(doc, "data_ids"), i, x) json_array_append(ids, x);
    json_array_foreach(json_object_get(doc, "sha256"), i, x)
    {
        int64_t id = sha_id(m, json_string_value(x), e);
        if (id < 0) {
            json_decref(ids);
            return NULL;
        }
        json_array_append_new(ids, json_integer(id));
    }
    return ids;
}

/* annotation items naming "sha256" are given the item's data_id */
static int resolve_annotations(committer *m, json_t *an, err *e)
{
    size_t i;
    json_t *a;
    json_array_foreach(an, i, a)
    {
        const char *sha = json_string_value(json_object_get(a, "sha256"));
        if (!sha)
            continue;
        int64_t id = sha_id(m, sha, e);
        if (id < 0)
            return err_prefix(e, "annotations[%zu]: ", i);
        json_object_del(a, "sha256");
        json_object_set_new(a, "data_id", json_integer(id));
    }
    return 0;
}

static int mark(committer *m, int64_t out_id, const char *kind, int64_t ref, err *e)
{
    return db_run(m->c, e,
                  "UPDATE processing_output SET state = 'committed', ref_kind = $2, ref_id = $3 WHERE id = $1",
                  DBI(out_id), DBT(kind), ref ? DBI(ref) : DBNULL) < 0
               ? -1
               : 0;
}

static int commit_data(committer *m, int64_t out_id, json_t *doc, err *e)
{
    const char *sha = json_string_value(json_object_get(doc, "sha256"));
    int64_t size;
    json_t *item = NULL;
    if (run_file(m->c, m->run->job, sha, &size, &item, NULL, 0, e))
        return -1;
    datalake_item it;
    int rc = proc_item_from_json(item, &it, e);
    json_decref(item);
    if (rc)
        return -1;
    const char *tags[DATALAKE_TAGS_MAX];
    int ntags = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(doc, "tags"), i, t) if (ntags < DATALAKE_TAGS_MAX)
        tags[ntags++] = json_string_value(t);
    json_t *meta = json_object_get(doc, "meta");
    char *mt = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    int64_t id = 0;
    bool dup = false;
    rc = datalake_insert(m->c, m->run->org, m->lake, &it,
                         json_string_value(json_object_get(doc, "filename")), m->source, mt, tags,
                         ntags, m->run->user, &id, &dup, e);
    free(mt);
    datalake_item_free(&it);
    if (rc)
        return -1;
    json_object_set_new(m->by_sha, sha, json_integer(id));
    json_array_append_new(m->outputs, json_pack("{s:s, s:I, s:s, s:b}", "type", "data", "id",
                                                (json_int_t)id, "sha256", sha, "existed", dup));
    return mark(m, out_id, "data", id, e);
}

static int commit_tags(committer *m, int64_t out_id, json_t *doc, err *e)
{
    json_t *ids = ids_of(m, doc, e);
    if (!ids)
        return -1;
    const char *add[DATALAKE_TAGS_MAX], *rem[DATALAKE_TAGS_MAX];
    int na = 0, nr = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(doc, "add"), i, t) add[na++] = json_string_value(t);
    json_array_foreach(json_object_get(doc, "remove"), i, t) rem[nr++] = json_string_value(t);
    datalake_sel sel = {.ids = ids};
    int64_t changed = 0;
    int rc = json_array_size(ids) ? datalake_tag(m->c, m->lake, &sel, add, na, rem, nr, &changed, e) : 0;
    json_decref(ids);
    if (rc)
        return -1;
    json_array_append_new(m->outputs,
                          json_pack("{s:s, s:I}", "type", "tags", "changed", (json_int_t)changed));
    return mark(m, out_id, "datalake", m->lake, e);
}

static int commit_annotations(committer *m, int64_t version, json_t *doc, int64_t *saved, err *e)
{
    json_t *an = json_object_get(doc, "annotations");
    if (!json_array_size(an))
        return 0;
    if (resolve_annotations(m, an, e))
        return -1;
    const char *mode = json_string_value(json_object_get(doc, "mode"));
    json_t *bulk = json_pack("{s:O, s:s}", "annotations", an, "mode", mode ? mode : "replace");
    int64_t shapes = 0;
    int rc = dataset_annotations_bulk(m->c, m->run->org, version, bulk, m->run->user, saved, &shapes, e);
    json_decref(bulk);
    return rc;
}

static int commit_version(committer *m, int64_t out_id, json_t *doc, err *e)
{
    const char *from = json_string_value(json_object_get(doc, "from"));
    bool empty = from && strcmp(from, "empty") == 0;
    const char *q = json_string_value(json_object_get(doc, "query"));
    dataset_fork_opts fo = {.name = json_string_value(json_object_get(doc, "name")),
                            .description = json_string_value(json_object_get(doc, "description")),
                            .task = json_string_value(json_object_get(doc, "task")),
                            .labels = true,
                            .annotations = !empty,
                            .tags = !empty,
                            .q = empty ? "id < 0" : (q && *q ? q : NULL)};
    int64_t nv = 0;
    if (dataset_version_fork(m->c, m->run->org, m->version, &fo, m->run->user, &nv, e))
        return -1;
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(doc, "labels"), i, l)
    {
        int64_t lid;
        err le;
        if (dataset_label_create(m->c, m->run->org, nv, l, &lid, &le) != 0 && le.code != ERR_CONFLICT) {
            *e = le;
            return err_prefix(e, "labels[%zu]: ", i);
        }
    }
    json_t *ids = ids_of(m, doc, e);
    if (!ids)
        return -1;
    int64_t added = 0, existing = 0;
    int rc = json_array_size(ids) ? dataset_assets_add(m->c, m->run->org, nv, ids, NULL, &added, &existing, e) : 0;
    json_decref(ids);
    if (rc)
        return -1;
    int64_t saved = 0;
    if (commit_annotations(m, nv, doc, &saved, e))
        return -1;
    json_array_append_new(m->outputs,
                          json_pack("{s:s, s:I, s:s, s:I, s:I}", "type", "dataset-version", "id",
                                    (json_int_t)nv, "name", fo.name, "assets_added",
                                    (json_int_t)added, "annotations", (json_int_t)saved));
    return mark(m, out_id, "dataset-version", nv, e);
}

static int commit_model(committer *m, int64_t out_id, json_t *doc, err *e)
{
    json_t *model = json_object_get(doc, "model");
    int64_t model_id = json_is_integer(model) ? json_integer_value(model) : 0;
    const char *model_name = json_string_value(model);
    int64_t vid = 0;
    if (json_is_true(json_object_get(doc, "from_experiment"))) {
        if (reg_publish_experiment(m->c, m->run->org, m->run->user, m->run->target_id, model_name,
                                   model_id, json_object_get(doc, "files"),
                                   json_object_get(doc, "labels"),
                                   json_string_value(json_object_get(doc, "framework")), &vid, e))
            return -1;
    } else {
        if (!model_id) {
            err fe;
            if (reg_model_find(m->c, m->run->org, model_name, &model_id, &fe) != 0) {
                json_t *body = json_pack("{s:s}", "name", model_name);
                int rc = reg_model_create(m->c, m->run->org, m->run->user, body, &model_id, e);
                json_decref(body);
                if (rc)
                    return -1;
            }
        }
        json_t *body = json_object();
        static const char *const keep[] = {"framework", "labels", "params", "description"};
        for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
            copy_field(body, doc, keep[i]);
        json_t *files = json_array(), *f;
        size_t i;
        json_array_foreach(json_object_get(doc, "files"), i, f)
        {
            const char *sha = json_string_value(json_object_get(f, "sha256"));
            int64_t size = 0;
            if (run_file(m->c, m->run->job, sha, &size, NULL, NULL, 0, e) ||
                files_ref(m->c, m->run->org, sha, size, e)) {
                json_decref(files);
                json_decref(body);
                return -1;
            }
            json_array_append_new(files, json_pack("{s:O, s:s}", "path", json_object_get(f, "path"),
                                                   "sha256", sha));
        }
        json_object_set_new(body, "files", files);
        int rc = reg_version_create(m->c, m->run->org, m->run->user, model_id, body, &vid, e);
        json_decref(body);
        if (rc)
            return -1;
    }
    json_array_append_new(m->outputs, json_pack("{s:s, s:I}", "type", "model-version", "id",
                                                (json_int_t)vid));
    return mark(m, out_id, "model-version", vid, e);
}

int proc_staged_commit(db_conn *c, const proc_env *env, const proc_run *run, json_t **result,
                       err *e)
{
    committer m = {.c = c, .env = env, .run = run, .by_sha = json_object(), .outputs = json_array()};
    m.lake = json_integer_value(json_object_get(run->input, "datalake_id"));
    if (strcmp(run->target_kind, "dataset-version") == 0)
        m.version = run->target_id;
    snprintf(m.source, sizeof m.source, "processing %s (job %lld)", run->name, (long long)run->job);
    *result = NULL;
    /* data first (later outputs may name new items by content), then the rest in order */
    db_stmt *s = db_query(c, e,
                          "SELECT id, type, doc FROM processing_output WHERE job_id = $1 AND state = 'staged'"
                          " ORDER BY CASE WHEN type = 'data' THEN 0 ELSE 1 END, id",
                          DBI(run->job));
    if (!s)
        goto fail0;
    json_t *list = json_array();
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        json_error_t je;
        json_t *doc = json_loads(db_col_text(s, 2), 0, &je);
        json_array_append_new(list, json_pack("{s:I, s:o}", "id", (json_int_t)db_col_i64(s, 0),
                                              "doc", doc ? doc : json_object()));
    }
    db_done(s);
    if (rc < 0) {
        json_decref(list);
        goto fail0;
    }
    if (db_begin(c, e)) {
        json_decref(list);
        goto fail0;
    }
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o)
    {
        int64_t oid = json_integer_value(json_object_get(o, "id"));
        json_t *doc = json_object_get(o, "doc");
        const char *type = json_string_value(json_object_get(doc, "type"));
        int r2;
        if (strcmp(type, "data") == 0)
            r2 = commit_data(&m, oid, doc, e);
        else if (strcmp(type, "tags") == 0)
            r2 = commit_tags(&m, oid, doc, e);
        else if (strcmp(type, "annotations") == 0) {
            int64_t saved = 0;
            r2 = commit_annotations(&m, m.version, doc, &saved, e);
            if (r2 == 0) {
                json_array_append_new(m.outputs, json_pack("{s:s, s:I, s:I}", "type", "annotations",
                                                           "version_id", (json_int_t)m.version,
                                                           "saved", (json_int_t)saved));
                r2 = mark(&m, oid, "dataset-version", m.version, e);
            }
        } else if (strcmp(type, "dataset-version") == 0)
            r2 = commit_version(&m, oid, doc, e);
        else
            r2 = commit_model(&m, oid, doc, e);
        if (r2) {
            err_prefix(e, "output %lld (%s): ", (long long)oid, type);
            db_rollback(c);
            json_decref(list);
            goto fail0;
        }
    }
    json_decref(list);
    if (db_run(c, e, "DELETE FROM processing_event WHERE job_id = $1", DBI(run->job)) < 0 ||
        db_commit(c, e)) {
        db_rollback(c);
        goto fail0;
    }
    json_decref(m.by_sha);
    *result = m.outputs;
    return 0;
fail0:
    json_decref(m.by_sha);
    json_decref(m.outputs);
    return -1;
}
