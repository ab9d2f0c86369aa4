/*
 * import.c - the dataset.import job: an uploaded annotation file (or an
 * archive of a directory format) into a version, all or nothing.
 *
 * Two phases, so the write transaction is short and holds nothing but
 * inserts:
 *
 *   1. Read (no transaction). The blob becomes a local file (the file
 *      driver's own file, or a download from S3); an archive is unpacked
 *      into a temporary directory. The formats library streams categories,
 *      images and shapes into our callbacks, which
 *        - map categories to the version's labels by name (new ones are
 *          created in phase 2),
 *        - resolve images to datalake items in batches of 1000: by the
 *          content of a file shipped in the archive (its SHA-256; a file
 *          holding "cvops-sha256:<hex>" stands for that content), by a file
 *          name that is a SHA-256, else by file name (exact, then the base
 *          name; the most recent item wins),
 *        - check every shape against its image and label,
 *        - append valid shapes to spool files (fixed header + geometry),
 *          split by ranges of assets, so memory stays bounded by the
 *          number of images, not shapes.
 *      Every problem goes into the report with its location; the reader
 *      runs with keep_going so the report is complete.
 *   2. Write, only if there were no problems (or skip_invalid): images of
 *      the archive that the datalake lacks are ingested; then one
 *      transaction creates the labels, the assets, the annotation rows
 *      (replacing, keeping or merging existing ones as the mode says,
 *      previous revisions archived) and streams the spool, an asset
 *      after the other, into multi-row shape inserts. On SQLite the
 *      transaction runs without foreign-key checks (a third of a shape
 *      row's cost); it checks once that the labels and datalake items it
 *      refers to still exist.
 *
 * On failure the job's error says how many problems there were and the
 * first few; its result holds the report (every problem with its
 * location, up to 1000) and nothing was changed.
 *
 * SQLite has one writer: nothing else (progress, log lines) is written
 * while the transaction is open, or it would wait for it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/jsonv.h"
#include "datalake/datalake.h"
#include "dataset/archive.h"
#include "dataset/internal.h"
#include "files/files.h"
#include "formats/formats.h"

#include "image/image.h"

#define RESOLVE_BATCH 1000

#define ARCHIVE_MAX_BYTES (64LL << 30)
#define ARCHIVE_MAX_ENTRIES 5000000
#define PLACEHOLDER "cvops-sha256:"

typedef struct imp_cat {
    int64_t file_id;
    char *name, *group, *keypoints, *skeleton;
    int nkeypoints;
    int label;       /* index into the version's labels, or -1: create */
    int64_t label_id;
    bool bad;
} imp_cat;

typedef struct imp_img {
    int64_t file_id;
    char *name;      /* as in the file */
    char *path;      /* the image file in the unpacked archive, as the reader found it */
    char *split;     /* the split the layout puts it in (YOLO, VOC), or NULL */
    int fw, fh;      /* as the file says (0: unknown) */
    char sha[65];    /* content hash when known */
    char *local;     /* file in the archive to ingest if the datalake lacks it */
    int slot;        /* asset slot, -1 until resolved */
    int64_t nseen;   /* shapes of this image so far (for locations) */
    bool bad, resolved;
} imp_img;

/* One distinct datalake item: the asset it becomes. */
typedef struct imp_slot {
    int64_t data_id, asset_id;
    int w, h;
    int64_t nshapes;
    bool skip;       /* mode keep: the asset's annotation stays */
} imp_slot;

typedef struct spool_rec {
    int32_t img, cat, kind, npts, nrings, nrle, rle_len, attrs_len, iscrowd, mh, mw, pad;
    double x, y, w, h, score, area;
} spool_rec;

typedef struct importer {
    job_ctx *job;
    const dataset_env *env;
    db_conn *c;
    int64_t org, version, lake;
    const char *lake_name;
    fmt_format fmt;
    const char *root; /* unpacked archive, or NULL */
    bool skip_invalid;
    fmt_report *rep;
    arena *mem;
    ds_labels labels;
    imp_cat *cats;
    size_t ncats, capcats;
    ds_imap cat_by_id;
    imp_img *imgs;
    size_t nimgs, capimgs;
    ds_imap img_by_id;
    size_t resolved_upto; /* images before this index are resolved */
    imp_slot *slots;
    size_t nslots, capslots;
    ds_imap slot_by_data;
    const char *spool_dir;
    FILE *parts[64];  /* the spool, split by ranges of assets (see spool_file) */
    int64_t part_span; /* slots per part, fixed at the first shape */
    int last_slot;     /* of the last spooled shape */
    bool scattered;    /* shapes were not spooled in slot order */
    /* CPU seconds of the phases, for the job log */
    double cpu_match, cpu_rows, cpu_shapes, cpu_commit;
    int64_t nshapes, bad_shapes, shapes_seen;
    sbuf tmp;
} importer;

static void problem(importer *im, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(importer *im, const char *where, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fmt_report_add(im->rep, where, "%s", msg);
}

/* --- categories ------------------------------------------------------------------------------ */

static int on_category(void *ctx, const fmt_category *c, err *e)
{
    importer *im = ctx;
    char where[64];
    snprintf(where, sizeof where, "category %lld", (long long)c->id);
    if (ds_imap_get(&im->cat_by_id, c->id, NULL)) {
        problem(im, where, "category id %lld is used twice", (long long)c->id);
        return 0;
    }
    if (im->ncats == im->capcats) {
        im->capcats = im->capcats ? im->capcats * 2 : 64;
        imp_cat *x = realloc(im->cats, im->capcats * sizeof *x);
        if (!x)
            return err_set(e, ERR_INTERNAL, "out of memory");
        im->cats = x;
    }
    imp_cat *k = &im->cats[im->ncats];
    memset(k, 0, sizeof *k);
    k->file_id = c->id;
    k->label = -1;
    err ne;
    if (!c->name || name_check("category name", c->name, 256, &ne)) {
        problem(im, where, "%s", c->name ? ne.msg : "category has no name");
        k->bad = true;
    }
    k->name = arena_strdup(im->mem, c->name ? c->name : "");
    k->group = c->supercategory && *c->supercategory ? arena_strdup(im->mem, c->supercategory) : NULL;
    k->nkeypoints = c->keypoints ? c->nkeypoints : 0;
    if (c->keypoints && c->nkeypoints > 0) {
        json_t *a = json_array(), *s = json_array();
        for (int i = 0; i < c->nkeypoints; i++)
            json_array_append_new(a, json_string(c->keypoints[i] ? c->keypoints[i] : ""));
        for (int i = 0; i < c->nskeleton; i++)
            json_array_append_new(s, json_pack("[ii]", c->skeleton[2 * i], c->skeleton[2 * i + 1]));
        char *ta = json_dumps(a, JSON_COMPACT), *ts = json_dumps(s, JSON_COMPACT);
        k->keypoints = arena_strdup(im->mem, ta ? ta : "[]");
        k->skeleton = arena_strdup(im->mem, ts ? ts : "[]");
        free(ta);
        free(ts);
        json_decref(a);
        json_decref(s);
    }
    int64_t idx;
    if (!k->bad && ds_smap_get(&im->labels.by_name, k->name, &idx)) {
        k->label = (int)idx;
        k->label_id = im->labels.items[idx].id;
        if (im->labels.items[idx].nkeypoints != k->nkeypoints && k->nkeypoints > 0) {
            problem(im, where, "category '%s' has %d keypoints but the version's label has %d",
                    k->name, k->nkeypoints, im->labels.items[idx].nkeypoints);
            k->bad = true;
        }
    }
    if (ds_imap_put(&im->cat_by_id, c->id, (int64_t)im->ncats))
        return err_set(e, ERR_INTERNAL, "out of memory");
    im->ncats++;
    return 0;
}

/* --- images --------------------------------------------------------------------------------- */

static bool is_hex64(const char *s, size_t n)
{
    if (n != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static bool safe_rel(const char *p)
{
    if (!*p || *p == '/' || strstr(p, "\\"))
        return false;
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == 2 && s[0] == '.' && s[1] == '.')
            return false;
        s += len;
        while (*s == '/')
            s++;
    }
    return true;
}

/* A file of the unpacked archive: its SHA-256 (or the one a placeholder
 * names), and its probed size. */
static void local_file(importer *im, imp_img *g)
{
    if (!im->root || !safe_rel(g->name))
        return;
    const char *rel = g->path ? g->path : g->name;
    if (!safe_rel(rel))
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", im->root, rel);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        close(fd);
        return;
    }
    size_t n = (size_t)st.st_size;
    void *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return;
    size_t pl = strlen(PLACEHOLDER);
    if (n >= pl + 64 && n <= pl + 66 && memcmp(p, PLACEHOLDER, pl) == 0 &&
        is_hex64((const char *)p + pl, 64)) {
        memcpy(g->sha, (const char *)p + pl, 64);
        g->sha[64] = 0;
    } else {
        sha256_hex(p, n, g->sha);
        g->local = arena_strdup(im->mem, path);
    }
    munmap(p, n);
}

