/*
 * compile.c - syntax tree to a parameterised WHERE fragment, for SQLite or
 * PostgreSQL.
 *
 * The SQL text is made only of the schema's expressions, our keywords and
 * $N placeholders; every literal and every JSON key travels as a
 * parameter. Both dialects number placeholders $N (the SQLite driver binds
 * them by name: sqlite3_bind_parameter_index(stmt, "$3")), and a
 * placeholder may appear more than once in the text (a JSON key is used
 * by a type test and by the extraction).
 *
 * Per field type:
 *   column  col OP $n, col IN (...), col LIKE/ILIKE $n ESCAPE '\'; a
 *           date-only time literal means the whole day (UTC):
 *           created = "2026-01-01" is [midnight, next midnight)
 *   tag     the schema's EXISTS template around a condition on the tag
 *           column; != and not in become NOT EXISTS ("has no such tag")
 *   JSON    typed by the literal: the value must exist with that JSON
 *           type for the comparison to hold, so "abc" is never > 100.
 *           SQLite: json_type/json_extract(col, $path) with the path
 *           '$."key"."sub"' as a parameter. PostgreSQL (jsonb):
 *           col->$k::text ... ->>, numbers compared as numeric behind a
 *           CASE so non-numeric values cannot raise a cast error.
 *   custom  the schema's callback, through the query_emit_* functions.
 *
 * Glob patterns (~) become LIKE patterns: * -> %, ? -> _, with %, _ and
 * \ escaped; a backslash in the glob makes the next character literal.
 * Pattern matching is case-insensitive in both dialects (LIKE in SQLite,
 * ILIKE in PostgreSQL).
 */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "query/internal.h"

struct query_emit {
    query_dialect d;
    sbuf sql;
    query_param *params;
    size_t n, cap;
    int first;
    arena *a;
    bool failed;
};

query_dialect query_emit_dialect(const query_emit *em) { return em->d; }

void query_emit_sql(query_emit *em, const char *sql) { sbuf_puts(&em->sql, sql); }

static int add_param(query_emit *em, query_param p)
{
    if (em->n == em->cap) {
        size_t cap = em->cap ? 2 * em->cap : 8;
        query_param *np = realloc(em->params, cap * sizeof *np);
        if (!np) {
            em->failed = true;
            return 0;
        }
        em->params = np;
        em->cap = cap;
    }
    em->params[em->n] = p;
    return em->first + (int)em->n++;
}

static void ref(query_emit *em, int idx) { sbuf_printf(&em->sql, "$%d", idx); }

static int param_text(query_emit *em, const char *s, size_t len)
{
    char *c = arena_strndup(em->a, s, len);
    if (!c) {
        em->failed = true;
        return 0;
    }
    return add_param(em, (query_param){.type = QUERY_P_TEXT, .s = c, .len = len});
}

void query_emit_int(query_emit *em, int64_t v)
{
    ref(em, add_param(em, (query_param){.type = QUERY_P_INT, .i = v, .f = (double)v}));
}

void query_emit_float(query_emit *em, double v)
{
    ref(em, add_param(em, (query_param){.type = QUERY_P_FLOAT, .f = v}));
}

void query_emit_text(query_emit *em, const char *s, size_t len) { ref(em, param_text(em, s, len)); }

/* A literal as a parameter; returns its index. */
static int param_value(query_emit *em, const query_value *v)
{
    switch (v->type) {
    case QV_INT: return add_param(em, (query_param){.type = QUERY_P_INT, .i = v->i, .f = (double)v->i});
    case QV_FLOAT: return add_param(em, (query_param){.type = QUERY_P_FLOAT, .f = v->f});
    case QV_TEXT: return param_text(em, v->s, v->len);
    case QV_BOOL: return add_param(em, (query_param){.type = QUERY_P_INT, .i = v->b, .f = v->b});
    default: return add_param(em, (query_param){.type = QUERY_P_NULL});
    }
}

/* glob (* ?) to a LIKE pattern with '\' as the escape character */
static int param_glob(query_emit *em, const char *s, size_t len)
{
    sbuf b = SBUF_INIT;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < len)
            c = s[++i];
        else if (c == '*') {
            sbuf_putc(&b, '%');
            continue;
        } else if (c == '?') {
            sbuf_putc(&b, '_');
            continue;
        }
        if (c == '%' || c == '_' || c == '\\')
            sbuf_putc(&b, '\\');
        sbuf_putc(&b, c);
    }
    if (sbuf_failed(&b))
        em->failed = true;
    int idx = param_text(em, sbuf_cstr(&b), b.len);
    sbuf_free(&b);
    return idx;
}

