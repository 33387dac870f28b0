#!/usr/bin/env bash
# SIGTERM at every step of a run (QUAIL_BACKUP_STOPPOINT=N): the run stops
# cleanly with status 1 (or, past the commit, finishes), removes everything it
# created in QEMU itself, rolls the dirty bitmap back so no write is lost, and
# the next run is an incremental with exactly the right content.
. "$(dirname "$0")/qemu_lib.sh"
new_disk d0 qcow2 64M
start_qemu d0:qcow2
mkdir "$T/repo"; "$QUAIL" backup init "$T/repo" >/dev/null
vwrite d0 0x01 0 8M
backup
n=1 stopped=0
while :; do
    vwrite d0 "$(printf '0x%02x' $((n + 32)))" $(( (n % 6) * 5 ))M 3M
    snap_expect d0 s
    set +e
    QUAIL_BACKUP_STOPPOINT=$n "$QUAIL" backup run --qmp "$T/qmp.sock" "$T/repo" >"$T/stopped.txt" 2>&1
    st=$?
    set -e
    if [ "$st" = 1 ]; then
        stopped=$((stopped + 1))
        grep -q "interrupted" "$T/stopped.txt" || fail "stop point $n: $(cat "$T/stopped.txt")"
        [ -z "$(leftovers)" ] || fail "stop point $n: the run left $(leftovers)"
        [ "$(bitmaps d0 | wc -l)" = 1 ] && bitmaps d0 | grep -q recording ||
            fail "stop point $n: bitmap not rolled back: $(bitmaps d0)"
    elif [ "$st" != 0 ]; then
        cat "$T/stopped.txt"; fail "stop point $n: status $st"
    fi
    backup
    [ "$BTYPE" = incremental ] || fail "stop point $n: next run is $BTYPE: $(disk_reason d0)"
    check_restore "$BID" d0 "$T/d0.s.expect"
    # Past the last step the run is never stopped: done.
    grep -q '"event":"done"' "$T/stopped.txt" 2>/dev/null && break
    [ "$st" = 0 ] && break
    n=$((n + 1))
done
[ "$stopped" -ge 8 ] || fail "only $stopped stop points"
ok "$stopped stop points: clean stop, bitmap rolled back, next incremental complete"