static int on_image(void *ctx, const fmt_image *fi, err *e)
{
    importer *im = ctx;
    char where[300]; /* written when there is a problem */
#define WHERE()                                                                                   \
    (snprintf(where, sizeof where, "image %lld '%.200s'", (long long)fi->id,                       \
              fi->file_name ? fi->file_name : ""),                                                 \
     where)
    if (ds_imap_get(&im->img_by_id, fi->id, NULL)) {
        problem(im, WHERE(), "image id %lld is used twice", (long long)fi->id);
        return 0;
    }
    if (!fi->file_name || !*fi->file_name) {
        problem(im, WHERE(), "image has no file name");
        return 0;
    }
#undef WHERE
    if (im->nimgs == im->capimgs) {
        im->capimgs = im->capimgs ? im->capimgs * 2 : 1024;
        imp_img *x = realloc(im->imgs, im->capimgs * sizeof *x);
        if (!x)
            return err_set(e, ERR_INTERNAL, "out of memory");
        im->imgs = x;
    }
    imp_img *g = &im->imgs[im->nimgs];
    memset(g, 0, sizeof *g);
    g->file_id = fi->id;
    g->name = arena_strdup(im->mem, fi->file_name);
    g->fw = fi->width;
    g->fh = fi->height;
    g->slot = -1;
    if (fi->path && *fi->path)
        g->path = arena_strdup(im->mem, fi->path);
    if (fi->split && *fi->split && name_check("split", fi->split, 64, NULL) == 0)
        g->split = arena_strdup(im->mem, fi->split);
    if (!g->name || ds_imap_put(&im->img_by_id, fi->id, (int64_t)im->nimgs))
        return err_set(e, ERR_INTERNAL, "out of memory");
    im->nimgs++;
    if (im->nimgs - im->resolved_upto >= RESOLVE_BATCH)
        return 1; /* the caller resolves the batch */
    return 0;
}

static int slot_for(importer *im, int64_t data_id, int w, int h, err *e)
{
    int64_t k;
    if (ds_imap_get(&im->slot_by_data, data_id, &k))
        return (int)k;
    if (im->nslots == im->capslots) {
        im->capslots = im->capslots ? im->capslots * 2 : 1024;
        imp_slot *x = realloc(im->slots, im->capslots * sizeof *x);
        if (!x)
            return err_set(e, ERR_INTERNAL, "out of memory");
        im->slots = x;
    }
    imp_slot *s = &im->slots[im->nslots];
    memset(s, 0, sizeof *s);
    s->data_id = data_id;
    s->w = w;
    s->h = h;
    if (ds_imap_put(&im->slot_by_data, data_id, (int64_t)im->nslots))
        return err_set(e, ERR_INTERNAL, "out of memory");
    return (int)im->nslots++;
}

/* Looks up a JSON array of keys in column col ("sha256" or "filename");
 * calls back per row (key, id, width, height), rows in id order. */
static int lookup(importer *im, const char *col, json_t *keys,
                  void (*fn)(importer *, const char *, int64_t, int, int, void *), void *arg, err *e)
{
    if (json_array_size(keys) == 0)
        return 0;
    char sql[400];
    snprintf(sql, sizeof sql,
             ds_is_pg(im->c)
                 ? "SELECT %s, id, width, height FROM data WHERE datalake_id = $1 AND %s IN"
                   " (SELECT jsonb_array_elements_text($2::jsonb)) ORDER BY id"
                 : "SELECT %s, id, width, height FROM data WHERE datalake_id = $1 AND %s IN"
                   " (SELECT value FROM json_each($2)) ORDER BY id",
             col, col);
    char *list = json_dumps(keys, JSON_COMPACT);
    if (!list)
        return err_set(e, ERR_INTERNAL, "out of memory");
    db_stmt *s = db_query(im->c, e, sql, DBI(im->lake), DBT(list));
    free(list);
    if (!s)
        return -1;
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW)
        fn(im, db_col_text(s, 0), db_col_i64(s, 1), (int)db_col_i64(s, 2), (int)db_col_i64(s, 3), arg);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

static void put_found(importer *im, const char *key, int64_t id, int w, int h, void *arg)
{
    ds_smap *m = arg;
    /* rows come in id order: the most recent item wins */
    (void)im;
    int64_t packed = id;
    ds_smap_put(m, key, packed);
    (void)w;
    (void)h;
}

static int resolve_batch(importer *im, err *e);

static int resolve(importer *im, err *e)
{
    if (im->resolved_upto == im->nimgs)
        return 0;
    double c0 = time_thread_cpu_s();
    int rc = resolve_batch(im, e);
    im->cpu_match += time_thread_cpu_s() - c0;
    return rc;
}

