/*
 * pipeline.c - feedback, continuous training and continuous deployment of
 * a deployment; see pipeline.h.
 *
 * Everything here runs on the caller's connection. The feedback of one
 * submit is one transaction (assets, labels, annotations, tags, the
 * feedback rows and the pending counter), so a failure feeds nothing back
 * and the next submit retries. CT launches inside that transaction: the
 * training job becomes visible when it commits.
 */
#include "deploy/pipeline.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "dataset/dataset.h"
#include "deploy/deploy.h"
#include "deploy/score.h"
#include "experiment/experiment.h"
#include "registry/registry.h"
#include "training/training.h"

const char deploy_schema_v52[] =
    "CREATE TABLE deployment_pipeline ("
    " deployment_id BIGINT PRIMARY KEY REFERENCES deployment(id) ON DELETE CASCADE,"
    " datasets {{JSON}} NOT NULL, feedback_version_id BIGINT NOT NULL, feedback_tags {{JSON}} NOT NULL,"
    " project_id BIGINT, params {{JSON}} NOT NULL, reviews_to_train INTEGER NOT NULL,"
    " policy TEXT NOT NULL, metric TEXT NOT NULL, margin DOUBLE PRECISION NOT NULL,"
    " pending_reviews BIGINT NOT NULL DEFAULT 0, fed BIGINT NOT NULL DEFAULT 0,"
    " skipped BIGINT NOT NULL DEFAULT 0, note TEXT, updated_at BIGINT NOT NULL);"
    "CREATE TABLE pipeline_feedback (prediction_id BIGINT PRIMARY KEY REFERENCES prediction(id) ON DELETE CASCADE,"
    " deployment_id BIGINT NOT NULL REFERENCES deployment(id) ON DELETE CASCADE,"
    " dataset_version_id BIGINT, asset_id BIGINT, state TEXT NOT NULL, reason TEXT, at BIGINT NOT NULL);"
    "CREATE INDEX pipeline_feedback_dep ON pipeline_feedback (deployment_id, prediction_id);"
    "CREATE TABLE pipeline_run (id {{ID}},"
    " deployment_id BIGINT NOT NULL REFERENCES deployment(id) ON DELETE CASCADE,"
    " state TEXT NOT NULL, reviews BIGINT NOT NULL, experiment_id BIGINT, job_id BIGINT,"
    " base_version_id BIGINT, version_id BIGINT, policy TEXT NOT NULL, metric TEXT,"
    " candidate_value DOUBLE PRECISION, champion_value DOUBLE PRECISION, test_images BIGINT,"
    " reason TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
    "CREATE INDEX pipeline_run_dep ON pipeline_run (deployment_id, id);"
    "CREATE INDEX pipeline_run_job ON pipeline_run (job_id);";

static const char *const policies[] = {"champion", "shadow", "manual", NULL};
static const char *const metrics[] = {"accuracy", "macro_f1", NULL};

static bool one_of(const char *v, const char *const *list)
{
    for (const char *const *p = list; *p; p++)
        if (strcmp(*p, v) == 0)
            return true;
    return false;
}

/* A dataset version of org with the datalake of its dataset. */
static int version_lake(db_conn *c, int64_t org, int64_t version, int64_t *lake, err *e)
{
    return db_one_i64(c, e, lake,
                      "SELECT d.datalake_id FROM dataset_version v JOIN dataset d ON d.id = v.dataset_id"
                      " WHERE v.id = $1 AND d.org_id = $2",
                      DBI(version), DBI(org));
}

/* --- configuration ------------------------------------------------------------ */

int deploy_pipeline_parse(json_t *body, deploy_pipeline_body *b, err *e)
{
    static const char *const fields[] = {"datasets", "feedback_version_id", "feedback_tags",
                                         "project_id", "params", "reviews_to_train", "policy",
                                         "metric", "margin", NULL};
    memset(b, 0, sizeof *b);
    b->policy = "manual";
    b->metric = "accuracy";
    if (jv_is_obj(body, e) || jv_only(body, fields, e) ||
        jv_obj(body, "datasets", JV_REQUIRED, &b->datasets, e) ||
        jv_i64(body, "feedback_version_id", JV_OPTIONAL, 1, INT64_MAX, &b->feedback, e) ||
        jv_arr(body, "feedback_tags", JV_OPTIONAL, DATASET_TAGS_MAX, &b->tags, e) ||
        jv_i64(body, "project_id", JV_OPTIONAL, 1, INT64_MAX, &b->project, e) ||
        jv_obj(body, "params", JV_OPTIONAL, &b->params, e) ||
        jv_i64(body, "reviews_to_train", JV_OPTIONAL, 0, 1000000, &b->reviews, e) ||
        jv_str(body, "policy", JV_OPTIONAL, 16, &b->policy, e) ||
        jv_str(body, "metric", JV_OPTIONAL, 16, &b->metric, e) ||
        jv_dbl(body, "margin", JV_OPTIONAL, -1, 1, &b->margin, e))
        return -1;
    if (!one_of(b->policy, policies))
        return err_set(e, ERR_INVALID,
                       "policy must be champion (deploy as champion when it beats the champion by "
                       "the margin), shadow (deploy as shadow) or manual (wait for a person)");
    if (!one_of(b->metric, metrics))
        return err_set(e, ERR_INVALID, "metric must be accuracy or macro_f1");
    if (!json_is_integer(json_object_get(b->datasets, "train")))
        return err_set(e, ERR_INVALID,
                       "datasets must name the train dataset version: {\"train\": 12, \"test\": 13}");
    const char *alias;
    json_t *v;
    json_object_foreach(b->datasets, alias, v) if (!json_is_integer(v) || json_integer_value(v) < 1)
        return err_set(e, ERR_INVALID, "datasets.%.64s must be a dataset version id", alias);
    for (size_t i = 0; i < json_array_size(b->tags); i++) {
        json_t *t = json_array_get(b->tags, i);
        if (!json_is_string(t) || json_string_length(t) == 0 || json_string_length(t) > 64)
            return err_set(e, ERR_INVALID, "feedback_tags[%zu] must be a tag name (1 to 64 characters)", i);
    }
    /* the parameters must be ones a launch accepts */
    training_cfg cfg;
    training_cfg_init(&cfg);
    int rc = training_cfg_apply(&cfg, b->params, e);
    training_cfg_free(&cfg);
    return rc ? err_prefix(e, "params: ") : 0;
}

