/*
 * blob_s3.c - blobs in an S3-compatible object store, through libcurl.
 *
 * Path-style addressing (ENDPOINT/BUCKET/KEY) works with AWS, MinIO, Ceph,
 * Garage and the test server alike. Requests are signed by libcurl's SigV4
 * (CURLOPT_AWS_SIGV4). A PUT sends the content's SHA-256 as
 * x-amz-content-sha256, which is both part of the signature and a check the
 * store makes on the bytes it receives. Connections are reused across
 * threads through a curl share handle.
 *
 * Keys: PREFIX + "blobs/" + sha[0:2] + "/" + sha.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "store/blob_impl.h"

typedef struct {
    char *endpoint; /* http://host:port, no trailing slash */
    char *bucket;
    char *region;
    char *prefix;
    char *userpwd; /* "AK:SK" */
    char sigv4[96];
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
} s3_store;

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access a, void *p)
{
    (void)h;
    (void)a;
    s3_store *s = p;
    pthread_mutex_lock(&s->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *p)
{
    (void)h;
    s3_store *s = p;
    pthread_mutex_unlock(&s->locks[data]);
}

/* Value of query parameter `key` in q ("a=1&b=2"), URL-decoded, malloc'd. */
static char *query_param(const char *q, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = q; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            int outlen = 0;
            char *v = curl_easy_unescape(NULL, p + kl + 1, (int)(len - kl - 1), &outlen);
            char *r = v ? strdup(v) : NULL;
            curl_free(v);
            return r;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static void s3_free(s3_store *s)
{
    if (s->share)
        curl_share_cleanup(s->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&s->locks[i]);
    free(s->endpoint);
    free(s->bucket);
    free(s->region);
    free(s->prefix);
    free(s->userpwd);
    free(s);
}

static void s3_close(blob_store *bs) { s3_free(bs->drv); }

typedef struct {
    long status;
    sbuf errbody; /* first bytes of an error response */
    blob_sink sink;
    void *ctx;
    bool stopped;
    int fd;          /* upload source */
    int64_t up_off;
    int64_t length;  /* Content-Length of a HEAD */
} s3_req;

static size_t on_write(char *p, size_t sz, size_t n, void *u)
{
    s3_req *r = u;
    size_t len = sz * n;
    if (r->status == 0 || r->status >= 300 || !r->sink) {
        if (r->errbody.len < 2048)
            sbuf_put(&r->errbody, p, len);
        return len;
    }
    if (r->sink(r->ctx, p, len)) {
        r->stopped = true;
        return 0; /* aborts the transfer; not an error for our caller */
    }
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *u)
{
    s3_req *r = u;
    size_t len = sz * n;
    if (len > 9 && strncmp(p, "HTTP/", 5) == 0) {
        const char *sp = memchr(p, ' ', len);
        if (sp)
            r->status = strtol(sp + 1, NULL, 10);
    }
    return len;
}

static size_t on_read(char *buf, size_t sz, size_t n, void *u)
{
    s3_req *r = u;
    ssize_t got;
    do {
        got = pread(r->fd, buf, sz * n, r->up_off);
    } while (got < 0 && errno == EINTR);
    if (got < 0)
        return CURL_READFUNC_ABORT;
    r->up_off += got;
    return (size_t)got;
}

/* Pulls <Code> and <Message> out of an S3 XML error body. */
static void s3_error_text(const sbuf *b, char *out, size_t n)
{
    const char *body = b->p ? b->p : "";
    const char *c = strstr(body, "<Code>"), *m = strstr(body, "<Message>");
    if (c && m) {
        const char *ce = strstr(c, "</Code>"), *me = strstr(m, "</Message>");
        if (ce && me) {
            snprintf(out, n, "%.*s: %.*s", (int)(ce - c - 6), c + 6, (int)(me - m - 9), m + 9);
            return;
        }
    }
    snprintf(out, n, "%.200s", body);
}

/* Performs one request. method: GET/HEAD/PUT/DELETE. key NULL = the bucket. */
static int s3_do(blob_store *bs, const char *method, const char *sha, s3_req *r, int64_t off,
                 int64_t len, const char *content_sha, int64_t up_size, err *e)
{
    s3_store *s = bs->drv;
    CURL *h = curl_easy_init();
    if (!h)
        return err_set(e, ERR_INTERNAL, "curl_easy_init failed");
    char url[1024];
    if (sha)
        snprintf(url, sizeof url, "%s/%s/%sblobs/%.2s/%s", s->endpoint, s->bucket, s->prefix, sha,
                 sha);
    else
        snprintf(url, sizeof url, "%s/%s", s->endpoint, s->bucket);
    struct curl_slist *hdr = NULL;
    char tmp[128];
    snprintf(tmp, sizeof tmp, "x-amz-content-sha256: %s", content_sha ? content_sha : "UNSIGNED-PAYLOAD");
    hdr = curl_slist_append(hdr, tmp);
    if (off > 0 || len >= 0) {
        if (len >= 0)
            snprintf(tmp, sizeof tmp, "Range: bytes=%lld-%lld", (long long)off,
                     (long long)(off + len - 1));
        else
            snprintf(tmp, sizeof tmp, "Range: bytes=%lld-", (long long)off);
        hdr = curl_slist_append(hdr, tmp);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SHARE, s->share);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
    curl_easy_setopt(h, CURLOPT_USERPWD, s->userpwd);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up_size);
    } else if (strcmp(method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t cl = -1;
    curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    r->length = cl;
    r->status = status;
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && r->stopped))
        return err_set(e, ERR_UNAVAILABLE, "cannot reach the object store at %s: %s",
                       s->endpoint, curl_easy_strerror(cc));
    return 0;
}

