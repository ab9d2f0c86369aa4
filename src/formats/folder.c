/*
 * folder.c - classification layouts: class folders (FOLDER, and the YOLO
 * classification layout through fmt_class_tree_read) and CSV.
 *
 * Class folders: root/<class>/<image> (any depth below the class folder).
 * Categories are the folder names in byte order, ids 0..K-1 (what
 * torchvision's ImageFolder and Ultralytics do); images 1..N in path order,
 * file_name "<class>/<rest>" relative to the split, sizes from the file
 * headers. Files that are not images (by extension) are ignored; images
 * directly in the root are reported (they have no class).
 *
 * CSV: "filename,label" rows (RFC 4180 quoting; a header row is recognised
 * by its names; an optional third "split" column when the header names it).
 * Categories are the distinct labels in byte order, ids 0..K-1; images the
 * distinct file names in order of first appearance, ids 1..N; several rows
 * for one file make a multi-label image; an empty label an image without a
 * class. CSV does not give sizes (0). path is the file name when that file
 * exists next to the CSV (relative, inside its directory).
 *
 * Writers: FOLDER puts images at <class>/<basename> (an image without a
 * class is not exported: fmt_writer_image_path says NULL); CSV writes
 * labels.csv and puts images at images/<file_name>.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/internal.h"

/* --- class folders ------------------------------------------------------------------- */

typedef struct cimg {
    int64_t id;
    int cls;
} cimg;

int fmt_class_tree_read(fmt_rd *rd, const char *root, const char *const *splits, int nsplits)
{
    const char *none[1] = {NULL};
    if (nsplits == 0) {
        splits = none;
        nsplits = 1;
    }
    fmt_list classes = {0};
    fmt_strmap cls_ix = {0};
    cimg *imgs = NULL;
    size_t nimgs = 0, cap = 0;
    err e;
    int rc = 0;
    /* the classes: folder names in every split */
    for (int k = 0; k < nsplits && rc == 0; k++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s%s%s", root, splits[k] ? "/" : "", splits[k] ? splits[k] : "");
        fmt_list sub = {0};
        if (fmt_list_dirs(dir, &sub, &e) < 0) {
            rc = fmt_rd_fatal(rd, e.code, splits[k] ? splits[k] : "", "%s", e.msg);
        } else {
            for (size_t i = 0; i < sub.n && rc == 0; i++)
                if (fmt_strmap_put(&cls_ix, sub.items[i], 0, NULL) == 0) {
                    char *dup = strdup(sub.items[i]);
                    if (!dup) {
                        rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
                        break;
                    }
                    if (classes.n == classes.cap) {
                        size_t nc = classes.cap ? classes.cap * 2 : 32;
                        char **p = realloc(classes.items, nc * sizeof *p);
                        if (!p) {
                            free(dup);
                            rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
                            break;
                        }
                        classes.items = p;
                        classes.cap = nc;
                    }
                    classes.items[classes.n++] = dup;
                }
            /* images directly at the class level have no class */
            fmt_list loose = {0};
            if (rc == 0 && fmt_list_files(dir, false, fmt_is_image_name, &loose, &e) == 0)
                for (size_t i = 0; i < loose.n && rc == 0; i++) {
                    char where[PATH_MAX];
                    snprintf(where, sizeof where, "%s%s%s", splits[k] ? splits[k] : "",
                             splits[k] ? "/" : "", loose.items[i]);
                    rc = fmt_rd_error(rd, where, "image outside a class folder (no class)");
                }
            fmt_list_free(&loose);
        }
        fmt_list_free(&sub);
    }
    if (rc == 0 && classes.n == 0)
        rc = fmt_rd_fatal(rd, ERR_INVALID, "", "no class folders in %s", root);
    /* byte order, ids 0..K-1 */
    for (size_t i = 1; i < classes.n; i++)
        for (size_t j = i; j > 0 && strcmp(classes.items[j - 1], classes.items[j]) > 0; j--) {
            char *t = classes.items[j];
            classes.items[j] = classes.items[j - 1];
            classes.items[j - 1] = t;
        }
    for (size_t i = 0; i < classes.n && rc == 0; i++) {
        fmt_category c = {(int64_t)i, classes.items[i], NULL, NULL, 0, NULL, 0};
        rc = fmt_rd_category(rd, &c);
    }
    int64_t next = 1;
    for (int k = 0; k < nsplits && rc == 0; k++) {
        for (size_t ci = 0; ci < classes.n && rc == 0; ci++) {
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%s%s%s/%s", root, splits[k] ? "/" : "",
                     splits[k] ? splits[k] : "", classes.items[ci]);
            if (!fmt_is_dir(dir))
                continue;
            fmt_list files = {0};
            if (fmt_list_files(dir, true, fmt_is_image_name, &files, &e) < 0) {
                rc = fmt_rd_fatal(rd, e.code, classes.items[ci], "%s", e.msg);
                fmt_list_free(&files);
                break;
            }
            for (size_t f = 0; f < files.n && rc == 0; f++) {
                char name[PATH_MAX], path[PATH_MAX + 80], full[PATH_MAX * 2];
                snprintf(name, sizeof name, "%s/%s", classes.items[ci], files.items[f]);
                snprintf(path, sizeof path, "%s%s%s", splits[k] ? splits[k] : "",
                         splits[k] ? "/" : "", name);
                snprintf(full, sizeof full, "%s/%s", root, path);
                int w, h;
                if (fmt_image_size(full, &w, &h, &e) < 0) {
                    rc = fmt_rd_error(rd, path, "%s", e.msg);
                    continue;
                }
                if (nimgs == cap) {
                    cap = cap ? cap * 2 : 256;
                    cimg *p = realloc(imgs, cap * sizeof *p);
                    if (!p) {
                        rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
                        break;
                    }
                    imgs = p;
                }
                imgs[nimgs].id = next++;
                imgs[nimgs].cls = (int)ci;
                fmt_image im = {imgs[nimgs].id, name, w, h, path, splits[k]};
                nimgs++;
                rc = fmt_rd_image(rd, &im);
            }
            fmt_list_free(&files);
        }
    }
    for (size_t i = 0; i < nimgs && rc == 0; i++) {
        fmt_shape s;
        fmt_shape_init(&s);
        s.id = (int64_t)i + 1;
        s.image_id = imgs[i].id;
        s.category_id = imgs[i].cls;
        s.kind = FMT_CLASS;
        rc = fmt_rd_shape(rd, &s);
    }
    free(imgs);
    fmt_list_free(&classes);
    fmt_strmap_free(&cls_ix);
    return rd->failed ? -1 : 0;
}

