#!/usr/bin/env bash
# Transition-to-webhook latency of the trigger engine with many waits pending: a private Redis (AOF),
# ClickHouse and the embedded Kafka, the dialogue engine running only its trigger engine, and the load
# driver producing transitions and receiving the webhooks on loopback. A bare HTTP POST round trip to
# the same receiver is measured in the same run as the reference.
# Usage: benchmarks/trigger-load.sh [waits=10000] [transitions=2000] [rate=50]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
cd "$ECRM_ROOT"
WAITS="${1:-10000}"
TRANSITIONS="${2:-2000}"
RATE="${3:-50}"
DATA="$ECRM_ROOT/.data/trigger-bench"
REDIS_PORT=16392
ENGINE_PORT=18192
ADMIN_KEY="$(ecrm_random_key)"
ecrm_install
dotnet build benchmarks/Ecrm.LoadDriver -c Release --nologo -v quiet -clp:ErrorsOnly
dotnet build dev/Ecrm.DevKafka -c Release --nologo -v quiet -clp:ErrorsOnly
redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
ecrm_stop_pidfile "$DATA/clickhouse/clickhouse.pid" 2>/dev/null || true
rm -rf "$DATA"; mkdir -p "$DATA"
cleanup() {
  ecrm_stop_pidfile "$DATA/engine.pid"
  ecrm_stop_pidfile "$DATA/kafka/kafka.pid"
  ecrm_stop_pidfile "$DATA/clickhouse/clickhouse.pid"
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT
ecrm_start_redis "$DATA/redis" "$REDIS_PORT"
ecrm_start_clickhouse "$DATA/clickhouse" 18193 19193
BOOTSTRAP="$(ecrm_start_kafka "$DATA/kafka")"

Urls="http://127.0.0.1:$ENGINE_PORT" Kafka__BootstrapServers="$BOOTSTRAP" Redis__Configuration="127.0.0.1:$REDIS_PORT" \
ClickHouse__Url="http://127.0.0.1:18193" Auth__AdminKeys__0="$ADMIN_KEY" Engine__RunFolding=false Engine__RunArchive=false \
Engine__CatalogSeedFile="$ECRM_ROOT/dev/demo/topic-catalog.json" Logging__LogLevel__Default=Warning \
  dotnet dialogue-engine/bin/Release/net10.0/Ecrm.DialogueEngine.dll --contentRoot "$ECRM_ROOT/dialogue-engine" >"$DATA/engine.log" 2>&1 &
echo $! > "$DATA/engine.pid"
ecrm_wait_for "the dialogue engine" 60 curl -sf "http://127.0.0.1:$ENGINE_PORT/health/live"

ecrm_log "$(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p'); $WAITS waits, $TRANSITIONS transitions at $RATE/s"
dotnet benchmarks/Ecrm.LoadDriver/bin/Release/net10.0/Ecrm.LoadDriver.dll triggers --engine "http://127.0.0.1:$ENGINE_PORT" \
  --admin-key "$ADMIN_KEY" --kafka "$BOOTSTRAP" --topic ecrm.dialogue.transitions --waits "$WAITS" --transitions "$TRANSITIONS" --rate "$RATE"
