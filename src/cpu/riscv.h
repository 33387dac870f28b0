/* One RV64GC hart: architectural state and the interface the rest of quail uses.
 *
 * Threading: each hart runs riscv_cpu_run() on its own host thread.  Other
 * threads touch a hart only through the atomic fields below (mip bits raised by
 * devices, mtimecmp written by the ACLINT, exit requests) followed by
 * riscv_cpu_kick(), which wakes the hart if it sleeps in WFI.
 */
#ifndef QUAIL_CPU_RISCV_H
#define QUAIL_CPU_RISCV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"

enum { PRV_U = 0, PRV_S = 1, PRV_M = 3 };

/* Exception causes (mcause with interrupt bit clear). */
enum {
    EXC_INSN_MISALIGNED = 0, EXC_INSN_ACCESS = 1, EXC_ILLEGAL_INSN = 2,
    EXC_BREAKPOINT = 3, EXC_LOAD_MISALIGNED = 4, EXC_LOAD_ACCESS = 5,
    EXC_STORE_MISALIGNED = 6, EXC_STORE_ACCESS = 7, EXC_ECALL_U = 8,
    EXC_ECALL_S = 9, EXC_ECALL_M = 11, EXC_INSN_PAGE_FAULT = 12,
    EXC_LOAD_PAGE_FAULT = 13, EXC_STORE_PAGE_FAULT = 15,
};

/* Interrupt numbers (bit positions in mip/mie). */
enum { IRQ_SSI = 1, IRQ_MSI = 3, IRQ_STI = 5, IRQ_MTI = 7, IRQ_SEI = 9, IRQ_MEI = 11 };

#define MIP_SSIP (1ULL << IRQ_SSI)
#define MIP_MSIP (1ULL << IRQ_MSI)
#define MIP_STIP (1ULL << IRQ_STI)
#define MIP_MTIP (1ULL << IRQ_MTI)
#define MIP_SEIP (1ULL << IRQ_SEI)
#define MIP_MEIP (1ULL << IRQ_MEI)

#define RISCV_PMP_COUNT 16
#define RISCV_TLB_BITS 10
#define RISCV_TLB_SIZE (1 << RISCV_TLB_BITS)

/* Software TLB entry: a virtual page maps to host memory (addend) when it is
 * RAM, or is marked for the slow path (MMIO, watchpoints).  Separate arrays for
 * fetch, load and store so permission checks are folded into the lookup. */
typedef struct RiscvTlbEntry {
    uint64_t tag;       /* virtual page number, or UINT64_MAX when invalid */
    uintptr_t addend;   /* host address = guest vaddr + addend (RAM only) */
    uint64_t paddr;     /* physical page address (LR/SC reservations) */
    bool super;         /* piece of a superpage: dropped by every sfence.vma */
} RiscvTlbEntry;

typedef struct RiscvCpu RiscvCpu;

struct RiscvCpu {
    /* --- architectural state --- */
    uint64_t x[32];
    uint64_t pc;
    uint64_t f[32];          /* NaN-boxed: single-precision values in the low 32 bits */
    uint32_t fflags;         /* accrued exceptions, 5 bits: NV DZ OF UF NX */
    uint32_t frm;            /* dynamic rounding mode, 3 bits */
    unsigned priv;           /* PRV_U, PRV_S or PRV_M */
    bool virt_wfi;           /* sleeping in WFI */

    uint64_t mhartid;
    uint64_t misa;
    uint64_t mstatus;        /* sstatus is a view of this */
    uint64_t medeleg, mideleg;
    uint64_t mie;            /* sie is a view of this */
    _Atomic uint64_t mip;    /* devices set/clear bits atomically; sip is a view */
    uint64_t mtvec, mscratch, mepc, mcause, mtval;
    uint64_t mcounteren, mcountinhibit, menvcfg;
    uint64_t stvec, sscratch, sepc, scause, stval, scounteren, senvcfg;
    uint64_t satp;
    uint64_t pmpcfg[RISCV_PMP_COUNT / 8];   /* RV64: pmpcfg0, pmpcfg2 */
    uint64_t pmpaddr[RISCV_PMP_COUNT];
    uint64_t stimecmp;                      /* Sstc, only when advertised */
    _Atomic uint64_t mtimecmp;              /* owned by the ACLINT, checked by the hart */

    uint64_t instret;        /* retired instructions (minstret, mcycle derive from it) */

    /* LR/SC reservation: SC succeeds only if the reserved location still holds
     * the value LR saw (compare-and-swap on the host), as QEMU's MTTCG does. */
    uint64_t lr_addr;        /* physical address; UINT64_MAX when no reservation */
    uint64_t lr_val;

    /* --- emulator state --- */
    Bus *bus;
    RiscvTlbEntry tlb_fetch[RISCV_TLB_SIZE];
    RiscvTlbEntry tlb_load[RISCV_TLB_SIZE];
    RiscvTlbEntry tlb_store[RISCV_TLB_SIZE];