static const char *sql_op(query_op op)
{
    switch (op) {
    case QOP_EQ: return " = ";
    case QOP_NE: return " <> ";
    case QOP_LT: return " < ";
    case QOP_LE: return " <= ";
    case QOP_GT: return " > ";
    case QOP_GE: return " >= ";
    default: return " ? ";
    }
}

static bool is_pattern(query_op op)
{
    return op == QOP_MATCH || op == QOP_NMATCH || op == QOP_LIKE || op == QOP_NLIKE;
}

static bool is_negative_pattern(query_op op) { return op == QOP_NMATCH || op == QOP_NLIKE; }

/* " LIKE $n ESCAPE '\'" (or NOT LIKE, ILIKE) for value v */
static void emit_like(query_emit *em, query_op op, const query_value *v, const char *cast)
{
    sbuf_puts(&em->sql, is_negative_pattern(op) ? " NOT " : " ");
    sbuf_puts(&em->sql, em->d == QUERY_POSTGRES ? "ILIKE " : "LIKE ");
    bool glob = op == QOP_MATCH || op == QOP_NMATCH;
    ref(em, glob ? param_glob(em, v->s, v->len) : param_text(em, v->s, v->len));
    sbuf_puts(&em->sql, cast);
    sbuf_puts(&em->sql, " ESCAPE '\\'");
}

static void emit_list(query_emit *em, const qnode *n, const char *cast)
{
    sbuf_puts(&em->sql, n->op == QOP_NIN ? " NOT IN (" : " IN (");
    for (size_t k = 0; k < n->nvals; k++) {
        if (k)
            sbuf_puts(&em->sql, ", ");
        ref(em, param_value(em, &n->vals[k]));
        sbuf_puts(&em->sql, cast);
    }
    sbuf_putc(&em->sql, ')');
}

/* --- plain columns ---------------------------------------------------------------- */

#define DAY_MS 86400000LL

static void emit_day(query_emit *em, const char *col, int64_t day, query_op op)
{
    int64_t next = day + DAY_MS;
    sbuf *s = &em->sql;
    switch (op) {
    case QOP_EQ:
    case QOP_IN:
        sbuf_printf(s, "(%s >= ", col);
        query_emit_int(em, day);
        sbuf_printf(s, " AND %s < ", col);
        query_emit_int(em, next);
        sbuf_putc(s, ')');
        break;
    case QOP_NE:
        sbuf_printf(s, "(%s < ", col);
        query_emit_int(em, day);
        sbuf_printf(s, " OR %s >= ", col);
        query_emit_int(em, next);
        sbuf_putc(s, ')');
        break;
    default: /* the day is included by <= and excluded by > */
        sbuf_printf(s, "(%s%s", col, op == QOP_LE ? " < " : op == QOP_GT ? " >= " : sql_op(op));
        query_emit_int(em, op == QOP_LE || op == QOP_GT ? next : day);
        sbuf_putc(s, ')');
    }
}

static void compile_column(query_emit *em, const qnode *n)
{
    const char *col = n->field->sql;
    sbuf *s = &em->sql;
    if (n->op == QOP_EXISTS) {
        sbuf_printf(s, "(%s IS NOT NULL)", col);
        return;
    }
    const query_value *v = &n->vals[0];
    if (n->nvals == 1 && v->type == QV_NULL) {
        sbuf_printf(s, "(%s IS %sNULL)", col, n->op == QOP_NE ? "NOT " : "");
        return;
    }
    if (n->field->type == QUERY_BOOL) {
        bool want = v->b == (n->op == QOP_EQ);
        if (em->d == QUERY_POSTGRES)
            sbuf_printf(s, "(%s = %s)", col, want ? "TRUE" : "FALSE");
        else
            sbuf_printf(s, "(%s = %d)", col, want ? 1 : 0);
        return;
    }
    if (n->field->type == QUERY_TIME && (n->op == QOP_IN || n->op == QOP_NIN)) {
        bool days = false;
        for (size_t k = 0; k < n->nvals; k++)
            days |= n->vals[k].date_only;
        if (days) {
            sbuf_puts(s, n->op == QOP_NIN ? "(NOT (" : "((");
            for (size_t k = 0; k < n->nvals; k++) {
                if (k)
                    sbuf_puts(s, " OR ");
                if (n->vals[k].date_only)
                    emit_day(em, col, n->vals[k].i, QOP_EQ);
                else {
                    sbuf_printf(s, "(%s = ", col);
                    query_emit_int(em, n->vals[k].i);
                    sbuf_putc(s, ')');
                }
            }
            sbuf_puts(s, "))");
            return;
        }
    }
    if (n->field->type == QUERY_TIME && v->date_only && n->nvals == 1) {
        emit_day(em, col, v->i, n->op);
        return;
    }
    sbuf_printf(s, "(%s", col);
    if (n->op == QOP_IN || n->op == QOP_NIN)
        emit_list(em, n, "");
    else if (is_pattern(n->op))
        emit_like(em, n->op, v, "");
    else {
        sbuf_puts(s, sql_op(n->op));
        ref(em, param_value(em, v));
    }
    sbuf_putc(s, ')');
}

