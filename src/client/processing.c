/*
 * processing.c - the C client's helpers for code run as a custom
 * processing: its environment, progress, log lines, output files and
 * output documents. See include/cvops/client.h and docs/processings.md.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_impl.h"

cvops_code cvops_job_env_read(cvops_job_env *env)
{
    memset(env, 0, sizeof *env);
    const char *id = getenv("CVOPS_JOB_ID");
    if (!id || !*id)
        return CVOPS_E_INVALID;
    char *end;
    long long v = strtoll(id, &end, 10);
    if (*end || v <= 0)
        return CVOPS_E_INVALID;
    env->job_id = v;
    env->url = getenv("CVOPS_URL") ? getenv("CVOPS_URL") : "";
    env->token = getenv("CVOPS_TOKEN") ? getenv("CVOPS_TOKEN") : "";
    env->input_json = getenv("CVOPS_INPUT") ? getenv("CVOPS_INPUT") : "{}";
    env->params_json = getenv("CVOPS_PARAMS") ? getenv("CVOPS_PARAMS") : "{}";
    env->workdir = getenv("CVOPS_WORKDIR") ? getenv("CVOPS_WORKDIR") : ".";
    return CVOPS_OK;
}

cvops_client *cvops_job_client(const cvops_job_env *env)
{
    return cvops_client_new(env->url && *env->url ? env->url : "http://127.0.0.1:8080",
                            env->token && *env->token ? env->token : NULL);
}

static cvops_code post(cvops_client *c, int64_t job, const char *what, json_t *body, char **out)
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/processing-runs/%lld/%s", (long long)job, what);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return cvops__fail(c, CVOPS_E_NOMEM, "out of memory");
    cvops_code rc = cvops_call(c, "POST", path, text, out);
    free(text);
    return rc;
}

cvops_code cvops_job_progress(cvops_client *c, int64_t job_id, double fraction,
                              const char *message)
{
    if (!(fraction >= 0 && fraction <= 1))
        return cvops__fail(c, CVOPS_E_INVALID, "progress must be between 0 and 1");
    json_t *b = json_pack("{s:f}", "progress", fraction);
    if (message)
        json_object_set_new(b, "message", json_string(message));
    return post(c, job_id, "progress", b, NULL);
}

cvops_code cvops_job_log(cvops_client *c, int64_t job_id, const char *const *lines, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(lines[i] ? lines[i] : ""));
    return post(c, job_id, "log", json_pack("{s:o}", "lines", a), NULL);
}

cvops_code cvops_job_upload(cvops_client *c, int64_t job_id, const char *file, char sha_out[65])
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char *esc = curl_easy_escape(NULL, base, 0);
    char path[600];
    snprintf(path, sizeof path, "/api/v1/processing-runs/%lld/files?filename=%s", (long long)job_id,
             esc ? esc : "");
    curl_free(esc);
    char *out = NULL;
    cvops_code rc = cvops_upload_file(c, "PUT", path, file, "application/octet-stream", &out);
    if (rc != CVOPS_OK)
        return rc;
    json_t *j = json_loads(out ? out : "", 0, NULL);
    free(out);
    const char *sha = json_string_value(json_object_get(j, "sha256"));
    if (!sha || strlen(sha) != 64) {
        json_decref(j);
        return cvops__fail(c, CVOPS_E_SERVER, "the server did not say the file's sha256");
    }
    memcpy(sha_out, sha, 65);
    json_decref(j);
    return CVOPS_OK;
}

cvops_code cvops_job_output(cvops_client *c, int64_t job_id, const char *doc_json,
                            char **json_out)
{
    char path[96];
    snprintf(path, sizeof path, "/api/v1/processing-runs/%lld/outputs", (long long)job_id);
    return cvops_call(c, "POST", path, doc_json, json_out);
}
