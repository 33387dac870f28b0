#!/usr/bin/env bash
# Block data survives across boots and reaches the image file: boot 1 writes a
# pattern through virtio-blk-pci, boot 2 verifies it through virtio-blk over
# MMIO, the host verifies the raw image with a native build of the same
# blkpattern program, and a verify with the wrong seed must fail (so the
# check can fail at all).
#   blk-two-boots.sh --emulator qemu|quail
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ "${1:-}" != --emulator ] || [ -z "${2:-}" ]; then echo "usage: $0 --emulator qemu|quail" >&2; exit 2; fi
emu=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/quail-blk.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
img=$tmp/disk.img
truncate -s 64M "$img"
run=("$here/run-guest-test.sh" --emulator "$emu" --smp 2 --test blkpattern)
pat=dev=/dev/vda,size=8M,offset=1M,seed=77

"${run[@]}" --args "$pat,mode=write" -- \
    -drive "file=$img,format=raw,if=none,id=d0" -device virtio-blk-pci,drive=d0 || exit 1
"${run[@]}" --args "$pat,mode=verify" -- \
    -drive "file=$img,format=raw,if=none,id=d0" -device virtio-blk-device,drive=d0 || exit 1

cc -O2 -I"$root/guest/programs" -o "$tmp/blkpattern" "$root/guest/programs/blkpattern.c" || exit 1
"$tmp/blkpattern" dev="$img" size=8M offset=1M seed=77 mode=verify || { echo "host-side verify failed"; exit 1; }
if "$tmp/blkpattern" dev="$img" size=4K offset=0 seed=77 mode=verify 2>/dev/null; then
    echo "host-side verify of the untouched first MiB passed: pattern check is broken"
    exit 1
fi

if "${run[@]}" --args "${pat/seed=77/seed=78},mode=verify" -- \
    -drive "file=$img,format=raw,if=none,id=d0" -device virtio-blk-pci,drive=d0 >"$tmp/neg.log" 2>&1; then
    cat "$tmp/neg.log"
    echo "verify with the wrong seed passed: pattern check is broken"
    exit 1
fi
grep -q 'QUAIL-TEST-RESULT: FAIL blkpattern' "$tmp/neg.log" || { cat "$tmp/neg.log"; echo "wrong-seed boot did not report FAIL"; exit 1; }
echo "blk-two-boots: PASS on $emu"
