/*
 * blob.c - the driver-independent half of the blob store: URL dispatch and
 * the streaming writer (hash + spool), see blob.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "store/blob_impl.h"

struct blob_writer {
    blob_store *bs;
    sha256_ctx *sha;
    int fd;
    char path[512];
    int64_t size;
    unsigned char *head;
    size_t head_len;
    bool digested, derived;
    char sha_hex[65];
};

int blob_mkdirs(const char *path, err *e)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return err_set(e, ERR_IO, "cannot create directory '%s': %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return err_set(e, ERR_IO, "cannot create directory '%s': %s", tmp, strerror(errno));
    return 0;
}

int blob_check_name(const char *sha, err *e)
{
    if (!sha || !is_sha256_hex(sha))
        return err_set(e, ERR_INVALID, "'%.80s' is not a blob name (64 lowercase hex digits)",
                       sha ? sha : "(null)");
    return 0;
}

int blob_open(const char *url, const char *spool_dir, blob_store **out, err *e)
{
    blob_store *bs = calloc(1, sizeof *bs);
    if (!bs)
        return err_set(e, ERR_INTERNAL, "out of memory");
    int rc;
    if (str_has_prefix(url, "file:")) {
        rc = blob_file_open(url + 5, bs, e);
    } else if (str_has_prefix(url, "s3://")) {
        const char *tmp = spool_dir ? spool_dir : getenv("TMPDIR");
        bs->spool = strdup(tmp && *tmp ? tmp : "/tmp");
        rc = blob_s3_open(url, bs, e);
    } else {
        rc = err_set(e, ERR_INVALID,
                     "blob store URL '%.200s' is not understood; use file:DIR or "
                     "s3://BUCKET?endpoint=http://HOST:PORT&region=REGION",
                     url);
    }
    if (rc != 0) {
        free(bs->spool);
        free(bs);
        return -1;
    }
    *out = bs;
    return 0;
}

void blob_close(blob_store *bs)
{
    if (!bs)
        return;
    bs->ops->close(bs);
    free(bs->spool);
    free(bs);
}

const char *blob_driver_name(const blob_store *bs) { return bs->ops->name; }

blob_writer *blob_writer_new(blob_store *bs, err *e)
{
    blob_writer *w = calloc(1, sizeof *w);
    if (!w) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    w->bs = bs;
    w->sha = sha256_new();
    snprintf(w->path, sizeof w->path, "%s/.upload-XXXXXX", bs->spool);
    w->fd = mkostemp(w->path, O_CLOEXEC);
    if (w->fd < 0 || !w->sha) {
        err_set(e, ERR_IO, "cannot create a temporary file in '%s': %s", bs->spool,
                strerror(errno));
        if (w->sha) {
            unsigned char d[32];
            sha256_final(w->sha, d);
        }
        free(w);
        return NULL;
    }
    return w;
}

int blob_writer_write(blob_writer *w, const void *p, size_t n, err *e)
{
    if (w->digested)
        return err_set(e, ERR_INTERNAL, "blob writer: write after digest");
    if (w->head_len < BLOB_HEAD_MAX) {
        if (!w->head && !(w->head = malloc(BLOB_HEAD_MAX)))
            return err_set(e, ERR_INTERNAL, "out of memory");
        size_t k = BLOB_HEAD_MAX - w->head_len;
        if (k > n)
            k = n;
        memcpy(w->head + w->head_len, p, k);
        w->head_len += k;
    }
    sha256_update(w->sha, p, n);
    const char *b = p;
    while (n) {
        ssize_t r = write(w->fd, b, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return err_set(e, ERR_IO, "cannot write to the blob store: %s", strerror(errno));
        }
        b += r;
        n -= (size_t)r;
        w->size += r;
    }
    return 0;
}

int64_t blob_writer_size(const blob_writer *w) { return w->size; }

const unsigned char *blob_writer_head(const blob_writer *w, size_t *n)
{
    *n = w->head_len;
    return w->head;
}

const char *blob_writer_path(const blob_writer *w) { return w->path; }

static void writer_free(blob_writer *w)
{
    if (w->sha) {
        unsigned char d[32];
        sha256_final(w->sha, d);
    }
    if (w->fd >= 0)
        close(w->fd);
    if (w->path[0])
        unlink(w->path);
    free(w->head);
    free(w);
}

void blob_writer_abort(blob_writer *w)
{
    if (w)
        writer_free(w);
}

void blob_writer_digest(blob_writer *w, char sha[65])
{
    if (!w->digested) {
        unsigned char d[32];
        sha256_final(w->sha, d);
        w->sha = NULL;
        hex_encode(d, 32, w->sha_hex);
        w->digested = true;
    }
    memcpy(sha, w->sha_hex, 65);
}

void blob_writer_derived(blob_writer *w) { w->derived = true; }

int blob_writer_commit(blob_writer *w, const char *expect_sha, blob_ref *out, err *e)
{
    blob_ref ref = {.size = w->size};
    blob_writer_digest(w, ref.sha);
    if (expect_sha && strcasecmp(expect_sha, ref.sha) != 0) {
        err_set(e, ERR_INVALID,
                "the content's SHA-256 is %s, not %.64s as announced; the upload was corrupted "
                "or the announced hash is wrong",
                ref.sha, expect_sha);
        writer_free(w);
        return -1;
    }
    int rc = w->bs->ops->commit(w->bs, w->path, w->fd, ref.sha, w->size, !w->derived,
                                &ref.existed, e);
    if (rc == 0 && out)
        *out = ref;
    writer_free(w); /* unlinks the temp path if the driver did not move it */
    return rc;
}

