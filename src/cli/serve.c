/*
 * serve.c - `cvops serve` (the platform) and `cvops worker` (job workers
 * only, for more machines).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/log.h"
#include "cli/cli.h"

typedef struct {
    const char *data, *db, *blobs, *listen, *port_file, *spool, *log_level, *name, *labels,
        *api_url;
    int64_t workers, http_threads, lease_s, poll_ms, max_upload, max_json, db_pool, max_pixels;
    int64_t nn_threads;
    bool secure_cookies, sample_data, hooks_private;
} serve_opts;

static const char *env_or(const char *v, const char *env)
{
    if (v)
        return v;
    const char *e = getenv(env);
    return e && *e ? e : NULL;
}

static int run(int argc, char **argv, bool worker)
{
    serve_opts o = {.workers = -1, .lease_s = 30};
    const cli_opt opts_serve[] = {
        {"data", 'd', OPT_STR, &o.data, "DIR", "data directory for the embedded default (./data; $CVOPS_DATA)"},
        {"db", 0, OPT_STR, &o.db, "URL", "sqlite:PATH or postgres://... ($CVOPS_DB)"},
        {"blobs", 0, OPT_STR, &o.blobs, "URL", "file:DIR or s3://BUCKET?endpoint=...&region=... ($CVOPS_BLOBS)"},
        {"listen", 'l', OPT_STR, &o.listen, "HOST:PORT", "address to listen on (127.0.0.1:8080; $CVOPS_LISTEN)"},
        {"workers", 'w', OPT_INT, &o.workers, "N", "job worker threads (serve: 2, worker: 2)"},
        {"http-threads", 0, OPT_INT, &o.http_threads, "N", "HTTP thread pool size (0: a thread per connection)"},
        {"port-file", 0, OPT_STR, &o.port_file, "PATH", "write the bound port here once listening"},
        {"spool", 0, OPT_STR, &o.spool, "DIR", "temporary files for uploads (DATA/tmp)"},
        {"lease-seconds", 0, OPT_INT, &o.lease_s, "N", "job lease; a dead worker's job is retried after it (30)"},
        {"poll-ms", 0, OPT_INT, &o.poll_ms, "N", "idle job polling interval (500)"},
        {"max-upload", 0, OPT_INT, &o.max_upload, "BYTES", "largest streamed upload (64 GiB)"},
        {"max-json", 0, OPT_INT, &o.max_json, "BYTES", "largest JSON request body (16 MiB)"},
        {"db-pool", 0, OPT_INT, &o.db_pool, "N", "database connections (32)"},
        {"max-pixels", 0, OPT_INT, &o.max_pixels, "N", "refuse images with more pixels (100000000)"},
        {"secure-cookies", 0, OPT_FLAG, &o.secure_cookies, NULL, "mark session cookies Secure (behind HTTPS)"},
        {"sample-data", 0, OPT_FLAG, &o.sample_data, NULL, "on a new store, add sample images (make run does)"},
        {"webhooks-allow-private", 0, OPT_FLAG, &o.hooks_private, NULL, "let webhooks call loopback and private addresses"},
        {"name", 0, OPT_STR, &o.name, "NAME", "worker name shown on jobs (host:pid)"},
        {"labels", 0, OPT_STR, &o.labels, "LIST", "what the workers offer: gpu,docker,mem=16G (cpus and mem are added from the machine; $CVOPS_LABELS)"},
        {"api-url", 0, OPT_STR, &o.api_url, "URL", "the API as commands run by these workers reach it (serve: its own address; $CVOPS_API_URL)"},
        {"nn-threads", 0, OPT_INT, &o.nn_threads, "N", "compute threads of training jobs and predictions (all cores)"},
        {"log-level", 0, OPT_STR, &o.log_level, "LEVEL", "debug, info, warn, error (info)"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    const char *usage = worker ? "cvops worker [--db URL --blobs URL | --data DIR] [options]"
                               : "cvops serve [--data DIR | --db URL --blobs URL] [options]";
    const char *desc =
        worker ? "Run job workers only, taking jobs from the shared database (PostgreSQL for\n"
                 "several machines). Stops on SIGINT/SIGTERM, putting unfinished jobs back."
               : "Run the platform: the REST API under /api/v1, the web UI at /, and job workers.\n"
                 "With no --db/--blobs it keeps everything in DIR (SQLite + a blob folder).\n"
                 "Stops on SIGINT/SIGTERM after in-flight requests finish.";
    int n = cli_parse(argc, argv, opts_serve, usage, desc);
    if (n < 0)
        return n == -2 ? EXIT_OK : EXIT_USAGE;
    if (n > 0) {
        fprintf(stderr, "error: unexpected argument '%s'; see --help\n", argv[1]);
        return EXIT_USAGE;
    }
    if (o.log_level) {
        static const char *lv[] = {"debug", "info", "warn", "error"};
        int k = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(o.log_level, lv[i]) == 0)
                k = i;
        if (k < 0) {
            fprintf(stderr, "error: --log-level must be debug, info, warn or error\n");
            return EXIT_USAGE;
        }
        log_set_level((log_level)k);
    }
    if (o.lease_s < 1 || o.lease_s > 3600) {
        fprintf(stderr, "error: --lease-seconds must be between 1 and 3600\n");
        return EXIT_USAGE;
    }
    if (o.workers > 64) {
        fprintf(stderr, "error: --workers must be at most 64\n");
        return EXIT_USAGE;
    }
    app_config cfg = {
        .data_dir = env_or(o.data, "CVOPS_DATA"),
        .db_url = env_or(o.db, "CVOPS_DB"),
        .blob_url = env_or(o.blobs, "CVOPS_BLOBS"),
        .listen = env_or(o.listen, "CVOPS_LISTEN"),
        .spool_dir = o.spool,
        .port_file = o.port_file,
        .http_threads = (int)o.http_threads,
        .workers = o.workers < 0 ? 2 : (int)o.workers,
        .lease_ms = (int)(o.lease_s * 1000),
        .poll_ms = (int)o.poll_ms,
        .max_upload = o.max_upload,
        .max_json_body = o.max_json,
        .db_pool = (int)o.db_pool,
        .max_pixels = (uint64_t)(o.max_pixels > 0 ? o.max_pixels : 0),
        .secure_cookies = o.secure_cookies,
        .worker_name = o.name,
        .worker_labels = env_or(o.labels, "CVOPS_LABELS"),
        .api_url = env_or(o.api_url, "CVOPS_API_URL"),
        .sample_data = o.sample_data,
        .webhooks_allow_private = o.hooks_private,
        .nn_threads = (int)o.nn_threads,
    };
    app a;
    err e;
    err_clear(&e);
    if (app_open(&a, &cfg, &e) != 0) {
        fprintf(stderr, "error: %s\n", e.msg);
        return EXIT_FAIL;
    }
    int rc = worker ? app_work(&a, &e) : app_serve(&a, &e);
    if (rc != 0)
        fprintf(stderr, "error: %s\n", e.msg);
    app_close(&a);
    return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

int cmd_serve(int argc, char **argv) { return run(argc, argv, false); }
int cmd_worker(int argc, char **argv) { return run(argc, argv, true); }
