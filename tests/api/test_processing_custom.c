/*
 * API tests of custom processings: definitions and their versions, the
 * line protocol (the shell example), outputs committed only on success,
 * the limits (timeout, a command that ignores SIGTERM, memory, output
 * size), crashes, cancel killing the whole process group, the job token's
 * scope, and the Python example run by a separate `cvops worker` whose
 * labels the processing requires.
 */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cvops/client.h"
#include "test_processing_util.h"

static void init(void)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0, "%s", e.msg);
}

TestSuite(custom, .init = init, .timeout = 90);

/* The repository (tests run with CVOPS_TEST_BIN = REPO/BUILD/cvops). */
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

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    sbuf b = SBUF_INIT;
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        sbuf_put(&b, buf, k);
    fclose(f);
    if (n)
        *n = b.len;
    sbuf_putc(&b, 0);
    return sbuf_detach(&b, NULL);
}

/* A bundled file: {path, sha256} of bytes uploaded now. */
static json_t *bundle(const char *path, const void *p, size_t n)
{
    return json_pack("{s:s, s:s}", "path", path, "sha256", upload_file(p, n));
}

static json_t *bundle_text(const char *path, const char *text)
{
    return bundle(path, text, strlen(text));
}

/* Defines a processing from a manifest (JSON object, stolen) whose "name"
 * is replaced by a unique one, with the bundled files (an array, stolen;
 * may be NULL). Returns the name (static storage per call: copy it). */
static const char *define(json_t *manifest, json_t *files)
{
    static char name[80];
    snprintf(name, sizeof name, "%s", api_unique("proc"));
    for (char *p = name; *p; p++)
        if (*p == '_')
            *p = '-';
    json_object_set_new(manifest, "name", json_string(name));
    if (json_array_size(files))
        json_object_set(manifest, "files", files);
    char *body = json_dumps(manifest, JSON_COMPACT);
    api_resp *r = api_admin("POST", "/api/v1/processings", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    free(body);
    api_free(r);
    json_decref(manifest);
    json_decref(files);
    return name;
}

/* A shell processing on a datalake running script (bundled as run.sh). */
static const char *define_sh(const char *target, const char *script, const char *resources)
{
    json_t *m = json_pack("{s:s, s:s, s:[s, s], s:[{s:s, s:s}]}", "name", "x", "target", target,
                          "command", "sh", "run.sh", "parameters", "name", "dir", "type", "string");
    if (resources)
        json_object_set_new(m, "resources", json_loads(resources, 0, NULL));
    return define(m, json_pack("[o]", bundle_text("run.sh", script)));
}

static bool process_gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    return p && (p[2] == 'Z' || p[2] == 'X'); /* a zombie waiting for init is gone too */
}

static pid_t read_pid(const char *dir, const char *file)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(path, "r");
        int pid = 0;
        if (f) {
            if (fscanf(f, "%d", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid > 0)
            return pid;
        usleep(25000);
    }
    cr_assert_fail("%s was not written", path);
    return 0;
}

