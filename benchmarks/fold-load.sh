#!/usr/bin/env bash
# Fold throughput into Redis with the engine's own script, next to redis-benchmark's EVALSHA rate
# for a comparable script (same number of Redis calls) in the same run, and memory per dialogue.
# Usage: benchmarks/fold-load.sh [customers=50000]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../dev/stack.sh"
cd "$ECRM_ROOT"
CUSTOMERS="${1:-50000}"
OUT="$ECRM_ROOT/benchmarks/results"
DATA="$ECRM_ROOT/.data/fold-bench"
PORT=16390
rm -rf "$DATA"; mkdir -p "$DATA" "$OUT"
ecrm_install
dotnet build benchmarks/Ecrm.LoadDriver -c Release --nologo -v quiet -clp:ErrorsOnly
redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
# The shipped configuration: AOF with appendfsync everysec.
ecrm_start_redis "$DATA" "$PORT"
trap 'redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true' EXIT

ecrm_log "folding $CUSTOMERS customers' traffic"
dotnet benchmarks/Ecrm.LoadDriver/bin/Release/net10.0/Ecrm.LoadDriver.dll fold --redis "127.0.0.1:$PORT" \
  --catalog dev/demo/topic-catalog.json --customers "$CUSTOMERS" --concurrency 512 --output "$OUT"

ecrm_log "reference: redis-benchmark EVALSHA of a script with the fold's Redis calls (2 GETs, HMGET of 7 fields, HINCRBY, 2 HSETs, HGET, HSET, ZADD GT, SET EX)"
SCRIPT="redis.call('GET',KEYS[1]) redis.call('GET',KEYS[2]) redis.call('HMGET',KEYS[3],'stage','status','first','last','ep','score','s4:at') redis.call('HINCRBY',KEYS[3],'n:web',1) redis.call('HSET',KEYS[3],'last',ARGV[1]) redis.call('HSET',KEYS[3],'score','1.500000') redis.call('HGET',KEYS[3],'s1:at') redis.call('HSET',KEYS[3],'s1:at',ARGV[1],'s1:ch','web') redis.call('ZADD',KEYS[4],'GT',ARGV[1],'t') redis.call('SET',KEYS[2],'F1','EX',604800) return 1"
SHA=$(redis-cli -p "$PORT" script load "$SCRIPT")
redis-benchmark -p "$PORT" -n 300000 -c 50 -P 16 -r 1000000 -q \
  evalsha "$SHA" 4 "o:{__rand_int__}" "m:{__rand_int__}" "d:{__rand_int__}" "i:{__rand_int__}" 1795600000000 | tee "$OUT/redis-benchmark-evalsha.txt"
