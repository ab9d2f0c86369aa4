#!/usr/bin/python3
"""Reference measurements for bench/nn.sh: the same networks in PyTorch 1.13
(Debian python3-torch, CPU), timed the way `cvops nn bench` times ours.

  nn_torch.py resnet  --size 64 --batch 64 --steps 10 --infer-size 224 --infer-runs 30
  nn_torch.py fmnist  --arch bench/fmnist_cnn.json --batch 128 --steps 30

Both print one JSON object. The ResNet is written out here as torchvision's
resnet18 (BasicBlock, [2,2,2,2], 7x7/2 stem + max pool); the fmnist network
is built from our own architecture JSON, so both sides run the same graph.
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


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class ResNet18(nn.Module):
    def __init__(self, cin=3, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(cin, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        layers, c = [], 64
        for i, w in enumerate([64, 128, 256, 512]):
            for j in range(2):
                layers.append(Block(c, w, 2 if (i > 0 and j == 0) else 1))
                c = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Graph(nn.Module):
    """A cvops-nn/1 architecture (the subset the benchmarks use)."""

    def __init__(self, arch):
        super().__init__()
        inp = arch["input"]
        shapes = {"input": (inp["channels"], inp["height"], inp["width"])}
        self.order, self.mods = [], nn.ModuleDict()
        prev = "input"
        for nd in arch["nodes"]:
            name, op = nd["name"], nd["op"]
            ins = nd.get("inputs") or [nd.get("input", prev)]
            c, h, w = shapes[ins[0]]
            k = nd.get("kernel", 3 if op == "conv" else 2)
            if op == "conv":
                pad, s = nd.get("pad", (k - 1) // 2), nd.get("stride", 1)
                m = nn.Conv2d(c, nd["out"], k, s, pad,
                              groups=nd.get("groups", 1), bias=nd.get("bias", True))
                c, h, w = nd["out"], (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
            elif op == "bn":
                m = nn.BatchNorm2d(c)
            elif op == "relu":
                m = nn.ReLU()
            elif op == "maxpool":
                pad, s = nd.get("pad", 0), nd.get("stride", k)
                m = nn.MaxPool2d(k, s, pad)
                h, w = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
            elif op == "gap":
                m = nn.AdaptiveAvgPool2d(1)
                h = w = 1
            elif op == "linear":
                m = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, nd["out"]))
                c, h, w = nd["out"], 1, 1
            elif op == "add":
                m = None
            else:
                raise SystemExit("nn_torch.py: op %s not supported here" % op)
            if m is not None:
                self.mods[name] = m
            self.order.append((name, op, ins))
            shapes[name] = (c, h, w)
            prev = name

    def forward(self, x):
        vals = {"input": x}
        for name, op, ins in self.order:
            if op == "add":
                y = vals[ins[0]]
                for i in ins[1:]:
                    y = y + vals[i]
            else:
                y = self.mods[name](vals[ins[0]])
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


def train_bench(model, x, y, steps):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return median_times(step, 3, steps)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["resnet", "fmnist"])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--infer-size", type=int, default=224)
    ap.add_argument("--infer-runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--arch", default="bench/fmnist_cnn.json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if a.what == "resnet":
        model = ResNet18(3, 10)
        x = torch.randn(a.batch, 3, a.size, a.size)
        y = torch.randint(0, 10, (a.batch,))
        ts, tsc = train_bench(model, x, y, a.steps)
        model.eval()
        with torch.no_grad():
            tf, tfc = median_times(lambda: model(x), 3, a.steps)
            x1 = torch.randn(1, 3, a.infer_size, a.infer_size)
            ti, tic = median_times(lambda: model(x1), 3, a.infer_runs)
        out.update(train_step_ms=ts * 1e3, train_img_s=a.batch / ts, fwd_ms=tf * 1e3,
                   fwd_img_s=a.batch / tf, infer_ms=ti * 1e3, train_cpu_ms=tsc * 1e3,
                   fwd_cpu_ms=tfc * 1e3, infer_cpu_ms=tic * 1e3)
    else:
        with open(a.arch) as f:
            arch = json.load(f)
        model = Graph(arch)
        inp = arch["input"]
        x = torch.randn(a.batch, inp["channels"], inp["height"], inp["width"])
        y = torch.randint(0, 10, (a.batch,))
        ts, tsc = train_bench(model, x, y, a.steps)
        out.update(train_step_ms=ts * 1e3, train_img_s=a.batch / ts, train_cpu_ms=tsc * 1e3)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
