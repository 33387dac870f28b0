#!/usr/bin/env bash
# Throttling as the guest sees it (issue 5, acceptance 2), measured inside the
# test guest under quail, with qemu-system-riscv64 on the same command line as
# the peer:
#   - 10 MB/s bps limit: O_DIRECT sequential write of 100 MB (about 10 s);
#   - 500 IOPS limit: 4 KiB random reads for about 10 s;
#   - two disks in one 10 MB/s group written at once: each one's share;
#   - the cost of an inserted throttle node with no limits: sequential
#     write/read throughput with the node over without it.
# Deviations are printed, not asserted (timing belongs in bench/, not tests).
#   bench/throttle-guest.sh [--only quail|qemu] [--reps N]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
only="" reps=3
while [ $# -gt 0 ]; do
    case $1 in
        --only) only=$2; shift 2 ;;
        --reps) reps=$2; shift 2 ;;
        *) echo "usage: $0 [--only quail|qemu] [--reps N]" >&2; exit 2 ;;
    esac
done
quail=${QUAIL:-$root/build/quail}
eval "$("$root/guest/build.sh" --print)" || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/quail-thr.XXXXXX")
trap 'rm -rf "$T"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

boot() { # emulator test args -- extra...
    local emu=$1 test=$2 args=$3; shift 4
    local cmd
    if [ "$emu" = quail ]; then cmd=("$quail" run); else cmd=(qemu-system-riscv64); fi
    timeout 600 "${cmd[@]}" -M virt -m 512M -smp 2 -nographic -bios default -no-reboot \
        -kernel "$KERNEL" -initrd "$INITRD" "$@" \
        -append "console=ttyS0 quail.test=$test quail.args=$args" </dev/null >"$T/log" 2>&1
    grep -q "QUAIL-TEST-RESULT: PASS $test" "$T/log" || { tail -20 "$T/log" >&2; return 1; }
}
disk() { truncate -s 256M "$T/$1.raw"; }
chain() { # name [throttle-group] -> -blockdev args for a raw disk, throttled if a group is given
    disk "$1"
    if [ -n "${2:-}" ]; then
        echo "-blockdev driver=file,node-name=$1f,filename=$T/$1.raw" \
             "-blockdev driver=throttle,node-name=$1t,file=$1f,throttle-group=$2" \
             "-blockdev driver=raw,node-name=$1,file=$1t"
    else
        echo "-blockdev driver=file,node-name=$1f,filename=$T/$1.raw" \
             "-blockdev driver=raw,node-name=$1,file=$1f"
    fi
}
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$T/log" | head -1; }

for emu in quail qemu; do
    [ -n "$only" ] && [ "$only" != "$emu" ] && continue
    # shellcheck disable=SC2046
    boot "$emu" blkbench dev=/dev/vda,size=100000000,reads=1 -- \
        -object throttle-group,id=G,x-bps-total=10000000 $(chain d0 G) \
        -device virtio-blk-pci,drive=d0 || exit 1
    bps=$(field "seq-write MB\/s")
    # shellcheck disable=SC2046
    boot "$emu" blkbench dev=/dev/vda,size=1048576,reads=5000 -- \
        -object throttle-group,id=G,x-iops-total=500 $(chain d0 G) \
        -device virtio-blk-pci,drive=d0 || exit 1
    iops=$(field "rand-read IOPS")
    # shellcheck disable=SC2046
    boot "$emu" blkpair dev1=/dev/vda,dev2=/dev/vdb,size=67108864,secs=10 -- \
        -object throttle-group,id=G,x-bps-total=10000000 $(chain d0 G) $(chain d1 G) \
        -device virtio-blk-pci,drive=d0 -device virtio-blk-pci,drive=d1 || exit 1
    s1=$(sed -n 's/.*dev1 MB\/s=\([0-9.]*\).*/\1/p' "$T/log"); s2=$(sed -n 's/.*dev2 MB\/s=\([0-9.]*\).*/\1/p' "$T/log")
    : >"$T/w0"; : >"$T/w1"; : >"$T/r0"; : >"$T/r1"
    for _ in $(seq "$reps"); do
        # shellcheck disable=SC2046
        boot "$emu" blkbench dev=/dev/vda,size=67108864,reads=1 -- $(chain d0) \
            -device virtio-blk-pci,drive=d0 || exit 1
        field "seq-write MB\/s" >>"$T/w0"; field "seq-read MB\/s" >>"$T/r0"
        # shellcheck disable=SC2046
        boot "$emu" blkbench dev=/dev/vda,size=67108864,reads=1 -- \
            -object throttle-group,id=U $(chain d0 U) -device virtio-blk-pci,drive=d0 || exit 1
        field "seq-write MB\/s" >>"$T/w1"; field "seq-read MB\/s" >>"$T/r1"
    done
    w0=$(median <"$T/w0") w1=$(median <"$T/w1") r0=$(median <"$T/r0") r1=$(median <"$T/r1")
    echo "== $emu"
    awk -v v="$bps" 'BEGIN{printf "  10 MB/s limit:         %6.2f MB/s  (%+.1f %%)\n", v, (v/10-1)*100}'
    awk -v v="$iops" 'BEGIN{printf "  500 IOPS limit:        %6.0f IOPS  (%+.1f %%)\n", v, (v/500-1)*100}'
    awk -v a="$s1" -v b="$s2" 'BEGIN{printf "  two disks, one group:  %6.2f + %6.2f MB/s (shares %.1f %% / %.1f %%, sum %+.1f %%)\n", a, b, 100*a/(a+b), 100*b/(a+b), ((a+b)/10-1)*100}'
    awk -v a="$w1" -v b="$w0" -v c="$r1" -v d="$r0" 'BEGIN{printf "  unlimited node cost:   write %.1f vs %.1f MB/s (%+.1f %%), read %.1f vs %.1f MB/s (%+.1f %%), median of '"$reps"'\n", a, b, (a/b-1)*100, c, d, (c/d-1)*100}'
done
