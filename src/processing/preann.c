/*
 * preann.c - pre-annotation: the built-in processing "pre-annotate" and
 * POST /api/v1/dataset-versions/{id}/pre-annotate, which launches it (one
 * code path: the endpoint checks its request and queues the same job).
 *
 * The model: a cvops checkpoint, either an artifact of an experiment
 * (`file`, else model.safetensors, checkpoints/best.safetensors,
 * checkpoints/last.safetensors) or a file of a registry model version
 * (`file`, else the same names, else its only .safetensors file that is not
 * an optimizer state). A detector checkpoint (metadata "detector") gives
 * boxes; any other cvops checkpoint is run as a classifier and gives one
 * "class" shape, its top-1 class when at least score_threshold.
 *
 * Which assets: those of the version matching the query whose annotation
 * is missing, or pending without shapes; a pending annotation with shapes
 * only with replace_pending (its shapes are replaced; the old revision is
 * kept in the history). Accepted, rejected and skipped annotations are
 * never touched: those are a person's decisions. An asset with no
 * detection gets nothing written (unless its pending shapes are being
 * replaced: then it becomes empty).
 *
 * Predictions are spooled to a temporary file (one JSON line per asset), so
 * memory stays bounded; they are written at the end in one transaction
 * (dataset_annotations_bulk, 500 assets a call, status pending, each shape
 * with its score). Before each chunk is written the assets' current
 * annotations are read again inside the transaction and an asset that was
 * annotated meanwhile (accepted, or pending with shapes without
 * replace_pending) is left alone; base_revision makes the write refuse a
 * save that raced past that read. Labels: the model's class names are
 * matched to the version's labels by name; a missing one is created (in the
 * same transaction, only if a prediction uses it) and the job log says so.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "dataset/dataset.h"
#include "detect/detect.h"
#include "experiment/experiment.h"
#include "image/image.h"
#include "nn/nn.h"
#include "processing/internal.h"
#include "registry/registry.h"
#include "training/training.h"

#define PA_CHUNK 500
#define PA_LABEL_MAX 256

/* --- the checkpoint -------------------------------------------------------------------- */

static const char *const ckpt_names[] = {"model.safetensors", "checkpoints/best.safetensors",
                                         "checkpoints/last.safetensors"};

static int exp_ckpt(db_conn *c, int64_t org, int64_t exp, const char *file, char sha[65],
                    char *desc, size_t dn, err *e)
{
    sbuf b = {0};
    jw w;
    jw_init(&w, &b);
    int rc = exp_write(c, org, exp, &w, e);
    sbuf_free(&b);
    if (rc)
        return -1;
    int64_t size;
    if (file) {
        if (exp_artifact_get(c, org, exp, file, sha, &size, e) == 0) {
            snprintf(desc, dn, "experiment %lld, artifact %s", (long long)exp, file);
            return 0;
        }
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "experiment %lld has no artifact '%.200s'; its artifacts are "
                                      "listed at GET /api/v1/experiments/%lld/artifacts",
                    (long long)exp, file, (long long)exp);
        return -1;
    }
    for (size_t i = 0; i < sizeof ckpt_names / sizeof *ckpt_names; i++) {
        if (exp_artifact_get(c, org, exp, ckpt_names[i], sha, &size, e) == 0) {
            snprintf(desc, dn, "experiment %lld, artifact %s", (long long)exp, ckpt_names[i]);
            return 0;
        }
        if (e->code != ERR_NOT_FOUND)
            return -1;
    }
    return err_set(e, ERR_UNPROCESSABLE,
                   "experiment %lld has no checkpoint artifact (model.safetensors, "
                   "checkpoints/best.safetensors or checkpoints/last.safetensors): train it first, "
                   "or name the artifact with 'file'",
                   (long long)exp);
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int mv_ckpt(db_conn *c, int64_t org, int64_t mv, const char *file, char sha[65], char *desc,
                   size_t dn, err *e)
{
    json_t *v = proc_json_of(c, reg_version_write, org, mv, e);
    if (!v)
        return -1;
    json_t *files = json_object_get(v, "files");
    const char *found = NULL, *path = NULL;
    size_t i;
    json_t *f;
    int only = 0;
    const char *only_sha = NULL, *only_path = NULL;
    for (size_t k = 0; !found && k < (file ? 1 : sizeof ckpt_names / sizeof *ckpt_names); k++) {
        const char *want = file ? file : ckpt_names[k];
        json_array_foreach(files, i, f)
        {
            const char *p = json_string_value(json_object_get(f, "path"));
            if (p && strcmp(p, want) == 0) {
                found = json_string_value(json_object_get(f, "sha256"));
                path = p;
                break;
            }
        }
    }
    if (!found && !file) {
        json_array_foreach(files, i, f)
        {
            const char *p = json_string_value(json_object_get(f, "path"));
            if (p && ends_with(p, ".safetensors") && !ends_with(p, ".optim.safetensors")) {
                only++;
                only_sha = json_string_value(json_object_get(f, "sha256"));
                only_path = p;
            }
        }
        if (only == 1) {
            found = only_sha;
            path = only_path;
        }
    }
    int rc = 0;
    if (found) {
        snprintf(sha, 65, "%s", found);
        snprintf(desc, dn, "model %s version %lld (id %lld), file %s",
                 json_string_value(json_object_get(v, "model")),
                 (long long)json_integer_value(json_object_get(v, "version")), (long long)mv, path);
    } else if (file) {
        rc = err_set(e, ERR_NOT_FOUND, "model version %lld has no file '%.200s'; its files are "
                                       "listed at GET /api/v1/model-versions/%lld",
                     (long long)mv, file, (long long)mv);
    } else {
        rc = err_set(e, ERR_UNPROCESSABLE,
                     "model version %lld has %s .safetensors file: name its checkpoint with 'file' "
                     "(or give it one of the names model.safetensors, checkpoints/best.safetensors)",
                     (long long)mv, only ? "more than one" : "no");
    }
    json_decref(v);
    return rc;
}

