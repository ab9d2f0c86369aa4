/*
 * account.c - `cvops login`, `cvops whoami`, `cvops users ...`,
 * `cvops tokens ...`, `cvops orgs ...`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/client_cli.h"

static int need_args(int npos, int want, const char *usage)
{
    if (npos != want) {
        fprintf(stderr, "error: expected %d argument%s; usage: %s\n", want, want == 1 ? "" : "s",
                usage);
        return -1;
    }
    return 0;
}

int cmd_login(int argc, char **argv)
{
    cli_conn c = {0};
    const char *username = NULL, *name = NULL;
    bool pw_stdin = false;
    int64_t org = 0;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"username", 'u', OPT_STR, &username, "NAME", "user to log in as (asked if missing)"},
        {"password-stdin", 0, OPT_FLAG, &pw_stdin, NULL, "read the password from standard input"},
        {"org", 0, OPT_INT, &org, "ID", "organization (default: your first one)"},
        {"token-name", 0, OPT_STR, &name, "NAME", "name of the API token created (cli@HOST)"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops login [--server URL] [--username NAME] [--password-stdin]",
          "Log in with your password; creates an API token for this machine and saves the\n"
          "server and token to ~/.config/cvops/config (mode 0600).")
    if (need_args(npos, 0, "cvops login [options]"))
        return EXIT_USAGE;
    c.token = "";
    cvops_client *cl = cli_connect(&c, false);
    if (!cl)
        return EXIT_FAIL;
    char user[128], pw[300];
    if (!username) {
        fprintf(stderr, "username: ");
        if (!fgets(user, sizeof user, stdin))
            return EXIT_USAGE;
        user[strcspn(user, "\r\n")] = 0;
        username = user;
    }
    if (pw_stdin ? cli_read_secret("", pw, sizeof pw) : cli_read_secret("password: ", pw, sizeof pw)) {
        fprintf(stderr, "error: no password given\n");
        return EXIT_USAGE;
    }
    char tname[128];
    if (!name) {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(tname, sizeof tname, "cli@%.50s", host);
        name = tname;
    }
    char *token = NULL;
    cvops_code code = cvops_login(cl, username, pw, org, name, &token);
    memset(pw, 0, sizeof pw);
    if (code != CVOPS_OK) {
        int rc = cli_fail(cl, code);
        cvops_client_free(cl);
        return rc;
    }
    int rc = cli_config_save(c.server, token) == 0 ? EXIT_OK : EXIT_FAIL;
    if (rc == EXIT_OK)
        fprintf(stderr, "logged in to %s as %s; token saved\n", c.server, username);
    cvops_free(token);
    cvops_client_free(cl);
    return rc;
}

int cmd_whoami(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops whoami [--json]", "Show the user, organization and role of your token.")
    if (need_args(npos, 0, "cvops whoami"))
        return EXIT_USAGE;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int rc;
    json_t *j = cli_call(cl, "GET", "/api/v1/me", NULL, &rc);
    if (j) {
        if (c.json) {
            cli_print_json(j);
        } else {
            const cli_col cols[] = {{"user.username", "user"}, {"org.name", "organization"},
                                    {"org.id", "organization id"}, {"role", "role"}};
            cli_print_object(j, cols, 4);
            printf("%-15s  %s\n", "server", c.server);
        }
        json_decref(j);
    }
    cvops_client_free(cl);
    return rc;
}

/* --- users --------------------------------------------------------------- */

static const cli_col user_cols[] = {{"id", "ID"},        {"username", "USERNAME"},
                                    {"role", "ROLE"},    {"display_name", "NAME"},
                                    {"email", "EMAIL"},  {"disabled", "DISABLED"}};

static int print_result(cli_conn *c, json_t *j, const cli_col *cols, int n, bool list)
{
    if (c->json)
        cli_print_json(j);
    else if (list)
        cli_print_table(json_object_get(j, "items"), cols, n);
    else
        cli_print_object(j, cols, n);
    return EXIT_OK;
}

