/*
 * Unit tests for src/base: sbuf, the JSON writer, arena, time parsing,
 * hex, names, integers.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/util.h"

Test(base_sbuf, grows_and_formats)
{
    sbuf b = SBUF_INIT;
    for (int i = 0; i < 1000; i++)
        sbuf_printf(&b, "%d,", i);
    cr_assert(!sbuf_failed(&b));
    cr_assert(str_has_prefix(sbuf_cstr(&b), "0,1,2,"));
    cr_assert_eq(b.len, strlen(b.p));
    sbuf_reset(&b);
    sbuf_put_i64(&b, INT64_MIN);
    cr_assert_str_eq(sbuf_cstr(&b), "-9223372036854775808");
    sbuf_free(&b);
}

Test(base_sbuf, json_string_escapes_and_repairs_utf8)
{
    sbuf b = SBUF_INIT;
    const char in[] = "a\"b\\c\n\x01\xff\xc3\xa9"; /* invalid 0xff, valid é */
    sbuf_json_str(&b, in, sizeof in - 1);
    cr_assert_str_eq(sbuf_cstr(&b), "\"a\\\"b\\\\c\\n\\u0001\xEF\xBF\xBD\xc3\xa9\"");
    json_error_t je;
    json_t *j = json_loads(sbuf_cstr(&b), JSON_DECODE_ANY, &je);
    cr_assert_not_null(j, "output must be valid JSON: %s", je.text);
    json_decref(j);
    sbuf_free(&b);
}

/* The expected escape of one byte of a string made of printable ASCII and
 * lone bytes (a byte of 0x80 or above alone is invalid UTF-8: U+FFFD). */
