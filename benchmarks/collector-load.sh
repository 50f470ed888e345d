#!/usr/bin/env bash
# Collector throughput, acknowledgement latency and memory under overload. References in the same run:
# kcat producing the same payloads into the same mock cluster, and the same load driver against an
# empty Kestrel endpoint (Ecrm.LoadDriver serve-empty). Then overload: far more concurrent senders
# than the collector admits, and Kafka stopped until the spool is full (503), with the collector's
# resident memory sampled throughout. Rewrites its section of BENCHMARKS.md (between the collector
# markers) from the run's figures.
# Usage: benchmarks/collector-load.sh [seconds=20] [single-event senders=64]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
source "$ECRM_ROOT/benchmarks/lib.sh"
cd "$ECRM_ROOT"
SECONDS_PER_RUN="${1:-20}"
SINGLE_SENDERS="${2:-64}"
OVERLOAD_SENDERS=2048
SPOOL_MAX_BYTES=$((256 * 1024 * 1024))
# The Kafka-down phase runs its own collector, one that gives up on Kafka after 2 s and spools at most 16 MB:
# with the shipped 30 s a request of that phase is still waiting when the phase ends, and 256 MB of spool would
# take the 64 senders about 40 minutes to fill. The bounds it shows (spool full, then 503) are the same.
DOWN_ACK_TIMEOUT_SECONDS=2
DOWN_SPOOL_MAX_BYTES=$((16 * 1024 * 1024))
OUT="$ECRM_ROOT/benchmarks/results"
DATA="$ECRM_ROOT/.data/bench"
COLLECTOR_URL="http://127.0.0.1:18080"
EMPTY_URL="http://127.0.0.1:18081"
# SECTION_ONLY=1 rewrites the section from the last run's saved figures (after a change to its wording).
if [ -z "${SECTION_ONLY:-}" ]; then
rm -rf "$DATA"; mkdir -p "$DATA" "$OUT"
ecrm_install bc
dotnet build Ecrm.sln -c Release --nologo -v quiet -clp:ErrorsOnly

cleanup() { ecrm_stop_pidfile "$DATA/collector.pid"; ecrm_stop_pidfile "$DATA/empty.pid"; ecrm_stop_pidfile "$DATA/kafka/kafka.pid" 2>/dev/null || true; }
trap cleanup EXIT
BOOTSTRAP="$(ecrm_start_kafka "$DATA/kafka")"
KEY="wk_bench"
# start_collector SPOOL_DIR SPOOL_MAX_BYTES [ENVIRONMENT...]: a Release collector on $COLLECTOR_URL, its pid in COLLECTOR_PID.
start_collector() {
  local spool="$1" spool_max="$2"; shift 2
  env Kafka__BootstrapServers="$BOOTSTRAP" Auth__WriteKeys__0="$KEY" Auth__AdminKeys__0="adm_bench" Email__SigningKeys__0="bench-signing-key-0123456789abcdef" \
    Collector__SpoolDirectory="$spool" Collector__SpoolMaxBytes="$spool_max" Logging__LogLevel__Default=Warning Urls="$COLLECTOR_URL" "$@" \
    dotnet collector/bin/Release/net10.0/Ecrm.Collector.dll --contentRoot "$ECRM_ROOT/collector" >>"$DATA/collector.log" 2>&1 &
  COLLECTOR_PID=$!
  echo "$COLLECTOR_PID" > "$DATA/collector.pid"
  # Live, not ready: the Kafka-down collector is not ready by design.
  ecrm_wait_for "collector" 60 curl -sf "$COLLECTOR_URL/health/live"
}
start_collector "$DATA/spool" "$SPOOL_MAX_BYTES"
ecrm_wait_for "the collector's Kafka producer" 60 curl -sf "$COLLECTOR_URL/health/ready"
DRIVER="dotnet benchmarks/Ecrm.LoadDriver/bin/Release/net10.0/Ecrm.LoadDriver.dll"
$DRIVER serve-empty --url "$EMPTY_URL" >"$DATA/empty.log" 2>&1 &
echo $! > "$DATA/empty.pid"
ecrm_wait_for "the empty endpoint" 30 curl -sf "$EMPTY_URL/"

# load NAME URL ARGS...: one load driver run; its summary lands in $OUT/collector-NAME.json, and the
# collector's largest resident set during the run (sampled every 200 ms) in $OUT/collector-NAME.rss.
load() {
  local name="$1" url="$2"; shift 2
  ( while kill -0 "$COLLECTOR_PID" 2>/dev/null; do awk '/^VmRSS/{print $2}' "/proc/$COLLECTOR_PID/status"; sleep 0.2; done ) > "$DATA/rss-$name.txt" &
  local sampler=$!
  # Refused requests (503) count as failures and make the driver exit 1: expected under overload.
  $DRIVER load --collector "$url" --write-key "$KEY" --catalog dev/demo/topic-catalog.json --seconds "$SECONDS_PER_RUN" \
    --customers 60000 --output "$DATA/$name" "$@" || true
  kill "$sampler"; wait "$sampler" 2>/dev/null || true
  cp "$DATA/$name"/collector-*.json "$OUT/collector-$name.json"
  sort -n "$DATA/rss-$name.txt" | tail -1 | awk '{printf "%.0f\n", $1 / 1024}' > "$OUT/collector-$name.rss"
}

