/* RVC: each 16-bit instruction is rewritten to its 32-bit equivalent once, at
 * startup, into a 64 Ki-entry table, so the interpreter has one decoder. */
#include "cpu/cpu_internal.h"

#include <pthread.h>

uint32_t riscv_rvc_table[65536];

static uint32_t bits(uint32_t c, int hi, int lo)
{
    return (c >> lo) & ((1u << (hi - lo + 1)) - 1);
}

static int32_t sext(uint32_t v, int width)
{
    return (int32_t)(v << (32 - width)) >> (32 - width);
}

static uint32_t i_type(int32_t imm, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op)
{
    return ((uint32_t)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}

static uint32_t s_type(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t op)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (u & 0x1f) << 7 | op;
}

static uint32_t r_type(uint32_t f7, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t rd,
                       uint32_t op)
{
    return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}

static uint32_t b_type(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 12) & 1) << 31 | ((u >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 |
           f3 << 12 | ((u >> 1) & 0xf) << 8 | ((u >> 11) & 1) << 7 | 0x63;
}

static uint32_t j_type(int32_t imm, uint32_t rd)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 20) & 1) << 31 | ((u >> 1) & 0x3ff) << 21 | ((u >> 11) & 1) << 20 |
           ((u >> 12) & 0xff) << 12 | rd << 7 | 0x6f;
}

enum { OP_LOAD = 0x03, OP_LOAD_FP = 0x07, OP_IMM = 0x13, OP_IMM32 = 0x1b, OP_STORE = 0x23,
       OP_STORE_FP = 0x27, OP_OP = 0x33, OP_LUI = 0x37, OP_OP32 = 0x3b, OP_JALR = 0x67 };

