/*
 * custom.c - the processing.custom job: a user's command run by a worker.
 *
 * For each attempt: drop what an earlier attempt staged, mint a token for
 * this job only (auth: grants on the job and its input, expiring with the
 * timeout and anyway at the job's end), make a fresh working directory with
 * the definition's bundled files, and run the command there (exec.c) with
 * the documented environment (docs/processings.md):
 *
 *   CVOPS_URL, CVOPS_SERVER  the API        CVOPS_TOKEN   the job's token
 *   CVOPS_JOB_ID             the job/run    CVOPS_INPUT   the target (JSON)
 *   CVOPS_PARAMS             parameters     CVOPS_WORKDIR the directory
 *   CVOPS_THREADS, OMP_NUM_THREADS          CVOPS_OUTPUT_LIMIT (bytes)
 *   CVOPS_TIMEOUT (s), CVOPS_PROCESSING, CVOPS_PROCESSING_VERSION
 *   HOME and TMPDIR inside the working directory, PATH, LANG, and the
 *   manifest's own env; nothing else of the worker's environment (which may
 *   hold database and object store credentials).
 *
 * While it runs, its stdout lines are read as the line protocol
 * (protocol.c) and everything else goes to the job's log; every tick the
 * progress and log lines it sent through the API are relayed into the job.
 * A successful exit commits the staged outputs in one transaction; any
 * other end drops them and fails the job with the reason and the last lines
 * of output (the result keeps 20 of them).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "base/log.h"
#include "base/util.h"
#include "processing/internal.h"

#define LAST_LINES 20
#define PENDING_MAX 256 /* log lines kept before they are written in one transaction */

typedef struct custom {
    job_ctx *j;
    const proc_env *env;
    proc_run *run;
    char workdir[1024];
    char *last[LAST_LINES];
    int nlast, lasti;
    int64_t event_after;
    int output_errors;
    char first_error[400];
    json_t *reported;
    bool limit_hit;
    int64_t ticks;
    char *pending[PENDING_MAX]; /* log lines not written yet (flush_log) */
    int npending;
} custom;

/* Writes the pending log lines in one transaction. Called when the batch is
 * full, every tick, before the worker logs anything of its own, and at the end. */
static void flush_log(custom *k)
{
    if (!k->npending)
        return;
    job_log_lines(k->j, (const char *const *)k->pending, k->npending);
    for (int i = 0; i < k->npending; i++)
        free(k->pending[i]);
    k->npending = 0;
}

static void remember(custom *k, const char *line)
{
    free(k->last[k->lasti]);
    k->last[k->lasti] = strdup(line);
    k->lasti = (k->lasti + 1) % LAST_LINES;
    if (k->nlast < LAST_LINES)
        k->nlast++;
}

static json_t *last_lines(custom *k)
{
    json_t *a = json_array();
    for (int i = 0; i < k->nlast; i++) {
        int idx = (k->lasti - k->nlast + i + LAST_LINES) % LAST_LINES;
        json_array_append_new(a, json_string(k->last[idx] ? k->last[idx] : ""));
    }
    return a;
}

static void log_line(custom *k, const char *text)
{
    char *copy = strdup(text);
    if (copy) {
        k->pending[k->npending++] = copy;
        if (k->npending == PENDING_MAX)
            flush_log(k);
    }
    remember(k, text);
}

/* A file of the working directory, refusing anything that leaves it. */
static int local_path(custom *k, const char *rel, char *out, size_t n, err *e)
{
    char joined[2048], real[4096], base[4096];
    if (!rel || !*rel)
        return err_set(e, ERR_INVALID, "'local' must name a file of the working directory");
    if (rel[0] == '/')
        snprintf(joined, sizeof joined, "%s", rel);
    else
        snprintf(joined, sizeof joined, "%s/%s", k->workdir, rel);
    if (!realpath(joined, real))
        return err_set(e, ERR_INVALID, "cannot read '%.200s': %s", rel, strerror(errno));
    if (!realpath(k->workdir, base))
        return err_set(e, ERR_IO, "the working directory is gone");
    size_t bl = strlen(base);
    if (strncmp(real, base, bl) != 0 || real[bl] != '/')
        return err_set(e, ERR_INVALID, "'%.200s' is outside the working directory", rel);
    struct stat st;
    if (stat(real, &st) != 0 || !S_ISREG(st.st_mode))
        return err_set(e, ERR_INVALID, "'%.200s' is not a regular file", rel);
    snprintf(out, n, "%s", real);
    return 0;
}