static int resolve_batch(importer *im, err *e)
{
    size_t from = im->resolved_upto, to = im->nimgs;
    json_t *shas = json_array(), *names = json_array();
    for (size_t i = from; i < to; i++) {
        imp_img *g = &im->imgs[i];
        local_file(im, g);
        const char *b = base_name(g->name);
        const char *dot = strrchr(b, '.');
        size_t stem = dot ? (size_t)(dot - b) : strlen(b);
        if (!g->sha[0] && is_hex64(b, stem)) {
            memcpy(g->sha, b, 64);
            g->sha[64] = 0;
        }
        if (g->sha[0]) {
            json_array_append_new(shas, json_string(g->sha));
        } else {
            json_array_append_new(names, json_string(g->name));
            if (b != g->name)
                json_array_append_new(names, json_string(b));
        }
    }
    ds_smap by_sha = {0}, by_name = {0};
    int rc = lookup(im, "sha256", shas, put_found, &by_sha, e);
    if (rc == 0)
        rc = lookup(im, "filename", names, put_found, &by_name, e);
    json_decref(shas);
    json_decref(names);
    /* the sizes of the items found */
    ds_imap sizes = {0};
    json_t *ids = json_array();
    for (size_t i = 0; rc == 0 && i < by_sha.cap; i++)
        if (by_sha.keys[i])
            json_array_append_new(ids, json_integer(by_sha.vals[i]));
    for (size_t i = 0; rc == 0 && i < by_name.cap; i++)
        if (by_name.keys[i])
            json_array_append_new(ids, json_integer(by_name.vals[i]));
    if (rc == 0 && json_array_size(ids)) {
        char *list = json_dumps(ids, JSON_COMPACT);
        db_stmt *s = db_query(im->c, e,
                              ds_is_pg(im->c)
                                  ? "SELECT id, width, height FROM data WHERE id IN"
                                    " (SELECT (jsonb_array_elements_text($1::jsonb))::bigint)"
                                  : "SELECT id, width, height FROM data WHERE id IN"
                                    " (SELECT value FROM json_each($1))",
                              DBT(list));
        free(list);
        if (!s) {
            rc = -1;
        } else {
            int st;
            while ((st = db_step(s, e)) == DB_ROW)
                ds_imap_put(&sizes, db_col_i64(s, 0), db_col_i64(s, 1) << 32 | db_col_i64(s, 2));
            db_done(s);
            if (st < 0)
                rc = -1;
        }
    }
    json_decref(ids);
    for (size_t i = from; rc == 0 && i < to; i++) {
        imp_img *g = &im->imgs[i];
        int64_t id = 0, wh = 0;
        bool ok = g->sha[0] ? ds_smap_get(&by_sha, g->sha, &id)
                            : (ds_smap_get(&by_name, g->name, &id) ||
                               ds_smap_get(&by_name, base_name(g->name), &id));
        char where[300]; /* written when there is a problem */
        g->resolved = true;
        if (!ok) {
            snprintf(where, sizeof where, "image %lld '%.200s'", (long long)g->file_id, g->name);
            if (g->local) {
                /* shipped in the archive: ingested before the write phase */
                image_info info;
                err pe;
                int fd = open(g->local, O_RDONLY | O_CLOEXEC);
                struct stat st;
                void *p = MAP_FAILED;
                if (fd >= 0 && fstat(fd, &st) == 0)
                    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (fd >= 0)
                    close(fd);
                image_limits lim = {.max_pixels = im->env->max_pixels ? im->env->max_pixels : 100000000ULL};
                if (p == MAP_FAILED) {
                    problem(im, where, "cannot read the image file in the archive");
                    g->bad = true;
                } else if (image_probe_ex(p, (size_t)st.st_size, &lim, &info, &pe) != 0) {
                    problem(im, where, "the file in the archive is not an image we accept: %s", pe.msg);
                    g->bad = true;
                } else {
                    /* a provisional slot keyed by a negative number until ingested */
                    int64_t key = -(int64_t)(i + 1);
                    int k = slot_for(im, key, (int)info.width, (int)info.height, e);
                    if (k < 0)
                        rc = -1;
                    g->slot = k;
                }
                if (p != MAP_FAILED)
                    munmap(p, (size_t)st.st_size);
            } else {
                problem(im, where,
                        "no item of datalake '%s' has this %s; upload the images first (cvops "
                        "datalake upload, or import with --images DIR)",
                        im->lake_name, g->sha[0] ? "content (SHA-256)" : "file name");
                g->bad = true;
            }
            continue;
        }
        if (!ds_imap_get(&sizes, id, &wh)) { /* deleted since it was matched */
            snprintf(where, sizeof where, "image %lld '%.200s'", (long long)g->file_id, g->name);
            problem(im, where,
                    "datalake item %lld was deleted while the file was read; run the import "
                    "again",
                    (long long)id);
            g->bad = true;
            continue;
        }
        int w = (int)(wh >> 32), h = (int)(wh & 0xffffffff);
        if ((g->fw > 0 && g->fw != w) || (g->fh > 0 && g->fh != h)) {
            snprintf(where, sizeof where, "image %lld '%.200s'", (long long)g->file_id, g->name);
            problem(im, where, "the file says %dx%d but the datalake item %lld is %dx%d", g->fw,
                    g->fh, (long long)id, w, h);
            g->bad = true;
            continue;
        }
        int k = slot_for(im, id, w, h, e);
        if (k < 0)
            rc = -1;
        g->slot = k;
    }
    ds_smap_free(&by_sha);
    ds_smap_free(&by_name);
    ds_imap_free(&sizes);
    im->resolved_upto = to;
    return rc;
}

/* --- the spool ------------------------------------------------------------------------------ */

/* Valid shapes wait in spool files until the write phase (memory stays
 * bounded by the images, not the shapes). They are written grouped by
 * asset, whatever the file's order (COCO allows any; its own files list
 * annotations by id, interleaving images): the shape_asset index then
 * grows at its end, and an asset's shapes sit together in the table
 * (faster exports). So the spool is split while reading into up to 64
 * files by ranges of assets, and each part is sorted in memory when
 * written. Memory: the largest part (about 1/64 of the spool); a part
 * over PART_SORT_MAX is written in file order instead. Assets found after
 * the first shape (formats that interleave images and shapes, which list
 * an image's shapes together anyway) go to the last part. When the shapes
 * came in asset order (those formats, COCO files listing annotations by
 * image) the parts are streamed as they are, not loaded to be sorted. */
#define SPOOL_PARTS 64
#define PART_SORT_MAX (64LL << 20)

static size_t rec_body(const spool_rec *r)
{
    return (size_t)r->npts * 8 + (size_t)r->nrings * 4 + (size_t)r->nrle * 4 + (size_t)r->rle_len +
           (size_t)r->attrs_len;
}

/* The spool file of an asset slot, created on first use. */
static FILE *spool_file(importer *im, int slot, err *e)
{
    if (im->part_span == 0)
        im->part_span =
            im->nimgs > SPOOL_PARTS ? ((int64_t)im->nimgs + SPOOL_PARTS - 1) / SPOOL_PARTS : 1;
    int64_t p = slot / im->part_span;
    if (p >= SPOOL_PARTS)
        p = SPOOL_PARTS - 1;
    if (!im->parts[p]) {
        char path[4200];
        snprintf(path, sizeof path, "%s/part-%02d", im->spool_dir, (int)p);
        im->parts[p] = fopen(path, "w+b");
        if (!im->parts[p]) {
            err_set(e, ERR_IO, "cannot create the import's spool file %s: %s", path,
                    strerror(errno));
            return NULL;
        }
        setvbuf(im->parts[p], NULL, _IOFBF, 1 << 16);
    }
    return im->parts[p];
}

/* --- shapes ------------------------------------------------------------------------------------ */

