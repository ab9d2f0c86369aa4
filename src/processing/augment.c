/*
 * augment.c - the augment built-in: augmented copies of a version's images
 * in a new version, and the helpers the image built-ins share.
 *
 * Each copy draws, from a generator seeded by (seed, asset, copy), a crop
 * (each side a fraction in crop..1 of the image, placed anywhere), flips
 * and a rotation about the crop's centre; these compose into one affine map
 * from the original to the copy. The pixels are resampled through its
 * inverse (grey where the rotated image does not reach) and the shapes go
 * through the map itself (shapemap.c), so a box stays on its object. Colour
 * (brightness, contrast, saturation), noise and blur change pixels only.
 * The same seed gives the same copies.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "dataset/dataset.h"
#include "processing/internal.h"

/* --- shared by the image built-ins ------------------------------------------------ */

json_t *proc_asset_shapes(json_t *asset, const char **status)
{
    json_t *an = json_object_get(asset, "annotation");
    *status = NULL;
    if (!json_is_object(an))
        return NULL;
    *status = json_string_value(json_object_get(an, "status"));
    json_t *s = json_object_get(asset, "shapes");
    return json_is_array(s) ? s : NULL;
}

int proc_decode(proc_run_ctx *x, json_t *asset, sbuf *bytes, image_pixels *px, err *e)
{
    return proc_decode_at(x, asset, bytes, 0, px, e);
}

int proc_decode_at(proc_run_ctx *x, json_t *asset, sbuf *bytes, uint32_t min_side,
                   image_pixels *px, err *e)
{
    const char *sha = json_string_value(json_object_get(asset, "sha256"));
    if (!sha)
        return err_set(e, ERR_INTERNAL, "asset without content");
    if (proc_blob_bytes(x->env, sha, bytes, e))
        return -1;
    image_limits lim = {.max_pixels = x->env->max_pixels};
    image_decode_opts o = {.channels = 3, .target_side = min_side, .limits = &lim};
    if (image_decode(bytes->p, bytes->len, &o, px, e))
        return err_prefix(e, "asset %lld ('%s'): ",
                          (long long)json_integer_value(json_object_get(asset, "id")),
                          json_string_value(json_object_get(asset, "filename")));
    return 0;
}

void proc_derived_name(const char *filename, const char *suffix, const char *ext, char *out,
                       size_t n)
{
    const char *base = filename ? strrchr(filename, '/') : NULL;
    base = base ? base + 1 : filename ? filename : "image";
    const char *dot = strrchr(base, '.');
    int len = dot && dot > base ? (int)(dot - base) : (int)strlen(base);
    if (len > 400)
        len = 400;
    snprintf(out, n, "%.*s_%s.%s", len, base, suffix, strcmp(ext, "jpeg") == 0 ? "jpg" : ext);
}

void proc_version_name(proc_run_ctx *x, const vbuild_src *src, const char *what, char *out,
                       size_t n)
{
    const char *given = proc_ps(x, "name");
    if (!given)
        given = proc_ps(x, "new_version");
    if (given) {
        snprintf(out, n, "%s", given);
        return;
    }
    char tail[64];
    snprintf(tail, sizeof tail, "-%s-%lld", what, (long long)x->run.job);
    snprintf(out, n, "%.*s%s", (int)(DATASET_NAME_MAX - strlen(tail)), src->vname, tail);
}

const char *proc_query(proc_run_ctx *x)
{
    const char *q = proc_ps(x, "query");
    return q ? q : x->run.query[0] ? x->run.query : NULL;
}

/* --- augment ------------------------------------------------------------------------ */

typedef struct aug {
    proc_run_ctx *x;
    vbuild *vb;
    int copies;
    double flip_h, flip_v, rotate, crop, bright, contrast, sat, noise, blur, minvis;
    int quality;
    uint64_t seed;
    sbuf bytes;
    int64_t done, total, made;
    geom_stats st;
} aug;

