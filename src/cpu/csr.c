/* Zicsr: the CSR file with its access rules and WARL behaviour. */
#include "cpu/cpu_internal.h"

#include "util/clock.h"

#define MSTATUS_M_WRITABLE (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | \
    MSTATUS_SPP | MSTATUS_MPP | MSTATUS_FS | MSTATUS_MPRV | MSTATUS_SUM | \
    MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR)
#define SSTATUS_MASK (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_UBE | MSTATUS_SPP | \
    MSTATUS_VS | MSTATUS_FS | MSTATUS_XS | MSTATUS_SUM | MSTATUS_MXR | \
    MSTATUS_UXL | MSTATUS_SD)
#define SSTATUS_WRITABLE (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_FS | \
    MSTATUS_SUM | MSTATUS_MXR)
#define ALL_IRQS (MIP_SSIP | MIP_MSIP | MIP_STIP | MIP_MTIP | MIP_SEIP | MIP_MEIP)
#define S_IRQS (MIP_SSIP | MIP_STIP | MIP_SEIP)
/* Exceptions that may be delegated to S (not ecall from M). */
#define DELEGABLE_EXC 0xb3ffULL

enum {
    CSR_FFLAGS = 0x001, CSR_FRM = 0x002, CSR_FCSR = 0x003,
    CSR_CYCLE = 0xc00, CSR_TIME = 0xc01, CSR_INSTRET = 0xc02,
    CSR_HPMCOUNTER3 = 0xc03, CSR_HPMCOUNTER31 = 0xc1f,
    CSR_SSTATUS = 0x100, CSR_SIE = 0x104, CSR_STVEC = 0x105, CSR_SCOUNTEREN = 0x106,
    CSR_SENVCFG = 0x10a, CSR_SSCRATCH = 0x140, CSR_SEPC = 0x141, CSR_SCAUSE = 0x142,
    CSR_STVAL = 0x143, CSR_SIP = 0x144, CSR_SATP = 0x180,
    CSR_MVENDORID = 0xf11, CSR_MARCHID = 0xf12, CSR_MIMPID = 0xf13, CSR_MHARTID = 0xf14,
    CSR_MCONFIGPTR = 0xf15,
    CSR_MSTATUS = 0x300, CSR_MISA = 0x301, CSR_MEDELEG = 0x302, CSR_MIDELEG = 0x303,
    CSR_MIE = 0x304, CSR_MTVEC = 0x305, CSR_MCOUNTEREN = 0x306, CSR_MENVCFG = 0x30a,
    CSR_MCOUNTINHIBIT = 0x320, CSR_MHPMEVENT3 = 0x323, CSR_MHPMEVENT31 = 0x33f,
    CSR_MSCRATCH = 0x340, CSR_MEPC = 0x341, CSR_MCAUSE = 0x342, CSR_MTVAL = 0x343,
    CSR_MIP = 0x344,
    CSR_PMPCFG0 = 0x3a0, CSR_PMPCFG2 = 0x3a2, CSR_PMPADDR0 = 0x3b0, CSR_PMPADDR15 = 0x3bf,
    CSR_MCYCLE = 0xb00, CSR_MINSTRET = 0xb02,
    CSR_MHPMCOUNTER3 = 0xb03, CSR_MHPMCOUNTER31 = 0xb1f,
};

uint64_t riscv_mstatus_read(RiscvCpu *cpu)
{
    uint64_t s = cpu->mstatus;
    s |= (2ULL << 32) | (2ULL << 34);    /* UXL = SXL = 64 */
    if ((s & MSTATUS_FS) == MSTATUS_FS)
        s |= MSTATUS_SD;
    return s;
}

