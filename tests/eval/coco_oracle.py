#!/usr/bin/python3
"""
coco_oracle.py - an independent numpy re-implementation of the reference
COCOeval (pycocotools) evaluate/accumulate/summarize for bbox and keypoints,
used as a cross-check oracle for src/eval (pycocotools itself is not
packaged by Debian). It follows the reference's structure and array
operations on purpose (per-image dicts, np.argsort(kind='mergesort'),
np.cumsum, np.searchsorted, np.mean), so it also serves as the speed
reference of bench/eval.sh: its cost profile is the reference's.

usage: coco_oracle.py GT.json DT.json bbox|keypoints OUT.json
OUT.json: {"stats": [...], "precision": [...flattened T,R,K,A,M...],
           "recall": [...], "scores": [...], "counts": [T,R,K,A,M],
           "seconds": evaluate+accumulate time}
"""
import json
import sys
import time
from collections import defaultdict

import numpy as np


def load(gt_path, dt_path):
    with open(gt_path) as f:
        gt = json.load(f)
    with open(dt_path) as f:
        dts = json.load(f)
    imgs = {im["id"]: im for im in gt["images"]}
    cats = sorted(c["id"] for c in gt["categories"])
    anns = gt["annotations"]
    assert isinstance(dts, list)
    # loadRes
    if dts and "bbox" in dts[0] and dts[0]["bbox"] != []:
        for i, d in enumerate(dts):
            bb = d["bbox"]
            d["area"] = bb[2] * bb[3]
            d["id"] = i + 1
            d["iscrowd"] = 0
    elif dts and "keypoints" in dts[0]:
        for i, d in enumerate(dts):
            s = d["keypoints"]
            x = s[0::3]
            y = s[1::3]
            x0, x1, y0, y1 = np.min(x), np.max(x), np.min(y), np.max(y)
            d["area"] = (x1 - x0) * (y1 - y0)
            d["id"] = i + 1
            d["bbox"] = [x0, y0, x1 - x0, y1 - y0]
    return imgs, cats, anns, dts


def bbox_iou(d, g, iscrowd):
    # maskUtils.iou for boxes: [D, G]
    if len(d) == 0 or len(g) == 0:
        return []
    d = np.asarray(d, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    out = np.zeros((len(d), len(g)))
    for j in range(len(g)):
        G = g[j]
        ga = G[2] * G[3]
        for i in range(len(d)):
            D = d[i]
            da = D[2] * D[3]
            w = min(D[2] + D[0], G[2] + G[0]) - max(D[0], G[0])
            if w <= 0:
                continue
            h = min(D[3] + D[1], G[3] + G[1]) - max(D[1], G[1])
            if h <= 0:
                continue
            inter = w * h
            u = da if iscrowd[j] else da + ga - inter
            out[i, j] = inter / u
    return out


SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87,
                   .87, .89, .89]) / 10.0