int deploy_pipeline_set(db_conn *c, int64_t org, int64_t deployment, json_t *body, err *e)
{
    deploy_pipeline_body b;
    if (deploy_pipeline_parse(body, &b, e))
        return -1;
    json_t *datasets = b.datasets, *tags = b.tags, *params = b.params;
    int64_t fb = b.feedback, project = b.project, n = b.reviews;
    const char *policy = b.policy, *metric = b.metric;
    double margin = b.margin;
    deploy_info d;
    if (deploy_get_info(c, org, deployment, &d, e))
        return -1;
    json_t *train = json_object_get(datasets, "train");
    const char *alias;
    json_t *v;
    json_object_foreach(datasets, alias, v)
    {
        int64_t lake;
        if (version_lake(c, org, json_integer_value(v), &lake, e))
            return err_set(e, ERR_INVALID, "datasets.%s: dataset version %lld does not exist in "
                                           "this organization",
                           alias, (long long)json_integer_value(v));
    }
    if (!fb)
        fb = json_integer_value(train);
    int64_t lake = 0;
    if (version_lake(c, org, fb, &lake, e))
        return err_set(e, ERR_INVALID, "feedback_version_id: dataset version %lld does not exist "
                                       "in this organization",
                       (long long)fb);
    if (lake != d.datalake_id)
        return err_set(e, ERR_INVALID,
                       "feedback_version_id: dataset version %lld belongs to datalake %lld but the "
                       "deployment stores its images in datalake %lld; attach a version of a "
                       "dataset of that datalake",
                       (long long)fb, (long long)lake, (long long)d.datalake_id);
    if (project) {
        int64_t x;
        if (db_one_i64(c, e, &x, "SELECT id FROM project WHERE id = $1 AND org_id = $2", DBI(project), DBI(org)))
            return err_set(e, ERR_INVALID, "project_id: project %lld does not exist in this organization",
                           (long long)project);
    } else if (n > 0) {
        return err_set(e, ERR_INVALID, "continuous training (reviews_to_train > 0) needs the "
                                       "project_id its experiments go to");
    }
    int rc;
    char *ds = json_dumps(datasets, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *deftags = tags ? NULL : json_pack("[s]", "train");
    char *tg = json_dumps(tags ? tags : deftags, JSON_COMPACT);
    char *pr = json_dumps(params ? params : json_object(), JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(deftags);
    int64_t now = time_now_ms();
    rc = db_run(c, e,
                "INSERT INTO deployment_pipeline (deployment_id, datasets, feedback_version_id,"
                " feedback_tags, project_id, params, reviews_to_train, policy, metric, margin,"
                " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                " ON CONFLICT (deployment_id) DO UPDATE SET datasets = excluded.datasets,"
                " feedback_version_id = excluded.feedback_version_id, feedback_tags = excluded.feedback_tags,"
                " project_id = excluded.project_id, params = excluded.params,"
                " reviews_to_train = excluded.reviews_to_train, policy = excluded.policy,"
                " metric = excluded.metric, margin = excluded.margin, updated_at = excluded.updated_at",
                DBI(deployment), DBT(ds), DBI(fb), DBT(tg), project ? DBI(project) : DBNULL, DBT(pr),
                DBI(n), DBT(policy), DBT(metric), DBD(margin), DBI(now)) < 0
             ? -1
             : 0;
    free(ds);
    free(tg);
    free(pr);
    return rc;
}

int deploy_pipeline_delete(db_conn *c, int64_t org, int64_t deployment, err *e)
{
    deploy_info d;
    if (deploy_get_info(c, org, deployment, &d, e))
        return -1;
    int64_t n = db_run(c, e, "DELETE FROM deployment_pipeline WHERE deployment_id = $1", DBI(deployment));
    if (n < 0)
        return -1;
    return n ? 0 : err_set(e, ERR_NOT_FOUND, "deployment %lld has no pipeline", (long long)deployment);
}

typedef struct pipe_cfg {
    json_t *datasets, *tags, *params;
    int64_t feedback, project, n, pending;
    char policy[16], metric[16];
    double margin;
} pipe_cfg;

static void pipe_free(pipe_cfg *p)
{
    json_decref(p->datasets);
    json_decref(p->tags);
    json_decref(p->params);
    memset(p, 0, sizeof *p);
}

/* 0 with *found false when the deployment has no pipeline. */
static int pipe_load(db_conn *c, int64_t deployment, pipe_cfg *p, bool *found, err *e)
{
    memset(p, 0, sizeof *p);
    db_stmt *s = db_query(c, e,
                          "SELECT datasets, feedback_version_id, feedback_tags, project_id, params,"
                          " reviews_to_train, policy, metric, margin, pending_reviews"
                          " FROM deployment_pipeline WHERE deployment_id = $1",
                          DBI(deployment));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    *found = rc == DB_ROW;
    if (rc == DB_ROW) {
        p->datasets = json_loads(db_col_text(s, 0), 0, NULL);
        p->feedback = db_col_i64(s, 1);
        p->tags = json_loads(db_col_text(s, 2), 0, NULL);
        p->project = db_col_null(s, 3) ? 0 : db_col_i64(s, 3);
        p->params = json_loads(db_col_text(s, 4), 0, NULL);
        p->n = db_col_i64(s, 5);
        snprintf(p->policy, sizeof p->policy, "%s", db_col_text(s, 6));
        snprintf(p->metric, sizeof p->metric, "%s", db_col_text(s, 7));
        p->margin = db_col_dbl(s, 8);
        p->pending = db_col_i64(s, 9);
    }
    db_done(s);
    return rc < 0 ? -1 : 0;
}

int deploy_pipeline_write(db_conn *c, int64_t org, int64_t deployment, jw *w, err *e)
{
    deploy_info d;
    if (deploy_get_info(c, org, deployment, &d, e))
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT datasets, feedback_version_id, feedback_tags, project_id, params,"
                          " reviews_to_train, policy, metric, margin, pending_reviews, fed, skipped,"
                          " note, updated_at FROM deployment_pipeline WHERE deployment_id = $1",
                          DBI(deployment));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        jw_obj(w);
        jw_kint(w, "deployment_id", deployment);
        jw_key(w, "datasets");
        jw_raw(w, db_col_text(s, 0), db_col_len(s, 0));
        jw_kint(w, "feedback_version_id", db_col_i64(s, 1));
        jw_key(w, "feedback_tags");
        jw_raw(w, db_col_text(s, 2), db_col_len(s, 2));
        jw_key(w, "project_id");
        if (db_col_null(s, 3))
            jw_null(w);
        else
            jw_int(w, db_col_i64(s, 3));
        jw_key(w, "params");
        jw_raw(w, db_col_text(s, 4), db_col_len(s, 4));
        jw_kint(w, "reviews_to_train", db_col_i64(s, 5));
        jw_kstr(w, "policy", db_col_text(s, 6));
        jw_kstr(w, "metric", db_col_text(s, 7));
        jw_kdbl(w, "margin", db_col_dbl(s, 8));
        jw_kint(w, "pending_reviews", db_col_i64(s, 9));
        jw_kint(w, "fed_back", db_col_i64(s, 10));
        jw_kint(w, "skipped", db_col_i64(s, 11));
        jw_kstr(w, "note", db_col_text(s, 12));
        jw_kint(w, "updated_at", db_col_i64(s, 13));
        jw_obj_end(w);
    }
    db_done(s);
    if (rc == DB_DONE)
        return err_set(e, ERR_NOT_FOUND,
                       "deployment %lld has no pipeline; configure it with PUT "
                       "/api/v1/deployments/%lld/pipeline",
                       (long long)deployment, (long long)deployment);
    return rc < 0 ? -1 : 0;
}

