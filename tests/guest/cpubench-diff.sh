#!/usr/bin/env bash
# Differential check of the CPU on a realistic workload: cpubench's checksum
# (integer, memory and IEEE double kernels) under quail must equal the one
# Debian's QEMU computes for the same binary.
#   cpubench-diff.sh [ITERS]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
iters=${1:-2}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/quail-cpubench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$here/run-guest-test.sh" --emulator qemu --test cpubench --args "iters=$iters" >"$tmp/qemu.log" 2>&1 \
    || { cat "$tmp/qemu.log"; echo "cpubench failed under QEMU"; exit 1; }
sum=$(tr -d '\r' <"$tmp/qemu.log" | sed -n 's/.*checksum=\(0x[0-9a-f]*\).*/\1/p' | head -n1)
[ -n "$sum" ] || { cat "$tmp/qemu.log"; echo "no checksum from QEMU"; exit 1; }
echo "QEMU checksum: $sum"
"$here/run-guest-test.sh" --emulator quail --test cpubench --args "iters=$iters,expect=$sum"
