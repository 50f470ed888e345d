#!/usr/bin/env bash
# The archive's insert path (the engine's ArchiveBatch and RowBinary inserts through ClickHouse.Driver, next to clickhouse-client inserting the
# same rows), then the funnel query over a large archive: fills a private ClickHouse with generated events (10 million
# over 30 days by default), then times the engine's own funnel SQL next to plain scans of the same
# table in the same run. Writes benchmarks/results/funnel.{csv,json}, a chart, and rewrites BENCHMARKS.md's
# funnel section. Usage: benchmarks/funnel-load.sh [events=10000000] [customers=1000000] [archived events=200000]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
source "$ECRM_ROOT/benchmarks/lib.sh"
cd "$ECRM_ROOT"
EVENTS="${1:-10000000}"
CUSTOMERS="${2:-1000000}"
INSERTED="${3:-200000}"
DATA="$ECRM_ROOT/.data/funnel-bench"
HTTP_PORT=18124
TCP_PORT=19124
ecrm_install gnuplot-nox
dotnet build benchmarks/Ecrm.LoadDriver -c Release --nologo -v quiet -clp:ErrorsOnly
ecrm_stop_pidfile "$DATA/clickhouse.pid" 2>/dev/null || true
rm -rf "$DATA"
ecrm_start_clickhouse "$DATA" "$HTTP_PORT" "$TCP_PORT"
trap 'ecrm_stop_pidfile "$DATA/clickhouse.pid"' EXIT
ecrm_log "ClickHouse $(curl -s "http://127.0.0.1:$HTTP_PORT/?query=SELECT%20version()"), $(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p')"
ecrm_log "archive inserts: $INSERTED generated events through the engine's ArchiveBatch, then clickhouse-client with the same rows"
dotnet benchmarks/Ecrm.LoadDriver/bin/Release/net10.0/Ecrm.LoadDriver.dll archive-insert --clickhouse "http://127.0.0.1:$HTTP_PORT" \
  --catalog dev/demo/topic-catalog.json --events "$INSERTED" --rows-file "$DATA/archive-rows.ndjson" --output "$ECRM_RESULTS"
clickhouse-client --port "$TCP_PORT" --query "CREATE DATABASE IF NOT EXISTS archive_ref"
clickhouse-client --port "$TCP_PORT" --query "CREATE TABLE archive_ref.events AS archive_bench.events"
START=$(date +%s%N)
clickhouse-client --port "$TCP_PORT" --query "INSERT INTO archive_ref.events FORMAT JSONEachRow" < "$DATA/archive-rows.ndjson"
CLIENT_MS=$(( ($(date +%s%N) - START) / 1000000 ))
ROWS=$(wc -l < "$DATA/archive-rows.ndjson")
CLIENT_RATE=$(awk -v r="$ROWS" -v ms="$CLIENT_MS" 'BEGIN { printf "%.0f", r / (ms / 1000) }')
echo "{\"rows\":$ROWS,\"milliseconds\":$CLIENT_MS,\"rowsPerSecond\":$CLIENT_RATE}" > "$ECRM_RESULTS/archive-insert-clickhouse-client.json"
ecrm_log "clickhouse-client: $ROWS rows in $CLIENT_MS ms ($CLIENT_RATE rows/s)"

dotnet benchmarks/Ecrm.LoadDriver/bin/Release/net10.0/Ecrm.LoadDriver.dll funnel --clickhouse "http://127.0.0.1:$HTTP_PORT" \
  --events "$EVENTS" --customers "$CUSTOMERS" --days 30 --runs 5 --output "$ECRM_RESULTS"

gnuplot <<GNUPLOT
set datafile separator ','
set terminal pngcairo size 900,360 font 'sans,10'
set termoption noenhanced
set output '$ECRM_CHARTS/funnel-queries.png'
set title 'Median ms over $(ecrm_bench_fmt "$EVENTS") archived events (the first two: plain scans)'
set style fill solid 0.7
set boxwidth 0.6
set grid x
set xrange [0:*]
set yrange [-0.5:*] reverse
set ytics nomirror
plot '$ECRM_RESULTS/funnel.csv' every ::1 using (\$2*0.5):0:(\$2*0.5):(0.3):yticlabels(1) with boxxyerror notitle
GNUPLOT

