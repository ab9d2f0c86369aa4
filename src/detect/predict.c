/*
 * predict.c - inference: the predictor (a model and a pool of sessions,
 * like nn_predictor), and the mAP of a model on a source through the
 * evaluation engine (src/eval).
 *
 * One image: letterbox to the input size (square, or padded to multiples
 * of 32 with rect), forward, decode the cells scoring at least conf, keep
 * the best max_nms candidates, class-aware NMS, max_det boxes, back to
 * image pixels.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect_impl.h"
#include "eval/eval.h"

#define MAX_NMS 30000 /* candidates into NMS */

struct det_predictor {
    nn_model *m;
    det_head h;
    int threads; /* compute threads of each session (0: nn_init's) */
    int max, created, nfree;
    nn_session **pool, **idle;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* first come, first served: a caller takes a ticket and borrows when
     * its number comes up (a condition variable wakes any waiter: with 8
     * clients on 2 sessions some waited 7 forward passes, p99 300 ms) */
    uint64_t ticket_next, ticket_serving;
};

det_predictor *det_predictor_new(nn_model *m, int max_sessions, err *e)
{
    det_head h;
    if (det_head_of(m, &h, e) < 0) {
        nn_model_free(m);
        return NULL;
    }
    if (max_sessions <= 0) max_sessions = 1;
    if (max_sessions > 256) max_sessions = 256;
    det_predictor *p = calloc(1, sizeof *p);
    if (p) {
        p->pool = calloc((size_t)max_sessions, sizeof *p->pool);
        p->idle = calloc((size_t)max_sessions, sizeof *p->idle);
    }
    if (!p || !p->pool || !p->idle) {
        if (p) {
            free(p->pool);
            free(p->idle);
            free(p);
        }
        nn_model_free(m);
        err_set(e, ERR_INTERNAL, "out of memory");
        return NULL;
    }
    p->m = m;
    p->h = h;
    p->max = max_sessions;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return p;
}

det_predictor *det_predictor_open(const char *path, int max_sessions, err *e)
{
    nn_model *m = nn_model_load(path, NULL, e);
    if (!m) return NULL;
    return det_predictor_new(m, max_sessions, e);
}

