/*
 * API tests of the model registry: models, versions from files and from
 * experiments (lineage), files, aliases and their log, isolation.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "base/util.h"

static const char *jstr(json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }
static int64_t jint(json_t *j, const char *k) { return json_integer_value(json_object_get(j, k)); }

static char *upload(const char *data)
{
    api_opts o = {.token = api_admin_token(), .body = data, .content_type = "application/octet-stream"};
    api_resp *r = api_do("PUT", "/api/v1/files", &o);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    char *sha = strdup(jstr(r->json, "sha256"));
    api_free(r);
    return sha;
}

static int64_t new_model(const char *extra)
{
    char body[300];
    snprintf(body, sizeof body, "{\"name\":\"%s\"%s}", api_unique("model-"), extra ? extra : "");
    api_resp *r = api_admin("POST", "/api/v1/models", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t id = jint(r->json, "id");
    api_free(r);
    return id;
}

Test(registry, models_and_versions_from_files)
{
    api_resp *r = api_admin("POST", "/api/v1/models", "{\"name\":\"m\",\"task_type\":\"telepathy\"}");
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "task_type"));
    api_free(r);
    int64_t m = new_model(",\"task_type\":\"detection\",\"tags\":[\"prod\"]");
    char path[160];
    snprintf(path, sizeof path, "/api/v1/models/%lld", (long long)m);
    r = api_admin("GET", path, NULL);
    char name[80];
    snprintf(name, sizeof name, "%s", jstr(r->json, "name"));
    api_free(r);
    char body[600];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
    r = api_admin("POST", "/api/v1/models", body);
    cr_assert_eq(r->status, 409, "names are unique");
    api_free(r);

    char *w = upload("pretend weights v1"), *a = upload("{\"layers\": []}");
    snprintf(path, sizeof path, "/api/v1/models/%lld/versions", (long long)m);
    snprintf(body, sizeof body,
             "{\"framework\":\"onnx\",\"labels\":[\"cat\",\"dog\"],\"params\":{\"lr\":0.1},"
             "\"files\":[{\"path\":\"model.onnx\",\"sha256\":\"%s\"},{\"path\":\"meta/arch.json\",\"sha256\":\"%s\"}]}",
             w, a);
    r = api_admin("POST", path, body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "version"), 1);
    cr_assert_str_eq(jstr(r->json, "framework"), "onnx");
    cr_assert_eq(json_array_size(json_object_get(r->json, "files")), 2);
    int64_t v1 = jint(r->json, "id");
    api_free(r);
    /* refusals: unknown framework, a file the org does not hold, bad path */
    const char *bad[] = {"{\"framework\":\"caffe\"}",
                         "{\"files\":[{\"path\":\"x\",\"sha256\":\"0000000000000000000000000000000000000000000000000000000000000000\"}]}",
                         "{\"labels\":[1,2]}"};
    for (size_t i = 0; i < 3; i++) {
        r = api_admin("POST", path, bad[i]);
        cr_assert_eq(r->status == 400 || r->status == 404, 1, "%s -> %ld %s", bad[i], r->status, r->body.p);
        api_free(r);
    }
    snprintf(body, sizeof body, "{\"files\":[{\"path\":\"../evil\",\"sha256\":\"%s\"}]}", w);
    r = api_admin("POST", path, body);
    cr_assert_eq(r->status, 400);
    api_free(r);
    r = api_admin("POST", path, "{}");
    cr_assert_eq(jint(r->json, "version"), 2, "a failed create does not use up a number");
    int64_t v2 = jint(r->json, "id");
    api_free(r);
    /* a file uploaded into a version, then downloaded */
    snprintf(path, sizeof path, "/api/v1/model-versions/%lld/file?path=weights/best.bin", (long long)v2);
    api_opts up = {.token = api_admin_token(), .body = "best weights", .content_type = "application/octet-stream"};
    r = api_do("PUT", path, &up);
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(json_array_size(json_object_get(r->json, "files")), 1);
    api_free(r);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(r->body.len, 12);
    cr_assert_eq(memcmp(r->body.p, "best weights", 12), 0);
    api_free(r);
    /* by number */
    snprintf(path, sizeof path, "/api/v1/models/%lld/versions/1", (long long)m);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(jint(r->json, "id"), v1);
    api_free(r);
    free(w);
    free(a);
}

