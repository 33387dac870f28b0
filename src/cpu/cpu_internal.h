/* Declarations shared by the files of the hart implementation only. */
#ifndef QUAIL_CPU_INTERNAL_H
#define QUAIL_CPU_INTERNAL_H

#include <string.h>

#include "cpu/riscv.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

enum { ACC_FETCH = 0, ACC_LOAD = 1, ACC_STORE = 2 };

#define PTE_V (1ULL << 0)
#define PTE_R (1ULL << 1)
#define PTE_W (1ULL << 2)
#define PTE_X (1ULL << 3)
#define PTE_U (1ULL << 4)
#define PTE_G (1ULL << 5)
#define PTE_A (1ULL << 6)
#define PTE_D (1ULL << 7)

#define SATP_MODE_BARE 0
#define SATP_MODE_SV39 8
#define SATP_MODE_SV48 9

/* --- mmu.c --- */
/* Recomputes the TLB contexts after priv/mstatus changes. */
void riscv_update_ctx(RiscvCpu *cpu);
/* Translates vaddr for an access of size bytes (which must not cross a page),
 * checks PMP and fills the TLB when possible.  On success *pa is the physical
 * address and *host the host pointer for RAM (NULL for MMIO).  Returns 0, or -1
 * after raising the page or access fault. */
int riscv_translate(RiscvCpu *cpu, uint64_t vaddr, int acc, unsigned size,
                    uint64_t *pa, uint8_t **host);
int riscv_fetch_slow(RiscvCpu *cpu, uint32_t *insn);
/* Invalidates every TLB slot (the used lists may not cover a fresh struct). */
void riscv_tlb_init(RiscvCpu *cpu);
/* sfence.vma with an address: drops that page and every superpage piece. */
void riscv_tlb_flush_page(RiscvCpu *cpu, uint64_t vaddr);
/* PMP CSRs */
uint64_t riscv_pmpcfg_read(RiscvCpu *cpu, unsigned idx);
void riscv_pmpcfg_write(RiscvCpu *cpu, unsigned idx, uint64_t val);
void riscv_pmpaddr_write(RiscvCpu *cpu, unsigned idx, uint64_t val);

static inline uint64_t tlb_tag(uint64_t vaddr, uint64_t ctx)
{
    return (vaddr >> 12) | ctx;
}

static inline RiscvTlbEntry *tlb_slot(RiscvTlbEntry *tlb, uint64_t vaddr)
{
    return &tlb[(vaddr >> 12) & (RISCV_TLB_SIZE - 1)];
}

/* Host pointer for a RAM access through the TLB, or NULL (miss, MMIO or the
 * access crosses the page). */
static inline uint8_t *tlb_host(RiscvTlbEntry *tlb, uint64_t ctx, uint64_t vaddr,
                                unsigned size)
{
    RiscvTlbEntry *e = tlb_slot(tlb, vaddr);
    if (likely(e->tag == tlb_tag(vaddr, ctx) && (vaddr & 0xfff) <= 4096 - size))
        return (uint8_t *)(uintptr_t)(vaddr + e->addend);
    return NULL;
}

static inline uint64_t ld_host(const uint8_t *p, unsigned size)
{
    switch (size) {
    case 1: return *p;
    case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

static inline void st_host(uint8_t *p, unsigned size, uint64_t val)
{
    switch (size) {
    case 1: *p = (uint8_t)val; break;
    case 2: { uint16_t v = (uint16_t)val; memcpy(p, &v, 2); break; }
    case 4: { uint32_t v = (uint32_t)val; memcpy(p, &v, 4); break; }
    default: memcpy(p, &val, 8); break;
    }
}

/* Fast paths used by the interpreter; fall back to riscv_load/riscv_store. */
static inline int cpu_load(RiscvCpu *cpu, uint64_t vaddr, unsigned size, uint64_t *val)
{
    uint8_t *p = tlb_host(cpu->tlb_load, cpu->tlb_ctx_data, vaddr, size);
    if (likely(p != NULL)) {
        *val = ld_host(p, size);
        return 0;
    }
    return riscv_load(cpu, vaddr, size, val);
}

static inline int cpu_store(RiscvCpu *cpu, uint64_t vaddr, unsigned size, uint64_t val)
{
    uint8_t *p = tlb_host(cpu->tlb_store, cpu->tlb_ctx_data, vaddr, size);
    if (likely(p != NULL)) {
        st_host(p, size, val);
        return 0;
    }
    return riscv_store(cpu, vaddr, size, val);
}

/* --- csr.c --- */
/* Executes a Zicsr instruction (funct3 1-3, 5-7).  Returns 0 or -1 (raised). */
int riscv_csr_insn(RiscvCpu *cpu, uint32_t insn);
uint64_t riscv_mstatus_read(RiscvCpu *cpu);

/* --- trap.c --- */
/* Enters the trap handler for the pending exception (cpu->exc_*). */
void riscv_take_exception(RiscvCpu *cpu);
/* Takes the highest-priority enabled pending interrupt, if any. Returns true if taken. */
bool riscv_check_interrupts(RiscvCpu *cpu);
/* Enabled-and-pending interrupts ignoring the global enables (WFI wakes on these). */
static inline uint64_t riscv_pending_irqs(RiscvCpu *cpu)
{
    return atomic_load_explicit(&cpu->mip, memory_order_relaxed) & cpu->mie;
}
void riscv_set_priv(RiscvCpu *cpu, unsigned priv);
int riscv_mret(RiscvCpu *cpu);
int riscv_sret(RiscvCpu *cpu);

/* --- compressed.c --- */
/* 32-bit equivalent of a 16-bit instruction, or 0 when it is illegal/reserved. */
uint32_t riscv_expand_compressed(uint16_t c);
void riscv_compressed_init(void);
extern uint32_t riscv_rvc_table[65536];

/* --- atomic.c --- */
int riscv_amo(RiscvCpu *cpu, uint32_t insn);

/* --- exec.c --- */
/* Runs up to n instructions; returns how many were attempted (a trapping
 * instruction counts).  Stops early when cpu->break_loop is set. */
uint64_t riscv_exec(RiscvCpu *cpu, uint64_t n);

/* --- cpu.c --- */
void riscv_update_timer(RiscvCpu *cpu);
void riscv_wfi(RiscvCpu *cpu);

#endif
