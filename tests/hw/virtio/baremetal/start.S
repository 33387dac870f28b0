/* Entry at DRAM base in M-mode (quail -bios none): a stack, a zeroed .bss,
 * a trap handler that reports and fails, then main(). */
    .section .text.start, "ax"
    .globl _start
_start:
    la sp, __stack_top
    la t0, trap
    csrw mtvec, t0
    la t0, __bss_start
    la t1, __bss_end
1:  bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:  call main
3:  j 3b

    .align 4
trap:
    csrr a0, mcause
    csrr a1, mepc
    csrr a2, mtval
    call trap_report
4:  j 4b