int proc_preann_checkpoint(db_conn *c, int64_t org, int64_t experiment, int64_t model_version,
                           const char *file, char sha[65], char *desc, size_t dn, err *e)
{
    if (!experiment == !model_version)
        return err_set(e, ERR_INVALID, "give the model: experiment_id or model_version_id (one of "
                                       "them)");
    return experiment ? exp_ckpt(c, org, experiment, file, sha, desc, dn, e)
                      : mv_ckpt(c, org, model_version, file, sha, desc, dn, e);
}

/* --- the run ------------------------------------------------------------------------------- */

typedef struct pa_label {
    char name[PA_LABEL_MAX + 1];
    bool used;
} pa_label;

typedef struct pa {
    proc_run_ctx *x;
    det_predictor *det;
    nn_predictor *cls;
    det_predict_opts o;
    double threshold;
    bool replace_pending;
    pa_label *labels;
    int nlabels;
    FILE *spool;
    int64_t total, seen, predicted, kept_reviewed, kept_pending, no_detections, failed, shapes,
        queued;
    json_t *errors;
} pa;

static const char *pa_name(pa *a, int k)
{
    if (k < 0 || k >= a->nlabels)
        return NULL;
    a->labels[k].used = true;
    return a->labels[k].name;
}

static int pa_labels_init(pa *a, err *e)
{
    int k = a->det ? det_predictor_classes(a->det) : nn_model_classes(nn_predictor_model(a->cls));
    if (k < 1 || k > DET_MAX_CLASSES)
        return err_set(e, ERR_INVALID, "the model has %d classes; 1 to %d are supported", k,
                       DET_MAX_CLASSES);
    a->labels = calloc((size_t)k, sizeof *a->labels);
    if (!a->labels)
        return err_set(e, ERR_INTERNAL, "out of memory");
    a->nlabels = k;
    for (int i = 0; i < k; i++) {
        const char *n = a->det ? det_predictor_label(a->det, i)
                               : nn_model_label(nn_predictor_model(a->cls), i);
        if (n && *n)
            snprintf(a->labels[i].name, sizeof a->labels[i].name, "%s", n);
        else
            snprintf(a->labels[i].name, sizeof a->labels[i].name, "class_%d", i);
    }
    return 0;
}

static void pa_unreadable(pa *a, int64_t id, const char *filename, const char *msg)
{
    a->failed++;
    if (json_array_size(a->errors) < 20)
        json_array_append_new(a->errors, json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id,
                                                   "filename", filename ? filename : "", "error",
                                                   msg));
}

