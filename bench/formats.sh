#!/usr/bin/env bash
# bench/formats.sh BUILD_DIR - the COCO reader and writer on a generated
# instances file (BENCH_COCO_IMAGES images, default 100000, and
# BENCH_COCO_ANNS annotations, default 1000000: half boxes, half polygons of
# 6-14 points, about 205 MB, written in COCO's own key order so the reader
# must reorder), against the reference: python3 json.load of the same file
# in the same run (loading alone, no checks). Reports wall and CPU seconds
# (the machine may be shared: CPU time is the steadier figure), throughput
# and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
nimg=${BENCH_COCO_IMAGES:-100000}
nann=${BENCH_COCO_ANNS:-1000000}
[ -f "$build/libcvops.a" ] || make --no-print-directory "$build/libcvops.a" BUILD="$build" >/dev/null
command -v python3 >/dev/null || { echo "formats: python3 missing" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pkgs="yajl jansson expat vips libturbojpeg libexif libpng libwebp libcrypto"
for p in gen_coco formats; do
  cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -Isrc -Ibench $(pkg-config --cflags $pkgs) \
    "bench/$p.c" "$build/libcvops.a" $(pkg-config --libs $pkgs) -lpthread -lm -o "$tmp/$p"
done
"$tmp/gen_coco" "$tmp/coco.json" "$nimg" "$nann"
bytes=$(stat -c %s "$tmp/coco.json")
cat "$tmp/coco.json" > /dev/null # in the page cache for everyone

# "wall user sys maxrss_kb" of a command, its stdout to $tmp/out
measure() {
  local t0 t1
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "$@" > "$tmp/out"
    cat "$tmp/time"
  else
    t0=$(date +%s.%N)
    "$@" > "$tmp/out"
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f - - -\n", b - a }'
  fi
}

read -r py_wall py_user py_sys py_rss < <(measure python3 -c \
  'import json, sys; d = json.load(open(sys.argv[1])); print(len(d["annotations"]))' "$tmp/coco.json")
read -r rd_wall rd_user rd_sys rd_rss < <(measure "$tmp/formats" read coco "$tmp/coco.json")
read -r rd_s rd_cats rd_imgs rd_shapes rd_problems _ < "$tmp/out"
read -r wr_wall wr_user wr_sys wr_rss < <(measure "$tmp/formats" write "$tmp/out_coco" "$nimg" "$nann")
read -r wr_s wr_bytes _ < "$tmp/out"
read -r sy_wall sy_user sy_sys sy_rss < <(measure "$tmp/formats" synth "$nimg" "$nann")
read -r rt_wall rt_user rt_sys rt_rss < <(measure "$tmp/formats" read coco "$tmp/out_coco/annotations.json")
read -r _ _ _ rt_shapes rt_problems _ < "$tmp/out"

[ "$rd_shapes" = "$nann" ] && [ "$rd_problems" = 0 ] || { echo "formats: read $rd_shapes annotations, $rd_problems problems" >&2; exit 1; }
[ "$rt_shapes" = "$nann" ] && [ "$rt_problems" = 0 ] || { echo "formats: the written file read back wrong" >&2; exit 1; }

mb=$(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1e6 }')
printf '\nCOCO: %s images, %s annotations (%s MB), COCO key order (categories last)\n\n' "$nimg" "$nann" "$mb"
printf '| %-44s | %7s | %7s | %8s | %8s | %10s |\n' step "wall s" "cpu s" "MB/s cpu" "RSS MB" "cpu vs ref"
printf '|%s|%s|%s|%s|%s|%s|\n' "----------------------------------------------" --------- --------- ---------- ---------- ------------
row() { # name wall user sys rss_kb bytes
  local cpu
  cpu=$(awk -v u="$3" -v s="$4" 'BEGIN { printf "%.2f", u + s }')
  printf '| %-44s | %7s | %7s | %8s | %8s | %9sx |\n' "$1" "$2" "$cpu" \
    "$(awk -v b="$6" -v c="$cpu" 'BEGIN { printf "%.0f", b / 1e6 / c }')" \
    "$(awk -v r="$5" 'BEGIN { printf "%.1f", r / 1024 }')" \
    "$(awk -v c="$cpu" -v u="$py_user" -v s="$py_sys" 'BEGIN { printf "%.2f", c / (u + s) }')"
}
row "python3 json.load (reference, no checks)" "$py_wall" "$py_user" "$py_sys" "$py_rss" "$bytes"
row "cvops read (scan + tokenizer + every check)" "$rd_wall" "$rd_user" "$rd_sys" "$rd_rss" "$bytes"
row "cvops write (streamed, bbox/area computed)" "$wr_wall" "$wr_user" "$wr_sys" "$wr_rss" "$wr_bytes"
row "  of which generating the records (no write)" "$sy_wall" "$sy_user" "$sy_sys" "$sy_rss" "$wr_bytes"
row "cvops read of the written file" "$rt_wall" "$rt_user" "$rt_sys" "$rt_rss" "$wr_bytes"
echo
