/*
 * archive.c - the files around imports and exports: recognising and
 * unpacking uploaded archives (tar, tar.gz, zip, ... through libarchive)
 * into a temporary directory, packing an export directory into a tar or
 * zip, temporary directories and their removal.
 *
 * Unpacking is hostile-input code: only regular files and directories are
 * written; absolute paths, ".." components, links and devices are
 * refused; the total size and the number of entries are bounded.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset/archive.h"

bool ds_archive_sniff(const char *path)
{
    unsigned char h[512];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, h, sizeof h);
    close(fd);
    if (n < 4)
        return false;
    if (memcmp(h, "PK\3\4", 4) == 0 || (h[0] == 0x1f && h[1] == 0x8b) ||
        memcmp(h, "BZh", 3) == 0 || memcmp(h, "\xfd" "7zXZ", 5) == 0 ||
        memcmp(h, "\x28\xb5\x2f\xfd", 4) == 0)
        return true;
    return n >= 262 && memcmp(h + 257, "ustar", 5) == 0;
}

static bool safe_rel(const char *p)
{
    if (!*p || p[0] == '/')
        return false;
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if ((len == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        s += len;
        while (*s == '/')
            s++;
    }
    for (const char *s = p; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == '\\')
            return false;
    return true;
}

static int mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int ds_mkdirs(const char *path) { return mkdirs(path); }

int ds_archive_extract(const char *path, const char *dir, int64_t max_bytes, int64_t max_entries,
                       err *e)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_7zip(a);
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        err_set(e, ERR_UNPROCESSABLE, "the upload is not a readable archive: %s",
                archive_error_string(a));
        archive_read_free(a);
        return -1;
    }
    struct archive_entry *ent;
    int64_t total = 0, entries = 0;
    int rc = 0;
    char buf[1 << 16];
    for (;;) {
        int r = archive_read_next_header(a, &ent);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            rc = err_set(e, ERR_UNPROCESSABLE, "the archive is damaged: %s", archive_error_string(a));
            break;
        }
        const char *name = archive_entry_pathname(ent);
        if (++entries > max_entries) {
            rc = err_set(e, ERR_TOO_LARGE, "the archive has more than %lld entries",
                         (long long)max_entries);
            break;
        }
        while (name && name[0] == '.' && name[1] == '/')
            name += 2;
        mode_t type = archive_entry_filetype(ent);
        if (!name || !*name || (type == AE_IFDIR && strcmp(name, ".") == 0))
            continue;
        if (!safe_rel(name)) {
            rc = err_set(e, ERR_UNPROCESSABLE,
                         "archive entry '%.200s' has an absolute path or '..'; refused", name);
            break;
        }
        char out[4096];
        if ((size_t)snprintf(out, sizeof out, "%s/%s", dir, name) >= sizeof out) {
            rc = err_set(e, ERR_UNPROCESSABLE, "archive entry '%.200s': path too long", name);
            break;
        }
        size_t ol = strlen(out);
        while (ol > 0 && out[ol - 1] == '/')
            out[--ol] = 0;
        if (type == AE_IFDIR) {
            if (mkdirs(out) != 0) {
                rc = err_set(e, ERR_IO, "cannot create '%s': %s", out, strerror(errno));
                break;
            }
            continue;
        }
        if (type != AE_IFREG)
            continue; /* links, devices, fifos: not part of a dataset */
        char *slash = strrchr(out, '/');
        *slash = 0;
        if (mkdirs(out) != 0) {
            rc = err_set(e, ERR_IO, "cannot create '%s': %s", out, strerror(errno));
            break;
        }
        *slash = '/';
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (fd < 0) {
            rc = err_set(e, ERR_IO, "cannot write '%s': %s", out, strerror(errno));
            break;
        }
        la_ssize_t n;
        while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
            total += n;
            if (total > max_bytes) {
                rc = err_set(e, ERR_TOO_LARGE, "the archive unpacks to more than %lld bytes",
                             (long long)max_bytes);
                break;
            }
            if (write(fd, buf, (size_t)n) != n) {
                rc = err_set(e, ERR_IO, "cannot write '%s': %s", out, strerror(errno));
                break;
            }
        }
        close(fd);
        if (rc)
            break;
        if (n < 0) {
            rc = err_set(e, ERR_UNPROCESSABLE, "the archive is damaged at '%.200s': %s", name,
                         archive_error_string(a));
            break;
        }
    }
    archive_read_free(a);
    return rc;
}

