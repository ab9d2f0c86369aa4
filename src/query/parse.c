/*
 * parse.c - recursive descent over the tokens, with type checking against
 * the schema.
 *
 *   query     := [ or_expr ] EOF
 *   or_expr   := and_expr { "or" and_expr }
 *   and_expr  := unary { "and" unary }
 *   unary     := "not" unary | primary
 *   primary   := "(" or_expr ")"
 *              | "exists" field
 *              | field "(" [ value { "," value } ] ")"       custom fields
 *              | field op value
 *              | field [ "not" ] "in" "(" value { "," value } ")"
 *              | field [ "not" ] "like" value
 *              | field                                       boolean fields
 *   field     := IDENT { "." ( IDENT | STRING | NUMBER ) }   keys: JSON fields
 *   op        := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "~" | "!~"
 *   value     := STRING | NUMBER | "true" | "false" | "null" | IDENT (a bare word)
 *
 * so `not` binds tighter than `and`, which binds tighter than `or`. Chains
 * of and/or become one n-ary node. Depth (parentheses and nots) is counted
 * as we descend, so recursion is bounded by the limit, not by the input.
 *
 * Errors say what was expected, what was found and the 1-based column.
 * The same parser serves autocomplete (complete.c): with p->cmp set,
 * reaching the end of the text where something is expected records what,
 * and the parse stops with PARSE_STOP.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "query/internal.h"

void query_limits_fill(query_limits *l, const query_limits *in)
{
    memset(l, 0, sizeof *l);
    if (in)
        *l = *in;
    if (!l->max_len)
        l->max_len = QUERY_DEFAULT_MAX_LEN;
    if (l->max_depth <= 0)
        l->max_depth = QUERY_DEFAULT_MAX_DEPTH;
    if (l->max_terms <= 0)
        l->max_terms = QUERY_DEFAULT_MAX_TERMS;
    if (l->max_values <= 0)
        l->max_values = QUERY_DEFAULT_MAX_VALUES;
}

const char *query_op_text(query_op op)
{
    switch (op) {
    case QOP_EQ: return "=";
    case QOP_NE: return "!=";
    case QOP_LT: return "<";
    case QOP_LE: return "<=";
    case QOP_GT: return ">";
    case QOP_GE: return ">=";
    case QOP_MATCH: return "~";
    case QOP_NMATCH: return "!~";
    case QOP_LIKE: return "like";
    case QOP_NLIKE: return "not like";
    case QOP_IN: return "in";
    case QOP_NIN: return "not in";
    case QOP_EXISTS: return "exists";
    case QOP_CALL: return "(";
    }
    return "?";
}

const char *const *query_ops_for(query_type t)
{
    static const char *const num[] = {"=", "!=", "<", "<=", ">", ">=", "in", "not in", NULL};
    static const char *const text[] = {"=", "!=", "<", "<=", ">", ">=", "in", "not in",
                                       "~", "!~", "like", "not like", NULL};
    static const char *const boolean[] = {"=", "!=", NULL};
    static const char *const tag[] = {"=", "!=", "in", "not in", "~", "!~", "like", "not like",
                                      NULL};
    static const char *const custom[] = {"(", "=", "!=", "<", "<=", ">", ">=", NULL};
    switch (t) {
    case QUERY_INT: case QUERY_FLOAT: case QUERY_TIME: return num;
    case QUERY_TEXT: case QUERY_JSON: return text;
    case QUERY_BOOL: return boolean;
    case QUERY_TAG: return tag;
    default: return custom;
    }
}

static bool op_allowed(query_type t, query_op op)
{
    const char *const *ops = query_ops_for(t);
    const char *txt = query_op_text(op);
    for (; *ops; ops++)
        if (!strcmp(*ops, txt))
            return true;
    return false;
}

static const char *type_name(query_type t)
{
    switch (t) {
    case QUERY_INT: case QUERY_FLOAT: return "a number";
    case QUERY_TEXT: return "a text";
    case QUERY_TIME: return "a time";
    case QUERY_BOOL: return "a boolean";
    case QUERY_TAG: return "a tag";
    case QUERY_JSON: return "a JSON object";
    default: return "a custom field";
    }
}

static const char *vtype_name(query_vtype t)
{
    switch (t) {
    case QV_INT: case QV_FLOAT: return "a number";
    case QV_TEXT: return "a string";
    case QV_BOOL: return "a boolean";
    default: return "null";
    }
}

const query_field *query_schema_find(const query_schema *s, const char *name, size_t len)
{
    for (size_t i = 0; i < s->nfields; i++)
        if (strlen(s->fields[i].name) == len && !strncasecmp(s->fields[i].name, name, len))
            return &s->fields[i];
    return NULL;
}

size_t query_suggest_fields(const query_schema *s, const char *prefix, const char **names,
                            size_t max)
{
    size_t n = 0, pl = strlen(prefix);
    for (size_t i = 0; i < s->nfields; i++)
        if (!strncasecmp(s->fields[i].name, prefix, pl)) {
            if (n < max)
                names[n] = s->fields[i].name;
            n++;
        }
    return n;
}

/* Levenshtein distance, case-insensitive, for "did you mean". */
static size_t edit_distance(const char *a, size_t na, const char *b, size_t nb)
{
    size_t row[65];
    if (na > 64 || nb > 64)
        return 99;
    for (size_t j = 0; j <= nb; j++)
        row[j] = j;
    for (size_t i = 1; i <= na; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= nb; j++) {
            size_t up = row[j];
            char x = a[i - 1], y = b[j - 1];
            if (x >= 'A' && x <= 'Z') x = (char)(x + 32);
            if (y >= 'A' && y <= 'Z') y = (char)(y + 32);
            size_t best = diag + (x != y);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

/* --- helpers ------------------------------------------------------------------ */

static const tok *peek(const parser *p) { return &p->t[p->i]; }

static const tok *next(parser *p)
{
    const tok *t = &p->t[p->i];
    if (t->kind != T_EOF)
        p->i++;
    return t;
}

static bool is_kw(const tok *t, kw k) { return t->kind == T_IDENT && t->kw == k; }

static uint32_t col_of(const parser *p, const tok *t) { return query_col(p->text, t->pos); }

/* "'abc'", "keyword 'and'", "the end of the query" */
static const char *describe(const parser *p, const tok *t, char *buf, size_t n)
{
    if (t->kind == T_EOF)
        return "the end of the query";
    size_t len = t->end - t->pos;
    if (len > 30)
        len = 30;
    snprintf(buf, n, "%s'%.*s'", t->kind == T_IDENT && t->kw ? "keyword " : "", (int)len,
             p->text + t->pos);
    return buf;
}

/* Completion mode: record what fits at the end of the text. */
static int want(parser *p, unsigned expect, const query_field *f, const char **keys,
                size_t nkeys, const char *others)
{
    query_completion *c = p->cmp;
    c->expect = expect;
    c->field = f;
    c->others = others;
    c->key[0] = 0;
    for (size_t k = 0, at = 0; k < nkeys; k++) {
        int w = snprintf(c->key + at, sizeof c->key - at, "%s%s", k ? "." : "", keys[k]);
        if (w < 0 || (size_t)w >= sizeof c->key - at)
            break;
        at += (size_t)w;
    }
    if (f && (expect & QUERY_EXPECT_OPERATOR))
        c->operators = query_ops_for(f->type);
    return PARSE_STOP;
}

static qnode *new_node(parser *p, qn_kind kind)
{
    qnode *n = arena_zalloc(p->a, sizeof *n);
    if (n)
        n->kind = kind;
    return n;
}

static int oom(parser *p) { return err_set(p->e, ERR_INTERNAL, "out of memory"); }

/* --- values --------------------------------------------------------------------- */

static int type_error(parser *p, const query_field *f, const query_value *v, const char *hint)
{
    return err_set(p->e, ERR_INVALID, "%s is %s; got %s at column %u%s", f->name,
                   type_name(f->type), vtype_name(v->type), v->col, hint ? hint : "");
}

/* Checks (and for times converts) a literal against the field and operator. */
static int check_value(parser *p, const query_field *f, query_op op, query_value *v,
                       const tok *t)
{
    if (v->type == QV_NULL) {
        if (op != QOP_EQ && op != QOP_NE && f->type != QUERY_CUSTOM)
            return err_set(p->e, ERR_INVALID,
                           "null can only be compared with = or != (column %u)", v->col);
        return 0;
    }
    if ((op == QOP_MATCH || op == QOP_NMATCH || op == QOP_LIKE || op == QOP_NLIKE) &&
        v->type != QV_TEXT)
        return err_set(p->e, ERR_INVALID, "'%s' needs a string pattern; got %s at column %u",
                       query_op_text(op), vtype_name(v->type), v->col);
    switch (f->type) {
    case QUERY_INT:
    case QUERY_FLOAT:
        if (v->type != QV_INT && v->type != QV_FLOAT)
            return type_error(p, f, v, NULL);
        return 0;
    case QUERY_TEXT:
        if (v->type != QV_TEXT)
            return type_error(p, f, v, v->type == QV_BOOL ? NULL : "; put it in quotes");
        return 0;
    case QUERY_BOOL:
        if (v->type != QV_BOOL)
            return type_error(p, f, v, "; use true or false");
        return 0;
    case QUERY_TAG:
        if (v->type == QV_INT || v->type == QV_FLOAT) {
            /* tag = 2024 means the tag named "2024" */
            v->type = QV_TEXT;
            v->s = arena_strndup(p->a, p->text + t->pos, t->end - t->pos);
            v->len = t->end - t->pos;
            if (!v->s)
                return oom(p);
        }
        if (v->type != QV_TEXT)
            return type_error(p, f, v, NULL);
        return 0;
    case QUERY_TIME: {
        if (v->type != QV_TEXT)
            return type_error(p, f, v, "; write a date like \"2026-01-31\" or "
                                       "\"2026-01-31T10:00:00Z\"");
        int64_t ms;
        if (v->len > 40 || strlen(v->s) != v->len || time_parse_iso(v->s, &ms) != 0)
            return err_set(p->e, ERR_INVALID,
                           "%s is a time; \"%.40s\" at column %u is not an ISO date like "
                           "\"2026-01-31\" or \"2026-01-31T10:00:00Z\"",
                           f->name, v->s, v->col);
        v->date_only = v->len == 10;
        v->type = QV_INT;
        v->i = ms;
        v->f = (double)ms;
        return 0;
    }
    case QUERY_JSON:
        if (v->type == QV_BOOL && op != QOP_EQ && op != QOP_NE)
            return err_set(p->e, ERR_INVALID,
                           "booleans can only be compared with = or != (column %u)", v->col);
        return 0;
    default:
        return 0;
    }
}

static int parse_value(parser *p, const query_field *f, const char **keys, size_t nkeys,
                       query_op op, const tok *after, query_value *v)
{
    const tok *t = peek(p);
    char buf[48];
    if (t->kind == T_EOF && p->cmp)
        return want(p, QUERY_EXPECT_VALUE, f, keys, nkeys, NULL);
    memset(v, 0, sizeof *v);
    v->col = col_of(p, t);
    switch (t->kind) {
    case T_STRING:
        v->type = QV_TEXT;
        v->s = t->s;
        v->len = t->len;
        break;
    case T_NUMBER:
        v->type = t->is_float ? QV_FLOAT : QV_INT;
        v->i = t->i;
        v->f = t->f;
        break;
    case T_IDENT:
        if (t->kw == KW_TRUE || t->kw == KW_FALSE) {
            v->type = QV_BOOL;
            v->b = t->kw == KW_TRUE;
        } else if (t->kw == KW_NULL) {
            v->type = QV_NULL;
        } else if (t->kw == KW_NONE) {
            v->type = QV_TEXT; /* a bare word: format = png */
            v->s = arena_strndup(p->a, t->s, t->len);
            v->len = t->len;
            if (!v->s)
                return oom(p);
        } else {
            goto expected;
        }
        break;
    default:
        goto expected;
    }
    if (++p->values > p->lim.max_values)
        return err_set(p->e, ERR_TOO_LARGE, "too many values at column %u: the limit is %d",
                       v->col, p->lim.max_values);
    next(p);
    return check_value(p, f, op, v, t);
expected:
    return err_set(p->e, ERR_INVALID, "expected a value after '%.*s' at column %u, got %s",
                   (int)(after->end - after->pos), p->text + after->pos, col_of(p, t),
                   describe(p, t, buf, sizeof buf));
}

/* "(" value { "," value } ")" for in-lists (allow_empty: call arguments) */
static int parse_list(parser *p, qnode *n, const tok *after, bool allow_empty)
{
    const tok *t = peek(p);
    char buf[48];
    if (t->kind == T_EOF && p->cmp)
        return want(p, QUERY_EXPECT_VALUE, n->field, n->keys, n->nkeys, "(");
    if (t->kind != T_LPAREN)
        return err_set(p->e, ERR_INVALID, "expected '(' after '%s' at column %u, got %s",
                       query_op_text(n->op), col_of(p, t), describe(p, t, buf, sizeof buf));
    const tok *open = next(p);
    size_t cap = 4;
    n->vals = arena_alloc(p->a, cap * sizeof *n->vals);
    if (!n->vals)
        return oom(p);
    if (allow_empty && peek(p)->kind == T_RPAREN) {
        next(p);
        return 0;
    }
    const tok *prev = open;
    for (;;) {
        if (n->nvals == cap) {
            query_value *nv = arena_alloc(p->a, 2 * cap * sizeof *nv);
            if (!nv)
                return oom(p);
            memcpy(nv, n->vals, cap * sizeof *nv);
            n->vals = nv;
            cap *= 2;
        }
        int rc = parse_value(p, n->field, n->keys, n->nkeys, n->op, prev, &n->vals[n->nvals]);
        if (rc)
            return rc;
        n->nvals++;
        t = peek(p);
        if (t->kind == T_EOF && p->cmp)
            return want(p, 0, n->field, n->keys, n->nkeys, ", )");
        if (t->kind == T_RPAREN) {
            next(p);
            break;
        }
        if (t->kind != T_COMMA)
            return err_set(p->e, ERR_INVALID,
                           "expected ',' or ')' in the list opened at column %u, got %s at "
                           "column %u", col_of(p, open), describe(p, t, buf, sizeof buf),
                           col_of(p, t));
        prev = next(p);
    }
    (void)after;
    if (n->field->type == QUERY_JSON && n->op != QOP_CALL) {
        /* one comparison type per list: numbers or strings */
        bool num = n->vals[0].type == QV_INT || n->vals[0].type == QV_FLOAT;
        for (size_t k = 0; k < n->nvals; k++) {
            bool kn = n->vals[k].type == QV_INT || n->vals[k].type == QV_FLOAT;
            if (n->vals[k].type == QV_NULL || n->vals[k].type == QV_BOOL || kn != num)
                return err_set(p->e, ERR_INVALID,
                               "the values of a list must be all numbers or all strings (column "
                               "%u)", n->vals[k].col);
        }
    }
    for (size_t k = 0; k < n->nvals && n->op != QOP_CALL; k++)
        if (n->vals[k].type == QV_NULL)
            return err_set(p->e, ERR_INVALID, "null cannot be in a list (column %u)",
                           n->vals[k].col);
    return 0;
}

/* --- fields --------------------------------------------------------------------- */

static int unknown_field(parser *p, const tok *t)
{
    const query_field *best = NULL;
    size_t bd = 99;
    for (size_t i = 0; i < p->schema->nfields; i++) {
        const char *nm = p->schema->fields[i].name;
        size_t d = edit_distance(t->s, t->len, nm, strlen(nm));
        if (d < bd) {
            bd = d;
            best = &p->schema->fields[i];
        }
    }
    size_t tol = t->len <= 4 ? 1 : 2;
    if (best && bd <= tol)
        return err_set(p->e, ERR_INVALID, "unknown field '%.*s' at column %u; did you mean '%s'?",
                       (int)(t->len > 40 ? 40 : t->len), t->s, col_of(p, t), best->name);
    return err_set(p->e, ERR_INVALID, "unknown field '%.*s' at column %u",
                   (int)(t->len > 40 ? 40 : t->len), t->s, col_of(p, t));
}

#define MAX_KEYS 8

static int parse_field(parser *p, qnode *n, bool key_optional)
{
    const tok *t = next(p);
    char buf[48];
    n->col = col_of(p, t);
    n->field = NULL;
    /* qualified names: a schema field named "data.width" is written as
     * IDENT "." IDENT; the longest name the schema knows wins */
    if (peek(p)->kind == T_DOT && p->t[p->i + 1].kind == T_IDENT && t->len + p->t[p->i + 1].len < 64) {
        const tok *k = &p->t[p->i + 1];
        char qn[72];
        snprintf(qn, sizeof qn, "%.*s.%.*s", (int)t->len, t->s, (int)k->len, k->s);
        n->field = query_schema_find(p->schema, qn, strlen(qn));
        if (n->field) {
            next(p);
            next(p);
        }
    }
    if (!n->field)
        n->field = query_schema_find(p->schema, t->s, t->len);
    if (!n->field)
        return unknown_field(p, t);
    if (n->field->type != QUERY_JSON) {
        if (peek(p)->kind == T_DOT)
            return err_set(p->e, ERR_INVALID,
                           "%s has no keys at column %u; only JSON fields (like meta.key) do",
                           n->field->name, col_of(p, peek(p)));
        return 0;
    }
    n->keys = arena_alloc(p->a, MAX_KEYS * sizeof *n->keys);
    if (!n->keys)
        return oom(p);
    while (peek(p)->kind == T_DOT) {
        const tok *dot = next(p);
        const tok *k = peek(p);
        if (k->kind == T_EOF && p->cmp)
            return want(p, QUERY_EXPECT_KEY, n->field, n->keys, n->nkeys, NULL);
        if (k->kind != T_IDENT && k->kind != T_STRING && k->kind != T_NUMBER)
            return err_set(p->e, ERR_INVALID, "expected a key after '.' at column %u, got %s",
                           col_of(p, dot), describe(p, k, buf, sizeof buf));
        if (n->nkeys == MAX_KEYS)
            return err_set(p->e, ERR_INVALID, "keys nest at most %d deep (column %u)", MAX_KEYS,
                           col_of(p, k));
        const char *s = k->kind == T_STRING ? k->s : p->text + k->pos;
        size_t len = k->kind == T_STRING ? k->len : k->end - k->pos;
        if (len == 0 || memchr(s, '"', len) || memchr(s, 0, len))
            return err_set(p->e, ERR_INVALID,
                           "key at column %u cannot be queried: keys must be non-empty and "
                           "without '\"'", col_of(p, k));
        n->keys[n->nkeys] = arena_strndup(p->a, s, len);
        if (!n->keys[n->nkeys])
            return oom(p);
        n->nkeys++;
        next(p);
    }
    if (n->nkeys == 0 && !key_optional) {
        if (p->cmp && peek(p)->kind == T_EOF)
            return want(p, QUERY_EXPECT_KEY, n->field, NULL, 0, ".");
        return err_set(p->e, ERR_INVALID, "%s needs a key at column %u: %s.<key>",
                       n->field->name, n->col, n->field->name);
    }
    return 0;
}

/* --- expressions ------------------------------------------------------------------ */

static int parse_or(parser *p, qnode **out);

static int count_term(parser *p, const qnode *n)
{
    if (++p->terms > p->lim.max_terms)
        return err_set(p->e, ERR_TOO_LARGE, "too many terms at column %u: the limit is %d",
                       n->col, p->lim.max_terms);
    return 0;
}

static int parse_predicate(parser *p, qnode **out)
{
    qnode *n = new_node(p, QN_PRED);
    char buf[48];
    if (!n)
        return oom(p);
    size_t fstart = p->i;
    int rc = parse_field(p, n, false);
    if (rc)
        return rc;
    if ((rc = count_term(p, n)))
        return rc;
    *out = n;
    const tok *ft = &p->t[fstart], *fend = &p->t[p->i - 1], *t = peek(p);
    const query_field *f = n->field;
    if (f->type == QUERY_CUSTOM && t->kind == T_LPAREN) {
        n->op = QOP_CALL;
        return parse_list(p, n, t, true);
    }
    if (t->kind == T_EOF && p->cmp)
        return want(p, QUERY_EXPECT_OPERATOR | (f->type == QUERY_BOOL ? QUERY_EXPECT_CONNECTIVE : 0),
                    f, n->keys, n->nkeys, NULL);
    bool term_end = t->kind == T_EOF || t->kind == T_RPAREN || is_kw(t, KW_AND) || is_kw(t, KW_OR);
    if (f->type == QUERY_BOOL && term_end) {
        /* `reviewed` alone means reviewed = true */
        n->op = QOP_EQ;
        n->vals = arena_zalloc(p->a, sizeof *n->vals);
        if (!n->vals)
            return oom(p);
        n->vals[0] = (query_value){.type = QV_BOOL, .b = true, .col = n->col};
        n->nvals = 1;
        return 0;
    }
    const tok *opt = t;
    if (t->kind == T_OP) {
        n->op = t->op;
    } else if (is_kw(t, KW_IN)) {
        n->op = QOP_IN;
    } else if (is_kw(t, KW_LIKE)) {
        n->op = QOP_LIKE;
    } else if (is_kw(t, KW_NOT)) {
        const tok *t2 = &p->t[p->i + 1];
        if (t2->kind == T_EOF && p->cmp) {
            next(p);
            return want(p, QUERY_EXPECT_OPERATOR, f, n->keys, n->nkeys, "in like");
        }
        if (!is_kw(t2, KW_IN) && !is_kw(t2, KW_LIKE))
            return err_set(p->e, ERR_INVALID, "expected 'in' or 'like' after 'not' at column %u, "
                           "got %s", col_of(p, t2), describe(p, t2, buf, sizeof buf));
        n->op = is_kw(t2, KW_IN) ? QOP_NIN : QOP_NLIKE;
        next(p);
    } else {
        return err_set(p->e, ERR_INVALID,
                       "expected an operator after '%.*s' at column %u, got %s; %s takes %s",
                       (int)(fend->end - ft->pos), p->text + ft->pos, col_of(p, t),
                       describe(p, t, buf, sizeof buf), f->name,
                       f->type == QUERY_BOOL ? "= or !=" : "=, !=, <, <=, >, >=, in, ~ or like");
    }
    if (!op_allowed(f->type, n->op)) {
        const char *const *ops = query_ops_for(f->type);
        char list[160] = "";
        for (size_t k = 0, at = 0; ops[k]; k++)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", k ? ", " : "", ops[k]);
        return err_set(p->e, ERR_INVALID, "'%s' does not apply to %s (%s) at column %u; use %s",
                       query_op_text(n->op), f->name, type_name(f->type), col_of(p, t), list);
    }
    next(p);
    if (n->op == QOP_IN || n->op == QOP_NIN)
        return parse_list(p, n, opt, false);
    n->vals = arena_zalloc(p->a, sizeof *n->vals);
    if (!n->vals)
        return oom(p);
    n->nvals = 1;
    return parse_value(p, f, n->keys, n->nkeys, n->op, opt, &n->vals[0]);
}

static int enter(parser *p, const tok *t)
{
    if (++p->depth > p->lim.max_depth)
        return err_set(p->e, ERR_TOO_LARGE,
                       "query nested too deeply at column %u: the limit is %d levels of "
                       "parentheses and 'not'", col_of(p, t), p->lim.max_depth);
    return 0;
}

static int parse_primary(parser *p, qnode **out)
{
    const tok *t = peek(p);
    char buf[48];
    if (t->kind == T_EOF && p->cmp)
        return want(p, QUERY_EXPECT_FIELD, NULL, NULL, 0, "not exists (");
    if (t->kind == T_LPAREN) {
        next(p);
        if (enter(p, t))
            return -1;
        int rc = parse_or(p, out);
        p->depth--;
        if (rc)
            return rc;
        const tok *c = peek(p);
        if (c->kind == T_EOF && p->cmp)
            return want(p, QUERY_EXPECT_CONNECTIVE, NULL, NULL, 0, ")");
        if (c->kind != T_RPAREN)
            return err_set(p->e, ERR_INVALID,
                           "expected ')' to close the '(' at column %u, got %s at column %u",
                           col_of(p, t), describe(p, c, buf, sizeof buf), col_of(p, c));
        next(p);
        return 0;
    }
    if (is_kw(t, KW_EXISTS)) {
        next(p);
        const tok *f = peek(p);
        if (f->kind == T_EOF && p->cmp)
            return want(p, QUERY_EXPECT_FIELD, NULL, NULL, 0, NULL);
        if (f->kind != T_IDENT || f->kw != KW_NONE)
            return err_set(p->e, ERR_INVALID, "expected a field name after 'exists' at column "
                           "%u, got %s", col_of(p, f), describe(p, f, buf, sizeof buf));
        qnode *n = new_node(p, QN_PRED);
        if (!n)
            return oom(p);
        int rc = parse_field(p, n, true);
        if (rc)
            return rc;
        if (n->field->type == QUERY_CUSTOM)
            return err_set(p->e, ERR_INVALID, "'exists' does not apply to %s (column %u)",
                           n->field->name, n->col);
        n->op = QOP_EXISTS;
        *out = n;
        return count_term(p, n);
    }
    if (t->kind == T_IDENT && t->kw == KW_NONE)
        return parse_predicate(p, out);
    if (t->kind == T_RPAREN)
        return err_set(p->e, ERR_INVALID, "unexpected ')' at column %u: a term is missing",
                       col_of(p, t));
    const tok *prev = p->i ? &p->t[p->i - 1] : NULL;
    if (prev)
        return err_set(p->e, ERR_INVALID, "expected a field name after '%.*s' at column %u, got %s",
                       (int)(prev->end - prev->pos), p->text + prev->pos, col_of(p, t),
                       describe(p, t, buf, sizeof buf));
    return err_set(p->e, ERR_INVALID, "expected a field name at column %u, got %s", col_of(p, t),
                   describe(p, t, buf, sizeof buf));
}

static int parse_unary(parser *p, qnode **out)
{
    const tok *t = peek(p);
    if (!is_kw(t, KW_NOT))
        return parse_primary(p, out);
    next(p);
    if (enter(p, t))
        return -1;
    qnode *kid = NULL;
    int rc = parse_unary(p, &kid);
    p->depth--;
    if (rc)
        return rc;
    qnode *n = new_node(p, QN_NOT);
    if (!n || !(n->kids = arena_alloc(p->a, sizeof *n->kids)))
        return oom(p);
    n->kids[0] = kid;
    n->nkids = 1;
    *out = n;
    return 0;
}

/* and_expr / or_expr: one n-ary node per chain */
static int parse_chain(parser *p, qnode **out, kw sep)
{
    qnode *first = NULL;
    int rc = sep == KW_OR ? parse_chain(p, &first, KW_AND) : parse_unary(p, &first);
    if (rc)
        return rc;
    if (!is_kw(peek(p), sep)) {
        *out = first;
        return 0;
    }
    size_t cap = 4, n = 0;
    qnode **kids = arena_alloc(p->a, cap * sizeof *kids);
    if (!kids)
        return oom(p);
    kids[n++] = first;
    while (is_kw(peek(p), sep)) {
        next(p);
        if (n == cap) {
            qnode **nk = arena_alloc(p->a, 2 * cap * sizeof *nk);
            if (!nk)
                return oom(p);
            memcpy(nk, kids, n * sizeof *nk);
            kids = nk;
            cap *= 2;
        }
        rc = sep == KW_OR ? parse_chain(p, &kids[n], KW_AND) : parse_unary(p, &kids[n]);
        if (rc)
            return rc;
        n++;
    }
    qnode *node = new_node(p, sep == KW_OR ? QN_OR : QN_AND);
    if (!node)
        return oom(p);
    node->kids = kids;
    node->nkids = n;
    *out = node;
    return 0;
}

static int parse_or(parser *p, qnode **out) { return parse_chain(p, out, KW_OR); }

int query_parse_tokens(parser *p, qnode **root)
{
    char buf[48];
    *root = NULL;
    if (peek(p)->kind == T_EOF) {
        if (p->cmp)
            return want(p, QUERY_EXPECT_FIELD, NULL, NULL, 0, "not exists (");
        return 0;
    }
    int rc = parse_or(p, root);
    if (rc)
        return rc;
    const tok *t = peek(p);
    if (t->kind == T_EOF) {
        if (p->cmp)
            return want(p, QUERY_EXPECT_CONNECTIVE, NULL, NULL, 0, NULL);
        return 0;
    }
    if (t->kind == T_RPAREN)
        return err_set(p->e, ERR_INVALID, "unexpected ')' at column %u: no '(' to close",
                       col_of(p, t));
    return err_set(p->e, ERR_INVALID,
                   "expected 'and', 'or' or the end of the query at column %u, got %s",
                   col_of(p, t), describe(p, t, buf, sizeof buf));
}

int query_parse(const char *text, size_t len, const query_schema *schema,
                const query_limits *lim, query **out, err *e)
{
    *out = NULL;
    query_limits l;
    query_limits_fill(&l, lim);
    if (len > l.max_len)
        return err_set(e, ERR_TOO_LARGE, "query too long: %zu bytes, the limit is %zu", len,
                       l.max_len);
    if (!utf8_valid(text, len) || memchr(text, 0, len))
        return err_set(e, ERR_INVALID, "the query is not valid UTF-8 text");
    arena *a = arena_new(4096);
    query *q = a ? arena_zalloc(a, sizeof *q) : NULL;
    if (!q) {
        arena_free(a);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    q->mem = a;
    q->schema = schema;
    /* the tokens point into the text: keep a copy in the arena */
    char *copy = arena_strndup(a, text, len);
    lexed lx;
    if (!copy || query_lex(a, copy, len, false, &lx, e)) {
        if (!copy)
            err_set(e, ERR_INTERNAL, "out of memory");
        arena_free(a);
        return -1;
    }
    parser p = {.a = a, .text = copy, .schema = schema, .t = lx.t, .n = lx.n, .lim = l, .e = e};
    if (query_parse_tokens(&p, &q->root)) {
        arena_free(a);
        return -1;
    }
    *out = q;
    return 0;
}

void query_free(query *q)
{
    if (q)
        arena_free(q->mem);
}

bool query_is_empty(const query *q) { return !q || !q->root; }

static bool is_tag_eq(const qnode *n)
{
    return n->kind == QN_PRED && n->field->type == QUERY_TAG && n->op == QOP_EQ &&
           n->nvals == 1 && n->vals[0].type == QV_TEXT;
}

bool query_take_tag_eq(query *q, const char **value, size_t *len)
{
    qnode *r = q ? q->root : NULL;
    if (!r)
        return false;
    if (is_tag_eq(r)) {
        *value = r->vals[0].s;
        *len = r->vals[0].len;
        q->root = NULL;
        return true;
    }
    if (r->kind != QN_AND)
        return false;
    for (size_t k = 0; k < r->nkids; k++)
        if (is_tag_eq(r->kids[k])) {
            *value = r->kids[k]->vals[0].s;
            *len = r->kids[k]->vals[0].len;
            memmove(&r->kids[k], &r->kids[k + 1], (r->nkids - k - 1) * sizeof *r->kids);
            if (--r->nkids == 1)
                q->root = r->kids[0];
            return true;
        }
    return false;
}
