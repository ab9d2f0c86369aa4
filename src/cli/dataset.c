/*
 * dataset.c - `cvops dataset ...`: datasets, versions (create, fork, lock),
 * assets, labels, splits, stats, and the import/export commands.
 *
 * Datasets and versions are named on the command line (--dataset NAME
 * --version NAME) and resolved to ids through the API. `import` creates
 * the dataset and the version when they do not exist yet.
 *
 * import: --images DIR first uploads the images into the dataset's
 * datalake with the same code as `cvops datalake upload` (hashing, skipping
 * what is there, parallel uploads); then the annotation file is uploaded
 * (a directory is packed into a tar first) and the server's import job is
 * followed with a progress bar. A failed import prints every problem the
 * server reported, with its location.
 *
 * export: the server's export job writes a file; it is downloaded to OUT
 * (a .json/.csv/.tar/.tar.gz/.zip file), or unpacked into OUT when OUT is a
 * directory (or has no such extension).
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "cli/client_cli.h"

#include "cli/dataset_validate.h"

/* --- names to ids ---------------------------------------------------------------------- */

static int find_in(cvops_client *cl, const char *path, const char *name, const char *what,
                   int64_t *id, json_t **obj)
{
    int rc;
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (!j)
        return rc;
    json_t *items = json_object_get(j, "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        const char *n = json_string_value(json_object_get(it, "name"));
        if (n && strcmp(n, name) == 0) {
            *id = json_integer_value(json_object_get(it, "id"));
            if (obj)
                *obj = json_incref(it);
            json_decref(j);
            return EXIT_OK;
        }
    }
    json_decref(j);
    (void)what;
    return EXIT_NOTFOUND;
}

static int dataset_id(cvops_client *cl, const char *name, int64_t *id, json_t **obj)
{
    int rc = find_in(cl, "/api/v1/datasets", name, "dataset", id, obj);
    if (rc == EXIT_NOTFOUND)
        fprintf(stderr, "error: no dataset named '%s'; see 'cvops dataset list'\n", name);
    return rc;
}

static int version_id(cvops_client *cl, const char *ds, const char *ver, int64_t *id)
{
    if (!ds || !ver) {
        fprintf(stderr, "error: name the version with --dataset NAME --version NAME\n");
        return EXIT_USAGE;
    }
    int64_t d;
    int rc = dataset_id(cl, ds, &d, NULL);
    if (rc)
        return rc;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/datasets/%lld/versions", (long long)d);
    rc = find_in(cl, path, ver, "version", id, NULL);
    if (rc == EXIT_NOTFOUND)
        fprintf(stderr, "error: dataset '%s' has no version '%s'; see 'cvops dataset versions %s'\n",
                ds, ver, ds);
    return rc;
}

#define VERSION_OPTS(ds, ver)                                                                      \
    {"dataset", 'D', OPT_STR, &(ds), "NAME", "the dataset"},                                       \
    {"version", 'V', OPT_STR, &(ver), "NAME", "the version"}

static void print_or_json(cli_conn *c, json_t *j, const cli_col *cols, int n)
{
    if (c->json)
        cli_print_json(j);
    else
        cli_print_object(j, cols, n);
}

/* --- datasets ------------------------------------------------------------------------------ */

static const cli_col ds_cols[] = {{"id", "ID"}, {"name", "NAME"}, {"datalake", "DATALAKE"},
                                  {"versions", "VERSIONS"}, {"description", "DESCRIPTION"}};
static const cli_col ver_cols[] = {{"id", "ID"},          {"name", "NAME"},
                                   {"task", "TASK"},      {"assets", "ASSETS"},
                                   {"annotated", "ANNOTATED"}, {"labels", "LABELS"},
                                   {"shapes", "SHAPES"},  {"locked", "LOCKED"},
                                   {"parent_id", "PARENT"}};

