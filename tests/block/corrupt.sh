#!/usr/bin/env bash
# Damaged qcow2 headers: quail must refuse each with a clear message and leave
# the file byte-identical, even when asked to write.  A data cluster pointer
# into metadata found at run time marks the image corrupt (as QEMU does) and
# writes are refused afterwards.
set -euo pipefail
Q=${QUAIL:?}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }

qemu-img create -q -f qcow2 good.qcow2 16M
qemu-io -c "write -P 0x5a 0 128k" good.qcow2 >/dev/null

# poke FILE OFFSET STRUCT VALUE: overwrite a big-endian header field
poke() { python3 -c "
import struct,sys
f=open(sys.argv[1],'r+b'); f.seek(int(sys.argv[2])); f.write(struct.pack(sys.argv[3],eval(sys.argv[4],{})))" "$@"; }

expect_refused() {  # name file expected-message-regex
    local name=$1 f=$2 re=$3 sum
    sum=$(sha256sum "$f" | cut -d' ' -f1)
    for cmd in "info" "check" "io -c flush" "io -c 'write -P 1 0 4k'" "resize $f 32M"; do
        local out rc=0
        case $cmd in
            resize*) out=$("$Q" img resize -f qcow2 "$f" 32M 2>&1) || rc=$? ;;
            "io -c flush") out=$("$Q" img io -f qcow2 -c flush "$f" 2>&1) || rc=$? ;;
            io*) out=$("$Q" img io -f qcow2 -c "write -P 1 0 4k" "$f" 2>&1) || rc=$? ;;
            *) out=$("$Q" img $cmd -f qcow2 "$f" 2>&1) || rc=$? ;;
        esac
        [ $rc -ne 0 ] || fail "$name: '$cmd' succeeded"
        echo "$out" | grep -Eq "$re" || fail "$name: '$cmd' said: $out"
    done
    [ "$(sha256sum "$f" | cut -d' ' -f1)" = "$sum" ] || fail "$name: file was modified"
    echo "ok $name"
}

cp good.qcow2 t1.qcow2; truncate -s 60 t1.qcow2
expect_refused "truncated header" t1.qcow2 "header truncated"

cp good.qcow2 t2.qcow2; poke t2.qcow2 40 '>Q' $((1 << 40))
expect_refused "L1 past EOF" t2.qcow2 "L1 table.*beyond the end"

cp good.qcow2 t3.qcow2; poke t3.qcow2 48 '>Q' 0
expect_refused "refcount table over header" t3.qcow2 "Reference count table overlaps the image header"

cp good.qcow2 t4.qcow2; poke t4.qcow2 36 '>I' 0x7fffffff
expect_refused "huge l1_size" t4.qcow2 "L1 table too large"

cp good.qcow2 t5.qcow2; poke t5.qcow2 20 '>I' 30
expect_refused "cluster_bits 30" t5.qcow2 "Unsupported cluster size: 2\^30"

cp good.qcow2 t6.qcow2; poke t6.qcow2 20 '>I' 8
expect_refused "cluster_bits 8" t6.qcow2 "Unsupported cluster size: 2\^8"

cp good.qcow2 t7.qcow2; poke t7.qcow2 72 '>Q' $((1 << 20))
expect_refused "unknown incompatible feature" t7.qcow2 "Unsupported qcow2 feature.*Unknown incompatible feature: 100000"

cp good.qcow2 t8.qcow2; poke t8.qcow2 72 '>Q' 16
expect_refused "extended L2" t8.qcow2 "extended L2"

cp good.qcow2 t9.qcow2; poke t9.qcow2 56 '>I' 100000000
expect_refused "huge refcount table" t9.qcow2 "Reference count table too large"

cp good.qcow2 t10.qcow2; poke t10.qcow2 4 '>I' 4
expect_refused "version 4" t10.qcow2 "Unsupported qcow2 version 4"

cp good.qcow2 t11.qcow2; poke t11.qcow2 40 '>Q' 4097
expect_refused "unaligned L1" t11.qcow2 "not cluster aligned"

# Corrupt bit: readable, never writable.
cp good.qcow2 t12.qcow2; poke t12.qcow2 72 '>Q' 2
sum=$(sha256sum t12.qcow2)
"$Q" img info --output=json t12.qcow2 | grep -q '"corrupt": true' || fail "corrupt bit not reported"
"$Q" img io -r -f qcow2 -c "read -P 0x5a 0 128k" t12.qcow2 >/dev/null || fail "read of corrupt-marked image"
out=$("$Q" img io -f qcow2 -c "write -P 1 0 4k" t12.qcow2 2>&1) && fail "write to corrupt-marked image"
echo "$out" | grep -q "Image is corrupt; cannot be opened read/write" || fail "corrupt-bit message: $out"
[ "$(sha256sum t12.qcow2)" = "$sum" ] || fail "corrupt-marked image modified"
echo "ok corrupt bit"

