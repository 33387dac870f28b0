#!/usr/bin/env bash
# Backups made through the writer API restore block for block (full and
# incremental), raw output is sparse, dedup stores nothing twice, prune + gc
# keep what the rules keep.  Usage: repo_restore.sh MKBACKUP
set -euo pipefail
MK=$1
Q=${QUAIL:?}
T=$(mktemp -d /tmp/quail-repo-restore.XXXXXX)
trap 'rm -rf "$T"' EXIT
R=$T/repo
fail() { echo "FAIL: $*" >&2; exit 1; }

# 3 MiB + 1234 bytes: random data, a long zero run, data again, an odd tail.
truncate -s $((3 * 1048576 + 1234)) "$T/disk.img"
dd if=/dev/urandom of="$T/disk.img" bs=65536 count=5 conv=notrunc status=none
dd if=/dev/urandom of="$T/disk.img" bs=65536 seek=40 count=3 conv=notrunc status=none
dd if=/dev/urandom of="$T/disk.img" bs=1 seek=$((3 * 1048576)) count=1234 conv=notrunc status=none

"$Q" backup init "$R" --chunk-size 64K | grep -q "format 2, chunk size 65536" || fail "init"
"$Q" backup init "$R" 2>/dev/null && fail "init over an existing repository succeeded"

id1=$("$MK" "$R" "$T/disk.img" --vm web --time 1700000000)
cp "$T/disk.img" "$T/disk1.img"
stored() { "$Q" backup stats "$R" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["chunks"])'; }
nchunks=$(stored)
[ "$nchunks" -eq 9 ] || fail "expected 9 stored chunks, got $nchunks"

# Change one chunk and grow nothing: the incremental stores exactly one chunk.
dd if=/dev/urandom of="$T/disk.img" bs=4096 seek=100 count=1 conv=notrunc status=none
id2=$("$MK" "$R" "$T/disk.img" --vm web --parent "$id1" --time 1700086400)
[ "$(stored)" -eq 10 ] || fail "incremental stored more than one chunk"
# The same content again: deduplicated to nothing new.
id3=$("$MK" "$R" "$T/disk.img" --vm db --time 1700090000)
[ "$(stored)" -eq 10 ] || fail "identical backup stored chunks"
"$Q" backup stats "$R" | grep -q "^chunks: 10 in [0-9]* pack(s)" || fail "stats"

"$Q" backup restore "$R" "$id1" --disk drive0 --to "$T/out1.img"
cmp "$T/disk1.img" "$T/out1.img" || fail "restore of full backup differs"
"$Q" backup restore "$R" "$id2" --disk drive0 --to "$T/out2.img"
cmp "$T/disk.img" "$T/out2.img" || fail "restore of incremental differs"
# Thin: the zero run (about 2.5 MiB) was not written.
used=$(du -k "$T/out1.img" | cut -f1)
[ "$used" -lt 1500 ] || fail "restored raw image is not sparse ($used KiB used)"
"$Q" backup restore "$R" "$id1" --disk nodisk --to "$T/x.img" 2>/dev/null && fail "unknown disk accepted"

"$Q" backup list "$R" | grep -q "$id2.*incremental.*web.*$id1" || fail "list"
"$Q" backup list "$R" --json | python3 -c '
import json,sys
l=json.load(sys.stdin)
assert [b["vm"] for b in l]==["web","web","db"], l
assert l[1]["parent"]==l[0]["id"] and l[1]["type"]=="incremental"
' || fail "list --json"
"$Q" backup show "$R" "$id2" --json | python3 -c '
import json,sys
m=json.load(sys.stdin)
d=m["disks"][0]
assert d["name"]=="drive0" and d["size"]==3*1048576+1234 and d["chunks"]==49, d
assert d["zero_chunks"]==49-10, d   # 9 data chunks + the one changed
' || fail "show --json"
QUAIL_BACKUP_REPO="$R" "$Q" backup show "$id1" | grep -q "^type     full" || fail "show via env"

# Retention: keep the last backup per VM; web's first goes, its chunks stay
# (shared), nothing is unreferenced.
"$Q" backup prune "$R" --keep-last 1 --dry-run | grep -q "would remove 1 of 3" || fail "prune dry run"
[ -f "$R/backups/$id1.json" ] || fail "dry run removed a backup"
"$Q" backup prune "$R" --keep-last 1 | grep -q "removed 1 of 3" || fail "prune"
[ -f "$R/backups/$id1.json" ] && fail "pruned backup still there"
"$Q" backup restore "$R" "$id2" --to "$T/out3.img"
cmp "$T/disk.img" "$T/out3.img" || fail "restore after prune differs"
"$Q" backup verify "$R" | grep -q "0 damaged or missing" || fail "verify after prune"
# Dropping both remaining backups' unique chunk owner leaves garbage for gc.
rm "$R/backups/$id2.json" "$R/backups/$id3.json"
"$Q" backup gc "$R" | grep -q "removed 10 unreferenced" || fail "gc"
[ "$(stored)" -eq 0 ] || fail "chunks left after gc"
[ -z "$(ls "$R/packs")" ] || fail "packs left after gc"
"$Q" backup prune "$R" 2>/dev/null && fail "prune without rules accepted"
echo "repo restore: ok"