int deploy_pipeline_runs(db_conn *c, int64_t org, int64_t deployment, jw *w, err *e)
{
    deploy_info d;
    if (deploy_get_info(c, org, deployment, &d, e))
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT id, state, reviews, experiment_id, job_id, base_version_id, version_id,"
                          " policy, metric, candidate_value, champion_value, test_images, reason,"
                          " created_at, updated_at FROM pipeline_run WHERE deployment_id = $1"
                          " ORDER BY id DESC LIMIT 200",
                          DBI(deployment));
    if (!s)
        return -1;
    jw_obj(w);
    jw_key(w, "items");
    jw_arr(w);
    int rc;
    static const char *const ids[] = {"experiment_id", "job_id", "base_version_id", "version_id"};
    while ((rc = db_step(s, e)) == DB_ROW) {
        jw_obj(w);
        jw_kint(w, "id", db_col_i64(s, 0));
        jw_kstr(w, "state", db_col_text(s, 1));
        jw_kint(w, "reviews", db_col_i64(s, 2));
        for (int i = 0; i < 4; i++) {
            jw_key(w, ids[i]);
            if (db_col_null(s, 3 + i))
                jw_null(w);
            else
                jw_int(w, db_col_i64(s, 3 + i));
        }
        jw_kstr(w, "policy", db_col_text(s, 7));
        jw_kstr(w, "metric", db_col_text(s, 8));
        jw_key(w, "candidate_value");
        db_col_null(s, 9) ? jw_null(w) : jw_dbl(w, db_col_dbl(s, 9));
        jw_key(w, "champion_value");
        db_col_null(s, 10) ? jw_null(w) : jw_dbl(w, db_col_dbl(s, 10));
        jw_key(w, "test_images");
        db_col_null(s, 11) ? jw_null(w) : jw_int(w, db_col_i64(s, 11));
        jw_kstr(w, "reason", db_col_text(s, 12));
        jw_kint(w, "created_at", db_col_i64(s, 13));
        jw_kint(w, "updated_at", db_col_i64(s, 14));
        jw_obj_end(w);
    }
    db_done(s);
    jw_arr_end(w);
    jw_obj_end(w);
    return rc < 0 ? -1 : 0;
}

/* --- feedback ------------------------------------------------------------------- */

json_t *deploy_pipeline_review_shapes(const char *review, json_t *labels)
{
    json_t *doc = json_loads(review ? review : "{}", 0, NULL), *shapes = json_array();
    json_t *classes = json_object_get(doc, "classes"), *boxes = json_object_get(doc, "boxes");
    const char *top = NULL;
    double best = -1;
    size_t i;
    json_t *x;
    json_array_foreach(classes, i, x)
    {
        json_t *sc = json_object_get(x, "score");
        double v = json_is_number(sc) ? json_number_value(sc) : 1;
        if (json_is_string(json_object_get(x, "label")) && v > best) {
            best = v;
            top = json_string_value(json_object_get(x, "label"));
        }
    }
    if (top) {
        json_array_append_new(shapes, json_pack("{s:s, s:s}", "kind", "class", "label", top));
        json_object_set_new(labels, top, json_true());
    }
    json_array_foreach(boxes, i, x)
    {
        const char *l = json_string_value(json_object_get(x, "label"));
        if (!l)
            continue;
        json_array_append_new(shapes, json_pack("{s:s, s:s, s:[O, O, O, O]}", "kind", "box", "label", l,
                                                "box", json_object_get(x, "x"), json_object_get(x, "y"),
                                                json_object_get(x, "w"), json_object_get(x, "h")));
        json_object_set_new(labels, l, json_true());
    }
    json_decref(doc);
    return shapes;
}

