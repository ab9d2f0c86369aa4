#!/usr/bin/env bash
# Datalake benchmarks (issue: datalake). Prints one table:
#   - ingest of N generated 1920x1080 JPEGs (BENCH_INGEST, default 2000) with
#     `cvops datalake upload` into a local server, thumbnails included, vs
#     Debian's vipsthumbnail alone over the same files (2 processes), same
#     run; peak server RSS during the ingest
#   - a datalake of ROWS bulk-generated items (BENCH_ROWS, default 1000000):
#     a query combining a tag, a metadata predicate and a range: first page
#     of 100 and its count through the API, vs the same SQL run directly by
#     the sqlite3 shell (reference)
# Medians of RUNS runs (default 5) for the query timings.
set -uo pipefail
build=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
n=${BENCH_INGEST:-2000}
rows=${BENCH_ROWS:-1000000}
runs=${RUNS:-5}
work=$(mktemp -d /tmp/cvops-dlbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
TOKEN=cvops_bench_token_0123456789abcdef
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

pkgs="vips libturbojpeg libexif sqlite3 libcrypto"
cc -std=c11 -O2 -D_GNU_SOURCE -Isrc $(pkg-config --cflags $pkgs) "$here/thumbnail.c" \
  "$build/libcvops.a" $(pkg-config --libs $pkgs) -lpthread -lm -o "$work/thumbnail" 2>/dev/null ||
  (cd "$root" && cc -std=c11 -O2 -D_GNU_SOURCE -Isrc $(pkg-config --cflags $pkgs) bench/thumbnail.c \
    "$build/libcvops.a" $(pkg-config --libs $pkgs libmicrohttpd jansson yajl libpq libcurl libargon2 libsodium libpng libwebp) \
    -ldnnl -lopenblas -lgomp -lpthread -lm -o "$work/thumbnail") || exit 1
mkdir -p "$work/in" "$work/vt"
echo "generating $n images..." >&2
"$work/thumbnail" gen "$work/in" "$n" >/dev/null

start_server() { # DIR
  rm -f "$1/port"
  CVOPS_BOOTSTRAP_TOKEN=$TOKEN "$build/cvops" serve --data "$1" --listen 127.0.0.1:0 \
    --port-file "$1/port" --workers 0 --log-level warn >"$1.log" 2>&1 &
  SPID=$!; pids+=("$SPID")
  for _ in $(seq 400); do [ -s "$1/port" ] && break; sleep 0.01; done
  URL=http://127.0.0.1:$(cat "$1/port")
}

# --- reference: vipsthumbnail, 2 processes ------------------------------------
files=("$work"/in/*.jpg)
t0=$(date +%s%N)
for k in 0 1; do
  share=(); for ((i = k; i < ${#files[@]}; i += 2)); do share+=("${files[i]}"); done
  VIPS_CONCURRENCY=1 vipsthumbnail --size 256 -o "$work/vt/%s.jpg[Q=80,strip]" "${share[@]}" &
done
wait
t1=$(date +%s%N)
ref_rate=$(awk -v n="$n" -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", n / (ns / 1e9)}')

# --- cvops ingest ------------------------------------------------------------
start_server "$work/d1"
t0=$(date +%s%N)
"$build/cvops" datalake upload "$work/in" --server "$URL" --token "$TOKEN" --jobs 4 --tag bench >"$work/upload.out" 2>&1
t1=$(date +%s%N)
rss=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SPID/status")
got=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/api/v1/datalakes/1/data/count" | python3 -c 'import sys,json; print(json.load(sys.stdin)["count"])')
kill -TERM "$SPID"; wait "$SPID" 2>/dev/null
cv_rate=$(awk -v n="$n" -v ns=$((t1 - t0)) 'BEGIN {printf "%.1f", n / (ns / 1e9)}')

# --- 1M rows -----------------------------------------------------------------
d="$work/d2"; start_server "$d"; kill -TERM "$SPID"; wait "$SPID" 2>/dev/null   # creates the schema
echo "generating $rows rows..." >&2
sqlite3 "$d/cvops.db" <<SQL
PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;
INSERT INTO datalake (org_id, name, created_at) VALUES (1, 'big', 0);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
INSERT INTO data (datalake_id, sha256, filename, size, format, width, height, channels, created_at, meta, phash)
SELECT 1, printf('%064x', i), printf('img%07d.jpg', i), 100000 + (i * 7919) % 900000, 'jpeg',
       640 + (i * 104729) % 3360, 480 + (i * 1299709) % 2520, 3, 1700000000000 + i * 1000,
       json_object('weather', CASE ((i / 10) * 31) % 10 WHEN 0 THEN 'rain' WHEN 1 THEN 'rain' WHEN 2 THEN 'rain' WHEN 3 THEN 'snow' ELSE 'sun' END,
                   'altitude', (i * 17) % 500),
       (i * 2654435761) % 9223372036854775807
FROM n;
INSERT INTO tag (datalake_id, name) VALUES (1, 'night'), (1, 'day'), (1, 'blurry');
INSERT INTO data_tag (tag_id, data_id) SELECT (SELECT id FROM tag WHERE name = 'night' AND datalake_id = 1), id FROM data WHERE datalake_id = 1 AND id % 10 = 3;
INSERT INTO data_tag (tag_id, data_id) SELECT (SELECT id FROM tag WHERE name = 'day' AND datalake_id = 1), id FROM data WHERE datalake_id = 1 AND id % 10 <> 3;
INSERT INTO data_tag (tag_id, data_id) SELECT (SELECT id FROM tag WHERE name = 'blurry' AND datalake_id = 1), id FROM data WHERE datalake_id = 1 AND id % 50 = 7;
INSERT INTO datalake_meta_key (datalake_id, key) VALUES (1, 'weather'), (1, 'altitude');
COMMIT;
ANALYZE;
SQL
lake=$(sqlite3 "$d/cvops.db" "SELECT id FROM datalake WHERE name = 'big'")
start_server "$d"
q='tag = "night" and meta.weather = "rain" and width >= 1024'
eq=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$q")
page=(); cnt=(); ref_page=(); ref_cnt=()
curl -s -H "Authorization: Bearer $TOKEN" "$URL/api/v1/datalakes/$lake/data?limit=100&q=$eq" -o "$work/page.json"
n_page=$(python3 -c 'import sys,json; print(len(json.load(open(sys.argv[1]))["items"]))' "$work/page.json")
n_count=$(curl -s -H "Authorization: Bearer $TOKEN" "$URL/api/v1/datalakes/$lake/data/count?q=$eq" | python3 -c 'import sys,json; print(json.load(sys.stdin)["count"])')
for i in $(seq "$runs"); do
  page+=($(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" "$URL/api/v1/datalakes/$lake/data?limit=100&q=$eq" | awk '{printf "%.1f", $1 * 1000}'))
  cnt+=($(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" "$URL/api/v1/datalakes/$lake/data/count?q=$eq" | awk '{printf "%.1f", $1 * 1000}'))
done
kill -TERM "$SPID"; wait "$SPID" 2>/dev/null
where="data.datalake_id = $lake AND data.id IN (SELECT dt.data_id FROM data_tag dt JOIN tag t ON t.id = dt.tag_id WHERE t.name = 'night') AND json_extract(data.meta, '\$.weather') = 'rain' AND data.width >= 1024"
for i in $(seq "$runs"); do
  ref_page+=($( { /usr/bin/time -f '%e' sqlite3 "$d/cvops.db" "SELECT data.id, data.filename FROM data WHERE $where ORDER BY data.created_at DESC, data.id DESC LIMIT 100" >/dev/null; } 2>&1 | awk '{printf "%.1f", $1 * 1000}'))
  ref_cnt+=($( { /usr/bin/time -f '%e' sqlite3 "$d/cvops.db" "SELECT COUNT(*) FROM data WHERE $where" >/dev/null; } 2>&1 | awk '{printf "%.1f", $1 * 1000}'))
done
mp=$(printf '%s\n' "${page[@]}" | median); mc=$(printf '%s\n' "${cnt[@]}" | median)
rp=$(printf '%s\n' "${ref_page[@]}" | median); rc=$(printf '%s\n' "${ref_cnt[@]}" | median)

printf '\n%-66s %12s %12s %8s\n' "measure" "cvops" "reference" "ratio"
printf '%-66s %12s %12s %8s\n' "ingest of $n 1920x1080 JPEGs via CLI, thumbnails (img/s) [$got stored]" "$cv_rate" "$ref_rate" \
  "$(awk -v a="$cv_rate" -v b="$ref_rate" 'BEGIN {printf "%.2f", a/b}')"
printf '%-66s %12s %12s %8s\n' "  reference: vipsthumbnail alone, 2 processes, same files" "" "" ""
printf '%-66s %12s %12s %8s\n' "peak server RSS during the ingest (MB)" "$rss" "300 (floor)" "-"
printf '%-66s %12s %12s %8s\n' "$rows rows: first page of 100 ($n_page items), median ms" "$mp" "$rp" \
  "$(awk -v a="$mp" -v b="$rp" 'BEGIN {printf "%.2f", a/b}')"
printf '%-66s %12s %12s %8s\n' "$rows rows: count ($n_count), median ms" "$mc" "$rc" \
  "$(awk -v a="$mc" -v b="$rc" 'BEGIN {printf "%.2f", a/b}')"
printf '%-66s %12s %12s %8s\n' "  query: $q" "" "" ""
printf '%-66s %12s %12s %8s\n' "  reference: the same SQL in the sqlite3 shell (process start included)" "" "" ""
tail -3 "$work/upload.out" | sed 's/^/  upload: /'
