/*
 * err.h - errors as values.
 *
 * Every fallible function in cvops returns an int (0 on success, -1 on
 * failure) and fills an `err` supplied by the caller. An error carries a code
 * (what kind of failure, which maps to an HTTP status and a stable
 * machine-readable name) and a message written for the person who has to fix
 * it: what was wrong and what to do about it.
 *
 * Library code never prints and never exits; the message travels up to the
 * HTTP layer or the CLI, which decide how to show it.
 */
#ifndef CVOPS_BASE_ERR_H
#define CVOPS_BASE_ERR_H

#include <stddef.h>

typedef enum {
    ERR_NONE = 0,
    ERR_INVALID,       /* 400 bad input: malformed JSON, wrong type, out of range */
    ERR_UNAUTHORIZED,  /* 401 no or bad credentials */
    ERR_FORBIDDEN,     /* 403 authenticated but the role does not allow it */
    ERR_NOT_FOUND,     /* 404 */
    ERR_METHOD,        /* 405 route exists, method does not */
    ERR_CONFLICT,      /* 409 duplicate name, locked version, state conflict */
    ERR_TOO_LARGE,     /* 413 body or field above a named limit */
    ERR_UNSUPPORTED,   /* 415 content type or file format we do not accept */
    ERR_UNPROCESSABLE, /* 422 well-formed but semantically wrong (bad image) */
    ERR_RATE,          /* 429 */
    ERR_INTERNAL,      /* 500 a bug or an unexpected state */
    ERR_UNAVAILABLE,   /* 503 a backend (database, object store) is down */
    ERR_IO,            /* 500 disk or network I/O failed */
    ERR__COUNT
} err_code;

typedef struct err {
    err_code code;
    char msg[512];
} err;

/* Sets *e (if e is not NULL) and returns -1 so callers can `return err_set(...)`. */
int err_set(err *e, err_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message with more context: "line 3" + old message
 * gives "line 3: old message" (": " is added unless the prefix ends in a
 * space or a colon). */
int err_prefix(err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void err_clear(err *e) { e->code = ERR_NONE; e->msg[0] = 0; }

/* "not_found", "invalid_argument", ... stable names used in API error bodies. */
const char *err_code_name(err_code code);
int err_http_status(err_code code);

#endif
