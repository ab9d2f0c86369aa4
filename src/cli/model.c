/*
 * model.c - `cvops model ...`: the model registry from the command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client_cli.h"

/* A model given by name or id -> its id. */
static int model_id(cvops_client *cl, const char *ref, int64_t *id)
{
    char *end;
    long long v = strtoll(ref, &end, 10);
    if (*ref && !*end && v > 0) {
        *id = v;
        return EXIT_OK;
    }
    int rc;
    char *q = cli_escape(ref);
    char path[400];
    snprintf(path, sizeof path, "/api/v1/models?q=%s", q);
    free(q);
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (!j)
        return rc;
    json_t *items = json_object_get(j, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(items, i), "name")), ref) == 0) {
            *id = json_integer_value(json_object_get(json_array_get(items, i), "id"));
            json_decref(j);
            return EXIT_OK;
        }
    json_decref(j);
    fprintf(stderr, "error: no model named '%s'; see 'cvops model list'\n", ref);
    return EXIT_NOTFOUND;
}

static const cli_col model_cols[] = {{"id", "ID"}, {"name", "NAME"}, {"task_type", "TASK"},
                                     {"versions", "VERSIONS"}, {"latest_version", "LATEST"},
                                     {"aliases", "ALIASES"}};
static const cli_col version_cols[] = {{"id", "ID"}, {"model", "MODEL"}, {"version", "VERSION"},
                                       {"framework", "FRAMEWORK"}, {"status", "STATUS"},
                                       {"aliases", "ALIASES"}, {"source_experiment_id", "EXPERIMENT"},
                                       {"created_at", "CREATED"}};

static int run_json(int argc, char **argv, const char *usage, const char *desc, int want,
                    const char *method, int (*build)(cvops_client *, char **argv, char *path,
                                                     size_t n, json_t **body),
                    const cli_col *cols, int ncols, const char *list_key)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE(usage, desc)
    if (npos != want) {
        fprintf(stderr, "error: usage: %s\n", usage);
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[1024];
    json_t *body = NULL;
    int rc = build(cl, argv, path, sizeof path, &body);
    if (rc == EXIT_OK) {
        json_t *j = cli_call(cl, method, path, body, &rc);
        if (j) {
            if (c.json)
                cli_print_json(j);
            else if (list_key)
                cli_print_table(json_object_get(j, list_key), cols, ncols);
            else
                cli_print_object(j, cols, ncols);
        }
        json_decref(j);
    }
    json_decref(body);
    cvops_client_free(cl);
    return rc;
}

static int b_list(cvops_client *cl, char **argv, char *path, size_t n, json_t **body)
{
    (void)cl, (void)argv, (void)body;
    snprintf(path, n, "/api/v1/models");
    return EXIT_OK;
}
static int list(int argc, char **argv)
{
    return run_json(argc, argv, "cvops model list [--json]", "List the registry's models.", 0, "GET",
                    b_list, model_cols, 6, "items");
}

static int b_create(cvops_client *cl, char **argv, char *path, size_t n, json_t **body)
{
    (void)cl;
    snprintf(path, n, "/api/v1/models");
    *body = json_pack("{s:s}", "name", argv[1]);
    return EXIT_OK;
}
static int create(int argc, char **argv)
{
    return run_json(argc, argv, "cvops model create NAME", "Create an empty model.", 1, "POST",
                    b_create, model_cols, 6, NULL);
}

static int b_versions(cvops_client *cl, char **argv, char *path, size_t n, json_t **body)
{
    (void)body;
    int64_t id;
    int rc = model_id(cl, argv[1], &id);
    snprintf(path, n, "/api/v1/models/%lld/versions", (long long)id);
    return rc;
}
static int versions(int argc, char **argv)
{
    return run_json(argc, argv, "cvops model versions MODEL [--json]",
                    "A model's versions, newest first (MODEL: name or id).", 1, "GET", b_versions,
                    version_cols, 8, "items");
}