ecrm_log "batches of 100 events, 8 senders"
load batch "$COLLECTOR_URL" --batch 100 --concurrency 8
ecrm_log "single-event requests, $SINGLE_SENDERS senders"
load single "$COLLECTOR_URL" --single true --concurrency "$SINGLE_SENDERS"
ecrm_log "reference: the same single-event requests against an empty Kestrel endpoint"
load empty "$EMPTY_URL" --single true --concurrency "$SINGLE_SENDERS"

ecrm_log "reference: kcat producing the same payloads (acks=all, idempotent) into the same cluster"
EVENTS_FILE="$DATA/single/events.ndjson"
LINES=$(wc -l < "$EVENTS_FILE")
START=$(date +%s.%N)
kcat -P -b "$BOOTSTRAP" -t ecrm.events -X acks=all -X enable.idempotence=true -l "$EVENTS_FILE"
END=$(date +%s.%N)
KCAT_RATE=$(echo "$LINES / ($END - $START)" | bc)
echo "kcat: $LINES events in $(echo "$END - $START" | bc) s = $KCAT_RATE events/s" | tee "$OUT/kcat.txt"

ecrm_log "overload: batches of 100 from $OVERLOAD_SENDERS senders (the collector admits Collector:MaxConcurrentRequests at once)"
load overload "$COLLECTOR_URL" --batch 100 --concurrency "$OVERLOAD_SENDERS"

peak_mb() { awk '/^VmHWM/{printf "%.0f", $2 / 1024}' "/proc/$COLLECTOR_PID/status"; }
PEAK_MB=$(peak_mb)
ecrm_log "Kafka stopped: batches of 100, 64 senders, to a collector giving up on Kafka after ${DOWN_ACK_TIMEOUT_SECONDS}s, until its spool ($((DOWN_SPOOL_MAX_BYTES / 1024 / 1024)) MB) is full and it answers 503"
ecrm_stop_pidfile "$DATA/collector.pid"
ecrm_stop_pidfile "$DATA/kafka/kafka.pid"
start_collector "$DATA/spool-down" "$DOWN_SPOOL_MAX_BYTES" Collector__AckTimeoutSeconds="$DOWN_ACK_TIMEOUT_SECONDS"
load kafka-down "$COLLECTOR_URL" --batch 100 --concurrency 64
SPOOLED_MB=$(du -sm "$DATA/spool-down" | cut -f1)
# The probe is a batch of the phase's size: a one-event batch may still fit in the last bytes of a full spool.
PROBE_EVENTS=$(head -100 "$DATA/single/events.ndjson" | paste -sd, -)
FULL_STATUS=$(curl -s -o /dev/null -w '%{http_code}' -u "$KEY:" -H 'Content-Type: application/json' \
  -d "{\"batch\":[$PROBE_EVENTS]}" "$COLLECTOR_URL/v1/batch")
PEAK_MB=$(( $(peak_mb) > PEAK_MB ? $(peak_mb) : PEAK_MB ))
printf 'LINES=%s\nKCAT_RATE=%s\nSPOOLED_MB=%s\nFULL_STATUS=%s\nPEAK_MB=%s\nLOAD=%s\nRUN_DATE=%s\n' "$LINES" "$KCAT_RATE" "$SPOOLED_MB" "$FULL_STATUS" "$PEAK_MB" "$(cut -d' ' -f1 /proc/loadavg)" "$(date -u +%F)" > "$OUT/collector-run.env"

fi
source "$OUT/collector-run.env"

