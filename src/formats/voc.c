/*
 * voc.c - Pascal VOC: one XML file per image.
 *
 * Layout read: DIR/Annotations/<stem>.xml (images in DIR/JPEGImages/, splits
 * in DIR/ImageSets/Main/{train,val,test}.txt), or a directory of .xml files
 * (searched recursively). Category order: DIR/labels.txt (one name per line)
 * or CVAT's labelmap.txt ("name:color:parts:actions", "background" skipped)
 * when present, else the object names in byte order; ids 0..K-1. Images
 * 1..N in the byte order of the XML paths; file_name is <filename>; a
 * missing <size> is taken from the image file's headers when it is there.
 *
 * Coordinates: VOC corners are 1-based pixel indexes, both included: a box
 * covering the whole W-pixel-wide image is xmin=1, xmax=W. In our pixel
 * coordinates (0 at the left edge of the first pixel) that is
 *     x = xmin - 1,  w = xmax - xmin + 1     (reading)
 *     xmin = x + 1,  xmax = x + w            (writing)
 * (the convention of the VOC devkit and Detectron2). Integer (and half,
 * quarter...) coordinates round-trip exactly.
 * <difficult>, <truncated>, <occluded> set to 1 and <pose> (other than
 * "Unspecified") become the shape's attributes {"difficult": true, ...}
 * (a flag at 0 is the same as no flag, and is left out), and are written
 * back from them; <difficult> and <truncated> are always written, as VOC
 * tools expect them. Object parts (<part>) are not read.
 *
 * XML is parsed with expat; a DOCTYPE is refused (VOC files have none, and
 * it is where entity tricks live), nesting is bounded, text per element too.
 */
#include <expat.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "formats/internal.h"

/* --- one document ---------------------------------------------------------------- */

enum { E_OTHER, E_FILENAME, E_WIDTH, E_HEIGHT, E_DEPTH, E_NAME, E_POSE, E_TRUNC, E_DIFF,
       E_OCCL, E_XMIN, E_YMIN, E_XMAX, E_YMAX };

typedef struct vparse {
    XML_Parser xp;
    fmt_voc_doc *doc;
    err *e;
    bool failed;
    int depth;
    char path[FMT_MAX_DEPTH][16]; /* element names (truncated) from the root */
    int leaf;   /* E_* of the element whose text we collect */
    sbuf text;
    fmt_voc_obj *obj; /* the <object> being read */
    bool has_box[4];
} vparse;

