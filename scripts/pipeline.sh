#!/usr/bin/env bash
# Runs the whole pipeline on this machine over the bundled sample incident, and shows what it
# stored:
#
#   testdata/samples ── 5 collectors ── ingestor ── Kafka ── analyzer ── ClickHouse
#
# It starts the test servers (scripts/kafka.sh, scripts/clickhouse.sh: installed or built when
# missing), builds the three programs (release), writes their configurations into a work
# folder, runs them until the analyzer has stored its conclusions, prints a few queries'
# answers, and stops the programs (the servers keep running; `scripts/kafka.sh stop`,
# `scripts/clickhouse.sh stop`).
#
#   scripts/pipeline.sh [WORK_DIR]      (default: a new folder under /tmp)
#
# Each server folder of the samples has its own collector (as on a real NDES server); the
# device logs go through one more collector per device, standing in for the upload endpoint.
# Nothing here is secure: plain-text gRPC on 127.0.0.1 with a throwaway token.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
work="${1:-$(mktemp -d /tmp/scepwatch-pipeline-XXXXXX)}"
mkdir -p "$work"
db="scepwatch_demo"
topic="scepwatch-demo-$(date +%s)"
grpc=127.0.0.1:17443

scripts/kafka.sh start
scripts/clickhouse.sh start
# A fresh database each run (the analyzer creates and migrates it).
curl -sf http://127.0.0.1:8123/ --data-binary "DROP DATABASE IF EXISTS $db" >/dev/null
echo "pipeline.sh: building the programs (release)" >&2
cargo build --quiet --release -p scepwatch-collector -p scepwatch-ingestor
cargo build --quiet --release -p scepwatch-analyzer --features service --bin scepwatch-analyzer
bin="$root/target/release"

collectors=(ndes01 ndes02 android-pixel7 iphone-anna win-laptop-42)
# One token per collector; the ingestor keeps their SHA-256.
for c in "${collectors[@]}"; do
  mkdir -p "$work/$c"
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/$c/token"
done

cat > "$work/ingestor.toml" <<EOF
listen = "$grpc"
http_listen = "127.0.0.1:19464"
plaintext = true
$(for c in "${collectors[@]}"; do
    printf '[[collectors]]\nname = "%s"\ntoken_sha256 = "%s"\n' "$c" \
      "$("$bin/scepwatch-ingestor" hash-token < "$work/$c/token")"
  done)
[kafka]
bootstrap_servers = "127.0.0.1:9092"
topic = "$topic"
partitions = 4
EOF

endpoint="https://ndes-contoso.msappproxy.net/certsrv/mscep/mscep.dll"
samples="$root/testdata/samples"
collector_config() { # name, metrics port, endpoint line, sources
  cat <<EOF
[collector]
name = "$1"
host = "$1"
$3
state_dir = "$work/$1/state"

[ingestor]
url = "http://$grpc"
token_file = "$work/$1/token"

[spool]
dir = "$work/$1/spool"

[tail]
poll_interval = "200ms"
settle = "300ms"

[metrics]
listen = "127.0.0.1:$2"

$4
EOF
}
source_section() { # name, format, root, include
  printf '[[source]]\nname = "%s"\nformat = "%s"\nroot = "%s"\ninclude = ["%s"]\n\n' "$1" "$2" "$3" "$4"
}
port=19470
for s in ndes01 ndes02; do
  port=$((port + 1))
  mkdir -p "$work/$s"
  collector_config "$s" "$port" "endpoint = \"$endpoint\"" "$(
    source_section iis iis "$samples/$s/inetpub/logs/LogFiles" 'W3SVC*/u_ex*.log'
    source_section httperr httperr "$samples/$s/Windows/System32/LogFiles/HTTPERR" 'httperr*.log'
    source_section eventlogs event-xml "$samples/$s/eventlogs" '*.xml'
    source_section connector setupmsi "$samples/$s/IntuneConnector" 'SetupMsi*.log'
    source_section health health "$samples/$s" 'health*.jsonl'
    source_section probe probe "$samples/$s" 'probe*.jsonl')" > "$work/$s/collector.toml"