/* Uploads a file of the working directory as a file of the run; sha out. */
static int upload_local(custom *k, const char *rel, char sha[65], err *e)
{
    char path[4096];
    if (local_path(k, rel, path, sizeof path, e))
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(e, ERR_IO, "cannot open '%.200s': %s", rel, strerror(errno));
    db_conn *c = db_get(k->env->db, e);
    if (!c) {
        close(fd);
        return -1;
    }
    int64_t left = 0;
    if (proc_output_budget(c, k->run->org, k->run->job, &left, e)) {
        close(fd);
        db_put(c);
        return -1;
    }
    blob_writer *w = blob_writer_new(k->env->blobs, e);
    char buf[1 << 16];
    ssize_t r = 0;
    int rc = w ? 0 : -1;
    while (rc == 0 && (r = read(fd, buf, sizeof buf)) > 0) {
        if (blob_writer_size(w) + r > left) {
            proc_output_refused(c, k->run->job);
            rc = err_set(e, ERR_TOO_LARGE, "'%.200s' is larger than what is left of the output "
                                           "limit (%lld bytes; resources.output_mb)",
                         rel, (long long)left);
            break;
        }
        rc = blob_writer_write(w, buf, (size_t)r, e);
    }
    close(fd);
    if (rc == 0 && r < 0)
        rc = err_set(e, ERR_IO, "cannot read '%.200s'", rel);
    if (rc != 0) {
        if (w)
            blob_writer_abort(w);
        db_put(c);
        return -1;
    }
    blob_ref ref;
    char *item = NULL, note[300];
    const char *bn = strrchr(rel, '/');
    if (proc_upload_commit(k->env->blobs, w, k->env->max_pixels, &ref, &item, note, sizeof note, e) ||
        proc_file_add(c, k->run->org, k->run->job, ref.sha, ref.size, bn ? bn + 1 : rel, item, note,
                      e)) {
        free(item);
        db_put(c);
        return -1;
    }
    free(item);
    db_put(c);
    snprintf(sha, 65, "%s", ref.sha);
    return 0;
}

/* An output document from stdout: files named by "local" are uploaded. */
static void stdout_output(custom *k, json_t *doc)
{
    err e;
    err_clear(&e);
    int rc = 0;
    char type[32] = "?", local_buf[1024] = "";
    if (json_string_value(json_object_get(doc, "type")))
        snprintf(type, sizeof type, "%s", json_string_value(json_object_get(doc, "type")));
    const char *local = NULL;
    if (json_string_value(json_object_get(doc, "local"))) {
        /* copied: the document's "local" is replaced by the upload's sha256 */
        snprintf(local_buf, sizeof local_buf, "%s", json_string_value(json_object_get(doc, "local")));
        local = local_buf;
    }
    char sha[65];
    if (local) {
        rc = upload_local(k, local, sha, &e);
        if (rc == 0) {
            json_object_set_new(doc, "sha256", json_string(sha));
            if (strcmp(type, "data") == 0 && !json_object_get(doc, "filename")) {
                const char *bn = strrchr(local, '/');
                json_object_set_new(doc, "filename", json_string(bn ? bn + 1 : local));
            }
            json_object_del(doc, "local");
        }
    }
    json_t *files = json_object_get(doc, "files"), *f;
    size_t i;
    json_array_foreach(files, i, f)
    {
        const char *fl = json_string_value(json_object_get(f, "local"));
        if (rc || !fl)
            continue;
        rc = upload_local(k, fl, sha, &e);
        if (rc == 0) {
            json_object_set_new(f, "sha256", json_string(sha));
            json_object_del(f, "local");
        }
    }
    if (rc == 0) {
        db_conn *c = db_get(k->env->db, &e);
        rc = c ? proc_output_add(c, k->run->org, k->run->job, doc, NULL, &e) : -1;
        db_put(c);
    }
    if (rc != 0) {
        if (e.code == ERR_TOO_LARGE)
            k->limit_hit = true;
        k->output_errors++;
        if (!k->first_error[0])
            snprintf(k->first_error, sizeof k->first_error, "%s", e.msg);
        char line[600];
        snprintf(line, sizeof line, "output refused: %s", e.msg);
        log_line(k, line);
    } else {
        char line[200];
        snprintf(line, sizeof line, "output staged: %s%s%.150s", type, local ? " " : "",
                 local ? local : "");
        log_line(k, line);
    }
}

