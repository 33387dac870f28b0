/* Bare-metal guest program (M-mode, -bios none): illegal instructions and
 * accesses to unmapped physical addresses must trap into the guest with the
 * right mcause and mtval, and quail must keep running.  Each case sets the
 * expected cause/tval in s2/s3; the trap handler checks them and resumes at
 * the address in s4.  Any mismatch fails with exit code 10 + case number;
 * reaching the end powers off (exit 0) after printing "TRAPS-OK". */
    .option norvc
    .globl _start
_start:
    la t0, handler
    csrw mtvec, t0
    li s1, 0                    /* case number */
    li s5, 0                    /* traps taken */

    /* 1: an all-zero word is an illegal instruction; mtval = the bits (0) */
    li s1, 1
    li s2, 2
    li s3, 0
    la s4, 1f
    .word 0
1:
    /* 2: a reserved major opcode, mtval = its encoding */
    li s1, 2
    li s2, 2
    li s3, 0xffffffff
    la s4, 1f
    .word 0xffffffff
1:
    /* 3: load from an unmapped physical address: load access fault */
    li s1, 3
    li s2, 5
    li s3, 0x8
    la s4, 1f
    ld t1, 8(zero)
1:
    /* 4: store to unmapped physical memory far above RAM */
    li s1, 4
    li s2, 7
    li s3, 0x1000000000
    la s4, 1f
    li t2, 0x1000000000
    sd t1, 0(t2)
1:
    /* 5: AMO on unmapped memory */
    li s1, 5
    li s2, 7
    li s3, 0x20000000
    la s4, 1f
    li t2, 0x20000000
    amoadd.w t1, t1, (t2)
1:
    /* 6: instruction fetch from unmapped memory: mtval = the target */
    li s1, 6
    li s2, 1
    li s3, 0x50000000
    la s4, 1f
    li t2, 0x50000000
    jr t2
1:
    /* 7: misaligned LR: load address misaligned */
    li s1, 7
    li s2, 4
    la s4, 1f
    la t2, scratch
    addi t2, t2, 1
    mv s3, t2
    lr.d t1, (t2)
1:
    li t0, 7
    bne s5, t0, fail_count

    la t0, msg
    li t1, 0x10000000
2:  lbu t2, 0(t0)
    beqz t2, 3f
    sb t2, 0(t1)
    addi t0, t0, 1
    j 2b
3:  li t1, 0x100000
    li t2, 0x5555
    sw t2, 0(t1)
4:  j 4b

fail_count:
    li s1, 90
fail:
    li t1, 0x100000
    addi t2, s1, 10
    slli t2, t2, 16
    li t3, 0x3333
    or t2, t2, t3
    sw t2, 0(t1)
5:  j 5b

    .align 4
handler:
    csrr t0, mcause
    bne t0, s2, fail
    csrr t0, mtval
    bne t0, s3, fail
    addi s5, s5, 1
    csrw mepc, s4
    mret

    .data
msg: .asciz "TRAPS-OK\n"
    .align 3
scratch: .dword 0, 0
