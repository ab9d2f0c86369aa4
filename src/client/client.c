/*
 * client.c - the C client library over libcurl; see include/cvops/client.h.
 */
#include "cvops/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/buf.h"
#include "client/client_impl.h"

struct cvops_client {
    CURL *h;
    char *base;
    char *auth_header;
    char errmsg[600];
    long status;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

cvops_client *cvops_client_new(const char *server_url, const char *token)
{
    pthread_once(&curl_once, curl_init);
    cvops_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->h = curl_easy_init();
    c->base = strdup(server_url ? server_url : "http://127.0.0.1:8080");
    if (!c->h || !c->base) {
        cvops_client_free(c);
        return NULL;
    }
    size_t n = strlen(c->base);
    while (n && c->base[n - 1] == '/')
        c->base[--n] = 0;
    if (cvops_client_set_token(c, token) != CVOPS_OK) {
        cvops_client_free(c);
        return NULL;
    }
    return c;
}

void cvops_client_free(cvops_client *c)
{
    if (!c)
        return;
    if (c->h)
        curl_easy_cleanup(c->h);
    free(c->base);
    free(c->auth_header);
    free(c);
}

cvops_code cvops_client_set_token(cvops_client *c, const char *token)
{
    free(c->auth_header);
    c->auth_header = NULL;
    if (token && *token) {
        size_t n = strlen(token) + 32;
        c->auth_header = malloc(n);
        if (!c->auth_header)
            return CVOPS_E_NOMEM;
        snprintf(c->auth_header, n, "Authorization: Bearer %s", token);
    }
    return CVOPS_OK;
}

const char *cvops_client_errmsg(const cvops_client *c) { return c->errmsg; }

cvops_code cvops__fail(cvops_client *c, cvops_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return code;
}
long cvops_client_status(const cvops_client *c) { return c->status; }
void cvops_free(void *p) { free(p); }

const char *cvops_strerror(cvops_code code)
{
    switch (code) {
    case CVOPS_OK: return "ok";
    case CVOPS_E_INVALID: return "invalid request";
    case CVOPS_E_AUTH: return "not authenticated";
    case CVOPS_E_FORBIDDEN: return "not allowed";
    case CVOPS_E_NOT_FOUND: return "not found";
    case CVOPS_E_CONFLICT: return "conflict";
    case CVOPS_E_TOO_LARGE: return "too large";
    case CVOPS_E_SERVER: return "server error";
    case CVOPS_E_CONNECT: return "cannot reach the server";
    case CVOPS_E_IO: return "local I/O error";
    case CVOPS_E_NOMEM: return "out of memory";
    case CVOPS_E_TIMEOUT: return "timed out";
    }
    return "unknown error";
}

static size_t sink(char *p, size_t sz, size_t n, void *u)
{
    sbuf_put(u, p, sz * n);
    return sz * n;
}

typedef struct {
    CURL *h;
    FILE *out;
    sbuf *err; /* the body of an error answer goes here, not to the file */
} dl_sink;

static size_t file_sink(char *p, size_t sz, size_t n, void *u)
{
    dl_sink *d = u;
    long status = 0;
    curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 300) {
        sbuf_put(d->err, p, sz * n);
        return sz * n;
    }
    return fwrite(p, sz, n, d->out) * sz;
}

static cvops_code code_of(long status)
{
    if (status >= 200 && status < 300)
        return CVOPS_OK;
    switch (status) {
    case 400:
    case 405:
    case 415:
    case 416:
    case 422: return CVOPS_E_INVALID;
    case 401: return CVOPS_E_AUTH;
    case 403: return CVOPS_E_FORBIDDEN;
    case 404: return CVOPS_E_NOT_FOUND;
    case 409: return CVOPS_E_CONFLICT;
    case 413: return CVOPS_E_TOO_LARGE;
    default: return CVOPS_E_SERVER;
    }
}

/* Performs the prepared request; fills status, errmsg; body in b. */
static cvops_code perform(cvops_client *c, const char *method, const char *path,
                          struct curl_slist *hdr, sbuf *b, FILE *out)
{
    char url[8192];
    snprintf(url, sizeof url, "%s%s", c->base, path);
    c->errmsg[0] = 0;
    c->status = 0;
    if (c->auth_header)
        hdr = curl_slist_append(hdr, c->auth_header);
    hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c->h, CURLOPT_USERAGENT, "cvops-client/1");
    sbuf errbody = SBUF_INIT;
    dl_sink dl = {c->h, out, &errbody};
    if (out) {
        curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, file_sink);
        curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &dl);
        b = &errbody;
    } else {
        curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(c->h, CURLOPT_WRITEDATA, b);
    }
    CURLcode cc = curl_easy_perform(c->h);
    curl_slist_free_all(hdr);
    /* reset per-request options so the handle can be reused */
    curl_easy_setopt(c->h, CURLOPT_UPLOAD, 0L);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
    if (cc != CURLE_OK) {
        snprintf(c->errmsg, sizeof c->errmsg, "cannot reach %s: %s", c->base,
                 curl_easy_strerror(cc));
        sbuf_free(&errbody);
        return CVOPS_E_CONNECT;
    }
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &c->status);
    cvops_code code = code_of(c->status);
    if (code != CVOPS_OK && b && b->len) {
        json_t *j = json_loadb(b->p, b->len, 0, NULL);
        const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
        snprintf(c->errmsg, sizeof c->errmsg, "%s", m ? m : "the server answered with an error");
        json_decref(j);
    } else if (code != CVOPS_OK) {
        snprintf(c->errmsg, sizeof c->errmsg, "the server answered HTTP %ld", c->status);
    }
    sbuf_free(&errbody);
    return code;
}

