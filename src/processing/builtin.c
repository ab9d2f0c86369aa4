/*
 * builtin.c - what the built-in processings share: the job that runs one
 * (its run, definition, deadline and result), parameter getters, paging
 * through a version's assets, reading originals, and vbuild: writing a new
 * dataset version with new images in one transaction.
 *
 * vbuild keeps memory bounded whatever the size of the version: each new
 * image is prepared and its blobs stored as soon as it is made (blobs
 * nobody references are invisible), and its description and shapes are
 * spooled to a temporary file as one JSON line; the commit then reads the
 * spool back, 1000 lines at a time, inside one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "datalake/datalake.h"
#include "dataset/dataset.h"
#include "processing/internal.h"

/* --- the job ------------------------------------------------------------------------ */

bool proc_should_stop(proc_run_ctx *x, err *e)
{
    if (job_should_stop(x->job))
        return err_set(e, ERR_UNAVAILABLE, "stopped (canceled, or the worker is shutting down)"),
               true;
    if (x->deadline_ns && time_mono_ns() > x->deadline_ns)
        return err_set(e, ERR_UNPROCESSABLE, "timed out after %lld s (resources.timeout_s)",
                       (long long)x->run.res.timeout_s),
               true;
    return false;
}

int proc_builtin_run(job_ctx *j, const proc_env *env, err *e)
{
    proc_run_ctx x = {.job = j, .env = env};
    db_conn *c = db_get(env->db, e);
    if (!c)
        return -1;
    int rc = proc_run_load(c, job_id(j), &x.run, e);
    if (rc == 0)
        rc = proc_def_load(c, x.run.org, x.run.name, 1, &x.def, e);
    db_put(c);
    if (rc) {
        proc_run_free(&x.run);
        return -1;
    }
    if (!x.def.builtin) {
        proc_run_free(&x.run);
        proc_def_free(&x.def);
        return err_set(e, ERR_INTERNAL, "'%s' is not a built-in processing", x.run.name);
    }
    x.deadline_ns = time_mono_ns() + x.run.res.timeout_s * 1000000000LL;
    x.result = json_object();
    int64_t t0 = time_mono_ns();
    job_log(j, "%s on %s %lld", x.run.name, x.run.target_kind, (long long)x.run.target_id);
    rc = x.def.builtin->run(&x, e);
    if (rc == 0) {
        json_object_set_new(x.result, "duration_ms", json_integer((time_mono_ns() - t0) / 1000000));
        job_set_result(j, x.result);
        x.result = NULL;
    } else if (e->code == ERR_IO || e->code == ERR_UNAVAILABLE) {
        /* a retry would meet the same input: only the database or the
         * store being away is worth another attempt */
    }
    json_decref(x.result);
    proc_run_free(&x.run);
    proc_def_free(&x.def);
    return rc;
}

int64_t proc_pi(proc_run_ctx *x, const char *k)
{
    return json_integer_value(json_object_get(x->run.params, k));
}

double proc_pd(proc_run_ctx *x, const char *k)
{
    return json_number_value(json_object_get(x->run.params, k));
}

bool proc_pb(proc_run_ctx *x, const char *k) { return json_is_true(json_object_get(x->run.params, k)); }

const char *proc_ps(proc_run_ctx *x, const char *k)
{
    const char *s = json_string_value(json_object_get(x->run.params, k));
    return s && *s ? s : NULL;
}

/* --- reading ---------------------------------------------------------------------------- */

int proc_each_asset(db_conn *c, int64_t org, int64_t version, const char *q, bool shapes,
                    proc_asset_fn fn, void *ctx, int64_t *total, err *e)
{
    char cursor[256] = "";
    if (total)
        *total = 0;
    for (;;) {
        sbuf b = {0};
        jw w;
        jw_init(&w, &b);
        dataset_asset_page p = {.q = q && *q ? q : NULL,
                                .order_by = "id",
                                .cursor = cursor[0] ? cursor : NULL,
                                .limit = 200,
                                .with_shapes = shapes};
        if (dataset_assets_list(c, org, version, &p, &w, e)) {
            sbuf_free(&b);
            return -1;
        }
        json_error_t je;
        json_t *page = json_loadb(b.p ? b.p : "", b.len, 0, &je);
        sbuf_free(&b);
        if (!page)
            return err_set(e, ERR_INTERNAL, "cannot read an asset page back: %s", je.text);
        size_t i;
        json_t *a;
        int rc = 0;
        json_array_foreach(json_object_get(page, "items"), i, a)
        {
            if (total)
                (*total)++;
            if ((rc = fn(ctx, a, e)) != 0)
                break;
        }
        const char *next = json_string_value(json_object_get(page, "next_cursor"));
        if (rc == 0 && next)
            snprintf(cursor, sizeof cursor, "%s", next);
        bool more = rc == 0 && next;
        json_decref(page);
        if (rc)
            return rc < 0 ? -1 : 0;
        if (!more)
            return 0;
    }
}