median() { awk -F'"' -v q="$1" 'index($2, q) == 1 { split($3, f, ","); print f[2] }' "$ECRM_RESULTS/funnel.csv" | head -1; }
SCAN=$(median "reference: SELECT count()")
SECTION="$ECRM_RESULTS/funnel-section.md"
{
  echo "<!-- funnel:begin (written by benchmarks/funnel-load.sh; do not edit by hand) -->"
  echo "## Archive: inserts, and funnels over $(ecrm_bench_fmt "$EVENTS") archived events ($(date -u +%F))"
  echo
  echo "Command: \`benchmarks/funnel-load.sh $EVENTS $CUSTOMERS $INSERTED\` ($(ecrm_bench_fmt "$CUSTOMERS") customers, 50 topics, 30 days). Machine: $(ecrm_bench_machine),"
  echo "shared; ClickHouse $(curl -s "http://127.0.0.1:$HTTP_PORT/?query=SELECT%20version()") with the dev stack's configuration. ClickHouse generates the events itself"
  echo "(\`INSERT … SELECT … FROM numbers()\`, $(ecrm_bench_fmt "$(ecrm_bench_json "$ECRM_RESULTS/funnel.json" generatedRowsPerSecond)") rows/s): each customer keeps to about three topics, stages thin out"
  echo "55/25/13/7 %, times spread over 30 days, and one customer in ten sent half their events anonymously and is linked"
  echo "to their user id. The funnel is the engine's own SQL (\`FunnelQueries\`), with identity resolution; the references"
  echo "are plain scans of the same table in the same run. Median of 5 runs after one warm-up."
  echo
  ENGINE_RATE=$(ecrm_bench_json "$ECRM_RESULTS/archive-insert.json" rowsPerSecond)
  echo "Archive inserts first: $(ecrm_bench_fmt "$ROWS") generated events (mean payload $(ecrm_bench_json "$ECRM_RESULTS/archive-insert.json" meanPayloadBytes) bytes) matched to the demo catalog's topics,"
  echo "typed by the archive consumer's \`ArchiveBatch\` and inserted in RowBinary over HTTP (ClickHouse.Driver \`InsertBinaryAsync\`) in inserts"
  echo "of 20,000 rows (\`Engine:ArchiveMaxBatchRows\`), two in flight as the archive consumer runs them (\`Engine:ArchiveInsertsInFlight\`), after one untimed warm-up insert into a scratch database; the"
  echo "reference inserts exactly those rows (exported back) with \`clickhouse-client --query \"INSERT … FORMAT JSONEachRow\"\` in one"
  echo "stream, into a table of the same schema (its time includes starting clickhouse-client)."
  echo
  echo "| archive insert | rows/s | vs clickhouse-client |"
  echo "|---|---|---|"
  echo "| **the engine's ArchiveBatch, RowBinary inserts** | **$(ecrm_bench_fmt "$ENGINE_RATE")** | **$(ecrm_bench_ratio "$ENGINE_RATE" "$CLIENT_RATE")** |"
  echo "| reference: \`clickhouse-client\`, the same rows | $(ecrm_bench_fmt "$CLIENT_RATE") | 100 % |"
  echo
  echo "| query | median | vs the topic scan |"
  echo "|---|---|---|"
  tail -n +2 "$ECRM_RESULTS/funnel.csv" | while IFS= read -r line; do
    what="${line%\"*}"; what="${what#\"}"; ms="${line##*\",}"; ms="${ms%%,*}"
    case "$what" in 4-stage\ funnel\ of\ one\ topic\ \(*) what="**$what**"; ms="**$ms ms**" ;; *) ms="$ms ms" ;; esac
    echo "| $what | $ms | $(awk -v a="${ms//[!0-9.]/}" -v b="$SCAN" 'BEGIN { if (b > 0) printf "%.1f×", a / b }') |"
  done
  echo
  echo "![funnel query times](benchmarks/charts/funnel-queries.png)"
  echo
  echo "- The target: under 1 second for the 4-stage funnel over 10 million events spanning 30 days."
  echo "- The all-topics overview groups every customer of every topic; a per-day pre-aggregation (a materialized"
  echo "  view of first-reached times per customer and topic) would be the next step if it has to be instant."
  echo "<!-- funnel:end -->"
} > "$SECTION"
ecrm_bench_section funnel "$SECTION"
