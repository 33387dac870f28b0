#!/usr/bin/env bash
# `quail run` rejects bad command lines and unusable images with exactly one
# line on stderr and exit status 1, before any guest code runs.
set -u
Q=${QUAIL:?QUAIL not set}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

expect_error() {   # expect_error PATTERN ARGS...
    local pat=$1; shift
    "$Q" run "$@" </dev/null >"$T/out" 2>"$T/err"
    local rc=$?
    local lines; lines=$(wc -l <"$T/err")
    if [ $rc -ne 1 ] || [ "$lines" -ne 1 ] || ! grep -q -- "$pat" "$T/err"; then
        echo "FAIL: quail run $* -> rc=$rc, stderr:"; cat "$T/err"; fail=1
    else
        echo "ok: $* -> $(cat "$T/err")"
    fi
}

# a minimal valid Image: header + a jump-to-self
python3 - "$T" <<'PY'
import struct, sys
d = sys.argv[1]
hdr = struct.pack('<IIQQQIIQ8s4sI', 0x6f, 0, 0x200000, 0x10000, 0, 2, 0, 0,
                  b'RISCV\0\0\0', b'RSC\x05', 0)
open(d + '/Image', 'wb').write(hdr + b'\0' * (4096 - len(hdr)))
# corrupt: image_size smaller than the file
bad = struct.pack('<IIQQQIIQ8s4sI', 0x6f, 0, 0x200000, 16, 0, 2, 0, 0,
                  b'RISCV\0\0\0', b'RSC\x05', 0)
open(d + '/bad-size.Image', 'wb').write(bad + b'\0' * (4096 - len(bad)))
open(d + '/random', 'wb').write(bytes(range(256)) * 4)
open(d + '/short', 'wb').write(b'RSC')
# a kernel that claims 1 GiB
big = struct.pack('<IIQQQIIQ8s4sI', 0x6f, 0, 0x200000, 1 << 30, 0, 2, 0, 0,
                  b'RISCV\0\0\0', b'RSC\x05', 0)
open(d + '/huge.Image', 'wb').write(big + b'\0' * (4096 - len(big)))
open(d + '/fw.bin', 'wb').write(b'\x6f\0\0\0' * 1024)
PY
head -c $((20 * 1024 * 1024)) /dev/zero >"$T/big-initrd"

FW="-bios $T/fw.bin"
expect_error "unknown option '-foo'" -foo
expect_error "unknown option '--bogus'" -M virt --bogus
expect_error "needs an argument" -kernel
expect_error "invalid -smp" -smp 9
expect_error "invalid memory size" -m lots
expect_error "unsupported machine" -M pc
expect_error "cannot open kernel" $FW -kernel "$T/missing"
expect_error "cannot open firmware" -bios "$T/missing" -kernel "$T/Image"
expect_error "cannot open initrd" $FW -kernel "$T/Image" -initrd "$T/missing"
expect_error "not a RISC-V Linux Image" $FW -kernel "$T/random"
expect_error "not a RISC-V Linux Image" $FW -kernel "$T/short"
expect_error "image_size" $FW -kernel "$T/bad-size.Image"
expect_error "kernel" $FW -m 64M -kernel "$T/huge.Image"
expect_error "initrd" $FW -m 16M -kernel "$T/Image" -initrd "$T/big-initrd"
expect_error "is not a regular file" $FW -kernel "$T"
expect_error "initrd only allowed with -kernel" $FW -initrd "$T/Image"
expect_error "serial" $FW -kernel "$T/Image" -serial file:"$T/no/such/dir/log"

exit $fail