int proc_blob_bytes(const proc_env *env, const char *sha, sbuf *out, err *e)
{
    sbuf_reset(out);
    return blob_get(env->blobs, sha, (size_t)1 << 31, out, e);
}

/* --- vbuild ----------------------------------------------------------------------------- */

struct vbuild {
    proc_run_ctx *x;
    vbuild_src src;
    FILE *spool;
    int64_t n;
    char source[200];
};

int vbuild_source(db_conn *c, int64_t org, int64_t version, vbuild_src *s, err *e)
{
    memset(s, 0, sizeof *s);
    json_t *in;
    if (proc_target_input(c, org, "dataset-version", version, &in, e))
        return -1;
    s->version = version;
    s->dataset = json_integer_value(json_object_get(in, "dataset_id"));
    s->lake = json_integer_value(json_object_get(in, "datalake_id"));
    const char *vn = json_string_value(json_object_get(in, "name"));
    const char *dn = json_string_value(json_object_get(in, "dataset"));
    const char *task = json_string_value(json_object_get(in, "task"));
    snprintf(s->vname, sizeof s->vname, "%s", vn ? vn : "");
    snprintf(s->name, sizeof s->name, "%s/%s", dn ? dn : "?", vn ? vn : "?");
    snprintf(s->task, sizeof s->task, "%s", task ? task : "multi");
    json_decref(in);
    return 0;
}

vbuild *vbuild_new(proc_run_ctx *x, const vbuild_src *src, err *e)
{
    vbuild *b = calloc(1, sizeof *b);
    if (!b) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    b->x = x;
    b->src = *src;
    b->spool = tmpfile();
    if (!b->spool) {
        free(b);
        err_set(e, ERR_IO, "cannot make a temporary file");
        return NULL;
    }
    snprintf(b->source, sizeof b->source, "processing %s (job %lld)", x->run.name,
             (long long)x->run.job);
    return b;
}

void vbuild_free(vbuild *b)
{
    if (!b)
        return;
    if (b->spool)
        fclose(b->spool);
    free(b);
}

int64_t vbuild_count(const vbuild *b) { return b->n; }

static int spool_line(vbuild *b, json_t *line, err *e)
{
    char *t = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (!t)
        return err_set(e, ERR_INTERNAL, "out of memory");
    int ok = fputs(t, b->spool) >= 0 && fputc('\n', b->spool) != EOF;
    free(t);
    if (!ok)
        return err_set(e, ERR_IO, "cannot write the spool file (disk full?)");
    b->n++;
    return 0;
}

int vbuild_add_image(vbuild *b, const uint8_t *bytes, size_t n, const char *filename, json_t *meta,
                     json_t *shapes, const char *status, err *e)
{
    blob_writer *w = blob_writer_new(b->x->env->blobs, e);
    if (!w)
        return -1;
    if (blob_writer_write(w, bytes, n, e)) {
        blob_writer_abort(w);
        return -1;
    }
    datalake_item it;
    datalake_limits lim = {.max_pixels = b->x->env->max_pixels};
    if (datalake_prepare(b->x->env->blobs, w, &lim, &it, e))
        return -1;
    json_t *line = json_pack("{s:o, s:s}", "item", proc_item_to_json(&it), "filename", filename);
    if (shapes) {
        json_object_set(line, "shapes", shapes);
        json_object_set_new(line, "status", json_string(status ? status : "accepted"));
    }
    if (meta)
        json_object_set(line, "meta", meta);
    datalake_item_free(&it);
    return spool_line(b, line, e);
}

int vbuild_add_existing(vbuild *b, int64_t data_id, json_t *shapes, const char *status, err *e)
{
    json_t *line = json_pack("{s:I}", "data_id", (json_int_t)data_id);
    if (shapes) {
        json_object_set(line, "shapes", shapes);
        json_object_set_new(line, "status", json_string(status ? status : "accepted"));
    }
    return spool_line(b, line, e);
}

#define COMMIT_CHUNK 1000

/* One chunk: its items inserted into the datalake, then assets and annotations. */
static int commit_chunk(vbuild *b, db_conn *c, int64_t nv, json_t *lines, json_t *used,
                        int64_t *added, int64_t *dups, err *e)
{
    int64_t org = b->x->run.org, user = b->x->run.user;
    json_t *ids = json_array(), *anns = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        int64_t id = json_integer_value(json_object_get(l, "data_id"));
        if (!id) {
            datalake_item it;
            if (proc_item_from_json(json_object_get(l, "item"), &it, e))
                goto fail;
            json_t *meta = json_object_get(l, "meta");
            char *mt = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
            bool dup = false;
            int rc = datalake_insert(c, org, b->src.lake, &it,
                                     json_string_value(json_object_get(l, "filename")), b->source,
                                     mt, NULL, 0, user, &id, &dup, e);
            free(mt);
            datalake_item_free(&it);
            if (rc)
                goto fail;
        }
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)id);
        if (json_object_get(used, key)) {
            (*dups)++; /* the same content twice (or already an original of the fork) */
            continue;
        }
        json_object_set_new(used, key, json_true());
        json_array_append_new(ids, json_integer(id));
        json_t *shapes = json_object_get(l, "shapes");
        if (shapes)
            json_array_append_new(anns, json_pack("{s:I, s:O, s:s}", "data_id", (json_int_t)id,
                                                  "shapes", shapes, "status",
                                                  json_string_value(json_object_get(l, "status"))));
    }
    int64_t a = 0, ex = 0, saved = 0, nshapes = 0;
    if (json_array_size(ids) &&
        dataset_assets_add(c, org, nv, ids, NULL, &a, &ex, e))
        goto fail;
    *added += a;
    if (json_array_size(anns)) {
        json_t *doc = json_pack("{s:O, s:s}", "annotations", anns, "mode", "replace");
        int rc = dataset_annotations_bulk(c, org, nv, doc, user, &saved, &nshapes, e);
        json_decref(doc);
        if (rc)
            goto fail;
    }
    json_decref(ids);
    json_decref(anns);
    return 0;
