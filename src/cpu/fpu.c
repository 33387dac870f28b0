/* F and D extensions: decoding, register file access (NaN-boxing), mstatus.FS
 * and rounding-mode checks.  The arithmetic lives in fpu_soft.c: exact
 * software IEEE for everything, plus a host-FPU fast path for RNE
 * arithmetic once NX has accrued (the usual state of a running program),
 * taken only when it provably gives the same bits and flags. */
#include "cpu/riscv.h"

#include "cpu/fpu_soft.h"

enum {
    OPC_LOAD_FP = 0x07, OPC_STORE_FP = 0x27, OPC_MADD = 0x43, OPC_MSUB = 0x47,
    OPC_NMSUB = 0x4b, OPC_NMADD = 0x4f, OPC_OP_FP = 0x53,
};

#define BOX32 0xffffffff00000000ULL

static int illegal(RiscvCpu *cpu, uint32_t insn)
{
    riscv_raise_exception(cpu, EXC_ILLEGAL_INSN, insn);
    return -1;
}

/* Reads an operand in format f.  A single whose upper 32 bits are not all
 * ones is not a valid NaN-boxed value and reads as the canonical NaN. */
static uint64_t freg(const RiscvCpu *cpu, unsigned r, SfFmt f)
{
    uint64_t v = cpu->f[r];
    if (f == SF_F64)
        return v;
    return (v & BOX32) == BOX32 ? (uint32_t)v : SF_CANON_NAN32;
}

/* mstatus.SD is derived from FS when mstatus is read (csr.c). */
static void mark_dirty(RiscvCpu *cpu)
{
    cpu->mstatus |= MSTATUS_FS;
}

static void set_freg(RiscvCpu *cpu, unsigned r, SfFmt f, uint64_t v)
{
    cpu->f[r] = f == SF_F64 ? v : BOX32 | (uint32_t)v;
    mark_dirty(cpu);
}

static void set_xreg(RiscvCpu *cpu, unsigned r, uint64_t v)
{
    if (r)
        cpu->x[r] = v;
}

static void accrue(RiscvCpu *cpu, uint32_t fl)
{
    if (fl) {
        cpu->fflags |= fl;
        mark_dirty(cpu);
    }
}

/* Effective rounding mode, or -1 if reserved (rm 5/6, or dynamic with frm >= 5). */
static int rounding_mode(const RiscvCpu *cpu, uint32_t insn)
{
    unsigned rm = (insn >> 12) & 7;
    if (rm == 7)
        rm = cpu->frm & 7;
    return rm <= SF_RMM ? (int)rm : -1;
}

static int exec_load_store(RiscvCpu *cpu, uint32_t insn, unsigned opc)
{
    unsigned width = (insn >> 12) & 7;
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
    unsigned size = width == 2 ? 4 : 8;
    int64_t imm;
    uint64_t addr, v;

    if (width != 2 && width != 3)
        return illegal(cpu, insn);
    if (opc == OPC_LOAD_FP) {
        imm = (int32_t)insn >> 20;
        addr = cpu->x[rs1] + (uint64_t)imm;
        if (riscv_load(cpu, addr, size, &v) < 0)
            return -1;
        set_freg(cpu, rd, size == 4 ? SF_F32 : SF_F64, v);
        return 0;
    }
    imm = ((int32_t)(insn & 0xfe000000) >> 20) | (int32_t)((insn >> 7) & 31);
    addr = cpu->x[rs1] + (uint64_t)imm;
    /* FSW stores the low 32 bits as they are, without checking the boxing. */
    v = size == 4 ? (uint32_t)cpu->f[rs2] : cpu->f[rs2];
    return riscv_store(cpu, addr, size, v) < 0 ? -1 : 0;
}

static int exec_fma(RiscvCpu *cpu, uint32_t insn, unsigned opc)
{
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
    unsigned rs3 = insn >> 27, fmt = (insn >> 25) & 3;
    int rm = rounding_mode(cpu, insn);
    uint32_t fl = 0;
    SfFmt f = fmt ? SF_F64 : SF_F32;
    bool neg_prod = opc == OPC_NMSUB || opc == OPC_NMADD;
    bool neg_c = opc == OPC_MSUB || opc == OPC_NMADD;
    uint64_t sign = f == SF_F64 ? 1ULL << 63 : 1ULL << 31;
    uint64_t a, b, c, r;

    if (fmt > 1 || rm < 0)
        return illegal(cpu, insn);
    a = freg(cpu, rs1, f);
    b = freg(cpu, rs2, f);
    c = freg(cpu, rs3, f);
    if (rm == SF_RNE && (cpu->fflags & FFLAG_NX) &&
        sf_host_fma_rne(f, neg_prod ? a ^ sign : a, b, neg_c ? c ^ sign : c, &r)) {
        set_freg(cpu, rd, f, r);
        return 0;
    }
    r = sf_fma(f, a, b, c, neg_prod, neg_c, rm, &fl);
    set_freg(cpu, rd, f, r);
    accrue(cpu, fl);
    return 0;
}