static int aug_one(void *ctx, json_t *asset, err *e)
{
    aug *a = ctx;
    proc_run_ctx *x = a->x;
    if (proc_should_stop(x, e))
        return -1;
    job_progress(x->job, 0.9 * (double)a->done / (double)(a->total ? a->total : 1),
                 "%lld of %lld images", (long long)a->done, (long long)a->total);
    a->done++;
    image_pixels src;
    if (proc_decode(x, asset, &a->bytes, &src, e))
        return -1;
    const char *status;
    json_t *shapes = proc_asset_shapes(asset, &status);
    int64_t asset_id = json_integer_value(json_object_get(asset, "id"));
    int64_t data_id = json_integer_value(json_object_get(asset, "data_id"));
    const char *fname = json_string_value(json_object_get(asset, "filename"));
    double W = src.width, H = src.height;
    int rc = 0;
    for (int k = 0; k < a->copies && rc == 0; k++) {
        uint64_t rng = a->seed * 0x9E3779B97F4A7C15ull ^ (uint64_t)asset_id * 0xBF58476D1CE4E5B9ull ^
                       (uint64_t)(k + 1) * 0x94D049BB133111EBull;
        proc_rand(&rng);
        double sx = a->crop + (1 - a->crop) * proc_uniform(&rng);
        double sy = a->crop + (1 - a->crop) * proc_uniform(&rng);
        uint32_t cw = (uint32_t)fmax(1, round(W * sx)), ch = (uint32_t)fmax(1, round(H * sy));
        double cx = floor(proc_uniform(&rng) * (W - cw + 1));
        double cy = floor(proc_uniform(&rng) * (H - ch + 1));
        bool fh = proc_uniform(&rng) < a->flip_h, fv = proc_uniform(&rng) < a->flip_v;
        double angle = a->rotate > 0 ? (proc_uniform(&rng) * 2 - 1) * a->rotate : 0;
        geom_affine m = geom_translate(-cx, -cy);
        if (fh)
            m = geom_mul((geom_affine){-1, 0, cw, 0, 1, 0}, m);
        if (fv)
            m = geom_mul((geom_affine){1, 0, 0, 0, -1, ch}, m);
        if (angle != 0)
            m = geom_mul(geom_rotate_about(angle, cw / 2.0, ch / 2.0), m);
        geom_affine inv;
        if (geom_invert(m, &inv)) {
            rc = err_set(e, ERR_INTERNAL, "degenerate transform");
            break;
        }
        static const uint8_t grey[3] = {114, 114, 114};
        image_pixels out;
        if ((rc = pix_warp(&src, inv, cw, ch, grey, &out, e)) != 0)
            break;
        double b = 1 + (proc_uniform(&rng) * 2 - 1) * a->bright;
        double c = 1 + (proc_uniform(&rng) * 2 - 1) * a->contrast;
        double s = 1 + (proc_uniform(&rng) * 2 - 1) * a->sat;
        if (a->bright > 0 || a->contrast > 0 || a->sat > 0)
            pix_color(&out, b, c, s);
        pix_noise(&out, a->noise, &rng);
        double sigma = a->blur > 0 ? proc_uniform(&rng) * a->blur : 0;
        if ((rc = pix_blur(&out, sigma, e)) != 0) {
            image_pixels_free(&out);
            break;
        }
        uint8_t *enc = NULL;
        size_t len = 0;
        rc = pix_encode(&out, "jpeg", a->quality, &enc, &len, e);
        image_pixels_free(&out);
        if (rc)
            break;
        json_t *mapped = NULL;
        if (shapes) {
            mapped = json_array();
            size_t i;
            json_t *sh;
            json_array_foreach(shapes, i, sh)
            {
                json_t *o = geom_shape_map(sh, m, cw, ch, a->minvis, &a->st);
                if (o)
                    json_array_append_new(mapped, o);
            }
        }
        char name[600], suffix[32];
        snprintf(suffix, sizeof suffix, "aug%d", k + 1);
        proc_derived_name(fname, suffix, "jpeg", name, sizeof name);
        json_t *meta = json_pack("{s:I, s:I, s:{s:b, s:b, s:f, s:[f, f, i, i]}}", "augmented_from",
                                 (json_int_t)data_id, "job", (json_int_t)x->run.job, "transform",
                                 "flip_horizontal", fh, "flip_vertical", fv, "rotate",
                                 round(angle * 100) / 100, "crop", cx, cy, (int)cw, (int)ch);
        rc = vbuild_add_image(a->vb, enc, len, name, meta, mapped, status, e);
        json_decref(meta);
        json_decref(mapped);
        free(enc);
        a->made++;
    }
    image_pixels_free(&src);
    return rc;
}

