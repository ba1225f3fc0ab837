#!/usr/bin/env bash
# Runs every test of the workspace, the analyzer service's included (feature `service`), and
# checks the ClickHouse schema and queries on both engines. Installs what the tests need first,
# idempotently, so it works on a fresh Debian 12 machine with only Rust on it:
#   - chromium    renders the HTML report headless (analyzer/tests/report_html*)
#   - scep        scepserver/scepclient, the independent SCEP peer used by interop tests
#   - mawk        the baseline of the IIS parse benchmark (built here, run by hand)
#   - python3, python3-venv   the Python environment of chdb (scripts/chdb-check.sh)
# and, through their scripts: the Kafka broker (scripts/kafka.sh, built once per machine),
# Debian's clickhouse-server 18.16 (scripts/clickhouse.sh) and chdb from PyPI, the current
# ClickHouse engine (scripts/chdb-check.sh, into a cached Python environment).
# Set SCEPWATCH_NO_INSTALL=1 to skip installing the Debian packages above (tests that need a
# missing tool then fail in CI and are skipped with a notice elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."

# Microseconds since the epoch ($EPOCHREALTIME without its decimal point, which follows the
# locale), and the seconds since such a time, to a tenth.
now_us() { echo "${EPOCHREALTIME/[.,]/}"; }
elapsed() {
  local us=$(($(now_us) - $1))
  printf '%d.%d' "$((us / 1000000))" "$((us / 100000 % 10))"
}

if [ "${1:-}" = "--broker-outage" ]; then
  # Only the broker-outage test (it is also part of the last step of the full run).
  scripts/kafka.sh start
  cargo test -p scepwatch-e2e --test broker_outage -- --ignored --test-threads=1
  exit
fi

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v scepclient >/dev/null 2>&1 || need+=(scep)
command -v mawk >/dev/null 2>&1 || need+=(mawk)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# Debian ships `python3 -m venv`'s pip bootstrap (ensurepip) in python3-venv.
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)

if [ ${#need[@]} -gt 0 ] && [ -z "${SCEPWATCH_NO_INSTALL:-}" ]; then
  echo "test.sh: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The Kafka broker of the transport tests: Tansu on 127.0.0.1:9092, built once per machine and
# reused (docs/kafka.md). Nothing happens when a broker already answers there.
scripts/kafka.sh start
# The ClickHouse server of the analyzer service's tests: Debian's 18.16 on 127.0.0.1:8123 (HTTP)
# and 9000, installed with apt when missing (docs/clickhouse.md). Nothing happens when a server
# already answers there.
scripts/clickhouse.sh start

# The schema, the sample rows, the reader queries and the replay check on both engines: the
# current ClickHouse embedded in chdb (installed from PyPI into a cached Python environment the
# first time) and the 18.16 server (docs/clickhouse.md, "Checking statements on both engines").
started=$(now_us)
scripts/chdb-check.sh --both analyzer/schema/0*.sql analyzer/schema/testdata/sample_rows.sql \
  analyzer/schema/queries/*.sql analyzer/schema/testdata/replay_check.sql
# The retention TTL the service sets on servers that have table TTLs (current ClickHouse only).
scripts/chdb-check.sh analyzer/schema/0*.sql analyzer/schema/testdata/retention_ttl.sql
echo "test.sh: schema and queries checked on both engines in $(elapsed "$started") s" >&2

# The analyzer's service (Kafka in, ClickHouse out) is behind its `service` feature, off by
# default so that `scepwatch diagnose` needs only Rust; its tests run here.
features=(--features scepwatch-analyzer/service)
cargo test --workspace --all-targets "${features[@]}" "$@"
# The Ingest service's generated client and server (feature-gated: diagnose does not need them).
cargo test -p scepwatch-proto --features grpc "$@"
# Doc tests are not part of --all-targets.
cargo test --workspace --doc "${features[@]}" "$@"
# The broker-outage test (e2e/tests/broker_outage.rs) kills the shared broker for 60 s, and the
# ClickHouse-outage test (e2e/tests/analyzer_clickhouse_outage.rs) stops the shared ClickHouse
# server for 60 s, so they are ignored by default and run here, one at a time, after everything
# else that uses the servers.
cargo test -p scepwatch-e2e --test broker_outage --test analyzer_clickhouse_outage -- --ignored --test-threads=1