static int exec_op_fp(RiscvCpu *cpu, uint32_t insn)
{
    unsigned rd = (insn >> 7) & 31, rs1 = (insn >> 15) & 31, rs2 = (insn >> 20) & 31;
    unsigned funct3 = (insn >> 12) & 7, funct5 = insn >> 27, fmt = (insn >> 25) & 3;
    SfFmt f = fmt ? SF_F64 : SF_F32;
    int rm = rounding_mode(cpu, insn);
    uint32_t fl = 0;
    uint64_t a, b, r;

    if (fmt > 1)
        return illegal(cpu, insn);
    a = freg(cpu, rs1, f);
    b = freg(cpu, rs2, f);

    switch (funct5) {
    case 0x00: case 0x01: case 0x02: case 0x03:     /* FADD FSUB FMUL FDIV */
        if (rm < 0)
            return illegal(cpu, insn);
        /* funct5 0..3 are SF_OP_ADD..SF_OP_DIV */
        if (rm == SF_RNE && (cpu->fflags & FFLAG_NX) && sf_host_rne(f, (int)funct5, a, b, &r))
            break;
        switch (funct5) {
        case 0x00: r = sf_add(f, a, b, rm, &fl); break;
        case 0x01: r = sf_sub(f, a, b, rm, &fl); break;
        case 0x02: r = sf_mul(f, a, b, rm, &fl); break;
        default:   r = sf_div(f, a, b, rm, &fl); break;
        }
        break;
    case 0x0b:                                      /* FSQRT */
        if (rs2 != 0 || rm < 0)
            return illegal(cpu, insn);
        if (rm == SF_RNE && (cpu->fflags & FFLAG_NX) && sf_host_rne(f, SF_OP_SQRT, a, 0, &r))
            break;
        r = sf_sqrt(f, a, rm, &fl);
        break;
    case 0x04: {                                    /* FSGNJ FSGNJN FSGNJX */
        uint64_t sign = f == SF_F64 ? 1ULL << 63 : 1ULL << 31;
        if (funct3 > 2)
            return illegal(cpu, insn);
        if (funct3 == 0)
            r = (a & ~sign) | (b & sign);
        else if (funct3 == 1)
            r = (a & ~sign) | (~b & sign);
        else
            r = a ^ (b & sign);
        break;
    }
    case 0x05:                                      /* FMIN FMAX */
        if (funct3 > 1)
            return illegal(cpu, insn);
        r = funct3 ? sf_max(f, a, b, &fl) : sf_min(f, a, b, &fl);
        break;
    case 0x08:                                      /* FCVT.S.D, FCVT.D.S */
        if (rs2 != (fmt ? 0u : 1u) || rm < 0)
            return illegal(cpu, insn);
        r = sf_cvt(f, fmt ? SF_F32 : SF_F64, freg(cpu, rs1, fmt ? SF_F32 : SF_F64), rm, &fl);
        break;
    case 0x14: {                                    /* FLE FLT FEQ */
        bool res;
        if (funct3 > 2)
            return illegal(cpu, insn);
        if (funct3 == 0)
            res = sf_le(f, a, b, &fl);
        else if (funct3 == 1)
            res = sf_lt(f, a, b, &fl);
        else
            res = sf_eq(f, a, b, &fl);
        set_xreg(cpu, rd, res);
        accrue(cpu, fl);
        return 0;
    }
    case 0x18:                                      /* FCVT.{W,WU,L,LU}.{S,D} */
        if (rs2 > 3 || rm < 0)
            return illegal(cpu, insn);
        set_xreg(cpu, rd, sf_to_int(f, a, !(rs2 & 1), rs2 & 2 ? 64 : 32, rm, &fl));
        accrue(cpu, fl);
        return 0;
    case 0x1a:                                      /* FCVT.{S,D}.{W,WU,L,LU} */
        if (rs2 > 3 || rm < 0)
            return illegal(cpu, insn);
        r = sf_from_int(f, cpu->x[rs1], !(rs2 & 1), rs2 & 2 ? 64 : 32, rm, &fl);
        break;
    case 0x1c:                                      /* FMV.X.{W,D}, FCLASS */
        if (rs2 != 0 || funct3 > 1)
            return illegal(cpu, insn);
        if (funct3 == 1)
            set_xreg(cpu, rd, sf_class(f, a));
        else    /* raw bits, no unboxing; FMV.X.W sign-extends bit 31 */
            set_xreg(cpu, rd, f == SF_F64 ? cpu->f[rs1] :
                     (uint64_t)(int64_t)(int32_t)(uint32_t)cpu->f[rs1]);
        return 0;
    case 0x1e:                                      /* FMV.{W,D}.X */
        if (rs2 != 0 || funct3 != 0)
            return illegal(cpu, insn);
        r = cpu->x[rs1];
        break;
    default:
        return illegal(cpu, insn);
    }
    set_freg(cpu, rd, f, r);
    accrue(cpu, fl);
    return 0;
}

int riscv_fp_exec(RiscvCpu *cpu, uint32_t insn)
{
    unsigned opc = insn & 0x7f;

    if (((cpu->mstatus & MSTATUS_FS) >> 13) == FS_OFF)
        return illegal(cpu, insn);
    switch (opc) {
    case OPC_LOAD_FP:
    case OPC_STORE_FP:
        return exec_load_store(cpu, insn, opc);
    case OPC_MADD:
    case OPC_MSUB:
    case OPC_NMSUB:
    case OPC_NMADD:
        return exec_fma(cpu, insn, opc);
    case OPC_OP_FP:
        return exec_op_fp(cpu, insn);
    default:
        return illegal(cpu, insn);
    }
}