/* The shapes predicted for one image (a new array), or NULL with *bad set
 * when the image cannot be read. */
static json_t *pa_predict(pa *a, const uint8_t *bytes, size_t n, bool *bad, err *e)
{
    json_t *shapes = json_array();
    if (a->det) {
        det_box *b = NULL;
        int nb = 0, w, h;
        if (det_predict_encoded(a->det, bytes, n, &a->o, a->x->env->max_pixels, &b, &nb, &w, &h,
                                e) != 0) {
            json_decref(shapes);
            *bad = true;
            return NULL;
        }
        for (int i = 0; i < nb; i++) {
            if (!(b[i].w > 0.01f && b[i].h > 0.01f))
                continue;
            const char *name = pa_name(a, b[i].cls);
            if (!name)
                continue;
            /* two decimals: what a person would not see is not worth storing */
            json_array_append_new(
                shapes, json_pack("{s:s, s:s, s:[f, f, f, f], s:f}", "kind", "box", "label", name,
                                  "box", round(b[i].x * 100) / 100, round(b[i].y * 100) / 100,
                                  round(b[i].w * 100) / 100, round(b[i].h * 100) / 100, "score",
                                  round(b[i].score * 10000) / 10000));
        }
        free(b);
    } else {
        training_class top[1];
        int k = 0;
        if (training_predict_image(a->cls, bytes, n, 1, top, &k, e) != 0) {
            json_decref(shapes);
            *bad = true;
            return NULL;
        }
        if (k >= 1 && top[0].score >= a->threshold) {
            /* training_predict_image names classes "class N" when unnamed:
             * find the index back through our own table */
            int idx = -1;
            const nn_model *m = nn_predictor_model(a->cls);
            for (int i = 0; i < a->nlabels && idx < 0; i++) {
                const char *ln = nn_model_label(m, i);
                char fb[32];
                snprintf(fb, sizeof fb, "class %d", i);
                if ((ln && strcmp(ln, top[0].label) == 0) || (!ln && strcmp(fb, top[0].label) == 0))
                    idx = i;
            }
            const char *name = pa_name(a, idx);
            if (name)
                json_array_append_new(shapes,
                                      json_pack("{s:s, s:s, s:f}", "kind", "class", "label", name,
                                                "score", round(top[0].score * 10000) / 10000));
        }
    }
    return shapes;
}

/* Whether the pre-annotation may write over this annotation state. */
static bool pa_writable(const pa *a, const char *status, int64_t objects)
{
    if (!status)
        return true;
    if (strcmp(status, "pending") != 0)
        return false;
    return objects == 0 || a->replace_pending;
}

static int pa_asset(void *ctx, json_t *asset, err *e)
{
    pa *a = ctx;
    if (proc_should_stop(a->x, e))
        return -1;
    a->seen++;
    int64_t id = json_integer_value(json_object_get(asset, "id"));
    const char *filename = json_string_value(json_object_get(asset, "filename"));
    json_t *an = json_object_get(asset, "annotation");
    const char *status = json_is_object(an) ? json_string_value(json_object_get(an, "status")) : NULL;
    int64_t objects = json_integer_value(json_object_get(an, "objects"));
    int64_t rev = json_integer_value(json_object_get(an, "revision"));
    if ((a->seen & 7) == 1 || a->seen == a->total)
        job_progress(a->x->job, 0.9 * (double)a->seen / (double)(a->total ? a->total : 1),
                     "%lld of %lld images", (long long)a->seen, (long long)a->total);
    if (!pa_writable(a, status, objects)) {
        if (strcmp(status, "pending") == 0)
            a->kept_pending++;
        else
            a->kept_reviewed++;
        return 0;
    }
    const char *sha = json_string_value(json_object_get(asset, "sha256"));
    sbuf bytes = {0};
    err ie;
    err_clear(&ie);
    if (!sha || proc_blob_bytes(a->x->env, sha, &bytes, &ie)) {
        pa_unreadable(a, id, filename, sha ? ie.msg : "no content");
        sbuf_free(&bytes);
        return 0;
    }
    bool bad = false;
    json_t *shapes = pa_predict(a, (const uint8_t *)bytes.p, bytes.len, &bad, &ie);
    sbuf_free(&bytes);
    if (!shapes) {
        if (bad && ie.code != ERR_INTERNAL) {
            pa_unreadable(a, id, filename, ie.msg);
            return 0;
        }
        *e = ie;
        return err_prefix(e, "predicting asset %lld ('%s'): ", (long long)id,
                          filename ? filename : "");
    }
    a->predicted++;
    size_t ns = json_array_size(shapes);
    if (ns == 0 && objects == 0) {
        a->no_detections++;
        json_decref(shapes);
        return 0;
    }
    if (ns == 0)
        a->no_detections++;
    json_t *line = json_pack("{s:I, s:I, s:o}", "a", (json_int_t)id, "r", (json_int_t)rev, "s",
                             shapes);
    char *t = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (!t)
        return err_set(e, ERR_INTERNAL, "out of memory");
    bool ok = fputs(t, a->spool) >= 0 && fputc('\n', a->spool) != EOF;
    free(t);
    if (!ok)
        return err_set(e, ERR_IO, "cannot write the spool file (disk full?)");
    a->queued++;
    return 0;
}

