#!/usr/bin/env bash
# The funnel query over a large archive: fills a private ClickHouse with generated events (10 million
# over 30 days by default), then times the engine's own funnel SQL next to plain scans of the same
# table in the same run. Usage: benchmarks/funnel-load.sh [events=10000000] [customers=1000000]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
cd "$ECRM_ROOT"
EVENTS="${1:-10000000}"
CUSTOMERS="${2:-1000000}"
DATA="$ECRM_ROOT/.data/funnel-bench"
HTTP_PORT=18124
ecrm_install
dotnet build benchmarks/Ecrm.LoadDriver -c Release --nologo -v quiet -clp:ErrorsOnly
ecrm_stop_pidfile "$DATA/clickhouse.pid" 2>/dev/null || true
rm -rf "$DATA"
ecrm_start_clickhouse "$DATA" "$HTTP_PORT" 19124
trap 'ecrm_stop_pidfile "$DATA/clickhouse.pid"' EXIT
ecrm_log "ClickHouse $(curl -s "http://127.0.0.1:$HTTP_PORT/?query=SELECT%20version()"), $(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p')"
dotnet benchmarks/Ecrm.LoadDriver/bin/Release/net10.0/Ecrm.LoadDriver.dll funnel --clickhouse "http://127.0.0.1:$HTTP_PORT" \
  --events "$EVENTS" --customers "$CUSTOMERS" --days 30 --runs 5
