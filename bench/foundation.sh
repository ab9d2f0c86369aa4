#!/usr/bin/env bash
# Foundation benchmarks (issue: foundation). Prints one table:
#   - start-up: time until /api/v1/health answers
#   - authenticated small GET (GET /api/v1/jobs/{id} with a Bearer token), wrk,
#     a thread per connection (the default) and 2 and 4 event threads
#     (--http-threads; with wrk's 2 threads on the same 2 cores, a server
#     thread is often preempted by the wrk thread its answer wakes, and
#     more event threads than cores keep a core busy meanwhile), against a
#     bare libmicrohttpd server in the same mode (reference)
#   - a 1 GiB streamed upload: peak server RSS, throughput vs cp of the file
#   - 100 jobs shared by 2 worker processes on PostgreSQL: each runs once;
#     a worker killed with SIGKILL mid-job: its job completes on the other
# Medians of RUNS runs (default 3).
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-3}
work=$(mktemp -d /tmp/cvops-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; "$here/../tests/services" stop "$work/svc" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
TOKEN=cvops_bench_token_0123456789abcdef
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
json() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }

cc -O2 -o "$work/http_ref" "$here/http_ref.c" $(pkg-config --cflags --libs libmicrohttpd) || exit 1

start_server() { # DIR EXTRA... ; sets PORT, SPID
  local dir=$1; shift
  rm -f "$dir/port"
  CVOPS_BOOTSTRAP_TOKEN=$TOKEN "$build/cvops" serve --data "$dir" --listen 127.0.0.1:0 \
    --port-file "$dir/port" --log-level warn "$@" >"$dir/server.log" 2>&1 &
  SPID=$!; pids+=("$SPID")
  for _ in $(seq 400); do [ -s "$dir/port" ] && break; sleep 0.01; done
  PORT=$(cat "$dir/port")
}
stop_server() { kill -TERM "$SPID"; wait "$SPID" 2>/dev/null; }
auth=(-H "Authorization: Bearer $TOKEN")

# --- start-up --------------------------------------------------------------
startup=()
for i in $(seq "$runs"); do
  d="$work/start$i"; mkdir -p "$d"
  t0=$(date +%s%N)
  CVOPS_BOOTSTRAP_TOKEN=$TOKEN "$build/cvops" serve --data "$d" --listen 127.0.0.1:0 --port-file "$d/port" --log-level warn >/dev/null 2>&1 &
  p=$!; pids+=("$p")
  until [ -s "$d/port" ] && curl -sf "http://127.0.0.1:$(cat "$d/port")/api/v1/health" >/dev/null; do sleep 0.005; done
  t1=$(date +%s%N)
  startup+=($(( (t1 - t0) / 1000000 )))
  kill -TERM "$p"; wait "$p" 2>/dev/null
done
startup_ms=$(printf '%s\n' "${startup[@]}" | median)

# --- authenticated small GET ----------------------------------------------
cat >"$work/auth.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
d="$work/get"; mkdir -p "$d"
start_server "$d" --workers 1
job=$(curl -s "${auth[@]}" -H 'Content-Type: application/json' -d '{"kind":"system.sleep","payload":{"ms":1}}' "http://127.0.0.1:$PORT/api/v1/jobs" | json 'd["id"]')
sleep 0.5
stop_server
rps() { wrk -t2 -c"${CONNS:-64}" -d"${SECS:-5}" "$@" 2>/dev/null | awk '/Requests\/sec/ {printf "%d\n", $2}'; }
declare -A res
for mode in 0 2 4; do
  start_server "$d" --workers 0 --http-threads "$mode"
  curl -sf "${auth[@]}" "http://127.0.0.1:$PORT/api/v1/jobs/$job" >/dev/null || { echo "GET failed" >&2; exit 1; }
  vals=(); for i in $(seq "$runs"); do vals+=($(rps -s "$work/auth.lua" "http://127.0.0.1:$PORT/api/v1/jobs/$job")); done
  res[cvops_$mode]=$(printf '%s\n' "${vals[@]}" | median)
  stop_server
  rp=$((20000 + RANDOM % 20000))
  "$work/http_ref" "$rp" "$mode" & r=$!; pids+=("$r"); sleep 0.3
  vals=(); for i in $(seq "$runs"); do vals+=($(rps "http://127.0.0.1:$rp/")); done
  res[ref_$mode]=$(printf '%s\n' "${vals[@]}" | median)
  kill "$r"; wait "$r" 2>/dev/null