static void vfail(vparse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vfail(vparse *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_set(p->e, ERR_INVALID, "line %lu: %s", (unsigned long)XML_GetCurrentLineNumber(p->xp),
            msg);
    p->failed = true;
    XML_StopParser(p->xp, XML_FALSE);
}

static bool at(vparse *p, int d, const char *a, const char *b, const char *c)
{
    if (p->depth != d)
        return false;
    return strcmp(p->path[0], a) == 0 && (!b || strcmp(p->path[1], b) == 0) &&
           (!c || strcmp(p->path[2], c) == 0);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    vparse *p = ud;
    if (p->failed)
        return;
    if (p->depth >= FMT_MAX_DEPTH) {
        vfail(p, "elements nested deeper than %d levels", FMT_MAX_DEPTH);
        return;
    }
    if (p->depth == 0 && strcmp(name, "annotation") != 0) {
        vfail(p, "the root element is <%.40s>, a VOC file has <annotation>", name);
        return;
    }
    snprintf(p->path[p->depth], sizeof p->path[0], "%s", name);
    p->depth++;
    p->leaf = E_OTHER;
    sbuf_reset(&p->text);
    fmt_voc_doc *d = p->doc;
    if (p->depth == 2 && strcmp(name, "object") == 0) {
        if (d->nobjs >= 100000) {
            vfail(p, "more than 100000 objects");
            return;
        }
        if (d->nobjs == d->cap) {
            int cap = d->cap ? d->cap * 2 : 16;
            fmt_voc_obj *o = arena_alloc(d->a, (size_t)cap * sizeof *o);
            if (!o) {
                vfail(p, "out of memory");
                return;
            }
            if (d->nobjs)
                memcpy(o, d->objs, (size_t)d->nobjs * sizeof *o);
            d->objs = o;
            d->cap = cap;
        }
        p->obj = &d->objs[d->nobjs++];
        memset(p->obj, 0, sizeof *p->obj);
        p->obj->difficult = p->obj->truncated = p->obj->occluded = -1;
        for (int i = 0; i < 4; i++) {
            p->obj->box[i] = NAN;
            p->has_box[i] = false;
        }
        return;
    }
    static const struct {
        int d;
        const char *a, *b, *c;
        int leaf;
    } leaves[] = {
        {2, "annotation", "filename", NULL, E_FILENAME},
        {3, "annotation", "size", "width", E_WIDTH},
        {3, "annotation", "size", "height", E_HEIGHT},
        {3, "annotation", "size", "depth", E_DEPTH},
        {3, "annotation", "object", "name", E_NAME},
        {3, "annotation", "object", "pose", E_POSE},
        {3, "annotation", "object", "truncated", E_TRUNC},
        {3, "annotation", "object", "difficult", E_DIFF},
        {3, "annotation", "object", "occluded", E_OCCL},
    };
    for (size_t i = 0; i < sizeof leaves / sizeof *leaves; i++)
        if (at(p, leaves[i].d, leaves[i].a, leaves[i].b, leaves[i].c)) {
            p->leaf = leaves[i].leaf;
            return;
        }
    if (p->depth == 4 && strcmp(p->path[1], "object") == 0 && strcmp(p->path[2], "bndbox") == 0) {
        static const char *const corner[4] = {"xmin", "ymin", "xmax", "ymax"};
        for (int i = 0; i < 4; i++)
            if (strcmp(name, corner[i]) == 0)
                p->leaf = E_XMIN + i;
    }
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    vparse *p = ud;
    if (p->failed || p->leaf == E_OTHER)
        return;
    if (p->text.len + (size_t)len > FMT_MAX_NAME) {
        vfail(p, "element <%s> has more than %d characters", p->path[p->depth - 1], FMT_MAX_NAME);
        return;
    }
    sbuf_put(&p->text, s, (size_t)len);
}

static char *trimmed(vparse *p)
{
    char *s = (char *)sbuf_cstr(&p->text);
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    (void)name;
    vparse *p = ud;
    if (p->failed)
        return;
    int leaf = p->leaf;
    p->leaf = E_OTHER;
    if (leaf != E_OTHER) {
        char *t = trimmed(p);
        size_t n = strlen(t);
        fmt_voc_doc *d = p->doc;
        fmt_voc_obj *o = p->obj;
        int64_t iv;
        double dv;
        switch (leaf) {
        case E_FILENAME:
            d->filename = arena_strdup(d->a, t);
            break;
        case E_WIDTH:
        case E_HEIGHT:
        case E_DEPTH:
            if (fmt_parse_i64(t, n, &iv) < 0 || iv < 0 || iv > FMT_MAX_DIM) {
                vfail(p, "<%s> must be a whole number between 0 and %d, got '%.40s'",
                      leaf == E_WIDTH ? "width" : leaf == E_HEIGHT ? "height" : "depth",
                      FMT_MAX_DIM, t);
                break;
            }
            if (leaf == E_WIDTH)
                d->width = (int)iv;
            else if (leaf == E_HEIGHT)
                d->height = (int)iv;
            else
                d->depth = (int)iv;
            break;
        case E_NAME: o->name = arena_strdup(d->a, t); break;
        case E_POSE: o->pose = arena_strdup(d->a, t); break;
        case E_TRUNC:
        case E_DIFF:
        case E_OCCL: {
            if (fmt_parse_i64(t, n, &iv) < 0 || (iv != 0 && iv != 1)) {
                vfail(p, "<%s> must be 0 or 1, got '%.40s'",
                      leaf == E_TRUNC ? "truncated" : leaf == E_DIFF ? "difficult" : "occluded", t);
                break;
            }
            if (leaf == E_TRUNC)
                o->truncated = (int)iv;
            else if (leaf == E_DIFF)
                o->difficult = (int)iv;
            else
                o->occluded = (int)iv;
            break;
        }
        default: { /* a corner */
            int k = leaf - E_XMIN;
            static const char *const corner[4] = {"xmin", "ymin", "xmax", "ymax"};
            if (fmt_parse_dbl(t, n, &dv) < 0 || !isfinite(dv)) {
                vfail(p, "<%s> must be a number, got '%.40s'", corner[k], t);
                break;
            }
            if (p->has_box[k]) {
                vfail(p, "<%s> appears twice in one <bndbox>", corner[k]);
                break;
            }
            o->box[k] = dv;
            p->has_box[k] = true;
        }
        }
    }
    if (p->depth == 2 && strcmp(p->path[1], "object") == 0)
        p->obj = NULL;
    p->depth--;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal;
    vfail(ud, "a DOCTYPE is not allowed in a VOC file");
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *v,
                              int vlen, const XML_Char *base, const XML_Char *sysid,
                              const XML_Char *pubid, const XML_Char *notation)
{
    (void)name, (void)is_param, (void)v, (void)vlen, (void)base, (void)sysid, (void)pubid,
        (void)notation;
    vfail(ud, "entity declarations are not allowed");
}

int fmt_voc_parse(const char *xml, size_t n, fmt_voc_doc *doc, err *e)
{
    memset(doc, 0, sizeof *doc);
    if (!(doc->a = arena_new(4096)))
        return err_set(e, ERR_INTERNAL, "out of memory");
    if (n > FMT_MAX_TEXT_FILE || n > INT_MAX)
        return err_set(e, ERR_TOO_LARGE, "%zu bytes is above the limit of %u", n,
                       FMT_MAX_TEXT_FILE);
    vparse p = {.doc = doc, .e = e};
    p.xp = XML_ParserCreate(NULL);
    if (!p.xp)
        return err_set(e, ERR_INTERNAL, "out of memory");
    XML_SetUserData(p.xp, &p);
    XML_SetElementHandler(p.xp, on_start, on_end);
    XML_SetCharacterDataHandler(p.xp, on_text);
    XML_SetStartDoctypeDeclHandler(p.xp, on_doctype);
    XML_SetEntityDeclHandler(p.xp, on_entity);
    if (XML_Parse(p.xp, xml, (int)n, XML_TRUE) == XML_STATUS_ERROR && !p.failed) {
        err_set(e, ERR_INVALID, "line %lu, column %lu: invalid XML: %s",
                (unsigned long)XML_GetCurrentLineNumber(p.xp),
                (unsigned long)XML_GetCurrentColumnNumber(p.xp) + 1,
                XML_ErrorString(XML_GetErrorCode(p.xp)));
        p.failed = true;
    }
    XML_ParserFree(p.xp);
    sbuf_free(&p.text);
    return p.failed ? -1 : 0;
}

void fmt_voc_doc_free(fmt_voc_doc *doc)
{
    arena_free(doc->a);
    memset(doc, 0, sizeof *doc);
}

/* --- reading a dataset --------------------------------------------------------------- */

typedef struct vimg {
    char *xml;      /* path relative to the XML directory */
    char *file_name;
    int w, h;
    int64_t id;     /* 0: skipped */
    int split;      /* -1 none */
} vimg;

static const char *const VSPLITS[3] = {"train", "val", "test"};

static bool is_xml(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && strcasecmp(dot, ".xml") == 0;
}

static int load_doc(fmt_rd *rd, const char *dir, const char *rel, const char *where,
                    fmt_voc_doc *doc)
{
    char full[PATH_MAX * 2];
    snprintf(full, sizeof full, "%s/%s", dir, rel);
    err e;
    size_t len;
    char *text = fmt_slurp(full, FMT_MAX_TEXT_FILE, &len, &e);
    if (!text) {
        memset(doc, 0, sizeof *doc);
        return fmt_rd_error(rd, where, "%s", e.msg) < 0 ? -1 : 1;
    }
    int rc = fmt_voc_parse(text, len, doc, &e);
    free(text);
    if (rc < 0) {
        fmt_voc_doc_free(doc);
        return fmt_rd_error(rd, where, "%s", e.msg) < 0 ? -1 : 1;
    }
    return 0;
}

/* Category names from labels.txt / labelmap.txt, or NULL. */
static int read_label_list(fmt_rd *rd, const char *root, fmt_list *out, bool *found)
{
    *found = false;
    static const char *const files[] = {"labels.txt", "labelmap.txt"};
    for (int f = 0; f < 2; f++) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s/%s", root, files[f]);
        if (!fmt_is_file(path))
            continue;
        err e;
        size_t len;
        char *text = fmt_slurp(path, 1u << 20, &len, &e);
        if (!text)
            return fmt_rd_fatal(rd, e.code, files[f], "%s", e.msg);
        *found = true;
        int lineno = 0;
        fmt_strmap seen = {0};
        int rc = 0;
        for (char *line = text; line && rc == 0;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = 0;
            lineno++;
            size_t n = strlen(line);
            while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
                line[--n] = 0;
            if (f == 1) { /* name:color:parts:actions */
                char *c = strchr(line, ':');
                if (c)
                    *c = 0;
            }
            if (*line && *line != '#' && !(f == 1 && strcmp(line, "background") == 0)) {
                char where[64];
                snprintf(where, sizeof where, "%s:%d", files[f], lineno);
                if (fmt_strmap_put(&seen, line, 1, NULL) == 1)
                    rc = fmt_rd_fatal(rd, ERR_INVALID, where, "'%s' is listed twice", line);
                else {
                    if (out->n == out->cap) {
                        size_t cap = out->cap ? out->cap * 2 : 32;
                        char **p = realloc(out->items, cap * sizeof *p);
                        if (!p) {
                            rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
                            break;
                        }
                        out->items = p;
                        out->cap = cap;
                    }
                    out->items[out->n++] = strdup(line);
                }
            }
            line = nl ? nl + 1 : NULL;
        }
        fmt_strmap_free(&seen);
        free(text);
        return rc;
    }
    return 0;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void attrs_json(const fmt_voc_obj *o, sbuf *b)
{
    sbuf_reset(b);
    jw w;
    jw_init(&w, b);
    jw_obj(&w);
    /* only the flags that are set: absent and 0 mean the same in VOC, and
     * the writer always writes difficult and truncated */
    if (o->difficult == 1)
        jw_kbool(&w, "difficult", true);
    if (o->truncated == 1)
        jw_kbool(&w, "truncated", true);
    if (o->occluded == 1)
        jw_kbool(&w, "occluded", true);
    if (o->pose && *o->pose && strcmp(o->pose, "Unspecified") != 0)
        jw_kstr(&w, "pose", o->pose);
    jw_obj_end(&w);
}

int fmt_voc_read(fmt_rd *rd, const char *path)
{
    char root[PATH_MAX], xdir[PATH_MAX + 16], idir[PATH_MAX + 16];
    if (!fmt_is_dir(path) || !realpath(path, root))
        return fmt_rd_fatal(rd, ERR_NOT_FOUND, path, "not a directory of VOC XML files");
    snprintf(xdir, sizeof xdir, "%s/Annotations", root);
    bool std = fmt_is_dir(xdir);
    if (!std)
        snprintf(xdir, sizeof xdir, "%s", root);
    snprintf(idir, sizeof idir, "%s/JPEGImages", root);
    const char *xprefix = std ? "Annotations/" : "";
    fmt_list xmls = {0}, names = {0};
    vimg *imgs = NULL;
    fmt_strmap cats = {0}, stems = {0};
    sbuf attrs = SBUF_INIT;
    err e;
    int rc = 0;
    if (fmt_list_files(xdir, true, is_xml, &xmls, &e) < 0)
        rc = fmt_rd_fatal(rd, e.code, xprefix, "%s", e.msg);
    if (rc == 0 && xmls.n == 0)
        rc = fmt_rd_fatal(rd, ERR_INVALID, xprefix, "no .xml files in %s", xdir);
    bool have_list = false;
    if (rc == 0)
        rc = read_label_list(rd, root, &names, &have_list);
    for (size_t i = 0; rc == 0 && i < names.n; i++)
        if (fmt_strmap_put(&cats, names.items[i], (int32_t)i, NULL) < 0)
            rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
    /* splits */
    bool have_sets = false;
    for (int k = 0; rc == 0 && k < 3; k++) {
        char sp[PATH_MAX + 64];
        snprintf(sp, sizeof sp, "%s/ImageSets/Main/%s.txt", root, VSPLITS[k]);
        if (!fmt_is_file(sp))
            continue;
        have_sets = true;
        size_t len;
        char *text = fmt_slurp(sp, FMT_MAX_TEXT_FILE, &len, &e);
        if (!text) {
            rc = fmt_rd_fatal(rd, e.code, sp, "%s", e.msg);
            break;
        }
        for (char *line = text; line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = 0;
            size_t n = strlen(line);
            while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
                line[--n] = 0;
            char *sp2 = strchr(line, ' '); /* "stem  1" in per-class lists */
            if (sp2)
                *sp2 = 0;
            if (*line)
                fmt_strmap_put(&stems, line, k, NULL);
            line = nl ? nl + 1 : NULL;
        }
        free(text);
    }
    if (rc == 0 && rd->opts->split && !have_sets)
        rc = fmt_rd_fatal(rd, ERR_NOT_FOUND, "ImageSets/Main",
                          "no ImageSets/Main/%s.txt: this VOC dataset has no splits",
                          rd->opts->split);
    /* pass 1: images and category names */
    imgs = calloc(xmls.n ? xmls.n : 1, sizeof *imgs);
    if (!imgs && rc == 0)
        rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
    fmt_strmap found = {0};
    fmt_list found_names = {0};
    int64_t next = 1;
    for (size_t i = 0; rc == 0 && i < xmls.n; i++) {
        vimg *vi = &imgs[i];
        vi->xml = xmls.items[i];
        vi->split = -1;
        char stem[PATH_MAX];
        fmt_replace_ext(vi->xml, "", stem, sizeof stem);
        if (have_sets) {
            vi->split = fmt_strmap_get(&stems, stem);
            if (rd->opts->split && (vi->split < 0 || strcmp(VSPLITS[vi->split], rd->opts->split)))
                continue;
        }
        char where[PATH_MAX + 16];
        snprintf(where, sizeof where, "%s%s", xprefix, vi->xml);
        fmt_voc_doc doc;
        int r = load_doc(rd, xdir, vi->xml, where, &doc);
        if (r < 0) {
            rc = -1;
            break;
        }
        if (r > 0)
            continue;
        if (!doc.filename || !*doc.filename) {
            rc = fmt_rd_error(rd, where, "no <filename>");
            fmt_voc_doc_free(&doc);
            continue;
        }
        vi->file_name = strdup(doc.filename);
        vi->w = doc.width;
        vi->h = doc.height;
        if (vi->w <= 0 || vi->h <= 0) {
            char ip[PATH_MAX * 2];
            snprintf(ip, sizeof ip, "%s/%s", std ? idir : xdir, doc.filename);
            if (fmt_relpath_ok(doc.filename) && fmt_image_size(ip, &vi->w, &vi->h, &e) == 0) {
                fmt_rd_warn(rd, where, "no <size>; %dx%d from the image file", vi->w, vi->h);
            } else {
                rc = fmt_rd_error(rd, where, "no <size> width and height, and no image file to "
                                             "take them from");
                fmt_voc_doc_free(&doc);
                continue;
            }
        }
        for (int k = 0; k < doc.nobjs && rc == 0; k++) {
            const char *nm = doc.objs[k].name;
            if (!nm || !*nm)
                continue; /* reported in pass 2 */
            if (have_list) {
                continue;
            }
            int ins = fmt_strmap_put(&found, nm, 0, NULL);
            if (ins < 0)
                rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
            else if (ins == 0) {
                if (found_names.n == found_names.cap) {
                    size_t cap = found_names.cap ? found_names.cap * 2 : 32;
                    char **p = realloc(found_names.items, cap * sizeof *p);
                    if (!p) {
                        rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
                        break;
                    }
                    found_names.items = p;
                    found_names.cap = cap;
                }
                found_names.items[found_names.n++] = strdup(nm);
            }
        }
        fmt_voc_doc_free(&doc);
        if (vi->file_name)
            vi->id = next++;
    }
    fmt_strmap_free(&found);
    if (rc == 0 && !have_list) {
        if (found_names.n)
            qsort(found_names.items, found_names.n, sizeof *found_names.items, cmp_strp);
        names = found_names;
        found_names = (fmt_list){0};
        for (size_t i = 0; rc == 0 && i < names.n; i++)
            if (fmt_strmap_put(&cats, names.items[i], (int32_t)i, NULL) < 0)
                rc = fmt_rd_fatal(rd, ERR_INTERNAL, "", "out of memory");
    }
    fmt_list_free(&found_names);
    for (size_t i = 0; rc == 0 && i < names.n; i++) {
        fmt_category c = {(int64_t)i, names.items[i], NULL, NULL, 0, NULL, 0};
        rc = fmt_rd_category(rd, &c);
    }
    for (size_t i = 0; rc == 0 && i < xmls.n; i++) {
        vimg *vi = &imgs[i];
        if (!vi->id)
            continue;
        char ip[PATH_MAX * 2], rel[PATH_MAX + 16];
        snprintf(rel, sizeof rel, "%s%s", std ? "JPEGImages/" : "", vi->file_name);
        snprintf(ip, sizeof ip, "%s/%s", root, rel);
        bool exists = fmt_relpath_ok(vi->file_name) && fmt_is_file(ip);
        fmt_image im = {vi->id, vi->file_name, vi->w, vi->h, exists ? rel : NULL,
                        vi->split >= 0 ? VSPLITS[vi->split] : NULL};
        rc = fmt_rd_image(rd, &im);
    }
    /* pass 2: objects */
    int64_t sid = 1;
    for (size_t i = 0; rc == 0 && i < xmls.n; i++) {
        vimg *vi = &imgs[i];
        if (!vi->id)
            continue;
        char where[PATH_MAX + 16];
        snprintf(where, sizeof where, "%s%s", xprefix, vi->xml);
        fmt_voc_doc doc;
        int r = load_doc(rd, xdir, vi->xml, where, &doc);
        if (r != 0) {
            rc = r < 0 ? -1 : 0;
            continue;
        }
        for (int k = 0; k < doc.nobjs && rc == 0; k++) {
            const fmt_voc_obj *o = &doc.objs[k];
            char ow[PATH_MAX + 40];
            snprintf(ow, sizeof ow, "%s: object %d", where, k + 1);
            if (!o->name || !*o->name) {
                rc = fmt_rd_error(rd, ow, "no <name>");
                continue;
            }
            int32_t cat = fmt_strmap_get(&cats, o->name);
            if (cat < 0) {
                rc = fmt_rd_error(rd, ow, "'%s' is not in %s", o->name,
                                  have_list ? "labels.txt" : "the labels");
                continue;
            }
            bool missing = false;
            for (int c = 0; c < 4; c++)
                missing |= isnan(o->box[c]);
            if (missing) {
                rc = fmt_rd_error(rd, ow, "'%s' has no complete <bndbox> (xmin, ymin, xmax, ymax)",
                                  o->name);
                continue;
            }
            double x = o->box[0] - 1, y = o->box[1] - 1;
            double bw = o->box[2] - x, bh = o->box[3] - y;
            if (bw < 0 || bh < 0) {
                rc = fmt_rd_error(rd, ow, "'%s': xmax %g < xmin %g or ymax %g < ymin %g", o->name,
                                  o->box[2], o->box[0], o->box[3], o->box[1]);
                continue;
            }
            double W = vi->w, H = vi->h;
            double over = fmax(fmax(-x, -y), fmax(x + bw - W, y + bh - H));
            if (over > FMT_BOX_TOLERANCE) {
                rc = fmt_rd_error(rd, ow,
                                  "'%s': the box passes the border of the %dx%d image by %g px",
                                  o->name, vi->w, vi->h, over);
                continue;
            }
            if (over > 0) {
                fmt_rd_warn(rd, ow, "'%s': the box passes the border of the %dx%d image by %g "
                                    "px; clipped",
                            o->name, vi->w, vi->h, over);
                double x1 = fmin(x + bw, W), y1 = fmin(y + bh, H);
                x = fmax(x, 0);
                y = fmax(y, 0);
                bw = x1 - x;
                bh = y1 - y;
            }
            fmt_shape s;
            fmt_shape_init(&s);
            s.id = sid++;
            s.image_id = vi->id;
            s.category_id = cat;
            s.kind = FMT_BOX;
            s.bbox[0] = x;
            s.bbox[1] = y;
            s.bbox[2] = bw;
            s.bbox[3] = bh;
            s.has_bbox = true;
            attrs_json(o, &attrs);
            if (attrs.len > 2)
                s.attributes = sbuf_cstr(&attrs);
            rc = fmt_rd_shape(rd, &s);
        }
        fmt_voc_doc_free(&doc);
    }
    for (size_t i = 0; imgs && i < xmls.n; i++)
        free(imgs[i].file_name);
    free(imgs);
    fmt_list_free(&xmls);
    fmt_list_free(&names);
    fmt_strmap_free(&cats);
    fmt_strmap_free(&stems);
    sbuf_free(&attrs);
    return rd->failed ? -1 : 0;
}

/* --- writing ---------------------------------------------------------------------------- */

typedef struct voc_w {
    sbuf objs; /* <object> elements of the current image */
    char lastdir[PATH_MAX];
} voc_w;

static void xml_text(sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': sbuf_puts(b, "&amp;"); break;
        case '<': sbuf_puts(b, "&lt;"); break;
        case '>': sbuf_puts(b, "&gt;"); break;
        case '"': sbuf_puts(b, "&quot;"); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n')
                sbuf_putc(b, *s);
        }
    }
}