static void on_line(void *ctx, bool out, const char *line, size_t n)
{
    custom *k = ctx;
    (void)n;
    if (!out) {
        log_line(k, line);
        return;
    }
    proto_msg m;
    proto_parse(line, &m);
    switch (m.kind) {
    case PROTO_TEXT:
    case PROTO_LOG:
        log_line(k, m.text);
        break;
    case PROTO_PROGRESS:
        job_progress(k->j, m.progress, "%s", m.text);
        break;
    case PROTO_OUTPUT:
        stdout_output(k, m.doc);
        break;
    case PROTO_RESULT:
        json_object_update(k->reported, m.doc);
        break;
    case PROTO_BAD: {
        char l[JOB_LOG_LINE_MAX + 200];
        snprintf(l, sizeof l, "%.3800s  [not understood: %s]", line, m.error);
        log_line(k, l);
        break;
    }
    }
    proto_msg_free(&m);
}

/* Moves what the command sent through the API into the job. */
static void relay(custom *k)
{
    err e;
    db_conn *c = db_get(k->env->db, &e);
    if (!c)
        return;
    for (int round = 0; round < 20; round++) {
        db_stmt *s = db_query(c, &e,
                              "SELECT id, progress, text FROM processing_event WHERE job_id = $1"
                              " AND id > $2 ORDER BY id LIMIT 500",
                              DBI(k->run->job), DBI(k->event_after));
        if (!s)
            break;
        int n = 0, rc;
        double prog = -1;
        char msg[512] = "";
        json_t *lines = json_array();
        while ((rc = db_step(s, &e)) == DB_ROW) {
            k->event_after = db_col_i64(s, 0);
            n++;
            if (!db_col_null(s, 1)) {
                prog = db_col_dbl(s, 1);
                snprintf(msg, sizeof msg, "%s", db_col_text(s, 2) ? db_col_text(s, 2) : "");
            } else {
                json_array_append_new(lines, json_string(db_col_text(s, 2) ? db_col_text(s, 2) : ""));
            }
        }
        db_done(s);
        size_t i;
        json_t *l;
        json_array_foreach(lines, i, l) log_line(k, json_string_value(l));
        json_decref(lines);
        if (prog >= 0)
            job_progress(k->j, prog, "%s", msg);
        if (n < 500)
            break;
    }
    if (!k->limit_hit && proc_output_was_refused(c, k->run->job))
        k->limit_hit = true;
    db_put(c);
}

static void on_tick(void *ctx)
{
    custom *k = ctx;
    k->ticks++;
    flush_log(k);
    relay(k);
    flush_log(k);
}

static bool on_should_stop(void *ctx)
{
    custom *k = ctx;
    return job_should_stop(k->j) || k->limit_hit;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    remove(p);
    return 0;
}

static void rm_tree(const char *dir)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0700);
            *p = '/';
        }
    return 0;
}

