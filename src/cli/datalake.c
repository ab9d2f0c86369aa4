/*
 * datalake.c - `cvops datalake ...`: list, create, upload, search, count,
 * tag, stats, show.
 *
 * upload walks files and directories, hashes every file first, asks the
 * server in batches which contents it already has (so an interrupted upload
 * re-run only sends the rest), then uploads the others in parallel over
 * keep-alive connections with a progress bar, and ends with a summary that
 * lists every rejected file with the server's reason.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "cli/client_cli.h"

/* Finds the datalake named name (creating "default" on first use). */
static int lake_id(cvops_client *cl, const char *name, bool create_default, int64_t *id)
{
    int rc;
    json_t *j = cli_call(cl, "GET", "/api/v1/datalakes", NULL, &rc);
    if (!j)
        return rc;
    json_t *items = json_object_get(j, "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        if (strcmp(json_string_value(json_object_get(it, "name")), name) == 0) {
            *id = json_integer_value(json_object_get(it, "id"));
            json_decref(j);
            return EXIT_OK;
        }
    }
    json_decref(j);
    if (!(create_default && strcmp(name, "default") == 0)) {
        fprintf(stderr, "error: no datalake named '%s'; see 'cvops datalake list' or create it with "
                        "'cvops datalake create %s'\n",
                name, name);
        return EXIT_NOTFOUND;
    }
    json_t *body = json_pack("{s:s}", "name", name);
    j = cli_call(cl, "POST", "/api/v1/datalakes", body, &rc);
    json_decref(body);
    if (!j)
        return rc;
    *id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return EXIT_OK;
}

static const cli_col lake_cols[] = {{"id", "ID"}, {"name", "NAME"}, {"count", "IMAGES"},
                                    {"bytes", "BYTES"}, {"description", "DESCRIPTION"}};

