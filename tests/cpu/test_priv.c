/* Privileged architecture: CSR access rules and WARL fields, traps and
 * delegation, trap return, interrupts (priority, enables, delegation, timer)
 * and WFI. */
#include "cpu_test.h"

#include <pthread.h>
#include <unistd.h>

#include "cpu/cpu_internal.h"
#include "util/clock.h"

enum {
    C_SSTATUS = 0x100, C_SIE = 0x104, C_SCOUNTEREN = 0x106, C_SEPC = 0x141, C_SIP = 0x144,
    C_SATP = 0x180, C_STIMECMP = 0x14d, C_MSTATUS = 0x300, C_MISA = 0x301, C_MEDELEG = 0x302,
    C_MIDELEG = 0x303, C_MIE = 0x304, C_MTVEC = 0x305, C_MCOUNTEREN = 0x306, C_MIP = 0x344,
    C_MHARTID = 0xf14, C_CYCLE = 0xc00, C_TIME = 0xc01, C_INSTRET = 0xc02, C_MINSTRET = 0xb02,
    C_PMPCFG0 = 0x3a0, C_PMPCFG1 = 0x3a1, C_PMPADDR0 = 0x3b0, C_PMPADDR16 = 0x3c0,
    C_TSELECT = 0x7a0, C_MHPMCOUNTER3 = 0xb03, C_HPMCOUNTER3 = 0xc03, C_MVENDORID = 0xf11,
};

/* Drops from M to priv at pc via mret. */
static void enter(T *t, unsigned priv, uint64_t pc)
{
    riscv_set_priv(&t->cpu, PRV_M);
    t->cpu.mstatus = (t->cpu.mstatus & ~MSTATUS_MPP) | ((uint64_t)priv << 11);
    t->cpu.mepc = pc;
    t_w32(t, DATA - 4, MRET);
    t->cpu.pc = DATA - 4;
    assert_int_equal(riscv_cpu_step(&t->cpu, 1), 1);
    assert_int_equal(t->cpu.priv, priv);
    assert_int_equal(t->cpu.pc, pc);
}

/* Executes one instruction at CODE in the given privilege. */
static void exec_as(T *t, unsigned priv, uint32_t insn)
{
    t_w32(t, CODE, insn);
    enter(t, priv, CODE);
    assert_int_equal(riscv_cpu_step(&t->cpu, 1), 1);
}

static void csr_access_rules(void **state)
{
    T *t = t_new();
    uint32_t rd_mstatus = CSRRS(5, C_MSTATUS, 0);
    exec_as(t, PRV_S, rd_mstatus);
    assert_trap(t, EXC_ILLEGAL_INSN, rd_mstatus);
    assert_int_equal((t->cpu.mstatus & MSTATUS_MPP) >> 11, PRV_S);

    exec_as(t, PRV_S, CSRRS(5, C_SSTATUS, 0));
    assert_int_equal(t->cpu.pc, CODE + 4);
    exec_as(t, PRV_U, CSRRS(5, C_SSTATUS, 0));
    assert_trap(t, EXC_ILLEGAL_INSN, CSRRS(5, C_SSTATUS, 0));

    /* Read-only CSRs: writing traps, reading with csrrs x0 does not. */
    exec1(t, CSRRW(5, C_MHARTID, 1));
    assert_trap(t, EXC_ILLEGAL_INSN, CSRRW(5, C_MHARTID, 1));
    exec1(t, CSRRS(5, C_MHARTID, 0));
    assert_int_equal(t->cpu.pc, CODE + 4);
    assert_int_equal(t->cpu.x[5], 0);
    exec1(t, CSRRS(5, C_MVENDORID, 0));
    assert_int_equal(t->cpu.pc, CODE + 4);

    /* Unimplemented CSRs trap (OpenSBI probes this way); Sstc is not offered. */
    const unsigned missing[] = { C_STIMECMP, C_TSELECT, C_PMPCFG1, C_PMPADDR16, 0x7b0, 0x5a8 };
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        exec1(t, CSRRS(5, missing[i], 0));
        assert_trap(t, EXC_ILLEGAL_INSN, CSRRS(5, missing[i], 0));
    }
    exec1(t, CSRRS(5, C_MHPMCOUNTER3, 0));
    assert_int_equal(t->cpu.pc, CODE + 4);
    assert_int_equal(t->cpu.x[5], 0);

    exec1(t, CSRRS(5, C_MISA, 0));
    assert_int_equal(t->cpu.x[5], 0x800000000014112dULL);

    /* satp under TVM */
    t->cpu.mstatus |= MSTATUS_TVM;
    exec_as(t, PRV_S, CSRRS(5, C_SATP, 0));
    assert_trap(t, EXC_ILLEGAL_INSN, CSRRS(5, C_SATP, 0));
    exec_as(t, PRV_S, SFENCE_VMA);
    assert_trap(t, EXC_ILLEGAL_INSN, SFENCE_VMA);
    t->cpu.mstatus &= ~MSTATUS_TVM;
    exec_as(t, PRV_S, CSRRS(5, C_SATP, 0));
    assert_int_equal(t->cpu.pc, CODE + 4);
    t_free(t);
}

