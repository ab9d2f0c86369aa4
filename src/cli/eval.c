/*
 * eval.c - `cvops eval`: scores predictions against ground truth locally,
 * without a server (the evaluation engine in src/eval/).
 *
 *   cvops eval coco --gt GT.json --dt DT.json --iou bbox|segm|keypoints [--json]
 *   cvops eval classification --gt GT --pred PRED [--json]
 *
 * The coco summary is the reference's 12 (10) lines, byte for byte; --json
 * gives {"stats": [...], "per_category": {...}, "seconds": ...}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/buf.h"
#include "base/util.h"
#include "cli/cli.h"
#include "eval/cls.h"
#include "eval/coco_io.h"
#include "eval/eval.h"

/* CPU seconds used by the process so far (all threads): on a shared
 * machine a fairer measure of the work than the wall clock. */
static double cpu_seconds(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int print_err(const err *e)
{
    fprintf(stderr, "error: %s\n", e->msg);
    return e->code == ERR_NOT_FOUND ? EXIT_NOTFOUND : EXIT_FAIL;
}

static void put_json(sbuf *b)
{
    sbuf_putc(b, '\n');
    fwrite(b->p, 1, b->len, stdout);
}

static int eval_coco_cmd(int argc, char **argv)
{
    const char *gt = NULL, *dt = NULL, *iou = "bbox";
    bool json = false, detail = false, ignore_unknown = false, matches = false;
    int64_t threads = 0;
    double iou_thr = 0.5, score_thr = 0.5;
    cli_opt opts[] = {
        {"gt", 0, OPT_STR, &gt, "FILE", "COCO ground-truth JSON"},
        {"dt", 0, OPT_STR, &dt, "FILE", "results JSON: an array of detections"},
        {"iou", 0, OPT_STR, &iou, "TYPE", "bbox (default), segm or keypoints"},
        {"json", 0, OPT_FLAG, &json, NULL, "print JSON instead of the summary"},
        {"detail", 0, OPT_FLAG, &detail, NULL,
         "add the error breakdown (and with --json the confusion matrix)"},
        {"matches", 0, OPT_FLAG, &matches, NULL,
         "with --json --detail: every image's matches (TP/FP/ignored/FN)"},
        {"iou-thr", 0, OPT_DBL, &iou_thr, "X", "IoU threshold of --detail (default 0.5)"},
        {"score-thr", 0, OPT_DBL, &score_thr, "X", "score threshold of --detail (default 0.5)"},
        {"ignore-unknown-categories", 0, OPT_FLAG, &ignore_unknown, NULL,
         "drop detections of categories not in the ground truth (default: error)"},
        {"threads", 0, OPT_INT, &threads, "N", "worker threads (default: all cores)"},
        {0},
    };
    int n = cli_parse(argc, argv, opts, "cvops eval coco --gt GT.json --dt DT.json [--iou TYPE]",
                      "COCO detection metrics (the pycocotools COCOeval numbers), computed "
                      "locally.");
    if (n < 0) return n == -2 ? EXIT_OK : EXIT_USAGE;
    if (!gt || !dt) {
        fprintf(stderr, "error: --gt and --dt are required; see --help\n");
        return EXIT_USAGE;
    }
    eval_iou_type type;
    if (eval_iou_type_parse(iou, &type)) {
        fprintf(stderr, "error: --iou must be bbox, segm or keypoints, got '%s'\n", iou);
        return EXIT_USAGE;
    }
    if (threads < 0 || threads > 1024) {
        fprintf(stderr, "error: --threads must be between 0 and 1024\n");
        return EXIT_USAGE;
    }
#ifdef _OPENMP
    if (threads > 0) /* also bounds the parallel results reader */
        omp_set_num_threads((int)threads);
#endif
    err e;
    err_clear(&e);
    eval_coco *ev = eval_coco_new(type);
    if (!ev) {
        fprintf(stderr, "error: out of memory\n");
        return EXIT_FAIL;
    }
    eval_coco_ignore_unknown_categories(ev, ignore_unknown);
    int rc = EXIT_OK;
    int64_t t0 = time_mono_ns();
    double c0 = cpu_seconds();
    if (eval_coco_load_gt_file(ev, gt, &e) || eval_coco_load_dt_file(ev, dt, &e)) {
        rc = print_err(&e);
        goto out;
    }
    int64_t t1 = time_mono_ns();
    double c1 = cpu_seconds();
    eval_params p;
    eval_params_init(&p, type);
    p.threads = (int)threads;
    if (eval_coco_run(ev, &p, &e)) {
        rc = print_err(&e);
        goto out;
    }
    int64_t t2 = time_mono_ns();
    double c2 = cpu_seconds();
    sbuf b = SBUF_INIT;
    if (json) {
        jw w;
        jw_init(&w, &b);
        jw_obj(&w);
        eval_coco_write_json(ev, &w);
        if (detail) {
            eval_detail_opts o;
            eval_detail_opts_init(&o);
            o.iou_thr = iou_thr;
            o.score_thr = score_thr;
            eval_detail d;
            if (eval_coco_detail(ev, &o, &d, &e)) {
                sbuf_free(&b);
                rc = print_err(&e);
                goto out;
            }
            jw_key(&w, "detail");
            eval_detail_write_json(ev, &d, &o, matches, &w);
            eval_detail_free(&d);
        }
        jw_kdbl(&w, "seconds", (double)(time_mono_ns() - t0) / 1e9);
        jw_kdbl(&w, "seconds_read", (double)(t1 - t0) / 1e9);
        jw_kdbl(&w, "seconds_eval", (double)(t2 - t1) / 1e9);
        jw_kdbl(&w, "cpu_seconds_read", c1 - c0);
        jw_kdbl(&w, "cpu_seconds_eval", c2 - c1);
        double ph[4];
        eval_coco_timings(ev, ph);
        jw_key(&w, "seconds_phases");
        jw_obj(&w);
        jw_kdbl(&w, "resolve", ph[0]);
        jw_kdbl(&w, "evaluate", ph[1]);
        jw_kdbl(&w, "accumulate", ph[2]);
        jw_kdbl(&w, "summarize", ph[3]);
        jw_obj_end(&w);
        jw_obj_end(&w);
        put_json(&b);
    } else {
        eval_coco_summary_text(ev, &b);
        if (detail) {
            eval_detail_opts o;
            eval_detail_opts_init(&o);
            o.iou_thr = iou_thr;
            o.score_thr = score_thr;
            eval_detail d;
            if (eval_coco_detail(ev, &o, &d, &e)) {
                sbuf_free(&b);
                rc = print_err(&e);
                goto out;
            }
            sbuf_printf(&b,
                        "\nDetections at IoU %.2f, score >= %.2f: %llu true positives; errors: "
                        "%llu classification, %llu localization, %llu both, %llu duplicate, "
                        "%llu background, %llu missed\n",
                        o.iou_thr, o.score_thr, (unsigned long long)d.tp, (unsigned long long)d.cls,
                        (unsigned long long)d.loc, (unsigned long long)d.both,
                        (unsigned long long)d.dupe, (unsigned long long)d.bkg,
                        (unsigned long long)d.missed);
            eval_detail_free(&d);
        }
        fwrite(b.p, 1, b.len, stdout);
    }
    sbuf_free(&b);
out:
    eval_coco_free(ev);
    return rc;
}

static int eval_cls_cmd(int argc, char **argv)
{
    const char *gt = NULL, *pred = NULL;
    bool json = false;
    int64_t topk = 5, bins = 15;
    cli_opt opts[] = {
        {"gt", 0, OPT_STR, &gt, "FILE", "ground truth: CSV id,label or JSON"},
        {"pred", 0, OPT_STR, &pred, "FILE", "predictions: CSV id,label or id,scores... or JSON"},
        {"json", 0, OPT_FLAG, &json, NULL, "print JSON instead of a table"},
        {"top-k", 0, OPT_INT, &topk, "K", "k of top-k accuracy (default 5)"},
        {"bins", 0, OPT_INT, &bins, "N", "calibration bins (default 15)"},
        {0},
    };
    int n = cli_parse(argc, argv, opts, "cvops eval classification --gt GT --pred PRED",
                      "Classification metrics: accuracy, top-k, per-class precision/recall/F1, "
                      "averages, confusion matrix, calibration error, ROC AUC and AP.\n"
                      "Input formats are described in docs/eval.md.");
    if (n < 0) return n == -2 ? EXIT_OK : EXIT_USAGE;
    if (!gt || !pred) {
        fprintf(stderr, "error: --gt and --pred are required; see --help\n");
        return EXIT_USAGE;
    }
    if (topk < 1 || topk > 1000 || bins < 1 || bins > 10000) {
        fprintf(stderr, "error: --top-k must be 1..1000 and --bins 1..10000\n");
        return EXIT_USAGE;
    }
    err e;
    err_clear(&e);
    int64_t t0 = time_mono_ns();
    eval_cls *c = eval_cls_new();
    if (!c) {
        fprintf(stderr, "error: out of memory\n");
        return EXIT_FAIL;
    }
    int rc = EXIT_OK;
    eval_cls_opts o;
    eval_cls_opts_init(&o);
    o.top_k = (int)topk;
    o.ece_bins = (int)bins;
    eval_cls_result r;
    if (eval_cls_load_files(c, gt, pred, &e) || eval_cls_compute(c, &o, &r, &e)) {
        rc = print_err(&e);
        goto out;
    }
    sbuf b = SBUF_INIT;
    if (json) {
        jw w;
        jw_init(&w, &b);
        jw_obj(&w);
        eval_cls_write_json(c, &r, &w);
        jw_kdbl(&w, "seconds", (double)(time_mono_ns() - t0) / 1e9);
        jw_obj_end(&w);
        put_json(&b);
    } else {
        eval_cls_write_text(c, &r, &b);
        fwrite(b.p, 1, b.len, stdout);
    }
    sbuf_free(&b);
    eval_cls_result_free(&r);
out:
    eval_cls_free(c);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    static const cli_cmd sub[] = {
        {"coco", eval_coco_cmd, "COCO detection metrics (bbox, segm, keypoints)"},
        {"classification", eval_cls_cmd, "classification metrics"},
        {NULL, NULL, NULL},
    };
    return cli_dispatch("cvops eval", argc, argv, sub);
}
