/*
 * opt.c - the shared command-line parser and subcommand dispatcher.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

void cli_list_free(cli_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

static int list_add(cli_list *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 8;
        const char **p = realloc(l->items, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        l->items = p;
        l->cap = cap;
    }
    l->items[l->n++] = s;
    return 0;
}

void cli_usage(const char *usage, const char *desc, const cli_opt *opts)
{
    printf("usage: %s\n", usage);
    if (desc && *desc)
        printf("\n%s\n", desc);
    if (opts && opts[0].name) {
        printf("\noptions:\n");
        for (const cli_opt *o = opts; o->name; o++) {
            char left[64];
            if (o->short_name)
                snprintf(left, sizeof left, "-%c, --%s%s%s", o->short_name, o->name,
                         o->metavar ? " " : "", o->metavar ? o->metavar : "");
            else
                snprintf(left, sizeof left, "    --%s%s%s", o->name, o->metavar ? " " : "",
                         o->metavar ? o->metavar : "");
            printf("  %-30s %s\n", left, o->help ? o->help : "");
        }
    }
    printf("  %-30s %s\n", "-h, --help", "show this help");
}

static const cli_opt *find_long(const cli_opt *opts, const char *name, size_t n)
{
    for (const cli_opt *o = opts; o && o->name; o++)
        if (strlen(o->name) == n && strncmp(o->name, name, n) == 0)
            return o;
    return NULL;
}

static const cli_opt *find_short(const cli_opt *opts, char c)
{
    for (const cli_opt *o = opts; o && o->name; o++)
        if (o->short_name == c)
            return o;
    return NULL;
}

static int set_value(const cli_opt *o, const char *v)
{
    char *end;
    switch (o->kind) {
    case OPT_STR:
        *(const char **)o->dest = v;
        return 0;
    case OPT_LIST:
        return list_add(o->dest, v);
    case OPT_INT: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || errno) {
            fprintf(stderr, "error: --%s expects a whole number, got '%s'\n", o->name, v);
            return -1;
        }
        *(int64_t *)o->dest = x;
        return 0;
    }
    case OPT_DBL: {
        errno = 0;
        double x = strtod(v, &end);
        if (!*v || *end || errno) {
            fprintf(stderr, "error: --%s expects a number, got '%s'\n", o->name, v);
            return -1;
        }
        *(double *)o->dest = x;
        return 0;
    }
    case OPT_FLAG:
        break;
    }
    return -1;
}

int cli_parse(int argc, char **argv, const cli_opt *opts, const char *usage, const char *desc)
{
    int npos = 0;
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    if (!pos)
        return -1;
    int rc = 0;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == 0) {
            pos[npos++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_usage(usage, desc, opts);
            rc = -2;
            goto out;
        }
        const cli_opt *o;
        const char *val = NULL;
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t n = eq ? (size_t)(eq - name) : strlen(name);
            o = find_long(opts, name, n);
            if (eq)
                val = eq + 1;
            if (!o) {
                fprintf(stderr, "error: unknown option '--%.*s'; see --help\n", (int)n, name);
                rc = -1;
                goto out;
            }
        } else {
            o = find_short(opts, a[1]);
            if (!o) {
                fprintf(stderr, "error: unknown option '-%c'; see --help\n", a[1]);
                rc = -1;
                goto out;
            }
            if (a[2])
                val = a + 2;
        }
        if (o->kind == OPT_FLAG) {
            if (val) {
                fprintf(stderr, "error: --%s takes no value\n", o->name);
                rc = -1;
                goto out;
            }
            *(bool *)o->dest = true;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc) {
                fprintf(stderr, "error: --%s needs a value (%s)\n", o->name,
                        o->metavar ? o->metavar : "VALUE");
                rc = -1;
                goto out;
            }
            val = argv[++i];
        }
        if (set_value(o, val) != 0) {
            rc = -1;
            goto out;
        }
    }
    for (int i = 0; i < npos; i++)
        argv[1 + i] = pos[i];
    rc = npos;
out:
    free(pos);
    return rc;
}

int cli_dispatch(const char *prog, int argc, char **argv, const cli_cmd *cmds)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        printf("usage: %s <command> [options]\n\ncommands:\n", prog);
        for (const cli_cmd *c = cmds; c->name; c++)
            printf("  %-14s %s\n", c->name, c->summary);
        printf("\nRun '%s <command> --help' for a command's options.\n", prog);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (const cli_cmd *c = cmds; c->name; c++)
        if (strcmp(c->name, argv[1]) == 0)
            return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "error: '%s' is not a %s command; run '%s --help' for the list\n", argv[1],
            prog, prog);
    return EXIT_USAGE;
}
