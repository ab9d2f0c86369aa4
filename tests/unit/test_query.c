/*
 * Unit tests for src/query: the parser (precedence, operators, literals,
 * every error with its column, limits), the SQL text and parameters for
 * both dialects, autocomplete, and execution of the same queries against a
 * real in-memory SQLite database and a throwaway PostgreSQL cluster, which
 * must return the same rows.
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/util.h"
#include "query/query.h"

/* --- the schema every test uses ------------------------------------------------ */

#define TAG_TPL                                                                           \
    "EXISTS (SELECT 1 FROM data_tag dt JOIN tag t ON t.id = dt.tag_id WHERE dt.data_id = " \
    "d.id AND {})"
/* the template compiled with `cond` in place of {} */
#define TAG_SQL(cond)                                                                     \
    "EXISTS (SELECT 1 FROM data_tag dt JOIN tag t ON t.id = dt.tag_id WHERE dt.data_id = " \
    "d.id AND " cond ")"

/* similar("<16 hex digits>", max_distance): the perceptual-hash hook */
static int similar_compile(query_emit *em, const query_pred *p, void *ud, err *e)
{
    (void)ud;
    if (p->op != QOP_CALL || p->nvalues != 2 || p->values[0].type != QV_TEXT ||
        p->values[0].len != 16 || p->values[1].type != QV_INT)
        return err_set(e, ERR_INVALID,
                       "similar takes (\"<16 hex digits>\", distance) at column %u", p->col);
    query_emit_sql(em, "hamming(d.phash, ");
    query_emit_text(em, p->values[0].s, p->values[0].len);
    query_emit_sql(em, ") <= ");
    query_emit_int(em, p->values[1].i);
    return 0;
}

static const query_field FIELDS[] = {
    {"id", QUERY_INT, "d.id", NULL, NULL, NULL, "row id"},
    {"width", QUERY_INT, "d.width", NULL, NULL, NULL, "pixels"},
    {"height", QUERY_INT, "d.height", NULL, NULL, NULL, "pixels"},
    {"format", QUERY_TEXT, "d.format", NULL, NULL, NULL, NULL},
    {"filename", QUERY_TEXT, "d.filename", NULL, NULL, NULL, NULL},
    {"size", QUERY_INT, "d.size", NULL, NULL, NULL, "bytes"},
    {"created", QUERY_TIME, "d.created", NULL, NULL, NULL, NULL},
    {"source", QUERY_TEXT, "d.source", NULL, NULL, NULL, NULL},
    {"reviewed", QUERY_BOOL, "d.reviewed", NULL, NULL, NULL, NULL},
    {"score", QUERY_FLOAT, "d.score", NULL, NULL, NULL, NULL},
    {"tag", QUERY_TAG, TAG_TPL, "t.name", NULL, NULL, NULL},
    {"meta", QUERY_JSON, "d.meta", NULL, NULL, NULL, NULL},
    {"exif", QUERY_JSON, "d.exif", NULL, NULL, NULL, NULL},
    {"similar", QUERY_CUSTOM, NULL, NULL, similar_compile, NULL, NULL},
};
static const query_schema SCHEMA = {FIELDS, sizeof FIELDS / sizeof FIELDS[0]};

/* Compiles q; returns the SQL and writes the parameters as text into pbuf:
 * "1024|'night'|2.5|null". */
static char *compile(const char *q, query_dialect d, int first, char *pbuf, size_t pn)
{
    query_sql out;
    err e = {0};
    int rc = query_to_sql(q, strlen(q), &SCHEMA, NULL, d, first, &out, &e);
    cr_assert_eq(rc, 0, "query [%s] failed: %s", q, e.msg);
    cr_assert_eq(out.next_index, first + (int)out.nparams);
    size_t at = 0;
    if (pbuf) {
        pbuf[0] = 0;
        for (size_t k = 0; k < out.nparams; k++) {
            const query_param *p = &out.params[k];
            const char *sep = k ? "|" : "";
            if (p->type == QUERY_P_INT)
                at += (size_t)snprintf(pbuf + at, pn - at, "%s%lld", sep, (long long)p->i);
            else if (p->type == QUERY_P_FLOAT)
                at += (size_t)snprintf(pbuf + at, pn - at, "%s%g", sep, p->f);
            else if (p->type == QUERY_P_TEXT)
                at += (size_t)snprintf(pbuf + at, pn - at, "%s'%s'", sep, p->s);
            else
                at += (size_t)snprintf(pbuf + at, pn - at, "%snull", sep);
        }
    }
    char *sql = strdup(out.where);
    query_sql_free(&out);
    return sql;
}

static void expect_sql(const char *q, query_dialect d, const char *sql, const char *params)
{
    char pbuf[1024];
    char *got = compile(q, d, 1, pbuf, sizeof pbuf);
    cr_expect(!strcmp(got, sql), "query [%s] (%s):\n got  %s\n want %s", q,
              d == QUERY_SQLITE ? "sqlite" : "pg", got, sql);
    cr_expect(!strcmp(pbuf, params), "query [%s] parameters:\n got  %s\n want %s", q, pbuf,
              params);
    free(got);
}

static void expect_error(const char *q, err_code code, const char *msg)
{
    query *qq;
    err e = {0};
    cr_assert_eq(query_parse(q, strlen(q), &SCHEMA, NULL, &qq, &e), -1, "[%s] should fail", q);
    cr_expect_eq(e.code, code, "[%s]: code %s", q, err_code_name(e.code));
    cr_expect(!strcmp(e.msg, msg), "query [%.60s]:\n got  %s\n want %s", q, e.msg, msg);
}

/* --- parser ---------------------------------------------------------------------- */

Test(query_parse, precedence_not_and_or)
{
    expect_sql("width > 1 or width < 2 and not width = 3", QUERY_SQLITE,
               "((d.width > $1) OR ((d.width < $2) AND (NOT COALESCE((d.width = $3), 0))))",
               "1|2|3");
    expect_sql("(width > 1 or width < 2) and width = 3", QUERY_SQLITE,
               "(((d.width > $1) OR (d.width < $2)) AND (d.width = $3))", "1|2|3");
    expect_sql("not (width = 1 or height = 2) and id = 3", QUERY_SQLITE,
               "((NOT COALESCE(((d.width = $1) OR (d.height = $2)), 0)) AND (d.id = $3))",
               "1|2|3");
    expect_sql("not not reviewed", QUERY_SQLITE,
               "(NOT COALESCE((NOT COALESCE((d.reviewed = 1), 0)), 0))", "");
    expect_sql("id = 1 and id = 2 and id = 3 or id = 4 or id = 5", QUERY_SQLITE,
               "(((d.id = $1) AND (d.id = $2) AND (d.id = $3)) OR (d.id = $4) OR (d.id = $5))",
               "1|2|3|4|5");
    expect_sql("WIDTH > 1 AND NOT Format = 'x' Or TAG = y", QUERY_SQLITE,
               "(((d.width > $1) AND (NOT COALESCE((d.format = $2), 0))) OR (" TAG_SQL(
                   "t.name = $3") "))",
               "1|'x'|'y'");
}

