/*
 * Unit tests for src/store/blob: both drivers, against a real folder and the
 * S3 test server ($CVOPS_TEST_S3_URL, started by tests/with-services).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <dirent.h>

#include "base/util.h"
#include "store/blob.h"
#include "testutil.h"

static blob_store *open_store(int kind)
{
    char url[600];
    if (kind == 0) {
        snprintf(url, sizeof url, "file:%s/blobs", test_tmpdir());
    } else {
        const char *u = getenv("CVOPS_TEST_S3_URL");
        cr_assert_not_null(u, "CVOPS_TEST_S3_URL is not set; run through tests/with-services");
        snprintf(url, sizeof url, "%s", u);
        /* a fresh prefix per test keeps parallel tests apart */
        char tok[20];
        rand_token(tok, sizeof tok, 8);
        size_t l = strlen(url);
        snprintf(url + l, sizeof url - l, "&prefix=t-%s/", tok);
    }
    blob_store *bs;
    err e;
    cr_assert_eq(blob_open(url, test_tmpdir(), &bs, &e), 0, "%s: %s", url, e.msg);
    return bs;
}

static int collect(void *ctx, const void *p, size_t n)
{
    sbuf_put(ctx, p, n);
    return 0;
}

ParameterizedTestParameters(blob, roundtrip) {
    static int kinds[] = {0, 1};
    return cr_make_param_array(int, kinds, 2);
}

ParameterizedTest(int *kind, blob, roundtrip)
{
    blob_store *bs = open_store(*kind);
    err e;
    /* 3 MB written in uneven pieces */
    size_t n = 3 * 1024 * 1024 + 17;
    unsigned char *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    blob_writer *w = blob_writer_new(bs, &e);
    cr_assert_not_null(w, "%s", e.msg);
    for (size_t off = 0; off < n;) {
        size_t k = off % 7 == 0 ? 100001 : 4093;
        if (k > n - off)
            k = n - off;
        cr_assert_eq(blob_writer_write(w, data + off, k, &e), 0, "%s", e.msg);
        off += k;
    }
    size_t hl;
    const unsigned char *head = blob_writer_head(w, &hl);
    cr_assert_eq(hl, BLOB_HEAD_MAX);
    cr_assert_eq(memcmp(head, data, hl), 0);
    blob_ref ref;
    cr_assert_eq(blob_writer_commit(w, NULL, &ref, &e), 0, "%s", e.msg);
    char want[65];
    sha256_hex(data, n, want);
    cr_assert_str_eq(ref.sha, want);
    cr_assert_eq(ref.size, (int64_t)n);
    cr_assert(!ref.existed);

    int64_t size = 0;
    cr_assert_eq(blob_stat(bs, ref.sha, &size, &e), 0, "%s", e.msg);
    cr_assert_eq(size, (int64_t)n);

    sbuf all = SBUF_INIT;
    cr_assert_eq(blob_get(bs, ref.sha, n, &all, &e), 0, "%s", e.msg);
    cr_assert_eq(all.len, n);
    cr_assert_eq(memcmp(all.p, data, n), 0);
    sbuf_free(&all);

    /* range */
    sbuf part = SBUF_INIT;
    cr_assert_eq(blob_read(bs, ref.sha, 1000, 5000, collect, &part, &e), 0, "%s", e.msg);
    cr_assert_eq(part.len, 5000);
    cr_assert_eq(memcmp(part.p, data + 1000, 5000), 0);
    sbuf_reset(&part);
    cr_assert_eq(blob_read(bs, ref.sha, (int64_t)n - 10, -1, collect, &part, &e), 0);
    cr_assert_eq(part.len, 10);
    sbuf_free(&part);

    /* too large for the caller's limit */
    sbuf small = SBUF_INIT;
    cr_assert_eq(blob_get(bs, ref.sha, 1000, &small, &e), -1);
    cr_assert_eq(e.code, ERR_TOO_LARGE);
    sbuf_free(&small);

    /* the same content again is deduplicated */
    blob_ref again;
    cr_assert_eq(blob_put(bs, data, n, &again, &e), 0, "%s", e.msg);
    cr_assert(again.existed);
    cr_assert_str_eq(again.sha, ref.sha);

    cr_assert_eq(blob_delete(bs, ref.sha, &e), 0, "%s", e.msg);
    cr_assert_eq(blob_stat(bs, ref.sha, NULL, &e), -1);
    cr_assert_eq(e.code, ERR_NOT_FOUND);
    free(data);
    blob_close(bs);
}

