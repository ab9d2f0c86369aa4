/*
 * API tests: health, the OpenAPI document, metrics, and the 4xx answers
 * every endpoint shares (unknown routes, methods, malformed JSON, limits,
 * credentials, path tricks).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

Test(system, health_needs_no_auth)
{
    api_resp *r = api_do("GET", "/api/v1/health", NULL);
    cr_assert_eq(r->status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "status")), "ok");
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "database")),
                     api_is_pg() ? "postgres" : "sqlite");
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "blobs")),
                     api_is_pg() ? "s3" : "file");
    api_free(r);
    r = api_do("GET", "/api/v1/health?deep=1", NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
}

/* Every operation in the OpenAPI document is routed (not the "no API
 * endpoint" 404), is documented, and says how it is authenticated. */
Test(system, openapi_describes_every_route)
{
    api_resp *r = api_do("GET", "/api/v1/openapi.json", NULL);
    cr_assert_eq(r->status, 401, "only health and login answer without credentials");
    api_free(r);
    r = api_admin("GET", "/api/v1/openapi.json", NULL);
    cr_assert_eq(r->status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "openapi")), "3.0.3");
    json_t *paths = json_object_get(r->json, "paths");
    cr_assert_gt(json_object_size(paths), 10);
    const char *path;
    json_t *item;
    int ops = 0;
    json_object_foreach(paths, path, item)
    {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op)
        {
            ops++;
            const char *summary = json_string_value(json_object_get(op, "summary"));
            cr_assert(summary && strlen(summary) > 5, "%s %s has no summary", method, path);
            cr_assert_not_null(json_object_get(op, "responses"));
            /* substitute path parameters and call it without credentials */
            char concrete[512];
            size_t k = 0;
            for (const char *p = path; *p && k < sizeof concrete - 8; p++) {
                if (*p == '{') {
                    const char *end = strchr(p, '}');
                    k += (size_t)snprintf(concrete + k, sizeof concrete - k, "1");
                    p = end;
                } else {
                    concrete[k++] = *p;
                }
            }
            concrete[k] = 0;
            char m[8];
            for (int i = 0; method[i] && i < 7; i++)
                m[i] = (char)(method[i] - 32), m[i + 1] = 0;
            api_resp *x = api_do(m, concrete, NULL);
            bool unrouted = x->status == 404 && strstr(api_error_message(x), "no API endpoint");
            cr_assert(!unrouted && x->status != 405, "%s %s is in OpenAPI but not routed (%ld)",
                      m, concrete, x->status);
            bool is_public = json_is_array(json_object_get(op, "security")) &&
                             json_array_size(json_object_get(op, "security")) == 0;
            if (!is_public)
                cr_assert_eq(x->status, 401, "%s %s must need authentication, got %ld", m,
                             concrete, x->status);
            api_free(x);
        }
    }
    cr_assert_gt(ops, 20);
    api_free(r);
}

