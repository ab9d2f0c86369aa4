/*
 * webhook.c - webhooks, their events, signed deliveries; see webhook.h.
 */
#include "webhook/webhook.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"
#include "jobs/jobs.h"

const char webhook_schema_v70[] =
    "CREATE TABLE webhook (id {{ID}}, org_id BIGINT NOT NULL REFERENCES org(id) ON DELETE CASCADE,"
    " url TEXT NOT NULL, secret TEXT NOT NULL, events TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,"
    " description TEXT, created_by BIGINT, created_at BIGINT NOT NULL);"
    "CREATE INDEX webhook_org ON webhook (org_id);"
    "CREATE TABLE webhook_delivery (id {{ID}},"
    " webhook_id BIGINT NOT NULL REFERENCES webhook(id) ON DELETE CASCADE, event TEXT NOT NULL,"
    " payload {{JSON}} NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    " last_status INTEGER, last_error TEXT, duration_ms INTEGER, created_at BIGINT NOT NULL,"
    " delivered_at BIGINT);"
    "CREATE INDEX webhook_delivery_hook ON webhook_delivery (webhook_id, id);";

const char *const webhook_events[] = {"job.status",           "experiment.status",
                                      "model_version.published", "deployment.model_changed",
                                      "review.submitted",     "alert.fired",
                                      "ping",                 NULL};

bool webhook_event_known(const char *name)
{
    for (const char *const *e = webhook_events; *e; e++)
        if (strcmp(*e, name) == 0)
            return true;
    return false;
}

/* "job.status,alert.fired" or "*": each name known, no empty parts. */
static int check_events(const char *events, err *e)
{
    if (!events || !*events)
        return err_set(e, ERR_INVALID, "events must be \"*\" or a list such as [\"job.status\"]");
    if (strcmp(events, "*") == 0)
        return 0;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", events);
    for (char *save, *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
        if (!webhook_event_known(p))
            return err_set(e, ERR_INVALID,
                           "unknown event '%.40s'; the events are job.status, experiment.status, "
                           "model_version.published, deployment.model_changed, review.submitted, "
                           "alert.fired",
                           p);
    return 0;
}

static bool wants(const char *events, const char *event)
{
    if (strcmp(events, "*") == 0)
        return strcmp(event, "ping") != 0;
    size_t n = strlen(event);
    for (const char *p = events; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && strncmp(p, event, n) == 0)
            return true;
        p += len + (comma ? 1 : 0);
    }
    return false;
}

int webhook_check_url(const char *url, err *e)
{
    if (!url || (!str_has_prefix(url, "http://") && !str_has_prefix(url, "https://")))
        return err_set(e, ERR_INVALID, "the webhook URL must start with http:// or https://");
    if (strlen(url) > 2000)
        return err_set(e, ERR_INVALID, "the webhook URL is longer than 2000 bytes");
    const char *host = strstr(url, "://") + 3;
    if (!*host || *host == '/' || *host == ':')
        return err_set(e, ERR_INVALID, "the webhook URL has no host");
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return err_set(e, ERR_INVALID, "the webhook URL contains spaces or control characters");
    return 0;
}

bool webhook_address_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
        return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 ||
               (a >> 16) == 0xA9FE ||                 /* 169.254/16 link-local */
               (a >> 20) == (0xAC10 >> 4) ||          /* 172.16/12 */
               (a >> 16) == 0xC0A8 ||                 /* 192.168/16 */
               (a >> 22) == (0x6440 >> 6) ||          /* 100.64/10 carrier NAT */
               (a >> 28) == 0xE || (a >> 28) == 0xF;  /* multicast, reserved */
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        static const unsigned char any[16] = {0};
        if (memcmp(b, loop, 16) == 0 || memcmp(b, any, 16) == 0)
            return true;
        if ((b[0] & 0xFE) == 0xFC || (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) || b[0] == 0xFF)
            return true; /* unique local, link-local, multicast */
        /* IPv4-mapped: judge the IPv4 address */
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        if (memcmp(b, mapped, 12) == 0) {
            struct sockaddr_in v4 = {.sin_family = AF_INET};
            memcpy(&v4.sin_addr, b + 12, 4);
            return webhook_address_private((const struct sockaddr *)&v4);
        }
        return false;
    }
    return true; /* unix sockets and anything else */
}

