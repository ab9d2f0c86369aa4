/*
 * experiment.c - `cvops project create|list|show` and
 * `cvops experiment create|list|show|log|output|compare|artifacts|delete`.
 *
 * A project may be named by id or by name everywhere. `experiment log`
 * is the shell's way to track a run:
 *     cvops experiment log 12 --status running
 *     python train.py | cvops experiment log 12 --output    # tee into the run's output
 *     cvops experiment log 12 --metric loss=0.25 --step 100 --param lr=0.01
 *     cvops experiment log 12 --csv points.csv              # name,step,value lines
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "cli/client_cli.h"

static bool is_id(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

/* A project given by id or name. */
static int project_id(cvops_client *cl, const char *s, int64_t *id)
{
    if (is_id(s)) {
        *id = strtoll(s, NULL, 10);
        return EXIT_OK;
    }
    cvops_code code = cvops_project_find(cl, s, id);
    return code == CVOPS_OK ? EXIT_OK : cli_fail(cl, code);
}

/* "k=v": v as JSON when it parses (numbers, true, [1,2]), else as text. */
static int put_kv(json_t *obj, const char *kv, const char *what)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        fprintf(stderr, "error: %s '%s' must be KEY=VALUE\n", what, kv);
        return -1;
    }
    char *key = strndup(kv, (size_t)(eq - kv));
    json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
    if (!v || json_is_object(v))
        v = json_string(eq + 1);
    json_object_set_new(obj, key, v);
    free(key);
    return 0;
}

/* --- projects ------------------------------------------------------------ */

static const cli_col project_cols[] = {{"id", "ID"},
                                       {"name", "NAME"},
                                       {"experiments", "EXPERIMENTS"},
                                       {"created_at", "CREATED"},
                                       {"description", "DESCRIPTION"}};

