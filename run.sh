#!/usr/bin/env bash
# Runs the whole of Ecrm on this machine with demo data: private Redis and ClickHouse, the embedded
# Kafka, the three services, a demo topic and content catalog and a few hundred customers' traffic.
# Ctrl-C stops everything. ./run.sh --fresh starts from empty stores.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/dev/stack.sh"
cd "$ECRM_ROOT"

DATA="$ECRM_ROOT/.data/run"
REDIS_PORT="${ECRM_REDIS_PORT:-16379}"
CLICKHOUSE_HTTP_PORT="${ECRM_CLICKHOUSE_HTTP_PORT:-18123}"
CLICKHOUSE_TCP_PORT="${ECRM_CLICKHOUSE_TCP_PORT:-19000}"
COLLECTOR_URL="http://127.0.0.1:${ECRM_COLLECTOR_PORT:-8080}"
ENGINE_URL="http://127.0.0.1:${ECRM_ENGINE_PORT:-8081}"
RECOMMENDER_URL="http://127.0.0.1:${ECRM_RECOMMENDER_PORT:-8082}"
# Management ports: /metrics and the detailed /health/ready answer there without a key (README, Security).
COLLECTOR_MANAGEMENT_PORT="${ECRM_COLLECTOR_MANAGEMENT_PORT:-9080}"
ENGINE_MANAGEMENT_PORT="${ECRM_ENGINE_MANAGEMENT_PORT:-9081}"
RECOMMENDER_MANAGEMENT_PORT="${ECRM_RECOMMENDER_MANAGEMENT_PORT:-9082}"
DEMO_CUSTOMERS="${ECRM_DEMO_CUSTOMERS:-400}"

stop_all() {
  trap - INT TERM EXIT
  ecrm_log "stopping"
  for service in collector dialogue-engine recommender; do ecrm_stop_pidfile "$DATA/$service.pid"; done
  ecrm_stop_pidfile "$DATA/kafka/kafka.pid"
  redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
  ecrm_stop_pidfile "$DATA/clickhouse/clickhouse.pid"
  ecrm_log "stopped"
}

# A run left behind by a killed terminal is stopped first, so a second ./run.sh always works.
stop_all 2>/dev/null
[ "${1:-}" = "--fresh" ] && rm -rf "$DATA"
mkdir -p "$DATA"
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

ecrm_install
ecrm_log "building"
dotnet build "$ECRM_ROOT/Ecrm.sln" -c Release --nologo -v quiet -clp:ErrorsOnly
command -v npm >/dev/null || ecrm_install nodejs npm
(cd sdk-js && npm ci --no-audit --no-fund --loglevel=error >/dev/null && npm run build >/dev/null)
(cd dialogue-engine/console && npm ci --no-audit --no-fund --loglevel=error >/dev/null && npm run build >/dev/null)

export ECRM_WRITE_KEY="${ECRM_WRITE_KEY:-wk_$(ecrm_random_key)}"
export ECRM_API_KEY="${ECRM_API_KEY:-ak_$(ecrm_random_key)}"
export ECRM_ADMIN_KEY="${ECRM_ADMIN_KEY:-adm_$(ecrm_random_key)}"
# The demo's history comes from a back end (a server source: its key is secret, so it keeps full rights);
# the write key above is the public one pages use, and its identity secret signs user ids (README, Security).
export ECRM_SERVER_WRITE_KEY="${ECRM_SERVER_WRITE_KEY:-sk_$(ecrm_random_key)}"
export ECRM_IDENTITY_SECRET="${ECRM_IDENTITY_SECRET:-$(ecrm_random_key)}"
# Signs email links; kept in the data folder so links minted by an earlier run stay valid.
[ -s "$DATA/email-signing-key" ] || ecrm_random_key > "$DATA/email-signing-key"
# Minted email links point at the collector's public address; set ECRM_PUBLIC_COLLECTOR_URL where mail readers reach it.
export Email__PublicBaseUrl="${ECRM_PUBLIC_COLLECTOR_URL:-$COLLECTOR_URL}"
export Email__SigningKeys__0="${ECRM_EMAIL_SIGNING_KEY:-$(cat "$DATA/email-signing-key")}"

ecrm_log "starting Redis on $REDIS_PORT and ClickHouse on $CLICKHOUSE_HTTP_PORT"
ecrm_start_redis "$DATA/redis" "$REDIS_PORT"
ecrm_start_clickhouse "$DATA/clickhouse" "$CLICKHOUSE_HTTP_PORT" "$CLICKHOUSE_TCP_PORT"
if [ -n "${Kafka__BootstrapServers:-}" ]; then
  BOOTSTRAP="$Kafka__BootstrapServers"
  ecrm_log "using the Kafka cluster at $BOOTSTRAP"
else
  BOOTSTRAP="$(ecrm_start_kafka "$DATA/kafka")"
  ecrm_log "embedded Kafka at $BOOTSTRAP"
fi

