/*
 * internal.h - what the format readers and writers share: the reading
 * context (problems, keep_going, consumer callbacks), numbers that read and
 * print exactly, small hash tables, paths and directory walks, the writer
 * vtable. Not part of the module's contract; the fuzz targets include it to
 * reach the YOLO and VOC parsers directly.
 */
#ifndef CVOPS_FORMATS_INTERNAL_H
#define CVOPS_FORMATS_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "formats/formats.h"

/* --- limits (named, so a message can quote them) ------------------------------- */

#define FMT_MAX_DEPTH 32             /* JSON / XML nesting */
#define FMT_MAX_STRING (16u << 20)   /* one JSON string (an RLE string can be long) */
#define FMT_MAX_NAME 4096            /* a file name, a category name */
#define FMT_MAX_POINTS 4000000       /* points of one polygon annotation */
#define FMT_MAX_KEYPOINTS 10000      /* vertices of one keypoint label */
#define FMT_MAX_RLE 100000000        /* runs of one RLE */
#define FMT_MAX_DIM 1000000          /* image width or height */
#define FMT_MAX_ATTRS (64u << 10)    /* attributes JSON text of one shape */
#define FMT_MAX_TEXT_FILE (64u << 20) /* a YOLO label file, data.yaml, a VOC XML */
#define FMT_MAX_LINE (1u << 20)      /* one line of a label or CSV file */
#define FMT_BOX_TOLERANCE 1.0        /* px a box may pass the border and be clipped */

/* --- reading context ----------------------------------------------------------- */

typedef struct fmt_rd {
    const fmt_read_opts *opts;
    const fmt_read_cb *cb;
    fmt_report *rep;
    err *e;
    bool failed; /* an error that stops the read was recorded in e */
    /* while a pipe is open (pipe.c), only its consumer thread touches rep, e
     * and failed; the reader knows it must stop from fmt_rd_stopped() */
    struct fmt_pipe *pipe;
    bool pipe_failed; /* the reader stopped on its own error while piping */
} fmt_rd;

typedef struct fmt_pipe fmt_pipe;
/* Opens a pipe (the callbacks on a thread of its own); -1: none could be
 * started, the read goes on without. */
int fmt_pipe_begin(fmt_rd *rd);
/* Waits until the consumer ran everything sent; rd is coherent again. */
void fmt_pipe_end(fmt_rd *rd);
bool fmt_pipe_stopped(const fmt_rd *rd);
bool fmt_pipe_report_full(const fmt_rd *rd);
/* Batch size and count (0: the defaults, 256 KB and 64), for the tests. */
void fmt_pipe_tune(size_t batch_bytes, int max_batches);
int fmt_pipe_shape(fmt_rd *rd, const fmt_shape *s);
int fmt_pipe_category(fmt_rd *rd, const fmt_category *c);
int fmt_pipe_image(fmt_rd *rd, const fmt_image *im);
int fmt_pipe_error(fmt_rd *rd, err_code code, bool fatal, const char *where, const char *fmt,
                   va_list ap);
/* The direct deliveries, which the pipe's consumer thread runs too. */
int fmt_rd_category_now(fmt_rd *rd, const fmt_category *c);
int fmt_rd_image_now(fmt_rd *rd, const fmt_image *im);
int fmt_rd_shape_now(fmt_rd *rd, const fmt_shape *s);
int fmt_rd_error_now(fmt_rd *rd, err_code code, bool fatal, const char *where, const char *msg);
void fmt_pipe_warn(fmt_rd *rd, const char *where, const char *fmt, va_list ap);
/* Whether a problem reported now would be kept in the report (not only
 * counted): callers skip formatting a location nobody will read. */
static inline bool fmt_rd_keeps(const fmt_rd *rd)
{
    if (rd->pipe)
        return !fmt_pipe_report_full(rd);
    return rd->rep->n < (rd->rep->max > 0 ? rd->rep->max : 1000);
}
/* Whether the read must stop: a stopping error or a refusing consumer. */
static inline bool fmt_rd_stopped(const fmt_rd *rd)
{
    return rd->pipe ? fmt_pipe_stopped(rd) : rd->failed;
}

