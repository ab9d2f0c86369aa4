/*
 * detail.c - detection extras beyond the COCO numbers: a confusion matrix
 * with a background row/column, a per-image record of matches, and a
 * TIDE-style error breakdown. See eval.h and docs/eval.md.
 *
 * Everything is computed image by image at one IoU threshold (iou_thr) on
 * the detections scoring at least score_thr, taking the same top maxDets
 * per (image, category) as the metrics. Within an image, detections are
 * visited by descending score (ties: insertion order).
 *
 *   matches    same-category greedy matching of the reference at iou_thr,
 *              area "all": TP (regular ground truth), IGNORED (crowd or
 *              keypoints without labels), FP; unmatched regular ground
 *              truths are FN.
 *   confusion  class-agnostic: each detection takes the unmatched
 *              non-crowd ground truth of any category with the highest IoU
 *              >= iou_thr -> cell [gt category][dt category]; otherwise,
 *              unless it overlaps a crowd region by iou_thr, [background][dt
 *              category]; unmatched ground truths -> [category][background].
 *   errors     each non-TP, non-ignored detection gets the first that fits
 *              (TIDE, Bolya et al. 2020, with t_f = iou_thr, t_b = bg_thr):
 *              background (IoU < t_b with every ground truth), duplicate
 *              (a same-class ground truth at >= t_f, already taken),
 *              localization (same class, t_b <= IoU < t_f), classification
 *              (other class at >= t_f), both (other class, t_b <= IoU < t_f).
 *              missed = FN ground truths that no localization /
 *              classification / both error points at (its best-IoU ground
 *              truth).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/coco_int.h"

void eval_detail_opts_init(eval_detail_opts *o)
{
    o->iou_thr = 0.5;
    o->score_thr = 0.5;
    o->bg_thr = 0.1;
}

void eval_detail_free(eval_detail *d)
{
    free(d->confusion);
    free(d->matches);
    free(d->image_first);
    free(d->cm_hits);
    memset(d, 0, sizeof *d);
}

typedef struct img_work {
    uint32_t *g, *d; /* annotation indices of the image */
    size_t ng, nd, capg, capd;
    geom *gg, *dg;
    double *iou; /* nd x ng */
    uint8_t *gused, *gaimed, *cmused;
    size_t cap_geo, cap_iou;
} img_work;

static void work_free(img_work *w)
{
    free(w->g);
    free(w->d);
    free(w->gg);
    free(w->dg);
    free(w->iou);
    free(w->gused);
    free(w->gaimed);
    free(w->cmused);
}

static int push_u32(uint32_t **a, size_t *n, size_t *cap, uint32_t v)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        uint32_t *p = realloc(*a, c * sizeof *p);
        if (!p) return -1;
        *a = p;
        *cap = c;
    }
    (*a)[(*n)++] = v;
    return 0;
}

static int push_match(eval_detail *out, size_t *cap, const eval_match *m)
{
    if (out->nmatches == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        eval_match *p = realloc(out->matches, c * sizeof *p);
        if (!p) return -1;
        out->matches = p;
        *cap = c;
    }
    out->matches[out->nmatches++] = *m;
    return 0;
}

static int push_hit(eval_detail *out, size_t *cap, size_t im, size_t row, size_t col)
{
    if (out->ncm_hits == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        eval_cm_hit *p = realloc(out->cm_hits, c * sizeof *p);
        if (!p) return -1;
        out->cm_hits = p;
        *cap = c;
    }
    out->cm_hits[out->ncm_hits++] = (eval_cm_hit){im, (uint32_t)row, (uint32_t)col};
    return 0;
}

