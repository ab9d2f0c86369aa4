#!/usr/bin/env bash
# Serving benchmark (issue #10, "Floors and proof"): the predict endpoint with
# the nano detector at 320x320 on 2 cores. Prints one table:
#   - POST /api/v1/deployments/{id}/predict: BENCH_REQUESTS (default 400)
#     requests from 8 concurrent keep-alive clients (bench/predict_load.c),
#     each a 320x320 JPEG of `cvops demo synth-detect` (16 distinct images,
#     round robin) as the raw body, to a serve deployment whose champion is a
#     nano detector at 320x320 (sample_rate 0: every prediction recorded with
#     its rollups and image features, no image kept); requests/s, p50 and p99
#     latency as the clients see them; floor 40 req/s, p99 < 250 ms. Every
#     answer must be 200 with a boxes array.
#   - reference, same run: `cvops detect predict --threads 1 MODEL IMAGES...`
#     in one process on one thread (the library alone: decode, letterbox, forward, NMS, one image
#     after the other) on the same images repeated to BENCH_REF_IMAGES
#     (default 64), the model's load taken out (a run on 1 image subtracted);
#     images/s. The ratio is the endpoint's requests/s over it.
# The detector: BENCH_MODEL (a cvops detector checkpoint at 320x320), else
# one trained here for a few steps (`cvops detect train --input 320`; the
# speed does not depend on the weights). Medians of RUNS runs (default 3).
# The machine's 2 cores are shared: the load generator runs on them too.
set -uo pipefail
build=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-3}
n=${BENCH_REQUESTS:-400}
nref=${BENCH_REF_IMAGES:-64}
conns=8
work=$(mktemp -d /tmp/cvops-bench-predict.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
TOKEN=cvops_bench_token_0123456789abcdef
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
auth=(-H "Authorization: Bearer $TOKEN")

cc -O2 -o "$work/load" "$here/predict_load.c" $(pkg-config --cflags --libs libcurl) -lpthread || exit 1

# --- data and model ------------------------------------------------------------------
"$build/cvops" demo synth-detect --n 16 --size 320 --classes 6 --seed 5 --threads 2 "$work/data" \
  >/dev/null || exit 1
imgs=("$work"/data/images/*.jpg)
if [ -n "${BENCH_MODEL:-}" ]; then
  model=$BENCH_MODEL
else
  echo "training a nano detector at 320x320 for a few steps..." >&2
  model=$work/det.safetensors
  "$build/cvops" demo synth-detect --n 16 --val 8 --size 320 --classes 6 --seed 6 --threads 2 \
    "$work/train" >/dev/null || exit 1
  "$build/cvops" detect train --data "$work/train" --input 320 --epochs 1 --batch 8 --warmup 1 \
    --no-val --threads 2 --out "$model" >"$work/train.log" 2>&1 || { cat "$work/train.log" >&2; exit 1; }
fi

# --- the endpoint ----------------------------------------------------------------------
mkdir -p "$work/s"
CVOPS_BOOTSTRAP_TOKEN=$TOKEN "$build/cvops" serve --data "$work/s" --listen 127.0.0.1:0 \
  --port-file "$work/s/port" --log-level warn --workers 0 >>"$work/s/server.log" 2>&1 &
SPID=$!; pids+=("$SPID")
for _ in $(seq 400); do [ -s "$work/s/port" ] && break; sleep 0.01; done
BASE=http://127.0.0.1:$(cat "$work/s/port")
api() { # METHOD PATH [BODY]
  if [ $# -ge 3 ]; then
    curl -sf "${auth[@]}" -H 'Content-Type: application/json' -X "$1" -d "$3" "$BASE$2"
  else
    curl -sf "${auth[@]}" -X "$1" "$BASE$2"
  fi
}
jget() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }
sha=$(curl -sf "${auth[@]}" -X PUT --data-binary "@$model" -H 'Content-Type: application/octet-stream' \
  "$BASE/api/v1/files" | jget 'd["sha256"]') || { echo "upload failed" >&2; exit 1; }
mid=$(api POST /api/v1/models '{"name":"bench-detector"}' | jget 'd["id"]') || exit 1
mv=$(api POST "/api/v1/models/$mid/versions" \
  "{\"framework\":\"cvops\",\"files\":[{\"path\":\"model.safetensors\",\"sha256\":\"$sha\"}]}" |
  jget 'd["id"]') || exit 1
dep=$(api POST /api/v1/deployments \
  "{\"name\":\"bench\",\"mode\":\"serve\",\"champion_version_id\":$mv,\"sample_rate\":0}" |
  jget 'd["id"]') || exit 1
# warm-up: the model loads, every session is made
"$work/load" "$BASE" "$TOKEN" "$dep" 16 "$conns" "${imgs[@]}" >/dev/null || exit 1
# server CPU (user + system) from /proc: the cost per request whatever else
# the machine runs
server_cpu() { awk '{print $14 + $15}' "/proc/$SPID/stat"; }
ticks=$(getconf CLK_TCK)
rps=(); p50=(); p99=(); cpu=()
for _ in $(seq "$runs"); do
  c0=$(server_cpu)
  read -r r a b boxes_m < <("$work/load" "$BASE" "$TOKEN" "$dep" "$n" "$conns" "${imgs[@]}") || exit 1
  rps+=("$r"); p50+=("$a"); p99+=("$b")
  cpu+=("$(awk -v c=$(($(server_cpu) - c0)) -v t="$ticks" -v n="$n" 'BEGIN {printf "%.1f", c / t * 1000 / n}')")
done
got=$(api GET "/api/v1/deployments/$dep" | jget 'd["predictions"]')
want=$((16 + runs * n))
if [ "$got" != "$want" ]; then echo "predict: $got predictions recorded, $want sent" >&2; exit 1; fi
kill -TERM "$SPID"; wait "$SPID" 2>/dev/null

# --- the reference: the library in one process ------------------------------------------
ref_list=()
while [ "${#ref_list[@]}" -lt "$nref" ]; do ref_list+=("${imgs[@]}"); done
ref_list=("${ref_list[@]:0:$nref}")
ref=(); ref_cpu=()
cpu_of() { awk '{print $1 + $2}' "$1"; } # user + system seconds from /usr/bin/time -f
for _ in $(seq "$runs"); do
  t0=$(date +%s%N)
  /usr/bin/time -f '%U %S' -o "$work/t1" "$build/cvops" detect predict --threads 1 "$model" "${imgs[0]}" >/dev/null || exit 1
  t1=$(date +%s%N)
  /usr/bin/time -f '%U %S' -o "$work/tn" "$build/cvops" detect predict --threads 1 "$model" "${ref_list[@]}" >/dev/null || exit 1
  t2=$(date +%s%N)
  ref+=("$(awk -v one=$((t1 - t0)) -v all=$((t2 - t1)) -v n="$nref" \
    'BEGIN {d = (all - one) / (n - 1); printf "%.1f", (d > 0 ? 1e9 / d : 0)}')")
  ref_cpu+=("$(awk -v one="$(cpu_of "$work/t1")" -v all="$(cpu_of "$work/tn")" -v n="$nref" \
    'BEGIN {printf "%.1f", (all - one) * 1000 / (n - 1)}')")
done

rps_m=$(printf '%s\n' "${rps[@]}" | median)
p50_m=$(printf '%s\n' "${p50[@]}" | median)
p99_m=$(printf '%s\n' "${p99[@]}" | median)
ref_m=$(printf '%s\n' "${ref[@]}" | median)
cpu_m=$(printf '%s\n' "${cpu[@]}" | median)
ref_cpu_m=$(printf '%s\n' "${ref_cpu[@]}" | median)
cores=$(nproc)
cap() { awk -v c="$1" -v k="$cores" 'BEGIN {printf "%.0f", (c > 0 ? k * 1000 / c : 0)}'; }
ref_ms=$(awk -v r="$ref_m" 'BEGIN {printf "%.1f", (r > 0 ? 1000 / r : 0)}')
ratio=$(awk -v a="$rps_m" -v b="$ref_m" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
ok_rps=$(awk -v a="$rps_m" 'BEGIN {print (a >= 40 ? "yes" : "NO")}')
ok_p99=$(awk -v a="$p99_m" 'BEGIN {print (a < 250 ? "yes" : "NO")}')
echo "nano detector 320x320, $conns clients, $n requests x $runs runs (medians); load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-52s %8s %8s %8s %7s %7s %8s %6s\n' "what" "per s" "p50 ms" "p99 ms" "ratio" "CPU ms" "CPU cap" "floor"
printf '%-52s %8s %8s %8s %7s %7s %8s %6s\n' "POST /deployments/{id}/predict (8 clients)" "$rps_m" "$p50_m" "$p99_m" "$ratio" "$cpu_m" "$(cap "$cpu_m")" "$ok_rps/$ok_p99"
printf '%-52s %8s %8s %8s %7s %7s %8s %6s\n' "reference: cvops detect predict, 1 process, 1 thread" "$ref_m" "$ref_ms" "-" "1.00" "$ref_cpu_m" "$(cap "$ref_cpu_m")" "-"
echo "mean boxes per answer: $boxes_m (the speed does not depend on the weights unless they give thousands of candidates)"
echo "CPU ms: CPU time (user + system) per request of the server / per image of the reference;"
echo "CPU cap: what $cores idle cores would sustain at that cost ($cores x 1000 / CPU ms), an estimate, not a measurement"
echo "floors: >= 40 requests/s and p99 < 250 ms; ratio = endpoint requests/s over the library's images/s"
