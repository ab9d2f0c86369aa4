/*
 * tile.c - the tile and resize built-ins: new versions whose images are
 * cut from, or scaled from, the input's, with the annotations following.
 *
 * tile    Tiles of tile_size along each axis, a step of tile_size * (1 -
 *         overlap) apart; the last tile of a row or column is aligned with
 *         the image's edge so nothing is lost; an image smaller than a tile
 *         along an axis is one tile of its own size there. Each tile's
 *         shapes are the image's moved by the tile's offset and clipped to
 *         it (shapemap.c). Tiles remember where they came from in their
 *         metadata (tile_of, x, y).
 * resize  The longest side scaled to max_side (never enlarged unless
 *         upscale), the format changed when asked; an image that already
 *         fits and has the format is reused as it is (no new data).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset/dataset.h"
#include "processing/internal.h"

typedef struct tiler {
    proc_run_ctx *x;
    vbuild *vb;
    int tile;
    double overlap, minvis;
    bool include_empty;
    const char *format;
    int quality;
    sbuf bytes;
    int64_t done, total, tiles, empty_skipped;
    geom_stats st;
} tiler;

/* Tile origins along one axis. */
static int positions(uint32_t len, int tile, int step, uint32_t *out, int max)
{
    if ((int64_t)len <= tile) {
        out[0] = 0;
        return 1;
    }
    int n = 0;
    for (int64_t p = 0; p + tile < (int64_t)len && n < max - 1; p += step)
        out[n++] = (uint32_t)p;
    out[n++] = len - (uint32_t)tile;
    return n;
}

static int tile_one(void *ctx, json_t *asset, err *e)
{
    tiler *t = ctx;
    proc_run_ctx *x = t->x;
    if (proc_should_stop(x, e))
        return -1;
    job_progress(x->job, 0.9 * (double)t->done / (double)(t->total ? t->total : 1),
                 "%lld of %lld images", (long long)t->done, (long long)t->total);
    t->done++;
    image_pixels src;
    if (proc_decode(x, asset, &t->bytes, &src, e))
        return -1;
    const char *status;
    json_t *shapes = proc_asset_shapes(asset, &status);
    int step = (int)fmax(1, round(t->tile * (1 - t->overlap)));
    enum { MAXP = 4096 };
    uint32_t *xs = malloc(MAXP * sizeof *xs), *ys = malloc(MAXP * sizeof *ys);
    int nx = positions(src.width, t->tile, step, xs, MAXP);
    int ny = positions(src.height, t->tile, step, ys, MAXP);
    int64_t data_id = json_integer_value(json_object_get(asset, "data_id"));
    const char *fname = json_string_value(json_object_get(asset, "filename"));
    int rc = 0;
    for (int j = 0; j < ny && rc == 0; j++)
        for (int i = 0; i < nx && rc == 0; i++) {
            uint32_t tx = xs[i], ty = ys[j];
            uint32_t tw = src.width - tx < (uint32_t)t->tile ? src.width - tx : (uint32_t)t->tile;
            uint32_t th = src.height - ty < (uint32_t)t->tile ? src.height - ty : (uint32_t)t->tile;
            geom_affine m = geom_translate(-(double)tx, -(double)ty);
            json_t *mapped = NULL;
            if (shapes) {
                mapped = json_array();
                size_t k;
                json_t *sh;
                json_array_foreach(shapes, k, sh)
                {
                    json_t *o = geom_shape_map(sh, m, tw, th, t->minvis, &t->st);
                    if (o)
                        json_array_append_new(mapped, o);
                }
            }
            if (!t->include_empty && json_array_size(mapped) == 0) {
                t->empty_skipped++;
                json_decref(mapped);
                continue;
            }
            image_pixels out;
            uint8_t *enc = NULL;
            size_t len = 0;
            rc = pix_crop(&src, tx, ty, tw, th, &out, e);
            if (rc == 0) {
                rc = pix_encode(&out, t->format, t->quality, &enc, &len, e);
                image_pixels_free(&out);
            }
            if (rc == 0) {
                char name[600], suffix[48];
                snprintf(suffix, sizeof suffix, "tile_%u_%u", tx, ty);
                proc_derived_name(fname, suffix, t->format, name, sizeof name);
                json_t *meta = json_pack("{s:I, s:i, s:i, s:i, s:i, s:I}", "tile_of",
                                         (json_int_t)data_id, "x", (int)tx, "y", (int)ty, "width",
                                         (int)tw, "height", (int)th, "job", (json_int_t)x->run.job);
                rc = vbuild_add_image(t->vb, enc, len, name, meta, mapped, status, e);
                json_decref(meta);
                t->tiles++;
            }
            free(enc);
            json_decref(mapped);
        }
    free(xs);
    free(ys);
    image_pixels_free(&src);
    return rc;
}

