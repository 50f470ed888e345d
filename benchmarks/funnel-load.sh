#!/usr/bin/env bash
# The archive's insert path (the engine's ArchiveBatch and RowBinary inserts through ClickHouse.Driver, next to clickhouse-client inserting the
# same rows), then the funnel query over a large archive: fills a private ClickHouse with generated events (10 million
# over 30 days by default), then times the engine's own funnel SQL next to plain scans of the same
# table in the same run. Writes benchmarks/results/funnel.{csv,json}, a chart, and rewrites BENCHMARKS.md's
# funnel section. Usage: benchmarks/funnel-load.sh [events=10000000,50000000] [customers=1000000] [archived events=200000]
# (each size of the comma-separated list is a fresh archive of the same customers; the first one draws the chart)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
source "$ECRM_ROOT/benchmarks/lib.sh"
cd "$ECRM_ROOT"
SIZES="${1:-10000000,50000000}"
EVENTS="${SIZES%%,*}"
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

for N in ${SIZES//,/ }; do
  ecrm_log "funnels over $N generated events"
  dotnet benchmarks/Ecrm.LoadDriver/bin/Release/net10.0/Ecrm.LoadDriver.dll funnel --clickhouse "http://127.0.0.1:$HTTP_PORT" \
    --events "$N" --customers "$CUSTOMERS" --days 30 --runs 5 --output "$ECRM_RESULTS/funnel-$N"
done
cp "$ECRM_RESULTS/funnel-$EVENTS/funnel.csv" "$ECRM_RESULTS/funnel.csv"
cp "$ECRM_RESULTS/funnel-$EVENTS/funnel.json" "$ECRM_RESULTS/funnel.json"

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

# The median of the query on line N of a results CSV (the same queries, in the same order, at every size).
median() { awk -F'"' -v n="$1" 'NR == n { split($3, f, ","); print f[2] }' "$2"; }
SECTION="$ECRM_RESULTS/funnel-section.md"
{
  echo "<!-- funnel:begin (written by benchmarks/funnel-load.sh; do not edit by hand) -->"
  echo "## Archive: inserts, and funnels over $(ecrm_bench_fmt "$EVENTS") archived events and more ($(date -u +%F))"
  echo
  echo "Command: \`benchmarks/funnel-load.sh $SIZES $CUSTOMERS $INSERTED\` ($(ecrm_bench_fmt "$CUSTOMERS") customers, 50 topics, 30 days). Machine: $(ecrm_bench_machine),"
  echo "shared; ClickHouse $(curl -s "http://127.0.0.1:$HTTP_PORT/?query=SELECT%20version()") with the dev stack's configuration. ClickHouse generates the events itself"
  echo "(\`INSERT … SELECT … FROM numbers()\`, $(ecrm_bench_fmt "$(ecrm_bench_json "$ECRM_RESULTS/funnel.json" generatedRowsPerSecond)") rows/s at $(ecrm_bench_fmt "$EVENTS"), the compact table's view included): each customer keeps to about three topics, stages thin out"
  echo "55/25/13/7 %, times spread over 30 days, and one customer in ten sent half their events anonymously and is linked"
  echo "to their user id. The funnel is the engine's own SQL (\`FunnelQueries\`), with identity resolution; dialogue order and the overview read the"
  echo "compact dialogue history (\`dialogue_stages\`), strict order the raw events. The reference is a plain scan of the raw events in the same run"
  echo "and the same archive. Median of 5 runs after one warm-up."
  echo
  ENGINE_RATE=$(ecrm_bench_json "$ECRM_RESULTS/archive-insert.json" rowsPerSecond)
  echo "Archive inserts first: $(ecrm_bench_fmt "$ROWS") generated events (mean payload $(ecrm_bench_json "$ECRM_RESULTS/archive-insert.json" meanPayloadBytes) bytes) matched to the demo catalog's topics,"
  echo "typed by the archive consumer's \`ArchiveBatch\` and inserted in RowBinary over HTTP (ClickHouse.Driver \`InsertBinaryAsync\`) in inserts"
  echo "of 20,000 rows (\`Engine:ArchiveMaxBatchRows\`), one after another, after one untimed warm-up insert into a scratch database; the"
  echo "reference inserts exactly those rows (exported back) with \`clickhouse-client --query \"INSERT … FORMAT JSONEachRow\"\` in one"
  echo "stream, into a table of the same schema (its time includes starting clickhouse-client; that table has no view of the compact history, the engine's has)."
  echo
  echo "| archive insert | rows/s | vs clickhouse-client |"
  echo "|---|---|---|"
  echo "| **the engine's ArchiveBatch, RowBinary inserts** | **$(ecrm_bench_fmt "$ENGINE_RATE")** | **$(ecrm_bench_ratio "$ENGINE_RATE" "$CLIENT_RATE")** |"
  echo "| reference: \`clickhouse-client\`, the same rows | $(ecrm_bench_fmt "$CLIENT_RATE") | 100 % |"
  echo
  HEADER="| query"; RULE="|---"
  for N in ${SIZES//,/ }; do HEADER="$HEADER | $(ecrm_bench_fmt "$N") events | vs its scan"; RULE="$RULE|---|---"; done
  FIRST_CSV="$ECRM_RESULTS/funnel-$EVENTS/funnel.csv"
  LAST="${SIZES##*,}"
  if [ "$LAST" != "$EVENTS" ]; then HEADER="$HEADER | $(ecrm_bench_fmt "$LAST") vs $(ecrm_bench_fmt "$EVENTS")"; RULE="$RULE|---"; fi
  echo "$HEADER |"; echo "$RULE|"
  n=1
  tail -n +2 "$FIRST_CSV" | while IFS= read -r line; do
    n=$((n + 1))
    what="${line%\"*}"; what="${what#\"}"
    # The first reference line is timed before the compact table's merges; the later one, after them, is the one quoted.
    case "$what" in "4-stage funnel of one topic (dialogue order"*|"every topic's funnel at once (50 topics)") row="| **$what**" ;; *) row="| $what" ;; esac
    for N in ${SIZES//,/ }; do
      csv="$ECRM_RESULTS/funnel-$N/funnel.csv"
      scan=$(awk -F'"' 'index($2, "reference: SELECT count()") == 1 { split($3, f, ","); v = f[2] } END { print v }' "$csv")
      ms=$(median "$n" "$csv")
      row="$row | $ms ms | $(awk -v a="$ms" -v b="$scan" 'BEGIN { if (b > 0) printf "%.2f×", a / b }')"
    done
    if [ "$LAST" != "$EVENTS" ]; then
      row="$row | $(awk -v a="$(median "$n" "$ECRM_RESULTS/funnel-$LAST/funnel.csv")" -v b="$(median "$n" "$FIRST_CSV")" 'BEGIN { if (b > 0) printf "%.2f×", a / b }')"
    fi
    echo "$row |"
  done
  echo
  echo "The compact dialogue history (\`dialogue_stages\`: per topic, id, channel and stage the first and last interaction), kept by a materialized view on the events:"
  echo
  echo "| events | compact rows (bytes on disk) | raw events (bytes on disk) | rows before merging (parts) | OPTIMIZE … FINAL | $(ecrm_bench_fmt 3000000) inserts with the view | without | view's insert cost |"
  echo "|---|---|---|---|---|---|---|---|"
  for N in ${SIZES//,/ }; do
    j="$ECRM_RESULTS/funnel-$N/funnel.json"
    w=$(ecrm_bench_json "$j" insertWithViewMs); wo=$(ecrm_bench_json "$j" insertWithoutViewMs)
    echo "| $(ecrm_bench_fmt "$N") | $(ecrm_bench_fmt "$(ecrm_bench_json "$j" compactRows)") ($(ecrm_bench_fmt "$(ecrm_bench_json "$j" compactBytes)")) | $(ecrm_bench_fmt "$(ecrm_bench_json "$j" eventRows)") ($(ecrm_bench_fmt "$(ecrm_bench_json "$j" eventBytes)")) | $(ecrm_bench_fmt "$(ecrm_bench_json "$j" compactRowsUnmerged)") ($(ecrm_bench_json "$j" compactPartsUnmerged)) | $(ecrm_bench_fmt "$(ecrm_bench_json "$j" compactMergeMs)") ms | $(ecrm_bench_fmt "$w") ms | $(ecrm_bench_fmt "$wo") ms | $(awk -v a="$w" -v b="$wo" 'BEGIN { if (b > 0) printf "+%.0f %%", 100 * (a - b) / b }') |"
  done
  echo
  echo "The query figures after the merge are the steady state the background merges reach; the two lines marked \"before the compact"
  echo "table's merges\" were timed right after the inserts. Targets (issue 17): the one-topic funnel no slower than the scan, the overview"
  echo "within 5× the scan, and the larger archive of the same customers within 1.5× the smaller one's figures."
  echo
  echo "![funnel query times](benchmarks/charts/funnel-queries.png)"
  echo "<!-- funnel:end -->"
} > "$SECTION"
ecrm_bench_section funnel "$SECTION"
