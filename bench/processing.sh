#!/usr/bin/env bash
# Processing benchmarks (issue: processings). Prints one table:
#   - every built-in on N generated 1920x1080 JPEGs (BENCH_PROC_IMAGES,
#     default 100), each with a box: the job's own time (result.duration_ms)
#     and the images it handled per second; resize also against Debian's
#     vipsthumbnail (--size 512, one process) on the same files, same run
#   - dedup's all-pairs comparison on a datalake of ROWS items whose pHashes
#     are written straight into the store (BENCH_PROC_ROWS, default 20000)
#   - the fixed cost of a custom run: launch -> succeeded for a command that
#     does nothing (`true`), median of RUNS runs (default 10)
#   - the line protocol: a command printing LINES lines (default 100000)
#     into the job's log; lines per second
# The server runs one job worker, so each job has the machine to itself.
set -uo pipefail
build=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
n=${BENCH_PROC_IMAGES:-100}
rows=${BENCH_PROC_ROWS:-20000}
runs=${RUNS:-10}
lines=${LINES:-100000}
work=$(mktemp -d /tmp/cvops-procbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
TOKEN=cvops_bench_token_0123456789abcdef
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now_ns() { date +%s%N; }
js() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

pkgs="vips libturbojpeg libexif sqlite3 libcrypto"
(cd "$root" && cc -std=c11 -O2 -D_GNU_SOURCE -Isrc $(pkg-config --cflags $pkgs) bench/thumbnail.c \
  "$build/libcvops.a" $(pkg-config --libs $pkgs libmicrohttpd jansson yajl libpq libcurl libargon2 libsodium libpng libwebp libarchive expat) \
  -ldnnl -lopenblas -lgomp -lpthread -lm -o "$work/thumbnail") || exit 1
mkdir -p "$work/in" "$work/vt"
echo "generating $n images..." >&2
"$work/thumbnail" gen "$work/in" "$n" >/dev/null

d="$work/data"
CVOPS_BOOTSTRAP_TOKEN=$TOKEN "$build/cvops" serve --data "$d" --listen 127.0.0.1:0 \
  --port-file "$work/port" --workers 1 --poll-ms 50 --log-level warn >"$work/server.log" 2>&1 &
SPID=$!; pids+=("$SPID")
for _ in $(seq 400); do [ -s "$work/port" ] && break; sleep 0.01; done
URL=http://127.0.0.1:$(cat "$work/port")
export CVOPS_SERVER=$URL CVOPS_TOKEN=$TOKEN
api() { # METHOD PATH [BODY]
  curl -s -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    ${3:+-d "$3"} "$URL$2"
}

"$build/cvops" datalake upload "$work/in" --datalake bench --jobs 4 >"$work/upload.out" 2>&1
lake=$(api GET /api/v1/datalakes | js '[l["id"] for l in d["items"] if l["name"] == "bench"][0]')
ds=$(api POST /api/v1/datasets "{\"name\":\"bench\",\"datalake_id\":$lake}" | js 'd["id"]')
v=$(api POST /api/v1/datasets/$ds/versions '{"name":"v1","task":"detection"}' | js 'd["id"]')
api POST /api/v1/dataset-versions/$v/assets '{"q":""}' >/dev/null
api POST /api/v1/dataset-versions/$v/labels '{"name":"obj"}' >/dev/null
ids=$(api GET "/api/v1/dataset-versions/$v/assets?limit=1000" | js '" ".join(str(a["data_id"]) for a in d["items"])')
python3 - "$ids" >"$work/ann.json" <<'PY'
import json, sys
ids = [int(x) for x in sys.argv[1].split()]
print(json.dumps({"annotations": [{"data_id": i, "shapes": [{"kind": "box", "label": "obj",
      "box": [400 + (i % 7) * 90, 200 + (i % 5) * 80, 300, 240]}]} for i in ids]}))
PY
curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data-binary "@$work/ann.json" "$URL/api/v1/dataset-versions/$v/annotations" >/dev/null

run() { # NAME ON PARAMS -> prints "wall_ms job_ms"
  local t0 t1 out
  t0=$(now_ns)
  out=$("$build/cvops" processing run "$1" --on "$2" ${3:+--param "$3"} --wait --json 2>&1) ||
    { echo "bench: $1 failed: $out" >&2; echo "0 0"; return; }
  t1=$(now_ns)
  echo "$(( (t1 - t0) / 1000000 )) $(printf '%s' "$out" | js 'd["result"].get("duration_ms", 0)')"
}

printf "%-62s %9s %9s %9s %9s\n" "measure ($n images 1920x1080, 1 box each)" "wall ms" "job ms" "img/s" "ref img/s"
row() { printf "%-62s %9s %9s %9s %9s\n" "$@"; }
for spec in "augment|copies=2|2" "resize|max_side=512|1" "tile|tile_size=640|1" "dedup|max_distance=6|1" "split|seed=1|1"; do
  IFS='|' read -r name params per <<<"$spec"
  read -r wall job < <(run "$name" "dataset-version:$v" "$params")
  rate=$(awk -v n="$n" -v ms="$job" 'BEGIN { if (ms > 0) printf "%.1f", n / (ms / 1000); else print "-" }')
  ref="-"
  if [ "$name" = resize ]; then
    t0=$(now_ns)
    VIPS_CONCURRENCY=1 vipsthumbnail --size 512 -o "$work/vt/%s.jpg[Q=90,strip]" "$work"/in/*.jpg
    t1=$(now_ns)
    ref=$(awk -v n="$n" -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", n / (ns / 1e9)}')
  fi
  row "$name ($params)" "$wall" "$job" "$rate" "$ref"
done

# --- dedup on many hashes: rows written straight into the store ---------------------------
kill -TERM "$SPID"; wait "$SPID" 2>/dev/null
sqlite3 "$d/cvops.db" <<SQL
PRAGMA journal_mode=WAL;
INSERT INTO datalake (org_id, name, created_at) VALUES (1, 'hashes', 0);
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $rows)
INSERT INTO data (datalake_id, sha256, filename, size, format, width, height, channels, created_at, phash)
SELECT (SELECT id FROM datalake WHERE name = 'hashes'), printf('%064x', i), printf('h%07d.jpg', i), 1000, 'jpeg', 640, 480, 3, i,
       (i * 6364136223846793005 + 1442695040888963407) FROM k;
SQL
CVOPS_BOOTSTRAP_TOKEN=$TOKEN "$build/cvops" serve --data "$d" --listen 127.0.0.1:0 \
  --port-file "$work/port2" --workers 1 --poll-ms 50 --log-level warn >>"$work/server.log" 2>&1 &
SPID=$!; pids+=("$SPID")
for _ in $(seq 400); do [ -s "$work/port2" ] && break; sleep 0.01; done
URL=http://127.0.0.1:$(cat "$work/port2"); export CVOPS_SERVER=$URL
hl=$(api GET /api/v1/datalakes | js '[l["id"] for l in d["items"] if l["name"] == "hashes"][0]')
read -r wall job < <(run dedup "datalake:$hl" "max_distance=4")
pairs=$(awk -v n="$rows" 'BEGIN {printf "%.0f", n * (n - 1) / 2}')
row "dedup on $rows pHashes ($pairs pairs), whole job" "$wall" "$job" \
  "$(awk -v n="$rows" -v ms="$job" 'BEGIN { if (ms > 0) printf "%.0f", n / (ms / 1000); else print "-" }')" "-"

# --- custom runs ------------------------------------------------------------------------------
printf '{"name":"noop","target":"datalake","command":["true"]}' >"$work/noop.json"
"$build/cvops" processing create "$work/noop.json" >/dev/null
for _ in $(seq "$runs"); do
  t0=$(now_ns)
  "$build/cvops" processing run noop --on "datalake:$lake" --wait --json >/dev/null 2>&1
  t1=$(now_ns)
  echo $(( (t1 - t0) / 1000000 ))
done >"$work/noop.ms"
row "custom run of 'true': launch -> succeeded (median of $runs)" "$(median <"$work/noop.ms")" "-" "-" "-"

printf 'i=0; while [ $i -lt %d ]; do echo "line $i of the log"; i=$((i+1)); done\n' "$lines" >"$work/chatty.sh"
printf '{"name":"chatty","target":"datalake","command":["sh","chatty.sh"],"resources":{"timeout_s":600}}' >"$work/chatty.json"
"$build/cvops" processing create "$work/chatty.json" --file "$work/chatty.sh" >/dev/null
read -r wall job < <(run chatty "datalake:$lake" "")
row "line protocol: $lines log lines (lines/s)" "$wall" "-" \
  "$(awk -v n="$lines" -v ms="$wall" 'BEGIN { printf "%.0f", n / (ms / 1000) }')" "-"
rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SPID/status")
row "peak server RSS, MB" "$rss" "" "" ""
kill -TERM "$SPID"; wait "$SPID" 2>/dev/null
