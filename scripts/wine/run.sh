#!/usr/bin/env bash
# Cargo runner for x86_64-pc-windows-gnu: runs a Windows executable (tests, the collector) under
# Wine. Test harness only.
#   CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=scripts/wine/run.sh cargo test --target x86_64-pc-windows-gnu
# Wine 8.0 lacks bcryptprimitives.dll (ProcessPrng, imported by Rust's std); a shim built from
# bcryptprimitives.c with mingw is put beside the executable first.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exe="$1"; shift
dir="$(dirname "$exe")"
shim="$dir/bcryptprimitives.dll"
if [[ ! -f "$shim" || "$here/bcryptprimitives.c" -nt "$shim" ]]; then
    x86_64-w64-mingw32-gcc -O2 -shared -o "$shim.tmp" "$here/bcryptprimitives.c" -ladvapi32
    mv "$shim.tmp" "$shim"
fi
export WINEPREFIX="${WINEPREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/scepwatch-wine}"
export WINEDEBUG="${WINEDEBUG:--all}"
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
if [[ ! -d "$WINEPREFIX" ]]; then
    mkdir -p "$(dirname "$WINEPREFIX")" # Wine refuses a prefix whose parent is missing
    wineboot_out="$(mktemp)"
    if ! WINEARCH=win64 wine wineboot --init >"$wineboot_out" 2>&1; then
        cat "$wineboot_out" >&2
        exit 1
    fi
    rm -f "$wineboot_out"
fi
wine_bin=/usr/lib/wine/wine64
[[ -x "$wine_bin" ]] || wine_bin="$(command -v wine64 || command -v wine)"
exec "$wine_bin" "$exe" "$@"
