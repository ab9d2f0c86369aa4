/*
 * deployment.c - `cvops deployment ...`: deployments, their drift, and
 * their pipeline (feedback, continuous training and deployment).
 *
 *   cvops deployment list | show ID | drift ID [--from MS --to MS --dataset-version V]
 *   cvops deployment predictions ID [--query Q] [--status S] [--limit N] [--cursor C]
 *   cvops deployment supervised ID
 *   cvops deployment pipeline show ID
 *   cvops deployment pipeline set ID --train V [--test V] [--project P] [--reviews N]
 *         [--policy champion|shadow|manual] [--metric accuracy|macro_f1] [--margin X]
 *         [--params JSON] [--feedback-version V] [--feedback-tag T ...]
 *   cvops deployment pipeline runs ID | train ID
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client_cli.h"

static int call_print(cli_conn *c, const char *method, const char *path, json_t *body,
                      const cli_col *cols, int ncols, const char *list_key)
{
    cvops_client *cl = cli_connect(c, true);
    if (!cl) {
        json_decref(body);
        return EXIT_AUTH;
    }
    int rc;
    json_t *j = cli_call(cl, method, path, body, &rc);
    if (j) {
        if (c->json || !cols)
            cli_print_json(j);
        else if (list_key)
            cli_print_table(json_object_get(j, list_key), cols, ncols);
        else
            cli_print_object(j, cols, ncols);
    }
    json_decref(j);
    json_decref(body);
    cvops_client_free(cl);
    return j ? EXIT_OK : rc;
}

static int one_id(int npos, char **argv, const char *usage, int64_t *id)
{
    char *end;
    if (npos != 1 || (*id = strtoll(argv[1], &end, 10)) <= 0 || *end) {
        fprintf(stderr, "error: usage: %s (ID: the deployment's id)\n", usage);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* A subcommand whose only argument is the deployment's id: METHOD on
 * path_fmt (one %lld, the id), printed with cols (or as JSON). */
static int by_id(int argc, char **argv, const char *usage, const char *desc, const char *method,
                 const char *path_fmt, const cli_col *cols, int ncols, const char *list_key)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE(usage, desc)
    int64_t id;
    int rc = one_id(npos, argv, usage, &id);
    if (rc)
        return rc;
    char path[160];
    snprintf(path, sizeof path, path_fmt, (long long)id);
    return call_print(&c, method, path, NULL, cols, ncols, list_key);
}

static int list(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops deployment list [--json]", "Deployments with their models and prediction counts.")
    (void)npos;
    static const cli_col cols[] = {{"id", "ID"}, {"name", "NAME"}, {"mode", "MODE"},
                                   {"champion_version_id", "CHAMPION"}, {"shadow_version_id", "SHADOW"},
                                   {"predictions", "PREDICTIONS"}};
    return call_print(&c, "GET", "/api/v1/deployments", NULL, cols, 6, "items");
}

static int show(int argc, char **argv)
{
    return by_id(argc, argv, "cvops deployment show ID [--json]", "One deployment.", "GET",
                 "/api/v1/deployments/%lld", NULL, 0, NULL);
}

