/*
 * score.h - single-label classification scores from (truth, prediction)
 * pairs: accuracy, and per class true/false positives and false negatives
 * for precision, recall and macro F1. Used by continuous deployment (two
 * models on the same test images) and by the supervised metrics of a
 * deployment (champion and shadow against reviews).
 */
#ifndef CVOPS_DEPLOY_SCORE_H
#define CVOPS_DEPLOY_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

typedef struct deploy_score_class {
    char name[257];
    int64_t tp, fp, fn;
} deploy_score_class;

typedef struct deploy_score {
    deploy_score_class *l; /* owned */
    size_t n, cap;
    int64_t right, total;
} deploy_score; /* zero-initialised is empty */

void deploy_score_add(deploy_score *s, const char *truth, const char *pred);
/* "accuracy", "macro_f1", "macro_precision" or "macro_recall" (macro
 * averages over the classes that have a true example); NAN when empty. */
double deploy_score_value(const deploy_score *s, const char *metric);
/* {"n", "accuracy", "macro_precision", "macro_recall", "macro_f1",
 *  "per_class": [{"label", "support", "precision", "recall"}]} */
void deploy_score_write(const deploy_score *s, jw *w);
void deploy_score_free(deploy_score *s);

#endif
