/*
 * http.c - the HTTP server on libmicrohttpd; see http.h for the contract.
 *
 * Request life cycle, in MHD's callbacks:
 *   uri_log        first sight of a request: allocate the http_req and keep
 *                  the raw target (MHD's own URL argument is already
 *                  percent-decoded, and a decoded NUL would cut it short, so
 *                  routing uses our own strict decoding of the raw target).
 *   on_request #1  route, authenticate, check limits. A refused request
 *                  with a body is answered at once (MHD then closes the
 *                  connection rather than read a body nobody wants).
 *   on_request #2+ body pieces: buffered (JSON) or streamed (on_data).
 *   on_request end run the handler, queue the response. Responses to GETs
 *                  are queued here, never in call #1: queueing in the first
 *                  call makes MHD answer with Connection: close.
 *   on_completed   metrics, the handler's cleanup, free everything.
 *
 * Threads: by default a thread per connection, so a handler may block (on
 * the database, the object store, a long poll) without stalling other
 * connections. `threads = N` selects N event threads (epoll) instead, each
 * serving many connections: there only quick routes (http_route.quick) run
 * their handler on the event thread. Any other request is suspended
 * (MHD_suspend_connection) once its body is in, and a handler thread runs
 * the handler and resumes the connection; on_request is then called again
 * and queues the response. A handler thread is started unless an idle one
 * is left for each queued request, and ends after HANDLER_IDLE_S seconds
 * without work: at most one per suspended connection. Body pieces and
 * streamed responses stay on the event thread.
 */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "http/assets.h"

#define MAX_ROUTES 512
#define MAX_SEGS 12
#define MAX_PATH 2048
#define BODY_NONE_LIMIT 65536
#define HANDLER_IDLE_S 30

struct http_hdr {
    struct http_hdr *next;
    const char *name, *value;
};

struct http_form_field {
    struct http_form_field *next;
    char *name;
    sbuf value;
};

#define FORM_MAX_BYTES 65536

typedef struct {
    const http_route *route;
    int nseg;
    const char *seg[MAX_SEGS]; /* literal text, or the param name */
    size_t seglen[MAX_SEGS];
    bool is_param[MAX_SEGS];
} compiled_route;

/* Status codes counted separately in the metrics; anything else is "other". */
static const int metric_codes[] = {200, 201, 202, 204, 206, 304, 400, 401, 403, 404,
                                   405, 409, 413, 414, 415, 422, 429, 500, 503};
#define NCODES ((int)ARRAY_LEN(metric_codes) + 1)
static const double latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5,    10};
#define NBUCKETS ((int)ARRAY_LEN(latency_buckets) + 1)

typedef struct {
    _Atomic uint64_t by_code[NCODES];
    _Atomic uint64_t hist[NBUCKETS];
    _Atomic uint64_t sum_us;
} route_metrics;

/* The counters are kept in METRIC_SHARDS copies, a thread writing to its
 * own (threads take shards in turn): with one copy, every request of two
 * threads on the same route moved the same cache lines between the cores
 * five times. /metrics and the shutdown wait add the copies up. */
#define METRIC_SHARDS 8

typedef struct {
    _Atomic int active; /* requests in flight begun on this shard */
    char pad[64 - sizeof(_Atomic int)];
} active_count;

static int metric_shard(void)
{
    static _Atomic unsigned next;
    static _Thread_local int mine = -1;
    if (mine < 0)
        mine = (int)(atomic_fetch_add(&next, 1) % METRIC_SHARDS);
    return mine;
}

struct http_server {
    http_config cfg;
    void *app;
    http_auth_fn auth;
    struct MHD_Daemon *d;
    int port;
    compiled_route routes[MAX_ROUTES];
    int nroutes;
    route_metrics *metrics; /* METRIC_SHARDS x (nroutes + 2: unmatched, static) */
    active_count active[METRIC_SHARDS];
    _Atomic bool stopping;
    char host[64];
    /* handler threads (event-thread mode) */
    pthread_mutex_t hmu;
    pthread_cond_t hcv;   /* work queued, or stop */
    pthread_cond_t hdone; /* hbusy or hthreads went down */
    http_req *hq_head, *hq_tail;
    int hqlen;            /* requests in the queue */
    int hthreads, hidle;
    int hbusy;            /* requests queued or being handled */
    bool hclosed;         /* stopping: no more hand-overs (handlers run inline) */
    bool hstop;
};

static int in_flight(http_server *s)
{
    int n = 0;
    for (int k = 0; k < METRIC_SHARDS; k++)
        n += atomic_load(&s->active[k].active);
    return n;
}

static route_metrics *route_shard(http_server *s, int shard, int route)
{
    return &s->metrics[(size_t)shard * (size_t)(s->nroutes + 2) + (size_t)route];
}