static int drift(int argc, char **argv)
{
    cli_conn c = {0};
    int64_t from = 0, to = 0, version = 0;
    const cli_opt opts[] = {CLI_CONN_OPTS(c),
                            {"from", 0, OPT_INT, &from, "MS", "window start (ms since the epoch)"},
                            {"to", 0, OPT_INT, &to, "MS", "window end (ms since the epoch)"},
                            {"dataset-version", 0, OPT_INT, &version, "V",
                             "reference version (default: the champion's training version)"},
                            {NULL, 0, 0, NULL, NULL, NULL}};
    const char *usage = "cvops deployment drift ID [--from MS] [--to MS] [--dataset-version V]";
    PARSE(usage, "Kolmogorov-Smirnov drift per image feature and over the predicted labels, and "
                 "the outlier rate, against the training dataset version.")
    int64_t id;
    int rc = one_id(npos, argv, usage, &id);
    if (rc)
        return rc;
    char path[300];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/drift?from=%lld&to=%lld&dataset_version_id=%lld",
             (long long)id, (long long)from, (long long)to, (long long)version);
    if (c.json)
        return call_print(&c, "GET", path, NULL, NULL, 0, NULL);
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    cvops_client_free(cl);
    if (!j)
        return rc;
    json_t *ref = json_object_get(j, "reference");
    printf("reference: dataset version %lld, %lld images (model version %lld)\n",
           (long long)json_integer_value(json_object_get(ref, "dataset_version_id")),
           (long long)json_integer_value(json_object_get(ref, "images")),
           (long long)json_integer_value(json_object_get(ref, "model_version_id")));
    printf("window: %lld predictions\n\n%-12s %8s %10s %12s %12s\n",
           (long long)json_integer_value(json_object_get(json_object_get(j, "window"), "predictions")),
           "FEATURE", "KS", "P", "REFERENCE", "PRODUCTION");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(j, "features"), k, v)
    printf("%-12s %8.3f %10.2g %12.2f %12.2f\n", k, json_number_value(json_object_get(v, "ks")),
           json_number_value(json_object_get(v, "p_value")),
           json_number_value(json_object_get(v, "reference_mean")),
           json_number_value(json_object_get(v, "production_mean")));
    json_t *l = json_object_get(j, "labels");
    printf("%-12s %8.3f %10.2g\n", "labels", json_number_value(json_object_get(l, "ks")),
           json_number_value(json_object_get(l, "p_value")));
    json_t *o = json_object_get(j, "outliers");
    printf("\noutliers: %lld of %lld scored (%.1f%%, at or above percentile %g); out of the "
           "reference's range: %lld\n",
           (long long)json_integer_value(json_object_get(o, "outliers")),
           (long long)json_integer_value(json_object_get(o, "scored")),
           100 * json_number_value(json_object_get(o, "rate")),
           json_number_value(json_object_get(o, "percentile")),
           (long long)json_integer_value(json_object_get(o, "out_of_range")));
    json_decref(j);
    return EXIT_OK;
}

static int predictions(int argc, char **argv)
{
    cli_conn c = {0};
    const char *query = NULL, *status = NULL;
    int64_t limit = 50, cursor = 0;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"query", 'q', OPT_STR, &query, "Q",
         "query language: label = \"car\" and score < 0.5, status, created, latency, source, tag, "
         "meta.KEY, outlier, out_of_range, shadow, agree... (docs/operations.md)"},
        {"status", 0, OPT_STR, &status, "S", "to_review, reviewed or submitted"},
        {"limit", 0, OPT_INT, &limit, "N", "at most N (1..1000, default 50)"},
        {"cursor", 0, OPT_INT, &cursor, "C", "the next page: the next_cursor of the previous one"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    const char *usage = "cvops deployment predictions ID [--query Q] [--status S] [--limit N] [--cursor C]";
    PARSE(usage, "A deployment's predictions, newest first, filtered with the query language.")
    int64_t id;
    int rc = one_id(npos, argv, usage, &id);
    if (rc)
        return rc;
    char *eq = cli_escape(query ? query : ""), *es = cli_escape(status ? status : "");
    char path[9000];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/predictions?q=%s&limit=%lld&cursor=%lld%s%s",
             (long long)id, eq ? eq : "", (long long)limit, (long long)cursor, status ? "&status=" : "",
             status && es ? es : "");
    free(eq);
    free(es);
    static const cli_col cols[] = {{"id", "ID"},         {"at", "TIME"},         {"status", "STATUS"},
                                   {"top_label", "LABEL"}, {"top_score", "SCORE"}, {"objects", "OBJECTS"},
                                   {"latency_ms", "LATENCY_MS"}, {"source", "SOURCE"}};
    return call_print(&c, "GET", path, NULL, cols, 8, "items");
}