Test(query_parse, every_operator)
{
    static const struct {
        const char *q, *sql;
    } c[] = {
        {"width = 1", "(d.width = $1)"},       {"width == 1", "(d.width = $1)"},
        {"width != 1", "(d.width <> $1)"},     {"width <> 1", "(d.width <> $1)"},
        {"width < 1", "(d.width < $1)"},       {"width <= 1", "(d.width <= $1)"},
        {"width > 1", "(d.width > $1)"},       {"width >= 1", "(d.width >= $1)"},
        {"width in (1)", "(d.width IN ($1))"}, {"width not in (1)", "(d.width NOT IN ($1))"},
        {"format ~ 'a'", "(d.format LIKE $1 ESCAPE '\\')"},
        {"format !~ 'a'", "(d.format NOT LIKE $1 ESCAPE '\\')"},
        {"format like 'a'", "(d.format LIKE $1 ESCAPE '\\')"},
        {"format not like 'a'", "(d.format NOT LIKE $1 ESCAPE '\\')"},
        {"exists width", "(d.width IS NOT NULL)"},
        {"width = null", "(d.width IS NULL)"},
        {"width != null", "(d.width IS NOT NULL)"},
        {"reviewed", "(d.reviewed = 1)"},
        {"reviewed = false", "(d.reviewed = 0)"},
        {"reviewed != false", "(d.reviewed = 1)"},
    };
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        char *got = compile(c[k].q, QUERY_SQLITE, 1, NULL, 0);
        cr_expect_str_eq(got, c[k].sql, "[%s]", c[k].q);
        free(got);
    }
}

Test(query_parse, literals)
{
    expect_sql("filename = \"a\\\"b\\\\c\\n\\u00e9\\ud83d\\ude00\"", QUERY_SQLITE,
               "(d.filename = $1)", "'a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80'");
    expect_sql("filename = 'it\\'s' or filename = \"it's\"", QUERY_SQLITE,
               "((d.filename = $1) OR (d.filename = $2))", "'it's'|'it's'");
    expect_sql("score > -1.5e-3 and score < 2 and id > -7", QUERY_SQLITE,
               "((d.score > $1) AND (d.score < $2) AND (d.id > $3))", "-0.0015|2|-7");
    expect_sql("size < 2MB or size > 1.5KiB or size = 3kb or size != 1.5KB or size = 1b",
               QUERY_SQLITE,
               "((d.size < $1) OR (d.size > $2) OR (d.size = $3) OR (d.size <> $4) OR "
               "(d.size = $5))",
               "2000000|1536|3000|1500|1");
    expect_sql("format = png", QUERY_SQLITE, "(d.format = $1)", "'png'");
    expect_sql("tag = 2024", QUERY_SQLITE, "(" TAG_SQL("t.name = $1") ")", "'2024'");
    expect_sql("meta.x = TRUE or meta.y = Null", QUERY_SQLITE,
               "((json_type(d.meta, $1) = 'true') OR (COALESCE(json_type(d.meta, $2), 'null') "
               "= 'null'))",
               "'$.\"x\"'|'$.\"y\"'");
    expect_sql("   ", QUERY_SQLITE, "1=1", "");
    expect_sql("", QUERY_POSTGRES, "1=1", "");
}

Test(query_parse, errors_name_the_column)
{
    expect_error("widht > 3", ERR_INVALID, "unknown field 'widht' at column 1; did you mean 'width'?");
    expect_error("width > 1 and colour = 2", ERR_INVALID, "unknown field 'colour' at column 15");
    expect_error("width >= ", ERR_INVALID,
                 "expected a value after '>=' at column 10, got the end of the query");
    expect_error("tag = night and width >= and", ERR_INVALID,
                 "expected a value after '>=' at column 26, got keyword 'and'");
    expect_error("format = \"png", ERR_INVALID, "unterminated string starting at column 10");
    expect_error("width >= \"abc\"", ERR_INVALID, "width is a number; got a string at column 10");
    expect_error("format = 3", ERR_INVALID, "format is a text; got a number at column 10; put it in quotes");
    expect_error("reviewed = 1", ERR_INVALID,
                 "reviewed is a boolean; got a number at column 12; use true or false");
    expect_error("created > 5", ERR_INVALID,
                 "created is a time; got a number at column 11; write a date like \"2026-01-31\" "
                 "or \"2026-01-31T10:00:00Z\"");
    expect_error("created > \"2026-13-01\"", ERR_INVALID,
                 "created is a time; \"2026-13-01\" at column 11 is not an ISO date like "
                 "\"2026-01-31\" or \"2026-01-31T10:00:00Z\"");
    expect_error("width 3", ERR_INVALID,
                 "expected an operator after 'width' at column 7, got '3'; width takes =, !=, <, "
                 "<=, >, >=, in, ~ or like");
    expect_error("meta.a.b 3", ERR_INVALID,
                 "expected an operator after 'meta.a.b' at column 10, got '3'; meta takes =, !=, "
                 "<, <=, >, >=, in, ~ or like");
    expect_error("tag < x", ERR_INVALID,
                 "'<' does not apply to tag (a tag) at column 5; use =, !=, in, not in, ~, !~, "
                 "like, not like");
    expect_error("width ~ \"1*\"", ERR_INVALID,
                 "'~' does not apply to width (a number) at column 7; use =, !=, <, <=, >, >=, "
                 "in, not in");
    expect_error("width > null", ERR_INVALID, "null can only be compared with = or != (column 9)");
    expect_error("(width > 1", ERR_INVALID,
                 "expected ')' to close the '(' at column 1, got the end of the query at column 11");
    expect_error("width > 1)", ERR_INVALID, "unexpected ')' at column 10: no '(' to close");
    expect_error("width > 1 height < 2", ERR_INVALID,
                 "expected 'and', 'or' or the end of the query at column 11, got 'height'");
    expect_error("width > 1 and", ERR_INVALID,
                 "expected a field name after 'and' at column 14, got the end of the query");
    expect_error("()", ERR_INVALID, "unexpected ')' at column 2: a term is missing");
    expect_error("meta = 1", ERR_INVALID, "meta needs a key at column 1: meta.<key>");
    expect_error("width.x = 1", ERR_INVALID,
                 "width has no keys at column 6; only JSON fields (like meta.key) do");
    expect_error("format = 'a\\q'", ERR_INVALID,
                 "invalid escape '\\q' at column 12; use \\\" \\' \\\\ \\n \\t \\r or \\uXXXX");
    expect_error("width > 3 # x", ERR_INVALID, "unexpected character '#' at column 11");
    expect_error("width ! 3", ERR_INVALID, "unexpected '!' at column 7; use '!=', '!~' or 'not'");
    expect_error("size < 2XB", ERR_INVALID,
                 "invalid number '2XB' at column 8; a number may end with a size unit: B, KB, "
                 "MB, GB, TB, KiB, MiB, GiB, TiB");
    expect_error("id = 99999999999999999999", ERR_INVALID, "number out of range at column 6");
    expect_error("meta.x in (1, 'a')", ERR_INVALID,
                 "the values of a list must be all numbers or all strings (column 15)");
    expect_error("width in (1, 2", ERR_INVALID,
                 "expected ',' or ')' in the list opened at column 10, got the end of the query "
                 "at column 15");
    expect_error("width not 3", ERR_INVALID,
                 "expected 'in' or 'like' after 'not' at column 11, got '3'");
    /* columns count characters, not bytes */
    expect_error("tag = \"été\" and widht > 1", ERR_INVALID,
                 "unknown field 'widht' at column 17; did you mean 'width'?");
    expect_error("format = \"\xff\"", ERR_INVALID, "the query is not valid UTF-8 text");
    expect_error("meta.'' = 1", ERR_INVALID,
                 "key at column 6 cannot be queried: keys must be non-empty and without '\"'");
}

