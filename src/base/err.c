/*
 * err.c - error codes, their HTTP statuses and stable names.
 */
#include "base/err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int status;
} err_table[ERR__COUNT] = {
    [ERR_NONE] = {"ok", 200},
    [ERR_INVALID] = {"invalid_argument", 400},
    [ERR_UNAUTHORIZED] = {"unauthenticated", 401},
    [ERR_FORBIDDEN] = {"permission_denied", 403},
    [ERR_NOT_FOUND] = {"not_found", 404},
    [ERR_METHOD] = {"method_not_allowed", 405},
    [ERR_CONFLICT] = {"conflict", 409},
    [ERR_TOO_LARGE] = {"too_large", 413},
    [ERR_UNSUPPORTED] = {"unsupported_media_type", 415},
    [ERR_UNPROCESSABLE] = {"unprocessable", 422},
    [ERR_RATE] = {"rate_limited", 429},
    [ERR_INTERNAL] = {"internal", 500},
    [ERR_UNAVAILABLE] = {"unavailable", 503},
    [ERR_IO] = {"io_error", 500},
};

int err_set(err *e, err_code code, const char *fmt, ...)
{
    if (!e)
        return -1;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    char pre[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* "sample 13" + "cannot read" reads "sample 13: cannot read"; a prefix
     * that ends in its own separator ("requires: ") is kept as it is */
    size_t n = strlen(pre);
    bool sep = n == 0 || pre[n - 1] == ' ' || pre[n - 1] == ':';
    snprintf(e->msg, sizeof e->msg, "%s%s%s", pre, sep ? "" : ": ", old);
    return -1;
}

const char *err_code_name(err_code code)
{
    if ((unsigned)code >= ERR__COUNT)
        return "internal";
    return err_table[code].name;
}

int err_http_status(err_code code)
{
    if ((unsigned)code >= ERR__COUNT)
        return 500;
    return err_table[code].status;
}