export Kafka__BootstrapServers="$BOOTSTRAP"
export Redis__Configuration="127.0.0.1:$REDIS_PORT"
export ClickHouse__Url="http://127.0.0.1:$CLICKHOUSE_HTTP_PORT"
export Collector__SpoolDirectory="$DATA/spool"
# The demo lets any page call the recommender with the write key, as the tracker does.
export Recommender__AllowedOrigins__0="*"
# Models live with the run's data; the demo trains from its archive every 10 minutes.
export Recommender__ModelDirectory="$DATA/models" Recommender__TrainingIntervalMinutes="${Recommender__TrainingIntervalMinutes:-10}"
# The console's pipeline health view reads the collector's and recommender's metrics through the engine.
export Pipeline__CollectorMetricsUrl="http://127.0.0.1:$COLLECTOR_MANAGEMENT_PORT/metrics" Pipeline__RecommenderMetricsUrl="http://127.0.0.1:$RECOMMENDER_MANAGEMENT_PORT/metrics"
export Auth__WriteKeys__0="$ECRM_WRITE_KEY" Auth__ApiKeys__0="$ECRM_API_KEY" Auth__AdminKeys__0="$ECRM_ADMIN_KEY"
export Auth__IdentitySecrets__0__WriteKey="$ECRM_WRITE_KEY" Auth__IdentitySecrets__0__Secret="$ECRM_IDENTITY_SECRET"
export Collector__Sources__0__Name="demo-backend" Collector__Sources__0__WriteKey="$ECRM_SERVER_WRITE_KEY"

start_service() { # name, folder, assembly, url, management port
  ecrm_log "starting $1 at $4 (management port $5)"
  Urls="$4;http://127.0.0.1:$5" Management__Port="$5" dotnet "$ECRM_ROOT/$2/bin/Release/net10.0/$3.dll" --contentRoot "$ECRM_ROOT/$2" >"$DATA/$1.log" 2>&1 &
  echo $! > "$DATA/$1.pid"
}
start_service collector collector Ecrm.Collector "$COLLECTOR_URL" "$COLLECTOR_MANAGEMENT_PORT"
start_service dialogue-engine dialogue-engine Ecrm.DialogueEngine "$ENGINE_URL" "$ENGINE_MANAGEMENT_PORT"
start_service recommender recommender Ecrm.Recommender "$RECOMMENDER_URL" "$RECOMMENDER_MANAGEMENT_PORT"
for url in "$COLLECTOR_URL" "$ENGINE_URL" "$RECOMMENDER_URL"; do
  ecrm_wait_for "$url/health/ready" 60 curl -sf "$url/health/ready" || { tail -n 30 "$DATA"/*.log; exit 1; }
done

ecrm_log "loading the demo topic and content catalogs"
curl -sf -X PUT "$ENGINE_URL/api/catalog" -H "Authorization: Bearer $ECRM_ADMIN_KEY" -H 'Content-Type: application/json' \
  --data-binary @dev/demo/topic-catalog.json >/dev/null
curl -sf -X PUT "$RECOMMENDER_URL/v1/items" -H "Authorization: Bearer $ECRM_ADMIN_KEY" -H 'Content-Type: application/json' \
  --data-binary @dev/demo/content-catalog.json >/dev/null
sleep 1.5 # the recommender polls for the new topic catalog once a second

ecrm_log "sending demo traffic: $DEMO_CUSTOMERS customers across web, email and mobile"
dotnet "$ECRM_ROOT/benchmarks/Ecrm.LoadDriver/bin/Release/net10.0/Ecrm.LoadDriver.dll" demo \
  --collector "$COLLECTOR_URL" --write-key "$ECRM_SERVER_WRITE_KEY" --catalog dev/demo/topic-catalog.json --customers "$DEMO_CUSTOMERS"

ecrm_log "training the recommender's model from the archive (the service picks it up within 30 s)"
sleep 3 # the archive inserts once a second
dotnet "$ECRM_ROOT/recommender/bin/Release/net10.0/Ecrm.Recommender.dll" train --contentRoot "$ECRM_ROOT/recommender" \
  >>"$DATA/train.log" 2>&1 || ecrm_log "training found nothing yet; the service trains every ${Recommender__TrainingIntervalMinutes} minutes"

cat <<TXT

  Ecrm is running.

  console          $ENGINE_URL/console        sign in with the API key below

  collector        $COLLECTOR_URL        POST /v1/batch (write key as HTTP Basic user), POST /v1/email/links (admin key)
  dialogue engine  $ENGINE_URL        GET /api/catalog, GET /api/customers/{id} (identities, traits, dialogues, timeline)
  recommender      $RECOMMENDER_URL        GET /v1/recommendations/{customerId}?n=10
  tracker script   $COLLECTOR_URL/assets/e.js
  health           <service>/health/live; operators: http://127.0.0.1:{$COLLECTOR_MANAGEMENT_PORT,$ENGINE_MANAGEMENT_PORT,$RECOMMENDER_MANAGEMENT_PORT}/metrics and /health/ready
  Redis            127.0.0.1:$REDIS_PORT     ClickHouse  http://127.0.0.1:$CLICKHOUSE_HTTP_PORT (database ecrm)
  Kafka            $BOOTSTRAP
  logs             $DATA/*.log

  write key  $ECRM_WRITE_KEY    (public, for pages; identity secret $ECRM_IDENTITY_SECRET signs user ids)
  server key $ECRM_SERVER_WRITE_KEY    (a back end's write key: full rights, keep it secret)
  API key    $ECRM_API_KEY
  admin key  $ECRM_ADMIN_KEY

  Try:
    curl -s -H "Authorization: Bearer $ECRM_API_KEY" $ENGINE_URL/api/customers/user-000001
    curl -s -H "Authorization: Bearer $ECRM_API_KEY" "$RECOMMENDER_URL/v1/recommendations/user-000001?n=5"
    curl -s "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/" --data "SELECT topic, to_stage, uniqExact(customer_key) FROM ecrm.transitions GROUP BY topic, to_stage ORDER BY topic, to_stage"

  Ctrl-C stops everything.
TXT
wait