Test(query_parse, limits)
{
    char big[QUERY_DEFAULT_MAX_LEN + 2];
    memset(big, ' ', sizeof big);
    memcpy(big, "width > 1", 9);
    big[sizeof big - 1] = 0;
    expect_error(big, ERR_TOO_LARGE, "query too long: 4097 bytes, the limit is 4096");

    sbuf b = SBUF_INIT;
    for (int d = 0; d < 32; d++)
        sbuf_putc(&b, '(');
    sbuf_puts(&b, "width > 1");
    for (int d = 0; d < 32; d++)
        sbuf_putc(&b, ')');
    query *q;
    err e = {0};
    cr_assert_eq(query_parse(b.p, b.len, &SCHEMA, NULL, &q, &e), 0, "32 levels are fine: %s", e.msg);
    query_free(q);
    sbuf_reset(&b);
    for (int d = 0; d < 33; d++)
        sbuf_putc(&b, '(');
    sbuf_puts(&b, "width > 1");
    for (int d = 0; d < 33; d++)
        sbuf_putc(&b, ')');
    expect_error(b.p, ERR_TOO_LARGE,
                 "query nested too deeply at column 33: the limit is 32 levels of parentheses "
                 "and 'not'");
    sbuf_reset(&b);
    for (int d = 0; d < 40; d++)
        sbuf_puts(&b, "not ");
    sbuf_puts(&b, "reviewed");
    expect_error(b.p, ERR_TOO_LARGE,
                 "query nested too deeply at column 129: the limit is 32 levels of parentheses "
                 "and 'not'");
    sbuf_reset(&b);
    for (int t = 0; t < 101; t++)
        sbuf_printf(&b, "%sid = %d", t ? " or " : "", t);
    expect_error(b.p, ERR_TOO_LARGE, "too many terms at column 1091: the limit is 100");

    query_limits lim = {.max_values = 3};
    const char *three = "id in (1, 2, 3)", *four = "id in (1, 2, 3, 4)";
    cr_assert_eq(query_parse(three, strlen(three), &SCHEMA, &lim, &q, &e), 0);
    query_free(q);
    cr_assert_eq(query_parse(four, strlen(four), &SCHEMA, &lim, &q, &e), -1);
    cr_assert_str_eq(e.msg, "too many values at column 17: the limit is 3");
    sbuf_free(&b);
}

/* --- compiled SQL, both dialects ------------------------------------------------------- */

Test(query_compile, columns_times_and_placeholders)
{
    char pbuf[256];
    char *sql = compile("width >= 1024 and format in (png, jpeg)", QUERY_POSTGRES, 7, pbuf,
                        sizeof pbuf);
    cr_assert_str_eq(sql, "((d.width >= $7) AND (d.format IN ($8, $9)))");
    cr_assert_str_eq(pbuf, "1024|'png'|'jpeg'");
    free(sql);
    expect_sql("filename ~ \"IMG_*50%\\\\*.jp?g\"", QUERY_POSTGRES,
               "(d.filename ILIKE $1 ESCAPE '\\')", "'IMG\\_%50\\%*.jp_g'");
    expect_sql("filename like \"a%\"", QUERY_POSTGRES, "(d.filename ILIKE $1 ESCAPE '\\')", "'a%'");
    expect_sql("reviewed and not reviewed = false", QUERY_POSTGRES,
               "((d.reviewed = TRUE) AND (NOT COALESCE((d.reviewed = FALSE), FALSE)))", "");
    /* a date alone means the whole (UTC) day */
    expect_sql("created = \"2026-01-01\"", QUERY_SQLITE,
               "(d.created >= $1 AND d.created < $2)", "1767225600000|1767312000000");
    expect_sql("created != \"2026-01-01\"", QUERY_SQLITE,
               "(d.created < $1 OR d.created >= $2)", "1767225600000|1767312000000");
    expect_sql("created > \"2026-01-01\"", QUERY_SQLITE, "(d.created >= $1)", "1767312000000");
    expect_sql("created <= \"2026-01-01\"", QUERY_SQLITE, "(d.created < $1)", "1767312000000");
    expect_sql("created < \"2026-01-01\"", QUERY_SQLITE, "(d.created < $1)", "1767225600000");
    expect_sql("created >= \"2026-01-01T10:00:00+02:00\"", QUERY_SQLITE, "(d.created >= $1)",
               "1767254400000");
    expect_sql("created = \"2026-01-01T00:00:00Z\"", QUERY_POSTGRES, "(d.created = $1)",
               "1767225600000");
}

