/*
 * registry.h - the model registry: models, their numbered versions with
 * files, labels, framework, parameters and lineage, and aliases.
 *
 *   model          name (unique in the organization), description, task
 *                  type, tags
 *   version        1, 2, 3... per model; framework (cvops native, or onnx,
 *                  pytorch, tensorflow, other: stored for download only),
 *                  labels (the class names, in output order), parameters,
 *                  lineage (the source experiment, its project, its dataset
 *                  versions by alias, its parameters at publication), files
 *                  (path -> blob), a status (ready, candidate, archived) and,
 *                  for candidates, the reason they were not promoted
 *   alias          a name ("champion", "challenger", anything) pointing at
 *                  one version; moving it is one atomic update, logged
 *
 * A version is published from an experiment (its artifacts become the
 * version's files) or from uploaded files. Publishing emits the webhook
 * event model_version.published.
 */
#ifndef CVOPS_REGISTRY_REGISTRY_H
#define CVOPS_REGISTRY_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "store/db.h"

#define REG_FILES_MAX 1000

int reg_model_create(db_conn *c, int64_t org, int64_t user, json_t *body, int64_t *id, err *e);
int reg_model_update(db_conn *c, int64_t org, int64_t id, json_t *body, err *e);
int reg_model_delete(db_conn *c, int64_t org, int64_t id, err *e);
int reg_model_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
int reg_model_list(db_conn *c, int64_t org, const char *q, jw *w, err *e);
int reg_model_find(db_conn *c, int64_t org, const char *name, int64_t *id, err *e);

/* body: framework, labels, params, description, status, files [{path, sha256}]
 * (blobs the organization holds). */
int reg_version_create(db_conn *c, int64_t org, int64_t user, int64_t model, json_t *body,
                       int64_t *version_id, err *e);
/* Publishes experiment `exp` as a new version of model (created if
 * model_name does not exist). files: artifact paths to take (NULL: all). */
int reg_publish_experiment(db_conn *c, int64_t org, int64_t user, int64_t exp,
                           const char *model_name, int64_t model_id, json_t *files, json_t *labels,
                           const char *framework, int64_t *version_id, err *e);
int reg_version_write(db_conn *c, int64_t org, int64_t id, jw *w, err *e);
int reg_version_list(db_conn *c, int64_t org, int64_t model, jw *w, err *e);
/* body: description, status (ready|candidate|archived), status_reason. */
int reg_version_update(db_conn *c, int64_t org, int64_t id, json_t *body, err *e);
int reg_version_file_add(db_conn *c, int64_t org, int64_t id, const char *path, const char *sha,
                         int64_t size, err *e);
int reg_version_file(db_conn *c, int64_t org, int64_t id, const char *path, char sha[65],
                     int64_t *size, err *e);
/* The version an alias or a number names: "champion", "3". */
int reg_version_resolve(db_conn *c, int64_t org, int64_t model, const char *ref, int64_t *id,
                        err *e);

int reg_alias_set(db_conn *c, int64_t org, int64_t user, int64_t model, const char *alias,
                  int64_t version_id, err *e);
int reg_alias_delete(db_conn *c, int64_t org, int64_t user, int64_t model, const char *alias,
                     err *e);
int reg_alias_log(db_conn *c, int64_t org, int64_t model, jw *w, err *e);

/* The JSON payload of model_version.published for a version. */
char *reg_version_event(db_conn *c, int64_t version_id);

extern const char registry_schema_v50[];

#endif
