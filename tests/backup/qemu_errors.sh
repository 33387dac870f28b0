#!/usr/bin/env bash
# Clear errors that change nothing: a socket that is not QEMU, a disk that
# does not exist, a missing socket, a repository that does not exist, usage.
. "$(dirname "$0")/qemu_lib.sh"
new_disk d0 qcow2 16M
start_qemu d0:qcow2
mkdir "$T/repo"; "$QUAIL" backup init "$T/repo" >/dev/null

expect_fail() { # STATUS PATTERN CMD...
    local want=$1 pat=$2; shift 2
    set +e; "$@" >"$T/o.txt" 2>&1; local st=$?; set -e
    [ "$st" = "$want" ] || { cat "$T/o.txt" >&2; fail "exit status $st, wanted $want: $*"; }
    grep -q -- "$pat" "$T/o.txt" || { cat "$T/o.txt" >&2; fail "message lacks '$pat': $*"; }
}
no_backups() { [ -z "$(ls "$T/repo/backups")" ] || fail "a backup was written"; }

# An NBD server's socket: it greets, but not with QMP.
nbdkit -U "$T/nbd.sock" -P "$T/nbdkit.pid" memory 1M
trap 'kill $(cat "$T/nbdkit.pid") 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 50); do [ -S "$T/nbd.sock" ] && break; sleep 0.1; done
expect_fail 1 "not" "$QUAIL" backup run --qmp "$T/nbd.sock" "$T/repo"
grep -qi "QMP\|QEMU" "$T/o.txt" || fail "not-QEMU message does not say what was expected: $(cat "$T/o.txt")"
no_backups
ok "not-QEMU socket: $(head -1 "$T/o.txt")"

# A socket that accepts and says nothing: bounded wait, then the same error.
python3 -c '
import socket,sys,time
s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1)
c,_=s.accept(); time.sleep(30)' "$T/mute.sock" &
MUTE=$!
for _ in $(seq 50); do [ -S "$T/mute.sock" ] && break; sleep 0.1; done
expect_fail 1 "not a QMP monitor" "$QUAIL" backup run --qmp "$T/mute.sock" "$T/repo"
kill $MUTE 2>/dev/null || true
no_backups
ok "silent socket times out with a clear error"

expect_fail 1 "connecting" "$QUAIL" backup run --qmp "$T/nonexistent.sock" "$T/repo"

before=$(qmp query-named-block-nodes '{"flat":true}'; qmp query-block)
expect_fail 1 "has no disk 'nosuch'" "$QUAIL" backup run --qmp "$T/qmp.sock" --disk d0 --disk nosuch "$T/repo"
grep -q "disks: d0" "$T/o.txt" || fail "error does not list the disks: $(cat "$T/o.txt")"
after=$(qmp query-named-block-nodes '{"flat":true}'; qmp query-block)
[ "$before" = "$after" ] || fail "QEMU changed after the unknown-disk error"
no_backups
ok "unknown disk: $(head -1 "$T/o.txt")"

expect_fail 1 "" "$QUAIL" backup run --qmp "$T/qmp.sock" "$T/norepo"

# Another writer holds the repository: status 75 (try later), nothing done.
echo "another writer" >"$T/repo/lock"
before=$(qmp query-named-block-nodes '{"flat":true}')
expect_fail 75 "locked" "$QUAIL" backup run --qmp "$T/qmp.sock" "$T/repo"
[ "$before" = "$(qmp query-named-block-nodes '{"flat":true}')" ] || fail "QEMU changed while the repository was locked"
rm "$T/repo/lock"
no_backups
ok "locked repository: exit 75"
expect_fail 2 "usage" "$QUAIL" backup run "$T/repo"
expect_fail 2 "usage" "$QUAIL" backup run --qmp "$T/qmp.sock" --bogus "$T/repo"
expect_fail 2 "usage" "$QUAIL" backup frobnicate
"$QUAIL" backup --help | grep -q "run --qmp" || fail "help lacks run"
"$QUAIL" backup run --help | grep -q "Exit status" || fail "run --help lacks exit status"
ok "usage errors exit 2"

# Disk names: device, node name and qdev id all select the same disk.
vwrite d0 0x5a 0 64k
for sel in d0 d0n vdd0; do
    backup --disk $sel
    grep -q '"disk":"d0"' "$T/out.json" || fail "--disk $sel did not select d0"
done
ok "disks selectable by device, node and qdev id"
