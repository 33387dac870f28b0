# Shared helpers for the backup tests that run Debian's QEMU as the peer.
# Each test sources this, then calls start_qemu.  Everything lives in $T and
# is removed (QEMU stopped) on exit, whatever happens.
set -euo pipefail
QUAIL=${QUAIL:?QUAIL must point at the quail binary}
T=$(mktemp -d /tmp/quail-backup-test.XXXXXX)
QEMU_PID=
export TMPDIR=$T   # scratch overlays and the NBD socket of quail backup run

cleanup() {
    if [ -n "$QEMU_PID" ]; then kill -9 "$QEMU_PID" 2>/dev/null || true; wait "$QEMU_PID" 2>/dev/null || true; fi
    rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# start_qemu DISKSPEC...  each DISKSPEC is NAME:FORMAT (files $T/NAME.FORMAT
# must exist).  -drive ... if=none gives each disk a BlockBackend named NAME,
# so HMP qemu-io writes go through the backup filter like guest writes do.
start_qemu() {
    local args=() spec name fmt
    for spec in "$@"; do
        name=${spec%%:*}; fmt=${spec#*:}
        args+=(-drive "file=$T/$name.$fmt,if=none,id=$name,node-name=${name}n,format=$fmt"
               -device "virtio-blk-pci,drive=$name,id=vd$name")
    done
    rm -f "$T/qmp.sock" "$T/qmp2.sock"
    qemu-system-x86_64 -machine q35,accel=tcg -nodefaults -display none -name testvm \
        -qmp "unix:$T/qmp.sock,server=on,wait=off" -qmp "unix:$T/qmp2.sock,server=on,wait=off" \
        "${args[@]}" >"$T/qemu.log" 2>&1 &
    QEMU_PID=$!
    for _ in $(seq 100); do [ -S "$T/qmp.sock" ] && [ -S "$T/qmp2.sock" ] && return 0; sleep 0.1; done
    cat "$T/qemu.log" >&2; fail "QEMU did not start"
}

stop_qemu() { # clean quit: persistent bitmaps are written to the qcow2 files
    qmp quit >/dev/null || true
    wait "$QEMU_PID" 2>/dev/null || true
    QEMU_PID=
}

kill_qemu() {
    kill -9 "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null || true; QEMU_PID=
}

qmp() { "$QUAIL" backup qmp "$T/qmp.sock" "$@"; }

# vwrite DISK PATTERN OFFSET LEN: writes into the running VM's disk and into
# the expected image $T/DISK.expect, so the content at every instant is known.
vwrite() {
    "$QUAIL" backup qmp "$T/qmp.sock" --hmp "qemu-io $1 \"write -P $2 $3 $4\"" >/dev/null ||
        fail "qemu-io write on $1"
    qemu-io -f raw -c "write -P $2 $3 $4" "$T/$1.expect" >/dev/null
}

# new_disk NAME FORMAT SIZE: the disk and its all-zero expected image.
new_disk() {
    qemu-img create -q -f "$2" "$T/$1.$2" "$3"
    rm -f "$T/$1.expect"; truncate -s "$3" "$T/$1.expect"
}

# snap_expect DISK TAG: remembers the expected content for a backup.
snap_expect() { cp --sparse=always "$T/$1.expect" "$T/$1.$2.expect"; }

# backup ARGS...: quail backup run with --json; stores the output in $T/out.json
# and sets BID, BTYPE and BREAD (bytes read) from its final line.
backup() {
    "$QUAIL" backup run --qmp "$T/qmp.sock" --json "$@" "$T/repo" >"$T/out.json" 2>"$T/err.txt" || {
        cat "$T/out.json" "$T/err.txt" >&2; return 1; }
    local done
    done=$(grep '"event":"done"' "$T/out.json") || fail "no done event"
    BID=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$done")
    BTYPE=$(sed -n 's/.*"event":"done","id":"[^"]*","type":"\([a-z]*\)".*/\1/p' <<<"$done")
    BREAD=$(sed -n 's/.*"event":"done".*"type":"[a-z]*",\("parent":"[^"]*",\)\{0,1\}"bytes_read":\([0-9]*\).*/\2/p' <<<"$done")
}

# disk_mode DISK: "full" or "incremental" from the last backup's output.
disk_mode() { grep "\"event\":\"disk\",\"disk\":\"$1\"" "$T/out.json" | sed -n 's/.*"mode":"\([a-z]*\)".*/\1/p'; }
disk_reason() { grep "\"event\":\"disk\",\"disk\":\"$1\"" "$T/out.json" | sed -n 's/.*"reason":"\([^"]*\)".*/\1/p'; }

# check_restore ID DISK EXPECTFILE
check_restore() {
    rm -f "$T/restored.raw"
    "$QUAIL" backup restore "$T/repo" "$1" --disk "$2" --to "$T/restored.raw" >/dev/null ||
        fail "restore of $1 disk $2"
    cmp "$T/restored.raw" "$3" || fail "backup $1 disk $2 differs from the expected image $3"
}

# bitmaps DISK: our bitmap names on the disk's node, one a line.
bitmaps() {
    qmp query-named-block-nodes '{"flat":true}' | python3 -c '
import json,sys
for n in json.load(sys.stdin):
    if n["node-name"]==sys.argv[1]:
        for b in n.get("dirty-bitmaps",[]):
            if b.get("name","").startswith("quail-backup-"): print(b["name"], "recording" if b["recording"] else "disabled")
' "${1}n"
}

# leftovers: our nodes, jobs and exports still in QEMU, and scratch files.
leftovers() {
    { qmp query-named-block-nodes '{"flat":true}'; qmp query-jobs; qmp query-block-exports; } |
        grep -o '"qbk-[^"]*"' || true
    ls "$T" | grep '^qbk-' || true
}