static int run_builder(proc_run_ctx *x, const char *what, int (*fn)(void *, json_t *, err *),
                       void *ctx, vbuild **vb, int64_t *total, vbuild_src *src, int64_t *nv,
                       char *name, size_t name_n, err *e)
{
    db_conn *c = db_get(x->env->db, e);
    if (!c)
        return -1;
    const char *q = proc_query(x);
    int rc = vbuild_source(c, x->run.org, x->run.target_id, src, e);
    if (rc == 0)
        rc = dataset_assets_count(c, x->run.org, x->run.target_id, q, total, e);
    db_put(c);
    if (rc)
        return -1;
    *vb = vbuild_new(x, src, e);
    if (!*vb)
        return -1;
    c = db_get(x->env->db, e);
    rc = c ? proc_each_asset(c, x->run.org, x->run.target_id, q, true, fn, ctx, NULL, e) : -1;
    db_put(c);
    proc_version_name(x, src, what, name, name_n);
    if (rc == 0) {
        char desc[400];
        snprintf(desc, sizeof desc, "%s: %s by job %lld", src->name, what, (long long)x->run.job);
        vbuild_commit_opts o = {.name = name, .description = desc, .fork = false};
        rc = vbuild_commit(*vb, &o, nv, e);
    }
    vbuild_free(*vb);
    *vb = NULL;
    if (rc)
        return -1;
    json_object_set_new(x->result, "outputs",
                        json_pack("[{s:s, s:I, s:s}]", "type", "dataset-version", "id",
                                  (json_int_t)*nv, "name", name));
    return 0;
}

int proc_tile(proc_run_ctx *x, err *e)
{
    tiler t = {.x = x,
               .tile = (int)proc_pi(x, "tile_size"),
               .overlap = proc_pd(x, "overlap"),
               .minvis = proc_pd(x, "min_visibility"),
               .include_empty = proc_pb(x, "include_empty"),
               .format = proc_ps(x, "format") ? proc_ps(x, "format") : "jpeg",
               .quality = (int)proc_pi(x, "quality")};
    vbuild_src src;
    int64_t nv = 0;
    char name[DATASET_NAME_MAX + 1];
    int rc = run_builder(x, "tiles", tile_one, &t, &t.vb, &t.total, &src, &nv, name, sizeof name, e);
    sbuf_free(&t.bytes);
    if (rc)
        return -1;
    json_object_set_new(x->result, "images", json_integer(t.done));
    json_object_set_new(x->result, "tiles", json_integer(t.tiles));
    json_object_set_new(x->result, "empty_tiles_skipped", json_integer(t.empty_skipped));
    json_object_set_new(x->result, "shapes_kept", json_integer(t.st.kept));
    json_object_set_new(x->result, "shapes_dropped", json_integer(t.st.dropped));
    json_object_set_new(x->result, "masks_dropped", json_integer(t.st.masks_dropped));
    job_log(x->job, "%lld images cut into %lld tiles; shapes kept %lld, dropped %lld",
            (long long)t.done, (long long)t.tiles, (long long)t.st.kept, (long long)t.st.dropped);
    return 0;
}

/* --- resize ------------------------------------------------------------------------------ */

typedef struct resizer {
    proc_run_ctx *x;
    vbuild *vb;
    int max_side, quality;
    bool upscale;
    const char *format;
    sbuf bytes;
    int64_t done, total, resized, reused;
    geom_stats st;
} resizer;

