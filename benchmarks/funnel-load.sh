#!/usr/bin/env bash
# The archive's insert path (the engine's ArchiveBatch and RowBinary inserts through ClickHouse.Driver, next to clickhouse-client inserting the
# same rows), then the funnel query over a large archive: fills a private ClickHouse with generated events (10 million
# over 30 days by default), then times the engine's own funnel SQL next to plain scans of the same
# table in the same run. Writes benchmarks/results/funnel.{csv,json}, a chart, and rewrites BENCHMARKS.md's
# funnel section. Then the same customers with SCALE times the events, to show that dialogue funnels cost what the
# dialogues do, not the events. Usage: benchmarks/funnel-load.sh [events=10000000] [customers=1000000] [archived events=200000] [scale=5]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
source "$ECRM_ROOT/benchmarks/lib.sh"
cd "$ECRM_ROOT"
EVENTS="${1:-10000000}"
CUSTOMERS="${2:-1000000}"
INSERTED="${3:-200000}"
SCALE="${4:-5}"
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
# The reference database is the archive's own schema, compact dialogue tables and their views included (each
# statement as ClickHouse shows it for archive_bench), so both inserts pay for the views; archive_plain has the
# events table alone, which shows what keeping the compact dialogue history costs an insert.
ch() { clickhouse-client --port "$TCP_PORT" "$@"; }
ch --query "CREATE DATABASE IF NOT EXISTS archive_ref"
for object in $(ch --query "SELECT name FROM system.tables WHERE database = 'archive_bench' ORDER BY engine LIKE '%View%', name"); do
  ch --query "$(ch --format TSVRaw --query "SHOW CREATE TABLE archive_bench.$object" | sed 's/archive_bench\./archive_ref./g')"
done
ch --query "CREATE DATABASE IF NOT EXISTS archive_plain"
ch --query "CREATE TABLE archive_plain.events AS archive_bench.events"
ROWS=$(wc -l < "$DATA/archive-rows.ndjson")
client_insert() { # DATABASE: milliseconds to insert the exported rows there with clickhouse-client
  local start=$(date +%s%N)
  ch --query "INSERT INTO $1.events FORMAT JSONEachRow" < "$DATA/archive-rows.ndjson"
  echo $(( ($(date +%s%N) - start) / 1000000 ))
}
CLIENT_MS=$(client_insert archive_ref)
PLAIN_MS=$(client_insert archive_plain)
CLIENT_RATE=$(awk -v r="$ROWS" -v ms="$CLIENT_MS" 'BEGIN { printf "%.0f", r / (ms / 1000) }')
PLAIN_RATE=$(awk -v r="$ROWS" -v ms="$PLAIN_MS" 'BEGIN { printf "%.0f", r / (ms / 1000) }')
echo "{\"rows\":$ROWS,\"milliseconds\":$CLIENT_MS,\"rowsPerSecond\":$CLIENT_RATE,\"withoutCompactTablesMilliseconds\":$PLAIN_MS,\"withoutCompactTablesRowsPerSecond\":$PLAIN_RATE}" > "$ECRM_RESULTS/archive-insert-clickhouse-client.json"
ecrm_log "clickhouse-client: $ROWS rows in $CLIENT_MS ms ($CLIENT_RATE rows/s) with the compact dialogue tables, $PLAIN_MS ms ($PLAIN_RATE rows/s) into the events table alone"

