#!/usr/bin/env bash
# bench/thumbnail.sh BUILD_DIR - JPEG thumbnails (longest side 256, quality
# 80) of N photo-like 1920x1080 JPEGs (BENCH_IMAGES, default 60): cvops' fast
# path (turbojpeg DCT-scaled decode), cvops' general path (libvips in
# process), and the reference, Debian's vipsthumbnail, all on the same files
# in the same run. THREADS (default 2) workers; vipsthumbnail runs as that
# many processes with VIPS_CONCURRENCY=1, each on its share of the files.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
n=${BENCH_IMAGES:-60}
threads=${THREADS:-2}
command -v vipsthumbnail >/dev/null || { echo "thumbnail: vipsthumbnail missing (libvips-tools)" >&2; exit 1; }
[ -f "$build/libcvops.a" ] || make --no-print-directory "$build/libcvops.a" BUILD="$build" >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pkgs="vips libturbojpeg libexif sqlite3 libcrypto"
cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror -Isrc $(pkg-config --cflags $pkgs) \
  bench/thumbnail.c "$build/libcvops.a" $(pkg-config --libs $pkgs) -lpthread -lm -o "$tmp/thumbnail"
mkdir -p "$tmp/in" "$tmp/out"
"$tmp/thumbnail" gen "$tmp/in" "$n"

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.1f", n / s }'; }

read -r n1 s_fast < <("$tmp/thumbnail" run "$tmp/in" "$threads" fast)
read -r n2 s_gen < <("$tmp/thumbnail" run "$tmp/in" "$threads" general)
read -r n3 s_fast1 < <("$tmp/thumbnail" run "$tmp/in" 1 fast)

# vipsthumbnail: THREADS processes over interleaved shares of the files
files=("$tmp"/in/*.jpg)
t0=$(date +%s.%N)
for ((k = 0; k < threads; k++)); do
  share=()
  for ((i = k; i < ${#files[@]}; i += threads)); do share+=("${files[i]}"); done
  VIPS_CONCURRENCY=1 vipsthumbnail --size 256 -o "$tmp/out/%s.jpg[Q=80,strip]" "${share[@]}" &
done
wait
t1=$(date +%s.%N)
s_ref=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')

ref=$(rate "$n" "$s_ref")
printf '\nthumbnails: %d photo-like 1920x1080 JPEGs -> 256 px JPEG q80, %s threads\n\n' "$n" "$threads"
printf '| %-42s | %7s | %8s | %8s | %10s | %8s |\n' method threads seconds "img/s" "img/s/core" "vs ref"
printf '|%s|%s|%s|%s|%s|%s|\n' "--------------------------------------------" --------- ---------- ---------- ------------ ----------
row() { # name threads images seconds
  local r; r=$(rate "$3" "$4")
  printf '| %-42s | %7s | %8s | %8s | %10s | %7sx |\n' "$1" "$2" "$4" "$r" \
    "$(awk -v r="$r" -v t="$2" 'BEGIN { printf "%.1f", r / t }')" \
    "$(awk -v r="$r" -v f="$ref" 'BEGIN { printf "%.2f", r / f }')"
}
row "cvops fast path (turbojpeg DCT scaling)" "$threads" "$n1" "$s_fast"
row "cvops fast path, 1 thread" 1 "$n3" "$s_fast1"
row "cvops general path (libvips in process)" "$threads" "$n2" "$s_gen"
row "vipsthumbnail (reference)" "$threads" "$n" "$s_ref"
echo