/* The labels the predictions use that the version lacks, created. */
static int pa_create_labels(pa *a, db_conn *c, json_t *created, err *e)
{
    sbuf b = {0};
    jw w;
    jw_init(&w, &b);
    if (dataset_labels_list(c, a->x->run.org, a->x->run.target_id, &w, e)) {
        sbuf_free(&b);
        return -1;
    }
    json_t *have = json_loadb(b.p ? b.p : "", b.len, 0, NULL);
    sbuf_free(&b);
    if (!have)
        return err_set(e, ERR_INTERNAL, "cannot read the version's labels back");
    json_t *items = json_object_get(have, "items");
    int rc = 0;
    for (int k = 0; rc == 0 && k < a->nlabels; k++) {
        if (!a->labels[k].used)
            continue;
        bool found = false;
        size_t i;
        json_t *l;
        json_array_foreach(items, i, l)
        {
            const char *n = json_string_value(json_object_get(l, "name"));
            if (n && strcmp(n, a->labels[k].name) == 0) {
                found = true;
                break;
            }
        }
        if (found)
            continue;
        json_t *def = json_pack("{s:s}", "name", a->labels[k].name);
        int64_t id = 0;
        rc = dataset_label_create(c, a->x->run.org, a->x->run.target_id, def, &id, e);
        json_decref(def);
        if (rc) {
            err_prefix(e, "creating the label '%s' of the model's class %d: ", a->labels[k].name, k);
            break;
        }
        json_array_append_new(created, json_pack("{s:s, s:i}", "name", a->labels[k].name,
                                                  "class", k));
        /* two classes of one name make one label */
        json_array_append_new(items, json_pack("{s:s}", "name", a->labels[k].name));
    }
    json_decref(have);
    return rc;
}

/* One chunk of spooled lines: re-checked against the current annotations,
 * then written. */
static int pa_write_chunk(pa *a, db_conn *c, json_t *lines, int64_t *written, int64_t *shapes,
                          int64_t *raced, err *e)
{
    json_t *anns = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l)
    {
        int64_t asset = json_integer_value(json_object_get(l, "a"));
        db_stmt *s = db_query(c, e,
                              "SELECT status, revision, shape_count FROM annotation WHERE asset_id = $1",
                              DBI(asset));
        if (!s) {
            json_decref(anns);
            return -1;
        }
        int st = db_step(s, e);
        char status[16] = "";
        int64_t rev = 0, objects = 0;
        if (st == DB_ROW) {
            snprintf(status, sizeof status, "%s", db_col_text(s, 0));
            rev = db_col_i64(s, 1);
            objects = db_col_i64(s, 2);
        }
        db_done(s);
        if (st < 0) {
            json_decref(anns);
            return -1;
        }
        if (!pa_writable(a, status[0] ? status : NULL, objects) ||
            (!json_array_size(json_object_get(l, "s")) && objects == 0)) {
            (*raced)++;
            continue;
        }
        json_array_append_new(anns, json_pack("{s:I, s:O, s:s, s:I}", "asset_id", (json_int_t)asset,
                                              "shapes", json_object_get(l, "s"), "status",
                                              "pending", "base_revision", (json_int_t)rev));
    }
    int rc = 0;
    if (json_array_size(anns)) {
        json_t *doc = json_pack("{s:O, s:s}", "annotations", anns, "mode", "replace");
        int64_t saved = 0, ns = 0;
        rc = dataset_annotations_bulk(c, a->x->run.org, a->x->run.target_id, doc, a->x->run.user,
                                      &saved, &ns, e);
        json_decref(doc);
        *written += saved;
        *shapes += ns;
    }
    json_decref(anns);
    return rc;
}