static void counter_gating(void **state)
{
    T *t = t_new();
    const unsigned ctrs[] = { C_CYCLE, C_TIME, C_INSTRET, C_HPMCOUNTER3 };
    for (size_t i = 0; i < 4; i++) {
        unsigned bit = ctrs[i] & 31;
        uint32_t insn = CSRRS(5, ctrs[i], 0);
        t->cpu.mcounteren = 0;
        t->cpu.scounteren = ~0ULL;
        exec_as(t, PRV_S, insn);
        assert_trap(t, EXC_ILLEGAL_INSN, insn);
        t->cpu.mcounteren = 1ULL << bit;
        exec_as(t, PRV_S, insn);
        assert_int_equal(t->cpu.pc, CODE + 4);
        t->cpu.scounteren = 0;
        exec_as(t, PRV_U, insn);
        assert_trap(t, EXC_ILLEGAL_INSN, insn);
        t->cpu.scounteren = 1ULL << bit;
        exec_as(t, PRV_U, insn);
        assert_int_equal(t->cpu.pc, CODE + 4);
    }
    /* instret counts retired instructions and is writable through minstret */
    riscv_set_priv(&t->cpu, PRV_M);
    exec1(t, CSRRW(0, C_MINSTRET, 0));
    t->at = CODE;
    t->cpu.pc = CODE;
    for (int i = 0; i < 10; i++)
        emit(t, ADDI(6, 6, 1));
    emit(t, CSRRS(5, C_INSTRET, 0));
    riscv_cpu_step(&t->cpu, 11);
    assert_int_equal(t->cpu.x[5], 10);
    /* time follows the machine clock */
    uint64_t before = clock_mtime();
    exec1(t, CSRRS(5, C_TIME, 0));
    assert_true(t->cpu.x[5] >= before && t->cpu.x[5] <= clock_mtime());
    t_free(t);
}