Test(query_compile, tags)
{
    expect_sql("tag = night", QUERY_SQLITE, "(" TAG_SQL("t.name = $1") ")", "'night'");
    static const struct {
        const char *q, *cond, *neg;
    } c[] = {
        {"tag = a", "t.name = $1", ""},
        {"tag != a", "t.name = $1", "NOT "},
        {"tag in (a, b)", "t.name IN ($1, $2)", ""},
        {"tag not in (a, b)", "t.name IN ($1, $2)", "NOT "},
        {"tag ~ \"a*\"", "t.name LIKE $1 ESCAPE '\\'", ""},
        {"tag !~ \"a*\"", "t.name LIKE $1 ESCAPE '\\'", "NOT "},
        {"tag like \"a%\"", "t.name LIKE $1 ESCAPE '\\'", ""},
        {"exists tag", "1=1", ""},
        {"tag != null", "1=1", ""},
        {"tag = null", "1=1", "NOT "},
    };
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        char want[512];
        snprintf(want, sizeof want,
                 "(%sEXISTS (SELECT 1 FROM data_tag dt JOIN tag t ON t.id = dt.tag_id WHERE "
                 "dt.data_id = d.id AND %s))", c[k].neg, c[k].cond);
        char *got = compile(c[k].q, QUERY_SQLITE, 1, NULL, 0);
        cr_expect_str_eq(got, want, "[%s]", c[k].q);
        free(got);
    }
    expect_sql("tag ~ \"n*\"", QUERY_POSTGRES,
               "(EXISTS (SELECT 1 FROM data_tag dt JOIN tag t ON t.id = dt.tag_id WHERE "
               "dt.data_id = d.id AND t.name ILIKE $1 ESCAPE '\\'))", "'n%'");
}

/* query_take_tag_eq: a top-level required tag comes out of the query; the
 * rest compiles as before; anything else leaves the query whole. */
static void expect_take(const char *q, const char *tag, const char *rest)
{
    query *qq;
    err e = {0};
    cr_assert_eq(query_parse(q, strlen(q), &SCHEMA, NULL, &qq, &e), 0, "[%s]: %s", q, e.msg);
    const char *v = NULL;
    size_t n = 0;
    bool took = query_take_tag_eq(qq, &v, &n);
    cr_expect_eq(took, tag != NULL, "[%s]: took %d", q, took);
    if (took && tag)
        cr_expect(n == strlen(tag) && !memcmp(v, tag, n), "[%s]: tag '%.*s'", q, (int)n, v);
    query_sql out;
    cr_assert_eq(query_compile(qq, QUERY_SQLITE, 1, &out, &e), 0, "[%s]: %s", q, e.msg);
    cr_expect_str_eq(out.where, rest, "[%s]:\n got  %s\n want %s", q, out.where, rest);
    query_sql_free(&out);
    query_free(qq);
}

Test(query_compile, take_a_required_tag)
{
    expect_take("tag = night", "night", "1=1");
    expect_take("width > 5 and tag = \"night\"", "night", "(d.width > $1)");
    expect_take("width > 5 and tag = a and height < 3", "a", "((d.width > $1) AND (d.height < $2))");
    expect_take("tag = a and tag = b", "a", "(" TAG_SQL("t.name = $1") ")");
    expect_take("tag = a or width > 5", NULL,
                "((" TAG_SQL("t.name = $1") ") OR (d.width > $2))");
    expect_take("not tag = a", NULL, "(NOT COALESCE((" TAG_SQL("t.name = $1") "), 0))");
    expect_take("tag != a and width > 5", NULL,
                "((NOT " TAG_SQL("t.name = $1") ") AND (d.width > $2))");
    expect_take("tag in (a, b)", NULL, "(" TAG_SQL("t.name IN ($1, $2)") ")");
    expect_take("", NULL, "1=1");
}

Test(query_compile, json_fields_both_dialects)
{
    /* = a plain ASCII string: SQLite first looks for "rain" in the text (no JSON parse) */
    expect_sql("meta.weather = rain", QUERY_SQLITE,
               "(instr(d.meta, $2) > 0 AND json_type(d.meta, $1) = 'text' AND "
               "json_extract(d.meta, $1) = $3)",
               "'$.\"weather\"'|'\"rain\"'|'rain'");
    /* not for strings a JSON writer may escape, nor for != */
    expect_sql("meta.weather = \"a/b\"", QUERY_SQLITE,
               "(json_type(d.meta, $1) = 'text' AND json_extract(d.meta, $1) = $2)",
               "'$.\"weather\"'|'a/b'");
    expect_sql("meta.weather = \"caf\xc3\xa9\"", QUERY_SQLITE,
               "(json_type(d.meta, $1) = 'text' AND json_extract(d.meta, $1) = $2)",
               "'$.\"weather\"'|'caf\xc3\xa9'");
    expect_sql("meta.weather != rain", QUERY_SQLITE,
               "(json_type(d.meta, $1) = 'text' AND json_extract(d.meta, $1) <> $2)",
               "'$.\"weather\"'|'rain'");
    expect_sql("meta.weather = rain", QUERY_POSTGRES,
               "(jsonb_typeof(d.meta->$1::text) = 'string' AND d.meta->>$1::text = $2::text)",
               "'weather'|'rain'");
    expect_sql("meta.camera.iso >= 800", QUERY_SQLITE,
               "(json_type(d.meta, $1) IN ('integer', 'real') AND json_extract(d.meta, $1) >= $2)",
               "'$.\"camera\".\"iso\"'|800");
    expect_sql("meta.camera.iso >= 800", QUERY_POSTGRES,
               "(CASE WHEN jsonb_typeof(d.meta->$1::text->$2::text) = 'number' THEN "
               "(d.meta->$1::text->>$2::text)::numeric END >= $3::numeric)",
               "'camera'|'iso'|800");
    expect_sql("meta.\"a.b[0]$\" = 'x'", QUERY_SQLITE,
               "(instr(d.meta, $2) > 0 AND json_type(d.meta, $1) = 'text' AND "
               "json_extract(d.meta, $1) = $3)",
               "'$.\"a.b[0]$\"'|'\"x\"'|'x'");
    expect_sql("meta.flag = true", QUERY_POSTGRES,
               "(jsonb_typeof(d.meta->$1::text) = 'boolean' AND d.meta->>$1::text = 'true')",
               "'flag'");
    expect_sql("meta.flag != true", QUERY_SQLITE, "(json_type(d.meta, $1) = 'false')",
               "'$.\"flag\"'");
    expect_sql("meta.n = null", QUERY_POSTGRES,
               "(COALESCE(jsonb_typeof(d.meta->$1::text), 'null') = 'null')", "'n'");
    expect_sql("exists meta.n", QUERY_POSTGRES, "(d.meta->$1::text IS NOT NULL)", "'n'");
    expect_sql("exists exif", QUERY_SQLITE,
               "(d.exif IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(d.exif)))", "");
    expect_sql("exists exif", QUERY_POSTGRES, "(d.exif IS NOT NULL AND d.exif <> '{}'::jsonb)", "");
    expect_sql("meta.w in (a, b)", QUERY_POSTGRES,
               "(jsonb_typeof(d.meta->$1::text) = 'string' AND d.meta->>$1::text IN ($2::text, "
               "$3::text))",
               "'w'|'a'|'b'");
    expect_sql("meta.w ~ \"r*\"", QUERY_SQLITE,
               "(json_type(d.meta, $1) = 'text' AND json_extract(d.meta, $1) LIKE $2 ESCAPE '\\')",
               "'$.\"w\"'|'r%'");
    expect_sql("exif.1 = 2", QUERY_SQLITE,
               "(json_type(d.exif, $1) IN ('integer', 'real') AND json_extract(d.exif, $1) = $2)",
               "'$.\"1\"'|2");
}

