#!/usr/bin/python3
"""
gen_coco.py - deterministic synthetic COCO ground truth + results, for the
cross-check test (tests/unit/test_eval_oracle.c) and the benchmark
(bench/eval.sh). Standard library only.

usage: gen_coco.py [--seed S] [--images N] [--cats K] [--gt-per-image G]
                   [--dets-per-image D] [--kind bbox|segm|keypoints]
                   [--score-decimals P] OUTDIR
writes OUTDIR/gt.json and OUTDIR/dt.json

What it exercises: image and category ids non-contiguous and listed out of
order; boxes of all three area ranges; ground-truth areas that differ from
w*h (as real mask areas do); ~4% crowd regions; detections that are jittered
copies of ground truths (some of another category, some duplicated) plus
background false positives; scores rounded to P decimals so that ties
happen within and across images; images without ground truth.
"""
import argparse
import json
import random


def rle_string(counts):
    """COCO compressed RLE string of a count list."""
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def rect_counts(h, w, x0, y0, x1, y1):
    """Column-major RLE counts of the pixel rectangle [x0,x1) x [y0,y1)."""
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return [h * w]
    counts = []
    pos = 0  # next pixel index not yet described
    for x in range(x0, x1):
        start = x * h + y0
        counts.append(start - pos)
        counts.append(y1 - y0)
        pos = x * h + y1
    counts.append(h * w - pos)
    # merge zero-length background runs between columns (full-height rects)
    merged = [counts[0]]
    i = 1
    while i < len(counts):
        if i + 1 < len(counts) and counts[i + 1] == 0 and i + 2 < len(counts):
            counts[i + 2] += counts[i]
            i += 2
            continue
        merged.append(counts[i])
        i += 1
    return merged


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--images", type=int, default=50)
    ap.add_argument("--cats", type=int, default=5)
    ap.add_argument("--gt-per-image", type=float, default=7.0)
    ap.add_argument("--dets-per-image", type=int, default=20)
    ap.add_argument("--kind", default="bbox")
    ap.add_argument("--score-decimals", type=int, default=2)
    ap.add_argument("outdir")
    a = ap.parse_args()
    rnd = random.Random(a.seed)

    img_ids = rnd.sample(range(1, a.images * 20 + 10), a.images)
    cat_ids = rnd.sample(range(1, a.cats * 3 + 5), a.cats)
    if a.kind == "keypoints":
        cat_ids = [1]
    images = []
    for i in img_ids:
        images.append({"id": i, "width": rnd.randint(160, 640), "height": rnd.randint(120, 480),
                       "file_name": "%d.jpg" % i})
    rnd.shuffle(images)
    cats = [{"id": c, "name": "c%d" % c, "supercategory": "x"} for c in cat_ids]
    rnd.shuffle(cats)

    anns = []
    dts = []
    ann_id = 1

    def rand_box(im):
        W, H = im["width"], im["height"]
        s = rnd.choice([rnd.uniform(4, 30), rnd.uniform(30, 95), rnd.uniform(95, 300)])
        ar = rnd.uniform(0.5, 2.0)
        w = min(W - 1, max(1.0, s * ar ** 0.5))
        h = min(H - 1, max(1.0, s / ar ** 0.5))
        x = rnd.uniform(0, W - w)
        y = rnd.uniform(0, H - h)
        return [round(x, 2), round(y, 2), round(w, 2), round(h, 2)]

    def score(good):
        # true detections tend to score higher, so AP is far from 0 and 1
        x = 0.35 + 0.65 * rnd.random() if good else 0.8 * rnd.random()
        return round(x, a.score_decimals)

    def keypoints(box, vis_p):
        kp = []
        for _ in range(17):
            v = 2 if rnd.random() < vis_p else 0
            x = round(box[0] + rnd.random() * box[2], 2) if v else 0
            y = round(box[1] + rnd.random() * box[3], 2) if v else 0
            kp += [x, y, v]
        return kp

    for im in images:
        W, H = im["width"], im["height"]
        ng = 0 if rnd.random() < 0.1 else rnd.randint(0, int(2 * a.gt_per_image))
        gts = []
        for _ in range(ng):
            box = rand_box(im)
            g = {"id": ann_id, "image_id": im["id"], "category_id": rnd.choice(cat_ids),
                 "bbox": box, "iscrowd": 1 if rnd.random() < 0.04 else 0}
            ann_id += 1
            g["area"] = round(box[2] * box[3] * rnd.uniform(0.6, 1.0), 2)
            if a.kind == "segm":
                x, y, w, h = box
                if g["iscrowd"]:
                    c = rect_counts(H, W, int(x), int(y), int(x + w) + 1, int(y + h) + 1)
                    g["segmentation"] = {"counts": c, "size": [H, W]}
                else:
                    g["segmentation"] = [[x, y, x + w, y + h * 0.3, x + w * 0.8, y + h,
                                          x, y + h]]
            if a.kind == "keypoints":
                g["keypoints"] = keypoints(box, 0.0 if rnd.random() < 0.1 else 0.7)
                g["num_keypoints"] = sum(1 for v in g["keypoints"][2::3] if v > 0)
            anns.append(g)
            gts.append(g)
        budget = a.dets_per_image
        out = []
        for g in gts:
            if len(out) >= budget:
                break
            if rnd.random() < 0.8:
                x, y, w, h = g["bbox"]
                j = rnd.uniform(0.0, 0.15)
                box = [round(x + rnd.uniform(-j, j) * w, 2), round(y + rnd.uniform(-j, j) * h, 2),
                       round(w * rnd.uniform(1 - j, 1 + j), 2), round(h * rnd.uniform(1 - j, 1 + j), 2)]
                cat = g["category_id"] if rnd.random() < 0.9 else rnd.choice(cat_ids)
                out.append((cat, box, g))
                if rnd.random() < 0.1:
                    out.append((cat, [box[0] + 1, box[1], box[2], box[3]], g))
        while len(out) < budget:
            out.append((rnd.choice(cat_ids), rand_box(im), None))
        for cat, box, g in out[:budget]:
            d = {"image_id": im["id"], "category_id": cat,
                 "score": score(g is not None and g["category_id"] == cat)}
            if a.kind == "bbox":
                d["bbox"] = box
            elif a.kind == "segm":
                x, y, w, h = box
                d["segmentation"] = {"size": [H, W],
                                     "counts": rle_string(rect_counts(H, W, int(x), int(y),
                                                                      int(x + w) + 1,
                                                                      int(y + h) + 1))}
            else:
                if g is not None and "keypoints" in g and g["num_keypoints"] > 0:
                    kp = []
                    gk = g["keypoints"]
                    for k in range(17):
                        kp += [round(gk[3 * k] + rnd.gauss(0, 3), 2),
                               round(gk[3 * k + 1] + rnd.gauss(0, 3), 2), 1]
                    d["keypoints"] = kp
                else:
                    d["keypoints"] = keypoints(box, 1.0)
            dts.append(d)
    rnd.shuffle(anns)
    rnd.shuffle(dts)
    gt = {"info": {"description": "synthetic"}, "licenses": [], "images": images,
          "annotations": anns, "categories": cats}
    with open(a.outdir + "/gt.json", "w") as f:
        json.dump(gt, f, separators=(",", ":"))
    with open(a.outdir + "/dt.json", "w") as f:
        json.dump(dts, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