done

# --- 1 GiB upload ---------------------------------------------------------
big="$work/big.bin"
head -c $((1 << 30)) /dev/urandom >"$big"
up_rss=(); up_mbs=(); cp_mbs=(); base_rss=()
for i in $(seq "$runs"); do
  printf '%08d' "$i" | dd of="$big" conv=notrunc status=none   # new content each run
  d="$work/up$i"; mkdir -p "$d"
  start_server "$d" --workers 0
  sleep 0.3
  base_rss+=($(awk '/VmRSS/ {print int($2/1024)}' "/proc/$SPID/status"))
  echo 5 > "/proc/$SPID/clear_refs"   # reset the peak: start-up (argon2 of the bootstrap) is not the upload
  t0=$(date +%s%N)
  curl -sf "${auth[@]}" -T "$big" "http://127.0.0.1:$PORT/api/v1/files" >/dev/null || { echo "upload failed" >&2; exit 1; }
  t1=$(date +%s%N)
  up_rss+=($(awk '/VmHWM/ {print int($2/1024)}' "/proc/$SPID/status"))
  up_mbs+=($(( 1024 * 1000000000 / (t1 - t0) )))
  stop_server
  t0=$(date +%s%N); cp "$big" "$d/copy.bin"; sync "$d/copy.bin"; t1=$(date +%s%N)
  cp_mbs+=($(( 1024 * 1000000000 / (t1 - t0) )))
  rm -rf "$d"
done
rm -f "$big"
rss=$(printf '%s\n' "${up_rss[@]}" | median)
brss=$(printf '%s\n' "${base_rss[@]}" | median)
upm=$(printf '%s\n' "${up_mbs[@]}" | median)
cpm=$(printf '%s\n' "${cp_mbs[@]}" | median)

# --- jobs on PostgreSQL with 2 worker processes ---------------------------
"$here/../tests/services" start "$work/svc" >/dev/null || exit 1
. "$work/svc/env"
run_jobs() { # NWORKERS -> prints "seconds once_ok"
  local nw=$1 db
  db="jobs_${nw}_$RANDOM$RANDOM"
  psql -q "$CVOPS_TEST_PG_ADMIN_URL" -c "CREATE DATABASE $db" >/dev/null
  local url="${CVOPS_TEST_PG_ADMIN_URL%/*}/$db" blobs="$CVOPS_TEST_S3_URL&prefix=$db/"
  local d="$work/$db"; mkdir -p "$d"
  start_server "$d" --db "$url" --blobs "$blobs" --workers 0
  local base="http://127.0.0.1:$PORT" ws=()
  for j in $(seq 100); do
    curl -sf "${auth[@]}" -H 'Content-Type: application/json' -d '{"kind":"system.sleep","payload":{"ms":50,"steps":1}}' "$base/api/v1/jobs" >/dev/null
  done
  local t0; t0=$(date +%s%N)   # the queue is full: time how fast the workers drain it
  for w in $(seq "$nw"); do
    "$build/cvops" worker --db "$url" --blobs "$blobs" --data "$d" --workers 2 --poll-ms 50 --name "w$w" --log-level warn >/dev/null 2>&1 &
    ws+=($!); pids+=($!)
  done
  while :; do
    left=$(curl -s "${auth[@]}" "$base/api/v1/jobs?limit=1000" | json 'sum(1 for j in d["items"] if j["state"] != "succeeded")')
    [ "$left" = 0 ] && break; sleep 0.05
  done
  local t1; t1=$(date +%s%N)
  local once
  once=$(curl -s "${auth[@]}" "$base/api/v1/jobs?limit=1000" | json 'all(j["attempts"] == 1 for j in d["items"]) and len(d["items"]) == 100')
  local by
  by=$(psql -qtA "$url" -c "SELECT string_agg(n::text, '/') FROM (SELECT count(*) n FROM job_log WHERE line LIKE '%started on w%' GROUP BY substring(line from 'started on (w[0-9]+)') ORDER BY 1) x")
  echo "$(( (t1 - t0) / 1000000 )) $once $by"
  for w in "${ws[@]}"; do kill -TERM "$w"; wait "$w" 2>/dev/null; done
  stop_server
}
read -r ms2 once2 by2 < <(run_jobs 2)
read -r ms1 once1 by1 < <(run_jobs 1)

