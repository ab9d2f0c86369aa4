/*
 * app.h - the application: configuration, the opened stores, the HTTP
 * server and the job workers, and how they are wired together.
 *
 * This is the top of the layer cake (see docs/architecture.md): it knows
 * every feature module, collects their routes, job kinds and schema
 * migrations, and runs `cvops serve` and `cvops worker`. Handlers reach the
 * stores through the app given to the HTTP server (APP(r)).
 */
#ifndef CVOPS_APP_APP_H
#define CVOPS_APP_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "http/http.h"
#include "jobs/jobs.h"
#include "store/blob.h"
#include "store/db.h"

typedef struct app_config {
    const char *data_dir;  /* default ./data */
    const char *db_url;    /* default sqlite:DATA/cvops.db */
    const char *blob_url;  /* default file:DATA/blobs */
    const char *spool_dir; /* temp files for uploads to S3; default DATA/tmp */
    const char *listen;    /* default 127.0.0.1:8080 */
    const char *port_file; /* write the bound port here (for tests) */
    int http_threads;      /* 0: thread per connection */
    int workers;           /* job worker threads; default 2 */
    int lease_ms;          /* job lease; default 30000 */
    int poll_ms;           /* idle job polling; default 500 */
    int db_pool;           /* database connections; default 32 */
    int64_t max_json_body;
    int64_t max_upload;
    uint64_t max_pixels;   /* images above this are refused; default 100 MP */
    int auth_cache_ms;     /* identity cache lifetime; default 5000 */
    int64_t session_ttl_ms;/* default 7 days */
    bool secure_cookies;   /* mark cookies Secure (behind HTTPS) */
    const char *worker_name;
    const char *worker_labels; /* "gpu,docker,mem=16G": what this process's workers offer */
    const char *api_url;   /* how commands run by this process's workers reach the API
                              (serve: its own listen address when not given) */
    bool sample_data;      /* on a new store, fill the datalake with sample images */
    bool webhooks_allow_private; /* let webhooks reach loopback/private addresses */
    int nn_threads;        /* compute threads of training and inference; 0: all cores */
} app_config;

typedef struct app {
    app_config cfg;
    db *db;
    /* read-only scans of large tables (listings, counts): on SQLite a second
     * pool whose connections map the file (db_options.mmap_bytes); else db */
    db *db_scan;
    blob_store *blobs;
    auth_cache *auth;
    http_server *http;
    jobs_runner *jobs;
    struct exp_committer *exp_committer; /* group commit of metric batches (serve only) */
    char *openapi; /* generated once */
    char api_url[256]; /* resolved: cfg.api_url, or serve's own address; "" if unknown */
} app;

#define APP(r) ((app *)(r)->app)

/* Opens the stores and brings the schema up to date. */
int app_open(app *a, const app_config *cfg, err *e);
void app_close(app *a);
/* Creates the first admin on an empty store and prints its credentials. */
int app_bootstrap(app *a, err *e);
/* Runs the API, the web UI and the job workers until SIGINT/SIGTERM. */
int app_serve(app *a, err *e);
/* Runs job workers only until SIGINT/SIGTERM. */
int app_work(app *a, err *e);

/* Route tables and job kinds of each module (NULL-pattern / NULL-name ended). */
extern const http_route system_routes[];
extern const http_route auth_routes[];
extern const http_route jobs_routes[];
extern const http_route files_routes[];
extern const http_route datalake_routes[];
extern const http_route dataset_routes[];
extern const http_route webhook_routes[];
extern const http_route registry_routes[];
extern const http_route deploy_routes[];
extern const http_route experiment_routes[];
extern const http_route tracking_routes[];
extern const http_route evaluation_routes[];
extern const http_route processing_routes[];
extern const http_route training_routes[];
extern const http_route deploy_predict_routes[];
extern const http_route deploy_pipeline_routes[];
extern const job_kind deploy_job_kinds[];
/* A training job ended: continuous deployment of a pipeline (deploy/pipeline_api.c). */
void deploy_job_ended(void *app, int64_t org, int64_t job, const char *kind, const char *state);
extern const job_kind system_job_kinds[];
extern const job_kind datalake_job_kinds[];
extern const job_kind webhook_job_kinds[];
extern const job_kind dataset_job_kinds[];
extern const job_kind evaluation_job_kinds[];
extern const job_kind processing_job_kinds[];
extern const job_kind training_job_kinds[];
/* Called by the job workers when a job ends (webhook/webhook_api.c). */
void app_job_ended(void *app, int64_t org, int64_t job, const char *kind, const char *state);

/* The HTTP authentication hook (auth/auth_api.c). */
int auth_http_hook(http_req *r, int perm, err *e);

/* Every route and job kind of the application, for the server and tests. */
const http_route *const *app_route_tables(void);
const job_kind *app_job_kinds(void);
/* The OpenAPI 3 document for the registered routes. */
char *app_openapi(const http_server *s);

/* Serves a blob with ETag, Range and an optional download name
 * (files/files_api.c). The caller has checked the organization's access. */
int app_send_blob(http_req *r, const char *sha, int64_t size, const char *type,
                  const char *filename);

/* Helpers for handlers: a connection for this request, or answers 503. */
db_conn *app_db(http_req *r);
/* The same from the scan pool: for handlers that only read, and read many
 * rows (a listing or a count over a large table). */
db_conn *app_db_scan(http_req *r);
/* 200 {"deleted": n}: the answer of a DELETE (an id, or how many went). */
int app_reply_deleted(http_req *r, int64_t n);
/* The GET of one resource: path parameter "id", then 200 with what
 * `write(c, org, id, w, e)` writes, or its error. */
int app_reply_by_id(http_req *r, int (*write)(db_conn *c, int64_t org, int64_t id, jw *w, err *e));

#endif
