/*
 * internal.h - what the files of src/processing/ share: definitions and
 * their manifests, runs, the command executor, the line protocol, the
 * geometry and pixel helpers of the image built-ins, and the builder that
 * writes a new dataset version. Not for use outside src/processing/.
 */
#ifndef CVOPS_PROCESSING_INTERNAL_H
#define CVOPS_PROCESSING_INTERNAL_H

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/types.h>

#include "image/image.h"
#include "processing/processing.h"

/* --- definitions ------------------------------------------------------------------- */

typedef struct proc_resources {
    int threads;        /* worker threads the processing may use */
    int64_t memory_mb;  /* address-space limit of a command (0: none) */
    int64_t timeout_s;  /* wall clock */
    int64_t output_mb;  /* bytes of outputs a command may register */
    int kill_grace_s;   /* between SIGTERM and SIGKILL */
} proc_resources;

typedef struct proc_run_ctx proc_run_ctx;
typedef int (*proc_builtin_fn)(proc_run_ctx *x, err *e);

/* A built-in: its manifest (JSON text) and its implementation. */
typedef struct proc_builtin {
    const char *name;
    const char *manifest;
    proc_builtin_fn run;
} proc_builtin;

extern const proc_builtin proc_builtins[]; /* NULL-name ended */
const proc_builtin *proc_builtin_find(const char *name);

/* A parsed definition. Owns doc; the other pointers point into it. */
typedef struct proc_def {
    json_t *doc;           /* the manifest, normalised */
    const char *name, *description, *target;
    int64_t version;       /* 0 for built-ins */
    const proc_builtin *builtin;
    json_t *params;        /* array of parameter definitions */
    proc_resources res;
    char requires[JOBS_REQUIRES_MAX + 1];
} proc_def;

/* Checks a manifest (custom: command required; built-in: none) and fills
 * def with defaults applied; takes a reference to doc. */
int proc_manifest_parse(json_t *doc, bool builtin, proc_def *def, err *e);
void proc_def_free(proc_def *def);
/* The built-in or the latest (version 0) / given version of a custom one. */
int proc_def_load(db_conn *c, int64_t org, const char *name, int64_t version, proc_def *def,
                  err *e);
/* Checks params against the definitions, fills defaults; *out is a new object.
 * Text values (CLI, forms) are converted to numbers and booleans. */
int proc_params_check(json_t *defs, json_t *given, json_t **out, err *e);
/* Applies overrides {"threads", "memory_mb", "timeout_s", "output_mb",
 * "kill_grace_s"} within bounds. */
int proc_resources_parse(json_t *obj, proc_resources *r, err *e);
json_t *proc_resources_json(const proc_resources *r);
bool proc_target_valid(const char *t);
/* Whether the definition runs on that kind of target. */
bool proc_def_accepts(const proc_def *d, const char *kind);

/* --- runs --------------------------------------------------------------------------- */

/* A run as the worker sees it. */
typedef struct proc_run {
    int64_t job, org, user;
    char name[PROC_NAME_MAX + 1];
    int64_t version;
    bool builtin;
    char target_kind[24];
    int64_t target_id;
    json_t *input;    /* the CVOPS_INPUT document */
    json_t *params;
    json_t *manifest; /* custom: the definition at launch */
    proc_resources res;
    char query[4096];
} proc_run;

int proc_run_load(db_conn *c, int64_t job, proc_run *r, err *e);
void proc_run_free(proc_run *r);

/* Builds the input document of a target (and checks it exists in org). */
int proc_target_input(db_conn *c, int64_t org, const char *kind, int64_t id, json_t **input,
                      err *e);