# BENCHMARKS.md: this script's section, from the figures of this run.
value() { sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p" "$OUT/collector-$1.json"; }
rss() { cat "$OUT/collector-$1.rss"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f %%", 100 * a / b}'; }
SECTION="$DATA/collector-section.md"
{
  echo "<!-- collector:begin (written by benchmarks/collector-load.sh; do not edit by hand) -->"
  echo "## Collector: acknowledged events into Kafka, and memory under overload ($RUN_DATE)"
  echo
  echo "Command: \`benchmarks/collector-load.sh $SECONDS_PER_RUN $SINGLE_SENDERS\`. Machine: $(ecrm_bench_machine), shared (load average $LOAD at the end of the run)."
  echo "It builds, starts the embedded Kafka (librdkafka's mock cluster, 3 brokers) and a collector (Release), and runs \`Ecrm.LoadDriver load\` for $SECONDS_PER_RUN s a phase: closed loop, each sender posting its next request when the last was answered, latency from send to answer. The load driver, the collector and the mock cluster share the two cores."
  echo "References in the same run: kcat producing the same payloads into the same cluster, and the same driver with the same single-event requests against an empty Kestrel endpoint (\`Ecrm.LoadDriver serve-empty\`)."
  echo
  echo "| what | events/s | requests/s | ack p50 | ack p99 | collector RSS, max | vs reference |"
  echo "|---|---|---|---|---|---|---|"
  echo "| \`POST /v1/batch\`, 100 events a request, 8 senders | **$(value batch eventsPerSecond)** | $(value batch requestsPerSecond) | $(value batch ackLatencyMsP50) ms | $(value batch ackLatencyMsP99) ms | $(rss batch) MB | $(ratio "$(value batch eventsPerSecond)" "$KCAT_RATE") of kcat |"
  echo "| single-event requests (\`/v1/track\`, \`/v1/page\` ...), $SINGLE_SENDERS senders | $(value single eventsPerSecond) | **$(value single requestsPerSecond)** | $(value single ackLatencyMsP50) ms | $(value single ackLatencyMsP99) ms | $(rss single) MB | $(ratio "$(value single requestsPerSecond)" "$(value empty requestsPerSecond)") of the empty endpoint |"
  echo "| reference: the same single-event requests, empty Kestrel endpoint | | $(value empty requestsPerSecond) | $(value empty ackLatencyMsP50) ms | $(value empty ackLatencyMsP99) ms | | 100 % |"
  echo "| reference: \`kcat -P -X acks=all -X enable.idempotence=true -l events.ndjson\` ($LINES payloads, same cluster) | $KCAT_RATE | | | | | 100 % |"
  echo
  echo "\"Acknowledged\" means the collector answered 200, which it does only once the brokers acknowledged every event with \`acks=all\` (or, with Kafka away, once the spool fsync'd them). Each event is parsed, validated, stamped, enriched (IP anonymisation, user agent reduction) and re-serialised."
  echo "Targets from the collector issue: 50,000 events/s batched: $(awk -v a="$(value batch eventsPerSecond)" 'BEGIN{print (a >= 50000 ? "met" : "not met")}'); 10,000 single-event requests/s: $(awk -v a="$(value single requestsPerSecond)" 'BEGIN{print (a >= 10000 ? "met" : "not met")}'). RudderStack documents about 1,700 events/s on 2 cores."
  echo
  echo "**Memory under overload.** The limits that bound the collector's memory: at most \`Collector:MaxConcurrentRequests\` (256) ingestion requests are worked on at once (more get 503 with \`Retry-After\` before their body is read), each body at most \`Collector:MaxBatchBytes\` (500 KB); the producer holds at most \`Collector:KafkaQueueMaxKbytes\` (128 MB) and \`KafkaQueueMaxMessages\` (300,000) unacknowledged (what does not fit goes to the spool like a message Kafka refused); the spool is on disk, capped by \`Collector:SpoolMaxBytes\`. The table shows what these limits allow on this machine (before the default went from 1,024 to 256, 1,024 batches in flight reached 1.8 GB)."
  echo
  echo "| overload phase, $SECONDS_PER_RUN s | acknowledged events/s | 200s/s | refused (503) requests | connections reset | ack p50 | ack p99 | collector RSS, max |"
  echo "|---|---|---|---|---|---|---|---|"
  echo "| batches of 100 from $OVERLOAD_SENDERS senders, Kafka up | $(value overload eventsPerSecond) | $(value overload requestsPerSecond) | $(value overload failedRequests) | $(value overload connectionErrors) | $(value overload ackLatencyMsP50) ms | $(value overload ackLatencyMsP99) ms | **$(rss overload) MB** |"
  echo "| batches of 100 from 64 senders, Kafka stopped, a collector with a ${DOWN_ACK_TIMEOUT_SECONDS} s ack timeout and its spool capped at $((DOWN_SPOOL_MAX_BYTES / 1024 / 1024)) MB | $(value kafka-down eventsPerSecond) | $(value kafka-down requestsPerSecond) | $(value kafka-down failedRequests) | $(value kafka-down connectionErrors) | $(value kafka-down ackLatencyMsP50) ms | $(value kafka-down ackLatencyMsP99) ms | **$(rss kafka-down) MB** |"
  echo
  echo "After the Kafka-down phase the spool held $SPOOLED_MB MB on disk and one more batch of 100 events got HTTP $FULL_STATUS (503: the spool had no room for it). The collectors' peak resident memory over the whole run (VmHWM): **$PEAK_MB MB**. With Kafka stopped, a request waits for librdkafka to give up on its messages (\`Collector:AckTimeoutSeconds\`, both librdkafka's message timeout and its request timeout) before they are spooled, and the ack latency of that phase shows how long that really took. That phase runs a second collector with a ${DOWN_ACK_TIMEOUT_SECONDS} s timeout and a $((DOWN_SPOOL_MAX_BYTES / 1024 / 1024)) MB spool, so that the spool fills within the phase; the shipped 30 s (collector/appsettings.json) spools later, at the price of fewer re-sent copies, and a larger spool fills later: the bounds are the same."
  echo "Results (JSON and a per-second CSV per phase) land in \`.data/bench/\`, the summaries in \`benchmarks/results/\`."
  echo "<!-- collector:end -->"
} > "$SECTION"
ecrm_bench_section collector "$SECTION"
