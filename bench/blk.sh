#!/usr/bin/env bash
# virtio-blk throughput inside the guest, quail vs qemu-system-riscv64 on the
# same image format, guest program (guest/programs/blkbench.c) and command
# line: sequential write and read (1 MiB O_DIRECT requests) and 4 KiB random
# reads.  Each figure is the median of --reps runs; the ratio is quail/qemu
# (higher is better: quail's share of QEMU's throughput).
#   bench/blk.sh [--reps N] [--size MiB] [--format raw|qcow2]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
reps=3 size=128 fmt=raw
while [ $# -gt 0 ]; do
    case $1 in
        --reps) reps=$2; shift 2 ;;
        --size) size=$2; shift 2 ;;
        --format) fmt=$2; shift 2 ;;
        *) echo "usage: $0 [--reps N] [--size MiB] [--format raw|qcow2]" >&2; exit 2 ;;
    esac
done
quail=${QUAIL:-$root/build/quail}
qemu=${QEMU_SYSTEM:-qemu-system-riscv64}
eval "$("$root/guest/build.sh" --print)" || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/quail-blkbench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

run_one() { # emulator -> prints "write read iops"
    local img=$tmp/disk.$fmt
    rm -f "$img"
    qemu-img create -q -f "$fmt" "$img" "$((size * 2))M" || return 1
    local cmd
    if [ "$1" = quail ]; then cmd=("$quail" run); else cmd=("$qemu"); fi
    timeout 600 "${cmd[@]}" -M virt -m 512M -smp 2 -nographic -bios default \
        -kernel "$KERNEL" -initrd "$INITRD" -no-reboot \
        -drive "file=$img,format=$fmt,if=none,id=d0" -device virtio-blk-pci,drive=d0 \
        -append "console=ttyS0 quail.test=blkbench quail.args=dev=/dev/vda,size=$((size << 20)),reads=4000" \
        </dev/null >"$tmp/log" 2>&1
    grep -q "QUAIL-TEST-RESULT: PASS blkbench" "$tmp/log" || { cat "$tmp/log" >&2; return 1; }
    local w r i
    w=$(sed -n 's/.*seq-write MB\/s=\([0-9.]*\).*/\1/p' "$tmp/log")
    r=$(sed -n 's/.*seq-read MB\/s=\([0-9.]*\).*/\1/p' "$tmp/log")
    i=$(sed -n 's/.*rand-read IOPS=\([0-9.]*\).*/\1/p' "$tmp/log")
    echo "$w $r $i"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A res
for emu in quail qemu; do
    : >"$tmp/$emu.w"; : >"$tmp/$emu.r"; : >"$tmp/$emu.i"
    for _ in $(seq "$reps"); do
        out=$(run_one "$emu") || { echo "bench/blk.sh: $emu run failed" >&2; exit 1; }
        set -- $out
        echo "$1" >>"$tmp/$emu.w"; echo "$2" >>"$tmp/$emu.r"; echo "$3" >>"$tmp/$emu.i"
    done
    res[$emu.w]=$(median <"$tmp/$emu.w")
    res[$emu.r]=$(median <"$tmp/$emu.r")
    res[$emu.i]=$(median <"$tmp/$emu.i")
done
printf "virtio-blk-pci, %s image, %d MiB, median of %d\n" "$fmt" "$size" "$reps"
printf "%-22s %12s %12s %8s\n" metric quail qemu ratio
for k in w:"seq write MB/s" r:"seq read MB/s" i:"4K rand read IOPS"; do
    key=${k%%:*} name=${k#*:}
    q=${res[quail.$key]} e=${res[qemu.$key]}
    printf "%-22s %12s %12s %8s\n" "$name" "$q" "$e" "$(awk -v a="$q" -v b="$e" 'BEGIN{printf "%.2f", (b>0)?a/b:0}')"
done
