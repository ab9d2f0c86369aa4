/*
 * processing.c - `cvops processing list|show|create|run|runs|outputs|delete`.
 *
 *   cvops processing run augment --on dataset-version:12 --param copies=3 --wait
 *   cvops processing create manifest.json --file run.py
 *
 * Parameters given as --param k=v are sent as text; the server converts
 * them to the types the processing declares (and says which one is wrong).
 * `create` uploads the files given with --file and lists them in the
 * manifest's "files" (executable when the local file is), so the command
 * finds them in its working directory on whatever worker runs it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/client_cli.h"

static const cli_col proc_cols[] = {{"name", "NAME"},
                                    {"version", "VERSION"},
                                    {"kind", "KIND"},
                                    {"target", "TARGET"},
                                    {"description", "DESCRIPTION"}};
static const cli_col run_cols[] = {{"id", "RUN"},           {"processing.name", "PROCESSING"},
                                   {"on.kind", "ON"},        {"on.id", "ID"},
                                   {"state", "STATE"},       {"progress", "PROGRESS"},
                                   {"created_at", "CREATED"}, {"message", "MESSAGE"}};
static const cli_col run_detail[] = {
    {"id", "run (job)"}, {"processing.name", "processing"}, {"processing.version", "version"},
    {"on.kind", "on"},   {"on.id", "id"},                   {"state", "state"},
    {"progress", "progress"}, {"message", "message"},       {"error", "error"},
    {"params", "params"}, {"resources", "resources"},       {"requires", "requires"},
    {"worker", "worker"}, {"result", "result"}};

static int list(int argc, char **argv)
{
    cli_conn c = {0};
    const char *target = NULL;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"target", 't', OPT_STR, &target, "KIND", "only those running on datalake, dataset-version, model-version or experiment"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops processing list [--target KIND] [--json]",
          "The catalog: built-in processings and your organization's own.")
    if (npos) {
        fprintf(stderr, "error: unexpected argument '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[200];
    char *t = cli_escape(target);
    snprintf(path, sizeof path, "/api/v1/processings%s%s", t ? "?target=" : "", t ? t : "");
    free(t);
    int rc;
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            cli_print_table(json_object_get(j, "items"), proc_cols, 5);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int show(int argc, char **argv)
{
    cli_conn c = {0};
    int64_t version = 0;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"version", 'v', OPT_INT, &version, "N", "this version (the latest)"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops processing show NAME [--version N] [--json]",
          "A processing: what it runs on, its parameters (type, default, bounds), resources.")
    if (npos != 1) {
        fprintf(stderr, "error: usage: cvops processing show NAME\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[300];
    char *n = cli_escape(argv[1]);
    snprintf(path, sizeof path, "/api/v1/processings/%s?version=%lld", n, (long long)version);
    free(n);
    int rc;
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (j) {
        json_t *p = json_object_get(j, "processing");
        if (c.json) {
            cli_print_json(j);
        } else {
            static const cli_col cols[] = {{"name", "name"},       {"version", "version"},
                                           {"kind", "kind"},       {"target", "target"},
                                           {"description", "description"},
                                           {"resources", "resources"}, {"requires", "requires"},
                                           {"command", "command"}};
            cli_print_object(p, cols, 8);
            printf("\nparameters:\n");
            json_t *params = json_object_get(p, "parameters"), *x;
            size_t i;
            json_array_foreach(params, i, x)
            {
                char *d = json_dumps(json_object_get(x, "default"), JSON_ENCODE_ANY | JSON_COMPACT);
                json_t *mn = json_object_get(x, "min"), *mx = json_object_get(x, "max");
                printf("  %-18s %-8s default %-8s", json_string_value(json_object_get(x, "name")),
                       json_string_value(json_object_get(x, "type")), d ? d : "-");
                if (mn || mx)
                    printf(" [%g..%g]", mn ? json_number_value(mn) : -INFINITY,
                           mx ? json_number_value(mx) : INFINITY);
                const char *desc = json_string_value(json_object_get(x, "description"));
                printf("%s%s\n", desc ? "  " : "", desc ? desc : "");
                free(d);
            }
        }
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int create(int argc, char **argv)
{
    cli_conn c = {0};
    cli_list files = {0};
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"file", 'f', OPT_LIST, &files, "PATH", "bundle this file (repeatable); it lands in the working directory under its name"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops processing create MANIFEST.json [--file PATH]...",
          "Define a custom processing (or its next version) from a manifest; see\n"
          "docs/processings.md for the format.")
    if (npos != 1) {
        fprintf(stderr, "error: give the manifest file; usage: cvops processing create MANIFEST.json\n");
        cli_list_free(&files);
        return EXIT_USAGE;
    }
    json_error_t je;
    json_t *m = json_load_file(argv[1], JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(m)) {
        fprintf(stderr, "error: %s: line %d: %s\n", argv[1], je.line, je.text);
        json_decref(m);
        cli_list_free(&files);
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl) {
        json_decref(m);
        cli_list_free(&files);
        return EXIT_AUTH;
    }
    int rc = EXIT_OK;
    json_t *fl = json_object_get(m, "files");
    if (!json_is_array(fl)) {
        fl = json_array();
        json_object_set_new(m, "files", fl);
    }
    for (int i = 0; i < files.n && rc == EXIT_OK; i++) {
        char *out = NULL;
        cvops_code code = cvops_upload_file(cl, "PUT", "/api/v1/files", files.items[i],
                                            "application/octet-stream", &out);
        if (code != CVOPS_OK) {
            rc = cli_fail(cl, code);
            break;
        }
        json_t *up = json_loads(out, 0, NULL);
        cvops_free(out);
        const char *base = strrchr(files.items[i], '/');
        base = base ? base + 1 : files.items[i];
        struct stat st;
        bool x = stat(files.items[i], &st) == 0 && (st.st_mode & S_IXUSR);
        json_array_append_new(fl, json_pack("{s:s, s:O, s:b}", "path", base, "sha256",
                                            json_object_get(up, "sha256"), "executable", x));
        json_decref(up);
    }
    if (rc == EXIT_OK) {
        json_t *j = cli_call(cl, "POST", "/api/v1/processings", m, &rc);
        if (j) {
            json_t *p = json_object_get(j, "processing");
            if (c.json)
                cli_print_json(j);
            else
                printf("defined %s version %lld\n", json_string_value(json_object_get(p, "name")),
                       (long long)json_integer_value(json_object_get(p, "version")));
        }
        json_decref(j);
    }
    json_decref(m);
    cli_list_free(&files);
    cvops_client_free(cl);
    return rc;
}

static int run_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    const char *on = NULL, *query = NULL, *requires = NULL;
    cli_list params = {0};
    int64_t version = 0, timeout = 0, memory = -1, output = -1;
    bool wait = false;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"on", 'o', OPT_STR, &on, "KIND:ID", "what to run on: dataset-version:12, datalake:1, model-version:3, experiment:7"},
        {"param", 'p', OPT_LIST, &params, "K=V", "a parameter (repeatable)"},
        {"version", 'v', OPT_INT, &version, "N", "this version of the processing (the latest)"},
        {"query", 'q', OPT_STR, &query, "QUERY", "only the items or assets matching this query"},
        {"requires", 0, OPT_STR, &requires, "LABELS", "also require these worker labels (gpu,mem=16G)"},
        {"timeout", 0, OPT_INT, &timeout, "SECONDS", "wall-clock limit (the processing's default)"},
        {"memory", 0, OPT_INT, &memory, "MB", "memory limit of a command (the processing's default)"},
        {"output-limit", 0, OPT_INT, &output, "MB", "limit of a command's outputs (the processing's default)"},
        {"wait", 'w', OPT_FLAG, &wait, NULL, "wait for the run with a progress bar; exit 1 if it fails"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops processing run NAME --on KIND:ID [--param K=V]... [--query Q] [--wait] [--json]",
          "Launch a processing: a job with progress and a log. Prints the run (its id is the\n"
          "job's); with --wait, follows it to the end.")
    if (npos != 1 || !on) {
        fprintf(stderr, "error: usage: cvops processing run NAME --on KIND:ID [--param K=V]...\n");
        cli_list_free(&params);
        return EXIT_USAGE;
    }
    json_t *body = json_pack("{s:s, s:{}}", "on", on, "params");
    json_t *pj = json_object_get(body, "params");
    for (int i = 0; i < params.n; i++) {
        const char *eq = strchr(params.items[i], '=');
        if (!eq || eq == params.items[i]) {
            fprintf(stderr, "error: --param '%s' must look like name=value\n", params.items[i]);
            json_decref(body);
            cli_list_free(&params);
            return EXIT_USAGE;
        }
        char *k = strndup(params.items[i], (size_t)(eq - params.items[i]));
        json_object_set_new(pj, k, json_string(eq + 1));
        free(k);
    }
    cli_list_free(&params);
    if (version)
        json_object_set_new(body, "version", json_integer(version));
    if (query)
        json_object_set_new(body, "query", json_string(query));
    if (requires)
        json_object_set_new(body, "requires", json_string(requires));
    if (timeout > 0 || memory >= 0 || output >= 0) {
        json_t *r = json_object();
        if (timeout > 0)
            json_object_set_new(r, "timeout_s", json_integer(timeout));
        if (memory >= 0)
            json_object_set_new(r, "memory_mb", json_integer(memory));
        if (output >= 0)
            json_object_set_new(r, "output_mb", json_integer(output));
        json_object_set_new(body, "resources", r);
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl) {
        json_decref(body);
        return EXIT_AUTH;
    }
    char path[300];
    char *n = cli_escape(argv[1]);
    snprintf(path, sizeof path, "/api/v1/processings/%s/run", n);
    free(n);
    int rc;
    json_t *j = cli_call(cl, "POST", path, body, &rc);
    json_decref(body);
    if (j && !wait) {
        if (c.json)
            cli_print_json(j);
        else
            printf("run %lld queued (cvops jobs wait %lld; cvops jobs log %lld)\n",
                   (long long)json_integer_value(json_object_get(j, "id")),
                   (long long)json_integer_value(json_object_get(j, "id")),
                   (long long)json_integer_value(json_object_get(j, "id")));
    } else if (j) {
        int64_t id = json_integer_value(json_object_get(j, "id"));
        char *out = NULL;
        cvops_code code = cvops_job_wait(cl, id, 0, c.json ? NULL : cli_progress, NULL, &out);
        cli_progress_done();
        if (code != CVOPS_OK) {
            rc = cli_fail(cl, code);
        } else {
            cvops_free(out);
            snprintf(path, sizeof path, "/api/v1/processing-runs/%lld", (long long)id);
            json_t *r = cli_call(cl, "GET", path, NULL, &rc);
            if (r) {
                const char *stt = json_string_value(json_object_get(r, "state"));
                if (c.json)
                    cli_print_json(r);
                else
                    cli_print_object(r, run_detail, 14);
                rc = stt && strcmp(stt, "succeeded") == 0 ? EXIT_OK : EXIT_FAIL;
            }
            json_decref(r);
        }
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int runs(int argc, char **argv)
{
    cli_conn c = {0};
    const char *name = NULL;
    int64_t limit = 20;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"processing", 'p', OPT_STR, &name, "NAME", "only runs of this processing"},
        {"limit", 'n', OPT_INT, &limit, "N", "how many (20)"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops processing runs [--processing NAME] [--limit N] [--json]",
          "Runs, newest first. `cvops processing runs ID` shows one with its outputs.")
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[300];
    int rc;
    if (npos == 1) {
        snprintf(path, sizeof path, "/api/v1/processing-runs/%lld", atoll(argv[1]));
        json_t *j = cli_call(cl, "GET", path, NULL, &rc);
        if (j) {
            if (c.json)
                cli_print_json(j);
            else
                cli_print_object(j, run_detail, 14);
        }
        json_decref(j);
    } else {
        char *n = cli_escape(name);
        snprintf(path, sizeof path, "/api/v1/processing-runs?limit=%lld%s%s", (long long)limit,
                 n ? "&processing=" : "", n ? n : "");
        free(n);
        json_t *j = cli_call(cl, "GET", path, NULL, &rc);
        if (j) {
            if (c.json)
                cli_print_json(j);
            else
                cli_print_table(json_object_get(j, "items"), run_cols, 8);
        }
        json_decref(j);
    }
    cvops_client_free(cl);
    return rc;
}

static int delete_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops processing delete NAME", "Archive a custom processing (its runs stay).")
    if (npos != 1) {
        fprintf(stderr, "error: usage: cvops processing delete NAME\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[300];
    char *n = cli_escape(argv[1]);
    snprintf(path, sizeof path, "/api/v1/processings/%s", n);
    free(n);
    cvops_code code = cvops_call(cl, "DELETE", path, NULL, NULL);
    int rc = code == CVOPS_OK ? EXIT_OK : cli_fail(cl, code);
    if (rc == EXIT_OK && !c.json)
        printf("archived %s\n", argv[1]);
    cvops_client_free(cl);
    return rc;
}

int cmd_processing(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"list", list, "the catalog of processings"},
        {"show", show, "one processing with its parameters"},
        {"create", create, "define a custom processing from a manifest"},
        {"run", run_cmd, "launch a processing on a target"},
        {"runs", runs, "runs, or one run with its outputs"},
        {"delete", delete_cmd, "archive a custom processing"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops processing", argc, argv, sub);
}
