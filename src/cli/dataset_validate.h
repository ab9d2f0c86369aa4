/*
 * dataset_validate.h - `cvops dataset validate`: checks an annotation file
 * or dataset directory locally, without a server, and lists every problem
 * with its location.
 */
#ifndef CVOPS_CLI_DATASET_VALIDATE_H
#define CVOPS_CLI_DATASET_VALIDATE_H

/* argv[0] is "validate". Exit codes: 0 no errors (warnings allowed unless
 * --strict), 1 errors found or the input could not be read, 2 usage. */
int cmd_dataset_validate(int argc, char **argv);

#endif
