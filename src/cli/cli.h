/*
 * cli.h - the cvops command line: the subcommand entry points, a shared
 * option parser, and the exit codes every subcommand uses.
 *
 * One file per subcommand group under src/cli/ (git's builtin/ habit); each
 * exposes `int cmd_<group>(int argc, char **argv)` where argv[0] is the
 * group name. Output goes to stdout (tables for people, --json for scripts),
 * diagnostics to stderr.
 */
#ifndef CVOPS_CLI_CLI_H
#define CVOPS_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>

/* Exit codes (documented in docs/cli.md). */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,      /* the operation failed (server said no, job failed) */
    EXIT_USAGE = 2,     /* bad command line */
    EXIT_AUTH = 3,      /* not logged in, bad token, not allowed */
    EXIT_NOTFOUND = 4,  /* the thing named does not exist */
    EXIT_CONNECT = 5,   /* could not reach the server */
    EXIT_INTERRUPTED = 130,
};

typedef enum { OPT_FLAG, OPT_STR, OPT_INT, OPT_DBL, OPT_LIST } cli_opt_kind;

typedef struct cli_opt {
    const char *name;    /* long name without dashes: "server" */
    char short_name;     /* 0 for none */
    cli_opt_kind kind;
    void *dest;          /* bool*, const char**, int64_t*, double*, cli_list* */
    const char *metavar; /* "URL" */
    const char *help;
} cli_opt;

/* A repeated option (--tag a --tag b). */
typedef struct cli_list {
    const char **items;
    int n, cap;
} cli_list;

/*
 * Parses argv[1..] against opts. Options and positionals may be mixed; "--"
 * ends options. On success returns the number of positionals, moved to the
 * front of argv[1..] in order. --help / -h prints the usage (usage line,
 * description, options) and returns -2. A bad command line prints a message
 * to stderr and returns -1.
 */
int cli_parse(int argc, char **argv, const cli_opt *opts, const char *usage, const char *desc);
void cli_usage(const char *usage, const char *desc, const cli_opt *opts);
void cli_list_free(cli_list *l);

/* Runs a subcommand from a table {name, fn, summary} terminated by NULL name. */
typedef struct cli_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} cli_cmd;
int cli_dispatch(const char *prog, int argc, char **argv, const cli_cmd *cmds);

/* Subcommand entry points. */
int cmd_serve(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_nn(int argc, char **argv); /* developer: local training engine (src/cli/nn.c) */
int cmd_detect(int argc, char **argv); /* developer: object detector (src/cli/detect.c) */
int cmd_demo(int argc, char **argv);   /* demo data: synth-detect (src/cli/detect.c) */

#endif
