/*
 * files.h - uploaded files: blobs an organization has stored and may read.
 *
 * The blob store is shared by all organizations and deduplicates by content,
 * so knowing a SHA-256 must not be enough to read a blob. An organization
 * can read a blob only if it holds a reference to it (a row in org_blob),
 * made when it uploaded the content or when a feature stored something for
 * it. Features that keep blobs (images, artifacts, models) add references
 * through files_ref().
 */
#ifndef CVOPS_FILES_FILES_H
#define CVOPS_FILES_FILES_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "store/db.h"

int files_ref(db_conn *c, int64_t org_id, const char *sha, int64_t size, err *e);
/* 0 and the size if org may read sha; ERR_NOT_FOUND otherwise. */
int files_check(db_conn *c, int64_t org_id, const char *sha, int64_t *size, err *e);

extern const char files_schema_v1[];

#endif
