/*
 * complete.c - autocomplete: what may come at the cursor of a partial
 * query.
 *
 * The text up to the cursor is lexed tolerantly (an open string is fine)
 * and run through the real parser in completion mode: the first place
 * where the parser needs a token and finds the end of the text says what is
 * expected there (parse.c, want()). So completion can never disagree with
 * the grammar.
 *
 * When the cursor touches an unfinished word, number or open string, that
 * token is what the user is typing: it is taken out of the token stream,
 * becomes the prefix, and the replace range covers the whole token in the
 * full text (the cursor may be in the middle of it). No database access:
 * the caller fills the suggestions (field names from the schema, keys and
 * values from its tables).
 */
#include <string.h>
#include <strings.h>

#include "base/util.h"
#include "query/internal.h"

static bool word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c >= 0x80;
}

/* End of the string literal that starts at q (the quote) in the full text. */
static size_t string_end(const char *text, size_t len, size_t q)
{
    char quote = text[q];
    for (size_t i = q + 1; i < len; i++) {
        if (text[i] == '\\')
            i++;
        else if (text[i] == quote)
            return i + 1;
    }
    return len;
}

static void set_prefix(query_completion *c, const char *s, size_t n)
{
    if (n >= sizeof c->prefix)
        n = sizeof c->prefix - 1;
    memcpy(c->prefix, s, n);
    c->prefix[n] = 0;
}

/* Whether some field's name starts with s[0..n) (case-insensitive). */
static bool begins_a_field(const query_schema *schema, const char *s, size_t n)
{
    for (size_t i = 0; i < schema->nfields; i++)
        if (strlen(schema->fields[i].name) >= n && strncasecmp(schema->fields[i].name, s, n) == 0)
            return true;
    return false;
}

/*
 * A qualified field name being typed: "data.wi" or "data." lexes as IDENT
 * DOT [IDENT], which the parser would read as the field "data" and a key.
 * When "data" is no field but "data.wi" begins one (the dataset schema's
 * data.width), the words from "data" to the cursor are one partial field
 * name: they become the prefix and are taken out of the token stream.
 */
static bool qualified_partial(const query_schema *schema, const char *copy, const char *text,
                              size_t len, size_t cursor, lexed *lx, query_completion *out)
{
    if (lx->n < 3)
        return false;
    tok *t = lx->t;
    size_t last = lx->n - 2, dot, head;
    if (t[last].kind == T_IDENT && t[last].end == cursor && last >= 2 && t[last - 1].kind == T_DOT &&
        t[last - 1].end == t[last].pos)
        dot = last - 1;
    else if (t[last].kind == T_DOT && t[last].end == cursor)
        dot = last;
    else
        return false;
    if (dot < 1 || t[dot - 1].kind != T_IDENT || t[dot - 1].end != t[dot].pos || t[dot - 1].kw != KW_NONE)
        return false;
    head = dot - 1;
    if (query_schema_find(schema, copy + t[head].pos, t[head].end - t[head].pos))
        return false; /* a JSON field and its key (meta.weather) */
    size_t from = t[head].pos;
    if (!begins_a_field(schema, copy + from, cursor - from))
        return false;
    out->replace_from = from;
    set_prefix(out, copy + from, cursor - from);
    size_t end = cursor;
    while (end < len && word_char((unsigned char)text[end]))
        end++;
    out->replace_to = end;
    memset(&t[head], 0, sizeof t[head]);
    t[head].kind = T_EOF;
    t[head].pos = t[head].end = from;
    lx->n = head + 1;
    return true;
}

