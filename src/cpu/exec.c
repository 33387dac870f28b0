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

/* Table index of an instruction: opcode plus funct3, so most instructions
 * reach their own handler with a single indirect jump. */
#define IDX(op, f3) ((op) | (f3) << 7)
#define ALLF3(op, l) [IDX(op, 0)] = l, [IDX(op, 1)] = l, [IDX(op, 2)] = l, [IDX(op, 3)] = l, \
                     [IDX(op, 4)] = l, [IDX(op, 5)] = l, [IDX(op, 6)] = l, [IDX(op, 7)] = l

/* The dispatch code is replicated at the end of every handler (threaded
 * code), which lets the host predict each handler's successor separately; a
 * single shared switch jump predicts poorly. */
#if defined(__GNUC__) && !defined(__clang__)
/* Keep GCC from merging the replicated dispatch blocks back into one. */
__attribute__((optimize("no-crossjumping", "no-gcse")))
#endif
uint64_t riscv_exec(RiscvCpu *cpu, uint64_t n)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
#pragma GCC diagnostic ignored "-Wpedantic"
    static void *const tab[1024] = {
        [0 ... 1023] = &&l_illegal,
        ALLF3(0x37, &&l_lui), ALLF3(0x17, &&l_auipc), ALLF3(0x6f, &&l_jal),
        [IDX(0x67, 0)] = &&l_jalr,
        [IDX(0x63, 0)] = &&l_beq, [IDX(0x63, 1)] = &&l_bne, [IDX(0x63, 4)] = &&l_blt,
        [IDX(0x63, 5)] = &&l_bge, [IDX(0x63, 6)] = &&l_bltu, [IDX(0x63, 7)] = &&l_bgeu,
        [IDX(0x03, 0)] = &&l_lb, [IDX(0x03, 1)] = &&l_lh, [IDX(0x03, 2)] = &&l_lw,
        [IDX(0x03, 3)] = &&l_ld, [IDX(0x03, 4)] = &&l_lbu, [IDX(0x03, 5)] = &&l_lhu,
        [IDX(0x03, 6)] = &&l_lwu,
        [IDX(0x23, 0)] = &&l_sb, [IDX(0x23, 1)] = &&l_sh, [IDX(0x23, 2)] = &&l_sw,
        [IDX(0x23, 3)] = &&l_sd,
        [IDX(0x13, 0)] = &&l_addi, [IDX(0x13, 1)] = &&l_slli, [IDX(0x13, 2)] = &&l_slti,
        [IDX(0x13, 3)] = &&l_sltiu, [IDX(0x13, 4)] = &&l_xori, [IDX(0x13, 5)] = &&l_srli,
        [IDX(0x13, 6)] = &&l_ori, [IDX(0x13, 7)] = &&l_andi,
        [IDX(0x1b, 0)] = &&l_addiw, [IDX(0x1b, 1)] = &&l_slliw, [IDX(0x1b, 5)] = &&l_srliw,
        [IDX(0x33, 0)] = &&l_op0, [IDX(0x33, 1)] = &&l_op1, [IDX(0x33, 2)] = &&l_op2,
        [IDX(0x33, 3)] = &&l_op3, [IDX(0x33, 4)] = &&l_op4, [IDX(0x33, 5)] = &&l_op5,
        [IDX(0x33, 6)] = &&l_op6, [IDX(0x33, 7)] = &&l_op7,
        ALLF3(0x3b, &&l_op32),
        [IDX(0x0f, 0)] = &&l_fence, [IDX(0x0f, 1)] = &&l_fence_i,
        ALLF3(0x73, &&l_system),
        ALLF3(0x2f, &&l_amo),
        ALLF3(0x07, &&l_fp), ALLF3(0x27, &&l_fp), ALLF3(0x43, &&l_fp), ALLF3(0x47, &&l_fp),
        ALLF3(0x4b, &&l_fp), ALLF3(0x4f, &&l_fp), ALLF3(0x53, &&l_fp),
    };
#pragma GCC diagnostic pop
    uint64_t *const x = cpu->x;
    uint64_t done = 0, retired = 0;
    uint64_t pc = cpu->pc, npc = 0, a = 0, b = 0;
    uint32_t insn = 0, raw = 0;
    unsigned rd = 0;