int webhook_emit(db_conn *c, int64_t org, const char *event, const char *payload, int *n, err *e)
{
    *n = 0;
    db_stmt *s = db_query(c, e, "SELECT id, events FROM webhook WHERE org_id = $1 AND active = 1",
                          DBI(org));
    if (!s)
        return -1;
    int64_t ids[256];
    int k = 0, rc;
    while ((rc = db_step(s, e)) == DB_ROW && k < 256)
        if (wants(db_col_text(s, 1), event))
            ids[k++] = db_col_i64(s, 0);
    db_done(s);
    if (rc < 0)
        return -1;
    for (int i = 0; i < k; i++) {
        int64_t did, job;
        if (db_one_i64(c, e, &did,
                       "INSERT INTO webhook_delivery (webhook_id, event, payload, state, created_at)"
                       " VALUES ($1, $2, $3, 'pending', $4) RETURNING id",
                       DBI(ids[i]), DBT(event), DBT(payload), DBI(time_now_ms())) != 0)
            return -1;
        char jp[64];
        snprintf(jp, sizeof jp, "{\"delivery_id\":%lld}", (long long)did);
        if (jobs_submit(c, org, "webhook.deliver", jp, 0, 6, &job, e) != 0)
            return -1;
        (*n)++;
    }
    return 0;
}

/* --- delivery -------------------------------------------------------------- */

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    (void)purpose;
    bool allow = *(bool *)clientp;
    if (!allow && webhook_address_private(&addr->addr)) {
        ((bool *)clientp)[1] = true; /* refused */
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

static size_t sink(char *p, size_t sz, size_t n, void *u)
{
    (void)p;
    (void)u;
    return sz * n;
}

int webhook_deliver(db_conn *c, int64_t delivery_id, bool allow_private, int attempt, err *e)
{
    db_stmt *s = db_query(c, e,
                          "SELECT w.url, w.secret, d.event, d.payload, w.active FROM webhook_delivery d"
                          " JOIN webhook w ON w.id = d.webhook_id WHERE d.id = $1",
                          DBI(delivery_id));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    char *url = NULL, *secret = NULL, *event = NULL, *payload = NULL;
    bool active = false;
    if (rc == DB_ROW) {
        url = strdup(db_col_text(s, 0));
        secret = strdup(db_col_text(s, 1));
        event = strdup(db_col_text(s, 2));
        payload = strdup(db_col_text(s, 3));
        active = db_col_i64(s, 4) != 0;
    }
    db_done(s);
    if (rc != DB_ROW)
        return rc < 0 ? -1 : err_set(e, ERR_NOT_FOUND, "delivery %lld is gone", (long long)delivery_id);
    int result = -1;
    long status = 0;
    char errbuf[CURL_ERROR_SIZE] = "";
    int64_t t0 = time_mono_ns();
    if (!active) {
        snprintf(errbuf, sizeof errbuf, "the webhook is disabled");
        err_set(e, ERR_INVALID, "%s", errbuf);
    } else {
        /* body: {"event", "delivery", "created", "data"} */
        sbuf body = SBUF_INIT;
        char ts[32];
        time_fmt_iso(time_now_ms(), ts, sizeof ts);
        sbuf_printf(&body, "{\"event\":\"%s\",\"delivery\":%lld,\"sent_at\":\"%s\",\"data\":%s}",
                    event, (long long)delivery_id, ts, payload);
        char stamp[32];
        snprintf(stamp, sizeof stamp, "%lld", (long long)(time_now_ms() / 1000));
        sbuf signed_text = SBUF_INIT;
        sbuf_printf(&signed_text, "%s.", stamp);
        sbuf_put(&signed_text, body.p, body.len);
        unsigned char mac[32];
        hmac_sha256(secret, strlen(secret), signed_text.p, signed_text.len, mac);
        char machex[65];
        hex_encode(mac, 32, machex);
        char h1[96], h2[64], h3[64], h4[96];
        snprintf(h1, sizeof h1, "X-Cvops-Event: %s", event);
        snprintf(h2, sizeof h2, "X-Cvops-Delivery: %lld", (long long)delivery_id);
        snprintf(h3, sizeof h3, "X-Cvops-Timestamp: %s", stamp);
        snprintf(h4, sizeof h4, "X-Cvops-Signature: sha256=%s", machex);
        struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
        hdr = curl_slist_append(hdr, h1);
        hdr = curl_slist_append(hdr, h2);
        hdr = curl_slist_append(hdr, h3);
        hdr = curl_slist_append(hdr, h4);
        hdr = curl_slist_append(hdr, "User-Agent: cvops-webhook/1");
        hdr = curl_slist_append(hdr, "Expect:");
        bool guard[2] = {allow_private, false};
        CURL *h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
        curl_easy_setopt(h, CURLOPT_POSTREDIR, CURL_REDIR_POST_ALL);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.p);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body.len);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, guard);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        CURLcode cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(h);
        curl_slist_free_all(hdr);
        sbuf_free(&body);
        sbuf_free(&signed_text);
        if (guard[1]) {
            snprintf(errbuf, sizeof errbuf,
                     "refused: the target resolves to a loopback or private address (allow it "
                     "with --webhooks-allow-private)");
            err_set(e, ERR_INVALID, "%s", errbuf);
        } else if (cc != CURLE_OK) {
            if (!errbuf[0])
                snprintf(errbuf, sizeof errbuf, "%s", curl_easy_strerror(cc));
            err_set(e, ERR_UNAVAILABLE, "delivery failed: %s", errbuf);
        } else if (status < 200 || status >= 300) {
            snprintf(errbuf, sizeof errbuf, "the receiver answered HTTP %ld", status);
            err_set(e, ERR_UNAVAILABLE, "%s", errbuf);
        } else {
            result = 0;
        }
    }
    int64_t ms = (time_mono_ns() - t0) / 1000000;
    err ue;
    db_run(c, &ue,
           "UPDATE webhook_delivery SET attempts = $1, last_status = $2, last_error = $3,"
           " duration_ms = $4, state = $5, delivered_at = $6 WHERE id = $7",
           DBI(attempt), status ? DBI(status) : DBNULL, DBT(result == 0 ? NULL : errbuf), DBI(ms),
           DBT(result == 0 ? "delivered" : "failing"), result == 0 ? DBI(time_now_ms()) : DBNULL,
           DBI(delivery_id));
    free(url);
    free(secret);
    free(event);
    free(payload);
    return result;
}

