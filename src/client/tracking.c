/*
 * tracking.c - the experiment-tracking calls of the C client library
 * (projects, experiments, logs, artifacts, comparison) and the buffered
 * metric logger. See include/cvops/client.h.
 *
 * The metric logger keeps points per metric in columns (steps, values,
 * times) and sends them in the compact "series" shape of the batch
 * endpoint, so a 10,000-point batch is ~150 KB of JSON built with one
 * pass of number formatting.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "client/client_impl.h"

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* Calls the API with a jansson body (stolen) and reads "id" from the answer. */
static cvops_code call_id(cvops_client *c, const char *method, const char *path, json_t *body,
                          int64_t *id_out)
{
    char *text = body ? dump(body) : NULL, *out = NULL;
    cvops_code code = cvops_call(c, method, path, text ? text : "{}", &out);
    free(text);
    if (code == CVOPS_OK && id_out) {
        json_t *j = json_loads(out, 0, NULL);
        *id_out = json_integer_value(json_object_get(j, "id"));
        json_decref(j);
    }
    cvops_free(out);
    return code;
}

cvops_code cvops_project_create(cvops_client *c, const char *name, const char *description,
                                int64_t *id_out)
{
    json_t *b = json_pack("{s:s, s:s}", "name", name ? name : "", "description",
                          description ? description : "");
    return call_id(c, "POST", "/api/v1/projects", b, id_out);
}

cvops_code cvops_project_find(cvops_client *c, const char *name, int64_t *id_out)
{
    char *q = curl_easy_escape(NULL, name, 0);
    char path[600];
    snprintf(path, sizeof path, "/api/v1/projects?limit=1000&q=%s", q ? q : "");
    curl_free(q);
    char *out = NULL;
    cvops_code code = cvops_call(c, "GET", path, NULL, &out);
    if (code != CVOPS_OK)
        return code;
    json_t *j = json_loads(out, 0, NULL), *items = json_object_get(j, "items");
    cvops_free(out);
    code = cvops__fail(c, CVOPS_E_NOT_FOUND, "no project named '%s'", name);
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        const char *n = json_string_value(json_object_get(it, "name"));
        if (n && strcmp(n, name) == 0) {
            *id_out = json_integer_value(json_object_get(it, "id"));
            code = CVOPS_OK;
            break;
        }
    }
    json_decref(j);
    return code;
}

cvops_code cvops_project_ensure(cvops_client *c, const char *name, int64_t *id_out)
{
    cvops_code code = cvops_project_find(c, name, id_out);
    if (code != CVOPS_E_NOT_FOUND)
        return code;
    code = cvops_project_create(c, name, NULL, id_out);
    if (code == CVOPS_E_CONFLICT) /* created meanwhile by someone else */
        code = cvops_project_find(c, name, id_out);
    return code;
}

cvops_code cvops_experiment_create(cvops_client *c, int64_t project_id, const char *body_json,
                                   int64_t *id_out)
{
    char path[100], *out = NULL;
    snprintf(path, sizeof path, "/api/v1/projects/%lld/experiments", (long long)project_id);
    cvops_code code = cvops_call(c, "POST", path, body_json ? body_json : "{}", &out);
    if (code == CVOPS_OK && id_out) {
        json_t *j = json_loads(out, 0, NULL);
        *id_out = json_integer_value(json_object_get(j, "id"));
        json_decref(j);
    }
    cvops_free(out);
    return code;
}

cvops_code cvops_experiment_set_status(cvops_client *c, int64_t id, const char *status)
{
    char path[100];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld", (long long)id);
    return call_id(c, "PATCH", path, json_pack("{s:s}", "status", status ? status : ""), NULL);
}

cvops_code cvops_experiment_log_params(cvops_client *c, int64_t id, const char *params_json)
{
    json_error_t je;
    json_t *p = json_loads(params_json ? params_json : "", 0, &je);
    if (!json_is_object(p)) {
        json_decref(p);
        return cvops__fail(c, CVOPS_E_INVALID, "params must be a JSON object like {\"lr\": 0.01}");
    }
    char path[100];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/params", (long long)id);
    return call_id(c, "POST", path, json_pack("{s:o}", "params", p), NULL);
}