/* The definition's bundled files into the working directory. */
static int write_files(custom *k, err *e)
{
    json_t *files = json_object_get(k->run->manifest, "files"), *f;
    size_t i;
    json_array_foreach(files, i, f)
    {
        const char *path = json_string_value(json_object_get(f, "path"));
        const char *sha = json_string_value(json_object_get(f, "sha256"));
        sbuf b = {0};
        if (blob_get(k->env->blobs, sha, (size_t)1 << 31, &b, e)) {
            sbuf_free(&b);
            return err_prefix(e, "bundled file %s: ", path);
        }
        char full[2048];
        snprintf(full, sizeof full, "%s/%s", k->workdir, path);
        mkdirs(full);
        int mode = json_is_true(json_object_get(f, "executable")) ? 0755 : 0644;
        int fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        bool ok = fd >= 0 && (b.len == 0 || write(fd, b.p, b.len) == (ssize_t)b.len);
        if (fd >= 0)
            close(fd);
        sbuf_free(&b);
        if (!ok)
            return err_set(e, ERR_IO, "cannot write bundled file %s: %s", path, strerror(errno));
    }
    return 0;
}

typedef struct strv {
    char **v;
    int n, cap;
} strv;

static void sv_add(strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sv_add(strv *s, const char *fmt, ...)
{
    if (s->n + 2 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 32;
        s->v = realloc(s->v, (size_t)s->cap * sizeof *s->v);
    }
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s->v[s->n], fmt, ap) < 0)
        s->v[s->n] = strdup("");
    va_end(ap);
    s->n++;
    s->v[s->n] = NULL;
}

