/*
 * blob_file.c - blobs as files: DIR/ab/cd/<sha>.
 *
 * Writers spool into DIR/tmp (same filesystem, so the final rename is
 * atomic). Commit fsyncs the file, renames it into place and fsyncs the
 * parent directory, so an acknowledged blob survives a power cut. Leftover
 * temp files of a crashed process are removed when the store is opened.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/blob_impl.h"

typedef struct {
    char *root;
} file_store;

static void blob_path(blob_store *bs, const char *sha, char *out, size_t n)
{
    file_store *f = bs->drv;
    snprintf(out, n, "%s/%.2s/%.2s/%s", f->root, sha, sha + 2, sha);
}

static void f_close(blob_store *bs)
{
    file_store *f = bs->drv;
    free(f->root);
    free(f);
}

static void fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int f_commit(blob_store *bs, const char *tmp, int fd, const char *sha, int64_t size,
                    bool durable, bool *existed, err *e)
{
    char path[600], dir[600];
    blob_path(bs, sha, path, sizeof path);
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size == size) {
        *existed = true;
        return 0; /* same content already stored; the writer removes tmp */
    }
    if (durable && fsync(fd) != 0)
        return err_set(e, ERR_IO, "cannot flush blob to disk: %s", strerror(errno));
    snprintf(dir, sizeof dir, "%.*s", (int)(strrchr(path, '/') - path), path);
    if (blob_mkdirs(dir, e) != 0)
        return -1;
    if (rename(tmp, path) != 0)
        return err_set(e, ERR_IO, "cannot move blob into place: %s", strerror(errno));
    if (durable)
        fsync_dir(dir);
    *existed = false;
    return 0;
}

static int f_stat(blob_store *bs, const char *sha, int64_t *size, err *e)
{
    char path[600];
    blob_path(bs, sha, path, sizeof path);
    struct stat st;
    if (stat(path, &st) != 0)
        return err_set(e, ERR_NOT_FOUND, "blob %.12s is not in the store", sha);
    if (size)
        *size = st.st_size;
    return 0;
}

static int f_open_fd(blob_store *bs, const char *sha, int *fdp, int64_t *size, err *e)
{
    char path[600];
    blob_path(bs, sha, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return err_set(e, ERR_NOT_FOUND, "blob %.12s is not in the store", sha);
        return err_set(e, ERR_IO, "cannot open blob %.12s: %s", sha, strerror(errno));
    }
    struct stat st;
    fstat(fd, &st);
    *fdp = fd;
    if (size)
        *size = st.st_size;
    return 0;
}

static int f_read(blob_store *bs, const char *sha, int64_t off, int64_t len, blob_sink sink,
                  void *ctx, err *e)
{
    int fd;
    int64_t size;
    if (f_open_fd(bs, sha, &fd, &size, e) != 0)
        return -1;
    if (off > size) {
        close(fd);
        return err_set(e, ERR_INVALID, "offset %lld is past the end of blob %.12s (%lld bytes)",
                       (long long)off, sha, (long long)size);
    }
    int64_t left = len < 0 || off + len > size ? size - off : len;
    char buf[65536];
    int rc = 0;
    while (left > 0) {
        size_t want = left < (int64_t)sizeof buf ? (size_t)left : sizeof buf;
        ssize_t r = pread(fd, buf, want, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = err_set(e, ERR_IO, "cannot read blob %.12s: %s", sha,
                         r < 0 ? strerror(errno) : "unexpected end of file");
            break;
        }
        if (sink(ctx, buf, (size_t)r))
            break;
        off += r;
        left -= r;
    }
    close(fd);
    return rc;
}

static int f_del(blob_store *bs, const char *sha, err *e)
{
    char path[600];
    blob_path(bs, sha, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        return err_set(e, ERR_IO, "cannot delete blob %.12s: %s", sha, strerror(errno));
    return 0;
}

static const blob_ops file_ops = {
    .name = "file",
    .close = f_close,
    .commit = f_commit,
    .stat = f_stat,
    .read = f_read,
    .open_fd = f_open_fd,
    .del = f_del,
};

int blob_file_open(const char *dir, blob_store *bs, err *e)
{
    if (!*dir)
        return err_set(e, ERR_INVALID, "blob store URL 'file:' has no directory; use file:DIR");
    if (strlen(dir) > 400)
        return err_set(e, ERR_INVALID, "blob store directory path is too long");
    if (blob_mkdirs(dir, e) != 0)
        return -1;
    file_store *f = calloc(1, sizeof *f);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    if (!f || blob_mkdirs(tmp, e) != 0) {
        free(f);
        return -1;
    }
    /* Remove temp files left by a crashed process. Only old ones: another
     * process (a worker) may share this folder and be writing right now. */
    DIR *d = opendir(tmp);
    if (d) {
        struct dirent *de;
        time_t now = time(NULL);
        while ((de = readdir(d))) {
            if (strncmp(de->d_name, ".upload-", 8) == 0) {
                char p[800];
                struct stat st;
                snprintf(p, sizeof p, "%s/%s", tmp, de->d_name);
                if (stat(p, &st) == 0 && now - st.st_mtime > 6 * 3600)
                    unlink(p);
            }
        }
        closedir(d);
    }
    if (access(tmp, W_OK) != 0) {
        free(f);
        return err_set(e, ERR_IO, "blob store directory '%s' is not writable", dir);
    }
    f->root = strdup(dir);
    bs->drv = f;
    bs->ops = &file_ops;
    bs->spool = strdup(tmp);
    return 0;
}