static void warl_fields(void **state)
{
    T *t = t_new();
    t->cpu.x[1] = ~0ULL;
    exec1(t, CSRRW(0, C_MSTATUS, 1));
    exec1(t, CSRRS(5, C_MSTATUS, 0));
    assert_int_equal(t->cpu.x[5], 0x8000000a007e79aaULL);
    exec1(t, CSRRS(5, C_SSTATUS, 0));
    assert_int_equal(t->cpu.x[5], 0x80000002000c6122ULL);
    /* MPP=2 is not a privilege level: the old value stays */
    t->cpu.x[1] = 2ULL << 11;
    exec1(t, CSRRW(0, C_MSTATUS, 1));
    assert_int_equal((t->cpu.mstatus & MSTATUS_MPP) >> 11, PRV_M);

    t->cpu.x[1] = 0x80000003;
    exec1(t, CSRRW(5, C_MTVEC, 1));
    assert_int_equal(t->cpu.mtvec, 0x80000001);
    t->cpu.mtvec = TRAP;

    t->cpu.x[1] = ~0ULL;
    exec1(t, CSRRW(0, C_MEDELEG, 1));
    assert_int_equal(t->cpu.medeleg & (1ULL << EXC_ECALL_M), 0);
    assert_true(t->cpu.medeleg & (1ULL << EXC_ECALL_U));
    exec1(t, CSRRW(0, C_MIDELEG, 1));
    assert_int_equal(t->cpu.mideleg, MIP_SSIP | MIP_STIP | MIP_SEIP);
    exec1(t, CSRRW(0, C_MIE, 1));
    assert_int_equal(t->cpu.mie, 0xaaa);
    /* mip: only the S bits are writable from software */
    exec1(t, CSRRW(0, C_MIP, 1));
    exec1(t, CSRRS(5, C_MIP, 0));
    assert_int_equal(t->cpu.x[5] & ~(uint64_t)(MIP_MTIP), MIP_SSIP | MIP_STIP | MIP_SEIP);
    /* sip: SSIP only (and only delegated bits are visible) */
    t->cpu.x[1] = 0;
    exec1(t, CSRRW(0, C_MIP, 1));
    t->cpu.mideleg = MIP_SSIP;
    t->cpu.x[1] = ~0ULL;
    exec1(t, CSRRW(0, C_SIP, 1));
    assert_int_equal(atomic_load(&t->cpu.mip), MIP_SSIP);
    exec1(t, CSRRS(5, C_SIE, 0));
    assert_int_equal(t->cpu.x[5], MIP_SSIP);

    /* satp: unsupported modes leave it unchanged */
    t->cpu.x[1] = (8ULL << 60) | 0x80001;
    exec1(t, CSRRW(0, C_SATP, 1));
    assert_int_equal(t->cpu.satp, (8ULL << 60) | 0x80001);
    t->cpu.x[1] = (10ULL << 60) | 0x80002;
    exec1(t, CSRRW(0, C_SATP, 1));
    assert_int_equal(t->cpu.satp, (8ULL << 60) | 0x80001);
    t->cpu.x[1] = ~0ULL;

    /* PMP: 54-bit addresses, locked entries ignore writes, R=0/W=1 is reserved */
    exec1(t, CSRRW(0, C_PMPADDR0, 1));
    exec1(t, CSRRS(5, C_PMPADDR0, 0));
    assert_int_equal(t->cpu.x[5], (1ULL << 54) - 1);
    t->cpu.x[1] = 0x9f02;   /* entry 0: W only (reserved) OFF; entry 1: L NAPOT RWX */
    exec1(t, CSRRW(0, C_PMPCFG0, 1));
    exec1(t, CSRRS(5, C_PMPCFG0, 0));
    assert_int_equal(t->cpu.x[5], 0x9f00);
    t->cpu.x[1] = 0;
    exec1(t, CSRRW(0, C_PMPCFG0, 1));
    exec1(t, CSRRS(5, C_PMPCFG0, 0));
    assert_int_equal(t->cpu.x[5], 0x9f00);
    t->cpu.x[1] = 0x1234;
    exec1(t, CSRRW(0, C_PMPADDR0 + 1, 1));
    assert_int_equal(t->cpu.pmpaddr[1], 0);
    t_free(t);
}

