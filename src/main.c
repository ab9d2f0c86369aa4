/*
 * main.c - the cvops binary: one table of subcommands.
 *
 * `cvops serve` and `cvops worker` run the platform; every other command is
 * a client of the REST API (see src/cli/).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client_cli.h"

static const cli_cmd commands[] = {
    {"serve", cmd_serve, "run the platform: REST API, web UI and job workers"},
    {"worker", cmd_worker, "run job workers only (more machines, shared PostgreSQL)"},
    {"login", cmd_login, "log in and save a token for this machine"},
    {"whoami", cmd_whoami, "show who your token belongs to"},
    {"users", cmd_users, "members of your organization: list, create, role, disable, remove"},
    {"tokens", cmd_tokens, "your API tokens: list, create, revoke"},
    {"orgs", cmd_orgs, "organizations: list, create"},
    {"datalake", cmd_datalake, "images: upload, search, count, tag, stats, show"},
    {"dataset", cmd_dataset, "datasets: versions, fork, lock, labels, split, stats, import, export"},
    {"model", cmd_model, "model registry: list, versions, show, alias, publish, download"},
    {"deployment", cmd_deployment, "deployments: list, show, drift, supervised, pipeline (show, set, runs, train)"},
    {"processing", cmd_processing,
     "processings: list, show, create (custom), run on data, runs"},
    {"jobs", cmd_jobs, "jobs: list, show, wait, log, cancel, retry"},
    {"project", cmd_project, "experiment projects: create, list, show"},
    {"experiment", cmd_experiment,
     "experiments: create, list, show, log, output, compare, artifacts, delete, launch, cancel"},
    {"evaluation", cmd_evaluation,
     "evaluations of an experiment: create, predictions, run, show, images"},
    {"predict", cmd_predict, "classes and scores of images (checkpoint, experiment or deployment)"},
    {"version", cmd_version, "print the version"},
    {"eval", cmd_eval, "evaluate predictions against ground truth (COCO, classification)"},
    {"nn", cmd_nn, "train and measure models locally (developer)"},
    {"detect", cmd_detect, "object detector: train, predict, eval, bench locally (developer)"},
    {"demo", cmd_demo, "demo data: synth-detect (a synthetic detection dataset)"},
    {NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    return cli_dispatch("cvops", argc, argv, commands);
}
