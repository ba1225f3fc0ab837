#!/usr/bin/env bash
# Runs every test of the workspace. Installs what the tests need first, idempotently, so it
# works on a fresh Debian 12 machine with only Rust on it:
#   - chromium    renders the HTML report headless (analyzer/tests/report_html*)
#   - scep        scepserver/scepclient, the independent SCEP peer used by interop tests
#   - mawk        the baseline of the IIS parse benchmark (built here, run by hand)
# Set SCEPWATCH_NO_INSTALL=1 to skip installing (tests that need a missing tool then fail in CI
# and are skipped with a notice elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--broker-outage" ]; then
  # Only the broker-outage test (it is also the last step of the full run).
  scripts/kafka.sh start
  cargo test -p scepwatch-e2e -- --ignored --test-threads=1
  exit
fi

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v scepclient >/dev/null 2>&1 || need+=(scep)
command -v mawk >/dev/null 2>&1 || need+=(mawk)

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

cargo test --workspace --all-targets "$@"
# The Ingest service's generated client and server (feature-gated: diagnose does not need them).
cargo test -p scepwatch-proto --features grpc "$@"
# Doc tests are not part of --all-targets.
cargo test --workspace --doc "$@"
# The broker-outage test (e2e/tests/broker_outage.rs) kills the shared broker for 60 s, so it
# runs alone, after everything else that uses the broker.
cargo test -p scepwatch-e2e -- --ignored --test-threads=1