/* --- path decoding ------------------------------------------------------- */

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int http_path_decode(const char *raw, size_t n, char *out, size_t out_size, err *e)
{
    if (n == 0 || raw[0] != '/')
        return err_set(e, ERR_INVALID, "the request path must start with '/'");
    if (n >= out_size || n > MAX_PATH)
        return err_set(e, ERR_INVALID, "the request path is longer than %d bytes", MAX_PATH);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '%') {
            if (i + 2 >= n)
                return err_set(e, ERR_INVALID, "the request path has a truncated %%-escape");
            int a = hexv(raw[i + 1]), b = hexv(raw[i + 2]);
            if (a < 0 || b < 0)
                return err_set(e, ERR_INVALID, "the request path has an invalid %%-escape");
            c = (unsigned char)(a * 16 + b);
            i += 2;
            if (c == '%')
                return err_set(e, ERR_INVALID,
                               "the request path is percent-encoded twice; encode it once");
            if (c == '/')
                return err_set(e, ERR_INVALID, "the request path has an encoded '/' (%%2F)");
        }
        if (c == 0)
            return err_set(e, ERR_INVALID, "the request path contains a NUL byte");
        if (c == '\\')
            return err_set(e, ERR_INVALID, "the request path contains a backslash");
        if (c < 0x20 || c == 0x7f)
            return err_set(e, ERR_INVALID, "the request path contains a control character");
        out[o++] = (char)c;
    }
    out[o] = 0;
    /* segments: no empty (//), "." or ".." */
    for (size_t i = 1; i <= o; i++) {
        size_t start = i;
        while (i < o && out[i] != '/')
            i++;
        size_t len = i - start;
        if (len == 0 && i < o)
            return err_set(e, ERR_INVALID, "the request path has an empty segment (//)");
        if ((len == 1 && out[start] == '.') ||
            (len == 2 && out[start] == '.' && out[start + 1] == '.'))
            return err_set(e, ERR_INVALID, "the request path has a '.' or '..' segment");
    }
    if (!utf8_valid(out, o))
        return err_set(e, ERR_INVALID, "the request path is not valid UTF-8");
    /* a trailing slash is ignored: /api/v1/jobs/ is /api/v1/jobs */
    if (o > 1 && out[o - 1] == '/')
        out[--o] = 0;
    return 0;
}

/* --- routes ---------------------------------------------------------- */

static int compile_route(compiled_route *cr, const http_route *r, err *e)
{
    cr->route = r;
    cr->nseg = 0;
    const char *p = r->pattern;
    if (*p != '/')
        return err_set(e, ERR_INTERNAL, "route pattern '%s' must start with '/'", r->pattern);
    while (*p == '/') {
        p++;
        if (!*p)
            break;
        if (cr->nseg == MAX_SEGS)
            return err_set(e, ERR_INTERNAL, "route pattern '%s' is too deep", r->pattern);
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int i = cr->nseg++;
        if (p[0] == '{' && p[len - 1] == '}') {
            cr->is_param[i] = true;
            cr->seg[i] = strndup(p + 1, len - 2);
            cr->seglen[i] = len - 2;
        } else {
            cr->is_param[i] = false;
            cr->seg[i] = strndup(p, len);
            cr->seglen[i] = len;
        }
        p += len;
    }
    return 0;
}

static http_method method_of(const char *m)
{
    switch (m[0]) {
    case 'G': return strcmp(m, "GET") == 0 ? HTTP_GET : 0;
    case 'P':
        if (strcmp(m, "POST") == 0)
            return HTTP_POST;
        if (strcmp(m, "PUT") == 0)
            return HTTP_PUT;
        return strcmp(m, "PATCH") == 0 ? HTTP_PATCH : 0;
    case 'D': return strcmp(m, "DELETE") == 0 ? HTTP_DELETE : 0;
    case 'H': return strcmp(m, "HEAD") == 0 ? HTTP_HEAD : 0;
    default: return 0;
    }
}

/* Finds the route; 0 found, 1 path known but not the method (allow set),
 * -1 no such path. */
static int match(http_server *s, http_req *r, unsigned *allow)
{
    const char *segs[MAX_SEGS + 1];
    size_t lens[MAX_SEGS + 1];
    int n = 0;
    const char *p = r->path;
    while (*p == '/') {
        p++;
        if (!*p)
            break;
        if (n == MAX_SEGS + 1)
            return -1;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        segs[n] = p;
        lens[n] = len;
        n++;
        p += len;
    }
    http_method m = r->method == HTTP_HEAD ? HTTP_GET : r->method;
    *allow = 0;
    for (int i = 0; i < s->nroutes; i++) {
        compiled_route *cr = &s->routes[i];
        if (cr->nseg != n)
            continue;
        /* last segment first: every API route starts /api/v1, and the
         * resource names further on tell routes apart sooner */
        int k = n - 1;
        for (; k >= 0; k--)
            if (!cr->is_param[k] &&
                (cr->seglen[k] != lens[k] || memcmp(cr->seg[k], segs[k], lens[k]) != 0))
                break;
        if (k >= 0)
            continue;
        if (cr->route->method != m) {
            *allow |= cr->route->method;
            continue;
        }
        r->route = cr->route;
        r->route_index = i;
        r->nparams = 0;
        for (k = 0; k < n; k++)
            if (cr->is_param[k] && r->nparams < HTTP_MAX_PARAMS) {
                r->param_names[r->nparams] = cr->seg[k];
                r->param_values[r->nparams] = arena_strndup(r->arena, segs[k], lens[k]);
                r->nparams++;
            }
        return 0;
    }
    return *allow ? 1 : -1;
}

/* --- responses --------------------------------------------------------- */

int http_fail(http_req *r, err_code code, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->failed = true;
    r->status = err_http_status(code);
    r->resp_fd = -1;
    sbuf_reset(&r->out);
    jw w;
    jw_init(&w, &r->out);
    jw_obj(&w);
    jw_key(&w, "error");
    jw_obj(&w);
    jw_kstr(&w, "code", err_code_name(code));
    jw_kstr(&w, "message", msg);
    jw_obj_end(&w);
    jw_obj_end(&w);
    r->content_type = "application/json";
    if (code == ERR_INTERNAL || code == ERR_IO || code == ERR_UNAVAILABLE)
        log_error("%s %s -> %d: %s", r->method_name, r->path ? r->path : "?", r->status, msg);
    return 0;
}

int http_fail_err(http_req *r, const err *e)
{
    return http_fail(r, e->code == ERR_NONE ? ERR_INTERNAL : e->code, "%s",
                     e->msg[0] ? e->msg : "unknown error");
}

