/*
 * yaml.c - the subset of YAML that Ultralytics data.yaml files use.
 *
 * Block mappings and sequences by indentation (spaces), a sequence at the
 * same indentation as its key ("names:\n- a"), "- key: value" items, flow
 * collections [a, b] and {0: a} (also over several lines), plain, 'single'
 * and "double" quoted scalars, | and > block scalars (kept as text: the
 * official files carry download scripts in them), # comments, a leading
 * "---". Anchors, aliases, tags, and multi-line plain scalars are refused
 * with the line number. Bounded: 1 MiB of text, 16 levels of nesting.
 *
 * No YAML library is a Debian package we already depend on, and the
 * subset is small; this file is fuzzed (fuzz/fuzz_yolo.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/internal.h"

#define YAML_MAX_TEXT (1u << 20)
#define YAML_MAX_DEPTH 16

typedef struct yline {
    int indent;
    char *text; /* content after the indentation, comment stripped, trimmed; "" if blank */
    const char *raw; /* the whole line (for block scalars), NUL-terminated */
    int no;
} yline;

typedef struct yp {
    yline *lines;
    int n, i;
    arena *a;
    err *e;
    int depth;
    bool failed;
} yp;

static int yfail(yp *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int yfail(yp *p, int line, const char *fmt, ...)
{
    if (p->failed)
        return -1;
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    err_set(p->e, ERR_INVALID, "line %d: %s", line, msg);
    p->failed = true;
    return -1;
}

static fmt_ynode *node_new(yp *p, fmt_yaml_kind k, int line)
{
    fmt_ynode *n = arena_zalloc(p->a, sizeof *n);
    if (!n) {
        yfail(p, line, "out of memory");
        return NULL;
    }
    n->kind = k;
    n->line = line;
    return n;
}

static int node_add(yp *p, fmt_ynode *n, const char *key, fmt_ynode *v)
{
    if ((n->n & (n->n - 1)) == 0) { /* grow at powers of two */
        int cap = n->n ? n->n * 2 : 4;
        fmt_ynode **items = arena_alloc(p->a, (size_t)cap * sizeof *items);
        const char **keys = arena_alloc(p->a, (size_t)cap * sizeof *keys);
        if (!items || !keys)
            return yfail(p, n->line, "out of memory");
        if (n->n) {
            memcpy(items, n->items, (size_t)n->n * sizeof *items);
            memcpy(keys, n->keys, (size_t)n->n * sizeof *keys);
        }
        n->items = items;
        n->keys = keys;
    }
    if (key)
        for (int i = 0; i < n->n; i++)
            if (strcmp(n->keys[i], key) == 0)
                return yfail(p, v->line, "the key \"%s\" appears twice", key);
    n->items[n->n] = v;
    n->keys[n->n] = key;
    n->n++;
    return 0;
}

/* --- lines --------------------------------------------------------------------------- */

/* Strips a comment (a '#' at the start or after a blank, outside quotes)
 * and trailing blanks, in place. */
static void strip_comment(char *s)
{
    char q = 0;
    for (char *c = s; *c; c++) {
        if (q == '"' && *c == '\\' && c[1]) {
            c++;
            continue;
        }
        if (q) {
            if (*c == q)
                q = 0;
            continue;
        }
        if ((*c == '"' || *c == '\'') && (c == s || c[-1] == ' ' || c[-1] == '\t' ||
                                          c[-1] == '[' || c[-1] == '{' || c[-1] == ',' ||
                                          c[-1] == ':' || c[-1] == '-')) {
            q = *c;
            continue;
        }
        if (*c == '#' && (c == s || c[-1] == ' ' || c[-1] == '\t')) {
            *c = 0;
            break;
        }
    }
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
}

static int split_lines(yp *p, const char *text, size_t len)
{
    int cap = 64;
    p->lines = arena_alloc(p->a, (size_t)cap * sizeof *p->lines);
    if (!p->lines)
        return yfail(p, 1, "out of memory");
    size_t pos = 0;
    int no = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        no++;
        char *raw = arena_strndup(p->a, text + pos, end - pos);
        if (!raw)
            return yfail(p, no, "out of memory");
        if (strlen(raw) != end - pos)
            return yfail(p, no, "a NUL byte in the text");
        size_t rl = strlen(raw);
        if (rl && raw[rl - 1] == '\r')
            raw[rl - 1] = 0;
        pos = end + 1;
        int ind = 0;
        while (raw[ind] == ' ')
            ind++;
        char *t = arena_strdup(p->a, raw + ind);
        if (!t)
            return yfail(p, no, "out of memory");
        strip_comment(t);
        if (raw[ind] == '\t' && *t)
            return yfail(p, no, "a tab in the indentation (YAML indents with spaces)");
        if (strcmp(t, "---") == 0) {
            bool content = false;
            for (int k = 0; k < p->n; k++)
                content |= p->lines[k].text[0] != 0;
            if (content)
                return yfail(p, no, "a second YAML document (---) is not supported");
            t[0] = 0;
        }
        if (strcmp(t, "...") == 0)
            break;
        if (p->n == cap) {
            cap *= 2;
            yline *nlns = arena_alloc(p->a, (size_t)cap * sizeof *nlns);
            if (!nlns)
                return yfail(p, no, "out of memory");
            memcpy(nlns, p->lines, (size_t)p->n * sizeof *nlns);
            p->lines = nlns;
        }
        p->lines[p->n++] = (yline){ind, t, raw, no};
    }
    return 0;
}