static int on_shape(void *ctx, const fmt_shape *fs, err *e)
{
    importer *im = ctx;
    if (im->resolved_upto < im->nimgs && resolve(im, e))
        return -1;
    im->shapes_seen++;
    if ((im->shapes_seen & 0x3fff) == 0)
        job_progress(im->job, 0.1, "read %lld images and %lld annotations", (long long)im->nimgs,
                     (long long)im->shapes_seen);
    /* the location, only written when there is a problem to report */
    char where[300];
    int64_t gi, ci;
    bool has_img = ds_imap_get(&im->img_by_id, fs->image_id, &gi);
    if (has_img)
        im->imgs[gi].nseen++;
#define WHERE()                                                                                   \
    (fs->id ? snprintf(where, sizeof where, "annotation %lld", (long long)fs->id)                 \
     : has_img                                                                                    \
         ? snprintf(where, sizeof where, "image '%.200s', shape %lld", im->imgs[gi].name,         \
                    (long long)im->imgs[gi].nseen)                                                \
         : snprintf(where, sizeof where, "shape %lld", (long long)im->shapes_seen),               \
     where)
    if (!has_img) {
        problem(im, WHERE(), "image_id %lld is not in images", (long long)fs->image_id);
        im->bad_shapes++;
        return 0;
    }
    if (!ds_imap_get(&im->cat_by_id, fs->category_id, &ci)) {
        problem(im, WHERE(), "category_id %lld is not in categories", (long long)fs->category_id);
        im->bad_shapes++;
        return 0;
    }
    imp_img *g = &im->imgs[gi];
    imp_cat *k = &im->cats[ci];
    if (g->bad || k->bad || g->slot < 0) {
        im->bad_shapes++; /* reported once, on the image or category */
        return 0;
    }
    imp_slot *sl = &im->slots[g->slot];
    ds_shape s;
    ds_shape_init(&s);
    s.kind = (int)fs->kind;
    s.score = fs->score;
    s.area = fs->area;
    s.iscrowd = fs->iscrowd;
    s.attrs = fs->attributes;
    switch (fs->kind) {
    case FMT_CLASS:
        break;
    case FMT_BOX:
        s.x = fs->bbox[0];
        s.y = fs->bbox[1];
        s.w = fs->bbox[2];
        s.h = fs->bbox[3];
        break;
    case FMT_POLYGON:
    case FMT_POLYLINE:
    case FMT_POINT:
        s.pts = fs->points;
        s.npts = fs->npoints * 2;
        if (fs->kind == FMT_POLYGON && fs->ring_sizes && fs->nrings > 1) {
            s.rings = (const int32_t *)fs->ring_sizes; /* int and int32_t are the same here */
            s.nrings = fs->nrings;
            int64_t sum = 0;
            for (int i = 0; i < fs->nrings; i++)
                sum += fs->ring_sizes[i];
            if (sum != fs->npoints) {
                problem(im, WHERE(), "polygon ring sizes add up to %lld points; it has %d",
                        (long long)sum, fs->npoints);
                im->bad_shapes++;
                return 0;
            }
        }
        break;
    case FMT_KEYPOINTS:
        s.pts = fs->kp;
        s.npts = fs->nkp * 3;
        break;
    case FMT_MASK_RLE:
        s.rle = fs->rle_counts;
        s.nrle = fs->rle_counts ? fs->nrle : 0;
        s.rle_str = fs->rle_string;
        s.mh = fs->rle_h;
        s.mw = fs->rle_w;
        break;
    default:
        problem(im, WHERE(), "unknown shape kind %d", (int)fs->kind);
        im->bad_shapes++;
        return 0;
    }
    if (fs->kind == FMT_MASK_RLE || fs->kind == FMT_BOX || fs->kind == FMT_CLASS) {
        if (fs->kind == FMT_MASK_RLE && fs->has_bbox) {
            s.x = fs->bbox[0];
            s.y = fs->bbox[1];
            s.w = fs->bbox[2];
            s.h = fs->bbox[3];
        } else if (fs->kind == FMT_MASK_RLE) {
            ds_shape_bbox(&s);
        }
    } else {
        ds_shape_bbox(&s);
    }
    int nk = k->label >= 0 ? im->labels.items[k->label].nkeypoints : k->nkeypoints;
    err pe;
    if (ds_shape_check(&s, "", sl->w, sl->h, k->name, nk, &pe)) {
        WHERE();
        /* the message starts with the (empty) location: keep it apart */
        const char *msg = strncmp(pe.msg, ": ", 2) == 0 ? pe.msg + 2 : pe.msg;
        fmt_report_add(im->rep, where, "%s", msg);
        im->bad_shapes++;
        return 0;
    }
    /* spool it */
    spool_rec r = {0};
    r.img = (int32_t)gi;
    r.cat = (int32_t)ci;
    r.kind = s.kind;
    r.npts = s.npts;
    r.nrings = s.rings ? s.nrings : 0;
    r.nrle = s.rle ? s.nrle : 0;
    r.rle_len = s.rle_str && !s.rle ? (int32_t)strlen(s.rle_str) : 0;
    r.attrs_len = s.attrs ? (int32_t)strlen(s.attrs) : 0;
    r.iscrowd = s.iscrowd;
    r.mh = s.mh;
    r.mw = s.mw;
    r.x = s.x;
    r.y = s.y;
    r.w = s.w;
    r.h = s.h;
    r.score = s.score;
    r.area = s.area;
    FILE *f = spool_file(im, g->slot, e);
    if (!f)
        return -1;
    fwrite(&r, sizeof r, 1, f);
    if (r.npts)
        fwrite(s.pts, sizeof(double), (size_t)r.npts, f);
    if (r.nrings)
        fwrite(s.rings, sizeof(int32_t), (size_t)r.nrings, f);
    if (r.nrle)
        fwrite(s.rle, sizeof(uint32_t), (size_t)r.nrle, f);
    if (r.rle_len)
        fwrite(s.rle_str, 1, (size_t)r.rle_len, f);
    if (r.attrs_len)
        fwrite(s.attrs, 1, (size_t)r.attrs_len, f);
    if (ferror(f))
        return err_set(e, ERR_IO, "cannot write the import's spool file: %s", strerror(errno));
    sl->nshapes++;
    im->nshapes++;
    if (g->slot < im->last_slot)
        im->scattered = true;
    im->last_slot = g->slot;
    return 0;
}
#undef WHERE

/* The reader calls image() for every image; a batch is resolved when full. */
static int cb_image(void *ctx, const fmt_image *fi, err *e)
{
    int rc = on_image(ctx, fi, e);
    if (rc == 1)
        return resolve(ctx, e);
    return rc;
}

/* --- the write phase ----------------------------------------------------------------------------- */

