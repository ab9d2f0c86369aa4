/*
 * launch.c - `cvops experiment launch ID [options]` and `cvops experiment
 * cancel ID`: train an experiment on the platform's trainer and follow it
 * with a progress bar (docs/training.md).
 *
 * Options left out take the experiment's parameters, then the defaults;
 * --set KEY=VALUE passes any launch field (VALUE read as JSON when it is).
 * The command waits for the run to end (Ctrl-C stops waiting, not the run)
 * and prints its result; exit status 0 when it succeeded.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static json_t *read_json_file(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        fprintf(stderr, "error: %s: %s (line %d)\n", path, je.text, je.line);
    return j;
}

/* The run's summary after the wait. */
static void print_summary(json_t *run)
{
    json_t *v;
    printf("run %lld: %s", (long long)json_integer_value(json_object_get(run, "id")),
           json_string_value(json_object_get(run, "state")));
    printf(", %lld/%lld epochs", (long long)json_integer_value(json_object_get(run, "epoch")),
           (long long)json_integer_value(json_object_get(run, "epochs")));
    const char *task = json_string_value(json_object_get(json_object_get(run, "config"), "task"));
    bool det = task && strcmp(task, "detection") == 0;
    if (json_is_number(v = json_object_get(run, "best_val_acc")))
        printf(det ? ", best val mAP %.4f" : ", best val accuracy %.4f", json_number_value(v));
    if (json_is_number(v = json_object_get(run, "eval_accuracy")))
        printf(", %s accuracy %.4f", json_string_value(json_object_get(run, "eval_split")),
               json_number_value(v));
    printf("\n");
    const char *msg = json_string_value(json_object_get(run, "message"));
    if (msg && strcmp(json_string_value(json_object_get(run, "state")), "succeeded") != 0)
        printf("  %s\n", msg);
}

static int launch_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    const char *arch = NULL, *optim = NULL, *sched = NULL;
    int64_t depth = -1, size = -1, channels = -1, epochs = -1, batch = -1, warmup = -1, seed = -1;
    double width = NAN, lr = NAN, wd = NAN, pad = NAN, rotate = NAN, crop = NAN, max_s = NAN,
           budget = NAN;
    bool flip = false, vflip = false, resume = false, no_wait = false;
    cli_list sets = {0};
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"arch", 'a', OPT_STR, &arch, "NAME|FILE", "cnn, resnet, mobilenet, detector-nano, detector-small, or an architecture .json"},
        {"depth", 0, OPT_INT, &depth, "N", "family depth (resnet 10/18/34, cnn stages)"},
        {"width", 0, OPT_DBL, &width, "X", "width multiplier"},
        {"input-size", 0, OPT_INT, &size, "PX", "input side (default: from the images, at most 224)"},
        {"channels", 0, OPT_INT, &channels, "N", "1 (gray) or 3 (default: from the images)"},
        {"epochs", 'e', OPT_INT, &epochs, "N", "epochs"},
        {"batch", 'b', OPT_INT, &batch, "N", "batch size"},
        {"lr", 0, OPT_DBL, &lr, "X", "peak learning rate"},
        {"optim", 0, OPT_STR, &optim, "NAME", "adamw or sgd"},
        {"wd", 0, OPT_DBL, &wd, "X", "weight decay"},
        {"schedule", 0, OPT_STR, &sched, "KIND", "cosine, step or constant"},
        {"warmup", 0, OPT_INT, &warmup, "STEPS", "linear warmup steps"},
        {"flip", 0, OPT_FLAG, &flip, NULL, "random horizontal flips"},
        {"vflip", 0, OPT_FLAG, &vflip, NULL, "random vertical flips"},
        {"pad", 0, OPT_DBL, &pad, "PX", "random shifts up to PX pixels"},
        {"rotate", 0, OPT_DBL, &rotate, "DEG", "random rotations up to DEG degrees"},
        {"crop", 0, OPT_DBL, &crop, "S", "random resized crops of area fraction [S, 1]"},
        {"seed", 0, OPT_INT, &seed, "N", "random seed"},
        {"max-seconds", 0, OPT_DBL, &max_s, "S", "stop training after S seconds"},
        {"time-budget", 0, OPT_DBL, &budget, "S",
         "train S seconds, the schedule spread over them (epochs: an upper bound)"},
        {"resume", 'r', OPT_FLAG, &resume, NULL, "continue from the last checkpoint"},
        {"set", 0, OPT_LIST, &sets, "KEY=VALUE", "any launch field (repeat; VALUE as JSON if it is)"},
        {"no-wait", 0, OPT_FLAG, &no_wait, NULL, "return once the run is queued"},
        {NULL, 0, 0, NULL, NULL, NULL}};
    const char *usage = "cvops experiment launch ID [--arch A] [--epochs N] [--lr X] ... [--resume]";
    int npos = cli_parse(argc, argv, opts, usage,
                         "Train the experiment on the platform's trainer, on its train/val/test "
                         "dataset versions,\nand follow it with a progress bar. Options left out "
                         "take the experiment's parameters.");
    if (npos < 0)
        return npos == -2 ? EXIT_OK : EXIT_USAGE;
    if (npos != 1 || !is_id(argv[1])) {
        fprintf(stderr, "error: give one experiment id; usage: %s\n", usage);
        cli_list_free(&sets);
        return EXIT_USAGE;
    }
    int64_t id = strtoll(argv[1], NULL, 10);
    int rc = EXIT_USAGE;
    json_t *b = json_object(), *aug = json_object();
    cvops_client *cl = NULL;
    if (arch) {
        const char *dot = strrchr(arch, '.');
        if (dot && strcmp(dot, ".json") == 0) {
            json_t *a = read_json_file(arch);
            if (!a)
                goto out;
            json_object_set_new(b, "architecture", a);
        } else {
            json_object_set_new(b, "architecture", json_string(arch));
        }
    }