static void sv_free(strv *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static void build_env(custom *k, const char *token, strv *env)
{
    proc_run *r = k->run;
    const char *path = getenv("PATH");
    sv_add(env, "PATH=%s", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    sv_add(env, "HOME=%s", k->workdir);
    sv_add(env, "TMPDIR=%s/tmp", k->workdir);
    sv_add(env, "LANG=C.UTF-8");
    if (k->env->api_url && *k->env->api_url) {
        sv_add(env, "CVOPS_URL=%s", k->env->api_url);
        sv_add(env, "CVOPS_SERVER=%s", k->env->api_url);
    }
    if (token && *token)
        sv_add(env, "CVOPS_TOKEN=%s", token);
    sv_add(env, "CVOPS_JOB_ID=%lld", (long long)r->job);
    char *in = json_dumps(r->input, JSON_COMPACT);
    char *pa = json_dumps(r->params, JSON_COMPACT);
    sv_add(env, "CVOPS_INPUT=%s", in);
    sv_add(env, "CVOPS_PARAMS=%s", pa);
    free(in);
    free(pa);
    sv_add(env, "CVOPS_WORKDIR=%s", k->workdir);
    sv_add(env, "CVOPS_THREADS=%d", r->res.threads);
    sv_add(env, "OMP_NUM_THREADS=%d", r->res.threads);
    sv_add(env, "CVOPS_OUTPUT_LIMIT=%lld", (long long)(r->res.output_mb * 1024 * 1024));
    sv_add(env, "CVOPS_TIMEOUT=%lld", (long long)r->res.timeout_s);
    sv_add(env, "CVOPS_PROCESSING=%s", r->name);
    sv_add(env, "CVOPS_PROCESSING_VERSION=%lld", (long long)r->version);
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(r->manifest, "env"), key, v)
        sv_add(env, "%s=%s", key, json_string_value(v));
}

static const char *signame(int s)
{
    switch (s) {
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGINT: return "SIGINT";
    case SIGPIPE: return "SIGPIPE";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGXCPU: return "SIGXCPU";
    default: return "a signal";
    }
}

static bool mentions_memory(custom *k)
{
    static const char *const needles[] = {"MemoryError", "Cannot allocate memory", "bad_alloc",
                                          "out of memory", "Out of memory", "memory exhausted"};
    for (int i = 0; i < k->nlast; i++)
        for (size_t n = 0; n < sizeof needles / sizeof *needles; n++)
            if (k->last[i] && strstr(k->last[i], needles[n]))
                return true;
    return false;
}

/* "reason; last lines: a | b | c" within the error message's size. */
static int fail_with(custom *k, err *e, const char *reason)
{
    char msg[sizeof e->msg];
    int n = snprintf(msg, sizeof msg, "%s", reason);
    if (k->nlast && n > 0 && (size_t)n < sizeof msg - 40) {
        n += snprintf(msg + n, sizeof msg - (size_t)n, "; last lines:");
        int from = k->nlast > 5 ? k->nlast - 5 : 0;
        for (int i = from; i < k->nlast && (size_t)n < sizeof msg - 8; i++) {
            int idx = (k->lasti - k->nlast + i + LAST_LINES) % LAST_LINES;
            n += snprintf(msg + n, sizeof msg - (size_t)n, "%s %.160s", i > from ? " |" : "",
                          k->last[idx] ? k->last[idx] : "");
        }
    }
    return err_set(e, ERR_UNPROCESSABLE, "%s", msg);
}

int proc_custom_run(job_ctx *j, const proc_env *env, err *e)
{
    proc_run run;
    custom k = {.j = j, .env = env, .run = &run, .reported = json_object()};
    db_conn *c = db_get(env->db, e);
    if (!c) {
        json_decref(k.reported);
        return -1;
    }
    int rc = proc_run_load(c, job_id(j), &run, e);
    if (rc == 0)
        rc = proc_staged_drop(c, run.job, e);
    db_put(c);
    if (rc) {
        json_decref(k.reported);
        return -1;
    }
    char token[AUTH_TOKEN_MAX] = "";
    strv env_v = {0}, argv_v = {0};
    proc_exec_result res;
    memset(&res, 0, sizeof res);
    /* the token: this job, its input */
    if (run.user) {
        auth_grant g[2] = {{.id = run.job, .access = AUTH_ACCESS_WRITE}};
        snprintf(g[0].kind, sizeof g[0].kind, "job");
        snprintf(g[1].kind, sizeof g[1].kind, "%s", run.target_kind);
        g[1].id = run.target_id;
        g[1].access = strcmp(run.target_kind, "experiment") == 0 ? AUTH_ACCESS_WRITE : AUTH_ACCESS_READ;
        int64_t expires = time_now_ms() + (run.res.timeout_s + run.res.kill_grace_s + 60) * 1000;
        c = db_get(env->db, e);
        rc = c ? auth_token_create_scoped(c, run.user, run.org, run.job, expires, g, 2, token,
                                          sizeof token, NULL, e)
               : -1;
        db_put(c);
        if (rc)
            goto done;
    }
    snprintf(k.workdir, sizeof k.workdir, "%s/proc-%lld-XXXXXX",
             env->spool_dir && *env->spool_dir ? env->spool_dir : "/tmp", (long long)run.job);
    if (!mkdtemp(k.workdir)) {
        k.workdir[0] = 0;
        rc = err_set(e, ERR_IO, "cannot make a working directory under %s: %s",
                     env->spool_dir ? env->spool_dir : "/tmp", strerror(errno));
        goto done;
    }
    char tmpdir[1100];
    snprintf(tmpdir, sizeof tmpdir, "%s/tmp", k.workdir);
    mkdir(tmpdir, 0700);
    if ((rc = write_files(&k, e)) != 0)
        goto done;
    build_env(&k, token, &env_v);
    json_t *cmd = json_object_get(run.manifest, "command");
    if (json_is_string(cmd)) {
        sv_add(&argv_v, "/bin/sh");
        sv_add(&argv_v, "-c");
        sv_add(&argv_v, "%s", json_string_value(cmd));
    } else {
        size_t i;
        json_t *a;
        json_array_foreach(cmd, i, a) sv_add(&argv_v, "%s", json_string_value(a));
    }
    if (!env->api_url || !*env->api_url)
        job_log(j, "this worker was started without --api-url: the command can report on its "
                   "standard output only (CVOPS_URL is not set)");
    job_log(j, "running %s %lld in %s (timeout %lld s, memory %lld MB, outputs %lld MB)", run.name,
            (long long)run.version, k.workdir, (long long)run.res.timeout_s,
            (long long)run.res.memory_mb, (long long)run.res.output_mb);
    proc_exec_opts o = {.argv = argv_v.v,
                        .envp = env_v.v,
                        .workdir = k.workdir,
                        .memory_bytes = run.res.memory_mb * 1024 * 1024,
                        .timeout_ms = run.res.timeout_s * 1000,
                        .kill_grace_ms = run.res.kill_grace_s * 1000};
    proc_exec_cb cb = {.ctx = &k, .line = on_line, .should_stop = on_should_stop, .tick = on_tick};
    if ((rc = proc_exec(&o, &cb, &res, e)) != 0)
        goto done;
    relay(&k);
    flush_log(&k);
    char why[400];
    if (job_should_stop(j)) {
        rc = err_set(e, ERR_UNAVAILABLE, "stopped (canceled, or the worker is shutting down); the "
                                         "command's process group was ended after %.1f s",
                     (double)res.duration_ms / 1000);
    } else if (res.timed_out) {
        snprintf(why, sizeof why, "timed out after %lld s (resources.timeout_s); the command's "
                                  "process group was ended%s",
                 (long long)run.res.timeout_s,
                 res.killed ? " with SIGKILL: it did not stop within the grace after SIGTERM" : "");
        rc = fail_with(&k, e, why);
    } else if (k.limit_hit) {
        snprintf(why, sizeof why, "its outputs went past the limit of %lld MB "
                                  "(resources.output_mb); stopped",
                 (long long)run.res.output_mb);
        rc = fail_with(&k, e, why);
    } else if (res.signal) {
        snprintf(why, sizeof why, "the command was killed by signal %d (%s)%s", res.signal,
                 signame(res.signal),
                 mentions_memory(&k) ? "; it probably reached its memory limit (resources.memory_mb)" : "");
        rc = fail_with(&k, e, why);
    } else if (res.exit_code != 0) {
        char hint[120] = "";
        if (mentions_memory(&k) && run.res.memory_mb)
            snprintf(hint, sizeof hint, "; it probably reached its memory limit of %lld MB "
                                        "(resources.memory_mb)", (long long)run.res.memory_mb);
        snprintf(why, sizeof why, "the command exited with status %d%s", res.exit_code, hint);
        rc = fail_with(&k, e, why);
    } else if (k.output_errors) {
        snprintf(why, sizeof why, "%d output(s) were refused; the first: %.300s", k.output_errors,
                 k.first_error);
        rc = fail_with(&k, e, why);
    } else {
        json_t *outputs = NULL;
        c = db_get(env->db, e);
        rc = c ? proc_staged_commit(c, env, &run, &outputs, e) : -1;
        db_put(c);
        if (rc == 0) {
            job_log(j, "the command succeeded in %.1f s; %zu output(s) written",
                    (double)res.duration_ms / 1000, json_array_size(outputs));
            json_t *result = json_pack("{s:o, s:i, s:I, s:I}", "outputs", outputs, "exit_code", 0,
                                       "duration_ms", (json_int_t)res.duration_ms, "max_rss_mb",
                                       (json_int_t)(res.max_rss_kb / 1024));
            if (json_object_size(k.reported))
                json_object_set(result, "reported", k.reported);
            job_set_result(j, result);
        } else {
            rc = err_prefix(e, "the command succeeded but its outputs could not be written: ");
            e->code = ERR_UNPROCESSABLE;
        }
    }
done:
    if (rc != 0) {
        json_t *result = json_pack("{s:o, s:i, s:i, s:I, s:I, s:b, s:b}", "last_lines",
                                   last_lines(&k), "exit_code", res.exit_code, "signal", res.signal,
                                   "duration_ms", (json_int_t)res.duration_ms, "max_rss_mb",
                                   (json_int_t)(res.max_rss_kb / 1024), "timed_out", res.timed_out,
                                   "killed", res.killed);
        if (json_object_size(k.reported))
            json_object_set(result, "reported", k.reported);
        job_set_result(j, result);
        err de;
        c = db_get(env->db, &de);
        if (c && proc_staged_drop(c, run.job, &de) != 0)
            log_warn("job %lld: cannot drop its staged outputs: %s", (long long)run.job, de.msg);
        db_put(c);
    }
    err re;
    c = db_get(env->db, &re);
    if (c)
        auth_job_tokens_revoke(c, run.job, &re);
    db_put(c);
    flush_log(&k);
    rm_tree(k.workdir);
    sv_free(&env_v);
    sv_free(&argv_v);
    for (int i = 0; i < LAST_LINES; i++)
        free(k.last[i]);
    json_decref(k.reported);
    proc_run_free(&run);
    return rc;
}
