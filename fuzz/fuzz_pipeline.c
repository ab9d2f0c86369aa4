/*
 * Fuzz target: a deployment pipeline's configuration body as PUT
 * /api/v1/deployments/{id}/pipeline reads it before touching the database
 * (deploy_pipeline_parse, which includes the training parameters), and the
 * same bytes as a stored review turned into dataset shapes
 * (deploy_pipeline_review_shapes). Neither may crash on any document.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deploy/pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (doc) {
        deploy_pipeline_body b;
        err e;
        deploy_pipeline_parse(doc, &b, &e);
        json_decref(doc);
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    json_t *labels = json_object();
    json_decref(deploy_pipeline_review_shapes(text, labels));
    json_decref(labels);
    free(text);
    return 0;
}