jw *http_json_begin(http_req *r, int status, jw *w)
{
    r->status = status;
    r->content_type = "application/json";
    sbuf_reset(&r->out);
    sbuf_reserve(&r->out, 1024); /* most replies fit: no regrowing on the way */
    jw_init(w, &r->out);
    return w;
}

void http_set_header(http_req *r, const char *name, const char *value)
{
    struct http_hdr *h = arena_alloc(r->arena, sizeof *h);
    h->name = arena_strdup(r->arena, name);
    h->value = arena_strdup(r->arena, value);
    h->next = r->headers;
    r->headers = h;
}

void http_send_fd(http_req *r, int status, int fd, int64_t off, int64_t len, const char *type)
{
    if (r->resp_fd >= 0)
        close(r->resp_fd);
    r->status = status;
    r->resp_fd = fd;
    r->resp_off = off;
    r->resp_len = len;
    r->content_type = type;
}

void http_send(http_req *r, int status, const char *type, const void *data, size_t n)
{
    r->status = status;
    r->content_type = type;
    sbuf_reset(&r->out);
    sbuf_put(&r->out, data, n);
}

void http_send_mhd(http_req *r, int status, struct MHD_Response *resp)
{
    if (r->resp_custom)
        MHD_destroy_response(r->resp_custom);
    r->status = status;
    r->resp_custom = resp;
}

void http_on_cleanup(http_req *r, void (*fn)(void *), void *arg)
{
    r->cleanup = fn;
    r->cleanup_arg = arg;
}

/* --- request helpers ------------------------------------------------------ */

const char *http_param(http_req *r, const char *name)
{
    for (int i = 0; i < r->nparams; i++)
        if (strcmp(r->param_names[i], name) == 0)
            return r->param_values[i];
    return NULL;
}

int http_param_id(http_req *r, const char *name, int64_t *out)
{
    const char *v = http_param(r, name);
    err e;
    if (!v || parse_i64(name, v, 1, INT64_MAX, out, &e) != 0) {
        http_fail(r, ERR_NOT_FOUND, "'%.60s' is not a valid %s; ids are positive whole numbers",
                  v ? v : "", name);
        return -1;
    }
    return 0;
}

const char *http_query(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

int http_query_i64(http_req *r, const char *name, int64_t def, int64_t min, int64_t max,
                   int64_t *out)
{
    const char *v = http_query(r, name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    err e;
    if (parse_i64(name, v, min, max, out, &e) != 0) {
        http_fail(r, ERR_INVALID, "query argument %s", e.msg);
        return -1;
    }
    return 0;
}

struct qv_ctx {
    const char *name;
    const char **out;
    int max, n;
};

static enum MHD_Result qv_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    struct qv_ctx *q = cls;
    if (key && strcmp(key, q->name) == 0) {
        if (q->n < q->max)
            q->out[q->n] = value ? value : "";
        q->n++;
    }
    return MHD_YES;
}

int http_query_values(http_req *r, const char *name, const char **out, int max)
{
    struct qv_ctx q = {name, out, max, 0};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, qv_iter, &q);
    return q.n;
}

const char *http_form(http_req *r, const char *name)
{
    const char *v = NULL;
    http_form_values(r, name, &v, 1);
    return v;
}

