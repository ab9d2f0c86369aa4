/*
 * buf.h - a growable byte buffer (sbuf) and a streaming JSON writer on top
 * of it (jw).
 *
 * sbuf is the one string builder of the code base: responses, SQL text,
 * CSV/JSON exports and log lines are built in one. Allocation failure is
 * sticky: after a failed grow every append is a no-op and sbuf_failed()
 * says so, so a long chain of appends needs one check at the end.
 *
 * jw writes JSON directly into an sbuf, tracking commas itself, which is
 * several times faster than building a jansson tree for large listings.
 */
#ifndef CVOPS_BASE_BUF_H
#define CVOPS_BASE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sbuf {
    char *p;     /* always NUL-terminated when len > 0 or after sbuf_cstr */
    size_t len;
    size_t cap;
    bool failed;
} sbuf;

#define SBUF_INIT {NULL, 0, 0, false}

void sbuf_free(sbuf *b);
void sbuf_reset(sbuf *b); /* len = 0, keeps the memory */
bool sbuf_grow(sbuf *b, size_t extra); /* sbuf_reserve's slow path */
/* Room for extra more bytes and the NUL; false once an allocation failed. */
static inline bool sbuf_reserve(sbuf *b, size_t extra)
{
    return (!b->failed && b->len + extra + 1 <= b->cap) || sbuf_grow(b, extra);
}
void sbuf_put(sbuf *b, const void *data, size_t n);
void sbuf_puts(sbuf *b, const char *s);
static inline void sbuf_putc(sbuf *b, char c)
{
    if (!sbuf_reserve(b, 1))
        return;
    b->p[b->len++] = c;
    b->p[b->len] = 0;
}
void sbuf_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_vprintf(sbuf *b, const char *fmt, va_list ap);
void sbuf_put_i64(sbuf *b, int64_t v);
/* Appends s as a JSON string literal, quotes included. Invalid UTF-8 bytes
 * become U+FFFD so the output is always valid JSON. */
void sbuf_json_str(sbuf *b, const char *s, size_t n);
const char *sbuf_cstr(sbuf *b); /* "" for an empty buffer */
/* Hands the memory to the caller (free() it); the buffer becomes empty. */
char *sbuf_detach(sbuf *b, size_t *len);
static inline bool sbuf_failed(const sbuf *b) { return b->failed; }

/* --- JSON writer ------------------------------------------------------- */

#define JW_MAX_DEPTH 32

typedef struct jw {
    sbuf *b;
    int depth;
    bool first[JW_MAX_DEPTH]; /* no element written yet at this depth */
    bool after_key;
} jw;

void jw_init(jw *w, sbuf *b);
void jw_obj(jw *w);   /* { */
void jw_obj_end(jw *w);
void jw_arr(jw *w);   /* [ */
void jw_arr_end(jw *w);
void jw_key(jw *w, const char *k);
void jw_str(jw *w, const char *s); /* NULL writes null */
void jw_strn(jw *w, const char *s, size_t n);
void jw_int(jw *w, int64_t v);
void jw_dbl(jw *w, double v); /* non-finite writes null */
void jw_bool(jw *w, bool v);
void jw_null(jw *w);
void jw_raw(jw *w, const char *json, size_t n); /* an already-encoded value */

/* key + value shorthands */
static inline void jw_kstr(jw *w, const char *k, const char *s) { jw_key(w, k); jw_str(w, s); }
static inline void jw_kint(jw *w, const char *k, int64_t v) { jw_key(w, k); jw_int(w, v); }
static inline void jw_kdbl(jw *w, const char *k, double v) { jw_key(w, k); jw_dbl(w, v); }
static inline void jw_kbool(jw *w, const char *k, bool v) { jw_key(w, k); jw_bool(w, v); }

#endif
