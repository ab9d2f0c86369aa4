/*
 * API tests of the token a custom processing's command gets: it reaches
 * the job's run and the job's input, nothing else of the organization, and
 * stops working when the job ends. The command here hands its environment
 * to the test and waits; the test uses the token as the command would,
 * through plain requests and through the C client's processing helpers,
 * and checks the staged outputs appear only once the run has succeeded.
 */
#include <sys/stat.h>

#include "cvops/client.h"
#include "test_processing_util.h"

static void init(void)
{
    err e;
    cr_assert_eq(image_lib_init(&e), 0, "%s", e.msg);
}

TestSuite(jobtoken, .init = init, .timeout = 90);

static char *slurp_wait(const char *dir, const char *file)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    for (int i = 0; i < 400; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            char buf[8192];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            if (n)
                return strdup(buf);
        }
        usleep(25000);
    }
    cr_assert_fail("%s was not written", path);
    return NULL;
}

static long tok_status(const char *tok, const char *method, const char *body, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static long tok_status(const char *tok, const char *method, const char *body, const char *fmt, ...)
{
    char path[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    api_resp *r = api_tok(tok, method, path, body);
    long s = r->status;
    api_free(r);
    return s;
}

Test(jobtoken, reaches_its_job_and_input_only_and_dies_with_the_job)
{
    /* the input: version V of lake A; elsewhere: lake B, version W */
    int64_t lake_a = new_lake(), lake_b = new_lake();
    int64_t data_a[2], data_b[1], assets[2];
    upload_images(lake_a, 2, 24, 16, "a", (uint64_t)lake_a, data_a);
    upload_images(lake_b, 1, 24, 16, "b", (uint64_t)lake_b, data_b);
    int64_t ds = new_dataset(NULL, lake_a);
    int64_t v = new_version(ds, "v1", "detection");
    add_all(v, 2, assets);
    new_label(v, "{\"name\":\"obj\"}");
    cr_assert_eq(st(annotate(NULL, assets[0],
                             "{\"shapes\":[{\"kind\":\"box\",\"label\":\"obj\",\"box\":[1,1,5,5]}]}")),
                 200);
    int64_t w = new_version(new_dataset(NULL, lake_b), "other", "detection");
    char *dir = strdup("/tmp/cvops-tokentest.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    chmod(dir, 0777);
    const char *script =
        "d=$(printf '%s' \"$CVOPS_PARAMS\" | sed 's/.*\"dir\":\"\\([^\"]*\\)\".*/\\1/')\n"
        "printf '%s' \"$CVOPS_INPUT\" > \"$d/input\"\n"
        "printf '%s' \"$CVOPS_URL\" > \"$d/url\"\n"
        "env | grep -c '^AWS_\\|^CVOPS_BOOTSTRAP\\|^CVOPS_TEST' > \"$d/leaked\" || true\n"
        "printf '%s' \"$CVOPS_TOKEN\" > \"$d/token\"\n"
        "i=0; while [ ! -e \"$d/go\" ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\n"
        "echo finished\n";
    json_t *m = json_pack("{s:s, s:s, s:[s, s], s:[{s:s, s:s}], s:[o]}", "name",
                          api_unique("tokenproc"), "target", "dataset-version", "command", "sh",
                          "run.sh", "parameters", "name", "dir", "type", "string", "files",
                          json_pack("{s:s, s:s}", "path", "run.sh", "sha256",
                                    upload_file(script, strlen(script))));
    char *mt = json_dumps(m, 0);
    api_resp *r = api_admin("POST", "/api/v1/processings", mt);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    char name[80];
    snprintf(name, sizeof name, "%s", jstr(json_object_get(r->json, "processing"), "name"));
    api_free(r);
    free(mt);
    json_decref(m);
    char body[600];
    snprintf(body, sizeof body, "{\"on\":\"dataset-version:%lld\",\"params\":{\"dir\":\"%s\"}}",
             (long long)v, dir);
    int64_t job = launch(NULL, name, body);
    char *tok = slurp_wait(dir, "token");
    char *input = slurp_wait(dir, "input");
    char *url = slurp_wait(dir, "url");
    char *leaked = slurp_wait(dir, "leaked");
    cr_assert_str_eq(url, getenv("CVOPS_TEST_URL"));
    cr_assert_eq(atoi(leaked), 0, "the worker's own environment must not reach the command");
    json_t *in = json_loads(input, 0, NULL);
    cr_assert_str_eq(jstr(in, "kind"), "dataset-version");
    cr_assert_eq(jint(in, "id"), v);
    cr_assert_eq(jint(in, "datalake_id"), lake_a);
    json_decref(in);

    /* its input and its own run */
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/dataset-versions/%lld", (long long)v), 200);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/dataset-versions/%lld/assets?shapes=1", (long long)v), 200);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/dataset-versions/%lld/labels", (long long)v), 200);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/data/%lld/original", (long long)data_a[0]), 200);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/data/%lld", (long long)data_a[1]), 200);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/assets/%lld/annotation", (long long)assets[0]), 200);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/processing-runs/%lld", (long long)job), 200);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/jobs/%lld", (long long)job), 200);
    /* nothing else */
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/dataset-versions/%lld", (long long)w), 403);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/data/%lld", (long long)data_b[0]), 403);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/data/%lld/original", (long long)data_b[0]), 403);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/datalakes/%lld/data", (long long)lake_b), 403);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/datasets"), 403);
    cr_assert_eq(tok_status(tok, "POST", "{\"name\":\"x\"}", "/api/v1/datasets"), 403);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/tokens"), 403);
    cr_assert_eq(tok_status(tok, "POST", "{\"name\":\"escape\"}", "/api/v1/tokens"), 403);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/me"), 403);
    cr_assert_eq(tok_status(tok, "DELETE", NULL, "/api/v1/dataset-versions/%lld", (long long)v), 403);
    cr_assert_eq(tok_status(tok, "PUT", "{\"shapes\":[]}", "/api/v1/assets/%lld/annotation", (long long)assets[0]), 403);
    cr_assert_eq(tok_status(tok, "POST", "{\"add\":[\"x\"],\"q\":\"\"}", "/api/v1/datalakes/%lld/tags", (long long)lake_a), 403);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/jobs/%lld", (long long)job + 1000000), 403);
    cr_assert_eq(tok_status(tok, "POST", "{\"progress\":0.1}", "/api/v1/processing-runs/%lld/progress", (long long)job + 1000000), 403);
    cr_assert_eq(tok_status(tok, "PUT", "abc", "/api/v1/files"), 403);
    cr_assert_eq(tok_status(tok, "POST", "{\"on\":\"dataset-version:1\"}", "/api/v1/processings/augment/run"), 403);
    api_resp *fr = api_tok(tok, "GET", "/api/v1/datasets", NULL);
    cr_assert_not_null(strstr(api_error_message(fr), "belongs to job"), "%s", api_error_message(fr));
    api_free(fr);

    /* what a command does with it, through the C client's helpers */
    cvops_client *cl = cvops_client_new(url, tok);
    cr_assert_eq(cvops_job_progress(cl, job, 0.5, "halfway, via C"), CVOPS_OK, "%s", cvops_client_errmsg(cl));
    const char *lines[] = {"a line from the C client", "and another"};
    cr_assert_eq(cvops_job_log(cl, job, lines, 2), CVOPS_OK, "%s", cvops_client_errmsg(cl));
    uint8_t *px = t_photo(32, 24, 77);
    tbytes png = t_encode(px, 32, 24, 3, ".png", 0);
    free(px);
    char file[400];
    snprintf(file, sizeof file, "%s/made.png", dir);
    FILE *f = fopen(file, "wb");
    cr_assert_eq(fwrite(png.p, 1, png.n, f), png.n);
    fclose(f);
    tb_free(&png);
    char sha[65];
    cr_assert_eq(cvops_job_upload(cl, job, file, sha), CVOPS_OK, "%s", cvops_client_errmsg(cl));
    char doc[1200];
    snprintf(doc, sizeof doc, "{\"type\":\"data\",\"sha256\":\"%s\",\"filename\":\"made.png\",\"tags\":[\"from-c\"]}", sha);
    char *out = NULL;
    cr_assert_eq(cvops_job_output(cl, job, doc, &out), CVOPS_OK, "%s", cvops_client_errmsg(cl));
    cvops_free(out);
    snprintf(doc, sizeof doc,
             "{\"type\":\"dataset-version\",\"name\":\"with-made\",\"from\":\"input\",\"sha256\":[\"%s\"],"
             "\"annotations\":[{\"sha256\":\"%s\",\"shapes\":[{\"kind\":\"box\",\"label\":\"obj\",\"box\":[2,2,8,8]}]}]}",
             sha, sha);
    cr_assert_eq(cvops_job_output(cl, job, doc, NULL), CVOPS_OK, "%s", cvops_client_errmsg(cl));
    snprintf(doc, sizeof doc, "{\"type\":\"tags\",\"data_ids\":[%lld],\"add\":[\"scoped\"]}", (long long)data_a[1]);
    cr_assert_eq(cvops_job_output(cl, job, doc, NULL), CVOPS_OK, "%s", cvops_client_errmsg(cl));
    /* refused outputs say why */
    cr_assert_eq(cvops_job_output(cl, job, "{\"type\":\"data\",\"sha256\":\"" 
                 "0000000000000000000000000000000000000000000000000000000000000000\"}", NULL), CVOPS_E_INVALID);
    cr_assert_eq(cvops_job_output(cl, job, "{\"type\":\"teleport\"}", NULL), CVOPS_E_INVALID);
    /* staged, not visible */
    cr_assert_eq(lake_count(lake_a, "tag = from-c"), 0);
    cr_assert_eq(lake_count(lake_a, "tag = scoped"), 0);
    cr_assert_eq(st(req(NULL, "GET", NULL, "/api/v1/files/%s", sha)), 404, "not readable before the commit");

    /* the command ends well: the outputs are written */
    char go[400];
    snprintf(go, sizeof go, "%s/go", dir);
    FILE *g = fopen(go, "w");
    fclose(g);
    json_t *j = wait_state(NULL, job, "succeeded", 60);
    json_t *outs = json_object_get(json_object_get(j, "result"), "outputs");
    cr_assert_eq(json_array_size(outs), 3, "%s", json_dumps(outs, 0));
    int64_t nv = output_version(j);
    json_decref(j);
    cr_assert(log_has(job, "a line from the C client"));
    cr_assert_eq(lake_count(lake_a, "tag = from-c"), 1);
    cr_assert_eq(lake_count(lake_a, "tag = scoped"), 1);
    cr_assert_eq(st(req(NULL, "GET", NULL, "/api/v1/files/%s", sha)), 200);
    cr_assert_eq(count_assets(nv, ""), 3, "a fork of the input plus the new item");
    cr_assert_eq(count_assets(nv, "label = obj"), 2);
    /* and the token is dead */
    api_resp *dead = api_tok(tok, "GET", "/api/v1/processing-runs", NULL);
    cr_assert_eq(dead->status, 401);
    api_free(dead);
    cr_assert_eq(tok_status(tok, "GET", NULL, "/api/v1/dataset-versions/%lld", (long long)v), 401);
    cr_assert_eq(cvops_job_progress(cl, job, 0.9, "too late"), CVOPS_E_AUTH);
    cvops_client_free(cl);
    free(tok);
    free(input);
    free(url);
    free(leaked);
    free(dir);
}