#define DISPATCH() do {                                                          \
        if (unlikely(done >= n))                                                 \
            goto out;                                                            \
        done++;                                                                  \
        if (likely((pc & ~0xfffULL) == cpu->fetch_va && (pc & 0xfff) <= 0xffc)) {  \
            memcpy(&insn, (const void *)(uintptr_t)(pc + cpu->fetch_addend), 4);   \
        } else {                                                                 \
            cpu->pc = pc;                                                        \
            if (riscv_fetch_slow(cpu, &insn) < 0)                                \
                goto fetch_fault;                                                \
        }                                                                        \
        raw = insn;                                                              \
        npc = pc + 4;                                                            \
        if ((insn & 3) != 3) {                                                   \
            raw = insn & 0xffff;                                                 \
            insn = riscv_rvc_table[raw];    /* 0 (illegal) dispatches to l_illegal */ \
            npc = pc + 2;                                                        \
        }                                                                        \
        rd = (insn >> 7) & 31;                                                   \
        a = x[(insn >> 15) & 31];                                                \
        b = x[(insn >> 20) & 31];                                                \
        goto *tab[(insn & 0x7f) | ((insn >> 5) & 0x380)];                        \
    } while (0)
    /* Instructions that cannot trap. */
#define NEXT() do { x[0] = 0; pc = npc; retired++; DISPATCH(); } while (0)
    /* Instructions that may have raised an exception. */
#define NEXT_CHECKED() do {                                                      \
        if (unlikely(cpu->exc_pending))                                          \
            goto exception;                                                      \
        NEXT();                                                                  \
    } while (0)
#define LOAD(size, conv) do {                                                    \
        uint64_t va_ = a + (uint64_t)imm_i(insn), v;                             \
        uint8_t *h_ = tlb_host(cpu->tlb_load, cpu->tlb_ctx_data, va_, size);     \
        if (likely(h_ != NULL)) {                                                \
            v = ld_host(h_, size);                                               \
        } else {                                                                 \
            cpu->pc = pc;                                                        \
            if (riscv_load(cpu, va_, size, &v) < 0)                              \
                goto exception;                                                  \
        }                                                                        \
        x[rd] = (conv);                                                          \
        NEXT();                                                                  \
    } while (0)
#define STORE(size) do {                                                         \
        uint64_t va_ = a + (uint64_t)imm_s(insn);                                \
        uint8_t *h_ = tlb_host(cpu->tlb_store, cpu->tlb_ctx_data, va_, size);    \
        if (likely(h_ != NULL)) {                                                \
            st_host(h_, size, b);                                                \
        } else {                                                                 \
            cpu->pc = pc;                                                        \
            if (riscv_store(cpu, va_, size, b) < 0)                              \
                goto exception;                                                  \
        }                                                                        \
        NEXT();                                                                  \
    } while (0)

    DISPATCH();

l_lui:   x[rd] = sx32(insn & 0xfffff000); NEXT();
l_auipc: x[rd] = pc + sx32(insn & 0xfffff000); NEXT();
l_jal:   x[rd] = npc; npc = pc + (uint64_t)imm_j(insn); NEXT();
l_jalr:  x[rd] = npc; npc = (a + (uint64_t)imm_i(insn)) & ~1ULL; NEXT();
l_beq:   if (a == b) npc = pc + (uint64_t)imm_b(insn); NEXT();
l_bne:   if (a != b) npc = pc + (uint64_t)imm_b(insn); NEXT();
l_blt:   if ((int64_t)a < (int64_t)b) npc = pc + (uint64_t)imm_b(insn); NEXT();
l_bge:   if ((int64_t)a >= (int64_t)b) npc = pc + (uint64_t)imm_b(insn); NEXT();
l_bltu:  if (a < b) npc = pc + (uint64_t)imm_b(insn); NEXT();
l_bgeu:  if (a >= b) npc = pc + (uint64_t)imm_b(insn); NEXT();
l_lb:    LOAD(1, (uint64_t)(int64_t)(int8_t)v);
l_lh:    LOAD(2, (uint64_t)(int64_t)(int16_t)v);
l_lw:    LOAD(4, sx32(v));
l_ld:    LOAD(8, v);
l_lbu:   LOAD(1, v);
l_lhu:   LOAD(2, v);
l_lwu:   LOAD(4, v);
l_sb:    STORE(1);
l_sh:    STORE(2);
l_sw:    STORE(4);
l_sd:    STORE(8);
l_addi:  x[rd] = a + (uint64_t)imm_i(insn); NEXT();
l_slli:
    if (insn >> 26)
        goto l_illegal;
    x[rd] = a << ((insn >> 20) & 63);
    NEXT();
l_slti:  x[rd] = (int64_t)a < imm_i(insn); NEXT();
l_sltiu: x[rd] = a < (uint64_t)imm_i(insn); NEXT();
l_xori:  x[rd] = a ^ (uint64_t)imm_i(insn); NEXT();
l_srli:
    if ((insn >> 26) == 0)
        x[rd] = a >> ((insn >> 20) & 63);
    else if ((insn >> 26) == 0x10)
        x[rd] = (uint64_t)((int64_t)a >> ((insn >> 20) & 63));
    else
        goto l_illegal;
    NEXT();
l_ori:   x[rd] = a | (uint64_t)imm_i(insn); NEXT();
l_andi:  x[rd] = a & (uint64_t)imm_i(insn); NEXT();
l_addiw: x[rd] = sx32(a + (uint64_t)imm_i(insn)); NEXT();
l_slliw:
    if (insn >> 25)
        goto l_illegal;
    x[rd] = sx32((uint32_t)a << ((insn >> 20) & 31));
    NEXT();
