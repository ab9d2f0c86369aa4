/*
 * api.c - see api.h.
 */
#include "api.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
    sbuf_put(u, p, sz * n);
    return sz * n;
}

api_resp *api_do(const char *method, const char *path, const api_opts *o)
{
    static const api_opts none = {0};
    if (!o)
        o = &none;
    const char *base = o->base ? o->base : getenv("CVOPS_TEST_URL");
    cr_assert_not_null(base, "CVOPS_TEST_URL is not set; run through tests/run-api");
    api_resp *r = calloc(1, sizeof *r);
    CURL *h = curl_easy_init();
    size_t un = strlen(base) + strlen(path) + 1;
    char *url = malloc(un); /* any length: tests send oversize URLs on purpose */
    snprintf(url, un, "%s%s", base, path);
    struct curl_slist *hdr = NULL;
    char line[512];
    if (o->token) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", o->token);
        hdr = curl_slist_append(hdr, line);
    }
    if (o->cookie) {
        snprintf(line, sizeof line, "Cookie: %s", o->cookie);
        hdr = curl_slist_append(hdr, line);
    }
    if (o->csrf) {
        snprintf(line, sizeof line, "X-CSRF-Token: %s", o->csrf);
        hdr = curl_slist_append(hdr, line);
    }
    if (o->body) {
        snprintf(line, sizeof line, "Content-Type: %s",
                 o->content_type ? o->content_type : "application/json");
        hdr = curl_slist_append(hdr, line);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, o->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(o->body_len ? o->body_len : strlen(o->body)));
    }
    for (const char *const *x = o->headers; x && *x; x++)
        hdr = curl_slist_append(hdr, *x);
    hdr = curl_slist_append(hdr, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    if (o->path_as_is)
        curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    CURLcode cc = curl_easy_perform(h);
    cr_assert_eq(cc, CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(cc));
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    free(url);
    if (r->body.len)
        r->json = json_loadb(r->body.p, r->body.len, 0, NULL);
    return r;
}

api_resp *api_tok(const char *token, const char *method, const char *path, const char *body)
{
    api_opts o = {.token = token, .body = body};
    return api_do(method, path, &o);
}

api_resp *api_admin(const char *method, const char *path, const char *body)
{
    return api_tok(api_admin_token(), method, path, body);
}

void api_free(api_resp *r)
{
    if (!r)
        return;
    sbuf_free(&r->body);
    sbuf_free(&r->headers);
    json_decref(r->json);
    free(r);
}

const char *api_error_code(const api_resp *r)
{
    const char *c = json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
    return c ? c : "";
}

const char *api_error_message(const api_resp *r)
{
    const char *c =
        json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
    return c ? c : "";
}

char *api_header(const api_resp *r, const char *name)
{
    size_t n = strlen(name);
    const char *p = r->headers.p;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - p) > n + 1 && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            return strndup(v, (size_t)(eol - v));
        }
        p = eol + 2;
    }
    return NULL;
}

const char *api_admin_token(void)
{
    const char *t = getenv("CVOPS_TEST_TOKEN");
    cr_assert_not_null(t, "CVOPS_TEST_TOKEN is not set; run through tests/run-api");
    return t;
}

char *api_unique(const char *prefix)
{
    static char buf[8][80];
    static int k;
    char tok[20];
    rand_token(tok, sizeof tok, 8);
    char *b = buf[k++ % 8];
    snprintf(b, 80, "%s%s", prefix, tok);
    return b;
}

char *api_user(const char *role, int64_t *user_id)
{
    char name[80], body[400];
    snprintf(name, sizeof name, "%s", api_unique("u"));
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"password-%s\",\"role\":\"%s\"}",
             name, name, role);
    api_resp *r = api_admin("POST", "/api/v1/users", body);
    cr_assert_eq(r->status, 201, "create user: %s", r->body.p);
    if (user_id)
        *user_id = json_integer_value(json_object_get(r->json, "id"));
    api_free(r);
    snprintf(body, sizeof body,
             "{\"username\":\"%s\",\"password\":\"password-%s\",\"token_name\":\"test\"}", name,
             name);
    api_opts o = {.body = body};
    r = api_do("POST", "/api/v1/auth/login", &o);
    cr_assert_eq(r->status, 200, "login: %s", r->body.p);
    char *tok = strdup(json_string_value(json_object_get(r->json, "token")));
    api_free(r);
    return tok;
}

json_t *api_wait_job(const char *token, int64_t id, double timeout_s)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld", (long long)id);
    int64_t deadline = time_mono_ns() + (int64_t)(timeout_s * 1e9);
    for (;;) {
        api_resp *r = api_tok(token, "GET", path, NULL);
        cr_assert_eq(r->status, 200, "%s", r->body.p);
        const char *st = json_string_value(json_object_get(r->json, "state"));
        if (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0 ||
            strcmp(st, "canceled") == 0) {
            json_t *j = json_incref(r->json);
            api_free(r);
            return j;
        }
        api_free(r);
        cr_assert_lt(time_mono_ns(), deadline, "job %lld did not finish in %.0f s (state %s)",
                     (long long)id, timeout_s, st);
        usleep(50000);
    }
}

