/* Address translation (bare, Sv39, Sv48), PMP, the software TLB and the
 * memory access slow paths.
 *
 * The TLB caches 4 KiB translations to host RAM.  Its tags carry the
 * translation context (effective privilege, SUM, MXR) so privilege switches,
 * which happen on every trap, need no flush; satp writes, sfence.vma and PMP
 * changes flush everything.  PMP is checked when an entry is filled: a page is
 * cached only when PMP grants the whole page, otherwise each access is
 * translated and checked again. */
#include "cpu/cpu_internal.h"

#define PPN_MASK ((1ULL << 44) - 1)
#define PMP_R 0x01
#define PMP_W 0x02
#define PMP_X 0x04
#define PMP_A 0x18
#define PMP_L 0x80
#define PMP_ADDR_MASK ((1ULL << 54) - 1)

static unsigned data_priv(RiscvCpu *cpu)
{
    if (cpu->priv == PRV_M && (cpu->mstatus & MSTATUS_MPRV))
        return (unsigned)((cpu->mstatus & MSTATUS_MPP) >> 11);
    return cpu->priv;
}

void riscv_update_ctx(RiscvCpu *cpu)
{
    uint64_t d = data_priv(cpu);
    if (cpu->mstatus & MSTATUS_SUM)
        d |= 4;
    if (cpu->mstatus & MSTATUS_MXR)
        d |= 8;
    uint64_t f = (uint64_t)cpu->priv << 52;
    if (f != cpu->tlb_ctx_fetch)
        cpu->fetch_va = 1;
    cpu->tlb_ctx_fetch = f;
    cpu->tlb_ctx_data = d << 52;
}

static RiscvTlbEntry *tlb_array(RiscvCpu *cpu, int acc)
{
    return acc == ACC_FETCH ? cpu->tlb_fetch : acc == ACC_LOAD ? cpu->tlb_load : cpu->tlb_store;
}

void riscv_tlb_flush(RiscvCpu *cpu)
{
    for (int a = 0; a < 3; a++) {
        RiscvTlbEntry *tlb = tlb_array(cpu, a);
        for (unsigned i = 0; i < cpu->tlb_nused[a]; i++)
            tlb[cpu->tlb_used[a][i]].tag = UINT64_MAX;
        cpu->tlb_nused[a] = 0;
    }
    cpu->tlb_nsuper = 0;
    cpu->fetch_va = 1;
}

void riscv_tlb_init(RiscvCpu *cpu)
{
    for (int a = 0; a < 3; a++) {
        RiscvTlbEntry *tlb = tlb_array(cpu, a);
        for (unsigned i = 0; i < RISCV_TLB_SIZE; i++)
            tlb[i].tag = UINT64_MAX;
        cpu->tlb_nused[a] = 0;
    }
    cpu->tlb_nsuper = 0;
    cpu->fetch_va = 1;
}

void riscv_tlb_flush_page(RiscvCpu *cpu, uint64_t vaddr)
{
    for (int a = 0; a < 3; a++) {
        RiscvTlbEntry *tlb = tlb_array(cpu, a);
        tlb_slot(tlb, vaddr)->tag = UINT64_MAX;
        /* Which superpage holds vaddr is unknown here, so all their pieces go. */
        if (cpu->tlb_nsuper)
            for (unsigned i = 0; i < cpu->tlb_nused[a]; i++)
                if (tlb[cpu->tlb_used[a][i]].super)
                    tlb[cpu->tlb_used[a][i]].tag = UINT64_MAX;
    }
    cpu->tlb_nsuper = 0;
    cpu->fetch_va = 1;
}

static void tlb_fill(RiscvCpu *cpu, int acc, uint64_t vaddr, uint64_t ctx, uint8_t *page,
                     uint64_t page_pa, bool super)
{
    RiscvTlbEntry *tlb = tlb_array(cpu, acc);
    unsigned idx = (unsigned)(vaddr >> 12) & (RISCV_TLB_SIZE - 1);
    RiscvTlbEntry *e = &tlb[idx];
    if (e->tag == UINT64_MAX) {
        if (cpu->tlb_nused[acc] == RISCV_TLB_SIZE) {
            /* The list holds duplicates after single-page flushes: start over. */
            for (unsigned i = 0; i < RISCV_TLB_SIZE; i++)
                tlb[i].tag = UINT64_MAX;
            cpu->tlb_nused[acc] = 0;
        }
        cpu->tlb_used[acc][cpu->tlb_nused[acc]++] = (uint16_t)idx;
    }
    e->tag = tlb_tag(vaddr, ctx);
    e->addend = (uintptr_t)page - (uintptr_t)(vaddr & ~0xfffULL);
    e->paddr = page_pa;
    e->super = super;
    if (super)
        cpu->tlb_nsuper++;
}

/* --- PMP --- */

