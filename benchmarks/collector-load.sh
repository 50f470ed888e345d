#!/usr/bin/env bash
# Collector throughput and acknowledgement latency, with kcat's rate into the same mock cluster as the
# reference measured in the same run. Usage: benchmarks/collector-load.sh [seconds=20]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
cd "$ECRM_ROOT"
SECONDS_PER_RUN="${1:-20}"
OUT="$ECRM_ROOT/benchmarks/results"
DATA="$ECRM_ROOT/.data/bench"
rm -rf "$DATA"; mkdir -p "$DATA" "$OUT"
ecrm_install bc
dotnet build Ecrm.sln -c Release --nologo -v quiet -clp:ErrorsOnly

cleanup() { ecrm_stop_pidfile "$DATA/collector.pid"; ecrm_stop_pidfile "$DATA/kafka/kafka.pid"; }
trap cleanup EXIT
BOOTSTRAP="$(ecrm_start_kafka "$DATA/kafka")"
KEY="wk_bench"
Kafka__BootstrapServers="$BOOTSTRAP" Auth__WriteKeys__0="$KEY" Auth__AdminKeys__0="adm_bench" Email__SigningKeys__0="bench-signing-key-0123456789abcdef" \
  Collector__SpoolDirectory="$DATA/spool" Logging__LogLevel__Default=Warning Urls="http://127.0.0.1:18080" \
  dotnet collector/bin/Release/net10.0/Ecrm.Collector.dll --contentRoot "$ECRM_ROOT/collector" >"$DATA/collector.log" 2>&1 &
echo $! > "$DATA/collector.pid"
ecrm_wait_for "collector" 60 curl -sf http://127.0.0.1:18080/health/ready

driver() { dotnet benchmarks/Ecrm.LoadDriver/bin/Release/net10.0/Ecrm.LoadDriver.dll load --collector http://127.0.0.1:18080 \
  --write-key "$KEY" --catalog dev/demo/topic-catalog.json --seconds "$SECONDS_PER_RUN" --output "$OUT" "$@"; }
ecrm_log "batches of 100 events, 8 senders"
driver --batch 100 --concurrency 8 --customers 60000
ecrm_log "single-event requests, 32 senders"
driver --single true --concurrency 32 --customers 60000

ecrm_log "reference: kcat producing the same payloads (acks=all, idempotent) into the same cluster"
LINES=$(wc -l < "$OUT/events.ndjson")
START=$(date +%s.%N)
kcat -P -b "$BOOTSTRAP" -t ecrm.events -X acks=all -X enable.idempotence=true -l "$OUT/events.ndjson"
END=$(date +%s.%N)
echo "kcat: $LINES events in $(echo "$END - $START" | bc) s = $(echo "$LINES / ($END - $START)" | bc) events/s" | tee "$OUT/kcat.txt"
