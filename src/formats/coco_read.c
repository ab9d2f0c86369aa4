/*
 * coco_read.c - the COCO reader: one instances / person-keypoints JSON file,
 * streamed, checked exactly, delivered categories-images-annotations.
 *
 * Two stages.
 *
 * 1. A structural scan of the whole file (a byte loop that only knows
 *    strings, escapes and brackets, several times faster than a JSON parse)
 *    finds where the value of each top-level key starts and ends. It also
 *    enforces what no later stage could recover from: the file is one
 *    object, no key twice, nesting at most FMT_MAX_DEPTH, no string longer
 *    than FMT_MAX_STRING, nothing after the end, not truncated.
 *
 * 2. Our tokenizer (below; strict RFC 8259, checked against yajl by the
 *    fuzz target) parses the value of every top-level key, in the order
 *    the reader delivers: the unknown ones first (info, licenses: only
 *    checked to be JSON), then categories, images, annotations. A file
 *    written in COCO's own order (images, annotations, categories) costs
 *    the same as any other: each byte is parsed once, and scanned once.
 *    (yajl alone took 1.2 s of CPU on the 205 MB benchmark file, more than
 *    the whole read now does: see docs/formats.md.)
 *
 * The parse is a small state machine over the tokenizer's events. Each record
 * (category, image, annotation) is collected into reusable buffers, checked
 * when its object closes, and delivered; problems found inside a record are
 * held until then, so that their messages can name the record's id:
 *     annotations[17].bbox: annotation 12345: width is negative (-3)
 * Memory: the buffers of the largest record, a map of image ids to sizes,
 * a set of annotation ids (duplicates), the categories. About 25 MB for a
 * file of 100,000 images and 1,000,000 annotations, whatever its size.
 *
 * Conventions checked here (docs/formats.md has the full list): ids are
 * whole numbers (12.0 is accepted), category id 0 is refused, width/height
 * positive, bbox four finite numbers with w, h >= 0 inside the image; a box
 * that passes the border by at most FMT_BOX_TOLERANCE px is clipped and
 * reported as a warning, further is an error. Polygons: an even count of at
 * least 6 finite numbers each. RLE: size [h, w] equal to the image's, counts
 * a list or the compressed string, summing to h*w. Keypoints: 3 numbers per
 * vertex of the category, visibility 0, 1 or 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/internal.h"

#define CHUNK (256u << 10)
#define MAX_MEMBERS 1024
#define MAX_PEND 8

/* --- input ------------------------------------------------------------------------ */

typedef struct src {
    int fd;
    const char *mem;
    uint64_t size;
} src;

static ssize_t src_read(src *s, uint64_t off, char *buf, size_t n)
{
    if (off >= s->size)
        return 0;
    if (n > s->size - off)
        n = (size_t)(s->size - off);
    if (s->mem) {
        memcpy(buf, s->mem + off, n);
        return (ssize_t)n;
    }
    for (;;) {
        ssize_t r = pread(s->fd, buf, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

/* --- parser state ------------------------------------------------------------------ */

typedef enum { SEC_OTHER, SEC_CATS, SEC_IMGS, SEC_ANNS } sec_t;

typedef enum {
    F_SKIP = 0,
    F_ID,
    F_NAME,
    F_SUPERCAT,
    F_KPNAMES,
    F_SKELETON,
    F_FILE_NAME,
    F_WIDTH,
    F_HEIGHT,
    F_IMAGE_ID,
    F_CATEGORY_ID,
    F_BBOX,
    F_SEG,
    F_AREA,
    F_ISCROWD,
    F_KEYPOINTS,
    F_NUM_KP,
    F_SCORE,
    F_ATTRS,
    F__COUNT
} field_t;

typedef enum { SUB_OTHER, SUB_COUNTS, SUB_SIZE } sub_t;

typedef struct frame {
    bool arr;
    int64_t idx;  /* arrays: index of the current element */
    char key[40]; /* objects: the current key (truncated) */
} frame;

typedef struct dvec {
    double *p;
    size_t n, cap;
} dvec;
typedef struct ivec {
    int *p;
    size_t n, cap;
} ivec;
typedef struct uvec {
    uint32_t *p;
    size_t n, cap;
} uvec;

#define VEC_PUSH(v, x)                                                                        \
    ((v)->n < (v)->cap || vec_grow((void **)&(v)->p, &(v)->cap, sizeof *(v)->p) == 0         \
         ? ((v)->p[(v)->n++] = (x), 0)                                                       \
         : -1)

static int vec_grow(void **p, size_t *cap, size_t elem)
{
    size_t nc = *cap ? *cap * 2 : 64;
    void *np = realloc(*p, nc * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = nc;
    return 0;
}

typedef struct pend {
    char where[160];
    char msg[300];
} pend;

typedef struct cat {
    int64_t index; /* categories[index], for messages */
    int nkp;
    bool bad;
} cat;

typedef struct img {
    int32_t w, h;
    int64_t index; /* images[index] */
    bool bad;
} img;

typedef enum { SEG_NONE, SEG_POLY, SEG_RLE } seg_t;

typedef struct rec {
    bool active;
    int64_t index;
    uint32_t seen; /* fields seen, to refuse duplicates */
    int64_t id, image_id, category_id;
    bool has_id, has_image_id, has_category_id;
    sbuf name, supercat, file_name;
    bool has_name, has_supercat, has_file_name;
    int width, height;
    bool has_width, has_height;
    /* categories */
    const char **kpnames;
    int nkpnames, capkpnames;
    bool has_kpnames;
    ivec skel;
    int pair_n;
    /* annotations */
    double bbox[4];
    int nbbox;
    bool has_bbox, bbox_ok;
    seg_t seg;
    dvec pts;
    ivec rings;
    size_t ring_start;
    bool seg_flat_reported;
    sub_t sub;
    uvec counts;
    bool has_counts_list;
    sbuf rle_str;
    bool has_rle_str;
    int64_t rle_size[2];
    int nrle_size;
    bool has_rle_size;
    double area;
    bool has_area;
    int iscrowd;
    dvec kp;
    bool has_kp;
    int64_t num_kp;
    bool has_num_kp;
    double score;
    bool has_score;
    sbuf attrs;
    bool has_attrs;
    /* problems held until the record closes */
    pend pend[MAX_PEND];
    int npend, more_pend;
} rec;

typedef struct span {
    char key[64];
    uint64_t start, end;
    uint64_t key_off, key_end; /* the key's quotes */
} span;

typedef struct coco {
    fmt_rd *rd;
    src in;
    char *buf; /* CHUNK */
    /* stage 1 */
    span members[MAX_MEMBERS];
    int nmembers;
    /* stage 2 */
    sec_t sec;
    const char *secname;
    frame st[FMT_MAX_DEPTH + 2];
    int depth;
    int skip_from;    /* > 0: events at depth >= skip_from are ignored */
    int capture_from; /* > 0: events at depth >= capture_from go to the attributes */
    jw cap;
    field_t field;
    rec r;
    bool stop;        /* cancel the parse (fatal, or fail-fast error recorded) */
    /* the number being delivered, when the tokenizer already converted it */
    bool num_have, num_is_int;
    double num_d;
    int64_t num_i;
    /* tables */
    arena *a;
    cat *cats;
    int ncats, capcats;
    fmt_i64map cat_ix;
    fmt_strmap cat_names;
    img *imgs;
    size_t nimgs, capimgs;
    fmt_i64map img_ix;
    fmt_i64map ann_ix;
    bool seen_cats, seen_imgs;
} coco;

/* A warning's location, formatted only when the report keeps it (a file can
 * have a warning for every other annotation). */
#define WARN_WHERE(buf, ...)                                                                     \
    (fmt_rd_keeps(c->rd) ? (void)snprintf(buf, sizeof buf, __VA_ARGS__) : (void)(buf[0] = 0))

/* --- locations ---------------------------------------------------------------------- */

/* "line L, column C" of a byte offset (counted again from the start: only
 * on errors). */
static void linecol(coco *c, uint64_t off, char *out, size_t n)
{
    uint64_t line = 1, col_start = 0, pos = 0;
    while (pos < off) {
        size_t want = off - pos < CHUNK ? (size_t)(off - pos) : CHUNK;
        ssize_t r = src_read(&c->in, pos, c->buf, want);
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            if (c->buf[i] == '\n') {
                line++;
                col_start = pos + (uint64_t)i + 1;
            }
        pos += (uint64_t)r;
    }
    snprintf(out, n, "line %llu, column %llu", (unsigned long long)line,
             (unsigned long long)(off - col_start + 1));
}

static void where_path(coco *c, char *out, size_t n)
{
    size_t k = (size_t)snprintf(out, n, "%s", c->secname);
    for (int i = 0; i < c->depth && k < n; i++) {
        frame *f = &c->st[i];
        if (f->arr) {
            if (f->idx >= 0)
                k += (size_t)snprintf(out + k, n - k, "[%lld]", (long long)f->idx);
        } else if (f->key[0]) {
            k += (size_t)snprintf(out + k, n - k, ".%s", f->key);
        }
    }
}

static const char *rec_noun(sec_t s)
{
    return s == SEC_CATS ? "category" : s == SEC_IMGS ? "image" : "annotation";
}

/* A problem inside the current record, at the current path. */
static void rec_problem(coco *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rec_problem(coco *c, const char *fmt, ...)
{
    rec *r = &c->r;
    if (r->npend >= MAX_PEND) {
        r->more_pend++;
        return;
    }
    pend *p = &r->pend[r->npend++];
    where_path(c, p->where, sizeof p->where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof p->msg, fmt, ap);
    va_end(ap);
}

/* A problem found when the record closes; where = section[index].field */
static void rec_problem_at(coco *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rec_problem_at(coco *c, const char *field, const char *fmt, ...)
{
    rec *r = &c->r;
    if (r->npend >= MAX_PEND) {
        r->more_pend++;
        return;
    }
    pend *p = &r->pend[r->npend++];
    snprintf(p->where, sizeof p->where, "%s[%lld]%s%s", c->secname, (long long)r->index,
             field ? "." : "", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof p->msg, fmt, ap);
    va_end(ap);
}

/* Reports the record's held problems. Returns -1 to stop reading. */
static int rec_flush_problems(coco *c)
{
    rec *r = &c->r;
    for (int i = 0; i < r->npend; i++) {
        int rc;
        if (r->has_id)
            rc = fmt_rd_error(c->rd, r->pend[i].where, "%s %lld: %s", rec_noun(c->sec),
                              (long long)r->id, r->pend[i].msg);
        else
            rc = fmt_rd_error(c->rd, r->pend[i].where, "%s", r->pend[i].msg);
        if (rc < 0)
            return -1;
    }
    if (r->more_pend &&
        fmt_rd_error(c->rd, r->pend[0].where, "%d more problems in this %s", r->more_pend,
                     rec_noun(c->sec)) < 0)
        return -1;
    return 0;
}

/* A problem that stops everything (structure, limits, out of memory). */
static int fatal(coco *c, err_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fatal(coco *c, err_code code, const char *fmt, ...)
{
    char where[160], msg[300];
    where_path(c, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fmt_rd_fatal(c->rd, code, where, "%s", msg);
    c->stop = true;
    return 0; /* handlers: 0 cancels the parse */
}

/* --- stage 1: the top-level scan ------------------------------------------------------- */

static int scan_fail(coco *c, uint64_t off, err_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int scan_fail(coco *c, uint64_t off, err_code code, const char *fmt, ...)
{
    char where[64], msg[300];
    linecol(c, off, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fmt_rd_fatal(c->rd, code, where, "%s", msg);
}

/* Decodes a raw key (as between the quotes) into out; escapes beyond ASCII
 * become '?', which matches no key we look for. */
static void key_decode(const char *raw, size_t n, char *out, size_t outn)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < outn; i++) {
        char ch = raw[i];
        if (ch == '\\' && i + 1 < n) {
            char x = raw[++i];
            switch (x) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'u':
                ch = '?';
                if (i + 4 < n) {
                    unsigned v = 0;
                    bool ok = true;
                    for (int j = 1; j <= 4; j++) {
                        char h = raw[i + (size_t)j];
                        v <<= 4;
                        if (h >= '0' && h <= '9')
                            v |= (unsigned)(h - '0');
                        else if (h >= 'a' && h <= 'f')
                            v |= (unsigned)(h - 'a' + 10);
                        else if (h >= 'A' && h <= 'F')
                            v |= (unsigned)(h - 'A' + 10);
                        else
                            ok = false;
                    }
                    if (ok && v >= 0x20 && v < 0x80)
                        ch = (char)v;
                    i += 4;
                }
                break;
            default: ch = x;
            }
        }
        out[k++] = ch;
    }
    out[k] = 0;
}

enum {
    T_START,     /* before the top-level '{' */
    T_KEY_OR_END,/* after '{' */
    T_KEY,       /* after ',' */
    T_IN_KEY,
    T_COLON,
    T_VALUE,
    T_STR,       /* a top-level string value */
    T_CONT,      /* inside a container value */
    T_CONT_STR,  /* inside a string inside a container */
    T_SCALAR,    /* a number / literal */
    T_AFTER,     /* after a value: ',' or '}' */
    T_END,       /* after the closing '}' */
};

/* The scan's inner loops: the next structural byte of a container ("[]{}),
 * the next '"' or '\\' of a string; 16 bytes at a time with SSE2. */
#ifdef __SSE2__
#include <emmintrin.h>
static size_t find_struct(const char *b, size_t i, size_t n)
{
    const __m128i q = _mm_set1_epi8('"'), l1 = _mm_set1_epi8('['), r1 = _mm_set1_epi8(']');
    const __m128i l2 = _mm_set1_epi8('{'), r2 = _mm_set1_epi8('}');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, l1)),
                                 _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, r1),
                                                           _mm_cmpeq_epi8(v, l2)),
                                              _mm_cmpeq_epi8(v, r2)));
        int mask = _mm_movemask_epi8(m);
        if (mask)
            return i + (size_t)__builtin_ctz((unsigned)mask);
    }
    for (; i < n; i++) {
        char ch = b[i];
        if (ch == '"' || ch == '[' || ch == ']' || ch == '{' || ch == '}')
            return i;
    }
    return n;
}

