/*
 * score.c - classification scores; see score.h.
 */
#include "deploy/score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static deploy_score_class *cls(deploy_score *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->l[i].name, name) == 0)
            return &s->l[i];
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        deploy_score_class *l = realloc(s->l, cap * sizeof *l);
        if (!l)
            return NULL;
        s->l = l;
        s->cap = cap;
    }
    deploy_score_class *x = &s->l[s->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    return x;
}

void deploy_score_add(deploy_score *s, const char *truth, const char *pred)
{
    deploy_score_class *t = cls(s, truth), *p = strcmp(truth, pred) ? cls(s, pred) : t;
    if (!t || !p)
        return;
    s->total++;
    if (t == p) {
        s->right++;
        t->tp++;
    } else {
        t->fn++;
        p->fp++;
    }
}

static double prec(const deploy_score_class *x)
{
    return x->tp + x->fp ? (double)x->tp / (double)(x->tp + x->fp) : 0;
}

static double rec(const deploy_score_class *x)
{
    return x->tp + x->fn ? (double)x->tp / (double)(x->tp + x->fn) : 0;
}

double deploy_score_value(const deploy_score *s, const char *metric)
{
    if (s->total == 0)
        return NAN;
    if (strcmp(metric, "accuracy") == 0)
        return (double)s->right / (double)s->total;
    double sum = 0;
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        const deploy_score_class *x = &s->l[i];
        if (x->tp + x->fn == 0)
            continue; /* a class with no true example: not in the macro average */
        double p = prec(x), r = rec(x);
        if (strcmp(metric, "macro_precision") == 0)
            sum += p;
        else if (strcmp(metric, "macro_recall") == 0)
            sum += r;
        else
            sum += p + r > 0 ? 2 * p * r / (p + r) : 0;
        k++;
    }
    return k ? sum / (double)k : NAN;
}

void deploy_score_write(const deploy_score *s, jw *w)
{
    static const char *const metrics[] = {"accuracy", "macro_precision", "macro_recall", "macro_f1"};
    jw_obj(w);
    jw_kint(w, "n", s->total);
    for (int i = 0; i < 4; i++)
        jw_kdbl(w, metrics[i], deploy_score_value(s, metrics[i]));
    jw_key(w, "per_class");
    jw_arr(w);
    for (size_t i = 0; i < s->n; i++) {
        const deploy_score_class *x = &s->l[i];
        jw_obj(w);
        jw_kstr(w, "label", x->name);
        jw_kint(w, "support", x->tp + x->fn);
        jw_kdbl(w, "precision", x->tp + x->fp ? prec(x) : NAN);
        jw_kdbl(w, "recall", x->tp + x->fn ? rec(x) : NAN);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

void deploy_score_free(deploy_score *s)
{
    free(s->l);
    memset(s, 0, sizeof *s);
}