static int cmp_dt_score(const void *a, const void *b, void *arg)
{
    const eval_coco *ev = arg;
    const ann *x = &ev->dts[*(const uint32_t *)a], *y = &ev->dts[*(const uint32_t *)b];
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static bool gt_regular(const eval_coco *ev, const ann *g)
{
    return !g->iscrowd && !(ev->type == EVAL_KEYPOINTS && gt_x(ev, g)->num_kp == 0);
}

/* One image: fills confusion, matches, error counts. */
static int do_image(eval_coco *ev, size_t im, size_t p0, size_t p1, const eval_detail_opts *o,
                    img_work *w, eval_detail *out, size_t *mcap, size_t *hcap, err *e)
{
    const size_t K = ev->ncat;
    w->ng = w->nd = 0;
    for (size_t pi = p0; pi < p1; pi++) {
        const pair_rec *pr = &ev->pairs[pi];
        for (uint32_t j = 0; j < pr->ng; j++)
            if (push_u32(&w->g, &w->ng, &w->capg, ev->gidx[pr->g0 + j]))
                return err_set(e, ERR_INTERNAL, "out of memory");
        /* after a run a pair's detections are sorted by score: the first
         * maxDets[-1] are the ones that count */
        uint32_t keep = (uint32_t)ev->p.max_dets[ev->p.n_maxdets - 1];
        for (uint32_t j = 0; j < pr->nd && j < keep; j++) {
            uint32_t d = ev->didx[pr->d0 + j];
            if (ev->dts[d].score >= o->score_thr)
                if (push_u32(&w->d, &w->nd, &w->capd, d))
                    return err_set(e, ERR_INTERNAL, "out of memory");
        }
    }
    size_t ng = w->ng, nd = w->nd;
    if (nd > 1) qsort_r(w->d, nd, sizeof *w->d, cmp_dt_score, ev);
    size_t ngeo = ng > nd ? ng : nd;
    if (ngeo + 1 > w->cap_geo) {
        size_t c = ngeo + 1;
        geom *a = realloc(w->gg, c * sizeof *a);
        if (a) w->gg = a;
        geom *b = realloc(w->dg, c * sizeof *b);
        if (b) w->dg = b;
        uint8_t *u1 = realloc(w->gused, c), *u2 = NULL, *u3 = NULL;
        if (u1) w->gused = u1;
        u2 = realloc(w->gaimed, c);
        if (u2) w->gaimed = u2;
        u3 = realloc(w->cmused, c);
        if (u3) w->cmused = u3;
        if (!a || !b || !u1 || !u2 || !u3) return err_set(e, ERR_INTERNAL, "out of memory");
        w->cap_geo = c;
    }
    if (nd * ng + 1 > w->cap_iou) {
        double *q = realloc(w->iou, (nd * ng + 1) * sizeof *q);
        if (!q) return err_set(e, ERR_INTERNAL, "out of memory");
        w->iou = q;
        w->cap_iou = nd * ng + 1;
    }
    size_t bg = 0, bd = 0;
    int rc = 0;
    for (; bg < ng && rc == 0; bg++)
        rc = coco_geom(ev, &ev->gts[w->g[bg]], true, true, &w->gg[bg], e);
    for (; bd < nd && rc == 0; bd++)
        rc = coco_geom(ev, &ev->dts[w->d[bd]], false, true, &w->dg[bd], e);
    if (rc) goto out;
    for (size_t d = 0; d < nd; d++)
        for (size_t g = 0; g < ng; g++)
            w->iou[d * ng + g] =
                coco_similarity(ev, &ev->dts[w->d[d]], &w->dg[d], &ev->gts[w->g[g]], &w->gg[g]);
    memset(w->gused, 0, ng);
    memset(w->gaimed, 0, ng);
    memset(w->cmused, 0, ng);

    /* confusion: class-agnostic */
    for (size_t d = 0; d < nd; d++) {
        const ann *da = &ev->dts[w->d[d]];
        long best = -1;
        double bi = o->iou_thr;
        bool crowd_hit = false;
        for (size_t g = 0; g < ng; g++) {
            const ann *ga = &ev->gts[w->g[g]];
            double v = w->iou[d * ng + g];
            if (ga->iscrowd) {
                crowd_hit |= v >= o->iou_thr;
                continue;
            }
            if (w->cmused[g] || v < bi || (best >= 0 && v == bi)) continue;
            bi = v;
            best = (long)g;
        }
        size_t row = K + 1;
        if (best >= 0) {
            w->cmused[best] = 1;
            row = (size_t)ev->gts[w->g[best]].cat;
        } else if (!crowd_hit) {
            row = K;
        }
        if (row <= K) {
            out->confusion[row * (K + 1) + (size_t)da->cat]++;
            if (push_hit(out, hcap, im, row, (size_t)da->cat)) {
                rc = err_set(e, ERR_INTERNAL, "out of memory");
                goto out;
            }
        }
    }
    for (size_t g = 0; g < ng; g++)
        if (!w->cmused[g] && !ev->gts[w->g[g]].iscrowd) {
            out->confusion[(size_t)ev->gts[w->g[g]].cat * (K + 1) + K]++;
            if (push_hit(out, hcap, im, (size_t)ev->gts[w->g[g]].cat, K)) {
                rc = err_set(e, ERR_INTERNAL, "out of memory");
                goto out;
            }
        }

    /* same-category matching, the reference's rule at one threshold */
    for (size_t d = 0; d < nd; d++) {
        const ann *da = &ev->dts[w->d[d]];
        double best = fmin(o->iou_thr, 1 - 1e-10);
        long m = -1;
        /* regular ground truths first, then ignored ones (stable) */
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && m >= 0) break; /* matched a regular one: stop before the ignored */
            for (size_t g = 0; g < ng; g++) {
                const ann *ga = &ev->gts[w->g[g]];
                if (ga->cat != da->cat || gt_regular(ev, ga) != (pass == 0)) continue;
                if (w->gused[g] && !ga->iscrowd) continue;
                double v = w->iou[d * ng + g];
                if (v < best) continue;
                best = v;
                m = (long)g;
            }
        }
        eval_match rec = {im, (int64_t)da->seq, -1,           ev->cats[da->cat].id,
                          0,  da->score,        EVAL_MATCH_FP};
        if (m >= 0) {
            const ann *ga = &ev->gts[w->g[m]];
            w->gused[m] = 1;
            rec.gt_id = gt_x(ev, ga)->id;
            rec.iou = w->iou[d * ng + (size_t)m];
            rec.kind = gt_regular(ev, ga) ? EVAL_MATCH_TP : EVAL_MATCH_IGNORED;
        } else {
            /* best IoU with a same-class ground truth, for the record */
            for (size_t g = 0; g < ng; g++)
                if (ev->gts[w->g[g]].cat == da->cat && w->iou[d * ng + g] > rec.iou)
                    rec.iou = w->iou[d * ng + g];
        }
        if (rec.kind == EVAL_MATCH_TP) {
            out->tp++;
        } else if (rec.kind == EVAL_MATCH_FP) {
            /* TIDE classification of the false positive */
            double same = 0, other = 0, all = 0;
            long same_g = -1, other_g = -1;
            bool dupe = false;
            for (size_t g = 0; g < ng; g++) {
                const ann *ga = &ev->gts[w->g[g]];
                if (!gt_regular(ev, ga)) continue;
                double v = w->iou[d * ng + g];
                all = fmax(all, v);
                if (ga->cat == da->cat) {
                    if (v >= o->iou_thr && w->gused[g]) dupe = true;
                    if (v > same || same_g < 0) same = v, same_g = (long)g;
                } else if (v > other || other_g < 0) {
                    other = v, other_g = (long)g;
                }
            }
            if (all < o->bg_thr) {
                out->bkg++;
                rec.error = EVAL_ERR_BACKGROUND;
            } else if (dupe) {
                out->dupe++;
                rec.error = EVAL_ERR_DUPLICATE;
            } else if (same_g >= 0 && same >= o->bg_thr) {
                out->loc++;
                rec.error = EVAL_ERR_LOCALIZATION;
                w->gaimed[same_g] = 1;
            } else if (other_g >= 0 && other >= o->iou_thr) {
                out->cls++;
                rec.error = EVAL_ERR_CLASSIFICATION;
                w->gaimed[other_g] = 1;
            } else {
                out->both++;
                rec.error = EVAL_ERR_BOTH;
                if (other_g >= 0) w->gaimed[other_g] = 1;
            }
        }
        if (push_match(out, mcap, &rec)) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
    }
    for (size_t g = 0; g < ng; g++) {
        const ann *ga = &ev->gts[w->g[g]];
        if (w->gused[g] || !gt_regular(ev, ga)) continue;
        eval_match rec = {im, -1, gt_x(ev, ga)->id, ev->cats[ga->cat].id, 0, 0, EVAL_MATCH_FN};
        if (!w->gaimed[g]) {
            out->missed++;
            rec.error = EVAL_ERR_MISSED;
        }
        if (push_match(out, mcap, &rec)) {
            rc = err_set(e, ERR_INTERNAL, "out of memory");
            goto out;
        }
    }
