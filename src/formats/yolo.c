/*
 * yolo.c - Ultralytics YOLO datasets: data.yaml + images/<split>/ +
 * labels/<split>/ (detect, segment, pose), and the classification layout
 * <split>/<class>/<image>.
 *
 * Reading follows Ultralytics: the label file of an image is its path with
 * the last "/images/" replaced by "/labels/" and the extension by ".txt";
 * split entries in data.yaml are directories (searched recursively), .txt
 * lists of images, or lists of either, relative to the dataset root; an
 * entry "../x" that does not exist is tried as "x" (Roboflow exports). The
 * root is data.yaml's "path" when that names a directory inside the
 * directory of data.yaml, else data.yaml's directory: an import never reads
 * outside the directory it was given. A split directory named twice (val
 * pointing at train) is read once.
 *
 * Label lines are normalised to the image size, which comes from the image
 * file's headers (image_probe). Line kinds: "c cx cy w h" (box), "c x1 y1
 * x2 y2 x3 y3 ..." (polygon, at least 3 points), "c cx cy w h" followed by
 * kpt_shape[0] x kpt_shape[1] numbers (pose; visibility 0/1/2 when the
 * second number is 3). Every value must lie in [0, 1]; a box that passes
 * the border by at most FMT_BOX_TOLERANCE px is clipped with a warning.
 *
 * Ids: categories are the class indexes 0..nc-1; images 1..N and shapes
 * 1..M in reading order (sorted paths). file_name is the image's path
 * relative to its split directory, path the one relative to the root.
 *
 * Writing: images/<split>/<file_name>, labels/<split>/<stem>.txt (empty for
 * an image without shapes), data.yaml with the splits used (val falls back
 * to train, as Ultralytics requires a val entry), names as a mapping, and
 * for pose datasets kpt_shape plus two keys Ultralytics ignores and we read
 * back: kpt_names and skeleton. Values are printed to read back exactly
 * (cross-format tests: COCO -> YOLO -> COCO keeps boxes within 1e-12
 * relative). A polygon with several rings becomes one line per ring; a mask
 * (RLE) becomes its box; a shape of a pose dataset without keypoints gets
 * all-zero keypoints. No "path" key is written: Ultralytics resolves a
 * relative "path" against its own datasets directory, not the file's.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/util.h"
#include "base/version.h"
#include "formats/internal.h"

/* --- data.yaml ------------------------------------------------------------------------ */

static int cfg_fail(err *e, const fmt_ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cfg_fail(err *e, const fmt_ynode *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(e, ERR_INVALID, "line %d: %s", n ? n->line : 1, msg);
}

static bool yint(const fmt_ynode *n, int64_t lo, int64_t hi, int64_t *out)
{
    if (!n || n->kind != FMT_YAML_SCALAR || fmt_parse_i64(n->s, strlen(n->s), out) < 0)
        return false;
    return *out >= lo && *out <= hi;
}

static bool good_name(const char *s)
{
    if (!s || !*s || strlen(s) > FMT_MAX_NAME)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20)
            return false;
    return true;
}

static int cfg_names(fmt_yolo_cfg *cfg, const fmt_ynode *n, err *e)
{
    arena *a = cfg->doc->a;
    if (n->kind == FMT_YAML_SEQ) {
        cfg->nc = n->n;
        cfg->names = arena_zalloc(a, (size_t)(n->n ? n->n : 1) * sizeof *cfg->names);
        if (!cfg->names)
            return err_set(e, ERR_INTERNAL, "out of memory");
        for (int i = 0; i < n->n; i++) {
            if (n->items[i]->kind != FMT_YAML_SCALAR || !good_name(n->items[i]->s))
                return cfg_fail(e, n->items[i], "names[%d] is not a name", i);
            cfg->names[i] = n->items[i]->s;
        }
    } else if (n->kind == FMT_YAML_MAP) {
        cfg->nc = n->n;
        cfg->names = arena_zalloc(a, (size_t)(n->n ? n->n : 1) * sizeof *cfg->names);
        if (!cfg->names)
            return err_set(e, ERR_INTERNAL, "out of memory");
        for (int i = 0; i < n->n; i++) {
            int64_t k;
            if (fmt_parse_i64(n->keys[i], strlen(n->keys[i]), &k) < 0 || k < 0 || k >= n->n)
                return cfg_fail(e, n->items[i],
                                "names: key '%s' must be a class index 0..%d", n->keys[i],
                                n->n - 1);
            if (cfg->names[k])
                return cfg_fail(e, n->items[i], "names: class %lld is named twice", (long long)k);
            if (n->items[i]->kind != FMT_YAML_SCALAR || !good_name(n->items[i]->s))
                return cfg_fail(e, n->items[i], "names: class %lld has no usable name",
                                (long long)k);
            cfg->names[k] = n->items[i]->s;
        }
    } else {
        return cfg_fail(e, n, "names must be a list or a mapping of index: name");
    }
    if (cfg->nc == 0)
        return cfg_fail(e, n, "names is empty");
    for (int i = 0; i < cfg->nc; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(cfg->names[i], cfg->names[j]) == 0)
                return cfg_fail(e, n, "classes %d and %d are both named '%s'", j, i,
                                cfg->names[i]);
    return 0;
}

static int cfg_split(fmt_yolo_cfg *cfg, int k, const fmt_ynode *n, err *e)
{
    arena *a = cfg->doc->a;
    int cnt = n->kind == FMT_YAML_SEQ ? n->n : 1;
    cfg->split_dirs[k] = arena_zalloc(a, (size_t)(cnt ? cnt : 1) * sizeof(char *));
    if (!cfg->split_dirs[k])
        return err_set(e, ERR_INTERNAL, "out of memory");
    for (int i = 0; i < cnt; i++) {
        const fmt_ynode *it = n->kind == FMT_YAML_SEQ ? n->items[i] : n;
        if (it->kind != FMT_YAML_SCALAR)
            return cfg_fail(e, it, "a split must be a directory or a .txt list, or a list of them");
        if (!*it->s)
            continue; /* "test:" with no value */
        cfg->split_dirs[k][cfg->nsplit_dirs[k]++] = it->s;
    }
    return 0;
}