Test(query_compile, custom_field_and_injection)
{
    /* the callback checks its arguments when compiling */
    const char *bad = "width > 1 and similar(\"abc\", 3)";
    query_sql out;
    err e = {0};
    cr_assert_eq(query_to_sql(bad, strlen(bad), &SCHEMA, NULL, QUERY_SQLITE, 1, &out, &e), -1);
    cr_assert_str_eq(e.msg, "similar takes (\"<16 hex digits>\", distance) at column 15");
    expect_sql("similar(\"0f0f0f0f0f0f0f0f\", 4)", QUERY_SQLITE, "(hamming(d.phash, $1) <= $2)",
               "'0f0f0f0f0f0f0f0f'|4");
    /* user text only ever becomes a parameter */
    const char *evil = "source = \"x'); DROP TABLE data; --\" or meta.\"'||1--\" = 1";
    for (int d = QUERY_SQLITE; d <= QUERY_POSTGRES; d++) {
        char pbuf[256];
        char *sql = compile(evil, (query_dialect)d, 1, pbuf, sizeof pbuf);
        cr_assert_null(strstr(sql, "DROP"), "%s", sql);
        cr_assert_null(strstr(sql, "||1"), "%s", sql);
        cr_assert(strstr(pbuf, "DROP TABLE"));
        free(sql);
    }
}

/* --- autocomplete --------------------------------------------------------------------- */

static query_completion complete(const char *q)
{
    query_completion c;
    err e = {0};
    int rc = query_complete(q, strlen(q), strlen(q), &SCHEMA, &c, &e);
    cr_assert_eq(rc, 0, "[%s]: %s", q, e.msg);
    return c;
}

Test(query_complete, what_comes_next)
{
    query_completion c = complete("");
    cr_assert_eq(c.expect, QUERY_EXPECT_FIELD);
    cr_assert_str_eq(c.prefix, "");

    c = complete("width >= 10 and wi");
    cr_assert_eq(c.expect, QUERY_EXPECT_FIELD);
    cr_assert_str_eq(c.prefix, "wi");
    cr_assert_eq(c.replace_from, 16);
    cr_assert_eq(c.replace_to, 18);
    const char *names[4];
    cr_assert_eq(query_suggest_fields(&SCHEMA, c.prefix, names, 4), 1);
    cr_assert_str_eq(names[0], "width");

    c = complete("width ");
    cr_assert_eq(c.expect, QUERY_EXPECT_OPERATOR);
    cr_assert_str_eq(c.field->name, "width");
    cr_assert_str_eq(c.operators[0], "=");

    c = complete("tag i");
    cr_assert_eq(c.expect, QUERY_EXPECT_OPERATOR);
    cr_assert_str_eq(c.prefix, "i");

    c = complete("tag = ");
    cr_assert_eq(c.expect, QUERY_EXPECT_VALUE);
    cr_assert_str_eq(c.field->name, "tag");

    c = complete("tag in (night, ");
    cr_assert_eq(c.expect, QUERY_EXPECT_VALUE);
    cr_assert_str_eq(c.field->name, "tag");

    c = complete("format = \"pn");
    cr_assert_eq(c.expect, QUERY_EXPECT_VALUE);
    cr_assert(c.in_string);
    cr_assert_str_eq(c.prefix, "pn");
    cr_assert_eq(c.replace_from, 9);

    c = complete("meta.");
    cr_assert_eq(c.expect, QUERY_EXPECT_KEY);
    cr_assert_str_eq(c.field->name, "meta");
    cr_assert_str_eq(c.prefix, "");

    c = complete("width > 3 and meta.wea");
    cr_assert_eq(c.expect, QUERY_EXPECT_KEY);
    cr_assert_str_eq(c.prefix, "wea");

    c = complete("meta.camera.iso = ");
    cr_assert_eq(c.expect, QUERY_EXPECT_VALUE);
    cr_assert_str_eq(c.key, "camera.iso");

    c = complete("meta.weather = r");
    cr_assert_eq(c.expect, QUERY_EXPECT_VALUE);
    cr_assert_str_eq(c.key, "weather");
    cr_assert_str_eq(c.prefix, "r");

    c = complete("width > 3 ");
    cr_assert_eq(c.expect, QUERY_EXPECT_CONNECTIVE);
    cr_assert_null(c.others);

    c = complete("(width > 3 an");
    cr_assert_eq(c.expect, QUERY_EXPECT_CONNECTIVE);
    cr_assert_str_eq(c.others, ")");
    cr_assert_str_eq(c.prefix, "an");

    c = complete("not ");
    cr_assert_eq(c.expect, QUERY_EXPECT_FIELD);

    /* the cursor in the middle of a word replaces the whole word */
    const char *q = "widt > 3";
    err e = {0};
    cr_assert_eq(query_complete(q, strlen(q), 2, &SCHEMA, &c, &e), 0);
    cr_assert_eq(c.expect, QUERY_EXPECT_FIELD);
    cr_assert_str_eq(c.prefix, "wi");
    cr_assert_eq(c.replace_to, 4);

    /* an error before the cursor is reported */
    q = "colour = 3 and wi";
    cr_assert_eq(query_complete(q, strlen(q), strlen(q), &SCHEMA, &c, &e), -1);
    cr_assert_str_eq(e.msg, "unknown field 'colour' at column 1");
}

