#!/usr/bin/env bash
# Runs the hostile-driver program on one virtio-blk transport and checks that
# quail ran it to the end and the finisher got PASS.
#   run.sh QUAIL ELF mmio|pci
set -uo pipefail
quail=$1 elf=$2 transport=$3
case $transport in
    mmio) dev=virtio-blk-device ;;
    pci) dev=virtio-blk-pci ;;
    *) echo "usage: $0 QUAIL ELF mmio|pci" >&2; exit 2 ;;
esac
tmp=$(mktemp -d "${TMPDIR:-/tmp}/quail-virtio-hostile.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
truncate -s 1M "$tmp/disk.raw"
timeout 120 "$quail" run -M virt -m 64M -smp 1 -nographic -bios none -kernel "$elf" \
    -drive "file=$tmp/disk.raw,format=raw,if=none,id=d0" -device "$dev,drive=d0" \
    </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
cat "$tmp/out"
if [ $rc -ne 0 ]; then
    echo "--- quail stderr (exit $rc)"
    tail -n 40 "$tmp/err"
    exit 1
fi
grep -q "^FAIL" "$tmp/out" && exit 1
grep -q "failures: 0x0000000000000000" "$tmp/out" || { echo "no verdict line"; exit 1; }
# The device logged each malformed ring instead of quail aborting.
grep -c "needs reset" "$tmp/err" | sed 's/^/device-needs-reset log lines: /'
exit 0
