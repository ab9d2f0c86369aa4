/*
 * client_cli.h - what the API-client subcommands share: where the server
 * and token come from, output as tables or JSON, progress bars, and how
 * client errors become exit codes.
 *
 * Server and token: --server/--token, else $CVOPS_SERVER/$CVOPS_TOKEN, else
 * the file written by `cvops login` ($XDG_CONFIG_HOME/cvops/config or
 * ~/.config/cvops/config, mode 0600).
 */
#ifndef CVOPS_CLI_CLIENT_CLI_H
#define CVOPS_CLI_CLIENT_CLI_H

#include <jansson.h>
#include <stdbool.h>

#include "cli/cli.h"
#include "cvops/client.h"

typedef struct cli_conn {
    const char *server;
    const char *token;
    bool json;
} cli_conn;

#define CLI_CONN_OPTS(c)                                                                           \
    {"server", 0, OPT_STR, &(c).server, "URL", "server URL ($CVOPS_SERVER, or from cvops login)"}, \
    {"token", 0, OPT_STR, &(c).token, "TOKEN", "API token ($CVOPS_TOKEN, or from cvops login)"},   \
    {"json", 0, OPT_FLAG, &(c).json, NULL, "print JSON for scripts"}

/* Resolves server/token and makes a client; prints why on failure. */
cvops_client *cli_connect(cli_conn *c, bool need_token);
/* Prints the client's last error to stderr and returns the exit code. */
int cli_fail(cvops_client *cl, cvops_code code);
int cli_exit_code(cvops_code code);

/* Calls the API and parses the answer; on failure prints and returns NULL
 * with *rc set to the exit code. */
/* Parses a subcommand's options (a cli_opt array named opts in scope) and
 * declares npos; --help returns EXIT_OK, a usage error EXIT_USAGE. */
#define PARSE(usage, desc)                                                                         \
    int npos = cli_parse(argc, argv, opts, usage, desc);                                           \
    if (npos < 0)                                                                                  \
        return npos == -2 ? EXIT_OK : EXIT_USAGE;

json_t *cli_call(cvops_client *cl, const char *method, const char *path, json_t *body, int *rc);

/* URL-escapes s for a query string (malloc'd), or NULL when s is NULL. */
char *cli_escape(const char *s);

/* Output */
typedef struct cli_col {
    const char *key;    /* field of each item; "a.b" for nested */
    const char *header;
} cli_col;
void cli_print_table(json_t *items, const cli_col *cols, int ncols);
void cli_print_json(json_t *v);
/* One "key: value" per field of an object, in order. */
void cli_print_object(json_t *obj, const cli_col *cols, int ncols);

/* A progress bar on stderr (only when stderr is a terminal). */
void cli_progress(void *ctx, double fraction, const char *message);
void cli_progress_done(void);

/* Config file */
int cli_config_save(const char *server, const char *token);
/* Reads a secret from the terminal without echo (or a line from stdin). */
int cli_read_secret(const char *prompt, char *out, size_t n);

/* Subcommand group entry points */
int cmd_login(int argc, char **argv);
int cmd_whoami(int argc, char **argv);
int cmd_users(int argc, char **argv);
int cmd_tokens(int argc, char **argv);
int cmd_orgs(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
int cmd_datalake(int argc, char **argv);
int cmd_dataset(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_deployment(int argc, char **argv); /* src/cli/deployment.c */
int cmd_project(int argc, char **argv);
int cmd_experiment(int argc, char **argv);
int cmd_evaluation(int argc, char **argv);
int cmd_processing(int argc, char **argv);
int cmd_predict(int argc, char **argv); /* src/cli/predict.c */
/* `cvops experiment launch|cancel` (src/cli/launch.c) */
int cli_experiment_launch(int argc, char **argv);
int cli_experiment_cancel(int argc, char **argv);

#endif