static void traps_and_delegation(void **state)
{
    T *t = t_new();
    /* ecall from U, not delegated: M */
    exec_as(t, PRV_U, ECALL);
    assert_trap(t, EXC_ECALL_U, 0);
    assert_int_equal(t->cpu.mepc, CODE);
    assert_int_equal(t->cpu.priv, PRV_M);
    assert_int_equal((t->cpu.mstatus & MSTATUS_MPP) >> 11, PRV_U);

    /* delegated: S, with SPP/SPIE/SIE updated */
    t->cpu.medeleg = 1ULL << EXC_ECALL_U | 1ULL << EXC_ILLEGAL_INSN;
    t->cpu.mstatus |= MSTATUS_SIE;
    exec_as(t, PRV_U, ECALL);
    assert_int_equal(t->cpu.pc, STRAP);
    assert_int_equal(t->cpu.priv, PRV_S);
    assert_int_equal(t->cpu.scause, EXC_ECALL_U);
    assert_int_equal(t->cpu.sepc, CODE);
    assert_int_equal(t->cpu.stval, 0);
    assert_int_equal(t->cpu.mstatus & (MSTATUS_SPP | MSTATUS_SIE | MSTATUS_SPIE), MSTATUS_SPIE);

    /* ecall from S is not delegated here */
    exec_as(t, PRV_S, ECALL);
    assert_trap(t, EXC_ECALL_S, 0);
    /* illegal instruction in S: delegated, SPP = S */
    exec_as(t, PRV_S, 0xffffffff);
    assert_int_equal(t->cpu.pc, STRAP);
    assert_int_equal(t->cpu.scause, EXC_ILLEGAL_INSN);
    assert_int_equal(t->cpu.stval, 0xffffffff);
    assert_true(t->cpu.mstatus & MSTATUS_SPP);
    /* in M, delegation never applies */
    riscv_set_priv(&t->cpu, PRV_M);
    exec1(t, 0xffffffff);
    assert_trap(t, EXC_ILLEGAL_INSN, 0xffffffff);
    exec1(t, ECALL);
    assert_trap(t, EXC_ECALL_M, 0);
    exec1(t, EBREAK);
    assert_trap(t, EXC_BREAKPOINT, CODE);
    t_free(t);
}

static void trap_returns(void **state)
{
    T *t = t_new();
    /* mret: MIE <- MPIE, MPIE <- 1, MPP <- U, MPRV cleared when leaving M */
    t->cpu.mstatus = MSTATUS_MPIE | MSTATUS_MPRV | (1ULL << 11);
    t->cpu.mepc = DATA;
    exec1(t, MRET);
    assert_int_equal(t->cpu.pc, DATA);
    assert_int_equal(t->cpu.priv, PRV_S);
    assert_int_equal(t->cpu.mstatus, MSTATUS_MIE | MSTATUS_MPIE);
    /* sret from S: SIE <- SPIE, SPIE <- 1, SPP <- U */
    t->cpu.mstatus = MSTATUS_SPIE;
    t->cpu.sepc = DATA + 8;
    exec_as(t, PRV_S, SRET);
    assert_int_equal(t->cpu.pc, DATA + 8);
    assert_int_equal(t->cpu.priv, PRV_U);
    assert_int_equal(t->cpu.mstatus & (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP),
                     MSTATUS_SIE | MSTATUS_SPIE);
    /* illegal cases: sret in U, sret in S with TSR, mret in S, wfi in U, wfi in S with TW */
    exec_as(t, PRV_U, SRET);
    assert_trap(t, EXC_ILLEGAL_INSN, SRET);
    t->cpu.mstatus |= MSTATUS_TSR;
    exec_as(t, PRV_S, SRET);
    assert_trap(t, EXC_ILLEGAL_INSN, SRET);
    t->cpu.mstatus &= ~MSTATUS_TSR;
    exec_as(t, PRV_S, MRET);
    assert_trap(t, EXC_ILLEGAL_INSN, MRET);
    exec_as(t, PRV_U, WFI);
    assert_trap(t, EXC_ILLEGAL_INSN, WFI);
    t->cpu.mstatus |= MSTATUS_TW;
    exec_as(t, PRV_S, WFI);
    assert_trap(t, EXC_ILLEGAL_INSN, WFI);
    t_free(t);
}

