#!/usr/bin/env bash
# Acceptance: the RISC-V test guest under qemu-system-riscv64 runs
# guest/programs/diskwriter, which appends a sequence-numbered log to two
# disks (each record to disk a, then disk b, synchronously), while the host
# takes a full and several incremental backups.  Every backup must restore to
# a log prefix on each disk, both disks at one instant (n_b <= n_a <= n_b+1),
# and the chain must never go backwards.
. "$(dirname "$0")/qemu_lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
eval "$("$root/guest/build.sh" --print)" || fail "guest build"
${CC:-cc} -O2 -I"$root/guest/programs" -o "$T/diskwriter" "$root/guest/programs/diskwriter.c" ||
    fail "building the host checker"
qemu-img create -q -f qcow2 "$T/d0.qcow2" 64M
qemu-img create -q -f qcow2 "$T/d1.qcow2" 64M
qemu-system-riscv64 -M virt -m 256M -smp 1 -nographic -bios default \
    -kernel "$KERNEL" -initrd "$INITRD" -no-reboot \
    -append "console=ttyS0 quail.test=diskwriter quail.args=a=/dev/vda,b=/dev/vdb,count=16000" \
    -qmp "unix:$T/qmp.sock,server=on,wait=off" \
    -drive "file=$T/d0.qcow2,if=none,id=d0,format=qcow2" -device virtio-blk-pci,drive=d0 \
    -drive "file=$T/d1.qcow2,if=none,id=d1,format=qcow2" -device virtio-blk-pci,drive=d1 \
    </dev/null >"$T/console.log" 2>&1 &
QEMU_PID=$!
mkdir "$T/repo"; "$QUAIL" backup init "$T/repo" >/dev/null
for _ in $(seq 1200); do
    grep -q "diskwriter: 256 records" "$T/console.log" && break
    kill -0 $QEMU_PID 2>/dev/null || { cat "$T/console.log"; fail "guest died"; }
    sleep 0.1
done
grep -q "diskwriter: 256 records" "$T/console.log" || { tail "$T/console.log"; fail "writer did not start"; }

ids=()
for k in 1 2 3 4; do
    kill -0 $QEMU_PID 2>/dev/null || break
    backup || fail "backup $k"
    ids+=("$BID"); echo "backup $k: $BTYPE, read $BREAD bytes"
    sleep 1
done
[ "${#ids[@]}" -ge 2 ] || fail "the guest finished before two backups were taken (raise count)"
last=0 mid=0
for id in "${ids[@]}"; do
    for d in d0 d1; do
        "$QUAIL" backup restore "$T/repo" "$id" --disk $d --to "$T/r.$d.raw" >/dev/null || fail "restore $id $d"
    done
    res=$("$T/diskwriter" "check=$T/r.d0.raw,$T/r.d1.raw") || fail "backup $id: $res"
    n=${res#a=}; n=${n%% *}
    echo "backup $id: $res"
    [ "$n" -ge "$last" ] || fail "backup $id went backwards ($n < $last)"
    [ "$n" -gt 0 ] && [ "$n" -lt 16000 ] && mid=$((mid + 1))
    last=$n
done
[ "$mid" -ge 2 ] || fail "fewer than two backups caught the writer mid-log"
ok "${#ids[@]} backups of a writing RISC-V guest, each one consistent instant across both disks"
# The writer is still going (its log is far longer than the test): stop QEMU.
! grep -q "QUAIL-TEST-RESULT: FAIL" "$T/console.log" || { tail -5 "$T/console.log"; fail "guest writer failed"; }
stop_qemu
