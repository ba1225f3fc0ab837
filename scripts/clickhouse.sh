#!/usr/bin/env bash
# The ClickHouse server of development and tests: Debian's clickhouse-server 18.16, run by this
# script (not by the Debian service) with its own configuration, on 127.0.0.1 only.
# See docs/clickhouse.md.
#
#   scripts/clickhouse.sh start    start it (nothing to do when a server already answers on
#                                  127.0.0.1:8123; the server it started is restarted when it
#                                  runs but does not answer); installs Debian's
#                                  clickhouse-server and clickhouse-client with apt when missing
#   scripts/clickhouse.sh stop     stop the server this script started (SIGTERM, then SIGKILL)
#   scripts/clickhouse.sh crash    stop it the way a crash would (SIGKILL): an outage for tests
#   scripts/clickhouse.sh status   say whether it runs (exit 0) or not (exit 3)
#   scripts/clickhouse.sh wipe     stop it and delete its databases (every table and row)
#
# Environment:
#   SCEPWATCH_CLICKHOUSE_DATA          configuration, databases, pid file and logs
#                                      (default /var/tmp/scepwatch/clickhouse)
#   SCEPWATCH_CLICKHOUSE_HTTP_PORT     HTTP interface (default 8123)
#   SCEPWATCH_CLICKHOUSE_TCP_PORT      native protocol, used by clickhouse-client (default 9000)
#   SCEPWATCH_CLICKHOUSE_START_TIMEOUT seconds to wait for the server to answer (default 60)
#   SCEPWATCH_CLICKHOUSE_STOP_TIMEOUT  seconds between SIGTERM and SIGKILL (default 30)
#
# The user is `default`, without password, accepted from the loopback addresses only.
# The product does not depend on this version: deployments run current ClickHouse, and every
# statement the project ships is also checked against a current engine (scripts/chdb-check.sh).
set -euo pipefail

DATA="${SCEPWATCH_CLICKHOUSE_DATA:-/var/tmp/scepwatch/clickhouse}"
DB="$DATA/db"
LOGDIR="$DATA/log"
LOG="$LOGDIR/clickhouse-server.log"
ERRLOG="$LOGDIR/clickhouse-server.err.log"
CONSOLE="$LOGDIR/console.log"
CONFIG="$DATA/config.xml"
USERS="$DATA/users.xml"
PIDFILE="$DATA/clickhouse-server.pid"
HOST=127.0.0.1
HTTP_PORT="${SCEPWATCH_CLICKHOUSE_HTTP_PORT:-8123}"
TCP_PORT="${SCEPWATCH_CLICKHOUSE_TCP_PORT:-9000}"
START_TIMEOUT="${SCEPWATCH_CLICKHOUSE_START_TIMEOUT:-60}"
STOP_TIMEOUT="${SCEPWATCH_CLICKHOUSE_STOP_TIMEOUT:-30}"
SERVER=/usr/sbin/clickhouse-server
CLIENT=/usr/bin/clickhouse-client

# What scripts/lib/server.sh needs (the pid file, start, stop, crash, status, the commands).
SERVER_SCRIPT=clickhouse.sh
SERVER_WHAT=server
SERVER_KIND="a ClickHouse server"
SERVER_AT="$HOST:$HTTP_PORT"
SERVER_STARTED="server answers on $HOST:$HTTP_PORT (native protocol on $TCP_PORT)"
SERVER_DESC="http $HOST:$HTTP_PORT, native $HOST:$TCP_PORT, data $DATA, log $LOG"
SERVER_SILENT="SELECT 1 (starting, or failed: see $ERRLOG)"
PROCESS_MATCH="--config-file=$CONFIG"
# shellcheck source=scripts/lib/server.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"