static int list(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops datalake list [--json]", "List the organization's datalakes.")
    (void)npos;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int rc;
    json_t *j = cli_call(cl, "GET", "/api/v1/datalakes", NULL, &rc);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            cli_print_table(json_object_get(j, "items"), lake_cols, 5);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int create(int argc, char **argv)
{
    cli_conn c = {0};
    const char *desc = NULL;
    const cli_opt opts[] = {CLI_CONN_OPTS(c),
                            {"description", 0, OPT_STR, &desc, "TEXT", "what it holds"},
                            {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops datalake create NAME [--description TEXT]", "Create a datalake.")
    if (npos != 1) {
        fprintf(stderr, "error: give the datalake's name\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    json_t *body = json_pack("{s:s}", "name", argv[1]);
    if (desc)
        json_object_set_new(body, "description", json_string(desc));
    int rc;
    json_t *j = cli_call(cl, "POST", "/api/v1/datalakes", body, &rc);
    json_decref(body);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            cli_print_object(j, lake_cols, 5);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

/* --- upload ------------------------------------------------------------------- */

typedef struct up_file {
    char *path;
    int64_t size;
    char sha[65];
    enum { F_PENDING, F_PRESENT, F_UPLOADED, F_DUPLICATE, F_REJECTED, F_FAILED } state;
    char *reason;
} up_file;

typedef struct {
    up_file *f;
    size_t n, cap;
    int64_t bytes;
} file_list;

static void add_file(file_list *l, const char *path, int64_t size)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->f = realloc(l->f, l->cap * sizeof *l->f);
    }
    l->f[l->n++] = (up_file){.path = strdup(path), .size = size};
    l->bytes += size;
}

static int walk(file_list *l, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "error: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode)) {
        add_file(l, path, st.st_size);
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return 0;
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "error: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.' && rc == 0) {
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, ents[i]->d_name);
            rc = walk(l, sub);
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

static int hash_file(const char *path, char out[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    sha256_ctx *s = sha256_new();
    char buf[1 << 16];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        sha256_update(s, buf, (size_t)r);
    close(fd);
    unsigned char d[32];
    sha256_final(s, d);
    hex_encode(d, 32, out);
    return r < 0 ? -1 : 0;
}

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct {
    file_list *files;
    _Atomic size_t next;
    _Atomic size_t done;
    _Atomic int64_t done_bytes;
    const char *server, *token;
    char query[4096]; /* tags, source, meta as query arguments */
    int64_t lake;
    pthread_mutex_t mu;
} up_ctx;

static void *hash_worker(void *p)
{
    up_ctx *u = p;
    for (;;) {
        size_t i = atomic_fetch_add(&u->next, 1);
        if (i >= u->files->n || interrupted)
            break;
        up_file *f = &u->files->f[i];
        if (hash_file(f->path, f->sha) != 0) {
            f->state = F_FAILED;
            f->reason = strdup(strerror(errno));
        }
        atomic_fetch_add(&u->done, 1);
    }
    return NULL;
}

static void *upload_worker(void *p)
{
    up_ctx *u = p;
    cvops_client *cl = cvops_client_new(u->server, u->token);
    for (;;) {
        if (interrupted)
            break;
        size_t i = atomic_fetch_add(&u->next, 1);
        if (i >= u->files->n)
            break;
        up_file *f = &u->files->f[i];
        if (f->state != F_PENDING)
            continue;
        const char *base = strrchr(f->path, '/');
        base = base ? base + 1 : f->path;
        char *ename = cli_escape(base);
        char path[8192];
        snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data?filename=%s%s", (long long)u->lake,
                 ename, u->query);
        free(ename);
        char *out = NULL;
        cvops_code code = cvops_upload_file(cl, "POST", path, f->path, "application/octet-stream", &out);
        if (code == CVOPS_OK) {
            json_t *j = json_loads(out, 0, NULL);
            f->state = json_is_true(json_object_get(j, "duplicate")) ? F_DUPLICATE : F_UPLOADED;
            json_decref(j);
        } else if (code == CVOPS_E_CONNECT || code == CVOPS_E_SERVER || code == CVOPS_E_AUTH ||
                   code == CVOPS_E_FORBIDDEN || code == CVOPS_E_NOT_FOUND) {
            f->state = F_FAILED;
            f->reason = strdup(cvops_client_errmsg(cl));
        } else {
            f->state = F_REJECTED;
            f->reason = strdup(cvops_client_errmsg(cl));
        }
        cvops_free(out);
        atomic_fetch_add(&u->done, 1);
        atomic_fetch_add(&u->done_bytes, f->size);
    }
    cvops_client_free(cl);
    return NULL;
}

static double now_s(void) { return (double)time_mono_ns() / 1e9; }

static void progress_line(const char *what, size_t done, size_t total, int64_t bytes, double t0)
{
    if (!isatty(2))
        return;
    double el = now_s() - t0;
    double rate = el > 0 ? (double)done / el : 0;
    double mbs = el > 0 ? (double)bytes / el / 1e6 : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    int width = 24, fill = total ? (int)((double)done / (double)total * width) : width;
    char bar[32];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r%-9s [%s] %zu/%zu  %.0f files/s  %.1f MB/s  ETA %.0fs   ", what, bar, done,
            total, rate, mbs, eta);
}

static void run_pool(up_ctx *u, int jobs, void *(*fn)(void *), const char *what, bool bytes)
{
    pthread_t th[64];
    atomic_store(&u->next, 0);
    atomic_store(&u->done, 0);
    atomic_store(&u->done_bytes, 0);
    for (int i = 0; i < jobs; i++)
        pthread_create(&th[i], NULL, fn, u);
    double t0 = now_s();
    while (atomic_load(&u->done) < u->files->n && !interrupted) {
        progress_line(what, atomic_load(&u->done), u->files->n,
                      bytes ? atomic_load(&u->done_bytes) : 0, t0);
        struct timespec ts = {0, 200000000};
        nanosleep(&ts, NULL);
        /* all threads may have ended (nothing pending) */
        if (atomic_load(&u->next) >= u->files->n + (size_t)jobs)
            break;
    }
    for (int i = 0; i < jobs; i++)
        pthread_join(th[i], NULL);
    progress_line(what, atomic_load(&u->done), u->files->n,
                  bytes ? atomic_load(&u->done_bytes) : 0, t0);
    if (isatty(2))
        fprintf(stderr, "\n");
}

static int upload(int argc, char **argv)
{
    cli_conn c = {0};
    const char *lake_name = "default", *source = NULL;
    cli_list tags = {0}, meta = {0};
    int64_t jobs = 4;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"datalake", 'd', OPT_STR, &lake_name, "NAME", "datalake to upload into (default)"},
        {"tag", 't', OPT_LIST, &tags, "TAG", "tag every image (repeatable)"},
        {"source", 's', OPT_STR, &source, "SOURCE", "where the images come from"},
        {"metadata", 'm', OPT_LIST, &meta, "KEY=VALUE", "custom metadata on every image (repeatable)"},
        {"jobs", 'j', OPT_INT, &jobs, "N", "parallel uploads (4)"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops datalake upload PATH... [--datalake NAME] [--tag T]... [--source S]\n"
          "                             [--metadata K=V]... [--jobs N] [--json]",
          "Upload image files and folders (walked recursively). Contents the datalake already\n"
          "has are skipped, so an interrupted upload can be run again to finish. Ends with a\n"
          "summary; exit status 1 if any file was rejected or failed.")
    if (npos < 1) {
        fprintf(stderr, "error: give files or folders to upload\n");
        return EXIT_USAGE;
    }
    if (jobs < 1 || jobs > 64) {
        fprintf(stderr, "error: --jobs must be between 1 and 64\n");
        return EXIT_USAGE;
    }
    /* query arguments shared by every upload */
    up_ctx u = {0};
    size_t ql = 0;
    for (int i = 0; i < tags.n; i++) {
        char *t = cli_escape(tags.items[i]);
        ql += (size_t)snprintf(u.query + ql, sizeof u.query - ql, "&tag=%s", t);
        free(t);
    }
    if (source) {
        char *s = cli_escape(source);
        ql += (size_t)snprintf(u.query + ql, sizeof u.query - ql, "&source=%s", s);
        free(s);
    }
    if (meta.n) {
        json_t *m = json_object();
        for (int i = 0; i < meta.n; i++) {
            const char *eq = strchr(meta.items[i], '=');
            if (!eq || eq == meta.items[i]) {
                fprintf(stderr, "error: --metadata '%s' must be KEY=VALUE\n", meta.items[i]);
                json_decref(m);
                return EXIT_USAGE;
            }
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)(eq - meta.items[i]), meta.items[i]);
            json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
            if (!v || json_is_object(v) || json_is_array(v)) {
                json_decref(v);
                v = json_string(eq + 1); /* numbers and booleans stay typed, the rest is text */
            }
            json_object_set_new(m, key, v);
        }
        char *mt = json_dumps(m, JSON_COMPACT);
        char *e = cli_escape(mt);
        ql += (size_t)snprintf(u.query + ql, sizeof u.query - ql, "&meta=%s", e);
        free(e);
        free(mt);
        json_decref(m);
    }
    if (ql >= sizeof u.query - 1) {
        fprintf(stderr, "error: too many tags or metadata\n");
        return EXIT_USAGE;
    }
    file_list files = {0};
    for (int i = 1; i <= npos; i++)
        if (walk(&files, argv[i]) != 0)
            return EXIT_USAGE;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int rc = lake_id(cl, lake_name, true, &u.lake);
    if (rc != EXIT_OK) {
        cvops_client_free(cl);
        return rc;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    u.files = &files;
    u.server = c.server;
    u.token = c.token;
    double t0 = now_s();
    run_pool(&u, (int)(jobs < 4 ? jobs : 4), hash_worker, "hashing", false);
    /* ask which contents are there already, 1000 at a time */
    size_t present = 0;
    for (size_t i = 0; i < files.n && !interrupted; i += 1000) {
        json_t *shas = json_array();
        for (size_t k = i; k < files.n && k < i + 1000; k++)
            if (files.f[k].state == F_PENDING)
                json_array_append_new(shas, json_string(files.f[k].sha));
        json_t *body = json_pack("{s:o}", "sha256", shas);
        char path[128];
        snprintf(path, sizeof path, "/api/v1/datalakes/%lld/data/lookup", (long long)u.lake);
        json_t *j = cli_call(cl, "POST", path, body, &rc);
        json_decref(body);
        if (!j) {
            cvops_client_free(cl);
            return rc;
        }
        json_t *found = json_object_get(j, "found");
        json_t *ids = json_array();
        for (size_t k = i; k < files.n && k < i + 1000; k++) {
            json_t *id = json_object_get(found, files.f[k].sha);
            if (id && files.f[k].state == F_PENDING) {
                files.f[k].state = F_PRESENT;
                present++;
                json_array_append(ids, id);
            }
        }
        json_decref(j);
        if (tags.n && json_array_size(ids)) { /* the new tags still apply */
            json_t *add = json_array();
            for (int t = 0; t < tags.n; t++)
                json_array_append_new(add, json_string(tags.items[t]));
            json_t *tb = json_pack("{s:o, s:o}", "add", add, "ids", json_incref(ids));
            snprintf(path, sizeof path, "/api/v1/datalakes/%lld/tags", (long long)u.lake);
            json_t *tj = cli_call(cl, "POST", path, tb, &rc);
            json_decref(tb);
            json_decref(tj);
        }
        json_decref(ids);
    }
    cvops_client_free(cl);
    run_pool(&u, (int)jobs, upload_worker, "uploading", true);
    double el = now_s() - t0;
    size_t n_up = 0, n_dup = 0, n_rej = 0, n_fail = 0, n_left = 0;
    for (size_t i = 0; i < files.n; i++) {
        switch (files.f[i].state) {
        case F_UPLOADED: n_up++; break;
        case F_DUPLICATE: n_dup++; break;
        case F_REJECTED: n_rej++; break;
        case F_FAILED: n_fail++; break;
        case F_PENDING: n_left++; break;
        default: break;
        }
    }
    if (c.json) {
        json_t *rej = json_array();
        for (size_t i = 0; i < files.n; i++)
            if (files.f[i].state == F_REJECTED || files.f[i].state == F_FAILED)
                json_array_append_new(rej, json_pack("{s:s, s:s}", "path", files.f[i].path,
                                                     "reason", files.f[i].reason ? files.f[i].reason : ""));
        json_t *sum = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:o}", "files", (json_int_t)files.n,
                                "uploaded", (json_int_t)n_up, "duplicates", (json_int_t)(n_dup + present),
                                "rejected", (json_int_t)n_rej, "failed", (json_int_t)n_fail,
                                "not_sent", (json_int_t)n_left, "seconds", el, "problems", rej);
        cli_print_json(sum);
        json_decref(sum);
    } else {
        printf("%zu files in %.1f s: %zu uploaded, %zu already there, %zu duplicates, %zu rejected, "
               "%zu failed%s\n",
               files.n, el, n_up, present, n_dup, n_rej, n_fail,
               n_left ? " (interrupted: run again to finish)" : "");
        for (size_t i = 0; i < files.n; i++)
            if (files.f[i].state == F_REJECTED || files.f[i].state == F_FAILED)
                printf("  %s %s: %s\n", files.f[i].state == F_REJECTED ? "rejected" : "failed",
                       files.f[i].path, files.f[i].reason ? files.f[i].reason : "");
    }
    for (size_t i = 0; i < files.n; i++) {
        free(files.f[i].path);
        free(files.f[i].reason);
    }
    free(files.f);
    cli_list_free(&tags);
    cli_list_free(&meta);
    if (interrupted)
        return EXIT_INTERRUPTED;
    return n_rej || n_fail ? EXIT_FAIL : EXIT_OK;
}

