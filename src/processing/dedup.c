/*
 * dedup.c - the dedup and split built-ins.
 *
 * dedup  Every image's 64-bit pHash (computed at ingest) is compared with
 *        every other's; pairs within max_distance bits join the same group
 *        (union-find, so groups are transitive). One image per group stays
 *        (the most pixels, the oldest or the newest); the others are tagged
 *        (datalake, or dataset version with action=tag) or left out of a
 *        new version (fork of the input without them). The comparison is
 *        all pairs: n^2/2 XOR+popcounts, about a second for 50 000 images.
 *        The result lists the groups (up to 1000) with their distances.
 * split  The dataset module's stratified splitter, on the input in place or
 *        on a fork of it named new_version, in one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "datalake/datalake.h"
#include "dataset/dataset.h"
#include "processing/internal.h"

#define GROUPS_REPORTED 1000

typedef struct dd_item {
    int64_t id;      /* data id (datalake) or asset id (version) */
    int64_t data_id;
    uint64_t phash;
    int64_t pixels;
    char filename[128];
} dd_item;

typedef struct dd {
    proc_run_ctx *x;
    db_conn *c;
    dd_item *items;
    size_t n, cap;
} dd;

static int dd_push(dd *d, int64_t id, int64_t data_id, const char *phash, int64_t pixels,
                   const char *fn, err *e)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 1024;
        dd_item *p = realloc(d->items, cap * sizeof *p);
        if (!p)
            return err_set(e, ERR_INTERNAL, "out of memory");
        d->items = p;
        d->cap = cap;
    }
    dd_item *it = &d->items[d->n++];
    it->id = id;
    it->data_id = data_id;
    it->phash = strtoull(phash ? phash : "0", NULL, 16);
    it->pixels = pixels;
    snprintf(it->filename, sizeof it->filename, "%s", fn ? fn : "");
    return 0;
}

static int dd_asset(void *ctx, json_t *a, err *e)
{
    dd *d = ctx;
    if (proc_should_stop(d->x, e))
        return -1;
    int64_t data_id = json_integer_value(json_object_get(a, "data_id"));
    json_t *item = proc_json_of(d->c, datalake_data_write, d->x->run.org, data_id, e);
    if (!item)
        return -1;
    int rc = dd_push(d, json_integer_value(json_object_get(a, "id")), data_id,
                     json_string_value(json_object_get(item, "phash")),
                     json_integer_value(json_object_get(a, "width")) *
                         json_integer_value(json_object_get(a, "height")),
                     json_string_value(json_object_get(a, "filename")), e);
    json_decref(item);
    return rc;
}

static int dd_lake(dd *d, int64_t lake, const char *q, err *e)
{
    char cursor[256] = "";
    for (;;) {
        if (proc_should_stop(d->x, e))
            return -1;
        sbuf b = {0};
        jw w;
        jw_init(&w, &b);
        datalake_page p = {.q = q ? q : "", .order_by = "created", .cursor = cursor[0] ? cursor : NULL,
                           .limit = 1000};
        if (datalake_search(d->c, lake, &p, &w, e)) {
            sbuf_free(&b);
            return -1;
        }
        json_error_t je;
        json_t *page = json_loadb(b.p ? b.p : "", b.len, 0, &je);
        sbuf_free(&b);
        if (!page)
            return err_set(e, ERR_INTERNAL, "cannot read a datalake page back");
        size_t i;
        json_t *it;
        int rc = 0;
        json_array_foreach(json_object_get(page, "items"), i, it)
        {
            int64_t id = json_integer_value(json_object_get(it, "id"));
            rc = dd_push(d, id, id, json_string_value(json_object_get(it, "phash")),
                         json_integer_value(json_object_get(it, "width")) *
                             json_integer_value(json_object_get(it, "height")),
                         json_string_value(json_object_get(it, "filename")), e);
            if (rc)
                break;
        }
        const char *next = json_string_value(json_object_get(page, "next_cursor"));
        bool more = rc == 0 && next;
        if (more)
            snprintf(cursor, sizeof cursor, "%s", next);
        json_decref(page);
        if (rc)
            return -1;
        if (!more)
            return 0;
    }
}

