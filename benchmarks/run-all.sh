#!/usr/bin/env bash
# Runs every benchmark, each with its reference measured in the same run, and lets each rewrite its own
# section of BENCHMARKS.md: micro (BenchmarkDotNet), fold, archive and funnels, collector, recommender
# latency, the recommender's offline evaluation, tracker size, triggers, end to end (against a ./run.sh it starts and stops), scale (last: its capacity plan reads the
# fold and archive results of this run). Results (CSV, JSON) in benchmarks/results, logs of each step in
# benchmarks/results/logs, charts in benchmarks/charts. A failed step is reported and the others still run.
# Usage: benchmarks/run-all.sh [--quick]   (--quick: every step at a small size, a smoke run in a few minutes)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
source "$ECRM_ROOT/benchmarks/lib.sh"
cd "$ECRM_ROOT"
QUICK=false
[ "${1:-}" = "--quick" ] && QUICK=true
LOGS="$ECRM_RESULTS/logs"
mkdir -p "$LOGS"

# name | full run | --quick run
STEPS=(
  "micro|benchmarks/micro.sh|benchmarks/micro.sh --quick"
  "fold|benchmarks/fold-load.sh 650000|benchmarks/fold-load.sh 20000"
  "funnel|benchmarks/funnel-load.sh 10000000 1000000 200000|benchmarks/funnel-load.sh 1000000 100000 20000"
  "collector|benchmarks/collector-load.sh|benchmarks/collector-load.sh"
  "recommender|benchmarks/recommender-load.sh|benchmarks/recommender-load.sh"
  "offline|benchmarks/recommender-offline.sh|benchmarks/recommender-offline.sh --quick"
  "tracker|benchmarks/tracker-size.sh|benchmarks/tracker-size.sh"
  "triggers|benchmarks/trigger-load.sh 10000 2000 50|benchmarks/trigger-load.sh 1000 200 50"
  "e2e|e2e_against_run_sh 100 20|e2e_against_run_sh 50 5"
  "scale|benchmarks/scale-load.sh 200000|benchmarks/scale-load.sh 20000"
)
# The collector and recommender scripts take no arguments here; they may read this to run small.
$QUICK && export ECRM_BENCH_QUICK=1

# e2e_against_run_sh RATE SECONDS: starts ./run.sh with fresh stores and known keys, runs e2e-load.sh against it, stops it.
e2e_against_run_sh() {
  local log="$LOGS/run-sh.log" pid status=0
  export ECRM_WRITE_KEY="wk_$(ecrm_random_key)" ECRM_API_KEY="ak_$(ecrm_random_key)" ECRM_ADMIN_KEY="adm_$(ecrm_random_key)"
  ./run.sh --fresh >"$log" 2>&1 &
  pid=$!
  until grep -q "Ecrm is running" "$log"; do
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$log"; return 1; }
    sleep 1
  done
  benchmarks/e2e-load.sh "$@" || status=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return "$status"
}

# run_step INDEX NAME COMMAND: runs one step into its log, with a progress line (elapsed time and the log's last line).
run_step() {
  local index="$1" name="$2" command="$3" log="$LOGS/$2.log" started=$SECONDS pid status=0 last
  ecrm_log "[$index/${#STEPS[@]}] $name: $command (log: ${log#"$ECRM_ROOT/"})"
  ( eval "$command" ) >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    last="$(tail -n 1 "$log" 2>/dev/null | tr -d '\r' | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-70)"
    if [ -t 2 ]; then
      printf '\r\033[K  %s %s  %s' "$name" "$(clock $((SECONDS - started)))" "$last" >&2
    elif (( (SECONDS - started) % 30 == 0 )); then
      printf '  %s %s  %s\n' "$name" "$(clock $((SECONDS - started)))" "$last" >&2
    fi
    sleep 1
  done
  wait "$pid" || status=$?
  [ -t 2 ] && printf '\r\033[K' >&2
  RESULTS+=("$name|$status|$((SECONDS - started))")
  if [ "$status" -eq 0 ]; then
    ecrm_log "[$index/${#STEPS[@]}] $name done in $(clock $((SECONDS - started))) (total $(clock $((SECONDS - RUN_STARTED))))"
  else
    ecrm_log "[$index/${#STEPS[@]}] $name FAILED (exit $status) after $(clock $((SECONDS - started))); last lines of its log:"
    tail -n 15 "$log" >&2
  fi
}

clock() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }

ecrm_install gnuplot-nox wrk kcat redis-tools bc
ecrm_log "building the solution (Release)"
dotnet build Ecrm.sln -c Release --nologo -v quiet -clp:ErrorsOnly
RUN_STARTED=$SECONDS
RESULTS=()
for i in "${!STEPS[@]}"; do
  IFS='|' read -r name full quick <<<"${STEPS[$i]}"
  $QUICK && command="$quick" || command="$full"
  run_step $((i + 1)) "$name" "$command"
done

FAILED=0
{
  printf '{"quick":%s,"machine":"%s","steps":[' "$QUICK" "$(ecrm_bench_machine)"
  for i in "${!RESULTS[@]}"; do
    IFS='|' read -r name status seconds <<<"${RESULTS[$i]}"
    [ "$status" -eq 0 ] || FAILED=$((FAILED + 1))
    printf '%s{"name":"%s","exit":%s,"seconds":%s}' "$([ "$i" -gt 0 ] && echo ,)" "$name" "$status" "$seconds"
  done
  printf ']}\n'
} > "$ECRM_RESULTS/run-all.json"
ecrm_log "all steps in $(clock $((SECONDS - RUN_STARTED))); $FAILED failed; summary in benchmarks/results/run-all.json"
$QUICK && ecrm_log "--quick: BENCHMARKS.md now holds smoke-run figures; 'git checkout BENCHMARKS.md benchmarks/charts' puts the measured ones back"
[ "$FAILED" -eq 0 ]
