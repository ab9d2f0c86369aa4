/*
 * formats.h - annotation interchange formats (COCO, YOLO, Pascal VOC, image
 * folders, CSV): streaming readers and writers around one small model.
 * A library: no database, no HTTP. The datasets module imports and exports
 * through it; `cvops dataset validate` uses its reader alone.
 *
 * The model
 *   category  a label: id (as in the file), name, supercategory, and for
 *             keypoint labels the vertex names and skeleton edges
 *   image     id (as in the file), file name (relative path as written in
 *             the file), width, height (0 if the format does not say)
 *   shape     one annotation of one image: a kind and its geometry in pixel
 *             coordinates of the image (YOLO's normalised values are scaled
 *             by the reader and the writer), a category, optional score,
 *             iscrowd, attributes (a JSON object text, e.g. VOC's difficult /
 *             truncated / occluded), and the area when the file gives one
 *
 * Readers stream. They deliver all categories first, then all images, then
 * all shapes (making a second pass over a file when its order differs, as
 * COCO allows), so a consumer never buffers the annotations; memory stays
 * bounded by the largest single record plus small tables of ids (COCO:
 * image sizes and annotation ids, about 10 MB per million annotations).
 * Formats without ids number categories 0..K-1 and images and shapes 1..N
 * in reading order; polygons always come with ring_sizes. docs/formats.md
 * says what each reader accepts and each writer guarantees.
 *
 * Every problem is reported with its
 * location ("annotations[17].bbox: expected 4 numbers", "labels/a.txt:3:
 * class 7 is not in data.yaml's names") into a fmt_report; a reader stops
 * at the first error unless opts.keep_going, in which case it skips the bad
 * record, reports it, and goes on (the import's --skip-invalid).
 *
 * Writers take the same records in the same order (categories, images,
 * then shapes grouped by image) and stream them out to a directory or an
 * archive; COCO annotation ids are renumbered 1..N, category ids 1..K
 * contiguous unless opts.keep_category_ids.
 */
#ifndef CVOPS_FORMATS_FORMATS_H
#define CVOPS_FORMATS_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef enum fmt_format {
    FMT_COCO = 1,  /* one instances/keypoints JSON file */
    FMT_YOLO,      /* Ultralytics layout: data.yaml, images/, labels/ (detect, segment, pose),
                      or classification folders train/<class>/img */
    FMT_VOC,       /* one XML per image (Annotations/<name>.xml, or a folder of .xml) */
    FMT_FOLDER,    /* classification: one sub-folder per class */
    FMT_CSV,       /* classification: filename,label (header optional) */
} fmt_format;

const char *fmt_format_name(fmt_format f);
int fmt_format_parse(const char *s, fmt_format *out, err *e);

typedef enum fmt_shape_kind {
    FMT_CLASS = 1,   /* the image as a whole has this category */
    FMT_BOX,         /* bbox = x, y, w, h (top-left corner, pixels) */
    FMT_POLYGON,     /* points as x0,y0,x1,y1,... in one or more rings */
    FMT_POLYLINE,
    FMT_POINT,       /* one point: points[0..1] */
    FMT_KEYPOINTS,   /* kp = x,y,v per vertex of the category's skeleton */
    FMT_MASK_RLE,    /* COCO RLE: counts (uncompressed) or the compressed string */
} fmt_shape_kind;

typedef struct fmt_category {
    int64_t id;
    const char *name;
    const char *supercategory; /* NULL if none */
    const char *const *keypoints; /* vertex names, NULL if not a keypoint label */
    int nkeypoints;
    const int *skeleton;       /* pairs of 1-based vertex indexes (COCO convention) */
    int nskeleton;             /* number of pairs */
} fmt_category;

typedef struct fmt_image {
    int64_t id;
    const char *file_name;
    int width, height;
    /* Added: where the image file is, relative to the input root, when the
     * layout says so and the file exists (YOLO, FOLDER, VOC JPEGImages/, CSV
     * next to the CSV file); NULL otherwise (COCO: the caller looks it up).
     * Readers set it; writers ignore it. */
    const char *path;
    /* Added: the split the image belongs to ("train", "val", "test") when the
     * layout says (YOLO data.yaml, VOC ImageSets/Main/<split>.txt); NULL
     * otherwise. Writers that have splits (YOLO, VOC) put the image there;
     * NULL means opts.split, or "train". */
    const char *split;
} fmt_image;

typedef struct fmt_shape {
    int64_t id;          /* as in the file (0 if the format has none) */
    int64_t image_id;
    int64_t category_id;
    fmt_shape_kind kind;
    double bbox[4];      /* BOX; for other kinds the enclosing box when known */
    bool has_bbox;
    const double *points; /* POLYGON/POLYLINE/POINT: x,y pairs */
    int npoints;          /* number of points (pairs) */
    const int *ring_sizes;/* POLYGON: points per ring; NULL = one ring */
    int nrings;
    const double *kp;     /* KEYPOINTS: x,y,v triplets */
    int nkp;              /* number of triplets */
    const uint32_t *rle_counts; /* MASK_RLE uncompressed counts, or */
    int nrle;
    const char *rle_string;     /* the COCO compressed form */
    int rle_h, rle_w;
    double area;          /* as given; NaN when absent */
    double score;         /* NaN when absent */
    bool iscrowd;
    const char *attributes; /* JSON object text or NULL */
} fmt_shape;

/* --- problems ---------------------------------------------------------------- */

typedef struct fmt_problem {
    char where[160];  /* "annotations[17].bbox", "labels/a.txt:3", "Annotations/x.xml" */
    char message[300];
    bool warning;     /* added: the record was delivered anyway (e.g. a bbox 0.3 px past
                         the image border, clipped); not counted in total */
} fmt_problem;