l_srliw:
    if ((insn >> 25) == 0)
        x[rd] = sx32((uint32_t)a >> ((insn >> 20) & 31));
    else if ((insn >> 25) == 0x20)
        x[rd] = sx32((uint32_t)((int32_t)a >> ((insn >> 20) & 31)));
    else
        goto l_illegal;
    NEXT();
l_op0:
    switch (insn >> 25) {
    case 0x00: x[rd] = a + b; break;
    case 0x20: x[rd] = a - b; break;
    case 0x01: x[rd] = a * b; break;
    default: goto l_illegal;
    }
    NEXT();
l_op1:
    switch (insn >> 25) {
    case 0x00: x[rd] = a << (b & 63); break;
    case 0x01: x[rd] = (uint64_t)(((__int128)(int64_t)a * (__int128)(int64_t)b) >> 64); break;
    default: goto l_illegal;
    }
    NEXT();
l_op2:
    switch (insn >> 25) {
    case 0x00: x[rd] = (int64_t)a < (int64_t)b; break;
    case 0x01: x[rd] = (uint64_t)(((__int128)(int64_t)a * (__int128)b) >> 64); break;
    default: goto l_illegal;
    }
    NEXT();
l_op3:
    switch (insn >> 25) {
    case 0x00: x[rd] = a < b; break;
    case 0x01: x[rd] = (uint64_t)(((unsigned __int128)a * b) >> 64); break;
    default: goto l_illegal;
    }
    NEXT();
l_op4:
    switch (insn >> 25) {
    case 0x00: x[rd] = a ^ b; break;
    case 0x01: x[rd] = op_div(a, b); break;
    default: goto l_illegal;
    }
    NEXT();
l_op5:
    switch (insn >> 25) {
    case 0x00: x[rd] = a >> (b & 63); break;
    case 0x20: x[rd] = (uint64_t)((int64_t)a >> (b & 63)); break;
    case 0x01: x[rd] = b ? a / b : UINT64_MAX; break;
    default: goto l_illegal;
    }
    NEXT();
l_op6:
    switch (insn >> 25) {
    case 0x00: x[rd] = a | b; break;
    case 0x01: x[rd] = op_rem(a, b); break;
    default: goto l_illegal;
    }
    NEXT();
l_op7:
    switch (insn >> 25) {
    case 0x00: x[rd] = a & b; break;
    case 0x01: x[rd] = b ? a % b : a; break;
    default: goto l_illegal;
    }
    NEXT();
l_op32: {
        unsigned f7 = insn >> 25, f3 = (insn >> 12) & 7;
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
        else goto l_illegal;
        NEXT();
    }
l_fence:
    /* Only ordering earlier writes before later reads needs a full host
     * barrier (mfence on x86); acquire/release-style fences are cheaper. */
    if ((insn & (1u << 24)) && (insn & (1u << 21)))
        atomic_thread_fence(memory_order_seq_cst);
    else
        atomic_thread_fence(memory_order_acq_rel);
    NEXT();
l_fence_i:
    /* Nothing is cached that a store could make stale. */
    NEXT();
l_system: {
        unsigned f3 = (insn >> 12) & 7;
        cpu->pc = pc;
        cpu->instret += retired;    /* CSR reads of instret must be exact */
        retired = 0;
        if (f3 == 0)
            exec_system(cpu, insn, pc, &npc);
        else if (f3 == 4)
            goto l_illegal;
        else
            riscv_csr_insn(cpu, insn);
        if (unlikely(cpu->exc_pending))
            goto exception;
        x[0] = 0;
        pc = npc;
        retired++;
        if (unlikely(cpu->break_loop))
            goto out;
        DISPATCH();
    }
l_amo:
    cpu->pc = pc;
    riscv_amo(cpu, insn);
    NEXT_CHECKED();
l_fp:
    cpu->pc = pc;
    riscv_fp_exec(cpu, insn);
    NEXT_CHECKED();
l_illegal:
    cpu->pc = pc;
    riscv_raise_exception(cpu, EXC_ILLEGAL_INSN, raw);
    goto exception;
exception:
    x[0] = 0;
    /* For an expanded compressed instruction, report the bits the guest wrote. */
    if (cpu->exc_cause == EXC_ILLEGAL_INSN && raw != insn)
        cpu->exc_tval = raw;
    cpu->pc = pc;
fetch_fault:
    riscv_take_exception(cpu);
    pc = cpu->pc;
    DISPATCH();
out:
    cpu->pc = pc;
    cpu->instret += retired;
    return done;
#undef DISPATCH
#undef NEXT
#undef NEXT_CHECKED
#undef LOAD
#undef STORE
}
