#!/usr/bin/env bash
# Shared by run.sh and test.sh: installs what a fresh Debian machine lacks and starts the private
# back ends (Redis, ClickHouse, the embedded Kafka) under a data folder of the checkout.
# Source it; every function is prefixed ecrm_.

ECRM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ECRM_APT_PACKAGES=(redis-server redis-tools clickhouse-server clickhouse-client kcat curl wrk)

ecrm_log() { printf '\033[1;34m[ecrm]\033[0m %s\n' "$*" >&2; }

# Installs missing Debian packages (as root, or through sudo), then restores .NET packages.
ecrm_install() {
  local missing=() pkg
  for pkg in "${ECRM_APT_PACKAGES[@]}" "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    ecrm_log "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    # The packages' own services are not wanted: Ecrm starts private instances with its own config.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  command -v dotnet >/dev/null || { ecrm_log "the .NET 10 SDK is required (dotnet not found)"; return 1; }
  ecrm_log "restoring .NET packages"
  dotnet restore "$ECRM_ROOT/Ecrm.sln" --nologo -v quiet >/dev/null
}

# ecrm_port_free PORT: true when nothing listens on the loopback port.
ecrm_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ecrm_random_key: a fresh 32-hex-digit key.
ecrm_random_key() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

ecrm_wait_for() { # description, seconds, command...
  local what="$1" seconds="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then ecrm_log "$what did not come up within ${seconds}s"; return 1; fi
    sleep 0.3
  done
}

# ecrm_start_redis DIR PORT: a private Redis with AOF persistence (appendfsync everysec).
ecrm_start_redis() {
  local dir="$1" port="$2"
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly yes --appendfsync everysec \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  ecrm_wait_for "Redis on port $port" 20 redis-cli -p "$port" ping
}

# ecrm_start_clickhouse DIR HTTP_PORT TCP_PORT: a private ClickHouse with the project's own config.
ecrm_start_clickhouse() {
  local dir="$1" http_port="$2" tcp_port="$3"
  mkdir -p "$dir/log" "$dir/tmp"
  sed -e "s|@DATA@|$dir|g" -e "s|@HTTP_PORT@|$http_port|" -e "s|@TCP_PORT@|$tcp_port|" \
    "$ECRM_ROOT/dev/clickhouse/config.xml.template" > "$dir/config.xml"
  cp "$ECRM_ROOT/dev/clickhouse/users.xml" "$dir/users.xml"
  clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
  echo $! > "$dir/clickhouse.pid"
  ecrm_wait_for "ClickHouse on port $http_port" 60 curl -sf "http://127.0.0.1:$http_port/ping"
}

# ecrm_start_kafka DIR [TOPIC:PARTITIONS...]: the embedded Kafka (librdkafka's mock cluster, 3 brokers)
# with Ecrm's topics, or the ones given; prints its bootstrap list.
ecrm_start_kafka() {
  local dir="$1"; shift
  local topics=("$@")
  [ ${#topics[@]} -gt 0 ] || topics=(ecrm.events:6 ecrm.events.dlq:1 ecrm.dialogue.transitions:6)
  mkdir -p "$dir"
  rm -f "$dir/bootstrap"
  dotnet "$ECRM_ROOT/dev/Ecrm.DevKafka/bin/Release/net10.0/Ecrm.DevKafka.dll" "$dir/bootstrap" 3 "${topics[@]}" \
    >"$dir/kafka.log" 2>&1 &
  echo $! > "$dir/kafka.pid"
  ecrm_wait_for "the embedded Kafka" 30 test -s "$dir/bootstrap"
  cat "$dir/bootstrap"
}

# ecrm_stop_pidfile FILE: stops the process named in a pid file and waits for it to go.
ecrm_stop_pidfile() {
  local file="$1" pid
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}