/* --- search, count, tag, stats, show --------------------------------------------------- */

static char *lake_path(cvops_client *cl, const char *name, const char *suffix, int *rc)
{
    int64_t id;
    *rc = lake_id(cl, name, false, &id);
    if (*rc != EXIT_OK)
        return NULL;
    char *p = malloc(strlen(suffix) + 64);
    sprintf(p, "/api/v1/datalakes/%lld%s", (long long)id, suffix);
    return p;
}

static const cli_col item_cols[] = {{"id", "ID"},       {"filename", "FILENAME"},
                                    {"format", "FORMAT"}, {"width", "WIDTH"},
                                    {"height", "HEIGHT"}, {"size", "BYTES"},
                                    {"tags", "TAGS"},     {"created_at", "CREATED"}};

static int search(int argc, char **argv)
{
    cli_conn c = {0};
    const char *lake_name = "default", *order = NULL;
    int64_t limit = 50;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"datalake", 'd', OPT_STR, &lake_name, "NAME", "datalake (default)"},
        {"order-by", 'o', OPT_STR, &order, "FIELD", "created, filename, size, width, height; - for descending"},
        {"limit", 'n', OPT_INT, &limit, "N", "how many (50)"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops datalake search [QUERY] [--datalake NAME] [--order-by F] [--limit N] [--json]",
          "List images matching a query (see docs/query.md), e.g.\n"
          "  cvops datalake search 'width >= 1024 and tag = \"night\"'")
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int rc;
    char *base = lake_path(cl, lake_name, "/data", &rc);
    if (!base) {
        cvops_client_free(cl);
        return rc;
    }
    char *q = cli_escape(npos >= 1 ? argv[1] : "");
    char *o = cli_escape(order ? order : "");
    char path[8192];
    snprintf(path, sizeof path, "%s?limit=%lld&q=%s%s%s", base, (long long)limit, q,
             order ? "&order_by=" : "", order ? o : "");
    free(q);
    free(o);
    free(base);
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            cli_print_table(json_object_get(j, "items"), item_cols, 8);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int count(int argc, char **argv)
{
    cli_conn c = {0};
    const char *lake_name = "default";
    const cli_opt opts[] = {CLI_CONN_OPTS(c),
                            {"datalake", 'd', OPT_STR, &lake_name, "NAME", "datalake (default)"},
                            {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops datalake count [QUERY] [--datalake NAME]", "Count images matching a query.")
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int rc;
    char *base = lake_path(cl, lake_name, "/data/count", &rc);
    if (!base) {
        cvops_client_free(cl);
        return rc;
    }
    char *q = cli_escape(npos >= 1 ? argv[1] : "");
    char path[8192];
    snprintf(path, sizeof path, "%s?q=%s", base, q);
    free(q);
    free(base);
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            printf("%lld\n", (long long)json_integer_value(json_object_get(j, "count")));
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int tag(int argc, char **argv)
{
    cli_conn c = {0};
    const char *lake_name = "default";
    cli_list add = {0}, rm = {0};
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"datalake", 'd', OPT_STR, &lake_name, "NAME", "datalake (default)"},
        {"add", 'a', OPT_LIST, &add, "TAG", "tag to add (repeatable)"},
        {"remove", 'r', OPT_LIST, &rm, "TAG", "tag to remove (repeatable)"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops datalake tag QUERY [--add T]... [--remove T]...",
          "Add or remove tags on every image matching QUERY (\"\" for all).")
    if (npos != 1 || (add.n + rm.n) == 0) {
        fprintf(stderr, "error: give one query and at least one --add or --remove\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int rc;
    char *path = lake_path(cl, lake_name, "/tags", &rc);
    if (path) {
        json_t *a = json_array(), *r = json_array();
        for (int i = 0; i < add.n; i++)
            json_array_append_new(a, json_string(add.items[i]));
        for (int i = 0; i < rm.n; i++)
            json_array_append_new(r, json_string(rm.items[i]));
        json_t *body = json_pack("{s:o, s:o, s:s}", "add", a, "remove", r, "q", argv[1]);
        json_t *j = cli_call(cl, "POST", path, body, &rc);
        json_decref(body);
        if (j && c.json)
            cli_print_json(j);
        else if (j)
            printf("%lld tag changes\n", (long long)json_integer_value(json_object_get(j, "changed")));
        json_decref(j);
        free(path);
    }
    cli_list_free(&add);
    cli_list_free(&rm);
    cvops_client_free(cl);
    return rc;
}

static int stats(int argc, char **argv)
{
    cli_conn c = {0};
    const char *lake_name = "default";
    const cli_opt opts[] = {CLI_CONN_OPTS(c),
                            {"datalake", 'd', OPT_STR, &lake_name, "NAME", "datalake (default)"},
                            {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops datalake stats [--datalake NAME] [--json]",
          "Count, bytes, and breakdowns by format, source, tag and size.")
    (void)npos;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int rc;
    char *path = lake_path(cl, lake_name, "/stats", &rc);
    json_t *j = path ? cli_call(cl, "GET", path, NULL, &rc) : NULL;
    free(path);
    if (j) {
        if (c.json) {
            cli_print_json(j);
        } else {
            printf("images  %lld\nbytes   %lld\n", (long long)json_integer_value(json_object_get(j, "count")),
                   (long long)json_integer_value(json_object_get(j, "bytes")));
            const char *sections[] = {"by_format", "by_source", "by_tag", "by_longest_side"};
            const cli_col cols[] = {{"name", "NAME"}, {"count", "COUNT"}};
            for (int i = 0; i < 4; i++) {
                printf("\n%s\n", sections[i]);
                cli_print_table(json_object_get(j, sections[i]), cols, 2);
            }
        }
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int show(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops datalake show ID [--json]", "Show one image's details.")
    if (npos != 1) {
        fprintf(stderr, "error: give one image id\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/data/%s", argv[1]);
    int rc;
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (j) {
        if (c.json) {
            cli_print_json(j);
        } else {
            const cli_col cols[] = {{"id", "id"}, {"filename", "filename"}, {"sha256", "sha256"},
                                    {"format", "format"}, {"width", "width"}, {"height", "height"},
                                    {"size", "bytes"}, {"source", "source"}, {"tags", "tags"},
                                    {"meta", "metadata"}, {"camera.make", "camera make"},
                                    {"camera.model", "camera model"}, {"camera.taken_at", "taken"},
                                    {"created_at", "uploaded"}};
            cli_print_object(j, cols, 14);
        }
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

int cmd_datalake(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"list", list, "list datalakes"},
        {"create", create, "create a datalake"},
        {"upload", upload, "upload image files and folders"},
        {"search", search, "list images matching a query"},
        {"count", count, "count images matching a query"},
        {"tag", tag, "add/remove tags on images matching a query"},
        {"stats", stats, "counts and breakdowns"},
        {"show", show, "one image's details"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops datalake", argc, argv, sub);
}
