/*
 * API tests of the command line: `cvops login`, whoami, tokens, users,
 * jobs, run as a user would, against the test server. Checks output, the
 * saved configuration and the documented exit codes.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"
#include "base/buf.h"

typedef struct {
    int status;
    sbuf out, err;
} run_result;

static void slurp(int fd, sbuf *b)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        sbuf_put(b, buf, (size_t)n);
    close(fd);
}

/* Runs cvops with args, HOME set to home, stdin fed from input. */
static run_result run(const char *home, const char *input, const char *const *args)
{
    int in[2], out[2], err[2];
    cr_assert_eq(pipe(in), 0);
    cr_assert_eq(pipe(out), 0);
    cr_assert_eq(pipe(err), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(in[1]);
        close(out[0]);
        close(err[0]);
        setenv("HOME", home, 1);
        unsetenv("XDG_CONFIG_HOME");
        unsetenv("CVOPS_TOKEN");
        unsetenv("CVOPS_SERVER");
        int n = 0;
        while (args[n])
            n++;
        char **argv = calloc((size_t)n + 2, sizeof *argv);
        argv[0] = getenv("CVOPS_TEST_BIN");
        for (int i = 0; i < n; i++)
            argv[i + 1] = (char *)args[i];
        execv(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (input) {
        ssize_t w = write(in[1], input, strlen(input));
        (void)w;
    }
    close(in[1]);
    run_result r = {0, SBUF_INIT, SBUF_INIT};
    slurp(out[0], &r.out);
    slurp(err[0], &r.err);
    int st;
    waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return r;
}

static void done(run_result *r)
{
    sbuf_free(&r->out);
    sbuf_free(&r->err);
}

static char *home_dir(void)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/cvops-clihome.XXXXXX");
    cr_assert_not_null(mkdtemp(path));
    return path;
}

Test(cli, login_whoami_tokens_users)
{
    const char *url = getenv("CVOPS_TEST_URL");
    char *home = home_dir();
    char pw[200];
    snprintf(pw, sizeof pw, "%s\n", getenv("CVOPS_TEST_ADMIN_PASSWORD"));
    run_result r = run(home, "wrong-password\n", (const char *[]){"login", "--server", url, "--username", "admin", "--password-stdin", NULL});
    cr_assert_eq(r.status, 3, "wrong password exits 3, got %d: %s", r.status, sbuf_cstr(&r.err));
    cr_assert_not_null(strstr(sbuf_cstr(&r.err), "wrong username or password"));
    done(&r);

    r = run(home, pw, (const char *[]){"login", "--server", url, "--username", "admin", "--password-stdin", NULL});
    cr_assert_eq(r.status, 0, "%s", sbuf_cstr(&r.err));
    done(&r);
    char cfg[200];
    snprintf(cfg, sizeof cfg, "%s/.config/cvops/config", home);
    struct stat st;
    cr_assert_eq(stat(cfg, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "the config holds a secret: mode 0600");

    r = run(home, NULL, (const char *[]){"whoami", "--json", NULL});
    cr_assert_eq(r.status, 0, "%s", sbuf_cstr(&r.err));
    json_t *j = json_loads(sbuf_cstr(&r.out), 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "role")), "admin");
    json_decref(j);
    done(&r);
    r = run(home, NULL, (const char *[]){"whoami", NULL});
    cr_assert_not_null(strstr(sbuf_cstr(&r.out), "admin"));
    done(&r);

    r = run(home, NULL, (const char *[]){"tokens", "create", "ci-token", NULL});
    cr_assert_eq(r.status, 0, "%s", sbuf_cstr(&r.err));
    cr_assert(strncmp(sbuf_cstr(&r.out), "cvops_", 6) == 0);
    char tok[128];
    snprintf(tok, sizeof tok, "%.*s", (int)strcspn(sbuf_cstr(&r.out), "\n"), sbuf_cstr(&r.out));
    done(&r);
    r = run(home, NULL, (const char *[]){"tokens", "list", NULL});
    cr_assert_not_null(strstr(sbuf_cstr(&r.out), "ci-token"));
    cr_assert_null(strstr(sbuf_cstr(&r.out), tok), "the secret must not be listed");
    done(&r);

    char *uname = api_unique("cliuser");
    char upw[] = "cli-user-password\n";
    r = run(home, upw, (const char *[]){"users", "create", uname, "--role", "viewer", "--password-stdin", NULL});
    cr_assert_eq(r.status, 0, "%s", sbuf_cstr(&r.err));
    done(&r);
    r = run(home, NULL, (const char *[]){"users", "list", NULL});
    cr_assert_not_null(strstr(sbuf_cstr(&r.out), uname));
    cr_assert_not_null(strstr(sbuf_cstr(&r.out), "viewer"));
    done(&r);
    r = run(home, NULL, (const char *[]){"users", "role", "999999", "godlike", NULL});
    cr_assert_eq(r.status, 2, "an invalid role is a usage error (%d)", r.status);
    done(&r);
}