static cvops_code log_json(cvops_client *c, int64_t id, const char *name, const char *kind,
                           int64_t step, json_t *data)
{
    if (!data)
        return cvops__fail(c, CVOPS_E_INVALID, "the data of log '%s' is not a JSON object",
                           name ? name : "");
    json_t *b = json_pack("{s:s, s:s, s:o}", "name", name ? name : "", "kind", kind ? kind : "",
                          "data", data);
    if (step >= 0)
        json_object_set_new(b, "step", json_integer(step));
    char path[100];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/logs", (long long)id);
    return call_id(c, "POST", path, b, NULL);
}

cvops_code cvops_experiment_log(cvops_client *c, int64_t id, const char *name, const char *kind,
                                int64_t step, const char *data_json)
{
    json_t *d = json_loads(data_json ? data_json : "", 0, NULL);
    if (d && !json_is_object(d)) {
        json_decref(d);
        d = NULL;
    }
    return log_json(c, id, name, kind, step, d);
}

cvops_code cvops_experiment_log_value(cvops_client *c, int64_t id, const char *name, double value)
{
    if (!isfinite(value))
        return cvops__fail(c, CVOPS_E_INVALID, "value '%s' must be a finite number", name);
    return log_json(c, id, name, "value", -1, json_pack("{s:f}", "value", value));
}

cvops_code cvops_experiment_log_confusion_matrix(cvops_client *c, int64_t id, const char *name,
                                                 int64_t step, const char *const *labels,
                                                 size_t n, const double *matrix)
{
    json_t *l = json_array(), *m = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(l, json_string(labels[i] ? labels[i] : ""));
        json_t *row = json_array();
        for (size_t k = 0; k < n; k++)
            json_array_append_new(row, json_real(matrix[i * n + k]));
        json_array_append_new(m, row);
    }
    return log_json(c, id, name, "confusion_matrix", step,
                    json_pack("{s:o, s:o}", "labels", l, "matrix", m));
}

cvops_code cvops_experiment_log_table(cvops_client *c, int64_t id, const char *name,
                                      const char *const *columns, size_t ncols,
                                      const char *const *cells, size_t nrows)
{
    json_t *cols = json_array(), *rows = json_array();
    for (size_t k = 0; k < ncols; k++)
        json_array_append_new(cols, json_string(columns[k] ? columns[k] : ""));
    for (size_t i = 0; i < nrows; i++) {
        json_t *row = json_array();
        for (size_t k = 0; k < ncols; k++) {
            const char *v = cells[i * ncols + k];
            json_array_append_new(row, v ? json_string(v) : json_null());
        }
        json_array_append_new(rows, row);
    }
    return log_json(c, id, name, "table", -1, json_pack("{s:o, s:o}", "columns", cols, "rows", rows));
}

cvops_code cvops_experiment_log_image(cvops_client *c, int64_t id, const char *name, int64_t step,
                                      const char *file, const char *caption)
{
    char *out = NULL;
    cvops_code code = cvops_upload_file(c, "PUT", "/api/v1/files", file, NULL, &out);
    if (code != CVOPS_OK)
        return code;
    json_t *j = json_loads(out, 0, NULL);
    cvops_free(out);
    const char *sha = json_string_value(json_object_get(j, "sha256"));
    json_t *d = json_pack("{s:s}", "sha256", sha ? sha : "");
    json_decref(j);
    if (caption)
        json_object_set_new(d, "caption", json_string(caption));
    return log_json(c, id, name, "image", step, d);
}

cvops_code cvops_experiment_output(cvops_client *c, int64_t id, const char *const *lines, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(lines[i] ? lines[i] : ""));
    char path[100];
    snprintf(path, sizeof path, "/api/v1/experiments/%lld/output", (long long)id);
    return call_id(c, "POST", path, json_pack("{s:o}", "lines", a), NULL);
}

