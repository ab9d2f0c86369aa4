/*
 * Fuzz target: the parsers of what a custom processing's author or command
 * sends (src/processing/protocol.c, catalog.c; labels in src/jobs). The first
 * byte chooses:
 *   0  one line of the line protocol (a command's standard output)
 *   1  a manifest (JSON, the text up to the first newline; checked as a
 *      custom or, with the top bit of the first byte, a built-in one) and,
 *      when it is accepted, the parameters given at launch (JSON, the rest)
 *      checked against its parameter definitions
 *   2  worker labels and a requirement list, split at the first '|', then
 *      whether the labels satisfy the requirements
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/jobs.h"
#include "processing/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 16)
        return 0;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    size_t n = strlen(text);
    err e;
    switch (data[0] % 3) {
    case 0: {
        proto_msg m;
        proto_parse(text, &m);
        if (m.text)
            (void)strlen(m.text);
        proto_msg_free(&m);
        break;
    }
    case 1: {
        char *nl = memchr(text, '\n', n);
        size_t mlen = nl ? (size_t)(nl - text) : n;
        json_error_t je;
        json_t *doc = json_loadb(text, mlen, 0, &je);
        if (!doc)
            break;
        proc_def def;
        if (proc_manifest_parse(doc, data[0] & 0x80, &def, &e) == 0) {
            json_t *given = nl ? json_loads(nl + 1, 0, &je) : json_object();
            json_t *out = NULL;
            if (given && proc_params_check(def.params, given, &out, &e) == 0)
                json_decref(out);
            json_decref(given);
            proc_def_free(&def);
        }
        json_decref(doc);
        break;
    }
    default: {
        char *bar = strchr(text, '|');
        if (bar)
            *bar = '\0';
        jobs_label have[JOBS_LABELS_MAX], req[JOBS_LABELS_MAX];
        int nh = 0, nr = 0;
        if (jobs_labels_parse(text, have, JOBS_LABELS_MAX, &nh, &e) == 0 &&
            jobs_labels_parse(bar ? bar + 1 : "", req, JOBS_LABELS_MAX, &nr, &e) == 0)
            (void)jobs_labels_satisfy(have, nh, req, nr);
        break;
    }
    }
    free(text);
    return 0;
}
