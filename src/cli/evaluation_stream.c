/*
 * evaluation_stream.c - prediction uploads made from the file in two
 * streaming passes (evaluation_stream.h).
 */
#include "cli/evaluation_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#include "base/buf.h"
#include "eval/coco_io.h"

#define BLOCK (1u << 20)

enum { G_BOX, G_POLYGON, G_MASK, G_KEYPOINTS };
static const char *const kind_name[] = {"box", "polygon", "mask", "keypoints"};
static const char *const kind_key[] = {"box", "rings", "rle", "keypoints"};

/* One COCO result: what its shape needs. */
typedef struct res_rec {
    uint64_t goff; /* its geometry's text in the file */
    uint32_t glen;
    uint32_t img; /* image index, first-seen order */
    int64_t cat;
    double score;
    uint8_t kind;
} res_rec;

/* One API item: where it lies, its shapes. */
typedef struct item_rec {
    uint64_t off;
    uint64_t len;
    size_t nshapes;
} item_rec;

/* What a result's key is. */
enum { K_OTHER, K_IMG, K_CAT, K_SCORE, K_BBOX, K_SEG, K_KP };

/* A geometry value seen in the current result: 0 none, 1 array, 2 object,
 * 3 anything else; where its text is. */
typedef struct gval {
    int type;
    uint64_t off, end;
} gval;

typedef struct pass1 {
    const ev_stream_opts *o;
    yajl_handle h;
    uint64_t base; /* file offset of the block being parsed */
    char *why;
    size_t wn;
    bool failed;
    int depth;
    /* coco */
    size_t nres;
    res_rec *res;
    size_t capres;
    int key;
    bool has_img, has_cat, has_score;
    int64_t img, cat;
    double score;
    gval g[3]; /* bbox, segmentation, keypoints */
    int gopen; /* the geometry whose container is open at depth 3, or -1 */
    bool gmap; /* it is an object */
    uint64_t gstart;
    /* image index: id -> index (open addressing) and ids in first-seen order */
    int64_t *ikeys;
    uint32_t *ivals; /* index + 1; 0 = empty */
    size_t icap;
    int64_t *ids;
    size_t nimg, capids;
    /* items */
    int item_depth; /* depth of the item array (1 bare, 2 under "predictions"), 0 unknown */
    bool in_pred_key;
    bool found_items;
    item_rec *items;
    size_t nitems, capitems;
    int shapes_depth; /* depth inside the current item's "shapes" array, 0 none */
    bool shapes_key;
} pass1;

static int fail(pass1 *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(pass1 *p, const char *fmt, ...)
{
    if (!p->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->why, p->wn, fmt, ap);
        va_end(ap);
        p->failed = true;
    }
    return 0; /* stops yajl */
}