static int put(blob_store *bs, const void *data, size_t n, bool derived, blob_ref *out, err *e)
{
    blob_writer *w = blob_writer_new(bs, e);
    if (!w)
        return -1;
    w->derived = derived;
    if (blob_writer_write(w, data, n, e) != 0) {
        blob_writer_abort(w);
        return -1;
    }
    return blob_writer_commit(w, NULL, out, e);
}

int blob_put(blob_store *bs, const void *data, size_t n, blob_ref *out, err *e)
{
    return put(bs, data, n, false, out, e);
}

int blob_put_derived(blob_store *bs, const void *data, size_t n, blob_ref *out, err *e)
{
    return put(bs, data, n, true, out, e);
}

int blob_stat(blob_store *bs, const char *sha, int64_t *size, err *e)
{
    if (blob_check_name(sha, e))
        return -1;
    return bs->ops->stat(bs, sha, size, e);
}

int blob_read(blob_store *bs, const char *sha, int64_t off, int64_t len, blob_sink sink, void *ctx,
              err *e)
{
    if (blob_check_name(sha, e))
        return -1;
    if (off < 0)
        return err_set(e, ERR_INVALID, "negative offset");
    return bs->ops->read(bs, sha, off, len, sink, ctx, e);
}

struct get_ctx {
    sbuf *out;
    size_t max;
    bool over;
};

static int get_sink(void *p, const void *data, size_t n)
{
    struct get_ctx *g = p;
    if (g->out->len + n > g->max) {
        g->over = true;
        return 1;
    }
    sbuf_put(g->out, data, n);
    return 0;
}

int blob_get(blob_store *bs, const char *sha, size_t max, sbuf *out, err *e)
{
    struct get_ctx g = {out, max, false};
    size_t start = out->len;
    if (blob_read(bs, sha, 0, -1, get_sink, &g, e) != 0)
        return -1;
    if (g.over) {
        out->len = start;
        return err_set(e, ERR_TOO_LARGE, "blob %.12s is larger than the %zu bytes allowed here",
                       sha, max);
    }
    if (sbuf_failed(out))
        return err_set(e, ERR_INTERNAL, "out of memory reading blob %.12s", sha);
    return 0;
}

int blob_open_fd(blob_store *bs, const char *sha, int *fd, int64_t *size, err *e)
{
    if (blob_check_name(sha, e))
        return -1;
    if (!bs->ops->open_fd)
        return err_set(e, ERR_UNSUPPORTED, "the %s blob store has no local files", bs->ops->name);
    return bs->ops->open_fd(bs, sha, fd, size, e);
}

int blob_delete(blob_store *bs, const char *sha, err *e)
{
    if (blob_check_name(sha, e))
        return -1;
    return bs->ops->del(bs, sha, e);
}
