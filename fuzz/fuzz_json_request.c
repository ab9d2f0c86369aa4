/*
 * Fuzz target: a JSON request body as the API reads it: parsed with the
 * same flags as the server, then read with the typed getters the handlers
 * use (jv_*), which must never crash on any shape of document.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/jsonv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return 0;
    err e;
    const char *s = NULL;
    int64_t i = 0;
    double d = 0;
    bool b = false;
    json_t *o = NULL;
    static const char *const allowed[] = {"name", "limit", "ratio", "flag", "meta", "items", NULL};
    jv_is_obj(doc, &e);
    jv_only(doc, allowed, &e);
    jv_str(doc, "name", JV_OPTIONAL, 64, &s, &e);
    jv_i64(doc, "limit", JV_REQUIRED, 1, 1000, &i, &e);
    jv_dbl(doc, "ratio", JV_OPTIONAL, 0, 1, &d, &e);
    jv_bool(doc, "flag", JV_OPTIONAL, &b, &e);
    if (jv_obj(doc, "meta", JV_OPTIONAL, &o, &e) == 0 && o)
        jv_size(o);
    jv_arr(doc, "items", JV_OPTIONAL, 100, &o, &e);
    json_decref(doc);
    return 0;
}