void det_predictor_free(det_predictor *p)
{
    if (!p) return;
    for (int i = 0; i < p->created; i++)
        nn_session_free(p->pool[i]);
    free(p->pool);
    free(p->idle);
    nn_model_free(p->m);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

const nn_model *det_predictor_model(const det_predictor *p)
{
    return p->m;
}

void det_predictor_set_threads(det_predictor *p, int threads)
{
    pthread_mutex_lock(&p->mu);
    p->threads = threads;
    for (int i = 0; i < p->nfree; i++)
        nn_session_set_threads(p->idle[i], threads);
    pthread_mutex_unlock(&p->mu);
}

static nn_session *borrow(det_predictor *p, err *e)
{
    pthread_mutex_lock(&p->mu);
    uint64_t me = p->ticket_next++;
    for (;;) {
        if (me == p->ticket_serving && p->nfree > 0) {
            nn_session *s = p->idle[--p->nfree];
            p->ticket_serving++;
            pthread_cond_broadcast(&p->cv); /* the next ticket may find another session */
            pthread_mutex_unlock(&p->mu);
            return s;
        }
        if (me == p->ticket_serving && p->created < p->max) {
            /* under the lock, as nn's predictor does: a session is cheap
             * until its first forward pass builds its plan */
            nn_session *s = nn_session_new(p->m, e);
            if (s && p->threads > 0) nn_session_set_threads(s, p->threads);
            if (s)
                p->pool[p->created++] = s;
            p->ticket_serving++;
            pthread_cond_broadcast(&p->cv);
            pthread_mutex_unlock(&p->mu);
            return s;
        }
        pthread_cond_wait(&p->cv, &p->mu);
    }
}

static void give_back(det_predictor *p, nn_session *s)
{
    pthread_mutex_lock(&p->mu);
    p->idle[p->nfree++] = s;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static int cmp_score(const void *a, const void *b)
{
    const det_box *x = a, *y = b;
    return (x->score < y->score) - (x->score > y->score);
}

/* decode + NMS for image b of y; *out malloc'd */
static int postprocess(const det_head *h, const nn_tensor *y, int b, float conf, float iou,
                       int max_det, bool agnostic, det_box **out, int *n, err *e)
{
    det_box *c;
    int nc;
    if (det_decode(h, y, b, conf, false, &c, &nc, e) < 0) return -1;
    if (nc > MAX_NMS) {
        qsort(c, (size_t)nc, sizeof *c, cmp_score);
        nc = MAX_NMS;
    }
    int k = det_nms(c, nc, iou, max_det, agnostic);
    if (k < 0) {
        free(c);
        return err_set(e, ERR_INTERNAL, "out of memory");
    }
    *out = c;
    *n = k;
    return 0;
}

static void to_tensor(const uint8_t *rgb, nn_tensor *x, int b)
{
    size_t plane = (size_t)x->h * (size_t)x->w;
    float *d = x->data + (size_t)b * plane * 3;
    for (size_t p = 0; p < plane; p++) {
        d[p] = rgb[3 * p] * (1.0f / 255);
        d[plane + p] = rgb[3 * p + 1] * (1.0f / 255);
        d[2 * plane + p] = rgb[3 * p + 2] * (1.0f / 255);
    }
}

int det_predict(det_predictor *p, const nn_image *img, const det_predict_opts *o, det_box **out,
                int *n, err *e)
{
    *out = NULL;
    *n = 0;
    det_predict_opts d = o ? *o : (det_predict_opts){0};
    if (!(d.conf > 0)) d.conf = 0.25f;
    if (!(d.iou > 0)) d.iou = 0.7f;
    if (d.max_det <= 0) d.max_det = 300;
    int ic, ih, iw;
    nn_model_input(p->m, &ic, &ih, &iw);
    int size = d.size > 0 ? d.size : iw;
    if (size % DET_STRIDE || size < DET_STRIDE || size > DET_MAX_SIDE)
        return err_set(e, ERR_INVALID, "input size %d: a multiple of %d up to %d", size, DET_STRIDE,
                       DET_MAX_SIDE);
    if (img->w < 1 || img->h < 1) return err_set(e, ERR_INVALID, "empty image");
    det_lb lb;
    det_lb_fit(img->w, img->h, d.size > 0 ? size : iw, d.size > 0 ? size : ih, d.rect, &lb);
    uint8_t *rgb = malloc((size_t)lb.out_w * (size_t)lb.out_h * 3);
    nn_tensor *x = nn_tensor_new(1, 3, lb.out_h, lb.out_w);
    int rc = -1;
    nn_session *s = NULL;
    if (!rgb || !x) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (det_lb_apply(img, &lb, rgb, e) < 0) goto done;
    to_tensor(rgb, x, 0);
    if (!(s = borrow(p, e))) goto done;
    const nn_tensor *y = nn_forward(s, x, false, e);
    if (y && postprocess(&p->h, y, 0, d.conf, d.iou, d.max_det, d.agnostic, out, n, e) == 0) {
        det_lb_unmap(&lb, img->w, img->h, *out, *n);
        rc = 0;
    }
    give_back(p, s);
done:
    free(rgb);
    nn_tensor_free(x);
    return rc;
}

/* --- evaluation --------------------------------------------------------------------- */

int det_eval_session(nn_session *s, const nn_model *m, det_fetch_fn fetch, void *ud, int64_t count,
                     int batch, float conf, float iou, int max_det, int size, int workers,
                     det_metrics *out, eval_coco **eval_out, err *e)
{
    memset(out, 0, sizeof *out);
    det_head h;
    if (det_head_of(m, &h, e) < 0) return -1;
    if (count < 1) return err_set(e, ERR_INVALID, "nothing to evaluate: no images");
    if (!(conf > 0)) conf = 0.001f;
    if (!(iou > 0)) iou = 0.7f;
    if (max_det <= 0) max_det = 300;
    int ic, ih, iw;
    nn_model_input(m, &ic, &ih, &iw);
    if (size != 0) {
        if (size % DET_STRIDE || size < DET_STRIDE || size > DET_MAX_SIDE)
            return err_set(e, ERR_INVALID, "evaluation input size %d: a multiple of %d up to %d",
                           size, DET_STRIDE, DET_MAX_SIDE);
        iw = ih = size;
    }
    det_loader_cfg lc = {.count = count,
                         .batch = batch > 0 ? batch : 16,
                         .seed = 1,
                         .letterbox = true,
                         .workers = workers > 0 ? workers : 1};
    lc.aug.out_w = iw;
    lc.aug.out_h = ih;
    det_loader *l = det_loader_new(&lc, fetch, ud, e);
    if (!l) return -1;
    eval_coco *ev = eval_coco_new(EVAL_BBOX);
    int rc = -1;
    if (!ev) {
        err_set(e, ERR_INTERNAL, "out of memory");
        goto out;
    }
    for (int k = 0; k < h.classes; k++) {
        const char *nm = nn_model_label(m, k);
        char buf[32];
        if (!nm) {
            snprintf(buf, sizeof buf, "class %d", k);
            nm = buf;
        }
        if (eval_coco_add_category(ev, k + 1, nm, e) < 0) goto out;
    }
    if (det_loader_start(l, 0, 0, e) < 0) goto out;
    det_batch *b;
    int r;
    int64_t gt_id = 1;
    while ((r = det_loader_next(l, &b, e)) == 1) {
        const nn_tensor *y = nn_forward(s, b->x, false, e);
        if (!y) {
            det_loader_release(l, b);
            goto out;
        }
        int fail = 0;
        for (int i = 0; i < b->n && !fail; i++) {
            int64_t id = b->index[i] + 1;
            fail = eval_coco_add_image(ev, id, (uint32_t)b->img_w[i], (uint32_t)b->img_h[i], e);
            int ng = b->first[i + 1] - b->first[i];
            det_box *g = b->boxes + b->first[i];
            det_lb_unmap(&b->lb[i], b->img_w[i], b->img_h[i], g, ng);
            for (int j = 0; j < ng && !fail; j++) {
                eval_ann a = {.id = gt_id++,
                              .image_id = id,
                              .category_id = g[j].cls + 1,
                              .has_bbox = true,
                              .bbox = {g[j].x, g[j].y, g[j].w, g[j].h},
                              .area = (double)g[j].w * g[j].h};
                fail = eval_coco_add_gt(ev, &a, e);
            }
            det_box *d;
            int nd;
            if (!fail &&
                (fail = postprocess(&h, y, i, conf, iou, max_det, false, &d, &nd, e)) == 0) {
                det_lb_unmap(&b->lb[i], b->img_w[i], b->img_h[i], d, nd);
                for (int j = 0; j < nd && !fail; j++) {
                    eval_ann a = {.image_id = id,
                                  .category_id = d[j].cls + 1,
                                  .score = d[j].score,
                                  .has_bbox = true,
                                  .bbox = {d[j].x, d[j].y, d[j].w, d[j].h}};
                    fail = eval_coco_add_dt(ev, &a, e);
                }
                free(d);
            }
        }
        det_loader_release(l, b);
        if (fail) goto out;
    }
    if (r < 0 || eval_coco_run(ev, NULL, e) < 0) goto out;
    int ns;
    const double *st = eval_coco_stats(ev, &ns);
    out->map = st[0];
    out->map50 = st[1];
    out->map75 = st[2];
    out->ar100 = st[8];
    out->images = (int)eval_coco_num_images(ev);
    rc = 0;
out:
    det_loader_free(l);
    if (rc == 0 && eval_out)
        *eval_out = ev;
    else
        eval_coco_free(ev);
    return rc;
}

int det_evaluate(nn_model *m, det_fetch_fn fetch, void *ud, int64_t count, int batch, float conf,
                 float iou, int max_det, int size, int workers, det_metrics *out,
                 eval_coco **eval_out, err *e)
{
    nn_session *s = nn_session_new(m, e);
    if (!s) return -1;
    int rc = det_eval_session(s, m, fetch, ud, count, batch, conf, iou, max_det, size, workers,
                              out, eval_out, e);
    nn_session_free(s);
    return rc;
}