ParameterizedTestParameters(blob, bad_names_never_touch_storage) {
    static int kinds[] = {0, 1};
    return cr_make_param_array(int, kinds, 2);
}

ParameterizedTest(int *kind, blob, bad_names_never_touch_storage)
{
    blob_store *bs = open_store(*kind);
    err e;
    const char *bad[] = {"../../etc/passwd", "", "ABCDEF",
                         "0000000000000000000000000000000000000000000000000000000000000000/..",
                         "000000000000000000000000000000000000000000000000000000000000000G"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        cr_assert_eq(blob_stat(bs, bad[i], NULL, &e), -1);
        cr_assert_eq(e.code, ERR_INVALID, "%s", bad[i]);
        cr_assert_eq(blob_delete(bs, bad[i], &e), -1);
        cr_assert_eq(e.code, ERR_INVALID);
    }
    blob_close(bs);
}

Test(blob, aborted_writer_leaves_nothing)
{
    const char *dir = test_tmpdir();
    char url[300];
    snprintf(url, sizeof url, "file:%s/b", dir);
    blob_store *bs;
    err e;
    cr_assert_eq(blob_open(url, NULL, &bs, &e), 0, "%s", e.msg);
    blob_writer *w = blob_writer_new(bs, &e);
    cr_assert_eq(blob_writer_write(w, "hello", 5, &e), 0);
    blob_writer_abort(w);
    /* nothing but the empty tmp folder */
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s/b/tmp", dir);
    DIR *d = opendir(tmp);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' || strlen(de->d_name) > 2)
            files++;
    closedir(d);
    cr_assert_eq(files, 0);
    char sha[65];
    sha256_hex("hello", 5, sha);
    cr_assert_eq(blob_stat(bs, sha, NULL, &e), -1);
    blob_close(bs);
}

Test(blob, announced_hash_mismatch_stores_nothing)
{
    char url[300];
    snprintf(url, sizeof url, "file:%s/b", test_tmpdir());
    blob_store *bs;
    err e;
    cr_assert_eq(blob_open(url, NULL, &bs, &e), 0, "%s", e.msg);
    char good[65], other[65];
    sha256_hex("hello", 5, good);
    sha256_hex("world", 5, other);
    blob_writer *w = blob_writer_new(bs, &e);
    blob_writer_write(w, "hello", 5, &e);
    blob_ref ref;
    cr_assert_eq(blob_writer_commit(w, other, &ref, &e), -1);
    cr_assert_eq(e.code, ERR_INVALID);
    cr_assert_eq(blob_stat(bs, good, NULL, &e), -1, "nothing may be stored");
    w = blob_writer_new(bs, &e);
    blob_writer_write(w, "hello", 5, &e);
    cr_assert_eq(blob_writer_commit(w, good, &ref, &e), 0, "%s", e.msg);
    cr_assert_str_eq(ref.sha, good);
    blob_close(bs);
}

Test(blob, bad_urls_are_explained)
{
    blob_store *bs;
    err e;
    cr_assert_eq(blob_open("ftp://x", NULL, &bs, &e), -1);
    cr_assert_not_null(strstr(e.msg, "file:DIR"));
    cr_assert_eq(blob_open("s3://?endpoint=http://127.0.0.1:1", NULL, &bs, &e), -1);
    cr_assert_not_null(strstr(e.msg, "bucket"));
    cr_assert_eq(blob_open("s3://b?endpoint=ftp://x", NULL, &bs, &e), -1);
    cr_assert_not_null(strstr(e.msg, "http://"), "%s", e.msg);
    setenv("AWS_ACCESS_KEY_ID", "x", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "y", 1);
    cr_assert_eq(blob_open("s3://b?endpoint=http://127.0.0.1:1", NULL, &bs, &e), -1);
    cr_assert_eq(e.code, ERR_UNAVAILABLE);
    cr_assert_not_null(strstr(e.msg, "cannot reach"), "%s", e.msg);
}

Test(blob, s3_wrong_secret_is_refused)
{
    const char *u = getenv("CVOPS_TEST_S3_URL");
    cr_assert_not_null(u);
    setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret", 1);
    blob_store *bs;
    err e;
    cr_assert_eq(blob_open(u, NULL, &bs, &e), -1);
    cr_assert_not_null(strstr(e.msg, "AWS_SECRET_ACCESS_KEY"), "%s", e.msg);
}