static size_t uf_find(size_t *parent, size_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

/* Is a better to keep than b? */
static bool keep_before(const dd_item *a, const dd_item *b, const char *policy)
{
    if (strcmp(policy, "largest") == 0 && a->pixels != b->pixels)
        return a->pixels > b->pixels;
    if (strcmp(policy, "newest") == 0)
        return a->data_id > b->data_id;
    return a->data_id < b->data_id;
}

int proc_dedup(proc_run_ctx *x, err *e)
{
    dd d = {.x = x};
    int maxd = (int)proc_pi(x, "max_distance");
    const char *policy = proc_ps(x, "keep") ? proc_ps(x, "keep") : "largest";
    const char *tag = proc_ps(x, "tag") ? proc_ps(x, "tag") : "duplicate";
    const char *action = proc_ps(x, "action") ? proc_ps(x, "action") : "new-version";
    const char *q = proc_query(x);
    bool on_lake = strcmp(x->run.target_kind, "datalake") == 0;
    d.c = db_get(x->env->db, e);
    if (!d.c)
        return -1;
    int rc = on_lake ? dd_lake(&d, x->run.target_id, q, e)
                     : proc_each_asset(d.c, x->run.org, x->run.target_id, q, false, dd_asset, &d,
                                       NULL, e);
    db_put(d.c);
    d.c = NULL;
    if (rc) {
        free(d.items);
        return -1;
    }
    job_progress(x->job, 0.5, "comparing %zu images", d.n);
    /* all pairs; union-find */
    size_t *parent = malloc((d.n ? d.n : 1) * sizeof *parent);
    int *gmax = calloc(d.n ? d.n : 1, sizeof *gmax);
    if (!parent || !gmax) {
        free(parent);
        free(gmax);
        free(d.items);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < d.n; i++)
        parent[i] = i;
    for (size_t i = 0; i < d.n; i++) {
        if ((i & 1023) == 0 && proc_should_stop(x, e)) {
            free(parent);
            free(gmax);
            free(d.items);
            return -1;
        }
        uint64_t h = d.items[i].phash;
        for (size_t j = i + 1; j < d.n; j++) {
            int dist = image_hamming(h, d.items[j].phash);
            if (dist > maxd)
                continue;
            size_t a = uf_find(parent, i), b = uf_find(parent, j);
            int m = dist > gmax[a] ? dist : gmax[a];
            if (gmax[b] > m)
                m = gmax[b];
            if (a != b)
                parent[b] = a;
            gmax[a] = m;
        }
    }
    /* the kept item of each group */
    size_t *best = malloc((d.n ? d.n : 1) * sizeof *best);
    size_t *size = calloc(d.n ? d.n : 1, sizeof *size);
    for (size_t i = 0; i < d.n; i++)
        best[i] = (size_t)-1;
    for (size_t i = 0; i < d.n; i++) {
        size_t r = uf_find(parent, i);
        size[r]++;
        if (best[r] == (size_t)-1 || keep_before(&d.items[i], &d.items[best[r]], policy))
            best[r] = i;
    }
    json_t *groups = json_array(), *drop_ids = json_array(), *drop_data = json_array();
    int64_t ngroups = 0;
    for (size_t r = 0; r < d.n; r++) {
        if (uf_find(parent, r) != r || size[r] < 2)
            continue;
        ngroups++;
        dd_item *k = &d.items[best[r]];
        json_t *removed = json_array();
        for (size_t i = 0; i < d.n; i++) {
            if (i == best[r] || uf_find(parent, i) != r)
                continue;
            json_array_append_new(drop_ids, json_integer(d.items[i].id));
            json_array_append_new(drop_data, json_integer(d.items[i].data_id));
            json_array_append_new(removed, json_pack("{s:I, s:I, s:s, s:i}", "id",
                                                     (json_int_t)d.items[i].id, "data_id",
                                                     (json_int_t)d.items[i].data_id, "filename",
                                                     d.items[i].filename, "distance",
                                                     image_hamming(k->phash, d.items[i].phash)));
        }
        if (json_array_size(groups) < GROUPS_REPORTED)
            json_array_append_new(groups, json_pack("{s:{s:I, s:I, s:s}, s:o, s:i}", "kept", "id",
                                                    (json_int_t)k->id, "data_id",
                                                    (json_int_t)k->data_id, "filename", k->filename,
                                                    "removed", removed, "max_distance", gmax[r]));
        else
            json_decref(removed);
    }
    free(parent);
    free(gmax);
    free(best);
    free(size);
    size_t nitems = d.n;
    free(d.items);
    job_log(x->job, "%zu images compared: %lld groups of near-duplicates, %zu to leave out",
            nitems, (long long)ngroups, json_array_size(drop_ids));
    job_progress(x->job, 0.8, "writing");
    json_t *outputs = json_array();
    rc = 0;
    if (on_lake || strcmp(action, "tag") == 0) {
        db_conn *c = db_get(x->env->db, e);
        int64_t changed = 0;
        if (!c) {
            rc = -1;
        } else if (json_array_size(drop_ids)) {
            if (on_lake) {
                datalake_sel sel = {.ids = drop_ids};
                rc = datalake_tag(c, x->run.target_id, &sel, &tag, 1, NULL, 0, &changed, e);
            } else {
                rc = dataset_asset_tag(c, x->run.org, x->run.target_id, drop_ids, NULL, &tag, 1,
                                       NULL, 0, &changed, e);
            }
        }
        db_put(c);
        if (rc == 0)
            json_array_append_new(outputs, json_pack("{s:s, s:s, s:s, s:I, s:I}", "type", "tags",
                                                     "on", on_lake ? "datalake" : "dataset-version",
                                                     "tag", tag, "id", (json_int_t)x->run.target_id,
                                                     "tagged", (json_int_t)json_array_size(drop_ids)));
    } else {
        vbuild_src src;
        db_conn *c = db_get(x->env->db, e);
        rc = c ? vbuild_source(c, x->run.org, x->run.target_id, &src, e) : -1;
        db_put(c);
        vbuild *vb = rc == 0 ? vbuild_new(x, &src, e) : NULL;
        char name[DATASET_NAME_MAX + 1];
        int64_t nv = 0;
        if (vb) {
            proc_version_name(x, &src, "dedup", name, sizeof name);
            char desc[400];
            snprintf(desc, sizeof desc, "%s without %zu near-duplicates (job %lld)", src.name,
                     json_array_size(drop_ids), (long long)x->run.job);
            vbuild_commit_opts o = {.name = name, .description = desc, .fork = true, .query = q,
                                    .remove_data = drop_data};
            rc = vbuild_commit(vb, &o, &nv, e);
            vbuild_free(vb);
        } else {
            rc = -1;
        }
        if (rc == 0)
            json_array_append_new(outputs, json_pack("{s:s, s:I, s:s, s:I}", "type",
                                                     "dataset-version", "id", (json_int_t)nv,
                                                     "name", name, "assets_left_out",
                                                     (json_int_t)json_array_size(drop_ids)));
    }
    if (rc == 0) {
        json_object_set_new(x->result, "outputs", outputs);
        json_object_set_new(x->result, "images", json_integer((json_int_t)nitems));
        json_object_set_new(x->result, "groups_total", json_integer(ngroups));
        json_object_set_new(x->result, "duplicates", json_integer((json_int_t)json_array_size(drop_ids)));
        json_object_set_new(x->result, "groups", groups);
    } else {
        json_decref(outputs);
        json_decref(groups);
    }
    json_decref(drop_ids);
    json_decref(drop_data);
    return rc;
}

/* --- split ----------------------------------------------------------------------------- */

int proc_split(proc_run_ctx *x, err *e)
{
    dataset_split_opts o = {.seed = (uint64_t)proc_pi(x, "seed"), .q = proc_query(x)};
    json_t *ratios = json_object_get(x->run.params, "ratios");
    const char *k;
    json_t *v;
    json_object_foreach(ratios, k, v)
    {
        if (o.n >= DATASET_SPLITS_MAX)
            return err_set(e, ERR_INVALID, "ratios: at most %d parts", DATASET_SPLITS_MAX);
        if (!json_is_number(v) || json_number_value(v) <= 0)
            return err_set(e, ERR_INVALID, "ratios.%s must be a positive number", k);
        o.names[o.n] = k;
        o.ratios[o.n++] = json_number_value(v);
    }
    if (o.n == 0)
        return err_set(e, ERR_INVALID, "ratios must name at least one part");
    const char *nvname = proc_ps(x, "new_version");
    db_conn *c = db_get(x->env->db, e);
    if (!c)
        return -1;
    int64_t version = x->run.target_id;
    sbuf b = {0};
    jw w;
    jw_init(&w, &b);
    int rc = db_begin(c, e);
    json_t *outputs = json_array();
    if (rc == 0 && nvname) {
        char desc[200];
        snprintf(desc, sizeof desc, "split by job %lld", (long long)x->run.job);
        dataset_fork_opts fo = {.name = nvname, .description = desc, .labels = true,
                                .annotations = true, .tags = true};
        rc = dataset_version_fork(c, x->run.org, x->run.target_id, &fo, x->run.user, &version, e);
        if (rc == 0)
            json_array_append_new(outputs, json_pack("{s:s, s:I, s:s}", "type", "dataset-version",
                                                     "id", (json_int_t)version, "name", nvname));
    }
    if (rc == 0)
        rc = dataset_split(c, x->run.org, version, &o, &w, e);
    if (rc == 0)
        rc = db_commit(c, e);
    else
        db_rollback(c);
    db_put(c);
    if (rc) {
        sbuf_free(&b);
        json_decref(outputs);
        return -1;
    }
    json_error_t je;
    json_t *report = json_loadb(b.p ? b.p : "", b.len, 0, &je);
    sbuf_free(&b);
    json_array_append_new(outputs, json_pack("{s:s, s:s, s:I}", "type", "tags", "on",
                                             "dataset-version", "id", (json_int_t)version));
    json_object_set_new(x->result, "outputs", outputs);
    json_object_set_new(x->result, "split", report ? report : json_null());
    return 0;
}
