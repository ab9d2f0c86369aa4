/*
 * autotag.c - the autotag built-in: every image of a datalake or a dataset
 * version goes through a classification model of the registry (a cvops
 * checkpoint, run by the nn engine); when the model's top class has a
 * probability of at least `threshold`, its label (after `prefix`) becomes a
 * tag of the image: a datalake tag on a datalake, an asset tag on a dataset
 * version. All the tags are written in one transaction at the end, so a run
 * that fails or is canceled tags nothing.
 *
 * The model file is the version's file named by `file`, else its only
 * `.safetensors` file; it is copied from the blob store into the spool
 * directory for the engine to open and removed after the run. Class names
 * come from the checkpoint, else from the version's labels, else "class_N".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "datalake/datalake.h"
#include "dataset/dataset.h"
#include "nn/nn.h"
#include "processing/internal.h"
#include "registry/registry.h"

#define AT_LABELS_MAX 4096

typedef struct at_label {
    char tag[DATALAKE_TAG_LEN + 1];
    json_t *ids; /* items (datalake) or assets (version) to tag */
} at_label;

typedef struct at {
    proc_run_ctx *x;
    nn_predictor *p;
    double threshold;
    uint32_t side; /* the longest side of the model's input */
    at_label *labels;
    int nlabels;
    int64_t seen, tagged, below, failed;
    json_t *errors; /* the first few images that could not be read */
} at;

/* The checkpoint of the version: `file`, or its only .safetensors file. */
static int at_model_file(json_t *version, const char *want, const char **sha, err *e)
{
    size_t i;
    json_t *f;
    const char *found = NULL, *path = NULL;
    int n = 0;
    json_array_foreach(json_object_get(version, "files"), i, f)
    {
        const char *p = json_string_value(json_object_get(f, "path"));
        if (!p)
            continue;
        size_t l = strlen(p);
        bool match = want ? strcmp(p, want) == 0
                          : l > 12 && strcmp(p + l - 12, ".safetensors") == 0;
        if (match) {
            n++;
            found = json_string_value(json_object_get(f, "sha256"));
            path = p;
        }
    }
    if (want && !found)
        return err_set(e, ERR_INVALID, "model version %lld has no file '%s'; its files are listed "
                                       "at GET /api/v1/model-versions/%lld",
                       (long long)json_integer_value(json_object_get(version, "id")), want,
                       (long long)json_integer_value(json_object_get(version, "id")));
    if (n == 0)
        return err_set(e, ERR_INVALID, "model version %lld has no .safetensors file (a cvops "
                                       "classification checkpoint); name the file with the 'file' "
                                       "parameter",
                       (long long)json_integer_value(json_object_get(version, "id")));
    if (n > 1)
        return err_set(e, ERR_INVALID, "model version %lld has %d .safetensors files; name one "
                                       "with the 'file' parameter (the last is '%s')",
                       (long long)json_integer_value(json_object_get(version, "id")), n, path);
    *sha = found;
    return 0;
}

static int at_labels_init(at *a, json_t *version, const char *prefix, err *e)
{
    const nn_model *m = nn_predictor_model(a->p);
    int k = nn_model_classes(m), ic = 0, ih = 0, iw = 0;
    nn_model_input(m, &ic, &ih, &iw);
    a->side = (uint32_t)(ih > iw ? ih : iw);
    if (k < 2 || k > AT_LABELS_MAX)
        return err_set(e, ERR_INVALID, "the model has %d output classes; autotag needs a "
                                       "classifier with 2 to %d",
                       k, AT_LABELS_MAX);
    a->labels = calloc((size_t)k, sizeof *a->labels);
    if (!a->labels)
        return err_set(e, ERR_INTERNAL, "out of memory");
    a->nlabels = k;
    json_t *vl = json_object_get(version, "labels");
    for (int i = 0; i < k; i++) {
        const char *name = nn_model_label(m, i);
        if (!name && json_is_array(vl))
            name = json_string_value(json_array_get(vl, (size_t)i));
        char buf[32];
        if (!name) {
            snprintf(buf, sizeof buf, "class_%d", i);
            name = buf;
        }
        int w = snprintf(a->labels[i].tag, sizeof a->labels[i].tag, "%s%s", prefix, name);
        if (w < 0 || (size_t)w >= sizeof a->labels[i].tag)
            return err_set(e, ERR_INVALID, "the tag '%s%.40s...' of class %d is longer than %d "
                                           "characters",
                           prefix, name, i, DATALAKE_TAG_LEN);
        a->labels[i].ids = json_array();
    }
    return 0;
}

