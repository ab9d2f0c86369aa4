#!/usr/bin/env bash
# bench/nn.sh BUILD_DIR - the training engine (src/nn) against PyTorch 1.13 on
# the same machine, in the same run, on the same networks:
#
#   1. ResNet-18 at 64x64, batch 64: SGD training step and forward pass,
#      then batch-1 inference at 224x224 (medians; `cvops nn bench`
#      vs bench/nn_torch.py).
#   2. The Fashion-MNIST CNN (bench/fmnist_cnn.json), batch 128: step time.
#   3. Fashion-MNIST end to end: train on the 60k images for a time budget
#      (NN_BENCH_BUDGET seconds, default 540, the cosine schedule spread over
#      it, so a busy machine does fewer epochs rather than a cut schedule),
#      test on the 10k; the training time, test accuracy and peak RSS
#      (NN_BENCH_FMNIST=0 skips it).
#
# The machine's other load shows in the numbers: run it on a quiet machine,
# and look at the ratios, which are measured side by side.
set -euo pipefail
B=${1:-build}
cd "$(dirname "$0")/.."
PY=/usr/bin/python3   # Debian's python3-torch lives there, not in a venv
THREADS=${NN_BENCH_THREADS:-2}
OUT=bench/out/nn
mkdir -p "$OUT"

if ! $PY -c 'import torch' 2>/dev/null; then
  echo "nn.sh: python3-torch is missing (scripts/install-deps --bench)" >&2
  exit 1
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$B/cvops" nn bench --json --threads "$THREADS" --arch resnet --size 64 --batch 64 \
  --steps 10 --infer-size 224 --infer-runs 30 > "$OUT/resnet_cvops.json"
$PY bench/nn_torch.py resnet --threads "$THREADS" --size 64 --batch 64 --steps 10 \
  --infer-size 224 --infer-runs 30 > "$OUT/resnet_torch.json"
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

$PY - "$OUT" <<'PYEOF'
import json, os, sys
out = sys.argv[1]
def load(name):
    with open(os.path.join(out, name)) as f:
        return json.loads(f.read().strip().splitlines()[-1])
rc, rt = load("resnet_cvops.json"), load("resnet_torch.json")
fc, ft = load("fmnist_cvops.json"), load("fmnist_torch.json")
rows = [
    ("resnet18 64px b64 train img/s", rc["train_img_s"], rt["train_img_s"], True, ">= 1.0x"),
    ("resnet18 64px b64 forward img/s", rc["fwd_img_s"], rt["fwd_img_s"], True, ""),
    ("resnet18 224px b1 inference ms", rc["infer_ms"], rt["infer_ms"], False, "< 15 ms"),
    ("fmnist-cnn b128 train img/s", fc["train_img_s"], ft["train_img_s"], True, ""),
]
print("%-34s %12s %12s %8s  %s" % ("benchmark (medians)", "cvops", "pytorch", "ratio", "floor"))
for name, a, b, higher, floor in rows:
    ratio = a / b if higher else b / a
    print("%-34s %12.1f %12.1f %7.2fx  %s" % (name, a, b, ratio, floor))
p = os.path.join(out, "fmnist_train.jsonl")
if os.path.exists(p):
    last = load("fmnist_train.jsonl")
    with open(os.path.join(out, "fmnist_train.rss")) as f:
        rss = int(f.read().split()[-1]) / 1024
    print("%-34s %12.4f %12s %8s  %s" % ("fmnist test accuracy", last["test_acc"], "", "", ">= 0.91"))
    print("%-34s %12.1f %12s %8s  %s" % ("fmnist training seconds", last["train_s"], "", "", "<= 600"))
    epochs = [json.loads(l) for l in open(p) if '"epoch_end"' in l]
    if epochs:
        print("%-34s %12d %12s %8s" % ("fmnist epochs in the budget", epochs[-1]["epoch"], "", ""))
    print("%-34s %12.0f %12s %8s  %s" % ("fmnist peak RSS MB", rss, "", "", "< 1024"))
print("(ratio: > 1 means cvops is faster)")
PYEOF
