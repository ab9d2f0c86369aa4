/*
 * model_cache.c - registry model versions loaded once per process (see
 * model_cache.h).
 *
 * An entry in the "loading" state belongs to the request loading it; the
 * others wait on `loaded` and look the table up again when woken. A load
 * that fails unlinks its entry before the broadcast, so nobody sees it.
 */
#include "registry/model_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "registry/registry.h"

struct reg_model {
    int64_t version;
    char sha[65];
    void *model; /* NULL once loaded: not of the cache's kind */
    int refs;
    bool loading;
    int64_t used;
};

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int reg_version_checkpoint(db_conn *c, int64_t org, int64_t version, char sha[65], err *e)
{
    static const char *const paths[] = {"model.safetensors", "checkpoints/best.safetensors",
                                        "checkpoints/last.safetensors"};
    int64_t size;
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        if (reg_version_file(c, org, version, paths[i], sha, &size, e) == 0)
            return 0;
        if (e->code != ERR_NOT_FOUND)
            return -1;
    }
    db_stmt *s = db_query(c, e,
                          "SELECT f.sha256, f.path FROM model_file f JOIN model_version v"
                          " ON v.id = f.version_id JOIN model m ON m.id = v.model_id"
                          " WHERE f.version_id = $1 AND m.org_id = $2 ORDER BY f.path",
                          DBI(version), DBI(org));
    if (!s)
        return -1;
    int n = 0, rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        const char *p = db_col_text(s, 1);
        if (ends_with(p, ".safetensors") && !ends_with(p, ".optim.safetensors")) {
            snprintf(sha, 65, "%s", db_col_text(s, 0));
            n++;
        }
    }
    db_done(s);
    if (rc < 0)
        return -1;
    if (n != 1)
        return err_set(e, ERR_UNPROCESSABLE,
                       "model version %lld has no cvops model file (model.safetensors); publish "
                       "an experiment trained on the platform, or upload the checkpoint as "
                       "model.safetensors",
                       (long long)version);
    return 0;
}

static int sink_file(void *ctx, const void *p, size_t n)
{
    return fwrite(p, 1, n, ctx) == n ? 0 : -1;
}

static void *load(reg_model_cache *mc, blob_store *bs, const char *spool, const char *sha,
                  int sessions, err *e)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/model-%.16s-%llx.safetensors", spool, sha,
             (unsigned long long)(rand_u64() & 0xffffffffULL));
    FILE *f = fopen(path, "wb");
    if (!f) {
        err_set(e, ERR_IO, "cannot create a temporary file in %s", spool);
        return NULL;
    }
    int rc = blob_read(bs, sha, 0, -1, sink_file, f, e);
    if (fclose(f) != 0 && rc == 0)
        rc = err_set(e, ERR_IO, "cannot write %s", path);
    void *m = rc == 0 ? mc->open(path, sessions, e) : NULL;
    unlink(path);
    return m;
}

int reg_model_acquire(reg_model_cache *mc, db_conn *c, blob_store *bs, const char *spool_dir,
                      int64_t org, int64_t version, int sessions, reg_model **out, err *e)
{
    char sha[65];
    *out = NULL;
    if (reg_version_checkpoint(c, org, version, sha, e) != 0)
        return -1;
    pthread_mutex_lock(&mc->mu);
    reg_model *m;
    for (;;) {
        m = NULL;
        for (int i = 0; i < REG_MODEL_CACHE_SLOTS; i++)
            if (mc->table[i] && mc->table[i]->version == version &&
                strcmp(mc->table[i]->sha, sha) == 0)
                m = mc->table[i];
        if (!m || !m->loading)
            break;
        pthread_cond_wait(&mc->loaded, &mc->mu);
    }
    if (m) {
        m->used = ++mc->tick;
        if (m->model) {
            m->refs++;
            *out = m;
        }
        pthread_mutex_unlock(&mc->mu);
        return 0;
    }
    /* a free slot, or the least recently used entry nobody holds */
    int slot = -1;
    for (int i = 0; i < REG_MODEL_CACHE_SLOTS && slot < 0; i++)
        if (!mc->table[i])
            slot = i;
    for (int i = 0; i < REG_MODEL_CACHE_SLOTS && slot < 0; i++)
        if (mc->table[i]->refs == 0 && !mc->table[i]->loading &&
            (slot < 0 || mc->table[i]->used < mc->table[slot]->used))
            slot = i;
    if (slot < 0) {
        pthread_mutex_unlock(&mc->mu);
        return err_set(e, ERR_UNAVAILABLE,
                       "this process already serves %d %s in use; try again in a moment",
                       REG_MODEL_CACHE_SLOTS, mc->what);
    }
    reg_model *old = mc->table[slot];
    m = calloc(1, sizeof *m);
    if (!m) {
        pthread_mutex_unlock(&mc->mu);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    m->version = version;
    snprintf(m->sha, sizeof m->sha, "%s", sha);
    m->loading = true;
    m->refs = 1;
    m->used = ++mc->tick;
    mc->table[slot] = m;
    pthread_mutex_unlock(&mc->mu);
    if (old) {
        if (old->model)
            mc->close(old->model);
        free(old);
    }
    void *model = load(mc, bs, spool_dir, sha, sessions, e);
    bool other_kind = !model && e->code == ERR_UNSUPPORTED;
    pthread_mutex_lock(&mc->mu);
    m->loading = false;
    m->model = model;
    if (!model) {
        m->refs--;
        if (!other_kind) /* forgotten: the next request tries again */
            for (int i = 0; i < REG_MODEL_CACHE_SLOTS; i++)
                if (mc->table[i] == m)
                    mc->table[i] = NULL;
    }
    pthread_cond_broadcast(&mc->loaded);
    pthread_mutex_unlock(&mc->mu);
    if (model) {
        *out = m;
        return 0;
    }
    if (other_kind)
        return 0;
    free(m); /* unlinked under the lock: waiters look the table up again */
    return err_prefix(e, "model version %lld: ", (long long)version);
}

void reg_model_release(reg_model_cache *mc, reg_model *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&mc->mu);
    m->refs--;
    pthread_mutex_unlock(&mc->mu);
}

void *reg_model_get(reg_model *m) { return m->model; }

void reg_model_cache_clear(reg_model_cache *mc)
{
    pthread_mutex_lock(&mc->mu);
    for (int i = 0; i < REG_MODEL_CACHE_SLOTS; i++)
        if (mc->table[i] && mc->table[i]->refs == 0 && !mc->table[i]->loading) {
            if (mc->table[i]->model)
                mc->close(mc->table[i]->model);
            free(mc->table[i]);
            mc->table[i] = NULL;
        }
    pthread_mutex_unlock(&mc->mu);
}