static int supervised(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    const char *usage = "cvops deployment supervised ID [--json]";
    PARSE(usage, "Champion and shadow against the reviews: accuracy, macro precision, recall "
                 "and F1, per class; for detectors, precision, recall and mAP box against box.")
    int64_t id;
    int rc = one_id(npos, argv, usage, &id);
    if (rc)
        return rc;
    char path[100];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/supervised", (long long)id);
    if (c.json)
        return call_print(&c, "GET", path, NULL, NULL, 0, NULL);
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    cvops_client_free(cl);
    if (!j)
        return rc;
    printf("%lld reviews\n%-9s %6s %9s %9s %9s %9s\n",
           (long long)json_integer_value(json_object_get(j, "reviews")), "MODEL", "N", "ACCURACY",
           "PRECISION", "RECALL", "F1");
    const char *who[2] = {"champion", "shadow"};
    for (int i = 0; i < 2; i++) {
        json_t *m = json_object_get(j, who[i]);
        printf("%-9s %6lld %9.4f %9.4f %9.4f %9.4f\n", who[i],
               (long long)json_integer_value(json_object_get(m, "n")),
               json_number_value(json_object_get(m, "accuracy")),
               json_number_value(json_object_get(m, "macro_precision")),
               json_number_value(json_object_get(m, "macro_recall")),
               json_number_value(json_object_get(m, "macro_f1")));
    }
    json_t *det = json_object_get(j, "detection");
    if (json_integer_value(json_object_get(json_object_get(det, "champion"), "images")) > 0) {
        printf("\ndetection: %lld reviewed images\n%-9s %6s %9s %9s %9s %9s\n",
               (long long)json_integer_value(json_object_get(json_object_get(det, "champion"), "images")),
               "MODEL", "IMAGES", "PRECISION", "RECALL", "MAP50", "MAP50-95");
        for (int i = 0; i < 2; i++) {
            json_t *m = json_object_get(det, who[i]);
            printf("%-9s %6lld %9.4f %9.4f %9.4f %9.4f\n", who[i],
                   (long long)json_integer_value(json_object_get(m, "images")),
                   json_number_value(json_object_get(m, "precision")),
                   json_number_value(json_object_get(m, "recall")),
                   json_number_value(json_object_get(m, "map_50")),
                   json_number_value(json_object_get(m, "map_50_95")));
        }
    }
    json_decref(j);
    return EXIT_OK;
}

/* --- pipeline -------------------------------------------------------------------- */

static const cli_col pipe_cols[] = {
    {"datasets", "datasets"},       {"feedback_version_id", "feedback version"},
    {"feedback_tags", "feedback tags"}, {"project_id", "project"},
    {"params", "params"},           {"reviews_to_train", "reviews to train"},
    {"policy", "policy"},           {"metric", "metric"},
    {"margin", "margin"},           {"pending_reviews", "pending reviews"},
    {"fed_back", "fed back"},       {"skipped", "skipped"},
    {"note", "note"}};

static int pipe_show(int argc, char **argv)
{
    return by_id(argc, argv, "cvops deployment pipeline show ID [--json]",
                 "The deployment's pipeline settings and feedback counters.", "GET",
                 "/api/v1/deployments/%lld/pipeline", pipe_cols, 13, NULL);
}