int proc_augment(proc_run_ctx *x, err *e)
{
    aug a = {.x = x,
             .copies = (int)proc_pi(x, "copies"),
             .flip_h = proc_pd(x, "flip_horizontal"),
             .flip_v = proc_pd(x, "flip_vertical"),
             .rotate = proc_pd(x, "rotate"),
             .crop = proc_pd(x, "crop"),
             .bright = proc_pd(x, "brightness"),
             .contrast = proc_pd(x, "contrast"),
             .sat = proc_pd(x, "saturation"),
             .noise = proc_pd(x, "noise"),
             .blur = proc_pd(x, "blur"),
             .minvis = proc_pd(x, "min_visibility"),
             .quality = (int)proc_pi(x, "quality"),
             .seed = (uint64_t)proc_pi(x, "seed")};
    if (!a.seed)
        a.seed = (uint64_t)x->run.job;
    vbuild_src src;
    db_conn *c = db_get(x->env->db, e);
    if (!c)
        return -1;
    const char *q = proc_query(x);
    int rc = vbuild_source(c, x->run.org, x->run.target_id, &src, e);
    if (rc == 0)
        rc = dataset_assets_count(c, x->run.org, x->run.target_id, q, &a.total, e);
    db_put(c);
    if (rc)
        return -1;
    a.vb = vbuild_new(x, &src, e);
    if (!a.vb)
        return -1;
    c = db_get(x->env->db, e);
    rc = c ? proc_each_asset(c, x->run.org, x->run.target_id, q, true, aug_one, &a, NULL, e) : -1;
    db_put(c);
    sbuf_free(&a.bytes);
    int64_t nv = 0;
    char name[DATASET_NAME_MAX + 1];
    proc_version_name(x, &src, "augmented", name, sizeof name);
    if (rc == 0) {
        char desc[400];
        snprintf(desc, sizeof desc, "%s augmented by job %lld (%d copies per image)", src.name,
                 (long long)x->run.job, a.copies);
        vbuild_commit_opts o = {.name = name,
                                .description = desc,
                                .fork = proc_pb(x, "include_originals"),
                                .query = q};
        rc = vbuild_commit(a.vb, &o, &nv, e);
    }
    vbuild_free(a.vb);
    if (rc)
        return -1;
    json_object_set_new(x->result, "outputs",
                        json_pack("[{s:s, s:I, s:s}]", "type", "dataset-version", "id",
                                  (json_int_t)nv, "name", name));
    json_object_set_new(x->result, "images", json_integer(a.done));
    json_object_set_new(x->result, "copies", json_integer(a.made));
    json_object_set_new(x->result, "shapes_kept", json_integer(a.st.kept));
    json_object_set_new(x->result, "shapes_dropped", json_integer(a.st.dropped));
    json_object_set_new(x->result, "masks_dropped", json_integer(a.st.masks_dropped));
    job_log(x->job, "%lld images, %lld copies; shapes kept %lld, dropped %lld (outside the copy), "
                    "masks left out %lld",
            (long long)a.done, (long long)a.made, (long long)a.st.kept, (long long)a.st.dropped,
            (long long)a.st.masks_dropped);
    return 0;
}