/* The value of the metric line starting with name (labels included), or -1. */
static double metric_value(const char *text, const char *name)
{
    const char *p = text;
    size_t n = strlen(name);
    while ((p = strstr(p, name)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    return -1;
}

/* Counters are kept per thread (http.c): requests on separate connections
 * (separate threads by default) must all be counted, and the histogram's
 * count must agree with the requests counted by status. */
Test(system, metrics_add_up_requests_of_every_thread)
{
    const char *total = "cvops_http_requests_total{method=\"GET\",route=\"/api/v1/health\",status=\"200\"}";
    const char *count = "cvops_http_request_duration_seconds_count{route=\"/api/v1/health\"}";
    api_resp *r = api_do("GET", "/api/v1/health", NULL);
    api_free(r);
    r = api_admin("GET", "/metrics", NULL);
    double before = metric_value(r->body.p, total);
    cr_assert_geq(before, 1, "%s", r->body.p);
    api_free(r);
    for (int i = 0; i < 20; i++) {
        r = api_do("GET", "/api/v1/health", NULL);
        cr_assert_eq(r->status, 200);
        api_free(r);
    }
    r = api_admin("GET", "/metrics", NULL);
    double after = metric_value(r->body.p, total), n = metric_value(r->body.p, count);
    cr_assert_geq(after - before, 20, "%g then %g", before, after);
    cr_assert_eq(n, after, "histogram count %g, requests %g (only 200s on this route)", n, after);
    api_free(r);
}

Test(system, metrics_count_requests_and_jobs)
{
    api_resp *r = api_do("GET", "/api/v1/health", NULL);
    api_free(r);
    r = api_do("GET", "/metrics", NULL);
    cr_assert_eq(r->status, 401, "metrics need a token (Prometheus: authorization.credentials)");
    api_free(r);
    r = api_admin("GET", "/metrics", NULL);
    cr_assert_eq(r->status, 200);
    cr_assert_not_null(strstr(r->body.p, "cvops_http_requests_total{method=\"GET\",route=\"/api/v1/health\",status=\"200\"}"));
    cr_assert_not_null(strstr(r->body.p, "cvops_http_request_duration_seconds_bucket{route=\"/api/v1/health\",le=\"+Inf\"}"));
    cr_assert_not_null(strstr(r->body.p, "cvops_jobs{state=\"queued\"}"));
    api_free(r);
}

Test(system, unknown_route_and_wrong_method)
{
    api_resp *r = api_admin("GET", "/api/v1/nope", NULL);
    cr_assert_eq(r->status, 404);
    cr_assert_str_eq(api_error_code(r), "not_found");
    cr_assert_not_null(strstr(api_error_message(r), "openapi.json"));
    api_free(r);
    r = api_admin("DELETE", "/api/v1/health", NULL);
    cr_assert_eq(r->status, 405);
    char *allow = api_header(r, "Allow");
    cr_assert_not_null(allow);
    cr_assert_str_eq(allow, "GET");
    free(allow);
    api_free(r);
    r = api_admin("BREW", "/api/v1/health", NULL);
    cr_assert_eq(r->status, 405);
    api_free(r);
}

Test(system, malformed_json_is_a_400_with_position)
{
    const char *bad[] = {"{", "{\"name\": }", "[1,2", "{\"a\":1,\"a\":2}", "\"just a string\"", "nul"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        api_resp *r = api_admin("POST", "/api/v1/tokens", bad[i]);
        cr_assert_eq(r->status, 400, "%s -> %ld", bad[i], r->status);
        cr_assert_str_eq(api_error_code(r), "invalid_argument");
        api_free(r);
    }
    api_resp *r = api_admin("POST", "/api/v1/tokens", "{\"name\": }");
    cr_assert_not_null(strstr(api_error_message(r), "column"), "%s", api_error_message(r));
    api_free(r);
    r = api_admin("POST", "/api/v1/tokens", "{\"name\": 5}");
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "field 'name' must be a string"));
    api_free(r);
    r = api_admin("POST", "/api/v1/tokens", "{\"nmae\": \"x\"}");
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "unknown field 'nmae'"));
    api_free(r);
    /* deep nesting does not crash the parser */
    size_t n = 100000;
    char *deep = malloc(2 * n + 1);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = 0;
    r = api_admin("POST", "/api/v1/tokens", deep);
    cr_assert_eq(r->status, 400);
    api_free(r);
    free(deep);
}

Test(system, wrong_content_type_is_415)
{
    api_opts o = {.token = api_admin_token(), .body = "name=x",
                  .content_type = "application/x-www-form-urlencoded"};
    api_resp *r = api_do("POST", "/api/v1/tokens", &o);
    cr_assert_eq(r->status, 415);
    cr_assert_not_null(strstr(api_error_message(r), "application/json"));
    api_free(r);
}