static int s3_status_err(blob_store *bs, s3_req *r, const char *what, const char *sha, err *e)
{
    s3_store *s = bs->drv;
    char detail[300];
    s3_error_text(&r->errbody, detail, sizeof detail);
    if (r->status == 404)
        return err_set(e, ERR_NOT_FOUND, "blob %.12s is not in the store", sha ? sha : "");
    if (r->status == 403)
        return err_set(e, ERR_UNAVAILABLE,
                       "the object store refused to %s (403 %s); check AWS_ACCESS_KEY_ID, "
                       "AWS_SECRET_ACCESS_KEY and the region '%s'",
                       what, detail, s->region);
    return err_set(e, ERR_UNAVAILABLE, "the object store failed to %s: HTTP %ld %s", what,
                   r->status, detail);
}

static int s3_stat(blob_store *bs, const char *sha, int64_t *size, err *e)
{
    s3_req r = {0};
    int rc = s3_do(bs, "HEAD", sha, &r, 0, -1, NULL, 0, e);
    if (rc == 0 && r.status != 200)
        rc = s3_status_err(bs, &r, "look up a blob", sha, e);
    if (rc == 0 && size)
        *size = r.length;
    sbuf_free(&r.errbody);
    return rc;
}

static int s3_commit(blob_store *bs, const char *tmp, int fd, const char *sha, int64_t size,
                     bool durable, bool *existed, err *e)
{
    (void)tmp;
    (void)durable; /* the object store decides */
    int64_t have;
    err ignore;
    if (s3_stat(bs, sha, &have, &ignore) == 0 && have == size) {
        *existed = true;
        return 0;
    }
    s3_req r = {.fd = fd};
    int rc = s3_do(bs, "PUT", sha, &r, 0, -1, sha, size, e);
    if (rc == 0 && (r.status < 200 || r.status >= 300))
        rc = s3_status_err(bs, &r, "store a blob", sha, e);
    sbuf_free(&r.errbody);
    *existed = false;
    return rc;
}

