/*
 * lex.c - the query language's tokens.
 *
 * The whole (bounded) text is split up front into an array, which lets the
 * parser look ahead freely and lets autocomplete look at the last token.
 * Identifiers are [A-Za-z_][A-Za-z0-9_-]* plus any non-ASCII UTF-8 so keys
 * in other languages work; keywords are identifiers compared without case.
 * Strings take "..." or '...' with JSON-style escapes. Numbers may carry a
 * size unit (2MB, 1.5GiB): decimal units are powers of 1000, binary ones
 * of 1024.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "query/internal.h"

uint32_t query_col(const char *text, size_t pos)
{
    uint32_t col = 1;
    for (size_t i = 0; i < pos; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80)
            col++;
    return col;
}

static bool ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool ident_char(unsigned char c) { return ident_start(c) || (c >= '0' && c <= '9') || c == '-'; }

static bool digit(char c) { return c >= '0' && c <= '9'; }

static kw keyword(const char *s, size_t n)
{
    static const struct {
        const char *w;
        kw k;
    } kws[] = {{"and", KW_AND},       {"or", KW_OR},     {"not", KW_NOT},
               {"in", KW_IN},         {"like", KW_LIKE}, {"exists", KW_EXISTS},
               {"true", KW_TRUE},     {"false", KW_FALSE}, {"null", KW_NULL}};
    for (size_t k = 0; k < sizeof kws / sizeof kws[0]; k++)
        if (strlen(kws[k].w) == n && !strncasecmp(kws[k].w, s, n))
            return kws[k].k;
    return KW_NONE;
}

static int hex4(const char *s, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                   : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        *v = *v << 4 | (uint32_t)d;
    }
    return 0;
}

static void put_utf8(sbuf *b, uint32_t cp)
{
    char u[4];
    if (cp < 0x80) {
        sbuf_putc(b, (char)cp);
        return;
    }
    if (cp < 0x800) {
        u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 63));
        sbuf_put(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 63));
        u[2] = (char)(0x80 | (cp & 63));
        sbuf_put(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 63));
        u[2] = (char)(0x80 | (cp >> 6 & 63)), u[3] = (char)(0x80 | (cp & 63));
        sbuf_put(b, u, 4);
    }
}

/* A string literal starting at text[*pos] (the quote). */
static int lex_string(arena *a, const char *text, size_t len, size_t *pos, bool tolerant, tok *t,
                      err *e)
{
    char q = text[*pos];
    size_t i = *pos + 1;
    sbuf b = SBUF_INIT;
    for (;;) {
        if (i >= len) {
            if (!tolerant) {
                sbuf_free(&b);
                return err_set(e, ERR_INVALID, "unterminated string starting at column %u",
                               query_col(text, *pos));
            }
            t->open = true;
            break;
        }
        char c = text[i];
        if (c == q) {
            i++;
            break;
        }
        if (c != '\\') {
            sbuf_putc(&b, c);
            i++;
            continue;
        }
        if (i + 1 >= len) {
            i++;
            continue; /* a lone backslash at the end: unterminated, caught above */
        }
        char x = text[i + 1];
        size_t esc = i;
        i += 2;
        switch (x) {
        case '"': case '\'': case '\\': case '/': sbuf_putc(&b, x); break;
        case 'n': sbuf_putc(&b, '\n'); break;
        case 't': sbuf_putc(&b, '\t'); break;
        case 'r': sbuf_putc(&b, '\r'); break;
        case 'u': {
            uint32_t cp, lo;
            if (i + 4 > len || hex4(text + i, &cp)) {
                sbuf_free(&b);
                return err_set(e, ERR_INVALID, "invalid \\u escape at column %u: four hex digits "
                               "are needed", query_col(text, esc));
            }
            i += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= len && text[i] == '\\' &&
                text[i + 1] == 'u' && !hex4(text + i + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else if (cp >= 0xD800 && cp < 0xE000) {
                sbuf_free(&b);
                return err_set(e, ERR_INVALID, "invalid \\u escape at column %u: unpaired "
                               "surrogate", query_col(text, esc));
            }
            if (cp == 0) {
                sbuf_free(&b);
                return err_set(e, ERR_INVALID, "strings cannot contain \\u0000 (column %u)",
                               query_col(text, esc));
            }
            put_utf8(&b, cp);
            break;
        }
        default:
            sbuf_free(&b);
            return err_set(e, ERR_INVALID,
                           "invalid escape '\\%c' at column %u; use \\\" \\' \\\\ \\n \\t \\r or "
                           "\\uXXXX", x, query_col(text, esc));
        }
    }
    if (sbuf_failed(&b)) {
        sbuf_free(&b);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    t->kind = T_STRING;
    t->s = arena_strndup(a, sbuf_cstr(&b), b.len);
    t->len = b.len;
    sbuf_free(&b);
    if (!t->s)
        return err_set(e, ERR_INTERNAL, "out of memory");
    *pos = i;
    return 0;
}

static int lex_number(const char *text, size_t len, size_t *pos, tok *t, err *e)
{
    size_t i = *pos, start = i;
    if (text[i] == '-')
        i++;
    while (i < len && digit(text[i]))
        i++;
    bool is_float = false;
    if (i + 1 < len && text[i] == '.' && digit(text[i + 1])) {
        is_float = true;
        i++;
        while (i < len && digit(text[i]))
            i++;
    }
    if (i < len && (text[i] == 'e' || text[i] == 'E')) {
        size_t j = i + 1;
        if (j < len && (text[j] == '+' || text[j] == '-'))
            j++;
        if (j < len && digit(text[j])) {
            is_float = true;
            i = j;
            while (i < len && digit(text[i]))
                i++;
        }
    }
    char num[64];
    size_t nl = i - start;
    if (nl >= sizeof num)
        return err_set(e, ERR_INVALID, "number too long at column %u", query_col(text, start));
    memcpy(num, text + start, nl);
    num[nl] = 0;
    /* unit: letters right after the digits */
    size_t us = i;
    while (i < len && ident_char((unsigned char)text[i]))
        i++;
    double mult = 1;
    if (i > us) {
        static const struct {
            const char *u;
            double m;
        } units[] = {{"b", 1},       {"kb", 1e3},          {"mb", 1e6},
                     {"gb", 1e9},    {"tb", 1e12},         {"kib", 1024.0},
                     {"mib", 1048576.0}, {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
        size_t k = 0, nu = sizeof units / sizeof units[0];
        for (; k < nu; k++)
            if (strlen(units[k].u) == i - us && !strncasecmp(units[k].u, text + us, i - us))
                break;
        if (k == nu)
            return err_set(e, ERR_INVALID,
                           "invalid number '%.*s' at column %u; a number may end with a size "
                           "unit: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB",
                           (int)(i - start > 40 ? 40 : i - start), text + start,
                           query_col(text, start));
        mult = units[k].m;
    }
    t->kind = T_NUMBER;
    errno = 0;
    if (!is_float) {
        long long v = strtoll(num, NULL, 10);
        if (errno == ERANGE)
            return err_set(e, ERR_INVALID, "number out of range at column %u",
                           query_col(text, start));
        if (mult != 1) {
            int64_t m = (int64_t)mult;
            if (v > INT64_MAX / m || v < INT64_MIN / m)
                return err_set(e, ERR_INVALID, "number out of range at column %u",
                               query_col(text, start));
            v *= m;
        }
        t->i = v;
        t->f = (double)v;
    } else {
        double v = strtod(num, NULL) * mult;
        if (!isfinite(v))
            return err_set(e, ERR_INVALID, "number out of range at column %u",
                           query_col(text, start));
        /* 1.5KB is 1500 bytes: a whole number again */
        if (mult != 1 && v == floor(v) && fabs(v) < 9e15) {
            t->i = (int64_t)v;
            t->f = v;
        } else {
            t->is_float = true;
            t->f = v;
        }
    }
    *pos = i;
    return 0;
}

int query_lex(arena *a, const char *text, size_t len, bool tolerant, lexed *out, err *e)
{
    size_t cap = 16, n = 0;
    tok *t = arena_alloc(a, cap * sizeof *t);
    if (!t)
        return err_set(e, ERR_INTERNAL, "out of memory");
    size_t i = 0;
    for (;;) {
        while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
            i++;
        if (n + 1 >= cap) {
            tok *nt = arena_alloc(a, 2 * cap * sizeof *t);
            if (!nt)
                return err_set(e, ERR_INTERNAL, "out of memory");
            memcpy(nt, t, n * sizeof *t);
            t = nt;
            cap *= 2;
        }
        tok *k = &t[n];
        memset(k, 0, sizeof *k);
        k->pos = i;
        if (i >= len) {
            k->kind = T_EOF;
            k->end = i;
            n++;
            break;
        }
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\'') {
            if (lex_string(a, text, len, &i, tolerant, k, e))
                return -1;
        } else if (digit((char)c) || (c == '-' && i + 1 < len && digit(text[i + 1]))) {
            if (lex_number(text, len, &i, k, e))
                return -1;
        } else if (ident_start(c)) {
            size_t s = i;
            while (i < len && ident_char((unsigned char)text[i]))
                i++;
            k->kind = T_IDENT;
            k->s = text + s;
            k->len = i - s;
            k->kw = keyword(k->s, k->len);
        } else {
            char d = i + 1 < len ? text[i + 1] : 0;
            k->kind = T_OP;
            i++;
            switch (c) {
            case '(': k->kind = T_LPAREN; break;
            case ')': k->kind = T_RPAREN; break;
            case ',': k->kind = T_COMMA; break;
            case '.': k->kind = T_DOT; break;
            case '~': k->op = QOP_MATCH; break;
            case '=': k->op = QOP_EQ; if (d == '=') i++; break;
            case '<':
                if (d == '=') k->op = QOP_LE, i++;
                else if (d == '>') k->op = QOP_NE, i++;
                else k->op = QOP_LT;
                break;
            case '>':
                if (d == '=') k->op = QOP_GE, i++;
                else k->op = QOP_GT;
                break;
            case '!':
                if (d == '=') { k->op = QOP_NE; i++; break; }
                if (d == '~') { k->op = QOP_NMATCH; i++; break; }
                return err_set(e, ERR_INVALID, "unexpected '!' at column %u; use '!=', '!~' or "
                               "'not'", query_col(text, k->pos));
            default:
                if (c < 0x20 || c == 0x7f)
                    return err_set(e, ERR_INVALID, "unexpected control character 0x%02X at "
                                   "column %u", c, query_col(text, k->pos));
                return err_set(e, ERR_INVALID, "unexpected character '%c' at column %u", c,
                               query_col(text, k->pos));
            }
        }
        k->end = i;
        n++;
    }
    out->t = t;
    out->n = n;
    return 0;
}