/* The feedback version is locked: fork it and move the pipeline there. */
static int fork_locked(db_conn *c, int64_t org, int64_t user, int64_t deployment, pipe_cfg *p, err *e)
{
    char name[DATASET_NAME_MAX + 1], vname[DATASET_NAME_MAX + 1] = "";
    db_stmt *s = db_query(c, e, "SELECT name FROM dataset_version WHERE id = $1", DBI(p->feedback));
    if (!s)
        return -1;
    if (db_step(s, e) == DB_ROW)
        snprintf(vname, sizeof vname, "%.80s", db_col_text(s, 0));
    db_done(s);
    snprintf(name, sizeof name, "%s-feedback-%lld", vname, (long long)(time_now_ms() % 100000000));
    dataset_fork_opts fo = {.name = name,
                            .description = "fork of a locked version that a deployment's feedback goes to",
                            .labels = true, .annotations = true, .tags = true};
    int64_t fork = 0;
    if (dataset_version_fork(c, org, p->feedback, &fo, user, &fork, e))
        return err_prefix(e, "forking the locked feedback version %lld: ", (long long)p->feedback);
    const char *alias;
    json_t *v;
    json_object_foreach(p->datasets, alias, v) if (json_integer_value(v) == p->feedback)
        json_object_set_new(p->datasets, alias, json_integer(fork));
    char note[300];
    snprintf(note, sizeof note,
             "dataset version %lld is locked: feedback goes to its fork %lld (%s), which "
             "replaces it in the pipeline's datasets",
             (long long)p->feedback, (long long)fork, name);
    char *ds = json_dumps(p->datasets, JSON_COMPACT | JSON_SORT_KEYS);
    int64_t rc = db_run(c, e,
                        "UPDATE deployment_pipeline SET feedback_version_id = $1, datasets = $2,"
                        " note = $3 WHERE deployment_id = $4",
                        DBI(fork), DBT(ds), DBT(note), DBI(deployment));
    free(ds);
    p->feedback = fork;
    return rc < 0 ? -1 : 0;
}

static int feed(db_conn *c, int64_t org, int64_t user, int64_t deployment, pipe_cfg *p,
                int64_t *added, int64_t *skipped, err *e)
{
    *added = *skipped = 0;
    if (dataset_version_writable(c, org, p->feedback, e)) {
        if (e->code != ERR_CONFLICT || fork_locked(c, org, user, deployment, p, e))
            return -1;
    }
    db_stmt *s = db_query(c, e,
                          "SELECT p.id, p.data_id, p.review FROM prediction p WHERE p.deployment_id = $1"
                          " AND p.status = 'submitted' AND NOT EXISTS (SELECT 1 FROM pipeline_feedback f"
                          " WHERE f.prediction_id = p.id) ORDER BY p.id LIMIT " "10000",
                          DBI(deployment));
    if (!s)
        return -1;
    json_t *ids = json_array(), *with_data = json_array(), *annots = json_array(), *labels = json_object();
    json_t *no_image = json_array();
    int rc;
    while ((rc = db_step(s, e)) == DB_ROW) {
        int64_t pid = db_col_i64(s, 0);
        if (db_col_null(s, 1) || db_col_i64(s, 1) == 0) {
            json_array_append_new(no_image, json_integer(pid));
            continue;
        }
        int64_t data = db_col_i64(s, 1);
        json_array_append_new(ids, json_integer(data));
        json_array_append_new(with_data, json_pack("[I, I]", (json_int_t)pid, (json_int_t)data));
        json_array_append_new(annots, json_pack("{s:I, s:o, s:s}", "data_id", (json_int_t)data, "shapes",
                                                deploy_pipeline_review_shapes(db_col_text(s, 2), labels), "status",
                                                "accepted"));
    }
    db_done(s);
    int64_t now = time_now_ms();
    if (rc < 0)
        goto out;
    rc = -1;
    if (json_array_size(ids)) {
        int64_t a = 0, ex = 0, saved = 0, nshapes = 0, changed = 0;
        /* labels the version lacks */
        const char *l;
        json_t *v;
        json_object_foreach(labels, l, v)
        {
            int64_t lid;
            if (db_one_i64(c, e, &lid, "SELECT id FROM label WHERE version_id = $1 AND name = $2",
                           DBI(p->feedback), DBT(l)) == 0)
                continue;
            json_t *def = json_pack("{s:s}", "name", l);
            int lrc = dataset_label_create(c, org, p->feedback, def, &lid, e);
            json_decref(def);
            if (lrc) {
                err_prefix(e, "adding label '%s' to the feedback version: ", l);
                goto out;
            }
        }
        if (dataset_assets_add(c, org, p->feedback, ids, NULL, &a, &ex, e))
            goto out;
        json_t *doc = json_pack("{s:O, s:s}", "annotations", annots, "mode", "replace");
        int brc = dataset_annotations_bulk(c, org, p->feedback, doc, user, &saved, &nshapes, e);
        json_decref(doc);
        if (brc) {
            err_prefix(e, "the reviews as annotations: ");
            goto out;
        }
        /* tags, and the feedback rows with their asset */
        json_t *assets = json_array();
        size_t i;
        json_t *pd;
        json_array_foreach(with_data, i, pd)
        {
            int64_t asset = 0;
            if (db_one_i64(c, e, &asset, "SELECT id FROM asset WHERE version_id = $1 AND data_id = $2",
                           DBI(p->feedback), DBI(json_integer_value(json_array_get(pd, 1))))) {
                json_decref(assets);
                goto out;
            }
            json_array_append_new(assets, json_integer(asset));
            if (db_run(c, e,
                       "INSERT INTO pipeline_feedback (prediction_id, deployment_id, dataset_version_id,"
                       " asset_id, state, at) VALUES ($1, $2, $3, $4, 'added', $5)",
                       DBI(json_integer_value(json_array_get(pd, 0))), DBI(deployment),
                       DBI(p->feedback), DBI(asset), DBI(now)) < 0) {
                json_decref(assets);
                goto out;
            }
        }
        size_t nt = json_array_size(p->tags);
        const char *tags[DATASET_TAGS_MAX];
        for (size_t k = 0; k < nt && k < DATASET_TAGS_MAX; k++)
            tags[k] = json_string_value(json_array_get(p->tags, k));
        int trc = nt ? dataset_asset_tag(c, org, p->feedback, assets, NULL, tags, (int)nt, NULL, 0,
                                         &changed, e)
                     : 0;
        json_decref(assets);
        if (trc)
            goto out;
        *added = (int64_t)json_array_size(ids);
    }
    {
        size_t i;
        json_t *pid;
        char reason[200];
        snprintf(reason, sizeof reason,
                 "the image was not stored (the deployment samples images into its datalake at "
                 "a rate below 1); raise sample_rate to feed reviews back");
        json_array_foreach(no_image, i, pid) if (db_run(c, e,
                                                        "INSERT INTO pipeline_feedback (prediction_id,"
                                                        " deployment_id, state, reason, at) VALUES"
                                                        " ($1, $2, 'skipped', $3, $4)",
                                                        DBI(json_integer_value(pid)), DBI(deployment),
                                                        DBT(reason), DBI(now)) < 0) goto out;
        *skipped = (int64_t)json_array_size(no_image);
    }
    if (db_run(c, e,
               "UPDATE deployment_pipeline SET pending_reviews = pending_reviews + $1, fed = fed + $1,"
               " skipped = skipped + $2 WHERE deployment_id = $3",
               DBI(*added), DBI(*skipped), DBI(deployment)) < 0)
        goto out;
    p->pending += *added;
    rc = 0;
out:
    json_decref(ids);
    json_decref(with_data);
    json_decref(annots);
    json_decref(labels);
    json_decref(no_image);
    return rc;
}