static int b_show(cvops_client *cl, char **argv, char *path, size_t n, json_t **body)
{
    (void)body;
    int64_t id;
    int rc = model_id(cl, argv[1], &id);
    char *ref = cli_escape(argv[2]);
    snprintf(path, n, "/api/v1/models/%lld/versions/%s", (long long)id, ref);
    free(ref);
    return rc;
}
static int show(int argc, char **argv)
{
    static const cli_col cols[] = {{"id", "id"}, {"model", "model"}, {"version", "version"},
                                   {"framework", "framework"}, {"status", "status"},
                                   {"labels", "labels"}, {"aliases", "aliases"}, {"files", "files"},
                                   {"lineage", "lineage"}, {"created_at", "created"}};
    return run_json(argc, argv, "cvops model show MODEL VERSION|ALIAS [--json]",
                    "One version: files, labels, lineage, aliases.", 2, "GET", b_show, cols, 10,
                    NULL);
}

static int b_alias(cvops_client *cl, char **argv, char *path, size_t n, json_t **body)
{
    int64_t id;
    int rc = model_id(cl, argv[1], &id);
    char *alias = cli_escape(argv[2]);
    snprintf(path, n, "/api/v1/models/%lld/aliases/%s", (long long)id, alias);
    free(alias);
    char *end;
    long long v = strtoll(argv[3], &end, 10);
    if (*end || v <= 0) {
        fprintf(stderr, "error: VERSION must be a version number\n");
        return EXIT_USAGE;
    }
    *body = json_pack("{s:I}", "version", (json_int_t)v);
    return rc;
}
static int alias(int argc, char **argv)
{
    return run_json(argc, argv, "cvops model alias MODEL ALIAS VERSION",
                    "Point an alias (champion, challenger, ...) at a version; the move is logged.",
                    3, "PUT", b_alias, model_cols, 6, NULL);
}

static int b_publish(cvops_client *cl, char **argv, char *path, size_t n, json_t **body)
{
    (void)cl;
    snprintf(path, n, "/api/v1/experiments/%s/publish", argv[1]);
    *body = json_pack("{s:s}", "model", argv[2]);
    return EXIT_OK;
}
static int publish(int argc, char **argv)
{
    return run_json(argc, argv, "cvops model publish EXPERIMENT_ID MODEL",
                    "Publish an experiment's artifacts as a new version of MODEL (created if new).",
                    2, "POST", b_publish, version_cols, 8, NULL);
}

static int download(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops model download MODEL VERSION|ALIAS FILE OUT",
          "Download one file of a version (FILE: its path in the version).")
    if (npos != 4) {
        fprintf(stderr, "error: usage: cvops model download MODEL VERSION|ALIAS FILE OUT\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t id;
    int rc = model_id(cl, argv[1], &id);
    if (rc == EXIT_OK) {
        char path[600];
        char *ref = cli_escape(argv[2]);
        snprintf(path, sizeof path, "/api/v1/models/%lld/versions/%s", (long long)id, ref);
        free(ref);
        json_t *v = cli_call(cl, "GET", path, NULL, &rc);
        if (v) {
            char *p = cli_escape(argv[3]);
            snprintf(path, sizeof path, "/api/v1/model-versions/%lld/file?path=%s",
                     (long long)json_integer_value(json_object_get(v, "id")), p);
            free(p);
            json_decref(v);
            FILE *out = fopen(argv[4], "wb");
            if (!out) {
                fprintf(stderr, "error: cannot write %s\n", argv[4]);
                rc = EXIT_FAIL;
            } else {
                cvops_code code = cvops_download(cl, path, out);
                fclose(out);
                if (code != CVOPS_OK) {
                    remove(argv[4]);
                    rc = cli_fail(cl, code);
                }
            }
        }
    }
    cvops_client_free(cl);
    return rc;
}

int cmd_model(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"list", list, "list models"},
        {"create", create, "create a model"},
        {"versions", versions, "a model's versions"},
        {"show", show, "one version (by number or alias)"},
        {"alias", alias, "point an alias at a version"},
        {"publish", publish, "publish an experiment as a new version"},
        {"download", download, "download a file of a version"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops model", argc, argv, sub);
}
