/* RISC-V instruction encoders (RV64GC subset used by the differential test).
 * Header-only so the host generator and the riscv64 runner share them. */
#ifndef DIFF_RVENC_H
#define DIFF_RVENC_H

#include <stdint.h>

enum {
    OPC_LOAD = 0x03, OPC_LOAD_FP = 0x07, OPC_MISC_MEM = 0x0f, OPC_OP_IMM = 0x13,
    OPC_AUIPC = 0x17, OPC_OP_IMM32 = 0x1b, OPC_STORE = 0x23, OPC_STORE_FP = 0x27,
    OPC_AMO = 0x2f, OPC_OP = 0x33, OPC_LUI = 0x37, OPC_OP32 = 0x3b,
    OPC_MADD = 0x43, OPC_MSUB = 0x47, OPC_NMSUB = 0x4b, OPC_NMADD = 0x4f,
    OPC_OP_FP = 0x53, OPC_BRANCH = 0x63, OPC_JALR = 0x67, OPC_JAL = 0x6f,
    OPC_SYSTEM = 0x73,
};

static inline uint32_t rv_r(unsigned op, unsigned f3, unsigned f7, unsigned rd,
                            unsigned rs1, unsigned rs2)
{
    return (f7 & 0x7f) << 25 | (rs2 & 31) << 20 | (rs1 & 31) << 15 | (f3 & 7) << 12 |
           (rd & 31) << 7 | op;
}

static inline uint32_t rv_r4(unsigned op, unsigned rm, unsigned fmt, unsigned rd,
                             unsigned rs1, unsigned rs2, unsigned rs3)
{
    return (rs3 & 31) << 27 | (fmt & 3) << 25 | (rs2 & 31) << 20 | (rs1 & 31) << 15 |
           (rm & 7) << 12 | (rd & 31) << 7 | op;
}

static inline uint32_t rv_i(unsigned op, unsigned f3, unsigned rd, unsigned rs1, int32_t imm)
{
    return ((uint32_t)imm & 0xfff) << 20 | (rs1 & 31) << 15 | (f3 & 7) << 12 |
           (rd & 31) << 7 | op;
}

static inline uint32_t rv_s(unsigned op, unsigned f3, unsigned rs1, unsigned rs2, int32_t imm)
{
    uint32_t u = (uint32_t)imm;
    return ((u >> 5) & 0x7f) << 25 | (rs2 & 31) << 20 | (rs1 & 31) << 15 | (f3 & 7) << 12 |
           (u & 31) << 7 | op;
}

static inline uint32_t rv_b(unsigned f3, unsigned rs1, unsigned rs2, int32_t off)
{
    uint32_t u = (uint32_t)off;
    return ((u >> 12) & 1) << 31 | ((u >> 5) & 0x3f) << 25 | (rs2 & 31) << 20 |
           (rs1 & 31) << 15 | (f3 & 7) << 12 | ((u >> 1) & 0xf) << 8 |
           ((u >> 11) & 1) << 7 | OPC_BRANCH;
}

static inline uint32_t rv_u(unsigned op, unsigned rd, uint32_t imm20)
{
    return (imm20 & 0xfffff) << 12 | (rd & 31) << 7 | op;
}

static inline uint32_t rv_j(unsigned rd, int32_t off)
{
    uint32_t u = (uint32_t)off;
    return ((u >> 20) & 1) << 31 | ((u >> 1) & 0x3ff) << 21 | ((u >> 11) & 1) << 20 |
           ((u >> 12) & 0xff) << 12 | (rd & 31) << 7 | OPC_JAL;
}

static inline uint32_t rv_csr(unsigned f3, unsigned rd, unsigned rs1, unsigned csr)
{
    return (csr & 0xfff) << 20 | (rs1 & 31) << 15 | (f3 & 7) << 12 | (rd & 31) << 7 |
           OPC_SYSTEM;
}

static inline uint32_t rv_amo(unsigned f5, unsigned aq, unsigned rl, unsigned w64,
                              unsigned rd, unsigned rs1, unsigned rs2)
{
    return (f5 & 31) << 27 | (aq & 1) << 26 | (rl & 1) << 25 | (rs2 & 31) << 20 |
           (rs1 & 31) << 15 | (w64 ? 3u : 2u) << 12 | (rd & 31) << 7 | OPC_AMO;
}

/* --- compressed (16-bit) --- */
#define RVC_BIT(v, b) ((((uint32_t)(v)) >> (b)) & 1u)
#define RVC_BITS(v, hi, lo) ((((uint32_t)(v)) >> (lo)) & ((1u << ((hi) - (lo) + 1)) - 1u))

