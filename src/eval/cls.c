/*
 * cls.c - classification metrics and their file readers; see cls.h.
 *
 * Items are stored as two int32 columns (label, prediction) and, when the
 * predictions carry scores, one row of k doubles per item. The ranking
 * metrics (AUC, AP) sort the items once per class by that class's score;
 * classes are independent and run in parallel.
 *
 * The readers load the whole file: classification inputs are one short line
 * per image, and the scores matrix has to be held anyway.
 */
#include "eval/cls.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "eval/coco_io.h"

#define CLS_MAX_FILE (1ull << 30)

/* --- string -> index map -------------------------------------------------- */

typedef struct strmap {
    const char **keys;
    int32_t *vals;
    size_t cap, n;
} strmap;

static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void strmap_free(strmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int strmap_grow(strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    const char **k = calloc(cap, sizeof *k);
    int32_t *v = malloc(cap * sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = str_hash(m->keys[i]) & (cap - 1);
        while (k[j])
            j = (j + 1) & (cap - 1);
        k[j] = m->keys[i];
        v[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = cap;
    return 0;
}

static int32_t strmap_get(const strmap *m, const char *s)
{
    if (!m->cap) return -1;
    size_t j = str_hash(s) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], s) == 0) return m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return -1;
}

/* key must outlive the map */
static int strmap_put(strmap *m, const char *key, int32_t v)
{
    if ((m->n + 1) * 2 > m->cap && strmap_grow(m)) return -1;
    size_t j = str_hash(key) & (m->cap - 1);
    while (m->keys[j])
        j = (j + 1) & (m->cap - 1);
    m->keys[j] = key;
    m->vals[j] = v;
    m->n++;
    return 0;
}

/* --- handle --------------------------------------------------------------- */

struct eval_cls {
    arena *mem;
    char **names;
    size_t k, capk;
    strmap classmap;
    int32_t *label, *pred;
    double *scores; /* n x k, or NULL */
    size_t n, cap;
    int has_scores; /* -1 unknown (no item yet), 0, 1 */
    bool frozen;    /* classes cannot change once scored items exist */
};

eval_cls *eval_cls_new(void)
{
    eval_cls *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->mem = arena_new(1 << 14);
    if (!c->mem) {
        free(c);
        return NULL;
    }
    c->has_scores = -1;
    return c;
}

void eval_cls_free(eval_cls *c)
{
    if (!c) return;
    arena_free(c->mem);
    free(c->names);
    strmap_free(&c->classmap);
    free(c->label);
    free(c->pred);
    free(c->scores);
    free(c);
}

int eval_cls_add_class(eval_cls *c, const char *name, err *e)
{
    if (c->frozen)
        return err_set(e, ERR_CONFLICT, "cannot add class '%s' after scored items", name);
    if (c->k >= EVAL_CLS_MAX_CLASSES)
        return err_set(e, ERR_TOO_LARGE, "too many classes (limit %d)", EVAL_CLS_MAX_CLASSES);
    if (strmap_get(&c->classmap, name) >= 0)
        return err_set(e, ERR_CONFLICT, "class '%s' is given twice", name);
    if (c->k == c->capk) {
        size_t cap = c->capk ? c->capk * 2 : 16;
        char **p = realloc(c->names, cap * sizeof *p);
        if (!p) return err_set(e, ERR_INTERNAL, "out of memory");
        c->names = p;
        c->capk = cap;
    }
    char *s = arena_strdup(c->mem, name);
    if (!s || strmap_put(&c->classmap, s, (int32_t)c->k))
        return err_set(e, ERR_INTERNAL, "out of memory");
    c->names[c->k++] = s;
    return 0;
}

int eval_cls_class_index(const eval_cls *c, const char *name)
{
    return strmap_get(&c->classmap, name);
}

size_t eval_cls_num_classes(const eval_cls *c)
{
    return c->k;
}
const char *eval_cls_class_name(const eval_cls *c, size_t k)
{
    return k < c->k ? c->names[k] : NULL;
}
size_t eval_cls_num_items(const eval_cls *c)
{
    return c->n;
}