/* Captures what a module's JSON writer writes, as a jansson value. */
typedef int (*proc_writer_fn)(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
json_t *proc_json_of(db_conn *c, proc_writer_fn fn, int64_t org, int64_t id, err *e);

/* datalake items as JSON (the prepared upload kept until commit). */
struct datalake_item;
json_t *proc_item_to_json(const struct datalake_item *it);
int proc_item_from_json(json_t *j, struct datalake_item *it, err *e);

/* Staged outputs of a custom run: drop (failure, new attempt) or apply in
 * one transaction (success); *result gets the list of what was written. */
int proc_staged_drop(db_conn *c, int64_t job, err *e);
int proc_staged_commit(db_conn *c, const proc_env *env, const proc_run *run, json_t **result,
                       err *e);
/* Counts bytes against the run's limit; ERR_TOO_LARGE (and the run marked)
 * past it. */
int proc_output_count(db_conn *c, int64_t job, int64_t bytes, err *e);
bool proc_output_was_refused(db_conn *c, int64_t job);

/* --- the context of a running processing ---------------------------------------------- */

struct proc_run_ctx {
    job_ctx *job;
    const proc_env *env;
    proc_run run;
    proc_def def;
    int64_t deadline_ns;  /* monotonic; 0: none */
    json_t *result;       /* the job's result, built up */
};

/* True when the job must stop: canceled, shutting down, or past its timeout
 * (e says which). */
bool proc_should_stop(proc_run_ctx *x, err *e);

/* --- executing a command (exec.c) ----------------------------------------------------- */

typedef struct proc_exec_opts {
    char *const *argv;     /* argv[0] is looked up in PATH */
    char *const *envp;     /* the whole environment of the command */
    const char *workdir;
    int64_t memory_bytes;  /* RLIMIT_AS; 0: none */
    int64_t timeout_ms;    /* wall clock; 0: none */
    int kill_grace_ms;     /* SIGTERM, then SIGKILL after this (default 5000) */
    int tick_ms;           /* how often tick/should_stop are called (default 200) */
} proc_exec_opts;

typedef struct proc_exec_cb {
    void *ctx;
    /* One line of output (no newline; long lines are cut into pieces of
     * JOB_LOG_LINE_MAX bytes). */
    void (*line)(void *ctx, bool from_stdout, const char *line, size_t n);
    /* Polled every tick: true ends the command (SIGTERM, grace, SIGKILL). */
    bool (*should_stop)(void *ctx);
    void (*tick)(void *ctx);
} proc_exec_cb;

typedef struct proc_exec_result {
    int exit_code;        /* when exited */
    int signal;           /* when killed by a signal, else 0 */
    bool timed_out;       /* the wall-clock limit ended it */
    bool stopped;         /* should_stop ended it */
    bool killed;          /* SIGKILL was needed after the grace */
    int64_t duration_ms;
    int64_t max_rss_kb;
    pid_t pid;            /* the process group */
} proc_exec_result;

/* Runs a command to its end in its own process group, under the limits,
 * feeding its stdout/stderr lines to cb. Returns -1 only when the command
 * could not be started (e says why); a command that fails is res. When it
 * returns, nothing of the group is left running. */
int proc_exec(const proc_exec_opts *o, const proc_exec_cb *cb, proc_exec_result *res, err *e);

/* --- the line protocol (protocol.c) ----------------------------------------------------- */

typedef enum {
    PROTO_TEXT,     /* a plain line: goes to the log as is */
    PROTO_LOG,      /* ::log TEXT */
    PROTO_PROGRESS, /* ::progress FRACTION|PERCENT% [MESSAGE] */
    PROTO_OUTPUT,   /* ::output {json} | ::output data PATH [TAG...] */
    PROTO_RESULT,   /* ::result {json} */
    PROTO_BAD,      /* a ::command that could not be read: error says why */
} proto_kind;

typedef struct proto_msg {
    proto_kind kind;
    const char *text; /* TEXT/LOG: the text; PROGRESS: the message; BAD: the error */
    double progress;
    json_t *doc;      /* OUTPUT/RESULT (owned) */
    char error[160];
} proto_msg;

/* line: NUL-terminated. text may point into line. */
void proto_parse(const char *line, proto_msg *m);
void proto_msg_free(proto_msg *m);

/* --- geometry of shapes (shapemap.c) ---------------------------------------------------------- */

/* An affine map: x' = a*x + b*y + c, y' = d*x + e*y + f. */
typedef struct geom_affine {
    double a, b, c, d, e, f;
} geom_affine;

geom_affine geom_identity(void);
geom_affine geom_mul(geom_affine outer, geom_affine inner); /* outer(inner(p)) */
geom_affine geom_translate(double tx, double ty);
geom_affine geom_scale(double sx, double sy);
geom_affine geom_rotate_about(double degrees, double cx, double cy);
int geom_invert(geom_affine m, geom_affine *out);
void geom_apply(geom_affine m, double x, double y, double *ox, double *oy);

typedef struct geom_stats {
    int64_t kept, dropped, masks_dropped;
} geom_stats;

/* Maps a shape (as listed by the API: kind, label, box | rings | points |
 * point | keypoints, score, text, attributes) through m into an image of
 * w x h, clipping to it. Returns a new shape document, or NULL when too
 * little of it is left (less than min_visibility of its area for boxes and
 * polygons; outside for points) or it cannot be mapped (masks). */
json_t *geom_shape_map(json_t *shape, geom_affine m, double w, double h, double min_visibility,
                       geom_stats *st);
/* Polygon clipping to [0,w]x[0,h] (Sutherland-Hodgman). pts: n x,y pairs;
 * out needs room for 2n + 8 points. Returns the points kept. */
int geom_clip_polygon(const double *pts, int n, double w, double h, double *out);
double geom_polygon_area(const double *pts, int n);

/* --- pixels (imgops.c) --------------------------------------------------------------------- */

/* All on 8-bit RGB image_pixels (channels 3). out is allocated. */
int pix_alloc(image_pixels *p, uint32_t w, uint32_t h, err *e);
/* Bilinear sampling: out(x, y) = src(inv(x, y)); outside is fill. */
int pix_warp(const image_pixels *src, geom_affine inv, uint32_t w, uint32_t h,
            const uint8_t fill[3], image_pixels *out, err *e);
int pix_crop(const image_pixels *src, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
            image_pixels *out, err *e);
/* Area-average when shrinking, bilinear when growing. */
int pix_resize(const image_pixels *src, uint32_t w, uint32_t h, image_pixels *out, err *e);
/* brightness, contrast, saturation: factors (1 = unchanged). */
void pix_color(image_pixels *p, double brightness, double contrast, double saturation);
void pix_noise(image_pixels *p, double sigma, uint64_t *rng);
int pix_blur(image_pixels *p, double sigma, err *e);
/* Encodes as "jpeg", "png" or "webp". *out is malloc'd. */
int pix_encode(const image_pixels *p, const char *format, int quality, uint8_t **out, size_t *len,
              err *e);

/* Seeded random numbers (xorshift64*). */
uint64_t proc_rand(uint64_t *s);
double proc_uniform(uint64_t *s); /* [0, 1) */
double proc_gauss(uint64_t *s);

/* --- writing a new dataset version (vbuild.c) ------------------------------------------------ */

typedef struct vbuild vbuild;

typedef struct vbuild_src {
    int64_t version, dataset, lake;
    char name[160];   /* "dataset/version" */
    char vname[130];  /* the version's own name */
    char task[16];
} vbuild_src;

/* Reads what the builders need of a version of org. */
int vbuild_source(db_conn *c, int64_t org, int64_t version, vbuild_src *s, err *e);

vbuild *vbuild_new(proc_run_ctx *x, const vbuild_src *src, err *e);
void vbuild_free(vbuild *b);
/* A new image (encoded bytes): prepared and stored now (not yet visible),
 * inserted into the datalake with its asset and annotation at commit.
 * shapes: an array (borrowed), or NULL for no annotation; status NULL:
 * "accepted". */
int vbuild_add_image(vbuild *b, const uint8_t *bytes, size_t n, const char *filename, json_t *meta,
                     json_t *shapes, const char *status, err *e);
/* An existing item of the datalake, with (new) shapes. */
int vbuild_add_existing(vbuild *b, int64_t data_id, json_t *shapes, const char *status, err *e);
int64_t vbuild_count(const vbuild *b);

typedef struct vbuild_commit_opts {
    const char *name, *description;
    bool fork;        /* start from the source version's assets (those matching query), with
                         their labels, annotations and tags; else empty with its labels */
    const char *query;
    json_t *remove_data; /* with fork: data ids whose assets are left out (may be NULL) */
} vbuild_commit_opts;

/* One transaction: the new version, the new datalake items, assets and
 * annotations. */
int vbuild_commit(vbuild *b, const vbuild_commit_opts *o, int64_t *new_version, err *e);

/* Pages through a version's assets with their shapes (fn is called for
 * each asset JSON; returns non-zero to stop). */
typedef int (*proc_asset_fn)(void *ctx, json_t *asset, err *e);
int proc_each_asset(db_conn *c, int64_t org, int64_t version, const char *query, bool shapes,
                    proc_asset_fn fn, void *ctx, int64_t *total, err *e);
/* The original bytes of a datalake item by its sha256. */
int proc_blob_bytes(const proc_env *env, const char *sha, sbuf *out, err *e);

/* --- the built-ins ---------------------------------------------------------------------------- */

int proc_augment(proc_run_ctx *x, err *e);
int proc_dedup(proc_run_ctx *x, err *e);
int proc_split(proc_run_ctx *x, err *e);
int proc_tile(proc_run_ctx *x, err *e);
int proc_resize(proc_run_ctx *x, err *e);
int proc_autotag(proc_run_ctx *x, err *e);
int proc_preannotate(proc_run_ctx *x, err *e);

/* Helpers of the image built-ins (imgutil in augment.c). */
/* The asset's shapes, or NULL when it has no annotation; its status. */
json_t *proc_asset_shapes(json_t *asset, const char **status);
/* Decodes an item's original to RGB. */
int proc_decode(proc_run_ctx *x, json_t *asset, sbuf *bytes, image_pixels *px, err *e);
/* The same, decoded straight at a smaller size when the format allows (JPEG DCT
 * scaling, shrink-on-load): the cheapest size whose longest side is at least
 * min_side (0: full size; never larger than the image). */
int proc_decode_at(proc_run_ctx *x, json_t *asset, sbuf *bytes, uint32_t min_side,
                   image_pixels *px, err *e);
/* "photo.jpg" -> "photo_SUFFIX.EXT" into out. */
void proc_derived_name(const char *filename, const char *suffix, const char *ext, char *out,
                       size_t n);
/* The name of a new version: the parameter, or the input's + "-WHAT-JOB". */
void proc_version_name(proc_run_ctx *x, const vbuild_src *src, const char *what, char *out,
                       size_t n);
/* The asset query: the parameter, else the launch's. */
const char *proc_query(proc_run_ctx *x);

/* Parameter getters on x->run.params (already checked and defaulted). */
int64_t proc_pi(proc_run_ctx *x, const char *k);
double proc_pd(proc_run_ctx *x, const char *k);
bool proc_pb(proc_run_ctx *x, const char *k);
const char *proc_ps(proc_run_ctx *x, const char *k); /* NULL when absent or "" */

#endif