/* --- CRUD ------------------------------------------------------------------------- */

int webhook_create(db_conn *c, int64_t org, int64_t user, const char *url, const char *secret,
                   const char *events, const char *description, int64_t *id, err *e)
{
    if (webhook_check_url(url, e) || check_events(events, e))
        return -1;
    if (!secret || strlen(secret) < 16 || strlen(secret) > 256)
        return err_set(e, ERR_INVALID, "the secret must be 16 to 256 characters");
    return db_one_i64(c, e, id,
                      "INSERT INTO webhook (org_id, url, secret, events, description, created_by,"
                      " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                      DBI(org), DBT(url), DBT(secret), DBT(events), DBT(description), DBI(user),
                      DBI(time_now_ms()));
}

int webhook_update(db_conn *c, int64_t org, int64_t id, const char *url, const char *secret,
                   const char *events, const char *description, int active, err *e)
{
    if ((url && webhook_check_url(url, e)) || (events && check_events(events, e)))
        return -1;
    if (secret && (strlen(secret) < 16 || strlen(secret) > 256))
        return err_set(e, ERR_INVALID, "the secret must be 16 to 256 characters");
    int64_t n = db_run(c, e,
                       "UPDATE webhook SET url = COALESCE($1, url), secret = COALESCE($2, secret),"
                       " events = COALESCE($3, events), description = COALESCE($4, description),"
                       " active = CASE WHEN $5 < 0 THEN active ELSE $5 END WHERE id = $6 AND org_id = $7",
                       DBT(url), DBT(secret), DBT(events), DBT(description), DBI(active), DBI(id),
                       DBI(org));
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "webhook %lld does not exist in this organization",
                       (long long)id);
    return 0;
}

int webhook_delete(db_conn *c, int64_t org, int64_t id, err *e)
{
    int64_t n = db_run(c, e, "DELETE FROM webhook WHERE id = $1 AND org_id = $2", DBI(id), DBI(org));
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "webhook %lld does not exist in this organization",
                       (long long)id);
    return 0;
}

