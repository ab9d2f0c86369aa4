/*
 * artifacts.c - an experiment's files: a path inside the experiment mapped
 * to a blob (SHA-256, size). The bytes live in the blob store and are
 * referenced by the organization (files_ref), so the same checkpoint
 * uploaded by two experiments is stored once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "experiment/experiment_impl.h"
#include "files/files.h"

int exp_artifact_path_check(const char *path, err *e)
{
    if (!path || !*path)
        return err_set(e, ERR_INVALID,
                       "give the artifact's path, e.g. ?path=checkpoints/model.safetensors");
    size_t n = strlen(path);
    if (n > EXP_ARTIFACT_PATH_MAX)
        return err_set(e, ERR_INVALID, "the artifact path is %zu bytes long; the limit is %d", n,
                       EXP_ARTIFACT_PATH_MAX);
    if (!utf8_valid(path, n))
        return err_set(e, ERR_INVALID, "the artifact path is not valid UTF-8");
    if (path[0] == '/')
        return err_set(e, ERR_INVALID,
                       "the artifact path '%.100s' must be relative (no leading '/')", path);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f || path[i] == '\\')
            return err_set(e, ERR_INVALID,
                           "the artifact path contains a control character or a backslash at "
                           "byte %zu; separate directories with '/'",
                           i);
    for (const char *p = path;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return err_set(e, ERR_INVALID,
                           "the artifact path '%.100s' has an empty, '.' or '..' segment", path);
        if (!slash)
            break;
        p = slash + 1;
    }
    return 0;
}

int exp_artifact_put(db_conn *c, int64_t org, int64_t experiment, const char *path,
                     const char *sha, int64_t size, err *e)
{
    if (exp_artifact_path_check(path, e) != 0)
        return -1;
    if (db_begin(c, e) != 0)
        return -1;
    if (exp_lock(c, org, experiment, e) != 0 || files_ref(c, org, sha, size, e) != 0 ||
        db_run(c, e,
               "INSERT INTO artifact (experiment_id, path, sha256, size, created_at)"
               " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (experiment_id, path) DO UPDATE"
               " SET sha256 = excluded.sha256, size = excluded.size,"
               " created_at = excluded.created_at",
               DBI(experiment), DBT(path), DBT(sha), DBI(size), DBI(time_now_ms())) < 0) {
        db_rollback(c);
        return -1;
    }
    return db_commit(c, e);
}

int exp_artifact_get(db_conn *c, int64_t org, int64_t experiment, const char *path,
                     char sha[65], int64_t *size, err *e)
{
    if (exp_check(c, org, experiment, e) != 0)
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT sha256, size FROM artifact WHERE experiment_id = $1 AND path = $2",
                          DBI(experiment), DBT(path));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        snprintf(sha, 65, "%s", db_col_text(s, 0));
        *size = db_col_i64(s, 1);
    }
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND,
                       "experiment %lld has no artifact '%.200s'; list them with GET "
                       "/api/v1/experiments/%lld/artifacts",
                       (long long)experiment, path, (long long)experiment);
    return rc < 0 ? -1 : 0;
}

int exp_artifact_delete(db_conn *c, int64_t org, int64_t experiment, const char *path, err *e)
{
    if (exp_check(c, org, experiment, e) != 0)
        return -1;
    int64_t n = db_run(c, e, "DELETE FROM artifact WHERE experiment_id = $1 AND path = $2",
                       DBI(experiment), DBT(path));
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "experiment %lld has no artifact '%.200s'",
                       (long long)experiment, path);
    return 0;
}

int exp_artifact_list(db_conn *c, int64_t org, int64_t experiment, const char *prefix,
                      int64_t limit, const char *cursor, jw *w, err *e)
{
    if (exp_check(c, org, experiment, e) != 0)
        return -1;
    const char *pre = prefix ? prefix : "";
    db_stmt *s = db_query(c, e,
                          "SELECT path, sha256, size, created_at FROM artifact"
                          " WHERE experiment_id = $1 AND path > $2"
                          " AND substr(path, 1, $3) = $4 ORDER BY path LIMIT $5",
                          DBI(experiment), DBT(cursor ? cursor : ""), DBI((int64_t)strlen(pre)),
                          DBT(pre), DBI(limit + 1));
    if (!s)
        return -1;
    int rc, n = 0;
    sbuf last = SBUF_INIT;
    bool more = false;
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        n++;
        sbuf_reset(&last);
        sbuf_puts(&last, db_col_text(s, 0));
        jw_obj(w);
        jw_kstr(w, "path", db_col_text(s, 0));
        jw_kstr(w, "sha256", db_col_text(s, 1));
        jw_kint(w, "size", db_col_i64(s, 2));
        exp_jw_time(w, "created_at", s, 3);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "next_cursor");
    if (more)
        jw_str(w, sbuf_cstr(&last));
    else
        jw_null(w);
    jw_obj_end(w);
    db_done(s);
    sbuf_free(&last);
    return rc < 0 ? -1 : 0;
}
