/*
 * fuzz_query - the query language on arbitrary text: parse, compile for
 * both dialects, and autocomplete at a cursor taken from the first byte.
 * Also checks that every quote in the compiled SQL opens one of our own
 * fixed literals: user text only ever travels as a parameter.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int custom(query_emit *em, const query_pred *p, void *ud, err *e)
{
    (void)ud;
    if (p->nvalues == 0)
        return err_set(e, ERR_INVALID, "similar needs arguments at column %u", p->col);
    query_emit_sql(em, "f(");
    for (size_t k = 0; k < p->nvalues; k++) {
        if (k)
            query_emit_sql(em, ", ");
        const query_value *v = &p->values[k];
        if (v->type == QV_TEXT)
            query_emit_text(em, v->s, v->len);
        else if (v->type == QV_FLOAT)
            query_emit_float(em, v->f);
        else
            query_emit_int(em, v->i);
    }
    query_emit_sql(em, ")");
    return 0;
}

static const query_field fields[] = {
    {"width", QUERY_INT, "d.width", NULL, NULL, NULL, NULL},
    {"score", QUERY_FLOAT, "d.score", NULL, NULL, NULL, NULL},
    {"format", QUERY_TEXT, "d.format", NULL, NULL, NULL, NULL},
    {"created", QUERY_TIME, "d.created", NULL, NULL, NULL, NULL},
    {"reviewed", QUERY_BOOL, "d.reviewed", NULL, NULL, NULL, NULL},
    {"tag", QUERY_TAG, "EXISTS (SELECT 1 FROM t WHERE t.d = d.id AND {})", "t.name", NULL, NULL,
     NULL},
    {"meta", QUERY_JSON, "d.meta", NULL, NULL, NULL, NULL},
    {"similar", QUERY_CUSTOM, NULL, NULL, custom, NULL, NULL},
};
static const query_schema schema = {fields, sizeof fields / sizeof fields[0]};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t cursor = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    query *q;
    err e;
    if (query_parse(text, len, &schema, NULL, &q, &e) == 0) {
        for (int d = QUERY_SQLITE; d <= QUERY_POSTGRES; d++) {
            query_sql out;
            if (query_compile(q, (query_dialect)d, 1 + (int)(cursor % 5), &out, &e) == 0) {
                if (strlen(out.where) != out.where_len)
                    abort();
                /* user text travels as parameters: every quote in the SQL opens
                 * one of our own fixed literals */
                static const char *const ours[] = {"'\\'", "'null'", "'{}'", "'text'",
                                                   "'integer'", "'real'", "'true'", "'false'",
                                                   "'string'", "'number'", "'boolean'"};
                for (const char *s = strchr(out.where, '\''); s; s = strchr(s, '\'')) {
                    size_t k = 0, nk = sizeof ours / sizeof ours[0];
                    while (k < nk && strncmp(s, ours[k], strlen(ours[k])))
                        k++;
                    if (k == nk)
                        abort();
                    s += strlen(ours[k]);
                }
                /* a JSON string equality's literal test: instr(col, $n) with a
                 * parameter, never the text */
                if (strstr(out.where, "instr(") && !strstr(out.where, "instr(d.meta, $"))
                    abort();
                query_sql_free(&out);
            }
        }
        /* a required tag taken out: what is left still compiles, in both dialects */
        const char *tag;
        size_t tag_len;
        bool took = query_take_tag_eq(q, &tag, &tag_len);
        if (took && tag_len > len)
            abort();
        for (int d = QUERY_SQLITE; took && d <= QUERY_POSTGRES; d++) {
            query_sql out;
            if (query_compile(q, (query_dialect)d, 1, &out, &e) != 0)
                abort();
            query_sql_free(&out);
        }
        query_free(q);
    } else if (e.msg[0] == 0) {
        abort();
    }
    query_completion c;
    if (query_complete(text, len, cursor, &schema, &c, &e) == 0 &&
        (c.replace_from > c.replace_to || c.replace_to > len))
        abort();
    return 0;
}
