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
    if (lx.n >= 2) {
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
