#!/usr/bin/env bash
# The Windows service life cycle of scepwatch-collector.exe, under Wine's service manager:
#   service install (from a path with a space) → sc start → Running, /healthz answers, an IIS
#   log is read into the spool → sc stop → Stopped (exit code 0), graceful stop logged →
#   sc start with a broken configuration → Stopped with service-specific exit code 2, the error
#   logged → service uninstall → gone.
# Every step is asserted. Test harness only.
#   scripts/wine/service-check.sh target/x86_64-pc-windows-gnu/debug/scepwatch-collector.exe
# Runs in its own Wine prefix (~/.cache/scepwatch-wine-service), whose processes it stops at the
# end, so an interrupted run cannot leave an auto-start service in the prefix the tests use.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exe="$(realpath "$1")"
name=scepwatch-collector-check

export WINEPREFIX="${XDG_CACHE_HOME:-$HOME/.cache}/scepwatch-wine-service"
export WINEDEBUG="${WINEDEBUG:--all}"
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
wine_bin=/usr/lib/wine/wine64
[[ -x "$wine_bin" ]] || wine_bin="$(command -v wine64 || command -v wine)"
wineserver_bin=/usr/lib/wine/wineserver64
[[ -x "$wineserver_bin" ]] || wineserver_bin="$(command -v wineserver)"

fail() {
    echo "service check FAILED: $*" >&2
    [[ -z "${keeper:-}" ]] || { echo "--- sc query $name:" >&2; sc query "$name" >&2 || true; }
    exit 1
}
step() { echo "-- $*"; }
# Wine maps drive Z: to /.
winpath() { local p="${1//\//\\}"; printf 'Z:%s' "$p"; }
collector() { "$here/run.sh" "$exe" "$@"; }
sc() { "$wine_bin" sc "$@"; }
state_of() { sc query "$name" 2>/dev/null | tr -d '\r' | awk '/STATE/ { print $4; exit }'; }
is_stopped() { [[ "$(state_of)" == STOPPED ]]; }
# GET over plain bash (no curl needed): prints the response, fails if nothing listens.
http_get() {
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$2" >&3
        cat <&3' _ "$1" "$2" 2>/dev/null
}
free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 40000))
        http_get "$p" / >/dev/null || { echo "$p"; return; }
    done
    fail "no free port found"
}
wait_for() { # seconds, description, command...
    local secs="$1" what="$2"; shift 2
    local until=$((SECONDS + secs))
    until "$@"; do
        ((SECONDS < until)) || fail "$what (waited ${secs}s)"
        sleep 0.5
    done
}

work="$(mktemp -d)"
keeper=
home=
cleanup() {
    local rc=$?
    if ((rc != 0)) && [[ -n "${metrics_port:-}" ]]; then
        echo "--- /metrics:" >&2; http_get "$metrics_port" /metrics | grep '^scepwatch' >&2 || true
    fi
    if [[ -n "$keeper" ]]; then
        # Best effort: never leave the service installed, then end this prefix's processes.
        if [[ -n "$(state_of)" ]]; then collector service uninstall --name "$name" >/dev/null 2>&1 || true; fi
        "$wineserver_bin" -k 2>/dev/null || true
        wait "$keeper" 2>/dev/null || true
    fi
    if ((rc != 0)) && [[ -n "$home" && -f "$home/$name.log" ]]; then
        echo "--- service log:" >&2; cat "$home/$name.log" >&2
    fi
    rm -rf "$work"
}
trap cleanup EXIT

metrics_port="$(free_port)"
ingestor_port="$(free_port)" # nothing listens: the check is about the service, not shipping
# Installed like on a server: the executable and its configuration in a folder whose path has
# a space (the service's command line must quote it).
home="$work/Program Files/scepwatch"
mkdir -p "$home" "$work/logs/W3SVC1"
cp "$exe" "$home/"
exe="$home/$(basename "$exe")"
# Written as IIS writes it (UTC, W3C extended fields); the service must read these 3 requests.
{
    printf '#Software: Microsoft Internet Information Services 10.0\r\n'
    printf '#Version: 1.0\r\n'
    printf '#Date: 2026-11-27 08:00:00\r\n'
    printf '#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n'
    for i in 1 2 3; do
        printf '2026-11-27 08:00:0%d 10.0.0.5 GET /certsrv/mscep/mscep.dll operation=GetCACaps&message=default 443 - 10.0.0.%d Dalvik/2.1.0 - 200 0 0 1%d\r\n' "$i" "$i" "$i"
    done
} >"$work/logs/W3SVC1/u_ex261127.log"
# Relative paths: the service resolves them from the configuration's folder.
cat >"$home/collector.toml" <<EOF
[collector]
name = "wine-check"
host = "WINECHECK"
endpoint = "https://ndes.example.test/certsrv/mscep/mscep.dll"
state_dir = 'state'

