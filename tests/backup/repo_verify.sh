#!/usr/bin/env bash
# verify finds a flipped byte in a stored chunk (and a damaged index file) and names every backup that
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

# The first chunk is shared by a and b.  Its record in a pack starts with its
# hash (docs/backup-repository.md); flip a byte of its payload.
# The name is the SHA-256 tree of chunk.h: 4 KiB pieces for 64 KiB chunks.
h=$(python3 - "$T/a.img" <<'PY'
import hashlib, struct, sys
d = open(sys.argv[1], "rb").read(65536)
piece = 4096
root = b"quail-tree-v1" + struct.pack("<IQ", piece, len(d))
root += b"".join(hashlib.sha256(d[i:i + piece]).digest() for i in range(0, len(d), piece))
print(hashlib.sha256(root).hexdigest())
PY
)
grep -q '"hash_piece": 4096' "$R/config" || fail "config does not name the piece size"
loc=$(python3 - "$R/packs" "$h" <<'PY'
import os, sys
d, h = sys.argv[1], bytes.fromhex(sys.argv[2])
for n in os.listdir(d):
    at = open(os.path.join(d, n), "rb").read().find(h)
    if at >= 0:
        print(os.path.join(d, n), at)
PY
)
[ -n "$loc" ] || fail "no pack holds chunk $h"
f=${loc% *} at=${loc#* }
printf '\x5a' | dd of="$f" bs=1 seek=$((at + 48 + 1000)) count=1 conv=notrunc status=none

set +e
out=$("$Q" backup verify "$R")
rc=$?
set -e
echo "$out"
[ $rc -eq 3 ] || fail "verify exit code $rc, expected 3"
echo "$out" | grep -q "DAMAGED chunk $h (packs/$(basename "$f") at $at) is damaged" || fail "damaged chunk not named"
echo "$out" | grep -q "affected backup $ida disk drive0" || fail "backup a not named"
echo "$out" | grep -q "affected backup $idb disk drive0" || fail "backup b not named"
echo "$out" | grep -q "affected backup $idc" && fail "backup c wrongly named"
"$Q" backup verify "$R" "$idc" >/dev/null || fail "verify of the undamaged backup failed"
set +e
"$Q" backup restore "$R" "$ida" --to "$T/out.img" 2>"$T/err"
rc=$?
set -e
[ $rc -ne 0 ] || fail "restore of a damaged backup succeeded"
grep -q "chunk $h .*is damaged" "$T/err" || fail "restore error does not name the chunk"

# A damaged index file: verify says so (the chunks it lists are missing),
# gc refuses, and nothing is changed.
cp -a "$R" "$T/repo2"
R2=$T/repo2
ix=$(ls "$R2/index" | head -1)
printf '\x01' | dd of="$R2/index/$ix" bs=1 seek=20 count=1 conv=notrunc status=none
set +e
out=$("$Q" backup verify "$R2" 2>&1)
rc=$?
set -e
[ $rc -eq 3 ] || fail "damaged index: verify exit $rc"
echo "$out" | grep -q "index file index/$ix is damaged" || fail "damaged index file not named"
echo "$out" | grep -q "1 damaged index file" || fail "damaged index not counted"
before=$(cd "$R2" && find . -type f | sort | xargs sha256sum)
"$Q" backup gc "$R2" 2>"$T/err" && fail "gc ran with a damaged index file"
grep -q "index file(s) are damaged" "$T/err" || fail "gc refusal reason"
after=$(cd "$R2" && find . -type f | sort | xargs sha256sum)
[ "$before" = "$after" ] || fail "gc changed a repository it refused to collect"

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
