#!/usr/bin/env bash
# Runs the statements of SQL files, in order, against ClickHouse engines and fails on the first
# statement an engine rejects, naming the file, line, statement number and the engine's error.
# See docs/clickhouse.md.
#
#   scripts/chdb-check.sh [options] FILE.sql...            the current ClickHouse, embedded in
#                                                          chdb (in-process, nothing to start)
#   scripts/chdb-check.sh --server [options] FILE.sql...   the running server of
#                                                          scripts/clickhouse.sh (18.16), over
#                                                          HTTP
#   scripts/chdb-check.sh --both [options] FILE.sql...     both, chdb first
#
# Options (after the engine): --echo prints every statement and its result; --keep-going goes on
# after a failure (still exits 1); --timeout SECONDS cancels a statement that runs longer (300 by
# default). Files run in one session per engine (an HTTP session on the server), in a throwaway
# database created first and dropped at the end. Statements end with `;` at the end of a line;
# `--` comments are allowed; SET and USE hold for the rest of the run.
#
# Environment:
#   SCEPWATCH_TOOLS                where tools are installed (default ~/.cache/scepwatch-tools);
#                                  chdb lives in the Python environment $SCEPWATCH_TOOLS/chdb-venv
#   SCEPWATCH_PYTHON               the Python (3.9 or later, with venv) that creates it
#                                  (default python3)
#   SCEPWATCH_CLICKHOUSE_HTTP_PORT the server's HTTP port for --server (default 8123)
set -euo pipefail

# chdb is the Python package; chdb-core carries the engine (its version is ClickHouse's). The
# rest are chdb's own dependencies, pinned at the versions this was tested with.
REQUIREMENTS=(chdb==4.4.0 chdb-core==26.9.0 numpy==2.4.6 pandas==3.1.1 pyarrow==26.0.1)
TOOLS="${SCEPWATCH_TOOLS:-$HOME/.cache/scepwatch-tools}"
VENV="$TOOLS/chdb-venv"
STAMP="$VENV/.scepwatch-requirements"
PYTHON="${SCEPWATCH_PYTHON:-python3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHECK="$HERE/chdb_check.py"

say() { echo "chdb-check.sh: $*" >&2; }

ensure_venv() {
  local want="${REQUIREMENTS[*]}"
  [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ] && return 0
  command -v "$PYTHON" >/dev/null 2>&1 || { say "$PYTHON is needed to install chdb"; exit 2; }
  mkdir -p "$TOOLS"
  # One install at a time per machine; whoever waits finds the environment afterwards.
  exec 9>"$TOOLS/.chdb-venv.lock"
  if ! flock -n 9; then
    say "another install of chdb is running; waiting for it"
    flock 9
  fi
  if ! { [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; }; then
    say "installing $want into $VENV (once per machine; about 900 MB)"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
    echo "$want" >"$STAMP"
  fi
  flock -u 9
}

engine=chdb
case "${1:-}" in
  --server) engine=server; shift ;;
  --both) engine=both; shift ;;
  --chdb) shift ;;
esac
if [ $# -eq 0 ]; then
  echo "usage: $0 [--server|--both] [--echo] [--keep-going] [--timeout SECONDS] FILE.sql..." >&2
  exit 2
fi

case "$engine" in
  chdb)
    ensure_venv
    exec "$VENV/bin/python" "$CHECK" --engine chdb "$@"
    ;;
  server)
    # The server engine needs only the standard library.
    exec "$PYTHON" "$CHECK" --engine server "$@"
    ;;
  both)
    ensure_venv
    # The engines run as children: pass SIGTERM/SIGINT on, so that each drops its database.
    child="" interrupted=""
    # shellcheck disable=SC2317 # called by the trap
    forward() {
      interrupted=1
      [ -z "$child" ] || kill -TERM "$child" 2>/dev/null || true
    }
    trap forward TERM INT
    run_engine() {
      local s=0
      "$@" &
      child=$!
      wait "$child" || s=$?
      # A signal ends the first wait early; wait again for the engine to clean up.
      while kill -0 "$child" 2>/dev/null; do wait "$child" || s=$?; done
      child=""
      return "$s"
    }
    status=0
    run_engine "$VENV/bin/python" "$CHECK" --engine chdb "$@" || status=$?
    [ -z "$interrupted" ] || exit 143
    run_engine "$PYTHON" "$CHECK" --engine server "$@" || { s=$?; [ "$status" -ge "$s" ] || status=$s; }
    [ -z "$interrupted" ] || exit 143
    exit "$status"
    ;;
esac
