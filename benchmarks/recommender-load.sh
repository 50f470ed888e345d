#!/usr/bin/env bash
# Recommender latency at a fixed request rate, next to the same driver at the same rate against an empty
# Kestrel endpoint (Ecrm.LoadDriver serve-empty) and the recommender's own /health/live in the same run,
# plus wrk's closed-loop maximum; and training time from a ClickHouse archive. Rewrites its section of
# BENCHMARKS.md (between the recommender markers) from the run's figures.
# (The synthetic set is dated 1997-98 like MovieLens, hence TrainingDays=0: the whole archive.)
# Usage: benchmarks/recommender-load.sh [seconds=20] [rate=2000] [customers=20000]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
source "$ECRM_ROOT/benchmarks/lib.sh"
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
EMPTY_URL="http://127.0.0.1:18083"
KEY="ak_bench"
rm -rf "$DATA"; mkdir -p "$DATA" "$OUT"
ecrm_install
dotnet build recommender -c Release --nologo -v quiet -clp:ErrorsOnly
dotnet build benchmarks/Ecrm.LoadDriver -c Release --nologo -v quiet -clp:ErrorsOnly
DRIVER="dotnet benchmarks/Ecrm.LoadDriver/bin/Release/net10.0/Ecrm.LoadDriver.dll"
RECOMMENDER="dotnet recommender/bin/Release/net10.0/Ecrm.Recommender.dll"

