/*
 * jsonv.h - reading request documents (jansson) with exact error messages.
 *
 * Each getter looks up `key` in a JSON object and checks its type and range.
 * Absent (or null) optional fields leave *out untouched and return 0. Errors
 * name the field and say what was expected:
 *     "field 'limit' must be a whole number between 1 and 1000, got 5000"
 */
#ifndef CVOPS_BASE_JSONV_H
#define CVOPS_BASE_JSONV_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

enum { JV_OPTIONAL = 0, JV_REQUIRED = 1 };

int jv_str(json_t *obj, const char *key, int required, size_t max_len, const char **out, err *e);
int jv_i64(json_t *obj, const char *key, int required, int64_t min, int64_t max, int64_t *out,
           err *e);
int jv_dbl(json_t *obj, const char *key, int required, double min, double max, double *out,
           err *e);
int jv_bool(json_t *obj, const char *key, int required, bool *out, err *e);
int jv_obj(json_t *obj, const char *key, int required, json_t **out, err *e);
int jv_arr(json_t *obj, const char *key, int required, size_t max_items, json_t **out, err *e);
/* Refuses fields not in `allowed` (NULL-terminated), naming the first one. */
int jv_only(json_t *obj, const char *const *allowed, err *e);
/* The body itself must be an object. */
int jv_is_obj(json_t *doc, err *e);
/* Serialised size of a JSON value (for bounded metadata fields). */
size_t jv_size(json_t *v);

#endif
