/*
 * app.c - opening the stores, wiring routes and job kinds, and the two long
 * running modes: `cvops serve` and `cvops worker`.
 */
#include "app/app.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/schema.h"
#include "base/log.h"
#include "base/util.h"
#include "base/version.h"
#include "datalake/datalake.h"
#include "deploy/deploy.h"
#include "experiment/experiment.h"
#include "image/image.h"
#include "nn/nn.h"
#include "training/training.h"

static const http_route *const route_tables[] = {system_routes,     auth_routes,
                                                  jobs_routes,       files_routes,
                                                  datalake_routes,   dataset_routes,
                                                  webhook_routes,    experiment_routes,
                                                  tracking_routes,   registry_routes,
                                                  deploy_routes,     evaluation_routes,
                                                  processing_routes, training_routes,
                                                  deploy_predict_routes, deploy_pipeline_routes,
                                                  NULL};

const http_route *const *app_route_tables(void) { return route_tables; }

/* Every module's job kinds, concatenated once into one NULL-terminated table. */
static const job_kind *const kind_tables[] = {system_job_kinds,     datalake_job_kinds,
                                              webhook_job_kinds,    dataset_job_kinds,
                                              evaluation_job_kinds, processing_job_kinds,
                                              training_job_kinds,   deploy_job_kinds,
                                              NULL};
static job_kind all_kinds[128];
static pthread_once_t kinds_once = PTHREAD_ONCE_INIT;

static void collect_kinds(void)
{
    size_t n = 0;
    for (const job_kind *const *t = kind_tables; *t; t++)
        for (const job_kind *k = *t; k->name && n + 1 < sizeof all_kinds / sizeof *all_kinds; k++)
            all_kinds[n++] = *k;
    all_kinds[n] = (job_kind){0};
}

const job_kind *app_job_kinds(void)
{
    pthread_once(&kinds_once, collect_kinds);
    return all_kinds;
}

static char *dup_printf(const char *fmt, const char *arg)
{
    size_t n = strlen(fmt) + strlen(arg) + 1;
    char *s = malloc(n);
    snprintf(s, n, fmt, arg);
    return s;
}

int app_open(app *a, const app_config *cfg, err *e)
{
    memset(a, 0, sizeof *a);
    a->cfg = *cfg;
    if (image_lib_init(e) != 0)
        return -1;
    if (nn_init(cfg->nn_threads, e) != 0) /* training jobs and the predict endpoint */
        return -1;
    app_config *c = &a->cfg;
    if (!c->data_dir)
        c->data_dir = "./data";
    if (!c->listen)
        c->listen = "127.0.0.1:8080";
    if (c->workers < 0)
        c->workers = 0;
    if (!c->auth_cache_ms)
        c->auth_cache_ms = 5000;
    if (!c->session_ttl_ms)
        c->session_ttl_ms = 7LL * 24 * 3600 * 1000;
    if (!c->db_pool)
        c->db_pool = 32;
    bool local = !c->db_url || !c->blob_url || !c->spool_dir;
    if (local && mkdir(c->data_dir, 0750) != 0 && access(c->data_dir, W_OK) != 0)
        return err_set(e, ERR_IO, "cannot create or write the data directory '%s'", c->data_dir);
    char *db_url = c->db_url ? NULL : dup_printf("sqlite:%s/cvops.db", c->data_dir);
    char *blob_url = c->blob_url ? NULL : dup_printf("file:%s/blobs", c->data_dir);
    char *spool = c->spool_dir ? NULL : dup_printf("%s/tmp", c->data_dir);
    if (spool)
        mkdir(spool, 0750);
    db_options dopt = {.pool_size = c->db_pool};
    int rc = -1;
    if (db_open(c->db_url ? c->db_url : db_url, &dopt, &a->db, e) != 0)
        goto out;
    int applied = 0;
    if (db_migrate(a->db, app_migrations, app_migration_count, &applied, e) != 0)
        goto out;
    if (applied)
        log_info("database: applied %d migration(s)", applied);
    a->db_scan = a->db;
    const char *url = c->db_url ? c->db_url : db_url;
    if (db_driver(a->db) == DB_SQLITE && db_url_shareable(url)) {
        db_options sopt = {.pool_size = c->db_pool, .mmap_bytes = 1LL << 30};
        if (db_open(url, &sopt, &a->db_scan, e) != 0) {
            a->db_scan = NULL;
            goto out;
        }
    }
    if (blob_open(c->blob_url ? c->blob_url : blob_url, c->spool_dir ? c->spool_dir : spool,
                  &a->blobs, e) != 0)
        goto out;
    a->auth = auth_cache_new(c->auth_cache_ms);
    rc = 0;
out:
    free(db_url);
    free(blob_url);
    free(spool);
    if (rc != 0)
        app_close(a);
    return rc;
}

