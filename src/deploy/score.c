/*
 * score.c - classification scores; see score.h.
 */
#include "deploy/score.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eval/eval.h"

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

/* --- detectors ------------------------------------------------------------------ */

struct deploy_det_score {
    eval_coco *ev;
    char **labels; /* category id k+1 */
    size_t nlabels, cap;
    int64_t images, next_gt, gts, dts;
};

deploy_det_score *deploy_det_score_new(void)
{
    deploy_det_score *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->ev = eval_coco_new(EVAL_BBOX);
    if (!s->ev) {
        free(s);
        return NULL;
    }
    eval_coco_set_names(s->ev, "reviewed boxes", "predicted boxes");
    return s;
}

void deploy_det_score_free(deploy_det_score *s)
{
    if (!s)
        return;
    eval_coco_free(s->ev);
    for (size_t i = 0; i < s->nlabels; i++)
        free(s->labels[i]);
    free(s->labels);
    free(s);
}

static int64_t label_id(deploy_det_score *s, const char *name, err *e)
{
    for (size_t i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i], name) == 0)
            return (int64_t)i + 1;
    if (s->nlabels == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **l = realloc(s->labels, cap * sizeof *l);
        if (!l)
            return err_set(e, ERR_INTERNAL, "out of memory");
        s->labels = l;
        s->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return err_set(e, ERR_INTERNAL, "out of memory");
    s->labels[s->nlabels++] = copy;
    if (eval_coco_add_category(s->ev, (int64_t)s->nlabels, name, e))
        return -1;
    return (int64_t)s->nlabels;
}

/* One box of an output or review as an eval_ann (0), or 1 to skip it. */
static int box_ann(deploy_det_score *s, const json_t *b, eval_ann *a, err *e)
{
    static const char *const k[] = {"x", "y", "w", "h"};
    json_t *l = json_object_get(b, "label");
    if (!json_is_string(l))
        return 1;
    for (int q = 0; q < 4; q++) {
        json_t *x = json_object_get(b, k[q]);
        if (!json_is_number(x))
            return 1;
        a->bbox[q] = json_number_value(x);
    }
    a->has_bbox = true;
    a->area = a->bbox[2] * a->bbox[3];
    json_t *sc = json_object_get(b, "score");
    a->score = json_is_number(sc) ? json_number_value(sc) : 1;
    int64_t id = label_id(s, json_string_value(l), e);
    if (id < 0)
        return -1;
    a->category_id = id;
    return 0;
}

int deploy_det_score_add(deploy_det_score *s, const json_t *truth, const json_t *pred, err *e)
{
    int64_t image = ++s->images;
    if (eval_coco_add_image(s->ev, image, 0, 0, e))
        return -1;
    size_t i;
    json_t *b;
    json_array_foreach((json_t *)truth, i, b)
    {
        eval_ann a = {.id = ++s->next_gt, .image_id = image};
        int rc = box_ann(s, b, &a, e);
        if (rc < 0 || (rc == 0 && eval_coco_add_gt(s->ev, &a, e)))
            return -1;
        s->gts += rc == 0;
    }
    json_array_foreach((json_t *)pred, i, b)
    {
        eval_ann a = {.image_id = image};
        int rc = box_ann(s, b, &a, e);
        if (rc < 0 || (rc == 0 && eval_coco_add_dt(s->ev, &a, e)))
            return -1;
        s->dts += rc == 0;
    }
    return 0;
}

static void kdbl_def(jw *w, const char *k, double v) { jw_kdbl(w, k, v < 0 ? NAN : v); }

int deploy_det_score_write(deploy_det_score *s, jw *w, err *e)
{
    int64_t tp = 0, fp = 0, fn = 0;
    double map50 = -1, map = -1;
    eval_detail d = {0};
    bool ran = false;
    if (s->images > 0) {
        if (eval_coco_run(s->ev, NULL, e))
            return -1;
        eval_detail_opts o;
        eval_detail_opts_init(&o);
        o.iou_thr = 0.5;
        o.score_thr = 0; /* the deployment's min_score already applied */
        if (eval_coco_detail(s->ev, &o, &d, e))
            return -1;
        for (size_t i = 0; i < d.nmatches; i++) {
            tp += d.matches[i].kind == EVAL_MATCH_TP;
            fp += d.matches[i].kind == EVAL_MATCH_FP;
            fn += d.matches[i].kind == EVAL_MATCH_FN;
        }
        int n = 0;
        const double *st = eval_coco_stats(s->ev, &n);
        if (n >= 2) {
            map = st[0];
            map50 = st[1];
        }
        ran = true;
    }
    jw_obj(w);
    jw_kint(w, "images", s->images);
    jw_kint(w, "ground_truths", s->gts);
    jw_kint(w, "detections", s->dts);
    jw_kint(w, "tp", tp);
    jw_kint(w, "fp", fp);
    jw_kint(w, "fn", fn);
    jw_kdbl(w, "precision", tp + fp ? (double)tp / (double)(tp + fp) : NAN);
    jw_kdbl(w, "recall", tp + fn ? (double)tp / (double)(tp + fn) : NAN);
    kdbl_def(w, "map_50", map50);
    kdbl_def(w, "map_50_95", map);
    jw_key(w, "per_class");
    jw_arr(w);
    if (ran) {
        size_t K = eval_coco_num_categories(s->ev);
        for (size_t k = 0; k < K; k++) {
            eval_cat_result r;
            eval_coco_category_result(s->ev, k, &r);
            jw_obj(w);
            jw_kstr(w, "label", r.name);
            jw_kint(w, "support", (int64_t)r.n_gt);
            jw_kint(w, "detections", (int64_t)r.n_dt);
            kdbl_def(w, "ap_50", r.ap50);
            kdbl_def(w, "ap", r.ap);
            jw_obj_end(w);
        }
    }
    jw_arr_end(w);
    jw_obj_end(w);
    eval_detail_free(&d);
    return 0;
}