static void escape_ref(sbuf *o, unsigned char c)
{
    char tmp[8];
    if (c == '"' || c == '\\')
        snprintf(tmp, sizeof tmp, "\\%c", c);
    else if (c == '\n' || c == '\r' || c == '\t')
        snprintf(tmp, sizeof tmp, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
    else if (c < 0x20)
        snprintf(tmp, sizeof tmp, "\\u%04x", c);
    else if (c >= 0x80)
        snprintf(tmp, sizeof tmp, "\xEF\xBF\xBD");
    else
        snprintf(tmp, sizeof tmp, "%c", c);
    sbuf_puts(o, tmp);
}

/* sbuf_json_str scans eight bytes at a time: every byte that needs escaping
 * must be found at every offset, alone or next to another one (a borrow in
 * one byte must not hide the next), and neighbours of the special values
 * ('!' and '#' around the quote, '[' and ']' around the backslash, 0x20 and
 * 0x7f) must pass as they are. */
Test(base_sbuf, json_string_escapes_at_every_offset)
{
    static const unsigned char specials[] = {0x00, 0x01, '\n', 0x1f, '"', '\\', 0x80, 0xc3, 0xff};
    static const unsigned char plain[] = {' ', '!', '#', '[', ']', 0x7f, 'a'};
    for (size_t len = 0; len <= 27; len++)
        for (size_t p = 0; p < len; p++)
            for (size_t k = 0; k < sizeof specials + sizeof plain; k++)
                for (size_t gap = 0; gap <= 9; gap++) {
                    unsigned char in[32];
                    for (size_t i = 0; i < len; i++)
                        in[i] = (unsigned char)('A' + i % 26);
                    in[p] = k < sizeof specials ? specials[k] : plain[k - sizeof specials];
                    if (gap && p + gap < len)
                        in[p + gap] = '"'; /* a second special byte after the first */
                    sbuf got = SBUF_INIT, want = SBUF_INIT;
                    sbuf_json_str(&got, (const char *)in, len);
                    sbuf_putc(&want, '"');
                    for (size_t i = 0; i < len; i++)
                        escape_ref(&want, in[i]);
                    sbuf_putc(&want, '"');
                    cr_assert_str_eq(sbuf_cstr(&got), sbuf_cstr(&want),
                                     "length %zu, byte 0x%02x at %zu, gap %zu", len, in[p], p, gap);
                    cr_assert_eq(got.len, strlen(got.p));
                    sbuf_free(&got);
                    sbuf_free(&want);
                }
    /* a valid UTF-8 sequence (é) at every offset is copied as it is, and so
     * are the plain bytes around it */
    for (size_t len = 2; len <= 27; len++)
        for (size_t p = 0; p + 2 <= len; p++) {
            char in[32];
            for (size_t i = 0; i < len; i++)
                in[i] = (char)('A' + i % 26);
            in[p] = '\xc3';
            in[p + 1] = '\xa9';
            sbuf got = SBUF_INIT;
            sbuf_json_str(&got, in, len);
            cr_assert_eq(got.len, len + 2, "length %zu, é at %zu", len, p);
            cr_assert(got.p[0] == '"' && got.p[len + 1] == '"' && memcmp(got.p + 1, in, len) == 0,
                      "length %zu, é at %zu: %s", len, p, got.p);
            sbuf_free(&got);
        }
}

Test(base_jw, writes_nested_documents_that_parse)
{
    sbuf b = SBUF_INIT;
    jw w;
    jw_init(&w, &b);
    jw_obj(&w);
    jw_kint(&w, "id", 42);
    jw_kdbl(&w, "x", 0.1);
    jw_kdbl(&w, "nan", 0.0 / 0.0);
    jw_key(&w, "list");
    jw_arr(&w);
    jw_int(&w, 1);
    jw_str(&w, "two");
    jw_obj(&w);
    jw_obj_end(&w);
    jw_null(&w);
    jw_arr_end(&w);
    jw_kbool(&w, "ok", true);
    jw_obj_end(&w);
    cr_assert_str_eq(sbuf_cstr(&b),
                     "{\"id\":42,\"x\":0.1,\"nan\":null,\"list\":[1,\"two\",{},null],\"ok\":true}");
    sbuf_free(&b);
}

Test(base_jw, doubles_round_trip)
{
    double vals[] = {1.0 / 3, 1e-300, 123456789.125, -2.5e20, 0.30000000000000004};
    for (size_t i = 0; i < ARRAY_LEN(vals); i++) {
        sbuf b = SBUF_INIT;
        jw w;
        jw_init(&w, &b);
        jw_dbl(&w, vals[i]);
        cr_assert_eq(strtod(sbuf_cstr(&b), NULL), vals[i], "%s", sbuf_cstr(&b));
        sbuf_free(&b);
    }
}

Test(base_arena, alloc_align_and_big_blocks)
{
    arena *a = arena_new(256);
    char *s = arena_strdup(a, "hello");
    void *big = arena_alloc(a, 1 << 20);
    cr_assert_not_null(big);
    memset(big, 1, 1 << 20);
    for (int i = 0; i < 10000; i++) {
        void *p = arena_alloc(a, (size_t)(i % 37) + 1);
        cr_assert_eq((uintptr_t)p % 16, 0);
    }
    cr_assert_str_eq(s, "hello");
    cr_assert_str_eq(arena_printf(a, "%d-%s", 7, "x"), "7-x");
    arena_reset(a);
    cr_assert_eq(arena_used(a), 0);
    arena_free(a);
}

Test(base_time, parses_iso_forms)
{
    int64_t ms;
    cr_assert_eq(time_parse_iso("1970-01-01", &ms), 0);
    cr_assert_eq(ms, 0);
    cr_assert_eq(time_parse_iso("2026-01-01T00:00:00Z", &ms), 0);
    cr_assert_eq(ms, 1767225600000LL);
    cr_assert_eq(time_parse_iso("2026-01-01T02:00:00.5+02:00", &ms), 0);
    cr_assert_eq(ms, 1767225600500LL);
    char out[32];
    time_fmt_iso(1767225600500LL, out, sizeof out);
    cr_assert_str_eq(out, "2026-01-01T00:00:00.500Z");
    /* the formatter agrees with the parser across leap years and eras */
    const char *dates[] = {"1970-01-01T00:00:00.000Z", "2000-02-29T23:59:59.999Z",
                           "1969-12-31T23:59:59.999Z", "2100-03-01T00:00:00.001Z",
                           "1900-02-28T12:00:00.000Z", "2024-12-31T06:07:08.090Z"};
    for (size_t i = 0; i < ARRAY_LEN(dates); i++) {
        cr_assert_eq(time_parse_iso(dates[i], &ms), 0, "%s", dates[i]);
        time_fmt_iso(ms, out, sizeof out);
        cr_assert_str_eq(out, dates[i]);
    }
    cr_assert_neq(time_parse_iso("2026-02-30", &ms), 0);
    cr_assert_neq(time_parse_iso("2025-02-29", &ms), 0);
    cr_assert_eq(time_parse_iso("2024-02-29", &ms), 0);
    cr_assert_neq(time_parse_iso("2026-13-01", &ms), 0);
    cr_assert_neq(time_parse_iso("2026-01-01T25:00", &ms), 0);
    cr_assert_neq(time_parse_iso("2026-01-01x", &ms), 0);
    cr_assert_neq(time_parse_iso("", &ms), 0);
}

Test(base_util, hex_sha_tokens)
{
    char hex[65];
    sha256_hex("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cr_assert(is_sha256_hex(hex));
    cr_assert(!is_sha256_hex("BA7816bf"));
    unsigned char raw[32];
    cr_assert_eq(hex_decode(hex, 64, raw), 0);
    cr_assert_eq(raw[0], 0xba);
    cr_assert_eq(hex_decode("zz", 2, raw), -1);
    char t1[64], t2[64];
    rand_token(t1, sizeof t1, 20);
    rand_token(t2, sizeof t2, 20);
    cr_assert_eq(strlen(t1), 32);
    cr_assert_str_neq(t1, t2);
}

Test(base_util, incremental_sha_matches_one_shot)
{
    char buf[10000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (char)(i * 7);
    unsigned char a[32], b[32];
    sha256(buf, sizeof buf, a);
    sha256_ctx *c = sha256_new();
    for (size_t i = 0; i < sizeof buf; i += 333)
        sha256_update(c, buf + i, i + 333 > sizeof buf ? sizeof buf - i : 333);
    sha256_final(c, b);
    cr_assert_eq(memcmp(a, b, 32), 0);
}

Test(base_util, names_and_integers)
{
    err e;
    cr_assert_eq(name_check("name", "cats", 64, &e), 0);
    cr_assert_eq(name_check("name", "", 64, &e), -1);
    cr_assert_eq(e.code, ERR_INVALID);
    cr_assert_eq(name_check("name", "a\tb", 64, &e), -1);
    cr_assert(strstr(e.msg, "control character"));
    cr_assert_eq(name_check("name", " x", 64, &e), -1);
    cr_assert_eq(name_check("name", "\xff", 64, &e), -1);
    int64_t v;
    cr_assert_eq(parse_i64("limit", "100", 1, 1000, &v, &e), 0);
    cr_assert_eq(v, 100);
    cr_assert_eq(parse_i64("limit", "0", 1, 1000, &v, &e), -1);
    cr_assert(strstr(e.msg, "1..1000"));
    cr_assert_eq(parse_i64("limit", "12x", 1, 1000, &v, &e), -1);
    cr_assert_eq(parse_i64("limit", "99999999999999999999", 1, 1000, &v, &e), -1);
}

Test(base_err, codes_map_to_status_and_names)
{
    err e;
    err_set(&e, ERR_NOT_FOUND, "dataset '%s' not found", "x");
    cr_assert_eq(err_http_status(e.code), 404);
    cr_assert_str_eq(err_code_name(e.code), "not_found");
    err_prefix(&e, "line %d: ", 3);
    cr_assert_str_eq(e.msg, "line 3: dataset 'x' not found");
    /* without a separator of its own the prefix gets ": " */
    err_prefix(&e, "file %s", "a.json");
    cr_assert_str_eq(e.msg, "file a.json: line 3: dataset 'x' not found");
}