/* --- tags ------------------------------------------------------------------------- */

static int compile_tag(query_emit *em, const qnode *n, err *e)
{
    const char *tpl = n->field->sql, *hole = tpl ? strstr(tpl, "{}") : NULL;
    if (!hole)
        return err_set(e, ERR_INTERNAL, "schema: the template of tag field %s has no {}",
                       n->field->name);
    const char *tcol = n->field->tag_column ? n->field->tag_column : "name";
    const query_value *v = n->nvals ? &n->vals[0] : NULL;
    bool any = n->op == QOP_EXISTS || (v && v->type == QV_NULL);
    bool negate = n->op == QOP_NE || n->op == QOP_NIN || is_negative_pattern(n->op);
    if (any)
        negate = n->op == QOP_EQ; /* tag = null: has no tag at all */
    sbuf *s = &em->sql;
    sbuf_puts(s, negate ? "(NOT " : "(");
    sbuf_put(s, tpl, (size_t)(hole - tpl));
    if (any) {
        sbuf_puts(s, "1=1");
    } else if (n->op == QOP_IN || n->op == QOP_NIN) {
        sbuf_puts(s, tcol);
        sbuf_puts(s, " IN (");
        for (size_t k = 0; k < n->nvals; k++) {
            if (k)
                sbuf_puts(s, ", ");
            ref(em, param_value(em, &n->vals[k]));
        }
        sbuf_putc(s, ')');
    } else if (is_pattern(n->op)) {
        sbuf_puts(s, tcol);
        /* the negation is the NOT EXISTS around it */
        query_op pos = n->op == QOP_NMATCH ? QOP_MATCH : n->op == QOP_NLIKE ? QOP_LIKE : n->op;
        emit_like(em, pos, v, "");
    } else {
        sbuf_puts(s, tcol);
        sbuf_puts(s, " = ");
        ref(em, param_value(em, v));
    }
    sbuf_puts(s, hole + 2);
    sbuf_putc(s, ')');
    return 0;
}

/* --- JSON ------------------------------------------------------------------------- */

typedef struct jpath {
    int idx[8]; /* PG: one parameter per key; SQLite: idx[0] is the path */
    size_t n;
} jpath;

static void json_path_params(query_emit *em, const qnode *n, jpath *jp)
{
    jp->n = 0;
    if (em->d == QUERY_SQLITE) {
        sbuf b = SBUF_INIT;
        sbuf_putc(&b, '$');
        for (size_t k = 0; k < n->nkeys; k++)
            sbuf_printf(&b, ".\"%s\"", n->keys[k]);
        if (sbuf_failed(&b))
            em->failed = true;
        jp->idx[jp->n++] = param_text(em, sbuf_cstr(&b), b.len);
        sbuf_free(&b);
    } else {
        for (size_t k = 0; k < n->nkeys; k++)
            jp->idx[jp->n++] = param_text(em, n->keys[k], strlen(n->keys[k]));
    }
}

/* PG: col->$a::text->$b::text (jsonb), or with the last hop ->> (text) */
static void pg_path(query_emit *em, const char *col, const jpath *jp, bool as_text)
{
    sbuf_puts(&em->sql, col);
    for (size_t k = 0; k < jp->n; k++) {
        sbuf_puts(&em->sql, as_text && k + 1 == jp->n ? "->>" : "->");
        ref(em, jp->idx[k]);
        sbuf_puts(&em->sql, "::text");
    }
}