static int vw_open(fmt_writer *w, err *e)
{
    voc_w *v = calloc(1, sizeof *v);
    if (!v)
        return err_set(e, ERR_INTERNAL, "out of memory");
    w->impl = v;
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s/Annotations", w->dir);
    if (fmt_mkdir_p(d, e) < 0)
        return -1;
    return 0;
}

static int vw_category(fmt_writer *w, fmt_wcat *c, const fmt_category *in, err *e)
{
    c->out = w->ncats - 1;
    if (strchr(in->name, '\n'))
        return err_set(e, ERR_INVALID, "category name '%s' has a line break", in->name);
    return 0;
}

static int vw_image(fmt_writer *w, fmt_wimg *im, const fmt_image *in, err *e)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "JPEGImages/%s", im->file_name);
    im->target = fmt_writer_claim(w, tmp, im->id);
    return im->target ? 0 : err_set(e, ERR_INTERNAL, "out of memory");
}

static int vw_shape(fmt_writer *w, fmt_wimg *im, const fmt_wcat *c, const fmt_shape *s, err *e)
{
    voc_w *v = w->impl;
    double box[4];
    bool ok = false;
    switch (s->kind) {
    case FMT_CLASS:
        return err_set(e, ERR_UNSUPPORTED, "shape %lld: VOC has no image-level class labels",
                       (long long)s->id);
    case FMT_POLYLINE:
    case FMT_POINT:
        return err_set(e, ERR_UNSUPPORTED, "shape %lld: VOC holds boxes, not %s", (long long)s->id,
                       s->kind == FMT_POLYLINE ? "polylines" : "single points");
    default: break;
    }
    if (s->has_bbox) {
        memcpy(box, s->bbox, sizeof box);
        ok = true;
    } else if (s->npoints > 0) {
        ok = fmt_points_bbox(s->points, s->npoints, box);
    } else if (s->rle_counts || s->rle_string) {
        uint32_t *cnt = NULL;
        const uint32_t *cc = s->rle_counts;
        int n = s->nrle;
        if (s->rle_string) {
            n = fmt_rle_decode(s->rle_string, &cnt, e);
            if (n < 0)
                return err_prefix(e, "shape %lld: ", (long long)s->id);
            cc = cnt;
        }
        ok = fmt_rle_bbox(cc, n, s->rle_h, s->rle_w, box);
        free(cnt);
    } else if (s->nkp > 0) {
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
            ok = true;
        }
    }
    if (!ok)
        return err_set(e, ERR_INVALID, "shape %lld has no box", (long long)s->id);
    int difficult = 0, truncated = 0, occluded = -1;
    const char *pose = "Unspecified";
    json_t *attrs = NULL;
    if (s->attributes) {
        json_error_t je;
        attrs = json_loads(s->attributes, 0, &je);
        if (!json_is_object(attrs)) {
            json_decref(attrs);
            return err_set(e, ERR_INVALID, "shape %lld: attributes are not a JSON object",
                           (long long)s->id);
        }
        json_t *j;
        if ((j = json_object_get(attrs, "difficult")))
            difficult = json_is_true(j) || (json_is_integer(j) && json_integer_value(j) == 1);
        if ((j = json_object_get(attrs, "truncated")))
            truncated = json_is_true(j) || (json_is_integer(j) && json_integer_value(j) == 1);
        if ((j = json_object_get(attrs, "occluded")))
            occluded = json_is_true(j) || (json_is_integer(j) && json_integer_value(j) == 1);
        if ((j = json_object_get(attrs, "pose")) && json_is_string(j))
            pose = json_string_value(j);
    }
    sbuf *b = &v->objs;
    sbuf_puts(b, "\t<object>\n\t\t<name>");
    xml_text(b, c->name);
    sbuf_puts(b, "</name>\n\t\t<pose>");
    xml_text(b, pose);
    sbuf_printf(b, "</pose>\n\t\t<truncated>%d</truncated>\n\t\t<difficult>%d</difficult>\n",
                truncated, difficult);
    if (occluded >= 0)
        sbuf_printf(b, "\t\t<occluded>%d</occluded>\n", occluded);
    json_decref(attrs);
    sbuf_puts(b, "\t\t<bndbox>\n\t\t\t<xmin>");
    fmt_put_dbl(b, box[0] + 1);
    sbuf_puts(b, "</xmin>\n\t\t\t<ymin>");
    fmt_put_dbl(b, box[1] + 1);
    sbuf_puts(b, "</ymin>\n\t\t\t<xmax>");
    fmt_put_dbl(b, box[0] + box[2]);
    sbuf_puts(b, "</xmax>\n\t\t\t<ymax>");
    fmt_put_dbl(b, box[1] + box[3]);
    sbuf_puts(b, "</ymax>\n\t\t</bndbox>\n\t</object>\n");
    return sbuf_failed(b) ? err_set(e, ERR_INTERNAL, "out of memory") : 0;
}

