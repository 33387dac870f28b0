#!/usr/bin/env bash
# Full, then two incrementals of a VM with two qcow2 disks and one raw disk;
# every backup restored and compared with the image expected at its instant.
. "$(dirname "$0")/qemu_lib.sh"
new_disk d0 qcow2 64M; new_disk d1 qcow2 32M; new_disk r0 raw 8M
start_qemu d0:qcow2 d1:qcow2 r0:raw
mkdir "$T/repo"; "$QUAIL" backup init "$T/repo" >/dev/null

vwrite d0 0xaa 0 1M; vwrite d1 0x11 4M 512k; vwrite r0 0x77 0 64k
for d in d0 d1 r0; do snap_expect $d b1; done
backup
[ "$BTYPE" = full ] || fail "first backup is $BTYPE"
disk_reason d0 | grep -q "no earlier backup" || fail "no reason for the full backup"
B1=$BID; R1=$BREAD
[ "$R1" -ge $((1024*1024 + 512*1024 + 64*1024)) ] || fail "full read only $R1 bytes"
ok "full backup $B1 read $R1 bytes"

vwrite d0 0xbb 1M 64k; vwrite d0 0xbc 40M 4k; vwrite r0 0x78 4M 4k
for d in d0 d1 r0; do snap_expect $d b2; done
backup
B2=$BID
[ "$BTYPE" = incremental ] || fail "second backup is $BTYPE"
[ "$(disk_mode d0)" = incremental ] || fail "d0 not incremental"
[ "$(disk_mode d1)" = incremental ] || fail "d1 not incremental"
[ "$(disk_mode r0)" = full ] || fail "raw disk r0 not full"
disk_reason r0 | grep -q "cannot store a persistent dirty bitmap" || fail "raw disk reason: $(disk_reason r0)"
# d0: two 256 KiB chunks dirty, d1 none, r0 (full) its two allocated chunks.
[ "$BREAD" -le $((4 * 262144)) ] || fail "incremental read $BREAD bytes"
ok "incremental $B2 read $BREAD bytes"

vwrite d1 0x22 0 128k; vwrite d0 0xcc 1M 4k
for d in d0 d1 r0; do snap_expect $d b3; done
backup
B3=$BID
[ "$BTYPE" = incremental ] || fail "third backup is $BTYPE"
grep -q "\"parent\":\"$B2\"" "$T/out.json" || fail "third backup's parent is not $B2"

# Only the newest bitmap is left, recording; nothing else of ours.
[ "$(bitmaps d0 | wc -l)" = 1 ] || fail "bitmaps on d0: $(bitmaps d0)"
bitmaps d0 | grep -q -- "-$B3 recording" || fail "newest bitmap missing: $(bitmaps d0)"
[ -z "$(leftovers)" ] || fail "leftovers: $(leftovers)"

for b in 1 2 3; do
    id=$(eval echo \$B$b)
    for d in d0 d1 r0; do check_restore "$id" $d "$T/$d.b$b.expect"; done
done
ok "all backups restore to the content at their instant"
"$QUAIL" backup verify "$T/repo" >/dev/null || fail "verify"
ok "repository verifies"