/* SQLite: json_type(col, $p) / json_extract(col, $p) */
/* True when a JSON string of this value is stored as the value itself between
 * quotes by every writer of our JSON columns (jansson's json_dumps without
 * ENSURE_ASCII or ESCAPE_SLASH, jw_str, SQLite's json functions): printable
 * ASCII without '"', '\\' and '/'. Only then may SQLite look for it as a
 * substring first. */
static bool literal_in_json(const char *s, size_t len)
{
    if (len == 0 || len > 200)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '/')
            return false;
    }
    return true;
}

static void lite_fn(query_emit *em, const char *fn, const char *col, const jpath *jp)
{
    sbuf_printf(&em->sql, "%s(%s, ", fn, col);
    ref(em, jp->idx[0]);
    sbuf_putc(&em->sql, ')');
}

static void compile_json(query_emit *em, const qnode *n)
{
    const char *col = n->field->sql;
    sbuf *s = &em->sql;
    bool pg = em->d == QUERY_POSTGRES;
    if (n->nkeys == 0) { /* exists meta: a non-empty object */
        if (pg)
            sbuf_printf(s, "(%s IS NOT NULL AND %s <> '{}'::jsonb)", col, col);
        else
            sbuf_printf(s, "(%s IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(%s)))", col, col);
        return;
    }
    jpath jp;
    json_path_params(em, n, &jp);
    if (n->op == QOP_EXISTS) {
        sbuf_putc(s, '(');
        if (pg)
            pg_path(em, col, &jp, false);
        else
            lite_fn(em, "json_type", col, &jp);
        sbuf_puts(s, " IS NOT NULL)");
        return;
    }
    const query_value *v = &n->vals[0];
    if (v->type == QV_NULL) {
        sbuf_puts(s, "(COALESCE(");
        if (pg) {
            sbuf_puts(s, "jsonb_typeof(");
            pg_path(em, col, &jp, false);
            sbuf_putc(s, ')');
        } else {
            lite_fn(em, "json_type", col, &jp);
        }
        sbuf_printf(s, ", 'null') %s 'null')", n->op == QOP_NE ? "<>" : "=");
        return;
    }
    if (v->type == QV_BOOL) {
        bool want = v->b == (n->op == QOP_EQ);
        if (pg) {
            sbuf_puts(s, "(jsonb_typeof(");
            pg_path(em, col, &jp, false);
            sbuf_puts(s, ") = 'boolean' AND ");
            pg_path(em, col, &jp, true);
            sbuf_printf(s, " = '%s')", want ? "true" : "false");
        } else {
            sbuf_putc(s, '(');
            lite_fn(em, "json_type", col, &jp);
            sbuf_printf(s, " = '%s')", want ? "true" : "false");
        }
        return;
    }
    bool num = v->type == QV_INT || v->type == QV_FLOAT;
    const char *cast = pg ? (num ? "::numeric" : "::text") : "";
    /* the typed value expression */
    if (pg && num) {
        sbuf_puts(s, "(CASE WHEN jsonb_typeof(");
        pg_path(em, col, &jp, false);
        sbuf_puts(s, ") = 'number' THEN (");
        pg_path(em, col, &jp, true);
        sbuf_puts(s, ")::numeric END");
    } else if (pg) {
        sbuf_puts(s, "(jsonb_typeof(");
        pg_path(em, col, &jp, false);
        sbuf_puts(s, ") = 'string' AND ");
        pg_path(em, col, &jp, true);
    } else {
        sbuf_putc(s, '(');
        if (n->op == QOP_EQ && v->type == QV_TEXT && literal_in_json(v->s, v->len)) {
            /* the stored text must hold "value" for it to be there: a substring
             * test skips the JSON parse of most rows that cannot match */
            sbuf_printf(s, "instr(%s, ", col);
            char *quoted = arena_alloc(em->a, v->len + 2);
            if (!quoted)
                em->failed = true;
            else {
                quoted[0] = quoted[v->len + 1] = '"';
                memcpy(quoted + 1, v->s, v->len);
            }
            ref(em, quoted ? param_text(em, quoted, v->len + 2) : 0);
            sbuf_puts(s, ") > 0 AND ");
        }
        lite_fn(em, "json_type", col, &jp);
        sbuf_puts(s, num ? " IN ('integer', 'real') AND " : " = 'text' AND ");
        lite_fn(em, "json_extract", col, &jp);
    }
    if (n->op == QOP_IN || n->op == QOP_NIN)
        emit_list(em, n, cast);
    else if (is_pattern(n->op))
        emit_like(em, n->op, v, cast);
    else {
        sbuf_puts(s, sql_op(n->op));
        ref(em, param_value(em, v));
        sbuf_puts(s, cast);
    }
    sbuf_putc(s, ')');
}

