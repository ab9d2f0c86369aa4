/*
 * data.c - the images and classes a run trains on.
 *
 * Which assets: the experiment's dataset versions under the aliases train,
 * val and test. An alias that is missing uses the train version. Inside a
 * version, a split is the assets tagged with its name; a version without
 * such tags gives the train split all its assets not tagged val or test,
 * and gives val or test all its assets only when it is not the train
 * version (a version attached as "val" alone is a validation set).
 *
 * Classes: the train version's labels in creation order are the model's
 * outputs. An asset's class is the label of its current annotation's first
 * class shape; val and test assets are matched to train classes by label
 * name. Assets without a class, or with a class the train version does not
 * have, are left out and counted.
 *
 * The dataset tables are read here with plain SQL (one query per split,
 * rows in asset order): going through the dataset module's JSON listings
 * would cost more than the training's first epoch on Fashion-MNIST.
 *
 * Fetching: the blob (file driver: a read of the file; S3: a GET) decoded
 * at the model's input size: the shorter side is brought to the input side
 * by DCT scaling and resampling, never upscaled, in gray or RGB as the model
 * takes. Decoded images are kept while the run's cache budget allows
 * (28x28 Fashion-MNIST: 47 MB for 60k images), so only the first epoch
 * reads and decodes. The cache slots are set once with a compare-and-swap;
 * loader threads may fetch concurrently.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "training/internal.h"

#define MAX_IMAGE_BYTES (256u << 20)

static int version_check(db_conn *c, int64_t org, int64_t v, const char *alias, err *e)
{
    int64_t x;
    if (db_one_i64(c, e, &x,
                   "SELECT v.id FROM dataset_version v JOIN dataset d ON d.id = v.dataset_id"
                   " WHERE v.id = $1 AND d.org_id = $2",
                   DBI(v), DBI(org)) != 0)
        return e->code == ERR_NOT_FOUND
                   ? err_set(e, ERR_UNPROCESSABLE,
                             "the experiment's dataset '%s' is version %lld, which does not exist "
                             "(any more); attach another version",
                             alias, (long long)v)
                   : -1;
    return 0;
}

static int count_tag(db_conn *c, int64_t v, const char *tag, int64_t *n, err *e)
{
    return db_one_i64(c, e, n,
                      "SELECT COUNT(*) FROM asset_tag WHERE version_id = $1 AND name = $2",
                      DBI(v), DBT(tag));
}

typedef struct class_ix {
    const char *name;
    int index;
} class_ix;

static int cmp_ix(const void *a, const void *b)
{
    return strcmp(((const class_ix *)a)->name, ((const class_ix *)b)->name);
}

static int load_classes(db_conn *c, train_data *d, class_ix **ix, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT name FROM label WHERE version_id = $1 ORDER BY id",
                          DBI(d->train.version));
    if (!s)
        return -1;
    int rc, cap = 0;
    while ((rc = db_step(s, e)) == DB_ROW) {
        if (d->nclasses == TRAIN_MAX_CLASSES) {
            db_done(s);
            return err_set(e, ERR_UNPROCESSABLE, "the train version has more than %d labels",
                           TRAIN_MAX_CLASSES);
        }
        if (d->nclasses == cap) {
            cap = cap ? cap * 2 : 16;
            char **nc = realloc(d->classes, (size_t)cap * sizeof *nc);
            if (!nc) {
                db_done(s);
                return err_set(e, ERR_INTERNAL, "out of memory");
            }
            d->classes = nc;
        }
        d->classes[d->nclasses++] = strdup(db_col_text(s, 0));
    }
    db_done(s);
    if (rc < 0)
        return -1;
    if (d->detection && d->nclasses < 1)
        return err_set(e, ERR_UNPROCESSABLE,
                       "the train dataset version %lld has no labels; a detector needs at least "
                       "one: add labels and annotate the images with boxes",
                       (long long)d->train.version);
    if (!d->detection && d->nclasses < 2)
        return err_set(e, ERR_UNPROCESSABLE,
                       "the train dataset version %lld has %d label(s); a classifier needs at "
                       "least 2: add labels and annotate the images with class shapes",
                       (long long)d->train.version, d->nclasses);
    *ix = malloc((size_t)d->nclasses * sizeof **ix);
    if (!*ix)
        return err_set(e, ERR_INTERNAL, "out of memory");
    for (int i = 0; i < d->nclasses; i++)
        (*ix)[i] = (class_ix){d->classes[i], i};
    qsort(*ix, (size_t)d->nclasses, sizeof **ix, cmp_ix);
    return 0;
}

/* mode: 0 the assets tagged with the split's name, 1 every asset not
 * tagged val or test, 2 every asset */
