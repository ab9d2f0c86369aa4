/*
 * experiment_impl.h - what the files of src/experiment/ share. Not for use
 * outside the module.
 */
#ifndef CVOPS_EXPERIMENT_IMPL_H
#define CVOPS_EXPERIMENT_IMPL_H

#include "base/buf.h"
#include "experiment/experiment.h"

/* A time column as an ISO string, or null. */
void exp_jw_time(jw *w, const char *key, db_stmt *s, int col);
/* An id column, or null. */
void exp_jw_id(jw *w, const char *key, db_stmt *s, int col);
/* A stored JSON column written as JSON (not as a string). */
void exp_jw_json(jw *w, const char *key, db_stmt *s, int col);
/* A LIKE pattern matching names containing q (case-insensitive with
 * lower() on both sides), with %, _ and \ escaped; malloc'd. */
char *exp_like_pattern(const char *q);
/* Free text (descriptions): valid UTF-8, no NUL, at most max bytes. */
int exp_text_check(const char *what, const char *s, size_t max, err *e);
/* The experiment's organization check, taking its row lock on PostgreSQL
 * (FOR UPDATE) so concurrent writers of one experiment queue up. */
int exp_lock(db_conn *c, int64_t org, int64_t id, err *e);

#endif
