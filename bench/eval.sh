#!/usr/bin/env bash
# bench/eval.sh BUILD_DIR - the COCO evaluation engine on generated
# COCO-val2017-sized cases (5,000 images, ~36,000 ground truths over 80
# categories, 100 detections per image = 500k), against the reference
# measured in the same run.
#
# The reference is tests/eval/coco_oracle.py, a numpy re-implementation of
# pycocotools' COCOeval with the same structure (pycocotools itself is not
# packaged by Debian); its "compute" is evaluate+accumulate+summarize, like
# ours (JSON loading excluded on both sides).
#
# Prints one table: median of BENCH_EVAL_RUNS runs (default 5) of
#   compute  eval_coco_run (resolve, evaluate, accumulate, summarize)
#   total    the whole `cvops eval coco` process, reading both files included
#   cpu      the same in CPU seconds, all threads (the machine is shared:
#            wall time grows with other users' load, CPU time much less)
#   rss      peak resident memory of that process
# Floors checked (FAIL printed, exit 1): bbox compute < 0.15 s, bbox total
# < 1 s, segm compute < 1 s, rss < 300 MB, 10x detections < 10x time.
#
#   BENCH_EVAL_RUNS=5   runs per case
#   BENCH_EVAL_REF=0    skip the (slow, ~1 min) reference run
#   BENCH_EVAL_10X=0    skip the 5M-detection case (generating it takes minutes)
#   BENCH_EVAL_SEGM=0   skip the segm case
set -euo pipefail
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${BENCH_EVAL_RUNS:-5}
data="$build/bench-data/eval"
cvops="$build/cvops"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
[ -x "$cvops" ] || { echo "bench/eval: build $cvops first" >&2; exit 1; }
mkdir -p "$data"

gen() { # name, generator args...
  local name=$1
  shift
  if [ ! -s "$data/$name/dt.json" ]; then
    mkdir -p "$data/$name"
    echo "generating $name ..." >&2
    "$py" "$root/tests/eval/gen_coco.py" "$@" "$data/$name"
  fi
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# run NAME IOU: prints "compute total rss_mb compute_cpu total_cpu" medians
measure() {
  local name=$1 iou=$2 i out
  local c=() t=() m=() cc=() tc=()
  for ((i = 0; i < runs; i++)); do
    out=$( { /usr/bin/time -f 'TIME %e %M %U %S' "$cvops" eval coco --gt "$data/$name/gt.json" \
             --dt "$data/$name/dt.json" --iou "$iou" --json >"$data/$name/out.json"; } 2>&1 )
    c+=("$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds_eval"])' \
          "$data/$name/out.json")")
    cc+=("$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["cpu_seconds_eval"])' \
          "$data/$name/out.json")")
    t+=("$(echo "$out" | awk '/^TIME/ {print $2}')")
    m+=("$(echo "$out" | awk '/^TIME/ {print $3 / 1024}')")
    tc+=("$(echo "$out" | awk '/^TIME/ {print $4 + $5}')")
  done
  echo "$(printf '%s\n' "${c[@]}" | median) $(printf '%s\n' "${t[@]}" | median)" \
       "$(printf '%s\n' "${m[@]}" | median) $(printf '%s\n' "${cc[@]}" | median)" \
       "$(printf '%s\n' "${tc[@]}" | median)"
}

fail=0
check() { # value op limit label
  if awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {exit !(op == "<" ? v < l : v > l)}'; then
    echo "  ok    $4: $1 $2 $3"
  else
    echo "  FAIL  $4: $1 not $2 $3"
    fail=1
  fi
}

gen bbox-500k --seed 1 --images 5000 --cats 80 --gt-per-image 8 --dets-per-image 100 --kind bbox
[ "${BENCH_EVAL_SEGM:-1}" = 1 ] &&
  gen segm-500k --seed 2 --images 5000 --cats 80 --gt-per-image 8 --dets-per-image 100 --kind segm
