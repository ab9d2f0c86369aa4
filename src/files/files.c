/*
 * files.c - organization references to blobs; see files.h.
 */
#include "files/files.h"

#include "base/util.h"

const char files_schema_v1[] =
    "CREATE TABLE org_blob (org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " sha256 TEXT NOT NULL, size BIGINT NOT NULL, created_at BIGINT NOT NULL,"
    " PRIMARY KEY (org_id, sha256));";

int files_ref(db_conn *c, int64_t org_id, const char *sha, int64_t size, err *e)
{
    return db_run(c, e,
                  "INSERT INTO org_blob (org_id, sha256, size, created_at) VALUES ($1, $2, $3, $4)"
                  " ON CONFLICT DO NOTHING",
                  DBI(org_id), DBT(sha), DBI(size), DBI(time_now_ms())) < 0
               ? -1
               : 0;
}

int files_check(db_conn *c, int64_t org_id, const char *sha, int64_t *size, err *e)
{
    if (!is_sha256_hex(sha))
        return err_set(e, ERR_NOT_FOUND, "'%.80s' is not a file id (a SHA-256 in lowercase hex)",
                       sha);
    int64_t sz = 0;
    if (db_one_i64(c, e, &sz, "SELECT size FROM org_blob WHERE org_id = $1 AND sha256 = $2",
                   DBI(org_id), DBT(sha)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "no file %.16s... in this organization", sha);
        return -1;
    }
    if (size)
        *size = sz;
    return 0;
}