cvops_code cvops_call(cvops_client *c, const char *method, const char *path, const char *json_body,
                      char **json_out)
{
    struct curl_slist *hdr = NULL;
    if (json_body) {
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, json_body);
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json_body));
    } else {
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, "");
        if (strcmp(method, "GET") == 0)
            curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
    }
    sbuf b = SBUF_INIT;
    cvops_code code = perform(c, method, path, hdr, &b, NULL);
    if (json_out)
        *json_out = code == CVOPS_OK ? sbuf_detach(&b, NULL) : NULL;
    sbuf_free(&b);
    return code;
}

static size_t file_source(char *p, size_t sz, size_t n, void *u)
{
    return fread(p, sz, n, u) * sz;
}

cvops_code cvops_upload_file(cvops_client *c, const char *method, const char *path,
                             const char *file, const char *content_type, char **json_out)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        snprintf(c->errmsg, sizeof c->errmsg, "cannot open %s: %s", file, strerror(errno));
        return CVOPS_E_IO;
    }
    struct stat st;
    fstat(fileno(f), &st);
    struct curl_slist *hdr = NULL;
    char ct[200];
    snprintf(ct, sizeof ct, "Content-Type: %s",
             content_type ? content_type : "application/octet-stream");
    hdr = curl_slist_append(hdr, ct);
    curl_easy_setopt(c->h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c->h, CURLOPT_READFUNCTION, file_source);
    curl_easy_setopt(c->h, CURLOPT_READDATA, f);
    curl_easy_setopt(c->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
    sbuf b = SBUF_INIT;
    cvops_code code = perform(c, method, path, hdr, &b, NULL);
    fclose(f);
    if (json_out)
        *json_out = code == CVOPS_OK ? sbuf_detach(&b, NULL) : NULL;
    sbuf_free(&b);
    return code;
}

cvops_code cvops_download(cvops_client *c, const char *path, FILE *out)
{
    curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
    /* error bodies are small JSON: download into memory first when the
     * status is not 2xx is not known in advance, so stream and check */
    cvops_code code = perform(c, "GET", path, NULL, NULL, out);
    return code;
}

cvops_code cvops_login(cvops_client *c, const char *username, const char *password,
                       int64_t org_id, const char *token_name, char **token_out)
{
    json_t *body = json_pack("{s:s, s:s, s:s}", "username", username, "password", password,
                             "token_name", token_name ? token_name : "cvops-client");
    if (org_id)
        json_object_set_new(body, "org_id", json_integer(org_id));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    char *out = NULL;
    cvops_code code = cvops_call(c, "POST", "/api/v1/auth/login", text, &out);
    free(text);
    if (code != CVOPS_OK)
        return code;
    json_t *j = json_loads(out, 0, NULL);
    free(out);
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (!tok) {
        json_decref(j);
        snprintf(c->errmsg, sizeof c->errmsg, "the server did not return a token");
        return CVOPS_E_SERVER;
    }
    cvops_client_set_token(c, tok);
    if (token_out)
        *token_out = strdup(tok);
    json_decref(j);
    return CVOPS_OK;
}

cvops_code cvops_job_wait(cvops_client *c, int64_t job_id, double timeout_s,
                          cvops_progress_fn progress, void *ctx, char **job_json_out)
{
    char path[80];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld", (long long)job_id);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double last_frac = -1;
    char last_msg[512] = "";
    int delay_ms = 100;
    for (;;) {
        char *out = NULL;
        cvops_code code = cvops_call(c, "GET", path, NULL, &out);
        if (code != CVOPS_OK)
            return code;
        json_t *j = json_loads(out, 0, NULL);
        const char *st = json_string_value(json_object_get(j, "state"));
        double frac = json_number_value(json_object_get(j, "progress"));
        const char *msg = json_string_value(json_object_get(j, "message"));
        if (progress && (frac != last_frac || strcmp(msg ? msg : "", last_msg) != 0)) {
            progress(ctx, frac, msg ? msg : "");
            last_frac = frac;
            snprintf(last_msg, sizeof last_msg, "%s", msg ? msg : "");
        }
        bool done = st && (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0 ||
                           strcmp(st, "canceled") == 0);
        json_decref(j);
        if (done) {
            if (job_json_out)
                *job_json_out = out;
            else
                free(out);
            return CVOPS_OK;
        }
        free(out);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double el = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (timeout_s > 0 && el > timeout_s) {
            snprintf(c->errmsg, sizeof c->errmsg, "job %lld did not finish within %.0f s",
                     (long long)job_id, timeout_s);
            return CVOPS_E_TIMEOUT;
        }
        struct timespec ts = {0, (long)delay_ms * 1000000};
        nanosleep(&ts, NULL);
        if (delay_ms < 1000)
            delay_ms += 100;
    }
}