static int load_items(db_conn *c, train_split *sp, int mode, const class_ix *ix, int nix,
                      train_data *d, err *e)
{
    static const char *const sql[] = {
        "SELECT a.id, d.sha256, d.width, d.height, d.channels,"
        " (SELECT l.name FROM shape s JOIN label l ON l.id = s.label_id"
        "   WHERE s.asset_id = a.id AND s.kind = 1 ORDER BY s.id LIMIT 1)"
        " FROM asset a JOIN data d ON d.id = a.data_id"
        " WHERE a.version_id = $1 AND EXISTS (SELECT 1 FROM asset_tag t"
        "   WHERE t.asset_id = a.id AND t.name = $2) ORDER BY a.id",
        "SELECT a.id, d.sha256, d.width, d.height, d.channels,"
        " (SELECT l.name FROM shape s JOIN label l ON l.id = s.label_id"
        "   WHERE s.asset_id = a.id AND s.kind = 1 ORDER BY s.id LIMIT 1)"
        " FROM asset a JOIN data d ON d.id = a.data_id"
        " WHERE a.version_id = $1 AND NOT EXISTS (SELECT 1 FROM asset_tag t"
        "   WHERE t.asset_id = a.id AND t.name IN ('val', 'test')) ORDER BY a.id",
        "SELECT a.id, d.sha256, d.width, d.height, d.channels,"
        " (SELECT l.name FROM shape s JOIN label l ON l.id = s.label_id"
        "   WHERE s.asset_id = a.id AND s.kind = 1 ORDER BY s.id LIMIT 1)"
        " FROM asset a JOIN data d ON d.id = a.data_id"
        " WHERE a.version_id = $1 ORDER BY a.id"};
    /* detection: every asset with an annotation that is not rejected (its
     * boxes, possibly none, are read afterwards) */
    static const char *const det_sql[] = {
        "SELECT a.id, d.sha256, d.width, d.height, d.channels,"
        " (SELECT n.status FROM annotation n WHERE n.asset_id = a.id AND n.status <> 'rejected')"
        " FROM asset a JOIN data d ON d.id = a.data_id"
        " WHERE a.version_id = $1 AND EXISTS (SELECT 1 FROM asset_tag t"
        "   WHERE t.asset_id = a.id AND t.name = $2) ORDER BY a.id",
        "SELECT a.id, d.sha256, d.width, d.height, d.channels,"
        " (SELECT n.status FROM annotation n WHERE n.asset_id = a.id AND n.status <> 'rejected')"
        " FROM asset a JOIN data d ON d.id = a.data_id"
        " WHERE a.version_id = $1 AND NOT EXISTS (SELECT 1 FROM asset_tag t"
        "   WHERE t.asset_id = a.id AND t.name IN ('val', 'test')) ORDER BY a.id",
        "SELECT a.id, d.sha256, d.width, d.height, d.channels,"
        " (SELECT n.status FROM annotation n WHERE n.asset_id = a.id AND n.status <> 'rejected')"
        " FROM asset a JOIN data d ON d.id = a.data_id"
        " WHERE a.version_id = $1 ORDER BY a.id"};
    const char *const *q = d->detection ? det_sql : sql;
    db_stmt *s = mode == 0 ? db_query(c, e, q[0], DBI(sp->version), DBT(sp->name))
                           : db_query(c, e, q[mode], DBI(sp->version));
    if (!s)
        return -1;
    bool is_train = sp == &d->train;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        const char *label = db_col_text(s, 5);
        if (!label) {
            sp->unlabeled++;
            continue;
        }
        class_ix key = {label, 0};
        const class_ix *hit = d->detection ? &key : bsearch(&key, ix, (size_t)nix, sizeof *ix, cmp_ix);
        if (!hit) {
            sp->unknown++;
            continue;
        }
        if (sp->n == TRAIN_MAX_ITEMS) {
            db_done(s);
            return err_set(e, ERR_UNPROCESSABLE, "the %s split has more than %d images",
                           sp->name, TRAIN_MAX_ITEMS);
        }
        if (sp->n == sp->cap) {
            int64_t cap = sp->cap ? sp->cap * 2 : 1024;
            train_item *ni = realloc(sp->items, (size_t)cap * sizeof *ni);
            if (!ni) {
                db_done(s);
                return err_set(e, ERR_INTERNAL, "out of memory");
            }
            sp->items = ni;
            sp->cap = cap;
        }
        train_item *it = &sp->items[sp->n++];
        it->asset = db_col_i64(s, 0);
        snprintf(it->sha, sizeof it->sha, "%s", db_col_text(s, 1));
        it->w = (int)db_col_i64(s, 2);
        it->h = (int)db_col_i64(s, 3);
        it->label = d->detection ? -1 : hit->index;
        it->first = 0;
        it->nbox = 0;
        if (is_train) {
            if (db_col_i64(s, 4) != 1)
                d->all_gray = false;
            int side = it->w > it->h ? it->w : it->h;
            if (side > d->max_side)
                d->max_side = side;
        }
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

static int cmp_item(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = ((const train_item *)b)->asset;
    return x < y ? -1 : x > y;
}

/* The boxes of a detection split's items: box shapes, and the enclosing
 * box of polygons and masks, in asset order (as the items). */
static int load_boxes(db_conn *c, train_split *sp, const class_ix *ix, int nix, err *e)
{
    if (sp->n == 0)
        return 0;
    db_stmt *s = db_query(c, e,
                          "SELECT s.asset_id, l.name, s.x, s.y, s.w, s.h FROM shape s"
                          " JOIN label l ON l.id = s.label_id JOIN asset a ON a.id = s.asset_id"
                          " WHERE a.version_id = $1 AND s.kind IN (2, 3, 7) AND s.w > 0 AND s.h > 0"
                          " ORDER BY s.asset_id, s.id",
                          DBI(sp->version));
    if (!s)
        return -1;
    int rc;
    train_item *cur = NULL;
    while ((rc = db_step(s, e)) == DB_ROW) {
        int64_t asset = db_col_i64(s, 0);
        if (!cur || cur->asset != asset) {
            cur = bsearch(&asset, sp->items, (size_t)sp->n, sizeof *sp->items, cmp_item);
            if (cur && cur->nbox == 0)
                cur->first = sp->nboxes;
        }
        if (!cur)
            continue; /* not in this split */
        class_ix key = {db_col_text(s, 1), 0};
        const class_ix *hit = bsearch(&key, ix, (size_t)nix, sizeof *ix, cmp_ix);
        if (!hit) {
            sp->unknown_boxes++;
            continue;
        }
        if (cur->nbox >= DET_MAX_BOXES)
            continue;
        if (sp->nboxes == sp->boxcap) {
            int64_t cap = sp->boxcap ? sp->boxcap * 2 : 4096;
            det_box *nb = realloc(sp->boxes, (size_t)cap * sizeof *nb);
            if (!nb) {
                db_done(s);
                return err_set(e, ERR_INTERNAL, "out of memory");
            }
            sp->boxes = nb;
            sp->boxcap = cap;
        }
        sp->boxes[sp->nboxes++] = (det_box){(float)db_col_dbl(s, 2), (float)db_col_dbl(s, 3),
                                            (float)db_col_dbl(s, 4), (float)db_col_dbl(s, 5),
                                            hit->index, 1};
        cur->nbox++;
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

static int load_split(db_conn *c, int64_t org, train_split *sp, int64_t version,
                      const class_ix *ix, int nix, train_data *d, err *e)
{
    sp->version = version;
    sp->data = d;
    if (!version)
        return 0;
    int64_t tagged = 0;
    if (count_tag(c, version, sp->name, &tagged, e) != 0)
        return -1;
    int mode;
    if (tagged > 0)
        mode = 0;
    else if (sp == &d->train)
        mode = 1;
    else if (version != d->train.version)
        mode = 2;
    else
        return 0; /* the train version without this split's tag: no such split */
    (void)org;
    sp->tagged = mode == 0;
    if (load_items(c, sp, mode, ix, nix, d, e) != 0 ||
        (d->detection && load_boxes(c, sp, ix, nix, e) != 0))
        return err_prefix(e, "reading the %s split: ", sp->name);
    if (sp->n > 0) {
        sp->cache = calloc((size_t)sp->n, sizeof *sp->cache);
        if (!sp->cache)
            return err_set(e, ERR_INTERNAL, "out of memory");
    }
    return 0;
}

static int64_t alias_version(json_t *datasets, const char *alias)
{
    json_t *v = json_object_get(datasets, alias);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

int train_data_load(db_conn *c, int64_t org, json_t *datasets, blob_store *bs, train_data *d,
                    err *e)
{
    bool det = d->detection;
    memset(d, 0, sizeof *d);
    d->detection = det;
    d->bs = bs;
    d->all_gray = true;
    d->train.name = "train";
    d->val.name = "val";
    d->test.name = "test";
    int64_t tv = alias_version(datasets, "train");
    if (!tv && json_object_size(datasets) == 1) {
        const char *k;
        json_t *v;
        json_object_foreach(datasets, k, v) tv = json_integer_value(v);
    }
    if (!tv)
        return err_set(e, ERR_UNPROCESSABLE,
                       "the experiment has no dataset version under the alias 'train'; attach "
                       "one (PUT /api/v1/experiments/{id}/datasets/train {\"dataset_version_id\": "
                       "N}), and optionally 'val' and 'test'");
    int64_t vv = alias_version(datasets, "val"), sv = alias_version(datasets, "test");
    if (version_check(c, org, tv, "train", e) || (vv && version_check(c, org, vv, "val", e)) ||
        (sv && version_check(c, org, sv, "test", e)))
        return -1;
    d->train.version = tv;
    class_ix *ix = NULL;
    int rc = -1;
    if (load_classes(c, d, &ix, e) != 0)
        goto out;
    if (load_split(c, org, &d->train, tv, ix, d->nclasses, d, e) ||
        load_split(c, org, &d->val, vv ? vv : tv, ix, d->nclasses, d, e) ||
        load_split(c, org, &d->test, sv ? sv : tv, ix, d->nclasses, d, e))
        goto out;
    if (d->train.n == 0 && d->detection) {
        err_set(e, ERR_UNPROCESSABLE,
                "the train split of dataset version %lld has no annotated image (%lld without "
                "an annotation); annotate the images with boxes%s",
                (long long)tv, (long long)d->train.unlabeled,
                d->train.tagged ? "" : ", or tag the training images 'train'");
        goto out;
    }
    if (d->train.n == 0) {
        err_set(e, ERR_UNPROCESSABLE,
                "the train split of dataset version %lld has no image with a class (%lld "
                "without one); annotate the images with class shapes (kind 'class')%s",
                (long long)tv, (long long)d->train.unlabeled,
                d->train.tagged ? "" : ", or tag the training images 'train'");
        goto out;
    }
    rc = 0;
out:
    free(ix);
    return rc;
}

void train_data_input(train_data *d, int channels, int side, int64_t cache_mb)
{
    d->in_c = channels == 1 ? 1 : 3;
    d->in_side = side;
    d->cache_budget = cache_mb * (1 << 20);
}

static void free_split(train_split *sp)
{
    if (sp->cache)
        for (int64_t i = 0; i < sp->n; i++)
            free(atomic_load(&sp->cache[i]));
    free(sp->cache);
    free(sp->items);
    free(sp->boxes);
    memset(sp, 0, sizeof *sp);
}

void train_data_free(train_data *d)
{
    bool det = d->detection;
    free_split(&d->train);
    free_split(&d->val);
    free_split(&d->test);
    for (int i = 0; i < d->nclasses; i++)
        free(d->classes[i]);
    free(d->classes);
    d->classes = NULL;
    d->nclasses = 0;
    d->detection = det;
}

typedef uint8_t *(*img_alloc_fn)(void *sample, int w, int h, int c);

static uint8_t *nn_alloc(void *smp, int w, int h, int c)
{
    return nn_sample_image(smp, w, h, c);
}

static uint8_t *det_alloc(void *smp, int w, int h, int c)
{
    return det_sample_image(smp, w, h, c);
}

/* Item i's image, decoded at the input size, from the cache or the blob
 * store (and into the cache while the budget allows; else into the
 * sample's own buffer through alloc). */
static int get_image(train_split *sp, int64_t i, nn_image *img, img_alloc_fn alloc, void *smp,
                     err *e)
{
    train_data *d = sp->data;
    const train_item *it = &sp->items[i];
    train_img *ci = atomic_load(&sp->cache[i]);
    if (ci) {
        *img = (nn_image){ci->w, ci->h, ci->c, ci->stride, ci->px};
        return 0;
    }
    sbuf b = SBUF_INIT;
    if (blob_get(d->bs, it->sha, MAX_IMAGE_BYTES, &b, e) != 0) {
        sbuf_free(&b);
        return err_prefix(e, "asset %lld (the image's blob %.12s...): ", (long long)it->asset,
                          it->sha);
    }
    int lo = it->w < it->h ? it->w : it->h, hi = it->w < it->h ? it->h : it->w;
    image_decode_opts o = {.channels = (uint8_t)d->in_c};
    if (d->detection) {
        /* the longest side at the input side when larger (a letterbox
         * shrinks it that much anyway) */
        if (hi > d->in_side && d->in_side > 0) {
            o.target_side = (uint32_t)d->in_side;
            o.exact = true;
        }
    } else if (lo > d->in_side && lo > 0) {
        /* the shorter side at the input side: the longest side at the
         * matching length, exactly when the image is larger, as stored
         * otherwise */
        double t = ceil((double)d->in_side * (double)hi / (double)lo);
        o.target_side = (uint32_t)(t > 16384 ? 16384 : t);
        o.exact = true;
    }
    image_pixels px;
    int rc = image_decode(b.p, b.len, &o, &px, e);
    sbuf_free(&b);
    if (rc != 0)
        return err_prefix(e, "asset %lld: ", (long long)it->asset);
    size_t bytes = (size_t)px.height * px.stride;
    int64_t was = atomic_fetch_add(&d->cache_bytes, (int64_t)bytes);
    train_img *ni = NULL;
    if (was + (int64_t)bytes <= d->cache_budget)
        ni = malloc(sizeof *ni + bytes);
    if (ni) {
        ni->w = (int)px.width;
        ni->h = (int)px.height;
        ni->c = px.channels;
        ni->stride = px.stride;
        memcpy(ni->px, px.data, bytes);
        image_pixels_free(&px);
        train_img *expected = NULL;
        if (!atomic_compare_exchange_strong(&sp->cache[i], &expected, ni)) {
            free(ni);
            atomic_fetch_sub(&d->cache_bytes, (int64_t)bytes);
            ni = expected;
        }
        *img = (nn_image){ni->w, ni->h, ni->c, ni->stride, ni->px};
        return 0;
    }
    atomic_fetch_sub(&d->cache_bytes, (int64_t)bytes);
    uint8_t *dst = alloc(smp, (int)px.width, (int)px.height, px.channels);
    if (!dst) {
        image_pixels_free(&px);
        return err_set(e, ERR_INTERNAL, "out of memory for an image of %ux%u", px.width,
                       px.height);
    }
    size_t stride = (size_t)px.width * px.channels;
    for (uint32_t y = 0; y < px.height; y++)
        memcpy(dst + (size_t)y * stride, px.data + (size_t)y * px.stride, stride);
    *img = (nn_image){(int)px.width, (int)px.height, px.channels, stride, dst};
    image_pixels_free(&px);
    return 0;
}

int train_data_fetch(void *ud, int64_t i, nn_sample *out, err *e)
{
    train_split *sp = ud;
    if (i < 0 || i >= sp->n)
        return err_set(e, ERR_INTERNAL, "sample %lld is outside the %s split", (long long)i,
                       sp->name);
    out->label = sp->items[i].label;
    nn_image img;
    if (get_image(sp, i, &img, nn_alloc, out, e) != 0)
        return -1;
    out->img = img;
    return 0;
}

int train_data_det_fetch(void *ud, int64_t i, det_sample *out, err *e)
{
    train_split *sp = ud;
    if (i < 0 || i >= sp->n)
        return err_set(e, ERR_INTERNAL, "sample %lld is outside the %s split", (long long)i,
                       sp->name);
    const train_item *it = &sp->items[i];
    nn_image img;
    if (get_image(sp, i, &img, det_alloc, out, e) != 0)
        return -1;
    out->img = img;
    det_box *b = det_sample_boxes(out, it->nbox);
    if (!b && it->nbox > 0)
        return err_set(e, ERR_INTERNAL, "out of memory");
    /* boxes are in the asset's pixels as displayed: scale them to the
     * decoded image */
    float sx = it->w > 0 ? (float)img.w / (float)it->w : 1;
    float sy = it->h > 0 ? (float)img.h / (float)it->h : 1;
    int n = 0;
    for (int k = 0; k < it->nbox; k++) {
        det_box bb = sp->boxes[it->first + k];
        bb.x *= sx;
        bb.y *= sy;
        bb.w *= sx;
        bb.h *= sy;
        /* clip to the image */
        float x2 = bb.x + bb.w, y2 = bb.y + bb.h;
        if (bb.x < 0) bb.x = 0;
        if (bb.y < 0) bb.y = 0;
        if (x2 > (float)img.w) x2 = (float)img.w;
        if (y2 > (float)img.h) y2 = (float)img.h;
        bb.w = x2 - bb.x;
        bb.h = y2 - bb.y;
        if (bb.w > 0 && bb.h > 0)
            b[n++] = bb;
    }
    out->n = n;
    return 0;
}

int train_data_norm(train_data *d, float mean[4], float std[4], err *e)
{
    int64_t n = d->train.n < 512 ? d->train.n : 512;
    double sum[4] = {0}, sq[4] = {0}, cnt = 0;
    nn_sample smp = {0};
    int rc = 0;
    for (int64_t k = 0; k < n && rc == 0; k++) {
        int64_t i = k * d->train.n / n;
        if ((rc = train_data_fetch(&d->train, i, &smp, e)) != 0)
            break;
        const nn_image *im = &smp.img;
        for (int y = 0; y < im->h; y++) {
            const uint8_t *row = im->data + (size_t)y * im->stride;
            for (int x = 0; x < im->w; x++)
                for (int ch = 0; ch < im->c && ch < 4; ch++) {
                    double v = row[x * im->c + ch] / 255.0;
                    sum[ch] += v;
                    sq[ch] += v * v;
                }
        }
        cnt += (double)im->w * im->h;
    }
    free(smp.buf);
    if (rc != 0)
        return -1;
    for (int ch = 0; ch < 4; ch++) {
        int src = ch < d->in_c ? ch : 0;
        double m = cnt > 0 ? sum[src] / cnt : 0.5;
        double var = cnt > 0 ? sq[src] / cnt - m * m : 0.0625;
        double sd = var > 1e-6 ? sqrt(var) : 0.25;
        mean[ch] = (float)m;
        std[ch] = (float)sd;
    }
    return 0;
}
