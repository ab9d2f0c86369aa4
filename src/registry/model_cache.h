/*
 * model_cache.h - the models of registry versions loaded once per process
 * and shared by concurrent requests (model_cache.c).
 *
 * A serving process answers many requests with few models: the first
 * request for a version copies its cvops checkpoint from the blob store
 * into a temporary file and opens it with the cache's `open`; later ones
 * take a reference. Entries are keyed by (version, file); concurrent first
 * requests wait for the one loading; when the table is full the least
 * recently used entry nobody holds goes. Each kind of model (classifier
 * predictors in src/training, detectors in src/deploy) has its own cache,
 * declared with REG_MODEL_CACHE_INIT.
 */
#ifndef CVOPS_REGISTRY_MODEL_CACHE_H
#define CVOPS_REGISTRY_MODEL_CACHE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "store/blob.h"
#include "store/db.h"

#define REG_MODEL_CACHE_SLOTS 8 /* versions kept per cache */

typedef struct reg_model reg_model;

typedef struct reg_model_cache {
    const char *what; /* "models", "detectors": for the "table full" message */
    /* Opens the checkpoint at `path` with `sessions` concurrent users, or
     * NULL with e set. ERR_UNSUPPORTED means "not this kind of model": the
     * entry is then kept without a model, so later requests learn it
     * without reading the file again. */
    void *(*open)(const char *path, int sessions, err *e);
    void (*close)(void *model);
    /* state */
    pthread_mutex_t mu;
    pthread_cond_t loaded;
    reg_model *table[REG_MODEL_CACHE_SLOTS];
    int64_t tick;
} reg_model_cache;

#define REG_MODEL_CACHE_INIT(what, open, close)                                                 \
    {(what), (open), (close), PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0}

/* The blob of a version's cvops checkpoint: model.safetensors, else
 * checkpoints/best.safetensors, else checkpoints/last.safetensors (what a
 * platform training publishes), else the version's only .safetensors file
 * that is not an optimizer state. ERR_UNPROCESSABLE when there is none. */
int reg_version_checkpoint(db_conn *c, int64_t org, int64_t version, char sha[65], err *e);

/* 0 with *out set (release it), 0 with *out NULL when the checkpoint is
 * not of the cache's kind (ERR_UNSUPPORTED from open, remembered), -1 with
 * e set otherwise (no checkpoint, unreadable, or every slot in use). */
int reg_model_acquire(reg_model_cache *mc, db_conn *c, blob_store *bs, const char *spool_dir,
                      int64_t org, int64_t version, int sessions, reg_model **out, err *e);
void reg_model_release(reg_model_cache *mc, reg_model *m);
void *reg_model_get(reg_model *m);
/* Closes what nobody holds (shutdown). */
void reg_model_cache_clear(reg_model_cache *mc);

#endif