int eval_cls_add(eval_cls *c, int label, int pred, const double *scores, err *e)
{
    if (label < 0 || (size_t)label >= c->k)
        return err_set(e, ERR_INVALID, "label %d is not a class (0..%zu)", label, c->k);
    if (c->has_scores >= 0 && c->has_scores != (scores != NULL))
        return err_set(e, ERR_INVALID, "every item must have scores, or none");
    if (scores) {
        for (size_t j = 0; j < c->k; j++)
            if (!isfinite(scores[j]))
                return err_set(e, ERR_INVALID, "score %zu is not a finite number", j);
        if (pred < 0) {
            pred = 0;
            for (size_t j = 1; j < c->k; j++)
                if (scores[j] > scores[pred]) pred = (int)j;
        }
    }
    if (pred < 0 || (size_t)pred >= c->k)
        return err_set(e, ERR_INVALID, "prediction %d is not a class (0..%zu)", pred, c->k);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        int32_t *l = realloc(c->label, cap * sizeof *l);
        if (!l) return err_set(e, ERR_INTERNAL, "out of memory");
        c->label = l;
        int32_t *p = realloc(c->pred, cap * sizeof *p);
        if (!p) return err_set(e, ERR_INTERNAL, "out of memory");
        c->pred = p;
        if (scores) {
            if (c->k && cap > SIZE_MAX / c->k / sizeof(double))
                return err_set(e, ERR_TOO_LARGE, "too many scores");
            double *s = realloc(c->scores, cap * c->k * sizeof *s);
            if (!s) return err_set(e, ERR_INTERNAL, "out of memory");
            c->scores = s;
        }
        c->cap = cap;
    }
    c->has_scores = scores != NULL;
    if (scores) {
        c->frozen = true;
        memcpy(c->scores + c->n * c->k, scores, c->k * sizeof *scores);
    }
    c->label[c->n] = label;
    c->pred[c->n] = pred;
    c->n++;
    return 0;
}

/* --- metrics ------------------------------------------------------------------- */

void eval_cls_opts_init(eval_cls_opts *o)
{
    o->top_k = 5;
    o->ece_bins = 15;
}

void eval_cls_result_free(eval_cls_result *r)
{
    free(r->per_class);
    free(r->confusion);
    r->per_class = NULL;
    r->confusion = NULL;
}

typedef struct sitem {
    double s;
    uint8_t pos;
} sitem;

static int cmp_sitem_desc(const void *a, const void *b)
{
    double x = ((const sitem *)a)->s, y = ((const sitem *)b)->s;
    return (x < y) - (x > y);
}

/* One-vs-rest AUC and AP of one class from its sorted scores. */
static void rank_metrics(sitem *it, size_t n, double *auc, double *ap)
{
    qsort(it, n, sizeof *it, cmp_sitem_desc);
    uint64_t P = 0;
    for (size_t i = 0; i < n; i++)
        P += it[i].pos;
    uint64_t N = n - P;
    double area = 0, apsum = 0, prev_rec = 0;
    uint64_t tp = 0, fp = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        uint64_t tp0 = tp, fp0 = fp;
        while (j < n && it[j].s == it[i].s) { /* a group of tied scores = one threshold */
            if (it[j].pos)
                tp++;
            else
                fp++;
            j++;
        }
        area += (double)(fp - fp0) * (double)(tp + tp0) / 2.0;
        if (P) {
            double rec = (double)tp / (double)P, prec = (double)tp / (double)(tp + fp);
            apsum += (rec - prev_rec) * prec;
            prev_rec = rec;
        }
        i = j;
    }
    *auc = (P && N) ? area / ((double)P * (double)N) : -1;
    *ap = P ? apsum : -1;
}

