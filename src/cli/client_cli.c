/*
 * client_cli.c - shared plumbing of the client subcommands; see client_cli.h.
 */
#include "cli/client_cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

static char cfg_server[512], cfg_token[256];

static void config_path(char *out, size_t n, bool dir_only)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, n, "%s/cvops%s", xdg, dir_only ? "" : "/config");
    else
        snprintf(out, n, "%s/.config/cvops%s", home ? home : ".", dir_only ? "" : "/config");
}

static void config_load(void)
{
    char path[600];
    config_path(path, sizeof path, false);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[800];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = 0;
        char *k = line, *v = eq + 1;
        while (*k == ' ')
            k++;
        for (char *e = eq - 1; e >= k && *e == ' '; e--)
            *e = 0;
        while (*v == ' ')
            v++;
        if (strcmp(k, "server") == 0)
            snprintf(cfg_server, sizeof cfg_server, "%s", v);
        else if (strcmp(k, "token") == 0)
            snprintf(cfg_token, sizeof cfg_token, "%s", v);
    }
    fclose(f);
}

int cli_config_save(const char *server, const char *token)
{
    char dir[600], path[600], tmp[620];
    config_path(dir, sizeof dir, true);
    config_path(path, sizeof path, false);
    /* mkdir -p of the config directory, private */
    char parent[600];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = 0;
        mkdir(parent, 0700);
    }
    mkdir(dir, 0700);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "error: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# written by cvops login\nserver = %s\ntoken = %s\n", server, token);
    fclose(f);
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "error: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

cvops_client *cli_connect(cli_conn *c, bool need_token)
{
    config_load();
    const char *server = c->server;
    if (!server)
        server = getenv("CVOPS_SERVER");
    if (!server && cfg_server[0])
        server = cfg_server;
    if (!server)
        server = "http://127.0.0.1:8080";
    const char *token = c->token;
    if (!token)
        token = getenv("CVOPS_TOKEN");
    if (!token && cfg_token[0])
        token = cfg_token;
    if (need_token && !token) {
        fprintf(stderr, "error: no API token; run 'cvops login' or pass --token / set CVOPS_TOKEN\n");
        return NULL;
    }
    c->server = server;
    c->token = token;
    cvops_client *cl = cvops_client_new(server, token);
    if (!cl)
        fprintf(stderr, "error: out of memory\n");
    return cl;
}

int cli_exit_code(cvops_code code)
{
    switch (code) {
    case CVOPS_OK: return EXIT_OK;
    case CVOPS_E_AUTH:
    case CVOPS_E_FORBIDDEN: return EXIT_AUTH;
    case CVOPS_E_NOT_FOUND: return EXIT_NOTFOUND;
    case CVOPS_E_CONNECT: return EXIT_CONNECT;
    case CVOPS_E_INVALID: return EXIT_USAGE;
    default: return EXIT_FAIL;
    }
}

int cli_fail(cvops_client *cl, cvops_code code)
{
    const char *m = cvops_client_errmsg(cl);
    fprintf(stderr, "error: %s\n", m && *m ? m : cvops_strerror(code));
    return cli_exit_code(code);
}

json_t *cli_call(cvops_client *cl, const char *method, const char *path, json_t *body, int *rc)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    char *out = NULL;
    cvops_code code = cvops_call(cl, method, path, text, &out);
    free(text);
    if (code != CVOPS_OK) {
        *rc = cli_fail(cl, code);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loads(out ? out : "null", JSON_DECODE_ANY, &je);
    cvops_free(out);
    if (!j) {
        fprintf(stderr, "error: the server's answer is not JSON: %s\n", je.text);
        *rc = EXIT_FAIL;
        return NULL;
    }
    *rc = EXIT_OK;
    return j;
}

static json_t *lookup(json_t *obj, const char *key)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", key);
    json_t *v = obj;
    for (char *part = strtok(buf, "."); part && v; part = strtok(NULL, "."))
        v = json_object_get(v, part);
    return v;
}

static void cell(json_t *v, char *out, size_t n)
{
    if (!v || json_is_null(v))
        snprintf(out, n, "-");
    else if (json_is_string(v))
        snprintf(out, n, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, n, "%.3g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, n, "%s", json_is_true(v) ? "yes" : "no");
    else {
        char *d = json_dumps(v, JSON_COMPACT);
        snprintf(out, n, "%s", d ? d : "");
        free(d);
    }
    /* keep tables on one line per row */
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

void cli_print_table(json_t *items, const cli_col *cols, int ncols)
{
    size_t rows = json_array_size(items);
    int width[16] = {0};
    char buf[256];
    for (int c = 0; c < ncols && c < 16; c++)
        width[c] = (int)strlen(cols[c].header);
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < ncols && c < 16; c++) {
            cell(lookup(json_array_get(items, r), cols[c].key), buf, 60);
            int l = (int)strlen(buf);
            if (l > width[c])
                width[c] = l;
        }
    for (int c = 0; c < ncols; c++)
        printf("%-*s%s", width[c], cols[c].header, c + 1 < ncols ? "  " : "\n");
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < ncols; c++) {
            cell(lookup(json_array_get(items, r), cols[c].key), buf, 60);
            printf("%-*s%s", width[c], buf, c + 1 < ncols ? "  " : "\n");
        }
    if (rows == 0)
        printf("(none)\n");
}

void cli_print_object(json_t *obj, const cli_col *cols, int ncols)
{
    int w = 0;
    for (int c = 0; c < ncols; c++)
        if ((int)strlen(cols[c].header) > w)
            w = (int)strlen(cols[c].header);
    char buf[2048];
    for (int c = 0; c < ncols; c++) {
        cell(lookup(obj, cols[c].key), buf, sizeof buf);
        printf("%-*s  %s\n", w, cols[c].header, buf);
    }
}

void cli_print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    printf("%s\n", s ? s : "null");
    free(s);
}

static bool progress_shown;

void cli_progress(void *ctx, double fraction, const char *message)
{
    (void)ctx;
    if (!isatty(2))
        return;
    int width = 30, fill = (int)(fraction * width + 0.5);
    char bar[40];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %3.0f%% %-40.40s", bar, fraction * 100, message ? message : "");
    fflush(stderr);
    progress_shown = true;
}

void cli_progress_done(void)
{
    if (progress_shown)
        fprintf(stderr, "\n");
    progress_shown = false;
}

int cli_read_secret(const char *prompt, char *out, size_t n)
{
    bool tty = isatty(0);
    struct termios old, quiet;
    if (tty) {
        fprintf(stderr, "%s", prompt);
        tcgetattr(0, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(0, TCSANOW, &quiet);
    }
    char *got = fgets(out, (int)n, stdin);
    if (tty) {
        tcsetattr(0, TCSANOW, &old);
        fprintf(stderr, "\n");
    }
    if (!got)
        return -1;
    out[strcspn(out, "\r\n")] = 0;
    return 0;
}

char *cli_escape(const char *s)
{
    if (!s)
        return NULL;
    char *e = curl_easy_escape(NULL, s, 0);
    char *r = e ? strdup(e) : NULL;
    curl_free(e);
    return r;
}
