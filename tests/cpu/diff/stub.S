/* Host side of the riscv64 runner: diff_enter saves the C context and jumps
 * to the trampoline (which loads the program's initial state); the per-program
 * return stub jumps to diff_return, which restores the context and returns
 * from diff_enter. */
    .option norvc
    .text
    .globl diff_enter
diff_enter:
    lla t0, host_ctx
    sd ra, 0(t0)
    sd sp, 8(t0)
    sd gp, 16(t0)
    sd tp, 24(t0)
    sd s0, 32(t0)
    sd s1, 40(t0)
    sd s2, 48(t0)
    sd s3, 56(t0)
    sd s4, 64(t0)
    sd s5, 72(t0)
    sd s6, 80(t0)
    sd s7, 88(t0)
    sd s8, 96(t0)
    sd s9, 104(t0)
    sd s10, 112(t0)
    sd s11, 120(t0)
    fsd fs0, 128(t0)
    fsd fs1, 136(t0)
    fsd fs2, 144(t0)
    fsd fs3, 152(t0)
    fsd fs4, 160(t0)
    fsd fs5, 168(t0)
    fsd fs6, 176(t0)
    fsd fs7, 184(t0)
    fsd fs8, 192(t0)
    fsd fs9, 200(t0)
    fsd fs10, 208(t0)
    fsd fs11, 216(t0)
    jr a0

    .globl diff_return
diff_return:
    lla t0, host_ctx
    ld ra, 0(t0)
    ld sp, 8(t0)
    ld gp, 16(t0)
    ld tp, 24(t0)
    ld s0, 32(t0)
    ld s1, 40(t0)
    ld s2, 48(t0)
    ld s3, 56(t0)
    ld s4, 64(t0)
    ld s5, 72(t0)
    ld s6, 80(t0)
    ld s7, 88(t0)
    ld s8, 96(t0)
    ld s9, 104(t0)
    ld s10, 112(t0)
    ld s11, 120(t0)
    fld fs0, 128(t0)
    fld fs1, 136(t0)
    fld fs2, 144(t0)
    fld fs3, 152(t0)
    fld fs4, 160(t0)
    fld fs5, 168(t0)
    fld fs6, 176(t0)
    fld fs7, 184(t0)
    fld fs8, 192(t0)
    fld fs9, 200(t0)
    fld fs10, 208(t0)
    fld fs11, 216(t0)
    fscsr x0
    ret

    .bss
    .align 4
host_ctx:
    .space 256
    .section .note.GNU-stack,"",@progbits
