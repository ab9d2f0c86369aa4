#!/usr/bin/env bash
# Processing benchmarks (issue: processings). Prints one table; every row has
# a reference measured in the same run on the same machine and the ratio
# cvops / reference (for times: > 1 is slower than the reference; for rates:
# < 1 is slower):
#   - every built-in on N generated 1920x1080 JPEGs (BENCH_PROC_IMAGES,
#     default 100), each with a box; the job's own time (result.duration_ms,
#     start to end of the job inside the worker: reading the input, pixels,
#     encoding, storing blobs, the one transaction) as images per second.
#     References, all libvips 8.14 command-line tools with VIPS_CONCURRENCY=1
#     on the same files: resize vs `vipsthumbnail --size 512` (one process for
#     all files); augment vs `vips similarity` (a rotation + scale, JPEG Q90)
#     once per copy; tile vs `vips dzsave --depth one` (512-pixel steps, 64
#     pixels of overlap each side = 640-pixel tiles, JPEG Q92); the vips
#     tools only read and write files, cvops also stores and indexes
#     everything. split, as milliseconds: `cvops processing run split
#     --wait` from launch to done (a CLI process, the queue, polling) vs the
#     dataset API's own split call on the same version through curl
#   - dedup over ROWS items (BENCH_PROC_ROWS, default 20000) whose pHashes
#     are written straight into the store, every 10th a near-copy (2 bits
#     flipped) of the one before: the whole job vs bench/processing_ref.c,
#     the bare all-pairs XOR+popcount loop over the same hashes
#   - the fixed cost of a custom run: launch -> succeeded for a command that
#     does nothing (`true`), median of RUNS runs (default 10), vs a
#     diagnostic `system.sleep` job of 0 ms launched and polled the same way
#   - the line protocol: a shell loop printing LINES lines (default 50000)
#     into the job's log, the command's run time as lines per second vs the
#     same loop writing to /dev/null
# The server runs one job worker, so each job has the machine to itself.
set -uo pipefail
build=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
n=${BENCH_PROC_IMAGES:-100}
rows=${BENCH_PROC_ROWS:-20000}
runs=${RUNS:-10}
lines=${LINES:-50000}
work=$(mktemp -d /tmp/cvops-procbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
TOKEN=cvops_bench_token_0123456789abcdef
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now_ns() { date +%s%N; }
js() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
die() { echo "bench: $*" >&2; exit 1; }
rate() { awk -v n="$1" -v ms="$2" 'BEGIN { if (ms > 0) printf "%.1f", n / (ms / 1000); else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

[ -f "$build/libcvops.a" ] || make --no-print-directory -C "$root" "$build/libcvops.a" BUILD="$build" >/dev/null
pkgs="vips libturbojpeg libexif sqlite3 libcrypto"
(cd "$root" && cc -std=c11 -O2 -D_GNU_SOURCE -Isrc $(pkg-config --cflags $pkgs) bench/thumbnail.c \
  "$build/libcvops.a" $(pkg-config --libs $pkgs libmicrohttpd jansson yajl libpq libcurl libargon2 libsodium libpng libwebp libarchive expat) \
  -ldnnl -lopenblas -lgomp -lpthread -lm -o "$work/thumbnail") || die "cannot build bench/thumbnail.c"
cc -std=c11 -O2 -D_GNU_SOURCE -Wall -Wextra -Werror "$here/processing_ref.c" -o "$work/processing_ref" ||
  die "cannot build bench/processing_ref.c"
mkdir -p "$work/in" "$work/vt" "$work/va" "$work/vz"
echo "generating $n images..." >&2
"$work/thumbnail" gen "$work/in" "$n" >/dev/null || die "cannot generate the images"

start_server() { # PORT_FILE
  CVOPS_BOOTSTRAP_TOKEN=$TOKEN "$build/cvops" serve --data "$d" --listen 127.0.0.1:0 \
    --port-file "$1" --workers 1 --poll-ms 50 --log-level warn >>"$work/server.log" 2>&1 &
  SPID=$!; pids+=("$SPID")
  for _ in $(seq 400); do [ -s "$1" ] && break; sleep 0.02; done
  [ -s "$1" ] || { cat "$work/server.log" >&2; die "the server did not start"; }
  URL=http://127.0.0.1:$(cat "$1")
  export CVOPS_SERVER=$URL CVOPS_TOKEN=$TOKEN
}
d="$work/data"
start_server "$work/port"
api() { # METHOD PATH [BODY]
  curl -s -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    ${3:+-d "$3"} "$URL$2"
}

lake=$(api POST /api/v1/datalakes '{"name":"bench"}' | js 'd["id"]') || die "cannot create the datalake"
"$build/cvops" datalake upload "$work/in" --datalake bench --jobs 4 >"$work/upload.out" 2>&1 ||
  { cat "$work/upload.out" >&2; die "the upload failed"; }
ds=$(api POST /api/v1/datasets "{\"name\":\"bench\",\"datalake_id\":$lake}" | js 'd["id"]') || die "no dataset"
v=$(api POST /api/v1/datasets/$ds/versions '{"name":"v1","task":"detection"}' | js 'd["id"]') || die "no version"
api POST /api/v1/dataset-versions/$v/assets '{"q":""}' >/dev/null
api POST /api/v1/dataset-versions/$v/labels '{"name":"obj"}' >/dev/null
ids=$(api GET "/api/v1/dataset-versions/$v/assets?limit=1000" | js '" ".join(str(a["data_id"]) for a in d["items"])')
[ "$(echo $ids | wc -w)" -eq "$n" ] || die "the version has $(echo $ids | wc -w) assets, not $n"
python3 - "$ids" >"$work/ann.json" <<'PY'
import json, sys
ids = [int(x) for x in sys.argv[1].split()]
print(json.dumps({"annotations": [{"data_id": i, "shapes": [{"kind": "box", "label": "obj",
      "box": [400 + (i % 7) * 90, 200 + (i % 5) * 80, 300, 240]}]} for i in ids]}))
PY
curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  --data-binary "@$work/ann.json" "$URL/api/v1/dataset-versions/$v/annotations" >/dev/null

run() { # NAME ON PARAMS -> prints "wall_ms job_ms"; the job's result in $work/last.json
  local t0 t1 out
  t0=$(now_ns)
  out=$("$build/cvops" processing run "$1" --on "$2" ${3:+--param "$3"} --wait --json 2>&1) ||
    { echo "bench: $1 failed: $out" >&2; echo "0 0"; return; }
  t1=$(now_ns)
  printf '%s' "$out" >"$work/last.json"
  echo "$(( (t1 - t0) / 1000000 )) $(printf '%s' "$out" | js 'd["result"].get("duration_ms", 0)')"
}
timed() { # COMMAND... -> prints the milliseconds it took (nothing if it failed)
  local t0 t1
  t0=$(now_ns)
  "$@" >/dev/null 2>&1 || { echo "bench: reference failed: $*" >&2; return; }
  t1=$(now_ns)
  echo $(( (t1 - t0) / 1000000 ))
}
vips_each() { # OP -> runs the reference OP over every input image
  local f b
  for f in "$work"/in/*.jpg; do
    b=$(basename "$f" .jpg)
    case $1 in
      similarity)
        for k in 1 2; do vips similarity "$f" "$work/va/$b-$k.jpg[Q=90,strip]" --angle $((k * 7)) --scale 0.9 || return 1; done ;;
      dzsave)
        vips dzsave "$f" "$work/vz/$b" --depth one --tile-size 512 --overlap 64 --suffix '.jpg[Q=92]' || return 1 ;;
    esac
  done
}
export -f vips_each; export work

W=76
printf "%-${W}s %9s %9s %10s %10s %7s\n" "measure ($n images 1920x1080, 1 box each)" "wall ms" "job ms" "cvops" "reference" "ratio"
row() { printf "%-${W}s %9s %9s %10s %10s %7s\n" "$@"; }
export VIPS_CONCURRENCY=1
for spec in "augment|copies=2" "resize|max_side=512" "tile|tile_size=640" "split|seed=1"; do
  IFS='|' read -r name params <<<"$spec"
  read -r wall job < <(run "$name" "dataset-version:$v" "$params")
  mine=$(rate "$n" "$job") ref_ms=""
  case $name in
    resize) ref_ms=$(timed bash -c 'vipsthumbnail --size 512 -o "$work/vt/%s.jpg[Q=90,strip]" "$work"/in/*.jpg') ;;
    augment) ref_ms=$(timed bash -c 'vips_each similarity') ;;
    tile) ref_ms=$(timed bash -c 'vips_each dzsave') ;;
    split) ref_ms=$(timed api POST /api/v1/dataset-versions/$v/split '{"seed":1}') ;;
  esac
  if [ "$name" = split ]; then # times: through a job (CLI launch -> done) vs the direct call
    row "split ($params), ms: launched, to done vs POST .../split" "$wall" "$job" "$wall" "${ref_ms:--}" "$(ratio "$wall" "${ref_ms:-0}")"
    continue
  fi
  ref=$( [ -n "$ref_ms" ] && rate "$n" "$ref_ms" || echo "-")
  row "$name ($params), images/s" "$wall" "$job" "$mine" "$ref" "$(ratio "$mine" "$ref")"
done

# --- dedup on many hashes: rows written straight into the store ---------------------------
kill -TERM "$SPID"; wait "$SPID" 2>/dev/null
python3 - "$rows" "$work/hashes.txt" >"$work/hashes.sql" <<'PY'
import random, sys
n, out = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(1)
hs = []
for i in range(n):
    if i % 10 == 9:   # a near-copy of the one before: 2 bits flipped
        b = rnd.sample(range(64), 2)
        h = hs[-1] ^ (1 << b[0]) ^ (1 << b[1])
    else:
        h = rnd.getrandbits(64)
    hs.append(h)
signed = [h - (1 << 64) if h >= 1 << 63 else h for h in hs]
open(out, "w").write("\n".join(map(str, signed)) + "\n")
print("BEGIN; INSERT INTO datalake (org_id, name, created_at) VALUES (1, 'hashes', 0);")
for i, h in enumerate(signed):
    print("INSERT INTO data (datalake_id, sha256, filename, size, format, width, height, channels,"
          " created_at, phash) VALUES ((SELECT id FROM datalake WHERE name = 'hashes'), '%064x',"
          " 'h%07d.jpg', 1000, 'jpeg', 640, 480, 3, %d, %d);" % (i + 1, i + 1, i + 1, h))
print("COMMIT;")
PY
sqlite3 "$d/cvops.db" <"$work/hashes.sql" >/dev/null || die "cannot write the hashes into the store"
start_server "$work/port2"
hl=$(api GET /api/v1/datalakes | js '[l["id"] for l in d["items"] if l["name"] == "hashes"][0]')
read -r wall job < <(run dedup "datalake:$hl" "max_distance=4")
found=$(js 'd["result"].get("groups_total", "?")' <"$work/last.json" 2>/dev/null || echo "?")
read -r ref_ms within < <("$work/processing_ref" "$work/hashes.txt" 4)
pairs=$(awk -v n="$rows" 'BEGIN {printf "%.0f", n * (n - 1) / 2}')
mine=$(awk -v p="$pairs" -v ms="$job" 'BEGIN { if (ms > 0) printf "%.1f", p / ms / 1000; else print "-" }')
ref=$(awk -v p="$pairs" -v ms="$ref_ms" 'BEGIN { if (ms > 0) printf "%.1f", p / ms / 1000; else print "-" }')
row "dedup, whole job, on $rows pHashes: M pairs/s (groups $found of $((rows / 10)))" "$wall" "$job" "$mine" "$ref" "$(ratio "$mine" "$ref")"

# --- custom runs ------------------------------------------------------------------------------
printf '{"name":"noop","target":"datalake","command":["true"]}' >"$work/noop.json"
"$build/cvops" processing create "$work/noop.json" >/dev/null || die "cannot define noop"
# one Python process launches and polls (every 2 ms) both kinds of job, alternating
read -r mine ref < <(python3 - "$URL" "$TOKEN" "$lake" "$runs" <<'PY'
import json, sys, time, urllib.request
url, token, lake, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def call(method, path, body=None):
    req = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
def launch(path, body):
    t0 = time.perf_counter()
    jid = call("POST", path, body)["id"]
    while True:
        st = call("GET", "/api/v1/jobs/%d" % jid)["state"]
        if st in ("succeeded", "failed", "canceled"):
            break
        time.sleep(0.002)
    if st != "succeeded":
        sys.stderr.write("bench: job %d ended %s\n" % (jid, st))
    return (time.perf_counter() - t0) * 1000
a, b = [], []
for _ in range(runs):
    a.append(launch("/api/v1/processings/noop/run", {"on": "datalake:%d" % lake}))
    b.append(launch("/api/v1/jobs", {"kind": "system.sleep", "payload": {"ms": 0}}))
a.sort(); b.sort()
print("%.0f %.0f" % (a[(len(a) - 1) // 2], b[(len(b) - 1) // 2]))
PY
)
row "custom run of 'true' vs a 0 ms job: launch -> succeeded, ms (median of $runs)" "$mine" "-" "$mine" "$ref" "$(ratio "$mine" "$ref")"

printf 'i=0; while [ $i -lt %d ]; do echo "line $i of the log"; i=$((i+1)); done\n' "$lines" >"$work/chatty.sh"
printf '{"name":"chatty","target":"datalake","command":["sh","chatty.sh"],"resources":{"timeout_s":600}}' >"$work/chatty.json"
"$build/cvops" processing create "$work/chatty.json" --file "$work/chatty.sh" >/dev/null || die "cannot define chatty"
read -r wall job < <(run chatty "datalake:$lake" "")
jid=$(js 'd["id"]' <"$work/last.json")
last=$(api GET "/api/v1/jobs/$jid/log?after=$((lines - 10))&limit=1000" |
  js "'yes' if any(x['line'] == 'line $((lines - 1)) of the log' for x in d['items']) else 'NO'" 2>/dev/null || echo "?")
ref_ms=$(cd "$work" && timed sh chatty.sh)
mine=$(awk -v n="$lines" -v ms="$job" 'BEGIN { if (ms > 0) printf "%.0f", n / (ms / 1000); else print "-" }')
ref=$(awk -v n="$lines" -v ms="$ref_ms" 'BEGIN { if (ms > 0) printf "%.0f", n / (ms / 1000); else print "-" }')
row "line protocol: $lines lines into the log (last one there: $last), lines/s" "$wall" "$job" "$mine" "$ref" "$(ratio "$mine" "$ref")"
rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SPID/status")
row "peak server RSS after the custom runs, MB" "" "" "$rss" "" ""
kill -TERM "$SPID"; wait "$SPID" 2>/dev/null
exit 0