/* Records an error at `where`. Returns 0 when reading may go on (keep_going),
 * -1 otherwise with rd->e set to "where: message". */
int fmt_rd_error(fmt_rd *rd, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void fmt_rd_warn(fmt_rd *rd, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A fatal problem: reported, e set, -1 whatever keep_going says (the input
 * cannot be read further: truncated JSON, unreadable directory). */
int fmt_rd_fatal(fmt_rd *rd, err_code code, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Delivery to the consumer; counts the record. -1 if the consumer refused. */
int fmt_rd_category(fmt_rd *rd, const fmt_category *c);
int fmt_rd_image(fmt_rd *rd, const fmt_image *im);
int fmt_rd_shape(fmt_rd *rd, const fmt_shape *s);
void fmt_shape_init(fmt_shape *s); /* zeroes; area and score NaN */

int fmt_coco_read(fmt_rd *rd, const char *path, const void *mem, size_t memlen);
int fmt_yolo_read(fmt_rd *rd, const char *path);
int fmt_voc_read(fmt_rd *rd, const char *path);
int fmt_folder_read(fmt_rd *rd, const char *path);
int fmt_csv_read(fmt_rd *rd, const char *path);

/* --- numbers ------------------------------------------------------------------- */

/* Parses a whole decimal number [+-]?(d+(.d*)?|.d+)([eE][+-]?d+)? of n bytes,
 * correctly rounded (the result is what strtod gives). Returns 0, or -1 when
 * the text is not such a number (hex, inf, nan, junk). Huge exponents give
 * +-inf: callers check isfinite. */
int fmt_parse_dbl(const char *s, size_t n, double *out);
/* A whole number within int64 (an integral double like 12.0 counts). */
int fmt_parse_i64(const char *s, size_t n, int64_t *out);
/* Shortest text of v that reads back to exactly v (fast paths for the
 * values annotation files hold; v must be finite). Returns the length. */
int fmt_dbl_str(double v, char out[40]);
void fmt_put_dbl(sbuf *b, double v);
void fmt_put_dbls(sbuf *b, const double *v, size_t n); /* comma-separated */

/* --- hash tables ------------------------------------------------------------------ */

/* int64 -> int32 (open addressing; any int64 may be a key). Small
 * non-negative keys (ids 1..N, the usual case) go to a direct array instead,
 * which a file's ascending ids walk without a cache miss. */
typedef struct fmt_i64map {
    int64_t *keys;
    int32_t *vals; /* -1: empty slot */
    size_t cap, n;
    int32_t *dense; /* dense[k] for 0 <= k < ndense; -1 absent */
    size_t ndense, count;
} fmt_i64map;
/* Inserts k -> v. Returns 1 if k was already there (its value untouched,
 * *old set), 0 when inserted, -1 out of memory. */
int fmt_i64map_put(fmt_i64map *m, int64_t k, int32_t v, int32_t *old);
int32_t fmt_i64map_get(const fmt_i64map *m, int64_t k); /* -1 if absent */
void fmt_i64map_free(fmt_i64map *m);

/* string -> int32; keys are copied into the map's arena. */
typedef struct fmt_strmap {
    const char **keys;
    int32_t *vals;
    size_t cap, n;
    arena *a;
} fmt_strmap;
int fmt_strmap_put(fmt_strmap *m, const char *k, int32_t v, int32_t *old);
int32_t fmt_strmap_get(const fmt_strmap *m, const char *k);
void fmt_strmap_free(fmt_strmap *m);

/* --- paths and files ------------------------------------------------------------- */

/* A relative path that stays inside its root: not empty, not absolute, no
 * "." / ".." / empty component, no backslash or control byte. */
bool fmt_relpath_ok(const char *p);
/* mkdir -p of the directory part of root/rel (rel's last component is a file). */
int fmt_mkdirs_for(const char *root, const char *rel, err *e);
int fmt_mkdir_p(const char *dir, err *e);
/* Reads a whole (small) file, NUL-terminated; refuses more than max bytes. */
char *fmt_slurp(const char *path, size_t max, size_t *len, err *e);
bool fmt_is_dir(const char *path);
bool fmt_is_file(const char *path);

/* Files under root/rel (recursive, sorted by byte order, symbolic links not
 * followed), as paths relative to root/rel. ext_ok filters by name. */
typedef struct fmt_list {
    char **items;
    size_t n, cap;
} fmt_list;
typedef bool (*fmt_name_filter)(const char *name);
int fmt_list_files(const char *dir, bool recursive, fmt_name_filter ok, fmt_list *out, err *e);
/* Immediate sub-directories of dir, sorted. */
int fmt_list_dirs(const char *dir, fmt_list *out, err *e);
void fmt_list_free(fmt_list *l);
bool fmt_is_image_name(const char *name); /* by extension: jpg jpeg png bmp webp tif tiff */
/* Width and height from the image file's headers (image_probe). */
int fmt_image_size(const char *path, int *w, int *h, err *e);
const char *fmt_basename(const char *p);
/* "a/b.jpg" -> "a/b" + newext (".txt"); into out. */
void fmt_replace_ext(const char *p, const char *newext, char *out, size_t n);

/* --- YOLO pieces exposed for the fuzz targets ------------------------------------- */

/* data.yaml: the subset Ultralytics files use (block and flow mappings and
 * lists, plain and quoted scalars, block scalars, comments). Anchors,
 * aliases and tags are refused. Nodes live in the document's arena. */
typedef enum { FMT_YAML_SCALAR, FMT_YAML_SEQ, FMT_YAML_MAP } fmt_yaml_kind;
typedef struct fmt_ynode {
    fmt_yaml_kind kind;
    const char *s;  /* SCALAR: the text */
    bool quoted;
    int line;       /* 1-based */
    struct fmt_ynode **items; /* SEQ items, MAP values */
    const char **keys;        /* MAP keys */
    int n;
} fmt_ynode;
typedef struct fmt_yaml {
    arena *a;
    fmt_ynode *root; /* NULL for an empty document */
} fmt_yaml;
fmt_yaml *fmt_yaml_parse(const char *text, size_t n, err *e);
void fmt_yaml_free(fmt_yaml *y);
const fmt_ynode *fmt_ynode_get(const fmt_ynode *map, const char *key);

typedef struct fmt_yolo_cfg {
    int nc;
    const char **names; /* nc names */
    int kpt_n, kpt_dim; /* kpt_shape, 0 when not a pose dataset */
    const char **kpt_names; /* kpt_n or NULL (cvops extension) */
    int *skeleton;      /* pairs, 1-based (cvops extension) */
    int nskeleton;
    const char *path;   /* "path", NULL if none */
    const char **split_dirs[3]; /* train, val, test entries as written */
    int nsplit_dirs[3];
    fmt_yaml *doc;
} fmt_yolo_cfg;
/* Parses data.yaml text into cfg. Problems go to e with "data.yaml:LINE: ". */
int fmt_yolo_cfg_parse(const char *text, size_t n, fmt_yolo_cfg *cfg, err *e);
void fmt_yolo_cfg_free(fmt_yolo_cfg *cfg);

/* Class folders: root/<class>/<image> (FOLDER), or root/<split>/<class>/<image>
 * for each split named (YOLO classify). Categories are the class folder
 * names in byte order, ids 0..K-1. */
int fmt_class_tree_read(fmt_rd *rd, const char *root, const char *const *splits, int nsplits);

/* One label line, normalised values as written. kind is BOX, POLYGON or
 * KEYPOINTS (kpt_n > 0). vals: 4 (box), 2k (polygon), 4 + kpt_n*kpt_dim. */
typedef struct fmt_yolo_line {
    int cls;
    fmt_shape_kind kind;
    double *vals;
    int nvals, cap;
} fmt_yolo_line;
/* Returns 1 with a shape, 0 for a blank/comment line, -1 with e set. */
int fmt_yolo_parse_line(const char *line, size_t n, int nc, int kpt_n, int kpt_dim,
                        fmt_yolo_line *out, err *e);

/* --- VOC pieces exposed for the fuzz target --------------------------------------- */

typedef struct fmt_voc_obj {
    char *name;
    double box[4];  /* xmin ymin xmax ymax as written */
    int difficult, truncated, occluded; /* -1 absent */
    char *pose;
} fmt_voc_obj;

typedef struct fmt_voc_doc {
    char *filename;
    int width, height, depth;
    fmt_voc_obj *objs;
    int nobjs, cap;
    arena *a;
} fmt_voc_doc;
/* Parses one VOC XML document (expat). Problems go to e ("line 12: ..."). */
int fmt_voc_parse(const char *xml, size_t n, fmt_voc_doc *doc, err *e);
void fmt_voc_doc_free(fmt_voc_doc *doc);

/* --- writers -------------------------------------------------------------------- */

/* What the shared writer code (formats.c) keeps per category and image. */
typedef struct fmt_wcat {
    int64_t id;   /* as given */
    int64_t out;  /* as written (COCO: 1..K or id; YOLO: 0..K-1) */
    const char *name;
    int nkeypoints;
} fmt_wcat;

typedef struct fmt_wimg {
    int64_t id;
    const char *file_name;
    const char *split;
    const char *target; /* relative path of the image in the export, or NULL */
    int width, height;
    int32_t cls;        /* class layouts: index of the category, -1 none, -2 several */
    uint8_t state;      /* 0 no shapes yet, 1 shapes being written, 2 done */
} fmt_wimg;

typedef struct fmt_writer_ops {
    int (*open)(fmt_writer *w, err *e);
    int (*category)(fmt_writer *w, fmt_wcat *c, const fmt_category *in, err *e);
    int (*images_begin)(fmt_writer *w, err *e); /* after the last category */
    int (*image)(fmt_writer *w, fmt_wimg *im, const fmt_image *in, err *e);
    int (*shapes_begin)(fmt_writer *w, err *e); /* after the last image */
    int (*shape)(fmt_writer *w, fmt_wimg *im, const fmt_wcat *c, const fmt_shape *s, err *e);
    int (*image_done)(fmt_writer *w, fmt_wimg *im, err *e); /* end of its shapes */
    int (*close)(fmt_writer *w, err *e);
    void (*free)(fmt_writer *w);
    /* Target path for an image (computed at image time, or NULL to decide later). */
    const char *(*target)(fmt_writer *w, fmt_wimg *im);
} fmt_writer_ops;

struct fmt_writer {
    fmt_format format;
    const fmt_writer_ops *ops;
    fmt_write_opts opts;
    char *dir;
    arena *a;
    int stage; /* 0 categories, 1 images, 2 shapes */
    fmt_wcat *cats;
    int ncats, capcats;
    fmt_i64map cat_ix;
    fmt_wimg *imgs;
    size_t nimgs, capimgs;
    fmt_i64map img_ix;
    fmt_strmap targets; /* target paths in use */
    int32_t cur;        /* image whose shapes are being written, -1 none */
    char pathbuf[4096];
    void *impl;
};

extern const fmt_writer_ops fmt_coco_writer_ops;
extern const fmt_writer_ops fmt_yolo_writer_ops;
extern const fmt_writer_ops fmt_voc_writer_ops;
extern const fmt_writer_ops fmt_folder_writer_ops;
extern const fmt_writer_ops fmt_csv_writer_ops;

/* Reserves a unique target path for an image ("images/train/a.jpg"; a
 * second image on the same path becomes "images/train/a-<id>.jpg"). The
 * returned string lives in w's arena. */
const char *fmt_writer_claim(fmt_writer *w, const char *path, int64_t id);
/* The image's split (its own, opts.split, or "train"). */
const char *fmt_writer_split(fmt_writer *w, const fmt_wimg *im);
bool fmt_split_name_ok(const char *s);

/* A file written through a buffer. */
typedef struct fmt_out {
    int fd;
    sbuf b;
    const char *path; /* for messages */
    int (*sink)(void *ctx, const void *p, size_t n, err *e); /* instead of fd, when set */
    void *sink_ctx;
} fmt_out;
int fmt_out_open(fmt_out *o, const char *path, err *e);
int fmt_out_flush(fmt_out *o, bool force, err *e); /* writes when the buffer is large */
int fmt_out_close(fmt_out *o, err *e);
void fmt_out_abort(fmt_out *o);

/* Writes a whole small file. */
int fmt_write_file(const char *path, const char *data, size_t n, err *e);

#endif
