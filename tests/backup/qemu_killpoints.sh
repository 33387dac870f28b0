#!/usr/bin/env bash
# A run killed with SIGKILL at every step (QUAIL_BACKUP_KILLPOINT=N kills it
# at its Nth step) leaves a repository that verifies clean and lists no
# half-written backup; the next run removes the leftovers in QEMU, loses no
# write, and the chain goes on; gc then removes what the killed commits left.
. "$(dirname "$0")/qemu_lib.sh"
new_disk d0 qcow2 64M; new_disk d1 qcow2 64M
start_qemu d0:qcow2 d1:qcow2
mkdir "$T/repo"; "$QUAIL" backup init "$T/repo" >/dev/null
vwrite d0 0x01 0 1M; vwrite d1 0x02 0 1M
backup
nbackups() { "$QUAIL" backup list "$T/repo" --json | grep -o '"id"' | wc -l; }

n=1 killed=0 cleaned=0
while :; do
    # Scattered writes, so the incremental reads several pieces (more steps).
    p=$(printf '0x%02x' $((n % 200 + 16)))
    for k in 0 1 2 3; do vwrite d0 "$p" $((k * 12 + n % 5))M 64k; vwrite d1 "$p" $((k * 9 + 3))M 4k; done
    snap_expect d0 k; snap_expect d1 k
    before=$(nbackups)
    full=(); [ $((n % 4)) = 0 ] && full=(--full)
    set +e
    QUAIL_BACKUP_KILLPOINT=$n "$QUAIL" backup run --qmp "$T/qmp.sock" "${full[@]}" "$T/repo" >"$T/killed.txt" 2>&1
    st=$?
    set -e
    if [ "$st" = 0 ]; then break; fi
    [ "$st" = 137 ] || { cat "$T/killed.txt"; fail "kill point $n: exit status $st"; }
    killed=$((killed + 1))
    "$QUAIL" backup verify "$T/repo" >/dev/null || fail "kill point $n: repository does not verify"
    after=$(nbackups)
    # At most the killed backup itself, and only if it was committed whole.
    [ "$after" -le $((before + 1)) ] || fail "kill point $n: $before -> $after backups"
    if [ "$after" = $((before + 1)) ]; then
        id=$("$QUAIL" backup list "$T/repo" --json | grep -o '"id":"[^"]*"' | tail -1 | cut -d'"' -f4)
        check_restore "$id" d0 "$T/d0.k.expect"
    fi
    # Half the time by node name: a kill after the freeze leaves our filter on
    # top of the disks, hiding those names until the leftovers are removed.
    sel=(); [ $((n % 2)) = 1 ] && sel=(--disk d0n --disk d1n)
    backup "${sel[@]}" || fail "kill point $n: the next run failed"
    grep -q '"event":"warning","message":"removed [0-9]* leftover' "$T/out.json" && cleaned=$((cleaned + 1))
    for d in d0 d1; do check_restore "$BID" $d "$T/$d.k.expect"; done
    [ -z "$(leftovers)" ] || fail "kill point $n: leftovers after the next run: $(leftovers)"
    [ "$(bitmaps d0 | wc -l)" = 1 ] && [ "$(bitmaps d1 | wc -l)" = 1 ] ||
        fail "kill point $n: bitmaps: $(bitmaps d0) $(bitmaps d1)"
    bitmaps d0 | grep -q recording || fail "kill point $n: bitmap not recording"
    n=$((n + 1))
done
[ "$killed" -ge 20 ] || fail "only $killed kill points exercised"
# Kills between creating the scratch overlays and tearing them down leave
# objects in QEMU: the next run must have said it removed them.
[ "$cleaned" -ge 8 ] || fail "only $cleaned next runs reported removing leftovers"
# Kills inside the commit leave temp packs, packs no index names and index
# entries no backup references: gc removes them and every backup still restores.
"$QUAIL" backup gc "$T/repo" >"$T/gc.txt" || fail "gc after the kills: $(cat "$T/gc.txt")"
grep -q "removed [1-9][0-9]* pack(s).* [1-9][0-9]* leftover file(s)" "$T/gc.txt" ||
    fail "gc found no debris of killed commits: $(cat "$T/gc.txt")"
[ -z "$(find "$T/repo" -name '*.tmp.*')" ] || fail "temp files left after gc"
"$QUAIL" backup verify "$T/repo" >/dev/null || fail "repository does not verify after gc"
# The last run (the one no kill point reached) backed up the last writes.
id=$("$QUAIL" backup list "$T/repo" --json | grep -o '"id":"[^"]*"' | tail -1 | cut -d'"' -f4)
for d in d0 d1; do check_restore "$id" $d "$T/$d.k.expect"; done
ok "$killed kill points ($cleaned with leftovers in QEMU): repository clean, leftovers removed, no write lost"
