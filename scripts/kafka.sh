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
#                                 Tansu lives in
#                                 $SCEPWATCH_TOOLS/tansu-0.6.0-libsql-dynostore/bin/tansu
#   SCEPWATCH_KAFKA_DATA          broker data, pid file and log (default /var/tmp/scepwatch/kafka)
#   SCEPWATCH_KAFKA_START_TIMEOUT seconds to wait for the broker to answer (default 60)
#
# The product does not depend on Tansu: it speaks plain Kafka, and deployments use Apache Kafka.
set -euo pipefail

TANSU_VERSION=0.6.0
# Two storage engines: SQLite (this broker: it survives the broker-outage test's crash) and
# memory (the private brokers of the analyzer's benchmarks and fault tests: no disk, and about
# 50 times less CPU per message read; docs/kafka.md).
TANSU_FEATURES=libsql,dynostore
TOOLS="${SCEPWATCH_TOOLS:-$HOME/.cache/scepwatch-tools}"
PREFIX="$TOOLS/tansu-$TANSU_VERSION-${TANSU_FEATURES//,/-}"
BIN="$PREFIX/bin/tansu"
DATA="${SCEPWATCH_KAFKA_DATA:-/var/tmp/scepwatch/kafka}"
PIDFILE="$DATA/tansu.pid"
LOG="$DATA/tansu.log"
HOST=127.0.0.1
PORT=9092
START_TIMEOUT="${SCEPWATCH_KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT=10

# What scripts/lib/server.sh needs (the pid file, start, stop, crash, status, the commands).
SERVER_SCRIPT=kafka.sh
SERVER_WHAT=broker
SERVER_KIND="a Kafka broker"
SERVER_AT="$HOST:$PORT"
SERVER_STARTED="broker answers on $HOST:$PORT"
SERVER_DESC="$HOST:$PORT, data $DATA, log $LOG"
SERVER_SILENT="Kafka requests (starting, or its storage failed: see $LOG)"
PROCESS_MATCH=tansu
# shellcheck source=scripts/lib/server.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"

# True when something on $HOST:$PORT answers a Kafka Metadata request (v4, no topics) with
# our correlation ID: a working broker, not just an open port. (A broker whose storage failed
# may still answer ApiVersions; it cannot answer Metadata. The SQLite engine stops serving
# after e.g. "database or disk is full", which `start` then sees as a broker to restart.)
answers() {
  local reply
  # shellcheck disable=SC2016 # the inner script expands its own arguments
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

# Builds Tansu once per machine when it is missing.
prepare() {
  [ -x "$BIN" ] && return 0
  command -v cargo >/dev/null 2>&1 || { say "cargo is needed to build Tansu $TANSU_VERSION"; exit 1; }
  mkdir -p "$TOOLS"
  # One build at a time per machine; whoever waits finds the binary afterwards.
  exec 9>"$PREFIX.lock"
  if ! flock -n 9; then
    say "another build of Tansu $TANSU_VERSION is running; waiting for it"
    flock 9
  fi
  if [ ! -x "$BIN" ]; then
    say "building Tansu $TANSU_VERSION with its SQLite and memory engines into $PREFIX (once per machine; about 10 minutes on 2 cores)"
    cargo install tansu --version "$TANSU_VERSION" --locked --features "$TANSU_FEATURES" --root "$PREFIX"
  fi
  flock -u 9
  [ -x "$BIN" ] || { say "the build did not produce $BIN"; exit 1; }
}

launch() {
  # The SQLite engine resolves its path against the working directory ($DATA).
  server_detach "$LOG" "$BIN" broker \
    --cluster-id scepwatch-dev \
    --listener-url "tcp://$HOST:$PORT" \
    --advertised-listener-url "tcp://$HOST:$PORT" \
    --storage-engine "sqlite://tansu.db"
  say "started Tansu $TANSU_VERSION (pid $(cat "$PIDFILE"), data $DATA, log $LOG)"
}

log_tail() {
  say "last lines of $LOG:"
  tail -n "$1" "$LOG" >&2 || true
}

wipe() {
  local size
  size=$(du -sh "$DATA" 2>/dev/null | cut -f1)
  rm -f "$DATA"/tansu.db "$DATA"/tansu.db-*
  say "deleted the store in $DATA (${size:-0} with the log)"
}

server_main "$@"