/* --- packing ------------------------------------------------------------------------------------ */

typedef struct pack_ctx {
    struct archive *a;
    const char *root;
    size_t rootlen;
    err *e;
    int rc;
} pack_ctx;

static int cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Depth-first in name order, so the same export gives the same archive. */
static int pack_dir(pack_ctx *p, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set(p->e, ERR_IO, "cannot read '%s': %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    int rc = 0;
    char buf[1 << 16];
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        struct archive_entry *ent = archive_entry_new();
        archive_entry_set_pathname(ent, path + p->rootlen + 1);
        archive_entry_set_mtime(ent, st.st_mtime, 0);
        if (S_ISDIR(st.st_mode)) {
            archive_entry_set_filetype(ent, AE_IFDIR);
            archive_entry_set_perm(ent, 0755);
            archive_write_header(p->a, ent);
            archive_entry_free(ent);
            rc = pack_dir(p, path);
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            archive_entry_free(ent);
            continue;
        }
        archive_entry_set_filetype(ent, AE_IFREG);
        archive_entry_set_perm(ent, 0644);
        archive_entry_set_size(ent, st.st_size);
        if (archive_write_header(p->a, ent) != ARCHIVE_OK) {
            rc = err_set(p->e, ERR_IO, "cannot write the archive: %s", archive_error_string(p->a));
            archive_entry_free(ent);
            break;
        }
        archive_entry_free(ent);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = err_set(p->e, ERR_IO, "cannot read '%s': %s", path, strerror(errno));
            break;
        }
        ssize_t r;
        while ((r = read(fd, buf, sizeof buf)) > 0)
            if (archive_write_data(p->a, buf, (size_t)r) != r) {
                rc = err_set(p->e, ERR_IO, "cannot write the archive: %s", archive_error_string(p->a));
                break;
            }
        close(fd);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int ds_archive_create(const char *dir, const char *out, const char *kind, err *e)
{
    struct archive *a = archive_write_new();
    if (strcmp(kind, "zip") == 0) {
        archive_write_set_format_zip(a);
    } else {
        archive_write_set_format_pax_restricted(a);
        if (strcmp(kind, "tar.gz") == 0)
            archive_write_add_filter_gzip(a);
    }
    if (archive_write_open_filename(a, out) != ARCHIVE_OK) {
        err_set(e, ERR_IO, "cannot create the archive: %s", archive_error_string(a));
        archive_write_free(a);
        return -1;
    }
    pack_ctx p = {a, dir, strlen(dir), e, 0};
    int rc = pack_dir(&p, dir);
    if (archive_write_close(a) != ARCHIVE_OK && rc == 0)
        rc = err_set(e, ERR_IO, "cannot finish the archive: %s", archive_error_string(a));
    archive_write_free(a);
    return rc;
}

/* --- temporary directories ------------------------------------------------------------------------ */

int ds_tmpdir(const char *base, const char *prefix, char *out, size_t n, err *e)
{
    const char *b = base && *base ? base : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    mkdirs(b);
    snprintf(out, n, "%s/%s-XXXXXX", b, prefix);
    if (!mkdtemp(out))
        return err_set(e, ERR_IO, "cannot create a temporary directory in '%s': %s", b,
                       strerror(errno));
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void ds_rmtree(const char *dir)
{
    if (dir && *dir)
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
