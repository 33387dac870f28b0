#!/usr/bin/env bash
# quail img against Debian's qemu-img/qemu-io on the same images: reading
# qemu-made images (plain, 2-level backing chain, zlib and zstd compressed,
# zero clusters), info/map/check output, convert round trips, images made by
# quail checked by qemu-img, and image locking between the two.
set -euo pipefail
Q=${QUAIL:?}
work=$(mktemp -d)
qpid=
cleanup() { [ -n "$qpid" ] && kill "$qpid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }

# --- images made by qemu, read by quail ---
qemu-img create -q -f qcow2 base.qcow2 16M
qemu-io -c "write -P 0x11 0 4M" base.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2
qemu-io -c "write -P 0x22 1M 1M" mid.qcow2 >/dev/null
qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2
qemu-io -c "write -P 0x33 1536k 1M" -c "write -z 3M 64k" -c "write -P 0x44 15M 100k" top.qcow2 >/dev/null
"$Q" img io -r top.qcow2 -c "read -P 0x11 0 1M" -c "read -P 0x22 1M 512k" \
    -c "read -P 0x33 1536k 1M" -c "read -P 0x11 2560k 512k" -c "read -P 0 3M 64k" \
    -c "read -P 0x11 3136k 960k" -c "read -P 0 4M 11M" -c "read -P 0x44 15M 100k" >/dev/null \
    || fail "reading the backing chain"
echo "ok backing chain read"

qemu-img convert -O raw top.qcow2 top.raw
qemu-img convert -c -O qcow2 top.raw zlib.qcow2
qemu-img convert -c -O qcow2 -o compression_type=zstd top.raw zstd.qcow2
for f in top.qcow2 zlib.qcow2 zstd.qcow2; do
    out=$("$Q" img compare -F raw "$f" top.raw) || fail "compare $f: $out"
    [ "$out" = "Images are identical." ] || fail "compare $f: $out"
done
qemu-img info zstd.qcow2 | grep -q "compression type: zstd" || fail "zstd image not zstd"
echo "ok compressed zlib/zstd and zero clusters"

# --- info, map and check output against qemu-img ---
for f in base.qcow2 top.qcow2 zlib.qcow2 zstd.qcow2 top.raw; do
    "$Q" img info --output=json "$f" > q.json
    qemu-img info --output=json "$f" > e.json
    python3 - "$f" <<'PY' || exit 1
import json, sys
a, b = json.load(open("q.json")), json.load(open("e.json"))
def walk(x, y, path):
    if isinstance(y, dict):
        if not isinstance(x, dict):
            sys.exit(f"FAIL: {sys.argv[1]} {path}: {x!r} is not an object")
        for k in set(x) | set(y):
            if k not in x or k not in y:
                sys.exit(f"FAIL: {sys.argv[1]} {path}/{k}: quail={x.get(k)!r} qemu={y.get(k)!r}")
            walk(x[k], y[k], f"{path}/{k}")
    elif x != y:
        sys.exit(f"FAIL: {sys.argv[1]} {path}: quail={x!r} qemu={y!r}")
walk(a, b, "")
PY
    [ "$("$Q" img map --output=json "$f")" = "$(qemu-img map --output=json "$f")" ] || fail "map $f differs"
    [ "$("$Q" img map "$f" 2>&1 | sed 's/^quail img:/X:/')" = \
      "$(qemu-img map "$f" 2>&1 | sed 's/^qemu-img:/X:/')" ] || fail "human map $f differs"
done
for f in base.qcow2 top.qcow2 zlib.qcow2; do
    [ "$("$Q" img check "$f")" = "$(qemu-img check "$f")" ] || fail "check output $f differs"
done
for f in top.qcow2 zlib.qcow2; do
    "$Q" img check --output=json "$f" > q.json
    qemu-img check --output=json "$f" > e.json
    python3 -c "import json; a,b=json.load(open('q.json')),json.load(open('e.json')); assert a==b,(a,b)" \
        || fail "check json $f"
done
for args in "-f qcow2 c1.qcow2 1M" "-f qcow2 -b base.qcow2 -F qcow2 c1.qcow2" \
            "-f qcow2 -o compat=0.10,cluster_size=4096 c1.qcow2 1M" \
            "-f qcow2 -o compression_type=zstd,refcount_bits=8,lazy_refcounts=on c1.qcow2 1M" \
            "-f raw c1.raw 1M"; do
    [ "$("$Q" img create $args)" = "$(qemu-img create $args)" ] || fail "create output for $args"
done
"$Q" img info --backing-chain --output=json top.qcow2 > chain.json
python3 -c "
import json; c=json.load(open('chain.json')); assert [i['filename'] for i in c]==['top.qcow2','mid.qcow2','base.qcow2'], c" \
    || fail "backing chain info"
echo "ok info/map/check match qemu-img"

# --- images made by quail, checked and read by qemu ---
"$Q" img create -q -f qcow2 qa.qcow2 1G
"$Q" img create -q -f qcow2 -b qa.qcow2 -F qcow2 qb.qcow2
"$Q" img io qa.qcow2 -c "write -P 0x61 0 3M" -c "write -P 0x62 100M 65537" >/dev/null
"$Q" img io qb.qcow2 -c "write -P 0x63 1M 1M" -c "write -z 2M 1M" -c "discard 100M 64k" >/dev/null
qemu-img check qa.qcow2 | grep -q "No errors were found" || fail "qemu-img check qa"
qemu-img check qb.qcow2 | grep -q "No errors were found" || fail "qemu-img check qb"
qemu-io -r -c "read -P 0x61 0 1M" -c "read -P 0x63 1M 1M" -c "read -P 0 2M 1M" \
    -c "read -P 0x62 100M 64k" -c "read -P 0x62 102464k 1" qb.qcow2 | grep -q "Pattern verification failed" \
    && fail "qemu-io reads of the quail chain"
[ "$(qemu-img info --output=json qb.qcow2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["backing-filename"])')" = qa.qcow2 ] \
    || fail "backing file name"
"$Q" img resize qa.qcow2 +1G >/dev/null
[ "$(qemu-img info --output=json qa.qcow2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')" = $((2 << 30)) ] \
    || fail "resize"
qemu-img check qa.qcow2 | grep -q "No errors were found" || fail "qemu-img check after resize"
"$Q" img create -q -f qcow2 -o compat=0.10,cluster_size=4096 v2.qcow2 10M
"$Q" img io v2.qcow2 -c "write -P 7 5000 70000" -c "write -z 16k 8k" >/dev/null
qemu-img check v2.qcow2 | grep -q "No errors were found" || fail "qemu-img check v2"
qemu-img info v2.qcow2 | grep -q "compat: 0.10" || fail "v2 compat"
"$Q" img create -q -f raw shr.raw 10M
"$Q" img resize -f raw shr.raw +2M >/dev/null
out=$("$Q" img resize -f raw shr.raw 4M 2>&1) && fail "shrink without --shrink"
echo "$out" | grep -q -- "--shrink" || fail "shrink message: $out"
"$Q" img resize -f raw --shrink shr.raw 4M >/dev/null
[ "$(stat -c %s shr.raw)" = $((4 << 20)) ] || fail "raw shrink"
out=$("$Q" img resize qa.qcow2 1M 2>&1) && fail "qcow2 shrink without --shrink accepted"
"$Q" img create -q -f qcow2 -o cluster_size=4096 sh.qcow2 64M
"$Q" img io sh.qcow2 -c "write -P 1 0 5M" -c "write -P 2 20M 3M" -c "write -P 3 60M 4M" >/dev/null
"$Q" img resize --shrink sh.qcow2 21M >/dev/null
qemu-img check sh.qcow2 | grep -q "No errors were found" || fail "check after qcow2 shrink"
"$Q" img resize sh.qcow2 64M >/dev/null
qemu-io -r -c "read -P 1 0 5M" -c "read -P 2 20M 1M" -c "read -P 0 21M 43M" sh.qcow2 \
    | grep -q "verification failed" && fail "data after qcow2 shrink and regrow"
qemu-img check sh.qcow2 | grep -q "No errors were found" || fail "check after regrow"
for rb in 1 2 4 8 32 64; do
    rm -f rb.qcow2 rq.qcow2
    qemu-img create -q -f qcow2 -o refcount_bits=$rb,cluster_size=4096 rb.qcow2 8M
    qemu-io -c "write -P 1 0 100k" rb.qcow2 >/dev/null
    "$Q" img io rb.qcow2 -c "write -P 2 50k 1M" -c "discard 0 40k" -c "read -P 0 0 40k" \
        -c "read -P 1 40k 10k" -c "read -P 2 50k 1M" >/dev/null || fail "refcount_bits=$rb I/O"
    qemu-img check rb.qcow2 | grep -q "No errors were found" || fail "refcount_bits=$rb (qemu-made)"
    "$Q" img create -q -f qcow2 -o refcount_bits=$rb,cluster_size=512 rq.qcow2 8M
    "$Q" img io rq.qcow2 -c "write -P 2 50k 3M" -c "discard 1M 40k" >/dev/null
    qemu-img check rq.qcow2 | grep -q "No errors were found" || fail "refcount_bits=$rb (quail-made)"
    qemu-img info rq.qcow2 | grep -q "refcount bits: $rb" || fail "refcount_bits=$rb header"
done
# Small clusters with wide refcounts: blocks cover few clusters, so the L1
# table and long runs need refcount blocks placed outside their own range.
"$Q" img create -q -f qcow2 -o refcount_bits=64,cluster_size=512 w64.qcow2 1G
"$Q" img io w64.qcow2 -c "write -P 5 500M 1M" -c "aio-write -P 6 100M 3M" >/dev/null
"$Q" img resize w64.qcow2 +3G >/dev/null
qemu-img check w64.qcow2 | grep -q "No errors were found" || fail "refcount_bits=64 with 512-byte clusters"
qemu-io -r -c "read -P 5 500M 1M" -c "read -P 6 100M 3M" w64.qcow2 | grep -q "verification failed" && fail "w64 data"
rm -f w64.qcow2
echo "ok quail-made images pass qemu-img check; resize; refcount widths 1-64"

# --- dirty bit (lazy refcounts crash) is repaired and cleared on open ---
qemu-img create -q -f qcow2 -o lazy_refcounts=on dirty.qcow2 16M
sh -c 'qemu-io -c "write -P 7 0 1M" -c abort dirty.qcow2; exit 0' >/dev/null 2>&1
qemu-img info dirty.qcow2 | grep -q "cleanly shut down: no" || fail "dirty bit not left by qemu-io abort"
rc=0; "$Q" img check dirty.qcow2 >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "check of a dirty image: rc=$rc, expected 2"
"$Q" img io dirty.qcow2 -c "read -P 7 0 1M" >/dev/null || fail "open of a dirty image"
qemu-img check dirty.qcow2 | grep -q "No errors were found" || fail "dirty image not repaired"
qemu-img info --output=json dirty.qcow2 | grep -q '"dirty-flag": false' || fail "dirty bit not cleared"
echo "ok dirty bit repair"

# --- leaks: reported with exit code 3, repaired by -r leaks ---
"$Q" img create -q -f qcow2 leak.qcow2 16M
"$Q" img io leak.qcow2 -c "write -P 1 0 64k" -c "write -P 2 1M 64k" -c "discard 1M 64k" >/dev/null
python3 -c "
import struct
f=open('leak.qcow2','r+b'); f.seek(48); rt=struct.unpack('>Q',f.read(8))[0]
f.seek(rt); rb=struct.unpack('>Q',f.read(8))[0]
f.seek(rb + 2*6); f.write(struct.pack('>H',1))"
rc=0; out=$("$Q" img check leak.qcow2 2>&1) || rc=$?
[ $rc -eq 3 ] || fail "leak check rc=$rc"
echo "$out" | grep -q "Leaked cluster 6 refcount=1 reference=0" || fail "leak message: $out"
echo "$out" | grep -q "1 leaked clusters were found on the image." || fail "leak summary: $out"
qemu-img check leak.qcow2 >/dev/null 2>&1 && fail "qemu-img sees no leak"
"$Q" img check -r leaks leak.qcow2 >/dev/null 2>&1 || fail "repair leaks"
qemu-img check leak.qcow2 | grep -q "No errors were found" || fail "leak not repaired"
echo "ok leak check and repair"

# --- persistent bitmaps survive a quail write, flagged in-use ---
qemu-img create -q -f qcow2 bm.qcow2 16M
qemu-img bitmap --add bm.qcow2 b0
qemu-io -c "write -P 1 0 64k" bm.qcow2 >/dev/null
"$Q" img check bm.qcow2 | grep -q "No errors were found" || fail "quail check with bitmaps"
"$Q" img io bm.qcow2 -c "write -P 2 1M 64k" >/dev/null
qemu-img check bm.qcow2 | grep -q "No errors were found" || fail "qemu-img check after writing an image with bitmaps"
qemu-img info --output=json bm.qcow2 | python3 -c "
import json,sys; b=json.load(sys.stdin)['format-specific']['data']['bitmaps']
assert b[0]['name']=='b0' and 'in-use' not in b[0]['flags'], b" || fail "bitmap lost or left in-use"
echo "ok bitmaps kept (stored back consistent on close)"

# --- internal snapshots: listed like qemu-img, kept intact by quail's writes ---
qemu-img create -q -f qcow2 sn.qcow2 16M
qemu-io -c "write -P 1 0 1M" sn.qcow2 >/dev/null
qemu-img snapshot -c s1 sn.qcow2
qemu-io -c "write -P 2 512k 1M" sn.qcow2 >/dev/null
qemu-img snapshot -c "second snap" sn.qcow2
[ "$("$Q" img info sn.qcow2)" = "$(qemu-img info sn.qcow2)" ] || fail "snapshot list differs"
"$Q" img io sn.qcow2 -c "write -P 5 700k 1M" -c "discard 0 256k" -c "write -z 8M 1M" -c "write -P 6 9M 64k" >/dev/null
qemu-img check sn.qcow2 | grep -q "No errors were found" || fail "check after writing a snapshotted image"
qemu-img convert -l snapshot.name=s1 sn.qcow2 s1.raw
qemu-img convert -l "snapshot.name=second snap" sn.qcow2 s2.raw
qemu-io -f raw -r -c "read -P 1 0 1M" -c "read -P 0 1M 15M" s1.raw | grep -q "verification failed" && fail "snapshot s1 changed"
qemu-io -f raw -r -c "read -P 1 0 512k" -c "read -P 2 512k 1M" -c "read -P 0 1536k 14848k" s2.raw \
    | grep -q "verification failed" && fail "second snapshot changed"
qemu-io -r -c "read -P 0 0 256k" -c "read -P 1 256k 256k" -c "read -P 2 512k 188k" -c "read -P 5 700k 1M" \
    -c "read -P 0 1724k 100k" -c "read -P 6 9M 64k" -c "read -P 0 8M 1M" sn.qcow2 \
    | grep -q "verification failed" && fail "active layer after writes"
qemu-img snapshot -d s1 sn.qcow2
"$Q" img check sn.qcow2 | grep -q "No errors were found" || fail "quail check after snapshot delete"
echo "ok internal snapshots"

# --- convert round trips ---
"$Q" img convert -O raw top.qcow2 rt.raw
"$Q" img convert -f raw -O qcow2 rt.raw rt.qcow2
"$Q" img convert -O qcow2 -o cluster_size=16384 zstd.qcow2 rt2.qcow2
qemu-img compare top.raw rt.raw >/dev/null || fail "convert to raw"
qemu-img compare top.raw rt.qcow2 >/dev/null || fail "convert raw to qcow2"
qemu-img compare top.raw rt2.qcow2 >/dev/null || fail "convert zstd to qcow2"
qemu-img check rt.qcow2 | grep -q "No errors were found" || fail "check converted"
[ "$(stat -c %b rt.raw)" -lt "$(( 16 * 2048 ))" ] || fail "converted raw is not sparse"
"$Q" img compare rt.raw rt2.qcow2 >/dev/null || fail "quail compare"
"$Q" img io -f raw rt.raw -c "write -P 9 5M 1" >/dev/null
out=$("$Q" img compare rt.raw rt2.qcow2) && fail "compare missed a difference"
[ "$out" = "Content mismatch at offset 5242880!" ] || fail "compare output: $out"
for o in "" "-o compression_type=zstd" "-o cluster_size=4096"; do
    rm -f qc.qcow2
    "$Q" img convert -c -O qcow2 $o top.raw qc.qcow2
    qemu-img check qc.qcow2 | grep -q "No errors were found" || fail "check compressed ($o)"
    qemu-img compare top.raw qc.qcow2 >/dev/null || fail "compressed content ($o)"
    # qemu-img's own count: the clusters quail wrote really are compressed.
    qemu-img check qc.qcow2 | grep -E "[0-9.]+% compressed clusters" | grep -vq " 0.00% compressed" ||
        fail "convert -c wrote no compressed clusters ($o)"
    cp top.raw qc.raw
    for f in "qcow2 qc.qcow2" "raw qc.raw"; do
        set -- $f
        "$Q" img io -f "$1" "$2" -c "write -P 0x55 100k 200k" -c "discard 1M 128k" \
            -c "write -z 2M 70k" -c "write -P 0x56 3000k 5k" >/dev/null
    done
    qemu-img check qc.qcow2 | grep -q "No errors were found" || fail "check rewritten compressed ($o)"
    qemu-img compare qc.raw qc.qcow2 >/dev/null || fail "rewritten compressed content ($o)"
done
echo "ok convert round trips (plain and compressed output)"

# --- locking: quail and QEMU refuse to share an image for writing ---
qemu-img create -q -f qcow2 lock.qcow2 16M
mkfifo ctl
qemu-io lock.qcow2 < ctl > qio.out 2>&1 & qpid=$!
exec 9>ctl
echo "write -P 1 0 4k" >&9
for _ in $(seq 300); do grep -q "wrote" qio.out 2>/dev/null && break; sleep 0.1; done
grep -q wrote qio.out || fail "qemu-io did not start"
out=$("$Q" img io lock.qcow2 -c "write -P 2 0 4k" 2>&1) && fail "quail wrote an image qemu-io holds"
echo "$out" | grep -q 'Failed to get "write" lock' || fail "lock message: $out"
out=$("$Q" img info lock.qcow2 2>&1) && fail "quail info of an image in use without -U"
"$Q" img info -U lock.qcow2 >/dev/null || fail "info -U"
echo "quit" >&9; exec 9>&-; wait "$qpid" || true; qpid=
rm ctl; mkfifo ctl
"$Q" img io lock.qcow2 < ctl > qio.out 2>&1 & qpid=$!
exec 9>ctl
echo "write -P 3 0 4k" >&9
echo "wait" >&9
for _ in $(seq 300); do grep -q "waiting" qio.out 2>/dev/null && break; sleep 0.1; done
grep -q waiting qio.out || fail "quail img io did not start"
out=$(qemu-io -c "write -P 4 0 4k" lock.qcow2 2>&1) && fail "qemu-io wrote an image quail holds"
echo "$out" | grep -q 'Failed to get "write" lock' || fail "qemu lock message: $out"
exec 9>&-; wait "$qpid" || fail "quail img io holding the image"; qpid=
qemu-io -c "read -P 3 0 4k" lock.qcow2 | grep -q "read 4096" || fail "data after lock test"
echo "ok locking"

# --- asynchronous I/O through io_uring and through the thread-pool fallback ---
"$Q" img create -q -f qcow2 aio.qcow2 64M
"$Q" img io aio.qcow2 -c "aio-write -P 0x71 0 8M" -c "aio-read -P 0x71 0 8M" >/dev/null
QUAIL_NO_IO_URING=1 "$Q" img io aio.qcow2 -c "aio-write -P 0x72 8M 8M" -c "aio-read -P 0x72 8M 8M" >/dev/null
"$Q" img io --image-opts "driver=qcow2,file.driver=file,file.filename=aio.qcow2,file.aio=threads" \
    -c "aio-write -P 0x73 16M 4M" -c "aio-read -P 0x73 16M 4M" >/dev/null
"$Q" img create -q -f raw aio.raw 64M
"$Q" img io -f raw aio.raw -c "aio-write -P 0x74 0 8M" -c "aio-read -P 0x74 0 8M" >/dev/null
QUAIL_NO_IO_URING=1 "$Q" img io -f raw aio.raw -c "aio-write -P 0x75 1M 3M" -c "aio-read -P 0x75 1M 3M" >/dev/null
"$Q" img create -q -f qcow2 -o cluster_size=512 dio.qcow2 16M
"$Q" img io --image-opts "driver=qcow2,file.driver=file,file.filename=dio.qcow2,file.direct=on" \
    -c "write -P 3 1000 70000" -c "aio-write -P 4 1M 1M" -c "read -P 3 1000 70000" -c "aio-read -P 4 1M 1M" \
    -c "discard 1M 4k" -c "write -z 2M 3000" >/dev/null || fail "O_DIRECT I/O"
qemu-img check dio.qcow2 | grep -q "No errors were found" || fail "check after O_DIRECT"
qemu-io -r -c "read -P 3 1000 70000" -c "read -P 0 1M 4k" -c "read -P 4 1028k 1020k" dio.qcow2 \
    | grep -q "verification failed" && fail "O_DIRECT data"
qemu-img check aio.qcow2 | grep -q "No errors were found" || fail "check after aio"
qemu-io -r -c "read -P 0x71 0 8M" -c "read -P 0x72 8M 8M" -c "read -P 0x73 16M 4M" aio.qcow2 \
    | grep -q "verification failed" && fail "aio data"
echo "ok async I/O (io_uring, thread pool)"

# --- many random writes, zero writes and discards ---
for cs in 65536 512 4096; do
    python3 "$QUAIL_SRC/tests/block/random_io.py" "$Q" "$work" 1 $cs
done
python3 "$QUAIL_SRC/tests/block/random_io.py" "$Q" "$work" 2 65536 0.10
echo "interop: all passed"