/* --- supervised metrics ------------------------------------------------------------- */

/* The top class of an output or review text: highest score (none counts as
 * 1), into out ("" when there is none). */
static void top_class(const char *text, char *out, size_t n)
{
    out[0] = 0;
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    double best = -1;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(doc, "classes"), i, x)
    {
        json_t *sc = json_object_get(x, "score"), *l = json_object_get(x, "label");
        double v = json_is_number(sc) ? json_number_value(sc) : 1;
        if (json_is_string(l) && v > best) {
            best = v;
            snprintf(out, n, "%s", json_string_value(l));
        }
    }
    json_decref(doc);
}

int deploy_supervised(db_conn *c, int64_t org, int64_t deployment, int64_t from, int64_t to, jw *w,
                      err *e)
{
    deploy_info d;
    if (deploy_get_info(c, org, deployment, &d, e))
        return -1;
    db_stmt *s = db_query(c, e,
                          "SELECT output, shadow_output, review FROM prediction WHERE deployment_id = $1"
                          " AND status IN ('reviewed', 'submitted') AND at >= $2 AND at < $3"
                          " ORDER BY id DESC LIMIT 100000",
                          DBI(deployment), DBI(from), DBI(to > 0 ? to : INT64_MAX));
    if (!s)
        return -1;
    deploy_score champ = {0}, shadow = {0};
    int64_t reviews = 0, no_class = 0;
    int rc;
    char truth[257], pred[257];
    while ((rc = db_step(s, e)) == DB_ROW) {
        reviews++;
        top_class(db_col_text(s, 2), truth, sizeof truth);
        if (!truth[0]) {
            no_class++; /* a review without a class (boxes only) */
            continue;
        }
        top_class(db_col_text(s, 0), pred, sizeof pred);
        deploy_score_add(&champ, truth, pred);
        if (!db_col_null(s, 1)) {
            top_class(db_col_text(s, 1), pred, sizeof pred);
            deploy_score_add(&shadow, truth, pred);
        }
    }
    db_done(s);
    if (rc == 0) {
        jw_obj(w);
        jw_kint(w, "deployment_id", deployment);
        jw_kint(w, "reviews", reviews);
        jw_kint(w, "reviews_without_class", no_class);
        jw_key(w, "champion");
        deploy_score_write(&champ, w);
        jw_key(w, "shadow");
        deploy_score_write(&shadow, w);
        jw_obj_end(w);
    }
    deploy_score_free(&champ);
    deploy_score_free(&shadow);
    return rc < 0 ? -1 : 0;
}

/* --- continuous training ---------------------------------------------------------- */

