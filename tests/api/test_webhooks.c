/*
 * API tests of webhooks: registration and its checks, roles, the private
 * address guard, signed deliveries to a real receiver, retries, the
 * delivery log, and the job.status event.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "base/util.h"

static const char *jstr(json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }
static int64_t jint(json_t *j, const char *k) { return json_integer_value(json_object_get(j, k)); }

Test(webhooks, registration_is_checked_and_admin_only)
{
    const char *bad[] = {
        "{\"url\":\"ftp://x.example/h\",\"secret\":\"0123456789abcdef\",\"events\":\"*\"}",
        "{\"url\":\"https://x.example/h\",\"secret\":\"short\",\"events\":\"*\"}",
        "{\"url\":\"https://x.example/h\",\"secret\":\"0123456789abcdef\",\"events\":[\"nope\"]}",
        "{\"url\":\"https://x.example/h\",\"secret\":\"0123456789abcdef\"}",
        "{\"url\":\"https://x.example/a b\",\"secret\":\"0123456789abcdef\",\"events\":\"*\"}",
        "{\"url\":\"https:///h\",\"secret\":\"0123456789abcdef\",\"events\":\"*\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        api_resp *r = api_admin("POST", "/api/v1/webhooks", bad[i]);
        cr_assert_eq(r->status, 400, "%s -> %ld", bad[i], r->status);
        api_free(r);
    }
    api_resp *r = api_admin("POST", "/api/v1/webhooks",
                            "{\"url\":\"https://hooks.example/cvops\",\"secret\":\"0123456789abcdef\","
                            "\"events\":[\"job.status\",\"alert.fired\"],\"description\":\"ops\"}");
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    cr_assert_null(strstr(r->body.p, "0123456789abcdef"), "the secret is never shown again");
    int64_t id = jint(r->json, "id");
    cr_assert_eq(json_array_size(json_object_get(r->json, "events")), 2);
    api_free(r);
    char path[80];
    snprintf(path, sizeof path, "/api/v1/webhooks/%lld", (long long)id);
    r = api_admin("PATCH", path, "{\"active\":false,\"events\":\"*\"}");
    cr_assert_eq(r->status, 200, "%s", r->body.p);
    cr_assert(json_is_false(json_object_get(r->json, "active")));
    api_free(r);
    char *member = api_user("member", NULL);
    r = api_tok(member, "GET", "/api/v1/webhooks", NULL);
    cr_assert_eq(r->status, 403);
    api_free(r);
    free(member);
    r = api_admin("DELETE", path, NULL);
    cr_assert_eq(r->status, 200);
    api_free(r);
    r = api_admin("GET", path, NULL);
    cr_assert_eq(r->status, 404);
    api_free(r);
}

static json_t *wait_delivery(const char *base, const char *tok, int64_t hook, const char *event,
                             const char *state, double secs)
{
    char path[100];
    snprintf(path, sizeof path, "/api/v1/webhooks/%lld/deliveries", (long long)hook);
    int64_t deadline = time_mono_ns() + (int64_t)(secs * 1e9);
    for (;;) {
        api_opts o = {.base = base, .token = tok};
        api_resp *r = api_do("GET", path, &o);
        json_t *items = json_object_get(r->json, "items");
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *d = json_array_get(items, i);
            if (strcmp(jstr(d, "event"), event) == 0 && strcmp(jstr(d, "state"), state) == 0) {
                json_t *out = json_incref(d);
                api_free(r);
                return out;
            }
        }
        api_free(r);
        cr_assert_lt(time_mono_ns(), deadline, "no %s delivery reached state %s", event, state);
        usleep(100000);
    }
}

/* The shared test server does not allow private targets: a webhook to
 * 127.0.0.1 is refused when connecting, and not retried. */
