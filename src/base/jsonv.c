/*
 * jsonv.c - typed, bounded reads of JSON request documents; see jsonv.h.
 */
#include "base/jsonv.h"

#include <math.h>
#include <string.h>

#include "base/buf.h"
#include "base/util.h"

static json_t *get(json_t *obj, const char *key, int required, err *e, bool *missing)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    *missing = !v || json_is_null(v);
    if (*missing && required)
        err_set(e, ERR_INVALID, "field '%s' is required", key);
    return v;
}

static const char *type_name(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "a whole number";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

int jv_str(json_t *obj, const char *key, int required, size_t max_len, const char **out, err *e)
{
    bool missing;
    json_t *v = get(obj, key, required, e, &missing);
    if (missing)
        return required ? -1 : 0;
    if (!json_is_string(v))
        return err_set(e, ERR_INVALID, "field '%s' must be a string, got %s", key, type_name(v));
    size_t n = json_string_length(v);
    if (n > max_len)
        return err_set(e, ERR_INVALID, "field '%s' is %zu bytes long; the limit is %zu", key, n,
                       max_len);
    if (strlen(json_string_value(v)) != n)
        return err_set(e, ERR_INVALID, "field '%s' contains a NUL character", key);
    *out = json_string_value(v);
    return 0;
}

int jv_i64(json_t *obj, const char *key, int required, int64_t min, int64_t max, int64_t *out,
           err *e)
{
    bool missing;
    json_t *v = get(obj, key, required, e, &missing);
    if (missing)
        return required ? -1 : 0;
    int64_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
               fabs(json_real_value(v)) < 9e15) {
        x = (int64_t)json_real_value(v);
    } else {
        return err_set(e, ERR_INVALID, "field '%s' must be a whole number, got %s", key,
                       type_name(v));
    }
    if (x < min || x > max)
        return err_set(e, ERR_INVALID,
                       "field '%s' must be a whole number between %lld and %lld, got %lld", key,
                       (long long)min, (long long)max, (long long)x);
    *out = x;
    return 0;
}

int jv_dbl(json_t *obj, const char *key, int required, double min, double max, double *out,
           err *e)
{
    bool missing;
    json_t *v = get(obj, key, required, e, &missing);
    if (missing)
        return required ? -1 : 0;
    if (!json_is_number(v))
        return err_set(e, ERR_INVALID, "field '%s' must be a number, got %s", key, type_name(v));
    double x = json_number_value(v);
    if (!isfinite(x) || x < min || x > max)
        return err_set(e, ERR_INVALID, "field '%s' must be a number between %g and %g, got %g",
                       key, min, max, x);
    *out = x;
    return 0;
}

int jv_bool(json_t *obj, const char *key, int required, bool *out, err *e)
{
    bool missing;
    json_t *v = get(obj, key, required, e, &missing);
    if (missing)
        return required ? -1 : 0;
    if (!json_is_boolean(v))
        return err_set(e, ERR_INVALID, "field '%s' must be true or false, got %s", key,
                       type_name(v));
    *out = json_is_true(v);
    return 0;
}

int jv_obj(json_t *obj, const char *key, int required, json_t **out, err *e)
{
    bool missing;
    json_t *v = get(obj, key, required, e, &missing);
    if (missing)
        return required ? -1 : 0;
    if (!json_is_object(v))
        return err_set(e, ERR_INVALID, "field '%s' must be an object, got %s", key, type_name(v));
    *out = v;
    return 0;
}

int jv_arr(json_t *obj, const char *key, int required, size_t max_items, json_t **out, err *e)
{
    bool missing;
    json_t *v = get(obj, key, required, e, &missing);
    if (missing)
        return required ? -1 : 0;
    if (!json_is_array(v))
        return err_set(e, ERR_INVALID, "field '%s' must be an array, got %s", key, type_name(v));
    if (json_array_size(v) > max_items)
        return err_set(e, ERR_INVALID, "field '%s' has %zu items; the limit is %zu", key,
                       json_array_size(v), max_items);
    *out = v;
    return 0;
}

int jv_only(json_t *obj, const char *const *allowed, err *e)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                ok = true;
        if (!ok) {
            sbuf list = SBUF_INIT;
            for (const char *const *a = allowed; *a; a++) {
                if (a != allowed)
                    sbuf_puts(&list, ", ");
                sbuf_puts(&list, *a);
            }
            err_set(e, ERR_INVALID, "unknown field '%.60s'; the fields are: %s", key,
                    sbuf_cstr(&list));
            sbuf_free(&list);
            return -1;
        }
    }
    return 0;
}

int jv_is_obj(json_t *doc, err *e)
{
    if (!json_is_object(doc))
        return err_set(e, ERR_INVALID, "the request body must be a JSON object%s",
                       doc ? "" : " (it was empty)");
    return 0;
}

static int count_cb(const char *buf, size_t n, void *data)
{
    (void)buf;
    *(size_t *)data += n;
    return 0;
}

size_t jv_size(json_t *v)
{
    size_t n = 0;
    json_dump_callback(v, count_cb, &n, JSON_COMPACT);
    return n;
}
