/*
 * blob_impl.h - what blob.c shares with blob_file.c and blob_s3.c.
 */
#ifndef CVOPS_STORE_BLOB_IMPL_H
#define CVOPS_STORE_BLOB_IMPL_H

#include "store/blob.h"

typedef struct blob_ops {
    const char *name;
    void (*close)(blob_store *bs);
    /* Moves the finished temp file (path, fd open) into place as sha. */
    int (*commit)(blob_store *bs, const char *tmp_path, int fd, const char *sha, int64_t size,
                  bool durable, bool *existed, err *e);
    int (*stat)(blob_store *bs, const char *sha, int64_t *size, err *e);
    int (*read)(blob_store *bs, const char *sha, int64_t off, int64_t len, blob_sink sink,
                void *ctx, err *e);
    int (*open_fd)(blob_store *bs, const char *sha, int *fd, int64_t *size, err *e);
    int (*del)(blob_store *bs, const char *sha, err *e);
} blob_ops;

struct blob_store {
    const blob_ops *ops;
    char *spool; /* directory for writers' temp files */
    void *drv;
};

int blob_file_open(const char *dir, blob_store *bs, err *e);
int blob_s3_open(const char *url, blob_store *bs, err *e);
int blob_check_name(const char *sha, err *e);
/* mkdir -p */
int blob_mkdirs(const char *path, err *e);

#endif
