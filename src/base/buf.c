/*
 * buf.c - sbuf and the JSON writer.
 */
#include "base/buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sbuf_free(sbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}

void sbuf_reset(sbuf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = 0;
}

bool sbuf_grow(sbuf *b, size_t extra)
{
    if (b->failed)
        return false;
    if (b->len + extra + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void sbuf_put(sbuf *b, const void *data, size_t n)
{
    if (!sbuf_reserve(b, n))
        return;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
}

void sbuf_puts(sbuf *b, const char *s) { sbuf_put(b, s, strlen(s)); }

void sbuf_vprintf(sbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        sbuf_put(b, tmp, (size_t)n);
    } else if (sbuf_reserve(b, (size_t)n)) {
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

void sbuf_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

void sbuf_put_i64(sbuf *b, int64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof tmp, *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    sbuf_put(b, p, (size_t)(e - p));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* overlong forms, surrogates, out of range */
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* How many bytes at the start of s can be copied into a JSON string as they
 * are: printable ASCII other than a quote or a backslash. Eight at a time
 * while it can: a byte below 0x20 borrows in x - 0x20 (its high bit sets), a
 * quote or backslash becomes 0 after the XOR and borrows in - 1, and bytes of
 * 0x80 and above have the high bit already. A borrow can carry into the next
 * byte up, which can only flag bytes after the first special one: the
 * bytewise loop then finds the exact place. */
static size_t json_plain_prefix(const unsigned char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
        if (((x - ones * 0x20) | (q - ones) | (bs - ones) | x) & high)
            break;
    }
    while (i < n && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
        i++;
    return i;
}

void sbuf_json_str(sbuf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    if (!sbuf_reserve(b, n + 2))
        return;
    size_t i = json_plain_prefix(s, n);
    char *o = b->p + b->len;
    o[0] = '"';
    memcpy(o + 1, s, i);
    b->len += i + 1;
    if (i == n) { /* the usual case: nothing to escape */
        b->p[b->len++] = '"';
        b->p[b->len] = 0;
        return;
    }
    size_t run = i; /* start of the pending run of bytes copied verbatim */
    while (i < n) {
        i += json_plain_prefix(s + i, n - i);
        if (i == n)
            break;
        unsigned char c = s[i]; /* needs escaping, or starts a UTF-8 sequence */
        if (c >= 0x80) {
            size_t l = utf8_seq_len(s + i, n - i);
            if (l) {
                i += l;
                continue;
            }
        }
        sbuf_put(b, s + run, i - run);
        switch (c) {
        case '"': sbuf_put(b, "\\\"", 2); break;
        case '\\': sbuf_put(b, "\\\\", 2); break;
        case '\n': sbuf_put(b, "\\n", 2); break;
        case '\r': sbuf_put(b, "\\r", 2); break;
        case '\t': sbuf_put(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                sbuf_put(b, u, 6);
            } else {
                sbuf_put(b, "\xEF\xBF\xBD", 3); /* invalid UTF-8 byte -> U+FFFD */
            }
        }
        i++;
        run = i;
    }
    sbuf_put(b, s + run, n - run);
    sbuf_putc(b, '"');
}

const char *sbuf_cstr(sbuf *b) { return b->p ? b->p : ""; }

char *sbuf_detach(sbuf *b, size_t *len)
{
    char *p = b->p;
    if (!p)
        p = calloc(1, 1);
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

/* --- JSON writer ------------------------------------------------------- */

void jw_init(jw *w, sbuf *b)
{
    w->b = b;
    w->depth = 0;
    w->first[0] = true;
    w->after_key = false;
}

/* Writes the separator before a value (or key) at the current depth. */
static void jw_sep(jw *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (!w->first[w->depth])
        sbuf_putc(w->b, ',');
    w->first[w->depth] = false;
}

static void jw_open(jw *w, char c)
{
    jw_sep(w);
    sbuf_putc(w->b, c);
    if (w->depth + 1 < JW_MAX_DEPTH)
        w->depth++;
    else
        w->b->failed = true; /* deeper than any document we produce */
    w->first[w->depth] = true;
}

static void jw_close(jw *w, char c)
{
    sbuf_putc(w->b, c);
    if (w->depth > 0)
        w->depth--;
}

void jw_obj(jw *w) { jw_open(w, '{'); }
void jw_obj_end(jw *w) { jw_close(w, '}'); }
void jw_arr(jw *w) { jw_open(w, '['); }
void jw_arr_end(jw *w) { jw_close(w, ']'); }

void jw_key(jw *w, const char *k)
{
    jw_sep(w);
    sbuf_json_str(w->b, k, strlen(k));
    sbuf_putc(w->b, ':');
    w->after_key = true;
}

void jw_strn(jw *w, const char *s, size_t n)
{
    jw_sep(w);
    if (!s)
        sbuf_put(w->b, "null", 4);
    else
        sbuf_json_str(w->b, s, n);
}

void jw_str(jw *w, const char *s) { jw_strn(w, s, s ? strlen(s) : 0); }

void jw_int(jw *w, int64_t v)
{
    jw_sep(w);
    sbuf_put_i64(w->b, v);
}

void jw_dbl(jw *w, double v)
{
    jw_sep(w);
    if (!isfinite(v)) {
        sbuf_put(w->b, "null", 4);
        return;
    }
    if (v == (double)(int64_t)v && fabs(v) < 1e15) {
        sbuf_put_i64(w->b, (int64_t)v);
        return;
    }
    char tmp[32];
    /* shortest representation that reads back to the same double */
    int n = snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        n = snprintf(tmp, sizeof tmp, "%.17g", v);
    sbuf_put(w->b, tmp, (size_t)n);
}

void jw_bool(jw *w, bool v)
{
    jw_sep(w);
    if (v)
        sbuf_put(w->b, "true", 4);
    else
        sbuf_put(w->b, "false", 5);
}

void jw_null(jw *w)
{
    jw_sep(w);
    sbuf_put(w->b, "null", 4);
}

void jw_raw(jw *w, const char *json, size_t n)
{
    jw_sep(w);
    sbuf_put(w->b, json, n);
}
