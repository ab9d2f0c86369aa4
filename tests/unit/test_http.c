/*
 * Unit tests for the HTTP layer's path decoding: every trick a client can
 * play with the request target, and the ordinary paths that must pass.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "http/http.h"

static int decode(const char *raw, char *out, size_t n, err *e)
{
    return http_path_decode(raw, strlen(raw), out, n, e);
}

Test(http_path, ordinary_paths_decode)
{
    char out[256];
    err e;
    struct {
        const char *in, *out;
    } ok[] = {
        {"/", "/"},
        {"/api/v1/jobs", "/api/v1/jobs"},
        {"/api/v1/jobs/", "/api/v1/jobs"},
        {"/api/v1/data/caf%C3%A9", "/api/v1/data/caf\xC3\xA9"},
        {"/a%20b", "/a b"},
        {"/assets/index-3f2a.js", "/assets/index-3f2a.js"},
        {"/a/.hidden", "/a/.hidden"},
        {"/a/..b", "/a/..b"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        cr_assert_eq(decode(ok[i].in, out, sizeof out, &e), 0, "%s: %s", ok[i].in, e.msg);
        cr_assert_str_eq(out, ok[i].out);
    }
}

Test(http_path, tricks_are_refused_with_a_reason)
{
    char out[256];
    err e;
    struct {
        const char *in, *why;
    } bad[] = {
        {"", "start with"},
        {"api/v1", "start with"},
        {"/api/../etc/passwd", "'..'"},
        {"/api/./x", "'.'"},
        {"/api/%2e%2e/x", "'..'"},
        {"/api/%2E%2e", "'..'"},
        {"/api/%252e%252e", "twice"},
        {"/api/%2fetc", "encoded '/'"},
        {"/api/%2Fetc", "encoded '/'"},
        {"/api/x%00", "NUL"},
        {"/api\\x", "backslash"},
        {"/api/%5cx", "backslash"},
        {"/api//x", "empty segment"},
        {"/api/%0ax", "control"},
        {"/api/%7fx", "control"},
        {"/api/%", "truncated"},
        {"/api/%4", "truncated"},
        {"/api/%zz", "invalid"},
        {"/api/%ff", "UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err_clear(&e);
        cr_assert_eq(decode(bad[i].in, out, sizeof out, &e), -1, "%s must be refused", bad[i].in);
        cr_assert_eq(e.code, ERR_INVALID);
        cr_assert_not_null(strstr(e.msg, bad[i].why), "%s: '%s' should mention '%s'", bad[i].in,
                           e.msg, bad[i].why);
    }
}

Test(http_path, length_is_bounded)
{
    char big[5000];
    big[0] = '/';
    memset(big + 1, 'a', sizeof big - 2);
    big[sizeof big - 1] = 0;
    char out[8192];
    err e;
    cr_assert_eq(http_path_decode(big, strlen(big), out, sizeof out, &e), -1);
    cr_assert_not_null(strstr(e.msg, "longer"));
    /* output buffer smaller than the input is refused, not overflowed */
    cr_assert_eq(http_path_decode("/abcdef", 7, out, 4, &e), -1);
}