static bool blank(const yline *l) { return l->text[0] == 0; }

static void skip_blank(yp *p)
{
    while (p->i < p->n && blank(&p->lines[p->i]))
        p->i++;
}

static bool is_seq_item(const char *t) { return t[0] == '-' && (t[1] == 0 || t[1] == ' '); }

/* The ':' that separates a mapping key from its value (outside quotes and
 * brackets, followed by a blank or the end), or NULL. */
static char *map_colon(char *t)
{
    if (t[0] == '[' || t[0] == '{')
        return NULL;
    char q = 0;
    for (char *c = t; *c; c++) {
        if (q == '"' && *c == '\\' && c[1]) {
            c++;
            continue;
        }
        if (q) {
            if (*c == q)
                q = 0;
            continue;
        }
        if ((*c == '"' || *c == '\'') && c == t) {
            q = *c;
            continue;
        }
        if (*c == ':' && (c[1] == 0 || c[1] == ' '))
            return c;
    }
    return NULL;
}

/* --- scalars ------------------------------------------------------------------------- */

static void put_utf8(sbuf *b, unsigned v)
{
    if (v < 0x80) {
        sbuf_putc(b, (char)v);
    } else if (v < 0x800) {
        sbuf_putc(b, (char)(0xC0 | v >> 6));
        sbuf_putc(b, (char)(0x80 | (v & 0x3F)));
    } else if (v < 0x10000) {
        sbuf_putc(b, (char)(0xE0 | v >> 12));
        sbuf_putc(b, (char)(0x80 | ((v >> 6) & 0x3F)));
        sbuf_putc(b, (char)(0x80 | (v & 0x3F)));
    } else {
        sbuf_putc(b, (char)(0xF0 | v >> 18));
        sbuf_putc(b, (char)(0x80 | ((v >> 12) & 0x3F)));
        sbuf_putc(b, (char)(0x80 | ((v >> 6) & 0x3F)));
        sbuf_putc(b, (char)(0x80 | (v & 0x3F)));
    }
}

/* A quoted scalar at *s (the opening quote); advances past the closing one. */
static char *unquote(yp *p, const char **s, int line)
{
    const char *c = *s;
    char q = *c++;
    sbuf b = SBUF_INIT;
    for (;;) {
        if (!*c) {
            sbuf_free(&b);
            yfail(p, line, "a quoted string is not closed");
            return NULL;
        }
        if (*c == q) {
            if (q == '\'' && c[1] == '\'') {
                sbuf_putc(&b, '\'');
                c += 2;
                continue;
            }
            c++;
            break;
        }
        if (q == '"' && *c == '\\') {
            c++;
            unsigned v = 0;
            int hex = 0;
            switch (*c) {
            case 'n': sbuf_putc(&b, '\n'); break;
            case 't': sbuf_putc(&b, '\t'); break;
            case 'r': sbuf_putc(&b, '\r'); break;
            case '"': sbuf_putc(&b, '"'); break;
            case '\\': sbuf_putc(&b, '\\'); break;
            case '/': sbuf_putc(&b, '/'); break;
            case ' ': sbuf_putc(&b, ' '); break;
            case 'x': hex = 2; break;
            case 'u': hex = 4; break;
            case 'U': hex = 8; break;
            default:
                sbuf_free(&b);
                yfail(p, line, "unknown escape \\%c", *c ? *c : ' ');
                return NULL;
            }
            for (int k = 0; k < hex; k++) {
                char h = c[1 + k];
                v <<= 4;
                if (h >= '0' && h <= '9')
                    v |= (unsigned)(h - '0');
                else if (h >= 'a' && h <= 'f')
                    v |= (unsigned)(h - 'a' + 10);
                else if (h >= 'A' && h <= 'F')
                    v |= (unsigned)(h - 'A' + 10);
                else {
                    sbuf_free(&b);
                    yfail(p, line, "bad hex escape");
                    return NULL;
                }
            }
            if (hex) {
                if (v == 0 || v > 0x10FFFF) {
                    sbuf_free(&b);
                    yfail(p, line, "escape \\u%04X is not a character", v);
                    return NULL;
                }
                put_utf8(&b, v);
                c += hex;
            }
            c++;
            continue;
        }
        sbuf_putc(&b, *c++);
    }
    *s = c;
    char *out = arena_strdup(p->a, sbuf_cstr(&b));
    sbuf_free(&b);
    if (!out)
        yfail(p, line, "out of memory");
    return out;
}

