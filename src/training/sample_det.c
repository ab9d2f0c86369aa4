/*
 * sample_det.c - the shapes sample: an object detection dataset a new user
 * can train a detector on in their first minutes.
 *
 * The job "training.sample_shapes" draws N images with src/detect's
 * synthetic generator (shapes and glyphs of 6 classes on textures and the
 * photos Debian's darknet package ships, exact boxes), writes them as JPEGs
 * into the organization's "default" datalake (tag shapes), and builds:
 *   - dataset "shapes", version "v1" (task detection) with the 6 class
 *     names as labels, one accepted annotation of box shapes per image, and
 *     the splits as asset tags (80% train, 10% val, 10% test);
 *   - an experiment "shapes-detector" in project "getting-started" attached
 *     to that version as train, val and test, its parameters preset (the
 *     nano detector at half the images' size, 128x128, within a 10-minute
 *     time budget), ready to launch.
 *
 * Everything goes through the datalake, dataset and experiment modules, as
 * an upload and an import would. The same seed gives the same images.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "datalake/datalake.h"
#include "dataset/dataset.h"
#include "detect/detect.h"
#include "experiment/experiment.h"
#include "image/image.h"
#include "training/internal.h"
#include "training/training.h"

#define SHAPES_CLASSES 6
#define SHAPES_MAX_BOXES 16

int training_sample_det_submit(db_conn *c, int64_t org, int64_t user,
                               const training_sample_det_opts *o, int64_t *job, err *e)
{
    const char *ds = o->dataset ? o->dataset : "shapes";
    const char *pr = o->project ? o->project : "getting-started";
    int64_t n = o->images ? o->images : 200, size = o->size ? o->size : 256;
    if (name_check("dataset name", ds, DATASET_NAME_MAX, e) ||
        name_check("project name", pr, EXP_NAME_MAX, e))
        return -1;
    if (n < 10 || n > 20000)
        return err_set(e, ERR_INVALID, "images must be between 10 and 20000, got %lld",
                       (long long)n);
    if (size < 64 || size > 1024 || size % 32 != 0)
        return err_set(e, ERR_INVALID,
                       "size must be a multiple of 32 between 64 and 1024 (the detector's "
                       "stride), got %lld",
                       (long long)size);
    int64_t id;
    if (dataset_find(c, org, ds, &id, e) == 0)
        return err_set(e, ERR_CONFLICT, "a dataset named '%s' already exists; choose another name",
                       ds);
    json_t *p = json_pack("{s:s, s:s, s:I, s:I, s:I}", "dataset", ds, "project", pr, "images",
                          (json_int_t)n, "size", (json_int_t)size, "seed",
                          (json_int_t)(o->seed ? o->seed : 1));
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    int rc = jobs_submit(c, org, "training.sample_shapes", text, user, 1, job, e);
    free(text);
    return rc;
}

typedef struct shape_item {
    int64_t data_id, asset_id;
    int split; /* 0 train, 1 val, 2 test, -1 a duplicate left out */
    int first, n;
} shape_item;

static int add_jpeg(job_ctx *j, const training_env *env, db_conn *c, int64_t lake,
                    const uint8_t *jpg, size_t len, const char *filename, int64_t *data_id,
                    err *e)
{
    blob_writer *bw = blob_writer_new(env->blobs, e);
    if (!bw || blob_writer_write(bw, jpg, len, e) != 0) {
        if (bw)
            blob_writer_abort(bw);
        return -1;
    }
    datalake_item it;
    datalake_limits lim = {0};
    if (datalake_prepare(env->blobs, bw, &lim, &it, e) != 0)
        return -1;
    static const char *const tags[] = {"shapes"};
    bool dup;
    int rc = datalake_insert(c, job_org(j), lake, &it, filename, "shapes (synthetic)", NULL, tags,
                             1, job_creator(j), data_id, &dup, e);
    datalake_item_free(&it);
    return rc;
}

#define SHAPES_THREADS 3

typedef struct shapes_ctx {
    job_ctx *j;
    const training_env *env;
    const det_synth *syn;
    int64_t lake;
    uint64_t seed;
    int size;
    shape_item *items;
    det_box *boxes;
} shapes_ctx;

/* Draws and stores image i. */
static int shapes_one(void *ctx, int64_t i, db_conn *c, err *e)
{
    shapes_ctx *sc = ctx;
    shape_item *it = &sc->items[i];
    uint8_t *rgb = malloc((size_t)sc->size * (size_t)sc->size * 3);
    if (!rgb)
        return err_set(e, ERR_INTERNAL, "out of memory");
    int nb = 0, rc = 0;
    uint8_t *jpg = NULL;
    size_t len = 0;
    char fn[64];
    snprintf(fn, sizeof fn, "shapes-%05lld.jpg", (long long)i);
    image_pixels px = {rgb, (uint32_t)sc->size, (uint32_t)sc->size, 3, (size_t)sc->size * 3};
    if (det_synth_image(sc->syn, sc->seed, i, rgb, sc->boxes + i * SHAPES_MAX_BOXES,
                        SHAPES_MAX_BOXES, &nb, e) != 0 ||
        image_encode_jpeg(&px, 90, &jpg, &len, e) != 0 ||
        add_jpeg(sc->j, sc->env, c, sc->lake, jpg, len, fn, &it->data_id, e) != 0) {
        err_prefix(e, "%s: ", fn);
        rc = -1;
    }
    free(jpg);
    free(rgb);
    it->first = (int)(i * SHAPES_MAX_BOXES);
    it->n = nb;
    it->split = i % 10 == 8 ? 1 : i % 10 == 9 ? 2 : 0;
    return rc;
}