SCALED=$((EVENTS * SCALE))
dotnet benchmarks/Ecrm.LoadDriver/bin/Release/net10.0/Ecrm.LoadDriver.dll funnel --clickhouse "http://127.0.0.1:$HTTP_PORT" \
  --events "$SCALED" --customers "$CUSTOMERS" --days 30 --runs 5 --output "$ECRM_RESULTS/funnel-scaled"
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
# exact_median NAME FILE: the median of the query of exactly that name (one name may begin another's).
exact_median() { awk -F'"' -v q="$1" '$2 == q { split($3, f, ","); print f[2] }' "$2"; }
SCAN=$(median "reference: SELECT count()")
SECTION="$ECRM_RESULTS/funnel-section.md"
{
  echo "<!-- funnel:begin (written by benchmarks/funnel-load.sh; do not edit by hand) -->"
  echo "## Archive: inserts, and funnels over $(ecrm_bench_fmt "$EVENTS") archived events ($(date -u +%F))"
  echo
  echo "Command: \`benchmarks/funnel-load.sh $EVENTS $CUSTOMERS $INSERTED $SCALE\` ($(ecrm_bench_fmt "$CUSTOMERS") customers, 50 topics, 30 days). Machine: $(ecrm_bench_machine),"
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
  echo "| reference: \`clickhouse-client\`, the same rows into the events table alone (no compact dialogue tables) | $(ecrm_bench_fmt "$PLAIN_RATE") | $(ecrm_bench_ratio "$PLAIN_RATE" "$CLIENT_RATE") |"
  echo
  echo "Keeping the compact history (the materialized views over every insert into the events: dialogue stages, per channel, last activity, orders) costs an insert"
  echo "$(awk -v a="$CLIENT_MS" -v b="$PLAIN_MS" 'BEGIN { printf "%.0f %%", 100 * (a - b) / b }') more time with clickhouse-client."
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
  echo "How funnel cost follows dialogues, not events: the same $(ecrm_bench_fmt "$CUSTOMERS") customers with $SCALE times the events, in the same run"
  echo "(the compact tables filled from the events in one pass after generating, as ArchiveSchema backfills an existing archive, so they are fully merged here):"
  echo
  J="$ECRM_RESULTS/funnel.json"; JS="$ECRM_RESULTS/funnel-scaled/funnel.json"
  echo "| | $(ecrm_bench_fmt "$EVENTS") events | $(ecrm_bench_fmt "$SCALED") events | ratio |"
  echo "|---|---|---|---|"
  size_row() { echo "| $1 | $(ecrm_bench_fmt "$(ecrm_bench_json "$J" "$2")") | $(ecrm_bench_fmt "$(ecrm_bench_json "$JS" "$2")") | $(awk -v a="$(ecrm_bench_json "$JS" "$2")" -v b="$(ecrm_bench_json "$J" "$2")" 'BEGIN { printf "%.2f×", a / b }') |"; }
  size_row "rows: events" eventRows
  size_row "rows: \`dialogue_stages\`" dialogueStagesRows
  size_row "rows: \`dialogue_channel_stages\`" dialogueChannelStagesRows
  size_row "compressed bytes: events" eventBytes
  size_row "compressed bytes: \`dialogue_stages\`" dialogueStagesBytes
  echo "| taking the overview's snapshot (background, every \`Engine:OverviewSnapshotMinutes\`) | $(ecrm_bench_json "$J" snapshotSeconds) s | $(ecrm_bench_json "$JS" snapshotSeconds) s | $(awk -v a="$(ecrm_bench_json "$JS" snapshotSeconds)" -v b="$(ecrm_bench_json "$J" snapshotSeconds)" 'BEGIN { printf "%.2f×", a / b }') |"
  tail -n +2 "$ECRM_RESULTS/funnel.csv" | while IFS= read -r line; do
    what="${line%\"*}"; what="${what#\"}"; ms="${line##*\",}"; ms="${ms%%,*}"
    scaled="$(exact_median "$what" "$ECRM_RESULTS/funnel-scaled/funnel.csv")"
    echo "| $what | $ms ms | $scaled ms | $(awk -v a="$scaled" -v b="$ms" 'BEGIN { if (b > 0) printf "%.2f×", a / b }') |"
  done
  echo
  echo "- Dialogue-order funnels read the compact dialogue history (\`dialogue_stages\`: one row per topic and id, with the first and"
  echo "  last time at each stage; \`dialogue_channel_stages\` per channel, for channel filters and breakdowns), not the events;"
  echo "  strict order still scans the range's events."
  echo "- The all-topics overview must group every dialogue of every topic by customer after identity resolution (about 3 million"
  echo "  groups here), which costs more than the reference uniqExact over a million customers. So the engine keeps a snapshot of"
  echo "  that grouping (\`DialogueSummary\`, taken in the background) and the overview reads it, grouping again only the customers"
  echo "  written since the snapshot (or linked to an id it did not know); the answer equals grouping everything (\`FunnelTests\`,"
  echo "  \`ClusterArchiveTests\`). The row \"grouping every dialogue\" is the overview with no snapshot, as right after an erasure."
  echo "<!-- funnel:end -->"
} > "$SECTION"
ecrm_bench_section funnel "$SECTION"