static unsigned pmp_cfg(RiscvCpu *cpu, unsigned i)
{
    return (unsigned)(cpu->pmpcfg[i / 8] >> ((i % 8) * 8)) & 0xff;
}

/* Range [lo, hi) covered by entry i; false when the entry is off or empty. */
static bool pmp_range(RiscvCpu *cpu, unsigned i, uint64_t *lo, uint64_t *hi)
{
    unsigned a = (pmp_cfg(cpu, i) & PMP_A) >> 3;
    uint64_t addr = cpu->pmpaddr[i];
    switch (a) {
    case 1:     /* TOR */
        *lo = i == 0 ? 0 : cpu->pmpaddr[i - 1] << 2;
        *hi = addr << 2;
        return *lo < *hi;
    case 2:     /* NA4 */
        *lo = addr << 2;
        *hi = *lo + 4;
        return true;
    case 3: {   /* NAPOT: trailing ones encode the size */
        unsigned t = (unsigned)__builtin_ctzll(~addr);
        if (t > 54)
            t = 54;
        *lo = (addr & ~((1ULL << t) - 1)) << 2;
        *hi = *lo + (1ULL << (t + 3));
        return true;
    }
    default:
        return false;
    }
}

static bool pmp_check(RiscvCpu *cpu, uint64_t pa, uint64_t len, int acc, unsigned priv)
{
    if (priv == PRV_M && !cpu->pmp_locked)
        return true;
    /* Like QEMU, a hart whose PMP was never programmed lets S/U through. */
    if (cpu->pmp_active == 0)
        return true;
    for (int i = 0; i < cpu->pmp_nranges; i++) {
        uint64_t lo = cpu->pmp_lo[i], hi = cpu->pmp_hi[i];
        if (pa + len <= lo || pa >= hi)
            continue;
        if (pa < lo || pa + len > hi)
            return false;   /* partial match always fails */
        unsigned cfg = cpu->pmp_rcfg[i];
        if (priv == PRV_M && !(cfg & PMP_L))
            return true;
        unsigned need = acc == ACC_FETCH ? PMP_X : acc == ACC_LOAD ? PMP_R : PMP_W;
        return (cfg & need) != 0;
    }
    return priv == PRV_M;
}

static void pmp_recount(RiscvCpu *cpu)
{
    cpu->pmp_active = 0;
    cpu->pmp_nranges = 0;
    cpu->pmp_locked = false;
    for (unsigned i = 0; i < RISCV_PMP_COUNT; i++) {
        unsigned cfg = pmp_cfg(cpu, i);
        uint64_t lo, hi;
        if (cfg & PMP_A)
            cpu->pmp_active++;
        if (cfg & PMP_L)
            cpu->pmp_locked = true;
        if (pmp_range(cpu, i, &lo, &hi)) {
            cpu->pmp_lo[cpu->pmp_nranges] = lo;
            cpu->pmp_hi[cpu->pmp_nranges] = hi;
            cpu->pmp_rcfg[cpu->pmp_nranges] = (uint8_t)cfg;
            cpu->pmp_nranges++;
        }
    }
    riscv_tlb_flush(cpu);
}

uint64_t riscv_pmpcfg_read(RiscvCpu *cpu, unsigned idx)
{
    return cpu->pmpcfg[idx / 2];
}

void riscv_pmpcfg_write(RiscvCpu *cpu, unsigned idx, uint64_t val)
{
    uint64_t out = 0;
    for (unsigned b = 0; b < 8; b++) {
        unsigned i = (idx / 2) * 8 + b;
        unsigned old = pmp_cfg(cpu, i);
        unsigned nv = (unsigned)(val >> (b * 8)) & 0xff;
        if (old & PMP_L) {
            nv = old;
        } else {
            nv &= PMP_R | PMP_W | PMP_X | PMP_A | PMP_L;
            if ((nv & (PMP_R | PMP_W)) == PMP_W)
                nv &= ~(unsigned)PMP_W;     /* R=0 W=1 is reserved */
        }
        out |= (uint64_t)nv << (b * 8);
    }
    cpu->pmpcfg[idx / 2] = out;
    pmp_recount(cpu);
}

void riscv_pmpaddr_write(RiscvCpu *cpu, unsigned idx, uint64_t val)
{
    if (pmp_cfg(cpu, idx) & PMP_L)
        return;
    if (idx + 1 < RISCV_PMP_COUNT) {
        unsigned next = pmp_cfg(cpu, idx + 1);
        if ((next & PMP_L) && ((next & PMP_A) >> 3) == 1)
            return;
    }
    cpu->pmpaddr[idx] = val & PMP_ADDR_MASK;
    pmp_recount(cpu);
}

/* --- translation --- */