uint32_t riscv_expand_compressed(uint16_t c16)
{
    uint32_t c = c16;
    uint32_t f3 = bits(c, 15, 13);
    uint32_t rd = bits(c, 11, 7);           /* also rs1 in quadrants 1 and 2 */
    uint32_t rs2 = bits(c, 6, 2);
    uint32_t rdp = bits(c, 4, 2) + 8;       /* rd' / rs2' */
    uint32_t rs1p = bits(c, 9, 7) + 8;
    int32_t imm6 = sext(bits(c, 12, 12) << 5 | bits(c, 6, 2), 6);
    uint32_t ld_off = bits(c, 12, 10) << 3 | bits(c, 6, 5) << 6;   /* C.LD/C.SD/C.FLD/C.FSD */
    uint32_t lw_off = bits(c, 12, 10) << 3 | bits(c, 6, 6) << 2 | bits(c, 5, 5) << 6;

    switch (bits(c, 1, 0)) {
    case 0:
        switch (f3) {
        case 0: {   /* C.ADDI4SPN */
            uint32_t imm = bits(c, 12, 11) << 4 | bits(c, 10, 7) << 6 |
                           bits(c, 6, 6) << 2 | bits(c, 5, 5) << 3;
            return imm ? i_type((int32_t)imm, 2, 0, rdp, OP_IMM) : 0;
        }
        case 1: return i_type((int32_t)ld_off, rs1p, 3, rdp, OP_LOAD_FP);   /* C.FLD */
        case 2: return i_type((int32_t)lw_off, rs1p, 2, rdp, OP_LOAD);      /* C.LW */
        case 3: return i_type((int32_t)ld_off, rs1p, 3, rdp, OP_LOAD);      /* C.LD */
        case 5: return s_type((int32_t)ld_off, rdp, rs1p, 3, OP_STORE_FP);  /* C.FSD */
        case 6: return s_type((int32_t)lw_off, rdp, rs1p, 2, OP_STORE);     /* C.SW */
        case 7: return s_type((int32_t)ld_off, rdp, rs1p, 3, OP_STORE);     /* C.SD */
        default: return 0;
        }
    case 1:
        switch (f3) {
        case 0: return i_type(imm6, rd, 0, rd, OP_IMM);                     /* C.ADDI */
        case 1: return rd ? i_type(imm6, rd, 0, rd, OP_IMM32) : 0;          /* C.ADDIW */
        case 2: return i_type(imm6, 0, 0, rd, OP_IMM);                      /* C.LI */
        case 3:
            if (rd == 2) {  /* C.ADDI16SP */
                int32_t imm = sext(bits(c, 12, 12) << 9 | bits(c, 6, 6) << 4 |
                                   bits(c, 5, 5) << 6 | bits(c, 4, 3) << 7 |
                                   bits(c, 2, 2) << 5, 10);
                return imm ? i_type(imm, 2, 0, 2, OP_IMM) : 0;
            }
            /* C.LUI */
            return imm6 ? ((uint32_t)imm6 << 12 | rd << 7 | OP_LUI) : 0;
        case 4: {
            uint32_t shamt = bits(c, 12, 12) << 5 | rs2;
            switch (bits(c, 11, 10)) {
            case 0: return i_type((int32_t)shamt, rs1p, 5, rs1p, OP_IMM);           /* C.SRLI */
            case 1: return i_type((int32_t)(shamt | 0x400), rs1p, 5, rs1p, OP_IMM); /* C.SRAI */
            case 2: return i_type(imm6, rs1p, 7, rs1p, OP_IMM);                     /* C.ANDI */
            default: {
                uint32_t f2 = bits(c, 6, 5);
                if (!bits(c, 12, 12)) {
                    static const uint32_t f3s[4] = { 0, 4, 6, 7 };
                    return r_type(f2 == 0 ? 0x20 : 0, rdp, rs1p, f3s[f2], rs1p, OP_OP);
                }
                if (f2 == 0) return r_type(0x20, rdp, rs1p, 0, rs1p, OP_OP32);      /* C.SUBW */
                if (f2 == 1) return r_type(0, rdp, rs1p, 0, rs1p, OP_OP32);         /* C.ADDW */
                return 0;
            }
            }
        }
        case 5: {   /* C.J */
            int32_t off = sext(bits(c, 12, 12) << 11 | bits(c, 11, 11) << 4 |
                               bits(c, 10, 9) << 8 | bits(c, 8, 8) << 10 |
                               bits(c, 7, 7) << 6 | bits(c, 6, 6) << 7 |
                               bits(c, 5, 3) << 1 | bits(c, 2, 2) << 5, 12);
            return j_type(off, 0);
        }
        default: {  /* C.BEQZ, C.BNEZ */
            int32_t off = sext(bits(c, 12, 12) << 8 | bits(c, 11, 10) << 3 |
                               bits(c, 6, 5) << 6 | bits(c, 4, 3) << 1 |
                               bits(c, 2, 2) << 5, 9);
            return b_type(off, 0, rs1p, f3 == 6 ? 0 : 1);
        }
        }
    case 2: {
        uint32_t ldsp = bits(c, 12, 12) << 5 | bits(c, 6, 5) << 3 | bits(c, 4, 2) << 6;
        uint32_t sdsp = bits(c, 12, 10) << 3 | bits(c, 9, 7) << 6;
        switch (f3) {
        case 0: return i_type((int32_t)(bits(c, 12, 12) << 5 | rs2), rd, 1, rd, OP_IMM); /* C.SLLI */
        case 1: return i_type((int32_t)ldsp, 2, 3, rd, OP_LOAD_FP);                 /* C.FLDSP */
        case 2: {   /* C.LWSP */
            uint32_t off = bits(c, 12, 12) << 5 | bits(c, 6, 4) << 2 | bits(c, 3, 2) << 6;
            return rd ? i_type((int32_t)off, 2, 2, rd, OP_LOAD) : 0;
        }
        case 3: return rd ? i_type((int32_t)ldsp, 2, 3, rd, OP_LOAD) : 0;          /* C.LDSP */
        case 4:
            if (!bits(c, 12, 12)) {
                if (rs2 == 0)   /* C.JR */
                    return rd ? i_type(0, rd, 0, 0, OP_JALR) : 0;
                return r_type(0, rs2, 0, 0, rd, OP_OP);                            /* C.MV */
            }
            if (rs2 == 0) {
                if (rd == 0)
                    return 0x00100073;                                             /* C.EBREAK */
                return i_type(0, rd, 0, 1, OP_JALR);                               /* C.JALR */
            }
            return r_type(0, rs2, rd, 0, rd, OP_OP);                               /* C.ADD */
        case 5: return s_type((int32_t)sdsp, rs2, 2, 3, OP_STORE_FP);              /* C.FSDSP */
        case 6: {   /* C.SWSP */
            uint32_t off = bits(c, 12, 9) << 2 | bits(c, 8, 7) << 6;
            return s_type((int32_t)off, rs2, 2, 2, OP_STORE);
        }
        default: return s_type((int32_t)sdsp, rs2, 2, 3, OP_STORE);                /* C.SDSP */
        }
    }
    default:
        return 0;
    }
}

static pthread_once_t rvc_once = PTHREAD_ONCE_INIT;

static void rvc_fill(void)
{
    for (uint32_t i = 0; i < 65536; i++)
        riscv_rvc_table[i] = (i & 3) == 3 ? 0 : riscv_expand_compressed((uint16_t)i);
}

void riscv_compressed_init(void)
{
    pthread_once(&rvc_once, rvc_fill);
}
