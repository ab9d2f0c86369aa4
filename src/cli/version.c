/*
 * version.c - `cvops version`.
 */
#include <stdio.h>

#include "cli/cli.h"
#include "base/version.h"

int cmd_version(int argc, char **argv)
{
    int n = cli_parse(argc, argv, (cli_opt[]){{0}}, "cvops version", "Print the version.");
    if (n < 0)
        return n == -2 ? EXIT_OK : EXIT_USAGE;
    printf("cvops %s\n", CVOPS_VERSION);
    return EXIT_OK;
}