# True when something on $HOST:$HTTP_PORT answers `SELECT 1` over HTTP with `1`: a working
# server, not just an open port.
answers() {
  local body
  if command -v curl >/dev/null 2>&1; then
    body=$(curl -s --max-time 3 "http://$HOST:$HTTP_PORT/?query=SELECT%201" 2>/dev/null) || return 1
  else
    # shellcheck disable=SC2016 # the inner script expands its own arguments
    body=$(timeout 3 bash -c '
      exec 3<>"/dev/tcp/$0/$1" || exit 1
      printf "GET /?query=SELECT%%201 HTTP/1.0\r\nHost: %s\r\n\r\n" "$0" >&3
      # The body follows the blank line that ends the headers.
      sed "1,/^\r\{0,1\}$/d" <&3
    ' "$HOST" "$HTTP_PORT" 2>/dev/null) || return 1
  fi
  [ "$body" = "1" ]
}

# Debian's packages (18.16 on bookworm). The package's own service is never used: where no
# policy-rc.d forbids it, one is put in place for the length of the install so that dpkg does
# not start the server with /etc/clickhouse-server's configuration on the same ports.
prepare() {
  [ -x "$SERVER" ] && [ -x "$CLIENT" ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { say "installing clickhouse-server needs root or sudo"; exit 1; }
    sudo="sudo"
  fi
  command -v apt-get >/dev/null 2>&1 || { say "apt-get is needed to install clickhouse-server"; exit 1; }
  local policy=/usr/sbin/policy-rc.d placed=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    placed=1
    # shellcheck disable=SC2064 # expand now: the trap must remove what was placed here
    trap "$sudo rm -f '$policy'" EXIT
  fi
  say "installing Debian's clickhouse-server and clickhouse-client with apt (once per machine)"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q)
  [ -z "$sudo" ] || apt=(sudo "${apt[@]}")
  # A machine's package lists may be missing or older than the mirror: refresh and retry once.
  local install=(install -y --no-install-recommends clickhouse-server clickhouse-client)
  if ! "${apt[@]}" "${install[@]}" >&2; then
    say "apt-get install failed; updating the package lists and retrying"
    "${apt[@]}" update >&2
    "${apt[@]}" "${install[@]}" >&2
  fi
  if [ -n "$placed" ]; then
    $sudo rm -f "$policy"
    trap - EXIT
  fi
  if [ ! -x "$SERVER" ] || [ ! -x "$CLIENT" ]; then
    say "the install did not provide $SERVER and $CLIENT"
    exit 1
  fi
  say "installed $(dpkg-query -W -f '${Package} ${Version}' clickhouse-server)"
}

write_config() {
  mkdir -p "$DB" "$LOGDIR"
  cat >"$CONFIG" <<EOF
<?xml version="1.0"?>
<!-- Written by scripts/clickhouse.sh at every start; edits are lost. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$LOG</log>
        <errorlog>$ERRLOG</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>$HOST</listen_host>
    <http_port>$HTTP_PORT</http_port>
    <tcp_port>$TCP_PORT</tcp_port>
    <max_connections>256</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$DB/</path>
    <tmp_path>$DB/tmp/</tmp_path>
    <user_files_path>$DB/user_files/</user_files_path>
    <format_schema_path>$DB/format_schemas/</format_schema_path>
    <users_config>$USERS</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <query_log>
        <database>system</database>
        <table>query_log</table>
        <partition_by>toYYYYMM(event_date)</partition_by>
        <flush_interval_milliseconds>7500</flush_interval_milliseconds>
    </query_log>
    <!-- Tests drop whole tables and partitions whatever their size. -->
    <max_table_size_to_drop>0</max_table_size_to_drop>
    <max_partition_size_to_drop>0</max_partition_size_to_drop>
</yandex>
EOF
  cat >"$USERS" <<'EOF'
<?xml version="1.0"?>
<!-- Written by scripts/clickhouse.sh at every start; edits are lost. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
            <!-- 18.16 refuses CREATE TABLE with LowCardinality columns without it. Current
                 servers no longer know the setting and reject it when sent with a query, so the
                 project never sends it: it belongs to this server's profile. -->
            <allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type>
            <!-- Every query in system.query_log: the fault tests count the rows each INSERT
                 wrote (the duplicate ratio before merges). -->
            <log_queries>1</log_queries>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

server_version() {
  dpkg-query -W -f '${Version}' clickhouse-server 2>/dev/null || echo "(version unknown)"
}

launch() {
  write_config
  server_detach "$CONSOLE" "$SERVER" --config-file="$CONFIG"
  say "started clickhouse-server $(server_version) (pid $(cat "$PIDFILE"), data $DATA, log $LOG)"
}

log_tail() {
  local n=$1
  if [ -s "$ERRLOG" ]; then
    say "last lines of $ERRLOG:"
    tail -n "$n" "$ERRLOG" >&2 || true
  fi
  if [ -s "$CONSOLE" ]; then
    say "last lines of $CONSOLE:"
    tail -n "$n" "$CONSOLE" >&2 || true
  fi
  if [ -s "$LOG" ]; then
    say "last lines of $LOG:"
    tail -n "$n" "$LOG" >&2 || true
  fi
}

wipe() {
  local size
  size=$(du -sh "$DB" 2>/dev/null | cut -f1)
  rm -rf "$DB"
  say "deleted the databases in $DB (${size:-0}); logs kept in $LOGDIR"
}

server_main "$@"
