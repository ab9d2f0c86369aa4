#!/usr/bin/env bash
# bench/nn.sh BUILD_DIR - the training engine (src/nn) against PyTorch 1.13 on
# the same machine, in the same run, on the same networks:
#
#   1. ResNet-18 at 64x64, batch 64: SGD training step and forward pass,
#      then batch-1 inference at 224x224 (`cvops nn bench` vs
#      bench/nn_torch.py), NN_BENCH_ROUNDS rounds (default 3) of one cvops
#      run then one PyTorch run, 2 threads (and cvops's inference again with
#      float32 Winograd weights, --fp32-weights); then one round with 1 thread,
#      whose process CPU time per step compares the work each side does
#      independently of the machine's other load.
#   2. The Fashion-MNIST CNN (bench/fmnist_cnn.json), batch 128: step time.
#   3. Fashion-MNIST end to end: train on the 60k images for a time budget
#      (NN_BENCH_BUDGET seconds, default 540, the cosine schedule spread over
#      it, so a busy machine does fewer epochs rather than a cut schedule),
#      test on the 10k; the training time, test accuracy and peak RSS
#      (NN_BENCH_FMNIST=0 skips it).
#
# Every figure is a median (of steps within a run, then of rounds). On a
# machine shared with other work the wall times swing by 2-5x from one
# minute to the next; the rounds and the CPU-time row are there for that.
set -euo pipefail
B=${1:-build}
cd "$(dirname "$0")/.."
PY=/usr/bin/python3   # Debian's python3-torch lives there, not in a venv
THREADS=${NN_BENCH_THREADS:-2}
ROUNDS=${NN_BENCH_ROUNDS:-3}
OUT=bench/out/nn
mkdir -p "$OUT"
rm -f "$OUT"/resnet_*.json "$OUT"/fmnist_train.jsonl "$OUT"/fmnist_train.rss

if ! $PY -c 'import torch' 2>/dev/null; then
  echo "nn.sh: python3-torch is missing (scripts/install-deps --bench)" >&2
  exit 1
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
RES=(--size 64 --batch 64 --steps 10 --infer-size 224 --infer-runs 30)
for r in $(seq 1 "$ROUNDS"); do
  "$B/cvops" nn bench --json --threads "$THREADS" --arch resnet "${RES[@]}" \
    > "$OUT/resnet_cvops_$r.json"
  $PY bench/nn_torch.py resnet --threads "$THREADS" "${RES[@]}" > "$OUT/resnet_torch_$r.json"
  # the same inference with float32 Winograd weights (default: half floats for F(2x2))
  "$B/cvops" nn bench --json --threads "$THREADS" --arch resnet --size 64 --batch 64 --steps 1 \
    --infer-size 224 --infer-runs 30 --fp32-weights > "$OUT/resnet_cvops32_$r.json"
done
"$B/cvops" nn bench --json --threads 1 --arch resnet "${RES[@]}" > "$OUT/resnet_cvops_t1.json"
$PY bench/nn_torch.py resnet --threads 1 "${RES[@]}" > "$OUT/resnet_torch_t1.json"
"$B/cvops" nn bench --json --threads "$THREADS" --arch bench/fmnist_cnn.json --batch 128 \
  --steps 30 --infer-size 0 > "$OUT/fmnist_cvops.json"
$PY bench/nn_torch.py fmnist --threads "$THREADS" --arch bench/fmnist_cnn.json --batch 128 \
  --steps 30 > "$OUT/fmnist_torch.json"

if [ "${NN_BENCH_FMNIST:-1}" != 0 ]; then
  /usr/bin/time -f '%M' -o "$OUT/fmnist_train.rss" \
    "$B/cvops" nn train --json --threads "$THREADS" --auto-threads \
    --arch bench/fmnist_cnn.json --epochs 100 --time-budget "${NN_BENCH_BUDGET:-540}" \
    --batch 128 --optim adamw --lr 0.003 --wd 0.05 --warmup 200 --flip \
    --out "$OUT/fmnist.safetensors" > "$OUT/fmnist_train.jsonl"
fi
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

$PY - "$OUT" "$ROUNDS" <<'PYEOF'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(name):
    with open(os.path.join(out, name)) as f:
        return json.loads(f.read().strip().splitlines()[-1])
rc = [load("resnet_cvops_%d.json" % r) for r in range(1, rounds + 1)]
rt = [load("resnet_torch_%d.json" % r) for r in range(1, rounds + 1)]
c1, t1 = load("resnet_cvops_t1.json"), load("resnet_torch_t1.json")
fc, ft = load("fmnist_cvops.json"), load("fmnist_torch.json")
med = statistics.median
def row(name, key, higher, floor):
    a, b = med(x[key] for x in rc), med(x[key] for x in rt)
    ratios = [(x[key] / y[key]) if higher else (y[key] / x[key]) for x, y in zip(rc, rt)]
    print("%-36s %10.1f %10.1f %7.2fx  %-9s %s" % (name, a, b, med(ratios), floor,
          " ".join("%.2f" % q for q in ratios)))
print("%-36s %10s %10s %8s  %-9s %s" % ("benchmark (medians)", "cvops", "pytorch", "ratio",
                                        "floor", "per round"))
row("resnet18 64px b64 train img/s", "train_img_s", True, ">= 1.0x")
row("resnet18 64px b64 forward img/s", "fwd_img_s", True, "")
row("resnet18 224px b1 inference ms", "infer_ms", False, "< 15 ms")
r32 = [load("resnet_cvops32_%d.json" % r) for r in range(1, rounds + 1)]
print("%-36s %10.1f %10s %7.2fx  %-9s %s" % (
    "  the same, float32 weights (cvops)", med(x["infer_ms"] for x in r32), "",
    med(x["infer_ms"] / y["infer_ms"] for x, y in zip(r32, rc)), "",
    " ".join("%.2f" % (x["infer_ms"] / y["infer_ms"]) for x, y in zip(r32, rc))))
for name, key in [("resnet18 train step, 1 thread, CPU ms", "train_cpu_ms"),
                  ("resnet18 forward, 1 thread, CPU ms", "fwd_cpu_ms"),
                  ("resnet18 224px b1, 1 thread, CPU ms", "infer_cpu_ms")]:
    print("%-36s %10.1f %10.1f %7.2fx" % (name, c1[key], t1[key], t1[key] / c1[key]))
print("%-36s %10.1f %10.1f %7.2fx" % ("fmnist-cnn b128 train img/s", fc["train_img_s"],
                                      ft["train_img_s"], fc["train_img_s"] / ft["train_img_s"]))
p = os.path.join(out, "fmnist_train.jsonl")
if os.path.exists(p):
    last = load("fmnist_train.jsonl")
    with open(os.path.join(out, "fmnist_train.rss")) as f:
        rss = int(f.read().split()[-1]) / 1024
    epochs = [json.loads(l) for l in open(p) if '"epoch_end"' in l]
    print("%-36s %10.4f %10s %8s  %s" % ("fmnist test accuracy", last["test_acc"], "", "", ">= 0.91"))
    print("%-36s %10.1f %10s %8s  %s" % ("fmnist training seconds", last["train_s"], "", "", "<= 600"))
    if epochs:
        print("%-36s %10d" % ("fmnist epochs in the budget", epochs[-1]["epoch"]))
    print("%-36s %10.0f %10s %8s  %s" % ("fmnist peak RSS MB", rss, "", "", "< 1024"))
print("(ratio: > 1 means cvops is faster)")
PYEOF