static int ingest_archive_images(importer *im, err *e)
{
    size_t todo = 0, done = 0;
    for (size_t i = 0; i < im->nimgs; i++)
        todo += im->imgs[i].local && im->imgs[i].slot >= 0 && im->slots[im->imgs[i].slot].data_id < 0;
    for (size_t i = 0; i < im->nimgs; i++) {
        imp_img *g = &im->imgs[i];
        if (!g->local || g->slot < 0 || im->slots[g->slot].data_id >= 0)
            continue;
        if (job_should_stop(im->job))
            return err_set(e, ERR_UNAVAILABLE, "stopped while adding the archive's images");
        int fd = open(g->local, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return err_set(e, ERR_IO, "cannot read %s: %s", g->local, strerror(errno));
        blob_writer *w = blob_writer_new(im->env->blobs, e);
        if (!w) {
            close(fd);
            return -1;
        }
        char buf[1 << 16];
        ssize_t n;
        int rc = 0;
        while (rc == 0 && (n = read(fd, buf, sizeof buf)) > 0)
            rc = blob_writer_write(w, buf, (size_t)n, e);
        close(fd);
        if (rc) {
            blob_writer_abort(w);
            return -1;
        }
        datalake_item it = {0};
        datalake_limits lim = {.max_pixels = im->env->max_pixels};
        if (datalake_prepare(im->env->blobs, w, &lim, &it, e) != 0)
            return err_prefix(e, "image '%s': ", g->name);
        int64_t id = 0;
        bool dup = false;
        rc = datalake_insert(im->c, im->org, im->lake, &it, base_name(g->name), "dataset import",
                             NULL, NULL, 0, job_creator(im->job), &id, &dup, e);
        if (rc == 0)
            rc = files_ref(im->c, im->org, it.sha, it.size, e);
        datalake_item_free(&it);
        if (rc)
            return -1;
        /* the provisional slot becomes the item's (merging with a slot of
         * the same item, if another image of the file named it) */
        int64_t other;
        if (ds_imap_get(&im->slot_by_data, id, &other)) {
            im->slots[other].nshapes += im->slots[g->slot].nshapes;
            im->slots[g->slot].nshapes = 0;
            im->slots[g->slot].skip = true;
            im->slots[g->slot].data_id = 0;
            /* shapes were spooled under this image; point it at the merged slot */
            g->slot = (int)other;
            im->scattered = true; /* that image's shapes: sorted again */
        } else {
            im->slots[g->slot].data_id = id;
            ds_imap_put(&im->slot_by_data, id, g->slot);
        }
        for (size_t k = i + 1; k < im->nimgs; k++)
            if (im->imgs[k].local && strcmp(im->imgs[k].sha, g->sha) == 0 && im->imgs[k].slot >= 0 &&
                im->slots[im->imgs[k].slot].data_id < 0) {
                imp_slot *from = &im->slots[im->imgs[k].slot];
                im->slots[g->slot].nshapes += from->nshapes;
                from->nshapes = 0;
                from->skip = true;
                from->data_id = 0;
                im->imgs[k].slot = g->slot;
                im->scattered = true;
            }
        done++;
        job_progress(im->job, 0.4 + 0.2 * (double)done / (double)(todo ? todo : 1),
                     "added %zu of %zu images from the archive to the datalake", done, todo);
    }
    return 0;
}

/* --- the spool, grouped by asset ------------------------------------------------------------- */

typedef struct part_ix {
    int32_t slot;
    size_t off;
} part_ix;

static int cmp_ix(const void *a, const void *b)
{
    const part_ix *x = a, *y = b;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* One spooled record (header r, body) into the shape inserter. */
static int insert_rec(importer *im, const spool_rec *r, const unsigned char *body, sbuf *scratch,
                      ds_bulk *sb, err *e)
{
    imp_slot *sl = &im->slots[im->imgs[r->img].slot];
    if (sl->skip)
        return 0;
    size_t n = rec_body(r);
    /* a private copy with room for the NULs ending the strings */
    sbuf_reset(scratch);
    if (!sbuf_reserve(scratch, n + 2))
        return err_set(e, ERR_INTERNAL, "out of memory");
    unsigned char *buf = (unsigned char *)scratch->p;
    memcpy(buf, body, n);
    ds_shape sh;
    ds_shape_init(&sh);
    sh.kind = r->kind;
    sh.label_id = im->cats[r->cat].label_id;
    sh.x = r->x;
    sh.y = r->y;
    sh.w = r->w;
    sh.h = r->h;
    sh.score = r->score;
    sh.area = r->area;
    sh.iscrowd = r->iscrowd != 0;
    sh.mh = r->mh;
    sh.mw = r->mw;
    size_t off = 0;
    sh.pts = (const double *)buf;
    sh.npts = r->npts;
    off += (size_t)r->npts * 8;
    if (r->nrings) {
        sh.rings = (const int32_t *)(buf + off);
        sh.nrings = r->nrings;
    }
    off += (size_t)r->nrings * 4;
    if (r->nrle) {
        sh.rle = (const uint32_t *)(buf + off);
        sh.nrle = r->nrle;
    }
    off += (size_t)r->nrle * 4;
    char *str = (char *)buf + off;
    if (r->rle_len) {
        memmove(str + r->rle_len + 1, str + r->rle_len, (size_t)r->attrs_len);
        str[r->rle_len] = 0;
        sh.rle_str = str;
        off += (size_t)r->rle_len + 1;
    }
    if (r->attrs_len) {
        char *a = (char *)buf + off;
        a[r->attrs_len] = 0;
        sh.attrs = a;
    }
    return ds_shapes_bulk_add(sb, sl->asset_id, im->version, &sh, e);
}

static int write_part(importer *im, FILE *f, ds_bulk *sb, err *e)
{
    fflush(f);
    long size = ftell(f);
    rewind(f);
    sbuf scratch = SBUF_INIT;
    int rc = 0;
    if (!im->scattered || size > PART_SORT_MAX) {
        /* too big to sort in memory: in file order */
        spool_rec r;
        sbuf body = SBUF_INIT;
        while (rc == 0 && fread(&r, sizeof r, 1, f) == 1) {
            size_t n = rec_body(&r);
            sbuf_reset(&body);
            if (!sbuf_reserve(&body, n + 1))
                rc = err_set(e, ERR_INTERNAL, "out of memory");
            else if (n && fread(body.p, 1, n, f) != n)
                rc = err_set(e, ERR_IO, "the import's spool file is truncated");
            else
                rc = insert_rec(im, &r, (unsigned char *)body.p, &scratch, sb, e);
        }
        sbuf_free(&body);
        sbuf_free(&scratch);
        return rc;
    }
    unsigned char *all = malloc(size > 0 ? (size_t)size : 1);
    if (!all)
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (size > 0 && fread(all, 1, (size_t)size, f) != (size_t)size) {
        free(all);
        return err_set(e, ERR_IO, "the import's spool file is truncated");
    }
    size_t cap = 0, n = 0;
    part_ix *ix = NULL;
    for (size_t off = 0; off + sizeof(spool_rec) <= (size_t)size;) {
        spool_rec r;
        memcpy(&r, all + off, sizeof r);
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            part_ix *x = realloc(ix, cap * sizeof *x);
            if (!x) {
                rc = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            ix = x;
        }
        ix[n].slot = im->imgs[r.img].slot;
        ix[n++].off = off;
        off += sizeof r + rec_body(&r);
    }
    if (rc == 0 && n)
        qsort(ix, n, sizeof *ix, cmp_ix);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        spool_rec r;
        memcpy(&r, all + ix[i].off, sizeof r);
        rc = insert_rec(im, &r, all + ix[i].off + sizeof r, &scratch, sb, e);
    }
    free(ix);
    free(all);
    sbuf_free(&scratch);
    return rc;
}

static const char *const modes[] = {"replace", "keep", "merge"};

/* The splits the layout gave (YOLO data.yaml, VOC ImageSets) become asset
 * tags, replacing those tags on the imported assets. */
static int split_tags(importer *im, err *e)
{
    ds_smap names = {0};
    for (size_t i = 0; i < im->nimgs; i++)
        if (im->imgs[i].split && im->imgs[i].slot >= 0)
            ds_smap_put(&names, im->imgs[i].split, 0);
    if (names.n == 0)
        return 0;
    int rc = 0;
    for (size_t k = 0; k < names.cap && rc == 0; k++) {
        if (!names.keys[k])
            continue;
        sbuf ids = SBUF_INIT;
        sbuf_putc(&ids, '[');
        for (size_t i = 0, n = 0; i < im->nslots; i++)
            if (im->slots[i].asset_id > 0)
                sbuf_printf(&ids, n++ ? ",%lld" : "%lld", (long long)im->slots[i].asset_id);
        sbuf_putc(&ids, ']');
        if (db_run(im->c, e,
                   ds_is_pg(im->c)
                       ? "DELETE FROM asset_tag WHERE version_id = $1 AND name = $2 AND asset_id IN"
                         " (SELECT (jsonb_array_elements_text($3::jsonb))::bigint)"
                       : "DELETE FROM asset_tag WHERE version_id = $1 AND name = $2 AND asset_id IN"
                         " (SELECT value FROM json_each($3))",
                   DBI(im->version), DBT(names.keys[k]), DBT(sbuf_cstr(&ids))) < 0)
            rc = -1;
        sbuf_free(&ids);
    }
    ds_bulk tb;
    if (rc == 0 && ds_bulk_init(&tb, im->c, "INSERT INTO asset_tag (asset_id, version_id, name) VALUES ",
                                " ON CONFLICT DO NOTHING", 3, 500, e) == 0) {
        for (size_t i = 0; i < im->nimgs && rc == 0; i++) {
            imp_img *g = &im->imgs[i];
            if (!g->split || g->slot < 0 || im->slots[g->slot].asset_id <= 0)
                continue;
            rc = ds_bulk_val(&tb, DBI(im->slots[g->slot].asset_id), e) ||
                 ds_bulk_val(&tb, DBI(im->version), e) || ds_bulk_val(&tb, DBT(g->split), e);
        }
        if (rc == 0)
            rc = ds_bulk_flush(&tb, e);
        ds_bulk_free(&tb);
    } else {
        rc = -1;
    }
    ds_smap_free(&names);
    return rc ? -1 : 0;
}

/* Inside the write transaction: every label the shapes use and every
 * datalake item of the version's assets exists (a label or an item
 * deleted between the read and the write phases). On SQLite this stands
 * in for the foreign keys (off in that transaction); on PostgreSQL they
 * stay, and this gives the message. */
static int parents_exist(importer *im, err *e)
{
    ds_imap ids = {0};
    /* PostgreSQL: the labels stay locked until the commit. A label deleted after this check
     * then waits for the import (and finds its shapes) instead of making the shape rows fail
     * on their foreign key. SQLite: the import holds the only write lock. */
    db_stmt *s = db_query(im->c, e,
                          ds_is_pg(im->c)
                              ? "SELECT id FROM label WHERE version_id = $1 FOR KEY SHARE"
                              : "SELECT id FROM label WHERE version_id = $1",
                          DBI(im->version));
    if (!s)
        return -1;
    int st;
    while ((st = db_step(s, e)) == DB_ROW)
        ds_imap_put(&ids, db_col_i64(s, 0), 1);
    db_done(s);
    int rc = st < 0 ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < im->ncats; i++) {
        imp_cat *k = &im->cats[i];
        if (!k->bad && k->label_id && !ds_imap_get(&ids, k->label_id, NULL))
            rc = err_set(e, ERR_CONFLICT,
                         "label '%s' was deleted while the file was read; nothing was "
                         "imported, run the import again",
                         k->name);
    }
    ds_imap_free(&ids);
    if (rc)
        return -1;
    int64_t missing = 0;
    if (db_one_i64(im->c, e, &missing,
                   "SELECT COUNT(*) FROM asset a WHERE a.version_id = $1 AND NOT EXISTS"
                   " (SELECT 1 FROM data d WHERE d.id = a.data_id)",
                   DBI(im->version)))
        return -1;
    if (missing)
        return err_set(e, ERR_CONFLICT,
                       "%lld datalake item%s of the file's images %s deleted while the file "
                       "was read; nothing was imported, run the import again",
                       (long long)missing, missing == 1 ? "" : "s", missing == 1 ? "was" : "were");
    return 0;
}