static int write_xml(fmt_writer *w, fmt_wimg *im, err *e)
{
    voc_w *v = w->impl;
    const char *fname = im->target + 11; /* after "JPEGImages/" */
    char rel[PATH_MAX];
    char stem[PATH_MAX];
    fmt_replace_ext(fname, "", stem, sizeof stem);
    snprintf(rel, sizeof rel, "Annotations/%s.xml", stem);
    const char *sl = strrchr(rel, '/');
    size_t dl = (size_t)(sl - rel);
    if (strlen(v->lastdir) != dl || strncmp(v->lastdir, rel, dl) != 0) {
        if (fmt_mkdirs_for(w->dir, rel, e) < 0)
            return -1;
        snprintf(v->lastdir, sizeof v->lastdir, "%.*s", (int)dl, rel);
    }
    sbuf b = SBUF_INIT;
    sbuf_puts(&b, "<annotation>\n\t<folder>JPEGImages</folder>\n\t<filename>");
    xml_text(&b, fname);
    sbuf_printf(&b, "</filename>\n\t<size>\n\t\t<width>%d</width>\n\t\t<height>%d</height>\n"
                    "\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>\n",
                im->width, im->height);
    sbuf_put(&b, v->objs.p ? v->objs.p : "", v->objs.len);
    sbuf_puts(&b, "</annotation>\n");
    sbuf_reset(&v->objs);
    if (sbuf_failed(&b)) {
        sbuf_free(&b);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    char full[PATH_MAX * 2];
    snprintf(full, sizeof full, "%s/%s", w->dir, rel);
    int rc = fmt_write_file(full, b.p, b.len, e);
    sbuf_free(&b);
    return rc;
}

static int vw_image_done(fmt_writer *w, fmt_wimg *im, err *e) { return write_xml(w, im, e); }

static int vw_close(fmt_writer *w, err *e)
{
    for (size_t i = 0; i < w->nimgs; i++)
        if (w->imgs[i].state == 0 && write_xml(w, &w->imgs[i], e) < 0)
            return -1;
    /* labels.txt keeps the category order (VOC itself has none) */
    sbuf b = SBUF_INIT;
    for (int i = 0; i < w->ncats; i++) {
        sbuf_puts(&b, w->cats[i].name);
        sbuf_putc(&b, '\n');
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/labels.txt", w->dir);
    int rc = fmt_write_file(path, b.p ? b.p : "", b.len, e);
    sbuf_free(&b);
    if (rc < 0)
        return -1;
    /* ImageSets/Main/<split>.txt */
    const char *done[64];
    int ndone = 0;
    for (size_t i = 0; i < w->nimgs && rc == 0; i++) {
        const char *sp = fmt_writer_split(w, &w->imgs[i]);
        bool seen = false;
        for (int k = 0; k < ndone; k++)
            seen |= strcmp(done[k], sp) == 0;
        if (seen || ndone >= 64)
            continue;
        done[ndone++] = sp;
        sbuf l = SBUF_INIT;
        for (size_t j = i; j < w->nimgs; j++) {
            if (strcmp(fmt_writer_split(w, &w->imgs[j]), sp) != 0)
                continue;
            char stem[PATH_MAX];
            fmt_replace_ext(w->imgs[j].target + 11, "", stem, sizeof stem);
            sbuf_puts(&l, stem);
            sbuf_putc(&l, '\n');
        }
        snprintf(path, sizeof path, "%s/ImageSets/Main/%s.txt", w->dir, sp);
        rc = fmt_mkdirs_for(w->dir, path + strlen(w->dir) + 1, e);
        if (rc == 0)
            rc = fmt_write_file(path, l.p ? l.p : "", l.len, e);
        sbuf_free(&l);
    }
    return rc;
}

static void vw_free(fmt_writer *w)
{
    voc_w *v = w->impl;
    if (!v)
        return;
    sbuf_free(&v->objs);
    free(v);
    w->impl = NULL;
}

const fmt_writer_ops fmt_voc_writer_ops = {
    vw_open, vw_category, NULL, vw_image, NULL, vw_shape, vw_image_done, vw_close, vw_free, NULL,
};