static void write_hook(jw *w, db_stmt *s)
{
    jw_obj(w);
    jw_kint(w, "id", db_col_i64(s, 0));
    jw_kstr(w, "url", db_col_text(s, 1));
    jw_key(w, "events");
    jw_arr(w);
    const char *ev = db_col_text(s, 2);
    for (const char *p = ev; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        jw_strn(w, p, len);
        p += len + (comma ? 1 : 0);
    }
    jw_arr_end(w);
    jw_kbool(w, "active", db_col_i64(s, 3) != 0);
    jw_kstr(w, "description", db_col_text(s, 4));
    char ts[32];
    time_fmt_iso(db_col_i64(s, 5), ts, sizeof ts);
    jw_kstr(w, "created_at", ts);
    jw_obj_end(w);
}

#define HOOK_COLS "id, url, events, active, description, created_at"

int webhook_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT " HOOK_COLS " FROM webhook WHERE id = $1 AND org_id = $2",
                          DBI(id), DBI(org));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW)
        write_hook(w, s);
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND, "webhook %lld does not exist in this organization",
                       (long long)id);
    return rc < 0 ? -1 : 0;
}

int webhook_list(db_conn *c, int64_t org, jw *w, err *e)
{
    db_stmt *s = db_query(c, e, "SELECT " HOOK_COLS " FROM webhook WHERE org_id = $1 ORDER BY id",
                          DBI(org));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW)
        write_hook(w, s);
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int webhook_deliveries(db_conn *c, int64_t org, int64_t id, int64_t limit, jw *w, err *e)
{
    int64_t exists;
    if (db_one_i64(c, e, &exists, "SELECT id FROM webhook WHERE id = $1 AND org_id = $2", DBI(id),
                   DBI(org)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "webhook %lld does not exist in this organization",
                    (long long)id);
        return -1;
    }
    db_stmt *s = db_query(c, e,
                          "SELECT id, event, state, attempts, last_status, last_error, duration_ms,"
                          " created_at, delivered_at FROM webhook_delivery WHERE webhook_id = $1"
                          " ORDER BY id DESC LIMIT $2",
                          DBI(id), DBI(limit));
    if (!s)
        return -1;
    int rc;
    jw_arr(w);
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kint(w, "id", db_col_i64(s, 0));
        jw_kstr(w, "event", db_col_text(s, 1));
        jw_kstr(w, "state", db_col_text(s, 2));
        jw_kint(w, "attempts", db_col_i64(s, 3));
        jw_key(w, "last_status");
        if (db_col_null(s, 4))
            jw_null(w);
        else
            jw_int(w, db_col_i64(s, 4));
        jw_kstr(w, "last_error", db_col_text(s, 5));
        jw_key(w, "duration_ms");
        if (db_col_null(s, 6))
            jw_null(w);
        else
            jw_int(w, db_col_i64(s, 6));
        char ts[32];
        time_fmt_iso(db_col_i64(s, 7), ts, sizeof ts);
        jw_kstr(w, "created_at", ts);
        jw_key(w, "delivered_at");
        if (db_col_null(s, 8)) {
            jw_null(w);
        } else {
            time_fmt_iso(db_col_i64(s, 8), ts, sizeof ts);
            jw_str(w, ts);
        }
        jw_obj_end(w);
    }
    jw_arr_end(w);
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int webhook_ping(db_conn *c, int64_t org, int64_t id, int64_t *delivery, err *e)
{
    int64_t exists;
    if (db_one_i64(c, e, &exists, "SELECT id FROM webhook WHERE id = $1 AND org_id = $2", DBI(id),
                   DBI(org)) != 0) {
        if (e->code == ERR_NOT_FOUND)
            err_set(e, ERR_NOT_FOUND, "webhook %lld does not exist in this organization",
                    (long long)id);
        return -1;
    }
    if (db_one_i64(c, e, delivery,
                   "INSERT INTO webhook_delivery (webhook_id, event, payload, state, created_at)"
                   " VALUES ($1, 'ping', '{\"message\":\"a test delivery from cvops\"}', 'pending', $2)"
                   " RETURNING id",
                   DBI(id), DBI(time_now_ms())) != 0)
        return -1;
    char jp[64];
    snprintf(jp, sizeof jp, "{\"delivery_id\":%lld}", (long long)*delivery);
    int64_t job;
    return jobs_submit(c, org, "webhook.deliver", jp, 0, 6, &job, e);
}
