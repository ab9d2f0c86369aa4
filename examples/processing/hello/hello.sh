#!/bin/sh
# hello: a custom processing in a few lines of shell, speaking the line
# protocol on standard output (docs/processings.md):
#   ::progress FRACTION MESSAGE   ::log TEXT   ::output data PATH TAGS...
#   ::result {"json": "object"}
# Any other line, and everything on stderr, goes to the job's log.
#
#   cvops processing create examples/processing/hello/manifest.json \
#         --file examples/processing/hello/hello.sh
#   cvops processing run hello --on datalake:1 --param count=5 --wait
set -eu
# parameters arrive as JSON; this script only needs two numbers and a word
count=$(printf '%s' "$CVOPS_PARAMS" | sed -n 's/.*"count": *\([0-9]*\).*/\1/p')
tag=$(printf '%s' "$CVOPS_PARAMS" | sed -n 's/.*"tag": *"\([^"]*\)".*/\1/p')
echo "job $CVOPS_JOB_ID on $CVOPS_INPUT, making ${count:-3} images"
mkdir -p out
i=0
while [ "$i" -lt "${count:-3}" ]; do
  i=$((i + 1))
  vips gaussnoise "out/noise$i.png" 48 32 --mean 128 --sigma 40
  echo "::output data out/noise$i.png ${tag:-hello} noise"
  echo "::progress $(awk "BEGIN { print $i / ${count:-3} }") image $i of ${count:-3}"
done
echo "done" >&2
echo "::result {\"images\": $i}"
