/*
 * api.h - helpers for the black-box API tests: HTTP requests against the
 * server started by tests/run-api ($CVOPS_TEST_URL), users with a given
 * role, waiting for jobs, starting extra cvops processes.
 */
#ifndef CVOPS_TESTS_API_H
#define CVOPS_TESTS_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"

typedef struct api_resp {
    long status;
    sbuf body;
    sbuf headers;
    json_t *json; /* parsed body when it is JSON, else NULL */
} api_resp;

typedef struct api_opts {
    const char *base;          /* default $CVOPS_TEST_URL */
    const char *token;         /* Bearer token, or NULL */
    const char *cookie;        /* "cvops_session=..." */
    const char *csrf;          /* X-CSRF-Token */
    const char *content_type;  /* default application/json when a body is given */
    const char *const *headers;/* extra "Name: value" lines, NULL-terminated */
    bool path_as_is;           /* send the path exactly (no ../ squashing) */
    const void *body;
    size_t body_len;           /* 0: strlen(body) */
} api_opts;

api_resp *api_do(const char *method, const char *path, const api_opts *o);
/* JSON request with the admin token; body may be NULL. */
api_resp *api_admin(const char *method, const char *path, const char *body);
/* JSON request with a token. */
api_resp *api_tok(const char *token, const char *method, const char *path, const char *body);
void api_free(api_resp *r);
/* error.code of an error response ("" if none). */
const char *api_error_code(const api_resp *r);
const char *api_error_message(const api_resp *r);
/* Value of a response header (malloc'd) or NULL. */
char *api_header(const api_resp *r, const char *name);

const char *api_admin_token(void);
/* A unique name with a prefix (static storage per call: copy it). */
char *api_unique(const char *prefix);
/* Creates a user with this role in the admin's organization; returns an API
 * token for them (malloc'd) and their id. */
char *api_user(const char *role, int64_t *user_id);
/* Polls a job until it reaches a final state; returns the job (caller frees). */
json_t *api_wait_job(const char *token, int64_t id, double timeout_s);

/* Starts `cvops ARGS...` in the background; stdout/stderr to log_path. */
pid_t api_spawn(const char *log_path, const char *const *args);
/* A fresh empty store for a private server: fills db and blobs URLs
 * (sqlite/file under a temp dir, or a new PostgreSQL database + S3 prefix). */
void api_fresh_store(char *db_url, size_t db_n, char *blob_url, size_t blob_n, char *dir, size_t dir_n);
/* Starts a private `cvops serve` on a fresh port; returns its base URL. */
pid_t api_start_server(const char *db_url, const char *blob_url, const char *dir,
                       const char *token, const char *const *extra, char *url_out, size_t url_n);
/* The same on a fresh store of its own. */
pid_t api_private_server(const char *token, const char *const *extra, char *url_out,
                         size_t url_n);
/* Polls job `id` on the server at base until it runs; false after timeout_s. */
bool api_wait_running(const char *base, const char *token, int64_t id, double timeout_s);
bool api_is_pg(void);
/* URL-escapes a query string value (malloc'd). */
char *curl_escape_q(const char *s);

#endif
