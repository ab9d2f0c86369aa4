/*
 * main.c - the cvops binary: one table of subcommands.
 *
 * `cvops serve` and `cvops worker` run the platform; every other command is
 * a client of the REST API (see src/cli/).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const cli_cmd commands[] = {
    {"version", cmd_version, "print the version"},
    {"nn", cmd_nn, "train and measure models locally (developer)"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return cli_dispatch("cvops", argc, argv, commands);
}
