#!/usr/bin/env bash
# kcat against a current librdkafka.
#
# Debian 12's kcat links librdkafka 2.0.2, which cannot parse the ApiVersions answer of some
# Kafka-compatible brokers (the project's test broker among them). The confluent-kafka wheel on
# PyPI ships a current librdkafka; this wrapper installs both if missing (idempotent) and runs
# Debian's kcat with the wheel's library first on the loader path. Used by benchmarks as the
# baseline producer/consumer; arguments go to kcat unchanged.
set -euo pipefail
if ! command -v kcat >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null
fi
lib="$(python3 - <<'PY' 2>/dev/null || true
import glob, os
try:
    import confluent_kafka
except ImportError:
    raise SystemExit(1)
libs = os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs")
found = sorted(glob.glob(os.path.join(libs, "librdkafka*.so*")))
print(found[0] if found else "")
PY
)"
if [[ -z "$lib" ]]; then
    python3 -m pip install -q confluent-kafka >/dev/null
    lib="$(python3 -c 'import glob,os,confluent_kafka as c; print(sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(c.__file__)),"confluent_kafka.libs","librdkafka*.so*")))[0])')"
fi
dir="${XDG_CACHE_HOME:-$HOME/.cache}/scepwatch-kcat"
mkdir -p "$dir"
ln -sfn "$lib" "$dir/librdkafka.so.1"
LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec kcat "$@"