int http_form_values(http_req *r, const char *name, const char **out, int max)
{
    /* fields are kept newest first; answer in arrival order */
    int n = 0;
    for (struct http_form_field *f = r->form; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            n++;
    int k = n;
    for (struct http_form_field *f = r->form; f; f = f->next)
        if (strcmp(f->name, name) == 0) {
            k--;
            if (k < max)
                out[k] = sbuf_cstr(&f->value);
        }
    return n;
}

const char *http_header(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_cookie(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

int http_range(http_req *r, int64_t size, int64_t *off, int64_t *len)
{
    *off = 0;
    *len = size;
    const char *h = http_header(r, "Range");
    if (!h)
        return 0;
    if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
        return 0; /* unknown unit or several ranges: send the whole thing */
    const char *p = h + 6, *dash = strchr(p, '-');
    if (!dash)
        return 0;
    char *end;
    int64_t a = -1, b = -1;
    if (dash > p) {
        a = strtoll(p, &end, 10);
        if (end != dash || a < 0)
            return 0;
    }
    if (dash[1]) {
        b = strtoll(dash + 1, &end, 10);
        if (*end || b < 0)
            return 0;
    }
    if (a < 0 && b < 0)
        return 0;
    if (a < 0) { /* suffix: the last b bytes */
        if (b == 0)
            goto unsatisfiable;
        a = b > size ? 0 : size - b;
        b = size - 1;
    } else if (b < 0 || b >= size) {
        b = size - 1;
    }
    if (a >= size || a > b)
        goto unsatisfiable;
    *off = a;
    *len = b - a + 1;
    char cr[96];
    snprintf(cr, sizeof cr, "bytes %lld-%lld/%lld", (long long)a, (long long)b, (long long)size);
    http_set_header(r, "Content-Range", cr);
    return 1;
unsatisfiable:
    http_fail(r, ERR_INVALID, "the requested range '%.60s' is outside the %lld bytes of the file",
              h, (long long)size);
    r->status = 416;
    {
        char cr2[64];
        snprintf(cr2, sizeof cr2, "bytes */%lld", (long long)size);
        http_set_header(r, "Content-Range", cr2);
    }
    return -1;
}

/* --- static files ---------------------------------------------------------- */

static const char *mime_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot)
        return "application/octet-stream";
    static const struct {
        const char *ext, *type;
    } t[] = {{".html", "text/html; charset=utf-8"},
             {".js", "text/javascript; charset=utf-8"},
             {".mjs", "text/javascript; charset=utf-8"},
             {".css", "text/css; charset=utf-8"},
             {".json", "application/json"},
             {".svg", "image/svg+xml"},
             {".png", "image/png"},
             {".ico", "image/x-icon"},
             {".woff2", "font/woff2"},
             {".txt", "text/plain; charset=utf-8"},
             {".map", "application/json"}};
    for (size_t i = 0; i < ARRAY_LEN(t); i++)
        if (strcmp(dot, t[i].ext) == 0)
            return t[i].type;
    return "application/octet-stream";
}

static void serve_static(http_req *r)
{
    const webui_asset *found = NULL, *index = NULL;
    for (const webui_asset *a = webui_assets; a->path; a++) {
        if (strcmp(a->path, r->path) == 0)
            found = a;
        if (strcmp(a->path, "/index.html") == 0)
            index = a;
    }
    /* single-page app: unknown paths without an extension get index.html */
    const char *last = strrchr(r->path, '/');
    if (!found && index && !strchr(last ? last : r->path, '.'))
        found = index;
    if (!found) {
        if (!index && (strcmp(r->path, "/") == 0)) {
            const char *page = "<!doctype html><title>cvops</title><p>cvops is running. The web UI "
                               "was not built into this binary; the API is at /api/v1/.</p>";
            http_send(r, 200, "text/html; charset=utf-8", page, strlen(page));
            return;
        }
        http_fail(r, ERR_NOT_FOUND, "no page at %.200s", r->path);
        return;
    }
    const char *inm = http_header(r, "If-None-Match");
    http_set_header(r, "ETag", found->etag);
    bool immutable = str_has_prefix(found->path, "/assets/");
    http_set_header(r, "Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
    if (inm && strcmp(inm, found->etag) == 0) {
        http_send(r, 304, mime_of(found->path), "", 0);
        return;
    }
    r->status = 200;
    r->content_type = mime_of(found->path);
    /* the asset lives in .rodata for the whole process: no copy */
    r->resp_custom = MHD_create_response_from_buffer(found->size, (void *)found->data,
                                                     MHD_RESPMEM_PERSISTENT);
}

/* --- request processing ---------------------------------------------------- */

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
    http_server *s = cls;
    arena *a = arena_new(4096);
    http_req *r = a ? arena_zalloc(a, sizeof *r) : NULL;
    if (!r) {
        arena_free(a);
        return NULL;
    }
    r->srv = s;
    r->app = s->app;
    r->arena = a;
    r->conn = c;
    r->resp_fd = -1;
    r->route_index = -1;
    r->content_length = -1;
    r->start_ns = time_mono_ns();
    r->raw_target = arena_strdup(a, uri ? uri : "");
    r->method_name = "?";
    r->shard = metric_shard();
    atomic_fetch_add(&s->active[r->shard].active, 1);
    return r;
}

static enum MHD_Result queue(http_req *r)
{
    struct MHD_Response *resp;
    if (r->resp_custom) {
        resp = r->resp_custom;
        r->resp_custom = NULL;
    } else if (r->resp_fd >= 0) {
        resp = MHD_create_response_from_fd_at_offset64((uint64_t)r->resp_len, r->resp_fd,
                                                       (uint64_t)r->resp_off);
        r->resp_fd = -1; /* MHD closes it */
    } else {
        size_t len = 0;
        char *body = sbuf_detach(&r->out, &len);
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(body);
    }
    if (!resp)
        return MHD_NO;
    if (r->content_type)
        MHD_add_response_header(resp, "Content-Type", r->content_type);
    for (struct http_hdr *h = r->headers; h; h = h->next)
        MHD_add_response_header(resp, h->name, h->value);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r->path && str_has_prefix(r->path, "/api/")) {
        bool has_cc = false;
        for (struct http_hdr *h = r->headers; h; h = h->next)
            if (strcasecmp(h->name, "Cache-Control") == 0)
                has_cc = true;
        if (!has_cc)
            MHD_add_response_header(resp, "Cache-Control", "no-store");
    } else {
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'self'; img-src 'self' blob: data:; "
                                "style-src 'self' 'unsafe-inline'; connect-src 'self'");
    }
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    r->responded = true;
    return rc;
}

static bool has_body(http_req *r)
{
    if (r->content_length > 0)
        return true;
    const char *te = http_header(r, "Transfer-Encoding");
    return te && strcasecmp(te, "identity") != 0;
}

static enum MHD_Result post_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *filename, const char *content_type,
                                 const char *transfer_encoding, const char *data, uint64_t off,
                                 size_t size);