/* Qualified field names (the dataset schema's data.width) complete as one word. */
Test(query_complete, qualified_names)
{
    static const query_field qf[] = {
        {"label", QUERY_TEXT, "l.name", NULL, NULL, NULL, NULL},
        {"data.width", QUERY_INT, "d.width", NULL, NULL, NULL, NULL},
        {"data.meta", QUERY_JSON, "d.meta", NULL, NULL, NULL, NULL},
    };
    static const query_schema qs = {qf, 3};
    query_completion c;
    err e = {0};
    const char *q = "label = a and data.wi";
    cr_assert_eq(query_complete(q, strlen(q), strlen(q), &qs, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.expect, QUERY_EXPECT_FIELD);
    cr_assert_str_eq(c.prefix, "data.wi");
    cr_assert_eq(c.replace_from, 14);
    cr_assert_eq(c.replace_to, strlen(q));
    q = "data.";
    cr_assert_eq(query_complete(q, strlen(q), strlen(q), &qs, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.expect, QUERY_EXPECT_FIELD);
    cr_assert_str_eq(c.prefix, "data.");
    cr_assert_eq(c.replace_from, 0);
    /* the cursor inside the word: the whole qualified word is replaced */
    q = "data.wid > 3";
    cr_assert_eq(query_complete(q, strlen(q), 7, &qs, &c, &e), 0, "%s", e.msg);
    cr_assert_str_eq(c.prefix, "data.wi");
    cr_assert_eq(c.replace_to, 8);
    /* a qualified JSON field still completes its keys */
    q = "data.meta.wea";
    cr_assert_eq(query_complete(q, strlen(q), strlen(q), &qs, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.expect, QUERY_EXPECT_KEY);
    cr_assert_str_eq(c.field->name, "data.meta");
    cr_assert_str_eq(c.prefix, "wea");
    q = "data.width ";
    cr_assert_eq(query_complete(q, strlen(q), strlen(q), &qs, &c, &e), 0, "%s", e.msg);
    cr_assert_eq(c.expect, QUERY_EXPECT_OPERATOR);
    /* what begins no field stays an error */
    q = "nothing.wi";
    cr_assert_eq(query_complete(q, strlen(q), strlen(q), &qs, &c, &e), -1);
}

/* --- execution: the same queries on SQLite and PostgreSQL ------------------------------ */

typedef struct row {
    int id;
    const char *width, *height, *format, *filename, *size, *created, *source, *reviewed,
        *score, *phash, *meta, *exif, *tags;
} row;

/* NULL is SQL NULL; created is ISO (converted to ms); tags comma-separated */
static const row ROWS[] = {
    {1, "1920", "1080", "jpeg", "IMG_0001.jpg", "2500000", "2026-01-01T10:00:00Z", "cam-a", "1",
     "0.9", "1085102592571150095",
     "{\"weather\":\"rain\",\"altitude\":120,\"camera\":{\"iso\":800}}",
     "{\"make\":\"Canon\",\"model\":\"EOS 5D\",\"fnumber\":2.8}", "night,street"},
    {2, "640", "480", "png", "shot_1.png", "300000", "2025-12-31T23:59:59Z", "cam-b", "0", "0.25",
     "1085102592571150094", "{\"weather\":\"sun\",\"altitude\":\"100\"}", "{\"make\":\"Nikon\"}",
     "day"},
    {3, "4000", "3000", "jpeg", "IMG_0002.JPG", "8000000", "2026-02-15T00:00:00Z", "cam-a", "0",
     NULL, "-1", "{\"weather\":\"rain\",\"altitude\":-5.5,\"a.b\":\"dot\",\"flag\":true}", "{}",
     "night,blurry"},
    {4, "256", "256", "webp", "icon 50%_off.webp", "20000", "2026-01-01T00:00:00Z", "upload", "1",
     "0.5", "0", "{\"altitude\":100,\"flag\":false,\"n\":null}", NULL, ""},
    {5, NULL, NULL, "tiff", "scan.tiff", "1048576", "2026-03-01T00:00:00Z", NULL, "0", "0.001",
     NULL, "{}", "{\"make\":\"Canon\"}", "Night"},
    {6, "1024", "768", "bmp", "it's \"quoted\".bmp", "1000000", "2026-01-02T00:00:00Z", "cam-b",
     "1", "0.75", "1085102592571150080", NULL, NULL, "street"},
};

static const struct {
    const char *q, *ids;
} CASES[] = {
    {"", "1,2,3,4,5,6"},
    {"width >= 1024", "1,3,6"},
    {"width < 1024", "2,4"},
    {"not width >= 1024", "2,4,5"},
    {"width != 640", "1,3,4,6"},
    {"width = null", "5"},
    {"width != null", "1,2,3,4,6"},
    {"exists width", "1,2,3,4,6"},
    {"height >= 768 and height <= 1080", "1,6"},
    {"format = jpeg", "1,3"},
    {"format in (png, webp)", "2,4"},
    {"format not in (\"png\", \"webp\")", "1,3,5,6"},
    {"filename ~ \"*.jpg\"", "1,3"},
    {"filename ~ \"img_000?.*\"", "1,3"},
    {"filename ~ \"*50%_*\"", "4"},
    {"filename like \"shot%\"", "2"},
    {"filename !~ \"*.jpg\"", "2,4,5,6"},
    {"filename = 'it\\'s \"quoted\".bmp'", "6"},
    {"size < 2MB", "2,4,5,6"},
    {"size >= 1MiB", "1,3,5"},
    {"created = \"2026-01-01\"", "1,4"},
    {"created > \"2026-01-01\"", "3,5,6"},
    {"created <= \"2026-01-01\"", "1,2,4"},
    {"created >= \"2026-01-01T10:00:00Z\"", "1,3,5,6"},
    {"created < \"2026-01-01\"", "2"},
    {"created in (\"2026-01-02\", \"2025-12-31\")", "2,6"},
    {"reviewed", "1,4,6"},
    {"not reviewed", "2,3,5"},
    {"reviewed = false", "2,3,5"},
    {"score > 0.5", "1,6"},
    {"score <= 1e-2", "5"},
    {"tag = night", "1,3"},
    {"tag != night", "2,4,5,6"},
    {"tag in (day, blurry)", "2,3"},
    {"tag not in (night, street)", "2,4,5"},
    {"tag ~ \"n*\"", "1,3,5"},
    {"tag = null", "4"},
    {"exists tag", "1,2,3,5,6"},
    {"not tag = blurry and tag = night", "1"},
    {"meta.weather = rain", "1,3"},
    {"meta.weather != rain", "2"},
    {"not meta.weather = rain", "2,4,5,6"},
    {"meta.altitude > 50", "1,4"},
    {"meta.altitude = \"100\"", "2"},
    {"meta.altitude < 0", "3"},
    {"meta.camera.iso >= 800", "1"},
    {"meta.camera = null", "2,3,4,5,6"},
    {"meta.\"a.b\" = dot", "3"},
    {"meta.flag = true", "3"},
    {"meta.flag = false", "4"},
    {"meta.flag != true", "4"},
    {"meta.n = null", "1,2,3,4,5,6"},
    {"exists meta.n", "4"},
    {"exists meta.weather", "1,2,3"},
    {"meta.weather in (rain, sun)", "1,2,3"},
    {"meta.altitude in (100, 120)", "1,4"},
    {"meta.weather ~ \"R*\"", "1,3"},
    {"exists meta", "1,2,3,4"},
    {"exif.make = Canon", "1,5"},
    {"exif.fnumber < 3", "1"},
    {"exists exif", "1,2,5"},
    {"exif.make = Canon or exif.make = Nikon and exif.model = \"EOS 5D\"", "1,5"},
    {"similar(\"0f0f0f0f0f0f0f0f\", 4)", "1,2,6"},
    {"not similar(\"0f0f0f0f0f0f0f0f\", 4)", "3,4,5"},
    {"width > 1000 and (tag = night or meta.weather = sun) or format = webp", "1,3,4"},
    {"source = \"'; DROP TABLE data; --\"", ""},
    {"source = null", "5"},
    {"id in (1, 2, 3) and not (format = png or reviewed)", "3"},
    {"WIDTH > 1000 AND NOT Format = jpeg", "6"},
};

/* ids as "1,3,6" */
typedef struct idlist {
    char s[64];
    size_t n;
} idlist;

static void idlist_add(idlist *l, long long id)
{
    l->n += (size_t)snprintf(l->s + l->n, sizeof l->s - l->n, "%s%lld", l->n ? "," : "", id);
}

/* SQLite */

static void sqlite_hamming(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL || sqlite3_value_type(argv[1]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    uint64_t a = (uint64_t)sqlite3_value_int64(argv[0]);
    uint64_t b = strtoull((const char *)sqlite3_value_text(argv[1]), NULL, 16);
    sqlite3_result_int(ctx, __builtin_popcountll(a ^ b));
}

static void sqlite_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%s: %s", sql, msg);
}

static const char *SCHEMA_SQL[2] = {
    "CREATE TABLE data (id INTEGER PRIMARY KEY, width INTEGER, height INTEGER, format TEXT, "
    "filename TEXT, size INTEGER, created INTEGER, source TEXT, reviewed INTEGER, score REAL, "
    "phash INTEGER, meta TEXT, exif TEXT);"
    "CREATE TABLE tag (id INTEGER PRIMARY KEY, name TEXT UNIQUE);"
    "CREATE TABLE data_tag (data_id INTEGER, tag_id INTEGER);",
    "CREATE TABLE data (id int PRIMARY KEY, width int, height int, format text, filename text, "
    "size bigint, created bigint, source text, reviewed boolean, score float8, phash bigint, "
    "meta jsonb, exif jsonb);"
    "CREATE TABLE tag (id int PRIMARY KEY, name text UNIQUE);"
    "CREATE TABLE data_tag (data_id int, tag_id int);"
    "CREATE FUNCTION hamming(a bigint, b text) RETURNS int LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT bit_count((a # ('x' || lpad(b, 16, '0'))::bit(64)::bigint)::bit(64))::int $$;",
};

/* The 13 column values of a row as text (NULL for SQL NULL). */
static void row_values(const row *r, const char *v[13], char *idbuf, char *created)
{
    int64_t ms;
    cr_assert_eq(time_parse_iso(r->created, &ms), 0);
    sprintf(idbuf, "%d", r->id);
    sprintf(created, "%lld", (long long)ms);
    const char *vals[13] = {idbuf, r->width, r->height, r->format, r->filename, r->size,
                            created, r->source, r->reviewed, r->score, r->phash, r->meta, r->exif};
    memcpy(v, vals, sizeof vals);
}

static const char *INSERT_SQL =
    "INSERT INTO data VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/* tag names over all rows, in first-seen order */
static size_t all_tags(char names[][16])
{
    size_t n = 0;
    for (size_t r = 0; r < sizeof ROWS / sizeof ROWS[0]; r++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", ROWS[r].tags);
        for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
            size_t k = 0;
            while (k < n && strcmp(names[k], t))
                k++;
            if (k == n)
                snprintf(names[n++], 16, "%s", t);
        }
    }
    return n;
}

static bool row_has_tag(const row *r, const char *tag)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", r->tags);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ","))
        if (!strcmp(t, tag))
            return true;
    return false;
}

static sqlite3 *sqlite_fixture(void)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    sqlite_exec(db, SCHEMA_SQL[0]);
    sqlite3_create_function(db, "hamming", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                            sqlite_hamming, NULL, NULL);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, INSERT_SQL, -1, &st, NULL), SQLITE_OK);
    for (size_t r = 0; r < sizeof ROWS / sizeof ROWS[0]; r++) {
        const char *v[13];
        char idbuf[16], created[24];
        row_values(&ROWS[r], v, idbuf, created);
        for (int k = 0; k < 13; k++) {
            if (!v[k])
                sqlite3_bind_null(st, k + 1);
            else if (k == 3 || k == 4 || k == 7 || k == 11 || k == 12)
                sqlite3_bind_text(st, k + 1, v[k], -1, SQLITE_STATIC);
            else if (k == 9)
                sqlite3_bind_double(st, k + 1, atof(v[k]));
            else
                sqlite3_bind_int64(st, k + 1, atoll(v[k]));
        }
        cr_assert_eq(sqlite3_step(st), SQLITE_DONE, "%s", sqlite3_errmsg(db));
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    char names[16][16];
    size_t nt = all_tags(names);
    for (size_t k = 0; k < nt; k++) {
        char *sql = sqlite3_mprintf("INSERT INTO tag VALUES (%d, %Q)", (int)k + 1, names[k]);
        sqlite_exec(db, sql);
        sqlite3_free(sql);
        for (size_t r = 0; r < sizeof ROWS / sizeof ROWS[0]; r++)
            if (row_has_tag(&ROWS[r], names[k])) {
                sql = sqlite3_mprintf("INSERT INTO data_tag VALUES (%d, %d)", ROWS[r].id,
                                      (int)k + 1);
                sqlite_exec(db, sql);
                sqlite3_free(sql);
            }
    }
    return db;
}