static void interrupt_priority(void **state)
{
    T *t = t_new();
    t_w32(t, CODE, ADDI(0, 0, 0));
    t->cpu.mie = 0xaaa;
    t->cpu.mstatus = MSTATUS_MIE;
    riscv_cpu_set_irq(&t->cpu, IRQ_SSI, true);
    riscv_cpu_set_irq(&t->cpu, IRQ_STI, true);
    riscv_cpu_set_irq(&t->cpu, IRQ_SEI, true);
    riscv_cpu_set_irq(&t->cpu, IRQ_MSI, true);
    riscv_cpu_set_irq(&t->cpu, IRQ_MEI, true);
    atomic_store(&t->cpu.mtimecmp, 0);      /* MTIP follows mtime >= mtimecmp */
    const int order[] = { IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI };
    for (int i = 0; i < 6; i++) {
        t->cpu.pc = CODE;
        t->cpu.mstatus = MSTATUS_MIE;
        riscv_cpu_step(&t->cpu, 1);
        assert_int_equal(t->cpu.mcause, (1ULL << 63) | (uint64_t)order[i]);
        assert_int_equal(t->cpu.mepc, CODE);
        assert_int_equal(t->cpu.pc, TRAP);      /* then "j ." at TRAP ran */
        if (order[i] == IRQ_MTI)
            atomic_store(&t->cpu.mtimecmp, UINT64_MAX);
        else
            riscv_cpu_set_irq(&t->cpu, order[i], false);
    }
    assert_int_equal(atomic_load(&t->cpu.mip), 0);
    t_free(t);
}

static void interrupt_enables_and_delegation(void **state)
{
    T *t = t_new();
    t_w32(t, CODE, ADDI(0, 0, 0));
    t_w32(t, CODE + 4, ADDI(0, 0, 0));
    t->cpu.mie = 0xaaa;
    riscv_cpu_set_irq(&t->cpu, IRQ_MSI, true);
    /* M with MIE=0: masked */
    t->cpu.mstatus = 0;
    t->cpu.pc = CODE;
    riscv_cpu_step(&t->cpu, 1);
    assert_int_equal(t->cpu.pc, CODE + 4);
    /* S: M-level interrupts are always enabled below M */
    enter(t, PRV_S, CODE);
    riscv_cpu_step(&t->cpu, 1);
    assert_int_equal(t->cpu.mcause, (1ULL << 63) | IRQ_MSI);
    assert_int_equal(t->cpu.priv, PRV_M);
    riscv_cpu_set_irq(&t->cpu, IRQ_MSI, false);

    /* delegated STI goes to S when SIE=1, stays pending in S when SIE=0 */
    t->cpu.mideleg = MIP_STIP | MIP_SSIP | MIP_SEIP;
    riscv_cpu_set_irq(&t->cpu, IRQ_STI, true);
    t->cpu.mstatus = 0;
    enter(t, PRV_S, CODE);
    riscv_cpu_step(&t->cpu, 1);
    assert_int_equal(t->cpu.pc, CODE + 4);
    t->cpu.mstatus |= MSTATUS_SIE;
    riscv_cpu_step(&t->cpu, 1);
    assert_int_equal(t->cpu.pc, STRAP);
    assert_int_equal(t->cpu.scause, (1ULL << 63) | IRQ_STI);
    assert_int_equal(t->cpu.sepc, CODE + 4);
    assert_int_equal(t->cpu.priv, PRV_S);
    /* from U, S interrupts are enabled regardless of SIE; in M never taken */
    t->cpu.mstatus = 0;
    enter(t, PRV_U, CODE);
    riscv_cpu_step(&t->cpu, 1);
    assert_int_equal(t->cpu.pc, STRAP);
    t->cpu.mstatus = MSTATUS_MIE | MSTATUS_SIE;
    riscv_set_priv(&t->cpu, PRV_M);
    t->cpu.pc = CODE;
    riscv_cpu_step(&t->cpu, 1);
    assert_int_equal(t->cpu.pc, CODE + 4);
    /* vectored mtvec */
    riscv_cpu_set_irq(&t->cpu, IRQ_STI, false);
    riscv_cpu_set_irq(&t->cpu, IRQ_MEI, true);
    t->cpu.mtvec = TRAP | 1;
    t_w32(t, TRAP + 4 * IRQ_MEI, ADDI(0, 0, 0));
    t->cpu.pc = CODE;
    riscv_cpu_step(&t->cpu, 1);
    assert_int_equal(t->cpu.mepc, CODE);
    assert_int_equal(t->cpu.mcause, (1ULL << 63) | IRQ_MEI);
    assert_int_equal(t->cpu.pc, TRAP + 4 * IRQ_MEI + 4);
    t_free(t);
}