static char *tmpdir(void)
{
    char *d = strdup("/tmp/cvops-proctest.XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    chmod(d, 0777);
    return d;
}

static void wait_log(int64_t job, const char *needle)
{
    for (int i = 0; i < 400; i++) {
        if (log_has(job, needle))
            return;
        usleep(25000);
    }
    cr_assert_fail("job %lld never logged '%s'", (long long)job, needle);
}

static int64_t run_on(const char *name, const char *kind, int64_t id, const char *params)
{
    char body[1200];
    snprintf(body, sizeof body, "{\"on\":\"%s:%lld\",\"params\":%s}", kind, (long long)id,
             params ? params : "{}");
    return launch(NULL, name, body);
}

static tbytes small_png(uint64_t seed)
{
    uint8_t *px = t_photo(40, 30, seed);
    tbytes b = t_encode(px, 40, 30, 3, ".png", 0);
    free(px);
    return b;
}

/* --- definitions -------------------------------------------------------------------- */

Test(custom, definitions_are_checked_and_versioned)
{
    struct {
        const char *manifest;
        long status;
        const char *needle;
    } bad[] = {
        {"{\"name\":\"Bad Name\",\"target\":\"datalake\",\"command\":\"true\"}", 400, "processing name"},
        {"{\"name\":\"nocmd\",\"target\":\"datalake\"}", 400, "needs a 'command'"},
        {"{\"name\":\"t\",\"target\":\"images\",\"command\":\"true\"}", 400, "target must be"},
        {"{\"name\":\"t\",\"target\":\"datalake\",\"command\":[]}", 400, "1 to 256 arguments"},
        {"{\"name\":\"t\",\"target\":\"datalake\",\"command\":\"true\",\"env\":{\"CVOPS_TOKEN\":\"x\"}}", 400, "set by the worker"},
        {"{\"name\":\"t\",\"target\":\"datalake\",\"command\":\"true\",\"files\":[{\"path\":\"../x\",\"sha256\":\"" "0000000000000000000000000000000000000000000000000000000000000000\"}]}", 400, "must be relative"},
        {"{\"name\":\"t\",\"target\":\"datalake\",\"command\":\"true\",\"files\":[{\"path\":\"x\",\"sha256\":\"" "0000000000000000000000000000000000000000000000000000000000000000\"}]}", 400, "upload it first"},
        {"{\"name\":\"t\",\"target\":\"datalake\",\"command\":\"true\",\"parameters\":[{\"name\":\"n\",\"type\":\"integer\",\"min\":5,\"default\":1}]}", 400, "between 5"},
        {"{\"name\":\"t\",\"target\":\"datalake\",\"command\":\"true\",\"parameters\":[{\"name\":\"n\",\"type\":\"float\"}]}", 400, "type must be"},
        {"{\"name\":\"t\",\"target\":\"datalake\",\"command\":\"true\",\"resources\":{\"timeout_s\":0}}", 400, "timeout_s"},
        {"{\"name\":\"t\",\"target\":\"datalake\",\"command\":\"true\",\"requires\":[\"gpu\",\"gpu\"]}", 400, "twice"},
        {"{\"name\":\"t\",\"target\":\"datalake\",\"command\":\"true\",\"colour\":1}", 400, "colour"},
        {"{\"name\":\"augment\",\"target\":\"datalake\",\"command\":\"true\"}", 409, "built-in"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        api_resp *r = api_admin("POST", "/api/v1/processings", bad[i].manifest);
        cr_assert_eq(r->status, bad[i].status, "%s -> %ld %s", bad[i].manifest, r->status, r->body.p);
        cr_assert_not_null(strstr(api_error_message(r), bad[i].needle), "%s: %s", bad[i].manifest,
                           api_error_message(r));
        api_free(r);
    }
    char name[80];
    snprintf(name, sizeof name, "%s", define_sh("datalake", "echo one", NULL));
    char body[300];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"target\":\"datalake\",\"command\":\"echo two\","
                                "\"requires\":[\"gpu\",\"mem=8G\"]}", name);
    api_resp *r = api_admin("POST", "/api/v1/processings", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    json_t *p = json_object_get(r->json, "processing");
    cr_assert_eq(jint(p, "version"), 2);
    cr_assert_str_eq(jstr(p, "requires"), "gpu,mem=8G");
    cr_assert_eq(jint(json_object_get(p, "resources"), "memory_mb"), 4096, "the default");
    cr_assert_eq(json_array_size(json_object_get(r->json, "versions")), 2);
    api_free(r);
    r = req(NULL, "GET", NULL, "/api/v1/processings/%s?version=1", name);
    cr_assert_eq(r->status, 200);
    json_t *cmd = json_object_get(json_object_get(r->json, "processing"), "command");
    cr_assert_str_eq(json_string_value(json_array_get(cmd, 0)), "sh", "version 1 is kept");
    api_free(r);
    /* a viewer may read the catalog but not define or run */
    char *viewer = api_user("viewer", NULL);
    cr_assert_eq(st(api_tok(viewer, "GET", "/api/v1/processings", NULL)), 200);
    cr_assert_eq(st(api_tok(viewer, "POST", "/api/v1/processings", body)), 403);
    free(viewer);
    /* archived: gone from the catalog, cannot run */
    cr_assert_eq(st(req(NULL, "DELETE", NULL, "/api/v1/processings/%s", name)), 204);
    cr_assert_eq(st(req(NULL, "GET", NULL, "/api/v1/processings/%s", name)), 404);
    cr_assert_eq(st(req(NULL, "POST", "{\"on\":\"datalake:1\"}", "/api/v1/processings/%s/run", name)), 404);
}

/* --- the line protocol, success and failure ------------------------------------------- */

/* examples/processing/hello: a shell script reporting on stdout only. */
Test(custom, hello_example_speaks_the_line_protocol)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/examples/processing/hello/manifest.json", repo());
    char *mtext = read_file(path, NULL);
    snprintf(path, sizeof path, "%s/examples/processing/hello/hello.sh", repo());
    char *script = read_file(path, NULL);
    const char *name = define(json_loads(mtext, 0, NULL), json_pack("[o]", bundle_text("hello.sh", script)));
    free(mtext);
    free(script);
    int64_t lake = new_lake();
    int64_t job = run_on(name, "datalake", lake, "{\"count\":3,\"tag\":\"hi\"}");
    json_t *j = wait_state(NULL, job, "succeeded", 60);
    json_t *res = json_object_get(j, "result");
    cr_assert_eq(jint(json_object_get(res, "reported"), "images"), 3);
    cr_assert_eq(json_array_size(json_object_get(res, "outputs")), 3);
    cr_assert_float_eq(json_number_value(json_object_get(j, "progress")), 1.0, 1e-9);
    json_decref(j);
    cr_assert_eq(lake_count(lake, "tag = hi and tag = noise"), 3);
    cr_assert(log_has(job, "making 3 images"), "stdout lines go to the log");
    cr_assert(log_has(job, "done"), "stderr lines go to the log");
    /* outputs are linked back to the run */
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/processing-runs/%lld", (long long)job);
    json_t *outs = json_object_get(r->json, "outputs");
    cr_assert_eq(json_array_size(outs), 3);
    cr_assert_str_eq(jstr(json_array_get(outs, 0), "state"), "committed");
    int64_t data = jint(json_object_get(json_array_get(outs, 0), "ref"), "id");
    api_free(r);
    json_t *item = item_json(data);
    char want[100];
    snprintf(want, sizeof want, "job %lld", (long long)job);
    cr_assert_not_null(strstr(jstr(item, "source"), want), "%s", jstr(item, "source"));
    json_decref(item);
}

/* Output lines are written to the log in batches: every line arrives, in
 * order, before the worker's closing line. */
Test(custom, every_output_line_reaches_the_log_in_order)
{
    const char *name = define_sh("datalake",
                                 "i=0; while [ $i -lt 700 ]; do echo \"n $i\"; i=$((i+1)); done\n"
                                 "echo tail >&2\n",
                                 NULL);
    int64_t job = run_on(name, "datalake", new_lake(), NULL);
    json_decref(wait_state(NULL, job, "succeeded", 60));
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/jobs/%lld/log?limit=1000", (long long)job);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    json_t *items = json_object_get(r->json, "items");
    int next = 0;
    int64_t seq = 0;
    bool tail = false, succeeded = false;
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        cr_assert_gt(jint(it, "seq"), seq, "sequence numbers grow");
        seq = jint(it, "seq");
        const char *line = jstr(it, "line");
        int v;
        if (sscanf(line, "n %d", &v) == 1) {
            cr_assert_eq(v, next, "line %d came where %d was expected", v, next);
            cr_assert(!succeeded);
            next++;
        } else if (strcmp(line, "tail") == 0) {
            cr_assert_eq(next, 700, "stderr's last line after stdout's (the command wrote it last)");
            tail = true;
        } else if (strstr(line, "the command succeeded")) {
            succeeded = true;
        }
    }
    api_free(r);
    cr_assert_eq(next, 700, "all 700 lines are in the log");
    cr_assert(tail && succeeded);
}

