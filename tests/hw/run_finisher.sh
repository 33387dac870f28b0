#!/usr/bin/env bash
# Power control end to end with a bare-metal Image run by `quail run -bios
# none` (entered in M-mode at DRAM base): it prints R and asks the test
# finisher for a reset; after the reset (RAM outside the images survives, as
# under QEMU) it prints F and fails with exit code 42.  With -no-reboot the
# reset request ends quail with status 0 instead.
set -u
Q=${QUAIL:?QUAIL not set}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

cat >"$T/fin.S" <<'ASM'
    .globl _start
_start:
    j real_start
    .word 0
    .dword 0x200000             /* text_offset */
    .dword 0x10000              /* image_size */
    .dword 0                    /* flags */
    .word 2, 0                  /* version 0.2, res1 */
    .dword 0                    /* res2 */
    .ascii "RISCV\0\0\0"
    .ascii "RSC\x05"
    .word 0
real_start:
    li t0, 0x80100000           /* flag word beyond the image */
    li t2, 0x100000             /* sifive_test */
    li t3, 0x10000000           /* uart THR */
    lw t1, 0(t0)
    bnez t1, second
    li t1, 1
    sw t1, 0(t0)
    li t1, 'R'
    sb t1, 0(t3)
    li t1, 0x7777
    sw t1, 0(t2)
1:  j 1b
second:
    li t1, 'F'
    sb t1, 0(t3)
    li t1, (42 << 16) | 0x3333
    sw t1, 0(t2)
2:  j 2b
ASM
riscv64-linux-gnu-as -march=rv64i -o "$T/fin.o" "$T/fin.S" &&
riscv64-linux-gnu-ld --no-warn-rwx-segments -N -Ttext=0x80000000 -o "$T/fin.elf" "$T/fin.o" &&
riscv64-linux-gnu-objcopy -O binary "$T/fin.elf" "$T/fin.Image" || { echo "cannot assemble"; exit 1; }

fail=0
timeout 60 "$Q" run -M virt -bios none -kernel "$T/fin.Image" -serial file:"$T/out1" \
    -display none </dev/null
rc=$?
out=$(cat "$T/out1")
if [ $rc -eq 42 ] && [ "$out" = "RF" ]; then echo "ok: reset then fail(42), serial '$out'"
else echo "FAIL: expected rc=42 and serial RF, got rc=$rc serial '$out'"; fail=1; fi

timeout 60 "$Q" run -M virt -bios none -kernel "$T/fin.Image" -serial file:"$T/out2" \
    -no-reboot </dev/null
rc=$?
out=$(cat "$T/out2")
if [ $rc -eq 0 ] && [ "$out" = "R" ]; then echo "ok: -no-reboot exits 0 on reset"
else echo "FAIL: -no-reboot: expected rc=0 and serial R, got rc=$rc serial '$out'"; fail=1; fi

# the ELF of the same program boots too (loaded at its physical address)
timeout 60 "$Q" run -M virt -bios none -kernel "$T/fin.elf" -serial none </dev/null
rc=$?
if [ $rc -eq 42 ]; then echo "ok: ELF kernel"
else echo "FAIL: ELF kernel: rc=$rc"; fail=1; fi
exit $fail