# killed worker
db="killtest_$RANDOM"; psql -q "$CVOPS_TEST_PG_ADMIN_URL" -c "CREATE DATABASE $db" >/dev/null
url="${CVOPS_TEST_PG_ADMIN_URL%/*}/$db"; blobs="$CVOPS_TEST_S3_URL&prefix=$db/"
d="$work/$db"; mkdir -p "$d"
start_server "$d" --db "$url" --blobs "$blobs" --workers 0
base="http://127.0.0.1:$PORT"
"$build/cvops" worker --db "$url" --blobs "$blobs" --data "$d" --workers 1 --lease-seconds 2 --poll-ms 50 --name victim >/dev/null 2>&1 & v=$!; pids+=($v)
kid=$(curl -s "${auth[@]}" -H 'Content-Type: application/json' -d '{"kind":"system.sleep","payload":{"ms":3000}}' "$base/api/v1/jobs" | json 'd["id"]')
until [ "$(curl -s "${auth[@]}" "$base/api/v1/jobs/$kid" | json 'd["state"]')" = running ]; do sleep 0.05; done
sleep 0.5; kill -9 "$v"
"$build/cvops" worker --db "$url" --blobs "$blobs" --data "$d" --workers 1 --lease-seconds 2 --poll-ms 50 --name rescuer >/dev/null 2>&1 & r=$!; pids+=($r)
t0=$(date +%s%N)
until [ "$(curl -s "${auth[@]}" "$base/api/v1/jobs/$kid" | json 'd["state"]')" = succeeded ]; do sleep 0.1; done
t1=$(date +%s%N)
kattempts=$(curl -s "${auth[@]}" "$base/api/v1/jobs/$kid" | json 'd["attempts"]')
kill -TERM "$r"; stop_server

printf '\n%-58s %14s %14s %8s\n' "measure (median of $runs)" "cvops" "reference" "ratio"
printf '%-58s %14s %14s %8s\n' "start-up until /api/v1/health answers (ms)" "$startup_ms" "2000 (floor)" "-"
for mode in 0 2 4; do
  label=$([ "$mode" = 0 ] && echo "thread per connection" || echo "$mode event threads")
  printf '%-58s %14s %14s %8s\n' "authenticated GET /api/v1/jobs/{id}, $label (req/s)" "${res[cvops_$mode]}" "${res[ref_$mode]}" \
    "$(awk -v a="${res[cvops_$mode]}" -v b="${res[ref_$mode]}" 'BEGIN {printf "%.2f", a/b}')"
done
printf '%-58s %14s %14s %8s\n' "  reference: bare libmicrohttpd, fixed JSON, same mode" "" "" ""
printf '%-58s %14s %14s %8s\n' "1 GiB streamed upload: peak server RSS (MB)" "$rss" "50 (floor)" "-"
printf '%-58s %14s %14s %8s\n' "  the idle server before it (MB; mostly shared libraries)" "$brss" "" ""
printf '%-58s %14s %14s %8s\n' "1 GiB streamed upload throughput vs cp+sync (MB/s)" "$upm" "$cpm" \
  "$(awk -v a="$upm" -v b="$cpm" 'BEGIN {printf "%.2f", a/b}')"
printf '%-58s %14s %14s %8s\n' "100 queued jobs x 50 ms: drain, 2 worker procs vs 1 (ms)" "$ms2" "$ms1" \
  "$(awk -v a="$ms1" -v b="$ms2" 'BEGIN {printf "%.2f", a/b}')"
printf '%-58s %14s %14s %8s\n' "  each ran exactly once (2 procs / 1 proc)" "$once2" "$once1" ""
printf '%-58s %14s %14s %8s\n' "  jobs per worker process" "$by2" "$by1" ""
printf '%-58s %14s %14s %8s\n' "killed worker's job: attempts, seconds to complete" "$kattempts" "$(( (t1 - t0) / 1000000 ))ms" ""