static fmt_ynode *scalar(yp *p, const char *text, size_t n, bool quoted, int line)
{
    fmt_ynode *v = node_new(p, FMT_YAML_SCALAR, line);
    if (!v)
        return NULL;
    v->s = arena_strndup(p->a, text, n);
    v->quoted = quoted;
    if (!v->s) {
        yfail(p, line, "out of memory");
        return NULL;
    }
    return v;
}

static bool refused_start(char c) { return c == '&' || c == '*' || c == '!' || c == '%' || c == '@' || c == '`'; }

/* --- flow collections ------------------------------------------------------------------ */

static void fskip(const char **s)
{
    while (**s == ' ' || **s == '\t')
        (*s)++;
}

static fmt_ynode *flow_value(yp *p, const char **s, int line, bool key);

static fmt_ynode *flow_plain(yp *p, const char **s, int line, bool key)
{
    const char *st = *s;
    while (**s && **s != ',' && **s != ']' && **s != '}' &&
           !(key && **s == ':' && ((*s)[1] == ' ' || (*s)[1] == ',' || (*s)[1] == '}' ||
                                   (*s)[1] == ']' || (*s)[1] == 0)))
        (*s)++;
    size_t n = (size_t)(*s - st);
    while (n && (st[n - 1] == ' ' || st[n - 1] == '\t'))
        n--;
    return scalar(p, st, n, false, line);
}

static fmt_ynode *flow_value(yp *p, const char **s, int line, bool key)
{
    fskip(s);
    char c = **s;
    if (refused_start(c)) {
        yfail(p, line, "anchors, aliases and tags are not supported");
        return NULL;
    }
    if (c == '"' || c == '\'') {
        char *t = unquote(p, s, line);
        if (!t)
            return NULL;
        fmt_ynode *v = node_new(p, FMT_YAML_SCALAR, line);
        if (v) {
            v->s = t;
            v->quoted = true;
        }
        return v;
    }
    if (c != '[' && c != '{')
        return flow_plain(p, s, line, key);
    if (++p->depth > YAML_MAX_DEPTH) {
        yfail(p, line, "nesting deeper than %d levels", YAML_MAX_DEPTH);
        return NULL;
    }
    bool seq = c == '[';
    char close = seq ? ']' : '}';
    fmt_ynode *n = node_new(p, seq ? FMT_YAML_SEQ : FMT_YAML_MAP, line);
    if (!n)
        return NULL;
    (*s)++;
    for (;;) {
        fskip(s);
        if (**s == close) {
            (*s)++;
            break;
        }
        if (!**s) {
            yfail(p, line, "'%c' is not closed", c);
            return NULL;
        }
        if (seq) {
            fmt_ynode *v = flow_value(p, s, line, false);
            if (!v || node_add(p, n, NULL, v) < 0)
                return NULL;
        } else {
            fmt_ynode *k = flow_value(p, s, line, true);
            if (!k)
                return NULL;
            if (k->kind != FMT_YAML_SCALAR) {
                yfail(p, line, "a mapping key must be a scalar");
                return NULL;
            }
            fskip(s);
            fmt_ynode *v;
            if (**s == ':') {
                (*s)++;
                v = flow_value(p, s, line, false);
            } else {
                v = scalar(p, "", 0, false, line);
            }
            if (!v || node_add(p, n, k->s, v) < 0)
                return NULL;
        }
        fskip(s);
        if (**s == ',') {
            (*s)++;
            continue;
        }
        if (!**s) {
            yfail(p, line, "'%c' is not closed", c);
            return NULL;
        }
        if (**s != close) {
            yfail(p, line, "expected ',' or '%c'", close);
            return NULL;
        }
    }
    p->depth--;
    return n;
}

