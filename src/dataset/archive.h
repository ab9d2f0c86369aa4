/*
 * archive.h - files around dataset imports and exports: archives (through
 * libarchive) and temporary directories. No database, no HTTP.
 */
#ifndef CVOPS_DATASET_ARCHIVE_H
#define CVOPS_DATASET_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* True if the file starts like an archive or a compressed stream
 * (tar, zip, gzip, bzip2, xz, zstd). */
bool ds_archive_sniff(const char *path);
/* Unpacks into dir (which exists): regular files and directories only;
 * absolute paths and ".." refused; bounded bytes and entries. */
int ds_archive_extract(const char *path, const char *dir, int64_t max_bytes, int64_t max_entries,
                       err *e);
/* Packs the contents of dir (names relative to it, sorted) into out.
 * kind: "tar", "tar.gz" or "zip". */
int ds_archive_create(const char *dir, const char *out, const char *kind, err *e);

/* mkdir -p */
int ds_mkdirs(const char *path);
/* A new directory base/prefix-XXXXXX (base NULL: $TMPDIR or /tmp). */
int ds_tmpdir(const char *base, const char *prefix, char *out, size_t n, err *e);
/* rm -rf, without following links. */
void ds_rmtree(const char *dir);

#endif
