#!/usr/bin/env bash
# --guest-agent: guest-fsfreeze-freeze before the backup instant and -thaw
# after it (a fake agent writes a marker at each, on the far side of the
# instant it should be on); an agent that does not answer only costs a
# warning (crash-consistent backup).
. "$(dirname "$0")/qemu_lib.sh"
new_disk d0 qcow2 32M
start_qemu d0:qcow2
mkdir "$T/repo"; "$QUAIL" backup init "$T/repo" >/dev/null
python3 "$(dirname "$0")/fake_agent.py" "$T/qga.sock" "$T/qmp2.sock" "$QUAIL" "$T/qga.log" &
AGENT=$!
trap 'kill $AGENT 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 50); do [ -S "$T/qga.sock" ] && break; sleep 0.1; done
"$QUAIL" backup run --qmp "$T/qmp.sock" --guest-agent "$T/qga.sock" "$T/repo" >"$T/run.txt" 2>&1 ||
    { cat "$T/run.txt"; fail "run with agent"; }
grep -q "froze 1 guest filesystem" "$T/run.txt" || fail "no freeze reported: $(cat "$T/run.txt")"
[ "$(tr '\n' ' ' <"$T/qga.log")" = "guest-sync guest-fsfreeze-freeze guest-fsfreeze-thaw " ] ||
    fail "agent saw: $(cat "$T/qga.log")"
id=$("$QUAIL" backup list "$T/repo" --json | grep -o '"id":"[^"]*"' | tail -1 | cut -d'"' -f4)
"$QUAIL" backup restore "$T/repo" "$id" --disk d0 --to "$T/r.raw" >/dev/null
# The freeze marker is in the backup, the thaw marker is not.
cmp -s <(dd if="$T/r.raw" bs=64k skip=128 count=1 2>/dev/null) <(head -c 65536 /dev/zero | tr '\0' '\361') ||
    fail "write made during the freeze is missing"
cmp -s <(dd if="$T/r.raw" bs=64k skip=144 count=1 2>/dev/null) <(head -c 65536 /dev/zero) ||
    fail "write made after the thaw is in the backup"
backup
"$QUAIL" backup restore "$T/repo" "$BID" --disk d0 --to "$T/r2.raw" >/dev/null
cmp -s <(dd if="$T/r2.raw" bs=64k skip=144 count=1 2>/dev/null) <(head -c 65536 /dev/zero | tr '\0' '\362') ||
    fail "write made after the thaw is not in the next backup"
ok "freeze/thaw wrap the backup instant"

kill $AGENT; wait $AGENT 2>/dev/null || true
"$QUAIL" backup run --qmp "$T/qmp.sock" --guest-agent "$T/qga.sock" "$T/repo" >"$T/run.txt" 2>&1 ||
    { cat "$T/run.txt"; fail "run with a dead agent"; }
grep -q "crash-consistent" "$T/run.txt" || fail "no warning about the dead agent"
ok "dead agent: $(grep crash-consistent "$T/run.txt")"
