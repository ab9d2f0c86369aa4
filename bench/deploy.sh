#!/usr/bin/env bash
# Model-operations benchmarks (issue #10, "Floors and proof"). Prints one table:
#   - monitoring-only ingest: N (BENCH_PREDICTIONS, default 5,000) reports of
#     distinct 64x64 JPEGs, each with a model output of one or two boxes and a
#     latency, from 8 keep-alive connections (bench/deploy_load.c) into a
#     monitor deployment with sample_rate 0 (every prediction recorded with its
#     rollups and image features, no image kept): predictions/s, floor 2,000;
#     reference: the same generator uploading images of the same kind with
#     PUT /api/v1/files (the blob store alone), same run, so the ratio is the
#     prediction record's cost; also with sample_rate 1 (every image stored in
#     the datalake, thumbnail included; N/5 reports). Every prediction is
#     counted back through the API (and every stored image with sample_rate 1).
#   - dashboards over 1,000,000 stored predictions (BENCH_ROWS): the server is
#     stopped, 1M prediction rows spread over the last 30 days and their
#     rollups (minute, hour, day; labels) are bulk-inserted with the sqlite3
#     shell, computed from the rows so they agree; then GET .../metrics at
#     resolution hour and day over the whole range, minute over the default
#     last 24 hours, and the first page of GET .../predictions?status=...,
#     median of 15 curl runs each; floor 200 ms; reference: the same SQL run by
#     the sqlite3 shell, bound parameters (per query: the shell's .timer summed
#     over R runs in one shell, R for about 100 ms, at most 50; median of 15).
#     The metrics' total count must be 1,000,000.
# Medians of RUNS runs (default 3) for the ingest.
# The machine's 2 cores are shared: the generator runs on them too.
set -uo pipefail
build=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-3}
n=${BENCH_PREDICTIONS:-5000}
n_stored=$((n / 5)) # sample_rate 1 (thumbnails) is slower: fewer reports
rows=${BENCH_ROWS:-1000000}
conns=8
work=$(mktemp -d /tmp/cvops-bench-deploy.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
TOKEN=cvops_bench_token_0123456789abcdef
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
auth=(-H "Authorization: Bearer $TOKEN")

cc -O2 -o "$work/load" "$here/deploy_load.c" $(pkg-config --cflags --libs libturbojpeg libcurl) -lpthread || exit 1

start_server() { # DIR
  local dir=$1
  mkdir -p "$dir"
  rm -f "$dir/port"
  CVOPS_BOOTSTRAP_TOKEN=$TOKEN "$build/cvops" serve --data "$dir" --listen 127.0.0.1:0 \
    --port-file "$dir/port" --log-level warn --workers 0 >>"$dir/server.log" 2>&1 &
  SPID=$!; pids+=("$SPID")
  for _ in $(seq 400); do [ -s "$dir/port" ] && break; sleep 0.01; done
  BASE=http://127.0.0.1:$(cat "$dir/port")
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
new_deployment() { # NAME SAMPLE_RATE
  api POST /api/v1/deployments "{\"name\":\"$1\",\"mode\":\"monitor\",\"sample_rate\":$2}" | jget 'd["id"]'
}
# server CPU (user + system ticks) from /proc, to give the cost per request
# whatever else the machine is running
server_cpu() { awk '{print $14 + $15}' "/proc/$SPID/stat"; }
ticks=$(getconf CLK_TCK)
cpu_us() { awk -v c="$1" -v t="$ticks" -v n="$2" 'BEGIN {printf "%.0f", c / t * 1e6 / n}'; }

# --- monitoring-only ingest vs the blob store alone ---------------------------
start_server "$work/s"
files=(); preds=(); stored=(); files_cpu=(); preds_cpu=(); stored_cpu=()
seed=1
for i in $(seq "$runs"); do
  c0=$(server_cpu)
  read -r rate size p50 p99 < <("$work/load" "$BASE" "$TOKEN" - "$n" "$conns" $((seed++)) files) || exit 1
  files+=("$rate"); files_cpu+=("$(cpu_us $(($(server_cpu) - c0)) "$n")"); files_size=$size
  for rate_kind in 0 1; do
    k=$n; [ "$rate_kind" = 1 ] && k=$n_stored
    dep=$(new_deployment "bench-$i-$rate_kind" "$rate_kind") || exit 1
    c0=$(server_cpu)
    read -r rate size p50 p99 < <("$work/load" "$BASE" "$TOKEN" "$dep" "$k" "$conns" $((seed++)) predictions) || exit 1
    cpu=$(cpu_us $(($(server_cpu) - c0)) "$k")
    got=$(api GET "/api/v1/deployments/$dep" | jget 'd["predictions"]')
    total=$(api GET "/api/v1/deployments/$dep/metrics?resolution=minute&from=0" | jget 'd["totals"]["count"]')
    if [ "$got" != "$k" ] || [ "$total" != "$k" ]; then
      echo "ingest: $got predictions stored, $total counted in the rollups, of $k sent" >&2; exit 1
    fi
    if [ "$rate_kind" = 0 ]; then
      preds+=("$rate"); preds_cpu+=("$cpu"); preds_size=$size; preds_p50+=("$p50"); preds_p99+=("$p99")
    else
      kept=$(api GET "/api/v1/datalakes/$(api GET "/api/v1/deployments/$dep" | jget 'd["datalake_id"]')/data/count?q=$(python3 -c 'import urllib.parse; print(urllib.parse.quote("tag = \"deployment-'"$dep"'\""))')" | jget 'd["count"]')
      if [ "$kept" != "$k" ]; then echo "ingest: $kept of $k images in the datalake with sample_rate 1" >&2; exit 1; fi
      stored+=("$rate"); stored_cpu+=("$cpu")
    fi
  done
done
stop_server
files_m=$(printf '%s\n' "${files[@]}" | median)
preds_m=$(printf '%s\n' "${preds[@]}" | median)
stored_m=$(printf '%s\n' "${stored[@]}" | median)
files_cpu_m=$(printf '%s\n' "${files_cpu[@]}" | median)
preds_cpu_m=$(printf '%s\n' "${preds_cpu[@]}" | median)
stored_cpu_m=$(printf '%s\n' "${stored_cpu[@]}" | median)
p50_m=$(printf '%s\n' "${preds_p50[@]}" | median)
p99_m=$(printf '%s\n' "${preds_p99[@]}" | median)

# --- 1,000,000 stored predictions: dashboards ------------------------------------
d="$work/big"
start_server "$d"
DEP=$(new_deployment big 0) || exit 1
stop_server
now_ms=$(($(date +%s%N) / 1000000))
span=$((30 * 86400000))
t0=$((now_ms - span))
step=$((span / rows))
echo "generating $rows predictions and their rollups..." >&2
g0=$(date +%s%N)
{
  cat <<SQL
PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows),
v AS (SELECT i, $t0 + i * $step AS at,
        CASE (i * 7919) % 10 WHEN 0 THEN 'person' WHEN 1 THEN 'person' WHEN 2 THEN 'person'
          WHEN 3 THEN 'bicycle' WHEN 4 THEN 'truck' WHEN 5 THEN 'dog' ELSE 'car' END AS label,
        0.3 + ((i * 104729) % 700) / 1000.0 AS score, 1 + i % 3 AS objects,
        2 + ((i * 1299709) % 780) / 10.0 + CASE WHEN i % 97 = 0 THEN 400 ELSE 0 END AS latency,
        CASE WHEN i % 500 = 0 THEN 1 ELSE 0 END AS error,
        CASE WHEN i % 100 = 0 THEN 'reviewed' WHEN i % 100 = 1 THEN 'submitted' ELSE 'to_review' END AS status
      FROM n)
INSERT INTO prediction (deployment_id, sha256, dedup_key, output, top_label, top_score, objects,
                        latency_ms, at, source, error, features, status, review)
SELECT $DEP, printf('%064x', i), printf('%064x', i),
       printf('{"classes":[],"boxes":[{"x":%d,"y":%d,"w":%d,"h":%d,"label":"%s","score":%.3f}]}',
              i % 32, i % 29, 4 + i % 28, 4 + i % 27, label, score),
       label, score, objects, latency, at, 'bench', error,
       printf('{"brightness":%.3f,"contrast":%.3f,"sharpness":%.3f,"width":64,"height":64}',
              60 + (i % 120) * 1.0, 10 + (i % 40) * 1.0, 3 + (i % 17) * 1.0),
       status,
       CASE WHEN status = 'to_review' THEN NULL ELSE
         printf('{"classes":[],"boxes":[{"x":%d,"y":%d,"w":%d,"h":%d,"label":"%s"}]}',
                i % 32, i % 29, 4 + i % 28, 4 + i % 27, label) END
FROM v;
SQL
  lat_case="CASE WHEN latency_ms <= 1 THEN 0 WHEN latency_ms <= 2 THEN 1 WHEN latency_ms <= 5 THEN 2"
  lat_case+=" WHEN latency_ms <= 10 THEN 3 WHEN latency_ms <= 20 THEN 4 WHEN latency_ms <= 50 THEN 5"
  lat_case+=" WHEN latency_ms <= 100 THEN 6 WHEN latency_ms <= 200 THEN 7 WHEN latency_ms <= 500 THEN 8"
  lat_case+=" WHEN latency_ms <= 1000 THEN 9 WHEN latency_ms <= 2000 THEN 10 WHEN latency_ms <= 5000 THEN 11"
  lat_case+=" WHEN latency_ms <= 10000 THEN 12 ELSE 13 END"
  lcols=""; lsums=""; scols=""; ssums=""
  for b in $(seq 0 13); do lcols+=", l$b"; lsums+=", SUM(lb = $b)"; done
  for b in $(seq 0 9); do scols+=", s$b"; ssums+=", SUM(sb = $b)"; done
  # minute rollups from the rows; hour and day ones add up the minute ones
  cat <<SQL
INSERT INTO deployment_rollup (deployment_id, res, bucket, n, errors, objects, latency_sum, score_sum,
                               shadow_n, agree$lcols$scols)
SELECT $DEP, 'minute', bucket, COUNT(*), SUM(error), SUM(objects), SUM(latency_ms), SUM(score), 0, 0$lsums$ssums
FROM (SELECT at - at % 60000 AS bucket, error, objects, latency_ms, COALESCE(top_score, 0) AS score,
             $lat_case AS lb, MIN(MAX(CAST(COALESCE(top_score, 0) * 10 AS INTEGER), 0), 9) AS sb
      FROM prediction WHERE deployment_id = $DEP)
GROUP BY bucket;
INSERT INTO deployment_rollup_label (deployment_id, res, bucket, label, n)
SELECT $DEP, 'minute', at - at % 60000, top_label, COUNT(*) FROM prediction
WHERE deployment_id = $DEP AND top_label IS NOT NULL GROUP BY 3, 4;
SQL
  rsums=""
  for c in ${lcols//,/ } ${scols//,/ }; do rsums+=", SUM($c)"; done
  for r in hour:3600000 day:86400000; do
    res=${r%%:*}; ms=${r#*:}
    cat <<SQL
INSERT INTO deployment_rollup (deployment_id, res, bucket, n, errors, objects, latency_sum, score_sum,
                               shadow_n, agree$lcols$scols)
SELECT $DEP, '$res', bucket - bucket % $ms, SUM(n), SUM(errors), SUM(objects), SUM(latency_sum),
       SUM(score_sum), 0, 0$rsums
FROM deployment_rollup WHERE deployment_id = $DEP AND res = 'minute' GROUP BY 3;
INSERT INTO deployment_rollup_label (deployment_id, res, bucket, label, n)
SELECT $DEP, '$res', bucket - bucket % $ms, label, SUM(n) FROM deployment_rollup_label
WHERE deployment_id = $DEP AND res = 'minute' GROUP BY 3, 4;
SQL
  done
  echo "COMMIT;"
} >"$work/gen.sql"
sqlite3 "$d/cvops.db" <"$work/gen.sql" >/dev/null || { echo "bulk insert failed" >&2; exit 1; }
gen_s=$(awk -v ns=$(($(date +%s%N) - g0)) 'BEGIN {printf "%.0f", ns / 1e9}')
start_server "$d"

far=4102444800000 # 2100-01-01
whole="from=0&to=$far"
total_hour=$(api GET "/api/v1/deployments/$DEP/metrics?resolution=hour&$whole" | jget 'd["totals"]["count"]')
total_day=$(api GET "/api/v1/deployments/$DEP/metrics?resolution=day&$whole" | jget 'd["totals"]["count"]')
n_hour=$(api GET "/api/v1/deployments/$DEP/metrics?resolution=hour&$whole" | jget 'len(d["series"])')
n_minute=$(api GET "/api/v1/deployments/$DEP/metrics?resolution=minute" | jget 'len(d["series"])')
if [ "$total_hour" != "$rows" ] || [ "$total_day" != "$rows" ]; then
  echo "dashboard: totals $total_hour (hour) and $total_day (day), expected $rows" >&2; exit 1
fi
page_n=$(api GET "/api/v1/deployments/$DEP/predictions?status=to_review" | jget 'len(d["items"])')
page_r=$(api GET "/api/v1/deployments/$DEP/predictions?status=reviewed" | jget 'len(d["items"])')
get_time() { # PATH -> median ms of 15
  for i in $(seq 15); do
    curl -sf -o /dev/null -w '%{time_total}\n' "${auth[@]}" "$BASE$1"
  done | awk '{print $1 * 1000}' | median
}
m_hour=$(get_time "/api/v1/deployments/$DEP/metrics?resolution=hour&$whole")
m_day=$(get_time "/api/v1/deployments/$DEP/metrics?resolution=day&$whole")
m_minute=$(get_time "/api/v1/deployments/$DEP/metrics?resolution=minute")
l_review=$(get_time "/api/v1/deployments/$DEP/predictions?status=to_review")
l_reviewed=$(get_time "/api/v1/deployments/$DEP/predictions?status=reviewed")
dep_get=$(get_time "/api/v1/deployments/$DEP")
stop_server

# the same SQL in the sqlite3 shell, with the parameters bound as the server binds them
ORG=$(sqlite3 "$d/cvops.db" "SELECT org_id FROM deployment WHERE id = $DEP")
cols="bucket, n, errors, objects, latency_sum, score_sum, shadow_n, agree$(for b in $(seq 0 13); do printf ', l%d' "$b"; done)$(for b in $(seq 0 9); do printf ', s%d' "$b"; done)"
params() { # VALUES... -> shell commands binding $1, $2, ... as the server does
  local k=1
  echo ".parameter init"
  for v in "$@"; do echo ".parameter set \$$k $v"; k=$((k + 1)); done
}
metrics_sql() { # RES FROM TO: deploy_get_info, the rollup series, the labels
  params "$DEP" "$ORG"
  echo "SELECT id, org_id, datalake_id, champion_version_id, shadow_version_id, mode, sample_rate, min_score FROM deployment WHERE id = \$1 AND org_id = \$2;"
  params "$DEP" "'$1'" "$2" "$3"
  echo "SELECT $cols FROM deployment_rollup WHERE deployment_id = \$1 AND res = \$2 AND bucket >= \$3 AND bucket < \$4 ORDER BY bucket;"
  echo "SELECT label, SUM(n) FROM deployment_rollup_label WHERE deployment_id = \$1 AND res = \$2 AND bucket >= \$3 AND bucket < \$4 GROUP BY label ORDER BY 2 DESC, label LIMIT 100;"
}
pred_cols="p.id, p.deployment_id, p.sha256, p.data_id, p.champion_version_id, p.shadow_version_id, p.output, p.shadow_output, p.top_label, p.top_score, p.objects, p.latency_ms, p.at, p.source, p.error, p.features, p.status, p.review, p.reviewed_by, p.reviewed_at"
list_sql() { # STATUS: deploy_get_info, the first page (limit 50 + 1)
  params "$DEP" "$ORG"
  echo "SELECT id, org_id, datalake_id, champion_version_id, shadow_version_id, mode, sample_rate, min_score FROM deployment WHERE id = \$1 AND org_id = \$2;"
  params "$DEP" 9223372036854775807 "'$1'" "''" 0.0 1.0 0 9223372036854775807 51
  echo "SELECT $pred_cols FROM prediction p WHERE p.deployment_id = \$1 AND p.id < \$2 AND (\$3 = '' OR p.status = \$3) AND (\$4 = '' OR p.top_label = \$4) AND COALESCE(p.top_score, 0) >= \$5 AND COALESCE(p.top_score, 0) <= \$6 AND p.at >= \$7 AND p.at < \$8 ORDER BY p.id DESC LIMIT \$9;"
}
ref_time() { # SQL on stdin -> median ms of 15 shells, each running it R times (sum of .timer)
  local q reps est; q=$(cat)
  # the shell's .timer gives each statement's wall time in whole ms of the clock; summed over
  # R runs that is unbiased (a 0.3 ms query crosses a ms tick 3 times in 10)
  run() { # REPS -> ms per run
    { echo ".output /dev/null"; echo ".timer on"; for _ in $(seq "$1"); do echo "$q"; done; } >"$work/ref.sql"
    sqlite3 "$d/cvops.db" <"$work/ref.sql" | awk -v r="$1" '/^Run Time: real/ {s += $4} END {printf "%.3f\n", s * 1000 / r}'
  }
  est=$(run 1)
  # R: about 100 ms of queries per shell, 1 to 50
  reps=$(awk -v v="$est" 'BEGIN {r = v > 2 ? int(100 / v) : 50; print (r < 1 ? 1 : r > 50 ? 50 : r)}')
  for _ in $(seq 15); do run "$reps"; done | median
}
r_hour=$(metrics_sql hour 0 "$far" | ref_time)
r_day=$(metrics_sql day 0 "$far" | ref_time)
r_minute=$(metrics_sql minute $((now_ms - 86400000)) $((now_ms + 60000)) | ref_time)
r_review=$(list_sql to_review | ref_time)
r_reviewed=$(list_sql reviewed | ref_time)
r_dep=$({ params "$DEP" "$ORG"; echo "SELECT d.id, d.name, d.description, d.mode, d.champion_version_id, d.shadow_version_id, d.datalake_id, d.sample_rate, d.min_score, d.created_at, (SELECT COUNT(*) FROM prediction p WHERE p.deployment_id = d.id), (SELECT COUNT(*) FROM deployment_alert a WHERE a.deployment_id = d.id AND a.state = 'firing') FROM deployment d WHERE d.id = \$1 AND d.org_id = \$2;"; } | ref_time)

row() { printf '%-72s %10s %10s %8s\n' "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
printf '\n'
row "measure (ingest: median of $runs runs; times: median of 15)" "cvops" "reference" "ratio"
row "monitoring ingest, $n 64x64 JPEG reports, $conns conns (predictions/s)" "$preds_m" "$files_m" "$(ratio "$preds_m" "$files_m")"
row "  reference: PUT /api/v1/files of the same kind of images (files/s)" "" "" ""
row "  floor: 2,000 predictions/s" "$preds_m" "2000" "$(ratio "$preds_m" 2000)"
row "  per report: ${preds_size} B body; latency p50 / p99 (ms)" "$p50_m" "$p99_m" ""
row "  server CPU per request (us): prediction vs file upload" "$preds_cpu_m" "$files_cpu_m" "$(ratio "$preds_cpu_m" "$files_cpu_m")"
row "  sample_rate 1, every image into the datalake, $n_stored reports (pred/s)" "$stored_m" "$files_m" "$(ratio "$stored_m" "$files_m")"
row "    server CPU per request (us)" "$stored_cpu_m" "$files_cpu_m" "$(ratio "$stored_cpu_m" "$files_cpu_m")"
row "  all $n predictions of each run counted back (GET deployment, metrics)" "yes" "" ""
row "$rows stored predictions (totals: $total_hour), generated in ${gen_s} s" "" "" ""
row "  metrics, resolution hour, whole range ($n_hour buckets) (ms)" "$m_hour" "$r_hour" "$(ratio "$m_hour" "$r_hour")"
row "  metrics, resolution day, whole range (ms)" "$m_day" "$r_day" "$(ratio "$m_day" "$r_day")"
row "  metrics, resolution minute, last 24 hours ($n_minute buckets) (ms)" "$m_minute" "$r_minute" "$(ratio "$m_minute" "$r_minute")"
row "  predictions?status=to_review, first page of $page_n (ms)" "$l_review" "$r_review" "$(ratio "$l_review" "$r_review")"
row "  predictions?status=reviewed (1% of rows), first page of $page_r (ms)" "$l_reviewed" "$r_reviewed" "$(ratio "$l_reviewed" "$r_reviewed")"
row "  floor: 200 ms each; slowest of the above" "$(printf '%s\n' "$m_hour" "$m_day" "$m_minute" "$l_review" "$l_reviewed" | sort -n | tail -1)" "200" ""
row "  GET /api/v1/deployments/{id} (counts the predictions) (ms)" "$dep_get" "$r_dep" "$(ratio "$dep_get" "$r_dep")"
row "  reference: the same SQL in the sqlite3 shell, per query" "" "" ""