/* --- tree ------------------------------------------------------------------------- */

static int compile_node(query_emit *em, const qnode *n, err *e)
{
    sbuf *s = &em->sql;
    switch (n->kind) {
    case QN_AND:
    case QN_OR:
        sbuf_putc(s, '(');
        for (size_t k = 0; k < n->nkids; k++) {
            if (k)
                sbuf_puts(s, n->kind == QN_AND ? " AND " : " OR ");
            if (compile_node(em, n->kids[k], e))
                return -1;
        }
        sbuf_putc(s, ')');
        return 0;
    case QN_NOT:
        /* two-valued: a comparison with a missing value is false, so its
         * negation is true */
        sbuf_puts(s, "(NOT COALESCE(");
        if (compile_node(em, n->kids[0], e))
            return -1;
        sbuf_puts(s, em->d == QUERY_POSTGRES ? ", FALSE))" : ", 0))");
        return 0;
    case QN_PRED:
        break;
    }
    switch (n->field->type) {
    case QUERY_TAG:
        return compile_tag(em, n, e);
    case QUERY_JSON:
        compile_json(em, n);
        return 0;
    case QUERY_CUSTOM: {
        if (!n->field->compile)
            return err_set(e, ERR_INTERNAL, "field %s has no compile function", n->field->name);
        query_pred pr = {n->field, n->op, n->vals, n->nvals, n->col};
        sbuf_putc(s, '(');
        if (n->field->compile(em, &pr, n->field->ud, e))
            return -1;
        sbuf_putc(s, ')');
        return 0;
    }
    default:
        compile_column(em, n);
        return 0;
    }
}

void query_sql_free(query_sql *s)
{
    if (!s)
        return;
    arena_free(s->mem);
    memset(s, 0, sizeof *s);
}

int query_compile(const query *q, query_dialect d, int first_index, query_sql *out, err *e)
{
    memset(out, 0, sizeof *out);
    if (d != QUERY_SQLITE && d != QUERY_POSTGRES)
        return err_set(e, ERR_INTERNAL, "unknown SQL dialect %d", (int)d);
    if (first_index < 1)
        return err_set(e, ERR_INTERNAL, "placeholders start at $1, not $%d", first_index);
    arena *a = arena_new(1024);
    if (!a)
        return err_set(e, ERR_INTERNAL, "out of memory");
    query_emit em = {.d = d, .sql = SBUF_INIT, .first = first_index, .a = a};
    int rc = 0;
    if (!q || !q->root)
        sbuf_puts(&em.sql, "1=1");
    else
        rc = compile_node(&em, q->root, e);
    if (!rc && (em.failed || sbuf_failed(&em.sql)))
        rc = err_set(e, ERR_INTERNAL, "out of memory compiling the query");
    char *where = rc ? NULL : arena_strndup(a, sbuf_cstr(&em.sql), em.sql.len);
    query_param *params = rc || !em.n ? NULL : arena_alloc(a, em.n * sizeof *params);
    if (!rc && (!where || (em.n && !params)))
        rc = err_set(e, ERR_INTERNAL, "out of memory compiling the query");
    if (rc) {
        sbuf_free(&em.sql);
        free(em.params);
        arena_free(a);
        return -1;
    }
    if (em.n)
        memcpy(params, em.params, em.n * sizeof *params);
    out->where = where;
    out->where_len = em.sql.len;
    out->params = params;
    out->nparams = em.n;
    out->next_index = first_index + (int)em.n;
    out->mem = a;
    sbuf_free(&em.sql);
    free(em.params);
    return 0;
}

int query_to_sql(const char *text, size_t len, const query_schema *schema,
                 const query_limits *lim, query_dialect d, int first_index, query_sql *out,
                 err *e)
{
    query *q;
    memset(out, 0, sizeof *out);
    if (query_parse(text, len, schema, lim, &q, e))
        return -1;
    int rc = query_compile(q, d, first_index, out, e);
    query_free(q);
    return rc;
}