static int start_run(db_conn *c, int64_t org, int64_t user, int64_t deployment, pipe_cfg *p,
                     int64_t *run, int64_t *job, err *e)
{
    deploy_info d;
    if (deploy_get_info(c, org, deployment, &d, e))
        return -1;
    if (!p->project)
        return err_set(e, ERR_UNPROCESSABLE, "the pipeline has no project_id for its experiments");
    if (!d.champion)
        return err_set(e, ERR_UNPROCESSABLE,
                       "deployment %lld has no champion to train from", (long long)deployment);
    int64_t busy = 0;
    if (db_one_i64(c, e, &busy,
                   "SELECT COUNT(*) FROM pipeline_run WHERE deployment_id = $1 AND state IN"
                   " ('training', 'published')",
                   DBI(deployment)))
        return -1;
    if (busy)
        return err_set(e, ERR_CONFLICT,
                       "a continuous-training run of deployment %lld is still in progress; wait "
                       "for it (GET .../pipeline/runs)",
                       (long long)deployment);
    int64_t now = time_now_ms();
    if (db_one_i64(c, e, run,
                   "INSERT INTO pipeline_run (deployment_id, state, reviews, base_version_id, policy,"
                   " metric, created_at, updated_at) VALUES ($1, 'training', $2, $3, $4, $5, $6, $6)"
                   " RETURNING id",
                   DBI(deployment), DBI(p->pending), DBI(d.champion), DBT(p->policy), DBT(p->metric),
                   DBI(now)))
        return -1;
    char name[160];
    snprintf(name, sizeof name, "ct-deployment-%lld-run-%lld", (long long)deployment, (long long)*run);
    json_t *body = json_pack("{s:s, s:s, s:O, s:I}", "name", name, "description",
                             "continuous training of a deployment's pipeline", "datasets", p->datasets,
                             "base_model_version_id", (json_int_t)d.champion);
    int64_t exp = 0, trun = 0;
    int rc = exp_create(c, org, user, p->project, body, &exp, e);
    json_decref(body);
    if (rc)
        return err_prefix(e, "creating the experiment: ");
    json_t *launch = json_deep_copy(p->params ? p->params : json_object());
    if (!launch)
        launch = json_object();
    json_object_set_new(launch, "base_model_version_id", json_integer(d.champion));
    rc = training_launch(c, org, user, exp, launch, &trun, job, e);
    json_decref(launch);
    if (rc)
        return err_prefix(e, "launching the experiment: ");
    if (db_run(c, e,
               "UPDATE pipeline_run SET experiment_id = $1, job_id = $2 WHERE id = $3", DBI(exp),
               DBI(*job), DBI(*run)) < 0 ||
        db_run(c, e, "UPDATE deployment_pipeline SET pending_reviews = 0 WHERE deployment_id = $1",
               DBI(deployment)) < 0)
        return -1;
    p->pending = 0;
    return 0;
}

int deploy_pipeline_train(db_conn *c, int64_t org, int64_t user, int64_t deployment, int64_t *run,
                          int64_t *job, err *e)
{
    pipe_cfg p;
    bool found;
    deploy_info d;
    if (deploy_get_info(c, org, deployment, &d, e) || pipe_load(c, deployment, &p, &found, e))
        return -1;
    if (!found)
        return err_set(e, ERR_NOT_FOUND, "deployment %lld has no pipeline; configure it first",
                       (long long)deployment);
    int rc = db_begin(c, e);
    if (rc == 0) {
        rc = start_run(c, org, user, deployment, &p, run, job, e);
        if (rc == 0)
            rc = db_commit(c, e);
        else
            db_rollback(c);
    }
    pipe_free(&p);
    return rc;
}

int deploy_pipeline_feedback(db_conn *c, int64_t org, int64_t user, int64_t deployment,
                             int64_t *added, int64_t *skipped, int64_t *ct_job, err *e)
{
    pipe_cfg p;
    bool found;
    *added = *skipped = *ct_job = 0;
    if (pipe_load(c, deployment, &p, &found, e))
        return -1;
    if (!found)
        return 0;
    if (db_begin(c, e)) {
        pipe_free(&p);
        return -1;
    }
    int rc = feed(c, org, user, deployment, &p, added, skipped, e);
    if (rc == 0 && p.n > 0 && p.pending >= p.n) {
        int64_t run = 0;
        err le;
        if (start_run(c, org, user, deployment, &p, &run, ct_job, &le) != 0) {
            /* the feedback stays; the failure is recorded on the pipeline */
            *ct_job = 0;
            char note[600];
            snprintf(note, sizeof note, "continuous training could not start: %s", le.msg);
            if (db_run(c, e, "UPDATE deployment_pipeline SET note = $1 WHERE deployment_id = $2",
                       DBT(note), DBI(deployment)) < 0)
                rc = -1;
        }
    }
    if (rc == 0)
        rc = db_commit(c, e);
    else
        db_rollback(c);
    pipe_free(&p);
    return rc;
}

int deploy_pipeline_job_ended(db_conn *c, int64_t org, int64_t job, err *e)
{
    int64_t run = 0;
    if (db_one_i64(c, e, &run, "SELECT id FROM pipeline_run WHERE job_id = $1 AND state = 'training'",
                   DBI(job)))
        return e->code == ERR_NOT_FOUND ? 0 : -1;
    char payload[64];
    snprintf(payload, sizeof payload, "{\"pipeline_run_id\":%lld}", (long long)run);
    int64_t cd;
    return jobs_submit(c, org, "deploy.pipeline_cd", payload, 0, 3, &cd, e);
}

/* --- continuous deployment ---------------------------------------------------------- */

typedef struct test_item {
    char sha[65];
    char label[257];
} test_item;

/* The test images of the pipeline: the "test" dataset version, else the
 * train version's assets tagged test, else tagged val. *where says which. */
static int test_set(db_conn *c, const pipe_cfg *p, test_item **out, size_t *n, char *where,
                    size_t wn, err *e)
{
    *out = NULL;
    *n = 0;
    json_t *tv = json_object_get(p->datasets, "test");
    int64_t version = json_integer_value(tv ? tv : json_object_get(p->datasets, "train"));
    const char *tags[] = {NULL, "test", "val"};
    int first = tv ? 0 : 1, last = tv ? 0 : 2;
    for (int t = first; t <= last && *n == 0; t++) {
        db_stmt *s = db_query(c, e,
                              "SELECT a.id, d.sha256, l.name FROM asset a JOIN data d ON d.id = a.data_id"
                              " JOIN shape sh ON sh.asset_id = a.id AND sh.kind = 1"
                              " JOIN label l ON l.id = sh.label_id WHERE a.version_id = $1"
                              " AND ($2 = '' OR EXISTS (SELECT 1 FROM asset_tag g WHERE g.asset_id = a.id"
                              " AND g.name = $2)) ORDER BY a.id, sh.id",
                              DBI(version), DBT(tags[t] ? tags[t] : ""));
        if (!s)
            return -1;
        int rc;
        size_t cap = 0;
        int64_t last_asset = 0;
        while ((rc = db_step(s, e)) == DB_ROW && *n < PIPELINE_EVAL_MAX) {
            if (db_col_i64(s, 0) == last_asset)
                continue; /* one class per image: the first */
            last_asset = db_col_i64(s, 0);
            if (*n == cap) {
                cap = cap ? cap * 2 : 64;
                *out = realloc(*out, cap * sizeof **out);
            }
            snprintf((*out)[*n].sha, 65, "%s", db_col_text(s, 1));
            snprintf((*out)[*n].label, 257, "%s", db_col_text(s, 2));
            (*n)++;
        }
        db_done(s);
        if (rc < 0) {
            free(*out);
            *out = NULL;
            return -1;
        }
        if (tags[t])
            snprintf(where, wn, "the assets tagged %s of dataset version %lld", tags[t], (long long)version);
        else
            snprintf(where, wn, "dataset version %lld (the pipeline's test version)", (long long)version);
    }
    return 0;
}

