/*
 * blob.h - content-addressed blob storage with two drivers: a local folder
 * (embedded default) and any S3-compatible object store.
 *
 * A blob is named by the SHA-256 of its bytes (64 lowercase hex digits), so
 * the same content is stored once, and no storage path is ever built from
 * user input: names are validated hex before they touch a path or a key.
 *
 * Writes stream: a blob_writer takes the bytes in pieces (an upload of any
 * size runs in constant memory), hashes them as they come, spools them to a
 * temporary file, and on commit moves them into place:
 *   file:DIR  fsync, then rename into DIR/ab/cd/<sha> (atomic; a crash
 *             leaves at most a temp file, cleaned at the next start)
 *   s3://...  PUT of the spooled file, signed with SigV4, with the content's
 *             SHA-256 as x-amz-content-sha256 so the store verifies it
 * A writer that is aborted (or a failed commit) leaves nothing behind.
 *
 * URLs:
 *   file:DIR
 *   s3://BUCKET?endpoint=http://HOST:PORT&region=REGION[&prefix=P/]
 *     credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
 */
#ifndef CVOPS_STORE_BLOB_H
#define CVOPS_STORE_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

typedef struct blob_store blob_store;
typedef struct blob_writer blob_writer;

typedef struct blob_ref {
    char sha[65];
    int64_t size;
    bool existed; /* the store already had this content */
} blob_ref;

/* spool_dir: where the S3 driver spools uploads (NULL: $TMPDIR or /tmp). */
int blob_open(const char *url, const char *spool_dir, blob_store **out, err *e);
void blob_close(blob_store *bs);
const char *blob_driver_name(const blob_store *bs);

/* Bytes kept in memory at the start of every writer (format probing). */
#define BLOB_HEAD_MAX (256 * 1024)

blob_writer *blob_writer_new(blob_store *bs, err *e);
int blob_writer_write(blob_writer *w, const void *p, size_t n, err *e);
int64_t blob_writer_size(const blob_writer *w);
/* The first min(size, BLOB_HEAD_MAX) bytes written so far. */
const unsigned char *blob_writer_head(const blob_writer *w, size_t *n);
/* Path of the spooled temporary file holding everything written so far
 * (readable until commit/abort; for decoders that need the whole file). */
const char *blob_writer_path(const blob_writer *w);
/* Ends the hashing and gives the content's SHA-256 (nothing may be written
 * after this); commit uses the same digest. For deduplicating before the
 * expensive part of an ingest. */
void blob_writer_digest(blob_writer *w, char sha[65]);
/* Marks the blob as derived data (a thumbnail): stored without fsync, so a
 * crash may lose it; whoever serves it must be able to rebuild it. */
void blob_writer_derived(blob_writer *w);
/* Stores the blob and frees the writer (also on failure). If expect_sha is
 * given and the content's SHA-256 differs, nothing is stored (ERR_INVALID). */
int blob_writer_commit(blob_writer *w, const char *expect_sha, blob_ref *out, err *e);
void blob_writer_abort(blob_writer *w);

int blob_put(blob_store *bs, const void *data, size_t n, blob_ref *out, err *e);
int blob_put_derived(blob_store *bs, const void *data, size_t n, blob_ref *out, err *e);
/* 0 and the size if present; -1 with ERR_NOT_FOUND if not. */
int blob_stat(blob_store *bs, const char *sha, int64_t *size, err *e);
/* Streams bytes [off, off+len) (len < 0: to the end) to sink; the sink
 * returns non-zero to stop early (not an error). */
typedef int (*blob_sink)(void *ctx, const void *p, size_t n);
int blob_read(blob_store *bs, const char *sha, int64_t off, int64_t len, blob_sink sink, void *ctx,
              err *e);
/* Whole blob into memory, refusing blobs larger than max. */
int blob_get(blob_store *bs, const char *sha, size_t max, sbuf *out, err *e);
/* File driver only: an open read-only fd for zero-copy serving (ERR_UNSUPPORTED otherwise). */
int blob_open_fd(blob_store *bs, const char *sha, int *fd, int64_t *size, err *e);
int blob_delete(blob_store *bs, const char *sha, err *e);

#endif
