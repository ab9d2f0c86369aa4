/*
 * End to end: the sample custom processing of examples/processing/grayscale
 * (a Python script using the client's processing helpers) run by a separate
 * `cvops worker` process that declares the label the processing requires,
 * against the test server's store; and the `cvops processing` command line.
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "test_processing_util.h"

static void init(void)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0, "%s", e.msg);
}

TestSuite(procworker, .init = init, .timeout = 120);

static const char *repo(void)
{
    static char root[1024];
    snprintf(root, sizeof root, "%s", getenv("CVOPS_TEST_BIN"));
    for (int k = 0; k < 2; k++) {
        char *s = strrchr(root, '/');
        cr_assert_not_null(s);
        *s = 0;
    }
    return root;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    sbuf b = SBUF_INIT;
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        sbuf_put(&b, buf, k);
    fclose(f);
    sbuf_putc(&b, 0);
    return sbuf_detach(&b, NULL);
}

/* A worker process on the test server's store. */
static pid_t start_worker(const char *name, const char *labels, char *dir, size_t dn)
{
    snprintf(dir, dn, "/tmp/cvops-procworker.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char db[600], blobs[600], log[700];
    if (api_is_pg()) {
        snprintf(db, sizeof db, "%s", getenv("CVOPS_TEST_DB"));
        snprintf(blobs, sizeof blobs, "%s", getenv("CVOPS_TEST_BLOBS"));
    } else {
        snprintf(db, sizeof db, "sqlite:%s/cvops.db", getenv("CVOPS_TEST_DATA"));
        snprintf(blobs, sizeof blobs, "file:%s/blobs", getenv("CVOPS_TEST_DATA"));
    }
    snprintf(log, sizeof log, "%s/worker.log", dir);
    const char *args[] = {"worker",     "--data",     dir,    "--db",      db,
                          "--blobs",    blobs,        "--workers", "1",    "--poll-ms",
                          "50",         "--name",     name,   "--labels",  labels,
                          "--api-url",  getenv("CVOPS_TEST_URL"), NULL};
    return api_spawn(log, args);
}

static void stop_worker(pid_t pid, const char *dir)
{
    kill(pid, SIGTERM);
    int st = 0;
    waitpid(pid, &st, 0);
    char log[700];
    snprintf(log, sizeof log, "%s/worker.log", dir);
    char *text = slurp(log);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the worker did not stop cleanly:\n%s", text);
    cr_assert_null(strstr(text, "ERROR: AddressSanitizer"), "%s", text);
    cr_assert_null(strstr(text, "runtime error:"), "%s", text);
    free(text);
}

Test(procworker, example_runs_on_a_separate_worker_with_the_required_label)
{
    char label[64], wname[64], dir[300];
    snprintf(label, sizeof label, "%s", api_unique("e2e"));
    snprintf(wname, sizeof wname, "labelled-%s", label);
    char labels[200];
    snprintf(labels, sizeof labels, "%s,docker,gpu=2", label);
    /* the example, bundled, requiring the label; its Python package from the repository */
    char path[1200];
    snprintf(path, sizeof path, "%s/examples/processing/grayscale/manifest.json", repo());
    char *mt = slurp(path);
    snprintf(path, sizeof path, "%s/examples/processing/grayscale/grayscale.py", repo());
    char *script = slurp(path);
    json_t *m = json_loads(mt, 0, NULL);
    cr_assert_not_null(m);
    char pkg[1200];
    snprintf(pkg, sizeof pkg, "%s/clients/python", repo());
    json_object_set_new(m, "name", json_string(label));
    json_object_set_new(m, "requires", json_pack("[s, s]", label, "gpu=1"));
    json_object_set_new(m, "env", json_pack("{s:s}", "PYTHONPATH", pkg));
    json_object_set_new(m, "files", json_pack("[{s:s, s:s}]", "path", "grayscale.py", "sha256",
                                              upload_file(script, strlen(script))));
    char *body = json_dumps(m, 0);
    api_resp *r = api_admin("POST", "/api/v1/processings", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    api_free(r);
    free(body);
    json_decref(m);
    free(mt);
    free(script);
    /* a version of 3 images, two annotated */
    int64_t lake = new_lake(), data[3], assets[3];
    upload_images(lake, 3, 40, 30, "color", (uint64_t)lake, data);
    int64_t ds = new_dataset(NULL, lake);
    int64_t v = new_version(ds, "v1", "detection");
    add_all(v, 3, assets);
    new_label(v, "{\"name\":\"thing\"}");
    for (int i = 0; i < 2; i++)
        cr_assert_eq(st(annotate(NULL, assets[i], "{\"shapes\":[{\"kind\":\"box\",\"label\":\"thing\","
                                                  "\"box\":[4,5,10,12]}],\"status\":\"accepted\"}")),
                     200);
    char run[300];
    snprintf(run, sizeof run, "{\"on\":\"dataset-version:%lld\",\"params\":{\"version_name\":\"grey\","
                              "\"tag\":\"grey\"}}",
             (long long)v);
    int64_t job = launch(NULL, label, run);
    /* nobody runs it before the labelled worker exists */
    usleep(600000);
    api_resp *q = req(NULL, "GET", NULL, "/api/v1/jobs/%lld", (long long)job);
    cr_assert_str_eq(jstr(q->json, "state"), "queued");
    api_free(q);
    pid_t w = start_worker(wname, labels, dir, sizeof dir);
    json_t *j = wait_state(NULL, job, "succeeded", 90);
    cr_assert(str_has_prefix(jstr(j, "worker"), wname), "ran on %s", jstr(j, "worker"));
    json_t *outs = json_object_get(json_object_get(j, "result"), "outputs");
    cr_assert_eq(json_array_size(outs), 4, "three images and a version: %s", json_dumps(outs, 0));
    int64_t nv = output_version(j);
    json_decref(j);
    stop_worker(w, dir);
    cr_assert(log_has(job, "converted color0.bmp"), "print() goes to the log");
    cr_assert(log_has(job, "staged 3 grey images"), "job.log() goes to the log");
    cr_assert_eq(lake_count(lake, "tag = grey"), 3);
    json_t *items = assets_with_shapes(nv);
    cr_assert_eq(json_array_size(items), 3);
    int boxes = 0;
    for (size_t i = 0; i < 3; i++) {
        json_t *a = json_array_get(items, i);
        json_t *sh = json_object_get(a, "shapes");
        if (json_array_size(sh)) {
            boxes++;
            json_t *b = json_object_get(json_array_get(sh, 0), "box");
            cr_assert_float_eq(json_number_value(json_array_get(b, 2)), 10, 1e-9);
        }
        image_pixels px = item_pixels(jint(a, "data_id"));
        const uint8_t *p = px.data + 7 * px.stride + 9 * 3;
        cr_assert(p[0] == p[1] && p[1] == p[2], "grey pixels");
        image_pixels_free(&px);
    }
    cr_assert_eq(boxes, 2, "the annotations follow the grey copies");
    json_decref(items);
}

/* --- the command line ----------------------------------------------------------------------- */

typedef struct {
    int status;
    sbuf out, err;
} cli_res;

static void drain_fd(int fd, sbuf *b)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        sbuf_put(b, buf, (size_t)n);
    close(fd);
}

static cli_res cli(const char *const *args)
{
    int out[2], er[2];
    cr_assert_eq(pipe(out), 0);
    cr_assert_eq(pipe(er), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(er[1], 2);
        close(out[0]);
        close(er[0]);
        int n = 0;
        while (args[n])
            n++;
        char **argv = calloc((size_t)n + 6, sizeof *argv);
        argv[0] = getenv("CVOPS_TEST_BIN");
        for (int i = 0; i < n; i++)
            argv[i + 1] = (char *)args[i];
        setenv("CVOPS_SERVER", getenv("CVOPS_TEST_URL"), 1);
        setenv("CVOPS_TOKEN", api_admin_token(), 1);
        execv(argv[0], argv);
        _exit(127);
    }
    close(out[1]);
    close(er[1]);
    cli_res r = {0, SBUF_INIT, SBUF_INIT};
    drain_fd(out[0], &r.out);
    drain_fd(er[0], &r.err);
    int st;
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    sbuf_putc(&r.out, 0);
    sbuf_putc(&r.err, 0);
    return r;
}

static void cli_free(cli_res *r)
{
    sbuf_free(&r->out);
    sbuf_free(&r->err);
}

Test(procworker, command_line)
{
    cli_res r = cli((const char *[]){"processing", "list", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err.p);
    cr_assert_not_null(strstr(r.out.p, "augment"));
    cr_assert_not_null(strstr(r.out.p, "builtin"));
    cli_free(&r);
    r = cli((const char *[]){"processing", "show", "tile", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err.p);
    cr_assert_not_null(strstr(r.out.p, "tile_size"));
    cli_free(&r);
    /* create the hello example under a unique name, with its script */
    char path[1200], manifest[400], script[1200];
    snprintf(path, sizeof path, "%s/examples/processing/hello/manifest.json", repo());
    char *mt = slurp(path);
    json_t *m = json_loads(mt, 0, NULL);
    free(mt);
    char name[64];
    snprintf(name, sizeof name, "%s", api_unique("clihello"));
    json_object_set_new(m, "name", json_string(name));
    char *dir = strdup("/tmp/cvops-proccli.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(manifest, sizeof manifest, "%s/manifest.json", dir);
    cr_assert_eq(json_dump_file(m, manifest, 0), 0);
    json_decref(m);
    snprintf(script, sizeof script, "%s/examples/processing/hello/hello.sh", repo());
    r = cli((const char *[]){"processing", "create", manifest, "--file", script, NULL});
    cr_assert_eq(r.status, 0, "%s", r.err.p);
    cr_assert_not_null(strstr(r.out.p, "version 1"), "%s", r.out.p);
    cli_free(&r);
    int64_t lake = new_lake();
    char on[64];
    snprintf(on, sizeof on, "datalake:%lld", (long long)lake);
    r = cli((const char *[]){"processing", "run", name, "--on", on, "--param", "count=2", "--param",
                             "tag=fromcli", "--wait", NULL});
    cr_assert_eq(r.status, 0, "%s\n%s", r.out.p, r.err.p);
    cr_assert_not_null(strstr(r.out.p, "succeeded"), "%s", r.out.p);
    cli_free(&r);
    cr_assert_eq(lake_count(lake, "tag = fromcli"), 2);
    r = cli((const char *[]){"processing", "runs", "--processing", name, NULL});
    cr_assert_eq(r.status, 0, "%s", r.err.p);
    cr_assert_not_null(strstr(r.out.p, "succeeded"));
    cli_free(&r);
    /* errors: exit codes of docs/cli.md */
    r = cli((const char *[]){"processing", "run", "augment", "--on", "dataset-version:999999999", NULL});
    cr_assert_eq(r.status, 4, "not found: %s", r.err.p);
    cli_free(&r);
    r = cli((const char *[]){"processing", "run", name, "--on", on, "--param", "count", NULL});
    cr_assert_eq(r.status, 2, "%s", r.err.p);
    cli_free(&r);
    r = cli((const char *[]){"processing", "run", name, "--on", on, "--param", "count=500", NULL});
    cr_assert_eq(r.status, 2, "a 400 is a usage error: %s", r.err.p);
    cr_assert_not_null(strstr(r.err.p, "between 1 and 100"), "%s", r.err.p);
    cli_free(&r);
    unlink(manifest);
    rmdir(dir);
    free(dir);
}