static int find_project(db_conn *c, int64_t org, int64_t user, const char *name, int64_t *id,
                        err *e)
{
    json_t *b = json_pack("{s:s, s:s}", "name", name, "description",
                          "Start here: experiments on the sample datasets, ready to launch on the "
                          "platform's trainer.");
    int rc = exp_project_create(c, org, user, b, id, e);
    json_decref(b);
    if (rc == 0 || e->code != ERR_CONFLICT)
        return rc;
    return db_one_i64(c, e, id, "SELECT id FROM project WHERE org_id = $1 AND name = $2", DBI(org),
                      DBT(name));
}

int training_sample_det_run(job_ctx *j, const training_env *env, err *e)
{
    json_t *p = job_payload(j);
    const char *dsname = "shapes", *pname = "getting-started";
    int64_t n = 200, size = 256, seed = 1;
    if (jv_str(p, "dataset", JV_OPTIONAL, DATASET_NAME_MAX, &dsname, e) ||
        jv_str(p, "project", JV_OPTIONAL, EXP_NAME_MAX, &pname, e) ||
        jv_i64(p, "images", JV_OPTIONAL, 10, 20000, &n, e) ||
        jv_i64(p, "size", JV_OPTIONAL, 64, 1024, &size, e) ||
        jv_i64(p, "seed", JV_OPTIONAL, 0, INT64_MAX, &seed, e))
        return -1;
    det_synth_opts so = {.w = (int)size,
                         .h = (int)size,
                         .classes = SHAPES_CLASSES,
                         .min_objects = 1,
                         .max_objects = 6,
                         .min_side = (float)size / 16,
                         .max_side = (float)size * 0.4f,
                         .photos_dir = "/usr/share/darknet/data",
                         .quality = 90};
    det_synth *syn = det_synth_new(&so, e);
    if (!syn)
        return err_prefix(e, "the shapes generator: ");
    shape_item *items = calloc((size_t)n, sizeof *items);
    det_box *boxes = malloc((size_t)n * SHAPES_MAX_BOXES * sizeof *boxes);
    db_conn *c = db_get(env->db, e);
    json_t *ids = NULL;
    int rc = -1;
    int64_t lake = 0, ds = 0, ver = 0, project = 0, exp = 0, kept = 0, nboxes = 0;
    if (!items || !boxes || !c) {
        if (c)
            err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (datalake_find(c, job_org(j), "default", &lake, e) != 0 &&
        (e->code != ERR_NOT_FOUND ||
         datalake_create(c, job_org(j), "default", "sample photos and your uploads", &lake, e) != 0))
        goto out;
    if (dataset_create(c, job_org(j), dsname,
                       "Shapes: a synthetic object detection dataset (circles, triangles, squares, "
                       "stars, crosses, rings on textures and photos) with exact boxes, drawn by "
                       "cvops demo synth-detect's generator",
                       lake, job_creator(j), &ds, e) != 0 ||
        dataset_version_create(c, job_org(j), ds, "v1",
                               "80% train, 10% val, 10% test (asset tags)", "detection",
                               job_creator(j), &ver, e) != 0)
        goto out;
    for (int k = 0; k < SHAPES_CLASSES; k++) {
        json_t *def = json_pack("{s:s}", "name", det_synth_class_names[k]);
        int64_t lid;
        int lr = dataset_label_create(c, job_org(j), ver, def, &lid, e);
        json_decref(def);
        if (lr != 0)
            goto out;
    }
    /* the images, by SHAPES_THREADS threads (drawing, JPEG, and the
     * datalake's fsynced files and thumbnail overlap well) */
    {
        shapes_ctx sc = {.j = j, .env = env, .syn = syn, .lake = lake, .seed = (uint64_t)seed,
                         .size = (int)size, .items = items, .boxes = boxes};
        if (sample_parallel(j, env, SHAPES_THREADS, n, shapes_one, &sc, e) != 0)
            goto out;
        /* the same picture twice: keep the first */
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < i; k++)
                if (items[k].data_id == items[i].data_id && items[k].split >= 0) {
                    items[i].split = -1;
                    break;
                }
    }
    ids = json_array();
    for (int64_t i = 0; i < n; i++)
        if (items[i].split >= 0)
            json_array_append_new(ids, json_integer(items[i].data_id));
    int64_t added, existing;
    if (dataset_assets_add(c, job_org(j), ver, ids, NULL, &added, &existing, e) != 0)
        goto out;
    json_decref(ids);
    ids = NULL;
    {
        db_stmt *s = db_query(c, e, "SELECT id, data_id FROM asset WHERE version_id = $1", DBI(ver));
        if (!s)
            goto out;
        int r;
        while ((r = db_step(s, e)) == DB_ROW) {
            int64_t aid = db_col_i64(s, 0), did = db_col_i64(s, 1);
            for (int64_t i = 0; i < n; i++)
                if (items[i].split >= 0 && items[i].data_id == did)
                    items[i].asset_id = aid;
        }
        db_done(s);
        if (r < 0)
            goto out;
    }
    /* one accepted annotation of boxes per image */
    {
        json_t *anns = json_array();
        for (int64_t i = 0; i < n; i++) {
            if (items[i].split < 0)
                continue;
            json_t *shapes = json_array();
            for (int k = 0; k < items[i].n; k++) {
                const det_box *b = &boxes[items[i].first + k];
                json_array_append_new(shapes,
                                      json_pack("{s:s, s:s, s:[f,f,f,f]}", "kind", "box", "label",
                                                det_synth_class_names[b->cls], "box", (double)b->x,
                                                (double)b->y, (double)b->w, (double)b->h));
                nboxes++;
            }
            json_array_append_new(anns, json_pack("{s:I, s:s, s:o}", "asset_id",
                                                  (json_int_t)items[i].asset_id, "status",
                                                  "accepted", "shapes", shapes));
            kept++;
        }
        json_t *doc = json_pack("{s:o, s:s}", "annotations", anns, "mode", "replace");
        int64_t saved, nshapes;
        int ar = dataset_annotations_bulk(c, job_org(j), ver, doc, job_creator(j), &saved, &nshapes,
                                          e);
        json_decref(doc);
        if (ar != 0)
            goto out;
    }
    static const char *const split_names[3] = {"train", "val", "test"};
    for (int sp = 0; sp < 3; sp++) {
        json_t *aids = json_array();
        for (int64_t i = 0; i < n; i++)
            if (items[i].split == sp)
                json_array_append_new(aids, json_integer(items[i].asset_id));
        const char *add[1] = {split_names[sp]};
        int64_t changed;
        int tr = json_array_size(aids) ? dataset_asset_tag(c, job_org(j), ver, aids, NULL, add, 1,
                                                           NULL, 0, &changed, e)
                                       : 0;
        json_decref(aids);
        if (tr != 0)
            goto out;
    }
    job_progress(j, 0.95, "project and experiment");
    if (find_project(c, job_org(j), job_creator(j), pname, &project, e) != 0)
        goto out;
    for (int attempt = 1;; attempt++) {
        char name[96];
        if (attempt == 1)
            snprintf(name, sizeof name, "%s-detector", dsname);
        else
            snprintf(name, sizeof name, "%s-detector-%d", dsname, attempt);
        json_t *b = json_pack(
            "{s:s, s:s, s:[s], s:{s:s, s:s, s:I, s:i, s:i, s:f, s:f, s:f}, s:{s:I, s:I, s:I}}",
            "name", name, "description",
            "Press Launch: trains the nano object detector on the shapes sample on this server "
            "(at most 10 minutes, at half the images' size), logging the loss terms and mAP on val every epoch, then "
            "evaluates on the test split (see Evaluations).",
            "tags", "sample", "params", "task", "detection", "architecture", "detector-nano",
            "input_size", (json_int_t)(size / 2 >= 64 ? size / 2 / 32 * 32 : 64), "epochs", 100,
            "batch_size", 16, "time_budget", 600.0,
            "lr", 0.002, "score_thr", 0.25, "datasets", "train", (json_int_t)ver, "val",
            (json_int_t)ver, "test", (json_int_t)ver);
        int er = exp_create(c, job_org(j), job_creator(j), project, b, &exp, e);
        json_decref(b);
        if (er == 0)
            break;
        if (e->code != ERR_CONFLICT || attempt > 50)
            goto out;
    }
    job_log(j, "shapes sample: %lld images with %lld boxes of %d classes in dataset '%s' v1 "
               "(task detection); experiment %lld in project '%s' is ready to launch",
            (long long)kept, (long long)nboxes, SHAPES_CLASSES, dsname, (long long)exp, pname);
    job_set_result(j, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "dataset_id", (json_int_t)ds,
                                "version_id", (json_int_t)ver, "images", (json_int_t)kept,
                                "boxes", (json_int_t)nboxes, "project_id", (json_int_t)project,
                                "experiment_id", (json_int_t)exp));
    rc = 0;
out:
    json_decref(ids);
    if (c)
        db_put(c);
    free(items);
    free(boxes);
    det_synth_free(syn);
    return rc;
}
