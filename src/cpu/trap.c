/* Trap entry (exceptions and interrupts, with delegation) and trap return. */
#include "cpu/cpu_internal.h"

void riscv_set_priv(RiscvCpu *cpu, unsigned priv)
{
    cpu->priv = priv;
    riscv_update_ctx(cpu);
}

void riscv_raise_exception(RiscvCpu *cpu, uint64_t cause, uint64_t tval)
{
    cpu->exc_pending = true;
    cpu->exc_cause = cause;
    cpu->exc_tval = tval;
}

static void enter_trap(RiscvCpu *cpu, uint64_t cause, uint64_t tval, bool irq)
{
    uint64_t deleg = irq ? cpu->mideleg : cpu->medeleg;
    uint64_t mcause = cause | (irq ? 1ULL << 63 : 0);
    uint64_t s = cpu->mstatus;
    /* Any trap ends the LR reservation. */
    cpu->lr_addr = UINT64_MAX;
    if (cpu->priv <= PRV_S && cause < 64 && ((deleg >> cause) & 1)) {
        cpu->scause = mcause;
        cpu->sepc = cpu->pc;
        cpu->stval = tval;
        s &= ~(MSTATUS_SPIE | MSTATUS_SPP);
        if (s & MSTATUS_SIE)
            s |= MSTATUS_SPIE;
        if (cpu->priv == PRV_S)
            s |= MSTATUS_SPP;
        s &= ~MSTATUS_SIE;
        cpu->mstatus = s;
        uint64_t base = cpu->stvec & ~3ULL;
        cpu->pc = (irq && (cpu->stvec & 1)) ? base + 4 * cause : base;
        riscv_set_priv(cpu, PRV_S);
    } else {
        cpu->mcause = mcause;
        cpu->mepc = cpu->pc;
        cpu->mtval = tval;
        s &= ~(MSTATUS_MPIE | MSTATUS_MPP);
        if (s & MSTATUS_MIE)
            s |= MSTATUS_MPIE;
        s |= (uint64_t)cpu->priv << 11;
        s &= ~MSTATUS_MIE;
        cpu->mstatus = s;
        uint64_t base = cpu->mtvec & ~3ULL;
        cpu->pc = (irq && (cpu->mtvec & 1)) ? base + 4 * cause : base;
        riscv_set_priv(cpu, PRV_M);
    }
}

void riscv_take_exception(RiscvCpu *cpu)
{
    cpu->exc_pending = false;
    enter_trap(cpu, cpu->exc_cause, cpu->exc_tval, false);
}

/* Priority order from the privileged spec: MEI, MSI, MTI, SEI, SSI, STI. */
static const int irq_order[] = { IRQ_MEI, IRQ_MSI, IRQ_MTI, IRQ_SEI, IRQ_SSI, IRQ_STI };

bool riscv_check_interrupts(RiscvCpu *cpu)
{
    uint64_t pending = riscv_pending_irqs(cpu);
    if (likely(pending == 0))
        return false;
    uint64_t m = pending & ~cpu->mideleg;
    uint64_t s = pending & cpu->mideleg;
    bool m_on = cpu->priv < PRV_M || (cpu->mstatus & MSTATUS_MIE);
    bool s_on = cpu->priv < PRV_S || (cpu->priv == PRV_S && (cpu->mstatus & MSTATUS_SIE));
    uint64_t take = m_on ? m : 0;
    if (!take)
        take = s_on ? s : 0;
    if (!take)
        return false;
    for (unsigned i = 0; i < sizeof(irq_order) / sizeof(irq_order[0]); i++) {
        if (take & (1ULL << irq_order[i])) {
            cpu->virt_wfi = false;
            enter_trap(cpu, (uint64_t)irq_order[i], 0, true);
            return true;
        }
    }
    return false;
}

int riscv_mret(RiscvCpu *cpu)
{
    if (cpu->priv != PRV_M) {
        riscv_raise_exception(cpu, EXC_ILLEGAL_INSN, 0x30200073);
        return -1;
    }
    uint64_t s = cpu->mstatus;
    unsigned mpp = (unsigned)((s & MSTATUS_MPP) >> 11);
    s &= ~(MSTATUS_MIE | MSTATUS_MPP);
    if (s & MSTATUS_MPIE)
        s |= MSTATUS_MIE;
    s |= MSTATUS_MPIE;
    if (mpp != PRV_M)
        s &= ~MSTATUS_MPRV;
    cpu->mstatus = s;
    cpu->pc = cpu->mepc;
    riscv_set_priv(cpu, mpp);
    cpu->break_loop = true;
    return 0;
}

int riscv_sret(RiscvCpu *cpu)
{
    if (cpu->priv == PRV_U || (cpu->priv == PRV_S && (cpu->mstatus & MSTATUS_TSR))) {
        riscv_raise_exception(cpu, EXC_ILLEGAL_INSN, 0x10200073);
        return -1;
    }
    uint64_t s = cpu->mstatus;
    unsigned spp = (s & MSTATUS_SPP) ? PRV_S : PRV_U;
    s &= ~(MSTATUS_SIE | MSTATUS_SPP | MSTATUS_MPRV);
    if (s & MSTATUS_SPIE)
        s |= MSTATUS_SIE;
    s |= MSTATUS_SPIE;
    cpu->mstatus = s;
    cpu->pc = cpu->sepc;
    riscv_set_priv(cpu, spp);
    cpu->break_loop = true;
    return 0;
}