static void sqlite_run(sqlite3 *db, const char *q, idlist *out)
{
    query_sql qs;
    err e = {0};
    cr_assert_eq(query_to_sql(q, strlen(q), &SCHEMA, NULL, QUERY_SQLITE, 1, &qs, &e), 0,
                 "[%s]: %s", q, e.msg);
    char *sql = sqlite3_mprintf("SELECT d.id FROM data d WHERE %s ORDER BY d.id", qs.where);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "[%s] %s: %s", q, sql,
                 sqlite3_errmsg(db));
    /* $N are named parameters in SQLite: bind by name */
    for (size_t k = 0; k < qs.nparams; k++) {
        char name[16];
        snprintf(name, sizeof name, "$%zu", k + 1);
        int idx = sqlite3_bind_parameter_index(st, name);
        cr_assert_gt(idx, 0, "[%s] placeholder %s unused", q, name);
        const query_param *p = &qs.params[k];
        if (p->type == QUERY_P_INT)
            sqlite3_bind_int64(st, idx, p->i);
        else if (p->type == QUERY_P_FLOAT)
            sqlite3_bind_double(st, idx, p->f);
        else if (p->type == QUERY_P_TEXT)
            sqlite3_bind_text(st, idx, p->s, (int)p->len, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, idx);
    }
    memset(out, 0, sizeof *out);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        idlist_add(out, sqlite3_column_int64(st, 0));
    cr_assert_eq(rc, SQLITE_DONE, "[%s] %s: %s", q, sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_free(sql);
    query_sql_free(&qs);
}