done
mkdir -p "$work/win-laptop-42/unzipped"
(cd "$work/win-laptop-42/unzipped" && unzip -qo "$samples/win-laptop-42/MDMDiagReport.zip")
for d in "android-pixel7 android-omadm $samples/android-pixel7 omadmlog*.log" \
         "iphone-anna ios-console $samples/iphone-anna *.log" \
         "win-laptop-42 event-text $work/win-laptop-42/unzipped DeviceManagement-*.txt"; do
  set -- $d
  port=$((port + 1))
  mkdir -p "$work/$1"
  collector_config "$1" "$port" "" "$(source_section "$2" "$2" "$3" "$4")" > "$work/$1/collector.toml"
done

cat > "$work/analyzer.toml" <<EOF
[kafka]
bootstrap_servers = "127.0.0.1:9092"
topic = "$topic"
group_id = "$topic-analyzer"
[kafka.properties]
"auto.offset.reset" = "earliest"
# The test broker answers a fetch only after this wait (docs/kafka.md).
"fetch.wait.max.ms" = "10"

[clickhouse]
url = "http://127.0.0.1:8123"
database = "$db"

[engine]
# The samples are a finished incident: conclude once nothing more arrives.
idle_finish_secs = 3

[engine.server_endpoints]
"ndes01" = "$endpoint"
"ndes02" = "$endpoint"

[service]
http_listen = "127.0.0.1:19466"
EOF

pids=()
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop_all EXIT

"$bin/scepwatch-ingestor" serve --config "$work/ingestor.toml" > "$work/ingestor.log" 2>&1 &
pids+=($!)
# The ingestor creates the topic; the analyzer subscribes once it exists.
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:19464/readyz >/dev/null && break; sleep 0.3; done
curl -sf http://127.0.0.1:19464/readyz >/dev/null || { echo "pipeline.sh: the ingestor is not ready:" >&2; tail -5 "$work/ingestor.log" >&2; exit 1; }
"$bin/scepwatch-analyzer" serve --config "$work/analyzer.toml" > "$work/analyzer.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:19466/readyz >/dev/null && break; sleep 0.3; done
for c in "${collectors[@]}"; do
  "$bin/scepwatch-collector" run --config "$work/$c/collector.toml" > "$work/$c/collector.log" 2>&1 &
  pids+=($!)
done

q() { curl -sf "http://127.0.0.1:8123/?database=$db" --data-binary "$1"; }
echo "pipeline.sh: waiting for the analyzer's conclusions (logs and configs in $work)" >&2
last=-1
for _ in $(seq 1 120); do
  sleep 2
  n="$(q 'SELECT count() FROM diagnoses' 2>/dev/null || echo 0)"
  [ "$n" -gt 0 ] && [ "$n" = "$last" ] && break
  last="$n"
done

echo
echo "== stored (events, attempts, diagnoses; FINAL: one row per ID)"
q "SELECT (SELECT count() FROM events FINAL), (SELECT count() FROM attempts FINAL WHERE retracted = 0), (SELECT count() FROM diagnoses FINAL WHERE retracted = 0) FORMAT PrettyCompact"
echo "== diagnoses by code"
q "SELECT code, toString(severity) AS severity, toString(scope_kind) AS scope, count() AS n FROM diagnoses FINAL WHERE retracted = 0 GROUP BY code, severity, scope ORDER BY severity DESC, n DESC FORMAT PrettyCompact"
echo "== attempts that failed, with their diagnoses"
q "SELECT attempt_id, toString(platform) AS platform, toString(join_method) AS joined, start_time, arrayStringConcat(diagnosis_codes, ', ') AS diagnoses FROM attempts FINAL WHERE retracted = 0 AND severity >= 'error' ORDER BY start_time LIMIT 20 FORMAT PrettyCompact"
echo
echo "More queries: analyzer/schema/queries/*.sql (e.g. curl 'http://127.0.0.1:8123/?database=$db' --data-binary @analyzer/schema/queries/latest_attempts.sql)"