cvops_code cvops_experiment_upload_artifact(cvops_client *c, int64_t id, const char *file,
                                            const char *path, char **json_out)
{
    if (!path) {
        const char *slash = strrchr(file, '/');
        path = slash ? slash + 1 : file;
    }
    char *q = curl_easy_escape(NULL, path, 0);
    size_t n = strlen(q ? q : "") + 100;
    char *url = malloc(n);
    snprintf(url, n, "/api/v1/experiments/%lld/artifacts?path=%s", (long long)id, q ? q : "");
    curl_free(q);
    cvops_code code = cvops_upload_file(c, "PUT", url, file, NULL, json_out);
    free(url);
    return code;
}

cvops_code cvops_experiment_download_artifact(cvops_client *c, int64_t id, const char *path,
                                              FILE *out)
{
    char *q = curl_easy_escape(NULL, path, 0);
    size_t n = strlen(q ? q : "") + 100;
    char *url = malloc(n);
    snprintf(url, n, "/api/v1/experiments/%lld/artifacts/file?path=%s", (long long)id, q ? q : "");
    curl_free(q);
    cvops_code code = cvops_download(c, url, out);
    free(url);
    return code;
}

cvops_code cvops_experiment_compare(cvops_client *c, const int64_t *ids, size_t n,
                                    const char *metrics_csv, int points, char **json_out)
{
    sbuf p = SBUF_INIT;
    sbuf_puts(&p, "/api/v1/experiments/compare?ids=");
    for (size_t i = 0; i < n; i++)
        sbuf_printf(&p, "%s%lld", i ? "," : "", (long long)ids[i]);
    if (points > 0)
        sbuf_printf(&p, "&points=%d", points);
    if (metrics_csv && *metrics_csv) {
        char *q = curl_easy_escape(NULL, metrics_csv, 0);
        sbuf_printf(&p, "&metrics=%s", q ? q : "");
        curl_free(q);
    }
    cvops_code code = cvops_call(c, "GET", sbuf_cstr(&p), NULL, json_out);
    sbuf_free(&p);
    return code;
}

/* --- buffered metrics ------------------------------------------------------------ */

typedef struct {
    char *name;
    int64_t *steps, *times;
    double *values;
    size_t n, cap;
} mseries;

struct cvops_metrics {
    cvops_client *c;
    int64_t experiment;
    mseries *s;
    size_t ns, cap;
    size_t pending;
    char path[100];
};

cvops_metrics *cvops_metrics_new(cvops_client *c, int64_t experiment_id)
{
    cvops_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->c = c;
    m->experiment = experiment_id;
    snprintf(m->path, sizeof m->path, "/api/v1/experiments/%lld/points", (long long)experiment_id);
    return m;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static mseries *series_of(cvops_metrics *m, const char *name)
{
    for (size_t i = 0; i < m->ns; i++) /* few metrics: a scan beats a hash */
        if (strcmp(m->s[i].name, name) == 0)
            return &m->s[i];
    if (m->ns == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        mseries *s = realloc(m->s, cap * sizeof *s);
        if (!s)
            return NULL;
        m->s = s;
        m->cap = cap;
    }
    mseries *s = &m->s[m->ns];
    memset(s, 0, sizeof *s);
    if (!(s->name = strdup(name)))
        return NULL;
    m->ns++;
    return s;
}

cvops_code cvops_metric(cvops_metrics *m, const char *name, double value, int64_t step)
{
    if (!name || !*name || strlen(name) > 200)
        return cvops__fail(m->c, CVOPS_E_INVALID, "a metric name is 1 to 200 bytes long");
    if (!isfinite(value))
        return cvops__fail(m->c, CVOPS_E_INVALID,
                           "metric '%s' at step %lld is not a finite number; leave it out", name,
                           (long long)step);
    if (step < 0 || step > (1LL << 53))
        return cvops__fail(m->c, CVOPS_E_INVALID, "metric '%s': step %lld is out of range", name,
                           (long long)step);
    if (m->pending >= CVOPS_METRICS_MAX_PENDING)
        return cvops__fail(m->c, CVOPS_E_SERVER,
                           "%zu points could not be sent; not buffering more (see the last error)",
                           m->pending);
    mseries *s = series_of(m, name);
    if (!s)
        return cvops__fail(m->c, CVOPS_E_NOMEM, "out of memory");
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        int64_t *st = realloc(s->steps, cap * sizeof *st);
        if (st)
            s->steps = st;
        int64_t *tm = realloc(s->times, cap * sizeof *tm);
        if (tm)
            s->times = tm;
        double *v = realloc(s->values, cap * sizeof *v);
        if (v)
            s->values = v;
        if (!st || !tm || !v)
            return cvops__fail(m->c, CVOPS_E_NOMEM, "out of memory");
        s->cap = cap;
    }
    s->steps[s->n] = step;
    s->values[s->n] = value;
    s->times[s->n] = now_ms();
    s->n++;
    if (++m->pending >= CVOPS_METRICS_BATCH)
        return cvops_metrics_flush(m);
    return CVOPS_OK;
}