static int pa_commit(pa *a, json_t *created, int64_t *written, int64_t *shapes, int64_t *raced,
                     err *e)
{
    db_conn *c = db_get(a->x->env->db, e);
    if (!c)
        return -1;
    int rc = db_begin(c, e);
    if (rc) {
        db_put(c);
        return -1;
    }
    json_t *chunk = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t done = 0;
    rc = pa_create_labels(a, c, created, e);
    if (rc == 0 && fseek(a->spool, 0, SEEK_SET) != 0)
        rc = err_set(e, ERR_IO, "cannot read the spool file back");
    while (rc == 0 && (len = getline(&line, &cap, a->spool)) > 0) {
        json_error_t je;
        json_t *l = json_loadb(line, (size_t)len, 0, &je);
        if (!l) {
            rc = err_set(e, ERR_INTERNAL, "the spool file is damaged: %s", je.text);
            break;
        }
        json_array_append_new(chunk, l);
        if (json_array_size(chunk) == PA_CHUNK) {
            rc = pa_write_chunk(a, c, chunk, written, shapes, raced, e);
            done += PA_CHUNK;
            json_array_clear(chunk);
            job_progress(a->x->job, 0.9 + 0.1 * (double)done / (double)(a->queued ? a->queued : 1),
                         "writing: %lld of %lld", (long long)done, (long long)a->queued);
        }
    }
    free(line);
    if (rc == 0 && json_array_size(chunk))
        rc = pa_write_chunk(a, c, chunk, written, shapes, raced, e);
    json_decref(chunk);
    if (rc == 0)
        rc = db_commit(c, e);
    else
        db_rollback(c);
    db_put(c);
    return rc;
}

