#!/usr/bin/env bash
# The Kafka broker of development and tests: Tansu (Apache-licensed, Kafka wire protocol, Rust)
# with its SQLite storage engine, on 127.0.0.1:9092. See docs/kafka.md.
#
#   scripts/kafka.sh start    start it (nothing to do when a broker already answers on
#                             127.0.0.1:9092; the broker it started is restarted when it runs
#                             but does not answer); builds Tansu once per machine if needed
#   scripts/kafka.sh stop     stop the broker this script started
#   scripts/kafka.sh crash    stop it the way a crash would (SIGKILL): the broker-outage
#                             test's outage
#   scripts/kafka.sh status   say whether it runs (exit 0) or not (exit 3)
#   scripts/kafka.sh wipe     stop it and delete its store (every topic and message); the
#                             store grows with every test run and is
#                             never trimmed by the broker itself
#
# Environment:
#   SCEPWATCH_TOOLS               where tools are installed (default ~/.cache/scepwatch-tools);
#                                 Tansu lives in $SCEPWATCH_TOOLS/tansu-0.6.0/bin/tansu
#   SCEPWATCH_KAFKA_DATA          broker data, pid file and log (default /var/tmp/scepwatch/kafka)
#   SCEPWATCH_KAFKA_START_TIMEOUT seconds to wait for the broker to answer (default 60)
#
# The product does not depend on Tansu: it speaks plain Kafka, and deployments use Apache Kafka.
set -euo pipefail

TANSU_VERSION=0.6.0
TOOLS="${SCEPWATCH_TOOLS:-$HOME/.cache/scepwatch-tools}"
PREFIX="$TOOLS/tansu-$TANSU_VERSION"
BIN="$PREFIX/bin/tansu"
DATA="${SCEPWATCH_KAFKA_DATA:-/var/tmp/scepwatch/kafka}"
PIDFILE="$DATA/tansu.pid"
LOG="$DATA/tansu.log"
HOST=127.0.0.1
PORT=9092
START_TIMEOUT="${SCEPWATCH_KAFKA_START_TIMEOUT:-60}"

say() { echo "kafka.sh: $*" >&2; }

# True when something on $HOST:$PORT answers a Kafka Metadata request (v4, no topics) with
# our correlation ID: a working broker, not just an open port. (A broker whose storage failed
# may still answer ApiVersions; it cannot answer Metadata.)
answers() {
  local reply
  reply=$(timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    # size 19 | api_key 3 (Metadata) | version 4 | correlation_id 0x5c3e | client_id "scep"
    # | topics: empty array | allow_auto_topic_creation: false
    printf "\x00\x00\x00\x13\x00\x03\x00\x04\x00\x00\x5c\x3e\x00\x04scep\x00\x00\x00\x00\x00" >&3
    head -c 8 <&3 | od -An -tx1
  ' "$HOST" "$PORT" 2>/dev/null) || return 1
  reply=$(echo "$reply" | tr -d ' \n')
  [ "${#reply}" -eq 16 ] && [ "${reply:8:8}" = "00005c3e" ]
}

# Pid of the broker this script started, if it is still that process.
our_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # The pid may have been reused by another program after a crash.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "tansu" || return 1
  echo "$pid"
}

ensure_binary() {
  [ -x "$BIN" ] && return 0
  command -v cargo >/dev/null 2>&1 || { say "cargo is needed to build Tansu $TANSU_VERSION"; exit 1; }
  mkdir -p "$TOOLS"
  # One build at a time per machine; whoever waits finds the binary afterwards.
  exec 9>"$TOOLS/.tansu-$TANSU_VERSION.lock"
  if ! flock -n 9; then
    say "another build of Tansu $TANSU_VERSION is running; waiting for it"
    flock 9
  fi
  if [ ! -x "$BIN" ]; then
    say "building Tansu $TANSU_VERSION with its SQLite engine into $PREFIX (once per machine; about 10 minutes on 2 cores)"
    cargo install tansu --version "$TANSU_VERSION" --locked --features libsql --root "$PREFIX"
  fi
  flock -u 9
  [ -x "$BIN" ] || { say "the build did not produce $BIN"; exit 1; }
}

