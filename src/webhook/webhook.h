/*
 * webhook.h - organization webhooks: HTTP callbacks when something happens.
 *
 * An admin registers a URL, a secret and the events it wants (or "*").
 * When a module reports an event (webhook_emit), one delivery row is written
 * per matching webhook, in the caller's transaction if it has one, and a
 * job delivers it: a POST of the JSON payload signed with HMAC-SHA256,
 *     X-Cvops-Event: job.status
 *     X-Cvops-Delivery: 42
 *     X-Cvops-Timestamp: 1767225600
 *     X-Cvops-Signature: sha256=hex(HMAC(secret, timestamp + "." + body))
 * A failure (network, timeout, non-2xx) is retried by the job queue with
 * exponential backoff; every attempt is recorded in the delivery log.
 *
 * Targets on loopback, private, link-local or otherwise special networks
 * are refused unless the server allows them (--webhooks-allow-private). The
 * check runs when connecting, on the address DNS actually gave, for every
 * hop of a redirect — not only when the URL is saved.
 */
#ifndef CVOPS_WEBHOOK_WEBHOOK_H
#define CVOPS_WEBHOOK_WEBHOOK_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/db.h"

struct sockaddr;

/* The events a webhook can ask for. */
extern const char *const webhook_events[];
bool webhook_event_known(const char *name);

/* Records one delivery per active webhook of org that wants `event`.
 * payload: a JSON object text (the event's data). Sets *n to the number of
 * deliveries made and, if jobs is not NULL, queues their delivery jobs. */
int webhook_emit(db_conn *c, int64_t org, const char *event, const char *payload, int *n, err *e);

/* Checks a target URL's form (http/https, a host). */
int webhook_check_url(const char *url, err *e);

/* Performs one delivery (called by the job). Fills status and error; 0 if
 * delivered (2xx), -1 otherwise (ERR_UNAVAILABLE: worth retrying). */
int webhook_deliver(db_conn *c, int64_t delivery_id, bool allow_private, int attempt, err *e);

/* True if the address is loopback, private, link-local, multicast, ... */
bool webhook_address_private(const struct sockaddr *sa);

/* CRUD and listings */
int webhook_create(db_conn *c, int64_t org, int64_t user, const char *url, const char *secret,
                   const char *events, const char *description, int64_t *id, err *e);
int webhook_update(db_conn *c, int64_t org, int64_t id, const char *url, const char *secret,
                   const char *events, const char *description, int active, err *e);
int webhook_delete(db_conn *c, int64_t org, int64_t id, err *e);
int webhook_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
int webhook_list(db_conn *c, int64_t org, jw *w, err *e);
int webhook_deliveries(db_conn *c, int64_t org, int64_t id, int64_t limit, jw *w, err *e);
/* Queues a "ping" delivery to one webhook (the test button). */
int webhook_ping(db_conn *c, int64_t org, int64_t id, int64_t *delivery, err *e);

extern const char webhook_schema_v70[];

#endif
