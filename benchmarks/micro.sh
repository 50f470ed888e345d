#!/usr/bin/env bash
# The BenchmarkDotNet suite (every class, the shared job of benchmarks/Ecrm.Benchmarks/BenchmarkConfig.cs),
# then BENCHMARKS.md's micro section from its GitHub-markdown reports. Reports (markdown, CSV, JSON) stay
# in benchmarks/results/bdn/results. Usage: benchmarks/micro.sh [--quick]   (--quick: one iteration each)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
source "$ECRM_ROOT/benchmarks/lib.sh"
cd "$ECRM_ROOT"
QUICK=()
[ "${1:-}" = "--quick" ] && QUICK=(--quick)
ARTIFACTS="$ECRM_RESULTS/bdn"
ecrm_install redis-server
dotnet build benchmarks/Ecrm.Benchmarks -c Release --nologo -v quiet -clp:ErrorsOnly
rm -rf "$ARTIFACTS"
dotnet run -c Release --no-build --project benchmarks/Ecrm.Benchmarks -- --filter '*' "${QUICK[@]}" --artifacts "$ARTIFACTS"

report() { echo "$ARTIFACTS/results/Ecrm.Benchmarks.$1-report-github.md"; }
table() { grep '^|' "$(report "$1")"; }
SECTION="$ECRM_RESULTS/micro-section.md"
{
  echo "<!-- micro:begin (written by benchmarks/micro.sh; do not edit by hand) -->"
  echo "## Micro benchmarks (BenchmarkDotNet, $(date -u +%F))"
  echo
  echo "Command: \`benchmarks/micro.sh${QUICK:+ --quick}\`, which runs \`dotnet run -c Release --project benchmarks/Ecrm.Benchmarks -- --filter '*'${QUICK:+ --quick}\`"
  if [ ${#QUICK[@]} -gt 0 ]; then
    echo "(**--quick: one cold iteration each, a smoke run; these times are not measurements**)."
  else
    echo "(one job for every class: 3 warm-up and 8 measured iterations of about 250 ms, one process per benchmark)."
  fi
  echo "\`[MemoryDiagnoser]\` on every class. Reports in \`benchmarks/results/bdn/results\` (markdown, CSV, JSON)."
  echo
  echo '```'
  sed -n '/^```/,/^```/p' "$(report EnvelopeBenchmarks)" | grep -v '^```'
  echo '```'
  echo
  echo "### Envelope: UTF-8 bytes to the model and back (\`EnvelopeBenchmarks\`)"
  echo
  table EnvelopeBenchmarks
  echo
  echo "### Topic catalog matching, one event (\`MatcherBenchmarks\`)"
  echo
  echo "10 rules a topic (paths and globs, track events with a \`sku\` property, email campaigns, app screens, orders);"
  echo "the event matches the last topic. Event rules are indexed by event name and first property, so the cost"
  echo "should stay flat from 10 to 10,000 rules."
  echo
  table MatcherBenchmarks
  echo
  echo "### Archive encoder: 1,000 events into JSONEachRow rows, one ClickHouse insert's worth (\`ArchiveEncoderBenchmarks\`)"
  echo
  table ArchiveEncoderBenchmarks
  echo
  echo "### Recommender scoring, one customer with five live dialogues, models over 200 topics (\`RecommenderScoringBenchmarks\`)"
  echo
  table RecommenderScoringBenchmarks
  echo
  echo "### The fold script's round trip, one event, against a private redis-server (\`FoldBenchmarks\`)"
  echo
  echo "Redis 7 started by the benchmark (AOF, everysec, as shipped), 10,000 dialogues present. The baseline is a"
  echo "PING over the same connection, so the Ratio column is the fold's cost in Redis round trips. Allocations"
  echo "count the client's (StackExchange.Redis 3.4) as well as the folder's."
  echo
  table FoldBenchmarks
  echo "<!-- micro:end -->"
} > "$SECTION"
ecrm_bench_section micro "$SECTION"