static void *raise_later(void *arg)
{
    T *t = arg;
    usleep(20000);
    riscv_cpu_set_irq(&t->cpu, IRQ_MSI, true);
    return NULL;
}

static void *stop_later(void *arg)
{
    T *t = arg;
    usleep(20000);
    riscv_cpu_request_stop(&t->cpu);
    return NULL;
}

static void wfi_wakeup(void **state)
{
    T *t = t_new();
    pthread_t th;
    /* Wakes on a pending enabled interrupt even with MIE=0; pc moves on. */
    t->cpu.mie = MIP_MSIP;
    assert_int_equal(pthread_create(&th, NULL, raise_later, t), 0);
    exec1(t, WFI);
    assert_int_equal(t->cpu.pc, CODE + 4);
    assert_true(atomic_load(&t->cpu.mip) & MIP_MSIP);
    pthread_join(th, NULL);
    riscv_cpu_set_irq(&t->cpu, IRQ_MSI, false);

    /* Wakes when mtime reaches mtimecmp. */
    t->cpu.mie = MIP_MTIP;
    atomic_store(&t->cpu.mtimecmp, clock_mtime() + TIMEBASE_HZ / 100);
    exec1(t, WFI);
    assert_int_equal(t->cpu.pc, CODE + 4);
    assert_true(clock_mtime() >= atomic_load(&t->cpu.mtimecmp));
    assert_true(atomic_load(&t->cpu.mip) & MIP_MTIP);

    /* A stop request ends the wait too; run() then returns. */
    atomic_store(&t->cpu.mtimecmp, UINT64_MAX);
    t->cpu.mie = 0;
    t_w32(t, CODE, WFI);
    t_w32(t, CODE + 4, JAL(0, -4));
    t->cpu.pc = CODE;
    assert_int_equal(pthread_create(&th, NULL, stop_later, t), 0);
    assert_int_equal(riscv_cpu_run(&t->cpu), 0);
    pthread_join(th, NULL);
    t_free(t);
}

static void *run_hart(void *arg)
{
    T *t = arg;
    riscv_cpu_run(&t->cpu);
    return NULL;
}

/* A hart spinning in riscv_cpu_run() on its own thread takes an interrupt
 * raised from this thread, and stops on request. */
static void irq_while_running(void **state)
{
    T *t = t_new();
    t->at = CODE;
    emit(t, JAL(0, 0));                             /* spin */
    t->at = TRAP + 0x100;
    emit(t, ADDI(5, 5, 1));                         /* count the interrupt */
    emit(t, CSRRC(0, C_MIE, 6));                    /* mask MSI: the line stays high */
    emit(t, MRET);
    t->cpu.mtvec = TRAP + 0x100;
    t->cpu.x[6] = MIP_MSIP;
    t->cpu.mie = MIP_MSIP;
    t->cpu.mstatus = MSTATUS_MIE;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_hart, t), 0);
    usleep(10000);
    riscv_cpu_set_irq(&t->cpu, IRQ_MSI, true);
    for (int i = 0; i < 5000 && __atomic_load_n(&t->cpu.x[5], __ATOMIC_RELAXED) == 0; i++)
        usleep(1000);
    riscv_cpu_request_stop(&t->cpu);
    pthread_join(th, NULL);
    assert_int_equal(t->cpu.x[5], 1);
    assert_int_equal(t->cpu.mcause, (1ULL << 63) | IRQ_MSI);
    assert_int_equal(t->cpu.mepc, CODE);
    assert_int_equal(t->cpu.pc, CODE);              /* back in the spin loop */
    assert_int_equal(t->cpu.mie, 0);
    t_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csr_access_rules),
        cmocka_unit_test(counter_gating),
        cmocka_unit_test(warl_fields),
        cmocka_unit_test(traps_and_delegation),
        cmocka_unit_test(trap_returns),
        cmocka_unit_test(interrupt_priority),
        cmocka_unit_test(interrupt_enables_and_delegation),
        cmocka_unit_test(wfi_wakeup),
        cmocka_unit_test(irq_while_running),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
