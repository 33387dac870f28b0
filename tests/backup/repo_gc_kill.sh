#!/usr/bin/env bash
# gc killed with SIGKILL at each of its steps (QUAIL_BACKUP_KILLPOINT=N) leaves
# a repository that verifies, whose backups all restore byte for byte, and
# that the next gc finishes: the order of docs/backup-repository.md, "Garbage
# collection", makes every step safe.  Usage: repo_gc_kill.sh MKBACKUP
set -euo pipefail
MK=$1
Q=${QUAIL:?}
T=$(mktemp -d /tmp/quail-repo-gckill.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
stored() { "$Q" backup stats "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunks"])'; }

# Three backups sharing some chunks, in small packs (several per backup), so
# removing the first backup leaves dead packs, partly used packs to rewrite
# and several index files to replace.
R0=$T/repo0
"$Q" backup init "$R0" --chunk-size 64K >/dev/null
dd if=/dev/urandom of="$T/a.img" bs=65536 count=48 status=none
cp "$T/a.img" "$T/b.img"
dd if=/dev/urandom of="$T/b.img" bs=65536 seek=6 count=24 conv=notrunc status=none
cp "$T/b.img" "$T/c.img"
dd if=/dev/urandom of="$T/c.img" bs=65536 seek=40 count=8 conv=notrunc status=none
ida=$("$MK" "$R0" "$T/a.img" --vm v --time 1700000000 --pack-size 200000)
idb=$("$MK" "$R0" "$T/b.img" --vm v --time 1700000100 --pack-size 200000)
idc=$("$MK" "$R0" "$T/c.img" --vm v --time 1700000200 --pack-size 200000)
rm "$R0/backups/$ida.json"
live=$(python3 - "$R0" "$idb" "$idc" <<'PY'
import json, sys
s = set()
for i in sys.argv[2:]:
    m = json.load(open(f"{sys.argv[1]}/backups/{i}.json"))
    s |= {c for c in m["disks"][0]["chunks"] if isinstance(c, str)}
print(len(s))
PY
)
[ "$(stored "$R0")" -gt "$live" ] || fail "no garbage to collect"

n=1 killed=0
while :; do
    rm -rf "$T/r"; cp -a "$R0" "$T/r"
    set +e
    QUAIL_BACKUP_KILLPOINT=$n "$Q" backup gc "$T/r" >"$T/gc.out" 2>&1
    st=$?
    set -e
    if [ "$st" = 0 ]; then break; fi
    [ "$st" = 137 ] || { cat "$T/gc.out"; fail "kill point $n: exit status $st"; }
    killed=$((killed + 1))
    "$Q" backup verify "$T/r" >"$T/v.out" || { cat "$T/v.out"; fail "kill point $n: does not verify"; }
    for id in "$idb" "$idc"; do
        img=$T/b.img; [ "$id" = "$idc" ] && img=$T/c.img
        "$Q" backup restore "$T/r" "$id" --to "$T/out.img" 2>"$T/err" || { cat "$T/err"; fail "kill point $n: restore of $id"; }
        cmp -s "$img" "$T/out.img" || fail "kill point $n: restore of $id differs"
    done
    # The next gc finishes the job.
    "$Q" backup gc "$T/r" >/dev/null || fail "kill point $n: the next gc failed"
    [ "$(stored "$T/r")" -eq "$live" ] || fail "kill point $n: $(stored "$T/r") chunks stored after the next gc, $live live"
    [ -z "$(find "$T/r" -name '*.tmp.*')" ] || fail "kill point $n: temp files left"
    "$Q" backup verify "$T/r" >/dev/null || fail "kill point $n: no longer verifies after the next gc"
    n=$((n + 1))
    [ $n -le 200 ] || fail "gc never finished"
done
[ "$killed" -ge 8 ] || fail "only $killed kill points in gc"
[ "$(stored "$T/r")" -eq "$live" ] || fail "uninterrupted gc left $(stored "$T/r") chunks, $live live"
grep -q "rewrote [1-9]" "$T/gc.out" || fail "no partly used pack was rewritten: $(cat "$T/gc.out")"
echo "repo gc kill: ok ($killed kill points)"