static uint64_t here(const pass1 *p)
{
    return p->base + yajl_get_bytes_consumed(p->h);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* The index of image id (added when new); -1 when out of memory. */
static long image_index(pass1 *p, int64_t id)
{
    if (2 * (p->nimg + 1) > p->icap) {
        size_t cap = p->icap ? p->icap * 2 : 1024;
        int64_t *k = malloc(cap * sizeof *k);
        uint32_t *v = calloc(cap, sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return -1;
        }
        for (size_t i = 0; i < p->icap; i++)
            if (p->ivals[i]) {
                size_t j = mix((uint64_t)p->ikeys[i]) & (cap - 1);
                while (v[j])
                    j = (j + 1) & (cap - 1);
                k[j] = p->ikeys[i];
                v[j] = p->ivals[i];
            }
        free(p->ikeys);
        free(p->ivals);
        p->ikeys = k;
        p->ivals = v;
        p->icap = cap;
    }
    size_t j = mix((uint64_t)id) & (p->icap - 1);
    while (p->ivals[j]) {
        if (p->ikeys[j] == id) return (long)p->ivals[j] - 1;
        j = (j + 1) & (p->icap - 1);
    }
    if (p->nimg == p->capids) {
        size_t c = p->capids ? p->capids * 2 : 1024;
        int64_t *q = realloc(p->ids, c * sizeof *q);
        if (!q) return -1;
        p->ids = q;
        p->capids = c;
    }
    p->ikeys[j] = id;
    p->ivals[j] = (uint32_t)p->nimg + 1;
    p->ids[p->nimg] = id;
    return (long)p->nimg++;
}

/* --- COCO results ----------------------------------------------------------- */

static int coco_result_end(pass1 *p)
{
    size_t i = p->nres;
    if (!p->has_img) return fail(p, "results[%zu]: needs an integer image_id (an asset id)", i);
    if (!p->has_cat || !p->has_score)
        return fail(p, "results[%zu]: needs an integer category_id and a numeric score", i);
    /* the shape's kind, as evaluation_coco_items decides it */
    const gval *bb = &p->g[0], *seg = &p->g[1], *kp = &p->g[2];
    const gval *gv;
    int kind;
    if (kp->type == 1) {
        gv = kp;
        kind = G_KEYPOINTS;
    } else if (seg->type == 1) {
        gv = seg;
        kind = G_POLYGON;
    } else if (seg->type == 2) {
        gv = seg;
        kind = G_MASK;
    } else if (bb->type == 1) {
        gv = bb;
        kind = G_BOX;
    } else {
        return fail(p,
                    "results[%zu]: has no bbox, segmentation or keypoints (a COCO result needs one)",
                    i);
    }
    if (gv->end - gv->off > UINT32_MAX)
        return fail(p, "results[%zu]: its geometry is larger than 4 GiB", i);
    int64_t img = p->img, cat = p->cat;
    if (p->o->remap && p->o->remap(p->o->remap_ctx, i, &img, &cat, p->why, p->wn)) {
        p->failed = true;
        return 0;
    }
    if (p->nres >= UINT32_MAX - 1) return fail(p, "results[%zu]: more than 4 billion results", i);
    long ix = image_index(p, img);
    if (ix < 0) return fail(p, "out of memory");
    if (p->nres == p->capres) {
        size_t c = p->capres ? p->capres * 2 : 4096;
        res_rec *q = realloc(p->res, c * sizeof *q);
        if (!q) return fail(p, "out of memory");
        p->res = q;
        p->capres = c;
    }
    p->res[p->nres++] = (res_rec){gv->off, (uint32_t)(gv->end - gv->off), (uint32_t)ix, cat,
                                  p->score, (uint8_t)kind};
    return 1;
}

static int c_open(void *ctx, bool is_map)
{
    pass1 *p = ctx;
    if (p->depth == 0 && is_map) return fail(p, "a COCO results file is a JSON array of results");
    if (p->depth == 1) {
        if (!is_map)
            return fail(p, "results[%zu]: a result is an object {\"image_id\", ...}", p->nres);
        p->has_img = p->has_cat = p->has_score = false;
        memset(p->g, 0, sizeof p->g);
        p->key = K_OTHER;
        p->gopen = -1;
    } else if (p->depth == 2) {
        /* a container as a result's value: not an id or a score (the last
         * value of a repeated key counts, as when the file is loaded whole) */
        if (p->key == K_IMG) p->has_img = false;
        if (p->key == K_CAT) p->has_cat = false;
        if (p->key == K_SCORE) p->has_score = false;
        if (p->key >= K_BBOX) {
            p->gopen = p->key - K_BBOX;
            p->gmap = is_map;
            p->gstart = here(p) - 1; /* the bracket just read */
        }
    }
    p->depth++;
    return 1;
}

static int c_close(void *ctx)
{
    pass1 *p = ctx;
    p->depth--;
    if (p->depth == 2 && p->gopen >= 0) {
        gval *g = &p->g[p->gopen];
        g->type = p->gmap ? 2 : 1;
        g->off = p->gstart;
        g->end = here(p);
        p->gopen = -1;
    } else if (p->depth == 1) {
        return coco_result_end(p);
    }
    return 1;
}

static int c_start_map(void *ctx)
{
    return c_open(ctx, true);
}
static int c_start_array(void *ctx)
{
    return c_open(ctx, false);
}

static int c_map_key(void *ctx, const unsigned char *k, size_t n)
{
    pass1 *p = ctx;
    if (p->depth != 2) return 1;
#define IS(s) (n == sizeof(s) - 1 && memcmp(k, s, n) == 0)
    p->key = IS("image_id")       ? K_IMG
             : IS("category_id")  ? K_CAT
             : IS("score")        ? K_SCORE
             : IS("bbox")         ? K_BBOX
             : IS("segmentation") ? K_SEG
             : IS("keypoints")    ? K_KP
                                  : K_OTHER;
#undef IS
    return 1;
}

/* A scalar; num: its text when a number. */
static int c_scalar(pass1 *p, const char *num, size_t n)
{
    if (p->depth == 0) return fail(p, "a COCO results file is a JSON array of results");
    if (p->depth == 1)
        return fail(p, "results[%zu]: a result is an object {\"image_id\", ...}", p->nres);
    if (p->depth != 2) return 1;
    switch (p->key) {
    case K_IMG:
        p->has_img = num && eval_parse_int64(num, n, &p->img) == 0;
        break;
    case K_CAT:
        p->has_cat = num && eval_parse_int64(num, n, &p->cat) == 0;
        break;
    case K_SCORE:
        p->has_score = num && eval_parse_double(num, n, &p->score) == 0;
        break;
    case K_BBOX:
    case K_SEG:
    case K_KP:
        p->g[p->key - K_BBOX] = (gval){3, 0, 0};
        break;
    }
    return 1;
}

static int c_number(void *ctx, const char *s, size_t n)
{
    return c_scalar(ctx, s, n);
}
static int c_other(void *ctx)
{
    return c_scalar(ctx, NULL, 0);
}
static int c_bool(void *ctx, int b)
{
    (void)b;
    return c_scalar(ctx, NULL, 0);
}
static int c_string(void *ctx, const unsigned char *s, size_t n)
{
    (void)s;
    (void)n;
    return c_scalar(ctx, NULL, 0);
}

static const yajl_callbacks coco_cb = {
    c_other, c_bool, NULL, NULL, c_number, c_string, c_start_map, c_map_key, c_close,
    c_start_array, c_close};

/* --- API items ---------------------------------------------------------------- */

static const char *const items_expected =
    "expected [{\"asset_id\", \"shapes\"}] or {\"predictions\": [...]} (or use --coco)";

/* A value starts at p->depth (before it opens, if a container). */
static int i_value(pass1 *p, bool opens, bool is_map)
{
    if (p->depth == 0) {
        if (!opens) return fail(p, "%s", items_expected);
        if (!is_map) p->item_depth = 1, p->found_items = true;
        return 1;
    }
    if (p->item_depth == 0 && p->depth == 1) { /* a value of the top-level object */
        if (p->in_pred_key) {
            if (!opens || is_map) return fail(p, "%s", items_expected);
            p->item_depth = 2;
            p->found_items = true;
        }
        return 1;
    }
    if (p->item_depth && p->depth == p->item_depth) { /* an item */
        if (!opens || !is_map)
            return fail(p, "predictions[%zu]: an item is an object {\"asset_id\" or \"data_id\", "
                           "\"shapes\": [...]}",
                        p->nitems);
        if (p->nitems == p->capitems) {
            size_t c = p->capitems ? p->capitems * 2 : 1024;
            item_rec *q = realloc(p->items, c * sizeof *q);
            if (!q) return fail(p, "out of memory");
            p->items = q;
            p->capitems = c;
        }
        p->items[p->nitems] = (item_rec){here(p) - 1, 0, 0};
        p->shapes_depth = 0;
        p->shapes_key = false;
        return 1;
    }
    if (p->item_depth && p->depth == p->item_depth + 1 && p->shapes_key && opens && !is_map) {
        p->shapes_depth = p->depth + 1; /* the shapes array's elements */
        return 1;
    }
    if (p->shapes_depth && p->depth == p->shapes_depth) p->items[p->nitems].nshapes++;
    return 1;
}

static int i_start_map(void *ctx)
{
    pass1 *p = ctx;
    if (!i_value(p, true, true)) return 0;
    p->depth++;
    return 1;
}
static int i_start_array(void *ctx)
{
    pass1 *p = ctx;
    if (!i_value(p, true, false)) return 0;
    p->depth++;
    return 1;
}
static int i_close(void *ctx)
{
    pass1 *p = ctx;
    p->depth--;
    if (p->item_depth && p->depth == p->item_depth) { /* an item ends */
        item_rec *it = &p->items[p->nitems++];
        it->len = here(p) - it->off;
    } else if (p->shapes_depth && p->depth == p->shapes_depth - 1) {
        p->shapes_depth = 0;
    } else if (p->item_depth && p->depth == p->item_depth - 1) {
        p->item_depth = -1; /* the items array ended; nothing else counts */
    }
    return 1;
}
static int i_map_key(void *ctx, const unsigned char *k, size_t n)
{
    pass1 *p = ctx;
    if (p->item_depth == 0 && p->depth == 1)
        p->in_pred_key = n == 11 && memcmp(k, "predictions", 11) == 0;
    if (p->item_depth > 0 && p->depth == p->item_depth + 1)
        p->shapes_key = n == 6 && memcmp(k, "shapes", 6) == 0;
    return 1;
}
static int i_scalar(void *ctx)
{
    return i_value(ctx, false, false);
}
static int i_number(void *ctx, const char *s, size_t n)
{
    (void)s;
    (void)n;
    return i_scalar(ctx);
}
static int i_bool(void *ctx, int b)
{
    (void)b;
    return i_scalar(ctx);
}
static int i_string(void *ctx, const unsigned char *s, size_t n)
{
    (void)s;
    (void)n;
    return i_scalar(ctx);
}

static const yajl_callbacks items_cb = {
    i_scalar, i_bool, NULL, NULL, i_number, i_string, i_start_map, i_map_key, i_close,
    i_start_array, i_close};

/* --- pass 1 -------------------------------------------------------------------- */

static int run_pass1(int fd, pass1 *p)
{
    p->h = yajl_alloc(p->o->coco ? &coco_cb : &items_cb, NULL, p);
    char *buf = malloc(BLOCK);
    if (!p->h || !buf) {
        if (p->h) yajl_free(p->h);
        free(buf);
        fail(p, "out of memory");
        return -1;
    }
    int rc = 0;
    p->base = 0;
    for (;;) {
        ssize_t got = read(fd, buf, BLOCK);
        if (got < 0) {
            if (errno == EINTR) continue;
            fail(p, "read error: %s", strerror(errno));
            rc = -1;
            break;
        }
        /* yajl takes a vertical tab or a form feed as white space, and the
         * items' text is copied into the request bodies as it is: JSON has
         * neither, in white space or raw in a string (found by
         * fuzz_evaluation_stream) */
        const char *vt = got > 0 ? memchr(buf, '\v', (size_t)got) : NULL;
        const char *ff = got > 0 ? memchr(buf, '\f', (size_t)got) : NULL;
        if (vt || ff) {
            const char *at = !vt ? ff : !ff ? vt : vt < ff ? vt : ff;
            bool v = *at == '\v';
            fail(p, "invalid JSON at byte %llu: a %s is not JSON white space; in a string, "
                    "write it as %s",
                 (unsigned long long)(p->base + (uint64_t)(at - buf)),
                 v ? "vertical tab (0x0b)" : "form feed (0x0c)", v ? "\\u000b" : "\\f");
            rc = -1;
            break;
        }
        yajl_status st = got ? yajl_parse(p->h, (const unsigned char *)buf, (size_t)got)
                             : yajl_complete_parse(p->h);
        if (st != yajl_status_ok) {
            if (!p->failed) {
                unsigned char *m = yajl_get_error(p->h, 0, NULL, 0);
                uint64_t at = p->base + (got ? yajl_get_bytes_consumed(p->h) : 0);
                char msg[160];
                snprintf(msg, sizeof msg, "%s", m ? (const char *)m : "invalid JSON");
                size_t l = strlen(msg);
                while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
                    msg[--l] = 0;
                fail(p, "invalid JSON at byte %llu%s: %s", (unsigned long long)at,
                     got ? "" : " (the file ends too early)", msg);
                if (m) yajl_free_error(p->h, m);
            }
            rc = -1;
            break;
        }
        if (got == 0) break;
        p->base += (uint64_t)got;
    }
    if (rc == 0 && !p->o->coco && !p->found_items) {
        fail(p, "%s", items_expected);
        rc = -1;
    }
    yajl_free(p->h);
    p->h = NULL;
    free(buf);
    return rc;
}

/* --- pass 2 -------------------------------------------------------------------- */

/* Reads byte ranges of the file in increasing order through a window. */
typedef struct reader {
    int fd;
    char *buf;
    uint64_t off; /* the window's file offset */
    size_t len;
} reader;

/* Appends the file's bytes [off, off + n) to b; 0 or -1. */
static int read_range(reader *r, uint64_t off, size_t n, sbuf *b)
{
    while (n) {
        if (off >= r->off && off < r->off + r->len) {
            size_t k = (size_t)(r->off + r->len - off);
            if (k > n) k = n;
            sbuf_put(b, r->buf + (off - r->off), k);
            off += k;
            n -= k;
            continue;
        }
        ssize_t got;
        do
            got = pread(r->fd, r->buf, BLOCK, (off_t)off);
        while (got < 0 && errno == EINTR);
        if (got <= 0) return -1; /* the file changed under us */
        r->off = off;
        r->len = (size_t)got;
    }
    return 0;
}

typedef struct slot {
    uint64_t off;
    uint32_t len;
    uint32_t i; /* position in the chunk */
} slot;

static int cmp_slot(const void *a, const void *b)
{
    const slot *x = a, *y = b;
    return (x->off > y->off) - (x->off < y->off);
}

static void body_start(sbuf *b)
{
    sbuf_reset(b);
    sbuf_puts(b, "{\"predictions\":[");
}

static int body_send(const ev_stream_opts *o, sbuf *b, size_t images, size_t shapes,
                     size_t total)
{
    sbuf_puts(b, "],\"mode\":");
    sbuf_json_str(b, o->mode, strlen(o->mode));
    sbuf_putc(b, '}');
    if (sbuf_failed(b)) return -1;
    return o->send(o->send_ctx, sbuf_cstr(b), b->len, images, shapes, total);
}

/* COCO: the results of images [i0, i1) (order[start[i0] .. start[i1])) as one body. */
static int coco_chunk(const ev_stream_opts *o, pass1 *p, reader *r, const uint32_t *order,
                      const uint32_t *start, size_t i0, size_t i1, slot *slots, sbuf *geo,
                      uint32_t *gpos, sbuf *b, char *why, size_t wn)
{
    size_t n0 = start[i0], n = start[i1] - n0;
    for (size_t j = 0; j < n; j++) {
        const res_rec *x = &p->res[order[n0 + j]];
        slots[j] = (slot){x->goff, x->glen, (uint32_t)j};
    }
    /* the geometry's text, read in file order */
    qsort(slots, n, sizeof *slots, cmp_slot);
    sbuf_reset(geo);
    for (size_t j = 0; j < n; j++) {
        gpos[slots[j].i] = (uint32_t)geo->len;
        if (geo->len + slots[j].len > UINT32_MAX) {
            snprintf(why, wn, "a request's geometry would exceed 4 GiB");
            return -1;
        }
        if (read_range(r, slots[j].off, slots[j].len, geo) || sbuf_failed(geo)) {
            snprintf(why, wn, "the file could not be read again (did it change?)");
            return -1;
        }
    }
    body_start(b);
    for (size_t im = i0, j = 0; im < i1; im++) {
        if (im > i0) sbuf_putc(b, ',');
        sbuf_puts(b, "{\"asset_id\":");
        sbuf_put_i64(b, p->ids[im]);
        sbuf_puts(b, ",\"shapes\":[");
        for (size_t q = start[im]; q < start[im + 1]; q++, j++) {
            const res_rec *x = &p->res[order[q]];
            if (q > start[im]) sbuf_putc(b, ',');
            sbuf_puts(b, "{\"label_id\":");
            sbuf_put_i64(b, x->cat);
            sbuf_printf(b, ",\"score\":%.17g,\"kind\":\"%s\",\"%s\":", x->score,
                        kind_name[x->kind], kind_key[x->kind]);
            sbuf_put(b, geo->p + gpos[j], x->glen);
            sbuf_putc(b, '}');
        }
        sbuf_puts(b, "]}");
    }
    if (sbuf_failed(b)) {
        snprintf(why, wn, "out of memory");
        return -1;
    }
    int rc = body_send(o, b, i1 - i0, n, p->nimg);
    return rc;
}

static int coco_pass2(const ev_stream_opts *o, pass1 *p, reader *r, char *why, size_t wn)
{
    size_t ni = p->nimg, n = p->nres;
    uint32_t *start = calloc(ni + 1, sizeof *start), *order = malloc((n ? n : 1) * sizeof *order);
    size_t maxchunk = 0;
    int rc = 0;
    if (!start || !order) goto oom;
    /* results by image, in file order within (a counting sort) */
    for (size_t i = 0; i < n; i++)
        start[p->res[i].img + 1]++;
    for (size_t i = 0; i < ni; i++)
        start[i + 1] += start[i];
    {
        uint32_t *pos = malloc((ni ? ni : 1) * sizeof *pos);
        if (!pos) goto oom;
        memcpy(pos, start, ni * sizeof *pos);
        for (size_t i = 0; i < n; i++)
            order[pos[p->res[i].img]++] = (uint32_t)i;
        free(pos);
    }
    /* chunks: at most max_images images and max_shapes shapes (an image with
     * more shapes goes alone) */
    size_t *cut = malloc((ni + 2) * sizeof *cut), ncut = 0;
    if (!cut) goto oom;
    cut[ncut++] = 0;
    for (size_t im = 0, imgs = 0, shapes = 0; im < ni; im++) {
        size_t k = start[im + 1] - start[im];
        if (imgs && (imgs == o->max_images || shapes + k > o->max_shapes)) {
            cut[ncut++] = im;
            imgs = shapes = 0;
        }
        imgs++;
        shapes += k;
    }
    if (ni) cut[ncut++] = ni;
    for (size_t c = 0; c + 1 < ncut; c++)
        if (start[cut[c + 1]] - start[cut[c]] > maxchunk) maxchunk = start[cut[c + 1]] - start[cut[c]];
    slot *slots = malloc((maxchunk ? maxchunk : 1) * sizeof *slots);
    uint32_t *gpos = malloc((maxchunk ? maxchunk : 1) * sizeof *gpos);
    sbuf geo = SBUF_INIT, b = SBUF_INIT;
    if (!slots || !gpos) {
        free(slots);
        free(gpos);
        free(cut);
        goto oom;
    }
    for (size_t c = 0; c + 1 < ncut && rc == 0; c++)
        rc = coco_chunk(o, p, r, order, start, cut[c], cut[c + 1], slots, &geo, gpos, &b, why, wn);
    sbuf_free(&geo);
    sbuf_free(&b);
    free(slots);
    free(gpos);
    free(cut);
    free(start);
    free(order);
    return rc;
oom:
    free(start);
    free(order);
    snprintf(why, wn, "out of memory");
    return -1;
}

static int items_pass2(const ev_stream_opts *o, pass1 *p, reader *r, char *why, size_t wn)
{
    sbuf b = SBUF_INIT;
    int rc = 0;
    size_t i = 0;
    while (i < p->nitems && rc == 0) {
        size_t imgs = 0, shapes = 0;
        body_start(&b);
        while (i < p->nitems && imgs < o->max_images) {
            const item_rec *it = &p->items[i];
            if (imgs && shapes + it->nshapes > o->max_shapes) break;
            if (imgs) sbuf_putc(&b, ',');
            if (read_range(r, it->off, (size_t)it->len, &b)) {
                snprintf(why, wn, "the file could not be read again (did it change?)");
                sbuf_free(&b);
                return -1;
            }
            imgs++;
            shapes += it->nshapes;
            i++;
        }
        if (sbuf_failed(&b)) {
            snprintf(why, wn, "out of memory");
            rc = -1;
            break;
        }
        rc = body_send(o, &b, imgs, shapes, p->nitems);
    }
    sbuf_free(&b);
    return rc;
}

int evaluation_stream(const char *path, const ev_stream_opts *o, char *why, size_t wn)
{
    why[0] = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, wn, "%s", strerror(errno));
        return -1;
    }
    int rc = evaluation_stream_fd(fd, o, why, wn);
    close(fd);
    return rc;
}

int evaluation_stream_fd(int fd, const ev_stream_opts *o, char *why, size_t wn)
{
    why[0] = 0;
    if (lseek(fd, 0, SEEK_SET) < 0) {
        snprintf(why, wn, "%s", strerror(errno));
        return -1;
    }
    pass1 p;
    memset(&p, 0, sizeof p);
    p.o = o;
    p.why = why;
    p.wn = wn;
    p.gopen = -1;
    int rc = run_pass1(fd, &p);
    if (rc == 0) {
        reader r = {fd, malloc(BLOCK), 0, 0};
        if (!r.buf) {
            snprintf(why, wn, "out of memory");
            rc = -1;
        } else {
            rc = o->coco ? coco_pass2(o, &p, &r, why, wn) : items_pass2(o, &p, &r, why, wn);
        }
        free(r.buf);
    }
    free(p.res);
    free(p.ikeys);
    free(p.ivals);
    free(p.ids);
    free(p.items);
    return rc;
}
