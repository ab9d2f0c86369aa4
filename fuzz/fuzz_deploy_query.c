/*
 * fuzz_deploy_query - the query language over a deployment's predictions
 * (deploy_pred_schema: label and shadow_label as sets built from the JSON
 * outputs, subqueries for drift flags, tags and metadata) on arbitrary
 * text: parse and compile for the dialect of the schema, autocomplete at a
 * cursor taken from the first byte. Checks that user text only travels as
 * parameters: once the schema's own SQL is blanked out, every quote left
 * in the WHERE opens one of the engine's fixed literals.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/deploy.h"
#include "query/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Blanks every occurrence of the n bytes at p in s. */
static void blank(char *s, const char *p, size_t n)
{
    if (n == 0 || !memchr(p, '\'', n))
        return; /* only pieces with a quote matter (and ")" alone would eat the rest) */
    for (char *x = s; *x; x++)
        if (strncmp(x, p, n) == 0) {
            memset(x, ' ', n);
            x += n - 1;
        }
}

static void check(const query_schema *schema, const char *where)
{
    char *s = strdup(where);
    if (!s) return;
    /* longest first: a short field's SQL can sit inside a longer one's */
    bool done[64] = {0};
    for (size_t n = 0; n < schema->nfields && n < 64; n++) {
        size_t best = 0, blen = 0;
        for (size_t i = 0; i < schema->nfields && i < 64; i++) {
            size_t l = schema->fields[i].sql ? strlen(schema->fields[i].sql) : 0;
            if (!done[i] && (blen == 0 || l > blen)) {
                best = i;
                blen = l ? l : 1;
            }
        }
        done[best] = true;
        const query_field *f = &schema->fields[best];
        if (f->sql) {
            const char *hole = strstr(f->sql, "{}");
            if (hole) {
                blank(s, f->sql, (size_t)(hole - f->sql));
                blank(s, hole + 2, strlen(hole + 2));
            } else {
                blank(s, f->sql, strlen(f->sql));
            }
        }
        if (f->tag_column) blank(s, f->tag_column, strlen(f->tag_column));
    }
    static const char *const ours[] = {"'\\'",      "'null'",   "'{}'",     "'text'",
                                       "'integer'", "'real'",   "'true'",   "'false'",
                                       "'string'",  "'number'", "'boolean'"};
    for (const char *q = strchr(s, '\''); q; q = strchr(q, '\'')) {
        size_t k = 0, nk = sizeof ours / sizeof ours[0];
        while (k < nk && strncmp(q, ours[k], strlen(ours[k])))
            k++;
        if (k == nk) abort();
        q += strlen(ours[k]);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    size_t cursor = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    for (int pg = 0; pg <= 1; pg++) {
        const query_schema *schema = deploy_pred_schema(pg);
        query_sql out;
        err e;
        if (query_to_sql(text, len, schema, NULL, pg ? QUERY_POSTGRES : QUERY_SQLITE, 12, &out,
                         &e) == 0) {
            if (strlen(out.where) != out.where_len) abort();
            check(schema, out.where);
            query_sql_free(&out);
        } else if (e.msg[0] == 0) {
            abort();
        }
        query_completion c;
        if (query_complete(text, len, cursor, schema, &c, &e) == 0 &&
            (c.replace_from > c.replace_to || c.replace_to > len))
            abort();
    }
    return 0;
}