static int users_list(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops users list [--json]", "List the members of your organization.")
    if (need_args(npos, 0, "cvops users list"))
        return EXIT_USAGE;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int rc;
    json_t *j = cli_call(cl, "GET", "/api/v1/users", NULL, &rc);
    if (j)
        print_result(&c, j, user_cols, 6, true);
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int users_create(int argc, char **argv)
{
    cli_conn c = {0};
    const char *role = "member", *email = NULL, *dn = NULL;
    bool pw_stdin = false;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"role", 'r', OPT_STR, &role, "ROLE", "admin, member, labeler or viewer (member)"},
        {"email", 0, OPT_STR, &email, "EMAIL", "email address"},
        {"name", 0, OPT_STR, &dn, "NAME", "display name"},
        {"password-stdin", 0, OPT_FLAG, &pw_stdin, NULL, "read the password from standard input"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops users create USERNAME [--role ROLE] [--password-stdin]",
          "Create a user in your organization (admins only). The password is asked for.")
    if (need_args(npos, 1, "cvops users create USERNAME"))
        return EXIT_USAGE;
    char pw[300];
    if (cli_read_secret(pw_stdin ? "" : "password for the new user: ", pw, sizeof pw)) {
        fprintf(stderr, "error: no password given\n");
        return EXIT_USAGE;
    }
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    json_t *body = json_pack("{s:s, s:s, s:s}", "username", argv[1], "password", pw, "role", role);
    if (email)
        json_object_set_new(body, "email", json_string(email));
    if (dn)
        json_object_set_new(body, "display_name", json_string(dn));
    int rc;
    json_t *j = cli_call(cl, "POST", "/api/v1/users", body, &rc);
    json_decref(body);
    if (j)
        print_result(&c, j, user_cols, 6, false);
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int users_patch(int argc, char **argv, const char *what)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    bool role = strcmp(what, "role") == 0;
    const char *usage = role ? "cvops users role ID ROLE" : strcmp(what, "disable") == 0
                                                               ? "cvops users disable ID"
                                                               : "cvops users enable ID";
    PARSE(usage, role ? "Change a member's role (admins only)."
                      : "Disable or enable a user's access (admins only).")
    if (need_args(npos, role ? 2 : 1, usage))
        return EXIT_USAGE;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/users/%s", argv[1]);
    json_t *body = role ? json_pack("{s:s}", "role", argv[2])
                        : json_pack("{s:b}", "disabled", strcmp(what, "disable") == 0);
    int rc;
    json_t *j = cli_call(cl, "PATCH", path, body, &rc);
    json_decref(body);
    if (j)
        print_result(&c, j, user_cols, 6, false);
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int users_role(int argc, char **argv) { return users_patch(argc, argv, "role"); }
static int users_disable(int argc, char **argv) { return users_patch(argc, argv, "disable"); }
static int users_enable(int argc, char **argv) { return users_patch(argc, argv, "enable"); }

static int users_remove(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops users remove ID", "Remove a member from your organization (admins only).")
    if (need_args(npos, 1, "cvops users remove ID"))
        return EXIT_USAGE;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/users/%s", argv[1]);
    int rc;
    json_t *j = cli_call(cl, "DELETE", path, NULL, &rc);
    if (j && c.json)
        cli_print_json(j);
    else if (j)
        printf("removed user %s\n", argv[1]);
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

int cmd_users(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"list", users_list, "list the members of your organization"},
        {"create", users_create, "create a user (admins)"},
        {"role", users_role, "change a member's role (admins)"},
        {"disable", users_disable, "block a user's access (admins)"},
        {"enable", users_enable, "restore a user's access (admins)"},
        {"remove", users_remove, "remove a member (admins)"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops users", argc, argv, sub);
}

/* --- tokens -------------------------------------------------------------- */

static int tokens_list(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops tokens list [--json]", "List your API tokens (never their secrets).")
    if (need_args(npos, 0, "cvops tokens list"))
        return EXIT_USAGE;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int rc;
    json_t *j = cli_call(cl, "GET", "/api/v1/tokens", NULL, &rc);
    const cli_col cols[] = {{"id", "ID"},           {"name", "NAME"},
                            {"prefix", "PREFIX"},   {"org", "ORGANIZATION"},
                            {"last_used_at", "LAST USED"}, {"expires_at", "EXPIRES"},
                            {"revoked_at", "REVOKED"}};
    if (j)
        print_result(&c, j, cols, 7, true);
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int tokens_create(int argc, char **argv)
{
    cli_conn c = {0};
    int64_t days = 0;
    const cli_opt opts[] = {
        CLI_CONN_OPTS(c),
        {"expires-days", 0, OPT_INT, &days, "N", "expire after N days (never)"},
        {NULL, 0, 0, NULL, NULL, NULL},
    };
    PARSE("cvops tokens create NAME [--expires-days N]",
          "Create an API token; its secret is printed once.")
    if (need_args(npos, 1, "cvops tokens create NAME"))
        return EXIT_USAGE;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    json_t *body = json_pack("{s:s}", "name", argv[1]);
    if (days)
        json_object_set_new(body, "expires_in_days", json_integer(days));
    int rc;
    json_t *j = cli_call(cl, "POST", "/api/v1/tokens", body, &rc);
    json_decref(body);
    if (j && c.json)
        cli_print_json(j);
    else if (j)
        printf("%s\n", json_string_value(json_object_get(j, "token")));
    if (j && !c.json)
        fprintf(stderr, "token '%s' created; it is shown only now\n", argv[1]);
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int tokens_revoke(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops tokens revoke ID", "Revoke one of your tokens.")
    if (need_args(npos, 1, "cvops tokens revoke ID"))
        return EXIT_USAGE;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/tokens/%s", argv[1]);
    int rc;
    json_t *j = cli_call(cl, "DELETE", path, NULL, &rc);
    if (j && c.json)
        cli_print_json(j);
    else if (j)
        printf("revoked token %s\n", argv[1]);
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

int cmd_tokens(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"list", tokens_list, "list your API tokens"},
        {"create", tokens_create, "create a token (printed once)"},
        {"revoke", tokens_revoke, "revoke a token"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops tokens", argc, argv, sub);
}

/* --- organizations ----------------------------------------------------- */

static int orgs_list(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops orgs list [--json]", "List the organizations you belong to.")
    if (need_args(npos, 0, "cvops orgs list"))
        return EXIT_USAGE;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    int rc;
    json_t *j = cli_call(cl, "GET", "/api/v1/orgs", NULL, &rc);
    const cli_col cols[] = {{"id", "ID"}, {"name", "NAME"}, {"role", "ROLE"}};
    if (j)
        print_result(&c, j, cols, 3, true);
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

static int orgs_create(int argc, char **argv)
{
    cli_conn c = {0};
    const cli_opt opts[] = {CLI_CONN_OPTS(c), {NULL, 0, 0, NULL, NULL, NULL}};
    PARSE("cvops orgs create NAME", "Create an organization; you become its admin.")
    if (need_args(npos, 1, "cvops orgs create NAME"))
        return EXIT_USAGE;
    cvops_client *cl = cli_connect(&c, true);
    if (!cl)
        return EXIT_AUTH;
    json_t *body = json_pack("{s:s}", "name", argv[1]);
    int rc;
    json_t *j = cli_call(cl, "POST", "/api/v1/orgs", body, &rc);
    json_decref(body);
    const cli_col cols[] = {{"id", "id"}, {"name", "name"}, {"role", "role"}};
    if (j)
        print_result(&c, j, cols, 3, false);
    json_decref(j);
    cvops_client_free(cl);
    return rc;
}

int cmd_orgs(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"list", orgs_list, "list your organizations"},
        {"create", orgs_create, "create an organization"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops orgs", argc, argv, sub);
}
