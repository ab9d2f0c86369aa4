#!/usr/bin/env bash
# Experiment-tracking benchmarks (issue #6). Prints one table:
#   - batched logging into a local server (SQLite): points/s, batches of 10,000
#     points (10 metrics x 1,000 steps) from 4 keep-alive connections, the
#     body as JSON numbers and as packed columns; reference: the same rows
#     inserted straight into SQLite by a C program (bench/tracking_ref.c),
#     one prepared INSERT, one transaction per batch (WAL, synchronous=NORMAL)
#   - single-point requests with wrk (keep-alive, 2 threads, 64 connections)
#   - the Python client: 1,000,000 log_metric calls, the loop's own time,
#     then every point checked on the server
#   - 10,000 experiments: the experiment table's first page (50 rows, with a
#     parameter and a metric column), default order and sorted by the metric
#   - a 1,000,000-point series: a 2,000-point view (min/max and LTTB)
# Medians of RUNS runs (default 3); page and view times: medians of 15.
# The machine's 2 cores are shared: the generators run on them too.
set -uo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
runs=${RUNS:-3}
work=$(mktemp -d /tmp/cvops-bench-tracking.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
TOKEN=cvops_bench_token_0123456789abcdef
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
auth=(-H "Authorization: Bearer $TOKEN")

cc -O2 -o "$work/ref" "$here/tracking_ref.c" -lsqlite3 -lm || exit 1
cc -O2 -o "$work/load" "$here/tracking_load.c" -lcurl -lpthread -lm || exit 1

start_server() { # DIR [SERVE OPTIONS...]
  local dir=$1; shift
  mkdir -p "$dir"
  rm -f "$dir/port"
  CVOPS_BOOTSTRAP_TOKEN=$TOKEN "$build/cvops" serve --data "$dir" --listen 127.0.0.1:0 \
    --port-file "$dir/port" --log-level warn --workers 0 "$@" >"$dir/server.log" 2>&1 &
  SPID=$!; pids+=("$SPID")
  for _ in $(seq 400); do [ -s "$dir/port" ] && break; sleep 0.01; done
  PORT=$(cat "$dir/port")
  BASE=http://127.0.0.1:$PORT
}
stop_server() { kill -TERM "$SPID"; wait "$SPID" 2>/dev/null; }
api() { # METHOD PATH [BODY]
  if [ $# -ge 3 ]; then
    curl -sf "${auth[@]}" -H 'Content-Type: application/json' -X "$1" -d "$3" "$BASE$2"
  else
    curl -sf "${auth[@]}" -X "$1" "$BASE$2"
  fi
}
jget() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }
new_exp() { api POST "/api/v1/projects/$PROJECT/experiments" '{}' | jget 'd["id"]'; }
count_points() { # EXP -> total points of every metric
  api GET "/api/v1/experiments/$1/metrics" | jget 'sum(m["count"] for m in d["items"])'
}

BATCHES=${BATCHES:-200}   # x 10,000 points
start_server "$work/s"
PROJECT=$(api POST /api/v1/projects '{"name":"bench"}' | jget 'd["id"]')

# --- batched logging vs raw SQLite inserts ------------------------------------
ref=(); json=(); packed=()
for i in $(seq "$runs"); do
  rm -f "$work/ref.db"*
  ref+=($("$work/ref" "$work/ref.db" "$BATCHES" 10 1000))
  for mode in json packed; do
    e=$(new_exp)
    read -r pps size < <("$work/load" "$BASE" "$TOKEN" "$e" "$BATCHES" 10 1000 4 "$mode")
    got=$(count_points "$e")
    if [ "$got" != $((BATCHES * 10000)) ]; then echo "logging: $got of $((BATCHES * 10000)) points arrived" >&2; exit 1; fi
    if [ "$mode" = json ]; then json+=("$pps"); json_size=$size; else packed+=("$pps"); packed_size=$size; fi
  done
done
ref_m=$(printf '%s\n' "${ref[@]}" | median)
json_m=$(printf '%s\n' "${json[@]}" | median)
packed_m=$(printf '%s\n' "${packed[@]}" | median)

# --- single-point requests (wrk) ---------------------------------------------
e=$(new_exp)
cat >"$work/single.lua" <<LUA
local threads = {}
function setup(thread) thread:set("tid", #threads + 1); table.insert(threads, thread) end
local n = 0
function request()
  n = n + 1
  return wrk.format("POST", "/api/v1/experiments/$e/points",
    {["Authorization"] = "Bearer $TOKEN", ["Content-Type"] = "application/json"},
    string.format('{"points":[{"name":"w%d","step":%d,"value":%d.5}]}', tid, n, n % 7))
end
LUA
cat >"$work/health.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA
# server CPU (user + system) per request, from /proc: what the rate would be
# on 2 free cores, whatever else the machine is running
server_cpu() { awk '{print $14 + $15}' "/proc/$SPID/stat"; }
ticks=$(getconf CLK_TCK)
wrk_cpu() { # WRK ARGS... -> "req/s us-of-server-CPU-per-request"
  local c0 c1 out
  c0=$(server_cpu)
  out=$(wrk "$@" 2>/dev/null)
  c1=$(server_cpu)
  echo "$out" | awk -v c=$((c1 - c0)) -v t="$ticks" '
    /requests in/ {n = $1} /Requests\/sec/ {r = $2}
    /Non-2xx/ {print "non-2xx answers: " $0 > "/dev/stderr"}
    END {printf "%d %.1f\n", r, c / t * 1e6 / n}'
}
single=(); single_cpu=(); health_cpu=()
for i in $(seq "$runs"); do
  read -r r u < <(wrk_cpu -t2 -c64 -d"${SECS:-5}" -s "$work/single.lua" "$BASE")
  single+=("$r"); single_cpu+=("$u")
  read -r r u < <(wrk_cpu -t2 -c64 -d"${SECS:-5}" -s "$work/health.lua" "$BASE/api/v1/health")
  health+=("$r"); health_cpu+=("$u")
done
single_m=$(printf '%s\n' "${single[@]}" | median)
single_cpu_m=$(printf '%s\n' "${single_cpu[@]}" | median)
health_m=$(printf '%s\n' "${health[@]}" | median)
health_cpu_m=$(printf '%s\n' "${health_cpu[@]}" | median)
single_pts=$(count_points "$e")
# the same with the epoll pool of 2 threads instead of a thread per connection
stop_server
start_server "$work/s" --http-threads 2
pool=()
for i in $(seq "$runs"); do
  read -r r u < <(wrk_cpu -t2 -c64 -d"${SECS:-5}" -s "$work/single.lua" "$BASE")
  pool+=("$r")
done
pool_m=$(printf '%s\n' "${pool[@]}" | median)
stop_server
start_server "$work/s"

# --- the Python client ------------------------------------------------------------
py=()
for i in $(seq "$runs"); do
  out=$(PYTHONPATH="$root/clients/python" python3 - "$BASE" "$TOKEN" "$PROJECT" <<'PY'
import sys, time
from cvops import Client
c = Client(sys.argv[1], sys.argv[2])
exp = c.create_experiment(int(sys.argv[3]))
log = exp.log_metric
t0, c0 = time.perf_counter(), time.thread_time()
for i in range(1000000):
    log("loss", 1.0 / (i + 1), i)
loop, cpu = time.perf_counter() - t0, time.thread_time() - c0
exp.close()
total = time.perf_counter() - t0
got = exp.metrics()[0]["count"]
print("%.3f %.3f %.3f %d" % (loop, cpu, total, got))
PY
)
  read -r loop cpu total got <<<"$out"
  if [ "$got" != 1000000 ]; then echo "python: $got of 1000000 points arrived" >&2; exit 1; fi
  py+=("$loop"); py_cpu+=("$cpu"); py_total+=("$total")
done
py_m=$(printf '%s\n' "${py[@]}" | median)
py_cpu_m=$(printf '%s\n' "${py_cpu[@]}" | median)
py_total_m=$(printf '%s\n' "${py_total[@]}" | median)

# --- 10,000 experiments: the table's first page ------------------------------------
P2=$(api POST /api/v1/projects '{"name":"ten-thousand"}' | jget 'd["id"]')
t0=$(date +%s%N)
PYTHONPATH="$root/clients/python" python3 - "$BASE" "$TOKEN" "$P2" <<'PY' || exit 1
import sys, threading
from cvops import Client
c = Client(sys.argv[1], sys.argv[2])
project = int(sys.argv[3])
def make(k):
    for i in range(k, 10000, 4):
        e = c.request("POST", "/api/v1/projects/%d/experiments" % project,
                      {"name": "run-%05d" % i, "params": {"lr": 10 ** -(1 + i % 4), "bs": 2 ** (i % 6)},
                       "tags": ["t%d" % (i % 10)], "status": "succeeded" if i % 3 else "failed"})
        c.request("POST", "/api/v1/experiments/%d/points" % e["id"],
                  {"points": [{"name": "loss", "step": s, "value": 1.0 / (1 + s + i % 97)} for s in range(3)]})
ts = [threading.Thread(target=make, args=(k,)) for k in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
PY
setup_s=$(( ($(date +%s%N) - t0) / 1000000 ))
page_time() { # QUERY -> median ms of 15
  for i in $(seq 15); do
    curl -sf -o /dev/null -w '%{time_total}\n' "${auth[@]}" "$BASE/api/v1/projects/$P2/experiments?$1"
  done | awk '{print $1 * 1000}' | median
}
n_exp=$(api GET "/api/v1/projects/$P2" | jget 'd["experiments"]')
page_default=$(page_time "limit=50&params=lr,bs&metrics=loss")
page_sorted=$(page_time "limit=50&params=lr,bs&metrics=loss&order_by=metric:loss")
page_filtered=$(page_time "limit=50&params=lr&metrics=loss&tag=t3&status=failed&order_by=-param:lr")

# --- a 1,000,000-point series: a 2,000-point view -------------------------------
e=$(new_exp)
"$work/load" "$BASE" "$TOKEN" "$e" 100 1 10000 1 packed >/dev/null || exit 1
view_time() { # METHOD -> median ms of 15
  for i in $(seq 15); do
    curl -sf -o /dev/null -w '%{time_total}\n' "${auth[@]}" \
      "$BASE/api/v1/experiments/$e/points?name=m0&points=2000&method=$1"
  done | awk '{print $1 * 1000}' | median
}
view_pts=$(api GET "/api/v1/experiments/$e/points?name=m0&points=2000&method=lttb" | jget 'len(d["steps"])')
view_total=$(api GET "/api/v1/experiments/$e/points?name=m0&points=2000" | jget 'd["total"]')
view_minmax=$(view_time minmax)
view_lttb=$(view_time lttb)
stop_server

row() { printf '%-66s %14s %14s %8s\n' "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
printf '\n'
row "measure (median of $runs; page/view times median of 15)" "cvops" "reference" "ratio"
row "batched logging, JSON numbers (points/s; ${json_size} B per 10k)" "$json_m" "$ref_m" "$(ratio "$json_m" "$ref_m")"
row "batched logging, packed columns (points/s; ${packed_size} B per 10k)" "$packed_m" "$ref_m" "$(ratio "$packed_m" "$ref_m")"
row "  reference: raw batched SQLite INSERTs of the same rows" "" "" ""
row "  floors: 500,000 points/s and 0.5x the reference" "" "" ""
row "single-point requests, wrk -t2 -c64 (req/s; floor 10,000)" "$single_m" "10000" "$(ratio "$single_m" 10000)"
row "  the same, --http-threads 2 (epoll pool; req/s)" "$pool_m" "10000" "$(ratio "$pool_m" 10000)"
row "  points stored by the thread-per-connection runs" "$single_pts" "" ""
row "  server CPU per request (us): single point vs GET /api/v1/health" "$single_cpu_m" "$health_cpu_m" "$(ratio "$single_cpu_m" "$health_cpu_m")"
row "  GET /api/v1/health in the same conditions (req/s)" "$health_m" "" ""
row "Python: 1,000,000 log_metric calls, the loop, wall (s; floor 5)" "$py_m" "5" "$(ratio 5 "$py_m")"
row "  the loop's thread CPU time (s)" "$py_cpu_m" "5" "$(ratio 5 "$py_cpu_m")"
row "  until every point is on the server (s), all arrived" "$py_total_m" "" ""
row "10,000 experiments ($n_exp): first page, newest first (ms; floor 300)" "$page_default" "300" "$(ratio 300 "$page_default")"
row "  first page sorted by the latest loss (ms)" "$page_sorted" "300" "$(ratio 300 "$page_sorted")"
row "  first page filtered by tag and status, sorted by a param (ms)" "$page_filtered" "300" "$(ratio 300 "$page_filtered")"
row "  (created through the API in $setup_s ms)" "" "" ""
row "1,000,000-point series ($view_total): $view_pts-point min/max view (ms; floor 100)" "$view_minmax" "100" "$(ratio 100 "$view_minmax")"
row "  the same, LTTB (ms)" "$view_lttb" "100" "$(ratio 100 "$view_lttb")"
