/* The A extension.  AMOs run as host atomics on the RAM pointer so harts on
 * different host threads see them atomically.  LR remembers the physical
 * address and the value it read; SC is a compare-and-swap against that value
 * (the approach of QEMU's MTTCG), which is exact except for ABA, which
 * software using LR/SC cannot observe for the usual lock-free algorithms. */
#include "cpu/cpu_internal.h"

enum { AMO_ADD = 0x00, AMO_SWAP = 0x01, AMO_LR = 0x02, AMO_SC = 0x03, AMO_XOR = 0x04,
       AMO_OR = 0x08, AMO_AND = 0x0c, AMO_MIN = 0x10, AMO_MAX = 0x14, AMO_MINU = 0x18,
       AMO_MAXU = 0x1c };

/* Translation to host RAM; MMIO is not allowed for atomics (access fault). */
static uint8_t *amo_host(RiscvCpu *cpu, uint64_t va, int acc, unsigned size, uint64_t *pa)
{
    RiscvTlbEntry *tlb = acc == ACC_LOAD ? cpu->tlb_load : cpu->tlb_store;
    RiscvTlbEntry *e = tlb_slot(tlb, va);
    if (e->tag == tlb_tag(va, cpu->tlb_ctx_data)) {
        *pa = e->paddr | (va & 0xfff);
        return (uint8_t *)(uintptr_t)(va + e->addend);
    }
    uint8_t *host;
    if (riscv_translate(cpu, va, acc, size, pa, &host) < 0)
        return NULL;
    if (!host)
        riscv_raise_exception(cpu, acc == ACC_LOAD ? EXC_LOAD_ACCESS : EXC_STORE_ACCESS, va);
    return host;
}

static uint64_t amo_op(unsigned f5, uint64_t old, uint64_t src, bool word)
{
    int64_t so = word ? (int32_t)old : (int64_t)old;
    int64_t ss = word ? (int32_t)src : (int64_t)src;
    uint64_t uo = word ? (uint32_t)old : old;
    uint64_t us = word ? (uint32_t)src : src;
    switch (f5) {
    case AMO_MIN:  return so < ss ? old : src;
    case AMO_MAX:  return so > ss ? old : src;
    case AMO_MINU: return uo < us ? old : src;
    default:       return uo > us ? old : src;   /* AMO_MAXU */
    }
}

int riscv_amo(RiscvCpu *cpu, uint32_t insn)
{
    unsigned f5 = insn >> 27;
    unsigned f3 = (insn >> 12) & 7;
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
    if (f3 != 2 && f3 != 3)
        goto illegal;
    bool word = f3 == 2;
    unsigned size = word ? 4 : 8;
    uint64_t va = cpu->x[rs1];
    uint64_t src = cpu->x[rs2];
    uint64_t pa, old;
    uint8_t *h;

    if (f5 == AMO_LR) {
        if (rs2 != 0)
            goto illegal;
        if (va & (size - 1)) {
            riscv_raise_exception(cpu, EXC_LOAD_MISALIGNED, va);
            return -1;
        }
        if (!(h = amo_host(cpu, va, ACC_LOAD, size, &pa)))
            return -1;
        old = word ? __atomic_load_n((uint32_t *)h, __ATOMIC_SEQ_CST)
                   : __atomic_load_n((uint64_t *)h, __ATOMIC_SEQ_CST);
        cpu->lr_addr = pa;
        cpu->lr_val = old;
        if (rd)
            cpu->x[rd] = word ? (uint64_t)(int64_t)(int32_t)old : old;
        return 0;
    }
    switch (f5) {
    case AMO_SC: case AMO_SWAP: case AMO_ADD: case AMO_XOR: case AMO_AND: case AMO_OR:
    case AMO_MIN: case AMO_MAX: case AMO_MINU: case AMO_MAXU:
        break;
    default:
        goto illegal;
    }
    if (va & (size - 1)) {
        riscv_raise_exception(cpu, EXC_STORE_MISALIGNED, va);
        return -1;
    }
    if (!(h = amo_host(cpu, va, ACC_STORE, size, &pa)))
        return -1;

    if (f5 == AMO_SC) {
        bool ok = false;
        if (cpu->lr_addr == pa) {
            if (word) {
                uint32_t expect = (uint32_t)cpu->lr_val;
                ok = __atomic_compare_exchange_n((uint32_t *)h, &expect, (uint32_t)src, false,
                                                 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
            } else {
                uint64_t expect = cpu->lr_val;
                ok = __atomic_compare_exchange_n((uint64_t *)h, &expect, src, false,
                                                 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
            }
        }
        cpu->lr_addr = UINT64_MAX;
        if (rd)
            cpu->x[rd] = ok ? 0 : 1;
        return 0;
    }

    if (word) {
        uint32_t *p = (uint32_t *)h, s = (uint32_t)src;
        switch (f5) {
        case AMO_SWAP: old = __atomic_exchange_n(p, s, __ATOMIC_SEQ_CST); break;
        case AMO_ADD:  old = __atomic_fetch_add(p, s, __ATOMIC_SEQ_CST); break;
        case AMO_XOR:  old = __atomic_fetch_xor(p, s, __ATOMIC_SEQ_CST); break;
        case AMO_AND:  old = __atomic_fetch_and(p, s, __ATOMIC_SEQ_CST); break;
        case AMO_OR:   old = __atomic_fetch_or(p, s, __ATOMIC_SEQ_CST); break;
        default: {
            uint32_t cur = __atomic_load_n(p, __ATOMIC_SEQ_CST);
            while (!__atomic_compare_exchange_n(p, &cur, (uint32_t)amo_op(f5, cur, s, true),
                                                false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
                ;
            old = cur;
        }
        }
        old = (uint64_t)(int64_t)(int32_t)old;
    } else {
        uint64_t *p = (uint64_t *)h;
        switch (f5) {
        case AMO_SWAP: old = __atomic_exchange_n(p, src, __ATOMIC_SEQ_CST); break;
        case AMO_ADD:  old = __atomic_fetch_add(p, src, __ATOMIC_SEQ_CST); break;
        case AMO_XOR:  old = __atomic_fetch_xor(p, src, __ATOMIC_SEQ_CST); break;
        case AMO_AND:  old = __atomic_fetch_and(p, src, __ATOMIC_SEQ_CST); break;
        case AMO_OR:   old = __atomic_fetch_or(p, src, __ATOMIC_SEQ_CST); break;
        default: {
            uint64_t cur = __atomic_load_n(p, __ATOMIC_SEQ_CST);
            while (!__atomic_compare_exchange_n(p, &cur, amo_op(f5, cur, src, false),
                                                false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
                ;
            old = cur;
        }
        }
    }
    if (rd)
        cpu->x[rd] = old;
    return 0;
illegal:
    riscv_raise_exception(cpu, EXC_ILLEGAL_INSN, insn);
    return -1;
}
