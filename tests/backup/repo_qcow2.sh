#!/usr/bin/env bash
# restore --format qcow2 writes a thin qcow2 that Debian's qemu-img checks clean
# and finds identical to the input.  Usage: repo_qcow2.sh MKBACKUP
set -euo pipefail
MK=$1
Q=${QUAIL:?}
T=$(mktemp -d /tmp/quail-repo-qcow2.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$Q" backup init "$T/r" --chunk-size 64K >/dev/null
truncate -s $((8 * 1048576 + 4096)) "$T/d.img"
dd if=/dev/urandom of="$T/d.img" bs=65536 count=3 conv=notrunc status=none
dd if=/dev/urandom of="$T/d.img" bs=4096 seek=1500 count=3 conv=notrunc status=none
dd if=/dev/urandom of="$T/d.img" bs=4096 seek=2048 count=1 conv=notrunc status=none
id=$("$MK" "$T/r" "$T/d.img")
"$Q" backup restore "$T/r" "$id" --disk drive0 --to "$T/out.qcow2" --format qcow2 >/dev/null
qemu-img check "$T/out.qcow2" >/dev/null || fail "qemu-img check"
qemu-img compare -f raw -F qcow2 "$T/d.img" "$T/out.qcow2" || fail "restored qcow2 differs"
qemu-img info --output=json "$T/out.qcow2" | python3 -c '
import json,sys
i=json.load(sys.stdin)
assert i["format"]=="qcow2" and i["virtual-size"]==8*1048576+4096, i
assert i["actual-size"] < 2*1048576, i    # thin: zero chunks were not written
' || fail "qcow2 info"
echo "repo qcow2: ok"