static int write_all(importer *im, const char *mode, const char *status, err *e)
{
    db_conn *c = im->c;
    bool keep = strcmp(mode, "keep") == 0, merge = strcmp(mode, "merge") == 0;
    int64_t now = time_now_ms(), user = job_creator(im->job);
    ds_bulk ab = {0}, sb = {0}, asb = {0};
    bool ab_ok = false, sb_ok = false, asb_ok = false;
    ds_imap asset_of = {0}, cur_rev = {0}, cur_cnt = {0}, hist = {0};
    int rc = -1;
    double c0 = time_thread_cpu_s();
    /* SQLite: no foreign-key checks in this transaction (a third of the
     * cost of a shape row: a lookup of its asset and of its label). What
     * they would check is checked once below instead: the labels and the
     * datalake items still exist (the writer lock then keeps them). */
    bool fk_off = !ds_is_pg(c) && !db_in_tx(c) && db_exec(c, "PRAGMA foreign_keys=OFF", e) == 0;
    if (db_begin(c, e))
        goto out;
    if (dataset_version_writable(c, im->org, im->version, e))
        goto fail;
    /* labels */
    for (size_t i = 0; i < im->ncats; i++) {
        imp_cat *k = &im->cats[i];
        if (k->bad || k->label >= 0 || k->label_id)
            continue;
        /* two categories with the same name share a label */
        for (size_t j = 0; j < i; j++)
            if (!im->cats[j].bad && strcmp(im->cats[j].name, k->name) == 0 && im->cats[j].label_id) {
                k->label_id = im->cats[j].label_id;
                break;
            }
        if (k->label_id)
            continue;
        if (db_one_i64(c, e, &k->label_id,
                       "INSERT INTO label (version_id, name, grp, keypoints, skeleton, nkeypoints,"
                       " color, source_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                       " RETURNING id",
                       DBI(im->version), DBT(k->name), DBT(k->group), DBT(k->keypoints),
                       DBT(k->skeleton), DBI(k->nkeypoints), DBNULL,
                       im->fmt == FMT_COCO ? DBI(k->file_id) : DBNULL, DBI(now)))
            goto fail;
    }
    /* assets */
    if (ds_bulk_init(&asb, c, "INSERT INTO asset (version_id, data_id, created_at) VALUES ",
                     " ON CONFLICT DO NOTHING", 3, 500, e))
        goto fail;
    asb_ok = true;
    int arc = 0;
    for (size_t i = 0; arc == 0 && i < im->nslots; i++)
        if (im->slots[i].data_id > 0)
            arc = ds_bulk_val(&asb, DBI(im->version), e) ||
                  ds_bulk_val(&asb, DBI(im->slots[i].data_id), e) || ds_bulk_val(&asb, DBI(now), e);
    if (arc || ds_bulk_flush(&asb, e)) {
        /* PostgreSQL checks the assets' foreign keys as they are written: a datalake item
         * deleted since the file was read (or the version) */
        if (e->code == ERR_CONFLICT) {
            char why[200];
            snprintf(why, sizeof why, "%s", e->msg);
            err_set(e, ERR_CONFLICT,
                    "a datalake item of the file's images, or the version, was deleted while "
                    "the file was read (%s); nothing was imported, run the import again",
                    why);
        }
        goto fail;
    }
    if (parents_exist(im, e)) /* SQLite: instead of the foreign keys; both: a clear message */
        goto fail;
    db_stmt *s = db_query(c, e,
                          "SELECT a.data_id, a.id, an.revision, an.shape_count FROM asset a"
                          " LEFT JOIN annotation an ON an.asset_id = a.id WHERE a.version_id = $1",
                          DBI(im->version));
    if (!s)
        goto fail;
    int st;
    while ((st = db_step(s, e)) == DB_ROW) {
        int64_t aid = db_col_i64(s, 1);
        ds_imap_put(&asset_of, db_col_i64(s, 0), aid);
        if (!db_col_null(s, 2)) {
            ds_imap_put(&cur_rev, aid, db_col_i64(s, 2));
            ds_imap_put(&cur_cnt, aid, db_col_i64(s, 3));
        }
    }
    db_done(s);
    if (st < 0)
        goto fail;
    s = db_query(c, e,
                 "SELECT r.asset_id, MAX(r.revision) FROM annotation_revision r JOIN asset a ON"
                 " a.id = r.asset_id WHERE a.version_id = $1 GROUP BY r.asset_id",
                 DBI(im->version));
    if (!s)
        goto fail;
    while ((st = db_step(s, e)) == DB_ROW)
        ds_imap_put(&hist, db_col_i64(s, 0), db_col_i64(s, 1));
    db_done(s);
    if (st < 0)
        goto fail;
    /* annotation rows */
    if (ds_bulk_init(&ab, c,
                     "INSERT INTO annotation (asset_id, version_id, status, author, duration_ms,"
                     " revision, shape_count, created_at, updated_at) VALUES ",
                     " ON CONFLICT (asset_id) DO UPDATE SET status = excluded.status,"
                     " author = excluded.author, revision = excluded.revision,"
                     " shape_count = excluded.shape_count, updated_at = excluded.updated_at",
                     9, 200, e))
        goto fail;
    ab_ok = true;
    for (size_t i = 0; i < im->nslots; i++) {
        imp_slot *sl = &im->slots[i];
        if (sl->data_id <= 0) {
            sl->skip = true;
            continue;
        }
        ds_imap_get(&asset_of, sl->data_id, &sl->asset_id);
        int64_t rev = 0, cnt = 0, h = 0;
        bool annotated = ds_imap_get(&cur_rev, sl->asset_id, &rev);
        ds_imap_get(&cur_cnt, sl->asset_id, &cnt);
        ds_imap_get(&hist, sl->asset_id, &h);
        if (annotated && keep) {
            sl->skip = true;
            continue;
        }
        if (annotated && ds_annotation_archive(c, sl->asset_id, !merge, e))
            goto fail;
        int64_t next = (rev > h ? rev : h) + 1;
        int64_t count = sl->nshapes + (annotated && merge ? cnt : 0);
        db_val v[9] = {DBI(sl->asset_id), DBI(im->version), DBT(status), DBI(user), DBI(0),
                       DBI(next), DBI(count), DBI(now), DBI(now)};
        for (int k = 0; k < 9; k++)
            if (ds_bulk_val(&ab, v[k], e))
                goto fail;
    }
    if (ds_bulk_flush(&ab, e))
        goto fail;
    /* shapes, from the spool */
    im->cpu_rows = time_thread_cpu_s() - c0;
    c0 = time_thread_cpu_s();
    if (ds_shapes_bulk_init_whole_tx(&sb, c, e)) /* any failure rolls everything back */
        goto fail;
    sb_ok = true;
    for (int p = 0; p < SPOOL_PARTS; p++)
        if (im->parts[p] && write_part(im, im->parts[p], &sb, e))
            goto fail;
    if (ds_bulk_flush(&sb, e) || split_tags(im, e))
        goto fail;
    im->cpu_shapes = time_thread_cpu_s() - c0;
    c0 = time_thread_cpu_s();
    if (db_commit(c, e))
        goto out;
    im->cpu_commit = time_thread_cpu_s() - c0;
    rc = 0;
    goto out;
fail:
    db_rollback(c);
out:
    if (fk_off) {
        /* the pragma is a no-op inside a transaction: none may be left */
        if (db_in_tx(c))
            db_rollback(c);
        err fe;
        db_exec(c, "PRAGMA foreign_keys=ON", &fe);
    }
    if (ab_ok)
        ds_bulk_free(&ab);
    if (sb_ok)
        ds_bulk_free(&sb);
    if (asb_ok)
        ds_bulk_free(&asb);
    ds_imap_free(&asset_of);
    ds_imap_free(&cur_rev);
    ds_imap_free(&cur_cnt);
    ds_imap_free(&hist);
    return rc;
}

