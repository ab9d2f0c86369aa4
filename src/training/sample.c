/*
 * sample.c - the Fashion-MNIST sample: a classification dataset a new user
 * can train on in their first minutes.
 *
 * The job "training.sample_fashion_mnist" reads the IDX files of Debian's
 * dataset-fashion-mnist, writes the chosen images as 28x28 gray PNGs into
 * the organization's "default" datalake (tag fashion-mnist), and builds:
 *   - dataset "fashion-mnist", version "v1" (task classification) with the
 *     10 class names as labels, one accepted class annotation per image and
 *     the splits as asset tags (train and val from the IDX training file,
 *     test from the IDX test file);
 *   - project "getting-started" with an experiment attached to that version
 *     as train, val and test, its parameters preset (a two-stage CNN,
 *     10 epochs within a 3-minute time budget, flips and shifts), ready to
 *     launch: a first training that ends in minutes even on a busy machine.
 *
 * Everything goes through the datalake, dataset and experiment modules, as
 * an upload and an import would. The images are encoded here (PNG: one
 * zlib stream of filtered rows, 300 bytes an image).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "datalake/datalake.h"
#include "dataset/dataset.h"
#include "experiment/experiment.h"
#include "image/image.h"
#include "training/internal.h"
#include "training/training.h"

static const char *const fmnist_labels[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                              "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};

int training_sample_submit(db_conn *c, int64_t org, int64_t user, const training_sample_opts *o,
                           int64_t *job, err *e)
{
    const char *ds = o->dataset ? o->dataset : "fashion-mnist";
    const char *pr = o->project ? o->project : "getting-started";
    int64_t tr = o->train ? o->train : 2400, va = o->val >= 0 ? o->val : 300,
            te = o->test >= 0 ? o->test : 300;
    if (name_check("dataset name", ds, DATASET_NAME_MAX, e) ||
        name_check("project name", pr, EXP_NAME_MAX, e))
        return -1;
    if (tr < 1 || va < 0 || te < 0 || tr + va > 60000 || te > 10000)
        return err_set(e, ERR_INVALID,
                       "train + val images come from the 60000 training images and test from "
                       "the 10000 test images: train >= 1, train + val <= 60000, test <= 10000");
    int64_t id;
    if (dataset_find(c, org, ds, &id, e) == 0)
        return err_set(e, ERR_CONFLICT, "a dataset named '%s' already exists; choose another name",
                       ds);
    json_t *p = json_pack("{s:s, s:s, s:I, s:I, s:I}", "dataset", ds, "project", pr, "train",
                          (json_int_t)tr, "val", (json_int_t)va, "test", (json_int_t)te);
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    int rc = jobs_submit(c, org, "training.sample_fashion_mnist", text, user, 1, job, e);
    free(text);
    return rc;
}

/* --- PNG ------------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void chunk(sbuf *o, const char *type, const uint8_t *data, uint32_t n)
{
    uint8_t h[8];
    put32(h, n);
    memcpy(h + 4, type, 4);
    sbuf_put(o, h, 8);
    if (n)
        sbuf_put(o, data, n);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (n)
        crc = crc32(crc, data, n);
    put32(h, (uint32_t)crc);
    sbuf_put(o, h, 4);
}

/* An 8-bit gray PNG of w x h pixels. */
static int png_gray(const uint8_t *px, int w, int h, sbuf *o, err *e)
{
    size_t raw_n = (size_t)h * (size_t)(w + 1);
    uint8_t *raw = malloc(raw_n);
    uLongf zn = compressBound((uLong)raw_n);
    uint8_t *z = malloc(zn);
    if (!raw || !z) {
        free(raw);
        free(z);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (int y = 0; y < h; y++) {
        raw[(size_t)y * (size_t)(w + 1)] = 0; /* filter: none */
        memcpy(raw + (size_t)y * (size_t)(w + 1) + 1, px + (size_t)y * (size_t)w, (size_t)w);
    }
    int zr = compress2(z, &zn, raw, (uLong)raw_n, 9);
    free(raw);
    if (zr != Z_OK) {
        free(z);
        return err_set(e, ERR_INTERNAL, "zlib failed to compress an image");
    }
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t ihdr[13];
    put32(ihdr, (uint32_t)w);
    put32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 0;  /* gray */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filters */
    ihdr[12] = 0; /* no interlace */
    sbuf_reset(o);
    sbuf_put(o, sig, 8);
    chunk(o, "IHDR", ihdr, 13);
    chunk(o, "IDAT", z, (uint32_t)zn);
    chunk(o, "IEND", NULL, 0);
    free(z);
    return sbuf_failed(o) ? err_set(e, ERR_INTERNAL, "out of memory") : 0;
}

/* --- the job ------------------------------------------------------------------ */

typedef struct sample_item {
    int64_t data_id, asset_id;
    int label;
    int split; /* 0 train, 1 val, 2 test */
} sample_item;

static int cmp_data(const void *a, const void *b)
{
    const sample_item *p = *(sample_item *const *)a, *q = *(sample_item *const *)b;
    if (p->data_id != q->data_id)
        return p->data_id < q->data_id ? -1 : 1;
    return p < q ? -1 : p > q;
}

static const char *const split_names[3] = {"train", "val", "test"};

static int add_image(job_ctx *j, const training_env *env, db_conn *c, int64_t lake,
                     const uint8_t *px, int w, int h, const char *filename, int64_t *data_id,
                     bool *dup, err *e)
{
    sbuf png = SBUF_INIT;
    if (png_gray(px, w, h, &png, e) != 0) {
        sbuf_free(&png);
        return -1;
    }
    blob_writer *bw = blob_writer_new(env->blobs, e);
    if (!bw || blob_writer_write(bw, png.p, png.len, e) != 0) {
        if (bw)
            blob_writer_abort(bw);
        sbuf_free(&png);
        return -1;
    }
    sbuf_free(&png);
    datalake_item it;
    datalake_limits lim = {0};
    if (datalake_prepare(env->blobs, bw, &lim, &it, e) != 0)
        return -1;
    static const char *const tags[] = {"fashion-mnist"};
    int rc = datalake_insert(c, job_org(j), lake, &it, filename, "fashion-mnist (Debian)", NULL,
                             tags, 1, job_creator(j), data_id, dup, e);
    datalake_item_free(&it);
    return rc;
}

static int find_project(db_conn *c, int64_t org, int64_t user, const char *name, int64_t *id,
                        err *e)
{
    json_t *b = json_pack("{s:s, s:s}", "name", name, "description",
                          "Start here: an experiment on the Fashion-MNIST sample, ready to "
                          "launch on the platform's trainer.");
    int rc = exp_project_create(c, org, user, b, id, e);
    json_decref(b);
    if (rc == 0 || e->code != ERR_CONFLICT)
        return rc;
    return db_one_i64(c, e, id, "SELECT id FROM project WHERE org_id = $1 AND name = $2", DBI(org),
                      DBT(name));
}

typedef struct par_ctx {
    const training_env *env;
    int threads;
    int64_t n;
    sample_item_fn item;
    void *ctx;
    _Atomic int64_t done;
    _Atomic int finished;
    _Atomic bool stop;
} par_ctx;

typedef struct par_arg {
    par_ctx *p;
    int index;
    int rc;
    err e;
} par_arg;

static void *par_main(void *arg)
{
    par_arg *a = arg;
    par_ctx *p = a->p;
    db_conn *c = db_get(p->env->db, &a->e);
    if (!c) {
        a->rc = -1;
        atomic_store(&p->stop, true);
    }
    for (int64_t i = a->index; c && i < p->n && !atomic_load(&p->stop); i += p->threads) {
        if (p->item(p->ctx, i, c, &a->e) != 0) {
            a->rc = -1;
            atomic_store(&p->stop, true);
            break;
        }
        atomic_fetch_add(&p->done, 1);
    }
    if (c)
        db_put(c);
    image_thread_done();
    atomic_fetch_add(&p->finished, 1);
    return NULL;
}

int sample_parallel(job_ctx *j, const training_env *env, int threads, int64_t n,
                    sample_item_fn item, void *ctx, err *e)
{
    par_ctx p = {.env = env, .threads = threads, .n = n, .item = item, .ctx = ctx};
    pthread_t th[8];
    par_arg args[8];
    if (threads > 8)
        threads = p.threads = 8;
    int started = 0;
    for (int i = 0; i < threads; i++) {
        args[i] = (par_arg){&p, i, 0, {0}};
        if (pthread_create(&th[i], NULL, par_main, &args[i]) != 0) {
            atomic_store(&p.stop, true); /* its share of the images would be missing */
            break;
        }
        started++;
    }
    while (atomic_load(&p.finished) < started) {
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
        int64_t d = atomic_load(&p.done);
        job_progress(j, 0.9 * (double)d / (double)(n ? n : 1), "%lld of %lld images",
                     (long long)d, (long long)n);
        if (job_should_stop(j))
            atomic_store(&p.stop, true);
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < started; i++)
        if (args[i].rc != 0) {
            *e = args[i].e;
            return -1;
        }
    if (started < threads)
        return err_set(e, ERR_UNAVAILABLE, "cannot start the image threads; try again");
    if (atomic_load(&p.stop))
        return err_set(e, ERR_UNAVAILABLE, "stopped after %lld images",
                       (long long)atomic_load(&p.done));
    return 0;
}

#define INGEST_THREADS 4

typedef struct ingest_ctx {
    job_ctx *j;
    const training_env *env;
    int64_t lake;
    const nn_idx *tr, *te;
    sample_item *items;
    int64_t counts[3];
} ingest_ctx;

/* Image x of the sample, numbered in split order: train, val (both from
 * the training file, train first), test (from the test file). */
static int ingest_one(void *ctx, int64_t x, db_conn *c, err *e)
{
    ingest_ctx *ic = ctx;
    int sp = x < ic->counts[0] ? 0 : x < ic->counts[0] + ic->counts[1] ? 1 : 2;
    const nn_idx *src = sp == 2 ? ic->te : ic->tr;
    int64_t k = sp == 2 ? x - ic->counts[0] - ic->counts[1] : x;
    char fn[64];
    snprintf(fn, sizeof fn, "fashion-mnist-%s-%05lld.png", sp == 2 ? "test" : "train",
             (long long)k);
    int64_t data_id = 0;
    bool dup;
    const uint8_t *px = src->pixels + (size_t)k * (size_t)(src->w * src->h);
    /* the same picture inserted by two threads at once: datalake_insert
     * retries and returns the one that won */
    if (add_image(ic->j, ic->env, c, ic->lake, px, src->w, src->h, fn, &data_id, &dup, e) != 0) {
        err_prefix(e, "%s: ", fn);
        return -1;
    }
    ic->items[x] = (sample_item){data_id, 0, src->labels[k], sp};
    return 0;
}

int training_sample_run(job_ctx *j, const training_env *env, err *e)
{
    json_t *p = job_payload(j);
    const char *dsname = "fashion-mnist", *pname = "getting-started";
    int64_t counts[3] = {2400, 300, 300};
    if (jv_str(p, "dataset", JV_OPTIONAL, DATASET_NAME_MAX, &dsname, e) ||
        jv_str(p, "project", JV_OPTIONAL, EXP_NAME_MAX, &pname, e) ||
        jv_i64(p, "train", JV_OPTIONAL, 1, 60000, &counts[0], e) ||
        jv_i64(p, "val", JV_OPTIONAL, 0, 59999, &counts[1], e) ||
        jv_i64(p, "test", JV_OPTIONAL, 0, 10000, &counts[2], e))
        return -1;
    if (counts[0] + counts[1] > 60000)
        return err_set(e, ERR_INVALID, "train + val must be at most 60000");
    char ip[512], lp[512];
    snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte.gz", TRAIN_FMNIST_DIR);
    snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte.gz", TRAIN_FMNIST_DIR);
    nn_idx *tr = nn_idx_open(ip, lp, e), *te = NULL;
    if (tr) {
        snprintf(ip, sizeof ip, "%s/t10k-images-idx3-ubyte.gz", TRAIN_FMNIST_DIR);
        snprintf(lp, sizeof lp, "%s/t10k-labels-idx1-ubyte.gz", TRAIN_FMNIST_DIR);
        te = nn_idx_open(ip, lp, e);
    }
    if (!tr || !te) {
        nn_idx_free(tr);
        err_prefix(e, "Fashion-MNIST (install Debian's dataset-fashion-mnist): ");
        e->code = ERR_UNPROCESSABLE;
        return -1;
    }
    int64_t total = counts[0] + counts[1] + counts[2];
    sample_item *items = calloc((size_t)total, sizeof *items);
    db_conn *c = db_get(env->db, e);
    int rc = -1;
    int64_t lake = 0, ds = 0, ver = 0, project = 0, exp = 0, n = 0, dups = 0;
    json_t *ids = NULL;
    if (!items || !c) {
        if (!items)
            err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    if (datalake_find(c, job_org(j), "default", &lake, e) != 0 &&
        (e->code != ERR_NOT_FOUND ||
         datalake_create(c, job_org(j), "default", "sample photos and your uploads", &lake, e) != 0))
        goto out;
    if (dataset_create(c, job_org(j), dsname,
                       "Fashion-MNIST (Zalando, MIT licence): 28x28 gray images of 10 kinds of "
                       "clothing, from Debian's dataset-fashion-mnist",
                       lake, job_creator(j), &ds, e) != 0 ||
        dataset_version_create(c, job_org(j), ds, "v1",
                               "train and val from the training images, test from the test images",
                               "classification", job_creator(j), &ver, e) != 0)
        goto out;
    for (int k = 0; k < 10; k++) {
        json_t *def = json_pack("{s:s}", "name", fmnist_labels[k]);
        int64_t lid;
        int lr = dataset_label_create(c, job_org(j), ver, def, &lid, e);
        json_decref(def);
        if (lr != 0)
            goto out;
    }
    /* the images, by INGEST_THREADS threads: each one is two small files
     * (the PNG, fsynced, and its thumbnail) and a transaction, time spent
     * mostly in the filesystem, so they overlap well (3000 images on 2
     * loaded cores: 49 s with one thread, 19 s with four) */
    {
        ingest_ctx ic = {.j = j, .env = env, .lake = lake, .tr = tr, .te = te, .items = items,
                         .counts = {counts[0], counts[1], counts[2]}};
        if (sample_parallel(j, env, INGEST_THREADS, total, ingest_one, &ic, e) != 0)
            goto out;
        n = total;
    }
    /* the same picture twice in Fashion-MNIST (a few are): keep the first */
    {
        sample_item **by = malloc((size_t)(n ? n : 1) * sizeof *by);
        if (!by) {
            err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
        for (int64_t i = 0; i < n; i++)
            by[i] = &items[i];
        qsort(by, (size_t)n, sizeof *by, cmp_data); /* ties: by address, the first first */
        for (int64_t i = 1; i < n; i++)
            if (by[i]->data_id == by[i - 1]->data_id) {
                by[i]->split = -1;
                dups++;
            }
        free(by);
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (items[i].split >= 0)
                items[m++] = items[i];
        n = m;
    }
    /* assets, then their ids */
    ids = json_array();
    for (int64_t i = 0; i < n; i++)
        json_array_append_new(ids, json_integer(items[i].data_id));
    int64_t added, existing;
    if (dataset_assets_add(c, job_org(j), ver, ids, NULL, &added, &existing, e) != 0)
        goto out;
    json_decref(ids);
    ids = NULL;
    {
        db_stmt *s = db_query(c, e, "SELECT id, data_id FROM asset WHERE version_id = $1 ORDER BY data_id",
                              DBI(ver));
        if (!s)
            goto out;
        /* items sorted by data id, found by binary search */
        sample_item **by = malloc((size_t)(n ? n : 1) * sizeof *by);
        if (!by) {
            db_done(s);
            err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
        for (int64_t i = 0; i < n; i++)
            by[i] = &items[i];
        qsort(by, (size_t)n, sizeof *by, cmp_data);
        int r;
        while ((r = db_step(s, e)) == DB_ROW) {
            int64_t did = db_col_i64(s, 1);
            int64_t lo = 0, hi = n - 1;
            while (lo <= hi) {
                int64_t mid = (lo + hi) / 2;
                if (by[mid]->data_id < did)
                    lo = mid + 1;
                else if (by[mid]->data_id > did)
                    hi = mid - 1;
                else {
                    by[mid]->asset_id = db_col_i64(s, 0);
                    break;
                }
            }
        }
        free(by);
        db_done(s);
        if (r < 0)
            goto out;
    }
    /* annotations in bulk, 20000 at a time */
    for (int64_t from = 0; from < n; from += DATASET_BULK_MAX) {
        json_t *anns = json_array();
        for (int64_t i = from; i < n && i < from + DATASET_BULK_MAX; i++)
            json_array_append_new(
                anns, json_pack("{s:I, s:s, s:[{s:s, s:s}]}", "asset_id", (json_int_t)items[i].asset_id,
                                "status", "accepted", "shapes", "kind", "class", "label",
                                fmnist_labels[items[i].label]));
        json_t *doc = json_pack("{s:o, s:s}", "annotations", anns, "mode", "replace");
        int64_t saved, shapes;
        int ar = dataset_annotations_bulk(c, job_org(j), ver, doc, job_creator(j), &saved, &shapes, e);
        json_decref(doc);
        if (ar != 0)
            goto out;
    }
    /* the splits as asset tags */
    for (int sp = 0; sp < 3; sp++) {
        json_t *aids = json_array();
        for (int64_t i = 0; i < n; i++)
            if (items[i].split == sp)
                json_array_append_new(aids, json_integer(items[i].asset_id));
        const char *add[1] = {split_names[sp]};
        int64_t changed;
        int tr2 = json_array_size(aids)
                      ? dataset_asset_tag(c, job_org(j), ver, aids, NULL, add, 1, NULL, 0, &changed, e)
                      : 0;
        json_decref(aids);
        if (tr2 != 0)
            goto out;
    }
    job_progress(j, 0.95, "project and experiment");
    if (find_project(c, job_org(j), job_creator(j), pname, &project, e) != 0)
        goto out;
    {
        char name[96];
        for (int attempt = 1;; attempt++) {
            if (attempt == 1)
                snprintf(name, sizeof name, "%s-cnn", dsname);
            else
                snprintf(name, sizeof name, "%s-cnn-%d", dsname, attempt);
            json_t *b = json_pack(
                "{s:s, s:s, s:[s], s:{s:s, s:i, s:i, s:i, s:f, s:s, s:f, s:b, s:f}, "
                "s:{s:I, s:I, s:I}}",
                "name", name, "description",
                "Press Launch: trains a small CNN on the Fashion-MNIST sample on this server "
                "(10 epochs, at most 3 minutes), logging loss, accuracy and a confusion matrix "
                "every epoch, then evaluates on the test split.",
                "tags", "sample", "params", "architecture", "cnn", "depth", 2, "epochs", 10,
                "batch_size", 64, "time_budget", 180.0, "optimizer", "adamw", "lr", 0.003,
                "augmentation.hflip", 1, "augmentation.pad", 2.0, "datasets", "train",
                (json_int_t)ver, "val", (json_int_t)ver, "test", (json_int_t)ver);
            int er = exp_create(c, job_org(j), job_creator(j), project, b, &exp, e);
            json_decref(b);
            if (er == 0)
                break;
            if (e->code != ERR_CONFLICT || attempt > 50)
                goto out;
        }
    }
    job_log(j, "Fashion-MNIST sample: %lld images (%lld train, %lld val, %lld test%s) in dataset "
               "'%s' v1; experiment %lld in project '%s' is ready to launch",
            (long long)n, (long long)counts[0], (long long)counts[1], (long long)counts[2],
            dups ? ", duplicates left out" : "", dsname, (long long)exp, pname);
    job_set_result(j, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "dataset_id", (json_int_t)ds,
                                "version_id", (json_int_t)ver, "images", (json_int_t)n,
                                "project_id", (json_int_t)project, "experiment_id",
                                (json_int_t)exp, "duplicates", (json_int_t)dups));
    rc = 0;
out:
    json_decref(ids);
    if (c)
        db_put(c);
    free(items);
    nn_idx_free(tr);
    nn_idx_free(te);
    return rc;
}
