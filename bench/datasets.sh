#!/usr/bin/env bash
# Dataset benchmarks (issue: datasets). Prints one table:
#   - a generated COCO file of IMAGES images and ANNS annotations (boxes and
#     polygons; BENCH_IMAGES default 100000, BENCH_ANNS default 1000000,
#     about 220 MB), its images as datalake rows generated in SQL: upload
#     (PUT /api/v1/files), then the import job into a local server
#     (SQLite + files); peak server RSS during the import
#   - the export of the same version as COCO (job), and its download
#   - reference: python3 -c 'import json; json.load(...)' on the same
#     file, measured in the same run
# Floors: import < 5 s, export < 5 s, server RSS < 250 MB.
set -uo pipefail
build=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
ni=${BENCH_IMAGES:-100000}
na=${BENCH_ANNS:-1000000}
work=$(mktemp -d /tmp/cvops-dsbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
TOKEN=cvops_bench_token_0123456789abcdef
H="Authorization: Bearer $TOKEN"
J="Content-Type: application/json"
ms() { date +%s%3N; }
jget() { python3 -c 'import sys,json; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k] if not k.isdigit() else d[int(k)]
print(d)' "$1"; }

cc -std=c11 -O2 -D_GNU_SOURCE "$here/datasets_gen.c" -lm -o "$work/gen" || exit 1
echo "generating $ni images and $na annotations..." >&2
"$work/gen" coco "$work/coco.json" "$ni" "$na" || exit 1
bytes=$(stat -c %s "$work/coco.json")

start_server() { # DIR
  rm -f "$1/port"
  CVOPS_BOOTSTRAP_TOKEN=$TOKEN "$build/cvops" serve --data "$1" --listen 127.0.0.1:0 \
    --port-file "$1/port" --workers 1 --log-level warn >"$1.log" 2>&1 &
  SPID=$!; pids+=("$SPID")
  for _ in $(seq 400); do [ -s "$1/port" ] && break; sleep 0.01; done
  URL=http://127.0.0.1:$(cat "$1/port")
}
wait_job() { # ID -> prints the final job
  while :; do
    j=$(curl -s -H "$H" "$URL/api/v1/jobs/$1")
    # no python here: one python3 start every 20 ms is most of a core, and the
    # job being timed has two threads on a 2-core machine
    st=$(echo "$j" | grep -o '"state":"[a-z]*"' | head -1 | cut -d'"' -f4)
    case $st in succeeded|failed|canceled) echo "$j"; return;; esac
    sleep 0.02
  done
}

# CPU time (user + system, ms) of a process: on a shared machine the wall
# clock says more about the neighbours than about the program.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$1/stat"; }

# --- reference: python's json.load ------------------------------------------
t0=$(ms)
py_cpu=$(python3 -c 'import json,sys,resource; json.load(open(sys.argv[1])); r=resource.getrusage(resource.RUSAGE_SELF); print(int((r.ru_utime+r.ru_stime)*1000))' "$work/coco.json")
t1=$(ms)
py_ms=$((t1 - t0))

# --- the datalake: schema by a first start, rows in SQL ----------------------
d="$work/d"
start_server "$d"
curl -s -H "$H" -H "$J" -X POST -d '{"name":"bench"}' "$URL/api/v1/datalakes" >/dev/null
kill -TERM "$SPID"; wait "$SPID" 2>/dev/null
lake=$(sqlite3 "$d/cvops.db" "SELECT id FROM datalake WHERE name = 'bench'")
echo "generating $ni datalake rows..." >&2
{ echo "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"; "$work/gen" sql "$ni" "$lake"; echo "ANALYZE;"; } |
  sqlite3 "$d/cvops.db" >/dev/null || exit 1

# --- import ------------------------------------------------------------------
start_server "$d"
ds=$(curl -s -H "$H" -H "$J" -X POST -d "{\"name\":\"bench\",\"datalake_id\":$lake}" "$URL/api/v1/datasets" | jget id)
v=$(curl -s -H "$H" -H "$J" -X POST -d '{"name":"v1","task":"detection"}' "$URL/api/v1/datasets/$ds/versions" | jget id)
rss0=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$SPID/status")
c0=$(cpu_ms "$SPID")
t0=$(ms)
sha=$(curl -s -H "$H" -X PUT --data-binary @"$work/coco.json" "$URL/api/v1/files" | jget sha256)
t1=$(ms)
c1=$(cpu_ms "$SPID")
job=$(curl -s -H "$H" -H "$J" -X POST -d "{\"file\":\"$sha\",\"format\":\"coco\"}" "$URL/api/v1/dataset-versions/$v/import" | jget id)
res=$(wait_job "$job")
t2=$(ms)
c2=$(cpu_ms "$SPID")
rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SPID/status")
state=$(echo "$res" | jget state)
if [ "$state" != succeeded ]; then
  echo "import failed: $(echo "$res" | jget error)" >&2
  exit 1
fi
shapes=$(echo "$res" | jget result.shapes)
imp_log=$(curl -s -H "$H" "$URL/api/v1/jobs/$job/log" | python3 -c 'import sys,json; [print("  import: "+x["line"]) for x in json.load(sys.stdin)["items"]]')
upload_ms=$((t1 - t0)); import_ms=$((t2 - t1)); upload_cpu=$((c1 - c0)); import_cpu=$((c2 - c1))

# --- export ------------------------------------------------------------------
kill -TERM "$SPID"; wait "$SPID" 2>/dev/null
start_server "$d"
c0=$(cpu_ms "$SPID")
t0=$(ms)
job=$(curl -s -H "$H" -H "$J" -X POST -d '{"format":"coco"}' "$URL/api/v1/dataset-versions/$v/export" | jget id)
res=$(wait_job "$job")
t1=$(ms)
c1=$(cpu_ms "$SPID")
ersss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SPID/status")
[ "$(echo "$res" | jget state)" = succeeded ] || { echo "export failed: $(echo "$res" | jget error)" >&2; exit 1; }
file=$(echo "$res" | jget result.file)
curl -s -H "$H" "$URL/api/v1/files/$file" -o "$work/export.json"
t2=$(ms)
eshapes=$(echo "$res" | jget result.shapes)
# reads on the imported version: statistics, and a page of an asset query
t3=$(ms)
curl -s -H "$H" "$URL/api/v1/dataset-versions/$v/stats" -o "$work/stats.json"
t4=$(ms)
q=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("label = class05 and data.width >= 1280 and objects >= 10"))')
curl -s -H "$H" "$URL/api/v1/dataset-versions/$v/assets?limit=100&q=$q" -o "$work/page.json"
t5=$(ms)
stats_ms=$((t4 - t3)); page_ms=$((t5 - t4))
npage=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$work/page.json")
ebytes=$(stat -c %s "$work/export.json")
exp_log=$(curl -s -H "$H" "$URL/api/v1/jobs/$job/log" | python3 -c 'import sys,json; [print("  export: "+x["line"]) for x in json.load(sys.stdin)["items"]]')
export_ms=$((t1 - t0)); download_ms=$((t2 - t1)); export_cpu=$((c1 - c0))
kill -TERM "$SPID"; wait "$SPID" 2>/dev/null

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
load=$(cut -d' ' -f1-3 /proc/loadavg)
printf '\n%-64s %9s %9s %9s %9s\n' "measure (COCO: $ni images, $shapes shapes, $((bytes / 1000000)) MB)" "wall ms" "cpu ms" "ref cpu" "cpu ratio"
printf '%-64s %9s %9s %9s %9s\n' "python3 json.load of the file (reference)" "$py_ms" "$py_cpu" "" ""
printf '%-64s %9s %9s %9s %9s\n' "upload, PUT /api/v1/files" "$upload_ms" "$upload_cpu" "" ""
printf '%-64s %9s %9s %9s %9s\n' "import job: read, check, match images, write (floor 5000)" "$import_ms" "$import_cpu" "$py_cpu" "$(ratio "$import_cpu" "$py_cpu")"
printf '%-64s %9s %9s %9s %9s\n' "export job to COCO, $eshapes shapes, $((ebytes / 1000000)) MB (floor 5000)" "$export_ms" "$export_cpu" "$py_cpu" "$(ratio "$export_cpu" "$py_cpu")"
printf '%-64s %9s %9s %9s %9s\n' "download of the export" "$download_ms" "" "" ""
printf '%-64s %9s\n' "GET .../stats of the imported version" "$stats_ms"
printf '%-64s %9s\n' "asset query, first page ($npage items): label, data.width, objects" "$page_ms"
printf '%-64s %9s\n' "peak server RSS during the import, MB (floor 250; idle $rss0)" "$rss"
printf '%-64s %9s\n' "peak server RSS during the export, MB" "$ersss"
printf '%-64s %9s\n' "load average at the end (2 cores: above 2, wall times stretch)" "$load"
echo "$imp_log"
echo "$exp_log"
