/* Floating-point part of the program generator: operand values, F/D
 * instructions, FP loads/stores and fflags/frm/fcsr accesses. */
#include "gen_internal.h"

static const uint64_t specd[] = {
    0x0000000000000000ULL, 0x8000000000000000ULL, 0x7ff0000000000000ULL,
    0xfff0000000000000ULL, 0x7ff8000000000000ULL, 0xfff8000000000000ULL,
    0x7ff0000000000001ULL, 0x7ff4000000000000ULL, 0x7ff8000000000123ULL,
    0x0000000000000001ULL, 0x800fffffffffffffULL, 0x000fffffffffffffULL,
    0x0010000000000000ULL, 0x7fefffffffffffffULL, 0xffefffffffffffffULL,
    0x3ff0000000000000ULL, 0xbff0000000000000ULL, 0x3fe0000000000000ULL,
    0x4008000000000000ULL, 0x3fd5555555555555ULL, 0x43e0000000000000ULL,
    0xc3e0000000000000ULL, 0x43f0000000000000ULL, 0x41e0000000000000ULL,
    0x41f0000000000000ULL, 0xc1e0000000000000ULL, 0x3ff8000000000000ULL,
    0x4004000000000000ULL, 0xbfe0000000000000ULL, 0x41efffffffe00000ULL,
    0x43dfffffffffffffULL, 0x3810000000000000ULL, 0x36a0000000000000ULL,
    0x47efffffe0000000ULL, 0x3ff0000000000001ULL, 0xc1e0000000200000ULL,
};

static const uint32_t specs[] = {
    0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
    0x7f800001, 0x7fa00000, 0x7fc00123, 0x00000001, 0x807fffff, 0x007fffff,
    0x00800000, 0x7f7fffff, 0xff7fffff, 0x3f800000, 0xbf800000, 0x3f000000,
    0x40400000, 0x3eaaaaab, 0x5f000000, 0xdf000000, 0x5f800000, 0x4f000000,
    0x4f800000, 0xcf000000, 0x3fc00000, 0x40200000, 0xbf000000, 0x4effffff,
    0x3f800001, 0x0c000000, 0x33800000,
};

/* An FP register value; *type gets its FT_* kind. */
uint64_t dg_randfp_t(Gen *g, int *type)
{
    unsigned k = rn(g, 24);
    *type = FT_D;
    if (k < 6)
        return specd[rn(g, NELEM(specd))];
    if (k < 8)
        return rnd(g);
    if (k < 11) {
        /* an ordinary number near 1: rounding of the results matters */
        uint64_t e = (uint64_t)(1023 - 30 + (int)rn(g, 61));
        return (rnd(g) & 0x800fffffffffffffULL) | e << 52;
    }
    *type = FT_S;
    if (k < 16)
        return 0xffffffff00000000ULL | specs[rn(g, NELEM(specs))];
    if (k < 17)
        return 0xffffffff00000000ULL | (uint32_t)rnd(g);
    if (k < 21) {
        uint32_t e = (uint32_t)(127 - 20 + (int)rn(g, 41));
        return 0xffffffff00000000ULL | ((uint32_t)rnd(g) & 0x807fffffu) | e << 23;
    }
    /* not NaN-boxed: single-precision reads must see the canonical NaN */
    *type = FT_X;
    uint64_t hi = rnd(g) & 0xffffffff00000000ULL;
    if (hi == 0xffffffff00000000ULL)
        hi = 0;
    return hi | specs[rn(g, NELEM(specs))];
}

/* An FP source for format fmt: usually one holding a value of that format. */
static unsigned fsrc(Gen *g, unsigned fmt)
{
    if (chance(g, 85)) {
        unsigned start = rn(g, 32);
        for (unsigned i = 0; i < 32; i++) {
            unsigned r = (start + i) & 31;
            if (g->ftype[r] == fmt)
                return r;
        }
    }
    return rn(g, 32);
}


static unsigned rand_rm(Gen *g)
{
    static const uint8_t rm[] = { 0, 1, 2, 3, 4, 7, 7, 7 };
    return rm[rn(g, NELEM(rm))];
}