/* First call: decode the path, route, authenticate, check limits. */
static void setup(http_server *s, http_req *r, const char *method)
{
    r->method = method_of(method);
    r->method_name = arena_strdup(r->arena, method);
    const char *cl = http_header(r, "Content-Length");
    if (cl) {
        err ie;
        int64_t v;
        if (parse_i64("Content-Length", cl, 0, INT64_MAX, &v, &ie) == 0)
            r->content_length = v;
    }
    const char *raw = r->raw_target;
    const char *q = strchr(raw, '?');
    size_t n = q ? (size_t)(q - raw) : strlen(raw);
    char *path = arena_alloc(r->arena, n + 1);
    err e;
    if (http_path_decode(raw, n, path, n + 1, &e) != 0) {
        r->path = "(invalid)";
        http_fail(r, ERR_INVALID, "%s", e.msg);
        return;
    }
    r->path = path;
    if (!r->method) {
        http_fail(r, ERR_METHOD, "method %.20s is not supported", method);
        return;
    }
    unsigned allow = 0;
    int m = match(s, r, &allow);
    if (m != 0) {
        bool api = str_has_prefix(path, "/api/") || strcmp(path, "/api") == 0;
        if (m < 0 && !api && (r->method == HTTP_GET || r->method == HTTP_HEAD)) {
            r->route_index = s->nroutes + 1; /* static */
            return;
        }
        if (m > 0) {
            char list[64] = "";
            static const char *names[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
            for (int i = 0; i < 6; i++)
                if (allow & (1u << i)) {
                    if (list[0])
                        strcat(list, ", ");
                    strcat(list, names[i]);
                }
            http_fail(r, ERR_METHOD, "%s is not allowed on %.200s; allowed: %s", method, path,
                      list);
            http_set_header(r, "Allow", list);
        } else {
            http_fail(r, ERR_NOT_FOUND,
                      "no API endpoint %.200s; the endpoints are listed at /api/v1/openapi.json",
                      path);
        }
        return;
    }
    const http_route *rt = r->route;
    if (rt->perm) {
        err ae;
        err_clear(&ae);
        if (!s->auth || s->auth(r, rt->perm, &ae) != 0) {
            http_fail_err(r, &ae);
            return;
        }
        r->authed = true;
    }
    if (rt->body == BODY_JSON) {
        if (r->content_length > s->cfg.max_json_body) {
            http_fail(r, ERR_TOO_LARGE, "the JSON body is %lld bytes; the limit is %lld",
                      (long long)r->content_length, (long long)s->cfg.max_json_body);
            return;
        }
        const char *ct = http_header(r, "Content-Type");
        if (ct && has_body(r) && !str_has_prefix(ct, "application/json")) {
            http_fail(r, ERR_UNSUPPORTED,
                      "this endpoint takes a JSON body; send Content-Type: application/json "
                      "(got '%.60s')",
                      ct);
            return;
        }
    } else if (rt->body == BODY_STREAM) {
        int64_t limit = rt->max_body ? rt->max_body : s->cfg.max_upload;
        if (r->content_length > limit) {
            http_fail(r, ERR_TOO_LARGE, "the upload is %lld bytes; the limit is %lld",
                      (long long)r->content_length, (long long)limit);
            return;
        }
        const char *ct = http_header(r, "Content-Type");
        if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0) {
            r->pp = MHD_create_post_processor(r->conn, 65536, post_iter, r);
            if (!r->pp) {
                http_fail(r, ERR_INVALID,
                          "the multipart/form-data Content-Type needs a boundary of at least 2 characters; "
                          "send the header that your HTTP client writes for forms");
                return;
            }
        }
    }
}

static int part_end(http_req *r)
{
    if (!r->part_open)
        return 0;
    r->part_open = false;
    if (r->route->on_part && r->route->on_part(r, &r->part, false) != 0) {
        if (!r->failed)
            http_fail(r, ERR_INTERNAL, "the upload could not be stored");
        return -1;
    }
    return 0;
}

static int part_begin(http_req *r, const char *field, const char *filename, const char *ctype)
{
    if (part_end(r) != 0)
        return -1;
    r->part.field = arena_strdup(r->arena, field ? field : "file");
    r->part.filename = arena_strdup(r->arena, filename ? filename : "");
    r->part.content_type = ctype ? arena_strdup(r->arena, ctype) : NULL;
    r->part.index = r->nparts++;
    r->part_open = true;
    r->part_bytes = 0;
    if (r->route->on_part && r->route->on_part(r, &r->part, true) != 0) {
        if (!r->failed)
            http_fail(r, ERR_INTERNAL, "the upload could not be stored");
        return -1;
    }
    return 0;
}

static enum MHD_Result post_iter(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *filename, const char *content_type,
                                 const char *transfer_encoding, const char *data, uint64_t off,
                                 size_t size)
{
    (void)kind;
    (void)transfer_encoding;
    http_req *r = cls;
    if (r->failed)
        return MHD_NO;
    if (filename) {
        /* A piece continues the open part when its offset is where that part
         * is up to (MHD may call twice at offset 0, the first time empty). */
        bool same = r->part_open && off == r->part_bytes &&
                    strcmp(r->part.field, key ? key : "") == 0 &&
                    strcmp(r->part.filename, filename) == 0;
        if (!same && part_begin(r, key, filename, content_type) != 0)
            return MHD_NO;
        r->part_bytes += size;
        if (size && r->route->on_data && r->route->on_data(r, data, size) != 0) {
            if (!r->failed)
                http_fail(r, ERR_INTERNAL, "the upload could not be stored");
            return MHD_NO;
        }
        return MHD_YES;
    }
    /* a text field, possibly in several pieces */
    r->form_bytes += size;
    if (r->form_bytes > FORM_MAX_BYTES) {
        http_fail(r, ERR_TOO_LARGE, "the form's text fields are over %d bytes", FORM_MAX_BYTES);
        return MHD_NO;
    }
    struct http_form_field *f = r->form;
    if (!(f && off > 0 && strcmp(f->name, key ? key : "") == 0)) {
        f = arena_zalloc(r->arena, sizeof *f);
        f->name = arena_strdup(r->arena, key ? key : "");
        f->next = r->form;
        r->form = f;
    }
    sbuf_put(&f->value, data, size);
    if (f->value.len == 0)
        sbuf_put(&f->value, "", 0); /* make the value a valid empty string */
    return MHD_YES;
}

static void free_form(http_req *r)
{
    for (struct http_form_field *f = r->form; f; f = f->next)
        sbuf_free(&f->value);
    r->form = NULL;
}

/* The body is complete: flush a multipart parser, close the last part. */
static void body_end(http_req *r)
{
    if (!r->route || r->route->body != BODY_STREAM)
        return;
    if (r->pp) {
        MHD_destroy_post_processor(r->pp);
        r->pp = NULL;
    }
    if (!r->failed)
        part_end(r);
}