Test(webhooks, loopback_targets_are_refused_when_connecting)
{
    api_resp *r = api_admin("POST", "/api/v1/webhooks",
                            "{\"url\":\"http://127.0.0.1:9/h\",\"secret\":\"0123456789abcdef\",\"events\":[\"ping\"]}");
    cr_assert_eq(r->status, 201, "the form is fine; the address is checked when connecting");
    int64_t id = jint(r->json, "id");
    api_free(r);
    char path[80];
    snprintf(path, sizeof path, "/api/v1/webhooks/%lld/test", (long long)id);
    r = api_admin("POST", path, NULL);
    cr_assert_eq(r->status, 202);
    api_free(r);
    json_t *d = wait_delivery(NULL, api_admin_token(), id, "ping", "failed", 20);
    cr_assert_not_null(strstr(jstr(d, "last_error"), "private address"), "%s", jstr(d, "last_error"));
    cr_assert_eq(jint(d, "attempts"), 1, "a refusal is not retried");
    json_decref(d);
    snprintf(path, sizeof path, "/api/v1/webhooks/%lld", (long long)id);
    r = api_admin("DELETE", path, NULL);
    api_free(r);
}

/* --- a receiver ---------------------------------------------------------- */

typedef struct {
    pthread_mutex_t mu;
    int calls, fail_first;
    char event[64], sig[128], stamp[32];
    sbuf body, last_body;
} receiver;

static enum MHD_Result recv_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *data,
                                    size_t *size, void **con_cls)
{
    (void)url, (void)method, (void)version;
    receiver *rv = cls;
    if (!*con_cls) {
        *con_cls = rv;
        pthread_mutex_lock(&rv->mu);
        sbuf_reset(&rv->body);
        pthread_mutex_unlock(&rv->mu);
        return MHD_YES;
    }
    if (*size) {
        pthread_mutex_lock(&rv->mu);
        sbuf_put(&rv->body, data, *size);
        pthread_mutex_unlock(&rv->mu);
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&rv->mu);
    rv->calls++;
    int status = rv->calls <= rv->fail_first ? 500 : 200;
    const char *ev = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Cvops-Event");
    const char *sg = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Cvops-Signature");
    const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Cvops-Timestamp");
    snprintf(rv->event, sizeof rv->event, "%s", ev ? ev : "");
    snprintf(rv->sig, sizeof rv->sig, "%s", sg ? sg : "");
    snprintf(rv->stamp, sizeof rv->stamp, "%s", ts ? ts : "");
    sbuf_reset(&rv->last_body);
    sbuf_put(&rv->last_body, rv->body.p ? rv->body.p : "", rv->body.len);
    pthread_mutex_unlock(&rv->mu);
    struct MHD_Response *resp = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

Test(webhooks, signed_deliveries_retries_and_job_events, .timeout = 120)
{
    receiver rv = {.fail_first = 1};
    pthread_mutex_init(&rv.mu, NULL);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
                                            recv_handler, &rv, MHD_OPTION_END);
    cr_assert_not_null(d);
    int port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    char db[300], blobs[300], dir[200], url[100];
    api_fresh_store(db, sizeof db, blobs, sizeof blobs, dir, sizeof dir);
    const char *tok = "cvops_private_token_for_webhooks";
    const char *extra[] = {"--webhooks-allow-private", "--workers", "2", NULL};
    pid_t srv = api_start_server(db, blobs, dir, tok, extra, url, sizeof url);
    char body[300];
    snprintf(body, sizeof body,
             "{\"url\":\"http://127.0.0.1:%d/hook\",\"secret\":\"s3cr3t-s3cr3t-s3cr3t\",\"events\":[\"job.status\",\"ping\"]}",
             port);
    api_opts o = {.base = url, .token = tok, .body = body};
    api_resp *r = api_do("POST", "/api/v1/webhooks", &o);
    cr_assert_eq(r->status, 201, "%s", r->body.p);
    int64_t hook = jint(r->json, "id");
    api_free(r);
    /* ping: the first answer is a 500, the retry succeeds */
    char path[100];
    snprintf(path, sizeof path, "/api/v1/webhooks/%lld/test", (long long)hook);
    api_opts p = {.base = url, .token = tok};
    r = api_do("POST", path, &p);
    cr_assert_eq(r->status, 202);
    api_free(r);
    json_t *dv = wait_delivery(url, tok, hook, "ping", "delivered", 30);
    cr_assert_eq(jint(dv, "attempts"), 2);
    cr_assert_eq(jint(dv, "last_status"), 200);
    json_decref(dv);
    pthread_mutex_lock(&rv.mu);
    cr_assert_str_eq(rv.event, "ping");
    /* the signature is HMAC-SHA256(secret, timestamp + "." + body) */
    sbuf signed_text = SBUF_INIT;
    sbuf_printf(&signed_text, "%s.", rv.stamp);
    sbuf_put(&signed_text, rv.last_body.p, rv.last_body.len);
    unsigned char mac[32];
    const char *secret = "s3cr3t-s3cr3t-s3cr3t";
    hmac_sha256(secret, strlen(secret), signed_text.p, signed_text.len, mac);
    char hex[65], want[80];
    hex_encode(mac, 32, hex);
    snprintf(want, sizeof want, "sha256=%s", hex);
    cr_assert_str_eq(rv.sig, want);
    sbuf_free(&signed_text);
    pthread_mutex_unlock(&rv.mu);
    /* a job that ends announces job.status */
    api_opts j = {.base = url, .token = tok, .body = "{\"kind\":\"system.sleep\",\"payload\":{\"ms\":10}}"};
    r = api_do("POST", "/api/v1/jobs", &j);
    int64_t job = jint(r->json, "id");
    api_free(r);
    dv = wait_delivery(url, tok, hook, "job.status", "delivered", 30);
    json_decref(dv);
    pthread_mutex_lock(&rv.mu);
    json_t *payload = json_loadb(rv.last_body.p, rv.last_body.len, 0, NULL);
    pthread_mutex_unlock(&rv.mu);
    cr_assert_str_eq(jstr(payload, "event"), "job.status");
    json_t *data = json_object_get(payload, "data");
    cr_assert_eq(jint(data, "job_id"), job);
    cr_assert_str_eq(jstr(data, "state"), "succeeded");
    json_decref(payload);
    kill(srv, SIGTERM);
    int st;
    waitpid(srv, &st, 0);
    MHD_stop_daemon(d);
}

