#!/usr/bin/env bash
# Automatic fall-back to a full backup, with the reason stated: bitmap removed,
# QEMU killed (bitmap inconsistent), disk grown; and the chain surviving a
# clean QEMU restart (persistent bitmap).
. "$(dirname "$0")/qemu_lib.sh"
new_disk d0 qcow2 32M; new_disk d1 qcow2 16M
start_qemu d0:qcow2 d1:qcow2
mkdir "$T/repo"; "$QUAIL" backup init "$T/repo" >/dev/null
vwrite d0 0xa1 0 256k; vwrite d1 0xb1 0 256k
backup; [ "$BTYPE" = full ] || fail "first not full"

# 1. bitmap removed by someone: full for that disk, incremental for the other.
qmp block-dirty-bitmap-remove "{\"node\":\"d0n\",\"name\":\"$(bitmaps d0 | cut -d' ' -f1)\"}" >/dev/null
vwrite d0 0xa2 1M 4k; vwrite d1 0xb2 1M 4k
snap_expect d0 x1; snap_expect d1 x1
backup; X1=$BID
[ "$(disk_mode d0)" = full ] || fail "d0 should be full after its bitmap was removed"
disk_reason d0 | grep -q "is missing" || fail "reason: $(disk_reason d0)"
[ "$(disk_mode d1)" = incremental ] || fail "d1 should stay incremental"
ok "removed bitmap -> full: $(disk_reason d0)"

# 2. clean QEMU restart: persistent bitmaps survive, the chain goes on.
stop_qemu; start_qemu d0:qcow2 d1:qcow2
vwrite d0 0xa3 2M 4k
backup
[ "$(disk_mode d0)" = incremental ] || fail "after a clean restart: $(disk_reason d0)"
[ "$BREAD" -le 262144 ] || fail "incremental after restart read $BREAD"
ok "clean restart keeps the chain (read $BREAD bytes)"

# 3. QEMU killed while a bitmap loaded from the image was in use: it comes
# back marked inconsistent -> full.  (The clean restart first stores the
# bitmap in the image; one only ever held in memory would just be missing.)
stop_qemu; start_qemu d0:qcow2 d1:qcow2
kill_qemu; start_qemu d0:qcow2 d1:qcow2
vwrite d0 0xa4 3M 4k
snap_expect d0 x3; snap_expect d1 x3
backup; X3=$BID
[ "$(disk_mode d0)" = full ] || fail "d0 after kill -9 of QEMU: $(disk_reason d0)"
disk_reason d0 | grep -q "inconsistent" || fail "reason: $(disk_reason d0)"
[ "$(bitmaps d0 | wc -l)" = 1 ] || fail "stale bitmaps left: $(bitmaps d0)"
ok "QEMU killed -> full: $(disk_reason d0)"

# 4. disk grown between backups: full for that disk, then incrementals again.
qmp block_resize '{"device":"d1","size":33554432}' >/dev/null
truncate -s 32M "$T/d1.expect"
vwrite d1 0xb5 20M 64k
snap_expect d0 x4; snap_expect d1 x4
backup; X4=$BID
[ "$(disk_mode d1)" = full ] || fail "grown d1: $(disk_mode d1)"
disk_reason d1 | grep -q "size changed" || fail "reason: $(disk_reason d1)"
[ "$(disk_mode d0)" = incremental ] || fail "d0 after d1 grew: $(disk_reason d0)"
vwrite d1 0xb6 30M 4k
snap_expect d1 x5; snap_expect d0 x5
backup; X5=$BID
[ "$(disk_mode d1)" = incremental ] || fail "d1 after growing: $(disk_reason d1)"
ok "grown disk -> full once, then incremental"

# 5. --full forces it and says so.
backup --full
[ "$BTYPE" = full ] && disk_reason d0 | grep -q -- "--full" || fail "--full: $(disk_reason d0)"

for x in 1 3 4 5; do
    id=$(eval echo \$X$x)
    for d in d0 d1; do check_restore "$id" $d "$T/$d.x$x.expect"; done
done
"$QUAIL" backup verify "$T/repo" >/dev/null || fail verify
[ -z "$(leftovers)" ] || fail "leftovers: $(leftovers)"
ok "fall-back backups restore correctly"