/* --- the job ---------------------------------------------------------------------------------------- */

static int blob_to_file(blob_store *bs, const char *sha, const char *path, err *e);

static json_t *report_json(const fmt_report *rep, const importer *im, bool imported)
{
    json_t *probs = json_array();
    for (int i = 0; i < rep->n; i++) {
        json_t *p = json_pack("{s:s, s:s}", "where", rep->items[i].where, "message",
                              rep->items[i].message);
        if (rep->items[i].warning)
            json_object_set_new(p, "warning", json_true());
        json_array_append_new(probs, p);
    }
    return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:o}", "imported", imported, "images",
                     (json_int_t)im->nimgs, "shapes", (json_int_t)im->nshapes, "skipped_shapes",
                     (json_int_t)im->bad_shapes, "problems_total", (json_int_t)rep->total,
                     "categories", (json_int_t)im->ncats, "problems", probs);
}

static int fail_with_report(job_ctx *j, importer *im, const fmt_report *rep, err *e)
{
    json_t *res = report_json(rep, im, false);
    job_set_result(j, res);
    sbuf m = SBUF_INIT;
    sbuf_printf(&m, "the import found %lld problem%s; nothing was changed", (long long)rep->total,
                rep->total == 1 ? "" : "s");
    for (int i = 0, k = 0; i < rep->n && k < 5; i++) {
        if (rep->items[i].warning)
            continue;
        sbuf_printf(&m, "%s %s: %s", k++ ? ";" : ":", rep->items[i].where, rep->items[i].message);
    }
    if (rep->total > 5)
        sbuf_printf(&m, "; ... (the job's result lists them all)");
    err_set(e, ERR_UNPROCESSABLE, "%s", sbuf_cstr(&m));
    sbuf_free(&m);
    return -1;
}

/* The directory to read: the unpacked archive, descending into a single
 * top-level folder; for file formats (COCO, CSV) the one such file in it. */
static int pick_input(fmt_format f, const char *root, char *out, size_t n, err *e)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", root);
    for (;;) {
        DIR *d = opendir(dir);
        if (!d)
            return err_set(e, ERR_IO, "cannot read the unpacked archive");
        struct dirent *de;
        int count = 0;
        char only[1024] = "";
        bool only_dir = false;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            count++;
            snprintf(only, sizeof only, "%s", de->d_name);
            only_dir = de->d_type == DT_DIR;
        }
        closedir(d);
        if (count == 1 && only_dir) {
            size_t l = strlen(dir);
            snprintf(dir + l, sizeof dir - l, "/%s", only);
            continue;
        }
        break;
    }
    if (f != FMT_COCO && f != FMT_CSV) {
        snprintf(out, n, "%s", dir);
        return 0;
    }
    const char *ext = f == FMT_COCO ? ".json" : ".csv";
    DIR *d = opendir(dir);
    struct dirent *de;
    int found = 0;
    while (d && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > strlen(ext) && strcmp(de->d_name + l - strlen(ext), ext) == 0) {
            if (found++ == 0)
                snprintf(out, n, "%s/%s", dir, de->d_name);
        }
    }
    if (d)
        closedir(d);
    if (found != 1)
        return err_set(e, ERR_UNPROCESSABLE,
                       "the archive must hold exactly one %s file at its top level; it has %d", ext,
                       found);
    return 0;
}

