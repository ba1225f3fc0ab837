# shellcheck shell=bash
# Shared by the scripts that run a test server in the background (scripts/kafka.sh,
# scripts/clickhouse.sh): the pid file, start / stop / crash / status, and the command line.
# Sourced, not run.
#
# The sourcing script sets, before calling server_main "$@":
#   SERVER_SCRIPT    its name, the prefix of its messages ("kafka.sh")
#   SERVER_WHAT      what it runs, in messages ("broker", "server")
#   SERVER_KIND      the same with its kind ("a Kafka broker", "a ClickHouse server")
#   SERVER_AT        where it answers ("127.0.0.1:9092")
#   SERVER_STARTED   said once it answers after a start ("broker answers on 127.0.0.1:9092")
#   SERVER_DESC      status's line after "running: pid N, " (addresses, data, log)
#   SERVER_SILENT    status's words for a server that runs without answering, after
#                    "does not answer " ("Kafka requests (starting, or ...: see LOG)")
#   DATA             the data folder; the server runs with it as working directory
#   PIDFILE          the pid of the server it started
#   PROCESS_MATCH    a fixed string of that process's command line (checked against pid reuse)
#   START_TIMEOUT    seconds to wait for it to answer
#   STOP_TIMEOUT     seconds between SIGTERM and SIGKILL
# and defines these functions:
#   answers          true when a working server answers at SERVER_AT (not just an open port)
#   prepare          installs or builds the server program when missing
#   launch           starts it detached, through server_detach
#   log_tail N       prints the last N lines of its logs to stderr
#   wipe             deletes its data (after server_stop and server_wipe_guard)

say() { echo "$SERVER_SCRIPT: $*" >&2; }

# Pid of the server this script started, if it is still that process.
our_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # The pid may have been reused by another program after a crash.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$PROCESS_MATCH" || return 1
  echo "$pid"
}

# Runs the command detached (its own session, no terminal) in $DATA, its output appended to
# the file $1, and records its pid.
server_detach() {
  local out=$1
  shift
  (
    cd "$DATA" || exit 1
    setsid "$@" >>"$out" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  )
}

# Waits until the server answers; false when pid $1 exits or the timeout passes.
wait_answer() {
  local pid=$1 waited=0
  until answers; do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$waited" -lt "$((START_TIMEOUT * 5))" ] || return 1
    sleep 0.2
    waited=$((waited + 1))
  done
}

# Waits up to $2 tenths of a second for pid $1 to exit; false when it still runs.
wait_exit() {
  local pid=$1 tenths=$2 waited=0
  while kill -0 "$pid" 2>/dev/null; do
    [ "$waited" -lt "$tenths" ] || return 1
    sleep 0.1
    waited=$((waited + 1))
  done
}

server_start() {
  if answers; then
    say "$SERVER_KIND already answers on $SERVER_AT"
    return 0
  fi
  prepare
  mkdir -p "$DATA"
  local pid
  if pid=$(our_pid); then
    # Still starting, or running without answering (a broker whose storage failed, a server
    # still loading its tables). Give a young process the start timeout, then restart it once.
    local age
    age=$(ps -o etimes= -p "$pid" 2>/dev/null | tr -d ' ')
    if [ "${age:-0}" -lt "$START_TIMEOUT" ]; then
      say "$SERVER_WHAT (pid $pid) is starting; waiting for it"
      if wait_answer "$pid"; then
        say "$SERVER_STARTED"
        return 0
      fi
    fi
    say "$SERVER_WHAT (pid $pid) runs but does not answer; restarting it"
    log_tail 10
    server_stop
  fi
  launch
  pid=$(cat "$PIDFILE")
  if ! wait_answer "$pid"; then
    if kill -0 "$pid" 2>/dev/null; then
      say "the $SERVER_WHAT did not answer on $SERVER_AT within ${START_TIMEOUT}s"
    else
      say "the $SERVER_WHAT exited while starting"
      rm -f "$PIDFILE"
    fi
    log_tail 30
    exit 1
  fi
  say "$SERVER_STARTED"
}

server_stop() {
  local pid
  if ! pid=$(our_pid); then
    rm -f "$PIDFILE"
    if answers; then
      say "$SERVER_KIND answers on $SERVER_AT but was not started by this script; leaving it"
    else
      say "not running"
    fi
    return 0
  fi
  kill -TERM "$pid"
  if ! wait_exit "$pid" "$((STOP_TIMEOUT * 10))"; then
    say "$SERVER_WHAT (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait_exit "$pid" 50 || true
  fi
  rm -f "$PIDFILE"
  say "stopped (pid $pid)"
}

# Stops it the way a crash would: SIGKILL, nothing flushed.
server_crash() {
  local pid
  if ! pid=$(our_pid); then
    rm -f "$PIDFILE"
    say "no $SERVER_WHAT started by this script runs; nothing to crash"
    return 0
  fi
  kill -KILL "$pid" 2>/dev/null || true
  wait_exit "$pid" 50 || true
  rm -f "$PIDFILE"
  say "killed (SIGKILL, pid $pid)"
}

server_status() {
  local pid
  if pid=$(our_pid); then
    if answers; then
      echo "running: pid $pid, $SERVER_DESC"
      return 0
    fi
    echo "pid $pid runs but does not answer $SERVER_SILENT"
    return 3
  fi
  if answers; then
    echo "$SERVER_KIND answers on $SERVER_AT (not started by this script)"
    return 0
  fi
  echo "not running"
  return 3
}

# Exits 1 when a process like the server still runs in $DATA (one whose pid file was lost):
# deleting the data under it would corrupt what it writes.
server_wipe_guard() {
  local dir proc pid
  dir=$(readlink -f "$DATA" 2>/dev/null) || return 0
  for proc in /proc/[0-9]*; do
    [ "$(readlink "$proc/cwd" 2>/dev/null)" = "$dir" ] || continue
    tr '\0' ' ' <"$proc/cmdline" 2>/dev/null | grep -qF -- "$PROCESS_MATCH" || continue
    pid=${proc#/proc/}
    say "a $SERVER_WHAT not started by this script (pid $pid) runs in $DATA; not deleting its data"
    exit 1
  done
}

server_main() {
  case "${1:-}" in
    start) server_start ;;
    stop) server_stop ;;
    crash) server_crash ;;
    status) server_status ;;
    wipe)
      server_stop
      server_wipe_guard
      wipe
      ;;
    *)
      echo "usage: $0 start|stop|crash|status|wipe" >&2
      exit 2
      ;;
  esac
}
