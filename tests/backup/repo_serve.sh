#!/usr/bin/env bash
# quail backup serve: qemu-img reads the backup over NBD (unix socket and
# loopback TCP) and gets the input back; nbdinfo --map sees the zero chunks as
# holes; writes are refused.  Usage: repo_serve.sh MKBACKUP
set -euo pipefail
MK=$1
Q=${QUAIL:?}
T=$(mktemp -d /tmp/quail-repo-serve.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
R=$T/repo
fail() { echo "FAIL: $*" >&2; exit 1; }

"$Q" backup init "$R" --chunk-size 64K >/dev/null
truncate -s 2M "$T/disk.img"
dd if=/dev/urandom of="$T/disk.img" bs=65536 count=2 conv=notrunc status=none
dd if=/dev/urandom of="$T/disk.img" bs=65536 seek=20 count=1 conv=notrunc status=none
id=$("$MK" "$R" "$T/disk.img" --disk vda)

wait_for() { for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }

S=$T/nbd.sock
"$Q" backup serve "$R" "$id" --disk vda --socket "$S" >"$T/serve.log" 2>&1 &
pid=$!
wait_for "$S" || fail "server socket did not appear"
URL="nbd+unix:///vda?socket=$S"
qemu-img convert -f raw -O raw "$URL" "$T/out.img"
cmp "$T/disk.img" "$T/out.img" || fail "qemu-img read differs from the input"
nbdinfo --size "$URL" | grep -qx 2097152 || fail "size"
nbdinfo --map "$URL" >"$T/map"
cat "$T/map"
grep -Eq '^ +0 +131072 +0 +data' "$T/map" || fail "map: first data extent"
grep -Eq '^ +131072 +1179648 +3 +hole,zero' "$T/map" || fail "map: hole extent"
grep -Eq '^ +1310720 +65536 +0 +data' "$T/map" || fail "map: second data extent"
# The default export "" is the disk too.
qemu-img convert -f raw -O raw "nbd+unix:///?socket=$S" "$T/out2.img"
cmp "$T/disk.img" "$T/out2.img" || fail "default export differs"
nbdinfo --list "nbd+unix:///?socket=$S" | grep -q "export=\"vda\"\|export: vda\|vda" || fail "list"
qemu-io -f raw -c 'write 0 512' "$URL" >"$T/w" 2>&1 && fail "write to the read-only export succeeded"
kill "$pid"
wait "$pid" || fail "serve did not exit cleanly on SIGTERM: $(cat "$T/serve.log")"
pid=

# Loopback TCP on a free port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$Q" backup serve "$R" "$id" --port "$port" >"$T/serve2.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q serving "$T/serve2.log" && break; sleep 0.1; done
qemu-img convert -f raw -O raw "nbd://127.0.0.1:$port/vda" "$T/out3.img"
cmp "$T/disk.img" "$T/out3.img" || fail "TCP read differs"
kill "$pid"
wait "$pid" || fail "serve (TCP) did not exit cleanly: $(cat "$T/serve2.log")"
pid=
echo "repo serve: ok"
