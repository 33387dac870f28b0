#!/usr/bin/env bash
# What a backup costs, from the counters the run reports (not from time):
# rewriting 1 % of a 1 GiB disk makes the incremental read about 1 %; a 1 TiB
# mostly-empty disk is scanned with large batched block-status requests and
# only its data is read.
. "$(dirname "$0")/qemu_lib.sh"
new_disk d0 qcow2 1G
qemu-img create -q -f qcow2 "$T/big.qcow2" 1T
start_qemu d0:qcow2 big:qcow2
mkdir "$T/repo"; "$QUAIL" backup init "$T/repo" >/dev/null
disk_read() { # DISK: bytes_read of that disk in the last run
    grep '"event":"done"' "$T/out.json" | grep -o "{\"disk\":\"$1\"[^}]*}" |
        sed -n 's/.*"bytes_read":\([0-9]*\).*/\1/p'
}
disk_status() {
    grep '"event":"done"' "$T/out.json" | grep -o "{\"disk\":\"$1\"[^}]*}" |
        sed -n 's/.*"block_status_requests":\([0-9]*\).*/\1/p'
}

# 256 MiB of data spread over the 1 GiB disk (every 4th MiB).
for i in $(seq 0 4 1020); do vwrite d0 0x$((i % 9 + 1))$((i % 7)) ${i}M 1M; done
qmp --hmp 'qemu-io big "write -P 0x33 500G 1M"' >/dev/null
qmp --hmp 'qemu-io big "write -P 0x34 1023G 64k"' >/dev/null
backup
full=$(disk_read d0)
[ "$full" = $((256 * 1048576)) ] || fail "full backup of d0 read $full bytes, wanted 256 MiB"
# 1 TiB in at most 2 GiB per request; data read: 4 chunks + 1 chunk.
[ "$(disk_status big)" -le 1024 ] || fail "1 TiB disk took $(disk_status big) block-status requests"
[ "$(disk_read big)" = $((5 * 262144)) ] || fail "1 TiB disk: read $(disk_read big) bytes"
ok "full: d0 read $full bytes; 1 TiB disk scanned in $(disk_status big) requests, read $(disk_read big) bytes"

# Rewrite 1 % of d0 (41 distinct 256 KiB chunks = 10.25 MiB), half of it in
# what was a hole before, plus a few small writes inside those chunks.
for i in $(seq 0 40); do vwrite d0 0x7e $((i * 25 * 1048576 + (i % 2) * 1048576))  256k; done
for i in 0 4 8; do vwrite d0 0x7f $((i * 25 * 1048576 + 4096)) 4k; done
snap_expect d0 inc
backup
[ "$BTYPE" = incremental ] || fail "not incremental"
inc=$(disk_read d0)
[ "$inc" = $((41 * 262144)) ] || fail "incremental read $inc bytes, wanted $((41 * 262144)) (1 % of 1 GiB)"
[ "$(disk_read big)" = 0 ] || fail "unchanged 1 TiB disk read $(disk_read big) bytes"
check_restore "$BID" d0 "$T/d0.inc.expect"
ok "1 % rewritten -> incremental read $inc bytes ($((inc * 100 / 1073741824)).$((inc * 1000 / 1073741824 % 10)) % of the disk)"