static int project_create(int argc, char **argv)
{
    cli_conn c = {0};
    const char *desc = NULL;
    const cli_opt opts[] = {CLI_CONN_OPTS(c),
                            {"description", 'd', OPT_STR, &desc, "TEXT", "what the project is for"},
                            {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops project create NAME [--description TEXT]", "Create a project.")
    if (npos != 1) {
        fprintf(stderr, "error: give the project's name\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    json_t *b = json_pack("{s:s, s:s}", "name", argv[1], "description", desc ? desc : "");
    int rc;
    json_t *j = cli_call(cl, "POST", "/api/v1/projects", b, &rc);
    json_decref(b);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            printf("project %lld created: %s\n", (long long)json_integer_value(json_object_get(j, "id")),
                   argv[1]);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int project_list(int argc, char **argv)
{
    cli_conn c = {0};
    const char *q = NULL;
    int64_t limit = 50;
    const cli_opt opts[] = {CLI_CONN_OPTS(c),
                            {"q", 'q', OPT_STR, &q, "TEXT", "names containing TEXT"},
                            {"limit", 'n', OPT_INT, &limit, "N", "how many (50)"},
                            {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops project list [-q TEXT] [--limit N] [--json]", "List projects, newest first.")
    if (npos != 0) {
        fprintf(stderr, "error: unexpected argument '%s'\n", argv[1]);
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[400];
    char *eq = cli_escape(q);
    snprintf(path, sizeof path, "/api/v1/projects?limit=%lld%s%s", (long long)limit,
             eq ? "&q=" : "", eq ? eq : "");
    free(eq);
    int rc;
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            cli_print_table(json_object_get(j, "items"), project_cols, 5);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int project_show(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops project show ID|NAME [--json]", "Show a project and its members.")
    if (npos != 1) {
        fprintf(stderr, "error: give one project id or name\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t id;
    int rc = project_id(cl, argv[1], &id);
    if (rc == EXIT_OK) {
        char path[80];
        snprintf(path, sizeof path, "/api/v1/projects/%lld", (long long)id);
        json_t *j = cli_call(cl, "GET", path, NULL, &rc);
        if (j && c.json) {
            cli_print_json(j);
        } else if (j) {
            cli_print_object(j, project_cols, 5);
            static const cli_col mcols[] = {{"id", "ID"}, {"username", "MEMBER"}};
            printf("\n");
            cli_print_table(json_object_get(j, "members"), mcols, 2);
        }
        json_decref(j);
    }
    cvops_client_free(cl);
    return rc;
}

int cmd_project(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"create", project_create, "create a project"},
        {"list", project_list, "list projects"},
        {"show", project_show, "show a project and its members"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops project", argc, argv, sub);
}

/* --- experiments -------------------------------------------------------------- */

static int exp_create_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    const char *project = NULL, *desc = NULL, *status = NULL, *command = NULL;
    cli_list tags = {0}, params = {0}, datasets = {0};
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"project", 'p', OPT_STR, &project, "ID|NAME", "the project (required; created if a new name)"},
        {"description", 'd', OPT_STR, &desc, "TEXT", "what the experiment tries"},
        {"tag", 't', OPT_LIST, &tags, "TAG", "a tag (repeat for more)"},
        {"param", 0, OPT_LIST, &params, "KEY=VALUE", "a parameter (repeat; VALUE read as JSON if it is)"},
        {"dataset", 0, OPT_LIST, &datasets, "ALIAS=VERSION_ID", "a dataset version under an alias"},
        {"status", 's', OPT_STR, &status, "STATUS", "created (default), queued or running"},
        {"command", 0, OPT_STR, &command, "CMD", "the command that runs it"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops experiment create --project P [NAME] [--param k=v]... [--tag T]... [options]",
          "Create an experiment (a generated name if NAME is left out); prints its id.")
    int rc = EXIT_USAGE;
    cvops_client *cl = NULL;
    json_t *b = json_object();
    if (!project || npos > 1) {
        fprintf(stderr, "error: give --project and at most one NAME\n");
        goto out;
    }
    if (npos == 1)
        json_object_set_new(b, "name", json_string(argv[1]));
    if (desc)
        json_object_set_new(b, "description", json_string(desc));
    if (status)
        json_object_set_new(b, "status", json_string(status));
    if (command)
        json_object_set_new(b, "command", json_string(command));
    char host[256];
    if (gethostname(host, sizeof host) == 0)
        json_object_set_new(b, "host", json_string(host));
    json_t *t = json_array();
    for (int i = 0; i < tags.n; i++)
        json_array_append_new(t, json_string(tags.items[i]));
    json_object_set_new(b, "tags", t);
    json_t *p = json_object(), *d = json_object();
    json_object_set_new(b, "params", p);
    json_object_set_new(b, "datasets", d);
    for (int i = 0; i < params.n; i++)
        if (put_kv(p, params.items[i], "--param") != 0)
            goto out;
    for (int i = 0; i < datasets.n; i++)
        if (put_kv(d, datasets.items[i], "--dataset") != 0)
            goto out;
    cl = cli_connect(&c, true);
    if (!cl) {
        rc = EXIT_AUTH;
        goto out;
    }
    int64_t pid;
    cvops_code code = is_id(project) ? (pid = strtoll(project, NULL, 10), CVOPS_OK)
                                     : cvops_project_ensure(cl, project, &pid);
    if (code != CVOPS_OK) {
        rc = cli_fail(cl, code);
        goto out;
    }
    char path[100];
    snprintf(path, sizeof path, "/api/v1/projects/%lld/experiments", (long long)pid);
    json_t *j = cli_call(cl, "POST", path, b, &rc);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            printf("%lld\n", (long long)json_integer_value(json_object_get(j, "id")));
    }
    json_decref(j);
out:
    json_decref(b);
    cli_list_free(&tags);
    cli_list_free(&params);
    cli_list_free(&datasets);
    cvops_client_free(cl);
    return rc;
}

static int exp_list_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    const char *project = NULL, *status = NULL, *tag = NULL, *q = NULL, *order = NULL;
    const char *params = NULL, *metrics = NULL;
    int64_t limit = 50;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"project", 'p', OPT_STR, &project, "ID|NAME", "the project (required)"},
        {"status", 's', OPT_STR, &status, "STATUS", "only this status"},
        {"tag", 't', OPT_STR, &tag, "TAG", "only experiments with this tag"},
        {"q", 'q', OPT_STR, &q, "TEXT", "names containing TEXT"},
        {"order-by", 'o', OPT_STR, &order, "KEY", "created, name, status, updated, param:K, metric:M ('-' first: descending)"},
        {"params", 0, OPT_STR, &params, "K1,K2", "parameters to show as columns"},
        {"metrics", 0, OPT_STR, &metrics, "M1,M2", "metrics to show (latest value) as columns"},
        {"limit", 'n', OPT_INT, &limit, "N", "how many (50)"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops experiment list --project P [filters] [--params K,..] [--metrics M,..] [--json]",
          "The experiment table of a project.")
    if (npos != 0) {
        fprintf(stderr, "error: unexpected argument '%s'; give the project with --project\n",
                argv[1]);
        return EXIT_USAGE;
    }
    if (!project) {
        fprintf(stderr, "error: give --project ID or NAME\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t pid;
    int rc = project_id(cl, project, &pid);
    if (rc != EXIT_OK) {
        cvops_client_free(cl);
        return rc;
    }
    sbuf path = SBUF_INIT;
    sbuf_printf(&path, "/api/v1/projects/%lld/experiments?limit=%lld", (long long)pid,
                (long long)limit);
    const char *keys[] = {"status", "tag", "q", "order_by", "params", "metrics"};
    const char *vals[] = {status, tag, q, order, params, metrics};
    for (int i = 0; i < 6; i++)
        if (vals[i]) {
            char *e = cli_escape(vals[i]);
            sbuf_printf(&path, "&%s=%s", keys[i], e);
            free(e);
        }
    json_t *j = cli_call(cl, "GET", sbuf_cstr(&path), NULL, &rc);
    sbuf_free(&path);
    if (j && c.json) {
        cli_print_json(j);
    } else if (j) {
        /* fixed columns, then one per chosen parameter and metric */
        cli_col cols[16] = {{"id", "ID"}, {"name", "NAME"}, {"status", "STATUS"}, {"created_at", "CREATED"}};
        int nc = 4;
        char *pc = params ? strdup(params) : NULL, *mc = metrics ? strdup(metrics) : NULL;
        char keybuf[16][160];
        for (char *s = NULL, *t = pc ? strtok_r(pc, ",", &s) : NULL; t && nc < 16; t = strtok_r(NULL, ",", &s)) {
            snprintf(keybuf[nc], sizeof keybuf[nc], "params.%s", t);
            cols[nc] = (cli_col){keybuf[nc], t};
            nc++;
        }
        for (char *s = NULL, *t = mc ? strtok_r(mc, ",", &s) : NULL; t && nc < 16; t = strtok_r(NULL, ",", &s)) {
            snprintf(keybuf[nc], sizeof keybuf[nc], "metrics.%s.last", t);
            cols[nc] = (cli_col){keybuf[nc], t};
            nc++;
        }
        cli_print_table(json_object_get(j, "items"), cols, nc);
        free(pc);
        free(mc);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static const cli_col exp_detail[] = {
    {"id", "id"},           {"name", "name"},         {"project_id", "project"},
    {"status", "status"},   {"tags", "tags"},         {"description", "description"},
    {"command", "command"}, {"host", "host"},         {"created_at", "created"},
    {"started_at", "started"}, {"finished_at", "finished"}, {"params", "params"},
    {"datasets", "datasets"}, {"base_model_version_id", "base model version"},
    {"output_lines", "output lines"}};

static int one_exp(int argc, char **argv, const char *usage, const char *desc, int64_t *id,
                   cli_conn *c, cvops_client **cl, const cli_opt *opts)
{
    int npos = cli_parse(argc, argv, opts, usage, desc);
    if (npos < 0)
        return npos == -2 ? -2 : EXIT_USAGE;
    if (npos < 1 || !is_id(argv[1])) {
        fprintf(stderr, "error: give an experiment id; usage: %s\n", usage);
        return EXIT_USAGE;
    }
    *id = strtoll(argv[1], NULL, 10);
    *cl = cli_connect(c, true);
    return *cl ? EXIT_OK : EXIT_AUTH;
}

static int exp_show_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    int64_t id;
    cvops_client *cl = NULL;
    int rc = one_exp(argc, argv, "cvops experiment show ID [--json]",
                     "Show an experiment: status, parameters, datasets, latest metrics.", &id, &c,
                     &cl, opts);
    if (rc != EXIT_OK)
        return rc == -2 ? EXIT_OK : rc;
    char path[80];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld", (long long)id);
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (j && c.json) {
        cli_print_json(j);
    } else if (j) {
        cli_print_object(j, exp_detail, (int)(sizeof exp_detail / sizeof *exp_detail));
        static const cli_col mcols[] = {{"name", "METRIC"}, {"count", "POINTS"}, {"last_step", "STEP"},
                                        {"last", "LAST"},   {"min", "MIN"},      {"max", "MAX"}};
        printf("\n");
        cli_print_table(json_object_get(j, "metrics"), mcols, 6);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

/* Reads stdin line by line, echoes each line, sends them in batches (every
 * 1000 lines or 1 s). */
static int tee_output(cvops_client *cl, int64_t id)
{
    char *line = NULL;
    size_t cap = 0;
    const char *batch[1000];
    char *owned[1000];
    size_t n = 0;
    time_t last = time(NULL);
    int rc = EXIT_OK;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        fwrite(line, 1, (size_t)len, stdout);
        fflush(stdout);
        if (len && line[len - 1] == '\n')
            line[--len] = 0;
        owned[n] = strdup(line);
        batch[n] = owned[n];
        n++;
        if (n == 1000 || time(NULL) != last) {
            cvops_code code = cvops_experiment_output(cl, id, batch, n);
            for (size_t i = 0; i < n; i++)
                free(owned[i]);
            n = 0;
            last = time(NULL);
            if (code != CVOPS_OK) {
                rc = cli_fail(cl, code);
                break;
            }
        }
    }
    if (n) {
        cvops_code code = cvops_experiment_output(cl, id, batch, n);
        for (size_t i = 0; i < n; i++)
            free(owned[i]);
        if (code != CVOPS_OK && rc == EXIT_OK)
            rc = cli_fail(cl, code);
    }
    free(line);
    return rc;
}

/* name,step,value lines (a header line is skipped) through the buffered logger. */
static int log_csv(cvops_client *cl, int64_t id, const char *file)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!f) {
        fprintf(stderr, "error: cannot open %s: %s\n", file, strerror(errno));
        return EXIT_FAIL;
    }
    cvops_metrics *m = cvops_metrics_new(cl, id);
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, count = 0;
    int rc = EXIT_OK;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (!*line)
            continue;
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        char *end1 = NULL, *end2 = NULL;
        long long step = c2 ? strtoll(c1 + 1, &end1, 10) : 0;
        double v = c2 ? strtod(c2 + 1, &end2) : 0;
        if (!c2 || end1 != c2 || !end2 || *end2 || end2 == c2 + 1) {
            if (lineno == 1)
                continue; /* a header */
            fprintf(stderr, "error: %s line %ld: expected name,step,value\n", file, lineno);
            rc = EXIT_USAGE;
            break;
        }
        *c1 = 0;
        cvops_code code = cvops_metric(m, line, v, step);
        if (code != CVOPS_OK) {
            fprintf(stderr, "error: %s line %ld: %s\n", file, lineno, cvops_client_errmsg(cl));
            rc = cli_exit_code(code);
            break;
        }
        count++;
    }
    cvops_code code = cvops_metrics_free(m);
    if (code != CVOPS_OK && rc == EXIT_OK)
        rc = cli_fail(cl, code);
    if (rc == EXIT_OK)
        fprintf(stderr, "logged %ld points\n", count);
    free(line);
    if (f != stdin)
        fclose(f);
    return rc;
}

static int exp_log_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    cli_list metrics = {0}, params = {0}, values = {0};
    int64_t step = -1;
    const char *status = NULL, *csv = NULL;
    bool output = false;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"metric", 'm', OPT_LIST, &metrics, "NAME=VALUE", "a metric point (repeat; with --step)"},
        {"step", 0, OPT_INT, &step, "N", "the step of --metric points (default: after the last)"},
        {"param", 0, OPT_LIST, &params, "KEY=VALUE", "set a parameter (repeat)"},
        {"value", 0, OPT_LIST, &values, "NAME=VALUE", "log a single value (a number or text)"},
        {"status", 's', OPT_STR, &status, "STATUS", "set the status (running, succeeded, failed, ...)"},
        {"output", 0, OPT_FLAG, &output, NULL, "copy standard input to the run's output (and to stdout)"},
        {"csv", 0, OPT_STR, &csv, "FILE", "metric points from name,step,value lines ('-': stdin)"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    int64_t id;
    cvops_client *cl = NULL;
    int rc = one_exp(argc, argv,
                     "cvops experiment log ID [--metric N=V --step S] [--param K=V] [--value N=V] "
                     "[--status S] [--output] [--csv FILE]",
                     "Log to an experiment from the shell.", &id, &c, &cl, opts);
    if (rc != EXIT_OK) {
        cli_list_free(&metrics);
        cli_list_free(&params);
        cli_list_free(&values);
        return rc == -2 ? EXIT_OK : rc;
    }
    cvops_code code = CVOPS_OK;
    if (params.n) {
        json_t *p = json_object();
        for (int i = 0; i < params.n && rc == EXIT_OK; i++)
            if (put_kv(p, params.items[i], "--param") != 0)
                rc = EXIT_USAGE;
        char *text = json_dumps(p, JSON_COMPACT);
        json_decref(p);
        if (rc == EXIT_OK && (code = cvops_experiment_log_params(cl, id, text)) != CVOPS_OK)
            rc = cli_fail(cl, code);
        free(text);
    }
    for (int i = 0; i < values.n && rc == EXIT_OK; i++) {
        json_t *d = json_object();
        if (put_kv(d, values.items[i], "--value") != 0) {
            json_decref(d);
            rc = EXIT_USAGE;
            break;
        }
        const char *name = json_object_iter_key(json_object_iter(d));
        json_t *b = json_pack("{s:O}", "value", json_object_get(d, name));
        char *text = json_dumps(b, JSON_COMPACT);
        code = cvops_experiment_log(cl, id, name, "value", -1, text);
        free(text);
        json_decref(b);
        json_decref(d);
        if (code != CVOPS_OK)
            rc = cli_fail(cl, code);
    }
    if (metrics.n && rc == EXIT_OK) {
        cvops_metrics *m = cvops_metrics_new(cl, id);
        for (int i = 0; i < metrics.n && rc == EXIT_OK; i++) {
            const char *kv = metrics.items[i], *eq = strchr(kv, '=');
            char *end = NULL;
            double v = eq ? strtod(eq + 1, &end) : 0;
            if (!eq || eq == kv || !end || *end || end == eq + 1) {
                fprintf(stderr, "error: --metric '%s' must be NAME=NUMBER\n", kv);
                rc = EXIT_USAGE;
                break;
            }
            char *name = strndup(kv, (size_t)(eq - kv));
            int64_t s = step;
            if (s < 0) { /* after the metric's last step */
                char path[100];
                snprintf(path, sizeof path, "/api/v1/experiments/%lld/metrics", (long long)id);
                int r2;
                json_t *j = cli_call(cl, "GET", path, NULL, &r2);
                s = 0;
                json_t *items = json_object_get(j, "items");
                for (size_t k = 0; k < json_array_size(items); k++) {
                    json_t *it = json_array_get(items, k);
                    if (strcmp(json_string_value(json_object_get(it, "name")), name) == 0 &&
                        json_object_get(it, "max_step"))
                        s = json_integer_value(json_object_get(it, "max_step")) + 1;
                }
                json_decref(j);
            }
            if ((code = cvops_metric(m, name, v, s)) != CVOPS_OK)
                rc = cli_fail(cl, code);
            free(name);
        }
        code = cvops_metrics_free(m);
        if (code != CVOPS_OK && rc == EXIT_OK)
            rc = cli_fail(cl, code);
    }
    if (csv && rc == EXIT_OK)
        rc = log_csv(cl, id, csv);
    /* the status last: `--output --status succeeded` ends the run after its output */
    if (output && rc == EXIT_OK)
        rc = tee_output(cl, id);
    if (status && rc == EXIT_OK && (code = cvops_experiment_set_status(cl, id, status)) != CVOPS_OK)
        rc = cli_fail(cl, code);
    cli_list_free(&metrics);
    cli_list_free(&params);
    cli_list_free(&values);
    cvops_client_free(cl);
    return rc;
}

static int exp_output_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    bool follow = false;
    int64_t tail = 0;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"follow", 'f', OPT_FLAG, &follow, NULL, "keep printing new lines until the run finishes"},
        {"tail", 'n', OPT_INT, &tail, "N", "start with the last N lines"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    int64_t id;
    cvops_client *cl = NULL;
    int rc = one_exp(argc, argv, "cvops experiment output ID [--follow] [--tail N]",
                     "Print a run's text output.", &id, &c, &cl, opts);
    if (rc != EXIT_OK)
        return rc == -2 ? EXIT_OK : rc;
    int64_t after = 0;
    bool first = true;
    for (;;) {
        char path[200];
        if (first && tail > 0)
            snprintf(path, sizeof path, "/api/v1/experiments/%lld/output?tail=%lld",
                     (long long)id, (long long)tail);
        else
            snprintf(path, sizeof path, "/api/v1/experiments/%lld/output?after=%lld&wait=%d",
                     (long long)id, (long long)after, follow ? 20 : 0);
        first = false;
        json_t *j = cli_call(cl, "GET", path, NULL, &rc);
        if (!j)
            break;
        json_t *items = json_object_get(j, "items");
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *it = json_array_get(items, i);
            if (c.json)
                cli_print_json(it);
            else
                printf("%s\n", json_string_value(json_object_get(it, "line")));
        }
        fflush(stdout);
        after = json_integer_value(json_object_get(j, "next_after"));
        bool finished = json_is_true(json_object_get(j, "finished"));
        bool more = json_array_size(items) > 0;
        json_decref(j);
        if ((!follow && !more) || (follow && finished && !more))
            break;
    }
    cvops_client_free(cl);
    return rc;
}

/* The last non-null value of an aligned series. */
static json_t *last_value(json_t *values)
{
    for (size_t i = json_array_size(values); i > 0; i--)
        if (!json_is_null(json_array_get(values, i - 1)))
            return json_array_get(values, i - 1);
    return NULL;
}

static int exp_compare_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    const char *metrics = NULL;
    int64_t points = 0;
    bool all = false;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"metrics", 'm', OPT_STR, &metrics, "M1,M2", "metrics to compare (default: all)"},
        {"points", 0, OPT_INT, &points, "N", "align into N step buckets when longer (1000)"},
        {"all", 'a', OPT_FLAG, &all, NULL, "show parameters that are the same too"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops experiment compare ID ID... [--metrics M,..] [--all] [--json]",
          "Compare experiments: differing parameters, and each metric's last value.")
    if (npos < 1) {
        fprintf(stderr, "error: give the experiment ids to compare\n");
        return EXIT_USAGE;
    }
    int64_t ids[64];
    int n = 0;
    for (int i = 1; i <= npos && n < 64; i++) {
        if (!is_id(argv[i])) {
            fprintf(stderr, "error: '%s' is not an experiment id\n", argv[i]);
            return EXIT_USAGE;
        }
        ids[n++] = strtoll(argv[i], NULL, 10);
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char *out = NULL;
    cvops_code code = cvops_experiment_compare(cl, ids, (size_t)n, metrics, (int)points, &out);
    int rc = code == CVOPS_OK ? EXIT_OK : cli_fail(cl, code);
    json_t *j = out ? json_loads(out, 0, NULL) : NULL;
    cvops_free(out);
    if (j && c.json) {
        cli_print_json(j);
    } else if (j) {
        json_t *exps = json_object_get(j, "experiments");
        printf("%-24s", "");
        for (size_t i = 0; i < json_array_size(exps); i++)
            printf("  %-16.16s", json_string_value(json_object_get(json_array_get(exps, i), "name")));
        printf("\n");
        json_t *params = json_object_get(j, "params");
        for (size_t p = 0; p < json_array_size(params); p++) {
            json_t *row = json_array_get(params, p);
            bool differs = json_is_true(json_object_get(row, "differs"));
            if (!differs && !all)
                continue;
            printf("%s %-22.22s", differs ? "*" : " ", json_string_value(json_object_get(row, "name")));
            json_t *vals = json_object_get(row, "values");
            for (size_t i = 0; i < json_array_size(vals); i++) {
                char *s = json_dumps(json_array_get(vals, i), JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(10));
                printf("  %-16.16s", s && strcmp(s, "null") ? s : "-");
                free(s);
            }
            printf("\n");
        }
        json_t *ms = json_object_get(j, "metrics");
        for (size_t m = 0; m < json_array_size(ms); m++) {
            json_t *mm = json_array_get(ms, m);
            printf("  %-22.22s", json_string_value(json_object_get(mm, "name")));
            json_t *series = json_object_get(mm, "series");
            for (size_t i = 0; i < json_array_size(series); i++) {
                json_t *v = last_value(json_object_get(json_array_get(series, i), "values"));
                if (v)
                    printf("  %-16.6g", json_number_value(v));
                else
                    printf("  %-16s", "-");
            }
            printf("\n");
        }
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

/* Uploads a file, or every file under a directory (paths relative to it,
 * under `as` if given). */
static int upload_tree(cvops_client *cl, int64_t id, const char *local, const char *as, bool quiet,
                       int *count)
{
    struct stat st;
    if (stat(local, &st) != 0) {
        fprintf(stderr, "error: cannot read %s: %s\n", local, strerror(errno));
        return EXIT_FAIL;
    }
    if (S_ISREG(st.st_mode)) {
        char *out = NULL;
        cvops_code code = cvops_experiment_upload_artifact(cl, id, local, as, &out);
        if (code != CVOPS_OK) {
            fprintf(stderr, "error: %s: %s\n", local, cvops_client_errmsg(cl));
            return cli_exit_code(code);
        }
        json_t *j = json_loads(out, 0, NULL);
        if (!quiet)
            printf("%-12lld %s\n", (long long)json_integer_value(json_object_get(j, "size")),
                   json_string_value(json_object_get(j, "path")));
        json_decref(j);
        cvops_free(out);
        (*count)++;
        return EXIT_OK;
    }
    if (!S_ISDIR(st.st_mode))
        return EXIT_OK; /* sockets, devices: not artifacts */
    DIR *d = opendir(local);
    if (!d) {
        fprintf(stderr, "error: cannot read %s: %s\n", local, strerror(errno));
        return EXIT_FAIL;
    }
    struct dirent *de;
    int rc = EXIT_OK;
    while (rc == EXIT_OK && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        size_t n1 = strlen(local) + strlen(de->d_name) + 2;
        size_t n2 = (as ? strlen(as) : 0) + strlen(de->d_name) + 2;
        char *sub = malloc(n1), *subas = malloc(n2);
        snprintf(sub, n1, "%s/%s", local, de->d_name);
        if (as && *as)
            snprintf(subas, n2, "%s/%s", as, de->d_name);
        else
            snprintf(subas, n2, "%s", de->d_name);
        rc = upload_tree(cl, id, sub, subas, quiet, count);
        free(sub);
        free(subas);
    }
    closedir(d);
    return rc;
}

static int exp_artifacts_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    cli_list uploads = {0};
    const char *as = NULL, *download = NULL, *out_file = NULL, *prefix = NULL;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"upload", 'u', OPT_LIST, &uploads, "FILE|DIR", "upload a file, or a directory's files (repeat)"},
        {"as", 0, OPT_STR, &as, "PATH", "the artifact path of the upload (default: its name)"},
        {"download", 'd', OPT_STR, &download, "PATH", "download the artifact at PATH"},
        {"output", 'o', OPT_STR, &out_file, "FILE", "where --download writes (default: its name; '-': stdout)"},
        {"prefix", 0, OPT_STR, &prefix, "PATH", "list only artifacts under PATH"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    int64_t id;
    cvops_client *cl = NULL;
    int rc = one_exp(argc, argv,
                     "cvops experiment artifacts ID [--upload FILE|DIR [--as PATH]] "
                     "[--download PATH [-o FILE]] [--prefix P] [--json]",
                     "List, upload or download an experiment's artifacts.", &id, &c, &cl, opts);
    if (rc != EXIT_OK) {
        cli_list_free(&uploads);
        return rc == -2 ? EXIT_OK : rc;
    }
    if (uploads.n) {
        int count = 0;
        for (int i = 0; i < uploads.n && rc == EXIT_OK; i++) {
            const char *local = uploads.items[i];
            const char *name = as;
            struct stat st;
            if (!name && stat(local, &st) == 0 && S_ISDIR(st.st_mode)) {
                /* a directory goes under its own name */
                const char *slash = strrchr(local, '/');
                while (slash && slash[1] == 0 && slash > local) /* "dir/" */
                    slash = memrchr(local, '/', (size_t)(slash - local));
                name = slash ? slash + 1 : local;
            }
            char *clean = name ? strdup(name) : NULL;
            if (clean) { /* "dir/" -> "dir" */
                size_t l = strlen(clean);
                while (l > 1 && clean[l - 1] == '/')
                    clean[--l] = 0;
            }
            rc = upload_tree(cl, id, local, clean, c.json, &count);
            free(clean);
        }
        if (rc == EXIT_OK)
            fprintf(stderr, "uploaded %d file(s)\n", count);
    } else if (download) {
        const char *dest = out_file;
        if (!dest) {
            const char *slash = strrchr(download, '/');
            dest = slash ? slash + 1 : download;
        }
        bool to_stdout = strcmp(dest, "-") == 0;
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.part", dest);
        FILE *f = to_stdout ? stdout : fopen(tmp, "wb");
        if (!f) {
            fprintf(stderr, "error: cannot write %s: %s\n", tmp, strerror(errno));
            rc = EXIT_FAIL;
        } else {
            cvops_code code = cvops_experiment_download_artifact(cl, id, download, f);
            if (!to_stdout && fclose(f) != 0 && code == CVOPS_OK)
                code = CVOPS_E_IO;
            if (code != CVOPS_OK) {
                rc = cli_fail(cl, code);
                if (!to_stdout)
                    unlink(tmp);
            } else if (!to_stdout && rename(tmp, dest) != 0) {
                fprintf(stderr, "error: cannot write %s: %s\n", dest, strerror(errno));
                rc = EXIT_FAIL;
            }
        }
    } else {
        char path[1200];
        char *ep = cli_escape(prefix);
        snprintf(path, sizeof path, "/api/v1/experiments/%lld/artifacts?limit=10000%s%s",
                 (long long)id, ep ? "&prefix=" : "", ep ? ep : "");
        free(ep);
        json_t *j = cli_call(cl, "GET", path, NULL, &rc);
        if (j && c.json) {
            cli_print_json(j);
        } else if (j) {
            static const cli_col cols[] = {{"size", "SIZE"}, {"sha256", "SHA256"}, {"path", "PATH"}};
            cli_print_table(json_object_get(j, "items"), cols, 3);
        }
        json_decref(j);
    }
    cli_list_free(&uploads);
    cvops_client_free(cl);
    return rc;
}

static int exp_delete_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    int64_t id;
    cvops_client *cl = NULL;
    int rc = one_exp(argc, argv, "cvops experiment delete ID",
                     "Delete an experiment with its metrics, logs and artifact list.", &id, &c, &cl,
                     opts);
    if (rc != EXIT_OK)
        return rc == -2 ? EXIT_OK : rc;
    char path[80];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld", (long long)id);
    cvops_code code = cvops_call(cl, "DELETE", path, NULL, NULL);
    rc = code == CVOPS_OK ? EXIT_OK : cli_fail(cl, code);
    cvops_client_free(cl);
    return rc;
}

int cmd_experiment(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"create", exp_create_cmd, "create an experiment in a project"},
        {"list", exp_list_cmd, "the experiment table of a project"},
        {"show", exp_show_cmd, "show one experiment"},
        {"log", exp_log_cmd, "log metrics, parameters, values, status or output"},
        {"output", exp_output_cmd, "print (or follow) a run's text output"},
        {"compare", exp_compare_cmd, "compare experiments"},
        {"artifacts", exp_artifacts_cmd, "list, upload or download artifacts"},
        {"delete", exp_delete_cmd, "delete an experiment"},
        {"launch", cli_experiment_launch, "train it on the platform's trainer, with a progress bar"},
        {"cancel", cli_experiment_cancel, "cancel its platform training"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops experiment", argc, argv, sub);
}
