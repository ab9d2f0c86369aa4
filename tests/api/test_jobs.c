/*
 * API tests: the job queue through the API, and its workers as separate
 * processes: exactly-once execution, recovery after kill -9, release on
 * graceful shutdown.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "base/util.h"

static int64_t submit(const char *token, const char *base, const char *payload, int max_attempts)
{
    char body[300];
    snprintf(body, sizeof body, "{\"kind\":\"system.sleep\",\"payload\":%s,\"max_attempts\":%d}",
             payload, max_attempts);
    api_opts o = {.base = base, .token = token, .body = body};
    api_resp *r = api_do("POST", "/api/v1/jobs", &o);
    cr_assert_eq(r->status, 202, "%s", r->body.p);
    int64_t id = json_integer_value(json_object_get(r->json, "id"));
    api_free(r);
    return id;
}

static const char *jstr(json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }
static int64_t jint(json_t *j, const char *k) { return json_integer_value(json_object_get(j, k)); }

Test(jobs, runs_to_success_with_progress_result_and_log)
{
    int64_t id = submit(api_admin_token(), NULL, "{\"ms\":200,\"steps\":4}", 3);
    json_t *j = api_wait_job(api_admin_token(), id, 30);
    cr_assert_str_eq(jstr(j, "state"), "succeeded");
    cr_assert_eq(json_number_value(json_object_get(j, "progress")), 1.0);
    cr_assert_eq(jint(json_object_get(j, "result"), "slept_ms"), 200);
    cr_assert_eq(jint(j, "attempts"), 1);
    cr_assert_not_null(jstr(j, "finished_at"));
    json_decref(j);
    char path[80];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/log", (long long)id);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200);
    cr_assert(json_is_true(json_object_get(r->json, "finished")));
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 2);
    cr_assert_not_null(strstr(jstr(json_array_get(items, 0), "line"), "attempt 1 started"));
    api_free(r);
    /* listing and filters */
    r = api_admin("GET", "/api/v1/jobs?state=succeeded&kind=system.sleep&limit=1", NULL);
    cr_assert_eq(r->status, 200);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1);
    api_free(r);
    r = api_admin("GET", "/api/v1/jobs?state=bogus", NULL);
    cr_assert_eq(r->status, 400);
    api_free(r);
    r = api_admin("GET", "/api/v1/jobs?limit=0", NULL);
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "1..1000"));
    api_free(r);
}

Test(jobs, pagination_is_keyset)
{
    for (int i = 0; i < 5; i++)
        submit(api_admin_token(), NULL, "{\"ms\":0}", 1);
    api_resp *r = api_admin("GET", "/api/v1/jobs?limit=2", NULL);
    json_t *items = json_object_get(r->json, "items");
    cr_assert_eq(json_array_size(items), 2);
    int64_t first = jint(json_array_get(items, 0), "id");
    int64_t second = jint(json_array_get(items, 1), "id");
    cr_assert_gt(first, second);
    int64_t cursor = jint(r->json, "next_cursor");
    cr_assert_eq(cursor, second);
    api_free(r);
    char path[80];
    snprintf(path, sizeof path, "/api/v1/jobs?limit=2&cursor=%lld", (long long)cursor);
    r = api_admin("GET", path, NULL);
    cr_assert_lt(jint(json_array_get(json_object_get(r->json, "items"), 0), "id"), second);
    api_free(r);
}

Test(jobs, retryable_failures_are_retried_then_succeed)
{
    int64_t id = submit(api_admin_token(), NULL, "{\"ms\":1,\"fail_times\":1}", 3);
    json_t *j = api_wait_job(api_admin_token(), id, 30);
    cr_assert_str_eq(jstr(j, "state"), "succeeded");
    cr_assert_eq(jint(j, "attempts"), 2);
    json_decref(j);
}