Test(registry, aliases_move_atomically_and_are_logged)
{
    int64_t m = new_model(NULL);
    char path[160];
    snprintf(path, sizeof path, "/api/v1/models/%lld/versions", (long long)m);
    for (int i = 0; i < 2; i++) {
        api_resp *r = api_admin("POST", path, "{}");
        api_free(r);
    }
    snprintf(path, sizeof path, "/api/v1/models/%lld/aliases/champion", (long long)m);
    api_resp *r = api_admin("PUT", path, "{\"version\":1}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert_eq(jint(json_object_get(r->json, "aliases"), "champion"), 1);
    api_free(r);
    r = api_admin("PUT", path, "{\"version\":2}");
    cr_assert_eq(jint(json_object_get(r->json, "aliases"), "champion"), 2);
    api_free(r);
    r = api_admin("PUT", path, "{\"version\":9}");
    cr_assert_eq(r->status, 404);
    api_free(r);
    r = api_admin("PUT", path, "{}");
    cr_assert_eq(r->status, 400);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/models/%lld/aliases/Bad%%20Name", (long long)m);
    r = api_admin("PUT", path, "{\"version\":1}");
    cr_assert_eq(r->status, 400);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/models/%lld/versions/champion", (long long)m);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(jint(r->json, "version"), 2);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(r->json, "aliases"), 0)), "champion");
    api_free(r);
    /* another model's version cannot take this model's alias */
    int64_t other = new_model(NULL);
    snprintf(path, sizeof path, "/api/v1/models/%lld/versions", (long long)other);
    r = api_admin("POST", path, "{}");
    int64_t ov = jint(r->json, "id");
    api_free(r);
    char body[80];
    snprintf(body, sizeof body, "{\"version_id\":%lld}", (long long)ov);
    snprintf(path, sizeof path, "/api/v1/models/%lld/aliases/champion", (long long)m);
    r = api_admin("PUT", path, body);
    cr_assert_eq(r->status, 400);
    api_free(r);
    r = api_admin("DELETE", path, NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/models/%lld/alias-log", (long long)m);
    r = api_admin("GET", path, NULL);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 3, "%s", r->body.p);
    cr_assert(json_is_null(json_object_get(json_array_get(items, 0), "to_version")), "newest first: the removal");
    cr_assert_eq(jint(json_array_get(items, 1), "from_version"), 1);
    cr_assert_eq(jint(json_array_get(items, 1), "to_version"), 2);
    api_free(r);
}

Test(registry, publish_an_experiment_keeps_its_lineage)
{
    char body[300];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("proj"));
    api_resp *r = api_admin("POST", "/api/v1/projects", body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t proj = jint(r->json, "id");
    api_free(r);
    char path[200];
    snprintf(path, sizeof path, "/api/v1/projects/%lld/experiments", (long long)proj);
    r = api_admin("POST", path, "{\"name\":\"run-1\",\"params\":{\"lr\":0.01,\"arch\":\"resnet\"}}");
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t exp = jint(r->json, "id");
    api_free(r);
    /* nothing to publish yet */
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/publish", (long long)exp);
    snprintf(body, sizeof body, "{\"model\":\"%s\",\"labels\":[\"a\",\"b\"]}", api_unique("pub-"));
    r = api_admin("POST", path, body);
    cr_assert_eq(r->status, 400, "%s", r->body.p);
    cr_assert_not_null(strstr(api_error_message(r), "no artifacts"));
    api_free(r);
    r = api_admin("GET", "/api/v1/models?q=pub-", NULL);
    size_t before = json_array_size(json_object_get(r->json, "items"));
    api_free(r);
    /* artifacts, then publish: the model is created, files copied */
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/artifacts?path=checkpoints/best.safetensors", (long long)exp);
    api_opts up = {.token = api_admin_token(), .body = "tensor bytes", .content_type = "application/octet-stream"};
    r = api_do("PUT", path, &up);
    cr_assert(r->status == 200 || r->status == 201, "%s", r->body.p);
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/publish", (long long)exp);
    r = api_admin("POST", path, body);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    cr_assert_eq(jint(r->json, "version"), 1);
    cr_assert_eq(jint(r->json, "source_experiment_id"), exp);
    json_t *lineage = json_object_get(r->json, "lineage");
    cr_assert_eq(jint(lineage, "experiment_id"), exp);
    cr_assert_eq(jint(lineage, "project_id"), proj);
    cr_assert_str_eq(jstr(json_object_get(lineage, "params"), "arch"), "resnet");
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r->json, "files"), 0), "path"), "checkpoints/best.safetensors");
    cr_assert_eq(json_array_size(json_object_get(r->json, "labels")), 2);
    api_free(r);
    r = api_admin("GET", "/api/v1/models?q=pub-", NULL);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), before + 1,
                 "the refused publish created no model");
    api_free(r);
    /* publishing again: version 2 of the same model */
    r = api_admin("POST", path, body);
    cr_assert_eq(jint(r->json, "version"), 2);
    api_free(r);
    r = api_admin("POST", path, "{\"model\":\"x\",\"model_id\":1}");
    cr_assert_eq(r->status, 400);
    api_free(r);
}

