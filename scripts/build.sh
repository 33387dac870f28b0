#!/usr/bin/env bash
# Builds quail into build/ (and, with --asan, an ASan+UBSan build into build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
build() {
    local dir=$1; shift
    [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" >/dev/null
    ninja -C "$dir" >/dev/null
}
build build
if [ "${1:-}" = "--asan" ]; then
    build build-asan -Db_sanitize=address,undefined -Db_lundef=false
    # libFuzzer targets need clang; same sanitizers.
    CC=clang build build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
fi