void app_close(app *a)
{
    exp_committer_stop(a->exp_committer); /* if serve stopped early */
    a->exp_committer = NULL;
    blob_close(a->blobs);
    if (a->db_scan != a->db)
        db_close(a->db_scan);
    a->db_scan = NULL;
    auth_cache_free(a->auth); /* writes the last uses of tokens still pending */
    db_close(a->db);
    free(a->openapi);
    a->blobs = NULL;
    a->db = NULL;
    a->auth = NULL;
    a->openapi = NULL;
}

/* Sample data for a new store, as jobs so the server answers at once: the
 * photos Debian ships (darknet's), and a Fashion-MNIST classification
 * dataset with a project "getting-started" whose experiment is ready to
 * launch (src/training/sample.c). */
static int submit_sample_data(app *a, err *e)
{
    static const char *dirs[] = {"/usr/share/darknet/data"};
    db_conn *c = db_get(a->db, e);
    if (!c)
        return -1;
    int64_t org = 0, user = 0, lake = 0, job = 0;
    int rc = -1;
    if (db_one_i64(c, e, &org, "SELECT id FROM org WHERE name = $1", DBT("default")) ||
        db_one_i64(c, e, &user, "SELECT id FROM app_user WHERE username = $1", DBT("admin")))
        goto out;
    if (datalake_create(c, org, "default", "sample photos and your uploads", &lake, e))
        goto out;
    json_t *p = json_pack("{s:I, s:[s], s:[s], s:s}", "datalake_id", (json_int_t)lake, "paths",
                          dirs[0], "tags", "sample", "source", "sample data");
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    rc = jobs_submit(c, org, "datalake.ingest_local", text, user, 1, &job, e);
    free(text);
    if (rc == 0)
        printf("Sample data: importing the sample photos into datalake 'default' (job %lld).\n",
               (long long)job);
    training_sample_opts so = {.train = 2400, .val = 300, .test = 300};
    if (rc == 0 && (rc = training_sample_submit(c, org, user, &so, &job, e)) == 0)
        printf("Sample data: 3000 Fashion-MNIST images into dataset 'fashion-mnist' (job %lld); "
               "project 'getting-started' gets an experiment ready to launch.\n",
               (long long)job);
    /* an object detection sample too: 200 synthetic images with boxes (a
     * dataset of that name already there is left as it is) */
    training_sample_det_opts sd = {0};
    if (rc == 0) {
        err de;
        if (training_sample_det_submit(c, org, user, &sd, &job, &de) == 0)
            printf("Sample data: 200 synthetic shapes images with boxes into dataset 'shapes' "
                   "(job %lld); project 'getting-started' gets a detector experiment ready to "
                   "launch.\n",
                   (long long)job);
        else if (de.code != ERR_CONFLICT)
            printf("Sample data: no shapes sample: %s\n", de.msg);
    }
out:
    db_put(c);
    return rc;
}

int app_bootstrap(app *a, err *e)
{
    auth_bootstrap_result b;
    if (auth_bootstrap(a->db, getenv("CVOPS_ADMIN_PASSWORD"), getenv("CVOPS_BOOTSTRAP_TOKEN"), &b,
                       e) != 0)
        return -1;
    if (!b.created)
        return 0;
    printf("\nFirst start: created organization 'default' and user 'admin'.\n");
    if (b.password_generated)
        printf("  admin password: %s\n", b.password);
    else
        printf("  admin password: (from CVOPS_ADMIN_PASSWORD)\n");
    if (b.token_generated)
        printf("  API token:      %s\n", b.token);
    else
        printf("  API token:      (from CVOPS_BOOTSTRAP_TOKEN)\n");
    printf("These are shown once. Log in with: cvops login --server URL --username admin\n\n");
    if (a->cfg.sample_data && submit_sample_data(a, e) != 0)
        return -1;
    fflush(stdout);
    return 0;
}

static db_conn *conn_of(http_req *r, db *d)
{
    err e;
    db_conn *c = db_get(d, &e);
    if (!c)
        http_fail(r, ERR_UNAVAILABLE, "the database is not reachable: %s", e.msg);
    return c;
}

db_conn *app_db(http_req *r) { return conn_of(r, APP(r)->db); }
db_conn *app_db_scan(http_req *r) { return conn_of(r, APP(r)->db_scan); }

int app_reply_deleted(http_req *r, int64_t n)
{
    jw w;
    http_json_begin(r, 200, &w);
    jw_obj(&w);
    jw_kint(&w, "deleted", n);
    jw_obj_end(&w);
    return 0;
}