int fmt_yolo_cfg_parse(const char *text, size_t n, fmt_yolo_cfg *cfg, err *e)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->doc = fmt_yaml_parse(text, n, e);
    if (!cfg->doc)
        return -1;
    const fmt_ynode *root = cfg->doc->root;
    if (!root || root->kind != FMT_YAML_MAP)
        return cfg_fail(e, root, "data.yaml must be a mapping (names:, train:, val: ...)");
    const fmt_ynode *names = fmt_ynode_get(root, "names");
    const fmt_ynode *nc = fmt_ynode_get(root, "nc");
    if (!names)
        return cfg_fail(e, root, "data.yaml has no names");
    if (cfg_names(cfg, names, e) < 0)
        return -1;
    int64_t v;
    if (nc && (!yint(nc, 1, 1000000, &v) || v != cfg->nc))
        return cfg_fail(e, nc, "nc is %s but names has %d classes", nc->s ? nc->s : "a list",
                        cfg->nc);
    const fmt_ynode *path = fmt_ynode_get(root, "path");
    if (path && path->kind == FMT_YAML_SCALAR && *path->s)
        cfg->path = path->s;
    static const char *const splits[3] = {"train", "val", "test"};
    for (int k = 0; k < 3; k++) {
        const fmt_ynode *s = fmt_ynode_get(root, splits[k]);
        if (s && cfg_split(cfg, k, s, e) < 0)
            return -1;
    }
    const fmt_ynode *ks = fmt_ynode_get(root, "kpt_shape");
    if (ks) {
        int64_t kn, kd;
        if (ks->kind != FMT_YAML_SEQ || ks->n != 2 || !yint(ks->items[0], 1, FMT_MAX_KEYPOINTS, &kn) ||
            !yint(ks->items[1], 2, 3, &kd))
            return cfg_fail(e, ks, "kpt_shape must be [number of keypoints, 2 or 3]");
        cfg->kpt_n = (int)kn;
        cfg->kpt_dim = (int)kd;
        const fmt_ynode *kpn = fmt_ynode_get(root, "kpt_names");
        if (kpn && kpn->kind == FMT_YAML_MAP && kpn->n > 0) /* per class: take the first */
            kpn = kpn->items[0];
        if (kpn) {
            if (kpn->kind != FMT_YAML_SEQ || kpn->n != cfg->kpt_n)
                return cfg_fail(e, kpn, "kpt_names must list the %d keypoint names", cfg->kpt_n);
            cfg->kpt_names = arena_alloc(cfg->doc->a, (size_t)kpn->n * sizeof(char *));
            if (!cfg->kpt_names)
                return err_set(e, ERR_INTERNAL, "out of memory");
            for (int i = 0; i < kpn->n; i++) {
                if (kpn->items[i]->kind != FMT_YAML_SCALAR || !good_name(kpn->items[i]->s))
                    return cfg_fail(e, kpn->items[i], "kpt_names[%d] is not a name", i);
                cfg->kpt_names[i] = kpn->items[i]->s;
            }
        }
        const fmt_ynode *sk = fmt_ynode_get(root, "skeleton");
        if (sk) {
            if (sk->kind != FMT_YAML_SEQ)
                return cfg_fail(e, sk, "skeleton must be a list of [a, b] pairs");
            cfg->skeleton = arena_alloc(cfg->doc->a, (size_t)(sk->n ? sk->n : 1) * 2 * sizeof(int));
            if (!cfg->skeleton)
                return err_set(e, ERR_INTERNAL, "out of memory");
            for (int i = 0; i < sk->n; i++) {
                const fmt_ynode *pr = sk->items[i];
                int64_t a, b;
                if (pr->kind != FMT_YAML_SEQ || pr->n != 2 || !yint(pr->items[0], 1, cfg->kpt_n, &a) ||
                    !yint(pr->items[1], 1, cfg->kpt_n, &b))
                    return cfg_fail(e, pr, "skeleton[%d] must be a pair of keypoint numbers 1..%d",
                                    i, cfg->kpt_n);
                cfg->skeleton[2 * i] = (int)a;
                cfg->skeleton[2 * i + 1] = (int)b;
            }
            cfg->nskeleton = sk->n;
        }
    }
    return 0;
}

void fmt_yolo_cfg_free(fmt_yolo_cfg *cfg)
{
    fmt_yaml_free(cfg->doc);
    memset(cfg, 0, sizeof *cfg);
}

/* --- label lines -------------------------------------------------------------------------- */

