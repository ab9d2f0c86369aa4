/*
 * jobs.c - `cvops jobs list|show|cancel|retry|wait|log`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/client_cli.h"

static const cli_col job_cols[] = {{"id", "ID"},          {"kind", "KIND"},
                                   {"state", "STATE"},    {"progress", "PROGRESS"},
                                   {"attempts", "TRIES"}, {"created_at", "CREATED"},
                                   {"message", "MESSAGE"}};
static const cli_col job_detail[] = {
    {"id", "id"},           {"kind", "kind"},         {"state", "state"},
    {"progress", "progress"}, {"message", "message"}, {"error", "error"},
    {"attempts", "attempts"}, {"max_attempts", "max attempts"}, {"worker", "worker"},
    {"created_at", "created"}, {"started_at", "started"}, {"finished_at", "finished"},
    {"payload", "payload"}, {"result", "result"}};

static bool valid_id(const char *s)
{
    if (!*s)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

static int list(int argc, char **argv)
{
    cli_conn c = {0};
    const char *state = NULL, *kind = NULL;
    int64_t limit = 20;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"state", 's', OPT_STR, &state, "STATE", "queued, running, succeeded, failed or canceled"},
        {"kind", 'k', OPT_STR, &kind, "KIND", "only jobs of this kind"},
        {"limit", 'n', OPT_INT, &limit, "N", "how many (20)"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops jobs list [--state S] [--kind K] [--limit N] [--json]",
          "List jobs, newest first.")
    if (npos != 0) {
        fprintf(stderr, "error: unexpected argument '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[300];
    char *es = cli_escape(state), *ek = cli_escape(kind);
    snprintf(path, sizeof path, "/api/v1/jobs?limit=%lld%s%s%s%s", (long long)limit,
             es ? "&state=" : "", es ? es : "", ek ? "&kind=" : "", ek ? ek : "");
    free(es);
    free(ek);
    int rc;
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            cli_print_table(json_object_get(j, "items"), job_cols, 7);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int one(int argc, char **argv, const char *method, const char *suffix, const char *usage,
               const char *desc)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE(usage, desc)
    if (npos != 1 || !valid_id(argv[1])) {
        fprintf(stderr, "error: give one job id; usage: %s\n", usage);
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/jobs/%s%s", argv[1], suffix);
    int rc;
    json_t *j = cli_call(cl, method, path, NULL, &rc);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            cli_print_object(j, job_detail, 14);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int show(int argc, char **argv)
{
    return one(argc, argv, "GET", "", "cvops jobs show ID [--json]", "Show one job.");
}
static int cancel(int argc, char **argv)
{
    return one(argc, argv, "POST", "/cancel", "cvops jobs cancel ID",
               "Cancel a queued job, or ask a running job to stop.");
}
static int retry(int argc, char **argv)
{
    return one(argc, argv, "POST", "/retry", "cvops jobs retry ID",
               "Run a failed or canceled job again.");
}

static int wait_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    double timeout = 0;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"timeout", 't', OPT_DBL, &timeout, "SECONDS", "give up after this long (wait forever)"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops jobs wait ID [--timeout S] [--json]",
          "Wait for a job to finish with a progress bar. Exit status: 0 if it succeeded,\n"
          "1 if it failed or was canceled.")
    if (npos != 1 || !valid_id(argv[1])) {
        fprintf(stderr, "error: give one job id; usage: cvops jobs wait ID\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char *out = NULL;
    cvops_code code = cvops_job_wait(cl, strtoll(argv[1], NULL, 10), timeout,
                                     c.json ? NULL : cli_progress, NULL, &out);
    cli_progress_done();
    int rc;
    if (code != CVOPS_OK) {
        rc = cli_fail(cl, code);
    } else {
        json_t *j = json_loads(out, 0, NULL);
        const char *st = json_string_value(json_object_get(j, "state"));
        rc = st && strcmp(st, "succeeded") == 0 ? EXIT_OK : EXIT_FAIL;
        if (c.json)
            cli_print_json(j);
        else if (rc == EXIT_OK)
            printf("job %s succeeded\n", argv[1]);
        else
            fprintf(stderr, "job %s %s: %s\n", argv[1], st,
                    json_string_value(json_object_get(j, "error"))
                        ? json_string_value(json_object_get(j, "error"))
                        : "");
        json_decref(j);
        cvops_free(out);
    }
    cvops_client_free(cl);
    return rc;
}

static int log_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    bool follow = false;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"follow", 'f', OPT_FLAG, &follow, NULL, "keep printing new lines until the job ends"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops jobs log ID [--follow]", "Print a job's log.")
    if (npos != 1 || !valid_id(argv[1])) {
        fprintf(stderr, "error: give one job id; usage: cvops jobs log ID\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t after = 0;
    int rc = EXIT_OK;
    for (;;) {
        char path[160];
        snprintf(path, sizeof path, "/api/v1/jobs/%s/log?after=%lld&wait=%d", argv[1],
                 (long long)after, follow ? 20 : 0);
        json_t *j = cli_call(cl, "GET", path, NULL, &rc);
        if (!j)
            break;
        json_t *items = json_object_get(j, "items");
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *it = json_array_get(items, i);
            if (c.json)
                cli_print_json(it);
            else
                printf("%s  %s\n", json_string_value(json_object_get(it, "at")),
                       json_string_value(json_object_get(it, "line")));
        }
        fflush(stdout);
        after = json_integer_value(json_object_get(j, "next_after"));
        bool finished = json_is_true(json_object_get(j, "finished"));
        bool more = json_array_size(items) > 0;
        json_decref(j);
        if (!follow && !more)
            break;
        if (follow && finished && !more)
            break;
    }
    cvops_client_free(cl);
    return rc;
}

int cmd_jobs(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"list", list, "list jobs"},
        {"show", show, "show one job"},
        {"wait", wait_cmd, "wait for a job with a progress bar"},
        {"log", log_cmd, "print (or follow) a job's log"},
        {"cancel", cancel, "cancel a job"},
        {"retry", retry, "run a failed or canceled job again"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops jobs", argc, argv, sub);
}
