/*
 * http.h - the HTTP layer: a libmicrohttpd server, a route table with path
 * parameters, authentication hook, body limits and streaming, JSON and
 * error responses, metrics, static files.
 *
 * A route names a method, a pattern ("/api/v1/jobs/{id}"), the permission
 * it needs and how it takes its body:
 *   BODY_NONE    no body expected (anything sent is discarded, bounded)
 *   BODY_JSON    buffered up to the JSON limit, parsed before the handler
 *   BODY_STREAM  each piece goes to route->on_data as it arrives, then the
 *                handler runs; nothing is held in memory
 * A handler fills r->status and the response (http_json_begin(), or
 * http_fail() for errors) and returns 0. Errors follow the API convention:
 * status + {"error": {"code", "message"}}; a failed request changes nothing.
 *
 * The request's memory lives in r->arena and dies with the request. A
 * handler that holds resources across the body (a blob writer) registers a
 * cleanup with http_on_cleanup(); it runs whatever happens to the request.
 */
#ifndef CVOPS_HTTP_HTTP_H
#define CVOPS_HTTP_HTTP_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"

typedef enum {
    HTTP_GET = 1,
    HTTP_POST = 2,
    HTTP_PUT = 4,
    HTTP_PATCH = 8,
    HTTP_DELETE = 16,
    HTTP_HEAD = 32,
} http_method;

typedef enum { BODY_NONE, BODY_JSON, BODY_STREAM } http_body_mode;

typedef struct http_req http_req;
typedef struct http_route http_route;
typedef struct http_server http_server;

typedef int (*http_handler)(http_req *r);
/* One piece of a streamed body; return -1 after http_fail() to reject it. */
typedef int (*http_data_fn)(http_req *r, const char *data, size_t n);

/* A file in a streamed body. A raw body is one part (field "file", the
 * filename from ?filename=); a multipart/form-data body has one part per
 * file field, and its text fields are collected for http_form(). */
typedef struct http_part {
    const char *field;
    const char *filename;     /* may be "" */
    const char *content_type; /* may be NULL */
    int index;                /* 0, 1, ... */
} http_part;
/* Called with begin=true before a part's bytes go to on_data, and with
 * begin=false after its last byte. Return -1 after http_fail() to stop. */
typedef int (*http_part_fn)(http_req *r, const http_part *p, bool begin);

/* Who is calling. Filled by the server's auth hook before the handler. */
typedef struct http_principal {
    int64_t user_id;
    int64_t org_id;
    int role;          /* app-defined (see auth/auth.h) */
    int64_t token_id;  /* 0 for a session */
    int64_t session_id;
    const char *username;
    const char *csrf; /* sessions: the token writes must echo */
} http_principal;

struct http_route {
    http_method method;
    const char *pattern;
    http_handler handler;
    int perm;             /* 0: no authentication; else app-defined permission */
    http_body_mode body;
    http_data_fn on_data; /* BODY_STREAM */
    const char *summary;  /* one line, for OpenAPI and docs */
    const char *tag;      /* OpenAPI tag: "auth", "jobs", ... */
    const char *request;  /* OpenAPI request body schema (JSON), optional */
    const char *response; /* OpenAPI response schema (JSON), optional */
    int64_t max_body;     /* BODY_STREAM limit; 0: the server's upload limit */
    http_part_fn on_part; /* BODY_STREAM, optional: file boundaries */
    /* Quick: the handler neither sleeps nor waits for the database's writer,
     * the object store or a long computation (reads by id of small
     * records). With an event-thread pool (http_config.threads > 0) a quick
     * handler runs on the event thread; any other is handed to a handler
     * thread while its connection is suspended, so that it cannot stall the
     * other connections of that event thread. */
    bool quick;
};

#define HTTP_MAX_PARAMS 6

struct http_req {
    http_server *srv;
    void *app;  /* the application context given to http_server_new */
    arena *arena;
    http_method method;
    const char *method_name;
    const char *path; /* decoded, validated */
    const http_route *route;
    int route_index;
    int shard; /* of the server's metric counters (http.c) */
    const char *param_names[HTTP_MAX_PARAMS];
    const char *param_values[HTTP_MAX_PARAMS];
    int nparams;
    http_principal who;
    bool authed;
    json_t *json;       /* BODY_JSON: the parsed body, NULL if the body was empty */
    int64_t body_bytes; /* bytes received so far */
    int64_t content_length; /* -1 if not given */
    void *ctx;          /* handler state across on_data calls */

    /* response */
    int status;
    sbuf out;
    const char *content_type;
    bool failed;     /* http_fail was called */
    struct http_hdr *headers;
    int resp_fd;     /* >= 0: send this file range instead of `out` */
    int64_t resp_off, resp_len;
    struct MHD_Response *resp_custom;