static int list(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset list [--json]", "List the organization's datasets.")
    (void)npos;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int rc;
    json_t *j = cli_call(cl, "GET", "/api/v1/datasets", NULL, &rc);
    if (j) {
        if (c.json)
            cli_print_json(j);
        else
            cli_print_table(json_object_get(j, "items"), ds_cols, 5);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int create(int argc, char **argv)
{
    cli_conn c = {0};
    const char *desc = NULL, *lake = NULL;
    const cli_opt opts[] = {CLI_CONN_OPTS(c),
                            {"datalake", 'd', OPT_STR, &lake, "NAME", "its datalake (default)"},
                            {"description", 0, OPT_STR, &desc, "TEXT", "what it is for"},
                            {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset create NAME [--datalake NAME] [--description TEXT]",
          "Create a dataset on a datalake.")
    if (npos != 1) {
        fprintf(stderr, "error: give the dataset's name\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    json_t *body = json_pack("{s:s}", "name", argv[1]);
    if (desc)
        json_object_set_new(body, "description", json_string(desc));
    if (lake)
        json_object_set_new(body, "datalake", json_string(lake));
    int rc;
    json_t *j = cli_call(cl, "POST", "/api/v1/datasets", body, &rc);
    json_decref(body);
    if (j)
        print_or_json(&c, j, ds_cols, 5);
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int delete_ds(int argc, char **argv)
{
    cli_conn c = {0};
    const char *ver = NULL;
    const cli_opt opts[] = {CLI_CONN_OPTS(c),
                            {"version", 'V', OPT_STR, &ver, "NAME", "delete only this version"},
                            {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset delete NAME [--version V]",
          "Delete a dataset (or one version): its assets and annotations go, the datalake's\n"
          "images stay. Refused while a version is locked.")
    if (npos != 1) {
        fprintf(stderr, "error: give the dataset's name\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t id;
    int rc = ver ? version_id(cl, argv[1], ver, &id) : dataset_id(cl, argv[1], &id, NULL);
    if (rc == EXIT_OK) {
        char path[96];
        snprintf(path, sizeof path, ver ? "/api/v1/dataset-versions/%lld" : "/api/v1/datasets/%lld",
                 (long long)id);
        json_t *j = cli_call(cl, "DELETE", path, NULL, &rc);
        if (j && !c.json)
            printf("deleted %s '%s%s%s'\n", ver ? "version" : "dataset", argv[1], ver ? "/" : "",
                   ver ? ver : "");
        else if (j)
            cli_print_json(j);
        json_decref(j);
    }
    cvops_client_free(cl);
    return rc;
}

static int versions(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset versions NAME [--json]", "List a dataset's versions.")
    if (npos != 1) {
        fprintf(stderr, "error: give the dataset's name\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t id;
    int rc = dataset_id(cl, argv[1], &id, NULL);
    if (rc == EXIT_OK) {
        char path[96];
        snprintf(path, sizeof path, "/api/v1/datasets/%lld/versions", (long long)id);
        json_t *j = cli_call(cl, "GET", path, NULL, &rc);
        if (j) {
            if (c.json)
                cli_print_json(j);
            else
                cli_print_table(json_object_get(j, "items"), ver_cols, 9);
        }
        json_decref(j);
    }
    cvops_client_free(cl);
    return rc;
}

static int version_new(int argc, char **argv)
{
    cli_conn c = {0};
    const char *ds = NULL, *task = NULL, *desc = NULL;
    const cli_opt opts[] = {CLI_CONN_OPTS(c),
                            {"dataset", 'D', OPT_STR, &ds, "NAME", "the dataset"},
                            {"task", 0, OPT_STR, &task, "TASK", "classification, detection, segmentation, keypoints, multi"},
                            {"description", 0, OPT_STR, &desc, "TEXT", "what changed"},
                            {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset version --dataset D NAME [--task T] [--description TEXT]",
          "Create an empty version of a dataset.")
    if (npos != 1 || !ds) {
        fprintf(stderr, "error: give --dataset and the version's name\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t id;
    int rc = dataset_id(cl, ds, &id, NULL);
    if (rc == EXIT_OK) {
        char path[96];
        snprintf(path, sizeof path, "/api/v1/datasets/%lld/versions", (long long)id);
        json_t *body = json_pack("{s:s}", "name", argv[1]);
        if (task)
            json_object_set_new(body, "task", json_string(task));
        if (desc)
            json_object_set_new(body, "description", json_string(desc));
        json_t *j = cli_call(cl, "POST", path, body, &rc);
        json_decref(body);
        if (j)
            print_or_json(&c, j, ver_cols, 9);
        json_decref(j);
    }
    cvops_client_free(cl);
    return rc;
}

static int fork_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    const char *ds = NULL, *ver = NULL, *q = NULL;
    bool no_ann = false, no_labels = false, no_tags = false;
    const cli_opt opts[] = {CLI_CONN_OPTS(c), VERSION_OPTS(ds, ver),
                            {"no-annotations", 0, OPT_FLAG, &no_ann, NULL, "do not copy annotations"},
                            {"no-labels", 0, OPT_FLAG, &no_labels, NULL, "do not copy labels (implies --no-annotations)"},
                            {"no-tags", 0, OPT_FLAG, &no_tags, NULL, "do not copy asset tags"},
                            {"query", 'q', OPT_STR, &q, "QUERY", "copy only the assets matching QUERY"},
                            {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset fork --dataset D --version V NEW_NAME [--no-annotations] [--no-labels]\n"
          "                   [--no-tags] [--query Q]",
          "Fork a version: a new version with the same assets (and labels, annotations, tags).")
    if (npos != 1) {
        fprintf(stderr, "error: give the new version's name\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t id;
    int rc = version_id(cl, ds, ver, &id);
    if (rc == EXIT_OK) {
        char path[96];
        snprintf(path, sizeof path, "/api/v1/dataset-versions/%lld/fork", (long long)id);
        json_t *body = json_pack("{s:s, s:b, s:b, s:b}", "name", argv[1], "labels", !no_labels,
                                 "annotations", !no_ann && !no_labels, "tags", !no_tags);
        if (q)
            json_object_set_new(body, "q", json_string(q));
        json_t *j = cli_call(cl, "POST", path, body, &rc);
        json_decref(body);
        if (j)
            print_or_json(&c, j, ver_cols, 9);
        json_decref(j);
    }
    cvops_client_free(cl);
    return rc;
}

static int lock_set(int argc, char **argv, bool lock)
{
    cli_conn c = {0};
    const char *ds = NULL, *ver = NULL;
    const cli_opt opts[] = {CLI_CONN_OPTS(c), VERSION_OPTS(ds, ver), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE(lock ? "cvops dataset lock --dataset D --version V" : "cvops dataset unlock --dataset D --version V",
          lock ? "Lock a version: every change to it is refused until it is unlocked."
               : "Unlock a version.")
    (void)npos;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t id;
    int rc = version_id(cl, ds, ver, &id);
    if (rc == EXIT_OK) {
        char path[96];
        snprintf(path, sizeof path, "/api/v1/dataset-versions/%lld/lock", (long long)id);
        json_t *j = cli_call(cl, lock ? "POST" : "DELETE", path, NULL, &rc);
        if (j && c.json)
            cli_print_json(j);
        else if (j)
            printf("%s/%s is %s\n", ds, ver, lock ? "locked" : "unlocked");
        json_decref(j);
    }
    cvops_client_free(cl);
    return rc;
}

static int lock(int argc, char **argv) { return lock_set(argc, argv, true); }
static int unlock(int argc, char **argv) { return lock_set(argc, argv, false); }

/* --- assets, labels, split, stats --------------------------------------------------------------- */

static int add(int argc, char **argv)
{
    cli_conn c = {0};
    const char *ds = NULL, *ver = NULL, *q = NULL;
    const cli_opt opts[] = {CLI_CONN_OPTS(c), VERSION_OPTS(ds, ver),
                            {"query", 'q', OPT_STR, &q, "QUERY", "datalake items matching QUERY (\"\" for all)"},
                            {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset add --dataset D --version V (--query Q | DATA_ID...)",
          "Add datalake items to a version (references, not copies).")
    if ((npos == 0) == !q) {
        fprintf(stderr, "error: give --query or data ids (one of them)\n");
        return EXIT_USAGE;
    }
    json_t *body = json_object();
    if (q) {
        json_object_set_new(body, "q", json_string(q));
    } else {
        json_t *ids = json_array();
        for (int i = 1; i <= npos; i++)
            json_array_append_new(ids, json_integer(strtoll(argv[i], NULL, 10)));
        json_object_set_new(body, "data_ids", ids);
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl) {
        json_decref(body);
        return EXIT_AUTH;
    }
    int64_t id;
    int rc = version_id(cl, ds, ver, &id);
    if (rc == EXIT_OK) {
        char path[96];
        snprintf(path, sizeof path, "/api/v1/dataset-versions/%lld/assets", (long long)id);
        json_t *j = cli_call(cl, "POST", path, body, &rc);
        if (j && c.json)
            cli_print_json(j);
        else if (j)
            printf("%lld added, %lld already there\n",
                   (long long)json_integer_value(json_object_get(j, "added")),
                   (long long)json_integer_value(json_object_get(j, "already_there")));
        json_decref(j);
    }
    json_decref(body);
    cvops_client_free(cl);
    return rc;
}

static int assets(int argc, char **argv)
{
    cli_conn c = {0};
    const char *ds = NULL, *ver = NULL;
    int64_t limit = 50;
    const cli_opt opts[] = {CLI_CONN_OPTS(c), VERSION_OPTS(ds, ver),
                            {"limit", 'n', OPT_INT, &limit, "N", "how many (50)"},
                            {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset assets --dataset D --version V [QUERY] [--limit N] [--json]",
          "List a version's assets matching a query, e.g.\n"
          "  cvops dataset assets -D cars -V v1 'label = car and status = accepted and data.width >= 640'")
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t id;
    int rc = version_id(cl, ds, ver, &id);
    if (rc == EXIT_OK) {
        char *q = cli_escape(npos >= 1 ? argv[1] : "");
        char path[8192];
        snprintf(path, sizeof path, "/api/v1/dataset-versions/%lld/assets?limit=%lld&q=%s", (long long)id,
                 (long long)limit, q);
        free(q);
        json_t *j = cli_call(cl, "GET", path, NULL, &rc);
        if (j && c.json) {
            cli_print_json(j);
        } else if (j) {
            const cli_col cols[] = {{"id", "ID"},          {"filename", "FILENAME"},
                                    {"width", "WIDTH"},    {"height", "HEIGHT"},
                                    {"tags", "TAGS"},      {"annotation.status", "STATUS"},
                                    {"annotation.objects", "OBJECTS"}};
            cli_print_table(json_object_get(j, "items"), cols, 7);
        }
        json_decref(j);
    }
    cvops_client_free(cl);
    return rc;
}

static int labels(int argc, char **argv)
{
    cli_conn c = {0};
    const char *ds = NULL, *ver = NULL, *color = NULL, *group = NULL, *kp = NULL, *sk = NULL;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c), VERSION_OPTS(ds, ver),
        {"color", 0, OPT_STR, &color, "#RRGGBB", "with a name: create the label with this color"},
        {"group", 0, OPT_STR, &group, "GROUP", "with a name: its group (COCO supercategory)"},
        {"keypoints", 0, OPT_STR, &kp, "A,B,C", "with a name: vertex names of a keypoint label"},
        {"skeleton", 0, OPT_STR, &sk, "1-2,2-3", "with a name: edges between vertices (1-based)"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset labels --dataset D --version V [NAME [--color C] [--group G]\n"
          "                     [--keypoints A,B,C --skeleton 1-2,2-3]]",
          "List a version's labels, or create one when a NAME is given.")
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t id;
    int rc = version_id(cl, ds, ver, &id);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/dataset-versions/%lld/labels", (long long)id);
    const cli_col cols[] = {{"id", "ID"}, {"name", "NAME"}, {"color", "COLOR"}, {"group", "GROUP"},
                            {"objects", "OBJECTS"}, {"images", "IMAGES"}, {"keypoints", "KEYPOINTS"}};
    if (rc == EXIT_OK && npos == 0) {
        json_t *j = cli_call(cl, "GET", path, NULL, &rc);
        if (j && c.json)
            cli_print_json(j);
        else if (j)
            cli_print_table(json_object_get(j, "items"), cols, 7);
        json_decref(j);
    } else if (rc == EXIT_OK) {
        json_t *body = json_pack("{s:s}", "name", argv[1]);
        if (color)
            json_object_set_new(body, "color", json_string(color));
        if (group)
            json_object_set_new(body, "group", json_string(group));
        if (kp) {
            json_t *a = json_array();
            char *t = strdup(kp), *save = NULL;
            for (char *s = strtok_r(t, ",", &save); s; s = strtok_r(NULL, ",", &save))
                json_array_append_new(a, json_string(s));
            free(t);
            json_object_set_new(body, "keypoints", a);
        }
        if (sk) {
            json_t *a = json_array();
            char *t = strdup(sk), *save = NULL;
            for (char *s = strtok_r(t, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
                int x = 0, y = 0;
                if (sscanf(s, "%d-%d", &x, &y) != 2) {
                    fprintf(stderr, "error: --skeleton edges are A-B pairs, got '%s'\n", s);
                    rc = EXIT_USAGE;
                }
                json_array_append_new(a, json_pack("[ii]", x, y));
            }
            free(t);
            json_object_set_new(body, "skeleton", a);
        }
        if (rc == EXIT_OK) {
            json_t *j = cli_call(cl, "POST", path, body, &rc);
            if (j)
                print_or_json(&c, j, cols, 7);
            json_decref(j);
        }
        json_decref(body);
    }
    cvops_client_free(cl);
    return rc;
}

static void print_counts(json_t *obj)
{
    const char *k;
    json_t *v;
    int i = 0;
    json_object_foreach(obj, k, v) printf("%s%s %lld", i++ ? ", " : "", k, (long long)json_integer_value(v));
}

static int split(int argc, char **argv)
{
    cli_conn c = {0};
    const char *ds = NULL, *ver = NULL, *q = NULL;
    cli_list ratios = {0};
    int64_t seed = 0;
    const cli_opt opts[] = {CLI_CONN_OPTS(c), VERSION_OPTS(ds, ver),
                            {"ratio", 'r', OPT_LIST, &ratios, "NAME=R", "a split and its ratio (repeatable; default train=0.8 val=0.1 test=0.1)"},
                            {"seed", 's', OPT_INT, &seed, "N", "random seed (0)"},
                            {"query", 'q', OPT_STR, &q, "QUERY", "split only the assets matching QUERY"},
                            {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset split --dataset D --version V [--ratio NAME=R]... [--seed N] [--query Q]",
          "Split a version's assets, stratified by label, into tagged parts.")
    (void)npos;
    json_t *body = json_pack("{s:I}", "seed", (json_int_t)seed);
    if (q)
        json_object_set_new(body, "q", json_string(q));
    if (ratios.n) {
        json_t *r = json_object();
        for (int i = 0; i < ratios.n; i++) {
            const char *eq = strchr(ratios.items[i], '=');
            if (!eq || eq == ratios.items[i]) {
                fprintf(stderr, "error: --ratio '%s' must be NAME=RATIO\n", ratios.items[i]);
                json_decref(body);
                json_decref(r);
                cli_list_free(&ratios);
                return EXIT_USAGE;
            }
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(eq - ratios.items[i]), ratios.items[i]);
            json_object_set_new(r, name, json_real(strtod(eq + 1, NULL)));
        }
        json_object_set_new(body, "ratios", r);
    }
    cli_list_free(&ratios);
    cvops_client *cl = cli_connect(&c, true);
    if (!cl) {
        json_decref(body);
        return EXIT_AUTH;
    }
    int64_t id;
    int rc = version_id(cl, ds, ver, &id);
    if (rc == EXIT_OK) {
        char path[96];
        snprintf(path, sizeof path, "/api/v1/dataset-versions/%lld/split", (long long)id);
        json_t *j = cli_call(cl, "POST", path, body, &rc);
        if (j && c.json) {
            cli_print_json(j);
        } else if (j) {
            json_t *sp = json_object_get(j, "splits");
            for (size_t i = 0; i < json_array_size(sp); i++) {
                json_t *s = json_array_get(sp, i);
                printf("%-10s %6lld assets (%.1f%%): ", json_string_value(json_object_get(s, "name")),
                       (long long)json_integer_value(json_object_get(s, "assets")),
                       100 * json_number_value(json_object_get(s, "fraction")));
                print_counts(json_object_get(s, "labels"));
                printf("\n");
            }
        }
        json_decref(j);
    }
    json_decref(body);
    cvops_client_free(cl);
    return rc;
}

static int stats(int argc, char **argv)
{
    cli_conn c = {0};
    const char *ds = NULL, *ver = NULL;
    const cli_opt opts[] = {CLI_CONN_OPTS(c), VERSION_OPTS(ds, ver), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset stats --dataset D --version V [--json]",
          "Counts per label, split and status; box size and aspect histograms.")
    (void)npos;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t id;
    int rc = version_id(cl, ds, ver, &id);
    if (rc == EXIT_OK) {
        char path[96];
        snprintf(path, sizeof path, "/api/v1/dataset-versions/%lld/stats", (long long)id);
        json_t *j = cli_call(cl, "GET", path, NULL, &rc);
        if (j && c.json) {
            cli_print_json(j);
        } else if (j) {
            printf("assets %lld, annotated %lld, objects %lld\nstatus: ",
                   (long long)json_integer_value(json_object_get(j, "assets")),
                   (long long)json_integer_value(json_object_get(j, "annotated")),
                   (long long)json_integer_value(json_object_get(j, "objects")));
            print_counts(json_object_get(j, "status"));
            printf("\n\nlabels\n");
            const cli_col lc[] = {{"name", "NAME"}, {"objects", "OBJECTS"}, {"images", "IMAGES"}};
            cli_print_table(json_object_get(j, "labels"), lc, 3);
            json_t *sp = json_object_get(j, "splits");
            for (size_t i = 0; i < json_array_size(sp); i++) {
                printf("\nsplit %s\n", json_string_value(json_object_get(json_array_get(sp, i), "name")));
                cli_print_table(json_object_get(json_array_get(sp, i), "labels"), lc, 3);
            }
            const char *hists[] = {"box_sizes", "box_aspects", "coco_sizes"};
            const cli_col hc[] = {{"bucket", "BUCKET"}, {"count", "COUNT"}};
            for (int i = 0; i < 3; i++) {
                printf("\n%s\n", hists[i]);
                cli_print_table(json_object_get(j, hists[i]), hc, 2);
            }
        }
        json_decref(j);
    }
    cvops_client_free(cl);
    return rc;
}

/* --- import ------------------------------------------------------------------------------------- */

/* Packs a directory into a tar file (names relative to it). */
static int add_tree(struct archive *a, const char *root, const char *rel)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s%s", root, *rel ? "/" : "", rel);
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "error: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    char buf[1 << 16];
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        if (rc || nm[0] == '.') {
            free(ents[i]);
            continue;
        }
        char r2[4096], full[8192];
        snprintf(r2, sizeof r2, "%s%s%s", rel, *rel ? "/" : "", nm);
        snprintf(full, sizeof full, "%s/%s", root, r2);
        struct stat st;
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = add_tree(a, root, r2);
        } else if (S_ISREG(st.st_mode)) {
            struct archive_entry *e = archive_entry_new();
            archive_entry_set_pathname(e, r2);
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_perm(e, 0644);
            archive_entry_set_size(e, st.st_size);
            archive_write_header(a, e);
            archive_entry_free(e);
            int fd = open(full, O_RDONLY | O_CLOEXEC);
            ssize_t k;
            while (fd >= 0 && (k = read(fd, buf, sizeof buf)) > 0)
                archive_write_data(a, buf, (size_t)k);
            if (fd >= 0)
                close(fd);
            else
                rc = -1;
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

static int pack_dir(const char *dir, char *out, size_t n)
{
    const char *t = getenv("TMPDIR");
    snprintf(out, n, "%s/cvops-import-XXXXXX", t ? t : "/tmp");
    int fd = mkstemp(out);
    if (fd < 0) {
        fprintf(stderr, "error: cannot create a temporary file: %s\n", strerror(errno));
        return -1;
    }
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_open_fd(a, fd);
    int rc = add_tree(a, dir, "");
    archive_write_close(a);
    archive_write_free(a);
    close(fd);
    if (rc)
        unlink(out);
    return rc;
}

static void print_problems(json_t *job)
{
    json_t *res = json_object_get(job, "result");
    json_t *p = json_object_get(res, "problems");
    if (!json_array_size(p))
        return;
    fprintf(stderr, "%lld problem(s):\n", (long long)json_integer_value(json_object_get(res, "problems_total")));
    for (size_t i = 0; i < json_array_size(p); i++)
        fprintf(stderr, "  %s: %s\n", json_string_value(json_object_get(json_array_get(p, i), "where")),
                json_string_value(json_object_get(json_array_get(p, i), "message")));
    if ((json_int_t)json_array_size(p) < json_integer_value(json_object_get(res, "problems_total")))
        fprintf(stderr, "  ... (the first %zu are listed)\n", json_array_size(p));
}

/* Follows a job with a progress bar; returns it (caller frees) or NULL. */
static json_t *follow(cvops_client *cl, cli_conn *c, json_t *job, int *rc)
{
    int64_t id = json_integer_value(json_object_get(job, "id"));
    char *out = NULL;
    cvops_code code = cvops_job_wait(cl, id, 0, c->json ? NULL : cli_progress, NULL, &out);
    cli_progress_done();
    if (code != CVOPS_OK) {
        *rc = cli_fail(cl, code);
        return NULL;
    }
    json_t *j = json_loads(out, 0, NULL);
    cvops_free(out);
    const char *st = json_string_value(json_object_get(j, "state"));
    *rc = st && strcmp(st, "succeeded") == 0 ? EXIT_OK : EXIT_FAIL;
    return j;
}

/* Finds the version, creating the dataset and the version if needed. */
static int version_or_create(cvops_client *cl, const char *ds, const char *ver, const char *lake,
                             int64_t *id, char *lake_name, size_t ln)
{
    int64_t d;
    json_t *obj = NULL;
    int rc = find_in(cl, "/api/v1/datasets", ds, "dataset", &d, &obj);
    if (rc == EXIT_NOTFOUND) {
        json_t *body = json_pack("{s:s}", "name", ds);
        if (lake)
            json_object_set_new(body, "datalake", json_string(lake));
        obj = cli_call(cl, "POST", "/api/v1/datasets", body, &rc);
        json_decref(body);
        if (!obj)
            return rc;
        d = json_integer_value(json_object_get(obj, "id"));
        fprintf(stderr, "created dataset '%s'\n", ds);
    } else if (rc) {
        return rc;
    }
    snprintf(lake_name, ln, "%s", json_string_value(json_object_get(obj, "datalake")));
    json_decref(obj);
    char path[96];
    snprintf(path, sizeof path, "/api/v1/datasets/%lld/versions", (long long)d);
    rc = find_in(cl, path, ver, "version", id, NULL);
    if (rc != EXIT_NOTFOUND)
        return rc;
    json_t *body = json_pack("{s:s}", "name", ver);
    json_t *j = cli_call(cl, "POST", path, body, &rc);
    json_decref(body);
    if (!j)
        return rc;
    *id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    fprintf(stderr, "created version '%s/%s'\n", ds, ver);
    return EXIT_OK;
}

static int import(int argc, char **argv)
{
    cli_conn c = {0};
    const char *ds = NULL, *ver = NULL, *format = NULL, *images = NULL, *mode = NULL,
               *status = NULL, *lake = NULL, *split_name = NULL;
    bool skip = false;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c), VERSION_OPTS(ds, ver),
        {"format", 'f', OPT_STR, &format, "FORMAT", "coco, yolo, voc, folder, csv"},
        {"images", 'i', OPT_STR, &images, "DIR", "upload these images into the dataset's datalake first"},
        {"mode", 'm', OPT_STR, &mode, "MODE", "replace (default), keep or merge existing annotations"},
        {"skip-invalid", 0, OPT_FLAG, &skip, NULL, "import the valid part and report the rest"},
        {"status", 0, OPT_STR, &status, "STATUS", "status of the imported annotations (accepted)"},
        {"datalake", 'd', OPT_STR, &lake, "NAME", "datalake of a dataset created by this import"},
        {"split", 0, OPT_STR, &split_name, "SPLIT", "YOLO: read only this split of data.yaml"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset import --dataset D --version V --format F [--images DIR] FILE_OR_DIR\n"
          "                     [--mode replace|keep|merge] [--skip-invalid] [--status S]",
          "Import annotations into a version (created if needed). Images are matched to the\n"
          "datalake by content or file name; --images DIR uploads them first. All or nothing:\n"
          "on any problem nothing changes and every problem is listed with its location.")
    if (npos != 1 || !ds || !ver || !format) {
        fprintf(stderr, "error: give --dataset, --version, --format and the file or directory\n");
        return EXIT_USAGE;
    }
    struct stat st;
    if (stat(argv[1], &st) != 0) {
        fprintf(stderr, "error: %s: %s\n", argv[1], strerror(errno));
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t vid;
    char lake_name[128] = "default";
    int rc = version_or_create(cl, ds, ver, lake, &vid, lake_name, sizeof lake_name);
    if (rc) {
        cvops_client_free(cl);
        return rc;
    }
    if (images) {
        /* the datalake's own upload: hashing, skipping what is there, parallel */
        char *up[] = {"datalake", "upload", (char *)images, "--datalake", lake_name, "--server",
                      (char *)c.server, "--token", (char *)c.token, NULL};
        fprintf(stderr, "uploading the images of %s into datalake '%s'\n", images, lake_name);
        int urc = cmd_datalake(9, up);
        if (urc == EXIT_INTERRUPTED) {
            cvops_client_free(cl);
            return urc;
        }
        if (urc != EXIT_OK)
            fprintf(stderr, "warning: some images were not uploaded; the import will name them\n");
    }
    char packed[600] = "";
    const char *file = argv[1];
    if (S_ISDIR(st.st_mode)) {
        if (pack_dir(argv[1], packed, sizeof packed)) {
            cvops_client_free(cl);
            return EXIT_FAIL;
        }
        file = packed;
    }
    char *out = NULL;
    cvops_code code = cvops_upload_file(cl, "PUT", "/api/v1/files", file, "application/octet-stream", &out);
    if (packed[0])
        unlink(packed);
    if (code != CVOPS_OK) {
        rc = cli_fail(cl, code);
        cvops_client_free(cl);
        return rc;
    }
    json_t *up = json_loads(out, 0, NULL);
    cvops_free(out);
    json_t *body = json_pack("{s:s, s:s, s:b}", "file", json_string_value(json_object_get(up, "sha256")),
                             "format", format, "skip_invalid", skip);
    json_decref(up);
    if (mode)
        json_object_set_new(body, "mode", json_string(mode));
    if (status)
        json_object_set_new(body, "status", json_string(status));
    if (split_name)
        json_object_set_new(body, "split", json_string(split_name));
    char path[96];
    snprintf(path, sizeof path, "/api/v1/dataset-versions/%lld/import", (long long)vid);
    json_t *job = cli_call(cl, "POST", path, body, &rc);
    json_decref(body);
    json_t *j = job ? follow(cl, &c, job, &rc) : NULL;
    json_decref(job);
    if (j && c.json) {
        cli_print_json(j);
    } else if (j) {
        json_t *res = json_object_get(j, "result");
        if (rc == EXIT_OK)
            printf("imported %lld images and %lld shapes into %s/%s\n",
                   (long long)json_integer_value(json_object_get(res, "images")),
                   (long long)json_integer_value(json_object_get(res, "shapes")), ds, ver);
        else
            fprintf(stderr, "error: %s\n", json_string_value(json_object_get(j, "error")));
        print_problems(j);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

/* --- export ------------------------------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int extract_to(const char *archive_path, const char *dir)
{
    struct archive *a = archive_read_new(), *w = archive_write_disk_new();
    archive_read_support_format_all(a);
    archive_read_support_filter_all(a);
    /* entries are checked to be relative below, then put under dir */
    archive_write_disk_set_options(w, ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
    int rc = 0;
    if (archive_read_open_filename(a, archive_path, 1 << 16) != ARCHIVE_OK) {
        fprintf(stderr, "error: cannot read the export: %s\n", archive_error_string(a));
        rc = -1;
    }
    struct archive_entry *e;
    while (rc == 0 && archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (!name || name[0] == '/') {
            fprintf(stderr, "error: the export holds an absolute path; not unpacked\n");
            rc = -1;
            break;
        }
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", dir, name);
        archive_entry_set_pathname(e, p);
        if (archive_write_header(w, e) != ARCHIVE_OK) {
            fprintf(stderr, "error: %s\n", archive_error_string(w));
            rc = -1;
            break;
        }
        const void *buf;
        size_t size;
        la_int64_t off;
        while (archive_read_data_block(a, &buf, &size, &off) == ARCHIVE_OK)
            archive_write_data_block(w, buf, size, off);
        archive_write_finish_entry(w);
    }
    archive_read_free(a);
    archive_write_free(w);
    return rc;
}

static int export(int argc, char **argv)
{
    cli_conn c = {0};
    const char *ds = NULL, *ver = NULL, *format = NULL, *q = NULL, *archive = NULL,
               *split_name = NULL;
    bool with_images = false, keep_ids = false;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c), VERSION_OPTS(ds, ver),
        {"format", 'f', OPT_STR, &format, "FORMAT", "coco, yolo, voc, folder, csv"},
        {"images", 0, OPT_FLAG, &with_images, NULL, "include the images"},
        {"keep-category-ids", 0, OPT_FLAG, &keep_ids, NULL,
         "COCO: the category ids of the imported file instead of 1..K"},
        {"query", 'q', OPT_STR, &q, "QUERY", "only the assets matching QUERY"},
        {"archive", 'a', OPT_STR, &archive, "KIND", "tar, tar.gz or zip (default from OUT's name)"},
        {"split", 0, OPT_STR, &split_name, "SPLIT", "YOLO: the split directory to write"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset export --dataset D --version V --format F [--images] [--query Q]\n"
          "       [--keep-category-ids] OUT",
          "Export a version. OUT ending in .json/.csv/.tar/.tar.gz/.zip is written as that\n"
          "file; otherwise OUT is a directory the export is unpacked into.")
    if (npos != 1 || !format) {
        fprintf(stderr, "error: give --format and OUT\n");
        return EXIT_USAGE;
    }
    const char *out_path = argv[1];
    bool to_dir = !(ends_with(out_path, ".json") || ends_with(out_path, ".csv") ||
                    ends_with(out_path, ".tar") || ends_with(out_path, ".tar.gz") ||
                    ends_with(out_path, ".tgz") || ends_with(out_path, ".zip"));
    if (!archive) {
        if (ends_with(out_path, ".zip"))
            archive = "zip";
        else if (ends_with(out_path, ".tar.gz") || ends_with(out_path, ".tgz"))
            archive = "tar.gz";
        else if (ends_with(out_path, ".tar") || to_dir)
            archive = to_dir && !with_images ? NULL : "tar";
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t id;
    int rc = version_id(cl, ds, ver, &id);
    if (rc) {
        cvops_client_free(cl);
        return rc;
    }
    json_t *body = json_pack("{s:s, s:b}", "format", format, "images", with_images);
    if (q)
        json_object_set_new(body, "q", json_string(q));
    if (archive)
        json_object_set_new(body, "archive", json_string(archive));
    if (split_name)
        json_object_set_new(body, "split", json_string(split_name));
    if (keep_ids)
        json_object_set_new(body, "keep_category_ids", json_true());
    char path[600];
    snprintf(path, sizeof path, "/api/v1/dataset-versions/%lld/export", (long long)id);
    json_t *job = cli_call(cl, "POST", path, body, &rc);
    json_decref(body);
    json_t *j = job ? follow(cl, &c, job, &rc) : NULL;
    json_decref(job);
    if (j && rc != EXIT_OK)
        fprintf(stderr, "error: %s\n", json_string_value(json_object_get(j, "error")));
    json_t *res = j ? json_object_get(j, "result") : NULL;
    if (rc == EXIT_OK && res) {
        const char *sha = json_string_value(json_object_get(res, "file"));
        const char *name = json_string_value(json_object_get(res, "filename"));
        char tmp[600] = "";
        const char *target = out_path;
        bool unpack = false;
        if (to_dir) {
            mkdir(out_path, 0755);
            bool single = name && !(ends_with(name, ".tar") || ends_with(name, ".zip") ||
                                    ends_with(name, ".tar.gz"));
            if (single) {
                snprintf(tmp, sizeof tmp, "%s/%s", out_path, name);
                target = tmp;
            } else {
                const char *t = getenv("TMPDIR");
                snprintf(tmp, sizeof tmp, "%s/cvops-export-XXXXXX", t ? t : "/tmp");
                int fd = mkstemp(tmp);
                if (fd >= 0)
                    close(fd);
                target = tmp;
                unpack = true;
            }
        }
        FILE *f = fopen(target, "wb");
        if (!f) {
            fprintf(stderr, "error: %s: %s\n", target, strerror(errno));
            rc = EXIT_FAIL;
        } else {
            snprintf(path, sizeof path, "/api/v1/files/%s", sha);
            cvops_code code = cvops_download(cl, path, f);
            if (fclose(f) != 0 && code == CVOPS_OK)
                code = CVOPS_E_IO;
            if (code != CVOPS_OK)
                rc = cli_fail(cl, code);
        }
        if (unpack) {
            if (rc == EXIT_OK && extract_to(tmp, out_path))
                rc = EXIT_FAIL;
            unlink(tmp);
        }
        if (rc == EXIT_OK && c.json)
            cli_print_json(j);
        else if (rc == EXIT_OK)
            printf("exported %lld images and %lld shapes to %s\n",
                   (long long)json_integer_value(json_object_get(res, "images")),
                   (long long)json_integer_value(json_object_get(res, "shapes")), out_path);
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

/* --- pre-annotate --------------------------------------------------------------------------------- */

/* A model by name or id, and one of its versions by number or alias -> the
 * version's id. */
static int model_version_ref(cvops_client *cl, const char *model, const char *ver, int64_t *id)
{
    char *end;
    long long mid = strtoll(model, &end, 10);
    int rc;
    if (!(*model && !*end && mid > 0)) {
        char *q = cli_escape(model);
        char path[400];
        snprintf(path, sizeof path, "/api/v1/models?q=%s", q);
        free(q);
        json_t *j = cli_call(cl, "GET", path, NULL, &rc);
        if (!j)
            return rc;
        mid = 0;
        json_t *items = json_object_get(j, "items");
        for (size_t i = 0; i < json_array_size(items); i++) {
            const char *n = json_string_value(json_object_get(json_array_get(items, i), "name"));
            if (n && strcmp(n, model) == 0)
                mid = json_integer_value(json_object_get(json_array_get(items, i), "id"));
        }
        json_decref(j);
        if (!mid) {
            fprintf(stderr, "error: no model named '%s'; see 'cvops model list'\n", model);
            return EXIT_NOTFOUND;
        }
    }
    char *r = cli_escape(ver);
    char path[400];
    snprintf(path, sizeof path, "/api/v1/models/%lld/versions/%s", mid, r);
    free(r);
    json_t *j = cli_call(cl, "GET", path, NULL, &rc);
    if (!j)
        return rc;
    *id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    return EXIT_OK;
}

static int pre_annotate(int argc, char **argv)
{
    cli_conn c = {0};
    const char *ds = NULL, *ver = NULL, *model = NULL, *mver = NULL, *q = NULL, *file = NULL;
    int64_t exp = 0, max_det = 0;
    double score = -1, nms = -1;
    bool replace = false;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c), VERSION_OPTS(ds, ver),
        {"experiment", 'e', OPT_INT, &exp, "ID", "the experiment whose checkpoint predicts"},
        {"model", 'm', OPT_STR, &model, "NAME", "a registry model (name or id) ..."},
        {"model-version", 'n', OPT_STR, &mver, "N", "... and its version (number or alias)"},
        {"file", 0, OPT_STR, &file, "PATH", "the checkpoint among the artifacts / files"},
        {"query", 'q', OPT_STR, &q, "QUERY", "only the assets matching QUERY"},
        {"score", 's', OPT_DBL, &score, "S", "smallest score written (0.25)"},
        {"nms", 0, OPT_DBL, &nms, "IOU", "NMS IoU threshold (0.6)"},
        {"max-detections", 0, OPT_INT, &max_det, "N", "most boxes per image (100)"},
        {"replace-pending", 0, OPT_FLAG, &replace, NULL, "also replace pending annotations that have shapes"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops dataset pre-annotate --dataset D --version V (--experiment E | --model M\n"
          "                           --model-version N) [--query Q] [--score S] [--replace-pending]",
          "Predict with a trained detector (or classifier) on the version's assets and write the\n"
          "predictions as pending annotations with their scores. Accepted, rejected and skipped\n"
          "annotations are never touched. Waits for the job with a progress bar.")
    if (npos != 0 || !ds || !ver || (!exp == !model) || (model && !mver)) {
        fprintf(stderr, "error: give --dataset, --version and the model: --experiment ID, or "
                        "--model NAME --model-version N\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int64_t vid, mv = 0;
    int rc = version_id(cl, ds, ver, &vid);
    if (rc == EXIT_OK && model)
        rc = model_version_ref(cl, model, mver, &mv);
    if (rc) {
        cvops_client_free(cl);
        return rc;
    }
    json_t *body = json_object();
    if (exp)
        json_object_set_new(body, "experiment_id", json_integer(exp));
    else
        json_object_set_new(body, "model_version_id", json_integer(mv));
    if (file)
        json_object_set_new(body, "file", json_string(file));
    if (q)
        json_object_set_new(body, "query", json_string(q));
    if (score >= 0)
        json_object_set_new(body, "score_threshold", json_real(score));
    if (nms >= 0)
        json_object_set_new(body, "nms_threshold", json_real(nms));
    if (max_det > 0)
        json_object_set_new(body, "max_detections", json_integer(max_det));
    if (replace)
        json_object_set_new(body, "replace_pending", json_true());
    char path[96];
    snprintf(path, sizeof path, "/api/v1/dataset-versions/%lld/pre-annotate", (long long)vid);
    json_t *job = cli_call(cl, "POST", path, body, &rc);
    json_decref(body);
    json_t *j = job ? follow(cl, &c, job, &rc) : NULL;
    json_decref(job);
    if (j && c.json) {
        cli_print_json(j);
    } else if (j) {
        json_t *res = json_object_get(j, "result");
        if (rc == EXIT_OK) {
            printf("pre-annotated %lld of %lld images with %lld shapes (%s)\n",
                   (long long)json_integer_value(json_object_get(res, "annotated")),
                   (long long)json_integer_value(json_object_get(res, "images")),
                   (long long)json_integer_value(json_object_get(res, "shapes")),
                   json_string_value(json_object_get(res, "model")));
            printf("kept: %lld reviewed (accepted, rejected, skipped), %lld pending with shapes; "
                   "%lld without detections, %lld unreadable\n",
                   (long long)json_integer_value(json_object_get(res, "kept_reviewed")),
                   (long long)json_integer_value(json_object_get(res, "kept_pending")),
                   (long long)json_integer_value(json_object_get(res, "without_detections")),
                   (long long)json_integer_value(json_object_get(res, "unreadable")));
            json_t *lc = json_object_get(res, "labels_created");
            for (size_t i = 0; i < json_array_size(lc); i++)
                printf("created label '%s'\n",
                       json_string_value(json_object_get(json_array_get(lc, i), "name")));
        } else {
            fprintf(stderr, "error: %s\n", json_string_value(json_object_get(j, "error")));
        }
    }
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

int cmd_dataset(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"list", list, "list datasets"},
        {"create", create, "create a dataset"},
        {"delete", delete_ds, "delete a dataset or a version"},
        {"versions", versions, "list a dataset's versions"},
        {"version", version_new, "create a version"},
        {"fork", fork_cmd, "fork a version"},
        {"lock", lock, "lock a version"},
        {"unlock", unlock, "unlock a version"},
        {"add", add, "add datalake items to a version"},
        {"assets", assets, "list a version's assets matching a query"},
        {"labels", labels, "list or create labels"},
        {"split", split, "stratified split into tagged parts"},
        {"stats", stats, "a version's statistics"},
        {"import", import, "import annotations (COCO, YOLO, VOC, folder, CSV)"},
        {"export", export, "export a version"},
        {"pre-annotate", pre_annotate, "pending annotations predicted by a trained model"},
        {"validate", cmd_dataset_validate, "check an annotation file without importing it"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops dataset", argc, argv, sub);
}