void dg_gen_fp(Gen *g)
{
    unsigned fmt = rn(g, 2);
    unsigned fd = rn(g, 32), fs1 = fsrc(g, fmt), fs2 = fsrc(g, fmt), fs3 = fsrc(g, fmt);
    g->last_f = (int)fd;
    uint8_t old_type = g->ftype[fd];
    g->ftype[fd] = (uint8_t)fmt;
    switch (rn(g, 16)) {
    case 0: case 1: case 2: {
        static const uint8_t f7[] = { 0x00, 0x04, 0x08, 0x0c };
        unsigned rm = rand_rm(g);
        emit32(g, rv_r(OPC_OP_FP, rm, f7[rn(g, 4)] | fmt, fd, fs1, fs2));
        break;
    }
    case 3:
        emit32(g, rv_r(OPC_OP_FP, rand_rm(g), 0x2c | fmt, fd, fs1, 0));      /* fsqrt */
        break;
    case 4: case 5: {
        static const uint8_t op[] = { OPC_MADD, OPC_MSUB, OPC_NMSUB, OPC_NMADD };
        unsigned rm = rand_rm(g);
        emit32(g, rv_r4(op[rn(g, 4)], rm, fmt, fd, fs1, fs2, fs3));
        break;
    }
    case 6: {
        unsigned f3 = rn(g, 3);
        emit32(g, rv_r(OPC_OP_FP, f3, 0x10 | fmt, fd, fs1, chance(g, 20) ? fs1 : fs2));
        break;
    }
    case 7:
        emit32(g, rv_r(OPC_OP_FP, rn(g, 2), 0x14 | fmt, fd, fs1, fs2));       /* fmin/fmax */
        break;
    case 8: {
        unsigned src = fsrc(g, !fmt);
        if (fmt)
            emit32(g, rv_r(OPC_OP_FP, rand_rm(g), 0x21, fd, src, 0));        /* fcvt.d.s */
        else
            emit32(g, rv_r(OPC_OP_FP, rand_rm(g), 0x20, fd, src, 1));        /* fcvt.s.d */
        break;
    }
    case 9: {
        static const uint8_t f3[] = { 0, 1, 2 };                             /* fle flt feq */
        g->ftype[fd] = old_type;
        unsigned k = rn(g, 3);
        emit32(g, rv_r(OPC_OP_FP, f3[k], 0x50 | fmt, wreg(g), fs1, fs2));
        break;
    }
    case 10:
        g->ftype[fd] = old_type;
        emit32(g, rv_r(OPC_OP_FP, 1, 0x70 | fmt, wreg(g), fs1, 0));          /* fclass */
        break;
    case 11:
        g->ftype[fd] = old_type;
        emit32(g, rv_r(OPC_OP_FP, 0, 0x70 | fmt, wreg(g), fs1, 0));          /* fmv.x.[wd] */
        break;
    case 12:
        emit32(g, rv_r(OPC_OP_FP, 0, 0x78 | fmt, fd, rreg(g), 0));           /* fmv.[wd].x */
        break;
    case 13: case 14: {
        g->ftype[fd] = old_type;
        unsigned rm = rand_rm(g), rd = wreg(g);
        emit32(g, rv_r(OPC_OP_FP, rm, 0x60 | fmt, rd, fs1, rn(g, 4)));  /* fcvt.int */
        break;
    }
    default: {
        unsigned rm = rand_rm(g), rs = rreg(g);
        emit32(g, rv_r(OPC_OP_FP, rm, 0x68 | fmt, fd, rs, rn(g, 4)));   /* fcvt.fp */
        break;
    }
    }
}

void dg_gen_fp_mem(Gen *g)
{
    bool d = chance(g, 50), load = chance(g, 50);
    uint64_t a = data_addr(g, d ? 8 : 4, chance(g, 85));
    unsigned f3 = d ? 3 : 2;
    unsigned fr = rn(g, 32);
    if (load) {
        g->ftype[fr] = d ? FT_D : FT_S;
        emit32(g, rv_i(OPC_LOAD_FP, f3, fr, g->xb, base_off(a)));
    } else {
        emit32(g, rv_s(OPC_STORE_FP, f3, g->xb, fr, base_off(a)));
    }
}

/* fflags/frm/fcsr accesses.  frm only ever receives 0..4 so that later
 * dynamic-rounding ops stay legal. */
void dg_gen_fcsr(Gen *g)
{
    unsigned rd = wreg(g);
    switch (rn(g, 10)) {
    case 0:
        emit32(g, rv_csr(2, rd, 0, 1 + rn(g, 3)));                      /* read */
        break;
    case 1: {
        unsigned f3 = 1 + rn(g, 3);
        emit32(g, rv_csr(f3, rd, rreg(g), 1));                          /* fflags rw/rs/rc */
        break;
    }
    case 2: {
        unsigned f3 = 5 + rn(g, 3);
        emit32(g, rv_csr(f3, rd, rn(g, 32), 1));                        /* fflags imm */
        break;
    }
    case 3:
        emit32(g, rv_csr(5, rd, rn(g, 5), 2));                          /* csrrwi frm */
        break;
    case 4:
    {
        unsigned imm = rn(g, 32);
        emit32(g, rv_csr(7, rd, imm, chance(g, 50) ? 2 : 3));          /* csrrci frm/fcsr */
    }
        break;
    case 5: {
        unsigned t = wreg_nz(g);
        unsigned rs = rreg(g);
        emit32(g, rv_i(OPC_OP_IMM, 7, t, rs, chance(g, 50) ? 3 : 4));
        emit32(g, rv_csr(1, rd, t, 2));                                 /* fsrm */
        break;
    }
    case 6: {
        unsigned t = wreg_nz(g);
        unsigned rs = rreg(g);
        static const int mask[] = { 0x7f, 0x9f, -97 };   /* -97: upper bits set, frm 0 or 4 */
        emit32(g, rv_i(OPC_OP_IMM, 7, t, rs, mask[rn(g, 3)]));
        emit32(g, rv_csr(1, rd, t, 3));                                 /* fscsr */
        break;
    }
    case 7:
        if (chance(g, 70)) {
            emit32(g, rv_csr(6, rd, rn(g, 32), 3));                     /* csrrsi fcsr */
            break;
        }
        /* an invalid frm is legal as long as no dynamic-rm op runs: read
         * it back, then make it valid again */
        emit32(g, rv_csr(5, rd, 5 + rn(g, 3), 2));
        unsigned rd2 = wreg(g), csr = chance(g, 50) ? 2 : 3;
        emit32(g, rv_csr(2, rd2, 0, csr));
        rd2 = wreg(g);
        emit32(g, rv_csr(5, rd2, rn(g, 5), 2));
        break;
    case 8:
    {
        unsigned rs = rreg(g);
        emit32(g, rv_csr(3, rd, rs, chance(g, 50) ? 2 : 3));          /* csrrc frm/fcsr */
    }
        break;
    default: {
        unsigned t = wreg_nz(g);
        emit32(g, rv_i(OPC_OP_IMM, 7, t, rreg(g), 0x1f));
        emit32(g, rv_csr(2, rd, t, 3));                                 /* csrrs fcsr */
        break;
    }
    }
}