int dataset_import_run(job_ctx *j, const dataset_env *env, err *e)
{
    json_t *p = job_payload(j);
    int64_t version = 0;
    const char *file = NULL, *format = NULL, *mode = "replace", *status = "accepted", *split = NULL;
    bool skip = false;
    if (jv_i64(p, "version_id", JV_REQUIRED, 1, INT64_MAX, &version, e) ||
        jv_str(p, "file", JV_REQUIRED, 64, &file, e) || jv_str(p, "format", JV_REQUIRED, 16, &format, e) ||
        jv_str(p, "mode", JV_OPTIONAL, 16, &mode, e) || jv_str(p, "status", JV_OPTIONAL, 16, &status, e) ||
        jv_str(p, "split", JV_OPTIONAL, 64, &split, e) || jv_bool(p, "skip_invalid", JV_OPTIONAL, &skip, e))
        return -1;
    importer im = {0};
    fmt_report rep = {0};
    im.job = j;
    im.env = env;
    im.org = job_org(j);
    im.version = version;
    im.skip_invalid = skip;
    im.rep = &rep;
    im.mem = arena_new(1 << 20);
    char tmp[4096] = "", input[4096], local[4200] = "";
    int rc = -1;
    if (fmt_format_parse(format, &im.fmt, e))
        return -1;
    im.c = db_get(env->db, e);
    if (!im.c || !im.mem)
        goto out;
    ds_version v;
    char lake_name[80] = "?";
    if (ds_version_get(im.c, im.org, version, &v, e) || files_check(im.c, im.org, file, NULL, e))
        goto out;
    im.lake = v.lake;
    {
        db_stmt *s = db_query(im.c, e, "SELECT name FROM datalake WHERE id = $1", DBI(v.lake));
        if (s && db_step(s, e) == DB_ROW)
            snprintf(lake_name, sizeof lake_name, "%s", db_col_text(s, 0));
        db_done(s);
    }
    im.lake_name = lake_name;
    if (v.locked) {
        dataset_version_writable(im.c, im.org, version, e);
        goto out;
    }
    if (ds_labels_load(im.c, version, &im.labels, e))
        goto out;
    /* the input as a local file */
    if (ds_tmpdir(env->spool_dir, "import", tmp, sizeof tmp, e))
        goto out;
    int fd;
    int64_t size;
    err fe;
    if (blob_open_fd(env->blobs, file, &fd, &size, &fe) == 0) {
        snprintf(local, sizeof local, "%s/input", tmp);
        /* a link to the blob (same file system) or a copy */
        char src[64];
        snprintf(src, sizeof src, "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, src, AT_FDCWD, local, AT_SYMLINK_FOLLOW) != 0) {
            close(fd);
            if (blob_to_file(env->blobs, file, local, e))
                goto out;
        } else {
            close(fd);
        }
    } else {
        snprintf(local, sizeof local, "%s/input", tmp);
        job_progress(j, 0.02, "downloading the upload");
        if (blob_to_file(env->blobs, file, local, e))
            goto out;
    }
    if (ds_archive_sniff(local)) {
        char root[4200];
        snprintf(root, sizeof root, "%s/unpacked", tmp);
        mkdir(root, 0750);
        job_progress(j, 0.05, "unpacking the archive");
        if (ds_archive_extract(local, root, ARCHIVE_MAX_BYTES, ARCHIVE_MAX_ENTRIES, e) ||
            pick_input(im.fmt, root, input, sizeof input, e))
            goto out;
        im.root = im.fmt == FMT_COCO || im.fmt == FMT_CSV ? NULL : input;
        if (!im.root) {
            /* images next to the file are the archive's root */
            static __thread char rootbuf[4096];
            snprintf(rootbuf, sizeof rootbuf, "%s", input);
            char *sl = strrchr(rootbuf, '/');
            if (sl)
                *sl = 0;
            im.root = rootbuf;
        }
    } else {
        if (im.fmt != FMT_COCO && im.fmt != FMT_CSV) {
            err_set(e, ERR_INVALID,
                    "a %s dataset is a directory: upload it as an archive (tar or zip); the CLI "
                    "packs a directory for you",
                    format);
            goto out;
        }
        snprintf(input, sizeof input, "%s", local);
    }
    im.spool_dir = tmp;
    /* phase 1: read and check */
    job_progress(j, 0.1, "reading %s", format);
    /* the callbacks (image names matched in the database, shapes checked and
     * spooled, progress) run on a second thread while the file is read
     * further: they only touch the importer, its connection and its spools,
     * which this thread leaves alone until fmt_read returns */
    fmt_read_opts ro = {.keep_going = true, .split = split, .pipeline = true};
    fmt_read_cb cb = {&im, on_category, cb_image, on_shape};
    int64_t t0 = time_mono_ns();
    double c0 = time_thread_cpu_s();
    err re;
    err_clear(&re);
    int rr = fmt_read(im.fmt, input, &ro, &cb, &rep, &re);
    if (rr == 0 && resolve(&im, &re))
        rr = -1;
    double cpu_read = time_thread_cpu_s() - c0 + rep.consumer_cpu_s;
    job_log(j,
            "read %lld categories, %lld images, %lld shapes in %.2f s (%.2f s CPU: %.2f parsing "
            "and checking, %.2f matching images); %lld problems",
            (long long)im.ncats, (long long)im.nimgs, (long long)im.shapes_seen,
            (double)(time_mono_ns() - t0) / 1e9, cpu_read, cpu_read - im.cpu_match, im.cpu_match,
            (long long)rep.total);
    if (rr != 0) {
        if (re.code == ERR_INTERNAL || re.code == ERR_IO || re.code == ERR_UNAVAILABLE) {
            *e = re;
            goto out;
        }
        if (rep.total == 0)
            fmt_report_add(&rep, "file", "%s", re.msg);
        fail_with_report(j, &im, &rep, e);
        goto out;
    }
    if (rep.total > 0 && !skip) {
        fail_with_report(j, &im, &rep, e);
        goto out;
    }
    if (job_should_stop(j)) {
        err_set(e, ERR_UNAVAILABLE, "stopped");
        goto out;
    }
    /* phase 2: write */
    if (ingest_archive_images(&im, e))
        goto out;
    job_progress(j, 0.6, "writing %lld shapes", (long long)im.nshapes);
    t0 = time_mono_ns();
    c0 = time_thread_cpu_s();
    if (write_all(&im, mode, status, e))
        goto out;
    job_log(j,
            "wrote %zu assets and %lld shapes in %.2f s (%.2f s CPU: %.2f labels, assets and "
            "annotation rows, %.2f shape rows, %.2f commit; mode %s)",
            im.nslots, (long long)im.nshapes, (double)(time_mono_ns() - t0) / 1e9, time_thread_cpu_s() - c0,
            im.cpu_rows, im.cpu_shapes, im.cpu_commit, mode);
    job_set_result(j, report_json(&rep, &im, true));
    job_progress(j, 1, "imported %zu images and %lld shapes%s", im.nslots, (long long)im.nshapes,
                 rep.total ? " (invalid records skipped)" : "");
    rc = 0;
out:
    for (int k = 0; k < SPOOL_PARTS; k++)
        if (im.parts[k])
            fclose(im.parts[k]);
    if (tmp[0])
        ds_rmtree(tmp);
    db_put(im.c);
    ds_labels_free(&im.labels);
    ds_imap_free(&im.cat_by_id);
    ds_imap_free(&im.img_by_id);
    ds_imap_free(&im.slot_by_data);
    free(im.cats);
    free(im.imgs);
    free(im.slots);
    arena_free(im.mem);
    fmt_report_free(&rep);
    (void)modes;
    return rc;
}

typedef struct {
    int fd;
    int err;
} file_sink;

static int to_fd(void *ctx, const void *p, size_t n)
{
    file_sink *s = ctx;
    const char *c = p;
    while (n) {
        ssize_t w = write(s->fd, c, n);
        if (w <= 0) {
            s->err = errno;
            return 1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int blob_to_file(blob_store *bs, const char *sha, const char *path, err *e)
{
    file_sink s = {open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640), 0};
    if (s.fd < 0)
        return err_set(e, ERR_IO, "cannot create %s: %s", path, strerror(errno));
    int rc = blob_read(bs, sha, 0, -1, to_fd, &s, e);
    if (close(s.fd) != 0 && rc == 0)
        rc = err_set(e, ERR_IO, "cannot write %s", path);
    if (rc == 0 && s.err)
        rc = err_set(e, ERR_IO, "cannot write %s: %s", path, strerror(s.err));
    return rc;
}

/* --- submitting -------------------------------------------------------------------------------------- */

int dataset_import_submit(db_conn *c, int64_t org, int64_t version, json_t *req, int64_t user,
                          int64_t *job, err *e)
{
    static const char *const fields[] = {"file", "format", "mode", "skip_invalid", "status",
                                         "split", NULL};
    const char *file = NULL, *format = NULL, *mode = "replace", *status = "accepted",
               *split = NULL;
    bool skip = false;
    fmt_format f;
    if (jv_is_obj(req, e) || jv_only(req, fields, e) ||
        jv_str(req, "file", JV_REQUIRED, 64, &file, e) ||
        jv_str(req, "format", JV_REQUIRED, 16, &format, e) || fmt_format_parse(format, &f, e) ||
        jv_str(req, "mode", JV_OPTIONAL, 16, &mode, e) ||
        jv_str(req, "status", JV_OPTIONAL, 16, &status, e) ||
        jv_str(req, "split", JV_OPTIONAL, 64, &split, e) ||
        jv_bool(req, "skip_invalid", JV_OPTIONAL, &skip, e))
        return -1;
    bool ok = false;
    for (size_t i = 0; i < ARRAY_LEN(modes); i++)
        ok |= strcmp(mode, modes[i]) == 0;
    if (!ok)
        return err_set(e, ERR_INVALID, "mode '%.20s' is not one of replace, keep, merge", mode);
    if (!ds_status_valid(status))
        return err_set(e, ERR_INVALID,
                       "status '%.20s' is not one of pending, accepted, rejected, skipped", status);
    if (dataset_version_writable(c, org, version, e) || files_check(c, org, file, NULL, e))
        return -1;
    json_t *pl = json_pack("{s:I, s:s, s:s, s:s, s:s, s:b}", "version_id", (json_int_t)version,
                           "file", file, "format", format, "mode", mode, "status", status,
                           "skip_invalid", skip);
    if (split)
        json_object_set_new(pl, "split", json_string(split));
    char *txt = json_dumps(pl, JSON_COMPACT);
    json_decref(pl);
    int rc = jobs_submit(c, org, "dataset.import", txt, user, 1, job, e);
    free(txt);
    return rc;
}