int fmt_yolo_parse_line(const char *line, size_t n, int nc, int kpt_n, int kpt_dim,
                        fmt_yolo_line *out, err *e)
{
    size_t i = 0;
    out->nvals = 0;
    int tok = 0;
    while (i < n) {
        while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
            i++;
        if (i >= n)
            break;
        if (tok == 0 && line[i] == '#')
            return 0;
        size_t st = i;
        while (i < n && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            i++;
        const char *t = line + st;
        size_t tn = i - st;
        if (tok == 0) {
            int64_t c;
            if (fmt_parse_i64(t, tn, &c) < 0)
                return err_set(e, ERR_INVALID, "the class '%.*s' is not a whole number",
                               (int)(tn > 20 ? 20 : tn), t);
            if (c < 0 || c >= nc)
                return err_set(e, ERR_INVALID, "class %lld is not in data.yaml's names (0..%d)",
                               (long long)c, nc - 1);
            out->cls = (int)c;
        } else {
            double v;
            if (fmt_parse_dbl(t, tn, &v) < 0)
                return err_set(e, ERR_INVALID, "value %d '%.*s' is not a number", tok,
                               (int)(tn > 20 ? 20 : tn), t);
            if (!isfinite(v))
                return err_set(e, ERR_INVALID, "value %d is not finite", tok);
            if (out->nvals >= 2 * FMT_MAX_POINTS)
                return err_set(e, ERR_TOO_LARGE, "more than %d values", 2 * FMT_MAX_POINTS);
            if (out->nvals == out->cap) {
                int cap = out->cap ? out->cap * 2 : 64;
                double *p = realloc(out->vals, (size_t)cap * sizeof *p);
                if (!p)
                    return err_set(e, ERR_INTERNAL, "out of memory");
                out->vals = p;
                out->cap = cap;
            }
            out->vals[out->nvals++] = v;
        }
        tok++;
    }
    if (tok == 0)
        return 0;
    int nv = out->nvals;
    if (kpt_n > 0) {
        int want = 4 + kpt_n * kpt_dim;
        if (nv != want)
            return err_set(e, ERR_INVALID,
                           "expected %d numbers after the class (box + %d keypoints x %d), got %d",
                           want, kpt_n, kpt_dim, nv);
        out->kind = FMT_KEYPOINTS;
    } else if (nv == 4) {
        out->kind = FMT_BOX;
    } else if (nv >= 6 && nv % 2 == 0) {
        out->kind = FMT_POLYGON;
    } else {
        return err_set(e, ERR_INVALID,
                       "expected 4 numbers (a box) or an even count of at least 6 (a polygon) "
                       "after the class, got %d",
                       nv);
    }
    for (int k = 0; k < nv; k++) {
        double v = out->vals[k];
        bool vis = out->kind == FMT_KEYPOINTS && kpt_dim == 3 && k >= 4 && (k - 4) % 3 == 2;
        if (vis) {
            if (v != 0 && v != 1 && v != 2)
                return err_set(e, ERR_INVALID, "keypoint %d: visibility must be 0, 1 or 2, got %g",
                               (k - 4) / 3 + 1, v);
        } else if (v < 0 || v > 1) {
            return err_set(e, ERR_INVALID,
                           "value %d (%g) is outside [0, 1]: YOLO coordinates are normalised to "
                           "the image size",
                           k + 1, v);
        }
    }
    return 1;
}

/* --- reading ------------------------------------------------------------------------------ */

typedef struct yimg {
    char *rel;      /* path relative to the root */
    char *label;    /* label path relative to the root */
    int split;      /* 0 train, 1 val, 2 test */
    int w, h;
    int64_t id;     /* 0: skipped */
} yimg;

typedef struct yreader {
    fmt_rd *rd;
    char root[PATH_MAX];
    fmt_yolo_cfg cfg;
    yimg *imgs;
    size_t n, cap;
    fmt_strmap labels; /* expected label files */
} yreader;

static const char *const SPLITS[3] = {"train", "val", "test"};

/* realpath() of root/rel when it exists and stays inside root. */
static bool resolve_inside(const char *root, const char *rel, char out[PATH_MAX])
{
    char tmp[PATH_MAX * 2];
    if (rel[0] == '/')
        snprintf(tmp, sizeof tmp, "%s", rel);
    else
        snprintf(tmp, sizeof tmp, "%s/%s", root, rel);
    if (!realpath(tmp, out))
        return false;
    size_t rn = strlen(root);
    return strncmp(out, root, rn) == 0 && (out[rn] == 0 || out[rn] == '/');
}

static int add_image(yreader *y, const char *rel, int split)
{
    if (y->n == y->cap) {
        size_t cap = y->cap ? y->cap * 2 : 256;
        yimg *p = realloc(y->imgs, cap * sizeof *p);
        if (!p)
            return fmt_rd_fatal(y->rd, ERR_INTERNAL, "", "out of memory");
        y->imgs = p;
        y->cap = cap;
    }
    yimg *im = &y->imgs[y->n];
    memset(im, 0, sizeof *im);
    im->rel = strdup(rel);
    /* Ultralytics: the last "/images/" becomes "/labels/", the extension ".txt" */
    char slashed[PATH_MAX + 2], lab[PATH_MAX + 8];
    snprintf(slashed, sizeof slashed, "/%s", rel);
    char *last = NULL;
    for (char *s = strstr(slashed, "/images/"); s; s = strstr(s + 1, "/images/"))
        last = s;
    if (last)
        memcpy(last, "/labels/", 8);
    fmt_replace_ext(slashed + 1, ".txt", lab, sizeof lab);
    im->label = strdup(lab);
    im->split = split;
    if (!im->rel || !im->label)
        return fmt_rd_fatal(y->rd, ERR_INTERNAL, "", "out of memory");
    y->n++;
    if (fmt_strmap_put(&y->labels, lab, 1, NULL) < 0)
        return fmt_rd_fatal(y->rd, ERR_INTERNAL, "", "out of memory");
    return 0;
}

static int read_list_file(yreader *y, const char *real, const char *entry, int split)
{
    err e;
    size_t len;
    char *text = fmt_slurp(real, FMT_MAX_TEXT_FILE, &len, &e);
    if (!text)
        return fmt_rd_fatal(y->rd, e.code, entry, "%s", e.msg);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", real);
    char *sl = strrchr(dir, '/');
    if (sl)
        *sl = 0;
    int lineno = 0, rc = 0;
    for (char *line = text; line && *line && rc == 0;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        lineno++;
        size_t ln = strlen(line);
        while (ln && (line[ln - 1] == '\r' || line[ln - 1] == ' '))
            line[--ln] = 0;
        if (ln) {
            char where[300];
            snprintf(where, sizeof where, "%s:%d", entry, lineno);
            char full[PATH_MAX];
            bool ok;
            /* "./x" is relative to the list's directory, anything else to the root */
            if (str_has_prefix(line, "./")) {
                char tmp[PATH_MAX * 2];
                snprintf(tmp, sizeof tmp, "%s/%s", dir, line + 2);
                ok = resolve_inside(y->root, tmp, full);
            } else {
                ok = resolve_inside(y->root, line, full);
            }
            if (!ok) {
                rc = fmt_rd_error(y->rd, where, "image '%s' does not exist inside the dataset",
                                  line);
            } else {
                rc = add_image(y, full + strlen(y->root) + 1, split);
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return rc;
}

static int collect_split(yreader *y, int k, fmt_strmap *seen)
{
    for (int i = 0; i < y->cfg.nsplit_dirs[k]; i++) {
        const char *entry = y->cfg.split_dirs[k][i];
        char real[PATH_MAX];
        bool ok = resolve_inside(y->root, entry, real);
        if (!ok && str_has_prefix(entry, "../"))
            ok = resolve_inside(y->root, entry + 3, real);
        char where[64];
        snprintf(where, sizeof where, "data.yaml: %s", SPLITS[k]);
        if (!ok) {
            if (fmt_rd_error(y->rd, where,
                             "'%s' is not a directory or list inside the dataset directory",
                             entry) < 0)
                return -1;
            continue;
        }
        int32_t prev;
        int r = fmt_strmap_put(seen, real, k, &prev);
        if (r < 0)
            return fmt_rd_fatal(y->rd, ERR_INTERNAL, "", "out of memory");
        if (r == 1)
            continue; /* the same directory as an earlier split (val: images/train) */
        const char *relreal = real[strlen(y->root)] ? real + strlen(y->root) + 1 : "";
        if (fmt_is_dir(real)) {
            fmt_list files = {0};
            err e;
            if (fmt_list_files(real, true, fmt_is_image_name, &files, &e) < 0) {
                fmt_list_free(&files);
                return fmt_rd_fatal(y->rd, e.code, where, "%s", e.msg);
            }
            for (size_t f = 0; f < files.n; f++) {
                char rel[PATH_MAX * 2];
                snprintf(rel, sizeof rel, "%s%s%s", relreal, *relreal ? "/" : "", files.items[f]);
                if (add_image(y, rel, k) < 0) {
                    fmt_list_free(&files);
                    return -1;
                }
            }
            fmt_list_free(&files);
        } else if (read_list_file(y, real, entry, k) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The split directory an image path is relative to: its prefix up to and
 * including the split entry (images/train/a/b.jpg -> a/b.jpg). */
static const char *name_in_split(const yreader *y, const yimg *im)
{
    for (int i = 0; i < y->cfg.nsplit_dirs[im->split]; i++) {
        const char *d = y->cfg.split_dirs[im->split][i];
        if (str_has_prefix(d, "./"))
            d += 2;
        if (str_has_prefix(d, "../") && !str_has_prefix(im->rel, d))
            d += 3;
        size_t n = strlen(d);
        while (n && d[n - 1] == '/')
            n--;
        if (n && strncmp(im->rel, d, n) == 0 && im->rel[n] == '/')
            return im->rel + n + 1;
    }
    return im->rel;
}

static int deliver_shapes(yreader *y, const yimg *im, int64_t *next_id)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", y->root, im->label);
    if (!fmt_is_file(path))
        return 0; /* no label file: an image without objects */
    err e;
    size_t len;
    char *text = fmt_slurp(path, FMT_MAX_TEXT_FILE, &len, &e);
    if (!text)
        return fmt_rd_error(y->rd, im->label, "%s", e.msg);
    fmt_yolo_line ln = {0};
    double *pts = NULL;
    int rc = 0, lineno = 0;
    const fmt_yolo_cfg *cfg = &y->cfg;
    double W = im->w, H = im->h;
    for (size_t pos = 0; pos < len && rc == 0;) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + 1;
        lineno++;
        char where[PATH_MAX + 32];
        snprintf(where, sizeof where, "%s:%d", im->label, lineno);
        if (n > FMT_MAX_LINE) {
            rc = fmt_rd_error(y->rd, where, "a line longer than %u bytes", FMT_MAX_LINE);
            continue;
        }
        int r = fmt_yolo_parse_line(s, n, cfg->nc, cfg->kpt_n, cfg->kpt_dim, &ln, &e);
        if (r < 0) {
            rc = fmt_rd_error(y->rd, where, "%s", e.msg);
            continue;
        }
        if (r == 0)
            continue;
        fmt_shape sh;
        fmt_shape_init(&sh);
        sh.id = (*next_id)++;
        sh.image_id = im->id;
        sh.category_id = ln.cls;
        sh.kind = ln.kind;
        const double *v = ln.vals;
        if (ln.kind == FMT_POLYGON) {
            double *np = realloc(pts, (size_t)ln.nvals * sizeof *np);
            if (!np) {
                rc = fmt_rd_fatal(y->rd, ERR_INTERNAL, "", "out of memory");
                break;
            }
            pts = np;
            for (int k = 0; k < ln.nvals; k += 2) {
                pts[k] = v[k] * W;
                pts[k + 1] = v[k + 1] * H;
            }
            sh.points = pts;
            sh.npoints = ln.nvals / 2;
            sh.nrings = 1;
            fmt_points_bbox(pts, sh.npoints, sh.bbox);
            sh.has_bbox = true;
        } else {
            double x0 = (v[0] - v[2] / 2) * W, y0 = (v[1] - v[3] / 2) * H;
            double x1 = (v[0] + v[2] / 2) * W, y1 = (v[1] + v[3] / 2) * H;
            double over = 0;
            over = -x0 > over ? -x0 : over;
            over = -y0 > over ? -y0 : over;
            over = x1 - W > over ? x1 - W : over;
            over = y1 - H > over ? y1 - H : over;
            if (over > FMT_BOX_TOLERANCE) {
                rc = fmt_rd_error(y->rd, where,
                                  "the box passes the border of the %dx%d image by %g px", im->w,
                                  im->h, over);
                continue;
            }
            if (over > 0) {
                fmt_rd_warn(y->rd, where,
                            "the box passes the border of the %dx%d image by %g px; clipped",
                            im->w, im->h, over);
                x0 = x0 < 0 ? 0 : x0;
                y0 = y0 < 0 ? 0 : y0;
                x1 = x1 > W ? W : x1;
                y1 = y1 > H ? H : y1;
                sh.bbox[0] = x0;
                sh.bbox[1] = y0;
                sh.bbox[2] = x1 - x0;
                sh.bbox[3] = y1 - y0;
            } else {
                sh.bbox[0] = x0;
                sh.bbox[1] = y0;
                sh.bbox[2] = v[2] * W;
                sh.bbox[3] = v[3] * H;
            }
            sh.has_bbox = true;
            if (ln.kind == FMT_KEYPOINTS) {
                double *np = realloc(pts, (size_t)cfg->kpt_n * 3 * sizeof *np);
                if (!np) {
                    rc = fmt_rd_fatal(y->rd, ERR_INTERNAL, "", "out of memory");
                    break;
                }
                pts = np;
                for (int k = 0; k < cfg->kpt_n; k++) {
                    const double *q = v + 4 + k * cfg->kpt_dim;
                    pts[3 * k] = q[0] * W;
                    pts[3 * k + 1] = q[1] * H;
                    pts[3 * k + 2] = cfg->kpt_dim == 3 ? q[2] : (q[0] == 0 && q[1] == 0 ? 0 : 2);
                }
                sh.kp = pts;
                sh.nkp = cfg->kpt_n;
            }
        }
        int one = sh.npoints;
        if (ln.kind == FMT_POLYGON)
            sh.ring_sizes = &one;
        if (fmt_rd_shape(y->rd, &sh) < 0)
            rc = -1;
    }
    free(ln.vals);
    free(pts);
    free(text);
    return rc;
}

static bool is_txt(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && strcmp(dot, ".txt") == 0;
}

/* Label files nobody reads are a classic mistake (a renamed image, a wrong
 * extension): warn about each, in the labels directories of the splits. */
static void orphan_labels(yreader *y)
{
    fmt_strmap dirs = {0};
    for (size_t i = 0; i < y->n; i++) {
        char d[PATH_MAX];
        snprintf(d, sizeof d, "%s", y->imgs[i].label);
        char *sl = strrchr(d, '/');
        if (!sl)
            continue;
        *sl = 0;
        if (fmt_strmap_put(&dirs, d, 1, NULL) != 0)
            continue;
        char full[PATH_MAX * 2];
        snprintf(full, sizeof full, "%s/%s", y->root, d);
        fmt_list files = {0};
        err e;
        if (fmt_list_files(full, false, is_txt, &files, &e) == 0) {
            for (size_t f = 0; f < files.n; f++) {
                char rel[PATH_MAX * 2];
                snprintf(rel, sizeof rel, "%s/%s", d, files.items[f]);
                if (fmt_strmap_get(&y->labels, rel) < 0)
                    fmt_rd_warn(y->rd, rel, "label file without an image (not read)");
            }
        }
        fmt_list_free(&files);
    }
    fmt_strmap_free(&dirs);
}

static int find_yaml(const char *dir, char *out, size_t n)
{
    static const char *const names[] = {"data.yaml", "data.yml", "dataset.yaml", "dataset.yml"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(out, n, "%s/%s", dir, names[i]);
        if (fmt_is_file(out))
            return 1;
    }
    /* exactly one other .yaml (coco8.yaml) */
    fmt_list l = {0};
    err e;
    int found = 0;
    if (fmt_list_files(dir, false, NULL, &l, &e) == 0)
        for (size_t i = 0; i < l.n; i++) {
            const char *dot = strrchr(l.items[i], '.');
            if (dot && (strcmp(dot, ".yaml") == 0 || strcmp(dot, ".yml") == 0)) {
                found++;
                snprintf(out, n, "%s/%s", dir, l.items[i]);
            }
        }
    fmt_list_free(&l);
    return found == 1;
}

int fmt_yolo_read(fmt_rd *rd, const char *path)
{
    char yaml[PATH_MAX + 32], dir[PATH_MAX];
    if (fmt_is_dir(path)) {
        if (!realpath(path, dir))
            return fmt_rd_fatal(rd, ERR_IO, path, "cannot resolve: %s", strerror(errno));
        if (!find_yaml(dir, yaml, sizeof yaml)) {
            /* no data.yaml: the classification layout */
            const char *splits[3];
            int ns = 0;
            for (int k = 0; k < 3; k++) {
                if (rd->opts->split && strcmp(rd->opts->split, SPLITS[k]) != 0)
                    continue;
                char sd[PATH_MAX + 8];
                snprintf(sd, sizeof sd, "%s/%s", dir, SPLITS[k]);
                if (fmt_is_dir(sd))
                    splits[ns++] = SPLITS[k];
            }
            if (ns == 0)
                return fmt_rd_fatal(rd, ERR_INVALID, path,
                                    "no data.yaml (detection, segmentation, pose) and no "
                                    "train/ val/ test/ class folders (classification)");
            return fmt_class_tree_read(rd, dir, splits, ns);
        }
    } else {
        char real[PATH_MAX];
        if (!realpath(path, real))
            return fmt_rd_fatal(rd, ERR_NOT_FOUND, path, "cannot open: %s", strerror(errno));
        snprintf(yaml, sizeof yaml, "%s", real);
        snprintf(dir, sizeof dir, "%s", real);
        char *sl = strrchr(dir, '/');
        if (sl)
            *sl = 0;
    }
    yreader y = {.rd = rd};
    err e;
    size_t len;
    char *text = fmt_slurp(yaml, 1u << 20, &len, &e);
    const char *yname = fmt_basename(yaml);
    if (!text)
        return fmt_rd_fatal(rd, e.code, yname, "%s", e.msg);
    int rc = fmt_yolo_cfg_parse(text, len, &y.cfg, &e);
    free(text);
    if (rc < 0) {
        fmt_yolo_cfg_free(&y.cfg);
        return fmt_rd_fatal(rd, ERR_INVALID, yname, "%s", e.msg);
    }
    snprintf(y.root, sizeof y.root, "%s", dir);
    if (y.cfg.path) {
        char r[PATH_MAX];
        if (resolve_inside(dir, y.cfg.path, r) && fmt_is_dir(r))
            snprintf(y.root, sizeof y.root, "%s", r);
        else if (strcmp(y.cfg.path, ".") != 0)
            fmt_rd_warn(rd, yname,
                        "path '%s' is not a directory inside %s; the dataset root is the "
                        "directory of %s",
                        y.cfg.path, dir, yname);
    }
    fmt_strmap seen = {0};
    int nsplits = 0;
    rc = 0;
    for (int k = 0; k < 3 && rc == 0; k++) {
        if (rd->opts->split && strcmp(rd->opts->split, SPLITS[k]) != 0)
            continue;
        nsplits += y.cfg.nsplit_dirs[k];
        rc = collect_split(&y, k, &seen);
    }
    fmt_strmap_free(&seen);
    if (rc == 0 && nsplits == 0)
        rc = fmt_rd_fatal(rd, ERR_INVALID, yname, "%s names no %s images",
                          yname, rd->opts->split ? rd->opts->split : "train, val or test");
    /* categories */
    for (int i = 0; rc == 0 && i < y.cfg.nc; i++) {
        fmt_category c = {i, y.cfg.names[i], NULL, NULL, 0, NULL, 0};
        const char **kpn = NULL;
        char (*gen)[16] = NULL;
        if (y.cfg.kpt_n) {
            c.nkeypoints = y.cfg.kpt_n;
            if (y.cfg.kpt_names) {
                c.keypoints = y.cfg.kpt_names;
            } else {
                kpn = malloc((size_t)y.cfg.kpt_n * sizeof *kpn);
                gen = malloc((size_t)y.cfg.kpt_n * sizeof *gen);
                if (!kpn || !gen) {
                    free(kpn);
                    free(gen);
                    rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
                    break;
                }
                for (int k = 0; k < y.cfg.kpt_n; k++) {
                    snprintf(gen[k], sizeof gen[k], "%d", k + 1);
                    kpn[k] = gen[k];
                }
                c.keypoints = kpn;
            }
            c.skeleton = y.cfg.skeleton;
            c.nskeleton = y.cfg.nskeleton;
        }
        rc = fmt_rd_category(rd, &c);
        free(kpn);
        free(gen);
    }
    /* images */
    int64_t next = 1;
    for (size_t i = 0; rc == 0 && i < y.n; i++) {
        yimg *im = &y.imgs[i];
        char full[PATH_MAX * 2];
        snprintf(full, sizeof full, "%s/%s", y.root, im->rel);
        if (fmt_image_size(full, &im->w, &im->h, &e) < 0) {
            rc = fmt_rd_error(rd, im->rel, "%s", e.msg);
            continue;
        }
        im->id = next++;
        fmt_image fi = {im->id, name_in_split(&y, im), im->w, im->h, im->rel, SPLITS[im->split]};
        rc = fmt_rd_image(rd, &fi);
    }
    /* shapes */
    int64_t sid = 1;
    for (size_t i = 0; rc == 0 && i < y.n; i++)
        if (y.imgs[i].id)
            rc = deliver_shapes(&y, &y.imgs[i], &sid);
    if (rc == 0)
        orphan_labels(&y);
    for (size_t i = 0; i < y.n; i++) {
        free(y.imgs[i].rel);
        free(y.imgs[i].label);
    }
    free(y.imgs);
    fmt_strmap_free(&y.labels);
    fmt_yolo_cfg_free(&y.cfg);
    return rd->failed ? -1 : 0;
}

/* --- writing ------------------------------------------------------------------------------ */

typedef struct yolo_w {
    sbuf lines;        /* label lines of the current image */
    char lastdir[PATH_MAX];
    int kpt_n;         /* pose datasets: keypoints per object */
    const char **kpt_names;
    int *skeleton;
    int nskeleton;
    bool used[64];     /* splits used, by index in split_names */
    const char *split_names[64];
    int nsplits;
} yolo_w;

static int yw_open(fmt_writer *w, err *e)
{
    yolo_w *y = calloc(1, sizeof *y);
    if (!y)
        return err_set(e, ERR_INTERNAL, "out of memory");
    w->impl = y;
    return 0;
}

static bool folder_name_ok(const char *s)
{
    return fmt_relpath_ok(s) && !strchr(s, '/');
}

static int yw_category(fmt_writer *w, fmt_wcat *c, const fmt_category *in, err *e)
{
    yolo_w *y = w->impl;
    c->out = w->ncats - 1; /* class index */
    if (w->opts.classify && !folder_name_ok(in->name))
        return err_set(e, ERR_INVALID, "category '%s' cannot be a folder name", in->name);
    if (in->nkeypoints > 0) {
        if (y->kpt_n && y->kpt_n != in->nkeypoints)
            return err_set(e, ERR_UNSUPPORTED,
                           "category '%s' has %d keypoints, another has %d: a YOLO pose dataset "
                           "has one keypoint count",
                           in->name, in->nkeypoints, y->kpt_n);
        if (!y->kpt_n) {
            y->kpt_n = in->nkeypoints;
            if (in->keypoints) {
                y->kpt_names = arena_alloc(w->a, (size_t)in->nkeypoints * sizeof(char *));
                if (!y->kpt_names)
                    return err_set(e, ERR_INTERNAL, "out of memory");
                for (int i = 0; i < in->nkeypoints; i++)
                    y->kpt_names[i] = arena_strdup(w->a, in->keypoints[i] ? in->keypoints[i] : "");
            }
            if (in->nskeleton) {
                y->skeleton = arena_alloc(w->a, (size_t)in->nskeleton * 2 * sizeof(int));
                if (!y->skeleton)
                    return err_set(e, ERR_INTERNAL, "out of memory");
                memcpy(y->skeleton, in->skeleton, (size_t)in->nskeleton * 2 * sizeof(int));
                y->nskeleton = in->nskeleton;
            }
        }
    }
    return 0;
}

static int split_index(yolo_w *y, const char *s)
{
    for (int i = 0; i < y->nsplits; i++)
        if (strcmp(y->split_names[i], s) == 0)
            return i;
    if (y->nsplits >= 64)
        return -1;
    y->split_names[y->nsplits] = s;
    return y->nsplits++;
}

static int yw_image(fmt_writer *w, fmt_wimg *im, const fmt_image *in, err *e)
{
    yolo_w *y = w->impl;
    const char *split = fmt_writer_split(w, im);
    int si = split_index(y, split);
    if (si < 0)
        return err_set(e, ERR_TOO_LARGE, "more than 64 splits");
    y->used[si] = true;
    if (w->opts.classify)
        return 0; /* the class decides the folder */
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "images/%s/%s", split, im->file_name);
    im->target = fmt_writer_claim(w, tmp, im->id);
    if (!im->target)
        return err_set(e, ERR_INTERNAL, "out of memory");
    return 0;
}

static void put_norm(sbuf *b, double v)
{
    sbuf_putc(b, ' ');
    fmt_put_dbl(b, v == 0 ? 0 : v); /* no "-0" */
}

/* The normalised value n whose reading back gives exactly px: the reader
 * computes n * W (points, sizes) or (n - half) * W (box corners), so try the
 * correctly rounded quotient and its neighbours a few ulps away. Without
 * this, import -> export -> import would move coordinates by an ulp. */
static double norm_exact(double px, double W, double half)
{
    double n0 = px / W + half;
    double n = n0;
    for (int k = 0; k < 8; k++) {
        if ((n - half) * W == px)
            return n;
        /* 0, +1, -1, +2, -2 ... ulps around n0 */
        n = n0;
        int steps = (k + 2) / 2;
        for (int i = 0; i < steps; i++)
            n = nextafter(n, k % 2 ? -INFINITY : INFINITY);
    }
    return n0;
}

static int yw_shape(fmt_writer *w, fmt_wimg *im, const fmt_wcat *c, const fmt_shape *s, err *e)
{
    yolo_w *y = w->impl;
    if (w->opts.classify) {
        if (s->kind != FMT_CLASS)
            return err_set(e, ERR_UNSUPPORTED,
                           "shape %lld: the YOLO classification layout holds image classes only",
                           (long long)s->id);
        int32_t ci = (int32_t)c->out;
        if (im->cls >= 0 && im->cls != ci) {
            im->cls = -2;
            return err_set(e, ERR_UNSUPPORTED,
                           "image %lld has two classes; a class-folder layout holds one",
                           (long long)im->id);
        }
        if (im->cls != -2)
            im->cls = ci;
        return 0;
    }
    if (s->kind == FMT_CLASS)
        return err_set(e, ERR_UNSUPPORTED,
                       "shape %lld: YOLO label files have no image-level class (export the "
                       "classification layout instead)",
                       (long long)s->id);
    if (s->kind == FMT_POLYLINE || s->kind == FMT_POINT)
        return err_set(e, ERR_UNSUPPORTED, "shape %lld: YOLO has no %s", (long long)s->id,
                       s->kind == FMT_POLYLINE ? "polylines" : "single points");
    if (im->width <= 0 || im->height <= 0)
        return err_set(e, ERR_INVALID,
                       "image %lld has no size; YOLO coordinates are fractions of it",
                       (long long)im->id);
    double W = im->width, H = im->height;
    sbuf *b = &y->lines;
    /* the box, for BOX, RLE, KEYPOINTS and pose datasets */
    double box[4];
    bool has_box = s->has_bbox;
    if (has_box)
        memcpy(box, s->bbox, sizeof box);
    else if (s->npoints > 0)
        has_box = fmt_points_bbox(s->points, s->npoints, box);
    else if (s->rle_counts)
        has_box = fmt_rle_bbox(s->rle_counts, s->nrle, s->rle_h, s->rle_w, box);
    else if (s->rle_string) {
        uint32_t *cnt = NULL;
        int n = fmt_rle_decode(s->rle_string, &cnt, e);
        if (n < 0)
            return err_prefix(e, "shape %lld: ", (long long)s->id);
        has_box = fmt_rle_bbox(cnt, n, s->rle_h, s->rle_w, box);
        free(cnt);
    }
    if (s->kind == FMT_POLYGON && y->kpt_n == 0) {
        int one = s->npoints;
        const int *rs = s->ring_sizes ? s->ring_sizes : &one;
        int nr = s->ring_sizes ? s->nrings : 1, p = 0;
        for (int r = 0; r < nr; r++) {
            if (rs[r] < 3)
                return err_set(e, ERR_INVALID, "shape %lld: a ring of %d points", (long long)s->id,
                               rs[r]);
            sbuf_put_i64(b, c->out);
            for (int i = 0; i < rs[r]; i++, p++) {
                put_norm(b, norm_exact(s->points[2 * p], W, 0));
                put_norm(b, norm_exact(s->points[2 * p + 1], H, 0));
            }
            sbuf_putc(b, '\n');
        }
        return sbuf_failed(b) ? err_set(e, ERR_INTERNAL, "out of memory") : 0;
    }
    if (!has_box && s->nkp > 0) {
        double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
        for (int i = 0; i < s->nkp; i++)
            if (s->kp[3 * i + 2] > 0) {
                x0 = fmin(x0, s->kp[3 * i]);
                y0 = fmin(y0, s->kp[3 * i + 1]);
                x1 = fmax(x1, s->kp[3 * i]);
                y1 = fmax(y1, s->kp[3 * i + 1]);
            }
        if (x0 <= x1) {
            box[0] = x0, box[1] = y0, box[2] = x1 - x0, box[3] = y1 - y0;
            has_box = true;
        }
    }
    if (!has_box)
        return err_set(e, ERR_INVALID, "shape %lld has no box", (long long)s->id);
    sbuf_put_i64(b, c->out);
    double wn = norm_exact(box[2], W, 0), hn = norm_exact(box[3], H, 0);
    put_norm(b, norm_exact(box[0], W, wn / 2));
    put_norm(b, norm_exact(box[1], H, hn / 2));
    put_norm(b, wn);
    put_norm(b, hn);
    if (y->kpt_n > 0) {
        for (int i = 0; i < y->kpt_n; i++) {
            if (s->kind == FMT_KEYPOINTS && i < s->nkp) {
                put_norm(b, norm_exact(s->kp[3 * i], W, 0));
                put_norm(b, norm_exact(s->kp[3 * i + 1], H, 0));
                put_norm(b, s->kp[3 * i + 2]);
            } else {
                sbuf_puts(b, " 0 0 0");
            }
        }
    }
    sbuf_putc(b, '\n');
    return sbuf_failed(b) ? err_set(e, ERR_INTERNAL, "out of memory") : 0;
}

static int write_label(fmt_writer *w, fmt_wimg *im, err *e)
{
    yolo_w *y = w->impl;
    if (w->opts.classify)
        return 0;
    char rel[PATH_MAX];
    /* images/<split>/x.jpg -> labels/<split>/x.txt */
    fmt_replace_ext(im->target + 7, ".txt", rel + 7, sizeof rel - 7);
    memcpy(rel, "labels/", 7);
    const char *sl = strrchr(rel, '/');
    size_t dl = (size_t)(sl - rel);
    if (strlen(y->lastdir) != dl || strncmp(y->lastdir, rel, dl) != 0) {
        if (fmt_mkdirs_for(w->dir, rel, e) < 0)
            return -1;
        snprintf(y->lastdir, sizeof y->lastdir, "%.*s", (int)dl, rel);
    }
    char full[PATH_MAX * 2];
    snprintf(full, sizeof full, "%s/%s", w->dir, rel);
    int rc = fmt_write_file(full, y->lines.p ? y->lines.p : "", y->lines.len, e);
    sbuf_reset(&y->lines);
    return rc;
}

static int yw_image_done(fmt_writer *w, fmt_wimg *im, err *e) { return write_label(w, im, e); }

static void yaml_str(sbuf *b, const char *s)
{
    sbuf_json_str(b, s, strlen(s)); /* a JSON string is a YAML double-quoted scalar */
}

static int yw_close(fmt_writer *w, err *e)
{
    yolo_w *y = w->impl;
    for (size_t i = 0; i < w->nimgs; i++)
        if (w->imgs[i].state == 0 && write_label(w, &w->imgs[i], e) < 0)
            return -1;
    if (w->opts.classify)
        return 0;
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "# YOLO dataset written by cvops " CVOPS_VERSION
                  " (Ultralytics layout: images/<split>, labels/<split>)\n");
    const char *train = NULL, *val = NULL;
    for (int i = 0; i < y->nsplits; i++) {
        if (!y->used[i])
            continue;
        if (strcmp(y->split_names[i], "train") == 0)
            train = "train";
        if (strcmp(y->split_names[i], "val") == 0)
            val = "val";
    }
    const char *first = NULL;
    for (int i = 0; i < y->nsplits; i++)
        if (y->used[i] && !first)
            first = y->split_names[i];
    if (!first)
        first = fmt_writer_split(w, NULL);
    sbuf_printf(&b, "train: images/%s\n", train ? train : first);
    if (val)
        sbuf_puts(&b, "val: images/val\n");
    else
        sbuf_printf(&b, "val: images/%s  # no val images: Ultralytics needs the key\n",
                    train ? train : first);
    for (int i = 0; i < y->nsplits; i++) {
        const char *s = y->split_names[i];
        if (y->used[i] && strcmp(s, "train") != 0 && strcmp(s, "val") != 0 &&
            !(!train && s == first))
            sbuf_printf(&b, "%s: images/%s\n", s, s);
    }
    sbuf_printf(&b, "nc: %d\nnames:\n", w->ncats);
    for (int i = 0; i < w->ncats; i++) {
        sbuf_printf(&b, "  %d: ", i);
        yaml_str(&b, w->cats[i].name);
        sbuf_putc(&b, '\n');
    }
    if (y->kpt_n) {
        sbuf_printf(&b, "kpt_shape: [%d, 3]\n", y->kpt_n);
        if (y->kpt_names) {
            sbuf_puts(&b, "kpt_names: [");
            for (int i = 0; i < y->kpt_n; i++) {
                if (i)
                    sbuf_puts(&b, ", ");
                yaml_str(&b, y->kpt_names[i]);
            }
            sbuf_puts(&b, "]  # cvops: keypoint names\n");
        }
        if (y->nskeleton) {
            sbuf_puts(&b, "skeleton: [");
            for (int i = 0; i < y->nskeleton; i++)
                sbuf_printf(&b, "%s[%d, %d]", i ? ", " : "", y->skeleton[2 * i],
                            y->skeleton[2 * i + 1]);
            sbuf_puts(&b, "]  # cvops: edges between keypoints, 1-based\n");
        }
    }
    if (sbuf_failed(&b)) {
        sbuf_free(&b);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/data.yaml", w->dir);
    int rc = fmt_write_file(path, b.p, b.len, e);
    sbuf_free(&b);
    return rc;
}

static void yw_free(fmt_writer *w)
{
    yolo_w *y = w->impl;
    if (!y)
        return;
    sbuf_free(&y->lines);
    free(y);
    w->impl = NULL;
}

static const char *yw_target(fmt_writer *w, fmt_wimg *im)
{
    if (!w->opts.classify || im->cls < 0)
        return NULL;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/%s/%s", fmt_writer_split(w, im), w->cats[im->cls].name,
             fmt_basename(im->file_name));
    return fmt_writer_claim(w, tmp, im->id);
}

const fmt_writer_ops fmt_yolo_writer_ops = {
    yw_open, yw_category, NULL, yw_image, NULL, yw_shape, yw_image_done, yw_close, yw_free,
    yw_target,
};