Test(registry, other_organizations_and_roles)
{
    int64_t m = new_model(NULL);
    char *viewer = api_user("viewer", NULL);
    char path[100];
    snprintf(path, sizeof path, "/api/v1/models/%lld", (long long)m);
    api_resp *r = api_tok(viewer, "GET", path, NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
    r = api_tok(viewer, "POST", "/api/v1/models", "{\"name\":\"nope\"}");
    cr_assert_eq(r->status, 403);
    api_free(r);
    free(viewer);
    char *tok = api_user("member", NULL);
    char body[200];
    snprintf(body, sizeof body, "{\"name\":\"%s\"}", api_unique("regorg"));
    r = api_tok(tok, "POST", "/api/v1/orgs", body);
    int64_t org = jint(r->json, "id");
    api_free(r);
    r = api_tok(tok, "GET", "/api/v1/me", NULL);
    char name[80];
    snprintf(name, sizeof name, "%s", jstr(json_object_get(r->json, "user"), "username"));
    api_free(r);
    snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"password-%s\",\"org_id\":%lld,\"token_name\":\"x\"}", name, name, (long long)org);
    api_opts o = {.body = body};
    r = api_do("POST", "/api/v1/auth/login", &o);
    char otok[128];
    snprintf(otok, sizeof otok, "%s", jstr(r->json, "token"));
    api_free(r);
    r = api_tok(otok, "GET", path, NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
    free(tok);
}

static int sh(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char *out, size_t n, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    size_t got = fread(out, 1, n - 1, p);
    out[got] = 0;
    int st = pclose(p);
    return WEXITSTATUS(st);
}

Test(registry, cli_create_alias_download)
{
    const char *bin = getenv("CVOPS_TEST_BIN"), *url = getenv("CVOPS_TEST_URL"), *tok = api_admin_token();
    char name[64], out[8192];
    snprintf(name, sizeof name, "%s", api_unique("climodel-"));
    cr_assert_eq(sh(out, sizeof out, "%s model create %s --server %s --token %s --json", bin, name, url, tok), 0, "%s", out);
    json_t *m = json_loads(out, 0, NULL);
    int64_t id = jint(m, "id");
    json_decref(m);
    char *sha = upload("cli weights");
    char path[120], body[300];
    snprintf(path, sizeof path, "/api/v1/models/%lld/versions", (long long)id);
    snprintf(body, sizeof body, "{\"files\":[{\"path\":\"w.bin\",\"sha256\":\"%s\"}]}", sha);
    api_resp *r = api_admin("POST", path, body);
    cr_assert_eq(r->status, 201);
    api_free(r);
    cr_assert_eq(sh(out, sizeof out, "%s model alias %s champion 1 --server %s --token %s", bin, name, url, tok), 0, "%s", out);
    cr_assert_eq(sh(out, sizeof out, "%s model versions %s --server %s --token %s", bin, name, url, tok), 0);
    cr_assert_not_null(strstr(out, "champion"), "%s", out);
    char dl[80];
    snprintf(dl, sizeof dl, "/tmp/cvops-dl-%s", name);
    cr_assert_eq(sh(out, sizeof out, "%s model download %s champion w.bin %s --server %s --token %s", bin, name, dl, url, tok), 0, "%s", out);
    FILE *f = fopen(dl, "rb");
    char got[64] = "";
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    remove(dl);
    cr_assert_eq(n, 11);
    cr_assert_str_eq(got, "cli weights");
    cr_assert_eq(sh(out, sizeof out, "%s model download %s 7 w.bin %s --server %s --token %s 2>&1", bin, name, dl, url, tok), 4, "missing version exits 4: %s", out);
    cr_assert_eq(sh(out, sizeof out, "%s model versions no-such-model-xyz --server %s --token %s 2>&1", bin, url, tok), 4);
    free(sha);
}