    /* Translation context folded into TLB tags (effective privilege, SUM,
     * MXR), so privilege switches need no flush.  Recomputed on every change. */
    uint64_t tlb_ctx_fetch, tlb_ctx_data;
    /* Page the pc is in: host address = pc + fetch_addend while
     * (pc & ~0xfff) == fetch_va; fetch_va is 1 (never a page) when invalid. */
    uint64_t fetch_va;
    uintptr_t fetch_addend;
    bool break_loop;         /* leave the inner loop: interrupt state may have changed */
    int pmp_active;          /* number of PMP entries with A != OFF */
    bool pmp_locked;         /* some entry has L set (M-mode accesses are checked) */
    /* Non-empty PMP ranges [lo, hi) with their cfg bytes, in priority order,
     * recomputed on every PMP CSR write so checks skip decoding. */
    int pmp_nranges;
    uint64_t pmp_lo[RISCV_PMP_COUNT], pmp_hi[RISCV_PMP_COUNT];
    uint8_t pmp_rcfg[RISCV_PMP_COUNT];
    /* Slots filled since the last flush, per TLB (fetch, load, store), so a
     * flush costs what was used rather than the whole array. */
    uint16_t tlb_used[3][RISCV_TLB_SIZE];
    unsigned tlb_nused[3];
    unsigned tlb_nsuper;     /* superpage pieces filled since the last flush */
    uint64_t mcycle_off, minstret_off;   /* written mcycle/minstret minus instret */

    _Atomic bool stop_request;      /* leave riscv_cpu_run() as soon as possible */
    pthread_mutex_t wfi_lock;
    pthread_cond_t wfi_cond;

    /* Pending exception while an instruction executes (set by riscv_raise_exception). */
    bool exc_pending;
    uint64_t exc_cause, exc_tval;
};

/* --- lifecycle (src/cpu/cpu.c) --- */
int riscv_cpu_init(RiscvCpu *cpu, Bus *bus, uint64_t hartid);
void riscv_cpu_destroy(RiscvCpu *cpu);
/* Architectural reset: M-mode, pc = reset_pc, mstatus/misa at reset values. */
void riscv_cpu_reset(RiscvCpu *cpu, uint64_t reset_pc);

/* Runs until stop_request is set.  Returns 0. */
int riscv_cpu_run(RiscvCpu *cpu);
/* Runs at most n instructions (tests, differential checking).  Returns the
 * number executed, counting an instruction that trapped (its trap entry is
 * the step); stops early on stop_request.  Pending interrupts are taken
 * before the first instruction and every 1024 instructions, or right after
 * an instruction that may have unmasked one (CSR writes, mret/sret, wfi). */
uint64_t riscv_cpu_step(RiscvCpu *cpu, uint64_t n);

/* --- cross-thread control --- */
/* Sets or clears one mip bit (IRQ_*) and wakes the hart. */
void riscv_cpu_set_irq(RiscvCpu *cpu, int irq, bool level);
/* Wakes the hart from WFI so it re-evaluates interrupts, timers and requests. */
void riscv_cpu_kick(RiscvCpu *cpu);
void riscv_cpu_request_stop(RiscvCpu *cpu);

/* --- used by instruction implementations (exec.c, fpu.c) --- */
/* Records the exception to take after the current instruction; the instruction
 * must then return without further side effects. */
void riscv_raise_exception(RiscvCpu *cpu, uint64_t cause, uint64_t tval);
/* Virtual memory access with translation, PMP and alignment handling.
 * Return 0, or -1 after raising the right exception (page fault, access fault). */
int riscv_load(RiscvCpu *cpu, uint64_t vaddr, unsigned size, uint64_t *val);
int riscv_store(RiscvCpu *cpu, uint64_t vaddr, unsigned size, uint64_t val);
/* Drops every cached translation of this hart (sfence.vma, satp writes, mode changes). */
void riscv_tlb_flush(RiscvCpu *cpu);

/* --- floating point (src/cpu/fpu.c) --- */
/* Executes one F or D instruction: LOAD-FP, STORE-FP, MADD, MSUB, NMSUB, NMADD,
 * OP-FP (32-bit encoding; compressed FP loads/stores are expanded by the
 * decoder first).  Does not advance pc.  Returns 0, or -1 after raising an
 * exception (illegal instruction when mstatus.FS is Off or the encoding or
 * rounding mode is invalid; memory faults from riscv_load/riscv_store). */
int riscv_fp_exec(RiscvCpu *cpu, uint32_t insn);

/* mstatus fields used across files */
#define MSTATUS_SIE   (1ULL << 1)
#define MSTATUS_MIE   (1ULL << 3)
#define MSTATUS_SPIE  (1ULL << 5)
#define MSTATUS_UBE   (1ULL << 6)
#define MSTATUS_MPIE  (1ULL << 7)
#define MSTATUS_SPP   (1ULL << 8)
#define MSTATUS_VS    (3ULL << 9)
#define MSTATUS_MPP   (3ULL << 11)
#define MSTATUS_FS    (3ULL << 13)
#define MSTATUS_XS    (3ULL << 15)
#define MSTATUS_MPRV  (1ULL << 17)
#define MSTATUS_SUM   (1ULL << 18)
#define MSTATUS_MXR   (1ULL << 19)
#define MSTATUS_TVM   (1ULL << 20)
#define MSTATUS_TW    (1ULL << 21)
#define MSTATUS_TSR   (1ULL << 22)
#define MSTATUS_UXL   (3ULL << 32)
#define MSTATUS_SXL   (3ULL << 34)
#define MSTATUS_SD    (1ULL << 63)

#define FS_OFF 0
#define FS_INITIAL 1
#define FS_CLEAN 2
#define FS_DIRTY 3

/* fflags bits */
#define FFLAG_NX 0x01
#define FFLAG_UF 0x02
#define FFLAG_OF 0x04
#define FFLAG_DZ 0x08
#define FFLAG_NV 0x10

#endif