static void mstatus_write(RiscvCpu *cpu, uint64_t val, uint64_t mask)
{
    uint64_t old = cpu->mstatus;
    uint64_t n = (old & ~mask) | (val & mask);
    if ((n & MSTATUS_MPP) == (2ULL << 11))
        n = (n & ~MSTATUS_MPP) | (old & MSTATUS_MPP);   /* MPP=2 is not a mode: WARL */
    cpu->mstatus = n & MSTATUS_M_WRITABLE;
    riscv_update_ctx(cpu);
    cpu->break_loop = true;     /* MIE/SIE may have unmasked an interrupt */
}

/* Counter CSRs visible below M only when mcounteren (and scounteren for U) allow. */
static bool counter_allowed(RiscvCpu *cpu, unsigned csr)
{
    unsigned bit = csr & 31;
    if (cpu->priv < PRV_M && !((cpu->mcounteren >> bit) & 1))
        return false;
    if (cpu->priv < PRV_S && !((cpu->scounteren >> bit) & 1))
        return false;
    return true;
}

static uint64_t read_cycle(RiscvCpu *cpu)   { return cpu->instret + cpu->mcycle_off; }
static uint64_t read_instret(RiscvCpu *cpu) { return cpu->instret + cpu->minstret_off; }

static bool fs_off(RiscvCpu *cpu)
{
    return (cpu->mstatus & MSTATUS_FS) == 0;
}

/* Returns 0 with *val, or -1 when the CSR does not exist or may not be read here. */
static int csr_read(RiscvCpu *cpu, unsigned csr, uint64_t *val)
{
    switch (csr) {
    case CSR_FFLAGS: if (fs_off(cpu)) return -1; *val = cpu->fflags & 0x1f; return 0;
    case CSR_FRM:    if (fs_off(cpu)) return -1; *val = cpu->frm & 7; return 0;
    case CSR_FCSR:
        if (fs_off(cpu))
            return -1;
        *val = (cpu->fflags & 0x1f) | ((cpu->frm & 7) << 5);
        return 0;
    case CSR_CYCLE:   if (!counter_allowed(cpu, csr)) return -1; *val = read_cycle(cpu); return 0;
    case CSR_TIME:    if (!counter_allowed(cpu, csr)) return -1; *val = clock_mtime(); return 0;
    case CSR_INSTRET: if (!counter_allowed(cpu, csr)) return -1; *val = read_instret(cpu); return 0;
    case CSR_SSTATUS: *val = riscv_mstatus_read(cpu) & SSTATUS_MASK; return 0;
    case CSR_SIE:     *val = cpu->mie & cpu->mideleg; return 0;
    case CSR_STVEC:   *val = cpu->stvec; return 0;
    case CSR_SCOUNTEREN: *val = cpu->scounteren; return 0;
    case CSR_SENVCFG: *val = cpu->senvcfg; return 0;
    case CSR_SSCRATCH: *val = cpu->sscratch; return 0;
    case CSR_SEPC:    *val = cpu->sepc; return 0;
    case CSR_SCAUSE:  *val = cpu->scause; return 0;
    case CSR_STVAL:   *val = cpu->stval; return 0;
    case CSR_SIP:     *val = atomic_load(&cpu->mip) & cpu->mideleg; return 0;
    case CSR_SATP:
        if (cpu->priv == PRV_S && (cpu->mstatus & MSTATUS_TVM))
            return -1;
        *val = cpu->satp;
        return 0;
    case CSR_MVENDORID: case CSR_MARCHID: case CSR_MIMPID: case CSR_MCONFIGPTR:
        *val = 0;
        return 0;
    case CSR_MHARTID: *val = cpu->mhartid; return 0;
    case CSR_MSTATUS: *val = riscv_mstatus_read(cpu); return 0;
    case CSR_MISA:    *val = cpu->misa; return 0;
    case CSR_MEDELEG: *val = cpu->medeleg; return 0;
    case CSR_MIDELEG: *val = cpu->mideleg; return 0;
    case CSR_MIE:     *val = cpu->mie; return 0;
    case CSR_MTVEC:   *val = cpu->mtvec; return 0;
    case CSR_MCOUNTEREN: *val = cpu->mcounteren; return 0;
    case CSR_MENVCFG: *val = cpu->menvcfg; return 0;
    case CSR_MCOUNTINHIBIT: *val = cpu->mcountinhibit; return 0;
    case CSR_MSCRATCH: *val = cpu->mscratch; return 0;
    case CSR_MEPC:    *val = cpu->mepc; return 0;
    case CSR_MCAUSE:  *val = cpu->mcause; return 0;
    case CSR_MTVAL:   *val = cpu->mtval; return 0;
    case CSR_MIP:     *val = atomic_load(&cpu->mip); return 0;
    case CSR_PMPCFG0: case CSR_PMPCFG2:
        *val = riscv_pmpcfg_read(cpu, csr - CSR_PMPCFG0);
        return 0;
    case CSR_MCYCLE:   *val = read_cycle(cpu); return 0;
    case CSR_MINSTRET: *val = read_instret(cpu); return 0;
    }
    if (csr >= CSR_PMPADDR0 && csr <= CSR_PMPADDR15) {
        *val = cpu->pmpaddr[csr - CSR_PMPADDR0];
        return 0;
    }
    if (csr >= CSR_HPMCOUNTER3 && csr <= CSR_HPMCOUNTER31) {
        if (!counter_allowed(cpu, csr))
            return -1;
        *val = 0;
        return 0;
    }
    if ((csr >= CSR_MHPMCOUNTER3 && csr <= CSR_MHPMCOUNTER31) ||
        (csr >= CSR_MHPMEVENT3 && csr <= CSR_MHPMEVENT31)) {
        *val = 0;
        return 0;
    }
    return -1;
}