#define INT_OPT(v, k)                                                                              \
    if (v >= 0)                                                                                    \
        json_object_set_new(b, k, json_integer(v));
#define DBL_OPT(o, v, k)                                                                           \
    if (!isnan(v))                                                                                 \
        json_object_set_new(o, k, json_real(v));
    INT_OPT(depth, "depth")
    INT_OPT(size, "input_size")
    INT_OPT(channels, "channels")
    INT_OPT(epochs, "epochs")
    INT_OPT(batch, "batch_size")
    INT_OPT(warmup, "warmup_steps")
    INT_OPT(seed, "seed")
    DBL_OPT(b, width, "width")
    DBL_OPT(b, lr, "lr")
    DBL_OPT(b, wd, "weight_decay")
    DBL_OPT(b, max_s, "max_seconds")
    DBL_OPT(b, budget, "time_budget")
    DBL_OPT(aug, pad, "pad")
    DBL_OPT(aug, rotate, "rotate")
    DBL_OPT(aug, crop, "crop")
    if (optim)
        json_object_set_new(b, "optimizer", json_string(optim));
    if (sched)
        json_object_set_new(b, "schedule", json_string(sched));
    if (flip)
        json_object_set_new(aug, "hflip", json_true());
    if (vflip)
        json_object_set_new(aug, "vflip", json_true());
    if (resume)
        json_object_set_new(b, "resume", json_true());
    for (int i = 0; i < sets.n; i++) {
        const char *kv = sets.items[i], *eq = strchr(kv, '=');
        if (!eq || eq == kv) {
            fprintf(stderr, "error: --set '%s' must be KEY=VALUE\n", kv);
            goto out;
        }
        char *key = strndup(kv, (size_t)(eq - kv));
        json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
        if (!v)
            v = json_string(eq + 1);
        if (strncmp(key, "augmentation.", 13) == 0)
            json_object_set_new(aug, key + 13, v);
        else
            json_object_set_new(b, key, v);
        free(key);
    }
    if (json_object_size(aug))
        json_object_set(b, "augmentation", aug);
    cl = cli_connect(&c, true);
    if (!cl) {
        rc = EXIT_AUTH;
        goto out;
    }
    char path[96];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/launch", (long long)id);
    json_t *j = cli_call(cl, "POST", path, b, &rc);
    if (!j)
        goto out;
    json_t *run = json_object_get(j, "current");
    int64_t job = json_integer_value(json_object_get(run, "job_id"));
    if (!c.json || no_wait)
        fprintf(stderr, "experiment %lld: run %lld queued (job %lld)%s\n", (long long)id,
                (long long)json_integer_value(json_object_get(run, "id")), (long long)job,
                no_wait ? "" : "; Ctrl-C stops waiting, not the run");
    if (no_wait) {
        if (c.json)
            cli_print_json(run);
        json_decref(j);
        rc = EXIT_OK;
        goto out;
    }
    json_decref(j);
    char *out = NULL;
    cvops_code code = cvops_job_wait(cl, job, 0, c.json ? NULL : cli_progress, NULL, &out);
    cli_progress_done();
    cvops_free(out);
    if (code != CVOPS_OK) {
        rc = cli_fail(cl, code);
        goto out;
    }
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/training", (long long)id);
    j = cli_call(cl, "GET", path, NULL, &rc);
    if (!j)
        goto out;
    run = json_object_get(j, "current");
    if (c.json)
        cli_print_json(run);
    else
        print_summary(run);
    const char *st = json_string_value(json_object_get(run, "state"));
    rc = st && strcmp(st, "succeeded") == 0 ? EXIT_OK : EXIT_FAIL;
    json_decref(j);
out:
    json_decref(b);
    json_decref(aug);
    cli_list_free(&sets);
    cvops_client_free(cl);
    return rc;
}

static int cancel_cmd(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    const char *usage = "cvops experiment cancel ID";
    int npos = cli_parse(argc, argv, opts, usage,
                         "Cancel the experiment's platform training (it stops after its current "
                         "step;\nresume it later with cvops experiment launch ID --resume).");
    if (npos < 0)
        return npos == -2 ? EXIT_OK : EXIT_USAGE;
    if (npos != 1 || !is_id(argv[1])) {
        fprintf(stderr, "error: give one experiment id; usage: %s\n", usage);
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/experiments/%s/cancel", argv[1]);
    int rc;
    json_t *j = cli_call(cl, "POST", path, NULL, &rc);
    if (j && c.json)
        cli_print_json(json_object_get(j, "current"));
    else if (j)
        printf("experiment %s: cancel requested\n", argv[1]);
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

int cli_experiment_launch(int argc, char **argv) { return launch_cmd(argc, argv); }
int cli_experiment_cancel(int argc, char **argv) { return cancel_cmd(argc, argv); }