static void body_piece(http_server *s, http_req *r, const char *data, size_t n)
{
    r->body_bytes += (int64_t)n;
    const http_route *rt = r->route;
    if (!rt || rt->body == BODY_NONE) {
        if (r->body_bytes > BODY_NONE_LIMIT)
            http_fail(r, ERR_TOO_LARGE, "this endpoint takes no request body");
        return;
    }
    if (rt->body == BODY_JSON) {
        if (r->body_bytes > s->cfg.max_json_body) {
            http_fail(r, ERR_TOO_LARGE, "the JSON body is over the limit of %lld bytes",
                      (long long)s->cfg.max_json_body);
            return;
        }
        sbuf_put(&r->out, data, n); /* the body is kept in `out` until the handler runs */
        if (sbuf_failed(&r->out))
            http_fail(r, ERR_TOO_LARGE, "the JSON body does not fit in memory");
        return;
    }
    int64_t limit = rt->max_body ? rt->max_body : s->cfg.max_upload;
    if (r->body_bytes > limit) {
        http_fail(r, ERR_TOO_LARGE, "the upload is over the limit of %lld bytes", (long long)limit);
        return;
    }
    if (r->pp) {
        if (MHD_post_process(r->pp, data, n) != MHD_YES && !r->failed)
            http_fail(r, ERR_INVALID, "the multipart/form-data body is malformed");
        return;
    }
    if (!r->part_open && r->nparts == 0) {
        const char *fn = http_query(r, "filename");
        if (part_begin(r, "file", fn, http_header(r, "Content-Type")) != 0)
            return;
    }
    if (rt->on_data && rt->on_data(r, data, n) != 0 && !r->failed)
        http_fail(r, ERR_INTERNAL, "the upload could not be stored");
}

static void run_handler(http_req *r)
{
    const http_route *rt = r->route;
    if (r->route_index == r->srv->nroutes + 1) {
        serve_static(r);
        return;
    }
    if (rt->body == BODY_JSON && r->out.len > 0) {
        json_error_t je;
        r->json = json_loadb(r->out.p, r->out.len, JSON_REJECT_DUPLICATES, &je);
        sbuf_reset(&r->out);
        if (!r->json) {
            http_fail(r, ERR_INVALID,
                      "the request body is not valid JSON: %s (line %d, column %d)", je.text,
                      je.line, je.column);
            return;
        }
        if (!json_is_object(r->json) && !json_is_array(r->json)) {
            http_fail(r, ERR_INVALID, "the request body must be a JSON object");
            return;
        }
    }
    r->status = 200;
    if (rt->handler(r) != 0 && !r->failed)
        http_fail(r, ERR_INTERNAL, "the request failed");
}

/* --- handler threads (event-thread mode) ----------------------------------- */

static void *handler_main(void *arg)
{
    http_server *s = arg;
    pthread_mutex_lock(&s->hmu);
    for (;;) {
        while (!s->hq_head && !s->hstop) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += HANDLER_IDLE_S;
            s->hidle++;
            int rc = pthread_cond_timedwait(&s->hcv, &s->hmu, &until);
            s->hidle--;
            if (rc == ETIMEDOUT && !s->hq_head)
                break;
        }
        http_req *r = s->hq_head;
        if (!r)
            break; /* idle too long, or stopping with nothing left */
        s->hq_head = r->next_queued;
        if (!s->hq_head)
            s->hq_tail = NULL;
        s->hqlen--;
        pthread_mutex_unlock(&s->hmu);
        if (!r->failed)
            body_end(r);
        if (!r->failed)
            run_handler(r);
        atomic_store(&r->handled, true);
        MHD_resume_connection(r->conn); /* on_request is called again: queue() */
        pthread_mutex_lock(&s->hmu);
        s->hbusy--;
        pthread_cond_broadcast(&s->hdone);
    }
    s->hthreads--;
    pthread_cond_broadcast(&s->hdone);
    pthread_mutex_unlock(&s->hmu);
    return NULL;
}

/* Suspends the request's connection and hands the request to a handler
 * thread; -1 (nothing suspended: the caller runs the handler itself) if the
 * server is stopping or no thread could be started. A thread is started
 * unless an idle one is left for every request in the queue: a request must
 * never wait behind another one's handler (a long poll holds its thread).
 * The suspension happens under hmu, before the request is queued, so no
 * handler thread can resume the connection before it is suspended. */