class Eval:
    def __init__(self, imgs, cats, anns, dts, iou_type):
        self.iou_type = iou_type
        self.img_ids = sorted(imgs)
        self.cat_ids = cats
        self.iou_thrs = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
        self.rec_thrs = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
        if iou_type == "keypoints":
            self.max_dets = [20]
            self.area_rng = [[0 ** 2, 1e5 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]
            self.area_lbl = ["all", "medium", "large"]
        else:
            self.max_dets = [1, 10, 100]
            self.area_rng = [[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2],
                             [96 ** 2, 1e5 ** 2]]
            self.area_lbl = ["all", "small", "medium", "large"]
        catset = set(cats)
        self.gts = defaultdict(list)
        self.dts = defaultdict(list)
        # getAnnIds order: images in id order, annotations in file order
        by_img_g = defaultdict(list)
        by_img_d = defaultdict(list)
        for g in anns:
            by_img_g[g["image_id"]].append(g)
        for d in dts:
            by_img_d[d["image_id"]].append(d)
        for i in self.img_ids:
            for g in by_img_g[i]:
                if g["category_id"] in catset:
                    g["ignore"] = "iscrowd" in g and g["iscrowd"]
                    if iou_type == "keypoints":
                        g["ignore"] = (g["num_keypoints"] == 0) or g["ignore"]
                    self.gts[i, g["category_id"]].append(g)
            for d in by_img_d[i]:
                if d["category_id"] in catset:
                    self.dts[i, d["category_id"]].append(d)

    def compute_iou(self, i, c):
        gt = self.gts[i, c]
        dt = self.dts[i, c]
        if len(gt) == 0 and len(dt) == 0:
            return []
        inds = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[k] for k in inds]
        if len(dt) > self.max_dets[-1]:
            dt = dt[0:self.max_dets[-1]]
        return bbox_iou([d["bbox"] for d in dt], [g["bbox"] for g in gt],
                        [int(o["iscrowd"]) for o in gt])

    def compute_oks(self, i, c):
        gts = self.gts[i, c]
        dts = self.dts[i, c]
        inds = np.argsort([-d["score"] for d in dts], kind="mergesort")
        dts = [dts[k] for k in inds]
        if len(dts) > self.max_dets[-1]:
            dts = dts[0:self.max_dets[-1]]
        if len(gts) == 0 or len(dts) == 0:
            return []
        ious = np.zeros((len(dts), len(gts)))
        vars_ = (SIGMAS * 2) ** 2
        k = len(SIGMAS)
        for j, gt in enumerate(gts):
            g = np.array(gt["keypoints"])
            xg = g[0::3]
            yg = g[1::3]
            vg = g[2::3]
            k1 = np.count_nonzero(vg > 0)
            bb = gt["bbox"]
            x0 = bb[0] - bb[2]
            x1 = bb[0] + bb[2] * 2
            y0 = bb[1] - bb[3]
            y1 = bb[1] + bb[3] * 2
            for n, dt in enumerate(dts):
                d = np.array(dt["keypoints"])
                xd = d[0::3]
                yd = d[1::3]
                if k1 > 0:
                    dx = xd - xg
                    dy = yd - yg
                else:
                    z = np.zeros((k))
                    dx = np.max((z, x0 - xd), axis=0) + np.max((z, xd - x1), axis=0)
                    dy = np.max((z, y0 - yd), axis=0) + np.max((z, yd - y1), axis=0)
                e = (dx ** 2 + dy ** 2) / vars_ / (gt["area"] + np.spacing(1)) / 2
                if k1 > 0:
                    e = e[vg > 0]
                ious[n, j] = np.sum(np.exp(-e)) / e.shape[0]
        return ious

    def evaluate_img(self, i, c, a_rng, max_det):
        gt = self.gts[i, c]
        dt = self.dts[i, c]
        if len(gt) == 0 and len(dt) == 0:
            return None
        for g in gt:
            if g["ignore"] or (g["area"] < a_rng[0] or g["area"] > a_rng[1]):
                g["_ignore"] = 1
            else:
                g["_ignore"] = 0
        gtind = np.argsort([g["_ignore"] for g in gt], kind="mergesort")
        gt = [gt[k] for k in gtind]
        dtind = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[k] for k in dtind[0:max_det]]
        iscrowd = [int(o["iscrowd"]) for o in gt]
        ious = self.ious[i, c][:, gtind] if len(self.ious[i, c]) > 0 else self.ious[i, c]
        T = len(self.iou_thrs)
        G = len(gt)
        D = len(dt)
        gtm = np.zeros((T, G))
        dtm = np.zeros((T, D))
        gt_ig = np.array([g["_ignore"] for g in gt])
        dt_ig = np.zeros((T, D))
        if not len(ious) == 0:
            for tind, t in enumerate(self.iou_thrs):
                for dind, d in enumerate(dt):
                    iou = min([t, 1 - 1e-10])
                    m = -1
                    for gind, g in enumerate(gt):
                        if gtm[tind, gind] > 0 and not iscrowd[gind]:
                            continue
                        if m > -1 and gt_ig[m] == 0 and gt_ig[gind] == 1:
                            break
                        if ious[dind, gind] < iou:
                            continue
                        iou = ious[dind, gind]
                        m = gind
                    if m == -1:
                        continue
                    dt_ig[tind, dind] = gt_ig[m]
                    dtm[tind, dind] = gt[m]["id"]
                    gtm[tind, m] = d["id"]
        a = np.array([d["area"] < a_rng[0] or d["area"] > a_rng[1] for d in dt]).reshape((1, len(dt)))
        dt_ig = np.logical_or(dt_ig, np.logical_and(dtm == 0, np.repeat(a, T, 0)))
        return {"dtMatches": dtm, "dtScores": [d["score"] for d in dt], "gtIgnore": gt_ig,
                "dtIgnore": dt_ig}

    def evaluate(self):
        f = self.compute_oks if self.iou_type == "keypoints" else self.compute_iou
        self.ious = {(i, c): f(i, c) for i in self.img_ids for c in self.cat_ids}
        max_det = self.max_dets[-1]
        self.eval_imgs = [self.evaluate_img(i, c, a, max_det)
                          for c in self.cat_ids for a in self.area_rng for i in self.img_ids]

    def accumulate(self):
        T = len(self.iou_thrs)
        R = len(self.rec_thrs)
        K = len(self.cat_ids)
        A = len(self.area_rng)
        M = len(self.max_dets)
        precision = -np.ones((T, R, K, A, M))
        recall = -np.ones((T, K, A, M))
        scores = -np.ones((T, R, K, A, M))
        I0 = len(self.img_ids)
        A0 = A
        for k in range(K):
            Nk = k * A0 * I0
            for a in range(A):
                Na = a * I0
                for m, max_det in enumerate(self.max_dets):
                    E = [self.eval_imgs[Nk + Na + i] for i in range(I0)]
                    E = [e for e in E if e is not None]
                    if len(E) == 0:
                        continue
                    dt_scores = np.concatenate([e["dtScores"][0:max_det] for e in E])
                    inds = np.argsort(-dt_scores, kind="mergesort")
                    dt_scores_sorted = dt_scores[inds]
                    dtm = np.concatenate([e["dtMatches"][:, 0:max_det] for e in E], axis=1)[:, inds]
                    dt_ig = np.concatenate([e["dtIgnore"][:, 0:max_det] for e in E], axis=1)[:, inds]
                    gt_ig = np.concatenate([e["gtIgnore"] for e in E])
                    npig = np.count_nonzero(gt_ig == 0)
                    if npig == 0:
                        continue
                    tps = np.logical_and(dtm, np.logical_not(dt_ig))
                    fps = np.logical_and(np.logical_not(dtm), np.logical_not(dt_ig))
                    tp_sum = np.cumsum(tps, axis=1).astype(dtype=np.float64)
                    fp_sum = np.cumsum(fps, axis=1).astype(dtype=np.float64)
                    for t, (tp, fp) in enumerate(zip(tp_sum, fp_sum)):
                        tp = np.array(tp)
                        fp = np.array(fp)
                        nd = len(tp)
                        rc = tp / npig
                        pr = tp / (fp + tp + np.spacing(1))
                        q = np.zeros((R,))
                        ss = np.zeros((R,))
                        recall[t, k, a, m] = rc[-1] if nd else 0
                        pr = pr.tolist()
                        q = q.tolist()
                        for i in range(nd - 1, 0, -1):
                            if pr[i] > pr[i - 1]:
                                pr[i - 1] = pr[i]
                        inds = np.searchsorted(rc, self.rec_thrs, side="left")
                        try:
                            for ri, pi in enumerate(inds):
                                q[ri] = pr[pi]
                                ss[ri] = dt_scores_sorted[pi]
                        except IndexError:
                            pass
                        precision[t, :, k, a, m] = np.array(q)
                        scores[t, :, k, a, m] = np.array(ss)
        self.precision, self.recall, self.scores = precision, recall, scores

    def summarize_one(self, ap, iou_thr=None, area="all", max_dets=100):
        aind = [i for i, a in enumerate(self.area_lbl) if a == area]
        mind = [i for i, m in enumerate(self.max_dets) if m == max_dets]
        if ap:
            s = self.precision
            if iou_thr is not None:
                t = np.where(iou_thr == self.iou_thrs)[0]
                s = s[t]
            s = s[:, :, :, aind, mind]
        else:
            s = self.recall
            if iou_thr is not None:
                t = np.where(iou_thr == self.iou_thrs)[0]
                s = s[t]
            s = s[:, :, aind, mind]
        if len(s[s > -1]) == 0:
            return -1.0
        return float(np.mean(s[s > -1]))

    def summarize(self):
        S = self.summarize_one
        if self.iou_type == "keypoints":
            return [S(1, max_dets=20), S(1, max_dets=20, iou_thr=.5), S(1, max_dets=20, iou_thr=.75),
                    S(1, max_dets=20, area="medium"), S(1, max_dets=20, area="large"),
                    S(0, max_dets=20), S(0, max_dets=20, iou_thr=.5), S(0, max_dets=20, iou_thr=.75),
                    S(0, max_dets=20, area="medium"), S(0, max_dets=20, area="large")]
        md = self.max_dets
        return [S(1), S(1, iou_thr=.5, max_dets=md[2]), S(1, iou_thr=.75, max_dets=md[2]),
                S(1, area="small", max_dets=md[2]), S(1, area="medium", max_dets=md[2]),
                S(1, area="large", max_dets=md[2]), S(0, max_dets=md[0]), S(0, max_dets=md[1]),
                S(0, max_dets=md[2]), S(0, area="small", max_dets=md[2]),
                S(0, area="medium", max_dets=md[2]), S(0, area="large", max_dets=md[2])]


def main():
    gt_path, dt_path, iou_type, out_path = sys.argv[1:5]
    imgs, cats, anns, dts = load(gt_path, dt_path)
    t0 = time.perf_counter()
    ev = Eval(imgs, cats, anns, dts, iou_type)
    ev.evaluate()
    ev.accumulate()
    stats = ev.summarize()
    secs = time.perf_counter() - t0
    out = {"stats": stats, "seconds": secs,
           "counts": list(ev.precision.shape),
           "precision": ev.precision.ravel().tolist(),
           "recall": ev.recall.ravel().tolist(),
           "scores": ev.scores.ravel().tolist()}
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
