#!/usr/bin/env bash
# bench/evaluation_upload.sh BUILD_DIR - the client side of `cvops evaluation
# predictions --coco` on the COCO-val2017-sized results file of bench/eval.sh
# (500,000 boxes, 41 MB): the request bodies built and dropped (no server),
# streaming (bench/evaluation_upload.c, what the CLI does) against the
# previous whole-file way (jansson tree, evaluation_coco_items, json_dumps
# per request) measured in the same run. Medians of BENCH_UPLOAD_RUNS (3).
# Floors checked (FAIL printed, exit 1): peak RSS under 64 MB and under a
# fifth of the reference's; CPU time under the reference's.
set -euo pipefail
build=$(realpath "${1:-build}")
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${BENCH_UPLOAD_RUNS:-3}
data="$build/bench-data/eval/bbox-500k"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if [ ! -s "$data/dt.json" ]; then
  mkdir -p "$data"
  echo "generating bbox-500k ..." >&2
  "$py" "$root/tests/eval/gen_coco.py" --seed 1 --images 5000 --cats 80 --gt-per-image 8 \
    --dets-per-image 100 --kind bbox "$data"
fi
[ -f "$build/libcvops.a" ] || make --no-print-directory "$build/libcvops.a" BUILD="$build" >/dev/null
tmp=$(mktemp -d /tmp/cvops-upbench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pkgs="jansson yajl libcrypto"
cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$root/src" -I"$root/include" \
  $(pkg-config --cflags $pkgs) "$root/bench/evaluation_upload.c" "$build/libcvops.a" \
  $(pkg-config --libs $pkgs) -lgomp -lpthread -lm -o "$tmp/upload"
load0=$(cut -d' ' -f1 /proc/loadavg)
for ((i = 0; i < runs; i++)); do "$tmp/upload" "$data/dt.json"; done >"$tmp/out"
med() { # name column
  awk -v n="$1" -v c="$2" '$1 == n {print $c}' "$tmp/out" | sort -g |
    awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'
}
printf '\n%-22s %8s %8s %8s %9s %9s %12s\n' "way (41 MB, 500k)" "wall s" "cpu s" "rss MB" "requests" "images" "body bytes"
for w in stream reference; do
  printf '%-22s %8.2f %8.2f %8.0f %9s %9s %12s\n' "$w" "$(med $w 2)" "$(med $w 3)" "$(med $w 4)" \
    "$(med $w 5)" "$(med $w 6)" "$(med $w 8)"
done
s_cpu=$(med stream 3); r_cpu=$(med reference 3); s_rss=$(med stream 4); r_rss=$(med reference 4)
echo "stream vs reference: cpu x$(awk -v a="$r_cpu" -v b="$s_cpu" 'BEGIN {printf "%.1f", a / b}') less," \
     "rss x$(awk -v a="$r_rss" -v b="$s_rss" 'BEGIN {printf "%.1f", a / b}') less" \
     "(medians of $runs; $(nproc) cores; load average $load0 at the start, $(cut -d' ' -f1 /proc/loadavg) at the end)"
fail=0
check() { # value op limit label
  if awk -v v="$1" -v l="$3" 'BEGIN {exit !(v < l)}'; then echo "  ok    $4: $1 < $3"
  else echo "  FAIL  $4: $1 not < $3"; fail=1; fi
}
check "$s_rss" "<" 64 "stream peak RSS (MB)"
check "$s_rss" "<" "$(awk -v r="$r_rss" 'BEGIN {print r / 5}')" "stream peak RSS vs a fifth of the reference's (MB)"
check "$s_cpu" "<" "$r_cpu" "stream CPU vs the reference's (s)"
exit $fail
