/* The interpreter: fetch, decode and execute RV64I/M/A, Zicsr, Zifencei and
 * the privileged instructions.  Compressed instructions arrive here already
 * expanded to their 32-bit form (compressed.c); F/D go to riscv_fp_exec(). */
#include "cpu/cpu_internal.h"

static inline int64_t imm_i(uint32_t insn) { return (int32_t)insn >> 20; }
/* The sign part is computed as int64_t and the rest OR-ed in as int64_t so
 * the result is not silently converted to a zero-extended unsigned value. */
static inline int64_t imm_s(uint32_t insn)
{
    return (int64_t)((int32_t)insn >> 25) * 32 | (int64_t)((insn >> 7) & 31);
}
static inline int64_t imm_b(uint32_t insn)
{
    return (int64_t)((int32_t)insn >> 31) * 4096 |
           (int64_t)(((insn >> 7) & 1) << 11 | ((insn >> 25) & 0x3f) << 5 |
                     ((insn >> 8) & 0xf) << 1);
}
static inline int64_t imm_j(uint32_t insn)
{
    return (int64_t)((int32_t)insn >> 31) * (1 << 20) |
           (int64_t)((insn & 0xff000) | ((insn >> 20) & 1) << 11 | ((insn >> 21) & 0x3ff) << 1);
}

static inline uint64_t sx32(uint64_t v) { return (uint64_t)(int64_t)(int32_t)v; }

static uint64_t op_div(uint64_t a, uint64_t b)
{
    if (b == 0) return UINT64_MAX;
    if ((int64_t)a == INT64_MIN && (int64_t)b == -1) return a;
    return (uint64_t)((int64_t)a / (int64_t)b);
}
static uint64_t op_rem(uint64_t a, uint64_t b)
{
    if (b == 0) return a;
    if ((int64_t)a == INT64_MIN && (int64_t)b == -1) return 0;
    return (uint64_t)((int64_t)a % (int64_t)b);
}
static uint64_t op_divw(uint64_t a64, uint64_t b64)
{
    int32_t a = (int32_t)a64, b = (int32_t)b64;
    if (b == 0) return UINT64_MAX;
    if (a == INT32_MIN && b == -1) return sx32((uint32_t)a);
    return sx32((uint32_t)(a / b));
}
static uint64_t op_remw(uint64_t a64, uint64_t b64)
{
    int32_t a = (int32_t)a64, b = (int32_t)b64;
    if (b == 0) return sx32((uint32_t)a);
    if (a == INT32_MIN && b == -1) return 0;
    return sx32((uint32_t)(a % b));
}

/* SYSTEM with funct3 0: ecall, ebreak, trap returns, wfi, sfence.vma. */
static int exec_system(RiscvCpu *cpu, uint32_t insn, uint64_t pc, uint64_t *npc)
{
    switch (insn) {
    case 0x00000073:
        riscv_raise_exception(cpu, EXC_ECALL_U + cpu->priv, 0);
        return -1;
    case 0x00100073:
        riscv_raise_exception(cpu, EXC_BREAKPOINT, pc);
        return -1;
    case 0x30200073:
        if (riscv_mret(cpu) < 0)
            return -1;
        *npc = cpu->pc;
        return 0;
    case 0x10200073:
        if (riscv_sret(cpu) < 0)
            return -1;
        *npc = cpu->pc;
        return 0;
    case 0x10500073:
        if (cpu->priv == PRV_U || (cpu->priv == PRV_S && (cpu->mstatus & MSTATUS_TW)))
            break;
        riscv_wfi(cpu);
        cpu->break_loop = true;
        return 0;
    }
    if ((insn >> 25) == 0x09 && ((insn >> 7) & 31) == 0) {     /* sfence.vma */
        if (cpu->priv == PRV_U || (cpu->priv == PRV_S && (cpu->mstatus & MSTATUS_TVM)))
            goto illegal;
        unsigned rs1 = (insn >> 15) & 31;
        if (rs1)
            riscv_tlb_flush_page(cpu, cpu->x[rs1]);
        else
            riscv_tlb_flush(cpu);
        return 0;
    }
illegal:
    riscv_raise_exception(cpu, EXC_ILLEGAL_INSN, insn);
    return -1;
}