/* --- block structure --------------------------------------------------------------------- */

static fmt_ynode *parse_node(yp *p, int min_indent);

/* A value written on the line itself (after "key:" or "- "). */
static fmt_ynode *inline_value(yp *p, const char *t, int line)
{
    if (refused_start(t[0])) {
        yfail(p, line, "anchors, aliases and tags are not supported");
        return NULL;
    }
    if (t[0] == '|' || t[0] == '>') {
        yfail(p, line, "a block scalar here is not supported");
        return NULL;
    }
    if (t[0] == '[' || t[0] == '{') {
        /* a flow collection, maybe over the following lines */
        sbuf b = SBUF_INIT;
        sbuf_puts(&b, t);
        for (;;) {
            int depth = 0;
            char q = 0;
            for (const char *c = sbuf_cstr(&b); *c; c++) {
                if (q) {
                    if (q == '"' && *c == '\\' && c[1])
                        c++;
                    else if (*c == q)
                        q = 0;
                } else if (*c == '"' || *c == '\'') {
                    q = *c;
                } else if (*c == '[' || *c == '{') {
                    depth++;
                } else if (*c == ']' || *c == '}') {
                    depth--;
                }
            }
            if (depth <= 0 || p->i >= p->n)
                break;
            if (b.len > YAML_MAX_TEXT)
                break;
            sbuf_putc(&b, ' ');
            sbuf_puts(&b, p->lines[p->i].text);
            p->i++;
        }
        if (sbuf_failed(&b)) {
            sbuf_free(&b);
            yfail(p, line, "out of memory");
            return NULL;
        }
        const char *s = sbuf_cstr(&b);
        fmt_ynode *v = flow_value(p, &s, line, false);
        if (v) {
            fskip(&s);
            if (*s) {
                yfail(p, line, "unexpected text after the flow collection: %.20s", s);
                v = NULL;
            }
        }
        sbuf_free(&b);
        return v;
    }
    if (t[0] == '"' || t[0] == '\'') {
        const char *s = t;
        char *u = unquote(p, &s, line);
        if (!u)
            return NULL;
        fskip(&s);
        if (*s) {
            yfail(p, line, "unexpected text after a quoted string: %.20s", s);
            return NULL;
        }
        fmt_ynode *v = node_new(p, FMT_YAML_SCALAR, line);
        if (v) {
            v->s = u;
            v->quoted = true;
        }
        return v;
    }
    return scalar(p, t, strlen(t), false, line);
}

static fmt_ynode *block_scalar(yp *p, int parent_indent, int line)
{
    sbuf b = SBUF_INIT;
    int ind = -1;
    while (p->i < p->n) {
        yline *l = &p->lines[p->i];
        bool is_blank = l->raw[strspn(l->raw, " \t")] == 0;
        if (!is_blank && l->indent <= parent_indent)
            break;
        if (!is_blank && ind < 0)
            ind = l->indent;
        const char *r = l->raw;
        size_t skip = ind > 0 && strlen(r) >= (size_t)ind ? (size_t)ind : strlen(r);
        sbuf_puts(&b, r + (is_blank ? strlen(r) : skip));
        sbuf_putc(&b, '\n');
        p->i++;
    }
    fmt_ynode *v = scalar(p, sbuf_cstr(&b), b.len, true, line);
    sbuf_free(&b);
    return v;
}

static fmt_ynode *parse_seq(yp *p, int ind)
{
    yline *first = &p->lines[p->i];
    fmt_ynode *n = node_new(p, FMT_YAML_SEQ, first->no);
    if (!n)
        return NULL;
    for (;;) {
        skip_blank(p);
        if (p->i >= p->n)
            break;
        yline *l = &p->lines[p->i];
        if (l->indent < ind)
            break;
        if (l->indent > ind)
            return yfail(p, l->no, "unexpected indentation"), NULL;
        if (!is_seq_item(l->text))
            break;
        char *rest = l->text + 1;
        while (*rest == ' ')
            rest++;
        fmt_ynode *v;
        if (!*rest) {
            p->i++;
            v = parse_node(p, ind + 1);
            if (!v && !p->failed)
                v = scalar(p, "", 0, false, l->no);
        } else if (is_seq_item(rest) || map_colon(rest)) {
            /* "- key: value" (or "- - x"): the item starts on this line, at
             * the column of rest */
            l->indent = ind + (int)(rest - l->text);
            l->text = rest;
            v = parse_node(p, l->indent);
        } else {
            p->i++;
            v = inline_value(p, rest, l->no);
        }
        if (!v || node_add(p, n, NULL, v) < 0)
            return NULL;
    }
    return n;
}

