#!/usr/bin/env bash
# End-to-end latency against a running ./run.sh stack: new visitors open a topic's intro page at a
# steady rate; for each, the collector's acknowledgement, the time from acknowledgement until the stage
# is in Redis, and until the recommender answers with the topic's next step; CPU and memory of the
# three services; references measured in the same run (redis-benchmark, wrk against an empty endpoint).
# Writes benchmarks/results/latency.{csv,json}, draws benchmarks/charts/*.png with gnuplot and rewrites
# the "End to end" section of BENCHMARKS.md.
# Usage: start `ECRM_WRITE_KEY=... ECRM_API_KEY=... ECRM_ADMIN_KEY=... ./run.sh`, then, with the same
# keys in the environment: benchmarks/e2e-load.sh [visitors per second=100] [seconds=30]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
source "$ECRM_ROOT/benchmarks/lib.sh"
cd "$ECRM_ROOT"
RATE="${1:-100}"
DURATION="${2:-30}"
: "${ECRM_WRITE_KEY:?give the write key run.sh uses (ECRM_WRITE_KEY)}"
: "${ECRM_API_KEY:?give the API key run.sh uses (ECRM_API_KEY)}"
RUN="$ECRM_ROOT/.data/run"
OUT="$ECRM_RESULTS"
CHARTS="$ECRM_CHARTS"
REDIS_PORT="${ECRM_REDIS_PORT:-16379}"
ecrm_install gnuplot-nox wrk redis-tools
dotnet build benchmarks/Ecrm.LoadDriver -c Release --nologo -v quiet -clp:ErrorsOnly
for service in collector dialogue-engine recommender; do
  [ -f "$RUN/$service.pid" ] || { ecrm_log "no $RUN/$service.pid: start ./run.sh first"; exit 2; }
done
PIDS="collector=$(cat "$RUN/collector.pid"),dialogue-engine=$(cat "$RUN/dialogue-engine.pid"),recommender=$(cat "$RUN/recommender.pid")"

ecrm_log "references: redis-benchmark PING and EVALSHA-free HSET round trips, one client; wrk on an empty endpoint"
REDIS_PING="$(redis-benchmark -p "$REDIS_PORT" -c 1 -n 20000 -q -t ping 2>/dev/null | grep PING_INLINE | sed -n 's/.*p50=\([0-9.]*\) msec.*/\1/p')"
REDIS_HSET="$(redis-benchmark -p "$REDIS_PORT" -c 1 -n 20000 -q -t hset 2>/dev/null | sed -n 's/.*p50=\([0-9.]*\) msec.*/\1/p')"
WRK="$(wrk -t1 -c1 -d5s --latency http://127.0.0.1:${ECRM_ENGINE_PORT:-8081}/health/live)"
WRK_P50="$(echo "$WRK" | awk '$1=="50%"{print $2}')"
WRK_P99="$(echo "$WRK" | awk '$1=="99%"{print $2}')"

ecrm_log "visitors: $RATE a second for $DURATION s"
dotnet benchmarks/Ecrm.LoadDriver/bin/Release/net10.0/Ecrm.LoadDriver.dll latency \
  --collector "http://127.0.0.1:${ECRM_COLLECTOR_PORT:-8080}" --write-key "$ECRM_WRITE_KEY" \
  --recommender "http://127.0.0.1:${ECRM_RECOMMENDER_PORT:-8082}" --api-key "$ECRM_API_KEY" \
  --redis "127.0.0.1:$REDIS_PORT" --catalog dev/demo/topic-catalog.json \
  --rate "$RATE" --seconds "$DURATION" --output "$OUT" --pids "$PIDS"

gnuplot <<GNUPLOT
set datafile separator ','
set terminal pngcairo size 900,420 font 'sans,10'
set key outside right top
set grid
set xlabel 'second of the run'
set output '$CHARTS/e2e-latency.png'
set title 'End to end, $RATE new visitors a second: milliseconds after the collector acknowledged'
set ylabel 'ms'
plot '$OUT/latency.csv' using 1:6 with lines lw 2 title 'in Redis, p99', \
     '' using 1:5 with lines lw 2 title 'in Redis, p50', \
     '' using 1:8 with lines lw 2 title 'recommendation changed, p99', \
     '' using 1:7 with lines lw 2 title 'recommendation changed, p50', \
     '' using 1:4 with lines dt 2 title 'collector ack, p99'
set output '$CHARTS/e2e-resources.png'
set title 'CPU of each service (% of one core) during the run'
set ylabel '% CPU'
plot '$OUT/latency.csv' using 1:11 with lines lw 2 title 'collector', \
     '' using 1:13 with lines lw 2 title 'dialogue engine', \
     '' using 1:15 with lines lw 2 title 'recommender'
GNUPLOT

value() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" "$OUT/latency.json"; }
SECTION="$OUT/e2e-section.md"
{
  echo "<!-- e2e:begin (written by benchmarks/e2e-load.sh; do not edit by hand) -->"
  echo "## End to end: from acknowledgement to stage and recommendation ($(date -u +%F))"
  echo
  echo "Command: \`benchmarks/e2e-load.sh $RATE $DURATION\` against \`./run.sh\` (the 3-broker mock Kafka, Redis, ClickHouse and the three services on this machine: $(ecrm_bench_machine), shared). $RATE new visitors a second, each opening a topic's intro page; $(value visitors) measured, $(value failures) failed."
  echo
  echo "| figure | p50 | p99 |"
  echo "|---|---|---|"
  echo "| collector acknowledgement (single-event batch) | $(value ackP50Ms) ms | $(value ackP99Ms) ms |"
  echo "| **acknowledgement → stage visible in Redis** | **$(value ackToRedisP50Ms) ms** | **$(value ackToRedisP99Ms) ms** |"
  echo "| **acknowledgement → the recommender serves the next step** | **$(value ackToRecommendationP50Ms) ms** | **$(value ackToRecommendationP99Ms) ms** |"
  echo "| one recommender call while this runs | $(value recommenderCallP50Ms) ms | $(value recommenderCallP99Ms) ms |"
  echo "| reference: \`redis-benchmark\` PING / HSET, one client | ${REDIS_PING} / ${REDIS_HSET} ms | |"
  echo "| reference: \`wrk\` on the engine's empty \`/health/live\`, one connection | ${WRK_P50} | ${WRK_P99} |"
  echo
  echo "CPU (mean % of one core) and peak resident memory: collector $(value collectorCpuPercentMean) % / $(value collectorRssMbMax) MB, dialogue engine $(value dialogue-engineCpuPercentMean) % / $(value dialogue-engineRssMbMax) MB, recommender $(value recommenderCpuPercentMean) % / $(value recommenderRssMbMax) MB."
  echo
  echo "![latency over the run](benchmarks/charts/e2e-latency.png)"
  echo "![CPU over the run](benchmarks/charts/e2e-resources.png)"
  echo
  echo "- When traffic is light the folding group waits up to \`Engine:BatchWindowMs\` (10 ms by default) to fill a batch, after a Kafka fetch that waits at most 5 ms for data."
  echo "<!-- e2e:end -->"
} > "$SECTION"
ecrm_bench_section e2e "$SECTION"