cleanup() {
  ecrm_stop_pidfile "$DATA/recommender.pid"
  ecrm_stop_pidfile "$DATA/empty.pid"
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

$DRIVER serve-empty --url "$EMPTY_URL" >"$DATA/empty.log" 2>&1 &
echo $! > "$DATA/empty.pid"
ecrm_wait_for "the empty endpoint" 30 curl -sf "$EMPTY_URL/"

ecrm_log "$RATE requests/s for ${SECONDS_PER_RUN}s each: GET /v1/recommendations/{customer}, then the references: an empty Kestrel endpoint, the recommender's /health/live"
# Where a tail comes from: the recommender's runtime counters (/metrics: GC, allocations, CPU, thread pool) and
# Redis's own time per command (INFO commandstats), read before and after each of its runs.
snapshot() { curl -sf -H "Authorization: Bearer $KEY" "$URL/metrics" | grep '^dotnet_' > "$OUT/$1.metrics"; redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' > "$OUT/$1.redis"; }
snapshot recommender-rate.before
$DRIVER rate --url "$URL" --paths "$DATA/paths.txt" --key "$KEY" --rate "$RATE" --seconds "$SECONDS_PER_RUN" --name recommender-rate --output "$OUT"
snapshot recommender-rate.after
echo / > "$DATA/empty.txt"
$DRIVER rate --url "$EMPTY_URL" --paths "$DATA/empty.txt" --rate "$RATE" --seconds "$SECONDS_PER_RUN" --name empty-rate --output "$OUT"
echo /health/live > "$DATA/live.txt"
snapshot health-live-rate.before
$DRIVER rate --url "$URL" --paths "$DATA/live.txt" --rate "$RATE" --seconds "$SECONDS_PER_RUN" --name health-live-rate --output "$OUT"
snapshot health-live-rate.after
ecrm_log "Redis alone, the same cores: redis-benchmark GET, one client, no pipelining"
redis-benchmark -p "$REDIS_PORT" -n $((RATE * SECONDS_PER_RUN)) -c 1 -t get --csv > "$OUT/redis-benchmark-get.csv" 2>&1
cat "$OUT/redis-benchmark-get.csv"

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

# BENCHMARKS.md: this script's section, from the figures of this run.
value() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$OUT/$1.json"; }
row() { echo "| $2 | $(value "$1" p50Ms) ms | $(value "$1" p90Ms) ms | $(value "$1" p99Ms) ms | $(value "$1" p999Ms) ms | $(value "$1" maxMs) ms | $(value "$1" failures) |"; }
wrk_row() { echo "| $2 | $(awk '/Requests\/sec/{printf "%\047d", $2}' "$1") | $(awk '$1=="50%"{print $2}' "$1") | $(awk '$1=="99%"{print $2}' "$1") |"; }
# grew RUN PATTERN: how much the /metrics series matching PATTERN (summed over their labels) grew during RUN (warm-up second included).
summed() { awk -v p="$2" '$1 ~ p { s += $2 } END { printf "%.6f", s }' "$1"; }
grew() { awk -v a="$(summed "$OUT/$1.after.metrics" "$2")" -v b="$(summed "$OUT/$1.before.metrics" "$2")" 'BEGIN { printf "%.6f", a - b }'; }
# script_field RUN before|after calls|usec: the signal script's EVALSHA count or Redis's own microseconds on it (INFO commandstats).
script_field() { tr ':,' '\n\n' < "$OUT/$1.$2.redis" | sed -n "/^cmdstat_evalsha$/,/^failed_calls/s/^$3=\([0-9]*\)$/\1/p"; }
runtime_row() {
  local requests=$((RATE * (SECONDS_PER_RUN + 1)))
  awk -v what="$2" -v n="$requests" -v g0="$(grew "$1" 'gc_collections_total.*gen0')" -v g1="$(grew "$1" 'gc_collections_total.*gen1')" \
    -v g2="$(grew "$1" 'gc_collections_total.*gen2')" -v pause="$(grew "$1" '^dotnet_gc_pause_time')" -v bytes="$(grew "$1" '^dotnet_gc_heap_total_allocated')" \
    -v user="$(grew "$1" 'cpu_time.*user')" -v sys="$(grew "$1" 'cpu_time.*system')" -v locks="$(grew "$1" 'lock_contentions')" \
    'BEGIN { printf "| %s | %d / %d / %d | %.0f ms (%.2f %% of the time) | %.1f KB | %.0f µs (%.0f user, %.0f system) | %.2f |\n",
      what, g0, g1, g2, pause * 1000, 100 * pause / (n / '"$RATE"'), bytes / n / 1024, (user + sys) / n * 1e6, user / n * 1e6, sys / n * 1e6, locks / n }'
}
training_row() { sed -n "s/^$1: .* from \([0-9,]*\) interactions; read \([0-9.]*\) s, trained \([0-9.]*\) s, saved \([0-9.]*\) s.*/| $2 | \1 | \2 s | \3 s | \4 s |/p" "$OUT/recommender-training.txt"; }
P99="$(value recommender-rate p99Ms)"
EMPTY_P99="$(value empty-rate p99Ms)"
SECTION="$DATA/recommender-section.md"
{
  echo "<!-- recommender:begin (written by benchmarks/recommender-load.sh; do not edit by hand) -->"
  echo "## Recommender: latency at $RATE requests/s, and training from the archive ($(date -u +%F))"
  echo
  echo "Command: \`benchmarks/recommender-load.sh $SECONDS_PER_RUN $RATE $CUSTOMERS\`. Machine: $(ecrm_bench_machine), shared (load average $(cut -d' ' -f1 /proc/loadavg) at the end of the run), Redis $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')."
  echo "The script starts a private Redis (AOF, as shipped) and ClickHouse, folds $CUSTOMERS generated customers' traffic into Redis with the engine's own fold ($(wc -l < "$DATA/paths.txt") customer ids with dialogues, visitors included), trains an EASE model from an archive, and starts the recommender (Release) with the demo content catalog and the frequency cap on (so every response also writes its served counts)."
  echo "\`Ecrm.LoadDriver rate\` drives it open loop: request i is due at i / $RATE s (a pacing thread sleeps with nanosleep until then), and its latency counts from when it was due, so queueing is not hidden; 64 connections, each request a different customer (\`GET /v1/recommendations/{customer}?n=10&slot=bench\`), 1 s of warm-up not counted."
  echo "The references run the same driver at the same rate in the same run: against an empty Kestrel endpoint (\`Ecrm.LoadDriver serve-empty\`: the driver, HTTP and the shared cores, no work), and against the recommender's own \`/health/live\`. Driver, recommender and Redis share the two cores."
  echo
  echo "| what, $((RATE * SECONDS_PER_RUN)) requests at $RATE/s | p50 | p90 | p99 | p99.9 | max | failures |"
  echo "|---|---|---|---|---|---|---|"
  row recommender-rate "**\`GET /v1/recommendations/{customer}\`** (blended: stage-next, EASE, popularity; rules)"
  row empty-rate "reference: empty Kestrel endpoint (\`serve-empty\`), same driver, same rate"
  row health-live-rate "reference: the recommender's \`GET /health/live\`, same driver, same rate"
  echo
  echo "Where the time goes, from the recommender's runtime counters (\`/metrics\`, meter \`System.Runtime\`) read before and after each of its runs ($((RATE * (SECONDS_PER_RUN + 1))) requests with the warm-up second):"
  echo
  echo "| run | GCs gen0 / gen1 / gen2 | GC pauses | allocated per request | CPU per request | lock contentions per request |"
  echo "|---|---|---|---|---|---|"
  runtime_row recommender-rate "recommendations"
  runtime_row health-live-rate "\`/health/live\`"
  echo
  echo "- Redis's own time per recommendation (INFO commandstats, the signal script's EVALSHA): $(awk -v c0="$(script_field recommender-rate before calls)" -v c1="$(script_field recommender-rate after calls)" -v u0="$(script_field recommender-rate before usec)" -v u1="$(script_field recommender-rate after usec)" 'BEGIN { printf "%.1f µs over %d calls", (u1 - u0) / (c1 - c0), c1 - c0 }'); reference in the same run, \`redis-benchmark -c 1 -t get\` on the same cores (one client, nothing queued): p50 $(awk -F'\"' 'NR == 2 { print $10 }' "$OUT/redis-benchmark-get.csv") ms, p99 $(awk -F'\"' 'NR == 2 { print $14 }' "$OUT/redis-benchmark-get.csv") ms a GET round trip."
  echo "- The recommender ships workstation GC, tiered compilation without dynamic PGO and with tier-up from the first request, and no thread pool spinning (\`recommender/Ecrm.Recommender.csproj\`, each with its measurements): with the Web SDK's defaults (server GC, tiering with dynamic PGO, spinning) p99 was 5.2-13.1 ms in five runs of this setup on 2026-11-26 (8.3 ms in this section's run before), most of it the JIT recompiling hot methods during the first 20 s of serving, and a quarter of the service's CPU in idle workers' sched_yield."
  echo "- The issue's target is p99 under 5 ms at $RATE requests/s: **$P99 ms** here, $(awk -v a="$P99" -v b="$EMPTY_P99" 'BEGIN{printf "%.1f", a/b}') times the empty endpoint's p99 ($EMPTY_P99 ms) in the same run: $(awk -v a="$P99" 'BEGIN{print (a < 5 ? "**met**" : "**not met**")}')."
  echo "- Per request the recommender makes one Redis round trip: one pipelined batch holding a script that reads, in the customer's slot, the alias owner, the suppression traits, the served counts and the stage and status of the 50 most recent dialogues (ZREVRANGE, then HMGET of each), plus a SISMEMBER per boosted segment; then a fire-and-forget batch of HINCRBYs for the frequency cap."
  echo "- Event to changed recommendation: \`AStageChangePostedToTheCollectorChangesTheNextRecommendation\` in \`tests/Ecrm.IntegrationTests/EndToEndTests.cs\` proves the change; its distribution is measured in \"End to end\" below (\`benchmarks/e2e-load.sh\`)."
  echo
  echo "| wrk 4.1, closed loop, \`-t2 -c32 -d10s --latency\` | requests/s | p50 | p99 |"
  echo "|---|---|---|---|"
  wrk_row "$OUT/wrk-recommender.txt" "recommendations (a Lua script cycling through the customers)"
  wrk_row "$OUT/wrk-health-live.txt" "\`/health/live\`"
  echo
  echo "wrk has no fixed rate in 4.1, so it saturates: it shows the most requests/s the recommender answers on the two shared cores, not the latency at $RATE/s."
  echo
  echo "Training from the archive (\`train\` command, same run): the MovieLens-100k-shaped synthetic set of the offline section (\`generate\`: 943 users, 1,682 items) written into ClickHouse as archived events (\`Ecrm.LoadDriver archive\`), one topic per item, stage = weight."
  echo
  echo "| model | interactions read | read from ClickHouse | train | save |"
  echo "|---|---|---|---|---|"
  training_row Sar "SAR (Jaccard)"
  training_row Ease "EASE (λ 500)"
  echo
  grep ' ms wall' "$OUT/recommender-training.txt" | sed 's/^/- /'
  echo
  echo "The scheduled job (\`Recommender:TrainingIntervalMinutes\`) runs the same code inside the service; its CPU-bound part runs off the request threads, but on this 2-core machine an EASE training competes with serving while it runs."
  echo "<!-- recommender:end -->"
} > "$SECTION"
ecrm_bench_section recommender "$SECTION"