/* One image: predict, remember the tag when it is sure enough. */
static int at_image(at *a, int64_t id, const char *sha, const char *filename, err *e)
{
    if (proc_should_stop(a->x, e))
        return -1;
    a->seen++;
    sbuf bytes = {0};
    image_pixels px = {0};
    err ie;
    err_clear(&ie);
    image_limits lim = {.max_pixels = a->x->env->max_pixels};
    /* decoded at the cheapest size still covering the model's input (JPEG
     * DCT scaling); the engine resizes it to the input exactly */
    image_decode_opts o = {.channels = 3, .target_side = a->side, .limits = &lim};
    if (!sha || proc_blob_bytes(a->x->env, sha, &bytes, &ie) ||
        image_decode(bytes.p, bytes.len, &o, &px, &ie)) {
        /* an unreadable image is reported and skipped, not fatal */
        a->failed++;
        if (json_array_size(a->errors) < 20)
            json_array_append_new(a->errors, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id,
                                                       "filename", filename ? filename : "",
                                                       "error", sha ? ie.msg : "no content"));
        sbuf_free(&bytes);
        image_pixels_free(&px);
        return 0;
    }
    sbuf_free(&bytes);
    nn_image img = {.w = (int)px.width, .h = (int)px.height, .c = 3, .stride = px.stride,
                    .data = px.data};
    nn_topk top;
    int rc = nn_predict(a->p, &img, 1, 1, &top, e);
    image_pixels_free(&px);
    if (rc < 0)
        return err_prefix(e, "predicting image %lld ('%s'): ", (long long)id,
                          filename ? filename : "");
    if (top.k >= 1 && top.score[0] >= a->threshold && top.cls[0] >= 0 &&
        top.cls[0] < a->nlabels) {
        json_array_append_new(a->labels[top.cls[0]].ids, json_integer(id));
        a->tagged++;
    } else {
        a->below++;
    }
    return 0;
}

static int at_asset(void *ctx, json_t *asset, err *e)
{
    at *a = ctx;
    return at_image(a, json_integer_value(json_object_get(asset, "id")),
                    json_string_value(json_object_get(asset, "sha256")),
                    json_string_value(json_object_get(asset, "filename")), e);
}

static int at_lake(at *a, db_conn *c, int64_t lake, const char *q, err *e)
{
    char cursor[256] = "";
    for (;;) {
        sbuf b = {0};
        jw w;
        jw_init(&w, &b);
        datalake_page p = {.q = q ? q : "", .order_by = "created",
                           .cursor = cursor[0] ? cursor : NULL, .limit = 200};
        if (datalake_search(c, lake, &p, &w, e)) {
            sbuf_free(&b);
            return -1;
        }
        json_error_t je;
        json_t *page = json_loadb(b.p ? b.p : "", b.len, 0, &je);
        sbuf_free(&b);
        if (!page)
            return err_set(e, ERR_INTERNAL, "cannot read a datalake page back");
        size_t i;
        json_t *it;
        int rc = 0;
        json_array_foreach(json_object_get(page, "items"), i, it)
        {
            rc = at_image(a, json_integer_value(json_object_get(it, "id")),
                          json_string_value(json_object_get(it, "sha256")),
                          json_string_value(json_object_get(it, "filename")), e);
            if (rc)
                break;
        }
        const char *next = json_string_value(json_object_get(page, "next_cursor"));
        bool more = rc == 0 && next;
        if (more)
            snprintf(cursor, sizeof cursor, "%s", next);
        json_decref(page);
        if (rc)
            return -1;
        if (!more)
            return 0;
    }
}

static void at_free(at *a)
{
    for (int i = 0; i < a->nlabels; i++)
        json_decref(a->labels[i].ids);
    free(a->labels);
    json_decref(a->errors);
    nn_predictor_free(a->p);
}

