#!/usr/bin/python3
"""Reference measurements for bench/detect.sh: the detector's network in
PyTorch 1.13 (Debian python3-torch, CPU), built from the same architecture
JSON `cvops detect arch` prints, timed the way `cvops detect bench` times
ours.

  cvops detect arch --size nano --classes 8 > det.json
  det_torch.py det.json --batch 16 --steps 10 --infer-runs 30 --threads 2

Training step: forward, a loss on the head output, backward, AdamW step.
Our step runs the detector's loss (task-aligned assignment, CIoU, BCE); the
one here is BCE on the class channels plus L1 on the box channels, whose
cost is of the same order (a few ms); `cvops detect bench` prints its loss
time separately so the two can be compared without it. Inference: batch 1,
forward only (no letterbox, decoding or NMS: ours includes them).
Prints one JSON object.
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Graph(nn.Module):
    """A cvops-nn/1 architecture: the ops the detector uses."""

    def __init__(self, arch):
        super().__init__()
        inp = arch["input"]
        chans = {"input": inp["channels"]}
        self.order, self.mods = [], nn.ModuleDict()
        prev = "input"
        for nd in arch["nodes"]:
            name, op = nd["name"], nd["op"]
            ins = nd.get("inputs") or [nd.get("input", prev)]
            c = chans[ins[0]]
            key = name.replace(".", "_")
            m = None
            if op == "conv":
                k, s = nd.get("kernel", 3), nd.get("stride", 1)
                m = nn.Conv2d(c, nd["out"], k, s, nd.get("pad", (k - 1) // 2),
                              groups=nd.get("groups", 1), bias=nd.get("bias", True))
                c = nd["out"]
            elif op == "bn":
                m = nn.BatchNorm2d(c, eps=nd.get("eps", 1e-5), momentum=nd.get("momentum", 0.1))
            elif op == "silu":
                m = nn.SiLU()
            elif op == "relu":
                m = nn.ReLU()
            elif op == "leaky_relu":
                m = nn.LeakyReLU(nd.get("alpha", 0.01))
            elif op == "maxpool":
                k = nd.get("kernel", 2)
                m = nn.MaxPool2d(k, nd.get("stride", k), nd.get("pad", 0))
            elif op == "upsample":
                m = nn.Upsample(scale_factor=nd.get("scale", 2), mode="nearest")
            elif op == "concat":
                c = sum(chans[i] for i in ins)
            elif op != "add":
                raise SystemExit("det_torch.py: op %s not supported here" % op)
            if m is not None:
                self.mods[key] = m
            self.order.append((name, key, op, ins))
            chans[name] = c
            prev = name

    def forward(self, x):
        vals = {"input": x}
        y = x
        for name, key, op, ins in self.order:
            if op == "add":
                y = vals[ins[0]]
                for i in ins[1:]:
                    y = y + vals[i]
            elif op == "concat":
                y = torch.cat([vals[i] for i in ins], 1)
            else:
                y = self.mods[key](vals[ins[0]])
            vals[name] = y
        return y


def median_times(fn, warm, runs):
    """(median wall seconds, median process CPU seconds) per call"""
    ts, cs = [], []
    for i in range(warm + runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        if i >= warm:
            ts.append(time.perf_counter() - t)
            cs.append(time.process_time() - c)
    return statistics.median(ts), statistics.median(cs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("arch")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--infer-runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    with open(a.arch) as f:
        arch = json.load(f)
    model = Graph(arch)
    inp = arch["input"]
    H, W = inp["height"], inp["width"]
    x = torch.rand(a.batch, 3, H, W)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
    model.train()
    y0 = model(x).detach()
    per = y0.shape[1] // 3  # 4 box + K class channels per level
    cls_mask = torch.zeros(y0.shape[1], dtype=torch.bool)
    for lv in range(3):
        cls_mask[lv * per + 4:(lv + 1) * per] = True
    target = torch.zeros_like(y0)

    def step():
        opt.zero_grad(set_to_none=True)
        y = model(x)
        loss = F.binary_cross_entropy_with_logits(y[:, cls_mask], target[:, cls_mask]) + \
            (y[:, ~cls_mask] - target[:, ~cls_mask]).abs().mean()
        loss.backward()
        opt.step()

    ts, tsc = median_times(step, 3, a.steps)
    model.eval()
    x1 = torch.rand(1, 3, H, W)
    with torch.no_grad():
        ti, tic = median_times(lambda: model(x1), 3, a.infer_runs)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(),
           "params": sum(p.numel() for p in model.parameters()),
           "train_step_ms": ts * 1e3, "train_img_s": a.batch / ts, "train_cpu_ms": tsc * 1e3,
           "infer_ms": ti * 1e3, "infer_cpu_ms": tic * 1e3,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