Test(custom, crash_fails_with_last_lines_and_leaves_no_outputs)
{
    tbytes png = small_png(1);
    int64_t lake = new_lake();
    const char *script = "echo '::output data pic.png staged'\n"
                         "echo 'working on it'\n"
                         "echo 'about to fail' >&2\n"
                         "exit 3\n";
    json_t *m = json_pack("{s:s, s:s, s:[s, s]}", "name", "x", "target", "datalake", "command",
                          "sh", "run.sh");
    const char *name = define(m, json_pack("[o, o]", bundle_text("run.sh", script),
                                           bundle("pic.png", png.p, png.n)));
    tb_free(&png);
    int64_t job = run_on(name, "datalake", lake, NULL);
    json_t *j = wait_state(NULL, job, "failed", 60);
    cr_assert_not_null(strstr(jstr(j, "error"), "exited with status 3"), "%s", jstr(j, "error"));
    cr_assert_not_null(strstr(jstr(j, "error"), "about to fail"), "%s", jstr(j, "error"));
    json_t *last = json_object_get(json_object_get(j, "result"), "last_lines");
    cr_assert_str_eq(json_string_value(json_array_get(last, json_array_size(last) - 1)), "about to fail");
    cr_assert_eq(jint(json_object_get(j, "result"), "exit_code"), 3);
    json_decref(j);
    cr_assert(log_has(job, "output staged: data"), "the output was staged before the crash");
    cr_assert_eq(lake_count(lake, ""), 0, "a failed run leaves no data");
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/processing-runs/%lld/outputs", (long long)job);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 0);
    api_free(r);
    /* a signal */
    const char *name2 = define_sh("datalake", "echo 'segfaulting'\nkill -SEGV $$\n", NULL);
    j = wait_state(NULL, run_on(name2, "datalake", lake, NULL), "failed", 60);
    cr_assert_not_null(strstr(jstr(j, "error"), "killed by signal 11 (SIGSEGV)"), "%s", jstr(j, "error"));
    json_decref(j);
    /* a command that cannot start */
    json_t *m3 = json_pack("{s:s, s:s, s:[s]}", "name", "x", "target", "datalake", "command",
                           "no-such-program-here");
    j = wait_state(NULL, run_on(define(m3, NULL), "datalake", lake, NULL), "failed", 60);
    cr_assert_not_null(strstr(jstr(j, "error"), "not found in PATH"), "%s", jstr(j, "error"));
    json_decref(j);
}