[ingestor]
url = "http://127.0.0.1:$ingestor_port"
token = "0123456789abcdef0123456789abcdef"

[shipper]
drain_timeout = "2s"

[spool]
dir = 'spool'
max_bytes = "16MiB"
segment_bytes = "4MiB"

[tail]
poll_interval = "100ms"

[metrics]
listen = "127.0.0.1:$metrics_port"

[[source]]
name = "iis"
format = "iis"
root = '$(winpath "$work/logs")'
include = ["W3SVC*/u_ex*.log"]
EOF

step "Wine session (prefix $WINEPREFIX)"
if [[ ! -d "$WINEPREFIX" ]]; then
    mkdir -p "$(dirname "$WINEPREFIX")" # Wine refuses a prefix whose parent is missing
    WINEARCH=win64 wine wineboot --init >/dev/null 2>&1 || fail "wineboot --init"
    # A new prefix's first session can run two services.exe; sc start then finds no service.
    # Let that session end before ours starts.
    "$wineserver_bin" -w
fi
# Wine ends services.exe and every service once the last ordinary process exits: keep one.
"$wine_bin" ping -n 3600 127.0.0.1 >/dev/null 2>&1 &
keeper=$!
sc_up() { sc query eventlog >/dev/null 2>&1; }
wait_for 60 "Wine's service manager answering" sc_up
if [[ -n "$(state_of)" ]]; then
    echo "   (a previous run left $name installed; removing it)"
    collector service uninstall --name "$name" >/dev/null
fi

step "service install"
# Wine 8's service manager refuses SERVICE_CONFIG_FAILURE_ACTIONS_FLAG: install warns, goes on.
out="$(collector service install --config "$(winpath "$home/collector.toml")" --name "$name" 2>&1)" ||
    fail "service install exited $?: $out"
sed 's/^/   /' <<<"$out"
wait_for 10 "installed service STOPPED" is_stopped

step "sc start"
sc start "$name" >/dev/null || fail "sc start exited $?"
healthz_ok() { http_get "$metrics_port" /healthz | grep -q '^ok'; }
wait_for 60 "/healthz on 127.0.0.1:$metrics_port" healthz_ok
[[ "$(state_of)" == RUNNING ]] || fail "started service is $(state_of), expected RUNNING"
spooled_three() {
    [[ "$(http_get "$metrics_port" /metrics | tr -d '\r' |
        awk '/^scepwatch_collector_spooled_events_total / { print $2 }')" == 3 ]]
}
wait_for 30 "the service reading the 3 IIS requests into its spool" spooled_three
[[ -d "$home/spool" && -d "$home/state" ]] || fail "relative spool/state dirs not under the configuration's folder"
echo "   RUNNING; /healthz ok; spooled_events_total 3; spool and state beside the configuration"

step "sc stop"
sc stop "$name" >/dev/null || fail "sc stop exited $?"
wait_for 60 "service STOPPED" is_stopped
! http_get "$metrics_port" /healthz >/dev/null || fail "/healthz still answers after stop"
grep -q 'stop requested by the service manager' "$home/$name.log" || fail "no stop request in the service log"
grep -q 'service stopped' "$home/$name.log" || fail "no graceful stop in the service log"
echo "   STOPPED; /healthz gone; graceful stop in $name.log"

step "sc start with a configuration broken since install"
exit_codes() { sc query "$name" | tr -d '\r' | awk '/WIN32_EXIT_CODE/ { w = $3 } /SERVICE_EXIT_CODE/ { s = $3 } END { print w "/" s }'; }
[[ "$(exit_codes)" == 0/0 ]] || fail "exit codes after a graceful stop: $(exit_codes), expected 0/0"
sed -i 's/^token = .*/token = "short"/' "$home/collector.toml"
sc start "$name" >/dev/null 2>&1 || true
wait_for 30 "service STOPPED after a configuration error" is_stopped
# 1066: ERROR_SERVICE_SPECIFIC_ERROR; 2: the command line's exit code for a configuration error.
[[ "$(exit_codes)" == 1066/2 ]] || fail "exit codes after a configuration error: $(exit_codes), expected 1066/2"
grep -q 'ingestor.token: must be at least 16 characters' "$home/$name.log" ||
    fail "the configuration error is not in the service log"
echo "   STOPPED with service-specific exit code 2; the error (file, line, field) in $name.log"

step "service uninstall"
collector service uninstall --name "$name" >/dev/null || fail "service uninstall exited $?"
[[ -z "$(state_of)" ]] || fail "service still listed after uninstall: $(state_of)"
echo "   removed"
echo "service check ok"
