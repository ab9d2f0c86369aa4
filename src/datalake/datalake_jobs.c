/*
 * datalake_jobs.c - the datalake's job kinds.
 *
 *   datalake.ingest_local  ingests image files from directories on the
 *                          server's own disk (the sample data of `cvops serve
 *                          --sample-data`). Not submittable through the API:
 *                          it reads server paths.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "base/jsonv.h"
#include "datalake/datalake.h"

/* Streams a local file into a blob writer. */
static blob_writer *spool_file(blob_store *bs, const char *path, err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(e, ERR_IO, "cannot open %s", path);
        return NULL;
    }
    blob_writer *w = blob_writer_new(bs, e);
    char buf[1 << 16];
    ssize_t r;
    while (w && (r = read(fd, buf, sizeof buf)) > 0)
        if (blob_writer_write(w, buf, (size_t)r, e) != 0) {
            blob_writer_abort(w);
            w = NULL;
        }
    close(fd);
    return w;
}

static int ingest_one(job_ctx *j, int64_t lake, const char *path, const char *const *tags, int ntags,
                      const char *source, int *created, int *rejected)
{
    app *a = job_app(j);
    err e;
    blob_writer *w = spool_file(a->blobs, path, &e);
    datalake_item it;
    datalake_limits lim = {.max_pixels = a->cfg.max_pixels};
    if (!w || datalake_prepare(a->blobs, w, &lim, &it, &e) != 0) {
        job_log(j, "rejected %s: %s", path, e.msg);
        (*rejected)++;
        return 0;
    }
    db_conn *c = db_get(a->db, &e);
    if (!c) {
        datalake_item_free(&it);
        return -1;
    }
    const char *base = strrchr(path, '/');
    int64_t id;
    bool dup;
    int rc = datalake_insert(c, job_org(j), lake, &it, base ? base + 1 : path, source, NULL, tags,
                             ntags, job_creator(j), &id, &dup, &e);
    db_put(c);
    datalake_item_free(&it);
    if (rc != 0) {
        job_log(j, "could not store %s: %s", path, e.msg);
        (*rejected)++;
    } else if (!dup) {
        (*created)++;
    }
    return 0;
}

static int ingest_local(job_ctx *j, err *e)
{
    json_t *p = job_payload(j);
    int64_t lake = 0;
    json_t *paths = NULL, *tj = NULL;
    const char *source = NULL;
    if (jv_i64(p, "datalake_id", JV_REQUIRED, 1, INT64_MAX, &lake, e) ||
        jv_arr(p, "paths", JV_REQUIRED, 100, &paths, e) ||
        jv_arr(p, "tags", JV_OPTIONAL, DATALAKE_TAGS_MAX, &tj, e) ||
        jv_str(p, "source", JV_OPTIONAL, DATALAKE_SOURCE_MAX, &source, e))
        return -1;
    const char *tags[DATALAKE_TAGS_MAX];
    int ntags = 0;
    for (size_t i = 0; i < json_array_size(tj); i++)
        if (json_is_string(json_array_get(tj, i)))
            tags[ntags++] = json_string_value(json_array_get(tj, i));
    /* collect the files first, for progress */
    char **files = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < json_array_size(paths); i++) {
        const char *dir = json_string_value(json_array_get(paths, i));
        if (!dir)
            continue;
        struct dirent **ents;
        int k = scandir(dir, &ents, NULL, alphasort);
        if (k < 0) {
            job_log(j, "skipping %s: not a readable directory", dir);
            continue;
        }
        for (int x = 0; x < k; x++) {
            char full[4096];
            snprintf(full, sizeof full, "%s/%s", dir, ents[x]->d_name);
            struct stat st;
            if (ents[x]->d_name[0] != '.' && stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 64;
                    files = realloc(files, cap * sizeof *files);
                }
                files[n++] = strdup(full);
            }
            free(ents[x]);
        }
        free(ents);
    }
    int created = 0, rejected = 0, rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (job_should_stop(j)) {
            rc = err_set(e, ERR_UNAVAILABLE, "stopped after %zu of %zu files", i, n);
            break;
        }
        job_progress(j, (double)i / (double)n, "%zu of %zu files", i, n);
        if (ingest_one(j, lake, files[i], tags, ntags, source, &created, &rejected) != 0)
            rc = err_set(e, ERR_UNAVAILABLE, "the database is not reachable");
    }
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    if (rc == 0) {
        job_log(j, "%d images added, %d rejected, %zu files", created, rejected, n);
        job_set_result(j, json_pack("{s:i, s:i, s:I}", "created", created, "rejected", rejected,
                                    "files", (json_int_t)n));
    }
    return rc;
}

const job_kind datalake_job_kinds[] = {
    {"datalake.ingest_local", ingest_local, "ingest image files from server directories", false, 1},
    {NULL, NULL, NULL, false, 0},
};