/* --- limits and cancel -------------------------------------------------------------------- */

Test(custom, timeout_ends_the_whole_process_group)
{
    char *dir = tmpdir();
    const char *name = define_sh("datalake",
                                 "d=$(printf '%s' \"$CVOPS_PARAMS\" | sed 's/.*\"dir\":\"\\([^\"]*\\)\".*/\\1/')\n"
                                 "sleep 30 &\necho $! > \"$d/child.pid\"\necho started\nsleep 30\n",
                                 "{\"timeout_s\":1,\"kill_grace_s\":1}");
    char params[400];
    snprintf(params, sizeof params, "{\"dir\":\"%s\"}", dir);
    int64_t t0 = time_mono_ns();
    int64_t job = run_on(name, "datalake", new_lake(), params);
    pid_t child = read_pid(dir, "child.pid");
    json_t *j = wait_state(NULL, job, "failed", 30);
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    cr_assert_not_null(strstr(jstr(j, "error"), "timed out after 1 s"), "%s", jstr(j, "error"));
    cr_assert_not_null(strstr(jstr(j, "error"), "started"), "the last lines: %s", jstr(j, "error"));
    cr_assert(json_is_true(json_object_get(json_object_get(j, "result"), "timed_out")));
    json_decref(j);
    cr_assert_lt(secs, 10, "took %.1f s", secs);
    for (int i = 0; i < 100 && !process_gone(child); i++)
        usleep(20000);
    cr_assert(process_gone(child), "the command's background child %d survived", (int)child);
    free(dir);
}

Test(custom, a_command_ignoring_sigterm_is_killed_after_the_grace)
{
    const char *name = define_sh("datalake", "trap '' TERM\necho stubborn\nsleep 30\n",
                                 "{\"timeout_s\":1,\"kill_grace_s\":1}");
    int64_t t0 = time_mono_ns();
    json_t *j = wait_state(NULL, run_on(name, "datalake", new_lake(), NULL), "failed", 30);
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    cr_assert_not_null(strstr(jstr(j, "error"), "SIGKILL"), "%s", jstr(j, "error"));
    cr_assert(json_is_true(json_object_get(json_object_get(j, "result"), "killed")));
    json_decref(j);
    cr_assert_lt(secs, 10, "took %.1f s", secs);
}

Test(custom, memory_limit_is_enforced)
{
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    json_t *m = json_pack("{s:s, s:s, s:[s, s, s], s:{s:i}}", "name", "x", "target", "datalake",
                          "command", py, "-c",
                          "print('allocating'); b = bytearray(1 << 30); print('should not get here')",
                          "resources", "memory_mb", 200);
    json_t *j = wait_state(NULL, run_on(define(m, NULL), "datalake", new_lake(), NULL),
                           "failed", 60);
    cr_assert_not_null(strstr(jstr(j, "error"), "memory limit of 200 MB"), "%s", jstr(j, "error"));
    cr_assert_null(strstr(jstr(j, "error"), "should not get here"));
    json_decref(j);
    /* the same within its limit succeeds */
    json_t *m2 = json_pack("{s:s, s:s, s:[s, s, s], s:{s:i}}", "name", "x", "target", "datalake",
                           "command", py, "-c", "b = bytearray(50 << 20); print('ok', len(b))",
                           "resources", "memory_mb", 400);
    json_decref(wait_state(NULL, run_on(define(m2, NULL), "datalake", new_lake(), NULL),
                           "succeeded", 60));
}

