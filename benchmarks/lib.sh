#!/usr/bin/env bash
# Shared by the benchmark scripts (source it after dev/stack.sh): where results go, the machine line,
# the Redis references, and the rewriting of a script's own section of BENCHMARKS.md.

ECRM_RESULTS="$ECRM_ROOT/benchmarks/results"
ECRM_CHARTS="$ECRM_ROOT/benchmarks/charts"
mkdir -p "$ECRM_RESULTS" "$ECRM_CHARTS"

# ecrm_bench_machine: one line naming the machine, for each section's header.
ecrm_bench_machine() {
  printf '%s vCPU %s, %s GiB, %s, .NET %s' "$(nproc)" "$(lscpu | sed -n 's/^Model name: *//p')" \
    "$(awk '/MemTotal/{printf "%.0f", $2/1048576}' /proc/meminfo)" "$(. /etc/os-release; echo "$PRETTY_NAME")" \
    "$(dotnet --list-runtimes | sed -n 's/^Microsoft.NETCore.App \([0-9.]*\).*/\1/p' | tail -1)"
}

# The script making the same Redis calls as a typical fold (2 GETs, HMGET of 7 fields, HINCRBY, 2 HSETs,
# HGET, HSET, ZADD GT, SET EX): redis-benchmark's EVALSHA of it is the fold's physical reference.
ECRM_FOLD_LIKE_SCRIPT="redis.call('GET',KEYS[1]) redis.call('GET',KEYS[2]) redis.call('HMGET',KEYS[3],'stage','status','first','last','ep','score','s4:at') redis.call('HINCRBY',KEYS[3],'n:web',1) redis.call('HSET',KEYS[3],'last',ARGV[1]) redis.call('HSET',KEYS[3],'score','1.500000') redis.call('HGET',KEYS[3],'s1:at') redis.call('HSET',KEYS[3],'s1:at',ARGV[1],'s1:ch','web') redis.call('ZADD',KEYS[4],'GT',ARGV[1],'t') redis.call('SET',KEYS[2],'F1','EX',604800) return 1"

# ecrm_bench_evalsha PORT CALLS OUTFILE: prints redis-benchmark's EVALSHA calls/s of the fold-like script
# (50 clients, pipelines of 16), keeping its output in OUTFILE.
ecrm_bench_evalsha() {
  local port="$1" calls="$2" out="$3" sha
  sha=$(redis-cli -p "$port" script load "$ECRM_FOLD_LIKE_SCRIPT")
  redis-benchmark -p "$port" -n "$calls" -c 50 -P 16 -r 1000000 -q \
    evalsha "$sha" 4 "o:{__rand_int__}" "m:{__rand_int__}" "d:{__rand_int__}" "i:{__rand_int__}" 1795600000000 >"$out" 2>&1
  ecrm_bench_rps "$out"
}

# ecrm_bench_hset PORT CALLS OUTFILE: prints redis-benchmark's pipelined HSET calls/s (50 clients, pipelines of 16).
ecrm_bench_hset() {
  local port="$1" calls="$2" out="$3"
  redis-benchmark -p "$port" -n "$calls" -c 50 -P 16 -r 1000000 -q -t hset >"$out" 2>&1
  ecrm_bench_rps "$out"
}

# ecrm_bench_rps FILE: the requests per second redis-benchmark -q reported last in FILE.
ecrm_bench_rps() { tr '\r' '\n' < "$1" | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1 | cut -d. -f1; }

# ecrm_bench_json FILE KEY: a number or string field of a flat JSON object.
ecrm_bench_json() { sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$1" | head -1; }

# ecrm_bench_ratio A B: A / B as a percentage with no decimals.
ecrm_bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f %%", 100 * a / b; else print "n/a" }'; }

# ecrm_bench_fmt N: an integer with thousands separators (1,234,567).
ecrm_bench_fmt() { printf '%.0f' "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

# ecrm_bench_section NAME FILE: replaces BENCHMARKS.md's <!-- NAME:begin --> ... <!-- NAME:end --> with FILE
# (which holds both markers), or appends FILE when the section is not there yet.
ecrm_bench_section() {
  local name="$1" file="$2" doc="$ECRM_ROOT/BENCHMARKS.md"
  if grep -q "<!-- $name:begin" "$doc"; then
    awk -v section="$file" -v begin="<!-- $name:begin" -v end="<!-- $name:end -->" '
      index($0, begin) == 1 { while ((getline line < section) > 0) print line; skip = 1; next }
      index($0, end) == 1 { skip = 0; next }
      !skip' "$doc" > "$doc.new"
    mv "$doc.new" "$doc"
  else
    { echo; cat "$file"; } >> "$doc"
  fi
  ecrm_log "BENCHMARKS.md: section '$name' rewritten"
}