static int sink_buf(void *ctx, const void *p, size_t n)
{
    sbuf_put(ctx, p, n);
    return 0;
}

/* Both models on the same images: the metric of each. */
static int compare(db_conn *c, blob_store *bs, const char *spool, int64_t org, const test_item *items,
                   size_t n, int64_t champion, int64_t candidate, const char *metric, double *vc,
                   double *vn, err *e)
{
    training_model *mc = NULL, *mn = NULL;
    if (training_model_acquire(c, bs, spool, org, champion, &mc, e))
        return err_prefix(e, "the champion (version %lld): ", (long long)champion);
    if (training_model_acquire(c, bs, spool, org, candidate, &mn, e)) {
        training_model_release(mc);
        return err_prefix(e, "the new version %lld: ", (long long)candidate);
    }
    deploy_score sc = {0}, sn = {0};
    int rc = 0;
    sbuf img = SBUF_INIT;
    for (size_t i = 0; i < n && rc == 0; i++) {
        img.len = 0;
        if (blob_read(bs, items[i].sha, 0, -1, sink_buf, &img, e)) {
            rc = err_prefix(e, "test image %.12s: ", items[i].sha);
            break;
        }
        training_class oc[1], on[1];
        int nc = 0, nn = 0;
        if (training_predict_image(training_model_predictor(mc), img.p, img.len, 1, oc, &nc, e) ||
            training_predict_image(training_model_predictor(mn), img.p, img.len, 1, on, &nn, e)) {
            rc = err_prefix(e, "test image %.12s: ", items[i].sha);
            break;
        }
        deploy_score_add(&sc, items[i].label, nc ? oc[0].label : "");
        deploy_score_add(&sn, items[i].label, nn ? on[0].label : "");
    }
    sbuf_free(&img);
    training_model_release(mc);
    training_model_release(mn);
    *vc = deploy_score_value(&sc, metric);
    *vn = deploy_score_value(&sn, metric);
    deploy_score_free(&sc);
    deploy_score_free(&sn);
    return rc;
}