int proc_preannotate(proc_run_ctx *x, err *e)
{
    pa a = {.x = x, .errors = json_array()};
    int64_t exp = proc_pi(x, "experiment"), mv = proc_pi(x, "model_version");
    a.threshold = proc_pd(x, "score_threshold");
    a.replace_pending = proc_pb(x, "replace_pending");
    a.o.conf = (float)a.threshold;
    if (!(a.o.conf > 0))
        a.o.conf = 1e-4f; /* 0 means "the default" to det_predict */
    a.o.iou = (float)proc_pd(x, "nms_threshold");
    a.o.max_det = (int)proc_pi(x, "max_detections");
    const char *q = proc_query(x);
    char sha[65] = "", desc[600] = "", path[4096] = "";
    int rc = -1;
    json_t *created = json_array();

    db_conn *c = db_get(x->env->db, e);
    if (!c)
        goto out;
    rc = dataset_version_writable(c, x->run.org, x->run.target_id, e);
    if (rc == 0)
        rc = proc_preann_checkpoint(c, x->run.org, exp, mv, proc_ps(x, "file"), sha, desc,
                                    sizeof desc, e);
    if (rc == 0)
        rc = dataset_assets_count(c, x->run.org, x->run.target_id, q, &a.total, e);
    db_put(c);
    if (rc)
        goto out;
    rc = -1;

    /* the checkpoint into a file the engine can open */
    sbuf model = {0};
    if (proc_blob_bytes(x->env, sha, &model, e)) {
        sbuf_free(&model);
        goto out;
    }
    snprintf(path, sizeof path, "%s/preann-%lld-XXXXXX", x->env->spool_dir, (long long)x->run.job);
    int fd = mkstemp(path);
    FILE *mf = fd >= 0 ? fdopen(fd, "wb") : NULL;
    bool ok = mf && fwrite(model.p, 1, model.len, mf) == model.len;
    if (mf)
        ok = fclose(mf) == 0 && ok;
    else if (fd >= 0)
        close(fd);
    sbuf_free(&model);
    if (fd < 0)
        path[0] = '\0';
    if (!ok) {
        err_set(e, ERR_IO, "cannot write the model into the spool directory %s", x->env->spool_dir);
        goto out;
    }
    /* the engine as the process set it up (nn_init again with its own
     * count: changing it would change it for the whole process); the
     * processing's threads go to the detector's session */
    if (nn_init(nn_threads(), e) < 0)
        goto out;
    err de;
    err_clear(&de);
    a.det = det_predictor_load(path, 1, &de);
    if (!a.det && de.code == ERR_UNSUPPORTED) {
        err ce;
        err_clear(&ce);
        a.cls = nn_predictor_open(path, 1, &ce);
        if (!a.cls) {
            err_set(e, ERR_UNPROCESSABLE, "%s cannot be used for pre-annotation: %s; as a "
                                          "classifier: %s",
                    desc, de.msg, ce.msg);
            goto out;
        }
    } else if (a.det) {
        det_predictor_set_threads(a.det, x->def.res.threads > 0 ? x->def.res.threads : 1);
    } else {
        err_set(e, de.code == ERR_INTERNAL ? ERR_INTERNAL : ERR_UNPROCESSABLE,
                "%s cannot be used for pre-annotation: %s", desc, de.msg);
        goto out;
    }
    if (pa_labels_init(&a, e))
        goto out;
    job_log(x->job, "%s: %s with %d classes; score >= %.3f%s, %lld assets to look at", desc,
            a.det ? "detector" : "classifier", a.nlabels, a.threshold,
            a.replace_pending ? ", pending annotations replaced" : "", (long long)a.total);

    /* predict */
    a.spool = tmpfile();
    if (!a.spool) {
        err_set(e, ERR_IO, "cannot make a temporary file");
        goto out;
    }
    c = db_get(x->env->db, e);
    if (!c)
        goto out;
    rc = proc_each_asset(c, x->run.org, x->run.target_id, q, false, pa_asset, &a, NULL, e);
    db_put(c);
    if (rc)
        goto out;
    rc = -1;
    job_progress(x->job, 0.9, "writing the pre-annotations of %lld images", (long long)a.queued);

    /* write, in one transaction */
    int64_t written = 0, shapes = 0, raced = 0;
    if (pa_commit(&a, created, &written, &shapes, &raced, e))
        goto out;
    /* logged after the commit: the job log is written through another
     * connection, which would wait for this transaction */
    size_t li;
    json_t *lj;
    json_array_foreach(created, li, lj)
    {
        job_log(x->job, "created label '%s' (the model's class %lld) in the version: it had no "
                        "label of that name",
                json_string_value(json_object_get(lj, "name")),
                (long long)json_integer_value(json_object_get(lj, "class")));
    }
    job_log(x->job,
            "%lld images: %lld predicted, %lld pre-annotated with %lld shapes, %lld without "
            "detections, %lld kept (accepted, rejected or skipped), %lld kept (pending with "
            "shapes), %lld annotated meanwhile, %lld unreadable",
            (long long)a.seen, (long long)a.predicted, (long long)written, (long long)shapes,
            (long long)a.no_detections, (long long)a.kept_reviewed, (long long)a.kept_pending,
            (long long)raced, (long long)a.failed);
    job_progress(x->job, 1, "%lld of %lld images pre-annotated with %lld shapes",
                 (long long)written, (long long)a.seen, (long long)shapes);
    json_object_set_new(x->result, "outputs",
                        json_pack("[{s:s, s:s, s:I, s:I, s:I}]", "type", "annotations", "on",
                                  "dataset-version", "id", (json_int_t)x->run.target_id,
                                  "annotations", (json_int_t)written, "shapes",
                                  (json_int_t)shapes));
    json_object_set_new(x->result, "model", json_string(desc));
    json_object_set_new(x->result, "model_kind", json_string(a.det ? "detector" : "classifier"));
    json_object_set_new(x->result, "images", json_integer(a.seen));
    json_object_set_new(x->result, "predicted", json_integer(a.predicted));
    json_object_set_new(x->result, "annotated", json_integer(written));
    json_object_set_new(x->result, "shapes", json_integer(shapes));
    json_object_set_new(x->result, "without_detections", json_integer(a.no_detections));
    json_object_set_new(x->result, "kept_reviewed", json_integer(a.kept_reviewed));
    json_object_set_new(x->result, "kept_pending", json_integer(a.kept_pending));
    json_object_set_new(x->result, "annotated_meanwhile", json_integer(raced));
    json_object_set_new(x->result, "unreadable", json_integer(a.failed));
    json_object_set(x->result, "unreadable_items", a.errors);
    json_object_set(x->result, "labels_created", created);
    rc = 0;
out:
    if (path[0])
        unlink(path);
    if (a.spool)
        fclose(a.spool);
    det_predictor_free(a.det);
    nn_predictor_free(a.cls);
    free(a.labels);
    json_decref(a.errors);
    json_decref(created);
    return rc;
}