static int resize_one(void *ctx, json_t *asset, err *e)
{
    resizer *z = ctx;
    proc_run_ctx *x = z->x;
    if (proc_should_stop(x, e))
        return -1;
    job_progress(x->job, 0.9 * (double)z->done / (double)(z->total ? z->total : 1),
                 "%lld of %lld images", (long long)z->done, (long long)z->total);
    z->done++;
    double W = (double)json_integer_value(json_object_get(asset, "width"));
    double H = (double)json_integer_value(json_object_get(asset, "height"));
    const char *have = json_string_value(json_object_get(asset, "format"));
    const char *fmt = z->format;
    if (strcmp(fmt, "keep") == 0)
        fmt = have && (!strcmp(have, "jpeg") || !strcmp(have, "png") || !strcmp(have, "webp")) ? have
                                                                                               : "jpeg";
    double scale = z->max_side / fmax(W, H);
    if (scale > 1 && !z->upscale)
        scale = 1;
    uint32_t nw = (uint32_t)fmax(1, round(W * scale)), nh = (uint32_t)fmax(1, round(H * scale));
    const char *status;
    json_t *shapes = proc_asset_shapes(asset, &status);
    geom_affine m = geom_scale(nw / W, nh / H);
    json_t *mapped = NULL;
    if (shapes) {
        mapped = json_array();
        size_t k;
        json_t *sh;
        json_array_foreach(shapes, k, sh)
        {
            json_t *o = geom_shape_map(sh, m, nw, nh, 0, &z->st);
            if (o)
                json_array_append_new(mapped, o);
        }
    }
    int rc;
    if (nw == (uint32_t)W && nh == (uint32_t)H && have && strcmp(have, fmt) == 0) {
        rc = vbuild_add_existing(z->vb, json_integer_value(json_object_get(asset, "data_id")),
                                 mapped, status, e);
        z->reused++;
    } else {
        image_pixels src, out;
        /* shrinking: decoded at the cheapest size still at least as large
         * (JPEG DCT scaling), then area-averaged to the exact size */
        uint32_t at = scale < 1 ? (nw > nh ? nw : nh) : 0;
        rc = proc_decode_at(x, asset, &z->bytes, at, &src, e);
        if (rc == 0) {
            rc = pix_resize(&src, nw, nh, &out, e);
            image_pixels_free(&src);
        }
        uint8_t *enc = NULL;
        size_t len = 0;
        if (rc == 0) {
            rc = pix_encode(&out, fmt, z->quality, &enc, &len, e);
            image_pixels_free(&out);
        }
        if (rc == 0) {
            char name[600], suffix[32];
            snprintf(suffix, sizeof suffix, "%ux%u", nw, nh);
            proc_derived_name(json_string_value(json_object_get(asset, "filename")), suffix, fmt,
                              name, sizeof name);
            json_t *meta = json_pack("{s:I, s:I}", "resized_from",
                                     (json_int_t)json_integer_value(json_object_get(asset, "data_id")),
                                     "job", (json_int_t)x->run.job);
            rc = vbuild_add_image(z->vb, enc, len, name, meta, mapped, status, e);
            json_decref(meta);
            z->resized++;
        }
        free(enc);
    }
    json_decref(mapped);
    return rc;
}

int proc_resize(proc_run_ctx *x, err *e)
{
    resizer z = {.x = x,
                 .max_side = (int)proc_pi(x, "max_side"),
                 .quality = (int)proc_pi(x, "quality"),
                 .upscale = proc_pb(x, "upscale"),
                 .format = proc_ps(x, "format") ? proc_ps(x, "format") : "keep"};
    vbuild_src src;
    int64_t nv = 0;
    char name[DATASET_NAME_MAX + 1];
    int rc = run_builder(x, "resized", resize_one, &z, &z.vb, &z.total, &src, &nv, name, sizeof name, e);
    sbuf_free(&z.bytes);
    if (rc)
        return -1;
    json_object_set_new(x->result, "images", json_integer(z.done));
    json_object_set_new(x->result, "resized", json_integer(z.resized));
    json_object_set_new(x->result, "reused", json_integer(z.reused));
    json_object_set_new(x->result, "masks_dropped", json_integer(z.st.masks_dropped));
    job_log(x->job, "%lld images: %lld written anew, %lld reused as they were", (long long)z.done,
            (long long)z.resized, (long long)z.reused);
    return 0;
}