fail:
    json_decref(ids);
    json_decref(anns);
    return -1;
}

typedef struct fork_scan {
    json_t *used, *remove, *drop;
} fork_scan;

static int fork_scan_one(void *ctx, json_t *a, err *e)
{
    (void)e;
    fork_scan *f = ctx;
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)json_integer_value(json_object_get(a, "data_id")));
    if (f->remove && json_object_get(f->remove, key))
        json_array_append(f->drop, json_object_get(a, "id"));
    else
        json_object_set_new(f->used, key, json_true());
    return 0;
}

/* The fork's assets: their data count as used (a new image with the same
 * content is not added twice), and those of remove_data are removed. */
static int scan_fork(vbuild *b, db_conn *c, int64_t nv, json_t *remove_data, json_t *used, err *e)
{
    fork_scan f = {.used = used, .drop = json_array()};
    if (json_array_size(remove_data)) {
        f.remove = json_object();
        size_t i;
        json_t *d;
        json_array_foreach(remove_data, i, d)
        {
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)json_integer_value(d));
            json_object_set_new(f.remove, key, json_true());
        }
    }
    int rc = proc_each_asset(c, b->x->run.org, nv, NULL, false, fork_scan_one, &f, NULL, e);
    int64_t removed = 0;
    if (rc == 0 && json_array_size(f.drop))
        rc = dataset_assets_remove(c, b->x->run.org, nv, f.drop, NULL, &removed, e);
    json_decref(f.remove);
    json_decref(f.drop);
    return rc;
}

int vbuild_commit(vbuild *b, const vbuild_commit_opts *o, int64_t *new_version, err *e)
{
    db_conn *c = db_get(b->x->env->db, e);
    if (!c)
        return -1;
    int rc = -1;
    json_t *used = json_object(), *chunk = json_array();
    int64_t added = 0, dups = 0, t0 = time_mono_ns();
    if (db_begin(c, e))
        goto out;
    dataset_fork_opts fo = {.name = o->name,
                            .description = o->description,
                            .labels = true,
                            .annotations = o->fork,
                            .tags = o->fork,
                            .q = o->fork ? (o->query && *o->query ? o->query : NULL) : "id < 0"};
    if (dataset_version_fork(c, b->x->run.org, b->src.version, &fo, b->x->run.user, new_version, e))
        goto rollback;
    if (o->fork && scan_fork(b, c, *new_version, o->remove_data, used, e))
        goto rollback;
    if (fseek(b->spool, 0, SEEK_SET) != 0) {
        err_set(e, ERR_IO, "cannot read the spool file back");
        goto rollback;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t done = 0;
    while ((len = getline(&line, &cap, b->spool)) > 0) {
        json_error_t je;
        json_t *l = json_loadb(line, (size_t)len, 0, &je);
        if (!l) {
            free(line);
            err_set(e, ERR_INTERNAL, "the spool file is damaged: %s", je.text);
            goto rollback;
        }
        json_array_append_new(chunk, l);
        if (json_array_size(chunk) == COMMIT_CHUNK) {
            if (commit_chunk(b, c, *new_version, chunk, used, &added, &dups, e)) {
                free(line);
                goto rollback;
            }
            done += COMMIT_CHUNK;
            json_array_clear(chunk);
            job_progress(b->x->job, 0.9 + 0.1 * (double)done / (double)(b->n ? b->n : 1),
                         "writing: %lld of %lld", (long long)done, (long long)b->n);
        }
    }
    free(line);
    if (json_array_size(chunk) && commit_chunk(b, c, *new_version, chunk, used, &added, &dups, e))
        goto rollback;
    if (db_commit(c, e))
        goto out;
    job_log(b->x->job, "wrote version %lld '%s': %lld new assets in %.2f s%s", (long long)*new_version,
            o->name, (long long)added, (double)(time_mono_ns() - t0) / 1e9,
            dups ? " (some contents were already there)" : "");
    rc = 0;
    goto out;
rollback:
    db_rollback(c);
out:
    db_put(c);
    json_decref(used);
    json_decref(chunk);
    return rc;
}
