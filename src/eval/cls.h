/*
 * cls.h - classification metrics (single-label, multi-class).
 *
 * An eval_cls handle holds the class list and one (label, prediction,
 * optional scores) row per item. Fill it with eval_cls_add_class() and
 * eval_cls_add(), or from files with eval_cls_load_files(), then
 * eval_cls_compute() fills an eval_cls_result:
 *
 *   accuracy        share of items whose predicted class is the label
 *   top-k accuracy  share whose label has fewer than k classes scoring
 *                   strictly higher (ties count for the label); needs scores
 *   per class       precision tp/predicted, recall tp/support, F1
 *                   2PR/(P+R); 0 when the denominator is 0
 *   macro           unweighted mean over the classes present in labels or
 *                   predictions; weighted: weights = support; micro: from
 *                   the pooled counts (equal to accuracy for single-label)
 *   confusion       rows = label, columns = prediction
 *   ECE             max score as confidence, argmax as prediction,
 *                   `ece_bins` equal-width bins (lo, hi] over [0, 1] (a
 *                   confidence of 0 goes to the first bin):
 *                   sum_b n_b/N * |accuracy_b - mean confidence_b|
 *   ROC AUC         one-vs-rest per class from the class's score, the
 *                   trapezoid under the ROC curve with tied scores forming
 *                   one step (= Mann-Whitney with ties as 1/2); -1 when the
 *                   class has no positive or no negative item
 *   AP              one-vs-rest, sum over distinct score thresholds of
 *                   (R_n - R_n-1) * P_n (scikit-learn's definition); -1
 *                   without positives
 *
 * Without scores (labels only) top-k, ECE, AUC and AP are -1.
 */
#ifndef CVOPS_EVAL_CLS_H
#define CVOPS_EVAL_CLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define EVAL_CLS_MAX_CLASSES 100000

typedef struct eval_cls eval_cls;

eval_cls *eval_cls_new(void);
void eval_cls_free(eval_cls *c);

/* Classes are numbered in the order added; a name may be added once. */
int eval_cls_add_class(eval_cls *c, const char *name, err *e);
int eval_cls_class_index(const eval_cls *c, const char *name); /* -1 if unknown */
size_t eval_cls_num_classes(const eval_cls *c);
const char *eval_cls_class_name(const eval_cls *c, size_t k);

/* label: true class. pred: predicted class, or -1 for the argmax of scores.
 * scores: NULL, or one finite score per class (all items alike). */
int eval_cls_add(eval_cls *c, int label, int pred, const double *scores, err *e);
size_t eval_cls_num_items(const eval_cls *c);

typedef struct eval_cls_opts {
    int top_k;    /* default 5 */
    int ece_bins; /* default 15 */
} eval_cls_opts;

void eval_cls_opts_init(eval_cls_opts *o);

typedef struct eval_cls_class {
    uint64_t support, predicted, tp;
    double precision, recall, f1;
    double auc, ap; /* -1 when undefined */
} eval_cls_class;

typedef struct eval_cls_result {
    size_t n, k;
    bool has_scores;
    double accuracy;
    int top_k;
    double top_k_accuracy; /* -1 without scores */
    double macro_precision, macro_recall, macro_f1;
    double micro_precision, micro_recall, micro_f1;
    double weighted_precision, weighted_recall, weighted_f1;
    double ece;       /* -1 without scores */
    double macro_auc; /* mean over defined classes, -1 if none */
    double macro_ap;
    eval_cls_class *per_class; /* [k] */
    uint64_t *confusion;       /* [k][k] */
} eval_cls_result;

int eval_cls_compute(const eval_cls *c, const eval_cls_opts *o, eval_cls_result *r, err *e);
void eval_cls_result_free(eval_cls_result *r);

/* Files (docs/eval.md): CSV "id,label" ground truth; predictions as CSV
 * "id,label" or "id,<class 1>,<class 2>,..." scores with that header, or
 * JSON arrays [{"id":..,"label":..}] / [{"id":..,"scores":{"cat":0.9,...}}].
 * Every ground-truth id needs exactly one prediction. */
int eval_cls_load_files(eval_cls *c, const char *gt_path, const char *pred_path, err *e);
int eval_cls_load_mem(eval_cls *c, const char *gt, size_t gtn, const char *pred, size_t predn,
                      err *e);

void eval_cls_write_json(const eval_cls *c, const eval_cls_result *r, jw *w);
void eval_cls_write_text(const eval_cls *c, const eval_cls_result *r, sbuf *out);

#endif
