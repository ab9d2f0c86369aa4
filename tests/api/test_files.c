/*
 * API tests: streamed file upload and download (ranges, ETag, integrity,
 * organization isolation).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "base/util.h"

static api_resp *put_file(const char *token, const void *data, size_t n, const char *sha_hdr)
{
    char h[120];
    const char *hdrs[2] = {NULL, NULL};
    if (sha_hdr) {
        snprintf(h, sizeof h, "X-Content-SHA256: %s", sha_hdr);
        hdrs[0] = h;
    }
    api_opts o = {.token = token, .body = data, .body_len = n,
                  .content_type = "application/octet-stream", .headers = hdrs};
    return api_do("PUT", "/api/v1/files", &o);
}

Test(files, upload_download_range_etag)
{
    size_t n = 5 * 1024 * 1024 + 3;
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7 + (i >> 11));
    char sha[65];
    sha256_hex(data, n, sha);
    api_resp *r = put_file(api_admin_token(), data, n, sha);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "sha256")), sha);
    cr_assert_eq(json_integer_value(json_object_get(r->json, "size")), (json_int_t)n);
    api_free(r);
    r = put_file(api_admin_token(), data, n, NULL);
    cr_assert(json_is_true(json_object_get(r->json, "existed")));
    api_free(r);

    char path[120];
    snprintf(path, sizeof path, "/api/v1/files/%s?filename=a%%22b.bin", sha);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(r->body.len, n);
    cr_assert_eq(memcmp(r->body.p, data, n), 0);
    char *etag = api_header(r, "ETag");
    char *cd = api_header(r, "Content-Disposition");
    cr_assert_not_null(strstr(cd, "filename=\"a_b.bin\""), "%s", cd);
    api_free(r);

    const char *range[] = {"Range: bytes=100-199", NULL};
    api_opts o = {.token = api_admin_token(), .headers = range};
    r = api_do("GET", path, &o);
    cr_assert_eq(r->status, 206);
    cr_assert_eq(r->body.len, 100);
    cr_assert_eq(memcmp(r->body.p, data + 100, 100), 0);
    char *cr = api_header(r, "Content-Range");
    char want[80];
    snprintf(want, sizeof want, "bytes 100-199/%zu", n);
    cr_assert_str_eq(cr, want);
    free(cr);
    api_free(r);
    const char *suffix[] = {"Range: bytes=-10", NULL};
    o.headers = suffix;
    r = api_do("GET", path, &o);
    cr_assert_eq(r->status, 206);
    cr_assert_eq(memcmp(r->body.p, data + n - 10, 10), 0);
    api_free(r);
    const char *bad[] = {"Range: bytes=999999999-", NULL};
    o.headers = bad;
    r = api_do("GET", path, &o);
    cr_assert_eq(r->status, 416);
    api_free(r);
    char inm[120];
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    const char *cond[] = {inm, NULL};
    o.headers = cond;
    r = api_do("GET", path, &o);
    cr_assert_eq(r->status, 304);
    api_free(r);
    free(etag);
    free(cd);
    free(data);
}

Test(files, wrong_announced_hash_stores_nothing)
{
    const char *data = "some bytes that are not what was announced";
    char other[65];
    sha256_hex("x", 1, other);
    api_resp *r = put_file(api_admin_token(), data, strlen(data), other);
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "not"));
    api_free(r);
    char sha[65], path[100];
    sha256_hex(data, strlen(data), sha);
    snprintf(path, sizeof path, "/api/v1/files/%s", sha);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
    r = put_file(api_admin_token(), "", 0, NULL);
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "empty"));
    api_free(r);
    r = put_file(api_admin_token(), "abc", 3, "not-hex");
    cr_assert_eq(r->status, 400);
    api_free(r);
}

Test(files, other_organizations_cannot_read_by_hash)
{
    const char *data = "private content of the default organization";
    api_resp *r = put_file(api_admin_token(), data, strlen(data), NULL);
    char sha[65];
    snprintf(sha, sizeof sha, "%s", json_string_value(json_object_get(r->json, "sha256")));
    api_free(r);
    /* a user in a new org of their own */
    char *tok = api_user("member", NULL);
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("fo"));
    r = api_tok(tok, "POST", "/api/v1/orgs", body);
    int64_t org = json_integer_value(json_object_get(r->json, "id"));
    api_free(r);
    r = api_tok(tok, "GET", "/api/v1/me", NULL);
    char name[80];
    snprintf(name, sizeof name, "%s", json_string_value(json_object_get(json_object_get(r->json, "user"), "username")));
    api_free(r);
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"password-%s\",\"org_id\":%lld,\"token_name\":\"x\"}", name, name, (long long)org);
    api_opts o = {.body = body};
    r = api_do("POST", "/api/v1/auth/login", &o);
    char otok[128];
    snprintf(otok, sizeof otok, "%s", json_string_value(json_object_get(r->json, "token")));
    api_free(r);
    char path[100];
    snprintf(path, sizeof path, "/api/v1/files/%s", sha);
    r = api_tok(otok, "GET", path, NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
    /* viewers cannot upload */
    char *viewer = api_user("viewer", NULL);
    r = put_file(viewer, "abc", 3, NULL);
    cr_assert_eq(r->status, 403);
    api_free(r);
    free(viewer);
    free(tok);
}

/* A multipart/form-data body: only the file part's bytes are stored; text
 * fields before and after it are read as form fields. */
Test(files, multipart_body_stores_the_file_part)
{
    const char *content = "line one\r\n--not-a-boundary\r\nline three";
    char body[1024];
    int n = snprintf(body, sizeof body,
                     "--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                     "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
                     "Content-Type: text/plain\r\n\r\n%s\r\n--XyZ--\r\n",
                     content);
    api_opts o = {.token = api_admin_token(), .body = body, .body_len = (size_t)n,
                  .content_type = "multipart/form-data; boundary=XyZ"};
    api_resp *r = api_do("PUT", "/api/v1/files", &o);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    char sha[65];
    sha256_hex(content, strlen(content), sha);
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "sha256")), sha);
    api_free(r);
    /* no boundary */
    api_opts nb = {.token = api_admin_token(), .body = "x", .content_type = "multipart/form-data"};
    r = api_do("PUT", "/api/v1/files", &nb);
    cr_assert_eq(r->status, 400, "%s", r->body.p);
    api_free(r);
}