uint64_t riscv_exec(RiscvCpu *cpu, uint64_t n)
{
    uint64_t *x = cpu->x;
    uint64_t done = 0;

    while (done < n) {
        done++;
        uint64_t pc = cpu->pc;
        uint32_t insn;
        if (likely((pc & ~0xfffULL) == cpu->fetch_va && (pc & 0xfff) <= 0xffc)) {
            memcpy(&insn, (const void *)(uintptr_t)(pc + cpu->fetch_addend), 4);
        } else if (riscv_fetch_slow(cpu, &insn) < 0) {
            riscv_take_exception(cpu);
            continue;
        }
        uint32_t raw = insn;
        uint64_t npc = pc + 4;
        if ((insn & 3) != 3) {
            raw = insn & 0xffff;
            insn = riscv_rvc_table[raw];
            npc = pc + 2;
            if (unlikely(insn == 0)) {
                riscv_raise_exception(cpu, EXC_ILLEGAL_INSN, raw);
                riscv_take_exception(cpu);
                continue;
            }
        }
        unsigned rd = (insn >> 7) & 31;
        unsigned rs1 = (insn >> 15) & 31;
        unsigned rs2 = (insn >> 20) & 31;
        unsigned f3 = (insn >> 12) & 7;
        uint64_t a = x[rs1], b = x[rs2];

        switch (insn & 0x7f) {
        case 0x37:  /* LUI */
            x[rd] = sx32(insn & 0xfffff000);
            break;
        case 0x17:  /* AUIPC */
            x[rd] = pc + sx32(insn & 0xfffff000);
            break;
        case 0x6f:  /* JAL */
            x[rd] = npc;
            npc = pc + (uint64_t)imm_j(insn);
            break;
        case 0x67:  /* JALR */
            if (f3 != 0)
                goto illegal;
            x[rd] = npc;
            npc = (a + (uint64_t)imm_i(insn)) & ~1ULL;
            break;
        case 0x63: {    /* BRANCH */
            bool t;
            switch (f3) {
            case 0: t = a == b; break;
            case 1: t = a != b; break;
            case 4: t = (int64_t)a < (int64_t)b; break;
            case 5: t = (int64_t)a >= (int64_t)b; break;
            case 6: t = a < b; break;
            case 7: t = a >= b; break;
            default: goto illegal;
            }
            if (t)
                npc = pc + (uint64_t)imm_b(insn);
            break;
        }
        case 0x03: {    /* LOAD */
            uint64_t va = a + (uint64_t)imm_i(insn), v;
            static const unsigned char sizes[8] = { 1, 2, 4, 8, 1, 2, 4, 0 };
            if (f3 == 7)
                goto illegal;
            if (cpu_load(cpu, va, sizes[f3], &v) < 0)
                break;
            switch (f3) {
            case 0: v = (uint64_t)(int64_t)(int8_t)v; break;
            case 1: v = (uint64_t)(int64_t)(int16_t)v; break;
            case 2: v = sx32(v); break;
            default: break;
            }
            x[rd] = v;
            break;
        }
        case 0x23:  /* STORE */
            if (f3 > 3)
                goto illegal;
            cpu_store(cpu, a + (uint64_t)imm_s(insn), 1u << f3, b);
            break;
        case 0x13: {    /* OP-IMM */
            uint64_t imm = (uint64_t)imm_i(insn);
            unsigned sh = (insn >> 20) & 63;
            switch (f3) {
            case 0: x[rd] = a + imm; break;
            case 1:
                if (insn >> 26)
                    goto illegal;
                x[rd] = a << sh;
                break;
            case 2: x[rd] = (int64_t)a < (int64_t)imm; break;
            case 3: x[rd] = a < imm; break;
            case 4: x[rd] = a ^ imm; break;
            case 5:
                if ((insn >> 26) == 0)
                    x[rd] = a >> sh;
                else if ((insn >> 26) == 0x10)
                    x[rd] = (uint64_t)((int64_t)a >> sh);
                else
                    goto illegal;
                break;
            case 6: x[rd] = a | imm; break;
            default: x[rd] = a & imm; break;
            }
            break;
        }
        case 0x1b: {    /* OP-IMM-32 */
            unsigned sh = (insn >> 20) & 31, f7 = insn >> 25;
            if (f3 == 0)
                x[rd] = sx32(a + (uint64_t)imm_i(insn));
            else if (f3 == 1 && f7 == 0)
                x[rd] = sx32((uint32_t)a << sh);
            else if (f3 == 5 && f7 == 0)
                x[rd] = sx32((uint32_t)a >> sh);
            else if (f3 == 5 && f7 == 0x20)
                x[rd] = sx32((uint32_t)((int32_t)a >> sh));
            else
                goto illegal;
            break;
        }
        case 0x33: {    /* OP */
            unsigned f7 = insn >> 25;
            if (f7 == 0) {
                switch (f3) {
                case 0: x[rd] = a + b; break;
                case 1: x[rd] = a << (b & 63); break;
                case 2: x[rd] = (int64_t)a < (int64_t)b; break;
                case 3: x[rd] = a < b; break;
                case 4: x[rd] = a ^ b; break;
                case 5: x[rd] = a >> (b & 63); break;
                case 6: x[rd] = a | b; break;
                default: x[rd] = a & b; break;
                }
            } else if (f7 == 0x20 && f3 == 0) {
                x[rd] = a - b;
            } else if (f7 == 0x20 && f3 == 5) {
                x[rd] = (uint64_t)((int64_t)a >> (b & 63));
            } else if (f7 == 1) {
                switch (f3) {
                case 0: x[rd] = a * b; break;
                case 1: x[rd] = (uint64_t)(((__int128)(int64_t)a * (__int128)(int64_t)b) >> 64); break;
                case 2: x[rd] = (uint64_t)(((__int128)(int64_t)a * (__int128)b) >> 64); break;
                case 3: x[rd] = (uint64_t)(((unsigned __int128)a * b) >> 64); break;
                case 4: x[rd] = op_div(a, b); break;
                case 5: x[rd] = b ? a / b : UINT64_MAX; break;
                case 6: x[rd] = op_rem(a, b); break;
                default: x[rd] = b ? a % b : a; break;
                }
            } else {
                goto illegal;
            }
            break;
        }
        case 0x3b: {    /* OP-32 */
            unsigned f7 = insn >> 25;
            uint32_t a32 = (uint32_t)a, b32 = (uint32_t)b;
            if (f7 == 0 && f3 == 0) x[rd] = sx32(a32 + b32);
            else if (f7 == 0 && f3 == 1) x[rd] = sx32(a32 << (b & 31));
            else if (f7 == 0 && f3 == 5) x[rd] = sx32(a32 >> (b & 31));
            else if (f7 == 0x20 && f3 == 0) x[rd] = sx32(a32 - b32);
            else if (f7 == 0x20 && f3 == 5) x[rd] = sx32((uint32_t)((int32_t)a32 >> (b & 31)));
            else if (f7 == 1 && f3 == 0) x[rd] = sx32(a32 * b32);
            else if (f7 == 1 && f3 == 4) x[rd] = op_divw(a, b);
            else if (f7 == 1 && f3 == 5) x[rd] = sx32(b32 ? a32 / b32 : UINT32_MAX);
            else if (f7 == 1 && f3 == 6) x[rd] = op_remw(a, b);
            else if (f7 == 1 && f3 == 7) x[rd] = sx32(b32 ? a32 % b32 : a32);
            else goto illegal;
            break;
        }
        case 0x0f:  /* MISC-MEM */
            if (f3 == 0)
                atomic_thread_fence(memory_order_seq_cst);
            else if (f3 != 1)   /* fence.i: nothing cached that could be stale */
                goto illegal;
            break;
        case 0x73:
            if (f3 == 0) {
                exec_system(cpu, insn, pc, &npc);
            } else if (f3 == 4) {
                goto illegal;
            } else {
                riscv_csr_insn(cpu, insn);
            }
            break;
        case 0x2f:
            riscv_amo(cpu, insn);
            break;
        case 0x07: case 0x27: case 0x43: case 0x47: case 0x4b: case 0x4f: case 0x53:
            riscv_fp_exec(cpu, insn);
            break;
        default:
            goto illegal;
        }
        x[0] = 0;
        if (unlikely(cpu->exc_pending)) {
            /* For an expanded compressed instruction, report the bits the guest wrote. */
            if (cpu->exc_cause == EXC_ILLEGAL_INSN && raw != insn)
                cpu->exc_tval = raw;
            riscv_take_exception(cpu);
        } else {
            cpu->pc = npc;
            cpu->instret++;
        }
        if (unlikely(cpu->break_loop))
            break;
        continue;
illegal:
        x[0] = 0;
        riscv_raise_exception(cpu, EXC_ILLEGAL_INSN, raw);
        riscv_take_exception(cpu);
    }
    return done;
}