Test(jobs, permanent_failure_fails_at_once_and_can_be_retried)
{
    int64_t id = submit(api_admin_token(), NULL, "{\"ms\":1,\"fail_times\":1,\"retryable\":false}", 3);
    json_t *j = api_wait_job(api_admin_token(), id, 30);
    cr_assert_str_eq(jstr(j, "state"), "failed");
    cr_assert_eq(jint(j, "attempts"), 1);
    cr_assert_not_null(strstr(jstr(j, "error"), "planned failure"));
    json_decref(j);
    char path[80];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/retry", (long long)id);
    api_resp *r = api_admin("POST", path, NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
    /* the retried job runs again from a fresh attempt budget: its first
     * attempt fails again (fail_times = 1), a second retry would succeed */
    j = api_wait_job(api_admin_token(), id, 30);
    cr_assert_str_eq(jstr(j, "state"), "failed");
    cr_assert_eq(jint(j, "attempts"), 1);
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/log", (long long)id);
    r = api_admin("GET", path, NULL);
    int starts = 0;
    for (size_t i = 0; i < json_array_size(json_object_get(r->json, "items")); i++)
        if (strstr(jstr(json_array_get(json_object_get(r->json, "items"), i), "line"), "started"))
            starts++;
    cr_assert_eq(starts, 2, "the job must have run twice");
    api_free(r);
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/cancel", (long long)id);
    r = api_admin("POST", path, NULL);
    cr_assert_eq(r->status, 409);
    cr_assert_not_null(strstr(api_error_message(r), "already finished"));
    api_free(r);
}

Test(jobs, cancel_a_running_job)
{
    int64_t id = submit(api_admin_token(), NULL, "{\"ms\":20000,\"steps\":200}", 3);
    char path[80];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld", (long long)id);
    for (int i = 0; i < 200; i++) {
        api_resp *r = api_admin("GET", path, NULL);
        bool running = strcmp(jstr(r->json, "state"), "running") == 0;
        api_free(r);
        if (running)
            break;
        usleep(50000);
    }
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/cancel", (long long)id);
    api_resp *r = api_admin("POST", path, NULL);
    cr_assert_eq(r->status, 200);
    cr_assert(json_is_true(json_object_get(r->json, "cancel_requested")));
    api_free(r);
    json_t *j = api_wait_job(api_admin_token(), id, 15);
    cr_assert_str_eq(jstr(j, "state"), "canceled");
    json_decref(j);
}

Test(jobs, only_diagnostic_kinds_are_submittable)
{
    api_resp *r = api_admin("POST", "/api/v1/jobs", "{\"kind\":\"dataset.import\"}");
    cr_assert_eq(r->status, 400);
    cr_assert_not_null(strstr(api_error_message(r), "cannot be submitted directly"));
    api_free(r);
    r = api_admin("POST", "/api/v1/jobs", "{\"kind\":\"system.sleep\",\"payload\":[1]}");
    cr_assert_eq(r->status, 400);
    api_free(r);
    r = api_admin("GET", "/api/v1/jobs/abc", NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
    r = api_admin("GET", "/api/v1/jobs/99999999", NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
}

Test(jobs, log_long_poll_returns_when_a_line_arrives)
{
    int64_t id = submit(api_admin_token(), NULL, "{\"ms\":1500,\"steps\":3}", 3);
    char path[120];
    /* wait for the "started" line, then long-poll for the next one */
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/log?after=0&wait=10", (long long)id);
    api_resp *r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 200);
    int64_t after = jint(r->json, "next_after");
    cr_assert_geq(after, 1);
    api_free(r);
    int64_t t0 = time_mono_ns();
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/log?after=%lld&wait=10", (long long)id,
             (long long)after);
    r = api_admin("GET", path, NULL);
    double secs = (double)(time_mono_ns() - t0) / 1e9;
    cr_assert_eq(r->status, 200);
    cr_assert_gt(json_array_size(json_object_get(r->json, "items")), 0);
    cr_assert_lt(secs, 9.0, "the long poll must return when the job logs, not at the timeout");
    api_free(r);
}

/* --- worker processes ----------------------------------------------------- */

static pid_t start_worker(const char *db, const char *blobs, const char *dir, const char *name,
                          const char *lease)
{
    char log[400];
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    const char *args[] = {"worker", "--data", dir, "--db", db, "--blobs", blobs, "--workers", "2",
                          "--lease-seconds", lease, "--poll-ms", "50", "--name", name, NULL};
    return api_spawn(log, args);
}

static int count_lines(const char *token, const char *base, int64_t id, const char *needle)
{
    char path[80];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld/log", (long long)id);
    api_opts o = {.base = base, .token = token};
    api_resp *r = api_do("GET", path, &o);
    int n = 0;
    json_t *items = json_object_get(r->json, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        if (strstr(jstr(json_array_get(items, i), "line"), needle))
            n++;
    api_free(r);
    return n;
}

static json_t *get_job(const char *token, const char *base, int64_t id)
{
    char path[80];
    snprintf(path, sizeof path, "/api/v1/jobs/%lld", (long long)id);
    api_opts o = {.base = base, .token = token};
    api_resp *r = api_do("GET", path, &o);
    json_t *j = json_incref(r->json);
    api_free(r);
    return j;
}

/* Two worker processes share the queue (the server runs no workers): each
 * of 40 jobs runs exactly once, both workers take part. */
Test(jobs, two_worker_processes_run_each_job_once, .timeout = 120)
{
    char db[300], blobs[300], dir[200], url[100];
    api_fresh_store(db, sizeof db, blobs, sizeof blobs, dir, sizeof dir);
    const char *tok = "cvops_private_token_for_workers";
    const char *extra[] = {"--workers", "0", NULL};
    pid_t srv = api_start_server(db, blobs, dir, tok, extra, url, sizeof url);
    pid_t w1 = start_worker(db, blobs, dir, "w1", "5");
    pid_t w2 = start_worker(db, blobs, dir, "w2", "5");
    int64_t ids[40];
    for (int i = 0; i < 40; i++)
        ids[i] = submit(tok, url, "{\"ms\":200,\"steps\":2}", 3); /* long enough for both to start */
    int by_w1 = 0, by_w2 = 0;
    for (int i = 0; i < 40; i++) {
        int64_t deadline = time_mono_ns() + 60000000000LL;
        json_t *j;
        for (;;) {
            j = get_job(tok, url, ids[i]);
            if (strcmp(jstr(j, "state"), "succeeded") == 0)
                break;
            cr_assert(strcmp(jstr(j, "state"), "failed") != 0, "job failed: %s", jstr(j, "error"));
            json_decref(j);
            cr_assert_lt(time_mono_ns(), deadline, "job %lld did not finish", (long long)ids[i]);
            usleep(50000);
        }
        cr_assert_eq(jint(j, "attempts"), 1, "job %lld ran %lld times", (long long)ids[i],
                     (long long)jint(j, "attempts"));
        json_decref(j);
        cr_assert_eq(count_lines(tok, url, ids[i], "started on"), 1);
        if (count_lines(tok, url, ids[i], "started on w1"))
            by_w1++;
        else
            by_w2++;
    }
    cr_assert_gt(by_w1, 0, "worker w1 ran nothing");
    cr_assert_gt(by_w2, 0, "worker w2 ran nothing");
    kill(w1, SIGTERM);
    kill(w2, SIGTERM);
    kill(srv, SIGTERM);
    int st;
    waitpid(w1, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker 1 did not stop cleanly");
    waitpid(w2, &st, 0);
    waitpid(srv, &st, 0);
}

/* A worker killed with SIGKILL mid-job: its lease expires and the other
 * worker finishes the job (attempt 2). */
Test(jobs, killed_worker_job_completes_elsewhere, .timeout = 120)
{
    char db[300], blobs[300], dir[200], url[100];
    api_fresh_store(db, sizeof db, blobs, sizeof blobs, dir, sizeof dir);
    const char *tok = "cvops_private_token_for_killtest";
    const char *extra[] = {"--workers", "0", NULL};
    pid_t srv = api_start_server(db, blobs, dir, tok, extra, url, sizeof url);
    pid_t w1 = start_worker(db, blobs, dir, "victim", "2");
    int64_t id = submit(tok, url, "{\"ms\":4000,\"steps\":40}", 3);
    /* wait until the victim runs it */
    for (int i = 0; i < 400; i++) {
        json_t *j = get_job(tok, url, id);
        bool running = strcmp(jstr(j, "state"), "running") == 0;
        json_decref(j);
        if (running)
            break;
        usleep(25000);
    }
    usleep(300000);
    kill(w1, SIGKILL);
    int st;
    waitpid(w1, &st, 0);
    pid_t w2 = start_worker(db, blobs, dir, "rescuer", "2");
    int64_t deadline = time_mono_ns() + 60000000000LL;
    json_t *j;
    for (;;) {
        j = get_job(tok, url, id);
        if (strcmp(jstr(j, "state"), "succeeded") == 0)
            break;
        json_decref(j);
        cr_assert_lt(time_mono_ns(), deadline, "the killed worker's job never completed");
        usleep(100000);
    }
    cr_assert_eq(jint(j, "attempts"), 2);
    json_decref(j);
    cr_assert_eq(count_lines(tok, url, id, "started on victim"), 1);
    cr_assert_eq(count_lines(tok, url, id, "started on rescuer"), 1);
    cr_assert_eq(count_lines(tok, url, id, "succeeded"), 1);
    kill(w2, SIGTERM);
    kill(srv, SIGTERM);
    waitpid(w2, &st, 0);
    waitpid(srv, &st, 0);
}

static size_t discard(char *p, size_t sz, size_t n, void *u)
{
    (void)p;
    (void)u;
    return sz * n;
}

/* A child process that long-polls job `id`'s log for new lines (there are
 * none) for up to wait_s seconds; it exits 0 if it got a 200 answer. */
static pid_t spawn_long_poll(const char *url, const char *tok, int64_t id, int wait_s)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* no Criterion assertion in a forked child: plain libcurl, exit code */
    char full[300], auth[120];
    snprintf(full, sizeof full, "%s/api/v1/jobs/%lld/log?after=1000000&wait=%d", url,
             (long long)id, wait_s);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, auth);
    curl_easy_setopt(h, CURLOPT_URL, full);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    long status = 0;
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    _exit(cc == CURLE_OK && status == 200 ? 0 : 1);
}

/* SIGTERM: a request in flight still gets its answer, a running job goes
 * back to the queue without using up an attempt, the process exits 0. */
Test(jobs, graceful_shutdown_finishes_requests_and_releases_jobs, .timeout = 120)
{
    char db[300], blobs[300], dir[200], url[100];
    api_fresh_store(db, sizeof db, blobs, sizeof blobs, dir, sizeof dir);
    const char *tok = "cvops_private_token_for_shutdown";
    const char *extra[] = {"--workers", "1", NULL};
    pid_t srv = api_start_server(db, blobs, dir, tok, extra, url, sizeof url);
    int64_t id = submit(tok, url, "{\"ms\":60000,\"steps\":600}", 3);
    for (int i = 0; i < 400; i++) {
        json_t *j = get_job(tok, url, id);
        bool running = strcmp(jstr(j, "state"), "running") == 0;
        json_decref(j);
        if (running)
            break;
        usleep(25000);
    }
    /* a long poll in flight, in a child process, while we send SIGTERM */
    pid_t poller = spawn_long_poll(url, tok, id, 2);
    usleep(400000);
    kill(srv, SIGTERM);
    int st;
    waitpid(poller, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the in-flight request did not complete");
    waitpid(srv, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the server did not exit cleanly");
    /* restart without workers and look at the job */
    const char *extra0[] = {"--workers", "0", NULL};
    srv = api_start_server(db, blobs, dir, tok, extra0, url, sizeof url);
    json_t *j = get_job(tok, url, id);
    cr_assert_str_eq(jstr(j, "state"), "queued");
    cr_assert_eq(jint(j, "attempts"), 0, "a released job must not use up an attempt");
    json_decref(j);
    cr_assert_eq(count_lines(tok, url, id, "released"), 1);
    kill(srv, SIGTERM);
    waitpid(srv, &st, 0);
}

/* With one event thread (--http-threads 1), a long poll waiting for log
 * lines is handled by a handler thread: quick reads, other reads and
 * writes sent meanwhile are answered at once, not after the poll's 6 s.
 * SIGTERM ends the poll early with what it has, and the server exits 0. */
Test(jobs, a_long_poll_does_not_hold_an_event_thread, .timeout = 120)
{
    char url[100];
    const char *tok = "cvops_private_token_for_event_threads";
    const char *extra[] = {"--workers", "0", "--http-threads", "1", NULL};
    pid_t srv = api_private_server(tok, extra, url, sizeof url);
    int64_t id = submit(tok, url, "{\"ms\":10}", 3); /* stays queued: no workers */
    pid_t poller = spawn_long_poll(url, tok, id, 6);
    usleep(500000);
    char job_path[80];
    snprintf(job_path, sizeof job_path, "/api/v1/jobs/%lld", (long long)id);
    struct {
        const char *method, *path, *body;
        long status;
    } reqs[] = {{"GET", "/api/v1/health", NULL, 200},
                {"GET", job_path, NULL, 200},
                {"GET", "/api/v1/jobs?limit=5", NULL, 200},
                {"POST", "/api/v1/jobs", "{\"kind\":\"system.sleep\",\"payload\":{\"ms\":1}}", 202}};
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        api_opts o = {.base = url, .token = tok, .body = reqs[i].body};
        int64_t t0 = time_mono_ns();
        api_resp *r = api_do(reqs[i].method, reqs[i].path, &o);
        double secs = (double)(time_mono_ns() - t0) / 1e9;
        cr_assert_eq(r->status, reqs[i].status, "%s %s: %ld", reqs[i].method, reqs[i].path,
                     r->status);
        cr_assert_lt(secs, 2.0, "%s %s waited %.2f s behind the long poll", reqs[i].method,
                     reqs[i].path, secs);
        api_free(r);
    }
    int st;
    cr_assert_eq(waitpid(poller, &st, WNOHANG), 0, "the long poll ended before its 6 s");
    int64_t t0 = time_mono_ns();
    kill(srv, SIGTERM);
    waitpid(poller, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the long poll got no answer");
    cr_assert_lt((double)(time_mono_ns() - t0) / 1e9, 4.0, "the long poll was not cut short");
    waitpid(srv, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the server did not exit cleanly");
}

/* A job that holds a write transaction longer than its lease and than
 * SQLite's busy timeout (10 s; a long import does) is not started again by
 * the worker still running it: on SQLite the lease renewal waits behind the
 * transaction, the lease runs out, and the other worker threads' claims,
 * retried after their busy timeout, saw an expired lease. Before the fix
 * this job ran 3 times. */
Test(jobs, long_write_transaction_does_not_rerun_the_job, .timeout = 60)
{
    char db[300], blobs[300], dir[200], url[100];
    api_fresh_store(db, sizeof db, blobs, sizeof blobs, dir, sizeof dir);
    const char *tok = "cvops_private_token_for_lease_test";
    const char *extra[] = {"--workers", "4", "--lease-seconds", "1", "--poll-ms", "20", NULL};
    pid_t srv = api_start_server(db, blobs, dir, tok, extra, url, sizeof url);
    int64_t id = submit(tok, url, "{\"hold_write_ms\":11500,\"ms\":10,\"steps\":1}", 3);
    int64_t deadline = time_mono_ns() + 30000000000LL;
    json_t *j;
    for (;;) {
        j = get_job(tok, url, id);
        if (strcmp(jstr(j, "state"), "succeeded") == 0)
            break;
        cr_assert(strcmp(jstr(j, "state"), "failed") != 0, "job failed: %s", jstr(j, "error"));
        json_decref(j);
        cr_assert_lt(time_mono_ns(), deadline, "the job did not finish");
        usleep(100000);
    }
    cr_assert_eq(jint(j, "attempts"), 1, "the job ran %lld times", (long long)jint(j, "attempts"));
    json_decref(j);
    cr_assert_eq(count_lines(tok, url, id, "started on"), 1);
    kill(srv, SIGTERM);
    int st;
    waitpid(srv, &st, 0);
}