launch() {
  # The SQLite engine resolves its path against the working directory.
  (
    cd "$DATA"
    setsid "$BIN" broker \
      --cluster-id scepwatch-dev \
      --listener-url "tcp://$HOST:$PORT" \
      --advertised-listener-url "tcp://$HOST:$PORT" \
      --storage-engine "sqlite://tansu.db" \
      >>"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  )
  say "started Tansu $TANSU_VERSION (pid $(cat "$PIDFILE"), data $DATA, log $LOG)"
}

# Waits until the broker answers; false when pid $1 exits or the timeout passes.
wait_answer() {
  local pid=$1 waited=0
  until answers; do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$waited" -lt "$((START_TIMEOUT * 5))" ] || return 1
    sleep 0.2
    waited=$((waited + 1))
  done
}

start() {
  if answers; then
    say "a Kafka broker already answers on $HOST:$PORT"
    return 0
  fi
  ensure_binary
  mkdir -p "$DATA"
  local pid
  if pid=$(our_pid); then
    # Still starting, or running without answering: its storage failed (the SQLite engine
    # stops serving after e.g. "database or disk is full"). Give a young process the start
    # timeout, then restart it once.
    local age
    age=$(ps -o etimes= -p "$pid" 2>/dev/null | tr -d ' ')
    if [ "${age:-0}" -lt "$START_TIMEOUT" ]; then
      say "broker (pid $pid) is starting; waiting for it"
      if wait_answer "$pid"; then
        say "broker answers on $HOST:$PORT"
        return 0
      fi
    fi
    say "broker (pid $pid) runs but does not answer; restarting it. Last lines of $LOG:"
    tail -n 10 "$LOG" >&2 || true
    stop
  fi
  launch
  pid=$(cat "$PIDFILE")
  if ! wait_answer "$pid"; then
    if kill -0 "$pid" 2>/dev/null; then
      say "the broker did not answer on $HOST:$PORT within ${START_TIMEOUT}s; last lines of $LOG:"
    else
      say "the broker exited while starting; last lines of $LOG:"
      rm -f "$PIDFILE"
    fi
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
  say "broker answers on $HOST:$PORT"
}

stop() {
  local pid
  if ! pid=$(our_pid); then
    rm -f "$PIDFILE"
    if answers; then
      say "a broker answers on $HOST:$PORT but was not started by this script; leaving it"
    else
      say "not running"
    fi
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "broker (pid $pid) ignored SIGTERM for 10s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  say "stopped (pid $pid)"
}

status() {
  local pid
  if pid=$(our_pid); then
    if answers; then
      echo "running: pid $pid, $HOST:$PORT, data $DATA, log $LOG"
      return 0
    fi
    echo "pid $pid runs but does not answer Kafka requests (starting, or its storage failed: see $LOG)"
    return 3
  fi
  if answers; then
    echo "a Kafka broker answers on $HOST:$PORT (not started by this script)"
    return 0
  fi
  echo "not running"
  return 3
}

crash() {
  local pid
  if ! pid=$(our_pid); then
    rm -f "$PIDFILE"
    say "no broker started by this script runs; nothing to crash"
    return 0
  fi
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$PIDFILE"
  say "killed (SIGKILL, pid $pid)"
}

wipe() {
  stop
  local size
  size=$(du -sh "$DATA" 2>/dev/null | cut -f1)
  rm -f "$DATA"/tansu.db "$DATA"/tansu.db-*
  say "deleted the store in $DATA (${size:-0} with the log)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  crash) crash ;;
  status) status ;;
  wipe) wipe ;;
  *)
    echo "usage: $0 start|stop|crash|status|wipe" >&2
    exit 2
    ;;
esac
