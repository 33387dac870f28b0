#!/usr/bin/env bash
# First command after cloning: installs the Debian packages, builds quail and
# the test guest (kernel + initramfs, cached outside the tree), then boots the
# demo guest to its shell prompt on this terminal.  Type `poweroff` to leave.
#   scripts/setup.sh [--qemu]    (--qemu: boot under Debian's QEMU instead)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
eval "$(guest/build.sh --print)"
emu=(build/quail run)
[ "${1:-}" = --qemu ] && emu=(qemu-system-riscv64)
echo "setup: booting the demo guest (${emu[*]}); type 'poweroff' at the quail# prompt to leave" >&2
exec "${emu[@]}" -M virt -m 512M -smp 2 -nographic -kernel "$KERNEL" -initrd "$INITRD" \
    -append console=ttyS0
