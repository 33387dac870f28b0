#!/usr/bin/env bash
# A bare-metal guest program (tests/hw/traps/traps.S) takes illegal-instruction
# and access-fault traps on unmapped physical memory with the right mcause and
# mtval, and quail keeps running to the end (exit 0, "TRAPS-OK").
set -u
Q=${QUAIL:?QUAIL not set}
here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
riscv64-linux-gnu-as -march=rv64ia -o "$T/traps.o" "$here/traps/traps.S" &&
riscv64-linux-gnu-ld --no-warn-rwx-segments -N -Ttext=0x80000000 -o "$T/traps.elf" "$T/traps.o" ||
    { echo "cannot assemble"; exit 1; }
timeout 60 "$Q" run -M virt -m 128M -bios none -kernel "$T/traps.elf" -serial file:"$T/out" \
    -display none </dev/null
rc=$?
out=$(cat "$T/out")
if [ $rc -eq 0 ] && [ "$out" = "TRAPS-OK" ]; then
    echo "ok: all traps delivered to the guest, quail kept running"
    exit 0
fi
echo "FAIL: rc=$rc (10+N means case N trapped wrongly, 100 = wrong trap count), serial '$out'"
exit 1
