#!/usr/bin/env bash
# The collector on Windows, tested from Linux: cross-builds scepwatch-collector for
# x86_64-pc-windows-gnu with Debian's mingw-w64, runs its file-source, spool, agent and unit
# tests under Wine, then installs, starts, stops and removes it as a Windows service under Wine's
# service manager (scripts/wine/service-check.sh). Installs what is missing (rustup target,
# gcc-mingw-w64-x86-64, wine64 and wine from apt); a second run reuses all of it, the Wine
# prefixes under ~/.cache included.
#
# Debug build on purpose: the tests need the debug (test profile) build of every dependency
# anyway, and the collector binary then costs only its own crate; a release build would compile
# every dependency a second time.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
target=x86_64-pc-windows-gnu
pkg=scepwatch-collector
tests=(--lib --test tail --test spool --test agent)

timings=()
started=$SECONDS
lap=$SECONDS
timed() { timings+=("$(printf '%-30s %4ds' "$1" $((SECONDS - lap)))"); lap=$SECONDS; }

echo "== tools"
missing=()
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-x86-64)
# Debian 12: /usr/lib/wine/wine64 comes from `wine64`, /usr/bin/wine and wineboot from `wine`.
[[ -x /usr/lib/wine/wine64 ]] || command -v wine64 >/dev/null || missing+=(wine64)
command -v wine >/dev/null || missing+=(wine)
if ((${#missing[@]})); then
    sudo=
    if ((EUID != 0)); then
        command -v sudo >/dev/null || { echo "needs root or sudo to install: ${missing[*]}" >&2; exit 1; }
        sudo=sudo
    fi
    echo "installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
timed "tools"

echo "== cross-build ($target, debug)"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$PWD/scripts/wine/run.sh"
# Integration tests build the binary too (in the tests' feature set; a separate `cargo build`
# would resolve features without the dev-dependencies and compile several crates again).
cargo test --target "$target" -p "$pkg" "${tests[@]}" --no-run
exe="${CARGO_TARGET_DIR:-target}/$target/debug/$pkg.exe"
[[ -f "$exe" ]] || { echo "missing $exe" >&2; exit 1; }
timed "cross-build"

echo "== Wine prefix ($(wine --version 2>/dev/null || echo wine))"
# The first start creates the prefix (wineboot) and the test-only ProcessPrng shim.
"$CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER" "$exe" --version
timed "Wine prefix + first start"

echo "== tests under Wine"
cargo test --target "$target" -p "$pkg" "${tests[@]}"
timed "tests under Wine"

echo "== Windows service under Wine"
scripts/wine/service-check.sh "$exe"
timed "service check under Wine"

echo
echo "== windows-test timings"
printf '  %s\n' "${timings[@]}"
printf '  %-30s %4ds\n' "total" $((SECONDS - started))