Test(cli, jobs_wait_show_log_and_exit_codes)
{
    const char *url = getenv("CVOPS_TEST_URL");
    char *home = home_dir();
    api_resp *a = api_admin("POST", "/api/v1/jobs", "{\"kind\":\"system.sleep\",\"payload\":{\"ms\":300}}");
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(a->json, "id")));
    api_free(a);
    a = api_admin("POST", "/api/v1/jobs", "{\"kind\":\"system.sleep\",\"payload\":{\"ms\":1,\"fail_times\":9,\"retryable\":false}}");
    char bad[32];
    snprintf(bad, sizeof bad, "%lld", (long long)json_integer_value(json_object_get(a->json, "id")));
    api_free(a);
    const char *tok = api_admin_token();

    run_result r = run(home, NULL, (const char *[]){"jobs", "wait", id, "--server", url, "--token", tok, NULL});
    cr_assert_eq(r.status, 0, "%s", sbuf_cstr(&r.err));
    cr_assert_not_null(strstr(sbuf_cstr(&r.out), "succeeded"));
    done(&r);
    r = run(home, NULL, (const char *[]){"jobs", "wait", bad, "--server", url, "--token", tok, NULL});
    cr_assert_eq(r.status, 1, "a failed job exits 1");
    cr_assert_not_null(strstr(sbuf_cstr(&r.err), "planned failure"));
    done(&r);
    r = run(home, NULL, (const char *[]){"jobs", "show", id, "--json", "--server", url, "--token", tok, NULL});
    cr_assert_eq(r.status, 0);
    json_t *j = json_loads(sbuf_cstr(&r.out), 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "succeeded");
    json_decref(j);
    done(&r);
    r = run(home, NULL, (const char *[]){"jobs", "log", id, "--server", url, "--token", tok, NULL});
    cr_assert_not_null(strstr(sbuf_cstr(&r.out), "attempt 1 started"));
    done(&r);
    r = run(home, NULL, (const char *[]){"jobs", "list", "--state", "failed", "--server", url, "--token", tok, NULL});
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(sbuf_cstr(&r.out), bad));
    done(&r);

    /* documented exit codes */
    r = run(home, NULL, (const char *[]){"jobs", "show", "99999999", "--server", url, "--token", tok, NULL});
    cr_assert_eq(r.status, 4, "not found exits 4");
    done(&r);
    r = run(home, NULL, (const char *[]){"jobs", "show", "1", "--server", url, NULL});
    cr_assert_eq(r.status, 3, "no token exits 3");
    cr_assert_not_null(strstr(sbuf_cstr(&r.err), "cvops login"));
    done(&r);
    r = run(home, NULL, (const char *[]){"jobs", "show", "1", "--server", "http://127.0.0.1:1", "--token", tok, NULL});
    cr_assert_eq(r.status, 5, "unreachable server exits 5");
    done(&r);
    r = run(home, NULL, (const char *[]){"jobs", "show", "--bogus", NULL});
    cr_assert_eq(r.status, 2, "bad option exits 2");
    cr_assert_not_null(strstr(sbuf_cstr(&r.err), "--bogus"));
    done(&r);
    r = run(home, NULL, (const char *[]){"frobnicate", NULL});
    cr_assert_eq(r.status, 2);
    done(&r);
    r = run(home, NULL, (const char *[]){"jobs", "--help", NULL});
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(sbuf_cstr(&r.out), "wait"));
    done(&r);
}