int fmt_folder_read(fmt_rd *rd, const char *path)
{
    char root[PATH_MAX];
    if (!fmt_is_dir(path) || !realpath(path, root))
        return fmt_rd_fatal(rd, ERR_NOT_FOUND, path, "not a directory of class folders");
    return fmt_class_tree_read(rd, root, NULL, 0);
}

/* --- CSV ---------------------------------------------------------------------------- */

typedef struct crow {
    const char *file, *label, *split;
    int line;
} crow;

/* Splits one CSV record starting at *pos into fields (in place: quotes and
 * doubled quotes are removed, fields NUL-terminated). Returns the number of
 * fields, -1 on a bad quote. */
static int csv_record(char *text, size_t len, size_t *pos, char **fields, int maxf, int *lines)
{
    size_t i = *pos;
    int nf = 0;
    for (;;) {
        char *out = text + i;
        char *w = out;
        if (i < len && text[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return -1;
                if (text[i] == '"') {
                    if (i + 1 < len && text[i + 1] == '"') {
                        *w++ = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (text[i] == '\n')
                    (*lines)++;
                *w++ = text[i++];
            }
            if (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
                return -1;
        } else {
            while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                if (text[i] == '"')
                    return -1;
                *w++ = text[i++];
            }
        }
        char sepc = i < len ? text[i] : '\n';
        *w = 0; /* may overwrite the separator: sepc keeps it */
        if (nf < maxf)
            fields[nf] = out;
        nf++;
        if (sepc == ',') {
            i++;
            continue;
        }
        if (i < len)
            i++; /* '\r' or '\n' */
        if (sepc == '\r' && i < len && text[i] == '\n')
            i++;
        break;
    }
    *pos = i;
    return nf;
}

static bool ieq_any(const char *s, const char *const *names)
{
    for (; *names; names++)
        if (strcasecmp(s, *names) == 0)
            return true;
    return false;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int fmt_csv_read(fmt_rd *rd, const char *path)
{
    err e;
    size_t len;
    uint64_t max = rd->opts->max_bytes > 0 ? (uint64_t)rd->opts->max_bytes : (1ull << 30);
    if (max > (1ull << 30))
        max = 1ull << 30;
    char *text = fmt_slurp(path, (size_t)max, &len, &e);
    if (!text)
        return fmt_rd_fatal(rd, e.code, path, "%s", e.msg);
    const char *name = fmt_basename(path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *sl = strrchr(dir, '/');
    if (sl)
        *sl = 0;
    else
        snprintf(dir, sizeof dir, ".");
    crow *rows = NULL;
    size_t nrows = 0, cap = 0;
    int ncols = -1, split_col = -1;
    int rc = 0, line = 0;
    size_t pos = 0;
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB &&
        (unsigned char)text[2] == 0xBF)
        pos = 3;
    while (pos < len && rc == 0) {
        char *f[4];
        line++;
        int start_line = line;
        int nf = csv_record(text, len, &pos, f, 4, &line);
        char where[PATH_MAX];
        snprintf(where, sizeof where, "%s:%d", name, start_line);
        if (nf < 0) {
            rc = fmt_rd_fatal(rd, ERR_INVALID, where, "a quoted field is not closed properly");
            break;
        }
        if (nf == 1 && f[0][0] == 0)
            continue; /* blank line */
        if (ncols < 0) {
            static const char *const fnames[] = {"filename", "file_name", "file", "image",
                                                 "image_path", "path", "name", "image_id", NULL};
            static const char *const lnames[] = {"label", "labels", "class", "class_name",
                                                 "category", NULL};
            ncols = nf;
            if (nf < 2 || nf > 3) {
                rc = fmt_rd_fatal(rd, ERR_INVALID, where,
                                  "expected 2 columns (filename,label), got %d", nf);
                break;
            }
            if (ieq_any(f[0], fnames) && ieq_any(f[1], lnames)) {
                if (nf == 3) {
                    if (strcasecmp(f[2], "split") != 0) {
                        rc = fmt_rd_fatal(rd, ERR_INVALID, where,
                                          "the third column must be 'split', got '%s'", f[2]);
                        break;
                    }
                    split_col = 2;
                }
                continue; /* the header */
            }
            if (nf == 3) {
                rc = fmt_rd_fatal(rd, ERR_INVALID, where,
                                  "3 columns need a header naming the third 'split'");
                break;
            }
        }
        if (nf != ncols) {
            rc = fmt_rd_error(rd, where, "expected %d columns, got %d", ncols, nf);
            continue;
        }
        if (!*f[0] || strlen(f[0]) > FMT_MAX_NAME) {
            rc = fmt_rd_error(rd, where, "empty or overlong file name");
            continue;
        }
        if (strlen(f[1]) > FMT_MAX_NAME) {
            rc = fmt_rd_error(rd, where, "overlong label");
            continue;
        }
        if (split_col >= 0 && *f[2] && !fmt_split_name_ok(f[2])) {
            rc = fmt_rd_error(rd, where, "split '%s' is not a name", f[2]);
            continue;
        }
        if (split_col >= 0 && rd->opts->split && strcmp(f[2], rd->opts->split) != 0)
            continue;
        if (nrows == cap) {
            cap = cap ? cap * 2 : 1024;
            crow *p = realloc(rows, cap * sizeof *p);
            if (!p) {
                rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
                break;
            }
            rows = p;
        }
        rows[nrows++] = (crow){f[0], f[1], split_col >= 0 && *f[2] ? f[2] : NULL, start_line};
    }
    /* categories: distinct labels in byte order */
    fmt_strmap labels = {0}, files = {0};
    const char **names = NULL;
    size_t nnames = 0;
    if (rc == 0) {
        names = malloc((nrows ? nrows : 1) * sizeof *names);
        if (!names)
            rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
        fmt_strmap distinct = {0};
        for (size_t i = 0; rc == 0 && i < nrows; i++) {
            if (!*rows[i].label)
                continue;
            int r = fmt_strmap_put(&distinct, rows[i].label, 0, NULL);
            if (r < 0)
                rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
            else if (r == 0)
                names[nnames++] = rows[i].label;
        }
        fmt_strmap_free(&distinct);
        if (names)
            qsort(names, nnames, sizeof *names, cmp_strp);
        for (size_t i = 0; rc == 0 && i < nnames; i++)
            if (fmt_strmap_put(&labels, names[i], (int32_t)i, NULL) < 0)
                rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
        for (size_t i = 0; rc == 0 && i < nnames; i++) {
            fmt_category c = {(int64_t)i, names[i], NULL, NULL, 0, NULL, 0};
            rc = fmt_rd_category(rd, &c);
        }
    }
    /* images: distinct file names, first appearance */
    int64_t nimg = 0;
    int32_t *img_of = rows ? malloc(nrows * sizeof *img_of) : NULL;
    if (rc == 0 && nrows && !img_of)
        rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
    for (size_t i = 0; rc == 0 && i < nrows; i++) {
        int32_t old;
        int r = fmt_strmap_put(&files, rows[i].file, (int32_t)(nimg + 1), &old);
        if (r < 0) {
            rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
            break;
        }
        if (r == 1) {
            img_of[i] = old;
            continue;
        }
        img_of[i] = (int32_t)++nimg;
        char full[PATH_MAX * 2];
        const char *ipath = NULL;
        if (fmt_relpath_ok(rows[i].file)) {
            snprintf(full, sizeof full, "%s/%s", dir, rows[i].file);
            if (fmt_is_file(full))
                ipath = rows[i].file;
        }
        fmt_image im = {nimg, rows[i].file, 0, 0, ipath, rows[i].split};
        rc = fmt_rd_image(rd, &im);
    }
    /* shapes, grouped by image in row order (rows of one image may be apart) */
    if (rc == 0 && nrows) {
        size_t *order = malloc(nrows * sizeof *order);
        if (!order) {
            rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
        } else {
            /* counting sort by image id keeps row order within an image */
            size_t *start = calloc((size_t)nimg + 2, sizeof *start);
            if (!start) {
                rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
            } else {
                for (size_t i = 0; i < nrows; i++)
                    start[img_of[i] + 1]++;
                for (int64_t k = 1; k <= nimg + 1; k++)
                    start[k] += start[k - 1];
                for (size_t i = 0; i < nrows; i++)
                    order[start[img_of[i]]++] = i;
                free(start);
            }
            int64_t sid = 1, last_img = 0;
            fmt_strmap seen = {0};
            for (size_t k = 0; rc == 0 && k < nrows; k++) {
                const crow *r = &rows[order[k]];
                if (!*r->label)
                    continue;
                if (img_of[order[k]] != last_img) {
                    fmt_strmap_free(&seen);
                    last_img = img_of[order[k]];
                }
                if (fmt_strmap_put(&seen, r->label, 1, NULL) == 1) {
                    char where[PATH_MAX];
                    snprintf(where, sizeof where, "%s:%d", name, r->line);
                    fmt_rd_warn(rd, where, "'%s' is labelled '%s' twice; counted once", r->file,
                                r->label);
                    continue;
                }
                fmt_shape s;
                fmt_shape_init(&s);
                s.id = sid++;
                s.image_id = img_of[order[k]];
                s.category_id = fmt_strmap_get(&labels, r->label);
                s.kind = FMT_CLASS;
                rc = fmt_rd_shape(rd, &s);
            }
            fmt_strmap_free(&seen);
            free(order);
        }
    }
    free(img_of);
    free(names);
    fmt_strmap_free(&labels);
    fmt_strmap_free(&files);
    free(rows);
    free(text);
    return rd->failed ? -1 : 0;
}

/* --- writers --------------------------------------------------------------------------- */

static bool folder_name_ok(const char *s) { return fmt_relpath_ok(s) && !strchr(s, '/'); }

static int fw_category(fmt_writer *w, fmt_wcat *c, const fmt_category *in, err *e)
{
    c->out = w->ncats - 1;
    if (!folder_name_ok(in->name))
        return err_set(e, ERR_INVALID, "category '%s' cannot be a folder name", in->name);
    return 0;
}

static int fw_shape(fmt_writer *w, fmt_wimg *im, const fmt_wcat *c, const fmt_shape *s, err *e)
{
    if (s->kind != FMT_CLASS)
        return err_set(e, ERR_UNSUPPORTED,
                       "shape %lld: a class-folder layout holds image classes only",
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

static const char *fw_target(fmt_writer *w, fmt_wimg *im)
{
    if (im->cls < 0)
        return NULL;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/%s", w->cats[im->cls].name, fmt_basename(im->file_name));
    return fmt_writer_claim(w, tmp, im->id);
}

const fmt_writer_ops fmt_folder_writer_ops = {
    NULL, fw_category, NULL, NULL, NULL, fw_shape, NULL, NULL, NULL, fw_target,
};

typedef struct csv_w {
    fmt_out out;
    char path[PATH_MAX];
} csv_w;

static void csv_field(sbuf *b, const char *s)
{
    size_t n = strlen(s);
    bool q = n && (s[0] == ' ' || s[n - 1] == ' ');
    for (size_t i = 0; i < n && !q; i++)
        q = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!q) {
        sbuf_put(b, s, n);
        return;
    }
    sbuf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            sbuf_putc(b, '"');
        sbuf_putc(b, s[i]);
    }
    sbuf_putc(b, '"');
}

static int cv_open(fmt_writer *w, err *e)
{
    csv_w *c = calloc(1, sizeof *c);
    if (!c)
        return err_set(e, ERR_INTERNAL, "out of memory");
    c->out.fd = -1;
    w->impl = c;
    snprintf(c->path, sizeof c->path, "%s/labels.csv", w->dir);
    if (fmt_out_open(&c->out, c->path, e) < 0)
        return -1;
    sbuf_puts(&c->out.b, "filename,label\n");
    return 0;
}

static int cv_category(fmt_writer *w, fmt_wcat *c, const fmt_category *in, err *e)
{
    (void)in;
    (void)e;
    c->out = w->ncats - 1;
    return 0;
}

static int cv_image(fmt_writer *w, fmt_wimg *im, const fmt_image *in, err *e)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "images/%s", im->file_name);
    im->target = fmt_writer_claim(w, tmp, im->id);
    return im->target ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
}

static int cv_shape(fmt_writer *w, fmt_wimg *im, const fmt_wcat *c, const fmt_shape *s, err *e)
{
    csv_w *cw = w->impl;
    if (s->kind != FMT_CLASS)
        return err_set(e, ERR_UNSUPPORTED, "shape %lld: CSV holds image classes only",
                       (long long)s->id);
    csv_field(&cw->out.b, im->target + 7);
    sbuf_putc(&cw->out.b, ',');
    csv_field(&cw->out.b, c->name);
    sbuf_putc(&cw->out.b, '\n');
    return fmt_out_flush(&cw->out, false, e);
}

static int cv_close(fmt_writer *w, err *e)
{
    csv_w *cw = w->impl;
    for (size_t i = 0; i < w->nimgs; i++)
        if (w->imgs[i].state == 0) { /* no class: a row with an empty label */
            csv_field(&cw->out.b, w->imgs[i].target + 7);
            sbuf_puts(&cw->out.b, ",\n");
            if (fmt_out_flush(&cw->out, false, e) < 0)
                return -1;
        }
    return fmt_out_close(&cw->out, e);
}

static void cv_free(fmt_writer *w)
{
    csv_w *cw = w->impl;
    if (!cw)
        return;
    fmt_out_abort(&cw->out);
    free(cw);
    w->impl = NULL;
}

const fmt_writer_ops fmt_csv_writer_ops = {
    cv_open, cv_category, NULL, cv_image, NULL, cv_shape, NULL, cv_close, cv_free, NULL,
};