out:
    for (size_t g = 0; g < bg; g++)
        coco_geom_free(&w->gg[g]);
    for (size_t d = 0; d < bd; d++)
        coco_geom_free(&w->dg[d]);
    return rc;
}

int eval_coco_detail(eval_coco *ev, const eval_detail_opts *o, eval_detail *out, err *e)
{
    memset(out, 0, sizeof *out);
    eval_detail_opts def;
    if (!o) {
        eval_detail_opts_init(&def);
        o = &def;
    }
    if (!(o->iou_thr >= 0 && o->iou_thr <= 1) || !(o->bg_thr >= 0 && o->bg_thr <= o->iou_thr) ||
        isnan(o->score_thr))
        return err_set(e, ERR_INVALID, "detail: need 0 <= bg_thr <= iou_thr <= 1");
    if (!ev->ran && eval_coco_run(ev, NULL, e)) /* ranks per (image, category) */
        return -1;
    size_t K = ev->ncat;
    out->k = K;
    out->confusion = calloc((K + 1) * (K + 1), sizeof *out->confusion);
    out->image_first = calloc(ev->nimg + 1, sizeof *out->image_first);
    if (!out->confusion || !out->image_first) {
        eval_detail_free(out);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    img_work w = {0};
    size_t mcap = 0, hcap = 0, pi = 0;
    int rc = 0;
    for (size_t im = 0; im < ev->nimg && rc == 0; im++) {
        out->image_first[im] = out->nmatches;
        size_t p0 = pi;
        while (pi < ev->npairs && ev->pairs[pi].img == im)
            pi++;
        if (pi > p0) rc = do_image(ev, im, p0, pi, o, &w, out, &mcap, &hcap, e);
    }
    out->image_first[ev->nimg] = out->nmatches;
    work_free(&w);
    if (rc) eval_detail_free(out);
    return rc;
}

const char *eval_error_kind_name(eval_error_kind k)
{
    static const char *const names[] = {"",     "background", "duplicate", "localization",
                                         "classification", "both", "missed"};
    return (unsigned)k < sizeof names / sizeof *names ? names[k] : "?";
}

const char *eval_match_kind_name(eval_match_kind k)
{
    switch (k) {
    case EVAL_MATCH_TP:
        return "tp";
    case EVAL_MATCH_FP:
        return "fp";
    case EVAL_MATCH_IGNORED:
        return "ignored";
    case EVAL_MATCH_FN:
        return "fn";
    }
    return "?";
}

void eval_detail_write_json(const eval_coco *ev, const eval_detail *d, const eval_detail_opts *o,
                            bool matches, jw *w)
{
    jw_obj(w);
    jw_kdbl(w, "iou_thr", o->iou_thr);
    jw_kdbl(w, "score_thr", o->score_thr);
    jw_kdbl(w, "bg_thr", o->bg_thr);
    jw_key(w, "labels");
    jw_arr(w);
    for (size_t k = 0; k < d->k; k++)
        jw_str(w, eval_coco_category_name(ev, k));
    jw_str(w, "background");
    jw_arr_end(w);
    jw_key(w, "confusion");
    jw_arr(w);
    for (size_t i = 0; i <= d->k; i++) {
        jw_arr(w);
        for (size_t j = 0; j <= d->k; j++)
            jw_int(w, (int64_t)d->confusion[i * (d->k + 1) + j]);
        jw_arr_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "errors");
    jw_obj(w);
    jw_kint(w, "tp", (int64_t)d->tp);
    jw_kint(w, "classification", (int64_t)d->cls);
    jw_kint(w, "localization", (int64_t)d->loc);
    jw_kint(w, "both", (int64_t)d->both);
    jw_kint(w, "duplicate", (int64_t)d->dupe);
    jw_kint(w, "background", (int64_t)d->bkg);
    jw_kint(w, "missed", (int64_t)d->missed);
    jw_obj_end(w);
    if (matches) {
        jw_key(w, "images");
        jw_arr(w);
        size_t nimg = eval_coco_num_images(ev);
        for (size_t im = 0; im < nimg; im++) {
            size_t a = d->image_first[im], b = d->image_first[im + 1];
            if (a == b) continue;
            jw_obj(w);
            jw_kint(w, "image_id", eval_coco_image_id(ev, im));
            jw_key(w, "matches");
            jw_arr(w);
            for (size_t i = a; i < b; i++) {
                const eval_match *m = &d->matches[i];
                jw_obj(w);
                if (m->dt >= 0) jw_kint(w, "dt", m->dt);
                if (m->gt_id >= 0 || m->kind != EVAL_MATCH_FP) jw_kint(w, "gt_id", m->gt_id);
                jw_kint(w, "category_id", m->category_id);
                if (m->kind != EVAL_MATCH_FN) {
                    jw_kdbl(w, "iou", m->iou);
                    jw_kdbl(w, "score", m->score);
                }
                jw_kstr(w, "kind", eval_match_kind_name(m->kind));
                jw_obj_end(w);
            }
            jw_arr_end(w);
            jw_obj_end(w);
        }
        jw_arr_end(w);
    }
    jw_obj_end(w);
}