/* Sends up to CVOPS_METRICS_BATCH points from the front of the series. */
static cvops_code send_batch(cvops_metrics *m)
{
    sbuf b = SBUF_INIT;
    jw w;
    jw_init(&w, &b);
    jw_obj(&w);
    jw_key(&w, "series");
    jw_arr(&w);
    size_t budget = CVOPS_METRICS_BATCH;
    size_t *taken = calloc(m->ns ? m->ns : 1, sizeof *taken);
    for (size_t i = 0; i < m->ns && budget; i++) {
        mseries *s = &m->s[i];
        size_t k = s->n < budget ? s->n : budget;
        if (!k)
            continue;
        taken[i] = k;
        budget -= k;
        jw_obj(&w);
        jw_kstr(&w, "name", s->name);
        jw_key(&w, "steps");
        jw_arr(&w);
        for (size_t j = 0; j < k; j++)
            jw_int(&w, s->steps[j]);
        jw_arr_end(&w);
        jw_key(&w, "values");
        jw_arr(&w);
        for (size_t j = 0; j < k; j++)
            jw_dbl(&w, s->values[j]);
        jw_arr_end(&w);
        jw_key(&w, "times");
        jw_arr(&w);
        for (size_t j = 0; j < k; j++)
            jw_int(&w, s->times[j]);
        jw_arr_end(&w);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    cvops_code code = sbuf_failed(&b) ? cvops__fail(m->c, CVOPS_E_NOMEM, "out of memory")
                                      : cvops_call(m->c, "POST", m->path, sbuf_cstr(&b), NULL);
    sbuf_free(&b);
    if (code == CVOPS_OK)
        for (size_t i = 0; i < m->ns; i++) {
            mseries *s = &m->s[i];
            size_t k = taken[i];
            if (!k)
                continue;
            memmove(s->steps, s->steps + k, (s->n - k) * sizeof *s->steps);
            memmove(s->values, s->values + k, (s->n - k) * sizeof *s->values);
            memmove(s->times, s->times + k, (s->n - k) * sizeof *s->times);
            s->n -= k;
            m->pending -= k;
        }
    free(taken);
    return code;
}

cvops_code cvops_metrics_flush(cvops_metrics *m)
{
    while (m->pending) {
        cvops_code code = send_batch(m);
        if (code != CVOPS_OK)
            return code;
    }
    return CVOPS_OK;
}

cvops_code cvops_metrics_free(cvops_metrics *m)
{
    if (!m)
        return CVOPS_OK;
    cvops_code code = cvops_metrics_flush(m);
    for (size_t i = 0; i < m->ns; i++) {
        free(m->s[i].name);
        free(m->s[i].steps);
        free(m->s[i].times);
        free(m->s[i].values);
    }
    free(m->s);
    free(m);
    return code;
}