[ "${BENCH_EVAL_10X:-1}" = 1 ] &&
  gen bbox-5m --seed 1 --images 5000 --cats 80 --gt-per-image 8 --dets-per-image 1000 --kind bbox

load0=$(cut -d' ' -f1 /proc/loadavg) # other users of the machine slow everything down
read -r b_c b_t b_m b_cc b_tc < <(measure bbox-500k bbox)
ref="-"
ratio="-"
if [ "${BENCH_EVAL_REF:-1}" = 1 ] && "$py" -c 'import numpy' 2>/dev/null; then
  "$py" "$root/tests/eval/coco_oracle.py" "$data/bbox-500k/gt.json" "$data/bbox-500k/dt.json" \
    bbox "$data/bbox-500k/ref.json"
  ref=$("$py" -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["seconds"], 2))' \
        "$data/bbox-500k/ref.json")
  ratio=$(awk -v r="$ref" -v c="$b_c" 'BEGIN {printf "%.0fx", r / c}')
  # the numbers must agree too
  "$py" - "$data/bbox-500k/ref.json" "$data/bbox-500k/out.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))["stats"]
o = json.load(open(sys.argv[2]))["stats"]
bad = [i for i in range(12) if abs(r[i] - o[i]) > 1e-12]
print("  stats agree with the reference to 1e-12" if not bad else "  STATS DIFFER at %s" % bad)
sys.exit(1 if bad else 0)
EOF
fi

printf '\n%-9s %5s %10s %10s %8s %8s %7s %12s %7s\n' case dets "compute s" "total s" \
  "cpu s" "cpu s" "rss MB" "reference s" ratio
printf '%-9s %5s %10s %10s %8s %8s %7s %12s %7s\n' "" "" "(wall)" "(wall)" "compute" "total" \
  "" "(compute)" ""
row() { printf '%-9s %5s %10.3f %10.2f %8.3f %8.2f %7.0f %12s %7s\n' "$@"; }
row bbox 500k "$b_c" "$b_t" "$b_cc" "$b_tc" "$b_m" "$ref" "$ratio"
if [ "${BENCH_EVAL_SEGM:-1}" = 1 ]; then
  read -r s_c s_t s_m s_cc s_tc < <(measure segm-500k segm)
  row segm 500k "$s_c" "$s_t" "$s_cc" "$s_tc" "$s_m" "-" "-"
fi
if [ "${BENCH_EVAL_10X:-1}" = 1 ]; then
  runs10=$(( runs < 3 ? runs : 3 ))
  read -r x_c x_t x_m x_cc x_tc < <(runs=$runs10 measure bbox-5m bbox)
  row bbox-10x 5M "$x_c" "$x_t" "$x_cc" "$x_tc" "$x_m" "-" "-"
fi
echo "(medians of $runs runs; $(nproc) cores; 1-min load average $load0 at the start, $(cut -d' ' -f1 /proc/loadavg) at the end;" \
     "reference = numpy COCOeval re-implementation, one run)"

echo
check "$b_c" "<" 0.15 "bbox compute (s)"
check "$b_t" "<" 1 "bbox total incl. reading (s)"
check "$b_m" "<" 300 "bbox peak RSS (MB)"
if [ "${BENCH_EVAL_SEGM:-1}" = 1 ]; then
  check "$s_c" "<" 1 "segm compute (s)"
  check "$s_m" "<" 300 "segm peak RSS (MB)"
fi
if [ "${BENCH_EVAL_10X:-1}" = 1 ]; then
  check "$(awk -v a="$x_c" -v b="$b_c" 'BEGIN {printf "%.2f", a / b}')" "<" 10 \
    "10x detections: compute time ratio"
  check "$(awk -v a="$x_t" -v b="$b_t" 'BEGIN {printf "%.2f", a / b}')" "<" 10 \
    "10x detections: total time ratio"
  check "$(awk -v a="$x_cc" -v b="$b_cc" 'BEGIN {printf "%.2f", a / b}')" "<" 10 \
    "10x detections: compute CPU time ratio"
fi
exit $fail
