#!/usr/bin/env bash
# Two repositories backing up the same VM keep separate chains: each has its
# own bitmap (named with its UUID), each incremental holds exactly the writes
# since that repository's previous backup, and neither run touches the other's
# bitmap or objects.
. "$(dirname "$0")/qemu_lib.sh"
new_disk d0 qcow2 32M
start_qemu d0:qcow2
for r in A B; do mkdir "$T/repo$r"; "$QUAIL" backup init "$T/repo$r" >/dev/null; done
run_into() { # REPO -> BID, BTYPE, BREAD
    "$QUAIL" backup run --qmp "$T/qmp.sock" --json "$T/repo$1" >"$T/out.json" 2>"$T/err.txt" ||
        { cat "$T/err.txt"; fail "run into $1"; }
    local done; done=$(grep '"event":"done"' "$T/out.json")
    BID=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$done")
    BTYPE=$(sed -n 's/.*"type":"\([a-z]*\)".*/\1/p' <<<"$done")
    BREAD=$(sed -n 's/.*"type":"[a-z]*",\("parent":"[^"]*",\)\{0,1\}"bytes_read":\([0-9]*\).*/\2/p' <<<"$done")
}
restore_from() { # REPO ID EXPECT
    "$QUAIL" backup restore "$T/repo$1" "$2" --disk d0 --to "$T/r.raw" >/dev/null || fail "restore $1 $2"
    cmp "$T/r.raw" "$3" || fail "repository $1 backup $2 differs from $3"
}
vwrite d0 0x01 0 1M
run_into A; [ "$BTYPE" = full ] || fail "A first not full"
vwrite d0 0x02 4M 256k
run_into B; [ "$BTYPE" = full ] || fail "B first not full"
[ "$(bitmaps d0 | wc -l)" = 2 ] || fail "expected one bitmap per repository: $(bitmaps d0)"
vwrite d0 0x03 8M 256k; snap_expect d0 a2
run_into A; A2=$BID
[ "$BTYPE" = incremental ] || fail "A second: $BTYPE"
# Since A's last backup: the 0x02 and 0x03 writes (2 chunks).
[ "$BREAD" = $((2 * 262144)) ] || fail "A incremental read $BREAD"
vwrite d0 0x04 12M 256k; snap_expect d0 b2
run_into B; B2=$BID
[ "$BTYPE" = incremental ] || fail "B second: $BTYPE"
# Since B's last backup: 0x03 and 0x04.
[ "$BREAD" = $((2 * 262144)) ] || fail "B incremental read $BREAD"
restore_from A "$A2" "$T/d0.a2.expect"
restore_from B "$B2" "$T/d0.b2.expect"
[ "$(bitmaps d0 | wc -l)" = 2 ] || fail "bitmaps: $(bitmaps d0)"
ok "two repositories, two independent chains"