Test(query_sqlite, queries_return_the_right_rows)
{
    sqlite3 *db = sqlite_fixture();
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        idlist got;
        sqlite_run(db, CASES[k].q, &got);
        cr_expect_str_eq(got.s, CASES[k].ids, "[%s]", CASES[k].q);
    }
    /* the table survived the injection attempt */
    idlist all;
    sqlite_run(db, "", &all);
    cr_assert_str_eq(all.s, "1,2,3,4,5,6");
    sqlite3_close(db);
}

/* PostgreSQL: a throwaway cluster in a temporary directory, reachable only
 * through a Unix socket there (listen_addresses=''), so it conflicts with
 * nothing. initdb refuses to run as root: as root it runs as postgres. */

static char pg_dir[64];
static char pg_conninfo[160];

/* Runs cmd with sh as the cluster's owner, PostgreSQL's bin directory on
 * the PATH (Debian keeps it out of /usr/bin). */
static int sh(const char *cmd)
{
    char script[128], full[256];
    snprintf(script, sizeof script, "%s/cmd.sh", pg_dir);
    FILE *f = fopen(script, "w");
    cr_assert_not_null(f);
    fprintf(f, "for d in /usr/lib/postgresql/*/bin; do PATH=\"$PATH:$d\"; done\n%s\n", cmd);
    fclose(f);
    chmod(script, 0755);
    snprintf(full, sizeof full, "%ssh %s", geteuid() == 0 ? "runuser -u postgres -- " : "",
             script);
    return system(full);
}

static void pg_start(void)
{
    snprintf(pg_dir, sizeof pg_dir, "/tmp/cvops-pgtest-XXXXXX");
    cr_assert_not_null(mkdtemp(pg_dir));
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw)
            cr_skip_test("running as root without a postgres user");
        cr_assert_eq(chown(pg_dir, pw->pw_uid, pw->pw_gid), 0);
    }
    if (sh("command -v initdb >/dev/null") != 0)
        cr_skip_test("PostgreSQL's initdb is not installed");
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "initdb -D %s/data -U postgres -A trust -E UTF8 --no-sync >%s/initdb.log 2>&1",
             pg_dir, pg_dir);
    cr_assert_eq(sh(cmd), 0, "initdb failed, see %s/initdb.log", pg_dir);
    snprintf(cmd, sizeof cmd,
             "pg_ctl -D %s/data -l %s/log -w -o \"-c listen_addresses='' -k %s -p 5432 -c "
             "fsync=off\" start >/dev/null",
             pg_dir, pg_dir, pg_dir);
    cr_assert_eq(sh(cmd), 0, "pg_ctl start failed, see %s/log", pg_dir);
    snprintf(pg_conninfo, sizeof pg_conninfo, "host=%s port=5432 user=postgres dbname=postgres",
             pg_dir);
}

static void pg_stop(void)
{
    if (!pg_dir[0])
        return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "pg_ctl -D %s/data -m immediate stop >/dev/null 2>&1", pg_dir);
    sh(cmd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", pg_dir);
    (void)!system(cmd);
}

static void pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

static void pg_run(PGconn *c, const char *q, idlist *out)
{
    query_sql qs;
    err e = {0};
    cr_assert_eq(query_to_sql(q, strlen(q), &SCHEMA, NULL, QUERY_POSTGRES, 1, &qs, &e), 0,
                 "[%s]: %s", q, e.msg);
    sbuf sql = SBUF_INIT;
    sbuf_printf(&sql, "SELECT d.id FROM data d WHERE %s ORDER BY d.id", qs.where);
    const char *vals[64];
    char bufs[64][32];
    cr_assert_leq(qs.nparams, 64);
    for (size_t k = 0; k < qs.nparams; k++) {
        const query_param *p = &qs.params[k];
        if (p->type == QUERY_P_INT)
            snprintf(bufs[k], sizeof bufs[k], "%lld", (long long)p->i), vals[k] = bufs[k];
        else if (p->type == QUERY_P_FLOAT)
            snprintf(bufs[k], sizeof bufs[k], "%.17g", p->f), vals[k] = bufs[k];
        else if (p->type == QUERY_P_TEXT)
            vals[k] = p->s;
        else
            vals[k] = NULL;
    }
    PGresult *r = PQexecParams(c, sql.p, (int)qs.nparams, NULL, vals, NULL, NULL, 0);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "[%s] %s: %s", q, sql.p, PQerrorMessage(c));
    memset(out, 0, sizeof *out);
    for (int i = 0; i < PQntuples(r); i++)
        idlist_add(out, atoll(PQgetvalue(r, i, 0)));
    PQclear(r);
    sbuf_free(&sql);
    query_sql_free(&qs);
}

Test(query_postgres, same_rows_as_sqlite, .init = pg_start, .fini = pg_stop, .timeout = 60)
{
    PGconn *c = PQconnectdb(pg_conninfo);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    pg_exec(c, SCHEMA_SQL[1]);
    for (size_t r = 0; r < sizeof ROWS / sizeof ROWS[0]; r++) {
        const char *v[13];
        char idbuf[16], created[24];
        row_values(&ROWS[r], v, idbuf, created);
        if (v[8])
            v[8] = !strcmp(v[8], "1") ? "true" : "false";
        PGresult *res = PQexecParams(c, INSERT_SQL, 13, NULL, v, NULL, NULL, 0);
        cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
        PQclear(res);
    }
    char names[16][16];
    size_t nt = all_tags(names);
    for (size_t k = 0; k < nt; k++) {
        char id[8];
        snprintf(id, sizeof id, "%zu", k + 1);
        const char *tv[2] = {id, names[k]};
        PGresult *res = PQexecParams(c, "INSERT INTO tag VALUES ($1, $2)", 2, NULL, tv, NULL,
                                     NULL, 0);
        cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
        PQclear(res);
        for (size_t r = 0; r < sizeof ROWS / sizeof ROWS[0]; r++)
            if (row_has_tag(&ROWS[r], names[k])) {
                char rid[8];
                snprintf(rid, sizeof rid, "%d", ROWS[r].id);
                const char *lv[2] = {rid, id};
                res = PQexecParams(c, "INSERT INTO data_tag VALUES ($1, $2)", 2, NULL, lv, NULL,
                                   NULL, 0);
                cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
                PQclear(res);
            }
    }
    for (size_t k = 0; k < sizeof CASES / sizeof CASES[0]; k++) {
        idlist got;
        pg_run(c, CASES[k].q, &got);
        cr_expect_str_eq(got.s, CASES[k].ids, "[%s]", CASES[k].q);
    }
    PQfinish(c);
}