int app_reply_by_id(http_req *r, int (*write)(db_conn *c, int64_t org, int64_t id, jw *w, err *e))
{
    int64_t id;
    if (http_param_id(r, "id", &id))
        return 0;
    db_conn *c = app_db(r);
    if (!c)
        return 0;
    err e;
    jw w;
    http_json_begin(r, 200, &w);
    int rc = write(c, r->who.org_id, id, &w, &e);
    db_put(c);
    return rc ? http_fail_err(r, &e) : 0;
}

/* Blocks SIGINT/SIGTERM in every thread created after this call, so that
 * the main thread receives them with sigwait. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static jobs_runner *start_workers(app *a, err *e)
{
    jobs_config jc = {.threads = a->cfg.workers,
                      .lease_ms = a->cfg.lease_ms,
                      .poll_ms = a->cfg.poll_ms,
                      .name = a->cfg.worker_name,
                      .labels = a->cfg.worker_labels,
                      .on_end = app_job_ended};
    return jobs_runner_start(a->db, a, app_job_kinds(), &jc, e);
}

int app_serve(app *a, err *e)
{
    sigset_t set;
    block_signals(&set);
    if (app_bootstrap(a, e) != 0)
        return -1;
    http_config hc = {.listen = a->cfg.listen,
                      .threads = a->cfg.http_threads,
                      .max_json_body = a->cfg.max_json_body,
                      .max_upload = a->cfg.max_upload};
    a->http = http_server_new(&hc, a, auth_http_hook, e);
    if (!a->http)
        return -1;
    for (const http_route *const *t = route_tables; *t; t++)
        if (http_server_add_routes(a->http, *t, e) != 0)
            return -1;
    a->openapi = app_openapi(a->http);
    a->exp_committer = exp_committer_start(a->db, e);
    if (!a->exp_committer)
        return -1;
    if (http_server_start(a->http, e) != 0)
        return -1;
    int port0 = http_server_port(a->http);
    if (a->cfg.api_url) {
        snprintf(a->api_url, sizeof a->api_url, "%s", a->cfg.api_url);
    } else {
        /* commands started by our own workers reach us on the loopback when
         * we listen on every address */
        const char *lc = strrchr(a->cfg.listen, ':');
        int hl = (int)(lc - a->cfg.listen);
        bool any = hl == 0 || (hl == 7 && strncmp(a->cfg.listen, "0.0.0.0", 7) == 0) ||
                   (hl == 4 && strncmp(a->cfg.listen, "[::]", 4) == 0);
        snprintf(a->api_url, sizeof a->api_url, "http://%.*s:%d", any ? 9 : hl,
                 any ? "127.0.0.1" : a->cfg.listen, port0);
    }
    a->jobs = start_workers(a, e);
    if (!a->jobs)
        return -1;
    int port = http_server_port(a->http);
    const char *colon = strrchr(a->cfg.listen, ':');
    printf("cvops %s listening on http://%.*s:%d (database: %s, blobs: %s, job workers: %d)\n",
           CVOPS_VERSION, (int)(colon - a->cfg.listen), a->cfg.listen, port, db_driver_name(a->db),
           blob_driver_name(a->blobs), a->cfg.workers);
    fflush(stdout);
    if (a->cfg.port_file) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s.tmp", a->cfg.port_file);
        FILE *f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "%d\n", port);
            fclose(f);
            rename(tmp, a->cfg.port_file);
        }
    }
    int sig = 0;
    sigwait(&set, &sig);
    log_info("received %s; finishing in-flight requests and releasing jobs",
             sig == SIGINT ? "SIGINT" : "SIGTERM");
    http_server_stop(a->http, 10000);
    /* jobs first: a training job writes its last metric points through the committer */
    jobs_runner_stop(a->jobs, 10000);
    exp_committer_stop(a->exp_committer);
    a->exp_committer = NULL;
    deploy_serve_stop();
    training_models_clear();
    http_server_free(a->http);
    a->http = NULL;
    a->jobs = NULL;
    log_info("stopped");
    return 0;
}

int app_work(app *a, err *e)
{
    sigset_t set;
    block_signals(&set);
    if (a->cfg.workers <= 0)
        a->cfg.workers = 2;
    if (a->cfg.api_url)
        snprintf(a->api_url, sizeof a->api_url, "%s", a->cfg.api_url);
    a->jobs = start_workers(a, e);
    if (!a->jobs)
        return -1;
    printf("cvops %s worker running %d job thread(s) (database: %s, blobs: %s, labels: %s, API: %s)\n",
           CVOPS_VERSION, a->cfg.workers, db_driver_name(a->db), blob_driver_name(a->blobs),
           jobs_runner_labels(a->jobs), a->api_url[0] ? a->api_url : "none (--api-url)");
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    log_info("received %s; releasing jobs", sig == SIGINT ? "SIGINT" : "SIGTERM");
    jobs_runner_stop(a->jobs, 10000);
    a->jobs = NULL;
    return 0;
}
