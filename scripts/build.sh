#!/usr/bin/env bash
# Builds quail into build/ (and, with --asan, an ASan+UBSan build into build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
build() {
    local dir=$1; shift
    [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" >/dev/null || return 1
    # Quiet on success; the compiler's words on failure.
    ninja -C "$dir" >"$dir.log" 2>&1 || { grep -E -B2 -A8 'error|FAILED' "$dir.log" | head -60; return 1; }
}
build build || exit 1
if [ "${1:-}" = "--asan" ]; then
    build build-asan -Db_sanitize=address,undefined -Db_lundef=false || exit 1
    # libFuzzer targets need clang; same sanitizers.
    CC=clang build build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false || exit 1
fi