int proc_autotag(proc_run_ctx *x, err *e)
{
    at a = {.x = x, .threshold = proc_pd(x, "threshold"), .errors = json_array()};
    const char *prefix = proc_ps(x, "prefix") ? proc_ps(x, "prefix") : "";
    const char *q = proc_query(x);
    bool on_lake = strcmp(x->run.target_kind, "datalake") == 0;
    int64_t mv = proc_pi(x, "model_version");
    int rc = -1;
    char path[4096] = "";

    /* the model version and its checkpoint, into a file the engine can open */
    db_conn *c = db_get(x->env->db, e);
    json_t *version = c ? proc_json_of(c, reg_version_write, x->run.org, mv, e) : NULL;
    db_put(c);
    if (!version)
        goto out_early;
    const char *sha = NULL;
    if (at_model_file(version, proc_ps(x, "file"), &sha, e))
        goto out_early;
    sbuf model = {0};
    if (proc_blob_bytes(x->env, sha, &model, e)) {
        sbuf_free(&model);
        goto out_early;
    }
    snprintf(path, sizeof path, "%s/autotag-%lld-XXXXXX", x->env->spool_dir, (long long)x->run.job);
    int fd = mkstemp(path);
    FILE *mf = fd >= 0 ? fdopen(fd, "wb") : NULL;
    bool written = mf && fwrite(model.p, 1, model.len, mf) == model.len;
    if (mf)
        written = fclose(mf) == 0 && written;
    else if (fd >= 0)
        close(fd);
    sbuf_free(&model);
    if (fd < 0)
        path[0] = '\0';
    if (!written) {
        err_set(e, ERR_IO, "cannot write the model into the spool directory %s", x->env->spool_dir);
        goto out_early;
    }
    if (nn_init(x->def.res.threads, e) < 0 || !(a.p = nn_predictor_open(path, 1, e))) {
        err_prefix(e, "model version %lld cannot be used as a classifier: ", (long long)mv);
        goto out_early;
    }
    if (at_labels_init(&a, version, prefix, e))
        goto out_early;
    job_log(x->job, "model %s version %lld (%d classes), threshold %.3f",
            json_string_value(json_object_get(version, "model")),
            (long long)json_integer_value(json_object_get(version, "version")), a.nlabels,
            a.threshold);

    /* predict every image */
    c = db_get(x->env->db, e);
    if (!c)
        goto out_early;
    rc = on_lake ? at_lake(&a, c, x->run.target_id, q, e)
                 : proc_each_asset(c, x->run.org, x->run.target_id, q, false, at_asset, &a, NULL, e);
    db_put(c);
    if (rc)
        goto out_early;
    job_progress(x->job, 0.9, "writing the tags of %lld images", (long long)a.tagged);

    /* every tag in one transaction */
    json_t *per_tag = json_object();
    c = db_get(x->env->db, e);
    rc = c ? db_begin(c, e) : -1;
    for (int i = 0; rc == 0 && i < a.nlabels; i++) {
        if (!json_array_size(a.labels[i].ids))
            continue;
        const char *tag = a.labels[i].tag;
        int64_t changed = 0;
        if (on_lake) {
            datalake_sel sel = {.ids = a.labels[i].ids};
            rc = datalake_tag(c, x->run.target_id, &sel, &tag, 1, NULL, 0, &changed, e);
        } else {
            rc = dataset_asset_tag(c, x->run.org, x->run.target_id, a.labels[i].ids, NULL, &tag, 1,
                                   NULL, 0, &changed, e);
        }
        if (rc)
            err_prefix(e, "tagging '%s': ", tag);
        json_object_set_new(per_tag, tag, json_integer((json_int_t)json_array_size(a.labels[i].ids)));
    }
    if (rc == 0)
        rc = db_commit(c, e);
    else if (c)
        db_rollback(c);
    db_put(c);
    if (rc) {
        json_decref(per_tag);
        goto out_early;
    }
    job_log(x->job, "%lld images: %lld tagged, %lld below the threshold, %lld unreadable",
            (long long)a.seen, (long long)a.tagged, (long long)a.below, (long long)a.failed);
    json_object_set_new(x->result, "outputs",
                        json_pack("[{s:s, s:s, s:I, s:I, s:O}]", "type", "tags", "on",
                                  on_lake ? "datalake" : "dataset-version", "id",
                                  (json_int_t)x->run.target_id, "tagged", (json_int_t)a.tagged,
                                  "tags", per_tag));
    json_object_set_new(x->result, "images", json_integer(a.seen));
    json_object_set_new(x->result, "tagged", json_integer(a.tagged));
    json_object_set_new(x->result, "below_threshold", json_integer(a.below));
    json_object_set_new(x->result, "unreadable", json_integer(a.failed));
    json_object_set(x->result, "unreadable_items", a.errors);
    json_object_set_new(x->result, "model_version", json_integer(mv));
    json_decref(per_tag);
    rc = 0;
out_early:
    if (path[0])
        unlink(path);
    json_decref(version);
    at_free(&a);
    return rc;
}