Test(system, oversize_json_body_is_413)
{
    size_t n = 17u << 20;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = 0;
    api_opts o = {.token = api_admin_token(), .body = big, .body_len = n};
    api_resp *r = api_do("POST", "/api/v1/tokens", &o);
    cr_assert_eq(r->status, 413, "%ld %s", r->status, r->body.p);
    cr_assert_str_eq(api_error_code(r), "too_large");
    api_free(r);
    free(big);
    /* the server is still fine */
    r = api_do("GET", "/api/v1/health", NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
}

/* The connection memory (16 KB, http.c) bounds the request line and headers:
 * 12 KB of them pass, 40 KB get 431 (headers) or 414 (URL), and the server
 * goes on serving. (Where between the two the limit falls depends on how the
 * request arrives in reads.) */
Test(system, request_headers_up_to_12_kb_pass_and_larger_are_refused)
{
    char *v = malloc(40001);
    memset(v, 'a', 40000);
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass == 0 ? 12000 : 40000;
        v[n] = 0;
        char *hdr = malloc(n + 16);
        snprintf(hdr, n + 16, "X-Big: %s", v);
        const char *hdrs[] = {hdr, NULL};
        api_opts o = {.token = api_admin_token(), .headers = hdrs};
        api_resp *r = api_do("GET", "/api/v1/jobs?limit=1", &o);
        cr_assert_eq(r->status, pass == 0 ? 200 : 431, "%zu bytes of header: %ld", n, r->status);
        api_free(r);
        char *path = malloc(n + 64);
        snprintf(path, n + 64, "/api/v1/jobs?limit=1&kind=%s", v);
        api_opts q = {.token = api_admin_token()};
        r = api_do("GET", path, &q);
        cr_assert_eq(r->status, pass == 0 ? 200 : 414, "%zu bytes of URL: %ld", n, r->status);
        api_free(r);
        free(path);
        free(hdr);
        v[n] = 'a';
    }
    free(v);
    api_resp *r = api_do("GET", "/api/v1/health", NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
}

Test(system, credentials_are_checked)
{
    api_resp *r = api_do("GET", "/api/v1/me", NULL);
    cr_assert_eq(r->status, 401);
    cr_assert_str_eq(api_error_code(r), "unauthenticated");
    cr_assert_not_null(strstr(api_error_message(r), "Authorization: Bearer"));
    api_free(r);
    r = api_tok("cvops_thisisnotarealtoken000000", "GET", "/api/v1/me", NULL);
    cr_assert_eq(r->status, 401);
    api_free(r);
    r = api_tok("short", "GET", "/api/v1/me", NULL);
    cr_assert_eq(r->status, 401);
    api_free(r);
    const char *hdr[] = {"Authorization: Basic YWRtaW46YWRtaW4=", NULL};
    api_opts o = {.headers = hdr};
    r = api_do("GET", "/api/v1/me", &o);
    cr_assert_eq(r->status, 401);
    cr_assert_not_null(strstr(api_error_message(r), "Bearer"));
    api_free(r);
    /* refused before the body is read */
    api_opts up = {.body = "xxxx", .content_type = "application/octet-stream"};
    r = api_do("PUT", "/api/v1/files", &up);
    cr_assert_eq(r->status, 401);
    api_free(r);
}

Test(system, path_tricks_are_refused)
{
    const char *paths[] = {
        "/api/v1/../v1/health",        "/api/v1/%2e%2e/v1/health", "/api/v1/%2E%2E%2Fetc%2Fpasswd",
        "/api/v1/%252e%252e/health",   "/api/v1/health%00.png",    "/api/v1\\health",
        "/api/v1/%5chealth",           "//api/v1/health",          "/api/v1//health",
        "/../../../../etc/passwd",     "/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2f..%2fetc%2fpasswd",
        "/api/v1/health%",             "/api/v1/health%zz",        "/api/v1/./health",
        "/index.html%00",              "/api/v1/%01health",
    };
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        api_opts o = {.token = api_admin_token(), .path_as_is = true};
        api_resp *r = api_do("GET", paths[i], &o);
        cr_assert(r->status == 400, "%s -> %ld %s", paths[i], r->status, r->body.p ? r->body.p : "");
        cr_assert_str_eq(api_error_code(r), "invalid_argument", "%s", paths[i]);
        cr_assert_null(strstr(r->body.p, "root:"), "%s leaked a file", paths[i]);
        api_free(r);
    }
    /* a trailing slash is tolerated */
    api_resp *r = api_do("GET", "/api/v1/health/", NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
}

Test(system, web_ui_root_answers)
{
    api_resp *r = api_do("GET", "/", NULL);
    cr_assert_eq(r->status, 200);
    char *ct = api_header(r, "Content-Type");
    cr_assert_not_null(strstr(ct, "text/html"));
    free(ct);
    api_free(r);
    r = api_do("GET", "/no-such-file.js", NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
}