static int handler_submit(http_server *s, http_req *r)
{
    pthread_mutex_lock(&s->hmu);
    if (s->hclosed) { /* MHD must not stop with this connection suspended */
        pthread_mutex_unlock(&s->hmu);
        return -1;
    }
    if (s->hqlen >= s->hidle) {
        pthread_attr_t at;
        pthread_t t;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&at, 512 * 1024); /* as the connection threads */
        int rc = pthread_create(&t, &at, handler_main, s);
        pthread_attr_destroy(&at);
        if (rc != 0 && s->hthreads == 0) {
            pthread_mutex_unlock(&s->hmu);
            return -1;
        }
        if (rc == 0)
            s->hthreads++;
    }
    MHD_suspend_connection(r->conn);
    r->next_queued = NULL;
    if (s->hq_tail)
        s->hq_tail->next_queued = r;
    else
        s->hq_head = r;
    s->hq_tail = r;
    s->hqlen++;
    s->hbusy++;
    pthread_cond_signal(&s->hcv);
    pthread_mutex_unlock(&s->hmu);
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)version;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r)
        return MHD_NO;
    if (r->responded) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (atomic_load(&r->handled))
        return queue(r); /* resumed by the handler thread */
    if (!r->first_call_done) {
        r->first_call_done = true;
        r->conn = c;
        setup(s, r, method);
        if (r->failed && has_body(r))
            return queue(r); /* refuse without reading the body */
        return MHD_YES;
    }
    if (*upload_size) {
        /* After a failure the rest of the body is read and dropped: MHD
         * only accepts a response once the body is complete (or before it
         * starts, which setup() uses for refusals known up front). */
        if (!r->failed)
            body_piece(s, r, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (s->cfg.threads > 0 && !r->failed && r->route && !r->route->quick &&
        handler_submit(s, r) == 0)
        return MHD_YES;
    if (!r->failed)
        body_end(r);
    if (!r->failed)
        run_handler(r);
    return queue(r);
}

static int code_slot(int status)
{
    for (int i = 0; i < NCODES - 1; i++)
        if (metric_codes[i] == status)
            return i;
    return NCODES - 1;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    (void)toe;
    http_server *s = cls;
    http_req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    if (r->pp)
        MHD_destroy_post_processor(r->pp);
    free_form(r);
    if (r->cleanup)
        r->cleanup(r->cleanup_arg);
    int idx = r->route_index >= 0 ? r->route_index : s->nroutes; /* unmatched */
    route_metrics *m = route_shard(s, r->shard, idx);
    atomic_fetch_add(&m->by_code[code_slot(r->status ? r->status : 500)], 1);
    double secs = (double)(time_mono_ns() - r->start_ns) / 1e9;
    int b = 0;
    while (b < NBUCKETS - 1 && secs > latency_buckets[b])
        b++;
    atomic_fetch_add(&m->hist[b], 1);
    atomic_fetch_add(&m->sum_us, (uint64_t)(secs * 1e6));
    if (r->json)
        json_decref(r->json);
    if (r->resp_fd >= 0)
        close(r->resp_fd);
    if (r->resp_custom)
        MHD_destroy_response(r->resp_custom);
    sbuf_free(&r->out);
    atomic_fetch_sub(&s->active[r->shard].active, 1);
    arena_free(r->arena);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t l = strlen(msg);
    while (l && msg[l - 1] == '\n')
        msg[--l] = 0;
    log_warn("http: %s", msg);
}

/* --- server ------------------------------------------------------------ */

http_server *http_server_new(const http_config *cfg, void *app, http_auth_fn auth, err *e)
{
    http_server *s = calloc(1, sizeof *s);
    if (!s) {
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    if (!s->cfg.listen)
        s->cfg.listen = "127.0.0.1:8080";
    if (s->cfg.max_connections <= 0)
        s->cfg.max_connections = 1024;
    if (s->cfg.max_json_body <= 0)
        s->cfg.max_json_body = 16 << 20;
    if (s->cfg.max_upload <= 0)
        s->cfg.max_upload = 64LL << 30;
    if (s->cfg.idle_timeout_s <= 0)
        s->cfg.idle_timeout_s = 120;
    s->app = app;
    s->auth = auth;
    pthread_mutex_init(&s->hmu, NULL);
    pthread_cond_init(&s->hcv, NULL);
    pthread_cond_init(&s->hdone, NULL);
    return s;
}

int http_server_add_routes(http_server *s, const http_route *routes, err *e)
{
    for (const http_route *r = routes; r->pattern; r++) {
        if (s->nroutes == MAX_ROUTES)
            return err_set(e, ERR_INTERNAL, "too many routes");
        for (int i = 0; i < s->nroutes; i++)
            if (s->routes[i].route->method == r->method &&
                strcmp(s->routes[i].route->pattern, r->pattern) == 0)
                return err_set(e, ERR_INTERNAL, "route %s registered twice", r->pattern);
        if (compile_route(&s->routes[s->nroutes], r, e) != 0)
            return -1;
        s->nroutes++;
    }
    return 0;
}

int http_server_route_count(const http_server *s) { return s->nroutes; }
const http_route *http_server_route(const http_server *s, int i) { return s->routes[i].route; }

int http_server_start(http_server *s, err *e)
{
    const char *colon = strrchr(s->cfg.listen, ':');
    if (!colon || colon == s->cfg.listen || (size_t)(colon - s->cfg.listen) >= sizeof s->host)
        return err_set(e, ERR_INVALID, "--listen '%s' must be HOST:PORT, e.g. 127.0.0.1:8080",
                       s->cfg.listen);
    int64_t port;
    if (parse_i64("port", colon + 1, 0, 65535, &port, e) != 0)
        return -1;
    snprintf(s->host, sizeof s->host, "%.*s", (int)(colon - s->cfg.listen), s->cfg.listen);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    const char *h = s->host;
    if (h[0] == '[') {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*s", (int)strlen(h) - 2, h + 1);
        if (inet_pton(AF_INET6, tmp, &in6->sin6_addr) != 1)
            return err_set(e, ERR_INVALID, "--listen host '%s' is not an IPv6 address", h);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        if (strcmp(h, "localhost") == 0)
            h = "127.0.0.1";
        if (strcmp(h, "*") == 0)
            h = "0.0.0.0";
        if (inet_pton(AF_INET, h, &in4->sin_addr) != 1)
            return err_set(e, ERR_INVALID, "--listen host '%s' is not an IPv4 address", h);
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
    }
    s->metrics = calloc((size_t)METRIC_SHARDS * (size_t)(s->nroutes + 2), sizeof *s->metrics);
    if (!s->metrics)
        return err_set(e, ERR_INTERNAL, "out of memory");
    struct MHD_OptionItem ops[12];
    int k = 0;
    if (s->cfg.threads > 0) {
        flags |= MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
        ops[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, s->cfg.threads, NULL};
    } else {
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
        ops[k++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_STACK_SIZE, 512 * 1024, NULL};
    }
    ops[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                       (intptr_t)s->cfg.max_connections, NULL};
    ops[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                       (intptr_t)s->cfg.idle_timeout_s, NULL};
    /* Each connection's memory pool holds its request line and headers,
     * the response headers and the read buffer, and libmicrohttpd zeroes
     * all of it between two requests of a keep-alive connection. 16 KB
     * takes requests with up to about 14 KB of headers and URL (nginx
     * allows 8 KB by default; larger ones get 431 or 414) and made a small
     * authenticated GET cost 2-4 us less CPU than 32 KB with 64 connections
     * (bench/foundation.sh); a 512 MB upload took the same time. */
    ops[k++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, 16 * 1024, NULL};
    ops[k++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    ops[k++] = (struct MHD_OptionItem){MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL};
    ops[k++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
                            mhd_log, s, MHD_OPTION_ARRAY, ops, MHD_OPTION_URI_LOG_CALLBACK,
                            uri_log, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_END);
    if (!s->d)
        return err_set(e, ERR_UNAVAILABLE,
                       "cannot listen on %s (%s); is another server using the port?",
                       s->cfg.listen, strerror(errno));
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : (int)port;
    return 0;
}

int http_server_port(const http_server *s) { return s->port; }

void http_server_stop(http_server *s, int grace_ms)
{
    if (!s->d)
        return;
    atomic_store(&s->stopping, true);
    MHD_socket ls = MHD_quiesce_daemon(s->d);
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    int64_t deadline = time_mono_ns() + (int64_t)grace_ms * 1000000;
    while (in_flight(s) > 0 && time_mono_ns() < deadline) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    /* a suspended connection must be resumed before MHD stops: wait for
     * the handlers still running (as MHD waits for connection threads) */
    pthread_mutex_lock(&s->hmu);
    s->hclosed = true;
    while (s->hbusy > 0)
        pthread_cond_wait(&s->hdone, &s->hmu);
    pthread_mutex_unlock(&s->hmu);
    MHD_stop_daemon(s->d);
    s->d = NULL;
    pthread_mutex_lock(&s->hmu);
    s->hstop = true;
    pthread_cond_broadcast(&s->hcv);
    while (s->hthreads > 0)
        pthread_cond_wait(&s->hdone, &s->hmu);
    pthread_mutex_unlock(&s->hmu);
}

bool http_stopping(const http_req *r) { return atomic_load(&r->srv->stopping); }

void http_server_free(http_server *s)
{
    if (!s)
        return;
    if (s->d)
        http_server_stop(s, 0);
    for (int i = 0; i < s->nroutes; i++)
        for (int k = 0; k < s->routes[i].nseg; k++)
            free((char *)s->routes[i].seg[k]);
    free(s->metrics);
    pthread_mutex_destroy(&s->hmu);
    pthread_cond_destroy(&s->hcv);
    pthread_cond_destroy(&s->hdone);
    free(s);
}

void http_server_metrics(http_server *s, sbuf *out)
{
    static const char *mnames[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"};
    sbuf_puts(out, "# HELP cvops_http_requests_total HTTP requests by route and status.\n"
                   "# TYPE cvops_http_requests_total counter\n");
    for (int i = 0; i < s->nroutes + 2; i++) {
        const char *route = i < s->nroutes ? s->routes[i].route->pattern
                            : i == s->nroutes ? "unmatched" : "static";
        const char *meth = "any";
        if (i < s->nroutes)
            for (int b = 0; b < 6; b++)
                if ((int)s->routes[i].route->method == (1 << b))
                    meth = mnames[b];
        for (int c = 0; c < NCODES; c++) {
            uint64_t v = 0;
            for (int k = 0; k < METRIC_SHARDS; k++)
                v += atomic_load(&route_shard(s, k, i)->by_code[c]);
            if (!v)
                continue;
            char code[8];
            if (c < NCODES - 1)
                snprintf(code, sizeof code, "%d", metric_codes[c]);
            else
                snprintf(code, sizeof code, "other");
            sbuf_printf(out, "cvops_http_requests_total{method=\"%s\",route=\"%s\",status=\"%s\"} %llu\n",
                        meth, route, code, (unsigned long long)v);
        }
    }
    sbuf_puts(out, "# HELP cvops_http_request_duration_seconds Request latency by route.\n"
                   "# TYPE cvops_http_request_duration_seconds histogram\n");
    for (int i = 0; i < s->nroutes + 2; i++) {
        uint64_t total = 0, hist[NBUCKETS] = {0}, sum_us = 0;
        for (int k = 0; k < METRIC_SHARDS; k++) {
            const route_metrics *m = route_shard(s, k, i);
            for (int b = 0; b < NBUCKETS; b++)
                hist[b] += atomic_load(&m->hist[b]);
            sum_us += atomic_load(&m->sum_us);
        }
        for (int b = 0; b < NBUCKETS; b++)
            total += hist[b];
        if (!total)
            continue;
        const char *route = i < s->nroutes ? s->routes[i].route->pattern
                            : i == s->nroutes ? "unmatched" : "static";
        uint64_t cum = 0;
        for (int b = 0; b < NBUCKETS; b++) {
            cum += hist[b];
            if (b < NBUCKETS - 1)
                sbuf_printf(out, "cvops_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                            route, latency_buckets[b], (unsigned long long)cum);
            else
                sbuf_printf(out, "cvops_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                            route, (unsigned long long)cum);
        }
        sbuf_printf(out, "cvops_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", route,
                    (double)sum_us / 1e6);
        sbuf_printf(out, "cvops_http_request_duration_seconds_count{route=\"%s\"} %llu\n", route,
                    (unsigned long long)total);
    }
    sbuf_printf(out, "# HELP cvops_http_requests_in_flight Requests being processed.\n"
                     "# TYPE cvops_http_requests_in_flight gauge\ncvops_http_requests_in_flight %d\n",
                in_flight(s));
}