static int pipe_set(int argc, char **argv)
{
    cli_conn c = {0};
    int64_t train = 0, test = 0, project = 0, reviews = -1, fb = 0;
    const char *policy = NULL, *metric = NULL, *params = NULL;
    double margin = -2;
    cli_list tags = {0};
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"train", 0, OPT_INT, &train, "V", "the dataset version to train on (required)"},
        {"test", 0, OPT_INT, &test, "V", "a dataset version to test on"},
        {"project", 0, OPT_INT, &project, "P", "the project continuous-training experiments go to"},
        {"reviews", 0, OPT_INT, &reviews, "N", "new submitted reviews that start training (0: never)"},
        {"policy", 0, OPT_STR, &policy, "P", "champion, shadow or manual"},
        {"metric", 0, OPT_STR, &metric, "M", "accuracy or macro_f1 (policy champion)"},
        {"margin", 0, OPT_DBL, &margin, "X", "how much better than the champion (policy champion)"},
        {"params", 0, OPT_STR, &params, "JSON", "training parameters, e.g. '{\"epochs\":5}'"},
        {"feedback-version", 0, OPT_INT, &fb, "V", "where reviews go (default: the train version)"},
        {"feedback-tag", 0, OPT_LIST, &tags, "TAG", "tags of fed-back assets (repeat; default train)"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    const char *usage = "cvops deployment pipeline set ID --train V [options]";
    int npos = cli_parse(argc, argv, opts, usage,
                         "Configure the feedback loop, continuous training and deployment.");
    if (npos < 0) {
        cli_list_free(&tags);
        return npos == -2 ? EXIT_OK : EXIT_USAGE;
    }
    int64_t id;
    int rc = one_id(npos, argv, usage, &id);
    if (rc == EXIT_OK && train <= 0) {
        fprintf(stderr, "error: --train V is required (the dataset version to train on)\n");
        rc = EXIT_USAGE;
    }
    json_t *pj = NULL;
    if (rc == EXIT_OK && params) {
        json_error_t je;
        pj = json_loads(params, 0, &je);
        if (!json_is_object(pj)) {
            fprintf(stderr, "error: --params must be a JSON object: %s\n", pj ? "not an object" : je.text);
            rc = EXIT_USAGE;
        }
    }
    if (rc) {
        json_decref(pj);
        cli_list_free(&tags);
        return rc;
    }
    json_t *body = json_object(), *ds = json_object();
    json_object_set_new(ds, "train", json_integer(train));
    if (test > 0)
        json_object_set_new(ds, "test", json_integer(test));
    json_object_set_new(body, "datasets", ds);
    if (project > 0)
        json_object_set_new(body, "project_id", json_integer(project));
    if (reviews >= 0)
        json_object_set_new(body, "reviews_to_train", json_integer(reviews));
    if (policy)
        json_object_set_new(body, "policy", json_string(policy));
    if (metric)
        json_object_set_new(body, "metric", json_string(metric));
    if (margin > -2)
        json_object_set_new(body, "margin", json_real(margin));
    if (pj)
        json_object_set_new(body, "params", pj);
    if (fb > 0)
        json_object_set_new(body, "feedback_version_id", json_integer(fb));
    if (tags.n) {
        json_t *t = json_array();
        for (int i = 0; i < tags.n; i++)
            json_array_append_new(t, json_string(tags.items[i]));
        json_object_set_new(body, "feedback_tags", t);
    }
    cli_list_free(&tags);
    char path[100];
    snprintf(path, sizeof path, "/api/v1/deployments/%lld/pipeline", (long long)id);
    return call_print(&c, "PUT", path, body, pipe_cols, 13, NULL);
}

static int pipe_runs(int argc, char **argv)
{
    static const cli_col cols[] = {{"id", "ID"}, {"state", "STATE"}, {"reviews", "REVIEWS"},
                                   {"experiment_id", "EXPERIMENT"}, {"version_id", "VERSION"},
                                   {"candidate_value", "NEW"}, {"champion_value", "CHAMPION"},
                                   {"reason", "REASON"}};
    return by_id(argc, argv, "cvops deployment pipeline runs ID [--json]",
                 "Continuous training and deployment runs, newest first.", "GET",
                 "/api/v1/deployments/%lld/pipeline/runs", cols, 8, "items");
}

static int pipe_train(int argc, char **argv)
{
    static const cli_col cols[] = {{"pipeline_run_id", "pipeline run"}, {"job_id", "job"}};
    return by_id(argc, argv, "cvops deployment pipeline train ID [--json]",
                 "Start a continuous-training run now (from the champion).", "POST",
                 "/api/v1/deployments/%lld/pipeline/runs", cols, 2, NULL);
}

static int pipeline(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"show", pipe_show, "settings and feedback counters"},
        {"set", pipe_set, "configure feedback, continuous training and deployment"},
        {"runs", pipe_runs, "continuous training and deployment runs"},
        {"train", pipe_train, "start a continuous-training run now"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops deployment pipeline", argc, argv, sub);
}

int cmd_deployment(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"list", list, "list deployments"},
        {"show", show, "one deployment"},
        {"drift", drift, "drift and outliers against the training dataset version"},
        {"predictions", predictions, "predictions, filtered with the query language"},
        {"supervised", supervised, "champion and shadow against the reviews"},
        {"pipeline", pipeline, "feedback, continuous training and deployment"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops deployment", argc, argv, sub);
}
