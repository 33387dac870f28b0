#!/usr/bin/env bash
# The device tree quail generates matches the one Debian's QEMU 7.2 builds for
# the same -machine virt command line (see dtb_compare.c for the rules).
set -u
Q=${QUAIL:?QUAIL not set}
CMP=${1:?usage: dtb_vs_qemu.sh DTB_COMPARE}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
K="$T/Image"
python3 - "$K" <<'PY'
import struct, sys
hdr = struct.pack('<IIQQQIIQ8s4sI', 0x6f, 0, 0x200000, 0x10000, 0, 2, 0, 0,
                  b'RISCV\0\0\0', b'RSC\x05', 0)
open(sys.argv[1], 'wb').write(hdr + b'\0' * (4096 - len(hdr)))
PY
head -c 100000 /dev/urandom >"$T/initrd"
fail=0
for args in "-smp 1" "-smp 4 -m 512M" "-smp 8 -m 3G" "-smp 2 -m 1G -kernel $K -initrd $T/initrd -append console=ttyS0"; do
    # shellcheck disable=SC2086
    qemu-system-riscv64 -M virt,dumpdtb="$T/qemu.dtb" $args -display none \
        -serial none >/dev/null 2>&1 || { echo "qemu failed: $args"; exit 1; }
    # shellcheck disable=SC2086
    "$Q" run -M virt,dumpdtb="$T/quail.dtb" $args 2>/dev/null || { echo "quail failed: $args"; exit 1; }
    echo "== $args"
    "$CMP" "$T/quail.dtb" "$T/qemu.dtb" || fail=1
done
exit $fail