/* --- the endpoint ---------------------------------------------------------------------------- */

int proc_preann_request(json_t *req, proc_preann_req *r, err *e)
{
    static const char *const fields[] = {"experiment_id", "model_version_id", "file", "query",
                                         "score_threshold", "nms_threshold", "max_detections",
                                         "replace_pending", NULL};
    memset(r, 0, sizeof *r);
    r->score = r->nms = -1;
    if (!req)
        return err_set(e, ERR_INVALID, "send a JSON object: {\"experiment_id\" or "
                                       "\"model_version_id\", \"query\", \"score_threshold\", ...}");
    if (jv_is_obj(req, e) || jv_only(req, fields, e) ||
        jv_i64(req, "experiment_id", JV_OPTIONAL, 1, INT64_MAX, &r->experiment, e) ||
        jv_i64(req, "model_version_id", JV_OPTIONAL, 1, INT64_MAX, &r->model_version, e) ||
        jv_str(req, "file", JV_OPTIONAL, 512, &r->file, e) ||
        jv_str(req, "query", JV_OPTIONAL, 4000, &r->query, e) ||
        jv_dbl(req, "score_threshold", JV_OPTIONAL, 0, 1, &r->score, e) ||
        jv_dbl(req, "nms_threshold", JV_OPTIONAL, 0.05, 1, &r->nms, e) ||
        jv_i64(req, "max_detections", JV_OPTIONAL, 1, 1000, &r->max_det, e) ||
        jv_bool(req, "replace_pending", JV_OPTIONAL, &r->replace_pending, e))
        return -1;
    if (!r->experiment == !r->model_version)
        return err_set(e, ERR_INVALID, "give the model: experiment_id (its checkpoint artifact) or "
                                       "model_version_id (a registry model version), one of them");
    if (r->file && !*r->file)
        r->file = NULL;
    if (r->query && !*r->query)
        r->query = NULL;
    return 0;
}

int proc_preannotate_launch(db_conn *c, int64_t org, int64_t user, int64_t version, json_t *req,
                            int64_t *job, err *e)
{
    proc_preann_req q;
    if (proc_preann_request(req, &q, e))
        return -1;
    if (dataset_version_writable(c, org, version, e))
        return -1;
    char sha[65], desc[600];
    if (proc_preann_checkpoint(c, org, q.experiment, q.model_version, q.file, sha, desc,
                               sizeof desc, e))
        return -1;
    json_t *params = json_object();
    if (q.experiment)
        json_object_set_new(params, "experiment", json_integer(q.experiment));
    else
        json_object_set_new(params, "model_version", json_integer(q.model_version));
    if (q.file)
        json_object_set_new(params, "file", json_string(q.file));
    if (q.score >= 0)
        json_object_set_new(params, "score_threshold", json_real(q.score));
    if (q.nms >= 0)
        json_object_set_new(params, "nms_threshold", json_real(q.nms));
    if (q.max_det)
        json_object_set_new(params, "max_detections", json_integer(q.max_det));
    json_object_set_new(params, "replace_pending", json_boolean(q.replace_pending));
    json_t *body = json_pack("{s:{s:s, s:I}, s:o}", "on", "kind", "dataset-version", "id",
                             (json_int_t)version, "params", params);
    if (q.query)
        json_object_set_new(body, "query", json_string(q.query));
    int rc = proc_launch(c, org, user, "pre-annotate", body, job, e);
    json_decref(body);
    return rc;
}
