#!/usr/bin/env bash
# Recommender latency at a fixed request rate, next to the same driver against the recommender's
# /health/live (the bare HTTP stack, same process, same run), plus wrk's closed-loop maximum for both;
# and training time from a ClickHouse archive.
# (The synthetic set is dated 1997-98 like MovieLens, hence TrainingDays=0: the whole archive.)
# Usage: benchmarks/recommender-load.sh [seconds=20] [rate=2000] [customers=20000]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
cd "$ECRM_ROOT"
SECONDS_PER_RUN="${1:-20}"
RATE="${2:-2000}"
CUSTOMERS="${3:-20000}"
OUT="$ECRM_ROOT/benchmarks/results"
DATA="$ECRM_ROOT/.data/reco-bench"
REDIS_PORT=16392
CH_HTTP=18134
CH_TCP=19011
URL="http://127.0.0.1:18082"
KEY="ak_bench"
rm -rf "$DATA"; mkdir -p "$DATA" "$OUT"
ecrm_install
dotnet build recommender -c Release --nologo -v quiet -clp:ErrorsOnly
dotnet build benchmarks/Ecrm.LoadDriver -c Release --nologo -v quiet -clp:ErrorsOnly
DRIVER="dotnet benchmarks/Ecrm.LoadDriver/bin/Release/net10.0/Ecrm.LoadDriver.dll"
RECOMMENDER="dotnet recommender/bin/Release/net10.0/Ecrm.Recommender.dll"

cleanup() {
  ecrm_stop_pidfile "$DATA/recommender.pid"
  ecrm_stop_pidfile "$DATA/clickhouse/clickhouse.pid"
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT
redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
ecrm_start_redis "$DATA/redis" "$REDIS_PORT"
ecrm_start_clickhouse "$DATA/clickhouse" "$CH_HTTP" "$CH_TCP"
export Recommender__TrainingDays=0 Redis__Configuration="127.0.0.1:$REDIS_PORT" ClickHouse__Url="http://127.0.0.1:$CH_HTTP" Logging__LogLevel__Default=Warning \
  Auth__ApiKeys__0="$KEY" Auth__AdminKeys__0="adm_bench"

ecrm_log "training time: a MovieLens-100k-shaped synthetic set (943 users, 1,682 items) archived as events, then the train command"
$RECOMMENDER generate --out "$DATA/synthetic-100k.tsv"
$DRIVER archive --clickhouse "http://127.0.0.1:$CH_HTTP" --database train_bench --interactions "$DATA/synthetic-100k.tsv"
: > "$OUT/recommender-training.txt"
for model in sar ease; do
  START=$(date +%s%N)
  $RECOMMENDER train --model "$model" --contentRoot "$ECRM_ROOT/recommender" --ClickHouse:Database=train_bench \
    --Recommender:ModelDirectory="$DATA/train-models" 2>/dev/null | tee -a "$OUT/recommender-training.txt"
  echo "$model: $(( ($(date +%s%N) - START) / 1000000 )) ms wall for the whole command (process start included)" | tee -a "$OUT/recommender-training.txt"
done

ecrm_log "serving model: the same set folded onto the demo's topics, EASE"
$DRIVER archive --clickhouse "http://127.0.0.1:$CH_HTTP" --database serve_bench --interactions "$DATA/synthetic-100k.tsv" --catalog dev/demo/topic-catalog.json
$RECOMMENDER train --model ease --contentRoot "$ECRM_ROOT/recommender" --ClickHouse:Database=serve_bench --Recommender:ModelDirectory="$DATA/models" >/dev/null 2>&1

ecrm_log "live dialogues: $CUSTOMERS customers' generated traffic folded into Redis with the engine's script"
$DRIVER fold --redis "127.0.0.1:$REDIS_PORT" --catalog dev/demo/topic-catalog.json --customers "$CUSTOMERS" --concurrency 256 --output "$DATA" >/dev/null
$DRIVER publish-topics --redis "127.0.0.1:$REDIS_PORT" --catalog dev/demo/topic-catalog.json
redis-cli -p "$REDIS_PORT" --scan --pattern 'ecrm:{c:*}:topics' | sed -e 's/^ecrm:{c://' -e 's/}:topics$//' | shuf --random-source=<(yes) \
  | awk '{print "/v1/recommendations/" $0 "?n=10&slot=bench"}' > "$DATA/paths.txt"
ecrm_log "$(wc -l < "$DATA/paths.txt") customers with dialogues"

Urls="$URL" Recommender__ContentSeedFile="$ECRM_ROOT/dev/demo/content-catalog.json" Recommender__ModelDirectory="$DATA/models" \
  Recommender__FrequencyCap__MaxImpressions=10 \
  $RECOMMENDER --contentRoot "$ECRM_ROOT/recommender" >"$DATA/recommender.log" 2>&1 &
echo $! > "$DATA/recommender.pid"
ecrm_wait_for "recommender" 60 curl -sf "$URL/health/ready"
curl -sf -H "Authorization: Bearer $KEY" "$URL$(head -1 "$DATA/paths.txt")" | tee "$OUT/recommender-sample.json"; echo

ecrm_log "$RATE requests/s for ${SECONDS_PER_RUN}s: GET /v1/recommendations/{customer}, then GET /health/live (reference)"
$DRIVER rate --url "$URL" --paths "$DATA/paths.txt" --key "$KEY" --rate "$RATE" --seconds "$SECONDS_PER_RUN" --name recommender-rate --output "$OUT"
echo /health/live > "$DATA/live.txt"
$DRIVER rate --url "$URL" --paths "$DATA/live.txt" --rate "$RATE" --seconds "$SECONDS_PER_RUN" --name health-live-rate --output "$OUT"

ecrm_log "wrk, closed loop (2 threads, 32 connections, 10 s): the most requests/s each endpoint answers"
cat > "$DATA/paths.lua" <<LUA
local paths = {}
for line in io.lines("$DATA/paths.txt") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], { ["Authorization"] = "Bearer $KEY" })
end
LUA
wrk -t2 -c32 -d10s --latency -s "$DATA/paths.lua" "$URL" | tee "$OUT/wrk-recommender.txt"
wrk -t2 -c32 -d10s --latency "$URL/health/live" | tee "$OUT/wrk-health-live.txt"