static int fault(RiscvCpu *cpu, int acc, bool page, uint64_t vaddr)
{
    static const uint64_t pf[3] = { EXC_INSN_PAGE_FAULT, EXC_LOAD_PAGE_FAULT, EXC_STORE_PAGE_FAULT };
    static const uint64_t af[3] = { EXC_INSN_ACCESS, EXC_LOAD_ACCESS, EXC_STORE_ACCESS };
    riscv_raise_exception(cpu, page ? pf[acc] : af[acc], vaddr);
    return -1;
}

/* Page-table walk.  Returns 0 with *pa, or -1 after raising the fault. */
static int walk(RiscvCpu *cpu, uint64_t vaddr, int acc, unsigned priv, uint64_t *pa,
                bool *super)
{
    unsigned mode = (unsigned)(cpu->satp >> 60);
    int levels = mode == SATP_MODE_SV48 ? 4 : 3;
    int vabits = 12 + 9 * levels;
    if ((uint64_t)((int64_t)(vaddr << (64 - vabits)) >> (64 - vabits)) != vaddr)
        return fault(cpu, acc, true, vaddr);

    for (int attempt = 0; attempt < 16; attempt++) {
        uint64_t base = (cpu->satp & PPN_MASK) << 12;
        uint64_t pte = 0;
        uint64_t *pp = NULL;
        int i;
        for (i = levels - 1; ; i--) {
            uint64_t pte_addr = base + ((vaddr >> (12 + 9 * i)) & 511) * 8;
            if (!pmp_check(cpu, pte_addr, 8, ACC_LOAD, PRV_S))
                return fault(cpu, acc, false, vaddr);
            pp = (uint64_t *)bus_ram_ptr(cpu->bus, pte_addr, 8);
            if (!pp)
                return fault(cpu, acc, false, vaddr);
            pte = __atomic_load_n(pp, __ATOMIC_ACQUIRE);
            /* Bits 63:54 hold Svnapot/Svpbmt, which this hart lacks: reserved. */
            if (!(pte & PTE_V) || (pte & (PTE_R | PTE_W)) == PTE_W || (pte >> 54))
                return fault(cpu, acc, true, vaddr);
            if (pte & (PTE_R | PTE_X))
                break;
            if ((pte & (PTE_D | PTE_A | PTE_U)) || i == 0)
                return fault(cpu, acc, true, vaddr);
            base = ((pte >> 10) & PPN_MASK) << 12;
        }
        if (priv == PRV_U && !(pte & PTE_U))
            return fault(cpu, acc, true, vaddr);
        if (priv == PRV_S && (pte & PTE_U) &&
            (acc == ACC_FETCH || !(cpu->mstatus & MSTATUS_SUM)))
            return fault(cpu, acc, true, vaddr);
        bool ok;
        if (acc == ACC_FETCH)
            ok = pte & PTE_X;
        else if (acc == ACC_LOAD)
            ok = (pte & PTE_R) || ((cpu->mstatus & MSTATUS_MXR) && (pte & PTE_X));
        else
            ok = pte & PTE_W;
        if (!ok)
            return fault(cpu, acc, true, vaddr);
        uint64_t ppn = (pte >> 10) & PPN_MASK;
        uint64_t span = 12 + 9 * (unsigned)i;
        if (ppn & ((1ULL << (span - 12)) - 1))
            return fault(cpu, acc, true, vaddr);     /* misaligned superpage */
        uint64_t need = PTE_A | (acc == ACC_STORE ? PTE_D : 0);
        if ((pte & need) != need) {
            /* Another hart may change the PTE under us: update it only if it
             * still holds what we checked, else walk again. */
            uint64_t expect = pte;
            if (!__atomic_compare_exchange_n(pp, &expect, pte | need, false,
                                             __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                continue;
        }
        *pa = ((ppn << 12) & ~((1ULL << span) - 1)) | (vaddr & ((1ULL << span) - 1));
        *super = i > 0;
        return 0;
    }
    /* The PTE kept changing under us; let the guest retry. */
    return fault(cpu, acc, true, vaddr);
}

int riscv_translate(RiscvCpu *cpu, uint64_t vaddr, int acc, unsigned size,
                    uint64_t *pa, uint8_t **host)
{
    unsigned priv = acc == ACC_FETCH ? cpu->priv : data_priv(cpu);
    unsigned mode = (unsigned)(cpu->satp >> 60);
    uint64_t p;
    bool super = false;
    if (priv == PRV_M || mode == SATP_MODE_BARE) {
        p = vaddr;
        if (p >> 56)
            return fault(cpu, acc, false, vaddr);
    } else if (walk(cpu, vaddr, acc, priv, &p, &super) < 0) {
        return -1;
    }
    if (!pmp_check(cpu, p, size, acc, priv))
        return fault(cpu, acc, false, vaddr);
    *pa = p;
    *host = bus_ram_ptr(cpu->bus, p, size);
    uint64_t page_pa = p & ~0xfffULL;
    uint8_t *page = bus_ram_ptr(cpu->bus, page_pa, 4096);
    if (page && pmp_check(cpu, page_pa, 4096, acc, priv))
        tlb_fill(cpu, acc, vaddr, acc == ACC_FETCH ? cpu->tlb_ctx_fetch : cpu->tlb_ctx_data,
                 page, page_pa, super);
    return 0;
}

/* --- slow paths --- */

static int fetch16(RiscvCpu *cpu, uint64_t va, uint32_t *out)
{
    uint8_t *h = tlb_host(cpu->tlb_fetch, cpu->tlb_ctx_fetch, va, 2);
    uint64_t pa;
    if (!h && riscv_translate(cpu, va, ACC_FETCH, 2, &pa, &h) < 0)
        return -1;
    if (h) {
        RiscvTlbEntry *e = tlb_slot(cpu->tlb_fetch, va);
        if (e->tag == tlb_tag(va, cpu->tlb_ctx_fetch)) {
            cpu->fetch_va = va & ~0xfffULL;
            cpu->fetch_addend = e->addend;
        }
        *out = (uint32_t)ld_host(h, 2);
        return 0;
    }
    uint64_t v;
    if (bus_read(cpu->bus, pa, 2, &v) < 0)
        return fault(cpu, ACC_FETCH, false, va);
    *out = (uint32_t)v & 0xffff;
    return 0;
}

int riscv_fetch_slow(RiscvCpu *cpu, uint32_t *insn)
{
    uint64_t pc = cpu->pc;
    uint32_t lo, hi;
    /* Common case: a jump to another page that is in the fetch TLB. */
    RiscvTlbEntry *e = tlb_slot(cpu->tlb_fetch, pc);
    if (e->tag == tlb_tag(pc, cpu->tlb_ctx_fetch) && (pc & 0xfff) <= 0xffc) {
        cpu->fetch_va = pc & ~0xfffULL;
        cpu->fetch_addend = e->addend;
        memcpy(insn, (const void *)(uintptr_t)(pc + e->addend), 4);
        return 0;
    }
    if (fetch16(cpu, pc, &lo) < 0)
        return -1;
    if ((lo & 3) != 3) {
        *insn = lo;
        return 0;
    }
    if (fetch16(cpu, pc + 2, &hi) < 0)
        return -1;
    /* The second half may live on another page: point the cache back at the
     * page holding pc only if that is what it was. */
    if (((pc + 2) & ~0xfffULL) != (pc & ~0xfffULL))
        cpu->fetch_va = 1;
    *insn = lo | (hi << 16);
    return 0;
}

int riscv_load(RiscvCpu *cpu, uint64_t vaddr, unsigned size, uint64_t *val)
{
    if ((vaddr & 0xfff) + size > 4096) {
        uint64_t v = 0;
        for (unsigned i = 0; i < size; i++) {
            uint64_t b;
            if (riscv_load(cpu, vaddr + i, 1, &b) < 0)
                return -1;
            v |= b << (8 * i);
        }
        *val = v;
        return 0;
    }
    uint8_t *h = tlb_host(cpu->tlb_load, cpu->tlb_ctx_data, vaddr, size);
    uint64_t pa;
    if (!h && riscv_translate(cpu, vaddr, ACC_LOAD, size, &pa, &h) < 0)
        return -1;
    if (h) {
        *val = ld_host(h, size);
        return 0;
    }
    if (bus_read(cpu->bus, pa, size, val) < 0)
        return fault(cpu, ACC_LOAD, false, vaddr);
    return 0;
}

int riscv_store(RiscvCpu *cpu, uint64_t vaddr, unsigned size, uint64_t val)
{
    if ((vaddr & 0xfff) + size > 4096) {
        /* Check both pages before writing anything so a fault leaves memory untouched. */
        uint64_t pa;
        uint8_t *h;
        uint64_t second = (vaddr + size - 1) & ~0xfffULL;
        if (riscv_translate(cpu, vaddr, ACC_STORE, 1, &pa, &h) < 0 ||
            riscv_translate(cpu, second, ACC_STORE, 1, &pa, &h) < 0)
            return -1;
        for (unsigned i = 0; i < size; i++)
            if (riscv_store(cpu, vaddr + i, 1, val >> (8 * i)) < 0)
                return -1;
        return 0;
    }
    uint8_t *h = tlb_host(cpu->tlb_store, cpu->tlb_ctx_data, vaddr, size);
    uint64_t pa;
    if (!h && riscv_translate(cpu, vaddr, ACC_STORE, size, &pa, &h) < 0)
        return -1;
    if (h) {
        st_host(h, size, val);
        return 0;
    }
    if (bus_write(cpu->bus, pa, size, val) < 0)
        return fault(cpu, ACC_STORE, false, vaddr);
    return 0;
}