static fmt_ynode *parse_map(yp *p, int ind)
{
    yline *first = &p->lines[p->i];
    fmt_ynode *n = node_new(p, FMT_YAML_MAP, first->no);
    if (!n)
        return NULL;
    for (;;) {
        skip_blank(p);
        if (p->i >= p->n)
            break;
        yline *l = &p->lines[p->i];
        if (l->indent < ind)
            break;
        if (l->indent > ind)
            return yfail(p, l->no, "unexpected indentation"), NULL;
        if (is_seq_item(l->text))
            return yfail(p, l->no, "a list item where a \"key: value\" was expected"), NULL;
        char *colon = map_colon(l->text);
        if (!colon)
            return yfail(p, l->no, "expected \"key: value\", got \"%.40s\"", l->text), NULL;
        *colon = 0;
        const char *key;
        if (l->text[0] == '"' || l->text[0] == '\'') {
            const char *s = l->text;
            char *k = unquote(p, &s, l->no);
            if (!k)
                return NULL;
            key = k;
        } else {
            size_t kn = strlen(l->text);
            while (kn && l->text[kn - 1] == ' ')
                kn--;
            if (refused_start(l->text[0]) || l->text[0] == '?')
                return yfail(p, l->no, "complex keys, anchors and tags are not supported"), NULL;
            key = arena_strndup(p->a, l->text, kn);
            if (!key)
                return yfail(p, l->no, "out of memory"), NULL;
        }
        char *rest = colon + 1;
        while (*rest == ' ')
            rest++;
        int no = l->no;
        p->i++;
        fmt_ynode *v;
        if (!*rest) {
            skip_blank(p);
            if (p->i < p->n && p->lines[p->i].indent > ind)
                v = parse_node(p, ind + 1);
            else if (p->i < p->n && p->lines[p->i].indent == ind &&
                     is_seq_item(p->lines[p->i].text))
                v = parse_seq(p, ind);
            else
                v = scalar(p, "", 0, false, no);
        } else if (rest[0] == '|' || rest[0] == '>') {
            v = block_scalar(p, ind, no);
        } else {
            v = inline_value(p, rest, no);
        }
        if (!v || node_add(p, n, key, v) < 0)
            return NULL;
    }
    return n;
}

static fmt_ynode *parse_node(yp *p, int min_indent)
{
    skip_blank(p);
    if (p->i >= p->n)
        return NULL;
    yline *l = &p->lines[p->i];
    if (l->indent < min_indent)
        return NULL;
    if (++p->depth > YAML_MAX_DEPTH) {
        yfail(p, l->no, "nesting deeper than %d levels", YAML_MAX_DEPTH);
        return NULL;
    }
    fmt_ynode *v;
    if (is_seq_item(l->text))
        v = parse_seq(p, l->indent);
    else if (map_colon(l->text))
        v = parse_map(p, l->indent);
    else {
        p->i++;
        v = inline_value(p, l->text, l->no);
    }
    p->depth--;
    return v;
}

fmt_yaml *fmt_yaml_parse(const char *text, size_t n, err *e)
{
    if (n > YAML_MAX_TEXT) {
        err_set(e, ERR_TOO_LARGE, "%zu bytes is above the limit of %u", n, YAML_MAX_TEXT);
        return NULL;
    }
    fmt_yaml *y = calloc(1, sizeof *y);
    if (!y || !(y->a = arena_new(8192))) {
        free(y);
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    yp p = {.a = y->a, .e = e};
    if (split_lines(&p, text, n) < 0) {
        fmt_yaml_free(y);
        return NULL;
    }
    y->root = parse_node(&p, 0);
    if (!p.failed) {
        skip_blank(&p);
        if (p.i < p.n)
            yfail(&p, p.lines[p.i].no, "unexpected text: \"%.40s\"", p.lines[p.i].text);
    }
    if (p.failed) {
        fmt_yaml_free(y);
        return NULL;
    }
    return y;
}

void fmt_yaml_free(fmt_yaml *y)
{
    if (!y)
        return;
    arena_free(y->a);
    free(y);
}

const fmt_ynode *fmt_ynode_get(const fmt_ynode *map, const char *key)
{
    if (!map || map->kind != FMT_YAML_MAP)
        return NULL;
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i], key) == 0)
            return map->items[i];
    return NULL;
}