bool api_wait_running(const char *base, const char *token, int64_t id, double timeout_s)
{
    char path[64];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld", (long long)id);
    int64_t deadline = time_mono_ns() + (int64_t)(timeout_s * 1e9);
    while (time_mono_ns() < deadline) {
        api_opts o = {.base = base, .token = token};
        api_resp *r = api_do("GET", path, &o);
        const char *st = json_string_value(json_object_get(r->json, "state"));
        bool running = st && strcmp(st, "running") == 0;
        api_free(r);
        if (running)
            return true;
        usleep(20000);
    }
    return false;
}

pid_t api_private_server(const char *token, const char *const *extra, char *url_out,
                         size_t url_n)
{
    char db[300], blobs[300], dir[200];
    api_fresh_store(db, sizeof db, blobs, sizeof blobs, dir, sizeof dir);
    return api_start_server(db, blobs, dir, token, extra, url_out, url_n);
}

/* Processes this test started: a failed assertion ends the test before
 * its own kill(), and they would outlive it (servers listening forever). */
#define MAX_SPAWNED 64
static pid_t spawned[MAX_SPAWNED];
static int nspawned;

static void kill_leftovers(void)
{
    for (int i = 0; i < nspawned; i++) {
        int st;
        if (waitpid(spawned[i], &st, WNOHANG) == 0) { /* still our running child */
            kill(spawned[i], SIGKILL);
            waitpid(spawned[i], &st, 0);
        }
    }
}

pid_t api_spawn(const char *log_path, const char *const *args)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid > 0) {
        if (nspawned == 0)
            atexit(kill_leftovers);
        if (nspawned < MAX_SPAWNED)
            spawned[nspawned++] = pid;
    }
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        int n = 0;
        while (args[n])
            n++;
        char **argv = calloc((size_t)n + 2, sizeof *argv);
        argv[0] = (char *)getenv("CVOPS_TEST_BIN");
        for (int i = 0; i < n; i++)
            argv[i + 1] = (char *)args[i];
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

bool api_is_pg(void)
{
    const char *m = getenv("CVOPS_TEST_MODE");
    return m && strcmp(m, "pg") == 0;
}

void api_fresh_store(char *db_url, size_t db_n, char *blob_url, size_t blob_n, char *dir,
                     size_t dir_n)
{
    snprintf(dir, dir_n, "/tmp/cvops-apiprivate.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    chmod(dir, 0755);
    if (!api_is_pg()) {
        snprintf(db_url, db_n, "sqlite:%s/cvops.db", dir);
        snprintf(blob_url, blob_n, "file:%s/blobs", dir);
        return;
    }
    const char *admin = getenv("CVOPS_TEST_PG_ADMIN_URL");
    cr_assert_not_null(admin);
    char name[40], sql[80];
    snprintf(name, sizeof name, "%s", api_unique("db_"));
    PGconn *pc = PQconnectdb(admin);
    cr_assert_eq(PQstatus(pc), CONNECTION_OK, "%s", PQerrorMessage(pc));
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGresult *res = PQexec(pc, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(pc));
    PQclear(res);
    PQfinish(pc);
    /* same server, other database */
    const char *slash = strrchr(admin, '/');
    snprintf(db_url, db_n, "%.*s/%s", (int)(slash - admin), admin, name);
    snprintf(blob_url, blob_n, "%s&prefix=%s/", getenv("CVOPS_TEST_S3_URL"), name);
}

pid_t api_start_server(const char *db_url, const char *blob_url, const char *dir,
                       const char *token, const char *const *extra, char *url_out, size_t url_n)
{
    char port_file[300], log[300];
    snprintf(port_file, sizeof port_file, "%s/port", dir);
    snprintf(log, sizeof log, "%s/server.log", dir);
    unlink(port_file);
    const char *args[40] = {"serve", "--data", dir, "--db", db_url, "--blobs", blob_url,
                            "--listen", "127.0.0.1:0", "--port-file", port_file, "--poll-ms", "100"};
    int n = 13;
    for (const char *const *x = extra; x && *x && n < 38; x++)
        args[n++] = *x;
    args[n] = NULL;
    setenv("CVOPS_BOOTSTRAP_TOKEN", token, 1);
    pid_t pid = api_spawn(log, args);
    unsetenv("CVOPS_BOOTSTRAP_TOKEN");
    for (int i = 0; i < 400; i++) {
        FILE *f = fopen(port_file, "r");
        int port = 0;
        if (f) {
            if (fscanf(f, "%d", &port) != 1)
                port = 0;
            fclose(f);
        }
        if (port) {
            snprintf(url_out, url_n, "http://127.0.0.1:%d", port);
            return pid;
        }
        usleep(25000);
    }
    kill(pid, SIGKILL);
    cr_assert_fail("private server did not start; see %s", log);
    return -1;
}

char *curl_escape_q(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *r = strdup(e);
    curl_free(e);
    return r;
}