static void event(json_t *events, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void event(json_t *events, const char *name, const char *fmt, ...)
{
    char payload[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(payload, sizeof payload, fmt, ap);
    va_end(ap);
    json_array_append_new(events, json_pack("[s, s]", name, payload));
}

static int run_state(db_conn *c, int64_t run, const char *state, const char *reason, err *e)
{
    return db_run(c, e, "UPDATE pipeline_run SET state = $1, reason = $2, updated_at = $3 WHERE id = $4",
                  DBT(state), DBT(reason), DBI(time_now_ms()), DBI(run)) < 0
               ? -1
               : 0;
}

int deploy_pipeline_cd(db_conn *c, blob_store *bs, const char *spool, int64_t org, int64_t run,
                       json_t *events, err *e)
{
    int64_t dep = 0, exp = 0, base = 0, version = 0;
    char state[16] = "";
    db_stmt *s = db_query(c, e,
                          "SELECT deployment_id, experiment_id, base_version_id, state, version_id"
                          " FROM pipeline_run WHERE id = $1",
                          DBI(run));
    if (!s)
        return -1;
    int rc = db_step(s, e);
    if (rc == DB_ROW) {
        dep = db_col_i64(s, 0);
        exp = db_col_null(s, 1) ? 0 : db_col_i64(s, 1);
        base = db_col_null(s, 2) ? 0 : db_col_i64(s, 2);
        snprintf(state, sizeof state, "%s", db_col_text(s, 3));
        version = db_col_null(s, 4) ? 0 : db_col_i64(s, 4);
    }
    db_done(s);
    if (rc != DB_ROW)
        return rc < 0 ? -1 : err_set(e, ERR_NOT_FOUND, "pipeline run %lld is gone", (long long)run);
    if (strcmp(state, "training") != 0 && strcmp(state, "published") != 0)
        return 0; /* already decided */
    pipe_cfg p;
    bool found;
    if (pipe_load(c, dep, &p, &found, e))
        return -1;
    if (!found) {
        pipe_free(&p);
        return run_state(c, run, "failed", "the deployment's pipeline was removed", e);
    }
    char status[16] = "", reason[700];
    json_t *params = NULL, *datasets = NULL;
    rc = exp_run_info(c, org, exp, status, sizeof status, &params, &datasets, e);
    json_decref(params);
    json_decref(datasets);
    if (rc) {
        pipe_free(&p);
        return run_state(c, run, "failed", "the experiment was deleted", e);
    }
    if (strcmp(status, "succeeded") != 0) {
        char msg[300] = "";
        db_stmt *m = db_query(c, e,
                              "SELECT message FROM training_run WHERE experiment_id = $1 ORDER BY id DESC LIMIT 1",
                              DBI(exp));
        if (m && db_step(m, e) == DB_ROW && db_col_text(m, 0))
            snprintf(msg, sizeof msg, ": %s", db_col_text(m, 0));
        if (m)
            db_done(m);
        snprintf(reason, sizeof reason, "experiment %lld %s%s", (long long)exp, status, msg);
        pipe_free(&p);
        return run_state(c, run, "failed", reason, e);
    }
    /* publish as a new version of the champion's model */
    if (!version) {
        int64_t model = 0;
        if (db_one_i64(c, e, &model, "SELECT model_id FROM model_version WHERE id = $1", DBI(base))) {
            pipe_free(&p);
            return -1;
        }
        if (reg_publish_experiment(c, org, 0, exp, NULL, model, NULL, NULL, "cvops", &version, e)) {
            snprintf(reason, sizeof reason, "publishing experiment %lld: %s", (long long)exp, e->msg);
            pipe_free(&p);
            return run_state(c, run, "failed", reason, e);
        }
        if (db_run(c, e,
                   "UPDATE pipeline_run SET version_id = $1, state = 'published', updated_at = $2"
                   " WHERE id = $3",
                   DBI(version), DBI(time_now_ms()), DBI(run)) < 0) {
            pipe_free(&p);
            return -1;
        }
        char *payload = reg_version_event(c, version);
        if (payload)
            json_array_append_new(events, json_pack("[s, s]", "model_version.published", payload));
        free(payload);
    }
    deploy_info d;
    if (deploy_get_info(c, org, dep, &d, e)) {
        pipe_free(&p);
        return -1;
    }
    int64_t now = time_now_ms();
    if (strcmp(p.policy, "shadow") == 0) {
        rc = db_run(c, e, "UPDATE deployment SET shadow_version_id = $1 WHERE id = $2", DBI(version),
                    DBI(dep)) < 0
                 ? -1
                 : 0;
        snprintf(reason, sizeof reason, "policy shadow: version %lld is the deployment's shadow",
                 (long long)version);
        if (rc == 0)
            rc = run_state(c, run, "shadow", reason, e);
        if (rc == 0)
            event(events, "deployment.model_changed",
                  "{\"deployment_id\":%lld,\"role\":\"shadow\",\"from_version_id\":%lld,"
                  "\"to_version_id\":%lld,\"pipeline_run_id\":%lld}",
                  (long long)dep, (long long)d.shadow, (long long)version, (long long)run);
        pipe_free(&p);
        return rc;
    }
    if (strcmp(p.policy, "manual") == 0) {
        snprintf(reason, sizeof reason,
                 "policy manual: version %lld waits for a person (set it as champion or shadow "
                 "with PATCH /api/v1/deployments/%lld)",
                 (long long)version, (long long)dep);
        json_t *b = json_pack("{s:s, s:s}", "status", "candidate", "status_reason", reason);
        rc = reg_version_update(c, org, version, b, e);
        json_decref(b);
        if (rc == 0)
            rc = run_state(c, run, "waiting", reason, e);
        pipe_free(&p);
        return rc;
    }
    /* policy champion: both models on the same test images */
    test_item *items = NULL;
    size_t n = 0;
    char where[200] = "";
    double vc = NAN, vn = NAN;
    rc = test_set(c, &p, &items, &n, where, sizeof where, e);
    if (rc == 0 && n == 0) {
        snprintf(reason, sizeof reason,
                 "no test images with a class annotation (add a \"test\" dataset version to the "
                 "pipeline, or tag assets test): version %lld stays a candidate",
                 (long long)version);
    } else if (rc == 0) {
        rc = compare(c, bs, spool, org, items, n, d.champion ? d.champion : base, version, p.metric,
                     &vc, &vn, e);
        if (rc == 0 && db_run(c, e,
                              "UPDATE pipeline_run SET candidate_value = $1, champion_value = $2,"
                              " test_images = $3 WHERE id = $4",
                              DBD(vn), DBD(vc), DBI((int64_t)n), DBI(run)) < 0)
            rc = -1;
    }
    free(items);
    if (rc) {
        snprintf(reason, sizeof reason, "evaluation failed: %s", e->msg);
        pipe_free(&p);
        return run_state(c, run, "failed", reason, e);
    }
    bool wins = n > 0 && isfinite(vn) && isfinite(vc) && vn >= vc + p.margin;
    if (wins) {
        int64_t model = 0;
        rc = db_one_i64(c, e, &model, "SELECT model_id FROM model_version WHERE id = $1", DBI(version));
        if (rc == 0)
            rc = db_run(c, e, "UPDATE deployment SET champion_version_id = $1 WHERE id = $2",
                        DBI(version), DBI(dep)) < 0
                     ? -1
                     : 0;
        if (rc == 0)
            rc = reg_alias_set(c, org, 0, model, "champion", version, e);
        snprintf(reason, sizeof reason,
                 "%s %.4f beats the champion's %.4f by at least %.4f on %zu images of %s",
                 p.metric, vn, vc, p.margin, n, where);
        if (rc == 0)
            rc = run_state(c, run, "champion", reason, e);
        if (rc == 0)
            event(events, "deployment.model_changed",
                  "{\"deployment_id\":%lld,\"role\":\"champion\",\"from_version_id\":%lld,"
                  "\"to_version_id\":%lld,\"pipeline_run_id\":%lld}",
                  (long long)dep, (long long)d.champion, (long long)version, (long long)run);
    } else {
        if (n > 0)
            snprintf(reason, sizeof reason,
                     "%s %.4f does not beat the champion's %.4f by the margin %.4f on %zu images "
                     "of %s",
                     p.metric, vn, vc, p.margin, n, where);
        json_t *b = json_pack("{s:s, s:s}", "status", "candidate", "status_reason", reason);
        rc = reg_version_update(c, org, version, b, e);
        json_decref(b);
        if (rc == 0)
            rc = run_state(c, run, "candidate", reason, e);
    }
    (void)now;
    pipe_free(&p);
    return rc;
}