static void mark_fs_dirty(RiscvCpu *cpu)
{
    cpu->mstatus |= MSTATUS_FS;
}

/* old is the value the instruction read (for read-modify-write of shared bits). */
static int csr_write(RiscvCpu *cpu, unsigned csr, uint64_t val, uint64_t old)
{
    switch (csr) {
    case CSR_FFLAGS: cpu->fflags = val & 0x1f; mark_fs_dirty(cpu); return 0;
    case CSR_FRM:    cpu->frm = val & 7; mark_fs_dirty(cpu); return 0;
    case CSR_FCSR:
        cpu->fflags = val & 0x1f;
        cpu->frm = (val >> 5) & 7;
        mark_fs_dirty(cpu);
        return 0;
    case CSR_SSTATUS: mstatus_write(cpu, val, SSTATUS_WRITABLE); return 0;
    case CSR_SIE:
        cpu->mie = (cpu->mie & ~cpu->mideleg) | (val & cpu->mideleg & S_IRQS);
        cpu->break_loop = true;
        return 0;
    case CSR_STVEC:   cpu->stvec = (val & 1) ? val & ~2ULL : val & ~3ULL; return 0;
    case CSR_SCOUNTEREN: cpu->scounteren = val & 0xffffffff; return 0;
    case CSR_SENVCFG: cpu->senvcfg = val & 1; return 0;
    case CSR_SSCRATCH: cpu->sscratch = val; return 0;
    case CSR_SEPC:    cpu->sepc = val & ~1ULL; return 0;
    case CSR_SCAUSE:  cpu->scause = val; return 0;
    case CSR_STVAL:   cpu->stval = val; return 0;
    case CSR_SIP: {
        uint64_t mask = MIP_SSIP & cpu->mideleg;
        if (val & mask)
            atomic_fetch_or(&cpu->mip, mask);
        else
            atomic_fetch_and(&cpu->mip, ~mask);
        cpu->break_loop = true;
        return 0;
    }
    case CSR_SATP: {
        unsigned mode = (unsigned)(val >> 60);
        if (mode != SATP_MODE_BARE && mode != SATP_MODE_SV39 && mode != SATP_MODE_SV48)
            return 0;   /* unsupported mode: the write is ignored */
        cpu->satp = val & ((0xfULL << 60) | (0xffffULL << 44) | ((1ULL << 44) - 1));
        riscv_tlb_flush(cpu);
        return 0;
    }
    case CSR_MSTATUS: mstatus_write(cpu, val, MSTATUS_M_WRITABLE); return 0;
    case CSR_MISA: return 0;
    case CSR_MEDELEG: cpu->medeleg = val & DELEGABLE_EXC; return 0;
    case CSR_MIDELEG: cpu->mideleg = val & S_IRQS; cpu->break_loop = true; return 0;
    case CSR_MIE:     cpu->mie = val & ALL_IRQS; cpu->break_loop = true; return 0;
    case CSR_MTVEC:   cpu->mtvec = (val & 1) ? val & ~2ULL : val & ~3ULL; return 0;
    case CSR_MCOUNTEREN: cpu->mcounteren = val & 0xffffffff; return 0;
    case CSR_MENVCFG: cpu->menvcfg = val & 1; return 0;
    case CSR_MCOUNTINHIBIT: cpu->mcountinhibit = val & 0xfffffffd; return 0;
    case CSR_MSCRATCH: cpu->mscratch = val; return 0;
    case CSR_MEPC:    cpu->mepc = val & ~1ULL; return 0;
    case CSR_MCAUSE:  cpu->mcause = val; return 0;
    case CSR_MTVAL:   cpu->mtval = val; return 0;
    case CSR_MIP: {
        /* Only the S-level bits are software-writable; the rest are wired to
         * devices.  Apply just the bits this write changes relative to what
         * the instruction read, so a device raising SEIP meanwhile is kept. */
        uint64_t set = val & ~old & S_IRQS, clr = ~val & old & S_IRQS;
        if (set)
            atomic_fetch_or(&cpu->mip, set);
        if (clr)
            atomic_fetch_and(&cpu->mip, ~clr);
        cpu->break_loop = true;
        return 0;
    }
    case CSR_PMPCFG0: case CSR_PMPCFG2:
        riscv_pmpcfg_write(cpu, csr - CSR_PMPCFG0, val);
        return 0;
    /* The writing instruction's own retirement must not show in the new value. */
    case CSR_MCYCLE:   cpu->mcycle_off = val - cpu->instret - 1; return 0;
    case CSR_MINSTRET: cpu->minstret_off = val - cpu->instret - 1; return 0;
    }
    if (csr >= CSR_PMPADDR0 && csr <= CSR_PMPADDR15) {
        riscv_pmpaddr_write(cpu, csr - CSR_PMPADDR0, val);
        return 0;
    }
    if ((csr >= CSR_MHPMCOUNTER3 && csr <= CSR_MHPMCOUNTER31) ||
        (csr >= CSR_MHPMEVENT3 && csr <= CSR_MHPMEVENT31))
        return 0;
    return -1;
}

int riscv_csr_insn(RiscvCpu *cpu, uint32_t insn)
{
    unsigned csr = insn >> 20;
    unsigned rd = (insn >> 7) & 31;
    unsigned rs1 = (insn >> 15) & 31;
    unsigned f3 = (insn >> 12) & 7;
    uint64_t src = (f3 & 4) ? rs1 : cpu->x[rs1];
    bool write = (f3 & 3) == 1 || rs1 != 0;
    uint64_t old = 0;

    if (((csr >> 8) & 3) > cpu->priv || (write && (csr >> 10) == 3))
        goto illegal;
    /* Reads have no side effects here, so csrrw with rd=x0 may read too: it
     * needs the same existence and permission check. */
    if (csr_read(cpu, csr, &old) < 0)
        goto illegal;
    if (write) {
        uint64_t nv;
        switch (f3 & 3) {
        case 1: nv = src; break;
        case 2: nv = old | src; break;
        default: nv = old & ~src; break;
        }
        if (csr_write(cpu, csr, nv, old) < 0)
            goto illegal;
    }
    if (rd)
        cpu->x[rd] = old;
    return 0;
illegal:
    riscv_raise_exception(cpu, EXC_ILLEGAL_INSN, insn);
    return -1;
}