static size_t find_quote(const char *b, size_t i, size_t n)
{
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
        int mask = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)));
        if (mask)
            return i + (size_t)__builtin_ctz((unsigned)mask);
    }
    for (; i < n; i++)
        if (b[i] == '"' || b[i] == '\\')
            return i;
    return n;
}
#else
static size_t find_struct(const char *b, size_t i, size_t n)
{
    for (; i < n; i++) {
        char ch = b[i];
        if (ch == '"' || ch == '[' || ch == ']' || ch == '{' || ch == '}')
            return i;
    }
    return n;
}

static size_t find_quote(const char *b, size_t i, size_t n)
{
    for (; i < n; i++)
        if (b[i] == '"' || b[i] == '\\')
            return i;
    return n;
}
#endif

static bool is_ws(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'; }

static int scan(coco *c)
{
    int state = T_START;
    int depth = 0;
    bool esc = false;
    uint64_t str_start = 0, key_start = 0;
    char rawkey[128];
    size_t rawkey_n = 0;
    span *cur = NULL;
    uint64_t off = 0;
    for (;;) {
        ssize_t got = src_read(&c->in, off, c->buf, CHUNK);
        if (got < 0)
            return scan_fail(c, off, ERR_IO, "cannot read the file: %s", strerror(errno));
        if (got == 0)
            break;
        const char *b = c->buf;
        size_t n = (size_t)got, i = 0;
        if (off == 0 && n >= 3 && (unsigned char)b[0] == 0xEF && (unsigned char)b[1] == 0xBB &&
            (unsigned char)b[2] == 0xBF)
            i = 3; /* UTF-8 byte order mark */
        while (i < n) {
            char ch = b[i];
            switch (state) {
            case T_CONT:
                /* the hot loop: numbers, commas, brackets */
                for (;;) {
                    i = find_struct(b, i, n);
                    if (i >= n)
                        break;
                    ch = b[i];
                    if (ch == '"') {
                        state = T_CONT_STR;
                        str_start = off + i;
                        esc = false;
                        break;
                    }
                    if (ch == '[' || ch == '{') {
                        if (++depth > FMT_MAX_DEPTH)
                            return scan_fail(c, off + i, ERR_INVALID,
                                             "nesting deeper than %d levels", FMT_MAX_DEPTH);
                    } else if (--depth == 0) {
                        cur->end = off + i + 1;
                        state = T_AFTER;
                        break;
                    }
                    i++;
                }
                i++;
                continue;
            case T_CONT_STR:
            case T_STR:
                for (;;) {
                    if (esc) {
                        esc = false;
                        i++;
                    }
                    i = find_quote(b, i, n);
                    if (i >= n)
                        break;
                    if (b[i] == '\\') {
                        esc = true;
                        i++;
                        if (i >= n)
                            break;
                        continue;
                    }
                    /* the closing quote */
                    if (state == T_STR) {
                        cur->end = off + i + 1;
                        state = T_AFTER;
                    } else {
                        state = T_CONT;
                    }
                    break;
                }
                if (off + i - str_start > FMT_MAX_STRING)
                    return scan_fail(c, str_start, ERR_TOO_LARGE,
                                     "a string longer than %u bytes", FMT_MAX_STRING);
                i++;
                continue;
            case T_START:
                if (is_ws(ch))
                    break;
                if (ch == '{') {
                    state = T_KEY_OR_END;
                    break;
                }
                if (ch == '[')
                    return scan_fail(c, off + i, ERR_INVALID,
                                     "the file is a JSON list; a COCO file is an object with "
                                     "\"images\", \"annotations\" and \"categories\" (a list "
                                     "of detections is a results file, not a dataset)");
                return scan_fail(c, off + i, ERR_INVALID,
                                 "not a JSON object: a COCO file starts with '{'");
            case T_KEY_OR_END:
            case T_KEY:
                if (is_ws(ch))
                    break;
                if (ch == '}' && state == T_KEY_OR_END) {
                    state = T_END;
                    break;
                }
                if (ch != '"')
                    return scan_fail(c, off + i, ERR_INVALID,
                                     state == T_KEY ? "expected a key in quotes after ','"
                                                    : "expected a key in quotes or '}'");
                if (c->nmembers >= MAX_MEMBERS)
                    return scan_fail(c, off + i, ERR_TOO_LARGE,
                                     "more than %d top-level keys", MAX_MEMBERS);
                cur = &c->members[c->nmembers++];
                memset(cur, 0, sizeof *cur);
                cur->key_off = key_start = off + i;
                rawkey_n = 0;
                esc = false;
                state = T_IN_KEY;
                break;
            case T_IN_KEY:
                if (esc) {
                    esc = false;
                } else if (ch == '\\') {
                    esc = true;
                } else if (ch == '"') {
                    cur->key_end = off + i + 1;
                    key_decode(rawkey, rawkey_n, cur->key, sizeof cur->key);
                    for (int m = 0; m < c->nmembers - 1; m++)
                        if (strcmp(c->members[m].key, cur->key) == 0) {
                            char other[64];
                            linecol(c, c->members[m].key_off, other, sizeof other);
                            return scan_fail(c, key_start, ERR_INVALID,
                                             "key \"%s\" appears twice (first at %s)", cur->key,
                                             other);
                        }
                    state = T_COLON;
                    break;
                }
                if (rawkey_n < sizeof rawkey)
                    rawkey[rawkey_n++] = ch;
                if (off + i - key_start > FMT_MAX_STRING)
                    return scan_fail(c, key_start, ERR_TOO_LARGE, "a key longer than %u bytes",
                                     FMT_MAX_STRING);
                break;
            case T_COLON:
                if (is_ws(ch))
                    break;
                if (ch != ':')
                    return scan_fail(c, off + i, ERR_INVALID, "expected ':' after the key \"%s\"",
                                     cur->key);
                state = T_VALUE;
                break;
            case T_VALUE:
                if (is_ws(ch))
                    break;
                cur->start = off + i;
                if (ch == '[' || ch == '{') {
                    depth = 1;
                    state = T_CONT;
                } else if (ch == '"') {
                    state = T_STR;
                    str_start = off + i;
                    esc = false;
                } else if (ch == ',' || ch == '}' || ch == ']' || ch == ':') {
                    return scan_fail(c, off + i, ERR_INVALID, "the key \"%s\" has no value",
                                     cur->key);
                } else {
                    state = T_SCALAR;
                }
                break;
            case T_SCALAR:
                if (is_ws(ch) || ch == ',' || ch == '}') {
                    cur->end = off + i;
                    state = T_AFTER;
                    continue; /* look at ch again */
                }
                if (off + i - cur->start > 4096)
                    return scan_fail(c, cur->start, ERR_INVALID,
                                     "the value of \"%s\" is not JSON", cur->key);
                break;
            case T_AFTER:
                if (is_ws(ch))
                    break;
                if (ch == ',')
                    state = T_KEY;
                else if (ch == '}')
                    state = T_END;
                else
                    return scan_fail(c, off + i, ERR_INVALID,
                                     "expected ',' or '}' after the value of \"%s\"", cur->key);
                break;
            case T_END:
                if (!is_ws(ch))
                    return scan_fail(c, off + i, ERR_INVALID,
                                     "text after the end of the JSON object");
                break;
            }
            i++;
        }
        off += (uint64_t)got;
    }
    if (state == T_END)
        return 0;
    if (state == T_START)
        return scan_fail(c, off, ERR_INVALID, "the file is empty");
    if (state == T_SCALAR && c->nmembers) { /* a number at the very end: still truncated */
        c->members[c->nmembers - 1].end = off;
    }
    if (state == T_CONT || state == T_CONT_STR || state == T_STR || state == T_SCALAR)
        return scan_fail(c, off, ERR_INVALID,
                         "the file ends inside the value of \"%s\" (truncated?)",
                         cur ? cur->key : "");
    return scan_fail(c, off, ERR_INVALID, "the file ends before the closing '}' (truncated?)");
}

/* --- stage 2: the records ---------------------------------------------------------- */

static field_t field_of(sec_t s, const char *k, size_t n)
{
#define IS(lit) (n == sizeof(lit) - 1 && memcmp(k, lit, n) == 0)
    if (IS("id"))
        return F_ID;
    switch (s) {
    case SEC_CATS:
        if (IS("name"))
            return F_NAME;
        if (IS("supercategory"))
            return F_SUPERCAT;
        if (IS("keypoints"))
            return F_KPNAMES;
        if (IS("skeleton"))
            return F_SKELETON;
        break;
    case SEC_IMGS:
        if (IS("file_name"))
            return F_FILE_NAME;
        if (IS("width"))
            return F_WIDTH;
        if (IS("height"))
            return F_HEIGHT;
        break;
    case SEC_ANNS:
        if (IS("image_id"))
            return F_IMAGE_ID;
        if (IS("category_id"))
            return F_CATEGORY_ID;
        if (IS("bbox"))
            return F_BBOX;
        if (IS("segmentation"))
            return F_SEG;
        if (IS("area"))
            return F_AREA;
        if (IS("iscrowd"))
            return F_ISCROWD;
        if (IS("keypoints"))
            return F_KEYPOINTS;
        if (IS("num_keypoints"))
            return F_NUM_KP;
        if (IS("score"))
            return F_SCORE;
        if (IS("attributes"))
            return F_ATTRS;
        break;
    default: break;
    }
    return F_SKIP;
#undef IS
}

typedef enum { VT_NULL, VT_BOOL, VT_NUM, VT_STR } vtype;

static const char *vt_name(vtype t)
{
    switch (t) {
    case VT_NULL: return "null";
    case VT_BOOL: return "true/false";
    case VT_NUM: return "a number";
    case VT_STR: return "a string";
    }
    return "?";
}

static void rec_begin(coco *c, int64_t index)
{
    rec *r = &c->r;
    r->active = true;
    r->index = index;
    r->seen = 0;
    r->has_id = r->has_image_id = r->has_category_id = false;
    sbuf_reset(&r->name);
    sbuf_reset(&r->supercat);
    sbuf_reset(&r->file_name);
    r->has_name = r->has_supercat = r->has_file_name = false;
    r->has_width = r->has_height = false;
    r->width = r->height = 0;
    r->nkpnames = 0;
    r->has_kpnames = false;
    r->skel.n = 0;
    r->nbbox = 0;
    r->has_bbox = false;
    r->bbox_ok = true;
    r->seg = SEG_NONE;
    r->pts.n = 0;
    r->rings.n = 0;
    r->seg_flat_reported = false;
    r->counts.n = 0;
    r->has_counts_list = false;
    sbuf_reset(&r->rle_str);
    r->has_rle_str = false;
    r->nrle_size = 0;
    r->has_rle_size = false;
    r->has_area = false;
    r->iscrowd = 0;
    r->kp.n = 0;
    r->has_kp = false;
    r->has_num_kp = false;
    r->has_score = false;
    sbuf_reset(&r->attrs);
    r->has_attrs = false;
    r->npend = r->more_pend = 0;
}

static bool num_dbl(coco *c, const char *s, size_t n, double *out)
{
    if (c->num_have) { /* converted by the tokenizer: finite and exact */
        *out = c->num_d;
        return true;
    }
    if (fmt_parse_dbl(s, n, out) < 0) { /* the grammar was checked: cannot happen */
        rec_problem(c, "not a number");
        return false;
    }
    if (!isfinite(*out)) {
        rec_problem(c, "%.*s is too large to be a finite number", (int)(n > 40 ? 40 : n), s);
        return false;
    }
    return true;
}

static bool num_i64(coco *c, const char *s, size_t n, int64_t *out)
{
    if (c->num_is_int) {
        *out = c->num_i;
        return true;
    }
    if (fmt_parse_i64(s, n, out) < 0) {
        rec_problem(c, "expected a whole number, got %.*s", (int)(n > 40 ? 40 : n), s);
        return false;
    }
    return true;
}

/* A scalar at depth 2: the value of a record's field. */
static void field_scalar(coco *c, vtype t, const char *s, size_t n, bool bval)
{
    rec *r = &c->r;
    field_t f = c->field;
    if (f == F_SKIP)
        return;
    /* null means "absent" for every optional field */
    if (t == VT_NULL && f != F_ID && f != F_NAME && f != F_FILE_NAME && f != F_IMAGE_ID &&
        f != F_CATEGORY_ID)
        return;
    switch (f) {
    case F_ID:
    case F_IMAGE_ID:
    case F_CATEGORY_ID:
    case F_WIDTH:
    case F_HEIGHT:
    case F_NUM_KP: {
        if (t != VT_NUM) {
            rec_problem(c, "expected a whole number, got %s", vt_name(t));
            return;
        }
        int64_t v;
        if (!num_i64(c, s, n, &v))
            return;
        if (f == F_ID)
            r->id = v, r->has_id = true;
        else if (f == F_IMAGE_ID)
            r->image_id = v, r->has_image_id = true;
        else if (f == F_CATEGORY_ID)
            r->category_id = v, r->has_category_id = true;
        else if (f == F_NUM_KP) {
            if (v < 0)
                rec_problem(c, "num_keypoints is negative (%lld)", (long long)v);
            else
                r->num_kp = v, r->has_num_kp = true;
        } else {
            if (v <= 0 || v > FMT_MAX_DIM) {
                rec_problem(c, "%s must be between 1 and %d, got %lld",
                            f == F_WIDTH ? "width" : "height", FMT_MAX_DIM, (long long)v);
                return;
            }
            if (f == F_WIDTH)
                r->width = (int)v, r->has_width = true;
            else
                r->height = (int)v, r->has_height = true;
        }
        return;
    }
    case F_NAME:
    case F_SUPERCAT:
    case F_FILE_NAME: {
        if (t != VT_STR) {
            rec_problem(c, "expected a string, got %s", vt_name(t));
            return;
        }
        if (n > FMT_MAX_NAME) {
            rec_problem(c, "longer than %d bytes", FMT_MAX_NAME);
            return;
        }
        if (memchr(s, 0, n)) {
            rec_problem(c, "contains a NUL character");
            return;
        }
        sbuf *b = f == F_NAME ? &r->name : f == F_SUPERCAT ? &r->supercat : &r->file_name;
        sbuf_put(b, s, n);
        sbuf_cstr(b);
        if (f == F_NAME)
            r->has_name = true;
        else if (f == F_SUPERCAT)
            r->has_supercat = true;
        else
            r->has_file_name = true;
        return;
    }
    case F_AREA:
    case F_SCORE: {
        if (t != VT_NUM) {
            rec_problem(c, "expected a number, got %s", vt_name(t));
            return;
        }
        double v;
        if (!num_dbl(c, s, n, &v))
            return;
        if (f == F_AREA) {
            if (v < 0)
                rec_problem(c, "area is negative (%g)", v);
            else
                r->area = v, r->has_area = true;
        } else {
            r->score = v, r->has_score = true;
        }
        return;
    }
    case F_ISCROWD:
        if (t == VT_BOOL) {
            r->iscrowd = bval;
            return;
        }
        if (t == VT_NUM && n == 1 && (s[0] == '0' || s[0] == '1')) {
            r->iscrowd = s[0] == '1';
            return;
        }
        rec_problem(c, "iscrowd must be 0 or 1, got %s%.*s", t == VT_NUM ? "" : vt_name(t),
                    t == VT_NUM ? (int)(n > 40 ? 40 : n) : 0, s);
        return;
    case F_BBOX:
    case F_KEYPOINTS:
    case F_KPNAMES:
    case F_SKELETON:
        rec_problem(c, "expected a list, got %s", vt_name(t));
        return;
    case F_SEG:
        rec_problem(c, "expected a list of polygons or an RLE object, got %s", vt_name(t));
        return;
    case F_ATTRS:
        rec_problem(c, "expected an object, got %s", vt_name(t));
        return;
    default: return;
    }
}

/* A scalar at depth 3 or 4: inside a field's list or object. */
static void inner_scalar(coco *c, vtype t, const char *s, size_t n)
{
    rec *r = &c->r;
    int d = c->depth;
    switch (c->field) {
    case F_BBOX: {
        if (t != VT_NUM) {
            rec_problem(c, "expected a number, got %s", vt_name(t));
            r->bbox_ok = false;
            return;
        }
        double v;
        if (!num_dbl(c, s, n, &v)) {
            r->bbox_ok = false;
            return;
        }
        if (r->nbbox < 4)
            r->bbox[r->nbbox] = v;
        r->nbbox++;
        return;
    }
    case F_KEYPOINTS: {
        double v = 0;
        if (t != VT_NUM)
            rec_problem(c, "expected a number, got %s", vt_name(t));
        else if (!num_dbl(c, s, n, &v))
            v = 0;
        if (r->kp.n >= 3 * FMT_MAX_KEYPOINTS) {
            if (r->kp.n == 3 * FMT_MAX_KEYPOINTS)
                rec_problem(c, "more than %d keypoints", FMT_MAX_KEYPOINTS);
            r->kp.n++;
            return;
        }
        if (VEC_PUSH(&r->kp, v) < 0)
            fatal(c, ERR_INTERNAL, "out of memory");
        return;
    }
    case F_KPNAMES: {
        if (t != VT_STR || n == 0 || n > FMT_MAX_NAME || memchr(s, 0, n)) {
            rec_problem(c, "expected a keypoint name, got %s", t == VT_STR ? "a bad string"
                                                                            : vt_name(t));
            return;
        }
        if (r->nkpnames >= FMT_MAX_KEYPOINTS) {
            if (r->nkpnames++ == FMT_MAX_KEYPOINTS)
                rec_problem(c, "more than %d keypoints", FMT_MAX_KEYPOINTS);
            return;
        }
        if (r->nkpnames == r->capkpnames) {
            int cap = r->capkpnames ? r->capkpnames * 2 : 32;
            const char **p = realloc(r->kpnames, (size_t)cap * sizeof *p);
            if (!p) {
                fatal(c, ERR_INTERNAL, "out of memory");
                return;
            }
            r->kpnames = p;
            r->capkpnames = cap;
        }
        r->kpnames[r->nkpnames++] = arena_strndup(c->a, s, n);
        return;
    }
    case F_SKELETON:
        if (d == 4) {
            int64_t v;
            if (t != VT_NUM) {
                rec_problem(c, "expected a vertex number, got %s", vt_name(t));
                return;
            }
            if (!num_i64(c, s, n, &v))
                return;
            if (v < 1 || v > FMT_MAX_KEYPOINTS) {
                rec_problem(c, "vertex %lld is not a 1-based keypoint number", (long long)v);
                return;
            }
            if (c->r.pair_n++ < 2 && VEC_PUSH(&r->skel, (int)v) < 0)
                fatal(c, ERR_INTERNAL, "out of memory");
        } else {
            rec_problem(c, "expected a pair [a, b], got %s", vt_name(t));
        }
        return;
    case F_SEG:
        if (r->seg == SEG_POLY) {
            if (d == 3) {
                if (!r->seg_flat_reported)
                    rec_problem(c, "segmentation must be a list of polygons [[x1, y1, ...]], "
                                   "got %s in the outer list",
                                vt_name(t));
                r->seg_flat_reported = true;
                return;
            }
            double v = 0;
            if (t != VT_NUM) {
                rec_problem(c, "expected a number, got %s", vt_name(t));
                return;
            }
            if (!num_dbl(c, s, n, &v))
                return;
            if (r->pts.n >= 2 * (size_t)FMT_MAX_POINTS) {
                if (r->pts.n == 2 * (size_t)FMT_MAX_POINTS)
                    rec_problem(c, "more than %d points", FMT_MAX_POINTS);
                r->pts.n++;
                return;
            }
            if (VEC_PUSH(&r->pts, v) < 0)
                fatal(c, ERR_INTERNAL, "out of memory");
            return;
        }
        /* RLE object */
        if (d == 3) {
            if (r->sub == SUB_COUNTS) {
                if (t != VT_STR) {
                    rec_problem(c, "counts must be a list of numbers or the compressed string, "
                                   "got %s",
                                vt_name(t));
                    return;
                }
                sbuf_put(&r->rle_str, s, n);
                sbuf_cstr(&r->rle_str);
                r->has_rle_str = true;
                if (memchr(s, 0, n))
                    rec_problem(c, "counts string contains a NUL character");
            } else if (r->sub == SUB_SIZE) {
                rec_problem(c, "size must be [height, width], got %s", vt_name(t));
            }
            return;
        }
        if (r->sub == SUB_COUNTS) {
            int64_t v;
            if (t != VT_NUM) {
                rec_problem(c, "expected a run length, got %s", vt_name(t));
                return;
            }
            if (!num_i64(c, s, n, &v))
                return;
            if (v < 0 || v > UINT32_MAX) {
                rec_problem(c, "run length %lld is out of range", (long long)v);
                return;
            }
            if (r->counts.n >= FMT_MAX_RLE) {
                if (r->counts.n == FMT_MAX_RLE)
                    rec_problem(c, "more than %d runs", FMT_MAX_RLE);
                r->counts.n++;
                return;
            }
            if (VEC_PUSH(&r->counts, (uint32_t)v) < 0)
                fatal(c, ERR_INTERNAL, "out of memory");
        } else if (r->sub == SUB_SIZE) {
            int64_t v;
            if (t != VT_NUM) {
                rec_problem(c, "expected a whole number, got %s", vt_name(t));
                return;
            }
            if (!num_i64(c, s, n, &v))
                return;
            if (r->nrle_size < 2)
                r->rle_size[r->nrle_size] = v;
            r->nrle_size++;
        }
        return;
    default: return;
    }
}

/* --- event handlers (the tokenizer below calls them) ----------------------------- */

static void elem_start(coco *c)
{
    if (c->depth > 0 && c->st[c->depth - 1].arr)
        c->st[c->depth - 1].idx++;
}

static int push(coco *c, bool arr)
{
    if (c->depth >= FMT_MAX_DEPTH)
        return fatal(c, ERR_INVALID, "nesting deeper than %d levels", FMT_MAX_DEPTH);
    frame *f = &c->st[c->depth++];
    f->arr = arr;
    f->idx = -1;
    f->key[0] = 0;
    return 1;
}

static int capture_check(coco *c)
{
    if (c->r.attrs.len > FMT_MAX_ATTRS) {
        rec_problem(c, "attributes larger than %u bytes", FMT_MAX_ATTRS);
        /* stop capturing: the rest of the object is skipped */
        c->skip_from = c->capture_from;
        c->capture_from = 0;
        c->r.has_attrs = false;
    }
    return 1;
}

static int value(coco *c, vtype t, const char *s, size_t n, bool bval)
{
    if (c->stop)
        return 0;
    elem_start(c);
    if (c->capture_from) {
        switch (t) {
        case VT_NULL: jw_null(&c->cap); break;
        case VT_BOOL: jw_bool(&c->cap, bval); break;
        case VT_NUM: jw_raw(&c->cap, s, n); break;
        case VT_STR: jw_strn(&c->cap, s, n); break;
        }
        return capture_check(c);
    }
    if (c->skip_from)
        return 1;
    switch (c->depth) {
    case 0:
        if (c->sec != SEC_OTHER)
            return fatal(c, ERR_INVALID, "expected a list, got %s", vt_name(t));
        return 1;
    case 1: {
        char where[160];
        where_path(c, where, sizeof where);
        if (fmt_rd_error(c->rd, where, "expected an object, got %s", vt_name(t)) < 0)
            c->stop = true;
        return c->stop ? 0 : 1;
    }
    case 2: field_scalar(c, t, s, n, bval); break;
    default: inner_scalar(c, t, s, n); break;
    }
    return c->stop ? 0 : 1;
}

static int open_container(coco *c, bool arr)
{
    if (c->stop)
        return 0;
    elem_start(c);
    if (c->capture_from) {
        if (arr)
            jw_arr(&c->cap);
        else
            jw_obj(&c->cap);
        return push(c, arr);
    }
    if (c->skip_from)
        return push(c, arr);
    rec *r = &c->r;
    int d = c->depth; /* depth of the parent */
    bool skip = false;
    switch (d) {
    case 0:
        if (c->sec == SEC_OTHER)
            skip = true;
        else if (!arr)
            return fatal(c, ERR_INVALID, "expected a list, got an object");
        break;
    case 1:
        if (arr) {
            char where[160];
            where_path(c, where, sizeof where);
            if (fmt_rd_error(c->rd, where, "expected an object, got a list") < 0) {
                c->stop = true;
                return 0;
            }
            skip = true;
        } else {
            rec_begin(c, c->st[0].idx);
        }
        break;
    case 2:
        switch (c->field) {
        case F_BBOX:
        case F_KEYPOINTS:
        case F_KPNAMES:
        case F_SKELETON:
            if (!arr) {
                rec_problem(c, "expected a list, got an object");
                skip = true;
            } else if (c->field == F_BBOX) {
                r->has_bbox = true;
            } else if (c->field == F_KEYPOINTS) {
                r->has_kp = true;
            } else if (c->field == F_KPNAMES) {
                r->has_kpnames = true;
            }
            break;
        case F_SEG:
            r->seg = arr ? SEG_POLY : SEG_RLE;
            r->sub = SUB_OTHER;
            break;
        case F_ATTRS:
            if (arr) {
                rec_problem(c, "expected an object, got a list");
                skip = true;
            } else {
                r->has_attrs = true;
                jw_init(&c->cap, &r->attrs);
                jw_obj(&c->cap);
                if (push(c, arr) == 0)
                    return 0;
                c->capture_from = c->depth;
                return 1;
            }
            break;
        case F_SKIP: skip = true; break;
        default:
            rec_problem(c, "expected %s, got %s",
                        c->field == F_NAME || c->field == F_SUPERCAT || c->field == F_FILE_NAME
                            ? "a string"
                            : "a number",
                        arr ? "a list" : "an object");
            skip = true;
        }
        break;
    case 3:
        if (c->field == F_SEG && r->seg == SEG_POLY && arr) {
            r->ring_start = r->pts.n;
        } else if (c->field == F_SEG && r->seg == SEG_RLE && arr &&
                   (r->sub == SUB_COUNTS || r->sub == SUB_SIZE)) {
            if (r->sub == SUB_COUNTS)
                r->has_counts_list = true;
            else
                r->has_rle_size = true;
        } else if (c->field == F_SKELETON && arr) {
            r->pair_n = 0;
        } else if (c->field == F_SEG && r->seg == SEG_RLE && r->sub == SUB_OTHER) {
            skip = true; /* unknown member of an RLE object */
        } else {
            rec_problem(c, "expected %s, got %s",
                        c->field == F_SEG && r->seg == SEG_POLY ? "a polygon [x1, y1, ...]"
                        : c->field == F_KPNAMES                  ? "a keypoint name"
                        : c->field == F_SEG                      ? "a list"
                                                                 : "a number",
                        arr ? "a list" : "an object");
            skip = true;
        }
        break;
    default:
        rec_problem(c, "unexpected %s here", arr ? "list" : "object");
        skip = true;
    }
    if (push(c, arr) == 0)
        return 0;
    if (skip)
        c->skip_from = c->depth;
    return 1;
}

static int map_key(coco *c, const char *k, size_t n)
{
    if (c->stop)
        return 0;
    frame *f = &c->st[c->depth - 1];
    size_t m = n < sizeof f->key - 1 ? n : sizeof f->key - 1;
    memcpy(f->key, k, m);
    f->key[m] = 0;
    if (c->capture_from) {
        jw_strn(&c->cap, k, n); /* a key is a string; jw tracks nothing here */
        sbuf_putc(c->cap.b, ':');
        c->cap.after_key = true;
        return capture_check(c);
    }
    if (c->skip_from)
        return 1;
    rec *r = &c->r;
    if (c->depth == 2) {
        c->field = field_of(c->sec, k, n);
        if (c->field != F_SKIP) {
            uint32_t bit = 1u << c->field;
            if (r->seen & bit)
                rec_problem(c, "the key \"%s\" appears twice", f->key);
            r->seen |= bit;
        }
    } else if (c->depth == 3 && c->field == F_SEG && r->seg == SEG_RLE) {
        if (n == 6 && memcmp(k, "counts", 6) == 0)
            r->sub = SUB_COUNTS;
        else if (n == 4 && memcmp(k, "size", 4) == 0)
            r->sub = SUB_SIZE;
        else
            r->sub = SUB_OTHER;
    }
    return 1;
}

static int rec_end(coco *c);

static int close_container(coco *c)
{
    if (c->stop)
        return 0;
    c->depth--;
    if (c->capture_from) {
        if (c->st[c->depth].arr)
            jw_arr_end(&c->cap);
        else
            jw_obj_end(&c->cap);
        if (c->depth < c->capture_from)
            c->capture_from = 0;
        return capture_check(c);
    }
    if (c->skip_from) {
        if (c->depth < c->skip_from)
            c->skip_from = 0;
        return 1;
    }
    rec *r = &c->r;
    switch (c->depth) {
    case 1: /* a record closed */
        if (r->active) {
            r->active = false;
            if (rec_end(c) < 0)
                c->stop = true;
        }
        break;
    case 2:
        if (c->field == F_BBOX && r->nbbox != 4 && r->bbox_ok) {
            rec_problem(c, "expected 4 numbers [x, y, width, height], got %d", r->nbbox);
            r->bbox_ok = false;
        }
        if (c->field == F_SEG && r->seg == SEG_RLE) {
            if (!r->has_counts_list && !r->has_rle_str)
                rec_problem(c, "RLE segmentation has no counts");
            if (!r->has_rle_size)
                rec_problem(c, "RLE segmentation has no size [height, width]");
        }
        break;
    case 3:
        if (c->field == F_SEG && r->seg == SEG_POLY) {
            size_t cnt = r->pts.n - r->ring_start;
            frame *f = &c->st[2];
            if (cnt % 2 || cnt < 6) {
                char where[160];
                where_path(c, where, sizeof where);
                rec_problem(c, "polygon %lld has %zu numbers; a polygon needs an even count, at "
                               "least 6 (3 points)",
                            (long long)f->idx, cnt);
                r->pts.n = r->ring_start;
            } else if (r->pts.n <= 2 * (size_t)FMT_MAX_POINTS) {
                if (VEC_PUSH(&r->rings, (int)(cnt / 2)) < 0)
                    return fatal(c, ERR_INTERNAL, "out of memory");
            }
        } else if (c->field == F_SEG && r->seg == SEG_RLE && r->sub == SUB_SIZE) {
            if (r->nrle_size != 2)
                rec_problem(c, "size must be [height, width], got %d numbers", r->nrle_size);
        } else if (c->field == F_SKELETON) {
            if (r->pair_n != 2) {
                rec_problem(c, "a skeleton edge is a pair [a, b], got %d numbers", r->pair_n);
                if (r->pair_n == 1)
                    r->skel.n--;
                else if (r->pair_n > 2)
                    r->skel.n -= 2;
            }
        }
        break;
    default: break;
    }
    return c->stop ? 0 : 1;
}

/* --- record checks and delivery ----------------------------------------------------- */

static int flush_or_skip(coco *c)
{
    /* a record with problems is not delivered; -1 stops the read */
    return rec_flush_problems(c) < 0 ? -1 : 0;
}

static int cat_end(coco *c)
{
    rec *r = &c->r;
    if (!r->has_id)
        rec_problem_at(c, "id", "category has no id");
    else if (r->id == 0)
        rec_problem_at(c, "id", "category id 0 is not allowed: COCO ids start at 1 (many trainers "
                                "use 0 for the background)");
    else if (r->id < 0)
        rec_problem_at(c, "id", "category id %lld is negative", (long long)r->id);
    if (!r->has_name || r->name.len == 0)
        rec_problem_at(c, "name", "category has no name");
    int nkp = r->has_kpnames ? r->nkpnames : 0;
    for (size_t i = 0; i < r->skel.n; i++)
        if (r->skel.p[i] > nkp) {
            rec_problem_at(c, "skeleton", "vertex %d is beyond the %d keypoints", r->skel.p[i],
                           nkp);
            break;
        }
    if (r->has_id) {
        int32_t old;
        int ins = fmt_i64map_put(&c->cat_ix, r->id, c->ncats, &old);
        if (ins < 0)
            return fatal(c, ERR_INTERNAL, "out of memory"), -1;
        if (ins == 1) {
            rec_problem_at(c, "id", "category id %lld appears twice (first at categories[%lld])",
                           (long long)r->id, (long long)c->cats[old].index);
        } else {
            if (c->ncats == c->capcats) {
                int cap = c->capcats ? c->capcats * 2 : 64;
                cat *p = realloc(c->cats, (size_t)cap * sizeof *p);
                if (!p)
                    return fatal(c, ERR_INTERNAL, "out of memory"), -1;
                c->cats = p;
                c->capcats = cap;
            }
            c->cats[c->ncats].index = r->index;
            c->cats[c->ncats].nkp = nkp;
            c->cats[c->ncats].bad = true;
            c->ncats++;
        }
    }
    if (r->has_name && r->name.len) {
        int32_t old;
        int ins = fmt_strmap_put(&c->cat_names, r->name.p, (int32_t)r->index, &old);
        if (ins < 0)
            return fatal(c, ERR_INTERNAL, "out of memory"), -1;
        if (ins == 1)
            rec_problem_at(c, "name", "the name '%s' is also the name of categories[%d]",
                           r->name.p, old);
    }
    if (r->npend)
        return flush_or_skip(c);
    c->cats[fmt_i64map_get(&c->cat_ix, r->id)].bad = false;
    int *skel = NULL;
    if (r->skel.n) {
        skel = arena_alloc(c->a, r->skel.n * sizeof *skel);
        if (!skel)
            return fatal(c, ERR_INTERNAL, "out of memory"), -1;
        memcpy(skel, r->skel.p, r->skel.n * sizeof *skel);
    }
    const char **names = NULL;
    if (nkp) {
        names = arena_alloc(c->a, (size_t)nkp * sizeof *names);
        if (!names)
            return fatal(c, ERR_INTERNAL, "out of memory"), -1;
        memcpy(names, r->kpnames, (size_t)nkp * sizeof *names);
    }
    fmt_category fc = {r->id,
                        r->name.p,
                        r->has_supercat ? sbuf_cstr(&r->supercat) : NULL,
                        names,
                        nkp,
                        skel,
                        (int)(r->skel.n / 2)};
    return fmt_rd_category(c->rd, &fc);
}

static int img_end(coco *c)
{
    rec *r = &c->r;
    if (!r->has_id)
        rec_problem_at(c, "id", "image has no id");
    if (!r->has_file_name || r->file_name.len == 0)
        rec_problem_at(c, "file_name", "image has no file_name");
    if (r->has_id) {
        if (c->nimgs >= INT32_MAX - 1)
            return fatal(c, ERR_TOO_LARGE, "more than %d images", INT32_MAX - 1), -1;
        int32_t old;
        int ins = fmt_i64map_put(&c->img_ix, r->id, (int32_t)c->nimgs, &old);
        if (ins < 0)
            return fatal(c, ERR_INTERNAL, "out of memory"), -1;
        if (ins == 1) {
            rec_problem_at(c, "id", "image id %lld appears twice (first at images[%lld])",
                           (long long)r->id, (long long)c->imgs[old].index);
        } else {
            if (c->nimgs == c->capimgs) {
                size_t cap = c->capimgs ? c->capimgs * 2 : 1024;
                img *p = realloc(c->imgs, cap * sizeof *p);
                if (!p)
                    return fatal(c, ERR_INTERNAL, "out of memory"), -1;
                c->imgs = p;
                c->capimgs = cap;
            }
            img *im = &c->imgs[c->nimgs++];
            im->w = r->has_width ? r->width : 0;
            im->h = r->has_height ? r->height : 0;
            im->index = r->index;
            im->bad = r->npend > 0;
        }
    }
    if (r->npend)
        return flush_or_skip(c);
    if (!r->has_width || !r->has_height) {
        char where[160];
        WARN_WHERE(where, "images[%lld]", (long long)r->index);
        fmt_rd_warn(c->rd, where, "image %lld has no %s: its annotations cannot be checked "
                                  "against the image size",
                    (long long)r->id, !r->has_width ? "width" : "height");
    }
    fmt_image im = {r->id, r->file_name.p, r->has_width ? r->width : 0,
                    r->has_height ? r->height : 0, NULL, NULL};
    return fmt_rd_image(c->rd, &im);
}

/* How far (px) a point lies outside [0, w] x [0, h]. */
static double outside(double x, double y, int w, int h)
{
    double o = 0;
    if (-x > o)
        o = -x;
    if (-y > o)
        o = -y;
    if (x - w > o)
        o = x - w;
    if (y - h > o)
        o = y - h;
    return o;
}

static int ann_end(coco *c)
{
    rec *r = &c->r;
    const img *im = NULL;
    const cat *ct = NULL;
    if (!r->has_id)
        rec_problem_at(c, "id", "annotation has no id");
    if (!r->has_image_id) {
        rec_problem_at(c, "image_id", "annotation has no image_id");
    } else {
        int32_t ix = fmt_i64map_get(&c->img_ix, r->image_id);
        if (ix < 0)
            rec_problem_at(c, "image_id", "image %lld is not in \"images\"",
                           (long long)r->image_id);
        else if (c->imgs[ix].bad)
            rec_problem_at(c, "image_id", "image %lld is invalid (images[%lld])",
                           (long long)r->image_id, (long long)c->imgs[ix].index);
        else
            im = &c->imgs[ix];
    }
    if (!r->has_category_id) {
        rec_problem_at(c, "category_id", "annotation has no category_id");
    } else if (r->category_id == 0) {
        rec_problem_at(c, "category_id", "category_id 0 is not allowed (COCO ids start at 1)");
    } else {
        int32_t ix = fmt_i64map_get(&c->cat_ix, r->category_id);
        if (ix < 0)
            rec_problem_at(c, "category_id", "category %lld is not in \"categories\"",
                           (long long)r->category_id);
        else if (c->cats[ix].bad)
            rec_problem_at(c, "category_id", "category %lld is invalid (categories[%lld])",
                           (long long)r->category_id, (long long)c->cats[ix].index);
        else
            ct = &c->cats[ix];
    }
    if (r->has_id) {
        int32_t old;
        int ins = fmt_i64map_put(&c->ann_ix, r->id, (int32_t)(r->index & INT32_MAX), &old);
        if (ins < 0)
            return fatal(c, ERR_INTERNAL, "out of memory"), -1;
        if (ins == 1)
            rec_problem_at(c, "id", "annotation id %lld appears twice (first at annotations[%d])",
                           (long long)r->id, old);
    }
    int W = im ? im->w : 0, H = im ? im->h : 0;
    bool clipped = false;
    double orig[4];
    if (r->has_bbox && r->bbox_ok) {
        double *b = r->bbox;
        if (b[2] < 0 || b[3] < 0) {
            rec_problem_at(c, "bbox", "bbox [%g, %g, %g, %g] has a negative %s", b[0], b[1], b[2],
                           b[3], b[2] < 0 ? "width" : "height");
            r->bbox_ok = false;
        } else if (W > 0 && H > 0) {
            double o = outside(b[0], b[1], W, H), o2 = outside(b[0] + b[2], b[1] + b[3], W, H);
            if (o2 > o)
                o = o2;
            if (o > FMT_BOX_TOLERANCE) {
                rec_problem_at(c, "bbox",
                               "bbox [%g, %g, %g, %g] passes the border of the %dx%d image by %g "
                               "px",
                               b[0], b[1], b[2], b[3], W, H, o);
                r->bbox_ok = false;
            } else if (o > 0) {
                memcpy(orig, b, sizeof orig);
                double x0 = b[0] < 0 ? 0 : b[0], y0 = b[1] < 0 ? 0 : b[1];
                double x1 = b[0] + b[2] > W ? W : b[0] + b[2];
                double y1 = b[1] + b[3] > H ? H : b[1] + b[3];
                b[0] = x0;
                b[1] = y0;
                b[2] = x1 > x0 ? x1 - x0 : 0;
                b[3] = y1 > y0 ? y1 - y0 : 0;
                clipped = true;
            }
        }
    }
    if (r->seg == SEG_POLY && W > 0 && H > 0) {
        for (size_t i = 0; i + 1 < r->pts.n; i += 2)
            if (outside(r->pts.p[i], r->pts.p[i + 1], W, H) > FMT_BOX_TOLERANCE) {
                rec_problem_at(c, "segmentation",
                               "point (%g, %g) is outside the %dx%d image", r->pts.p[i],
                               r->pts.p[i + 1], W, H);
                break;
            }
    }
    uint32_t *decoded = NULL;
    int ndecoded = 0;
    if (r->seg == SEG_RLE && (r->has_counts_list || r->has_rle_str) && r->has_rle_size &&
        r->nrle_size == 2) {
        int64_t rh = r->rle_size[0], rw = r->rle_size[1];
        if (rh <= 0 || rw <= 0 || rh > FMT_MAX_DIM || rw > FMT_MAX_DIM) {
            rec_problem_at(c, "segmentation.size", "size [%lld, %lld] is not a mask size",
                           (long long)rh, (long long)rw);
        } else {
            if (W > 0 && H > 0 && (rh != H || rw != W))
                rec_problem_at(c, "segmentation.size",
                               "RLE size [%lld, %lld] is not the image's [height %d, width %d]",
                               (long long)rh, (long long)rw, H, W);
            const uint32_t *cnt = r->counts.p;
            int ncnt = (int)r->counts.n;
            if (r->has_rle_str) {
                err de;
                ndecoded = fmt_rle_decode(r->rle_str.p, &decoded, &de);
                if (ndecoded < 0) {
                    rec_problem_at(c, "segmentation.counts", "invalid RLE: %s", de.msg);
                    decoded = NULL;
                    ncnt = -1;
                } else {
                    cnt = decoded;
                    ncnt = ndecoded;
                }
            }
            if (ncnt >= 0) {
                uint64_t sum = 0;
                for (int i = 0; i < ncnt; i++)
                    sum += cnt[i];
                if (sum != (uint64_t)rh * (uint64_t)rw)
                    rec_problem_at(c, "segmentation.counts",
                                   "invalid RLE: the runs cover %llu pixels, the %lldx%lld mask "
                                   "has %llu",
                                   (unsigned long long)sum, (long long)rh, (long long)rw,
                                   (unsigned long long)((uint64_t)rh * (uint64_t)rw));
                else if (r->has_bbox && r->bbox_ok) {
                    double gb[4];
                    if (fmt_rle_bbox(cnt, ncnt, (int)rh, (int)rw, gb)) {
                        double d = 0;
                        for (int k = 0; k < 2; k++) {
                            double a = fabs(gb[k] - r->bbox[k]);
                            double e2 = fabs(gb[k] + gb[k + 2] - r->bbox[k] - r->bbox[k + 2]);
                            d = a > d ? a : d;
                            d = e2 > d ? e2 : d;
                        }
                        if (d > FMT_BOX_TOLERANCE) {
                            char where[160];
                            WARN_WHERE(where, "annotations[%lld].bbox",
                                     (long long)r->index);
                            fmt_rd_warn(c->rd, where,
                                        "annotation %lld: bbox does not match the mask's extent "
                                        "[%g, %g, %g, %g] (off by %g px)",
                                        (long long)r->id, gb[0], gb[1], gb[2], gb[3], d);
                        }
                    }
                }
            }
        }
    }
    free(decoded);
    if (r->seg == SEG_POLY && r->rings.n && r->has_bbox && r->bbox_ok && !r->npend) {
        double gb[4];
        fmt_points_bbox(r->pts.p, (int)(r->pts.n / 2), gb);
        double d = 0;
        for (int k = 0; k < 2; k++) {
            double a = fabs(gb[k] - r->bbox[k]);
            double e2 = fabs(gb[k] + gb[k + 2] - r->bbox[k] - r->bbox[k + 2]);
            d = a > d ? a : d;
            d = e2 > d ? e2 : d;
        }
        if (d > FMT_BOX_TOLERANCE) {
            char where[160];
            WARN_WHERE(where, "annotations[%lld].bbox", (long long)r->index);
            fmt_rd_warn(c->rd, where,
                        "annotation %lld: bbox does not match the polygon's extent [%g, %g, %g, "
                        "%g] (off by %g px)",
                        (long long)r->id, gb[0], gb[1], gb[2], gb[3], d);
        }
    }
    int nkp = 0;
    if (r->has_kp && r->kp.n > 0) {
        if (ct && ct->nkp == 0) {
            rec_problem_at(c, "keypoints", "category %lld has no keypoints, the annotation has %zu "
                                           "numbers",
                           (long long)r->category_id, r->kp.n);
        } else if (ct && r->kp.n != 3 * (size_t)ct->nkp) {
            rec_problem_at(c, "keypoints",
                           "expected 3 numbers (x, y, visibility) for each of the %d keypoints of "
                           "category %lld = %d numbers, got %zu",
                           ct->nkp, (long long)r->category_id, 3 * ct->nkp, r->kp.n);
        } else if (ct) {
            nkp = ct->nkp;
            int visible = 0;
            for (int i = 0; i < nkp; i++) {
                double x = r->kp.p[3 * i], y = r->kp.p[3 * i + 1], v = r->kp.p[3 * i + 2];
                if (v != 0 && v != 1 && v != 2) {
                    rec_problem_at(c, "keypoints", "keypoint %d: visibility must be 0, 1 or 2, "
                                                   "got %g",
                                   i + 1, v);
                    break;
                }
                if (v > 0) {
                    visible++;
                    if (W > 0 && H > 0 && outside(x, y, W, H) > FMT_BOX_TOLERANCE) {
                        rec_problem_at(c, "keypoints",
                                       "keypoint %d (%g, %g) is outside the %dx%d image", i + 1, x,
                                       y, W, H);
                        break;
                    }
                }
            }
            if (!r->npend && r->has_num_kp && r->num_kp != visible) {
                char where[160];
                WARN_WHERE(where, "annotations[%lld].num_keypoints",
                         (long long)r->index);
                fmt_rd_warn(c->rd, where,
                            "annotation %lld: num_keypoints is %lld, %d keypoints are labelled",
                            (long long)r->id, (long long)r->num_kp, visible);
            }
        }
    }
    if (r->has_attrs && sbuf_failed(&r->attrs))
        rec_problem_at(c, "attributes", "attributes are nested too deeply");
    fmt_shape s;
    fmt_shape_init(&s);
    if (nkp)
        s.kind = FMT_KEYPOINTS;
    else if (r->seg == SEG_RLE)
        s.kind = FMT_MASK_RLE;
    else if (r->seg == SEG_POLY && r->rings.n)
        s.kind = FMT_POLYGON;
    else if (r->has_bbox && r->bbox_ok)
        s.kind = FMT_BOX;
    else if (!r->npend)
        rec_problem_at(c, NULL, "annotation has no bbox, segmentation or keypoints");
    if (r->npend)
        return flush_or_skip(c);
    if (clipped) {
        char where[160];
        WARN_WHERE(where, "annotations[%lld].bbox", (long long)r->index);
        fmt_rd_warn(c->rd, where,
                    "annotation %lld: bbox [%g, %g, %g, %g] passes the border of the %dx%d image "
                    "by less than %g px; clipped",
                    (long long)r->id, orig[0], orig[1], orig[2], orig[3], W, H,
                    FMT_BOX_TOLERANCE);
    }
    s.id = r->id;
    s.image_id = r->image_id;
    s.category_id = r->category_id;
    if (r->has_bbox) {
        memcpy(s.bbox, r->bbox, sizeof s.bbox);
        s.has_bbox = true;
    }
    if (r->seg == SEG_POLY && r->rings.n) {
        s.points = r->pts.p;
        s.npoints = (int)(r->pts.n / 2);
        s.ring_sizes = r->rings.p;
        s.nrings = (int)r->rings.n;
    }
    if (r->seg == SEG_RLE) {
        if (r->has_rle_str)
            s.rle_string = r->rle_str.p;
        else {
            s.rle_counts = r->counts.p;
            s.nrle = (int)r->counts.n;
        }
        s.rle_h = (int)r->rle_size[0];
        s.rle_w = (int)r->rle_size[1];
    }
    if (nkp) {
        s.kp = r->kp.p;
        s.nkp = nkp;
    }
    if (r->has_area)
        s.area = r->area;
    if (r->has_score)
        s.score = r->score;
    s.iscrowd = r->iscrowd != 0;
    if (r->has_attrs)
        s.attributes = sbuf_cstr(&r->attrs);
    return fmt_rd_shape(c->rd, &s);
}

static int rec_end(coco *c)
{
    switch (c->sec) {
    case SEC_CATS: return cat_end(c);
    case SEC_IMGS: return img_end(c);
    case SEC_ANNS: return ann_end(c);
    default: return 0;
    }
}

/* --- driver ------------------------------------------------------------------------- */

/* --- stage 2: the tokenizer ------------------------------------------------------------
 *
 * A strict JSON (RFC 8259) parser for one top-level value, fed from the file
 * through a buffer that is refilled as it drains; a token cut by the end of
 * the buffer is moved to its start first (the buffer grows for a token
 * longer than itself, up to FMT_MAX_STRING). It calls the record handlers
 * above directly. Strict means: no comments, no trailing commas, no NaN or
 * Infinity, no leading zeros, no control characters or invalid UTF-8
 * (overlong forms and surrogates included) in strings, \u escapes with
 * paired surrogates. Every document it accepts, yajl accepts too: the fuzz
 * target checks that. It replaced yajl here because yajl alone took more
 * CPU (1.2 s for the 205 MB benchmark file) than the whole read now does.
 */

typedef struct lexer {
    coco *c;
    const span *sp;
    uint64_t off;  /* file offset of buf[0] */
    char *buf;
    size_t len, cap, pos;
    sbuf str;      /* decoded strings that had escapes */
} lexer;

static int lex_fail(lexer *lx, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int lex_fail(lexer *lx, size_t at, const char *fmt, ...)
{
    if (lx->c->stop)
        return -1;
    char where[64], msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    linecol(lx->c, lx->off + at, where, sizeof where);
    fmt_rd_fatal(lx->c->rd, ERR_INVALID, where, "invalid JSON in \"%s\": %s", lx->sp->key, msg);
    lx->c->stop = true;
    return -1;
}

/* Moves buf[keep..len) to the front and reads more. Returns the number of
 * new bytes (0 at the end of the span), -1 on a read error; *shift tells
 * how far positions moved. */
static ssize_t lex_more(lexer *lx, size_t keep, size_t *shift)
{
    uint64_t end = lx->sp->end;
    if (lx->off + lx->len >= end) {
        *shift = 0;
        return 0;
    }
    if (keep > 0) {
        memmove(lx->buf, lx->buf + keep, lx->len - keep);
        lx->len -= keep;
        lx->off += keep;
        lx->pos -= keep;
    }
    *shift = keep;
    if (lx->len == lx->cap) { /* one token fills the buffer */
        if (lx->cap >= FMT_MAX_STRING + 64) {
            lex_fail(lx, 0, "a token longer than %u bytes", FMT_MAX_STRING);
            return -1;
        }
        char *nb = realloc(lx->buf, lx->cap * 2);
        if (!nb) {
            fatal(lx->c, ERR_INTERNAL, "out of memory");
            return -1;
        }
        lx->buf = nb;
        lx->c->buf = nb; /* the coco's scratch buffer: it frees it */
        lx->cap *= 2;
    }
    uint64_t at = lx->off + lx->len;
    size_t want = lx->cap - lx->len;
    if (want > end - at)
        want = (size_t)(end - at);
    ssize_t r = src_read(&lx->c->in, at, lx->buf + lx->len, want);
    if (r <= 0) {
        fmt_rd_fatal(lx->c->rd, ERR_IO, "", "cannot read the file: %s",
                     r < 0 ? strerror(errno) : "it became shorter");
        lx->c->stop = true;
        return -1;
    }
    lx->len += (size_t)r;
    return r;
}

/* Makes buf[i..i+need) available (refilling, keeping from `keep`). Returns
 * 1, 0 when the span ends first, -1 on error; i and keep are adjusted. */
static int lex_need(lexer *lx, size_t *i, size_t *keep, size_t need)
{
    while (*i + need > lx->len) {
        size_t shift;
        ssize_t r = lex_more(lx, *keep, &shift);
        if (r < 0)
            return -1;
        *i -= shift;
        *keep -= shift;
        if (r == 0)
            return 0;
    }
    return 1;
}

/* bytes that a string can hold as they are: printable ASCII but '"' and '\' */
static const uint8_t PLAIN[256] = {
#define P4(x) x, x, x, x
#define P16(x) P4(x), P4(x), P4(x), P4(x)
    P16(0), P16(0), /* 0x00-0x1f: control characters */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2f: '"' */
    P16(1), P16(1), /* 0x30-0x4f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50-0x5f: '\\' */
    P16(1), P16(1), /* 0x60-0x7f */
    P16(0), P16(0), P16(0), P16(0), P16(0), P16(0), P16(0), P16(0), /* 0x80-0xff */
#undef P16
#undef P4
};

static int hexval(char h)
{
    if (h >= '0' && h <= '9')
        return h - '0';
    if (h >= 'a' && h <= 'f')
        return h - 'a' + 10;
    if (h >= 'A' && h <= 'F')
        return h - 'A' + 10;
    return -1;
}

/* Length of the valid UTF-8 sequence at p (n bytes available), 0 if it is
 * invalid, -1 if it needs more bytes than n. */
static int utf8_len(const unsigned char *p, size_t n)
{
    unsigned char b = p[0];
    int len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF)
        len = 2;
    else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if ((size_t)len > n)
        return -1;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (int k = 2; k < len; k++)
        if (p[k] < 0x80 || p[k] > 0xBF)
            return 0;
    return len;
}

static void put_cp(sbuf *b, unsigned v)
{
    char u[4];
    int n;
    if (v < 0x80) {
        u[0] = (char)v;
        n = 1;
    } else if (v < 0x800) {
        u[0] = (char)(0xC0 | v >> 6);
        u[1] = (char)(0x80 | (v & 0x3F));
        n = 2;
    } else if (v < 0x10000) {
        u[0] = (char)(0xE0 | v >> 12);
        u[1] = (char)(0x80 | ((v >> 6) & 0x3F));
        u[2] = (char)(0x80 | (v & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | v >> 18);
        u[1] = (char)(0x80 | ((v >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((v >> 6) & 0x3F));
        u[3] = (char)(0x80 | (v & 0x3F));
        n = 4;
    }
    sbuf_put(b, u, (size_t)n);
}

/* The string whose opening quote is at lx->pos. On success *s, *n is its
 * decoded text (in buf, or in lx->str when it had escapes) and lx->pos is
 * past the closing quote. */
static int lex_string(lexer *lx, const char **s, size_t *n)
{
    size_t keep = lx->pos, i = lx->pos + 1;
    bool esc = false;
    for (;;) {
        while (i < lx->len && PLAIN[(unsigned char)lx->buf[i]])
            i++;
        int r;
        if (i >= lx->len) {
            if ((r = lex_need(lx, &i, &keep, 1)) < 0)
                return -1;
            if (r == 0)
                return lex_fail(lx, i, "the text ends inside a string");
            continue; /* scan the new bytes */
        }
        unsigned char ch = (unsigned char)lx->buf[i];
        if (ch == '"')
            break;
        if (ch == '\\') {
            if ((r = lex_need(lx, &i, &keep, 2)) <= 0)
                return r < 0 ? -1 : lex_fail(lx, i, "the text ends inside a string");
            char x = lx->buf[i + 1];
            if (x == 'u') {
                if ((r = lex_need(lx, &i, &keep, 6)) <= 0)
                    return r < 0 ? -1 : lex_fail(lx, i, "the text ends inside a string");
                for (int k = 2; k < 6; k++)
                    if (hexval(lx->buf[i + (size_t)k]) < 0)
                        return lex_fail(lx, i, "\\u must be followed by 4 hex digits");
                i += 6;
            } else if (strchr("\"\\/bfnrt", x) && x) {
                i += 2;
            } else {
                return lex_fail(lx, i, "invalid escape \\%c", x >= 0x20 && x < 0x7f ? x : '?');
            }
            esc = true;
            continue;
        }
        if (ch < 0x20)
            return lex_fail(lx, i, "a control character (0x%02x) in a string", ch);
        /* non-ASCII: a whole UTF-8 sequence */
        int len = utf8_len((const unsigned char *)lx->buf + i, lx->len - i);
        if (len < 0) {
            if ((r = lex_need(lx, &i, &keep, 4)) < 0)
                return -1;
            len = utf8_len((const unsigned char *)lx->buf + i, lx->len - i);
        }
        if (len <= 0)
            return lex_fail(lx, i, "invalid UTF-8 in a string");
        i += (size_t)len;
    }
    /* buf[keep] is the opening quote, buf[i] the closing one */
    const char *t = lx->buf + keep + 1;
    size_t tn = i - keep - 1;
    lx->pos = i + 1;
    if (!esc) {
        *s = t;
        *n = tn;
        return 0;
    }
    sbuf *b = &lx->str;
    sbuf_reset(b);
    for (size_t k = 0; k < tn; k++) {
        if (t[k] != '\\') {
            size_t run = k;
            while (run < tn && t[run] != '\\')
                run++;
            sbuf_put(b, t + k, run - k);
            k = run - 1;
            continue;
        }
        char x = t[++k];
        switch (x) {
        case 'b': sbuf_putc(b, '\b'); break;
        case 'f': sbuf_putc(b, '\f'); break;
        case 'n': sbuf_putc(b, '\n'); break;
        case 'r': sbuf_putc(b, '\r'); break;
        case 't': sbuf_putc(b, '\t'); break;
        case 'u': {
            unsigned v = 0;
            for (int q = 1; q <= 4; q++)
                v = v << 4 | (unsigned)hexval(t[k + (size_t)q]);
            k += 4;
            if (v >= 0xD800 && v <= 0xDBFF) {
                unsigned lo = 0;
                bool ok = k + 6 < tn && t[k + 1] == '\\' && t[k + 2] == 'u';
                for (int q = 3; ok && q <= 6; q++)
                    lo = lo << 4 | (unsigned)hexval(t[k + (size_t)q]);
                if (!ok || lo < 0xDC00 || lo > 0xDFFF)
                    return lex_fail(lx, keep, "a string has an unpaired surrogate \\u%04X", v);
                v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                k += 6;
            } else if (v >= 0xDC00 && v <= 0xDFFF) {
                return lex_fail(lx, keep, "a string has an unpaired surrogate \\u%04X", v);
            }
            put_cp(b, v);
            break;
        }
        default: sbuf_putc(b, x); /* " \ / */
        }
    }
    if (sbuf_failed(b))
        return fatal(lx->c, ERR_INTERNAL, "out of memory"), -1;
    *s = b->p ? b->p : "";
    *n = b->len;
    return 0;
}

static const double POW10_[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static bool delim(char ch)
{
    return ch == ',' || ch == ']' || ch == '}' || ch == ' ' || ch == '\n' || ch == '\r' ||
           ch == '\t';
}

/* A number or a literal at lx->pos. The usual number (short, in the
 * buffer) is checked against the grammar in the same pass that finds its
 * end; anything else takes the bytes up to the next delimiter first. */
static int lex_scalar(lexer *lx)
{
    coco *c = lx->c;
    size_t keep = lx->pos, i = lx->pos;
    if (lx->len - i < 48) { /* near the end of the buffer: make room */
        size_t shift;
        if (lx->off + lx->len < lx->sp->end && lex_more(lx, keep, &shift) < 0)
            return -1;
        keep = i = lx->pos;
    }
    const char *b = lx->buf;
    size_t lim = lx->len - i > 48 ? i + 48 : lx->len;
    bool at_end = lx->off + lx->len >= lx->sp->end;
    /* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, converting as it goes
     * (the fast path of fmt_parse_dbl: up to 19 digits, exact when the
     * mantissa fits in 53 bits and the power of ten is at most 1e22) */
    size_t k = i;
    bool neg = false;
    if (k < lim && b[k] == '-')
        neg = true, k++;
    if (k < lim && b[k] >= '0' && b[k] <= '9') {
        size_t d0 = k;
        uint64_t m = (uint64_t)(b[k] - '0');
        bool zero = b[k] == '0';
        k++;
        if (!zero)
            while (k < lim && b[k] >= '0' && b[k] <= '9')
                m = m * 10 + (uint64_t)(b[k++] - '0');
        int nd = (int)(k - d0), frac = 0, ex = 0;
        bool ok = true, integral = true;
        if (k < lim && b[k] == '.') {
            size_t d = ++k;
            while (k < lim && b[k] >= '0' && b[k] <= '9')
                m = m * 10 + (uint64_t)(b[k++] - '0');
            frac = (int)(k - d);
            nd += frac;
            ok = frac > 0;
            integral = false;
        }
        if (ok && k < lim && (b[k] == 'e' || b[k] == 'E')) {
            k++;
            bool eneg = false;
            if (k < lim && (b[k] == '+' || b[k] == '-'))
                eneg = b[k++] == '-';
            size_t d = k;
            while (k < lim && b[k] >= '0' && b[k] <= '9' && k - d < 6)
                ex = ex * 10 + (b[k++] - '0');
            ok = k > d && !(k < lim && b[k] >= '0' && b[k] <= '9');
            if (eneg)
                ex = -ex;
            integral = false;
        }
        if (ok && ((k < lim && delim(b[k])) || (k == lx->len && at_end))) {
            lx->pos = k;
            int e10 = ex - frac;
            c->num_have = false;
            c->num_is_int = integral && nd <= 18;
            if (c->num_is_int)
                c->num_i = neg ? -(int64_t)m : (int64_t)m;
            if (nd <= 19 && m < (1ull << 53) && e10 >= -22 && e10 <= 22) {
                double v = (double)m;
                if (e10 > 0)
                    v *= POW10_[e10];
                else if (e10 < 0)
                    v /= POW10_[-e10];
                c->num_d = neg ? -v : v;
                c->num_have = true;
            }
            int rc = value(c, VT_NUM, b + i, k - i, false) ? 0 : -1;
            c->num_have = c->num_is_int = false;
            return rc;
        }
        /* cut by lim, or not a number: the general path says which */
    }
    for (;;) {
        while (i < lx->len && !delim(lx->buf[i]))
            i++;
        if (i < lx->len)
            break;
        size_t shift;
        ssize_t r = lex_more(lx, keep, &shift);
        if (r < 0)
            return -1;
        i -= shift;
        keep -= shift;
        if (r == 0)
            break;
        if (i - keep > 4096)
            return lex_fail(lx, keep, "a number longer than 4096 characters");
    }
    const char *t = lx->buf + keep;
    size_t n = i - keep;
    lx->pos = i;
    if (n == 4 && memcmp(t, "true", 4) == 0)
        return value(c, VT_BOOL, NULL, 0, true) ? 0 : -1;
    if (n == 5 && memcmp(t, "false", 5) == 0)
        return value(c, VT_BOOL, NULL, 0, false) ? 0 : -1;
    if (n == 4 && memcmp(t, "null", 4) == 0)
        return value(c, VT_NULL, NULL, 0, false) ? 0 : -1;
    k = 0;
    if (k < n && t[k] == '-')
        k++;
    if (k >= n)
        return lex_fail(lx, keep + k, "a number needs digits");
    if (t[k] == '0')
        k++;
    else if (t[k] >= '1' && t[k] <= '9')
        while (k < n && t[k] >= '0' && t[k] <= '9')
            k++;
    else
        return lex_fail(lx, keep + k, "unexpected '%c'%s", t[k] >= 0x20 && t[k] < 0x7f ? t[k] : '?',
                        (t[k] == 'N' || t[k] == 'I') ? " (NaN and Infinity are not JSON)" : "");
    if (k < n && t[k] == '.') {
        size_t d = ++k;
        while (k < n && t[k] >= '0' && t[k] <= '9')
            k++;
        if (k == d)
            return lex_fail(lx, keep + k, "a digit must follow the decimal point");
    }
    if (k < n && (t[k] == 'e' || t[k] == 'E')) {
        k++;
        if (k < n && (t[k] == '+' || t[k] == '-'))
            k++;
        size_t d = k;
        while (k < n && t[k] >= '0' && t[k] <= '9')
            k++;
        if (k == d)
            return lex_fail(lx, keep + k, "a digit must follow the exponent");
    }
    if (k != n)
        return lex_fail(lx, keep + k, "unexpected '%c' in a number",
                        t[k] >= 0x20 && t[k] < 0x7f ? t[k] : '?');
    return value(c, VT_NUM, t, n, false) ? 0 : -1;
}

enum { L_VALUE, L_ARR_FIRST, L_OBJ_FIRST, L_KEY, L_COLON, L_NEXT, L_DONE };

static int parse_span(coco *c, const span *sp, sec_t sec)
{
    c->sec = sec;
    c->secname = sp->key;
    c->depth = 0;
    c->skip_from = c->capture_from = 0;
    c->field = F_SKIP;
    c->r.active = false;
    lexer lx = {.c = c, .sp = sp, .off = sp->start, .buf = c->buf, .cap = CHUNK};
    bool is_obj[FMT_MAX_DEPTH + 2];
    int sp_n = 0;
    int state = L_VALUE;
    while (!c->stop) {
        if (lx.pos >= lx.len) {
            size_t shift;
            ssize_t r = lex_more(&lx, lx.pos, &shift);
            if (r < 0)
                break;
            if (r == 0)
                break;
        }
        char ch = lx.buf[lx.pos];
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') {
            lx.pos++;
            continue;
        }
        switch (state) {
        case L_VALUE:
        case L_ARR_FIRST:
            if (ch == '[' || ch == '{') {
                if (sp_n >= FMT_MAX_DEPTH) {
                    lex_fail(&lx, lx.pos, "nesting deeper than %d levels", FMT_MAX_DEPTH);
                    break;
                }
                is_obj[sp_n++] = ch == '{';
                lx.pos++;
                if (!open_container(c, ch == '['))
                    break;
                state = ch == '{' ? L_OBJ_FIRST : L_ARR_FIRST;
                continue;
            }
            if (ch == ']' && state == L_ARR_FIRST)
                goto close_;
            if (ch == '"') {
                const char *s;
                size_t n;
                if (lex_string(&lx, &s, &n) < 0 || !value(c, VT_STR, s, n, false))
                    break;
            } else if (ch == ',' || ch == ']' || ch == '}' || ch == ':') {
                lex_fail(&lx, lx.pos, "expected a value, got '%c'", ch);
                break;
            } else if (lex_scalar(&lx) < 0) {
                break;
            }
            state = sp_n ? L_NEXT : L_DONE;
            continue;
        case L_OBJ_FIRST:
        case L_KEY:
            if (ch == '}' && state == L_OBJ_FIRST)
                goto close_;
            if (ch != '"') {
                lex_fail(&lx, lx.pos, state == L_KEY ? "expected a key in quotes after ','"
                                                     : "expected a key in quotes or '}'");
                break;
            }
            {
                const char *s;
                size_t n;
                if (lex_string(&lx, &s, &n) < 0 || !map_key(c, s, n))
                    break;
            }
            state = L_COLON;
            continue;
        case L_COLON:
            if (ch != ':') {
                lex_fail(&lx, lx.pos, "expected ':' after a key");
                break;
            }
            lx.pos++;
            state = L_VALUE;
            continue;
        case L_NEXT:
            if (ch == ',') {
                lx.pos++;
                state = is_obj[sp_n - 1] ? L_KEY : L_VALUE;
                /* look at the next byte as a value/key, not as a first element */
                continue;
            }
            if ((ch == ']' && !is_obj[sp_n - 1]) || (ch == '}' && is_obj[sp_n - 1]))
                goto close_;
            lex_fail(&lx, lx.pos, "expected ',' or '%c'", is_obj[sp_n - 1] ? '}' : ']');
            break;
        case L_DONE:
            lex_fail(&lx, lx.pos, "unexpected '%c' after the value", ch >= 0x20 && ch < 0x7f ? ch : '?');
            break;
        }
        break; /* an error */
    close_:
        if ((ch == ']') == is_obj[sp_n - 1]) {
            lex_fail(&lx, lx.pos, "'%c' does not close '%c'", ch, is_obj[sp_n - 1] ? '{' : '[');
            break;
        }
        sp_n--;
        lx.pos++;
        if (!close_container(c))
            break;
        state = sp_n ? L_NEXT : L_DONE;
        continue;
    }
    if (!c->stop && state != L_DONE)
        lex_fail(&lx, lx.len, "the text ends before the value is complete");
    sbuf_free(&lx.str);
    return fmt_rd_stopped(c->rd) ? -1 : 0;
}

static void coco_free(coco *c)
{
    rec *r = &c->r;
    sbuf_free(&r->name);
    sbuf_free(&r->supercat);
    sbuf_free(&r->file_name);
    sbuf_free(&r->rle_str);
    sbuf_free(&r->attrs);
    free(r->kpnames);
    free(r->skel.p);
    free(r->pts.p);
    free(r->rings.p);
    free(r->counts.p);
    free(r->kp.p);
    free(c->cats);
    free(c->imgs);
    fmt_i64map_free(&c->cat_ix);
    fmt_i64map_free(&c->img_ix);
    fmt_i64map_free(&c->ann_ix);
    fmt_strmap_free(&c->cat_names);
    arena_free(c->a);
    free(c->buf);
    if (c->in.fd >= 0)
        close(c->in.fd);
    free(c);
}

int fmt_coco_read(fmt_rd *rd, const char *path, const void *mem, size_t memlen)
{
    coco *c = calloc(1, sizeof *c);
    if (!c)
        return fmt_rd_fatal(rd, ERR_INTERNAL, NULL, "out of memory");
    c->rd = rd;
    c->in.fd = -1;
    uint64_t max = rd->opts->max_bytes > 0 ? (uint64_t)rd->opts->max_bytes : (8ull << 30);
    int rc = -1;
    if (mem) {
        c->in.mem = mem;
        c->in.size = memlen;
    } else {
        c->in.fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (c->in.fd < 0) {
            fmt_rd_fatal(rd, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, path, "cannot open: %s",
                         strerror(errno));
            goto out;
        }
        if (fstat(c->in.fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            fmt_rd_fatal(rd, ERR_INVALID, path, "not a regular file (a COCO input is one JSON "
                                                "file)");
            goto out;
        }
        c->in.size = (uint64_t)st.st_size;
        posix_fadvise(c->in.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    if (c->in.size > max) {
        fmt_rd_fatal(rd, ERR_TOO_LARGE, path ? path : "", "%llu bytes is above the limit of %llu",
                     (unsigned long long)c->in.size, (unsigned long long)max);
        goto out;
    }
    if (!(c->buf = malloc(CHUNK)) || !(c->a = arena_new(1 << 14))) {
        fmt_rd_fatal(rd, ERR_INTERNAL, NULL, "out of memory");
        goto out;
    }
    if (scan(c) < 0)
        goto out;
    const span *cats = NULL, *imgs = NULL, *anns = NULL;
    for (int i = 0; i < c->nmembers; i++) {
        const span *sp = &c->members[i];
        if (strcmp(sp->key, "categories") == 0)
            cats = sp;
        else if (strcmp(sp->key, "images") == 0)
            imgs = sp;
        else if (strcmp(sp->key, "annotations") == 0)
            anns = sp;
    }
    if (!imgs || !cats) {
        fmt_rd_fatal(rd, ERR_INVALID, "", "no \"%s\" list: a COCO dataset file has \"images\", "
                                          "\"annotations\" and \"categories\"",
                     !imgs ? "images" : "categories");
        goto out;
    }
    for (int i = 0; i < c->nmembers; i++) {
        /* the keys themselves are JSON strings (UTF-8, escapes) */
        span ks = c->members[i];
        ks.start = ks.key_off;
        ks.end = ks.key_end;
        if (parse_span(c, &ks, SEC_OTHER) < 0)
            goto out;
    }
    for (int i = 0; i < c->nmembers; i++) {
        const span *sp = &c->members[i];
        if (sp != cats && sp != imgs && sp != anns && parse_span(c, sp, SEC_OTHER) < 0)
            goto out;
    }
    /* the records to the consumer on a second thread, if asked: the reading
     * goes on while it matches images and checks shapes */
    bool piped = rd->opts->pipeline && fmt_pipe_begin(rd) == 0;
    int prc = parse_span(c, cats, SEC_CATS) < 0 || parse_span(c, imgs, SEC_IMGS) < 0 ? -1 : 0;
    if (prc == 0 && !anns)
        fmt_rd_warn(rd, "", "no \"annotations\" list: only images and categories are read");
    else if (prc == 0)
        prc = parse_span(c, anns, SEC_ANNS);
    if (piped)
        fmt_pipe_end(rd);
    if (prc < 0)
        goto out;
    rc = rd->failed ? -1 : 0;
out:
    coco_free(c);
    return rd->failed ? -1 : rc;
}
