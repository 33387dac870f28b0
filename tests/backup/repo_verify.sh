#!/usr/bin/env bash
# verify finds a flipped byte in a stored chunk and names every backup that
# references it (and only those).  Usage: repo_verify.sh MKBACKUP
set -euo pipefail
MK=$1
Q=${QUAIL:?}
T=$(mktemp -d /tmp/quail-repo-verify.XXXXXX)
trap 'rm -rf "$T"' EXIT
R=$T/repo
fail() { echo "FAIL: $*" >&2; exit 1; }

"$Q" backup init "$R" --chunk-size 64K >/dev/null
dd if=/dev/urandom of="$T/a.img" bs=65536 count=4 status=none
cp "$T/a.img" "$T/b.img"
dd if=/dev/urandom of="$T/b.img" bs=65536 seek=3 count=1 conv=notrunc status=none
dd if=/dev/urandom of="$T/c.img" bs=65536 count=4 status=none
ida=$("$MK" "$R" "$T/a.img" --vm a)
idb=$("$MK" "$R" "$T/b.img" --vm b)
idc=$("$MK" "$R" "$T/c.img" --vm c)
"$Q" backup verify "$R" >/dev/null || fail "verify of a healthy repository failed"

# The first chunk is shared by a and b.
h=$(head -c 65536 "$T/a.img" | sha256sum | cut -c1-64)
f=$R/chunks/${h:0:2}/$h
[ -f "$f" ] || fail "chunk file $f not found"
size=$(stat -c %s "$f")
printf '\x5a' | dd of="$f" bs=1 seek=$((size - 100)) count=1 conv=notrunc status=none

set +e
out=$("$Q" backup verify "$R")
rc=$?
set -e
echo "$out"
[ $rc -eq 3 ] || fail "verify exit code $rc, expected 3"
echo "$out" | grep -q "DAMAGED chunk chunks/${h:0:2}/$h" || fail "damaged chunk not named"
echo "$out" | grep -q "affected backup $ida disk drive0" || fail "backup a not named"
echo "$out" | grep -q "affected backup $idb disk drive0" || fail "backup b not named"
echo "$out" | grep -q "affected backup $idc" && fail "backup c wrongly named"
"$Q" backup verify "$R" "$idc" >/dev/null || fail "verify of the undamaged backup failed"
set +e
"$Q" backup restore "$R" "$ida" --to "$T/out.img" 2>"$T/err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "restore of a damaged backup succeeded"
grep -q "chunks/${h:0:2}/$h is damaged" "$T/err" || fail "restore error does not name the chunk"

# A damaged manifest is reported by name too.
printf 'garbage' > "$R/backups/$idc.json"
set +e
out=$("$Q" backup verify "$R" "$idc")
rc=$?
set -e
[ $rc -eq 3 ] || fail "damaged manifest: exit $rc"
echo "$out" | grep -q "manifest backups/$idc.json is damaged" || fail "damaged manifest not named"
# list still shows the readable backups, warns and fails.
set +e
"$Q" backup list "$R" >"$T/list" 2>"$T/err"
rc=$?
set -e
[ $rc -eq 1 ] || fail "list with a damaged manifest: exit $rc"
grep -q "$ida" "$T/list" && grep -q "$idb" "$T/list" || fail "list lost readable backups"
grep -q "1 manifest(s) could not be read" "$T/err" || fail "list warning"
# gc refuses rather than drop chunks the damaged backup may need.
"$Q" backup gc "$R" 2>/dev/null && fail "gc ran with a damaged manifest"
echo "repo verify: ok"