int eval_cls_compute(const eval_cls *c, const eval_cls_opts *o, eval_cls_result *r, err *e)
{
    memset(r, 0, sizeof *r);
    eval_cls_opts def;
    if (!o) {
        eval_cls_opts_init(&def);
        o = &def;
    }
    if (c->n == 0) return err_set(e, ERR_INVALID, "no items to evaluate");
    if (o->top_k < 1 || o->ece_bins < 1)
        return err_set(e, ERR_INVALID, "top_k and ece_bins must be >= 1");
    size_t n = c->n, k = c->k;
    r->n = n;
    r->k = k;
    r->has_scores = c->has_scores == 1;
    r->top_k = o->top_k;
    r->per_class = calloc(k, sizeof *r->per_class);
    r->confusion = calloc(k * k, sizeof *r->confusion);
    if (!r->per_class || !r->confusion) {
        eval_cls_result_free(r);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    uint64_t correct = 0;
    for (size_t i = 0; i < n; i++) {
        int l = c->label[i], p = c->pred[i];
        r->confusion[(size_t)l * k + (size_t)p]++;
        r->per_class[l].support++;
        r->per_class[p].predicted++;
        if (l == p) {
            r->per_class[l].tp++;
            correct++;
        }
    }
    r->accuracy = (double)correct / (double)n;
    size_t present = 0;
    double sp = 0, sr = 0, sf = 0, wp = 0, wr = 0, wf = 0;
    for (size_t j = 0; j < k; j++) {
        eval_cls_class *pc = &r->per_class[j];
        pc->precision = pc->predicted ? (double)pc->tp / (double)pc->predicted : 0;
        pc->recall = pc->support ? (double)pc->tp / (double)pc->support : 0;
        pc->f1 = pc->precision + pc->recall > 0
                     ? 2 * pc->precision * pc->recall / (pc->precision + pc->recall)
                     : 0;
        pc->auc = pc->ap = -1;
        if (pc->support || pc->predicted) {
            present++;
            sp += pc->precision;
            sr += pc->recall;
            sf += pc->f1;
        }
        wp += pc->precision * (double)pc->support;
        wr += pc->recall * (double)pc->support;
        wf += pc->f1 * (double)pc->support;
    }
    r->macro_precision = present ? sp / (double)present : 0;
    r->macro_recall = present ? sr / (double)present : 0;
    r->macro_f1 = present ? sf / (double)present : 0;
    r->weighted_precision = wp / (double)n;
    r->weighted_recall = wr / (double)n;
    r->weighted_f1 = wf / (double)n;
    /* single-label: pooled tp = correct, pooled fp = pooled fn = n - correct */
    r->micro_precision = r->micro_recall = r->micro_f1 = r->accuracy;
    r->top_k_accuracy = r->ece = r->macro_auc = r->macro_ap = -1;
    if (!r->has_scores) return 0;

    uint64_t topk_ok = 0;
    int B = o->ece_bins;
    double *bconf = calloc((size_t)B, sizeof *bconf), *bacc = calloc((size_t)B, sizeof *bacc);
    uint64_t *bn = calloc((size_t)B, sizeof *bn);
    if (!bconf || !bacc || !bn) {
        free(bconf);
        free(bacc);
        free(bn);
        eval_cls_result_free(r);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const double *s = c->scores + i * k;
        int l = c->label[i], p = c->pred[i];
        size_t higher = 0;
        for (size_t j = 0; j < k; j++)
            higher += s[j] > s[l];
        topk_ok += higher < (size_t)o->top_k;
        double conf = s[p];
        int b = (int)ceil(conf * B) - 1;
        if (b < 0) b = 0;
        if (b >= B) b = B - 1;
        bn[b]++;
        bconf[b] += conf;
        bacc[b] += l == p;
    }
    r->top_k_accuracy = (double)topk_ok / (double)n;
    double ece = 0;
    for (int b = 0; b < B; b++)
        if (bn[b])
            ece += (double)bn[b] / (double)n *
                   fabs(bacc[b] / (double)bn[b] - bconf[b] / (double)bn[b]);
    r->ece = ece;
    free(bconf);
    free(bacc);
    free(bn);

    int oom = 0;
#pragma omp parallel if (n * k > 20000)
    {
        sitem *it = malloc(n * sizeof *it);
        if (!it) {
#pragma omp atomic write
            oom = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (size_t j = 0; j < k; j++) {
            if (!it) continue;
            for (size_t i = 0; i < n; i++)
                it[i] = (sitem){c->scores[i * k + j], (uint8_t)(c->label[i] == (int)j)};
            rank_metrics(it, n, &r->per_class[j].auc, &r->per_class[j].ap);
        }
        free(it);
    }
    if (oom) {
        eval_cls_result_free(r);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    double sa = 0, sap = 0;
    size_t na = 0, nap = 0;
    for (size_t j = 0; j < k; j++) {
        if (r->per_class[j].auc >= 0) sa += r->per_class[j].auc, na++;
        if (r->per_class[j].ap >= 0) sap += r->per_class[j].ap, nap++;
    }
    r->macro_auc = na ? sa / (double)na : -1;
    r->macro_ap = nap ? sap / (double)nap : -1;
    return 0;
}

/* --- output -------------------------------------------------------------------- */

void eval_cls_write_json(const eval_cls *c, const eval_cls_result *r, jw *w)
{
    jw_kint(w, "items", (int64_t)r->n);
    jw_kdbl(w, "accuracy", r->accuracy);
    jw_kint(w, "top_k", r->top_k);
    jw_kdbl(w, "top_k_accuracy", r->top_k_accuracy);
    jw_key(w, "macro");
    jw_obj(w);
    jw_kdbl(w, "precision", r->macro_precision);
    jw_kdbl(w, "recall", r->macro_recall);
    jw_kdbl(w, "f1", r->macro_f1);
    jw_kdbl(w, "roc_auc", r->macro_auc);
    jw_kdbl(w, "ap", r->macro_ap);
    jw_obj_end(w);
    jw_key(w, "micro");
    jw_obj(w);
    jw_kdbl(w, "precision", r->micro_precision);
    jw_kdbl(w, "recall", r->micro_recall);
    jw_kdbl(w, "f1", r->micro_f1);
    jw_obj_end(w);
    jw_key(w, "weighted");
    jw_obj(w);
    jw_kdbl(w, "precision", r->weighted_precision);
    jw_kdbl(w, "recall", r->weighted_recall);
    jw_kdbl(w, "f1", r->weighted_f1);
    jw_obj_end(w);
    jw_kdbl(w, "ece", r->ece);
    jw_key(w, "classes");
    jw_arr(w);
    for (size_t j = 0; j < r->k; j++)
        jw_str(w, c->names[j]);
    jw_arr_end(w);
    jw_key(w, "per_class");
    jw_obj(w);
    for (size_t j = 0; j < r->k; j++) {
        const eval_cls_class *pc = &r->per_class[j];
        jw_key(w, c->names[j]);
        jw_obj(w);
        jw_kint(w, "support", (int64_t)pc->support);
        jw_kint(w, "predicted", (int64_t)pc->predicted);
        jw_kdbl(w, "precision", pc->precision);
        jw_kdbl(w, "recall", pc->recall);
        jw_kdbl(w, "f1", pc->f1);
        jw_kdbl(w, "roc_auc", pc->auc);
        jw_kdbl(w, "ap", pc->ap);
        jw_obj_end(w);
    }
    jw_obj_end(w);
    jw_key(w, "confusion");
    jw_arr(w);
    for (size_t i = 0; i < r->k; i++) {
        jw_arr(w);
        for (size_t j = 0; j < r->k; j++)
            jw_int(w, (int64_t)r->confusion[i * r->k + j]);
        jw_arr_end(w);
    }
    jw_arr_end(w);
}

void eval_cls_write_text(const eval_cls *c, const eval_cls_result *r, sbuf *o)
{
    sbuf_printf(o, "items %zu, classes %zu\n", r->n, r->k);
    sbuf_printf(o, "accuracy        %.4f\n", r->accuracy);
    if (r->has_scores) {
        sbuf_printf(o, "top-%d accuracy  %.4f\n", r->top_k, r->top_k_accuracy);
        sbuf_printf(o, "ECE             %.4f\n", r->ece);
    }
    sbuf_printf(o, "\n%-20s %9s %9s %9s %9s", "class", "precision", "recall", "f1", "support");
    if (r->has_scores) sbuf_printf(o, " %9s %9s", "roc_auc", "ap");
    sbuf_putc(o, '\n');
    for (size_t j = 0; j < r->k; j++) {
        const eval_cls_class *pc = &r->per_class[j];
        sbuf_printf(o, "%-20.20s %9.4f %9.4f %9.4f %9llu", c->names[j], pc->precision, pc->recall,
                    pc->f1, (unsigned long long)pc->support);
        if (r->has_scores) sbuf_printf(o, " %9.4f %9.4f", pc->auc, pc->ap);
        sbuf_putc(o, '\n');
    }
    sbuf_printf(o, "%-20s %9.4f %9.4f %9.4f %9zu", "macro avg", r->macro_precision, r->macro_recall,
                r->macro_f1, r->n);
    if (r->has_scores) sbuf_printf(o, " %9.4f %9.4f", r->macro_auc, r->macro_ap);
    sbuf_putc(o, '\n');
    sbuf_printf(o, "%-20s %9.4f %9.4f %9.4f %9zu\n", "micro avg", r->micro_precision,
                r->micro_recall, r->micro_f1, r->n);
    sbuf_printf(o, "%-20s %9.4f %9.4f %9.4f %9zu\n", "weighted avg", r->weighted_precision,
                r->weighted_recall, r->weighted_f1, r->n);
}

/* --- readers ------------------------------------------------------------------- */

/* A parsed table: rows of fields (strings in an arena). */
typedef struct row {
    char **f;
    size_t n;
    size_t line;
} row;

typedef struct table {
    row *rows;
    size_t n, cap;
} table;

static void table_free(table *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->rows[i].f);
    free(t->rows);
    memset(t, 0, sizeof *t);
}

/* CSV with optional "double-quoted" fields ("" inside quotes is a quote). */
static int parse_csv(arena *a, const char *s, size_t n, const char *label, table *t, err *e)
{
    size_t i = 0, line = 1;
    sbuf fld = SBUF_INIT;
    while (i < n) {
        row r = {NULL, 0, line};
        size_t cap = 0;
        bool done = false;
        while (!done) {
            sbuf_reset(&fld);
            if (i < n && s[i] == '"') {
                size_t qline = line;
                i++;
                for (;;) {
                    if (i >= n) {
                        sbuf_free(&fld);
                        free(r.f);
                        return err_set(e, ERR_INVALID, "%s:%zu: unterminated quoted field", label,
                                       qline);
                    }
                    if (s[i] == '"') {
                        if (i + 1 < n && s[i + 1] == '"') {
                            sbuf_putc(&fld, '"');
                            i += 2;
                            continue;
                        }
                        i++;
                        break;
                    }
                    if (s[i] == '\n') line++;
                    sbuf_putc(&fld, s[i++]);
                }
            } else {
                while (i < n && s[i] != ',' && s[i] != '\n' && s[i] != '\r')
                    sbuf_putc(&fld, s[i++]);
            }
            if (r.n == cap) {
                cap = cap ? cap * 2 : 8;
                char **p = realloc(r.f, cap * sizeof *p);
                if (!p) {
                    sbuf_free(&fld);
                    free(r.f);
                    return err_set(e, ERR_INTERNAL, "out of memory");
                }
                r.f = p;
            }
            r.f[r.n] = arena_strndup(a, fld.p ? fld.p : "", fld.len);
            if (!r.f[r.n]) {
                sbuf_free(&fld);
                free(r.f);
                return err_set(e, ERR_INTERNAL, "out of memory");
            }
            r.n++;
            if (i < n && s[i] == ',') {
                i++;
            } else {
                if (i < n && s[i] == '\r') i++;
                if (i < n && s[i] == '\n') i++;
                done = true;
            }
        }
        line++;
        if (r.n == 1 && r.f[0][0] == 0) { /* blank line */
            free(r.f);
            continue;
        }
        if (t->n == t->cap) {
            size_t c2 = t->cap ? t->cap * 2 : 256;
            row *p = realloc(t->rows, c2 * sizeof *p);
            if (!p) {
                sbuf_free(&fld);
                free(r.f);
                return err_set(e, ERR_INTERNAL, "out of memory");
            }
            t->rows = p;
            t->cap = c2;
        }
        t->rows[t->n++] = r;
    }
    sbuf_free(&fld);
    return 0;
}

static bool is_json(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') continue;
        return s[i] == '[';
    }
    return false;
}

/* id or label from JSON (string or integer) into the arena */
static char *json_scalar(arena *a, json_t *v)
{
    if (json_is_string(v)) return arena_strndup(a, json_string_value(v), json_string_length(v));
    if (json_is_integer(v)) return arena_printf(a, "%lld", (long long)json_integer_value(v));
    return NULL;
}

typedef struct item {
    const char *id;
    const char *label;
    double *scores; /* pred only, in the class order of the file */
    size_t line;    /* CSV line or JSON index */
} item;

typedef struct items {
    item *v;
    size_t n;
    char **classes; /* score columns (pred), NULL for labels */
    size_t nclasses;
} items;

static void items_free(items *it)
{
    for (size_t i = 0; i < it->n; i++)
        free(it->v[i].scores);
    free(it->v);
    free(it->classes);
    memset(it, 0, sizeof *it);
}

static int load_json(arena *a, const char *s, size_t n, const char *label, bool pred, items *out,
                     err *e)
{
    json_error_t je;
    json_t *root = json_loadb(s, n, 0, &je);
    if (!root)
        return err_set(e, ERR_INVALID, "%s:%d:%d: invalid JSON: %s", label, je.line, je.column,
                       je.text);
    int rc = 0;
    size_t m = json_array_size(root);
    out->v = calloc(m ? m : 1, sizeof *out->v);
    if (!out->v) {
        json_decref(root);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < m && rc == 0; i++) {
        json_t *o = json_array_get(root, i);
        item *it = &out->v[out->n];
        it->line = i;
        if (!json_is_object(o)) {
            rc = err_set(e, ERR_INVALID, "%s[%zu]: expected an object", label, i);
            break;
        }
        it->id = json_scalar(a, json_object_get(o, "id"));
        if (!it->id) {
            rc = err_set(e, ERR_INVALID, "%s[%zu].id: expected a string or an integer", label, i);
            break;
        }
        json_t *lab = json_object_get(o, "label"), *sc = json_object_get(o, "scores");
        if (pred && sc) {
            if (!json_is_object(sc)) {
                rc = err_set(e, ERR_INVALID, "%s[%zu].scores: expected an object {class: score}",
                             label, i);
                break;
            }
            if (!out->classes) {
                out->nclasses = json_object_size(sc);
                out->classes = calloc(out->nclasses ? out->nclasses : 1, sizeof *out->classes);
                if (!out->classes) {
                    rc = err_set(e, ERR_INTERNAL, "out of memory");
                    break;
                }
                size_t j = 0;
                const char *key;
                json_t *val;
                json_object_foreach(sc, key, val) out->classes[j++] = arena_strdup(a, key);
            }
            if (json_object_size(sc) != out->nclasses) {
                rc = err_set(e, ERR_INVALID, "%s[%zu].scores: %zu classes, %s[0] has %zu", label, i,
                             json_object_size(sc), label, out->nclasses);
                break;
            }
            it->scores = malloc((out->nclasses ? out->nclasses : 1) * sizeof *it->scores);
            if (!it->scores) {
                rc = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            out->n++;
            for (size_t j = 0; j < out->nclasses; j++) {
                json_t *v = json_object_get(sc, out->classes[j]);
                if (!json_is_number(v)) {
                    rc = err_set(e, ERR_INVALID, "%s[%zu].scores.%s: expected a number", label, i,
                                 out->classes[j]);
                    break;
                }
                it->scores[j] = json_number_value(v);
            }
            continue;
        }
        it->label = json_scalar(a, lab);
        if (!it->label) {
            rc = err_set(e, ERR_INVALID, "%s[%zu].label: expected a string or an integer%s", label,
                         i, pred ? " (or \"scores\": {class: score})" : "");
            break;
        }
        if (pred && out->classes) {
            rc = err_set(e, ERR_INVALID, "%s[%zu]: has a label but %s[0] has scores", label, i,
                         label);
            break;
        }
        out->n++;
    }
    if (rc == 0 && !json_is_array(root))
        rc = err_set(e, ERR_INVALID, "%s: expected a JSON array of objects", label);
    json_decref(root);
    return rc;
}

static int load_csv(arena *a, const char *s, size_t n, const char *label, bool pred, items *out,
                    err *e)
{
    table t = {0};
    if (parse_csv(a, s, n, label, &t, e)) return -1;
    int rc = 0;
    size_t start = 0;
    if (t.n && strcmp(t.rows[0].f[0], "id") == 0) {
        start = 1;
        const row *h = &t.rows[0];
        if (pred && !(h->n == 2 && strcmp(h->f[1], "label") == 0)) {
            if (h->n < 2) {
                table_free(&t);
                return err_set(e, ERR_INVALID, "%s:1: header needs id and class columns", label);
            }
            out->nclasses = h->n - 1;
            out->classes = malloc(out->nclasses * sizeof *out->classes);
            if (!out->classes) {
                table_free(&t);
                return err_set(e, ERR_INTERNAL, "out of memory");
            }
            for (size_t j = 0; j < out->nclasses; j++)
                out->classes[j] = h->f[j + 1];
        }
    }
    out->v = calloc(t.n ? t.n : 1, sizeof *out->v);
    if (!out->v) {
        table_free(&t);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    for (size_t i = start; i < t.n && rc == 0; i++) {
        const row *r = &t.rows[i];
        item *it = &out->v[out->n];
        it->line = r->line;
        it->id = r->f[0];
        size_t want = out->classes ? out->nclasses + 1 : 2;
        if (r->n != want) {
            rc = err_set(e, ERR_INVALID, "%s:%zu: expected %zu fields, got %zu", label, r->line,
                         want, r->n);
            break;
        }
        if (out->classes) {
            it->scores = malloc(out->nclasses * sizeof *it->scores);
            if (!it->scores) {
                rc = err_set(e, ERR_INTERNAL, "out of memory");
                break;
            }
            out->n++;
            for (size_t j = 0; j < out->nclasses; j++) {
                const char *f = r->f[j + 1];
                if (eval_parse_double(f, strlen(f), &it->scores[j])) {
                    rc = err_set(e, ERR_INVALID, "%s:%zu: score for '%s' is not a number: '%s'",
                                 label, r->line, out->classes[j], f);
                    break;
                }
            }
        } else {
            it->label = r->f[1];
            out->n++;
        }
    }
    table_free(&t);
    return rc;
}

static int load_items(arena *a, const char *s, size_t n, const char *label, bool pred, items *out,
                      err *e)
{
    memset(out, 0, sizeof *out);
    int rc = is_json(s, n) ? load_json(a, s, n, label, pred, out, e)
                           : load_csv(a, s, n, label, pred, out, e);
    return rc;
}

static int add_class_if_new(eval_cls *c, const char *name, err *e)
{
    if (eval_cls_class_index(c, name) >= 0) return 0;
    return eval_cls_add_class(c, name, e);
}

static void where(char *buf, size_t n, const char *label, bool json, size_t line)
{
    if (json)
        snprintf(buf, n, "%s[%zu]", label, line);
    else
        snprintf(buf, n, "%s:%zu", label, line);
}

int eval_cls_load_mem(eval_cls *c, const char *gt, size_t gtn, const char *pred, size_t predn,
                      err *e)
{
    items g = {0}, p = {0};
    strmap ids = {0};
    int rc = 0;
    bool gjson = is_json(gt, gtn), pjson = is_json(pred, predn);
    if (load_items(c->mem, gt, gtn, "gt", false, &g, e) ||
        load_items(c->mem, pred, predn, "pred", true, &p, e)) {
        rc = -1;
        goto out;
    }
    /* classes: score columns first, then labels in order of appearance */
    for (size_t j = 0; j < p.nclasses && rc == 0; j++)
        rc = eval_cls_add_class(c, p.classes[j], e);
    if (rc) goto out;
    char loc[256];
    for (size_t i = 0; i < g.n; i++) {
        where(loc, sizeof loc, "gt", gjson, g.v[i].line);
        if (p.classes && eval_cls_class_index(c, g.v[i].label) < 0) {
            rc = err_set(e, ERR_INVALID, "%s: label '%s' is not one of the score columns", loc,
                         g.v[i].label);
            goto out;
        }
        if (add_class_if_new(c, g.v[i].label, e)) {
            rc = -1;
            goto out;
        }
        if (strmap_get(&ids, g.v[i].id) >= 0) {
            rc = err_set(e, ERR_INVALID, "%s: id '%s' appears twice", loc, g.v[i].id);
            goto out;
        }
        if (strmap_put(&ids, g.v[i].id, (int32_t)i)) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < p.n && !p.classes; i++)
        if (add_class_if_new(c, p.v[i].label, e)) {
            rc = -1;
            goto out;
        }
    int32_t *pred_of = malloc((g.n ? g.n : 1) * sizeof *pred_of);
    if (!pred_of) {
        rc = err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < g.n; i++)
        pred_of[i] = -1;
    for (size_t i = 0; i < p.n; i++) {
        where(loc, sizeof loc, "pred", pjson, p.v[i].line);
        int32_t gi = strmap_get(&ids, p.v[i].id);
        if (gi < 0) {
            rc = err_set(e, ERR_INVALID, "%s: id '%s' is not in the ground truth", loc, p.v[i].id);
            break;
        }
        if (pred_of[gi] >= 0) {
            rc = err_set(e, ERR_INVALID, "%s: a second prediction for id '%s'", loc, p.v[i].id);
            break;
        }
        pred_of[gi] = (int32_t)i;
    }
    for (size_t i = 0; i < g.n && rc == 0; i++) {
        if (pred_of[i] < 0) {
            where(loc, sizeof loc, "gt", gjson, g.v[i].line);
            rc = err_set(e, ERR_INVALID, "%s: no prediction for id '%s'", loc, g.v[i].id);
            break;
        }
        const item *pi = &p.v[pred_of[i]];
        int l = eval_cls_class_index(c, g.v[i].label);
        int pr = pi->scores ? -1 : eval_cls_class_index(c, pi->label);
        if (eval_cls_add(c, l, pr, pi->scores, e)) {
            where(loc, sizeof loc, "pred", pjson, pi->line);
            rc = err_prefix(e, "%s: ", loc);
        }
    }
    free(pred_of);
out:
    items_free(&g);
    items_free(&p);
    strmap_free(&ids);
    return rc;
}

static int read_all(const char *path, char **out, size_t *n, err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(e, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, "%s: cannot open: %s", path,
                       strerror(errno));
    sbuf b = SBUF_INIT;
    char tmp[65536];
    size_t got;
    while ((got = fread(tmp, 1, sizeof tmp, f)) > 0) {
        sbuf_put(&b, tmp, got);
        if (b.len > CLS_MAX_FILE) {
            fclose(f);
            sbuf_free(&b);
            return err_set(e, ERR_TOO_LARGE, "%s: larger than 1 GiB", path);
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad || sbuf_failed(&b)) {
        sbuf_free(&b);
        return err_set(e, ERR_IO, "%s: read failed", path);
    }
    *out = sbuf_detach(&b, n);
    if (!*out) {
        *out = strdup("");
        *n = 0;
    }
    return 0;
}

int eval_cls_load_files(eval_cls *c, const char *gt_path, const char *pred_path, err *e)
{
    char *g = NULL, *p = NULL;
    size_t gn = 0, pn = 0;
    if (read_all(gt_path, &g, &gn, e) || read_all(pred_path, &p, &pn, e)) {
        free(g);
        return -1;
    }
    int rc = eval_cls_load_mem(c, g, gn, p, pn, e);
    free(g);
    free(p);
    return rc;
}