# Runtime: make the first L2 entry point at the refcount table.
cp good.qcow2 rt.qcow2
l2=$(python3 -c "
import struct
d=open('rt.qcow2','rb').read()
l1=struct.unpack('>Q',d[40:48])[0]
print(struct.unpack('>Q',d[l1:l1+8])[0] & 0x00fffffffffffe00)")
rt=$(python3 -c "
import struct; d=open('rt.qcow2','rb').read(); print(struct.unpack('>Q',d[48:56])[0])")
poke rt.qcow2 "$l2" '>Q' "(1 << 63) | $rt"
out=$("$Q" img io -f qcow2 -c "write -P 1 0 4k" rt.qcow2 2>&1) && fail "write into metadata succeeded"
echo "$out" | grep -q "overlaps metadata" || fail "runtime corruption message: $out"
qemu-img info --output=json rt.qcow2 | grep -q '"corrupt": true' || fail "corrupt bit not set"
out=$("$Q" img io -f qcow2 -c "write -P 1 1M 4k" rt.qcow2 2>&1) && fail "write to a corrupt image succeeded"
echo "$out" | grep -q "corrupt" || fail "corrupt image open message: $out"
"$Q" img io -r -f qcow2 -c "read -P 0 1M 4k" rt.qcow2 >/dev/null || fail "read-only open of a corrupt image"
echo "ok runtime corruption"

# Refcount table entry pointing at the L1 table: allocation must not write there.
cp good.qcow2 rb.qcow2
l1off=$(python3 -c "
import struct; d=open('rb.qcow2','rb').read(); print(struct.unpack('>Q',d[40:48])[0])")
poke rb.qcow2 "$rt" '>Q' "$l1off"
l1sum=$(python3 -c "
import hashlib; d=open('rb.qcow2','rb').read(); print(hashlib.sha256(d[$l1off:$l1off+512]).hexdigest())")
out=$("$Q" img io -f qcow2 -c "write -P 1 8M 4k" rb.qcow2 2>&1) && fail "allocation through a bad refcount block"
echo "$out" | grep -q "Refblock offset.*overlaps metadata" || fail "refblock message: $out"
[ "$(python3 -c "
import hashlib; d=open('rb.qcow2','rb').read(); print(hashlib.sha256(d[$l1off:$l1off+512]).hexdigest())")" = "$l1sum" ] \
    || fail "L1 table overwritten through a bad refcount block"
echo "ok refcount block over metadata"

# Refcounts claiming the L2 table is free: the allocator must not hand it out.
cp good.qcow2 fr.qcow2
python3 -c "
import struct
f=open('fr.qcow2','r+b'); d=f.read()
l1=struct.unpack('>Q',d[40:48])[0]; l2=struct.unpack('>Q',d[l1:l1+8])[0] & 0x00fffffffffffe00
rt=struct.unpack('>Q',d[48:56])[0]; rb=struct.unpack('>Q',d[rt:rt+8])[0]
f.seek(rb + 2*(l2 >> 16)); f.write(struct.pack('>H',0))"
l2sum=$(python3 -c "
import hashlib,struct; d=open('fr.qcow2','rb').read(); l1=struct.unpack('>Q',d[40:48])[0]
l2=struct.unpack('>Q',d[l1:l1+8])[0] & 0x00fffffffffffe00; print(hashlib.sha256(d[l2:l2+65536]).hexdigest())")
"$Q" img io -f qcow2 -c "write -P 7 8M 64k" fr.qcow2 >/dev/null 2>&1 || true
[ "$(python3 -c "
import hashlib,struct; d=open('fr.qcow2','rb').read(); l1=struct.unpack('>Q',d[40:48])[0]
l2=struct.unpack('>Q',d[l1:l1+8])[0] & 0x00fffffffffffe00; print(hashlib.sha256(d[l2:l2+65536]).hexdigest())")" = "$l2sum" ] \
    || fail "L2 table overwritten after its refcount was zeroed"
echo "ok allocation never lands on metadata"

# Backing chains that loop back are refused with a clear message.
qemu-img create -q -f qcow2 -u -b loop2.qcow2 -F qcow2 loop1.qcow2 1M
qemu-img create -q -f qcow2 -u -b loop1.qcow2 -F qcow2 loop2.qcow2 1M
out=$("$Q" img io -r loop1.qcow2 -c "read 0 512" 2>&1) && fail "opened a looping chain"
echo "$out" | grep -q "Backing file 'loop1.qcow2' creates an infinite loop" || fail "loop message: $out"
out=$("$Q" img info --backing-chain loop1.qcow2 2>&1) && fail "info of a looping chain"
echo "$out" | grep -q "creates an infinite loop" || fail "info loop message: $out"
echo "ok backing loops"

# L2 entry pointing past EOF: reads fail cleanly.
cp good.qcow2 eof.qcow2
poke eof.qcow2 "$l2" '>Q' "(1 << 63) | (1 << 40)"
out=$("$Q" img io -r -f qcow2 -c "read 0 4k" eof.qcow2 2>&1) && fail "read past EOF succeeded"
echo "$out" | grep -q "beyond the end of the image" || fail "past-EOF message: $out"
echo "ok data cluster past EOF"
echo "corrupt: all passed"
