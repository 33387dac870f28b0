#!/usr/bin/env bash
# virtio-blk on qcow2, checked against Debian's QEMU and qemu-img:
#  - the base image is made by qemu-img with compressed clusters (zlib), the
#    guest's disk is a qcow2 overlay on it (a backing chain);
#  - boot 1 (virtio-blk-pci) writes 64 MiB of pattern into the overlay,
#    boot 2 (virtio-blk over MMIO) verifies it and the compressed base data
#    read through the chain;
#  - qemu-img check finds no errors or leaks in what quail wrote;
#  - the same write under qemu-system-riscv64 gives an image qemu-img compare
#    calls identical;
#  - a zstd-compressed base made by qemu-img reads correctly too.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
run=$root/tests/guest/run-guest-test.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/quail-blkqcow2.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "blk-qcow2-interop: FAIL: $*"; exit 1; }

cc -O2 -I"$root/guest/programs" -o "$tmp/blkpattern" "$root/guest/programs/blkpattern.c" ||
    fail "cannot build the host blkpattern"
truncate -s 128M "$tmp/base.raw"
"$tmp/blkpattern" dev="$tmp/base.raw" size=16M offset=0 seed=3 mode=write >/dev/null ||
    fail "host pattern write"
qemu-img convert -c -O qcow2 "$tmp/base.raw" "$tmp/base.qcow2" || fail "qemu-img convert -c"
qemu-img convert -c -O qcow2 -o compression_type=zstd "$tmp/base.raw" "$tmp/base-zstd.qcow2" ||
    fail "qemu-img convert -c zstd"
for who in quail qemu; do
    qemu-img create -q -f qcow2 -b "$tmp/base.qcow2" -F qcow2 "$tmp/top-$who.qcow2" ||
        fail "qemu-img create overlay"
done

write=dev=/dev/vda,size=64M,offset=32M,seed=9
drive() { echo "file=$1,format=qcow2,if=none,id=d0"; }

"$run" --emulator quail --smp 2 --test blkpattern --args "$write,mode=write" -- \
    -drive "$(drive "$tmp/top-quail.qcow2")" -device virtio-blk-pci,drive=d0 ||
    fail "quail boot 1 (write)"
"$run" --emulator quail --smp 2 --test blkpattern --args "$write,mode=verify" -- \
    -drive "$(drive "$tmp/top-quail.qcow2")" -device virtio-blk-device,drive=d0 ||
    fail "quail boot 2 (verify written data)"
"$run" --emulator quail --smp 1 --test blkpattern \
    --args dev=/dev/vda,size=16M,offset=0,seed=3,mode=verify -- \
    -drive "$(drive "$tmp/top-quail.qcow2")" -device virtio-blk-pci,drive=d0 ||
    fail "quail reading qemu-img's compressed base through the overlay"
qemu-img check "$tmp/top-quail.qcow2" || fail "qemu-img check of quail's image"

"$run" --emulator qemu --smp 2 --test blkpattern --args "$write,mode=write" -- \
    -drive "$(drive "$tmp/top-qemu.qcow2")" -device virtio-blk-pci,drive=d0 ||
    fail "qemu boot (write)"
qemu-img compare "$tmp/top-quail.qcow2" "$tmp/top-qemu.qcow2" ||
    fail "quail's and QEMU's images differ"

"$run" --emulator quail --smp 1 --test blkpattern \
    --args dev=/dev/vda,size=16M,offset=0,seed=3,mode=verify -- \
    -drive "file=$tmp/base-zstd.qcow2,format=qcow2,if=none,id=d0,readonly=on" \
    -device virtio-blk-pci,drive=d0 || fail "quail reading a zstd-compressed image"
echo "blk-qcow2-interop: PASS"