/* c.lw/c.ld/c.fld/c.sw/c.sd/c.fsd: f3 selects, r is rd' or rs2' (8..15). */
static inline uint16_t rvc_ls_w(unsigned f3, unsigned rs1, unsigned r, unsigned uimm)
{
    return (uint16_t)(f3 << 13 | RVC_BITS(uimm, 5, 3) << 10 | (rs1 - 8) << 7 |
                      RVC_BIT(uimm, 2) << 6 | RVC_BIT(uimm, 6) << 5 | (r - 8) << 2);
}
static inline uint16_t rvc_ls_d(unsigned f3, unsigned rs1, unsigned r, unsigned uimm)
{
    return (uint16_t)(f3 << 13 | RVC_BITS(uimm, 5, 3) << 10 | (rs1 - 8) << 7 |
                      RVC_BITS(uimm, 7, 6) << 5 | (r - 8) << 2);
}
static inline uint16_t rvc_addi4spn(unsigned rd, unsigned nzuimm)
{
    return (uint16_t)(RVC_BITS(nzuimm, 5, 4) << 11 | RVC_BITS(nzuimm, 9, 6) << 7 |
                      RVC_BIT(nzuimm, 2) << 6 | RVC_BIT(nzuimm, 3) << 5 | (rd - 8) << 2);
}
/* c.addi (f3 0), c.addiw (1), c.li (2): 6-bit signed imm. */
static inline uint16_t rvc_ci(unsigned f3, unsigned op, unsigned rd, int imm)
{
    return (uint16_t)(f3 << 13 | RVC_BIT(imm, 5) << 12 | (rd & 31) << 7 |
                      RVC_BITS(imm, 4, 0) << 2 | op);
}
static inline uint16_t rvc_addi16sp(int imm)
{
    return (uint16_t)(3u << 13 | RVC_BIT(imm, 9) << 12 | 2u << 7 | RVC_BIT(imm, 4) << 6 |
                      RVC_BIT(imm, 6) << 5 | RVC_BITS(imm, 8, 7) << 3 | RVC_BIT(imm, 5) << 2 | 1);
}
static inline uint16_t rvc_lui(unsigned rd, int imm6)   /* imm6 = nzimm[17:12] */
{
    return (uint16_t)(3u << 13 | RVC_BIT(imm6, 5) << 12 | rd << 7 | RVC_BITS(imm6, 4, 0) << 2 | 1);
}
/* c.srli (0), c.srai (1), c.andi (2) on rd' */
static inline uint16_t rvc_shift_andi(unsigned kind, unsigned rd, int imm)
{
    return (uint16_t)(4u << 13 | RVC_BIT(imm, 5) << 12 | kind << 10 | (rd - 8) << 7 |
                      RVC_BITS(imm, 4, 0) << 2 | 1);
}
/* c.sub/xor/or/and (w=0, f 0..3), c.subw/addw (w=1, f 0..1) */
static inline uint16_t rvc_ca(unsigned w, unsigned f, unsigned rd, unsigned rs2)
{
    return (uint16_t)(4u << 13 | w << 12 | 3u << 10 | (rd - 8) << 7 | f << 5 | (rs2 - 8) << 2 | 1);
}
static inline uint16_t rvc_j(int off)
{
    return (uint16_t)(5u << 13 | RVC_BIT(off, 11) << 12 | RVC_BIT(off, 4) << 11 |
                      RVC_BITS(off, 9, 8) << 9 | RVC_BIT(off, 10) << 8 | RVC_BIT(off, 6) << 7 |
                      RVC_BIT(off, 7) << 6 | RVC_BITS(off, 3, 1) << 3 | RVC_BIT(off, 5) << 2 | 1);
}
static inline uint16_t rvc_bz(unsigned nz, unsigned rs1, int off)
{
    return (uint16_t)((6u + nz) << 13 | RVC_BIT(off, 8) << 12 | RVC_BITS(off, 4, 3) << 10 |
                      (rs1 - 8) << 7 | RVC_BITS(off, 7, 6) << 5 | RVC_BITS(off, 2, 1) << 3 |
                      RVC_BIT(off, 5) << 2 | 1);
}
static inline uint16_t rvc_slli(unsigned rd, unsigned sh)
{
    return (uint16_t)(RVC_BIT(sh, 5) << 12 | rd << 7 | RVC_BITS(sh, 4, 0) << 2 | 2);
}
/* c.lwsp (f3 2), c.ldsp (3), c.fldsp (1) */
static inline uint16_t rvc_lsp(unsigned f3, unsigned rd, unsigned uimm)
{
    uint32_t lo = f3 == 2 ? (RVC_BITS(uimm, 4, 2) << 4 | RVC_BITS(uimm, 7, 6) << 2)
                          : (RVC_BITS(uimm, 4, 3) << 5 | RVC_BITS(uimm, 8, 6) << 2);
    return (uint16_t)(f3 << 13 | RVC_BIT(uimm, 5) << 12 | rd << 7 | lo | 2);
}
/* c.swsp (f3 6), c.sdsp (7), c.fsdsp (5) */
static inline uint16_t rvc_ssp(unsigned f3, unsigned rs2, unsigned uimm)
{
    uint32_t hi = f3 == 6 ? (RVC_BITS(uimm, 5, 2) << 9 | RVC_BITS(uimm, 7, 6) << 7)
                          : (RVC_BITS(uimm, 5, 3) << 10 | RVC_BITS(uimm, 8, 6) << 7);
    return (uint16_t)(f3 << 13 | hi | rs2 << 2 | 2);
}
/* c.jr (b12 0, rs2 0), c.mv (0, rs2), c.jalr (1, 0), c.add (1, rs2) */
static inline uint16_t rvc_cr(unsigned b12, unsigned rd, unsigned rs2)
{
    return (uint16_t)(4u << 13 | b12 << 12 | rd << 7 | rs2 << 2 | 2);
}

#endif