int query_complete(const char *text, size_t len, size_t cursor, const query_schema *schema,
                   query_completion *out, err *e)
{
    memset(out, 0, sizeof *out);
    query_limits lim;
    query_limits_fill(&lim, NULL);
    if (cursor > len)
        cursor = len;
    if (len > lim.max_len)
        return err_set(e, ERR_TOO_LARGE, "query too long: %zu bytes, the limit is %zu", len,
                       lim.max_len);
    if (!utf8_valid(text, cursor) || memchr(text, 0, cursor))
        return err_set(e, ERR_INVALID, "the query is not valid UTF-8 text");
    out->replace_from = out->replace_to = cursor;
    arena *a = arena_new(4096);
    char *copy = a ? arena_strndup(a, text, cursor) : NULL;
    lexed lx;
    if (!copy) {
        arena_free(a);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    if (query_lex(a, copy, cursor, true, &lx, e)) {
        arena_free(a);
        return -1;
    }
    if (qualified_partial(schema, copy, text, len, cursor, &lx, out)) {
        /* taken: "data.wi" is one partial field name */
    } else if (lx.n >= 2) {
        tok *last = &lx.t[lx.n - 2];
        bool partial = last->end == cursor &&
                       (last->kind == T_IDENT || last->kind == T_NUMBER ||
                        (last->kind == T_STRING && last->open));
        if (partial) {
            out->replace_from = last->pos;
            if (last->kind == T_STRING) {
                out->in_string = true;
                set_prefix(out, last->s, last->len);
                out->replace_to = string_end(text, len, last->pos);
            } else {
                set_prefix(out, copy + last->pos, last->end - last->pos);
                size_t end = cursor;
                while (end < len && word_char((unsigned char)text[end]) && text[end] != '.')
                    end++;
                out->replace_to = end;
            }
            /* the token being typed is not part of what the parser sees */
            memset(last, 0, sizeof *last);
            last->kind = T_EOF;
            last->pos = last->end = out->replace_from;
            lx.n--;
        }
    }
    parser p = {.a = a, .text = copy, .schema = schema, .t = lx.t, .n = lx.n, .lim = lim,
                .e = e, .cmp = out};
    qnode *root;
    int rc = query_parse_tokens(&p, &root);
    arena_free(a);
    if (rc == -1) {
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

/* --- the JSON answer ------------------------------------------------------------- */

void query_complete_json_suggest(jw *w, const char *text, const char *kind, const char *help)
{
    jw_obj(w);
    jw_kstr(w, "text", text);
    jw_kstr(w, "kind", kind);
    if (help)
        jw_kstr(w, "help", help);
    jw_obj_end(w);
}

int query_complete_json_begin(jw *w, const char *q, size_t cursor, const query_schema *schema,
                              query_completion *comp, char *like, size_t like_size, err *e)
{
    size_t len = strlen(q);
    if (cursor > len)
        cursor = len;
    if (query_complete(q, len, cursor, schema, comp, e) != 0) {
        if (e->code == ERR_NONE)
            e->code = ERR_INVALID;
        return -1;
    }
    size_t k = 0;
    for (const char *p = comp->prefix; *p && k + 3 < like_size; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            like[k++] = '\\';
        like[k++] = *p;
    }
    like[k++] = '%';
    like[k] = 0;
    static const struct {
        unsigned bit;
        const char *name;
    } ex[] = {{QUERY_EXPECT_FIELD, "field"},
              {QUERY_EXPECT_KEY, "key"},
              {QUERY_EXPECT_OPERATOR, "operator"},
              {QUERY_EXPECT_VALUE, "value"},
              {QUERY_EXPECT_CONNECTIVE, "connective"}};
    jw_obj(w);
    jw_key(w, "expect");
    jw_arr(w);
    for (size_t i = 0; i < sizeof ex / sizeof *ex; i++)
        if (comp->expect & ex[i].bit)
            jw_str(w, ex[i].name);
    jw_arr_end(w);
    jw_kint(w, "replace_from", (int64_t)comp->replace_from);
    jw_kint(w, "replace_to", (int64_t)comp->replace_to);
    jw_key(w, "suggestions");
    jw_arr(w);
    if (comp->expect & QUERY_EXPECT_FIELD) {
        const char *names[128];
        size_t n = query_suggest_fields(schema, comp->prefix, names, 128);
        for (size_t i = 0; i < n && i < 128; i++) {
            const query_field *f = query_schema_find(schema, names[i], strlen(names[i]));
            query_complete_json_suggest(w, names[i], "field", f ? f->help : NULL);
        }
        if (str_has_prefix("not", comp->prefix))
            query_complete_json_suggest(w, "not", "keyword", NULL);
    }
    return 0;
}

void query_complete_json_operators(jw *w, const query_completion *comp)
{
    if (comp->expect & QUERY_EXPECT_OPERATOR && comp->operators)
        for (const char *const *o = comp->operators; *o; o++)
            query_complete_json_suggest(w, *o, "operator", NULL);
}

void query_complete_json_end(jw *w, const query_completion *comp)
{
    if (comp->expect & QUERY_EXPECT_CONNECTIVE) {
        query_complete_json_suggest(w, "and", "keyword", NULL);
        query_complete_json_suggest(w, "or", "keyword", NULL);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}