Test(webhooks, address_classification)
{
    /* the guard's table, via the API's own refusal is tested above; here the
     * address ranges themselves */
    extern bool webhook_address_private(const struct sockaddr *sa);
    const char *priv[] = {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                          "169.254.169.254", "0.0.0.0", "100.64.0.1", "224.0.0.1"};
    const char *pub[] = {"8.8.8.8", "172.32.0.1", "192.169.0.1", "100.128.0.1", "1.1.1.1"};
    for (size_t i = 0; i < sizeof priv / sizeof *priv; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET};
        inet_pton(AF_INET, priv[i], &a.sin_addr);
        cr_assert(webhook_address_private((struct sockaddr *)&a), "%s must be private", priv[i]);
    }
    for (size_t i = 0; i < sizeof pub / sizeof *pub; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET};
        inet_pton(AF_INET, pub[i], &a.sin_addr);
        cr_assert(!webhook_address_private((struct sockaddr *)&a), "%s must be public", pub[i]);
    }
    const char *priv6[] = {"::1", "::", "fd00::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1"};
    for (size_t i = 0; i < sizeof priv6 / sizeof *priv6; i++) {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6};
        inet_pton(AF_INET6, priv6[i], &a.sin6_addr);
        cr_assert(webhook_address_private((struct sockaddr *)&a), "%s must be private", priv6[i]);
    }
    struct sockaddr_in6 g = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2001:4860:4860::8888", &g.sin6_addr);
    cr_assert(!webhook_address_private((struct sockaddr *)&g));
}