typedef struct fmt_report {
    fmt_problem *items; /* owned; errors and warnings in the order found */
    int n, cap;
    int max;            /* keep at most this many (0: 1000); count the rest */
    int64_t total;      /* every error, kept or not (warnings are not errors) */
    int64_t warnings;   /* added: every warning, kept or not */
    int64_t categories, images, shapes; /* records delivered */
    double consumer_cpu_s; /* added: CPU time of the thread that ran the callbacks when they
                              ran on a thread of their own (fmt_read_opts.pipeline) */
} fmt_report;

void fmt_report_add(fmt_report *r, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Added: a warning (the record was delivered, possibly adjusted). */
void fmt_report_warn(fmt_report *r, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Frees the items and resets the counts (keeps max): the report can be reused. */
void fmt_report_free(fmt_report *r);

/* --- reading ------------------------------------------------------------------ */

typedef struct fmt_read_cb {
    void *ctx;
    /* Each returns 0, or -1 with e set to stop reading (the consumer's own
     * errors, e.g. an image that is not in the datalake, go through here). */
    int (*category)(void *ctx, const fmt_category *c, err *e);
    int (*image)(void *ctx, const fmt_image *im, err *e);
    int (*shape)(void *ctx, const fmt_shape *s, err *e);
} fmt_read_cb;

typedef struct fmt_read_opts {
    bool keep_going;   /* skip invalid records (reported) instead of stopping */
    const char *split; /* YOLO: which split of data.yaml (train/val/test); NULL = all */
    int64_t max_bytes; /* refuse inputs larger than this (0: 8 GiB) */
    /* Added: COCO: the callbacks run on a thread of their own while the file
     * is read further (src/formats/pipe.c). Same calls in the same order,
     * never two at once, but not on the calling thread: set it only for
     * callbacks that may run on another thread. */
    bool pipeline;
} fmt_read_opts;

/* path: a file (COCO JSON, CSV) or a directory (YOLO, VOC, FOLDER). Returns
 * 0, or -1 with e set (the first problem when !keep_going; a consumer's
 * error; an unreadable input). Problems go to rep either way. */
int fmt_read(fmt_format f, const char *path, const fmt_read_opts *opts, const fmt_read_cb *cb,
             fmt_report *rep, err *e);
/* Added: the same for a COCO document already in memory (fuzzing, API bodies).
 * Only FMT_COCO; other formats are directories. data is borrowed. */
int fmt_read_mem(fmt_format f, const void *data, size_t n, const fmt_read_opts *opts,
                 const fmt_read_cb *cb, fmt_report *rep, err *e);

/* --- writing ------------------------------------------------------------------- */

typedef struct fmt_writer fmt_writer;

typedef struct fmt_write_opts {
    bool keep_category_ids; /* COCO: keep the given ids instead of 1..K */
    const char *split;      /* YOLO, VOC: split of images whose own split is NULL ("train") */
    bool classify;          /* added: YOLO: the classification layout <split>/<class>/<image>
                               instead of data.yaml + images/ + labels/ */
    /* COCO: the JSON goes to sink (in pieces of about 1 MiB, in order)
     * instead of OUT/annotations.json; a non-zero return stops the writer
     * with that error. The caller streams an export into its store without
     * a temporary copy. */
    int (*sink)(void *ctx, const void *p, size_t n, err *e);
    void *sink_ctx;
} fmt_write_opts;

/* out_dir: a directory that will hold the export (created). Images are not
 * written by the writer; the caller copies them (fmt_writer_image_path()
 * says where, relative to out_dir, when the layout fixes it). */
fmt_writer *fmt_writer_open(fmt_format f, const char *out_dir, const fmt_write_opts *opts, err *e);
int fmt_write_category(fmt_writer *w, const fmt_category *c, err *e);
int fmt_write_image(fmt_writer *w, const fmt_image *im, err *e);
/* Shapes must come grouped by image, after that image was written. */
int fmt_write_shape(fmt_writer *w, const fmt_shape *s, err *e);
/* Where the image file goes in this layout ("images/train/a.jpg"), relative
 * to out_dir; NULL when the image is not part of the export (a class layout
 * and the image has no class). Layouts where the class decides the folder
 * (FOLDER, YOLO classify) know it once the image's shapes were written: call
 * it after them (any time before close). The pointer is valid until the next
 * call. Two images that would land on the same path get "-<id>" appended to
 * the second's stem, and the annotations say so. */
const char *fmt_writer_image_path(fmt_writer *w, const fmt_image *im);
int fmt_writer_close(fmt_writer *w, err *e); /* finishes files; frees w */
void fmt_writer_abort(fmt_writer *w);       /* frees w, leaves a partial out_dir */

/* --- geometry (added; used by the writers, useful to callers) ------------------ */

/* Sum of |shoelace area| of each ring (COCO rings are parts, not holes). */
double fmt_polygon_area(const double *xy, int npoints, const int *ring_sizes, int nrings);
/* Enclosing box x,y,w,h of the points; false if there are none. */
bool fmt_points_bbox(const double *xy, int npoints, double box[4]);
/* Decodes the compressed COCO RLE string into counts (malloc'ed, *out).
 * Returns the number of counts, or -1 with e set (bad character, overflow). */
int fmt_rle_decode(const char *s, uint32_t **out, err *e);
/* Encodes counts into the compressed string (malloc'ed). */
char *fmt_rle_encode(const uint32_t *counts, int n);
/* Foreground pixels of an RLE (odd runs), and its enclosing box (pycocotools'
 * rleToBbox). h is the mask height (runs are column-major). */
uint64_t fmt_rle_area(const uint32_t *counts, int n);
bool fmt_rle_bbox(const uint32_t *counts, int n, int h, int w, double box[4]);

#endif