    /* internal */
    void (*cleanup)(void *);
    void *cleanup_arg;
    struct MHD_Connection *conn;
    int64_t start_ns;
    bool first_call_done;
    bool responded;
    const char *raw_target; /* as received, before decoding */
    struct MHD_PostProcessor *pp; /* multipart bodies */
    struct http_form_field *form;
    size_t form_bytes;
    http_part part;
    bool part_open;
    uint64_t part_bytes; /* bytes of the open part so far */
    int nparts;
    struct http_req *next_queued; /* the handler threads' queue */
    _Atomic bool handled;         /* a handler thread has run the handler */
};

/* --- server ------------------------------------------------------------ */

/* Decides who is calling from the request's headers. Returns 0 and fills
 * r->who; or -1 with e set (ERR_UNAUTHORIZED / ERR_FORBIDDEN). It is also
 * given the route's permission so it can check the role. */
typedef int (*http_auth_fn)(http_req *r, int perm, err *e);

typedef struct http_config {
    const char *listen;      /* "127.0.0.1:8080"; port 0 picks a free one */
    int threads;             /* 0: a thread per connection; N: N event threads (epoll)
                              * and handler threads for handlers that are not quick */
    int max_connections;     /* default 1024 */
    int64_t max_json_body;   /* default 16 MiB */
    int64_t max_upload;      /* default 64 GiB */
    int idle_timeout_s;      /* default 120 */
} http_config;

http_server *http_server_new(const http_config *cfg, void *app, http_auth_fn auth, err *e);
/* Adds routes (the array ends with an entry whose pattern is NULL). The
 * arrays must outlive the server. Call before http_server_start. */
int http_server_add_routes(http_server *s, const http_route *routes, err *e);
int http_server_start(http_server *s, err *e);
int http_server_port(const http_server *s);
/* Stops accepting, lets in-flight requests finish (up to grace_ms), stops. */
void http_server_stop(http_server *s, int grace_ms);
void http_server_free(http_server *s);
/* Number of routes registered, and each one (for OpenAPI and tests). */
int http_server_route_count(const http_server *s);
const http_route *http_server_route(const http_server *s, int i);
/* Prometheus text for the request metrics. */
void http_server_metrics(http_server *s, sbuf *out);

/* --- request helpers ------------------------------------------------------ */

const char *http_param(http_req *r, const char *name);
/* Path parameter as a positive id; on failure answers 404 and returns -1. */
int http_param_id(http_req *r, const char *name, int64_t *out);
const char *http_query(http_req *r, const char *name);
/* Integer query argument in [min,max] with a default; 400 on bad input. */
int http_query_i64(http_req *r, const char *name, int64_t def, int64_t min, int64_t max,
                   int64_t *out);
/* Every value of a repeated query argument (?tag=a&tag=b); returns the
 * count, fills at most max. */
int http_query_values(http_req *r, const char *name, const char **out, int max);
/* Text fields of a multipart body (after the body has been read). */
const char *http_form(http_req *r, const char *name);
int http_form_values(http_req *r, const char *name, const char **out, int max);
const char *http_header(http_req *r, const char *name);
const char *http_cookie(http_req *r, const char *name);

/* Reads a Range header (one range, bytes=a-b | a- | -n) against a resource
 * of `size` bytes. 0: no range (whole), 1: partial [off, off+len), -1: not
 * satisfiable (a 416 answer has been prepared). */
int http_range(http_req *r, int64_t size, int64_t *off, int64_t *len);

/* --- responses --------------------------------------------------------- */

/* Answers an error: status from the code, {"error":{"code","message"}}. */
int http_fail(http_req *r, err_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int http_fail_err(http_req *r, const err *e);
/* Starts a JSON response with this status; write into the returned writer. */
jw *http_json_begin(http_req *r, int status, jw *w);
void http_set_header(http_req *r, const char *name, const char *value);
/* Serves [off, off+len) of an open file (the server closes fd). */
void http_send_fd(http_req *r, int status, int fd, int64_t off, int64_t len, const char *type);
/* Raw response from a buffer the server copies. */
void http_send(http_req *r, int status, const char *type, const void *data, size_t n);
void http_on_cleanup(http_req *r, void (*fn)(void *), void *arg);
/* True once the server is shutting down: handlers that wait (long polls)
 * answer with what they have. */
bool http_stopping(const http_req *r);

/* Response built by the caller (streamed downloads); takes ownership. */
void http_send_mhd(http_req *r, int status, struct MHD_Response *resp);

/* --- path safety (exposed for tests and fuzzing) ------------------------ */

/* Percent-decodes the path part of a raw request target into out and checks
 * it: no NUL, backslash, control characters, '%' left after decoding
 * (double encoding), empty, "." or ".." segments. Returns 0 or -1 with a
 * reason in e. */
int http_path_decode(const char *raw, size_t n, char *out, size_t out_size, err *e);

#endif