static int s3_read(blob_store *bs, const char *sha, int64_t off, int64_t len, blob_sink sink,
                   void *ctx, err *e)
{
    if (len == 0)
        return 0;
    s3_req r = {.sink = sink, .ctx = ctx};
    int rc = s3_do(bs, "GET", sha, &r, off, len, NULL, 0, e);
    if (rc == 0 && r.status == 416)
        rc = err_set(e, ERR_INVALID, "offset %lld is past the end of blob %.12s", (long long)off,
                     sha);
    else if (rc == 0 && r.status != 200 && r.status != 206)
        rc = s3_status_err(bs, &r, "read a blob", sha, e);
    sbuf_free(&r.errbody);
    return rc;
}

static int s3_del(blob_store *bs, const char *sha, err *e)
{
    s3_req r = {0};
    int rc = s3_do(bs, "DELETE", sha, &r, 0, -1, NULL, 0, e);
    if (rc == 0 && r.status != 204 && r.status != 200 && r.status != 404)
        rc = s3_status_err(bs, &r, "delete a blob", sha, e);
    sbuf_free(&r.errbody);
    return rc;
}

static const blob_ops s3_ops = {
    .name = "s3",
    .close = s3_close,
    .commit = s3_commit,
    .stat = s3_stat,
    .read = s3_read,
    .open_fd = NULL,
    .del = s3_del,
};

static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int blob_s3_open(const char *url, blob_store *bs, err *e)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, curl_init_once);
    const char *rest = url + 5;
    const char *q = strchr(rest, '?');
    size_t blen = q ? (size_t)(q - rest) : strlen(rest);
    if (blen == 0 || blen > 63)
        return err_set(e, ERR_INVALID, "blob store URL '%.200s' needs a bucket name: s3://BUCKET?...",
                       url);
    s3_store *s = calloc(1, sizeof *s);
    if (!s)
        return err_set(e, ERR_INTERNAL, "out of memory");
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&s->locks[i], NULL);
    s->bucket = strndup(rest, blen);
    s->region = q ? query_param(q + 1, "region") : NULL;
    if (!s->region)
        s->region = strdup("us-east-1");
    s->endpoint = q ? query_param(q + 1, "endpoint") : NULL;
    if (!s->endpoint) {
        char ep[128];
        snprintf(ep, sizeof ep, "https://s3.%s.amazonaws.com", s->region);
        s->endpoint = strdup(ep);
    }
    size_t el = strlen(s->endpoint);
    while (el && s->endpoint[el - 1] == '/')
        s->endpoint[--el] = 0;
    s->prefix = q ? query_param(q + 1, "prefix") : NULL;
    if (!s->prefix)
        s->prefix = strdup("");
    if (!str_has_prefix(s->endpoint, "http://") && !str_has_prefix(s->endpoint, "https://")) {
        err_set(e, ERR_INVALID, "S3 endpoint '%.200s' must start with http:// or https://",
                s->endpoint);
        s3_free(s);
        return -1;
    }
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    if (!ak || !sk || !*ak || !*sk) {
        err_set(e, ERR_INVALID,
                "the S3 blob store needs credentials: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY in the environment");
        s3_free(s);
        return -1;
    }
    size_t ul = strlen(ak) + strlen(sk) + 2;
    s->userpwd = malloc(ul);
    snprintf(s->userpwd, ul, "%s:%s", ak, sk);
    snprintf(s->sigv4, sizeof s->sigv4, "aws:amz:%s:s3", s->region);
    s->share = curl_share_init();
    curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    bs->drv = s;
    bs->ops = &s3_ops;
    /* Check the bucket now so a wrong endpoint or key fails at start. */
    s3_req r = {0};
    int rc = s3_do(bs, "HEAD", NULL, &r, 0, -1, NULL, 0, e);
    if (rc == 0 && r.status != 200) {
        if (r.status == 404)
            rc = err_set(e, ERR_UNAVAILABLE, "bucket '%s' does not exist at %s; create it first",
                         s->bucket, s->endpoint);
        else
            rc = s3_status_err(bs, &r, "open the bucket", NULL, e);
    }
    sbuf_free(&r.errbody);
    if (rc != 0) {
        s3_free(s);
        bs->drv = NULL;
        return -1;
    }
    return 0;
}
