/*
 * Fuzz target: one Pascal VOC XML document through the reader's parser
 * (src/formats/voc.c, expat): element paths, numbers, refusals.
 */
#include <stdint.h>
#include <string.h>

#include "formats/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fmt_voc_doc doc;
    err e;
    if (fmt_voc_parse((const char *)data, size, &doc, &e) == 0) {
        size_t sum = doc.filename ? strlen(doc.filename) : 0;
        for (int i = 0; i < doc.nobjs; i++)
            sum += (doc.objs[i].name ? strlen(doc.objs[i].name) : 0) +
                   (doc.objs[i].pose ? strlen(doc.objs[i].pose) : 0);
        (void)sum;
    }
    fmt_voc_doc_free(&doc);
    return 0;
}
