/*
 * cvops/client.h - the C client library of the cvops REST API.
 *
 * Modelled on libcurl's easy interface: an opaque handle made with
 * cvops_client_new() and released with cvops_client_free(); every call
 * returns a cvops_code, and cvops_client_errmsg() gives the message the
 * server (or the network) gave for the last failure, ready to show a user.
 *
 * A handle keeps its connection open between calls (HTTP keep-alive). A
 * handle must not be used by two threads at once; make one per thread.
 *
 * JSON goes in and out as text: link your JSON library of choice. Strings
 * returned through `char **` are malloc'd; release them with cvops_free().
 */
#ifndef CVOPS_CLIENT_H
#define CVOPS_CLIENT_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cvops_client cvops_client;

typedef enum {
    CVOPS_OK = 0,
    CVOPS_E_INVALID,    /* 400/422: the request was wrong (see the message) */
    CVOPS_E_AUTH,       /* 401: no or bad token */
    CVOPS_E_FORBIDDEN,  /* 403: the role does not allow it */
    CVOPS_E_NOT_FOUND,  /* 404 */
    CVOPS_E_CONFLICT,   /* 409 */
    CVOPS_E_TOO_LARGE,  /* 413 */
    CVOPS_E_SERVER,     /* 5xx or an unexpected answer */
    CVOPS_E_CONNECT,    /* the server could not be reached */
    CVOPS_E_IO,         /* a local file could not be read or written */
    CVOPS_E_NOMEM,
    CVOPS_E_TIMEOUT,    /* a wait ran out of time */
} cvops_code;

/* server_url: "http://127.0.0.1:8080"; token may be NULL (then only public
 * endpoints and login work). Returns NULL only when out of memory. */
cvops_client *cvops_client_new(const char *server_url, const char *token);
void cvops_client_free(cvops_client *c);
/* Replaces the token (after a login). */
cvops_code cvops_client_set_token(cvops_client *c, const char *token);

const char *cvops_client_errmsg(const cvops_client *c);
long cvops_client_status(const cvops_client *c); /* HTTP status of the last call */
const char *cvops_strerror(cvops_code code);
void cvops_free(void *p);

/* Any API call: method, a path under the server ("/api/v1/jobs?limit=5"),
 * an optional JSON body; the JSON answer in *json_out (may be NULL if not
 * wanted). */
cvops_code cvops_call(cvops_client *c, const char *method, const char *path, const char *json_body,
                      char **json_out);
/* Streams a local file as the body of a PUT/POST (Content-Type given). */
cvops_code cvops_upload_file(cvops_client *c, const char *method, const char *path,
                             const char *file, const char *content_type, char **json_out);
/* Writes a GET response body to out. */
cvops_code cvops_download(cvops_client *c, const char *path, FILE *out);

/* Logs in with a password and creates an API token named token_name for
 * this client; the token is set on the handle and returned in *token_out. */
cvops_code cvops_login(cvops_client *c, const char *username, const char *password,
                       int64_t org_id, const char *token_name, char **token_out);

/* Waits for a job to finish (succeeded, failed or canceled), calling
 * progress (if not NULL) whenever it changes. timeout_s <= 0 waits forever.
 * *job_json_out gets the final job. Returns CVOPS_OK when the job ended,
 * whatever its state. */
typedef void (*cvops_progress_fn)(void *ctx, double fraction, const char *message);
cvops_code cvops_job_wait(cvops_client *c, int64_t job_id, double timeout_s,
                          cvops_progress_fn progress, void *ctx, char **job_json_out);

#ifdef __cplusplus
}
#endif
#endif