Test(custom, cancel_kills_the_process_group_and_drops_outputs)
{
    char *dir = tmpdir();
    tbytes png = small_png(2);
    int64_t lake = new_lake();
    const char *script =
        "d=$(printf '%s' \"$CVOPS_PARAMS\" | sed 's/.*\"dir\":\"\\([^\"]*\\)\".*/\\1/')\n"
        "echo '::output data pic.png staged'\n"
        "sleep 60 &\necho $! > \"$d/child.pid\"\necho ready\nsleep 60\n";
    json_t *m = json_pack("{s:s, s:s, s:[s, s], s:[{s:s, s:s}], s:{s:i}}", "name", "x", "target",
                          "datalake", "command", "sh", "run.sh", "parameters", "name", "dir", "type",
                          "string", "resources", "kill_grace_s", 1);
    const char *name = define(m, json_pack("[o, o]", bundle_text("run.sh", script),
                                           bundle("pic.png", png.p, png.n)));
    tb_free(&png);
    char params[400];
    snprintf(params, sizeof params, "{\"dir\":\"%s\"}", dir);
    int64_t job = run_on(name, "datalake", lake, params);
    pid_t child = read_pid(dir, "child.pid");
    wait_log(job, "ready");
    wait_log(job, "output staged");
    int64_t t0 = time_mono_ns();
    cr_assert_eq(st(req(NULL, "POST", NULL, "/api/v1/jobs/%lld/cancel", (long long)job)), 200);
    json_t *j = wait_state(NULL, job, "canceled", 30);
    json_decref(j);
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    cr_assert_lt(secs, 8, "cancel took %.1f s", secs);
    for (int i = 0; i < 100 && !process_gone(child); i++)
        usleep(20000);
    cr_assert(process_gone(child), "the command's background child %d survived the cancel", (int)child);
    cr_assert_eq(lake_count(lake, ""), 0, "a canceled run leaves no data");
    free(dir);
}

Test(custom, output_size_limit_stops_the_command)
{
    const char *script =
        "head -c 3000000 /dev/urandom > big.bin\n"
        "echo '::output {\"type\":\"model-version\",\"model\":\"too-big\",\"files\":[{\"path\":\"w.bin\",\"local\":\"big.bin\"}]}'\n"
        "echo 'still here'\nsleep 30\n";
    const char *name = define_sh("datalake", script, "{\"output_mb\":1,\"kill_grace_s\":1}");
    int64_t t0 = time_mono_ns();
    json_t *j = wait_state(NULL, run_on(name, "datalake", new_lake(), NULL), "failed", 30);
    cr_assert_not_null(strstr(jstr(j, "error"), "past the limit of 1 MB"), "%s", jstr(j, "error"));
    json_decref(j);
    cr_assert_lt((double)(time_mono_ns() - t0) / 1e9, 10);
    api_resp *r = api_admin("GET", "/api/v1/models?q=too-big", NULL);
    cr_assert_null(strstr(r->body.p, "\"too-big\""), "no model was made");
    api_free(r);
}

Test(custom, jobs_wait_for_a_worker_with_the_required_labels)
{
    const char *name = define_sh("datalake", "echo never", NULL);
    char body[200];
    snprintf(body, sizeof body, "{\"on\":\"datalake:%lld\",\"requires\":\"no-such-label,mem=1K\"}",
             (long long)new_lake());
    int64_t job = launch(NULL, name, body);
    usleep(1200000);
    api_resp *r = req(NULL, "GET", NULL, "/api/v1/jobs/%lld", (long long)job);
    cr_assert_str_eq(jstr(r->json, "state"), "queued", "no worker offers no-such-label");
    cr_assert_str_eq(jstr(r->json, "requires"), "no-such-label,mem=1K");
    cr_assert_not_null(strstr(jstr(r->json, "message"), "waiting for a worker with labels"));
    api_free(r);
    cr_assert_eq(st(req(NULL, "POST", NULL, "/api/v1/jobs/%lld/cancel", (long long)job)), 200);
}
